//! edgeward's rules language: a subset of Cloudflare's Rules language, compiled once and
//! evaluated per request without heap allocation, plus the actions a matching rule takes.
//!
//! ```
//! use edgeward_rules::{compile, Request};
//!
//! let expr = compile(r#"lower(http.user_agent) contains "curl" and ip.src in {10.0.0.0/8}"#).unwrap();
//! let headers: &[(&str, &str)] = &[];
//! let mut req = Request::new("10.1.2.3".parse().unwrap(), &headers);
//! req.user_agent = "CURL/8.0";
//! assert!(expr.eval(&req));
//! ```
//!
//! The pipeline is `lexer` → `parser` (syntax tree with columns) → `compile` (typed program)
//! → `eval`; `rules` holds [`Rule`], [`Action`] and [`RuleSet`]. Config parsing (TOML) lives in
//! `edgeward-config`; this crate takes strings and typed values.
//!
//! Traffic rules ([`TrafficRules`]) shape requests rather than protect the origin: redirect
//! rules and bulk lists (`redirect`, `bulk`), Always Use HTTPS and HSTS (`hsts`), transforms
//! (`transform`), and custom error rules (`custom_error`), with per-request values in
//! `${…}` templates or value functions (`value`). Matching allocates nothing; a rule that fires
//! allocates its output (the `Location`, a computed header value, an error body).
//!
//! Evaluation does not allocate, with one documented exception: a value that must be
//! materialised (the joined `path?query` URI, or a `lower()`/`upper()` value fed to `matches`)
//! and is longer than 4 KiB is built on the heap instead of the stack.
mod bulk;
mod compile;
mod custom_error;
mod eval;
mod fields;
mod hsts;
mod lexer;
mod parser;
mod redirect;
mod rules;
mod traffic;
mod transform;
mod value;

pub use bulk::{BulkEntry, BulkError, BulkRedirects, MAX_SOURCE_BYTES};
pub use custom_error::{BodyError, CustomError, CustomErrorRule, ErrorBody, ErrorFacts, ErrorFormat};
pub use hsts::{Hsts, PRELOAD_MIN_MAX_AGE};
pub use redirect::{https_redirect, Redirect, RedirectRule, RedirectStatus};
pub use rules::{Action, Phase, PhaseSet, Rule, RuleSet, Verdict};
pub use traffic::TrafficRules;
pub use transform::{apply_request, apply_response, Applied, HeaderOp, RequestTransform, ResponseTransform};
pub use value::{ValueExpr, Vars};

use std::fmt;
use std::net::IpAddr;

/// A compiled rule expression.
#[derive(Clone, Debug)]
pub struct Expr {
    source: Box<str>,
    root: compile::Node,
}

impl Expr {
    /// Whether `req` satisfies the expression. Does not allocate (see the crate docs for the one
    /// exception: values over 4 KiB that must be joined or case-mapped).
    pub fn eval(&self, req: &Request<'_>) -> bool {
        self.root.eval(req, 0)
    }

    /// Like [`Expr::eval`], with `http.response.code` reading `status` (for expressions from
    /// [`compile_response`]; an expression from [`compile`] never reads it).
    pub fn eval_response(&self, req: &Request<'_>, status: u16) -> bool {
        self.root.eval(req, status)
    }

    /// The source text the expression was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Compiles an expression, or reports the column and cause of the first fault.
/// `http.response.code` is refused: there is no response yet where these expressions run.
pub fn compile(src: &str) -> Result<Expr, CompileError> {
    let ast = parser::parse(src)?;
    compile::refuse_response_code(&ast)?;
    Ok(Expr {
        source: src.into(),
        root: compile::compile(ast)?,
    })
}

/// Compiles an expression of a custom error rule, which may also read `http.response.code`
/// (evaluate it with [`Expr::eval_response`]).
pub fn compile_response(src: &str) -> Result<Expr, CompileError> {
    let ast = parser::parse(src)?;
    Ok(Expr {
        source: src.into(),
        root: compile::compile(ast)?,
    })
}

/// Why an expression did not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What is wrong, in words a config author can act on.
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for CompileError {}

/// Request headers, looked up by name case-insensitively.
pub trait HeaderSource {
    /// The first value of header `name` (given lower-case), if present.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl HeaderSource for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

impl HeaderSource for &[(&str, &str)] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        (**self).header(name)
    }
}

/// What the evaluator reads: built by the proxy per request, all borrowed.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// `http.host`
    pub host: &'a str,
    /// `http.request.uri.path`
    pub path: &'a str,
    /// `http.request.uri.query`, without the `?`
    pub query: &'a str,
    /// `http.request.method`
    pub method: &'a str,
    /// `http.user_agent`
    pub user_agent: &'a str,
    /// `http.cookie`
    pub cookie: &'a str,
    /// `http.referer`
    pub referer: &'a str,
    /// `ip.src`
    pub ip: IpAddr,
    /// `ip.geoip.country`; compares as empty when unknown.
    pub country: Option<&'a str>,
    /// `http.request.body.size`; 0 when there is no body.
    pub body_size: u64,
    /// `ssl`
    pub tls: bool,
    /// `http.request.headers["…"]`
    pub headers: &'a dyn HeaderSource,
}

impl<'a> Request<'a> {
    /// A `GET /` from `ip` with the given headers and every other field empty.
    pub fn new(ip: IpAddr, headers: &'a dyn HeaderSource) -> Request<'a> {
        Request {
            host: "",
            path: "/",
            query: "",
            method: "GET",
            user_agent: "",
            cookie: "",
            referer: "",
            ip,
            country: None,
            body_size: 0,
            tls: false,
            headers,
        }
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("host", &self.host)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}
