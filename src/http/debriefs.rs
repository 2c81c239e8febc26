//! `/v1/duty-debriefs`: a duty team's end-of-day debrief, recorded as a stream of its own
//! (never a contact: never in the queue, the contact figures or the returns) and listed by duty
//! day.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use eventlog::Envelope;
use events::schema::DutyDebriefRecorded;
use projections::model::DutyDebrief;
use serde::Serialize;
use ulid::Ulid;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contacts::record_stream;
use super::error::ApiError;
use super::extract::{Caller, IdempotencyKey, IdempotencyKeyHeader, JsonBytes};
use super::figures::Period;
use super::problem::{CreateDutyDebriefErrors, LiveReadErrors};
use super::queue::require_current;
use super::state::AppState;
use crate::auth::{self, ReadKind};

/// The routes of `/v1/duty-debriefs`, each with its OpenAPI path.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_duty_debrief, list_duty_debriefs))
}

/// `POST /v1/duty-debriefs`: the `duty_debrief_recorded` data, plus an optional `occurred_at`.
///
/// Unknown fields are refused (422), as everywhere.
#[derive(Debug, ToSchema)]
pub struct NewDutyDebrief {
    #[serde(flatten)]
    pub data: DutyDebriefRecorded,
    /// When the debrief was held, RFC 3339 in UTC; defaults to now. More than five minutes
    /// ahead of the server's clock is 422 (rule `occurred-in-future`).
    pub occurred_at: Option<DateTime<Utc>>,
    /// Why the debrief is recorded late: required when `occurred_at` is more than the
    /// late-entry window (default 24 hours) before the server's clock (rule
    /// `late-entry-needs-reason`).
    pub late_entry_reason: Option<String>,
}

/// `201` from `POST /v1/duty-debriefs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DutyDebriefCreated {
    /// The new debrief's stream id.
    pub debrief_id: Ulid,
    /// The stored `duty_debrief_recorded` event.
    pub event: Envelope,
}

/// `200` from `GET /v1/duty-debriefs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DutyDebriefs {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// By duty day, then as held.
    pub debriefs: Vec<DutyDebrief>,
}

#[utoipa::path(
    post,
    path = "/v1/duty-debriefs",
    tag = "duty debriefs",
    operation_id = "record_duty_debrief",
    summary = "Record a duty debrief",
    description = "Records a duty team's end-of-day debrief (`duty_debrief_recorded`): the duty day, the team, \
        its capacity (staff on duty against staff expected), what the day recorded, what the multi-agency team \
        added, and free text. A stream of its own, not a contact: it is never in the queue, the contact \
        figures or the returns, and events are never appended to it.",
    params(IdempotencyKeyHeader),
    request_body(content = NewDutyDebrief, content_type = "application/json"),
    responses(
        (
            status = 201,
            description = "The debrief was recorded (or, with a repeated Idempotency-Key, had been).",
            body = DutyDebriefCreated,
            headers(
                ("Location" = String, description = "`/v1/duty-debriefs`: the list it is in."),
                ("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier request."),
            ),
        ),
        CreateDutyDebriefErrors,
    ),
    security(("bearer" = []))
)]
/// `POST /v1/duty-debriefs`
#[tracing::instrument(skip_all, fields(actor))]
async fn record_duty_debrief(
    State(app): State<AppState>,
    Caller(caller): Caller,
    key: IdempotencyKey,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let location = |_| "/v1/duty-debriefs".to_owned();
    let answer = |event: Envelope| DutyDebriefCreated { debrief_id: event.contact_id, event };
    record_stream::<DutyDebriefRecorded, _>(&app, &caller, key, &body, location, answer).await
}

#[utoipa::path(
    get,
    path = "/v1/duty-debriefs",
    tag = "duty debriefs",
    operation_id = "list_duty_debriefs",
    summary = "Duty debriefs by duty day",
    description = "The duty debriefs whose duty day is in the period (`from` and `to` are duty days, \
        inclusive; by default the 28 days up to today), by day. The duty team (practitioners, decision \
        makers), auditors and admins.",
    params(Period),
    responses(
        (status = 200, description = "The debriefs.", content_type = "application/json", body = DutyDebriefs),
        LiveReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/duty-debriefs?from=&to=`
#[tracing::instrument(skip_all, fields(actor))]
async fn list_duty_debriefs(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(p): Query<Period>,
) -> Result<Json<DutyDebriefs>, ApiError> {
    if !auth::may_read(caller.role, ReadKind::DutyDebriefs) {
        return Err(ApiError::Forbidden(format!("a {} may not read duty debriefs", caller.role)));
    }
    require_current(&app).await?;
    let (from, to) = p.resolve()?;
    let model = app.live().model();
    let debriefs = model.duty_debriefs(Some(from), Some(to)).into_iter().cloned().collect();
    Ok(Json(DutyDebriefs { from, to, debriefs }))
}
