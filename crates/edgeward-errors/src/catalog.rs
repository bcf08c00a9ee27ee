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

mod explain;
mod headers;
mod meta;
#[cfg(test)]
mod tests;

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
    /// 417: an `Expect` other than `100-continue`.
    ExpectationFailed,
    /// 421: the Host names no zone this edge serves.
    UnknownHost {
        /// The host the client asked for.
        host: String,
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
    /// 500: the edge itself failed.
    Internal,
    /// 501: a transfer coding the edge does not implement.
    NotImplemented,
    /// 502: the origin refused, reset or answered garbage.
    BadGateway(OriginFault),
    /// 504: the origin did not answer in time.
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
}

impl BadRequest {
    /// Every sub-fault, in declaration order.
    pub const ALL: [BadRequest; 22] = [
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
    /// One field line is over this many bytes.
    FieldTooLarge(usize),
    /// More than this many fields.
    TooManyFields(usize),
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
}

impl ForbiddenReason {
    /// Every reason, in declaration order.
    pub const ALL: [ForbiddenReason; 7] = [
        ForbiddenReason::FirewallRule,
        ForbiddenReason::Waf,
        ForbiddenReason::IpRule,
        ForbiddenReason::BrowserIntegrity,
        ForbiddenReason::PathPermission,
        ForbiddenReason::TlsHostNotCovered,
        ForbiddenReason::ChallengeFailed,
    ];
}

/// Why the origin could not be used (502).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OriginFault {
    /// Connection refused.
    Refused,
    /// Connection reset or closed before a complete response head.
    Reset,
    /// The origin's response was not valid HTTP.
    InvalidResponse,
}

impl OriginFault {
    /// Every fault, in declaration order.
    pub const ALL: [OriginFault; 3] = [
        OriginFault::Refused,
        OriginFault::Reset,
        OriginFault::InvalidResponse,
    ];
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
