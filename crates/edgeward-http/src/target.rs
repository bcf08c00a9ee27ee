//! Request targets (RFC 9112 §3.2): their form, the authority of an
//! absolute-form target, and `uri-host [":" port]` syntax.
//!
//! Owns target classification and authority comparison; what a request does
//! with its Host is `request`'s.

use edgeward_errors::{BadRequest, EdgeError};

use crate::request::TargetForm;

/// Classifies the request target and checks it fits the method.
pub(crate) fn target_form(method: &[u8], target: &[u8]) -> Result<TargetForm, EdgeError> {
    let form = if target[0] == b'/' {
        TargetForm::Origin
    } else if target == b"*" {
        TargetForm::Asterisk
    } else if starts_with_ignore_case(target, b"http://") || starts_with_ignore_case(target, b"https://") {
        TargetForm::Absolute
    } else if method == b"CONNECT" {
        TargetForm::Authority
    } else {
        return Err(EdgeError::BadRequest(BadRequest::InvalidTarget));
    };
    let fits = match form {
        TargetForm::Asterisk => method == b"OPTIONS",
        TargetForm::Authority => valid_host(target) && target.contains(&b':'),
        // `http://host?q` has an empty path; rather than invent one, refuse it.
        // Userinfo (`http://user@host/`) is deprecated and a phishing device
        // (RFC 9110 §4.2.4: treat it as an error).
        TargetForm::Absolute => {
            let authority = absolute_authority_with_userinfo(target);
            !authority.contains(&b'@') && valid_host(authority) && !absolute_query_without_path(target)
        }
        TargetForm::Origin => method != b"CONNECT",
    };
    if fits {
        Ok(form)
    } else {
        Err(EdgeError::BadRequest(BadRequest::InvalidTarget))
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Whether an absolute-form target has a query but no path (`http://h?x=1`).
fn absolute_query_without_path(target: &[u8]) -> bool {
    let after = target
        .windows(3)
        .position(|w| w == b"://")
        .map_or(target, |i| &target[i + 3..]);
    after.iter().find(|&&b| matches!(b, b'/' | b'?')) == Some(&b'?')
}

/// The authority of an absolute-form target as written (userinfo included).
fn absolute_authority_with_userinfo(target: &[u8]) -> &[u8] {
    let after = target
        .windows(3)
        .position(|w| w == b"://")
        .map_or(target, |i| &target[i + 3..]);
    let end = after
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(after.len());
    &after[..end]
}

/// The authority of an absolute-form target (without userinfo, which
/// [`target_form`] refuses anyway).
pub(crate) fn absolute_authority(target: &[u8]) -> &[u8] {
    let authority = absolute_authority_with_userinfo(target);
    match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    }
}

/// Whether an absolute-form target's authority and a Host value name the same
/// authority: host names compared without case, and a missing or empty port
/// taken as the scheme's default (80 for http, 443 for https; RFC 9110 §4.2.1,
/// §4.2.3).
pub(crate) fn same_authority(target: &[u8], host: &[u8]) -> bool {
    let default_port = if starts_with_ignore_case(target, b"https://") {
        443
    } else {
        80
    };
    let (a_host, a_port) = split_port(absolute_authority(target));
    let (b_host, b_port) = split_port(host);
    a_host.eq_ignore_ascii_case(b_host) && a_port.unwrap_or(default_port) == b_port.unwrap_or(default_port)
}

/// `host[:port]` split into the host and the port number (`None` when absent or
/// empty). Ports were checked to be at most 5 digits.
fn split_port(authority: &[u8]) -> (&[u8], Option<u32>) {
    let colon = match authority.iter().rposition(|&b| b == b':') {
        // A colon inside `[...]` is part of an IPv6 address.
        Some(c) if !authority[c..].contains(&b']') => c,
        _ => return (authority, None),
    };
    let digits = &authority[colon + 1..];
    let port = digits.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    });
    (&authority[..colon], port.filter(|_| !digits.is_empty()))
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2): reg-name, IPv4, or `[IPv6]`.
pub(crate) fn valid_host(h: &[u8]) -> bool {
    let (host, port) = if h.first() == Some(&b'[') {
        match h.iter().position(|&b| b == b']') {
            Some(close) => {
                let inner = &h[1..close];
                if inner.is_empty()
                    || !inner
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                {
                    return false;
                }
                (&h[..=close], &h[close + 1..])
            }
            None => return false,
        }
    } else {
        match h.iter().position(|&b| b == b':') {
            Some(c) => (&h[..c], &h[c..]),
            None => (h, &h[h.len()..]),
        }
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    let host_ok = host.first() == Some(&b'[')
        || (!host.is_empty()
            && host.iter().all(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'.'
                            | b'_'
                            | b'~'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b';'
                            | b'='
                            | b'%'
                    )
            }));
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_compare_without_case_and_default_ports() {
        for (target, host) in [
            (&b"http://example.com:80/x"[..], &b"example.com"[..]),
            (b"http://example.com/x", b"example.com:80"),
            (b"http://Example.COM/x", b"example.com"),
            (b"https://example.com:443/", b"example.com"),
            (b"https://example.com/", b"example.com:443"),
            (b"http://example.com:/x", b"example.com"),
            (b"http://example.com:080/x", b"example.com"),
            (b"http://[2001:db8::1]:80/x", b"[2001:DB8::1]"),
            (b"http://example.com:8080/x", b"example.com:8080"),
        ] {
            assert!(same_authority(target, host), "{target:?} {host:?}");
        }
        for (target, host) in [
            (&b"http://example.com:8080/x"[..], &b"example.com"[..]),
            (b"http://example.com/x", b"example.com:8080"),
            (b"https://example.com/", b"example.com:80"),
            (b"http://example.com:443/", b"example.com"),
            (b"http://evil.com/", b"example.com"),
            (b"http://[2001:db8::1]/", b"[2001:db8::2]"),
        ] {
            assert!(!same_authority(target, host), "{target:?} {host:?}");
        }
    }

    #[test]
    fn absolute_targets_with_userinfo_are_refused() {
        assert_eq!(
            target_form(b"GET", b"http://user:pw@example.com/"),
            Err(EdgeError::BadRequest(BadRequest::InvalidTarget))
        );
        assert_eq!(
            target_form(b"GET", b"http://example.com/a@b"),
            Ok(TargetForm::Absolute)
        );
    }
}
