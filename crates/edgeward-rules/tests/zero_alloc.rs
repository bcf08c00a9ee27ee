//! Proves that evaluation does not touch the heap: a counting global allocator watches this
//! thread while a representative set of expressions (and a RuleSet) is evaluated.

use edgeward_rules::{compile, Action, Phase, Request, Rule, RuleSet};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

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
        std::hint::black_box(compile(r#"http.host eq "a""#).unwrap());
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
            std::hint::black_box(e.eval(&req));
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
            std::hint::black_box(v);
        }
    });
    assert_eq!(n, 0, "RuleSet::evaluate allocated {n} times");
    assert!(logs > 0);
}
