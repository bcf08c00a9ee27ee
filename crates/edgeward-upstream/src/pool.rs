//! One peer's connections: idle HTTP/1.1 keep-alive connections (newest first), the shared
//! HTTP/2 connection, the per-origin connection cap with its queue, and the lease that
//! returns a connection when its response ends.
//!
//! Owns the connection lifecycle and its counters (in flight, open, opened). A `PeerPool`
//! lives in the process-wide [`crate::Upstreams`] map, so it outlives any one config.
//! It does not choose the peer (`balance`) nor retry (`cluster`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use hyper::client::conn::http1;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::conn::{ForwardBody, SendBody, Sender};
use crate::error::UpstreamError;
use crate::health::{Checker, Health, Probed};
use crate::peer::Peer;
use crate::spec::{ActiveCheck, UpstreamSettings};

type H1<B> = http1::SendRequest<SendBody<B>>;

struct Idle<B> {
    sender: H1<B>,
    permit: OwnedSemaphorePermit,
    since: Instant,
}

struct SharedH2<B> {
    sender: hyper::client::conn::http2::SendRequest<SendBody<B>>,
    _permit: OwnedSemaphorePermit,
}

/// A peer with its connections, health and counters.
pub(crate) struct PeerPool<B> {
    peer: Peer,
    idle: Mutex<Vec<Idle<B>>>,
    h2: Mutex<Option<SharedH2<B>>>,
    /// One permit per open connection.
    slots: Arc<Semaphore>,
    /// The cap the semaphore was sized for.
    cap: Mutex<usize>,
    /// Wakes requests queued at the cap when a connection goes idle.
    freed: Notify,
    waiters: AtomicUsize,
    in_flight: AtomicUsize,
    opened: AtomicU64,
    health: Health,
    checkers: Mutex<Vec<(ActiveCheck, Weak<Checker>)>>,
}

/// A checked-out connection.
pub(crate) struct Conn<B> {
    pub sender: Sender<SendBody<B>>,
    /// Held by HTTP/1 connections (the shared HTTP/2 one keeps its own).
    pub permit: Option<OwnedSemaphorePermit>,
    /// Taken from the idle list (a failure may just be the origin closing it meanwhile).
    pub reused: bool,
}

/// Semaphore size standing for "no cap".
const UNCAPPED: usize = Semaphore::MAX_PERMITS;

fn slots_for(cap: usize) -> usize {
    if cap == 0 {
        UNCAPPED
    } else {
        cap
    }
}

impl<B: ForwardBody> PeerPool<B> {
    pub(crate) fn new(peer: Peer, cap: usize) -> Self {
        PeerPool {
            peer,
            idle: Mutex::new(Vec::new()),
            h2: Mutex::new(None),
            slots: Arc::new(Semaphore::new(slots_for(cap))),
            cap: Mutex::new(slots_for(cap)),
            freed: Notify::new(),
            waiters: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            opened: AtomicU64::new(0),
            health: Health::default(),
            checkers: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn peer(&self) -> &Peer {
        &self.peer
    }

    pub(crate) fn health(&self) -> &Health {
        &self.health
    }

    /// Requests in flight to this peer (from every cluster using it).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Relaxed)
    }

    /// Resizes the connection cap (a reload may change it); connections above a lowered
    /// cap close as they are released.
    pub(crate) fn set_cap(&self, cap: usize) {
        let wanted = slots_for(cap);
        let mut current = lock(&self.cap);
        if wanted > *current {
            self.slots.add_permits(wanted - *current);
        } else if wanted < *current {
            let forgotten = self.slots.forget_permits(*current - wanted);
            // Permits still held by open connections are forgotten as they come back.
            *current -= forgotten;
            return;
        }
        *current = wanted;
    }

    /// The active checker for `check`, shared with any cluster already probing the same way.
    pub(crate) fn checker(
        self: &Arc<Self>,
        check: &ActiveCheck,
        settings: &UpstreamSettings,
    ) -> Option<Arc<Checker>> {
        let mut checkers = lock(&self.checkers);
        checkers.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(running) = checkers
            .iter()
            .find(|(c, _)| c == check)
            .and_then(|(_, w)| w.upgrade())
        {
            return Some(running);
        }
        let checker = Arc::new(Checker::start(Arc::clone(self), check.clone(), settings.clone())?);
        checkers.push((check.clone(), Arc::downgrade(&checker)));
        Some(checker)
    }

    /// A connection: the shared HTTP/2 one, an idle one, a new one, or (at the cap) the
    /// first to come free within `queue_timeout`.
    pub(crate) async fn checkout(
        &self,
        settings: &UpstreamSettings,
        fresh: bool,
    ) -> Result<Conn<B>, UpstreamError> {
        let mut deadline = None;
        loop {
            if !fresh {
                if let Some(conn) = self.reuse(settings) {
                    return Ok(conn);
                }
            }
            match Arc::clone(&self.slots).try_acquire_owned() {
                Ok(permit) => return self.open(permit, settings).await,
                Err(TryAcquireError::NoPermits) => {}
                Err(TryAcquireError::Closed) => return Err(UpstreamError::QueueTimeout),
            }
            let deadline =
                *deadline.get_or_insert_with(|| tokio::time::Instant::now() + settings.queue_timeout);
            self.waiters.fetch_add(1, Relaxed);
            let woken = {
                let notified = self.freed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(conn) = self.reuse(settings) {
                    self.waiters.fetch_sub(1, Relaxed);
                    return Ok(conn);
                }
                tokio::select! {
                    () = notified => None,
                    permit = Arc::clone(&self.slots).acquire_owned() => Some(permit),
                    () = tokio::time::sleep_until(deadline) => {
                        self.waiters.fetch_sub(1, Relaxed);
                        return Err(UpstreamError::QueueTimeout);
                    }
                }
            };
            self.waiters.fetch_sub(1, Relaxed);
            if let Some(Ok(permit)) = woken {
                return self.open(permit, settings).await;
            }
        }
    }

    fn reuse(&self, settings: &UpstreamSettings) -> Option<Conn<B>> {
        if let Some(h2) = lock(&self.h2).as_ref() {
            if !h2.sender.is_closed() {
                return Some(Conn {
                    sender: Sender::H2(h2.sender.clone()),
                    permit: None,
                    reused: true,
                });
            }
        }
        loop {
            let idle = lock(&self.idle).pop()?;
            if idle.sender.is_closed() || idle.since.elapsed() > settings.idle_timeout {
                continue;
            }
            return Some(Conn {
                sender: Sender::H1(idle.sender),
                permit: Some(idle.permit),
                reused: true,
            });
        }
    }

    async fn open(
        &self,
        permit: OwnedSemaphorePermit,
        settings: &UpstreamSettings,
    ) -> Result<Conn<B>, UpstreamError> {
        let connected = self.peer.connect(settings.connect_timeout).await?;
        self.opened.fetch_add(1, Relaxed);
        let sender = Sender::handshake(connected, settings).await?;
        if let Sender::H2(h2) = &sender {
            *lock(&self.h2) = Some(SharedH2 {
                sender: h2.clone(),
                _permit: permit,
            });
            return Ok(Conn {
                sender,
                permit: None,
                reused: false,
            });
        }
        Ok(Conn {
            sender,
            permit: Some(permit),
            reused: false,
        })
    }

    /// Keeps an HTTP/1 connection for the next request, or lets it close.
    fn put_idle(&self, sender: H1<B>, permit: OwnedSemaphorePermit, max_idle: usize) {
        if sender.is_closed() {
            return;
        }
        {
            let mut idle = lock(&self.idle);
            if idle.len() >= max_idle {
                return;
            }
            idle.push(Idle {
                sender,
                permit,
                since: Instant::now(),
            });
        }
        if self.waiters.load(Relaxed) > 0 {
            self.freed.notify_one();
        }
    }

    /// A snapshot for metrics and the admin API.
    pub(crate) fn status(&self) -> PeerStatus {
        let cap = *lock(&self.cap);
        PeerStatus {
            origin: self.peer.to_string(),
            healthy: self.health.is_up(),
            consecutive_failures: self.health.failures(),
            checks_failed: self.health.checks_failed(),
            marked_down: self.health.marked_down(),
            in_flight: self.in_flight.load(Relaxed),
            idle: lock(&self.idle).len(),
            open: cap.saturating_sub(self.slots.available_permits()),
            opened: self.opened.load(Relaxed),
        }
    }
}

impl<B: ForwardBody> Probed for PeerPool<B> {
    fn peer(&self) -> &Peer {
        &self.peer
    }

    fn health(&self) -> &Health {
        &self.health
    }
}

/// One origin's state as `/metrics` and the admin API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The origin (`https://host:port`, `host:port`, `unix:/path`).
    pub origin: String,
    /// In rotation.
    pub healthy: bool,
    /// Consecutive connect failures / timeouts.
    pub consecutive_failures: u32,
    /// Active probes failed, in total.
    pub checks_failed: u64,
    /// Times taken out of rotation, in total.
    pub marked_down: u64,
    /// Requests in flight.
    pub in_flight: usize,
    /// Idle pooled connections.
    pub idle: usize,
    /// Open connections (idle or busy).
    pub open: usize,
    /// Connections opened since the process started.
    pub opened: u64,
}

/// A request's hold on its peer: counts it in flight, and brings an HTTP/1 connection back
/// to the idle list when the response has been read to its end.
pub(crate) struct Lease<B: ForwardBody> {
    pool: Arc<PeerPool<B>>,
    h1: Option<(H1<B>, OwnedSemaphorePermit)>,
    max_idle: usize,
    done: bool,
}

impl<B: ForwardBody> Lease<B> {
    pub(crate) fn new(pool: Arc<PeerPool<B>>, max_idle: usize) -> Self {
        pool.in_flight.fetch_add(1, Relaxed);
        Lease {
            pool,
            h1: None,
            max_idle,
            done: false,
        }
    }

    /// Attaches the HTTP/1 connection the response came on.
    pub(crate) fn hold(&mut self, sender: H1<B>, permit: OwnedSemaphorePermit) {
        self.h1 = Some((sender, permit));
    }

    pub(crate) fn pool(&self) -> &Arc<PeerPool<B>> {
        &self.pool
    }

    /// The response ended cleanly: the connection may serve another request.
    pub(crate) fn release(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.pool.in_flight.fetch_sub(1, Relaxed);
        if let Some((sender, permit)) = self.h1.take() {
            self.pool.put_idle(sender, permit, self.max_idle);
        }
    }
}

impl<B: ForwardBody> Drop for Lease<B> {
    fn drop(&mut self) {
        if !self.done {
            // Unfinished: the connection (if any) closes with its sender.
            self.pool.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
