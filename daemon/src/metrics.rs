//! Prometheus metrics: counters and histograms kept in atomics, shared by the API and the
//! core, written out in the text exposition format on `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the histogram buckets: from a millisecond to a day.
const BUCKETS: [f64; 12] = [
    0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 21_600.0, 86_400.0,
];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds, so it fits an integer atomic.
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        let seconds = seconds.max(0.0);
        for (bound, counter) in BUCKETS.iter().zip(&self.counts) {
            if seconds <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, counter) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    pub events_accepted: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub events_refused: AtomicU64,
    pub pending_timers: AtomicU64,
    /// Cases whose stored events cannot be read.
    pub cases_out_of_service: AtomicU64,
    pub timer_lateness: Histogram,
    pub delivery_latency: Histogram,
    /// Open deadlines whose legal term ends past the years the holiday data covers.
    pub provisional_deadlines: AtomicU64,
    pub reloads: AtomicU64,
    /// iJw messages taken (read and processed) and refused (not valid iJw, or not allowed).
    pub ijw_messages_taken: AtomicU64,
    pub ijw_messages_refused: AtomicU64,
    /// iJw products by their answer.
    pub ijw_products_accepted: AtomicU64,
    pub ijw_products_duplicate: AtomicU64,
    pub ijw_products_refused: AtomicU64,
    pub reload_failures: AtomicU64,
    pub plugins: Option<std::sync::Arc<waakvlam_plugin_host::Registry>>,
    /// Who runs the timers and the delivery (several daemons on one database).
    pub leadership: Option<crate::leadership::Leadership>,
}

/// A label value as the exposition format requires: backslash, double quote and line feed
/// escaped. Names are checked when the configuration is read; this holds whatever comes.
fn label_value(value: &str) -> String {
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

impl Metrics {
    /// The exposition text; `deliveries` are (channel, status, count) from the store.
    pub fn render(&self, deliveries: &[(String, String, u64)]) -> String {
        let mut out = String::new();
        let metric = |out: &mut String, kind: &str, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            metric(out, "counter", name, help, value)
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            metric(out, "gauge", name, help, value)
        };
        counter(
            &mut out,
            "waakvlam_events_accepted_total",
            "Events accepted and stored.",
            self.events_accepted.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "waakvlam_events_duplicate_total",
            "Events ignored as a repeat of an id already stored.",
            self.events_duplicate.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "waakvlam_events_refused_total",
            "Events refused as invalid.",
            self.events_refused.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP waakvlam_ijw_messages_total iJw messages (JW305, JW307) by outcome: taken, or refused whole.\n# TYPE waakvlam_ijw_messages_total counter\nwaakvlam_ijw_messages_total{{outcome=\"taken\"}} {}\nwaakvlam_ijw_messages_total{{outcome=\"refused\"}} {}",
            self.ijw_messages_taken.load(Ordering::Relaxed),
            self.ijw_messages_refused.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP waakvlam_ijw_products_total Products of iJw messages by their answer.\n# TYPE waakvlam_ijw_products_total counter\nwaakvlam_ijw_products_total{{outcome=\"accepted\"}} {}\nwaakvlam_ijw_products_total{{outcome=\"duplicate\"}} {}\nwaakvlam_ijw_products_total{{outcome=\"refused\"}} {}",
            self.ijw_products_accepted.load(Ordering::Relaxed),
            self.ijw_products_duplicate.load(Ordering::Relaxed),
            self.ijw_products_refused.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "waakvlam_pending_timers",
            "Cases with a timer set.",
            self.pending_timers.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "waakvlam_cases_out_of_service",
            "Cases whose stored events cannot be read: they are not rebuilt from part of their events, and their events and timers wait until the store is repaired.",
            self.cases_out_of_service.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP waakvlam_deliveries Deliveries by channel and status (pending, delivered, dead).\n# TYPE waakvlam_deliveries gauge"
        );
        for (channel, status, count) in deliveries {
            let _ = writeln!(
                out,
                "waakvlam_deliveries{{channel=\"{}\",status=\"{}\"}} {count}",
                label_value(channel),
                label_value(status)
            );
        }
        gauge(
            &mut out,
            "waakvlam_deadlines_provisional",
            "Open deadlines under the Algemene termijnenwet that end after the years the holiday data covers (covered_through): they may still move.",
            self.provisional_deadlines.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "waakvlam_workflow_reloads_total",
            "Workflow definitions swapped in.",
            self.reloads.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "waakvlam_workflow_reload_failures_total",
            "Workflow reloads refused because of problems.",
            self.reload_failures.load(Ordering::Relaxed),
        );
        if let Some(view) = self.leadership.as_ref().and_then(|l| l.view()) {
            let _ = writeln!(
                out,
                "# HELP waakvlam_leader Whether this daemon leads (runs the timers and the delivery) among the daemons sharing its database.\n# TYPE waakvlam_leader gauge\nwaakvlam_leader{{daemon=\"{}\"}} {}",
                label_value(&view.daemon),
                u64::from(view.leads)
            );
            gauge(
                &mut out,
                "waakvlam_leader_epoch",
                "The lease's epoch (fencing number) this daemon leads under; 0 when it does not lead.",
                view.epoch.unwrap_or(0) as u64,
            );
        }
        if let Some(plugins) = &self.plugins {
            counter(
                &mut out,
                "waakvlam_plugin_calls_total",
                "Calls into gemeente plugins.",
                plugins.calls.load(Ordering::Relaxed),
            );
            counter(
                &mut out,
                "waakvlam_plugin_failures_total",
                "Plugin calls that failed (panic, error, malformed JSON, time-out); the defaults applied.",
                plugins.failures.load(Ordering::Relaxed),
            );
            counter(
                &mut out,
                "waakvlam_plugin_recoveries_total",
                "Plugins that answered again after being put aside, and were taken back in use.",
                plugins.recoveries(),
            );
            gauge(
                &mut out,
                "waakvlam_plugins_put_aside",
                "Plugins put aside after failing.",
                plugins.put_aside() as u64,
            );
        }
        self.delivery_latency.write(
            &mut out,
            "waakvlam_delivery_latency_seconds",
            "From a notification's send time to its delivery.",
        );
        self.timer_lateness.write(
            &mut out,
            "waakvlam_timer_lateness_seconds",
            "How late timers fired after their moment.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_prometheus_text() {
        let metrics = super::Metrics::default();
        metrics
            .events_accepted
            .fetch_add(3, std::sync::atomic::Ordering::Relaxed);
        metrics.delivery_latency.observe(0.2);
        let text = metrics.render(&[("log".into(), "delivered".into(), 3)]);
        assert!(text.contains("waakvlam_events_accepted_total 3\n"));
        assert!(text.contains("waakvlam_deliveries{channel=\"log\",status=\"delivered\"} 3\n"));
        assert!(text.contains("waakvlam_delivery_latency_seconds_bucket{le=\"0.1\"} 0\n"));
        assert!(text.contains("waakvlam_delivery_latency_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("waakvlam_delivery_latency_seconds_count 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = super::Metrics::default();
        let text = metrics.render(&[("webhook:a\"b\\c\nd".into(), "dead".into(), 1)]);
        assert!(
            text.contains(
                "waakvlam_deliveries{channel=\"webhook:a\\\"b\\\\c\\nd\",status=\"dead\"} 1\n"
            ),
            "{text}"
        );
    }
}
