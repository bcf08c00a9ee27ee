//! The server: listeners, the current configuration, reload and graceful shutdown.
//!
//! Owns the process-level lifecycle: binding, accepting (and, on `[[tls]]`
//! listeners, completing the TLS handshake before any HTTP), handing each
//! connection the configuration current at each request, SIGHUP reload (a bad
//! new config is refused and the old one keeps serving), and SIGTERM/SIGINT
//! shutdown (stop accepting, let in-flight requests finish within a bound).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use edgeward_config::Config;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{watch, Notify};

use edgeward_admin::{AdminState, Metrics};
use edgeward_analytics::{Analytics, AnalyticsHandle, EventQuery, Protocol as MetricsProtocol};
use edgeward_cache::Cache;
use edgeward_config::RateLimitStoreSettings;
use edgeward_limits::{FailMode, MemoryStore, RedisConfig, RedisStore, Store};
use edgeward_upstream::Upstreams;
use edgeward_waf::{ClearanceKey, GeoIp};

use crate::edge::Edge;
use crate::protect::Shields;
use crate::proxy_protocol;
use crate::request_body::UpstreamBody;
use crate::session::{h1::Connection, h2, Rewind};
use crate::telemetry::Telemetry;
use crate::tls::{TlsEndpoint, Transport};

/// A running edge: its configuration and its connections.
pub struct Server {
    edge: ArcSwap<Edge>,
    shields: Arc<Shields>,
    upstreams: Arc<Upstreams<UpstreamBody>>,
    telemetry: Telemetry,
    cache: Option<Cache>,
    config_path: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    active: AtomicUsize,
    idle: Notify,
    tls_handshake_failures: AtomicU64,
    /// Connections closed at once because their listener was at `max_connections`.
    refused_connections: AtomicU64,
}

/// The listeners of a server, bound and ready to accept.
pub struct Bound {
    server: Arc<Server>,
    listeners: Vec<TcpListener>,
    tls_listeners: Vec<(TcpListener, Arc<TlsEndpoint>)>,
    admin: Option<(TcpListener, AdminState)>,
    signals: Signals,
}

impl Bound {
    /// Binds every `listen` address of `config`, plain and TLS. `config_path` enables SIGHUP reload.
    pub async fn bind(config: Config, config_path: Option<PathBuf>) -> io::Result<Bound> {
        let mut listeners = Vec::with_capacity(config.listen.len());
        for addr in &config.listen {
            listeners.push(listen(*addr).await?);
        }
        let mut tls_listeners = Vec::new();
        for tls in &config.tls {
            let endpoint = TlsEndpoint::new(tls).map_err(|e| io::Error::other(format!("TLS setup: {e}")))?;
            let endpoint = Arc::new(endpoint);
            for addr in &tls.listen {
                tls_listeners.push((listen(*addr).await?, Arc::clone(&endpoint)));
            }
        }
        let shields = Arc::new(shields(&config).await?);
        let upstreams = Arc::new(Upstreams::new());
        let (analytics, query) = match analytics(&config)? {
            Some((handle, query)) => (Some(handle), Some(query)),
            None => (None, None),
        };
        let telemetry = Telemetry {
            analytics: analytics.clone(),
            metrics: Arc::new(Metrics::default()),
        };
        let admin = match &config.services.admin {
            Some(settings) => {
                let listener = TcpListener::bind(settings.listen).await.map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot listen on {} (admin): {e}", settings.listen),
                    )
                })?;
                let state = AdminState {
                    analytics: analytics.clone(),
                    query,
                    token: settings.token.clone(),
                    allowed_hosts: settings.allowed_hosts.clone(),
                    ..AdminState::new(Arc::clone(&telemetry.metrics))
                };
                Some((listener, state))
            }
            None => None,
        };
        let cache = match &config.cache.settings {
            Some(settings) => {
                let store = edgeward_cache::open_store(&settings.store)
                    .map_err(|e| io::Error::other(format!("cache store: {e}")))?;
                let cache = Cache::new(store, settings.clone());
                // Purges published by other edges (Redis pub/sub), when configured.
                let _listener = cache.start_purge_listener().await;
                Some(cache)
            }
            None => None,
        };
        let (shutdown, _) = watch::channel(false);
        let edge = Edge::new(
            config,
            Arc::clone(&shields),
            &upstreams,
            telemetry.clone(),
            cache.clone(),
        );
        let server = Arc::new(Server {
            edge: ArcSwap::from_pointee(edge),
            shields,
            upstreams,
            telemetry,
            cache,
            config_path,
            shutdown,
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            tls_handshake_failures: AtomicU64::new(0),
            refused_connections: AtomicU64::new(0),
        });
        let admin = admin.map(|(listener, mut state)| {
            state.extra_metrics.push(proxy_metrics(Arc::clone(&server)));
            let live = Arc::clone(&server);
            state.redirects = Some(Arc::new(move |zone, path| {
                live.current().has_redirect(zone, path)
            }));
            (listener, state)
        });
        Ok(Bound {
            server,
            listeners,
            tls_listeners,
            admin,
            signals: Signals::install()?,
        })
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The addresses of the TLS listeners actually bound (port 0 resolved).
    pub fn local_tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls_listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// The admin listener's address, when configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The server, to reload or stop it from elsewhere.
    pub fn server(&self) -> Arc<Server> {
        Arc::clone(&self.server)
    }

    /// Accepts and serves until shutdown, handling SIGHUP and SIGTERM/SIGINT.
    pub async fn serve(self) {
        let server = self.server;
        for listener in self.listeners {
            tokio::spawn(accept_loop(Arc::clone(&server), listener, None));
        }
        for (listener, endpoint) in self.tls_listeners {
            tokio::spawn(accept_loop(Arc::clone(&server), listener, Some(endpoint)));
        }
        if let Some((listener, state)) = self.admin {
            tokio::spawn(async move {
                if let Err(e) = edgeward_admin::serve_admin(listener, state).await {
                    tracing::error!(error = %e, "admin listener stopped");
                }
            });
        }
        signals(&server, self.signals).await;
        server.drain().await;
        if let Some(analytics) = &server.telemetry.analytics {
            analytics.close().await;
        }
    }
}

impl Server {
    /// The configuration serving new requests.
    pub fn current(&self) -> Arc<Edge> {
        self.edge.load_full()
    }

    /// Reloads the configuration file; on error the current configuration stays.
    pub fn reload(&self) -> Result<(), edgeward_config::ConfigError> {
        let Some(path) = &self.config_path else {
            tracing::warn!("reload requested, but this server was not started from a file");
            return Ok(());
        };
        let config = edgeward_config::load(path)?;
        let old = self.current();
        if config.listen != old.config.listen || config.workers != old.config.workers {
            tracing::warn!("`listen` and `workers` changes take effect on restart only");
        }
        if config.tls != old.config.tls {
            tracing::warn!("[[tls]] changes (listeners and certificates) take effect on restart only");
        }
        if format!("{:?}", config.cache.settings) != format!("{:?}", old.config.cache.settings) {
            tracing::warn!("[cache] changes take effect on restart only (cache rules reload now)");
        }
        if config.services.rate_limit_store != old.config.services.rate_limit_store
            || config.services.challenge != old.config.services.challenge
            || config.services.analytics != old.config.services.analytics
            || config.services.admin != old.config.services.admin
        {
            tracing::warn!("[rate_limit_store], [challenge], [analytics] and [admin] changes take effect on restart only");
        }
        let edge = Edge::new(
            config,
            Arc::clone(&self.shields),
            &self.upstreams,
            self.telemetry.clone(),
            self.cache.clone(),
        );
        self.edge.store(Arc::new(edge));
        tracing::info!(path = %path.display(), "configuration reloaded");
        Ok(())
    }

    /// TLS handshakes that failed or timed out so far.
    pub fn tls_handshake_failures(&self) -> u64 {
        self.tls_handshake_failures.load(Ordering::Relaxed)
    }

    /// Starts a graceful shutdown: stop accepting, close idle connections.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits for in-flight connections to finish, at most the configured bound.
    async fn drain(&self) {
        let bound = self.current().config.shutdown_timeout;
        let wait = async {
            while self.active.load(Ordering::Acquire) > 0 {
                let notified = std::pin::pin!(self.idle.notified());
                let mut notified = notified;
                notified.as_mut().enable();
                if self.active.load(Ordering::Acquire) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(bound, wait).await.is_err() {
            tracing::warn!(
                connections = self.active.load(Ordering::Acquire),
                "shutdown bound reached; closing remaining connections"
            );
        } else {
            tracing::info!("all connections finished; shutting down");
        }
    }
}

/// The process-wide protection state: clearance key, GeoIP table, counter store.
async fn shields(config: &Config) -> io::Result<Shields> {
    let settings = &config.services;
    let secret = match &settings.challenge.secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => random_secret()?,
    };
    let key = ClearanceKey::new(&secret)
        .with_difficulty(settings.challenge.difficulty)
        .with_clearance_ttl(settings.challenge.clearance_ttl.as_secs());
    let geoip = match &settings.geoip_csv {
        None => None,
        Some((path, text)) => Some(GeoIp::from_csv(text).map_err(|(line, e)| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}:{line}: {e}", path.display()),
            )
        })?),
    };
    let store = match &settings.rate_limit_store {
        RateLimitStoreSettings::Memory => {
            let memory = MemoryStore::new();
            memory.spawn_sweeper(Duration::from_secs(30));
            Store::Memory(memory)
        }
        RateLimitStoreSettings::Redis {
            url,
            timeout,
            fail_open,
        } => {
            let mut redis = RedisConfig::new(url.clone());
            redis.call_timeout = *timeout;
            redis.fail_mode = if *fail_open {
                FailMode::Open
            } else {
                FailMode::Closed
            };
            Store::Redis(redis_store(redis).await?)
        }
    };
    Ok(Shields::new(key, geoip, store))
}

/// The proxy's own counters on `/metrics`: rate-limit store failures, TLS
/// handshake failures and connections refused at `max_connections` (requests themselves are counted by analytics).
fn proxy_metrics(server: Arc<Server>) -> edgeward_admin::ExtraMetrics {
    Arc::new(move |out: &mut String| {
        use std::fmt::Write;
        let store_failures = match server.shields.limiter.store() {
            Store::Redis(redis) => redis.failures(),
            Store::Memory(_) => 0,
        };
        let _ = write!(
            out,
            "# HELP edgeward_ratelimit_store_failures_total Rate-limit store calls that failed and were decided by the fail mode.\n\
             # TYPE edgeward_ratelimit_store_failures_total counter\n\
             edgeward_ratelimit_store_failures_total {store_failures}\n\
             # HELP edgeward_tls_handshake_failures_total TLS handshakes that failed or timed out.\n\
             # TYPE edgeward_tls_handshake_failures_total counter\n\
             edgeward_tls_handshake_failures_total {}\n\
             # HELP edgeward_connections_refused_total Connections closed at once because the listener was at max_connections.\n\
             # TYPE edgeward_connections_refused_total counter\n\
             edgeward_connections_refused_total {}\n",
            server.tls_handshake_failures(),
            server.refused_connections.load(Ordering::Relaxed)
        );
        origin_metrics(out, &server.upstreams.status());
    })
}

/// Per-origin health and connection series (one label: the origin, bounded by the config).
fn origin_metrics(out: &mut String, origins: &[edgeward_upstream::PeerStatus]) {
    use std::fmt::Write;
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&edgeward_upstream::PeerStatus) -> u64,
    );
    let series: [Series; 6] = [
        (
            "edgeward_origin_healthy",
            "gauge",
            "1 when the origin takes requests, 0 when marked down.",
            |p| u64::from(p.healthy),
        ),
        (
            "edgeward_origin_in_flight",
            "gauge",
            "Requests in flight to the origin.",
            |p| p.in_flight as u64,
        ),
        (
            "edgeward_origin_open_connections",
            "gauge",
            "Open connections to the origin.",
            |p| p.open as u64,
        ),
        (
            "edgeward_origin_connections_opened_total",
            "counter",
            "Connections opened to the origin.",
            |p| p.opened,
        ),
        (
            "edgeward_origin_marked_down_total",
            "counter",
            "Times the origin was taken out by health checks.",
            |p| p.marked_down,
        ),
        (
            "edgeward_origin_checks_failed_total",
            "counter",
            "Failed active health checks.",
            |p| p.checks_failed,
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for origin in origins {
            let label = edgeward_admin::metrics::escape_label(&origin.origin);
            let _ = writeln!(out, "{name}{{origin=\"{label}\"}} {}", value(origin));
        }
    }
}

/// Connects to Redis before serving, so the first decisions are real ones;
/// when Redis is down at start, serves anyway (the store reconnects by itself).
async fn redis_store(config: RedisConfig) -> io::Result<RedisStore> {
    match RedisStore::connect(config.clone()).await {
        Ok(store) => Ok(store),
        Err(e) => {
            tracing::warn!(error = %e, url = %config.url, "rate-limit store not reachable at start; will keep trying");
            RedisStore::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
        }
    }
}

/// 32 bytes from the OS for a per-process clearance key.
fn random_secret() -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut secret = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
    Ok(secret)
}

/// Starts analytics when enabled: the recording handle and the store's query side.
fn analytics(config: &Config) -> io::Result<Option<(AnalyticsHandle, Arc<dyn EventQuery>)>> {
    let settings = &config.services.analytics;
    if !settings.enabled {
        return Ok(None);
    }
    let store = edgeward_analytics::open_store(&settings.store)
        .map_err(|e| io::Error::other(format!("analytics store: {e}")))?;
    let (handle, _writer) = Analytics::start(store.sink, settings.options.clone())?;
    Ok(Some((handle, store.query)))
}

/// Pending connections the kernel queues per listener before `accept` (the OS may cap it,
/// e.g. at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;
/// File descriptors kept free for origin connections, files and the admin listener when
/// `max_connections` is held below the process's fd limit.
const FD_RESERVE: usize = 256;

/// Binds one listening address with a large backlog, naming it in the error.
async fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let bind = || {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    bind().map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// The open-connection cap of one listener: the configured one, held below the fd limit
/// (`fd_limit`, read once per listener).
fn connection_cap(configured: usize, fd_limit: Option<usize>) -> usize {
    match fd_limit {
        Some(limit) => configured.min(limit.saturating_sub(FD_RESERVE).max(1)),
        None => configured,
    }
}

/// The soft limit on open files (`Max open files` in `/proc/self/limits`), when known.
fn fd_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One open connection of a listener; frees its place when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// Takes a place under `cap`, or `None` when the listener is full.
    fn take(open: &Arc<AtomicUsize>, cap: usize) -> Option<Slot> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < cap).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(Arc::clone(open)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts connections until shutdown; `tls` makes each one handshake first.
async fn accept_loop(server: Arc<Server>, listener: TcpListener, tls: Option<Arc<TlsEndpoint>>) {
    let mut stop = server.shutdown.subscribe();
    let open = Arc::new(AtomicUsize::new(0));
    let fds = fd_limit();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let cap = connection_cap(server.current().config.max_connections, fds);
                match Slot::take(&open, cap) {
                    Some(slot) => spawn_connection(&server, stream, peer, tls.clone(), slot),
                    None => {
                        // Full: close at once, before reading a byte; the client may
                        // retry elsewhere or later.
                        drop(stream);
                        let refused = server.refused_connections.fetch_add(1, Ordering::Relaxed) + 1;
                        if refused.is_power_of_two() {
                            tracing::warn!(%peer, cap, refused, "connection refused: listener at max_connections");
                        }
                    }
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn spawn_connection(
    server: &Arc<Server>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<TlsEndpoint>>,
    slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    server.active.fetch_add(1, Ordering::AcqRel);
    let guard = ActiveGuard(Arc::clone(server));
    let stop = server.shutdown.subscribe();
    tokio::spawn(async move {
        let source = Arc::clone(&guard.0);
        let current = move || source.current();
        let (limits, h2c, metrics, proxy_protocol) = {
            let edge = guard.0.current();
            (
                edge.limits.clone(),
                edge.config.h2c,
                Arc::clone(&edge.telemetry.metrics),
                edge.config.real_ip.proxy_protocol,
            )
        };
        // Behind a balancer speaking the PROXY protocol, its header names the client.
        let mut stream = stream;
        let mut peer = peer;
        if proxy_protocol {
            match proxy_protocol::read_header(&mut stream, limits.header_timeout).await {
                Ok(proxy_protocol::Header::Proxied(client)) => peer = client,
                Ok(proxy_protocol::Header::Local) => {}
                Err(e) => {
                    tracing::info!(%peer, error = %e, "connection closed: bad or missing PROXY protocol header");
                    drop(guard);
                    return;
                }
            }
        }
        match tls {
            None => {
                let (is_h2, opening) = if h2c {
                    h2c_preface(&mut stream, limits.header_timeout).await
                } else {
                    (false, Vec::new())
                };
                if is_h2 {
                    let _open = metrics.connection_opened(MetricsProtocol::H2);
                    let stream = Rewind::new(Bytes::from(opening), stream);
                    Box::pin(h2::serve(stream, peer, Transport::plain(), current, stop)).await;
                } else {
                    let _open = metrics.connection_opened(MetricsProtocol::H1);
                    let (rd, wr) = stream.into_split();
                    Connection::new(rd, wr, peer)
                        .with_read_bytes(&opening)
                        .serve(current, stop)
                        .await;
                }
            }
            // Boxed, like the HTTP/2 session: a plain idle HTTP/1 connection's task
            // should not carry the size of the states it never enters (issue 11).
            Some(endpoint) => match Box::pin(endpoint.handshake(stream, limits.header_timeout)).await {
                Ok((stream, transport)) if transport.h2 => {
                    let _open = metrics.connection_opened(MetricsProtocol::H2);
                    Box::pin(h2::serve(stream, peer, transport, current, stop)).await;
                }
                Ok((stream, transport)) => {
                    let _open = metrics.connection_opened(MetricsProtocol::H1);
                    let (rd, wr) = tokio::io::split(stream);
                    Connection::new(rd, wr, peer)
                        .with_transport(transport)
                        .serve(current, stop)
                        .await;
                }
                Err(e) => {
                    let failures = guard.0.tls_handshake_failures.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::debug!(%peer, error = %e, failures, "TLS handshake failed");
                }
            },
        }
        drop(guard);
        drop(slot);
    });
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads the opening bytes of a plain connection while they match the HTTP/2 preface
/// (h2c with prior knowledge, RFC 9113 §3.3): whether it is HTTP/2, and the bytes read, which
/// the chosen session reads first. Stops at the first byte that differs, so an HTTP/1 request
/// is not delayed; on a timeout or close mid-preface the bytes go to HTTP/1, which answers.
async fn h2c_preface(stream: &mut TcpStream, timeout: Duration) -> (bool, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::with_capacity(H2_PREFACE.len());
    let mut buf = [0u8; 24];
    while seen.len() < H2_PREFACE.len() {
        let want = H2_PREFACE.len() - seen.len();
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf[..want])).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return (false, seen),
        };
        seen.extend_from_slice(&buf[..n]);
        if !H2_PREFACE.starts_with(&seen) {
            return (false, seen);
        }
    }
    (true, seen)
}

/// Counts a live connection; wakes the drain when the last one ends.
struct ActiveGuard(Arc<Server>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The signals a server handles, installed at bind time so that none that
/// arrives after the listening address is announced takes its default action.
struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> io::Result<Signals> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// Handles signals until one asks to stop.
async fn signals(server: &Server, mut signals: Signals) {
    let mut stopped = server.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = signals.hup.recv() => {
                if let Err(e) = server.reload() {
                    tracing::error!(error = %e, "reload rejected; the previous configuration keeps serving");
                }
            }
            _ = signals.term.recv() => break,
            _ = signals.int.recv() => break,
            _ = stopped.wait_for(|s| *s) => break,
        }
    }
    tracing::info!("shutting down: no longer accepting connections");
    server.shutdown();
}
