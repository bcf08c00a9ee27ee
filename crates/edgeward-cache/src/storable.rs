//! Whether a response may be stored by a shared cache (RFC 9111 §3, §3.5), and which of its
//! header fields are kept when it is (§3.1, §5.2.2.4, §5.2.2.7).
//!
//! Owns the storability matrix: methods, status codes cacheable by default vs needing explicit
//! freshness, `no-store`, `private`, `must-understand`, requests with `Authorization`,
//! `Set-Cookie` (only when a rule allows it, and then never stored), `Vary: *`. It does not
//! compute lifetimes (`freshness`) or write anything (`store`).

use http::header::{HeaderMap, HeaderName, AUTHORIZATION, CONNECTION, SET_COOKIE, VARY};
use http::Method;

use crate::directives::ResponseDirectives;
use crate::freshness::heuristically_cacheable;

/// Why a response is not stored (shown in `Cache-Status: …; detail=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStorable {
    /// The request method is not GET.
    Method,
    /// A status this cache does not store (1xx, 206, 304, or not understood with
    /// `must-understand`).
    Status,
    /// `no-store` (response or request).
    NoStore,
    /// `private` without field names.
    Private,
    /// The request carried `Authorization` and the response did not allow sharing (§3.5).
    Authorization,
    /// The response sets a cookie and the zone does not cache those.
    SetCookie,
    /// `Vary: *`.
    VaryStar,
    /// No explicit freshness and a status that is not cacheable by default.
    NoFreshness,
    /// The body is larger than the object size limit.
    TooLarge,
    /// The body ended early or failed.
    Incomplete,
}

impl NotStorable {
    /// A short token for `Cache-Status` details and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStorable::Method => "method",
            NotStorable::Status => "status",
            NotStorable::NoStore => "no-store",
            NotStorable::Private => "private",
            NotStorable::Authorization => "authorization",
            NotStorable::SetCookie => "set-cookie",
            NotStorable::VaryStar => "vary-star",
            NotStorable::NoFreshness => "no-freshness",
            NotStorable::TooLarge => "too-large",
            NotStorable::Incomplete => "incomplete",
        }
    }
}

/// The request side of a storability decision.
#[derive(Debug, Clone, Copy)]
pub struct StoreRequest<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request said `no-store`.
    pub no_store: bool,
}

/// Zone choices that widen what is stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// Store responses carrying `Set-Cookie` (without the cookie).
    pub cache_set_cookie: bool,
    /// A rule gave this response an edge TTL of its own, so it needs no freshness of its own.
    pub edge_ttl: bool,
    /// Heuristic freshness is configured (default-cacheable statuses are then worth storing
    /// without a validator).
    pub heuristic: bool,
}

/// Status codes this cache understands (for `must-understand`, §5.2.2.3).
pub fn understood_status(status: u16) -> bool {
    matches!(
        status,
        200..=206 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429 | 431 | 451 | 500..=505 | 511
    )
}

/// Decides whether a response may be stored (§3).
pub fn check(
    req: StoreRequest<'_>,
    status: u16,
    headers: &HeaderMap,
    d: &ResponseDirectives,
    opts: StoreOptions,
) -> Result<(), NotStorable> {
    if *req.method != Method::GET {
        return Err(NotStorable::Method);
    }
    // A final status that is complete content; partial and 304 responses are never stored.
    if status < 200 || status == 206 || status == 304 {
        return Err(NotStorable::Status);
    }
    if d.must_understand {
        if !understood_status(status) {
            return Err(NotStorable::Status);
        }
    } else if d.no_store {
        return Err(NotStorable::NoStore);
    }
    if req.no_store {
        return Err(NotStorable::NoStore);
    }
    if d.private.is_whole() {
        return Err(NotStorable::Private);
    }
    if req.headers.contains_key(AUTHORIZATION) && !(d.must_revalidate || d.public || d.s_maxage.is_some()) {
        return Err(NotStorable::Authorization);
    }
    if headers.contains_key(SET_COOKIE) && !opts.cache_set_cookie {
        return Err(NotStorable::SetCookie);
    }
    if vary_names(headers).iter().any(|n| n == "*") {
        return Err(NotStorable::VaryStar);
    }
    let explicit = d.public
        || d.max_age.is_some()
        || d.s_maxage.is_some()
        || headers.contains_key(http::header::EXPIRES)
        || opts.edge_ttl;
    if explicit {
        return Ok(());
    }
    // Cacheable by default: stored without explicit freshness only when it can be reused at
    // all, i.e. with heuristics configured or a validator to revalidate it with.
    let validator =
        headers.contains_key(http::header::ETAG) || headers.contains_key(http::header::LAST_MODIFIED);
    if heuristically_cacheable(status) && (opts.heuristic || validator) {
        Ok(())
    } else {
        Err(NotStorable::NoFreshness)
    }
}

/// The `Vary` field names, lowercased, in order, without duplicates.
pub fn vary_names(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for v in headers.get_all(VARY) {
        let Ok(text) = v.to_str() else { continue };
        for n in text.split(',') {
            let n = n.trim().to_ascii_lowercase();
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// Fields never stored (§3.1): hop-by-hop fields and those listed in `Connection`.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "trailer",
];

/// The header fields to store: without hop-by-hop fields, `Connection`-listed fields, fields
/// named by qualified `private` or `no-cache` (kept out of reuse rather than revalidated), and
/// `Set-Cookie` (never shared with other clients).
pub fn stored_headers(headers: &HeaderMap, d: &ResponseDirectives) -> HeaderMap {
    let mut drop: Vec<String> = HOP_BY_HOP.iter().map(|s| s.to_string()).collect();
    for v in headers.get_all(CONNECTION) {
        if let Ok(text) = v.to_str() {
            drop.extend(text.split(',').map(|n| n.trim().to_ascii_lowercase()));
        }
    }
    drop.extend(d.private.fields().iter().cloned());
    drop.extend(d.no_cache.fields().iter().cloned());
    drop.push(SET_COOKIE.as_str().to_string());
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !drop.iter().any(|n| n == name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Whether `name` is a hop-by-hop field that never crosses the cache.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
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

    fn decide(
        method: Method,
        req: &[(&'static str, &str)],
        status: u16,
        resp: &[(&'static str, &str)],
    ) -> Result<(), NotStorable> {
        decide_with(method, req, status, resp, StoreOptions::default())
    }

    fn decide_with(
        method: Method,
        req: &[(&'static str, &str)],
        status: u16,
        resp: &[(&'static str, &str)],
        opts: StoreOptions,
    ) -> Result<(), NotStorable> {
        let rh = headers(req);
        let h = headers(resp);
        let d = ResponseDirectives::from_cache_control(&h);
        check(
            StoreRequest {
                method: &method,
                headers: &rh,
                no_store: false,
            },
            status,
            &h,
            &d,
            opts,
        )
    }

    #[test]
    fn the_storability_matrix() {
        use NotStorable::{Method as M, NoFreshness, NoStore, Private, SetCookie, Status, VaryStar};
        let ok: Result<(), NotStorable> = Ok(());
        let max_age = [("cache-control", "max-age=60")];
        type Row<'a> = (Method, u16, Vec<(&'static str, &'a str)>, Result<(), NotStorable>);
        let rows: Vec<Row> = vec![
            (Method::GET, 200, max_age.to_vec(), ok),
            (Method::GET, 200, vec![], Err(NoFreshness)),
            (Method::GET, 200, vec![("etag", "\"v1\"")], ok),
            (
                Method::GET,
                404,
                vec![("last-modified", "Thu, 01 Jan 2015 00:00:00 GMT")],
                ok,
            ),
            (Method::GET, 410, vec![("etag", "\"v1\"")], ok),
            (Method::GET, 301, vec![("etag", "\"v1\"")], ok),
            (Method::GET, 302, vec![("etag", "\"v1\"")], Err(NoFreshness)),
            (Method::GET, 302, max_age.to_vec(), ok),
            (Method::GET, 500, vec![], Err(NoFreshness)),
            (
                Method::GET,
                500,
                vec![("expires", "Thu, 01 Jan 2099 00:00:00 GMT")],
                ok,
            ),
            (Method::GET, 403, vec![("cache-control", "public")], ok),
            (Method::POST, 200, max_age.to_vec(), Err(M)),
            (Method::HEAD, 200, max_age.to_vec(), Err(M)),
            (Method::GET, 206, max_age.to_vec(), Err(Status)),
            (Method::GET, 304, max_age.to_vec(), Err(Status)),
            (
                Method::GET,
                200,
                vec![("cache-control", "max-age=60, no-store")],
                Err(NoStore),
            ),
            (
                Method::GET,
                200,
                vec![("cache-control", "max-age=60, private")],
                Err(Private),
            ),
            (
                Method::GET,
                200,
                vec![("cache-control", "max-age=60, private=\"x-user\"")],
                ok,
            ),
            (
                Method::GET,
                200,
                vec![("cache-control", "max-age=60, no-cache")],
                ok,
            ),
            (
                Method::GET,
                200,
                vec![("cache-control", "max-age=60"), ("vary", "accept, *")],
                Err(VaryStar),
            ),
            (
                Method::GET,
                200,
                vec![("cache-control", "max-age=60"), ("set-cookie", "a=b")],
                Err(SetCookie),
            ),
            (
                Method::GET,
                200,
                vec![("cache-control", "no-store, must-understand, max-age=60")],
                ok,
            ),
            (
                Method::GET,
                299,
                vec![("cache-control", "no-store, must-understand, max-age=60")],
                Err(Status),
            ),
        ];
        for (method, status, resp, want) in rows {
            assert_eq!(
                decide(method.clone(), &[], status, &resp),
                want,
                "{method} {status} {resp:?}"
            );
        }
    }

    #[test]
    fn authorization_needs_explicit_sharing() {
        let auth = [("authorization", "Basic YTpi")];
        assert_eq!(
            decide(Method::GET, &auth, 200, &[("cache-control", "max-age=60")]),
            Err(NotStorable::Authorization)
        );
        for cc in ["public", "s-maxage=60", "max-age=60, must-revalidate"] {
            assert_eq!(
                decide(Method::GET, &auth, 200, &[("cache-control", cc)]),
                Ok(()),
                "{cc}"
            );
        }
    }

    #[test]
    fn set_cookie_only_when_configured_and_never_stored() {
        let resp = [("cache-control", "max-age=60"), ("set-cookie", "a=b")];
        let opts = StoreOptions {
            cache_set_cookie: true,
            ..Default::default()
        };
        assert_eq!(decide_with(Method::GET, &[], 200, &resp, opts), Ok(()));
        let h = headers(&resp);
        let kept = stored_headers(&h, &ResponseDirectives::from_cache_control(&h));
        assert!(!kept.contains_key(SET_COOKIE));
    }

    #[test]
    fn heuristics_make_default_cacheable_statuses_worth_storing() {
        let opts = StoreOptions {
            heuristic: true,
            ..Default::default()
        };
        assert_eq!(decide_with(Method::GET, &[], 200, &[], opts), Ok(()));
        assert_eq!(
            decide_with(Method::GET, &[], 302, &[], opts),
            Err(NotStorable::NoFreshness)
        );
    }

    #[test]
    fn an_edge_ttl_makes_any_status_storable() {
        let opts = StoreOptions {
            edge_ttl: true,
            ..Default::default()
        };
        assert_eq!(decide_with(Method::GET, &[], 302, &[], opts), Ok(()));
    }

    #[test]
    fn stored_headers_drop_hop_by_hop_connection_listed_and_qualified_fields() {
        let h = headers(&[
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            (
                "cache-control",
                "max-age=5, private=\"x-user\", no-cache=\"x-secret\"",
            ),
            ("x-user", "alice"),
            ("x-secret", "s"),
            ("x-kept", "k"),
        ]);
        let kept = stored_headers(&h, &ResponseDirectives::from_cache_control(&h));
        let names: Vec<&str> = kept.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["cache-control", "x-kept"]);
    }

    #[test]
    fn vary_names_are_normalised() {
        let h = headers(&[("vary", "Accept-Encoding,  ACCEPT"), ("vary", "accept-encoding")]);
        assert_eq!(vary_names(&h), ["accept-encoding", "accept"]);
    }
}
