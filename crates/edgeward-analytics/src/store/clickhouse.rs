//! The ClickHouse store: fleets, through ClickHouse's HTTP interface (18.16 and later).
//!
//! Owns its schema and migrations (table `edgeward_schema`), the batch write and the read
//! side. One table, `requests`, holds detail events (`detail = 1`, `n = 1`) and rollup rows
//! (`detail = 0`, `n` = their count), so a batch is one `INSERT` — one block, which
//! ClickHouse writes atomically (no partitioning: a block split over partitions would not
//! be). Exactly once: every row carries its batch id, and a batch is written only after a
//! look-up finds none of its rows (18.16 has no deduplication for plain MergeTree tables).
//! Retention is an `ALTER TABLE … DELETE` mutation (18.16 has no TTL). Statements go over
//! plain HTTP/1.1 ([`post`]); 18.16 has no query parameters, so literals are escaped.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use tokio::runtime::Runtime;

use crate::batch::Batch;
use crate::query::{clickhouse_literal, Dialect, QueryFuture, RowSource, Sql, Value};
use crate::sink::{EventSink, StoreError, Written};

/// Schema migrations, applied in order; `edgeward_schema` records each one.
const MIGRATIONS: [&str; 1] = [
    // 1: one table for detail events and rollup rows.
    "CREATE TABLE IF NOT EXISTS requests (
        time_ms Int64, instance String, batch_id UInt64, detail UInt8, n UInt64,
        zone String, method String, host String, path String, query String, status UInt16,
        origin_status Nullable(UInt16), source String, rule_id Nullable(String),
        request_id String, client_ip String, user_agent String, referer String,
        bytes_in UInt64, bytes_out UInt64, duration_us UInt64,
        origin_duration_us Nullable(UInt64), origin Nullable(String), protocol Nullable(String),
        cache_status Nullable(String), ws_bytes_in Nullable(UInt64),
        ws_bytes_out Nullable(UInt64), ws_duration_us Nullable(UInt64),
        proxy_user Nullable(String)
    ) ENGINE = MergeTree() ORDER BY (time_ms, instance)",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// How to reach ClickHouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseSettings {
    /// The HTTP interface, `http://host:port` (8123 by default).
    pub url: String,
    /// The database the tables live in (created if missing).
    pub database: String,
    /// User and password, when the server wants them.
    pub user: Option<(String, String)>,
    /// Connect and per-statement timeout.
    pub timeout: Duration,
}

/// Where the HTTP interface listens, from `http://host:port[/]`.
fn authority(url: &str) -> Result<&str, StoreError> {
    url.strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .ok_or_else(|| {
            StoreError::Database(format!(
                "ClickHouse url must look like http://127.0.0.1:8123, not {url:?}"
            ))
        })
}

/// Sends one statement (`query` in the URL, `body` as its data); returns the answer body.
pub async fn post(
    settings: &ClickHouseSettings,
    database: Option<&str>,
    query: &str,
    body: Vec<u8>,
) -> Result<Bytes, StoreError> {
    let authority = authority(&settings.url)?;
    let mut target = String::from("/?query=");
    percent_encode(&mut target, query);
    if let Some(db) = database {
        target.push_str("&database=");
        percent_encode(&mut target, db);
    }
    let call = async {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| StoreError::Unavailable(format!("connect {authority}: {e}")))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        tokio::spawn(conn);
        // Explicit: hyper leaves it out for an empty body, and ClickHouse then answers 411.
        let mut req = http::Request::post(target.as_str())
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_LENGTH, body.len());
        if let Some((user, password)) = &settings.user {
            req = req
                .header("X-ClickHouse-User", user.as_str())
                .header("X-ClickHouse-Key", password.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| StoreError::Protocol(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            Ok(bytes)
        } else {
            let text = String::from_utf8_lossy(&bytes);
            Err(StoreError::Database(format!(
                "ClickHouse {status}: {}",
                text.trim()
            )))
        }
    };
    tokio::time::timeout(settings.timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "ClickHouse did not answer in time".into(),
            ))
        })
}

fn percent_encode(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Reads a `TabSeparated` answer: `\N` is NULL, escapes are undone.
pub fn parse_tsv(body: &[u8]) -> Vec<Vec<Value>> {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .map(|line| {
            line.split('\t')
                .map(|cell| {
                    if cell == "\\N" {
                        Value::Null
                    } else {
                        Value::Text(unescape(cell))
                    }
                })
                .collect()
        })
        .collect()
}

fn unescape(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len());
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

async fn migrate(settings: &ClickHouseSettings) -> Result<(), StoreError> {
    let db = clickhouse_identifier(&settings.database)?;
    post(
        settings,
        None,
        &format!("CREATE DATABASE IF NOT EXISTS {db}"),
        Vec::new(),
    )
    .await?;
    let database = Some(settings.database.as_str());
    post(
        settings,
        database,
        "CREATE TABLE IF NOT EXISTS edgeward_schema (version UInt32, applied_ms Int64) ENGINE = TinyLog",
        Vec::new(),
    )
    .await?;
    let body = post(
        settings,
        database,
        "SELECT max(version) FROM edgeward_schema FORMAT TabSeparated",
        Vec::new(),
    )
    .await?;
    let current: usize = String::from_utf8_lossy(&body).trim().parse().unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the analytics database has schema version {current}, newer than this edgeward's {}",
            MIGRATIONS.len()
        )));
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        post(settings, database, migration, Vec::new()).await?;
        let record = format!(
            "INSERT INTO edgeward_schema (version, applied_ms) VALUES ({}, {})",
            i + 1,
            crate::batch::now_ms()
        );
        post(settings, database, &record, Vec::new()).await?;
    }
    Ok(())
}

/// A database name is inlined into SQL, so only plain identifiers are accepted.
fn clickhouse_identifier(name: &str) -> Result<&str, StoreError> {
    let plain = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        Ok(name)
    } else {
        Err(StoreError::Database(format!(
            "ClickHouse database name {name:?} must be letters, digits and _"
        )))
    }
}

/// One row of `requests` as JSONEachRow writes it.
#[derive(Serialize)]
struct Row<'a> {
    time_ms: i64,
    instance: &'a str,
    batch_id: u64,
    detail: u8,
    n: u64,
    zone: &'a str,
    method: &'a str,
    host: &'a str,
    path: &'a str,
    query: &'a str,
    status: u16,
    origin_status: Option<u16>,
    source: &'a str,
    rule_id: Option<&'a str>,
    request_id: &'a str,
    client_ip: &'a str,
    user_agent: &'a str,
    referer: &'a str,
    bytes_in: u64,
    bytes_out: u64,
    duration_us: u64,
    origin_duration_us: Option<u64>,
    origin: Option<&'a str>,
    protocol: Option<&'a str>,
    cache_status: Option<&'a str>,
    ws_bytes_in: Option<u64>,
    ws_bytes_out: Option<u64>,
    ws_duration_us: Option<u64>,
    proxy_user: Option<&'a str>,
}

/// The `INSERT` body of a batch: one JSON object per line.
fn rows_of(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.events.len() * 400 + 64);
    let base = |zone: &'static str| Row {
        time_ms: 0,
        instance: "",
        batch_id: batch.id,
        detail: 0,
        n: 0,
        zone,
        method: "",
        host: "",
        path: "",
        query: "",
        status: 0,
        origin_status: None,
        source: "origin",
        rule_id: None,
        request_id: "",
        client_ip: "",
        user_agent: "",
        referer: "",
        bytes_in: 0,
        bytes_out: 0,
        duration_us: 0,
        origin_duration_us: None,
        origin: None,
        protocol: None,
        cache_status: None,
        ws_bytes_in: None,
        ws_bytes_out: None,
        ws_duration_us: None,
        proxy_user: None,
    };
    for e in &batch.events {
        let row = Row {
            time_ms: e.time_ms,
            instance: &batch.instance,
            detail: 1,
            n: 1,
            zone: &e.zone,
            method: &e.method,
            host: &e.host,
            path: &e.path,
            query: &e.query,
            status: e.status,
            origin_status: e.origin_status,
            source: e.source.as_str(),
            rule_id: e.rule_id.as_deref(),
            request_id: &e.request_id,
            client_ip: &e.client_ip,
            user_agent: &e.user_agent,
            referer: &e.referer,
            bytes_in: e.bytes_in,
            bytes_out: e.bytes_out,
            duration_us: e.duration_us,
            origin_duration_us: e.origin_duration_us,
            origin: e.origin.as_deref(),
            protocol: e.protocol.map(|p| p.as_str()),
            cache_status: e.cache_status.map(|c| c.as_str()),
            ws_bytes_in: e.ws_bytes_in,
            ws_bytes_out: e.ws_bytes_out,
            ws_duration_us: e.ws_duration_us,
            proxy_user: e.proxy_user.as_deref(),
            ..base("")
        };
        serde_json::to_writer(&mut out, &row).expect("rows serialise");
        out.push(b'\n');
    }
    for z in &batch.rollups {
        for r in &z.rows {
            let row = Row {
                time_ms: r.time_ms,
                instance: &batch.instance,
                n: r.count,
                zone: &z.zone,
                status: r.status,
                bytes_in: r.bytes_in,
                bytes_out: r.bytes_out,
                duration_us: r.duration_us,
                ..base("")
            };
            serde_json::to_writer(&mut out, &row).expect("rows serialise");
            out.push(b'\n');
        }
    }
    out
}

async fn write(settings: &ClickHouseSettings, batch: &Batch) -> Result<Written, StoreError> {
    let database = Some(settings.database.as_str());
    let lookup = format!(
        "SELECT count() FROM requests WHERE time_ms >= {} AND instance = {} AND batch_id = {} FORMAT TabSeparated",
        batch.min_time_ms(),
        clickhouse_literal(&batch.instance),
        batch.id
    );
    let found = post(settings, database, &lookup, Vec::new()).await?;
    if String::from_utf8_lossy(&found).trim() != "0" {
        return Ok(Written::AlreadyStored);
    }
    post(
        settings,
        database,
        "INSERT INTO requests FORMAT JSONEachRow",
        rows_of(batch),
    )
    .await?;
    Ok(Written::Stored { details_folded: 0 })
}

/// The writing side: its own small runtime on the delivery thread.
pub struct ClickHouseSink {
    settings: ClickHouseSettings,
    runtime: Runtime,
    migrated: bool,
}

impl ClickHouseSink {
    /// A sink for `settings`; creates the schema on first use.
    pub fn new(settings: ClickHouseSettings) -> Result<ClickHouseSink, StoreError> {
        authority(&settings.url)?;
        clickhouse_identifier(&settings.database)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("runtime: {e}")))?;
        Ok(ClickHouseSink {
            settings,
            runtime,
            migrated: false,
        })
    }

    fn ready(&mut self) -> Result<(), StoreError> {
        if !self.migrated {
            self.runtime.block_on(migrate(&self.settings))?;
            self.migrated = true;
        }
        Ok(())
    }
}

impl EventSink for ClickHouseSink {
    fn kind(&self) -> &'static str {
        "clickhouse"
    }

    fn write(&mut self, batch: &Batch) -> Result<Written, StoreError> {
        self.ready()?;
        self.runtime.block_on(write(&self.settings, batch))
    }

    fn delete_before(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.ready()?;
        let sql = format!("ALTER TABLE requests DELETE WHERE time_ms < {cutoff_ms}");
        self.runtime.block_on(post(
            &self.settings,
            Some(&self.settings.database),
            &sql,
            Vec::new(),
        ))?;
        // A mutation runs in the background; how many rows it removes is not reported.
        Ok(0)
    }
}

/// The query side: one HTTP request per statement on the admin's runtime.
pub struct ClickHouseReader {
    settings: ClickHouseSettings,
}

impl ClickHouseReader {
    /// A reader for `settings`.
    pub fn new(settings: ClickHouseSettings) -> ClickHouseReader {
        ClickHouseReader { settings }
    }
}

impl RowSource for ClickHouseReader {
    fn dialect(&self) -> Dialect {
        Dialect::ClickHouse
    }

    fn rows<'a>(&'a self, sql: Sql) -> QueryFuture<'a, Vec<Vec<Value>>> {
        Box::pin(async move {
            let body = post(
                &self.settings,
                Some(&self.settings.database),
                &sql.text,
                Vec::new(),
            )
            .await?;
            Ok(parse_tsv(&body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_cells_are_unescaped_and_null_is_null() {
        let rows = parse_tsv(b"a\\tb\t\\N\t12\nx\\\\N\t\t\\'q\\'\n");
        assert_eq!(
            rows,
            vec![
                vec![Value::Text("a\tb".into()), Value::Null, Value::Text("12".into())],
                vec![
                    Value::Text("x\\N".into()),
                    Value::Text(String::new()),
                    Value::Text("'q'".into())
                ],
            ]
        );
    }

    #[test]
    fn literals_and_identifiers_cannot_escape() {
        assert_eq!(clickhouse_literal("a'b\\"), "'a\\'b\\\\'");
        assert!(clickhouse_identifier("edgeward_1").is_ok());
        assert!(clickhouse_identifier("x; DROP").is_err());
        assert!(authority("http://127.0.0.1:8123/").is_ok());
        assert!(authority("https://x").is_err());
    }
}
