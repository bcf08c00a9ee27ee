//! Freshness and age (RFC 9111 §4.2): the freshness lifetime of a response (s-maxage over
//! max-age over Expires, heuristics only when configured), the age calculation of §4.2.3 done
//! exactly, and whether a stored response may be reused for a request given both sides'
//! directives (§4.2.4, §5.2.1, RFC 5861).
//!
//! Time is Unix milliseconds passed in by the caller (a [`crate::Clock`]), so every rule is
//! testable with a mock clock. This module does not decide storability (`storable`) nor build
//! responses (`serve`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, AGE, DATE, EXPIRES, LAST_MODIFIED};

use crate::directives::{delta_seconds, RequestDirectives, ResponseDirectives};

/// Heuristic freshness (§4.2.2), used only when configured: a fraction of the time since
/// `Last-Modified`, capped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heuristic {
    /// Fraction of `Date - Last-Modified` (10% is the classic choice).
    pub fraction: f64,
    /// Upper bound of a heuristic lifetime.
    pub max: Duration,
}

/// Status codes that are heuristically cacheable (RFC 9110 §15.1).
pub fn heuristically_cacheable(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Parses an HTTP-date into Unix milliseconds.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let t = httpdate::parse_http_date(text.trim()).ok()?;
    Some(system_ms(t))
}

/// Unix milliseconds of a `SystemTime` (0 before 1970).
pub fn system_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn header_date(headers: &HeaderMap, name: &http::HeaderName) -> Option<u64> {
    headers.get(name)?.to_str().ok().and_then(parse_http_date)
}

/// The inputs of the age calculation, recorded when a response is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// When the request that produced the response was sent (ms).
    pub request_time: u64,
    /// When the response was received (ms).
    pub response_time: u64,
    /// The response's `Date` (ms); the receive time when absent or invalid (RFC 9110 §6.6.1).
    pub date: u64,
    /// The response's `Age` in seconds (0 when absent or invalid, §5.1).
    pub age_value: u64,
}

impl Timing {
    /// Reads `Date` and `Age` from a response received at `response_time` for a request sent at
    /// `request_time`.
    pub fn new(headers: &HeaderMap, request_time: u64, response_time: u64) -> Self {
        Timing {
            request_time,
            response_time,
            date: header_date(headers, &DATE).unwrap_or(response_time),
            age_value: age_value(headers),
        }
    }

    /// `corrected_initial_age` of §4.2.3, in ms.
    pub fn corrected_initial_age(&self) -> u64 {
        let apparent_age = self.response_time.saturating_sub(self.date);
        let response_delay = self.response_time.saturating_sub(self.request_time);
        let corrected_age_value = self.age_value.saturating_mul(1000).saturating_add(response_delay);
        apparent_age.max(corrected_age_value)
    }

    /// `current_age` of §4.2.3 at `now`, in ms.
    pub fn current_age(&self, now: u64) -> u64 {
        let resident_time = now.saturating_sub(self.response_time);
        self.corrected_initial_age().saturating_add(resident_time)
    }
}

/// `Age`: the first member when a list, ignored when invalid (§5.1).
fn age_value(headers: &HeaderMap) -> u64 {
    let Some(v) = headers.get(AGE).and_then(|v| v.to_str().ok()) else {
        return 0;
    };
    let first = v.split(',').next().unwrap_or("").trim();
    delta_seconds(first).unwrap_or(0)
}

/// Where a freshness lifetime came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `s-maxage`, `max-age` or `Expires` (ms).
    Explicit(u64),
    /// A heuristic (ms).
    Heuristic(u64),
    /// No freshness information: stale on arrival.
    None,
}

impl Lifetime {
    /// The lifetime in ms (0 for `None`).
    pub fn ms(self) -> u64 {
        match self {
            Lifetime::Explicit(ms) | Lifetime::Heuristic(ms) => ms,
            Lifetime::None => 0,
        }
    }
}

/// The freshness lifetime of a response for a shared cache (§4.2.1).
pub fn freshness_lifetime(
    directives: &ResponseDirectives,
    headers: &HeaderMap,
    status: u16,
    timing: &Timing,
    heuristic: Option<Heuristic>,
) -> Lifetime {
    if let Some(s) = directives.s_maxage {
        return Lifetime::Explicit(s * 1000);
    }
    if let Some(s) = directives.max_age {
        return Lifetime::Explicit(s * 1000);
    }
    if headers.contains_key(EXPIRES) {
        // An invalid Expires (such as "0") means already expired (§5.3).
        let expires = if headers.get_all(EXPIRES).iter().count() == 1 {
            header_date(headers, &EXPIRES)
        } else {
            None
        };
        return Lifetime::Explicit(expires.map_or(0, |e| e.saturating_sub(timing.date)));
    }
    match heuristic {
        Some(h) if heuristically_cacheable(status) || directives.public => {
            match header_date(headers, &LAST_MODIFIED) {
                Some(lm) if lm < timing.date => {
                    let ms = ((timing.date - lm) as f64 * h.fraction) as u64;
                    Lifetime::Heuristic(ms.min(h.max.as_millis() as u64))
                }
                _ => Lifetime::None,
            }
        }
        _ => Lifetime::None,
    }
}

/// What the response allows once stale, derived at store time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StalePolicy {
    /// Unqualified `no-cache`: every reuse needs revalidation.
    pub no_cache: bool,
    /// `must-revalidate`, `proxy-revalidate` or `s-maxage`: never served stale (§4.2.4,
    /// §5.2.2.10: s-maxage implies proxy-revalidate).
    pub must_revalidate: bool,
    /// `stale-while-revalidate` window (ms).
    pub while_revalidate: u64,
    /// `stale-if-error` window (ms).
    pub if_error: u64,
}

impl StalePolicy {
    /// Derives the policy from the directives this cache obeys.
    pub fn new(d: &ResponseDirectives) -> Self {
        StalePolicy {
            no_cache: d.no_cache.is_whole(),
            must_revalidate: d.must_revalidate || d.proxy_revalidate || d.s_maxage.is_some(),
            while_revalidate: d.stale_while_revalidate.unwrap_or(0).saturating_mul(1000),
            if_error: d.stale_if_error.unwrap_or(0).saturating_mul(1000),
        }
    }
}

/// Whether a stored response may answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Fresh and acceptable: serve it.
    Fresh,
    /// Stale, but the client's `max-stale` accepts it: serve it (a warning-free STALE).
    StaleAllowed,
    /// Stale within `stale-while-revalidate`: serve it and refresh in the background.
    WhileRevalidate,
    /// Must be validated with the origin before use.
    Revalidate,
}

/// Decides reuse (§4.2.4 and the request directives of §5.2.1) at age `age` ms.
pub fn reuse(lifetime: u64, age: u64, policy: &StalePolicy, req: &RequestDirectives) -> Reuse {
    if req.no_cache || policy.no_cache {
        return Reuse::Revalidate;
    }
    if req.max_age.is_some_and(|m| age > m.saturating_mul(1000)) {
        return Reuse::Revalidate;
    }
    if lifetime > age {
        let left = lifetime - age;
        if req.min_fresh.is_some_and(|m| left < m.saturating_mul(1000)) {
            return Reuse::Revalidate;
        }
        return Reuse::Fresh;
    }
    if policy.must_revalidate {
        return Reuse::Revalidate;
    }
    let staleness = age - lifetime;
    match req.max_stale {
        Some(None) => return Reuse::StaleAllowed,
        Some(Some(s)) if staleness <= s.saturating_mul(1000) => return Reuse::StaleAllowed,
        _ => {}
    }
    if staleness < policy.while_revalidate {
        return Reuse::WhileRevalidate;
    }
    Reuse::Revalidate
}

/// Whether a stale response may stand in for an origin error (RFC 5861 §4): within the
/// response's `stale-if-error`, the request's, or the configured default window (ms).
pub fn usable_on_error(
    lifetime: u64,
    age: u64,
    policy: &StalePolicy,
    req: &RequestDirectives,
    default_ms: u64,
) -> bool {
    let staleness = age.saturating_sub(lifetime);
    let window = policy
        .if_error
        .max(req.stale_if_error.unwrap_or(0).saturating_mul(1000))
        .max(default_ms);
    staleness <= window && window > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const T0: u64 = 1_700_000_000_000;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn date(ms: u64) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms))
    }

    #[test]
    fn age_follows_section_4_2_3_exactly() {
        // Sent at T0, received 2 s later; Date says 5 s before receipt; Age says 3 s.
        let h = headers(&[("date", &date(T0 - 3_000)), ("age", "3")]);
        let t = Timing::new(&h, T0, T0 + 2_000);
        // apparent_age = 5 s; corrected_age_value = 3 s + 2 s delay = 5 s.
        assert_eq!(t.corrected_initial_age(), 5_000);
        let h = headers(&[("date", &date(T0 + 2_000)), ("age", "10")]);
        let t = Timing::new(&h, T0, T0 + 2_000);
        // apparent_age = 0; corrected_age_value = 12 s.
        assert_eq!(t.corrected_initial_age(), 12_000);
        assert_eq!(t.current_age(T0 + 2_000 + 7_000), 19_000);
    }

    #[test]
    fn a_date_in_the_future_gives_no_negative_age() {
        let h = headers(&[("date", &date(T0 + 3_600_000))]);
        let t = Timing::new(&h, T0, T0);
        assert_eq!(t.corrected_initial_age(), 0);
    }

    #[test]
    fn invalid_or_listed_age() {
        assert_eq!(age_value(&headers(&[("age", "abc")])), 0);
        assert_eq!(age_value(&headers(&[("age", "-5")])), 0);
        assert_eq!(age_value(&headers(&[("age", "7, 9")])), 7);
    }

    fn lifetime(pairs: &[(&'static str, &str)], heuristic: Option<Heuristic>) -> Lifetime {
        let h = headers(pairs);
        let d = ResponseDirectives::from_cache_control(&h);
        let t = Timing::new(&h, T0, T0);
        freshness_lifetime(&d, &h, 200, &t, heuristic)
    }

    #[test]
    fn s_maxage_over_max_age_over_expires() {
        let exp = date(T0 + 100_000);
        assert_eq!(
            lifetime(
                &[("cache-control", "max-age=60, s-maxage=30"), ("expires", &exp)],
                None
            ),
            Lifetime::Explicit(30_000)
        );
        assert_eq!(
            lifetime(&[("cache-control", "max-age=60"), ("expires", &exp)], None),
            Lifetime::Explicit(60_000)
        );
        let d = date(T0);
        assert_eq!(
            lifetime(&[("expires", &exp), ("date", &d)], None),
            Lifetime::Explicit(100_000)
        );
    }

    #[test]
    fn an_invalid_expires_means_stale() {
        assert_eq!(lifetime(&[("expires", "0")], None), Lifetime::Explicit(0));
        let a = date(T0 + 100_000);
        assert_eq!(
            lifetime(&[("expires", &a), ("expires", &a)], None),
            Lifetime::Explicit(0)
        );
        let past = date(T0 - 100_000);
        assert_eq!(lifetime(&[("expires", &past)], None), Lifetime::Explicit(0));
    }

    #[test]
    fn heuristics_only_when_configured() {
        let lm = date(T0 - 1_000_000);
        let d = date(T0);
        let pairs = [("last-modified", lm.as_str()), ("date", d.as_str())];
        assert_eq!(lifetime(&pairs, None), Lifetime::None);
        let h = Heuristic {
            fraction: 0.1,
            max: Duration::from_secs(3600),
        };
        assert_eq!(lifetime(&pairs, Some(h)), Lifetime::Heuristic(100_000));
        let capped = Heuristic {
            fraction: 0.1,
            max: Duration::from_secs(10),
        };
        assert_eq!(lifetime(&pairs, Some(capped)), Lifetime::Heuristic(10_000));
    }

    #[test]
    fn reuse_honours_request_directives() {
        let policy = StalePolicy::default();
        let none = RequestDirectives::default();
        assert_eq!(reuse(60_000, 10_000, &policy, &none), Reuse::Fresh);
        assert_eq!(reuse(60_000, 60_000, &policy, &none), Reuse::Revalidate);
        let max_age = RequestDirectives {
            max_age: Some(5),
            ..Default::default()
        };
        assert_eq!(reuse(60_000, 10_000, &policy, &max_age), Reuse::Revalidate);
        let min_fresh = RequestDirectives {
            min_fresh: Some(55),
            ..Default::default()
        };
        assert_eq!(reuse(60_000, 10_000, &policy, &min_fresh), Reuse::Revalidate);
        let max_stale = RequestDirectives {
            max_stale: Some(Some(10)),
            ..Default::default()
        };
        assert_eq!(reuse(60_000, 65_000, &policy, &max_stale), Reuse::StaleAllowed);
        assert_eq!(reuse(60_000, 75_000, &policy, &max_stale), Reuse::Revalidate);
        let any_stale = RequestDirectives {
            max_stale: Some(None),
            ..Default::default()
        };
        assert_eq!(reuse(60_000, 1_000_000, &policy, &any_stale), Reuse::StaleAllowed);
        let no_cache = RequestDirectives {
            no_cache: true,
            ..Default::default()
        };
        assert_eq!(reuse(60_000, 0, &policy, &no_cache), Reuse::Revalidate);
    }

    #[test]
    fn must_revalidate_forbids_stale_even_with_max_stale() {
        let d = ResponseDirectives::from_cache_control(&headers(&[(
            "cache-control",
            "max-age=1, must-revalidate, stale-while-revalidate=60",
        )]));
        let policy = StalePolicy::new(&d);
        let any_stale = RequestDirectives {
            max_stale: Some(None),
            ..Default::default()
        };
        assert_eq!(reuse(1_000, 5_000, &policy, &any_stale), Reuse::Revalidate);
        let d = ResponseDirectives::from_cache_control(&headers(&[("cache-control", "s-maxage=1")]));
        assert_eq!(
            reuse(1_000, 5_000, &StalePolicy::new(&d), &any_stale),
            Reuse::Revalidate
        );
    }

    #[test]
    fn stale_while_revalidate_window() {
        let d = ResponseDirectives::from_cache_control(&headers(&[(
            "cache-control",
            "max-age=1, stale-while-revalidate=10",
        )]));
        let policy = StalePolicy::new(&d);
        let none = RequestDirectives::default();
        assert_eq!(reuse(1_000, 5_000, &policy, &none), Reuse::WhileRevalidate);
        assert_eq!(reuse(1_000, 12_000, &policy, &none), Reuse::Revalidate);
    }

    #[test]
    fn stale_if_error_window() {
        let d = ResponseDirectives::from_cache_control(&headers(&[(
            "cache-control",
            "max-age=1, stale-if-error=10",
        )]));
        let policy = StalePolicy::new(&d);
        let none = RequestDirectives::default();
        assert!(usable_on_error(1_000, 5_000, &policy, &none, 0));
        assert!(!usable_on_error(1_000, 20_000, &policy, &none, 0));
        assert!(!usable_on_error(1_000, 5_000, &StalePolicy::default(), &none, 0));
        assert!(usable_on_error(
            1_000,
            5_000,
            &StalePolicy::default(),
            &none,
            60_000
        ));
        let req = RequestDirectives {
            stale_if_error: Some(30),
            ..Default::default()
        };
        assert!(usable_on_error(1_000, 20_000, &policy, &req, 0));
    }
}
