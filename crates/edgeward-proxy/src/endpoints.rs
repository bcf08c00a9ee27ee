//! The edge's own endpoints under `/.edgeward/`, answered on every zone.
//!
//! `/.edgeward/trace` describes the request as the edge saw it (like a CDN's
//! trace page); any other path there is an edge 404; methods other than GET and
//! HEAD are a 405. Everything else goes on to the origin.

use std::fmt::Write;

use bytes::Bytes;
use edgeward_config::Zone;
use edgeward_errors::{EdgeError, MethodList};
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
    Some(match name {
        "trace" => Reply::Local(trace(zone, req)),
        _ => Reply::Error(EdgeError::NotFound),
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
        content_type: "text/plain; charset=utf-8",
        headers: Vec::new(),
        body: Bytes::from(text),
    }
}
