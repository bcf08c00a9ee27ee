//! HTTP/2 raw-frame conformance vectors against the real binary, in the spirit of h2spec.
//!
//! Owns: starting edgeward on loopback in front of the two origins the vectors expect (an
//! echo origin for `example.com` that reports what it received in `x-seen-*` fields, and
//! a "hole" origin for `hole.test` that accepts connections and never reads or answers,
//! so a stream sent there stays open), running the Python runner `tests/h2/run_vectors.py`
//! against its h2c listener and its TLS listener (ALPN `h2`), and failing with every
//! vector that missed its expectation.
//! Does not own: the vectors (`tests/vectors/h2/*.toml`, format in their README.md), the
//! runner and its frame/HPACK code (`tests/h2/`), or the edge's HTTP/2 session.
//!
//! The runner needs python3 with the PyPI packages `hyperframe` and `hpack`; `build.rs`
//! sets `has_python_h2` when they import (under CI a missing one fails the build).

mod common;

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{config, Action, Edgeward, Received, TestOrigin};

/// The runner script.
const RUNNER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/h2/run_vectors.py");

/// Fewer vectors than this fails the run (so deleting vectors is noticed).
const MIN_VECTORS: usize = 150;

/// The whole run is killed after this long (it takes well under a minute).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Answers `200 OK` with body `ok` (or 100 000 octets for `/big`), reporting what it
/// received: `x-origin: yes` marks a response that came from the origin, `x-seen-*` the
/// request line, Host, Cookie, TE and body length. `/conn-fields` adds connection-specific
/// fields the edge must not pass on over HTTP/2.
fn echo_origin() -> TestOrigin {
    TestOrigin::start(|req: &Received| {
        let mut parts = req.request_line().split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let body = if target.starts_with("/big") {
            "b".repeat(100_000)
        } else {
            "ok".to_owned()
        };
        let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Origin: yes\r\n");
        if target.starts_with("/conn-fields") {
            head.push_str("Connection: x-hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n");
        }
        for name in ["host", "cookie", "te"] {
            if let Some(value) = req.header(name) {
                let _ = write!(head, "X-Seen-{name}: {value}\r\n");
            }
        }
        let _ = write!(
            head,
            "X-Seen-Method: {method}\r\nX-Seen-Target: {target}\r\nX-Seen-Body-Len: {}\r\nContent-Length: {}\r\n\r\n",
            req.body.len(),
            body.len()
        );
        Action::Respond([head.into_bytes(), body.into_bytes()].concat())
    })
}

/// An origin that accepts connections and never reads from them or answers.
fn hole_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            held.push(stream);
        }
    });
    addr
}

/// The runner's report: each failing vector's block (its `FAIL` line and the indented
/// lines under it), and the closing count line.
fn failures(report: &str) -> (Vec<String>, Option<&str>) {
    let mut blocks: Vec<String> = Vec::new();
    let mut in_failure = false;
    for line in report.lines() {
        if line.starts_with("FAIL ") {
            blocks.push(line.to_owned());
            in_failure = true;
        } else if in_failure && line.starts_with("     ") {
            let block = blocks.last_mut().expect("a FAIL line first");
            block.push('\n');
            block.push_str(line);
        } else {
            in_failure = false;
        }
    }
    let summary = report.lines().rev().find(|l| l.starts_with("vectors: "));
    (blocks, summary)
}

/// The zones the vectors expect: `example.com` on the echo origin, `hole.test` on a hole.
fn vector_config(origin: &TestOrigin, hole: SocketAddr) -> String {
    config(
        origin.addr,
        &format!("\n[[zones]]\nname = \"hole\"\nhosts = [\"hole.test\"]\norigins = [\"{hole}\"]\n"),
    )
}

/// Runs every vector against `addr` (TLS with ALPN `h2` when `tls`); fails listing each
/// vector that missed its expectation.
fn run_vectors(edge: &Edgeward, addr: SocketAddr, tls: bool) {
    let report_path = edge.dir.path().join(if tls {
        "h2-vectors-tls.txt"
    } else {
        "h2-vectors.txt"
    });
    let mut command = Command::new("python3");
    command
        .arg(RUNNER)
        .arg("--addr")
        .arg(addr.to_string())
        .arg("--min-count")
        .arg(MIN_VECTORS.to_string());
    if tls {
        command.arg("--tls");
    }
    let mut child = command
        .stdout(std::fs::File::create(&report_path).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("the HTTP/2 vector run took over {RUN_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut stderr);
    }
    let report = std::fs::read_to_string(&report_path).unwrap_or_default();
    let (failed, summary) = failures(&report);
    let summary = summary.unwrap_or("no summary line");
    let over = if tls { "TLS (ALPN h2)" } else { "h2c" };
    assert!(
        status.success() && failed.is_empty(),
        "{} HTTP/2 vector(s) over {over} did not meet their expectation ({summary}):\n\n{}\n\n\
         runner stderr:\n{stderr}\nedge logs (tail):\n{}",
        failed.len(),
        failed.join("\n\n"),
        tail(&edge.logs(), 40),
    );
    let passed: usize = summary
        .trim_start_matches("vectors: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= MIN_VECTORS, "only {passed} vectors passed: {summary}");
}

#[test]
#[cfg_attr(
    not(has_python_h2),
    ignore = "needs python3 with the PyPI packages hyperframe and hpack (python3 -m pip install hyperframe hpack)"
)]
fn http2_frame_vectors_over_h2c() {
    let origin = echo_origin();
    let edge = Edgeward::start(&vector_config(&origin, hole_origin()));
    run_vectors(&edge, edge.addr, false);
}

#[test]
#[cfg_attr(
    not(has_python_h2),
    ignore = "needs python3 with the PyPI packages hyperframe and hpack (python3 -m pip install hyperframe hpack)"
)]
fn http2_frame_vectors_over_tls_alpn_h2() {
    let origin = echo_origin();
    let names = ["example.com", "*.example.com", "hole.test", "unknown.test"].map(String::from);
    let cert = rcgen::generate_simple_self_signed(names.to_vec()).expect("a certificate");
    let text = format!(
        "{}\n[[tls]]\nlisten = \"127.0.0.1:0\"\n[[tls.certificates]]\ncert = \"site.crt\"\nkey = \"site.key\"\n",
        vector_config(&origin, hole_origin())
    );
    let edge = Edgeward::start_with_files(
        &text,
        &[
            ("site.crt", &cert.cert.pem()),
            ("site.key", &cert.key_pair.serialize_pem()),
        ],
    );
    run_vectors(&edge, edge.tls_addr(), true);
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn the_failure_report_is_read_vector_by_vector() {
    let report =
        "ok   a (RFC 9113 §3.4): fine\nFAIL b (RFC 9113 §6.5, x.toml)\n     rule:     r\n     got:      g\n\
                  ok   c (RFC 9113 §4.1): fine\n\nvectors: 2 passed, 1 failed\n";
    let (failed, summary) = failures(report);
    assert_eq!(
        failed,
        vec!["FAIL b (RFC 9113 §6.5, x.toml)\n     rule:     r\n     got:      g".to_owned()]
    );
    assert_eq!(summary, Some("vectors: 2 passed, 1 failed"));
}
