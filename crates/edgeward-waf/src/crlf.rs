//! CRLF injection and HTTP response splitting, and request lines smuggled inside a value.
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-crlf-1400` | a line break followed by a response header field (`%0d%0aSet-Cookie:`) |
//! | `waf-crlf-1401` | a line break, a blank line and content (a second response) |
//! | `waf-proto-904` | an HTTP request line after a line break (`…\r\n\r\nGET /admin HTTP/1.1`) |
//!
//! Line breaks include the UTF-8 characters some servers truncate to CR/LF (`嘊` U+560A,
//! `嘍` U+560D). Does not own: newlines as shell separators (`cmdi`).

use crate::find::{ByteSet, Hay};
use crate::Strength;

/// Header names an injected field is aimed at (response and forwarding headers).
const HEADERS: &[&[u8]] = &[
    b"set-cookie",
    b"location",
    b"content-type",
    b"content-length",
    b"content-disposition",
    b"content-security-policy",
    b"x-xss-protection",
    b"refresh",
    b"access-control-allow-origin",
    b"access-control-allow-credentials",
    b"cache-control",
    b"transfer-encoding",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"host",
    b"cookie",
    b"link",
    b"x-frame-options",
    b"strict-transport-security",
    b"last-modified",
    b"expires",
    b"server",
    b"connection",
    b"x-powered-by",
    b"x-original-url",
    b"x-rewrite-url",
    b"content-encoding",
    b"vary",
    b"etag",
    b"status",
    b"authorization",
];

const METHODS: &[&[u8]] = &[
    b"get ",
    b"post ",
    b"put ",
    b"delete ",
    b"head ",
    b"options ",
    b"patch ",
    b"connect ",
    b"trace ",
];

/// Looks for CRLF injection in a lowercased, decoded value.
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    let unicode = set.has(0x80) && (s.contains('\u{560a}') || s.contains('\u{560d}'));
    if !set.has(b'\n') && !set.has(b'\r') && !unicode {
        return None;
    }
    let owned;
    let b: &[u8] = if unicode {
        owned = s.replace('\u{560a}', "\n").replace('\u{560d}', "\r");
        owned.as_bytes()
    } else {
        s.as_bytes()
    };
    let mut fset = set;
    fset.insert(b'\n');
    fset.insert(b'\r');
    let h = Hay::new(b, fset);
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |id: &'static str, st: Strength| {
        if best.map_or(true, |b| st < b.1) {
            best = Some((id, st));
        }
    };
    let mut i = 0;
    while i < b.len() {
        if !matches!(b[i], b'\r' | b'\n') {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut breaks = 0;
        while j < b.len() && matches!(b[j], b'\r' | b'\n') {
            breaks += usize::from(b[j] == b'\n');
            j += 1;
        }
        let rest = &b[j..];
        let name_len = rest
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b'_')
            .count();
        let after = rest[name_len..].trim_ascii_start();
        if name_len > 0 && after.starts_with(b":") {
            let name = &rest[..name_len];
            if HEADERS.contains(&name) {
                note("waf-crlf-1400", Strength::Strong);
            } else if name.starts_with(b"x-") {
                note("waf-crlf-1400", Strength::Medium);
            }
        }
        if rest.starts_with(b"http/1.") {
            note("waf-crlf-1401", Strength::Strong);
        }
        // A blank line then markup, right at the start (`%0d%0a%0d%0a<script>`); further in,
        // it is a paragraph break in a text.
        if breaks >= 2 && (rest.starts_with(b"<") && i <= 16 || h.contains(b"content-length:")) {
            note("waf-crlf-1401", Strength::Strong);
        }
        if METHODS.iter().any(|m| rest.starts_with(m)) && request_line(rest) {
            note("waf-proto-904", Strength::Strong);
        }
        i = j;
    }
    best
}

/// `METHOD SP target SP HTTP/1.x` at the start of `b`.
fn request_line(b: &[u8]) -> bool {
    let line = &b[..b
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(b.len())];
    let mut parts = line.split(|&c| c == b' ');
    let (_, Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !target.is_empty() && version.starts_with(b"http/1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        let l = s.to_ascii_lowercase();
        detect_in(&l, ByteSet::of(l.as_bytes()))
            .filter(|h| h.1 != Strength::Weak)
            .map(|h| h.0)
    }

    #[test]
    fn detects_families() {
        assert_eq!(rule("x\r\nSet-Cookie: a=b"), Some("waf-crlf-1400"));
        assert_eq!(rule("/\nLocation: http://evil"), Some("waf-crlf-1400"));
        assert_eq!(rule("x\r\n\r\n<html>owned</html>"), Some("waf-crlf-1401"));
        assert_eq!(rule("嘊嘍Set-Cookie:x=1"), Some("waf-crlf-1400"));
        assert_eq!(
            rule("0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x"),
            Some("waf-proto-904")
        );
    }

    #[test]
    fn leaves_text_alone() {
        for ok in [
            "Dear team,\r\nNote: the meeting moved.\r\nRegards",
            "line one\nline two",
            "a\n\nb",
        ] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
