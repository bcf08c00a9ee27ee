//! Who may use the admin listener: the `Host` rule and the token rule.
//!
//! Owns both decisions. The `Host` rule defeats DNS rebinding: a page on another site that
//! makes the browser resolve its own name to 127.0.0.1 still sends its own name as `Host`,
//! so only loopback names (`localhost`, `127.0.0.1`, `[::1]`, any port) and configured names
//! are answered — unless the request carries the token, which such a page cannot know. The
//! token rule: a configured token is required everywhere; without one, only a loopback
//! listener serves. Tokens are accepted as `Bearer TOKEN` or as the password of `Basic`
//! (what a browser sends after the 401's `Basic` challenge), compared in constant time.

use std::net::SocketAddr;

use base64::Engine as _;

/// The outcome of the token rule for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Serve the request.
    Allow,
    /// Answer 401 with a challenge.
    Deny,
}

/// The token rule: off loopback a configured token must be presented (no token configured
/// means nothing is served); on loopback only a configured token is required.
pub fn authorize(loopback: bool, token: Option<&str>, authorization: Option<&[u8]>) -> AuthDecision {
    let Some(token) = token else {
        return if loopback {
            AuthDecision::Allow
        } else {
            AuthDecision::Deny
        };
    };
    if presents_token(token, authorization) {
        AuthDecision::Allow
    } else {
        AuthDecision::Deny
    }
}

/// Whether `authorization` carries `token` (Bearer, or Basic with it as the password).
pub fn presents_token(token: &str, authorization: Option<&[u8]>) -> bool {
    let Some(v) = authorization else { return false };
    let Some(space) = v.iter().position(|&b| b == b' ') else {
        return false;
    };
    let (scheme, rest) = v.split_at(space);
    let rest = rest.trim_ascii_start();
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    if scheme.eq_ignore_ascii_case(b"Bearer") {
        return constant_time_eq(rest, token.as_bytes());
    }
    if scheme.eq_ignore_ascii_case(b"Basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        return constant_time_eq(&decoded[colon + 1..], token.as_bytes());
    }
    false
}

/// Whether `host` (a `Host` header value) names this listener acceptably: a loopback name
/// or one of `allowed` (compared without the port, case-insensitively).
pub fn host_allowed(host: Option<&[u8]>, allowed: &[String]) -> bool {
    let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    let name = strip_port(host.trim());
    let lower = name.to_ascii_lowercase();
    matches!(lower.as_str(), "localhost" | "[::1]")
        || is_loopback_ipv4(&lower)
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// `127.x.y.z`, written in the canonical dotted form.
fn is_loopback_ipv4(name: &str) -> bool {
    name.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Whether `addr` is a loopback address (the rule the listener applies to itself).
pub fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_without_token_configured_allows_anyone() {
        assert_eq!(authorize(true, None, None), AuthDecision::Allow);
        assert_eq!(authorize(true, None, Some(b"Bearer x")), AuthDecision::Allow);
    }

    #[test]
    fn configured_token_is_required_everywhere() {
        let basic = |creds: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            )
        };
        for loopback in [true, false] {
            let deny = |h: &[u8]| {
                assert_eq!(
                    authorize(loopback, Some("s3cret"), Some(h)),
                    AuthDecision::Deny,
                    "{h:?}"
                )
            };
            let allow = |h: &[u8]| {
                assert_eq!(
                    authorize(loopback, Some("s3cret"), Some(h)),
                    AuthDecision::Allow,
                    "{h:?}"
                )
            };
            assert_eq!(authorize(loopback, Some("s3cret"), None), AuthDecision::Deny);
            deny(b"Bearer s3cre");
            deny(b"Bearer s3cretx");
            deny(b"Basic s3cret");
            deny(b"s3cret");
            deny(b"BEARER S3CRET");
            deny(basic("admin:wrong").as_bytes());
            deny(basic("s3cret").as_bytes());
            allow(b"Bearer s3cret");
            allow(b"bearer s3cret");
            allow(basic("admin:s3cret").as_bytes());
            allow(basic(":s3cret").as_bytes());
        }
    }

    #[test]
    fn off_loopback_without_token_configured_denies_everything() {
        assert_eq!(authorize(false, None, None), AuthDecision::Deny);
        assert_eq!(authorize(false, None, Some(b"Bearer ")), AuthDecision::Deny);
    }

    #[test]
    fn only_loopback_and_configured_host_names_are_answered() {
        let allowed = vec!["edge-admin.internal".to_owned()];
        for ok in [
            "localhost",
            "localhost:9901",
            "127.0.0.1:9901",
            "127.0.0.2",
            "[::1]:9901",
            "LOCALHOST",
            "Edge-Admin.internal:80",
        ] {
            assert!(host_allowed(Some(ok.as_bytes()), &allowed), "{ok}");
        }
        for bad in [
            "rebind.attacker.example:9901",
            "localhost.attacker.example",
            "127.0.0.1.attacker.example",
            "0x7f.1",
            "[::2]",
            "",
            "edge-admin.internal.evil",
        ] {
            assert!(!host_allowed(Some(bad.as_bytes()), &allowed), "{bad}");
        }
        assert!(!host_allowed(None, &allowed), "no Host at all");
        assert!(!host_allowed(Some(b"\xff"), &allowed));
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1:9".parse().unwrap()));
        assert!(is_loopback("[::1]:9".parse().unwrap()));
        assert!(is_loopback("[::ffff:127.0.0.1]:9".parse().unwrap()));
        assert!(!is_loopback("0.0.0.0:9".parse().unwrap()));
    }

    #[test]
    fn constant_time_eq_matches_only_equal_inputs() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"ab\0", b"ab"));
    }
}
