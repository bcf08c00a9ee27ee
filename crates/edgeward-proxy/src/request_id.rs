//! Request ids ("Ray IDs"): 16 hex digits, unique per process run, made without allocation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// One request's id, as ASCII hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 16]);

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SEED: OnceLock<u64> = OnceLock::new();

impl RequestId {
    /// The next id: a per-process counter scrambled with a random per-process seed,
    /// so ids are unique within a run and hard to guess across runs.
    pub fn next() -> Self {
        let seed = *SEED.get_or_init(|| {
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let addr = &COUNTER as *const _ as u64;
            splitmix(t ^ addr.rotate_left(32) ^ u64::from(std::process::id()))
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // splitmix64 is a bijection, so distinct counters give distinct ids.
        let v = splitmix(n.wrapping_add(seed));
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = b"0123456789abcdef"[((v >> (60 - 4 * i)) & 0xf) as usize];
        }
        RequestId(out)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("0000000000000000")
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_hex() {
        let ids: HashSet<String> = (0..10_000).map(|_| RequestId::next().to_string()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())));
    }
}
