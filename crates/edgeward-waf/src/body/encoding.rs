//! `Content-Encoding` decoding under a bound: gzip, deflate (zlib or raw) and brotli.
//!
//! Owns: undoing the codings in reverse order of application, keeping at most `keep` bytes
//! of the result and reading on (into nothing) up to `max` bytes to tell a bomb from a
//! merely long body. A stream cut short (the proxy read only a prefix) yields what was
//! decoded so far. Does not own: what the decoded bytes contain (`body`).

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use std::io::Read;

/// The result of decoding a body.
pub(crate) enum Decoded {
    /// The first `keep` decoded bytes; `truncated` when there were more.
    Bytes { bytes: Vec<u8>, truncated: bool },
    /// The body decodes to more than `max` bytes.
    Bomb,
    /// A coding we cannot decode (named).
    Unsupported(String),
    /// The bytes are not valid in the declared coding.
    Corrupt(String),
}

/// Decodes `raw`, encoded with `codings` in that order, keeping `keep` bytes, refusing past
/// `max` decoded bytes.
pub(crate) fn decode(codings: &[String], raw: &[u8], keep: usize, max: usize) -> Decoded {
    let mut cur = raw.to_vec();
    let mut truncated = false;
    for (i, coding) in codings.iter().enumerate().rev() {
        // Inner layers are decoded whole (up to `max`) so outer ones see a complete stream.
        let last = i == 0;
        let bound = if last { keep } else { max };
        let reader: Box<dyn Read + '_> = match coding.as_str() {
            "gzip" | "x-gzip" => Box::new(MultiGzDecoder::new(&cur[..])),
            "deflate" if zlib_header(&cur) => Box::new(ZlibDecoder::new(&cur[..])),
            "deflate" => Box::new(DeflateDecoder::new(&cur[..])),
            "br" => Box::new(brotli_decompressor::Decompressor::new(&cur[..], 4096)),
            other => return Decoded::Unsupported(format!("Content-Encoding: {other}")),
        };
        match bounded_read(reader, bound, max) {
            Ok((bytes, more)) => {
                truncated |= more;
                cur = bytes;
            }
            Err(Failure::Bomb) => return Decoded::Bomb,
            Err(Failure::Corrupt) => return Decoded::Corrupt(format!("corrupt {coding} body")),
        }
    }
    Decoded::Bytes {
        bytes: cur,
        truncated,
    }
}

enum Failure {
    Bomb,
    Corrupt,
}

/// Reads up to `keep` bytes, then counts the rest up to `max`.
fn bounded_read(mut r: impl Read, keep: usize, max: usize) -> Result<(Vec<u8>, bool), Failure> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0usize;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            // A prefix of a stream ends early: keep what it gave.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && total > 0 => break,
            Err(_) if total > 0 => break,
            Err(_) => return Err(Failure::Corrupt),
        };
        total += n;
        if total > max {
            return Err(Failure::Bomb);
        }
        let room = keep.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
    Ok((out, total > keep))
}

/// RFC 1950 header: CM = 8 and the check bits.
fn zlib_header(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_and_bounds() {
        let codings = |c: &[&str]| c.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let Decoded::Bytes { bytes, truncated } = decode(&codings(&["gzip"]), &gzip(b"a=1"), 100, 1000)
        else {
            panic!("gzip");
        };
        assert_eq!((&bytes[..], truncated), (&b"a=1"[..], false));
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(b"hello").unwrap();
        let Decoded::Bytes { bytes, .. } = decode(&codings(&["deflate"]), &z.finish().unwrap(), 100, 1000)
        else {
            panic!("deflate");
        };
        assert_eq!(bytes, b"hello");
        let bomb = gzip(&vec![0u8; 4 * 1024 * 1024]);
        assert!(matches!(
            decode(&codings(&["gzip"]), &bomb, 1024, 1024 * 1024),
            Decoded::Bomb
        ));
        let long = gzip(&vec![b'a'; 5000]);
        let Decoded::Bytes { bytes, truncated } = decode(&codings(&["gzip"]), &long, 1000, 1 << 20) else {
            panic!("long");
        };
        assert_eq!((bytes.len(), truncated), (1000, true));
        // A prefix of a gzip stream still yields its start.
        let text = gzip(&b"x=1&".repeat(10_000));
        let Decoded::Bytes { bytes, .. } =
            decode(&codings(&["gzip"]), &text[..text.len() / 2], 1 << 20, 1 << 24)
        else {
            panic!("prefix");
        };
        assert!(bytes.starts_with(b"x=1&x=1&"));
        assert!(matches!(
            decode(&codings(&["gzip"]), b"not gzip at all", 100, 1000),
            Decoded::Corrupt(_)
        ));
        assert!(matches!(
            decode(&codings(&["zstd"]), b"x", 100, 1000),
            Decoded::Unsupported(_)
        ));
    }
}
