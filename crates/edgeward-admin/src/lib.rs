//! edgeward's admin listener: Prometheus `/metrics`, the JSON analytics API and the
//! dashboard, for the whole fleet or one edge.
//!
//! The proxy keeps one [`Metrics`] and reports each request to it ([`Metrics::observe`] /
//! [`Metrics::observe_routine`]), each origin response to that origin's [`OriginSeries`],
//! and open connections and streams through [`Metrics::connection_opened`] /
//! [`Metrics::stream_opened`] guards. [`serve_admin`] answers only loopback `Host` names
//! (or configured ones) unless the token is presented ([`access`]), and answers errors
//! through the catalog. `/metrics` adds analytics delivery, build and process series
//! ([`exposition`], which documents every series' labels and cardinality).
//!
//! This crate owns presentation; it does not own what is counted (the proxy decides) or
//! stored (`edgeward-analytics`).

pub mod access;
pub mod exposition;
pub mod metrics;
pub mod params;
pub mod server;

pub use access::{authorize, host_allowed, AuthDecision};
pub use exposition::{render as render_metrics, ExtraMetrics};
pub use metrics::{Metrics, OpenGuard, OriginSeries};
pub use server::{handle, serve_admin, AdminState, RedirectCheck, DASHBOARD_HTML};
