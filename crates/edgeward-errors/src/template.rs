//! A zone's custom HTML error page: compiled once into literal and placeholder
//! segments, rendered per error with every placeholder HTML-escaped.
//!
//! Owns the `{{name}}` syntax and its errors. It does not decide when a template
//! is used (the renderer does) nor load templates (the config does).

use std::fmt;

use crate::escape::push_escaped;

/// A value a template can interpolate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    RequestId,
    ClientIp,
    Status,
    Code,
    Title,
    Explanation,
    Host,
}

impl Placeholder {
    const ALL: [(&'static str, Placeholder); 7] = [
        ("request_id", Placeholder::RequestId),
        ("client_ip", Placeholder::ClientIp),
        ("status", Placeholder::Status),
        ("code", Placeholder::Code),
        ("title", Placeholder::Title),
        ("explanation", Placeholder::Explanation),
        ("host", Placeholder::Host),
    ];

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(Placeholder),
}

/// A compiled custom error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorTemplate {
    segments: Vec<Segment>,
}

/// The values a template's placeholders take for one error.
#[derive(Debug, Clone, Copy)]
pub struct TemplateVars<'a> {
    /// `{{request_id}}`: the Ray ID.
    pub request_id: &'a str,
    /// `{{client_ip}}`: the client's address, or empty when unknown.
    pub client_ip: &'a str,
    /// `{{status}}`: the HTTP status.
    pub status: u16,
    /// `{{code}}`: the edgeward error code.
    pub code: u16,
    /// `{{title}}`: the error's title.
    pub title: &'a str,
    /// `{{explanation}}`: the error's explanation.
    pub explanation: &'a str,
    /// `{{host}}`: the requested host, or empty when unknown.
    pub host: &'a str,
}

/// Why a template does not compile, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the offending `{{` in the source.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for TemplateError {}

impl ErrorTemplate {
    /// Compiles `src`; an unknown placeholder or an unclosed `{{` is an error
    /// naming the byte offset of its `{{`.
    pub fn parse(src: &str) -> Result<ErrorTemplate, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = 0;
        while let Some(found) = src[rest..].find("{{") {
            let open = rest + found;
            if open > rest {
                segments.push(Segment::Literal(src[rest..open].to_owned()));
            }
            let inner_start = open + 2;
            let Some(len) = src[inner_start..].find("}}") else {
                return Err(TemplateError {
                    offset: open,
                    message: "unclosed `{{`".to_owned(),
                });
            };
            let name = src[inner_start..inner_start + len].trim();
            let Some(p) = Placeholder::from_name(name) else {
                let known: Vec<&str> = Placeholder::ALL.iter().map(|(n, _)| *n).collect();
                return Err(TemplateError {
                    offset: open,
                    message: format!(
                        "unknown placeholder `{name}` (expected one of: {})",
                        known.join(", ")
                    ),
                });
            };
            segments.push(Segment::Placeholder(p));
            rest = inner_start + len + 2;
        }
        if rest < src.len() {
            segments.push(Segment::Literal(src[rest..].to_owned()));
        }
        Ok(ErrorTemplate { segments })
    }

    /// The page for `vars`, each placeholder HTML-escaped.
    pub fn render(&self, vars: &TemplateVars<'_>) -> String {
        let mut out = String::with_capacity(self.len_hint(vars));
        let mut num = itoa::Buffer::new();
        for seg in &self.segments {
            let text = match seg {
                Segment::Literal(s) => {
                    out.push_str(s);
                    continue;
                }
                Segment::Placeholder(Placeholder::RequestId) => vars.request_id,
                Segment::Placeholder(Placeholder::ClientIp) => vars.client_ip,
                Segment::Placeholder(Placeholder::Status) => num.format(vars.status),
                Segment::Placeholder(Placeholder::Code) => num.format(vars.code),
                Segment::Placeholder(Placeholder::Title) => vars.title,
                Segment::Placeholder(Placeholder::Explanation) => vars.explanation,
                Segment::Placeholder(Placeholder::Host) => vars.host,
            };
            push_escaped(&mut out, text);
        }
        out
    }

    fn len_hint(&self, vars: &TemplateVars<'_>) -> usize {
        let literal: usize = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.len(),
                Segment::Placeholder(_) => 0,
            })
            .sum();
        literal + vars.explanation.len() + vars.title.len() + 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> TemplateVars<'static> {
        TemplateVars {
            request_id: "8f1c2a",
            client_ip: "203.0.113.7",
            status: 403,
            code: 1020,
            title: "Access <denied>",
            explanation: "Rule \"r1\" & 'friends' blocked you.",
            host: "example.com",
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let t = ErrorTemplate::parse(
            "{{request_id}}|{{client_ip}}|{{status}}|{{code}}|{{host}}|{{title}}|{{explanation}}",
        )
        .unwrap();
        assert_eq!(
            t.render(&vars()),
            "8f1c2a|203.0.113.7|403|1020|example.com|Access &lt;denied&gt;|\
             Rule &quot;r1&quot; &amp; &#39;friends&#39; blocked you."
        );
    }

    #[test]
    fn whitespace_inside_braces_and_literals_kept_verbatim() {
        let t = ErrorTemplate::parse("<h1>{{ status }}</h1><p>{{\tcode\n}}</p> <b>&amp;</b> }}").unwrap();
        assert_eq!(t.render(&vars()), "<h1>403</h1><p>1020</p> <b>&amp;</b> }}");
    }

    #[test]
    fn empty_and_placeholder_free_templates() {
        assert_eq!(ErrorTemplate::parse("").unwrap().render(&vars()), "");
        assert_eq!(
            ErrorTemplate::parse("plain <p>").unwrap().render(&vars()),
            "plain <p>"
        );
    }

    #[test]
    fn unknown_placeholder_names_its_offset() {
        let err = ErrorTemplate::parse("<p>ok {{status}}</p>{{ ray }}").unwrap_err();
        assert_eq!(err.offset, 20);
        assert!(
            err.message.contains("unknown placeholder `ray`"),
            "{}",
            err.message
        );
        assert!(err.to_string().starts_with("at byte 20: unknown placeholder"));
        let err = ErrorTemplate::parse("é{{}}").unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(err.message.contains("``"));
    }

    #[test]
    fn unclosed_braces_name_their_offset() {
        let err = ErrorTemplate::parse("abc {{status}} {{code").unwrap_err();
        assert_eq!(
            err,
            TemplateError {
                offset: 15,
                message: "unclosed `{{`".to_owned()
            }
        );
        assert_eq!(err.to_string(), "at byte 15: unclosed `{{`");
        let err = ErrorTemplate::parse("{{ status }").unwrap_err();
        assert_eq!(err.offset, 0);
    }

    #[test]
    fn nested_open_braces_are_an_unknown_placeholder() {
        let err = ErrorTemplate::parse("x{{ {{status}}").unwrap_err();
        assert_eq!(err.offset, 1);
        assert!(err.message.contains("unknown placeholder"));
    }

    #[test]
    fn template_error_is_a_std_error() {
        let err: Box<dyn std::error::Error> = Box::new(ErrorTemplate::parse("{{").unwrap_err());
        assert_eq!(err.to_string(), "at byte 0: unclosed `{{`");
    }
}
