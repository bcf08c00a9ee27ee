//! Byte ranges served from a stored representation (RFC 9110 §14): parsing `Range`, deciding
//! 206 or 416, `Content-Range` values and `multipart/byteranges` bodies.
//!
//! Owns range arithmetic and body slicing; when a `Range` applies at all (`If-Range`, method,
//! status) is decided in `conditional`, and the response heads are built in `serve`. A `Range`
//! with a syntax error, an unknown unit, or more than [`MAX_RANGES`] ranges is ignored (the
//! full 200 is served), as §14.2 allows; overlapping or adjacent ranges are coalesced.

use bytes::{BufMut, Bytes, BytesMut};

/// Most ranges honoured in one request; more and the `Range` is ignored (a 200 is sent).
pub const MAX_RANGES: usize = 32;

/// An inclusive byte range within a representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `Content-Range` value for this range of a `complete_len`-byte representation.
    pub fn content_range(&self, complete_len: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end, complete_len)
    }
}

/// What a `Range` header means for a representation of a known length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeSpec {
    /// Invalid, unknown unit or too many ranges: serve the whole representation.
    Ignore,
    /// Valid but no range overlaps the representation: 416.
    Unsatisfiable,
    /// The satisfiable ranges, sorted and coalesced.
    Ranges(Vec<ByteRange>),
}

/// Parses `Range` against a `len`-byte representation (§14.1.2).
pub fn parse(value: &str, len: u64) -> RangeSpec {
    let Some(set) = value.trim().strip_prefix("bytes=").or_else(|| {
        let (unit, rest) = value.trim().split_once('=')?;
        unit.eq_ignore_ascii_case("bytes").then_some(rest)
    }) else {
        return RangeSpec::Ignore;
    };
    let mut ranges = Vec::new();
    let mut count = 0;
    for part in set.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_RANGES {
            return RangeSpec::Ignore;
        }
        let Some((first, last)) = part.split_once('-') else {
            return RangeSpec::Ignore;
        };
        let (first, last) = (first.trim(), last.trim());
        let range = if first.is_empty() {
            // suffix-range: the last N bytes.
            let Some(n) = digits(last) else {
                return RangeSpec::Ignore;
            };
            (n > 0 && len > 0).then(|| ByteRange {
                start: len.saturating_sub(n),
                end: len - 1,
            })
        } else {
            let Some(start) = digits(first) else {
                return RangeSpec::Ignore;
            };
            let end = if last.is_empty() {
                None
            } else {
                match digits(last) {
                    Some(e) if e >= start => Some(e),
                    _ => return RangeSpec::Ignore,
                }
            };
            (start < len).then(|| ByteRange {
                start,
                end: end.map_or(len - 1, |e| e.min(len - 1)),
            })
        };
        ranges.extend(range);
    }
    if count == 0 {
        return RangeSpec::Ignore;
    }
    if ranges.is_empty() {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Ranges(coalesce(ranges))
}

fn digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Sorts and merges overlapping or adjacent ranges (§14.1.1 lets a server coalesce).
fn coalesce(mut ranges: Vec<ByteRange>) -> Vec<ByteRange> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(1) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The `Content-Range` of a 416: `bytes */len` (§14.4).
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// The bytes of one range of `body`.
pub fn slice(body: &Bytes, range: ByteRange) -> Bytes {
    body.slice(range.start as usize..=range.end as usize)
}

/// A `multipart/byteranges` body (§14.6) for several ranges of `body`; returns the body.
pub fn multipart(body: &Bytes, ranges: &[ByteRange], content_type: Option<&str>, boundary: &str) -> Bytes {
    let total = body.len() as u64;
    let mut out = BytesMut::new();
    for r in ranges {
        out.put_slice(b"\r\n--");
        out.put_slice(boundary.as_bytes());
        out.put_slice(b"\r\n");
        if let Some(ct) = content_type {
            out.put_slice(b"Content-Type: ");
            out.put_slice(ct.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"Content-Range: ");
        out.put_slice(r.content_range(total).as_bytes());
        out.put_slice(b"\r\n\r\n");
        out.put_slice(&slice(body, *r));
    }
    out.put_slice(b"\r\n--");
    out.put_slice(boundary.as_bytes());
    out.put_slice(b"--\r\n");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn single_ranges() {
        assert_eq!(parse("bytes=0-9", 100), RangeSpec::Ranges(vec![r(0, 9)]));
        assert_eq!(parse("bytes=90-", 100), RangeSpec::Ranges(vec![r(90, 99)]));
        assert_eq!(parse("bytes=-10", 100), RangeSpec::Ranges(vec![r(90, 99)]));
        assert_eq!(parse("bytes=-500", 100), RangeSpec::Ranges(vec![r(0, 99)]));
        assert_eq!(parse("bytes=50-500", 100), RangeSpec::Ranges(vec![r(50, 99)]));
        assert_eq!(parse("Bytes=0-0", 100), RangeSpec::Ranges(vec![r(0, 0)]));
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(parse("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse("bytes=200-300, 150-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), RangeSpec::Unsatisfiable);
        assert_eq!(unsatisfied_range(100), "bytes */100");
    }

    #[test]
    fn invalid_ranges_are_ignored() {
        for bad in [
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=",
            "bytes=1",
            "0-1",
            "bytes=--1",
        ] {
            assert_eq!(parse(bad, 100), RangeSpec::Ignore, "{bad}");
        }
        let many: Vec<String> = (0..40).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert_eq!(
            parse(&format!("bytes={}", many.join(",")), 1000),
            RangeSpec::Ignore
        );
    }

    #[test]
    fn overlapping_ranges_coalesce_and_unsatisfiable_members_drop() {
        assert_eq!(
            parse("bytes=0-9, 5-20, 21-30, 200-", 100),
            RangeSpec::Ranges(vec![r(0, 30)])
        );
        assert_eq!(
            parse("bytes=50-59, 0-9", 100),
            RangeSpec::Ranges(vec![r(0, 9), r(50, 59)])
        );
    }

    #[test]
    fn multipart_body_frames_each_part() {
        let body = Bytes::from_static(b"0123456789abcdef");
        let out = multipart(&body, &[r(0, 1), r(10, 11)], Some("text/plain"), "B");
        let want = "\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/16\r\n\r\n01\
                    \r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 10-11/16\r\n\r\nab\r\n--B--\r\n";
        assert_eq!(out, Bytes::from(want));
    }
}
