//! Decoding and normalisation shared by the detectors.
//!
//! Owns: URL percent-decoding (exactly once, as the origin would), the "still encoded after one
//! decode" signal, ASCII lowercasing into a reusable buffer, HTML entity and JS escape folding
//! for the XSS detector, and the minimal JSON / form walkers used for request bodies.
//! Does not own: any decision about whether a value is an attack.

use std::borrow::Cow;

/// The value of an ASCII hex digit, if `b` is one.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `input` once; `plus_as_space` applies form rules (`+` is a space).
///
/// Invalid escapes are kept verbatim; decoded bytes that are not UTF-8 are replaced lossily.
/// Borrows when there is nothing to decode, so the benign common case does not allocate.
pub fn percent_decode_once(input: &str, plus_as_space: bool) -> Cow<'_, str> {
    let bytes = input.as_bytes();
    let needs = bytes.iter().any(|&b| b == b'%' || (plus_as_space && b == b'+'));
    if !needs {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        if b == b'%' && (bytes.get(i + 1) == Some(&b'u') || bytes.get(i + 1) == Some(&b'U')) {
            // IIS-style %uXXXX: fold to the code point so `%u002e` cannot hide a dot.
            if let Some(cp) = parse_hex4(&bytes[i + 2..]) {
                push_char(&mut out, cp);
                i += 6;
                continue;
            }
        }
        out.push(if plus_as_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    Cow::Owned(fold_overlong(out))
}

fn parse_hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..4] {
        v = v << 4 | u32::from(hex_val(c)?);
    }
    Some(v)
}

fn push_char(out: &mut Vec<u8>, cp: u32) {
    // Fullwidth and division-slash look-alikes that IIS folds to ASCII path characters.
    let cp = match cp {
        0xff0e => u32::from(b'.'),
        0x2215 | 0xff0f => u32::from(b'/'),
        0x2216 | 0xff3c => u32::from(b'\\'),
        other => other,
    };
    let c = char::from_u32(cp).unwrap_or('\u{fffd}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Maps overlong UTF-8 encodings of `.`, `/`, `\` (`%c0%ae`, `%c0%af`, `%c1%9c`, `%e0%80%af`)
/// to the ASCII they smuggle, then converts lossily to a `String`.
fn fold_overlong(mut v: Vec<u8>) -> String {
    if v.iter().any(|&b| b == 0xc0 || b == 0xc1 || b == 0xe0) {
        let mut out = Vec::with_capacity(v.len());
        let mut i = 0;
        while i < v.len() {
            let ascii = match (v[i], v.get(i + 1), v.get(i + 2)) {
                (0xe0, Some(0x80), Some(&c)) if (0x80..0xc0).contains(&c) => Some((c & 0x3f, 3)),
                (0xc0, Some(&c), _) if (0x80..0xc0).contains(&c) => Some((c & 0x3f, 2)),
                (0xc1, Some(&c), _) if (0x80..0xc0).contains(&c) => Some((0x40 | (c & 0x3f), 2)),
                _ => None,
            };
            match ascii {
                Some((a, n)) => {
                    out.push(a);
                    i += n;
                }
                None => {
                    out.push(v[i]);
                    i += 1;
                }
            }
        }
        v = out;
    }
    match String::from_utf8(v) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// True when `s` still holds a percent-escape of a character attackers hide (`%2e`, `%2f`,
/// `%5c`, `%3c`, `%27`, `%22`, `%00`, `%25`, …) after one decode: double encoding.
pub fn still_encoded(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memchr_iter(b'%', b).any(|i| {
        let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
            return false;
        };
        match (hex_val(h), hex_val(l)) {
            (Some(h), Some(l)) => matches!(
                h << 4 | l,
                0x00 | b'.'
                    | b'/'
                    | b'\\'
                    | b'<'
                    | b'>'
                    | b'\''
                    | b'"'
                    | b'%'
                    | b';'
                    | b'|'
                    | b'`'
                    | b'('
                    | b')'
                    | b'&'
                    | b'\n'
                    | b'\r'
            ),
            _ => false,
        }
    })
}

/// True when a once-decoded value still escapes a character no legitimate (even nested)
/// URL needs escaped — `.` `\\` `<` `>` NUL — or escapes `%` itself before a hex pair.
pub fn evasive_encoding(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memchr_iter(b'%', b).any(|i| {
        let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
            return false;
        };
        match (hex_val(h), hex_val(l)) {
            (Some(h), Some(l)) => match h << 4 | l {
                0x00 | b'.' | b'\\' | b'<' | b'>' => true,
                b'%' => b.get(i + 3).copied().and_then(hex_val).is_some(),
                _ => false,
            },
            _ => false,
        }
    })
}

/// Decodes HTML character references (`&#106;`, `&#x6a`, `&lt;`, `&colon;`…, with or
/// without the `;`) and JS escapes (`\x3c`, `\u003c`), drops NUL/TAB/CR/LF (browsers ignore
/// them inside scheme names) and lowercases: what a browser's tokenizer would see.
pub(crate) fn html_fold(s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'&' {
            if let Some((cp, n)) = html_entity(&b[i + 1..]) {
                if cp != 0 && cp != 9 && cp != 10 && cp != 13 {
                    push_char(&mut out, cp);
                }
                i += 1 + n;
                continue;
            }
        } else if c == b'\\' {
            let esc = match b.get(i + 1) {
                Some(b'x') if b.len() >= i + 4 => match (hex_val(b[i + 2]), hex_val(b[i + 3])) {
                    (Some(h), Some(l)) => Some((u32::from(h << 4 | l), 4)),
                    _ => None,
                },
                Some(b'u') => parse_hex4(&b[i + 2..]).map(|cp| (cp, 6)),
                _ => None,
            };
            if let Some((cp, n)) = esc {
                push_char(&mut out, cp);
                i += n;
                continue;
            }
        } else if matches!(c, 0 | b'\t' | b'\n' | b'\r') {
            i += 1;
            continue;
        }
        out.push(c.to_ascii_lowercase());
        i += 1;
    }
    let mut s = fold_overlong(out);
    s.make_ascii_lowercase();
    s
}

/// Decodes HTML character references (`&#39;`, `&lt;`, `&quot`…) and nothing else, or
/// `None` when the value has none: a value that reaches a page, a template or a query after
/// an HTML-decoding layer.
pub(crate) fn html_entities(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let first = memchr::memchr(b'&', b)?;
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    let mut changed = false;
    while i < b.len() {
        if b[i] == b'&' {
            if let Some((cp, n)) = html_entity(&b[i + 1..]) {
                push_char(&mut out, cp);
                i += 1 + n;
                changed = true;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    changed.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Parses one character reference after `&`; returns (code point, bytes consumed).
fn html_entity(b: &[u8]) -> Option<(u32, usize)> {
    if b.first() == Some(&b'#') {
        let hex = matches!(b.get(1), Some(b'x' | b'X'));
        let start = if hex { 2 } else { 1 };
        let mut v: u32 = 0;
        let mut n = start;
        while n < b.len() && n < start + 10 {
            let d = if hex {
                hex_val(b[n]).map(u32::from)
            } else {
                b[n].is_ascii_digit().then(|| u32::from(b[n] - b'0'))
            };
            match d {
                Some(d) => v = v.saturating_mul(if hex { 16 } else { 10 }).saturating_add(d),
                None => break,
            }
            n += 1;
        }
        if n == start {
            return None;
        }
        if b.get(n) == Some(&b';') {
            n += 1;
        }
        return Some((v.min(0x10ffff), n));
    }
    const NAMED: &[(&[u8], u32)] = &[
        (b"lt", '<' as u32),
        (b"gt", '>' as u32),
        (b"quot", '"' as u32),
        (b"apos", '\'' as u32),
        (b"amp", '&' as u32),
        (b"colon", ':' as u32),
        (b"lpar", '(' as u32),
        (b"rpar", ')' as u32),
        (b"sol", '/' as u32),
        (b"tab", 9),
        (b"newline", 10),
    ];
    for (name, cp) in NAMED {
        if b.len() >= name.len() && b[..name.len()].eq_ignore_ascii_case(name) {
            let mut n = name.len();
            if b.get(n) == Some(&b';') {
                n += 1;
            }
            return Some((*cp, n));
        }
    }
    None
}

/// Calls `f(name, value)` for each `name=value` pair of a query or form body, decoded once.
/// Stops early and returns the first `Some` that `f` returns.
pub(crate) fn for_each_pair<T>(raw: &str, mut f: impl FnMut(&str, &str) -> Option<T>) -> Option<T> {
    for pair in raw.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode_once(name, true);
        let value = percent_decode_once(value, true);
        if let Some(t) = f(&name, &value) {
            return Some(t);
        }
    }
    None
}

/// Calls `f` on every string (keys and values) of a JSON text, unescaped. Tolerates invalid
/// JSON: it only tracks string boundaries, so a malformed body is still inspected.
pub(crate) fn for_each_json_string<T>(text: &str, mut f: impl FnMut(&str) -> Option<T>) -> Option<T> {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'"', &b[i..]) {
        let start = i + off + 1;
        let mut j = start;
        let mut escaped = false;
        while j < b.len() && b[j] != b'"' {
            if b[j] == b'\\' {
                escaped = true;
                j += 1;
            }
            j += 1;
        }
        let end = j.min(b.len());
        let raw = &text[start..end];
        let s: Cow<'_, str> = if escaped {
            Cow::Owned(json_unescape(raw))
        } else {
            Cow::Borrowed(raw)
        };
        if let Some(t) = f(&s) {
            return Some(t);
        }
        i = end + 1;
        if i >= b.len() {
            break;
        }
    }
    None
}

fn json_unescape(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            let simple = match c {
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'b' => Some(8),
                b'f' => Some(12),
                b'u' => None,
                other => Some(other),
            };
            if let Some(s) = simple {
                out.push(s);
                i += 2;
                continue;
            }
            if let Some(cp) = parse_hex4(&b[i + 2..]) {
                push_char(&mut out, cp);
                i += 6;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `String::from_utf8_lossy`, with the (vectorised) validity check first for the common case.
pub(crate) fn utf8_lossy(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Truncates `s` to at most 64 bytes on a char boundary, for match evidence.
pub(crate) fn evidence(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_and_keeps_invalid_escapes() {
        assert_eq!(percent_decode_once("a%20b+c", true), "a b c");
        assert_eq!(percent_decode_once("a+b", false), "a+b");
        assert_eq!(percent_decode_once("100%", true), "100%");
        assert_eq!(percent_decode_once("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode_once("%252e%252e", false), "%2e%2e");
        assert!(matches!(percent_decode_once("plain", true), Cow::Borrowed(_)));
    }

    #[test]
    fn folds_overlong_and_iis_unicode() {
        assert_eq!(percent_decode_once("..%c0%af..%c1%9c", false), "../..\\");
        assert_eq!(percent_decode_once("%u002e%uff0e%u2215%u2216", false), "../\\");
    }

    #[test]
    fn double_encoding_signal() {
        assert!(still_encoded("%2e%2e/"));
        assert!(still_encoded("%3Cscript"));
        assert!(!still_encoded("100% cotton"));
        assert!(!still_encoded("50%off"));
        assert!(!still_encoded("%41"));
        assert!(evasive_encoding("%2e%2e/") && evasive_encoding("%253c"));
        assert!(!evasive_encoding("q=O%27Reilly&x=%26") && !evasive_encoding("%2Fa%2Fb"));
    }

    #[test]
    fn html_fold_decodes_entities_and_escapes() {
        assert_eq!(html_fold("&#106;&#x61;v&#X61;"), "java");
        assert_eq!(html_fold("&lt;SCRIPT&gt"), "<script>");
        assert_eq!(html_fold("jav\tascript&colon;"), "javascript:");
        assert_eq!(html_fold("\\x3cimg \\u003e"), "<img >");
        assert_eq!(html_fold("rock & roll"), "rock & roll");
    }

    #[test]
    fn walks_pairs_and_json_strings() {
        let mut seen = Vec::new();
        for_each_pair::<()>("a=1&b=x%20y&&c", |n, v| {
            seen.push(format!("{n}={v}"));
            None
        });
        assert_eq!(seen, ["a=1", "b=x y", "c="]);
        let mut strings = Vec::new();
        for_each_json_string::<()>(r#"{"k":"v\"q\u0041","n":[1,"x"]}"#, |s| {
            strings.push(s.to_owned());
            None
        });
        assert_eq!(strings, ["k", "v\"qA", "n", "x"]);
    }

    #[test]
    fn evidence_is_bounded() {
        assert_eq!(evidence(&"é".repeat(40)).len(), 64);
        assert_eq!(evidence("short"), "short");
    }
}
