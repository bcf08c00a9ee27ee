//! The structured error formats, for scripts and agents: RFC 9457 problem details
//! (served as `application/problem+json`, or mirrored as `application/json`) and
//! markdown with YAML front matter.
//!
//! Both carry one set of members, documented in `CODES.md`: the RFC 9457 `type`,
//! `title`, `status`, `detail`, `instance`, and the extensions `error_code`,
//! `error_category`, `ray_id`, `timestamp`, `zone`, `retryable`, `retry_after`,
//! `owner_action_required`, `what_you_should_do` (plus `rule_id`, `client_ip` and
//! `available` when they apply). Owns those documents and the RFC 3339
//! timestamp; headers and format choice are `render`'s.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::catalog::EdgeError;
use crate::render::{error_page_path, RenderContext};

/// The problem details document (RFC 9457 §3 members first, then extensions).
pub(crate) fn problem_json_body(err: &EdgeError, ctx: &RenderContext<'_>) -> String {
    let mut doc = Map::new();
    doc.insert("type".into(), error_page_path(err.code()).into());
    doc.insert("title".into(), err.title().into());
    doc.insert("status".into(), err.status().into());
    doc.insert("detail".into(), err.explanation().into());
    doc.insert("instance".into(), instance(ctx.request_id).into());
    for (name, value) in operational_fields(err, ctx) {
        doc.insert(name.into(), value);
    }
    doc.insert("what_you_should_do".into(), err.what_you_should_do().into());
    if let Some(ip) = ctx.client_ip {
        doc.insert("client_ip".into(), ip.to_string().into());
    }
    if let EdgeError::NotAcceptable { available } = err {
        doc.insert("available".into(), available.clone().into());
    }
    Value::Object(doc).to_string()
}

/// Markdown for agents: YAML front matter with the operational fields, then the
/// title and two sections, "What happened" and "What you should do".
pub(crate) fn markdown_body(err: &EdgeError, ctx: &RenderContext<'_>) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("---\n");
    // JSON scalars are valid YAML flow scalars: strings stay quoted and escaped.
    out.push_str(&format!("type: {}\n", Value::from(error_page_path(err.code()))));
    out.push_str(&format!("title: {}\n", Value::from(err.title())));
    out.push_str(&format!("status: {}\n", err.status()));
    out.push_str(&format!("instance: {}\n", Value::from(instance(ctx.request_id))));
    for (name, value) in operational_fields(err, ctx) {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out.push_str("---\n\n");
    out.push_str(&format!("# Error {}: {}\n\n", err.code(), err.title()));
    out.push_str("## What happened\n\n");
    out.push_str(&markdown_text(&err.explanation()));
    out.push_str("\n\n## What you should do\n\n");
    out.push_str(&markdown_text(&err.what_you_should_do()));
    out.push_str(&format!("\n\nRay ID: {}\n", markdown_text(ctx.request_id)));
    out
}

/// The members both formats share, in order.
fn operational_fields(err: &EdgeError, ctx: &RenderContext<'_>) -> Vec<(&'static str, Value)> {
    let mut fields = vec![
        ("error_code", err.code().into()),
        ("error_category", err.category().as_str().into()),
        ("ray_id", ctx.request_id.into()),
        (
            "timestamp",
            rfc3339(ctx.timestamp.unwrap_or_else(SystemTime::now)).into(),
        ),
        ("zone", ctx.zone.map_or(Value::Null, Value::from)),
        ("retryable", err.retryable().into()),
        ("retry_after", err.retry_after().map_or(Value::Null, Value::from)),
        ("owner_action_required", err.owner_action_required().into()),
    ];
    if let Some(rule_id) = err.rule_id() {
        fields.push(("rule_id", rule_id.into()));
    }
    fields
}

/// The `instance` URI of one occurrence: the Ray ID, percent-encoded where needed.
fn instance(request_id: &str) -> String {
    let mut out = String::from("urn:edgeward:ray:");
    for b in request_id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Text with the characters that would turn into markup (links, HTML, escapes)
/// backslash-escaped, so request data cannot inject a link or a tag.
fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| !c.is_control()) {
        if matches!(c, '\\' | '[' | ']' | '<' | '>' | '*' | '_' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `t` as an RFC 3339 UTC timestamp with second precision, e.g. `2026-11-30T08:15:00Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
