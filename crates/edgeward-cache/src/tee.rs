//! The tee: a response body streamed to the client while a copy is kept for the store. When
//! the body ends complete (and matches its `Content-Length`, if any), the copy is handed to
//! the completion; when it grows past the object size limit, copying stops and the object
//! passes through uncached; when it fails or is dropped early, nothing is stored.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

/// What to do with the complete body (or `None`: the fill failed or was too large).
pub type Completion = Box<dyn FnOnce(Option<Bytes>) + Send>;

/// A body that copies its data while passing it on.
pub struct TeeBody<B> {
    inner: B,
    copy: BytesMut,
    limit: u64,
    expected: Option<u64>,
    completion: Option<Completion>,
}

impl<B> std::fmt::Debug for TeeBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeeBody")
            .field("copied", &self.copy.len())
            .finish()
    }
}

impl<B> TeeBody<B> {
    /// Tees `inner`, keeping at most `limit` bytes; `expected` is the `Content-Length`.
    pub fn new(inner: B, limit: u64, expected: Option<u64>, completion: Completion) -> Self {
        let capacity = expected.unwrap_or(0).min(limit).min(1 << 20) as usize;
        TeeBody {
            inner,
            copy: BytesMut::with_capacity(capacity),
            limit,
            expected,
            completion: Some(completion),
        }
    }

    fn complete(&mut self, ok: bool) {
        if let Some(done) = self.completion.take() {
            let complete = ok && self.expected.is_none_or(|n| n == self.copy.len() as u64);
            done(complete.then(|| std::mem::take(&mut self.copy).freeze()));
        }
    }
}

impl<B> Drop for TeeBody<B> {
    fn drop(&mut self) {
        self.complete(false);
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), true) = (frame.data_ref(), this.completion.is_some()) {
                    if this.copy.len() as u64 + data.len() as u64 > this.limit {
                        this.copy = BytesMut::new();
                        this.complete(false);
                    } else {
                        this.copy.extend_from_slice(data);
                    }
                }
                // The last frame of a body of known length ends it: a reader that stops at
                // `is_end_stream` never polls for `None`, and the copy must still be stored.
                if this.inner.is_end_stream() {
                    this.complete(true);
                }
            }
            Poll::Ready(Some(Err(_))) => this.complete(false),
            Poll::Ready(None) => this.complete(true),
            Poll::Pending => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Option<Option<Bytes>>>>;

    fn completion() -> (Seen, Completion) {
        let seen: Seen = Arc::default();
        let s = seen.clone();
        (seen, Box::new(move |b| *s.lock().unwrap() = Some(b)))
    }

    type Chunks =
        StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>>;

    fn chunks(parts: &[&'static str]) -> Chunks {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_complete_body_is_copied_and_passed_on() {
        let (seen, done) = completion();
        let out = TeeBody::new(chunks(&["hel", "lo"]), 100, Some(5), done)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(out, "hello");
        assert_eq!(*seen.lock().unwrap(), Some(Some(Bytes::from_static(b"hello"))));
    }

    #[tokio::test]
    async fn over_the_limit_passes_through_uncached() {
        let (seen, done) = completion();
        let out = TeeBody::new(chunks(&["hello", " world"]), 8, None, done)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(out, "hello world");
        assert_eq!(*seen.lock().unwrap(), Some(None));
    }

    #[tokio::test]
    async fn a_short_body_or_an_early_drop_stores_nothing() {
        let (seen, done) = completion();
        let _ = TeeBody::new(Full::new(Bytes::from_static(b"abc")), 100, Some(10), done)
            .collect()
            .await;
        assert_eq!(*seen.lock().unwrap(), Some(None));
        let (seen, done) = completion();
        drop(TeeBody::new(
            Full::new(Bytes::from_static(b"abc")),
            100,
            None,
            done,
        ));
        assert_eq!(*seen.lock().unwrap(), Some(None));
    }
}
