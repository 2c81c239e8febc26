//! `/v1/contacts`: receive a contact, append its events, read it, its events and its audit
//! trail. Writes go: token → role → body → contact → case rules → log (with the version the
//! rules were checked against, so a concurrent write can never slip past them).

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use eventlog::{AccessEntry, Actor, AppendRequest, Envelope, Idempotency, NewEvent};
use events::schema::Event;
use projections::contact::ContactState;
use serde_json::{Value, json};
use ulid::Ulid;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, IdempotencyKey, JsonBytes};
use super::views::{contact_view, hidden_events, visible_events};
use crate::auth::{self, ReadKind};
use crate::rules;
use crate::validate::{self, Invalid};

/// How often a write without `expected_version` is retried when another write to the same
/// contact lands between reading it and appending (only possible from outside this process's
/// per-contact lock, e.g. a second instance, which sled forbids anyway).
const RETRIES: usize = 3;

pub fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/v1/contacts", post(create_contact))
        .route("/v1/contacts/{id}", get(read_contact))
        .route("/v1/contacts/{id}/events", post(append_event).get(read_contact_events))
        .route("/v1/contacts/{id}/audit", get(read_contact_audit))
}

pub(crate) fn invalid(e: Invalid) -> ApiError {
    match e {
        Invalid::Malformed(detail) => ApiError::BadRequest { detail, errors: vec![] },
        Invalid::Fields(errors) => {
            let detail = match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                many => format!("{} fields are invalid", many.len()),
            };
            ApiError::fields(detail, errors)
        }
    }
}

fn contact_id(raw: &str) -> Result<Ulid, ApiError> {
    raw.parse::<Ulid>().map_err(|_| ApiError::NotFound(format!("no contact {raw:?}: contact ids are ULIDs")))
}

/// Scopes a client's key to the caller and the resource, so two clients never collide.
fn idempotency(key: IdempotencyKey, caller: &Actor, scope: &str, body: &[u8]) -> Option<Idempotency> {
    key.0.map(|k| Idempotency::new(format!("{}\u{1f}{scope}\u{1f}{k}", caller.id), body))
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
    if !auth::may_create_contact(caller.role) {
        return Err(ApiError::Forbidden(format!("a {} may not create contacts", caller.role)));
    }
    let now = Utc::now();
    let new = validate::parse_new_contact(&body, now).map_err(invalid)?;
    let occurred_at = new.occurred_at.unwrap_or(now);
    rules::check_time(occurred_at, new.late_entry_reason.as_deref(), now, &app.config().policy)?;
    let event = Event::ContactReceived(new.data);
    let mut new_event = NewEvent::new(&event, occurred_at, caller.clone());
    new_event.late_entry_reason = new.late_entry_reason;
    let request = AppendRequest {
        contact_id: Ulid::new(),
        events: vec![new_event],
        expected_version: Some(0),
        idempotency: idempotency(key, &caller, "contacts", &body),
    };
    let appended = app.log().append(request).await?;
    let env = appended.envelopes.into_iter().next().ok_or_else(|| ApiError::internal("append returned no event"))?;
    app.metrics().appended(&env);
    let location = format!("/v1/contacts/{}", env.contact_id);
    Ok(created(json!({"contact_id": env.contact_id, "event": env}), &location, appended.replayed))
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
    if !auth::may_append_any(caller.role) {
        return Err(ApiError::Forbidden(format!("a {} may not append events to contacts", caller.role)));
    }
    let contact = contact_id(&id)?;
    let now = Utc::now();
    let request = validate::parse_event_request(&body, now).map_err(invalid)?;
    let event_type = request.event.event_type();
    if !auth::may_append(caller.role, event_type) {
        return Err(ApiError::Forbidden(format!("a {} may not append {event_type}", caller.role)));
    }
    if let Event::ChecksReturned(c) = &request.event
        && !auth::partner_may_return_checks_for(&caller, c.agency)
    {
        return Err(ApiError::Forbidden(format!(
            "a {} partner returns checks for their own agency, not {}",
            caller.agency, c.agency
        )));
    }
    let occurred_at = request.occurred_at.unwrap_or(now);
    rules::check_time(occurred_at, request.late_entry_reason.as_deref(), now, &app.config().policy)?;
    if let Event::DecisionMade(d) = &request.event
        && let Some(duplicate) = d.duplicate_of
        && (duplicate == contact || app.log().read_contact(duplicate)?.is_empty())
    {
        return Err(ApiError::RuleBroken {
            rule: "duplicate-of-unknown-contact",
            detail: format!("data.duplicate_of {duplicate} must name another contact that exists"),
        });
    }
    let mut event = request.event;
    let late_entry_reason = request.late_entry_reason;
    let event_id = Ulid::new();
    let new_event = |event: &Event| NewEvent {
        event_id,
        late_entry_reason: late_entry_reason.clone(),
        ..NewEvent::new(event, occurred_at, caller.clone())
    };
    let idempotency = idempotency(key, &caller, &contact.to_string(), &body);

    let _serialised = app.lock_contact(contact).await;
    for attempt in 0.. {
        let events = app.log().read_contact(contact)?;
        let state = fold(&events)?.ok_or_else(|| ApiError::NotFound(format!("no contact {contact}")))?;
        // A receiving team answers only its own handovers; of any other contact it does not
        // learn even that it exists.
        if !auth::reads_contact(&caller, &state) {
            return Err(ApiError::NotFound(format!("no contact {contact}")));
        }
        if let Some(expected) = request.expected_version
            && expected != state.version
            && idempotency.is_none()
        {
            return Err(ApiError::Conflict { expected, current_version: state.version });
        }
        if let Event::CorrectionRecorded(c) = &mut event
            && let Some(target) = state.event(c.corrects_event_id)
        {
            check_correction(&caller, &state, target, c, now)?;
        }
        if let Err(refused) = refusal(&state, &event, occurred_at, &caller) {
            // A retried idempotent request may legitimately break a rule now (e.g. a second
            // decision); the log returns the first result if the key was used.
            if idempotency.is_none() {
                return Err(refused);
            }
            if let Some(replay) = replay_only(&app, contact, &idempotency, &new_event(&event)).await? {
                return Ok(replay);
            }
            return Err(refused);
        }
        let append = AppendRequest {
            contact_id: contact,
            events: vec![new_event(&event)],
            expected_version: Some(request.expected_version.unwrap_or(state.version)),
            idempotency: idempotency.clone(),
        };
        match app.log().append(append).await {
            Ok(appended) => {
                let env = appended
                    .envelopes
                    .into_iter()
                    .last()
                    .ok_or_else(|| ApiError::internal("append returned no event"))?;
                if !appended.replayed {
                    app.metrics().appended(&env);
                }
                let location = format!("/v1/contacts/{contact}/events");
                return Ok(created(
                    serde_json::to_value(&env).map_err(ApiError::internal)?,
                    &location,
                    appended.replayed,
                ));
            }
            Err(eventlog::AppendError::Conflict { .. }) if request.expected_version.is_none() && attempt < RETRIES => {
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the retry loop returns")
}

/// A correction's value checked as the corrected field's own (422 naming `data.value`), then
/// whether this caller may make it (403).
fn check_correction(
    caller: &Actor,
    state: &ContactState,
    target: projections::contact::EventRef,
    correction: &mut events::schema::CorrectionRecorded,
    now: chrono::DateTime<Utc>,
) -> Result<(), ApiError> {
    let field = events::correction::Field::parse(target.event_type, &correction.field);
    let check = state.checks.iter().find(|c| c.event_id == target.event_id).map(|c| (c.agency, c.restricted));
    auth::may_correct(caller, target.event_type, field, check, &correction.value).map_err(ApiError::Forbidden)?;
    let errors = validate::check_correction(correction, target.event_type, now);
    if !errors.is_empty() {
        let errors =
            errors.into_iter().map(|e| validate::FieldError::new(format!("data.{}", e.field), e.message)).collect();
        return Err(invalid(Invalid::Fields(errors)));
    }
    Ok(())
}

/// Why `event` may not be appended now, by `caller`, to the contact whose state is `state`: the
/// case rules ([`rules::decide`], 422), then who may answer a pending handover
/// ([`auth::may_answer_handover`], 403), then the handover rules that depend on who records it
/// ([`rules::decide_handover`], 422).
fn refusal(
    state: &ContactState,
    event: &Event,
    occurred_at: chrono::DateTime<Utc>,
    caller: &Actor,
) -> Result<(), ApiError> {
    let rule = |broken: rules::RuleBroken| ApiError::RuleBroken { rule: broken.rule, detail: broken.detail };
    rules::decide(state, event, occurred_at).map_err(rule)?;
    if let Event::HandoverAccepted(_) | Event::HandoverReturned(_) = event
        && let Some(handover) = projections::model::pending_handover(state)
        && !auth::may_answer_handover(caller, handover)
    {
        return Err(ApiError::Forbidden(match caller.role {
            eventlog::Role::Practitioner | eventlog::Role::DecisionMaker => format!(
                "this handover is to the {}: only the receiving team it names{} (or an admin) may accept or return it",
                handover.to,
                handover.team.as_deref().map(|t| format!(" ({t})")).unwrap_or_default()
            ),
            role => format!("a {role} may not answer this handover"),
        }));
    }
    rules::decide_handover(event, caller).map_err(rule)
}

/// For an idempotent retry whose event the rules would now refuse: asks the log whether the
/// key was used, by appending with an impossible expected version. A used key replays the
/// first result; an unused one conflicts and nothing is written.
async fn replay_only(
    app: &AppState,
    contact: Ulid,
    idempotency: &Option<Idempotency>,
    new_event: &NewEvent,
) -> Result<Option<Response>, ApiError> {
    let probe = AppendRequest {
        contact_id: contact,
        events: vec![new_event.clone()],
        expected_version: Some(u32::MAX),
        idempotency: idempotency.clone(),
    };
    match app.log().append(probe).await {
        Ok(appended) if appended.replayed => {
            let env = appended.envelopes.into_iter().last().ok_or_else(|| ApiError::internal("no event"))?;
            let body = serde_json::to_value(&env).map_err(ApiError::internal)?;
            Ok(Some(created(body, &format!("/v1/contacts/{contact}/events"), true)))
        }
        Ok(_) => Err(ApiError::internal("a probe append was written")),
        Err(eventlog::AppendError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn ts(t: &chrono::DateTime<Utc>) -> String {
    events::envelope::timestamp::format(t)
}

fn fold(events: &[Envelope]) -> Result<Option<ContactState>, ApiError> {
    ContactState::fold(events).map_err(ApiError::internal)
}

/// Reads a contact for a viewer: checks the role, reads the stream, 404s an unknown contact,
/// and any contact a receiving team may not read ([`auth::reads_contact`]), so that it does not
/// learn the contact exists.
fn read_for(app: &AppState, caller: &Actor, what: ReadKind, id: &str) -> Result<(Ulid, Vec<Envelope>), ApiError> {
    if !auth::may_read(caller.role, what) {
        return Err(ApiError::Forbidden(format!("a {} may not read this", caller.role)));
    }
    let contact = contact_id(id)?;
    let events = app.log().read_contact(contact)?;
    if events.is_empty() {
        return Err(ApiError::NotFound(format!("no contact {contact}")));
    }
    if caller.role == eventlog::Role::ReceivingTeam
        && !fold(&events)?.is_some_and(|state| auth::reads_contact(caller, &state))
    {
        return Err(ApiError::NotFound(format!("no contact {contact}")));
    }
    Ok((contact, events))
}

/// The caller as the configuration lets them see restricted checks.
fn viewer<'a>(app: &AppState, caller: &'a Actor) -> auth::Viewer<'a> {
    auth::Viewer { actor: caller, receiving_team_sees_restricted: app.config().receiving_team_sees_restricted }
}

/// Writes the access log entry for a successful read. A failure to log is an error: an
/// unlogged read of a child's record must not happen.
fn log_access(app: &AppState, contact: Ulid, caller: &Actor, action: &str, uri: &OriginalUri) -> Result<(), ApiError> {
    let entry =
        AccessEntry { at: Utc::now(), actor: caller.clone(), action: action.into(), endpoint: uri.0.path().to_owned() };
    app.log().record_access(contact, &entry).map_err(|e| match e {
        // The disk refusing writes (e.g. full) is a 503 like an append's, not a 500: the read
        // is refused because it could not be recorded.
        eventlog::LogError::Storage(message) => {
            tracing::error!(%message, "recording a read in the access log failed");
            ApiError::Unavailable(
                "this read of a child's record cannot be recorded in the access log (the disk refuses writes), \
                 so it is not shown; other reads still work"
                    .into(),
            )
        }
        other => ApiError::internal(other),
    })
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
    let (contact, events) = read_for(&app, &caller, ReadKind::Contact, &id)?;
    let state = fold(&events)?.ok_or_else(|| ApiError::NotFound(format!("no contact {contact}")))?;
    let viewer = viewer(&app, &caller);
    let hidden = hidden_events(&events, &viewer);
    let view = contact_view(&state, &hidden, &viewer, &app.config().policy, Utc::now());
    log_access(&app, contact, &caller, "read_contact", &uri)?;
    Ok(Json(view))
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
    let (contact, events) = read_for(&app, &caller, ReadKind::ContactEvents, &id)?;
    let visible = visible_events(events, &viewer(&app, &caller));
    log_access(&app, contact, &caller, "read_events", &uri)?;
    Ok(Json(visible))
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
    let (contact, events) = read_for(&app, &caller, ReadKind::ContactAudit, &id)?;
    let events = visible_events(events, &viewer(&app, &caller));
    let access = app.log().read_access(contact)?;
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
    log_access(&app, contact, &caller, "read_audit", &uri)?;
    Ok(Json(body))
}
