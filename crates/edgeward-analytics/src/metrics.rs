//! Prometheus metrics kept in memory and rendered in the text exposition format (0.0.4).
//!
//! Owns the counters and histograms updated for every recorded event, and their rendering.
//! The hot path ([`Metrics::observe`]) only loads an immutable zone table and bumps atomics;
//! a lock is taken only the first time a zone is seen. Does not own serving `/metrics`
//! ([`crate::admin`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::event::{status_class, status_class_index, Event, RoutineRequest, Source};

/// Histogram upper bounds in microseconds (1 ms … 10 s); `+Inf` follows.
const BUCKETS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// Zones past this many share one series set, so a flood of hosts cannot grow memory.
const MAX_ZONES: usize = 1_000;
/// The zone label used past [`MAX_ZONES`].
const OVERFLOW_ZONE: &str = "_other";

const CLASSES: usize = 6;

/// A latency histogram with per-bucket (not cumulative) counts.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: u64) {
        let i = BUCKETS_US.partition_point(|&le| le < us);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, zone: &str) {
        let mut cumulative = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            cumulative += count.load(Relaxed);
            let le = match BUCKETS_US.get(i) {
                Some(us) => seconds(*us),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(out, "{name}_bucket{{zone=\"{zone}\",le=\"{le}\"}} {cumulative}");
        }
        let sum = seconds(self.sum_us.load(Relaxed));
        let _ = writeln!(out, "{name}_sum{{zone=\"{zone}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{zone=\"{zone}\"}} {cumulative}");
    }
}

/// The series of one zone.
struct ZoneMetrics {
    /// The zone label, already escaped.
    label: String,
    requests: [[AtomicU64; Source::ALL.len()]; CLASSES],
    duration: Histogram,
    origin_duration: Histogram,
}

impl ZoneMetrics {
    fn new(zone: &str) -> ZoneMetrics {
        ZoneMetrics {
            label: escape_label(zone),
            requests: Default::default(),
            duration: Histogram::default(),
            origin_duration: Histogram::default(),
        }
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

/// Every metric the analytics crate exports.
pub struct Metrics {
    zones: ArcSwap<ZoneTable>,
    /// Serialises adding zones; never held on the hot path of a known zone.
    adding: Mutex<()>,
    dropped: AtomicU64,
    written: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            zones: ArcSwap::from_pointee(ZoneTable::default()),
            adding: Mutex::new(()),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
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
            zone.requests[status_class_index(status)][source.index()].fetch_add(1, Relaxed);
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
        let key = if current.len() >= MAX_ZONES {
            if let Some(z) = current.get(OVERFLOW_ZONE) {
                return Arc::clone(z);
            }
            OVERFLOW_ZONE
        } else {
            name
        };
        let zone = Arc::new(ZoneMetrics::new(key));
        let mut next = HashMap::clone(&current);
        next.insert(key.to_owned(), Arc::clone(&zone));
        self.zones.store(Arc::new(next));
        zone
    }

    /// Counts one event the queue could not take.
    pub fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Relaxed);
    }

    /// Counts events written to the store.
    pub fn add_written(&self, n: u64) {
        self.written.fetch_add(n, Relaxed);
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Relaxed)
    }

    /// Every metric in the Prometheus text format 0.0.4, zones sorted by name.
    pub fn render(&self) -> String {
        let table = self.zones.load_full();
        let mut zones: Vec<&Arc<ZoneMetrics>> = table.values().collect();
        zones.sort_by(|a, b| a.label.cmp(&b.label));
        let mut out = String::with_capacity(4096);

        header(
            &mut out,
            "edgeward_requests_total",
            "counter",
            "Requests answered, by zone, status class and deciding source.",
        );
        for z in &zones {
            for (class_index, row) in z.requests.iter().enumerate() {
                for (source, n) in Source::ALL.iter().zip(row) {
                    let n = n.load(Relaxed);
                    if n == 0 {
                        continue;
                    }
                    let class = status_class(class_status(class_index));
                    let _ = writeln!(
                        out,
                        "edgeward_requests_total{{zone=\"{}\",status_class=\"{class}\",source=\"{}\"}} {n}",
                        z.label,
                        source.as_str()
                    );
                }
            }
        }
        header(
            &mut out,
            "edgeward_request_duration_seconds",
            "histogram",
            "Time from the first request byte to the last response byte.",
        );
        for z in &zones {
            z.duration
                .render(&mut out, "edgeward_request_duration_seconds", &z.label);
        }
        header(
            &mut out,
            "edgeward_origin_duration_seconds",
            "histogram",
            "Time spent waiting on the origin.",
        );
        for z in &zones {
            z.origin_duration
                .render(&mut out, "edgeward_origin_duration_seconds", &z.label);
        }
        header(
            &mut out,
            "edgeward_analytics_events_dropped_total",
            "counter",
            "Analytics events dropped because the queue was full or the store failed.",
        );
        let _ = writeln!(out, "edgeward_analytics_events_dropped_total {}", self.dropped());
        header(
            &mut out,
            "edgeward_analytics_events_written_total",
            "counter",
            "Analytics events written to the store.",
        );
        let _ = writeln!(out, "edgeward_analytics_events_written_total {}", self.written());
        out
    }
}

/// A status in the class at `index` (inverse of `status_class_index`).
fn class_status(index: usize) -> u16 {
    // index 0 is "other"; 1..=5 map to 100..=500.
    u16::try_from(index).map_or(0, |i| i * 100)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Microseconds as a decimal number of seconds, without float rounding noise.
fn seconds(us: u64) -> String {
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
mod tests {
    use super::*;

    fn event(zone: &str, status: u16, source: Source, us: u64, origin_us: Option<u64>) -> Event {
        Event {
            zone: zone.into(),
            status,
            source,
            duration_us: us,
            origin_duration_us: origin_us,
            ..Event::default()
        }
    }

    #[test]
    fn renders_counters_histograms_and_escapes_labels() {
        let m = Metrics::default();
        m.observe(&event("a", 200, Source::Origin, 1_000, Some(800)));
        m.observe(&event("a", 204, Source::Origin, 30_000, Some(20_000)));
        m.observe(&event("a", 429, Source::RateLimit, 20_000_000, None));
        m.observe(&event("we\"ird\\zone\n", 403, Source::Waf, 0, None));
        m.add_dropped(3);
        m.add_written(2);
        let text = m.render();
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        has("# TYPE edgeward_requests_total counter");
        has("edgeward_requests_total{zone=\"a\",status_class=\"2xx\",source=\"origin\"} 2");
        has("edgeward_requests_total{zone=\"a\",status_class=\"4xx\",source=\"rate_limit\"} 1");
        has(r#"edgeward_requests_total{zone="we\"ird\\zone\n",status_class="4xx",source="waf"} 1"#);
        has("# TYPE edgeward_request_duration_seconds histogram");
        has("edgeward_request_duration_seconds_bucket{zone=\"a\",le=\"0.001\"} 1");
        has("edgeward_request_duration_seconds_bucket{zone=\"a\",le=\"0.025\"} 1");
        has("edgeward_request_duration_seconds_bucket{zone=\"a\",le=\"0.05\"} 2");
        has("edgeward_request_duration_seconds_bucket{zone=\"a\",le=\"10\"} 2");
        has("edgeward_request_duration_seconds_bucket{zone=\"a\",le=\"+Inf\"} 3");
        has("edgeward_request_duration_seconds_sum{zone=\"a\"} 20.031");
        has("edgeward_request_duration_seconds_count{zone=\"a\"} 3");
        has("edgeward_origin_duration_seconds_bucket{zone=\"a\",le=\"0.001\"} 1");
        has("edgeward_origin_duration_seconds_count{zone=\"a\"} 2");
        has("edgeward_origin_duration_seconds_sum{zone=\"a\"} 0.0208");
        has("edgeward_analytics_events_dropped_total 3");
        has("edgeward_analytics_events_written_total 2");
        assert!(!text.contains("status_class=\"5xx\""));
        assert!(text.ends_with('\n'));
        // Every non-comment line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
        }
    }

    #[test]
    fn zones_past_the_cap_share_one_series() {
        let m = Metrics::default();
        for i in 0..MAX_ZONES + 5 {
            m.observe(&event(&format!("z{i}"), 200, Source::Origin, 1, None));
        }
        let text = m.render();
        assert!(text
            .contains("edgeward_requests_total{zone=\"_other\",status_class=\"2xx\",source=\"origin\"} 5"));
    }

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(1_000), "0.001");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(10_000_000), "10");
        assert_eq!(seconds(0), "0");
    }
}
