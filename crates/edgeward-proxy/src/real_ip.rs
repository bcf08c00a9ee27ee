//! The client's address behind load balancers: a trusted peer's client-IP header
//! (`X-Forwarded-For` read right to left past trusted hops, or a single-address header such
//! as `CF-Connecting-IP`); from any other peer, the peer itself (its headers are replaced
//! before the origin, never passed on). The PROXY protocol, when on, has already set the
//! peer (`proxy_protocol`).
//!
//! Owns choosing the address every stage uses (`ip.src`, IP rules, rate limits, the
//! challenge binding, the WAF, analytics). Writing the forwarding fields is `forward`'s.

use std::net::IpAddr;

use edgeward_config::RealIp;
use edgeward_http::{list_items, RequestHead};

/// The client's address for a request that came from `peer`, and whether the peer is a
/// trusted proxy (then its forwarding fields are kept and extended).
pub fn client_ip(settings: &RealIp, peer: IpAddr, head: &RequestHead) -> (IpAddr, bool) {
    if settings.trusted_proxies.is_empty() || !settings.trusts(peer) {
        return (peer, false);
    }
    let fields = head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(settings.header.as_bytes()))
        .map(|(_, v)| v);
    if settings.header != "x-forwarded-for" {
        // A single-address header: the last one a trusted proxy set.
        let ip = fields.last().and_then(parse_ip);
        return (ip.unwrap_or(peer), true);
    }
    // Right to left: the first address that is not a trusted proxy is the client; every
    // address to its right was added by a proxy we trust.
    let hops: Vec<&[u8]> = fields.flat_map(list_items).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_ip(hop) else { break };
        client = ip;
        if !settings.trusts(ip) {
            break;
        }
    }
    (client, true)
}

/// An address as forwarding fields write it: bare, bracketed, or with a port.
fn parse_ip(text: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(edgeward_http::trim_ows(text)).ok()?;
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    text.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(extra: &str) -> RequestHead {
        let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        let mut buf = bytes::BytesMut::from(raw.as_bytes());
        edgeward_http::parse_head(&mut buf, &edgeward_http::Limits::default())
            .unwrap()
            .unwrap()
    }

    fn settings(header: &str) -> RealIp {
        RealIp {
            trusted_proxies: vec![("10.0.0.0".parse().unwrap(), 8)],
            header: header.to_owned(),
            ..RealIp::default()
        }
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let s = settings("x-forwarded-for");
        let h = head("X-Forwarded-For: 203.0.113.9, 198.51.100.1, 10.0.0.5\r\n");
        assert_eq!(
            client_ip(&s, "10.0.0.1".parse().unwrap(), &h),
            ("198.51.100.1".parse().unwrap(), true)
        );
        let spoofed = head("X-Forwarded-For: 1.2.3.4\r\n");
        let untrusted: IpAddr = "192.0.2.50".parse().unwrap();
        assert_eq!(
            client_ip(&s, untrusted, &spoofed),
            (untrusted, false),
            "an untrusted peer is the client"
        );
        let garbage = head("X-Forwarded-For: nonsense, 198.51.100.1\r\n");
        assert_eq!(
            client_ip(&s, "10.0.0.1".parse().unwrap(), &garbage).0,
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        let with_port = head("X-Forwarded-For: [2001:db8::7]:443\r\n");
        assert_eq!(
            client_ip(&s, "10.0.0.1".parse().unwrap(), &with_port).0,
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_named_header_gives_one_address() {
        let s = settings("cf-connecting-ip");
        let h = head("CF-Connecting-IP: 203.0.113.77\r\n");
        assert_eq!(
            client_ip(&s, "10.9.9.9".parse().unwrap(), &h).0,
            "203.0.113.77".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(&s, "8.8.8.8".parse().unwrap(), &h).0,
            "8.8.8.8".parse::<IpAddr>().unwrap()
        );
    }
}
