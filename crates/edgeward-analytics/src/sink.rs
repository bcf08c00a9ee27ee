//! The write side of a store: [`EventSink`] takes whole batches, exactly once.
//!
//! Owns the contract every store keeps (atomic batches, deduplicated by `(instance, id)`,
//! retention) and the error type of every store. Does not own any SQL (the stores under
//! [`crate::store`]) nor retrying ([`crate::delivery`]).

use std::fmt;

use crate::batch::Batch;

/// Stores batches; implemented by SQLite, PostgreSQL and ClickHouse.
///
/// Called from the delivery thread only, so methods block and take `&mut self`.
pub trait EventSink: Send {
    /// The store's name in logs (`"sqlite"`, `"postgres"`, `"clickhouse"`).
    fn kind(&self) -> &'static str;

    /// Writes `batch` atomically. A batch this store already holds (same instance and id)
    /// is not written again: the answer is then [`Written::AlreadyStored`].
    fn write(&mut self, batch: &Batch) -> Result<Written, StoreError>;

    /// Deletes what was recorded before `cutoff_ms` (Unix ms); returns rows deleted when known.
    fn delete_before(&mut self, cutoff_ms: i64) -> Result<u64, StoreError>;
}

/// What a successful [`EventSink::write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored now; `details_folded` detail events were kept only as counts (the store's cap
    /// was reached).
    Stored {
        /// Detail events stored as counts only.
        details_folded: u64,
    },
    /// An earlier delivery of the same batch had been stored.
    AlreadyStored,
}

/// Why a store could not write or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database could not be reached or did not answer in time: try again later.
    Unavailable(String),
    /// The database answered with an error.
    Database(String),
    /// The database answered with something the store could not read.
    Protocol(String),
}

impl StoreError {
    /// Whether a retry may succeed without anything changing but time.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "analytics store unavailable: {why}"),
            StoreError::Database(why) => write!(f, "analytics store error: {why}"),
            StoreError::Protocol(why) => write!(f, "analytics store protocol error: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}
