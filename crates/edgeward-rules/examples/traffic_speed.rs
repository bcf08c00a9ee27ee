//! CPU per request of the traffic request stage: 100 redirect + transform rules (50 + 50) that
//! do not fire, one that fires, and none at all, against one realistic request.
//!
//! Run with `cargo run --release -p edgeward-rules --example traffic_speed`.

use edgeward_rules::{
    compile, HeaderOp, RedirectRule, RedirectStatus, Request, RequestTransform, TrafficRules, ValueExpr, Vars,
};
use http::HeaderMap;
use std::hint::black_box;
use std::time::Instant;

/// Expression shapes a zone's redirect and transform rules typically have.
const SHAPES: &[&str] = &[
    r#"starts_with(http.request.uri.path, "/old{i}/")"#,
    r#"http.host eq "shop{i}.example.com""#,
    r#"http.request.uri.path matches "^/blog/{i}/[a-z-]+$""#,
    r#"http.request.uri.path in {"/a{i}" "/b{i}" "/c{i}"}"#,
    r#"lower(http.request.headers["x-variant"]) eq "v{i}""#,
];

fn zone(rules: usize, firing: bool) -> TrafficRules {
    let expr = |i: usize| compile(&SHAPES[i % SHAPES.len()].replace("{i}", &i.to_string())).unwrap();
    let mut zone = TrafficRules::default();
    for i in 0..rules / 2 {
        zone.redirects.push(RedirectRule {
            id: format!("r{i}"),
            expr: expr(i),
            target: ValueExpr::function(r#"regex_replace(http.request.uri.path, "^/old/(.*)", "/new/${1}")"#)
                .unwrap(),
            status: RedirectStatus::MovedPermanently,
            preserve_query: true,
        });
        zone.request_transforms.push(RequestTransform {
            id: format!("t{i}"),
            expr: expr(i + 1000),
            headers: vec![
                HeaderOp::set("x-client-ip", ValueExpr::template("${ip.src}").unwrap()).unwrap(),
                HeaderOp::set("x-edge", ValueExpr::template("edgeward").unwrap()).unwrap(),
            ],
            path: Some(ValueExpr::template("/v2${path}").unwrap()),
            query: None,
        });
    }
    if firing {
        zone.request_transforms.push(RequestTransform {
            id: "fires".into(),
            expr: compile(r#"starts_with(http.request.uri.path, "/api/")"#).unwrap(),
            headers: vec![
                HeaderOp::set("x-client-ip", ValueExpr::template("${ip.src}").unwrap()).unwrap(),
                HeaderOp::set("x-edge", ValueExpr::template("edgeward").unwrap()).unwrap(),
            ],
            path: None,
            query: None,
        });
    }
    zone
}

fn main() {
    let headers: &[(&str, &str)] = &[("accept", "application/json"), ("x-variant", "B")];
    let mut req = Request::new("203.0.113.9".parse().unwrap(), &headers);
    req.host = "www.example.com";
    req.path = "/api/v1/orders/12345";
    req.query = "page=2";
    req.tls = true;
    let vars = Vars {
        request_id: "8f1c2a",
        zone: "www",
    };
    const ROUNDS: u32 = 200_000;
    for (label, zone) in [
        ("no traffic rules", zone(0, false)),
        ("100 rules, none fires", zone(100, false)),
        ("100 rules + 1 transform that fires", zone(100, true)),
    ] {
        let mut headers = HeaderMap::with_capacity(16);
        let mut pq = None;
        let started = Instant::now();
        for _ in 0..ROUNDS {
            black_box(zone.redirect(&req, &vars, 443));
            black_box(zone.apply_request(&req, &vars, &mut headers, &mut pq));
        }
        let ns = started.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
        println!("{label:>36}: {ns:>7.0} ns per request");
    }
}
