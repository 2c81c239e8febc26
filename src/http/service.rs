//! Health, readiness and Prometheus metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

pub fn router() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    operation_id = "healthz",
    summary = "Liveness",
    description = "The process is up. No token needed.",
    responses((status = 200, description = "Up.", body = crate::http::openapi::Health))
)]
/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    operation_id = "readyz",
    summary = "Readiness",
    description = "The log is open and the read models have caught up with it: send traffic. No token needed.",
    responses(
        (status = 200, description = "Ready.", body = crate::http::openapi::Readiness),
        (
            status = 503,
            description = "Not ready yet: the read models are still catching up with the log. Retry shortly.",
            body = crate::http::openapi::Problem,
            content_type = "application/problem+json"
        ),
    )
)]
/// The log is open and the read models have caught up with it.
async fn readyz(State(app): State<AppState>) -> Response {
    let head = app.log().head().position;
    if app.is_ready() {
        Json(json!({"status": "ready", "log_position": head})).into_response()
    } else {
        super::error::ApiError::Unavailable(format!(
            "starting: the read models are being rebuilt from the log ({head} events); retry shortly"
        ))
        .into_response()
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    description = "Requests by route and status, latency, appends by type, failed authentications, the log head, \
        readiness and open event streams, in the Prometheus text format. No token needed: keep it off \
        the public network.",
    responses(
        (status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        crate::http::openapi::InternalErrors,
    )
)]
/// Prometheus text exposition.
async fn metrics(State(app): State<AppState>) -> Response {
    app.metrics().log_head.set(i64::try_from(app.log().head().position).unwrap_or(i64::MAX));
    app.metrics().ready.set(i64::from(app.ready_flag().load(Ordering::Relaxed)));
    if let Some(free) = app.log().free_space() {
        app.metrics().disk_free.set(i64::try_from(free).unwrap_or(i64::MAX));
    }
    match app.metrics().render() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => super::error::ApiError::internal(e).into_response(),
    }
}
