//! A zone's traffic rules as configured: `always_use_https`, `[zones.hsts]`,
//! `[[zones.redirects]]`, `[[zones.redirect_lists]]`, `[[zones.request_transforms]]`,
//! `[[zones.response_transforms]]` and `[[zones.custom_errors]]`.
//!
//! Owns their TOML shape and validation into `edgeward-rules`' own types
//! ([`TrafficRules`] and its parts; nothing mirrored). Expressions, `${…}` templates and value
//! functions are compiled here so a fault is reported at its line and column; bulk list files
//! are read by `traffic/lists.rs`. It does not apply any of it (the proxy does).
//!
//! ```toml
//! [[zones]]
//! always_use_https = true
//! hsts = { max_age = 31536000, include_subdomains = true, preload = false }
//!
//! [[zones.redirects]]
//! id = "old-blog"
//! expression = 'starts_with(http.request.uri.path, "/blog/")'
//! target_expression = 'regex_replace(http.request.uri.path, "^/blog/(.*)", "/news/${1}")'
//! status = 301                   # 301 (default), 302, 303, 307 or 308
//! preserve_query = true
//! ```

mod lists;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use edgeward_rules::{
    CompileError, CustomErrorRule, ErrorBody, ErrorFacts, ErrorFormat, Expr, HeaderOp, Hsts, RedirectRule,
    RedirectStatus, Request, RequestTransform, ResponseTransform, TrafficRules, ValueExpr, Vars,
};
use http::HeaderValue;
use serde::Deserialize;
use toml::Spanned;

use crate::validate::Source;
use crate::ConfigError;

pub(crate) use lists::RawRedirectList;

/// `[zones.hsts]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHsts {
    pub max_age: Option<Spanned<u64>>,
    #[serde(default)]
    pub include_subdomains: bool,
    pub preload: Option<Spanned<bool>>,
}

/// `[[zones.redirects]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedirect {
    pub id: Spanned<String>,
    pub expression: Spanned<String>,
    pub target: Option<Spanned<String>>,
    pub target_expression: Option<Spanned<String>>,
    pub status: Option<Spanned<u64>>,
    #[serde(default)]
    pub preserve_query: bool,
}

/// One entry of a transform's `headers = [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeaderOp {
    pub op: Spanned<String>,
    pub name: Spanned<String>,
    pub value: Option<Spanned<String>>,
    pub value_expression: Option<Spanned<String>>,
}

/// `[[zones.request_transforms]]` and `[[zones.response_transforms]]` (which refuse the
/// path and query keys).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransform {
    pub id: Spanned<String>,
    pub expression: Spanned<String>,
    #[serde(default)]
    pub headers: Vec<RawHeaderOp>,
    pub path: Option<Spanned<String>>,
    pub path_expression: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    pub query_expression: Option<Spanned<String>>,
}

/// `[[zones.custom_errors]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCustomError {
    pub id: Spanned<String>,
    pub expression: Spanned<String>,
    #[serde(default)]
    pub origin: bool,
    pub status: Option<Spanned<u64>>,
    pub format: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    pub content_type: Option<Spanned<String>>,
}

/// A zone's traffic keys, moved out of the raw zone.
#[derive(Debug, Default)]
pub(crate) struct RawTraffic {
    pub always_use_https: bool,
    pub hsts: Option<Spanned<RawHsts>>,
    pub redirects: Vec<RawRedirect>,
    pub redirect_lists: Vec<RawRedirectList>,
    pub request_transforms: Vec<RawTransform>,
    pub response_transforms: Vec<RawTransform>,
    pub custom_errors: Vec<RawCustomError>,
}

/// Which expression language a key uses.
#[derive(Clone, Copy)]
enum Scope {
    /// Before there is a response.
    Request,
    /// May also read `http.response.code`.
    Response,
}

impl Source<'_> {
    /// Validates a zone's traffic rules; bulk lists are read relative to the config file.
    pub(crate) fn traffic(&self, raw: RawTraffic) -> Result<TrafficRules, ConfigError> {
        let hsts = raw.hsts.as_ref().map(|h| self.hsts(h)).transpose()?;
        let mut ids = HashSet::new();
        let mut out = TrafficRules {
            always_use_https: raw.always_use_https,
            hsts,
            ..TrafficRules::default()
        };
        for r in raw.redirects {
            self.traffic_id(&mut ids, &r.id)?;
            out.redirects.push(self.redirect_rule(r)?);
        }
        for l in &raw.redirect_lists {
            out.redirect_lists.push(Arc::new(self.redirect_list(l)?));
        }
        for t in raw.request_transforms {
            self.traffic_id(&mut ids, &t.id)?;
            out.request_transforms.push(self.request_transform(t)?);
        }
        for t in raw.response_transforms {
            self.traffic_id(&mut ids, &t.id)?;
            out.response_transforms.push(self.response_transform(t)?);
        }
        for c in raw.custom_errors {
            self.traffic_id(&mut ids, &c.id)?;
            out.custom_errors.push(self.custom_error(c)?);
        }
        Ok(out)
    }

    fn hsts(&self, raw: &Spanned<RawHsts>) -> Result<Hsts, ConfigError> {
        let h = raw.get_ref();
        let max_age = match &h.max_age {
            Some(n) => self.bounded(n, "max_age", 0, 2 * edgeward_rules::PRELOAD_MIN_MAX_AGE)?,
            None => edgeward_rules::PRELOAD_MIN_MAX_AGE,
        };
        let preload = h.preload.as_ref().is_some_and(|p| *p.get_ref());
        let span = h.preload.as_ref().map_or_else(|| raw.span(), Spanned::span);
        Hsts::new(max_age, h.include_subdomains, preload).map_err(|e| self.fault(span, e))
    }

    fn traffic_id(&self, ids: &mut HashSet<String>, id: &Spanned<String>) -> Result<(), ConfigError> {
        let text = id.get_ref();
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            let msg = format!("invalid rule id `{text}`: use 1 to 64 letters, digits, '-', '_' or '.'");
            return Err(self.fault(id.span(), msg));
        }
        if !ids.insert(text.clone()) {
            let msg =
                format!("duplicate id `{text}` among this zone's redirects, transforms and custom errors");
            return Err(self.fault(id.span(), msg));
        }
        Ok(())
    }

    /// A fault at character `column` (1-based) inside the string value at `span`.
    fn inside(&self, span: Range<usize>, e: &CompileError, what: &str) -> ConfigError {
        // The span starts at the opening quote (one byte; three for '''/""" strings).
        let text = &self.text[span.clone()];
        let quote = if text.starts_with("'''") || text.starts_with("\"\"\"") {
            3
        } else {
            1
        };
        let body = &self.text[(span.start + quote).min(span.end)..span.end];
        let at = span.start
            + quote
            + body
                .char_indices()
                .nth(e.column.saturating_sub(1))
                .map_or(body.len(), |(i, _)| i);
        self.fault(at..at + 1, format!("in {what}: {}", e.message))
    }

    fn expr(&self, src: &Spanned<String>, scope: Scope) -> Result<Expr, ConfigError> {
        let compiled = match scope {
            Scope::Request => edgeward_rules::compile(src.get_ref()),
            Scope::Response => edgeward_rules::compile_response(src.get_ref()),
        };
        compiled.map_err(|e| self.inside(src.span(), &e, "expression"))
    }

    /// One of a `key` template and a `key_expression` function; `None` when neither is set.
    fn value(
        &self,
        template: Option<&Spanned<String>>,
        function: Option<&Spanned<String>>,
        key: &str,
        near: Range<usize>,
    ) -> Result<Option<ValueExpr>, ConfigError> {
        match (template, function) {
            (Some(_), Some(f)) => Err(self.fault(
                f.span(),
                format!("set either `{key}` (a template) or `{key}_expression` (a function), not both"),
            )),
            (Some(t), None) => ValueExpr::template(t.get_ref())
                .map(Some)
                .map_err(|e| self.inside(t.span(), &e, &format!("`{key}`"))),
            (None, Some(f)) => ValueExpr::function(f.get_ref())
                .map(Some)
                .map_err(|e| self.inside(f.span(), &e, &format!("`{key}_expression`"))),
            (None, None) if key == "target" => Err(self.fault(
                near,
                "a redirect needs `target` (a template such as \"https://example.com${path}\") or \
                 `target_expression` (such as 'regex_replace(http.request.uri.path, \"^/a/\", \"/b/\")')",
            )),
            (None, None) => Ok(None),
        }
    }

    fn redirect_rule(&self, r: RawRedirect) -> Result<RedirectRule, ConfigError> {
        let expr = self.expr(&r.expression, Scope::Request)?;
        let target = self.value(
            r.target.as_ref(),
            r.target_expression.as_ref(),
            "target",
            r.id.span(),
        )?;
        let status = match &r.status {
            Some(s) => self.redirect_status(s)?,
            None => RedirectStatus::MovedPermanently,
        };
        Ok(RedirectRule {
            id: r.id.into_inner(),
            expr,
            target: target.expect("`target` is required"),
            status,
            preserve_query: r.preserve_query,
        })
    }

    pub(crate) fn redirect_status(&self, s: &Spanned<u64>) -> Result<RedirectStatus, ConfigError> {
        u16::try_from(*s.get_ref())
            .ok()
            .and_then(RedirectStatus::from_code)
            .ok_or_else(|| {
                let msg = format!(
                    "redirect status {} is not one of 301, 302, 303, 307, 308",
                    s.get_ref()
                );
                self.fault(s.span(), msg)
            })
    }

    fn header_ops(&self, raw: &[RawHeaderOp]) -> Result<Vec<HeaderOp>, ConfigError> {
        raw.iter()
            .map(|h| {
                let value = self.value(
                    h.value.as_ref(),
                    h.value_expression.as_ref(),
                    "value",
                    h.op.span(),
                )?;
                let name = h.name.get_ref();
                let op = match (h.op.get_ref().as_str(), value) {
                    ("set", Some(v)) => HeaderOp::set(name, v),
                    ("add", Some(v)) => HeaderOp::add(name, v),
                    ("remove", None) => HeaderOp::remove(name),
                    ("set" | "add", None) => {
                        return Err(self.fault(
                            h.op.span(),
                            "`set` and `add` need a `value` or `value_expression`",
                        ))
                    }
                    ("remove", Some(_)) => return Err(self.fault(h.op.span(), "`remove` takes no value")),
                    (other, _) => {
                        let msg = format!("unknown header op `{other}`: expected set, add or remove");
                        return Err(self.fault(h.op.span(), msg));
                    }
                };
                op.map_err(|e| self.fault(h.name.span(), e))
            })
            .collect()
    }

    fn request_transform(&self, t: RawTransform) -> Result<RequestTransform, ConfigError> {
        let expr = self.expr(&t.expression, Scope::Request)?;
        let headers = self.header_ops(&t.headers)?;
        let path = self.value(t.path.as_ref(), t.path_expression.as_ref(), "path", t.id.span())?;
        if let (Some(p), Some(raw)) = (path.as_ref().and_then(ValueExpr::as_static), &t.path) {
            if !p.starts_with('/') {
                return Err(self.fault(raw.span(), format!("`path` \"{p}\" must start with /")));
            }
        }
        let query = self.value(
            t.query.as_ref(),
            t.query_expression.as_ref(),
            "query",
            t.id.span(),
        )?;
        if headers.is_empty() && path.is_none() && query.is_none() {
            let msg = "this transform changes nothing: give `headers`, `path` or `query`";
            return Err(self.fault(t.id.span(), msg));
        }
        Ok(RequestTransform {
            id: t.id.into_inner(),
            expr,
            headers,
            path,
            query,
        })
    }

    fn response_transform(&self, t: RawTransform) -> Result<ResponseTransform, ConfigError> {
        let uri_key = [&t.path, &t.path_expression, &t.query, &t.query_expression]
            .into_iter()
            .flatten()
            .next();
        if let Some(k) = uri_key {
            let msg =
                "response transforms change headers only; rewrite the path or query in a request transform";
            return Err(self.fault(k.span(), msg));
        }
        let expr = self.expr(&t.expression, Scope::Response)?;
        let headers = self.header_ops(&t.headers)?;
        if headers.is_empty() {
            return Err(self.fault(t.id.span(), "this transform changes nothing: give `headers`"));
        }
        Ok(ResponseTransform {
            id: t.id.into_inner(),
            expr,
            headers,
        })
    }

    fn custom_error(&self, c: RawCustomError) -> Result<CustomErrorRule, ConfigError> {
        let expr = self.expr(&c.expression, Scope::Response)?;
        let status = match &c.status {
            Some(s) => Some(self.bounded(s, "status", 400, 599)? as u16),
            None => None,
        };
        let (source, format) = self.error_body_source(&c)?;
        let body = match (&c.body, &c.file) {
            (Some(inline), _) => ErrorBody::parse(format, inline.get_ref()).map_err(|e| {
                let msg = format!(
                    "in `body` (its line {}, column {}): {}",
                    e.line, e.column, e.message
                );
                self.fault(inline.span(), msg)
            })?,
            (None, Some(file)) => {
                let path = self.base_dir.join(file.get_ref());
                ErrorBody::parse(format, &source).map_err(|e| ConfigError {
                    file: path,
                    line: Some(e.line),
                    column: Some(e.column),
                    message: format!("{} (custom error `{}`)", e.message, c.id.get_ref()),
                })?
            }
            (None, None) => unreachable!("error_body_source requires one"),
        };
        let span = c
            .body
            .as_ref()
            .or(c.file.as_ref())
            .map_or(c.id.span(), Spanned::span);
        if format == ErrorFormat::Json {
            self.check_json(&body, span.clone())?;
        }
        let content_type = match &c.content_type {
            Some(ct) => HeaderValue::from_str(ct.get_ref())
                .map_err(|_| self.fault(ct.span(), "`content_type` must be a valid header value"))?,
            None => HeaderValue::from_static(format.content_type()),
        };
        Ok(CustomErrorRule {
            id: c.id.into_inner(),
            expr,
            origin: c.origin,
            status,
            content_type,
            body,
        })
    }

    /// The body text (read from `file` if that is how it is given) and its format.
    fn error_body_source(&self, c: &RawCustomError) -> Result<(String, ErrorFormat), ConfigError> {
        let (text, from_name) = match (&c.body, &c.file) {
            (Some(_), Some(f)) => return Err(self.fault(f.span(), "set either `body` or `file`, not both")),
            (None, None) => {
                return Err(self.fault(c.id.span(), "a custom error needs `body` (inline) or `file`"));
            }
            (Some(b), None) => (b.get_ref().clone(), None),
            (None, Some(f)) => {
                let path = self.base_dir.join(f.get_ref());
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    let msg = format!("cannot read `{}` ({}): {e}", f.get_ref(), path.display());
                    self.fault(f.span(), msg)
                })?;
                (text, ErrorFormat::from_file_name(f.get_ref()))
            }
        };
        let format = match &c.format {
            Some(f) => ErrorFormat::parse(f.get_ref()).ok_or_else(|| {
                let msg = format!(
                    "unknown format `{}`: expected html, json, text or markdown",
                    f.get_ref()
                );
                self.fault(f.span(), msg)
            })?,
            None => from_name.unwrap_or(ErrorFormat::Html),
        };
        Ok((text, format))
    }

    /// Renders a JSON body with sample values and refuses it if that is not a JSON document.
    fn check_json(&self, body: &ErrorBody, span: Range<usize>) -> Result<(), ConfigError> {
        let headers: &[(&str, &str)] = &[];
        let req = Request::new([192, 0, 2, 1].into(), &headers);
        let vars = Vars {
            request_id: "8f1c2a",
            zone: "zone",
        };
        for code in [Some(1020), None] {
            let facts = ErrorFacts {
                status: 403,
                from_origin: code.is_none(),
                error_code: code,
                title: "A \"title\"",
                explanation: "An explanation.",
            };
            let sample = body.render(&req, &vars, &facts, 403);
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&sample) {
                let msg = format!(
                    "the JSON body is not a JSON document once rendered ({e}); write string \
                     placeholders in quotes (\"{{{{title}}}}\") and {{{{status}}}} / {{{{error_code}}}} without"
                );
                return Err(self.fault(span, msg));
            }
        }
        Ok(())
    }
}
