//! Each error's explanation: one to three sentences for a human, naming the exact
//! fault and what to do about it.
//!
//! The text is plain (not escaped); the renderer escapes it for HTML and JSON.
//! Owns wording only, not status codes or headers.

use super::{
    AuthChallenge, BadRequest, EdgeError, ForbiddenReason, HeaderLimit, MediaHint, OriginFault, TimeoutPhase,
};

impl EdgeError {
    /// One to three sentences naming the exact fault and what to do.
    pub fn explanation(&self) -> String {
        match self {
            EdgeError::BadRequest(b) => bad_request(*b),
            EdgeError::Unauthorized { challenge, repeated } => unauthorized(challenge, *repeated),
            EdgeError::PaymentRequired { message, .. } => payment_required(message),
            EdgeError::Forbidden { reason, rule_id } => forbidden(*reason, rule_id),
            EdgeError::NotFound => {
                "The edge has no resource at this path. Check the URL for typos.".to_owned()
            }
            EdgeError::MethodNotAllowed { allow } => format!(
                "This resource does not allow the request method. Allowed methods: {}.",
                allow.methods().join(", ")
            ),
            EdgeError::NotAcceptable { available } => format!(
                "No available representation matches the request's Accept headers. \
                 Available media types: {}.",
                available.join(", ")
            ),
            EdgeError::ProxyAuthenticationRequired { challenge } => format!(
                "This proxy requires authentication. Send a Proxy-Authorization header {} \
                 (RFC 9110 §11.7.1).",
                challenge_hint(challenge)
            ),
            EdgeError::RequestTimeout(phase) => request_timeout(*phase).to_owned(),
            EdgeError::DnsResolution { origin_host } => format!(
                "The origin host name \"{origin_host}\" could not be resolved. If you own this \
                 site, check the origin's DNS records; otherwise try again later."
            ),
            EdgeError::Gone => "This resource has been permanently removed and will not return. \
                 Remove links and bookmarks that point to it."
                .to_owned(),
            EdgeError::LengthRequired => "The request carries a body without a Content-Length, \
                 which this site requires (RFC 9110 §15.5.12). Send a Content-Length header."
                .to_owned(),
            EdgeError::PreconditionFailed => "A precondition of the request (If-Match or \
                 If-Unmodified-Since) does not hold for the current representation, so the \
                 request was not applied (RFC 9110 §13.2.2). Fetch the current version and retry."
                .to_owned(),
            EdgeError::PayloadTooLarge { limit, retry_after } => payload_too_large(*limit, *retry_after),
            EdgeError::UriTooLong { limit } => format!(
                "The request target is longer than the {limit} bytes this site allows. Shorten \
                 the URL, or send large data in the request body."
            ),
            EdgeError::UnsupportedMediaType(hint) => unsupported_media_type(hint),
            EdgeError::RangeNotSatisfiable { complete_length } => format!(
                "No range in the request's Range header overlaps the {complete_length} bytes of \
                 this resource (RFC 9110 §14.1.2). Ask for a range within those bytes, or for the \
                 whole resource."
            ),
            EdgeError::UpgradeRefused { protocol } => format!(
                "This site does not allow switching this connection to the \"{protocol}\" \
                 protocol (RFC 9110 §7.8). Use plain HTTP requests, or ask the site owner to \
                 enable it."
            ),
            EdgeError::DecodedBodyTooLarge { limit } => format!(
                "The request body, once its Content-Encoding is decoded, is larger than the \
                 {limit} bytes this site allows. Send less data, or send it without compression."
            ),
            EdgeError::ExpectationFailed => "The request's Expect header holds an expectation \
                 other than 100-continue, which this server cannot meet (RFC 9110 §10.1.1). \
                 Remove the Expect header."
                .to_owned(),
            EdgeError::UnknownHost { host } if super::meta::is_ip_literal(host) => format!(
                "This edge does not serve requests addressed to its IP address \"{host}\" \
                 (misdirected request, RFC 9110 §15.5.20). Use the site's host name in the URL."
            ),
            EdgeError::UnknownHost { host } => format!(
                "This edge does not serve the host \"{host}\" (misdirected request, RFC 9110 \
                 §15.5.20). Check the URL and that the name's DNS points at the right server."
            ),
            EdgeError::TooManyRequests(r) => format!(
                "You exceeded the rate limit of {} requests per {} seconds (rule {}). Retry \
                 after {} seconds.",
                r.limit, r.window, r.rule_id, r.retry_after
            ),
            EdgeError::HeaderFieldsTooLarge(limit) => header_limit(limit),
            EdgeError::UnavailableForLegalReasons {
                blocked_by,
                explanation,
            } => format!(
                "This resource is unavailable for legal reasons: {explanation} The demand \
                 comes from {blocked_by}."
            ),
            EdgeError::Internal => "The edge failed while handling this request; the fault is \
                 not in your request. Try again, and quote the Ray ID if it persists."
                .to_owned(),
            EdgeError::NotImplemented => "The request uses a transfer coding this server does \
                 not implement; only chunked is supported (RFC 9112 §6.1). Send the body with \
                 Content-Length or chunked."
                .to_owned(),
            EdgeError::BadGateway(fault) => bad_gateway(*fault).to_owned(),
            EdgeError::GatewayTimeout => "The origin server did not respond in time. Try again \
                 later; if you own this site, check the origin's load and response times."
                .to_owned(),
            EdgeError::HttpVersionNotSupported => "The request uses an HTTP version other than \
                 HTTP/1.0 or HTTP/1.1 (RFC 9112 §2.3). Send the request as HTTP/1.1."
                .to_owned(),
        }
    }
}

fn bad_request(b: BadRequest) -> String {
    match b {
        BadRequest::MalformedH2 { what } => format!(
            "The HTTP/2 request is malformed: {what} (RFC 9113 §8.1.1). Fix the client or \
             library that sent it."
        ),
        other => bad_request_fixed(other).to_owned(),
    }
}

fn bad_request_fixed(b: BadRequest) -> &'static str {
    match b {
        BadRequest::TransferEncodingInHttp10 => {
            "The HTTP/1.0 request carries Transfer-Encoding, which \
             HTTP/1.0 does not define, so its framing cannot be trusted (RFC 9112 §6.1). Send \
             the body with Content-Length, or send the request as HTTP/1.1."
        }
        BadRequest::InvalidTransferEncoding => {
            "The Transfer-Encoding header is not a list of \
             transfer codings, or gives chunked parameters, which it has none of (RFC 9112 §7). \
             Send `Transfer-Encoding: chunked`."
        }
        BadRequest::AmbiguousContentType => {
            "The request carries several different Content-Type \
             values, so its body could be read as more than one type (RFC 9110 §8.3). Send one \
             Content-Type."
        }
        BadRequest::MalformedH2 { .. } => "The HTTP/2 request is malformed (RFC 9113 §8.1.1).",
        BadRequest::RequestLine => {
            "The request line is not `method SP request-target SP \
             HTTP-version` (RFC 9112 §3). Separate the three parts by single spaces and end the \
             line with CRLF."
        }
        BadRequest::Method => {
            "The request method is not a valid token (RFC 9110 §9.1). Methods \
             may contain only letters, digits and !#$%&'*+-.^_`|~."
        }
        BadRequest::HeaderSyntax => {
            "A header field line is not of the form `name: value` \
             (RFC 9112 §5). Check for a missing colon or invalid characters in a field name."
        }
        BadRequest::HeaderValue => {
            "A header field value contains a forbidden byte such as NUL \
             or another control character (RFC 9110 §5.5). Remove control characters from \
             header values."
        }
        BadRequest::ObsFold => {
            "A header field line starts with whitespace (obsolete line \
             folding), which this server rejects (RFC 9112 §5.2). Send each field value on a \
             single line."
        }
        BadRequest::BareCr => {
            "The request contains a CR not followed by LF; HTTP/1.1 requires \
             CRLF (RFC 9112 §2.2)."
        }
        BadRequest::BareLf => {
            "A line in the request ended with a bare LF; HTTP/1.1 requires CRLF (RFC 9112 §2.2)."
        }
        BadRequest::WhitespaceBeforeColon => {
            "A header field name is followed by whitespace \
             before its colon, which HTTP/1.1 forbids (RFC 9112 §5.1). Remove the whitespace."
        }
        BadRequest::ContentLengthWithTransferEncoding => {
            "The request carries both \
             Content-Length and Transfer-Encoding, which makes its framing ambiguous \
             (RFC 9112 §6.1). Send only one of them."
        }
        BadRequest::ConflictingContentLength => {
            "The request carries several Content-Length \
             values that differ, so its body length is ambiguous (RFC 9112 §6.3). Send a \
             single Content-Length."
        }
        BadRequest::InvalidContentLength => {
            "The Content-Length value is not a decimal number \
             of bytes (RFC 9110 §8.6)."
        }
        BadRequest::ChunkedNotFinal => {
            "Transfer-Encoding is present but its final coding is \
             not chunked, so the body length cannot be determined (RFC 9112 §6.3). Make \
             chunked the last transfer coding."
        }
        BadRequest::InvalidChunkSize => {
            "A chunk-size line is not a hexadecimal number, or the \
             size is too large (RFC 9112 §7.1)."
        }
        BadRequest::InvalidChunkExtension => {
            "A chunk extension is not of the form \
             `;name[=value]` (RFC 9112 §7.1.1)."
        }
        BadRequest::InvalidChunkData => {
            "Chunk data was not followed by CRLF, so the chunk \
             does not match its declared size (RFC 9112 §7.1)."
        }
        BadRequest::InvalidTrailer => {
            "The trailer section after the last chunk is malformed \
             (RFC 9112 §7.1.2)."
        }
        BadRequest::InvalidTarget => {
            "The request target contains bytes that are not allowed: \
             control characters, spaces or bytes above 0x7F (RFC 9112 §3.2). Percent-encode \
             them."
        }
        BadRequest::MissingHost => {
            "The HTTP/1.1 request has no Host header, which is required \
             (RFC 9112 §3.2)."
        }
        BadRequest::DuplicateHost => {
            "The request carries more than one Host header; exactly \
             one is allowed (RFC 9112 §3.2)."
        }
        BadRequest::InvalidHost => {
            "The Host header is not a valid host name or address with \
             an optional port (RFC 9110 §7.2)."
        }
        BadRequest::HostMismatch => {
            "The request target is in absolute form and its authority \
             differs from the Host header; such requests are rejected as deceptive routing \
             (RFC 9112 §3.2.2)."
        }
        BadRequest::TruncatedBody => {
            "The request body ended before its declared length \
             (RFC 9112 §6.3). Send the full body or correct the length."
        }
    }
}

/// How to answer a challenge, for the explanations of 401 and 407.
fn challenge_hint(challenge: &AuthChallenge) -> String {
    match challenge {
        AuthChallenge::Basic { realm } => format!(
            "with scheme Basic for the realm \"{realm}\": the base64 encoding of \
             user:password (UTF-8)"
        ),
    }
}

fn unauthorized(challenge: &AuthChallenge, repeated: bool) -> String {
    if repeated {
        format!(
            "The same credentials were rejected again. This resource needs an Authorization \
             header {} with a user name and password valid for that realm (RFC 7617).",
            challenge_hint(challenge)
        )
    } else {
        "This resource requires authentication. Send credentials using the scheme and realm \
         in the WWW-Authenticate header."
            .to_owned()
    }
}

fn payment_required(message: &str) -> String {
    if message.trim().is_empty() {
        "Access to this resource requires payment; the response headers say the price and how \
         to pay."
            .to_owned()
    } else {
        format!("Access to this resource requires payment. {message}")
    }
}

fn forbidden(reason: ForbiddenReason, rule_id: &str) -> String {
    let what = match reason {
        ForbiddenReason::FirewallRule => "A firewall rule of this site blocked the request",
        ForbiddenReason::Waf => "The web application firewall blocked the request as an attack",
        ForbiddenReason::IpRule => "An IP access rule of this site blocks your address",
        ForbiddenReason::CountryRule => "This site does not accept requests from your country or region",
        ForbiddenReason::BrowserIntegrity => {
            "The browser integrity check failed: the request's headers look like an abusive bot"
        }
        ForbiddenReason::PathPermission => "A path permission rule forbids access to this path",
        ForbiddenReason::TlsHostNotCovered => {
            "The requested host name is not covered by any certificate of this edge \
             (a wildcard covers one label only)"
        }
        ForbiddenReason::ChallengeFailed => "The challenge clearance is missing, tampered with or expired",
    };
    format!(
        "{what} (rule {rule_id}). If you think this is a mistake, contact the site owner and \
         quote the Ray ID."
    )
}

fn request_timeout(phase: TimeoutPhase) -> &'static str {
    match phase {
        TimeoutPhase::Header => {
            "The client took too long to send the request header section, \
             so the connection is being closed. Retry on a new connection."
        }
        TimeoutPhase::Body => {
            "The client took too long to send the request body, so the \
             connection is being closed. Retry on a new connection."
        }
    }
}

fn payload_too_large(limit: u64, retry_after: Option<u64>) -> String {
    let base = format!("The request body is larger than the {limit} bytes this site allows.");
    match retry_after {
        Some(secs) => format!("{base} The refusal is temporary; retry after {secs} seconds."),
        None => format!("{base} Send a smaller body."),
    }
}

fn unsupported_media_type(hint: &MediaHint) -> String {
    match hint {
        MediaHint::ContentType(types) => format!(
            "This resource does not accept the request's Content-Type. Accepted types: {}.",
            types.join(", ")
        ),
        MediaHint::ContentEncoding(codings) => format!(
            "This resource does not accept the request's Content-Encoding. Accepted codings: {}.",
            codings.join(", ")
        ),
    }
}

fn header_limit(limit: &HeaderLimit) -> String {
    match *limit {
        HeaderLimit::SectionTooLarge(n) => format!(
            "The request header section is larger than {n} bytes. Remove unneeded headers or \
             cookies."
        ),
        HeaderLimit::FieldTooLarge { limit, name } if name.as_str().is_empty() => format!(
            "A request header field is larger than {limit} bytes. Shorten it; large cookies are \
             the usual cause."
        ),
        HeaderLimit::FieldTooLarge { limit, name } => format!(
            "The request header field \"{}{}\" is larger than {limit} bytes. Shorten or remove \
             it.",
            name.as_str(),
            if name.is_truncated() { "…" } else { "" }
        ),
        HeaderLimit::TooManyFields(n) => {
            format!("The request has more than {n} header fields. Remove unneeded headers.")
        }
    }
}

fn bad_gateway(fault: OriginFault) -> &'static str {
    match fault {
        OriginFault::Refused => {
            "The origin server refused the connection. If you own this \
             site, check that the origin is running and accepts connections from the edge."
        }
        OriginFault::Reset => {
            "The origin server closed or reset the connection before \
             sending a complete response head. Try again; if it persists, check the origin's \
             logs."
        }
        OriginFault::InvalidResponse => {
            "The origin server answered with a response that is \
             not valid HTTP. If you own this site, check the origin's logs."
        }
        OriginFault::ConnectTimeout => {
            "The edge could not open a connection to the origin \
             server in time. Try again later; if you own this site, check that the origin is up \
             and reachable from the edge."
        }
        OriginFault::ResponseTimeout => {
            "The origin server accepted the request but did not \
             send a response in time. Try again later; if you own this site, check the origin's \
             load and slow requests."
        }
        OriginFault::TlsHandshake => {
            "The TLS handshake between the edge and the origin \
             server failed. If you own this site, check the origin's TLS versions, cipher suites \
             and SNI configuration."
        }
        OriginFault::InvalidCertificate => {
            "The origin server's TLS certificate is not valid: \
             expired, not trusted, or not for the origin's name. If you own this site, install a \
             valid certificate on the origin."
        }
        OriginFault::NoHealthyOrigin => {
            "Every origin server of this site is currently marked \
             unhealthy, so the request was not sent. Try again later; if you own this site, \
             check the origins' health checks."
        }
        OriginFault::ConnectionLimit => {
            "Too many requests are waiting for the origin server, \
             which is at its connection limit. Try again shortly; if you own this site, raise the \
             limit or make the origin faster."
        }
    }
}
