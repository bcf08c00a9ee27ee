//! End-to-end tests of reverse proxying through the real binary: pass-through
//! of origin responses, forwarding fields, bodies both ways, origin faults,
//! 499 cancellation, custom error pages, reload, shutdown, `check` and `demo`.

mod common;

use std::io::{BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// Each 4xx of the seed document, with the header the RFCs require of it (if any).
const ORIGIN_4XX: [(u16, &str); 19] = [
    (400, ""),
    (401, "WWW-Authenticate: Basic realm=\"origin\"\r\n"),
    (402, ""),
    (403, ""),
    (404, ""),
    (405, "Allow: GET, HEAD\r\n"),
    (406, ""),
    (407, "Proxy-Authenticate: Basic realm=\"proxy\"\r\n"),
    (408, ""),
    (409, ""),
    (410, ""),
    (411, ""),
    (412, ""),
    (413, "Retry-After: 120\r\n"),
    (414, ""),
    (415, "Accept-Post: application/json\r\n"),
    (417, ""),
    (429, "Retry-After: 30\r\n"),
    (451, "Link: <https://example.org/legal>; rel=\"blocked-by\"\r\n"),
];

/// An origin that answers `/status/N` with status N, a custom reason phrase,
/// the status's required header and a recognisable body.
fn status_origin() -> TestOrigin {
    TestOrigin::start(|req| {
        let path = req.request_line().split(' ').nth(1).unwrap_or("/").to_owned();
        let code: u16 = path.trim_start_matches("/status/").parse().unwrap_or(200);
        let extra = ORIGIN_4XX.iter().find(|(c, _)| *c == code).map_or("", |(_, h)| h);
        let body = format!("origin body for {code}\n");
        Action::Respond(
            format!(
                "HTTP/1.1 {code} Origin Says {code}\r\nX-Origin: yes\r\n{extra}Content-Type: text/plain\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    })
}

#[test]
fn every_origin_4xx_passes_through_untouched() {
    let origin = status_origin();
    let edge = Edgeward::start(&config(origin.addr, ""));
    for (code, required) in ORIGIN_4XX {
        for method in ["GET", "HEAD"] {
            let req = format!("{method} /status/{code} HTTP/1.1\r\nHost: example.com\r\n\r\n");
            let resp = exchange(edge.addr, req.as_bytes());
            assert_eq!(resp.status, code, "{method} {code}");
            assert_eq!(
                resp.reason,
                format!("Origin Says {code}"),
                "reason phrase of {code}"
            );
            assert_eq!(resp.header("x-origin"), Some("yes"));
            assert_eq!(resp.header("server"), None, "origin {code} must not be branded");
            if let Some((name, value)) = required.trim_end().split_once(": ") {
                assert_eq!(resp.header(name), Some(value), "{method} {code} keeps {name}");
            }
            let body = format!("origin body for {code}\n");
            assert_eq!(
                resp.header("content-length"),
                Some(body.len().to_string().as_str())
            );
            if method == "GET" {
                assert_eq!(resp.text(), body);
            }
        }
    }
}

#[test]
fn forwarded_request_carries_forwarding_fields_and_no_hop_by_hop() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let resp = exchange(
        edge.addr,
        b"GET /p?q=1 HTTP/1.1\r\nHost: www.example.com\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n\
          Keep-Alive: timeout=5\r\nTE: trailers\r\nX-Forwarded-For: 198.51.100.9\r\nX-Request-Id: spoofed\r\n\
          User-Agent: test\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    let got = &origin.requests()[0];
    assert_eq!(got.request_line(), "GET /p?q=1 HTTP/1.1");
    assert_eq!(got.header("host").as_deref(), Some("www.example.com"));
    assert_eq!(got.header("user-agent").as_deref(), Some("test"));
    // No trusted proxy is configured: a client's own X-Forwarded-For is replaced, not passed on.
    assert_eq!(got.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(got.header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(got.header("via").as_deref(), Some("1.1 edgeward"));
    let id = got.header("x-request-id").expect("request id forwarded");
    assert_eq!(id.len(), 16);
    assert_eq!(resp.header("x-request-id"), Some(id.as_str()));
    for hop in ["x-hop", "keep-alive", "te"] {
        assert_eq!(got.header(hop), None, "{hop} must not reach the origin");
    }
}

#[test]
fn request_bodies_stream_to_the_origin_both_framings() {
    let origin = TestOrigin::start(|req| {
        let n = req.body.len().to_string();
        Action::Respond(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{n}", n.len()).into_bytes())
    });
    let edge = Edgeward::start(&config(origin.addr, ""));
    let body = "x".repeat(300_000);
    let req = format!(
        "POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(exchange(edge.addr, req.as_bytes()).text(), "300000");
    let chunked = b"POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n\
                    5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    assert_eq!(exchange(edge.addr, chunked).text(), "11");
    let got = origin.requests();
    assert_eq!(got[0].body.len(), 300_000);
    assert_eq!(got[1].body, b"hello world");
}

#[test]
fn origin_response_without_length_is_rechunked_and_streamed() {
    let big = "0123456789".repeat(100_000);
    let payload = big.clone();
    let origin = TestOrigin::start(move |_| {
        Action::RespondClose(format!("HTTP/1.1 200 OK\r\n\r\n{payload}").into_bytes())
    });
    let edge = Edgeward::start(&config(origin.addr, ""));
    let resp = exchange(edge.addr, b"GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.body.len(), big.len());
    // HTTP/1.0 clients get a close-delimited body instead.
    let resp = exchange(edge.addr, b"GET /big HTTP/1.0\r\nHost: example.com\r\n\r\n");
    assert_eq!(resp.header("transfer-encoding"), None);
    assert_eq!(resp.body.len(), big.len());
}

#[test]
fn upstream_connections_are_kept_alive_and_reused() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    for _ in 0..5 {
        assert_eq!(
            exchange(edge.addr, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n").status,
            200
        );
    }
    assert_eq!(
        origin.connections.load(Ordering::SeqCst),
        1,
        "one pooled origin connection"
    );
}

#[test]
fn unknown_host_gets_an_edge_421() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let resp = exchange(
        edge.addr,
        b"GET / HTTP/1.1\r\nHost: nobody.test\r\nAccept: application/json\r\n\r\n",
    );
    assert_eq!(resp.status, 421);
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        json["error_code"], 1004,
        "an unknown host name (1003 is for IP addresses)"
    );
    assert!(origin.requests().is_empty());
}

#[test]
fn unresolvable_origin_is_409_error_1001() {
    let edge = Edgeward::start(&common::config("127.0.0.1:1".parse().unwrap(), "").replace(
        "origins = [\"127.0.0.1:1\"]",
        "origins = [\"no-such-origin.invalid:80\"]",
    ));
    let resp = exchange(edge.addr, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(resp.status, 409);
    assert!(resp.text().contains("1001"), "{}", resp.text());
    assert!(resp.text().contains("DNS resolution error"));
}

#[test]
fn refused_origin_is_502_and_hung_origin_is_504() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let edge = Edgeward::start(&config(closed, ""));
    let resp = exchange(edge.addr, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(resp.status, 502);
    assert_eq!(resp.header("server"), Some("edgeward"));

    let hung = TestOrigin::start(|_| Action::Hang);
    let edge = Edgeward::start(
        &config(hung.addr, "").replace("response_timeout = \"3s\"", "response_timeout = \"300ms\""),
    );
    let started = Instant::now();
    let resp = exchange(edge.addr, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(resp.status, 504);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn client_closing_early_is_logged_499_and_cancels_the_upstream_request() {
    let origin = TestOrigin::start(|_| Action::Hang);
    let edge = Edgeward::start(&config(origin.addr, ""));
    let mut client = connect(edge.addr);
    client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while origin.requests().is_empty() {
        assert!(Instant::now() < deadline, "origin never saw the request");
        thread::sleep(Duration::from_millis(10));
    }
    drop(client);
    let logs = edge.wait_for_log("status=499");
    assert!(logs.contains("source=\"client_closed\""), "{logs}");
    while origin.cancelled.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "upstream request was not cancelled");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn zone_error_pages_and_origin_404_interception() {
    let origin = TestOrigin::fixed("404 Not Found", "", "origin's own 404");
    let page = "<h1>{{status}} {{title}}</h1><p>ray {{request_id}} for {{client_ip}}</p>";
    let extra = "intercept_origin_404 = true\n[zones.error_pages]\n\"404\" = \"pages/404.html\"\n";
    let edge = Edgeward::start_with_files(&config(origin.addr, extra), &[("pages/404.html", page)]);
    let resp = exchange(
        edge.addr,
        b"GET /.edgeward/nope HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(resp.status, 404);
    let id = resp.header("x-request-id").unwrap().to_owned();
    assert!(
        resp.text().contains(&format!("ray {id} for 127.0.0.1")),
        "{}",
        resp.text()
    );
    let resp = exchange(edge.addr, b"GET /gone-page HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(resp.status, 404);
    assert!(
        resp.text().starts_with("<h1>404 "),
        "intercepted: {}",
        resp.text()
    );
    edge.wait_for_log("path=\"/gone-page\" query=\"\" zone=\"test\" status=404 origin_status=404");
}

#[test]
fn sighup_reloads_and_a_bad_config_keeps_the_old_one() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let other = b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n";
    assert_eq!(exchange(edge.addr, other).status, 421);
    let grown = config(origin.addr, "").replace("\"127.0.0.1\"]", "\"127.0.0.1\", \"other.test\"]");
    std::fs::write(edge.config_path(), grown).unwrap();
    edge.signal("HUP");
    edge.wait_for_log("configuration reloaded");
    assert_eq!(exchange(edge.addr, other).status, 200);
    std::fs::write(edge.config_path(), "[server]\nlisten = 12\n").unwrap();
    edge.signal("HUP");
    let logs = edge.wait_for_log("reload rejected");
    assert!(
        logs.contains("edgeward.toml:2"),
        "the error names the line: {logs}"
    );
    assert_eq!(
        exchange(edge.addr, other).status,
        200,
        "the previous config keeps serving"
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits() {
    let origin = TestOrigin::start(|_| {
        thread::sleep(Duration::from_millis(700));
        Action::Respond(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow".to_vec())
    });
    let mut edge = Edgeward::start(&config(origin.addr, ""));
    let addr = edge.addr;
    let in_flight = thread::spawn(move || exchange(addr, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"));
    let deadline = Instant::now() + WAIT;
    while origin.requests().is_empty() {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    edge.signal("TERM");
    let resp = in_flight.join().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "slow");
    let status = edge.wait_exit(WAIT).expect("edgeward exits after draining");
    assert!(status.success());
    assert!(std::net::TcpStream::connect(addr).is_err(), "no longer accepting");
}

#[test]
fn check_names_file_line_and_fault() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[[zones]]\nname = \"z\"\nhosts = [\"a.test\"]\norigins = [\"nope\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .arg("check")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:7:"), "{err}");
    assert!(err.contains("nope"), "{err}");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, config("127.0.0.1:9".parse().unwrap(), "")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .arg("check")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn demo_serves_its_origin_and_edge_pages() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr =
        read_announced_addr(child.stdout.take().unwrap(), "http://").expect("demo prints its URL first");
    let get = |path: &str| {
        let mut s = connect(addr);
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .unwrap();
        read_response(&mut BufReader::new(s), false).unwrap()
    };
    let home = get("/");
    assert_eq!(home.status, 200);
    assert!(home.text().contains("demo origin"));
    let missing = get("/missing");
    assert_eq!((missing.status, missing.header("server")), (404, None));
    let edge404 = get("/.edgeward/nope");
    assert_eq!(
        (edge404.status, edge404.header("server")),
        (404, Some("edgeward"))
    );
    assert_eq!(get("/status/429").header("retry-after"), Some("120"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_reload_does_not_drop_in_flight_requests() {
    let origin = TestOrigin::start(|_| {
        thread::sleep(Duration::from_millis(700));
        Action::Respond(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow".to_vec())
    });
    let edge = Edgeward::start(&config(origin.addr, ""));
    let addr = edge.addr;
    let in_flight = thread::spawn(move || exchange(addr, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"));
    let deadline = Instant::now() + WAIT;
    while origin.requests().is_empty() {
        assert!(Instant::now() < deadline, "origin never saw the request");
        thread::sleep(Duration::from_millis(10));
    }
    let grown = config(origin.addr, "").replace("\"127.0.0.1\"]", "\"127.0.0.1\", \"other.test\"]");
    std::fs::write(edge.config_path(), grown).unwrap();
    edge.signal("HUP");
    edge.wait_for_log("configuration reloaded");
    let resp = in_flight.join().unwrap();
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "slow"),
        "the in-flight request finished"
    );
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n").status,
        200
    );
}

#[test]
fn any_error_page_can_be_seen_on_purpose_by_code_or_status() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let page = exchange(
        edge.addr,
        b"GET /.edgeward/error/1015 HTTP/1.1\r\nHost: example.com\r\nAccept: application/json\r\n\r\n",
    );
    assert_eq!(page.status, 200, "shown on purpose, not an error itself");
    let doc: serde_json::Value = serde_json::from_slice(&page.body).expect("JSON");
    assert_eq!(doc["error_code"], 1015);
    assert_eq!(doc["status"], 429);
    assert_eq!(doc["type"], "/.edgeward/error/1015");
    let by_status = exchange(
        edge.addr,
        b"GET /.edgeward/error/431 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(by_status.status, 200);
    assert!(by_status.header("content-type").unwrap().starts_with("text/html"));
    assert!(by_status.text().contains("431"));
    let unknown = exchange(
        edge.addr,
        b"GET /.edgeward/error/9999 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(unknown.status, 404);
    assert!(origin.requests().is_empty());
}

#[test]
fn underscore_names_are_dropped_and_forwarding_fields_are_the_edges_own() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let resp = exchange(
        edge.addr,
        b"GET / HTTP/1.1\r\nHost: example.com\r\nTransfer_Encoding: chunked\r\nX_Custom: 1\r\n\
          X-Forwarded-Host: evil.example\r\nX-Kept: yes\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    let seen = &origin.requests()[0];
    assert_eq!(seen.header("transfer_encoding"), None);
    assert_eq!(seen.header("x_custom"), None);
    assert_eq!(seen.header("x-kept").as_deref(), Some("yes"));
    assert_eq!(seen.header("x-forwarded-host").as_deref(), Some("example.com"));

    // A zone may keep them (nginx's `underscores_in_headers on`).
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, "underscores_in_headers = true\n"));
    exchange(
        edge.addr,
        b"GET / HTTP/1.1\r\nHost: example.com\r\nX_Custom: 1\r\n\r\n",
    );
    assert_eq!(origin.requests()[0].header("x_custom").as_deref(), Some("1"));
}
