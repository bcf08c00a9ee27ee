//! Redirect rules: by expression, a target computed per request, a 3xx status, and whether the
//! request's query string is kept. Also Always Use HTTPS, which is a fixed redirect rule.
//!
//! It owns [`RedirectStatus`], [`Redirect`] (what the proxy sends) and building a `Location`
//! that is a valid field value. It does not own bulk lists (`bulk.rs`) nor writing the response
//! (the proxy answers `status` with `Location: location` and an empty body).

use crate::value::{ValueExpr, Vars};
use crate::{Expr, Request};

/// The statuses a redirect may use (RFC 9110 §15.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RedirectStatus {
    /// 301: permanent; clients may turn a POST into a GET.
    MovedPermanently,
    /// 302: temporary; clients may turn a POST into a GET.
    Found,
    /// 303: the answer is elsewhere; the client follows with a GET.
    SeeOther,
    /// 307: temporary; method and body are kept.
    TemporaryRedirect,
    /// 308: permanent; method and body are kept (RFC 9110 §15.4.9).
    PermanentRedirect,
}

impl RedirectStatus {
    /// Every status, for messages.
    pub const ALL: [RedirectStatus; 5] = [
        RedirectStatus::MovedPermanently,
        RedirectStatus::Found,
        RedirectStatus::SeeOther,
        RedirectStatus::TemporaryRedirect,
        RedirectStatus::PermanentRedirect,
    ];

    /// The status for `code`, if it is 301, 302, 303, 307 or 308.
    pub fn from_code(code: u16) -> Option<RedirectStatus> {
        RedirectStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The numeric status.
    pub fn code(self) -> u16 {
        match self {
            RedirectStatus::MovedPermanently => 301,
            RedirectStatus::Found => 302,
            RedirectStatus::SeeOther => 303,
            RedirectStatus::TemporaryRedirect => 307,
            RedirectStatus::PermanentRedirect => 308,
        }
    }
}

/// A redirect to send: the status and the `Location` field value (already a valid field value:
/// controls, spaces and non-ASCII bytes are percent-encoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
    /// The `Location` value.
    pub location: String,
}

/// One `[[zones.redirects]]` rule.
#[derive(Clone, Debug)]
pub struct RedirectRule {
    /// Stable id, for logs.
    pub id: String,
    /// When the rule applies.
    pub expr: Expr,
    /// Where to: a `${…}` template or a value function.
    pub target: ValueExpr,
    /// The status to send.
    pub status: RedirectStatus,
    /// Whether the request's query string is appended to the target.
    pub preserve_query: bool,
}

impl RedirectRule {
    /// The redirect for `req`, if the rule's expression matches. Allocates only when it does.
    pub fn redirect(&self, req: &Request<'_>, vars: &Vars<'_>) -> Option<Redirect> {
        if !self.expr.eval(req) {
            return None;
        }
        let mut raw = String::with_capacity(128);
        self.target.write(req, vars, &mut raw);
        let query = if self.preserve_query { req.query } else { "" };
        Some(Redirect {
            status: self.status.code(),
            location: location(&raw, query),
        })
    }
}

/// `target` with `query` appended (after `&` if the target has a query already), with bytes a
/// field value or a URI cannot hold percent-encoded.
pub(crate) fn location(target: &str, query: &str) -> String {
    let mut out = String::with_capacity(target.len() + query.len() + 1);
    push_uri(&mut out, target);
    if !query.is_empty() {
        out.push(if target.contains('?') { '&' } else { '?' });
        push_uri(&mut out, query);
    }
    out
}

/// Appends `s`, percent-encoding controls, space, DEL and non-ASCII bytes (RFC 3986 §2.1).
fn push_uri(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b > b' ' && b < 0x7f {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// Always Use HTTPS: a plain-HTTP request becomes a 301 to the same host, path and query over
/// HTTPS on `https_port` (omitted when 443). ACME HTTP-01 challenges
/// (`/.well-known/acme-challenge/`) stay on HTTP so certificates can still be issued.
pub fn https_redirect(req: &Request<'_>, https_port: u16) -> Option<Redirect> {
    if req.tls || req.path.starts_with("/.well-known/acme-challenge/") || req.host.is_empty() {
        return None;
    }
    let host = host_without_port(req.host);
    let mut target = String::with_capacity(16 + host.len() + req.path.len());
    target.push_str("https://");
    target.push_str(host);
    if https_port != 443 {
        target.push(':');
        target.push_str(itoa::Buffer::new().format(https_port));
    }
    target.push_str(req.path);
    Some(Redirect {
        status: RedirectStatus::MovedPermanently.code(),
        location: location(&target, req.query),
    })
}

/// `host` without a `:port` suffix (IPv6 literals keep their brackets).
pub(crate) fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(headers: &'a &'a [(&'a str, &'a str)]) -> Request<'a> {
        let mut r = Request::new("192.0.2.1".parse().unwrap(), headers);
        r.host = "example.com:8080";
        r.path = "/old/page";
        r.query = "a=1&b=2";
        r
    }

    fn rule(expr: &str, target: ValueExpr, code: u16, preserve_query: bool) -> RedirectRule {
        RedirectRule {
            id: "r".into(),
            expr: crate::compile(expr).unwrap(),
            target,
            status: RedirectStatus::from_code(code).unwrap(),
            preserve_query,
        }
    }

    #[test]
    fn statuses_are_the_five_redirects() {
        for code in [301, 302, 303, 307, 308] {
            assert_eq!(
                RedirectStatus::from_code(code).map(RedirectStatus::code),
                Some(code)
            );
        }
        for code in [300, 304, 305, 306, 200, 404] {
            assert_eq!(RedirectStatus::from_code(code), None, "{code}");
        }
    }

    #[test]
    fn query_is_kept_or_dropped() {
        let h: &[(&str, &str)] = &[];
        let r = req(&h);
        let vars = Vars::default();
        let t = || ValueExpr::template("https://new.example${path}").unwrap();
        let kept = rule("not ssl", t(), 308, true).redirect(&r, &vars).unwrap();
        assert_eq!(
            kept,
            Redirect {
                status: 308,
                location: "https://new.example/old/page?a=1&b=2".into()
            }
        );
        let dropped = rule("not ssl", t(), 302, false).redirect(&r, &vars).unwrap();
        assert_eq!(dropped.location, "https://new.example/old/page");
        assert_eq!(dropped.status, 302);
        // A target with its own query gets the request's after `&`.
        let both = rule("not ssl", ValueExpr::template("/n?src=old").unwrap(), 301, true);
        assert_eq!(both.redirect(&r, &vars).unwrap().location, "/n?src=old&a=1&b=2");
        assert!(rule("ssl", t(), 301, true).redirect(&r, &vars).is_none());
    }

    #[test]
    fn function_targets_and_encoding() {
        let h: &[(&str, &str)] = &[("x-lang", "fr ca")];
        let r = req(&h);
        let f = ValueExpr::function(r#"regex_replace(http.request.uri.path, "^/old/(.*)", "/new/${1}")"#);
        let red = rule("not ssl", f.unwrap(), 301, false)
            .redirect(&r, &Vars::default())
            .unwrap();
        assert_eq!(red.location, "/new/page");
        let t = ValueExpr::template("/${http.request.headers[\"x-lang\"]}/é").unwrap();
        let red = rule("not ssl", t, 303, false)
            .redirect(&r, &Vars::default())
            .unwrap();
        assert_eq!(red.location, "/fr%20ca/%C3%A9");
    }

    #[test]
    fn always_use_https_keeps_host_path_and_query() {
        let h: &[(&str, &str)] = &[];
        let mut r = req(&h);
        let red = https_redirect(&r, 443).unwrap();
        assert_eq!(red.status, 301);
        assert_eq!(red.location, "https://example.com/old/page?a=1&b=2");
        assert_eq!(
            https_redirect(&r, 8443).unwrap().location,
            "https://example.com:8443/old/page?a=1&b=2"
        );
        r.host = "[2001:db8::1]:80";
        r.query = "";
        assert_eq!(
            https_redirect(&r, 443).unwrap().location,
            "https://[2001:db8::1]/old/page"
        );
        r.path = "/.well-known/acme-challenge/tok";
        assert_eq!(https_redirect(&r, 443), None);
        r.path = "/";
        r.tls = true;
        assert_eq!(https_redirect(&r, 443), None);
    }
}
