//! Byte-level scan of a request head: line structure and size limits.
//!
//! httparse tokenises, but it accepts bare LF line endings and reports every
//! other fault with one coarse error. This scan runs first, line by line, so
//! that each fault gets its own typed error (bare CR, bare LF, obs-fold,
//! whitespace before the colon) and size limits are enforced before a head is
//! complete. It does not interpret fields: `request` does.

use edgeward_errors::{BadRequest, EdgeError, FieldName, HeaderLimit};
use memchr::memchr;

use crate::Limits;

/// Where the head ends, once the scan found its terminating empty line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadExtent {
    /// Bytes of leading empty lines skipped before the request line.
    pub skip: usize,
    /// Length of the head (request line, fields, final CRLF) after `skip`.
    pub len: usize,
    /// Length of the request line without its CRLF.
    pub request_line: usize,
}

/// Leading empty lines tolerated before a request line (RFC 9112 §2.2 says "at least one").
const MAX_LEADING_EMPTY_LINES: usize = 8;

/// Slack for method and version around the target when bounding the request line.
const REQUEST_LINE_SLACK: usize = 64;

/// Scans `buf` for a complete, well-formed request head.
///
/// `Ok(None)` means more bytes are needed; limits are checked on partial input
/// so that an endless line is refused as soon as it passes its limit.
pub(crate) fn scan_head(buf: &[u8], limits: &Limits) -> Result<Option<HeadExtent>, EdgeError> {
    let skip = match skip_empty_lines(buf)? {
        Some(skip) => skip,
        None => return Ok(None),
    };
    let head = &buf[skip..];
    let line_limit = limits.max_target_bytes + REQUEST_LINE_SLACK;
    let Some(lf) = memchr(b'\n', head) else {
        if without_pending_cr(head) > line_limit {
            return Err(EdgeError::UriTooLong {
                limit: limits.max_target_bytes,
            });
        }
        check_partial_no_cr(head)?;
        return Ok(None);
    };
    // Limits are judged before the line ending, as on a partial line: a head gets
    // the same verdict however it is split into reads.
    let request_line = content_len(head, lf);
    if request_line > line_limit {
        return Err(EdgeError::UriTooLong {
            limit: limits.max_target_bytes,
        });
    }
    line_end(head, lf)?;
    if memchr(b'\r', &head[..request_line]).is_some() {
        return Err(EdgeError::BadRequest(BadRequest::BareCr));
    }

    let mut pos = lf + 1;
    let mut fields = 0usize;
    loop {
        let rest = &head[pos..];
        let Some(lf) = memchr(b'\n', rest) else {
            check_partial_field(rest, fields, pos - request_line, limits)?;
            return Ok(None);
        };
        let end = content_len(rest, lf);
        if end == 0 {
            line_end(rest, lf)?;
            return Ok(Some(HeadExtent {
                skip,
                len: pos + lf + 1,
                request_line,
            }));
        }
        let line = &rest[..end];
        // The checks of `check_partial_field`, in its order, then the line's syntax.
        fields += 1;
        if fields > limits.max_headers {
            return Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(
                limits.max_headers,
            )));
        }
        if end > limits.max_field_bytes {
            return Err(field_too_large(line, limits));
        }
        if pos - request_line + end > limits.max_header_bytes {
            return Err(section_too_large(limits));
        }
        line_end(rest, lf)?;
        check_field_line(line)?;
        pos += lf + 1;
        if pos - request_line > limits.max_header_bytes {
            return Err(section_too_large(limits));
        }
    }
}

fn section_too_large(limits: &Limits) -> EdgeError {
    EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(limits.max_header_bytes))
}

/// The length of the line ending at the LF at `lf`, without its CR if it has one.
fn content_len(buf: &[u8], lf: usize) -> usize {
    if lf > 0 && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    }
}

/// Skips up to a few CRLFs before the request line; `None` if only those arrived so far.
fn skip_empty_lines(buf: &[u8]) -> Result<Option<usize>, EdgeError> {
    let mut skip = 0;
    for _ in 0..=MAX_LEADING_EMPTY_LINES {
        match &buf[skip..] {
            [] | [b'\r'] => return Ok(None),
            [b'\r', b'\n', ..] => skip += 2,
            [b'\n', ..] => return Err(EdgeError::BadRequest(BadRequest::BareLf)),
            [b'\r', _, ..] => return Err(EdgeError::BadRequest(BadRequest::BareCr)),
            _ => return Ok(Some(skip)),
        }
    }
    Err(EdgeError::BadRequest(BadRequest::RequestLine))
}

/// The length of the line ending at the LF at `lf`, which must be preceded by CR.
fn line_end(buf: &[u8], lf: usize) -> Result<usize, EdgeError> {
    if lf == 0 || buf[lf - 1] != b'\r' {
        return Err(EdgeError::BadRequest(BadRequest::BareLf));
    }
    Ok(lf - 1)
}

/// Rejects a CR inside a line that has not ended yet, unless it is the last byte
/// (which may be the start of the line's CRLF).
fn check_partial_no_cr(line: &[u8]) -> Result<(), EdgeError> {
    match memchr(b'\r', line) {
        Some(i) if i + 1 == line.len() => Ok(()),
        Some(_) => Err(EdgeError::BadRequest(BadRequest::BareCr)),
        None => Ok(()),
    }
}

/// Bounds a field line that has not ended yet.
/// The checks run in the order the complete-line path runs them (count, size,
/// section, then syntax), so a head gets the same verdict however it is split.
fn check_partial_field(
    rest: &[u8],
    fields: usize,
    section_so_far: usize,
    limits: &Limits,
) -> Result<(), EdgeError> {
    let len = without_pending_cr(rest);
    // A started line other than the final empty one will be one more field.
    if len > 0 && fields + 1 > limits.max_headers {
        return Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(
            limits.max_headers,
        )));
    }
    if len > limits.max_field_bytes {
        return Err(field_too_large(rest, limits));
    }
    if section_so_far + len > limits.max_header_bytes {
        return Err(section_too_large(limits));
    }
    check_partial_no_cr(rest)
}

/// The 431 for one field line over the limit, naming the field (RFC 6585 §5).
pub(crate) fn field_too_large(line: &[u8], limits: &Limits) -> EdgeError {
    EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge {
        limit: limits.max_field_bytes,
        name: FieldName::from_line(line),
    })
}

/// The length of a partial line not counting a final CR, which may be the
/// start of its CRLF: a line at exactly its limit is then judged the same
/// whether it arrives whole or split after the CR.
pub(crate) fn without_pending_cr(partial: &[u8]) -> usize {
    partial.len() - usize::from(partial.last() == Some(&b'\r'))
}

/// Checks one complete field line (without CRLF) for the faults httparse would blur.
fn check_field_line(line: &[u8]) -> Result<(), EdgeError> {
    if matches!(line[0], b' ' | b'\t') {
        return Err(EdgeError::BadRequest(BadRequest::ObsFold));
    }
    if memchr(b'\r', line).is_some() {
        return Err(EdgeError::BadRequest(BadRequest::BareCr));
    }
    let Some(colon) = memchr(b':', line) else {
        return Err(EdgeError::BadRequest(BadRequest::HeaderSyntax));
    };
    let name = &line[..colon];
    if name.is_empty() {
        return Err(EdgeError::BadRequest(BadRequest::HeaderSyntax));
    }
    if matches!(name[name.len() - 1], b' ' | b'\t') {
        return Err(EdgeError::BadRequest(BadRequest::WhitespaceBeforeColon));
    }
    if !name.iter().all(|&b| is_tchar(b)) {
        return Err(EdgeError::BadRequest(BadRequest::HeaderSyntax));
    }
    let value = &line[colon + 1..];
    if !value.iter().all(|&b| is_field_byte(b)) {
        return Err(EdgeError::BadRequest(BadRequest::HeaderValue));
    }
    Ok(())
}

/// `tchar` of RFC 9110 §5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' |
        b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// A byte allowed in a field value: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5).
pub(crate) fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8]) -> Result<Option<HeadExtent>, EdgeError> {
        scan_head(bytes, &Limits::default())
    }

    fn bad(fault: BadRequest) -> Result<Option<HeadExtent>, EdgeError> {
        Err(EdgeError::BadRequest(fault))
    }

    #[test]
    fn complete_head_has_its_extent() {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        assert_eq!(
            scan(req),
            Ok(Some(HeadExtent {
                skip: 0,
                len: req.len() - 4,
                request_line: 14
            }))
        );
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let ext = scan(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(ext.skip, 4);
    }

    #[test]
    fn partial_heads_need_more() {
        for cut in 0..26 {
            let req = &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..cut];
            assert_eq!(scan(req), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn line_faults_are_named() {
        assert_eq!(scan(b"GET / HTTP/1.1\nHost: a\r\n\r\n"), bad(BadRequest::BareLf));
        assert_eq!(scan(b"GET / HTTP/1.1\r\nHost: a\n\r\n"), bad(BadRequest::BareLf));
        assert_eq!(scan(b"GET / HTTP/1.1\r\nHost: a\r\n\n"), bad(BadRequest::BareLf));
        assert_eq!(scan(b"GET /\r HTTP/1.1\r\n\r\n"), bad(BadRequest::BareCr));
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"),
            bad(BadRequest::BareCr)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"),
            bad(BadRequest::ObsFold)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nA : b\r\n\r\n"),
            bad(BadRequest::WhitespaceBeforeColon)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nA\tb: c\r\n\r\n"),
            bad(BadRequest::HeaderSyntax)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n"),
            bad(BadRequest::HeaderSyntax)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\n: v\r\n\r\n"),
            bad(BadRequest::HeaderSyntax)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n"),
            bad(BadRequest::HeaderValue)
        );
    }

    #[test]
    fn regression_limits_are_judged_before_a_bare_lf_ending() {
        // Fuzz finding (2026-11-30): a complete line ending in a bare LF past the
        // field count got 400 (bare LF) whole and 431 (count) when a read ended
        // before its LF. Both paths now judge limits first.
        let limits = Limits {
            max_headers: 2,
            max_target_bytes: 10,
            ..Limits::default()
        };
        let head = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\n\r\n";
        let whole = scan_head(head, &limits);
        assert_eq!(
            whole,
            Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(2)))
        );
        for cut in 1..head.len() {
            let partial = scan_head(&head[..cut], &limits);
            assert!(partial == Ok(None) || partial == whole, "cut {cut}: {partial:?}");
        }
        let long_line = b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\n";
        assert_eq!(
            scan_head(long_line, &limits),
            Err(EdgeError::UriTooLong { limit: 10 })
        );
        assert_eq!(
            scan_head(&long_line[..80], &limits),
            Err(EdgeError::UriTooLong { limit: 10 })
        );
    }

    #[test]
    fn limits_are_enforced_on_partial_input() {
        let limits = Limits {
            max_target_bytes: 100,
            max_field_bytes: 50,
            max_header_bytes: 120,
            max_headers: 3,
            ..Limits::default()
        };
        let long_line = [b'a'; 200];
        assert_eq!(
            scan_head(&long_line, &limits),
            Err(EdgeError::UriTooLong { limit: 100 })
        );
        let mut req = b"GET / HTTP/1.1\r\nX: ".to_vec();
        req.extend_from_slice(&[b'v'; 60]);
        assert_eq!(
            scan_head(&req, &limits),
            Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge {
                limit: 50,
                name: FieldName::from_line(b"X")
            }))
        );
        // Whole or partial, the 431 names the field.
        let mut whole = b"GET / HTTP/1.1\r\nCookie: ".to_vec();
        whole.extend_from_slice(&[b'c'; 60]);
        whole.extend_from_slice(b"\r\n\r\n");
        for cut in [70, whole.len()] {
            match scan_head(&whole[..cut], &limits) {
                Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge { name, .. })) => {
                    assert_eq!(name.as_str(), "Cookie", "cut {cut}")
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert_eq!(
            scan_head(many, &limits),
            Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(3)))
        );
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..3 {
            big.extend_from_slice(&[b'x'; 45]);
            big.extend_from_slice(b": 1\r\n");
        }
        assert_eq!(
            scan_head(&big, &limits),
            Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(120)))
        );
    }
}
