//! Clearance cookies as the protections read them: whether a request already
//! solved a challenge (signed cookie bound to the client's IP and User-Agent).
//!
//! The cryptography is `edgeward_waf`'s; the interstitial and the solution endpoint
//! are `crate::challenge`'s.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use edgeward_http::RequestHead;

use super::Shields;

/// Whether the request carries a valid clearance cookie for this client.
pub(super) fn has_clearance(shields: &Shields, head: &RequestHead, client_ip: IpAddr) -> bool {
    let Some(cookie) = head.header("cookie").and_then(|c| std::str::from_utf8(c).ok()) else {
        return false;
    };
    let Some(value) = edgeward_waf::clearance_from_cookie_header(cookie) else {
        return false;
    };
    let ua = head.header("user-agent").unwrap_or(b"");
    shields
        .key
        .check_clearance(value, client_ip, ua, unix_now())
        .is_ok()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
