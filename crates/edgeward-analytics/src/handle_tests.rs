//! Recording and delivery against a store that can be taken down: nothing lost silently.

use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Mutex;
use std::time::Instant;

use super::*;
use crate::batch::{now_ms, Batch};
use crate::sample;
use crate::sink::{StoreError, Written};
use crate::store::{SqliteCap, SqliteReader, SqliteStore};

/// How the test store misbehaves.
#[derive(Default)]
struct Faults {
    /// Unreachable: every write fails before storing.
    down: AtomicBool,
    /// Stores, then reports a lost answer (an ambiguous failure).
    lose_answers: AtomicU32,
    /// Refuses every write with a database error.
    refuse: AtomicBool,
}

struct TestSink {
    store: SqliteStore,
    faults: Arc<Faults>,
}

impl EventSink for TestSink {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn write(&mut self, batch: &Batch) -> Result<Written, StoreError> {
        if self.faults.down.load(Relaxed) {
            return Err(StoreError::Unavailable("down".into()));
        }
        if self.faults.refuse.load(Relaxed) {
            return Err(StoreError::Database("no".into()));
        }
        let written = self.store.write(batch)?;
        if self.faults.lose_answers.load(Relaxed) > 0 {
            self.faults.lose_answers.fetch_sub(1, Relaxed);
            return Err(StoreError::Unavailable("answer lost".into()));
        }
        Ok(written)
    }

    fn delete_before(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.store.delete_before(cutoff_ms)
    }
}

fn sink() -> (Box<dyn EventSink>, SqliteReader, Arc<Faults>) {
    let store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
    let reader = store.reader().unwrap();
    let faults = Arc::new(Faults::default());
    let sink = TestSink {
        store,
        faults: Arc::clone(&faults),
    };
    (Box::new(sink), reader, faults)
}

fn opts() -> Options {
    Options {
        instance: "edge-t".into(),
        flush_interval: Duration::from_secs(3600),
        retry_min: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        close_timeout: Duration::from_secs(2),
        ..Options::default()
    }
}

fn record_mix(handle: &AnalyticsHandle, base_ms: i64) {
    for e in sample::events(base_ms) {
        handle.record(e);
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn routine_events_are_rolled_up_and_the_rest_kept_in_full() {
    let (sink, reader, _) = sink();
    let (handle, writer) = Analytics::start(sink, opts()).unwrap();
    record_mix(&handle, now_ms());
    handle.flush_blocking();
    assert_eq!((handle.written(), handle.dropped()), (sample::TOTAL, 0));
    assert_eq!(reader.count().unwrap(), sample::TOTAL);
    assert_eq!(
        reader.detail_count().unwrap(),
        41,
        "routine events have no rows of their own"
    );
    handle.close_blocking();
    writer.join().unwrap();
    handle.record_routine(&sample::events(0)[0].as_routine());
    handle.record(sample::events(0)[30].clone());
    assert_eq!(handle.stats().dropped(DropReason::Closed), 2);
}

#[test]
fn a_full_queue_drops_and_counts_by_events_and_by_bytes() {
    let (tx, rx) = mpsc::sync_channel(4);
    let handle = AnalyticsHandle {
        tx,
        shared: Arc::new(Shared::default()),
        max_field_bytes: 1_024,
        queue_max_bytes: u64::MAX,
    };
    let details: Vec<Event> = sample::events(0)
        .into_iter()
        .filter(|e| !e.is_routine())
        .collect();
    for e in details.iter().take(10) {
        handle.record(e.clone());
    }
    assert_eq!(handle.stats().dropped(DropReason::QueueFull), 6);
    assert_eq!(rx.try_iter().count(), 4);

    let (tx, _rx) = mpsc::sync_channel(1_000);
    let one = details[0].approx_bytes() as u64;
    let handle = AnalyticsHandle {
        tx,
        shared: Arc::new(Shared::default()),
        max_field_bytes: 1_024,
        queue_max_bytes: one * 3,
    };
    for e in details.iter().take(5) {
        handle.record(e.clone());
    }
    let stats = handle.stats();
    assert_eq!(
        (stats.dropped(DropReason::QueueFull), stats.queue_bytes),
        (2, one * 3)
    );
}

#[test]
fn oversized_fields_are_cut_and_counted() {
    let (sink, reader, _) = sink();
    let opts = Options {
        max_field_bytes: 100,
        ..opts()
    };
    let (handle, _writer) = Analytics::start(sink, opts).unwrap();
    let mut e = sample::events(now_ms())[30].clone();
    e.path = format!("/{}", "p".repeat(30_000));
    e.user_agent = "u".repeat(15_000);
    handle.record(e);
    handle.flush_blocking();
    assert_eq!(handle.stats().truncated, 1);
    let sql = crate::query::Sql {
        text: "SELECT length(path), length(user_agent) FROM events".into(),
        params: vec![],
    };
    let row = &reader.rows_blocking(&sql).unwrap()[0];
    assert_eq!((row[0].int().unwrap(), row[1].int().unwrap()), (100, 100));
}

#[test]
fn a_store_outage_is_spooled_retried_and_loses_nothing() {
    let (sink, reader, faults) = sink();
    let (handle, _writer) = Analytics::start(sink, opts()).unwrap();
    faults.down.store(true, Relaxed);
    for round in 0..5 {
        record_mix(&handle, now_ms() + round);
        handle.flush_blocking();
    }
    let stats = handle.stats();
    assert_eq!(stats.written, 0);
    assert_eq!(stats.spool_batches, 5);
    assert!(stats.spool_bytes > 0 && !stats.store_up && stats.failures >= 1);
    thread::sleep(Duration::from_millis(20));
    assert!(handle.stats().lag_ms >= 20, "lag grows while the store is down");
    faults.down.store(false, Relaxed);
    wait_until("the spool to drain", || handle.written() == 5 * sample::TOTAL);
    let stats = handle.stats();
    assert_eq!((stats.spool_batches, stats.spool_bytes, stats.lag_ms), (0, 0, 0));
    assert_eq!(reader.count().unwrap(), 5 * sample::TOTAL);
    assert_eq!(handle.dropped(), 0);
}

#[test]
fn a_full_spool_drops_whole_batches_and_counts_every_request() {
    let (sink, reader, faults) = sink();
    let one = sample::batch("edge-t", 1, now_ms()).encode().len() as u64;
    let opts = Options {
        spool_max_bytes: one * 2 + one / 2,
        ..opts()
    };
    let (handle, _writer) = Analytics::start(sink, opts).unwrap();
    faults.down.store(true, Relaxed);
    for round in 0..4 {
        record_mix(&handle, now_ms() + round);
        handle.flush_blocking();
    }
    assert_eq!(handle.stats().dropped(DropReason::SpoolFull), 2 * sample::TOTAL);
    faults.down.store(false, Relaxed);
    wait_until("the spool to drain", || handle.written() == 2 * sample::TOTAL);
    assert_eq!(reader.count().unwrap(), 2 * sample::TOTAL);
    assert_eq!(
        handle.written() + handle.dropped(),
        4 * sample::TOTAL,
        "every request accounted for"
    );
}

#[test]
fn a_lost_answer_does_not_store_a_batch_twice() {
    let (sink, reader, faults) = sink();
    let (handle, _writer) = Analytics::start(sink, opts()).unwrap();
    faults.lose_answers.store(1, Relaxed);
    record_mix(&handle, now_ms());
    handle.flush_blocking();
    wait_until("the retry", || handle.written() == sample::TOTAL);
    assert_eq!(reader.count().unwrap(), sample::TOTAL);
}

#[test]
fn a_batch_the_store_keeps_refusing_is_dropped_after_three_attempts() {
    let (sink, _reader, faults) = sink();
    let (handle, _writer) = Analytics::start(sink, opts()).unwrap();
    faults.refuse.store(true, Relaxed);
    record_mix(&handle, now_ms());
    handle.flush_blocking();
    wait_until("the drop", || {
        handle.stats().dropped(DropReason::Rejected) == sample::TOTAL
    });
    assert_eq!(handle.stats().spool_batches, 0);
}

#[test]
fn a_disk_spool_survives_a_restart_of_the_edge() {
    let dir = std::env::temp_dir().join(format!("edgeward-restart-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
    let reader = store.reader().unwrap();
    let faults = Arc::new(Faults::default());
    faults.down.store(true, Relaxed);
    let shared_store = Arc::new(Mutex::new(Some(store)));
    let opts = Options {
        spool_dir: Some(dir.clone()),
        close_timeout: Duration::from_millis(50),
        ..opts()
    };
    {
        let sink = TestSink {
            store: shared_store.lock().unwrap().take().unwrap(),
            faults: Arc::clone(&faults),
        };
        let (handle, writer) = Analytics::start(Box::new(sink), opts.clone()).unwrap();
        record_mix(&handle, now_ms());
        handle.flush_blocking();
        record_mix(&handle, now_ms() + 1);
        handle.close_blocking();
        writer.join().unwrap();
        assert_eq!(
            handle.dropped(),
            0,
            "a disk spool keeps what it could not deliver"
        );
        assert_eq!(handle.stats().spool_batches, 2);
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    // The next start finds the spool; the store is back.
    let store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
    let reader2 = store.reader().unwrap();
    drop(reader);
    faults.down.store(false, Relaxed);
    let sink = TestSink {
        store,
        faults: Arc::clone(&faults),
    };
    let (handle, _writer) = Analytics::start(Box::new(sink), opts).unwrap();
    handle.flush_blocking();
    assert_eq!(reader2.count().unwrap(), 2 * sample::TOTAL);
    assert_eq!(handle.stats().spool_batches, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batches_are_cut_on_size_and_on_the_flush_interval() {
    let (sink, reader, _) = sink();
    let opts = Options {
        batch_size: 10,
        flush_interval: Duration::from_millis(30),
        ..opts()
    };
    let (handle, _writer) = Analytics::start(sink, opts).unwrap();
    let details: Vec<Event> = sample::events(now_ms())
        .into_iter()
        .filter(|e| !e.is_routine())
        .collect();
    for e in details.into_iter().take(25) {
        handle.record(e);
    }
    wait_until("all 25 by size and interval", || reader.count().unwrap() == 25);
    assert_eq!(handle.written(), 25);
}

#[test]
fn retention_deletes_old_events_periodically() {
    let (sink, reader, _) = sink();
    let opts = Options {
        retention: Duration::from_secs(1),
        ..opts()
    };
    let (handle, _writer) = Analytics::start(sink, opts).unwrap();
    handle.record(sample::events(now_ms() - 3_600_000)[30].clone());
    handle.record(sample::events(now_ms() + 60_000)[30].clone());
    handle.flush_blocking();
    wait_until("retention", || reader.count().unwrap() == 1);
}

#[tokio::test]
async fn async_flush_and_close() {
    let (sink, reader, _) = sink();
    let (handle, writer) = Analytics::start(sink, opts()).unwrap();
    record_mix(&handle, now_ms());
    handle.flush().await;
    assert_eq!(reader.count().unwrap(), sample::TOTAL);
    handle.close().await;
    assert!(writer.join().is_ok());
}
