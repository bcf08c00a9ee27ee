//! A scriptable in-process origin and a client that drives the cache exactly as the proxy
//! pipeline will: lookup → serve | fetch + complete | origin_failed | pass + invalidate.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use edgeward_cache::{
    compress, Answer, Cache, CacheBody, CachePolicy, CacheRequest, CacheSettings, CacheStatus, Lookup,
    MockClock, Selected, Store,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

pub const T0: u64 = 1_700_000_000_000;

/// What the origin sees and answers.
pub type Handler = dyn Fn(&Method, &str, &HeaderMap) -> Option<Response<Full<Bytes>>> + Send + Sync;

pub struct Origin {
    pub hits: AtomicUsize,
    handler: Mutex<Arc<Handler>>,
    pub delay: Mutex<Duration>,
}

impl Origin {
    pub fn count(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    pub fn set(
        &self,
        h: impl Fn(&Method, &str, &HeaderMap) -> Option<Response<Full<Bytes>>> + Send + Sync + 'static,
    ) {
        *self.handler.lock().unwrap() = Arc::new(h);
    }
    async fn call(&self, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response<Full<Bytes>>> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let h = self.handler.lock().unwrap().clone();
        h(method, path, headers)
    }
}

/// A response builder for handlers.
pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Option<Response<Full<Bytes>>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        r.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    r.headers_mut()
        .insert("content-length", HeaderValue::from(body.len()));
    Some(r)
}

pub struct Outcome {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub cache: CacheStatus,
    /// The answer was a 412 from the catalog.
    pub precondition_failed: bool,
}

impl Outcome {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

pub struct Edge {
    pub cache: Cache,
    pub clock: MockClock,
    pub origin: Arc<Origin>,
    pub policy: CachePolicy,
    /// Compress responses as the pipeline's compression stage would.
    pub compress: bool,
}

impl Edge {
    pub fn new(store: Store, settings: CacheSettings) -> Edge {
        let clock = MockClock::at(T0);
        let cache = Cache::with_clock(store, settings, Arc::new(clock.clone()));
        let origin = Arc::new(Origin {
            hits: AtomicUsize::new(0),
            handler: Mutex::new(Arc::new(|_: &Method, _: &str, _: &HeaderMap| {
                response(200, &[], "default")
            })),
            delay: Mutex::new(Duration::ZERO),
        });
        Edge {
            cache,
            clock,
            origin,
            policy: CachePolicy::default(),
            compress: false,
        }
    }

    pub fn memory() -> Edge {
        Edge::new(
            Store::Memory(edgeward_cache::MemoryStore::new(64 * 1024 * 1024)),
            CacheSettings::default(),
        )
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Outcome {
        self.request(Method::GET, path, headers).await
    }

    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Outcome {
        let mut req = Request::builder().method(method.clone()).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let cache_req = CacheRequest::new(&parts, "https", "example.com", Selected::Cache(&self.policy));
        match self.cache.lookup(&cache_req).await {
            Lookup::Hit(mut hit) => {
                if let Some(fill) = hit.refresh.take() {
                    let origin = self.origin.clone();
                    let path = parts.uri.path().to_string();
                    self.cache.refresh(fill, move |m, h| async move {
                        origin.call(&m, &path, &h).await.ok_or("origin down")
                    });
                }
                let answer: Answer<Full<Bytes>> = self.cache.serve(&hit, &parts.method, &parts.headers);
                outcome(answer).await
            }
            Lookup::Miss(fill) | Lookup::Revalidate(fill) => {
                let upstream = self
                    .origin
                    .call(&fill.origin_method(), parts.uri.path(), &fill.origin_headers())
                    .await;
                let Some(resp) = upstream else {
                    return match self.cache.origin_failed::<Full<Bytes>>(fill) {
                        Some(answer) => outcome(answer).await,
                        None => Outcome {
                            status: 502,
                            headers: HeaderMap::new(),
                            body: Bytes::new(),
                            cache: CacheStatus::Miss,
                            precondition_failed: false,
                        },
                    };
                };
                let (mut head, body) = resp.into_parts();
                let settings = &self.cache.settings().compression;
                match compress::negotiate(&parts.headers, head.status.as_u16(), &head.headers, settings)
                    .filter(|_| self.compress)
                {
                    Some(encoding) => {
                        compress::compressed_head(&mut head.headers, encoding);
                        let body = compress::CompressBody::new(body, encoding);
                        outcome(self.cache.complete(fill, head, body).await).await
                    }
                    None => {
                        if self.compress && compress::eligible(head.status.as_u16(), &head.headers, settings)
                        {
                            compress::add_vary_accept_encoding(&mut head.headers);
                        }
                        outcome(self.cache.complete(fill, head, body).await).await
                    }
                }
            }
            Lookup::Pass(status) => {
                let resp = self
                    .origin
                    .call(&parts.method, parts.uri.path(), &parts.headers)
                    .await
                    .expect("origin up");
                self.cache
                    .invalidate(&cache_req, resp.status().as_u16(), resp.headers());
                let (head, body) = resp.into_parts();
                Outcome {
                    status: head.status.as_u16(),
                    headers: head.headers,
                    body: body.collect().await.unwrap().to_bytes(),
                    cache: status,
                    precondition_failed: false,
                }
            }
            Lookup::GatewayTimeout => Outcome {
                status: 504,
                headers: HeaderMap::new(),
                body: Bytes::new(),
                cache: CacheStatus::Miss,
                precondition_failed: false,
            },
        }
    }
}

pub async fn outcome<B>(answer: Answer<B>) -> Outcome
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    match answer {
        Answer::Respond(resp, cache) => {
            let (head, body): (_, CacheBody<B>) = resp.into_parts();
            Outcome {
                status: head.status.as_u16(),
                headers: head.headers,
                body: body.collect().await.unwrap().to_bytes(),
                cache,
                precondition_failed: false,
            }
        }
        Answer::PreconditionFailed(cache) => Outcome {
            status: 412,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            cache,
            precondition_failed: true,
        },
        Answer::UpstreamFailed(cache) => Outcome {
            status: 502,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            cache,
            precondition_failed: false,
        },
    }
}

/// Waits until `f` holds, up to two seconds.
pub async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 2 s");
}
