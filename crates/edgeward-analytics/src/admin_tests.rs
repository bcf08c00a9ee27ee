//! The token rule, parameter parsing, and the API over a real socket.

use super::*;
use crate::queue::{Analytics, Options};
use crate::sample::{self, BASE_MS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn loopback_without_token_configured_allows_anyone() {
    assert_eq!(authorize(true, None, None), AuthDecision::Allow);
    assert_eq!(authorize(true, None, Some(b"Bearer x")), AuthDecision::Allow);
}

#[test]
fn configured_token_is_required_everywhere() {
    for loopback in [true, false] {
        assert_eq!(authorize(loopback, Some("s3cret"), None), AuthDecision::Deny);
        assert_eq!(
            authorize(loopback, Some("s3cret"), Some(b"Bearer s3cre")),
            AuthDecision::Deny
        );
        assert_eq!(
            authorize(loopback, Some("s3cret"), Some(b"Bearer s3cretx")),
            AuthDecision::Deny
        );
        assert_eq!(
            authorize(loopback, Some("s3cret"), Some(b"Basic s3cret")),
            AuthDecision::Deny
        );
        assert_eq!(
            authorize(loopback, Some("s3cret"), Some(b"s3cret")),
            AuthDecision::Deny
        );
        assert_eq!(
            authorize(loopback, Some("s3cret"), Some(b"Bearer s3cret")),
            AuthDecision::Allow
        );
        // RFC 9110 §11.1: the scheme is case-insensitive; the token is not.
        assert_eq!(
            authorize(loopback, Some("s3cret"), Some(b"bearer s3cret")),
            AuthDecision::Allow
        );
        assert_eq!(
            authorize(loopback, Some("s3cret"), Some(b"BEARER S3CRET")),
            AuthDecision::Deny
        );
    }
}

#[test]
fn off_loopback_without_token_configured_denies_everything() {
    assert_eq!(authorize(false, None, None), AuthDecision::Deny);
    assert_eq!(authorize(false, None, Some(b"Bearer ")), AuthDecision::Deny);
}

#[test]
fn loopback_detection() {
    assert!(is_loopback("127.0.0.1:9".parse().unwrap()));
    assert!(is_loopback("[::1]:9".parse().unwrap()));
    assert!(is_loopback("[::ffff:127.0.0.1]:9".parse().unwrap()));
    assert!(!is_loopback("0.0.0.0:9".parse().unwrap()));
    assert!(!is_loopback("192.0.2.1:9".parse().unwrap()));
}

#[test]
fn constant_time_eq_matches_only_equal_inputs() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(constant_time_eq(b"", b""));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"ab\0", b"ab"));
}

#[test]
fn params_parse_and_validate() {
    let p = ApiParams::parse("zone=shop%2Eexample&from=10&to=20&bucket=30&limit=5&x=y").unwrap();
    assert_eq!(p.zone.as_deref(), Some("shop.example"));
    assert_eq!((p.from_ms, p.to_ms), (Some(10), Some(20)));
    assert_eq!((p.bucket, p.limit), (Duration::from_secs(30), 5));
    let d = ApiParams::parse("zone=&from=").unwrap();
    assert_eq!(
        (d.zone, d.from_ms, d.bucket, d.limit),
        (None, None, Duration::from_secs(60), 20)
    );
    assert!(ApiParams::parse("bucket=0").is_err());
    assert!(ApiParams::parse("limit=100000").is_err());
    assert!(ApiParams::parse("from=yesterday").is_err());
    assert_eq!(percent_decode("a+b%20c%2"), "a b c%2");
    assert_eq!(percent_decode("%+1%zz"), "%+1%zz".replace('+', " "));
}

async fn start(token: Option<&str>) -> (SocketAddr, AnalyticsHandle) {
    let mut store = SqliteStore::in_memory().unwrap();
    store.insert_batch(&sample::events(BASE_MS)).unwrap();
    let reader = store.reader().unwrap();
    // The sample is from 2023: keep it past the default retention.
    let opts = Options {
        retention: Duration::from_secs(100 * 365 * 86_400),
        ..Options::default()
    };
    let (handle, _writer) = Analytics::start(store, opts);
    for e in sample::events(BASE_MS).into_iter().take(3) {
        handle.record(e); // metrics only need a few
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AdminState::new(handle.clone(), reader, token.map(str::to_owned));
    tokio::spawn(serve_admin(listener, state));
    (addr, handle)
}

/// Sends one request and returns (status, head, body).
async fn get(addr: SocketAddr, target: &str, extra: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n{extra}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn api_answers_json_over_a_socket() {
    let (addr, _handle) = start(None).await;
    let (status, head, body) = get(addr, "/api/totals", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"));
    let totals: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(totals["requests"], 91);
    assert_eq!(totals["by_source"][0]["source"], "origin");
    assert_eq!(totals["by_source"][0]["count"], 62);

    let (_, _, body) = get(addr, "/api/totals?zone=blog.example", "").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["requests"],
        11
    );

    let (_, _, body) = get(addr, "/api/top-404?limit=1", "").await;
    let top: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(top.as_array().unwrap().len(), 1);
    assert_eq!(top[0]["path"], "/old-page");
    assert_eq!(top[0]["referers"][0]["referer"], "https://blog.example/post-1");

    let (_, _, body) = get(addr, "/api/status-counts", "").await;
    let sc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!((sc["share_4xx"].as_f64().unwrap() - 38.0 / 91.0).abs() < 1e-9);

    let target = format!(
        "/api/status-over-time?bucket=60&from={BASE_MS}&to={}",
        BASE_MS + 60_000
    );
    let (_, _, body) = get(addr, &target, "").await;
    let sot: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sot.as_array().unwrap().len(), 3);
    assert_eq!(sot[0]["bucket_start_ms"], BASE_MS);

    let (_, _, body) = get(addr, "/api/security-events", "").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()[0]["rule_id"],
        "waf-sqli"
    );
    // All three sample minutes fall in one hour: one row per rule.
    let (_, _, body) = get(addr, "/api/rate-limited?bucket=3600", "").await;
    let rl: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rl.as_array().unwrap().len(), 2);
    assert_eq!(
        (&rl[1]["rule_id"], &rl[1]["count"]),
        (&"rl-login".into(), &6.into())
    );

    let (status, head, body) = get(addr, "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4"));
    assert!(body
        .contains("edgeward_requests_total{zone=\"shop.example\",status_class=\"2xx\",source=\"origin\"} 3"));

    let (status, head, body) = get(addr, "/dashboard", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("text/html"));
    assert!(body.contains("chart-status-over-time"));
    assert_eq!(get(addr, "/", "").await.2, body);

    assert_eq!(get(addr, "/nope", "").await.0, 404);
    assert_eq!(get(addr, "/api/totals?bucket=0", "").await.0, 400);
}

#[tokio::test]
async fn configured_token_is_enforced_over_a_socket() {
    let (addr, _handle) = start(Some("t0ken")).await;
    let (status, head, _) = get(addr, "/metrics", "").await;
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: Bearer"));
    assert_eq!(
        get(addr, "/metrics", "Authorization: Bearer nope\r\n").await.0,
        401
    );
    assert_eq!(
        get(addr, "/metrics", "Authorization: Bearer t0ken\r\n").await.0,
        200
    );
}

#[tokio::test]
async fn refuses_to_serve_off_loopback_without_a_token() {
    let store = SqliteStore::in_memory().unwrap();
    let reader = store.reader().unwrap();
    let (handle, _writer) = Analytics::start(store, Options::default());
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = serve_admin(listener, AdminState::new(handle, reader, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}
