//! `[real_ip]`: how the edge learns the client's address behind a load balancer — a PROXY
//! protocol header on every listener, and the client-IP header of trusted proxies — and the
//! header that tells the origin.
//!
//! Owns the section's shape and validation (CIDRs, header names). Reading PROXY headers and
//! choosing the address are the proxy's (`edgeward-proxy`: `proxy_protocol`, `real_ip`).
//!
//! ```toml
//! [real_ip]
//! proxy_protocol = true                 # every listener expects PROXY v1/v2 first
//! trusted_proxies = ["10.0.0.0/8", "2001:db8::/32"]
//! header = "X-Forwarded-For"            # or a single-address header: "CF-Connecting-IP"
//! send_header = "X-Real-IP"             # also tell the origin (X-Forwarded-For always is)
//! ```

use std::net::IpAddr;

use serde::Deserialize;
use toml::Spanned;

use crate::validate::Source;
use crate::ConfigError;

/// `[real_ip]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRealIp {
    pub proxy_protocol: Option<bool>,
    pub trusted_proxies: Option<Vec<Spanned<String>>>,
    pub header: Option<Spanned<String>>,
    pub send_header: Option<Spanned<String>>,
}

/// How the client's address is found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealIp {
    /// Every listener reads a PROXY protocol (v1 or v2) header before anything else.
    pub proxy_protocol: bool,
    /// Peers whose client-IP header is believed: (network, prefix length).
    pub trusted_proxies: Vec<(IpAddr, u8)>,
    /// The header carrying the client's address from a trusted peer (lower case);
    /// `x-forwarded-for` is read right to left, skipping trusted hops.
    pub header: String,
    /// A header set to the client's address on requests to the origin (lower case).
    pub send_header: Option<String>,
}

impl RealIp {
    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies
            .iter()
            .any(|&(net, prefix)| in_network(ip, net, prefix))
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Source<'_> {
    pub(crate) fn real_ip(&self, raw: Option<RawRealIp>) -> Result<RealIp, ConfigError> {
        let Some(raw) = raw else {
            return Ok(RealIp {
                header: "x-forwarded-for".to_owned(),
                ..RealIp::default()
            });
        };
        let mut trusted = Vec::new();
        for cidr in raw.trusted_proxies.unwrap_or_default() {
            let text = cidr.get_ref();
            let (addr, prefix) = text.split_once('/').unwrap_or((text, ""));
            let ip: IpAddr = addr
                .trim()
                .parse()
                .map_err(|_| self.fault(cidr.span(), format!("`{text}` is not an IP address or CIDR")))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = if prefix.is_empty() {
                max
            } else {
                prefix.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                    self.fault(
                        cidr.span(),
                        format!("`{text}`: the prefix length must be 0..={max}"),
                    )
                })?
            };
            trusted.push((canonical(ip), prefix));
        }
        let header_name = |h: &Spanned<String>, key: &str| -> Result<String, ConfigError> {
            let name = h.get_ref();
            let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if ok {
                Ok(name.to_ascii_lowercase())
            } else {
                Err(self.fault(
                    h.span(),
                    format!("`{key}` must be a header name (letters, digits, `-`)"),
                ))
            }
        };
        let header = match &raw.header {
            Some(h) => header_name(h, "header")?,
            None => "x-forwarded-for".to_owned(),
        };
        let send_header = raw
            .send_header
            .as_ref()
            .map(|h| header_name(h, "send_header"))
            .transpose()?;
        Ok(RealIp {
            proxy_protocol: raw.proxy_protocol.unwrap_or(false),
            trusted_proxies: trusted,
            header,
            send_header,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_networks_match_by_prefix_and_mapped_addresses_as_ipv4() {
        let real_ip = RealIp {
            trusted_proxies: vec![
                ("10.0.0.0".parse().unwrap(), 8),
                ("2001:db8::".parse().unwrap(), 32),
            ],
            ..RealIp::default()
        };
        assert!(real_ip.trusts("10.1.2.3".parse().unwrap()));
        assert!(real_ip.trusts("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!real_ip.trusts("11.0.0.1".parse().unwrap()));
        assert!(real_ip.trusts("2001:db8:1::1".parse().unwrap()));
        assert!(!real_ip.trusts("2001:db9::1".parse().unwrap()));
    }

    #[test]
    fn bad_entries_name_their_line() {
        let text = "[server]\nlisten = \"127.0.0.1:0\"\n[[zones]]\nname = \"a\"\nhosts = [\"a.test\"]\norigins = [\"127.0.0.1:1\"]\n\
                    [real_ip]\ntrusted_proxies = [\"10.0.0.0/40\"]\n";
        let err = crate::parse(text, std::path::Path::new("t.toml"), std::path::Path::new(".")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("t.toml:8"), "{msg}");
        assert!(msg.contains("prefix length"), "{msg}");
    }
}
