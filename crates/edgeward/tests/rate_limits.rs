//! End-to-end tests of rate limiting (SPEC §3 "Rate limiting") through the real binary over
//! real sockets: the in-process store, counting by response status, accuracy of the sliding
//! window against a steady client, and the Redis store against a real `redis-server` — one
//! limit shared by two instances, fail-open and fail-closed while Redis is down, and recovery
//! once it is back on the same port.
//!
//! The Redis tests start their own `redis-server` (see `common::redis`); without the binary they
//! are skipped loudly, except under `CI=true`, where they fail.
//!
//! `cargo test -p edgeward --test rate_limits -- --ignored --nocapture latency` prints the
//! added latency per request of each store (p50 of 200 sequential requests).

mod common;

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::redis::RedisServer;
use common::*;

/// The limit-exceeded log line (target `edgeward::rate_limit`).
const EXCEEDED: &str = "rate limit exceeded";
/// The Redis store's (rate-limited) failure warning.
const REDIS_FAILING: &str = "rate-limit redis store failing";

/// `GET path` for example.com with extra header lines, on a new connection.
fn get(addr: SocketAddr, path: &str, headers: &str) -> Response {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n{headers}Connection: close\r\n\r\n").as_bytes(),
    )
}

/// `GET path` as client `client` (an `X-Client` header, the rules' counting characteristic).
fn get_as(addr: SocketAddr, path: &str, client: &str) -> Response {
    get(addr, path, &format!("X-Client: {client}\r\n"))
}

/// How many requests of `client` reached the origin.
fn origin_saw(origin: &TestOrigin, client: &str) -> usize {
    origin
        .requests()
        .iter()
        .filter(|r| r.header("x-client").as_deref() == Some(client))
        .count()
}

/// An origin answering 404 for paths under `/missing`, 200 otherwise.
fn origin_with_404s() -> TestOrigin {
    TestOrigin::start(|req| {
        let path = req.request_line().split(' ').nth(1).unwrap_or("/");
        let (status, body) = if path.starts_with("/missing") {
            ("404 Not Found", "no such page")
        } else {
            ("200 OK", "ok")
        };
        Action::Respond(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    })
}

/// A `[[zones.rate_limits]]` rule counting by `X-Client` (and the client IP).
fn rule(id: &str, requests: u64, period: &str, mitigation: &str) -> String {
    format!(
        "\n[[zones.rate_limits]]\nid = \"{id}\"\ncharacteristics = [\"ip\", \"header:X-Client\"]\n\
         requests = {requests}\nperiod = \"{period}\"\nmitigation_timeout = \"{mitigation}\"\naction = \"block\"\n"
    )
}

/// The top-level `[rate_limit_store]` table for Redis at `url`.
fn redis_store(url: &str, on_failure: &str) -> String {
    // The call timeout is generous so a loaded test machine does not turn a slow answer into a
    // fail-open decision (which would make counts flaky); a dead Redis refuses at once anyway.
    format!(
        "\n[rate_limit_store]\nkind = \"redis\"\nurl = \"{url}\"\ntimeout = \"250ms\"\non_failure = \"{on_failure}\"\n"
    )
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn retry_after(r: &Response) -> u64 {
    r.header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {}", r.raw_head))
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After not delta-seconds: {}", r.raw_head))
}

/// Finds a string field `name` anywhere in a JSON document.
fn json_field(value: &serde_json::Value, name: &str) -> Option<String> {
    match value {
        serde_json::Value::Object(map) => map
            .get(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .or_else(|| map.values().find_map(|v| json_field(v, name))),
        serde_json::Value::Array(items) => items.iter().find_map(|v| json_field(v, name)),
        _ => None,
    }
}

/// Waits until the Redis store of `edge` has counted something for `client`: sends warm-up
/// requests as `client` until Redis holds a key for it (the store connects lazily).
fn warm_up(edge: &Edgeward, redis: &RedisServer, client: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = get_as(edge.addr, "/warm", client).status;
        if !redis.keys(&format!("*{client}*")).is_empty() && status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the Redis store never counted a request; logs:\n{}",
            edge.logs()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// (1) The in-process store.

const API_RULE: &str = r#"
[[zones.rate_limits]]
id = "api"
expression = 'starts_with(http.request.uri.path, "/api")'
characteristics = ["ip", "header:X-Api-Key"]
requests = 5
period = "10s"
mitigation_timeout = "30s"
action = "block"
"#;

#[test]
fn memory_store_blocks_the_sixth_request_with_ratelimit_headers_per_key() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, API_RULE));
    let api = |key: &str, accept: &str| {
        get(
            edge.addr,
            "/api/items",
            &format!("X-Api-Key: {key}\r\nAccept: {accept}\r\n"),
        )
    };

    for i in 1..=5 {
        let r = api("alice", "text/html");
        assert_eq!(
            r.status, 200,
            "alice request {i} of 5 should pass: {}",
            r.raw_head
        );
    }
    let limited = api("alice", "text/html");
    assert_eq!(limited.status, 429, "the 6th request: {}", limited.raw_head);
    let retry = retry_after(&limited);
    eprintln!(
        "memory store: 6th request 429, Retry-After {retry}, {}",
        limited.header("ratelimit").unwrap_or("-")
    );
    assert!(
        (1..=10 + 30).contains(&retry),
        "Retry-After {retry} outside (0, period + mitigation]"
    );
    assert_eq!(limited.header("ratelimit-policy"), Some(r#""api";q=5;w=10"#));
    assert_eq!(
        limited.header("ratelimit"),
        Some(format!(r#""api";r=0;t={retry}"#).as_str())
    );
    assert!(
        limited.text().contains("api"),
        "the page names the rule: {}",
        limited.text()
    );

    // Still limited (mitigation), and the JSON page carries the rule id.
    let json = api("alice", "application/json");
    assert_eq!(json.status, 429);
    assert!((1..=40).contains(&retry_after(&json)));
    let doc: serde_json::Value = serde_json::from_slice(&json.body)
        .unwrap_or_else(|e| panic!("JSON 429 page did not parse ({e}): {}", json.text()));
    assert_eq!(json_field(&doc, "rule_id").as_deref(), Some("api"), "{doc}");

    // Another API key is another counter: its own 5, then limited.
    for i in 1..=5 {
        assert_eq!(api("bob", "text/html").status, 200, "bob request {i} of 5");
    }
    assert_eq!(api("bob", "text/html").status, 429);

    // Requests the expression does not match are never limited, even for a limited client.
    for i in 0..20 {
        let r = get(edge.addr, "/static/app.js", "X-Api-Key: alice\r\n");
        assert_eq!(r.status, 200, "non-matching request {i}: {}", r.raw_head);
    }

    // The origin saw exactly the allowed requests.
    let seen = origin.requests();
    let count = |key: &str, prefix: &str| {
        seen.iter()
            .filter(|r| r.header("x-api-key").as_deref() == Some(key))
            .filter(|r| {
                r.request_line()
                    .split(' ')
                    .nth(1)
                    .unwrap_or("")
                    .starts_with(prefix)
            })
            .count()
    };
    assert_eq!(
        count("alice", "/api"),
        5,
        "limited requests must not reach the origin"
    );
    assert_eq!(count("bob", "/api"), 5);
    assert_eq!(count("alice", "/static"), 20);

    let logs = edge.wait_for_log(EXCEEDED);
    let line = logs.lines().find(|l| l.contains(EXCEEDED)).unwrap();
    assert!(line.contains("api"), "the log line names the rule: {line}");
    assert!(line.contains("edgeward::rate_limit"), "log target: {line}");
}

// ---------------------------------------------------------------------------------------------
// (2) Counting by response status.

#[test]
fn count_statuses_limits_a_404_scanner_but_never_a_client_getting_200s() {
    let origin = origin_with_404s();
    let extra = format!(
        "{}count_statuses = [\"4xx\"]\n",
        rule("scanners", 5, "10s", "30s")
    );
    let edge = Edgeward::start(&config(origin.addr, &extra));

    // A client fetching pages that exist is never limited.
    for i in 0..30 {
        let r = get_as(edge.addr, &format!("/page/{i}"), "reader");
        assert_eq!(r.status, 200, "reader request {i}: {}", r.raw_head);
    }
    // A client with a few broken links (under the limit) among good pages is not either.
    for i in 0..20 {
        let path = if i % 5 == 0 {
            format!("/missing/{i}")
        } else {
            format!("/page/{i}")
        };
        let r = get_as(edge.addr, &path, "browser");
        assert_ne!(r.status, 429, "browser request {i} ({path}) was limited");
    }

    // The scanner: its 404s pass through until 5 are counted...
    for i in 0..5 {
        let r = get_as(edge.addr, &format!("/missing/{i}"), "scanner");
        assert_eq!(
            r.status, 404,
            "scanner probe {i} should reach the origin: {}",
            r.raw_head
        );
    }
    // ...then it is refused before the origin is asked,
    let r = get_as(edge.addr, "/missing/5", "scanner");
    assert_eq!(r.status, 429, "the 6th 404 probe: {}", r.raw_head);
    assert_eq!(r.header("ratelimit-policy"), Some(r#""scanners";q=5;w=10"#));
    assert!((1..=40).contains(&retry_after(&r)));
    // and, while mitigated, even for a page that exists.
    let r = get_as(edge.addr, "/page/1", "scanner");
    assert_eq!(r.status, 429, "a 200 path while mitigated: {}", r.raw_head);

    assert_eq!(
        origin_saw(&origin, "scanner"),
        5,
        "limited probes must not reach the origin"
    );
    assert_eq!(origin_saw(&origin, "reader"), 30);
    assert_eq!(origin_saw(&origin, "browser"), 20);
    edge.wait_for_log(EXCEEDED);
}

// ---------------------------------------------------------------------------------------------
// (3) Accuracy end to end.

/// Allowed and sent requests per fixed period (keyed by Unix second).
type PerSecond = BTreeMap<u64, (u32, u32)>;

/// Sends as `client` at `rate` requests/s for `secs` whole seconds, starting on a second
/// boundary; allowed/sent counts per second of sending time.
fn steady_client(addr: SocketAddr, client: &str, rate: u32, secs: u32) -> PerSecond {
    // Start just after a second boundary so each bin is one of the limiter's fixed windows.
    let now = unix_ms();
    thread::sleep(Duration::from_millis(1000 - now % 1000 + 2));
    let gap = Duration::from_secs(1) / rate;
    let start = Instant::now();
    let mut bins = PerSecond::new();
    for i in 0..rate * secs {
        let due = start + gap * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let sent = unix_ms() / 1000;
        let status = get_as(addr, "/", client).status;
        assert!(status == 200 || status == 429, "unexpected status {status}");
        let bin = bins.entry(sent).or_default();
        bin.1 += 1;
        if status == 200 {
            bin.0 += 1;
        }
    }
    bins
}

/// Checks a 2× steady client is held to `limit` per period within 10 %; returns the mean.
fn assert_accurate(store: &str, bins: &PerSecond, limit: u32) -> f64 {
    // Whole seconds only (the last bin may hold a stray request past the end).
    let full: Vec<(u64, (u32, u32))> = bins
        .iter()
        .map(|(s, c)| (*s, *c))
        .filter(|(_, (_, sent))| *sent >= limit * 2 * 9 / 10)
        .collect();
    assert!(full.len() >= 3, "too few whole periods measured: {bins:?}");
    let allowed: Vec<u32> = full.iter().map(|(_, (a, _))| *a).collect();
    let mean = allowed.iter().sum::<u32>() as f64 / allowed.len() as f64;
    let error = (mean - limit as f64).abs() / limit as f64;
    eprintln!(
        "accuracy ({store} store): limit {limit}/s, client at 2x; allowed per period {allowed:?}, \
         mean {mean:.2} ({:+.1} %); sent per period {:?}",
        (mean - limit as f64) / limit as f64 * 100.0,
        full.iter().map(|(_, (_, s))| *s).collect::<Vec<_>>()
    );
    assert!(
        error <= 0.10,
        "{store}: mean allowed {mean} per period vs limit {limit}"
    );
    for (second, (a, _)) in &full {
        let e = (*a as f64 - limit as f64).abs() / limit as f64;
        assert!(
            e <= 0.20,
            "{store}: period {second} allowed {a} vs limit {limit}: {allowed:?}"
        );
    }
    mean
}

#[test]
fn a_steady_client_at_twice_the_limit_gets_the_limit_per_period_memory() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, &rule("steady", 20, "1s", "1ms")));
    let bins = steady_client(edge.addr, "steady", 40, 5);
    assert_accurate("memory", &bins, 20);
    let allowed: u32 = bins.values().map(|(a, _)| a).sum();
    assert_eq!(origin_saw(&origin, "steady"), allowed as usize);
}

#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed (Debian package redis-server)"
)]
#[test]
fn a_steady_client_at_twice_the_limit_gets_the_limit_per_period_redis() {
    let redis = RedisServer::start();
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let extra = format!(
        "{}{}",
        rule("steady", 20, "1s", "1ms"),
        redis_store(&redis.url(), "open")
    );
    let edge = Edgeward::start(&config(origin.addr, &extra));
    warm_up(&edge, &redis, "warm");
    let bins = steady_client(edge.addr, "steady", 40, 5);
    assert_accurate("redis", &bins, 20);
}

// ---------------------------------------------------------------------------------------------
// (4) One limit shared by two instances through one Redis.

#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed (Debian package redis-server)"
)]
#[test]
fn two_instances_sharing_redis_enforce_one_limit() {
    let redis = RedisServer::start();
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let extra = format!(
        "{}{}",
        rule("shared", 5, "10s", "10s"),
        redis_store(&redis.url(), "open")
    );
    let a = Edgeward::start(&config(origin.addr, &extra));
    let b = Edgeward::start(&config(origin.addr, &extra));
    warm_up(&a, &redis, "warm-a");
    warm_up(&b, &redis, "warm-b");

    let mut statuses = Vec::new();
    for edge in [&a, &a, &a, &b, &b, &b] {
        statuses.push(get_as(edge.addr, "/", "client").status);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429],
        "3 to A then 3 to B, limit 5"
    );
    // The key is now limited on both instances.
    assert_eq!(get_as(a.addr, "/", "client").status, 429);
    assert_eq!(get_as(b.addr, "/", "client").status, 429);
    assert_eq!(origin_saw(&origin, "client"), 5);

    // Same again starting on B, interleaved, for another key.
    let mut statuses = Vec::new();
    for edge in [&b, &a, &b, &a, &b, &a] {
        statuses.push(get_as(edge.addr, "/", "client2").status);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429],
        "interleaved B/A, limit 5"
    );
    assert!(
        !redis.keys("{rl:shared:*client2}:b").is_empty(),
        "the mitigation block lives in Redis: {:?}",
        redis.keys("*")
    );
}

#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed (Debian package redis-server)"
)]
#[test]
fn redis_store_counts_from_the_first_request_after_start() {
    let redis = RedisServer::start();
    let origin = TestOrigin::fixed("200 OK", "", "ok");

    // Fail-open: Redis is up, so nothing may go uncounted — the 3rd request with limit 2 is 429.
    let open = Edgeward::start(&config(
        origin.addr,
        &format!(
            "{}{}",
            rule("cold", 2, "10s", "10s"),
            redis_store(&redis.url(), "open")
        ),
    ));
    let statuses: Vec<u16> = (0..3)
        .map(|_| get_as(open.addr, "/", "cold-open").status)
        .collect();

    // Fail-closed: Redis is up, so the very first request must not be refused.
    let closed = Edgeward::start(&config(
        origin.addr,
        &format!(
            "{}{}",
            rule("cold", 2, "10s", "10s"),
            redis_store(&redis.url(), "closed")
        ),
    ));
    let first_closed = get_as(closed.addr, "/", "cold-closed");

    // Every expectation is checked before failing, so one run reports all of them.
    let mut failures = Vec::new();
    if statuses != [200, 200, 429] {
        failures.push(format!(
            "fail-open instance right after start, Redis up, limit 2: got {statuses:?}, \
             expected [200, 200, 429]"
        ));
    }
    if first_closed.status != 200 {
        failures.push(format!(
            "first request to a fail-closed instance with Redis up: got {}, expected 200",
            first_closed.status
        ));
    }
    for (name, edge) in [("fail-open", &open), ("fail-closed", &closed)] {
        if edge.logs().contains(REDIS_FAILING) {
            failures.push(format!("{name} instance reported a healthy Redis as failing"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nfail-open logs:\n{}\nfail-closed logs:\n{}",
        failures.join("\n"),
        open.logs(),
        closed.logs()
    );
}

// ---------------------------------------------------------------------------------------------
// (5) Redis dies and comes back: fail-open, logged, enforced again.

#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed (Debian package redis-server)"
)]
#[test]
fn redis_down_fails_open_and_limits_resume_when_it_is_back() {
    let mut redis = RedisServer::start();
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let extra = format!(
        "{}{}",
        rule("r", 3, "10s", "10s"),
        redis_store(&redis.url(), "open")
    );
    let edge = Edgeward::start(&config(origin.addr, &extra));
    warm_up(&edge, &redis, "warm");

    // Enforced while Redis is up.
    let statuses: Vec<u16> = (0..4).map(|_| get_as(edge.addr, "/", "before").status).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let warnings_before = edge.logs().matches(REDIS_FAILING).count();

    redis.kill();
    let killed_at = Instant::now();

    // Fail-open: the blocked client and a new one both get through, promptly.
    for client in ["before", "during"] {
        for i in 0..10 {
            let started = Instant::now();
            let r = get_as(edge.addr, "/", client);
            assert_eq!(
                r.status, 200,
                "{client} request {i} with Redis down: {}",
                r.raw_head
            );
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "a request waited {:?} on a dead Redis",
                started.elapsed()
            );
        }
    }
    assert_eq!(origin_saw(&origin, "before"), 3 + 10);
    assert_eq!(origin_saw(&origin, "during"), 10);

    // The failure is logged (warnings are rate limited to one per 10 s, so keep traffic going).
    let deadline = Instant::now() + Duration::from_secs(15);
    while edge.logs().matches(REDIS_FAILING).count() <= warnings_before {
        assert!(
            Instant::now() < deadline,
            "no {REDIS_FAILING:?} warning after Redis died; logs:\n{}",
            edge.logs()
        );
        assert_eq!(get_as(edge.addr, "/", "during").status, 200);
        thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "redis kill: failure warning logged {:?} after the kill",
        killed_at.elapsed()
    );

    // Back on the same port (empty): limits are enforced again within a bounded time.
    redis.restart();
    let restarted_at = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let client = format!("after-{attempt}");
        let statuses: Vec<u16> = (0..4).map(|_| get_as(edge.addr, "/", &client).status).collect();
        if statuses == [200, 200, 200, 429] {
            break;
        }
        assert!(
            restarted_at.elapsed() < Duration::from_secs(10),
            "limits not enforced 10 s after Redis came back (last: {statuses:?}); logs:\n{}",
            edge.logs()
        );
        thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "redis restart: limits enforced again {:?} after Redis answered (attempt {attempt})",
        restarted_at.elapsed()
    );
    edge.wait_for_log("rate-limit redis store recovered");
}

// ---------------------------------------------------------------------------------------------
// (6) Fail-closed.

#[cfg_attr(
    not(has_redis),
    ignore = "redis-server is not installed (Debian package redis-server)"
)]
#[test]
fn redis_down_with_on_failure_closed_refuses_with_429() {
    let mut redis = RedisServer::start();
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let extra = format!(
        "{}{}",
        rule("strict", 3, "10s", "10s"),
        redis_store(&redis.url(), "closed")
    );
    let edge = Edgeward::start(&config(origin.addr, &extra));
    warm_up(&edge, &redis, "warm");
    assert_eq!(get_as(edge.addr, "/", "x").status, 200, "Redis up: allowed");

    redis.kill();
    for i in 0..5 {
        let r = get_as(edge.addr, "/", "y");
        assert_eq!(
            r.status, 429,
            "request {i} with Redis down, fail-closed: {}",
            r.raw_head
        );
        assert!(retry_after(&r) >= 1);
        assert_eq!(r.header("ratelimit-policy"), Some(r#""strict";q=3;w=10"#));
    }
    assert_eq!(
        origin_saw(&origin, "y"),
        0,
        "refused requests must not reach the origin"
    );
    edge.wait_for_log(REDIS_FAILING);

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_as(edge.addr, "/", "z").status != 200 {
        assert!(
            Instant::now() < deadline,
            "still refusing 10 s after Redis came back; logs:\n{}",
            edge.logs()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// Benchmark (ignored by default): added latency per request of each store.

/// p50 and p90 of `n` sequential requests on one keep-alive connection (after a warm-up).
fn latency(addr: SocketAddr, n: usize) -> (Duration, Duration) {
    let mut stream = connect(addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let request = b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Client: bench\r\n\r\n";
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let started = Instant::now();
        stream.write_all(request).unwrap();
        let r = read_response(&mut reader, false).expect("a response");
        let elapsed = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.raw_head);
        if i >= 20 {
            times.push(elapsed);
        }
    }
    times.sort();
    (times[n / 2], times[n * 9 / 10])
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn latency_added_by_each_store() {
    let redis = RedisServer::start();
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let unlimited = rule("bench", 1_000_000_000, "60s", "1s");
    let none = Edgeward::start(&config(origin.addr, ""));
    let memory = Edgeward::start(&config(origin.addr, &unlimited));
    let on_redis = Edgeward::start(&config(
        origin.addr,
        &format!("{unlimited}{}", redis_store(&redis.url(), "open")),
    ));
    warm_up(&on_redis, &redis, "warm");
    let mut results: BTreeMap<&str, Vec<(Duration, Duration)>> = BTreeMap::new();
    // Interleaved rounds so machine noise hits every configuration alike.
    for _ in 0..3 {
        for (name, edge) in [
            ("1 no rule", &none),
            ("2 memory", &memory),
            ("3 redis", &on_redis),
        ] {
            results.entry(name).or_default().push(latency(edge.addr, 200));
        }
    }
    let best = |name: &str| results[name].iter().map(|r| r.0).min().unwrap();
    for (name, rounds) in &results {
        eprintln!("latency {name:10}: p50/p90 per round {rounds:?}");
    }
    let base = best("1 no rule");
    eprintln!(
        "p50 (best of 3 rounds of 200): no rule {:?}, memory {:?} (+{:?}), redis {:?} (+{:?})",
        base,
        best("2 memory"),
        best("2 memory").saturating_sub(base),
        best("3 redis"),
        best("3 redis").saturating_sub(base),
    );
    // Every Redis-store request was really counted in Redis (no fail-open shortcut).
    let counted: u64 = redis
        .keys("{rl:bench:*bench}:w:*")
        .iter()
        .map(|k| {
            redis
                .command(&["GET", k])
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(counted, 3 * 220, "requests counted in Redis during the benchmark");
}
