//! A batch: the unit of delivery, spooling and exactly-once writing.
//!
//! Owns the batch's shape (an id unique per instance, the instance name, detail events and
//! rollup rows), its spool encoding and the id sequence. A store writes a batch atomically and
//! remembers its `(instance, id)`, so a batch delivered twice (a retry after an ambiguous
//! failure, a spool replayed after a crash) is counted once. Does not own when batches are
//! cut or retried ([`crate::delivery`]).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::rollup::{self, ZoneRollup};

/// Events and rollups of one instance, written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Batch {
    /// Unique per instance, increasing over time and across restarts (see [`BatchIds`]).
    pub id: u64,
    /// The edge that recorded these events.
    pub instance: String,
    /// When the batch was cut (Unix ms); delivery lag is measured from it.
    pub created_ms: i64,
    /// Events stored in full.
    pub events: Vec<Event>,
    /// Routine requests, counted.
    pub rollups: Vec<ZoneRollup>,
}

impl Batch {
    /// The requests this batch counts: one per detail event plus every rollup row's count.
    pub fn requests(&self) -> u64 {
        self.events.len() as u64 + rollup::total(&self.rollups)
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.rollups.iter().all(|z| z.rows.is_empty())
    }

    /// The earliest request time in the batch (Unix ms), or `created_ms` when empty.
    pub fn min_time_ms(&self) -> i64 {
        let events = self.events.iter().map(|e| e.time_ms);
        let rows = self.rollups.iter().flat_map(|z| &z.rows).map(|r| r.time_ms);
        events.chain(rows).min().unwrap_or(self.created_ms)
    }

    /// The spool encoding (JSON: readable when an operator looks into the spool).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a batch always serialises")
    }

    /// Reads a spooled batch.
    pub fn decode(bytes: &[u8]) -> Result<Batch, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// Hands out batch ids: the first is the start time in microseconds, then one more each.
///
/// Batches are cut at most a few thousand times a second, far slower than the microsecond
/// clock, so ids of a restarted edge start above every id it used before.
#[derive(Debug)]
pub struct BatchIds {
    next: u64,
}

impl Default for BatchIds {
    fn default() -> Self {
        let us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        BatchIds { next: us }
    }
}

impl BatchIds {
    /// The next id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::RollupRow;

    #[test]
    fn encoding_round_trips_and_counts_requests() {
        let b = Batch {
            id: 7,
            instance: "edge-a".into(),
            created_ms: 5_000,
            events: vec![Event {
                time_ms: 4_000,
                status: 404,
                ..Event::default()
            }],
            rollups: vec![ZoneRollup {
                zone: "z".into(),
                rows: vec![RollupRow {
                    time_ms: 3_000,
                    status: 200,
                    count: 9,
                    bytes_in: 1,
                    bytes_out: 2,
                    duration_us: 3,
                }],
            }],
        };
        assert_eq!(b.requests(), 10);
        assert_eq!(b.min_time_ms(), 3_000);
        assert_eq!(Batch::decode(&b.encode()).unwrap(), b);
        assert!(Batch::decode(b"{").is_err());
        assert!(Batch::default().is_empty());
    }

    #[test]
    fn ids_increase_and_start_above_a_restarted_predecessor() {
        let mut a = BatchIds::default();
        let first = a.next_id();
        assert_eq!(a.next_id(), first + 1);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(BatchIds::default().next_id() > first + 1);
    }
}
