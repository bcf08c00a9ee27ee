//! The PostgreSQL store: a few edges writing to one database.
//!
//! Owns its schema and migrations (table `edgeward_schema`, applied under an advisory lock so
//! edges starting together migrate once), the batch write (one transaction: the batch id
//! into `batches` first, so a redelivered batch changes nothing; then detail events and
//! rollup rows, each in one `INSERT … SELECT FROM UNNEST` round trip), retention, and the
//! read connection of the query side. Rollup rows are appended (not upserted): a key may
//! repeat and readers sum, which keeps writes of several edges free of row conflicts.

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

use crate::batch::Batch;
use crate::event::Event;
use crate::query::{Dialect, QueryFuture, RowSource, Sql, Value};
use crate::sink::{EventSink, StoreError, Written};
use crate::store::sqlite::saturate;

/// Schema migrations, applied in order; `edgeward_schema` records each one.
const MIGRATIONS: [&str; 1] = [
    // 1: events, rollups, batches, and the `counted` view over events and rollups.
    "CREATE TABLE events (
        time_ms BIGINT NOT NULL, instance TEXT NOT NULL, zone TEXT NOT NULL,
        method TEXT NOT NULL, host TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL,
        status INTEGER NOT NULL, origin_status INTEGER, source TEXT NOT NULL, rule_id TEXT,
        request_id TEXT NOT NULL, client_ip TEXT NOT NULL, user_agent TEXT NOT NULL,
        referer TEXT NOT NULL, bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL,
        duration_us BIGINT NOT NULL, origin_duration_us BIGINT, origin TEXT, protocol TEXT,
        cache_status TEXT, ws_bytes_in BIGINT, ws_bytes_out BIGINT, ws_duration_us BIGINT,
        proxy_user TEXT);
    CREATE INDEX events_time ON events (time_ms);
    CREATE INDEX events_instance_time ON events (instance, time_ms);
    CREATE INDEX events_status_time ON events (status, time_ms);
    CREATE INDEX events_source_time ON events (source, time_ms);
    CREATE TABLE rollups (
        time_ms BIGINT NOT NULL, instance TEXT NOT NULL, zone TEXT NOT NULL,
        status INTEGER NOT NULL, source TEXT NOT NULL, count BIGINT NOT NULL,
        bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL, duration_us BIGINT NOT NULL);
    CREATE INDEX rollups_time ON rollups (time_ms);
    CREATE TABLE batches (instance TEXT NOT NULL, id BIGINT NOT NULL,
        created_ms BIGINT NOT NULL, PRIMARY KEY (instance, id));
    CREATE VIEW counted AS
        SELECT time_ms, instance, zone, status, source, 1::bigint AS n FROM events
        UNION ALL SELECT time_ms, instance, zone, status, source, count AS n FROM rollups;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// An arbitrary constant naming edgeward's migration lock among advisory locks.
const MIGRATION_LOCK: i64 = 0x6564_6765_7761_7264;

const INSERT_EVENTS: &str = "
INSERT INTO events (time_ms, instance, zone, method, host, path, query, status, origin_status,
    source, rule_id, request_id, client_ip, user_agent, referer, bytes_in, bytes_out,
    duration_us, origin_duration_us, origin, protocol, cache_status, ws_bytes_in, ws_bytes_out,
    ws_duration_us, proxy_user)
SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::int[], $9::int[], $10::text[], $11::text[], $12::text[], $13::text[],
    $14::text[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[],
    $20::text[], $21::text[], $22::text[], $23::bigint[], $24::bigint[], $25::bigint[],
    $26::text[])";

const INSERT_ROLLUPS: &str = "
INSERT INTO rollups (time_ms, instance, zone, status, source, count, bytes_in, bytes_out, duration_us)
SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[],
    $7::bigint[], $8::bigint[], $9::bigint[])";

/// How to reach the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// A libpq-style URL or key=value string (`postgres://user@127.0.0.1:5432/edgeward`).
    pub url: String,
    /// Connect and per-statement timeout.
    pub timeout: Duration,
}

/// Connects with a timeout and drives the connection on the current runtime.
async fn connect(settings: &PostgresSettings) -> Result<Client, StoreError> {
    let connecting = tokio_postgres::connect(&settings.url, NoTls);
    let (client, connection) = tokio::time::timeout(settings.timeout, connecting)
        .await
        .map_err(|_| StoreError::Unavailable("connect timed out".into()))?
        .map_err(unavailable)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "analytics: PostgreSQL connection ended");
        }
    });
    Ok(client)
}

fn unavailable(e: tokio_postgres::Error) -> StoreError {
    // A server error (SQLSTATE) is the database's answer; anything else is the connection.
    match e.code() {
        Some(code) => StoreError::Database(format!("{} ({})", e, code.code())),
        None => StoreError::Unavailable(e.to_string()),
    }
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(unavailable)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(unavailable)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS edgeward_schema (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .await
    .map_err(unavailable)?;
    let row = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM edgeward_schema", &[])
        .await
        .map_err(unavailable)?;
    let current = usize::try_from(row.get::<_, i32>(0)).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the analytics database has schema version {current}, newer than this edgeward's {}",
            MIGRATIONS.len()
        )));
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.batch_execute(migration).await.map_err(unavailable)?;
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO edgeward_schema (version, applied_ms) VALUES ($1, $2)",
            &[&version, &crate::batch::now_ms()],
        )
        .await
        .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)
}

/// The writing side: its own small runtime on the delivery thread, reconnecting as needed.
pub struct PostgresSink {
    settings: PostgresSettings,
    runtime: Runtime,
    client: Option<Client>,
}

impl PostgresSink {
    /// A sink for `settings`; connects (and migrates) on first use, so a database that is
    /// down at start only delays delivery.
    pub fn new(settings: PostgresSettings) -> Result<PostgresSink, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("runtime: {e}")))?;
        Ok(PostgresSink {
            settings,
            runtime,
            client: None,
        })
    }

    /// Connects and migrates now (used at start to report a bad URL early).
    pub fn connect_now(&mut self) -> Result<(), StoreError> {
        self.client()?;
        Ok(())
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let settings = self.settings.clone();
            let client = self.runtime.block_on(async {
                let mut client = connect(&settings).await?;
                migrate(&mut client).await?;
                Ok::<_, StoreError>(client)
            })?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("just connected"))
    }

    /// Takes the connection out for one call (connecting first if needed).
    fn take_client(&mut self) -> Result<Client, StoreError> {
        self.client()?;
        Ok(self.client.take().expect("just connected"))
    }

    /// Keeps the connection unless the call failed on it: then the next call reconnects.
    fn put_back<T>(&mut self, client: Client, result: &Result<T, StoreError>) {
        if !matches!(result, Err(StoreError::Unavailable(_))) {
            self.client = Some(client);
        }
    }
}

/// `f` within `limit`, a timeout being an unavailable database.
async fn within<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("statement timed out".into())))
}

impl EventSink for PostgresSink {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn write(&mut self, batch: &Batch) -> Result<Written, StoreError> {
        let mut client = self.take_client()?;
        let result = self
            .runtime
            .block_on(within(self.settings.timeout, write(&mut client, batch)));
        self.put_back(client, &result);
        result
    }

    fn delete_before(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let client = self.take_client()?;
        let result = self.runtime.block_on(within(self.settings.timeout, async {
            let mut deleted = 0;
            for sql in [
                "DELETE FROM events WHERE time_ms < $1",
                "DELETE FROM rollups WHERE time_ms < $1",
                "DELETE FROM batches WHERE created_ms < $1",
            ] {
                deleted += client.execute(sql, &[&cutoff_ms]).await.map_err(unavailable)?;
            }
            Ok(deleted)
        }));
        self.put_back(client, &result);
        result
    }
}

async fn write(client: &mut Client, batch: &Batch) -> Result<Written, StoreError> {
    let tx = client.transaction().await.map_err(unavailable)?;
    let fresh = tx
        .execute(
            "INSERT INTO batches (instance, id, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&batch.instance, &saturate(batch.id), &batch.created_ms],
        )
        .await
        .map_err(unavailable)?;
    if fresh == 0 {
        return Ok(Written::AlreadyStored);
    }
    if !batch.events.is_empty() {
        let columns = EventColumns::new(&batch.instance, &batch.events);
        tx.execute(INSERT_EVENTS, &columns.params())
            .await
            .map_err(unavailable)?;
    }
    let rows: Vec<_> = batch
        .rollups
        .iter()
        .flat_map(|z| z.rows.iter().map(move |r| (&*z.zone, r)))
        .collect();
    if !rows.is_empty() {
        let time: Vec<i64> = rows.iter().map(|(_, r)| r.time_ms).collect();
        let instance: Vec<&str> = rows.iter().map(|_| batch.instance.as_str()).collect();
        let zone: Vec<&str> = rows.iter().map(|(z, _)| *z).collect();
        let status: Vec<i32> = rows.iter().map(|(_, r)| i32::from(r.status)).collect();
        let source: Vec<&str> = rows.iter().map(|_| "origin").collect();
        let sums = |f: fn(&crate::rollup::RollupRow) -> u64| -> Vec<i64> {
            rows.iter().map(|(_, r)| saturate(f(r))).collect()
        };
        let (count, bytes_in, bytes_out, duration) = (
            sums(|r| r.count),
            sums(|r| r.bytes_in),
            sums(|r| r.bytes_out),
            sums(|r| r.duration_us),
        );
        tx.execute(
            INSERT_ROLLUPS,
            &[
                &time, &instance, &zone, &status, &source, &count, &bytes_in, &bytes_out, &duration,
            ],
        )
        .await
        .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)?;
    Ok(Written::Stored { details_folded: 0 })
}

/// A batch's events as one array per column.
struct EventColumns<'a> {
    time: Vec<i64>,
    instance: Vec<&'a str>,
    text: [Vec<&'a str>; 10],
    status: Vec<i32>,
    origin_status: Vec<Option<i32>>,
    rule_id: Vec<Option<&'a str>>,
    numbers: [Vec<i64>; 3],
    optional_numbers: [Vec<Option<i64>>; 4],
    optional_text: [Vec<Option<&'a str>>; 4],
}

impl<'a> EventColumns<'a> {
    fn new(instance: &'a str, events: &'a [Event]) -> EventColumns<'a> {
        let text = |f: fn(&Event) -> &str| events.iter().map(f).collect::<Vec<_>>();
        let opt =
            |f: fn(&Event) -> Option<u64>| events.iter().map(|e| f(e).map(saturate)).collect::<Vec<_>>();
        EventColumns {
            time: events.iter().map(|e| e.time_ms).collect(),
            instance: events.iter().map(|_| instance).collect(),
            text: [
                text(|e| &e.zone),
                text(|e| &e.method),
                text(|e| &e.host),
                text(|e| &e.path),
                text(|e| &e.query),
                text(|e| e.source.as_str()),
                text(|e| &e.request_id),
                text(|e| &e.client_ip),
                text(|e| &e.user_agent),
                text(|e| &e.referer),
            ],
            status: events.iter().map(|e| i32::from(e.status)).collect(),
            origin_status: events.iter().map(|e| e.origin_status.map(i32::from)).collect(),
            rule_id: events.iter().map(|e| e.rule_id.as_deref()).collect(),
            numbers: [
                events.iter().map(|e| saturate(e.bytes_in)).collect(),
                events.iter().map(|e| saturate(e.bytes_out)).collect(),
                events.iter().map(|e| saturate(e.duration_us)).collect(),
            ],
            optional_numbers: [
                opt(|e| e.origin_duration_us),
                opt(|e| e.ws_bytes_in),
                opt(|e| e.ws_bytes_out),
                opt(|e| e.ws_duration_us),
            ],
            optional_text: [
                events.iter().map(|e| e.origin.as_deref()).collect(),
                events.iter().map(|e| e.protocol.map(|p| p.as_str())).collect(),
                events
                    .iter()
                    .map(|e| e.cache_status.map(|c| c.as_str()))
                    .collect(),
                events.iter().map(|e| e.proxy_user.as_deref()).collect(),
            ],
        }
    }

    /// The parameters in `INSERT_EVENTS` order.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let [zone, method, host, path, query, source, request_id, client_ip, user_agent, referer] =
            &self.text;
        let [bytes_in, bytes_out, duration] = &self.numbers;
        let [origin_duration, ws_in, ws_out, ws_duration] = &self.optional_numbers;
        let [origin, protocol, cache_status, proxy_user] = &self.optional_text;
        vec![
            &self.time,
            &self.instance,
            zone,
            method,
            host,
            path,
            query,
            &self.status,
            &self.origin_status,
            source,
            &self.rule_id,
            request_id,
            client_ip,
            user_agent,
            referer,
            bytes_in,
            bytes_out,
            duration,
            origin_duration,
            origin,
            protocol,
            cache_status,
            ws_in,
            ws_out,
            ws_duration,
            proxy_user,
        ]
    }
}

/// The query side: one connection on the admin's runtime, reconnected after a failure.
pub struct PostgresReader {
    settings: PostgresSettings,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl PostgresReader {
    /// A reader for `settings`; connects on first use.
    pub fn new(settings: PostgresSettings) -> PostgresReader {
        PostgresReader {
            settings,
            client: tokio::sync::Mutex::new(None),
        }
    }

    async fn query(&self, sql: Sql) -> Result<Vec<Vec<Value>>, StoreError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(connect(&self.settings).await?);
        }
        let client = guard.as_ref().expect("just connected");
        let params: Vec<Box<dyn ToSql + Sync + Send>> = sql
            .params
            .into_iter()
            .map(|v| -> Box<dyn ToSql + Sync + Send> {
                match v {
                    Value::Null => Box::new(Option::<String>::None),
                    Value::Int(i) => Box::new(i),
                    Value::Text(t) => Box::new(t),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        let query = client.query(sql.text.as_str(), &refs);
        let rows = match tokio::time::timeout(self.settings.timeout, query).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                let e = unavailable(e);
                if e.is_transient() {
                    *guard = None;
                }
                return Err(e);
            }
            Err(_) => {
                *guard = None;
                return Err(StoreError::Unavailable("query timed out".into()));
            }
        };
        rows.iter().map(row_values).collect()
    }
}

fn row_values(row: &tokio_postgres::Row) -> Result<Vec<Value>, StoreError> {
    use tokio_postgres::types::Type;
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            let v = if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int))
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|n| Value::Int(n.into())))
            } else {
                row.try_get::<_, Option<String>>(i).map(|v| v.map(Value::Text))
            };
            v.map(|v| v.unwrap_or(Value::Null))
                .map_err(|e| StoreError::Protocol(e.to_string()))
        })
        .collect()
}

impl RowSource for PostgresReader {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn rows<'a>(&'a self, sql: Sql) -> QueryFuture<'a, Vec<Vec<Value>>> {
        Box::pin(self.query(sql))
    }
}
