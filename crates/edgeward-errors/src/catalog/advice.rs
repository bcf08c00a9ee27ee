//! What a client can do about an error: its category, whether retrying can help
//! and when, whether only the site owner can fix it, and one short instruction.
//!
//! These feed the structured formats (problem+json, markdown) and the
//! `Edgeward-*` response headers, so that agents and scripts can act without
//! reading prose. Owns that advice only; the explanation of the fault itself is
//! `explain`'s.

use super::{BadRequest, EdgeError, ErrorCategory, ForbiddenReason, HeaderLimit, MediaHint, OriginFault};

impl EdgeError {
    /// The broad class of the error (`error_category`, `Edgeward-Error-Type`).
    pub fn category(&self) -> ErrorCategory {
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
            | EdgeError::HttpVersionNotSupported => ErrorCategory::Request,
            EdgeError::Forbidden {
                reason: ForbiddenReason::TlsHostNotCovered,
                ..
            } => ErrorCategory::Tls,
            EdgeError::Unauthorized { .. }
            | EdgeError::ProxyAuthenticationRequired { .. }
            | EdgeError::Forbidden { .. } => ErrorCategory::AccessDenied,
            EdgeError::TooManyRequests(_) => ErrorCategory::RateLimit,
            EdgeError::PaymentRequired { .. } => ErrorCategory::PaymentRequired,
            EdgeError::UnavailableForLegalReasons { .. } => ErrorCategory::Legal,
            EdgeError::NotFound
            | EdgeError::MethodNotAllowed { .. }
            | EdgeError::NotAcceptable { .. }
            | EdgeError::Gone
            | EdgeError::PreconditionFailed
            | EdgeError::UnsupportedMediaType(_)
            | EdgeError::RangeNotSatisfiable { .. }
            | EdgeError::UpgradeRefused { .. } => ErrorCategory::Resource,
            EdgeError::UnknownHost { .. } => ErrorCategory::Routing,
            EdgeError::DnsResolution { .. } => ErrorCategory::Dns,
            EdgeError::BadGateway(OriginFault::TlsHandshake | OriginFault::InvalidCertificate) => {
                ErrorCategory::Tls
            }
            EdgeError::BadGateway(_) | EdgeError::GatewayTimeout => ErrorCategory::Origin,
            EdgeError::Internal => ErrorCategory::Edge,
        }
    }

    /// Whether sending the same request again may succeed (possibly after
    /// [`retry_after`](Self::retry_after) seconds).
    pub fn retryable(&self) -> bool {
        match self {
            EdgeError::PayloadTooLarge { retry_after, .. } => retry_after.is_some(),
            EdgeError::RequestTimeout(_)
            | EdgeError::TooManyRequests(_)
            | EdgeError::DnsResolution { .. }
            | EdgeError::Internal
            | EdgeError::GatewayTimeout => true,
            EdgeError::BadGateway(fault) => !matches!(fault, OriginFault::InvalidCertificate),
            _ => false,
        }
    }

    /// Seconds to wait before retrying, when the edge knows them (`Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            EdgeError::TooManyRequests(r) => Some(r.retry_after),
            EdgeError::PayloadTooLarge { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether only the site's owner can fix this (configuration, origin, DNS, certificates).
    pub fn owner_action_required(&self) -> bool {
        matches!(
            self,
            EdgeError::DnsResolution { .. }
                | EdgeError::BadGateway(_)
                | EdgeError::GatewayTimeout
                | EdgeError::Internal
                | EdgeError::UnknownHost { .. }
                | EdgeError::Forbidden {
                    reason: ForbiddenReason::TlsHostNotCovered,
                    ..
                }
        )
    }

    /// The security mitigation this error applies, for `Edgeward-Mitigated`:
    /// `block`, `challenge` or `rate_limit`; `None` for every other error.
    pub fn mitigation(&self) -> Option<&'static str> {
        match self {
            EdgeError::Forbidden {
                reason: ForbiddenReason::ChallengeFailed,
                ..
            } => Some("challenge"),
            EdgeError::Forbidden {
                reason: ForbiddenReason::TlsHostNotCovered,
                ..
            } => None,
            EdgeError::Forbidden { .. } => Some("block"),
            EdgeError::TooManyRequests(_) => Some("rate_limit"),
            _ => None,
        }
    }

    /// One or two short sentences telling the client what to do next.
    pub fn what_you_should_do(&self) -> String {
        if let Some(secs) = self.retry_after() {
            return format!("Wait {secs} seconds, then retry; back off further if it happens again.");
        }
        let fixed = match self {
            EdgeError::BadRequest(BadRequest::TruncatedBody) | EdgeError::RequestTimeout(_) => {
                "Retry on a new connection and send the whole request promptly."
            }
            EdgeError::BadRequest(_) | EdgeError::NotImplemented | EdgeError::HttpVersionNotSupported => {
                "Fix the request as the detail says; sending it unchanged fails again."
            }
            EdgeError::LengthRequired => "Send the body with a Content-Length header.",
            EdgeError::PayloadTooLarge { .. } | EdgeError::DecodedBodyTooLarge { .. } => {
                "Send a smaller body; do not retry this one unchanged."
            }
            EdgeError::UriTooLong { .. } => "Shorten the URL, or move the data into a request body.",
            EdgeError::ExpectationFailed => "Remove the Expect header and send the request again.",
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge { .. }) => {
                "Shorten or remove the named header field, then retry."
            }
            EdgeError::HeaderFieldsTooLarge(_) => "Send fewer or smaller header fields, then retry.",
            EdgeError::Unauthorized { .. } => "Retry with valid credentials in an Authorization header.",
            EdgeError::ProxyAuthenticationRequired { .. } => {
                "Retry with valid credentials in a Proxy-Authorization header."
            }
            EdgeError::Forbidden {
                reason: ForbiddenReason::ChallengeFailed,
                ..
            } => "Load the page in a browser that runs JavaScript to pass the challenge.",
            EdgeError::Forbidden {
                reason: ForbiddenReason::TlsHostNotCovered,
                ..
            } => "Use a host name this site has a certificate for; the site owner can add one.",
            EdgeError::Forbidden { .. } => {
                "Do not retry: the block is intentional. Contact the site owner with the Ray ID if \
                 it is a mistake."
            }
            EdgeError::PaymentRequired { .. } => "Pay as the response headers say, or do not retry.",
            EdgeError::UnavailableForLegalReasons { .. } => "Do not retry: the block is a legal one.",
            EdgeError::NotFound | EdgeError::Gone => "Do not retry; check the URL or remove the link.",
            EdgeError::MethodNotAllowed { .. } => "Retry with a method listed in the Allow header.",
            EdgeError::NotAcceptable { .. } => "Retry with an Accept header that allows an available type.",
            EdgeError::PreconditionFailed => "Fetch the current representation, then retry the change.",
            EdgeError::UnsupportedMediaType(MediaHint::ContentType(_)) => {
                "Retry with a Content-Type listed in the Accept-Post header."
            }
            EdgeError::UnsupportedMediaType(MediaHint::ContentEncoding(_)) => {
                "Retry with a Content-Encoding listed in the Accept-Encoding header."
            }
            EdgeError::RangeNotSatisfiable { .. } => {
                "Retry with a range inside the length given by Content-Range, or without Range."
            }
            EdgeError::UpgradeRefused { .. } => "Do not retry the upgrade; use plain HTTP requests.",
            EdgeError::UnknownHost { .. } => "Check the host name in the URL; do not retry unchanged.",
            EdgeError::BadGateway(OriginFault::InvalidCertificate) => {
                "Do not retry: the site owner must fix the origin's certificate."
            }
            EdgeError::DnsResolution { .. }
            | EdgeError::BadGateway(_)
            | EdgeError::GatewayTimeout
            | EdgeError::Internal => "Retry later with exponential backoff; the fault is not yours.",
            EdgeError::TooManyRequests(_) => "Slow down, then retry.",
        };
        fixed.to_owned()
    }
}
