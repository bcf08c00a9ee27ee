//! A request as every stage sees it, whatever HTTP version carried it: the parsed head
//! (HTTP/1 bytes, or an HTTP/2 HEADERS frame laid out the same way), the client, the
//! request id, the connection it came on and the protocol.
//!
//! Owns the version-independent request facts and the host helpers routing and rules
//! share. Reading requests off the wire is the sessions' (`session::h1`, `session::h2`).

use std::net::IpAddr;

use edgeward_http::RequestHead;

use crate::tls::Transport;

/// The protocol a request arrived over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
    /// HTTP/2 (over TLS with ALPN `h2`, or h2c with prior knowledge)
    Http2,
}

impl Protocol {
    /// The protocol's name as logs and analytics record it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http10 => "HTTP/1.0",
            Protocol::Http11 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        }
    }
}

/// The facts about a request that every phase may read.
pub struct RequestCtx<'a> {
    /// The parsed head.
    pub head: &'a RequestHead,
    /// The client's address (behind trusted proxies, the one they name).
    pub client_ip: IpAddr,
    /// The address the request came from (a proxy's, when the client is behind one).
    pub peer_ip: IpAddr,
    /// Whether `peer_ip` is a trusted proxy (its forwarding fields are kept).
    pub via_trusted_proxy: bool,
    /// This request's id.
    pub request_id: &'a str,
    /// The connection it came on (plain or TLS).
    pub transport: &'a Transport,
    /// The protocol it came over.
    pub protocol: Protocol,
}

impl RequestCtx<'_> {
    /// Whether the client asked to switch to WebSocket (RFC 6455 §4.1: a GET over HTTP/1.1
    /// with `Upgrade: websocket`, `Connection: upgrade` and a `Sec-WebSocket-Key`): the
    /// protocol token. No other switch is relayed: an `Upgrade: h2c` passed on would let the
    /// client talk to the origin past every protection.
    pub fn upgrade(&self) -> Option<&[u8]> {
        if self.protocol != Protocol::Http11 || self.head.method() != "GET" {
            return None;
        }
        let upgrade = self.head.header("upgrade")?;
        if !upgrade.eq_ignore_ascii_case(b"websocket") || self.head.header("sec-websocket-key").is_none() {
            return None;
        }
        let connection_names_upgrade = self.protocol == Protocol::Http2
            || self
                .head
                .headers()
                .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
                .flat_map(|(_, v)| edgeward_http::list_items(v))
                .any(|t| t.eq_ignore_ascii_case(b"upgrade"));
        connection_names_upgrade.then_some(upgrade)
    }
}

/// `host[:port]` without the port (IPv6 literals keep their brackets).
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// The host a request names, as routing and rules compare it: without the port,
/// and without the trailing dot of a fully qualified name (case is the caller's).
pub fn bare_host(host: &str) -> &str {
    let host = host_without_port(host);
    host.strip_suffix('.').unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(bare_host("Example.com.:80"), "Example.com");
    }

    fn ctx_upgrade(raw: &[u8], protocol: Protocol) -> Option<Vec<u8>> {
        let mut buf = bytes::BytesMut::from(raw);
        let head = edgeward_http::parse_head(&mut buf, &edgeward_http::Limits::default())
            .unwrap()
            .unwrap();
        let transport = Transport::plain();
        let ctx = RequestCtx {
            head: &head,
            client_ip: "127.0.0.1".parse().unwrap(),
            peer_ip: "127.0.0.1".parse().unwrap(),
            via_trusted_proxy: false,
            request_id: "id",
            transport: &transport,
            protocol,
        };
        ctx.upgrade().map(<[u8]>::to_vec)
    }

    #[test]
    fn only_a_websocket_handshake_is_an_upgrade() {
        let asked = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\
                      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        assert_eq!(ctx_upgrade(asked, Protocol::Http11), Some(b"websocket".to_vec()));
        let no_token = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n";
        assert_eq!(
            ctx_upgrade(no_token, Protocol::Http11),
            None,
            "Connection must name upgrade"
        );
        assert_eq!(ctx_upgrade(asked, Protocol::Http10), None);
        let no_key = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(
            ctx_upgrade(no_key, Protocol::Http11),
            None,
            "no Sec-WebSocket-Key"
        );
        let h2c = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
                    HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
        assert_eq!(ctx_upgrade(h2c, Protocol::Http11), None, "h2c is never relayed");
    }
}
