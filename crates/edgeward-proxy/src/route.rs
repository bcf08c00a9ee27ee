//! The first three phases, decided from the request head alone, before any body byte
//! is read: the transport check (TLS host coverage), routing to a zone, and admission
//! (the zone's head and body limits, methods a reverse proxy cannot relay, ambiguous
//! fields).
//!
//! Owns those decisions; it reads nothing from the network and writes nothing.

use edgeward_errors::{BadRequest, EdgeError, ForbiddenReason, MethodList};
use edgeward_http::{check_body_policy, check_head_limits, Limits, RequestHead};

use crate::edge::Edge;
use crate::request::{bare_host, host_without_port, RequestCtx};
use crate::tls::Transport;

/// The rule id a request for a host without a certificate is refused under.
pub const TLS_HOST_RULE_ID: &str = "tls-host-not-covered";

/// The methods the edge forwards (the `Allow` of a refused CONNECT).
const PROXIED_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// A request that has been given a zone.
#[derive(Debug, Clone, Copy)]
pub struct Routed {
    /// Index of the zone.
    pub zone: usize,
}

/// Phase 1: on TLS, the request's host must be covered by the certificate served.
pub fn check_transport(transport: &Transport, head: &RequestHead) -> Result<(), EdgeError> {
    if transport.covers(host_without_port(head.host())) {
        return Ok(());
    }
    Err(EdgeError::Forbidden {
        reason: ForbiddenReason::TlsHostNotCovered,
        rule_id: TLS_HOST_RULE_ID.to_owned(),
    })
}

/// Phase 2: the zone for the request's host.
pub fn route(edge: &Edge, head: &RequestHead) -> Result<Routed, EdgeError> {
    let host = bare_host(head.host());
    let mut lower = [0u8; 256];
    let zone = match host.len() {
        // No Host at all (HTTP/1.0): the configured default zone, if any (RFC 9112 §3.3).
        0 => edge.config.default_zone,
        n if n <= lower.len() => {
            lower[..n].copy_from_slice(host.as_bytes());
            lower[..n].make_ascii_lowercase();
            std::str::from_utf8(&lower[..n])
                .ok()
                .and_then(|h| edge.lookup_zone(h))
        }
        // Longer than any DNS name: no zone serves it.
        _ => None,
    };
    match zone {
        Some(zone) => Ok(Routed { zone }),
        None => Err(EdgeError::UnknownHost {
            host: head.host().to_owned(),
        }),
    }
}

/// Phase 3: what the zone accepts, decided from the head alone.
pub fn admit(edge: &Edge, routed: Routed, req: &RequestCtx<'_>) -> Result<(), EdgeError> {
    let head = req.head;
    // A reverse proxy does not tunnel: a CONNECT forwarded to an origin would leave the
    // client and the edge disagreeing about what follows on the connection (this includes
    // HTTP/2's extended CONNECT: RFC 8441 is not offered).
    if head.method() == "CONNECT" {
        return Err(match MethodList::new(PROXIED_METHODS) {
            Some(allow) => EdgeError::MethodNotAllowed { allow },
            None => EdgeError::Internal,
        });
    }
    // RFC 9110 §8.3 allows one Content-Type: with several different ones, the edge's
    // inspection and the origin could read the body as different types.
    let mut content_types = head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
        .map(|(_, v)| v);
    if let Some(first) = content_types.next() {
        if content_types.any(|other| other != first) {
            return Err(EdgeError::BadRequest(BadRequest::AmbiguousContentType));
        }
    }
    let limits = &edge.zone(routed.zone).limits;
    check_head_limits(head, limits)?;
    check_body_policy(head, limits)
}

/// The limits that apply to a request once routed (or before, when routing failed).
pub fn limits_for(edge: &Edge, routed: Option<Routed>) -> &Limits {
    routed.map_or(&edge.limits, |r| &edge.zone(r.zone).limits)
}
