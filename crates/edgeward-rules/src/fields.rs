//! The fields a rule can read, their types, and how each is read from a [`Request`].
//!
//! It owns the field names (the Cloudflare spellings), the per-request accessors and the
//! "did you mean" suggestions. It does not own operators or functions.

use crate::Request;

/// The type of a value in an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Type {
    Str,
    Int,
    Ip,
    Bool,
}

impl Type {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Type::Str => "a string",
            Type::Int => "an integer",
            Type::Ip => "an IP address",
            Type::Bool => "a boolean",
        }
    }
}

/// A string-valued field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StrField {
    Host,
    Path,
    Query,
    /// Path and query joined by `?` (no `?` when the query is empty).
    Uri,
    Method,
    UserAgent,
    Cookie,
    Referer,
    /// Empty when the country is unknown.
    Country,
    /// Lower-cased header name; empty when the header is absent.
    Header(Box<str>),
}

/// A field as named in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Str(StrField),
    BodySize,
    IpSrc,
    Ssl,
    /// `http.response.code`: custom error rules only (see [`crate::compile_response`]).
    ResponseCode,
}

/// The response status, readable only by expressions compiled with [`crate::compile_response`].
pub(crate) const RESPONSE_CODE: &str = "http.response.code";

/// The header-map field, which needs a `["name"]` index.
pub(crate) const HEADERS: &str = "http.request.headers";

/// Every field name, for lookup and suggestions.
pub(crate) const NAMES: &[&str] = &[
    "http.host",
    "http.request.uri.path",
    "http.request.uri.query",
    "http.request.uri",
    "http.request.method",
    "http.user_agent",
    "http.cookie",
    "http.referer",
    "ip.src",
    "ip.geoip.country",
    HEADERS,
    "http.request.body.size",
    "ssl",
    RESPONSE_CODE,
];

/// The field called `name` (not the indexed header field, which the compiler builds).
pub(crate) fn lookup(name: &str) -> Option<Field> {
    Some(match name {
        "http.host" => Field::Str(StrField::Host),
        "http.request.uri.path" => Field::Str(StrField::Path),
        "http.request.uri.query" => Field::Str(StrField::Query),
        "http.request.uri" => Field::Str(StrField::Uri),
        "http.request.method" => Field::Str(StrField::Method),
        "http.user_agent" => Field::Str(StrField::UserAgent),
        "http.cookie" => Field::Str(StrField::Cookie),
        "http.referer" => Field::Str(StrField::Referer),
        "ip.src" => Field::IpSrc,
        "ip.geoip.country" => Field::Str(StrField::Country),
        "http.request.body.size" => Field::BodySize,
        "ssl" => Field::Ssl,
        RESPONSE_CODE => Field::ResponseCode,
        _ => return None,
    })
}

/// A string field's value, in up to two pieces (the URI is path + `?` + query).
pub(crate) enum Value<'a> {
    One(&'a [u8]),
    Uri(&'a [u8], &'a [u8]),
}

impl<'a> Value<'a> {
    /// Byte length of the joined value.
    pub(crate) fn len(&self) -> usize {
        match self {
            Value::One(v) => v.len(),
            Value::Uri(p, q) => p.len() + 1 + q.len(),
        }
    }
}

/// Reads a string field; absent values read as empty.
pub(crate) fn read<'a>(field: &StrField, req: &Request<'a>) -> Value<'a> {
    let s: &'a str = match field {
        StrField::Host => req.host,
        StrField::Path => req.path,
        StrField::Query => req.query,
        StrField::Uri if req.query.is_empty() => req.path,
        StrField::Uri => return Value::Uri(req.path.as_bytes(), req.query.as_bytes()),
        StrField::Method => req.method,
        StrField::UserAgent => req.user_agent,
        StrField::Cookie => req.cookie,
        StrField::Referer => req.referer,
        StrField::Country => req.country.unwrap_or(""),
        StrField::Header(name) => return Value::One(req.headers.header(name).unwrap_or(b"")),
    };
    Value::One(s.as_bytes())
}

/// The closest of `candidates` to `name`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let (best, dist) = candidates
        .iter()
        .map(|c| (*c, edit_distance(name, c)))
        .min_by_key(|&(_, d)| d)?;
    if dist > 0 && dist <= (name.len() / 3).clamp(1, 4) {
        return Some(best);
    }
    // `lowercase` for `lower`, `http.request.uri.path.full` for `http.request.uri.path`, …
    candidates
        .iter()
        .copied()
        .filter(|c| c.len() >= 3 && (name.starts_with(c) || c.starts_with(name)))
        .max_by_key(|c| c.len())
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_but_not_nonsense() {
        assert_eq!(suggest("http.usr_agent", NAMES), Some("http.user_agent"));
        assert_eq!(suggest("ip.srcc", NAMES), Some("ip.src"));
        assert_eq!(suggest("zzz", NAMES), None);
    }
}
