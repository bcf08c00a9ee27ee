//! Picking an origin for a request: weighted round robin, least outstanding requests per
//! unit of weight, or consistent hashing of a caller-given key on a ring of virtual nodes.
//!
//! Owns the schedules and the ring (built once per cluster) and the choice, skipping
//! origins that are down or already tried by this request. Lock-free and allocation-free per
//! request. It does not know what is healthy (the caller's `up`/`trial` say) nor where a
//! key comes from (the proxy extracts ip / header / cookie bytes).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::spec::Balance;

/// Virtual nodes per unit of weight on the consistent-hash ring.
const VNODES_PER_WEIGHT: u32 = 64;
/// Longest round-robin schedule (weights are scaled down past it).
const MAX_SCHEDULE: u32 = 4096;

/// A cluster's balancer.
pub(crate) struct Balancer {
    weights: Box<[u32]>,
    /// Weighted round-robin order of origin indexes (smooth: no bursts to one origin).
    schedule: Box<[u16]>,
    next: AtomicUsize,
    /// Sorted `(point, origin)` when hashing.
    ring: Option<Box<[(u64, u16)]>>,
    least_outstanding: bool,
}

/// What the balancer may ask about origin `i`.
pub(crate) trait Candidates {
    /// In rotation.
    fn up(&self, i: usize) -> bool;
    /// Down, but its half-open trial is due (claims it).
    fn trial(&self, i: usize) -> bool;
    /// Requests in flight.
    fn load(&self, i: usize) -> usize;
}

impl Balancer {
    /// A balancer for origins with `weights` (named by `ids` for the ring).
    pub(crate) fn new(policy: &Balance, weights: &[u32], ids: &[String]) -> Balancer {
        let weights: Box<[u32]> = weights.iter().map(|w| (*w).max(1)).collect();
        let ring = matches!(policy, Balance::ConsistentHash(_)).then(|| ring(&weights, ids));
        Balancer {
            schedule: smooth_schedule(&weights),
            weights,
            next: AtomicUsize::new(0),
            ring,
            least_outstanding: matches!(policy, Balance::LeastOutstanding),
        }
    }

    /// The origin for this attempt, skipping `tried` (bit `i % 64`); `None` if none is usable.
    pub(crate) fn pick(&self, c: &impl Candidates, key: Option<&[u8]>, tried: u64) -> Option<usize> {
        let n = self.weights.len();
        let fresh = |i: usize| tried & (1 << (i % 64)) == 0;
        let first = match (&self.ring, key) {
            (Some(ring), Some(key)) => self.on_ring(ring, key, |i| fresh(i) && c.up(i)),
            _ if self.least_outstanding => self.least_loaded(c, &fresh),
            _ => self.in_turn(|i| fresh(i) && c.up(i)),
        };
        first.or_else(|| {
            // Nothing in rotation: a down origin whose half-open trial is due.
            match (&self.ring, key) {
                (Some(ring), Some(key)) => self.on_ring(ring, key, |i| fresh(i) && c.trial(i)),
                _ => (0..n).find(|&i| fresh(i) && c.trial(i)),
            }
        })
    }

    fn in_turn(&self, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let len = self.schedule.len();
        let start = self.next.fetch_add(1, Relaxed);
        (0..len)
            .map(|k| usize::from(self.schedule[(start + k) % len]))
            .find(|&i| ok(i))
    }

    fn least_loaded(&self, c: &impl Candidates, fresh: &impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.weights.len();
        let start = self.next.fetch_add(1, Relaxed);
        let mut best: Option<(usize, usize)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if !fresh(i) || !c.up(i) {
                continue;
            }
            let load = c.load(i);
            // load_i / w_i < load_b / w_b, without division.
            let better = match best {
                None => true,
                Some((b, load_b)) => {
                    (load as u64) * u64::from(self.weights[b]) < (load_b as u64) * u64::from(self.weights[i])
                }
            };
            if better {
                best = Some((i, load));
            }
        }
        best.map(|(i, _)| i)
    }

    fn on_ring(&self, ring: &[(u64, u16)], key: &[u8], ok: impl Fn(usize) -> bool) -> Option<usize> {
        let h = hash(key);
        let start = ring.partition_point(|(point, _)| *point < h);
        (0..ring.len())
            .map(|k| usize::from(ring[(start + k) % ring.len()].1))
            .find(|&i| ok(i))
    }
}

/// nginx's smooth weighted round robin, unrolled into a fixed order once.
fn smooth_schedule(weights: &[u32]) -> Box<[u16]> {
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let mut scaled: Vec<u32> = weights.iter().map(|w| w / g).collect();
    let total: u32 = scaled.iter().sum();
    if total > MAX_SCHEDULE {
        for w in &mut scaled {
            *w = (u64::from(*w) * u64::from(MAX_SCHEDULE) / u64::from(total)).max(1) as u32;
        }
    }
    let total: i64 = scaled.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; scaled.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(&scaled) {
            *c += i64::from(*w);
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            .expect("at least one origin");
        current[best] -= total;
        order.push(best as u16);
    }
    order.into_boxed_slice()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Points named after the origin (not its index), so adding or removing one origin moves
/// only the keys that hashed next to it.
fn ring(weights: &[u32], ids: &[String]) -> Box<[(u64, u16)]> {
    let mut ring = Vec::new();
    for (i, (w, id)) in weights.iter().zip(ids).enumerate() {
        for v in 0..w.saturating_mul(VNODES_PER_WEIGHT) {
            let mut name = Vec::with_capacity(id.len() + 11);
            name.extend_from_slice(id.as_bytes());
            name.push(b'#');
            name.extend_from_slice(v.to_string().as_bytes());
            ring.push((hash(&name), i as u16));
        }
    }
    ring.sort_unstable();
    ring.into_boxed_slice()
}

/// FNV-1a with a splitmix64 finish: stable across processes, so every edge of a fleet sends a
/// key to the same origin.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::HashKey;

    struct Fake {
        down: Vec<bool>,
        load: Vec<usize>,
    }

    impl Candidates for Fake {
        fn up(&self, i: usize) -> bool {
            !self.down[i]
        }
        fn trial(&self, _: usize) -> bool {
            false
        }
        fn load(&self, i: usize) -> usize {
            self.load[i]
        }
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:80")).collect()
    }

    #[test]
    fn round_robin_follows_weights_smoothly() {
        let b = Balancer::new(&Balance::RoundRobin, &[5, 1, 1], &ids(3));
        let all_up = Fake {
            down: vec![false; 3],
            load: vec![0; 3],
        };
        let picks: Vec<usize> = (0..7).map(|_| b.pick(&all_up, None, 0).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 5);
        // Smooth: the heavy origin never gets more than 3 in a row... and here not even that.
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn down_and_tried_origins_are_skipped() {
        let b = Balancer::new(&Balance::RoundRobin, &[1, 1, 1], &ids(3));
        let c = Fake {
            down: vec![false, true, false],
            load: vec![0; 3],
        };
        for _ in 0..10 {
            let i = b.pick(&c, None, 0b001).unwrap();
            assert_eq!(i, 2);
        }
        assert_eq!(b.pick(&c, None, 0b101), None);
    }

    #[test]
    fn least_outstanding_divides_by_weight() {
        let b = Balancer::new(&Balance::LeastOutstanding, &[1, 4], &ids(2));
        // 2 in flight on weight 1 (2.0) vs 6 on weight 4 (1.5): the second wins.
        let c = Fake {
            down: vec![false; 2],
            load: vec![2, 6],
        };
        for _ in 0..4 {
            assert_eq!(b.pick(&c, None, 0), Some(1));
        }
        let c = Fake {
            down: vec![false; 2],
            load: vec![1, 8],
        };
        assert_eq!(b.pick(&c, None, 0), Some(0));
    }

    #[test]
    fn consistent_hash_is_sticky_and_moves_little() {
        let policy = Balance::ConsistentHash(HashKey::ClientIp);
        let four = Balancer::new(&policy, &[1; 4], &ids(4));
        let up = Fake {
            down: vec![false; 4],
            load: vec![0; 4],
        };
        let keys: Vec<String> = (0..2000).map(|k| format!("192.0.2.{k}")).collect();
        let first: Vec<usize> = keys
            .iter()
            .map(|k| four.pick(&up, Some(k.as_bytes()), 0).unwrap())
            .collect();
        let again: Vec<usize> = keys
            .iter()
            .map(|k| four.pick(&up, Some(k.as_bytes()), 0).unwrap())
            .collect();
        assert_eq!(first, again);
        for i in 0..4 {
            let share = first.iter().filter(|&&p| p == i).count();
            assert!((300..700).contains(&share), "origin {i} got {share} of 2000");
        }
        // Origin 3 down: only its keys move.
        let three_up = Fake {
            down: vec![false, false, false, true],
            load: vec![0; 4],
        };
        for (k, before) in keys.iter().zip(&first) {
            let after = four.pick(&three_up, Some(k.as_bytes()), 0).unwrap();
            if *before != 3 {
                assert_eq!(after, *before, "{k} moved");
            } else {
                assert_ne!(after, 3);
            }
        }
    }
}
