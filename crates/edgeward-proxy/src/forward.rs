//! What crosses the proxy in each direction: the forwarded request and the
//! origin response's headers.
//!
//! Owns hop-by-hop stripping (RFC 9110 §7.6.1, including fields named in
//! `Connection`) and the forwarding fields the edge adds (`X-Forwarded-For`,
//! `X-Forwarded-Proto`, `Via`, the request id). Does not send anything.

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};
use edgeward_errors::{BadRequest, EdgeError, REQUEST_ID_HEADER};
use edgeward_http::{has_underscore, list_items, BodyFraming, RequestHead};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// Fields that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "trailer",
    "proxy-authorization",
];

/// The `Via` entry this edge adds.
pub const VIA: &str = "1.1 edgeward";

/// End-to-end fields a client may not demote to hop-by-hop by naming them in
/// `Connection`: dropping them would change what the origin serves or who it thinks asked.
const NOT_DEMOTABLE: [&str; 7] = [
    "host",
    "content-length",
    "content-type",
    "x-forwarded-for",
    "x-forwarded-proto",
    "via",
    "x-request-id",
];

/// Whether `name` (lowercase) is hop-by-hop, by the fixed list or by `Connection`.
fn is_hop_by_hop(name: &[u8], connection_tokens: &[&[u8]]) -> bool {
    HOP_BY_HOP.iter().any(|h| h.as_bytes().eq_ignore_ascii_case(name))
        || (connection_tokens.iter().any(|t| t.eq_ignore_ascii_case(name))
            && !NOT_DEMOTABLE
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name)))
}

/// What the edge adds to a forwarded request.
pub struct Forwarding<'a> {
    /// The client's address (appended to `X-Forwarded-For`, or the configured header).
    pub client_ip: IpAddr,
    /// The address the request came from (a trusted proxy's, when `via_trusted_proxy`).
    pub peer_ip: IpAddr,
    /// Whether the peer is a trusted proxy: its `X-Forwarded-For` is kept and extended.
    pub via_trusted_proxy: bool,
    /// A header set to the client's address (`[real_ip] send_header`, lower case).
    pub client_ip_header: Option<&'a str>,
    /// The request id (`X-Request-Id`).
    pub request_id: &'a str,
    /// The Host to send when the client sent none (HTTP/1.0 on a default zone).
    pub fallback_host: Option<&'a str>,
    /// Whether the client came over TLS (`X-Forwarded-Proto: https`).
    pub tls: bool,
    /// Drop header fields whose names contain `_` (the zone's default).
    pub drop_underscores: bool,
}

/// `X-Forwarded-For`, parsed once at compile time (a `&str` key is re-parsed on every use).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`: the host the client asked for, always the edge's own statement.
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Request-Id`, the lowercase form of `REQUEST_ID_HEADER`.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `Keep-Alive` and `Proxy-Connection` are not among `http`'s standard names.
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Builds the request sent to the origin from the client's head.
pub fn upstream_request<B>(
    head: &RequestHead,
    fwd: &Forwarding<'_>,
    body: B,
) -> Result<http::Request<B>, EdgeError> {
    // Collecting an empty iterator does not allocate: only a request that names
    // fields in `Connection` pays for this Vec.
    let connection_tokens: Vec<&[u8]> = head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
        .flat_map(|(_, v)| list_items(v))
        .collect();
    let mut headers = HeaderMap::with_capacity(head.headers().count() + 4);
    let mut forwarded_for: Option<BytesMut> = None;
    let mut via: Option<BytesMut> = None;
    for (name, value) in head.headers_shared() {
        if is_hop_by_hop(name, &connection_tokens) || name.eq_ignore_ascii_case(REQUEST_ID_HEADER.as_bytes())
        {
            continue;
        }
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            // Kept and extended only when a trusted proxy sent it; otherwise replaced.
            if fwd.via_trusted_proxy {
                append_list(&mut forwarded_for, &value);
            }
            continue;
        }
        if fwd
            .client_ip_header
            .is_some_and(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        {
            continue;
        }
        if name.eq_ignore_ascii_case(b"via") {
            append_list(&mut via, &value);
            continue;
        }
        // Content-Length is re-sent once, normalised (`5, 5` or a repeated field become `5`,
        // RFC 9110 §8.6), so the origin frames the body exactly as the edge did. The
        // forwarding fields the edge sets are never taken from the client.
        if name.eq_ignore_ascii_case(b"x-forwarded-proto")
            || name.eq_ignore_ascii_case(b"x-forwarded-host")
            || name.eq_ignore_ascii_case(b"content-length")
        {
            continue;
        }
        // `Content_Length` and `Content-Length` are one variable to CGI/WSGI origins: a name
        // with `_` could smuggle what the edge checked under the other spelling (nginx drops
        // them too, unless `underscores_in_headers`).
        if fwd.drop_underscores && has_underscore(name) {
            continue;
        }
        let name =
            HeaderName::from_bytes(name).map_err(|_| EdgeError::BadRequest(BadRequest::HeaderSyntax))?;
        let value = HeaderValue::from_maybe_shared(value)
            .map_err(|_| EdgeError::BadRequest(BadRequest::HeaderValue))?;
        headers.append(name, value);
    }
    match head.framing {
        BodyFraming::Length(n) => {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        BodyFraming::None if head.header("content-length").is_some() => {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(0u64));
        }
        _ => {}
    }
    let forwarded_for = forwarded_for.get_or_insert_with(|| BytesMut::with_capacity(IP_TEXT_MAX));
    if !forwarded_for.is_empty() {
        forwarded_for.put_slice(b", ");
    }
    // The hop that reached the edge: the client itself, or the trusted proxy in front of it.
    write_ip(
        forwarded_for,
        if fwd.via_trusted_proxy {
            fwd.peer_ip
        } else {
            fwd.client_ip
        },
    );
    insert(&mut headers, X_FORWARDED_FOR, Some(std::mem::take(forwarded_for)));
    if let Some(name) = fwd
        .client_ip_header
        .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
    {
        let mut ip = String::with_capacity(IP_TEXT_MAX);
        write_ip(&mut ip, fwd.client_ip);
        if let Ok(value) = HeaderValue::from_str(&ip) {
            headers.insert(name, value);
        }
    }
    match via {
        Some(mut via) => {
            append_list_buf(&mut via, VIA.as_bytes());
            insert(&mut headers, http::header::VIA, Some(via));
        }
        // The common case: nothing to join, so no buffer either.
        None => {
            headers.insert(http::header::VIA, HeaderValue::from_static(VIA));
        }
    }
    let proto = if fwd.tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Ok(host) = HeaderValue::from_str(head.host()) {
        if !host.is_empty() {
            headers.insert(X_FORWARDED_HOST, host);
        }
    }
    if let Ok(id) = HeaderValue::from_str(fwd.request_id) {
        headers.insert(X_REQUEST_ID, id);
    }
    if !headers.contains_key(http::header::HOST) {
        // An HTTP/2 request names its host in `:authority`; an HTTP/1.0 client may name
        // none at all (then the zone's first exact host): the origin needs one either way.
        let host = Some(head.host())
            .filter(|h| !h.is_empty())
            .or(fwd.fallback_host)
            .ok_or(EdgeError::BadRequest(BadRequest::MissingHost))?;
        let host = HeaderValue::from_str(host).map_err(|_| EdgeError::BadRequest(BadRequest::MissingHost))?;
        headers.insert(http::header::HOST, host);
    }
    // Setting the parts directly rather than through `http::request::Builder`
    // spares moving the whole request through each builder step, and the target
    // shares the head's buffer instead of being copied.
    let method = http::Method::from_bytes(head.method().as_bytes())
        .map_err(|_| EdgeError::BadRequest(BadRequest::InvalidTarget))?;
    let uri = http::Uri::from_maybe_shared(head.path_and_query_shared())
        .map_err(|_| EdgeError::BadRequest(BadRequest::InvalidTarget))?;
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req)
}

/// Longest textual IP address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const IP_TEXT_MAX: usize = 45;

/// Appends `ip` as text. IPv4, the common case, is written digit by digit:
/// `Display` for addresses goes through the formatting machinery and padding,
/// which cost more than the rest of the forwarded head.
pub(crate) fn write_ip<W: std::fmt::Write>(out: &mut W, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut text = [0u8; 15];
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    text[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    text[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                text[len] = b'0' + octet % 10;
                len += 1;
            }
            // Only ASCII digits and dots were written.
            let _ = out.write_str(std::str::from_utf8(&text[..len]).unwrap_or_default());
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

fn append_list(list: &mut Option<BytesMut>, item: &[u8]) {
    append_list_buf(list.get_or_insert_with(BytesMut::new), item);
}

fn append_list_buf(buf: &mut BytesMut, item: &[u8]) {
    if !buf.is_empty() {
        buf.put_slice(b", ");
    }
    buf.put_slice(item);
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: Option<BytesMut>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_maybe_shared(v.freeze()).ok()) {
        headers.insert(name, v);
    }
}

/// Whether an origin response field is hop-by-hop by the fixed list.
/// (`Proxy-Authorization` is a request field: a response carrying it keeps it.)
fn is_fixed_response_hop_by_hop(name: &HeaderName) -> bool {
    // Comparing `HeaderName`s of standard fields is an enum comparison; nothing is re-parsed.
    *name == http::header::CONNECTION
        || *name == http::header::TE
        || *name == http::header::TRANSFER_ENCODING
        || *name == http::header::UPGRADE
        || *name == http::header::TRAILER
        || *name == KEEP_ALIVE
        || *name == PROXY_CONNECTION
}

/// The first field (other than a fixed hop-by-hop one) that the response's
/// `Connection` names, if any is present.
fn named_by_connection(headers: &HeaderMap) -> Option<HeaderName> {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| list_items(v.as_bytes()))
        .find_map(|token| {
            headers
                .keys()
                .find(|n| {
                    !is_fixed_response_hop_by_hop(n) && n.as_str().as_bytes().eq_ignore_ascii_case(token)
                })
                .cloned()
        })
}

/// Removes hop-by-hop fields from an origin response's headers.
///
/// Scans the (few) fields present instead of a lookup per hop-by-hop name,
/// each of which parsed and hashed the name. Fields named in `Connection` go
/// first, while `Connection` is still there to name them; each round removes
/// one name with all its values, so no Vec of names is needed.
pub fn strip_response_hop_by_hop(headers: &mut HeaderMap) {
    while let Some(name) = named_by_connection(headers) {
        headers.remove(&name);
    }
    while let Some(name) = headers.keys().find(|n| is_fixed_response_hop_by_hop(n)).cloned() {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use edgeward_http::{parse_head, Limits};

    fn head(bytes: &[u8]) -> RequestHead {
        parse_head(&mut BytesMut::from(bytes), &Limits::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn forwarded_request_strips_hop_by_hop_and_adds_forwarding_fields() {
        let h = head(
            b"GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Secret\r\n\
              X-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\n\
              Via: 1.0 other\r\nX-Request-Id: spoofed\r\nAccept: */*\r\n\r\n",
        );
        let fwd = Forwarding {
            client_ip: "192.0.2.7".parse().unwrap(),
            peer_ip: "192.0.2.7".parse().unwrap(),
            via_trusted_proxy: true,
            client_ip_header: None,
            request_id: "abc123",
            fallback_host: None,
            tls: false,
            drop_underscores: true,
        };
        let req = upstream_request(&h, &fwd, ()).unwrap();
        assert_eq!(req.uri(), "/p?q=1");
        let hs = req.headers();
        assert_eq!(hs["host"], "example.com");
        assert_eq!(hs["accept"], "*/*");
        assert_eq!(hs["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(hs["via"], "1.0 other, 1.1 edgeward");
        assert_eq!(hs["x-forwarded-proto"], "http");
        assert_eq!(hs["x-request-id"], "abc123");
        for gone in ["connection", "x-secret", "keep-alive", "te"] {
            assert!(hs.get(gone).is_none(), "{gone} should be stripped");
        }
    }

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.99.100",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut text = String::new();
            write_ip(&mut text, ip);
            assert_eq!(text, ip.to_string());
        }
    }

    #[test]
    fn absolute_form_is_forwarded_in_origin_form() {
        let h = head(b"GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n");
        let fwd = Forwarding {
            client_ip: "::1".parse().unwrap(),
            peer_ip: "::1".parse().unwrap(),
            via_trusted_proxy: false,
            client_ip_header: None,
            request_id: "id",
            fallback_host: None,
            tls: true,
            drop_underscores: true,
        };
        let req = upstream_request(&h, &fwd, ()).unwrap();
        assert_eq!(req.uri(), "/a?b");
        assert_eq!(req.headers()["x-forwarded-proto"], "https");
    }

    #[test]
    fn response_hop_by_hop_fields_are_removed() {
        let mut hs = HeaderMap::new();
        hs.insert("connection", HeaderValue::from_static("close, x-internal"));
        hs.insert("x-internal", HeaderValue::from_static("1"));
        hs.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        hs.insert("www-authenticate", HeaderValue::from_static("Basic realm=\"x\""));
        strip_response_hop_by_hop(&mut hs);
        assert_eq!(hs.len(), 1);
        assert!(hs.contains_key("www-authenticate"));
    }

    #[test]
    fn response_fields_named_twice_or_in_several_connection_fields_are_removed() {
        let mut hs = HeaderMap::new();
        hs.append("connection", HeaderValue::from_static("X-A"));
        hs.append("connection", HeaderValue::from_static("close, x-b"));
        hs.append("x-a", HeaderValue::from_static("1"));
        hs.append("x-a", HeaderValue::from_static("2"));
        hs.insert("x-b", HeaderValue::from_static("3"));
        hs.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        hs.insert("proxy-authorization", HeaderValue::from_static("kept"));
        strip_response_hop_by_hop(&mut hs);
        assert_eq!(hs.len(), 1);
        assert!(hs.contains_key("proxy-authorization"));
    }
}
