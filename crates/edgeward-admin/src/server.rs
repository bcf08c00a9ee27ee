//! The admin HTTP listener: `/metrics`, the JSON API over [`EventQuery`] and the dashboard.
//!
//! Owns routing, the order of the checks (the `Host` rule, then the token rule, then the
//! method), running questions, and answering every error through the catalog
//! (`edgeward-errors`): 421 for a foreign `Host`, 401 with a `Basic` challenge, 405 with
//! `Allow`, 404, 502 when the analytics database is unreachable, 500 otherwise. Does not own
//! the access rules ([`crate::access`]), the questions (`edgeward-analytics`) or metric values.

use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use edgeward_analytics::{Answer, Ask, EventQuery, Question, StoreError};
use edgeward_errors::{render, AuthChallenge, EdgeError, MethodList, OriginFault, RenderContext};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::access::{authorize, host_allowed, is_loopback, presents_token, AuthDecision};
use crate::exposition::{self, ExtraMetrics};
use crate::metrics::Metrics;
use crate::params::ApiParams;

/// The dashboard page, self-contained (no external scripts, styles or fonts).
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// The realm of the 401 challenge.
const REALM: &str = "edgeward admin";

/// What the admin listener serves from.
#[derive(Clone)]
pub struct AdminState {
    /// Request, origin and connection metrics.
    pub metrics: Arc<Metrics>,
    /// Analytics delivery, when analytics is on (its counters join `/metrics`).
    pub analytics: Option<edgeward_analytics::AnalyticsHandle>,
    /// The query side of the analytics store, when analytics is on (else the API is 404).
    pub query: Option<Arc<dyn EventQuery>>,
    /// The token; required when the listener is not on loopback.
    pub token: Option<String>,
    /// Host names answered besides loopback ones (`[admin] allowed_hosts`).
    pub allowed_hosts: Vec<String>,
    /// More series to append to `/metrics` (counters owned by other crates).
    pub extra_metrics: Vec<ExtraMetrics>,
    /// Whether the live configuration redirects a path (zone filter, path): marks top-404 rows.
    pub redirects: Option<RedirectCheck>,
}

/// Asks the live configuration whether a path of a zone (any zone when `None`) is redirected.
pub type RedirectCheck = Arc<dyn Fn(Option<&str>, &str) -> bool + Send + Sync>;

impl AdminState {
    /// State with metrics only: no analytics, no token, loopback names only.
    pub fn new(metrics: Arc<Metrics>) -> AdminState {
        AdminState {
            metrics,
            analytics: None,
            query: None,
            token: None,
            allowed_hosts: Vec::new(),
            extra_metrics: Vec::new(),
            redirects: None,
        }
    }
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

/// Answers one request.
pub async fn handle<B>(req: Request<B>, state: &AdminState, loopback: bool) -> Reply {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let host = req.headers().get(header::HOST).map(HeaderValue::as_bytes);
    let with_token = state.token.as_deref().is_some_and(|t| presents_token(t, auth));
    if !with_token && !host_allowed(host, &state.allowed_hosts) {
        let host = host
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .unwrap_or_default();
        return catalog(&req, EdgeError::UnknownHost { host });
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let allow = MethodList::new(["GET", "HEAD"]).expect("not empty");
        return catalog(&req, EdgeError::MethodNotAllowed { allow });
    }
    // The dashboard page holds no data (its script fetches the API with the token from the
    // URL fragment), and a browser cannot add a header when opening a URL.
    if matches!(req.uri().path(), "/" | "/dashboard") {
        return body(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD_HTML);
    }
    if authorize(loopback, state.token.as_deref(), auth) == AuthDecision::Deny {
        let challenge = AuthChallenge::Basic { realm: REALM.into() };
        return catalog(
            &req,
            EdgeError::Unauthorized {
                challenge,
                repeated: false,
            },
        );
    }
    let params = match ApiParams::parse(req.uri().query().unwrap_or("")) {
        Ok(p) => p,
        Err(msg) => return bad_parameter(&msg),
    };
    let kind = match req.uri().path() {
        "/metrics" => {
            let stats = state.analytics.as_ref().map(|a| a.stats());
            let text = exposition::render(&state.metrics, stats.as_ref(), &state.extra_metrics);
            return body(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", text);
        }
        "/api/status-over-time" => Ask::StatusOverTime {
            bucket: params.bucket,
        },
        "/api/status-counts" => Ask::StatusCounts,
        "/api/top-404" => Ask::Top404 { limit: params.limit },
        "/api/security-events" => Ask::SecurityEvents,
        "/api/rate-limited" => Ask::RateLimited {
            bucket: params.bucket,
        },
        "/api/totals" => Ask::Totals,
        "/api/instances" => Ask::Instances,
        _ => return catalog(&req, EdgeError::NotFound),
    };
    let Some(query) = &state.query else {
        return catalog(&req, EdgeError::NotFound);
    };
    let question = Question {
        kind,
        filter: params.filter,
    };
    match query.answer(&question).await {
        Ok(mut answer) => {
            if let (Answer::Top404(rows), Some(redirects)) = (&mut answer, &state.redirects) {
                let zone = question.filter.zone.as_deref();
                for row in rows {
                    row.has_redirect = redirects(zone, &row.path);
                }
            }
            json(&answer)
        }
        Err(error) => {
            tracing::error!(%error, "admin query failed");
            let err = match error {
                StoreError::Unavailable(_) => EdgeError::BadGateway(OriginFault::Refused),
                _ => EdgeError::Internal,
            };
            catalog(&req, err)
        }
    }
}

fn json(answer: &Answer) -> Reply {
    match serde_json::to_string(answer) {
        Ok(text) => body(StatusCode::OK, "application/json", text),
        Err(_) => body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "serialisation failed",
        ),
    }
}

/// An error answered through the catalog, negotiated by `Accept` like the edge's own.
fn catalog<B>(req: &Request<B>, err: EdgeError) -> Reply {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = format!("admin-{:x}", NEXT.fetch_add(1, Ordering::Relaxed));
    let accept = req.headers().get(header::ACCEPT).map(HeaderValue::as_bytes);
    let ctx = RenderContext {
        accept,
        head: req.method() == Method::HEAD,
        ..RenderContext::new(&id)
    };
    let rendered = render(&err, &ctx);
    let mut reply = Response::new(Full::new(rendered.body));
    *reply.status_mut() = StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in rendered.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            reply.headers_mut().append(name, value);
        }
    }
    reply
        .headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    reply
}

/// A parameter the API cannot use. The catalog has no variant for a bad query parameter of
/// an edge endpoint yet, so this one is answered here, as problem+json.
fn bad_parameter(message: &str) -> Reply {
    let json = serde_json::json!({
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": message,
    });
    body(
        StatusCode::BAD_REQUEST,
        "application/problem+json",
        json.to_string(),
    )
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

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
