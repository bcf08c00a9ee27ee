//! The request, origin and connection series as rendered.

use super::*;

fn event(zone: &str, status: u16, source: Source, us: u64, origin_us: Option<u64>) -> Event {
    Event {
        zone: zone.into(),
        status,
        source,
        duration_us: us,
        origin_duration_us: origin_us,
        ..Event::default()
    }
}

fn rendered(m: &Metrics) -> String {
    let mut out = String::new();
    m.render(&mut out);
    out
}

fn has(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
}

#[test]
fn requests_by_code_with_unmatched_hosts_and_dns_named() {
    let m = Metrics::default();
    m.observe(&event("a", 200, Source::Origin, 1_000, Some(800)));
    m.observe(&event("a", 204, Source::Origin, 30_000, Some(20_000)));
    m.observe(&event("a", 409, Source::Dns, 2_000, None));
    m.observe(&event("", 421, Source::Edge, 10, None));
    m.observe(&event("a", 299, Source::Origin, 10, None));
    m.observe(&event("we\"ird\\zone\n", 403, Source::Waf, 0, None));
    let text = rendered(&m);
    has(&text, "# TYPE edgeward_requests_total counter");
    has(
        &text,
        r#"edgeward_requests_total{zone="a",code="200",status_class="2xx",source="origin"} 1"#,
    );
    has(
        &text,
        r#"edgeward_requests_total{zone="a",code="204",status_class="2xx",source="origin"} 1"#,
    );
    has(
        &text,
        r#"edgeward_requests_total{zone="a",code="409",status_class="4xx",source="dns"} 1"#,
    );
    has(
        &text,
        r#"edgeward_requests_total{zone="_unmatched",code="421",status_class="4xx",source="edge"} 1"#,
    );
    has(
        &text,
        r#"edgeward_requests_total{zone="a",code="other",status_class="other",source="origin"} 1"#,
    );
    has(
        &text,
        r#"edgeward_requests_total{zone="we\"ird\\zone\n",code="403",status_class="4xx",source="waf"} 1"#,
    );
    has(
        &text,
        r#"edgeward_request_duration_seconds_bucket{zone="a",le="0.001"} 2"#,
    );
    has(&text, r#"edgeward_request_duration_seconds_count{zone="a"} 4"#);
    has(&text, r#"edgeward_origin_duration_seconds_sum{zone="a"} 0.0208"#);
    assert!(!text.contains("zone=\"\""), "no empty zone label");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            line.rsplit(' ').next().unwrap().parse::<f64>().is_ok(),
            "bad sample line {line:?}"
        );
    }
}

#[test]
fn zones_past_the_cap_share_one_series() {
    let m = Metrics::default();
    for i in 0..MAX_ZONES + 5 {
        m.observe(&event(&format!("z{i}"), 200, Source::Origin, 1, None));
    }
    let text = rendered(&m);
    has(
        &text,
        r#"edgeward_requests_total{zone="_other",code="200",status_class="2xx",source="origin"} 5"#,
    );
    let zones = text
        .lines()
        .filter(|l| l.starts_with("edgeward_request_duration_seconds_count"))
        .count();
    assert_eq!(zones, MAX_ZONES + 1);
}

#[test]
fn origins_connections_and_streams() {
    let m = Metrics::default();
    let o = m.origin("shop", "127.0.0.1:9000");
    o.observe(200, Duration::from_millis(3));
    o.observe(503, Duration::from_millis(30));
    o.failed();
    o.set_healthy(false);
    assert!(
        Arc::ptr_eq(&o, &m.origin("shop", "127.0.0.1:9000")),
        "one series per origin"
    );
    let h1 = m.connection_opened(Protocol::H1);
    let h2 = m.connection_opened(Protocol::H2);
    let _ws = m.stream_opened(Protocol::Ws);
    drop(h1);
    let text = rendered(&m);
    has(
        &text,
        r#"edgeward_origin_requests_total{zone="shop",origin="127.0.0.1:9000",status_class="2xx"} 1"#,
    );
    has(
        &text,
        r#"edgeward_origin_requests_total{zone="shop",origin="127.0.0.1:9000",status_class="5xx"} 1"#,
    );
    has(
        &text,
        r#"edgeward_origin_failures_total{zone="shop",origin="127.0.0.1:9000"} 1"#,
    );
    has(
        &text,
        r#"edgeward_origin_up{zone="shop",origin="127.0.0.1:9000"} 0"#,
    );
    has(
        &text,
        r#"edgeward_origin_response_seconds_count{zone="shop",origin="127.0.0.1:9000"} 2"#,
    );
    has(&text, r#"edgeward_open_connections{protocol="h1"} 0"#);
    has(&text, r#"edgeward_open_connections{protocol="h2"} 1"#);
    has(&text, r#"edgeward_connections_total{protocol="h1"} 1"#);
    has(&text, r#"edgeward_open_streams{protocol="ws"} 1"#);
    drop(h2);
    for i in 0..MAX_ORIGINS + 3 {
        m.origin("z", &format!("10.0.0.{i}:80"))
            .observe(200, Duration::ZERO);
    }
    has(
        &rendered(&m),
        r#"edgeward_origin_requests_total{zone="_other",origin="_other",status_class="2xx"} 4"#,
    );
}

#[test]
fn codes_are_sorted_for_the_search_and_seconds_are_exact() {
    assert!(CODES[..OTHER_CODE].windows(2).all(|w| w[0] < w[1]));
    assert_eq!(code_index(499), CODES.iter().position(|&c| c == 499).unwrap());
    assert_eq!(code_index(600), OTHER_CODE);
    assert_eq!(seconds(1_000), "0.001");
    assert_eq!(seconds(2_500_000), "2.5");
    assert_eq!(seconds(0), "0");
}
