//! Talking to the origin about stored responses: the headers of a fill request (client
//! conditionals and `Range` removed, so the edge gets a complete response it can store and
//! then answer the client's conditionals itself), the conditional request that validates a
//! stored response (§4.3.1), whether an origin 304 selects it (§4.3.4), how the 304 updates its
//! header fields (§3.2), and which URLs an unsafe request invalidates (§4.4).
//!
//! Pure header functions; the engine applies them to the store.

use http::header::{
    HeaderMap, HeaderName, CONTENT_LENGTH, CONTENT_LOCATION, ETAG, IF_MATCH, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, LAST_MODIFIED, LOCATION, RANGE,
};
use http::Method;

use crate::conditional::EntityTag;
use crate::storable::is_hop_by_hop;

/// Request fields a fill does not forward: the edge answers them from the complete response.
const CLIENT_CONDITIONALS: [HeaderName; 6] = [
    IF_MATCH,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    IF_UNMODIFIED_SINCE,
    IF_RANGE,
    RANGE,
];

/// The headers of a request that fills the cache: the client's, without its conditionals and
/// `Range`, plus the validators of `stale` when revalidating it.
pub fn fill_headers(client: &HeaderMap, stale: Option<&HeaderMap>) -> HeaderMap {
    let mut out = client.clone();
    for name in &CLIENT_CONDITIONALS {
        out.remove(name);
    }
    if let Some(stored) = stale {
        if let Some(etag) = stored.get(ETAG) {
            out.insert(IF_NONE_MATCH, etag.clone());
        }
        if let Some(lm) = stored.get(LAST_MODIFIED) {
            out.insert(IF_MODIFIED_SINCE, lm.clone());
        }
    }
    out
}

/// Whether an origin 304 validates the stored response with `stored` headers (§4.3.4).
pub fn selects(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    let tag = |h: &HeaderMap| h.get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (stored_tag, new_tag) = (tag(stored), tag(not_modified));
    if let Some(new) = new_tag.as_deref().and_then(EntityTag::parse) {
        let Some(old) = stored_tag.as_deref().and_then(EntityTag::parse) else {
            return false;
        };
        return if new.weak {
            old.weak_eq(&new)
        } else {
            old.strong_eq(&new)
        };
    }
    if let Some(lm) = not_modified.get(LAST_MODIFIED) {
        return stored.get(LAST_MODIFIED) == Some(lm);
    }
    // No validator in the 304: it refers to the response that was validated.
    true
}

/// Fields a 304 never changes in the stored response: its framing and coding describe the
/// stored body, not the 304.
const NOT_UPDATED: [&str; 4] = [
    "content-length",
    "content-encoding",
    "content-range",
    "set-cookie",
];

/// Updates `stored` header fields from a 304's (§3.2): each field present in the 304 replaces
/// the stored values, except hop-by-hop fields and those in `NOT_UPDATED`.
pub fn update_headers(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    for name in not_modified.keys() {
        if is_hop_by_hop(name) || NOT_UPDATED.contains(&name.as_str()) || *name == CONTENT_LENGTH {
            continue;
        }
        stored.remove(name);
        for v in not_modified.get_all(name) {
            stored.append(name.clone(), v.clone());
        }
    }
}

/// Whether a method is unsafe, so a non-error response to it invalidates (§4.4).
pub fn invalidates(method: &Method, status: u16) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) && (200..400).contains(&status)
}

/// The `(path, query)` targets an unsafe request invalidates on `host`: its own target and the
/// same-origin `Location` and `Content-Location` of the response (§4.4).
pub fn invalidation_targets(
    host: &str,
    path: &str,
    query: Option<&str>,
    response: &HeaderMap,
) -> Vec<(String, Option<String>)> {
    let mut out = vec![(path.to_string(), query.map(str::to_string))];
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(v) = response.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some(target) = same_origin_target(host, path, v.trim()) {
            if !out.contains(&target) {
                out.push(target);
            }
        }
    }
    out
}

/// Resolves a URI reference against the request; `None` for another host.
fn same_origin_target(host: &str, base_path: &str, reference: &str) -> Option<(String, Option<String>)> {
    let reference = reference.split('#').next().unwrap_or("");
    let path_and_query = if let Some((_, rest)) = reference.split_once("://") {
        let (authority, pq) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if crate::key::bare_host(authority) != crate::key::bare_host(host) {
            return None;
        }
        pq.to_string()
    } else if let Some(rest) = reference.strip_prefix("//") {
        let (authority, pq) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if crate::key::bare_host(authority) != crate::key::bare_host(host) {
            return None;
        }
        pq.to_string()
    } else if reference.starts_with('/') {
        reference.to_string()
    } else if reference.is_empty() {
        return None;
    } else {
        let dir = base_path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{reference}")
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path_and_query, None),
    };
    Some((path, query))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn fill_requests_drop_client_conditionals_and_carry_stored_validators() {
        let client = headers(&[
            ("if-none-match", "\"client\""),
            ("range", "bytes=0-1"),
            ("if-range", "\"x\""),
            ("accept", "text/html"),
        ]);
        let out = fill_headers(&client, None);
        assert_eq!(out.len(), 1);
        let stored = headers(&[
            ("etag", "\"v1\""),
            ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ]);
        let out = fill_headers(&client, Some(&stored));
        assert_eq!(out["if-none-match"], "\"v1\"");
        assert_eq!(out["if-modified-since"], "Mon, 01 Jan 2024 00:00:00 GMT");
        assert!(!out.contains_key("range"));
    }

    #[test]
    fn a_304_selects_by_validator() {
        let stored = headers(&[
            ("etag", "\"v1\""),
            ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ]);
        assert!(selects(&stored, &headers(&[("etag", "\"v1\"")])));
        assert!(!selects(&stored, &headers(&[("etag", "\"v2\"")])));
        assert!(selects(&stored, &headers(&[("etag", "W/\"v1\"")])));
        assert!(selects(
            &stored,
            &headers(&[("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")])
        ));
        assert!(!selects(
            &stored,
            &headers(&[("last-modified", "Tue, 02 Jan 2024 00:00:00 GMT")])
        ));
        assert!(selects(&stored, &HeaderMap::new()));
        assert!(!selects(
            &headers(&[("etag", "W/\"v1\"")]),
            &headers(&[("etag", "\"v1\"")])
        ));
    }

    #[test]
    fn a_304_updates_headers_except_framing() {
        let mut stored = headers(&[
            ("content-length", "10"),
            ("content-encoding", "gzip"),
            ("cache-control", "max-age=1"),
            ("x-a", "old"),
            ("x-a", "old2"),
        ]);
        let nm = headers(&[
            ("content-length", "0"),
            ("cache-control", "max-age=60"),
            ("x-a", "new"),
            ("x-b", "added"),
            ("connection", "close"),
            ("content-encoding", "br"),
        ]);
        update_headers(&mut stored, &nm);
        assert_eq!(stored["content-length"], "10");
        assert_eq!(stored["content-encoding"], "gzip");
        assert_eq!(stored["cache-control"], "max-age=60");
        assert_eq!(stored.get_all("x-a").iter().collect::<Vec<_>>(), ["new"]);
        assert_eq!(stored["x-b"], "added");
        assert!(!stored.contains_key("connection"));
    }

    #[test]
    fn unsafe_methods_invalidate_on_success_only() {
        assert!(invalidates(&Method::POST, 200));
        assert!(invalidates(&Method::DELETE, 204));
        assert!(invalidates(&Method::PUT, 303));
        assert!(!invalidates(&Method::POST, 500));
        assert!(!invalidates(&Method::POST, 404));
        assert!(!invalidates(&Method::GET, 200));
        assert!(!invalidates(&Method::OPTIONS, 200));
    }

    #[test]
    fn location_and_content_location_of_the_same_origin() {
        let resp = headers(&[
            ("location", "https://Example.com:443/items/7?x=1"),
            ("content-location", "other"),
        ]);
        let t = invalidation_targets("example.com", "/items/new", None, &resp);
        assert_eq!(
            t,
            vec![
                ("/items/new".into(), None),
                ("/items/7".into(), Some("x=1".into())),
                ("/items/other".into(), None)
            ]
        );
        let foreign = headers(&[
            ("location", "https://evil.com/items/7"),
            ("content-location", "//evil.com/x"),
        ]);
        assert_eq!(
            invalidation_targets("example.com", "/a", Some("q"), &foreign),
            vec![("/a".into(), Some("q".into()))]
        );
    }
}
