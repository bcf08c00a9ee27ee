//! An origin address as configured: `host:port` (plain HTTP, IPv6 in brackets),
//! `https://host[:port]` (TLS, port 443 by default) or `unix:/absolute/path`.
//!
//! Owns the syntax only, turning text into `edgeward_upstream::Origin`; name resolution,
//! connecting and TLS belong to `edgeward-upstream`, weights and TLS options to `upstream`.

use std::net::Ipv6Addr;
use std::path::PathBuf;

pub use edgeward_upstream::{Origin, OriginAddress};

use crate::hosts::is_hostname;

/// Parses one origin (weight 1); the error says what is wrong.
pub fn parse_origin(text: &str) -> Result<Origin, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        return unix(text, path);
    }
    let (tls, rest) = match text.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some((scheme, _)) => {
            return Err(format!(
                "invalid origin `{text}`: leave out `{scheme}://`; an origin is host:port (plain \
                 HTTP), https://host:port (TLS) or unix:/path"
            ))
        }
        None => (false, text),
    };
    if rest.contains('/') {
        return Err(format!("invalid origin `{text}`: an origin has no path"));
    }
    let (host, port) = host_port(text, rest, tls)?;
    Ok(Origin {
        address: OriginAddress::Tcp { host, port },
        tls,
        weight: 1,
    })
}

fn unix(text: &str, path: &str) -> Result<Origin, String> {
    if !path.starts_with('/') {
        return Err(format!(
            "invalid origin `{text}`: a Unix socket path must be absolute (unix:/run/app.sock)"
        ));
    }
    if path.len() > 107 {
        return Err(format!(
            "invalid origin `{text}`: a Unix socket path has at most 107 bytes"
        ));
    }
    Ok(Origin {
        address: OriginAddress::Unix(PathBuf::from(path)),
        tls: false,
        weight: 1,
    })
}

/// `host:port`, or for TLS `host` alone (port 443).
fn host_port(text: &str, rest: &str, tls: bool) -> Result<(String, u16), String> {
    let expected = || format!("invalid origin `{text}`: expected host:port (IPv6 as [::1]:80)");
    let bracketed_without_port = rest.starts_with('[') && rest.ends_with(']');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !bracketed_without_port && (!host.contains(':') || host.starts_with('[')) => {
            (host, Some(port))
        }
        _ if tls => (rest, None),
        _ => return Err(expected()),
    };
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
    let Some(port) = port else {
        return Ok((host, 443));
    };
    let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u16>() {
        Ok(0) => Err(format!("invalid origin `{text}`: port 0 is not allowed")),
        Ok(port) if digits => Ok((host, port)),
        _ => Err(format!(
            "invalid origin `{text}`: `{port}` is not a port number (1-65535)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn parses_names_ipv4_and_ipv6() {
        let o = parse_origin("Origin.Internal:80").unwrap();
        assert_eq!(o.host(), Some("origin.internal"));
        assert_eq!(o.to_string(), "origin.internal:80");
        assert!(!o.tls);
        let o = parse_origin("127.0.0.1:9000").unwrap();
        assert_eq!(o.to_string(), "127.0.0.1:9000");
        let o = parse_origin("[::1]:8080").unwrap();
        assert_eq!(o.host(), Some("::1"));
        assert_eq!(o.to_string(), "[::1]:8080");
        let addr: SocketAddr = "[::1]:81".parse().unwrap();
        assert_eq!(Origin::from(addr).to_string(), "[::1]:81");
    }

    #[test]
    fn parses_https_and_unix_origins() {
        let o = parse_origin("https://Origin.Example.com").unwrap();
        assert!(o.tls);
        assert_eq!(o.to_string(), "https://origin.example.com:443");
        let o = parse_origin("https://[2001:db8::1]:8443").unwrap();
        assert_eq!(o.to_string(), "https://[2001:db8::1]:8443");
        let o = parse_origin("https://[2001:db8::1]").unwrap();
        assert_eq!(o.to_string(), "https://[2001:db8::1]:443");
        let o = parse_origin("unix:/run/app.sock").unwrap();
        assert_eq!(o.address, OriginAddress::Unix("/run/app.sock".into()));
        assert_eq!(o.to_string(), "unix:/run/app.sock");
    }

    #[test]
    fn rejects_bad_origins_naming_the_fault() {
        let long = format!("unix:/{}", "a".repeat(120));
        let cases = [
            ("example.com", "expected host:port"),
            ("::1:80", "expected host:port"),
            ("[::1:80", "expected host:port"),
            ("[zz]:80", "not an IPv6 address"),
            ("exa_mple:80", "not a valid hostname"),
            (":80", "not a valid hostname"),
            ("http://a:80", "leave out `http://`"),
            ("ftp://a:80", "leave out `ftp://`"),
            ("https://a:443/x", "no path"),
            ("https://a:0", "port 0"),
            ("a:0", "port 0"),
            ("a:65536", "not a port number"),
            ("a:", "not a port number"),
            ("a:+80", "not a port number"),
            ("unix:run/app.sock", "must be absolute"),
            (long.as_str(), "at most 107 bytes"),
        ];
        for (text, fault) in cases {
            let err = parse_origin(text).expect_err(text);
            assert!(err.contains(fault), "{text}: {err}");
        }
    }
}
