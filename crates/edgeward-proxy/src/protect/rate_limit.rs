//! Rate limits: the zone's rules that match the request are counted under their
//! characteristics (ip, host, path, header, cookie) in sliding windows; over the limit,
//! `block` answers 429, `challenge` asks for a clearance, `log` only notes it. Rules that
//! count by response status are checked now and counted after the response
//! ([`count_response`]).
//!
//! Owns the counting key and the action; the windows and stores are `edgeward_limits`'s.

use edgeward_config::{Characteristic, RateLimitAction, RateLimitRule, Zone};
use edgeward_errors::{EdgeError, ErrorSource, RateLimited};
use edgeward_limits::{Decision, Policy};
use edgeward_rules::Phase;

use super::custom_rules::with_fields;
use super::{Inspection, Passed, Shields, Stop};

/// Counts the request under every rate limit it matches.
pub(super) async fn check(x: &mut Inspection<'_>) -> Result<(), Stop> {
    let rules = &x.zone.policy.rate_limits;
    if rules.is_empty() || x.skipped.contains(Phase::RateLimit) {
        return Ok(());
    }
    let head = x.req.head;
    let matched: Vec<(usize, Vec<u8>)> = with_fields(x, |fields| {
        rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.expr.as_ref().is_none_or(|e| e.eval(fields)))
            .map(|(i, rule)| (i, key(rule, fields, head)))
            .collect()
    });
    let limiter = &x.shields.limiter;
    for (index, key) in matched {
        let rule = &rules[index];
        let policy = policy(rule);
        let decision = if rule.count_statuses.is_some() {
            let decision = limiter.peek(&rule.id, &[&key], &policy).await;
            x.passed.count_after.push((index, key));
            decision
        } else {
            limiter.check(&rule.id, &[&key], &policy).await
        };
        let Decision::Limit { retry_after_secs } = decision else {
            continue;
        };
        tracing::info!(target: "edgeward::rate_limit", rule = %rule.id, retry_after = retry_after_secs, "rate limit exceeded");
        match rule.action {
            RateLimitAction::Log => x.passed.logged_rule = Some(rule.id.clone()),
            RateLimitAction::Challenge if x.cleared() => {}
            RateLimitAction::Challenge => return Err(Stop::challenge(&rule.id, ErrorSource::RateLimit)),
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

/// Records the hits of rate limits that count by response status.
pub async fn count_response(shields: &Shields, zone: &Zone, passed: &Passed, status: u16) {
    for (index, key) in &passed.count_after {
        let rule = &zone.policy.rate_limits[*index];
        if rule.count_statuses.as_ref().is_some_and(|f| f.matches(status)) {
            shields.limiter.record(&rule.id, &[key], &policy(rule)).await;
        }
    }
}

fn policy(rule: &RateLimitRule) -> Policy {
    Policy {
        requests: rule.requests,
        period: rule.period,
        mitigation_timeout: rule.mitigation_timeout,
    }
}

/// The counting key of a rate limit: its characteristics joined by 0x1f.
fn key(
    rule: &RateLimitRule,
    fields: &edgeward_rules::Request<'_>,
    head: &edgeward_http::RequestHead,
) -> Vec<u8> {
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

fn cookie<'a>(header: &'a str, name: &str) -> &'a str {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map_or("", |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::cookie;

    #[test]
    fn cookies_are_found_by_exact_name() {
        assert_eq!(cookie("a=1; session=xyz; b=2", "session"), "xyz");
        assert_eq!(cookie("a=1; sessionx=no", "session"), "");
        assert_eq!(cookie("", "a"), "");
    }
}
