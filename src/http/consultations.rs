//! `/v1/consultations`: professional consultations (a professional asks the front door for
//! advice, without naming a child or before deciding to refer), each a stream of its own: never
//! a contact, never in the queue, the contact figures or the returns. A consultation may name
//! children, so it is read like a child's record: by the duty team, auditors and admins, and
//! every read of one is in its access log.

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use eventlog::{AccessScope, Envelope};
use events::schema::{Agency, Child, ConsultationRecorded, Event, SourceCode};
use serde::Serialize;
use ulid::Ulid;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contacts::record_stream;
use super::error::ApiError;
use super::extract::{Caller, IdempotencyKey, IdempotencyKeyHeader, JsonBytes};
use super::figures::Period;
use super::problem::{CreateConsultationErrors, LiveReadErrors, ReadConsultationErrors};
use super::queue::require_current;
use super::state::AppState;
use crate::app::Read;
use crate::auth::{self, ReadKind};

/// The routes of `/v1/consultations`, each with its OpenAPI path.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_consultation, list_consultations)).routes(routes!(read_consultation))
}

/// `POST /v1/consultations`: the `consultation_recorded` data, plus an optional `occurred_at`.
///
/// Unknown fields are refused (422), as everywhere.
#[derive(Debug, ToSchema)]
pub struct NewConsultation {
    #[serde(flatten)]
    pub data: ConsultationRecorded,
    /// When the call was taken, RFC 3339 in UTC; defaults to now. More than five minutes
    /// ahead of the server's clock is 422 (rule `occurred-in-future`).
    pub occurred_at: Option<DateTime<Utc>>,
    /// Why the consultation is recorded late: required when `occurred_at` is more than the
    /// late-entry window (default 24 hours) before the server's clock (rule
    /// `late-entry-needs-reason`).
    pub late_entry_reason: Option<String>,
}

/// `201` from `POST /v1/consultations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsultationCreated {
    /// The new consultation's stream id: what a contact that follows it names in
    /// `follows_consultation`.
    pub consultation_id: Ulid,
    /// The stored `consultation_recorded` event.
    pub event: Envelope,
}

/// A professional consultation as read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsultationView {
    pub consultation_id: Ulid,
    /// When the call was taken.
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// The actor id of who recorded it.
    pub recorded_by: String,
    /// The caller's agency.
    pub agency: Agency,
    /// The referral source, coded as a contact's is.
    pub source: SourceCode,
    /// The advice given.
    pub advice: String,
    /// How many children the call named.
    pub children_named: usize,
    /// The children named, for the roles that read children's records; `null` for the others.
    #[schema(required = true)]
    pub children: Option<Vec<Child>>,
    pub concern_categories: Vec<String>,
    /// The contacts that followed it (their `follows_consultation` names it), in the order
    /// received.
    pub followed_by: Vec<Ulid>,
}

impl ConsultationView {
    fn of(
        id: Ulid,
        env: (DateTime<Utc>, DateTime<Utc>, &str),
        data: ConsultationRecorded,
        followed_by: Vec<Ulid>,
        names: bool,
    ) -> ConsultationView {
        let (occurred_at, recorded_at, recorded_by) = env;
        ConsultationView {
            consultation_id: id,
            occurred_at,
            recorded_at,
            recorded_by: recorded_by.to_owned(),
            agency: data.agency,
            source: data.source,
            advice: data.advice,
            children_named: data.children.len(),
            children: names.then_some(data.children),
            concern_categories: data.concern_categories,
            followed_by,
        }
    }
}

/// `200` from `GET /v1/consultations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Consultations {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// In the order taken.
    pub consultations: Vec<ConsultationView>,
}

#[utoipa::path(
    post,
    path = "/v1/consultations",
    tag = "consultations",
    operation_id = "record_consultation",
    summary = "Record a professional consultation",
    description = "Records a professional consultation (`consultation_recorded`): a professional who asks the \
        front door for advice, without naming a child or before deciding to refer. The caller's `agency`, the \
        referral `source` (the contacts' source codes), the `advice` given, the `children` if any were named \
        (checked as a contact's children are; none is allowed) and `concern_categories`. A stream of its own, \
        not a contact: never in the queue, the contact figures or the returns, and events are never appended \
        to it. A contact that follows it names it in `follows_consultation`.",
    params(IdempotencyKeyHeader),
    request_body(content = NewConsultation, content_type = "application/json"),
    responses(
        (
            status = 201,
            description = "The consultation was recorded (or, with a repeated Idempotency-Key, had been).",
            body = ConsultationCreated,
            headers(
                ("Location" = String, description = "`/v1/consultations/{id}`: the consultation."),
                ("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier request."),
            ),
        ),
        CreateConsultationErrors,
    ),
    security(("bearer" = []))
)]
/// `POST /v1/consultations`
#[tracing::instrument(skip_all, fields(actor))]
async fn record_consultation(
    State(app): State<AppState>,
    Caller(caller): Caller,
    key: IdempotencyKey,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let location = |id| format!("/v1/consultations/{id}");
    let answer = |event: Envelope| ConsultationCreated { consultation_id: event.contact_id, event };
    record_stream::<ConsultationRecorded, _>(&app, &caller, key, &body, location, answer).await
}

fn may_read_consultations(caller: &eventlog::Actor) -> Result<(), ApiError> {
    if auth::may_read(caller.role, ReadKind::Consultations) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("a {} may not read consultations", caller.role)))
    }
}

#[utoipa::path(
    get,
    path = "/v1/consultations",
    tag = "consultations",
    operation_id = "list_consultations",
    summary = "Professional consultations by date",
    description = "The consultations taken on London dates in the period (`from` and `to` inclusive; by default \
        the 28 days up to today), in the order taken, each with the contacts that followed it. The duty team \
        (practitioners, decision makers), auditors and admins; children's names only for the roles that read \
        children's records. The list is recorded as one entry of the access log naming every consultation \
        listed that names a child (action `list_consultations`).",
    params(Period),
    responses(
        (status = 200, description = "The consultations.", content_type = "application/json", body = Consultations),
        LiveReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/consultations?from=&to=`
#[tracing::instrument(skip_all, fields(actor))]
async fn list_consultations(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(p): Query<Period>,
    uri: OriginalUri,
) -> Result<Json<Consultations>, ApiError> {
    may_read_consultations(&caller)?;
    require_current(&app).await?;
    let (from, to) = p.resolve()?;
    let names = auth::may_read(caller.role, ReadKind::Children);
    let consultations: Vec<ConsultationView> = {
        let model = app.live().model();
        model
            .consultations(Some(from), Some(to))
            .into_iter()
            .map(|c| {
                let env = (c.occurred_at, c.recorded_at, c.recorded_by.as_str());
                ConsultationView::of(c.consultation_id, env, c.data.clone(), c.followed_by.clone(), names)
            })
            .collect()
    };
    let named: Vec<Ulid> = consultations.iter().filter(|c| c.children_named > 0).map(|c| c.consultation_id).collect();
    let endpoint = uri.0.path_and_query().map_or_else(|| uri.0.path().to_owned(), |p| p.as_str().to_owned());
    let scope = AccessScope { contacts: named, query: uri.0.query().map(str::to_owned), ..AccessScope::default() };
    app.front_door().record_bulk_read(&caller, "list_consultations", &endpoint, Utc::now(), scope).await?;
    Ok(Json(Consultations { from, to, consultations }))
}

#[utoipa::path(
    get,
    path = "/v1/consultations/{id}",
    tag = "consultations",
    operation_id = "read_consultation",
    summary = "Read a professional consultation",
    description = "One consultation, with the contacts that followed it. A read of a child's record: recorded in \
        the consultation's access log (action `read_consultation`) before it is shown, and a refused read is \
        recorded too. The duty team (practitioners, decision makers), auditors and admins.",
    params(("id" = String, Path, description = "The consultation's id (a ULID).")),
    responses(
        (status = 200, description = "The consultation.", body = ConsultationView),
        ReadConsultationErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/consultations/{id}`
#[tracing::instrument(skip_all, fields(actor, consultation = %id))]
async fn read_consultation(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
) -> Result<Json<ConsultationView>, ApiError> {
    let read = Read { kind: ReadKind::Consultations, action: "read_consultation", endpoint: uri.0.path() };
    let env = app.front_door().read_consultation_logged(&caller, read, &id, Utc::now()).await?;
    let Event::ConsultationRecorded(data) = env.event().map_err(ApiError::internal)? else {
        return Err(ApiError::internal(format!("{} does not open with consultation_recorded", env.contact_id)));
    };
    require_current(&app).await?;
    let followed_by =
        app.live().model().consultation(env.contact_id).map(|c| c.followed_by.clone()).unwrap_or_default();
    let names = auth::may_read(caller.role, ReadKind::Children);
    let at = (env.occurred_at, env.recorded_at, env.actor.id.as_str());
    Ok(Json(ConsultationView::of(env.contact_id, at, data, followed_by, names)))
}
