//! The Redis counter store: counters shared by every edgeward instance pointing at one Redis.
//!
//! Each decision is one round trip: a Lua script (sent as EVALSHA, reloaded when Redis answers
//! NOSCRIPT, e.g. after a restart) reads the block key, the previous window and the current
//! window, applies the same inequality as `window::admits`, INCRs + PEXPIREs the current window
//! when the request is admitted, sets the block key with PX when it goes over the limit, and
//! returns the numbers; the headers' remaining/reset/retry values are derived here in Rust.
//! Per key there are three Redis keys sharing one hash tag: `{key}:w:<window index>` (twice) and
//! `{key}:b`. Instances must have roughly synchronised clocks (window indexes come from `now`).
//!
//! Redis being slow or down never stalls a request for more than the call timeout: the
//! [`FailMode`] decides, failures are counted ([`RedisStore::failures`]) and logged at most once
//! per [`LOG_EVERY_MS`], and `redis::aio::ConnectionManager` reconnects in the background so the
//! store recovers by itself. This module does not own the window math or key naming.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::window::{allow_decision, limit_decision, Counts, Decision, Policy, WindowPos};
use crate::{now_ms, CounterStore, StoreError};

/// Failure log lines are at most this frequent.
pub const LOG_EVERY_MS: u64 = 10_000;

/// After a failed initial connect, new connects are not attempted for this long.
const CONNECT_BACKOFF_MS: u64 = 500;

/// KEYS: current window, previous window, block. ARGV: limit, period ms, elapsed ms,
/// mitigation ms, mode (0 check, 1 hit, 2 record). Returns {admitted, previous, current, block ms}.
const SCRIPT: &str = r#"
local mode = tonumber(ARGV[5])
local period = tonumber(ARGV[2])
if mode == 2 then
  local counted = redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], 2 * period + 1000)
  return {1, 0, counted, 0}
end
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local block = redis.call('PTTL', KEYS[3])
if block > 0 then
  return {0, previous, current, block}
end
local limit = tonumber(ARGV[1])
local elapsed = tonumber(ARGV[3])
if previous * (period - elapsed) + current * period < limit * period then
  if mode == 1 then
    current = redis.call('INCR', KEYS[1])
    redis.call('PEXPIRE', KEYS[1], 2 * period + 1000)
  end
  return {1, previous, current, 0}
end
local mitigation = tonumber(ARGV[4])
if mitigation > 0 then
  redis.call('SET', KEYS[3], '1', 'PX', mitigation)
end
return {0, previous, current, mitigation}
"#;

/// What a Redis-backed decision becomes when Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Allow the request (availability over enforcement).
    #[default]
    Open,
    /// Refuse the request (enforcement over availability).
    Closed,
}

/// How to reach Redis and what to do when it does not answer.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// A `redis://host:port/db` URL.
    pub url: String,
    /// Longest a decision may wait for Redis.
    pub call_timeout: Duration,
    /// Longest one (re)connect attempt may take.
    pub connect_timeout: Duration,
    /// What to decide when Redis fails.
    pub fail_mode: FailMode,
}

impl RedisConfig {
    /// Defaults (50 ms calls, 250 ms connects, fail open) for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            call_timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_millis(250),
            fail_mode: FailMode::Open,
        }
    }
}

/// A [`CounterStore`] in Redis; cheap to clone (clones share the connection and counters).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    next_connect_ms: AtomicU64,
    connecting: AtomicBool,
    script: redis::Script,
    failures: AtomicU64,
    degraded: AtomicBool,
    last_log_ms: AtomicU64,
    unlogged: AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.inner.config)
            .field("failures", &self.failures())
            .finish()
    }
}

impl RedisStore {
    /// A store for `config`; connects lazily, so Redis need not be up yet.
    pub fn new(config: RedisConfig) -> Result<Self, StoreError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("bad redis url: {e}")))?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                config,
                client,
                connection: OnceCell::new(),
                next_connect_ms: AtomicU64::new(0),
                connecting: AtomicBool::new(false),
                script: redis::Script::new(SCRIPT),
                failures: AtomicU64::new(0),
                degraded: AtomicBool::new(false),
                last_log_ms: AtomicU64::new(0),
                unlogged: AtomicU64::new(0),
            }),
        })
    }

    /// A store for `config` that has already connected once (fails if Redis is down).
    pub async fn connect(config: RedisConfig) -> Result<Self, StoreError> {
        let store = RedisStore::new(config)?;
        store.establish().await?;
        Ok(store)
    }

    /// How many calls failed (timed out or errored) and were decided by the fail mode.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// The configured fail mode.
    pub fn fail_mode(&self) -> FailMode {
        self.inner.config.fail_mode
    }

    /// Decides one request in one round trip, reporting failures instead of applying the
    /// fail mode.
    pub async fn try_hit(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
        count: bool,
    ) -> Result<Decision, StoreError> {
        let pos = WindowPos::at(now_ms, policy.period_ms());
        let [admitted, previous, current, block_ms] = self.run(key, policy, pos, u8::from(count)).await?;
        let counts = Counts { previous, current };
        Ok(if admitted == 1 {
            allow_decision(counts, pos, policy)
        } else {
            limit_decision(counts, pos, policy, block_ms)
        })
    }

    /// Counts one request, reporting failures.
    pub async fn try_record(&self, key: &[u8], policy: &Policy, now_ms: u64) -> Result<(), StoreError> {
        let pos = WindowPos::at(now_ms, policy.period_ms());
        self.run(key, policy, pos, 2).await.map(|_| ())
    }

    async fn run(
        &self,
        key: &[u8],
        policy: &Policy,
        pos: WindowPos,
        mode: u8,
    ) -> Result<[u64; 4], StoreError> {
        let timeout = self.inner.config.call_timeout;
        let reply = tokio::time::timeout(timeout, async {
            let mut connection = self.connection()?;
            let mut invocation = self.inner.script.prepare_invoke();
            invocation
                .key(window_key(key, pos.index))
                .key(window_key(key, pos.index.wrapping_sub(1)))
                .key(block_key(key))
                .arg(policy.requests)
                .arg(pos.period_ms)
                .arg(pos.elapsed_ms)
                .arg(policy.mitigation_ms())
                .arg(mode);
            invocation
                .invoke_async::<Vec<i64>>(&mut connection)
                .await
                .map_err(redis_error)
        })
        .await
        .map_err(|_| StoreError::Timeout)??;
        match reply[..] {
            [a, p, c, b] => Ok([a, p, c, b].map(|n| n.max(0) as u64)),
            _ => Err(StoreError::Protocol(format!("expected 4 numbers, got {reply:?}"))),
        }
    }

    /// The shared connection, or `Unavailable` while a first connect runs in the background
    /// (a request never waits for a cold connect; reconnects are the manager's job).
    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(connection) = self.inner.connection.get() {
            return Ok(connection.clone());
        }
        let inner = &self.inner;
        if now_ms() >= inner.next_connect_ms.load(Ordering::Relaxed)
            && !inner.connecting.swap(true, Ordering::AcqRel)
        {
            let store = self.clone();
            tokio::spawn(async move {
                let _ = store.establish().await;
            });
        }
        Err(StoreError::Unavailable("not connected yet".into()))
    }

    /// Makes the first connection; on failure, holds off further attempts for a while.
    async fn establish(&self) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(inner.config.connect_timeout)
            .set_number_of_retries(1)
            .set_factor(10)
            .set_max_delay(200);
        let client = inner.client.clone();
        let made = tokio::time::timeout(
            inner.config.connect_timeout * 2,
            inner
                .connection
                .get_or_try_init(|| ConnectionManager::new_with_config(client, config)),
        )
        .await;
        let result = match made {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(redis_error(error)),
            Err(_) => Err(StoreError::Timeout),
        };
        if result.is_err() {
            inner
                .next_connect_ms
                .store(now_ms() + CONNECT_BACKOFF_MS, Ordering::Relaxed);
        }
        inner.connecting.store(false, Ordering::Release);
        result
    }

    /// Applies the fail mode to a failed call, counting and (rate-limited) logging it.
    fn fail(&self, error: &StoreError, policy: &Policy) -> Decision {
        let inner = &*self.inner;
        inner.failures.fetch_add(1, Ordering::Relaxed);
        // The first failure of a new outage is logged at once; repeats at most every LOG_EVERY_MS.
        let new_outage = !inner.degraded.swap(true, Ordering::Relaxed);
        inner.unlogged.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let last = inner.last_log_ms.load(Ordering::Relaxed);
        let due = new_outage || now.saturating_sub(last) >= LOG_EVERY_MS;
        if due
            && inner
                .last_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let failures = inner.unlogged.swap(0, Ordering::Relaxed);
            tracing::warn!(%error, failures, fail_mode = ?inner.config.fail_mode, "rate-limit redis store failing");
        }
        match inner.config.fail_mode {
            FailMode::Open => Decision::Allow {
                remaining: policy.requests,
                reset_secs: policy.period_secs(),
            },
            FailMode::Closed => Decision::Limit { retry_after_secs: 1 },
        }
    }

    fn succeeded(&self) {
        if self.inner.degraded.load(Ordering::Relaxed) && self.inner.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(
                total_failures = self.failures(),
                "rate-limit redis store recovered"
            );
        }
    }
}

impl CounterStore for RedisStore {
    /// Never returns `Err`: a failed call is decided by the [`FailMode`].
    async fn hit(
        &self,
        key: &[u8],
        policy: &Policy,
        now_ms: u64,
        count: bool,
    ) -> Result<Decision, StoreError> {
        match self.try_hit(key, policy, now_ms, count).await {
            Ok(decision) => {
                self.succeeded();
                Ok(decision)
            }
            Err(error) => Ok(self.fail(&error, policy)),
        }
    }

    /// Never returns `Err`: a lost count is counted as a failure and otherwise ignored.
    async fn record(&self, key: &[u8], policy: &Policy, now_ms: u64) -> Result<(), StoreError> {
        match self.try_record(key, policy, now_ms).await {
            Ok(()) => self.succeeded(),
            Err(error) => {
                self.fail(&error, policy);
            }
        }
        Ok(())
    }
}

fn redis_error(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// `{key}:w:<index>`: the braces make every key of one limiter key share a cluster slot.
fn window_key(key: &[u8], index: u64) -> Vec<u8> {
    let mut out = tagged(key, 24);
    out.extend_from_slice(b":w:");
    out.extend_from_slice(index.to_string().as_bytes());
    out
}

/// `{key}:b`: present while the key is under a mitigation block.
fn block_key(key: &[u8]) -> Vec<u8> {
    let mut out = tagged(key, 2);
    out.extend_from_slice(b":b");
    out
}

fn tagged(key: &[u8], extra: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2 + extra);
    out.push(b'{');
    out.extend_from_slice(key);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_a_hash_tag() {
        assert_eq!(window_key(b"rl:a:1", 7), b"{rl:a:1}:w:7");
        assert_eq!(block_key(b"rl:a:1"), b"{rl:a:1}:b");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_open_quickly_and_is_counted() {
        // Port 1 on loopback: connection refused at once.
        let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1:1/")).unwrap();
        let p = Policy {
            requests: 1,
            period: Duration::from_secs(1),
            mitigation_timeout: Duration::ZERO,
        };
        let started = std::time::Instant::now();
        for _ in 0..20 {
            assert!(store.hit(b"k", &p, now_ms(), true).await.unwrap().is_allowed());
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(store.failures(), 20);
    }

    #[tokio::test]
    async fn fail_closed_limits() {
        let mut config = RedisConfig::new("redis://127.0.0.1:1/");
        config.fail_mode = FailMode::Closed;
        let store = RedisStore::new(config).unwrap();
        let p = Policy {
            requests: 1,
            period: Duration::from_secs(1),
            mitigation_timeout: Duration::ZERO,
        };
        assert_eq!(
            store.hit(b"k", &p, now_ms(), true).await.unwrap(),
            Decision::Limit { retry_after_secs: 1 }
        );
        store.record(b"k", &p, now_ms()).await.unwrap();
        assert_eq!(store.failures(), 2);
    }
}
