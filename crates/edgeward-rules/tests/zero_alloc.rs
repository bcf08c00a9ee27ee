//! Proves that evaluation does not touch the heap: a counting global allocator watches this
//! thread while a representative set of expressions (and a RuleSet) is evaluated, and while
//! traffic rules (redirects, bulk lists, transforms, custom errors) run without firing. A rule
//! that fires allocates its output only, which is counted exactly too.

use edgeward_rules::{
    compile, compile_response, Action, BulkEntry, BulkRedirects, CustomErrorRule, ErrorBody, ErrorFacts,
    ErrorFormat, HeaderOp, Hsts, Phase, RedirectRule, RedirectStatus, Request, RequestTransform,
    ResponseTransform, Rule, RuleSet, TrafficRules, ValueExpr, Vars,
};
use http::{HeaderMap, HeaderValue};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on; other test threads don't count.
    static ALLOCS: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note() {
    // `try_with`: the allocator can run while thread-locals are being torn down.
    let _ = ALLOCS.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCS.with(|c| c.set(Some(0)));
    f();
    ALLOCS.with(|c| c.replace(None)).unwrap_or(0)
}

const EXPRESSIONS: &[&str] = &[
    r#"http.host eq "www.example.com""#,
    r#"http.host != "api.example.com""#,
    r#"lower(http.host) eq "www.example.com""#,
    r#"upper(http.request.method) in {"GET" "HEAD" "POST"}"#,
    r#"lower(http.user_agent) contains "curl""#,
    r#"http.user_agent contains "Mozilla""#,
    r#"http.user_agent matches "(?i)bot|crawler|spider""#,
    r#"lower(http.request.uri.path) matches "^/wp-(admin|login)""#,
    r#"http.request.uri matches "\\.php\\?""#,
    r#"http.request.uri contains "id=1""#,
    r#"lower(http.request.uri) eq "/search?q=edge&id=1""#,
    r#"len(http.request.uri) gt 20"#,
    r#"starts_with(http.request.uri.path, "/api/") or ends_with(lower(http.host), ".example.com")"#,
    r#"http.request.uri.query contains "union" xor http.referer eq """#,
    r#"http.request.headers["x-forwarded-for"] eq "10.0.0.1""#,
    r#"lower(http.request.headers["Accept"]) contains "json""#,
    r#"http.cookie contains "session=" and not ssl"#,
    r#"ip.src in {10.0.0.0/8 172.16.0.0/12 192.0.2.0/24 2001:db8::/32}"#,
    r#"ip.src eq 192.0.2.10 || ip.src == 203.0.113.5"#,
    r#"ip.geoip.country in {"CN" "RU" "KP"}"#,
    r#"http.request.body.size gt 1048576 or http.request.body.size in {0 1 2}"#,
    r#"http.request.method ge "GET" and http.request.method < "PUT""#,
    r#"(http.host eq "a" or http.host eq "www.example.com") and !(ip.src in {127.0.0.1})"#,
];

fn request<'a>(headers: &'a &'a [(&'a str, &'a str)]) -> Request<'a> {
    Request {
        host: "www.Example.com",
        path: "/Search",
        query: "q=edge&id=1",
        method: "GET",
        user_agent: "Mozilla/5.0 (compatible; ExampleBot/1.0)",
        cookie: "session=abc",
        referer: "",
        ip: "192.0.2.10".parse().unwrap(),
        country: Some("DE"),
        body_size: 0,
        tls: false,
        headers,
    }
}

#[test]
fn the_counter_sees_allocations() {
    let n = allocations(|| {
        black_box(compile(r#"http.host eq "a""#).unwrap());
    });
    assert!(n > 0, "compiling allocates, so the counter must see it");
}

#[test]
fn eval_does_not_allocate() {
    let exprs: Vec<_> = EXPRESSIONS.iter().map(|s| compile(s).unwrap()).collect();
    let headers: &[(&str, &str)] = &[("X-Forwarded-For", "10.0.0.1"), ("accept", "Application/JSON")];
    let mut req = request(&headers);
    // Warm-up: the regex engine builds its per-thread search cache on first use.
    let warm: Vec<bool> = exprs.iter().map(|e| e.eval(&req)).collect();
    assert!(
        warm.iter().filter(|&&m| m).count() > 10,
        "the request should exercise matches: {warm:?}"
    );

    let mut results = [false; EXPRESSIONS.len()];
    let n = allocations(|| {
        for _ in 0..100 {
            for (r, e) in results.iter_mut().zip(&exprs) {
                *r = e.eval(&req);
            }
        }
    });
    assert_eq!(n, 0, "eval allocated {n} times");
    assert_eq!(results.to_vec(), warm);

    // IPv6 and an absent country take other paths.
    req.ip = "2001:db8::1".parse().unwrap();
    req.country = None;
    exprs.iter().for_each(|e| {
        e.eval(&req);
    });
    let n = allocations(|| {
        for e in &exprs {
            black_box(e.eval(&req));
        }
    });
    assert_eq!(n, 0, "eval allocated {n} times (IPv6 request)");
}

#[test]
fn ruleset_evaluate_does_not_allocate() {
    let rules: Vec<Rule> = EXPRESSIONS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let action = match i % 3 {
                0 => Action::Log,
                1 => Action::skip([Phase::Waf]),
                _ => Action::methods(["GET", "POST"]),
            };
            Rule::new(format!("r{i}"), compile(s).unwrap(), action)
        })
        .collect();
    let set = RuleSet::new(rules);
    let headers: &[(&str, &str)] = &[("Content-Type", "text/plain")];
    let req = request(&headers);
    let mut logs = 0usize;
    set.evaluate(&req, &mut |_| logs += 1);
    let n = allocations(|| {
        for _ in 0..10 {
            let v = set.evaluate(&req, &mut |_| logs += 1);
            black_box(v);
        }
    });
    assert_eq!(n, 0, "RuleSet::evaluate allocated {n} times");
    assert!(logs > 0);
}

/// A zone with every kind of traffic rule, none of which matches [`request`] over TLS.
fn traffic() -> TrafficRules {
    let never = |i: usize| {
        format!(r#"http.host eq "other{i}.example" or starts_with(http.request.uri.path, "/x{i}/")"#)
    };
    let mut list = BulkRedirects::default();
    for i in 0..1000u32 {
        let entry = BulkEntry {
            target: format!("https://new.example/{i}").into(),
            status: RedirectStatus::MovedPermanently,
            preserve_query: true,
            line: i + 1,
        };
        list.insert(&format!("www.example.com/moved/{i}"), entry.clone())
            .unwrap();
        list.insert(&format!("/gone/{i}"), entry).unwrap();
    }
    TrafficRules {
        always_use_https: true,
        hsts: Some(Hsts::new(31_536_000, true, true).unwrap()),
        redirects: (0..20)
            .map(|i| RedirectRule {
                id: format!("r{i}"),
                expr: compile(&never(i)).unwrap(),
                target: ValueExpr::function(r#"regex_replace(http.request.uri.path, "^/x/(.*)", "/y/${1}")"#)
                    .unwrap(),
                status: RedirectStatus::PermanentRedirect,
                preserve_query: true,
            })
            .collect(),
        redirect_lists: vec![Arc::new(list)],
        request_transforms: (0..20)
            .map(|i| RequestTransform {
                id: format!("t{i}"),
                expr: compile(&never(i)).unwrap(),
                headers: vec![
                    HeaderOp::set("x-client-ip", ValueExpr::template("${ip.src}").unwrap()).unwrap(),
                ],
                path: Some(ValueExpr::template("/v2${path}").unwrap()),
                query: None,
            })
            .collect(),
        response_transforms: (0..20)
            .map(|i| ResponseTransform {
                id: format!("s{i}"),
                expr: compile_response(&format!("http.response.code eq 5{i:02}")).unwrap(),
                headers: vec![HeaderOp::remove("server").unwrap()],
            })
            .collect(),
        custom_errors: (0..20)
            .map(|i| CustomErrorRule {
                id: format!("c{i}"),
                expr: compile_response(&format!("http.response.code eq 4{i:02} and {}", never(i))).unwrap(),
                origin: true,
                status: None,
                content_type: HeaderValue::from_static("text/html"),
                body: ErrorBody::parse(ErrorFormat::Html, "<h1>{{status}}</h1>").unwrap(),
            })
            .collect(),
    }
}

#[test]
fn traffic_rules_that_do_not_fire_do_not_allocate() {
    let zone = traffic();
    let headers: &[(&str, &str)] = &[("accept", "text/html")];
    let mut req = request(&headers);
    req.tls = true;
    let vars = Vars {
        request_id: "8f1c",
        zone: "www",
    };
    let facts = ErrorFacts {
        status: 404,
        from_origin: true,
        error_code: None,
        title: "Not Found",
        explanation: "",
    };
    let mut map = HeaderMap::with_capacity(8);
    map.insert("server", HeaderValue::from_static("origin"));
    let mut pq = None;
    // Warm-up (regex caches), and proof that nothing fires for this request.
    assert_eq!(zone.redirect(&req, &vars, 443), None);
    assert_eq!(zone.apply_request(&req, &vars, &mut map, &mut pq).rules, 0);
    assert_eq!(zone.apply_response(&req, &vars, 200, &mut map).rules, 0);
    assert_eq!(zone.custom_error(&req, &vars, &facts), None);
    let n = allocations(|| {
        for _ in 0..50 {
            black_box(zone.redirect(&req, &vars, 443));
            black_box(zone.has_redirect("www.Example.com", "/Search"));
            black_box(zone.apply_request(&req, &vars, &mut map, &mut pq));
            black_box(zone.apply_response(&req, &vars, 200, &mut map));
            black_box(zone.custom_error(&req, &vars, &facts));
            black_box(zone.hsts(true));
        }
    });
    assert_eq!(n, 0, "traffic rules allocated {n} times without firing");
    assert_eq!(pq, None);
    assert_eq!(map.len(), 1);
}

#[test]
fn firing_rules_allocate_their_output_only() {
    let zone = traffic();
    let headers: &[(&str, &str)] = &[];
    let mut req = request(&headers);
    req.tls = true;
    let vars = Vars::default();
    // A bulk-list hit: the Location string, nothing else.
    req.host = "WWW.example.com:443";
    req.path = "/moved/999";
    let hit = zone.redirect(&req, &vars, 443);
    let n = allocations(|| {
        black_box(zone.redirect(&req, &vars, 443));
    });
    assert_eq!(hit.unwrap().location, "https://new.example/999?q=edge&id=1");
    assert_eq!(n, 1, "a bulk redirect allocates exactly its Location");
    // Always Use HTTPS: the target and the Location.
    req.tls = false;
    let n = allocations(|| {
        black_box(zone.redirect(&req, &vars, 443));
    });
    assert!(n <= 2, "an HTTPS redirect allocated {n} times");
    // A static header set on a matching response rule replaces a value: no allocation.
    let mut map = HeaderMap::with_capacity(8);
    map.insert("server", HeaderValue::from_static("origin"));
    zone.apply_response(&req, &vars, 503, &mut map);
    map.insert("server", HeaderValue::from_static("origin"));
    let n = allocations(|| {
        black_box(zone.apply_response(&req, &vars, 503, &mut map));
    });
    assert_eq!(n, 0, "removing a header allocated {n} times");
    assert!(map.is_empty());
}
