//! Read queries over stored events: the numbers behind the API and the dashboard.
//!
//! Questions about every request (status over time, status counts, 4xx share, totals) sum
//! the `counted` view, detail rows and rollups alike; questions about 404 paths, security
//! stages and rate limiting read detail rows only, which hold every such event (routine
//! requests are below 400 and decided by the origin). Owns the SQL of each question (status codes over time, 4xx share, broken links, security
//! events, rate limiting, totals) and the shapes of the answers. Every query takes a
//! [`Filter`] (zone and half-open time range `[from_ms, to_ms)`). Does not own the schema
//! ([`crate::store`]) or how answers reach HTTP ([`crate::admin`]).

use std::time::Duration;

use rusqlite::types::Value;
use serde::Serialize;

use crate::event::Source;
use crate::store::{SqliteStore, StoreError};

/// Which events a query looks at; `None` means unrestricted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter<'a> {
    /// Only this zone.
    pub zone: Option<&'a str>,
    /// Only events at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only events before this time (Unix ms).
    pub to_ms: Option<i64>,
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

/// The referrers listed per 404 path.
const REFERERS_PER_PATH: u32 = 10;

impl Filter<'_> {
    /// The `WHERE` clause for this filter plus `extra` conditions, and its parameters.
    fn where_clause(&self, extra: &[&str]) -> (String, Vec<Value>) {
        let mut conds: Vec<String> = extra.iter().map(|c| (*c).to_owned()).collect();
        let mut params = Vec::new();
        if let Some(zone) = self.zone {
            params.push(Value::Text(zone.to_owned()));
            conds.push(format!("zone = ?{}", params.len()));
        }
        if let Some(from) = self.from_ms {
            params.push(Value::Integer(from));
            conds.push(format!("time_ms >= ?{}", params.len()));
        }
        if let Some(to) = self.to_ms {
            params.push(Value::Integer(to));
            conds.push(format!("time_ms < ?{}", params.len()));
        }
        if conds.is_empty() {
            (String::new(), params)
        } else {
            (format!("WHERE {}", conds.join(" AND ")), params)
        }
    }
}

/// A bucket width in ms, at least 1.
fn bucket_ms(bucket: Duration) -> i64 {
    i64::try_from(bucket.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// `'waf', 'ip_rule', …`: the security sources as an SQL list (static names, no input).
fn security_list() -> String {
    let names: Vec<String> = Source::SECURITY
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    names.join(", ")
}

impl SqliteStore {
    /// Requests per time bucket and status class, oldest first.
    pub fn status_over_time(
        &self,
        filter: &Filter<'_>,
        bucket: Duration,
    ) -> Result<Vec<StatusBucket>, StoreError> {
        let width = bucket_ms(bucket);
        let (cond, mut params) = filter.where_clause(&[]);
        params.push(Value::Integer(width));
        let w = params.len();
        let sql = format!(
            "SELECT (time_ms / ?{w}) * ?{w} AS b, status / 100 AS c, SUM(n) FROM counted {cond}
             GROUP BY b, c ORDER BY b, c"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            let class: i64 = r.get(1)?;
            Ok(StatusBucket {
                bucket_start_ms: r.get(0)?,
                status_class: match class {
                    1..=5 => format!("{class}xx"),
                    _ => "other".to_owned(),
                },
                count: r.get(2)?,
            })
        })?;
        rows.collect()
    }

    /// Requests per status, lowest status first.
    pub fn status_counts(&self, filter: &Filter<'_>) -> Result<Vec<StatusCount>, StoreError> {
        let (cond, params) = filter.where_clause(&[]);
        let sql = format!("SELECT status, SUM(n) FROM counted {cond} GROUP BY status ORDER BY status");
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok(StatusCount {
                status: r.get(0)?,
                count: r.get(1)?,
            })
        })?;
        rows.collect()
    }

    /// The fraction of requests answered 4xx (0.0 when there are none).
    pub fn share_4xx(&self, filter: &Filter<'_>) -> Result<f64, StoreError> {
        let (cond, params) = filter.where_clause(&[]);
        let sql = format!("SELECT COALESCE(SUM(n), 0), COALESCE(SUM((status BETWEEN 400 AND 499) * n), 0) FROM counted {cond}");
        let (all, four): (u64, u64) =
            self.conn()
                .query_row(&sql, rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        // Counts stay far below 2^52, so the conversion is exact.
        Ok(if all == 0 { 0.0 } else { four as f64 / all as f64 })
    }

    /// The `limit` paths with the most 404s (broken links), each with its top referrers.
    pub fn top_404(&self, filter: &Filter<'_>, limit: u32) -> Result<Vec<NotFoundPath>, StoreError> {
        let (cond, mut params) = filter.where_clause(&["status = 404"]);
        params.push(Value::Integer(limit.into()));
        let sql = format!(
            "SELECT path, COUNT(*) AS n FROM events {cond} GROUP BY path
             ORDER BY n DESC, path LIMIT ?{}",
            params.len()
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let paths: Vec<(String, u64)> = stmt
            .query_map(rusqlite::params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        paths
            .into_iter()
            .map(|(path, count)| {
                let referers = self.referers_of_404(filter, &path)?;
                Ok(NotFoundPath {
                    path,
                    count,
                    referers,
                })
            })
            .collect()
    }

    fn referers_of_404(&self, filter: &Filter<'_>, path: &str) -> Result<Vec<RefererCount>, StoreError> {
        let (cond, mut params) = filter.where_clause(&["status = 404"]);
        params.push(Value::Text(path.to_owned()));
        let p = params.len();
        params.push(Value::Integer(REFERERS_PER_PATH.into()));
        let l = params.len();
        let sql = format!(
            "SELECT referer, COUNT(*) AS n FROM events {cond} AND path = ?{p}
             GROUP BY referer ORDER BY n DESC, referer LIMIT ?{l}"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok(RefererCount {
                referer: r.get(0)?,
                count: r.get(1)?,
            })
        })?;
        rows.collect()
    }

    /// Responses decided by security stages, per stage and rule, most first.
    pub fn security_events(&self, filter: &Filter<'_>) -> Result<Vec<SecurityCount>, StoreError> {
        let in_security = format!("source IN ({})", security_list());
        let (cond, params) = filter.where_clause(&[&in_security]);
        let sql = format!(
            "SELECT source, rule_id, COUNT(*) AS n FROM events {cond}
             GROUP BY source, rule_id ORDER BY n DESC, source, rule_id"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok(SecurityCount {
                source: r.get(0)?,
                rule_id: r.get(1)?,
                count: r.get(2)?,
            })
        })?;
        rows.collect()
    }

    /// Rate-limited requests per time bucket and rule, oldest first.
    pub fn rate_limited(
        &self,
        filter: &Filter<'_>,
        bucket: Duration,
    ) -> Result<Vec<RateLimitBucket>, StoreError> {
        let (cond, mut params) = filter.where_clause(&["source = 'rate_limit'"]);
        params.push(Value::Integer(bucket_ms(bucket)));
        let w = params.len();
        let sql = format!(
            "SELECT (time_ms / ?{w}) * ?{w} AS b, rule_id, COUNT(*) FROM events {cond}
             GROUP BY b, rule_id ORDER BY b, rule_id"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok(RateLimitBucket {
                bucket_start_ms: r.get(0)?,
                rule_id: r.get(1)?,
                count: r.get(2)?,
            })
        })?;
        rows.collect()
    }

    /// All requests in the filter and their split by source.
    pub fn totals(&self, filter: &Filter<'_>) -> Result<Totals, StoreError> {
        let (cond, params) = filter.where_clause(&[]);
        let sql = format!(
            "SELECT source, SUM(n) AS total FROM counted {cond} GROUP BY source ORDER BY total DESC, source"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let by_source: Vec<SourceCount> = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok(SourceCount {
                    source: r.get(0)?,
                    count: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Totals {
            requests: by_source.iter().map(|s| s.count).sum(),
            by_source,
        })
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
