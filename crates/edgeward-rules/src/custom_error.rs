//! Custom error rules (like Cloudflare's Custom Errors): by expression over the request and
//! `http.response.code`, replace an error response's body (HTML, JSON, text or markdown, with
//! `{{…}}` placeholders), its content type and, optionally, its status.
//!
//! Rules apply to edge-generated errors; a rule with `origin = true` also applies to error
//! responses from the origin. The first matching rule wins. Placeholders are escaped for the
//! body's format: HTML-escaped in HTML, JSON-string-escaped in JSON (write `"{{title}}"` with
//! quotes, `{{status}}` and `{{error_code}}` without; a missing error code is `null`), and
//! written as-is in text and markdown. It owns the body templates and the selection; it does
//! not own the catalog's titles and explanations (the proxy passes them in [`ErrorFacts`]) nor
//! writing the response (the proxy keeps the request id, `Cache-Control` and HEAD handling).

use crate::value::Vars;
use crate::{Expr, Request};
use http::HeaderValue;
use std::fmt::Write;

/// A body's format, which decides escaping and the default content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFormat {
    /// An HTML page.
    Html,
    /// A JSON document.
    Json,
    /// Plain text.
    Text,
    /// Markdown.
    Markdown,
}

impl ErrorFormat {
    /// Parses `html`, `json`, `text` or `markdown`.
    pub fn parse(s: &str) -> Option<ErrorFormat> {
        Some(match s {
            "html" => ErrorFormat::Html,
            "json" => ErrorFormat::Json,
            "text" => ErrorFormat::Text,
            "markdown" => ErrorFormat::Markdown,
            _ => return None,
        })
    }

    /// The format a file name's extension suggests (`.html`/`.htm`, `.json`, `.txt`, `.md`).
    pub fn from_file_name(name: &str) -> Option<ErrorFormat> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "html" | "htm" => ErrorFormat::Html,
            "json" => ErrorFormat::Json,
            "txt" => ErrorFormat::Text,
            "md" | "markdown" => ErrorFormat::Markdown,
            _ => return None,
        })
    }

    /// The content type sent unless the rule sets one.
    pub fn content_type(self) -> &'static str {
        match self {
            ErrorFormat::Html => "text/html; charset=utf-8",
            ErrorFormat::Json => "application/json",
            ErrorFormat::Text => "text/plain; charset=utf-8",
            ErrorFormat::Markdown => "text/markdown; charset=utf-8",
        }
    }
}

/// A value a body placeholder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    RequestId,
    Status,
    ErrorCode,
    ClientIp,
    Title,
    Explanation,
    Zone,
    Host,
    Path,
    Method,
}

const SLOTS: [(&str, Slot); 10] = [
    ("request_id", Slot::RequestId),
    ("status", Slot::Status),
    ("error_code", Slot::ErrorCode),
    ("client_ip", Slot::ClientIp),
    ("title", Slot::Title),
    ("explanation", Slot::Explanation),
    ("zone", Slot::Zone),
    ("host", Slot::Host),
    ("path", Slot::Path),
    ("method", Slot::Method),
];

#[derive(Clone, Debug)]
enum Segment {
    Lit(Box<str>),
    Slot(Slot),
}

/// Why a body template does not compile, and where (1-based, in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError {
    /// Line of the offending `{{`.
    pub line: usize,
    /// Column of the offending `{{`.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A compiled error body.
#[derive(Clone, Debug)]
pub struct ErrorBody {
    format: ErrorFormat,
    segments: Box<[Segment]>,
}

impl ErrorBody {
    /// Compiles `src` in `format`; an unknown or unclosed placeholder is an error.
    pub fn parse(format: ErrorFormat, src: &str) -> Result<ErrorBody, BodyError> {
        let at = |offset: usize, message: String| {
            let before = &src[..offset];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            BodyError {
                line: before.matches('\n').count() + 1,
                column: before[line_start..].chars().count() + 1,
                message,
            }
        };
        let mut segments = Vec::new();
        let mut rest = 0;
        while let Some(found) = src[rest..].find("{{") {
            let open = rest + found;
            if open > rest {
                segments.push(Segment::Lit(src[rest..open].into()));
            }
            let Some(len) = src[open + 2..].find("}}") else {
                return Err(at(open, "unclosed \"{{\"".into()));
            };
            let name = src[open + 2..open + 2 + len].trim();
            let slot = SLOTS.iter().find(|(n, _)| *n == name).map(|&(_, s)| s);
            let Some(slot) = slot else {
                let known: Vec<&str> = SLOTS.iter().map(|(n, _)| *n).collect();
                return Err(at(
                    open,
                    format!(
                        "unknown placeholder {{{{{name}}}}}: use one of {}",
                        known.join(", ")
                    ),
                ));
            };
            segments.push(Segment::Slot(slot));
            rest = open + 2 + len + 2;
        }
        if rest < src.len() {
            segments.push(Segment::Lit(src[rest..].into()));
        }
        Ok(ErrorBody {
            format,
            segments: segments.into(),
        })
    }

    /// The body's format.
    pub fn format(&self) -> ErrorFormat {
        self.format
    }

    /// The body for one error; `status` is the status sent.
    pub fn render(&self, req: &Request<'_>, vars: &Vars<'_>, facts: &ErrorFacts<'_>, status: u16) -> String {
        let literal: usize = self
            .segments
            .iter()
            .map(|s| if let Segment::Lit(l) = s { l.len() } else { 0 })
            .sum();
        let mut out = String::with_capacity(literal + facts.explanation.len() + facts.title.len() + 96);
        let mut num = itoa::Buffer::new();
        for seg in self.segments.iter() {
            let text: &str = match seg {
                Segment::Lit(s) => {
                    out.push_str(s);
                    continue;
                }
                Segment::Slot(Slot::RequestId) => vars.request_id,
                Segment::Slot(Slot::Zone) => vars.zone,
                Segment::Slot(Slot::Status) => num.format(status),
                Segment::Slot(Slot::ErrorCode) => match facts.error_code {
                    Some(code) => num.format(code),
                    None if self.format == ErrorFormat::Json => {
                        out.push_str("null");
                        continue;
                    }
                    None => "",
                },
                Segment::Slot(Slot::ClientIp) => {
                    let _ = write!(out, "{}", req.ip.to_canonical());
                    continue;
                }
                Segment::Slot(Slot::Title) => facts.title,
                Segment::Slot(Slot::Explanation) => facts.explanation,
                Segment::Slot(Slot::Host) => req.host,
                Segment::Slot(Slot::Path) => req.path,
                Segment::Slot(Slot::Method) => req.method,
            };
            push_escaped(&mut out, text, self.format);
        }
        out
    }
}

fn push_escaped(out: &mut String, s: &str, format: ErrorFormat) {
    match format {
        ErrorFormat::Html => {
            for c in s.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&#39;"),
                    c => out.push(c),
                }
            }
        }
        ErrorFormat::Json => {
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if u32::from(c) < 0x20 => {
                        let _ = write!(out, "\\u{:04x}", u32::from(c));
                    }
                    c => out.push(c),
                }
            }
        }
        ErrorFormat::Text | ErrorFormat::Markdown => out.push_str(s),
    }
}

/// What the proxy knows about the error response a rule may replace.
#[derive(Clone, Copy, Debug)]
pub struct ErrorFacts<'a> {
    /// The response's status (4xx or 5xx).
    pub status: u16,
    /// Whether the origin produced it (only rules with `origin = true` apply then).
    pub from_origin: bool,
    /// The catalog's `1xxx` code for an edge error; `None` for origin errors.
    pub error_code: Option<u16>,
    /// The catalog title (or the reason phrase for origin errors).
    pub title: &'a str,
    /// The catalog explanation (empty for origin errors).
    pub explanation: &'a str,
}

/// One `[[zones.custom_errors]]` rule.
#[derive(Clone, Debug)]
pub struct CustomErrorRule {
    /// Stable id, for logs.
    pub id: String,
    /// When the rule applies (compiled with [`crate::compile_response`]).
    pub expr: Expr,
    /// Whether the rule also applies to errors from the origin.
    pub origin: bool,
    /// The status to send instead (400–599), or `None` to keep the error's.
    pub status: Option<u16>,
    /// The `Content-Type` to send.
    pub content_type: HeaderValue,
    /// The body template.
    pub body: ErrorBody,
}

/// The replacement error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomError {
    /// The status to send.
    pub status: u16,
    /// The `Content-Type` value.
    pub content_type: HeaderValue,
    /// The rendered body.
    pub body: String,
}

/// The first rule matching this error, rendered; `None` (no allocation) when none matches.
pub fn select(
    rules: &[CustomErrorRule],
    req: &Request<'_>,
    vars: &Vars<'_>,
    facts: &ErrorFacts<'_>,
) -> Option<CustomError> {
    let rule = rules
        .iter()
        .find(|r| (r.origin || !facts.from_origin) && r.expr.eval_response(req, facts.status))?;
    let status = rule.status.unwrap_or(facts.status);
    Some(CustomError {
        status,
        content_type: rule.content_type.clone(),
        body: rule.body.render(req, vars, facts, status),
    })
}
