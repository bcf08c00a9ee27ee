//! Response heads and bodies the cache produces: a stored object served to a request (with
//! `Age`, the cache status fields, a browser TTL, and the request's preconditions and ranges
//! answered: 200, 304, 206 single or multipart, 416), and the [`CacheBody`] type every answer
//! carries. A 412 is not built here: it is [`Answer::PreconditionFailed`] and the proxy
//! renders `EdgeError::PreconditionFailed` from the catalog.
//!
//! This module does not decide freshness or storage; the engine passes in the status to show.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    EXPIRES,
};
use http::{Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

use crate::conditional::{evaluate_preconditions, Precondition};
use crate::directives::EDGEWARD_CDN_CACHE_CONTROL;
use crate::object::Object;
use crate::range::{self, ByteRange};
use crate::status::{cache_status_value, CacheStatus, StatusDetail, CACHE_STATUS, EDGEWARD_CACHE_STATUS};
use crate::tee::TeeBody;

/// What the cache hands the proxy to send.
#[derive(Debug)]
pub enum Answer<B> {
    /// Send this response.
    Respond(Response<CacheBody<B>>, CacheStatus),
    /// Send 412 (`EdgeError::PreconditionFailed`).
    PreconditionFailed(CacheStatus),
    /// The origin's body failed while the edge read it whole to cut ranges: send the proxy's
    /// bad-gateway error.
    UpstreamFailed(CacheStatus),
}

impl<B> Answer<B> {
    /// The cache status to record.
    pub fn status(&self) -> CacheStatus {
        match self {
            Answer::Respond(_, s) | Answer::PreconditionFailed(s) | Answer::UpstreamFailed(s) => *s,
        }
    }
}

/// The body of a cache answer.
pub enum CacheBody<B> {
    /// Bytes held in memory (a hit, a range, a multipart body).
    Full(Option<Bytes>),
    /// The origin's body, copied into the store as it streams.
    Tee(TeeBody<B>),
    /// The origin's body, not stored.
    Origin(B),
}

impl<B> std::fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheBody::Full(b) => write!(f, "Full({:?} bytes)", b.as_ref().map_or(0, Bytes::len)),
            CacheBody::Tee(t) => t.fmt(f),
            CacheBody::Origin(_) => f.write_str("Origin"),
        }
    }
}

impl<B> CacheBody<B> {
    /// An empty body (HEAD, 304, 416).
    pub fn empty() -> Self {
        CacheBody::Full(None)
    }
}

impl<B> Body for CacheBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.get_mut() {
            CacheBody::Full(b) => Poll::Ready(b.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            CacheBody::Tee(t) => Pin::new(t).poll_frame(cx),
            CacheBody::Origin(o) => Pin::new(o).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            CacheBody::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            CacheBody::Tee(t) => t.is_end_stream(),
            CacheBody::Origin(o) => o.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            CacheBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            CacheBody::Tee(t) => t.size_hint(),
            CacheBody::Origin(o) => o.size_hint(),
        }
    }
}

/// Per-answer facts for the status fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shown {
    pub status: CacheStatus,
    /// Current age (ms), for `Age` and the TTL.
    pub age: u64,
    pub fwd_status: Option<u16>,
    pub stored: bool,
    pub detail: Option<&'static str>,
}

/// Sets `Age` (§5.1), the cache status fields, and the browser TTL on a client response head.
pub(crate) fn decorate(
    headers: &mut HeaderMap,
    shown: Shown,
    lifetime: Option<u64>,
    browser_ttl: Option<Duration>,
) {
    headers.remove(&EDGEWARD_CDN_CACHE_CONTROL);
    if shown.status.served_from_cache() || shown.age > 0 {
        headers.insert(http::header::AGE, HeaderValue::from(shown.age / 1000));
    }
    headers.insert(
        &EDGEWARD_CACHE_STATUS,
        HeaderValue::from_static(shown.status.as_str()),
    );
    let ttl = lifetime
        .filter(|_| shown.status.served_from_cache())
        .map(|l| (l as i64 - shown.age as i64) / 1000);
    let detail = StatusDetail {
        ttl,
        stored: shown.stored,
        fwd_status: shown.fwd_status,
        detail: shown.detail,
    };
    if let Ok(v) = HeaderValue::from_str(&cache_status_value(shown.status, detail)) {
        headers.insert(&CACHE_STATUS, v);
    }
    if let Some(ttl) = browser_ttl {
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_str(&format!("max-age={}", ttl.as_secs())).expect("digits"),
        );
        headers.remove(EXPIRES);
    }
}

/// Fields a 304 carries (RFC 9110 §15.4.5), plus the cache's own.
const NOT_MODIFIED_FIELDS: [&str; 10] = [
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "vary",
    "last-modified",
    "age",
    "cache-status",
    "edgeward-cache-status",
];

/// A 304 head from a full response head.
pub(crate) fn not_modified_head(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if NOT_MODIFIED_FIELDS.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Serves a stored object to a request.
pub(crate) fn serve_object<B>(
    object: &Object,
    method: &Method,
    req: &HeaderMap,
    shown: Shown,
    browser_ttl: Option<Duration>,
) -> Answer<B> {
    let mut headers = object.headers.clone();
    decorate(&mut headers, shown, Some(object.lifetime), browser_ttl);
    respond_from_bytes(
        object.status,
        headers,
        object.body.clone(),
        method,
        req,
        shown.status,
    )
}

/// Answers a request from a complete representation: preconditions, ranges, HEAD.
pub(crate) fn respond_from_bytes<B>(
    status: StatusCode,
    mut headers: HeaderMap,
    body: Bytes,
    method: &Method,
    req: &HeaderMap,
    cache_status: CacheStatus,
) -> Answer<B> {
    let len = body.len() as u64;
    let precondition = evaluate_preconditions(method, req, status.as_u16(), &headers, Some(len));
    let head_only = *method == Method::HEAD;
    let (status, body) = match precondition {
        Precondition::Failed => return Answer::PreconditionFailed(cache_status),
        Precondition::NotModified => {
            return Answer::Respond(
                build(StatusCode::NOT_MODIFIED, not_modified_head(&headers), None),
                cache_status,
            );
        }
        Precondition::RangeNotSatisfiable => {
            headers.insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&range::unsatisfied_range(len)).expect("ascii"),
            );
            headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
            return Answer::Respond(
                build(StatusCode::RANGE_NOT_SATISFIABLE, headers, None),
                cache_status,
            );
        }
        Precondition::Range(ranges) => partial(&mut headers, &body, &ranges),
        Precondition::Proceed => {
            if status == StatusCode::OK {
                headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            }
            (status, body)
        }
    };
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = (!head_only).then_some(body);
    Answer::Respond(build(status, headers, body), cache_status)
}

static BOUNDARY_SEQ: AtomicU64 = AtomicU64::new(1);

/// A 206 body and head for `ranges` of `body`.
fn partial(headers: &mut HeaderMap, body: &Bytes, ranges: &[ByteRange]) -> (StatusCode, Bytes) {
    let total = body.len() as u64;
    if let [one] = ranges {
        headers.insert(
            CONTENT_RANGE,
            HeaderValue::from_str(&one.content_range(total)).expect("ascii"),
        );
        return (StatusCode::PARTIAL_CONTENT, range::slice(body, *one));
    }
    let boundary = format!(
        "edgeward{:016x}",
        BOUNDARY_SEQ
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
    );
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let out = range::multipart(body, ranges, content_type.as_deref(), &boundary);
    let ct = format!("multipart/byteranges; boundary={boundary}");
    headers.insert(CONTENT_TYPE, HeaderValue::from_str(&ct).expect("ascii"));
    headers.remove(CONTENT_RANGE);
    (StatusCode::PARTIAL_CONTENT, out)
}

fn build<B>(status: StatusCode, headers: HeaderMap, body: Option<Bytes>) -> Response<CacheBody<B>> {
    let mut resp = Response::new(CacheBody::Full(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}
