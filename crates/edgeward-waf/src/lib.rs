//! edgeward's web application firewall: managed detectors and the other request-screening
//! policies that run before a request reaches the origin.
//!
//! Owns, one module per concern:
//! - managed detectors — [`Waf::inspect`] over path, query, headers, cookies and bounded
//!   bodies, using `sqli`, `xss`, `traversal`, `cmdi`, `scanners` on values `decode`d once,
//!   each value lowercased and byte-classified once (`find::ByteSet`) so that detectors skip
//!   searches and work that the value's bytes rule out, without changing any verdict;
//! - IP access rules ([`IpRules`]) and the CIDR → country map ([`GeoIp`]);
//! - the Browser Integrity Check ([`browser_check`]);
//! - the proof-of-work challenge and clearance cookie ([`ClearanceKey`]);
//! - HTTP Basic authentication ([`BasicAuth`]).
//!
//! Does not own: turning a verdict into a response (that is `edgeward-errors`' renderer and
//! the proxy pipeline), configuration parsing, or analytics.

mod basic_auth;
mod browser;
mod challenge;
mod cmdi;
pub mod decode;
mod find;
mod geoip;
mod ip_rules;
mod ranges;
mod scanners;
mod sqli;
mod sqli_lex;
mod traversal;
mod xss;

pub use basic_auth::{AuthResult, BasicAuth};
pub use browser::{browser_check, BicFailure, ABUSIVE_AGENTS};
pub use challenge::{
    clearance_from_cookie_header, solve_pow, Challenge, ChallengeError, ChallengeForm, ClearanceCookie,
    ClearanceKey, CHALLENGE_PATH, CLEARANCE_COOKIE,
};
pub use geoip::GeoIp;
pub use ip_rules::{IpAction, IpRuleEntry, IpRules, IpTarget};
pub use scanners::SCANNER_AGENTS;

use find::ByteSet;

use decode::{
    evasive_encoding, evidence, for_each_json_string, for_each_pair, percent_decode_once, still_encoded,
};

/// How eagerly the managed detectors block, per zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sensitivity {
    /// Only unambiguous attack structure (UNION SELECT, `<script`, `../../../etc/passwd`).
    Low,
    /// The default: structural signatures, tuned for near-zero false positives.
    #[default]
    Medium,
    /// Also weak signals (a lone `../`, any HTML tag, `alert(`); expect some false positives.
    High,
}

/// How certain one detector signal is; a sensitivity blocks at or above its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Strength {
    Strong,
    Medium,
    Weak,
}

impl Sensitivity {
    fn blocks(self, s: Strength) -> bool {
        match self {
            Sensitivity::Low => s == Strength::Strong,
            Sensitivity::Medium => s <= Strength::Medium,
            Sensitivity::High => true,
        }
    }
}

/// The family of attack a managed rule detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    SqlInjection,
    Xss,
    PathTraversal,
    CommandInjection,
    Scanner,
    /// Encoding used to slip past filters (double percent-encoding).
    Evasion,
}

/// Where in the request the match was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    /// A header other than `Cookie`; the name as the client sent it.
    Header(String),
    Cookie,
    Body,
}

/// What the WAF inspects: borrowed views of one request head and (optionally) its body.
#[derive(Clone, Copy, Debug)]
pub struct WafInput<'a> {
    /// The request path, still percent-encoded, without the query.
    pub path: &'a str,
    /// The raw query string after `?` (empty when none).
    pub query: &'a str,
    /// All request headers in arrival order.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Content type and (possibly partial) body bytes, when buffered.
    pub body: Option<(&'a str, &'a [u8])>,
}

/// A managed rule that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WafMatch {
    /// Stable rule id such as `waf-sqli-100`.
    pub rule_id: &'static str,
    pub category: Category,
    pub location: Location,
    /// The offending (decoded) value, at most 64 bytes.
    pub evidence: String,
}

/// Default bound on the body bytes inspected.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The managed WAF for one zone: immutable, shareable across connections.
#[derive(Clone, Debug)]
pub struct Waf {
    sensitivity: Sensitivity,
    body_limit: usize,
}

/// Headers whose grammar is fixed and machine-generated; inspecting them only adds noise.
const STRUCTURED_HEADERS: &[&str] = &[
    "host",
    "accept",
    "accept-encoding",
    "accept-language",
    "accept-charset",
    "connection",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "cache-control",
    "pragma",
    "authorization",
    "proxy-authorization",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "range",
    "upgrade",
    "upgrade-insecure-requests",
    "dnt",
    "te",
    "priority",
    "keep-alive",
    "expect",
    "origin",
    "purpose",
    "sec-purpose",
    "x-requested-with",
    "traceparent",
    "tracestate",
];

impl Waf {
    /// A WAF with every managed detector on at `sensitivity`.
    pub fn new(sensitivity: Sensitivity) -> Waf {
        Waf {
            sensitivity,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Inspects at most `limit` body bytes (the rest passes unexamined).
    pub fn with_body_limit(mut self, limit: usize) -> Waf {
        self.body_limit = limit;
        self
    }

    /// The sensitivity this WAF blocks at.
    pub fn sensitivity(&self) -> Sensitivity {
        self.sensitivity
    }

    /// Returns the first managed rule the request trips, or `None` to let it through.
    pub fn inspect(&self, input: &WafInput<'_>) -> Option<WafMatch> {
        for (name, value) in input.headers {
            if name.eq_ignore_ascii_case("user-agent") {
                if let Some(sig) = scanners::scanner_agent(value) {
                    let _ = sig;
                    return Some(self.hit(
                        "waf-scan-500",
                        Category::Scanner,
                        Location::Header((*name).to_owned()),
                        &String::from_utf8_lossy(value),
                    ));
                }
            } else if scanners::scanner_header(name) {
                return Some(self.hit(
                    "waf-scan-501",
                    Category::Scanner,
                    Location::Header((*name).to_owned()),
                    name,
                ));
            }
        }
        let path = percent_decode_once(input.path, false);
        if let Some(m) = self.check_value(input.path, &path, || Location::Path) {
            return Some(m);
        }
        if let Some(m) = self.check_pairs(input.query, || Location::Query) {
            return Some(m);
        }
        for (name, value) in input.headers {
            if let Some(m) = self.check_header(name, value) {
                return Some(m);
            }
        }
        if let Some((ctype, body)) = input.body {
            return self.check_body(ctype, body);
        }
        None
    }

    fn check_header(&self, name: &str, value: &[u8]) -> Option<WafMatch> {
        let lname = |n: &str| STRUCTURED_HEADERS.iter().any(|h| n.eq_ignore_ascii_case(h));
        if lname(name) || name.len() > 4 && name[..4].eq_ignore_ascii_case("sec-") {
            return None;
        }
        let text = utf8_lossy(value);
        if name.eq_ignore_ascii_case("cookie") {
            for crumb in text.split(';') {
                let (_, v) = crumb.split_once('=').unwrap_or(("", crumb));
                let decoded = percent_decode_once(v.trim(), false);
                if let Some(m) = self.check_value(v, &decoded, || Location::Cookie) {
                    return Some(m);
                }
            }
            return None;
        }
        let loc = || Location::Header(name.to_owned());
        if name.eq_ignore_ascii_case("referer") {
            let (path, query) = text.split_once('?').unwrap_or((&text, ""));
            let decoded = percent_decode_once(path, false);
            return self
                .check_value(path, &decoded, loc)
                .or_else(|| self.check_pairs(query, loc));
        }
        let decoded = percent_decode_once(&text, false);
        self.check_value(&text, &decoded, loc)
    }

    fn check_body(&self, ctype: &str, body: &[u8]) -> Option<WafMatch> {
        let body = &body[..body.len().min(self.body_limit)];
        let ctype = ctype.trim_start();
        let is =
            |prefix: &str| ctype.len() >= prefix.len() && ctype[..prefix.len()].eq_ignore_ascii_case(prefix);
        let text = utf8_lossy(body);
        if is("application/x-www-form-urlencoded") {
            self.check_pairs(&text, || Location::Body)
        } else if is("application/json")
            || ctype
                .split(';')
                .next()
                .is_some_and(|t| t.trim().ends_with("+json"))
        {
            // JSON strings were never URL-decoded: decoding them once is their first decode.
            for_each_json_string(&text, |s| {
                let once = percent_decode_once(s, false);
                // Nothing to decode: `once` is `s` itself and would give the same verdict.
                let decoded = matches!(once, std::borrow::Cow::Owned(_));
                self.detect(s)
                    .or_else(|| if decoded { self.detect(&once) } else { None })
                    .map(|(id, cat)| self.hit(id, cat, Location::Body, s))
            })
        } else {
            None
        }
    }

    fn check_pairs(&self, raw: &str, loc: impl Fn() -> Location + Copy) -> Option<WafMatch> {
        for_each_pair(raw, |name, value| {
            self.check_value(name, name, loc)
                .or_else(|| self.check_value(value, value, loc))
        })
    }

    /// Runs the detectors on one value decoded once; `raw` is only used for evidence when the
    /// decoded form is empty. A value still encoded after one decode is checked decoded twice.
    fn check_value(&self, raw: &str, decoded: &str, loc: impl Fn() -> Location) -> Option<WafMatch> {
        if decoded.is_empty() {
            let _ = raw;
            return None;
        }
        if still_encoded(decoded) {
            let twice = percent_decode_once(decoded, false);
            if let Some((id, cat)) = self.detect(&twice) {
                return Some(self.hit(id, cat, loc(), &twice));
            }
            // Nested URLs legitimately re-encode `&`, `/`, `'`; these never need it.
            if evasive_encoding(decoded) && self.sensitivity.blocks(Strength::Medium) {
                return Some(self.hit("waf-enc-600", Category::Evasion, loc(), decoded));
            }
        }
        self.detect(decoded)
            .map(|(id, cat)| self.hit(id, cat, loc(), decoded))
    }

    fn detect(&self, value: &str) -> Option<(&'static str, Category)> {
        // One pass over the value, lowercasing it (on the stack when short) and collecting its
        // byte set; every gate and search below is then exact and cheap.
        let mut stack = [0u8; 256];
        let heap;
        let lower: &str = if value.len() <= stack.len() {
            let buf = &mut stack[..value.len()];
            buf.copy_from_slice(value.as_bytes());
            buf.make_ascii_lowercase();
            // ASCII lowercasing keeps UTF-8 valid, so this never fails.
            std::str::from_utf8(buf).unwrap_or_default()
        } else {
            heap = value.to_ascii_lowercase();
            &heap
        };
        let set = ByteSet::of(lower.as_bytes());
        // Words, spaces and light punctuation carry no attack syntax (`--` does: a comment).
        let plain = set.is_subset(&PLAIN) && !find::contains(lower.as_bytes(), b"--");
        if plain && !find::contains(lower.as_bytes(), b"union") {
            return None;
        }
        let mut best: Option<(&'static str, Category, Strength)> = None;
        let candidates = [
            (sqli::detect(lower), Category::SqlInjection),
            (traversal::detect_in(lower, set), Category::PathTraversal),
            (cmdi::detect_in(lower, set), Category::CommandInjection),
            (xss::detect_in(value, lower, set), Category::Xss),
        ];
        for (hit, cat) in candidates {
            if let Some((id, s)) = hit {
                if self.sensitivity.blocks(s) && best.map_or(true, |b| s < b.2) {
                    best = Some((id, cat, s));
                }
            }
        }
        best.map(|(id, cat, _)| (id, cat))
    }

    fn hit(&self, rule_id: &'static str, category: Category, location: Location, value: &str) -> WafMatch {
        WafMatch {
            rule_id,
            category,
            location,
            evidence: evidence(value),
        }
    }
}

/// `String::from_utf8_lossy`, with the (vectorised) validity check first for the common case.
fn utf8_lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Bytes of a "plain" value: letters, digits, space, `-_.,!?` and any non-ASCII byte (each of
/// these is a whole class of [`ByteSet`], so the subset test is exact).
const PLAIN: ByteSet = ByteSet::of_const(b"abcdefghijklmnopqrstuvwxyz0 -_.,!?\x80");

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(path: &'a str, query: &'a str, headers: &'a [(&'a str, &'a [u8])]) -> WafInput<'a> {
        WafInput {
            path,
            query,
            headers,
            body: None,
        }
    }

    #[test]
    fn benign_request_passes() {
        let h: &[(&str, &[u8])] = &[
            (
                "User-Agent",
                b"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            ),
            ("Accept", b"text/html,*/*;q=0.8"),
            ("Cookie", b"_ga=GA1.2.1234.5678; theme=dark"),
            ("Referer", b"https://example.com/search?q=O%27Reilly+books"),
        ];
        let waf = Waf::new(Sensitivity::High);
        assert_eq!(
            waf.inspect(&req("/books/oreilly", "q=O%27Reilly&page=2", h)),
            None
        );
    }

    #[test]
    fn names_rule_and_location() {
        let waf = Waf::new(Sensitivity::Medium);
        let m = waf
            .inspect(&req("/p", "id=1%27%20OR%20%271%27%3D%271", &[]))
            .unwrap();
        assert_eq!(
            (m.rule_id, m.category, m.location),
            ("waf-sqli-101", Category::SqlInjection, Location::Query)
        );
        let m = waf.inspect(&req("/%2e%2e/%2e%2e/etc/passwd", "", &[])).unwrap();
        assert_eq!(m.location, Location::Path);
        let h: &[(&str, &[u8])] = &[("Cookie", b"sid=abc; pref=%3Cscript%3Ealert(1)%3C/script%3E")];
        assert_eq!(waf.inspect(&req("/", "", h)).unwrap().location, Location::Cookie);
        let h: &[(&str, &[u8])] = &[("User-Agent", b"sqlmap/1.7.2#stable (https://sqlmap.org)")];
        assert_eq!(waf.inspect(&req("/", "", h)).unwrap().rule_id, "waf-scan-500");
    }

    #[test]
    fn double_encoding_is_a_signal() {
        let waf = Waf::new(Sensitivity::Medium);
        let m = waf
            .inspect(&req("/", "f=%252e%252e%252fetc%252fpasswd", &[]))
            .unwrap();
        assert_eq!(m.category, Category::PathTraversal);
        let m = waf.inspect(&req("/", "f=%253Cb%253E", &[])).unwrap();
        assert_eq!(m.rule_id, "waf-enc-600");
        assert_eq!(
            Waf::new(Sensitivity::Low).inspect(&req("/", "f=%253Cb%253E", &[])),
            None
        );
        // A nested URL re-encoding an apostrophe is not evasion.
        assert_eq!(
            waf.inspect(&req("/", "next=%2Fsearch%3Fq%3DO%2527Reilly", &[])),
            None
        );
    }

    #[test]
    fn bodies_are_walked_within_the_limit() {
        let waf = Waf::new(Sensitivity::Medium);
        let json = br#"{"user":{"name":"x","bio":"<svg onload=alert(1)>"}}"#;
        let input = WafInput {
            path: "/api",
            query: "",
            headers: &[],
            body: Some(("application/json; charset=utf-8", json)),
        };
        assert_eq!(waf.inspect(&input).unwrap().location, Location::Body);
        let form = b"a=1&b=1+union+select+null,null--";
        let input = WafInput {
            body: Some(("application/x-www-form-urlencoded", form)),
            ..input
        };
        assert_eq!(waf.inspect(&input).unwrap().rule_id, "waf-sqli-100");
        assert_eq!(
            Waf::new(Sensitivity::Medium).with_body_limit(4).inspect(&input),
            None
        );
        let input = WafInput {
            body: Some(("text/plain", form)),
            ..input
        };
        assert_eq!(waf.inspect(&input), None);
    }

    #[test]
    fn pathological_input_stays_fast() {
        let waf = Waf::new(Sensitivity::High);
        for unit in ["<a ", "'", "`x", "../", "$(", "&#", " or ", "%25"] {
            let body = format!("v={}", unit.repeat(DEFAULT_BODY_LIMIT / unit.len()));
            let input = WafInput {
                path: "/",
                query: "",
                headers: &[],
                body: Some(("application/x-www-form-urlencoded", body.as_bytes())),
            };
            let start = std::time::Instant::now();
            let _ = waf.inspect(&input);
            assert!(
                start.elapsed().as_secs() < 2,
                "{unit:?} took {:?}",
                start.elapsed()
            );
        }
    }

    #[test]
    fn evidence_is_truncated() {
        let q = format!("q=%3Cscript%3E{}", "a".repeat(200));
        let m = Waf::new(Sensitivity::Low).inspect(&req("/", &q, &[])).unwrap();
        assert!(m.evidence.len() <= 64);
    }
}
