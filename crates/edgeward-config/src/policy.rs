//! A zone's protections as configured: custom rules, rate limits, managed WAF,
//! IP access rules, Browser Integrity Check and Basic-auth paths.
//!
//! Owns their TOML shape and validation (expressions are compiled here, so a
//! bad one is reported at its file line and column). It does not run any of
//! them: the proxy builds its runtime detectors from these settings.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use edgeward_rules::{Action, Expr, Phase, Rule, RuleSet};
use serde::Deserialize;
use toml::Spanned;

use crate::schema::DurationText;
use crate::validate::Source;
use crate::ConfigError;

/// `[[zones.rules]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub id: Spanned<String>,
    pub expression: Spanned<String>,
    pub action: Spanned<String>,
    pub description: Option<String>,
    pub phases: Option<Spanned<Vec<Spanned<String>>>>,
    pub blocked_by: Option<Spanned<String>>,
    pub explanation: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub message: Option<String>,
    pub methods: Option<Spanned<Vec<String>>>,
    pub content_types: Option<Spanned<Vec<String>>>,
}

/// `[[zones.rate_limits]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub id: Spanned<String>,
    pub expression: Option<Spanned<String>>,
    #[serde(default)]
    pub characteristics: Vec<Spanned<String>>,
    pub requests: Spanned<u64>,
    pub period: Spanned<DurationText>,
    pub mitigation_timeout: Option<Spanned<DurationText>>,
    pub action: Option<Spanned<String>>,
    pub count_statuses: Option<Vec<Spanned<StatusMatch>>>,
}

/// A status in `count_statuses`: a code (`404`) or a class (`"4xx"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum StatusMatch {
    Code(u64),
    Class(String),
}

/// `[zones.waf]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWaf {
    pub enabled: Option<bool>,
    pub sensitivity: Option<Spanned<String>>,
    pub body_limit: Option<Spanned<u64>>,
    pub decoded_limit: Option<Spanned<u64>>,
    pub mode: Option<Spanned<String>>,
    pub oversize: Option<Spanned<String>>,
    pub disabled_rules: Option<Vec<Spanned<String>>>,
    pub allowed_methods: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[[zones.ip_rules]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIpRule {
    pub id: Option<String>,
    #[serde(rename = "match")]
    pub target: Spanned<String>,
    pub action: Spanned<String>,
}

/// `[[zones.auth]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    pub path_prefix: Spanned<String>,
    pub realm: String,
    pub users: Spanned<Vec<Spanned<String>>>,
}

/// The policy keys of a `[[zones]]` entry (kept as fields of `RawZone`, gathered here).
#[derive(Debug, Default)]
pub(crate) struct RawPolicy {
    pub rules: Vec<RawRule>,
    pub rate_limits: Vec<RawRateLimit>,
    pub waf: Option<RawWaf>,
    pub ip_rules: Vec<RawIpRule>,
    pub browser_check: bool,
    pub auth: Vec<RawAuth>,
}

/// A zone's protections, validated.
#[derive(Debug, Clone, Default)]
pub struct ZonePolicy {
    /// Custom rules, in order.
    pub rules: RuleSet,
    /// Rate-limit rules, in order.
    pub rate_limits: Vec<RateLimitRule>,
    /// Managed WAF settings.
    pub waf: WafSettings,
    /// IP access rules.
    pub ip_rules: Vec<IpRuleSetting>,
    /// Whether the Browser Integrity Check runs.
    pub browser_check: bool,
    /// Paths protected by Basic authentication.
    pub auth: Vec<AuthRealm>,
}

/// Managed WAF settings of a zone (on by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafSettings {
    /// Whether the managed rules run.
    pub enabled: bool,
    /// How eagerly they match.
    pub sensitivity: Sensitivity,
    /// Most body bytes inspected, after Content-Encoding decoding (`body_limit`).
    pub body_limit: usize,
    /// Most bytes a content-encoded body may decode to; more is a bomb (413)
    /// (`decoded_limit`).
    pub decoded_limit: usize,
    /// `mode = "log"`: matches are logged and never block (detection only).
    pub detection_only: bool,
    /// `oversize = "block"`: a body longer than `body_limit` is refused with 413;
    /// the default `"log"` forwards it and logs that its tail went uninspected.
    pub block_oversize: bool,
    /// Managed rule ids (`waf-sqli-105`) or families (`waf-proto`) turned off.
    pub disabled_rules: Vec<String>,
    /// Methods the zone accepts; others match `waf-proto-900`.
    pub allowed_methods: Vec<String>,
}

/// Methods a zone accepts unless `allowed_methods` says otherwise.
pub const DEFAULT_WAF_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Managed rule families, the prefix of every rule id (`waf-<family>-<number>`).
const WAF_FAMILIES: &[&str] = &[
    "sqli", "xss", "trav", "cmdi", "scan", "enc", "java", "php", "proto", "ssti", "ssi", "nosql", "ldap",
    "crlf", "xxe",
];

impl Default for WafSettings {
    fn default() -> Self {
        WafSettings {
            enabled: true,
            sensitivity: Sensitivity::Medium,
            body_limit: 1024 * 1024,
            decoded_limit: 16 * 1024 * 1024,
            detection_only: false,
            block_oversize: false,
            disabled_rules: Vec::new(),
            allowed_methods: DEFAULT_WAF_METHODS.iter().map(|m| (*m).to_owned()).collect(),
        }
    }
}

/// WAF sensitivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    /// Only the clearest attacks.
    Low,
    /// The default balance.
    Medium,
    /// Also weaker signals (more false positives).
    High,
}

/// One IP access rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRuleSetting {
    /// The rule id shown on block pages.
    pub id: String,
    /// What it matches.
    pub target: IpTarget,
    /// What it does.
    pub action: IpAction,
}

/// What an IP rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpTarget {
    /// An address with a prefix length (a single IP has the full length).
    Net(IpAddr, u8),
    /// A two-letter country code (needs `[geoip]`).
    Country(String),
}

/// What an IP rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpAction {
    /// Skip the remaining security phases.
    Allow,
    /// 403.
    Block,
    /// Serve the challenge.
    Challenge,
}

/// A path prefix that needs Basic credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRealm {
    /// Requests whose path starts with this need credentials.
    pub path_prefix: String,
    /// The protection space named in `WWW-Authenticate`.
    pub realm: String,
    /// `(user, password)`; a password may be `sha256:<hex>`.
    pub users: Vec<(String, String)>,
}

/// One rate-limit rule.
#[derive(Debug, Clone)]
pub struct RateLimitRule {
    /// The rule id (in keys, headers and pages).
    pub id: String,
    /// Which requests count; `None` = all.
    pub expr: Option<Expr>,
    /// What identifies a client.
    pub characteristics: Vec<Characteristic>,
    /// Requests allowed per period.
    pub requests: u64,
    /// The period.
    pub period: Duration,
    /// How long a client over the limit stays limited.
    pub mitigation_timeout: Duration,
    /// What happens over the limit.
    pub action: RateLimitAction,
    /// Count only responses with these statuses (`None` = count every request up front).
    pub count_statuses: Option<StatusFilter>,
}

/// What identifies a client for a rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Characteristic {
    /// The client IP.
    Ip,
    /// The Host.
    Host,
    /// The path.
    Path,
    /// A header's value (lowercase name).
    Header(String),
    /// A cookie's value.
    Cookie(String),
}

/// What a rate limit does when exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitAction {
    /// 429 with Retry-After.
    Block,
    /// Serve the challenge.
    Challenge,
    /// Log only.
    Log,
}

/// Statuses that count toward a rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusFilter {
    codes: Vec<u16>,
    classes: Vec<u16>,
}

impl StatusFilter {
    /// Whether `status` counts.
    pub fn matches(&self, status: u16) -> bool {
        self.codes.contains(&status) || self.classes.contains(&(status / 100))
    }
}

impl Source<'_> {
    /// Validates the policy keys of one zone.
    pub(crate) fn policy(&self, raw: RawPolicy) -> Result<ZonePolicy, ConfigError> {
        let mut ids = HashSet::new();
        let mut rules = Vec::with_capacity(raw.rules.len());
        for r in raw.rules {
            self.unique_id(&mut ids, &r.id)?;
            rules.push(self.rule(r)?);
        }
        let mut rate_limits = Vec::with_capacity(raw.rate_limits.len());
        for r in raw.rate_limits {
            self.unique_id(&mut ids, &r.id)?;
            rate_limits.push(self.rate_limit(r)?);
        }
        let waf = match raw.waf {
            None => WafSettings::default(),
            Some(w) => self.waf(w)?,
        };
        let ip_rules = raw
            .ip_rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.ip_rule(i, r))
            .collect::<Result<_, _>>()?;
        let auth = raw
            .auth
            .into_iter()
            .map(|a| self.auth(a))
            .collect::<Result<_, _>>()?;
        Ok(ZonePolicy {
            rules: RuleSet::new(rules),
            rate_limits,
            waf,
            ip_rules,
            browser_check: raw.browser_check,
            auth,
        })
    }

    fn unique_id(&self, ids: &mut HashSet<String>, id: &Spanned<String>) -> Result<(), ConfigError> {
        let text = id.get_ref();
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            let msg = format!("invalid rule id `{text}`: use 1 to 64 letters, digits, '-', '_' or '.'");
            return Err(self.fault(id.span(), msg));
        }
        if !ids.insert(text.clone()) {
            return Err(self.fault(id.span(), format!("duplicate rule id `{text}` in this zone")));
        }
        Ok(())
    }

    /// Compiles an expression; a compile error points at its column inside the string.
    fn expression(&self, src: &Spanned<String>) -> Result<Expr, ConfigError> {
        edgeward_rules::compile(src.get_ref()).map_err(|e| {
            // The span covers the quoted string: column 1 of the expression is one byte in.
            let at = src.span().start + 1 + e.column.saturating_sub(1);
            self.fault(at..at + 1, format!("in expression: {}", e.message))
        })
    }

    fn rule(&self, r: RawRule) -> Result<Rule, ConfigError> {
        let expr = self.expression(&r.expression)?;
        let kind = r.action.get_ref().as_str();
        let missing = |key: &str| self.fault(r.action.span(), format!("action `{kind}` needs `{key}`"));
        let action = match kind {
            "block" => Action::Block,
            "challenge" => Action::Challenge,
            "log" => Action::Log,
            "allow" => Action::Allow,
            "gone" => Action::Gone,
            "skip" => {
                let phases = r.phases.as_ref().ok_or_else(|| missing("phases"))?;
                let mut parsed = Vec::new();
                for p in phases.get_ref() {
                    let phase = Phase::parse(p.get_ref()).ok_or_else(|| {
                        let msg = format!(
                            "unknown phase `{}`: expected custom_rules, waf, rate_limit, browser_check or ip_rules",
                            p.get_ref()
                        );
                        self.fault(p.span(), msg)
                    })?;
                    parsed.push(phase);
                }
                Action::skip(parsed)
            }
            "legal_block" => {
                let url = r.blocked_by.as_ref().ok_or_else(|| missing("blocked_by"))?;
                if !(url.get_ref().starts_with("https://") || url.get_ref().starts_with("http://")) {
                    return Err(self.fault(url.span(), "`blocked_by` must be an http(s) URL"));
                }
                let explanation = r.explanation.clone().ok_or_else(|| missing("explanation"))?;
                Action::legal_block(url.get_ref().clone(), explanation)
            }
            "payment_required" => {
                let headers = r.headers.clone().unwrap_or_default().into_iter().collect();
                let message = r.message.clone().ok_or_else(|| missing("message"))?;
                Action::payment_required(headers, message)
            }
            "methods" => {
                let methods = r.methods.as_ref().ok_or_else(|| missing("methods"))?;
                if methods.get_ref().is_empty() {
                    return Err(self.fault(methods.span(), "`methods` must list at least one method"));
                }
                Action::methods(methods.get_ref())
            }
            "content_types" => {
                let types = r.content_types.as_ref().ok_or_else(|| missing("content_types"))?;
                if types.get_ref().is_empty() {
                    return Err(self.fault(types.span(), "`content_types` must list at least one type"));
                }
                Action::content_types(types.get_ref())
            }
            other => {
                let msg = format!(
                    "unknown action `{other}`: expected block, challenge, log, skip, allow, legal_block, \
                     gone, payment_required, methods or content_types"
                );
                return Err(self.fault(r.action.span(), msg));
            }
        };
        let mut rule = Rule::new(r.id.get_ref().clone(), expr, action);
        rule.description = r.description;
        Ok(rule)
    }

    fn rate_limit(&self, r: RawRateLimit) -> Result<RateLimitRule, ConfigError> {
        let expr = r.expression.as_ref().map(|e| self.expression(e)).transpose()?;
        let mut characteristics = Vec::with_capacity(r.characteristics.len().max(1));
        for c in &r.characteristics {
            characteristics.push(self.characteristic(c)?);
        }
        if characteristics.is_empty() {
            characteristics.push(Characteristic::Ip);
        }
        let requests = self.bounded(&r.requests, "requests", 1, 1_000_000_000)?;
        let period = self.duration(&r.period, "period")?;
        let mitigation_timeout = match &r.mitigation_timeout {
            // Zero is meaningful here: refused only while over the limit, no extra block.
            Some(d) if crate::parse_duration(&d.get_ref().0).is_ok_and(|t| t.is_zero()) => Duration::ZERO,
            Some(d) => self.duration(d, "mitigation_timeout")?,
            None => period,
        };
        let action = match r.action.as_ref().map(|a| a.get_ref().as_str()) {
            None | Some("block") => RateLimitAction::Block,
            Some("challenge") => RateLimitAction::Challenge,
            Some("log") => RateLimitAction::Log,
            Some(other) => {
                let span = r.action.as_ref().map(Spanned::span).unwrap_or(0..0);
                return Err(self.fault(
                    span,
                    format!("unknown action `{other}`: expected block, challenge or log"),
                ));
            }
        };
        let count_statuses = r
            .count_statuses
            .as_ref()
            .map(|list| self.status_filter(list))
            .transpose()?;
        Ok(RateLimitRule {
            id: r.id.get_ref().clone(),
            expr,
            characteristics,
            requests,
            period,
            mitigation_timeout,
            action,
            count_statuses,
        })
    }

    fn characteristic(&self, c: &Spanned<String>) -> Result<Characteristic, ConfigError> {
        let text = c.get_ref();
        let named = |prefix: &str| {
            text.strip_prefix(prefix)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b':'))
                .map(str::to_ascii_lowercase)
        };
        match text.as_str() {
            "ip" => Ok(Characteristic::Ip),
            "host" => Ok(Characteristic::Host),
            "path" => Ok(Characteristic::Path),
            _ => {
                if let Some(name) = named("header:") {
                    Ok(Characteristic::Header(name))
                } else if let Some(name) = text.strip_prefix("cookie:").filter(|n| !n.is_empty()) {
                    Ok(Characteristic::Cookie(name.to_owned()))
                } else {
                    let msg = format!("unknown characteristic `{text}`: expected ip, host, path, header:NAME or cookie:NAME");
                    Err(self.fault(c.span(), msg))
                }
            }
        }
    }

    fn status_filter(&self, list: &[Spanned<StatusMatch>]) -> Result<StatusFilter, ConfigError> {
        let mut filter = StatusFilter::default();
        for item in list {
            match item.get_ref() {
                StatusMatch::Code(c) if (100..=599).contains(c) => filter.codes.push(*c as u16),
                StatusMatch::Class(s)
                    if s.len() == 3
                        && s.ends_with("xx")
                        && matches!(&s[..1], "1" | "2" | "3" | "4" | "5") =>
                {
                    filter.classes.push(u16::from(s.as_bytes()[0] - b'0'));
                }
                _ => {
                    return Err(self.fault(
                        item.span(),
                        "a status to count must be a code (100-599) or a class like \"4xx\"",
                    ));
                }
            }
        }
        Ok(filter)
    }

    fn waf(&self, w: RawWaf) -> Result<WafSettings, ConfigError> {
        let defaults = WafSettings::default();
        let sensitivity = match w.sensitivity.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("medium") => Sensitivity::Medium,
            Some("low") => Sensitivity::Low,
            Some("high") => Sensitivity::High,
            Some(other) => {
                let span = w.sensitivity.as_ref().map(Spanned::span).unwrap_or(0..0);
                return Err(self.fault(
                    span,
                    format!("unknown sensitivity `{other}`: expected low, medium or high"),
                ));
            }
        };
        let body_limit = match &w.body_limit {
            Some(n) => self.bounded(n, "body_limit", 0, 64 * 1024 * 1024)? as usize,
            None => defaults.body_limit,
        };
        let decoded_limit = match &w.decoded_limit {
            Some(n) => self.bounded(n, "decoded_limit", 1024, 1024 * 1024 * 1024)? as usize,
            None => defaults.decoded_limit.max(body_limit),
        };
        if decoded_limit < body_limit {
            let span = w.decoded_limit.as_ref().map(Spanned::span).unwrap_or(0..0);
            return Err(self.fault(span, "`decoded_limit` must be at least `body_limit`".to_owned()));
        }
        let detection_only = self.choice(w.mode.as_ref(), "mode", &["block", "log"])? == Some("log");
        let block_oversize =
            self.choice(w.oversize.as_ref(), "oversize", &["log", "block"])? == Some("block");
        let mut disabled_rules = Vec::new();
        for id in w.disabled_rules.unwrap_or_default() {
            let text = id.get_ref();
            let mut parts = text.splitn(3, '-');
            let ok = parts.next() == Some("waf")
                && parts.next().is_some_and(|f| WAF_FAMILIES.contains(&f))
                && parts
                    .next()
                    .is_none_or(|n| !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                let msg = format!(
                    "invalid managed rule `{text}`: expected an id such as `waf-sqli-105` or a family such as `waf-proto`"
                );
                return Err(self.fault(id.span(), msg));
            }
            disabled_rules.push(text.clone());
        }
        let allowed_methods = match w.allowed_methods {
            None => defaults.allowed_methods,
            Some(methods) => {
                let span = methods.span();
                let mut out = Vec::new();
                for m in methods.into_inner() {
                    let text = m.get_ref();
                    // RFC 9110 §9.1: a method is a token; names are case-sensitive.
                    let token = !text.is_empty()
                        && text
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    if !token {
                        return Err(self.fault(
                            m.span(),
                            format!("invalid method `{text}`: expected a token such as `GET`"),
                        ));
                    }
                    out.push(text.clone());
                }
                if out.is_empty() {
                    return Err(self.fault(
                        span,
                        "`allowed_methods` is empty: no request could pass".to_owned(),
                    ));
                }
                out
            }
        };
        Ok(WafSettings {
            enabled: w.enabled.unwrap_or(true),
            sensitivity,
            body_limit,
            decoded_limit,
            detection_only,
            block_oversize,
            disabled_rules,
            allowed_methods,
        })
    }

    /// One of `allowed`, or `None` when the key is absent.
    fn choice<'v>(
        &self,
        v: Option<&'v Spanned<String>>,
        key: &str,
        allowed: &[&str],
    ) -> Result<Option<&'v str>, ConfigError> {
        let Some(v) = v else {
            return Ok(None);
        };
        let text = v.get_ref().as_str();
        if allowed.contains(&text) {
            return Ok(Some(text));
        }
        let msg = format!("unknown {key} `{text}`: expected {}", allowed.join(" or "));
        Err(self.fault(v.span(), msg))
    }

    fn ip_rule(&self, index: usize, r: RawIpRule) -> Result<IpRuleSetting, ConfigError> {
        let text = r.target.get_ref().trim();
        let target = if let Some(cc) = text.strip_prefix("country:") {
            if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(self.fault(
                    r.target.span(),
                    format!("invalid country code `{cc}`: expected two letters"),
                ));
            }
            IpTarget::Country(cc.to_ascii_uppercase())
        } else {
            parse_net(text).ok_or_else(|| {
                let msg = format!("invalid IP rule target `{text}`: expected an IP, a CIDR like 203.0.113.0/24, or country:XX");
                self.fault(r.target.span(), msg)
            })?
        };
        let action = match r.action.get_ref().as_str() {
            "allow" => IpAction::Allow,
            "block" => IpAction::Block,
            "challenge" => IpAction::Challenge,
            other => {
                return Err(self.fault(
                    r.action.span(),
                    format!("unknown action `{other}`: expected allow, block or challenge"),
                ));
            }
        };
        Ok(IpRuleSetting {
            id: r.id.unwrap_or_else(|| format!("ip-rule-{}", index + 1)),
            target,
            action,
        })
    }

    fn auth(&self, a: RawAuth) -> Result<AuthRealm, ConfigError> {
        if !a.path_prefix.get_ref().starts_with('/') {
            return Err(self.fault(a.path_prefix.span(), "`path_prefix` must start with '/'"));
        }
        let mut users = Vec::new();
        for u in a.users.get_ref() {
            match u.get_ref().split_once(':') {
                Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                    users.push((user.to_owned(), password.to_owned()));
                }
                _ => {
                    return Err(self.fault(
                        u.span(),
                        "a user must be written \"name:password\" (or \"name:sha256:<hex>\")",
                    ))
                }
            }
        }
        if users.is_empty() {
            return Err(self.fault(a.users.span(), "`users` must list at least one \"name:password\""));
        }
        Ok(AuthRealm {
            path_prefix: a.path_prefix.get_ref().clone(),
            realm: a.realm,
            users,
        })
    }
}

/// `ip` or `ip/prefix`, the prefix within the address family's length.
pub(crate) fn parse_net(text: &str) -> Option<IpTarget> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max)?,
    };
    Some(IpTarget::Net(ip, prefix))
}
