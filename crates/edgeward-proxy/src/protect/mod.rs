//! The protections a request passes before it reaches the origin, in order:
//! IP access rules, custom rules, rate limits, the managed WAF, the Browser
//! Integrity Check and Basic-auth paths. One module each, one signature each:
//! `check(&mut Inspection) -> Result<(), Stop>`.
//!
//! Owns the runtime form of a zone's policy (detectors built once per config,
//! [`ZoneProtections`]), the process-wide state that outlives reloads ([`Shields`]),
//! and the order and skip semantics of the phases ([`run`]). What a `Stop` becomes
//! on the wire is the pipeline's and the renderer's business.

mod basic_auth;
mod browser;
mod clearance;
mod custom_rules;
mod ip_rules;
mod rate_limit;
mod waf;

use std::borrow::Cow;
use std::net::IpAddr;

use edgeward_config::{Zone, ZonePolicy};
use edgeward_errors::{EdgeError, ErrorSource, ForbiddenReason};
use edgeward_limits::{Limiter, Store};
use edgeward_rules::{HeaderSource, PhaseSet};
use edgeward_waf::{BasicAuth, ClearanceKey, GeoIp, IpRules, Waf};

use crate::request::RequestCtx;
use crate::request_body::UpstreamBody;

pub use clearance::unix_now;
pub(crate) use custom_rules::request_fields;
pub use rate_limit::count_response;

/// Process-wide protection state: survives reloads so counters and clearances do.
pub struct Shields {
    /// Signs challenges and clearance cookies.
    pub key: ClearanceKey,
    /// IP → country, when configured.
    pub geoip: Option<GeoIp>,
    /// Rate-limit counters.
    pub limiter: Limiter<Store>,
    failed_auth: basic_auth::FailedAuth,
}

impl Shields {
    /// Protection state with `key`, `geoip` and the counter `store`.
    pub fn new(key: ClearanceKey, geoip: Option<GeoIp>, store: Store) -> Self {
        Shields {
            key,
            geoip,
            limiter: Limiter::new(store),
            failed_auth: basic_auth::FailedAuth::default(),
        }
    }
}

/// A zone's detectors, built once per configuration.
pub struct ZoneProtections {
    waf: Option<Waf>,
    ip_rules: Option<IpRules>,
    auth: Vec<(String, BasicAuth)>,
}

impl ZoneProtections {
    /// Builds the detectors of `policy`.
    pub fn new(policy: &ZonePolicy) -> Self {
        ZoneProtections {
            waf: waf::build(policy),
            ip_rules: ip_rules::build(policy),
            auth: basic_auth::build(policy),
        }
    }
}

/// Why the protections ended a request.
#[derive(Debug)]
pub enum Stop {
    /// Answer with this catalog error.
    Error(EdgeError),
    /// Serve the challenge interstitial (the client has no valid clearance).
    Challenge {
        /// The rule that asked for it.
        rule_id: String,
        /// Which phase asked for it (analytics source).
        source: ErrorSource,
    },
}

impl Stop {
    fn forbidden(reason: ForbiddenReason, rule_id: &str) -> Stop {
        Stop::Error(EdgeError::Forbidden {
            reason,
            rule_id: rule_id.to_owned(),
        })
    }

    fn challenge(rule_id: &str, source: ErrorSource) -> Stop {
        Stop::Challenge {
            rule_id: rule_id.to_owned(),
            source,
        }
    }
}

/// What the protections let through, and what they still need after the response.
#[derive(Default)]
pub struct Passed {
    /// Rules that matched with action `log` (or `allow`), for the access log.
    pub logged_rule: Option<String>,
    /// Rate limits that count by response status: rule index and key, recorded after the response.
    pub count_after: Vec<(usize, Vec<u8>)>,
}

/// One request under inspection: what every protection reads, and what they leave
/// for the next ones (skipped phases, logged rules).
pub struct Inspection<'a> {
    /// Process-wide state.
    pub shields: &'a Shields,
    /// The zone's configuration.
    pub zone: &'a Zone,
    /// The zone's detectors.
    pub detectors: &'a ZoneProtections,
    /// The request.
    pub req: &'a RequestCtx<'a>,
    /// The request body (the WAF may read ahead into it).
    pub body: &'a mut UpstreamBody,
    /// The client's country, when GeoIP is configured.
    pub country: Option<&'a str>,
    /// Phases an earlier `allow` or `skip` turned off.
    pub skipped: PhaseSet,
    /// What the request leaves behind for the log and the response stages.
    pub passed: Passed,
    /// The path as decisions see it: percent-decoded and dot-segment-free.
    pub path: Cow<'a, str>,
    /// The raw query (after `?`), empty when none.
    pub query: &'a str,
    cleared: Option<bool>,
}

impl<'a> Inspection<'a> {
    /// Whether the request carries a valid clearance cookie (checked once, on first need).
    pub fn cleared(&mut self) -> bool {
        let (shields, req) = (self.shields, self.req);
        *self
            .cleared
            .get_or_insert_with(|| clearance::has_clearance(shields, req.head, req.client_ip))
    }

    /// The client's address.
    pub fn client_ip(&self) -> IpAddr {
        self.req.client_ip
    }
}

/// Header lookup over a request head (rules language `http.request.headers[…]`).
pub(crate) struct Headers<'a>(pub &'a edgeward_http::RequestHead);

impl HeaderSource for Headers<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0.header(name)
    }
}

/// Runs every protection on a request, in order; `Err` ends it.
pub async fn run(
    shields: &Shields,
    zone: &Zone,
    detectors: &ZoneProtections,
    req: &RequestCtx<'_>,
    body: &mut UpstreamBody,
) -> Result<Passed, Stop> {
    let (raw_path, query) = req
        .head
        .path_and_query()
        .split_once('?')
        .unwrap_or((req.head.path_and_query(), ""));
    let mut x = Inspection {
        shields,
        zone,
        detectors,
        req,
        body,
        country: shields.geoip.as_ref().and_then(|g| g.country(req.client_ip)),
        skipped: PhaseSet::EMPTY,
        passed: Passed::default(),
        // Decisions see the normalised path (the origin resolves `/%61dmin` and `/x/../admin`
        // to `/admin` too); the WAF also sees the raw one, where encoding tricks are evidence.
        path: edgeward_http::normalize_path(raw_path),
        query,
        cleared: None,
    };
    ip_rules::check(&mut x).await?;
    custom_rules::check(&mut x).await?;
    rate_limit::check(&mut x).await?;
    waf::check(&mut x).await?;
    browser::check(&mut x).await?;
    basic_auth::check(&mut x).await?;
    Ok(x.passed)
}

/// Whether `path` is `prefix` or below it, segment-wise (`/private` covers
/// `/private` and `/private/x`, not `/privateer`).
fn under_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

/// The declared body size as rules see it (`1` for a chunked body of unknown length).
fn body_size(head: &edgeward_http::RequestHead) -> u64 {
    match head.framing {
        edgeward_http::BodyFraming::Length(n) => n,
        edgeward_http::BodyFraming::Chunked => 1,
        edgeward_http::BodyFraming::None => 0,
    }
}

/// A header as text: lossy, never empty-on-error (one invalid byte must not blank a field a rule reads).
fn text<'h>(head: &'h edgeward_http::RequestHead, name: &str) -> Cow<'h, str> {
    head.header(name)
        .map_or(Cow::Borrowed(""), String::from_utf8_lossy)
}

#[cfg(test)]
mod tests {
    use super::under_prefix;

    #[test]
    fn prefixes_cover_whole_segments_only() {
        assert!(under_prefix("/private", "/private"));
        assert!(under_prefix("/private/x", "/private"));
        assert!(!under_prefix("/privateer", "/private"));
        assert!(under_prefix("/a/b", "/a/"));
        assert!(!under_prefix("/b", "/a"));
    }
}
