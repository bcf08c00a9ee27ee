//! Process-wide services as configured: the challenge key, the rate-limit
//! counter store, the admin listener, analytics, and the GeoIP table.
//!
//! Owns their TOML shape, defaults and validation; analytics is handed over as the
//! analytics crate's own types (`StoreSettings`, `Options`). It starts nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use edgeward_analytics::{ClickHouseSettings, Options, PostgresSettings, SqliteCap, StoreSettings};
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
    #[serde(default)]
    pub allowed_hosts: Vec<Spanned<String>>,
}

/// `[analytics]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnalytics {
    pub enabled: Option<bool>,
    pub instance: Option<Spanned<String>>,
    pub store: Option<Spanned<String>>,
    pub path: Option<String>,
    pub url: Option<Spanned<String>>,
    pub database: Option<Spanned<String>>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub timeout: Option<Spanned<DurationText>>,
    pub max_rows: Option<Spanned<u64>>,
    pub max_bytes: Option<Spanned<u64>>,
    pub max_field_bytes: Option<Spanned<u64>>,
    pub retention: Option<Spanned<String>>,
    pub queue_capacity: Option<Spanned<u64>>,
    pub queue_max_bytes: Option<Spanned<u64>>,
    pub spool_dir: Option<String>,
    pub spool_max_bytes: Option<Spanned<u64>>,
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
    /// Host names answered besides loopback ones (e.g. the name a reverse proxy in front
    /// uses); other `Host` values get 421 unless the token is presented.
    pub allowed_hosts: Vec<String>,
}

/// Analytics of every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsSettings {
    /// Whether events are recorded.
    pub enabled: bool,
    /// Where events are stored (`store = "sqlite" | "postgres" | "clickhouse"`).
    pub store: StoreSettings,
    /// Delivery: instance name, queue, field and spool bounds, retention.
    pub options: Options,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        AnalyticsSettings {
            enabled: true,
            store: StoreSettings::Sqlite {
                path: None,
                cap: SqliteCap::default(),
            },
            options: Options::default(),
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
        let mut allowed_hosts = Vec::with_capacity(a.allowed_hosts.len());
        for h in a.allowed_hosts {
            let name = h.get_ref();
            if name.is_empty() || name.contains([':', '/', ' ']) {
                return Err(self.fault(h.span(), "`allowed_hosts` holds host names without ports"));
            }
            allowed_hosts.push(h.into_inner());
        }
        Ok(AdminSettings {
            listen,
            token: a.token,
            allowed_hosts,
        })
    }

    fn analytics(&self, a: RawAnalytics) -> Result<AnalyticsSettings, ConfigError> {
        let defaults = Options::default();
        let retention = match &a.retention {
            None => defaults.retention,
            Some(r) => parse_days(r.get_ref()).ok_or_else(|| {
                self.fault(
                    r.span(),
                    "`retention` must be like \"7d\", \"36h\" (at most 365d)",
                )
            })?,
        };
        let bounded = |n: &Option<Spanned<u64>>, key: &str, min: u64, max: u64, default: u64| match n {
            Some(n) => self.bounded(n, key, min, max),
            None => Ok(default),
        };
        const GIB: u64 = 1024 * 1024 * 1024;
        let options = Options {
            instance: match &a.instance {
                Some(i) => self.instance_name(i)?,
                None => defaults.instance,
            },
            retention,
            queue_capacity: bounded(
                &a.queue_capacity,
                "queue_capacity",
                16,
                16 * 1024 * 1024,
                defaults.queue_capacity as u64,
            )? as usize,
            queue_max_bytes: bounded(
                &a.queue_max_bytes,
                "queue_max_bytes",
                1 << 20,
                16 * GIB,
                defaults.queue_max_bytes,
            )?,
            max_field_bytes: bounded(
                &a.max_field_bytes,
                "max_field_bytes",
                64,
                64 * 1024,
                defaults.max_field_bytes as u64,
            )? as usize,
            spool_dir: a.spool_dir.map(|d| self.base_dir.join(d)),
            spool_max_bytes: bounded(
                &a.spool_max_bytes,
                "spool_max_bytes",
                1 << 20,
                1024 * GIB,
                defaults.spool_max_bytes,
            )?,
            ..defaults
        };
        let timeout = match &a.timeout {
            Some(d) => self.duration(d, "timeout")?,
            None => Duration::from_secs(5),
        };
        let kind = a.store.as_ref().map_or("sqlite", |s| s.get_ref().as_str());
        let kind_span = a.store.as_ref().map_or(0..0, Spanned::span);
        let url = |example: &str| -> Result<String, ConfigError> {
            a.url.as_ref().map(|u| u.get_ref().clone()).ok_or_else(|| {
                self.fault(
                    kind_span.clone(),
                    format!("store = \"{kind}\" needs `url`, e.g. {example}"),
                )
            })
        };
        let store = match kind {
            "sqlite" => {
                let defaults = SqliteCap::default();
                StoreSettings::Sqlite {
                    path: a.path.map(|p| self.base_dir.join(p)),
                    cap: SqliteCap {
                        max_rows: bounded(&a.max_rows, "max_rows", 1_000, 1 << 40, defaults.max_rows)?,
                        max_bytes: bounded(
                            &a.max_bytes,
                            "max_bytes",
                            1 << 20,
                            1024 * GIB,
                            defaults.max_bytes,
                        )?,
                    },
                }
            }
            "postgres" => StoreSettings::Postgres(PostgresSettings {
                url: url("\"postgres://edgeward@127.0.0.1:5432/edgeward\"")?,
                timeout,
            }),
            "clickhouse" => {
                let url = url("\"http://127.0.0.1:8123\"")?;
                if !url.starts_with("http://") {
                    let span = a.url.as_ref().map_or(0..0, Spanned::span);
                    return Err(self.fault(span, "ClickHouse `url` must look like http://127.0.0.1:8123"));
                }
                StoreSettings::ClickHouse(ClickHouseSettings {
                    url,
                    database: a
                        .database
                        .map_or_else(|| "edgeward".to_owned(), Spanned::into_inner),
                    user: a.user.map(|u| (u, a.password.unwrap_or_default())),
                    timeout,
                })
            }
            other => {
                return Err(self.fault(
                    kind_span,
                    format!("unknown analytics store `{other}`: expected sqlite, postgres or clickhouse"),
                ))
            }
        };
        Ok(AnalyticsSettings {
            enabled: a.enabled.unwrap_or(true),
            store,
            options,
        })
    }

    /// An instance name: what the fleet's dashboards list, so short and printable.
    fn instance_name(&self, name: &Spanned<String>) -> Result<String, ConfigError> {
        let n = name.get_ref();
        let ok = !n.is_empty()
            && n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(n.clone())
        } else {
            Err(self.fault(
                name.span(),
                "`instance` must be 1–64 letters, digits, '-', '_' or '.'",
            ))
        }
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n[[zones]]\nname = \"www\"\nhosts = [\"example.com\"]\norigins = [\"127.0.0.1:9000\"]\n";

    fn services(extra: &str) -> Result<Services, ConfigError> {
        crate::parse(
            &format!("{BASE}{extra}"),
            Path::new("t.toml"),
            Path::new("/etc/edgeward"),
        )
        .map(|c| c.services)
    }

    #[test]
    fn analytics_defaults_to_sqlite_in_memory_with_bounds() {
        let s = services("").unwrap().analytics;
        assert!(matches!(s.store, StoreSettings::Sqlite { path: None, .. }));
        assert_eq!(s.options.max_field_bytes, 1_024);
        assert!(s.options.spool_dir.is_none());
    }

    #[test]
    fn a_fleet_store_with_instance_and_spool() {
        let pg = services(
            "[analytics]\nstore = \"postgres\"\nurl = \"postgres://e@127.0.0.1/e\"\ninstance = \"edge-1\"\nspool_dir = \"spool\"\n",
        )
        .unwrap()
        .analytics;
        assert!(matches!(pg.store, StoreSettings::Postgres(ref p) if p.url == "postgres://e@127.0.0.1/e"));
        assert_eq!(pg.options.instance, "edge-1");
        assert_eq!(
            pg.options.spool_dir.as_deref(),
            Some(Path::new("/etc/edgeward/spool"))
        );
        let ch =
            services("[analytics]\nstore = \"clickhouse\"\nurl = \"http://127.0.0.1:8123\"\nuser = \"u\"\n")
                .unwrap()
                .analytics;
        let StoreSettings::ClickHouse(ch) = ch.store else {
            panic!()
        };
        assert_eq!(
            (ch.database.as_str(), ch.user),
            ("edgeward", Some(("u".to_owned(), String::new())))
        );
    }

    #[test]
    fn analytics_faults_name_the_line() {
        let line = |extra: &str| services(extra).unwrap_err().line;
        assert_eq!(line("[analytics]\nstore = \"postgres\"\n"), Some(8));
        assert_eq!(line("[analytics]\nstore = \"mysql\"\n"), Some(8));
        assert_eq!(
            line("[analytics]\nstore = \"clickhouse\"\nurl = \"tcp://x\"\n"),
            Some(9)
        );
        assert_eq!(line("[analytics]\ninstance = \"two words\"\n"), Some(8));
        assert_eq!(line("[analytics]\nmax_field_bytes = 1\n"), Some(8));
    }

    #[test]
    fn admin_allowed_hosts_are_names_without_ports() {
        let a = services("[admin]\nlisten = \"127.0.0.1:9090\"\nallowed_hosts = [\"admin.internal\"]\n")
            .unwrap()
            .admin
            .unwrap();
        assert_eq!(a.allowed_hosts, ["admin.internal"]);
        let err = services("[admin]\nlisten = \"127.0.0.1:9090\"\nallowed_hosts = [\"a:80\"]\n").unwrap_err();
        assert_eq!(err.line, Some(9));
    }
}
