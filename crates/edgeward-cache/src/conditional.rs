//! Conditional requests evaluated at the edge against a known representation (RFC 9110 §13),
//! in the order of §13.2.2: `If-Match`, else `If-Unmodified-Since` (412); `If-None-Match`, else
//! `If-Modified-Since` (304 for GET/HEAD, 412 otherwise); then `If-Range` and `Range` (206/416).
//!
//! Owns entity-tag parsing and strong/weak comparison (§8.8.3.2) and the precondition
//! decision. It does not build responses (`serve`) nor parse byte ranges (`range`).

use http::header::{
    HeaderMap, ETAG, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE,
    LAST_MODIFIED, RANGE,
};
use http::Method;

use crate::freshness::parse_http_date;
use crate::range::{self, ByteRange, RangeSpec};

/// An entity tag (§8.8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// `W/` was present.
    pub weak: bool,
    /// The opaque tag, without quotes.
    pub tag: &'a str,
}

impl<'a> EntityTag<'a> {
    /// Parses one entity-tag; `None` when malformed.
    pub fn parse(text: &'a str) -> Option<Self> {
        let text = text.trim();
        let (weak, rest) = match text.strip_prefix("W/") {
            Some(r) => (true, r),
            None => (false, text),
        };
        let tag = rest.strip_prefix('"')?.strip_suffix('"')?;
        // etagc = %x21 / %x23-7E / obs-text
        if tag.bytes().any(|b| b == b'"' || b < 0x21 || b == 0x7f) {
            return None;
        }
        Some(EntityTag { weak, tag })
    }

    /// Strong comparison: both strong and identical.
    pub fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    /// Weak comparison: identical opaque tags, either may be weak.
    pub fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.tag == other.tag
    }
}

/// A parsed `If-Match` / `If-None-Match` value.
enum TagList<'a> {
    Any,
    Tags(Vec<EntityTag<'a>>),
}

fn tag_list<'a>(headers: &'a HeaderMap, name: &http::HeaderName) -> Option<TagList<'a>> {
    let mut tags = Vec::new();
    let mut present = false;
    for v in headers.get_all(name) {
        present = true;
        let Ok(text) = v.to_str() else { continue };
        if text.trim() == "*" {
            return Some(TagList::Any);
        }
        tags.extend(split_tags(text).filter_map(EntityTag::parse));
    }
    present.then_some(TagList::Tags(tags))
}

/// Splits a list of entity-tags at commas outside quotes (a tag may contain a comma).
fn split_tags(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut quoted = false;
        let mut cut = rest.len();
        for (i, b) in rest.bytes().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        let item = &rest[..cut];
        rest = rest.get(cut + 1..).unwrap_or("");
        if !item.trim().is_empty() {
            return Some(item);
        }
    })
}

/// What the edge answers after evaluating a request's preconditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Serve the representation as usual (200).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed (`EdgeError::PreconditionFailed`).
    Failed,
    /// 206 with these ranges (one: a single part; several: `multipart/byteranges`).
    Range(Vec<ByteRange>),
    /// 416 with `Content-Range: bytes */len`.
    RangeNotSatisfiable,
}

/// Evaluates preconditions (§13.2.2) of a request against a stored response with `status`,
/// `stored` headers and a body of `len` bytes (when known: ranges need it).
pub fn evaluate_preconditions(
    method: &Method,
    req: &HeaderMap,
    status: u16,
    stored: &HeaderMap,
    len: Option<u64>,
) -> Precondition {
    // Preconditions apply to 2xx representations only (§13.2.1).
    if !(200..300).contains(&status) {
        return Precondition::Proceed;
    }
    let etag = stored
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .and_then(EntityTag::parse);
    let last_modified = stored
        .get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    // Step 1 and 2.
    if let Some(list) = tag_list(req, &IF_MATCH) {
        let matched = match list {
            TagList::Any => true,
            TagList::Tags(tags) => etag.as_ref().is_some_and(|e| tags.iter().any(|t| t.strong_eq(e))),
        };
        if !matched {
            return Precondition::Failed;
        }
    } else if let (Some(ius), Some(lm)) = (single_date(req, &IF_UNMODIFIED_SINCE), last_modified) {
        if lm > ius {
            return Precondition::Failed;
        }
    }
    let get_or_head = *method == Method::GET || *method == Method::HEAD;
    // Step 3 and 4.
    if let Some(list) = tag_list(req, &IF_NONE_MATCH) {
        let matched = match list {
            TagList::Any => true,
            TagList::Tags(tags) => etag.as_ref().is_some_and(|e| tags.iter().any(|t| t.weak_eq(e))),
        };
        if matched {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head {
        if let (Some(ims), Some(lm)) = (single_date(req, &IF_MODIFIED_SINCE), last_modified) {
            if lm <= ims {
                return Precondition::NotModified;
            }
        }
    }
    // Step 5: ranges, GET only, 200 only.
    if *method != Method::GET || status != 200 {
        return Precondition::Proceed;
    }
    let (Some(range_value), Some(len)) = (req.get(RANGE).and_then(|v| v.to_str().ok()), len) else {
        return Precondition::Proceed;
    };
    if let Some(if_range) = req.get(IF_RANGE) {
        if !if_range_holds(
            if_range.to_str().unwrap_or(""),
            etag.as_ref(),
            last_modified,
            stored,
        ) {
            return Precondition::Proceed;
        }
    }
    match range::parse(range_value, len) {
        RangeSpec::Ignore => Precondition::Proceed,
        RangeSpec::Unsatisfiable => Precondition::RangeNotSatisfiable,
        RangeSpec::Ranges(r) => Precondition::Range(r),
    }
}

/// A date precondition field: ignored when invalid or a list (§13.1.3, §13.1.4).
fn single_date(req: &HeaderMap, name: &http::HeaderName) -> Option<u64> {
    let mut values = req.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse_http_date(first.to_str().ok()?)
}

/// `If-Range` (§13.1.5): a strong entity-tag match, or a date equal to a Last-Modified that is
/// strong (at least one second before the response's `Date`, §8.8.2.2).
fn if_range_holds(
    value: &str,
    etag: Option<&EntityTag<'_>>,
    last_modified: Option<u64>,
    stored: &HeaderMap,
) -> bool {
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        let Some(tag) = EntityTag::parse(value) else {
            return false;
        };
        return etag.is_some_and(|e| e.strong_eq(&tag));
    }
    let (Some(date), Some(lm)) = (parse_http_date(value), last_modified) else {
        return false;
    };
    let response_date = stored
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    date == lm && response_date.is_some_and(|d| d >= lm + 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const LM: &str = "Mon, 01 Jan 2024 00:00:00 GMT";
    const BEFORE: &str = "Sun, 31 Dec 2023 00:00:00 GMT";
    const AFTER: &str = "Tue, 02 Jan 2024 00:00:00 GMT";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn stored() -> HeaderMap {
        headers(&[("etag", "\"v1\""), ("last-modified", LM), ("date", AFTER)])
    }

    fn eval(method: Method, req: &[(&'static str, &str)]) -> Precondition {
        evaluate_preconditions(&method, &headers(req), 200, &stored(), Some(100))
    }

    #[test]
    fn strong_and_weak_comparison_table() {
        // RFC 9110 §8.8.3.2's table.
        let rows = [
            ("W/\"1\"", "W/\"1\"", false, true),
            ("W/\"1\"", "W/\"2\"", false, false),
            ("W/\"1\"", "\"1\"", false, true),
            ("\"1\"", "\"1\"", true, true),
        ];
        for (a, b, strong, weak) in rows {
            let (a, b) = (EntityTag::parse(a).unwrap(), EntityTag::parse(b).unwrap());
            assert_eq!(a.strong_eq(&b), strong);
            assert_eq!(a.weak_eq(&b), weak);
        }
        assert!(EntityTag::parse("v1").is_none());
        assert!(EntityTag::parse("\"a\"b\"").is_none());
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert_eq!(
            eval(Method::GET, &[("if-match", "\"v1\"")]),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("if-match", "\"x\", \"v1\"")]),
            Precondition::Proceed
        );
        assert_eq!(eval(Method::GET, &[("if-match", "*")]), Precondition::Proceed);
        assert_eq!(
            eval(Method::GET, &[("if-match", "W/\"v1\"")]),
            Precondition::Failed
        );
        assert_eq!(eval(Method::GET, &[("if-match", "\"v2\"")]), Precondition::Failed);
    }

    #[test]
    fn if_match_takes_precedence_over_if_unmodified_since() {
        assert_eq!(
            eval(
                Method::GET,
                &[("if-match", "\"v1\""), ("if-unmodified-since", BEFORE)]
            ),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", BEFORE)]),
            Precondition::Failed
        );
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", AFTER)]),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", "garbage")]),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_none_match_uses_weak_comparison_and_outranks_if_modified_since() {
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "W/\"v1\"")]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::HEAD, &[("if-none-match", "\"v1\"")]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "*")]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::DELETE, &[("if-none-match", "\"v1\"")]),
            Precondition::Failed
        );
        assert_eq!(
            eval(
                Method::GET,
                &[("if-none-match", "\"v2\""), ("if-modified-since", AFTER)]
            ),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", AFTER)]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", LM)]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", BEFORE)]),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Method::POST, &[("if-modified-since", AFTER)]),
            Precondition::Proceed
        );
    }

    #[test]
    fn the_412_check_comes_before_the_304_check() {
        assert_eq!(
            eval(
                Method::GET,
                &[("if-match", "\"nope\""), ("if-none-match", "\"v1\"")]
            ),
            Precondition::Failed
        );
    }

    #[test]
    fn ranges_and_if_range() {
        assert_eq!(
            eval(Method::GET, &[("range", "bytes=0-9")]),
            Precondition::Range(vec![ByteRange { start: 0, end: 9 }])
        );
        assert_eq!(
            eval(Method::HEAD, &[("range", "bytes=0-9")]),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("range", "bytes=500-")]),
            Precondition::RangeNotSatisfiable
        );
        assert_eq!(
            eval(Method::GET, &[("range", "bytes=0-9"), ("if-range", "\"v1\"")]),
            Precondition::Range(vec![ByteRange { start: 0, end: 9 }])
        );
        assert_eq!(
            eval(Method::GET, &[("range", "bytes=0-9"), ("if-range", "\"v0\"")]),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("range", "bytes=0-9"), ("if-range", "W/\"v1\"")]),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("range", "bytes=0-9"), ("if-range", LM)]),
            Precondition::Range(vec![ByteRange { start: 0, end: 9 }])
        );
        assert_eq!(
            eval(Method::GET, &[("range", "bytes=0-9"), ("if-range", AFTER)]),
            Precondition::Proceed
        );
        // A 304 wins over a range.
        assert_eq!(
            eval(
                Method::GET,
                &[("range", "bytes=0-9"), ("if-none-match", "\"v1\"")]
            ),
            Precondition::NotModified
        );
    }

    #[test]
    fn non_2xx_representations_ignore_preconditions() {
        let p = evaluate_preconditions(
            &Method::GET,
            &headers(&[("if-match", "\"x\"")]),
            404,
            &stored(),
            Some(10),
        );
        assert_eq!(p, Precondition::Proceed);
    }

    #[test]
    fn tags_may_contain_commas() {
        let h = headers(&[("etag", "\"a,b\"")]);
        let p = evaluate_preconditions(
            &Method::GET,
            &headers(&[("if-none-match", "\"x\", \"a,b\"")]),
            200,
            &h,
            None,
        );
        assert_eq!(p, Precondition::NotModified);
    }
}
