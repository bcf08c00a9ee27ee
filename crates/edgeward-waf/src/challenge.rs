//! The proof-of-work challenge and the signed clearance cookie it earns.
//!
//! Owns: stateless challenge nonces (`expiry.clienthash.random.mac`, HMAC-SHA256 signed, so
//! the edge stores nothing between the interstitial and the solution), the interstitial
//! page with its inline `crypto.subtle` solver, verifying a solution, issuing and checking
//! the `edgeward_clearance=<expiry>.<mac(expiry|ip|ua)>` cookie with constant-time
//! comparison, parsing the solution form, and a Rust solver for tests.
//!
//! A nonce can be replayed by the same client until it expires (there is no server state to
//! remember it); that only re-earns a cookie the client could already get. Does not own:
//! routing `/.edgeward/challenge` or deciding when to challenge.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::net::IpAddr;

type HmacSha256 = Hmac<Sha256>;

/// Path the interstitial posts its solution to.
pub const CHALLENGE_PATH: &str = "/.edgeward/challenge";
/// Name of the clearance cookie.
pub const CLEARANCE_COOKIE: &str = "edgeward_clearance";

/// Signs and verifies challenges and clearance cookies; one per edge (or per zone).
#[derive(Clone)]
pub struct ClearanceKey {
    secret: Vec<u8>,
    difficulty: u8,
    challenge_ttl: u64,
    clearance_ttl: u64,
}

impl std::fmt::Debug for ClearanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClearanceKey")
            .field("difficulty", &self.difficulty)
            .finish_non_exhaustive()
    }
}

/// A challenge to serve: the interstitial page embeds the nonce and difficulty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub nonce: String,
    /// Required leading zero bits of SHA-256(nonce ‖ counter).
    pub difficulty: u8,
    pub page_html: String,
}

/// A clearance earned by solving a challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClearanceCookie {
    /// The full `Set-Cookie` header value.
    pub set_cookie: String,
    /// Unix seconds after which the cookie is no longer honoured.
    pub expires: u64,
}

/// Why a challenge solution or clearance cookie was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeError {
    Malformed,
    BadSignature,
    Expired,
    /// Issued to a different IP or User-Agent.
    WrongClient,
    InsufficientWork,
}

/// The fields of a solution POST to [`CHALLENGE_PATH`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeForm {
    pub nonce: String,
    pub counter: u64,
    /// Where to send the client afterwards; always a local path (open redirects refused).
    pub return_to: String,
}

impl ChallengeForm {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Option<ChallengeForm> {
        let text = std::str::from_utf8(body).ok()?;
        let (mut nonce, mut counter, mut return_to) = (None, None, String::from("/"));
        crate::decode::for_each_pair::<()>(text, |k, v| {
            match k {
                "nonce" => nonce = Some(v.to_owned()),
                "counter" => counter = v.parse().ok(),
                "return"
                    if v.starts_with('/')
                        && !v.starts_with("//")
                        && !v.contains('\\')
                        && !v.bytes().any(|b| b < b' ') =>
                {
                    return_to = v.to_owned();
                }
                _ => {}
            }
            None
        });
        Some(ChallengeForm {
            nonce: nonce?,
            counter: counter?,
            return_to,
        })
    }
}

impl ClearanceKey {
    /// A key with default difficulty (16 bits), 5-minute challenges and 30-minute clearance.
    pub fn new(secret: &[u8]) -> ClearanceKey {
        ClearanceKey {
            secret: secret.to_vec(),
            difficulty: 16,
            challenge_ttl: 300,
            clearance_ttl: 1800,
        }
    }

    /// Sets the leading-zero bits a solution needs (each bit doubles the client's work).
    pub fn with_difficulty(mut self, bits: u8) -> ClearanceKey {
        self.difficulty = bits.min(32);
        self
    }

    /// Sets how long a clearance cookie is honoured, in seconds.
    pub fn with_clearance_ttl(mut self, secs: u64) -> ClearanceKey {
        self.clearance_ttl = secs;
        self
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        m
    }

    fn client_hash(&self, ip: IpAddr, ua: &[u8]) -> String {
        let tag = self
            .mac(&[b"client", ip.to_string().as_bytes(), ua])
            .finalize()
            .into_bytes();
        hex(&tag[..8])
    }

    /// Issues a fresh challenge for this client, valid for five minutes from `now` (unix s).
    pub fn issue_challenge(&self, ip: IpAddr, ua: &[u8], now: u64) -> Challenge {
        let mut random = [0u8; 12];
        if getrandom::fill(&mut random).is_err() {
            // No OS randomness: still unique enough per client and second; the MAC is what matters.
            random[..8].copy_from_slice(&now.to_be_bytes());
        }
        let body = format!(
            "{}.{}.{}",
            now + self.challenge_ttl,
            self.client_hash(ip, ua),
            hex(&random)
        );
        let sig = self.mac(&[b"nonce", body.as_bytes()]).finalize().into_bytes();
        let nonce = format!("{body}.{}", hex(&sig));
        let page_html = interstitial(&nonce, self.difficulty);
        Challenge {
            nonce,
            difficulty: self.difficulty,
            page_html,
        }
    }

    /// Checks a solution and, if it holds, returns the clearance cookie to set.
    pub fn verify_solution(
        &self,
        nonce: &str,
        counter: u64,
        ip: IpAddr,
        ua: &[u8],
        now: u64,
    ) -> Result<ClearanceCookie, ChallengeError> {
        let (body, sig) = nonce.rsplit_once('.').ok_or(ChallengeError::Malformed)?;
        let sig = unhex(sig).ok_or(ChallengeError::Malformed)?;
        self.mac(&[b"nonce", body.as_bytes()])
            .verify_slice(&sig)
            .map_err(|_| ChallengeError::BadSignature)?;
        let mut parts = body.split('.');
        let (Some(expiry), Some(client), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ChallengeError::Malformed);
        };
        let expiry: u64 = expiry.parse().map_err(|_| ChallengeError::Malformed)?;
        if now > expiry {
            return Err(ChallengeError::Expired);
        }
        let expected = self.client_hash(ip, ua);
        if !ct_eq(client.as_bytes(), expected.as_bytes()) {
            return Err(ChallengeError::WrongClient);
        }
        if leading_zero_bits(&pow_hash(nonce, counter)) < u32::from(self.difficulty) {
            return Err(ChallengeError::InsufficientWork);
        }
        Ok(self.clearance(ip, ua, now))
    }

    fn clearance(&self, ip: IpAddr, ua: &[u8], now: u64) -> ClearanceCookie {
        let expires = now + self.clearance_ttl;
        let tag = self.cookie_mac(expires, ip, ua);
        ClearanceCookie {
            set_cookie: format!(
                "{CLEARANCE_COOKIE}={expires}.{tag}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
                self.clearance_ttl
            ),
            expires,
        }
    }

    fn cookie_mac(&self, expires: u64, ip: IpAddr, ua: &[u8]) -> String {
        let e = expires.to_string();
        hex(&self
            .mac(&[b"clearance", e.as_bytes(), ip.to_string().as_bytes(), ua])
            .finalize()
            .into_bytes())
    }

    /// Checks a clearance cookie value (`<expiry>.<mac>`, or a whole `Cookie` header).
    pub fn check_clearance(
        &self,
        cookie_value: &str,
        ip: IpAddr,
        ua: &[u8],
        now: u64,
    ) -> Result<(), ChallengeError> {
        let value = clearance_from_cookie_header(cookie_value).unwrap_or(cookie_value.trim());
        let (expiry, tag) = value.split_once('.').ok_or(ChallengeError::Malformed)?;
        let expires: u64 = expiry.parse().map_err(|_| ChallengeError::Malformed)?;
        let expected = self.cookie_mac(expires, ip, ua);
        // The MAC binds expiry, IP and UA together, so any change reads as a bad signature.
        if !ct_eq(tag.as_bytes(), expected.as_bytes()) {
            return Err(ChallengeError::BadSignature);
        }
        if now > expires {
            return Err(ChallengeError::Expired);
        }
        Ok(())
    }
}

/// The value of `edgeward_clearance` within a `Cookie` header, if present.
pub fn clearance_from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .find_map(|c| c.trim().strip_prefix(CLEARANCE_COOKIE)?.strip_prefix('='))
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn pow_hash(nonce: &str, counter: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(nonce.as_bytes());
    h.update(counter.to_string().as_bytes());
    h.finalize().into()
}

fn leading_zero_bits(h: &[u8]) -> u32 {
    let mut n = 0;
    for &b in h {
        if b == 0 {
            n += 8;
        } else {
            return n + b.leading_zeros();
        }
    }
    n
}

/// Finds the smallest counter such that SHA-256(nonce ‖ decimal counter) has `difficulty`
/// leading zero bits — exactly what the interstitial's script computes.
pub fn solve_pow(nonce: &str, difficulty: u8) -> u64 {
    (0u64..)
        .find(|&c| leading_zero_bits(&pow_hash(nonce, c)) >= u32::from(difficulty))
        .expect("a solution exists")
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks(2)
        .map(|p| Some(crate::decode::hex_val(p[0])? << 4 | crate::decode::hex_val(p[1])?))
        .collect()
}

/// The interstitial page. The nonce is hex and dots only, so it embeds without escaping.
fn interstitial(nonce: &str, difficulty: u8) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Checking your browser…</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}}</style>
</head><body>
<h1>Checking your browser…</h1>
<p id="status">This takes a moment and happens once. Please keep this page open.</p>
<noscript><p>JavaScript is required to pass this check.</p></noscript>
<form id="f" method="POST" action="{CHALLENGE_PATH}">
<input type="hidden" name="nonce" value="{nonce}">
<input type="hidden" name="counter" id="counter" value="">
<input type="hidden" name="return" id="ret" value="/">
</form>
<script>
(async function () {{
  const nonce = "{nonce}", difficulty = {difficulty}, enc = new TextEncoder();
  function zeros(h) {{
    let n = 0;
    for (const b of h) {{ if (b === 0) {{ n += 8; continue; }} return n + Math.clz32(b) - 24; }}
    return n;
  }}
  for (let c = 0; ; c++) {{
    const h = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(nonce + c)));
    if (zeros(h) >= difficulty) {{
      document.getElementById("counter").value = String(c);
      document.getElementById("ret").value = location.pathname + location.search;
      document.getElementById("f").submit();
      return;
    }}
  }}
}})();
</script>
</body></html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: &[u8] = b"Mozilla/5.0 test";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn key() -> ClearanceKey {
        ClearanceKey::new(b"test secret").with_difficulty(8)
    }

    #[test]
    fn solve_verify_and_clear() {
        let k = key();
        let ch = k.issue_challenge(ip("203.0.113.5"), UA, 1_000);
        assert_eq!(ch.nonce.split('.').count(), 4);
        assert!(ch.page_html.contains(&ch.nonce) && ch.page_html.contains("crypto.subtle.digest"));
        assert!(ch.page_html.contains(CHALLENGE_PATH));
        let counter = solve_pow(&ch.nonce, ch.difficulty);
        let cookie = k
            .verify_solution(&ch.nonce, counter, ip("203.0.113.5"), UA, 1_010)
            .unwrap();
        assert!(cookie.set_cookie.starts_with("edgeward_clearance="));
        let value = cookie.set_cookie.split(';').next().unwrap();
        assert_eq!(k.check_clearance(value, ip("203.0.113.5"), UA, 1_020), Ok(()));
        let header = format!("a=b; {value}; c=d");
        assert_eq!(k.check_clearance(&header, ip("203.0.113.5"), UA, 1_020), Ok(()));
        assert_eq!(
            k.check_clearance(value, ip("203.0.113.6"), UA, 1_020),
            Err(ChallengeError::BadSignature)
        );
        assert_eq!(
            k.check_clearance(value, ip("203.0.113.5"), b"other", 1_020),
            Err(ChallengeError::BadSignature)
        );
        assert_eq!(
            k.check_clearance(value, ip("203.0.113.5"), UA, cookie.expires + 1),
            Err(ChallengeError::Expired)
        );
        let tampered = value.replacen("edgeward_clearance=", "edgeward_clearance=9", 1);
        assert_eq!(
            k.check_clearance(&tampered, ip("203.0.113.5"), UA, 1_020),
            Err(ChallengeError::BadSignature)
        );
        assert_eq!(
            k.check_clearance("garbage", ip("203.0.113.5"), UA, 1_020),
            Err(ChallengeError::Malformed)
        );
        let other_key = ClearanceKey::new(b"other");
        assert_eq!(
            other_key.check_clearance(value, ip("203.0.113.5"), UA, 1_020),
            Err(ChallengeError::BadSignature)
        );
    }

    #[test]
    fn solutions_are_bound_and_checked() {
        let k = key();
        let ch = k.issue_challenge(ip("2001:db8::1"), UA, 1_000);
        let counter = solve_pow(&ch.nonce, ch.difficulty);
        assert_eq!(
            k.verify_solution(&ch.nonce, counter, ip("2001:db8::2"), UA, 1_001),
            Err(ChallengeError::WrongClient)
        );
        assert_eq!(
            k.verify_solution(&ch.nonce, counter, ip("2001:db8::1"), UA, 1_301),
            Err(ChallengeError::Expired)
        );
        let bad = (0..)
            .find(|&c| leading_zero_bits(&pow_hash(&ch.nonce, c)) < 8)
            .unwrap();
        assert_eq!(
            k.verify_solution(&ch.nonce, bad, ip("2001:db8::1"), UA, 1_001),
            Err(ChallengeError::InsufficientWork)
        );
        let forged = ch.nonce.replacen("1300", "9999", 1);
        assert_eq!(
            k.verify_solution(&forged, counter, ip("2001:db8::1"), UA, 1_001),
            Err(ChallengeError::BadSignature)
        );
        assert_eq!(
            k.verify_solution("nodots", 0, ip("2001:db8::1"), UA, 1_001),
            Err(ChallengeError::Malformed)
        );
        assert_ne!(ch.nonce, k.issue_challenge(ip("2001:db8::1"), UA, 1_000).nonce);
    }

    #[test]
    fn parses_form_and_refuses_open_redirects() {
        let f = ChallengeForm::parse(b"nonce=a.b.c.d&counter=42&return=%2Fshop%3Fq%3D1").unwrap();
        assert_eq!(
            (f.nonce.as_str(), f.counter, f.return_to.as_str()),
            ("a.b.c.d", 42, "/shop?q=1")
        );
        let f = ChallengeForm::parse(b"nonce=x&counter=1&return=%2F%2Fevil.example").unwrap();
        assert_eq!(f.return_to, "/");
        assert!(ChallengeForm::parse(b"nonce=x").is_none());
    }

    #[test]
    fn default_difficulty_is_solvable() {
        let k = ClearanceKey::new(b"s");
        let ch = k.issue_challenge(ip("192.0.2.1"), UA, 0);
        assert_eq!(ch.difficulty, 16);
        let c = solve_pow(&ch.nonce, ch.difficulty);
        assert!(k.verify_solution(&ch.nonce, c, ip("192.0.2.1"), UA, 1).is_ok());
    }
}
