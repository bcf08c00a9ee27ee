//! Browser Integrity Check: cheap header sanity checks that stop crude bots.
//!
//! Owns: rejecting requests with no or empty User-Agent, User-Agents of tools built for spam
//! and content theft ([`ABUSIVE_AGENTS`]), clients claiming to be a mainstream browser while
//! lacking the `Accept` header every such browser sends, and headers no real client forges
//! (names with spaces or control bytes, garbage `X-Forwarded-For` / `Via`).
//!
//! Deliberately conservative: general-purpose HTTP tools (curl, Wget, python-requests, Go,
//! Java, Node) pass — blocking them breaks APIs, monitoring and webhooks. Scanners are the
//! WAF's concern (`scanners`). Does not own: rendering the failure.

use std::net::IpAddr;

/// Why a request failed the Browser Integrity Check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BicFailure {
    /// Stable id: `bic-100` … `bic-106`.
    pub rule_id: &'static str,
    pub reason: &'static str,
}

/// User-Agent substrings (ASCII case-insensitive) of e-mail harvesters, comment spammers,
/// site rippers and exploit bots. Each is a tool whose only common use is abuse.
pub const ABUSIVE_AGENTS: &[&str] = &[
    "emailcollector",
    "emailsiphon",
    "emailwolf",
    "email extractor",
    "extractorpro",
    "webbandit",
    "web bandit",
    "blackwidow",
    "sitesnagger",
    "webstripper",
    "webzip",
    "teleport pro",
    "indy library",
    "zmeu",
    "morfeus",
    "jorgee",
    "xrumer",
    "grub-client",
    "hmview",
    "atomic_email_hunter",
    "contentsmartz",
    "webreaper",
    "harvest/",
    "lwp-trivial",
    "libwww-perl",
];

fn header<'a>(headers: &'a [(&str, &[u8])], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn contains_ci(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

const fn fail(rule_id: &'static str, reason: &'static str) -> Result<(), BicFailure> {
    Err(BicFailure { rule_id, reason })
}

/// Checks one request head; `Ok(())` lets it through.
pub fn browser_check(headers: &[(&str, &[u8])], method: &str) -> Result<(), BicFailure> {
    for (name, _) in headers {
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f || b == b':') {
            return fail("bic-104", "malformed header name");
        }
    }
    let Some(ua) = header(headers, "user-agent") else {
        return fail("bic-100", "missing User-Agent");
    };
    if ua.trim_ascii().is_empty() {
        return fail("bic-101", "empty User-Agent");
    }
    if ABUSIVE_AGENTS.iter().any(|a| contains_ci(ua, a)) {
        return fail("bic-102", "User-Agent of an abusive tool");
    }
    let claims_browser = ua.starts_with(b"Mozilla/5.0 (")
        && ["Chrome/", "Firefox/", "Safari/", "Edg/"]
            .iter()
            .any(|b| contains_ci(ua, b))
        && ![
            "bot",
            "crawl",
            "spider",
            "slurp",
            "preview",
            "fetch",
            "lighthouse",
        ]
        .iter()
        .any(|b| contains_ci(ua, b));
    let navigational = matches!(method, "GET" | "HEAD" | "POST");
    if claims_browser && navigational && header(headers, "accept").is_none() {
        return fail("bic-103", "browser User-Agent without an Accept header");
    }
    if let Some(xff) = header(headers, "x-forwarded-for") {
        if !valid_forwarded_for(xff) {
            return fail("bic-105", "malformed X-Forwarded-For");
        }
    }
    if let Some(via) = header(headers, "via") {
        if !valid_via(via) {
            return fail("bic-106", "malformed Via");
        }
    }
    Ok(())
}

/// Each comma-separated element is an IP (optionally `[v6]`, `:port`) or `unknown`/obfuscated.
fn valid_forwarded_for(v: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(v) else {
        return false;
    };
    s.split(',').map(str::trim).all(|el| {
        if el.is_empty() || el.eq_ignore_ascii_case("unknown") || el.starts_with('_') {
            return !el.is_empty() || s.trim().is_empty();
        }
        if el.parse::<IpAddr>().is_ok() {
            return true;
        }
        if let Some(rest) = el.strip_prefix('[') {
            return rest
                .split_once(']')
                .is_some_and(|(ip, _)| ip.parse::<IpAddr>().is_ok());
        }
        el.rsplit_once(':')
            .is_some_and(|(ip, port)| ip.parse::<IpAddr>().is_ok() && port.parse::<u16>().is_ok())
    })
}

/// Each element starts with a protocol version (`1.1`, `HTTP/1.1`, `2`) and names a host;
/// no control bytes anywhere.
fn valid_via(v: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(v) else {
        return false;
    };
    if s.bytes().any(|b| b < b' ' && b != b'\t') {
        return false;
    }
    s.split(',').all(|el| {
        let mut parts = el.split_whitespace();
        let (Some(proto), Some(_host)) = (parts.next(), parts.next()) else {
            return false;
        };
        let version = proto.rsplit('/').next().unwrap_or("");
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &[u8] = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

    fn rule(h: &[(&str, &[u8])]) -> Option<&'static str> {
        browser_check(h, "GET").err().map(|f| f.rule_id)
    }

    #[test]
    fn real_clients_pass() {
        assert_eq!(rule(&[("User-Agent", CHROME), ("Accept", b"text/html")]), None);
        assert_eq!(rule(&[("user-agent", b"curl/8.5.0"), ("accept", b"*/*")]), None);
        assert_eq!(rule(&[("User-Agent", b"Wget/1.21.4")]), None);
        assert_eq!(
            rule(&[("User-Agent", b"Googlebot/2.1 (+http://www.google.com/bot.html)")]),
            None
        );
        assert_eq!(
            rule(&[
                ("User-Agent", CHROME),
                ("Accept", b"*/*"),
                (
                    "X-Forwarded-For",
                    b"203.0.113.9, 10.0.0.1:8080, [2001:db8::1]:443, unknown"
                )
            ]),
            None
        );
        assert_eq!(
            rule(&[
                ("User-Agent", CHROME),
                ("Accept", b"*/*"),
                ("Via", b"1.1 varnish, HTTP/2 proxy.example (squid)")
            ]),
            None
        );
        assert_eq!(browser_check(&[("User-Agent", CHROME)], "OPTIONS"), Ok(()));
    }

    #[test]
    fn crude_bots_fail() {
        assert_eq!(rule(&[("Accept", b"*/*")]), Some("bic-100"));
        assert_eq!(rule(&[("User-Agent", b"  ")]), Some("bic-101"));
        assert_eq!(
            rule(&[("User-Agent", b"Mozilla/3.0 (compatible; Indy Library)")]),
            Some("bic-102")
        );
        assert_eq!(rule(&[("User-Agent", CHROME)]), Some("bic-103"));
        assert_eq!(rule(&[("User Agent", CHROME)]), Some("bic-104"));
        assert_eq!(
            rule(&[
                ("User-Agent", CHROME),
                ("Accept", b"*/*"),
                ("X-Forwarded-For", b"' or 1=1--")
            ]),
            Some("bic-105")
        );
        assert_eq!(
            rule(&[("User-Agent", CHROME), ("Accept", b"*/*"), ("Via", b"lol")]),
            Some("bic-106")
        );
    }
}
