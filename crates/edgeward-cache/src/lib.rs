//! edgeward's shared HTTP cache at the edge: RFC 9111 semantics (storability, freshness and
//! age, `Vary`, revalidation, invalidation, stale-while-revalidate and stale-if-error), RFC 9213
//! targeted cache control (`Edgeward-CDN-Cache-Control` over `CDN-Cache-Control` over
//! `Cache-Control`), conditional requests and ranges answered from stored representations
//! (RFC 9110 §13, §14), request collapsing, compression (gzip, br, zstd), stores (memory, disk)
//! and purge (URL, prefix, host, tag, everything; fanned out over Redis pub/sub).
//!
//! The proxy calls, per request (see [`Cache`]):
//! 1. [`Cache::lookup`] with a [`CacheRequest`] → [`Lookup`]: `Hit` → [`Cache::serve`];
//!    `Miss`/`Revalidate` → fetch with [`Fill::origin_method`] + [`Fill::origin_headers`], then
//!    [`Cache::complete`] (or [`Cache::origin_failed`] when the origin is unreachable); `Pass` →
//!    forward, then [`Cache::invalidate`]; `GatewayTimeout` → 504.
//! 2. Compression around it: [`compress::negotiate`] + [`compress::compressed_head`] +
//!    [`compress::CompressBody`] on the origin response *before* [`Cache::complete`], so each
//!    encoding is cached as its own variant.
//!
//! Module map: `directives` (parsing), `freshness` (lifetimes, age, reuse), `storable`,
//! `key` (primary and Vary keys), `conditional` + `range` (edge-answered 304/412/206/416),
//! `revalidate` (fill requests, 304 updates, invalidation targets), `engine` + `fill` (the
//! calls above), `serve` (answers and bodies), `tee`, `collapse`, `store`, `purge`, `compress`,
//! `settings` (typed config), `status` (cache status values and `Cache-Status`).
//!
//! This crate does not parse TOML (`edgeward-config`), match rule expressions (the proxy does,
//! with `edgeward-rules`, through [`ZoneCache::select`]), render errors (412 and 504 are the
//! catalog's) or route admin requests.

pub mod compress;
pub mod conditional;
pub mod directives;
pub mod freshness;
pub mod key;
pub mod range;
pub mod revalidate;
pub mod storable;

mod collapse;
mod engine;
mod fill;
mod object;
mod purge;
mod serve;
mod settings;
mod status;
mod store;
mod tee;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use conditional::{evaluate_preconditions, Precondition};
pub use engine::{Cache, CacheRequest, Fill, Hit, Lookup};
pub use fill::CACHE_TAG;
pub use freshness::Heuristic;
pub use object::{Entry, Object, Origin, VaryMarker};
pub use purge::{FanoutError, Purge, PurgeFanout};
pub use serve::{Answer, CacheBody};
pub use settings::{
    CacheAction, CachePolicy, CacheRule, CacheSettings, CompressionSettings, EdgeTtl, KeyOptions,
    PurgeChannel, QueryKey, Selected, StoreSettings, ZoneCache,
};
pub use status::{cache_status_value, CacheStatus, StatusDetail, CACHE_STATUS, EDGEWARD_CACHE_STATUS};
pub use store::{DiskStore, MemoryStore, ObjectStore, Store};
pub use tee::TeeBody;

/// Where the cache reads the time (Unix milliseconds).
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> u64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        freshness::system_ms(std::time::SystemTime::now())
    }
}

/// A clock tests move by hand.
#[derive(Debug, Clone, Default)]
pub struct MockClock(Arc<AtomicU64>);

impl MockClock {
    /// A clock showing `ms`.
    pub fn at(ms: u64) -> Self {
        MockClock(Arc::new(AtomicU64::new(ms)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for MockClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Opens the store `settings` name.
pub fn open_store(settings: &StoreSettings) -> std::io::Result<Store> {
    Ok(match settings {
        StoreSettings::Memory { max_bytes } => Store::Memory(MemoryStore::new(*max_bytes)),
        StoreSettings::Disk { path, max_bytes } => Store::Disk(DiskStore::open(path, *max_bytes)?),
    })
}
