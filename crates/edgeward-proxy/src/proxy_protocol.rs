//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a load balancer sends before
//! anything else, naming the client's address. With `[real_ip] proxy_protocol = true`, every
//! connection must start with one; a bad or missing header closes the connection (logged).
//!
//! Owns parsing the header (no I/O in [`parse`]) and reading it off a TCP stream without
//! taking a byte more ([`read_header`]: peek, then consume exactly the header). What the
//! address is used for is the pipeline's.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The v2 signature (12 bytes).
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 header is at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;
/// Largest v2 header read (16-byte prelude + addresses + TLVs).
const V2_MAX: usize = 16 + 536;

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A proxied connection from this client address.
    Proxied(SocketAddr),
    /// `LOCAL` (v2) or `UNKNOWN` (v1): the balancer's own connection (health checks); keep
    /// the peer address.
    Local,
}

/// Why a header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Parses a header at the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// header and its length.
pub fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, Malformed> {
    if buf.len() >= 12 && buf[..12] == V2_SIGNATURE || V2_SIGNATURE.starts_with(buf) && !buf.is_empty() {
        return parse_v2(buf);
    }
    if b"PROXY ".starts_with(&buf[..buf.len().min(6)]) {
        return parse_v1(buf);
    }
    Err(Malformed("no PROXY protocol header"))
}

fn parse_v1(buf: &[u8]) -> Result<Option<(Header, usize)>, Malformed> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(Malformed("v1 header too long"))
        } else {
            Ok(None)
        };
    };
    if end + 2 > V1_MAX {
        return Err(Malformed("v1 header too long"));
    }
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| Malformed("v1 header not ASCII"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    let header = match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Header::Local,
        ["PROXY", family @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let ip: IpAddr = src.parse().map_err(|_| Malformed("v1 source address"))?;
            if ip.is_ipv4() != (*family == "TCP4") {
                return Err(Malformed("v1 address family mismatch"));
            }
            let port: u16 = sport.parse().map_err(|_| Malformed("v1 source port"))?;
            Header::Proxied(SocketAddr::new(ip, port))
        }
        _ => return Err(Malformed("v1 header syntax")),
    };
    Ok(Some((header, end + 2)))
}

fn parse_v2(buf: &[u8]) -> Result<Option<(Header, usize)>, Malformed> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let (ver_cmd, family) = (buf[12], buf[13]);
    if ver_cmd >> 4 != 2 {
        return Err(Malformed("v2 version"));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if 16 + len > V2_MAX {
        return Err(Malformed("v2 header too long"));
    }
    if buf.len() < 16 + len {
        return Ok(None);
    }
    let body = &buf[16..16 + len];
    let header = match (ver_cmd & 0x0f, family) {
        (0, _) => Header::Local,
        // PROXY over TCP (or UDP) from IPv4 / IPv6.
        (1, 0x11 | 0x12) if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let port = u16::from_be_bytes([body[8], body[9]]);
            Header::Proxied(SocketAddr::new(IpAddr::V4(ip), port))
        }
        (1, 0x21 | 0x22) if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Header::Proxied(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        // UNSPEC or Unix sockets: no client address to take.
        (1, 0x00 | 0x31 | 0x32) => Header::Local,
        (1, _) => return Err(Malformed("v2 address block")),
        _ => return Err(Malformed("v2 command")),
    };
    Ok(Some((header, 16 + len)))
}

/// Reads a PROXY header off `stream` within `timeout`, consuming exactly its bytes.
pub async fn read_header(stream: &mut TcpStream, timeout: Duration) -> io::Result<Header> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut peeked = vec![0u8; V2_MAX];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut peeked))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "PROXY header timed out"))??;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before a PROXY header",
            ));
        }
        match parse(&peeked[..n]) {
            Err(Malformed(why)) => return Err(io::Error::new(io::ErrorKind::InvalidData, why)),
            Ok(Some((header, len))) => {
                let mut consumed = vec![0u8; len];
                stream.read_exact(&mut consumed).await?;
                return Ok(header);
            }
            Ok(None) => {
                // Incomplete: wait for more bytes before peeking again.
                tokio::time::timeout_at(deadline, stream.readable())
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "PROXY header timed out"))??;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_headers_name_the_client() {
        let raw = b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\nGET / HTTP/1.1\r\n";
        let (header, len) = parse(raw).unwrap().unwrap();
        assert_eq!(header, Header::Proxied("192.0.2.7:51234".parse().unwrap()));
        assert_eq!(&raw[len..len + 3], b"GET");
        let v6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n";
        assert_eq!(
            parse(v6).unwrap().unwrap().0,
            Header::Proxied("[2001:db8::1]:1".parse().unwrap())
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap().0, Header::Local);
        assert_eq!(parse(b"PROXY TCP4 192.0.2").unwrap(), None, "incomplete");
        assert!(parse(b"PROXY TCP4 nope 10.0.0.1 1 2\r\n").is_err());
        assert!(
            parse(b"PROXY TCP6 192.0.2.7 10.0.0.1 1 2\r\n").is_err(),
            "family mismatch"
        );
        assert!(parse(b"GET / HTTP/1.1\r\n").is_err());
        assert!(parse(&[b'P'; 200]).is_err());
    }

    #[test]
    fn v2_headers_name_the_client() {
        let mut raw = V2_SIGNATURE.to_vec();
        raw.extend_from_slice(&[
            0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x01, 0xbb,
        ]);
        raw.extend_from_slice(b"GET");
        let (header, len) = parse(&raw).unwrap().unwrap();
        assert_eq!(header, Header::Proxied("198.51.100.9:8080".parse().unwrap()));
        assert_eq!(&raw[len..], b"GET");
        assert_eq!(parse(&raw[..20]).unwrap(), None, "incomplete");
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local).unwrap().unwrap(), (Header::Local, 16));
        let mut bad = V2_SIGNATURE.to_vec();
        bad.extend_from_slice(&[0x31, 0x11, 0, 0]);
        assert!(parse(&bad).is_err(), "version 3");
    }
}
