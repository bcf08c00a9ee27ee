//! edgeward's analytics: every request becomes an [`Event`], recorded off the hot path into
//! SQLite, queried for the admin API and dashboard, and counted in Prometheus metrics.
//!
//! The flow: the proxy calls [`AnalyticsHandle::record`] once per request. That bumps
//! in-memory [`Metrics`] (lock-free) and `try_send`s the event into a bounded queue; a full
//! queue drops the event and counts the drop, so recording never waits on the disk. A writer
//! thread ([`queue`]) stores batches in single transactions ([`store`]) and deletes events past
//! retention. The admin listener ([`admin`]) serves `/metrics`, the JSON [`query`] API and the
//! dashboard page from its own read connection.
//!
//! This crate owns the event shape, its storage and its presentation; it does not decide what
//! a request's status or source is (the proxy pipeline does).

pub mod admin;
pub mod event;
pub mod metrics;
pub mod query;
pub mod queue;
pub mod sample;
pub mod store;

pub use admin::{authorize, serve_admin, AdminState, AuthDecision};
pub use event::{status_class, Event, Source};
pub use metrics::Metrics;
pub use query::{
    Filter, NotFoundPath, RateLimitBucket, RefererCount, SecurityCount, SourceCount, StatusBucket,
    StatusCount, Totals,
};
pub use queue::{Analytics, AnalyticsHandle, Options};
pub use store::{SqliteStore, StoreError};
