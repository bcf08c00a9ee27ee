//! RFC 9111 behaviour through the cache's public API, against a scriptable origin that counts
//! its requests, on a mock clock.

mod support;

use std::time::Duration;

use edgeward_cache::CacheStatus;
use support::{response, Edge};

fn date(secs_after_t0: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(support::T0 + secs_after_t0 * 1000))
}

#[tokio::test]
async fn a_fresh_response_is_served_from_cache_with_its_age() {
    let edge = Edge::memory();
    let d = date(0);
    edge.origin.set(move |_, _, _| {
        response(
            200,
            &[("cache-control", "public, max-age=60"), ("date", &d)],
            "page",
        )
    });
    let first = edge.get("/a", &[]).await;
    assert_eq!((first.status, first.cache), (200, CacheStatus::Miss));
    assert_eq!(first.header("edgeward-cache-status"), "MISS");
    assert!(
        first.header("cache-status").contains("fwd=uri-miss"),
        "{}",
        first.header("cache-status")
    );
    edge.advance(10);
    let second = edge.get("/a", &[]).await;
    assert_eq!(
        (second.status, second.cache, &second.body[..]),
        (200, CacheStatus::Hit, &b"page"[..])
    );
    assert_eq!(second.header("age"), "10");
    assert_eq!(second.header("cache-status"), "edgeward; hit; ttl=50");
    let third = edge.get("/a", &[]).await;
    assert_eq!(third.cache, CacheStatus::Hit);
    assert_eq!(edge.origin.count(), 1, "three GETs, one origin request");
    edge.advance(51);
    let expired = edge.get("/a", &[]).await;
    assert_eq!(expired.cache, CacheStatus::Expired);
    assert_eq!(edge.origin.count(), 2);
}

#[tokio::test]
async fn age_includes_the_origins_age_and_date() {
    let edge = Edge::memory();
    // The response left the origin 5 s before T0 and an upstream cache says it is 20 s old.
    let d = date(0);
    edge.origin.set(move |_, _, _| {
        response(
            200,
            &[("cache-control", "max-age=60"), ("age", "20"), ("date", &d)],
            "x",
        )
    });
    edge.get("/a", &[]).await;
    edge.advance(3);
    let hit = edge.get("/a", &[]).await;
    assert_eq!(hit.header("age"), "23");
    edge.advance(38);
    assert_eq!(
        edge.get("/a", &[]).await.cache,
        CacheStatus::Expired,
        "20 + 41 > 60"
    );
}

#[tokio::test]
async fn s_maxage_outranks_max_age_and_cdn_cache_control_outranks_both() {
    let edge = Edge::memory();
    edge.origin.set(|_, path, _| match path {
        "/s" => response(200, &[("cache-control", "max-age=1000, s-maxage=5")], "s"),
        _ => response(
            200,
            &[
                ("cache-control", "no-store"),
                ("cdn-cache-control", "max-age=100"),
            ],
            "cdn",
        ),
    });
    edge.get("/s", &[]).await;
    edge.get("/cdn", &[]).await;
    edge.advance(10);
    assert_eq!(edge.get("/s", &[]).await.cache, CacheStatus::Expired);
    let cdn = edge.get("/cdn", &[]).await;
    assert_eq!(
        cdn.cache,
        CacheStatus::Hit,
        "CDN-Cache-Control replaces Cache-Control for the edge"
    );
    assert_eq!(
        cdn.header("cache-control"),
        "no-store",
        "and Cache-Control still reaches the client"
    );
}

#[tokio::test]
async fn an_invalid_expires_is_stale_and_no_store_private_authorization_are_not_stored() {
    let edge = Edge::memory();
    edge.origin.set(|_, path, _| match path {
        "/expires0" => response(200, &[("expires", "0")], "x"),
        "/no-store" => response(200, &[("cache-control", "max-age=60, no-store")], "x"),
        "/private" => response(200, &[("cache-control", "max-age=60, private")], "x"),
        "/cookie" => response(
            200,
            &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
            "x",
        ),
        _ => response(200, &[("cache-control", "max-age=60")], "x"),
    });
    for path in ["/expires0", "/no-store", "/private", "/cookie"] {
        let first = edge.get(path, &[]).await;
        let second = edge.get(path, &[]).await;
        assert_ne!(second.cache, CacheStatus::Hit, "{path}");
        assert!(
            matches!(first.cache, CacheStatus::Dynamic | CacheStatus::Miss),
            "{path}"
        );
    }
    assert_eq!(
        edge.get("/auth", &[("authorization", "Bearer x")]).await.cache,
        CacheStatus::Dynamic
    );
    assert_eq!(
        edge.get("/auth", &[("authorization", "Bearer x")]).await.cache,
        CacheStatus::Dynamic
    );
    assert_eq!(edge.origin.count(), 10);
}

#[tokio::test]
async fn set_cookie_responses_are_cached_without_the_cookie_when_the_rule_says_so() {
    let mut edge = Edge::memory();
    edge.policy.cache_set_cookie = true;
    edge.origin.set(|_, _, _| {
        response(
            200,
            &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
            "x",
        )
    });
    let first = edge.get("/c", &[]).await;
    assert_eq!(
        first.header("set-cookie"),
        "s=1",
        "the first client still gets its cookie"
    );
    let second = edge.get("/c", &[]).await;
    assert_eq!(second.cache, CacheStatus::Hit);
    assert!(second.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn vary_keeps_normalised_variants_apart() {
    let edge = Edge::memory();
    edge.origin.set(|_, _, h| {
        let lang = h
            .get("accept-language")
            .map_or("none", |v| v.to_str().unwrap())
            .to_ascii_lowercase();
        response(
            200,
            &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
            &lang,
        )
    });
    assert_eq!(
        &edge.get("/v", &[("accept-language", "en")]).await.body[..],
        b"en"
    );
    assert_eq!(
        &edge.get("/v", &[("accept-language", "fr")]).await.body[..],
        b"fr"
    );
    let en = edge.get("/v", &[("accept-language", "EN")]).await;
    assert_eq!((en.cache, &en.body[..]), (CacheStatus::Hit, &b"en"[..]));
    assert_eq!(
        edge.get("/v", &[("accept-language", "fr")]).await.cache,
        CacheStatus::Hit
    );
    assert_eq!(edge.get("/v", &[]).await.cache, CacheStatus::Miss);
    assert_eq!(edge.origin.count(), 3);
}

#[tokio::test]
async fn vary_star_is_never_stored() {
    let edge = Edge::memory();
    edge.origin
        .set(|_, _, _| response(200, &[("cache-control", "max-age=60"), ("vary", "*")], "x"));
    edge.get("/v", &[]).await;
    assert_eq!(edge.get("/v", &[]).await.cache, CacheStatus::Dynamic);
}
