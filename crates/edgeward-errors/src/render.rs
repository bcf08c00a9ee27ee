//! The renderer: turns an [`EdgeError`] into a complete response (status, reason,
//! headers, body) in the format the client's `Accept` prefers.
//!
//! Owns the three body formats (branded HTML, RFC 9457 problem+json, plain text),
//! the headers every generated error carries, and the choice of a zone's custom
//! template. It does not own what an error means (the catalog) nor write bytes to
//! a socket (the connection writer adds `Date` and `Server`).

use std::net::IpAddr;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::catalog::EdgeError;
use crate::escape::{escape, push_escaped};
use crate::field;
use crate::negotiate::{negotiate, Format};
use crate::reason::reason_phrase;
use crate::template::{ErrorTemplate, TemplateVars};

/// The header carrying the request id ("Ray ID") on every generated error.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// What the renderer needs to know about the request besides the error.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The request id ("Ray ID").
    pub request_id: &'a str,
    /// The client's address, when known.
    pub client_ip: Option<IpAddr>,
    /// The requested host, when known.
    pub host: Option<&'a str>,
    /// The raw `Accept` header value, if any.
    pub accept: Option<&'a [u8]>,
    /// A HEAD request: same headers, empty body.
    pub head: bool,
    /// The zone's custom HTML page for this status, if configured.
    pub template: Option<&'a ErrorTemplate>,
}

impl<'a> RenderContext<'a> {
    /// A context with only a request id: no client IP, host, `Accept` or template; not HEAD.
    pub fn new(request_id: &'a str) -> Self {
        RenderContext {
            request_id,
            client_ip: None,
            host: None,
            accept: None,
            head: false,
            template: None,
        }
    }
}

/// A generated error response, ready for the connection writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The HTTP status.
    pub status: u16,
    /// The canonical reason phrase.
    pub reason: &'static str,
    /// Header fields with canonical-case names, e.g. `Content-Type`.
    pub headers: Vec<(&'static str, String)>,
    /// The body; empty for HEAD.
    pub body: Bytes,
    /// Whether the connection closes after this response.
    pub close: bool,
}

impl Rendered {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Renders `err` for the request described by `ctx`.
pub fn render(err: &EdgeError, ctx: &RenderContext<'_>) -> Rendered {
    let format = negotiate(ctx.accept);
    let status = err.status();
    let body = match (format, ctx.template) {
        (Format::Html, Some(template)) => template_body(err, ctx, template),
        (Format::Html, None) => html_body(err, ctx),
        (Format::ProblemJson, _) => problem_json_body(err, ctx),
        (Format::Text, _) => text_body(err, ctx),
    };
    let close = err.closes_connection();
    let mut headers = vec![
        ("Content-Type", format.content_type().to_owned()),
        // The length of the body a GET would get, also for HEAD (RFC 9110 §8.6).
        ("Content-Length", body.len().to_string()),
        ("Cache-Control", "no-store".to_owned()),
        (REQUEST_ID_HEADER, field::value(ctx.request_id)),
        ("Vary", "Accept".to_owned()),
    ];
    headers.extend(err.required_headers());
    if close {
        headers.push(("Connection", "close".to_owned()));
    }
    Rendered {
        status,
        reason: reason_phrase(status),
        headers,
        body: if ctx.head { Bytes::new() } else { Bytes::from(body) },
        close,
    }
}

fn template_body(err: &EdgeError, ctx: &RenderContext<'_>, template: &ErrorTemplate) -> String {
    let client_ip = ctx.client_ip.map(|ip| ip.to_string()).unwrap_or_default();
    let explanation = err.explanation();
    template.render(&TemplateVars {
        request_id: ctx.request_id,
        client_ip: &client_ip,
        status: err.status(),
        code: err.code(),
        title: err.title(),
        explanation: &explanation,
        host: ctx.host.unwrap_or(""),
    })
}

const HTML_HEAD: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"robots\" content=\"noindex, nofollow\">\n";

const HTML_STYLE: &str = "<style>\
body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",sans-serif;color:#1d2330;background:#f4f5f7}\
main{max-width:42rem;margin:8vh auto;padding:2rem;background:#fff;border-top:4px solid #e8590c;border-radius:6px}\
.brand{margin:0;font-weight:700;letter-spacing:.05em;color:#e8590c}\
h1{margin:.25rem 0 0;font-size:1.6rem}\
.code{margin:.25rem 0 1rem;color:#5c6370}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:1.5rem 0 0;padding-top:1rem;border-top:1px solid #e1e4e8;font-size:.9rem}\
dt{color:#5c6370}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}\
</style>\n</head>\n";

/// The branded page: brand, title, code and status, explanation, then the facts
/// a user quotes to the site owner (Ray ID, IP, rule id, host).
fn html_body(err: &EdgeError, ctx: &RenderContext<'_>) -> String {
    let status = err.status();
    let mut num = itoa::Buffer::new();
    let code = escape(num.format(err.code()));
    let title = escape(err.title());
    let mut out = String::with_capacity(2048);
    out.push_str(HTML_HEAD);
    out.push_str(&format!("<title>edgeward | Error {code}: {title}</title>\n"));
    out.push_str(HTML_STYLE);
    out.push_str("<body>\n<main>\n<p class=\"brand\">edgeward</p>\n");
    out.push_str(&format!("<h1>{title}</h1>\n"));
    out.push_str(&format!(
        "<p class=\"code\">Error {code} &middot; {} {}</p>\n<p>",
        num.format(status),
        escape(reason_phrase(status)),
    ));
    push_escaped(&mut out, &err.explanation());
    out.push_str("</p>\n<dl>\n");
    push_fact(&mut out, "Ray ID", ctx.request_id);
    if let Some(ip) = ctx.client_ip {
        push_fact(&mut out, "Your IP", &ip.to_string());
    }
    if let Some(rule_id) = err.rule_id() {
        push_fact(&mut out, "Rule ID", rule_id);
    }
    if let Some(host) = ctx.host {
        push_fact(&mut out, "Host", host);
    }
    out.push_str("</dl>\n</main>\n</body>\n</html>\n");
    out
}

fn push_fact(out: &mut String, label: &str, value: &str) {
    out.push_str("<dt>");
    out.push_str(label);
    out.push_str("</dt><dd>");
    push_escaped(out, value);
    out.push_str("</dd>\n");
}

/// RFC 9457 problem details, with `code`, `request_id` and (when known)
/// `rule_id`, `client_ip` and 406's `available` as extension members.
fn problem_json_body(err: &EdgeError, ctx: &RenderContext<'_>) -> String {
    let code = err.code();
    let mut doc = Map::new();
    doc.insert("type".into(), format!("urn:edgeward:error:{code}").into());
    doc.insert("title".into(), err.title().into());
    doc.insert("status".into(), err.status().into());
    doc.insert("detail".into(), err.explanation().into());
    doc.insert("code".into(), code.into());
    doc.insert("request_id".into(), ctx.request_id.into());
    if let Some(rule_id) = err.rule_id() {
        doc.insert("rule_id".into(), rule_id.into());
    }
    if let Some(ip) = ctx.client_ip {
        doc.insert("client_ip".into(), ip.to_string().into());
    }
    if let EdgeError::NotAcceptable { available } = err {
        doc.insert("available".into(), available.clone().into());
    }
    Value::Object(doc).to_string()
}

/// A few lines for terminals and scripts.
fn text_body(err: &EdgeError, ctx: &RenderContext<'_>) -> String {
    let status = err.status();
    let mut out = format!(
        "{status} {}\nerror {}: {}\n{}\nray id: {}\n",
        reason_phrase(status),
        err.code(),
        err.title(),
        err.explanation(),
        ctx.request_id,
    );
    if let Some(rule_id) = err.rule_id() {
        out.push_str(&format!("rule id: {rule_id}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{BadRequest, ForbiddenReason, RateLimited};

    fn forbidden() -> EdgeError {
        EdgeError::Forbidden {
            reason: ForbiddenReason::FirewallRule,
            rule_id: "fw-\"7\"".to_owned(),
        }
    }

    fn ctx<'a>(accept: &'a str) -> RenderContext<'a> {
        RenderContext {
            accept: Some(accept.as_bytes()),
            client_ip: Some("2001:db8::1".parse().unwrap()),
            host: Some("a.example"),
            ..RenderContext::new("ray-1")
        }
    }

    fn body(r: &Rendered) -> &str {
        std::str::from_utf8(&r.body).unwrap()
    }

    #[test]
    fn problem_json_parses_back() {
        let err = forbidden();
        let r = render(&err, &ctx("application/json"));
        assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], format!("urn:edgeward:error:{}", err.code()));
        assert_eq!(v["title"], err.title());
        assert_eq!(v["status"], err.status());
        assert_eq!(v["detail"], err.explanation());
        assert_eq!(v["code"], err.code());
        assert_eq!(v["request_id"], "ray-1");
        assert_eq!(v["rule_id"], "fw-\"7\"");
        assert_eq!(v["client_ip"], "2001:db8::1");
        assert_eq!(v.as_object().unwrap().len(), 8);
    }

    #[test]
    fn problem_json_omits_unknown_members() {
        let err = EdgeError::BadRequest(BadRequest::BareCr);
        let r = render(
            &err,
            &RenderContext {
                accept: Some(b"application/*"),
                ..RenderContext::new("x")
            },
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let obj = v.as_object().unwrap();
        assert!(!obj.contains_key("rule_id") && !obj.contains_key("client_ip"));
        assert_eq!(obj.len(), 6);
    }

    #[test]
    fn problem_json_carries_429_rule_and_406_types() {
        let err = EdgeError::TooManyRequests(RateLimited {
            rule_id: "login".to_owned(),
            retry_after: 9,
            limit: 5,
            window: 60,
        });
        let v: Value = serde_json::from_slice(&render(&err, &ctx("application/json")).body).unwrap();
        assert_eq!(v["rule_id"], "login");
        let err = EdgeError::NotAcceptable {
            available: vec!["text/csv".to_owned()],
        };
        let r = render(&err, &ctx("application/json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["available"], serde_json::json!(["text/csv"]));
        assert!(body(&render(&err, &ctx("text/html"))).contains("text/csv"));
    }

    #[test]
    fn text_body_is_a_few_plain_lines() {
        let err = EdgeError::BadRequest(BadRequest::BareLf);
        let r = render(&err, &ctx("text/plain"));
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        let expected = format!(
            "{} {}\nerror {}: {}\n{}\nray id: ray-1\n",
            err.status(),
            r.reason,
            err.code(),
            err.title(),
            err.explanation()
        );
        assert_eq!(body(&r), expected);
        let r = render(&forbidden(), &ctx("text/plain"));
        assert!(body(&r).ends_with("ray id: ray-1\nrule id: fw-\"7\"\n"));
    }

    #[test]
    fn html_page_is_branded_and_escaped() {
        let err = EdgeError::UnknownHost {
            host: "<img src=x onerror=alert(1)>".to_owned(),
        };
        let r = render(&err, &ctx("text/html"));
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        let html = body(&r);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(&format!("<title>edgeward | Error {}: ", err.code())));
        assert!(html.contains(&format!("Error {}", err.code())));
        assert!(html.contains(&format!("{} {}", err.status(), r.reason)));
        assert!(html.contains("ray-1") && html.contains("2001:db8::1"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("Rule ID"), "only 403/429 show a rule id");
        assert!(body(&render(&forbidden(), &ctx("text/html"))).contains("Rule ID"));
    }

    #[test]
    fn missing_or_unacceptable_accept_serves_html() {
        let r = render(&EdgeError::NotFound, &RenderContext::new("r"));
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        assert!(!body(&r).contains("Your IP"));
        let r = render(&EdgeError::NotFound, &ctx("image/webp"));
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    }

    #[test]
    fn template_replaces_html_only() {
        let template =
            ErrorTemplate::parse("<h1>{{ code }}</h1>{{title}} {{client_ip}} {{host}} {{request_id}}")
                .unwrap();
        let err = forbidden();
        let c = RenderContext {
            template: Some(&template),
            ..ctx("text/html")
        };
        let r = render(&err, &c);
        assert_eq!(
            body(&r),
            format!(
                "<h1>{}</h1>{} 2001:db8::1 a.example ray-1",
                err.code(),
                err.title()
            )
        );
        assert_eq!(
            r.header("Content-Length"),
            Some(r.body.len().to_string().as_str())
        );
        let head = render(&err, &RenderContext { head: true, ..c });
        assert!(head.body.is_empty());
        assert_eq!(head.headers, r.headers);
        let json = render(
            &err,
            &RenderContext {
                accept: Some(b"application/json"),
                ..c
            },
        );
        assert!(serde_json::from_slice::<Value>(&json.body).is_ok());
        let no_ip = render(
            &err,
            &RenderContext {
                client_ip: None,
                host: None,
                ..c
            },
        );
        assert!(body(&no_ip).ends_with(&format!("{}   ray-1", err.title())));
    }

    #[test]
    fn content_length_counts_bytes_not_chars() {
        let err = EdgeError::UnknownHost {
            host: "bücher.example".to_owned(),
        };
        let r = render(&err, &ctx("text/plain"));
        assert!(body(&r).contains("bücher"));
        assert_eq!(r.header("Content-Length").unwrap(), r.body.len().to_string());
        assert!(r.body.len() > body(&r).chars().count());
    }
}
