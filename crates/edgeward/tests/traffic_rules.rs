//! Traffic rules end to end through the binary, over HTTP/1.1 and HTTP/2: redirect rules and
//! a bulk list (status and Location), Always Use HTTPS, request transforms seen at the origin
//! (headers and a path rewrite), response transforms seen at the client, and custom error
//! rules choosing their own body for edge and origin errors.

mod common;

use common::h2client;
use common::{config, exchange, Action, Edgeward, TestOrigin};

const RULES: &str = r#"
[[zones.rules]]
id = "no-admin"
expression = 'http.request.uri.path eq "/api/admin"'
action = "block"

[[zones.redirects]]
id = "blog-moved"
expression = 'starts_with(http.request.uri.path, "/blog/")'
target_expression = 'regex_replace(http.request.uri.path, "^/blog/(.*)", "/news/${1}")'
status = 308
preserve_query = true

[[zones.redirect_lists]]
file = "moved.csv"

[[zones.request_transforms]]
id = "api"
expression = 'starts_with(http.request.uri.path, "/api/")'
headers = [
  { op = "set", name = "X-Client-IP", value = "${ip.src}" },
  { op = "remove", name = "X-Debug" },
]
path_expression = 'regex_replace(http.request.uri.path, "^/api/", "/v2/")'

[[zones.response_transforms]]
id = "security-headers"
expression = "http.response.code lt 400"
headers = [{ op = "set", name = "X-Content-Type-Options", value = "nosniff" }]

[[zones.custom_errors]]
id = "api-errors"
expression = 'starts_with(http.request.uri.path, "/api/") and http.response.code ge 400'
origin = true
format = "json"
body = '''{"oops": {{status}}, "ray": "{{request_id}}"}'''
"#;

const MOVED_CSV: &str = "/old-page,/new-page,301\n/gone-product,https://shop.example/items,302\n";

fn origin() -> TestOrigin {
    TestOrigin::start(|req| {
        let status = if req.request_line().contains("/v2/missing") {
            "404 Not Found"
        } else {
            "200 OK"
        };
        let body = req.request_line().to_owned();
        Action::Respond(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    })
}

fn start(origin: &TestOrigin) -> Edgeward {
    Edgeward::start_with_files(&config(origin.addr, RULES), &[("moved.csv", MOVED_CSV)])
}

fn get(edge: &Edgeward, target: &str, extra: &str) -> common::Response {
    exchange(
        edge.addr,
        format!("GET {target} HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n").as_bytes(),
    )
}

#[test]
fn redirect_rules_and_bulk_lists_answer_at_the_edge() {
    let origin = origin();
    let edge = start(&origin);
    let rule = get(&edge, "/blog/post-1?ref=x", "");
    assert_eq!(rule.status, 308);
    assert_eq!(rule.header("location"), Some("/news/post-1?ref=x"));
    let listed = get(&edge, "/old-page", "");
    assert_eq!(listed.status, 301);
    assert_eq!(listed.header("location"), Some("/new-page"));
    let other = get(&edge, "/gone-product", "");
    assert_eq!(other.status, 302);
    assert_eq!(other.header("location"), Some("https://shop.example/items"));
    let h2 = h2client::get(edge.addr, "http://example.com/old-page", &[]);
    assert_eq!(h2.status, 301);
    assert_eq!(h2.header("location"), "/new-page");
    assert!(origin.requests().is_empty(), "redirects never reach the origin");
}

#[test]
fn transforms_change_what_the_origin_and_the_client_see() {
    let origin = origin();
    let edge = start(&origin);
    let resp = get(&edge, "/api/users?id=7", "X-Debug: secret\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.text(),
        "GET /v2/users?id=7 HTTP/1.1",
        "the path was rewritten"
    );
    assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
    let seen = &origin.requests()[0];
    assert_eq!(seen.header("x-client-ip").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.header("x-debug"), None);
    let h2 = h2client::get(edge.addr, "http://example.com/api/users", &[]);
    assert_eq!(h2.status, 200);
    assert_eq!(h2.header("x-content-type-options"), "nosniff");
}

#[test]
fn custom_error_rules_replace_edge_and_origin_errors() {
    let origin = origin();
    let edge = start(&origin);
    // The origin's 404 under /api/ (opted in with origin = true).
    let from_origin = get(&edge, "/api/missing", "");
    assert_eq!(from_origin.status, 404);
    assert!(from_origin
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&from_origin.body).expect("the rule's JSON");
    assert_eq!(doc["oops"], 404);
    assert_eq!(doc["ray"].as_str(), from_origin.header("x-request-id"));
    // An edge error under /api/: a custom rule's block.
    let edge_error = get(&edge, "/api/admin", "");
    assert_eq!(edge_error.status, 403);
    assert!(
        edge_error.text().contains("\"oops\": 403"),
        "{}",
        edge_error.text()
    );
    assert_eq!(origin.requests().len(), 1, "the block never reached the origin");
    // Elsewhere the catalog's own page stays.
    let plain = get(&edge, "/.edgeward/nope", "");
    assert_eq!(plain.status, 404);
    assert!(plain.header("content-type").unwrap().starts_with("text/html"));
}

#[test]
fn always_use_https_sends_plain_requests_to_the_tls_port() {
    let origin = origin();
    let edge = Edgeward::start(&config(origin.addr, "always_use_https = true\n"));
    let resp = get(&edge, "/login?next=/", "");
    assert_eq!(resp.status, 301);
    assert_eq!(resp.header("location"), Some("https://example.com/login?next=/"));
    assert!(origin.requests().is_empty());
}

#[test]
fn the_top_404_report_says_which_paths_a_redirect_now_covers() {
    let origin = TestOrigin::fixed("404 Not Found", "", "nope");
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\n",
        config(origin.addr, "[[zones.redirect_lists]]\nfile = \"moved.csv\"\n")
    );
    let edge = Edgeward::start_with_files(&text, &[("moved.csv", "example.com/moved,/elsewhere\n")]);
    // Requests on another host of the zone are not redirected (the entry names example.com),
    // so they 404 at the origin; the report knows a redirect now exists for the path.
    for path in ["/moved", "/moved", "/nothing"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: shop.example.com\r\n\r\n");
        assert_eq!(exchange(edge.addr, req.as_bytes()).status, 404);
    }
    let admin = edge.admin_addr();
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let resp = exchange(admin, b"GET /api/top-404 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assert_eq!(resp.status, 200, "{}", resp.text());
        let doc: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        let rows = doc
            .as_array()
            .or_else(|| doc.as_object().and_then(|o| o.values().next()?.as_array()));
        let find = |p: &str| rows.and_then(|r| r.iter().find(|row| row["path"] == p)).cloned();
        if let (Some(moved), Some(nothing)) = (find("/moved"), find("/nothing")) {
            assert_eq!(moved["has_redirect"], true, "{doc}");
            assert_eq!(nothing["has_redirect"], false, "{doc}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the 404s never showed up: {doc}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
