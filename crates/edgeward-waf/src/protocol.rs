//! The protocol policy: restricted files and hidden paths, and header values shaped for
//! request smuggling or filter evasion. Each check is a managed rule that can be turned off.
//!
//! | rule | checks |
//! | --- | --- |
//! | `waf-proto-901` | the last path segment has a restricted extension (`.bak`, `.sql`, `.config`, `.swp` …) or is a backup (`index.php~`) |
//! | `waf-proto-902` | a path segment is a hidden file or directory (`/.env`, `/.git/config`); `/.well-known/` is allowed |
//! | `waf-proto-903` | `Transfer-Encoding` other than a clean coding list ending in `chunked`; a non-numeric or repeated `Content-Length` |
//! | `waf-proto-905` | a `Range` header with more than 10 ranges |
//! | `waf-proto-906` | a `Content-Type` charset other than UTF-8 / Latin-1 / ASCII (UTF-7, IBM037 hide payloads from filters) |
//!
//! `waf-proto-900` (methods) is applied by `waf`; `904` by `crlf`; `907`–`911` by `body`.
//! Does not own: framing errors the HTTP codec already refuses with 400.

use crate::decode::percent_decode_once;
use crate::waf::Scan;
use crate::{Category, Location, Strength, WafInput, WafMatch};

/// Extensions of files that are never meant to be served: backups, sources, configuration,
/// databases, keys, logs, editor swap files.
const RESTRICTED_EXTENSIONS: &[&str] = &[
    "asa",
    "asax",
    "ascx",
    "backup",
    "bak",
    "bat",
    "cdx",
    "cer",
    "cfg",
    "cmd",
    "config",
    "conf",
    "cs",
    "csproj",
    "csr",
    "dat",
    "db",
    "dbf",
    "dll",
    "dos",
    "htr",
    "htw",
    "ida",
    "idc",
    "idq",
    "inc",
    "ini",
    "key",
    "licx",
    "lnk",
    "log",
    "mdb",
    "old",
    "orig",
    "pass",
    "pdb",
    "pem",
    "pol",
    "printer",
    "pwd",
    "rdb",
    "resources",
    "resx",
    "sav",
    "save",
    "sql",
    "sqlite",
    "sqlite3",
    "swo",
    "swp",
    "sys",
    "tmp",
    "vb",
    "vbproj",
    "vbs",
    "vsdisco",
    "webinfo",
    "xsx",
    "p12",
    "pfx",
    "kdbx",
    "tfstate",
    "jks",
    "keystore",
    "ovpn",
    "npmrc",
    "bash_history",
    "history",
    "dist",
    "tar",
    "tgz",
    "gz",
    "zip",
    "7z",
    "rar",
    "war",
    "jar",
    "bz2",
];

/// Charsets a body may declare without being an evasion.
const CHARSETS: &[&str] = &[
    "utf-8",
    "utf8",
    "iso-8859-1",
    "iso-8859-15",
    "latin1",
    "windows-1252",
    "us-ascii",
    "ascii",
];

pub(crate) fn check(scan: &Scan<'_>, input: &WafInput<'_>) -> Option<WafMatch> {
    path(scan, input.path).or_else(|| headers(scan, input.headers))
}

fn path(scan: &Scan<'_>, raw: &str) -> Option<WafMatch> {
    let decoded = percent_decode_once(raw, false);
    let lower = decoded.to_ascii_lowercase();
    let segments: Vec<&str> = lower.split(['/', '\\']).filter(|s| !s.is_empty()).collect();
    for seg in &segments {
        let seg = seg.split(';').next().unwrap_or(seg);
        if seg.starts_with('.')
            && seg != "."
            && seg != ".."
            && seg != ".well-known"
            && !seg.starts_with("...")
        {
            return scan.rule(
                "waf-proto-902",
                Category::Protocol,
                Strength::Medium,
                Location::Path,
                &decoded,
            );
        }
    }
    let last = segments.last()?.split(';').next().unwrap_or_default();
    let backup = last.ends_with('~') || last.starts_with('#') && last.ends_with('#') && last.len() > 2;
    let restricted = last
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && RESTRICTED_EXTENSIONS.contains(&ext));
    // An archive or log is often a real download; only a few archive names are clearly a dump.
    let archive = last.rsplit_once('.').is_some_and(|(stem, ext)| {
        matches!(
            ext,
            "tar" | "tgz" | "gz" | "zip" | "7z" | "rar" | "war" | "jar" | "bz2" | "log" | "dat" | "dist"
        ) && !matches!(
            stem,
            "backup" | "db" | "dump" | "site" | "www" | "database" | "htdocs" | "web" | "wwwroot"
        )
    });
    if backup || restricted && !archive {
        return scan.rule(
            "waf-proto-901",
            Category::Protocol,
            Strength::Medium,
            Location::Path,
            &decoded,
        );
    }
    None
}

fn headers(scan: &Scan<'_>, headers: &[(&str, &[u8])]) -> Option<WafMatch> {
    let mut content_length: Option<&[u8]> = None;
    let mut te_fields = 0;
    for (name, value) in headers {
        let loc = || Location::Header((*name).to_owned());
        let text = || String::from_utf8_lossy(value).into_owned();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            te_fields += 1;
            if !clean_transfer_coding(value) || te_fields > 1 {
                return scan.rule(
                    "waf-proto-903",
                    Category::Protocol,
                    Strength::Strong,
                    loc(),
                    &text(),
                );
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // RFC 9110 §8.6: a list of identical decimal values is one valid length (the
            // codec accepts it too); anything else is smuggling-shaped.
            let single = single_length(value);
            let differs = content_length.is_some_and(|c| Some(c) != single);
            if single.is_none() || differs {
                return scan.rule(
                    "waf-proto-903",
                    Category::Protocol,
                    Strength::Strong,
                    loc(),
                    &text(),
                );
            }
            content_length = single;
        } else if name.eq_ignore_ascii_case("range") || name.eq_ignore_ascii_case("request-range") {
            if value.iter().filter(|&&c| c == b',').count() >= 10 {
                return scan.rule(
                    "waf-proto-905",
                    Category::Protocol,
                    Strength::Medium,
                    loc(),
                    &text(),
                );
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            if let Some(cs) = charset(value) {
                if !CHARSETS.contains(&cs.as_str()) {
                    return scan.rule(
                        "waf-proto-906",
                        Category::Protocol,
                        Strength::Medium,
                        loc(),
                        &text(),
                    );
                }
            }
        }
    }
    None
}

/// `chunked`, or a list of known codings whose last is `chunked`, in plain tokens.
fn clean_transfer_coding(v: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(v) else {
        return false;
    };
    let codings: Vec<&str> = s.split(',').map(str::trim).collect();
    codings.iter().all(|c| {
        ["chunked", "gzip", "deflate", "compress", "x-gzip", "identity"]
            .iter()
            .any(|k| c.eq_ignore_ascii_case(k))
    }) && codings.last().is_some_and(|c| c.eq_ignore_ascii_case("chunked"))
}

/// The lowercased `charset` parameter of a media type.
fn charset(v: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(v).to_ascii_lowercase();
    let (_, params) = s.split_once(';')?;
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == "charset").then(|| v.trim().trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use crate::{Sensitivity, Waf, WafInput};

    fn rule(path: &str, headers: &[(&str, &[u8])]) -> Option<&'static str> {
        let input = WafInput {
            path,
            query: "",
            headers,
            body: None,
        };
        Waf::new(Sensitivity::Medium).inspect(&input).map(|m| m.rule_id)
    }

    #[test]
    fn restricted_files_and_dotfiles() {
        assert_eq!(rule("/.env", &[]), Some("waf-proto-902"));
        assert_eq!(rule("/.git/config", &[]), Some("waf-proto-902"));
        assert_eq!(rule("/backup/site.sql", &[]), Some("waf-proto-901"));
        assert_eq!(rule("/index.php.bak", &[]), Some("waf-proto-901"));
        assert_eq!(rule("/index.php~", &[]), Some("waf-proto-901"));
        assert_eq!(rule("/backup.zip", &[]), Some("waf-proto-901"));
        assert_eq!(rule("/.well-known/acme-challenge/x", &[]), None);
        assert_eq!(rule("/downloads/release-1.2.tar.gz", &[]), None);
        assert_eq!(rule("/blog/2024/05/why-rust", &[]), None);
    }

    #[test]
    fn smuggling_shaped_headers() {
        assert_eq!(
            rule("/", &[("Transfer-Encoding", b"chunked, identity")]),
            Some("waf-proto-903")
        );
        assert_eq!(
            rule("/", &[("Transfer-Encoding", b"xchunked")]),
            Some("waf-proto-903")
        );
        assert_eq!(rule("/", &[("Transfer-Encoding", b"gzip, chunked")]), None);
        assert_eq!(rule("/", &[("Content-Length", b"1, 2")]), Some("waf-proto-903"));
        assert_eq!(
            rule("/", &[("Content-Type", b"text/plain; charset=utf-7")]),
            Some("waf-proto-906")
        );
        assert_eq!(rule("/", &[("Content-Type", b"text/html; charset=UTF-8")]), None);
        let many = b"bytes=0-1,2-3,4-5,6-7,8-9,10-11,12-13,14-15,16-17,18-19,20-21";
        assert_eq!(rule("/", &[("Range", many)]), Some("waf-proto-905"));
    }
}

/// The one length a Content-Length value states: digits, or a list of identical ones.
fn single_length(value: &[u8]) -> Option<&[u8]> {
    let mut items = value.split(|&b| b == b',').map(|item| item.trim_ascii());
    let first = items.next()?;
    let digits = |v: &[u8]| !v.is_empty() && v.iter().all(u8::is_ascii_digit);
    (digits(first) && items.all(|item| item == first)).then_some(first)
}

#[cfg(test)]
mod length_tests {
    use super::single_length;

    #[test]
    fn identical_length_lists_state_one_length() {
        assert_eq!(single_length(b"5"), Some(&b"5"[..]));
        assert_eq!(single_length(b"5, 5"), Some(&b"5"[..]));
        assert_eq!(single_length(b"5, 6"), None);
        assert_eq!(single_length(b"5,"), None);
        assert_eq!(single_length(b"-5"), None);
        assert_eq!(single_length(b""), None);
    }
}
