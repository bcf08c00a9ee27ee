//! HTTP on an origin stream: the hyper handshake (HTTP/1.1, or HTTP/2 when ALPN chose it),
//! sending one request, and the request-body wrapper that says when the body was sent.
//!
//! Owns the hyper client options (response head limits) and turning hyper's send errors into
//! "not sent, here is the request back" or an [`UpstreamError`]. It does not choose or keep
//! connections (`pool`) nor decide retries (`cluster`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::oneshot;

use crate::error::UpstreamError;
use crate::peer::Connected;
use crate::spec::UpstreamSettings;

/// The error type hyper accepts from request bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body the crate can forward: the client's body as the proxy streams it.
pub trait ForwardBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static {}

impl<B> ForwardBody for B where B: Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static {}

/// The caller's body, plus a signal dropped once the body has been sent whole (or given up):
/// the response timeout counts from then, so a long upload is not a slow origin.
pub(crate) struct SendBody<B> {
    inner: B,
    sent: Option<oneshot::Sender<()>>,
}

impl<B> SendBody<B> {
    pub(crate) fn new(inner: B, sent: Option<oneshot::Sender<()>>) -> Self {
        SendBody { inner, sent }
    }

    pub(crate) fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: ForwardBody> Body for SendBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            self.sent = None;
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

/// An empty body (health probes).
pub(crate) struct NoBody;

impl Body for NoBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(0)
    }
}

/// The sending half of an origin connection.
pub(crate) enum Sender<B> {
    H1(http1::SendRequest<B>),
    /// Multiplexed: clones share one connection.
    H2(http2::SendRequest<B>),
}

/// A request that failed: the error, and the request when no byte of it was written.
pub(crate) struct SendFailure<B> {
    pub error: UpstreamError,
    pub unsent: Option<Request<B>>,
}

impl<B> Sender<B>
where
    B: Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static,
{
    /// Performs the HTTP handshake on a fresh stream and spawns the connection's task.
    pub(crate) async fn handshake(
        connected: Connected,
        settings: &UpstreamSettings,
    ) -> Result<Self, UpstreamError> {
        let io = TokioIo::new(connected.stream);
        if connected.h2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .max_header_list_size(u32::try_from(settings.max_response_header_bytes).unwrap_or(u32::MAX))
                .handshake::<_, B>(io)
                .await
                .map_err(|e| UpstreamError::from_hyper(&e))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "HTTP/2 origin connection ended with an error");
                }
            });
            return Ok(Sender::H2(sender));
        }
        let mut builder = http1::Builder::new();
        // hyper parses up to 100 fields on the stack; more costs one allocation per response.
        if settings.max_response_headers != 100 {
            builder.max_headers(settings.max_response_headers);
        }
        builder.max_header_size(settings.max_response_header_bytes);
        // hyper's read buffer grows to ~400 KiB by default while a slow client holds a large
        // response back; a response head is the most it must hold at once.
        builder.max_buf_size((settings.max_response_header_bytes + 8 * 1024).max(32 * 1024));
        let (sender, conn) = builder
            .handshake::<_, B>(io)
            .await
            .map_err(|e| UpstreamError::from_hyper(&e))?;
        // With upgrades: a 101 hands the connection over to a tunnel (WebSocket) instead of
        // ending it; until one happens this costs nothing per request.
        let conn = conn.with_upgrades();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "origin connection ended with an error");
            }
        });
        Ok(Sender::H1(sender))
    }

    /// Sends `req`; a request that never reached the wire comes back in the failure.
    pub(crate) async fn send(&mut self, req: Request<B>) -> Result<Response<Incoming>, SendFailure<B>> {
        let sent = match self {
            Sender::H1(s) => {
                if !s.is_ready() && s.ready().await.is_err() {
                    return Err(SendFailure {
                        error: UpstreamError::Reset,
                        unsent: Some(req),
                    });
                }
                s.try_send_request(req).await
            }
            Sender::H2(s) => {
                if s.ready().await.is_err() {
                    return Err(SendFailure {
                        error: UpstreamError::Reset,
                        unsent: Some(req),
                    });
                }
                s.try_send_request(absolute(req)).await
            }
        };
        sent.map_err(|mut e| SendFailure {
            error: UpstreamError::from_hyper(e.error()),
            unsent: e.take_message(),
        })
    }
}

/// HTTP/2 needs `:scheme` and `:authority`: an origin-form target becomes absolute, with
/// the authority taken from `Host` (only HTTP/2 origins pay for this).
fn absolute<B>(mut req: Request<B>) -> Request<B> {
    if req.uri().scheme().is_some() {
        return req;
    }
    let authority = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if let Ok(uri) = Uri::builder()
        .scheme("https")
        .authority(authority)
        .path_and_query(path)
        .build()
    {
        *req.uri_mut() = uri;
        req.headers_mut().remove(http::header::HOST);
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http2_targets_become_absolute_from_host() {
        let req = Request::builder()
            .uri("/a?b=1")
            .header("host", "example.com:8443")
            .body(())
            .unwrap();
        let req = absolute(req);
        assert_eq!(req.uri().to_string(), "https://example.com:8443/a?b=1");
        assert!(req.headers().get("host").is_none());
    }
}
