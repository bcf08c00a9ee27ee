//! The body of an origin's response, streamed to the caller; its end returns the
//! connection to the pool.
//!
//! Owns nothing but that hand-back (and knowing which peer answered). It does not time the
//! body (the proxy's writer does) nor touch its bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::conn::ForwardBody;
use crate::peer::Peer;
use crate::pool::Lease;

/// An origin response body; gives its connection back to the pool once read to the end.
pub struct OriginBody<B: ForwardBody> {
    inner: Incoming,
    lease: Lease<B>,
}

impl<B: ForwardBody> OriginBody<B> {
    /// Wraps `inner`; a body that is already complete releases its connection at once, so a
    /// caller that never polls a bodiless response still returns the connection.
    pub(crate) fn new(inner: Incoming, mut lease: Lease<B>) -> Self {
        if inner.is_end_stream() {
            lease.release();
        }
        OriginBody { inner, lease }
    }

    /// The origin that sent this response.
    pub fn peer(&self) -> &Peer {
        self.lease.pool().peer()
    }
}

impl<B: ForwardBody> Body for OriginBody<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            // The last frame of a body of known length ends it: release now, so a reader
            // that stops at `is_end_stream` needs no extra poll for `None`.
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => false,
        };
        if ended {
            this.lease.release();
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

impl<B: ForwardBody> std::fmt::Debug for OriginBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginBody").field("peer", self.peer()).finish()
    }
}
