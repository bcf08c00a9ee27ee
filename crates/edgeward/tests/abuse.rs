//! Abuse end to end (issue 11): the real binary under many connections, clients that
//! stop reading, idle keep-alive connections and slow request bodies. Memory is the
//! edgeward child's `VmRSS`, with generous bounds: the point is bounded, not exact.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{config, connect, exchange, read_response, Edgeward, TestOrigin};

/// A GET the test sends on a kept-alive connection.
const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n";

/// An origin answering every request with `body` (shared, so 200 clients cost one copy).
fn big_origin(body: Arc<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let body = Arc::clone(&body);
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    // The head only: the requests here carry no body.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The soft limit on open files of this process (`Max open files` in `/proc/self/limits`).
fn fd_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Waits until `rss` stops growing for a moment (the connections have settled), then reads it.
fn settled_rss(edge: &Edgeward) -> u64 {
    let mut last = edge.rss_kib();
    for _ in 0..20 {
        thread::sleep(Duration::from_millis(250));
        let now = edge.rss_kib();
        if now.abs_diff(last) < 256 {
            return now;
        }
        last = now;
    }
    last
}

#[test]
fn past_max_connections_new_connections_are_closed_at_once_and_open_ones_keep_serving() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(
        &config(origin.addr, "").replace("workers = 2\n", "workers = 2\nmax_connections = 20\n"),
    );
    let mut held: Vec<TcpStream> = (0..20).map(|_| connect(edge.addr)).collect();
    // The edge has taken them all (one exchange on the last proves the accept loop saw it).
    held[19].write_all(GET).unwrap();
    let mut reader = BufReader::new(&held[19]);
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    drop(reader);

    let mut extra = connect(edge.addr);
    extra.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = extra.write_all(GET);
    let mut byte = [0u8; 1];
    let started = Instant::now();
    let closed =
        matches!(extra.read(&mut byte), Ok(0) | Err(_)) && started.elapsed() < Duration::from_secs(2);
    assert!(closed, "a connection past max_connections must be closed at once");

    // An open connection still serves, and once one closes a new one is taken again.
    held[0].write_all(GET).unwrap();
    let mut reader = BufReader::new(&held[0]);
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    drop(reader);
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    let served = loop {
        let mut s = connect(edge.addr);
        let mut reader = BufReader::new(s.try_clone().unwrap());
        if s.write_all(GET).is_ok() {
            if let Some(response) = read_response(&mut reader, false) {
                break response.status == 200;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert!(served, "a place freed by a closed connection must be taken again");
}

#[test]
#[ignore = "needs the origin-side bound in edgeward-upstream (hyper's read buffer, up to ~400 KiB per connection)"]
fn clients_that_stop_reading_a_large_response_cost_little_memory() {
    const CLIENTS: usize = 200;
    let origin = big_origin(Arc::new(vec![b'x'; 10 * 1024 * 1024]));
    let edge = Edgeward::start(&config(origin, "[limits]\nbody_timeout = \"60s\"\n"));
    // Warm up (runtime, pools, one full response), then measure.
    assert_eq!(exchange(edge.addr, GET).body.len(), 10 * 1024 * 1024);
    let before = settled_rss(&edge);
    let readers: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let mut s = connect(edge.addr);
            s.write_all(GET).unwrap();
            let mut first = [0u8; 4096];
            s.read_exact(&mut first).unwrap();
            s
        })
        .collect();
    let after = settled_rss(&edge);
    let growth = after.saturating_sub(before);
    eprintln!(
        "{CLIENTS} slow readers: RSS {before} -> {after} KiB (+{growth} KiB, {} KiB each)",
        growth / CLIENTS as u64
    );
    assert!(
        growth < 20 * 1024,
        "{CLIENTS} slow readers grew RSS by {growth} KiB"
    );
    drop(readers);
}

#[test]
fn idle_keep_alive_connections_cost_little_memory() {
    // 10,000 as in the issue, fewer when the fd limit (shared by this process and the
    // child, which keeps a reserve below it) would not allow them.
    let count: usize = std::env::var("ABUSE_IDLE_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| 10_000.min(fd_limit().saturating_sub(400)));
    assert!(count >= 500, "fd limit too low for this test: {:?}", fd_limit());
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, "[limits]\nkeepalive_timeout = \"120s\"\n"));
    assert_eq!(exchange(edge.addr, GET).status, 200);
    let before = settled_rss(&edge);
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        // One request each, then idle: the keep-alive state a browser leaves behind.
        let mut s = connect(edge.addr);
        s.write_all(GET).unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
        idle.push(s);
    }
    let after = settled_rss(&edge);
    let growth = after.saturating_sub(before);
    let each = growth * 1024 / count as u64;
    eprintln!("{count} idle connections: RSS {before} -> {after} KiB ({each} bytes each)");
    // Goal 8 KB per connection, asserted with room for allocator slack; the bound
    // is 100 MB for 10,000.
    assert!(each < 10 * 1024, "{each} bytes per idle connection");
    assert!(
        growth < 100 * 1024,
        "{count} idle connections grew RSS by {growth} KiB"
    );
    drop(idle);
}

#[test]
fn a_request_body_trickling_in_below_the_minimum_rate_gets_408() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let mut s = connect(edge.addr);
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    // One byte a second: far below the default 1 KiB/s, yet never a 30 s gap.
    let started = Instant::now();
    let writer = {
        let mut s = s.try_clone().unwrap();
        thread::spawn(move || {
            while started.elapsed() < Duration::from_secs(25) && s.write_all(b"x").is_ok() {
                thread::sleep(Duration::from_secs(1));
            }
        })
    };
    s.set_read_timeout(Some(Duration::from_secs(25))).unwrap();
    let mut reader = BufReader::new(&s);
    let response = read_response(&mut reader, false).expect("a response before the gap timeout");
    let took = started.elapsed();
    assert_eq!(response.status, 408);
    assert!(took < Duration::from_secs(15), "408 after {took:?}");
    eprintln!("slow body refused after {took:?}");
    drop(reader);
    drop(s);
    writer.join().unwrap();
}
