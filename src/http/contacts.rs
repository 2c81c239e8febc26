//! `/v1/contacts`: receive a contact, append its events, read it, its events and its audit
//! trail. Each handler parses, calls one function of [`crate::app`] (which checks the role, the
//! contact, the case rules and writes the log, or records the read) and shapes the response.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use eventlog::{AccessEntry, Actor, Envelope};
use events::envelope::timestamp;
use events::schema::{AppendableEvent, ContactReceived};
use projections::contact::ContactState;
use serde::Serialize;
use ulid::Ulid;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, ContactPath, IdempotencyKey, IdempotencyKeyHeader, JsonBytes};
use super::problem::{AppendEventErrors, CreateContactErrors, OwnContactsErrors, ReadContactErrors};
use super::state::AppState;
use super::views::{Contact, ReferrerContact, contact_view, hidden_events, referrer_view, visible_events};
use crate::app::{ContactRead, CreateContact, CreateStream, OpensStream, Read, RecordEvent};
use crate::auth::{self, ReadKind};

/// The routes of `/v1/contacts`, each with its OpenAPI path.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_contact, list_own_contacts))
        .routes(routes!(read_contact))
        .routes(routes!(append_event, read_contact_events))
        .routes(routes!(read_contact_audit))
}

/// `POST /v1/contacts`: the `contact_received` data, plus an optional `occurred_at`.
///
/// Unknown fields are refused (422), as everywhere.
#[derive(Debug, ToSchema)]
pub struct NewContact {
    #[serde(flatten)]
    pub data: ContactReceived,
    /// When the contact was made, RFC 3339 in UTC; defaults to now. Not before 2000; more
    /// than five minutes ahead of the server's clock is 422 (rule `occurred-in-future`).
    pub occurred_at: Option<DateTime<Utc>>,
    /// Why the contact is recorded late: required when `occurred_at` is more than the
    /// late-entry window (default 24 hours) before the server's clock (rule
    /// `late-entry-needs-reason`); stored with the event. Free text, at most 10,000 characters.
    pub late_entry_reason: Option<String>,
}

/// `POST /v1/contacts/{id}/events`: one event, by `type`, with its `data`.
///
/// The `type` says which schema `data` follows. `contact_received` is not appended here:
/// contacts are created with `POST /v1/contacts`. Unknown fields are refused (422).
#[derive(Debug, ToSchema)]
pub struct NewEvent {
    #[serde(flatten)]
    pub event: AppendableEvent,
    /// When it happened, RFC 3339 in UTC; defaults to now. Not before 2000, not before the
    /// contact was received; more than five minutes ahead of the server's clock is 422 (rule
    /// `occurred-in-future`).
    pub occurred_at: Option<DateTime<Utc>>,
    /// Why the event is recorded late: required when `occurred_at` is more than the late-entry
    /// window (default 24 hours) before the server's clock (rule `late-entry-needs-reason`);
    /// stored with the event. Free text, at most 10,000 characters.
    pub late_entry_reason: Option<String>,
    /// The version the contact is expected to be at (0 to 4294967295); if it is not, 409 with
    /// `current_version`, and nothing is written.
    #[schema(format = Int64, maximum = 4294967295_u32)]
    pub expected_version: Option<u32>,
}

/// `201` from `POST /v1/contacts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactCreated {
    /// The new contact's id.
    pub contact_id: Ulid,
    /// The stored `contact_received` event.
    pub event: Envelope,
}

/// One line of a contact's audit trail: an event or a read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrailEntry {
    /// An event was recorded (`at` is its `recorded_at`).
    Event {
        #[serde(with = "timestamp")]
        #[schema(value_type = String, format = DateTime)]
        at: DateTime<Utc>,
        event: Envelope,
    },
    /// Someone read the contact.
    Access {
        #[serde(with = "timestamp")]
        #[schema(value_type = String, format = DateTime)]
        at: DateTime<Utc>,
        actor: Actor,
        action: String,
        endpoint: String,
    },
}

/// A contact's audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrail {
    pub contact_id: Ulid,
    /// The envelopes this caller may see, in version order.
    pub events: Vec<Envelope>,
    /// The access log, in time order.
    pub access: Vec<AccessEntry>,
    /// Events and reads merged, in time order.
    pub trail: Vec<TrailEntry>,
}

/// Records a stream of its own (a duty debrief, a consultation) from a request's body: parsed
/// (403, 400, 422), recorded, and answered 201 with `answer` of the stored first event at
/// `location` of its id.
pub(crate) async fn record_stream<T: OpensStream, B: Serialize>(
    app: &AppState,
    caller: &Actor,
    key: IdempotencyKey,
    body: &[u8],
    location: fn(Ulid) -> String,
    answer: fn(Envelope) -> B,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let command = CreateStream::<T>::parse(caller, body, key.0.as_deref(), now)?;
    let recorded = app.front_door().record_stream(caller, command, now).await?;
    app.metrics().appended(&recorded.envelope);
    let at = location(recorded.envelope.contact_id);
    Ok(created(answer(recorded.envelope), &at, recorded.replayed))
}

pub(crate) fn created(body: impl Serialize, location: &str, replayed: bool) -> Response {
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
    params(IdempotencyKeyHeader),
    request_body(content = NewContact, content_type = "application/json"),
    responses(
        (
            status = 201,
            description = "The contact was received (or, with a repeated Idempotency-Key, had been).",
            body = ContactCreated,
            headers(
                ("Location" = String, description = "`/v1/contacts/{id}`: the new contact."),
                ("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier request."),
            ),
        ),
        CreateContactErrors,
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
    Ok(created(ContactCreated { contact_id: env.contact_id, event: env }, &location, recorded.replayed))
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
    params(ContactPath, IdempotencyKeyHeader),
    request_body(content = NewEvent, content_type = "application/json"),
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
        AppendEventErrors,
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
    check_child_link(&app, &caller, contact, &command.request.event).await?;
    let recorded = app.front_door().record_event(&caller, command, now).await?;
    if !recorded.replayed {
        app.metrics().appended(&recorded.envelope);
    }
    Ok(created(recorded.envelope, &format!("/v1/contacts/{contact}/events"), recorded.replayed))
}

/// The rules of `children_linked` and `children_unlinked` that need the child index: the
/// child id is one the index knows (`child-id-unknown`), a link joins two children
/// (`child-already-linked`), an unlink separates the contact's child from the id it is linked
/// to (`child-not-linked`). A child index the contact does not have is the case rules' to
/// refuse (`child-index-unknown`), and who may append either is [`auth::may_append`]'s.
async fn check_child_link(
    app: &AppState,
    caller: &Actor,
    contact: Ulid,
    event: &events::schema::Event,
) -> Result<(), ApiError> {
    use events::schema::Event;
    let (index, child_id, linking) = match event {
        Event::ChildrenLinked(l) => (l.child_index, l.child_id.as_str(), true),
        Event::ChildrenUnlinked(u) => (u.child_index, u.child_id.as_str(), false),
        _ => return Ok(()),
    };
    if !auth::may_append(caller.role, event.event_type()) {
        return Ok(()); // refused (403) by the command
    }
    super::queue::require_current(app).await?;
    let model = app.live().model();
    let children = model.children();
    let broken = |rule: &'static str, detail: String| Err(ApiError::RuleBroken { rule, detail });
    let Some(current) = children.child_id_of(contact, usize::from(index)) else { return Ok(()) };
    if !children.knows(child_id) {
        return broken("child-id-unknown", format!("data.child_id {child_id} names no child the index knows"));
    }
    let named = children.child(child_id).map(|c| c.child_id).unwrap_or_default();
    match (linking, current == named) {
        (true, true) => broken(
            "child-already-linked",
            format!("child {index} of this contact is already the child {named} (data.child_id {child_id})"),
        ),
        (false, false) => broken(
            "child-not-linked",
            format!("child {index} of this contact is the child {current}, not {named} (data.child_id {child_id})"),
        ),
        _ => Ok(()),
    }
}

/// Reads a contact for the caller and records the read in its access log ([`crate::app::read`]).
async fn read_logged(
    app: &AppState,
    caller: &Actor,
    kind: ReadKind,
    action: &str,
    id: &str,
    uri: &OriginalUri,
) -> Result<ContactRead, ApiError> {
    let read = Read { kind, action, endpoint: uri.0.path() };
    Ok(app.front_door().read_contact_logged(caller, read, id, Utc::now()).await?)
}

/// The caller as the configuration lets them see restricted checks.
fn viewer<'a>(app: &AppState, caller: &'a Actor) -> auth::Viewer<'a> {
    auth::Viewer { actor: caller, receiving_team_sees_restricted: app.config().receiving_team_sees_restricted }
}

/// `GET /v1/contacts/{id}`: the duty team's record, or, for a referrer, a referrer's view of a
/// contact it made.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ContactAnswer {
    /// Every role but a referrer: the contact's state, filtered for the viewer.
    Record(Box<Contact>),
    /// A referrer, of a contact it made.
    Referrer(ReferrerContact),
}

/// `GET /v1/contacts?made_by=me`: which contacts.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OwnContactsQuery {
    /// `me`: the contacts the caller (a referrer) made. Required; no other value is served.
    pub made_by: Option<String>,
}

/// `GET /v1/contacts?made_by=me`: a referrer's contacts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnContacts {
    /// Newest first (by when they were received), each in a referrer's view.
    pub contacts: Vec<ReferrerContact>,
}

#[utoipa::path(
    get,
    path = "/v1/contacts",
    tag = "contacts",
    operation_id = "list_own_contacts",
    summary = "A referrer's own contacts",
    description = "`made_by=me` (required): the contacts the calling referrer made, newest first, each as a \
        referrer sees it: when it was received, its stage and outcome in plain words and the next step; nothing of \
        the duty team's record (no checks, discussion or other contacts). Referrers only (403 for any other role). \
        The read of each contact is recorded in its access log (`read_own_contacts`).",
    params(OwnContactsQuery),
    responses(
        (status = 200, description = "The referrer's contacts.", body = OwnContacts),
        OwnContactsErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/contacts?made_by=me`
#[tracing::instrument(skip_all, fields(actor))]
async fn list_own_contacts(
    State(app): State<AppState>,
    Caller(caller): Caller,
    query: Result<axum::extract::Query<OwnContactsQuery>, axum::extract::rejection::QueryRejection>,
    uri: OriginalUri,
) -> Result<Json<OwnContacts>, ApiError> {
    if !auth::may_read(caller.role, ReadKind::OwnContacts) {
        return Err(ApiError::Forbidden(format!(
            "a {} has no list of its own contacts: made_by=me lists the contacts a referrer made",
            caller.role
        )));
    }
    let made_by = query.ok().and_then(|q| q.0.made_by);
    if made_by.as_deref() != Some("me") {
        return Err(ApiError::bad_param("made_by", "must be `me`: the contacts you made"));
    }
    super::queue::require_current(&app).await?;
    let ids = app.live().model().made_by_referrer(&caller.id).to_vec();
    let endpoint = uri.0.path_and_query().map_or("/v1/contacts", |p| p.as_str());
    let states =
        app.front_door().read_own_contacts_logged(&caller, &ids, "read_own_contacts", endpoint, Utc::now()).await?;
    Ok(Json(OwnContacts { contacts: states.iter().map(referrer_view).collect() }))
}

#[utoipa::path(
    get,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    operation_id = "read_contact",
    summary = "Read a contact",
    description = "The contact's current state, folded from its events. Restricted checks are left out for roles \
        that may not see them. A referrer reads only a contact it made (any other is 404, recorded as a refused \
        read) and gets a referrer's view of it (`ReferrerContact`: stage and outcome in plain words, the next \
        step; nothing of checks, discussion or other contacts). The read is recorded in the contact's access log.",
    params(ContactPath),
    responses(
        (status = 200, description = "The contact as this caller may see it: a referrer's view for a referrer.", body = ContactAnswer),
        ReadContactErrors,
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
) -> Result<Json<ContactAnswer>, ApiError> {
    let read = read_logged(&app, &caller, ReadKind::Contact, "read_contact", &id, &uri).await?;
    let state = read.state.ok_or_else(|| ApiError::NotFound(format!("no contact {}", read.contact)))?;
    if caller.role == eventlog::Role::Referrer {
        return Ok(Json(ContactAnswer::Referrer(referrer_view(&state))));
    }
    let (record, _) = duty_record(&app, &caller, &state, read.events, Utc::now());
    Ok(Json(ContactAnswer::Record(Box::new(record))))
}

/// The duty team's record of a contact as `caller` may see it, and its events as they may see
/// them: the one filter of restricted checks for `GET /v1/contacts/{id}` and the contact's page.
pub(crate) fn duty_record(
    app: &AppState,
    caller: &Actor,
    state: &ContactState,
    events: Vec<Envelope>,
    now: DateTime<Utc>,
) -> (Contact, Vec<Envelope>) {
    let viewer = viewer(app, caller);
    let hidden = hidden_events(&events, &viewer);
    let record = contact_view(state, &hidden, &viewer, &app.config().policy, now);
    let events = events.into_iter().filter(|e| !hidden.contains(&e.event_id)).collect();
    (record, events)
}

#[utoipa::path(
    get,
    path = "/v1/contacts/{id}/events",
    tag = "contacts",
    operation_id = "read_contact_events",
    summary = "Read a contact's events",
    description = "The contact's envelopes in version order. Restricted checks (and corrections of them) are left \
        out for roles that may not see them. The read is recorded in the contact's access log.",
    params(ContactPath),
    responses(
        (status = 200, description = "The envelopes, in version order.", body = Vec<Envelope>),
        ReadContactErrors,
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
    let read = read_logged(&app, &caller, ReadKind::ContactEvents, "read_events", &id, &uri).await?;
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
    params(ContactPath),
    responses(
        (status = 200, description = "The audit trail.", body = AuditTrail),
        ReadContactErrors,
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
) -> Result<Json<AuditTrail>, ApiError> {
    let ContactRead { contact, events, access, .. } =
        read_logged(&app, &caller, ReadKind::ContactAudit, "read_audit", &id, &uri).await?;
    let events = visible_events(events, &viewer(&app, &caller));
    let mut trail: Vec<(DateTime<Utc>, u8, TrailEntry)> = Vec::with_capacity(events.len() + access.len());
    for env in &events {
        trail.push((env.recorded_at, 0, TrailEntry::Event { at: env.recorded_at, event: env.clone() }));
    }
    for a in &access {
        let AccessEntry { at, actor, action, endpoint } = a.clone();
        trail.push((a.at, 1, TrailEntry::Access { at, actor, action, endpoint }));
    }
    trail.sort_by_key(|entry| (entry.0, entry.1));
    let trail = trail.into_iter().map(|(_, _, entry)| entry).collect();
    Ok(Json(AuditTrail { contact_id: contact, events, access, trail }))
}
