//! Each kind of origin, for real on loopback: plain HTTP, Unix socket, HTTPS with a private
//! CA (verification failure, wrong name, client certificate required), HTTP/2 by ALPN, and
//! origin response-head limits.

mod support;

use std::sync::Arc;

use edgeward_upstream::{OriginTls, UpstreamError, UpstreamSettings, ZoneUpstream};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn no_replay() -> Option<http::Request<TestBody>> {
    None
}

#[tokio::test]
async fn a_plain_origin_answers_and_its_connection_is_reused() {
    let (addr, counts) = http_origin("plain").await;
    let up = pool();
    let cluster = up.cluster(&[origin(addr)], &zone(), &settings());
    for _ in 0..5 {
        let resp = cluster.send(get("/"), None, no_replay).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-origin"], "plain");
        assert_eq!(text(resp).await, "plain");
    }
    assert_eq!(counts.requests(), 5);
    assert_eq!(counts.connections(), 1, "keep-alive connection reused");
    let status = cluster.status();
    assert_eq!(status[0].idle, 1);
    assert_eq!(status[0].in_flight, 0);
}

#[tokio::test]
async fn request_bodies_stream_to_the_origin() {
    let (addr, _) = http_origin("plain").await;
    let up = pool();
    let cluster = up.cluster(&[origin(addr)], &zone(), &settings());
    let req = http::Request::post("/upload")
        .header("host", "origin.test")
        .header("content-length", "11")
        .body(body("hello world"))
        .unwrap();
    let resp = cluster.send(req, None, no_replay).await.unwrap();
    assert_eq!(resp.headers()["x-body-len"], "11");
    assert_eq!(resp.headers()["x-method"], "POST");
}

#[tokio::test]
async fn a_unix_socket_origin_answers() {
    let (path, counts) = unix_origin("unix").await;
    let up = pool();
    let cluster = up.cluster(&[unix(&path)], &zone(), &settings());
    let resp = cluster.send(get("/"), None, no_replay).await.unwrap();
    assert_eq!(text(resp).await, "unix");
    let resp = cluster.send(get("/"), None, no_replay).await.unwrap();
    assert_eq!(text(resp).await, "unix");
    assert_eq!(counts.connections(), 1);
    std::fs::remove_file(&path).unwrap();
    // Only the idle connection existed; once it is gone the missing socket is "refused".
    let missing = up.cluster(&[unix(&path.with_file_name("none.sock"))], &zone(), &settings());
    let err = missing.send(get("/"), None, no_replay).await.unwrap_err();
    assert_eq!(err, UpstreamError::ConnectRefused);
}

#[tokio::test]
async fn https_origin_verified_against_a_configured_ca() {
    let pki = Pki::new();
    let spec = TlsOrigin {
        names: &["origin.test"],
        require_client_cert: false,
        h2: false,
    };
    let (addr, _) = https_origin(&pki, spec, "secure").await;
    let up = pool();
    let zone = ZoneUpstream {
        tls: OriginTls {
            server_name: Some("origin.test".into()),
            ..pki.trusting()
        },
        ..zone()
    };
    let cluster = up.cluster(&[tls_origin("127.0.0.1", addr.port())], &zone, &settings());
    let resp = cluster.send(get("/"), None, no_replay).await.unwrap();
    assert_eq!(resp.headers()["x-version"], "HTTP/1.1");
    assert_eq!(text(resp).await, "secure");
    assert_eq!(
        up.status()[0].origin,
        format!("https://127.0.0.1:{}", addr.port())
    );
}

#[tokio::test]
async fn an_unknown_issuer_is_an_invalid_certificate_unless_verification_is_skipped() {
    let pki = Pki::new();
    let spec = TlsOrigin {
        names: &["origin.test"],
        require_client_cert: false,
        h2: false,
    };
    let (addr, counts) = https_origin(&pki, spec, "secure").await;
    let up = pool();
    let o = [tls_origin("127.0.0.1", addr.port())];
    let named = |tls: OriginTls| ZoneUpstream {
        tls: OriginTls {
            server_name: Some("origin.test".into()),
            ..tls
        },
        ..ZoneUpstream::default()
    };
    // The bundled public roots do not know the test CA.
    let public = up.cluster(&o, &named(OriginTls::default()), &settings());
    assert_eq!(
        public.send(get("/"), None, no_replay).await.unwrap_err(),
        UpstreamError::InvalidCertificate
    );
    // Another CA's bundle: same.
    let other = up.cluster(&o, &named(Pki::new().trusting()), &settings());
    assert_eq!(
        other.send(get("/"), None, no_replay).await.unwrap_err(),
        UpstreamError::InvalidCertificate
    );
    assert_eq!(counts.requests(), 0);
    let skip = OriginTls {
        insecure_skip_verify: true,
        ..OriginTls::default()
    };
    let insecure = up.cluster(&o, &named(skip), &settings());
    let resp = insecure.send(get("/"), None, no_replay).await.unwrap();
    assert_eq!(text(resp).await, "secure");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_invalid() {
    let pki = Pki::new();
    let spec = TlsOrigin {
        names: &["other.test"],
        require_client_cert: false,
        h2: false,
    };
    let (addr, _) = https_origin(&pki, spec, "secure").await;
    let up = pool();
    let zone = ZoneUpstream {
        tls: OriginTls {
            server_name: Some("origin.test".into()),
            ..pki.trusting()
        },
        ..zone()
    };
    let cluster = up.cluster(&[tls_origin("127.0.0.1", addr.port())], &zone, &settings());
    let err = cluster.send(get("/"), None, no_replay).await.unwrap_err();
    assert_eq!(err, UpstreamError::InvalidCertificate);
    assert_eq!(err.to_edge_error().status(), 502);
}

#[tokio::test]
async fn an_origin_requiring_a_client_certificate_rejects_the_edge_without_one() {
    let pki = Pki::new();
    let spec = TlsOrigin {
        names: &["origin.test"],
        require_client_cert: true,
        h2: false,
    };
    let (addr, counts) = https_origin(&pki, spec, "pulled").await;
    let up = pool();
    let o = [tls_origin("127.0.0.1", addr.port())];
    let without = ZoneUpstream {
        tls: OriginTls {
            server_name: Some("origin.test".into()),
            ..pki.trusting()
        },
        ..zone()
    };
    let cluster = up.cluster(&o, &without, &settings());
    let err = cluster.send(get("/"), None, no_replay).await.unwrap_err();
    assert_eq!(err, UpstreamError::TlsHandshake);
    assert_eq!(counts.requests(), 0);
    let with = ZoneUpstream {
        tls: OriginTls {
            client_cert: Some(pki.client_key()),
            ..without.tls.clone()
        },
        ..zone()
    };
    let cluster = up.cluster(&o, &with, &settings());
    let resp = cluster.send(get("/"), None, no_replay).await.unwrap();
    assert_eq!(text(resp).await, "pulled");
    assert_eq!(counts.requests(), 1);
}

#[tokio::test]
async fn http2_is_used_when_the_origin_picks_it_by_alpn() {
    let pki = Pki::new();
    let spec = TlsOrigin {
        names: &["origin.test"],
        require_client_cert: false,
        h2: true,
    };
    let (addr, counts) = https_origin(&pki, spec, "h2").await;
    let up = pool();
    let zone = ZoneUpstream {
        tls: OriginTls {
            server_name: Some("origin.test".into()),
            http2: true,
            ..pki.trusting()
        },
        ..zone()
    };
    let cluster = Arc::new(up.cluster(&[tls_origin("127.0.0.1", addr.port())], &zone, &settings()));
    let first = cluster.send(get("/"), None, no_replay).await.unwrap();
    assert_eq!(first.headers()["x-version"], "HTTP/2.0");
    assert_eq!(text(first).await, "h2");
    // Concurrent requests share the one multiplexed connection.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = cluster.clone();
            tokio::spawn(async move { text(c.send(get("/slow"), None, no_replay).await.unwrap()).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "h2");
    }
    assert_eq!(counts.connections(), 1);
    assert_eq!(counts.requests(), 9);
}

#[tokio::test]
async fn origin_responses_may_carry_more_than_a_hundred_fields() {
    let (addr, _) = http_origin_with(Answer {
        name: "many",
        extra_headers: 200,
    })
    .await;
    let up = pool();
    let cluster = up.cluster(&[origin(addr)], &zone(), &settings());
    let resp = cluster.send(get("/"), None, no_replay).await.unwrap();
    assert_eq!(
        resp.headers().len(),
        200 + 6,
        "the extra fields and six of its own"
    );
    // A lower configured limit turns the same response into a typed error.
    let strict = UpstreamSettings {
        max_response_headers: 100,
        ..settings()
    };
    let cluster = up.cluster(&[origin(addr)], &zone(), &strict);
    let err = cluster.send(get("/"), None, no_replay).await.unwrap_err();
    assert_eq!(err, UpstreamError::ResponseHeadTooLarge);
    assert_eq!(err.to_edge_error().status(), 502);
}

#[tokio::test]
async fn the_reason_phrase_is_kept_and_the_response_timer_starts_after_the_body() {
    // A hand-written origin: reads the whole request, answers with a custom reason.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 Very Fine\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
    });
    let up = pool();
    let quick = UpstreamSettings {
        response_timeout: std::time::Duration::from_millis(300),
        ..settings()
    };
    let cluster = up.cluster(&[origin(addr)], &zone(), &quick);
    // A body that takes 600 ms (twice the response timeout) to arrive.
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        for _ in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let _ = tx.send(bytes::Bytes::from_static(b"x")).await;
        }
    });
    let req = http::Request::post("/")
        .header("host", "origin.test")
        .body(body)
        .unwrap();
    let resp = cluster.send(req, None, no_replay).await.unwrap();
    let reason = resp.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
    assert_eq!(reason.as_bytes(), b"Very Fine");
    assert_eq!(text(resp).await, "ok");
}
