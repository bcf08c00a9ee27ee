//! Delivery: the thread that cuts batches, writes them, and retries from the spool.
//!
//! Owns the loop: detail events from the queue and the rollup tally are cut into a
//! [`Batch`] when `batch_size` events wait or every `flush_interval`; a batch is written at
//! once when nothing waits before it, otherwise (and when the write fails) it joins the
//! [`Spool`]. The spool is retried oldest first with exponential backoff (`retry_min` …
//! `retry_max`); a full spool drops the batch and counts every request in it. Store errors
//! that are not transient get three attempts, then the batch is dropped and counted. Owns
//! retention runs and the drop reports in the log. Does not own the SQL (the stores).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::{now_ms, Batch, BatchIds};
use crate::event::Event;
use crate::handle::{Options, Shared};
use crate::sink::{EventSink, StoreError, Written};
use crate::spool::{Spool, SpoolFull};
use crate::stats::DropReason;

/// Attempts a batch gets when the store refuses it (not merely unreachable).
const REJECTED_ATTEMPTS: u32 = 3;
/// The longest gap between two drop reports in the log.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(10);

// Boxing events to shrink the enum would cost an allocation per request; control messages
// are rare, so their wasted space does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Message {
    /// A detail event and its size as counted in the queue's byte bound.
    Event(Event, u64),
    /// Cut a batch, try to deliver everything, then acknowledge.
    Flush(mpsc::Sender<()>),
    /// Deliver what can be delivered, acknowledge, and stop.
    Close(mpsc::Sender<()>),
}

pub(crate) struct Writer {
    sink: Box<dyn EventSink>,
    rx: Receiver<Message>,
    shared: Arc<Shared>,
    spool: Spool,
    opts: Options,
    ids: BatchIds,
    pending: Vec<Event>,
    /// When the spool may be retried next.
    next_retry: Instant,
    backoff: Duration,
    /// Attempts at the spool's front batch that the store refused.
    rejected: u32,
    reported_drops: u64,
    reported_at: Option<Instant>,
}

impl Writer {
    pub fn new(
        sink: Box<dyn EventSink>,
        rx: Receiver<Message>,
        shared: Arc<Shared>,
        spool: Spool,
        opts: Options,
    ) -> Writer {
        Writer {
            sink,
            rx,
            shared,
            spool,
            pending: Vec::with_capacity(opts.batch_size.max(1)),
            ids: BatchIds::default(),
            next_retry: Instant::now(),
            backoff: opts.retry_min,
            rejected: 0,
            reported_drops: 0,
            reported_at: None,
            opts,
        }
    }

    pub fn run(mut self) {
        self.publish_spool();
        let retention_every =
            (self.opts.retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let flush_every = self.opts.flush_interval.max(Duration::from_millis(1));
        let mut next_flush = Instant::now() + flush_every;
        let mut next_retention = Instant::now() + retention_every.min(Duration::from_secs(1));
        loop {
            let now = Instant::now();
            if !self.spool.is_empty() && now >= self.next_retry {
                self.retry_spool(now + flush_every);
            }
            if now >= next_retention {
                self.apply_retention();
                next_retention = now + retention_every;
            }
            if now >= next_flush {
                self.cut(false);
                self.report_drops(now);
                next_flush = now + flush_every;
            }
            let mut until = next_flush.min(next_retention);
            if !self.spool.is_empty() {
                until = until.min(self.next_retry);
            }
            match self
                .rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(Message::Event(e, size)) => {
                    self.shared.counters.queue_bytes.fetch_sub(size, Relaxed);
                    self.pending.push(e);
                    if self.pending.len() >= self.opts.batch_size.max(1) {
                        self.cut(false);
                    }
                }
                Ok(Message::Flush(ack)) => {
                    self.drain_queue();
                    self.cut(false);
                    self.retry_spool(Instant::now() + self.opts.close_timeout);
                    let _ = ack.send(());
                }
                Ok(Message::Close(ack)) => {
                    self.finish();
                    let _ = ack.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return self.finish(),
            }
        }
    }

    /// Takes whatever the queue holds right now into the pending batch.
    fn drain_queue(&mut self) {
        while let Ok(Message::Event(e, size)) = self.rx.try_recv() {
            self.shared.counters.queue_bytes.fetch_sub(size, Relaxed);
            self.pending.push(e);
        }
    }

    /// Cuts a batch from the pending events and the rollup tally (closing the tally when
    /// `last`) and delivers it.
    fn cut(&mut self, last: bool) {
        let rollups = if last {
            self.shared.rollups.close()
        } else {
            self.shared.rollups.take()
        };
        let batch = Batch {
            id: 0,
            instance: self.opts.instance.clone(),
            created_ms: now_ms(),
            events: std::mem::replace(&mut self.pending, Vec::with_capacity(self.opts.batch_size.max(1))),
            rollups,
        };
        if batch.is_empty() {
            return;
        }
        let batch = Batch {
            id: self.ids.next_id(),
            ..batch
        };
        self.deliver(batch);
    }

    fn deliver(&mut self, batch: Batch) {
        if self.spool.is_empty() {
            match self.sink.write(&batch) {
                Ok(written) => return self.delivered(&batch, written),
                Err(error) => self.failed(&error),
            }
        }
        self.spool_batch(batch);
    }

    fn spool_batch(&mut self, batch: Batch) {
        if let Err(SpoolFull(batch)) = self.spool.push(batch) {
            let n = batch.requests();
            self.shared.counters.drop(DropReason::SpoolFull, n);
            tracing::warn!(
                events = n,
                spool_bytes = self.spool.bytes(),
                "analytics: store down and spool full; batch dropped"
            );
        }
        self.publish_spool();
    }

    /// Retries spooled batches, oldest first, until one fails or `deadline` passes.
    fn retry_spool(&mut self, deadline: Instant) {
        while Instant::now() < deadline {
            let batch = match self.spool.front() {
                None => break,
                Some(Ok(batch)) => batch,
                Some(Err((bytes, why))) => {
                    // The requests in it are unknown; its size says roughly how many events.
                    tracing::error!(bytes, %why, "analytics: a spooled batch could not be read; dropped");
                    self.shared.counters.drop(DropReason::SpoolCorrupt, 1);
                    continue;
                }
            };
            match self.sink.write(&batch) {
                Ok(written) => {
                    self.spool.pop();
                    self.rejected = 0;
                    self.delivered(&batch, written);
                }
                Err(error) => {
                    self.failed(&error);
                    if !error.is_transient() {
                        self.rejected += 1;
                        if self.rejected >= REJECTED_ATTEMPTS {
                            self.spool.pop();
                            self.rejected = 0;
                            self.shared.counters.drop(DropReason::Rejected, batch.requests());
                            tracing::error!(%error, events = batch.requests(), "analytics: the store refused a batch {REJECTED_ATTEMPTS} times; dropped");
                        }
                    }
                    break;
                }
            }
        }
        self.publish_spool();
    }

    fn delivered(&mut self, batch: &Batch, written: Written) {
        let counters = &self.shared.counters;
        counters.store_up.store(1, Relaxed);
        self.backoff = self.opts.retry_min;
        match written {
            Written::Stored { details_folded } => {
                counters.written.fetch_add(batch.requests(), Relaxed);
                counters.folded.fetch_add(details_folded, Relaxed);
            }
            Written::AlreadyStored => {
                // An earlier attempt was stored even though it looked failed: counted once.
                counters.written.fetch_add(batch.requests(), Relaxed);
                tracing::info!(
                    batch = batch.id,
                    "analytics: batch was already stored; not written twice"
                );
            }
        }
    }

    fn failed(&mut self, error: &StoreError) {
        let counters = &self.shared.counters;
        if counters.store_up.swap(0, Relaxed) == 1 || counters.failures.load(Relaxed) == 0 {
            tracing::warn!(%error, store = self.sink.kind(), "analytics: write failed; spooling and retrying");
        }
        counters.failures.fetch_add(1, Relaxed);
        self.next_retry = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.opts.retry_max);
    }

    fn publish_spool(&self) {
        let counters = &self.shared.counters;
        counters.spool_bytes.store(self.spool.bytes(), Relaxed);
        counters.spool_batches.store(self.spool.len() as u64, Relaxed);
        counters
            .oldest_ms
            .store(self.spool.oldest_ms().unwrap_or(0), Relaxed);
    }

    /// At shutdown: everything queued becomes a last batch; the spool is retried until the
    /// close timeout. What is still in a memory spool then is dropped and counted; a disk
    /// spool keeps it for the next start.
    fn finish(&mut self) {
        self.drain_queue();
        self.cut(true);
        if !self.spool.is_empty() {
            self.retry_spool(Instant::now() + self.opts.close_timeout);
        }
        let lost: u64 = self.spool.drain_memory().iter().map(Batch::requests).sum();
        self.shared.counters.drop(DropReason::Closed, lost);
        self.publish_spool();
        let dropped = self.shared.counters.dropped_total();
        if dropped > self.reported_drops {
            tracing::warn!(
                dropped_total = dropped,
                "analytics: events dropped before shutdown"
            );
        }
        if self.spool.is_durable() && !self.spool.is_empty() {
            tracing::warn!(
                batches = self.spool.len(),
                "analytics: undelivered batches stay in the spool for the next start"
            );
        }
    }

    fn apply_retention(&mut self) {
        if !self.spool.is_empty() {
            return; // the store is down or behind; retention can wait
        }
        let keep_ms = i64::try_from(self.opts.retention.as_millis()).unwrap_or(i64::MAX);
        match self.sink.delete_before(now_ms().saturating_sub(keep_ms)) {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "analytics: retention deleted old rows"),
            Err(error) => tracing::warn!(%error, "analytics: retention failed"),
        }
    }

    /// Rate-limits the "events dropped" warning: loud, but not a log flood.
    fn report_drops(&mut self, now: Instant) {
        let dropped = self.shared.counters.dropped_total();
        let due = self
            .reported_at
            .is_none_or(|at| now.duration_since(at) >= DROP_REPORT_INTERVAL);
        if dropped > self.reported_drops && due {
            tracing::warn!(
                dropped_total = dropped,
                dropped_since_last = dropped - self.reported_drops,
                "analytics: events dropped (see edgeward_analytics_events_dropped_total)"
            );
            self.reported_drops = dropped;
            self.reported_at = Some(now);
        }
    }
}
