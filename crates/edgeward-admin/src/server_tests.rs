//! The admin listener's answers: the `Host` and token rules, catalog errors, the API with
//! fleet and edge filters.

use super::*;
use edgeward_analytics::sample::{self, BASE_MS};
use edgeward_analytics::{EventSink, SqliteCap, SqliteStore};
use http_body_util::BodyExt;

fn state(token: Option<&str>) -> AdminState {
    let mut store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
    store.write(&sample::batch("edge-a", 1, BASE_MS)).unwrap();
    store.write(&sample::batch("edge-b", 1, BASE_MS)).unwrap();
    let reader = store.reader().unwrap();
    // The reader shares the in-memory database only while a connection is open.
    std::mem::forget(store);
    AdminState {
        query: Some(Arc::new(reader)),
        token: token.map(str::to_owned),
        allowed_hosts: vec!["admin.internal".into()],
        ..AdminState::new(Arc::new(Metrics::default()))
    }
}

async fn get(
    state: &AdminState,
    loopback: bool,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let mut req = Request::get(target);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let reply = handle(req.body(()).unwrap(), state, loopback).await;
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_foreign_host_gets_the_catalogs_421_unless_the_token_is_presented() {
    let s = state(None);
    let (status, headers, body) = get(
        &s,
        true,
        "/api/totals",
        &[("host", "rebind.attacker.example:9901")],
    )
    .await;
    assert_eq!(status, 421);
    assert!(headers.contains_key("x-request-id"), "rendered by the catalog");
    assert!(!body.contains("requests"), "no data leaks: {body}");
    let (status, _, _) = get(&s, true, "/", &[("host", "rebind.attacker.example")]).await;
    assert_eq!(status, 421, "the page too");
    for host in ["localhost:9901", "127.0.0.1", "admin.internal"] {
        assert_eq!(
            get(&s, true, "/api/totals", &[("host", host)]).await.0,
            200,
            "{host}"
        );
    }
    let s = state(Some("0123456789abcdef"));
    let auth = ("authorization", "Bearer 0123456789abcdef");
    assert_eq!(
        get(&s, false, "/api/totals", &[("host", "edge.example"), auth])
            .await
            .0,
        200
    );
    assert_eq!(
        get(&s, false, "/api/totals", &[("host", "edge.example")]).await.0,
        421
    );
}

#[tokio::test]
async fn a_missing_token_gets_the_catalogs_401_with_a_basic_challenge() {
    let s = state(Some("0123456789abcdef"));
    let (status, headers, _) = get(&s, true, "/api/totals", &[("host", "localhost")]).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        "Basic realm=\"edgeward admin\", charset=\"UTF-8\""
    );
    // What a browser sends after that challenge, with the token as the password.
    let basic = ("authorization", "Basic YWRtaW46MDEyMzQ1Njc4OWFiY2RlZg==");
    assert_eq!(
        get(&s, true, "/api/totals", &[("host", "localhost"), basic])
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn other_errors_come_from_the_catalog_too() {
    let s = state(None);
    let host = ("host", "localhost");
    let (status, headers, body) =
        get(&s, true, "/nope", &[host, ("accept", "application/problem+json")]).await;
    assert_eq!(status, 404);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/problem+json"));
    assert!(
        body.contains("\"status\":404") || body.contains("\"status\": 404"),
        "{body}"
    );
    let mut req = Request::post("/api/totals")
        .header("host", "localhost")
        .body(())
        .unwrap();
    *req.method_mut() = Method::DELETE;
    let reply = handle(req, &s, true).await;
    assert_eq!(reply.status(), 405);
    assert_eq!(reply.headers()["allow"], "GET, HEAD");
    let (status, _, body) = get(&s, true, "/api/totals?from=abc", &[host]).await;
    assert_eq!((status, body.contains("`from` must be an integer")), (400, true));
}

#[tokio::test]
async fn the_api_answers_for_the_fleet_or_one_edge() {
    let s = state(None);
    let host = ("host", "localhost");
    let totals = |body: &str| -> u64 {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["requests"].as_u64().unwrap()
    };
    let (_, _, fleet) = get(&s, true, "/api/totals", &[host]).await;
    assert_eq!(totals(&fleet), 2 * sample::TOTAL);
    let (_, _, one) = get(&s, true, "/api/totals?instance=edge-b", &[host]).await;
    assert_eq!(totals(&one), sample::TOTAL);
    let (_, _, edges) = get(&s, true, "/api/instances", &[host]).await;
    assert_eq!(
        edges,
        r#"[{"instance":"edge-a","count":91},{"instance":"edge-b","count":91}]"#
    );
    let (status, headers, page) = get(&s, true, "/dashboard", &[host]).await;
    assert_eq!(status, 200);
    assert!(page.contains("chart-instances"));
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn metrics_include_delivery_build_and_process_series() {
    let mut s = state(None);
    let store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
    let (handle, _w) = edgeward_analytics::Analytics::start(Box::new(store), Default::default()).unwrap();
    s.analytics = Some(handle);
    s.extra_metrics.push(Arc::new(|out: &mut String| {
        out.push_str("edgeward_extra_total 7\n")
    }));
    let (status, headers, text) = get(&s, true, "/metrics", &[("host", "localhost")]).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    for line in [
        "edgeward_analytics_spool_bytes 0",
        "edgeward_analytics_delivery_lag_seconds 0",
        "edgeward_analytics_events_dropped_total{reason=\"spool_full\"} 0",
        "edgeward_analytics_store_up 0",
        "edgeward_extra_total 7",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?}");
    }
    assert!(text.contains(&format!(
        "edgeward_build_info{{version=\"{}\"}} 1",
        exposition::VERSION
    )));
    for name in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "missing {name}");
    }
}
