//! The entry point the proxy calls: rule id + counting characteristics → store key → decision.
//!
//! Keys are namespaced as `rl:{rule_id}:{part}\x1f{part}…` so rules never share counters and
//! parts cannot run into each other. The key is assembled in a stack buffer ([`INLINE_KEY`]
//! bytes) and only spills to the heap for unusually long characteristics. Store errors never
//! reach the caller: the Redis store already applies its fail mode, and anything else fails
//! open (a rate limiter must not take the site down).

use crate::window::{Decision, Policy};
use crate::{now_ms, CounterStore};

/// Byte placed between key parts (ASCII unit separator).
pub const KEY_SEPARATOR: u8 = 0x1f;

/// Keys up to this many bytes are built without allocating.
const INLINE_KEY: usize = 256;

/// Decides requests for rules against one [`CounterStore`].
#[derive(Debug, Clone)]
pub struct Limiter<S> {
    store: S,
}

impl<S: CounterStore> Limiter<S> {
    /// A limiter over `store`.
    pub fn new(store: S) -> Self {
        Limiter { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Counts this request for `rule_id` and the key `key_parts`, and decides, now.
    pub async fn check(&self, rule_id: &str, key_parts: &[&[u8]], policy: &Policy) -> Decision {
        self.check_at(rule_id, key_parts, policy, now_ms(), true).await
    }

    /// Decides without counting (for rules that count by response status via [`Limiter::record`]).
    pub async fn peek(&self, rule_id: &str, key_parts: &[&[u8]], policy: &Policy) -> Decision {
        self.check_at(rule_id, key_parts, policy, now_ms(), false).await
    }

    /// [`Limiter::check`] at an explicit instant, counting only when `count` is set.
    pub async fn check_at(
        &self,
        rule_id: &str,
        key_parts: &[&[u8]],
        policy: &Policy,
        now_ms: u64,
        count: bool,
    ) -> Decision {
        let key = KeyBuf::new(rule_id, key_parts);
        match self.store.hit(key.as_bytes(), policy, now_ms, count).await {
            Ok(decision) => decision,
            Err(error) => {
                tracing::debug!(%error, rule_id, "rate-limit store failed; allowing");
                Decision::Allow {
                    remaining: policy.requests,
                    reset_secs: policy.period_secs(),
                }
            }
        }
    }

    /// Counts one request after the fact (e.g. once its response status is known).
    pub async fn record(&self, rule_id: &str, key_parts: &[&[u8]], policy: &Policy) {
        let key = KeyBuf::new(rule_id, key_parts);
        if let Err(error) = self.store.record(key.as_bytes(), policy, now_ms()).await {
            tracing::debug!(%error, rule_id, "rate-limit store failed to record");
        }
    }
}

/// A store key, inline when short.
// The inline variant is big on purpose: it is the stack buffer that saves the allocation.
#[allow(clippy::large_enum_variant)]
enum KeyBuf {
    Inline { bytes: [u8; INLINE_KEY], len: usize },
    Heap(Vec<u8>),
}

impl KeyBuf {
    fn new(rule_id: &str, parts: &[&[u8]]) -> KeyBuf {
        let len = 4 + rule_id.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>().saturating_sub(1);
        let pieces = std::iter::once(&b"rl:"[..])
            .chain([rule_id.as_bytes(), b":"])
            .chain(parts.iter().enumerate().flat_map(|(i, part)| {
                let sep: &[u8] = if i == 0 { b"" } else { &[KEY_SEPARATOR] };
                [sep, *part]
            }));
        if len > INLINE_KEY {
            return KeyBuf::Heap(pieces.flatten().copied().collect());
        }
        let mut bytes = [0u8; INLINE_KEY];
        let mut at = 0;
        for piece in pieces {
            bytes[at..at + piece.len()].copy_from_slice(piece);
            at += piece.len();
        }
        KeyBuf::Inline { bytes, len: at }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            KeyBuf::Inline { bytes, len } => &bytes[..*len],
            KeyBuf::Heap(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use std::time::Duration;

    #[test]
    fn keys_are_namespaced_and_separated() {
        assert_eq!(
            KeyBuf::new("login", &[b"1.2.3.4", b"/a"]).as_bytes(),
            b"rl:login:1.2.3.4\x1f/a"
        );
        assert_eq!(KeyBuf::new("r", &[]).as_bytes(), b"rl:r:");
        assert_eq!(KeyBuf::new("r", &[b"x"]).as_bytes(), b"rl:r:x");
    }

    #[test]
    fn long_keys_spill_to_the_heap_unchanged() {
        let long = vec![b'z'; 400];
        let key = KeyBuf::new("r", &[b"ip", &long]);
        assert!(matches!(key, KeyBuf::Heap(_)));
        assert_eq!(key.as_bytes().len(), 5 + 2 + 1 + 400);
        assert!(matches!(KeyBuf::new("r", &[&long[..250]]), KeyBuf::Inline { .. }));
    }

    #[tokio::test]
    async fn rules_and_parts_do_not_share_counters() {
        let limiter = Limiter::new(MemoryStore::new());
        let p = Policy {
            requests: 1,
            period: Duration::from_secs(60),
            mitigation_timeout: Duration::ZERO,
        };
        assert!(limiter.check("a", &[b"ip1"], &p).await.is_allowed());
        assert!(!limiter.check("a", &[b"ip1"], &p).await.is_allowed());
        assert!(limiter.check("b", &[b"ip1"], &p).await.is_allowed());
        assert!(limiter.check("a", &[b"ip", b"1"], &p).await.is_allowed());
    }

    #[tokio::test]
    async fn record_then_peek() {
        let limiter = Limiter::new(MemoryStore::new());
        let p = Policy {
            requests: 2,
            period: Duration::from_secs(60),
            mitigation_timeout: Duration::ZERO,
        };
        assert!(limiter.peek("404s", &[b"ip"], &p).await.is_allowed());
        limiter.record("404s", &[b"ip"], &p).await;
        limiter.record("404s", &[b"ip"], &p).await;
        assert!(!limiter.peek("404s", &[b"ip"], &p).await.is_allowed());
    }
}
