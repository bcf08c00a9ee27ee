//! Rate-limit response headers per draft-ietf-httpapi-ratelimit-headers.
//!
//! `RateLimit-Policy: "<id>";q=<requests>;w=<period secs>` advertises the quota and
//! `RateLimit: "<id>";r=<remaining>;t=<reset secs>` the state after this request. A refused
//! request reports `r=0` and `t` = its retry delay. This module renders values only; whether a
//! zone sends them, and the `Retry-After` of a 429, belong to the proxy and the error catalog.

use std::fmt::Write;

use crate::window::{Decision, Policy};

/// Header name of the quota policy.
pub const RATELIMIT_POLICY: &str = "RateLimit-Policy";
/// Header name of the current quota state.
pub const RATELIMIT: &str = "RateLimit";

/// The `RateLimit-Policy` and `RateLimit` headers for one decision of rule `rule_id`.
pub fn ratelimit_headers(rule_id: &str, policy: &Policy, decision: &Decision) -> [(&'static str, String); 2] {
    let (remaining, reset) = match *decision {
        Decision::Allow {
            remaining,
            reset_secs,
        } => (remaining, reset_secs),
        Decision::Limit { retry_after_secs } => (0, retry_after_secs),
    };
    let mut quota = String::with_capacity(rule_id.len() + 32);
    push_sf_string(&mut quota, rule_id);
    let mut state = quota.clone();
    let _ = write!(quota, ";q={};w={}", policy.requests, policy.period_secs());
    let _ = write!(state, ";r={remaining};t={reset}");
    [(RATELIMIT_POLICY, quota), (RATELIMIT, state)]
}

/// Appends `s` as an RFC 8941 sf-string: quoted, `"` and `\` escaped, anything outside
/// printable ASCII replaced by `?` (an sf-string cannot carry it).
fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy() -> Policy {
        Policy {
            requests: 100,
            period: Duration::from_secs(60),
            mitigation_timeout: Duration::ZERO,
        }
    }

    #[test]
    fn allow_reports_quota_and_remaining() {
        let headers = ratelimit_headers(
            "login",
            &policy(),
            &Decision::Allow {
                remaining: 42,
                reset_secs: 17,
            },
        );
        assert_eq!(
            headers,
            [
                ("RateLimit-Policy", "\"login\";q=100;w=60".to_string()),
                ("RateLimit", "\"login\";r=42;t=17".to_string()),
            ]
        );
    }

    #[test]
    fn limit_reports_nothing_remaining_until_retry() {
        let [_, (_, state)] = ratelimit_headers("api", &policy(), &Decision::Limit { retry_after_secs: 9 });
        assert_eq!(state, "\"api\";r=0;t=9");
    }

    #[test]
    fn rule_ids_are_escaped_as_sf_strings() {
        let [(_, quota), _] = ratelimit_headers(
            "a\"b\\c\u{e9}",
            &policy(),
            &Decision::Allow {
                remaining: 1,
                reset_secs: 1,
            },
        );
        assert_eq!(quota, "\"a\\\"b\\\\c?\";q=100;w=60");
    }

    #[test]
    fn sub_second_periods_round_up() {
        let p = Policy {
            period: Duration::from_millis(1500),
            ..policy()
        };
        let [(_, quota), _] = ratelimit_headers(
            "x",
            &p,
            &Decision::Allow {
                remaining: 1,
                reset_secs: 1,
            },
        );
        assert_eq!(quota, "\"x\";q=100;w=2");
    }
}
