//! The catalog: one enum with a variant for every response the edge generates itself.
//!
//! Owns what each error *is* (status, stable code, title, explanation, required headers).
//! It does not own how errors become bytes: that is `render`.
//! The data a status requires (e.g. `Allow` for 405) lives in the variant, so a
//! caller cannot build the error without it.
//!
//! The metadata lives in submodules: `meta` (status, code, title, source),
//! `explain` (the human explanation) and `headers` (the headers a status requires).
//! This is the only module that names status codes.

mod advice;
mod examples;
mod explain;
mod headers;
mod meta;
#[cfg(test)]
mod tests;

pub use examples::examples;

/// Every response the edge generates itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeError {
    /// 400: the request violates HTTP/1.1 syntax or framing, or routes deceptively.
    BadRequest(BadRequest),
    /// 401: the path needs credentials the request did not carry (or carried wrong).
    Unauthorized {
        /// The challenge sent in `WWW-Authenticate`.
        challenge: AuthChallenge,
        /// The client repeated the identical failed credentials: the body then says what is needed.
        repeated: bool,
    },
    /// 402: a rule asks for payment (e.g. pay-per-crawl).
    PaymentRequired {
        /// Extra headers saying the price and how to pay, as configured.
        headers: Vec<(String, String)>,
        /// Text shown to the client.
        message: String,
    },
    /// 403: a security feature blocked the request.
    Forbidden {
        /// Which feature blocked it.
        reason: ForbiddenReason,
        /// The rule id that matched (shown on the page and logged).
        rule_id: String,
    },
    /// 404: a path the edge itself serves does not exist.
    NotFound,
    /// 405: the route does not allow this method.
    MethodNotAllowed {
        /// The methods it does allow (the `Allow` header); never empty.
        allow: MethodList,
    },
    /// 406: a strict-negotiation zone has no representation matching `Accept*`.
    NotAcceptable {
        /// The media types that are available.
        available: Vec<String>,
    },
    /// 407: a forward-proxy listener needs `Proxy-Authorization`.
    ProxyAuthenticationRequired {
        /// The challenge sent in `Proxy-Authenticate`.
        challenge: AuthChallenge,
    },
    /// 408: the client was too slow sending the request.
    RequestTimeout(TimeoutPhase),
    /// 409 "Error 1001": the origin host name could not be resolved.
    DnsResolution {
        /// The origin host that failed to resolve.
        origin_host: String,
    },
    /// 410: a path rule marks the content permanently gone.
    Gone,
    /// 411: a body-carrying request without Content-Length on a zone that requires one.
    LengthRequired,
    /// 412: a precondition (If-Match, If-Unmodified-Since) failed.
    PreconditionFailed,
    /// 413: the body is larger than the zone allows.
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
        /// Seconds until a retry may succeed when the refusal is temporary (`Retry-After`).
        retry_after: Option<u64>,
    },
    /// 414: the request target is longer than the limit.
    UriTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the route does not accept this content type or content coding.
    UnsupportedMediaType(MediaHint),
    /// 416: no range of a `Range` request overlaps the representation
    /// (`Content-Range: bytes */complete_length`, RFC 9110 §15.5.17).
    RangeNotSatisfiable {
        /// The current length of the selected representation, in bytes.
        complete_length: u64,
    },
    /// 417: an `Expect` other than `100-continue`.
    ExpectationFailed,
    /// 421: the Host names no zone this edge serves.
    UnknownHost {
        /// The host the client asked for.
        host: String,
    },
    /// 403: the zone does not allow this protocol upgrade (e.g. WebSocket turned off).
    ///
    /// 403, not 426: 426 asks the client to switch *to* a protocol the server requires
    /// (and must name it in `Upgrade`); here the server understood the request and
    /// refuses the upgrade by policy (RFC 9110 §15.5.4). Ignoring `Upgrade`
    /// (RFC 9110 §7.8) would send a WebSocket handshake to the origin as a plain
    /// request, which helps no client.
    UpgradeRefused {
        /// The protocol asked for (`Upgrade` or HTTP/2 `:protocol`), e.g. `websocket`.
        protocol: String,
    },
    /// 429: a rate limit was exceeded.
    TooManyRequests(RateLimited),
    /// 431: the header section, one field, or the field count is over the limit.
    HeaderFieldsTooLarge(HeaderLimit),
    /// 451: a legal block rule matched.
    UnavailableForLegalReasons {
        /// URL of the party demanding the block (`Link: <…>; rel="blocked-by"`).
        blocked_by: String,
        /// The legal demand, explained to the client.
        explanation: String,
    },
    /// 413: the body, once its `Content-Encoding` is decoded, is over the limit
    /// (a decompression bomb, or simply too much data).
    DecodedBodyTooLarge {
        /// The limit on decoded bytes.
        limit: u64,
    },
    /// 500: the edge itself failed.
    Internal,
    /// 501: a transfer coding the edge does not implement.
    NotImplemented,
    /// The origin could not be used. The status follows the fault: 502, 504 for
    /// the timeouts, 503 when no origin is healthy or the origin's connection cap is
    /// reached (see [`OriginFault::status`]).
    BadGateway(OriginFault),
    /// 504: the origin did not answer in time (phase unknown; prefer
    /// `BadGateway(OriginFault::ConnectTimeout | ResponseTimeout)`).
    GatewayTimeout,
    /// 505: an HTTP version other than 1.0 / 1.1.
    HttpVersionNotSupported,
}

/// Each way a request can be malformed (all 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadRequest {
    /// The request line is not `method SP target SP version`.
    RequestLine,
    /// The method is not a token.
    Method,
    /// A header field line is not `name: value`.
    HeaderSyntax,
    /// A header field value holds a forbidden byte (control characters, NUL).
    HeaderValue,
    /// A field line starts with whitespace (obsolete line folding).
    ObsFold,
    /// A CR not followed by LF.
    BareCr,
    /// An LF not preceded by CR.
    BareLf,
    /// Whitespace between a field name and its colon.
    WhitespaceBeforeColon,
    /// Both Content-Length and Transfer-Encoding.
    ContentLengthWithTransferEncoding,
    /// Several Content-Length values that differ.
    ConflictingContentLength,
    /// A Content-Length that is not a decimal number.
    InvalidContentLength,
    /// Transfer-Encoding whose final coding is not chunked.
    ChunkedNotFinal,
    /// A chunk-size line that is not hex (or overflows).
    InvalidChunkSize,
    /// A chunk extension that is not `;name[=value]`.
    InvalidChunkExtension,
    /// Chunk data not followed by CRLF.
    InvalidChunkData,
    /// A malformed trailer section.
    InvalidTrailer,
    /// The request target holds bytes outside the allowed set (controls, space, > 0x7F).
    InvalidTarget,
    /// HTTP/1.1 request without Host.
    MissingHost,
    /// More than one Host field.
    DuplicateHost,
    /// A Host that is not a valid `uri-host[:port]`.
    InvalidHost,
    /// Absolute-form target whose authority differs from Host.
    HostMismatch,
    /// The body ended before its declared length.
    TruncatedBody,
    /// Transfer-Encoding in an HTTP/1.0 request: its framing is faulty (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// A Transfer-Encoding field that is not a list of tokens, or `chunked` with parameters.
    InvalidTransferEncoding,
    /// Several Content-Type fields (or values) that differ (RFC 9110 §8.3 allows one).
    AmbiguousContentType,
    /// An HTTP/2 request that is malformed (RFC 9113 §8.1.1), naming what is wrong.
    MalformedH2 {
        /// What is wrong, e.g. "missing :path" or "connection-specific header field".
        what: &'static str,
    },
}

impl BadRequest {
    /// Every sub-fault, in declaration order.
    pub const ALL: [BadRequest; 26] = [
        BadRequest::RequestLine,
        BadRequest::Method,
        BadRequest::HeaderSyntax,
        BadRequest::HeaderValue,
        BadRequest::ObsFold,
        BadRequest::BareCr,
        BadRequest::BareLf,
        BadRequest::WhitespaceBeforeColon,
        BadRequest::ContentLengthWithTransferEncoding,
        BadRequest::ConflictingContentLength,
        BadRequest::InvalidContentLength,
        BadRequest::ChunkedNotFinal,
        BadRequest::InvalidChunkSize,
        BadRequest::InvalidChunkExtension,
        BadRequest::InvalidChunkData,
        BadRequest::InvalidTrailer,
        BadRequest::InvalidTarget,
        BadRequest::MissingHost,
        BadRequest::DuplicateHost,
        BadRequest::InvalidHost,
        BadRequest::HostMismatch,
        BadRequest::TruncatedBody,
        BadRequest::TransferEncodingInHttp10,
        BadRequest::InvalidTransferEncoding,
        BadRequest::AmbiguousContentType,
        BadRequest::MalformedH2 {
            what: "missing :path pseudo-header",
        },
    ];
}

/// Which part of the request arrived too slowly (408).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutPhase {
    /// The header section.
    Header,
    /// The body.
    Body,
}

/// Which header limit was exceeded (431).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderLimit {
    /// The whole header section is over this many bytes.
    SectionTooLarge(usize),
    /// One field line is over `limit` bytes; `name` says which (RFC 6585 §5).
    FieldTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The field's name (as much of it as arrived, bounded).
        name: FieldName,
    },
    /// More than this many fields.
    TooManyFields(usize),
}

/// A header field name held inline (no allocation), for the 431 that names the field.
///
/// Holds at most [`FieldName::MAX`] bytes of the name, and only `tchar` bytes: a
/// name cut short (too long, or not a token) is marked truncated.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldName {
    bytes: [u8; FieldName::MAX],
    len: u8,
    truncated: bool,
}

impl FieldName {
    /// The most bytes of a name kept.
    pub const MAX: usize = 48;

    /// The name from the start of a raw field line (up to its colon, or all of it).
    pub fn from_line(line: &[u8]) -> Self {
        let name = line.split(|&b| b == b':').next().unwrap_or(line);
        let token = name.iter().take_while(|&&b| crate::field::is_tchar(b)).count();
        let len = token.min(Self::MAX);
        let mut bytes = [0; Self::MAX];
        bytes[..len].copy_from_slice(&name[..len]);
        FieldName {
            bytes,
            len: len as u8,
            truncated: len < name.len(),
        }
    }

    /// The (possibly truncated) name; ASCII `tchar`s only, possibly empty.
    pub fn as_str(&self) -> &str {
        // Only tchar (ASCII) bytes are stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// Whether bytes of the name were left out.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl std::fmt::Debug for FieldName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FieldName({:?}{})",
            self.as_str(),
            if self.truncated { "…" } else { "" }
        )
    }
}

/// Which security feature produced a 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForbiddenReason {
    /// A custom firewall rule.
    FirewallRule,
    /// A managed WAF rule.
    Waf,
    /// An IP / CIDR / country access rule.
    IpRule,
    /// The Browser Integrity Check.
    BrowserIntegrity,
    /// A path permission rule.
    PathPermission,
    /// TLS SNI host not covered by any certificate.
    TlsHostNotCovered,
    /// A challenge clearance that is missing, tampered or expired.
    ChallengeFailed,
    /// An access rule blocking the client's country or region.
    CountryRule,
}

impl ForbiddenReason {
    /// Every reason, in declaration order.
    pub const ALL: [ForbiddenReason; 8] = [
        ForbiddenReason::FirewallRule,
        ForbiddenReason::Waf,
        ForbiddenReason::IpRule,
        ForbiddenReason::BrowserIntegrity,
        ForbiddenReason::PathPermission,
        ForbiddenReason::TlsHostNotCovered,
        ForbiddenReason::ChallengeFailed,
        ForbiddenReason::CountryRule,
    ];
}

/// Why the origin could not be used (502, 503 or 504: see [`OriginFault::status`]).
///
/// Cloudflare's nearest 5xx is named on each; edgeward sends the standard status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OriginFault {
    /// Connection refused (Cloudflare 521).
    Refused,
    /// Connection reset or closed before a complete response head (Cloudflare 520).
    Reset,
    /// The origin's response was not valid HTTP (Cloudflare 520).
    InvalidResponse,
    /// No connection within the connect timeout (504; Cloudflare 522).
    ConnectTimeout,
    /// Connected and sent, but no response head within the response timeout (504; Cloudflare 524).
    ResponseTimeout,
    /// The TLS handshake with the origin failed (Cloudflare 525).
    TlsHandshake,
    /// The origin's certificate is invalid: expired, untrusted or for another name (Cloudflare 526).
    InvalidCertificate,
    /// Every origin of the zone is marked unhealthy (503).
    NoHealthyOrigin,
    /// The origin's connection cap is reached and the queue is full (503; Cloudflare 1200).
    ConnectionLimit,
}

impl OriginFault {
    /// Every fault, in declaration order.
    pub const ALL: [OriginFault; 9] = [
        OriginFault::Refused,
        OriginFault::Reset,
        OriginFault::InvalidResponse,
        OriginFault::ConnectTimeout,
        OriginFault::ResponseTimeout,
        OriginFault::TlsHandshake,
        OriginFault::InvalidCertificate,
        OriginFault::NoHealthyOrigin,
        OriginFault::ConnectionLimit,
    ];

    /// The status this fault is answered with.
    pub fn status(self) -> u16 {
        match self {
            OriginFault::ConnectTimeout | OriginFault::ResponseTimeout => 504,
            OriginFault::NoHealthyOrigin | OriginFault::ConnectionLimit => 503,
            _ => 502,
        }
    }
}

/// An authentication challenge (`WWW-Authenticate` / `Proxy-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthChallenge {
    /// `Basic realm="…", charset="UTF-8"` (RFC 7617).
    Basic {
        /// The protection space.
        realm: String,
    },
}

/// A non-empty list of methods (the `Allow` header of a 405).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodList(Vec<String>);

impl MethodList {
    /// A list of methods; `None` when empty, since a 405 must allow something.
    pub fn new<I, S>(methods: I) -> Option<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let v: Vec<String> = methods.into_iter().map(Into::into).collect();
        if v.is_empty() {
            None
        } else {
            Some(MethodList(v))
        }
    }

    /// The methods, in the order given.
    pub fn methods(&self) -> &[String] {
        &self.0
    }
}

/// What a 415 tells the client it may send instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaHint {
    /// Unsupported Content-Type: the accepted types (`Accept-Post`).
    ContentType(Vec<String>),
    /// Unsupported Content-Encoding: the accepted codings (`Accept-Encoding`).
    ContentEncoding(Vec<String>),
}

/// The data a 429 carries: the rule and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    /// The rate-limit rule's id.
    pub rule_id: String,
    /// Seconds until the client may retry (`Retry-After`).
    pub retry_after: u64,
    /// Requests allowed per window.
    pub limit: u64,
    /// The window in seconds.
    pub window: u64,
}

/// The broad class of an error, for clients that act on it (`error_category` in
/// problem+json, the `Edgeward-Error-Type` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The request is malformed, too large or too slow (400, 408, 411, 413, 414, 417, 431, 501, 505).
    Request,
    /// A security feature or credentials check refused the request (401, 403, 407).
    AccessDenied,
    /// A rate limit (429).
    RateLimit,
    /// A rule asks for payment (402).
    PaymentRequired,
    /// A legal block (451).
    Legal,
    /// The resource is not available in the form asked for (404, 405, 406, 410, 412, 415, 416, refused upgrade).
    Resource,
    /// The host names no zone of this edge (421).
    Routing,
    /// The origin's name does not resolve (409).
    Dns,
    /// TLS: a host no certificate covers, or the origin's TLS failed.
    Tls,
    /// The origin refused, failed or timed out.
    Origin,
    /// The edge itself failed (500).
    Edge,
}

impl ErrorCategory {
    /// The snake_case token used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Request => "request",
            ErrorCategory::AccessDenied => "access_denied",
            ErrorCategory::RateLimit => "rate_limit",
            ErrorCategory::PaymentRequired => "payment_required",
            ErrorCategory::Legal => "legal",
            ErrorCategory::Resource => "resource",
            ErrorCategory::Routing => "routing",
            ErrorCategory::Dns => "dns",
            ErrorCategory::Tls => "tls",
            ErrorCategory::Origin => "origin",
            ErrorCategory::Edge => "edge",
        }
    }
}

/// Where an error came from (the analytics `error source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorSource {
    /// HTTP syntax, framing, limits, timeouts.
    Protocol,
    /// The origin failed (DNS, connect, timeout).
    Origin,
    /// Zone routing and the edge's own endpoints.
    Edge,
    /// Custom rules.
    Rule,
    /// Managed WAF rules.
    Waf,
    /// IP access rules.
    IpRule,
    /// Rate limiting.
    RateLimit,
    /// Browser Integrity Check.
    BrowserCheck,
    /// Authentication.
    Auth,
    /// Legal blocks.
    Legal,
    /// Challenges.
    Challenge,
}
