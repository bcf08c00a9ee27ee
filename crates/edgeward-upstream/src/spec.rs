//! What the configuration hands this crate: origins, how a zone balances and checks them,
//! how it talks TLS to them, and the process-wide `[upstream]` settings.
//!
//! Owns the typed values only. It does not parse text (`edgeward-config` does, once, and
//! fills these) and does not act on them (the pool, balancer and health checker do).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

/// One origin of a zone: where it is, whether it speaks TLS, and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Where to connect.
    pub address: OriginAddress,
    /// `https://`: the connection is TLS.
    pub tls: bool,
    /// Relative share of requests (1 to 1000); 1 unless configured.
    pub weight: u32,
}

/// Where an origin listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OriginAddress {
    /// A host name or IP literal (IPv6 without brackets, lowercase) and a TCP port.
    Tcp {
        /// Hostname, IPv4 or IPv6 address.
        host: String,
        /// TCP port, never 0.
        port: u16,
    },
    /// A Unix domain socket (`unix:/path`).
    Unix(PathBuf),
}

impl Origin {
    /// A plain-HTTP origin at `addr`, weight 1.
    pub fn plain(addr: SocketAddr) -> Origin {
        Origin::from(addr)
    }

    /// The host name certificates are checked against by default (the TCP host).
    pub fn host(&self) -> Option<&str> {
        match &self.address {
            OriginAddress::Tcp { host, .. } => Some(host),
            OriginAddress::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for Origin {
    fn from(addr: SocketAddr) -> Origin {
        Origin {
            address: OriginAddress::Tcp {
                host: addr.ip().to_string(),
                port: addr.port(),
            },
            tls: false,
            weight: 1,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.address {
            OriginAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            OriginAddress::Tcp { host, port } => {
                if self.tls {
                    f.write_str("https://")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]:{port}")
                } else {
                    write!(f, "{host}:{port}")
                }
            }
        }
    }
}

/// A zone's way of reaching its origins: balancing, health checks and TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneUpstream {
    /// How a request picks its origin.
    pub balance: Balance,
    /// Active and passive health checks.
    pub health: HealthCheck,
    /// TLS towards `https://` origins.
    pub tls: OriginTls,
}

/// How a request picks its origin among the healthy ones (each weighted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Balance {
    /// In turn, each origin as often as its weight says.
    #[default]
    RoundRobin,
    /// The origin with the fewest requests in flight per unit of weight.
    LeastOutstanding,
    /// The same key goes to the same origin while it is healthy (a ring of virtual nodes).
    ConsistentHash(HashKey),
}

/// What a consistent-hash zone hashes; the proxy extracts the bytes and passes them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// The client's IP address.
    ClientIp,
    /// The value of a request header (lowercase name).
    Header(String),
    /// The value of a cookie.
    Cookie(String),
}

/// Health checking of a zone's origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Probes sent on a timer, when configured.
    pub active: Option<ActiveCheck>,
    /// Consecutive connect failures or timeouts that take an origin out (0: never).
    pub passive_fall: u32,
    /// How long a passively failed origin stays out before one request may try it again.
    pub half_open_after: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            active: None,
            passive_fall: 3,
            half_open_after: Duration::from_secs(10),
        }
    }
}

/// An active probe: `GET path` on a fresh connection every `interval`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActiveCheck {
    /// Request target, e.g. `/healthz`.
    pub path: String,
    /// `Host` header sent; the origin's host (or `localhost` for Unix sockets) when absent.
    pub host: Option<String>,
    /// Statuses that count as healthy.
    pub expected: Vec<StatusMatch>,
    /// Time between probes.
    pub interval: Duration,
    /// Time a probe may take, connecting included.
    pub timeout: Duration,
    /// Consecutive successes that bring an origin back.
    pub rise: u32,
    /// Consecutive failures that take an origin out.
    pub fall: u32,
}

/// One accepted probe status: exact, or a class such as `2xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusMatch {
    /// This status.
    Exact(u16),
    /// Any status of this hundred (2 for 2xx).
    Class(u8),
}

impl StatusMatch {
    /// Whether `status` is accepted.
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Exact(s) => s == status,
            StatusMatch::Class(c) => status / 100 == u16::from(c),
        }
    }
}

/// Default accepted statuses of a probe: 2xx and 3xx.
pub const DEFAULT_EXPECTED: [StatusMatch; 2] = [StatusMatch::Class(2), StatusMatch::Class(3)];

/// TLS settings for a zone's `https://` origins.
#[derive(Debug, Clone, Default)]
pub struct OriginTls {
    /// SNI and verification name; the origin's host when absent.
    pub server_name: Option<String>,
    /// Trust anchors; the bundled Mozilla roots when absent.
    pub ca_bundle: Option<Arc<[CertificateDer<'static>]>>,
    /// Client certificate presented to origins (authenticated origin pulls).
    pub client_cert: Option<Arc<CertifiedKey>>,
    /// Accept any origin certificate (logged loudly when used).
    pub insecure_skip_verify: bool,
    /// Offer HTTP/2 by ALPN (used when the origin picks it).
    pub http2: bool,
}

impl PartialEq for OriginTls {
    fn eq(&self, other: &Self) -> bool {
        self.server_name == other.server_name
            && self.ca_bundle == other.ca_bundle
            && self.client_cert.as_ref().map(|k| &k.cert) == other.client_cert.as_ref().map(|k| &k.cert)
            && self.insecure_skip_verify == other.insecure_skip_verify
            && self.http2 == other.http2
    }
}

impl Eq for OriginTls {}

impl Hash for OriginTls {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.server_name.hash(state);
        self.ca_bundle.hash(state);
        self.client_cert.as_ref().map(|k| &k.cert).hash(state);
        self.insecure_skip_verify.hash(state);
        self.http2.hash(state);
    }
}

/// `[upstream]`: timeouts, pooling, limits and retries towards all origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// Time allowed to connect (TCP or Unix); the TLS handshake gets the same again.
    pub connect_timeout: Duration,
    /// Time from the end of the request body until the origin's response head.
    pub response_timeout: Duration,
    /// How long a pooled idle origin connection is kept.
    pub idle_timeout: Duration,
    /// Most idle pooled connections kept per origin.
    pub max_idle_per_origin: usize,
    /// Most open connections per origin (0: no cap); requests past it queue.
    pub max_connections_per_origin: usize,
    /// Longest wait in that queue.
    pub queue_timeout: Duration,
    /// Most further origins an idempotent request is retried on.
    pub retries: u32,
    /// Retries allowed as a percentage of requests (plus a small reserve), per zone.
    pub retry_budget_percent: u32,
    /// Most header fields in an origin's response head.
    pub max_response_headers: usize,
    /// Largest origin response head in bytes.
    pub max_response_header_bytes: usize,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_idle_per_origin: 32,
            max_connections_per_origin: 0,
            queue_timeout: Duration::from_secs(5),
            retries: 2,
            retry_budget_percent: 20,
            max_response_headers: 256,
            max_response_header_bytes: 64 * 1024,
        }
    }
}
