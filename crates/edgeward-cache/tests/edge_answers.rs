//! Conditional requests, ranges and HEAD answered by the edge from the stored representation
//! (RFC 9110 §13, §14), on hits and on misses; compression cached per encoding.

mod support;

use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
use edgeward_cache::CacheStatus;
use http::Method;
use support::{response, Edge};
use tokio::io::AsyncReadExt;

const LM: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

fn edge() -> Edge {
    let edge = Edge::memory();
    edge.origin.set(|_, _, _| {
        response(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("etag", "\"v1\""),
                ("last-modified", LM),
                ("content-type", "text/plain"),
            ],
            "0123456789abcdefghij",
        )
    });
    edge
}

#[tokio::test]
async fn conditionals_on_a_hit() {
    let edge = edge();
    edge.get("/f", &[]).await;
    let nm = edge.get("/f", &[("if-none-match", "W/\"v1\"")]).await;
    assert_eq!((nm.status, nm.cache), (304, CacheStatus::Hit));
    assert!(nm.body.is_empty());
    assert_eq!(nm.header("etag"), "\"v1\"");
    assert_eq!(nm.header("cache-control"), "max-age=600");
    assert!(nm.headers.get("content-type").is_none());
    assert_eq!(edge.get("/f", &[("if-modified-since", LM)]).await.status, 304);
    assert_eq!(edge.get("/f", &[("if-none-match", "\"v2\"")]).await.status, 200);
    let failed = edge.get("/f", &[("if-match", "\"v2\"")]).await;
    assert!(failed.precondition_failed);
    assert!(
        edge.get("/f", &[("if-unmodified-since", "Sun, 31 Dec 2023 00:00:00 GMT")])
            .await
            .precondition_failed
    );
    assert_eq!(edge.get("/f", &[("if-match", "\"v1\"")]).await.status, 200);
    assert_eq!(edge.origin.count(), 1, "all answered by the edge");
}

#[tokio::test]
async fn conditionals_on_a_miss_are_answered_by_the_edge_too() {
    let edge = edge();
    let nm = edge.get("/m", &[("if-none-match", "\"v1\"")]).await;
    assert_eq!((nm.status, nm.cache), (304, CacheStatus::Miss));
    let hit = edge.get("/m", &[]).await;
    assert_eq!(
        (hit.status, hit.cache, hit.body.len()),
        (200, CacheStatus::Hit, 20),
        "stored although the client got a 304"
    );
    let edge = self::edge();
    assert!(
        edge.get("/m2", &[("if-match", "\"nope\"")])
            .await
            .precondition_failed
    );
}

#[tokio::test]
async fn ranges_from_the_cache() {
    let edge = edge();
    edge.get("/r", &[]).await;
    let one = edge.get("/r", &[("range", "bytes=2-5")]).await;
    assert_eq!((one.status, &one.body[..]), (206, &b"2345"[..]));
    assert_eq!(one.header("content-range"), "bytes 2-5/20");
    assert_eq!(one.header("content-length"), "4");
    let suffix = edge.get("/r", &[("range", "bytes=-3")]).await;
    assert_eq!(&suffix.body[..], b"hij");
    let unsat = edge.get("/r", &[("range", "bytes=50-")]).await;
    assert_eq!((unsat.status, unsat.header("content-range")), (416, "bytes */20"));
    let multi = edge.get("/r", &[("range", "bytes=0-1,10-11")]).await;
    assert_eq!(multi.status, 206);
    let ct = multi.header("content-type").to_string();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(&ct)
        .to_string();
    let body = String::from_utf8(multi.body.to_vec()).unwrap();
    assert!(
        body.contains(&format!(
            "--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/20\r\n\r\n01\r\n"
        )),
        "{body}"
    );
    assert!(body.contains("Content-Range: bytes 10-11/20\r\n\r\nab\r\n"));
    assert!(body.ends_with(&format!("--{boundary}--\r\n")));
    assert_eq!(multi.header("content-length"), multi.body.len().to_string());
    let stale_if_range = edge
        .get("/r", &[("range", "bytes=0-1"), ("if-range", "\"v0\"")])
        .await;
    assert_eq!((stale_if_range.status, stale_if_range.body.len()), (200, 20));
    let garbage = edge.get("/r", &[("range", "lines=1-2")]).await;
    assert_eq!(garbage.status, 200);
    assert_eq!(edge.origin.count(), 1);
}

#[tokio::test]
async fn a_range_on_a_miss_fetches_the_whole_object_and_stores_it() {
    let edge = edge();
    let first = edge.get("/rm", &[("range", "bytes=0-3")]).await;
    assert_eq!(
        (first.status, &first.body[..], first.cache),
        (206, &b"0123"[..], CacheStatus::Miss)
    );
    let unsat = edge.get("/rm2", &[("range", "bytes=99-")]).await;
    assert_eq!(unsat.status, 416);
    assert_eq!(edge.get("/rm", &[]).await.cache, CacheStatus::Hit);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        edge.get("/rm2", &[]).await.cache,
        CacheStatus::Hit,
        "drained into the store in the background"
    );
}

#[tokio::test]
async fn head_gets_the_get_headers_without_a_body() {
    let edge = edge();
    let miss = edge.request(Method::HEAD, "/h", &[]).await;
    assert_eq!((miss.status, miss.body.len()), (200, 0));
    assert_eq!(miss.header("content-length"), "20");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let hit = edge.request(Method::HEAD, "/h", &[]).await;
    assert_eq!(
        (hit.cache, hit.body.len(), hit.header("content-length")),
        (CacheStatus::Hit, 0, "20")
    );
    assert_eq!(edge.get("/h", &[]).await.body.len(), 20);
    assert_eq!(edge.origin.count(), 1);
}

fn page() -> String {
    (0..400)
        .map(|i| format!("<p>paragraph {i} of the page</p>\n"))
        .collect()
}

async fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => GzipDecoder::new(body).read_to_end(&mut out).await.unwrap(),
        "br" => BrotliDecoder::new(body).read_to_end(&mut out).await.unwrap(),
        "zstd" => ZstdDecoder::new(body).read_to_end(&mut out).await.unwrap(),
        _ => {
            out.extend_from_slice(body);
            0
        }
    };
    out
}

#[tokio::test]
async fn compressed_variants_are_cached_per_encoding() {
    let mut edge = Edge::memory();
    edge.compress = true;
    let text = page();
    let t = text.clone();
    edge.origin.set(move |_, path, _| {
        let ct = if path == "/img" {
            "image/png"
        } else {
            "text/html; charset=utf-8"
        };
        response(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("content-type", ct),
                ("etag", "\"p1\""),
            ],
            &t,
        )
    });
    for (ae, coding) in [
        ("gzip", "gzip"),
        ("br;q=1, gzip;q=0.5", "br"),
        ("zstd, br, gzip", "zstd"),
        ("identity", ""),
    ] {
        let miss = edge.get("/page", &[("accept-encoding", ae)]).await;
        assert_eq!(miss.cache, CacheStatus::Miss, "{ae}");
        assert_eq!(miss.header("content-encoding"), coding, "{ae}");
        assert_eq!(decode(coding, &miss.body).await, text.as_bytes(), "{ae}");
        let hit = edge.get("/page", &[("accept-encoding", ae)]).await;
        assert_eq!(hit.cache, CacheStatus::Hit, "{ae}");
        assert_eq!(decode(coding, &hit.body).await, text.as_bytes(), "{ae}");
        assert!(hit
            .header("vary")
            .to_ascii_lowercase()
            .contains("accept-encoding"));
        if coding.is_empty() {
            assert_eq!(hit.header("etag"), "\"p1\"");
        } else {
            assert_eq!(hit.header("etag"), "W/\"p1\"", "transformed: weak");
            assert!(hit.body.len() < text.len() / 3);
        }
    }
    // Equivalent Accept-Encoding values share a variant.
    assert_eq!(
        edge.get("/page", &[("accept-encoding", "gzip, deflate")])
            .await
            .cache,
        CacheStatus::Hit
    );
    assert_eq!(edge.origin.count(), 4);
    let img = edge.get("/img", &[("accept-encoding", "gzip")]).await;
    assert_eq!(img.header("content-encoding"), "", "image/* is not compressed");
    // A weak ETag still validates with If-None-Match (weak comparison).
    let nm = edge
        .get(
            "/page",
            &[("accept-encoding", "gzip"), ("if-none-match", "\"p1\"")],
        )
        .await;
    assert_eq!(nm.status, 304);
}
