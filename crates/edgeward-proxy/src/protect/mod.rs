//! The protections a request passes before it reaches the origin, in order:
//! IP access rules, custom rules, rate limits, the managed WAF, the Browser
//! Integrity Check, and Basic-auth paths — plus the challenge they can ask for.
//!
//! Owns the runtime form of a zone's policy (detectors built once per config)
//! and the order and skip semantics of the phases. Each phase ends a request
//! by returning a `Stop`; the pipeline turns it into the reply.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edgeward_config::{
    Characteristic, IpAction, IpTarget, RateLimitAction, RateLimitRule, Sensitivity, Zone, ZonePolicy,
};
use edgeward_errors::{AuthChallenge, EdgeError, ForbiddenReason, MediaHint, MethodList, RateLimited};
use edgeward_http::RequestHead;
use edgeward_limits::{Decision, Limiter, Policy, Store};
use edgeward_rules::{Action, HeaderSource, Phase, PhaseSet};
use edgeward_waf::{AuthResult, BasicAuth, ClearanceKey, GeoIp, IpRuleEntry, IpRules, Waf, WafInput};

use crate::pipeline::RequestCtx;
use crate::upstream::UpstreamBody;

/// Process-wide protection state: survives reloads so counters and clearances do.
pub struct Shields {
    /// Signs challenges and clearance cookies.
    pub key: ClearanceKey,
    /// IP → country, when configured.
    pub geoip: Option<GeoIp>,
    /// Rate-limit counters.
    pub limiter: Limiter<Store>,
    failed_auth: FailedAuth,
}

impl Shields {
    /// Protection state with `key`, `geoip` and the counter `store`.
    pub fn new(key: ClearanceKey, geoip: Option<GeoIp>, store: Store) -> Self {
        Shields {
            key,
            geoip,
            limiter: Limiter::new(store),
            failed_auth: FailedAuth::default(),
        }
    }
}

/// A zone's detectors, built once per configuration.
pub struct ZoneGuard {
    waf: Option<Waf>,
    ip_rules: Option<IpRules>,
    auth: Vec<(String, BasicAuth)>,
}

impl ZoneGuard {
    /// Builds the detectors of `policy`.
    pub fn new(policy: &ZonePolicy) -> Self {
        let waf = policy.waf.enabled.then(|| {
            let sensitivity = match policy.waf.sensitivity {
                Sensitivity::Low => edgeward_waf::Sensitivity::Low,
                Sensitivity::Medium => edgeward_waf::Sensitivity::Medium,
                Sensitivity::High => edgeward_waf::Sensitivity::High,
            };
            Waf::new(sensitivity).with_body_limit(policy.waf.body_limit)
        });
        let entries: Vec<IpRuleEntry> = policy
            .ip_rules
            .iter()
            .filter_map(|r| {
                let target = match &r.target {
                    IpTarget::Net(ip, prefix) => format!("{ip}/{prefix}"),
                    IpTarget::Country(cc) => cc.clone(),
                };
                let action = match r.action {
                    IpAction::Allow => edgeward_waf::IpAction::Allow,
                    IpAction::Block => edgeward_waf::IpAction::Block,
                    IpAction::Challenge => edgeward_waf::IpAction::Challenge,
                };
                // The config already validated the target; a failure here would be a bug, so log it.
                IpRuleEntry::new(&r.id, &target, action)
                    .map_err(|e| tracing::error!(rule = %r.id, error = %e, "IP rule not loaded"))
                    .ok()
            })
            .collect();
        let ip_rules = (!entries.is_empty())
            .then(|| IpRules::new(entries))
            .and_then(|r| {
                r.map_err(|e| tracing::error!(error = %e, "IP rules not loaded"))
                    .ok()
            });
        let auth = policy
            .auth
            .iter()
            .map(|a| {
                let basic = BasicAuth {
                    realm: a.realm.clone(),
                    users: a.users.clone(),
                };
                (a.path_prefix.clone(), basic)
            })
            .collect();
        ZoneGuard { waf, ip_rules, auth }
    }
}

/// Why the protections ended a request.
pub enum Stop {
    /// Answer with this catalog error.
    Error(EdgeError),
    /// Serve the challenge interstitial (the client has no valid clearance).
    Challenge {
        /// The rule that asked for it.
        rule_id: String,
        /// Which phase asked for it (analytics source).
        phase: &'static str,
    },
}

/// What the protections let through, and what they still need after the response.
#[derive(Default)]
pub struct Passed {
    /// Rules that matched with action `log` (or `allow`), for the access log.
    pub logged_rule: Option<String>,
    /// Rate limits that count by response status: rule index and key, recorded after the response.
    pub count_after: Vec<(usize, Vec<u8>)>,
}

/// Header lookup over a request head (rules language `http.request.headers[…]`).
struct Headers<'a>(&'a RequestHead);

impl HeaderSource for Headers<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0.header(name)
    }
}

/// Runs every protection phase on a request; `Err` ends it.
pub async fn check(
    shields: &Shields,
    zone: &Zone,
    guard: &ZoneGuard,
    req: &RequestCtx<'_>,
    body: &mut UpstreamBody,
) -> Result<Passed, Stop> {
    let (head, client_ip) = (req.head, req.client_ip);
    // Lossy, never empty-on-error: one invalid byte must not blank a field a rule reads.
    let text = |name: &str| {
        head.header(name)
            .map_or(Cow::Borrowed(""), String::from_utf8_lossy)
    };
    let user_agent = head.header("user-agent").unwrap_or(b"");
    let country = shields.geoip.as_ref().and_then(|g| g.country(client_ip));
    let cleared = || has_clearance(shields, head, client_ip);
    let mut passed = Passed::default();

    // IP access rules: allow skips every later phase.
    let mut skipped = PhaseSet::EMPTY;
    if let Some((action, id)) = guard.ip_rules.as_ref().and_then(|r| r.lookup(client_ip, country)) {
        match action {
            edgeward_waf::IpAction::Allow => {
                skipped = PhaseSet::all();
                passed.logged_rule = Some(id.to_owned());
            }
            edgeward_waf::IpAction::Block => return Err(forbidden(ForbiddenReason::IpRule, id)),
            edgeward_waf::IpAction::Challenge if !cleared() => return Err(challenge(id, "ip_rule")),
            edgeward_waf::IpAction::Challenge => {}
        }
    }

    // The rules language reads borrowed fields that cannot cross an await:
    // custom rules and rate-limit matching are decided here, synchronously.
    let (raw_path, query) = head
        .path_and_query()
        .split_once('?')
        .unwrap_or((head.path_and_query(), ""));
    // Decisions see the normalised path (the origin resolves `/%61dmin` and `/x/../admin`
    // to `/admin` too); the WAF also sees the raw one, where encoding tricks are evidence.
    let normalized = edgeward_http::normalize_path(raw_path);
    let path: &str = &normalized;
    let cleared_rules = zone
        .policy
        .rules
        .rules()
        .iter()
        .any(|r| matches!(r.action, Action::Challenge))
        && cleared();
    // Rules see the host as routing does: lower case, without the port.
    let host = rule_host(head.host());
    let (user_agent_text, cookie, referer) = (
        String::from_utf8_lossy(user_agent),
        text("cookie"),
        text("referer"),
    );
    let (decision, limited) = {
        let headers = Headers(head);
        let fields = edgeward_rules::Request {
            host: &host,
            path,
            query,
            method: head.method(),
            user_agent: &user_agent_text,
            cookie: &cookie,
            referer: &referer,
            ip: client_ip,
            country,
            body_size: body_size(head),
            tls: req.transport.tls,
            headers: &headers,
        };
        let mut decision = None;
        if !skipped.contains(Phase::CustomRules) {
            let mut logged = None;
            let verdict = zone
                .policy
                .rules
                .evaluate_cleared(&fields, cleared_rules, &mut |rule| {
                    tracing::info!(target: "edgeward::rules", rule = %rule.id, "rule matched (log)");
                    logged = Some(rule.id.clone());
                });
            passed.logged_rule = passed.logged_rule.take().or(logged);
            for phase in verdict.skipped.iter() {
                skipped.insert(phase);
            }
            decision = verdict.decision;
        }
        let limited: Vec<(usize, Vec<u8>)> = if skipped.contains(Phase::RateLimit) {
            Vec::new()
        } else {
            zone.policy
                .rate_limits
                .iter()
                .enumerate()
                .filter(|(_, rule)| rule.expr.as_ref().is_none_or(|e| e.eval(&fields)))
                .map(|(i, rule)| (i, rate_key(rule, &fields, head)))
                .collect()
        };
        (decision, limited)
    };

    // Custom rules: the first terminating action.
    if let Some(rule) = decision {
        match &rule.action {
            Action::Allow => passed.logged_rule = Some(rule.id.clone()),
            other => return Err(rule_stop(other, &rule.id, head)),
        }
    }

    // Rate limits.
    rate_limits(shields, &zone.policy.rate_limits, limited, &mut passed, &cleared).await?;

    // Managed WAF.
    if let (Some(waf), false) = (&guard.waf, skipped.contains(Phase::Waf)) {
        let header_list: Vec<(&str, &[u8])> = head
            .headers()
            .filter_map(|(n, v)| std::str::from_utf8(n).ok().map(|n| (n, v)))
            .collect();
        // With several Content-Type fields an origin may honour any of them: inspect the
        // body as the first one that names an inspectable type.
        let content_type = head
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
            .map(|(_, v)| String::from_utf8_lossy(v))
            .find(|ct| inspectable(ct))
            .unwrap_or_else(|| text("content-type"));
        let inspect_body = inspectable(&content_type) && body_size(head) > 0;
        let prefix = if inspect_body {
            body.prefetch(zone.policy.waf.body_limit).await
        } else {
            bytes::Bytes::new()
        };
        let input = WafInput {
            path: raw_path,
            query,
            headers: &header_list,
            body: inspect_body.then_some((&*content_type, &prefix[..])),
        };
        if let Some(hit) = waf.inspect(&input) {
            tracing::info!(
                target: "edgeward::waf",
                rule = hit.rule_id,
                category = ?hit.category,
                location = ?hit.location,
                evidence = %hit.evidence,
                "managed rule blocked the request"
            );
            return Err(forbidden(ForbiddenReason::Waf, hit.rule_id));
        }
    }

    // Browser Integrity Check.
    if zone.policy.browser_check && !skipped.contains(Phase::BrowserCheck) {
        let header_list: Vec<(&str, &[u8])> = head
            .headers()
            .filter_map(|(n, v)| std::str::from_utf8(n).ok().map(|n| (n, v)))
            .collect();
        if let Err(failure) = edgeward_waf::browser_check(&header_list, head.method()) {
            tracing::info!(target: "edgeward::bic", rule = failure.rule_id, reason = failure.reason, "browser check failed");
            return Err(forbidden(ForbiddenReason::BrowserIntegrity, failure.rule_id));
        }
    }

    // Basic-auth paths (not skippable: they are access control, not threat detection).
    if let Some((_, auth)) = guard.auth.iter().find(|(prefix, _)| under_prefix(path, prefix)) {
        let header = head.header("authorization");
        match auth.check(header) {
            AuthResult::Ok => {}
            result => {
                let repeated =
                    result == AuthResult::Invalid && shields.failed_auth.repeated(client_ip, header);
                return Err(Stop::Error(EdgeError::Unauthorized {
                    challenge: AuthChallenge::Basic {
                        realm: auth.realm.clone(),
                    },
                    repeated,
                }));
            }
        }
    }
    Ok(passed)
}

/// Records the hits of rate limits that count by response status.
pub async fn count_response(shields: &Shields, zone: &Zone, passed: &Passed, status: u16) {
    for (index, key) in &passed.count_after {
        let rule = &zone.policy.rate_limits[*index];
        if rule.count_statuses.as_ref().is_some_and(|f| f.matches(status)) {
            shields.limiter.record(&rule.id, &[key], &policy(rule)).await;
        }
    }
}

async fn rate_limits(
    shields: &Shields,
    rules: &[RateLimitRule],
    matched: Vec<(usize, Vec<u8>)>,
    passed: &mut Passed,
    cleared: &impl Fn() -> bool,
) -> Result<(), Stop> {
    for (index, key) in matched {
        let rule = &rules[index];
        let policy = policy(rule);
        let decision = if rule.count_statuses.is_some() {
            let decision = shields.limiter.peek(&rule.id, &[&key], &policy).await;
            passed.count_after.push((index, key));
            decision
        } else {
            shields.limiter.check(&rule.id, &[&key], &policy).await
        };
        let Decision::Limit { retry_after_secs } = decision else {
            continue;
        };
        tracing::info!(target: "edgeward::rate_limit", rule = %rule.id, retry_after = retry_after_secs, "rate limit exceeded");
        match rule.action {
            RateLimitAction::Log => passed.logged_rule = Some(rule.id.clone()),
            RateLimitAction::Challenge if cleared() => {}
            RateLimitAction::Challenge => return Err(challenge(&rule.id, "rate_limit")),
            RateLimitAction::Block => {
                return Err(Stop::Error(EdgeError::TooManyRequests(RateLimited {
                    rule_id: rule.id.clone(),
                    retry_after: retry_after_secs.max(1),
                    limit: rule.requests,
                    window: policy.period_secs(),
                })));
            }
        }
    }
    Ok(())
}

fn policy(rule: &RateLimitRule) -> Policy {
    Policy {
        requests: rule.requests,
        period: rule.period,
        mitigation_timeout: rule.mitigation_timeout,
    }
}

/// The counting key of a rate limit: its characteristics joined by 0x1f.
fn rate_key(rule: &RateLimitRule, fields: &edgeward_rules::Request<'_>, head: &RequestHead) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    for (i, c) in rule.characteristics.iter().enumerate() {
        if i > 0 {
            key.push(edgeward_limits::KEY_SEPARATOR);
        }
        match c {
            Characteristic::Ip => key.extend_from_slice(fields.ip.to_string().as_bytes()),
            Characteristic::Host => key.extend_from_slice(fields.host.to_ascii_lowercase().as_bytes()),
            Characteristic::Path => key.extend_from_slice(fields.path.as_bytes()),
            Characteristic::Header(name) => key.extend_from_slice(head.header(name).unwrap_or(b"")),
            Characteristic::Cookie(name) => key.extend_from_slice(cookie(fields.cookie, name).as_bytes()),
        }
    }
    key
}

/// Whether `path` is `prefix` or below it, segment-wise (`/private` covers
/// `/private` and `/private/x`, not `/privateer`).
fn under_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

fn cookie<'a>(header: &'a str, name: &str) -> &'a str {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map_or("", |(_, v)| v)
}

fn body_size(head: &RequestHead) -> u64 {
    match head.framing {
        edgeward_http::BodyFraming::Length(n) => n,
        edgeward_http::BodyFraming::Chunked => 1,
        edgeward_http::BodyFraming::None => 0,
    }
}

fn inspectable(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim().as_bytes();
    // Compared as bytes: a non-ASCII content type must not split a character.
    media.eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
        || media.eq_ignore_ascii_case(b"application/json")
        || media.len() > 5 && media[media.len() - 5..].eq_ignore_ascii_case(b"+json")
}

/// The Host as rules see it: lower case, without a port or a trailing dot.
fn rule_host(host: &str) -> Cow<'_, str> {
    let bare = crate::pipeline::bare_host(host);
    if bare.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(bare.to_ascii_lowercase())
    } else {
        Cow::Borrowed(bare)
    }
}

fn forbidden(reason: ForbiddenReason, rule_id: &str) -> Stop {
    Stop::Error(EdgeError::Forbidden {
        reason,
        rule_id: rule_id.to_owned(),
    })
}

fn challenge(rule_id: &str, phase: &'static str) -> Stop {
    Stop::Challenge {
        rule_id: rule_id.to_owned(),
        phase,
    }
}

/// The stop for a terminating custom rule.
fn rule_stop(action: &Action, rule_id: &str, head: &RequestHead) -> Stop {
    let error = match action {
        Action::Challenge => return challenge(rule_id, "rule"),
        Action::Block => EdgeError::Forbidden {
            reason: ForbiddenReason::FirewallRule,
            rule_id: rule_id.to_owned(),
        },
        Action::LegalBlock {
            blocked_by,
            explanation,
        } => EdgeError::UnavailableForLegalReasons {
            blocked_by: blocked_by.clone(),
            explanation: explanation.clone(),
        },
        Action::Gone => EdgeError::Gone,
        Action::PaymentRequired { headers, message } => EdgeError::PaymentRequired {
            headers: headers.clone(),
            message: message.clone(),
        },
        Action::Methods(allowed) => match MethodList::new(allowed.iter().cloned()) {
            Some(allow) => EdgeError::MethodNotAllowed { allow },
            None => EdgeError::Internal,
        },
        Action::ContentTypes(types) => {
            let _ = head;
            EdgeError::UnsupportedMediaType(MediaHint::ContentType(types.clone()))
        }
        // Log, Skip and Allow never terminate.
        Action::Log | Action::Skip(_) | Action::Allow => EdgeError::Internal,
    };
    Stop::Error(error)
}

/// Whether the request carries a valid clearance cookie for this client.
fn has_clearance(shields: &Shields, head: &RequestHead, client_ip: IpAddr) -> bool {
    let Some(cookie) = head.header("cookie").and_then(|c| std::str::from_utf8(c).ok()) else {
        return false;
    };
    let Some(value) = edgeward_waf::clearance_from_cookie_header(cookie) else {
        return false;
    };
    let ua = head.header("user-agent").unwrap_or(b"");
    shields
        .key
        .check_clearance(value, client_ip, ua, unix_now())
        .is_ok()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Remembers recent failed credentials per client, to tell a repeated identical
/// failure (which gets a body explaining what is needed) from a first one.
#[derive(Default)]
struct FailedAuth {
    seen: Mutex<HashMap<u64, Instant>>,
}

/// How long a failed attempt is remembered.
const FAILED_AUTH_MEMORY: Duration = Duration::from_secs(600);
/// Most failed attempts remembered; beyond, the memory is reset.
const FAILED_AUTH_MAX: usize = 10_000;

impl FailedAuth {
    fn repeated(&self, ip: IpAddr, authorization: Option<&[u8]>) -> bool {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        ip.hash(&mut hasher);
        authorization.hash(&mut hasher);
        let key = hasher.finish();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= FAILED_AUTH_MAX {
            seen.retain(|_, at| at.elapsed() < FAILED_AUTH_MEMORY);
            if seen.len() >= FAILED_AUTH_MAX {
                seen.clear();
            }
        }
        let now = Instant::now();
        match seen.insert(key, now) {
            Some(at) => now.duration_since(at) < FAILED_AUTH_MEMORY,
            None => false,
        }
    }
}
