//! The cache engine the pipeline calls: [`Cache::lookup`] before the upstream (hit, stale,
//! miss, pass or 504), [`Cache::serve`] for hits, [`Cache::complete`] after the upstream (in
//! `fill`), [`Cache::origin_failed`] for stale-if-error, [`Cache::invalidate`] after unsafe
//! requests, and purges.
//!
//! Owns the order of the RFC 9111 decisions for one request; the rules themselves live in
//! `freshness`, `storable`, `conditional` and `revalidate`, the bytes in `store`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderMap, HeaderName, CONTENT_ENCODING};
use http::Method;

use crate::collapse::{self, Collapser, FillState, Join, Leader};
use crate::compress;
use crate::directives::{RequestDirectives, CDN_CACHE_CONTROL, EDGEWARD_CDN_CACHE_CONTROL};
use crate::freshness::{reuse, Reuse};
use crate::key::{self, KeyInput};
use crate::object::{Entry, Object};
use crate::purge::{Purge, PurgeFanout};
use crate::serve::{serve_object, Answer, Shown};
use crate::settings::{CachePolicy, CacheSettings, Selected};
use crate::status::CacheStatus;
use crate::store::{ObjectStore, Store};
use crate::{Clock, SystemClock};

/// A request as the cache sees it.
#[derive(Debug, Clone, Copy)]
pub struct CacheRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// `http` or `https` (part of the key).
    pub scheme: &'a str,
    /// The host the request was routed by.
    pub host: &'a str,
    /// The path.
    pub path: &'a str,
    /// The query, without `?`.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The zone's cache rule outcome ([`crate::ZoneCache::select`]).
    pub rule: Selected<'a>,
}

impl<'a> CacheRequest<'a> {
    /// From a request head; `host` is the routed host, `scheme` how the client connected.
    pub fn new(parts: &'a http::request::Parts, scheme: &'a str, host: &'a str, rule: Selected<'a>) -> Self {
        CacheRequest {
            method: &parts.method,
            scheme,
            host,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            rule,
        }
    }

    fn policy(&self) -> &'a CachePolicy {
        match self.rule {
            Selected::Cache(p) => p,
            Selected::Bypass(_) => default_policy(),
        }
    }
}

fn default_policy() -> &'static CachePolicy {
    static DEFAULT: std::sync::OnceLock<CachePolicy> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(CachePolicy::default)
}

/// The outcome of a lookup.
#[derive(Debug)]
pub enum Lookup {
    /// Answer from the cache now ([`Cache::serve`]); when `refresh` is set, also revalidate in
    /// the background ([`Cache::refresh`]).
    Hit(Hit),
    /// A stored response must be validated: send the fill request ([`Fill::origin_headers`]
    /// carries the conditionals), then [`Cache::complete`] (or [`Cache::origin_failed`]).
    Revalidate(Fill),
    /// Not stored: fetch with [`Fill::origin_headers`], then [`Cache::complete`].
    Miss(Fill),
    /// Not for the cache (BYPASS or DYNAMIC): forward as is; after an unsafe method's response
    /// call [`Cache::invalidate`].
    Pass(CacheStatus),
    /// `only-if-cached` and nothing usable is stored: answer 504 (RFC 9111 §5.2.1.7).
    GatewayTimeout,
}

/// A stored response that answers a request.
#[derive(Debug)]
pub struct Hit {
    pub(crate) object: Arc<Object>,
    pub(crate) status: CacheStatus,
    pub(crate) age: u64,
    pub(crate) browser_ttl: Option<std::time::Duration>,
    /// Set for stale-while-revalidate: revalidate this in the background.
    pub refresh: Option<Fill>,
}

impl Hit {
    /// HIT, STALE or UPDATING.
    pub fn status(&self) -> CacheStatus {
        self.status
    }
}

/// A pending fill of the cache: made by a lookup, consumed by [`Cache::complete`].
#[derive(Debug)]
pub struct Fill {
    pub(crate) primary: String,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) host: String,
    pub(crate) url: String,
    pub(crate) policy: CachePolicy,
    pub(crate) directives: RequestDirectives,
    pub(crate) request_time: u64,
    pub(crate) leader: Option<Leader>,
    /// The stored response being revalidated, with its store key.
    pub(crate) stale: Option<(Arc<Object>, String)>,
    /// The generation of the URL's Vary marker when one exists.
    pub(crate) generation: Option<u64>,
}

impl Fill {
    /// The request headers to send to the origin: the client's without its conditionals and
    /// `Range` (the edge answers those), plus validators when revalidating.
    pub fn origin_headers(&self) -> HeaderMap {
        crate::revalidate::fill_headers(&self.headers, self.stale.as_ref().map(|(o, _)| &o.headers))
    }

    /// The method to send to the origin: GET, also for a HEAD (so the response can be stored).
    pub fn origin_method(&self) -> Method {
        Method::GET
    }

    /// Whether this fill revalidates a stored response (EXPIRED / REVALIDATED) or is a MISS.
    pub fn is_revalidation(&self) -> bool {
        self.stale.is_some()
    }
}

pub(crate) struct Inner {
    pub store: Store,
    pub settings: CacheSettings,
    pub clock: Arc<dyn Clock>,
    pub collapser: Collapser,
    pub targeted: [HeaderName; 2],
    pub fanout: Option<PurgeFanout>,
    pub generation: AtomicU64,
}

/// The shared cache of one edge.
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("store", &self.inner.store).finish()
    }
}

impl Cache {
    /// A cache over `store` with the wall clock.
    pub fn new(store: Store, settings: CacheSettings) -> Self {
        Self::with_clock(store, settings, Arc::new(SystemClock))
    }

    /// A cache over `store` with `clock` (tests use [`crate::MockClock`]).
    pub fn with_clock(store: Store, settings: CacheSettings, clock: Arc<dyn Clock>) -> Self {
        let fanout = settings
            .purge
            .as_ref()
            .and_then(|p| match PurgeFanout::new(&p.url, &p.channel) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::error!(error = %e, "purge fan-out disabled");
                    None
                }
            });
        let seed = clock.now_ms().wrapping_mul(1000);
        Cache {
            inner: Arc::new(Inner {
                store,
                settings,
                clock,
                collapser: Collapser::default(),
                targeted: [EDGEWARD_CDN_CACHE_CONTROL.clone(), CDN_CACHE_CONTROL.clone()],
                fanout,
                generation: AtomicU64::new(seed),
            }),
        }
    }

    /// The store (metrics, tests).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Fills in flight now (collapsed misses count once).
    pub fn fills_in_flight(&self) -> usize {
        self.inner.collapser.in_flight()
    }

    /// The settings.
    pub fn settings(&self) -> &CacheSettings {
        &self.inner.settings
    }

    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    pub(crate) fn next_generation(&self) -> u64 {
        self.inner.generation.fetch_add(1, Ordering::Relaxed)
    }

    /// Looks a request up. Concurrent misses of one URL collapse: one gets `Miss` and fetches,
    /// the others wait (at most `collapse_timeout`) and then get the stored response.
    pub async fn lookup(&self, req: &CacheRequest<'_>) -> Lookup {
        if matches!(req.rule, Selected::Bypass(_)) {
            return Lookup::Pass(CacheStatus::Bypass);
        }
        if *req.method != Method::GET && *req.method != Method::HEAD {
            return Lookup::Pass(CacheStatus::Dynamic);
        }
        let directives = RequestDirectives::parse(req.headers);
        let policy = req.policy();
        let primary = key::primary(
            KeyInput {
                scheme: req.scheme,
                host: req.host,
                path: req.path,
                query: req.query,
                headers: req.headers,
            },
            &policy.key,
        );
        let deadline = Instant::now() + self.inner.settings.collapse_timeout;
        loop {
            let (found, generation) = self.find(&primary, req.headers).await;
            let now = self.now();
            let stale = match found {
                Some((object, store_key)) => {
                    let age = object.timing.current_age(now);
                    match reuse(object.lifetime, age, &object.stale, &directives) {
                        Reuse::Fresh => return self.hit(object, CacheStatus::Hit, age, policy, None),
                        Reuse::StaleAllowed => {
                            return self.hit(object, CacheStatus::Stale, age, policy, None)
                        }
                        Reuse::WhileRevalidate => {
                            let refresh = match self.inner.collapser.join(&primary) {
                                Join::Leader(leader) => Some(self.fill(
                                    req,
                                    &primary,
                                    directives.clone(),
                                    Some(leader),
                                    Some((object.clone(), store_key)),
                                    generation,
                                )),
                                Join::Wait(_) => None,
                            };
                            return self.hit(object, CacheStatus::Updating, age, policy, refresh);
                        }
                        Reuse::Revalidate if directives.only_if_cached => return Lookup::GatewayTimeout,
                        Reuse::Revalidate => Some((object, store_key)),
                    }
                }
                None if directives.only_if_cached => return Lookup::GatewayTimeout,
                None => None,
            };
            let revalidating = stale.is_some();
            let leader = match self.inner.collapser.join(&primary) {
                Join::Leader(leader) => Some(leader),
                Join::Wait(rx) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if collapse::wait(rx, left).await == FillState::Stored && Instant::now() < deadline {
                        continue;
                    }
                    None
                }
            };
            let fill = self.fill(req, &primary, directives, leader, stale, generation);
            return if revalidating {
                Lookup::Revalidate(fill)
            } else {
                Lookup::Miss(fill)
            };
        }
    }

    fn hit(
        &self,
        object: Arc<Object>,
        status: CacheStatus,
        age: u64,
        policy: &CachePolicy,
        refresh: Option<Fill>,
    ) -> Lookup {
        Lookup::Hit(Hit {
            object,
            status,
            age,
            browser_ttl: policy.browser_ttl,
            refresh,
        })
    }

    fn fill(
        &self,
        req: &CacheRequest<'_>,
        primary: &str,
        directives: RequestDirectives,
        leader: Option<Leader>,
        stale: Option<(Arc<Object>, String)>,
        generation: Option<u64>,
    ) -> Fill {
        Fill {
            primary: primary.to_string(),
            method: req.method.clone(),
            headers: req.headers.clone(),
            host: key::bare_host(req.host),
            url: key::purge_url(req.host, req.path, req.query),
            policy: req.policy().clone(),
            directives,
            request_time: self.now(),
            leader,
            stale,
            generation,
        }
    }

    /// The stored response for a request, with its store key, and the URL's Vary generation.
    async fn find(&self, primary: &str, headers: &HeaderMap) -> (Option<(Arc<Object>, String)>, Option<u64>) {
        let (found, generation) = match self.inner.store.get(primary).await {
            None => return (None, None),
            Some(Entry::Object(o)) => (Some((o, primary.to_string())), None),
            Some(Entry::Vary(marker)) => {
                let secondary = key::secondary(&marker.names, headers, &self.inner.settings.compression);
                let variant_key = key::variant(primary, &format!("{}\n{secondary}", marker.generation));
                match self.inner.store.get(&variant_key).await {
                    Some(Entry::Object(o)) => (Some((o, variant_key)), Some(marker.generation)),
                    _ => (None, Some(marker.generation)),
                }
            }
        };
        // A variant in a coding the client refuses is no answer for it (the key groups clients
        // by the coding they would get, but an origin may have chosen another).
        let found = found.filter(|(o, _)| {
            let coding = o.headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok());
            compress::acceptable(headers, coding)
        });
        (found, generation)
    }

    /// Answers a request from a hit: preconditions, ranges, HEAD, `Age`, status fields.
    pub fn serve<B>(&self, hit: &Hit, method: &Method, headers: &HeaderMap) -> Answer<B> {
        let shown = Shown {
            status: hit.status,
            age: hit.age,
            fwd_status: None,
            stored: false,
            detail: None,
        };
        serve_object(&hit.object, method, headers, shown, hit.browser_ttl)
    }

    /// The origin could not be reached (connect error, timeout): serve the stale response if
    /// `stale-if-error` (the origin's, the client's, or the rule's) allows it (STALE); `None`
    /// means the proxy answers with its own error.
    pub fn origin_failed<B>(&self, fill: Fill) -> Option<Answer<B>> {
        self.stale_on_error(&fill, None, self.now())
    }

    /// After a response to an unsafe method (POST, PUT, DELETE, …): invalidates the target URI
    /// and the same-origin `Location` / `Content-Location` (RFC 9111 §4.4). Returns how many
    /// stored entries were removed.
    pub fn invalidate(&self, req: &CacheRequest<'_>, status: u16, response: &HeaderMap) -> usize {
        if !crate::revalidate::invalidates(req.method, status) {
            return 0;
        }
        let opts = &req.policy().key;
        let mut removed = 0;
        for (path, query) in crate::revalidate::invalidation_targets(req.host, req.path, req.query, response)
        {
            for scheme in ["http", "https"] {
                let k = key::primary(
                    KeyInput {
                        scheme,
                        host: req.host,
                        path: &path,
                        query: query.as_deref(),
                        headers: req.headers,
                    },
                    opts,
                );
                // Removing the primary entry (object or Vary marker) makes every variant
                // unreachable: a new marker gets a new generation.
                removed += usize::from(self.inner.store.remove(&k));
            }
        }
        removed
    }

    /// Purges matching entries on this edge; returns how many.
    pub fn purge(&self, purge: &Purge) -> usize {
        self.inner.store.purge(purge)
    }

    /// Purges on this edge and publishes the purge so every edge applies it (when `[cache]`
    /// has a purge channel). Returns the local count and how many edges received it.
    pub async fn purge_everywhere(&self, purge: &Purge) -> (usize, Result<u64, crate::FanoutError>) {
        let local = self.purge(purge);
        let remote = match &self.inner.fanout {
            Some(f) => f.publish(purge).await,
            None => Ok(0),
        };
        (local, remote)
    }

    /// Starts applying purges published by any edge (none without a purge channel). Resolves
    /// once subscribed; the task runs until aborted.
    pub async fn start_purge_listener(&self) -> Option<tokio::task::JoinHandle<()>> {
        let fanout = self.inner.fanout.clone()?;
        let cache = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(fanout.run(
            move |p| {
                let n = cache.purge(&p);
                tracing::info!(purge = %p.to_wire(), removed = n, "purge received");
            },
            Some(tx),
        ));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rx).await;
        Some(task)
    }
}
