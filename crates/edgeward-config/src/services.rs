//! Process-wide services as configured: the challenge key, the rate-limit
//! counter store, the admin listener, analytics, and the GeoIP table.
//!
//! Owns their TOML shape, defaults and validation. It starts nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::schema::DurationText;
use crate::validate::Source;
use crate::ConfigError;

/// `[challenge]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChallenge {
    pub secret: Option<Spanned<String>>,
    pub difficulty: Option<Spanned<u64>>,
    pub clearance_ttl: Option<Spanned<DurationText>>,
}

/// `[rate_limit_store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimitStore {
    pub kind: Spanned<String>,
    pub url: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationText>>,
    pub on_failure: Option<Spanned<String>>,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub listen: Spanned<String>,
    pub token: Option<String>,
}

/// `[analytics]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnalytics {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub retention: Option<Spanned<String>>,
    pub queue_capacity: Option<Spanned<u64>>,
}

/// `[geoip]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGeoIp {
    pub csv: Spanned<String>,
}

/// The challenge's key and difficulty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeSettings {
    /// HMAC key; `None`: a random key per process (clearances do not survive restarts).
    pub secret: Option<String>,
    /// Leading zero bits the proof of work needs.
    pub difficulty: u8,
    /// How long a clearance cookie is valid.
    pub clearance_ttl: Duration,
}

impl Default for ChallengeSettings {
    fn default() -> Self {
        ChallengeSettings {
            secret: None,
            difficulty: 16,
            clearance_ttl: Duration::from_secs(30 * 60),
        }
    }
}

/// Where rate-limit counters live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RateLimitStoreSettings {
    /// In this process (the default).
    #[default]
    Memory,
    /// In Redis, shared by several edgeward instances.
    Redis {
        /// `redis://host:port/db`.
        url: String,
        /// Per-call timeout.
        timeout: Duration,
        /// Allow requests when Redis is unreachable (`on_failure = "open"`, the default).
        fail_open: bool,
    },
}

/// The admin listener (metrics, API, dashboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Where it listens (loopback by default).
    pub listen: SocketAddr,
    /// Bearer token; required when `listen` is not loopback.
    pub token: Option<String>,
}

/// Analytics of every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsSettings {
    /// Whether events are recorded.
    pub enabled: bool,
    /// SQLite file (relative paths are relative to the config file); `None`: in memory.
    pub path: Option<PathBuf>,
    /// How long events are kept.
    pub retention: Duration,
    /// Events buffered between requests and the writer; beyond it events are dropped and counted.
    pub queue_capacity: usize,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        AnalyticsSettings {
            enabled: true,
            path: None,
            retention: Duration::from_secs(7 * 24 * 3600),
            queue_capacity: 65_536,
        }
    }
}

/// Process-wide services.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// The challenge.
    pub challenge: ChallengeSettings,
    /// The rate-limit store.
    pub rate_limit_store: RateLimitStoreSettings,
    /// The admin listener, if any.
    pub admin: Option<AdminSettings>,
    /// Analytics.
    pub analytics: AnalyticsSettings,
    /// `cidr,country` lines of the GeoIP table, if configured.
    pub geoip_csv: Option<(PathBuf, String)>,
}

/// The raw top-level service sections.
pub(crate) struct RawServices {
    pub challenge: Option<RawChallenge>,
    pub rate_limit_store: Option<RawRateLimitStore>,
    pub admin: Option<RawAdmin>,
    pub analytics: Option<RawAnalytics>,
    pub geoip: Option<RawGeoIp>,
}

impl Source<'_> {
    /// Validates the service sections.
    pub(crate) fn services(&self, raw: RawServices) -> Result<Services, ConfigError> {
        Ok(Services {
            challenge: raw
                .challenge
                .map(|c| self.challenge(c))
                .transpose()?
                .unwrap_or_default(),
            rate_limit_store: raw
                .rate_limit_store
                .map(|s| self.store(s))
                .transpose()?
                .unwrap_or_default(),
            admin: raw.admin.map(|a| self.admin(a)).transpose()?,
            analytics: raw
                .analytics
                .map(|a| self.analytics(a))
                .transpose()?
                .unwrap_or_default(),
            geoip_csv: raw.geoip.map(|g| self.geoip(g)).transpose()?,
        })
    }

    fn challenge(&self, c: RawChallenge) -> Result<ChallengeSettings, ConfigError> {
        let defaults = ChallengeSettings::default();
        if let Some(secret) = &c.secret {
            if secret.get_ref().len() < 16 {
                return Err(self.fault(secret.span(), "`secret` must be at least 16 characters"));
            }
        }
        Ok(ChallengeSettings {
            secret: c.secret.map(|s| s.into_inner()),
            difficulty: match &c.difficulty {
                Some(d) => self.bounded(d, "difficulty", 1, 32)? as u8,
                None => defaults.difficulty,
            },
            clearance_ttl: match &c.clearance_ttl {
                Some(d) => self.duration(d, "clearance_ttl")?,
                None => defaults.clearance_ttl,
            },
        })
    }

    fn store(&self, s: RawRateLimitStore) -> Result<RateLimitStoreSettings, ConfigError> {
        match s.kind.get_ref().as_str() {
            "memory" => Ok(RateLimitStoreSettings::Memory),
            "redis" => {
                let url = s
                    .url
                    .as_ref()
                    .ok_or_else(|| self.fault(s.kind.span(), "kind = \"redis\" needs `url`"))?;
                if !url.get_ref().starts_with("redis://") {
                    return Err(self.fault(url.span(), "`url` must look like redis://127.0.0.1:6379"));
                }
                let timeout = match &s.timeout {
                    Some(d) => self.duration(d, "timeout")?,
                    None => Duration::from_millis(50),
                };
                let fail_open = match s.on_failure.as_ref().map(|f| f.get_ref().as_str()) {
                    None | Some("open") => true,
                    Some("closed") => false,
                    Some(other) => {
                        let span = s.on_failure.as_ref().map(Spanned::span).unwrap_or(0..0);
                        return Err(self.fault(
                            span,
                            format!("unknown `on_failure` `{other}`: expected open or closed"),
                        ));
                    }
                };
                Ok(RateLimitStoreSettings::Redis {
                    url: url.get_ref().clone(),
                    timeout,
                    fail_open,
                })
            }
            other => Err(self.fault(
                s.kind.span(),
                format!("unknown store kind `{other}`: expected memory or redis"),
            )),
        }
    }

    fn admin(&self, a: RawAdmin) -> Result<AdminSettings, ConfigError> {
        let listen: SocketAddr = a.listen.get_ref().parse().map_err(|_| {
            self.fault(
                a.listen.span(),
                format!("invalid admin listen address `{}`", a.listen.get_ref()),
            )
        })?;
        if !listen.ip().is_loopback() && a.token.as_deref().is_none_or(|t| t.len() < 16) {
            let msg = "an admin listener off loopback needs a `token` of at least 16 characters";
            return Err(self.fault(a.listen.span(), msg));
        }
        Ok(AdminSettings {
            listen,
            token: a.token,
        })
    }

    fn analytics(&self, a: RawAnalytics) -> Result<AnalyticsSettings, ConfigError> {
        let defaults = AnalyticsSettings::default();
        let retention = match &a.retention {
            None => defaults.retention,
            Some(r) => parse_days(r.get_ref()).ok_or_else(|| {
                self.fault(
                    r.span(),
                    "`retention` must be like \"7d\", \"36h\" (at most 365d)",
                )
            })?,
        };
        Ok(AnalyticsSettings {
            enabled: a.enabled.unwrap_or(true),
            path: a.path.map(|p| self.base_dir.join(p)),
            retention,
            queue_capacity: match &a.queue_capacity {
                Some(q) => self.bounded(q, "queue_capacity", 16, 16 * 1024 * 1024)? as usize,
                None => defaults.queue_capacity,
            },
        })
    }

    fn geoip(&self, g: RawGeoIp) -> Result<(PathBuf, String), ConfigError> {
        let path = self.base_dir.join(g.csv.get_ref());
        let text = std::fs::read_to_string(&path).map_err(|e| {
            self.fault(
                g.csv.span(),
                format!("cannot read GeoIP table {}: {e}", path.display()),
            )
        })?;
        Ok((path, text))
    }
}

/// `"7d"` / `"36h"`, up to a year.
fn parse_days(text: &str) -> Option<Duration> {
    let (n, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "d" => n.checked_mul(86_400)?,
        "h" => n.checked_mul(3_600)?,
        _ => return None,
    };
    (secs > 0 && secs <= 365 * 86_400).then(|| Duration::from_secs(secs))
}
