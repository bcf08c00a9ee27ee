//! Prometheus metrics kept in memory and rendered in the text exposition format (0.0.4).
//!
//! Owns the request series (per zone, status code and deciding source, with latency
//! histograms), the per-origin series, the open connection and stream gauges, and their
//! rendering. The hot path ([`Metrics::observe`]) loads an immutable zone table and bumps
//! atomics; a lock is taken only the first time a zone or origin is seen. Does not own the
//! delivery, process and build series ([`crate::exposition`]) nor serving `/metrics`.
//!
//! Cardinality is bounded by construction (documented per series in [`crate::exposition`]):
//! zones past [`MAX_ZONES`] share the zone `_other`; a request no zone matched counts under
//! `_unmatched`; status codes outside the registered list count as `code="other"`; origins
//! past [`MAX_ORIGINS`] share one `_other` series.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use edgeward_analytics::{status_class, Event, Protocol, RoutineRequest, Source};

/// Histogram upper bounds in microseconds (1 ms … 10 s); `+Inf` follows.
const BUCKETS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// Zones past this many share one series set, so a flood of names cannot grow memory.
pub const MAX_ZONES: usize = 1_000;
/// Origins past this many share one series set.
pub const MAX_ORIGINS: usize = 1_000;
/// The zone label past [`MAX_ZONES`] (and the origin label past [`MAX_ORIGINS`]).
pub const OVERFLOW: &str = "_other";
/// The zone label of requests that matched no zone.
pub const UNMATCHED_ZONE: &str = "_unmatched";

/// The status codes with a series of their own (IANA's registry plus nginx's 499); others
/// count as `code="other"`.
pub const CODES: [u16; 64] = [
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307,
    308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421,
    422, 423, 424, 425, 426, 428, 429, 431, 451, 499, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
    0,
];
/// `CODES` ends with 0 standing for "other".
const OTHER_CODE: usize = CODES.len() - 1;

fn code_index(status: u16) -> usize {
    CODES[..OTHER_CODE].binary_search(&status).unwrap_or(OTHER_CODE)
}

/// A latency histogram with per-bucket (not cumulative) counts.
#[derive(Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: u64) {
        let i = BUCKETS_US.partition_point(|&le| le < us);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    /// Renders the bucket, sum and count lines; `labels` is `key="value",…` (escaped).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            cumulative += count.load(Relaxed);
            let le = match BUCKETS_US.get(i) {
                Some(us) => seconds(*us),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum = seconds(self.sum_us.load(Relaxed));
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// The series of one zone.
struct ZoneMetrics {
    /// `zone="…"`, escaped.
    labels: String,
    requests: Box<[[AtomicU64; Source::ALL.len()]; CODES.len()]>,
    duration: Histogram,
    origin_duration: Histogram,
}

impl ZoneMetrics {
    fn new(zone: &str) -> ZoneMetrics {
        ZoneMetrics {
            labels: format!("zone=\"{}\"", escape_label(zone)),
            requests: Box::new(std::array::from_fn(|_| Default::default())),
            duration: Histogram::default(),
            origin_duration: Histogram::default(),
        }
    }
}

/// One origin's series; the proxy keeps the `Arc` and observes without a look-up.
pub struct OriginSeries {
    /// `zone="…",origin="…"`, escaped.
    labels: String,
    requests: [AtomicU64; 6],
    failures: AtomicU64,
    latency: Histogram,
    /// 0 unknown, 1 healthy, 2 unhealthy.
    health: AtomicU8,
}

impl OriginSeries {
    /// Counts one response from this origin (by status class) and how long it took to
    /// arrive.
    pub fn observe(&self, status: u16, latency: Duration) {
        let class = match status {
            100..=599 => usize::from(status / 100),
            _ => 0,
        };
        self.requests[class].fetch_add(1, Relaxed);
        self.latency
            .observe(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Counts one attempt that got no response (refused, reset, timed out, DNS).
    pub fn failed(&self) {
        self.failures.fetch_add(1, Relaxed);
    }

    /// Records the health check's verdict.
    pub fn set_healthy(&self, healthy: bool) {
        self.health.store(if healthy { 1 } else { 2 }, Relaxed);
    }
}

/// FNV-1a: zone names are short and come from the config, so the hot path's lookup needs
/// neither SipHash's cost nor its flooding resistance.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type ZoneTable = HashMap<String, Arc<ZoneMetrics>, BuildHasherDefault<Fnv>>;

/// A connection or stream counted open until this is dropped.
pub struct OpenGuard {
    gauge: Arc<[AtomicI64; Protocol::ALL.len()]>,
    index: usize,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.gauge[self.index].fetch_sub(1, Relaxed);
    }
}

/// The request, origin and connection metrics.
pub struct Metrics {
    zones: ArcSwap<ZoneTable>,
    /// Serialises adding zones and origins; never held on the hot path.
    adding: Mutex<()>,
    origins: Mutex<HashMap<(String, String), Arc<OriginSeries>>>,
    connections: Arc<[AtomicI64; Protocol::ALL.len()]>,
    connections_total: [AtomicU64; Protocol::ALL.len()],
    streams: Arc<[AtomicI64; Protocol::ALL.len()]>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            zones: ArcSwap::from_pointee(ZoneTable::default()),
            adding: Mutex::new(()),
            origins: Mutex::new(HashMap::new()),
            connections: Arc::new(Default::default()),
            connections_total: Default::default(),
            streams: Arc::new(Default::default()),
        }
    }
}

impl Metrics {
    /// Counts `event` in the request counter and latency histograms.
    pub fn observe(&self, event: &Event) {
        self.count(
            &event.zone,
            event.status,
            event.source,
            event.duration_us,
            event.origin_duration_us,
        );
    }

    /// [`Metrics::observe`] for a routine request (source `origin`).
    pub fn observe_routine(&self, r: &RoutineRequest<'_>) {
        self.count(
            r.zone,
            r.status,
            Source::Origin,
            r.duration_us,
            r.origin_duration_us,
        );
    }

    fn count(&self, zone: &str, status: u16, source: Source, duration_us: u64, origin_us: Option<u64>) {
        let observe = |zone: &ZoneMetrics| {
            zone.requests[code_index(status)][source.index()].fetch_add(1, Relaxed);
            zone.duration.observe(duration_us);
            if let Some(us) = origin_us {
                zone.origin_duration.observe(us);
            }
        };
        // The common case borrows from the loaded table: no reference count is touched.
        if let Some(z) = self.zones.load().get(zone) {
            return observe(z);
        }
        observe(&self.add_zone(zone));
    }

    #[cold]
    fn add_zone(&self, name: &str) -> Arc<ZoneMetrics> {
        let _guard = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.zones.load_full();
        if let Some(z) = current.get(name) {
            return Arc::clone(z);
        }
        // Past the cap, new names share the overflow series; they are not added to the
        // table (that would grow it), so each of their requests takes this cold path.
        let key = if !name.is_empty() && current.len() >= MAX_ZONES {
            OVERFLOW
        } else {
            name
        };
        if let Some(z) = current.get(key) {
            return Arc::clone(z);
        }
        let zone = Arc::new(ZoneMetrics::new(if key.is_empty() {
            UNMATCHED_ZONE
        } else {
            key
        }));
        let mut next = HashMap::clone(&current);
        next.insert(key.to_owned(), Arc::clone(&zone));
        self.zones.store(Arc::new(next));
        zone
    }

    /// The series of origin `origin` (e.g. `127.0.0.1:9000`) of `zone`; look it up once (at
    /// config load) and keep it.
    pub fn origin(&self, zone: &str, origin: &str) -> Arc<OriginSeries> {
        let mut origins = self.origins.lock().unwrap_or_else(|e| e.into_inner());
        let key =
            if origins.len() >= MAX_ORIGINS && !origins.contains_key(&(zone.to_owned(), origin.to_owned())) {
                (OVERFLOW.to_owned(), OVERFLOW.to_owned())
            } else {
                (zone.to_owned(), origin.to_owned())
            };
        let series = origins.entry(key.clone()).or_insert_with(|| {
            Arc::new(OriginSeries {
                labels: format!(
                    "zone=\"{}\",origin=\"{}\"",
                    escape_label(&key.0),
                    escape_label(&key.1)
                ),
                requests: Default::default(),
                failures: AtomicU64::new(0),
                latency: Histogram::default(),
                health: AtomicU8::new(0),
            })
        });
        Arc::clone(series)
    }

    /// Counts a connection of `protocol` open until the guard is dropped.
    pub fn connection_opened(&self, protocol: Protocol) -> OpenGuard {
        let index = protocol as usize;
        self.connections[index].fetch_add(1, Relaxed);
        self.connections_total[index].fetch_add(1, Relaxed);
        OpenGuard {
            gauge: Arc::clone(&self.connections),
            index,
        }
    }

    /// Counts a stream (an HTTP/2 stream, a WebSocket tunnel) open until the guard is dropped.
    pub fn stream_opened(&self, protocol: Protocol) -> OpenGuard {
        let index = protocol as usize;
        self.streams[index].fetch_add(1, Relaxed);
        OpenGuard {
            gauge: Arc::clone(&self.streams),
            index,
        }
    }

    /// Renders these series in the text format, zones and origins sorted.
    pub fn render(&self, out: &mut String) {
        let table = self.zones.load_full();
        let mut zones: Vec<&Arc<ZoneMetrics>> = table.values().collect();
        zones.sort_by(|a, b| a.labels.cmp(&b.labels));
        header(
            out,
            "edgeward_requests_total",
            "counter",
            "Requests answered, by zone, status code and deciding source.",
        );
        for z in &zones {
            for (ci, row) in z.requests.iter().enumerate() {
                for (source, n) in Source::ALL.iter().zip(row) {
                    let n = n.load(Relaxed);
                    if n == 0 {
                        continue;
                    }
                    let code = if ci == OTHER_CODE {
                        "other".to_owned()
                    } else {
                        CODES[ci].to_string()
                    };
                    let class = if ci == OTHER_CODE {
                        "other"
                    } else {
                        status_class(CODES[ci])
                    };
                    let _ = writeln!(
                        out,
                        "edgeward_requests_total{{{},code=\"{code}\",status_class=\"{class}\",source=\"{}\"}} {n}",
                        z.labels,
                        source.as_str()
                    );
                }
            }
        }
        header(
            out,
            "edgeward_request_duration_seconds",
            "histogram",
            "Time from the first request byte to the last response byte.",
        );
        for z in &zones {
            z.duration
                .render(out, "edgeward_request_duration_seconds", &z.labels);
        }
        header(
            out,
            "edgeward_origin_duration_seconds",
            "histogram",
            "Time spent waiting on the origin, per zone.",
        );
        for z in &zones {
            z.origin_duration
                .render(out, "edgeward_origin_duration_seconds", &z.labels);
        }
        self.render_origins(out);
        header(
            out,
            "edgeward_open_connections",
            "gauge",
            "Client connections open, by protocol.",
        );
        header_lines(out, "edgeward_open_connections", &self.connections);
        header(
            out,
            "edgeward_connections_total",
            "counter",
            "Client connections accepted, by protocol.",
        );
        for p in Protocol::ALL {
            let n = self.connections_total[p as usize].load(Relaxed);
            let _ = writeln!(
                out,
                "edgeward_connections_total{{protocol=\"{}\"}} {n}",
                p.as_str()
            );
        }
        header(
            out,
            "edgeward_open_streams",
            "gauge",
            "HTTP/2 streams and WebSocket tunnels open, by protocol.",
        );
        header_lines(out, "edgeward_open_streams", &self.streams);
    }

    fn render_origins(&self, out: &mut String) {
        let origins = self.origins.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<&Arc<OriginSeries>> = origins.values().collect();
        list.sort_by(|a, b| a.labels.cmp(&b.labels));
        header(
            out,
            "edgeward_origin_requests_total",
            "counter",
            "Responses from each origin, by status class.",
        );
        for o in &list {
            for (ci, n) in o.requests.iter().enumerate() {
                let n = n.load(Relaxed);
                if n > 0 {
                    let class = status_class(u16::try_from(ci * 100).unwrap_or(0));
                    let _ = writeln!(
                        out,
                        "edgeward_origin_requests_total{{{},status_class=\"{class}\"}} {n}",
                        o.labels
                    );
                }
            }
        }
        header(
            out,
            "edgeward_origin_failures_total",
            "counter",
            "Attempts on each origin that got no response.",
        );
        for o in &list {
            let _ = writeln!(
                out,
                "edgeward_origin_failures_total{{{}}} {}",
                o.labels,
                o.failures.load(Relaxed)
            );
        }
        header(
            out,
            "edgeward_origin_response_seconds",
            "histogram",
            "Time until each origin's response head.",
        );
        for o in &list {
            o.latency
                .render(out, "edgeward_origin_response_seconds", &o.labels);
        }
        header(
            out,
            "edgeward_origin_up",
            "gauge",
            "Health check verdict per origin: 1 healthy, 0 unhealthy (absent: not checked).",
        );
        for o in &list {
            match o.health.load(Relaxed) {
                1 => {
                    let _ = writeln!(out, "edgeward_origin_up{{{}}} 1", o.labels);
                }
                2 => {
                    let _ = writeln!(out, "edgeward_origin_up{{{}}} 0", o.labels);
                }
                _ => {}
            }
        }
    }
}

fn header_lines(out: &mut String, name: &str, gauge: &[AtomicI64; Protocol::ALL.len()]) {
    for p in Protocol::ALL {
        let _ = writeln!(
            out,
            "{name}{{protocol=\"{}\"}} {}",
            p.as_str(),
            gauge[p as usize].load(Relaxed)
        );
    }
}

/// `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Microseconds as a decimal number of seconds, without float rounding noise.
pub fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Escapes a label value: backslash, double quote and newline (text format 0.0.4).
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
