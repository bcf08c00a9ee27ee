//! The upstream phase: the forwarded request goes to the zone's cluster of origins, and
//! the origin's response head comes back with its hop-by-hop fields removed. A protocol
//! switch (`Upgrade: websocket`) is forwarded when the zone allows it, and the origin's
//! 101 keeps its side of the connection.
//!
//! Owns what the proxy hands the cluster: the forwarded request, a way to rebuild it for a
//! retry (bodiless requests only), and the balancing key. Building the forwarded head is
//! `forward`'s; choosing the origin, pools, health and retry rules (RFC 9112 §9.3.1) are
//! `edgeward_upstream`'s.

use std::time::Duration;

use bytes::Bytes;
use edgeward_config::{Balance, HashKey, HostPattern};
use edgeward_errors::{EdgeError, OriginFault};
use http::header::{HeaderValue, CONNECTION, UPGRADE};
use http::StatusCode;

use crate::edge::Edge;
use crate::forward::{strip_response_hop_by_hop, upstream_request, Forwarding};
use crate::request::RequestCtx;
use crate::request_body::UpstreamBody;
use crate::response::OriginReply;
use crate::route::Routed;

/// The origin's response body: streamed, the connection back in its pool at the end.
pub type OriginBody = edgeward_upstream::OriginBody<UpstreamBody>;

/// Forwards the request to the zone's origins; the origin's response head, or the catalog
/// error for why there is none (409 DNS, 502, 503, 504).
pub async fn forward(
    edge: &Edge,
    routed: Routed,
    req: &RequestCtx<'_>,
    body: UpstreamBody,
) -> Result<OriginReply, EdgeError> {
    let zone = edge.zone(routed.zone);
    let fallback_host = zone.hosts.iter().find_map(|h| match h {
        HostPattern::Exact(name) => Some(name.as_str()),
        HostPattern::Wildcard(_) => None,
    });
    let forwarding = Forwarding {
        client_ip: req.client_ip,
        request_id: req.request_id,
        fallback_host,
        tls: req.transport.tls,
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
    strip_response_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = switched_to {
        parts.headers.insert(UPGRADE, protocol);
    }
    Ok(OriginReply {
        status: parts.status,
        reason,
        headers: parts.headers,
        body,
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
