//! Whether an origin gets traffic: passive health (consecutive connect failures and timeouts
//! take it out; after `half_open_after` one request may try it again) and active probes
//! (`GET path` every `interval`; `fall` failures take it out, `rise` successes bring it back).
//!
//! Owns the per-peer state (lock-free, one atomic load per request on the healthy path) and
//! the probe task. The state lives with the peer in the process-wide pool, so it survives
//! config reloads. It does not pick origins (`balance`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::Request;
use tokio::task::JoinHandle;

use crate::conn::{NoBody, Sender};
use crate::peer::Peer;
use crate::spec::{ActiveCheck, HealthCheck, UpstreamSettings};

/// One peer's health.
#[derive(Debug, Default)]
pub(crate) struct Health {
    down: AtomicBool,
    /// Consecutive passive failures.
    failures: AtomicU32,
    /// When a down peer may get one trial request (ms on [`now_ms`]'s clock; MAX: never).
    retry_at: AtomicU64,
    /// A trial request is in flight.
    probing: AtomicBool,
    /// Consecutive active successes / failures.
    rises: AtomicU32,
    falls: AtomicU32,
    /// Totals for metrics.
    checks_failed: AtomicU64,
    marked_down: AtomicU64,
}

/// A trial request's verdict, or none (the request failed for a reason that says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    Failure,
    Neutral,
}

/// Milliseconds since the first call: the clock health decisions use.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Health {
    /// Whether the peer is in rotation (the hot path: one relaxed load).
    pub(crate) fn is_up(&self) -> bool {
        !self.down.load(Relaxed)
    }

    /// For a down peer: claims the single half-open trial if it is due.
    pub(crate) fn claim_trial(&self) -> bool {
        self.down.load(Relaxed)
            && now_ms() >= self.retry_at.load(Relaxed)
            && self
                .probing
                .compare_exchange(false, true, Relaxed, Relaxed)
                .is_ok()
    }

    /// Counts a request's outcome towards passive health.
    pub(crate) fn record(&self, verdict: Verdict, policy: &HealthCheck, peer: &Peer) {
        let trial = self.probing.load(Relaxed);
        match verdict {
            Verdict::Success => {
                if self.failures.load(Relaxed) != 0 {
                    self.failures.store(0, Relaxed);
                }
                if trial {
                    self.probing.store(false, Relaxed);
                    if self.down.swap(false, Relaxed) {
                        tracing::info!(peer = %peer, "origin answered a trial request: back in rotation");
                    }
                }
            }
            Verdict::Failure => {
                let failures = self.failures.fetch_add(1, Relaxed).saturating_add(1);
                if trial {
                    self.retry_at
                        .store(now_ms().saturating_add(ms(policy.half_open_after)), Relaxed);
                    self.probing.store(false, Relaxed);
                } else if policy.passive_fall > 0 && failures >= policy.passive_fall {
                    self.take_out(
                        ms(policy.half_open_after),
                        peer,
                        "consecutive connect failures or timeouts",
                    );
                }
            }
            Verdict::Neutral => {
                if trial {
                    self.probing.store(false, Relaxed);
                }
            }
        }
    }

    /// Counts an active probe's result.
    pub(crate) fn record_probe(&self, ok: bool, check: &ActiveCheck, peer: &Peer) {
        if ok {
            self.falls.store(0, Relaxed);
            let rises = self.rises.fetch_add(1, Relaxed).saturating_add(1);
            if rises >= check.rise && self.down.load(Relaxed) {
                self.failures.store(0, Relaxed);
                self.probing.store(false, Relaxed);
                self.down.store(false, Relaxed);
                tracing::info!(peer = %peer, rises, "origin passed its health checks: back in rotation");
            }
        } else {
            self.checks_failed.fetch_add(1, Relaxed);
            self.rises.store(0, Relaxed);
            let falls = self.falls.fetch_add(1, Relaxed).saturating_add(1);
            if falls >= check.fall {
                // Active checks bring it back, not trial requests.
                self.take_out(u64::MAX, peer, "failed health checks");
                self.retry_at.store(u64::MAX, Relaxed);
            }
        }
    }

    fn take_out(&self, retry_after_ms: u64, peer: &Peer, why: &str) {
        self.retry_at
            .store(now_ms().saturating_add(retry_after_ms), Relaxed);
        if !self.down.swap(true, Relaxed) {
            self.marked_down.fetch_add(1, Relaxed);
            tracing::warn!(peer = %peer, why, "origin taken out of rotation");
        }
    }

    /// Consecutive passive failures so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures.load(Relaxed)
    }

    /// Active probes that failed, in total.
    pub(crate) fn checks_failed(&self) -> u64 {
        self.checks_failed.load(Relaxed)
    }

    /// Times the peer was taken out of rotation.
    pub(crate) fn marked_down(&self) -> u64 {
        self.marked_down.load(Relaxed)
    }
}

/// A running probe task; stops when the last cluster using it is dropped.
#[derive(Debug)]
pub(crate) struct Checker {
    task: JoinHandle<()>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Something a probe needs from the pool: the peer and its health.
pub(crate) trait Probed: Send + Sync + 'static {
    fn peer(&self) -> &Peer;
    fn health(&self) -> &Health;
}

impl Checker {
    /// Starts probing; `None` outside a tokio runtime (then only passive health applies).
    pub(crate) fn start<P: Probed>(
        target: Arc<P>,
        check: ActiveCheck,
        settings: UpstreamSettings,
    ) -> Option<Checker> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let task = handle.spawn(async move {
            let mut ticks = tokio::time::interval(check.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let ok = matches!(
                    tokio::time::timeout(check.timeout, probe(target.peer(), &check, &settings)).await,
                    Ok(true)
                );
                if !ok {
                    tracing::debug!(peer = %target.peer(), path = %check.path, "health check failed");
                }
                target.health().record_probe(ok, &check, target.peer());
            }
        });
        Some(Checker { task })
    }
}

/// One probe on a fresh connection: true when the status is an expected one.
async fn probe(peer: &Peer, check: &ActiveCheck, settings: &UpstreamSettings) -> bool {
    let Ok(connected) = peer.connect(check.timeout).await else {
        return false;
    };
    let h2 = connected.h2;
    let Ok(mut sender) = Sender::<NoBody>::handshake(connected, settings).await else {
        return false;
    };
    let host = check.host.as_deref().unwrap_or_else(|| peer.default_host());
    let mut req = Request::get(check.path.as_str())
        .header(http::header::HOST, host)
        .header(http::header::USER_AGENT, "edgeward-health-check");
    if !h2 {
        req = req.header(http::header::CONNECTION, "close");
    }
    let Ok(req) = req.body(NoBody) else {
        return false;
    };
    match sender.send(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            check.expected.iter().any(|m| m.matches(status))
        }
        Err(_) => false,
    }
}
