//! The managed WAF of one zone: its switches and the walk over one request.
//!
//! Owns: [`Waf`] and its builder methods (sensitivity, body limits, disabled rules,
//! detection-only mode, allowed methods, oversize action), [`WafRequest`] and [`Verdict`],
//! and the order in which a request is inspected: method → scanner signatures → protocol
//! policy → path → query → headers and cookies → body → body size. The first blocking match
//! ends the walk.
//! Does not own: what a value matches (`engine` and the detector modules), body formats and
//! Content-Encoding (`body`), or the protocol rules themselves (`protocol`).

use crate::decode::{evasive_encoding, evidence, for_each_pair, percent_decode_once, still_encoded};
use crate::engine::{self, Gates, Hit};
use crate::rules::MANAGED_RULES;
use crate::{body, protocol, scanners};
use crate::{Category, Location, Sensitivity, Strength, WafInput, WafMatch};
use std::fmt;

/// Default bound on the body bytes inspected (after Content-Encoding decoding).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default bound on the bytes a content-encoded body may decode to before it is a bomb.
pub const DEFAULT_DECODED_LIMIT: usize = 16 * 1024 * 1024;
/// Methods a zone allows unless configured otherwise.
pub const DEFAULT_ALLOWED_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// What happens to a body longer than the inspected limit (rule `waf-proto-910`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OversizeAction {
    /// Forward it; the verdict is [`Verdict::Log`] so the uninspected tail is on record.
    #[default]
    Log,
    /// Refuse it: [`Verdict::TooLarge`] (413).
    Block,
}

/// The result of [`Waf::inspect_request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing matched.
    Pass,
    /// A rule matched but the zone is detection-only (or the rule only logs): forward the
    /// request and log the match.
    Log(WafMatch),
    /// A managed rule blocks the request: 403 with the rule id.
    Block(WafMatch),
    /// The body is refused for its size: a decompression bomb (`waf-proto-911`) or, with
    /// [`OversizeAction::Block`], a body longer than the limit (`waf-proto-910`): 413.
    TooLarge(WafMatch),
}

/// A request as the proxy hands it to [`Waf::inspect_request`].
#[derive(Clone, Copy, Debug)]
pub struct WafRequest<'a> {
    /// The request method as sent (`GET`).
    pub method: &'a str,
    /// Path, query, headers and the body prefix.
    pub input: WafInput<'a>,
    /// False when the body is longer than the prefix in `input.body`.
    pub body_complete: bool,
    /// Rule ids a custom rule's `skip` turned off for this request.
    pub skip_rules: &'a [&'a str],
}

/// A rule id or family named in [`Waf::with_disabled_rules`] that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRule(pub String);

impl fmt::Display for UnknownRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown managed rule `{}`", self.0)
    }
}

impl std::error::Error for UnknownRule {}

/// The managed WAF for one zone: immutable, shareable across connections.
#[derive(Clone, Debug)]
pub struct Waf {
    sensitivity: Sensitivity,
    pub(crate) body_limit: usize,
    pub(crate) decoded_limit: usize,
    disabled: Vec<&'static str>,
    detection_only: bool,
    allowed_methods: Vec<String>,
    oversize: OversizeAction,
}

/// Headers whose grammar is fixed and machine-generated; inspecting them only adds noise
/// (the protocol policy still checks the few whose values are abused).
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
    /// A WAF with every managed rule on at `sensitivity`, blocking.
    pub fn new(sensitivity: Sensitivity) -> Waf {
        Waf {
            sensitivity,
            body_limit: DEFAULT_BODY_LIMIT,
            decoded_limit: DEFAULT_DECODED_LIMIT,
            disabled: Vec::new(),
            detection_only: false,
            allowed_methods: DEFAULT_ALLOWED_METHODS.iter().map(|m| (*m).to_owned()).collect(),
            oversize: OversizeAction::Log,
        }
    }

    /// Inspects at most `limit` body bytes (after decoding); see [`OversizeAction`].
    pub fn with_body_limit(mut self, limit: usize) -> Waf {
        self.body_limit = limit;
        self
    }

    /// A content-encoded body that decodes to more than `limit` bytes is a bomb.
    pub fn with_decoded_limit(mut self, limit: usize) -> Waf {
        self.decoded_limit = limit;
        self
    }

    /// Turns rules off: each entry is a rule id (`waf-sqli-105`) or a family prefix
    /// (`waf-sqli`, `waf-proto`) turning off every rule of that family.
    pub fn with_disabled_rules<S: AsRef<str>>(
        mut self,
        ids: impl IntoIterator<Item = S>,
    ) -> Result<Waf, UnknownRule> {
        for id in ids {
            let id = id.as_ref();
            let family = format!("{id}-");
            let matched: Vec<&'static str> = MANAGED_RULES
                .iter()
                .filter(|r| r.id == id || r.id.starts_with(&family))
                .map(|r| r.id)
                .collect();
            if matched.is_empty() {
                return Err(UnknownRule(id.to_owned()));
            }
            self.disabled.extend(matched);
        }
        Ok(self)
    }

    /// With `on`, matches are logged ([`Verdict::Log`]) and never block.
    pub fn detection_only(mut self, on: bool) -> Waf {
        self.detection_only = on;
        self
    }

    /// Methods allowed in this zone (`waf-proto-900` blocks the others); case-sensitive, as
    /// RFC 9110 §9.1 says method names are.
    pub fn with_allowed_methods<S: AsRef<str>>(mut self, methods: impl IntoIterator<Item = S>) -> Waf {
        self.allowed_methods = methods.into_iter().map(|m| m.as_ref().to_owned()).collect();
        self
    }

    /// What a body longer than the limit gets.
    pub fn with_oversize_action(mut self, action: OversizeAction) -> Waf {
        self.oversize = action;
        self
    }

    /// The sensitivity this WAF blocks at.
    pub fn sensitivity(&self) -> Sensitivity {
        self.sensitivity
    }

    /// Returns the first managed rule the request trips, or `None` to let it through.
    ///
    /// The method is not known here (`waf-proto-900` never fires), the body is taken as
    /// complete, and detection-only mode is ignored: see [`Waf::inspect_request`].
    pub fn inspect(&self, input: &WafInput<'_>) -> Option<WafMatch> {
        let scan = Scan { waf: self, skip: &[] };
        scan.request(None, input, true)
    }

    /// The verdict on one request: block, log, refuse the body for its size, or pass.
    pub fn inspect_request(&self, req: &WafRequest<'_>) -> Verdict {
        let scan = Scan {
            waf: self,
            skip: req.skip_rules,
        };
        let Some(m) = scan.request(Some(req.method), &req.input, req.body_complete) else {
            return Verdict::Pass;
        };
        let too_large = m.rule_id == "waf-proto-911"
            || m.rule_id == "waf-proto-910" && self.oversize == OversizeAction::Block;
        match () {
            _ if self.detection_only || m.rule_id == "waf-proto-910" && !too_large => Verdict::Log(m),
            _ if too_large => Verdict::TooLarge(m),
            _ => Verdict::Block(m),
        }
    }
}

/// One inspection: the zone's WAF plus the rules this request skips.
pub(crate) struct Scan<'w> {
    pub(crate) waf: &'w Waf,
    skip: &'w [&'w str],
}

impl Scan<'_> {
    /// True when a signal of `id` at `strength` blocks in this zone for this request.
    pub(crate) fn allows(&self, id: &str, strength: Strength) -> bool {
        self.waf.sensitivity.blocks(strength) && !self.waf.disabled.contains(&id) && !self.skip.contains(&id)
    }

    /// A policy rule's match, when it is on.
    pub(crate) fn rule(
        &self,
        id: &'static str,
        category: Category,
        strength: Strength,
        location: Location,
        value: &str,
    ) -> Option<WafMatch> {
        self.allows(id, strength).then(|| WafMatch {
            rule_id: id,
            category,
            location,
            evidence: evidence(value),
        })
    }

    fn request(&self, method: Option<&str>, input: &WafInput<'_>, body_complete: bool) -> Option<WafMatch> {
        if let Some(m) = method {
            if !self.waf.allowed_methods.iter().any(|a| a == m) {
                let hit = self.rule(
                    "waf-proto-900",
                    Category::Protocol,
                    Strength::Strong,
                    Location::Method,
                    m,
                );
                if hit.is_some() {
                    return hit;
                }
            }
        }
        for (name, value) in input.headers {
            let found = if name.eq_ignore_ascii_case("user-agent") {
                scanners::scanner_agent(value).and_then(|_| {
                    let loc = Location::Header((*name).to_owned());
                    let text = String::from_utf8_lossy(value);
                    self.rule("waf-scan-500", Category::Scanner, Strength::Strong, loc, &text)
                })
            } else if scanners::scanner_header(name) {
                let loc = Location::Header((*name).to_owned());
                self.rule("waf-scan-501", Category::Scanner, Strength::Strong, loc, name)
            } else {
                None
            };
            if found.is_some() {
                return found;
            }
        }
        if let Some(m) = protocol::check(self, input) {
            return Some(m);
        }
        let path = percent_decode_once(input.path, false);
        if let Some(m) = self.value(&path, || Location::Path) {
            return Some(m);
        }
        if let Some(m) = self.pairs(input.query, || Location::Query) {
            return Some(m);
        }
        for (name, value) in input.headers {
            if let Some(m) = self.header(name, value) {
                return Some(m);
            }
        }
        let (ctype, bytes) = input.body?;
        if bytes.is_empty() {
            return None;
        }
        let outcome = body::inspect(self, input.headers, ctype, bytes);
        if outcome.found.is_some() {
            return outcome.found;
        }
        let limit = self.waf.body_limit;
        if !body_complete || outcome.truncated {
            let note = format!("body longer than the {limit} bytes inspected");
            return self.rule(
                "waf-proto-910",
                Category::Protocol,
                Strength::Strong,
                Location::Body,
                &note,
            );
        }
        None
    }

    fn header(&self, name: &str, value: &[u8]) -> Option<WafMatch> {
        let text = crate::decode::utf8_lossy(value);
        let structured = STRUCTURED_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
            || name.len() > 4 && name[..4].eq_ignore_ascii_case("sec-");
        if structured {
            // Log4Shell sprays every header, these included.
            if !text.contains("${") && !text.contains("{{") {
                return None;
            }
        }
        if name.eq_ignore_ascii_case("cookie") {
            for crumb in text.split(';') {
                let (n, v) = crumb.split_once('=').unwrap_or(("", crumb));
                let n = percent_decode_once(n.trim(), false);
                let v = percent_decode_once(v.trim(), false);
                if let Some(m) = self
                    .value(&n, || Location::Cookie)
                    .or_else(|| self.value(&v, || Location::Cookie))
                {
                    return Some(m);
                }
            }
            return None;
        }
        let loc = || Location::Header(name.to_owned());
        if name.eq_ignore_ascii_case("referer") {
            let (path, query) = text.split_once('?').unwrap_or((&text, ""));
            let decoded = percent_decode_once(path, false);
            return self.value(&decoded, loc).or_else(|| self.pairs(query, loc));
        }
        let decoded = percent_decode_once(&text, false);
        self.value(&decoded, loc)
    }

    /// Checks each `name=value` pair of a query or form body, decoded once (form rules).
    pub(crate) fn pairs(&self, raw: &str, loc: impl Fn() -> Location + Copy) -> Option<WafMatch> {
        for_each_pair(raw, |name, value| {
            self.value(name, loc).or_else(|| self.value(value, loc))
        })
    }

    /// Runs every detector on one value that its container already decoded once.
    pub(crate) fn value(&self, value: &str, loc: impl Fn() -> Location) -> Option<WafMatch> {
        if value.is_empty() {
            return None;
        }
        let mut hits = Vec::new();
        engine::hits(value, Gates::On, &mut hits);
        if let Some(h) = self.best(&hits) {
            return Some(WafMatch {
                rule_id: h.id,
                category: h.category,
                location: loc(),
                evidence: evidence(value),
            });
        }
        // Nested URLs legitimately re-encode `&`, `/`, `'`; these never need it.
        if still_encoded(value) && evasive_encoding(value) {
            return self.rule("waf-enc-600", Category::Evasion, Strength::Medium, loc(), value);
        }
        None
    }

    /// The most certain hit this zone lets block.
    fn best<'h>(&self, hits: &'h [Hit]) -> Option<&'h Hit> {
        hits.iter()
            .filter(|h| self.allows(h.id, h.strength))
            .fold(None, |best: Option<&Hit>, h| match best {
                Some(b) if b.strength <= h.strength => Some(b),
                _ => Some(h),
            })
    }
}
