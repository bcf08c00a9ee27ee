//! The SQLite store: the embedded default, one file (or memory) per edge.
//!
//! Owns its schema and migrations (versioned with `PRAGMA user_version`), the batched
//! writes (one transaction per batch, deduplicated by the `batches` table), the size cap
//! (rows and bytes: past it, detail events are kept only as counts, and `max_page_count`
//! makes the file or memory unable to grow past the cap at all), retention, and the read
//! connection the query side uses. Detail events go to `events`; routine requests and folded
//! details to `rollups`, one row per millisecond, instance, zone, status and source; the
//! `counted` view is both, each row with its request count `n`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, ToSql};

use crate::batch::Batch;
use crate::event::{Event, Source};
use crate::query::{Dialect, QueryFuture, RowSource, Sql, Value};
use crate::sink::{EventSink, StoreError, Written};

/// Schema migrations, applied in order; the database's `user_version` is how many ran.
const MIGRATIONS: [&str; 2] = [
    // 1: the first release's schema. `IF NOT EXISTS`: databases from before versioning have it.
    "CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, zone TEXT NOT NULL,
        method TEXT NOT NULL, host TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL,
        status INTEGER NOT NULL, origin_status INTEGER, source TEXT NOT NULL, rule_id TEXT,
        request_id TEXT NOT NULL, client_ip TEXT NOT NULL, user_agent TEXT NOT NULL,
        referer TEXT NOT NULL, bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL,
        duration_us INTEGER NOT NULL, origin_duration_us INTEGER);
    CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);
    CREATE INDEX IF NOT EXISTS events_zone_time ON events (zone, time_ms);
    CREATE INDEX IF NOT EXISTS events_status_path ON events (status, path, referer);
    CREATE INDEX IF NOT EXISTS events_source_time ON events (source, time_ms);
    CREATE TABLE IF NOT EXISTS rollups (
        time_ms INTEGER NOT NULL, zone TEXT NOT NULL, status INTEGER NOT NULL,
        source TEXT NOT NULL, count INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, duration_us INTEGER NOT NULL,
        PRIMARY KEY (time_ms, zone, status, source)) WITHOUT ROWID;
    CREATE VIEW IF NOT EXISTS counted AS
        SELECT time_ms, zone, status, source, 1 AS n FROM events
        UNION ALL SELECT time_ms, zone, status, source, count AS n FROM rollups;",
    // 2: the instance name on every row (rows from before it belong to instance ''),
    // batch ids for exactly-once delivery, the event's optional fields.
    "ALTER TABLE events ADD COLUMN instance TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN origin TEXT;
    ALTER TABLE events ADD COLUMN protocol TEXT;
    ALTER TABLE events ADD COLUMN cache_status TEXT;
    ALTER TABLE events ADD COLUMN ws_bytes_in INTEGER;
    ALTER TABLE events ADD COLUMN ws_bytes_out INTEGER;
    ALTER TABLE events ADD COLUMN ws_duration_us INTEGER;
    ALTER TABLE events ADD COLUMN proxy_user TEXT;
    CREATE INDEX events_instance_time ON events (instance, time_ms);
    CREATE TABLE rollups_v2 (
        time_ms INTEGER NOT NULL, instance TEXT NOT NULL, zone TEXT NOT NULL,
        status INTEGER NOT NULL, source TEXT NOT NULL, count INTEGER NOT NULL,
        bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, duration_us INTEGER NOT NULL,
        PRIMARY KEY (time_ms, instance, zone, status, source)) WITHOUT ROWID;
    INSERT INTO rollups_v2 SELECT time_ms, '', zone, status, source, count, bytes_in,
        bytes_out, duration_us FROM rollups;
    DROP VIEW counted;
    DROP TABLE rollups;
    ALTER TABLE rollups_v2 RENAME TO rollups;
    CREATE VIEW counted AS
        SELECT time_ms, instance, zone, status, source, 1 AS n FROM events
        UNION ALL SELECT time_ms, instance, zone, status, source, count AS n FROM rollups;
    CREATE TABLE batches (instance TEXT NOT NULL, id INTEGER NOT NULL,
        created_ms INTEGER NOT NULL, PRIMARY KEY (instance, id)) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

const INSERT_EVENT: &str = "
INSERT INTO events (time_ms, instance, zone, method, host, path, query, status, origin_status,
    source, rule_id, request_id, client_ip, user_agent, referer, bytes_in, bytes_out,
    duration_us, origin_duration_us, origin, protocol, cache_status, ws_bytes_in, ws_bytes_out,
    ws_duration_us, proxy_user)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
    ?20, ?21, ?22, ?23, ?24, ?25, ?26)";

const UPSERT_ROLLUP: &str = "
INSERT INTO rollups (time_ms, instance, zone, status, source, count, bytes_in, bytes_out, duration_us)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (time_ms, instance, zone, status, source) DO UPDATE SET
    count = count + excluded.count,
    bytes_in = bytes_in + excluded.bytes_in,
    bytes_out = bytes_out + excluded.bytes_out,
    duration_us = duration_us + excluded.duration_us";

/// How big the store may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteCap {
    /// Rows (detail events plus rollup rows) before details are kept as counts only.
    pub max_rows: u64,
    /// Bytes of database pages; also the hard limit (`max_page_count`).
    pub max_bytes: u64,
}

impl Default for SqliteCap {
    fn default() -> Self {
        SqliteCap {
            max_rows: 2_000_000,
            max_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Where a store's database lives, so further connections can reach the same one.
#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    /// A shared-cache in-memory database, alive while any connection to it is open.
    Memory(String),
}

/// The writing connection to the event database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    location: Location,
    cap: SqliteCap,
    /// Rows held (events plus rollup rows), kept in step with writes and deletes.
    rows: u64,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`, in WAL mode.
    pub fn open(path: impl AsRef<Path>, cap: SqliteCap) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        // WAL lets the admin API read while the writer appends; NORMAL syncs only at
        // checkpoints, and OFF could corrupt the file on power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::prepare(conn, Location::File(path), cap)
    }

    /// A fresh in-memory database that cannot grow past `cap`; readers share it.
    pub fn in_memory(cap: SqliteCap) -> Result<SqliteStore, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let uri = format!(
            "file:edgeward-analytics-{}-{n}?mode=memory&cache=shared",
            std::process::id()
        );
        let conn = Connection::open_with_flags(&uri, memory_flags())?;
        Self::prepare(conn, Location::Memory(uri), cap)
    }

    fn prepare(mut conn: Connection, location: Location, cap: SqliteCap) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        migrate(&mut conn)?;
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let max_pages = (cap.max_bytes / page_size.max(1)).max(64);
        conn.pragma_update(None, "max_page_count", max_pages)?;
        let rows = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM rollups)",
            [],
            |r| r.get(0),
        )?;
        Ok(SqliteStore {
            conn,
            location,
            cap,
            rows,
        })
    }

    /// A read connection to the same database, for the query side.
    pub fn reader(&self) -> Result<SqliteReader, StoreError> {
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
        Ok(SqliteReader {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let v: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    /// Rows held: detail events plus rollup rows.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes of database pages in use.
    pub fn bytes(&self) -> Result<u64, StoreError> {
        let pages: u64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: u64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(pages * size)
    }

    /// The journal mode in force (`"wal"` for file databases).
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(self.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    /// Whether `extra` more rows would pass the cap.
    fn over_cap(&self, extra: u64) -> Result<bool, StoreError> {
        // The last tenth of the byte cap is kept for rollups, which are never refused.
        Ok(self.rows + extra > self.cap.max_rows || self.bytes()? > self.cap.max_bytes / 10 * 9)
    }

    fn write_batch(&mut self, batch: &Batch) -> Result<Written, StoreError> {
        let fold = self.over_cap(batch.events.len() as u64)?;
        let tx = self.conn.transaction()?;
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO batches (instance, id, created_ms) VALUES (?1, ?2, ?3)",
            params![batch.instance, saturate(batch.id), batch.created_ms],
        )?;
        if fresh == 0 {
            return Ok(Written::AlreadyStored);
        }
        let mut added = 0u64;
        {
            let mut upsert = tx.prepare_cached(UPSERT_ROLLUP)?;
            let mut rollup = |time_ms: i64, zone: &str, status: u16, source: Source, sums: [u64; 4]| {
                upsert
                    .execute(params![
                        time_ms,
                        batch.instance,
                        zone,
                        status,
                        source.as_str(),
                        saturate(sums[0]),
                        saturate(sums[1]),
                        saturate(sums[2]),
                        saturate(sums[3]),
                    ])
                    .map(|_| ())
            };
            for z in &batch.rollups {
                for r in &z.rows {
                    rollup(
                        r.time_ms,
                        &z.zone,
                        r.status,
                        Source::Origin,
                        [r.count, r.bytes_in, r.bytes_out, r.duration_us],
                    )?;
                }
            }
            if fold {
                for e in &batch.events {
                    rollup(
                        e.time_ms,
                        &e.zone,
                        e.status,
                        e.source,
                        [1, e.bytes_in, e.bytes_out, e.duration_us],
                    )?;
                }
            } else {
                let mut insert = tx.prepare_cached(INSERT_EVENT)?;
                for e in &batch.events {
                    insert.execute(rusqlite::params_from_iter(event_params(&batch.instance, e)))?;
                    added += 1;
                }
            }
        }
        let rollup_rows: u64 = batch.rollups.iter().map(|z| z.rows.len() as u64).sum();
        tx.commit()?;
        // Upserts into existing rows add none; counting them all keeps the estimate high,
        // which errs towards the cap. Retention recounts exactly.
        self.rows += added + rollup_rows + if fold { batch.events.len() as u64 } else { 0 };
        Ok(Written::Stored {
            details_folded: if fold { batch.events.len() as u64 } else { 0 },
        })
    }

    fn recount(&mut self) -> Result<(), StoreError> {
        self.rows = self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM rollups)",
            [],
            |r| r.get(0),
        )?;
        Ok(())
    }
}

impl EventSink for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn write(&mut self, batch: &Batch) -> Result<Written, StoreError> {
        self.write_batch(batch)
    }

    fn delete_before(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for sql in [
            "DELETE FROM events WHERE time_ms < ?1",
            "DELETE FROM rollups WHERE time_ms < ?1",
            "DELETE FROM batches WHERE created_ms < ?1",
        ] {
            deleted += self.conn.execute(sql, [cutoff_ms])? as u64;
        }
        self.recount()?;
        Ok(deleted)
    }
}

/// Applies the migrations the database has not seen, each in its own transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the analytics database has schema version {current}, newer than this edgeward's {}",
            MIGRATIONS.len()
        )));
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn event_params<'a>(instance: &'a String, e: &'a Event) -> Vec<Box<dyn ToSql + 'a>> {
    vec![
        Box::new(e.time_ms),
        Box::new(instance),
        Box::new(&e.zone),
        Box::new(&e.method),
        Box::new(&e.host),
        Box::new(&e.path),
        Box::new(&e.query),
        Box::new(e.status),
        Box::new(e.origin_status),
        Box::new(e.source.as_str()),
        Box::new(&e.rule_id),
        Box::new(&e.request_id),
        Box::new(&e.client_ip),
        Box::new(&e.user_agent),
        Box::new(&e.referer),
        Box::new(saturate(e.bytes_in)),
        Box::new(saturate(e.bytes_out)),
        Box::new(saturate(e.duration_us)),
        Box::new(e.origin_duration_us.map(saturate)),
        Box::new(&e.origin),
        Box::new(e.protocol.map(|p| p.as_str())),
        Box::new(e.cache_status.map(|c| c.as_str())),
        Box::new(e.ws_bytes_in.map(saturate)),
        Box::new(e.ws_bytes_out.map(saturate)),
        Box::new(e.ws_duration_us.map(saturate)),
        Box::new(&e.proxy_user),
    ]
}

/// A read connection; queries run on blocking threads, one at a time.
#[derive(Clone)]
pub struct SqliteReader {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteReader {
    /// Runs `sql` on the calling thread.
    pub fn rows_blocking(&self, sql: &Sql) -> Result<Vec<Vec<Value>>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare_cached(&sql.text)?;
        let columns = stmt.column_count();
        let params = sql.params.iter().map(|v| match v {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(*i),
            Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
        });
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            (0..columns)
                .map(|i| {
                    Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                        rusqlite::types::Value::Integer(n) => Value::Int(n),
                        rusqlite::types::Value::Text(t) => Value::Text(t),
                        rusqlite::types::Value::Real(f) => Value::Int(f as i64),
                        _ => Value::Null,
                    })
                })
                .collect()
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The number of requests stored: detail rows plus the counts of rollup rows.
    pub fn count(&self) -> Result<u64, StoreError> {
        let sql = Sql {
            text: "SELECT COALESCE(SUM(n), 0) FROM counted".into(),
            params: Vec::new(),
        };
        self.rows_blocking(&sql)?[0][0].count()
    }

    /// The number of detail rows (events stored in full).
    pub fn detail_count(&self) -> Result<u64, StoreError> {
        let sql = Sql {
            text: "SELECT COUNT(*) FROM events".into(),
            params: Vec::new(),
        };
        self.rows_blocking(&sql)?[0][0].count()
    }
}

impl RowSource for SqliteReader {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn rows<'a>(&'a self, sql: Sql) -> QueryFuture<'a, Vec<Vec<Value>>> {
        let reader = self.clone();
        Box::pin(async move {
            match tokio::runtime::Handle::try_current() {
                Ok(_) => tokio::task::spawn_blocking(move || reader.rows_blocking(&sql))
                    .await
                    .map_err(|e| StoreError::Database(format!("query thread: {e}")))?,
                Err(_) => reader.rows_blocking(&sql),
            }
        })
    }
}

fn memory_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// SQLite integers are signed; byte counts and durations past `i64::MAX` are not real.
pub(crate) fn saturate(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
