//! Prometheus metrics: requests by route and status, latency, appends by type, the log head,
//! and the gauges an on-call person is alerted on (the duty queue's length and overdue
//! contacts, the open event streams). Served in the Prometheus text format (version 0.0.4),
//! which `promtool check metrics` and every scraper read; ops/alerts.yml holds the alerts.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use eventlog::Envelope;
use projections::model::QueueSummary;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub r#type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    pub stream: &'static str,
}

/// The two server-sent event streams, as the `stream` label names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseStream {
    /// `GET /v1/queue/stream`: the duty queue, live.
    Queue,
    /// `GET /v1/events/stream`: the global log, live.
    Events,
}

impl SseStream {
    fn label(self) -> StreamLabels {
        StreamLabels {
            stream: match self {
                SseStream::Queue => "queue",
                SseStream::Events => "events",
            },
        }
    }
}

/// One open event stream, counted in `frontdoor_sse_clients` until dropped.
#[derive(Debug)]
pub struct SseClient(Gauge);

impl Drop for SseClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The service's metrics, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub appends: Family<EventLabels, Counter>,
    pub failed_auth: Counter,
    pub log_head: Gauge,
    pub ready: Gauge,
    /// Open event streams, by stream: see [`Metrics::sse_client`].
    sse_clients: Family<StreamLabels, Gauge>,
    pub disk_free: Gauge,
    /// HTTP connections open now (at most `max_connections`).
    pub connections_open: Gauge,
    /// Connections closed at once because `max_connections` were already open.
    pub connections_refused: Counter,
    pub queue_contacts: Gauge,
    pub decisions_overdue: Gauge,
    pub handovers_overdue: Gauge,
    pub oldest_undecided_age: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("frontdoor");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let appends = Family::<EventLabels, Counter>::default();
        let failed_auth = Counter::default();
        let log_head = Gauge::default();
        let ready = Gauge::default();
        let sse_clients = Family::<StreamLabels, Gauge>::default();
        // Both streams are shown from the start, at 0, so an alert on either has a series.
        for stream in [SseStream::Queue, SseStream::Events] {
            let _ = sse_clients.get_or_create(&stream.label());
        }
        let disk_free = Gauge::default();
        let connections_open = Gauge::default();
        let connections_refused = Counter::default();
        let queue_contacts = Gauge::default();
        let decisions_overdue = Gauge::default();
        let handovers_overdue = Gauge::default();
        let oldest_undecided_age = Gauge::default();
        // Help texts without a final full stop: the encoder adds one.
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("events_appended", "Events appended, by type", appends.clone());
        registry.register("failed_authentications", "Requests with an unknown or revoked token", failed_auth.clone());
        registry.register("log_head_position", "Position of the last durable event", log_head.clone());
        registry.register("ready", "1 when the read models have caught up with the log", ready.clone());
        registry.register(
            "sse_clients",
            "Open server-sent event streams, by stream (queue: /v1/queue/stream, events: /v1/events/stream)",
            sse_clients.clone(),
        );
        registry.register(
            "disk_free_bytes",
            "Bytes free on the log's file system (appends are refused below the reserve, min_free_mb)",
            disk_free.clone(),
        );
        registry.register(
            "connections_open",
            "HTTP connections open now (at most max_connections; slow clients included)",
            connections_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed at once, unanswered, because max_connections were already open",
            connections_refused.clone(),
        );
        registry.register(
            "queue_contacts",
            "Contacts on the duty queue: undecided, or decided and waiting for a handover's acceptance",
            queue_contacts.clone(),
        );
        registry.register(
            "queue_decisions_overdue",
            "Undecided contacts on the duty queue past the time their decision was due",
            decisions_overdue.clone(),
        );
        registry.register(
            "queue_handovers_overdue",
            "Decided contacts on the duty queue past their due time: a handover not accepted in time, or not sent",
            handovers_overdue.clone(),
        );
        registry.register(
            "queue_oldest_undecided_age_seconds",
            "Seconds since the undecided contact waiting longest was received (0 when none is undecided)",
            oldest_undecided_age.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            appends,
            failed_auth,
            log_head,
            ready,
            sse_clients,
            disk_free,
            connections_open,
            connections_refused,
            queue_contacts,
            decisions_overdue,
            handovers_overdue,
            oldest_undecided_age,
        }
    }
}

impl Metrics {
    pub fn appended(&self, env: &Envelope) {
        self.appends.get_or_create(&EventLabels { r#type: env.event_type.as_str().to_owned() }).inc();
    }

    /// Counts one more client of `stream` until the returned guard is dropped.
    pub fn sse_client(&self, stream: SseStream) -> SseClient {
        let gauge = self.sse_clients.get_or_create(&stream.label()).clone();
        gauge.inc();
        SseClient(gauge)
    }

    /// Sets the duty queue's gauges from its summary as of `now`.
    pub fn set_queue(&self, queue: &QueueSummary, now: DateTime<Utc>) {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.queue_contacts.set(count(queue.length));
        self.decisions_overdue.set(count(queue.decisions_overdue));
        self.handovers_overdue.set(count(queue.handovers_overdue));
        self.oldest_undecided_age
            .set(queue.oldest_undecided_received_at.map_or(0, |at| (now - at).num_seconds().max(0)));
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(prometheus_text(&out))
    }
}

/// Rewrites the encoder's OpenMetrics text as the Prometheus text format: a counter's HELP
/// and TYPE lines name it as its samples do (with `_total`; OpenMetrics names the family
/// without it, which the Prometheus format reads as a second, untyped metric with no help),
/// and the OpenMetrics-only `# UNIT` and `# EOF` lines go.
fn prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "].into_iter().find_map(|kind| {
            let rest = line.strip_prefix(kind)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{kind}{name}_total {tail}"))
        });
        match descriptor {
            Some(renamed) => out.push_str(&renamed),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
