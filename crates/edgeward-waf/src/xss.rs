//! Cross-site scripting detection over what a browser's HTML tokenizer would see.
//!
//! Owns: folding a decoded value (HTML entities, JS escapes, ignored control characters,
//! case) and recognising markup and script that executes:
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-xss-200` | `<script` tags |
//! | `waf-xss-201` | event handler attributes (`<img src=x onerror=`, `" onmouseover=`) |
//! | `waf-xss-202` | script URL schemes (`javascript:`, `vbscript:`) |
//! | `waf-xss-203` | active-content tags (`<iframe`, `<svg`, `<object`, `<embed`, `<base`…) |
//! | `waf-xss-204` | `data:` URLs carrying HTML/SVG/script |
//! | `waf-xss-205` | `srcdoc=`, CSS `expression(`, `-moz-binding`, `behavior:` |
//! | `waf-xss-206` | JS sinks after a string break-out (`";alert(1)//`, `document.cookie`) |
//!
//! Does not own: percent-decoding (done once by the caller).

use crate::decode::html_fold;
use crate::find::{self as memmem, ByteSet, Hay};
use crate::Strength;
use std::borrow::Cow;

/// Tags whose mere presence with attributes runs or loads active content.
const ACTIVE_TAGS: &[&str] = &[
    "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "base", "meta", "isindex",
    "xss", "xml", "import", "bgsound", "layer", "ilayer", "link", "style", "portal", "animate", "set",
    "handler", "listener",
];

/// Attributes whose value is fetched or navigated to.
const URL_ATTRS: &[&str] = &[
    "src",
    "href",
    "data",
    "action",
    "formaction",
    "xlink:href",
    "background",
    "dynsrc",
    "lowsrc",
    "poster",
    "codebase",
    "code",
    "value",
    "to",
    "from",
    "values",
    "content",
    "url",
];

/// Bytes of attribute area examined per tag.
const MAX_ATTRS: usize = 512;

const SCHEMES: &[&[u8]] = &[b"javascript:", b"vbscript:", b"livescript:", b"mocha:"];

/// Looks for XSS in a decoded (not yet lowercased) value.
#[cfg(test)]
pub(crate) fn detect(raw: &str) -> Option<(&'static str, Strength)> {
    let lower = raw.to_ascii_lowercase();
    detect_in(raw, &lower, ByteSet::of(lower.as_bytes()))
}

/// [`detect`] given `lower`, `raw` ASCII-lowercased, and `set`, exactly the bytes of `lower`.
pub(crate) fn detect_in(raw: &str, lower: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    if !set.has_any(b"<&\\:=(`") {
        return None;
    }
    let folded = detect_folded(raw, lower, set);
    // The fold drops TAB/CR/LF (browsers ignore them inside a scheme name), but between a
    // tag name and an attribute they separate: look again with them as spaces.
    if folded.is_some_and(|h| h.1 == Strength::Strong) || !set.has_any(b"\t\n\r") {
        return folded;
    }
    let spaced = raw.replace(['\t', '\n', '\r'], " ");
    let spaced_lower = spaced.to_ascii_lowercase();
    let mut sset = set;
    sset.insert(b' ');
    let again = detect_folded(&spaced, &spaced_lower, sset);
    match (folded, again) {
        (Some(a), Some(b)) => Some(if b.1 < a.1 { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn detect_folded(raw: &str, lower: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    // Without references, escapes or ignored controls the browser's view is just `lower`
    // (`html_fold` would only lowercase it), so skip the fold and its allocation.
    let (f, fset) = if set.has_any(b"&\\\0\t\n\r") {
        let f = html_fold(raw);
        let fset = ByteSet::of(f.as_bytes());
        (Cow::Owned(f), fset)
    } else {
        (Cow::Borrowed(lower), set)
    };
    let h = Hay::new(f.as_bytes(), fset);
    let b = h.bytes;
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |id: &'static str, s: Strength| {
        if best.map_or(true, |b| s < b.1) {
            best = Some((id, s));
        }
    };
    for lt in memchr::memchr_iter(b'<', if fset.has(b'<') { b } else { &[] }) {
        if let Some((id, s)) = tag_at(&f, lt + 1) {
            note(id, s);
            if s == Strength::Strong {
                return best;
            }
        }
    }
    for scheme in SCHEMES {
        for at in h.find_iter(scheme) {
            let next = b.get(at + scheme.len()).copied();
            let prev = at.checked_sub(1).map(|p| b[p]);
            let lead = matches!(prev, None | Some(b'=' | b'"' | b'\'' | b'(' | b'`' | b' ' | b'/'));
            match next {
                Some(c) if c != b' ' && lead => note("waf-xss-202", Strength::Medium),
                _ => note("waf-xss-202", Strength::Weak),
            }
        }
    }
    for data in [
        &b"data:text/html"[..],
        b"data:image/svg",
        b"data:application/x-",
        b"data:text/xml",
        b"data:text/javascript",
    ] {
        if h.contains(data) {
            note("waf-xss-204", Strength::Medium);
        }
    }
    if fset.has_any(b"\"'") && fset.has(b'=') && attribute_breakout(b) {
        note("waf-xss-201", Strength::Medium);
    }
    if h.contains(b"srcdoc=") || h.contains(b"-moz-binding") {
        note("waf-xss-205", Strength::Medium);
    }
    for at in h.find_iter(b"expression(") {
        let css = b[..at].iter().rev().take(24).any(|&c| c == b':' || c == b'=');
        note("waf-xss-205", if css { Strength::Medium } else { Strength::Weak });
    }
    if h.contains(b"behavior:url(") || h.contains(b"behavior: url(") {
        note("waf-xss-205", Strength::Medium);
    }
    if let Some(s) = js_sink(&h) {
        note("waf-xss-206", s);
    }
    if fset.has(b'=') && bare_handler(b) {
        note("waf-xss-201", Strength::Medium);
    }
    best
}

/// An event handler injected into an unquoted attribute: ` onfocus=alert(1)`,
/// `autofocus/onfocus=prompt``, whose value calls something.
fn bare_handler(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = memmem::find(&b[i..], b"on") {
        let at = i + off;
        i = at + 2;
        let prev = at.checked_sub(1).map(|p| b[p]);
        if !matches!(prev, None | Some(b' ' | b'/' | b'"' | b'\'' | b'\x0c' | b';')) {
            continue;
        }
        let mut j = at + 2;
        while j < b.len() && b[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j - at < 6 || b.get(j) != Some(&b'=') {
            continue;
        }
        let value = &b[j + 1..b.len().min(j + 120)];
        let call = [
            &b"alert"[..],
            b"prompt",
            b"confirm",
            b"eval",
            b"window[",
            b"top[",
            b"location",
            b"document.",
            b"(",
            b"`",
        ];
        if call.iter().any(|c| memmem::contains(value, c)) {
            return true;
        }
    }
    false
}

/// Classifies markup starting right after a `<`.
fn tag_at(f: &str, start: usize) -> Option<(&'static str, Strength)> {
    let b = f.as_bytes();
    let first = *b.get(start)?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let mut end = start;
    while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'-' || b[end] == b':') {
        end += 1;
    }
    let name = &f[start..end];
    // A tag name must be followed by whitespace, `/`, `>` or the end to be parsed as a tag.
    let delim = b.get(end).copied();
    if !matches!(delim, None | Some(b' ' | b'/' | b'>' | b'\x0c')) {
        return None;
    }
    if name == "script" {
        return Some(("waf-xss-200", Strength::Strong));
    }
    // Attribute areas are bounded so a value full of `<a ` stays linear.
    let window = &b[end..b.len().min(end + MAX_ATTRS)];
    let close = memchr::memchr(b'>', window).map_or(end + window.len(), |e| end + e);
    // Next tag start bounds the attribute area so `<b>x</b>` stays small.
    let attrs = &f[end..close];
    if let Some(handler_strength) = event_handler(attrs.as_bytes()) {
        return Some(("waf-xss-201", handler_strength));
    }
    if attrs.contains("srcdoc") {
        return Some(("waf-xss-205", Strength::Strong));
    }
    for attr in URL_ATTRS {
        let needle = format!("{attr}=");
        if let Some(p) = attrs.find(&needle) {
            let v = attrs[p + needle.len()..].trim_start_matches(['"', '\'', '`', ' ']);
            if SCHEMES.iter().any(|s| v.as_bytes().starts_with(s)) {
                return Some(("waf-xss-202", Strength::Strong));
            }
            if v.starts_with("data:")
                && !v.starts_with("data:image/png")
                && !v.starts_with("data:image/jpeg")
                && !v.starts_with("data:image/gif")
            {
                return Some(("waf-xss-204", Strength::Strong));
            }
        }
    }
    if ACTIVE_TAGS.contains(&name) {
        let has_attrs = attrs.trim_matches(['/', ' ']).len() > 1;
        return Some((
            "waf-xss-203",
            if has_attrs || delim == Some(b'>') || delim.is_none() {
                Strength::Medium
            } else {
                Strength::Weak
            },
        ));
    }
    Some(("waf-xss-203", Strength::Weak))
}

/// `onerror=`-style attribute inside a tag's attribute area, preceded by a separator.
fn event_handler(attrs: &[u8]) -> Option<Strength> {
    let mut i = 0;
    while let Some(off) = memmem::find(&attrs[i..], b"on") {
        let at = i + off;
        i = at + 2;
        let prev = at.checked_sub(1).map(|p| attrs[p]);
        if !matches!(prev, Some(b' ' | b'/' | b'"' | b'\'' | b'\x0c' | b';')) {
            continue;
        }
        let mut j = at + 2;
        while j < attrs.len() && attrs[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j - at < 5 {
            continue;
        }
        while j < attrs.len() && attrs[j] == b' ' {
            j += 1;
        }
        if attrs.get(j) == Some(&b'=') {
            return Some(Strength::Strong);
        }
    }
    None
}

/// A quote that closes an attribute followed by a new `onxxx=` attribute.
fn attribute_breakout(b: &[u8]) -> bool {
    for (q, at) in b
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == b'"' || c == b'\'')
        .map(|(i, _)| (i, i))
    {
        let _ = q;
        let mut j = at + 1;
        let mut sep = false;
        while j < b.len() && matches!(b[j], b' ' | b'/' | b'>') {
            sep = true;
            j += 1;
        }
        if !sep || !b[j..].starts_with(b"on") {
            continue;
        }
        let mut k = j + 2;
        while k < b.len() && b[k].is_ascii_alphabetic() {
            k += 1;
        }
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        if k - j >= 5 && b.get(k) == Some(&b'=') {
            return true;
        }
    }
    false
}

/// Script sinks. A call like `alert(` only counts after a string break-out.
fn js_sink(h: &Hay<'_>) -> Option<Strength> {
    let b = h.bytes;
    const ALWAYS: &[&[u8]] = &[
        b"document.cookie",
        b"document.domain",
        b"document.write(",
        b"string.fromcharcode(",
        b"constructor.constructor(",
        b".innerhtml=",
        b"window.location=",
        b"document.location=",
        b"location.href=",
        b"(confirm)",
        b"(prompt)",
        b"(alert)",
        b".find(confirm",
        b".find(alert",
        b"=prompt,",
        b"=alert,",
        b"=confirm,",
    ];
    const CALLS: &[&[u8]] = &[
        b"alert(",
        b"prompt(",
        b"confirm(",
        b"eval(",
        b"alert`",
        b"settimeout(",
        b"atob(",
    ];
    let mut best = None;
    if ALWAYS.iter().any(|n| h.contains(n)) {
        best = Some(Strength::Medium);
    }
    for call in CALLS {
        for at in h.find_iter(call) {
            let before = &b[at.saturating_sub(64)..at];
            // `";alert(`, `'-alert(`, `');alert(`, `*/alert(` — a quote closed just before.
            let tail: Vec<u8> = before
                .iter()
                .rev()
                .take(4)
                .copied()
                .filter(|&c| c != b' ')
                .collect();
            let broke = tail.first().is_some_and(|&c| {
                matches!(
                    c,
                    b';' | b'-' | b'+' | b'|' | b'&' | b'(' | b'{' | b'}' | b'>' | b'/' | b'=' | b'`'
                )
            }) && before
                .iter()
                .any(|&c| c == b'"' || c == b'\'' || c == b';' || c == b'>');
            if broke || at == 0 {
                best = Some(Strength::Medium);
            } else if best.is_none() {
                best = Some(Strength::Weak);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        detect(s).filter(|h| h.1 != Strength::Weak).map(|h| h.0)
    }

    #[test]
    fn detects_families() {
        assert_eq!(rule("<script>alert(1)</script>"), Some("waf-xss-200"));
        assert_eq!(rule("<img src=x onerror=alert(1)>"), Some("waf-xss-201"));
        assert_eq!(rule("<svg/onload=alert(1)>"), Some("waf-xss-201"));
        assert_eq!(rule("\" onmouseover=\"alert(1)"), Some("waf-xss-201"));
        assert_eq!(
            rule("<a href=\"jav&#x09;ascript:alert(1)\">x</a>"),
            Some("waf-xss-202")
        );
        assert_eq!(rule("javascript:alert(document.domain)"), Some("waf-xss-202"));
        assert_eq!(rule("<iframe src=//evil.example>"), Some("waf-xss-203"));
        assert_eq!(rule("data:text/html;base64,PHNjcmlwdD4="), Some("waf-xss-204"));
        assert_eq!(rule("<iframe srcdoc='&lt;script&gt;'>"), Some("waf-xss-205"));
        assert_eq!(rule("x:expression(alert(1))"), Some("waf-xss-205"));
        assert_eq!(rule("\";alert(1)//"), Some("waf-xss-206"));
        assert_eq!(rule("&ltscript&gtalert(1)"), Some("waf-xss-200"));
    }

    #[test]
    fn leaves_prose_and_code_alone() {
        for ok in [
            "javascript: the good parts",
            "rock & roll",
            "a < b and c > d",
            "if (x < 10) return",
            "regular expression (regex) tutorial",
            "Vec<String> in rust",
            "how to use <div> in html",
            "https://example.com/a?b=c",
            "$(document).ready(function(){})",
            "time: 10:30",
            "1 <3 you",
        ] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
