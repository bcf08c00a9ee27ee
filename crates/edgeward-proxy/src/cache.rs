//! The cache stages around the upstream: a lookup before it (a hit answers here, with the
//! edge's own 304/412/206/416), and after it the store (the body teed into the cache while
//! it streams), compression, and invalidation after unsafe methods.
//!
//! Owns the hand-off between the pipeline and `edgeward_cache`: the request as the cache
//! reads it, the fill request sent to the origin (its method and validators), background
//! refreshes (stale-while-revalidate), and turning the cache's answers into replies. RFC 9111
//! semantics, stores, collapsing and purge are `edgeward_cache`'s.

use std::sync::Arc;

use edgeward_cache::compress::{self, CompressBody};
use edgeward_cache::{Answer, Cache, CacheRequest, CacheStatus, Fill, Lookup};
use edgeward_errors::{EdgeError, OriginFault};
use edgeward_http::BodyFraming;
use http::header::{HeaderName, CONTENT_LENGTH, HOST, IF_MODIFIED_SINCE, IF_NONE_MATCH, TRANSFER_ENCODING};
use http::request::Parts;
use http_body_util::BodyExt;

use crate::edge::Edge;
use crate::forward::{upstream_request, Forwarding};
use crate::origin::{self, OriginBody, StreamBody};
use crate::protect::request_fields;
use crate::request::{bare_host, RequestCtx};
use crate::request_body::UpstreamBody;
use crate::response::OriginReply;
use crate::route::Routed;

/// The client's conditionals and ranges: answered by the edge, never sent on a fill.
const CLIENT_CONDITIONALS: [HeaderName; 6] = [
    http::header::IF_MATCH,
    http::header::IF_NONE_MATCH,
    http::header::IF_MODIFIED_SINCE,
    http::header::IF_UNMODIFIED_SINCE,
    http::header::IF_RANGE,
    http::header::RANGE,
];

/// What the upstream phase produced: the reply to send, and the cache's part in it.
pub struct Fetched {
    /// The response (the origin's, or one the cache made).
    pub reply: OriginReply,
    /// How the cache took part, when the zone has a cache.
    pub status: Option<CacheStatus>,
    /// Whether the origin was asked (for the log's origin status).
    pub asked_origin: bool,
}

/// Phase 7 with a cache: lookup, then the origin when the cache cannot answer.
pub async fn fetch(
    edge: &Arc<Edge>,
    cache: &Cache,
    routed: Routed,
    req: &RequestCtx<'_>,
    body: UpstreamBody,
) -> Result<Fetched, EdgeError> {
    let parts = request_parts(req)?;
    let scheme = if req.transport.tls { "https" } else { "http" };
    let host = bare_host(req.head.host()).to_ascii_lowercase();
    let (path, query) = req
        .head
        .path_and_query()
        .split_once('?')
        .unwrap_or((req.head.path_and_query(), ""));
    let zone_cache = edge.config.cache.zone(routed.zone);
    let rule = request_fields(req, path, query, None, |fields| {
        zone_cache.select(|expr| expr.eval(fields))
    });
    let creq = CacheRequest::new(&parts, scheme, &host, rule);
    let compression = &cache.settings().compression;
    // A protocol switch, or a request with a body (a GET with one is legal, if odd), is
    // never a cache fill: fills are bodiless GETs, and a 101 must keep its connection.
    let lookup = if req.upgrade().is_some() || req.head.framing != BodyFraming::None {
        Lookup::Pass(CacheStatus::Bypass)
    } else {
        cache.lookup(&creq).await
    };
    match lookup {
        Lookup::Hit(mut hit) => {
            if let Some(fill) = hit.refresh.take() {
                refresh(edge, cache, routed, req, fill);
            }
            let answer = cache.serve::<OriginBody>(&hit, &parts.method, &parts.headers);
            answered(answer, edge, false)
        }
        Lookup::Miss(fill) | Lookup::Revalidate(fill) => {
            let adjust = fill_adjuster(&fill);
            match origin::forward_adjusted(edge, routed, req, UpstreamBody::empty(), adjust).await {
                Err(error) => match cache.origin_failed::<OriginBody>(fill) {
                    Some(answer) => answered(answer, edge, true),
                    None => Err(error),
                },
                Ok(mut reply) => {
                    compress_reply(&mut reply, &parts, compression);
                    let mut head = http::Response::new(());
                    *head.status_mut() = reply.status;
                    *head.headers_mut() = std::mem::take(&mut reply.headers);
                    let (head, ()) = head.into_parts();
                    let answer = cache.complete(fill, head, reply.body).await;
                    answered(answer, edge, true)
                }
            }
        }
        Lookup::Pass(status) => {
            let mut reply = origin::forward(edge, routed, req, body).await?;
            cache.invalidate(&creq, reply.status.as_u16(), &reply.headers);
            if reply.upgrade.is_none() {
                compress_reply(&mut reply, &parts, compression);
            }
            Ok(Fetched {
                reply,
                status: Some(status),
                asked_origin: true,
            })
        }
        Lookup::GatewayTimeout => Err(EdgeError::GatewayTimeout),
    }
}

/// The request as the cache reads it (method, target, fields).
fn request_parts(req: &RequestCtx<'_>) -> Result<Parts, EdgeError> {
    let bad = |_| EdgeError::BadRequest(edgeward_errors::BadRequest::InvalidTarget);
    let mut builder = http::Request::builder()
        .method(req.head.method())
        .uri(req.head.path_and_query());
    for (name, value) in req.head.headers() {
        builder = builder.header(name, value);
    }
    Ok(builder.body(()).map_err(bad)?.into_parts().0)
}

/// A fill is a GET carrying the cache's validators instead of the client's conditionals.
fn fill_adjuster(fill: &Fill) -> impl Fn(&mut http::Request<UpstreamBody>) {
    let method = fill.origin_method();
    let validators = fill.origin_headers();
    let etag = validators.get(IF_NONE_MATCH).cloned();
    let modified = validators.get(IF_MODIFIED_SINCE).cloned();
    move |request| {
        *request.method_mut() = method.clone();
        let headers = request.headers_mut();
        for name in &CLIENT_CONDITIONALS {
            headers.remove(name);
        }
        // A fill has no body, whatever the client's request declared.
        headers.remove(CONTENT_LENGTH);
        headers.remove(TRANSFER_ENCODING);
        if let Some(etag) = &etag {
            headers.insert(IF_NONE_MATCH, etag.clone());
        }
        if let Some(modified) = &modified {
            headers.insert(IF_MODIFIED_SINCE, modified.clone());
        }
    }
}

/// Compresses the origin's response when the client accepts an encoding and the response
/// is compressible; otherwise only notes that it varies by `Accept-Encoding` when it could be.
fn compress_reply(reply: &mut OriginReply, parts: &Parts, settings: &edgeward_cache::CompressionSettings) {
    let status = reply.status.as_u16();
    match compress::negotiate(&parts.headers, status, &reply.headers, settings) {
        Some(encoding) => {
            compress::compressed_head(&mut reply.headers, encoding);
            let body = std::mem::replace(
                &mut reply.body,
                StreamBody::Transformed(
                    http_body_util::Empty::new()
                        .map_err(|e| match e {})
                        .boxed_unsync(),
                ),
            );
            let compressed = CompressBody::new(body, encoding);
            reply.body = StreamBody::Transformed(compressed.map_err(Into::into).boxed_unsync());
        }
        None if compress::eligible(status, &reply.headers, settings) => {
            compress::add_vary_accept_encoding(&mut reply.headers);
        }
        None => {}
    }
}

/// The cache's answer as the reply to send.
fn answered<B>(answer: Answer<B>, edge: &Edge, asked_origin: bool) -> Result<Fetched, EdgeError>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<edgeward_upstream::BoxError>,
{
    match answer {
        Answer::Respond(response, status) => {
            let (parts, body) = response.into_parts();
            Ok(Fetched {
                reply: OriginReply {
                    status: parts.status,
                    reason: None,
                    headers: parts.headers,
                    body: StreamBody::Transformed(body.map_err(Into::into).boxed_unsync()),
                    idle_timeout: edge.upstream().response_timeout,
                    upgrade: None,
                },
                status: Some(status),
                asked_origin,
            })
        }
        Answer::PreconditionFailed(_) => Err(EdgeError::PreconditionFailed),
        Answer::UpstreamFailed(_) => Err(EdgeError::BadGateway(OriginFault::InvalidResponse)),
    }
}

/// Stale-while-revalidate: asks the origin in the background and stores its answer, while
/// the stale response is served now.
fn refresh(edge: &Arc<Edge>, cache: &Cache, routed: Routed, req: &RequestCtx<'_>, fill: Fill) {
    let edge = Arc::clone(edge);
    let head = req.head.clone();
    let (client_ip, tls) = (req.client_ip, req.transport.tls);
    let (peer_ip, via_trusted_proxy) = (req.peer_ip, req.via_trusted_proxy);
    let drop_underscores = !edge.zone(routed.zone).underscores_in_headers;
    let request_id = req.request_id.to_owned();
    cache.refresh(fill, move |method, headers| async move {
        let forwarding = Forwarding {
            client_ip,
            peer_ip,
            via_trusted_proxy,
            client_ip_header: edge.config.real_ip.send_header.as_deref(),
            request_id: &request_id,
            fallback_host: None,
            tls,
            drop_underscores,
        };
        let mut request = upstream_request(&head, &forwarding, UpstreamBody::empty())
            .map_err(|_| edgeward_upstream::UpstreamError::InvalidResponse)?;
        *request.method_mut() = method;
        let host = request.headers().get(HOST).cloned();
        for name in &CLIENT_CONDITIONALS {
            request.headers_mut().remove(name);
        }
        request.headers_mut().remove(CONTENT_LENGTH);
        request.headers_mut().remove(TRANSFER_ENCODING);
        for name in [IF_NONE_MATCH, IF_MODIFIED_SINCE] {
            if let Some(v) = headers.get(&name) {
                request.headers_mut().insert(name, v.clone());
            }
        }
        if let Some(host) = host {
            request.headers_mut().insert(HOST, host);
        }
        let cluster = &edge.zone_runtime(routed.zone).cluster;
        cluster.send(request, None, || None).await
    });
}
