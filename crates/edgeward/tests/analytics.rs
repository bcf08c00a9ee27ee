//! End-to-end tests of analytics through the real binary: a known mix of
//! traffic (origin 200/404, rule/WAF 403, 429, 414, 421, 499) must show up in
//! the admin API and `/metrics` with exactly the counts sent; the admin token;
//! the dashboard rendered by a real headless Chromium (and its screenshot); and
//! the JSON access log.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};

// ------------------------------------------------------------------ helpers --

/// A running `edgeward` with arbitrary arguments, its proxy and admin addresses; killed on drop.
struct Run {
    child: Child,
    addr: SocketAddr,
    admin: Option<SocketAddr>,
    stderr_path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Run {
    /// Writes `config` to a temp dir and runs `edgeward ARGS…` where `{config}` in `args`
    /// is replaced by the config path. Waits for the listening line and, when
    /// `with_admin`, for the `edgeward admin on http://ADDR/ …` line.
    fn start(config: &str, args: &[&str], with_admin: bool) -> Run {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut run = Run::start_in(dir.path(), config, args, with_admin);
        run._dir = Some(dir);
        run
    }

    /// [`Run::start`] in an existing directory (kept when the run ends).
    fn start_in(dir: &Path, config: &str, args: &[&str], with_admin: bool) -> Run {
        let config_path = dir.join("edgeward.toml");
        std::fs::write(&config_path, config).unwrap();
        let stderr_path = dir.join(format!("stderr-{}.log", now_ms()));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{config}", config_path.to_str().unwrap()))
            .collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgeward"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn edgeward");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Keep draining so the child never blocks on a full pipe.
                    continue;
                }
            }
        });
        let deadline = Instant::now() + WAIT;
        let (mut addr, mut admin) = (None, None);
        while addr.is_none() || (with_admin && admin.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                panic!(
                    "edgeward {args:?} did not announce its listeners (proxy {addr:?}, admin {admin:?}); stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            };
            if let Some(rest) = line.strip_prefix("edgeward listening on http://") {
                addr = addr.or_else(|| rest.trim_end_matches('/').parse().ok());
            } else if let Some(rest) = line.strip_prefix("edgeward admin on http://") {
                let a = rest.split('/').next().unwrap_or("");
                admin = Some(a.parse().unwrap_or_else(|_| panic!("bad admin line {line:?}")));
            }
        }
        Run {
            child,
            addr: addr.unwrap(),
            admin,
            stderr_path,
            _dir: None,
        }
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(&mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "edgeward exited {status}: {}", self.logs());
                return;
            }
            assert!(Instant::now() < deadline, "edgeward did not stop on SIGTERM");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn admin(&self) -> SocketAddr {
        self.admin.expect("no admin listener")
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The common zone config plus an admin listener (port 0, announced) and in-memory analytics.
fn analytics_config(origin: SocketAddr, zone_extra: &str, admin_extra: &str) -> String {
    config(
        origin,
        &format!(
            "{zone_extra}\n[admin]\nlisten = \"127.0.0.1:0\"\n{admin_extra}\n\
             [analytics]\nenabled = true\nretention = \"7d\"\nqueue_capacity = 65536\n"
        ),
    )
}

/// The zone policies the mix needs: a custom block rule and a rate limit (WAF is on by default).
const POLICIES: &str = "\
[[zones.rules]]
id = \"blk\"
expression = 'http.request.uri.path eq \"/blocked\"'
action = \"block\"

[[zones.rate_limits]]
id = \"rl\"
expression = 'http.request.uri.path eq \"/limited\"'
requests = 2
period = \"60s\"
";

/// GET `path` on the admin listener with optional extra header lines.
fn admin_get(admin: SocketAddr, path: &str, extra: &str) -> Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {admin}\r\n{extra}Connection: close\r\n\r\n");
    exchange(admin, req.as_bytes())
}

/// GET an admin API endpoint, expecting 200 and JSON.
fn api(admin: SocketAddr, path: &str) -> Value {
    let resp = admin_get(admin, path, "");
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.text());
    assert!(
        resp.header("content-type")
            .unwrap_or("")
            .starts_with("application/json"),
        "GET {path}: {:?}",
        resp.header("content-type")
    );
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", resp.text()))
}

/// Polls `/api/totals` until it reports `expected` requests and stays there (two reads
/// 1.5 s apart, more than a flush interval); returns the last totals. Fails on timeout or
/// when the count goes past `expected`.
fn settle(admin: SocketAddr, expected: u64) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let t = api(admin, "/api/totals");
        let n = t["requests"].as_u64().unwrap();
        assert!(
            n <= expected,
            "more events than requests sent: {n} > {expected}: {t}"
        );
        if n == expected {
            thread::sleep(Duration::from_millis(1500));
            let again = api(admin, "/api/totals");
            assert_eq!(again, t, "totals still moving after reaching {expected}");
            return again;
        }
        assert!(
            Instant::now() < deadline,
            "totals never reached {expected} (last: {t})"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The request path of what the origin received.
fn origin_path(req: &Received) -> String {
    req.request_line().split(' ').nth(1).unwrap_or("/").to_owned()
}

/// `/slow` hangs, `/missing…` is 404, anything else 200.
fn mix_origin() -> TestOrigin {
    TestOrigin::start(|req| {
        let path = origin_path(req);
        if path == "/slow" {
            Action::Hang
        } else if path.starts_with("/missing") {
            Action::Respond(b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\norigin 404".to_vec())
        } else {
            Action::Respond(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec())
        }
    })
}

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) edgeward-e2e";

fn get(edge: SocketAddr, target: &str, host: &str, extra: &str) -> Response {
    let req =
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {UA}\r\nAccept: */*\r\n{extra}\r\n");
    exchange(edge, req.as_bytes())
}

/// Sends a request whose target is 40 KiB and reads the status, tolerating a reset after it.
fn get_huge_target(edge: SocketAddr) -> u16 {
    let mut s = connect(edge);
    let target = format!("/{}", "a".repeat(40 * 1024));
    let req = format!("GET {target} HTTP/1.1\r\nHost: example.com\r\nUser-Agent: {UA}\r\n\r\n");
    // The edge may answer and close before it read everything; a failed write is fine.
    let _ = s.write_all(req.as_bytes());
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line for the 40 KiB target: {text:?}"))
}

/// The traffic mix and what it must add up to.
mod mix {
    pub const TOTAL: u64 = 24;
    /// (status, count)
    pub const STATUS: [(u16, u64); 7] = [
        (200, 7),
        (403, 5),
        (404, 5),
        (414, 2),
        (421, 1),
        (429, 3),
        (499, 1),
    ];
    /// (source, count)
    pub const SOURCE: [(&str, u64); 7] = [
        ("origin", 12),
        ("rule", 3),
        ("rate_limit", 3),
        ("waf", 2),
        ("protocol", 2),
        ("edge", 1),
        ("client_closed", 1),
    ];
    /// (status class, source, count) as `/metrics` must count them.
    pub const METRICS: [(&str, &str, u64); 8] = [
        ("2xx", "origin", 7),
        ("4xx", "origin", 5),
        ("4xx", "rule", 3),
        ("4xx", "waf", 2),
        ("4xx", "rate_limit", 3),
        ("4xx", "protocol", 2),
        ("4xx", "edge", 1),
        ("4xx", "client_closed", 1),
    ];
    pub const FOUR_XX: u64 = 17;
    /// Requests whose zone is known (all but the 414s and the 421).
    pub const IN_ZONE: u64 = 21;
    pub const REF_1: &str = "https://blog.example.org/post-1";
    pub const REF_2: &str = "https://news.example.net/today";
    pub const REF_3: &str = "https://blog.example.org/post-2";
    pub const SQLI: &str = "/search?q=1%27%20OR%20%271%27%3D%271";
}

/// Drives the known mix against `edge`, checking every response as it goes.
fn drive_mix(edge: SocketAddr, origin: &TestOrigin) {
    // 5 × 200 from the origin.
    for _ in 0..5 {
        assert_eq!(get(edge, "/", "example.com", "").status, 200);
    }
    // /limited: 2 allowed (200 from the origin), then 3 × 429.
    for i in 0..5 {
        let resp = get(edge, "/limited", "example.com", "");
        let want = if i < 2 { 200 } else { 429 };
        assert_eq!(resp.status, want, "request {i} to /limited: {}", resp.text());
    }
    // 5 × origin 404 on two paths, with referrers (one without).
    let referred = [
        ("/missing-a", Some(mix::REF_1)),
        ("/missing-a", Some(mix::REF_1)),
        ("/missing-a", Some(mix::REF_2)),
        ("/missing-b", Some(mix::REF_3)),
        ("/missing-b", None),
    ];
    for (path, referer) in referred {
        let extra = referer.map_or(String::new(), |r| format!("Referer: {r}\r\n"));
        let resp = get(edge, path, "example.com", &extra);
        assert_eq!(resp.status, 404, "{path}");
        assert_eq!(
            resp.text(),
            "origin 404",
            "{path}: the origin's 404 passes through"
        );
    }
    // 3 × custom-rule 403.
    for _ in 0..3 {
        assert_eq!(get(edge, "/blocked", "example.com", "").status, 403);
    }
    // 2 × WAF 403 (SQL injection in the query).
    for _ in 0..2 {
        assert_eq!(get(edge, mix::SQLI, "example.com", "").status, 403);
    }
    // 2 × 414.
    for _ in 0..2 {
        assert_eq!(get_huge_target(edge), 414);
    }
    // 1 × 421 (no zone for the host).
    assert_eq!(get(edge, "/", "nobody.test", "").status, 421);
    // 1 × 499: the client leaves while the origin hangs on /slow.
    let before = origin.requests().len();
    let mut client = connect(edge);
    client
        .write_all(format!("GET /slow HTTP/1.1\r\nHost: example.com\r\nUser-Agent: {UA}\r\n\r\n").as_bytes())
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while !origin.requests()[before..]
        .iter()
        .any(|r| origin_path(r) == "/slow")
    {
        assert!(Instant::now() < deadline, "origin never saw /slow");
        thread::sleep(Duration::from_millis(10));
    }
    let _ = client.shutdown(Shutdown::Both);
    drop(client);
}

/// Parses `edgeward_requests_total{zone="…",status_class="…",source="…"} N` lines, summed
/// over zones: (class, source) → count; plus the raw zone labels seen.
fn metric_requests(text: &str) -> (BTreeMap<(String, String), u64>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut zones = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("edgeward_requests_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").expect("a sample");
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_else(|| panic!("no {name} label in {line}"))
        };
        zones.push(label("zone"));
        *out.entry((label("status_class"), label("source"))).or_insert(0) +=
            value.trim().parse::<u64>().unwrap();
    }
    (out, zones)
}

/// The value of the first sample of `name` whose line contains `filter`.
fn metric_values(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            (series == name || series.starts_with(&format!("{name}{{")))
                .then(|| (series.to_owned(), value.parse().unwrap()))
        })
        .collect()
}

// -------------------------------------------------------------------- tests --

#[test]
fn the_api_and_metrics_count_exactly_the_traffic_sent() {
    let origin = mix_origin();
    let started_ms = now_ms();
    let edge = Run::start(
        &analytics_config(origin.addr, POLICIES, ""),
        &["run", "{config}"],
        true,
    );
    let admin = edge.admin();
    drive_mix(edge.addr, &origin);

    // --- totals and split by source
    let totals = settle(admin, mix::TOTAL);
    let by_source: BTreeMap<String, u64> = totals["by_source"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_owned(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: BTreeMap<String, u64> = mix::SOURCE.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect();
    assert_eq!(by_source, want, "{totals}");

    // --- per status, and the 4xx share
    let sc = api(admin, "/api/status-counts");
    let counts: Vec<(u16, u64)> = sc["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["status"].as_u64().unwrap() as u16, c["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, mix::STATUS.to_vec(), "{sc}");
    let share = sc["share_4xx"].as_f64().unwrap();
    let want_share = mix::FOUR_XX as f64 / mix::TOTAL as f64;
    assert!(
        (share - want_share).abs() < 1e-9,
        "share_4xx {share}, want {want_share}"
    );

    // --- top 404 paths with their referrers (most first; ties by referrer text)
    let top = api(admin, "/api/top-404?limit=20");
    assert_eq!(
        top,
        json!([
            { "path": "/missing-a", "count": 3, "has_redirect": false, "referers": [
                { "referer": mix::REF_1, "count": 2 },
                { "referer": mix::REF_2, "count": 1 } ] },
            { "path": "/missing-b", "count": 2, "has_redirect": false, "referers": [
                { "referer": "", "count": 1 },
                { "referer": mix::REF_3, "count": 1 } ] },
        ]),
    );
    let top1 = api(admin, "/api/top-404?limit=1");
    assert_eq!(top1.as_array().unwrap().len(), 1);
    assert_eq!(top1[0]["path"], "/missing-a");

    // --- security events by rule id
    let sec = api(admin, "/api/security-events");
    let rows = sec.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{sec}");
    assert_eq!(rows[0], json!({ "source": "rule", "rule_id": "blk", "count": 3 }));
    assert_eq!(rows[1]["source"], "waf", "{sec}");
    assert_eq!(rows[1]["count"], 2, "{sec}");
    let waf_rule = rows[1]["rule_id"].as_str().unwrap_or("");
    assert!(waf_rule.starts_with("waf-sqli-"), "{sec}");

    // --- rate limiting per rule (summed over buckets)
    let rl = api(admin, "/api/rate-limited?bucket=60");
    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    for r in rl.as_array().unwrap() {
        *per_rule
            .entry(r["rule_id"].as_str().unwrap_or("(none)").to_owned())
            .or_default() += r["count"].as_u64().unwrap();
        assert_eq!(r["bucket_start_ms"].as_i64().unwrap() % 60_000, 0, "{rl}");
    }
    assert_eq!(per_rule, BTreeMap::from([("rl".to_owned(), 3)]), "{rl}");

    // --- status classes over time add up
    let sot = api(admin, "/api/status-over-time?bucket=60");
    let mut per_class: BTreeMap<String, u64> = BTreeMap::new();
    for r in sot.as_array().unwrap() {
        *per_class
            .entry(r["status_class"].as_str().unwrap().to_owned())
            .or_default() += r["count"].as_u64().unwrap();
        let b = r["bucket_start_ms"].as_i64().unwrap();
        assert!(
            b % 60_000 == 0 && b >= started_ms - 60_000 && b <= now_ms(),
            "{sot}"
        );
    }
    assert_eq!(
        per_class,
        BTreeMap::from([("2xx".to_owned(), 7), ("4xx".to_owned(), mix::FOUR_XX)]),
        "{sot}"
    );

    // --- filters: zone and time range
    assert_eq!(api(admin, "/api/totals?zone=test")["requests"], mix::IN_ZONE);
    assert_eq!(api(admin, "/api/totals?zone=nope")["requests"], 0);
    let later = now_ms() + 3_600_000;
    assert_eq!(api(admin, &format!("/api/totals?from={later}"))["requests"], 0);
    assert_eq!(
        api(admin, &format!("/api/totals?to={}", started_ms - 1))["requests"],
        0
    );
    assert_eq!(
        api(admin, &format!("/api/totals?from={}&to={later}", started_ms - 1))["requests"],
        mix::TOTAL
    );
    let zone_sc = api(admin, "/api/status-counts?zone=test");
    assert!(
        zone_sc["counts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] != 414 && c["status"] != 421),
        "{zone_sc}"
    );
    // Bad parameters are a 400, not a silent default.
    assert_eq!(admin_get(admin, "/api/totals?from=yesterday", "").status, 400);
    assert_eq!(admin_get(admin, "/api/top-404?limit=0", "").status, 400);
    assert_eq!(admin_get(admin, "/api/nope", "").status, 404);

    // --- /metrics agrees with what was sent
    let m = admin_get(admin, "/metrics", "");
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = m.text();
    let (series, zones) = metric_requests(&text);
    let want: BTreeMap<(String, String), u64> = mix::METRICS
        .iter()
        .map(|(c, s, n)| (((*c).to_owned(), (*s).to_owned()), *n))
        .collect();
    assert_eq!(series, want, "{text}");
    assert_eq!(series.values().sum::<u64>(), mix::TOTAL);
    assert!(zones.iter().any(|z| z == "test"), "{zones:?}");
    // Drops are counted by reason: none of any reason.
    let dropped = metric_values(&text, "edgeward_analytics_events_dropped_total");
    assert!(!dropped.is_empty(), "{text}");
    assert!(dropped.iter().all(|(_, v)| *v == 0.0), "{dropped:?}");
    // The proxy's own counters ride along: no store failures (memory store), no TLS listener.
    for series in [
        "edgeward_ratelimit_store_failures_total",
        "edgeward_tls_handshake_failures_total",
    ] {
        assert_eq!(metric_values(&text, series).len(), 1, "{series} missing: {text}");
        assert_eq!(metric_values(&text, series)[0].1, 0.0, "{text}");
    }
    let counts: f64 = metric_values(&text, "edgeward_request_duration_seconds_count")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(counts, mix::TOTAL as f64, "{text}");
}

#[test]
fn the_admin_token_is_required_when_configured() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let token = "e2e-admin-token-0123456789";
    let edge = Run::start(
        &analytics_config(origin.addr, "", &format!("token = \"{token}\"")),
        &["run", "{config}"],
        true,
    );
    let admin = edge.admin();
    assert_eq!(get(edge.addr, "/", "example.com", "").status, 200);
    for path in ["/api/totals", "/api/status-counts", "/api/top-404", "/metrics"] {
        for auth in [
            String::new(),
            "Authorization: Bearer wrong-token-0123456789xx\r\n".to_owned(),
            format!("Authorization: Bearer {token}x\r\n"),
            format!("Authorization: Basic {token}\r\n"),
            format!("Authorization: {token}\r\n"),
        ] {
            let resp = admin_get(admin, path, &auth);
            assert_eq!(resp.status, 401, "{path} with {auth:?}");
            // Basic with the token as password also works, so a browser can prompt for it.
            assert_eq!(
                resp.header("www-authenticate"),
                Some("Basic realm=\"edgeward admin\", charset=\"UTF-8\""),
                "{path} with {auth:?}"
            );
            assert!(
                !resp.text().contains("requests"),
                "{path}: no data leaks in a 401"
            );
        }
        let ok = admin_get(admin, path, &format!("Authorization: Bearer {token}\r\n"));
        assert_eq!(ok.status, 200, "{path} with the right token: {}", ok.text());
    }
    // The right token reads real data.
    let deadline = Instant::now() + WAIT;
    loop {
        let resp = admin_get(
            admin,
            "/api/totals",
            &format!("Authorization: Bearer {token}\r\n"),
        );
        let t: Value = serde_json::from_slice(&resp.body).unwrap();
        if t["requests"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the request never showed up: {t}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn analytics_off_keeps_metrics_on_the_admin_listener_and_the_api_answers_404() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let cfg = config(
        origin.addr,
        "\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[analytics]\nenabled = false\n",
    );
    let edge = Run::start(&cfg, &["run", "{config}"], true);
    assert_eq!(get(edge.addr, "/", "example.com", "").status, 200);
    let admin = edge.admin();
    // The request is counted just after its response is written: poll briefly.
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = admin_get(admin, "/metrics", "");
        assert_eq!(metrics.status, 200);
        if metrics
            .text()
            .contains("edgeward_requests_total{zone=\"test\",code=\"200\"")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{}", metrics.text());
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(admin_get(admin, "/api/totals", "").status, 404);
}

// ---------------------------------------------------------------- dashboard --

/// The inner text of the first element with `id="…"` (tags stripped).
fn text_of_id(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    Some(rest[start..end].to_owned())
}

/// The opening tag of the element with `id="…"`.
fn tag_of_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let open = dom[..at].rfind('<').unwrap();
    let close = at + dom[at..].find('>').unwrap();
    &dom[open..=close]
}

#[test]
#[cfg_attr(
    not(has_chromium),
    ignore = "chromium is not installed (Debian package chromium)"
)]
fn the_dashboard_renders_every_chart_from_a_real_run() {
    let browser = common::chromium::binary();
    let origin = mix_origin();
    let edge = Run::start(
        &analytics_config(origin.addr, POLICIES, ""),
        &["run", "{config}"],
        true,
    );
    let admin = edge.admin();
    drive_mix(edge.addr, &origin);
    settle(admin, mix::TOTAL);
    let url = format!("http://{admin}/dashboard");

    let dom = common::chromium::run(&browser, &["--dump-dom".to_owned(), url.clone()]);
    for id in [
        "chart-totals",
        "chart-4xx-share",
        "chart-status-over-time",
        "chart-top-404",
        "chart-security",
        "chart-rate-limited",
    ] {
        let tag = tag_of_id(&dom, id);
        assert!(
            tag.contains("data-rendered=\"true\""),
            "#{id} not rendered: {tag}\n{dom}"
        );
    }
    assert_eq!(text_of_id(&dom, "total-requests").as_deref(), Some("24"), "{dom}");
    let share = format!("{:.1}%", 100.0 * mix::FOUR_XX as f64 / mix::TOTAL as f64);
    assert_eq!(text_of_id(&dom, "share-4xx"), Some(share), "{dom}");
    for (source, n) in mix::SOURCE {
        let needle = format!("data-source=\"{source}\"><b>{n}</b>");
        assert!(dom.contains(&needle), "tile {needle} missing\n{dom}");
    }
    for (status, n) in mix::STATUS {
        let needle = format!("data-status=\"{status}\"><b>{n}</b>");
        assert!(dom.contains(&needle), "tile {needle} missing\n{dom}");
    }
    for needle in [
        "data-path=\"/missing-a\"",
        "data-path=\"/missing-b\"",
        mix::REF_1,
        mix::REF_2,
        mix::REF_3,
        "(no referrer)",
        "rule · blk",
        "waf · waf-sqli-",
        ">2xx 7</span>",
        ">4xx 17</span>",
        ">rl 3</span>",
    ] {
        assert!(
            dom.contains(needle),
            "{needle:?} missing from the dashboard\n{dom}"
        );
    }
    assert!(!dom.contains("class=\"error\""), "a chart failed to load\n{dom}");

    // The screenshot of the real run, for people to look at.
    let target_dir = Path::new(env!("CARGO_BIN_EXE_edgeward"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let png = target_dir.join("dashboard-e2e.png");
    let _ = std::fs::remove_file(&png);
    common::chromium::run(
        &browser,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,1600".to_owned(),
            url,
        ],
    );
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10 * 1024, "screenshot {} is {size} bytes", png.display());
    let mut magic = [0u8; 8];
    std::fs::File::open(&png).unwrap().read_exact(&mut magic).unwrap();
    assert_eq!(&magic, b"\x89PNG\r\n\x1a\n");
    eprintln!("dashboard screenshot: {}", png.display());
}

// ---------------------------------------------------------- JSON access log --

/// The access-log lines (target `edgeward::access`) of a JSON-format run, each parsed;
/// fails if any stderr line is not JSON.
fn json_access_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v| v["target"] == "edgeward::access")
        .collect()
}

#[test]
fn the_json_access_log_has_one_object_per_request_with_the_event_fields() {
    // `--log-format` is a global flag: before and after the subcommand both work.
    for args in [
        ["--log-format", "json", "run", "{config}"],
        ["run", "{config}", "--log-format", "json"],
    ] {
        let origin = mix_origin();
        let edge = Run::start(&analytics_config(origin.addr, POLICIES, ""), &args, true);
        let ok = get(
            edge.addr,
            "/?x=1",
            "example.com",
            "Referer: https://r.example/\r\n",
        );
        assert_eq!(ok.status, 200);
        assert_eq!(get(edge.addr, "/missing-a", "example.com", "").status, 404);
        assert_eq!(get(edge.addr, "/blocked", "example.com", "").status, 403);
        assert_eq!(get(edge.addr, "/", "nobody.test", "").status, 421);

        let deadline = Instant::now() + WAIT;
        let lines = loop {
            let lines = json_access_lines(&edge.logs());
            if lines.len() >= 4 {
                break lines;
            }
            assert!(Instant::now() < deadline, "{args:?}: access lines: {lines:?}");
            thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(lines.len(), 4, "{args:?}: {lines:#?}");
        let want = [
            (200, "origin", "/", "example.com", "test"),
            (404, "origin", "/missing-a", "example.com", "test"),
            (403, "rule", "/blocked", "example.com", "test"),
            (421, "edge", "/", "nobody.test", "-"),
        ];
        let origin_ids: Vec<String> = origin
            .requests()
            .iter()
            .filter_map(|r| r.header("x-request-id"))
            .collect();
        // Lines are written after the response, so two requests on different worker
        // threads may log in either order: match them by status (unique in this set).
        for (status, source, path, host, zone) in want {
            let found: Vec<&Value> = lines.iter().filter(|l| l["status"] == status).collect();
            assert_eq!(found.len(), 1, "{args:?}: one {status} line: {lines:#?}");
            let line = found[0];
            let ctx = format!("{args:?}: {line}");
            assert_eq!(line["level"], "INFO", "{ctx}");
            assert!(line["timestamp"].is_string(), "{ctx}");
            assert_eq!(line["status"], status, "{ctx}");
            assert_eq!(line["source"], source, "{ctx}");
            assert_eq!(line["path"], path, "{ctx}");
            assert_eq!(line["host"], host, "{ctx}");
            assert_eq!(line["method"], "GET", "{ctx}");
            assert_eq!(line["zone"], zone, "{ctx}");
            assert_eq!(line["client"], "127.0.0.1", "{ctx}");
            let id = line["request_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no request_id: {ctx}"));
            assert!(!id.is_empty(), "{ctx}");
            assert!(line.get("duration_ms").is_some(), "{ctx}");
            assert!(line["bytes_out"].is_u64(), "{ctx}");
            if source == "origin" {
                assert_eq!(line["origin_status"], status, "{ctx}");
                assert!(
                    origin_ids.iter().any(|o| o == id),
                    "{ctx}: id not the one sent upstream {origin_ids:?}"
                );
            }
            if source == "rule" {
                assert_eq!(line["rule_id"], "blk", "{ctx}");
            }
        }
        let first = lines.iter().find(|l| l["status"] == 200).unwrap();
        assert_eq!(first["query"], "x=1", "{args:?}: {first}");
        assert_eq!(first["referer"], "https://r.example/", "{args:?}: {first}");
        assert_eq!(first["user_agent"], UA, "{args:?}: {first}");
        if let Some(id) = ok.header("x-request-id") {
            let line = lines.iter().find(|l| l["status"] == 200).unwrap();
            assert_eq!(line["request_id"], id, "{args:?}: the id the client got");
        }
        let ids: std::collections::HashSet<&str> =
            lines.iter().map(|l| l["request_id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 4, "request ids are unique");
    }
}

// ---------------------------------------------------- file store, latency --

#[test]
fn a_file_store_relative_to_the_config_survives_a_restart() {
    let origin = mix_origin();
    let dir = tempfile::tempdir().unwrap();
    let cfg = analytics_config(origin.addr, "", "").replace(
        "[analytics]\nenabled = true\n",
        "[analytics]\nenabled = true\npath = \"data/events.sqlite\"\n",
    );
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mut first = Run::start_in(dir.path(), &cfg, &["run", "{config}"], true);
    for _ in 0..3 {
        assert_eq!(get(first.addr, "/", "example.com", "").status, 200);
    }
    assert_eq!(
        get(
            first.addr,
            "/missing-x",
            "example.com",
            "Referer: https://a.example/\r\n"
        )
        .status,
        404
    );
    // Stopped before the flush interval: shutdown must write what is queued.
    first.stop();
    assert!(
        dir.path().join("data/events.sqlite").exists(),
        "the store is relative to the config file"
    );

    let second = Run::start_in(dir.path(), &cfg, &["run", "{config}"], true);
    assert_eq!(
        api(second.admin(), "/api/totals")["requests"],
        4,
        "events survive the restart"
    );
    assert_eq!(get(second.addr, "/missing-x", "example.com", "").status, 404);
    settle(second.admin(), 5);
    assert_eq!(
        api(second.admin(), "/api/top-404"),
        json!([{ "path": "/missing-x", "count": 2, "has_redirect": false, "referers": [
            { "referer": "", "count": 1 }, { "referer": "https://a.example/", "count": 1 } ] }])
    );
}

/// `edgeward_origin_duration_seconds` ("time spent waiting on the origin") must count every
/// request the origin answered, and only those.
#[test]
fn the_origin_latency_histogram_counts_requests_that_reached_the_origin() {
    let origin = mix_origin();
    let edge = Run::start(
        &analytics_config(origin.addr, POLICIES, ""),
        &["run", "{config}"],
        true,
    );
    for _ in 0..4 {
        assert_eq!(get(edge.addr, "/", "example.com", "").status, 200);
    }
    assert_eq!(get(edge.addr, "/missing-a", "example.com", "").status, 404);
    assert_eq!(get(edge.addr, "/blocked", "example.com", "").status, 403);
    settle(edge.admin(), 6);
    let text = admin_get(edge.admin(), "/metrics", "").text();
    let count = |name: &str| -> f64 {
        metric_values(&text, name)
            .iter()
            .filter(|(s, _)| s.contains("zone=\"test\""))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(count("edgeward_request_duration_seconds_count"), 6.0, "{text}");
    assert_eq!(count("edgeward_origin_duration_seconds_count"), 5.0, "{text}");
    let sum = count("edgeward_origin_duration_seconds_sum");
    assert!(
        sum > 0.0 && sum <= count("edgeward_request_duration_seconds_sum"),
        "{text}"
    );
}
