//! Custom rules: the zone's rules-language expressions, first terminating action wins
//! (`block`, `challenge`, `legal_block`, `gone`, `payment_required`, `methods`,
//! `content_types`); `log` is noted, `skip` turns later phases off, `allow` ends the
//! checks with the request let through.
//!
//! Owns the view of a request the rules language reads ([`with_fields`], shared with rate
//! limits) and mapping each action to its catalog error. Compiling and evaluating
//! expressions is `edgeward_rules`'s.

use std::borrow::Cow;

use edgeward_errors::{EdgeError, ErrorSource, ForbiddenReason, MediaHint, MethodList};
use edgeward_rules::{Action, Phase};

use super::{body_size, text, Headers, Inspection, Stop};
use crate::request::{bare_host, RequestCtx};

/// Calls `f` with the request under inspection as the rules language sees it.
pub(super) fn with_fields<T>(x: &Inspection<'_>, f: impl FnOnce(&edgeward_rules::Request<'_>) -> T) -> T {
    request_fields(x.req, &x.path, x.query, x.country, f)
}

/// Calls `f` with `req` as the rules language sees it (`path` as decisions see it).
/// Borrowed fields cannot cross an await, so every decision that reads them is made in `f`.
pub(crate) fn request_fields<T>(
    req: &RequestCtx<'_>,
    path: &str,
    query: &str,
    country: Option<&str>,
    f: impl FnOnce(&edgeward_rules::Request<'_>) -> T,
) -> T {
    let head = req.head;
    // Rules see the host as routing does: lower case, without the port or a trailing dot.
    let bare = bare_host(head.host());
    let host = if bare.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(bare.to_ascii_lowercase())
    } else {
        Cow::Borrowed(bare)
    };
    let (user_agent, cookie, referer) = (
        text(head, "user-agent"),
        text(head, "cookie"),
        text(head, "referer"),
    );
    let headers = Headers(head);
    let fields = edgeward_rules::Request {
        host: &host,
        path,
        query,
        method: head.method(),
        user_agent: &user_agent,
        cookie: &cookie,
        referer: &referer,
        ip: req.client_ip,
        country,
        body_size: body_size(head),
        tls: req.transport.tls,
        headers: &headers,
    };
    f(&fields)
}

/// Evaluates the zone's custom rules.
pub(super) async fn check(x: &mut Inspection<'_>) -> Result<(), Stop> {
    let rules = &x.zone.policy.rules;
    if x.skipped.contains(Phase::CustomRules) || rules.rules().is_empty() {
        return Ok(());
    }
    // A clearance only matters when some rule challenges: don't verify a cookie otherwise.
    let cleared = rules
        .rules()
        .iter()
        .any(|r| matches!(r.action, Action::Challenge))
        && x.cleared();
    let mut logged = None;
    let verdict = with_fields(x, |fields| {
        rules.evaluate_cleared(fields, cleared, &mut |rule| {
            tracing::info!(target: "edgeward::rules", rule = %rule.id, "rule matched (log)");
            logged = Some(rule.id.clone());
        })
    });
    x.passed.logged_rule = x.passed.logged_rule.take().or(logged);
    for phase in verdict.skipped.iter() {
        x.skipped.insert(phase);
    }
    match verdict.decision {
        None => Ok(()),
        Some(rule) if matches!(rule.action, Action::Allow) => {
            x.passed.logged_rule = Some(rule.id.clone());
            Ok(())
        }
        Some(rule) => Err(stop_for(&rule.action, &rule.id)),
    }
}

/// The stop for a terminating custom rule.
fn stop_for(action: &Action, rule_id: &str) -> Stop {
    let error = match action {
        Action::Challenge => return Stop::challenge(rule_id, ErrorSource::Rule),
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
        Action::ContentTypes(types) => EdgeError::UnsupportedMediaType(MediaHint::ContentType(types.clone())),
        // Log, Skip and Allow never terminate.
        Action::Log | Action::Skip(_) | Action::Allow => EdgeError::Internal,
    };
    Stop::Error(error)
}
