//! The renderer: turns an [`EdgeError`] into a complete response (status, reason,
//! headers, body) in the format the client's `Accept` prefers.
//!
//! Owns the body formats (branded HTML, plain text here; problem+json, its
//! `application/json` mirror and markdown in `structured`), the headers every
//! generated error carries, and the choice of a zone's custom template. It does
//! not own what an error means (the catalog) nor write bytes to a socket (the
//! connection writer adds `Date` and `Server`).
//!
//! Every edge error carries `Edgeward-Error-Type` (its [`ErrorCategory`] token,
//! e.g. `rate_limit`) and `Edgeward-Error-Code` (e.g. `1015`); security
//! mitigations also carry `Edgeward-Mitigated: block | challenge | rate_limit`
//! (in the spirit of Cloudflare's `cf-error-type` and `cf-mitigated`). Origin
//! responses never carry them, so a client can tell the edge's errors apart.
//!
//! [`ErrorCategory`]: crate::ErrorCategory

use std::net::IpAddr;
use std::time::SystemTime;

use bytes::Bytes;

use crate::catalog::EdgeError;
use crate::escape::{escape, push_escaped};
use crate::field;
use crate::negotiate::{negotiate, Format};
use crate::reason::reason_phrase;
use crate::structured::{markdown_body, problem_json_body};
use crate::template::{ErrorTemplate, TemplateVars};

/// The header carrying the request id ("Ray ID") on every generated error.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// The header naming an edge error's category (`rate_limit`, `access_denied`, …).
pub const ERROR_TYPE_HEADER: &str = "Edgeward-Error-Type";

/// The header carrying an edge error's code (`1015`).
pub const ERROR_CODE_HEADER: &str = "Edgeward-Error-Code";

/// The header naming the security mitigation applied (`block`, `challenge`, `rate_limit`).
pub const MITIGATED_HEADER: &str = "Edgeward-Mitigated";

/// Where the edge serves the page documenting an error code (the problem `type` URI).
pub const ERROR_PAGE_PREFIX: &str = "/.edgeward/error/";

/// The path of the page documenting `code`, e.g. `/.edgeward/error/1015`.
pub fn error_page_path(code: u16) -> String {
    format!("{ERROR_PAGE_PREFIX}{code}")
}

/// The code named by an error page path (`/.edgeward/error/1015` → 1015); `None`
/// for any other path, or a code with leading zeros or extra characters.
pub fn parse_error_page_path(path: &str) -> Option<u16> {
    let digits = path.strip_prefix(ERROR_PAGE_PREFIX)?;
    let well_formed = !digits.is_empty()
        && digits.len() <= 5
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| digits.parse().ok()).flatten()
}

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
    /// The zone's name, when the request was routed to one (`zone` in the structured formats).
    pub zone: Option<&'a str>,
    /// When the error happened; `None` renders the current time.
    pub timestamp: Option<SystemTime>,
}

impl<'a> RenderContext<'a> {
    /// A context with only a request id: no client IP, host, `Accept`, template or
    /// zone; not HEAD; timestamped when rendered.
    pub fn new(request_id: &'a str) -> Self {
        RenderContext {
            request_id,
            client_ip: None,
            host: None,
            accept: None,
            head: false,
            template: None,
            zone: None,
            timestamp: None,
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
    let body = body(err, ctx, format, ctx.template);
    let close = err.closes_connection();
    let mut headers = common_headers(format, &body, ctx);
    headers.push((ERROR_TYPE_HEADER, err.category().as_str().to_owned()));
    headers.push((ERROR_CODE_HEADER, err.code().to_string()));
    if let Some(mitigation) = err.mitigation() {
        headers.push((MITIGATED_HEADER, mitigation.to_owned()));
    }
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

/// Renders the page documenting `err` (what `/.edgeward/error/<code>` serves, the
/// problem `type` URI): the same body as [`render`] in the negotiated format, but
/// as a `200 OK` without the error's own headers (`WWW-Authenticate`,
/// `Retry-After`, `Edgeward-*`, `Connection: close`), since nothing failed.
/// Zone templates are not used.
pub fn render_page(err: &EdgeError, ctx: &RenderContext<'_>) -> Rendered {
    let format = negotiate(ctx.accept);
    let body = body(err, ctx, format, None);
    Rendered {
        status: 200,
        reason: reason_phrase(200),
        headers: common_headers(format, &body, ctx),
        body: if ctx.head { Bytes::new() } else { Bytes::from(body) },
        close: false,
    }
}

fn body(
    err: &EdgeError,
    ctx: &RenderContext<'_>,
    format: Format,
    template: Option<&ErrorTemplate>,
) -> String {
    match (format, template) {
        (Format::Html, Some(template)) => template_body(err, ctx, template),
        (Format::Html, None) => html_body(err, ctx),
        (Format::ProblemJson | Format::Json, _) => problem_json_body(err, ctx),
        (Format::Markdown, _) => markdown_body(err, ctx),
        (Format::Text, _) => text_body(err, ctx),
    }
}

/// The headers every generated response carries.
fn common_headers(format: Format, body: &str, ctx: &RenderContext<'_>) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", format.content_type().to_owned()),
        // The length of the body a GET would get, also for HEAD (RFC 9110 §8.6).
        ("Content-Length", body.len().to_string()),
        ("Cache-Control", "no-store".to_owned()),
        (REQUEST_ID_HEADER, field::value(ctx.request_id)),
        ("Vary", "Accept".to_owned()),
    ]
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
    use serde_json::Value;

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
    fn problem_json_keeps_its_members_and_mirrors_the_asked_type() {
        let err = forbidden();
        let r = render(&err, &ctx("application/problem+json"));
        assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], format!("/.edgeward/error/{}", err.code()));
        assert_eq!(v["rule_id"], "fw-\"7\"");
        assert_eq!(v["client_ip"], "2001:db8::1");
        let mirror = render(&err, &ctx("application/json"));
        assert_eq!(mirror.header("Content-Type"), Some("application/json"));
        assert_eq!(
            serde_json::from_slice::<Value>(&mirror.body).unwrap()["ray_id"],
            "ray-1"
        );
        let bare = render(
            &EdgeError::BadRequest(BadRequest::BareCr),
            &RenderContext {
                accept: Some(b"application/*"),
                ..RenderContext::new("x")
            },
        );
        assert_eq!(bare.header("Content-Type"), Some("application/problem+json"));
        let obj: Value = serde_json::from_slice(&bare.body).unwrap();
        assert!(obj.get("rule_id").is_none() && obj.get("client_ip").is_none());
    }

    #[test]
    fn edge_errors_are_marked_by_type_code_and_mitigation_headers() {
        let r = render(&forbidden(), &ctx("text/html"));
        assert_eq!(r.header("Edgeward-Error-Type"), Some("access_denied"));
        assert_eq!(r.header("Edgeward-Error-Code"), Some("1020"));
        assert_eq!(r.header("Edgeward-Mitigated"), Some("block"));
        let r = render(&EdgeError::NotFound, &ctx("text/html"));
        assert_eq!(r.header("Edgeward-Error-Type"), Some("resource"));
        assert_eq!(r.header("Edgeward-Mitigated"), None);
    }

    #[test]
    fn the_documentation_page_is_a_200_without_the_errors_headers() {
        let err = EdgeError::TooManyRequests(RateLimited {
            rule_id: "login".to_owned(),
            retry_after: 9,
            limit: 5,
            window: 60,
        });
        let page = render_page(&err, &ctx("text/markdown"));
        assert_eq!((page.status, page.reason, page.close), (200, "OK", false));
        for name in [
            "Retry-After",
            "RateLimit",
            "Edgeward-Error-Code",
            "Edgeward-Mitigated",
            "Connection",
        ] {
            assert_eq!(page.header(name), None, "{name}");
        }
        assert!(body(&page).contains("error_code: 1015"));
        let head = render_page(
            &err,
            &RenderContext {
                head: true,
                ..ctx("text/markdown")
            },
        );
        assert!(head.body.is_empty());
        assert_eq!(head.header("Content-Length"), page.header("Content-Length"));
    }

    #[test]
    fn error_page_paths_round_trip() {
        assert_eq!(error_page_path(1015), "/.edgeward/error/1015");
        assert_eq!(parse_error_page_path("/.edgeward/error/1015"), Some(1015));
        for bad in [
            "/.edgeward/error/",
            "/.edgeward/error/01015",
            "/.edgeward/error/10x",
            "/.edgeward/error/999999",
            "/x/1015",
        ] {
            assert_eq!(parse_error_page_path(bad), None, "{bad}");
        }
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
