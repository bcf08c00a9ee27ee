//! The Browser Integrity Check: refuses requests whose headers no browser sends
//! (missing or abusive fields, known bad user agents) with a branded 403.
//!
//! The signatures are `edgeward_waf::browser_check`'s; this module only applies them.

use edgeward_errors::ForbiddenReason;
use edgeward_rules::Phase;

use super::{Inspection, Stop};

/// Refuses a request that fails the zone's browser check.
pub(super) async fn check(x: &mut Inspection<'_>) -> Result<(), Stop> {
    if !x.zone.policy.browser_check || x.skipped.contains(Phase::BrowserCheck) {
        return Ok(());
    }
    let head = x.req.head;
    let headers: Vec<(&str, &[u8])> = head
        .headers()
        .filter_map(|(n, v)| std::str::from_utf8(n).ok().map(|n| (n, v)))
        .collect();
    match edgeward_waf::browser_check(&headers, head.method()) {
        Ok(()) => Ok(()),
        Err(failure) => {
            tracing::info!(target: "edgeward::bic", rule = failure.rule_id, reason = failure.reason, "browser check failed");
            Err(Stop::forbidden(
                ForbiddenReason::BrowserIntegrity,
                failure.rule_id,
            ))
        }
    }
}
