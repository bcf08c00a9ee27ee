//! edgeward's configuration: the TOML file's schema, loading, and validation into typed values
//! whose errors name the file, line, column and fault.
//!
//! Owns everything between the bytes of `edgeward.toml` and a checked [`Config`]; code past
//! [`load`] never re-checks strings. It does not own applying the config (the proxy) or
//! reloading it (the binary).
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"
//!
//! [[zones]]
//! name = "www"
//! hosts = ["example.com", "*.example.com"]
//! origins = ["127.0.0.1:9000"]
//! ```
//!
//! A fully commented example is `examples/edgeward.toml` in this crate.

mod cache;
mod duration;
mod error;
mod hosts;
mod origin;
mod pages;
mod policy;
#[cfg(test)]
mod policy_tests;
mod real_ip;
mod schema;
mod services;
mod tls;
mod traffic;
mod upstream;
mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use cache::CacheConfig;
pub use duration::parse_duration;
pub use edgeward_http::Limits;
pub use edgeward_rules::TrafficRules;
pub use error::ConfigError;
pub use hosts::{HostPattern, ZoneIndex};
pub use origin::{parse_origin, Origin, OriginAddress};
pub use pages::ErrorPages;
pub use policy::{
    AuthRealm, Characteristic, IpAction, IpRuleSetting, IpTarget, RateLimitAction, RateLimitRule,
    Sensitivity, StatusFilter, WafSettings, ZonePolicy,
};
pub use real_ip::RealIp;
pub use services::{AdminSettings, AnalyticsSettings, ChallengeSettings, RateLimitStoreSettings, Services};
pub use tls::{CertNames, TlsCertificate, TlsListener};
pub use upstream::{
    ActiveCheck, Balance, HashKey, HealthCheck, OriginTls, StatusMatch, UpstreamSettings, ZoneUpstream,
};

/// Default idle timeout of a tunnel after a protocol switch.
pub const DEFAULT_UPGRADE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default bound on a graceful shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on open connections per listener (also kept below the fd limit at run time).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses the proxy listens on (at least one).
    pub listen: Vec<SocketAddr>,
    /// `[[tls]]`: TLS listeners with their certificates (none by default).
    pub tls: Vec<TlsListener>,
    /// Runtime worker threads; 0 = one per core.
    pub workers: usize,
    /// How long a graceful shutdown waits for in-flight requests (`[server] shutdown_timeout`).
    pub shutdown_timeout: Duration,
    /// `[real_ip]`: PROXY protocol, trusted proxies and their client-IP header.
    pub real_ip: RealIp,
    /// Whether plain listeners also accept HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3;
    /// `[server] h2c`, default true).
    pub h2c: bool,
    /// Most connections one listener holds open at once; past it new ones are closed at
    /// once (`[server] max_connections`, default [`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// The zone (index) serving requests that name no host (HTTP/1.0 without Host).
    pub default_zone: Option<usize>,
    /// `[limits]`: what applies before a request is routed to a zone (request heads).
    pub limits: Limits,
    /// How the proxy talks to origins.
    pub upstream: UpstreamSettings,
    /// Zones in file order (at least one); [`ZoneIndex`] routes hosts to them.
    pub zones: Vec<Zone>,
    /// Process-wide services: challenge key, rate-limit store, admin, analytics, GeoIP.
    pub services: Services,
    /// `[cache]` and every zone's `[[zones.cache_rules]]` (`settings` is `None` without `[cache]`).
    pub cache: CacheConfig,
}

/// One site: the hosts it answers for, where it proxies to, and its own limits and pages.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Unique name, used in logs and analytics.
    pub name: String,
    /// Hosts this zone serves (at least one); no host is in two zones.
    pub hosts: Vec<HostPattern>,
    /// Origin servers (at least one).
    pub origins: Vec<Origin>,
    /// `[zones.upstream]`: load balancing, health checks, TLS towards the origins.
    pub upstream: ZoneUpstream,
    /// `[limits]` with this zone's overrides applied.
    pub limits: Limits,
    /// Serve the zone's 404 page instead of passing the origin's 404 through.
    pub intercept_origin_404: bool,
    /// Whether protocol switches (WebSocket over `Upgrade`) are forwarded (default true);
    /// when off, an upgrade request gets a catalog error.
    pub upgrades: bool,
    /// How long a tunnel after a protocol switch may carry no bytes in either direction
    /// before it is closed (`upgrade_idle_timeout`, default 60 s, like nginx's read timeout).
    pub upgrade_idle_timeout: Duration,
    /// Forward header fields whose names contain `_` (`underscores_in_headers`, default
    /// false: they are dropped, as nginx does, since CGI/WSGI origins read `_` as `-`).
    pub underscores_in_headers: bool,
    /// Custom error pages by status and class.
    pub error_pages: ErrorPages,
    /// Protections: rules, rate limits, WAF, IP rules, browser check, auth.
    pub policy: ZonePolicy,
    /// Redirects, bulk lists, Always Use HTTPS, HSTS, transforms and custom error rules.
    pub traffic: TrafficRules,
}

/// Reads and validates the config file at `path`; error pages and certificates are resolved
/// relative to it.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole_file(path, format!("cannot read config file: {e}")))?;
    let base_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    parse(&text, path, base_dir)
}

/// Validates config `text`; `file` names it in errors, `base_dir` resolves error-page and
/// certificate paths.
pub fn parse(text: &str, file: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
    let raw: schema::RawConfig = toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    validate::Source { file, text, base_dir }.build(raw)
}

/// The built-in config of `edgeward demo`: one zone `demo` for localhost, proxying to `origin`.
pub fn demo(listen: SocketAddr, origin: SocketAddr) -> Config {
    let hosts = ["localhost", "127.0.0.1", "*.localhost"];
    Config {
        listen: vec![listen],
        tls: Vec::new(),
        workers: 0,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        h2c: true,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        real_ip: RealIp {
            header: "x-forwarded-for".to_owned(),
            ..RealIp::default()
        },
        default_zone: Some(0),
        upstream: UpstreamSettings::default(),
        limits: Limits::default(),
        zones: vec![Zone {
            name: "demo".to_string(),
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).expect("built-in host pattern is valid"))
                .collect(),
            origins: vec![Origin::from(origin)],
            upstream: ZoneUpstream::default(),
            limits: Limits::default(),
            intercept_origin_404: false,
            upgrades: true,
            upgrade_idle_timeout: DEFAULT_UPGRADE_IDLE_TIMEOUT,
            underscores_in_headers: false,
            error_pages: ErrorPages::default(),
            policy: ZonePolicy::default(),
            traffic: TrafficRules::default(),
        }],
        services: Services {
            admin: Some(AdminSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                token: None,
                allowed_hosts: Vec::new(),
            }),
            ..Services::default()
        },
        cache: CacheConfig::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_routes_localhost_names_to_its_origin() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let origin: SocketAddr = "127.0.0.1:9001".parse().unwrap();
        let config = demo(listen, origin);
        assert_eq!(config.listen, vec![listen]);
        assert_eq!(config.zones.len(), 1);
        let zone = &config.zones[0];
        assert_eq!(zone.name, "demo");
        assert_eq!(zone.origins[0].to_string(), "127.0.0.1:9001");
        let index = ZoneIndex::new(&config.zones);
        for host in ["localhost", "127.0.0.1", "app.localhost"] {
            assert_eq!(index.lookup(host), Some(0), "{host}");
        }
        assert_eq!(index.lookup("example.com"), None);
    }

    #[test]
    fn load_names_an_unreadable_file() {
        let err = load(Path::new("/nonexistent/edgeward.toml")).unwrap_err();
        assert_eq!(err.line, None);
        assert!(err
            .to_string()
            .starts_with("/nonexistent/edgeward.toml: cannot read config file:"));
    }
}
