//! edgeward's analytics: every request becomes an [`Event`], recorded off the hot path into
//! SQLite, queried for the admin API and dashboard, and counted in Prometheus metrics.
//!
//! The storage model: every request is counted; routine successes are stored as
//! per-millisecond rollups, every other event in full. A routine request is one the origin
//! answered below 400 with no rule involved ([`event::is_routine`]); it is the bulk of
//! traffic, and every question asked of it is a count (totals, status codes, status over
//! time, 4xx share), so it is added to a rollup row (millisecond, zone, status → count, byte
//! and duration sums) instead of being stored as a row of its own. Everything else (4xx/5xx,
//! edge and security decisions, 499, any rule id) is stored in full, which is what the top-404
//! paths, security events and rate-limit questions read. Queries sum both, so every answer is
//! exact; what a rollup forgets is the routine request's path, method, client, user agent,
//! referrer and request id.
//!
//! The flow: the proxy calls [`AnalyticsHandle::record_routine`] (with a borrowed
//! [`RoutineRequest`]: no copies) or [`AnalyticsHandle::record`] (a full [`Event`]) once per
//! request. Both bump in-memory [`Metrics`] (lock-free). A routine request is then added to the
//! in-memory [`rollup`] tally; any other event is `try_send`-ed into a bounded queue, where a
//! full queue drops the event and counts the drop, so recording never waits on the disk. A
//! writer thread ([`queue`]) stores detail events in batched transactions ([`store`]), writes
//! the rollups every flush interval, and deletes both past retention. The admin listener
//! ([`admin`]) serves `/metrics`, the JSON [`query`] API and the dashboard page from its own
//! read connection.
//!
//! This crate owns the event shape, its storage and its presentation; it does not decide what
//! a request's status or source is (the proxy pipeline does).

pub mod admin;
pub mod event;
pub mod metrics;
pub mod query;
pub mod queue;
pub mod rollup;
pub mod sample;
pub mod store;

pub use admin::{authorize, serve_admin, AdminState, AuthDecision, ExtraMetrics};
pub use event::{is_routine, status_class, Event, RoutineRequest, Source};
pub use metrics::Metrics;
pub use query::{
    Filter, NotFoundPath, RateLimitBucket, RefererCount, SecurityCount, SourceCount, StatusBucket,
    StatusCount, Totals,
};
pub use queue::{Analytics, AnalyticsHandle, Options};
pub use store::{SqliteStore, StoreError};
