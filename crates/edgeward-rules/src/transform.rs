//! Transform rules: by expression, set / add / remove request headers before the origin and
//! response headers before the client, and rewrite the path and query.
//!
//! Every rule whose expression matches applies, in order; expressions and `${…}` values read
//! the request as the client sent it (a rewrite by an earlier rule is not seen by a later
//! rule's expression), and a later operation on the same header or URI part wins. Within a
//! rule, header operations apply in the order written. It owns the operations and applying them
//! to an `http::HeaderMap`; it does not own when they run (the proxy's request and response
//! stages) nor hop-by-hop handling (framing headers cannot be touched here at all).

use crate::redirect::location;
use crate::value::{ValueExpr, Vars};
use crate::{Expr, Request};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Headers a transform may not touch: they frame or route the message, which the proxy owns.
const PROTECTED: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A header value: fixed (validated once, cloned without allocating) or computed per request.
#[derive(Clone, Debug)]
enum HeaderText {
    Static(HeaderValue),
    Dynamic(ValueExpr),
}

/// What an operation does to its header.
#[derive(Clone, Debug)]
enum Change {
    /// Replace every value with one.
    Set(HeaderText),
    /// Append a value, keeping existing ones.
    Add(HeaderText),
    /// Remove every value.
    Remove,
}

/// One header operation: set, add or remove a header.
#[derive(Clone, Debug)]
pub struct HeaderOp {
    name: HeaderName,
    change: Change,
}

impl HeaderOp {
    /// Sets `name` to `value` (replacing every existing value).
    pub fn set(name: &str, value: ValueExpr) -> Result<HeaderOp, String> {
        Ok(HeaderOp {
            name: header_name(name)?,
            change: Change::Set(header_text(value)?),
        })
    }

    /// Adds a `name: value` field, keeping existing ones.
    pub fn add(name: &str, value: ValueExpr) -> Result<HeaderOp, String> {
        Ok(HeaderOp {
            name: header_name(name)?,
            change: Change::Add(header_text(value)?),
        })
    }

    /// Removes every `name` field.
    pub fn remove(name: &str) -> Result<HeaderOp, String> {
        Ok(HeaderOp {
            name: header_name(name)?,
            change: Change::Remove,
        })
    }

    /// The header this operation changes.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// Applies the operation; `false` when a computed value is not a valid field value.
    fn apply(&self, req: &Request<'_>, vars: &Vars<'_>, headers: &mut HeaderMap) -> bool {
        let value = |text: &HeaderText| match text {
            HeaderText::Static(v) => Some(v.clone()),
            HeaderText::Dynamic(expr) => {
                let mut s = String::new();
                expr.write(req, vars, &mut s);
                HeaderValue::try_from(s).ok()
            }
        };
        match &self.change {
            Change::Set(text) => value(text)
                .map(|v| headers.insert(self.name.clone(), v))
                .is_some(),
            Change::Add(text) => value(text)
                .map(|v| headers.append(self.name.clone(), v))
                .is_some(),
            Change::Remove => {
                headers.remove(&self.name);
                true
            }
        }
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        format!("invalid header name \"{name}\": use letters, digits and - ! # $ % & ' * + . ^ _ ` | ~")
    })?;
    if PROTECTED.contains(&parsed.as_str()) {
        return Err(format!(
            "header \"{name}\" frames or routes the message and cannot be transformed"
        ));
    }
    Ok(parsed)
}

fn header_text(value: ValueExpr) -> Result<HeaderText, String> {
    Ok(match value.as_static() {
        Some(s) => HeaderText::Static(
            HeaderValue::from_str(s)
                .map_err(|_| format!("invalid header value \"{s}\": no control characters"))?,
        ),
        None => HeaderText::Dynamic(value),
    })
}

/// One `[[zones.request_transforms]]` rule.
#[derive(Clone, Debug)]
pub struct RequestTransform {
    /// Stable id, for logs.
    pub id: String,
    /// When the rule applies.
    pub expr: Expr,
    /// Header operations, in order.
    pub headers: Vec<HeaderOp>,
    /// The new path (must render to something starting with `/`, else it is skipped).
    pub path: Option<ValueExpr>,
    /// The new query, without `?` (empty removes the query).
    pub query: Option<ValueExpr>,
}

/// One `[[zones.response_transforms]]` rule; its expression may read `http.response.code`.
#[derive(Clone, Debug)]
pub struct ResponseTransform {
    /// Stable id, for logs.
    pub id: String,
    /// When the rule applies (compiled with [`crate::compile_response`]).
    pub expr: Expr,
    /// Header operations, in order.
    pub headers: Vec<HeaderOp>,
}

/// What applying transforms did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Rules whose expression matched.
    pub rules: u32,
    /// Operations skipped because a computed value was not a valid header value or path.
    pub skipped: u32,
}

/// Applies matching request transforms: header operations to `headers`, and a rewrite (if any
/// rule rewrites the path or query) as `Some("path?query")` in `path_and_query`.
pub fn apply_request(
    rules: &[RequestTransform],
    req: &Request<'_>,
    vars: &Vars<'_>,
    headers: &mut HeaderMap,
    path_and_query: &mut Option<String>,
) -> Applied {
    let mut applied = Applied::default();
    let mut path: Option<String> = None;
    let mut query: Option<String> = None;
    for rule in rules {
        if !rule.expr.eval(req) {
            continue;
        }
        applied.rules += 1;
        for op in &rule.headers {
            if !op.apply(req, vars, headers) {
                applied.skipped += 1;
            }
        }
        if let Some(expr) = &rule.path {
            let mut p = String::new();
            expr.write(req, vars, &mut p);
            if p.starts_with('/') {
                path = Some(p);
            } else {
                applied.skipped += 1;
            }
        }
        if let Some(expr) = &rule.query {
            let mut q = String::new();
            expr.write(req, vars, &mut q);
            query = Some(q);
        }
    }
    if path.is_some() || query.is_some() {
        let p = path.as_deref().unwrap_or(req.path);
        let q = query.as_deref().unwrap_or(req.query);
        *path_and_query = Some(location(p, q));
    }
    applied
}

/// Applies matching response transforms to `headers`; `status` is the response's status.
pub fn apply_response(
    rules: &[ResponseTransform],
    req: &Request<'_>,
    vars: &Vars<'_>,
    status: u16,
    headers: &mut HeaderMap,
) -> Applied {
    let mut applied = Applied::default();
    for rule in rules {
        if !rule.expr.eval_response(req, status) {
            continue;
        }
        applied.rules += 1;
        for op in &rule.headers {
            if !op.apply(req, vars, headers) {
                applied.skipped += 1;
            }
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compile, compile_response};

    fn t(s: &str) -> ValueExpr {
        ValueExpr::template(s).unwrap()
    }

    fn values(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn request_headers_apply_in_order_and_later_rules_win() {
        let rules = vec![
            RequestTransform {
                id: "a".into(),
                expr: compile(r#"starts_with(http.request.uri.path, "/api/")"#).unwrap(),
                headers: vec![
                    HeaderOp::set("X-Client-IP", t("${ip.src}")).unwrap(),
                    HeaderOp::add("x-tag", t("one")).unwrap(),
                    HeaderOp::add("x-tag", t("${zone}")).unwrap(),
                    HeaderOp::remove("cookie").unwrap(),
                    HeaderOp::set("x-rid", t("${request_id}")).unwrap(),
                ],
                path: None,
                query: None,
            },
            RequestTransform {
                id: "b".into(),
                expr: compile("not ssl").unwrap(),
                headers: vec![HeaderOp::set("x-rid", t("late")).unwrap()],
                path: None,
                query: None,
            },
            RequestTransform {
                id: "never".into(),
                expr: compile("ssl").unwrap(),
                headers: vec![HeaderOp::remove("x-tag").unwrap()],
                path: None,
                query: None,
            },
        ];
        let hs: &[(&str, &str)] = &[];
        let mut req = Request::new("203.0.113.9".parse().unwrap(), &hs);
        req.path = "/api/v1";
        let mut headers = HeaderMap::new();
        headers.insert("cookie", HeaderValue::from_static("s=1"));
        headers.insert("x-tag", HeaderValue::from_static("zero"));
        let mut pq = None;
        let vars = Vars {
            request_id: "8f1c",
            zone: "www",
        };
        let done = apply_request(&rules, &req, &vars, &mut headers, &mut pq);
        assert_eq!(done, Applied { rules: 2, skipped: 0 });
        assert_eq!(values(&headers, "x-client-ip"), ["203.0.113.9"]);
        assert_eq!(values(&headers, "x-tag"), ["zero", "one", "www"]);
        assert_eq!(values(&headers, "x-rid"), ["late"]);
        assert!(headers.get("cookie").is_none());
        assert_eq!(pq, None, "no rewrite, no new target");
    }

    #[test]
    fn path_and_query_rewrites() {
        let rule = |path: Option<ValueExpr>, query: Option<ValueExpr>| RequestTransform {
            id: "r".into(),
            expr: compile("not ssl").unwrap(),
            headers: Vec::new(),
            path,
            query,
        };
        let hs: &[(&str, &str)] = &[];
        let mut req = Request::new("203.0.113.9".parse().unwrap(), &hs);
        req.path = "/blog/2024/post";
        req.query = "ref=x";
        let run = |rules: &[RequestTransform], req: &Request<'_>| {
            let mut pq = None;
            let done = apply_request(rules, req, &Vars::default(), &mut HeaderMap::new(), &mut pq);
            (pq, done.skipped)
        };
        let f = ValueExpr::function(r#"regex_replace(http.request.uri.path, "^/blog/", "/news/")"#).unwrap();
        assert_eq!(
            run(&[rule(Some(f), None)], &req),
            (Some("/news/2024/post?ref=x".into()), 0)
        );
        assert_eq!(
            run(&[rule(None, Some(t("")))], &req),
            (Some("/blog/2024/post".into()), 0)
        );
        let both = [
            rule(Some(t("/a")), None),
            rule(Some(t("/b${path}")), Some(t("v=2&${query}"))),
        ];
        assert_eq!(run(&both, &req), (Some("/b/blog/2024/post?v=2&ref=x".into()), 0));
        assert_eq!(run(&[rule(Some(t("no-slash")), None)], &req), (None, 1));
    }

    #[test]
    fn response_rules_see_the_status_and_invalid_values_are_skipped() {
        let rules = vec![ResponseTransform {
            id: "r".into(),
            expr: compile_response("http.response.code ge 400").unwrap(),
            headers: vec![
                HeaderOp::set("x-error", t("${http.request.headers[\"x-in\"]}")).unwrap(),
                HeaderOp::remove("server").unwrap(),
            ],
        }];
        let hs: &[(&str, &str)] = &[("x-in", "bad\u{1}value")];
        let req = Request::new("203.0.113.9".parse().unwrap(), &hs);
        let mut headers = HeaderMap::new();
        headers.insert("server", HeaderValue::from_static("origin"));
        let done = apply_response(&rules, &req, &Vars::default(), 200, &mut headers);
        assert_eq!(done, Applied::default());
        assert!(headers.contains_key("server"));
        let done = apply_response(&rules, &req, &Vars::default(), 404, &mut headers);
        assert_eq!(done, Applied { rules: 1, skipped: 1 });
        assert!(!headers.contains_key("server") && !headers.contains_key("x-error"));
    }

    #[test]
    fn framing_headers_and_bad_values_are_refused() {
        for name in ["Content-Length", "transfer-encoding", "Host", "connection"] {
            assert!(
                HeaderOp::set(name, t("x"))
                    .unwrap_err()
                    .contains("cannot be transformed"),
                "{name}"
            );
        }
        assert!(HeaderOp::remove("bad name")
            .unwrap_err()
            .contains("invalid header name"));
        assert!(HeaderOp::set("x-a", t("a\nb"))
            .unwrap_err()
            .contains("invalid header value"));
    }
}
