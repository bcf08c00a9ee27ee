//! The managed WAF: the zone's detectors over the method, the raw path, the query, the
//! header fields and the body (read ahead up to the zone's `body_limit`, then still sent
//! to the origin unchanged).
//!
//! Owns building the zone's `Waf` from its settings and turning its verdict into the
//! pipeline's: block (403), too large (413: a decompression bomb, or an oversized body
//! when the zone blocks those), log (detection-only mode). The detectors, decoding and what
//! is inspectable in which body are `edgeward_waf`'s.

use edgeward_config::{Sensitivity, ZonePolicy};
use edgeward_errors::{EdgeError, ForbiddenReason};
use edgeward_rules::Phase;
use edgeward_waf::{OversizeAction, Verdict, Waf, WafInput, WafMatch, WafRequest};

use super::{body_size, Inspection, Stop};

/// The managed rule for a body longer than the inspected limit (the other 413 is a
/// decompression bomb, over the decoded limit).
const OVERSIZE_RULE: &str = "waf-proto-910";

/// The zone's WAF, or `None` when it is off.
pub(super) fn build(policy: &ZonePolicy) -> Option<Waf> {
    let settings = &policy.waf;
    if !settings.enabled {
        return None;
    }
    let sensitivity = match settings.sensitivity {
        Sensitivity::Low => edgeward_waf::Sensitivity::Low,
        Sensitivity::Medium => edgeward_waf::Sensitivity::Medium,
        Sensitivity::High => edgeward_waf::Sensitivity::High,
    };
    let waf = Waf::new(sensitivity)
        .with_body_limit(settings.body_limit)
        .with_decoded_limit(settings.decoded_limit)
        .detection_only(settings.detection_only)
        .with_allowed_methods(&settings.allowed_methods)
        .with_oversize_action(if settings.block_oversize {
            OversizeAction::Block
        } else {
            OversizeAction::Log
        });
    // The config checked the ids' shape; one that names no rule is refused here, loudly,
    // with the zone's other settings kept.
    match waf.clone().with_disabled_rules(&settings.disabled_rules) {
        Ok(waf) => Some(waf),
        Err(e) => {
            tracing::error!(error = %e, "WAF disabled_rules not applied");
            Some(waf)
        }
    }
}

/// Refuses a request a managed rule matches (or only logs it in detection-only mode).
pub(super) async fn check(x: &mut Inspection<'_>) -> Result<(), Stop> {
    let Some(waf) = x.detectors.waf.as_ref() else {
        return Ok(());
    };
    if x.skipped.contains(Phase::Waf) {
        return Ok(());
    }
    let head = x.req.head;
    let headers: Vec<(&str, &[u8])> = head
        .headers()
        .filter_map(|(n, v)| std::str::from_utf8(n).ok().map(|n| (n, v)))
        .collect();
    // Admission refused requests with several different Content-Type fields, so the first
    // one is the only one; the WAF decides what it can inspect under it (and decodes any
    // Content-Encoding itself).
    let content_type = super::text(head, "content-type");
    let (prefix, body_complete) = if body_size(head) > 0 {
        x.body.prefetch(x.zone.policy.waf.body_limit).await
    } else {
        (bytes::Bytes::new(), true)
    };
    let request = WafRequest {
        method: head.method(),
        input: WafInput {
            path: head.path(),
            query: x.query,
            headers: &headers,
            body: (!prefix.is_empty()).then_some((&*content_type, &prefix[..])),
        },
        body_complete,
        skip_rules: &[],
    };
    match waf.inspect_request(&request) {
        Verdict::Pass => Ok(()),
        Verdict::Log(hit) => {
            log(&hit, "managed rule matched (detection only)");
            x.passed.logged_rule = x.passed.logged_rule.take().or(Some(hit.rule_id.to_owned()));
            Ok(())
        }
        Verdict::Block(hit) => {
            log(&hit, "managed rule blocked the request");
            Err(Stop::forbidden(ForbiddenReason::Waf, hit.rule_id))
        }
        Verdict::TooLarge(hit) => {
            log(&hit, "managed rule refused the body for its size");
            let settings = &x.zone.policy.waf;
            Err(Stop::Error(if hit.rule_id == OVERSIZE_RULE {
                EdgeError::PayloadTooLarge {
                    limit: settings.body_limit as u64,
                    retry_after: None,
                }
            } else {
                EdgeError::DecodedBodyTooLarge {
                    limit: settings.decoded_limit as u64,
                }
            }))
        }
    }
}

fn log(hit: &WafMatch, message: &'static str) {
    tracing::info!(
        target: "edgeward::waf",
        rule = hit.rule_id,
        category = ?hit.category,
        location = ?hit.location,
        evidence = %hit.evidence,
        "{message}"
    );
}
