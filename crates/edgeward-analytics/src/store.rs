//! The SQLite event store: schema, batched inserts, retention, and read connections.
//!
//! Owns the storage model: every request is counted; routine successes are stored as
//! per-millisecond rollups, every other event in full. The `events` table holds one row per
//! non-routine request (4xx/5xx, edge and security sources, 499, any rule) with its indexes
//! (one per query shape in [`crate::query`]); the `rollups` table holds counts and byte and
//! duration sums of routine requests (see [`crate::event::is_routine`]) per millisecond, zone
//! and status; the `counted` view is both, one row per stored row with its request count
//! `n`, for the questions every request answers (totals, status counts, status over time).
//! Also owns WAL mode and opening further connections to the same database. Does not own when
//! batches are written or retention runs (the writer in [`crate::queue`] decides) nor the
//! read queries.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use crate::event::Event;
use crate::rollup::{self, ZoneRollup};

/// The store's error type (SQLite's).
pub type StoreError = rusqlite::Error;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id                 INTEGER PRIMARY KEY,
    time_ms            INTEGER NOT NULL,
    zone               TEXT    NOT NULL,
    method             TEXT    NOT NULL,
    host               TEXT    NOT NULL,
    path               TEXT    NOT NULL,
    query              TEXT    NOT NULL,
    status             INTEGER NOT NULL,
    origin_status      INTEGER,
    source             TEXT    NOT NULL,
    rule_id            TEXT,
    request_id         TEXT    NOT NULL,
    client_ip          TEXT    NOT NULL,
    user_agent         TEXT    NOT NULL,
    referer            TEXT    NOT NULL,
    bytes_in           INTEGER NOT NULL,
    bytes_out          INTEGER NOT NULL,
    duration_us        INTEGER NOT NULL,
    origin_duration_us INTEGER
);
-- time ranges over everything, and retention
CREATE INDEX IF NOT EXISTS events_time        ON events (time_ms);
-- the same, per zone
CREATE INDEX IF NOT EXISTS events_zone_time   ON events (zone, time_ms);
-- top 404 paths and their referrers
CREATE INDEX IF NOT EXISTS events_status_path ON events (status, path, referer);
-- security events and rate limiting
CREATE INDEX IF NOT EXISTS events_source_time ON events (source, time_ms);

-- routine requests (origin, below 400, no rule), counted per millisecond, zone and status;
-- clustered by time (appends go to the rightmost leaf; ranges and retention are key scans)
CREATE TABLE IF NOT EXISTS rollups (
    time_ms     INTEGER NOT NULL,
    zone        TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    PRIMARY KEY (time_ms, zone, status, source)
) WITHOUT ROWID;

-- every request: detail rows count 1 each, rollup rows their count
CREATE VIEW IF NOT EXISTS counted AS
    SELECT time_ms, zone, status, source, 1 AS n FROM events
    UNION ALL
    SELECT time_ms, zone, status, source, count AS n FROM rollups;
";

const INSERT_ROLLUP: &str = "
INSERT INTO rollups (time_ms, zone, status, source, count, bytes_in, bytes_out, duration_us)
VALUES (?1, ?2, ?3, 'origin', ?4, ?5, ?6, ?7)
ON CONFLICT (time_ms, zone, status, source) DO UPDATE SET
    count = count + excluded.count,
    bytes_in = bytes_in + excluded.bytes_in,
    bytes_out = bytes_out + excluded.bytes_out,
    duration_us = duration_us + excluded.duration_us";

const INSERT: &str = "
INSERT INTO events (time_ms, zone, method, host, path, query, status, origin_status, source,
    rule_id, request_id, client_ip, user_agent, referer, bytes_in, bytes_out, duration_us,
    origin_duration_us)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

/// Where a store's database lives, so further connections can reach the same one.
#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    /// A shared-cache in-memory database, alive while any connection to it is open.
    Memory(String),
}

/// One connection to the event database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    location: Location,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, in WAL mode, with the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        // WAL lets the admin API read while the writer appends. NORMAL, not OFF: in WAL mode
        // it syncs only at checkpoints (not per transaction), so OFF would save little, and
        // OFF can leave the file corrupt after a power loss, not merely a few seconds short.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::prepare(conn, Location::File(path))
    }

    /// Creates a fresh in-memory database (for tests and demos); [`SqliteStore::reader`]
    /// connections share it.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let uri = format!(
            "file:edgeward-analytics-{}-{n}?mode=memory&cache=shared",
            std::process::id()
        );
        let conn = Connection::open_with_flags(&uri, memory_flags())?;
        Self::prepare(conn, Location::Memory(uri))
    }

    fn prepare(conn: Connection, location: Location) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore { conn, location })
    }

    /// Opens another connection to the same database, for queries on another thread.
    pub fn reader(&self) -> Result<SqliteStore, StoreError> {
        let conn = match &self.location {
            Location::File(path) => Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
            Location::Memory(uri) => {
                let conn = Connection::open_with_flags(uri, memory_flags())?;
                // Shared-cache readers otherwise take table locks that make the writer fail
                // with SQLITE_LOCKED instead of waiting.
                conn.pragma_update(None, "read_uncommitted", true)?;
                conn
            }
        };
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(SqliteStore {
            conn,
            location: self.location.clone(),
        })
    }

    /// Writes `events` in one transaction; returns how many rows were inserted.
    pub fn insert_batch(&mut self, events: &[Event]) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(INSERT)?;
            for e in events {
                stmt.execute(params![
                    e.time_ms,
                    e.zone,
                    e.method,
                    e.host,
                    e.path,
                    e.query,
                    e.status,
                    e.origin_status,
                    e.source.as_str(),
                    e.rule_id,
                    e.request_id,
                    e.client_ip,
                    e.user_agent,
                    e.referer,
                    saturate(e.bytes_in),
                    saturate(e.bytes_out),
                    saturate(e.duration_us),
                    e.origin_duration_us.map(saturate),
                ])?;
            }
        }
        tx.commit()?;
        Ok(events.len())
    }

    /// Writes rollup rows in one transaction; returns how many requests they count.
    pub fn insert_rollups(&mut self, zones: &[ZoneRollup]) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(INSERT_ROLLUP)?;
            for z in zones {
                for r in &z.rows {
                    stmt.execute(params![
                        r.time_ms,
                        &*z.zone,
                        r.status,
                        saturate(r.count),
                        saturate(r.bytes_in),
                        saturate(r.bytes_out),
                        saturate(r.duration_us),
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(rollup::total(zones))
    }

    /// Deletes events and rollup rows older than `cutoff_ms` (Unix ms); returns how many
    /// rows went.
    pub fn delete_before(&mut self, cutoff_ms: i64) -> Result<usize, StoreError> {
        let events = self
            .conn
            .execute("DELETE FROM events WHERE time_ms < ?1", [cutoff_ms])?;
        let rollups = self
            .conn
            .execute("DELETE FROM rollups WHERE time_ms < ?1", [cutoff_ms])?;
        Ok(events + rollups)
    }

    /// The number of requests stored: detail rows plus the counts of rollup rows.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COALESCE(SUM(n), 0) FROM counted", [], |r| r.get(0))
    }

    /// The number of detail rows (non-routine events stored in full).
    pub fn detail_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
    }

    /// The journal mode in force (`"wal"` for file databases).
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        self.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
    }

    /// The underlying connection, for [`crate::query`].
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

fn memory_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// SQLite integers are signed; byte counts and durations past `i64::MAX` are not real.
fn saturate(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(time_ms: i64, path: &str) -> Event {
        Event {
            time_ms,
            zone: "example.com".into(),
            method: "GET".into(),
            path: path.into(),
            status: 200,
            ..Event::default()
        }
    }

    #[test]
    fn batch_insert_writes_every_row_and_fields_round_trip() {
        let mut store = SqliteStore::in_memory().unwrap();
        let mut e = event(1_000, "/a");
        e.origin_status = Some(502);
        e.rule_id = Some("r1".into());
        e.bytes_out = u64::MAX;
        e.origin_duration_us = Some(42);
        let batch = vec![e, event(2_000, "/b"), event(3_000, "/c")];
        assert_eq!(store.insert_batch(&batch).unwrap(), 3);
        assert_eq!(store.count().unwrap(), 3);
        let row: (Option<u16>, Option<String>, i64, Option<i64>) = store
            .conn()
            .query_row(
                "SELECT origin_status, rule_id, bytes_out, origin_duration_us FROM events WHERE path = '/a'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row, (Some(502), Some("r1".into()), i64::MAX, Some(42)));
    }

    #[test]
    fn retention_deletes_only_older_rows() {
        let mut store = SqliteStore::in_memory().unwrap();
        let batch: Vec<_> = (0..10).map(|i| event(i * 100, "/")).collect();
        store.insert_batch(&batch).unwrap();
        assert_eq!(store.delete_before(500).unwrap(), 5);
        assert_eq!(store.count().unwrap(), 5);
    }

    #[test]
    fn file_store_uses_wal_and_readers_see_writes() {
        let dir = std::env::temp_dir().join(format!("edgeward-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.db");
        let _ = std::fs::remove_file(&path);
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.journal_mode().unwrap(), "wal");
        let reader = store.reader().unwrap();
        store.insert_batch(&[event(1, "/")]).unwrap();
        assert_eq!(reader.count().unwrap(), 1);
        drop((store, reader));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn in_memory_readers_share_the_database() {
        let mut store = SqliteStore::in_memory().unwrap();
        let other = SqliteStore::in_memory().unwrap();
        let reader = store.reader().unwrap();
        store.insert_batch(&[event(1, "/")]).unwrap();
        assert_eq!(reader.count().unwrap(), 1);
        assert_eq!(other.count().unwrap(), 0);
    }
}
