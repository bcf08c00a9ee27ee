//! One downstream HTTP/1.1 connection: read a head, run the pipeline while
//! streaming the body, write the reply, repeat while keep-alive allows.
//!
//! Owns timeouts (idle keep-alive, header 408, body 408), `100 Continue`, the
//! detection of a client that leaves early (499, which cancels the upstream
//! request by dropping it), lingering close, and the access log line. What to
//! answer is the pipeline's decision; how bytes look is `write`'s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use edgeward_errors::{EdgeError, RenderContext, TimeoutPhase};
use edgeward_http::{
    parse_head, sniff_header, BodyDecoder, BodyEvent, BodyFraming, DateCache, Limits, RequestHead, Version,
};
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};

use crate::access_log::AccessRecord;
use crate::pipeline::{self, Edge, Reply, RequestCtx};
use crate::request_id::RequestId;
use crate::tls::Transport;
use crate::upstream::{BodyAborted, UpstreamBody};
use crate::write::{self, ClientSide};

/// Bytes read ahead (pipelined requests) while waiting for the origin; past this, stop reading.
const READ_AHEAD_LIMIT: usize = 64 * 1024;
/// How long to keep reading (and discarding) after a close with an unread body.
const LINGER: Duration = Duration::from_secs(2);
/// How much to discard at most while lingering.
const LINGER_BYTES: usize = 1024 * 1024;
/// Frames buffered between the connection and the upstream request body.
const BODY_CHANNEL: usize = 4;

/// The state of one downstream connection.
pub struct Connection<R, W> {
    rd: R,
    wr: W,
    buf: BytesMut,
    out: Vec<u8>,
    peer: SocketAddr,
    transport: Transport,
    date: DateCache,
}

/// How reading a head ended.
enum HeadRead {
    Head(RequestHead, Instant),
    /// The client sent a head the edge refuses (or took too long).
    Fault(EdgeError, Instant),
    /// The client closed in the middle of a head.
    ClosedMidHead(Instant),
    /// Clean end: idle timeout, close between requests, or shutdown.
    Closed,
}

/// How the body pump ended (it only ends early; otherwise it waits forever).
enum PumpEnd {
    Fault(EdgeError),
    ClientClosed,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Connection<R, W> {
    /// A plain-TCP connection over a read half and a write half.
    pub fn new(rd: R, wr: W, peer: SocketAddr) -> Self {
        Connection {
            rd,
            wr,
            buf: BytesMut::with_capacity(8 * 1024),
            out: Vec::with_capacity(8 * 1024),
            peer,
            transport: Transport::plain(),
            date: DateCache::default(),
        }
    }

    /// The same connection, come over `transport` (TLS).
    pub fn with_transport(self, transport: Transport) -> Self {
        Connection { transport, ..self }
    }

    /// Serves requests until the connection ends. `edge` gives the current
    /// configuration for each new request; `shutdown` turning true closes idle connections.
    pub async fn serve(mut self, edge: impl Fn() -> Arc<Edge>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let current = edge();
            let keep_alive = match self.read_head(&current.limits, &mut shutdown).await {
                // The configuration is taken again once the head is in: an idle
                // keep-alive connection must not serve its next request on an old one.
                HeadRead::Head(head, started) => self.exchange(&edge(), head, started).await,
                HeadRead::Fault(error, started) => {
                    self.answer_fault(&current, error, started).await;
                    false
                }
                HeadRead::ClosedMidHead(started) => {
                    let analytics = current.analytics.as_ref();
                    AccessRecord::new(self.peer, RequestId::next(), started, analytics.is_some())
                        .client_closed(None)
                        .emit(analytics);
                    false
                }
                HeadRead::Closed => false,
            };
            if !keep_alive || *shutdown.borrow() {
                break;
            }
        }
        let _ = self.wr.shutdown().await;
    }

    async fn read_head(&mut self, limits: &Limits, shutdown: &mut watch::Receiver<bool>) -> HeadRead {
        if self.buf.is_empty() {
            tokio::select! {
                r = tokio::time::timeout(limits.keepalive_timeout, self.rd.read_buf(&mut self.buf)) => {
                    if !matches!(r, Ok(Ok(n)) if n > 0) {
                        return HeadRead::Closed;
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => return HeadRead::Closed,
            }
        }
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + limits.header_timeout);
        loop {
            match parse_head(&mut self.buf, limits) {
                Ok(Some(head)) => return HeadRead::Head(head, started),
                Err(error) => return HeadRead::Fault(error, started),
                Ok(None) => {}
            }
            match tokio::time::timeout_at(deadline, self.rd.read_buf(&mut self.buf)).await {
                Err(_) => return HeadRead::Fault(EdgeError::RequestTimeout(TimeoutPhase::Header), started),
                Ok(Ok(0)) | Ok(Err(_)) => return HeadRead::ClosedMidHead(started),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Answers a head the edge could not accept; the connection then closes.
    async fn answer_fault(&mut self, edge: &Edge, error: EdgeError, started: Instant) {
        let request_id = RequestId::next();
        let head_only = self.buf.starts_with(b"HEAD ");
        let ctx = RenderContext {
            head: head_only,
            client_ip: Some(self.peer.ip()),
            accept: sniff_header(&self.buf, "accept"),
            ..RenderContext::new(request_id.as_str())
        };
        let client = ClientSide {
            version: Version::Http11,
            head: head_only,
            keep_alive: false,
            write_timeout: edge.limits.body_timeout,
        };
        let rendered = write::render_error(&error, &ctx);
        let written = write::write_error(&mut self.wr, &mut self.out, &mut self.date, client, rendered).await;
        let analytics = edge.analytics.as_ref();
        let mut record = AccessRecord::new(self.peer, request_id, started, analytics.is_some());
        record.error = Some(error);
        match written {
            Ok(w) => record.written(&w),
            Err(_) => record = record.client_closed(None),
        }
        record.emit(analytics);
        self.linger().await;
    }

    /// One request/response exchange; returns whether the connection stays open.
    async fn exchange(&mut self, edge: &Edge, head: RequestHead, started: Instant) -> bool {
        let request_id = RequestId::next();
        let analytics = edge.analytics.as_ref();
        let mut record = AccessRecord::new(self.peer, request_id, started, analytics.is_some());
        record.request(&head);
        let routed = pipeline::route(edge, &head);
        let admitted = pipeline::check_transport(&self.transport, &head)
            .and(routed.as_ref().map_err(Clone::clone))
            .and_then(|r| pipeline::admit(edge, r, &head).map(|()| r));
        let limits = pipeline::limits_for(edge, routed.as_ref().ok());
        let mut decoder =
            BodyDecoder::new(head.framing, limits.max_body_bytes).with_retry_after(limits.body_retry_after);
        let body_timeout = limits.body_timeout;
        let mut client = ClientSide {
            version: head.version,
            head: head.is_head(),
            keep_alive: head.keep_alive,
            write_timeout: limits.body_timeout,
        };
        let ctx = RequestCtx {
            head: &head,
            client_ip: self.peer.ip(),
            request_id: request_id.as_str(),
            transport: &self.transport,
        };

        let outcome = match admitted {
            Err(error) => Ok(pipeline::Outcome {
                rule_id: error.rule_id().map(str::to_owned),
                ..pipeline::Outcome::edge(error)
            }),
            Ok(routed) => {
                let (body, feed) = upstream_body(&head, &decoder);
                let respond = pipeline::respond(edge, routed, &ctx, body);
                let pump = pump(
                    &mut self.rd,
                    &mut self.wr,
                    &mut self.buf,
                    &mut decoder,
                    feed,
                    body_timeout,
                );
                tokio::select! {
                    outcome = respond => Ok(outcome),
                    end = pump => Err(end),
                }
            }
        };
        let zone = routed.as_ref().ok().map(|r| edge.zone(r.zone));
        if let Some(z) = zone {
            record.zone(&z.name);
        }
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(PumpEnd::ClientClosed) => {
                record.bytes_in = decoder.received();
                record.client_closed(None).emit(analytics);
                return false;
            }
            Err(PumpEnd::Fault(error)) => pipeline::Outcome::edge(error),
        };
        record.bytes_in = decoder.received();
        record.origin_status = outcome.origin_status;
        record.origin_duration = outcome.origin_duration;
        record.rule_id = outcome.rule_id;
        record.source = outcome.source;
        // A body left unread means the connection closes after this reply: say so.
        client.keep_alive &= decoder.is_done();
        let written = match outcome.reply {
            Reply::Error(error) => {
                let accept = head.header("accept");
                let template = zone.and_then(|z| z.error_pages.for_status(error.status()));
                let ctx = RenderContext {
                    request_id: request_id.as_str(),
                    client_ip: Some(self.peer.ip()),
                    host: Some(head.host()),
                    accept,
                    head: client.head,
                    template,
                };
                let rendered = write::render_error(&error, &ctx);
                record.error = Some(error);
                write::write_error(&mut self.wr, &mut self.out, &mut self.date, client, rendered).await
            }
            Reply::Local(local) => {
                write::write_local(
                    &mut self.wr,
                    &mut self.out,
                    &mut self.date,
                    client,
                    request_id.as_str(),
                    local,
                )
                .await
            }
            Reply::Origin(origin) => {
                write::write_origin(
                    &mut self.wr,
                    &mut self.out,
                    &mut self.date,
                    client,
                    request_id.as_str(),
                    origin,
                )
                .await
            }
        };
        let keep_alive = match written {
            Ok(w) => {
                record.written(&w);
                record.emit(analytics);
                w.keep_alive
            }
            Err(_) => {
                record.client_closed(None).emit(analytics);
                return false;
            }
        };
        if !decoder.is_done() {
            // The body was not (fully) read: the connection cannot be reused.
            self.linger().await;
            return false;
        }
        keep_alive
    }

    /// Closes gracefully: stop writing, then read and discard for a moment, so
    /// that an unread request body does not turn the close into a reset that
    /// destroys the response before the client reads it.
    async fn linger(&mut self) {
        let _ = self.wr.flush().await;
        let _ = self.wr.shutdown().await;
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut discarded = 0;
        let mut scratch = [0u8; 8192];
        while discarded < LINGER_BYTES {
            match tokio::time::timeout_at(deadline, self.rd.read(&mut scratch)).await {
                Ok(Ok(n)) if n > 0 => discarded += n,
                _ => break,
            }
        }
    }
}

/// The upstream body for `head`, and the sending side the pump feeds.
fn upstream_body(head: &RequestHead, decoder: &BodyDecoder) -> (UpstreamBody, Option<BodyFeed>) {
    if decoder.is_done() {
        return (UpstreamBody::empty(), None);
    }
    let (tx, rx) = mpsc::channel(BODY_CHANNEL);
    let demand = head.expect_continue.then(|| Arc::new(Notify::new()));
    let exact = match head.framing {
        BodyFraming::Length(n) => Some(n),
        _ => None,
    };
    let body = UpstreamBody::streamed(rx, demand.clone(), exact);
    (
        body,
        Some(BodyFeed {
            tx: Some(tx),
            demand,
            version: head.version,
        }),
    )
}

/// The connection's end of a streamed request body.
struct BodyFeed {
    tx: Option<mpsc::Sender<Result<Frame<Bytes>, BodyAborted>>>,
    /// Notified when the pipeline first reads the body (then `100 Continue` is due).
    demand: Option<Arc<Notify>>,
    version: Version,
}

impl BodyFeed {
    async fn send(&mut self, frame: Result<Frame<Bytes>, BodyAborted>) {
        if let Some(tx) = &self.tx {
            if tx.send(frame).await.is_err() {
                // The pipeline no longer wants the body; keep decoding to stay in sync.
                self.tx = None;
            }
        }
    }
}

/// Reads and decodes the request body into `feed`, then watches for the client
/// leaving. Returns only when something ends the exchange early.
async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    rd: &mut R,
    wr: &mut W,
    buf: &mut BytesMut,
    decoder: &mut BodyDecoder,
    mut feed: Option<BodyFeed>,
    body_timeout: Duration,
) -> PumpEnd {
    if let Some(f) = feed.as_mut() {
        if let Some(demand) = f.demand.take() {
            demand.notified().await;
            if f.version == Version::Http11
                && buf.is_empty()
                && wr.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
            {
                return PumpEnd::ClientClosed;
            }
        }
    }
    while !decoder.is_done() {
        match decoder.decode(buf) {
            Err(error) => {
                if let Some(f) = feed.as_mut() {
                    f.send(Err(BodyAborted)).await;
                }
                return PumpEnd::Fault(error);
            }
            Ok(BodyEvent::Data(data)) => {
                if let Some(f) = feed.as_mut() {
                    f.send(Ok(Frame::data(data))).await;
                }
            }
            Ok(BodyEvent::End(trailers)) => {
                if let (Some(f), Some(map)) = (feed.as_mut(), trailer_map(&trailers)) {
                    f.send(Ok(Frame::trailers(map))).await;
                }
            }
            Ok(BodyEvent::NeedMore) => match tokio::time::timeout(body_timeout, rd.read_buf(buf)).await {
                Err(_) => {
                    if let Some(f) = feed.as_mut() {
                        f.send(Err(BodyAborted)).await;
                    }
                    return PumpEnd::Fault(EdgeError::RequestTimeout(TimeoutPhase::Body));
                }
                Ok(Ok(0)) | Ok(Err(_)) => return PumpEnd::ClientClosed,
                Ok(Ok(_)) => {}
            },
        }
    }
    drop(feed);
    // The request is complete: a read now only tells that the client left
    // (or brings a pipelined request, kept in `buf`).
    loop {
        if buf.len() >= READ_AHEAD_LIMIT {
            std::future::pending::<()>().await;
        }
        match rd.read_buf(buf).await {
            Ok(0) | Err(_) => return PumpEnd::ClientClosed,
            Ok(_) => {}
        }
    }
}

/// Trailer field lines as a header map (invalid lines were refused by the decoder).
fn trailer_map(raw: &Bytes) -> Option<http::HeaderMap> {
    if raw.is_empty() {
        return None;
    }
    let mut map = http::HeaderMap::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = http::HeaderName::from_bytes(&line[..colon]);
        let value = http::HeaderValue::from_bytes(edgeward_http::trim_ows(&line[colon + 1..]));
        if let (Ok(name), Ok(value)) = (name, value) {
            map.append(name, value);
        }
    }
    Some(map)
}
