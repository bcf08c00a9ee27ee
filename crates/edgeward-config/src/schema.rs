//! The configuration file as serde sees it: raw strings and numbers with their byte spans.
//!
//! Owns the shape of the TOML (sections, keys, which are optional) and rejects unknown keys and
//! wrong types; it does not judge values — `validate` turns these into the typed `Config`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::policy::{RawAuth, RawIpRule, RawRateLimit, RawRule, RawWaf};
use crate::services::{RawAdmin, RawAnalytics, RawChallenge, RawGeoIp, RawRateLimitStore};
use crate::tls::RawTls;
use crate::upstream::{RawOrigin, RawUpstream, RawZoneUpstream};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub server: Option<RawServer>,
    #[serde(default)]
    pub tls: Vec<RawTls>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub upstream: RawUpstream,
    #[serde(default)]
    pub zones: Vec<RawZone>,
    pub challenge: Option<RawChallenge>,
    pub rate_limit_store: Option<RawRateLimitStore>,
    pub admin: Option<RawAdmin>,
    pub analytics: Option<RawAnalytics>,
    pub geoip: Option<RawGeoIp>,
    pub cache: Option<crate::cache::RawCache>,
    pub real_ip: Option<crate::real_ip::RawRealIp>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen: Spanned<Listen>,
    pub workers: Option<Spanned<u64>>,
    pub shutdown_timeout: Option<Spanned<DurationText>>,
    pub default_zone: Option<Spanned<String>>,
    pub h2c: Option<bool>,
    pub max_connections: Option<Spanned<u64>>,
}

/// `listen`: one address or an array of them.
#[derive(Debug)]
pub(crate) enum Listen {
    One(String),
    Many(Vec<Spanned<String>>),
}

/// `[limits]` and a zone's `limits = { … }`: every key optional, overriding the outer level.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub max_target_bytes: Option<Spanned<u64>>,
    pub max_header_bytes: Option<Spanned<u64>>,
    pub max_field_bytes: Option<Spanned<u64>>,
    pub max_headers: Option<Spanned<u64>>,
    pub max_body_bytes: Option<Spanned<u64>>,
    pub body_retry_after: Option<Spanned<u64>>,
    pub require_content_length: Option<bool>,
    pub header_timeout: Option<Spanned<DurationText>>,
    pub body_timeout: Option<Spanned<DurationText>>,
    pub keepalive_timeout: Option<Spanned<DurationText>>,
}

/// One `[[zones]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZone {
    pub name: Spanned<String>,
    /// Optional here so that a missing list gets the same message as an empty one.
    pub hosts: Option<Spanned<Vec<Spanned<String>>>>,
    pub origins: Option<Spanned<Vec<Spanned<RawOrigin>>>>,
    pub upstream: Option<RawZoneUpstream>,
    #[serde(default)]
    pub intercept_origin_404: bool,
    pub upgrades: Option<bool>,
    pub underscores_in_headers: Option<bool>,
    pub upgrade_idle_timeout: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub error_pages: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub rate_limits: Vec<RawRateLimit>,
    pub waf: Option<RawWaf>,
    #[serde(default)]
    pub ip_rules: Vec<RawIpRule>,
    #[serde(default)]
    pub browser_check: bool,
    #[serde(default)]
    pub auth: Vec<RawAuth>,
    #[serde(default)]
    pub cache_rules: Vec<crate::cache::RawCacheRule>,
    // Traffic rules (`traffic.rs`): top-level zone keys, so one field each (serde's `flatten`
    // would lose the spans that errors need).
    #[serde(default)]
    pub always_use_https: bool,
    pub hsts: Option<Spanned<crate::traffic::RawHsts>>,
    #[serde(default)]
    pub redirects: Vec<crate::traffic::RawRedirect>,
    #[serde(default)]
    pub redirect_lists: Vec<crate::traffic::RawRedirectList>,
    #[serde(default)]
    pub request_transforms: Vec<crate::traffic::RawTransform>,
    #[serde(default)]
    pub response_transforms: Vec<crate::traffic::RawTransform>,
    #[serde(default)]
    pub custom_errors: Vec<crate::traffic::RawCustomError>,
}

/// A duration string, not yet parsed; exists so a wrong type names the accepted forms.
#[derive(Debug)]
pub(crate) struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration string: {}", crate::duration::FORMS)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListenVisitor;
        impl<'de> Visitor<'de> for ListenVisitor {
            type Value = Listen;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a socket address such as \"127.0.0.1:8080\", or an array of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Listen, E> {
                Ok(Listen::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Listen, A::Error> {
                let mut all = Vec::new();
                while let Some(addr) = seq.next_element::<Spanned<String>>()? {
                    all.push(addr);
                }
                Ok(Listen::Many(all))
            }
        }
        deserializer.deserialize_any(ListenVisitor)
    }
}
