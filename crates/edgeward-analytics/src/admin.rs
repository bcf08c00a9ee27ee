//! The admin HTTP listener: `/metrics`, the JSON query API and the dashboard page.
//!
//! Owns routing, query-string parsing, the bearer-token rule (required off loopback, optional
//! on loopback unless configured; compared in constant time), and running queries on blocking
//! threads. Does not own the queries themselves ([`crate::query`]) or metric values
//! ([`crate::metrics`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::query::Filter;
use crate::queue::AnalyticsHandle;
use crate::store::{SqliteStore, StoreError};

/// The dashboard page, self-contained (no external scripts, styles or fonts).
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// What the admin listener serves from.
#[derive(Clone)]
pub struct AdminState {
    /// The live analytics handle (for `/metrics`).
    pub analytics: AnalyticsHandle,
    /// A read connection for the query API, used from blocking threads one query at a time.
    pub store: Arc<Mutex<SqliteStore>>,
    /// The bearer token; required when the listener is not on loopback.
    pub token: Option<String>,
    /// More Prometheus series to append to `/metrics` (counters owned by other crates).
    pub extra_metrics: Option<ExtraMetrics>,
}

/// Appends Prometheus text-format series to `/metrics`.
pub type ExtraMetrics = Arc<dyn Fn(&mut String) + Send + Sync>;

impl AdminState {
    /// State over `analytics` with `store` as its read connection (see [`SqliteStore::reader`]).
    pub fn new(analytics: AnalyticsHandle, store: SqliteStore, token: Option<String>) -> Self {
        AdminState {
            analytics,
            store: Arc::new(Mutex::new(store)),
            token,
            extra_metrics: None,
        }
    }
}

/// The outcome of the token rule for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Serve the request.
    Allow,
    /// Answer 401 with `WWW-Authenticate: Bearer`.
    Deny,
}

/// The token rule: off loopback a configured token must be presented (no token configured
/// means nothing is served); on loopback only a configured token is required.
pub fn authorize(loopback: bool, token: Option<&str>, authorization: Option<&[u8]>) -> AuthDecision {
    let Some(token) = token else {
        return if loopback {
            AuthDecision::Allow
        } else {
            AuthDecision::Deny
        };
    };
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    let presented = authorization.and_then(|v| {
        let (scheme, rest) = v.split_at(v.iter().position(|&b| b == b' ')?);
        scheme
            .eq_ignore_ascii_case(b"Bearer")
            .then(|| rest.trim_ascii_start())
    });
    match presented {
        Some(p) if constant_time_eq(p, token.as_bytes()) => AuthDecision::Allow,
        _ => AuthDecision::Deny,
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Serves the admin API on `listener` until the future is dropped. Fails at once when the
/// listener is not on loopback and no token is configured (it could serve nothing).
pub async fn serve_admin(listener: TcpListener, state: AdminState) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let loopback = is_loopback(addr);
    if !loopback && state.token.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("admin listener {addr} is not on loopback and has no token"),
        ));
    }
    tracing::info!(%addr, loopback, "admin listener ready");
    let state = Arc::new((state, loopback));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(error) => {
                // Out of descriptors and similar: back off instead of spinning.
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(req, &state.0, state.1).await) }
            });
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(error) = conn.await {
                tracing::debug!(%error, %peer, "admin connection ended with an error");
            }
        });
    }
}

type Reply = Response<Full<Bytes>>;

async fn handle(req: Request<Incoming>, state: &AdminState, loopback: bool) -> Reply {
    // The dashboard page itself holds no data (its script fetches the API with the token
    // from the URL fragment), and a browser cannot add a header when opening a URL.
    let page = matches!(req.uri().path(), "/" | "/dashboard");
    if page && req.method() == Method::GET {
        return body(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD_HTML);
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if authorize(loopback, state.token.as_deref(), auth) == AuthDecision::Deny {
        let mut reply = error(StatusCode::UNAUTHORIZED, "a bearer token is required");
        reply
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return reply;
    }
    if req.method() != Method::GET {
        let mut reply = error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
        reply
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return reply;
    }
    let params = match ApiParams::parse(req.uri().query().unwrap_or("")) {
        Ok(p) => p,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
    };
    match req.uri().path() {
        "/" | "/dashboard" => body(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD_HTML),
        "/metrics" => {
            let mut text = state.analytics.metrics().render();
            if let Some(extra) = &state.extra_metrics {
                extra(&mut text);
            }
            body(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", text)
        }
        "/api/status-over-time" => {
            let bucket = params.bucket;
            query(state, params, move |s, f| s.status_over_time(f, bucket)).await
        }
        "/api/status-counts" => {
            query(state, params, |s, f| {
                Ok(StatusCountsReply {
                    counts: s.status_counts(f)?,
                    share_4xx: s.share_4xx(f)?,
                })
            })
            .await
        }
        "/api/top-404" => {
            let limit = params.limit;
            query(state, params, move |s, f| s.top_404(f, limit)).await
        }
        "/api/security-events" => query(state, params, |s, f| s.security_events(f)).await,
        "/api/rate-limited" => {
            let bucket = params.bucket;
            query(state, params, move |s, f| s.rate_limited(f, bucket)).await
        }
        "/api/totals" => query(state, params, |s, f| s.totals(f)).await,
        _ => error(StatusCode::NOT_FOUND, "no such admin endpoint"),
    }
}

/// `/api/status-counts`: the counts and the 4xx share over the same filter.
#[derive(Serialize)]
struct StatusCountsReply {
    counts: Vec<crate::query::StatusCount>,
    share_4xx: f64,
}

/// Runs `f` on a blocking thread with the read connection and answers with its JSON.
async fn query<T, F>(state: &AdminState, params: ApiParams, f: F) -> Reply
where
    T: Serialize + Send + 'static,
    F: FnOnce(&SqliteStore, &Filter<'_>) -> Result<T, StoreError> + Send + 'static,
{
    let store = Arc::clone(&state.store);
    let result = tokio::task::spawn_blocking(move || {
        let store = store.lock().unwrap_or_else(|e| e.into_inner());
        let filter = Filter {
            zone: params.zone.as_deref(),
            from_ms: params.from_ms,
            to_ms: params.to_ms,
        };
        f(&store, &filter).map(|v| serde_json::to_string(&v))
    })
    .await;
    match result {
        Ok(Ok(Ok(json))) => body(StatusCode::OK, "application/json", json),
        Ok(Ok(Err(e))) => internal(&e),
        Ok(Err(e)) => internal(&e),
        Err(e) => internal(&e),
    }
}

fn internal(cause: &dyn std::fmt::Display) -> Reply {
    tracing::error!(error = %cause, "admin query failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "the query failed")
}

fn body(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    let h = reply.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        ),
    );
    reply
}

fn error(status: StatusCode, message: &str) -> Reply {
    let json = serde_json::json!({ "error": message }).to_string();
    body(status, "application/json", json)
}

/// The query-string parameters the API understands.
#[derive(Debug, Clone, PartialEq)]
struct ApiParams {
    zone: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    bucket: Duration,
    limit: u32,
}

impl ApiParams {
    /// Parses `zone`, `from`/`to` (Unix ms), `bucket` (seconds, 1…86400, default 60) and
    /// `limit` (1…1000, default 20); other parameters are ignored.
    fn parse(query: &str) -> Result<ApiParams, String> {
        let mut p = ApiParams {
            zone: None,
            from_ms: None,
            to_ms: None,
            bucket: Duration::from_secs(60),
            limit: 20,
        };
        let pairs: HashMap<String, String> = query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let number = |name: &str| -> Result<Option<i64>, String> {
            match pairs.get(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("`{name}` must be an integer")),
            }
        };
        p.zone = pairs.get("zone").filter(|z| !z.is_empty()).cloned();
        p.from_ms = number("from")?;
        p.to_ms = number("to")?;
        if let Some(secs) = number("bucket")? {
            if !(1..=86_400).contains(&secs) {
                return Err("`bucket` must be 1..=86400 seconds".to_owned());
            }
            p.bucket = Duration::from_secs(secs.unsigned_abs());
        }
        if let Some(limit) = number("limit")? {
            p.limit = u32::try_from(limit)
                .ok()
                .filter(|l| (1..=1_000).contains(l))
                .ok_or("`limit` must be 1..=1000")?;
        }
        Ok(p)
    }
}

/// Decodes `%XX` escapes and `+` as space; malformed escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Whether `addr` is a loopback address (the rule [`serve_admin`] applies to its listener).
pub fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
