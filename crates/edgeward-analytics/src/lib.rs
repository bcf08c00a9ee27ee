//! edgeward's analytics: every request becomes an [`Event`], delivered off the hot path in
//! batches to a store — SQLite (embedded, the default), PostgreSQL (a few edges) or
//! ClickHouse (a fleet) — and queried for the admin API and dashboard, for the whole fleet
//! or one edge.
//!
//! The storage model: every request is counted; routine successes are stored as
//! per-millisecond rollups, every other event in full. A routine request is one the origin
//! answered below 400 with no rule involved ([`event::is_routine`]); it is the bulk of
//! traffic, and every question asked of it is a count, so it is added to a rollup row
//! (millisecond, zone, status → count, byte and duration sums). Everything else (4xx/5xx,
//! edge and security decisions, 499, any rule id) is stored in full. Queries sum both, so
//! every answer is exact.
//!
//! The flow: the proxy calls [`AnalyticsHandle::record_routine`] (a borrowed
//! [`RoutineRequest`]: no copies) or [`AnalyticsHandle::record`] (a full [`Event`]) once per
//! request; neither waits. The delivery thread ([`delivery`]) cuts [`Batch`]es stamped with
//! the edge's instance name and a batch id, writes each through an [`EventSink`] exactly once
//! (stores remember batch ids), and when the store is down keeps them in a bounded
//! [`spool`] (on disk: they survive a restart) and retries with backoff. Nothing is lost
//! silently: every drop is counted by reason ([`DeliveryStats`]). The read side is
//! [`EventQuery`]. Memory is bounded everywhere: free-text fields are cut, the queue is
//! bounded in events and bytes, the spool in bytes, and an SQLite store (memory or file) in
//! rows and bytes ([`SqliteCap`]).
//!
//! This crate owns the event shape, delivery, the stores and the questions; it does not
//! decide what a request's status or source is (the proxy pipeline does) nor serve HTTP (the
//! `edgeward-admin` crate does).

pub mod batch;
pub mod delivery;
pub mod event;
pub mod handle;
pub mod query;
pub mod rollup;
pub mod sample;
pub mod sink;
pub mod spool;
pub mod stats;
pub mod store;

pub use batch::Batch;
pub use event::{is_routine, status_class, CacheStatus, Event, Protocol, RoutineRequest, Source};
pub use handle::{default_instance, Analytics, AnalyticsHandle, Options};
pub use query::{
    Answer, Ask, EventQuery, Filter, InstanceCount, NotFoundPath, Question, RateLimitBucket, RefererCount,
    SecurityCount, SourceCount, StatusBucket, StatusCount, Totals,
};
pub use sink::{EventSink, StoreError, Written};
pub use stats::{DeliveryStats, DropReason};
pub use store::{
    open as open_store, ClickHouseSettings, OpenStore, PostgresSettings, SqliteCap, SqliteReader,
    SqliteStore, StoreSettings,
};
