//! Values computed per request: the `${…}` templates and the function form
//! (`regex_replace(http.request.uri.path, "^/old/(.*)", "/new/${1}")`) used by redirect
//! targets, URI rewrites and header values.
//!
//! It owns the placeholder names, the value functions (`concat`, `lower`, `upper`,
//! `regex_replace`) and writing a value into an output string. It does not decide when a value
//! is computed (the rule kinds do) nor where it goes (the proxy).
//!
//! Placeholders, in a template and as fields of a function: `${path}` (`http.request.uri.path`),
//! `${query}` (`http.request.uri.query`, without `?`), `${uri}` (`http.request.uri`: path, then
//! `?query` when there is one), `${host}` (`http.host`), `${scheme}` (`https` over TLS, else
//! `http`), `${method}`, `${ip.src}`, `${http.user_agent}`, `${http.referer}`, `${http.cookie}`,
//! `${ip.geoip.country}`, `${http.request.headers["name"]}`, `${request_id}`, `${zone}`.
//! `$$` is a literal `$`; a `$` not followed by `{` is literal too.
//!
//! `regex_replace(source, "regex", "replacement")` replaces the first match in `source` (like
//! Cloudflare's); the replacement may name capture groups as `${1}` or `${name}` and nothing
//! else. When the regex does not match, the value is `source` unchanged.

use crate::parser::{self, LitValue, Operand};
use crate::{CompileError, Request};
use regex::{Captures, Regex, RegexBuilder};
use std::fmt::Write;

/// Regexes in value functions are bounded like those in expressions.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Nesting of value functions deeper than this is refused.
const MAX_DEPTH: usize = 8;

/// Per-request values that are not on the [`Request`]: the request id and the zone's name.
#[derive(Clone, Copy, Debug, Default)]
pub struct Vars<'a> {
    /// `${request_id}`: the Ray ID of this request.
    pub request_id: &'a str,
    /// `${zone}`: the name of the zone serving it.
    pub zone: &'a str,
}

/// A value a placeholder or a field argument reads.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Var {
    Host,
    Path,
    Query,
    Uri,
    Scheme,
    Method,
    UserAgent,
    Cookie,
    Referer,
    Country,
    IpSrc,
    /// Lower-cased name.
    Header(Box<str>),
    RequestId,
    Zone,
}

impl Var {
    fn lookup(name: &str) -> Option<Var> {
        Some(match name {
            "host" | "http.host" => Var::Host,
            "path" | "http.request.uri.path" => Var::Path,
            "query" | "http.request.uri.query" => Var::Query,
            "uri" | "http.request.uri" => Var::Uri,
            "scheme" => Var::Scheme,
            "method" | "http.request.method" => Var::Method,
            "http.user_agent" => Var::UserAgent,
            "http.cookie" => Var::Cookie,
            "http.referer" => Var::Referer,
            "ip.geoip.country" => Var::Country,
            "ip.src" => Var::IpSrc,
            "request_id" => Var::RequestId,
            "zone" => Var::Zone,
            _ => return None,
        })
    }

    /// The value without copying, when it is one borrowed piece.
    fn borrowed<'a>(&self, req: &Request<'a>, vars: &Vars<'a>) -> Option<&'a str> {
        Some(match self {
            Var::Host => req.host,
            Var::Path => req.path,
            Var::Query => req.query,
            Var::Uri if req.query.is_empty() => req.path,
            Var::Scheme if req.tls => "https",
            Var::Scheme => "http",
            Var::Method => req.method,
            Var::UserAgent => req.user_agent,
            Var::Cookie => req.cookie,
            Var::Referer => req.referer,
            Var::Country => req.country.unwrap_or(""),
            Var::Header(name) => {
                let raw = req.headers.header(name).unwrap_or(b"");
                // Header values are bytes; one that is not UTF-8 reads as empty.
                std::str::from_utf8(raw).unwrap_or("")
            }
            Var::RequestId => vars.request_id,
            Var::Zone => vars.zone,
            Var::Uri | Var::IpSrc => return None,
        })
    }

    fn write(&self, req: &Request<'_>, vars: &Vars<'_>, out: &mut String) {
        match self {
            Var::Uri => {
                out.push_str(req.path);
                if !req.query.is_empty() {
                    out.push('?');
                    out.push_str(req.query);
                }
            }
            Var::IpSrc => {
                let _ = write!(out, "{}", req.ip.to_canonical());
            }
            other => out.push_str(other.borrowed(req, vars).unwrap_or("")),
        }
    }
}

/// A compiled value.
#[derive(Clone, Debug)]
enum Node {
    Lit(Box<str>),
    Var(Var),
    Concat(Box<[Node]>),
    Lower(Box<Node>),
    Upper(Box<Node>),
    RegexReplace {
        source: Box<Node>,
        regex: Regex,
        replacement: Box<[Piece]>,
    },
}

/// A piece of a `regex_replace` replacement.
#[derive(Clone, Debug)]
enum Piece {
    Lit(Box<str>),
    Group(usize),
}

/// A value computed per request, compiled once from a template or a function.
#[derive(Clone, Debug)]
pub struct ValueExpr {
    source: Box<str>,
    root: Node,
}

impl ValueExpr {
    /// Compiles a `${…}` template; the column of an unknown or unclosed placeholder is reported.
    pub fn template(src: &str) -> Result<ValueExpr, CompileError> {
        let mut parts = Vec::new();
        scan_template(src, |piece| {
            parts.push(match piece {
                Scanned::Lit(s) => Node::Lit(s.into()),
                Scanned::Name(name, col) => Node::Var(var_named(name, col)?),
            });
            Ok(())
        })?;
        let root = match parts.len() {
            0 => Node::Lit("".into()),
            1 => parts.pop().expect("one part"),
            _ => Node::Concat(parts.into()),
        };
        Ok(ValueExpr {
            source: src.into(),
            root,
        })
    }

    /// Compiles the function form: a field, a string, or `concat`, `lower`, `upper`,
    /// `regex_replace` calls over them.
    pub fn function(src: &str) -> Result<ValueExpr, CompileError> {
        let op = parser::parse_value(src)?;
        Ok(ValueExpr {
            source: src.into(),
            root: lower_operand(&op, 0)?,
        })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The value when it does not depend on the request.
    pub fn as_static(&self) -> Option<&str> {
        match &self.root {
            Node::Lit(s) => Some(s),
            _ => None,
        }
    }

    /// Appends the value for this request to `out`.
    pub fn write(&self, req: &Request<'_>, vars: &Vars<'_>, out: &mut String) {
        self.root.write(req, vars, out);
    }
}

impl Node {
    fn write(&self, req: &Request<'_>, vars: &Vars<'_>, out: &mut String) {
        match self {
            Node::Lit(s) => out.push_str(s),
            Node::Var(v) => v.write(req, vars, out),
            Node::Concat(parts) => parts.iter().for_each(|p| p.write(req, vars, out)),
            Node::Lower(inner) | Node::Upper(inner) => {
                let start = out.len();
                inner.write(req, vars, out);
                // ASCII mapping keeps byte lengths and UTF-8 validity.
                let tail = &mut out[start..];
                if matches!(self, Node::Lower(_)) {
                    tail.make_ascii_lowercase();
                } else {
                    tail.make_ascii_uppercase();
                }
            }
            Node::RegexReplace {
                source,
                regex,
                replacement,
            } => {
                let owned;
                let src = match source.as_ref() {
                    Node::Var(v) => v.borrowed(req, vars),
                    Node::Lit(s) => Some(&**s),
                    _ => None,
                };
                let src = match src {
                    Some(s) => s,
                    None => {
                        let mut tmp = String::new();
                        source.write(req, vars, &mut tmp);
                        owned = tmp;
                        &owned
                    }
                };
                replace_first(src, regex, replacement, out);
            }
        }
    }
}

fn replace_first(src: &str, regex: &Regex, replacement: &[Piece], out: &mut String) {
    let Some(caps) = regex.captures(src) else {
        out.push_str(src);
        return;
    };
    let whole = caps.get(0).expect("group 0 always matches");
    out.push_str(&src[..whole.start()]);
    expand(&caps, replacement, out);
    out.push_str(&src[whole.end()..]);
}

fn expand(caps: &Captures<'_>, replacement: &[Piece], out: &mut String) {
    for piece in replacement {
        match piece {
            Piece::Lit(s) => out.push_str(s),
            Piece::Group(i) => out.push_str(caps.get(*i).map_or("", |m| m.as_str())),
        }
    }
}

/// What the template scanner found.
enum Scanned<'s> {
    Lit(&'s str),
    /// A placeholder's inner text and the column of its `$`.
    Name(&'s str, usize),
}

/// Splits `src` into literals and `${…}` names (columns are 1-based, in characters).
fn scan_template<'s>(
    src: &'s str,
    mut each: impl FnMut(Scanned<'s>) -> Result<(), CompileError>,
) -> Result<(), CompileError> {
    let col = |byte: usize| src[..byte].chars().count() + 1;
    let mut lit_start = 0;
    let mut i = 0;
    let bytes = src.as_bytes();
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 == bytes.len() || !matches!(bytes[i + 1], b'$' | b'{') {
            i += 1;
            continue;
        }
        if lit_start < i {
            each(Scanned::Lit(&src[lit_start..i]))?;
        }
        if bytes[i + 1] == b'$' {
            each(Scanned::Lit("$"))?;
            i += 2;
            lit_start = i;
            continue;
        }
        let Some(len) = src[i + 2..].find('}') else {
            return Err(CompileError {
                column: col(i),
                message: "unclosed \"${\": close the placeholder with \"}\"".into(),
            });
        };
        each(Scanned::Name(src[i + 2..i + 2 + len].trim(), col(i)))?;
        i += 2 + len + 1;
        lit_start = i;
    }
    if lit_start < bytes.len() {
        each(Scanned::Lit(&src[lit_start..]))?;
    }
    Ok(())
}

const HEADERS: &str = "http.request.headers";

fn var_named(name: &str, col: usize) -> Result<Var, CompileError> {
    if let Some(index) = name.strip_prefix(HEADERS) {
        let key = index
            .strip_prefix("[\"")
            .and_then(|k| k.strip_suffix("\"]"))
            .filter(|k| !k.is_empty());
        return key
            .map(|k| Var::Header(k.to_ascii_lowercase().into()))
            .ok_or_else(|| CompileError {
                column: col,
                message: format!("write a header as ${{{HEADERS}[\"name\"]}}, found ${{{name}}}"),
            });
    }
    Var::lookup(name).ok_or_else(|| CompileError {
        column: col,
        message: format!(
            "unknown placeholder ${{{name}}}: use path, query, uri, host, scheme, method, \
             ip.src, request_id, zone, or a field such as http.user_agent"
        ),
    })
}

fn lower_operand(op: &Operand, depth: usize) -> Result<Node, CompileError> {
    let err = |column: usize, message: String| CompileError { column, message };
    if depth > MAX_DEPTH {
        return Err(err(
            op.col(),
            format!("values nest at most {MAX_DEPTH} calls deep"),
        ));
    }
    match op {
        Operand::Lit(l) => match &l.value {
            LitValue::Str(s) => Ok(Node::Lit(s.as_str().into())),
            other => Err(err(l.col, format!("a value is a string, found {}", other.kind()))),
        },
        Operand::Field { name, index, col } => {
            let full = match index {
                Some((key, _)) => format!("{name}[\"{key}\"]"),
                None => name.clone(),
            };
            var_named(&full, *col).map(Node::Var)
        }
        Operand::Call { name, args, col } => {
            let arity = |n: usize| {
                if args.len() == n {
                    Ok(())
                } else {
                    Err(err(
                        *col,
                        format!("{name}() takes {n} arguments, found {}", args.len()),
                    ))
                }
            };
            let arg = |i: usize| lower_operand(&args[i], depth + 1);
            match name.as_str() {
                "concat" if !args.is_empty() => {
                    let parts: Result<Vec<_>, _> = (0..args.len()).map(arg).collect();
                    Ok(Node::Concat(parts?.into()))
                }
                "concat" => Err(err(*col, "concat() takes at least one argument".into())),
                "lower" | "upper" => {
                    arity(1)?;
                    let inner = Box::new(arg(0)?);
                    Ok(if name == "lower" {
                        Node::Lower(inner)
                    } else {
                        Node::Upper(inner)
                    })
                }
                "regex_replace" => {
                    arity(3)?;
                    let (pattern, pcol) = string_arg(&args[1], name)?;
                    let regex = RegexBuilder::new(pattern)
                        .size_limit(REGEX_SIZE_LIMIT)
                        .build()
                        .map_err(|e| err(pcol, format!("invalid regular expression \"{pattern}\": {e}")))?;
                    let (repl, rcol) = string_arg(&args[2], name)?;
                    let replacement = replacement(repl, rcol, &regex)?;
                    Ok(Node::RegexReplace {
                        source: Box::new(arg(0)?),
                        regex,
                        replacement,
                    })
                }
                _ => Err(err(
                    *col,
                    format!("unknown value function \"{name}\": use concat, lower, upper or regex_replace"),
                )),
            }
        }
    }
}

fn string_arg<'o>(op: &'o Operand, func: &str) -> Result<(&'o str, usize), CompileError> {
    match op {
        Operand::Lit(l) => match &l.value {
            LitValue::Str(s) => Ok((s, l.col)),
            _ => Err(CompileError {
                column: l.col,
                message: format!("{func}() needs a string literal here"),
            }),
        },
        other => Err(CompileError {
            column: other.col(),
            message: format!("{func}() needs a string literal here"),
        }),
    }
}

/// Compiles a replacement: literals and `${1}` / `${name}` groups the regex has.
fn replacement(src: &str, col: usize, regex: &Regex) -> Result<Box<[Piece]>, CompileError> {
    let mut pieces = Vec::new();
    scan_template(src, |piece| {
        pieces.push(match piece {
            Scanned::Lit(s) => Piece::Lit(s.into()),
            Scanned::Name(name, at) => {
                let group = match name.parse::<usize>() {
                    Ok(i) if i < regex.captures_len() => Some(i),
                    Ok(_) => None,
                    Err(_) => regex.capture_names().position(|n| n == Some(name)),
                };
                Piece::Group(group.ok_or_else(|| CompileError {
                    // `at` counts within the replacement; point into the whole expression.
                    column: col + at,
                    message: format!(
                        "${{{name}}} is not a group of the regex (it has {} numbered group(s))",
                        regex.captures_len() - 1
                    ),
                })?)
            }
        });
        Ok(())
    })?;
    Ok(pieces.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(v: &ValueExpr, req: &Request<'_>) -> String {
        let mut out = String::new();
        v.write(
            req,
            &Vars {
                request_id: "rid1",
                zone: "www",
            },
            &mut out,
        );
        out
    }

    #[test]
    fn templates_read_fields_and_escape_dollars() {
        let headers: &[(&str, &str)] = &[("X-Token", "t0k")];
        let mut req = Request::new("::ffff:192.0.2.1".parse().unwrap(), &headers);
        req.host = "Example.com";
        req.path = "/a b";
        req.query = "x=1";
        let t = ValueExpr::template(
            "${scheme}://${host}${path}|${uri}|${query}|${ip.src}|${request_id}@${zone}|\
             ${http.request.headers[\"x-token\"]}|$$5|$x|${ method }",
        )
        .unwrap();
        assert_eq!(
            render(&t, &req),
            "http://Example.com/a b|/a b?x=1|x=1|192.0.2.1|rid1@www|t0k|$5|$x|GET"
        );
        req.query = "";
        assert_eq!(render(&ValueExpr::template("${uri}").unwrap(), &req), "/a b");
        assert_eq!(
            ValueExpr::template("/static").unwrap().as_static(),
            Some("/static")
        );
        assert_eq!(ValueExpr::template("").unwrap().as_static(), Some(""));
    }

    #[test]
    fn template_errors_name_the_column() {
        let e = ValueExpr::template("/é/${nope}").unwrap_err();
        assert_eq!(e.column, 4);
        assert!(e.message.contains("unknown placeholder ${nope}"), "{}", e.message);
        assert_eq!(ValueExpr::template("ab${path").unwrap_err().column, 3);
        assert!(ValueExpr::template("${http.request.headers[x]}").is_err());
    }

    #[test]
    fn functions_replace_the_first_match_with_groups() {
        let headers: &[(&str, &str)] = &[];
        let mut req = Request::new("192.0.2.1".parse().unwrap(), &headers);
        req.path = "/old/a/old/b";
        let f = |s: &str| ValueExpr::function(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let v = f(r#"regex_replace(http.request.uri.path, "^/old/(.*)", "/new/${1}")"#);
        assert_eq!(render(&v, &req), "/new/a/old/b");
        let v = f(r#"regex_replace(http.request.uri.path, "old/(?P<x>[a-z])", "${x}X")"#);
        assert_eq!(render(&v, &req), "/aX/old/b");
        let v = f(r#"regex_replace(http.request.uri.path, "^/none", "/x")"#);
        assert_eq!(render(&v, &req), "/old/a/old/b");
        let v = f(r#"concat("https://", lower(http.host), regex_replace(upper(path), "/OLD", ""))"#);
        req.host = "WWW.Example.COM";
        assert_eq!(render(&v, &req), "https://www.example.com/A/OLD/B");
        assert_eq!(f(r#""/fixed""#).as_static(), Some("/fixed"));
    }

    #[test]
    fn function_errors_name_the_column() {
        let e = ValueExpr::function(r#"regex_replace(path, "(", "x")"#).unwrap_err();
        assert_eq!(e.column, 21);
        let e = ValueExpr::function(r#"regex_replace(path, "^/(a)", "/${2}")"#).unwrap_err();
        assert_eq!(e.column, 32, "{}", e.message);
        let e = ValueExpr::function("rot13(path)").unwrap_err();
        assert_eq!(e.column, 1);
        let e = ValueExpr::function("path path").unwrap_err();
        assert_eq!(e.column, 6);
        let e = ValueExpr::function("lower(path, host)").unwrap_err();
        assert!(e.message.contains("takes 1 arguments"), "{}", e.message);
    }
}
