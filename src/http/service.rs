//! Health, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::Caller;
use super::problem::{MetricsErrors, PromoteErrors};
use super::state::AppState;
use crate::auth::{self, ReadKind};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(promote))
}

/// The process is up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The log is open and the read models have caught up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The position of the last durable event.
    pub log_position: u64,
    /// With `[replication]`: this node's role, the primary, the stream sequence it has
    /// reached, and any quarantine file (records it held beyond the stream, moved aside).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<crate::replication::ReplicationStatus>,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    operation_id = "healthz",
    summary = "Liveness",
    description = "The process is up. No token needed.",
    responses((status = 200, description = "Up.", body = Health))
)]
/// The process is up.
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    operation_id = "readyz",
    summary = "Readiness",
    description = "The log is open and the read models have caught up with it: send traffic. No token needed.",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (
            status = 503,
            description = "Not ready yet: the read models are still catching up with the log. Retry shortly. On a standby \
                (`[replication]`), also when it has stopped following the stream (the detail names the record).",
            body = Problem,
            content_type = "application/problem+json"
        ),
    )
)]
/// The log is open and the read models have caught up with it.
async fn readyz(State(app): State<AppState>) -> Response {
    let head = app.log().head().position;
    let replication = app.replication().map(crate::replication::Replication::status);
    if let Some(stopped) = replication.as_ref().and_then(|r| r.stopped.clone()) {
        return ApiError::Unavailable(format!("the standby stopped following the stream: {stopped}")).into_response();
    }
    if let Some(stopped) = replication.as_ref().and_then(|r| r.access_stopped.clone()) {
        return ApiError::Unavailable(format!("this node stopped copying the other nodes' access entries: {stopped}"))
            .into_response();
    }
    if app.is_ready() {
        Json(Readiness { status: "ready", log_position: head, replication }).into_response()
    } else {
        ApiError::Unavailable(format!(
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
        readiness, open event streams by stream, the duty queue's length, its overdue decisions and handovers \
        and the age of its oldest undecided contact, in the Prometheus text format. Counts and timings only, \
        no case data; still, only a `monitor` token (a scraper's: `frontdoor token create --role monitor`) or \
        an `admin` one reads it.",
    responses(
        (status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        MetricsErrors,
    ),
    security(("bearer" = []))
)]
/// Prometheus text exposition.
async fn metrics(State(app): State<AppState>, Caller(caller): Caller) -> Response {
    if !auth::may_read(caller.role, ReadKind::ServiceMetrics) {
        return ApiError::Forbidden(format!("a {} may not read the service's metrics", caller.role)).into_response();
    }
    let metrics = app.metrics();
    metrics.log_head.set(i64::try_from(app.log().head().position).unwrap_or(i64::MAX));
    metrics.ready.set(i64::from(app.is_ready()));
    if let Some(free) = app.log().free_space() {
        metrics.disk_free.set(i64::try_from(free).unwrap_or(i64::MAX));
    }
    // The queue's gauges keep their last values (0 at start) until the read model has caught
    // up with the log, so a restart never reports a half-built queue.
    if app.live().is_caught_up() {
        let now = chrono::Utc::now();
        metrics.set_queue(&app.live().queue_summary(now), now);
    }
    match app.metrics().render() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[utoipa::path(
    post,
    path = "/v1/admin/promote",
    tag = "service",
    operation_id = "promote",
    summary = "Promote this standby to primary",
    description = "With `[replication]`: makes this node, a standby, the primary, as `frontdoor promote` does. It \
        catches up to the replicated stream's last sequence, then takes writes from the next position; the answer \
        comes once it does, with the position and hash of its last event (the next write continues the chain from \
        them). The node stays the primary after a restart. No body. Promote only once the old primary is down or \
        known to be fenced: a primary that comes back finds its next publish refused and follows.",
    responses(
        (status = 200, description = "Promoted: this node takes writes.", body = crate::replication::Promoted),
        PromoteErrors,
    ),
    security(("bearer" = []))
)]
/// Promotes this standby to primary.
async fn promote(State(app): State<AppState>, Caller(caller): Caller) -> Response {
    if !auth::may_promote(caller.role) {
        return ApiError::Forbidden(format!("a {} may not promote a standby", caller.role)).into_response();
    }
    let Some(replication) = app.replication() else {
        return ApiError::NotStandby("this node runs without [replication]: it is not a standby".into())
            .into_response();
    };
    let asked_by = format!("{} (POST /v1/admin/promote)", caller.id);
    match replication.promote_standby(&asked_by).await {
        Ok(promoted) => Json(promoted).into_response(),
        Err(crate::replication::PromoteError::NotStandby(why)) => ApiError::NotStandby(why).into_response(),
        Err(crate::replication::PromoteError::Failed(why)) => {
            ApiError::Unavailable(format!("the promotion failed; this node is still a standby: {why}")).into_response()
        }
    }
}
