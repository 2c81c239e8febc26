//! `/v1/contacts`: receive a contact, append its events, read it, its events and its audit
//! trail. Each handler parses, calls one function of [`crate::app`] (which checks the role, the
//! contact, the case rules and writes the log, or records the read) and shapes the response.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use eventlog::{Actor, Envelope};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, IdempotencyKey, JsonBytes};
use super::views::{contact_view, hidden_events, visible_events};
use crate::app::{ContactRead, CreateContact, Read, RecordEvent};
use crate::auth::{self, ReadKind};

pub fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/v1/contacts", post(create_contact))
        .route("/v1/contacts/{id}", get(read_contact))
        .route("/v1/contacts/{id}/events", post(append_event).get(read_contact_events))
        .route("/v1/contacts/{id}/audit", get(read_contact_audit))
}

fn created(body: Value, location: &str, replayed: bool) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[utoipa::path(
    post,
    path = "/v1/contacts",
    tag = "contacts",
    operation_id = "create_contact",
    summary = "Receive a contact",
    description = "Records a new contact: its `contact_received` event, the first of a new contact's stream. The \
        body is the `contact_received` data, plus an optional `occurred_at`.",
    params(crate::http::openapi::IdempotencyKeyHeader),
    request_body(content = crate::http::openapi::NewContact, content_type = "application/json"),
    responses(
        (
            status = 201,
            description = "The contact was received (or, with a repeated Idempotency-Key, had been).",
            body = crate::http::openapi::ContactCreated,
            headers(
                ("Location" = String, description = "`/v1/contacts/{id}`: the new contact."),
                ("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier request."),
            ),
        ),
        crate::http::openapi::CreateContactErrors,
    ),
    security(("bearer" = []))
)]
/// `POST /v1/contacts`
#[tracing::instrument(skip_all, fields(actor))]
async fn create_contact(
    State(app): State<AppState>,
    Caller(caller): Caller,
    key: IdempotencyKey,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let command = CreateContact::parse(&caller, &body, key.0.as_deref(), now)?;
    let recorded = app.front_door().create_contact(&caller, command, now).await?;
    app.metrics().appended(&recorded.envelope);
    let env = recorded.envelope;
    let location = format!("/v1/contacts/{}", env.contact_id);
    Ok(created(json!({"contact_id": env.contact_id, "event": env}), &location, recorded.replayed))
}

#[utoipa::path(
    post,
    path = "/v1/contacts/{id}/events",
    tag = "contacts",
    operation_id = "append_event",
    summary = "Record an event on a contact",
    description = "Appends one event to a contact: `type` names it and `data` follows that type's schema. The role \
        must be allowed the type (403), the contact must exist (404), `expected_version`, if given, must \
        be its version (409), and the case rules must allow the event now (422 naming the rule). The \
        actor is always the token's.",
    params(crate::http::openapi::ContactPath, crate::http::openapi::IdempotencyKeyHeader),
    request_body(content = crate::http::openapi::NewEvent, content_type = "application/json"),
    responses(
        (
            status = 201,
            description = "The event was stored (or, with a repeated Idempotency-Key, had been): its envelope.",
            body = Envelope,
            headers(
                ("Location" = String, description = "`/v1/contacts/{id}/events`."),
                ("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier request."),
            ),
        ),
        crate::http::openapi::AppendEventErrors,
    ),
    security(("bearer" = []))
)]
/// `POST /v1/contacts/{id}/events`
#[tracing::instrument(skip_all, fields(actor, contact = %id))]
async fn append_event(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    key: IdempotencyKey,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let command = RecordEvent::parse(&caller, &id, &body, key.0.as_deref(), now)?;
    let contact = command.contact;
    let recorded = app.front_door().record_event(&caller, command, now).await?;
    if !recorded.replayed {
        app.metrics().appended(&recorded.envelope);
    }
    let body = serde_json::to_value(&recorded.envelope).map_err(ApiError::internal)?;
    Ok(created(body, &format!("/v1/contacts/{contact}/events"), recorded.replayed))
}

fn ts(t: &chrono::DateTime<Utc>) -> String {
    events::envelope::timestamp::format(t)
}

/// Reads a contact for the caller and records the read in its access log ([`crate::app::read`]).
fn read_logged(
    app: &AppState,
    caller: &Actor,
    kind: ReadKind,
    action: &str,
    id: &str,
    uri: &OriginalUri,
) -> Result<ContactRead, ApiError> {
    let read = Read { kind, action, endpoint: uri.0.path() };
    Ok(app.front_door().read_contact_logged(caller, read, id, Utc::now())?)
}

/// The caller as the configuration lets them see restricted checks.
fn viewer<'a>(app: &AppState, caller: &'a Actor) -> auth::Viewer<'a> {
    auth::Viewer { actor: caller, receiving_team_sees_restricted: app.config().receiving_team_sees_restricted }
}

#[utoipa::path(
    get,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    operation_id = "read_contact",
    summary = "Read a contact",
    description = "The contact's current state, folded from its events. Restricted checks are left out for roles \
        that may not see them. The read is recorded in the contact's access log.",
    params(crate::http::openapi::ContactPath),
    responses(
        (status = 200, description = "The contact as this caller may see it.", body = crate::http::openapi::Contact),
        crate::http::openapi::ReadContactErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/contacts/{id}`
#[tracing::instrument(skip_all, fields(actor, contact = %id))]
async fn read_contact(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let read = read_logged(&app, &caller, ReadKind::Contact, "read_contact", &id, &uri)?;
    let state = read.state.ok_or_else(|| ApiError::NotFound(format!("no contact {}", read.contact)))?;
    let viewer = viewer(&app, &caller);
    let hidden = hidden_events(&read.events, &viewer);
    Ok(Json(contact_view(&state, &hidden, &viewer, &app.config().policy, Utc::now())))
}

#[utoipa::path(
    get,
    path = "/v1/contacts/{id}/events",
    tag = "contacts",
    operation_id = "read_contact_events",
    summary = "Read a contact's events",
    description = "The contact's envelopes in version order. Restricted checks (and corrections of them) are left \
        out for roles that may not see them. The read is recorded in the contact's access log.",
    params(crate::http::openapi::ContactPath),
    responses(
        (status = 200, description = "The envelopes, in version order.", body = Vec<Envelope>),
        crate::http::openapi::ReadContactErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/contacts/{id}/events`
#[tracing::instrument(skip_all, fields(actor, contact = %id))]
async fn read_contact_events(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Vec<Envelope>>, ApiError> {
    let read = read_logged(&app, &caller, ReadKind::ContactEvents, "read_events", &id, &uri)?;
    Ok(Json(visible_events(read.events, &viewer(&app, &caller))))
}

#[utoipa::path(
    get,
    path = "/v1/contacts/{id}/audit",
    tag = "contacts",
    operation_id = "read_contact_audit",
    summary = "Read a contact's audit trail",
    description = "The contact's envelopes and its access log (who read it, when, how), and the two merged in time \
        order. The read is itself recorded in the access log.",
    params(crate::http::openapi::ContactPath),
    responses(
        (status = 200, description = "The audit trail.", body = crate::http::openapi::AuditTrail),
        crate::http::openapi::ReadContactErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/contacts/{id}/audit`: the envelopes and the access log, merged in time order.
#[tracing::instrument(skip_all, fields(actor, contact = %id))]
async fn read_contact_audit(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let ContactRead { contact, events, access, .. } =
        read_logged(&app, &caller, ReadKind::ContactAudit, "read_audit", &id, &uri)?;
    let events = visible_events(events, &viewer(&app, &caller));
    let mut trail: Vec<(chrono::DateTime<Utc>, u8, Value)> = Vec::with_capacity(events.len() + access.len());
    for env in &events {
        trail.push((env.recorded_at, 0, json!({"at": ts(&env.recorded_at), "kind": "event", "event": env})));
    }
    for a in &access {
        trail.push((
            a.at,
            1,
            json!({"at": ts(&a.at), "kind": "access", "actor": a.actor, "action": a.action, "endpoint": a.endpoint}),
        ));
    }
    trail.sort_by_key(|entry| (entry.0, entry.1));
    let body = json!({
        "contact_id": contact,
        "events": events,
        "access": access,
        "trail": trail.into_iter().map(|(_, _, v)| v).collect::<Vec<_>>(),
    });
    Ok(Json(body))
}
