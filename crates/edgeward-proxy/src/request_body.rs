//! The request body on its way to the origin: frames fed by the client's session
//! (HTTP/1 decoder or HTTP/2 DATA frames) through a small channel, with read-ahead for
//! inspection (`prefetch`) and the `100 Continue` demand signal.
//!
//! Owns the streaming hand-off between a session and the upstream request. Decoding the
//! body is the sessions'; sending it is the upstream's.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
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
        }
    }

    /// Reads ahead up to `limit` body bytes (for inspection) and returns them with whether
    /// they are the whole body; the frames are kept and still sent to the origin, so the
    /// body is unchanged.
    pub async fn prefetch(&mut self, limit: usize) -> (Bytes, bool) {
        let mut seen = bytes::BytesMut::new();
        if let Some(demand) = self.demand.take() {
            demand.notify_one();
        }
        let Some(rx) = self.rx.as_mut() else {
            return (Bytes::new(), true);
        };
        let mut whole = true;
        while !self.ended {
            if seen.len() >= limit {
                // Full: whole only if the declared length says nothing more follows.
                whole = self.exact_len == Some(seen.len() as u64);
                break;
            }
            match rx.recv().await {
                None => self.ended = true,
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = limit - seen.len();
                        if data.len() > room {
                            whole = false;
                        }
                        seen.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    self.replay.push_back(Ok(frame));
                    if !whole {
                        break;
                    }
                }
                Some(Err(e)) => {
                    self.replay.push_back(Err(e));
                    whole = false;
                    break;
                }
            }
        }
        (seen.freeze(), whole)
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
