//! A zone's origins as one thing to send a request to: pick a healthy origin, check out a
//! connection, send, time the response head, and retry where RFC 9112 §9.3.1 allows.
//!
//! Retry rules, in one place:
//! - a request none of whose bytes left the edge (connect failure, refused, TLS failure,
//!   queue timeout, or hyper handing the request back unsent) may go to another origin,
//!   whatever its method;
//! - a request whose bytes reached an origin is retried only if its method is idempotent
//!   (RFC 9110 §9.2.2), the connection failed before any response byte, and the caller can
//!   rebuild it (`replay`, i.e. it had no body) — never a POST or PATCH;
//! - a reused keep-alive connection that the origin had closed is retried once on a fresh
//!   connection to the same origin, under the same rules;
//! - at most `retries` further origins per request, within the zone's retry budget;
//! - response timeouts and invalid responses are not retried.
//!
//! It does not build the forwarded request (the proxy does) nor keep connections (`pool`).

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;

use http::{Method, Request, Response};
use tokio::sync::oneshot;

use crate::balance::{Balancer, Candidates};
use crate::body::OriginBody;
use crate::conn::{ForwardBody, SendBody, Sender};
use crate::error::UpstreamError;
use crate::health::{Checker, Verdict};
use crate::pool::{Conn, Lease, PeerPool, PeerStatus};
use crate::spec::{HealthCheck, UpstreamSettings};

/// A zone's origins, built by [`crate::Upstreams::cluster`]; cheap to keep per config.
pub struct Cluster<B: ForwardBody> {
    members: Members<B>,
    balancer: Balancer,
    settings: UpstreamSettings,
    health: HealthCheck,
    budget: RetryBudget,
    /// Keeps the active probes of these origins running while the cluster lives.
    _checkers: Vec<Arc<Checker>>,
}

struct Members<B: ForwardBody>(Box<[Arc<PeerPool<B>>]>);

impl<B: ForwardBody> Candidates for Members<B> {
    fn up(&self, i: usize) -> bool {
        self.0[i].health().is_up()
    }

    fn trial(&self, i: usize) -> bool {
        self.0[i].health().claim_trial()
    }

    fn load(&self, i: usize) -> usize {
        self.0[i].in_flight()
    }
}

/// One attempt's failure, with the request when it never reached the wire.
struct Failed<B> {
    error: UpstreamError,
    unsent: Option<Request<B>>,
    reused: bool,
}

impl<B: ForwardBody> Cluster<B> {
    pub(crate) fn new(
        pools: Vec<Arc<PeerPool<B>>>,
        balancer: Balancer,
        settings: UpstreamSettings,
        health: HealthCheck,
        checkers: Vec<Arc<Checker>>,
    ) -> Self {
        let budget = RetryBudget::new(settings.retry_budget_percent);
        Cluster {
            members: Members(pools.into_boxed_slice()),
            balancer,
            settings,
            health,
            budget,
            _checkers: checkers,
        }
    }

    /// Sends `req` to one of the zone's origins and returns its response head; the body
    /// streams, and gives the connection back to the pool at its end.
    ///
    /// `key` is the consistent-hash key (ignored by other policies). `replay` rebuilds the
    /// request for a retry after its bytes reached an origin; return `None` when that is
    /// impossible (a streamed body). It is called only on such a retry, never otherwise.
    pub async fn send(
        &self,
        req: Request<B>,
        key: Option<&[u8]>,
        mut replay: impl FnMut() -> Option<Request<B>>,
    ) -> Result<Response<OriginBody<B>>, UpstreamError> {
        self.budget.deposit();
        let idempotent = is_idempotent(req.method());
        let mut pending = req;
        let mut tried: u64 = 0;
        let mut retries = 0;
        let mut last = None;
        loop {
            let Some(i) = self.balancer.pick(&self.members, key, tried) else {
                return Err(last.unwrap_or(UpstreamError::NoHealthyOrigin));
            };
            tried |= 1 << (i % 64);
            let pool = &self.members.0[i];
            let failed = match self.attempt(pool, pending, idempotent, &mut replay).await {
                Ok(resp) => {
                    pool.health().record(Verdict::Success, &self.health, pool.peer());
                    return Ok(resp);
                }
                Err(failed) => failed,
            };
            let verdict = if failed.error.is_origin_failure() {
                Verdict::Failure
            } else {
                Verdict::Neutral
            };
            pool.health().record(verdict, &self.health, pool.peer());
            tracing::debug!(peer = %pool.peer(), error = %failed.error, "origin request failed");
            let next = if retries >= self.settings.retries {
                None
            } else if let Some(unsent) = failed.unsent {
                Some(unsent)
            } else if idempotent && failed.error == UpstreamError::Reset {
                replay()
            } else {
                None
            };
            match next {
                Some(req) if self.budget.withdraw() => {
                    retries += 1;
                    pending = req;
                    last = Some(failed.error);
                }
                _ => return Err(failed.error),
            }
        }
    }

    /// One origin; a stale pooled connection gets one retry on a fresh connection.
    async fn attempt(
        &self,
        pool: &Arc<PeerPool<B>>,
        req: Request<B>,
        idempotent: bool,
        replay: &mut impl FnMut() -> Option<Request<B>>,
    ) -> Result<Response<OriginBody<B>>, Failed<B>> {
        let failed = match self.exchange(pool, req, false).await {
            Ok(resp) => return Ok(resp),
            Err(failed) => failed,
        };
        if !failed.reused || failed.error != UpstreamError::Reset {
            return Err(failed);
        }
        let again = match failed.unsent {
            Some(unsent) => unsent,
            None if idempotent => match replay() {
                Some(req) => req,
                None => return Err(failed),
            },
            None => return Err(failed),
        };
        self.exchange(pool, again, true).await
    }

    /// Checks out a connection, sends, and waits for the response head.
    async fn exchange(
        &self,
        pool: &Arc<PeerPool<B>>,
        req: Request<B>,
        fresh: bool,
    ) -> Result<Response<OriginBody<B>>, Failed<B>> {
        let mut lease = Lease::new(Arc::clone(pool), self.settings.max_idle_per_origin);
        let Conn {
            mut sender,
            permit,
            reused,
        } = match pool.checkout(&self.settings, fresh).await {
            Ok(conn) => conn,
            Err(error) => {
                return Err(Failed {
                    error,
                    unsent: Some(req),
                    reused: false,
                })
            }
        };
        let (parts, body) = req.into_parts();
        // Only a request with a body needs the "sent" signal (and its allocation).
        let (signal, sent) = if body.is_end_stream() {
            (None, None)
        } else {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        };
        let req = Request::from_parts(parts, SendBody::new(body, signal));
        let timeout = self.settings.response_timeout;
        let deadline = async move {
            if let Some(sent) = sent {
                let _ = sent.await;
            }
            tokio::time::sleep(timeout).await;
        };
        let outcome = tokio::select! {
            biased;
            result = sender.send(req) => Some(result),
            () = deadline => None,
        };
        match outcome {
            Some(Ok(resp)) => {
                if let (Sender::H1(h1), Some(permit)) = (sender, permit) {
                    lease.hold(h1, permit);
                }
                Ok(resp.map(|body| OriginBody::new(body, lease)))
            }
            Some(Err(f)) => Err(Failed {
                error: f.error,
                unsent: f.unsent.map(|r| r.map(SendBody::into_inner)),
                reused,
            }),
            None => Err(Failed {
                error: UpstreamError::ResponseTimeout,
                unsent: None,
                reused,
            }),
        }
    }

    /// The state of each origin of this cluster, in configuration order.
    pub fn status(&self) -> Vec<PeerStatus> {
        self.members.0.iter().map(|p| p.status()).collect()
    }

    /// Whether at least one origin is in rotation.
    pub fn any_healthy(&self) -> bool {
        self.members.0.iter().any(|p| p.health().is_up())
    }
}

/// RFC 9110 §9.2.2.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Retries as a share of requests: each request deposits `percent`/100 of a token, each
/// retry takes one; a reserve of [`RESERVE`] tokens covers quiet periods.
struct RetryBudget {
    milli_tokens: AtomicI64,
    per_request: i64,
}

const RESERVE: i64 = 10_000;

impl RetryBudget {
    fn new(percent: u32) -> Self {
        RetryBudget {
            milli_tokens: AtomicI64::new(RESERVE),
            per_request: i64::from(percent) * 10,
        }
    }

    fn deposit(&self) {
        if self.per_request > 0 && self.milli_tokens.load(Relaxed) < RESERVE {
            self.milli_tokens.fetch_add(self.per_request, Relaxed);
        }
    }

    fn withdraw(&self) -> bool {
        self.milli_tokens
            .fetch_update(Relaxed, Relaxed, |t| (t >= 1000).then_some(t - 1000))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotent_methods_are_rfc_9110s() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            assert!(is_idempotent(&m.parse().unwrap()), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT", "LOCK"] {
            assert!(!is_idempotent(&m.parse().unwrap()), "{m}");
        }
    }

    #[test]
    fn the_retry_budget_refills_with_requests() {
        let budget = RetryBudget::new(20);
        for _ in 0..10 {
            assert!(budget.withdraw());
        }
        assert!(!budget.withdraw());
        for _ in 0..4 {
            budget.deposit();
        }
        assert!(!budget.withdraw(), "4 requests at 20% are 0.8 of a retry");
        budget.deposit();
        assert!(budget.withdraw());
    }
}
