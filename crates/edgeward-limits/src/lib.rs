//! edgeward's rate limiting: the sliding-window algorithm and where its counters live.
//!
//! A [`Policy`] (requests per period, mitigation timeout) is enforced per key by a
//! [`CounterStore`], which counts and decides in one step: in process ([`MemoryStore`]) or
//! shared by several edgeward instances through Redis ([`RedisStore`], one round trip per
//! decision). [`Store`] holds whichever one the config chose; [`Limiter`] builds namespaced keys
//! from a rule id and the request's counting characteristics; [`ratelimit_headers`] renders the
//! IETF `RateLimit-Policy` / `RateLimit` response headers.
//!
//! This crate does not match requests to rules, extract characteristics or render the 429 page;
//! those belong to the rules engine, the proxy pipeline and the error catalog.

mod headers;
mod limiter;
mod memory;
mod redis;
mod window;

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

pub use headers::{ratelimit_headers, RATELIMIT, RATELIMIT_POLICY};
pub use limiter::{Limiter, KEY_SEPARATOR};
pub use memory::{MemoryStore, DEFAULT_MAX_ENTRIES, SHARDS};
pub use redis::{FailMode, RedisConfig, RedisStore};
pub use window::{Decision, Policy, SlidingCounter};

/// Counts hits per key and decides; implemented by every place counters can live.
///
/// Time is passed in as Unix milliseconds so decisions are reproducible in tests; use
/// [`now_ms`] in production.
pub trait CounterStore: Send + Sync {
    /// Counts one hit for `key` (unless `count` is false: then only checks whether one more
    /// counted request would fit) and decides, in one round trip.
    fn hit(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
        count: bool,
    ) -> impl Future<Output = Result<Decision, StoreError>> + Send;

    /// Counts one hit for `key` without deciding (rules that count by response status).
    fn record(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why a store could not decide.
#[derive(Debug)]
pub enum StoreError {
    /// The store did not answer within its call timeout.
    Timeout,
    /// The store is unreachable (connection refused, reset, or reconnect back-off).
    Unavailable(String),
    /// The store answered with something other than the expected decision numbers.
    Protocol(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Timeout => f.write_str("rate-limit store timed out"),
            StoreError::Unavailable(why) => write!(f, "rate-limit store unavailable: {why}"),
            StoreError::Protocol(why) => write!(f, "rate-limit store protocol error: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The store chosen by configuration, dispatched statically.
#[derive(Debug, Clone)]
pub enum Store {
    /// Counters in this process.
    Memory(MemoryStore),
    /// Counters shared through Redis.
    Redis(RedisStore),
}

impl CounterStore for Store {
    async fn hit(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
        count: bool,
    ) -> Result<Decision, StoreError> {
        match self {
            Store::Memory(store) => store.hit(key, policy, now_ms, count).await,
            Store::Redis(store) => store.hit(key, policy, now_ms, count).await,
        }
    }

    async fn record(&self, key: &[u8], policy: &Policy, now_ms: u64) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => store.record(key, policy, now_ms).await,
            Store::Redis(store) => store.record(key, policy, now_ms).await,
        }
    }
}

impl<S: CounterStore> CounterStore for std::sync::Arc<S> {
    fn hit(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
        count: bool,
    ) -> impl Future<Output = Result<Decision, StoreError>> + Send {
        (**self).hit(key, policy, now_ms, count)
    }

    fn record(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).record(key, policy, now_ms)
    }
}

/// The wall clock as Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
