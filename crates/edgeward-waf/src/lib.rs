//! edgeward's web application firewall: managed detectors and the other request-screening
//! policies that run before a request reaches the origin.
//!
//! Owns, one module per concern:
//! - the managed WAF — [`Waf`] (in `waf`) over the method, path, query, headers, cookies and
//!   bodies (`body`: urlencoded, JSON, multipart, XML/SOAP, text, none declared; with
//!   `Content-Encoding` decoded under a bound), the protocol policy (`protocol`), one detector
//!   module per attack family (`sqli`, `xss`, `traversal`, `cmdi`, `java`, `php`, `ssti`,
//!   `ssi`, `nosql`, `ldap`, `crlf`, `xxe`, `scanners`), the normalisation and the byte-class
//!   pre-filter they share (`engine`, `decode`, `find`), and the catalog of managed rules
//!   ([`MANAGED_RULES`]);
//! - IP access rules ([`IpRules`]) and the CIDR → country map ([`GeoIp`]);
//! - the Browser Integrity Check ([`browser_check`]);
//! - the proof-of-work challenge and clearance cookie ([`ClearanceKey`]);
//! - HTTP Basic authentication ([`BasicAuth`]).
//!
//! Does not own: turning a verdict into a response (that is `edgeward-errors`' renderer and
//! the proxy pipeline), configuration parsing, or analytics.

mod basic_auth;
mod body;
mod browser;
mod challenge;
mod cmdi;
mod crlf;
pub mod decode;
mod engine;
#[cfg(test)]
mod engine_tests;
mod find;
mod geoip;
mod ip_rules;
mod java;
mod ldap;
mod nosql;
mod php;
mod protocol;
mod ranges;
mod rules;
mod scanners;
mod sqli;
mod sqli_lex;
mod ssi;
mod ssti;
mod traversal;
mod waf;
mod xss;
mod xxe;

pub use basic_auth::{AuthResult, BasicAuth};
pub use browser::{browser_check, BicFailure, ABUSIVE_AGENTS};
pub use challenge::{
    clearance_from_cookie_header, solve_pow, Challenge, ChallengeError, ChallengeForm, ClearanceCookie,
    ClearanceKey, CHALLENGE_PATH, CLEARANCE_COOKIE,
};
pub use geoip::GeoIp;
pub use ip_rules::{IpAction, IpRuleEntry, IpRules, IpTarget};
pub use rules::{managed_rule, ManagedRule, MANAGED_RULES};
pub use scanners::SCANNER_AGENTS;
pub use waf::{
    OversizeAction, UnknownRule, Verdict, Waf, WafRequest, DEFAULT_ALLOWED_METHODS, DEFAULT_BODY_LIMIT,
    DEFAULT_DECODED_LIMIT,
};

/// How eagerly the managed detectors block, per zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sensitivity {
    /// Paranoia level 1: only unambiguous attack structure (UNION SELECT, `<script`,
    /// `../../../etc/passwd`, `${jndi:`).
    Low,
    /// Paranoia level 2, the default: structural signatures, tuned for near-zero false
    /// positives.
    #[default]
    Medium,
    /// Paranoia level 3: also weak signals (a lone `../`, any HTML tag, `alert(`); expect some
    /// false positives.
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
    /// Java expression language, OGNL/SpEL, Log4Shell lookups, deserialization gadgets.
    Java,
    /// PHP code injection, PHP stream wrappers, serialized PHP objects, script uploads.
    Php,
    /// Server-side template injection (Jinja2, Twig, FreeMarker, Velocity, ERB, …).
    TemplateInjection,
    /// Server-side includes and Edge Side Includes.
    Ssi,
    /// NoSQL (MongoDB) operator and JavaScript injection.
    NoSql,
    /// LDAP filter injection.
    Ldap,
    /// CRLF injection / HTTP response splitting.
    Crlf,
    /// XML external entities and DTD abuse.
    Xxe,
    /// Protocol policy: methods, restricted files, smuggling-shaped headers, body limits.
    Protocol,
}

/// Where in the request the match was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The request method.
    Method,
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
    /// The declared content type (`""` when none) and the body bytes read ahead (a prefix
    /// when the body is longer than the zone's body limit), as sent (still
    /// content-encoded).
    pub body: Option<(&'a str, &'a [u8])>,
}

/// A managed rule that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WafMatch {
    /// Stable rule id such as `waf-sqli-100` (see [`MANAGED_RULES`]).
    pub rule_id: &'static str,
    pub category: Category,
    pub location: Location,
    /// The offending (decoded) value, at most 64 bytes.
    pub evidence: String,
}
