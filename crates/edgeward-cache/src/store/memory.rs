//! The in-memory store: a `moka` cache weighted by entry size (TinyLFU admission keeps one-hit
//! wonders from flushing popular objects; eviction is LRU within the size bound).
//!
//! Purges walk the entries and invalidate the matching ones at once (exact counts, O(entries)),
//! which is acceptable for an admin operation. This module owns nothing but the map.

use moka::sync::Cache;

use super::ObjectStore;
use crate::object::Entry;
use crate::purge::Purge;

/// Entries in memory, bounded by their total weight in bytes.
#[derive(Clone)]
pub struct MemoryStore {
    map: Cache<String, Entry>,
    max_bytes: u64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_bytes", &self.max_bytes)
            .field("entries", &self.map.entry_count())
            .finish()
    }
}

impl MemoryStore {
    /// A store holding at most `max_bytes` of entries.
    pub fn new(max_bytes: u64) -> Self {
        let map = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &String, v: &Entry| u32::try_from(v.weight()).unwrap_or(u32::MAX))
            .build();
        MemoryStore { map, max_bytes }
    }

    /// Applies pending evictions now (moka evicts in batches; tests and metrics want exact
    /// numbers).
    pub fn sync(&self) {
        self.map.run_pending_tasks();
    }
}

impl ObjectStore for MemoryStore {
    async fn get(&self, key: &str) -> Option<Entry> {
        self.map.get(key)
    }
    fn put(&self, key: String, entry: Entry) {
        if entry.weight() <= self.max_bytes {
            self.map.insert(key, entry);
        }
    }
    fn remove(&self, key: &str) -> bool {
        self.map.remove(key).is_some()
    }
    fn purge(&self, purge: &Purge) -> usize {
        let mut removed = 0;
        for (key, entry) in self.map.iter() {
            if purge.matches(entry.origin()) {
                self.map.invalidate(key.as_str());
                removed += 1;
            }
        }
        removed
    }
    fn size_bytes(&self) -> u64 {
        self.map.run_pending_tasks();
        self.map.weighted_size()
    }
    fn entries(&self) -> usize {
        self.map.run_pending_tasks();
        self.map.entry_count() as usize
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::object::tests::sample;

    fn object(url: &str, body_len: usize) -> Entry {
        let mut o = sample();
        o.body = bytes::Bytes::from(vec![b'x'; body_len]);
        o.origin.url = url.to_string();
        o.origin.host = url.split('/').next().unwrap().to_string();
        Entry::Object(Arc::new(o))
    }

    #[tokio::test]
    async fn stays_within_its_bound() {
        let store = MemoryStore::new(100_000);
        for i in 0..200 {
            store.put(format!("k{i}"), object(&format!("example.com/{i}"), 1_000));
        }
        store.sync();
        assert!(store.size_bytes() <= 100_000, "{}", store.size_bytes());
        assert!(
            store.entries() > 50 && store.entries() < 100,
            "{}",
            store.entries()
        );
        // An object larger than the bound is refused outright.
        store.put("huge".into(), object("example.com/huge", 200_000));
        assert!(store.get("huge").await.is_none());
    }

    #[tokio::test]
    async fn purge_counts_what_it_removes() {
        let store = MemoryStore::new(10_000_000);
        store.put("a".into(), object("example.com/a", 10));
        store.put("b".into(), object("example.com/b", 10));
        store.put("c".into(), object("other.com/c", 10));
        assert_eq!(store.purge(&Purge::Host("example.com".into())), 2);
        assert!(store.get("a").await.is_none());
        assert!(store.get("c").await.is_some());
        assert_eq!(store.purge(&Purge::Everything), 1);
    }
}
