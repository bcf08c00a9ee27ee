//! How fast each store takes events, and what analytics costs the thread that records.
//!
//! `cargo run --release -p edgeward-analytics --example events -- STORE [EVENTS]` where STORE
//! is `sqlite-memory`, `sqlite-file`, `postgres=URL` or `clickhouse=http://HOST:PORT`.
//!
//! 1. The store alone: detail events in batches of 1000 through [`EventSink::write`], the way
//!    the delivery thread hands them over (events/s).
//! 2. The full path at a fixed request rate (routine mix, as a busy edge records it): the
//!    process CPU time per recorded request, recording thread and delivery thread together,
//!    from `/proc/self/stat`. Compare with `off` to see what a store costs per request;
//!    `EDGEWARD_MIX=routine` records only routine requests (the bulk of real traffic).

use std::hint::black_box;
use std::time::{Duration, Instant};

use edgeward_analytics::{
    open_store, sample, Analytics, ClickHouseSettings, Event, Options, PostgresSettings, SqliteCap,
    StoreSettings,
};

fn events(n: usize, details_only: bool) -> Vec<Event> {
    let mix: Vec<Event> = sample::events(sample::BASE_MS)
        .into_iter()
        .filter(|e| !details_only || !e.is_routine())
        .collect();
    let now = edgeward_analytics::batch::now_ms();
    (0..n)
        .map(|i| {
            let mut e = mix[i % mix.len()].clone();
            e.time_ms = now + i as i64 / 100;
            e.request_id = format!("req-{i:08}");
            e
        })
        .collect()
}

fn settings(arg: &str, dir: &std::path::Path) -> Option<StoreSettings> {
    let timeout = Duration::from_secs(10);
    Some(match arg.split_once('=') {
        None if arg == "sqlite-memory" => StoreSettings::Sqlite {
            path: None,
            cap: SqliteCap::default(),
        },
        None if arg == "sqlite-file" => StoreSettings::Sqlite {
            path: Some(dir.join("events.db")),
            cap: SqliteCap::default(),
        },
        Some(("postgres", url)) => StoreSettings::Postgres(PostgresSettings {
            url: url.to_owned(),
            timeout,
        }),
        Some(("clickhouse", url)) => StoreSettings::ClickHouse(ClickHouseSettings {
            url: url.to_owned(),
            database: "edgeward_bench".into(),
            user: None,
            timeout,
        }),
        _ => return None,
    })
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn main() {
    let mut args = std::env::args().skip(1);
    let store_arg = args.next().unwrap_or_else(|| "sqlite-file".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("edgeward-events-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let off = store_arg == "off";

    if !off {
        let Some(settings) = settings(&store_arg, &dir) else {
            eprintln!("unknown store {store_arg:?}");
            std::process::exit(2);
        };
        let mut store = open_store(&settings).unwrap();
        let all = events(n, true);
        let start = Instant::now();
        for (i, chunk) in all.chunks(1_000).enumerate() {
            let batch = edgeward_analytics::Batch {
                id: i as u64 + 1,
                instance: "bench".into(),
                created_ms: edgeward_analytics::batch::now_ms(),
                events: chunk.to_vec(),
                rollups: Vec::new(),
            };
            store.sink.write(&batch).unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{store_arg}: {n} detail events in {secs:.2} s = {:.0} events/s (batches of 1000)",
            n as f64 / secs
        );
    }

    // 2. CPU per request at a steady 20,000 requests/s for 5 s (the rate of the proxy bench).
    let rate = 20_000u64;
    let secs = 5u64;
    // EDGEWARD_MIX=routine: only routine requests (what most of a real edge's traffic is).
    let routine_only = std::env::var("EDGEWARD_MIX").as_deref() == Ok("routine");
    let mix: Vec<Event> = events(10_000, false)
        .into_iter()
        .filter(|e| !routine_only || e.is_routine())
        .collect();
    let handle = if off {
        None
    } else {
        let settings = settings(&store_arg, &dir).unwrap();
        let sink = open_store(&settings).unwrap().sink;
        Some(Analytics::start(sink, Options::default()).unwrap())
    };
    let cpu0 = cpu_time();
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let e = &mix[(sent % mix.len() as u64) as usize];
            if let Some((h, _)) = &handle {
                if e.is_routine() {
                    h.record_routine(&e.as_routine());
                } else {
                    h.record(black_box(e.clone()));
                }
            } else {
                black_box(e.clone());
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some((h, w)) = handle {
        h.close_blocking();
        let _ = w.join();
    }
    let cpu = cpu_time() - cpu0;
    println!(
        "{store_arg}: {sent} requests at {rate}/s: {:.0} ms CPU = {:.2} µs CPU per request",
        cpu.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e6 / sent as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
