//! Host patterns (`example.com`, `*.example.com`) and the index that routes a request's host to
//! its zone.
//!
//! Owns hostname syntax and matching; it does not strip ports or lowercase request hosts (the
//! proxy hands over a host already normalised).

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv6Addr;

use crate::Zone;

/// One entry of a zone's `hosts`: an exact host or a `*.` wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Matches this host only (lowercase).
    Exact(String),
    /// Matches any host ending in this suffix, which includes its leading dot (`.example.com`),
    /// at any depth; never the bare suffix domain itself.
    Wildcard(String),
}

impl HostPattern {
    /// Parses a configured pattern, lowercasing it; the error says what is wrong.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(domain) = lower.strip_prefix("*.") {
            if domain.contains('*') {
                return Err(format!(
                    "invalid host pattern `{text}`: `*` is allowed only as a leading `*.`"
                ));
            }
            if !is_hostname(domain) {
                return Err(format!(
                    "invalid host pattern `{text}`: `{domain}` is not a valid hostname"
                ));
            }
            return Ok(HostPattern::Wildcard(format!(".{domain}")));
        }
        if lower.contains('*') {
            return Err(format!(
                "invalid host pattern `{text}`: `*` is allowed only as a leading `*.`"
            ));
        }
        if is_hostname(&lower) || is_bracketed_ipv6(&lower) {
            Ok(HostPattern::Exact(lower))
        } else {
            Err(format!("invalid host pattern `{text}`: not a valid hostname"))
        }
    }

    /// Whether `host` (lowercase, without port) is covered by this pattern.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(exact) => exact == host,
            HostPattern::Wildcard(suffix) => host.len() > suffix.len() && host.ends_with(&**suffix),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(host) => f.write_str(host),
            HostPattern::Wildcard(suffix) => write!(f, "*{suffix}"),
        }
    }
}

/// Whether `text` is a DNS hostname (letters, digits, hyphens; labels of 1–63 characters not
/// starting or ending in a hyphen; at most 253 characters). Dotted IPv4 addresses qualify.
pub(crate) fn is_hostname(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether `text` is an IPv6 literal in brackets, as it appears in a `Host` header.
fn is_bracketed_ipv6(text: &str) -> bool {
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .is_some_and(|inner| inner.parse::<Ipv6Addr>().is_ok())
}

/// Routes a request host to the index of its zone: exact hosts first, then the longest matching
/// wildcard suffix.
#[derive(Debug, Clone, Default)]
pub struct ZoneIndex {
    exact: HashMap<String, usize>,
    /// Wildcard suffixes with their leading dot, e.g. `.example.com`.
    wildcard: HashMap<String, usize>,
}

impl ZoneIndex {
    /// Builds the index; if a pattern appears in several zones (validation forbids it), the
    /// first zone keeps it.
    pub fn new(zones: &[Zone]) -> ZoneIndex {
        let mut index = ZoneIndex::default();
        for (i, zone) in zones.iter().enumerate() {
            for pattern in &zone.hosts {
                let map = match pattern {
                    HostPattern::Exact(_) => &mut index.exact,
                    HostPattern::Wildcard(_) => &mut index.wildcard,
                };
                let key = match pattern {
                    HostPattern::Exact(s) | HostPattern::Wildcard(s) => s.clone(),
                };
                map.entry(key).or_insert(i);
            }
        }
        index
    }

    /// The zone serving `host` (lowercase, port stripped), without allocating.
    pub fn lookup(&self, host: &str) -> Option<usize> {
        if let Some(&zone) = self.exact.get(host) {
            return Some(zone);
        }
        if self.wildcard.is_empty() {
            return None;
        }
        // Suffixes starting at each dot, leftmost (longest) first; the dot must not be the first
        // byte, since a wildcard needs at least one label before its suffix.
        host.match_indices('.')
            .filter(|&(at, _)| at > 0)
            .find_map(|(at, _)| self.wildcard.get(&host[at..]).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorPages, Origin};

    fn zone(name: &str, hosts: &[&str]) -> Zone {
        Zone {
            name: name.to_string(),
            hosts: hosts.iter().map(|h| HostPattern::parse(h).unwrap()).collect(),
            origins: vec![Origin::from(std::net::SocketAddr::from(([127, 0, 0, 1], 9000)))],
            upstream: Default::default(),
            limits: Default::default(),
            intercept_origin_404: false,
            upgrades: true,
            upgrade_idle_timeout: crate::DEFAULT_UPGRADE_IDLE_TIMEOUT,
            underscores_in_headers: false,
            error_pages: ErrorPages::default(),
            policy: Default::default(),
            traffic: Default::default(),
        }
    }

    #[test]
    fn parses_exact_and_wildcard_lowercased() {
        assert_eq!(
            HostPattern::parse("Example.COM"),
            Ok(HostPattern::Exact("example.com".into()))
        );
        assert_eq!(
            HostPattern::parse("*.Example.com"),
            Ok(HostPattern::Wildcard(".example.com".into()))
        );
        assert_eq!(
            HostPattern::parse("127.0.0.1"),
            Ok(HostPattern::Exact("127.0.0.1".into()))
        );
        assert_eq!(
            HostPattern::parse("[::1]"),
            Ok(HostPattern::Exact("[::1]".into()))
        );
        assert_eq!(
            HostPattern::parse("*.example.com").unwrap().to_string(),
            "*.example.com"
        );
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "",
            "*",
            "*.",
            "**.example.com",
            "a.*.example.com",
            "*example.com",
            "example.*",
            "*.*.example.com",
            "exa mple.com",
            "example..com",
            ".example.com",
            "example.com.",
            "-a.example.com",
            "a-.example.com",
            "ex_ample.com",
            "example.com:80",
            "[::1",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(HostPattern::parse(&long_label).is_err());
        assert!(HostPattern::parse("*.a.*").unwrap_err().contains("leading `*.`"));
    }

    #[test]
    fn wildcard_matches_any_depth_but_not_the_bare_domain() {
        let p = HostPattern::parse("*.example.com").unwrap();
        assert!(p.matches("www.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches(".example.com"));
        assert!(!p.matches("badexample.com"));
        assert!(!p.matches("example.com.evil"));
        let exact = HostPattern::parse("example.com").unwrap();
        assert!(exact.matches("example.com"));
        assert!(!exact.matches("www.example.com"));
    }

    #[test]
    fn index_prefers_exact_then_longest_wildcard() {
        let zones = [
            zone("broad", &["*.example.com"]),
            zone("narrow", &["*.api.example.com"]),
            zone("pinned", &["v1.api.example.com", "example.com"]),
            zone("other", &["other.org"]),
        ];
        let index = ZoneIndex::new(&zones);
        assert_eq!(index.lookup("v1.api.example.com"), Some(2));
        assert_eq!(index.lookup("example.com"), Some(2));
        assert_eq!(index.lookup("v2.api.example.com"), Some(1));
        assert_eq!(index.lookup("x.v2.api.example.com"), Some(1));
        assert_eq!(index.lookup("api.example.com"), Some(0));
        assert_eq!(index.lookup("a.b.example.com"), Some(0));
        assert_eq!(index.lookup("other.org"), Some(3));
        assert_eq!(index.lookup("www.other.org"), None);
        assert_eq!(index.lookup("example.org"), None);
        assert_eq!(index.lookup(".example.com"), None);
        assert_eq!(index.lookup(""), None);
    }
}
