//! The catalog's contract, checked over one example of every variant and sub-fault:
//! statuses, unique codes, sources, and the headers each status must carry when rendered.

use std::collections::HashSet;

use super::*;
use crate::{reason_phrase, render, RenderContext, Rendered};

/// The code table documented in `CODES.md` (and copied into the README).
const CODES_MD: &str = include_str!("../../CODES.md");

fn basic(realm: &str) -> AuthChallenge {
    AuthChallenge::Basic {
        realm: realm.to_owned(),
    }
}

fn rate_limited() -> RateLimited {
    RateLimited {
        rule_id: "example-limit".to_owned(),
        retry_after: 30,
        limit: 100,
        window: 60,
    }
}

/// A dense index per variant and sub-fault; exhaustive, so a new variant fails to
/// compile here until it is given an index (and then an example, or
/// `examples_cover_every_variant` fails).
fn ordinal(e: &EdgeError) -> usize {
    const BR: usize = BadRequest::ALL.len();
    const FR: usize = ForbiddenReason::ALL.len();
    const OF: usize = OriginFault::ALL.len();
    let base = BR + FR + OF;
    let same = |a: &BadRequest, b: &BadRequest| std::mem::discriminant(a) == std::mem::discriminant(b);
    match e {
        EdgeError::BadRequest(b) => BadRequest::ALL.iter().position(|x| same(x, b)).unwrap(),
        EdgeError::Forbidden { reason, .. } => {
            BR + ForbiddenReason::ALL.iter().position(|x| x == reason).unwrap()
        }
        EdgeError::BadGateway(f) => BR + FR + OriginFault::ALL.iter().position(|x| x == f).unwrap(),
        EdgeError::Unauthorized { .. } => base,
        EdgeError::PaymentRequired { .. } => base + 1,
        EdgeError::NotFound => base + 2,
        EdgeError::MethodNotAllowed { .. } => base + 3,
        EdgeError::NotAcceptable { .. } => base + 4,
        EdgeError::ProxyAuthenticationRequired { .. } => base + 5,
        EdgeError::RequestTimeout(TimeoutPhase::Header) => base + 6,
        EdgeError::RequestTimeout(TimeoutPhase::Body) => base + 7,
        EdgeError::DnsResolution { .. } => base + 8,
        EdgeError::Gone => base + 9,
        EdgeError::LengthRequired => base + 10,
        EdgeError::PreconditionFailed => base + 11,
        EdgeError::PayloadTooLarge { .. } => base + 12,
        EdgeError::UriTooLong { .. } => base + 13,
        EdgeError::UnsupportedMediaType(MediaHint::ContentType(_)) => base + 14,
        EdgeError::UnsupportedMediaType(MediaHint::ContentEncoding(_)) => base + 15,
        EdgeError::ExpectationFailed => base + 16,
        EdgeError::UnknownHost { .. } if e.code() == 1003 => base + 17,
        EdgeError::UnknownHost { .. } => base + 18,
        EdgeError::TooManyRequests(_) => base + 19,
        EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(_)) => base + 20,
        EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge { .. }) => base + 21,
        EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(_)) => base + 22,
        EdgeError::UnavailableForLegalReasons { .. } => base + 23,
        EdgeError::Internal => base + 24,
        EdgeError::NotImplemented => base + 25,
        EdgeError::GatewayTimeout => base + 26,
        EdgeError::HttpVersionNotSupported => base + 27,
        EdgeError::RangeNotSatisfiable { .. } => base + 28,
        EdgeError::UpgradeRefused { .. } => base + 29,
        EdgeError::DecodedBodyTooLarge { .. } => base + 30,
    }
}

/// The status each example must have.
fn expected_status(e: &EdgeError) -> u16 {
    match e {
        EdgeError::BadRequest(_) => 400,
        EdgeError::Unauthorized { .. } => 401,
        EdgeError::PaymentRequired { .. } => 402,
        EdgeError::Forbidden { .. } | EdgeError::UpgradeRefused { .. } => 403,
        EdgeError::NotFound => 404,
        EdgeError::MethodNotAllowed { .. } => 405,
        EdgeError::NotAcceptable { .. } => 406,
        EdgeError::ProxyAuthenticationRequired { .. } => 407,
        EdgeError::RequestTimeout(_) => 408,
        EdgeError::DnsResolution { .. } => 409,
        EdgeError::Gone => 410,
        EdgeError::LengthRequired => 411,
        EdgeError::PreconditionFailed => 412,
        EdgeError::PayloadTooLarge { .. } | EdgeError::DecodedBodyTooLarge { .. } => 413,
        EdgeError::UriTooLong { .. } => 414,
        EdgeError::UnsupportedMediaType(_) => 415,
        EdgeError::RangeNotSatisfiable { .. } => 416,
        EdgeError::ExpectationFailed => 417,
        EdgeError::UnknownHost { .. } => 421,
        EdgeError::TooManyRequests(_) => 429,
        EdgeError::HeaderFieldsTooLarge(_) => 431,
        EdgeError::UnavailableForLegalReasons { .. } => 451,
        EdgeError::Internal => 500,
        EdgeError::NotImplemented => 501,
        EdgeError::BadGateway(OriginFault::Refused | OriginFault::Reset | OriginFault::InvalidResponse)
        | EdgeError::BadGateway(OriginFault::TlsHandshake | OriginFault::InvalidCertificate) => 502,
        EdgeError::BadGateway(OriginFault::NoHealthyOrigin | OriginFault::ConnectionLimit) => 503,
        EdgeError::BadGateway(OriginFault::ConnectTimeout | OriginFault::ResponseTimeout) => 504,
        EdgeError::GatewayTimeout => 504,
        EdgeError::HttpVersionNotSupported => 505,
    }
}

/// The exact status-specific headers each example must render with.
fn expected_required(e: &EdgeError) -> Vec<(&'static str, &'static str)> {
    match e.status() {
        401 => vec![("WWW-Authenticate", r#"Basic realm="example", charset="UTF-8""#)],
        402 => vec![("Crawler-Price", "USD 0.01")],
        405 => vec![("Allow", "GET, HEAD")],
        407 => vec![("Proxy-Authenticate", r#"Basic realm="proxy", charset="UTF-8""#)],
        413 if e.code() == 1603 => vec![("Retry-After", "120")],
        415 if e.code() == 1305 => vec![("Accept-Post", "application/json, text/csv")],
        415 => vec![("Accept-Encoding", "gzip, br")],
        416 => vec![("Content-Range", "bytes */1000")],
        429 => vec![
            ("Retry-After", "30"),
            ("RateLimit-Policy", r#""example-limit";q=100;w=60"#),
            ("RateLimit", r#""example-limit";r=0;t=30"#),
        ],
        451 => vec![(
            "Link",
            r#"<https://authority.example/orders/17>; rel="blocked-by""#,
        )],
        _ => vec![],
    }
}

fn render_with(e: &EdgeError, accept: &str, head: bool) -> Rendered {
    let ctx = RenderContext {
        accept: Some(accept.as_bytes()),
        head,
        client_ip: Some("198.51.100.9".parse().unwrap()),
        host: Some("shop.example.com"),
        ..RenderContext::new("7d3f9a0c1b2e")
    };
    render(e, &ctx)
}

#[test]
fn examples_cover_every_variant() {
    let all = examples();
    let seen: HashSet<usize> = all.iter().map(ordinal).collect();
    assert_eq!(seen.len(), all.len(), "duplicate examples");
    let max = all.iter().map(ordinal).max().unwrap();
    assert_eq!(seen.len(), max + 1, "an ordinal has no example");
}

#[test]
fn statuses_match_the_spec() {
    for e in examples() {
        assert_eq!(e.status(), expected_status(&e), "{e:?}");
        assert!(!reason_phrase(e.status()).is_empty(), "{e:?}");
    }
}

/// The rows of the table in `CODES.md`: (code, status, title, category).
fn documented_codes() -> Vec<(u16, u16, String, String)> {
    CODES_MD
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.parse().ok()?;
            let status = cells.get(2)?.parse().ok()?;
            Some((code, status, cells.get(3)?.to_string(), cells.get(4)?.to_string()))
        })
        .collect()
}

#[test]
fn codes_are_unique_and_documented() {
    let mut codes = HashSet::new();
    let table = documented_codes();
    for e in examples() {
        assert!(codes.insert(e.code()), "duplicate code {} for {e:?}", e.code());
        let row = (
            e.code(),
            e.status(),
            e.title().to_owned(),
            format!("`{}`", e.category().as_str()),
        );
        assert!(table.contains(&row), "CODES.md lacks the row {row:?}");
    }
    assert_eq!(
        table.len(),
        codes.len(),
        "CODES.md lists codes the catalog does not use"
    );
    for (code, ..) in &table {
        let own = (1300..1800).contains(code);
        let cloudflare = matches!(
            code,
            1001 | 1003 | 1004 | 1006 | 1009 | 1010 | 1012 | 1015 | 1020 | 1200
        );
        assert!(own || cloudflare, "code {code} is in a range Cloudflare uses");
    }
}

#[test]
fn examples_can_be_looked_up_by_code_and_status() {
    for e in examples() {
        assert_eq!(EdgeError::example(e.code()).as_ref(), Some(&e));
        let by_status = EdgeError::example_for_status(e.status()).expect("an example");
        assert_eq!(by_status.status(), e.status());
        assert!(by_status.code() <= e.code());
    }
    assert_eq!(EdgeError::example(1999), None);
    assert_eq!(EdgeError::example_for_status(200), None);
    assert_eq!(EdgeError::example_for_status(429).map(|e| e.code()), Some(1015));
}

#[test]
fn fixed_codes_from_the_spec_and_cloudflare() {
    let code_of = |e: EdgeError| e.code();
    let dns = EdgeError::DnsResolution {
        origin_host: "o".into(),
    };
    assert_eq!(
        (dns.status(), dns.code(), dns.title()),
        (409, 1001, "DNS resolution error")
    );
    assert_eq!(code_of(EdgeError::UnknownHost { host: "h".into() }), 1004);
    for ip in [
        "192.0.2.1",
        "192.0.2.1:8080",
        "[2001:db8::1]",
        "[2001:db8::1]:443",
        "2001:db8::1",
    ] {
        assert_eq!(code_of(EdgeError::UnknownHost { host: ip.into() }), 1003, "{ip}");
    }
    assert_eq!(code_of(EdgeError::TooManyRequests(rate_limited())), 1015);
    let forbidden = |reason| EdgeError::Forbidden {
        reason,
        rule_id: "r".into(),
    };
    assert_eq!(code_of(forbidden(ForbiddenReason::FirewallRule)), 1020);
    assert_eq!(code_of(forbidden(ForbiddenReason::IpRule)), 1006);
    assert_eq!(code_of(forbidden(ForbiddenReason::CountryRule)), 1009);
    assert_eq!(code_of(forbidden(ForbiddenReason::BrowserIntegrity)), 1010);
    assert_eq!(code_of(forbidden(ForbiddenReason::PathPermission)), 1012);
    assert_eq!(code_of(EdgeError::BadGateway(OriginFault::ConnectionLimit)), 1200);
}

#[test]
fn advice_fits_the_error() {
    for e in examples() {
        // An error only the owner can fix is never blamed on the client's request.
        if e.owner_action_required() {
            assert!(
                !matches!(e.category(), ErrorCategory::Request | ErrorCategory::AccessDenied),
                "{e:?}"
            );
        }
        if e.retry_after().is_some() {
            assert!(e.retryable(), "{e:?}");
        }
        assert_eq!(
            e.mitigation().is_some(),
            matches!(e.status(), 403 | 429) && e.source() != ErrorSource::Edge,
            "{e:?}"
        );
    }
    let permanent = EdgeError::PayloadTooLarge {
        limit: 1,
        retry_after: None,
    };
    assert!(!permanent.retryable());
    assert!(EdgeError::BadGateway(OriginFault::ResponseTimeout).retryable());
    assert!(!EdgeError::BadGateway(OriginFault::InvalidCertificate).retryable());
    assert!(!EdgeError::BadRequest(BadRequest::BareLf).retryable());
    let challenge = EdgeError::Forbidden {
        reason: ForbiddenReason::ChallengeFailed,
        rule_id: "c".into(),
    };
    assert_eq!(challenge.mitigation(), Some("challenge"));
    assert_eq!(
        EdgeError::TooManyRequests(rate_limited()).what_you_should_do(),
        "Wait 30 seconds, then retry; back off further if it happens again."
    );
}

#[test]
fn protocol_errors_and_only_they_close() {
    for e in examples() {
        let protocol = matches!(e.status(), 400 | 408 | 411 | 413 | 414 | 417 | 431 | 501 | 505);
        assert_eq!(e.source() == ErrorSource::Protocol, protocol, "{e:?}");
        assert_eq!(e.closes_connection(), protocol, "{e:?}");
        let origin = matches!(e.status(), 409 | 502 | 503 | 504);
        assert_eq!(e.source() == ErrorSource::Origin, origin, "{e:?}");
    }
}

#[test]
fn titles_and_explanations_are_distinct_and_present() {
    let mut titles = HashSet::new();
    for e in examples() {
        if !matches!(e, EdgeError::Unauthorized { .. }) {
            assert!(titles.insert(e.title()), "duplicate title {}", e.title());
        }
        let x = e.explanation();
        assert!(x.ends_with('.'), "{e:?}: {x}");
        assert!(x.len() > 30 && x.len() < 400, "{e:?}: {x}");
    }
}

#[test]
fn explanations_name_the_exact_fault() {
    assert_eq!(
        EdgeError::BadRequest(BadRequest::BareLf).explanation(),
        "A line in the request ended with a bare LF; HTTP/1.1 requires CRLF (RFC 9112 §2.2)."
    );
    assert_eq!(
        EdgeError::BadRequest(BadRequest::ObsFold).title(),
        "Bad request: obsolete line folding"
    );
    let field = |line: &[u8]| {
        EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge {
            limit: 8192,
            name: FieldName::from_line(line),
        })
        .explanation()
    };
    let x = field(b"Cookie: a=1");
    assert!(x.contains("field \"Cookie\" is larger than 8192 bytes"), "{x}");
    let x = field(&[b'X'; 100]);
    assert!(x.contains(&format!("\"{}…\"", "X".repeat(FieldName::MAX))), "{x}");
    let x = field(b"\x01bad");
    assert!(
        x.starts_with("A request header field is larger than 8192 bytes"),
        "{x}"
    );
    let x = field(b"X-A b: c");
    assert!(x.contains("\"X-A…\""), "{x}");
    let x = EdgeError::BadRequest(BadRequest::MalformedH2 {
        what: "missing :path",
    })
    .explanation();
    assert!(x.contains("malformed: missing :path"), "{x}");
    let x = EdgeError::DnsResolution {
        origin_host: "db.internal".into(),
    }
    .explanation();
    assert!(x.contains("\"db.internal\""), "{x}");
    let x = EdgeError::NotAcceptable {
        available: vec!["text/csv".into(), "application/xml".into()],
    }
    .explanation();
    assert!(x.contains("text/csv, application/xml"), "{x}");
    let x = EdgeError::PayloadTooLarge {
        limit: 10,
        retry_after: None,
    }
    .explanation();
    assert!(x.contains("10 bytes") && !x.contains("retry"), "{x}");
}

#[test]
fn repeated_401_explains_which_credentials_are_needed() {
    let first = EdgeError::Unauthorized {
        challenge: basic("Staff area"),
        repeated: false,
    };
    let again = EdgeError::Unauthorized {
        challenge: basic("Staff area"),
        repeated: true,
    };
    let x = again.explanation();
    for needle in ["Basic", "\"Staff area\"", "user:password", "Authorization"] {
        assert!(x.contains(needle), "missing {needle}: {x}");
    }
    assert_ne!(first.explanation(), x);
    assert_eq!(first.code(), again.code());
    assert!(!again.retryable() && !again.owner_action_required());
    let r = render_with(&again, "text/plain", false);
    assert!(std::str::from_utf8(&r.body).unwrap().contains("user:password"));
    assert!(r.header("WWW-Authenticate").is_some());
}

#[test]
fn every_variant_renders_with_required_headers_in_every_format() {
    for e in examples() {
        for accept in ["text/html", "application/json", "text/plain", "text/markdown"] {
            let r = render_with(&e, accept, false);
            assert_eq!(r.status, e.status(), "{e:?}");
            assert_eq!(r.reason, reason_phrase(e.status()));
            assert!(!r.body.is_empty());
            assert_eq!(
                r.header("Content-Length"),
                Some(r.body.len().to_string().as_str())
            );
            assert_eq!(r.header("Cache-Control"), Some("no-store"));
            assert_eq!(r.header("X-Request-Id"), Some("7d3f9a0c1b2e"));
            assert_eq!(r.header("Vary"), Some("Accept"));
            assert!(r.header("Content-Type").is_some());
            assert!(r.header("Date").is_none() && r.header("Server").is_none());
            assert_eq!(r.close, e.closes_connection());
            assert_eq!(r.header("Connection"), r.close.then_some("close"), "{e:?}");
            for (name, value) in expected_required(&e) {
                assert_eq!(r.header(name), Some(value), "{e:?}: {name}");
            }
            assert_eq!(r.header("Edgeward-Error-Type"), Some(e.category().as_str()));
            assert_eq!(
                r.header("Edgeward-Error-Code"),
                Some(e.code().to_string().as_str())
            );
            assert_eq!(r.header("Edgeward-Mitigated"), e.mitigation());
            // Exactly the common headers, the edge's marks, the required ones, and
            // Connection when closing.
            let extra = usize::from(r.close) + usize::from(e.mitigation().is_some());
            assert_eq!(r.headers.len(), 7 + expected_required(&e).len() + extra, "{e:?}");
        }
    }
}

#[test]
fn head_has_same_headers_and_an_empty_body() {
    for e in examples() {
        for accept in [
            "text/html",
            "application/problem+json",
            "text/plain",
            "text/markdown",
        ] {
            let get = render_with(&e, accept, false);
            let head = render_with(&e, accept, true);
            assert!(head.body.is_empty(), "{e:?}");
            assert_eq!(head.headers, get.headers, "{e:?}");
            assert_eq!(head.status, get.status);
            assert_eq!(head.header("Content-Length").unwrap(), get.body.len().to_string());
        }
    }
}

#[test]
fn optional_retry_after_only_when_temporary() {
    let permanent = EdgeError::PayloadTooLarge {
        limit: 1,
        retry_after: None,
    };
    let r = render_with(&permanent, "*/*", false);
    assert_eq!(r.header("Retry-After"), None);
    assert!(r.close);
}

#[test]
fn header_values_cannot_be_injected() {
    let e = EdgeError::Unauthorized {
        challenge: basic("a\"b\r\nSet-Cookie: x=1"),
        repeated: false,
    };
    assert_eq!(
        e.required_headers(),
        vec![(
            "WWW-Authenticate",
            r#"Basic realm="a\"bSet-Cookie: x=1", charset="UTF-8""#.to_owned()
        )]
    );
    let e = EdgeError::PaymentRequired {
        headers: vec![
            ("Content-Length".to_owned(), "0".to_owned()),
            ("connection".to_owned(), "keep-alive".to_owned()),
            ("bad name".to_owned(), "x".to_owned()),
            (
                "x-pay-to".to_owned(),
                "https://pay.example/\r\nX-Evil: 1".to_owned(),
            ),
        ],
        message: String::new(),
    };
    assert_eq!(
        e.required_headers(),
        vec![("X-Pay-To", "https://pay.example/X-Evil: 1".to_owned())]
    );
    let e = EdgeError::UnavailableForLegalReasons {
        blocked_by: "https://x.example/>; rel=\"evil\"".into(),
        explanation: "Blocked.".into(),
    };
    assert_eq!(
        e.required_headers()[0].1,
        "<https://x.example/; rel=\"evil\">; rel=\"blocked-by\""
    );
    let r = render(&EdgeError::NotFound, &RenderContext::new("id\r\nX: y"));
    assert_eq!(r.header("X-Request-Id"), Some("idX: y"));
}

#[test]
fn forbidden_page_shows_ray_id_rule_and_ip_escaped() {
    let e = EdgeError::Forbidden {
        reason: ForbiddenReason::Waf,
        rule_id: "<script>alert(1)</script>".to_owned(),
    };
    let r = render_with(&e, "text/html", false);
    let html = std::str::from_utf8(&r.body).unwrap();
    assert!(html.contains("Error 1710"));
    assert!(html.contains("7d3f9a0c1b2e"));
    assert!(html.contains("198.51.100.9"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>"));
    assert!(html.contains("edgeward"));
}
