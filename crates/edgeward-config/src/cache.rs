//! The cache as configured: the process-wide `[cache]` section (store, sizes, collapsing,
//! heuristics, purge channel, `[cache.compression]`) and each zone's `[[zones.cache_rules]]`.
//!
//! Owns their TOML shape and validation; rule expressions are compiled here so a bad one is
//! reported at its line and column. The typed values are `edgeward-cache`'s own
//! ([`CacheSettings`], [`ZoneCache`]): nothing is mirrored. It does not open stores or
//! subscribe to Redis (the binary does, with `edgeward_cache::open_store`).
//!
//! ```toml
//! [cache]
//! store = "disk"                 # or "memory" (the default)
//! path = "cache"                 # disk only; relative to the config file
//! max_bytes = 1073741824
//! max_object_bytes = 16777216
//! purge_redis_url = "redis://127.0.0.1:6379/"
//! purge_channel = "edgeward:purge"
//!
//! [[zones.cache_rules]]
//! id = "static"
//! expression = 'starts_with(http.request.uri.path, "/static/")'
//! action = "cache"               # or "bypass"
//! edge_ttl = "1h"                # edge_ttl_mode = "override" (default) or "default"
//! browser_ttl = "10m"
//! query = "sorted"               # "full" (default), "ignore" or "sorted"
//! key_headers = ["x-device"]
//! key_cookies = ["lang"]
//! ```

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use edgeward_cache::compress::Encoding;
use edgeward_cache::{
    CacheAction, CachePolicy, CacheRule, CacheSettings, CompressionSettings, EdgeTtl, Heuristic, KeyOptions,
    PurgeChannel, QueryKey, StoreSettings, ZoneCache,
};
use edgeward_rules::Expr;
use serde::Deserialize;
use toml::Spanned;

use crate::schema::DurationText;
use crate::validate::Source;
use crate::ConfigError;

/// `[cache]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub store: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub max_bytes: Option<Spanned<u64>>,
    pub max_object_bytes: Option<Spanned<u64>>,
    pub collapse_timeout: Option<Spanned<DurationText>>,
    pub heuristic_fraction: Option<Spanned<f64>>,
    pub heuristic_max: Option<Spanned<DurationText>>,
    pub purge_redis_url: Option<Spanned<String>>,
    pub purge_channel: Option<Spanned<String>>,
    pub compression: Option<RawCompression>,
}

/// `[cache.compression]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompression {
    pub enabled: Option<bool>,
    pub min_bytes: Option<Spanned<u64>>,
    pub encodings: Option<Spanned<Vec<Spanned<String>>>>,
    pub types: Option<Vec<Spanned<String>>>,
}

/// `[[zones.cache_rules]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCacheRule {
    pub id: Spanned<String>,
    pub expression: Spanned<String>,
    pub action: Spanned<String>,
    pub edge_ttl: Option<Spanned<DurationText>>,
    pub edge_ttl_mode: Option<Spanned<String>>,
    pub browser_ttl: Option<Spanned<DurationText>>,
    pub query: Option<Spanned<String>>,
    #[serde(default)]
    pub key_headers: Vec<Spanned<String>>,
    #[serde(default)]
    pub key_cookies: Vec<Spanned<String>>,
    #[serde(default)]
    pub cache_set_cookie: bool,
    pub serve_stale_on_error: Option<Spanned<DurationText>>,
}

/// The cache as configured: `None` settings when `[cache]` is absent (no caching at all), and
/// one [`ZoneCache`] per zone, in zone order.
#[derive(Debug, Clone, Default)]
pub struct CacheConfig {
    /// `[cache]`, or `None`.
    pub settings: Option<CacheSettings>,
    /// Per zone (same index as `Config::zones`).
    pub zones: Vec<ZoneCache>,
}

impl CacheConfig {
    /// The cache rules of zone `i` (defaults when out of range).
    pub fn zone(&self, i: usize) -> &ZoneCache {
        static EMPTY: std::sync::OnceLock<ZoneCache> = std::sync::OnceLock::new();
        self.zones
            .get(i)
            .unwrap_or_else(|| EMPTY.get_or_init(ZoneCache::default))
    }
}

const MIB: u64 = 1024 * 1024;

impl Source<'_> {
    /// Validates `[cache]` and every zone's cache rules.
    pub(crate) fn cache(
        &self,
        raw: Option<RawCache>,
        zones: Vec<Vec<RawCacheRule>>,
    ) -> Result<CacheConfig, ConfigError> {
        let settings = raw.map(|r| self.cache_settings(r)).transpose()?;
        let zones = zones
            .into_iter()
            .map(|rules| self.zone_cache(rules))
            .collect::<Result<_, _>>()?;
        Ok(CacheConfig { settings, zones })
    }

    fn cache_settings(&self, r: RawCache) -> Result<CacheSettings, ConfigError> {
        let defaults = CacheSettings::default();
        let max_bytes = match &r.max_bytes {
            Some(n) => self.bounded(n, "max_bytes", MIB, 1 << 50)?,
            None => 256 * MIB,
        };
        let store = match r.store.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("memory") => {
                if let Some(p) = &r.path {
                    return Err(self.fault(p.span(), "`path` is for store = \"disk\""));
                }
                StoreSettings::Memory { max_bytes }
            }
            Some("disk") => {
                let span = r.store.as_ref().map_or(0..0, Spanned::span);
                let path = r
                    .path
                    .as_ref()
                    .ok_or_else(|| self.fault(span, "store = \"disk\" needs `path`"))?;
                StoreSettings::Disk {
                    path: self.base_dir.join(PathBuf::from(path.get_ref())),
                    max_bytes,
                }
            }
            Some(other) => {
                let span = r.store.as_ref().map_or(0..0, Spanned::span);
                return Err(self.fault(span, format!("unknown store `{other}`: expected memory or disk")));
            }
        };
        let max_object_bytes = match &r.max_object_bytes {
            Some(n) => self.bounded(n, "max_object_bytes", 1, max_bytes)?,
            None => defaults.max_object_bytes.min(max_bytes),
        };
        let collapse_timeout = match &r.collapse_timeout {
            Some(d) => self.duration(d, "collapse_timeout")?,
            None => defaults.collapse_timeout,
        };
        let heuristic = match &r.heuristic_fraction {
            None => {
                if let Some(m) = &r.heuristic_max {
                    return Err(self.fault(m.span(), "`heuristic_max` needs `heuristic_fraction`"));
                }
                None
            }
            Some(f) if *f.get_ref() > 0.0 && *f.get_ref() <= 1.0 => Some(Heuristic {
                fraction: *f.get_ref(),
                max: match &r.heuristic_max {
                    Some(d) => self.duration(d, "heuristic_max")?,
                    None => Duration::from_secs(24 * 3600),
                },
            }),
            Some(f) => return Err(self.fault(f.span(), "`heuristic_fraction` must be in (0, 1], e.g. 0.1")),
        };
        let purge = match (&r.purge_redis_url, &r.purge_channel) {
            (None, None) => None,
            (Some(url), channel) => {
                if !url.get_ref().starts_with("redis://") && !url.get_ref().starts_with("rediss://") {
                    return Err(self.fault(url.span(), "`purge_redis_url` must be a redis:// URL"));
                }
                let channel = channel
                    .as_ref()
                    .map_or("edgeward:purge".to_string(), |c| c.get_ref().clone());
                Some(PurgeChannel {
                    url: url.get_ref().clone(),
                    channel,
                })
            }
            (None, Some(c)) => return Err(self.fault(c.span(), "`purge_channel` needs `purge_redis_url`")),
        };
        let compression = match r.compression {
            Some(c) => self.compression(c)?,
            None => CompressionSettings::default(),
        };
        Ok(CacheSettings {
            store,
            max_object_bytes,
            collapse_timeout,
            heuristic,
            purge,
            compression,
        })
    }

    fn compression(&self, c: RawCompression) -> Result<CompressionSettings, ConfigError> {
        let mut out = CompressionSettings::default();
        if let Some(enabled) = c.enabled {
            out.enabled = enabled;
        }
        if let Some(n) = &c.min_bytes {
            out.min_bytes = self.bounded(n, "min_bytes", 0, 1 << 30)?;
        }
        if let Some(list) = &c.encodings {
            let mut encodings = Vec::new();
            for e in list.get_ref() {
                let enc = Encoding::parse(e.get_ref()).ok_or_else(|| {
                    self.fault(
                        e.span(),
                        format!("unknown encoding `{}`: expected zstd, br or gzip", e.get_ref()),
                    )
                })?;
                if encodings.contains(&enc) {
                    return Err(self.fault(e.span(), format!("encoding `{}` is listed twice", e.get_ref())));
                }
                encodings.push(enc);
            }
            if encodings.is_empty() {
                return Err(self.fault(list.span(), "`encodings` is empty: set enabled = false instead"));
            }
            out.encodings = encodings;
        }
        if let Some(types) = &c.types {
            let mut parsed = Vec::new();
            for t in types {
                let text = t.get_ref().trim().to_ascii_lowercase();
                let (kind, sub) = text.split_once('/').unwrap_or(("", ""));
                if kind.is_empty() || sub.is_empty() || kind == "*" {
                    let msg = format!(
                        "invalid media type `{}`: expected type/subtype or type/*",
                        t.get_ref()
                    );
                    return Err(self.fault(t.span(), msg));
                }
                parsed.push(text);
            }
            out.types = parsed;
        }
        Ok(out)
    }

    fn zone_cache(&self, raw: Vec<RawCacheRule>) -> Result<ZoneCache, ConfigError> {
        let mut ids = HashSet::new();
        let mut rules = Vec::with_capacity(raw.len());
        for r in raw {
            if !ids.insert(r.id.get_ref().clone()) {
                return Err(self.fault(
                    r.id.span(),
                    format!("duplicate cache rule id `{}` in this zone", r.id.get_ref()),
                ));
            }
            rules.push(self.cache_rule(r)?);
        }
        Ok(ZoneCache {
            rules,
            default: CachePolicy::default(),
        })
    }

    fn cache_rule(&self, r: RawCacheRule) -> Result<CacheRule, ConfigError> {
        let id = r.id.get_ref().clone();
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(self.fault(
                r.id.span(),
                format!("invalid rule id `{id}`: use 1 to 64 letters, digits, '-', '_' or '.'"),
            ));
        }
        let expr = self.cache_expression(&r.expression)?;
        let action = match r.action.get_ref().as_str() {
            "bypass" => {
                let extra = [
                    r.edge_ttl.as_ref().map(Spanned::span),
                    r.browser_ttl.as_ref().map(Spanned::span),
                    r.query.as_ref().map(Spanned::span),
                ];
                if let Some(span) = extra.into_iter().flatten().next() {
                    return Err(self.fault(span, "a bypass rule takes no cache options"));
                }
                CacheAction::Bypass
            }
            "cache" => CacheAction::Cache(self.cache_policy(&r)?),
            other => {
                return Err(self.fault(
                    r.action.span(),
                    format!("unknown cache action `{other}`: expected cache or bypass"),
                ));
            }
        };
        Ok(CacheRule { id, expr, action })
    }

    fn cache_policy(&self, r: &RawCacheRule) -> Result<CachePolicy, ConfigError> {
        let ttl = r
            .edge_ttl
            .as_ref()
            .map(|d| self.duration(d, "edge_ttl"))
            .transpose()?;
        let edge_ttl = match (ttl, r.edge_ttl_mode.as_ref()) {
            (None, None) => EdgeTtl::Origin,
            (None, Some(m)) => return Err(self.fault(m.span(), "`edge_ttl_mode` needs `edge_ttl`")),
            (Some(t), None) => EdgeTtl::Override(t),
            (Some(t), Some(m)) => match m.get_ref().as_str() {
                "override" => EdgeTtl::Override(t),
                "default" => EdgeTtl::Default(t),
                other => {
                    return Err(self.fault(
                        m.span(),
                        format!("unknown edge_ttl_mode `{other}`: expected override or default"),
                    ));
                }
            },
        };
        let browser_ttl = r
            .browser_ttl
            .as_ref()
            .map(|d| self.duration(d, "browser_ttl"))
            .transpose()?;
        let query = match r.query.as_ref().map(|q| q.get_ref().as_str()) {
            None | Some("full") => QueryKey::Full,
            Some("ignore") => QueryKey::Ignore,
            Some("sorted") => QueryKey::Sorted,
            Some(other) => {
                let span = r.query.as_ref().map_or(0..0, Spanned::span);
                return Err(self.fault(
                    span,
                    format!("unknown query option `{other}`: expected full, ignore or sorted"),
                ));
            }
        };
        let mut headers = Vec::new();
        for h in &r.key_headers {
            let name = h.get_ref().trim().to_ascii_lowercase();
            if http_token(&name).is_none() {
                return Err(self.fault(h.span(), format!("invalid header name `{}`", h.get_ref())));
            }
            headers.push(name);
        }
        let mut cookies = Vec::new();
        for c in &r.key_cookies {
            if http_token(c.get_ref()).is_none() {
                return Err(self.fault(c.span(), format!("invalid cookie name `{}`", c.get_ref())));
            }
            cookies.push(c.get_ref().clone());
        }
        let serve_stale_on_error = match &r.serve_stale_on_error {
            Some(d) => self.duration(d, "serve_stale_on_error")?,
            None => Duration::ZERO,
        };
        Ok(CachePolicy {
            edge_ttl,
            browser_ttl,
            key: KeyOptions {
                query,
                headers,
                cookies,
            },
            cache_set_cookie: r.cache_set_cookie,
            serve_stale_on_error,
        })
    }

    /// Compiles an expression; a compile error points at its column inside the string.
    fn cache_expression(&self, src: &Spanned<String>) -> Result<Expr, ConfigError> {
        edgeward_rules::compile(src.get_ref()).map_err(|e| {
            let at = src.span().start + 1 + e.column.saturating_sub(1);
            self.fault(at..at + 1, format!("in expression: {}", e.message))
        })
    }
}

/// `Some` when `s` is a non-empty RFC 9110 token.
fn http_token(s: &str) -> Option<&str> {
    (!s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
    .then_some(s)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(extra: &str) -> Result<crate::Config, ConfigError> {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\n{extra}\n[[zones]]\nname = \"www\"\nhosts = [\"example.com\"]\norigins = [\"127.0.0.1:9000\"]\n"
        );
        crate::parse(&text, Path::new("edgeward.toml"), Path::new("/etc/edgeward"))
    }

    fn parse_rules(rules: &str) -> Result<crate::Config, ConfigError> {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\n[[zones]]\nname = \"www\"\nhosts = [\"example.com\"]\norigins = [\"127.0.0.1:9000\"]\n{rules}"
        );
        crate::parse(&text, Path::new("edgeward.toml"), Path::new("/etc/edgeward"))
    }

    #[test]
    fn no_cache_section_means_no_cache() {
        let c = parse("").unwrap();
        assert!(c.cache.settings.is_none());
        assert_eq!(c.cache.zones.len(), 1);
        assert!(c.cache.zone(0).rules.is_empty());
    }

    #[test]
    fn a_full_cache_section() {
        let c = parse(
            "[cache]\nstore = \"disk\"\npath = \"cache\"\nmax_bytes = 1073741824\nmax_object_bytes = 1048576\n\
             collapse_timeout = \"5s\"\nheuristic_fraction = 0.1\nheuristic_max = \"1h\"\n\
             purge_redis_url = \"redis://127.0.0.1:6379/\"\n[cache.compression]\nmin_bytes = 512\nencodings = [\"br\", \"gzip\"]\ntypes = [\"text/*\", \"application/json\"]\n",
        )
        .unwrap();
        let s = c.cache.settings.unwrap();
        assert_eq!(
            s.store,
            StoreSettings::Disk {
                path: PathBuf::from("/etc/edgeward/cache"),
                max_bytes: 1 << 30
            }
        );
        assert_eq!(s.max_object_bytes, 1 << 20);
        assert_eq!(s.collapse_timeout, Duration::from_secs(5));
        assert_eq!(s.heuristic.unwrap().max, Duration::from_secs(3600));
        assert_eq!(s.purge.unwrap().channel, "edgeward:purge");
        assert_eq!(s.compression.encodings, vec![Encoding::Brotli, Encoding::Gzip]);
        assert_eq!(s.compression.min_bytes, 512);
    }

    #[test]
    fn cache_section_faults_name_their_line() {
        let cases = [
            ("[cache]\nstore = \"tape\"\n", "unknown store `tape`", 4),
            ("[cache]\nstore = \"disk\"\n", "needs `path`", 4),
            ("[cache]\npath = \"x\"\n", "`path` is for store = \"disk\"", 4),
            ("[cache]\nheuristic_fraction = 2.0\n", "heuristic_fraction", 4),
            ("[cache]\npurge_channel = \"c\"\n", "needs `purge_redis_url`", 4),
            ("[cache]\npurge_redis_url = \"http://x\"\n", "redis:// URL", 4),
            (
                "[cache.compression]\nencodings = [\"lz4\"]\n",
                "unknown encoding `lz4`",
                4,
            ),
            (
                "[cache.compression]\ntypes = [\"*/*\"]\n",
                "invalid media type",
                4,
            ),
            ("[cache]\nbogus = 1\n", "unknown field", 4),
        ];
        for (extra, want, line) in cases {
            let err = parse(extra).unwrap_err();
            assert!(err.to_string().contains(want), "{extra}: {err}");
            assert_eq!(err.line, Some(line), "{extra}: {err}");
        }
    }

    #[test]
    fn cache_rules_compile_in_order() {
        let c = parse_rules(
            "[[zones.cache_rules]]\nid = \"api\"\nexpression = 'starts_with(http.request.uri.path, \"/api/\")'\naction = \"bypass\"\n\
             [[zones.cache_rules]]\nid = \"static\"\nexpression = 'ends_with(http.request.uri.path, \".js\")'\naction = \"cache\"\n\
             edge_ttl = \"1h\"\nedge_ttl_mode = \"default\"\nbrowser_ttl = \"10m\"\nquery = \"sorted\"\nkey_headers = [\"X-Device\"]\n\
             key_cookies = [\"lang\"]\ncache_set_cookie = true\nserve_stale_on_error = \"5m\"\n",
        )
        .unwrap();
        let zone = c.cache.zone(0);
        assert_eq!(zone.rules.len(), 2);
        assert!(matches!(zone.rules[0].action, CacheAction::Bypass));
        let CacheAction::Cache(p) = &zone.rules[1].action else {
            panic!("cache rule")
        };
        assert_eq!(p.edge_ttl, EdgeTtl::Default(Duration::from_secs(3600)));
        assert_eq!(p.browser_ttl, Some(Duration::from_secs(600)));
        assert_eq!(
            p.key,
            KeyOptions {
                query: QueryKey::Sorted,
                headers: vec!["x-device".into()],
                cookies: vec!["lang".into()]
            }
        );
        assert!(p.cache_set_cookie);
        assert_eq!(p.serve_stale_on_error, Duration::from_secs(300));
        let headers: &[(&str, &str)] = &[];
        let mut req = edgeward_rules::Request::new("10.0.0.1".parse().unwrap(), &headers);
        req.path = "/api/x";
        assert!(matches!(
            zone.select(|e| e.eval(&req)),
            edgeward_cache::Selected::Bypass("api")
        ));
        req.path = "/app.js";
        assert!(
            matches!(zone.select(|e| e.eval(&req)), edgeward_cache::Selected::Cache(p) if p.browser_ttl.is_some())
        );
        req.path = "/page";
        assert!(
            matches!(zone.select(|e| e.eval(&req)), edgeward_cache::Selected::Cache(p) if p.browser_ttl.is_none())
        );
    }

    #[test]
    fn cache_rule_faults_name_their_line() {
        let rule = |body: &str| format!("[[zones.cache_rules]]\nid = \"r\"\n{body}");
        let cases = [
            (
                rule("expression = 'http.request.uri.path eq'\naction = \"cache\"\n"),
                "in expression",
                9,
            ),
            (
                rule("expression = 'http.host eq \"a\"'\naction = \"store\"\n"),
                "unknown cache action",
                10,
            ),
            (
                rule("expression = 'http.host eq \"a\"'\naction = \"bypass\"\nedge_ttl = \"1h\"\n"),
                "takes no cache options",
                11,
            ),
            (
                rule("expression = 'http.host eq \"a\"'\naction = \"cache\"\nquery = \"drop\"\n"),
                "unknown query option",
                11,
            ),
            (
                rule("expression = 'http.host eq \"a\"'\naction = \"cache\"\nedge_ttl_mode = \"default\"\n"),
                "needs `edge_ttl`",
                11,
            ),
            (
                rule("expression = 'http.host eq \"a\"'\naction = \"cache\"\nkey_headers = [\"a b\"]\n"),
                "invalid header name",
                11,
            ),
        ];
        for (rules, want, line) in cases {
            let err = parse_rules(&rules).unwrap_err();
            assert!(err.to_string().contains(want), "{rules}: {err}");
            assert_eq!(err.line, Some(line), "{rules}: {err}");
        }
        let dup = parse_rules(&format!(
            "{}{}",
            rule("expression = 'http.host eq \"a\"'\naction = \"bypass\"\n"),
            rule("expression = 'http.host eq \"a\"'\naction = \"bypass\"\n")
        ));
        assert!(dup.unwrap_err().to_string().contains("duplicate cache rule id"));
    }
}
