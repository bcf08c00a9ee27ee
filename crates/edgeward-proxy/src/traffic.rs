//! The zone's traffic rules at their stages: redirects (Always Use HTTPS, redirect rules,
//! bulk lists) as a request stage before the protections, request transforms on the
//! forwarded request, and the response stage: custom error rules, response transforms and
//! HSTS on every response the client gets.
//!
//! Owns where each call happens and what it touches; evaluating the rules is
//! `edgeward_rules::TrafficRules`'s.

use bytes::Bytes;
use edgeward_config::Zone;
use edgeward_errors::EdgeError;
use edgeward_rules::{ErrorFacts, Vars};
use http::header::{HeaderValue, STRICT_TRANSPORT_SECURITY};
use http::{HeaderMap, StatusCode};

use crate::edge::Edge;
use crate::protect::request_fields;
use crate::request::RequestCtx;
use crate::request_body::UpstreamBody;
use crate::response::{LocalReply, Reply, Response, ResponseBody, ResponseHead};

/// The path and query as the rules see them.
fn split_target<'a>(req: &'a RequestCtx<'_>) -> (&'a str, &'a str) {
    let pq = req.head.path_and_query();
    pq.split_once('?').unwrap_or((pq, ""))
}

fn vars<'a>(zone: &'a Zone, req: &'a RequestCtx<'_>) -> Vars<'a> {
    Vars {
        request_id: req.request_id,
        zone: &zone.name,
    }
}

/// Request stage: the redirect for this request, if the zone has one.
pub fn redirect(edge: &Edge, zone: &Zone, req: &RequestCtx<'_>) -> Option<Reply> {
    let rules = &zone.traffic;
    if rules.is_empty() {
        return None;
    }
    // Always Use HTTPS sends clients to the first TLS listener's port (443 when there is none).
    let https_port = edge
        .config
        .tls
        .first()
        .and_then(|t| t.listen.first())
        .map_or(443, |a| a.port());
    let (path, query) = split_target(req);
    let vars = vars(zone, req);
    let redirect = request_fields(req, path, query, None, |fields| {
        rules.redirect(fields, &vars, https_port)
    })?;
    Some(Reply::Local(LocalReply {
        status: StatusCode::from_u16(redirect.status).unwrap_or(StatusCode::FOUND),
        content_type: "text/plain; charset=utf-8".into(),
        headers: vec![("Location", redirect.location.clone())],
        body: Bytes::from(format!("Redirecting to {}\n", redirect.location)),
    }))
}

/// Request transforms on the forwarded request: header operations and a path rewrite.
pub fn transform_request(zone: &Zone, req: &RequestCtx<'_>, request: &mut http::Request<UpstreamBody>) {
    let rules = &zone.traffic;
    if rules.request_transforms.is_empty() {
        return;
    }
    let (path, query) = split_target(req);
    let vars = vars(zone, req);
    let mut rewritten = None;
    request_fields(req, path, query, None, |fields| {
        rules.apply_request(fields, &vars, request.headers_mut(), &mut rewritten)
    });
    if let Some(target) = rewritten.and_then(|t| http::Uri::try_from(t).ok()) {
        *request.uri_mut() = target;
    }
}

/// The custom error rule's response for this error, if one matches (`error` for an edge
/// error, else the origin's `status`).
pub fn custom_error(
    zone: &Zone,
    req: &RequestCtx<'_>,
    error: Option<&EdgeError>,
    status: u16,
) -> Option<Response> {
    let rules = &zone.traffic;
    if rules.custom_errors.is_empty() || status < 400 {
        return None;
    }
    let explanation = error.map(EdgeError::explanation).unwrap_or_default();
    let facts = ErrorFacts {
        status,
        from_origin: error.is_none(),
        error_code: error.map(EdgeError::code),
        title: error.map_or_else(
            || {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("")
            },
            EdgeError::title,
        ),
        explanation: &explanation,
    };
    let (path, query) = split_target(req);
    let vars = vars(zone, req);
    let custom = request_fields(req, path, query, None, |fields| {
        rules.custom_error(fields, &vars, &facts)
    })?;
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(http::header::CONTENT_TYPE, custom.content_type);
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // What the catalog requires for the status stays (Allow, WWW-Authenticate, Retry-After…).
    if let Some(error) = error {
        for (name, value) in error.required_headers() {
            if let (Ok(n), Ok(v)) = (
                http::header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.append(n, v);
            }
        }
    }
    Some(Response {
        head: ResponseHead {
            status: StatusCode::from_u16(custom.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reason: None,
            headers,
            close: error.is_some_and(EdgeError::closes_connection),
        },
        body: ResponseBody::Full(Bytes::from(custom.body)),
        upgrade: None,
    })
}

/// Response stage on every response: response transforms, then HSTS on TLS.
pub fn finish_response(zone: &Zone, req: &RequestCtx<'_>, head: &mut ResponseHead) {
    let rules = &zone.traffic;
    if rules.is_empty() {
        return;
    }
    if !rules.response_transforms.is_empty() {
        let (path, query) = split_target(req);
        let vars = vars(zone, req);
        let status = head.status.as_u16();
        request_fields(req, path, query, None, |fields| {
            rules.apply_response(fields, &vars, status, &mut head.headers)
        });
    }
    if let Some(hsts) = rules.hsts(req.transport.tls) {
        head.headers.insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
}
