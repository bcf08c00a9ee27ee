//! Rollups: routine requests counted in memory, one row per (millisecond, zone, status).
//!
//! Owns the in-memory tally that [`crate::AnalyticsHandle`] adds routine requests to (a lock
//! per thread shard, a short scan, four additions: no allocation, no queue message, no
//! writer wake-up) and handing the tally to the writer. Does not own the SQL
//! ([`crate::store`]) or when the tally is written ([`crate::queue`]).
//!
//! Rows are keyed by the request's millisecond, not its second, so every time filter of the
//! query API (Unix ms) still splits the counts exactly; at full load that is still at most
//! 1 000 rows per second per zone and status, whatever the request rate.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::event::RoutineRequest;

/// Shards of the tally; threads are spread over them so workers rarely share a lock.
const SHARDS: usize = 16;
/// How many recent rows of a zone a request is matched against before starting a new one.
const RECENT_ROWS: usize = 4;

/// Routine requests of one zone in one millisecond with one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupRow {
    /// The millisecond (Unix ms).
    pub time_ms: i64,
    /// The status sent to the client.
    pub status: u16,
    /// How many requests.
    pub count: u64,
    /// Their request bytes, summed.
    pub bytes_in: u64,
    /// Their response bytes, summed.
    pub bytes_out: u64,
    /// Their durations, summed (µs).
    pub duration_us: u64,
}

/// The rollup rows of one zone.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRollup {
    /// The zone name.
    pub zone: Box<str>,
    /// Its rows, roughly in time order; a key may repeat (readers sum).
    pub rows: Vec<RollupRow>,
}

/// The rows of one shard.
#[derive(Default)]
struct Tally {
    zones: Vec<ZoneRollup>,
    index: HashMap<Box<str>, usize>,
    /// The zone added to last, checked before hashing.
    last: usize,
    /// Set once the writer has stopped: later requests are dropped, not tallied.
    closed: bool,
}

impl Tally {
    fn zone(&mut self, name: &str) -> &mut ZoneRollup {
        if self.zones.get(self.last).is_none_or(|z| &*z.zone != name) {
            self.last = match self.index.get(name) {
                Some(&i) => i,
                None => {
                    self.zones.push(ZoneRollup {
                        zone: name.into(),
                        rows: Vec::new(),
                    });
                    self.index.insert(name.into(), self.zones.len() - 1);
                    self.zones.len() - 1
                }
            };
        }
        &mut self.zones[self.last]
    }

    fn add(&mut self, r: &RoutineRequest<'_>) {
        let rows = &mut self.zone(r.zone).rows;
        let found = rows
            .iter_mut()
            .rev()
            .take(RECENT_ROWS)
            .find(|row| row.time_ms == r.time_ms && row.status == r.status);
        let row = match found {
            Some(row) => row,
            None => {
                rows.push(RollupRow {
                    time_ms: r.time_ms,
                    status: r.status,
                    count: 0,
                    bytes_in: 0,
                    bytes_out: 0,
                    duration_us: 0,
                });
                rows.last_mut().expect("just pushed")
            }
        };
        row.count += 1;
        row.bytes_in = row.bytes_in.saturating_add(r.bytes_in);
        row.bytes_out = row.bytes_out.saturating_add(r.bytes_out);
        row.duration_us = row.duration_us.saturating_add(r.duration_us);
    }
}

/// The tally of routine requests not yet handed to the writer.
pub struct Rollups {
    shards: [Mutex<Tally>; SHARDS],
}

impl Default for Rollups {
    fn default() -> Self {
        Rollups {
            shards: std::array::from_fn(|_| Mutex::new(Tally::default())),
        }
    }
}

impl Rollups {
    /// Counts `r`; returns false (and counts nothing) once [`Rollups::close`] has run.
    pub fn add(&self, r: &RoutineRequest<'_>) -> bool {
        let mut tally = lock(&self.shards[shard()]);
        if tally.closed {
            return false;
        }
        tally.add(r);
        true
    }

    /// Takes every row tallied so far, per zone (zones without rows are left out).
    pub fn take(&self) -> Vec<ZoneRollup> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut tally = lock(shard);
            for z in &mut tally.zones {
                if !z.rows.is_empty() {
                    out.push(ZoneRollup {
                        zone: z.zone.clone(),
                        rows: std::mem::take(&mut z.rows),
                    });
                }
            }
        }
        out
    }

    /// Stops tallying and takes what is left: a request counts either here or as dropped.
    pub fn close(&self) -> Vec<ZoneRollup> {
        for shard in &self.shards {
            lock(shard).closed = true;
        }
        self.take()
    }
}

/// Requests counted in `zones`.
pub fn total(zones: &[ZoneRollup]) -> u64 {
    zones.iter().flat_map(|z| &z.rows).map(|r| r.count).sum()
}

fn lock(shard: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    // A panic while holding the lock leaves at worst a partly updated row: still usable.
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

/// This thread's shard, assigned round-robin on first use.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
        }
        s.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(time_ms: i64, zone: &str, status: u16) -> RoutineRequest<'_> {
        RoutineRequest {
            time_ms,
            zone,
            status,
            bytes_in: 10,
            bytes_out: 100,
            duration_us: 7,
            origin_duration_us: None,
        }
    }

    #[test]
    fn same_millisecond_zone_and_status_share_a_row() {
        let r = Rollups::default();
        for _ in 0..3 {
            assert!(r.add(&req(1_000, "a", 200)));
        }
        r.add(&req(1_000, "a", 304));
        r.add(&req(1_000, "a", 200));
        r.add(&req(1_001, "a", 200));
        r.add(&req(1_000, "b", 200));
        let mut zones = r.take();
        zones.sort_by(|x, y| x.zone.cmp(&y.zone));
        assert_eq!(total(&zones), 7);
        assert_eq!(&*zones[0].zone, "a");
        let rows: Vec<(i64, u16, u64)> = zones[0]
            .rows
            .iter()
            .map(|r| (r.time_ms, r.status, r.count))
            .collect();
        assert_eq!(rows, [(1_000, 200, 4), (1_000, 304, 1), (1_001, 200, 1)]);
        assert_eq!(zones[0].rows[0].bytes_out, 400);
        assert_eq!(zones[0].rows[0].duration_us, 28);
        assert_eq!(zones[1].rows.len(), 1);
        assert!(r.take().is_empty(), "taken rows are gone");
    }

    #[test]
    fn closing_takes_the_rest_and_refuses_more() {
        let r = Rollups::default();
        r.add(&req(1, "a", 200));
        assert_eq!(total(&r.close()), 1);
        assert!(!r.add(&req(2, "a", 200)));
        assert!(r.take().is_empty());
    }
}
