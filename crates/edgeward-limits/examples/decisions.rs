//! Decisions per second and added latency per decision, for the memory and Redis stores.
//!
//! `cargo run --release -p edgeward-limits --example decisions` (starts its own `redis-server`
//! on a free loopback port; the Redis rows are skipped when it is not installed).

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeward_limits::{now_ms, CounterStore, MemoryStore, Policy, RedisConfig, RedisStore};

const KEYS: u64 = 10_000;

fn policy() -> Policy {
    Policy {
        requests: 1_000,
        period: Duration::from_secs(60),
        mitigation_timeout: Duration::ZERO,
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("rl:bench:10.0.{}.{}", (i % KEYS) / 256, i % 256).into_bytes()
}

struct Row {
    name: &'static str,
    decisions: u64,
    elapsed: Duration,
    latency: Duration,
}

fn memory(threads: u64, per_thread: u64) -> Row {
    let store = MemoryStore::new();
    let keys: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
    let p = policy();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (store, keys) = (&store, &keys);
            scope.spawn(move || {
                let base = now_ms();
                for i in 0..per_thread {
                    let k = &keys[((i * 7919 + t * (KEYS / 2)) % KEYS) as usize];
                    std::hint::black_box(store.hit_at(k, &p, base + i / 1000, true));
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let decisions = threads * per_thread;
    Row {
        name: if threads == 1 {
            "memory, 1 thread"
        } else {
            "memory, 2 threads"
        },
        decisions,
        elapsed,
        latency: elapsed * threads as u32 / decisions as u32,
    }
}

async fn redis(store: RedisStore, in_flight: u64, per_task: u64) -> Row {
    let store = Arc::new(store);
    let p = policy();
    let start = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut busy = Duration::ZERO;
                for i in 0..per_task {
                    let k = key(i * in_flight + t);
                    let call = Instant::now();
                    std::hint::black_box(store.hit(&k, &p, now_ms(), true).await.unwrap());
                    busy += call.elapsed();
                }
                busy
            })
        })
        .collect();
    let mut busy = Duration::ZERO;
    for task in tasks {
        busy += task.await.unwrap();
    }
    let elapsed = start.elapsed();
    let decisions = in_flight * per_task;
    assert_eq!(store.failures(), 0, "redis calls failed during the benchmark");
    let name = if in_flight == 1 {
        "redis, sequential"
    } else {
        "redis, 32 in flight"
    };
    Row {
        name,
        decisions,
        elapsed,
        latency: busy / decisions as u32,
    }
}

fn main() {
    let mut rows = vec![memory(1, 2_000_000), memory(2, 1_000_000)];
    if let Some(server) = redis_server::RedisServer::start() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut config = RedisConfig::new(server.url());
            // Generous here: a benchmark on a shared 2-core box should measure, not fail open.
            config.call_timeout = Duration::from_secs(1);
            let store = RedisStore::connect(config).await.unwrap();
            redis(store.clone(), 1, 200).await; // warm-up: script load, connection
            rows.push(redis(store.clone(), 1, 10_000).await);
            rows.push(redis(store, 32, 1_000).await);
        });
    }
    println!(
        "{:<22} {:>10} {:>10} {:>14} {:>16}",
        "store", "decisions", "seconds", "decisions/s", "avg latency"
    );
    for row in rows {
        let rate = row.decisions as f64 / row.elapsed.as_secs_f64();
        println!(
            "{:<22} {:>10} {:>10.3} {:>14.0} {:>13.2} µs",
            row.name,
            row.decisions,
            row.elapsed.as_secs_f64(),
            rate,
            row.latency.as_secs_f64() * 1e6
        );
    }
}
