//! Delivery counters: what was recorded, written, dropped (and why), and what waits.
//!
//! Owns the counters the handle and the delivery thread share and a consistent-enough
//! snapshot of them ([`DeliveryStats`]) for `/metrics`. Does not render them (the admin
//! crate does).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Why events were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The in-memory queue (count or bytes) was full.
    QueueFull,
    /// The store was down and the spool full.
    SpoolFull,
    /// The store refused the batch repeatedly (not a transient failure).
    Rejected,
    /// Recorded after the writer stopped, or left in a memory spool at shutdown.
    Closed,
    /// A spooled batch could not be read back.
    SpoolCorrupt,
}

impl DropReason {
    /// Every reason, in declaration order.
    pub const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::SpoolFull,
        DropReason::Rejected,
        DropReason::Closed,
        DropReason::SpoolCorrupt,
    ];

    /// The metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::SpoolFull => "spool_full",
            DropReason::Rejected => "rejected",
            DropReason::Closed => "closed",
            DropReason::SpoolCorrupt => "spool_corrupt",
        }
    }
}

/// The shared counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub written: AtomicU64,
    pub dropped: [AtomicU64; DropReason::ALL.len()],
    pub truncated: AtomicU64,
    pub folded: AtomicU64,
    pub failures: AtomicU64,
    pub queue_bytes: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_batches: AtomicU64,
    /// When the oldest undelivered batch was cut (Unix ms); 0 when nothing waits.
    pub oldest_ms: AtomicI64,
    /// 1 while the last write succeeded.
    pub store_up: AtomicU64,
}

impl Counters {
    pub fn drop(&self, reason: DropReason, n: u64) {
        if n > 0 {
            self.dropped[reason as usize].fetch_add(n, Relaxed);
        }
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|d| d.load(Relaxed)).sum()
    }

    pub fn snapshot(&self, now_ms: i64) -> DeliveryStats {
        let oldest = self.oldest_ms.load(Relaxed);
        DeliveryStats {
            written: self.written.load(Relaxed),
            dropped: DropReason::ALL.map(|r| (r, self.dropped[r as usize].load(Relaxed))),
            truncated: self.truncated.load(Relaxed),
            details_folded: self.folded.load(Relaxed),
            failures: self.failures.load(Relaxed),
            queue_bytes: self.queue_bytes.load(Relaxed),
            spool_bytes: self.spool_bytes.load(Relaxed),
            spool_batches: self.spool_batches.load(Relaxed),
            lag_ms: if oldest == 0 { 0 } else { (now_ms - oldest).max(0) },
            store_up: self.store_up.load(Relaxed) == 1,
        }
    }
}

/// A snapshot of delivery, for `/metrics` and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    /// Requests written to the store (routine ones counted in their rollups).
    pub written: u64,
    /// Requests dropped, per reason.
    #[serde(skip)]
    pub dropped: [(DropReason, u64); DropReason::ALL.len()],
    /// Events whose free-text fields were cut to the configured bound.
    pub truncated: u64,
    /// Detail events the store kept as counts only (its size cap was reached).
    pub details_folded: u64,
    /// Failed writes (each retried from the spool).
    pub failures: u64,
    /// Bytes of events waiting in the in-memory queue.
    pub queue_bytes: u64,
    /// Bytes waiting in the spool.
    pub spool_bytes: u64,
    /// Batches waiting in the spool.
    pub spool_batches: u64,
    /// Age of the oldest undelivered batch, in ms (0 when nothing waits).
    pub lag_ms: i64,
    /// Whether the last write succeeded.
    pub store_up: bool,
}

impl DeliveryStats {
    /// Requests dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }

    /// Requests dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].1
    }
}
