//! RFC 9111 revalidation, stale responses (RFC 5861), invalidation and collapsing through the
//! cache's public API, against a scriptable origin that counts its requests, on a mock clock.

mod support;

use std::sync::Arc;
use std::time::Duration;

use edgeward_cache::{CacheStatus, EdgeTtl};
use http::{HeaderMap, Method};
use support::{eventually, response, Edge};

fn validating_origin(edge: &Edge) {
    edge.origin.set(|_, _, h| {
        if h.get("if-none-match").is_some_and(|v| v == "\"v1\"") {
            return response(
                304,
                &[
                    ("etag", "\"v1\""),
                    ("cache-control", "max-age=100"),
                    ("x-updated", "yes"),
                ],
                "",
            );
        }
        response(
            200,
            &[
                ("etag", "\"v1\""),
                ("cache-control", "max-age=1"),
                ("x-updated", "no"),
            ],
            "body-v1",
        )
    });
}

#[tokio::test]
async fn a_304_from_the_origin_refreshes_the_stored_response() {
    let edge = Edge::memory();
    validating_origin(&edge);
    edge.get("/r", &[]).await;
    edge.advance(5);
    let revalidated = edge.get("/r", &[]).await;
    assert_eq!(revalidated.cache, CacheStatus::Revalidated);
    assert_eq!(
        (revalidated.status, &revalidated.body[..]),
        (200, &b"body-v1"[..])
    );
    assert_eq!(
        revalidated.header("x-updated"),
        "yes",
        "headers updated from the 304 (RFC 9111 §3.2)"
    );
    assert_eq!(
        revalidated.header("content-length"),
        "7",
        "Content-Length is never updated from a 304"
    );
    edge.advance(50);
    let hit = edge.get("/r", &[]).await;
    assert_eq!(hit.cache, CacheStatus::Hit, "the 304's max-age=100 applies now");
    assert_eq!(edge.origin.count(), 2);
}

#[tokio::test]
async fn request_directives_force_revalidation_or_refuse() {
    let edge = Edge::memory();
    validating_origin(&edge);
    edge.get("/r", &[]).await;
    assert_eq!(
        edge.get("/r", &[("cache-control", "no-cache")]).await.cache,
        CacheStatus::Revalidated
    );
    assert_eq!(
        edge.get("/r", &[("cache-control", "max-age=0")]).await.cache,
        CacheStatus::Hit,
        "age 0 is not > 0"
    );
    edge.advance(2);
    assert_eq!(
        edge.get("/r", &[("cache-control", "max-age=1")]).await.cache,
        CacheStatus::Revalidated
    );
    assert_eq!(
        edge.get("/r", &[("cache-control", "min-fresh=1000")]).await.cache,
        CacheStatus::Revalidated
    );
}

#[tokio::test]
async fn max_stale_serves_stale_unless_must_revalidate() {
    let edge = Edge::memory();
    edge.origin.set(|_, path, _| match path {
        "/mr" => response(200, &[("cache-control", "max-age=1, must-revalidate")], "x"),
        _ => response(200, &[("cache-control", "max-age=1")], "x"),
    });
    edge.get("/a", &[]).await;
    edge.get("/mr", &[]).await;
    edge.advance(10);
    assert_eq!(
        edge.get("/a", &[("cache-control", "max-stale=60")]).await.cache,
        CacheStatus::Stale
    );
    assert_eq!(
        edge.get("/mr", &[("cache-control", "max-stale=60")]).await.cache,
        CacheStatus::Expired
    );
}

#[tokio::test]
async fn only_if_cached_answers_504_when_nothing_fits() {
    let edge = Edge::memory();
    edge.origin
        .set(|_, _, _| response(200, &[("cache-control", "max-age=10")], "x"));
    assert_eq!(
        edge.get("/o", &[("cache-control", "only-if-cached")])
            .await
            .status,
        504
    );
    edge.get("/o", &[]).await;
    assert_eq!(
        edge.get("/o", &[("cache-control", "only-if-cached")]).await.cache,
        CacheStatus::Hit
    );
    edge.advance(20);
    assert_eq!(
        edge.get("/o", &[("cache-control", "only-if-cached")])
            .await
            .status,
        504
    );
    assert_eq!(edge.origin.count(), 1);
}

#[tokio::test]
async fn no_cache_responses_are_revalidated_every_time() {
    let edge = Edge::memory();
    edge.origin.set(|_, _, h| {
        if h.get("if-none-match").is_some() {
            return response(304, &[("etag", "\"v1\"")], "");
        }
        response(
            200,
            &[("cache-control", "max-age=600, no-cache"), ("etag", "\"v1\"")],
            "x",
        )
    });
    edge.get("/n", &[]).await;
    assert_eq!(edge.get("/n", &[]).await.cache, CacheStatus::Revalidated);
    assert_eq!(edge.get("/n", &[]).await.cache, CacheStatus::Revalidated);
    assert_eq!(edge.origin.count(), 3);
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_in_the_background() {
    let edge = Edge::memory();
    let version = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let v = version.clone();
    edge.origin.set(move |_, _, _| {
        let n = v.load(std::sync::atomic::Ordering::SeqCst);
        response(
            200,
            &[("cache-control", "max-age=1, stale-while-revalidate=60")],
            &format!("v{n}"),
        )
    });
    edge.get("/s", &[]).await;
    version.store(2, std::sync::atomic::Ordering::SeqCst);
    edge.advance(5);
    let updating = edge.get("/s", &[]).await;
    assert_eq!(
        (updating.cache, &updating.body[..]),
        (CacheStatus::Updating, &b"v1"[..])
    );
    eventually(|| edge.origin.count() == 2).await;
    let origin = edge.origin.clone();
    eventually(move || origin.count() == 2).await;
    // The background refresh stores v2; the next request is a fresh hit on it.
    let mut refreshed = edge.get("/s", &[]).await;
    for _ in 0..100 {
        if refreshed.cache == CacheStatus::Hit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        refreshed = edge.get("/s", &[]).await;
    }
    assert_eq!(
        (refreshed.cache, &refreshed.body[..]),
        (CacheStatus::Hit, &b"v2"[..])
    );
    edge.advance(120);
    assert_eq!(
        edge.get("/s", &[]).await.cache,
        CacheStatus::Expired,
        "past the window"
    );
}

#[tokio::test]
async fn stale_if_error_serves_stale_when_the_origin_is_down_or_failing() {
    let edge = Edge::memory();
    edge.origin
        .set(|_, _, _| response(200, &[("cache-control", "max-age=1, stale-if-error=60")], "good"));
    edge.get("/e", &[]).await;
    edge.advance(10);
    edge.origin.set(|_, _, _| None);
    let down = edge.get("/e", &[]).await;
    assert_eq!(
        (down.status, down.cache, &down.body[..]),
        (200, CacheStatus::Stale, &b"good"[..])
    );
    assert!(down.header("cache-status").contains("detail=stale-if-error"));
    edge.origin.set(|_, _, _| response(503, &[], "busy"));
    let failing = edge.get("/e", &[]).await;
    assert_eq!((failing.status, failing.cache), (200, CacheStatus::Stale));
    edge.advance(100);
    let past = edge.get("/e", &[]).await;
    assert_eq!(
        past.status, 503,
        "past the stale-if-error window the error passes through"
    );
}

#[tokio::test]
async fn a_rule_can_serve_stale_on_error_without_the_origins_permission() {
    let mut edge = Edge::memory();
    edge.policy.serve_stale_on_error = Duration::from_secs(300);
    edge.origin
        .set(|_, _, _| response(200, &[("cache-control", "max-age=1")], "good"));
    edge.get("/e", &[]).await;
    edge.advance(10);
    edge.origin.set(|_, _, _| None);
    assert_eq!(edge.get("/e", &[]).await.cache, CacheStatus::Stale);
}

#[tokio::test]
async fn edge_ttl_overrides_or_defaults_the_origins_freshness() {
    let mut edge = Edge::memory();
    edge.policy.edge_ttl = EdgeTtl::Override(Duration::from_secs(300));
    edge.policy.browser_ttl = Some(Duration::from_secs(30));
    edge.origin
        .set(|_, _, _| response(200, &[("cache-control", "max-age=5")], "x"));
    edge.get("/t", &[]).await;
    edge.advance(100);
    let hit = edge.get("/t", &[]).await;
    assert_eq!(hit.cache, CacheStatus::Hit);
    assert_eq!(hit.header("cache-control"), "max-age=30", "browser TTL");
    let mut edge = Edge::memory();
    edge.policy.edge_ttl = EdgeTtl::Default(Duration::from_secs(300));
    edge.origin.set(|_, path, _| match path {
        "/none" => response(200, &[("etag", "\"e\"")], "x"),
        _ => response(200, &[("cache-control", "max-age=5")], "x"),
    });
    edge.get("/none", &[]).await;
    edge.get("/five", &[]).await;
    edge.advance(100);
    assert_eq!(edge.get("/none", &[]).await.cache, CacheStatus::Hit);
    assert_eq!(edge.get("/five", &[]).await.cache, CacheStatus::Expired);
}

#[tokio::test]
async fn unsafe_methods_invalidate_the_target_and_same_origin_locations() {
    let edge = Edge::memory();
    edge.origin.set(|m, path, _| {
        if *m == Method::POST {
            return response(
                201,
                &[
                    ("location", "/items/7"),
                    ("content-location", "https://other.example/items/8"),
                ],
                "",
            );
        }
        response(200, &[("cache-control", "max-age=600")], path)
    });
    for p in ["/items", "/items/7", "/items/8"] {
        edge.get(p, &[]).await;
    }
    let post = edge.request(Method::POST, "/items", &[]).await;
    assert_eq!(post.cache, CacheStatus::Dynamic);
    assert_eq!(edge.get("/items", &[]).await.cache, CacheStatus::Miss);
    assert_eq!(edge.get("/items/7", &[]).await.cache, CacheStatus::Miss);
    assert_eq!(
        edge.get("/items/8", &[]).await.cache,
        CacheStatus::Hit,
        "another origin's URL is left alone"
    );
}

#[tokio::test]
async fn invalidation_reaches_every_variant() {
    let edge = Edge::memory();
    edge.origin.set(|m, _, h| {
        if *m == Method::DELETE {
            return response(204, &[], "");
        }
        let lang = h
            .get("accept-language")
            .map_or("none", |v| v.to_str().unwrap())
            .to_string();
        response(
            200,
            &[("cache-control", "max-age=600"), ("vary", "accept-language")],
            &lang,
        )
    });
    edge.get("/v", &[("accept-language", "en")]).await;
    edge.get("/v", &[("accept-language", "fr")]).await;
    edge.request(Method::DELETE, "/v", &[]).await;
    assert_eq!(
        edge.get("/v", &[("accept-language", "en")]).await.cache,
        CacheStatus::Miss
    );
    assert_eq!(
        edge.get("/v", &[("accept-language", "fr")]).await.cache,
        CacheStatus::Miss,
        "old variants unreachable"
    );
}

#[tokio::test]
async fn a_failed_post_does_not_invalidate() {
    let edge = Edge::memory();
    edge.origin.set(|m, _, _| {
        if *m == Method::POST {
            response(500, &[], "")
        } else {
            response(200, &[("cache-control", "max-age=600")], "x")
        }
    });
    edge.get("/p", &[]).await;
    edge.request(Method::POST, "/p", &[]).await;
    assert_eq!(edge.get("/p", &[]).await.cache, CacheStatus::Hit);
}

#[tokio::test]
async fn bodies_over_the_size_limit_pass_through_uncached() {
    let settings = edgeward_cache::CacheSettings {
        max_object_bytes: 100,
        ..Default::default()
    };
    let edge = Edge::new(
        edgeward_cache::Store::Memory(edgeward_cache::MemoryStore::new(1 << 20)),
        settings,
    );
    let big = "x".repeat(500);
    edge.origin
        .set(move |_, _, _| response(200, &[("cache-control", "max-age=600")], &big));
    let first = edge.get("/big", &[]).await;
    assert_eq!(first.body.len(), 500);
    assert_eq!(first.cache, CacheStatus::Dynamic);
    assert_eq!(edge.get("/big", &[]).await.body.len(), 500);
    assert_eq!(edge.origin.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_misses_make_one_origin_request() {
    let edge = Arc::new(Edge::memory());
    *edge.origin.delay.lock().unwrap() = Duration::from_millis(100);
    edge.origin
        .set(|_, _, _| response(200, &[("cache-control", "max-age=60")], "collapsed"));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let edge = edge.clone();
        tasks.push(tokio::spawn(async move { edge.get("/hot", &[]).await }));
    }
    let mut statuses = std::collections::HashMap::new();
    for t in tasks {
        let o = t.await.unwrap();
        assert_eq!(&o.body[..], b"collapsed");
        *statuses.entry(o.cache).or_insert(0) += 1;
    }
    assert_eq!(edge.origin.count(), 1, "{statuses:?}");
    assert_eq!(statuses[&CacheStatus::Miss], 1);
    assert_eq!(statuses[&CacheStatus::Hit], 99);
    assert_eq!(edge.cache.fills_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapsed_waiters_go_to_the_origin_together_when_the_response_is_not_storable() {
    let edge = Arc::new(Edge::memory());
    *edge.origin.delay.lock().unwrap() = Duration::from_millis(100);
    edge.origin
        .set(|_, _, _| response(200, &[("cache-control", "private")], "mine"));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let edge = edge.clone();
            tokio::spawn(async move { edge.get("/private", &[]).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().cache, CacheStatus::Dynamic);
    }
    assert_eq!(edge.origin.count(), 20);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "not serialised: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bypass_rules_and_unsafe_methods_pass() {
    let edge = Edge::memory();
    let parts = http::Request::get("/x").body(()).unwrap().into_parts().0;
    let req = edgeward_cache::CacheRequest::new(
        &parts,
        "https",
        "example.com",
        edgeward_cache::Selected::Bypass("r1"),
    );
    assert!(matches!(
        edge.cache.lookup(&req).await,
        edgeward_cache::Lookup::Pass(CacheStatus::Bypass)
    ));
    let parts = http::Request::post("/x").body(()).unwrap().into_parts().0;
    let req = edgeward_cache::CacheRequest::new(
        &parts,
        "https",
        "example.com",
        edgeward_cache::Selected::Cache(&edge.policy),
    );
    assert!(matches!(
        edge.cache.lookup(&req).await,
        edgeward_cache::Lookup::Pass(CacheStatus::Dynamic)
    ));
    let _ = HeaderMap::new();
}
