//! One loaded configuration, ready to serve: zones with their origin pools and
//! detectors, and a handle on the process-wide state that outlives reloads.
//!
//! Owns building the per-configuration runtime from a validated `Config`. What happens
//! to a request is `pipeline`'s; the process lifecycle (reload, shutdown) is `server`'s.

use std::sync::Arc;

use edgeward_config::{Config, UpstreamSettings, Zone, ZoneIndex};
use edgeward_http::Limits;

use edgeward_cache::Cache;
use edgeward_upstream::{Cluster, Upstreams};

use crate::protect::{Shields, ZoneProtections};
use crate::request_body::UpstreamBody;
use crate::telemetry::Telemetry;

/// One loaded configuration, ready to serve.
pub struct Edge {
    /// The configuration it was built from.
    pub config: Config,
    /// Limits applied before a zone is known (request heads).
    pub limits: Limits,
    /// Process-wide protection state (clearance key, counters).
    pub shields: Arc<Shields>,
    /// Where request records go besides the log (analytics, metrics).
    pub telemetry: Telemetry,
    /// The process's shared cache, when `[cache]` is configured.
    pub cache: Option<Cache>,
    zones: Vec<ZoneRuntime>,
    index: ZoneIndex,
}

/// What a zone needs at run time besides its configuration.
pub struct ZoneRuntime {
    /// The zone's origins: balancing, health and retries over the process-wide pool.
    pub cluster: Cluster<UpstreamBody>,
    /// The zone's detectors.
    pub protections: ZoneProtections,
}

impl Edge {
    /// Builds the serving state for `config`; origin connections and health come from the
    /// process-wide `upstreams`, so a reload keeps them. Call inside the runtime (active
    /// health checks start here).
    pub fn new(
        config: Config,
        shields: Arc<Shields>,
        upstreams: &Upstreams<UpstreamBody>,
        telemetry: Telemetry,
        cache: Option<Cache>,
    ) -> Self {
        let zones = config
            .zones
            .iter()
            .map(|z| ZoneRuntime {
                cluster: upstreams.cluster(&z.origins, &z.upstream, &config.upstream),
                protections: ZoneProtections::new(&z.policy),
            })
            .collect();
        let index = ZoneIndex::new(&config.zones);
        Edge {
            limits: config.limits.clone(),
            config,
            shields,
            telemetry,
            cache,
            zones,
            index,
        }
    }

    /// How the edge talks to origins.
    pub fn upstream(&self) -> &UpstreamSettings {
        &self.config.upstream
    }

    /// The zone with index `i`.
    pub fn zone(&self, i: usize) -> &Zone {
        &self.config.zones[i]
    }

    /// The run-time state of the zone with index `i`.
    pub fn zone_runtime(&self, i: usize) -> &ZoneRuntime {
        &self.zones[i]
    }

    /// Whether a redirect rule or list of zone `zone` (any zone when `None`) sends `path`
    /// elsewhere, for any of the zone's exact host names (the admin's top-404 report).
    pub fn has_redirect(&self, zone: Option<&str>, path: &str) -> bool {
        self.config
            .zones
            .iter()
            .filter(|z| zone.is_none_or(|name| z.name == name))
            .any(|z| {
                z.hosts.iter().any(|h| match h {
                    edgeward_config::HostPattern::Exact(host) => z.traffic.has_redirect(host, path),
                    edgeward_config::HostPattern::Wildcard(_) => false,
                })
            })
    }

    /// The zone serving `host` (lower case, bare), if any.
    pub fn lookup_zone(&self, host: &str) -> Option<usize> {
        self.index.lookup(host)
    }
}
