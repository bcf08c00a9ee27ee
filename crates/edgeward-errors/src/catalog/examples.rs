//! One representative error for every code, so that any error page can be shown on
//! purpose (`/.edgeward/error/<code>`) and every code can be tested.
//!
//! Owns the example data only (placeholder hosts, rule ids, limits under
//! `example.com` names); what each error means stays in the catalog.

use super::{
    AuthChallenge, BadRequest, EdgeError, FieldName, ForbiddenReason, HeaderLimit, MediaHint, MethodList,
    OriginFault, RateLimited, TimeoutPhase,
};

/// One example of every variant and sub-fault: exactly one error per code, in
/// catalog order. The data is illustrative (`example.com` hosts, `example-*` rule ids).
pub fn examples() -> Vec<EdgeError> {
    let mut all: Vec<EdgeError> = BadRequest::ALL.into_iter().map(EdgeError::BadRequest).collect();
    all.extend(
        ForbiddenReason::ALL
            .into_iter()
            .map(|reason| EdgeError::Forbidden {
                reason,
                rule_id: "example-rule".to_owned(),
            }),
    );
    all.extend(OriginFault::ALL.into_iter().map(EdgeError::BadGateway));
    let basic = |realm: &str| AuthChallenge::Basic {
        realm: realm.to_owned(),
    };
    all.extend([
        EdgeError::Unauthorized {
            challenge: basic("example"),
            repeated: false,
        },
        EdgeError::PaymentRequired {
            headers: vec![("crawler-price".to_owned(), "USD 0.01".to_owned())],
            message: "Crawling this site costs USD 0.01 per page.".to_owned(),
        },
        EdgeError::UpgradeRefused {
            protocol: "websocket".to_owned(),
        },
        EdgeError::NotFound,
        EdgeError::MethodNotAllowed {
            allow: MethodList::new(["GET", "HEAD"]).expect("non-empty"),
        },
        EdgeError::NotAcceptable {
            available: vec!["text/html".to_owned(), "application/json".to_owned()],
        },
        EdgeError::ProxyAuthenticationRequired {
            challenge: basic("proxy"),
        },
        EdgeError::RequestTimeout(TimeoutPhase::Header),
        EdgeError::RequestTimeout(TimeoutPhase::Body),
        EdgeError::DnsResolution {
            origin_host: "origin.example.com".to_owned(),
        },
        EdgeError::Gone,
        EdgeError::LengthRequired,
        EdgeError::PreconditionFailed,
        EdgeError::PayloadTooLarge {
            limit: 1024,
            retry_after: Some(120),
        },
        EdgeError::DecodedBodyTooLarge { limit: 10_485_760 },
        EdgeError::UriTooLong { limit: 32768 },
        EdgeError::UnsupportedMediaType(MediaHint::ContentType(vec![
            "application/json".to_owned(),
            "text/csv".to_owned(),
        ])),
        EdgeError::UnsupportedMediaType(MediaHint::ContentEncoding(vec![
            "gzip".to_owned(),
            "br".to_owned(),
        ])),
        EdgeError::RangeNotSatisfiable {
            complete_length: 1000,
        },
        EdgeError::ExpectationFailed,
        EdgeError::UnknownHost {
            host: "192.0.2.1".to_owned(),
        },
        EdgeError::UnknownHost {
            host: "unknown.example.com".to_owned(),
        },
        EdgeError::TooManyRequests(RateLimited {
            rule_id: "example-limit".to_owned(),
            retry_after: 30,
            limit: 100,
            window: 60,
        }),
        EdgeError::HeaderFieldsTooLarge(HeaderLimit::SectionTooLarge(65536)),
        EdgeError::HeaderFieldsTooLarge(HeaderLimit::FieldTooLarge {
            limit: 16384,
            name: FieldName::from_line(b"Cookie"),
        }),
        EdgeError::HeaderFieldsTooLarge(HeaderLimit::TooManyFields(100)),
        EdgeError::UnavailableForLegalReasons {
            blocked_by: "https://authority.example/orders/17".to_owned(),
            explanation: "A court order forbids serving this page in your country.".to_owned(),
        },
        EdgeError::Internal,
        EdgeError::NotImplemented,
        EdgeError::GatewayTimeout,
        EdgeError::HttpVersionNotSupported,
    ]);
    all
}

impl EdgeError {
    /// A representative error with this code, to render on purpose; `None` for
    /// a code the catalog does not use.
    pub fn example(code: u16) -> Option<EdgeError> {
        examples().into_iter().find(|e| e.code() == code)
    }

    /// A representative error answered with this status (the lowest code among
    /// them); `None` when the edge never generates the status.
    pub fn example_for_status(status: u16) -> Option<EdgeError> {
        examples()
            .into_iter()
            .filter(|e| e.status() == status)
            .min_by_key(EdgeError::code)
    }
}
