//! Writing replies to the client: rendered edge errors, local replies, and
//! streamed origin responses with the framing the client's version allows.
//!
//! Owns response framing decisions (Content-Length kept, chunked re-encoding,
//! close-delimited for HTTP/1.0, no body for HEAD/204/304) and the headers the
//! edge adds on the way out (`Date` when missing, `Via`, the request id).

use std::io;
use std::time::Duration;

use bytes::Buf;
use edgeward_errors::{reason_phrase, render, RenderContext, Rendered, REQUEST_ID_HEADER};
use edgeward_http::{
    end_head, write_chunk_header, write_header, write_header_u64, write_status_line, DateCache,
    ResponseFraming, Version, CHUNK_END, LAST_CHUNK,
};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::forward::{VIA, X_REQUEST_ID};
use crate::pipeline::{LocalReply, OriginReply};

/// Flush the output buffer once it holds this much.
const FLUSH_AT: usize = 64 * 1024;

/// The server's product token on edge-generated responses.
const SERVER: &[u8] = b"edgeward";

// Status lines always say HTTP/1.1, the highest version the edge speaks
// (RFC 9110 §6.2); framing still follows what the client's version allows.

/// What the client asked for, as far as writing the answer is concerned.
#[derive(Clone, Copy)]
pub struct ClientSide {
    /// The request's HTTP version.
    pub version: Version,
    /// Whether the request was HEAD.
    pub head: bool,
    /// Whether the connection may stay open after this response.
    pub keep_alive: bool,
    /// Longest a write to the client may wait (a client that stops reading is dropped).
    pub write_timeout: Duration,
}

/// Writes all of `buf` to the client within `limit`.
async fn send<W: AsyncWrite + Unpin>(wr: &mut W, buf: &[u8], limit: Duration) -> io::Result<()> {
    match tokio::time::timeout(limit, wr.write_all(buf)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")),
    }
}

/// What was written: the status, body bytes, and whether the connection may be reused.
pub struct Written {
    /// Status code sent.
    pub status: u16,
    /// Bytes of body sent.
    pub body_bytes: u64,
    /// Whether the connection can carry another request.
    pub keep_alive: bool,
}

/// Writes a catalog error rendered for this request.
pub async fn write_error<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &mut Vec<u8>,
    date: &mut DateCache,
    client: ClientSide,
    rendered: Rendered,
) -> io::Result<Written> {
    let keep_alive = client.keep_alive && !rendered.close;
    out.clear();
    write_status_line(out, Version::Http11, rendered.status, rendered.reason.as_bytes());
    write_header(out, b"Date", date.now());
    write_header(out, b"Server", SERVER);
    for (name, value) in &rendered.headers {
        write_header(out, name.as_bytes(), value.as_bytes());
    }
    if !keep_alive && !rendered.close {
        write_header(out, b"Connection", b"close");
    } else if keep_alive && client.version == Version::Http10 {
        write_header(out, b"Connection", b"keep-alive");
    }
    end_head(out);
    out.extend_from_slice(&rendered.body);
    send(wr, out, client.write_timeout).await?;
    Ok(Written {
        status: rendered.status,
        body_bytes: rendered.body.len() as u64,
        keep_alive,
    })
}

/// Renders `error` for the request described by `ctx` (convenience over `render`).
pub fn render_error(error: &edgeward_errors::EdgeError, ctx: &RenderContext<'_>) -> Rendered {
    render(error, ctx)
}

/// Writes a local (non-error) reply of the edge.
pub async fn write_local<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &mut Vec<u8>,
    date: &mut DateCache,
    client: ClientSide,
    request_id: &str,
    reply: LocalReply,
) -> io::Result<Written> {
    out.clear();
    let status = reply.status.as_u16();
    write_status_line(out, Version::Http11, status, reason_phrase(status).as_bytes());
    write_header(out, b"Date", date.now());
    write_header(out, b"Server", SERVER);
    write_header(out, b"Content-Type", reply.content_type.as_bytes());
    write_header_u64(out, b"Content-Length", reply.body.len() as u64);
    write_header(out, b"Cache-Control", b"no-store");
    write_header(out, REQUEST_ID_HEADER.as_bytes(), request_id.as_bytes());
    for (name, value) in &reply.headers {
        write_header(out, name.as_bytes(), value.as_bytes());
    }
    connection_header(out, client, client.keep_alive);
    end_head(out);
    if !client.head {
        out.extend_from_slice(&reply.body);
    }
    send(wr, out, client.write_timeout).await?;
    Ok(Written {
        status,
        body_bytes: if client.head { 0 } else { reply.body.len() as u64 },
        keep_alive: client.keep_alive,
    })
}

fn connection_header(out: &mut Vec<u8>, client: ClientSide, keep_alive: bool) {
    match (keep_alive, client.version) {
        (false, _) => write_header(out, b"Connection", b"close"),
        (true, Version::Http10) => write_header(out, b"Connection", b"keep-alive"),
        (true, Version::Http11) => {}
    }
}

/// Chooses how to delimit an origin body for this client.
fn origin_framing(reply: &OriginReply, client: ClientSide) -> ResponseFraming {
    let status = reply.status.as_u16();
    if client.head || reply.status.is_informational() || status == 204 || status == 304 {
        return ResponseFraming::NoBody;
    }
    // The length is what hyper actually framed the body with, never the origin's
    // header taken on trust: with `Transfer-Encoding` and `Content-Length` both sent,
    // or `Content-Length: 5, 5`, passing the header on would desync the client.
    let length = http_body::Body::size_hint(&reply.body).exact();
    match (length, client.version) {
        (Some(n), _) => ResponseFraming::Length(n),
        (None, Version::Http11) => ResponseFraming::Chunked,
        (None, Version::Http10) => ResponseFraming::UntilClose,
    }
}

/// Streams an origin response to the client.
pub async fn write_origin<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &mut Vec<u8>,
    date: &mut DateCache,
    client: ClientSide,
    request_id: &str,
    mut reply: OriginReply,
) -> io::Result<Written> {
    let framing = origin_framing(&reply, client);
    let keep_alive = client.keep_alive && framing != ResponseFraming::UntilClose;
    let status = reply.status.as_u16();
    out.clear();
    let reason = reply.reason.as_deref().unwrap_or_else(|| {
        reply
            .status
            .canonical_reason()
            .unwrap_or_else(|| reason_phrase(status))
            .as_bytes()
    });
    write_status_line(out, Version::Http11, status, reason);
    // Note the fields the edge may add while copying, rather than three lookups
    // afterwards (each hashes the name again).
    let (mut has_date, mut has_via, mut has_request_id) = (false, false, false);
    for (name, value) in &reply.headers {
        has_date |= name == http::header::DATE;
        has_via |= name == http::header::VIA;
        has_request_id |= name == X_REQUEST_ID;
        // A bodiless reply (HEAD, 204, 304) keeps the origin's Content-Length as
        // metadata; otherwise the edge writes the length it frames with.
        if name == http::header::CONTENT_LENGTH && framing != ResponseFraming::NoBody {
            continue;
        }
        write_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let ResponseFraming::Length(n) = framing {
        write_header_u64(out, b"Content-Length", n);
    }
    if !has_date {
        write_header(out, b"Date", date.now());
    }
    if !has_via {
        write_header(out, b"Via", VIA.as_bytes());
    }
    if !has_request_id {
        write_header(out, REQUEST_ID_HEADER.as_bytes(), request_id.as_bytes());
    }
    if framing == ResponseFraming::Chunked {
        write_header(out, b"Transfer-Encoding", b"chunked");
    }
    connection_header(out, client, keep_alive);
    end_head(out);
    let body_bytes = stream_body(wr, out, &mut reply, framing, client.write_timeout).await?;
    if let ResponseFraming::Length(n) = framing {
        if body_bytes != n {
            // The announced length was not met: the connection cannot be trusted further.
            return Err(io::Error::other(format!(
                "origin body ended after {body_bytes} of {n} bytes"
            )));
        }
    }
    Ok(Written {
        status,
        body_bytes,
        keep_alive,
    })
}

/// Copies the origin body after the head already in `out`, coalescing small frames.
async fn stream_body<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &mut Vec<u8>,
    reply: &mut OriginReply,
    framing: ResponseFraming,
    client_write: Duration,
) -> io::Result<u64> {
    let mut sent = 0u64;
    loop {
        // Write what is buffered when the next frame is not ready yet, so a
        // small response goes out in one write and a slow one is not held back.
        // A stalled origin body is bounded too: the idle timeout ends the exchange.
        let idle = reply.idle_timeout;
        let frame = tokio::select! {
            biased;
            f = tokio::time::timeout(idle, reply.body.frame()) => f,
            _ = std::future::ready(()), if !out.is_empty() => {
                send(wr, out, client_write).await?;
                out.clear();
                tokio::time::timeout(idle, reply.body.frame()).await
            }
        };
        let frame = frame.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "origin body stalled"))?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| io::Error::other(format!("origin body: {e}")))?;
        match frame.into_data() {
            Ok(mut data) => {
                if framing == ResponseFraming::NoBody || data.is_empty() {
                    continue;
                }
                sent += data.len() as u64;
                if framing == ResponseFraming::Chunked {
                    write_chunk_header(out, data.len());
                }
                while data.has_remaining() {
                    let chunk = data.chunk();
                    out.extend_from_slice(chunk);
                    let n = chunk.len();
                    data.advance(n);
                }
                if framing == ResponseFraming::Chunked {
                    out.extend_from_slice(CHUNK_END);
                }
                if reply.body.is_end_stream() {
                    // The last bytes of a known length: polling on would only yield `None`.
                    break;
                }
            }
            Err(frame) => {
                if let (Ok(trailers), ResponseFraming::Chunked) = (frame.into_trailers(), framing) {
                    out.extend_from_slice(b"0\r\n");
                    for (name, value) in &trailers {
                        write_header(out, name.as_str().as_bytes(), value.as_bytes());
                    }
                    end_head(out);
                    send(wr, out, client_write).await?;
                    out.clear();
                    return Ok(sent);
                }
            }
        }
        if out.len() >= FLUSH_AT {
            send(wr, out, client_write).await?;
            out.clear();
        }
    }
    if framing == ResponseFraming::Chunked {
        out.extend_from_slice(LAST_CHUNK);
    }
    if !out.is_empty() {
        send(wr, out, client_write).await?;
        out.clear();
    }
    Ok(sent)
}
