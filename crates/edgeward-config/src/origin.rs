//! An origin server address as configured: `host:port`, IPv6 literals in brackets.
//!
//! Owns the syntax only; name resolution and connecting belong to the proxy's upstream pool.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};

use crate::hosts::is_hostname;

/// One origin of a zone; plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Hostname, IPv4 address, or IPv6 address (without brackets), lowercase.
    pub host: String,
    /// TCP port, never 0.
    pub port: u16,
}

impl Origin {
    /// Parses `host:port` (`[v6]:port` for IPv6); the error says what is wrong.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let expected = || format!("invalid origin `{text}`: expected host:port (IPv6 as [::1]:80)");
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "invalid origin `{text}`: leave out `{scheme}://`; an origin is host:port \
                 (plain HTTP)"
            ));
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
        let host = if let Some(inner) = host.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or_else(expected)?;
            inner
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("invalid origin `{text}`: `{inner}` is not an IPv6 address"))?;
            inner.to_ascii_lowercase()
        } else if host.contains(':') {
            return Err(expected());
        } else if is_hostname(host) {
            host.to_ascii_lowercase()
        } else {
            return Err(format!(
                "invalid origin `{text}`: `{host}` is not a valid hostname or IP address"
            ));
        };
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        let port: u16 = match port.parse() {
            Ok(0) => return Err(format!("invalid origin `{text}`: port 0 is not allowed")),
            Ok(port) if digits => port,
            _ => {
                return Err(format!(
                    "invalid origin `{text}`: `{port}` is not a port number (1-65535)"
                ))
            }
        };
        Ok(Origin { host, port })
    }
}

impl From<SocketAddr> for Origin {
    fn from(addr: SocketAddr) -> Origin {
        Origin {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_ipv4_and_ipv6() {
        let o = Origin::parse("Origin.Internal:80").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("origin.internal", 80));
        assert_eq!(o.to_string(), "origin.internal:80");
        let o = Origin::parse("127.0.0.1:9000").unwrap();
        assert_eq!(o.to_string(), "127.0.0.1:9000");
        let o = Origin::parse("[::1]:8080").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 8080));
        assert_eq!(o.to_string(), "[::1]:8080");
        let addr: SocketAddr = "[::1]:81".parse().unwrap();
        assert_eq!(Origin::from(addr).to_string(), "[::1]:81");
    }

    #[test]
    fn rejects_bad_origins_naming_the_fault() {
        let cases = [
            ("example.com", "expected host:port"),
            ("::1:80", "expected host:port"),
            ("[::1:80", "expected host:port"),
            ("[zz]:80", "not an IPv6 address"),
            ("exa_mple:80", "not a valid hostname"),
            (":80", "not a valid hostname"),
            ("http://a:80", "leave out `http://`"),
            ("a:0", "port 0"),
            ("a:65536", "not a port number"),
            ("a:", "not a port number"),
            ("a:+80", "not a port number"),
        ];
        for (text, fault) in cases {
            let err = Origin::parse(text).expect_err(text);
            assert!(err.contains(fault), "{text}: {err}");
        }
    }
}
