//! Writing a [`Response`] as HTTP/1.1 bytes: the status line, the head's fields, and
//! the framing the client's version allows (Content-Length kept, chunked re-encoding,
//! close-delimited for HTTP/1.0, no body for HEAD/1xx/204/304), then the body.
//!
//! Owns response framing and `Connection`. Which fields a response carries is
//! `response`'s business; this module adds only framing fields.

use std::io;
use std::time::Duration;

use bytes::Buf;
use edgeward_errors::reason_phrase;
use edgeward_http::{
    end_head, write_chunk_header, write_header, write_header_u64, write_status_line, ResponseFraming,
    Version, CHUNK_END, LAST_CHUNK,
};
use http::header;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::Written;
use crate::origin::StreamBody;
use crate::response::{Response, ResponseBody};

/// Flush the output buffer once it holds this much. Larger body frames are written
/// straight from the origin's buffer instead of being copied, so a client that stops
/// reading holds at most this much here (issue 11: backpressure, not buffering).
const FLUSH_AT: usize = 16 * 1024;

// Status lines always say HTTP/1.1, the highest version the edge speaks
// (RFC 9110 §6.2); framing still follows what the client's version allows.

/// What the client's request allows for the response.
#[derive(Clone, Copy)]
pub struct ClientSide {
    /// The request's HTTP version.
    pub version: Version,
    /// Whether the connection may stay open after this response.
    pub keep_alive: bool,
    /// Longest a write to the client may wait (a client that stops reading is dropped).
    pub write_timeout: Duration,
}

impl Default for ClientSide {
    fn default() -> Self {
        ClientSide {
            version: Version::Http11,
            keep_alive: false,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Writes all of `buf` to the client within `limit`.
async fn send<W: AsyncWrite + Unpin>(wr: &mut W, buf: &[u8], limit: Duration) -> io::Result<()> {
    match tokio::time::timeout(limit, wr.write_all(buf)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")),
    }
}

/// How the body is delimited, and whether the head's own `Content-Length` is kept.
fn framing(response: &Response, client: ClientSide, head_only: bool) -> ResponseFraming {
    let status = response.head.status;
    if status.is_informational() || status == 204 || status == 304 {
        return ResponseFraming::NoBody;
    }
    // The length is what was actually framed, never an origin's header taken on trust:
    // with `Transfer-Encoding` and `Content-Length` both sent, or `Content-Length: 5, 5`,
    // passing the header on would desync the client.
    let length = match &response.body {
        ResponseBody::Full(bytes) => Some(bytes.len() as u64),
        // The origin's answer to HEAD has no body: its own Content-Length is the metadata.
        ResponseBody::Origin { .. } if head_only => return ResponseFraming::NoBody,
        ResponseBody::Origin { body, .. } => Body::size_hint(body).exact(),
    };
    match (length, client.version, head_only) {
        // HEAD announces the length a GET would get, when it is known.
        (Some(n), _, _) => ResponseFraming::Length(n),
        (None, _, true) => ResponseFraming::NoBody,
        (None, Version::Http11, false) => ResponseFraming::Chunked,
        (None, Version::Http10, false) => ResponseFraming::UntilClose,
    }
}

/// Writes `response` to the client.
pub async fn write_response<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &mut Vec<u8>,
    client: ClientSide,
    response: Response,
    head_only: bool,
) -> io::Result<Written> {
    let framing = framing(&response, client, head_only);
    let switching = response.head.status == http::StatusCode::SWITCHING_PROTOCOLS;
    let keep_alive = client.keep_alive && !response.head.close && framing != ResponseFraming::UntilClose;
    let head = &response.head;
    let status = head.status.as_u16();
    out.clear();
    let reason = head.reason.as_deref().unwrap_or_else(|| {
        head.status
            .canonical_reason()
            .unwrap_or_else(|| reason_phrase(status))
            .as_bytes()
    });
    write_status_line(out, Version::Http11, status, reason);
    for (name, value) in &head.headers {
        // A bodiless reply (HEAD, 204, 304) keeps the origin's Content-Length as metadata;
        // otherwise the edge writes the length it frames with.
        if name == header::CONTENT_LENGTH && framing != ResponseFraming::NoBody {
            continue;
        }
        write_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    match framing {
        ResponseFraming::Length(n) => write_header_u64(out, b"Content-Length", n),
        ResponseFraming::Chunked => write_header(out, b"Transfer-Encoding", b"chunked"),
        ResponseFraming::NoBody | ResponseFraming::UntilClose => {}
    }
    match (switching, keep_alive, client.version) {
        (true, _, _) => write_header(out, b"Connection", b"upgrade"),
        (false, false, _) => write_header(out, b"Connection", b"close"),
        (false, true, Version::Http10) => write_header(out, b"Connection", b"keep-alive"),
        (false, true, Version::Http11) => {}
    }
    end_head(out);
    let body_bytes = match response.body {
        _ if head_only || framing == ResponseFraming::NoBody => {
            send(wr, out, client.write_timeout).await?;
            0
        }
        ResponseBody::Full(bytes) => {
            out.extend_from_slice(&bytes);
            send(wr, out, client.write_timeout).await?;
            bytes.len() as u64
        }
        ResponseBody::Origin {
            mut body,
            idle_timeout,
        } => {
            let sent = stream_body(wr, out, &mut body, framing, idle_timeout, client.write_timeout).await?;
            if let ResponseFraming::Length(n) = framing {
                if sent != n {
                    // The announced length was not met: the connection cannot be trusted further.
                    return Err(io::Error::other(format!(
                        "origin body ended after {sent} of {n} bytes"
                    )));
                }
            }
            sent
        }
    };
    out.clear();
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
    body: &mut StreamBody,
    framing: ResponseFraming,
    idle: Duration,
    client_write: Duration,
) -> io::Result<u64> {
    let mut sent = 0u64;
    loop {
        // Write what is buffered when the next frame is not ready yet, so a
        // small response goes out in one write and a slow one is not held back.
        // A stalled origin body is bounded too: the idle timeout ends the exchange.
        let frame = tokio::select! {
            biased;
            f = tokio::time::timeout(idle, body.frame()) => f,
            _ = std::future::ready(()), if !out.is_empty() => {
                send(wr, out, client_write).await?;
                out.clear();
                tokio::time::timeout(idle, body.frame()).await
            }
        };
        let frame = frame.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "origin body stalled"))?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| io::Error::other(format!("origin body: {e}")))?;
        match frame.into_data() {
            Ok(mut data) => {
                if data.is_empty() {
                    continue;
                }
                sent += data.len() as u64;
                let len = data.len();
                if framing == ResponseFraming::Chunked {
                    write_chunk_header(out, len);
                }
                if out.len() + len > FLUSH_AT {
                    // Too big to coalesce: what is buffered first, then the frame itself.
                    send(wr, out, client_write).await?;
                    out.clear();
                }
                while data.has_remaining() {
                    let chunk = data.chunk();
                    let n = chunk.len();
                    if out.is_empty() && n > FLUSH_AT {
                        send(wr, chunk, client_write).await?;
                    } else {
                        out.extend_from_slice(chunk);
                    }
                    data.advance(n);
                }
                if framing == ResponseFraming::Chunked {
                    out.extend_from_slice(CHUNK_END);
                }
                if body.is_end_stream() {
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
