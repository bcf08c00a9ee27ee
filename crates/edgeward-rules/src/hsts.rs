//! HTTP Strict Transport Security (RFC 6797): a zone's policy and the
//! `Strict-Transport-Security` value it sends, built once.
//!
//! It owns the directive syntax and the preload-list prerequisites. It does not decide which
//! responses carry the field: the proxy adds [`Hsts::header_value`] to responses sent over TLS
//! only (RFC 6797 §7.2: a host MUST NOT send it over plain HTTP).

use http::HeaderValue;

/// The max-age the HSTS preload list requires at least (one year, in seconds).
pub const PRELOAD_MIN_MAX_AGE: u64 = 31_536_000;

/// A zone's HSTS policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hsts {
    max_age: u64,
    include_subdomains: bool,
    preload: bool,
    value: HeaderValue,
}

impl Hsts {
    /// The policy; `preload` requires `include_subdomains` and a max-age of at least a year
    /// (the preload list's submission rules). A max-age of 0 tells browsers to forget the host
    /// (RFC 6797 §6.1.1).
    pub fn new(max_age: u64, include_subdomains: bool, preload: bool) -> Result<Hsts, String> {
        if preload && !include_subdomains {
            return Err("`preload` requires `include_subdomains = true` (HSTS preload list rules)".into());
        }
        if preload && max_age < PRELOAD_MIN_MAX_AGE {
            return Err(format!(
                "`preload` requires `max_age` of at least {PRELOAD_MIN_MAX_AGE} (one year), found {max_age}"
            ));
        }
        let mut text = format!("max-age={max_age}");
        if include_subdomains {
            text.push_str("; includeSubDomains");
        }
        if preload {
            text.push_str("; preload");
        }
        let value = HeaderValue::try_from(text).expect("digits and tokens are a valid field value");
        Ok(Hsts {
            max_age,
            include_subdomains,
            preload,
            value,
        })
    }

    /// The `Strict-Transport-Security` value (cloning it does not allocate).
    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }

    /// `max-age`, in seconds.
    pub fn max_age(&self) -> u64 {
        self.max_age
    }

    /// Whether `includeSubDomains` is sent.
    pub fn include_subdomains(&self) -> bool {
        self.include_subdomains
    }

    /// Whether `preload` is sent.
    pub fn preload(&self) -> bool {
        self.preload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_rfc_6797_syntax() {
        let v = |a, s, p| {
            Hsts::new(a, s, p)
                .unwrap()
                .header_value()
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(v(31_536_000, false, false), "max-age=31536000");
        assert_eq!(v(86_400, true, false), "max-age=86400; includeSubDomains");
        assert_eq!(
            v(63_072_000, true, true),
            "max-age=63072000; includeSubDomains; preload"
        );
        assert_eq!(v(0, false, false), "max-age=0");
    }

    #[test]
    fn preload_needs_subdomains_and_a_year() {
        assert!(Hsts::new(63_072_000, false, true)
            .unwrap_err()
            .contains("include_subdomains"));
        assert!(Hsts::new(86_400, true, true)
            .unwrap_err()
            .contains("at least 31536000"));
        assert!(Hsts::new(PRELOAD_MIN_MAX_AGE, true, true).is_ok());
    }
}
