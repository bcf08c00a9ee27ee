//! Request heads: from raw bytes to a typed, validated `RequestHead`.
//!
//! Owns RFC 9112 request-line and field semantics (Host, Content-Length,
//! Transfer-Encoding, Content-Type, Connection, Expect, target form). Does not
//! own body bytes (`body`) nor the per-zone policy on bodies
//! (`check_body_policy`, applied after routing).

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use edgeward_errors::{BadRequest, EdgeError, FieldName, HeaderLimit};

mod assemble;

use crate::scan::{is_tchar, scan_head};
use crate::target::{absolute_authority, same_authority, target_form, valid_host};
use crate::Limits;

/// Header slots kept on the stack while tokenising (larger `max_headers` use the heap).
const STACK_HEADERS: usize = 128;

/// HTTP versions the codec speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// The form of the request target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`
    Origin,
    /// `http://authority/path?query`
    Absolute,
    /// `host:port` (CONNECT)
    Authority,
    /// `*` (OPTIONS)
    Asterisk,
}

/// A parsed request head; every accessor borrows from one shared buffer.
#[derive(Debug, Clone)]
pub struct RequestHead {
    raw: Bytes,
    method: Range<usize>,
    target: Range<usize>,
    host: Range<usize>,
    fields: Vec<(Range<usize>, Range<usize>)>,
    /// HTTP version of the request.
    pub version: Version,
    /// The target's form.
    pub target_form: TargetForm,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
    underscore_names: bool,
}

impl RequestHead {
    /// The method token.
    pub fn method(&self) -> &str {
        // Validated as tchar-only (ASCII) during parsing.
        std::str::from_utf8(&self.raw[self.method.clone()]).unwrap_or("")
    }

    /// The raw request target.
    pub fn target(&self) -> &[u8] {
        &self.raw[self.target.clone()]
    }

    /// The request target as a string (checked to be visible ASCII).
    pub fn target_str(&self) -> &str {
        std::str::from_utf8(self.target()).unwrap_or("")
    }

    /// The path and query of the target (for absolute-form, the part after the authority).
    pub fn path_and_query(&self) -> &str {
        let t = self.target_str();
        match self.target_form {
            TargetForm::Absolute => {
                let rest = &t[t.find("://").map_or(0, |i| i + 3)..];
                rest.find('/').map_or("/", |i| &rest[i..])
            }
            _ => t,
        }
    }

    /// `path_and_query` as a slice of the head's shared buffer (no copy).
    pub fn path_and_query_shared(&self) -> Bytes {
        let pq = self.path_and_query();
        let start = (pq.as_ptr() as usize).checked_sub(self.raw.as_ptr() as usize);
        match start {
            Some(start) if start + pq.len() <= self.raw.len() => self.raw.slice(start..start + pq.len()),
            // The "/" of an absolute-form target without a path is not in the buffer.
            _ => Bytes::copy_from_slice(pq.as_bytes()),
        }
    }

    /// The path of the target, without the query.
    pub fn path(&self) -> &str {
        let pq = self.path_and_query();
        pq.split_once('?').map_or(pq, |(p, _)| p)
    }

    /// The authority the request is for: an absolute-form target's authority
    /// (which wins over Host, RFC 9112 §3.2.2), else the Host field as sent
    /// (for HTTP/1.0 without Host: empty).
    pub fn host(&self) -> &str {
        std::str::from_utf8(&self.raw[self.host.clone()]).unwrap_or("")
    }

    /// Whether any field name contains `_` (e.g. `Content_Length`). CGI and WSGI
    /// origins map `_` and `-` to one variable, so such fields can shadow real ones;
    /// a proxy drops them by default (see [`has_underscore`]).
    pub fn has_underscore_names(&self) -> bool {
        self.underscore_names
    }

    /// Whether this is a HEAD request.
    pub fn is_head(&self) -> bool {
        self.method() == "HEAD"
    }

    /// The header fields in order, as (name, value) byte slices.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|(n, v)| (&self.raw[n.clone()], &self.raw[v.clone()]))
    }

    /// The header fields as shared buffers, for zero-copy forwarding.
    pub fn headers_shared(&self) -> impl Iterator<Item = (&[u8], Bytes)> + '_ {
        self.fields
            .iter()
            .map(|(n, v)| (&self.raw[n.clone()], self.raw.slice(v.clone())))
    }

    /// The first value of the named header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

/// Whether a field name contains `_`, the per-field check behind
/// [`RequestHead::has_underscore_names`].
pub fn has_underscore(name: &[u8]) -> bool {
    memchr::memchr(b'_', name).is_some()
}

/// Checks the Content-Type values of one request: several field lines are
/// refused unless identical (RFC 9110 §8.3 allows one media type), since a body
/// read as one type by the edge and another by the origin slips past inspection.
/// For sessions that do not use [`parse_head`] (HTTP/2).
pub fn check_content_type<'v>(values: impl IntoIterator<Item = &'v [u8]>) -> Result<(), EdgeError> {
    let mut first: Option<&[u8]> = None;
    for value in values {
        let value = trim_ows(value);
        match first {
            Some(f) if f != value => return Err(EdgeError::BadRequest(BadRequest::AmbiguousContentType)),
            Some(_) => {}
            None => first = Some(value),
        }
    }
    Ok(())
}

/// Parses a request head from the front of `buf`, consuming it when complete.
///
/// `Ok(None)`: incomplete, read more. Errors are the typed edge errors the
/// connection answers before closing.
pub fn parse_head(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RequestHead>, EdgeError> {
    let Some(extent) = scan_head(buf, limits)? else {
        return Ok(None);
    };
    let _ = buf.split_to(extent.skip);
    let mut head = buf.split_to(extent.len);
    treat_higher_minor_as_http11(&mut head[..extent.request_line]);
    let raw = head.freeze();
    match parse_complete(raw.clone(), extent.request_line, limits) {
        Ok(parsed) => Ok(Some(parsed)),
        Err(e) => {
            // Put the refused head back: the error page still reads its Accept field.
            let mut restored = BytesMut::from(&raw[..]);
            restored.unsplit(std::mem::take(buf));
            *buf = restored;
            Err(e)
        }
    }
}

/// RFC 9110 §2.5: a message of a higher minor version of HTTP/1 is processed
/// as HTTP/1.1 (505 is for other major versions).
fn treat_higher_minor_as_http11(line: &mut [u8]) {
    if let [.., b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] = line {
        if minor.is_ascii_digit() && *minor > b'1' {
            *minor = b'1';
        }
    }
}

/// The value of the first field named `name` in a raw (possibly refused) head,
/// best effort: used to honour `Accept` when the head itself was refused.
pub fn sniff_header<'b>(head: &'b [u8], name: &str) -> Option<&'b [u8]> {
    let end = memchr::memmem::find(head, b"\r\n\r\n").unwrap_or(head.len());
    head[..end].split(|&b| b == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        line[..colon]
            .eq_ignore_ascii_case(name.as_bytes())
            .then(|| trim_ows(&line[colon + 1..]))
    })
}

/// Tokenises a complete, scanned head and applies RFC 9112 semantics.
fn parse_complete(raw: Bytes, request_line: usize, limits: &Limits) -> Result<RequestHead, EdgeError> {
    let line = &raw[..request_line];
    check_request_line(line, limits)?;
    // The scan already bounded the field count by `max_headers`; most limits fit on the stack.
    let mut on_stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut on_heap = Vec::new();
    let storage: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_headers <= STACK_HEADERS {
        &mut on_stack[..limits.max_headers]
    } else {
        on_heap.resize_with(limits.max_headers, MaybeUninit::uninit);
        &mut on_heap
    };
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(&raw, storage) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(EdgeError::BadRequest(BadRequest::HeaderSyntax)),
        Err(e) => return Err(classify_httparse_error(e, line, limits)),
    }
    let base = raw.as_ptr() as usize;
    let offset = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let method = offset(req.method.unwrap_or("").as_bytes());
    let target = offset(req.path.unwrap_or("").as_bytes());
    let version = if req.version == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    };
    let fields: Vec<_> = req
        .headers
        .iter()
        .map(|h| (offset(h.name.as_bytes()), offset(h.value)))
        .collect();
    let semantics = FieldSemantics::read(&raw, &fields, version)?;
    let target_form = target_form(&raw[method.clone()], &raw[target.clone()])?;
    let mut host = match (semantics.host.clone(), version) {
        (Some(h), _) => h,
        (None, Version::Http11) => return Err(EdgeError::BadRequest(BadRequest::MissingHost)),
        (None, Version::Http10) => 0..0,
    };
    if target_form == TargetForm::Absolute {
        // RFC 9112 §3.2.2: the target's authority wins. A Host naming another
        // authority (once case and default ports are set aside) is refused as
        // deceptive routing (SPEC §2) rather than silently overridden.
        let authority = offset(absolute_authority(&raw[target.clone()]));
        if semantics.host.is_some() && !same_authority(&raw[target.clone()], &raw[host.clone()]) {
            return Err(EdgeError::BadRequest(BadRequest::HostMismatch));
        }
        host = authority;
    }
    let framing = semantics.framing(version)?;
    check_content_type(semantics.content_types(&raw, &fields))?;
    let underscore_names = fields.iter().any(|(n, _)| has_underscore(&raw[n.clone()]));
    Ok(RequestHead {
        method,
        target,
        host,
        fields,
        version,
        target_form,
        framing,
        keep_alive: semantics.keep_alive(version),
        expect_continue: semantics.expect_continue && version == Version::Http11,
        underscore_names,
        raw,
    })
}

/// Checks the request line's tokens before httparse, to name faults precisely.
fn check_request_line(line: &[u8], limits: &Limits) -> Result<(), EdgeError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        // More than three tokens ending in a version: the target held a space.
        let spaced_target = line.split(|&b| b == b' ').filter(|t| !t.is_empty()).count() > 3
            && line
                .rsplit(|&b| b == b' ')
                .next()
                .is_some_and(|v| v.starts_with(b"HTTP/"))
            && !line.windows(2).any(|w| w == b"  ");
        let bad_byte = line.iter().any(|&b| b != b' ' && !(0x21..=0x7e).contains(&b));
        return Err(EdgeError::BadRequest(if spaced_target || bad_byte {
            BadRequest::InvalidTarget
        } else {
            BadRequest::RequestLine
        }));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(EdgeError::BadRequest(BadRequest::Method));
    }
    if target.len() > limits.max_target_bytes {
        return Err(EdgeError::UriTooLong {
            limit: limits.max_target_bytes,
        });
    }
    // A fragment is never part of a request target (RFC 9112 §3.2); passing one on would
    // let `/admin#` slip past a rule for `/admin` while the origin serves `/admin`.
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b'#') {
        return Err(EdgeError::BadRequest(BadRequest::InvalidTarget));
    }
    match version {
        b"HTTP/1.1" | b"HTTP/1.0" => Ok(()),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(EdgeError::HttpVersionNotSupported)
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => {
            Err(EdgeError::HttpVersionNotSupported)
        }
        _ => Err(EdgeError::BadRequest(BadRequest::RequestLine)),
    }
}

/// Maps an httparse failure on a pre-scanned head to the closest typed fault.
fn classify_httparse_error(e: httparse::Error, line: &[u8], limits: &Limits) -> EdgeError {
    match e {
        httparse::Error::TooManyHeaders => {
            EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(limits.max_headers))
        }
        httparse::Error::HeaderName => EdgeError::BadRequest(BadRequest::HeaderSyntax),
        httparse::Error::HeaderValue => EdgeError::BadRequest(BadRequest::HeaderValue),
        httparse::Error::Token => EdgeError::BadRequest(BadRequest::Method),
        httparse::Error::NewLine if line.contains(&b'\r') => EdgeError::BadRequest(BadRequest::BareCr),
        _ => EdgeError::BadRequest(BadRequest::RequestLine),
    }
}

/// What the framing-relevant fields say, gathered in one pass.
#[derive(Default)]
struct FieldSemantics {
    host: Option<Range<usize>>,
    content_length: Option<u64>,
    transfer_encoding: bool,
    invalid_coding: bool,
    chunked_final: bool,
    chunked_count: usize,
    unknown_coding: bool,
    content_type_fields: usize,
    close: bool,
    keep_alive_token: bool,
    expect_continue: bool,
}

impl FieldSemantics {
    fn read(
        raw: &[u8],
        fields: &[(Range<usize>, Range<usize>)],
        version: Version,
    ) -> Result<Self, EdgeError> {
        let mut s = FieldSemantics::default();
        for (n, v) in fields {
            let name = &raw[n.clone()];
            let value = &raw[v.clone()];
            if name.eq_ignore_ascii_case(b"host") {
                if s.host.is_some() {
                    return Err(EdgeError::BadRequest(BadRequest::DuplicateHost));
                }
                if !valid_host(value) {
                    return Err(EdgeError::BadRequest(BadRequest::InvalidHost));
                }
                s.host = Some(v.clone());
            } else if name.eq_ignore_ascii_case(b"content-length") {
                s.add_content_length(value)?;
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                s.add_transfer_encoding(value);
            } else if name.eq_ignore_ascii_case(b"content-type") {
                s.content_type_fields += 1;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in list_items(value) {
                    s.close |= token.eq_ignore_ascii_case(b"close");
                    s.keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case(b"expect") {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    s.expect_continue = true;
                } else if version == Version::Http11 {
                    return Err(EdgeError::ExpectationFailed);
                }
            }
        }
        Ok(s)
    }

    fn add_content_length(&mut self, value: &[u8]) -> Result<(), EdgeError> {
        let invalid = || EdgeError::BadRequest(BadRequest::InvalidContentLength);
        for item in value.split(|&b| b == b',') {
            let item = trim_ows(item);
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                return Err(invalid());
            }
            // 1*DIGIT allows leading zeros; a value past u64 is refused, never wrapped
            // (RFC 9112 §6.3: anticipate large numerals).
            let n = item.iter().try_fold(0u64, |acc, &d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            let n = n.ok_or_else(invalid)?;
            match self.content_length {
                Some(prev) if prev != n => {
                    return Err(EdgeError::BadRequest(BadRequest::ConflictingContentLength))
                }
                _ => self.content_length = Some(n),
            }
        }
        Ok(())
    }

    /// `Transfer-Encoding = #( token *( OWS ";" OWS token BWS "=" BWS ( token / quoted-string ) ) )`
    /// (RFC 9112 §6.1, RFC 9110 §10.1.4); `chunked` defines no parameters, so
    /// any is refused (RFC 9112 §7: "SHOULD be treated as an error").
    fn add_transfer_encoding(&mut self, value: &[u8]) {
        self.transfer_encoding = true;
        for coding in list_items(value) {
            let mut parts = coding.split(|&b| b == b';');
            let name = trim_ows(parts.next().unwrap_or(coding));
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            let mut params = 0;
            for param in parts {
                params += 1;
                self.invalid_coding |= !valid_transfer_parameter(trim_ows(param));
            }
            self.invalid_coding |= name.is_empty() || !name.iter().all(|&b| is_tchar(b));
            self.invalid_coding |= chunked && params > 0;
            self.chunked_count += usize::from(chunked);
            self.unknown_coding |= !chunked;
            self.chunked_final = chunked;
        }
    }

    /// The values of every Content-Type field (none read unless there are several).
    fn content_types<'r>(
        &self,
        raw: &'r [u8],
        fields: &'r [(Range<usize>, Range<usize>)],
    ) -> impl Iterator<Item = &'r [u8]> + 'r {
        let several = self.content_type_fields > 1;
        fields
            .iter()
            .filter(move |(n, _)| several && raw[n.clone()].eq_ignore_ascii_case(b"content-type"))
            .map(move |(_, v)| &raw[v.clone()])
    }

    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http10 => self.keep_alive_token && !self.close,
            Version::Http11 => !self.close,
        }
    }

    /// The body length by RFC 9112 §6.3, its rules in order (a request has no
    /// rules 1 and 2, which are about responses).
    fn framing(&self, version: Version) -> Result<BodyFraming, EdgeError> {
        if self.transfer_encoding {
            // §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing, even with a
            // Content-Length; a request with faulty framing gets 400 and a close.
            if version == Version::Http10 {
                return Err(EdgeError::BadRequest(BadRequest::TransferEncodingInHttp10));
            }
            // §6.3 rule 3: both fields — refuse (the connection closes after the 400).
            if self.content_length.is_some() {
                return Err(EdgeError::BadRequest(
                    BadRequest::ContentLengthWithTransferEncoding,
                ));
            }
            if self.invalid_coding || self.chunked_count + usize::from(self.unknown_coding) == 0 {
                return Err(EdgeError::BadRequest(BadRequest::InvalidTransferEncoding));
            }
            // §6.3 rule 4: chunked must be final (and, §6.1, applied once).
            if !self.chunked_final || self.chunked_count != 1 {
                return Err(EdgeError::BadRequest(BadRequest::ChunkedNotFinal));
            }
            if self.unknown_coding {
                return Err(EdgeError::NotImplemented);
            }
            return Ok(BodyFraming::Chunked);
        }
        // The body limit is the zone's, judged after routing (`check_body_policy`).
        match self.content_length {
            Some(0) | None => Ok(BodyFraming::None),
            Some(n) => Ok(BodyFraming::Length(n)),
        }
    }
}

/// Checks a routed request's head against its zone's head limits (414, 431).
///
/// Heads are read under the listener's `[limits]` before the zone is known, so a
/// zone can only tighten them: this re-checks the parsed head once routed.
pub fn check_head_limits(head: &RequestHead, limits: &Limits) -> Result<(), EdgeError> {
    if head.target().len() > limits.max_target_bytes {
        return Err(EdgeError::UriTooLong {
            limit: limits.max_target_bytes,
        });
    }
    if head.fields.len() > limits.max_headers {
        return Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(
            limits.max_headers,
        )));
    }
    let mut section = 0;
    for (name, value) in &head.fields {
        // name ": " value CRLF, as on the wire (optional whitespace aside).
        let line = name.len() + 2 + value.len();
        if line > limits.max_field_bytes {
            return Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge {
                limit: limits.max_field_bytes,
                name: FieldName::from_line(&head.raw[name.clone()]),
            }));
        }
        section += line + 2;
    }
    if section > limits.max_header_bytes {
        return Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(
            limits.max_header_bytes,
        )));
    }
    Ok(())
}

/// Checks a routed request against its zone's body policy (411, 413).
pub fn check_body_policy(head: &RequestHead, limits: &Limits) -> Result<(), EdgeError> {
    let carries_body = matches!(head.method(), "POST" | "PUT" | "PATCH");
    let has_length = head.header("content-length").is_some();
    if limits.require_content_length && carries_body && !has_length {
        return Err(EdgeError::LengthRequired);
    }
    if let BodyFraming::Length(n) = head.framing {
        if n > limits.max_body_bytes {
            return Err(EdgeError::PayloadTooLarge {
                limit: limits.max_body_bytes,
                retry_after: limits.body_retry_after,
            });
        }
    }
    Ok(())
}

/// `token BWS "=" BWS ( token / quoted-string )`, the parameter of a transfer coding.
fn valid_transfer_parameter(param: &[u8]) -> bool {
    let Some(eq) = param.iter().position(|&b| b == b'=') else {
        return false;
    };
    let (name, value) = (trim_ows(&param[..eq]), trim_ows(&param[eq + 1..]));
    let token = |t: &[u8]| !t.is_empty() && t.iter().all(|&b| is_tchar(b));
    let quoted = value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"';
    token(name) && (token(value) || quoted)
}

/// Items of a comma-separated list field, trimmed, empty items skipped (RFC 9110 §5.6.1).
pub fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|i| !i.is_empty())
}

/// Trims optional whitespace (SP / HTAB) from both ends.
pub fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests;
