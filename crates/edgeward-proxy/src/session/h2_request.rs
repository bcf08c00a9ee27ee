//! An HTTP/2 stream's HEADERS as the pipeline reads any request: `:authority` as Host,
//! the target, the body framing its Content-Length declares, cookies joined for HTTP/1.1
//! origins (RFC 9113 §8.2.3), and the RFC 9113 §8 checks the `h2` crate leaves to us
//! (field-value whitespace, Host against `:authority`, `*` only for OPTIONS).
//!
//! Owns that conversion; the stream's I/O is `h2`'s.

use edgeward_errors::{BadRequest, EdgeError};
use edgeward_http::{BodyFraming, RequestHead};
use http::header::{self, HeaderValue};

/// Why a stream's request head was not accepted.
pub(super) enum Malformed {
    /// Malformed by RFC 9113 §8.1.1: reset the stream.
    Reset(&'static str),
    /// Well-formed HTTP/2 that the edge refuses with a catalog error.
    Refuse(EdgeError),
}

/// The request head of a stream, as the pipeline reads any request.
pub(super) fn request_head(parts: &http::request::Parts, ended: bool) -> Result<RequestHead, Malformed> {
    for (name, value) in &parts.headers {
        // RFC 9113 §8.2.1: no leading or trailing whitespace in a field value (NUL, CR and LF
        // never reach here: the field value type refuses them).
        let v = value.as_bytes();
        if matches!(v.first(), Some(b' ' | b'\t')) || matches!(v.last(), Some(b' ' | b'\t')) {
            return Err(Malformed::Reset(
                "field value with leading or trailing whitespace",
            ));
        }
        if name == header::HOST
            && parts
                .uri
                .authority()
                .is_some_and(|a| !a.as_str().eq_ignore_ascii_case(value.to_str().unwrap_or("")))
        {
            // RFC 9113 §8.3.1: a Host that names another entity than `:authority`.
            return Err(Malformed::Refuse(EdgeError::BadRequest(BadRequest::HostMismatch)));
        }
    }
    let host = match (parts.uri.authority(), parts.headers.get(header::HOST)) {
        (Some(authority), _) => authority.as_str(),
        (None, Some(host)) => host
            .to_str()
            .map_err(|_| Malformed::Refuse(EdgeError::BadRequest(BadRequest::InvalidHost)))?,
        (None, None) => return Err(Malformed::Refuse(EdgeError::BadRequest(BadRequest::MissingHost))),
    };
    let target = match parts.uri.path_and_query() {
        Some(pq) => pq.as_str(),
        // CONNECT names only an authority.
        None => host,
    };
    // RFC 9113 §8.3.1 / RFC 9112 §3.2.4: `*` is a target for OPTIONS only.
    if target == "*" && parts.method != http::Method::OPTIONS {
        return Err(Malformed::Refuse(EdgeError::BadRequest(
            BadRequest::InvalidTarget,
        )));
    }
    let framing = match framing(parts)? {
        // HEADERS with END_STREAM: no body, whatever a Content-Length says.
        _ if ended => BodyFraming::None,
        declared => declared,
    };
    // RFC 9113 §8.2.3: several `cookie` fields are one list for an HTTP/1.1 origin.
    let mut cookies = parts.headers.get_all(header::COOKIE).iter();
    let joined = match (cookies.next(), cookies.next()) {
        (Some(_), Some(_)) => {
            let values: Vec<&[u8]> = parts
                .headers
                .get_all(header::COOKIE)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            Some(values.join(&b"; "[..]))
        }
        _ => None,
    };
    let fields = parts
        .headers
        .iter()
        .filter(|(n, _)| joined.is_none() || *n != header::COOKIE)
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
        .chain(joined.as_deref().map(|c| (&b"cookie"[..], c)));
    Ok(RequestHead::assemble(
        parts.method.as_str(),
        target,
        host,
        fields,
        framing,
    ))
}

/// The body framing a stream declares: its Content-Length, or a length known only at its end.
pub(super) fn framing(parts: &http::request::Parts) -> Result<BodyFraming, Malformed> {
    let mut lengths = parts.headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(first) = lengths.next() else {
        return Ok(BodyFraming::Chunked);
    };
    let parse = |v: &HeaderValue| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
    let n = parse(first).ok_or(Malformed::Reset("invalid content-length"))?;
    if lengths.any(|other| parse(other) != Some(n)) {
        return Err(Malformed::Reset("differing content-length values"));
    }
    Ok(if n == 0 {
        BodyFraming::None
    } else {
        BodyFraming::Length(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(req: http::Request<()>) -> http::request::Parts {
        req.into_parts().0
    }

    #[test]
    fn streams_become_heads_with_authority_as_host_and_cookies_joined() {
        let req = http::Request::get("https://example.com/p?q=1")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("accept", "text/html")
            .body(())
            .unwrap();
        let Ok(head) = request_head(&parts(req), false) else {
            panic!("a well-formed request")
        };
        assert_eq!(head.host(), "example.com");
        assert_eq!(head.path_and_query(), "/p?q=1");
        assert_eq!(head.header("cookie"), Some(&b"a=1; b=2"[..]));
        assert_eq!(head.headers().filter(|(n, _)| *n == b"cookie").count(), 1);
        assert_eq!(head.framing, BodyFraming::Chunked);
    }

    #[test]
    fn field_values_with_edge_whitespace_are_malformed() {
        let req = http::Request::get("https://example.com/")
            .header("x-a", HeaderValue::from_static(" padded"))
            .body(())
            .unwrap();
        assert!(matches!(
            request_head(&parts(req), false),
            Err(Malformed::Reset(_))
        ));
    }

    #[test]
    fn a_host_naming_another_authority_is_refused() {
        let req = http::Request::get("https://example.com/")
            .header("host", "other.example")
            .body(())
            .unwrap();
        assert!(matches!(
            request_head(&parts(req), false),
            Err(Malformed::Refuse(EdgeError::BadRequest(BadRequest::HostMismatch)))
        ));
    }

    #[test]
    fn content_length_declares_the_framing() {
        let with = |v: &'static str| {
            let req = http::Request::post("https://e.test/")
                .header("content-length", v)
                .body(())
                .unwrap();
            framing(&parts(req))
        };
        assert!(matches!(with("5"), Ok(BodyFraming::Length(5))));
        assert!(matches!(with("0"), Ok(BodyFraming::None)));
        assert!(matches!(with("x"), Err(Malformed::Reset(_))));
    }
}
