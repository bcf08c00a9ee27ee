//! The access log: one structured `tracing` event per request, under the
//! target `edgeward::access`.
//!
//! Owns which fields a request's line carries. A client that leaves before the
//! response head is written is logged with status 499 (nginx's "client closed
//! request"), which no client ever receives.

use std::net::SocketAddr;
use std::time::Instant;

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
    /// Status sent to the client (or 499).
    pub status: u16,
    zone: Option<String>,
    /// The origin's status, when the origin answered.
    pub origin_status: Option<u16>,
    /// The edge error answered, if any.
    pub error: Option<EdgeError>,
    body_bytes: u64,
    client_closed: bool,
    /// Whether the access log is on: when off, no request facts are copied.
    enabled: bool,
}

impl AccessRecord {
    /// A record for a request whose head started arriving at `started`.
    pub fn new(peer: SocketAddr, request_id: RequestId, started: Instant) -> Self {
        AccessRecord {
            peer,
            request_id,
            started,
            method: String::new(),
            host: String::new(),
            path: String::new(),
            status: 0,
            zone: None,
            origin_status: None,
            error: None,
            body_bytes: 0,
            client_closed: false,
            enabled: tracing::enabled!(target: "edgeward::access", tracing::Level::INFO),
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
            (Some(e), _, _) => source_name(e.source()),
            (None, _, _) if self.origin_status.is_some() => "origin",
            _ => "edge",
        }
    }

    /// Writes the log line.
    pub fn emit(self) {
        if !self.enabled {
            return;
        }
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: "edgeward::access",
            request_id = %self.request_id,
            client = %self.peer.ip(),
            method = %self.method,
            host = %self.host,
            path = %self.path,
            zone = self.zone.as_deref().unwrap_or("-"),
            status = self.status,
            origin_status = self.origin_status,
            source = self.source(),
            error_code = self.error.as_ref().map(EdgeError::code),
            bytes_out = self.body_bytes,
            duration_ms = format_args!("{duration_ms:.3}"),
        );
    }
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
