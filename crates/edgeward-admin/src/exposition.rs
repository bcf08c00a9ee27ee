//! Everything `/metrics` shows, in one text: the request series ([`crate::Metrics`]),
//! analytics delivery, build and process series, and series other crates append.
//!
//! Owns the delivery, build-info and process series and the order of the sections. Every
//! series and its label values, so its cardinality is known before it is scraped:
//!
//! | series | labels | series at most |
//! | --- | --- | --- |
//! | `edgeward_requests_total` | zone, code, status_class, source | zones (≤ 1,001 incl. `_other`, `_unmatched`) × 64 codes × 13 sources; only non-zero ones are shown |
//! | `edgeward_request_duration_seconds`, `edgeward_origin_duration_seconds` | zone, le | zones × 14 buckets |
//! | `edgeward_origin_requests_total` | zone, origin, status_class | origins (≤ 1,001) × 6 |
//! | `edgeward_origin_failures_total`, `edgeward_origin_up` | zone, origin | origins |
//! | `edgeward_origin_response_seconds` | zone, origin, le | origins × 14 |
//! | `edgeward_open_connections`, `edgeward_connections_total`, `edgeward_open_streams` | protocol | 3 each |
//! | `edgeward_analytics_events_dropped_total` | reason | 5 |
//! | other `edgeward_analytics_*` | none | 1 each |
//! | `edgeward_build_info` | version | 1 |
//! | `process_*` | none | 1 each |

use std::fmt::Write as _;
use std::sync::Arc;

use edgeward_analytics::{DeliveryStats, DropReason};

use crate::metrics::{header, Metrics};

/// Appends Prometheus text-format series to `/metrics` (counters owned by other crates).
pub type ExtraMetrics = Arc<dyn Fn(&mut String) + Send + Sync>;

/// The version this build reports in `edgeward_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole `/metrics` text.
pub fn render(metrics: &Metrics, delivery: Option<&DeliveryStats>, extra: &[ExtraMetrics]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    metrics.render(&mut out);
    if let Some(stats) = delivery {
        render_delivery(&mut out, stats);
    }
    for f in extra {
        f(&mut out);
    }
    header(
        &mut out,
        "edgeward_build_info",
        "gauge",
        "Always 1; the labels say which build is running.",
    );
    let _ = writeln!(out, "edgeward_build_info{{version=\"{VERSION}\"}} 1");
    render_process(&mut out);
    out
}

/// The analytics delivery series.
pub fn render_delivery(out: &mut String, s: &DeliveryStats) {
    let mut one = |name: &str, kind: &str, help: &str, value: String| {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    };
    one(
        "edgeward_analytics_events_written_total",
        "counter",
        "Requests written to the analytics store.",
        s.written.to_string(),
    );
    one(
        "edgeward_analytics_events_truncated_total",
        "counter",
        "Events whose free-text fields were cut to the configured bound.",
        s.truncated.to_string(),
    );
    one(
        "edgeward_analytics_details_folded_total",
        "counter",
        "Detail events the store kept as counts only (its size cap was reached).",
        s.details_folded.to_string(),
    );
    one(
        "edgeward_analytics_write_failures_total",
        "counter",
        "Failed writes to the analytics store (each batch is spooled and retried).",
        s.failures.to_string(),
    );
    one(
        "edgeward_analytics_queue_bytes",
        "gauge",
        "Bytes of events waiting in the in-memory queue.",
        s.queue_bytes.to_string(),
    );
    one(
        "edgeward_analytics_spool_bytes",
        "gauge",
        "Bytes of batches waiting in the spool for the store.",
        s.spool_bytes.to_string(),
    );
    one(
        "edgeward_analytics_spool_batches",
        "gauge",
        "Batches waiting in the spool for the store.",
        s.spool_batches.to_string(),
    );
    one(
        "edgeward_analytics_delivery_lag_seconds",
        "gauge",
        "Age of the oldest batch not yet in the store (0 when nothing waits).",
        crate::metrics::seconds(s.lag_ms.max(0).unsigned_abs() * 1_000),
    );
    one(
        "edgeward_analytics_store_up",
        "gauge",
        "1 when the last write to the analytics store succeeded.",
        u8::from(s.store_up).to_string(),
    );
    header(
        out,
        "edgeward_analytics_events_dropped_total",
        "counter",
        "Requests not stored, by reason (queue_full, spool_full, rejected, closed, spool_corrupt).",
    );
    for reason in DropReason::ALL {
        let _ = writeln!(
            out,
            "edgeward_analytics_events_dropped_total{{reason=\"{}\"}} {}",
            reason.as_str(),
            s.dropped(reason)
        );
    }
}

/// The standard `process_*` series, from `/proc/self` (absent where it cannot be read).
fn render_process(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Linux reports times in USER_HZ (100) and resident size in pages (4 KiB on the
    // platforms edgeward runs on).
    let ticks = field(11) + field(12);
    let cpu = crate::metrics::seconds(ticks * 10_000);
    let mut one = |name: &str, kind: &str, help: &str, value: String| {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    };
    one(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent.",
        cpu,
    );
    one(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size.",
        (field(21) * 4_096).to_string(),
    );
    one(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size.",
        field(20).to_string(),
    );
    one(
        "process_threads",
        "gauge",
        "Threads in the process.",
        field(17).to_string(),
    );
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        one(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            fds.count().to_string(),
        );
    }
    if let Some(max) = max_fds() {
        one(
            "process_max_fds",
            "gauge",
            "The open file descriptor limit.",
            max.to_string(),
        );
    }
    if let Some(start) = start_time_seconds(field(19)) {
        one(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch.",
            start.to_string(),
        );
    }
}

fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Boot time plus the process's start in ticks since boot.
fn start_time_seconds(start_ticks: u64) -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(btime + start_ticks / 100)
}
