//! Bulk redirect lists: many `source URL → target` entries matched in O(1) per request.
//!
//! It owns the source URL normal form and the lookup: one `HashMap` whose keys are either
//! `host/path` (host lower-cased, without port or trailing dot) or a bare `/path` that matches
//! on any host of the zone. A request costs at most two hash lookups and builds its key in a
//! stack buffer, so a miss does not allocate. Paths are compared exactly (RFC 3986 §6.2.2: a
//! path is case-sensitive); query strings are not part of the key. It does not read files
//! (`edgeward-config` parses CSV and TOML lists into [`BulkRedirects::insert`]).

use crate::redirect::{host_without_port, location, Redirect, RedirectStatus};
use crate::Request;
use std::collections::HashMap;
use std::fmt;

/// Longest source key (host + path) accepted; request keys longer than any stored key are a
/// miss without a lookup.
pub const MAX_SOURCE_BYTES: usize = 2048;

/// One list entry's target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkEntry {
    /// The target URL (absolute, or a path on the same host).
    pub target: Box<str>,
    /// The status to send.
    pub status: RedirectStatus,
    /// Whether the request's query string is appended to the target.
    pub preserve_query: bool,
    /// Where the entry came from (a line number), for duplicate messages.
    pub line: u32,
}

/// Why an entry was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BulkError {
    /// The source is not `[scheme://]host/path` or `/path`.
    Source(String),
    /// The target is empty or holds characters a `Location` cannot.
    Target(String),
    /// The same source appears twice; `first` is the earlier entry's line.
    Duplicate {
        /// The line of the first entry with this source.
        first: u32,
    },
}

impl fmt::Display for BulkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkError::Source(m) | BulkError::Target(m) => f.write_str(m),
            BulkError::Duplicate { first } => write!(f, "duplicate source (first listed on line {first})"),
        }
    }
}

/// A compiled bulk redirect list.
#[derive(Clone, Debug, Default)]
pub struct BulkRedirects {
    entries: HashMap<Box<str>, BulkEntry>,
    longest_key: usize,
}

impl BulkRedirects {
    /// An empty list sized for `n` entries.
    pub fn with_capacity(n: usize) -> BulkRedirects {
        BulkRedirects {
            entries: HashMap::with_capacity(n),
            longest_key: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `source → entry`. `source` is `https://host/path`, `host/path` or `/path` (any
    /// host); the scheme is ignored (both match), a query or fragment is refused.
    pub fn insert(&mut self, source: &str, entry: BulkEntry) -> Result<(), BulkError> {
        let key = source_key(source)?;
        check_target(&entry.target)?;
        if let Some(first) = self.entries.get(key.as_str()) {
            return Err(BulkError::Duplicate { first: first.line });
        }
        self.longest_key = self.longest_key.max(key.len());
        self.entries.insert(key.into(), entry);
        Ok(())
    }

    /// The entry for `host` (any case, with or without port) and `path`: the host-specific
    /// entry first, then the path-only one.
    pub fn lookup(&self, host: &str, path: &str) -> Option<&BulkEntry> {
        if self.entries.is_empty() {
            return None;
        }
        let host = host_without_port(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        let len = host.len() + path.len();
        if !host.is_empty() && len <= self.longest_key {
            // Most keys are short: a small buffer saves zeroing 2 KiB per request.
            let hit = if len <= 128 {
                self.host_entry::<128>(host, path)
            } else {
                self.host_entry::<MAX_SOURCE_BYTES>(host, path)
            };
            if hit.is_some() {
                return hit;
            }
        }
        self.entries.get(path)
    }

    /// The host-specific entry, its key built in an `N`-byte stack buffer (`N` ≥ the key).
    fn host_entry<const N: usize>(&self, host: &str, path: &str) -> Option<&BulkEntry> {
        let len = host.len() + path.len();
        let mut buf = [0u8; N];
        buf[..host.len()].copy_from_slice(host.as_bytes());
        buf[..host.len()].make_ascii_lowercase();
        buf[host.len()..len].copy_from_slice(path.as_bytes());
        // Both pieces are UTF-8 and lower-casing is ASCII-only.
        std::str::from_utf8(&buf[..len])
            .ok()
            .and_then(|key| self.entries.get(key))
    }

    /// The redirect for `req`, if its host and path are listed.
    pub fn redirect(&self, req: &Request<'_>) -> Option<Redirect> {
        let e = self.lookup(req.host, req.path)?;
        let query = if e.preserve_query { req.query } else { "" };
        Some(Redirect {
            status: e.status.code(),
            location: location(&e.target, query),
        })
    }
}

/// The normal form of a source URL: `host/path` or `/path`.
fn source_key(source: &str) -> Result<String, BulkError> {
    let bad = |why: &str| BulkError::Source(format!("source \"{source}\" {why}"));
    let s = source.trim();
    if s.contains(['?', '#']) {
        return Err(bad(
            "has a query or fragment: sources match on host and path only",
        ));
    }
    if s.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("contains a space or control character"));
    }
    let rest = match s.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest
        }
        Some(_) => return Err(bad("must use http:// or https:// (or no scheme)")),
        None => s,
    };
    let key = if rest.starts_with('/') {
        rest.to_string()
    } else {
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() || host.contains(['@', ':']) && !host.starts_with('[') {
            return Err(bad(
                "has no valid host (write host/path without port or user, or /path)",
            ));
        }
        let path = if path.is_empty() { "/" } else { path };
        format!("{}{path}", host.to_ascii_lowercase())
    };
    if key.len() > MAX_SOURCE_BYTES {
        return Err(bad(&format!("is longer than {MAX_SOURCE_BYTES} bytes")));
    }
    Ok(key)
}

fn check_target(target: &str) -> Result<(), BulkError> {
    if target.is_empty() {
        return Err(BulkError::Target("empty target".into()));
    }
    if target.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(BulkError::Target(format!(
            "target \"{target}\" contains a control character"
        )));
    }
    if !(target.starts_with('/') || target.contains("://")) {
        return Err(BulkError::Target(format!(
            "target \"{target}\" must be an absolute URL (https://…) or a path (/…)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: &str, line: u32) -> BulkEntry {
        BulkEntry {
            target: target.into(),
            status: RedirectStatus::MovedPermanently,
            preserve_query: false,
            line,
        }
    }

    #[test]
    fn sources_normalise_and_match_host_then_path() {
        let mut list = BulkRedirects::default();
        list.insert("https://Example.COM/Old", entry("/a", 1)).unwrap();
        list.insert("/old", entry("/b", 2)).unwrap();
        list.insert("shop.example.com", entry("https://example.com/shop", 3))
            .unwrap();
        let target = |h, p| list.lookup(h, p).map(|e| &*e.target);
        assert_eq!(target("example.com", "/Old"), Some("/a"));
        assert_eq!(target("EXAMPLE.com:8080", "/Old"), Some("/a"));
        assert_eq!(target("example.com.", "/Old"), Some("/a"));
        assert_eq!(
            target("example.com", "/old"),
            Some("/b"),
            "path-only entry, any host"
        );
        assert_eq!(target("other.test", "/old"), Some("/b"));
        assert_eq!(target("other.test", "/Old"), None, "paths are case-sensitive");
        assert_eq!(target("shop.example.com", "/"), Some("https://example.com/shop"));
        assert_eq!(target("shop.example.com", "/x"), None);
        assert_eq!(target("", "/old"), Some("/b"));
    }

    #[test]
    fn redirect_keeps_query_only_when_asked() {
        let mut list = BulkRedirects::default();
        let mut e = entry("https://new.example/x", 1);
        list.insert(
            "/keep",
            BulkEntry {
                preserve_query: true,
                status: RedirectStatus::PermanentRedirect,
                ..e.clone()
            },
        )
        .unwrap();
        e.target = "https://new.example/y?v=2".into();
        list.insert("/drop", e).unwrap();
        let h: &[(&str, &str)] = &[];
        let mut req = Request::new("192.0.2.1".parse().unwrap(), &h);
        req.query = "q=1";
        req.path = "/keep";
        assert_eq!(
            list.redirect(&req),
            Some(Redirect {
                status: 308,
                location: "https://new.example/x?q=1".into()
            })
        );
        req.path = "/drop";
        assert_eq!(
            list.redirect(&req),
            Some(Redirect {
                status: 301,
                location: "https://new.example/y?v=2".into()
            })
        );
        req.path = "/none";
        assert_eq!(list.redirect(&req), None);
    }

    #[test]
    fn bad_entries_are_refused() {
        let mut list = BulkRedirects::default();
        list.insert("/a", entry("/b", 7)).unwrap();
        assert_eq!(
            list.insert("/a", entry("/c", 9)),
            Err(BulkError::Duplicate { first: 7 })
        );
        assert_eq!(
            list.insert("HTTP://x.test/a", entry("/c", 9))
                .and(list.insert("x.test/a", entry("/c", 10))),
            Err(BulkError::Duplicate { first: 9 })
        );
        for src in ["/a?b=1", "ftp://x/a", "x.test:80/a", "u@x.test/a", "/a b", ""] {
            assert!(
                matches!(list.insert(src, entry("/t", 1)), Err(BulkError::Source(_))),
                "{src:?}"
            );
        }
        for target in ["", "relative", "/a\r\nSet-Cookie: x"] {
            assert!(
                matches!(list.insert("/new", entry(target, 1)), Err(BulkError::Target(_))),
                "{target:?}"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_SOURCE_BYTES));
        assert!(matches!(
            list.insert(&long, entry("/t", 1)),
            Err(BulkError::Source(_))
        ));
    }
}
