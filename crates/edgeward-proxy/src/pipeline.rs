//! The request pipeline: every phase a request goes through, top to bottom, whatever
//! HTTP version carried it. [`serve`] is a request's whole life; [`decide`] the phases
//! that may wait on the body or the origin.
//!
//! 1. transport (`route::check_transport`): on TLS, a Host the served certificate does not
//!    cover is refused (403) before anything else;
//! 2. route (`route::route`): the Host picks a zone (unknown host: 421) and its limits;
//! 3. admit (`route::admit`): the zone's head limits (414, 431), body policy (411, 413),
//!    CONNECT, ambiguous Content-Type — before any body byte is read;
//! 4. edge endpoints (`challenge`, `endpoints`): `/.edgeward/…` answer themselves; then
//!    request rules (`traffic::redirect`): Always Use HTTPS, redirect rules, bulk lists;
//! 5. protections (`protect::run`): IP rules, custom rules, rate limits, WAF, browser
//!    check, Basic auth — each may end the request or ask for a challenge;
//! 6. upgrades (`upgrade_allowed`): a protocol switch the zone does not allow is refused;
//! 7. cache and upstream (`cache::fetch`, `origin::forward`): a cache hit (with the edge's
//!    own 304/412/206/416), else the origin's response (or 409 / 502 / 503 / 504), stored;
//! 8. response stages: rate limits that count by status, a zone's own page for origin 404s;
//! 9. render (`Response::from_*`, custom error rules, response transforms and HSTS in
//!    `traffic`, `response::stamp`) and write (the session);
//! 10. tunnel (`Session::tunnel`) after a 101, then log (`AccessRecord::emit`).
//!
//! Each phase ends the request by returning an `EdgeError` (or a challenge). Reading and
//! writing bytes belong to the sessions (`session::h1`, `session::h2`); this module decides.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use edgeward_cache::EDGEWARD_CACHE_STATUS;

use edgeward_errors::{EdgeError, RenderContext};
use edgeward_http::RequestHead;
use edgeward_waf::CHALLENGE_PATH;
use http::StatusCode;

use crate::access_log::AccessRecord;
use crate::cache::{self, Fetched};
use crate::edge::Edge;
use crate::protect::{self, Stop};
use crate::request::RequestCtx;
use crate::request_body::UpstreamBody;
use crate::request_id::RequestId;
use crate::response::{self, Outcome, Reply, Response};
use crate::route::{self, Routed};
use crate::session::{Driven, Session};
use crate::{challenge, endpoints, origin, real_ip, traffic};

/// One request's whole life on `session`, from its parsed head to its log line.
pub async fn serve<S: Session>(edge: &Arc<Edge>, session: &mut S, head: RequestHead, started: Instant) {
    let request_id = RequestId::next();
    let telemetry = &edge.telemetry;
    let peer = session.peer();
    let (client_ip, via_trusted_proxy) = real_ip::client_ip(&edge.config.real_ip, peer.ip(), &head);
    let mut record = AccessRecord::new(SocketAddr::new(client_ip, peer.port()), request_id, started);
    record.request(&head);
    record.protocol = session.protocol();
    // A clone (an Arc at most): the session is busy with the body while stages read it.
    let transport = session.transport().clone();
    let req = RequestCtx {
        head: &head,
        client_ip,
        peer_ip: peer.ip(),
        via_trusted_proxy,
        request_id: request_id.as_str(),
        transport: &transport,
        protocol: session.protocol(),
    };

    // 1–3: transport, route, admit — from the head alone.
    let routed = route::route(edge, &head);
    let admitted = route::check_transport(req.transport, &head)
        .and(routed.clone())
        .and_then(|r| route::admit(edge, r, &req).map(|()| r));
    let routed = routed.ok();
    let zone = routed.map(|r| edge.zone(r.zone));
    if let Some(z) = zone {
        record.zone(&z.name);
    }
    let body = session.start_body(&head, route::limits_for(edge, routed));

    // 4–8: endpoints, protections, upstream, response stages — while the body flows.
    let outcome = match admitted {
        Err(error) => Outcome::edge(error),
        Ok(routed) => match session.drive(decide(edge, routed, &req, body)).await {
            Driven::Done(outcome) => outcome,
            Driven::Fault(error) => Outcome::edge(error),
            Driven::ClientGone => {
                record.bytes_in = session.body_received();
                record.client_closed(None).emit(telemetry);
                return;
            }
        },
    };
    record.bytes_in = session.body_received();
    record.origin_status = outcome.origin_status;
    record.origin_duration = outcome.origin_duration;
    record.rule_id = outcome.rule_id;
    record.source = outcome.source;
    record.cache_status = outcome.cache_status;

    // 9: render and write.
    let ctx = RenderContext {
        client_ip: Some(client_ip),
        host: Some(head.host()),
        accept: head.header("accept"),
        template: None,
        zone: zone.map(|z| z.name.as_str()),
        ..RenderContext::new(request_id.as_str())
    };
    let (mut response, from_origin) = match outcome.reply {
        Reply::Error(error) => {
            let custom = zone.and_then(|z| traffic::custom_error(z, &req, Some(&error), error.status()));
            let response = custom.unwrap_or_else(|| {
                let template = zone.and_then(|z| z.error_pages.for_status(error.status()));
                Response::from_error(&error, &RenderContext { template, ..ctx })
            });
            record.error = Some(error);
            (response, false)
        }
        Reply::Local(local) => (Response::from_local(local, request_id.as_str()), false),
        Reply::Origin(origin) => {
            let status = origin.status.as_u16();
            match zone.and_then(|z| traffic::custom_error(z, &req, None, status)) {
                // The origin's body is dropped unread: its connection is not reused.
                Some(custom) => (custom, false),
                None => (Response::from_origin(origin), true),
            }
        }
    };
    if let Some(z) = zone {
        traffic::finish_response(z, &req, &mut response.head);
    }
    response::stamp(
        &mut response.head,
        request_id.as_str(),
        session.date(),
        from_origin,
    );
    let upgrade = response.upgrade.take();
    let status = response.head.status.as_u16();
    match session.respond(response, head.is_head()).await {
        Ok(written) => record.written(&written),
        Err(_) => {
            record.client_closed(None).emit(telemetry);
            return;
        }
    }

    // 10: tunnel after a protocol switch, then log.
    if let Some(upgrade) = upgrade.filter(|_| status == 101) {
        let idle = zone.map_or(edgeward_config::DEFAULT_UPGRADE_IDLE_TIMEOUT, |z| {
            z.upgrade_idle_timeout
        });
        let _open = telemetry.metrics.stream_opened(edgeward_analytics::Protocol::Ws);
        let tunnelled = session.tunnel(upgrade, idle).await;
        record.tunnelled(tunnelled);
    }
    record.emit(telemetry);
}

/// Answers a request whose head the session could not accept (a framing fault, a
/// timeout): rendered, written and logged like any other; the session then closes.
pub async fn refuse<S: Session>(
    edge: &Edge,
    session: &mut S,
    error: EdgeError,
    started: Instant,
    head_only: bool,
    accept: Option<&[u8]>,
) {
    let request_id = RequestId::next();
    let telemetry = &edge.telemetry;
    let mut record = AccessRecord::new(session.peer(), request_id, started);
    record.protocol = session.protocol();
    let ctx = RenderContext {
        client_ip: Some(session.peer().ip()),
        accept,
        ..RenderContext::new(request_id.as_str())
    };
    let mut response = Response::from_error(&error, &ctx);
    response.head.close = true;
    response::stamp(&mut response.head, request_id.as_str(), session.date(), false);
    record.error = Some(error);
    match session.respond(response, head_only).await {
        Ok(written) => record.written(&written),
        Err(_) => record = record.client_closed(None),
    }
    record.emit(telemetry);
}

/// Phases 4–8 for an admitted request: everything that may wait on the body or the origin.
pub async fn decide(
    edge: &Arc<Edge>,
    routed: Routed,
    req: &RequestCtx<'_>,
    mut body: UpstreamBody,
) -> Outcome {
    let zone = edge.zone(routed.zone);
    let shields = &edge.shields;

    // 4: the edge's own endpoints.
    if req.head.path() == CHALLENGE_PATH {
        return challenge::solve(shields, req, body).await;
    }
    if let Some(reply) = endpoints::serve(edge, zone, req) {
        return Outcome::of(reply);
    }

    // 4b: request rules: Always Use HTTPS, redirect rules, bulk redirect lists.
    if let Some(reply) = traffic::redirect(edge, zone, req) {
        return Outcome::of(reply);
    }

    // 5: protections.
    let protections = &edge.zone_runtime(routed.zone).protections;
    let passed = match protect::run(shields, zone, protections, req, &mut body).await {
        Ok(passed) => passed,
        Err(Stop::Error(error)) => return Outcome::edge(error),
        Err(Stop::Challenge { rule_id, source }) => {
            return Outcome {
                rule_id: Some(rule_id),
                source: Some(source),
                ..Outcome::of(challenge::interstitial(shields, req))
            };
        }
    };

    // 6: protocol switches the zone allows.
    if let (Some(protocol), false) = (req.upgrade(), zone.upgrades) {
        let error = EdgeError::UpgradeRefused {
            protocol: String::from_utf8_lossy(protocol).into_owned(),
        };
        return Outcome {
            rule_id: passed.logged_rule,
            ..Outcome::edge(error)
        };
    }

    // 7: the cache (a hit answers here), else the origin.
    let asked = Instant::now();
    let fetched = match &edge.cache {
        Some(cache) => cache::fetch(edge, cache, routed, req, body).await,
        None => origin::forward(edge, routed, req, body)
            .await
            .map(|reply| Fetched {
                reply,
                status: None,
                asked_origin: true,
            }),
    };
    let origin_duration = Some(asked.elapsed());

    // 8: response stages.
    let status = match &fetched {
        Ok(fetched) => fetched.reply.status.as_u16(),
        Err(error) => error.status(),
    };
    protect::count_response(shields, zone, &passed, status).await;
    let Fetched {
        reply: mut origin,
        status: cache_status,
        asked_origin,
    } = match fetched {
        Ok(fetched) => fetched,
        Err(error) => {
            return Outcome {
                rule_id: passed.logged_rule,
                origin_duration,
                ..Outcome::of(Reply::Error(error))
            };
        }
    };
    if let Some(cache_status) = cache_status {
        if !origin.headers.contains_key(&EDGEWARD_CACHE_STATUS) {
            origin.headers.insert(
                EDGEWARD_CACHE_STATUS.clone(),
                http::HeaderValue::from_static(cache_status.as_str()),
            );
        }
    }
    let intercepted = origin.status == StatusCode::NOT_FOUND
        && zone.intercept_origin_404
        && zone.error_pages.for_status(404).is_some();
    let reply = if intercepted {
        Reply::Error(EdgeError::NotFound)
    } else {
        Reply::Origin(origin)
    };
    Outcome {
        reply,
        origin_status: asked_origin.then_some(status),
        rule_id: passed.logged_rule,
        source: None,
        origin_duration: asked_origin.then_some(origin_duration).flatten(),
        cache_status,
    }
}

/// Logs a client that closed in the middle of a request head (499, nothing to answer).
pub fn closed_mid_head(edge: &Edge, peer: std::net::SocketAddr, started: Instant) {
    let telemetry = &edge.telemetry;
    AccessRecord::new(peer, RequestId::next(), started)
        .client_closed(None)
        .emit(telemetry);
}
