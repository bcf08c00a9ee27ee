//! The access log and the analytics event: one record per request, written as
//! a structured `tracing` event (target `edgeward::access`) and, when analytics
//! is on, recorded as a borrowed `RoutineRequest` (routine successes, counted in
//! rollups) or a full `Event` (everything else).
//!
//! Owns which facts a request's record carries. The record borrows the request
//! head instead of copying its strings: only a request whose event is kept in
//! full (or that is logged) pays for text. A client that leaves before the
//! response head is written is recorded with status 499 (nginx's "client closed
//! request"), which no client ever receives. Free-text fields (method, host, path, query,
//! User-Agent, Referer) are written quoted and escaped, so a value cannot forge fields.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use edgeward_analytics::{
    is_routine, CacheStatus as AnalyticsCacheStatus, Event, Protocol as AnalyticsProtocol, RoutineRequest,
    Source,
};

use edgeward_errors::{EdgeError, ErrorSource};
use edgeward_http::RequestHead;

use crate::request::Protocol;
use crate::request_id::RequestId;
use crate::session::{Tunnelled, Written};
use crate::telemetry::Telemetry;

/// The zone the log shows for requests no zone serves (analytics and metrics record an
/// empty zone, which the metrics name `_unmatched`).
pub const UNMATCHED_ZONE: &str = "-";

/// Logged for a client that closed before the response head was written.
pub const CLIENT_CLOSED: u16 = 499;

/// The facts about one request, filled in as it goes; borrows the head and zone for `'h`.
pub struct AccessRecord<'h> {
    peer: SocketAddr,
    request_id: RequestId,
    started: Instant,
    /// The request head, when one was parsed and anything consumes the record.
    head: Option<&'h RequestHead>,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// The rule that decided or was logged.
    pub rule_id: Option<String>,
    /// The analytics source when not implied by the error (a challenge).
    pub source: Option<ErrorSource>,
    /// The protocol the request came over.
    pub protocol: Protocol,
    /// What went through the tunnel after a protocol switch.
    pub tunnel: Option<Tunnelled>,
    /// How the cache took part.
    pub cache_status: Option<edgeward_cache::CacheStatus>,
    /// Status sent to the client (or 499).
    pub status: u16,
    zone: Option<&'h str>,
    /// The origin's status, when the origin answered.
    pub origin_status: Option<u16>,
    /// How long the origin took to send its response head, when asked.
    pub origin_duration: Option<std::time::Duration>,
    /// The edge error answered, if any.
    pub error: Option<EdgeError>,
    body_bytes: u64,
    client_closed: bool,
    /// Whether the access log is on.
    log: bool,
}

impl<'h> AccessRecord<'h> {
    /// A record for a request whose head started arriving at `started`.
    pub fn new(peer: SocketAddr, request_id: RequestId, started: Instant) -> Self {
        let log = tracing::enabled!(target: "edgeward::access", tracing::Level::INFO);
        AccessRecord {
            peer,
            request_id,
            started,
            head: None,
            bytes_in: 0,
            rule_id: None,
            source: None,
            protocol: Protocol::Http11,
            tunnel: None,
            cache_status: None,
            status: 0,
            zone: None,
            origin_status: None,
            origin_duration: None,
            error: None,
            body_bytes: 0,
            client_closed: false,
            log,
        }
    }

    /// Records the request line and header facts (by reference: nothing is copied here).
    pub fn request(&mut self, head: &'h RequestHead) {
        self.head = Some(head);
    }

    /// Records the zone the request was routed to.
    pub fn zone(&mut self, name: &'h str) {
        self.zone = Some(name);
    }

    /// Records what was written.
    pub fn written(&mut self, w: &Written) {
        self.status = w.status;
        self.body_bytes = w.body_bytes;
    }

    /// Records a tunnel's bytes and duration (after a 101).
    pub fn tunnelled(&mut self, tunnelled: Tunnelled) {
        self.bytes_in += tunnelled.bytes_in;
        self.body_bytes += tunnelled.bytes_out;
        self.tunnel = Some(tunnelled);
    }

    /// Marks the client as gone; `status_sent` is the status if the head had been written.
    pub fn client_closed(mut self, status_sent: Option<u16>) -> Self {
        self.client_closed = true;
        self.status = match status_sent {
            Some(s) if s != 0 => s,
            _ => CLIENT_CLOSED,
        };
        self
    }

    fn source(&self) -> Source {
        match (&self.error, self.client_closed, self.status) {
            (_, true, CLIENT_CLOSED) => Source::ClientClosed,
            _ if self.source.is_some() => self.source.map_or(Source::Edge, source_of),
            (Some(EdgeError::DnsResolution { .. }), _, _) => Source::Dns,
            (Some(e), _, _) => source_of(e.source()),
            (None, _, _) if self.origin_status.is_some() => Source::Origin,
            _ => Source::Edge,
        }
    }

    /// The rule that decided or was logged, or the one the error names.
    fn rule(&self) -> Option<&str> {
        self.rule_id
            .as_deref()
            .or_else(|| self.error.as_ref().and_then(EdgeError::rule_id))
    }

    fn method(&self) -> &str {
        self.head.map_or("", RequestHead::method)
    }

    fn host(&self) -> &str {
        self.head.map_or("", RequestHead::host)
    }

    fn path(&self) -> &str {
        self.head.map_or("", RequestHead::path)
    }

    fn query(&self) -> &str {
        self.head
            .and_then(|h| h.path_and_query().split_once('?'))
            .map_or("", |(_, q)| q)
    }

    /// A header as text (lossy), empty when absent.
    fn header(&self, name: &str) -> std::borrow::Cow<'h, str> {
        match self.head.and_then(|h| h.header(name)) {
            Some(v) => String::from_utf8_lossy(v),
            None => std::borrow::Cow::Borrowed(""),
        }
    }

    /// Writes the log line, counts the request in the metrics and records its analytics event.
    pub fn emit(self, telemetry: &Telemetry) {
        let elapsed = self.started.elapsed();
        let source = self.source();
        if self.log {
            self.log(source, elapsed);
        }
        // The event's time is when the request arrived, not when its response ended.
        let time_ms = SystemTime::now()
            .checked_sub(elapsed)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        let origin_duration_us = self.origin_duration.map(|d| d.as_micros() as u64);
        let duration_us = elapsed.as_micros() as u64;
        let analytics = telemetry.analytics.as_ref();
        if is_routine(source, self.rule().is_some(), self.status) && self.tunnel.is_none() {
            let routine = RoutineRequest {
                time_ms,
                zone: self.zone.unwrap_or_default(),
                status: self.status,
                bytes_in: self.bytes_in,
                bytes_out: self.body_bytes,
                duration_us,
                origin_duration_us,
            };
            telemetry.metrics.observe_routine(&routine);
            if let Some(analytics) = analytics {
                analytics.record_routine(&routine);
            }
            return;
        }
        let event = Event {
            time_ms,
            zone: self.zone.unwrap_or_default().to_owned(),
            method: self.method().to_owned(),
            host: self.host().to_owned(),
            path: self.path().to_owned(),
            query: self.query().to_owned(),
            status: self.status,
            origin_status: self.origin_status,
            source,
            rule_id: self.rule().map(str::to_owned),
            request_id: self.request_id.as_str().to_owned(),
            client_ip: client_ip_text(self.peer.ip()),
            user_agent: self.header("user-agent").into_owned(),
            referer: self.header("referer").into_owned(),
            bytes_in: self.bytes_in,
            bytes_out: self.body_bytes,
            duration_us,
            origin_duration_us,
            origin: None,
            protocol: Some(match (self.tunnel, self.protocol) {
                (Some(_), _) => AnalyticsProtocol::Ws,
                (None, Protocol::Http2) => AnalyticsProtocol::H2,
                (None, _) => AnalyticsProtocol::H1,
            }),
            cache_status: self.cache_status.map(analytics_cache_status),
            ws_bytes_in: self.tunnel.map(|t| t.bytes_in),
            ws_bytes_out: self.tunnel.map(|t| t.bytes_out),
            ws_duration_us: self.tunnel.map(|t| t.duration.as_micros() as u64),
            proxy_user: None,
        };
        telemetry.metrics.observe(&event);
        if let Some(analytics) = analytics {
            analytics.record(event);
        }
    }

    fn log(&self, source: Source, elapsed: std::time::Duration) {
        tracing::info!(
            target: "edgeward::access",
            request_id = %self.request_id,
            protocol = self.protocol.as_str(),
            client = %self.peer.ip(),
            method = self.method(),
            host = self.host(),
            path = self.path(),
            query = self.query(),
            zone = self.zone.unwrap_or(UNMATCHED_ZONE),
            status = self.status,
            origin_status = self.origin_status,
            source = source.as_str(),
            rule_id = self.rule_id.as_deref(),
            error_code = self.error.as_ref().map(EdgeError::code),
            bytes_in = self.bytes_in,
            bytes_out = self.body_bytes,
            duration_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0,
            tunnel_ms = self.tunnel.map(|t| t.duration.as_millis() as u64),
            cache = self.cache_status.map(|c| c.as_str()),
            user_agent = &*self.header("user-agent"),
            referer = &*self.header("referer"),
        );
    }
}

/// The analytics name of a cache status (UPDATING is stale content served while refreshing).
fn analytics_cache_status(status: edgeward_cache::CacheStatus) -> AnalyticsCacheStatus {
    use edgeward_cache::CacheStatus as C;
    match status {
        C::Hit => AnalyticsCacheStatus::Hit,
        C::Miss => AnalyticsCacheStatus::Miss,
        C::Expired => AnalyticsCacheStatus::Expired,
        C::Stale | C::Updating => AnalyticsCacheStatus::Stale,
        C::Revalidated => AnalyticsCacheStatus::Revalidated,
        C::Bypass => AnalyticsCacheStatus::Bypass,
        C::Dynamic => AnalyticsCacheStatus::Dynamic,
    }
}

/// The client address as text, without `Display`'s formatting machinery.
fn client_ip_text(ip: std::net::IpAddr) -> String {
    let mut text = String::with_capacity(15);
    crate::forward::write_ip(&mut text, ip);
    text
}

/// The analytics name of an error source.
pub fn source_name(source: ErrorSource) -> &'static str {
    source_of(source).as_str()
}

/// The analytics source of an error source.
fn source_of(source: ErrorSource) -> Source {
    match source {
        ErrorSource::Protocol => Source::Protocol,
        ErrorSource::Origin => Source::Origin,
        ErrorSource::Edge => Source::Edge,
        ErrorSource::Rule => Source::Rule,
        ErrorSource::Waf => Source::Waf,
        ErrorSource::IpRule => Source::IpRule,
        ErrorSource::RateLimit => Source::RateLimit,
        ErrorSource::BrowserCheck => Source::BrowserCheck,
        ErrorSource::Auth => Source::Auth,
        ErrorSource::Legal => Source::Legal,
        ErrorSource::Challenge => Source::Challenge,
    }
}
