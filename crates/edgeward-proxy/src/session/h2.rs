//! HTTP/2 sessions over the `h2` crate: one connection task that accepts streams, and
//! one [`Session`] per stream that runs the pipeline like any HTTP/1 request.
//!
//! Owns the connection's settings and defences (concurrent streams, header list size,
//! flow-control windows, bounded send buffers, rapid-reset and reset-flood limits, an
//! idle timeout, GOAWAY on shutdown with in-flight streams finished), turning a stream's
//! HEADERS into a `RequestHead` (`:authority` as Host, cookies joined for HTTP/1.1
//! origins, RFC 9113 §8.2 field checks), the body as DATA frames with flow control, and
//! writing responses within the peer's windows. Frame syntax, HPACK, stream states and
//! connection-specific field refusal are the `h2` crate's.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeward_errors::{EdgeError, TimeoutPhase};
use edgeward_http::{BodyFraming, DateCache, Limits, RequestHead};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

use super::h2_request::{request_head, Malformed};
use super::rewind::Rewind;
use super::{Driven, Session, Tunnelled, Written};
use crate::edge::Edge;
use crate::pipeline;
use crate::request::Protocol;
use crate::request_body::{BodyAborted, UpstreamBody};
use crate::response::{Response, ResponseBody};
use crate::tls::Transport;

/// Streams a client may have open at once (nginx's default is 128).
const MAX_CONCURRENT_STREAMS: u32 = 128;
/// Per-stream receive window: large enough that an upload is not held to 64 KiB per RTT.
const STREAM_WINDOW: u32 = 1 << 20;
/// Connection receive window.
const CONNECTION_WINDOW: u32 = 4 << 20;
/// Bytes buffered per stream towards the client before waiting for its window.
const SEND_BUFFER: usize = 64 * 1024;
/// Streams reset by the client before the edge accepted them (rapid reset, CVE-2023-44487):
/// past this, the connection gets GOAWAY(ENHANCE_YOUR_CALM).
const PENDING_ACCEPT_RESETS: usize = 64;
/// Streams the edge had to reset for a client's protocol errors before it gives up on it.
const LOCAL_ERROR_RESETS: usize = 256;
/// How long a closing connection with no stream left waits for the client's PING ack.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Frames buffered between a stream and the upstream request body.
const BODY_CHANNEL: usize = 4;

/// Serves one HTTP/2 connection until it ends, the client idles out, or shutdown (GOAWAY,
/// then in-flight streams finish).
pub async fn serve<T, F>(
    io: T,
    peer: SocketAddr,
    transport: Transport,
    edge: F,
    mut shutdown: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn() -> Arc<Edge> + Send + Sync + 'static,
{
    let current = edge();
    let limits = current.limits.clone();
    let Some(io) = opening(io, peer, limits.header_timeout).await else {
        return;
    };
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        // Twice the edge's own limit: a header section over the limit but under this one is
        // answered by the catalog (431 naming the field); far beyond it, the h2 layer refuses
        // it before it is held in memory.
        .max_header_list_size(u32::try_from(limits.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX))
        .max_send_buffer_size(SEND_BUFFER)
        .max_pending_accept_reset_streams(PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS));
    let handshake = tokio::time::timeout(limits.header_timeout, builder.handshake::<_, Bytes>(io)).await;
    let mut conn = match handshake {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "HTTP/2 handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "HTTP/2 preface timed out");
            return;
        }
    };
    let edge = Arc::new(edge);
    let open = Arc::new(AtomicUsize::new(0));
    let mut draining_since: Option<Instant> = None;
    let mut idle_since = Some(Instant::now());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((request, respond))) => {
                    idle_since = None;
                    let stream = StreamTask {
                        edge: Arc::clone(&edge),
                        peer,
                        transport: transport.clone(),
                        open: Arc::clone(&open),
                    };
                    open.fetch_add(1, Ordering::AcqRel);
                    tokio::spawn(stream.run(request, respond));
                }
                Some(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "HTTP/2 connection error");
                    break;
                }
                None => break,
            },
            _ = shutdown.wait_for(|stop| *stop), if draining_since.is_none() => {
                // GOAWAY: no new streams; the connection ends once in-flight ones finish.
                conn.graceful_shutdown();
                draining_since = Some(Instant::now());
            }
            _ = tick.tick() => {
                let busy = open.load(Ordering::Acquire) > 0;
                match draining_since {
                    // The graceful close waits for the client to acknowledge a PING; one that
                    // never does must not hold the connection once no stream is left.
                    Some(since) if !busy && since.elapsed() >= DRAIN_GRACE => {
                        conn.abrupt_shutdown(Reason::NO_ERROR);
                        break;
                    }
                    Some(_) => {}
                    None if busy => idle_since = None,
                    None => {
                        if idle_since.get_or_insert_with(Instant::now).elapsed() >= limits.keepalive_timeout {
                            conn.graceful_shutdown();
                            draining_since = Some(Instant::now());
                        }
                    }
                }
            }
        }
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4), then a frame header.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frame type of SETTINGS, and its ACK flag.
const SETTINGS: u8 = 0x4;
const ACK: u8 = 0x1;

/// Reads the client's preface and the header of its first frame, which MUST be a SETTINGS
/// frame (RFC 9113 §3.4): anything else is a connection error of type PROTOCOL_ERROR,
/// answered with our (empty) SETTINGS and a GOAWAY. The bytes read are put back for the
/// HTTP/2 layer.
async fn opening<T: AsyncRead + AsyncWrite + Unpin>(
    mut io: T,
    peer: SocketAddr,
    timeout: Duration,
) -> Option<Rewind<T>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut first = [0u8; 24 + 9];
    if tokio::time::timeout(timeout, io.read_exact(&mut first))
        .await
        .ok()?
        .is_err()
    {
        tracing::debug!(%peer, "HTTP/2 preface incomplete");
        return None;
    }
    let header = &first[24..];
    let stream_id = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
    if &first[..24] != PREFACE || header[3] != SETTINGS || header[4] & ACK != 0 || stream_id != 0 {
        tracing::debug!(%peer, "HTTP/2 preface not followed by SETTINGS");
        // Our preface (an empty SETTINGS), then GOAWAY(last stream 0, PROTOCOL_ERROR).
        let refusal: [u8; 9 + 17] = [
            0, 0, 0, SETTINGS, 0, 0, 0, 0, 0, //
            0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        let _ = tokio::time::timeout(timeout, io.write_all(&refusal)).await;
        let _ = io.shutdown().await;
        return None;
    }
    Some(Rewind::new(Bytes::copy_from_slice(&first), io))
}

/// What a stream's task needs from its connection.
struct StreamTask<F> {
    edge: Arc<F>,
    peer: SocketAddr,
    transport: Transport,
    open: Arc<AtomicUsize>,
}

impl<F: Fn() -> Arc<Edge>> StreamTask<F> {
    async fn run(self, request: http::Request<RecvStream>, respond: SendResponse<Bytes>) {
        let started = Instant::now();
        let edge = (self.edge)();
        let _open = edge
            .telemetry
            .metrics
            .stream_opened(edgeward_analytics::Protocol::H2);
        let (parts, recv) = request.into_parts();
        let ended = recv.is_end_stream();
        let mut stream = Stream {
            peer: self.peer,
            transport: self.transport,
            respond,
            recv: Some(recv),
            feed: None,
            date: DateCache::default(),
            received: 0,
            max_body: u64::MAX,
            body_retry_after: None,
            body_timeout: edge.limits.body_timeout,
        };
        match request_head(&parts, ended) {
            Ok(head) => pipeline::serve(&edge, &mut stream, head, started).await,
            Err(Malformed::Reset(why)) => {
                // RFC 9113 §8.1.1: a malformed request is a stream error of type PROTOCOL_ERROR.
                tracing::debug!(peer = %self.peer, why, "malformed HTTP/2 request");
                stream.respond.send_reset(Reason::PROTOCOL_ERROR);
                pipeline::closed_mid_head(&edge, self.peer, started);
            }
            Err(Malformed::Refuse(error)) => {
                let accept = parts.headers.get(header::ACCEPT).map(HeaderValue::as_bytes);
                let head_only = parts.method == http::Method::HEAD;
                pipeline::refuse(&edge, &mut stream, error, started, head_only, accept).await;
            }
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One HTTP/2 stream as a [`Session`].
struct Stream {
    peer: SocketAddr,
    transport: Transport,
    respond: SendResponse<Bytes>,
    recv: Option<RecvStream>,
    feed: Option<mpsc::Sender<Result<Frame<Bytes>, BodyAborted>>>,
    date: DateCache,
    received: u64,
    max_body: u64,
    body_retry_after: Option<u64>,
    body_timeout: Duration,
}

impl Session for Stream {
    fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn transport(&self) -> &Transport {
        &self.transport
    }

    fn protocol(&self) -> Protocol {
        Protocol::Http2
    }

    fn date(&mut self) -> &[u8] {
        self.date.now()
    }

    fn start_body(&mut self, head: &RequestHead, limits: &Limits) -> UpstreamBody {
        self.max_body = limits.max_body_bytes;
        self.body_retry_after = limits.body_retry_after;
        self.body_timeout = limits.body_timeout;
        let ended = self.recv.as_ref().is_none_or(RecvStream::is_end_stream);
        if ended {
            self.recv = None;
            return UpstreamBody::empty();
        }
        let (tx, rx) = mpsc::channel(BODY_CHANNEL);
        self.feed = Some(tx);
        let exact = match head.framing {
            BodyFraming::Length(n) => Some(n),
            _ => None,
        };
        UpstreamBody::streamed(rx, None, exact)
    }

    fn body_received(&self) -> u64 {
        self.received
    }

    async fn drive<W: std::future::Future>(&mut self, work: W) -> Driven<W::Output> {
        let pump = pump(
            self.recv.as_mut(),
            self.feed.take(),
            &mut self.received,
            self.max_body,
            self.body_retry_after,
            self.body_timeout,
        );
        let respond = &mut self.respond;
        let reset = poll_fn(|cx| respond.poll_reset(cx));
        tokio::select! {
            done = work => Driven::Done(done),
            fault = pump => Driven::Fault(fault),
            _ = reset => Driven::ClientGone,
        }
    }

    async fn respond(&mut self, response: Response, head_only: bool) -> std::io::Result<Written> {
        let status = response.head.status;
        let bodiless = head_only || status == 204 || status == 304;
        let mut head = http::Response::new(());
        *head.status_mut() = status;
        *head.headers_mut() = response.head.headers;
        strip_connection_fields(head.headers_mut());
        let length = match &response.body {
            ResponseBody::Full(bytes) => Some(bytes.len() as u64),
            ResponseBody::Origin { body, .. } if !bodiless => Body::size_hint(body).exact(),
            ResponseBody::Origin { .. } => None,
        };
        if let (Some(n), false) = (length, status == 204 || status == 304) {
            head.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        let empty = bodiless || length == Some(0);
        let mut send = self
            .respond
            .send_response(head, empty)
            .map_err(std::io::Error::other)?;
        let written = |body_bytes| Written {
            status: status.as_u16(),
            body_bytes,
            keep_alive: true,
        };
        if empty {
            return Ok(written(0));
        }
        let sent = match response.body {
            ResponseBody::Full(bytes) => {
                let n = bytes.len() as u64;
                send_data(&mut send, bytes, true, self.body_timeout).await?;
                n
            }
            ResponseBody::Origin {
                mut body,
                idle_timeout,
            } => stream_origin(&mut send, &mut body, idle_timeout, self.body_timeout).await?,
        };
        Ok(written(sent))
    }

    async fn tunnel(&mut self, _origin: hyper::upgrade::OnUpgrade, _idle: Duration) -> Tunnelled {
        // HTTP/2 requests are never forwarded as HTTP/1.1 upgrades (an extended CONNECT is
        // refused at admission), so no 101 reaches an HTTP/2 stream.
        Tunnelled::default()
    }
}

/// Reads the stream's DATA frames into the upstream body, releasing flow-control capacity
/// as frames are handed on; returns only on a fault (then the pipeline answers it).
async fn pump(
    recv: Option<&mut RecvStream>,
    feed: Option<mpsc::Sender<Result<Frame<Bytes>, BodyAborted>>>,
    received: &mut u64,
    max_body: u64,
    retry_after: Option<u64>,
    body_timeout: Duration,
) -> EdgeError {
    let (Some(recv), Some(feed)) = (recv, feed) else {
        return std::future::pending().await;
    };
    loop {
        let next = match tokio::time::timeout(body_timeout, recv.data()).await {
            Err(_) => {
                let _ = feed.send(Err(BodyAborted)).await;
                return EdgeError::RequestTimeout(TimeoutPhase::Body);
            }
            Ok(next) => next,
        };
        match next {
            Some(Ok(data)) => {
                let n = data.len();
                *received += n as u64;
                if *received > max_body {
                    let _ = feed.send(Err(BodyAborted)).await;
                    return EdgeError::PayloadTooLarge {
                        limit: max_body,
                        retry_after,
                    };
                }
                let _ = recv.flow_control().release_capacity(n);
                if feed.send(Ok(Frame::data(data))).await.is_err() {
                    // The pipeline no longer wants the body: stop reading it.
                    return std::future::pending().await;
                }
            }
            Some(Err(_)) => {
                let _ = feed.send(Err(BodyAborted)).await;
                return std::future::pending().await;
            }
            None => break,
        }
    }
    if let Ok(Some(trailers)) = recv.trailers().await {
        let _ = feed.send(Ok(Frame::trailers(trailers))).await;
    }
    drop(feed);
    std::future::pending().await
}

/// Fields that describe one HTTP/1 connection, never sent on HTTP/2 (RFC 9113 §8.2.2).
fn strip_connection_fields(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}

/// Sends `data` within the client's flow-control window, waiting at most `limit` for it
/// to open each time (a client that stops reading is abandoned).
async fn send_data(
    send: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
    limit: Duration,
) -> std::io::Result<()> {
    if data.is_empty() {
        if end {
            send.send_data(data, true).map_err(std::io::Error::other)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let capacity = match tokio::time::timeout(limit, poll_fn(|cx| send.poll_capacity(cx))).await {
            Ok(Some(Ok(n))) => n,
            Ok(Some(Err(e))) => return Err(std::io::Error::other(e)),
            Ok(None) => return Err(std::io::Error::other("stream closed")),
            Err(_) => {
                send.send_reset(Reason::CANCEL);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "client stopped reading",
                ));
            }
        };
        if capacity == 0 {
            continue;
        }
        let chunk = data.split_to(capacity.min(data.len()));
        send.send_data(chunk, end && data.is_empty())
            .map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// Streams an origin body onto the stream, trailers included.
async fn stream_origin(
    send: &mut SendStream<Bytes>,
    body: &mut crate::origin::StreamBody,
    idle: Duration,
    client_write: Duration,
) -> std::io::Result<u64> {
    let mut sent = 0u64;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                send.send_reset(Reason::INTERNAL_ERROR);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "origin body stalled",
                ));
            }
            Ok(None) => {
                send.send_data(Bytes::new(), true)
                    .map_err(std::io::Error::other)?;
                return Ok(sent);
            }
            Ok(Some(Err(e))) => {
                // The origin broke off: the client must not take a truncated body as whole.
                send.send_reset(Reason::INTERNAL_ERROR);
                return Err(std::io::Error::other(format!("origin body: {e}")));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                sent += data.len() as u64;
                let end = body.is_end_stream();
                send_data(send, data, end, client_write).await?;
                if end {
                    return Ok(sent);
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    send.send_trailers(trailers).map_err(std::io::Error::other)?;
                    return Ok(sent);
                }
            }
        }
    }
}
