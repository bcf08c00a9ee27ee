//! Recording events off the hot path: [`AnalyticsHandle`] and how delivery is started.
//!
//! Owns [`AnalyticsHandle::record`]: a routine request is added to the in-memory
//! [`Rollups`] (no copy, no message); any other event has its free-text fields cut to the
//! configured bound and is `try_send`-ed to a queue bounded in events and in bytes (full:
//! dropped and counted, never waits). Owns [`Options`] and [`Analytics::start`], which
//! spawns the delivery thread ([`crate::delivery`]). Does not own batching, retrying or
//! storage.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::delivery::{Message, Writer};
use crate::event::{Event, RoutineRequest};
use crate::rollup::Rollups;
use crate::sink::EventSink;
use crate::spool::Spool;
use crate::stats::{Counters, DeliveryStats, DropReason};

/// How recording and delivery behave; every bound has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// This edge's name, stored with every event (the fleet's dashboards filter on it).
    pub instance: String,
    /// Detail events the queue holds before `record` drops them.
    pub queue_capacity: usize,
    /// Bytes of detail events the queue holds before `record` drops them.
    pub queue_max_bytes: u64,
    /// Every free-text field (path, user agent, referrer…) is cut to this many bytes.
    pub max_field_bytes: usize,
    /// Detail events per batch, at most.
    pub batch_size: usize,
    /// The longest an event waits before its batch is cut; also how often rollups go.
    pub flush_interval: Duration,
    /// Events older than this are deleted from the store.
    pub retention: Duration,
    /// Where undelivered batches wait across restarts; `None`: in memory.
    pub spool_dir: Option<PathBuf>,
    /// Bytes the spool may hold; past it batches are dropped and counted.
    pub spool_max_bytes: u64,
    /// The first retry delay after a failed write; doubled up to `retry_max`.
    pub retry_min: Duration,
    /// The longest retry delay.
    pub retry_max: Duration,
    /// How long closing keeps trying to deliver what waits (a disk spool keeps the rest).
    pub close_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            instance: default_instance(),
            queue_capacity: 65_536,
            queue_max_bytes: 64 * 1024 * 1024,
            max_field_bytes: 1_024,
            batch_size: 1_000,
            flush_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 24 * 3600),
            spool_dir: None,
            spool_max_bytes: 64 * 1024 * 1024,
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// The host name (from the kernel), or `"edgeward"`.
pub fn default_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "edgeward".to_owned())
}

/// What the handles and the delivery thread share.
#[derive(Default)]
pub(crate) struct Shared {
    pub rollups: Rollups,
    pub counters: Counters,
}

/// The entry point: starts delivery into a store.
pub struct Analytics;

impl Analytics {
    /// Starts the delivery thread writing into `sink`; returns the handle to record with and
    /// the thread (it ends once the handle is closed or every clone dropped). Fails only
    /// when the spool directory cannot be opened.
    pub fn start(sink: Box<dyn EventSink>, opts: Options) -> io::Result<(AnalyticsHandle, JoinHandle<()>)> {
        let spool = match &opts.spool_dir {
            Some(dir) => Spool::open(dir, opts.spool_max_bytes)?,
            None => Spool::memory(opts.spool_max_bytes),
        };
        let (tx, rx) = mpsc::sync_channel(opts.queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let handle = AnalyticsHandle {
            tx,
            shared: Arc::clone(&shared),
            max_field_bytes: opts.max_field_bytes.max(16),
            queue_max_bytes: opts.queue_max_bytes,
        };
        let writer = Writer::new(sink, rx, shared, spool, opts);
        let thread = thread::Builder::new()
            .name("edgeward-analytics".to_owned())
            .spawn(move || writer.run())?;
        Ok((handle, thread))
    }
}

/// Records events; cheap to clone, safe to share across tasks.
#[derive(Clone)]
pub struct AnalyticsHandle {
    tx: SyncSender<Message>,
    shared: Arc<Shared>,
    max_field_bytes: usize,
    queue_max_bytes: u64,
}

impl AnalyticsHandle {
    /// Stores `event`: a routine one in the rollups, any other queued in full (fields cut
    /// to the bound). Never blocks: a full queue (or a stopped writer) drops the event and
    /// counts the drop.
    pub fn record(&self, mut event: Event) {
        if event.is_routine() {
            return self.record_routine(&event.as_routine());
        }
        let counters = &self.shared.counters;
        if event.truncate_fields(self.max_field_bytes) {
            counters.truncated.fetch_add(1, Relaxed);
        }
        let size = event.approx_bytes() as u64;
        if counters.queue_bytes.fetch_add(size, Relaxed) + size > self.queue_max_bytes {
            counters.queue_bytes.fetch_sub(size, Relaxed);
            return counters.drop(DropReason::QueueFull, 1);
        }
        if let Err(e) = self.tx.try_send(Message::Event(event, size)) {
            counters.queue_bytes.fetch_sub(size, Relaxed);
            let reason = match e {
                TrySendError::Full(_) => DropReason::QueueFull,
                TrySendError::Disconnected(_) => DropReason::Closed,
            };
            counters.drop(reason, 1);
        }
    }

    /// Counts a routine request (see [`crate::event::is_routine`]) in its rollup; the cheap
    /// form of [`AnalyticsHandle::record`] for callers that know it is routine.
    pub fn record_routine(&self, request: &RoutineRequest<'_>) {
        if !self.shared.rollups.add(request) {
            self.shared.counters.drop(DropReason::Closed, 1);
        }
    }

    /// Requests dropped so far, for any reason.
    pub fn dropped(&self) -> u64 {
        self.shared.counters.dropped_total()
    }

    /// Requests written to the store so far (routine ones once their rollup is written).
    pub fn written(&self) -> u64 {
        self.shared.counters.written.load(Relaxed)
    }

    /// Delivery counters, for `/metrics`.
    pub fn stats(&self) -> DeliveryStats {
        self.shared.counters.snapshot(crate::batch::now_ms())
    }

    /// Cuts a batch of everything recorded before this call and tries to deliver it and
    /// what waits in the spool; returns once tried (written, or spooled if the store is down).
    pub async fn flush(&self) {
        let tx = self.tx.clone();
        let _ = tokio::task::spawn_blocking(move || send_and_wait(&tx, Message::Flush)).await;
    }

    /// Delivers what is queued (within the close timeout; a disk spool keeps the rest) and
    /// stops the writer; later records count as dropped.
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

#[cfg(test)]
#[path = "handle_tests.rs"]
mod tests;
