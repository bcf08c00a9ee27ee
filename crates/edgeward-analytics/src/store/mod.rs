//! The stores: where events are kept, each with a write side ([`crate::EventSink`]) and a
//! read side ([`crate::EventQuery`]).
//!
//! Owns choosing and opening a store from [`StoreSettings`]. Each store's schema, migrations
//! and SQL live in its own module; the questions' SQL is shared ([`crate::query`]).

pub mod clickhouse;
pub mod postgres;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use crate::query::EventQuery;
use crate::sink::{EventSink, StoreError};

pub use clickhouse::{ClickHouseReader, ClickHouseSettings, ClickHouseSink};
pub use postgres::{PostgresReader, PostgresSettings, PostgresSink};
pub use sqlite::{SqliteCap, SqliteReader, SqliteStore};

/// Which store, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// SQLite in this process: a file, or memory when `path` is `None`.
    Sqlite {
        /// The database file.
        path: Option<PathBuf>,
        /// How big it may grow.
        cap: SqliteCap,
    },
    /// PostgreSQL, shared by a few edges.
    Postgres(PostgresSettings),
    /// ClickHouse, shared by a fleet.
    ClickHouse(ClickHouseSettings),
}

/// An opened store: its write side (for the delivery thread) and its read side.
pub struct OpenStore {
    /// Takes batches.
    pub sink: Box<dyn EventSink>,
    /// Answers questions.
    pub query: Arc<dyn EventQuery>,
}

/// Opens the store `settings` names. SQLite opens (and migrates) now; the database stores
/// connect on first use, so one that is down at start delays delivery but not the edge.
pub fn open(settings: &StoreSettings) -> Result<OpenStore, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite { path, cap } => {
            let store = match path {
                Some(path) => SqliteStore::open(path, *cap)?,
                None => SqliteStore::in_memory(*cap)?,
            };
            let reader = store.reader()?;
            OpenStore {
                sink: Box::new(store),
                query: Arc::new(reader),
            }
        }
        StoreSettings::Postgres(pg) => OpenStore {
            sink: Box::new(PostgresSink::new(pg.clone())?),
            query: Arc::new(PostgresReader::new(pg.clone())),
        },
        StoreSettings::ClickHouse(ch) => OpenStore {
            sink: Box::new(ClickHouseSink::new(ch.clone())?),
            query: Arc::new(ClickHouseReader::new(ch.clone())),
        },
    })
}
