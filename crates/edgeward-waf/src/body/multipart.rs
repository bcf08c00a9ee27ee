//! `multipart/form-data` (and other `multipart/*`) bodies, parsed from the bytes the proxy
//! read ahead, with bounds on parts and part headers.
//!
//! Owns: finding the boundary, splitting parts (CRLF or bare LF line ends, a last part cut
//! short by the read-ahead limit), reading each part's `Content-Disposition` name and file
//! name and its `Content-Type`, and inspecting field names, file names, field values and file
//! contents (text as text, binary for smuggled code markers). Reports `waf-proto-907` for a
//! body that is not multipart at all or exceeds the bounds, and `waf-php-804` for an upload
//! named like a server-side script.
//! The proxy hands a prefix already in memory, so the parser works on that slice instead of
//! a stream (a streaming parser such as `multer` would add an executor for no gain here).
//! Does not own: what values contain (`engine`).

use crate::body::{binary, by_type, text};
use crate::waf::Scan;
use crate::{Category, Location, Strength, WafMatch};

/// Most parts inspected; more is an evasion attempt (or abuse) and is reported.
const MAX_PARTS: usize = 1000;
/// Most bytes of one part's header block.
const MAX_PART_HEADERS: usize = 8 * 1024;

/// Script extensions an upload must not carry.
const SCRIPT_EXTENSIONS: &[&str] = &[
    "php", "php3", "php4", "php5", "php7", "php8", "pht", "phtml", "phar", "phps", "inc", "jsp", "jspx",
    "jspf", "asp", "aspx", "ashx", "asmx", "asa", "cer", "cfm", "cfml", "shtml", "shtm", "stm", "cgi", "pl",
    "htaccess", "war",
];

pub(crate) fn inspect(scan: &Scan<'_>, ctype: &str, body: &[u8]) -> Option<WafMatch> {
    let malformed = |why: &str| {
        scan.rule(
            "waf-proto-907",
            Category::Protocol,
            Strength::Medium,
            Location::Body,
            why,
        )
    };
    let Some(boundary) = boundary(ctype) else {
        return malformed("multipart without a boundary");
    };
    let delim = [b"--", boundary.as_bytes()].concat();
    let Some(first) = memchr::memmem::find(body, &delim) else {
        return malformed("multipart boundary never appears");
    };
    let finder = memchr::memmem::Finder::new(&delim);
    let mut at = first + delim.len();
    let mut parts = 0;
    loop {
        if body[at..].starts_with(b"--") {
            return None; // The closing delimiter.
        }
        parts += 1;
        if parts > MAX_PARTS {
            return malformed("too many multipart parts");
        }
        let start = at + line_end(&body[at..])?;
        let next = finder.find(&body[start..]).map(|p| start + p);
        let end = next.unwrap_or(body.len());
        let part = trim_crlf(&body[start..end]);
        if let Some(m) = inspect_part(scan, part) {
            return Some(m);
        }
        match next {
            Some(n) => at = n + delim.len(),
            None => return None,
        }
    }
}

fn inspect_part(scan: &Scan<'_>, part: &[u8]) -> Option<WafMatch> {
    let (head, content) = split_head(part).unwrap_or((&part[..part.len().min(MAX_PART_HEADERS)], &[][..]));
    if head.len() > MAX_PART_HEADERS {
        return scan.rule(
            "waf-proto-907",
            Category::Protocol,
            Strength::Medium,
            Location::Body,
            "part header too large",
        );
    }
    let head = String::from_utf8_lossy(head);
    let mut name = None;
    let mut filename = None;
    let mut ctype = String::new();
    for line in head.lines() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let field = field.trim();
        if field.eq_ignore_ascii_case("content-disposition") {
            name = param(value, "name");
            filename = param(value, "filename").or_else(|| param(value, "filename*"));
        } else if field.eq_ignore_ascii_case("content-type") {
            ctype = value.trim().to_owned();
        }
        // Every part header value is client-controlled text too.
        if let Some(m) = scan.value(value.trim(), || Location::Body) {
            return Some(m);
        }
    }
    for v in [&name, &filename].into_iter().flatten() {
        if let Some(m) = scan.value(v, || Location::Body) {
            return Some(m);
        }
    }
    if let Some(f) = &filename {
        let lower = f.to_ascii_lowercase();
        let script = lower
            .trim_end_matches(['.', ' '])
            .split('.')
            .skip(1)
            .any(|ext| SCRIPT_EXTENSIONS.contains(&ext));
        if script || lower == ".htaccess" || lower == ".user.ini" || lower == "web.config" {
            return scan.rule("waf-php-804", Category::Php, Strength::Medium, Location::Body, f);
        }
    }
    if content.is_empty() {
        return None;
    }
    let lower_ct = ctype.to_ascii_lowercase();
    if filename.is_some() {
        // File contents: text is inspected as text, anything else only for code markers.
        let textual =
            lower_ct.starts_with("text/") || std::str::from_utf8(&content[..content.len().min(4096)]).is_ok();
        if textual && !lower_ct.starts_with("image/") {
            text(scan, content)
        } else {
            binary(scan, content)
        }
    } else if lower_ct.is_empty() || lower_ct.starts_with("text/plain") {
        text(scan, content)
    } else {
        by_type(scan, &ctype, content)
    }
}

/// Offset just past the end of the delimiter line (CRLF or LF).
fn line_end(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b).map(|p| p + 1)
}

/// Splits a part into its header block and content at the first blank line.
fn split_head(part: &[u8]) -> Option<(&[u8], &[u8])> {
    if part.starts_with(b"\r\n") {
        return Some((&[], &part[2..]));
    }
    if let Some(p) = memchr::memmem::find(part, b"\r\n\r\n") {
        return Some((&part[..p], &part[p + 4..]));
    }
    memchr::memmem::find(part, b"\n\n").map(|p| (&part[..p], &part[p + 2..]))
}

fn trim_crlf(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// The `boundary` parameter of a lowercased-for-matching multipart content type (the value
/// is taken from the same position, case preserved by the caller's string).
fn boundary(ctype: &str) -> Option<String> {
    let v = param(ctype, "boundary")?;
    (!v.is_empty() && v.len() <= 200).then_some(v)
}

/// A `;`-separated parameter, quoted or not.
fn param(header: &str, key: &str) -> Option<String> {
    header.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(key) {
            return None;
        }
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
        Some(v.to_owned())
    })
}
