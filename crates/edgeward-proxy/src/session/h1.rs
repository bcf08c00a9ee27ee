//! An HTTP/1.x session: read a head with edgeward's codec, run the pipeline while
//! streaming the body, write the response, repeat while keep-alive allows; after a 101,
//! tunnel the connection.
//!
//! Owns timeouts (idle keep-alive, header 408, body 408), `100 Continue`, the detection
//! of a client that leaves early (499, which cancels the upstream request by dropping
//! it), pipelined requests read ahead, and lingering close. What to answer is the
//! pipeline's decision; how the response bytes look is `h1_write`'s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use edgeward_errors::{EdgeError, TimeoutPhase};
use edgeward_http::{
    parse_head, sniff_header, BodyDecoder, BodyEvent, BodyFraming, DateCache, Limits, RequestHead, Version,
};
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};

use super::h1_write::{self, ClientSide};
use super::{tunnel, Driven, Session, Tunnelled, Written};
use crate::edge::Edge;
use crate::pipeline;
use crate::request::Protocol;
use crate::request_body::{BodyAborted, UpstreamBody};
use crate::response::Response;
use crate::tls::Transport;

/// Bytes read ahead (pipelined requests) while waiting for the origin; past this, stop reading.
const READ_AHEAD_LIMIT: usize = 64 * 1024;
/// How long to keep reading (and discarding) after a close with an unread body.
const LINGER: Duration = Duration::from_secs(2);
/// How much to discard at most while lingering.
const LINGER_BYTES: usize = 1024 * 1024;
/// Frames buffered between the connection and the upstream request body.
const BODY_CHANNEL: usize = 4;
/// What an idle keep-alive connection holds to read the next request's first bytes;
/// the buffer grows from there only when a request needs it (goal: ≤ 8 KB per idle
/// connection in all, issue 11).
const IDLE_READ: usize = 1024;
/// Room made before reading a body or a head that did not fit.
const READ_CHUNK: usize = 8 * 1024;

/// The state of one downstream HTTP/1 connection.
pub struct Connection<R, W> {
    rd: R,
    wr: W,
    buf: BytesMut,
    out: Vec<u8>,
    peer: SocketAddr,
    transport: Transport,
    date: DateCache,
    /// The current request's body decoder and the feed into its upstream body.
    decoder: Option<BodyDecoder>,
    feed: Option<BodyFeed>,
    body_timeout: Duration,
    /// The current request's limits (the minimum body rate is checked against them).
    body_limits: Option<Limits>,
    /// When the current request's body started (its head was read).
    body_started: Instant,
    /// What the current request allows for the response (version, keep-alive).
    client: ClientSide,
    /// Whether the connection can carry another request after the current one.
    reusable: bool,
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
            buf: BytesMut::new(),
            out: Vec::new(),
            peer,
            transport: Transport::plain(),
            date: DateCache::default(),
            decoder: None,
            feed: None,
            body_timeout: Duration::from_secs(30),
            body_limits: None,
            body_started: Instant::now(),
            client: ClientSide::default(),
            reusable: false,
        }
    }

    /// The same connection, come over `transport` (TLS).
    pub fn with_transport(self, transport: Transport) -> Self {
        Connection { transport, ..self }
    }

    /// The same connection, with `bytes` already read from the client (a sniffed preface).
    pub fn with_read_bytes(mut self, bytes: &[u8]) -> Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Serves requests until the connection ends. `edge` gives the current
    /// configuration for each new request; `shutdown` turning true closes idle connections.
    pub async fn serve(mut self, edge: impl Fn() -> Arc<Edge>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let current = edge();
            let keep_alive = match self.read_head(&current.limits, &mut shutdown).await {
                // The configuration is taken again once the head is in: an idle
                // keep-alive connection must not serve its next request on an old one.
                HeadRead::Head(head, started) => {
                    let edge = edge();
                    self.client = ClientSide {
                        version: head.version,
                        keep_alive: head.keep_alive,
                        write_timeout: edge.limits.body_timeout,
                    };
                    self.reusable = head.keep_alive;
                    // Boxed: the exchange's state lives only while a request does, so an
                    // idle connection's task stays small.
                    Box::pin(pipeline::serve(&edge, &mut self, head, started)).await;
                    self.finish_exchange().await
                }
                HeadRead::Fault(error, started) => {
                    let head_only = self.buf.starts_with(b"HEAD ");
                    let accept = sniff_header(&self.buf, "accept").map(<[u8]>::to_vec);
                    self.client = ClientSide {
                        version: Version::Http11,
                        keep_alive: false,
                        write_timeout: current.limits.body_timeout,
                    };
                    Box::pin(pipeline::refuse(
                        &current,
                        &mut self,
                        error,
                        started,
                        head_only,
                        accept.as_deref(),
                    ))
                    .await;
                    self.linger().await;
                    false
                }
                HeadRead::ClosedMidHead(started) => {
                    pipeline::closed_mid_head(&current, self.peer, started);
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

    /// After an exchange: whether the connection carries another request.
    async fn finish_exchange(&mut self) -> bool {
        self.feed = None;
        let body_done = self.decoder.take().is_none_or(|d| d.is_done());
        if !body_done {
            // The body was not (fully) read: the connection cannot be reused.
            self.linger().await;
            return false;
        }
        self.reusable
    }

    async fn read_head(&mut self, limits: &Limits, shutdown: &mut watch::Receiver<bool>) -> HeadRead {
        if self.buf.is_empty() {
            // Idle: give back what the last request needed, keep only a small read buffer.
            if self.buf.capacity() > IDLE_READ {
                self.buf = BytesMut::new();
            }
            self.buf.reserve(IDLE_READ);
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
            // Grow by doubling: a large head takes a few reads, not one per 64 bytes.
            let want = self.buf.len().max(READ_CHUNK);
            make_room(&mut self.buf, want);
            match tokio::time::timeout_at(deadline, self.rd.read_buf(&mut self.buf)).await {
                Err(_) => return HeadRead::Fault(EdgeError::RequestTimeout(TimeoutPhase::Header), started),
                Ok(Ok(0)) | Ok(Err(_)) => return HeadRead::ClosedMidHead(started),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Closes gracefully: stop writing, then read and discard for a moment, so
    /// that an unread request body does not turn the close into a reset that
    /// destroys the response before the client reads it.
    async fn linger(&mut self) {
        let _ = self.wr.flush().await;
        let _ = self.wr.shutdown().await;
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut discarded = 0;
        // On the heap: an array here would sit in every connection's task for its whole life.
        let mut scratch = vec![0u8; 8192];
        while discarded < LINGER_BYTES {
            match tokio::time::timeout_at(deadline, self.rd.read(&mut scratch)).await {
                Ok(Ok(n)) if n > 0 => discarded += n,
                _ => break,
            }
        }
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session for Connection<R, W> {
    fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn transport(&self) -> &Transport {
        &self.transport
    }

    fn protocol(&self) -> Protocol {
        match self.client.version {
            Version::Http10 => Protocol::Http10,
            Version::Http11 => Protocol::Http11,
        }
    }

    fn date(&mut self) -> &[u8] {
        self.date.now()
    }

    fn start_body(&mut self, head: &RequestHead, limits: &Limits) -> UpstreamBody {
        let decoder =
            BodyDecoder::new(head.framing, limits.max_body_bytes).with_retry_after(limits.body_retry_after);
        self.body_timeout = limits.body_timeout;
        self.body_limits = (limits.min_body_rate > 0).then(|| limits.clone());
        self.body_started = Instant::now();
        self.client.write_timeout = limits.body_timeout;
        let (body, feed) = upstream_body(head, &decoder);
        self.decoder = Some(decoder);
        self.feed = feed;
        body
    }

    fn body_received(&self) -> u64 {
        self.decoder.as_ref().map_or(0, BodyDecoder::received)
    }

    async fn drive<F: std::future::Future>(&mut self, work: F) -> Driven<F::Output> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Driven::Done(work.await);
        };
        let pump = pump(
            &mut self.rd,
            &mut self.wr,
            &mut self.buf,
            decoder,
            self.feed.take(),
            BodyPace {
                gap: self.body_timeout,
                limits: self.body_limits.as_ref(),
                started: self.body_started,
            },
        );
        tokio::select! {
            done = work => Driven::Done(done),
            end = pump => match end {
                PumpEnd::Fault(error) => Driven::Fault(error),
                PumpEnd::ClientClosed => {
                    self.reusable = false;
                    Driven::ClientGone
                }
            },
        }
    }

    async fn respond(&mut self, response: Response, head_only: bool) -> std::io::Result<Written> {
        // A body left unread means the connection closes after this reply: say so.
        let body_done = self.decoder.as_ref().is_none_or(BodyDecoder::is_done);
        let client = ClientSide {
            keep_alive: self.client.keep_alive && body_done && self.reusable,
            ..self.client
        };
        let written =
            h1_write::write_response(&mut self.wr, &mut self.out, client, response, head_only).await;
        // Nothing is kept between responses: an idle connection holds no output buffer.
        self.out = Vec::new();
        match &written {
            Ok(w) => self.reusable &= w.keep_alive,
            Err(_) => self.reusable = false,
        }
        written
    }

    async fn tunnel(&mut self, origin: hyper::upgrade::OnUpgrade, idle: Duration) -> Tunnelled {
        // The connection is the tunnel's now: it never carries another request.
        self.reusable = false;
        self.decoder = None;
        let early = self.buf.split();
        tunnel::run(&mut self.rd, &mut self.wr, &early, origin, idle).await
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
    pace: BodyPace<'_>,
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
            Ok(BodyEvent::NeedMore) => match read_more(rd, buf, pace.limit(decoder.received())).await {
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
        make_room(buf, READ_CHUNK.min(READ_AHEAD_LIMIT - buf.len()));
        match rd.read_buf(buf).await {
            Ok(0) | Err(_) => return PumpEnd::ClientClosed,
            Ok(_) => {}
        }
    }
}

/// How long a request body may take: the gap between two reads, and the minimum
/// average rate after a grace period (a body trickling in must not hold an origin
/// connection for long, issue 11).
struct BodyPace<'a> {
    gap: Duration,
    limits: Option<&'a Limits>,
    started: Instant,
}

impl BodyPace<'_> {
    /// The longest the next read may wait, with `received` bytes in so far.
    fn limit(&self, received: u64) -> Duration {
        let by_rate = self
            .limits
            .and_then(|l| l.body_rate_deadline(self.started, received))
            .map(|deadline| deadline.saturating_duration_since(Instant::now()));
        by_rate.map_or(self.gap, |rate| rate.min(self.gap))
    }
}

/// Reads more of a request body into `buf`, within `limit`.
async fn read_more<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    limit: Duration,
) -> Result<std::io::Result<usize>, tokio::time::error::Elapsed> {
    make_room(buf, READ_CHUNK);
    tokio::time::timeout(limit, rd.read_buf(buf)).await
}

/// Makes at least a little spare room in `buf`, reserving `want` more bytes when it is
/// (nearly) full: `read_buf` on a full buffer would otherwise read 64 bytes at a time.
fn make_room(buf: &mut BytesMut, want: usize) {
    if buf.capacity() - buf.len() < 512 {
        buf.reserve(want.max(512));
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
