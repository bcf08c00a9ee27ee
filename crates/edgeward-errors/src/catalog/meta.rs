//! Each error's fixed metadata: HTTP status, stable error code, title and source.
//!
//! Owns the numbering scheme. It does not own the human explanation (`explain`),
//! the advice to clients (`advice`) or the headers a status requires (`headers`).
//!
//! Codes take Cloudflare's number where the meaning is the same (1001 DNS, 1003
//! direct IP access, 1004 host not configured, 1006 IP banned, 1009 country
//! banned, 1010 browser signature, 1012 access denied, 1015 rate limited, 1020
//! firewall rule, 1200 origin connection limit). edgeward's own codes sit where
//! Cloudflare uses none (it uses 1000–1042, 1101–1106 and 1200): the edge's
//! endpoints and negotiation 1300–1399, origin failures 1400–1499, request
//! faults 1500–1599 (one per [`BadRequest`] sub-fault), limits and timeouts
//! 1600–1699, access policy 1700–1799. The full table is `CODES.md` in this crate.

use super::{
    BadRequest, EdgeError, ErrorSource, ForbiddenReason, HeaderLimit, MediaHint, OriginFault, TimeoutPhase,
};

impl EdgeError {
    /// The HTTP status code sent to the client.
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::BadRequest(_) => 400,
            EdgeError::Unauthorized { .. } => 401,
            EdgeError::PaymentRequired { .. } => 402,
            EdgeError::Forbidden { .. } | EdgeError::UpgradeRefused { .. } => 403,
            EdgeError::NotFound => 404,
            EdgeError::MethodNotAllowed { .. } => 405,
            EdgeError::NotAcceptable { .. } => 406,
            EdgeError::ProxyAuthenticationRequired { .. } => 407,
            EdgeError::RequestTimeout(_) => 408,
            EdgeError::DnsResolution { .. } => 409,
            EdgeError::Gone => 410,
            EdgeError::LengthRequired => 411,
            EdgeError::PreconditionFailed => 412,
            EdgeError::PayloadTooLarge { .. } | EdgeError::DecodedBodyTooLarge { .. } => 413,
            EdgeError::UriTooLong { .. } => 414,
            EdgeError::UnsupportedMediaType(_) => 415,
            EdgeError::RangeNotSatisfiable { .. } => 416,
            EdgeError::ExpectationFailed => 417,
            EdgeError::UnknownHost { .. } => 421,
            EdgeError::TooManyRequests(_) => 429,
            EdgeError::HeaderFieldsTooLarge(_) => 431,
            EdgeError::UnavailableForLegalReasons { .. } => 451,
            EdgeError::Internal => 500,
            EdgeError::NotImplemented => 501,
            EdgeError::BadGateway(fault) => fault.status(),
            EdgeError::GatewayTimeout => 504,
            EdgeError::HttpVersionNotSupported => 505,
        }
    }

    /// The stable error code ("Error 1015"), unique per variant and sub-fault.
    pub fn code(&self) -> u16 {
        match self {
            EdgeError::BadRequest(b) => bad_request_code(*b),
            EdgeError::Forbidden { reason, .. } => forbidden_code(*reason),
            EdgeError::BadGateway(fault) => origin_code(*fault),
            EdgeError::DnsResolution { .. } => 1001,
            EdgeError::UnknownHost { host } if is_ip_literal(host) => 1003,
            EdgeError::UnknownHost { .. } => 1004,
            EdgeError::TooManyRequests(_) => 1015,
            EdgeError::NotFound => 1300,
            EdgeError::MethodNotAllowed { .. } => 1301,
            EdgeError::Internal => 1302,
            EdgeError::NotAcceptable { .. } => 1303,
            EdgeError::PreconditionFailed => 1304,
            EdgeError::UnsupportedMediaType(MediaHint::ContentType(_)) => 1305,
            EdgeError::UnsupportedMediaType(MediaHint::ContentEncoding(_)) => 1306,
            EdgeError::UpgradeRefused { .. } => 1307,
            EdgeError::RangeNotSatisfiable { .. } => 1308,
            EdgeError::GatewayTimeout => 1403,
            EdgeError::RequestTimeout(TimeoutPhase::Header) => 1600,
            EdgeError::RequestTimeout(TimeoutPhase::Body) => 1601,
            EdgeError::LengthRequired => 1602,
            EdgeError::PayloadTooLarge { .. } => 1603,
            EdgeError::UriTooLong { .. } => 1604,
            EdgeError::ExpectationFailed => 1605,
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(_)) => 1606,
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge { .. }) => 1607,
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(_)) => 1608,
            EdgeError::NotImplemented => 1609,
            EdgeError::HttpVersionNotSupported => 1610,
            EdgeError::DecodedBodyTooLarge { .. } => 1611,
            EdgeError::Unauthorized { .. } => 1700,
            EdgeError::PaymentRequired { .. } => 1701,
            EdgeError::Gone => 1702,
            EdgeError::UnavailableForLegalReasons { .. } => 1703,
            EdgeError::ProxyAuthenticationRequired { .. } => 1704,
        }
    }

    /// A short title naming the error, e.g. "Bad request: obsolete line folding".
    pub fn title(&self) -> &'static str {
        match self {
            EdgeError::BadRequest(b) => bad_request_title(*b),
            EdgeError::Unauthorized { .. } => "Authentication required",
            EdgeError::PaymentRequired { .. } => "Payment required",
            EdgeError::Forbidden { reason, .. } => forbidden_title(*reason),
            EdgeError::UpgradeRefused { .. } => "Protocol upgrade not allowed",
            EdgeError::NotFound => "Not found",
            EdgeError::MethodNotAllowed { .. } => "Method not allowed",
            EdgeError::NotAcceptable { .. } => "Not acceptable",
            EdgeError::ProxyAuthenticationRequired { .. } => "Proxy authentication required",
            EdgeError::RequestTimeout(TimeoutPhase::Header) => "Request timeout: header section",
            EdgeError::RequestTimeout(TimeoutPhase::Body) => "Request timeout: body",
            EdgeError::DnsResolution { .. } => "DNS resolution error",
            EdgeError::Gone => "Gone",
            EdgeError::LengthRequired => "Length required",
            EdgeError::PreconditionFailed => "Precondition failed",
            EdgeError::PayloadTooLarge { .. } => "Content too large",
            EdgeError::DecodedBodyTooLarge { .. } => "Content too large once decoded",
            EdgeError::UriTooLong { .. } => "URI too long",
            EdgeError::UnsupportedMediaType(MediaHint::ContentType(_)) => "Unsupported media type",
            EdgeError::UnsupportedMediaType(MediaHint::ContentEncoding(_)) => "Unsupported content encoding",
            EdgeError::RangeNotSatisfiable { .. } => "Range not satisfiable",
            EdgeError::ExpectationFailed => "Expectation failed",
            EdgeError::UnknownHost { host } if is_ip_literal(host) => "Direct IP access not allowed",
            EdgeError::UnknownHost { .. } => "Host not configured on this edge",
            EdgeError::TooManyRequests(_) => "Rate limited",
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(_)) => {
                "Request header section too large"
            }
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge { .. }) => {
                "Request header field too large"
            }
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(_)) => {
                "Too many request header fields"
            }
            EdgeError::UnavailableForLegalReasons { .. } => "Unavailable for legal reasons",
            EdgeError::Internal => "Internal edge error",
            EdgeError::NotImplemented => "Transfer coding not implemented",
            EdgeError::BadGateway(fault) => origin_title(*fault),
            EdgeError::GatewayTimeout => "Gateway timeout",
            EdgeError::HttpVersionNotSupported => "HTTP version not supported",
        }
    }

    /// Which part of the edge produced the error (the analytics `error source`).
    pub fn source(&self) -> ErrorSource {
        match self {
            EdgeError::BadRequest(_)
            | EdgeError::RequestTimeout(_)
            | EdgeError::LengthRequired
            | EdgeError::PayloadTooLarge { .. }
            | EdgeError::DecodedBodyTooLarge { .. }
            | EdgeError::UriTooLong { .. }
            | EdgeError::ExpectationFailed
            | EdgeError::HeaderFieldsTooLarge(_)
            | EdgeError::NotImplemented
            | EdgeError::HttpVersionNotSupported => ErrorSource::Protocol,
            EdgeError::DnsResolution { .. } | EdgeError::BadGateway(_) | EdgeError::GatewayTimeout => {
                ErrorSource::Origin
            }
            EdgeError::NotFound
            | EdgeError::MethodNotAllowed { .. }
            | EdgeError::NotAcceptable { .. }
            | EdgeError::PreconditionFailed
            | EdgeError::UnsupportedMediaType(_)
            | EdgeError::RangeNotSatisfiable { .. }
            | EdgeError::UpgradeRefused { .. }
            | EdgeError::UnknownHost { .. }
            | EdgeError::Internal => ErrorSource::Edge,
            EdgeError::Unauthorized { .. } | EdgeError::ProxyAuthenticationRequired { .. } => {
                ErrorSource::Auth
            }
            EdgeError::PaymentRequired { .. } | EdgeError::Gone => ErrorSource::Rule,
            EdgeError::Forbidden { reason, .. } => forbidden_source(*reason),
            EdgeError::TooManyRequests(_) => ErrorSource::RateLimit,
            EdgeError::UnavailableForLegalReasons { .. } => ErrorSource::Legal,
        }
    }

    /// Whether the connection must close after this response: every protocol error,
    /// since the request's framing can no longer be trusted.
    pub fn closes_connection(&self) -> bool {
        self.source() == ErrorSource::Protocol
    }

    /// The rule id shown on the page and in problem+json (403 and 429 only).
    pub fn rule_id(&self) -> Option<&str> {
        match self {
            EdgeError::Forbidden { rule_id, .. } => Some(rule_id),
            EdgeError::TooManyRequests(r) => Some(&r.rule_id),
            _ => None,
        }
    }
}

/// Whether a Host value (with an optional port) is an IP address literal.
pub(super) fn is_ip_literal(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let bare = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    bare.parse::<std::net::IpAddr>().is_ok()
}

fn bad_request_code(b: BadRequest) -> u16 {
    match b {
        BadRequest::RequestLine => 1500,
        BadRequest::Method => 1501,
        BadRequest::HeaderSyntax => 1502,
        BadRequest::HeaderValue => 1503,
        BadRequest::ObsFold => 1504,
        BadRequest::BareCr => 1505,
        BadRequest::BareLf => 1506,
        BadRequest::WhitespaceBeforeColon => 1507,
        BadRequest::ContentLengthWithTransferEncoding => 1508,
        BadRequest::ConflictingContentLength => 1509,
        BadRequest::InvalidContentLength => 1510,
        BadRequest::ChunkedNotFinal => 1511,
        BadRequest::InvalidChunkSize => 1512,
        BadRequest::InvalidChunkExtension => 1513,
        BadRequest::InvalidChunkData => 1514,
        BadRequest::InvalidTrailer => 1515,
        BadRequest::InvalidTarget => 1516,
        BadRequest::MissingHost => 1517,
        BadRequest::DuplicateHost => 1518,
        BadRequest::InvalidHost => 1519,
        BadRequest::HostMismatch => 1520,
        BadRequest::TruncatedBody => 1521,
        BadRequest::TransferEncodingInHttp10 => 1522,
        BadRequest::InvalidTransferEncoding => 1523,
        BadRequest::AmbiguousContentType => 1524,
        BadRequest::MalformedH2 { .. } => 1525,
    }
}

fn bad_request_title(b: BadRequest) -> &'static str {
    match b {
        BadRequest::RequestLine => "Bad request: malformed request line",
        BadRequest::Method => "Bad request: invalid method",
        BadRequest::HeaderSyntax => "Bad request: malformed header field",
        BadRequest::HeaderValue => "Bad request: invalid header field value",
        BadRequest::ObsFold => "Bad request: obsolete line folding",
        BadRequest::BareCr => "Bad request: bare CR",
        BadRequest::BareLf => "Bad request: bare LF",
        BadRequest::WhitespaceBeforeColon => "Bad request: whitespace before colon",
        BadRequest::ContentLengthWithTransferEncoding => "Bad request: Content-Length with Transfer-Encoding",
        BadRequest::ConflictingContentLength => "Bad request: conflicting Content-Length",
        BadRequest::InvalidContentLength => "Bad request: invalid Content-Length",
        BadRequest::ChunkedNotFinal => "Bad request: chunked is not the final transfer coding",
        BadRequest::InvalidChunkSize => "Bad request: invalid chunk size",
        BadRequest::InvalidChunkExtension => "Bad request: invalid chunk extension",
        BadRequest::InvalidChunkData => "Bad request: invalid chunk data",
        BadRequest::InvalidTrailer => "Bad request: malformed trailer section",
        BadRequest::InvalidTarget => "Bad request: invalid request target",
        BadRequest::MissingHost => "Bad request: missing Host",
        BadRequest::DuplicateHost => "Bad request: duplicate Host",
        BadRequest::InvalidHost => "Bad request: invalid Host",
        BadRequest::HostMismatch => "Bad request: Host does not match the request target",
        BadRequest::TruncatedBody => "Bad request: truncated body",
        BadRequest::TransferEncodingInHttp10 => "Bad request: Transfer-Encoding in HTTP/1.0",
        BadRequest::InvalidTransferEncoding => "Bad request: invalid Transfer-Encoding",
        BadRequest::AmbiguousContentType => "Bad request: several Content-Type values",
        BadRequest::MalformedH2 { .. } => "Bad request: malformed HTTP/2 request",
    }
}

fn forbidden_code(r: ForbiddenReason) -> u16 {
    match r {
        ForbiddenReason::IpRule => 1006,
        ForbiddenReason::CountryRule => 1009,
        ForbiddenReason::BrowserIntegrity => 1010,
        ForbiddenReason::PathPermission => 1012,
        ForbiddenReason::FirewallRule => 1020,
        ForbiddenReason::Waf => 1710,
        ForbiddenReason::TlsHostNotCovered => 1711,
        ForbiddenReason::ChallengeFailed => 1712,
    }
}

fn forbidden_title(r: ForbiddenReason) -> &'static str {
    match r {
        ForbiddenReason::FirewallRule => "Access denied: firewall rule",
        ForbiddenReason::Waf => "Access denied: web application firewall",
        ForbiddenReason::IpRule => "Access denied: IP access rule",
        ForbiddenReason::CountryRule => "Access denied: country or region banned",
        ForbiddenReason::BrowserIntegrity => "Access denied: browser integrity check",
        ForbiddenReason::PathPermission => "Access denied: path permission",
        ForbiddenReason::TlsHostNotCovered => "Access denied: host not covered by a certificate",
        ForbiddenReason::ChallengeFailed => "Access denied: challenge failed",
    }
}

fn forbidden_source(r: ForbiddenReason) -> ErrorSource {
    match r {
        ForbiddenReason::FirewallRule | ForbiddenReason::PathPermission => ErrorSource::Rule,
        ForbiddenReason::Waf => ErrorSource::Waf,
        ForbiddenReason::IpRule | ForbiddenReason::CountryRule => ErrorSource::IpRule,
        ForbiddenReason::BrowserIntegrity => ErrorSource::BrowserCheck,
        ForbiddenReason::TlsHostNotCovered => ErrorSource::Edge,
        ForbiddenReason::ChallengeFailed => ErrorSource::Challenge,
    }
}

fn origin_code(f: OriginFault) -> u16 {
    match f {
        OriginFault::Refused => 1400,
        OriginFault::Reset => 1401,
        OriginFault::InvalidResponse => 1402,
        OriginFault::ConnectTimeout => 1404,
        OriginFault::ResponseTimeout => 1405,
        OriginFault::TlsHandshake => 1406,
        OriginFault::InvalidCertificate => 1407,
        OriginFault::NoHealthyOrigin => 1408,
        OriginFault::ConnectionLimit => 1200,
    }
}

fn origin_title(f: OriginFault) -> &'static str {
    match f {
        OriginFault::Refused => "Bad gateway: connection refused",
        OriginFault::Reset => "Bad gateway: connection reset",
        OriginFault::InvalidResponse => "Bad gateway: invalid response",
        OriginFault::ConnectTimeout => "Gateway timeout: origin connection timed out",
        OriginFault::ResponseTimeout => "Gateway timeout: origin did not respond",
        OriginFault::TlsHandshake => "Bad gateway: TLS handshake with the origin failed",
        OriginFault::InvalidCertificate => "Bad gateway: invalid origin certificate",
        OriginFault::NoHealthyOrigin => "Service unavailable: no healthy origin",
        OriginFault::ConnectionLimit => "Service unavailable: origin connection limit",
    }
}
