//! How fast the analytics path is: events/s the SQLite store sustains in batched
//! transactions, and the cost of one `AnalyticsHandle::record` call.
//!
//! `cargo run --release -p edgeward-analytics --example events [EVENTS]`

use std::hint::black_box;
use std::time::{Duration, Instant};

use edgeward_analytics::{sample, Analytics, Event, Options, SqliteStore};

fn events(n: usize) -> Vec<Event> {
    let mix = sample::events(sample::BASE_MS);
    (0..n)
        .map(|i| {
            let mut e = mix[i % mix.len()].clone();
            e.time_ms = sample::BASE_MS + i as i64;
            e.request_id = format!("req-{i:08}");
            e
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("edgeward-events-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // 1. The store alone: batches of 1000 in one transaction each, WAL, synchronous=NORMAL.
    let mut store = SqliteStore::open(dir.join("store.db")).unwrap();
    let all = events(n);
    let start = Instant::now();
    for batch in all.chunks(1_000) {
        store.insert_batch(batch).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "store: {n} events in {secs:.3} s = {:.0} events/s (batches of 1000, file db, WAL)",
        n as f64 / secs
    );

    // 2. record(): metrics + try_send into a queue large enough to take everything.
    let opts = Options {
        queue_capacity: n,
        batch_size: 1_000,
        flush_interval: Duration::from_millis(200),
        retention: Duration::from_secs(100 * 365 * 86_400),
    };
    let (handle, writer) = Analytics::start(SqliteStore::open(dir.join("queue.db")).unwrap(), opts);
    let batch = events(n);
    let start = Instant::now();
    for e in batch {
        handle.record(black_box(e));
    }
    let per_call = start.elapsed().as_nanos() as f64 / n as f64;
    println!("record(): {per_call:.0} ns/call (accepted into the queue)");
    let start = Instant::now();
    handle.close_blocking();
    let store = writer.join().unwrap();
    println!(
        "writer drained the rest in {:.3} s; written {} dropped {} stored {}",
        start.elapsed().as_secs_f64(),
        handle.written(),
        handle.dropped(),
        store.count().unwrap()
    );

    // 3. record() when the queue is full: the drop path the proxy sees under overload.
    let opts = Options {
        queue_capacity: 1,
        ..Options::default()
    };
    let (handle, writer) = Analytics::start(SqliteStore::in_memory().unwrap(), opts);
    let batch = events(n);
    let start = Instant::now();
    for e in batch {
        handle.record(black_box(e));
    }
    let per_call = start.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "record(): {per_call:.0} ns/call with a 1-slot queue ({} of {n} dropped and counted)",
        handle.dropped()
    );
    handle.close_blocking();
    drop(writer.join());
    std::fs::remove_dir_all(&dir).unwrap();
}
