//! Every way asking an origin can fail, as data, and its catalog error.
//!
//! Owns the classification of connect, TLS and exchange failures (from `io::Error`,
//! `rustls::Error` and `hyper::Error`) and the mapping onto `EdgeError`. It does not render
//! anything or decide about retries (the cluster does).

use std::error::Error as _;
use std::fmt;
use std::io;

use edgeward_errors::{EdgeError, OriginFault};

/// Why a request got no response from an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The origin's host name did not resolve.
    Dns {
        /// The name that failed.
        host: String,
    },
    /// The origin refused the connection (or its Unix socket is missing).
    ConnectRefused,
    /// Connecting failed otherwise (unreachable network, permission…).
    ConnectFailed(io::ErrorKind),
    /// Connecting took longer than `connect_timeout`.
    ConnectTimeout,
    /// The TLS handshake failed (protocol, alert, client certificate refused, timeout).
    TlsHandshake,
    /// The origin's certificate is invalid (unknown issuer, wrong name, expired…).
    InvalidCertificate,
    /// The connection was closed or reset before a complete response head.
    Reset,
    /// The response head was not valid HTTP.
    InvalidResponse,
    /// The response head had more fields or bytes than the configured limits.
    ResponseHeadTooLarge,
    /// No response head within `response_timeout` of the request body's end.
    ResponseTimeout,
    /// Every origin of the zone is marked down.
    NoHealthyOrigin,
    /// The origin's connection cap stayed full for `queue_timeout`.
    QueueTimeout,
    /// The client's request body failed while it was being sent.
    RequestBodyAborted,
}

impl UpstreamError {
    /// The catalog error answered to the client: each fault its own kind (Cloudflare's
    /// 520–526 family where the meaning matches).
    pub fn to_edge_error(&self) -> EdgeError {
        let fault = match self {
            UpstreamError::Dns { host } => {
                return EdgeError::DnsResolution {
                    origin_host: host.clone(),
                }
            }
            UpstreamError::ConnectRefused | UpstreamError::ConnectFailed(_) => OriginFault::Refused,
            UpstreamError::NoHealthyOrigin => OriginFault::NoHealthyOrigin,
            UpstreamError::ConnectTimeout => OriginFault::ConnectTimeout,
            UpstreamError::ResponseTimeout => OriginFault::ResponseTimeout,
            UpstreamError::QueueTimeout => OriginFault::ConnectionLimit,
            UpstreamError::TlsHandshake => OriginFault::TlsHandshake,
            UpstreamError::InvalidCertificate => OriginFault::InvalidCertificate,
            UpstreamError::Reset | UpstreamError::RequestBodyAborted => OriginFault::Reset,
            UpstreamError::InvalidResponse | UpstreamError::ResponseHeadTooLarge => {
                OriginFault::InvalidResponse
            }
        };
        EdgeError::BadGateway(fault)
    }

    /// Whether this failure counts against the origin's passive health.
    pub(crate) fn is_origin_failure(&self) -> bool {
        matches!(
            self,
            UpstreamError::ConnectRefused
                | UpstreamError::ConnectFailed(_)
                | UpstreamError::ConnectTimeout
                | UpstreamError::TlsHandshake
                | UpstreamError::ResponseTimeout
        )
    }

    /// A connect error (TCP or Unix).
    pub(crate) fn from_connect(e: &io::Error) -> UpstreamError {
        match e.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => UpstreamError::ConnectRefused,
            io::ErrorKind::TimedOut => UpstreamError::ConnectTimeout,
            kind => UpstreamError::ConnectFailed(kind),
        }
    }

    /// A TLS handshake error as tokio-rustls reports it.
    pub(crate) fn from_handshake(e: &io::Error) -> UpstreamError {
        match rustls_error(e) {
            Some(rustls::Error::InvalidCertificate(_)) => UpstreamError::InvalidCertificate,
            _ => UpstreamError::TlsHandshake,
        }
    }

    /// A failed exchange on an established connection.
    pub(crate) fn from_hyper(e: &hyper::Error) -> UpstreamError {
        if e.is_parse_too_large() {
            return UpstreamError::ResponseHeadTooLarge;
        }
        if e.is_parse() || e.is_parse_status() {
            return UpstreamError::InvalidResponse;
        }
        if e.is_user() {
            return UpstreamError::RequestBodyAborted;
        }
        // TLS 1.3 finishes the client's handshake before the origin judges its certificate:
        // a refused client certificate shows up as an alert on the first read.
        let mut source = e.source();
        while let Some(inner) = source {
            if let Some(io) = inner.downcast_ref::<io::Error>() {
                if rustls_error(io).is_some() {
                    return UpstreamError::TlsHandshake;
                }
            }
            if inner.downcast_ref::<rustls::Error>().is_some() {
                return UpstreamError::TlsHandshake;
            }
            source = inner.source();
        }
        UpstreamError::Reset
    }
}

fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Dns { host } => write!(f, "origin host `{host}` did not resolve"),
            UpstreamError::ConnectRefused => f.write_str("origin refused the connection"),
            UpstreamError::ConnectFailed(kind) => write!(f, "connecting to the origin failed: {kind}"),
            UpstreamError::ConnectTimeout => f.write_str("connecting to the origin timed out"),
            UpstreamError::TlsHandshake => f.write_str("TLS handshake with the origin failed"),
            UpstreamError::InvalidCertificate => f.write_str("the origin's certificate is invalid"),
            UpstreamError::Reset => f.write_str("origin closed the connection before a response"),
            UpstreamError::InvalidResponse => f.write_str("origin sent an invalid response head"),
            UpstreamError::ResponseHeadTooLarge => f.write_str("origin response head exceeds the limits"),
            UpstreamError::ResponseTimeout => f.write_str("origin did not answer in time"),
            UpstreamError::NoHealthyOrigin => f.write_str("no healthy origin"),
            UpstreamError::QueueTimeout => f.write_str("origin connection cap full for too long"),
            UpstreamError::RequestBodyAborted => f.write_str("the client's request body failed"),
        }
    }
}

impl std::error::Error for UpstreamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_an_origin_status() {
        let all = [
            UpstreamError::Dns { host: "x".into() },
            UpstreamError::ConnectRefused,
            UpstreamError::ConnectFailed(io::ErrorKind::PermissionDenied),
            UpstreamError::ConnectTimeout,
            UpstreamError::TlsHandshake,
            UpstreamError::InvalidCertificate,
            UpstreamError::Reset,
            UpstreamError::InvalidResponse,
            UpstreamError::ResponseHeadTooLarge,
            UpstreamError::ResponseTimeout,
            UpstreamError::NoHealthyOrigin,
            UpstreamError::QueueTimeout,
            UpstreamError::RequestBodyAborted,
        ];
        for e in all {
            let status = e.to_edge_error().status();
            assert!(matches!(status, 409 | 502 | 503 | 504), "{e}: {status}");
        }
        assert_eq!(
            UpstreamError::Dns { host: "x".into() }.to_edge_error().code(),
            1001
        );
    }

    #[test]
    fn connect_errors_are_classified() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            UpstreamError::from_connect(&refused),
            UpstreamError::ConnectRefused
        );
        let cert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            UpstreamError::from_handshake(&cert),
            UpstreamError::InvalidCertificate
        );
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert_eq!(UpstreamError::from_handshake(&alert), UpstreamError::TlsHandshake);
    }
}
