//! Unit tests of request-head parsing: one per RFC 9112 rule the parser enforces.

use super::*;

fn parse(bytes: &[u8]) -> Result<Option<RequestHead>, EdgeError> {
    parse_head(&mut BytesMut::from(bytes), &Limits::default())
}

fn fault(bytes: &[u8]) -> EdgeError {
    parse(bytes).expect_err("request should be refused")
}

fn ok(bytes: &[u8]) -> RequestHead {
    parse(bytes).expect("valid request").expect("complete request")
}

#[test]
fn simple_get_is_parsed() {
    let head = ok(b"GET /a/b?x=1 HTTP/1.1\r\nHost: Example.com:8080\r\nAccept: */*\r\n\r\n");
    assert_eq!(head.method(), "GET");
    assert_eq!(head.target_str(), "/a/b?x=1");
    assert_eq!(head.path(), "/a/b");
    assert_eq!(head.host(), "Example.com:8080");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.framing, BodyFraming::None);
    assert!(head.keep_alive);
    assert_eq!(head.header("ACCEPT"), Some(&b"*/*"[..]));
    assert_eq!(head.headers().count(), 2);
}

#[test]
fn parsing_consumes_only_the_head() {
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n"[..]);
    let head = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
    assert_eq!(head.target_str(), "/");
    assert_eq!(&buf[..], b"GET /2 HTTP/1.1\r\n");
}

#[test]
fn framing_is_decided_by_rfc_9112_section_6_3() {
    let cl = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(cl.framing, BodyFraming::Length(5));
    let same = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(same.framing, BodyFraming::Length(5));
    let te = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(te.framing, BodyFraming::Chunked);
    assert_eq!(
        fault(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::ContentLengthWithTransferEncoding)
    );
    assert_eq!(
        fault(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::ConflictingContentLength)
    );
    assert_eq!(
        fault(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidContentLength)
    );
    assert_eq!(
        fault(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::ChunkedNotFinal)
    );
    assert_eq!(
        fault(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        EdgeError::NotImplemented
    );
}

#[test]
fn http10_with_transfer_encoding_is_faulty_framing() {
    // RFC 9112 §6.1: treat as faulty framing even with a Content-Length; 400 and close.
    for req in [
        &b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        let e = fault(req);
        assert_eq!(e, EdgeError::BadRequest(BadRequest::TransferEncodingInHttp10));
        assert!(e.closes_connection());
    }
}

#[test]
fn transfer_coding_syntax_and_chunked_parameters() {
    let te =
        |v: &str| parse(format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n").as_bytes());
    let invalid = Err(EdgeError::BadRequest(BadRequest::InvalidTransferEncoding));
    // RFC 9112 §7: chunked defines no parameters; their presence is an error.
    assert_eq!(te("chunked;foo=bar").map(|_| ()), invalid);
    assert_eq!(te("chunked ; foo=bar").map(|_| ()), invalid);
    assert_eq!(te("gzip, chunked;q=1").map(|_| ()), invalid);
    assert_eq!(te("chunked;").map(|_| ()), invalid);
    assert_eq!(te("ch@nked").map(|_| ()), invalid);
    assert_eq!(te(",").map(|_| ()), invalid);
    assert_eq!(te("x;p, chunked").map(|_| ()), invalid);
    // Well-formed parameters on a coding we do not implement: 501, as before.
    assert_eq!(te("x;p=v, chunked").map(|_| ()), Err(EdgeError::NotImplemented));
    assert_eq!(
        te("x ; p = \"v w\", chunked").map(|_| ()),
        Err(EdgeError::NotImplemented)
    );
    assert_eq!(te("CHUNKED").unwrap().unwrap().framing, BodyFraming::Chunked);
    assert_eq!(te(" chunked , ").unwrap().unwrap().framing, BodyFraming::Chunked);
}

#[test]
fn content_length_allows_leading_zeros_and_refuses_overflow() {
    let cl = |v: &str| parse(format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n").as_bytes());
    assert_eq!(
        cl("000000000000000000000005").unwrap().unwrap().framing,
        BodyFraming::Length(5)
    );
    assert_eq!(
        cl("18446744073709551615").unwrap().unwrap().framing,
        BodyFraming::Length(u64::MAX)
    );
    assert_eq!(
        cl("18446744073709551616").map(|_| ()),
        Err(EdgeError::BadRequest(BadRequest::InvalidContentLength))
    );
    assert_eq!(cl("5, 005").unwrap().unwrap().framing, BodyFraming::Length(5));
}

#[test]
fn several_different_content_types_are_ambiguous() {
    let two = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
                content-type: application/x-www-form-urlencoded\r\n\r\n";
    assert_eq!(
        fault(two),
        EdgeError::BadRequest(BadRequest::AmbiguousContentType)
    );
    let same =
        ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Type:  text/plain \r\n\r\n");
    assert_eq!(same.header("content-type"), Some(&b"text/plain"[..]));
    assert_eq!(check_content_type([&b"a/b"[..]]), Ok(()));
    assert_eq!(
        check_content_type([&b"a/b"[..], b"a/b; x=1"]),
        Err(EdgeError::BadRequest(BadRequest::AmbiguousContentType))
    );
}

#[test]
fn underscore_names_are_flagged() {
    let head = ok(b"GET / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n");
    assert!(head.has_underscore_names());
    assert_eq!(
        head.framing,
        BodyFraming::None,
        "Content_Length is not Content-Length"
    );
    let names: Vec<bool> = head.headers().map(|(n, _)| has_underscore(n)).collect();
    assert_eq!(names, [false, true]);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: a_b.example\r\nX-A: _\r\n\r\n").has_underscore_names());
    let assembled = RequestHead::assemble(
        "GET",
        "/",
        "a",
        [(&b"x_y"[..], &b"1"[..])].into_iter(),
        BodyFraming::None,
    );
    assert!(assembled.has_underscore_names());
}

#[test]
fn a_field_over_the_zone_limit_is_named() {
    let head = ok(b"GET / HTTP/1.1\r\nHost: a\r\nX-Long-Cookie: 0123456789\r\n\r\n");
    let limits = Limits {
        max_field_bytes: 20,
        ..Limits::default()
    };
    match check_head_limits(&head, &limits) {
        Err(EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge { limit: 20, name })) => {
            assert_eq!(name.as_str(), "X-Long-Cookie")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn host_rules() {
    assert_eq!(
        fault(b"GET / HTTP/1.1\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::MissingHost)
    );
    assert_eq!(
        fault(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::DuplicateHost)
    );
    assert_eq!(
        fault(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidHost)
    );
    assert_eq!(
        fault(b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidHost)
    );
    assert_eq!(
        fault(b"GET http://evil.com/ HTTP/1.1\r\nHost: good.com\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::HostMismatch)
    );
    assert_eq!(
        fault(b"GET http://good.com:8080/ HTTP/1.1\r\nHost: good.com\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::HostMismatch)
    );
    let abs = ok(b"GET http://Good.com/p?q HTTP/1.1\r\nHost: good.com\r\n\r\n");
    assert_eq!(abs.path_and_query(), "/p?q");
    // RFC 9112 §3.2.2: the target's authority wins; default ports compare equal.
    let abs = ok(b"GET http://example.com:80/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((abs.host(), abs.path()), ("example.com:80", "/x"));
    let abs = ok(b"GET https://example.com/x HTTP/1.1\r\nHost: EXAMPLE.com:443\r\n\r\n");
    assert_eq!(abs.host(), "example.com");
    let old = ok(b"GET http://example.com/x HTTP/1.0\r\n\r\n");
    assert_eq!(old.host(), "example.com");
    assert_eq!(
        fault(b"GET http://u@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidTarget)
    );
    assert_eq!(
        ok(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").host(),
        "[::1]:8080"
    );
    assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").host(), "");
}

#[test]
fn request_line_faults() {
    assert_eq!(
        fault(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::RequestLine)
    );
    assert_eq!(
        fault(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::Method)
    );
    assert_eq!(
        fault(b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidTarget)
    );
    assert_eq!(
        fault(b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidTarget)
    );
    assert_eq!(
        fault(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidTarget)
    );
    assert_eq!(
        fault(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
        EdgeError::HttpVersionNotSupported
    );
    assert_eq!(
        fault(b"GET / HTTP/3\r\nHost: a\r\n\r\n"),
        EdgeError::HttpVersionNotSupported
    );
    assert_eq!(
        fault(b"GET / HTTX/1.1\r\nHost: a\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::RequestLine)
    );
    assert!(ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").target_form == TargetForm::Asterisk);
}

#[test]
fn expectations() {
    assert!(
        ok(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expect_continue
    );
    assert_eq!(
        fault(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"),
        EdgeError::ExpectationFailed
    );
    // RFC 9110 §10.1.1: a 100-continue in HTTP/1.0 is ignored.
    assert!(!ok(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
}

#[test]
fn target_length_limit_gives_414() {
    let limits = Limits {
        max_target_bytes: 20,
        ..Limits::default()
    };
    let mut buf = BytesMut::from(&b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n"[..]);
    assert_eq!(
        parse_head(&mut buf, &limits).unwrap_err(),
        EdgeError::UriTooLong { limit: 20 }
    );
}

#[test]
fn body_policy_applies_zone_limits() {
    let head = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    let strict = Limits {
        require_content_length: true,
        ..Limits::default()
    };
    assert_eq!(check_body_policy(&head, &strict), Err(EdgeError::LengthRequired));
    let small = Limits {
        max_body_bytes: 4,
        body_retry_after: Some(30),
        ..Limits::default()
    };
    let head = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(
        check_body_policy(&head, &small),
        Err(EdgeError::PayloadTooLarge {
            limit: 4,
            retry_after: Some(30)
        })
    );
}

#[test]
fn fragments_and_pathless_absolute_queries_are_refused() {
    assert_eq!(
        fault(b"GET /admin# HTTP/1.1\r\nHost: a\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidTarget)
    );
    assert_eq!(
        fault(b"GET http://a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
        EdgeError::BadRequest(BadRequest::InvalidTarget)
    );
    // The zone's body limit is judged after routing, not by the parser.
    let big = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999\r\n\r\n");
    assert_eq!(big.framing, BodyFraming::Length(999_999_999_999));
}
