//! The cache status of a response: [`CacheStatus`] (the `Edgeward-Cache-Status` values HIT,
//! MISS, EXPIRED, STALE, REVALIDATED, UPDATING, BYPASS, DYNAMIC, recorded in analytics) and
//! its RFC 9211 `Cache-Status` rendering.
//!
//! This module only names and renders; the engine decides which status applies.

use http::HeaderName;

/// Our one-word cache status header (in the manner of CDN cache-status headers).
pub static EDGEWARD_CACHE_STATUS: HeaderName = HeaderName::from_static("edgeward-cache-status");

/// RFC 9211 `Cache-Status`.
pub static CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// The name this cache uses in `Cache-Status`.
pub const CACHE_NAME: &str = "edgeward";

/// What the cache did for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheStatus {
    /// Served fresh from the cache.
    Hit,
    /// Not in the cache; fetched from the origin (and stored if allowed).
    Miss,
    /// In the cache but stale; the origin sent a new response.
    Expired,
    /// Served stale: the origin failed (stale-if-error) or the client allowed it (max-stale).
    Stale,
    /// In the cache but stale; the origin confirmed it (304) and it was served.
    Revalidated,
    /// Served stale while a background request refreshes it (stale-while-revalidate).
    Updating,
    /// A cache rule said not to use the cache.
    Bypass,
    /// Not eligible for caching (method, request or response directives).
    Dynamic,
}

impl CacheStatus {
    /// The upper-case token.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Expired => "EXPIRED",
            CacheStatus::Stale => "STALE",
            CacheStatus::Revalidated => "REVALIDATED",
            CacheStatus::Updating => "UPDATING",
            CacheStatus::Bypass => "BYPASS",
            CacheStatus::Dynamic => "DYNAMIC",
        }
    }

    /// Whether the body came from the cache (for hit ratios and bytes served from cache).
    pub fn served_from_cache(self) -> bool {
        matches!(
            self,
            CacheStatus::Hit | CacheStatus::Stale | CacheStatus::Revalidated | CacheStatus::Updating
        )
    }
}

/// Extra facts for the `Cache-Status` value.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusDetail<'a> {
    /// Remaining freshness in seconds (negative when stale), for hits.
    pub ttl: Option<i64>,
    /// The response was stored.
    pub stored: bool,
    /// The origin's status on a forward.
    pub fwd_status: Option<u16>,
    /// Why (a short token).
    pub detail: Option<&'a str>,
}

/// Renders an RFC 9211 `Cache-Status` member for `status`.
pub fn cache_status_value(status: CacheStatus, d: StatusDetail<'_>) -> String {
    let mut out = String::from(CACHE_NAME);
    let fwd = match status {
        CacheStatus::Hit | CacheStatus::Stale | CacheStatus::Updating => None,
        CacheStatus::Miss => Some("uri-miss"),
        CacheStatus::Expired | CacheStatus::Revalidated => Some("stale"),
        CacheStatus::Bypass => Some("bypass"),
        CacheStatus::Dynamic => Some("uri-miss"),
    };
    match fwd {
        None => out.push_str("; hit"),
        Some(f) => {
            out.push_str("; fwd=");
            out.push_str(f);
        }
    }
    if let Some(s) = d.fwd_status.filter(|_| fwd.is_some()) {
        out.push_str(&format!("; fwd-status={s}"));
    }
    if let Some(ttl) = d.ttl {
        out.push_str(&format!("; ttl={ttl}"));
    }
    if d.stored {
        out.push_str("; stored");
    }
    let detail = match (status, d.detail) {
        (_, Some(x)) => Some(x),
        (CacheStatus::Stale, None) => Some("stale"),
        (CacheStatus::Updating, None) => Some("updating"),
        _ => None,
    };
    if let Some(x) = detail {
        out.push_str("; detail=");
        out.push_str(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc_9211_members() {
        assert_eq!(
            cache_status_value(
                CacheStatus::Hit,
                StatusDetail {
                    ttl: Some(42),
                    ..Default::default()
                }
            ),
            "edgeward; hit; ttl=42"
        );
        assert_eq!(
            cache_status_value(
                CacheStatus::Miss,
                StatusDetail {
                    stored: true,
                    fwd_status: Some(200),
                    ..Default::default()
                }
            ),
            "edgeward; fwd=uri-miss; fwd-status=200; stored"
        );
        assert_eq!(
            cache_status_value(
                CacheStatus::Revalidated,
                StatusDetail {
                    fwd_status: Some(304),
                    ..Default::default()
                }
            ),
            "edgeward; fwd=stale; fwd-status=304"
        );
        assert_eq!(
            cache_status_value(
                CacheStatus::Updating,
                StatusDetail {
                    ttl: Some(-3),
                    ..Default::default()
                }
            ),
            "edgeward; hit; ttl=-3; detail=updating"
        );
        assert_eq!(
            cache_status_value(
                CacheStatus::Bypass,
                StatusDetail {
                    detail: Some("rule-1"),
                    ..Default::default()
                }
            ),
            "edgeward; fwd=bypass; detail=rule-1"
        );
        let all = [
            CacheStatus::Hit,
            CacheStatus::Miss,
            CacheStatus::Expired,
            CacheStatus::Stale,
            CacheStatus::Revalidated,
            CacheStatus::Updating,
            CacheStatus::Bypass,
            CacheStatus::Dynamic,
        ];
        let names: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "HIT",
                "MISS",
                "EXPIRED",
                "STALE",
                "REVALIDATED",
                "UPDATING",
                "BYPASS",
                "DYNAMIC"
            ]
        );
        assert_eq!(all.iter().filter(|s| s.served_from_cache()).count(), 4);
    }
}
