//! Request bodies: decoding `Content-Encoding` under a bound, then walking the body by its
//! declared type (or, with none, by its shape) and handing every value to the detectors.
//!
//! Owns: the dispatch by media type — urlencoded forms, JSON (`*/json`, `*+json`), multipart
//! (`multipart`), XML and SOAP (`xml`), text, no declared type — and the outcome of a body
//! inspection (a match, or how much was left uninspected). Each text value is inspected
//! whole (long ones in overlapping windows, see `engine`), text bodies line by line.
//! Does not own: the decoders (`encoding`), per-value detection (`engine`), or what the
//! proxy does with a verdict.

mod encoding;
mod multipart;
mod xml;

use crate::decode::{for_each_json_string, utf8_lossy};
use crate::waf::Scan;
use crate::{Category, Location, Strength, WafMatch};
use encoding::Decoded;

/// What inspecting a body found.
pub(crate) struct Outcome {
    /// The first match, if any.
    pub found: Option<WafMatch>,
    /// True when decoded bytes past the body limit went uninspected.
    pub truncated: bool,
}

/// Inspects `raw` (as sent, possibly content-encoded) declared as `ctype` (`""` when none).
pub(crate) fn inspect(scan: &Scan<'_>, headers: &[(&str, &[u8])], ctype: &str, raw: &[u8]) -> Outcome {
    let limit = scan.waf.body_limit;
    let codings = content_codings(headers);
    let decoded;
    let (body, truncated): (&[u8], bool) = if codings.is_empty() {
        (&raw[..raw.len().min(limit)], raw.len() > limit)
    } else {
        match encoding::decode(&codings, raw, limit, scan.waf.decoded_limit) {
            Decoded::Bytes { bytes, truncated } => {
                decoded = bytes;
                (&decoded, truncated)
            }
            Decoded::Bomb => return refuse(scan, "waf-proto-911", Strength::Strong, "decompression bomb"),
            Decoded::Unsupported(c) => return refuse(scan, "waf-proto-908", Strength::Weak, &c),
            Decoded::Corrupt(c) => return refuse(scan, "waf-proto-909", Strength::Medium, &c),
        }
    };
    Outcome {
        found: by_type(scan, ctype, body),
        truncated,
    }
}

fn refuse(scan: &Scan<'_>, id: &'static str, s: Strength, what: &str) -> Outcome {
    Outcome {
        found: scan.rule(id, Category::Protocol, s, Location::Body, what),
        truncated: false,
    }
}

/// The body's content codings, in the order they were applied, lowercased, without
/// `identity`.
fn content_codings(headers: &[(&str, &[u8])]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty() && c != "identity")
        .collect()
}

/// Dispatches a decoded body by its declared media type.
pub(crate) fn by_type(scan: &Scan<'_>, ctype: &str, body: &[u8]) -> Option<WafMatch> {
    let lower = ctype.trim().to_ascii_lowercase();
    let essence = lower.split(';').next().unwrap_or_default().trim();
    match essence {
        "application/x-www-form-urlencoded" => scan.pairs(&utf8_lossy(body), || Location::Body),
        t if t.starts_with("multipart/") => multipart::inspect(scan, ctype, body),
        t if is_json(t) => json(scan, body),
        t if is_xml(t) => xml::inspect(scan, body),
        "" => sniffed(scan, body),
        t if t.starts_with("text/") || t == "application/graphql" || t == "application/javascript" => {
            text(scan, body)
        }
        // Unknown types: an origin may still parse them; inspect whatever is text.
        // Declared binary: a NUL or stray bytes are content, not evidence (valid UTF-8 or not).
        "application/octet-stream" => binary(scan, body),
        _ if std::str::from_utf8(body).is_ok() => sniffed(scan, body),
        _ => binary(scan, body),
    }
}

fn is_json(t: &str) -> bool {
    t == "application/json" || t.ends_with("+json") || t.ends_with("/json") || t == "application/csp-report"
}

fn is_xml(t: &str) -> bool {
    t == "application/xml" || t == "text/xml" || t.ends_with("+xml")
}

/// A body without a usable type, walked as what it looks like.
fn sniffed(scan: &Scan<'_>, body: &[u8]) -> Option<WafMatch> {
    let head = body.trim_ascii_start();
    match head.first() {
        Some(b'{' | b'[') => json(scan, body).or_else(|| text(scan, body)),
        Some(b'<') => xml::inspect(scan, body).or_else(|| text(scan, body)),
        _ if looks_like_form(head) => scan
            .pairs(&utf8_lossy(body), || Location::Body)
            .or_else(|| text(scan, body)),
        _ => text(scan, body),
    }
}

fn looks_like_form(b: &[u8]) -> bool {
    let first = &b[..b.len().min(256)];
    first.contains(&b'=') && !first.iter().any(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
}

/// Every JSON string (keys included), unescaped.
fn json(scan: &Scan<'_>, body: &[u8]) -> Option<WafMatch> {
    for_each_json_string(&utf8_lossy(body), |s| scan.value(s, || Location::Body))
}

/// Text, line by line.
pub(crate) fn text(scan: &Scan<'_>, body: &[u8]) -> Option<WafMatch> {
    let text = utf8_lossy(body);
    // Short texts are one value (a payload may span lines: CRLF injection, SSI blocks).
    if text.len() <= 4096 {
        return scan.value(&text, || Location::Body);
    }
    text.split('\n')
        .find_map(|line| scan.value(line, || Location::Body))
}

/// Binary content: only markers of code that an upload would smuggle to a server.
pub(crate) fn binary(scan: &Scan<'_>, body: &[u8]) -> Option<WafMatch> {
    use aho_corasick::AhoCorasick;
    use std::sync::OnceLock;
    const MARKERS: &[(&str, &str, Category)] = &[
        ("<?php", "waf-php-800", Category::Php),
        ("<%@ page", "waf-java-702", Category::Java),
        ("<jsp:", "waf-java-702", Category::Java),
        ("<!--#exec", "waf-ssi-1100", Category::Ssi),
        ("${jndi:", "waf-java-700", Category::Java),
        ("<script", "waf-xss-200", Category::Xss),
    ];
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    let ac = AC.get_or_init(|| {
        aho_corasick::AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(MARKERS.iter().map(|m| m.0))
            .expect("static binary markers build")
    });
    ac.find_iter(body).find_map(|m| {
        let (marker, id, cat) = MARKERS[m.pattern().as_usize()];
        scan.rule(id, cat, Strength::Medium, Location::Body, marker)
    })
}
