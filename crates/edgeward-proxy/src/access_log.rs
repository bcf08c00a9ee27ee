//! The access log and the analytics event: one record per request, written as
//! a structured `tracing` event (target `edgeward::access`) and, when analytics
//! is on, queued as an `Event`.
//!
//! Owns which facts a request's record carries. A client that leaves before the
//! response head is written is recorded with status 499 (nginx's "client closed
//! request"), which no client ever receives.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use edgeward_analytics::{AnalyticsHandle, Event, Source};

use edgeward_errors::{EdgeError, ErrorSource};
use edgeward_http::RequestHead;

use crate::request_id::RequestId;
use crate::write::Written;

/// Logged for a client that closed before the response head was written.
pub const CLIENT_CLOSED: u16 = 499;

/// The facts about one request, filled in as it goes.
pub struct AccessRecord {
    peer: SocketAddr,
    request_id: RequestId,
    started: Instant,
    method: String,
    host: String,
    path: String,
    query: String,
    user_agent: String,
    referer: String,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// The rule that decided or was logged.
    pub rule_id: Option<String>,
    /// The analytics source when not implied by the error (a challenge).
    pub source: Option<&'static str>,
    /// Status sent to the client (or 499).
    pub status: u16,
    zone: Option<String>,
    /// The origin's status, when the origin answered.
    pub origin_status: Option<u16>,
    /// The edge error answered, if any.
    pub error: Option<EdgeError>,
    body_bytes: u64,
    client_closed: bool,
    /// Whether the access log is on.
    log: bool,
    /// Whether anything consumes the record (log or analytics): when not, no facts are copied.
    enabled: bool,
}

impl AccessRecord {
    /// A record for a request whose head started arriving at `started`.
    pub fn new(peer: SocketAddr, request_id: RequestId, started: Instant, analytics: bool) -> Self {
        let log = tracing::enabled!(target: "edgeward::access", tracing::Level::INFO);
        AccessRecord {
            peer,
            request_id,
            started,
            method: String::new(),
            host: String::new(),
            path: String::new(),
            query: String::new(),
            user_agent: String::new(),
            referer: String::new(),
            bytes_in: 0,
            rule_id: None,
            source: None,
            status: 0,
            zone: None,
            origin_status: None,
            error: None,
            body_bytes: 0,
            client_closed: false,
            log,
            enabled: log || analytics,
        }
    }

    /// Records the request line facts.
    pub fn request(&mut self, head: &RequestHead) {
        if !self.enabled {
            return;
        }
        self.method = head.method().to_owned();
        self.host = head.host().to_owned();
        self.path = head.path().to_owned();
        self.query = head
            .path_and_query()
            .split_once('?')
            .map_or("", |(_, q)| q)
            .to_owned();
        let text = |name: &str| head.header(name).map(|v| String::from_utf8_lossy(v).into_owned());
        self.user_agent = text("user-agent").unwrap_or_default();
        self.referer = text("referer").unwrap_or_default();
    }

    /// Records the zone the request was routed to.
    pub fn zone(&mut self, name: &str) {
        if self.enabled {
            self.zone = Some(name.to_owned());
        }
    }

    /// Records what was written.
    pub fn written(&mut self, w: &Written) {
        self.status = w.status;
        self.body_bytes = w.body_bytes;
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

    fn source(&self) -> &'static str {
        match (&self.error, self.client_closed, self.status) {
            (_, true, CLIENT_CLOSED) => "client_closed",
            _ if self.source.is_some() => self.source.unwrap_or("edge"),
            (Some(e), _, _) => source_name(e.source()),
            (None, _, _) if self.origin_status.is_some() => "origin",
            _ => "edge",
        }
    }

    /// Writes the log line and queues the analytics event.
    pub fn emit(self, analytics: Option<&AnalyticsHandle>) {
        if !self.enabled {
            return;
        }
        let elapsed = self.started.elapsed();
        let source = self.source();
        if self.log {
            tracing::info!(
                target: "edgeward::access",
                request_id = %self.request_id,
                client = %self.peer.ip(),
                method = %self.method,
                host = %self.host,
                path = %self.path,
                query = %self.query,
                zone = self.zone.as_deref().unwrap_or("-"),
                status = self.status,
                origin_status = self.origin_status,
                source,
                rule_id = self.rule_id.as_deref(),
                error_code = self.error.as_ref().map(EdgeError::code),
                bytes_in = self.bytes_in,
                bytes_out = self.body_bytes,
                duration_ms = format_args!("{:.3}", elapsed.as_secs_f64() * 1000.0),
                user_agent = %self.user_agent,
                referer = %self.referer,
            );
        }
        if let Some(analytics) = analytics {
            let rule_id = self
                .rule_id
                .or_else(|| self.error.as_ref().and_then(|e| e.rule_id().map(str::to_owned)));
            analytics.record(Event {
                time_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64),
                zone: self.zone.unwrap_or_default(),
                method: self.method,
                host: self.host,
                path: self.path,
                query: self.query,
                status: self.status,
                origin_status: self.origin_status,
                source: Source::from_name(source).unwrap_or(Source::Edge),
                rule_id,
                request_id: self.request_id.as_str().to_owned(),
                client_ip: client_ip_text(self.peer.ip()),
                user_agent: self.user_agent,
                referer: self.referer,
                bytes_in: self.bytes_in,
                bytes_out: self.body_bytes,
                duration_us: elapsed.as_micros() as u64,
                origin_duration_us: None,
            });
        }
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
    match source {
        ErrorSource::Protocol => "protocol",
        ErrorSource::Origin => "origin",
        ErrorSource::Edge => "edge",
        ErrorSource::Rule => "rule",
        ErrorSource::Waf => "waf",
        ErrorSource::IpRule => "ip_rule",
        ErrorSource::RateLimit => "rate_limit",
        ErrorSource::BrowserCheck => "browser_check",
        ErrorSource::Auth => "auth",
        ErrorSource::Legal => "legal",
        ErrorSource::Challenge => "challenge",
    }
}
