//! After the upstream: [`Cache::complete`] turns the origin's answer to a fill into the
//! client's answer — a 304 that refreshes the stored response (§4.3.3, §4.3.4), a 5xx replaced
//! by the stale response when stale-if-error allows it, or a new response stored while it
//! streams (the tee) when RFC 9111 and the zone's rule allow it — and evaluates the client's
//! own conditionals and ranges against it. [`Cache::refresh`] runs a stale-while-revalidate
//! refresh in the background.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, DATE};
use http::{Method, Response};
use http_body::Body;
use http_body_util::BodyExt;

use crate::collapse::{FillState, Leader};
use crate::conditional::{evaluate_preconditions, Precondition};
use crate::directives::ResponseDirectives;
use crate::engine::{Cache, Fill};
use crate::freshness::{freshness_lifetime, usable_on_error, Lifetime, StalePolicy, Timing};
use crate::key;
use crate::object::{Entry, Object, Origin, VaryMarker};
use crate::revalidate;
use crate::serve::{decorate, not_modified_head, respond_from_bytes, serve_object, Answer, CacheBody, Shown};
use crate::settings::{CachePolicy, EdgeTtl};
use crate::status::CacheStatus;
use crate::storable::{self, NotStorable, StoreOptions, StoreRequest};
use crate::store::ObjectStore;
use crate::tee::{Completion, TeeBody};

/// `Cache-Tag`: comma-separated purge tags on an origin response.
pub static CACHE_TAG: http::HeaderName = http::HeaderName::from_static("cache-tag");

impl Cache {
    /// Completes a fill with the origin's response (head and body), returning what to send
    /// the client. The body streams to the client while it is stored; the client's own
    /// conditionals and ranges are answered here (the fill did not forward them).
    pub async fn complete<B>(&self, mut fill: Fill, mut parts: http::response::Parts, body: B) -> Answer<B>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Send,
    {
        let now = self.now();
        let status = parts.status.as_u16();
        if fill.stale.is_some() {
            if status == 304 {
                return self.revalidated(fill, &parts.headers, now);
            }
            if status >= 500 {
                if let Some(answer) = self.stale_on_error(&fill, Some(status), now) {
                    return answer;
                }
            }
        }
        let (directives, _) = ResponseDirectives::for_edge(&parts.headers, &self.inner.targeted);
        let content_length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let verdict = self.storable(&fill, status, &parts.headers, &directives, content_length);
        let stored = verdict.is_ok();
        let cache_status = match (stored, fill.stale.is_some()) {
            (false, _) => CacheStatus::Dynamic,
            (true, true) => CacheStatus::Expired,
            (true, false) => CacheStatus::Miss,
        };
        let body = if stored {
            let completion = self.completion(&mut fill, status, &parts.headers, &directives, now);
            CacheBody::Tee(TeeBody::new(
                body,
                self.inner.settings.max_object_bytes,
                content_length,
                completion,
            ))
        } else {
            CacheBody::Origin(body)
        };
        let Fill {
            method,
            headers: req_headers,
            policy,
            leader,
            ..
        } = fill;
        // Not stored: the waiters of a collapsed miss go to the origin now. Stored: the
        // completion holds its own guard.
        drop(leader);
        let shown = Shown {
            status: cache_status,
            age: 0,
            fwd_status: Some(status),
            stored,
            detail: verdict.err().map(NotStorable::as_str),
        };
        decorate(
            &mut parts.headers,
            shown,
            None,
            policy.browser_ttl.filter(|_| stored),
        );
        self.answer_client(&method, &req_headers, parts, body, content_length, cache_status)
            .await
    }

    /// Runs a stale-while-revalidate refresh in the background: `fetch(method, headers)` asks
    /// the origin, and the answer is completed and drained (so a new response is stored).
    pub fn refresh<F, Fut, B, E>(&self, mut fill: Fill, fetch: F)
    where
        F: FnOnce(Method, HeaderMap) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Send,
        E: Send + 'static,
    {
        let cache = self.clone();
        tokio::spawn(async move {
            let headers = fill.origin_headers();
            // Nobody waits for this answer: no client conditionals or ranges to evaluate.
            fill.headers = revalidate::fill_headers(&fill.headers, None);
            fill.method = Method::GET;
            if let Ok(resp) = fetch(fill.origin_method(), headers).await {
                let (parts, body) = resp.into_parts();
                if let Answer::Respond(r, _) = cache.complete(fill, parts, body).await {
                    drain(r.into_body()).await;
                }
            }
        });
    }

    fn storable(
        &self,
        fill: &Fill,
        status: u16,
        headers: &HeaderMap,
        d: &ResponseDirectives,
        len: Option<u64>,
    ) -> Result<(), NotStorable> {
        let opts = StoreOptions {
            cache_set_cookie: fill.policy.cache_set_cookie,
            edge_ttl: !matches!(fill.policy.edge_ttl, EdgeTtl::Origin),
            heuristic: self.inner.settings.heuristic.is_some(),
        };
        let req = StoreRequest {
            method: &Method::GET,
            headers: &fill.headers,
            no_store: fill.directives.no_store,
        };
        storable::check(req, status, headers, d, opts)?;
        if len.is_some_and(|n| n > self.inner.settings.max_object_bytes) {
            return Err(NotStorable::TooLarge);
        }
        Ok(())
    }

    /// The edge's freshness lifetime (ms) under the rule's edge TTL.
    fn lifetime(
        &self,
        policy: &CachePolicy,
        d: &ResponseDirectives,
        headers: &HeaderMap,
        status: u16,
        timing: &Timing,
    ) -> u64 {
        let origin = freshness_lifetime(d, headers, status, timing, self.inner.settings.heuristic);
        match policy.edge_ttl {
            EdgeTtl::Origin => origin.ms(),
            EdgeTtl::Default(t) if origin == Lifetime::None => t.as_millis() as u64,
            EdgeTtl::Default(_) => origin.ms(),
            EdgeTtl::Override(t) => t.as_millis() as u64,
        }
    }

    /// What runs when a stored body has streamed to its end: the object (and the URL's Vary
    /// marker) go into the store and the collapsed waiters are woken.
    fn completion(
        &self,
        fill: &mut Fill,
        status: u16,
        headers: &HeaderMap,
        d: &ResponseDirectives,
        now: u64,
    ) -> Completion {
        let timing = Timing::new(headers, fill.request_time, now);
        let lifetime = self.lifetime(&fill.policy, d, headers, status, &timing);
        let mut stored = storable::stored_headers(headers, d);
        if !stored.contains_key(DATE) {
            let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(now));
            stored.insert(DATE, HeaderValue::from_str(&date).expect("http-date"));
        }
        let origin = Origin {
            host: fill.host.clone(),
            url: fill.url.clone(),
            tags: cache_tags(headers),
        };
        let names = storable::vary_names(headers);
        let (store_key, marker) = if names.is_empty() {
            (fill.primary.clone(), None)
        } else {
            let generation = fill.generation.unwrap_or_else(|| self.next_generation());
            let secondary = key::secondary(&names, &fill.headers, &self.inner.settings.compression);
            let marker_origin = Origin {
                tags: Vec::new(),
                ..origin.clone()
            };
            let variant = key::variant(&fill.primary, &format!("{generation}\n{secondary}"));
            (
                variant,
                Some(VaryMarker {
                    names,
                    generation,
                    origin: marker_origin,
                }),
            )
        };
        let mut object = Object {
            status: http::StatusCode::from_u16(status).unwrap_or_default(),
            headers: stored,
            body: Bytes::new(),
            timing,
            lifetime,
            stale: StalePolicy::new(d),
            origin,
        };
        let inner = self.inner.clone();
        let primary = fill.primary.clone();
        // The fill's guard moves into the completion: waiters wake when the object is stored.
        let leader: Option<Leader> = fill.leader.take();
        Box::new(move |body| {
            let Some(body) = body else { return drop(leader) };
            object
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            object.body = body;
            if let Some(m) = marker {
                inner.store.put(primary, Entry::Vary(Arc::new(m)));
            }
            inner.store.put(store_key, Entry::Object(Arc::new(object)));
            if let Some(l) = leader {
                l.finish(FillState::Stored);
            }
        })
    }
}

impl Cache {
    /// The origin's 304 for a stored response: update it (§3.2, §4.3.4) and serve it.
    fn revalidated<B>(&self, mut fill: Fill, not_modified: &HeaderMap, now: u64) -> Answer<B> {
        let Some((stale, stale_key)) = fill.stale.take() else {
            unreachable!("revalidated is called for revalidation fills only")
        };
        if !revalidate::selects(&stale.headers, not_modified) {
            // The 304 validates a response we do not hold (a misbehaving origin): the stored
            // one is not updated but dropped, and served this once as the origin implied.
            self.inner.store.remove(&stale_key);
            let shown = Shown {
                status: CacheStatus::Revalidated,
                age: stale.timing.current_age(now),
                fwd_status: Some(304),
                stored: false,
                detail: Some("validator-mismatch"),
            };
            return serve_object(
                &stale,
                &fill.method,
                &fill.headers,
                shown,
                fill.policy.browser_ttl,
            );
        }
        let mut headers = stale.headers.clone();
        revalidate::update_headers(&mut headers, not_modified);
        let (d, _) = ResponseDirectives::for_edge(&headers, &self.inner.targeted);
        let timing = Timing::new(not_modified, fill.request_time, now);
        let lifetime = self.lifetime(&fill.policy, &d, &headers, stale.status.as_u16(), &timing);
        let updated = Arc::new(Object {
            status: stale.status,
            headers,
            body: stale.body.clone(),
            timing,
            lifetime,
            stale: StalePolicy::new(&d),
            origin: Origin {
                tags: cache_tags(not_modified)
                    .into_iter()
                    .chain(stale.origin.tags.iter().cloned())
                    .collect(),
                ..stale.origin.clone()
            },
        });
        self.inner.store.put(stale_key, Entry::Object(updated.clone()));
        if let Some(l) = fill.leader.take() {
            l.finish(FillState::Stored);
        }
        let shown = Shown {
            status: CacheStatus::Revalidated,
            age: timing.current_age(now),
            fwd_status: Some(304),
            stored: true,
            detail: None,
        };
        serve_object(
            &updated,
            &fill.method,
            &fill.headers,
            shown,
            fill.policy.browser_ttl,
        )
    }

    pub(crate) fn stale_on_error<B>(&self, fill: &Fill, status: Option<u16>, now: u64) -> Option<Answer<B>> {
        let (stale, _) = fill.stale.as_ref()?;
        let age = stale.timing.current_age(now);
        let default_ms = fill.policy.serve_stale_on_error.as_millis() as u64;
        if !usable_on_error(stale.lifetime, age, &stale.stale, &fill.directives, default_ms) {
            return None;
        }
        let shown = Shown {
            status: CacheStatus::Stale,
            age,
            fwd_status: status,
            stored: false,
            detail: Some("stale-if-error"),
        };
        Some(serve_object(
            stale,
            &fill.method,
            &fill.headers,
            shown,
            fill.policy.browser_ttl,
        ))
    }

    /// The client's conditionals and ranges against a fresh origin response.
    async fn answer_client<B>(
        &self,
        method: &Method,
        req: &HeaderMap,
        parts: http::response::Parts,
        body: CacheBody<B>,
        len: Option<u64>,
        cache_status: CacheStatus,
    ) -> Answer<B>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Send,
    {
        let precondition = evaluate_preconditions(method, req, parts.status.as_u16(), &parts.headers, len);
        let bodiless = |status: http::StatusCode, headers: HeaderMap| {
            let mut r = Response::new(CacheBody::empty());
            *r.status_mut() = status;
            *r.headers_mut() = headers;
            r
        };
        match precondition {
            Precondition::Proceed if *method != Method::HEAD => {
                Answer::Respond(Response::from_parts(parts, body), cache_status)
            }
            Precondition::Proceed => {
                finish_in_background(body);
                Answer::Respond(bodiless(parts.status, parts.headers), cache_status)
            }
            Precondition::NotModified => {
                finish_in_background(body);
                Answer::Respond(
                    bodiless(http::StatusCode::NOT_MODIFIED, not_modified_head(&parts.headers)),
                    cache_status,
                )
            }
            Precondition::Failed => {
                finish_in_background(body);
                Answer::PreconditionFailed(cache_status)
            }
            Precondition::RangeNotSatisfiable => {
                finish_in_background(body);
                let mut headers = parts.headers;
                let range = crate::range::unsatisfied_range(len.unwrap_or(0));
                headers.insert(
                    http::header::CONTENT_RANGE,
                    HeaderValue::from_str(&range).expect("ascii"),
                );
                headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
                Answer::Respond(
                    bodiless(http::StatusCode::RANGE_NOT_SATISFIABLE, headers),
                    cache_status,
                )
            }
            Precondition::Range(_) if len.is_some_and(|n| n > self.inner.settings.max_object_bytes) => {
                // Too large to hold for slicing: the whole representation (a server may
                // ignore Range, RFC 9110 §14.2).
                Answer::Respond(Response::from_parts(parts, body), cache_status)
            }
            Precondition::Range(_) => match body.collect().await {
                Ok(collected) => respond_from_bytes(
                    parts.status,
                    parts.headers,
                    collected.to_bytes(),
                    method,
                    req,
                    cache_status,
                ),
                Err(_) => Answer::UpstreamFailed(cache_status),
            },
        }
    }
}

/// Reads a body to its end in the background, so a stored body completes although the client
/// gets no body (HEAD, 304, 412, 416); an unstored origin body is just dropped.
fn finish_in_background<B>(body: CacheBody<B>)
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Send,
{
    if let CacheBody::Tee(_) = body {
        tokio::spawn(drain(body));
    }
}

async fn drain<B>(mut body: CacheBody<B>)
where
    B: Body<Data = Bytes> + Unpin,
{
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
}

/// `Cache-Tag` values, trimmed and lowercased.
fn cache_tags(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(&CACHE_TAG)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}
