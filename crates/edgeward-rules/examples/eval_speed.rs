//! A criterion-free micro benchmark: evaluates rule sets of 50 and 500 rules against one request
//! and prints nanoseconds per request (and per rule).
//!
//! Run with `cargo run --release -p edgeward-rules --example eval_speed`.

use edgeward_rules::{compile, Action, Request, Rule, RuleSet};
use std::hint::black_box;
use std::time::Instant;

/// Rule templates in the mix a zone typically has; `{i}` makes each rule distinct.
const TEMPLATES: &[&str] = &[
    r#"http.host eq "site{i}.example.com""#,
    r#"starts_with(http.request.uri.path, "/private{i}/")"#,
    r#"lower(http.user_agent) contains "badbot{i}""#,
    r#"http.request.uri.path matches "^/wp-admin{i}/.*\\.php$""#,
    r#"ip.src in {10.{i}.0.0/16 2001:db8:{i}::/48 198.51.100.{i}}"#,
    r#"ip.geoip.country in {"X{i}" "Y{i}"} and http.request.method eq "POST""#,
    r#"http.request.headers["x-client-{i}"] eq "1""#,
    r#"lower(http.request.uri.query) contains "union select {i}""#,
    r#"http.request.body.size gt 10000{i} or len(http.cookie) gt 8000{i}"#,
    r#"not ssl and http.referer contains "spam{i}.example""#,
];

fn rules(n: usize) -> RuleSet {
    RuleSet::new(
        (0..n)
            .map(|i| {
                let src = TEMPLATES[i % TEMPLATES.len()].replace("{i}", &(i % 250).to_string());
                let expr = compile(&src).unwrap_or_else(|e| panic!("{src}: {e}"));
                Rule::new(format!("r{i}"), expr, Action::Block)
            })
            .collect(),
    )
}

fn main() {
    let headers: &[(&str, &str)] = &[
        ("Accept", "text/html"),
        ("Accept-Language", "en"),
        ("X-Forwarded-For", "203.0.113.9"),
    ];
    let req = Request {
        host: "www.example.com",
        path: "/blog/2024/edge-proxies-explained",
        query: "utm_source=newsletter&page=2",
        method: "GET",
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        cookie: "session=0123456789abcdef; theme=dark",
        referer: "https://search.example/?q=edge+proxy",
        ip: "203.0.113.9".parse().unwrap(),
        country: Some("DE"),
        body_size: 0,
        tls: true,
        headers: &headers,
    };
    for n in [50, 500] {
        let set = rules(n);
        // No rule matches, so every rule is evaluated: the worst case for a clean request.
        assert!(set.evaluate(&req, &mut |_| {}).decision.is_none());
        let iters = 2_000_000 / n as u32;
        for _ in 0..iters / 10 {
            black_box(set.evaluate(black_box(&req), &mut |_| {}));
        }
        let start = Instant::now();
        for _ in 0..iters {
            black_box(set.evaluate(black_box(&req), &mut |_| {}));
        }
        let per_req = start.elapsed().as_nanos() as f64 / f64::from(iters);
        println!(
            "{n:>4} rules: {per_req:>9.0} ns/request ({:.1} ns/rule, {iters} iterations)",
            per_req / n as f64
        );
    }
}
