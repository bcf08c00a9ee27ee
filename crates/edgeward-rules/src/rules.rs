//! Rules and what they do: [`Rule`], [`Action`], [`Phase`], and the ordered [`RuleSet`] of a
//! zone with its evaluation semantics.
//!
//! It owns the decision (which rule, if any, ends the request, and which later phases are
//! skipped). It does not render responses or know status codes beyond documenting them; the
//! proxy maps a decision to an error from the catalog.

use crate::{Expr, Request};
use std::fmt;

/// A later security phase a `skip` rule can bypass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The remaining custom rules of this rule set.
    CustomRules,
    /// Managed WAF rules.
    Waf,
    /// Rate limiting.
    RateLimit,
    /// Browser Integrity Check.
    BrowserCheck,
    /// IP access rules.
    IpRules,
}

impl Phase {
    /// Every phase, in pipeline order.
    pub const ALL: [Phase; 5] = [
        Phase::CustomRules,
        Phase::Waf,
        Phase::RateLimit,
        Phase::BrowserCheck,
        Phase::IpRules,
    ];

    /// Parses the config spelling: `custom_rules`, `waf`, `rate_limit`, `browser_check`, `ip_rules`.
    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::CustomRules => "custom_rules",
            Phase::Waf => "waf",
            Phase::RateLimit => "rate_limit",
            Phase::BrowserCheck => "browser_check",
            Phase::IpRules => "ip_rules",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of phases, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseSet(u8);

impl PhaseSet {
    /// No phase.
    pub const EMPTY: PhaseSet = PhaseSet(0);

    /// Every phase.
    pub fn all() -> PhaseSet {
        Phase::ALL.into_iter().collect()
    }

    /// Whether `p` is in the set.
    pub fn contains(&self, p: Phase) -> bool {
        self.0 & p.bit() != 0
    }

    /// Adds `p`.
    pub fn insert(&mut self, p: Phase) {
        self.0 |= p.bit();
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The phases in the set, in pipeline order.
    pub fn iter(self) -> impl Iterator<Item = Phase> {
        Phase::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Phase> for PhaseSet {
    fn from_iter<I: IntoIterator<Item = Phase>>(iter: I) -> PhaseSet {
        let mut s = PhaseSet::EMPTY;
        for p in iter {
            s.insert(p);
        }
        s
    }
}

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Refuse (403).
    Block,
    /// Serve the interstitial challenge.
    Challenge,
    /// Report the match and continue.
    Log,
    /// Skip the named later phases for this request.
    Skip(Vec<Phase>),
    /// Skip all remaining security phases.
    Allow,
    /// Refuse for legal reasons (451).
    LegalBlock {
        /// The entity that demanded the block (the `Link: rel="blocked-by"` target).
        blocked_by: String,
        /// The explanation shown to the user.
        explanation: String,
    },
    /// The content is permanently gone (410).
    Gone,
    /// Payment required (402), e.g. pay-per-crawl.
    PaymentRequired {
        /// Price / how-to-pay headers to send.
        headers: Vec<(String, String)>,
        /// The explanation shown to the client.
        message: String,
    },
    /// 405 unless the request method is one of these (exact, methods are case-sensitive).
    Methods(Vec<String>),
    /// 415 unless the request's media type (parameters ignored, ASCII case-insensitive) is one
    /// of these. A request with neither a body nor a Content-Type carries no content to refuse.
    ContentTypes(Vec<String>),
}

impl Action {
    /// A `skip` of the given phases.
    pub fn skip(phases: impl IntoIterator<Item = Phase>) -> Action {
        Action::Skip(phases.into_iter().collect())
    }

    /// A `legal_block`.
    pub fn legal_block(blocked_by: impl Into<String>, explanation: impl Into<String>) -> Action {
        Action::LegalBlock {
            blocked_by: blocked_by.into(),
            explanation: explanation.into(),
        }
    }

    /// A `payment_required` with its headers and message.
    pub fn payment_required(headers: Vec<(String, String)>, message: impl Into<String>) -> Action {
        Action::PaymentRequired {
            headers,
            message: message.into(),
        }
    }

    /// A method restriction; names are trimmed.
    pub fn methods<S: AsRef<str>>(methods: impl IntoIterator<Item = S>) -> Action {
        Action::Methods(
            methods
                .into_iter()
                .map(|m| m.as_ref().trim().to_string())
                .collect(),
        )
    }

    /// A content-type restriction; media types are trimmed and lower-cased.
    pub fn content_types<S: AsRef<str>>(types: impl IntoIterator<Item = S>) -> Action {
        Action::ContentTypes(
            types
                .into_iter()
                .map(|t| t.as_ref().trim().to_ascii_lowercase())
                .collect(),
        )
    }

    /// The config name of the action kind (`block`, `legal_block`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Challenge => "challenge",
            Action::Log => "log",
            Action::Skip(_) => "skip",
            Action::Allow => "allow",
            Action::LegalBlock { .. } => "legal_block",
            Action::Gone => "gone",
            Action::PaymentRequired { .. } => "payment_required",
            Action::Methods(_) => "methods",
            Action::ContentTypes(_) => "content_types",
        }
    }

    /// For `Methods` / `ContentTypes`: whether the request violates the restriction.
    fn violated_by(&self, req: &Request<'_>) -> bool {
        match self {
            Action::Methods(allowed) => !allowed.iter().any(|m| m == req.method),
            Action::ContentTypes(allowed) => match req.headers.header("content-type") {
                None => req.body_size > 0,
                Some(ct) => {
                    let media = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
                    !allowed
                        .iter()
                        .any(|t| t.trim().as_bytes().eq_ignore_ascii_case(media))
                }
            },
            _ => false,
        }
    }
}

/// One rule of a zone.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stable id, reported in logs and block pages.
    pub id: String,
    /// When the rule applies.
    pub expr: Expr,
    /// What it does then.
    pub action: Action,
    /// Free text for operators.
    pub description: Option<String>,
}

impl Rule {
    /// A rule without a description.
    pub fn new(id: impl Into<String>, expr: Expr, action: Action) -> Rule {
        Rule {
            id: id.into(),
            expr,
            action,
            description: None,
        }
    }
}

/// The outcome of running a [`RuleSet`] over a request.
#[derive(Clone, Copy, Debug)]
pub struct Verdict<'r> {
    /// The rule that ends the request (Block, Challenge, Allow, LegalBlock, Gone,
    /// PaymentRequired, or a violated Methods / ContentTypes), if any.
    pub decision: Option<&'r Rule>,
    /// Later phases to skip (all of them after `Allow`).
    pub skipped: PhaseSet,
}

/// The ordered rules of one zone.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Rules are evaluated in the given order.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet { rules }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Evaluates rules in order: every `Log` match is reported, `Skip` accumulates skipped phases
    /// (and a skip of CustomRules ends rule evaluation), the first terminating action ends
    /// evaluation. `Allow` ends evaluation and skips every phase.
    pub fn evaluate<'r>(&'r self, req: &Request<'_>, logged: &mut impl FnMut(&'r Rule)) -> Verdict<'r> {
        self.evaluate_cleared(req, false, logged)
    }

    /// Like [`RuleSet::evaluate`], but when the client already holds a valid challenge
    /// clearance (`cleared`), a matching `Challenge` rule is satisfied and evaluation goes on
    /// to the later rules instead of ending there.
    pub fn evaluate_cleared<'r>(
        &'r self,
        req: &Request<'_>,
        cleared: bool,
        logged: &mut impl FnMut(&'r Rule),
    ) -> Verdict<'r> {
        let mut skipped = PhaseSet::EMPTY;
        for rule in &self.rules {
            if !rule.expr.eval(req) {
                continue;
            }
            match &rule.action {
                Action::Log => logged(rule),
                Action::Skip(phases) => {
                    skipped = phases.iter().copied().chain(skipped.iter()).collect();
                    if skipped.contains(Phase::CustomRules) {
                        break;
                    }
                }
                Action::Allow => {
                    return Verdict {
                        decision: Some(rule),
                        skipped: PhaseSet::all(),
                    }
                }
                Action::Methods(_) | Action::ContentTypes(_) => {
                    if rule.action.violated_by(req) {
                        return Verdict {
                            decision: Some(rule),
                            skipped,
                        };
                    }
                }
                Action::Challenge if cleared => {}
                Action::Block
                | Action::Challenge
                | Action::LegalBlock { .. }
                | Action::Gone
                | Action::PaymentRequired { .. } => {
                    return Verdict {
                        decision: Some(rule),
                        skipped,
                    }
                }
            }
        }
        Verdict {
            decision: None,
            skipped,
        }
    }
}
