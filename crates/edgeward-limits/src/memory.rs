//! The in-process counter store: one edgeward instance, no network.
//!
//! Keys are spread over [`SHARDS`] independently locked hash maps chosen by a keyed hash of the
//! key, so concurrent requests for different keys rarely meet on a lock and there is no global
//! mutex on the hot path. Memory is bounded: each shard holds at most a fixed number of entries;
//! stale entries are dropped lazily (a stale window is reset when its key is next seen), by
//! [`MemoryStore::sweep`] (run periodically by [`MemoryStore::spawn_sweeper`]), and, when a shard
//! is full, expired entries go first and then the soonest-to-expire of a small sample.
//!
//! This module does not own the window math (see `window`) or key naming (see `limiter`).

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::window::{Decision, Policy, SlidingCounter};
use crate::{now_ms, CounterStore, StoreError};

/// Number of independently locked shards.
pub const SHARDS: usize = 64;

/// Default bound on the number of keys held by one store.
pub const DEFAULT_MAX_ENTRIES: usize = 1 << 20;

/// How many entries a full shard samples to choose one to evict.
const EVICTION_SAMPLE: usize = 8;

/// A full shard rescans for expired entries at most this often.
const PURGE_INTERVAL_MS: u64 = 1_000;

/// A lock-sharded in-memory [`CounterStore`]; cheap to clone (clones share counters).
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Shard]>,
    shard_hasher: RandomState,
    max_per_shard: usize,
}

/// One lock and its map, aligned so neighbouring locks do not share a cache line.
#[repr(align(64))]
struct Shard {
    map: Mutex<ShardMap>,
}

#[derive(Default)]
struct ShardMap {
    entries: HashMap<Box<[u8]>, Entry>,
    last_purge_ms: u64,
}

struct Entry {
    counter: SlidingCounter,
    expires_at_ms: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_max_entries(DEFAULT_MAX_ENTRIES)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_entries", &(self.inner.max_per_shard * SHARDS))
            .finish()
    }
}

impl MemoryStore {
    /// A store bounded to [`DEFAULT_MAX_ENTRIES`] keys.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// A store bounded to about `max_entries` keys (rounded up to a multiple of [`SHARDS`]).
    pub fn with_max_entries(max_entries: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| Shard {
                map: Mutex::new(ShardMap::default()),
            })
            .collect();
        MemoryStore {
            inner: Arc::new(Inner {
                shards,
                shard_hasher: RandomState::new(),
                max_per_shard: max_entries.div_ceil(SHARDS).max(1),
            }),
        }
    }

    /// Decides one request for `key` at `now_ms`, counting it when admitted and `count` is set.
    pub fn hit_at(&self, key: &[u8], policy: &Policy, now_ms: u64, count: bool) -> Decision {
        self.with_entry(key, now_ms, |entry| {
            let decision = entry.counter.hit(policy, now_ms, count);
            entry.expires_at_ms = entry.counter.expires_at_ms(policy);
            decision
        })
    }

    /// Counts one request for `key` at `now_ms` without deciding.
    pub fn record_at(&self, key: &[u8], policy: &Policy, now_ms: u64) {
        self.with_entry(key, now_ms, |entry| {
            entry.counter.record(policy, now_ms);
            entry.expires_at_ms = entry.counter.expires_at_ms(policy);
        })
    }

    /// Number of keys currently held (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(&s.map).entries.len()).sum()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry that can no longer influence a decision at `now_ms`; returns how many.
    pub fn sweep(&self, now_ms: u64) -> usize {
        self.inner
            .shards
            .iter()
            .map(|shard| lock(&shard.map).purge(now_ms))
            .sum()
    }

    /// Sweeps every `every` on the current tokio runtime until the last clone is dropped.
    pub fn spawn_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let removed = MemoryStore { inner }.sweep(now_ms());
                tracing::trace!(removed, "rate-limit memory store swept");
            }
        })
    }

    fn with_entry<T>(&self, key: &[u8], now_ms: u64, f: impl FnOnce(&mut Entry) -> T) -> T {
        let index = self.inner.shard_hasher.hash_one(key) as usize % SHARDS;
        let mut map = lock(&self.inner.shards[index].map);
        if let Some(entry) = map.entries.get_mut(key) {
            return f(entry);
        }
        map.make_room(self.inner.max_per_shard, now_ms);
        let entry = map.entries.entry(key.into()).or_insert(Entry {
            counter: SlidingCounter::default(),
            expires_at_ms: 0,
        });
        f(entry)
    }
}

impl ShardMap {
    fn purge(&mut self, now_ms: u64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, entry| entry.expires_at_ms > now_ms);
        self.last_purge_ms = now_ms;
        before - self.entries.len()
    }

    /// Frees one slot when the shard is full: expired entries first, then a sampled victim.
    fn make_room(&mut self, max: usize, now_ms: u64) {
        if self.entries.len() < max {
            return;
        }
        // A full rescan is O(n): under a flood of new keys do it at most once per interval.
        if now_ms.saturating_sub(self.last_purge_ms) >= PURGE_INTERVAL_MS {
            self.purge(now_ms);
        }
        if self.entries.len() < max {
            return;
        }
        let victim = self
            .entries
            .iter()
            .take(EVICTION_SAMPLE)
            .min_by_key(|(_, entry)| entry.expires_at_ms)
            .map(|(key, _)| key.clone());
        if let Some(key) = victim {
            self.entries.remove(&key);
        }
    }
}

/// Locks a shard; a panic while holding it cannot leave a counter half-updated, so poisoning is
/// ignored.
fn lock(mutex: &Mutex<ShardMap>) -> MutexGuard<'_, ShardMap> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CounterStore for MemoryStore {
    fn hit(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
        count: bool,
    ) -> impl Future<Output = Result<Decision, StoreError>> + Send {
        std::future::ready(Ok(self.hit_at(key, policy, now_ms, count)))
    }

    fn record(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.record_at(key, policy, now_ms);
        std::future::ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(requests: u64, period_s: u64) -> Policy {
        Policy {
            requests,
            period: Duration::from_secs(period_s),
            mitigation_timeout: Duration::ZERO,
        }
    }

    #[test]
    fn keys_are_counted_independently() {
        let store = MemoryStore::new();
        let p = policy(2, 60);
        assert!(store.hit_at(b"a", &p, 0, true).is_allowed());
        assert!(store.hit_at(b"a", &p, 0, true).is_allowed());
        assert!(!store.hit_at(b"a", &p, 0, true).is_allowed());
        assert!(store.hit_at(b"b", &p, 0, true).is_allowed());
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn steady_twice_the_limit_through_the_store() {
        let store = MemoryStore::new();
        let p = policy(50, 5);
        // 20/s against 10/s for 40 windows, with injected time.
        let admitted = (0..4_000u64).filter(|i| store.hit_at(b"ip:1", &p, 1_000 + i * 50, true).is_allowed());
        let per_window = admitted.count() as f64 / 40.0;
        assert!(
            (per_window - 50.0).abs() <= 2.5,
            "admitted {per_window} per window"
        );
    }

    #[test]
    fn record_then_check_only() {
        let store = MemoryStore::new();
        let p = policy(2, 10);
        store.record_at(b"k", &p, 0);
        assert!(store.hit_at(b"k", &p, 0, false).is_allowed());
        store.record_at(b"k", &p, 0);
        assert!(!store.hit_at(b"k", &p, 0, false).is_allowed());
        assert!(store.hit_at(b"k", &p, 20_000, false).is_allowed());
    }

    #[test]
    fn sweep_drops_only_expired_entries() {
        let store = MemoryStore::new();
        let p = policy(10, 10);
        store.hit_at(b"old", &p, 0, true);
        store.hit_at(b"new", &p, 15_000, true);
        assert_eq!(store.sweep(19_999), 0);
        assert_eq!(store.sweep(20_000), 1);
        assert_eq!(store.len(), 1);
        assert_eq!(store.sweep(30_000), 1);
        assert!(store.is_empty());
    }

    #[test]
    fn a_full_store_stays_bounded_and_evicts_expired_first() {
        let store = MemoryStore::with_max_entries(SHARDS * 8);
        let p = policy(10, 1);
        for i in 0..10_000u32 {
            store.hit_at(&i.to_be_bytes(), &p, 0, true);
        }
        assert_eq!(store.len(), SHARDS * 8);
        // Once the flood has expired, new keys push out expired entries, not each other.
        let fresh: Vec<String> = (0..16).map(|i| format!("fresh{i}")).collect();
        for key in &fresh {
            store.hit_at(key.as_bytes(), &p, 5_000, true);
        }
        for key in &fresh {
            let decision = store.hit_at(key.as_bytes(), &p, 5_000, false);
            assert_eq!(
                decision,
                Decision::Allow {
                    remaining: 9,
                    reset_secs: 1
                },
                "{key} was evicted"
            );
        }
        assert!(store.len() <= SHARDS * 8);
    }

    #[tokio::test]
    async fn the_sweeper_stops_when_the_store_is_dropped() {
        let store = MemoryStore::new();
        let sweeper = store.spawn_sweeper(Duration::from_millis(5));
        drop(store);
        tokio::time::timeout(Duration::from_secs(2), sweeper)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn the_trait_decides_like_the_inherent_methods() {
        let store = MemoryStore::new();
        let p = policy(1, 10);
        assert!(store.hit(b"t", &p, 0, true).await.unwrap().is_allowed());
        store.record(b"t", &p, 0).await.unwrap();
        assert!(!store.hit(b"t", &p, 0, false).await.unwrap().is_allowed());
    }
}
