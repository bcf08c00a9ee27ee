//! The edge's own endpoints under `/.edgeward/`, answered on every zone.
//!
//! `/.edgeward/trace` describes the request as the edge saw it (like a CDN's
//! trace page); `/.edgeward/error/<code>` shows any error page on purpose (by its 1xxx
//! code or its status, in the format `Accept` asks for: the `type` URI of every
//! structured error resolves here); any other path there is an edge 404; methods other
//! than GET and HEAD are a 405. Everything else goes on to the origin.

use std::fmt::Write;

use bytes::Bytes;
use edgeward_config::Zone;
use edgeward_errors::{parse_error_page_path, render_page, EdgeError, MethodList, RenderContext};
use http::StatusCode;

use crate::edge::Edge;
use crate::request::RequestCtx;
use crate::response::{LocalReply, Reply};

/// The path prefix the edge keeps for itself.
pub const PREFIX: &str = "/.edgeward/";

/// The reply for an edge endpoint, or `None` when the path is the origin's.
pub fn serve(_edge: &Edge, zone: &Zone, req: &RequestCtx<'_>) -> Option<Reply> {
    let path = req.head.path();
    let name = path.strip_prefix(PREFIX)?;
    if !matches!(req.head.method(), "GET" | "HEAD") {
        let allow = MethodList::new(["GET", "HEAD"])?;
        return Some(Reply::Error(EdgeError::MethodNotAllowed { allow }));
    }
    if let Some(code) = parse_error_page_path(path) {
        return Some(error_page(zone, req, code));
    }
    Some(match name {
        "trace" => Reply::Local(trace(zone, req)),
        _ => Reply::Error(EdgeError::NotFound),
    })
}

/// The page of error `code` (a 1xxx code, or a status), rendered as the client asks;
/// 200 without the error's own headers (a 401 page must not prompt for credentials).
fn error_page(zone: &Zone, req: &RequestCtx<'_>, code: u16) -> Reply {
    let example = if code >= 1000 {
        EdgeError::example(code)
    } else {
        EdgeError::example_for_status(code)
    };
    let Some(error) = example else {
        return Reply::Error(EdgeError::NotFound);
    };
    let ctx = RenderContext {
        client_ip: Some(req.client_ip),
        host: Some(req.head.host()),
        accept: req.head.header("accept"),
        zone: Some(&zone.name),
        ..RenderContext::new(req.request_id)
    };
    let rendered = render_page(&error, &ctx);
    let content_type = rendered
        .header("content-type")
        .unwrap_or("text/html; charset=utf-8")
        .to_owned();
    let headers = rendered
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
        .map(|(n, v)| (*n, v.clone()))
        .collect();
    Reply::Local(LocalReply {
        status: StatusCode::OK,
        content_type: content_type.into(),
        headers,
        body: rendered.body,
    })
}

fn trace(zone: &Zone, req: &RequestCtx<'_>) -> LocalReply {
    let mut text = String::with_capacity(256);
    let _ = writeln!(text, "ray={}", req.request_id);
    let _ = writeln!(text, "ip={}", req.client_ip);
    let _ = writeln!(text, "zone={}", zone.name);
    let _ = writeln!(text, "host={}", req.head.host());
    let _ = writeln!(text, "method={}", req.head.method());
    let _ = writeln!(text, "http={}", req.protocol.as_str());
    let _ = writeln!(text, "path={}", req.head.path());
    let _ = writeln!(text, "edge=edgeward/{}", env!("CARGO_PKG_VERSION"));
    LocalReply {
        status: StatusCode::OK,
        content_type: "text/plain; charset=utf-8".into(),
        headers: Vec::new(),
        body: Bytes::from(text),
    }
}
