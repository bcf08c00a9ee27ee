//! The store scenarios every shared store must pass, whatever the database: a fleet of two
//! edges counted exactly, a 30-second outage during traffic with nothing lost, and a restart
//! of an edge whose disk spool is full.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeward_analytics::{
    open_store, sample, Answer, Ask, DropReason, Filter, Options, Question, StoreSettings,
};

use super::{edge, options, record_mix, temp_dir, wait_until, ClickHouse, Postgres};

/// A database the test can stop and start.
pub trait Server {
    fn settings(&self) -> StoreSettings;
    fn stop(&mut self);
    fn start_again(&mut self);
}

impl Server for Postgres {
    fn settings(&self) -> StoreSettings {
        Postgres::settings(self)
    }
    fn stop(&mut self) {
        Postgres::stop(self)
    }
    fn start_again(&mut self) {
        Postgres::start_again(self)
    }
}

impl Server for ClickHouse {
    fn settings(&self) -> StoreSettings {
        ClickHouse::settings(self)
    }
    fn stop(&mut self) {
        ClickHouse::stop(self)
    }
    fn start_again(&mut self) {
        ClickHouse::start_again(self)
    }
}

fn instance(name: &str) -> Filter {
    Filter {
        instance: Some(name.into()),
        ..Filter::default()
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Requests stored per instance, asked through the query side.
fn per_instance(settings: &StoreSettings) -> Vec<(String, u64)> {
    let query = open_store(settings).unwrap().query;
    let q = Question {
        kind: Ask::Instances,
        filter: Filter::default(),
    };
    match block_on(query.answer(&q)).unwrap() {
        Answer::Instances(v) => v.into_iter().map(|i| (i.instance, i.count)).collect(),
        other => panic!("{other:?}"),
    }
}

/// Two edges, one database: every answer exact for the fleet and for each edge.
pub fn fleet_counts_are_exact(server: &impl Server) {
    let settings = server.settings();
    let (a, wa) = edge(&settings, options("edge-a"));
    let (b, wb) = edge(&settings, options("edge-b"));
    let writers = [
        std::thread::spawn({
            let a = a.clone();
            move || record_mix(&a, 3)
        }),
        std::thread::spawn({
            let b = b.clone();
            move || record_mix(&b, 2)
        }),
    ];
    for w in writers {
        w.join().unwrap();
    }
    a.close_blocking();
    b.close_blocking();
    wa.join().unwrap();
    wb.join().unwrap();
    assert_eq!((a.dropped(), b.dropped()), (0, 0));
    assert_eq!((a.written(), b.written()), (3 * sample::TOTAL, 2 * sample::TOTAL));
    let query = open_store(&settings).unwrap().query;
    block_on(async {
        sample::check_answers(&*query, Filter::default(), 5)
            .await
            .unwrap();
        sample::check_answers(&*query, instance("edge-a"), 3)
            .await
            .unwrap();
        sample::check_answers(&*query, instance("edge-b"), 2)
            .await
            .unwrap();
    });
    assert_eq!(
        per_instance(&settings),
        [
            ("edge-a".to_owned(), 3 * sample::TOTAL),
            ("edge-b".to_owned(), 2 * sample::TOTAL)
        ]
    );
}

/// How long the database is down in the fault test (`EDGEWARD_OUTAGE_SECS`, default 30).
fn outage() -> Duration {
    let secs = std::env::var("EDGEWARD_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Traffic through two edges while the database is down for 30 s: zero lost, and the spool
/// and lag show the outage while it lasts.
pub fn an_outage_loses_nothing(server: &mut impl Server) {
    let settings = server.settings();
    let opts = |name: &str| Options {
        spool_dir: Some(temp_dir(&format!("spool-{name}"))),
        ..options(name)
    };
    let edges = [edge(&settings, opts("edge-a")), edge(&settings, opts("edge-b"))];
    let stop = Arc::new(AtomicBool::new(false));
    // Each edge records one mix (91 requests) every 50 ms: ~1,800 requests/s each.
    let traffic: Vec<_> = edges
        .iter()
        .map(|(h, _)| {
            let (h, stop) = (h.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut copies = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    record_mix(&h, 1);
                    copies += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                copies
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        edges.iter().all(|(h, _)| h.stats().store_up && h.written() > 0),
        "writing before the outage"
    );
    server.stop();
    let down_at = Instant::now();
    std::thread::sleep(outage());
    for (h, _) in &edges {
        let stats = h.stats();
        assert!(!stats.store_up, "{stats:?}");
        assert!(stats.spool_bytes > 0 && stats.spool_batches > 0, "{stats:?}");
        let min_lag = outage().as_millis() as i64 - 2_000;
        assert!(
            stats.lag_ms >= min_lag,
            "lag {} ms after {:?} down",
            stats.lag_ms,
            down_at.elapsed()
        );
    }
    server.start_again();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let copies: Vec<u64> = traffic.into_iter().map(|t| t.join().unwrap()).collect();
    for (h, _) in &edges {
        h.flush_blocking();
        wait_until("the spool to drain", Duration::from_secs(20), || {
            h.flush_blocking();
            h.stats().spool_batches == 0
        });
    }
    let got = per_instance(&settings);
    let want: Vec<(String, u64)> = ["edge-a", "edge-b"]
        .iter()
        .zip(&copies)
        .map(|(name, c)| ((*name).to_owned(), c * sample::TOTAL))
        .collect();
    for (h, _) in &edges {
        let stats = h.stats();
        assert_eq!(stats.dropped_total(), 0, "{stats:?}");
        assert_eq!((stats.lag_ms, stats.spool_bytes), (0, 0));
    }
    assert_eq!(got, want, "every request of the outage stored exactly once");
    assert!(
        edges.iter().all(|(h, _)| h.stats().failures > 0),
        "the outage was seen"
    );
}

/// An edge whose spool fills while the database is down, restarted: every request in the
/// spool is delivered by the next start; those refused by the full spool are counted.
pub fn a_restart_with_a_full_spool_loses_nothing_it_kept(server: &mut impl Server) {
    let settings = server.settings();
    let dir = temp_dir("spool-restart");
    let one = sample::batch("edge-r", 1, sample::BASE_MS).encode().len() as u64;
    let opts = Options {
        spool_dir: Some(dir.clone()),
        spool_max_bytes: one * 3 + one / 2,
        flush_interval: Duration::from_secs(3600),
        close_timeout: Duration::from_millis(200),
        ..options("edge-r")
    };
    server.stop();
    {
        let (h, w) = edge(&settings, opts.clone());
        for _ in 0..6 {
            record_mix(&h, 1);
            h.flush_blocking();
        }
        h.close_blocking();
        w.join().unwrap();
        let stats = h.stats();
        assert_eq!(
            stats.dropped(DropReason::SpoolFull),
            3 * sample::TOTAL,
            "{stats:?}"
        );
        assert_eq!(stats.spool_batches, 3);
    }
    server.start_again();
    let (h, _w) = edge(&settings, opts);
    wait_until(
        "the spool to drain after the restart",
        Duration::from_secs(20),
        || {
            h.flush_blocking();
            h.stats().spool_batches == 0
        },
    );
    assert_eq!(h.written(), 3 * sample::TOTAL);
    assert_eq!(
        per_instance(&settings),
        [("edge-r".to_owned(), 3 * sample::TOTAL)]
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
