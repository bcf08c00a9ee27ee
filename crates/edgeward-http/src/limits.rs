//! Size and time limits the codec enforces on one downstream connection.
//!
//! Owns the numbers only; the config crate fills them from TOML and the
//! connection loop applies the timeouts.

use std::time::Duration;

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
        }
    }
}
