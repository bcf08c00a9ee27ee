//! Sliding-window arithmetic: the policy, the decision, and the one counter model every store
//! agrees with.
//!
//! Time is cut into fixed windows of `period`. The request rate over the sliding window ending
//! at `now` is estimated as `previous × (fraction of the previous window still inside the sliding
//! window) + current`. A request is admitted while that estimate is below the limit (the
//! fractional part of the weighted previous window is rounded down, so a steady client gets the
//! limit rather than one request less); only admitted requests are counted (counting refused ones would let a client over the limit
//! lock itself out for good, and hold a steady 2× client far below the limit).
//!
//! This module owns the math and the in-process [`SlidingCounter`]. It does not own storage,
//! keys or time sources: callers pass `now` as Unix milliseconds, so tests inject time freely.
//! The Redis store's Lua script mirrors [`admits`] exactly; keep the two in step.

use std::time::Duration;

/// A rate-limit policy: at most `requests` per sliding `period`; once over, blocked for
/// `mitigation_timeout` (zero: refused only while over the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Requests admitted per period.
    pub requests: u64,
    /// Length of the sliding window.
    pub period: Duration,
    /// How long a key stays blocked after it first goes over the limit.
    pub mitigation_timeout: Duration,
}

impl Policy {
    /// The period in milliseconds, at least 1 so the window grid is always defined.
    pub fn period_ms(&self) -> u64 {
        (self.period.as_millis() as u64).max(1)
    }

    /// The mitigation timeout in milliseconds.
    pub fn mitigation_ms(&self) -> u64 {
        self.mitigation_timeout.as_millis() as u64
    }

    /// The period in whole seconds (rounded up), as advertised in headers.
    pub fn period_secs(&self) -> u64 {
        ceil_secs(self.period_ms())
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let it through; `remaining` more fit now, the current window ends in `reset_secs`.
    Allow { remaining: u64, reset_secs: u64 },
    /// Refuse it; one more request fits (or the block ends) in `retry_after_secs`.
    Limit { retry_after_secs: u64 },
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// Where an instant falls in the fixed-window grid of one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPos {
    /// Index of the current fixed window (`now / period`).
    pub index: u64,
    /// Milliseconds since the current window started.
    pub elapsed_ms: u64,
    /// The period in milliseconds.
    pub period_ms: u64,
}

impl WindowPos {
    /// The position of `now_ms` in windows of `period_ms` (at least 1).
    pub fn at(now_ms: u64, period_ms: u64) -> WindowPos {
        let period_ms = period_ms.max(1);
        WindowPos {
            index: now_ms / period_ms,
            elapsed_ms: now_ms % period_ms,
            period_ms,
        }
    }

    fn remaining_ms(&self) -> u64 {
        self.period_ms - self.elapsed_ms
    }
}

/// The two fixed-window counts a decision reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Requests counted in the previous fixed window.
    pub previous: u64,
    /// Requests counted in the current fixed window.
    pub current: u64,
}

/// The sliding estimate scaled by `period_ms` (so it stays an exact integer).
fn weighted(counts: Counts, pos: WindowPos) -> u128 {
    counts.previous as u128 * pos.remaining_ms() as u128 + counts.current as u128 * pos.period_ms as u128
}

/// Is there room for one more request? (`previous·(period−elapsed) + current·period <
/// limit·period`, i.e. the sliding estimate is below the limit.)
pub fn admits(counts: Counts, pos: WindowPos, limit: u64) -> bool {
    weighted(counts, pos) < limit as u128 * pos.period_ms as u128
}

/// The decision for an admitted request, given the counts after it was counted.
pub fn allow_decision(after: Counts, pos: WindowPos, policy: &Policy) -> Decision {
    let budget = policy.requests as u128 * pos.period_ms as u128;
    let remaining = budget.saturating_sub(weighted(after, pos)) / pos.period_ms as u128;
    Decision::Allow {
        remaining: remaining as u64,
        reset_secs: ceil_secs(pos.remaining_ms()).max(1),
    }
}

/// The decision for a refused request; `block_ms` is what is left of a mitigation block (0: none).
pub fn limit_decision(counts: Counts, pos: WindowPos, policy: &Policy, block_ms: u64) -> Decision {
    let wait = block_ms.max(retry_after_ms(counts, pos, policy.requests));
    Decision::Limit {
        retry_after_secs: ceil_secs(wait).max(1),
    }
}

/// Milliseconds until one more request would fit, assuming no further requests are counted.
pub fn retry_after_ms(counts: Counts, pos: WindowPos, limit: u64) -> u64 {
    let period = pos.period_ms as u128;
    if limit == 0 {
        return pos.period_ms;
    }
    if admits(counts, pos, limit) {
        return 0;
    }
    // The first whole millisecond e at which prev·(period − e) < room·period holds.
    let first_fit = |prev: u64, room: u64| -> u64 {
        if prev == 0 {
            return 0;
        }
        let slack = (room as u128 * period).div_ceil(prev as u128);
        (period + 1).saturating_sub(slack) as u64
    };
    if counts.current < limit {
        let at = first_fit(counts.previous, limit - counts.current);
        at.saturating_sub(pos.elapsed_ms).max(1)
    } else {
        // The current window is full by itself: wait for it to become the previous one.
        pos.remaining_ms() + first_fit(counts.current, limit)
    }
}

/// Milliseconds to whole seconds, rounded up.
pub fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// The state of one key: two fixed-window counts and a mitigation block.
///
/// The in-process store keeps one of these per key; the Redis script keeps the same state in
/// three keys. Every method takes `now_ms` so tests can drive time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlidingCounter {
    window: u64,
    counts: Counts,
    blocked_until_ms: u64,
}

impl SlidingCounter {
    /// Moves the counts forward to the window containing `pos` (lazy expiry of old windows).
    fn roll(&mut self, pos: WindowPos) {
        if pos.index == self.window {
            return;
        }
        let previous = if pos.index == self.window + 1 {
            self.counts.current
        } else {
            0
        };
        self.counts = Counts { previous, current: 0 };
        self.window = pos.index;
    }

    /// Decides one request at `now_ms`, counting it when admitted and `count` is true.
    pub fn hit(&mut self, policy: &Policy, now_ms: u64, count: bool) -> Decision {
        let pos = WindowPos::at(now_ms, policy.period_ms());
        self.roll(pos);
        if self.blocked_until_ms > now_ms {
            return limit_decision(self.counts, pos, policy, self.blocked_until_ms - now_ms);
        }
        if !admits(self.counts, pos, policy.requests) {
            let block_ms = policy.mitigation_ms();
            if block_ms > 0 {
                self.blocked_until_ms = now_ms + block_ms;
            }
            return limit_decision(self.counts, pos, policy, block_ms);
        }
        if count {
            self.counts.current += 1;
        }
        allow_decision(self.counts, pos, policy)
    }

    /// Counts one request at `now_ms` without deciding.
    pub fn record(&mut self, policy: &Policy, now_ms: u64) {
        self.roll(WindowPos::at(now_ms, policy.period_ms()));
        self.counts.current += 1;
    }

    /// The instant after which this state can no longer influence a decision.
    pub fn expires_at_ms(&self, policy: &Policy) -> u64 {
        let windows_end = (self.window + 2).saturating_mul(policy.period_ms());
        windows_end.max(self.blocked_until_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(requests: u64, period_s: u64, mitigation_s: u64) -> Policy {
        Policy {
            requests,
            period: Duration::from_secs(period_s),
            mitigation_timeout: Duration::from_secs(mitigation_s),
        }
    }

    /// Drives a client sending every `gap_ms` for `total_ms`; returns admitted instants.
    fn steady(policy: &Policy, gap_ms: u64, total_ms: u64) -> Vec<u64> {
        let mut counter = SlidingCounter::default();
        let start = 1_700_000_000_000;
        (0..total_ms / gap_ms)
            .map(|i| start + i * gap_ms)
            .filter(|&t| counter.hit(policy, t, true).is_allowed())
            .map(|t| t - start)
            .collect()
    }

    /// Largest number of admitted instants inside any span of `period_ms`.
    fn worst_window(admitted: &[u64], period_ms: u64) -> usize {
        let mut lo = 0;
        let mut best = 0;
        for hi in 0..admitted.len() {
            while admitted[hi] - admitted[lo] >= period_ms {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }

    #[test]
    fn steady_twice_the_limit_is_held_to_the_limit_within_five_percent() {
        let p = policy(100, 10, 0);
        // 20 requests/s against 10/s allowed, for 100 windows.
        let admitted = steady(&p, 50, 1_000_000);
        let per_window = admitted.len() as f64 / 100.0;
        assert!(
            (per_window - 100.0).abs() <= 5.0,
            "admitted {per_window} per window"
        );
        let worst = worst_window(&admitted, 10_000);
        eprintln!("2x steady client: {per_window} admitted per window of 100, worst sliding window {worst}");
        assert!(worst as f64 <= 105.0, "worst sliding window admitted {worst}");
    }

    #[test]
    fn accuracy_holds_for_other_rates_and_alignments() {
        for (limit, period_s, gap_ms) in [(10, 1, 50), (60, 60, 500), (1000, 10, 5), (7, 3, 213)] {
            let p = policy(limit, period_s, 0);
            let windows = 50;
            let admitted = steady(&p, gap_ms, windows * period_s * 1000);
            let per_window = admitted.len() as f64 / windows as f64;
            let error = (per_window - limit as f64).abs() / limit as f64;
            assert!(error <= 0.05, "limit {limit}: admitted {per_window} per window");
        }
    }

    #[test]
    fn a_burst_is_cut_at_the_limit_and_recovers_as_the_window_slides() {
        let p = policy(10, 10, 0);
        let mut c = SlidingCounter::default();
        let t0 = 10_000;
        let allowed = (0..25).filter(|_| c.hit(&p, t0, true).is_allowed()).count();
        assert_eq!(allowed, 10);
        // One more fits 1 s into the next window, when the full window weighs 9.
        assert_eq!(c.hit(&p, t0, true), Decision::Limit { retry_after_secs: 11 });
        // Half-way into the next window half of the previous window still counts.
        let allowed = (0..25)
            .filter(|_| c.hit(&p, t0 + 15_000, true).is_allowed())
            .count();
        assert_eq!(allowed, 5);
        // Two windows later the burst is forgotten.
        let allowed = (0..25)
            .filter(|_| c.hit(&p, t0 + 30_000, true).is_allowed())
            .count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn remaining_counts_down_and_reset_points_at_the_window_end() {
        let p = policy(3, 60, 0);
        let mut c = SlidingCounter::default();
        let t = 60_000 * 5 + 15_000;
        assert_eq!(
            c.hit(&p, t, true),
            Decision::Allow {
                remaining: 2,
                reset_secs: 45
            }
        );
        assert_eq!(
            c.hit(&p, t, true),
            Decision::Allow {
                remaining: 1,
                reset_secs: 45
            }
        );
        assert_eq!(
            c.hit(&p, t, true),
            Decision::Allow {
                remaining: 0,
                reset_secs: 45
            }
        );
        assert!(!c.hit(&p, t, true).is_allowed());
    }

    #[test]
    fn retry_after_is_when_one_more_fits() {
        let p = policy(10, 10, 0);
        let mut c = SlidingCounter::default();
        for _ in 0..10 {
            c.hit(&p, 0, true);
        }
        // Next window, 2 s in: 10·0.8 = 8 weighted, current 2 → full until the weight drops.
        for _ in 0..2 {
            assert!(c.hit(&p, 12_000, true).is_allowed());
        }
        assert_eq!(c.hit(&p, 12_000, true), Decision::Limit { retry_after_secs: 1 });
        assert!(c.hit(&p, 12_001, true).is_allowed());
        // Now 3 counted: one more fits once the previous window weighs under 7, after 13 s.
        assert!(!c.hit(&p, 13_000, true).is_allowed());
        assert!(c.hit(&p, 13_001, true).is_allowed());
    }

    #[test]
    fn mitigation_blocks_for_the_timeout_regardless_of_counts() {
        let p = policy(5, 1, 30);
        let mut c = SlidingCounter::default();
        for _ in 0..5 {
            assert!(c.hit(&p, 0, true).is_allowed());
        }
        assert_eq!(c.hit(&p, 0, true), Decision::Limit { retry_after_secs: 30 });
        // Counts alone would admit again after 2 s; the block holds for 30 s.
        assert_eq!(c.hit(&p, 10_000, true), Decision::Limit { retry_after_secs: 20 });
        assert!(!c.hit(&p, 29_999, true).is_allowed());
        assert!(c.hit(&p, 30_000, true).is_allowed());
        assert_eq!(c.expires_at_ms(&p), 32_000);
    }

    #[test]
    fn record_counts_and_a_check_only_hit_does_not() {
        let p = policy(3, 60, 0);
        let mut c = SlidingCounter::default();
        for _ in 0..10 {
            assert!(
                c.hit(&p, 1_000, false).is_allowed(),
                "checks alone never fill the window"
            );
        }
        c.record(&p, 1_000);
        c.record(&p, 1_000);
        assert_eq!(
            c.hit(&p, 1_000, false),
            Decision::Allow {
                remaining: 1,
                reset_secs: 59
            }
        );
        c.record(&p, 1_000);
        assert!(!c.hit(&p, 1_000, false).is_allowed());
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let p = policy(0, 10, 0);
        let mut c = SlidingCounter::default();
        assert_eq!(c.hit(&p, 0, true), Decision::Limit { retry_after_secs: 10 });
    }
}
