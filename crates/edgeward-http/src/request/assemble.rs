//! Request heads assembled from parts that did not arrive as HTTP/1 bytes (an HTTP/2
//! HEADERS frame, already decoded and checked by the HTTP/2 layer).
//!
//! Owns laying the parts out in one shared buffer so that every `RequestHead` accessor
//! works unchanged. Does not validate HTTP/2 semantics (pseudo-headers, connection-specific
//! fields): the caller has done that before assembling.

use std::ops::Range;

use bytes::BytesMut;

use super::{BodyFraming, RequestHead, TargetForm, Version};

impl RequestHead {
    /// A head from decoded parts: `host` is the authority the request names (`:authority`,
    /// else `Host`), `fields` the header fields in order. The head reads as HTTP/1.1
    /// semantically (persistent, no `100-continue` handshake of its own).
    pub fn assemble<'f>(
        method: &str,
        target: &str,
        host: &str,
        fields: impl Iterator<Item = (&'f [u8], &'f [u8])>,
        framing: BodyFraming,
    ) -> RequestHead {
        let mut raw = BytesMut::with_capacity(method.len() + target.len() + host.len() + 256);
        let push = |raw: &mut BytesMut, bytes: &[u8]| -> Range<usize> {
            let start = raw.len();
            raw.extend_from_slice(bytes);
            start..raw.len()
        };
        let method_range = push(&mut raw, method.as_bytes());
        raw.extend_from_slice(b" ");
        let target_range = push(&mut raw, target.as_bytes());
        raw.extend_from_slice(b" ");
        let host_range = push(&mut raw, host.as_bytes());
        raw.extend_from_slice(b"\r\n");
        let mut ranges = Vec::new();
        let mut underscore_names = false;
        for (name, value) in fields {
            underscore_names |= super::has_underscore(name);
            let n = push(&mut raw, name);
            raw.extend_from_slice(b": ");
            let v = push(&mut raw, value);
            raw.extend_from_slice(b"\r\n");
            ranges.push((n, v));
        }
        let target_form = match target {
            "*" => TargetForm::Asterisk,
            t if t.starts_with('/') => TargetForm::Origin,
            _ => TargetForm::Authority,
        };
        RequestHead {
            raw: raw.freeze(),
            method: method_range,
            target: target_range,
            host: host_range,
            fields: ranges,
            version: Version::Http11,
            target_form,
            framing,
            keep_alive: true,
            expect_continue: false,
            underscore_names,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembled_heads_read_like_parsed_ones() {
        let fields: [(&[u8], &[u8]); 2] = [(b"accept", b"text/html"), (b"cookie", b"a=1; b=2")];
        let head = RequestHead::assemble(
            "GET",
            "/p?q=1",
            "example.com",
            fields.iter().copied(),
            BodyFraming::None,
        );
        assert_eq!(head.method(), "GET");
        assert_eq!(head.path(), "/p");
        assert_eq!(head.path_and_query(), "/p?q=1");
        assert_eq!(head.host(), "example.com");
        assert_eq!(head.header("Accept"), Some(&b"text/html"[..]));
        assert_eq!(head.header("cookie"), Some(&b"a=1; b=2"[..]));
        assert_eq!(head.headers().count(), 2);
        assert_eq!(head.target_form, TargetForm::Origin);
        assert_eq!(&head.path_and_query_shared()[..], b"/p?q=1");
    }
}
