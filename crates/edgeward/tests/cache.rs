//! The shared cache end to end through the binary, over HTTP/1.1 and HTTP/2: hits that
//! never reach the origin, the edge's own 304 / 412 / 206 / 416 from the stored
//! representation, invalidation by an unsafe method, compression negotiated per request,
//! and the cache status on every response.

mod common;

use std::io::Read;

use common::h2client;
use common::{config, exchange, Action, Edgeward, TestOrigin};

const PAGE: &str = "<!doctype html><title>cached</title><p>0123456789 abcdefghijklmnopqrstuvwxyz</p>";

/// An origin serving a cacheable page with a validator, counting its requests.
fn cacheable_origin(extra: &'static str, body: &'static str) -> TestOrigin {
    TestOrigin::start(move |req| {
        if req.request_line().starts_with("POST") {
            return Action::Respond(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec());
        }
        Action::Respond(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: public, max-age=60\r\n\
                 ETag: \"v1\"\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    })
}

fn cached_edge(origin: &TestOrigin) -> Edgeward {
    Edgeward::start(&config(
        origin.addr,
        "\n[cache]\nstore = \"memory\"\n[cache.compression]\nmin_bytes = 20\n",
    ))
}

fn get(edge: &Edgeward, path: &str, extra: &str) -> common::Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n");
    exchange(edge.addr, req.as_bytes())
}

#[test]
fn a_cacheable_page_is_fetched_once_and_then_served_from_the_edge() {
    let origin = cacheable_origin("", PAGE);
    let edge = cached_edge(&origin);
    let first = get(&edge, "/page", "");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("edgeward-cache-status"), Some("MISS"));
    for _ in 0..2 {
        let again = get(&edge, "/page", "");
        assert_eq!(again.status, 200);
        assert_eq!(again.text(), PAGE);
        assert_eq!(again.header("edgeward-cache-status"), Some("HIT"));
        assert!(again.header("age").is_some(), "a hit carries Age");
    }
    // Over HTTP/2 too.
    let h2 = h2client::get(edge.addr, "http://example.com/page", &[]);
    assert_eq!(h2.status, 200);
    assert_eq!(h2.header("edgeward-cache-status"), "HIT");
    assert_eq!(
        origin.requests().len(),
        1,
        "three more requests, one origin fetch"
    );
}

#[test]
fn preconditions_and_ranges_are_answered_from_the_stored_representation() {
    let origin = cacheable_origin("", PAGE);
    let edge = cached_edge(&origin);
    assert_eq!(get(&edge, "/page", "").status, 200);
    let not_modified = get(&edge, "/page", "If-None-Match: \"v1\"\r\n");
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    let failed = get(
        &edge,
        "/page",
        "If-Match: \"other\"\r\nAccept: application/json\r\n",
    );
    assert_eq!(failed.status, 412, "{}", failed.text());
    assert!(failed.header("content-type").unwrap_or("").contains("json"));
    let range = get(&edge, "/page", "Range: bytes=0-8\r\n");
    assert_eq!(range.status, 206);
    assert_eq!(range.text(), &PAGE[..9]);
    assert_eq!(
        range.header("content-range"),
        Some(format!("bytes 0-8/{}", PAGE.len()).as_str())
    );
    let unsatisfiable = get(&edge, "/page", "Range: bytes=9999-\r\n");
    assert_eq!(unsatisfiable.status, 416);
    assert_eq!(
        unsatisfiable.header("content-range"),
        Some(format!("bytes */{}", PAGE.len()).as_str())
    );
    // Over HTTP/2: the same 412.
    let h2 = h2client::get(edge.addr, "http://example.com/page", &[("if-match", "\"nope\"")]);
    assert_eq!(h2.status, 412);
    assert_eq!(origin.requests().len(), 1, "all answered by the edge");
}

#[test]
fn an_unsafe_method_invalidates_the_stored_page() {
    let origin = cacheable_origin("", PAGE);
    let edge = cached_edge(&origin);
    assert_eq!(get(&edge, "/page", "").status, 200);
    assert_eq!(
        get(&edge, "/page", "").header("edgeward-cache-status"),
        Some("HIT")
    );
    let post = exchange(
        edge.addr,
        b"POST /page HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(post.status, 204);
    let after = get(&edge, "/page", "");
    assert_eq!(after.header("edgeward-cache-status"), Some("MISS"));
    assert_eq!(origin.requests().len(), 3);
}

#[test]
fn responses_are_compressed_when_accepted_and_vary_by_accept_encoding() {
    let origin = cacheable_origin("", PAGE);
    let edge = cached_edge(&origin);
    let gz = get(&edge, "/page", "Accept-Encoding: gzip\r\n");
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(gz
        .header("vary")
        .unwrap_or("")
        .to_ascii_lowercase()
        .contains("accept-encoding"));
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut decoded)
        .expect("a gzip body");
    assert_eq!(decoded, PAGE);
    let plain = get(&edge, "/page", "");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.text(), PAGE);
}

#[test]
fn images_are_not_compressed() {
    let origin = TestOrigin::fixed(
        "200 OK",
        "Content-Type: image/png\r\nCache-Control: public, max-age=60\r\n",
        "PNGDATAPNGDATAPNGDATAPNGDATAPNGDATA",
    );
    let edge = cached_edge(&origin);
    let resp = get(&edge, "/logo.png", "Accept-Encoding: gzip, br, zstd\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-encoding"), None);
}

#[test]
fn a_get_with_a_body_is_forwarded_whole_never_as_a_bodiless_fill() {
    let origin = cacheable_origin("", PAGE);
    let edge = cached_edge(&origin);
    let resp = exchange(
        edge.addr,
        b"GET /with-body HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("edgeward-cache-status"), Some("BYPASS"));
    let seen = &origin.requests()[0];
    assert_eq!(seen.body, b"hello", "the body the Content-Length announced");
}
