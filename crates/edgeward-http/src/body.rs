//! Request body decoding: Content-Length and chunked (with trailers), incrementally.
//!
//! Owns the chunked grammar of RFC 9112 §7.1 and the body size limit. The
//! decoder never buffers a whole body: each call yields the data bytes that are
//! available, so the connection can stream them onward. It does no I/O.

use bytes::{Buf, Bytes, BytesMut};
use edgeward_errors::{BadRequest, EdgeError};
use memchr::memchr;

use crate::request::BodyFraming;
use crate::scan::{is_field_byte, is_tchar, without_pending_cr};

/// Longest chunk-size line accepted (size, extensions, CRLF).
const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section accepted.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// What one decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyEvent {
    /// Body bytes, in order.
    Data(Bytes),
    /// The body is complete; for chunked bodies, the raw trailer field lines (may be empty).
    End(Bytes),
    /// Nothing decodable yet: read more bytes.
    NeedMore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Content-Length body with this many bytes left.
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside chunk data with this many bytes left.
    ChunkData(u64),
    /// Expecting the CRLF after chunk data.
    ChunkDataEnd,
    /// Expecting trailer fields or the final CRLF.
    Trailers,
    /// The body is complete.
    Done,
}

/// An incremental decoder for one request body.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    received: u64,
    max_body: u64,
    retry_after: Option<u64>,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`, refusing more than `max_body` bytes (413).
    pub fn new(framing: BodyFraming, max_body: u64) -> Self {
        let state = match framing {
            BodyFraming::None | BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(n) => State::Length(n),
            BodyFraming::Chunked => State::ChunkSize,
        };
        BodyDecoder {
            state,
            received: 0,
            max_body,
            retry_after: None,
        }
    }

    /// Says a 413 from this decoder is temporary: retry after `secs` seconds.
    pub fn with_retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after = secs;
        self
    }

    fn too_large(&self) -> EdgeError {
        EdgeError::PayloadTooLarge {
            limit: self.max_body,
            retry_after: self.retry_after,
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes decoded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Decodes from the front of `buf`, consuming what it used.
    ///
    /// Returns `End` exactly once; after it, further calls return `End` with no trailers.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, EdgeError> {
        loop {
            match self.state {
                State::Done => return Ok(BodyEvent::End(Bytes::new())),
                State::Length(left) => {
                    if buf.is_empty() {
                        return Ok(BodyEvent::NeedMore);
                    }
                    let take = take_len(left, buf.len());
                    self.state = if take as u64 == left {
                        State::Done
                    } else {
                        State::Length(left - take as u64)
                    };
                    return self.data(buf.split_to(take).freeze());
                }
                State::ChunkSize => match self.chunk_size(buf)? {
                    None => return Ok(BodyEvent::NeedMore),
                    Some(0) => self.state = State::Trailers,
                    Some(n) => self.state = State::ChunkData(n),
                },
                State::ChunkData(left) => {
                    if buf.is_empty() {
                        return Ok(BodyEvent::NeedMore);
                    }
                    let take = take_len(left, buf.len());
                    self.state = if take as u64 == left {
                        State::ChunkDataEnd
                    } else {
                        State::ChunkData(left - take as u64)
                    };
                    return self.data(buf.split_to(take).freeze());
                }
                State::ChunkDataEnd => match buf.get(..2) {
                    None if buf.first().is_none_or(|&b| b == b'\r') => return Ok(BodyEvent::NeedMore),
                    Some(b"\r\n") => {
                        buf.advance(2);
                        self.state = State::ChunkSize;
                    }
                    _ => return Err(EdgeError::BadRequest(BadRequest::InvalidChunkData)),
                },
                State::Trailers => {
                    return match trailer_section(buf)? {
                        None => Ok(BodyEvent::NeedMore),
                        Some(len) => {
                            let section = buf.split_to(len).freeze();
                            self.state = State::Done;
                            Ok(BodyEvent::End(section.slice(..len - 2)))
                        }
                    };
                }
            }
        }
    }

    fn data(&mut self, bytes: Bytes) -> Result<BodyEvent, EdgeError> {
        self.received += bytes.len() as u64;
        if self.received > self.max_body {
            return Err(self.too_large());
        }
        Ok(BodyEvent::Data(bytes))
    }

    /// Parses `chunk-size [ chunk-ext ] CRLF`, consuming it when complete.
    fn chunk_size(&mut self, buf: &mut BytesMut) -> Result<Option<u64>, EdgeError> {
        let Some(lf) = memchr(b'\n', buf) else {
            if without_pending_cr(buf) > MAX_CHUNK_LINE {
                return Err(EdgeError::BadRequest(BadRequest::InvalidChunkSize));
            }
            return Ok(None);
        };
        if lf == 0 || buf[lf - 1] != b'\r' {
            return Err(EdgeError::BadRequest(BadRequest::BareLf));
        }
        if lf - 1 > MAX_CHUNK_LINE {
            return Err(EdgeError::BadRequest(BadRequest::InvalidChunkSize));
        }
        let line = &buf[..lf - 1];
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        // 1*HEXDIG allows leading zeros; more than 16 significant digits overflow u64.
        let zeros = line[..digits].iter().take_while(|&&b| b == b'0').count();
        if digits == 0 || digits - zeros > 16 {
            return Err(EdgeError::BadRequest(BadRequest::InvalidChunkSize));
        }
        let size = line[zeros..digits]
            .iter()
            .fold(0u64, |acc, &d| (acc << 4) | u64::from(hex_value(d)));
        check_chunk_extensions(&line[digits..])?;
        if self.received.saturating_add(size) > self.max_body {
            return Err(self.too_large());
        }
        buf.advance(lf + 1);
        Ok(Some(size))
    }
}

fn take_len(left: u64, available: usize) -> usize {
    usize::try_from(left).map_or(available, |l| l.min(available))
}

fn hex_value(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d - b'A' + 10,
    }
}

/// `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] )` where
/// ext-value is a token or quoted-string (RFC 9112 §7.1.1).
///
/// Bad whitespace is accepted where the grammar has BWS (before `;`, around `=`)
/// and nowhere else: whitespace after the size or an extension with no `;`
/// following (`5 \r\n`) is refused, as the grammar has no place for it.
fn check_chunk_extensions(mut s: &[u8]) -> Result<(), EdgeError> {
    let bad = || EdgeError::BadRequest(BadRequest::InvalidChunkExtension);
    if s.contains(&b'\r') {
        return Err(EdgeError::BadRequest(BadRequest::BareCr));
    }
    let mut first = true;
    while !s.is_empty() {
        let Some(rest) = skip_bws(s).strip_prefix(b";") else {
            // Right after the size, whitespace or more digits mean a bad size.
            return Err(if first && matches!(s[0], b' ' | b'\t') {
                EdgeError::BadRequest(BadRequest::InvalidChunkSize)
            } else {
                bad()
            });
        };
        first = false;
        s = skip_bws(rest);
        let name = s.iter().take_while(|&&b| is_tchar(b)).count();
        if name == 0 {
            return Err(bad());
        }
        s = &s[name..];
        if let Some(rest) = skip_bws(s).strip_prefix(b"=") {
            s = skip_bws(rest);
            s = if s.first() == Some(&b'"') {
                skip_quoted_string(s).ok_or_else(bad)?
            } else {
                let value = s.iter().take_while(|&&b| is_tchar(b)).count();
                if value == 0 {
                    return Err(bad());
                }
                &s[value..]
            };
        }
    }
    Ok(())
}

fn skip_bws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

/// Skips a quoted-string (RFC 9110 §5.6.4) at the start of `s`.
fn skip_quoted_string(s: &[u8]) -> Option<&[u8]> {
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(&s[i + 1..]),
            b'\\' if i + 1 < s.len() && is_field_byte(s[i + 1]) => i += 2,
            b if is_field_byte(b) => i += 1,
            _ => return None,
        }
    }
    None
}

/// Finds the end of a trailer section (field lines then CRLF); `None` if incomplete.
fn trailer_section(buf: &[u8]) -> Result<Option<usize>, EdgeError> {
    let mut pos = 0;
    loop {
        let Some(lf) = memchr(b'\n', &buf[pos..]) else {
            if without_pending_cr(buf) > MAX_TRAILER_BYTES {
                return Err(EdgeError::BadRequest(BadRequest::InvalidTrailer));
            }
            return Ok(None);
        };
        if lf == 0 || buf[pos + lf - 1] != b'\r' {
            return Err(EdgeError::BadRequest(BadRequest::BareLf));
        }
        let line = &buf[pos..pos + lf - 1];
        pos += lf + 1;
        if line.is_empty() {
            return Ok(Some(pos));
        }
        if pos > MAX_TRAILER_BYTES || !valid_field_line(line) {
            return Err(EdgeError::BadRequest(BadRequest::InvalidTrailer));
        }
    }
}

fn valid_field_line(line: &[u8]) -> bool {
    match memchr(b':', line) {
        Some(colon) if colon > 0 => {
            line[..colon].iter().all(|&b| is_tchar(b)) && line[colon + 1..].iter().all(|&b| is_field_byte(b))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the data and trailers.
    fn decode_all(framing: BodyFraming, input: &[u8], step: usize) -> Result<(Vec<u8>, Bytes), EdgeError> {
        let mut dec = BodyDecoder::new(framing, 1 << 20);
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let mut fed = 0;
        loop {
            match dec.decode(&mut buf)? {
                BodyEvent::Data(d) => data.extend_from_slice(&d),
                BodyEvent::End(t) => return Ok((data, t)),
                BodyEvent::NeedMore => {
                    assert!(fed < input.len(), "decoder wants more than the whole input");
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn content_length_body_in_any_split() {
        for step in 1..8 {
            let (data, _) = decode_all(BodyFraming::Length(11), b"hello world", step).unwrap();
            assert_eq!(data, b"hello world");
        }
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers_in_any_split() {
        let body = b"5;a=b;c=\"q\\\"x\"\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n";
        assert!(body.starts_with(b"5;a=b;c="));
        for step in 1..10 {
            let (data, trailers) = decode_all(BodyFraming::Chunked, body, step).unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(&trailers[..], b"X-Sum: 1\r\n");
        }
    }

    #[test]
    fn chunked_faults_are_named() {
        let err = |b: &[u8]| decode_all(BodyFraming::Chunked, b, 64).unwrap_err();
        assert_eq!(err(b"z\r\n"), EdgeError::BadRequest(BadRequest::InvalidChunkSize));
        assert_eq!(err(b"\r\n"), EdgeError::BadRequest(BadRequest::InvalidChunkSize));
        assert_eq!(
            err(b"11111111111111111\r\n"),
            EdgeError::BadRequest(BadRequest::InvalidChunkSize)
        );
        assert_eq!(
            err(b"5 5\r\n"),
            EdgeError::BadRequest(BadRequest::InvalidChunkSize)
        );
        assert_eq!(
            err(b"5;\r\n"),
            EdgeError::BadRequest(BadRequest::InvalidChunkExtension)
        );
        assert_eq!(
            err(b"5;a=\"x\r\n"),
            EdgeError::BadRequest(BadRequest::InvalidChunkExtension)
        );
        assert_eq!(err(b"5\n"), EdgeError::BadRequest(BadRequest::BareLf));
        assert_eq!(
            err(b"5\r\nhelloXX"),
            EdgeError::BadRequest(BadRequest::InvalidChunkData)
        );
        assert_eq!(
            err(b"0\r\nbad trailer\r\n\r\n"),
            EdgeError::BadRequest(BadRequest::InvalidTrailer)
        );
    }

    #[test]
    fn chunk_line_whitespace_follows_the_grammar() {
        let ok = |b: &[u8]| decode_all(BodyFraming::Chunked, b, 3).map(|(d, _)| d);
        let err = |b: &[u8]| decode_all(BodyFraming::Chunked, b, 64).unwrap_err();
        // BWS before ";" and around "=" is the grammar's (RFC 9112 §7.1.1).
        assert_eq!(ok(b"1 ;a\r\nx\r\n0\r\n\r\n").unwrap(), b"x");
        assert_eq!(ok(b"1\t; a = b ;c=\"d\"\r\nx\r\n0 ;e\r\n\r\n").unwrap(), b"x");
        // Whitespace with no extension after it has no place in the grammar.
        for bad in [
            &b"1 \r\nx\r\n0\r\n\r\n"[..],
            b"1\t\r\nx\r\n0\r\n\r\n",
            b"0 \r\n\r\n",
        ] {
            assert_eq!(
                err(bad),
                EdgeError::BadRequest(BadRequest::InvalidChunkSize),
                "{bad:?}"
            );
        }
        for bad in [
            &b"1;a \r\nx\r\n"[..],
            b"1;a=b\t\r\nx\r\n",
            b"1;a=\"b\" \r\nx\r\n",
            b"1 ; \r\n",
        ] {
            assert_eq!(
                err(bad),
                EdgeError::BadRequest(BadRequest::InvalidChunkExtension),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn chunk_sizes_may_have_leading_zeros_but_not_overflow() {
        let (data, _) = decode_all(
            BodyFraming::Chunked,
            b"00000000000000000001\r\nx\r\n000\r\n\r\n",
            5,
        )
        .unwrap();
        assert_eq!(data, b"x");
        let err = decode_all(BodyFraming::Chunked, b"010000000000000000\r\n", 64).unwrap_err();
        assert_eq!(err, EdgeError::BadRequest(BadRequest::InvalidChunkSize));
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, u64::MAX);
        let mut buf = BytesMut::from(&b"0ffffffffffffffff\r\n"[..]);
        assert_eq!(dec.decode(&mut buf), Ok(BodyEvent::NeedMore));
    }

    #[test]
    fn body_limit_is_enforced_for_both_framings() {
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, 4);
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(EdgeError::PayloadTooLarge { limit: 4, .. })
        ));
        let mut dec = BodyDecoder::new(BodyFraming::Length(10), 4);
        let mut buf = BytesMut::from(&b"0123456789"[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(EdgeError::PayloadTooLarge { limit: 4, .. })
        ));
    }

    #[test]
    fn bytes_after_the_body_stay_in_the_buffer() {
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, 100);
        let mut buf = BytesMut::from(&b"1\r\na\r\n0\r\n\r\nGET /"[..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            BodyEvent::Data(Bytes::from_static(b"a"))
        );
        assert_eq!(dec.decode(&mut buf).unwrap(), BodyEvent::End(Bytes::new()));
        assert_eq!(&buf[..], b"GET /");
        assert!(dec.is_done());
    }
}
