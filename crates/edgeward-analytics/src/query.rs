//! The read side of a store: [`EventQuery`] answers the questions behind the API and the
//! dashboard, for the whole fleet or one edge.
//!
//! Questions about every request (status over time, status counts, 4xx share, totals, per
//! instance) sum `n` over detail rows and rollups alike, so every answer is exact; questions
//! about 404 paths, security stages and rate limiting read detail rows only, which hold every
//! such event (routine requests are below 400 and decided by the origin). Owns the questions,
//! the answers' shapes, and the SQL of each question in the three dialects ([`Dialect`]);
//! a store only runs SQL and hands back rows ([`RowSource`]). Does not own schemas (the stores)
//! or HTTP (the admin crate).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use crate::event::Source;
use crate::sink::StoreError;

/// A boxed future answering a query; stores are used behind `dyn`.
pub type QueryFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Answers [`Question`]s; implemented by every store (through [`RowSource`]).
pub trait EventQuery: Send + Sync {
    /// Answers `question`.
    fn answer<'a>(&'a self, question: &'a Question) -> QueryFuture<'a, Answer>;
}

/// Which requests a question looks at; `None` means unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this edge (its instance name); `None`: the whole fleet.
    pub instance: Option<String>,
    /// Only this zone.
    pub zone: Option<String>,
    /// Only requests at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only requests before this time (Unix ms).
    pub to_ms: Option<i64>,
}

/// A question and the requests it looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// What is asked.
    pub kind: Ask,
    /// Of which requests.
    pub filter: Filter,
}

/// What can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Requests per time bucket and status class.
    StatusOverTime {
        /// Bucket width.
        bucket: Duration,
    },
    /// Requests per status, and the 4xx share.
    StatusCounts,
    /// The paths with the most 404s, with their referrers.
    Top404 {
        /// How many paths.
        limit: u32,
    },
    /// Responses decided by security stages, per stage and rule.
    SecurityEvents,
    /// Rate-limited requests per time bucket and rule.
    RateLimited {
        /// Bucket width.
        bucket: Duration,
    },
    /// All requests and their split by source.
    Totals,
    /// Requests per edge.
    Instances,
}

/// An answer, serialised as the API's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// [`Ask::StatusOverTime`].
    StatusOverTime(Vec<StatusBucket>),
    /// [`Ask::StatusCounts`].
    StatusCounts {
        /// Requests per status.
        counts: Vec<StatusCount>,
        /// The 4xx share (0.0 with no requests).
        share_4xx: f64,
    },
    /// [`Ask::Top404`].
    Top404(Vec<NotFoundPath>),
    /// [`Ask::SecurityEvents`].
    SecurityEvents(Vec<SecurityCount>),
    /// [`Ask::RateLimited`].
    RateLimited(Vec<RateLimitBucket>),
    /// [`Ask::Totals`].
    Totals(Totals),
    /// [`Ask::Instances`].
    Instances(Vec<InstanceCount>),
}

/// Requests of one status class in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusBucket {
    /// Start of the bucket (Unix ms, a multiple of the bucket width).
    pub bucket_start_ms: i64,
    /// `"1xx"` … `"5xx"`, or `"other"`.
    pub status_class: String,
    /// Requests in the bucket with that class.
    pub count: u64,
}

/// Requests answered with one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCount {
    /// The status sent to the client.
    pub status: u16,
    /// How many requests got it.
    pub count: u64,
}

/// A path that answered 404, with where the links to it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotFoundPath {
    /// The request path.
    pub path: String,
    /// How many 404s it produced.
    pub count: u64,
    /// The most common referrers of those 404s (empty string: no `Referer`).
    pub referers: Vec<RefererCount>,
    /// Whether a redirect rule or list of the zone now sends this path elsewhere (filled by
    /// the admin listener from the live configuration; false when unknown).
    #[serde(default)]
    pub has_redirect: bool,
}

/// 404s from one referrer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefererCount {
    /// The `Referer` header value.
    pub referer: String,
    /// How many 404s it led to.
    pub count: u64,
}

/// Responses decided by one security stage and rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityCount {
    /// The stage (`"waf"`, `"ip_rule"`, …).
    pub source: String,
    /// The rule, when the stage names one.
    pub rule_id: Option<String>,
    /// How many responses it decided.
    pub count: u64,
}

/// Rate-limited requests of one rule in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimitBucket {
    /// Start of the bucket (Unix ms).
    pub bucket_start_ms: i64,
    /// The rate-limit rule.
    pub rule_id: Option<String>,
    /// Requests it limited in the bucket.
    pub count: u64,
}

/// Requests decided by one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceCount {
    /// The source name.
    pub source: String,
    /// How many requests it decided.
    pub count: u64,
}

/// Every request in the filter, and how they split by source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// All requests.
    pub requests: u64,
    /// Requests per source, most first.
    pub by_source: Vec<SourceCount>,
}

/// Requests recorded by one edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceCount {
    /// The edge's instance name.
    pub instance: String,
    /// Its requests.
    pub count: u64,
}

/// The referrers listed per 404 path.
const REFERERS_PER_PATH: i64 = 10;

/// The SQL dialects the stores speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3 (`?N` parameters).
    Sqlite,
    /// PostgreSQL (`$N` parameters, `SUM` of bigint is numeric).
    Postgres,
    /// ClickHouse 18.16+ (no server-side parameters: literals are inlined, escaped).
    ClickHouse,
}

/// A statement and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    /// The statement text.
    pub text: String,
    /// Its parameters, in placeholder order (empty for ClickHouse: inlined).
    pub params: Vec<Value>,
}

/// A parameter or a result cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl Value {
    /// The cell as an integer (text cells are parsed: ClickHouse answers in text).
    pub fn int(&self) -> Result<i64, StoreError> {
        match self {
            Value::Int(i) => Ok(*i),
            Value::Text(t) => t
                .parse()
                .map_err(|_| StoreError::Protocol(format!("expected a number, got {t:?}"))),
            Value::Null => Err(StoreError::Protocol("expected a number, got NULL".into())),
        }
    }

    /// The cell as a non-negative count.
    pub fn count(&self) -> Result<u64, StoreError> {
        Ok(self.int()?.max(0).unsigned_abs())
    }

    /// The cell as text (NULL as empty).
    pub fn text(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Int(i) => i.to_string(),
            Value::Null => String::new(),
        }
    }

    /// The cell as optional text.
    pub fn opt_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            v => Some(v.text()),
        }
    }
}

/// Runs SQL and returns rows of cells; what a store implements to get [`EventQuery`].
pub trait RowSource: Send + Sync {
    /// The dialect its SQL must be written in.
    fn dialect(&self) -> Dialect;
    /// Runs one read-only statement.
    fn rows<'a>(&'a self, sql: Sql) -> QueryFuture<'a, Vec<Vec<Value>>>;
}

impl<T: RowSource> EventQuery for T {
    fn answer<'a>(&'a self, question: &'a Question) -> QueryFuture<'a, Answer> {
        Box::pin(answer(self, question))
    }
}

/// Builds statements in one dialect.
struct Builder {
    dialect: Dialect,
    text: String,
    params: Vec<Value>,
}

impl Builder {
    fn new(dialect: Dialect) -> Builder {
        Builder {
            dialect,
            text: String::new(),
            params: Vec::new(),
        }
    }

    /// Appends SQL text.
    fn sql(&mut self, text: &str) -> &mut Builder {
        self.text.push_str(text);
        self
    }

    /// Appends a parameter (a placeholder, or an escaped literal for ClickHouse).
    fn param(&mut self, v: Value) -> &mut Builder {
        match self.dialect {
            Dialect::ClickHouse => {
                let literal = match &v {
                    Value::Null => "NULL".to_owned(),
                    Value::Int(i) => i.to_string(),
                    Value::Text(t) => clickhouse_literal(t),
                };
                self.text.push_str(&literal);
            }
            Dialect::Sqlite => {
                self.params.push(v);
                self.text.push_str(&format!("?{}", self.params.len()));
            }
            Dialect::Postgres => {
                let cast = if matches!(v, Value::Int(_)) {
                    "::bigint"
                } else {
                    ""
                };
                self.params.push(v);
                self.text.push_str(&format!("${}{cast}", self.params.len()));
            }
        }
        self
    }

    /// `WHERE` over the filter and `extra` conditions.
    fn filter(&mut self, f: &Filter, extra: &[&str]) -> &mut Builder {
        let mut first = true;
        let mut and = |b: &mut Builder| {
            b.sql(if first { " WHERE " } else { " AND " });
            first = false;
        };
        for cond in extra {
            and(self);
            self.sql(cond);
        }
        if let Some(instance) = &f.instance {
            and(self);
            self.sql("instance = ").param(Value::Text(instance.clone()));
        }
        if let Some(zone) = &f.zone {
            and(self);
            self.sql("zone = ").param(Value::Text(zone.clone()));
        }
        if let Some(from) = f.from_ms {
            and(self);
            self.sql("time_ms >= ").param(Value::Int(from));
        }
        if let Some(to) = f.to_ms {
            and(self);
            self.sql("time_ms < ").param(Value::Int(to));
        }
        self
    }

    /// Every request: the table or view where each row counts `n` requests.
    fn counted(&mut self) -> &mut Builder {
        self.sql(match self.dialect {
            Dialect::ClickHouse => " FROM requests",
            _ => " FROM counted",
        })
    }

    /// Detail rows, with their extra condition for ClickHouse's single table.
    fn details(&self) -> (&'static str, Option<&'static str>) {
        match self.dialect {
            Dialect::ClickHouse => (" FROM requests", Some("detail = 1")),
            _ => (" FROM events", None),
        }
    }

    /// `SUM(x)` as a 64-bit integer.
    fn sum(&self, x: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("CAST(COALESCE(SUM({x}), 0) AS BIGINT)"),
            Dialect::Sqlite => format!("COALESCE(SUM({x}), 0)"),
            Dialect::ClickHouse => format!("sum({x})"),
        }
    }

    /// `a / b` in integers.
    fn div(&self, a: &str, b: &str) -> String {
        match self.dialect {
            Dialect::ClickHouse => format!("intDiv({a}, {b})"),
            _ => format!("({a} / {b})"),
        }
    }

    /// The statement; ClickHouse gets its output format.
    fn build(&mut self) -> Sql {
        if self.dialect == Dialect::ClickHouse {
            self.text.push_str(" FORMAT TabSeparated");
        }
        Sql {
            text: std::mem::take(&mut self.text),
            params: std::mem::take(&mut self.params),
        }
    }
}

/// A ClickHouse string literal: quotes and backslashes escaped.
pub fn clickhouse_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn bucket_ms(bucket: Duration) -> i64 {
    i64::try_from(bucket.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// `'waf', 'ip_rule', …`: the security sources as an SQL list (static names, no input).
fn security_list() -> String {
    let names: Vec<String> = Source::SECURITY
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("source IN ({})", names.join(", "))
}

fn class_name(class: i64) -> String {
    match class {
        1..=5 => format!("{class}xx"),
        _ => "other".to_owned(),
    }
}

async fn answer<S: RowSource + ?Sized>(store: &S, q: &Question) -> Result<Answer, StoreError> {
    let d = store.dialect();
    let f = &q.filter;
    let mut b = Builder::new(d);
    match q.kind {
        Ask::StatusOverTime { bucket } => {
            let w = bucket_ms(bucket);
            let bucket = format!("{} * {w}", b.div("time_ms", &w.to_string()));
            let select = format!(
                "SELECT {bucket} AS b, {} AS c, {}",
                b.div("status", "100"),
                b.sum("n")
            );
            b.sql(&select)
                .counted()
                .filter(f, &[])
                .sql(" GROUP BY b, c ORDER BY b, c");
            let rows = store.rows(b.build()).await?;
            let buckets = rows.iter().map(|r| {
                Ok(StatusBucket {
                    bucket_start_ms: cell(r, 0)?.int()?,
                    status_class: class_name(cell(r, 1)?.int()?),
                    count: cell(r, 2)?.count()?,
                })
            });
            Ok(Answer::StatusOverTime(
                buckets.collect::<Result<_, StoreError>>()?,
            ))
        }
        Ask::StatusCounts => {
            let select = format!("SELECT status, {}", b.sum("n"));
            b.sql(&select)
                .counted()
                .filter(f, &[])
                .sql(" GROUP BY status ORDER BY status");
            let rows = store.rows(b.build()).await?;
            let counts = rows
                .iter()
                .map(|r| {
                    Ok(StatusCount {
                        status: u16::try_from(cell(r, 0)?.int()?).unwrap_or(0),
                        count: cell(r, 1)?.count()?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let all: u64 = counts.iter().map(|c| c.count).sum();
            let four: u64 = counts
                .iter()
                .filter(|c| (400..500).contains(&c.status))
                .map(|c| c.count)
                .sum();
            // Counts stay far below 2^52, so the conversion is exact.
            let share_4xx = if all == 0 { 0.0 } else { four as f64 / all as f64 };
            Ok(Answer::StatusCounts { counts, share_4xx })
        }
        Ask::Top404 { limit } => top_404(store, f, limit).await.map(Answer::Top404),
        Ask::SecurityEvents => {
            let (from, detail) = b.details();
            let security = security_list();
            let conds: Vec<&str> = detail.into_iter().chain([security.as_str()]).collect();
            b.sql("SELECT source, rule_id, COUNT(*) AS k")
                .sql(from)
                .filter(f, &conds)
                .sql(" GROUP BY source, rule_id ORDER BY k DESC, source, rule_id");
            let rows = store.rows(b.build()).await?;
            let counts = rows.iter().map(|r| {
                Ok(SecurityCount {
                    source: cell(r, 0)?.text(),
                    rule_id: cell(r, 1)?.opt_text(),
                    count: cell(r, 2)?.count()?,
                })
            });
            Ok(Answer::SecurityEvents(counts.collect::<Result<_, StoreError>>()?))
        }
        Ask::RateLimited { bucket } => {
            let w = bucket_ms(bucket);
            let (from, detail) = b.details();
            let conds: Vec<&str> = detail.into_iter().chain(["source = 'rate_limit'"]).collect();
            let select = format!(
                "SELECT {} * {w} AS b, rule_id, COUNT(*)",
                b.div("time_ms", &w.to_string())
            );
            b.sql(&select)
                .sql(from)
                .filter(f, &conds)
                .sql(" GROUP BY b, rule_id ORDER BY b, rule_id");
            let rows = store.rows(b.build()).await?;
            let buckets = rows.iter().map(|r| {
                Ok(RateLimitBucket {
                    bucket_start_ms: cell(r, 0)?.int()?,
                    rule_id: cell(r, 1)?.opt_text(),
                    count: cell(r, 2)?.count()?,
                })
            });
            Ok(Answer::RateLimited(buckets.collect::<Result<_, StoreError>>()?))
        }
        Ask::Totals => {
            let select = format!("SELECT source, {} AS total", b.sum("n"));
            b.sql(&select)
                .counted()
                .filter(f, &[])
                .sql(" GROUP BY source ORDER BY total DESC, source");
            let rows = store.rows(b.build()).await?;
            let by_source = rows
                .iter()
                .map(|r| {
                    Ok(SourceCount {
                        source: cell(r, 0)?.text(),
                        count: cell(r, 1)?.count()?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Answer::Totals(Totals {
                requests: by_source.iter().map(|s| s.count).sum(),
                by_source,
            }))
        }
        Ask::Instances => {
            let select = format!("SELECT instance, {}", b.sum("n"));
            b.sql(&select)
                .counted()
                .filter(f, &[])
                .sql(" GROUP BY instance ORDER BY instance");
            let rows = store.rows(b.build()).await?;
            let counts = rows.iter().map(|r| {
                Ok(InstanceCount {
                    instance: cell(r, 0)?.text(),
                    count: cell(r, 1)?.count()?,
                })
            });
            Ok(Answer::Instances(counts.collect::<Result<_, StoreError>>()?))
        }
    }
}

async fn top_404<S: RowSource + ?Sized>(
    store: &S,
    f: &Filter,
    limit: u32,
) -> Result<Vec<NotFoundPath>, StoreError> {
    let d = store.dialect();
    let mut b = Builder::new(d);
    let (from, detail) = b.details();
    let conds: Vec<&str> = detail.into_iter().chain(["status = 404"]).collect();
    b.sql("SELECT path, COUNT(*) AS k")
        .sql(from)
        .filter(f, &conds)
        .sql(" GROUP BY path ORDER BY k DESC, path LIMIT ")
        .param(Value::Int(limit.into()));
    let rows = store.rows(b.build()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let path = cell(r, 0)?.text();
        let mut b = Builder::new(d);
        b.sql("SELECT referer, COUNT(*) AS k")
            .sql(from)
            .filter(f, &conds)
            .sql(" AND path = ")
            .param(Value::Text(path.clone()))
            .sql(" GROUP BY referer ORDER BY k DESC, referer LIMIT ")
            .param(Value::Int(REFERERS_PER_PATH));
        let referers = store
            .rows(b.build())
            .await?
            .iter()
            .map(|r| {
                Ok(RefererCount {
                    referer: cell(r, 0)?.text(),
                    count: cell(r, 1)?.count()?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        out.push(NotFoundPath {
            path,
            count: cell(r, 1)?.count()?,
            referers,
            has_redirect: false,
        });
    }
    Ok(out)
}

fn cell(row: &[Value], i: usize) -> Result<&Value, StoreError> {
    row.get(i)
        .ok_or_else(|| StoreError::Protocol(format!("a result row has no column {i}")))
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
