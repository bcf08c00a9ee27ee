//! The request event: one row per request the edge answered, with the stage that decided
//! the response ([`Source`]).
//!
//! Owns the event's shape and the names its fields take in storage, metrics and the API.
//! Does not own how events are queued ([`crate::queue`]) or stored ([`crate::store`]).

use serde::{Deserialize, Serialize};

/// One request as the edge saw it, recorded after the response was sent (or abandoned).
///
/// The instance name is not a field: the handle stamps every batch with it (see
/// [`crate::Batch`]), so each event does not carry a copy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
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
    /// The origin that answered (`host:port`), when the request reached one.
    pub origin: Option<String>,
    /// The downstream protocol, when known.
    pub protocol: Option<Protocol>,
    /// What the cache did, when the zone caches.
    pub cache_status: Option<CacheStatus>,
    /// WebSocket: bytes from the client after the upgrade.
    pub ws_bytes_in: Option<u64>,
    /// WebSocket: bytes to the client after the upgrade.
    pub ws_bytes_out: Option<u64>,
    /// WebSocket: how long the tunnel stayed open, in microseconds.
    pub ws_duration_us: Option<u64>,
    /// The user a forward-proxy listener authenticated (`Proxy-Authorization`).
    pub proxy_user: Option<String>,
}

/// The downstream protocol of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    H1,
    /// HTTP/2.
    H2,
    /// A WebSocket (HTTP/1.1 Upgrade or RFC 8441 over HTTP/2).
    Ws,
}

impl Protocol {
    /// Every protocol, in declaration order (the order metrics are laid out in).
    pub const ALL: [Protocol; 3] = [Protocol::H1, Protocol::H2, Protocol::Ws];

    /// The name used in storage, metric labels and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::H1 => "h1",
            Protocol::H2 => "h2",
            Protocol::Ws => "ws",
        }
    }
}

/// What the cache did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// Served from cache.
    Hit,
    /// Not in cache; fetched from the origin.
    Miss,
    /// In cache but stale; fetched again.
    Expired,
    /// Stale, served anyway (origin down or stale-while-revalidate).
    Stale,
    /// Revalidated with the origin (304) and served from cache.
    Revalidated,
    /// A rule or the request made the cache step aside.
    Bypass,
    /// Not cacheable.
    Dynamic,
}

impl CacheStatus {
    /// The name used in storage and logs (Cloudflare's `cf-cache-status`, lower case).
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Expired => "expired",
            CacheStatus::Stale => "stale",
            CacheStatus::Revalidated => "revalidated",
            CacheStatus::Bypass => "bypass",
            CacheStatus::Dynamic => "dynamic",
        }
    }
}

impl Event {
    /// Whether this is a routine request, stored only as a count (see [`is_routine`]).
    pub fn is_routine(&self) -> bool {
        is_routine(self.source, self.rule_id.is_some(), self.status)
    }

    /// Cuts every free-text field to at most `max` bytes (on a character boundary); returns
    /// whether anything was cut. Bounds what one event can cost in the queue, spool and store.
    pub fn truncate_fields(&mut self, max: usize) -> bool {
        let mut cut = false;
        for field in [
            &mut self.zone,
            &mut self.method,
            &mut self.host,
            &mut self.path,
            &mut self.query,
            &mut self.request_id,
            &mut self.client_ip,
            &mut self.user_agent,
            &mut self.referer,
        ] {
            cut |= truncate(field, max);
        }
        for field in [&mut self.rule_id, &mut self.origin, &mut self.proxy_user]
            .into_iter()
            .flatten()
        {
            cut |= truncate(field, max);
        }
        cut
    }

    /// Roughly what this event costs in memory: its text plus the fixed part.
    pub fn approx_bytes(&self) -> usize {
        let text = [
            &self.zone,
            &self.method,
            &self.host,
            &self.path,
            &self.query,
            &self.request_id,
            &self.client_ip,
            &self.user_agent,
            &self.referer,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>();
        let optional = [&self.rule_id, &self.origin, &self.proxy_user]
            .iter()
            .map(|s| s.as_ref().map_or(0, String::len))
            .sum::<usize>();
        std::mem::size_of::<Event>() + text + optional
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

/// Cuts `s` to at most `max` bytes without splitting a character; returns whether it cut.
fn truncate(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
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
    /// The origin's host name could not be resolved (409, error 1001).
    Dns,
}

impl Source {
    /// Every source, in declaration order (the order metrics are laid out in).
    pub const ALL: [Source; 13] = [
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
        Source::Dns,
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
            Source::Dns => "dns",
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
    fn truncation_cuts_on_character_boundaries_and_reports_it() {
        let mut e = Event {
            path: "/".repeat(40),
            user_agent: "é".repeat(10),
            rule_id: Some("r".repeat(5)),
            ..Event::default()
        };
        let before = e.approx_bytes();
        assert!(e.truncate_fields(7));
        assert_eq!(e.path.len(), 7);
        assert_eq!(e.user_agent, "ééé", "6 bytes: the 4th é would straddle 7");
        assert_eq!(e.rule_id.as_deref(), Some("rrrrr"));
        assert!(e.approx_bytes() < before);
        assert!(!e.truncate_fields(7), "nothing left to cut");
    }

    #[test]
    fn events_round_trip_through_json_with_new_fields_optional() {
        let e = Event {
            protocol: Some(Protocol::H2),
            cache_status: Some(CacheStatus::Hit),
            source: Source::Dns,
            ..Event::default()
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"source\":\"dns\""));
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
        let old: Event = serde_json::from_str("{\"status\":404}").unwrap();
        assert_eq!((old.status, old.protocol), (404, None));
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
