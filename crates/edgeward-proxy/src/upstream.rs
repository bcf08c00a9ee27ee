//! The upstream side: origin connections, a small keep-alive pool per origin,
//! and sending one request to an origin.
//!
//! Owns connecting (DNS, TCP, timeouts), the hyper `client::conn` handshake,
//! and mapping every origin fault to its catalog error (409 DNS, 502, 504).
//! Does not build the forwarded request (that is `forward`).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeward_config::{Origin, UpstreamSettings};
use edgeward_errors::{EdgeError, OriginFault};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The body of a request sent to an origin: fed by the downstream connection.
pub struct UpstreamBody {
    rx: Option<mpsc::Receiver<Result<Frame<Bytes>, BodyAborted>>>,
    demand: Option<Arc<tokio::sync::Notify>>,
    exact_len: Option<u64>,
    /// Frames read ahead by `prefetch`, sent before anything else.
    replay: VecDeque<Result<Frame<Bytes>, BodyAborted>>,
    /// The channel already ended during a prefetch.
    ended: bool,
    /// Dropped with the body: tells the sender the request has been sent whole.
    sent: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The downstream body ended in an error (the client was too slow, sent garbage, or left).
#[derive(Debug)]
pub struct BodyAborted;

impl std::fmt::Display for BodyAborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client's request body was aborted")
    }
}

impl std::error::Error for BodyAborted {}

impl UpstreamBody {
    /// A body with no bytes.
    pub fn empty() -> Self {
        UpstreamBody {
            rx: None,
            demand: None,
            exact_len: Some(0),
            replay: VecDeque::new(),
            ended: false,
            sent: None,
        }
    }

    /// A streamed body; `demand` is notified on first poll (to send `100 Continue`).
    pub(crate) fn streamed(
        rx: mpsc::Receiver<Result<Frame<Bytes>, BodyAborted>>,
        demand: Option<Arc<tokio::sync::Notify>>,
        exact_len: Option<u64>,
    ) -> Self {
        UpstreamBody {
            rx: Some(rx),
            demand,
            exact_len,
            replay: VecDeque::new(),
            ended: false,
            sent: None,
        }
    }

    /// A signal that resolves once the body has been sent (or abandoned): the
    /// origin's response time is counted from then, so a long upload is not a timeout.
    fn sent_signal(&mut self) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.sent = Some(tx);
        rx
    }

    /// Reads ahead up to `limit` body bytes (for inspection) and returns them; the
    /// frames are kept and still sent to the origin, so the body is unchanged.
    pub async fn prefetch(&mut self, limit: usize) -> Bytes {
        let mut seen = bytes::BytesMut::new();
        if let Some(demand) = self.demand.take() {
            demand.notify_one();
        }
        let Some(rx) = self.rx.as_mut() else {
            return Bytes::new();
        };
        while seen.len() < limit && !self.ended {
            match rx.recv().await {
                None => self.ended = true,
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = limit - seen.len();
                        seen.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    self.replay.push_back(Ok(frame));
                }
                Some(Err(e)) => {
                    self.replay.push_back(Err(e));
                    break;
                }
            }
        }
        seen.freeze()
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyAborted>>> {
        if let Some(demand) = self.demand.take() {
            demand.notify_one();
        }
        if let Some(frame) = self.replay.pop_front() {
            return Poll::Ready(Some(frame));
        }
        let ended = self.ended;
        let polled = match self.rx.as_mut() {
            Some(rx) if !ended => rx.poll_recv(cx),
            _ => Poll::Ready(None),
        };
        if let Poll::Ready(None) = polled {
            self.sent = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.replay.is_empty() && (self.rx.is_none() || self.ended)
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// An idle pooled connection.
struct Idle {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

/// One origin with its pool of idle keep-alive connections.
pub struct OriginPool {
    origin: Origin,
    idle: Mutex<Vec<Idle>>,
    settings: UpstreamSettings,
}

/// A checked-out origin connection; returned to its pool when the response body ends.
pub struct Lease {
    sender: SendRequest<UpstreamBody>,
    pool: Arc<OriginPool>,
    /// Whether the connection came from the pool (a failure on it may be a stale close).
    pub reused: bool,
}

impl OriginPool {
    /// A pool for `origin`.
    pub fn new(origin: Origin, settings: UpstreamSettings) -> Self {
        OriginPool {
            origin,
            idle: Mutex::new(Vec::new()),
            settings,
        }
    }

    /// The origin this pool connects to.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// An idle connection if one is usable, else a new one.
    pub async fn checkout(self: &Arc<Self>, fresh: bool) -> Result<Lease, EdgeError> {
        if !fresh {
            while let Some(idle) = self.pop_idle() {
                if idle.since.elapsed() > self.settings.idle_timeout || idle.sender.is_closed() {
                    continue;
                }
                let mut sender = idle.sender;
                // An idle connection is normally ready already: skip arming a timer then.
                let ready = sender.is_ready()
                    || matches!(
                        tokio::time::timeout(self.settings.connect_timeout, sender.ready()).await,
                        Ok(Ok(()))
                    );
                if ready {
                    return Ok(Lease {
                        sender,
                        pool: Arc::clone(self),
                        reused: true,
                    });
                }
            }
        }
        let sender = self.connect().await?;
        Ok(Lease {
            sender,
            pool: Arc::clone(self),
            reused: false,
        })
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_idle(&self, sender: SendRequest<UpstreamBody>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.settings.max_idle_per_origin {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<SendRequest<UpstreamBody>, EdgeError> {
        let timeout = self.settings.connect_timeout;
        let stream = tokio::time::timeout(timeout, self.connect_tcp())
            .await
            .map_err(|_| EdgeError::GatewayTimeout)??;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::Builder::new()
            .handshake::<_, UpstreamBody>(TokioIo::new(stream))
            .await
            .map_err(|_| EdgeError::BadGateway(OriginFault::Reset))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "origin connection ended with an error");
            }
        });
        Ok(sender)
    }

    async fn connect_tcp(&self) -> Result<TcpStream, EdgeError> {
        let host = self.origin.host.as_str();
        let addrs: Vec<_> = match tokio::net::lookup_host((host, self.origin.port)).await {
            Ok(addrs) => addrs.collect(),
            Err(_) => Vec::new(),
        };
        if addrs.is_empty() {
            return Err(EdgeError::DnsResolution {
                origin_host: self.origin.host.clone(),
            });
        }
        let mut last = io::ErrorKind::ConnectionRefused;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e.kind(),
            }
        }
        Err(EdgeError::BadGateway(match last {
            io::ErrorKind::ConnectionRefused => OriginFault::Refused,
            _ => OriginFault::Reset,
        }))
    }
}

impl Lease {
    /// Sends `req`; the response head, or the catalog error for the failure.
    pub async fn send(
        mut self,
        mut req: http::Request<UpstreamBody>,
        response_timeout: Duration,
    ) -> Result<(http::Response<Incoming>, Lease), SendFailure> {
        let reused = self.reused;
        let sent = req.body_mut().sent_signal();
        // The response timer starts once the request body is sent: an upload that is
        // still moving is governed by the client's body timeout, not by this one.
        let response_deadline = async {
            let _ = sent.await;
            tokio::time::sleep(response_timeout).await;
        };
        let outcome = tokio::select! {
            result = self.sender.send_request(req) => Some(result),
            () = response_deadline => None,
        };
        match outcome {
            None => Err(SendFailure {
                error: EdgeError::GatewayTimeout,
                retryable: false,
            }),
            Some(Ok(resp)) => Ok((resp, self)),
            Some(Err(e)) => {
                let error = if e.is_parse() || e.is_parse_too_large() || e.is_parse_status() {
                    EdgeError::BadGateway(OriginFault::InvalidResponse)
                } else {
                    EdgeError::BadGateway(OriginFault::Reset)
                };
                // A pooled connection the origin closed while idle fails before any
                // byte of the response: safe to retry on a fresh one (body permitting).
                let retryable = reused && (e.is_canceled() || e.is_closed() || e.is_incomplete_message());
                Err(SendFailure { error, retryable })
            }
        }
    }

    /// Puts the connection back into its pool (the response was read to its end).
    pub fn release(self) {
        if !self.sender.is_closed() {
            self.pool.put_idle(self.sender);
        }
    }
}

/// A failed send: the error to answer, and whether a retry on a new connection is safe.
#[derive(Debug)]
pub struct SendFailure {
    /// The catalog error for the failure.
    pub error: EdgeError,
    /// Whether the request may be retried on a fresh connection.
    pub retryable: bool,
}

/// The origins of one zone, chosen round-robin.
pub struct OriginSet {
    pools: Vec<Arc<OriginPool>>,
    next: AtomicUsize,
}

impl OriginSet {
    /// Pools for `origins`.
    pub fn new(origins: &[Origin], settings: &UpstreamSettings) -> Self {
        OriginSet {
            pools: origins
                .iter()
                .map(|o| Arc::new(OriginPool::new(o.clone(), settings.clone())))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The pools in the order to try them for the next request.
    pub fn rotation(&self) -> impl Iterator<Item = &Arc<OriginPool>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.pools.len();
        (0..n).map(move |i| &self.pools[(start + i) % n])
    }
}

/// The response body of an origin; gives the connection back to the pool at its end.
pub struct OriginBody {
    inner: Incoming,
    lease: Option<Lease>,
}

impl OriginBody {
    /// Wraps an origin response body.
    pub fn new(inner: Incoming, lease: Lease) -> Self {
        OriginBody {
            inner,
            lease: Some(lease),
        }
    }
}

impl Body for OriginBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            // The last frame of a body of known length ends it: release now, so a
            // reader that stops at `is_end_stream` needs no extra poll for `None`.
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Ready(Some(Err(_))) => {
                self.lease = None;
                false
            }
            Poll::Pending => false,
        };
        if ended {
            if let Some(lease) = self.lease.take() {
                lease.release();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
