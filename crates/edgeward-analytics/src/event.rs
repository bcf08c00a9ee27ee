//! The request event: one row per request the edge answered, with the stage that decided
//! the response ([`Source`]).
//!
//! Owns the event's shape and the names its fields take in storage, metrics and the API.
//! Does not own how events are queued ([`crate::queue`]) or stored ([`crate::store`]).

use serde::Serialize;

/// One request as the edge saw it, recorded after the response was sent (or abandoned).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// When the request arrived, in Unix milliseconds.
    pub time_ms: i64,
    /// The zone that matched the host (empty when none matched).
    pub zone: String,
    /// The request method.
    pub method: String,
    /// The `Host` the client asked for.
    pub host: String,
    /// The request path, without the query string.
    pub path: String,
    /// The query string, without the leading `?`.
    pub query: String,
    /// The status sent to the client, or 499 when the client went away first.
    pub status: u16,
    /// The status the origin answered with, when the request reached it.
    pub origin_status: Option<u16>,
    /// The stage that decided the response.
    pub source: Source,
    /// The rule that decided it, for policy stages.
    pub rule_id: Option<String>,
    /// The request id also shown on error pages.
    pub request_id: String,
    /// The client address the edge used for policy decisions.
    pub client_ip: String,
    /// The `User-Agent` header (empty when absent).
    pub user_agent: String,
    /// The `Referer` header (empty when absent).
    pub referer: String,
    /// Bytes read from the client for this request.
    pub bytes_in: u64,
    /// Bytes written to the client for this response.
    pub bytes_out: u64,
    /// Time from the first request byte to the last response byte, in microseconds.
    pub duration_us: u64,
    /// Time spent waiting on the origin, in microseconds, when the request reached it.
    pub origin_duration_us: Option<u64>,
}

impl Event {
    /// Whether this is a routine request, stored only as a count (see [`is_routine`]).
    pub fn is_routine(&self) -> bool {
        is_routine(self.source, self.rule_id.is_some(), self.status)
    }

    /// The compact form of this event, as a rollup counts it.
    pub fn as_routine(&self) -> RoutineRequest<'_> {
        RoutineRequest {
            time_ms: self.time_ms,
            zone: &self.zone,
            status: self.status,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            duration_us: self.duration_us,
            origin_duration_us: self.origin_duration_us,
        }
    }
}

/// Whether a request is routine: the origin answered it below 400 and no rule was involved.
///
/// Routine requests are the bulk of traffic and every query needs them only as counts, so
/// they are stored as rollups ([`crate::rollup`]); everything else is stored in full.
pub fn is_routine(source: Source, has_rule: bool, status: u16) -> bool {
    source == Source::Origin && !has_rule && (100..400).contains(&status)
}

/// A routine request in compact form: only what its rollup and the metrics need, borrowed.
/// The source is always [`Source::Origin`] and no rule is involved (see [`is_routine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutineRequest<'a> {
    /// When the request was recorded, in Unix milliseconds.
    pub time_ms: i64,
    /// The zone that matched the host.
    pub zone: &'a str,
    /// The status sent to the client (100–399).
    pub status: u16,
    /// Bytes read from the client for this request.
    pub bytes_in: u64,
    /// Bytes written to the client for this response.
    pub bytes_out: u64,
    /// Time from the first request byte to the last response byte, in microseconds.
    pub duration_us: u64,
    /// Time spent waiting on the origin, in microseconds, when measured.
    pub origin_duration_us: Option<u64>,
}

/// The stage of the pipeline that decided a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The origin answered.
    #[default]
    Origin,
    /// The edge itself failed (origin unreachable, timeout, internal error).
    Edge,
    /// The request was malformed or over a protocol limit.
    Protocol,
    /// A managed WAF rule blocked it.
    Waf,
    /// An IP access rule decided it.
    IpRule,
    /// A rate-limit rule decided it.
    RateLimit,
    /// The browser integrity check rejected it.
    BrowserCheck,
    /// Authentication was required or failed.
    Auth,
    /// A legal block (451) applied.
    Legal,
    /// The client was sent the challenge interstitial.
    Challenge,
    /// A custom rule decided it.
    Rule,
    /// The client closed the connection before the response was complete.
    ClientClosed,
}

impl Source {
    /// Every source, in declaration order (the order metrics are laid out in).
    pub const ALL: [Source; 12] = [
        Source::Origin,
        Source::Edge,
        Source::Protocol,
        Source::Waf,
        Source::IpRule,
        Source::RateLimit,
        Source::BrowserCheck,
        Source::Auth,
        Source::Legal,
        Source::Challenge,
        Source::Rule,
        Source::ClientClosed,
    ];

    /// The sources counted as security events by [`crate::query`].
    pub const SECURITY: [Source; 7] = [
        Source::Waf,
        Source::IpRule,
        Source::Rule,
        Source::BrowserCheck,
        Source::Challenge,
        Source::Auth,
        Source::Legal,
    ];

    /// The name used in storage, metric labels and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Origin => "origin",
            Source::Edge => "edge",
            Source::Protocol => "protocol",
            Source::Waf => "waf",
            Source::IpRule => "ip_rule",
            Source::RateLimit => "rate_limit",
            Source::BrowserCheck => "browser_check",
            Source::Auth => "auth",
            Source::Legal => "legal",
            Source::Challenge => "challenge",
            Source::Rule => "rule",
            Source::ClientClosed => "client_closed",
        }
    }

    /// The source named `name` (the inverse of [`Source::as_str`]).
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// This source's position in [`Source::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The class label of a status code: `"2xx"` for 204; `"other"` outside 100–599.
pub fn status_class(status: u16) -> &'static str {
    const CLASSES: [&str; 6] = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];
    CLASSES[status_class_index(status)]
}

/// The index of `status`'s class in `["other", "1xx", …, "5xx"]`.
pub(crate) fn status_class_index(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_round_trip_in_order() {
        for (i, s) in Source::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(Source::from_name(s.as_str()), Some(s));
        }
        assert_eq!(Source::ClientClosed.as_str(), "client_closed");
        assert_eq!(Source::from_name("nope"), None);
    }

    #[test]
    fn routine_means_origin_below_400_without_a_rule() {
        assert!(is_routine(Source::Origin, false, 200));
        assert!(is_routine(Source::Origin, false, 304));
        assert!(!is_routine(Source::Origin, false, 404));
        assert!(!is_routine(Source::Origin, false, 500));
        assert!(
            !is_routine(Source::Origin, true, 200),
            "a logged rule keeps detail"
        );
        assert!(!is_routine(Source::Challenge, false, 200));
        assert!(!is_routine(Source::ClientClosed, false, 499));
        assert!(!is_routine(Source::Origin, false, 0));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(499), "4xx");
        assert_eq!(status_class(599), "5xx");
        assert_eq!(status_class(600), "other");
        assert_eq!(status_class(99), "other");
    }
}
