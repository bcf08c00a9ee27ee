//! The built-in demo origin behind `edgeward demo`: a tiny site whose paths
//! show what the edge passes through and what it answers itself.
//!
//! Owns only the demo site's pages; it is an ordinary origin as far as the
//! proxy is concerned (served with hyper's server, on loopback).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Paths worth trying through the proxy, with what each shows.
pub const TOUR: [(&str, &str); 9] = [
    ("/", "a page from the origin (200)"),
    ("/missing", "the origin's own 404, passed through untouched"),
    ("/private", "the origin's own 403, unbranded"),
    ("/login", "the origin's 401 with its WWW-Authenticate challenge"),
    (
        "/status/429",
        "any status from the origin, with its required headers",
    ),
    ("/.edgeward/trace", "the edge's own endpoint: what the edge saw"),
    (
        "/?q=1'%20OR%20'1'='1",
        "the managed WAF blocks SQL injection (branded 403 naming the rule)",
    ),
    (
        "/.edgeward/nope",
        "an edge-generated 404 (branded, with a Ray ID)",
    ),
    (
        "/aaaa…(40 KiB)",
        "an edge-generated 414: try  curl -i \"$URL$(head -c 40000 /dev/zero | tr '\\0' a)\"",
    ),
];

/// Binds the demo origin on `addr` and serves it in the background.
pub async fn spawn_origin(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|req| async move { Ok::<_, Infallible>(page(req).await) });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(local)
}

async fn page(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/" => html(StatusCode::OK, &home()),
        "/hello" => text(StatusCode::OK, "hello from the demo origin\n"),
        "/private" => text(
            StatusCode::FORBIDDEN,
            "403 Forbidden: the origin's permission rules say no\n",
        ),
        "/login" => with(
            text(StatusCode::UNAUTHORIZED, "401: credentials required\n"),
            header::WWW_AUTHENTICATE,
            "Basic realm=\"demo\", charset=\"UTF-8\"",
        ),
        "/echo" => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Response::new(Full::new(body))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            text(StatusCode::OK, "slow but there\n")
        }
        _ => match path.strip_prefix("/status/").and_then(|s| s.parse::<u16>().ok()) {
            Some(code) => status_page(code),
            None => html(
                StatusCode::NOT_FOUND,
                "<h1>Not Found</h1><p>The demo origin has no such page.</p>",
            ),
        },
    }
}

/// A response with status `code` and the headers that status requires.
fn status_page(code: u16) -> Response<Full<Bytes>> {
    let Ok(status) = StatusCode::from_u16(code) else {
        return text(StatusCode::BAD_REQUEST, "no such status\n");
    };
    let resp = text(status, &format!("the origin answered {code}\n"));
    match code {
        401 => with(resp, header::WWW_AUTHENTICATE, "Basic realm=\"demo\""),
        405 => with(resp, header::ALLOW, "GET, HEAD"),
        407 => with(resp, header::PROXY_AUTHENTICATE, "Basic realm=\"proxy\""),
        413 | 429 | 503 => with(resp, header::RETRY_AFTER, "120"),
        451 => with(
            resp,
            header::LINK,
            "<https://example.org/legal>; rel=\"blocked-by\"",
        ),
        _ => resp,
    }
}

fn home() -> String {
    let mut items = String::new();
    for (path, what) in TOUR {
        items.push_str(&format!("<li><code>{path}</code> — {what}</li>\n"));
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>edgeward demo origin</title></head>\
         <body><h1>Hello from the demo origin</h1><p>This page came through edgeward. Try:</p><ul>\n{items}</ul></body></html>\n"
    )
}

fn html(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with(
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap_or_default(),
        header::CONTENT_TYPE,
        "text/html; charset=utf-8",
    )
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with(
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap_or_default(),
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8",
    )
}

fn with(
    mut resp: Response<Full<Bytes>>,
    name: header::HeaderName,
    value: &'static str,
) -> Response<Full<Bytes>> {
    resp.headers_mut()
        .insert(name, header::HeaderValue::from_static(value));
    resp
}
