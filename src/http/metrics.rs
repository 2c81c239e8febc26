//! Prometheus metrics: requests by route and status, latency, appends by type, the log head.

use eventlog::Envelope;
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
    pub sse_clients: Gauge,
    pub disk_free: Gauge,
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
        let sse_clients = Gauge::default();
        let disk_free = Gauge::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("events_appended", "Events appended, by type", appends.clone());
        registry.register("failed_authentications", "Requests with an unknown or revoked token", failed_auth.clone());
        registry.register("log_head_position", "Position of the last durable event", log_head.clone());
        registry.register("ready", "1 when the read models have caught up with the log", ready.clone());
        registry.register("sse_clients", "Open server-sent event streams", sse_clients.clone());
        registry.register(
            "disk_free_bytes",
            "Bytes free on the log's file system (appends are refused below the reserve, min_free_mb)",
            disk_free.clone(),
        );
        Metrics { registry, requests, latency, appends, failed_auth, log_head, ready, sse_clients, disk_free }
    }
}

impl Metrics {
    pub fn appended(&self, env: &Envelope) {
        self.appends.get_or_create(&EventLabels { r#type: env.event_type.as_str().to_owned() }).inc();
    }

    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
