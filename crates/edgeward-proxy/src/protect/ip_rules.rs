//! IP access rules: the first phase. An `allow` skips every later protection,
//! `block` ends the request with a branded 403, `challenge` asks for a clearance.
//!
//! Owns building the zone's rule table from the config and applying its verdict; the
//! lookup structure (prefix tries, countries) is `edgeward_waf::IpRules`.

use edgeward_config::{IpAction, IpTarget, ZonePolicy};
use edgeward_errors::{ErrorSource, ForbiddenReason};
use edgeward_rules::PhaseSet;
use edgeward_waf::{IpRuleEntry, IpRules};

use super::{Inspection, Stop};

/// The zone's IP rules, or `None` when it has none.
pub(super) fn build(policy: &ZonePolicy) -> Option<IpRules> {
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
    if entries.is_empty() {
        return None;
    }
    IpRules::new(entries)
        .map_err(|e| tracing::error!(error = %e, "IP rules not loaded"))
        .ok()
}

/// Applies the rule matching the client's address or country, if any.
pub(super) async fn check(x: &mut Inspection<'_>) -> Result<(), Stop> {
    let Some(rules) = x.detectors.ip_rules.as_ref() else {
        return Ok(());
    };
    let Some((action, id)) = rules.lookup(x.client_ip(), x.country) else {
        return Ok(());
    };
    match action {
        edgeward_waf::IpAction::Allow => {
            x.skipped = PhaseSet::all();
            x.passed.logged_rule = Some(id.to_owned());
            Ok(())
        }
        edgeward_waf::IpAction::Block => Err(Stop::forbidden(ForbiddenReason::IpRule, id)),
        edgeward_waf::IpAction::Challenge if x.cleared() => Ok(()),
        edgeward_waf::IpAction::Challenge => Err(Stop::challenge(id, ErrorSource::IpRule)),
    }
}
