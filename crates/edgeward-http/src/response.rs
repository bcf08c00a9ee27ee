//! Response heads and body framing on the wire.
//!
//! Owns the bytes of a status line, field lines, and chunked encoding, plus the
//! `Date` value cache. Does not decide which headers a response carries: callers
//! (the error renderer, the proxy) do.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::request::Version;

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body follows (HEAD, 1xx, 204, 304), whatever Content-Length says.
    NoBody,
    /// `Content-Length: n` is among the headers.
    Length(u64),
    /// `Transfer-Encoding: chunked` is written by the head writer.
    Chunked,
    /// The body runs until the connection closes (HTTP/1.0 client, unknown length).
    UntilClose,
}

/// Appends a status line.
pub fn write_status_line(out: &mut Vec<u8>, version: Version, status: u16, reason: &[u8]) {
    out.extend_from_slice(match version {
        Version::Http10 => b"HTTP/1.0 ",
        Version::Http11 => b"HTTP/1.1 ",
    });
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
}

/// Appends one field line.
pub fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends a decimal-valued field line.
pub fn write_header_u64(out: &mut Vec<u8>, name: &[u8], value: u64) {
    write_header(out, name, itoa::Buffer::new().format(value).as_bytes());
}

/// Appends the head's final CRLF.
pub fn end_head(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// Appends a chunk's size line (the data and its CRLF follow).
pub fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The CRLF that ends each chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// An HTTP-date for `Date`, formatted at most once per second.
#[derive(Debug, Default)]
pub struct DateCache {
    second: u64,
    value: [u8; 29],
}

impl DateCache {
    /// The current HTTP-date (IMF-fixdate, 29 bytes).
    pub fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
        if second != self.second || self.value[0] == 0 {
            let text = httpdate::fmt_http_date(now);
            self.value.copy_from_slice(&text.as_bytes()[..29]);
            self.second = second;
        }
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_and_headers() {
        let mut out = Vec::new();
        write_status_line(&mut out, Version::Http11, 404, b"Not Found");
        write_header_u64(&mut out, b"Content-Length", 12);
        end_head(&mut out);
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\r\n");
    }

    #[test]
    fn chunk_sizes_are_lowercase_hex() {
        for (len, want) in [
            (0usize, "0\r\n"),
            (10, "a\r\n"),
            (4096, "1000\r\n"),
            (0x1f3, "1f3\r\n"),
        ] {
            let mut out = Vec::new();
            write_chunk_header(&mut out, len);
            assert_eq!(out, want.as_bytes());
        }
    }

    #[test]
    fn date_is_an_imf_fixdate() {
        let mut cache = DateCache::default();
        let date = std::str::from_utf8(cache.now()).unwrap().to_owned();
        assert!(date.ends_with(" GMT"), "{date}");
        assert!(httpdate::parse_http_date(&date).is_ok());
    }
}
