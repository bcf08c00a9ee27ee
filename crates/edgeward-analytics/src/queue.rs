//! Getting events off the hot path: rollups and a bounded queue in front of a writer thread.
//!
//! Owns [`AnalyticsHandle::record`]: count in metrics, then a routine request is added to the
//! in-memory [`Rollups`] (no copy, no message) and any other event is `try_send`-ed to the
//! queue (a full queue drops the event and counts it, never blocks). Owns the writer thread
//! that stores detail batches in one transaction each, writes the rollups every flush
//! interval, applies retention, reports drops in the log, and flushes on shutdown. Does not
//! own the SQL ([`crate::store`]) or the metric layout ([`crate::metrics`]).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::event::{Event, RoutineRequest};
use crate::metrics::Metrics;
use crate::rollup::{self, Rollups, ZoneRollup};
use crate::store::SqliteStore;

/// How the queue and writer behave.
#[derive(Debug, Clone)]
pub struct Options {
    /// Detail events the queue holds before `record` starts dropping.
    pub queue_capacity: usize,
    /// Detail events written per transaction, at most.
    pub batch_size: usize,
    /// The longest an event waits in a partial batch, and how often rollups are written.
    pub flush_interval: Duration,
    /// Events older than this are deleted.
    pub retention: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            queue_capacity: 65_536,
            batch_size: 1_000,
            flush_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The longest gap between two drop reports in the log.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(10);

// Boxing events to shrink the enum would cost an allocation per request; control messages
// are rare, so their wasted space does not matter.
#[allow(clippy::large_enum_variant)]
enum Message {
    Event(Event),
    /// Write everything queued before this, then acknowledge.
    Flush(mpsc::Sender<()>),
    /// Write everything queued, acknowledge, and stop.
    Close(mpsc::Sender<()>),
}

/// The entry point: starts the writer for a store.
pub struct Analytics;

impl Analytics {
    /// Starts the writer thread on `store`; returns the handle to record with and the thread,
    /// which hands the store back once the handle is closed (or every clone dropped).
    pub fn start(store: SqliteStore, opts: Options) -> (AnalyticsHandle, JoinHandle<SqliteStore>) {
        let (tx, rx) = mpsc::sync_channel(opts.queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            store,
            rx,
            shared: Arc::clone(&shared),
            batch: Vec::with_capacity(opts.batch_size.max(1)),
            opts,
        };
        let thread = thread::Builder::new()
            .name("edgeward-analytics".to_owned())
            .spawn(move || writer.run())
            .expect("spawning the analytics writer thread");
        (AnalyticsHandle { tx, shared }, thread)
    }
}

/// What the handles and the writer share.
#[derive(Default)]
struct Shared {
    metrics: Metrics,
    rollups: Rollups,
}

/// Records events; cheap to clone, safe to share across tasks.
#[derive(Clone)]
pub struct AnalyticsHandle {
    tx: SyncSender<Message>,
    shared: Arc<Shared>,
}

impl AnalyticsHandle {
    /// Counts `event` in metrics and stores it: a routine one in the rollups, any other is
    /// queued in full. Never blocks: when the queue is full (or the writer has stopped) the
    /// event is dropped and counted in [`AnalyticsHandle::dropped`].
    pub fn record(&self, event: Event) {
        if event.is_routine() {
            return self.record_routine(&event.as_routine());
        }
        self.shared.metrics.observe(&event);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Message::Event(event))
        {
            self.shared.metrics.add_dropped(1);
        }
    }

    /// Counts a routine request (see [`crate::event::is_routine`]) in metrics and its rollup;
    /// the cheap form of [`AnalyticsHandle::record`] for callers that know it is routine.
    pub fn record_routine(&self, request: &RoutineRequest<'_>) {
        self.shared.metrics.observe_routine(request);
        if !self.shared.rollups.add(request) {
            self.shared.metrics.add_dropped(1);
        }
    }

    /// Events dropped so far (queue full, writer gone, or a failed write).
    pub fn dropped(&self) -> u64 {
        self.shared.metrics.dropped()
    }

    /// Events written to the store so far (routine ones once their rollup is written).
    pub fn written(&self) -> u64 {
        self.shared.metrics.written()
    }

    /// The in-memory metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Waits until every event recorded before this call is written.
    pub async fn flush(&self) {
        let tx = self.tx.clone();
        let _ = tokio::task::spawn_blocking(move || send_and_wait(&tx, Message::Flush)).await;
    }

    /// Writes everything queued and stops the writer; later records count as dropped.
    pub async fn close(&self) {
        let tx = self.tx.clone();
        let _ = tokio::task::spawn_blocking(move || send_and_wait(&tx, Message::Close)).await;
    }

    /// [`AnalyticsHandle::flush`] for code outside an async runtime.
    pub fn flush_blocking(&self) {
        send_and_wait(&self.tx, Message::Flush);
    }

    /// [`AnalyticsHandle::close`] for code outside an async runtime.
    pub fn close_blocking(&self) {
        send_and_wait(&self.tx, Message::Close);
    }
}

/// Sends a control message (waiting for queue room, unlike events) and its acknowledgement.
fn send_and_wait(tx: &SyncSender<Message>, make: fn(mpsc::Sender<()>) -> Message) {
    let (ack_tx, ack_rx) = mpsc::channel();
    if tx.send(make(ack_tx)).is_ok() {
        // An error means the writer is gone, so there is nothing left to wait for.
        let _ = ack_rx.recv();
    }
}

struct Writer {
    store: SqliteStore,
    rx: Receiver<Message>,
    shared: Arc<Shared>,
    batch: Vec<Event>,
    opts: Options,
}

impl Writer {
    fn run(mut self) -> SqliteStore {
        let retention_every =
            (self.opts.retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let flush_every = self.opts.flush_interval.max(Duration::from_millis(1));
        let mut next_flush = Instant::now() + flush_every;
        let mut next_retention = Instant::now();
        let mut drops = DropReport::default();
        loop {
            let now = Instant::now();
            if now >= next_retention {
                self.apply_retention();
                next_retention = now + retention_every;
            }
            if now >= next_flush {
                self.write_batch();
                self.write_rollups(self.shared.rollups.take());
                drops.report(self.shared.metrics.dropped(), now);
                next_flush = now + flush_every;
            }
            let wait = next_flush.min(next_retention).saturating_duration_since(now);
            match self.rx.recv_timeout(wait) {
                Ok(Message::Event(e)) => {
                    self.batch.push(e);
                    if self.batch.len() >= self.opts.batch_size.max(1) {
                        self.write_batch();
                    }
                }
                Ok(Message::Flush(ack)) => {
                    self.write_batch();
                    self.write_rollups(self.shared.rollups.take());
                    let _ = ack.send(());
                }
                Ok(Message::Close(ack)) => {
                    self.finish(&mut drops);
                    let _ = ack.send(());
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish(&mut drops);
                    break;
                }
            }
        }
        self.store
    }

    /// Writes what is queued and tallied, and stops the rollups: later routine requests are
    /// counted as dropped (the queue's disconnect does the same for detail events).
    fn finish(&mut self, drops: &mut DropReport) {
        self.write_batch();
        self.write_rollups(self.shared.rollups.close());
        drops.report_final(self.shared.metrics.dropped());
    }

    fn write_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len() as u64;
        match self.store.insert_batch(&self.batch) {
            Ok(_) => self.shared.metrics.add_written(n),
            Err(error) => {
                self.shared.metrics.add_dropped(n);
                tracing::error!(%error, events = n, "analytics: writing a batch failed; events dropped");
            }
        }
        self.batch.clear();
    }

    fn write_rollups(&mut self, zones: Vec<ZoneRollup>) {
        if zones.is_empty() {
            return;
        }
        match self.store.insert_rollups(&zones) {
            Ok(n) => self.shared.metrics.add_written(n),
            Err(error) => {
                let n = rollup::total(&zones);
                self.shared.metrics.add_dropped(n);
                tracing::error!(%error, events = n, "analytics: writing rollups failed; events dropped");
            }
        }
    }

    fn apply_retention(&mut self) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let keep_ms = i64::try_from(self.opts.retention.as_millis()).unwrap_or(i64::MAX);
        match self.store.delete_before(now_ms.saturating_sub(keep_ms)) {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "analytics: retention deleted old events"),
            Err(error) => tracing::warn!(%error, "analytics: retention failed"),
        }
    }
}

/// Rate-limits the "events dropped" warning so a full queue is loud but not a log flood.
#[derive(Default)]
struct DropReport {
    reported: u64,
    at: Option<Instant>,
}

impl DropReport {
    fn report(&mut self, dropped: u64, now: Instant) {
        let due = self
            .at
            .is_none_or(|at| now.duration_since(at) >= DROP_REPORT_INTERVAL);
        if dropped > self.reported && due {
            tracing::warn!(
                dropped_total = dropped,
                dropped_since_last = dropped - self.reported,
                "analytics: queue full, events dropped"
            );
            self.reported = dropped;
            self.at = Some(now);
        }
    }

    fn report_final(&mut self, dropped: u64) {
        if dropped > self.reported {
            tracing::warn!(
                dropped_total = dropped,
                "analytics: events dropped before shutdown"
            );
            self.reported = dropped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    fn opts(queue_capacity: usize, batch_size: usize) -> Options {
        Options {
            queue_capacity,
            batch_size,
            flush_interval: Duration::from_secs(3600),
            ..Options::default()
        }
    }

    fn now_ms() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
    }

    /// The sample events stored in full (not routine), which go through the queue.
    fn details(base_ms: i64) -> Vec<Event> {
        sample::events(base_ms)
            .into_iter()
            .filter(|e| !e.is_routine())
            .collect()
    }

    #[test]
    fn routine_events_are_rolled_up_and_the_rest_kept_in_full() {
        let store = SqliteStore::in_memory().unwrap();
        let reader = store.reader().unwrap();
        // A queue of one: routine events must not need it.
        let (handle, writer) = Analytics::start(store, opts(1, 1_000));
        let events = sample::events(now_ms());
        let routine = events.iter().filter(|e| e.is_routine()).count() as u64;
        assert_eq!(routine, 50);
        for e in events.iter().filter(|e| e.is_routine()) {
            handle.record_routine(&e.as_routine());
        }
        handle.record(details(now_ms()).remove(0));
        handle.flush_blocking();
        assert_eq!((handle.written(), handle.dropped()), (routine + 1, 0));
        assert_eq!(reader.count().unwrap(), routine + 1);
        assert_eq!(
            reader.detail_count().unwrap(),
            1,
            "routine events have no rows of their own"
        );
        handle.close_blocking();
        handle.record_routine(&events[0].as_routine());
        assert_eq!(handle.dropped(), 1, "routine events after close count as dropped");
        assert_eq!(writer.join().unwrap().count().unwrap(), routine + 1);
    }

    #[test]
    fn full_queue_drops_and_counts_but_metrics_still_count() {
        // A queue nobody drains, so "full" is deterministic.
        let (tx, rx) = mpsc::sync_channel(4);
        let handle = AnalyticsHandle {
            tx,
            shared: Arc::new(Shared::default()),
        };
        for e in details(now_ms()).into_iter().take(10) {
            handle.record(e);
        }
        assert_eq!(handle.dropped(), 6);
        assert_eq!(rx.try_iter().count(), 4);
        let text = handle.metrics().render();
        assert!(text.contains("edgeward_analytics_events_dropped_total 6\n"));
        let counted: u64 = text
            .lines()
            .filter(|l| l.starts_with("edgeward_requests_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, 10, "metrics count dropped events too");
    }

    #[test]
    fn records_after_close_are_dropped_and_counted() {
        let store = SqliteStore::in_memory().unwrap();
        let (handle, writer) = Analytics::start(store, opts(100, 1_000));
        let events = sample::events(now_ms());
        handle.record(events[0].clone());
        handle.close_blocking();
        assert_eq!(writer.join().unwrap().count().unwrap(), 1);
        handle.record(events[1].clone());
        assert_eq!((handle.written(), handle.dropped()), (1, 1));
        handle.flush_blocking(); // returns at once: nobody is left to flush
    }

    #[test]
    fn batches_are_written_on_size_and_on_flush() {
        let store = SqliteStore::in_memory().unwrap();
        let reader = store.reader().unwrap();
        let (handle, writer) = Analytics::start(store, opts(1_000, 10));
        for e in details(now_ms()).into_iter().take(25) {
            handle.record(e);
        }
        // Two full batches go without a flush; the last 5 wait for one.
        let deadline = Instant::now() + Duration::from_secs(5);
        while handle.written() < 20 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(handle.written(), 20);
        handle.flush_blocking();
        assert_eq!(handle.written(), 25);
        assert_eq!(reader.count().unwrap(), 25);
        assert_eq!(handle.dropped(), 0);
        drop(handle);
        assert_eq!(writer.join().unwrap().count().unwrap(), 25);
    }

    #[test]
    fn flush_interval_writes_partial_batches() {
        let store = SqliteStore::in_memory().unwrap();
        let reader = store.reader().unwrap();
        let opts = Options {
            flush_interval: Duration::from_millis(20),
            ..opts(100, 1_000)
        };
        let (handle, _writer) = Analytics::start(store, opts);
        handle.record(sample::events(now_ms()).remove(0));
        let deadline = Instant::now() + Duration::from_secs(5);
        while reader.count().unwrap() == 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(reader.count().unwrap(), 1);
    }

    #[test]
    fn retention_deletes_old_events_periodically() {
        let store = SqliteStore::in_memory().unwrap();
        let reader = store.reader().unwrap();
        let opts = Options {
            retention: Duration::from_secs(1),
            ..opts(100, 1_000)
        };
        let (handle, _writer) = Analytics::start(store, opts);
        let mut old = sample::events(now_ms() - 3_600_000).remove(0);
        old.path = "/old".into();
        handle.record(old);
        handle.record(sample::events(now_ms() + 60_000).remove(0));
        handle.flush_blocking();
        let deadline = Instant::now() + Duration::from_secs(5);
        while reader.count().unwrap() != 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(reader.count().unwrap(), 1, "only the recent event is kept");
    }

    #[tokio::test]
    async fn async_flush_and_close() {
        let store = SqliteStore::in_memory().unwrap();
        let reader = store.reader().unwrap();
        let (handle, writer) = Analytics::start(store, opts(1_000, 1_000));
        for e in sample::events(now_ms()) {
            handle.record(e);
        }
        handle.flush().await;
        assert_eq!(reader.count().unwrap(), sample::TOTAL);
        handle.close().await;
        assert!(writer.join().is_ok());
    }
}
