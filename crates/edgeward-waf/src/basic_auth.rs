//! HTTP Basic authentication for zones that protect a path with a password.
//!
//! Owns: parsing `Authorization: Basic …`, comparing credentials in constant time against
//! plaintext or `sha256:<hex>` passwords, and the `WWW-Authenticate` challenge value. Every
//! configured user is compared on each check, so timing does not reveal which names exist.
//! Does not own: rendering the 401.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The outcome of checking an `Authorization` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthResult {
    Ok,
    /// No `Authorization` header: answer 401 with [`BasicAuth::www_authenticate`].
    Missing,
    /// A header that is malformed or carries wrong credentials.
    Invalid,
}

/// A realm and its users; passwords are plaintext or `sha256:<64 hex digits>`.
#[derive(Clone, Debug)]
pub struct BasicAuth {
    pub realm: String,
    pub users: Vec<(String, String)>,
}

impl BasicAuth {
    /// Checks the raw `Authorization` header value, if any.
    pub fn check(&self, authorization_header: Option<&[u8]>) -> AuthResult {
        let Some(h) = authorization_header else {
            return AuthResult::Missing;
        };
        let h = h.trim_ascii();
        if h.len() < 6 || !h[..6].eq_ignore_ascii_case(b"basic ") {
            return AuthResult::Invalid;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(h[6..].trim_ascii()) else {
            return AuthResult::Invalid;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return AuthResult::Invalid;
        };
        let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
        let pass_hash: [u8; 32] = Sha256::digest(pass).into();
        let mut ok = subtle::Choice::from(0);
        for (name, stored) in &self.users {
            let name_ok = ct_eq(name.as_bytes(), user);
            let pass_ok = match stored.strip_prefix("sha256:").and_then(unhex32) {
                Some(want) => want.ct_eq(&pass_hash),
                None => ct_eq(stored.as_bytes(), pass),
            };
            ok |= name_ok & pass_ok;
        }
        if bool::from(ok) {
            AuthResult::Ok
        } else {
            AuthResult::Invalid
        }
    }

    /// The `WWW-Authenticate` header value for a 401.
    pub fn www_authenticate(&self) -> String {
        let realm: String = self
            .realm
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .collect();
        format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")
    }
}

/// Length-independent timing is not needed for lengths (they are not secret enough to matter
/// next to the hash path), but contents are compared in constant time.
fn ct_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    if a.len() == b.len() {
        a.ct_eq(b)
    } else {
        subtle::Choice::from(0)
    }
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = crate::decode::hex_val(b[2 * i])? << 4 | crate::decode::hex_val(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
        .into_bytes()
    }

    fn auth() -> BasicAuth {
        // sha256("hunter2")
        let hashed = "sha256:f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7";
        BasicAuth {
            realm: "staff \"only\"".into(),
            users: vec![
                ("alice".into(), "s3cret:with:colons".into()),
                ("bob".into(), hashed.into()),
            ],
        }
    }

    #[test]
    fn checks_plain_and_hashed_passwords() {
        let a = auth();
        assert_eq!(
            a.check(Some(&header("alice", "s3cret:with:colons"))),
            AuthResult::Ok
        );
        assert_eq!(a.check(Some(&header("bob", "hunter2"))), AuthResult::Ok);
        assert_eq!(a.check(Some(&header("bob", "hunter3"))), AuthResult::Invalid);
        assert_eq!(a.check(Some(&header("alice", "hunter2"))), AuthResult::Invalid);
        assert_eq!(a.check(Some(&header("mallory", "x"))), AuthResult::Invalid);
        assert_eq!(a.check(None), AuthResult::Missing);
        assert_eq!(a.check(Some(b"Bearer abc")), AuthResult::Invalid);
        assert_eq!(a.check(Some(b"Basic !!!")), AuthResult::Invalid);
        assert_eq!(a.check(Some(b"basic YWxpY2U=")), AuthResult::Invalid);
        assert_eq!(
            a.www_authenticate(),
            "Basic realm=\"staff only\", charset=\"UTF-8\""
        );
    }
}
