//! Turns the raw TOML shape into the typed `Config`, checking every value once.
//!
//! Owns the semantic rules (ranges, duplicates, host and origin syntax, error-page files) and
//! where each fault is reported; it does not own the file's shape (`schema`) or the syntax of
//! durations, hosts and origins (their own modules).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use edgeward_http::Limits;
use toml::Spanned;

use crate::duration::parse_duration;
use crate::error::line_column;
use crate::pages::{load_page, PageKey};
use crate::policy::RawPolicy;
use crate::schema::{DurationText, Listen, RawConfig, RawLimits, RawZone};
use crate::services::RawServices;
use crate::{Config, ConfigError, ErrorPages, HostPattern, Zone, DEFAULT_SHUTDOWN_TIMEOUT};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Where the text being validated came from, for locating faults.
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    /// Directory error-page and certificate paths are relative to.
    pub base_dir: &'a Path,
}

impl Source<'_> {
    pub(crate) fn fault(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, self.text, span, message)
    }

    /// Builds the typed configuration from the raw one.
    pub(crate) fn build(&self, mut raw: RawConfig) -> Result<Config, ConfigError> {
        let server = raw.server.ok_or_else(|| {
            ConfigError::whole_file(self.file, "missing [server] section (it must set `listen`)")
        })?;
        let listen = self.listen(&server.listen)?;
        let tls = self.tls(raw.tls, &listen)?;
        let workers = match &server.workers {
            Some(w) => self.bounded(w, "workers", 0, 1024)? as usize,
            None => 0,
        };
        let shutdown_timeout = match &server.shutdown_timeout {
            Some(d) => self.duration(d, "shutdown_timeout")?,
            None => DEFAULT_SHUTDOWN_TIMEOUT,
        };
        let max_connections = match &server.max_connections {
            Some(n) => self.bounded(n, "max_connections", 1, 10_000_000)? as usize,
            None => crate::DEFAULT_MAX_CONNECTIONS,
        };
        let upstream = self.upstream(&raw.upstream)?;
        let global_limits = self.limits(&Limits::default(), &raw.limits)?;
        let cache_rules = raw.zones.iter_mut().map(|z| std::mem::take(&mut z.cache_rules));
        let cache_rules = cache_rules.collect();
        let zones = self.zones(raw.zones, &global_limits)?;
        let cache = self.cache(raw.cache, cache_rules)?;
        let real_ip = self.real_ip(raw.real_ip)?;
        let default_zone =
            match &server.default_zone {
                None => None,
                Some(name) => Some(zones.iter().position(|z| z.name == *name.get_ref()).ok_or_else(
                    || {
                        self.fault(
                            name.span(),
                            format!("`default_zone`: no zone is named `{}`", name.get_ref()),
                        )
                    },
                )?),
            };
        let services = self.services(RawServices {
            challenge: raw.challenge,
            rate_limit_store: raw.rate_limit_store,
            admin: raw.admin,
            analytics: raw.analytics,
            geoip: raw.geoip,
        })?;
        Ok(Config {
            services,
            listen,
            tls,
            workers,
            shutdown_timeout,
            h2c: server.h2c.unwrap_or(true),
            max_connections,
            real_ip,
            default_zone,
            upstream,
            limits: global_limits,
            zones,
            cache,
        })
    }

    pub(crate) fn listen(&self, listen: &Spanned<Listen>) -> Result<Vec<SocketAddr>, ConfigError> {
        let one_addr = |text: &str, span: Range<usize>| {
            text.parse::<SocketAddr>().map_err(|_| {
                self.fault(
                    span,
                    format!(
                        "invalid listen address `{text}`: expected ip:port such as \
                         \"127.0.0.1:8080\" or \"[::]:80\""
                    ),
                )
            })
        };
        let addrs = match listen.get_ref() {
            Listen::One(text) => vec![one_addr(text, listen.span())?],
            Listen::Many(list) => {
                let mut addrs: Vec<SocketAddr> = Vec::with_capacity(list.len());
                for text in list {
                    let addr = one_addr(text.get_ref(), text.span())?;
                    if addrs.contains(&addr) {
                        let msg = format!("listen address `{addr}` is listed twice");
                        return Err(self.fault(text.span(), msg));
                    }
                    addrs.push(addr);
                }
                addrs
            }
        };
        if addrs.is_empty() {
            let msg = "`listen` is empty: give at least one address such as \"127.0.0.1:8080\"";
            return Err(self.fault(listen.span(), msg));
        }
        Ok(addrs)
    }

    /// `base` with the keys present in `raw` replaced, each checked against its sane range.
    fn limits(&self, base: &Limits, raw: &RawLimits) -> Result<Limits, ConfigError> {
        let mut limits = base.clone();
        if let Some(n) = &raw.max_target_bytes {
            limits.max_target_bytes = self.bounded(n, "max_target_bytes", 16, MIB)? as usize;
        }
        if let Some(n) = &raw.max_header_bytes {
            limits.max_header_bytes = self.bounded(n, "max_header_bytes", 256, MIB)? as usize;
        }
        if let Some(n) = &raw.max_field_bytes {
            limits.max_field_bytes = self.bounded(n, "max_field_bytes", 16, MIB)? as usize;
        }
        if let Some(n) = &raw.max_headers {
            limits.max_headers = self.bounded(n, "max_headers", 1, 10_000)? as usize;
        }
        if let Some(n) = &raw.max_body_bytes {
            limits.max_body_bytes = self.bounded(n, "max_body_bytes", 0, MIB * MIB)?;
        }
        if let Some(n) = &raw.body_retry_after {
            limits.body_retry_after = Some(self.bounded(n, "body_retry_after", 1, 86_400)?);
        }
        if let Some(required) = raw.require_content_length {
            limits.require_content_length = required;
        }
        if let Some(d) = &raw.header_timeout {
            limits.header_timeout = self.duration(d, "header_timeout")?;
        }
        if let Some(d) = &raw.body_timeout {
            limits.body_timeout = self.duration(d, "body_timeout")?;
        }
        if let Some(d) = &raw.keepalive_timeout {
            limits.keepalive_timeout = self.duration(d, "keepalive_timeout")?;
        }
        if limits.max_field_bytes > limits.max_header_bytes {
            // The outer level was consistent, so one of the two keys is set at this level.
            let span = raw
                .max_field_bytes
                .as_ref()
                .or(raw.max_header_bytes.as_ref())
                .map_or(0..0, Spanned::span);
            let msg = format!(
                "max_field_bytes ({}) exceeds max_header_bytes ({}): a field cannot be larger \
                 than the whole header section",
                limits.max_field_bytes, limits.max_header_bytes
            );
            return Err(self.fault(span, msg));
        }
        Ok(limits)
    }

    pub(crate) fn bounded(
        &self,
        n: &Spanned<u64>,
        key: &str,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let value = *n.get_ref();
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            let msg = format!("`{key}` = {value} is out of range: expected {min} to {max}");
            Err(self.fault(n.span(), msg))
        }
    }

    pub(crate) fn duration(&self, d: &Spanned<DurationText>, key: &str) -> Result<Duration, ConfigError> {
        let text = &d.get_ref().0;
        let value = parse_duration(text).map_err(|e| self.fault(d.span(), format!("`{key}`: {e}")))?;
        if value.is_zero() {
            let msg = format!("`{key}` = \"{text}\" must be greater than zero");
            return Err(self.fault(d.span(), msg));
        }
        if value > DAY {
            let msg = format!("`{key}` = \"{text}\" is out of range: at most 24h");
            return Err(self.fault(d.span(), msg));
        }
        Ok(value)
    }

    fn zones(&self, raw: Vec<RawZone>, global: &Limits) -> Result<Vec<Zone>, ConfigError> {
        if raw.is_empty() {
            return Err(ConfigError::whole_file(
                self.file,
                "no zones: add at least one [[zones]] with `name`, `hosts` and `origins`",
            ));
        }
        let mut names: HashMap<String, Range<usize>> = HashMap::new();
        // Every host pattern seen so far, with the index of the zone that claimed it.
        let mut claimed: HashMap<HostPattern, usize> = HashMap::new();
        let mut zones: Vec<Zone> = Vec::with_capacity(raw.len());
        for raw_zone in raw {
            let name = self.zone_name(&raw_zone.name)?;
            if let Some(first) = names.get(&name) {
                let (line, _) = line_column(self.text, first.start);
                let msg = format!("duplicate zone name `{name}` (first defined on line {line})");
                return Err(self.fault(raw_zone.name.span(), msg));
            }
            names.insert(name.clone(), raw_zone.name.span());
            let hosts = self.zone_hosts(&raw_zone, &name, &zones, &mut claimed)?;
            let origins = self.zone_origins(&raw_zone, &name)?;
            let upstream = self.zone_upstream(raw_zone.upstream.as_ref())?;
            // Heads are read before the zone is known: their timers can only be the listener's.
            for (key, value) in [
                ("header_timeout", &raw_zone.limits.header_timeout),
                ("keepalive_timeout", &raw_zone.limits.keepalive_timeout),
            ] {
                if let Some(v) = value {
                    let msg = format!(
                        "`{key}` applies to whole connections, before a zone is known: set it in [limits]"
                    );
                    return Err(self.fault(v.span(), msg));
                }
            }
            let limits = self.limits(global, &raw_zone.limits)?;
            let error_pages = self.error_pages(&raw_zone)?;
            let upgrade_idle_timeout = match &raw_zone.upgrade_idle_timeout {
                Some(d) => self.duration(d, "upgrade_idle_timeout")?,
                None => crate::DEFAULT_UPGRADE_IDLE_TIMEOUT,
            };
            let traffic = self.traffic(crate::traffic::RawTraffic {
                always_use_https: raw_zone.always_use_https,
                hsts: raw_zone.hsts,
                redirects: raw_zone.redirects,
                redirect_lists: raw_zone.redirect_lists,
                request_transforms: raw_zone.request_transforms,
                response_transforms: raw_zone.response_transforms,
                custom_errors: raw_zone.custom_errors,
            })?;
            let policy = self.policy(RawPolicy {
                rules: raw_zone.rules,
                rate_limits: raw_zone.rate_limits,
                waf: raw_zone.waf,
                ip_rules: raw_zone.ip_rules,
                browser_check: raw_zone.browser_check,
                auth: raw_zone.auth,
            })?;
            zones.push(Zone {
                name,
                hosts,
                origins,
                upstream,
                limits,
                intercept_origin_404: raw_zone.intercept_origin_404,
                upgrades: raw_zone.upgrades.unwrap_or(true),
                underscores_in_headers: raw_zone.underscores_in_headers.unwrap_or(false),
                upgrade_idle_timeout,
                error_pages,
                policy,
                traffic,
            });
        }
        Ok(zones)
    }

    fn zone_name(&self, name: &Spanned<String>) -> Result<String, ConfigError> {
        let text = name.get_ref();
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(text.clone())
        } else {
            let msg = format!("invalid zone name `{text}`: use 1 to 64 letters, digits, '-', '_' or '.'");
            Err(self.fault(name.span(), msg))
        }
    }

    fn zone_hosts(
        &self,
        raw: &RawZone,
        name: &str,
        earlier: &[Zone],
        claimed: &mut HashMap<HostPattern, usize>,
    ) -> Result<Vec<HostPattern>, ConfigError> {
        let list = self.non_empty_list(raw, raw.hosts.as_ref(), name, "hosts", "\"example.com\"")?;
        let mut hosts = Vec::with_capacity(list.len());
        for text in list {
            let pattern = HostPattern::parse(text.get_ref()).map_err(|e| self.fault(text.span(), e))?;
            match claimed.get(&pattern) {
                Some(&zone) if zone == earlier.len() => {
                    let msg = format!("host `{pattern}` is listed twice in zone `{name}`");
                    return Err(self.fault(text.span(), msg));
                }
                Some(&zone) => {
                    let msg = format!(
                        "host `{pattern}` is in both zone `{}` and zone `{name}`",
                        earlier[zone].name
                    );
                    return Err(self.fault(text.span(), msg));
                }
                None => {}
            }
            claimed.insert(pattern.clone(), earlier.len());
            hosts.push(pattern);
        }
        Ok(hosts)
    }

    /// The entries of a zone's `hosts` / `origins`, or a fault if it is missing or empty.
    fn non_empty_list<'r>(
        &self,
        zone: &RawZone,
        list: Option<&'r Spanned<Vec<Spanned<String>>>>,
        name: &str,
        key: &str,
        example: &str,
    ) -> Result<&'r [Spanned<String>], ConfigError> {
        match list {
            Some(list) if !list.get_ref().is_empty() => Ok(list.get_ref()),
            other => {
                let span = other.map_or_else(|| zone.name.span(), Spanned::span);
                let msg =
                    format!("zone `{name}` has no {key}: set `{key} = [{example}]` with at least one entry");
                Err(self.fault(span, msg))
            }
        }
    }

    fn error_pages(&self, raw: &RawZone) -> Result<ErrorPages, ConfigError> {
        let mut pages = ErrorPages::default();
        for (key, path) in &raw.error_pages {
            let page_key = PageKey::parse(key.get_ref()).map_err(|e| self.fault(key.span(), e))?;
            let template =
                load_page(self.base_dir, path.get_ref()).map_err(|e| self.fault(path.span(), e))?;
            pages.insert(page_key, template);
        }
        Ok(pages)
    }
}

#[cfg(test)]
mod tests;
