//! The upstream phase: the forwarded request goes to the zone's cluster of origins, and
//! the origin's response head comes back with its hop-by-hop fields removed. A protocol
//! switch (`Upgrade: websocket`) is forwarded when the zone allows it, and the origin's
//! 101 keeps its side of the connection.
//!
//! Owns what the proxy hands the cluster: the forwarded request, a way to rebuild it for a
//! retry (bodiless requests only), and the balancing key. Building the forwarded head is
//! `forward`'s; choosing the origin, pools, health and retry rules (RFC 9112 §9.3.1) are
//! `edgeward_upstream`'s.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use edgeward_config::{Balance, HashKey, HostPattern};
use edgeward_errors::{EdgeError, OriginFault};
use edgeward_upstream::BoxError;
use http::header::{HeaderValue, CONNECTION, UPGRADE};
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

use crate::edge::Edge;
use crate::forward::{strip_response_hop_by_hop, upstream_request, Forwarding};
use crate::request::RequestCtx;
use crate::request_body::UpstreamBody;
use crate::response::OriginReply;
use crate::route::Routed;

/// The origin's response body: streamed, the connection back in its pool at the end.
pub type OriginBody = edgeward_upstream::OriginBody<UpstreamBody>;

/// A response body on its way to the client: the origin's as it streams, or one the cache
/// stages made (served from the store, teed into it, or compressed).
pub enum StreamBody {
    /// The origin's body, untouched (the common case: no allocation).
    Origin(OriginBody),
    /// A body from the cache stages.
    Transformed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            StreamBody::Origin(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            StreamBody::Transformed(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            StreamBody::Origin(b) => b.is_end_stream(),
            StreamBody::Transformed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            StreamBody::Origin(b) => b.size_hint(),
            StreamBody::Transformed(b) => b.size_hint(),
        }
    }
}

/// Forwards the request to the zone's origins; the origin's response head, or the catalog
/// error for why there is none (409 DNS, 502, 503, 504).
pub async fn forward(
    edge: &Edge,
    routed: Routed,
    req: &RequestCtx<'_>,
    body: UpstreamBody,
) -> Result<OriginReply, EdgeError> {
    forward_adjusted(edge, routed, req, body, |_| {}).await
}

/// `forward`, with `adjust` applied to the forwarded request (a cache fill's method and
/// validators) each time it is built.
pub async fn forward_adjusted(
    edge: &Edge,
    routed: Routed,
    req: &RequestCtx<'_>,
    body: UpstreamBody,
    adjust: impl Fn(&mut http::Request<UpstreamBody>),
) -> Result<OriginReply, EdgeError> {
    let zone = edge.zone(routed.zone);
    let fallback_host = zone.hosts.iter().find_map(|h| match h {
        HostPattern::Exact(name) => Some(name.as_str()),
        HostPattern::Wildcard(_) => None,
    });
    let forwarding = Forwarding {
        client_ip: req.client_ip,
        peer_ip: req.peer_ip,
        via_trusted_proxy: req.via_trusted_proxy,
        client_ip_header: edge.config.real_ip.send_header.as_deref(),
        request_id: req.request_id,
        fallback_host,
        tls: req.transport.tls,
        drop_underscores: !zone.underscores_in_headers,
    };
    let upgrade = req.upgrade();
    let build = |body: UpstreamBody| -> Result<http::Request<UpstreamBody>, EdgeError> {
        let mut request = upstream_request(req.head, &forwarding, body)?;
        if let Some(protocol) = upgrade {
            let value = HeaderValue::from_bytes(protocol)
                .map_err(|_| EdgeError::BadRequest(edgeward_errors::BadRequest::HeaderValue))?;
            request.headers_mut().insert(UPGRADE, value);
            request
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        }
        adjust(&mut request);
        crate::traffic::transform_request(zone, req, &mut request);
        Ok(request)
    };
    let request = build(body)?;
    // Only a bodiless request can be sent again (the cluster decides whether it may be).
    let bodiless = http_body::Body::is_end_stream(request.body());
    let replay = || {
        if bodiless {
            build(UpstreamBody::empty()).ok()
        } else {
            None
        }
    };
    let mut ip_octets = [0u8; 16];
    let key = balancing_key(&zone.upstream.balance, req, &mut ip_octets);
    let cluster = &edge.zone_runtime(routed.zone).cluster;
    let response = cluster
        .send(request, key, replay)
        .await
        .map_err(|e| e.to_edge_error())?;
    origin_reply(response, edge.upstream().response_timeout, upgrade.is_some())
}

/// The bytes a consistent-hash zone balances on (none for the other policies).
fn balancing_key<'a>(
    balance: &Balance,
    req: &'a RequestCtx<'_>,
    ip_octets: &'a mut [u8; 16],
) -> Option<&'a [u8]> {
    let Balance::ConsistentHash(key) = balance else {
        return None;
    };
    match key {
        HashKey::ClientIp => {
            let n = match req.client_ip {
                std::net::IpAddr::V4(v4) => {
                    ip_octets[..4].copy_from_slice(&v4.octets());
                    4
                }
                std::net::IpAddr::V6(v6) => {
                    ip_octets.copy_from_slice(&v6.octets());
                    16
                }
            };
            Some(&ip_octets[..n])
        }
        HashKey::Header(name) => Some(req.head.header(name).unwrap_or(b"")),
        HashKey::Cookie(name) => {
            let cookies = req.head.header("cookie").unwrap_or(b"");
            Some(cookie_value(cookies, name.as_bytes()))
        }
    }
}

/// The value of cookie `name` in a `Cookie` header (empty when absent).
fn cookie_value<'c>(header: &'c [u8], name: &[u8]) -> &'c [u8] {
    header
        .split(|&b| b == b';')
        .filter_map(|pair| {
            let pair = edgeward_http::trim_ows(pair);
            let eq = pair.iter().position(|&b| b == b'=')?;
            Some((&pair[..eq], &pair[eq + 1..]))
        })
        .find(|(n, _)| *n == name)
        .map_or(&[][..], |(_, v)| v)
}

fn origin_reply(
    mut resp: http::Response<OriginBody>,
    idle_timeout: Duration,
    upgrade_asked: bool,
) -> Result<OriginReply, EdgeError> {
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    // A switch nobody asked for cannot be relayed: the client would not follow it.
    if switching && !upgrade_asked {
        return Err(EdgeError::BadGateway(OriginFault::InvalidResponse));
    }
    let upgrade = switching.then(|| hyper::upgrade::on(&mut resp));
    let (mut parts, body) = resp.into_parts();
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| Bytes::copy_from_slice(r.as_bytes()));
    let switched_to = switching.then(|| parts.headers.get(UPGRADE).cloned()).flatten();
    // The origin must switch to the protocol asked for (WebSocket), nothing else.
    if switching
        && !switched_to
            .as_ref()
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        return Err(EdgeError::BadGateway(OriginFault::InvalidResponse));
    }
    strip_response_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = switched_to {
        parts.headers.insert(UPGRADE, protocol);
    }
    Ok(OriginReply {
        status: parts.status,
        reason,
        headers: parts.headers,
        body: StreamBody::Origin(body),
        idle_timeout,
        upgrade,
    })
}

#[cfg(test)]
mod tests {
    use super::cookie_value;

    #[test]
    fn cookie_values_are_found_by_exact_name() {
        assert_eq!(cookie_value(b"a=1; sid=xyz; b=2", b"sid"), b"xyz");
        assert_eq!(cookie_value(b"sidx=1", b"sid"), b"");
        assert_eq!(cookie_value(b"", b"sid"), b"");
    }
}
