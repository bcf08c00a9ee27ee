//! Size and time limits the codec enforces on one downstream connection.
//!
//! Owns the numbers only; the config crate fills them from TOML and the
//! connection loop applies the timeouts.

use std::time::{Duration, Instant};

/// Limits applied while reading one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request target accepted (bytes); longer gets 414.
    pub max_target_bytes: usize,
    /// Largest header section (all field lines, bytes); larger gets 431.
    pub max_header_bytes: usize,
    /// Largest single field line (name + value, bytes); larger gets 431.
    pub max_field_bytes: usize,
    /// Most header fields in one request; more gets 431.
    pub max_headers: usize,
    /// Largest request body (bytes); larger gets 413.
    pub max_body_bytes: u64,
    /// Seconds a client is told to wait after a temporary 413 (`Retry-After`); `None` = permanent.
    pub body_retry_after: Option<u64>,
    /// Whether a body-carrying request (POST, PUT, PATCH) must have Content-Length (else 411).
    pub require_content_length: bool,
    /// Time allowed to receive a whole request head once its first byte arrived; then 408.
    pub header_timeout: Duration,
    /// Longest pause allowed between two reads of a request body; then 408.
    pub body_timeout: Duration,
    /// Time an idle keep-alive connection is held open waiting for the next request.
    pub keepalive_timeout: Duration,
    /// Slowest request body accepted, in bytes per second on average, once
    /// `min_body_rate_grace` has passed; slower gets 408. 0 turns the check off.
    pub min_body_rate: u64,
    /// Time a request body may take before `min_body_rate` applies.
    pub min_body_rate_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_target_bytes: 32 * 1024,
            max_header_bytes: 64 * 1024,
            max_field_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 100 * 1024 * 1024,
            body_retry_after: None,
            require_content_length: false,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(60),
            min_body_rate: 1024,
            min_body_rate_grace: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The latest instant by which a body that started at `started`, with `received`
    /// bytes in so far, must bring its next byte: the grace period plus one second per
    /// `min_body_rate` bytes received (a body trickling in slower than the rate falls
    /// behind and times out; one that sent fast early has credit). `None` when off.
    pub fn body_rate_deadline(&self, started: Instant, received: u64) -> Option<Instant> {
        if self.min_body_rate == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.min_body_rate as f64);
        started.checked_add(self.min_body_rate_grace.saturating_add(earned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_rate_deadline_moves_one_second_per_rate_bytes_after_the_grace() {
        let limits = Limits::default();
        let t0 = Instant::now();
        assert_eq!(
            limits.body_rate_deadline(t0, 0),
            Some(t0 + Duration::from_secs(10))
        );
        assert_eq!(
            limits.body_rate_deadline(t0, 4096),
            Some(t0 + Duration::from_secs(14))
        );
        let off = Limits {
            min_body_rate: 0,
            ..Limits::default()
        };
        assert_eq!(off.body_rate_deadline(t0, 0), None);
    }
}
