//! The headers each status requires (RFC 9110 and friends), derived from the
//! variant's data so a caller cannot forget them.
//!
//! Owns status-specific headers only; the headers every error carries
//! (`Content-Type`, `Content-Length`, …) are the renderer's.

use super::{AuthChallenge, EdgeError, MediaHint};
use crate::field;

/// Headers the renderer sets itself; a configured 402 header may not override them.
const RESERVED: [&str; 11] = [
    "Content-Type",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Cache-Control",
    "Vary",
    "X-Request-Id",
    "Keep-Alive",
    crate::render::ERROR_TYPE_HEADER,
    crate::render::ERROR_CODE_HEADER,
    crate::render::MITIGATED_HEADER,
];

impl EdgeError {
    /// The headers this error's status requires, e.g. `Allow` for 405 or
    /// `WWW-Authenticate` for 401, with canonical-case names and safe values.
    pub fn required_headers(&self) -> Vec<(&'static str, String)> {
        match self {
            EdgeError::Unauthorized { challenge, .. } => {
                vec![("WWW-Authenticate", challenge_value(challenge))]
            }
            EdgeError::ProxyAuthenticationRequired { challenge } => {
                vec![("Proxy-Authenticate", challenge_value(challenge))]
            }
            EdgeError::MethodNotAllowed { allow } => {
                vec![("Allow", field::value(&allow.methods().join(", ")))]
            }
            EdgeError::PayloadTooLarge {
                retry_after: Some(secs),
                ..
            } => vec![("Retry-After", secs.to_string())],
            EdgeError::TooManyRequests(r) => {
                let id = field::sf_string(&r.rule_id);
                vec![
                    ("Retry-After", r.retry_after.to_string()),
                    ("RateLimit-Policy", format!("{id};q={};w={}", r.limit, r.window)),
                    ("RateLimit", format!("{id};r=0;t={}", r.retry_after)),
                ]
            }
            EdgeError::UnavailableForLegalReasons { blocked_by, .. } => {
                let url: String = field::value(blocked_by).replace(['<', '>'], "");
                vec![("Link", format!("<{url}>; rel=\"blocked-by\""))]
            }
            EdgeError::RangeNotSatisfiable { complete_length } => {
                vec![("Content-Range", format!("bytes */{complete_length}"))]
            }
            EdgeError::UnsupportedMediaType(MediaHint::ContentType(types)) => {
                vec![("Accept-Post", field::value(&types.join(", ")))]
            }
            EdgeError::UnsupportedMediaType(MediaHint::ContentEncoding(codings)) => {
                vec![("Accept-Encoding", field::value(&codings.join(", ")))]
            }
            EdgeError::PaymentRequired { headers, .. } => headers
                .iter()
                .filter_map(|(name, value)| {
                    let name = field::interned_name(name)?;
                    let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name));
                    (!reserved).then(|| (name, field::value(value)))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn challenge_value(challenge: &AuthChallenge) -> String {
    match challenge {
        AuthChallenge::Basic { realm } => {
            format!("Basic realm={}, charset=\"UTF-8\"", field::quoted(realm))
        }
    }
}
