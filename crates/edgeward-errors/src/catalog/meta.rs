//! Each error's fixed metadata: HTTP status, stable error code, title and source.
//!
//! Owns the numbering scheme (Cloudflare-style `1xxx` codes). It does not own the
//! human explanation (`explain`) or the headers a status requires (`headers`).
//!
//! Code ranges: security 1000–1099, protocol faults 1100–1199 (one per
//! [`BadRequest`] sub-fault), protocol limits and timeouts 1200–1299, the edge's
//! own endpoints 1300–1399, origin failures 1400–1499.

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
            EdgeError::Forbidden { .. } => 403,
            EdgeError::NotFound => 404,
            EdgeError::MethodNotAllowed { .. } => 405,
            EdgeError::NotAcceptable { .. } => 406,
            EdgeError::ProxyAuthenticationRequired { .. } => 407,
            EdgeError::RequestTimeout(_) => 408,
            EdgeError::DnsResolution { .. } => 409,
            EdgeError::Gone => 410,
            EdgeError::LengthRequired => 411,
            EdgeError::PreconditionFailed => 412,
            EdgeError::PayloadTooLarge { .. } => 413,
            EdgeError::UriTooLong { .. } => 414,
            EdgeError::UnsupportedMediaType(_) => 415,
            EdgeError::ExpectationFailed => 417,
            EdgeError::UnknownHost { .. } => 421,
            EdgeError::TooManyRequests(_) => 429,
            EdgeError::HeaderFieldsTooLarge(_) => 431,
            EdgeError::UnavailableForLegalReasons { .. } => 451,
            EdgeError::Internal => 500,
            EdgeError::NotImplemented => 501,
            EdgeError::BadGateway(_) => 502,
            EdgeError::GatewayTimeout => 504,
            EdgeError::HttpVersionNotSupported => 505,
        }
    }

    /// The stable error code ("Error 1001"), unique per variant and sub-fault.
    pub fn code(&self) -> u16 {
        match self {
            EdgeError::BadRequest(b) => bad_request_code(*b),
            EdgeError::Unauthorized { .. } => 1030,
            EdgeError::PaymentRequired { .. } => 1031,
            EdgeError::Forbidden { reason, .. } => forbidden_code(*reason),
            EdgeError::NotFound => 1300,
            EdgeError::MethodNotAllowed { .. } => 1301,
            EdgeError::NotAcceptable { .. } => 1036,
            EdgeError::ProxyAuthenticationRequired { .. } => 1037,
            EdgeError::RequestTimeout(TimeoutPhase::Header) => 1200,
            EdgeError::RequestTimeout(TimeoutPhase::Body) => 1201,
            EdgeError::DnsResolution { .. } => 1001,
            EdgeError::Gone => 1032,
            EdgeError::LengthRequired => 1202,
            EdgeError::PreconditionFailed => 1035,
            EdgeError::PayloadTooLarge { .. } => 1203,
            EdgeError::UriTooLong { .. } => 1204,
            EdgeError::UnsupportedMediaType(MediaHint::ContentType(_)) => 1034,
            EdgeError::UnsupportedMediaType(MediaHint::ContentEncoding(_)) => 1038,
            EdgeError::ExpectationFailed => 1205,
            EdgeError::UnknownHost { .. } => 1003,
            EdgeError::TooManyRequests(_) => 1015,
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(_)) => 1206,
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge(_)) => 1207,
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(_)) => 1208,
            EdgeError::UnavailableForLegalReasons { .. } => 1033,
            EdgeError::Internal => 1302,
            EdgeError::NotImplemented => 1209,
            EdgeError::BadGateway(OriginFault::Refused) => 1400,
            EdgeError::BadGateway(OriginFault::Reset) => 1401,
            EdgeError::BadGateway(OriginFault::InvalidResponse) => 1402,
            EdgeError::GatewayTimeout => 1403,
            EdgeError::HttpVersionNotSupported => 1210,
        }
    }

    /// A short title naming the error, e.g. "Bad request: obsolete line folding".
    pub fn title(&self) -> &'static str {
        match self {
            EdgeError::BadRequest(b) => bad_request_title(*b),
            EdgeError::Unauthorized { .. } => "Authentication required",
            EdgeError::PaymentRequired { .. } => "Payment required",
            EdgeError::Forbidden { reason, .. } => forbidden_title(*reason),
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
            EdgeError::UriTooLong { .. } => "URI too long",
            EdgeError::UnsupportedMediaType(MediaHint::ContentType(_)) => "Unsupported media type",
            EdgeError::UnsupportedMediaType(MediaHint::ContentEncoding(_)) => "Unsupported content encoding",
            EdgeError::ExpectationFailed => "Expectation failed",
            EdgeError::UnknownHost { .. } => "Unknown host",
            EdgeError::TooManyRequests(_) => "Rate limited",
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(_)) => {
                "Request header section too large"
            }
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge(_)) => {
                "Request header field too large"
            }
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(_)) => {
                "Too many request header fields"
            }
            EdgeError::UnavailableForLegalReasons { .. } => "Unavailable for legal reasons",
            EdgeError::Internal => "Internal edge error",
            EdgeError::NotImplemented => "Transfer coding not implemented",
            EdgeError::BadGateway(OriginFault::Refused) => "Bad gateway: connection refused",
            EdgeError::BadGateway(OriginFault::Reset) => "Bad gateway: connection reset",
            EdgeError::BadGateway(OriginFault::InvalidResponse) => "Bad gateway: invalid response",
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

fn bad_request_code(b: BadRequest) -> u16 {
    match b {
        BadRequest::RequestLine => 1100,
        BadRequest::Method => 1101,
        BadRequest::HeaderSyntax => 1102,
        BadRequest::HeaderValue => 1103,
        BadRequest::ObsFold => 1104,
        BadRequest::BareCr => 1105,
        BadRequest::BareLf => 1106,
        BadRequest::WhitespaceBeforeColon => 1107,
        BadRequest::ContentLengthWithTransferEncoding => 1108,
        BadRequest::ConflictingContentLength => 1109,
        BadRequest::InvalidContentLength => 1110,
        BadRequest::ChunkedNotFinal => 1111,
        BadRequest::InvalidChunkSize => 1112,
        BadRequest::InvalidChunkExtension => 1113,
        BadRequest::InvalidChunkData => 1114,
        BadRequest::InvalidTrailer => 1115,
        BadRequest::InvalidTarget => 1116,
        BadRequest::MissingHost => 1117,
        BadRequest::DuplicateHost => 1118,
        BadRequest::InvalidHost => 1119,
        BadRequest::HostMismatch => 1120,
        BadRequest::TruncatedBody => 1121,
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
    }
}

fn forbidden_code(r: ForbiddenReason) -> u16 {
    match r {
        ForbiddenReason::IpRule => 1006,
        ForbiddenReason::BrowserIntegrity => 1010,
        ForbiddenReason::TlsHostNotCovered => 1014,
        ForbiddenReason::FirewallRule => 1020,
        ForbiddenReason::Waf => 1021,
        ForbiddenReason::ChallengeFailed => 1022,
        ForbiddenReason::PathPermission => 1023,
    }
}

fn forbidden_title(r: ForbiddenReason) -> &'static str {
    match r {
        ForbiddenReason::FirewallRule => "Access denied: firewall rule",
        ForbiddenReason::Waf => "Access denied: web application firewall",
        ForbiddenReason::IpRule => "Access denied: IP access rule",
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
        ForbiddenReason::IpRule => ErrorSource::IpRule,
        ForbiddenReason::BrowserIntegrity => ErrorSource::BrowserCheck,
        ForbiddenReason::TlsHostNotCovered => ErrorSource::Edge,
        ForbiddenReason::ChallengeFailed => ErrorSource::Challenge,
    }
}
