//! End-to-end regressions for defects found in review: decisions that could be
//! evaded by spelling (paths, fragments, Host case, invalid bytes), framing the
//! origin could desync, fields a client could strip, and inputs that panicked.

mod common;

use std::io::{BufReader, Write};

use common::*;

const RULES: &str = r#"
[[zones.rules]]
id = "no-admin"
expression = 'starts_with(http.request.uri.path, "/admin")'
action = "block"
[[zones.rules]]
id = "no-admin-host"
expression = 'http.host eq "admin.example.com"'
action = "block"
[[zones.rules]]
id = "no-badbot"
expression = 'lower(http.user_agent) contains "badbot"'
action = "block"
[[zones.auth]]
path_prefix = "/private"
realm = "Private"
users = ["alice:secret"]
"#;

fn get(addr: std::net::SocketAddr, target: &str, extra: &str) -> Response {
    let req = format!("GET {target} HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n");
    exchange(addr, req.as_bytes())
}

#[test]
fn path_spellings_the_origin_resolves_get_the_same_decision() {
    let origin = TestOrigin::fixed("200 OK", "", "secret");
    let edge = Edgeward::start(&config(origin.addr, RULES));
    for target in [
        "/admin/",
        "//admin/",
        "/%2Fadmin/",
        "/x/..%2Fadmin/",
        "/%61dmin",
        "/./admin",
    ] {
        assert_eq!(get(edge.addr, target, "").status, 403, "{target}");
    }
    for target in [
        "/private/x",
        "//private/x",
        "/private%2Fx",
        "/public/..%2Fprivate/x",
    ] {
        assert_eq!(get(edge.addr, target, "").status, 401, "{target}");
    }
    assert!(origin.requests().is_empty(), "nothing reached the origin");
}

#[test]
fn a_fragment_in_the_target_is_refused() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, RULES));
    assert_eq!(get(edge.addr, "/banned#", "").status, 400);
    assert!(origin.requests().is_empty());
}

#[test]
fn host_rules_see_the_host_as_routing_does() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, RULES));
    for host in [
        "admin.example.com",
        "ADMIN.example.com",
        "admin.example.com:80",
        "admin.example.com.",
    ] {
        let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(exchange(edge.addr, req.as_bytes()).status, 403, "{host}");
    }
}

#[test]
fn an_invalid_byte_does_not_blank_a_field_rules_read() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, RULES));
    let req = b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: BadBot/1.0 \xff\r\n\r\n";
    assert_eq!(exchange(edge.addr, req).status, 403);
}

#[test]
fn a_client_cannot_strip_host_by_naming_it_in_connection() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let resp = get(edge.addr, "/", "Connection: Host, Content-Length\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(
        origin.requests()[0].header("host").as_deref(),
        Some("example.com")
    );
}

#[test]
fn connect_is_refused_and_does_not_desync_the_connection() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let resp = exchange(
        edge.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert_eq!(resp.status, 405);
    assert!(resp.header("allow").is_some_and(|a| a.contains("GET")));
    assert!(origin.requests().is_empty());
}

#[test]
fn origin_framing_is_rewritten_not_trusted() {
    // Transfer-Encoding and Content-Length together: the body is chunked; the length lies.
    let origin = TestOrigin::start(|_| {
        Action::Respond(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(),
        )
    });
    let edge = Edgeward::start(&config(origin.addr, ""));
    let mut s = connect(edge.addr);
    s.write_all(b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\nGET /b HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(s);
    let first = read_response(&mut reader, false).unwrap();
    assert_eq!(first.text(), "hello");
    assert_ne!(first.header("content-length"), Some("2"));
    let second = read_response(&mut reader, false).unwrap();
    assert_eq!(
        (second.status, second.text().as_str()),
        (200, "hello"),
        "the connection stayed in step"
    );
}

#[test]
fn an_unrequested_upgrade_from_the_origin_is_a_bad_gateway() {
    let origin = TestOrigin::start(|_| {
        Action::RespondClose(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec(),
        )
    });
    let edge = Edgeward::start(&config(origin.addr, ""));
    assert_eq!(get(edge.addr, "/", "").status, 502);
}

#[test]
fn a_non_ascii_content_type_does_not_crash_the_waf() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let req = "POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Type: xxx€€\r\nContent-Length: 1\r\n\r\na";
    assert_eq!(exchange(edge.addr, req.as_bytes()).status, 200);
    assert!(!edge.logs().contains("panicked"), "{}", edge.logs());
}

#[test]
fn a_zone_can_tighten_head_limits() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(
        origin.addr,
        "limits = { max_headers = 3, max_target_bytes = 100 }\n",
    ));
    assert_eq!(get(edge.addr, "/", "A: 1\r\nB: 2\r\nC: 3\r\n").status, 431);
    assert_eq!(get(edge.addr, &format!("/{}", "a".repeat(200)), "").status, 414);
    assert_eq!(get(edge.addr, "/", "A: 1\r\n").status, 200);
}

#[test]
fn a_slow_but_moving_upload_is_not_an_origin_timeout() {
    let origin = TestOrigin::start(|req| {
        let body = String::from_utf8_lossy(&req.body).into_owned();
        Action::Respond(
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes(),
        )
    });
    let cfg = config(origin.addr, "").replace("response_timeout = \"3s\"", "response_timeout = \"400ms\"");
    let edge = Edgeward::start(&cfg);
    let mut s = connect(edge.addr);
    s.write_all(b"POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\n")
        .unwrap();
    for byte in [b"a", b"b", b"c", b"d"] {
        std::thread::sleep(std::time::Duration::from_millis(250));
        s.write_all(byte).unwrap();
    }
    let resp = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "abcd"),
        "1 s of upload under a 400 ms response timeout"
    );
}

/// RFC 9110 §8.3 allows one Content-Type: with several different ones the WAF and the origin
/// could read the body as different types, so the request is refused before either does.
#[test]
fn several_different_content_types_are_refused_so_none_hides_a_body_from_the_waf() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let body = "q=1%27%20UNION%20SELECT%20password%20FROM%20users--";
    for first in ["text/plain", "application/json"] {
        let req = format!(
            "POST /search HTTP/1.1\r\nHost: example.com\r\nContent-Type: {first}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let resp = exchange(edge.addr, req.as_bytes());
        assert_eq!(resp.status, 400, "{first} then form");
    }
    // The same type twice is not ambiguous: it is inspected (and this one blocked).
    let req = format!(
        "POST /search HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(exchange(edge.addr, req.as_bytes()).status, 403);
    assert!(origin.requests().is_empty());
}
