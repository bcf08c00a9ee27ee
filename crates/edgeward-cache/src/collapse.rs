//! Request collapsing: of N concurrent misses for one key, the first becomes the leader and
//! fetches; the others wait (up to a bound) for the leader's fill to finish and then look up
//! again. When the leader's response was not stored, the waiters all go to the origin at once
//! instead of queueing one by one (the "hit-for-pass" idea).
//!
//! The leader's [`Leader`] guard ends the wait when dropped, however the fill ends (stored, not
//! storable, failed, cancelled), so waiters never hang past the bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// How a fill ended, as waiters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillState {
    /// The leader is still fetching.
    Pending,
    /// Stored: look up again.
    Stored,
    /// Not stored: fetch without waiting.
    NotStored,
}

#[derive(Default)]
struct Inner {
    inflight: Mutex<HashMap<String, (u64, watch::Receiver<FillState>)>>,
    next_id: AtomicU64,
}

/// The in-flight fills, by key.
#[derive(Clone, Default)]
pub struct Collapser {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Collapser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Collapser")
    }
}

/// What a miss does.
pub enum Join {
    /// Fetch and fill; drop (or [`Leader::finish`]) when done.
    Leader(Leader),
    /// Another request is filling: wait for it.
    Wait(watch::Receiver<FillState>),
}

/// The guard of the one fill in flight for a key.
pub struct Leader {
    key: String,
    id: u64,
    tx: watch::Sender<FillState>,
    owner: Collapser,
}

impl std::fmt::Debug for Leader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leader").field("key", &self.key).finish()
    }
}

impl Collapser {
    /// Joins the fill of `key`: leads it if none is in flight.
    pub fn join(&self, key: &str) -> Join {
        let mut map = self.inner.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, rx)) = map.get(key) {
            if *rx.borrow() == FillState::Pending {
                return Join::Wait(rx.clone());
            }
        }
        let (tx, rx) = watch::channel(FillState::Pending);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        map.insert(key.to_string(), (id, rx));
        Join::Leader(Leader {
            key: key.to_string(),
            id,
            tx,
            owner: self.clone(),
        })
    }

    /// Fills in flight now.
    pub fn in_flight(&self) -> usize {
        self.inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// Waits for a fill to end, up to `bound`; `Pending` when the bound passed first.
pub async fn wait(mut rx: watch::Receiver<FillState>, bound: Duration) -> FillState {
    match tokio::time::timeout(bound, rx.wait_for(|s| *s != FillState::Pending)).await {
        Ok(Ok(state)) => *state,
        // The sender is gone without a verdict: treat as not stored.
        Ok(Err(_)) => FillState::NotStored,
        Err(_) => FillState::Pending,
    }
}

impl Leader {
    /// Ends the fill with `state`, waking the waiters.
    pub fn finish(self, state: FillState) {
        let _ = self.tx.send(state);
        // Drop removes the in-flight entry.
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if *self.tx.borrow() == FillState::Pending {
            let _ = self.tx.send(FillState::NotStored);
        }
        let mut map = self
            .owner
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_and_waiters_woken_by_its_verdict() {
        let c = Collapser::default();
        let Join::Leader(leader) = c.join("k") else {
            panic!("first is leader")
        };
        let Join::Wait(rx) = c.join("k") else {
            panic!("second waits")
        };
        assert!(matches!(c.join("other"), Join::Leader(_)));
        let waiter = tokio::spawn(wait(rx, Duration::from_secs(5)));
        leader.finish(FillState::Stored);
        assert_eq!(waiter.await.unwrap(), FillState::Stored);
        assert_eq!(c.in_flight(), 0);
        assert!(matches!(c.join("k"), Join::Leader(_)));
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_waiters_as_not_stored() {
        let c = Collapser::default();
        let Join::Leader(leader) = c.join("k") else {
            panic!()
        };
        let Join::Wait(rx) = c.join("k") else { panic!() };
        drop(leader);
        assert_eq!(wait(rx, Duration::from_secs(5)).await, FillState::NotStored);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_is_bounded() {
        let c = Collapser::default();
        let Join::Leader(_leader) = c.join("k") else {
            panic!()
        };
        let Join::Wait(rx) = c.join("k") else { panic!() };
        assert_eq!(wait(rx, Duration::from_millis(100)).await, FillState::Pending);
    }
}
