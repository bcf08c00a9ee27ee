//! Where cached entries live: the [`ObjectStore`] trait and the [`Store`] enum the config
//! chooses from, in the shape of `edgeward-limits`' `CounterStore` + `Store`.
//!
//! Writes are synchronous and immediately visible (the disk store writes its file in the
//! background but serves the entry from memory until then), so a fill that completes is a hit
//! for the very next request. Reads are async (the disk store reads files off the runtime).
//! This module does not decide what is stored or for how long.

mod disk;
mod memory;

use std::future::Future;

pub use disk::DiskStore;
pub use memory::MemoryStore;

use crate::object::Entry;
use crate::purge::Purge;

/// A size-bounded map from cache keys to entries.
pub trait ObjectStore: Send + Sync {
    /// The entry under `key`, if any.
    fn get(&self, key: &str) -> impl Future<Output = Option<Entry>> + Send;
    /// Stores `entry` under `key`, evicting others to stay within the bound; an entry larger
    /// than the whole bound is not stored.
    fn put(&self, key: String, entry: Entry);
    /// Removes `key`; whether it was there.
    fn remove(&self, key: &str) -> bool;
    /// Removes every entry `purge` matches; returns how many.
    fn purge(&self, purge: &Purge) -> usize;
    /// Bytes held now.
    fn size_bytes(&self) -> u64;
    /// Entries held now.
    fn entries(&self) -> usize;
}

/// The store chosen by configuration, dispatched statically.
#[derive(Debug, Clone)]
pub enum Store {
    /// In this process's memory.
    Memory(MemoryStore),
    /// In files, surviving restarts.
    Disk(DiskStore),
}

impl ObjectStore for Store {
    async fn get(&self, key: &str) -> Option<Entry> {
        match self {
            Store::Memory(s) => s.get(key).await,
            Store::Disk(s) => s.get(key).await,
        }
    }
    fn put(&self, key: String, entry: Entry) {
        match self {
            Store::Memory(s) => s.put(key, entry),
            Store::Disk(s) => s.put(key, entry),
        }
    }
    fn remove(&self, key: &str) -> bool {
        match self {
            Store::Memory(s) => s.remove(key),
            Store::Disk(s) => s.remove(key),
        }
    }
    fn purge(&self, purge: &Purge) -> usize {
        match self {
            Store::Memory(s) => s.purge(purge),
            Store::Disk(s) => s.purge(purge),
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Store::Memory(s) => s.size_bytes(),
            Store::Disk(s) => s.size_bytes(),
        }
    }
    fn entries(&self) -> usize {
        match self {
            Store::Memory(s) => s.entries(),
            Store::Disk(s) => s.entries(),
        }
    }
}
