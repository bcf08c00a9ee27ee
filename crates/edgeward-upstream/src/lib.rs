//! edgeward's origin side: peers, the connector (DNS, TCP, Unix sockets, rustls), one
//! process-wide connection pool keyed by peer, load balancing, health and retries.
//!
//! Owns everything between "send this request to zone Z's origins" and an origin's
//! response head (or a typed [`UpstreamError`]). It does not build the forwarded request
//! (hop-by-hop headers, `X-Forwarded-For`: the proxy) nor render errors (the catalog).
//!
//! ```text
//! Upstreams (one per process, outlives reloads)
//!   └─ PeerPool per peer key (address + TLS settings): idle connections, cap, health
//! Cluster (one per zone per config) ── Balancer ── picks a PeerPool per request
//! ```
//!
//! Per request on the hot path: one balancer pick (atomic counter), one idle-list pop
//! (a mutex held for a `Vec::pop`), one `Arc` clone for the lease, a timer for the response
//! timeout; no heap allocation of this crate's own for a bodiless request.
//!
//! The proxy builds one [`Cluster`] per zone from [`Upstreams::cluster`] on every config
//! load; a reload that keeps an origin keeps its pooled connections and health state.

mod balance;
mod body;
mod cluster;
mod conn;
mod error;
mod health;
mod peer;
mod pool;
mod spec;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use body::OriginBody;
pub use cluster::Cluster;
pub use conn::{BoxError, ForwardBody};
pub use error::UpstreamError;
pub use peer::Peer;
pub use pool::PeerStatus;
pub use spec::{
    ActiveCheck, Balance, HashKey, HealthCheck, Origin, OriginAddress, OriginTls, StatusMatch,
    UpstreamSettings, ZoneUpstream, DEFAULT_EXPECTED,
};

use peer::PeerKey;
use pool::PeerPool;

/// The process-wide pool of origin connections and health state, keyed by peer.
pub struct Upstreams<B: ForwardBody> {
    peers: Mutex<HashMap<PeerKey, Arc<PeerPool<B>>>>,
}

impl<B: ForwardBody> Default for Upstreams<B> {
    fn default() -> Self {
        Upstreams {
            peers: Mutex::new(HashMap::new()),
        }
    }
}

impl<B: ForwardBody> Upstreams<B> {
    /// An empty pool; create one per process and keep it across reloads.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cluster for a zone's `origins`: existing peers (with their idle connections and
    /// health) are reused, new ones created. Call it inside the tokio runtime so that active
    /// health checks can start; peers no cluster uses any more are dropped here.
    pub fn cluster(
        &self,
        origins: &[Origin],
        zone: &ZoneUpstream,
        settings: &UpstreamSettings,
    ) -> Cluster<B> {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut pools = Vec::with_capacity(origins.len());
        for origin in origins {
            let key = PeerKey::new(origin, &zone.tls);
            let pool = peers.entry(key).or_insert_with_key(|key| {
                Arc::new(PeerPool::new(
                    Peer::new(key.clone()),
                    settings.max_connections_per_origin,
                ))
            });
            pool.set_cap(settings.max_connections_per_origin);
            pools.push(Arc::clone(pool));
        }
        // Only the map (and the pools just taken) hold the rest: no config uses them now.
        peers.retain(|_, pool| Arc::strong_count(pool) > 1);
        drop(peers);
        let checkers = match &zone.health.active {
            Some(check) => pools.iter().filter_map(|p| p.checker(check, settings)).collect(),
            None => Vec::new(),
        };
        let weights: Vec<u32> = origins.iter().map(|o| o.weight).collect();
        let ids: Vec<String> = pools.iter().map(|p| p.peer().to_string()).collect();
        let balancer = balance::Balancer::new(&zone.balance, &weights, &ids);
        Cluster::new(pools, balancer, settings.clone(), zone.health.clone(), checkers)
    }

    /// Every known origin's state (for `/metrics` and the admin API), sorted by origin.
    pub fn status(&self) -> Vec<PeerStatus> {
        let pools: Vec<Arc<PeerPool<B>>> = self
            .peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut all: Vec<PeerStatus> = pools.iter().map(|p| p.status()).collect();
        all.sort_by(|a, b| a.origin.cmp(&b.origin));
        all
    }
}
