//! Where a request's record goes besides the log: analytics events (when on) and the
//! Prometheus metrics the admin listener serves (always).
//!
//! Owns the pair, shared by every configuration of a process (they outlive reloads).
//! What a record carries is `access_log`'s; storage is `edgeward_analytics`'s and
//! presentation `edgeward_admin`'s.

use std::sync::Arc;

use edgeward_admin::Metrics;
use edgeward_analytics::AnalyticsHandle;

/// The process's analytics handle and metrics.
#[derive(Clone)]
pub struct Telemetry {
    /// Where request events go, when analytics is on.
    pub analytics: Option<AnalyticsHandle>,
    /// Request, connection and stream counters.
    pub metrics: Arc<Metrics>,
}

impl Telemetry {
    /// Metrics only.
    pub fn metrics_only() -> Telemetry {
        Telemetry {
            analytics: None,
            metrics: Arc::new(Metrics::default()),
        }
    }
}
