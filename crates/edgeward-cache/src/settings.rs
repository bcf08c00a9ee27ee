//! The cache's settings as typed values: the process-wide `[cache]` section ([`CacheSettings`])
//! and a zone's cache rules ([`ZoneCache`], [`CacheRule`], [`CachePolicy`], [`KeyOptions`]).
//!
//! `edgeward-config` builds these from TOML (rule expressions compiled there, so faults carry
//! a line and column); nothing here parses text. Rules are matched by the proxy with the rules
//! engine's request view: [`ZoneCache::select`] takes the match predicate.

use std::path::PathBuf;
use std::time::Duration;

use edgeward_rules::Expr;

use crate::freshness::Heuristic;

/// `[cache]`: where objects live, how big they may be, and the purge fan-out.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// The store.
    pub store: StoreSettings,
    /// Objects larger than this pass through uncached.
    pub max_object_bytes: u64,
    /// How long concurrent misses for one key wait for the first one's fill.
    pub collapse_timeout: Duration,
    /// Heuristic freshness (off unless configured).
    pub heuristic: Option<Heuristic>,
    /// Purge fan-out over Redis pub/sub.
    pub purge: Option<PurgeChannel>,
    /// Compression of responses.
    pub compression: CompressionSettings,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            store: StoreSettings::Memory {
                max_bytes: 256 * 1024 * 1024,
            },
            max_object_bytes: 16 * 1024 * 1024,
            collapse_timeout: Duration::from_secs(10),
            heuristic: None,
            purge: None,
            compression: CompressionSettings::default(),
        }
    }
}

/// Which store holds cached objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// In memory, bounded by total object size (moka, TinyLFU admission + LRU eviction).
    Memory {
        /// Bound on the bytes of all objects.
        max_bytes: u64,
    },
    /// In files under `path`, surviving restarts, bounded by total size (LRU eviction).
    Disk {
        /// Directory of the object files.
        path: PathBuf,
        /// Bound on the bytes of all object files.
        max_bytes: u64,
    },
}

/// Redis pub/sub purge fan-out: every edge subscribes to `channel` and applies what any edge
/// publishes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeChannel {
    /// `redis://host:port/db`.
    pub url: String,
    /// The channel name.
    pub channel: String,
}

/// Response compression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressionSettings {
    /// Whether responses are compressed at all.
    pub enabled: bool,
    /// Bodies smaller than this (by `Content-Length`) are sent as they are.
    pub min_bytes: u64,
    /// Encodings offered, in the server's order of preference for equal q-values.
    pub encodings: Vec<crate::compress::Encoding>,
    /// Compressible media types: exact (`application/json`) or a `type/*` prefix (`text/*`).
    pub types: Vec<String>,
}

impl Default for CompressionSettings {
    fn default() -> Self {
        use crate::compress::Encoding;
        CompressionSettings {
            enabled: true,
            min_bytes: 1024,
            encodings: vec![Encoding::Zstd, Encoding::Brotli, Encoding::Gzip],
            types: [
                "text/*",
                "application/json",
                "application/javascript",
                "application/xml",
                "application/xhtml+xml",
                "application/rss+xml",
                "application/atom+xml",
                "application/manifest+json",
                "application/wasm",
                "image/svg+xml",
                "font/ttf",
                "font/otf",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// A zone's cache behaviour: the first matching rule's action, else the defaults.
#[derive(Debug, Clone, Default)]
pub struct ZoneCache {
    /// `[[zones.cache_rules]]` in order.
    pub rules: Vec<CacheRule>,
    /// What applies when no rule matches (follow the origin's headers).
    pub default: CachePolicy,
}

impl ZoneCache {
    /// The action for a request: the first rule whose expression `matches`, else the default.
    pub fn select(&self, mut matches: impl FnMut(&Expr) -> bool) -> Selected<'_> {
        for rule in &self.rules {
            if matches(&rule.expr) {
                return match &rule.action {
                    CacheAction::Bypass => Selected::Bypass(&rule.id),
                    CacheAction::Cache(p) => Selected::Cache(p),
                };
            }
        }
        Selected::Cache(&self.default)
    }
}

/// The outcome of [`ZoneCache::select`].
#[derive(Debug, Clone, Copy)]
pub enum Selected<'a> {
    /// Do not look up or store (`Cache-Status` BYPASS); carries the rule id.
    Bypass(&'a str),
    /// Cache with this policy.
    Cache(&'a CachePolicy),
}

/// One `[[zones.cache_rules]]` entry.
#[derive(Debug, Clone)]
pub struct CacheRule {
    /// Rule id (logs, `Cache-Status` detail).
    pub id: String,
    /// Which requests it applies to.
    pub expr: Expr,
    /// What it does.
    pub action: CacheAction,
}

/// What a cache rule does.
#[derive(Debug, Clone)]
pub enum CacheAction {
    /// Never look up or store.
    Bypass,
    /// Cache with these options.
    Cache(CachePolicy),
}

/// How eligible requests are cached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CachePolicy {
    /// How long the edge keeps responses fresh.
    pub edge_ttl: EdgeTtl,
    /// `Cache-Control: max-age` sent to clients instead of the origin's freshness.
    pub browser_ttl: Option<Duration>,
    /// What the cache key is made of.
    pub key: KeyOptions,
    /// Store responses with `Set-Cookie` (the cookie itself is never stored).
    pub cache_set_cookie: bool,
    /// Serve a stale response when the origin is down or answers 5xx, up to this staleness,
    /// even without `stale-if-error` from the origin (zero: only when the origin allows it).
    pub serve_stale_on_error: Duration,
}

/// The edge's freshness lifetime for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EdgeTtl {
    /// Follow the origin's headers (RFC 9111).
    #[default]
    Origin,
    /// Use this lifetime when the origin gives no explicit freshness.
    Default(Duration),
    /// Use this lifetime whatever the origin says (storability rules still apply).
    Override(Duration),
}

/// What the cache key is made of besides scheme, host and path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyOptions {
    /// How the query string enters the key.
    pub query: QueryKey,
    /// Request header values added to the key (lowercase names).
    pub headers: Vec<String>,
    /// Cookie values added to the key.
    pub cookies: Vec<String>,
}

/// How the query string enters the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryKey {
    /// As sent.
    #[default]
    Full,
    /// Left out (`/a?x=1` and `/a?y=2` share an entry).
    Ignore,
    /// Parameters sorted, so their order does not matter.
    Sorted,
}
