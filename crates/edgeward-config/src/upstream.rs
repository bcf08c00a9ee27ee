//! `[upstream]` (timeouts, pooling, limits and retries towards every origin), a zone's
//! `origins` list (strings or `{ url, weight }` tables) and its `[zones.upstream]` section
//! (load balancing, health checks, TLS towards origins).
//!
//! Owns the raw shape of those keys and their validation into `edgeward-upstream`'s own
//! types, including reading the CA bundle and client certificate PEM files once. It does not
//! parse origin addresses (`origin`) nor act on any of it (`edgeward-upstream`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

pub use edgeward_upstream::{
    ActiveCheck, Balance, HashKey, HealthCheck, OriginTls, StatusMatch, UpstreamSettings, ZoneUpstream,
    DEFAULT_EXPECTED,
};

use crate::origin::{parse_origin, Origin};
use crate::schema::{DurationText, RawZone};
use crate::validate::Source;
use crate::ConfigError;

/// `[upstream]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub connect_timeout: Option<Spanned<DurationText>>,
    pub response_timeout: Option<Spanned<DurationText>>,
    pub idle_timeout: Option<Spanned<DurationText>>,
    pub max_idle_per_origin: Option<Spanned<u64>>,
    pub max_connections_per_origin: Option<Spanned<u64>>,
    pub queue_timeout: Option<Spanned<DurationText>>,
    pub retries: Option<Spanned<u64>>,
    pub retry_budget_percent: Option<Spanned<u64>>,
    pub max_response_headers: Option<Spanned<u64>>,
    pub max_response_header_bytes: Option<Spanned<u64>>,
}

/// One entry of a zone's `origins`: `"https://a:443"` or `{ url = "https://a:443", weight = 3 }`.
#[derive(Debug)]
pub(crate) struct RawOrigin {
    pub url: Spanned<String>,
    pub weight: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOriginTable {
    url: Spanned<String>,
    weight: Option<Spanned<u64>>,
}

/// `[zones.upstream]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZoneUpstream {
    pub load_balancing: Option<Spanned<String>>,
    pub hash_key: Option<Spanned<String>>,
    pub health_check: Option<RawHealthCheck>,
    pub tls: Option<RawOriginTls>,
}

/// `[zones.upstream.health_check]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealthCheck {
    pub path: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub expected_statuses: Option<Vec<Spanned<RawStatus>>>,
    pub interval: Option<Spanned<DurationText>>,
    pub timeout: Option<Spanned<DurationText>>,
    pub rise: Option<Spanned<u64>>,
    pub fall: Option<Spanned<u64>>,
    pub passive_fall: Option<Spanned<u64>>,
    pub half_open_after: Option<Spanned<DurationText>>,
}

/// `[zones.upstream.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOriginTls {
    pub server_name: Option<Spanned<String>>,
    pub ca_bundle: Option<Spanned<String>>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    pub insecure_skip_verify: Option<bool>,
    pub http2: Option<bool>,
}

/// A probe status: `200` or `"2xx"`.
#[derive(Debug)]
pub(crate) enum RawStatus {
    Number(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawOrigin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OriginVisitor;
        impl<'de> Visitor<'de> for OriginVisitor {
            type Value = RawOrigin;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an origin such as \"127.0.0.1:9000\", or a table { url = \"…\", weight = 2 }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawOrigin, E> {
                // The string's own span is set by the enclosing `Spanned`.
                Ok(RawOrigin {
                    url: Spanned::new(0..0, v.to_owned()),
                    weight: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawOrigin, A::Error> {
                let table = RawOriginTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawOrigin {
                    url: table.url,
                    weight: table.weight,
                })
            }
        }
        deserializer.deserialize_any(OriginVisitor)
    }
}

impl<'de> Deserialize<'de> for RawStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl Visitor<'_> for StatusVisitor {
            type Value = RawStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status such as 200, or a class such as \"2xx\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawStatus, E> {
                Ok(RawStatus::Number(u64::try_from(v).unwrap_or(0)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawStatus, E> {
                Ok(RawStatus::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStatus, E> {
                Ok(RawStatus::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(StatusVisitor)
    }
}

impl Source<'_> {
    /// `[upstream]` with defaults for absent keys.
    pub(crate) fn upstream(&self, raw: &RawUpstream) -> Result<UpstreamSettings, ConfigError> {
        let mut up = UpstreamSettings::default();
        let durations = [
            (&raw.connect_timeout, "connect_timeout", &mut up.connect_timeout),
            (
                &raw.response_timeout,
                "response_timeout",
                &mut up.response_timeout,
            ),
            (&raw.idle_timeout, "idle_timeout", &mut up.idle_timeout),
            (&raw.queue_timeout, "queue_timeout", &mut up.queue_timeout),
        ];
        for (value, key, slot) in durations {
            if let Some(d) = value {
                *slot = self.duration(d, key)?;
            }
        }
        let counts = [
            (
                &raw.max_idle_per_origin,
                "max_idle_per_origin",
                0,
                65_536,
                &mut up.max_idle_per_origin,
            ),
            (
                &raw.max_connections_per_origin,
                "max_connections_per_origin",
                0,
                1_000_000,
                &mut up.max_connections_per_origin,
            ),
            (
                &raw.max_response_headers,
                "max_response_headers",
                1,
                10_000,
                &mut up.max_response_headers,
            ),
            (
                &raw.max_response_header_bytes,
                "max_response_header_bytes",
                1024,
                1 << 20,
                &mut up.max_response_header_bytes,
            ),
        ];
        for (value, key, min, max, slot) in counts {
            if let Some(n) = value {
                *slot = self.bounded(n, key, min, max)? as usize;
            }
        }
        if let Some(n) = &raw.retries {
            up.retries = self.bounded(n, "retries", 0, 16)? as u32;
        }
        if let Some(n) = &raw.retry_budget_percent {
            up.retry_budget_percent = self.bounded(n, "retry_budget_percent", 0, 100)? as u32;
        }
        Ok(up)
    }

    /// A zone's `origins`: at least one, none twice.
    pub(crate) fn zone_origins(&self, raw: &RawZone, name: &str) -> Result<Vec<Origin>, ConfigError> {
        let list = match &raw.origins {
            Some(list) if !list.get_ref().is_empty() => list.get_ref(),
            other => {
                let span = other.as_ref().map_or_else(|| raw.name.span(), Spanned::span);
                let msg = format!(
                    "zone `{name}` has no origins: set `origins = [\"127.0.0.1:9000\"]` with at least one entry"
                );
                return Err(self.fault(span, msg));
            }
        };
        let mut origins: Vec<Origin> = Vec::with_capacity(list.len());
        for entry in list {
            let raw_origin = entry.get_ref();
            // A bare string carries no span of its own: use the entry's.
            let span = if raw_origin.url.span() == (0..0) {
                entry.span()
            } else {
                raw_origin.url.span()
            };
            let mut origin =
                parse_origin(raw_origin.url.get_ref()).map_err(|e| self.fault(span.clone(), e))?;
            if let Some(w) = &raw_origin.weight {
                origin.weight = self.bounded(w, "weight", 1, 1000)? as u32;
            }
            if origins.iter().any(|o| o.address == origin.address) {
                let msg = format!("origin `{origin}` is listed twice in zone `{name}`");
                return Err(self.fault(span, msg));
            }
            origins.push(origin);
        }
        Ok(origins)
    }

    /// `[zones.upstream]`: balancing, health checks and TLS, with defaults.
    pub(crate) fn zone_upstream(&self, raw: Option<&RawZoneUpstream>) -> Result<ZoneUpstream, ConfigError> {
        let Some(raw) = raw else {
            return Ok(ZoneUpstream::default());
        };
        Ok(ZoneUpstream {
            balance: self.balance(raw)?,
            health: match &raw.health_check {
                Some(check) => self.health_check(check)?,
                None => HealthCheck::default(),
            },
            tls: match &raw.tls {
                Some(tls) => self.origin_tls(tls)?,
                None => OriginTls::default(),
            },
        })
    }

    fn balance(&self, raw: &RawZoneUpstream) -> Result<Balance, ConfigError> {
        let policy = raw
            .load_balancing
            .as_ref()
            .map_or("round_robin", |p| p.get_ref().as_str());
        let balance = match policy {
            "round_robin" => Balance::RoundRobin,
            "least_outstanding" => Balance::LeastOutstanding,
            "consistent_hash" => Balance::ConsistentHash(match &raw.hash_key {
                Some(key) => hash_key(key.get_ref()).map_err(|e| self.fault(key.span(), e))?,
                None => HashKey::ClientIp,
            }),
            other => {
                let span = raw.load_balancing.as_ref().map_or(0..0, Spanned::span);
                let msg = format!(
                    "`load_balancing` = \"{other}\": expected round_robin, least_outstanding or consistent_hash"
                );
                return Err(self.fault(span, msg));
            }
        };
        if let (Some(key), false) = (&raw.hash_key, matches!(balance, Balance::ConsistentHash(_))) {
            let msg = "`hash_key` applies only with load_balancing = \"consistent_hash\"";
            return Err(self.fault(key.span(), msg));
        }
        Ok(balance)
    }

    fn health_check(&self, raw: &RawHealthCheck) -> Result<HealthCheck, ConfigError> {
        let mut health = HealthCheck::default();
        if let Some(n) = &raw.passive_fall {
            health.passive_fall = self.bounded(n, "passive_fall", 0, 1000)? as u32;
        }
        if let Some(d) = &raw.half_open_after {
            health.half_open_after = self.duration(d, "half_open_after")?;
        }
        let Some(path) = &raw.path else {
            let active_keys = [
                raw.host.as_ref().map(Spanned::span),
                raw.interval.as_ref().map(Spanned::span),
            ];
            let stray = active_keys.into_iter().flatten().next().or_else(|| {
                let counts = [&raw.rise, &raw.fall];
                counts.into_iter().flatten().map(Spanned::span).next()
            });
            if let Some(span) = stray.or_else(|| raw.timeout.as_ref().map(Spanned::span)) {
                return Err(self.fault(
                    span,
                    "active health checks need `path` (e.g. path = \"/healthz\")",
                ));
            }
            return Ok(health);
        };
        if !path.get_ref().starts_with('/') || path.get_ref().bytes().any(|b| b <= b' ' || b == 0x7f) {
            let msg = format!(
                "`path` = \"{}\": expected an origin-form target such as \"/healthz\"",
                path.get_ref()
            );
            return Err(self.fault(path.span(), msg));
        }
        let mut expected = Vec::new();
        for status in raw.expected_statuses.iter().flatten() {
            expected.push(status_match(status.get_ref()).map_err(|e| self.fault(status.span(), e))?);
        }
        if expected.is_empty() {
            expected = DEFAULT_EXPECTED.to_vec();
        }
        let mut check = ActiveCheck {
            path: path.get_ref().clone(),
            host: raw.host.as_ref().map(|h| h.get_ref().clone()),
            expected,
            interval: std::time::Duration::from_secs(5),
            timeout: std::time::Duration::from_secs(2),
            rise: 2,
            fall: 3,
        };
        if let Some(d) = &raw.interval {
            check.interval = self.duration(d, "interval")?;
        }
        if let Some(d) = &raw.timeout {
            check.timeout = self.duration(d, "timeout")?;
        }
        if let Some(n) = &raw.rise {
            check.rise = self.bounded(n, "rise", 1, 100)? as u32;
        }
        if let Some(n) = &raw.fall {
            check.fall = self.bounded(n, "fall", 1, 100)? as u32;
        }
        health.active = Some(check);
        Ok(health)
    }

    fn origin_tls(&self, raw: &RawOriginTls) -> Result<OriginTls, ConfigError> {
        let server_name = match &raw.server_name {
            Some(name) => {
                let text = name.get_ref();
                if rustls::pki_types::ServerName::try_from(text.as_str()).is_err() {
                    let msg = format!("`server_name` = \"{text}\" is not a DNS name or IP address");
                    return Err(self.fault(name.span(), msg));
                }
                Some(text.to_ascii_lowercase())
            }
            None => None,
        };
        let ca_bundle = match &raw.ca_bundle {
            Some(path) => Some(self.ca_bundle(path)?),
            None => None,
        };
        let client_cert = match (&raw.client_cert, &raw.client_key) {
            (Some(cert), Some(key)) => Some(self.client_cert(cert, key)?),
            (None, None) => None,
            (Some(only), None) | (None, Some(only)) => {
                return Err(self.fault(
                    only.span(),
                    "`client_cert` and `client_key` go together: set both",
                ));
            }
        };
        Ok(OriginTls {
            server_name,
            ca_bundle,
            client_cert,
            insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
            http2: raw.http2.unwrap_or(false),
        })
    }

    fn ca_bundle(&self, path: &Spanned<String>) -> Result<Arc<[CertificateDer<'static>]>, ConfigError> {
        let (full, pem) = self.read_file(path, "ca_bundle")?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                self.fault(
                    path.span(),
                    format!("`ca_bundle` {}: invalid PEM: {e}", full.display()),
                )
            })?;
        if certs.is_empty() {
            let msg = format!("`ca_bundle` {}: no PEM certificate in the file", full.display());
            return Err(self.fault(path.span(), msg));
        }
        let mut store = rustls::RootCertStore::empty();
        for cert in &certs {
            store.add(cert.clone()).map_err(|e| {
                let msg = format!("`ca_bundle` {}: unusable CA certificate ({e})", full.display());
                self.fault(path.span(), msg)
            })?;
        }
        Ok(Arc::from(certs))
    }

    fn client_cert(
        &self,
        cert: &Spanned<String>,
        key: &Spanned<String>,
    ) -> Result<Arc<CertifiedKey>, ConfigError> {
        let (cert_path, cert_pem) = self.read_file(cert, "client_cert")?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                self.fault(
                    cert.span(),
                    format!("`client_cert` {}: invalid PEM: {e}", cert_path.display()),
                )
            })?;
        if chain.is_empty() {
            let msg = format!(
                "`client_cert` {}: no PEM certificate in the file",
                cert_path.display()
            );
            return Err(self.fault(cert.span(), msg));
        }
        let (key_path, key_pem) = self.read_file(key, "client_key")?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            let msg = format!(
                "`client_key` {}: no PKCS#8, RSA or EC private key in PEM ({e})",
                key_path.display()
            );
            self.fault(key.span(), msg)
        })?;
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(chain, private, &provider).map_err(|e| {
            let msg = format!(
                "`client_key` {} does not fit `client_cert` {}: {e}",
                key_path.display(),
                cert_path.display()
            );
            self.fault(key.span(), msg)
        })?;
        Ok(Arc::new(certified))
    }

    fn read_file(
        &self,
        path: &Spanned<String>,
        key: &str,
    ) -> Result<(std::path::PathBuf, Vec<u8>), ConfigError> {
        let full = self.base_dir.join(Path::new(path.get_ref()));
        std::fs::read(&full)
            .map(|bytes| (full.clone(), bytes))
            .map_err(|e| {
                self.fault(
                    path.span(),
                    format!("`{key}`: cannot read {}: {e}", full.display()),
                )
            })
    }
}

/// `ip`, `header:NAME` or `cookie:NAME`.
fn hash_key(text: &str) -> Result<HashKey, String> {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b))
    };
    match text.split_once(':') {
        None if text == "ip" => Ok(HashKey::ClientIp),
        Some(("header", name)) if token(name) => Ok(HashKey::Header(name.to_ascii_lowercase())),
        Some(("cookie", name)) if token(name) => Ok(HashKey::Cookie(name.to_owned())),
        _ => Err(format!(
            "`hash_key` = \"{text}\": expected \"ip\", \"header:NAME\" or \"cookie:NAME\""
        )),
    }
}

fn status_match(raw: &RawStatus) -> Result<StatusMatch, String> {
    match raw {
        RawStatus::Number(n @ 100..=599) => Ok(StatusMatch::Exact(*n as u16)),
        RawStatus::Text(t)
            if t.len() == 3 && t.ends_with("xx") && (b'1'..=b'5').contains(&t.as_bytes()[0]) =>
        {
            Ok(StatusMatch::Class(t.as_bytes()[0] - b'0'))
        }
        RawStatus::Number(n) => Err(format!("`expected_statuses`: {n} is not a status (100-599)")),
        RawStatus::Text(t) => Err(format!(
            "`expected_statuses`: \"{t}\" is not a status or a class like \"2xx\""
        )),
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
