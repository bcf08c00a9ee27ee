//! LDAP filter injection: closing the application's filter and opening a new one.
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-ldap-1300` | filter break-out: `*)(uid=*`, `admin)(|(password=*)`, `)(&`, `*))%00` |
//! | `waf-ldap-1301` | wildcard filters on directory attributes: `(objectClass=*)`, `(|(cn=*)` |
//!
//! Does not own: SQL or shell metacharacters (`sqli`, `cmdi`).

use crate::find::{ByteSet, Hay};
use crate::Strength;

/// Attributes commonly targeted in injected filters.
const ATTRS: &[&[u8]] = &[
    b"objectclass",
    b"uid",
    b"cn",
    b"sn",
    b"mail",
    b"userpassword",
    b"password",
    b"samaccountname",
    b"givenname",
    b"memberof",
    b"ou",
    b"dc",
    b"description",
    b"telephonenumber",
    b"userprincipalname",
    b"name",
    b"user",
    b"username",
    b"member",
    b"homedirectory",
    b"accountname",
];

/// Looks for LDAP injection in a lowercased, decoded value.
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    if !set.has(b'(') && !set.has(b')') {
        return None;
    }
    let b = s.as_bytes();
    let h = Hay::new(b, set);
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |id: &'static str, st: Strength| {
        if best.map_or(true, |b| st < b.1) {
            best = Some((id, st));
        }
    };
    if h.contains(b"*)(") || h.contains(b")(|") || h.contains(b")(&") || h.contains(b")(!") {
        note("waf-ldap-1300", Strength::Strong);
    }
    for at in h.find_iter(b")(") {
        if attr_filter(&b[at + 2..]).is_some() {
            note("waf-ldap-1300", Strength::Medium);
        }
    }
    for open in [&b"(|("[..], b"(&(", b"(!("] {
        if h.contains(open) && b.contains(&b'=') {
            note("waf-ldap-1300", Strength::Medium);
        }
    }
    if h.contains(b"*))") && (b.contains(&0) || b.ends_with(b"*))") || h.contains(b"*))(")) {
        note("waf-ldap-1300", Strength::Medium);
    }
    for at in h.find_iter(b"(") {
        if let Some(wild) = attr_filter(&b[at + 1..]) {
            if wild {
                note("waf-ldap-1301", Strength::Medium);
            }
        }
    }
    best
}

/// After `(`: `attr=`, `attr~=`, `attr>=`; returns whether the value is a bare `*` wildcard.
fn attr_filter(rest: &[u8]) -> Option<bool> {
    let n = rest
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
        .count();
    let name = &rest[..n];
    if !ATTRS.contains(&name) {
        return None;
    }
    let op = &rest[n..];
    let op = op
        .strip_prefix(b"~")
        .or_else(|| op.strip_prefix(b">"))
        .or_else(|| op.strip_prefix(b"<"))
        .unwrap_or(op);
    let value = op.strip_prefix(b"=")?;
    Some(value.starts_with(b"*)") || value == b"*")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        let l = s.to_ascii_lowercase();
        detect_in(&l, ByteSet::of(l.as_bytes()))
            .filter(|h| h.1 != Strength::Weak)
            .map(|h| h.0)
    }

    #[test]
    fn detects_families() {
        assert_eq!(rule("*)(uid=*))(|(uid=*"), Some("waf-ldap-1300"));
        assert_eq!(rule("admin)(|(password=*)"), Some("waf-ldap-1300"));
        assert_eq!(rule("x)(cn=admin"), Some("waf-ldap-1300"));
        assert_eq!(rule("(objectClass=*)"), Some("waf-ldap-1301"));
    }

    #[test]
    fn leaves_prose_alone() {
        for ok in ["f(x)(y)", "(see above)(and below)", "smile :)(", "(a=1)"] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
