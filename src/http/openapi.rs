//! The OpenAPI 3.1 document, generated with utoipa from the handlers' `#[utoipa::path]`
//! attributes and the event schema's `ToSchema` derives, and served at `GET /openapi.json`.
//! `GET /docs` ([`super::docs`]) renders the same document as HTML.
//!
//! What is written by hand here is only what the code cannot say by itself: the shapes of
//! bodies the handlers build with `json!` (documentation types below, checked against real
//! responses by the API tests), the problem types ([`PROBLEMS`], checked against
//! [`ApiError`]'s own rendering by the unit tests), and the sentences that describe the case
//! rules on fields ([`NOTES`]). The limits and formats of fields (children 1 to 20, lengths, NHS
//! numbers, levels of need, ...) come from the schema's own shapes (`events::shape`), as the
//! validator's do. Who may call what is generated from [`crate::auth`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use eventlog::{Actor, Envelope, EventType, Role};
use events::schema::{
    Agency, AppendableEvent, AuditGrade, CallDirection, CallWith, Channel, Child, Consent, ContactReceived,
    DataVisitor, Event, EventData, HandoverTo, InformMethod, Outcome, PpnGrade, PrimaryNeed, Rating, Referrer, Sex,
    SourceCode,
};
use events::shape::{Shape, Text};
use serde_json::{Map, Value, json};
use ulid::Ulid;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response as OaResponse, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

use super::AppState;
use super::error::{ApiError, PROBLEM_JSON};
use crate::auth::{self, ReadKind};
use crate::validate::{self, FieldError};

/// The name of the bearer-token security scheme.
pub const BEARER: &str = "bearer";

/// The document's `info.description` (CommonMark; `/docs` renders the subset used here).
const DESCRIPTION: &str = "The REST API of frontdoor, the case-flow service for a children's services front door \
(the MASH). Every contact, and everything that happens to it, is an event in an append-only, hash-chained log; \
what the API shows is folded from it.

JSON everywhere, UTF-8. Timestamps are RFC 3339 in UTC with a `Z`. Ids are ULIDs: 26 characters of Crockford \
base32. Strings in request bodies are trimmed; a required one must not be empty, and an optional one that is \
empty is taken as absent. A field that is not in the schema is refused (422).

Send `Authorization: Bearer <token>`. A token maps to an actor (an id, a role and an agency), which is \
recorded as the actor of every event it appends; the actor is never taken from a body. No token, or an unknown \
one: 401. A known token without the right: 403. The roles:

- `referrer`: creates contacts, nothing else.
- `practitioner`: everything on a contact except `decision_made`, and accepting or returning a handover to the \
`assessment_team` or `early_help` (the receiving team's); reads contacts.
- `decision_maker`: what a practitioner may, plus `decision_made`.
- `partner`: `checks_returned` (for their own agency), `duty_discussion_held`, `note_added`, corrections of their own agency's checks; reads contacts.
- `auditor`: reads everything, appends `audit_finding_recorded`, nothing else.
- `admin`: everything.
- `receiving_team`: a team that accepts handovers (the Assessment Team, Early Help); its token names its team \
(`frontdoor token create --role receiving_team --actor at-sam --team \"AT North\"`). It reads only the contacts \
whose latest handover names its team (any other is a 404, as if it did not exist), sees its pending handovers as \
its queue (`GET /v1/queue`, `/v1/queue/stream`), and appends only `handover_accepted` (for its own team) and \
`handover_returned` to them. A handover to the `assessment_team` or `early_help` must name the team, and nobody \
but that team and admins may accept or return it. A handover to `community`, `tafso`, an `allocated_worker` or \
`other` is answered by a practitioner or decision maker, whose acceptance says how it was confirmed \
(`evidence`). Restricted checks stay hidden from receiving teams unless the service is configured otherwise \
(`receiving_team_sees_restricted`).

Each operation lists the roles it allows, generated from the service's own permission table.

`/healthz` and `/readyz` need no token, for load balancers. Nor do `/openapi.json` and `/docs`: they describe \
the API and hold no data, and integrators need to read them before they have a token. `/metrics` needs no token \
either: it holds counts and timings only, for a scraper on the operators' network, and must not be exposed beyond \
it.

Every error is `application/problem+json` (RFC 9457): `type`, `title`, `status` and `detail`, where `type` is \
`/docs#problem-<slug>`, the section of the API reference that explains it. A 422 for fields carries `errors` \
(`[{field, message}]`, every field at fault), a 409 `current_version`, a 422 for a case rule the `rule` broken.

To write safely, send an `Idempotency-Key` with every write, and after a timeout or a 503 repeat the request \
with the same key and body: it is stored once. Send `expected_version` (the `version` of the contact you read) \
to append only if nothing was recorded on the contact since.

Every read of a contact is recorded in its access log, which `GET /v1/contacts/{id}/audit` shows.

Time is not rewritten silently. `occurred_at` more than five minutes ahead of the server's clock is refused (rule \
`occurred-in-future`); one more than the late-entry window (default 24 hours) before it needs a top-level \
`late_entry_reason`, stored with the event (rule `late-entry-needs-reason`), and the timeliness figures count \
decisions and acceptances recorded late. No API sets `recorded_at`.

Nothing is edited: a mistake is put right with `correction_recorded`, which names the event and the field \
(written as error paths are: `children[0].date_of_birth`, `restricted`, `occurred_at`). Only these may be \
corrected: on `contact_received` a child's `name`, `date_of_birth`, `sex`, `nhs_number`, `upn` and `ethnicity`, \
`immediate_risk` and `consent`; on `consent_recorded` `consent`; on `checks_returned` `restricted` and `summary`; \
on any event `occurred_at`. The value is checked as the original field is. From its position on, every read uses \
the corrected value: the contact, the queue (due by, order), the figures, Annex A and as-of. A check corrected to \
`restricted` is hidden from then on from everyone who may not see restricted checks (the original stays in the \
log and the export; auditors see both). Checks are corrected by the returning agency's partners and decision \
makers; making a check unrestricted, and moving the time of a decision or an acceptance, by decision makers \
(admins may do both).

A contact is closed only once decided (rule `close-needs-decision`): a duplicate, wrong-service or withdrawn \
contact is decided `not_accepted` (Devon's \"None / Rejected\"), with a `rationale` and, for a duplicate, \
`duplicate_of`.";

#[derive(OpenApi)]
#[openapi(
    info(title = "frontdoor", license(name = "MIT OR Apache-2.0")),
    paths(
        super::contacts::create_contact,
        super::contacts::append_event,
        super::contacts::read_contact,
        super::contacts::read_contact_events,
        super::contacts::read_contact_audit,
        super::log::read_events,
        super::stream::events_stream,
        super::queue::read_queue,
        super::queue::queue_stream,
        super::figures::timeliness,
        super::figures::volumes,
        super::figures::practice,
        super::figures::audit_sample,
        super::figures::as_of,
        super::service::healthz,
        super::service::readyz,
        super::service::metrics,
        openapi_json,
        super::docs::docs_page,
        super::docs::docs_css,
        super::web::board,
        super::web::signin_page,
        super::web::qa,
        super::web::qa_contact,
        super::web::board_js,
        super::web::qa_js,
        super::web::style_css,
        super::web::icon_svg,
    ),
    components(schemas(Problem, ProblemFieldError, Event, EventType, Envelope, Actor, Role)),
    modifiers(&Contract),
    tags(
        (name = "contacts", description = "Receive contacts, record what happens to them, and read them back."),
        (name = "log", description = "The global event log, for integrating tools and auditors."),
        (name = "queue", description = "The live duty queue: open contacts awaiting a decision or a handover's acceptance."),
        (name = "figures", description = "Timeliness, volumes and practice figures (definitions in docs/FIGURES.md), the case-audit sample, and the state as of a past moment."),
        (name = "service", description = "Health, readiness and metrics, for operators and load balancers."),
        (name = "reference", description = "This API's own description: the OpenAPI document and this reference."),
        (name = "pages", description = "The duty board and the quality assurance pages, for people in a browser: HTML signed in with a session cookie (`POST /signin` and `POST /signout` are the pages' own form posts, not part of the API)."),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The served document: utoipa's, refined by `refine`. Built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| json!({"error": e.to_string()}));
        refine(&mut doc);
        doc
    })
}

/// The document as JSON text, built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_string_pretty(document()).unwrap_or_default())
}

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/openapi.json", axum::routing::get(openapi_json))
}

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "reference",
    operation_id = "openapi_json",
    summary = "This API's OpenAPI document",
    description = "The OpenAPI 3.1 description of this API, generated from the code. No token needed.",
    responses(
        (status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object),
    )
)]
pub async fn openapi_json() -> Response {
    let mut response = document_json().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

// ---------------------------------------------------------------------------------------
// Parameters and request bodies

/// The contact named in the path.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ContactPath {
    /// The contact's id: a ULID. Anything else is a contact that does not exist (404).
    pub id: String,
}

/// The `Idempotency-Key` header of the writes.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// Makes a write safe to repeat: a repeat with the same key and body returns the first
    /// response (with `Idempotent-Replayed: true`) and writes nothing; the same key with another
    /// body is 422. Keys are scoped to the caller and the resource. 1 to 255 visible ASCII
    /// characters; sent at most once.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")]
    pub key: Option<String>,
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
    pub expected_version: Option<u32>,
}

// ---------------------------------------------------------------------------------------
// Response bodies

/// `201` from `POST /v1/contacts`.
#[derive(Debug, ToSchema)]
pub struct ContactCreated {
    /// The new contact's id.
    pub contact_id: Ulid,
    /// The stored `contact_received` event.
    pub event: Envelope,
}

/// A contact's current state, folded from its events, as this caller may see it.
#[derive(Debug, ToSchema)]
pub struct Contact {
    pub contact_id: Ulid,
    /// The version of the last event: send it as `expected_version` to append safely.
    pub version: u32,
    pub stage: projections::contact::Stage,
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    pub source: SourceCode,
    pub referrer: Referrer,
    pub children: Vec<Child>,
    pub concerns: String,
    pub immediate_risk: bool,
    #[schema(required = true)]
    pub ppn_grade: Option<PpnGrade>,
    #[schema(required = true)]
    pub rating: Option<Rating>,
    pub consent: Consent,
    /// The decision in force, if any.
    #[schema(required = true)]
    pub decision: Option<DecisionView>,
    /// When the first decision was made (timeliness counts from it).
    #[schema(required = true)]
    pub first_decision_at: Option<DateTime<Utc>>,
    /// The latest handover, if any.
    #[schema(required = true)]
    pub handover: Option<HandoverView>,
    /// When a decision is due, by the due-by policy (working days, bank holidays).
    pub due_by: DateTime<Utc>,
    /// Open, undecided and past `due_by`.
    pub overdue: bool,
    pub closed: bool,
    #[schema(required = true)]
    pub closure: Option<ClosureView>,
    /// Agencies asked for checks.
    pub checks_requested: Vec<Agency>,
    /// Checks returned; restricted ones only for those who may see them.
    pub checks: Vec<CheckView>,
    /// How many duty discussions were held.
    pub duty_discussions: u32,
    /// How many action plans were agreed.
    pub action_plans: u32,
    #[schema(required = true)]
    pub referrer_informed_at: Option<DateTime<Utc>>,
    /// The worker on it.
    #[schema(required = true)]
    pub assigned_to: Option<String>,
}

/// The decision in force.
#[derive(Debug, ToSchema)]
#[schema(as = Decision)]
pub struct DecisionView {
    pub event_id: Ulid,
    pub outcome: Outcome,
    pub rationale: String,
    #[schema(required = true, minimum = 1, maximum = 4)]
    pub level_of_need: Option<u8>,
    #[schema(required = true)]
    pub primary_need: Option<PrimaryNeed>,
    pub decided_at: DateTime<Utc>,
    /// The actor id of the decision maker.
    pub decided_by: String,
    /// How many earlier decisions this one replaced.
    pub revisions: u32,
    /// Whether the outcome makes the contact a referral (strategy_discussion, assessment).
    pub referral: bool,
}

/// Whether a handover has been answered.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoverStatus {
    Pending,
    Accepted,
    Returned,
}

/// The latest handover.
#[derive(Debug, ToSchema)]
#[schema(as = Handover)]
pub struct HandoverView {
    pub to: HandoverTo,
    #[schema(required = true)]
    pub team: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub status: HandoverStatus,
    /// When the receiving team accepted or returned it.
    #[schema(required = true)]
    pub answered_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub accepted_team: Option<String>,
    #[schema(required = true)]
    pub worker: Option<String>,
    #[schema(required = true)]
    pub returned_reason: Option<String>,
    /// While pending: when the receiving team is due to accept it, from `sent_at` (two hours for
    /// an immediate-risk or red-rated contact, any day; else one working day; see the policy).
    #[schema(required = true)]
    pub due_by: Option<DateTime<Utc>>,
    /// Pending and past `due_by`.
    pub overdue: bool,
}

/// A returned agency check.
#[derive(Debug, ToSchema)]
#[schema(as = Check)]
pub struct CheckView {
    pub event_id: Ulid,
    pub agency: Agency,
    pub summary: String,
    pub restricted: bool,
    pub returned_at: DateTime<Utc>,
    /// The actor id who recorded it.
    pub returned_by: String,
}

/// When and why the contact was closed.
#[derive(Debug, ToSchema)]
#[schema(as = Closure)]
pub struct ClosureView {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// One read of a contact, from its access log.
#[derive(Debug, ToSchema)]
pub struct AccessEntry {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `read_contact`, `read_events` or `read_audit`.
    pub action: String,
    /// The request path.
    pub endpoint: String,
}

/// One line of a contact's audit trail: an event or a read.
#[derive(Debug, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrailEntry {
    /// An event was recorded (`at` is its `recorded_at`).
    Event { at: DateTime<Utc>, event: Envelope },
    /// Someone read the contact.
    Access { at: DateTime<Utc>, actor: Actor, action: String, endpoint: String },
}

/// A contact's audit trail.
#[derive(Debug, ToSchema)]
pub struct AuditTrail {
    pub contact_id: Ulid,
    /// The envelopes this caller may see, in version order.
    pub events: Vec<Envelope>,
    /// The access log, in time order.
    pub access: Vec<AccessEntry>,
    /// Events and reads merged, in time order.
    pub trail: Vec<TrailEntry>,
}

/// A page of the global log.
#[derive(Debug, ToSchema)]
pub struct EventsPage {
    /// Envelopes in position order (restricted checks left out for roles that may not see them).
    pub events: Vec<Envelope>,
    /// Pass as `after` for the next page; equal to `after` when there is nothing newer.
    pub next_after: u64,
}

/// `{median, p90, max}` by nearest rank, each `null` when there are no values.
#[derive(Debug, ToSchema)]
pub struct Spread {
    #[schema(required = true)]
    pub median: Option<f64>,
    #[schema(required = true)]
    pub p90: Option<f64>,
    #[schema(required = true)]
    pub max: Option<f64>,
}

/// Undecided contacts already past each share's own deadline at `judged_at`.
#[derive(Debug, ToSchema)]
pub struct UndecidedPastDue {
    /// More than 24 real hours since receipt.
    pub within_24h: u64,
    /// Past the one-working-day due time.
    pub one_working_day: u64,
    /// Past the policy's due time (the queue's "overdue" of an undecided contact).
    pub policy: u64,
}

/// Contacts whose first decision, or acceptance by the Assessment Team, was entered more than
/// the late-entry window (`late_entry_hours`, default 24) after it happened, or moved back by a
/// correction.
#[derive(Debug, ToSchema)]
pub struct RecordedLate {
    pub decisions: u64,
    pub acceptances: u64,
}

/// `200` from `GET /v1/metrics/timeliness` (every field is defined in docs/FIGURES.md).
#[derive(Debug, ToSchema)]
pub struct Timeliness {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    /// The due-by policy and calendar used.
    #[schema(value_type = Object)]
    pub policy: Value,
    pub contacts: u64,
    pub decided: u64,
    pub undecided: u64,
    /// The moment the undecided contacts were judged at: now, or the as-of moment.
    pub judged_at: DateTime<Utc>,
    pub undecided_past_due: UndecidedPastDue,
    pub decided_within_24h: u64,
    pub decided_within_one_working_day: u64,
    pub decided_within_policy: u64,
    /// `decided_within_24h / (decided + undecided_past_due.within_24h)`.
    #[schema(required = true)]
    pub share_within_24h: Option<f64>,
    /// `decided_within_one_working_day / (decided + undecided_past_due.one_working_day)`.
    #[schema(required = true)]
    pub share_within_one_working_day: Option<f64>,
    /// `decided_within_policy / (decided + undecided_past_due.policy)`.
    #[schema(required = true)]
    pub share_within_policy: Option<f64>,
    pub decision_hours: Spread,
    pub decision_working_days: Spread,
    pub recorded_late: RecordedLate,
    /// Received → accepted by the Assessment Team, for referrals.
    #[schema(value_type = Object)]
    pub to_assessment_team: Value,
    pub by_week: Vec<TimelinessWeek>,
}

/// One ISO week of [`Timeliness`].
#[derive(Debug, ToSchema)]
pub struct TimelinessWeek {
    /// e.g. `2026-W09`.
    pub week: String,
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    pub contacts: u64,
    pub decided: u64,
    pub undecided_past_due: UndecidedPastDue,
    pub decided_within_24h: u64,
    pub decided_within_one_working_day: u64,
    pub decided_within_policy: u64,
    pub decision_hours: Spread,
    pub recorded_late: RecordedLate,
    #[schema(value_type = Object)]
    pub to_assessment_team: Value,
}

/// The volume counts of a week or of the whole period (docs/FIGURES.md, Volumes).
#[derive(Debug, ToSchema)]
pub struct VolumeCounts {
    pub contacts: u64,
    pub children: u64,
    #[schema(value_type = Object)]
    pub by_channel: Value,
    #[schema(value_type = Object)]
    pub by_source: Value,
    #[schema(value_type = Object)]
    pub by_weekday: Value,
    /// By the decision in force (`not_accepted` among them), and `undecided`.
    #[schema(value_type = Object)]
    pub outcomes: Value,
    pub decided: u64,
    /// Decision in force `strategy_discussion` or `assessment`.
    pub referrals: u64,
    /// `referrals / contacts`.
    #[schema(required = true)]
    pub conversion_rate: Option<f64>,
    /// Decided contacts that met the threshold: the referrals.
    pub threshold_met: u64,
    /// `threshold_met / decided`, `not_accepted` decisions included in `decided`.
    #[schema(required = true)]
    pub threshold_met_share: Option<f64>,
    /// Decided contacts whose decision in force gives a level of need of 3 or 4.
    pub level_3_or_4: u64,
    /// `level_3_or_4 / decided`.
    #[schema(required = true)]
    pub level_3_or_4_share: Option<f64>,
    pub level_of_need_not_recorded: u64,
    pub re_contacts: u64,
}

/// One ISO week of [`Volumes`].
#[derive(Debug, ToSchema)]
pub struct VolumeWeek {
    pub week: String,
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    #[serde(flatten)]
    pub counts: VolumeCounts,
}

/// `200` from `GET /v1/metrics/volumes`.
#[derive(Debug, ToSchema)]
pub struct Volumes {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    pub by_week: Vec<VolumeWeek>,
    pub totals: VolumeCounts,
}

/// Whether a sampled contact's first decision and acceptance were recorded late.
#[derive(Debug, ToSchema)]
pub struct SampleRecordedLate {
    pub decision: bool,
    pub acceptance: bool,
}

/// One contact of the audit sample.
#[derive(Debug, ToSchema)]
pub struct SampleContact {
    pub contact_id: Ulid,
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    pub source: SourceCode,
    #[schema(required = true)]
    pub outcome: Option<Outcome>,
    #[schema(required = true)]
    pub first_decision_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub level_of_need: Option<u8>,
    pub revisions: u32,
    pub closed: bool,
    pub recorded_late: SampleRecordedLate,
}

/// `200` from `GET /v1/audit/sample`.
#[derive(Debug, ToSchema)]
pub struct AuditSample {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    pub n: u32,
    pub seed: u64,
    /// Whether the sample was drawn only from the contacts recorded late.
    pub recorded_late: bool,
    /// In order of receipt.
    pub contacts: Vec<SampleContact>,
}

/// The process is up.
#[derive(Debug, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// The log is open and the read models have caught up.
#[derive(Debug, ToSchema)]
pub struct Readiness {
    /// `ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// The position of the last durable event.
    pub log_position: u64,
}

// ---------------------------------------------------------------------------------------
// Problems

/// An error, as `application/problem+json` (RFC 9457).
#[derive(Debug, ToSchema)]
pub struct Problem {
    /// The problem type: `/docs#problem-<slug>`, a section of the API reference.
    #[schema(format = "uri-reference", example = "/docs#problem-validation")]
    pub r#type: String,
    /// A short summary of the problem type; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong this time, for a person to read.
    pub detail: String,
    /// 422 and some 400s: the fields at fault, by path (`children[0].date_of_birth`).
    pub errors: Option<Vec<ProblemFieldError>>,
    /// 409: the contact's version now.
    pub current_version: Option<u32>,
    /// 422 `case-rule`: the name of the rule the event would break (see `/docs#rules`).
    pub rule: Option<String>,
}

/// One field of a request at fault.
#[derive(Debug, ToSchema)]
#[schema(as = FieldError)]
pub struct ProblemFieldError {
    /// The field's path: `children[0].date_of_birth`, `data.rationale`, `Idempotency-Key`.
    pub field: String,
    pub message: String,
}

/// A problem type the API answers with: one per [`ApiError`] variant.
#[derive(Debug)]
pub struct ProblemType {
    /// `type` is `/docs#problem-<slug>`.
    pub slug: &'static str,
    pub status: u16,
    pub title: &'static str,
    /// When it happens and what to do about it.
    pub explanation: &'static str,
    /// An error of this type, for the example.
    pub example: fn() -> ApiError,
}

/// The apology an internal error shows instead of its cause.
const INTERNAL_DETAIL: &str = "Something went wrong on our side; it has been logged. Quote the x-request-id header.";

/// Every problem type, in status order.
pub const PROBLEMS: &[ProblemType] = &[
    ProblemType {
        slug: "bad-request",
        status: 400,
        title: "Bad request",
        explanation: "The request is not well-formed: the body is not JSON (or not a JSON object), a query \
            parameter has a bad value, or the Idempotency-Key header is malformed or repeated. `errors` names \
            the parameter when there is one. Fix the request; repeating it unchanged will fail again.",
        example: || ApiError::bad_param("limit", format!("must be 1 to {}", super::log::MAX_LIMIT)),
    },
    ProblemType {
        slug: "unauthenticated",
        status: 401,
        title: "Authentication required",
        explanation: "No token was sent, the Authorization header is not `Bearer <token>`, or the token is \
            unknown or revoked. The response carries `WWW-Authenticate: Bearer`. Ask an administrator for a token.",
        example: || ApiError::Unauthenticated("unknown or revoked token".into()),
    },
    ProblemType {
        slug: "forbidden",
        status: 403,
        title: "Not allowed for this role",
        explanation: "The token is valid, but its role may not do this: for example a referrer reading a contact, \
            a practitioner recording a decision, or a partner returning checks for another agency. The roles \
            allowed are listed with each endpoint.",
        example: || ApiError::Forbidden("a practitioner may not append decision_made".into()),
    },
    ProblemType {
        slug: "not-found",
        status: 404,
        title: "Not found",
        explanation: "No contact has this id (ids are ULIDs: 26 characters of Crockford base32), or no endpoint \
            has this path.",
        example: || ApiError::NotFound("no contact 01J00000000000000000000000".into()),
    },
    ProblemType {
        slug: "method-not-allowed",
        status: 405,
        title: "Method not allowed",
        explanation: "The path exists but does not take this method; the `Allow` header lists those it takes.",
        example: || ApiError::MethodNotAllowed,
    },
    ProblemType {
        slug: "version-conflict",
        status: 409,
        title: "Version conflict",
        explanation: "`expected_version` did not match the contact's version: someone else recorded something on \
            the contact since you read it. Nothing was written. `current_version` gives the version now: read the \
            contact again, check the new events still allow what you meant to record, and retry with it.",
        example: || ApiError::Conflict { expected: 3, current_version: 4 },
    },
    ProblemType {
        slug: "payload-too-large",
        status: 413,
        title: "Request body too large",
        explanation: "The body is over the limit (64 KiB unless the service is configured otherwise). Nothing \
            was written. Long text belongs in a case management system, not the front door log.",
        example: || ApiError::PayloadTooLarge { limit: 65_536 },
    },
    ProblemType {
        slug: "unsupported-media-type",
        status: 415,
        title: "Unsupported media type",
        explanation: "The body was sent with a Content-Type that is not JSON. Send \
            `Content-Type: application/json` (or leave it out).",
        example: || {
            ApiError::UnsupportedMediaType("send JSON with Content-Type: application/json (got \"text/plain\")".into())
        },
    },
    ProblemType {
        slug: "validation",
        status: 422,
        title: "Invalid request",
        explanation: "The body is JSON but its fields are wrong: unknown, missing, of the wrong type, an unknown \
            value, too long, out of range, or against a field rule (an NHS number's check digit, a consent \
            override without a reason). A name (a child's, the referrer's, a discussion participant's) may not \
            hold a bidirectional override or isolate character (U+202A to U+202E, U+2066 to U+2069), which would \
            show it otherwise than it is stored, and must have a visible character, not only invisible ones such \
            as zero-width spaces. `errors` lists every field at fault by path, so all can be fixed at once.",
        example: || {
            ApiError::fields(
                "children[0].nhs_number: not a valid NHS number (check digit)",
                vec![FieldError::new("children[0].nhs_number", "not a valid NHS number (check digit)")],
            )
        },
    },
    ProblemType {
        slug: "case-rule",
        status: 422,
        title: "Case rule broken",
        explanation: "The event is well-formed but the case flow does not allow it now: for example a handover \
            before a decision, or closing a contact whose handover is pending. `rule` names the rule (listed \
            below); nothing was written.",
        example: || ApiError::RuleBroken { rule: "needs-decision", detail: "a handover needs a decision first".into() },
    },
    ProblemType {
        slug: "idempotency-key-reused",
        status: 422,
        title: "Idempotency key reused",
        explanation: "This Idempotency-Key was used before, by the same caller on the same resource, with a \
            different body. Nothing was written. Use a new key for a new request; repeat a request only with \
            its exact body.",
        example: || ApiError::IdempotencyMismatch,
    },
    ProblemType {
        slug: "internal",
        status: 500,
        title: "Internal error",
        explanation: "Something failed inside the service. The cause is logged, never shown; quote the \
            `x-request-id` response header when reporting it.",
        example: || ApiError::Internal("example".into()),
    },
    ProblemType {
        slug: "unavailable",
        status: 503,
        title: "Service unavailable",
        explanation: "The log cannot take writes just now (the disk is full, a write could not be made durable, \
            or the service is shutting down). Nothing was written; reads keep working. Retry later, with the \
            same Idempotency-Key.",
        example: || ApiError::Unavailable("the service is shutting down".into()),
    },
];

impl ProblemType {
    /// The problem type's `type` member.
    pub fn type_uri(&self) -> String {
        format!("/docs#problem-{}", self.slug)
    }

    /// The body the API sends for [`ProblemType::example`].
    pub fn example_body(&self) -> Value {
        let error = (self.example)();
        let detail = match &error {
            ApiError::Internal(_) => INTERNAL_DETAIL.to_owned(),
            other => other.to_string(),
        };
        let mut body = json!({"type": self.type_uri(), "title": self.title, "status": self.status, "detail": detail});
        match &error {
            ApiError::BadRequest { errors, .. } | ApiError::Unprocessable { errors, .. } if !errors.is_empty() => {
                body["errors"] = json!(errors);
            }
            ApiError::Conflict { current_version, .. } => body["current_version"] = json!(current_version),
            ApiError::RuleBroken { rule, .. } => body["rule"] = json!(rule),
            _ => {}
        }
        body
    }

    pub fn by_slug(slug: &str) -> Option<&'static ProblemType> {
        PROBLEMS.iter().find(|p| p.slug == slug)
    }
}

/// The error responses of one operation: `(status, description, problem slugs)`.
type ErrorTable = &'static [(u16, &'static str, &'static [&'static str])];

fn problem_responses(table: ErrorTable) -> BTreeMap<String, RefOr<OaResponse>> {
    table
        .iter()
        .map(|(status, description, slugs)| {
            let examples = slugs.iter().filter_map(|slug| ProblemType::by_slug(slug)).map(|p| {
                (p.slug.to_owned(), ExampleBuilder::new().summary(p.title).value(Some(p.example_body())).build())
            });
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .examples_from_iter(examples)
                .build();
            let mut response = ResponseBuilder::new().description(*description).content(PROBLEM_JSON, content);
            if *status == 401 {
                let challenge = HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("`Bearer`"))
                    .build();
                response = response.header("WWW-Authenticate", challenge);
            }
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

const BAD_BODY: (u16, &str, &[&str]) = (
    400,
    "Malformed JSON, a body that is not a JSON object, or a malformed or repeated Idempotency-Key header.",
    &["bad-request"],
);
const NO_TOKEN: (u16, &str, &[&str]) = (401, "No token, or an unknown one.", &["unauthenticated"]);
const TOO_LARGE: (u16, &str, &[&str]) =
    (413, "The body is over the limit (64 KiB by default).", &["payload-too-large"]);
const NOT_JSON: (u16, &str, &[&str]) = (415, "The Content-Type is not JSON.", &["unsupported-media-type"]);
const INTERNAL: (u16, &str, &[&str]) = (500, "Something failed inside the service; it is logged.", &["internal"]);
const UNAVAILABLE: (u16, &str, &[&str]) = (
    503,
    "The log cannot take writes just now; nothing was written. Retry with the same Idempotency-Key.",
    &["unavailable"],
);

/// Errors of `POST /v1/contacts`.
#[derive(Debug)]
pub struct CreateContactErrors;

impl IntoResponses for CreateContactErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            BAD_BODY,
            NO_TOKEN,
            (403, "The role may not create contacts.", &["forbidden"]),
            TOO_LARGE,
            NOT_JSON,
            (
                422,
                "A field is invalid, unknown or missing (`errors` lists them all), or the Idempotency-Key was \
                 used before with another body.",
                &["validation", "idempotency-key-reused"],
            ),
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}

/// Errors of `POST /v1/contacts/{id}/events`.
#[derive(Debug)]
pub struct AppendEventErrors;

impl IntoResponses for AppendEventErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            BAD_BODY,
            NO_TOKEN,
            (
                403,
                "The role may not append this type of event (or any), or a partner returned checks for another \
                 agency.",
                &["forbidden"],
            ),
            (404, "No such contact.", &["not-found"]),
            (
                409,
                "`expected_version` is not the contact's version; `current_version` says what it is. Nothing \
                 was written.",
                &["version-conflict"],
            ),
            TOO_LARGE,
            NOT_JSON,
            (
                422,
                "A field is invalid, unknown or missing (`errors`), a case rule forbids the event now (`rule`), \
                 or the Idempotency-Key was used before with another body.",
                &["validation", "case-rule", "idempotency-key-reused"],
            ),
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}

/// Errors of the reads of one contact.
#[derive(Debug)]
pub struct ReadContactErrors;

impl IntoResponses for ReadContactErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            NO_TOKEN,
            (403, "The role may not read this.", &["forbidden"]),
            (404, "No such contact.", &["not-found"]),
            INTERNAL,
        ])
    }
}

/// Errors of `GET /v1/events`.
#[derive(Debug)]
pub struct ReadLogErrors;

impl IntoResponses for ReadLogErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (400, "`after` or `limit` is not a number in range.", &["bad-request"]),
            NO_TOKEN,
            (403, "The role may not read the global log.", &["forbidden"]),
            INTERNAL,
        ])
    }
}

/// Errors of the read models' endpoints (queue, streams, figures, as-of).
#[derive(Debug)]
pub struct LiveReadErrors;

impl IntoResponses for LiveReadErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (400, "A query parameter or `Last-Event-ID` is malformed; `errors` names it.", &["bad-request"]),
            NO_TOKEN,
            (403, "The role may not read this.", &["forbidden"]),
            (
                503,
                "The read models are still being rebuilt from the log after a start (see /readyz).",
                &["unavailable"],
            ),
            INTERNAL,
        ])
    }
}

/// Errors any endpoint can answer with.
#[derive(Debug)]
pub struct InternalErrors;

impl IntoResponses for InternalErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[INTERNAL])
    }
}

// ---------------------------------------------------------------------------------------
// What the attributes cannot say

/// Fills in what comes from other code than the handlers: the version, the description,
/// the security scheme, and who may call each operation.
#[derive(Debug)]
struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut Document) {
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.info.description = Some(DESCRIPTION.to_owned());
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("opaque")
                    .description(Some(
                        "`Authorization: Bearer <token>`. An administrator issues tokens with `frontdoor token \
                         create`; each maps to an actor: an id, a role and an agency.",
                    ))
                    .build(),
            ),
        );
        roles(doc);
    }
}

fn role_list(allowed: impl Fn(Role) -> bool) -> String {
    let names: Vec<String> = Role::ALL.iter().copied().filter(|r| allowed(*r)).map(|r| format!("`{r}`")).collect();
    if names.is_empty() { "nobody".to_owned() } else { names.join(", ") }
}

fn operation<'a>(doc: &'a mut Document, path: &str, post: bool) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(path)?;
    if post { item.post.as_mut() } else { item.get.as_mut() }
}

fn add_description(doc: &mut Document, path: &str, post: bool, text: &str) {
    if let Some(op) = operation(doc, path, post) {
        let description = op.description.get_or_insert_with(String::new);
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(text);
    }
}

/// Adds who may call each operation that needs a token, from [`crate::auth`].
fn roles(doc: &mut Document) {
    add_description(doc, "/v1/contacts", true, &format!("Roles: {}.", role_list(auth::may_create_contact)));
    let mut by_type = String::from("Roles, by event type:\n");
    for t in EventType::ALL.iter().filter(|t| **t != EventType::ContactReceived) {
        by_type.push_str(&format!("\n- `{t}`: {}", role_list(|r| auth::may_append(r, *t))));
    }
    by_type.push_str(
        "\n\nA `partner` returns checks only for their own agency. A `receiving_team` appends only to the contacts \
         whose latest handover names its team (others: 404). A handover to the `assessment_team` or `early_help` \
         is accepted or returned only by the `receiving_team` it names or an `admin` (others: 403); a `practitioner` \
         or `decision_maker` answers the other handovers, an acceptance with `evidence`.",
    );
    add_description(doc, "/v1/contacts/{id}/events", true, &by_type);
    for (path, what) in [
        ("/v1/contacts/{id}", ReadKind::Contact),
        ("/v1/contacts/{id}/events", ReadKind::ContactEvents),
        ("/v1/contacts/{id}/audit", ReadKind::ContactAudit),
        ("/v1/events", ReadKind::GlobalEvents),
        ("/v1/events/stream", ReadKind::GlobalEvents),
        ("/v1/queue", ReadKind::Queue),
        ("/v1/queue/stream", ReadKind::Queue),
        ("/v1/metrics/timeliness", ReadKind::Metrics),
        ("/v1/metrics/volumes", ReadKind::Metrics),
        ("/v1/metrics/practice", ReadKind::Metrics),
        ("/v1/audit/sample", ReadKind::AuditSample),
        ("/v1/as-of", ReadKind::AsOf),
    ] {
        let scoped = match what {
            ReadKind::Contact | ReadKind::ContactEvents => {
                " A `receiving_team` reads only the contacts whose latest handover names its team (others: 404)."
            }
            ReadKind::Queue => " A `receiving_team` sees its own pending handovers, and only those.",
            _ => "",
        };
        add_description(doc, path, false, &format!("Roles: {}.{scoped}", role_list(|r| auth::may_read(r, what))));
    }
}

/// What is refined in the JSON: request bodies closed to unknown fields, and the contract's
/// limits on fields (from the schema's shapes, which utoipa's derive does not read) and the rule notes.
fn refine(doc: &mut Value) {
    // A parameter is absent or has a value: never JSON `null`, which utoipa allows for `Option`.
    for item in doc.get_mut("paths").and_then(Value::as_object_mut).into_iter().flat_map(|p| p.values_mut()) {
        for op in item.as_object_mut().into_iter().flat_map(|i| i.values_mut()) {
            for param in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(Value::Array(types)) = param.pointer_mut("/schema/type") {
                    types.retain(|t| t != "null");
                    if let [only] = types.as_slice() {
                        let only = only.clone();
                        param["schema"]["type"] = only;
                    }
                }
            }
        }
    }
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    for (name, values) in wire_enums() {
        if let Some(schema) = schemas.get_mut(name) {
            schema["enum"] = Value::Array(values);
        }
    }
    if let Some(description) = schemas.get_mut("SourceCode").and_then(|s| s.get_mut("description")) {
        let mut text = description.as_str().unwrap_or_default().to_owned();
        text.push('\n');
        for code in SourceCode::ALL {
            text.push_str(&format!("\n- `{code}`: {}", code.description()));
        }
        *description = text.into();
    }
    // Every limit finds its field: a unit test holds `limits` to that.
    limits(schemas);
    close_flattened(schemas, "NewContact");
    close_flattened(schemas, "NewEvent");
    close_flattened(schemas, "VolumeWeek");
    // Only NewEvent used it, and it now holds its alternatives itself.
    schemas.remove("AppendableEvent");
    if let Some(data) = schemas.get_mut("Envelope").and_then(|e| e.pointer_mut("/properties/data/description")) {
        *data = json!("The event's data: its schema is the one the `type` names (see `Event`).");
    }
}

/// The event schema's enumerations, each value as serde writes it. utoipa's derive names them
/// by their Rust variants instead: it does not see the `#[serde(rename = ...)]` that
/// `eventlog`'s `string_enum!` macro puts on each.
fn wire_enums() -> Vec<(&'static str, Vec<Value>)> {
    fn values<T: serde::Serialize>(all: &[T]) -> Vec<Value> {
        all.iter().map(|v| serde_json::to_value(v).unwrap_or(Value::Null)).collect()
    }
    macro_rules! wire {
        ($($t:ident),+ $(,)?) => { vec![$((stringify!($t), values($t::ALL))),+] };
    }
    wire!(
        EventType,
        Channel,
        SourceCode,
        Sex,
        Consent,
        PpnGrade,
        Rating,
        CallDirection,
        CallWith,
        Agency,
        Outcome,
        PrimaryNeed,
        InformMethod,
        HandoverTo,
        AuditGrade,
        Role,
    )
}

/// A body with `#[serde(flatten)]` comes out of utoipa as `allOf: [the flattened, the rest]`,
/// which cannot say that unknown fields are refused: `additionalProperties: false` on one part
/// would refuse the other's fields. This merges the parts into one closed object, or, when the
/// flattened part is a `oneOf`, into a `oneOf` of closed objects.
fn close_flattened(schemas: &mut Map<String, Value>, name: &str) {
    let Some(parts) = schemas.get(name).and_then(|s| s.get("allOf")).and_then(Value::as_array) else { return };
    let resolve = |part: &Value| match part.get("$ref").and_then(Value::as_str) {
        Some(r) => schemas.get(r.trim_start_matches("#/components/schemas/")).cloned().unwrap_or(Value::Null),
        None => part.clone(),
    };
    let parts: Vec<Value> = parts.iter().map(resolve).collect();
    let (choices, fixed): (Vec<Value>, Vec<Value>) = parts.into_iter().partition(|p| p.get("oneOf").is_some());
    let description = schemas[name].get("description").cloned();
    let mut closed = match choices.first().and_then(|c| c.get("oneOf")).and_then(Value::as_array) {
        Some(alternatives) => json!({
            "oneOf": alternatives.iter().map(|alt| merge_objects(std::iter::once(alt).chain(&fixed))).collect::<Vec<_>>()
        }),
        None => merge_objects(fixed.iter()),
    };
    if let Some(description) = description {
        closed["description"] = description;
    }
    schemas.insert(name.to_owned(), closed);
}

/// One object with every part's properties and required fields, and no others.
fn merge_objects<'a>(parts: impl Iterator<Item = &'a Value>) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for part in parts {
        if let Some(props) = part.get("properties").and_then(Value::as_object) {
            properties.extend(props.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for r in part.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
    }
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

/// A limit on a field, as [`crate::validate`] enforces it.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// A short string (names, roles, teams): one line, at most [`validate::SHORT_MAX`].
    Short,
    /// Free text: at most [`validate::LONG_MAX`], line breaks and tabs allowed.
    Long,
    /// A list's length.
    Items(usize, usize),
    /// Anything else, as JSON Schema keywords and a sentence.
    Other(&'static str, fn() -> Value),
}

/// Every limit: first those the schema's own shapes give ([`events::shape`], every event's
/// `data` and the objects inside it), then [`NOTES`]. `(schema, property path, limit)`; a
/// required string also gets `minLength: 1`.
fn all_limits() -> Vec<(&'static str, String, Limit)> {
    struct ShapeOf;
    impl DataVisitor for ShapeOf {
        type Output = Shape;
        fn visit<D: EventData>(self) -> Shape {
            D::SHAPE
        }
    }
    let mut out = Vec::new();
    for t in EventType::ALL {
        shape_limits(&t.with_data(ShapeOf), &mut out);
    }
    out.extend(NOTES.iter().map(|(schema, path, limit)| (*schema, (*path).to_owned(), *limit)));
    out
}

/// The limits of an object's fields, and of the objects inside it, each schema once.
fn shape_limits(shape: &Shape, out: &mut Vec<(&'static str, String, Limit)>) {
    let Shape::Object { name, fields } = *shape else { return };
    if out.iter().any(|(schema, _, _)| *schema == name) {
        return;
    }
    for field in fields {
        let limit = match field.shape {
            Shape::Text(text) => text_limit(text),
            Shape::Seconds => Limit::Other("At most a day.", || json!({"maximum": validate::MAX_CALL_SECONDS})),
            Shape::LevelOfNeed => Limit::Other("1 to 4.", || json!({"minimum": 1, "maximum": 4})),
            Shape::List { item, min, max } => {
                out.push((name, field.name.to_owned(), Limit::Items(min, max)));
                if let Shape::Text(text) = *item {
                    out.push((name, format!("{}/items", field.name), text_limit(text)));
                }
                shape_limits(item, out);
                continue;
            }
            Shape::Object { .. } => {
                shape_limits(&field.shape, out);
                continue;
            }
            _ => continue,
        };
        out.push((name, field.name.to_owned(), limit));
    }
}

/// The limit and format of a kind of string.
fn text_limit(text: Text) -> Limit {
    match text {
        Text::Short | Text::Name => Limit::Short,
        Text::Long => Limit::Long,
        Text::Phone => Limit::Other(
            "Digits, spaces, `+`, `(`, `)` and `-`, with 7 to 20 digits.",
            || json!({"pattern": "^[0-9 +()-]+$", "maxLength": validate::SHORT_MAX}),
        ),
        Text::Email => {
            Limit::Other("An email address.", || json!({"format": "email", "maxLength": validate::EMAIL_MAX}))
        }
        Text::NhsNumber => Limit::Other(
            "Ten digits, no spaces, with a valid check digit (modulus 11).",
            || json!({"pattern": "^[0-9]{10}$"}),
        ),
        Text::Upn => Limit::Other(
            "A Unique Pupil Number: 13 characters, upper case, starting with the DfE check letter.",
            || json!({"pattern": "^[A-Z][0-9]{11}[0-9A-Z]$"}),
        ),
    }
}

/// What the rules add to a field beyond its shape, in words: `(schema, property, note)`.
const NOTES: &[(&str, &str, Limit)] = &[
    (
        "Child",
        "date_of_birth",
        Limit::Other(
            "Not in the future, not more than 25 years ago. An unborn child has `expected_date_of_birth` instead.",
            || json!({}),
        ),
    ),
    (
        "Child",
        "expected_date_of_birth",
        Limit::Other(
            "An unborn child's expected date of birth, instead of `date_of_birth` (never both), with `sex` `U` or none: \
             up to 280 days ahead, at most 366 days ago.",
            || json!({}),
        ),
    ),
    (
        "ContactReceived",
        "consent_override_reason",
        Limit::Other("Required when `consent` is `overridden`, and only then.", || json!({})),
    ),
    ("ContactReceived", "ppn_grade", Limit::Other("Only when `channel` is `police_notification`.", || json!({}))),
    ("ContactReceived", "immediate_risk", Limit::Other("", || json!({"default": false}))),
    ("ContactReceived", "consent", Limit::Other("", || json!({"default": "unknown"}))),
    (
        "CallLogged",
        "started_at",
        Limit::Other("Not before 2000, not more than five minutes in the future.", || json!({})),
    ),
    ("ChecksReturned", "restricted", Limit::Other("", || json!({"default": false}))),
    ("ConsentRecorded", "reason", Limit::Other("Required when `consent` is `overridden`.", || json!({}))),
    (
        "DecisionMade",
        "revises",
        Limit::Other(
            "Required on every decision after the first: the decision in force, and why. A revision may not be dated \
             before the decision it revises (rule `revision-predates-decision`).",
            || json!({}),
        ),
    ),
    (
        "DecisionMade",
        "duplicate_of",
        Limit::Other(
            "Only with outcome `not_accepted`: the contact this one duplicates (another contact that exists, else 422 \
             rule `duplicate-of-unknown-contact`).",
            || json!({}),
        ),
    ),
    ("PlannedAction", "due", Limit::Other("Not before 2000.", || json!({}))),
    (
        "HandoverSent",
        "team",
        Limit::Other(
            "Required when `to` is `assessment_team` or `early_help` (rule `handover-needs-team`): only that team's \
             `receiving_team` tokens (or an admin) may accept or return the handover. At most 200 characters.",
            || json!({}),
        ),
    ),
    (
        "HandoverAccepted",
        "evidence",
        Limit::Other(
            "How the acceptance was confirmed: required when a `practitioner` or `decision_maker` records it (for a \
             handover to `community`, `tafso`, `allocated_worker` or `other`; rule `acceptance-needs-evidence`).",
            || json!({}),
        ),
    ),
    (
        "CorrectionRecorded",
        "field",
        Limit::Other(
            "The corrected field, written as error paths are. `contact_received`: `children[i].name`, \
             `children[i].date_of_birth`, `children[i].sex`, `children[i].nhs_number`, `children[i].upn`, \
             `children[i].ethnicity`, `immediate_risk`, `consent`; `consent_recorded`: `consent`; `checks_returned`: \
             `restricted`, `summary`; any event: `occurred_at`. Anything else is 422 (rule \
             `correction-field-not-correctable`).",
            || json!({}),
        ),
    ),
    (
        "CorrectionRecorded",
        "value",
        Limit::Other(
            "The new value, validated as the corrected field is (`null` clears an optional child field); at most \
             10 000 bytes as compact JSON.",
            || json!({}),
        ),
    ),
];

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// Writes [`all_limits`] into the schemas; returns the paths it could not find.
fn limits(schemas: &mut Map<String, Value>) -> Vec<String> {
    let mut missing = Vec::new();
    for (schema, path, limit) in all_limits() {
        let path = path.as_str();
        let (field, below) = path.split_once('/').unwrap_or((path, ""));
        let required = schemas
            .get(schema)
            .and_then(|s| s.get("required"))
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|f| f == field));
        let pointer = if below.is_empty() { format!("/{field}") } else { format!("/{field}/{below}") };
        let Some(target) = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.pointer_mut(&pointer))
            .and_then(Value::as_object_mut)
        else {
            missing.push(format!("{schema}.{path}"));
            continue;
        };
        // A required string must not be empty; an optional one that is empty is taken as absent.
        let not_empty = if required || !below.is_empty() { json!({"minLength": 1}) } else { json!({}) };
        let (sentence, keywords) = match limit {
            Limit::Short => ("One line.", merge(json!({"maxLength": validate::SHORT_MAX}), not_empty)),
            Limit::Long => ("", merge(json!({"maxLength": validate::LONG_MAX}), not_empty)),
            Limit::Items(min, max) => ("", json!({"minItems": min, "maxItems": max})),
            Limit::Other(sentence, keywords) => (sentence, keywords()),
        };
        for (k, v) in keywords.as_object().into_iter().flatten() {
            target.insert(k.clone(), v.clone());
        }
        if !sentence.is_empty() {
            let description = match target.get("description").and_then(Value::as_str) {
                Some(d) => format!("{d} {sentence}"),
                None => sentence.to_owned(),
            };
            target.insert("description".into(), description.into());
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn doc() -> &'static Value {
        document()
    }

    fn op(path: &str, method: &str) -> &'static Value {
        doc()
            .pointer(&format!("/paths/{}/{method}", path.replace('~', "~0").replace('/', "~1")))
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
    }

    fn all_ops() -> Vec<(String, String, &'static Value)> {
        let mut ops = Vec::new();
        for (path, item) in doc()["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ops.push((path.clone(), method.clone(), op));
            }
        }
        ops
    }

    /// Every string value of `key` anywhere in `value`.
    fn collect<'a>(value: &'a Value, key: &str, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == key {
                        if let Some(s) = v.as_str() {
                            out.push(s);
                        }
                    }
                    collect(v, key, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, key, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_serialises_as_openapi_3_1() {
        let text = document_json();
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(&parsed, doc());
        assert_eq!(parsed["openapi"], "3.1.0");
        assert_eq!(parsed["info"]["title"], "frontdoor");
        assert_eq!(parsed["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(parsed["info"]["description"].as_str().unwrap().contains("Bearer"));
        assert!(parsed.get("error").is_none());
    }

    #[test]
    fn every_reference_resolves() {
        let mut refs = Vec::new();
        collect(doc(), "$ref", &mut refs);
        assert!(refs.len() > 50);
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
            assert!(doc().pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn operations_are_well_formed() {
        let mut ids = BTreeSet::new();
        for (path, method, op) in all_ops() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id), "operationId {id} twice");
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
            assert!(op["tags"][0].is_string(), "{method} {path} has no tag");
            // Every {name} in the path is a required path parameter, and nothing else is.
            let template: BTreeSet<&str> = path.split('{').skip(1).filter_map(|rest| rest.split('}').next()).collect();
            let params = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            let in_path: BTreeSet<&str> =
                params.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect();
            assert_eq!(template, in_path.iter().copied().collect(), "{method} {path}");
            for p in params.iter().filter(|p| p["in"] == "path") {
                assert_eq!(p["required"], true, "{method} {path}");
            }
            for p in &params {
                assert!(!p["schema"]["type"].to_string().contains("null"), "{method} {path} {}", p["name"]);
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path} has no success");
            for (status, response) in responses {
                assert!(response["description"].is_string(), "{method} {path} {status}");
                if status.as_str() >= "400" {
                    let content = response["content"].as_object().unwrap();
                    assert_eq!(content.keys().collect::<Vec<_>>(), [PROBLEM_JSON], "{method} {path} {status}");
                    assert_eq!(
                        content[PROBLEM_JSON]["schema"]["$ref"], "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }

    /// The statuses API.md gives each endpoint (and the ones the server adds: 415, 500, 503).
    #[test]
    fn each_path_documents_the_contracts_statuses() {
        let contract: &[(&str, &str, &[u16])] = &[
            ("/v1/contacts", "post", &[201, 400, 401, 403, 413, 415, 422, 500, 503]),
            ("/v1/contacts/{id}/events", "post", &[201, 400, 401, 403, 404, 409, 413, 415, 422, 500, 503]),
            ("/v1/contacts/{id}", "get", &[200, 401, 403, 404, 500]),
            ("/v1/contacts/{id}/events", "get", &[200, 401, 403, 404, 500]),
            ("/v1/contacts/{id}/audit", "get", &[200, 401, 403, 404, 500]),
            ("/v1/events", "get", &[200, 400, 401, 403, 500]),
            ("/v1/events/stream", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/queue", "get", &[200, 304, 400, 401, 403, 500, 503]),
            ("/v1/queue/stream", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/metrics/timeliness", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/metrics/volumes", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/metrics/practice", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/audit/sample", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/as-of", "get", &[200, 400, 401, 403, 500, 503]),
            ("/healthz", "get", &[200]),
            ("/readyz", "get", &[200, 503]),
            ("/metrics", "get", &[200, 500]),
            ("/openapi.json", "get", &[200]),
            ("/docs", "get", &[200]),
            ("/docs/style.css", "get", &[200]),
            ("/", "get", &[200, 303]),
            ("/signin", "get", &[200]),
            ("/qa", "get", &[200, 303]),
            ("/qa/contacts/{id}", "get", &[200, 303]),
            ("/assets/board.js", "get", &[200]),
            ("/assets/qa.js", "get", &[200]),
            ("/assets/style.css", "get", &[200]),
            ("/assets/icon.svg", "get", &[200]),
        ];
        for (path, method, statuses) in contract {
            let documented: BTreeSet<u16> =
                op(path, method)["responses"].as_object().unwrap().keys().map(|s| s.parse().unwrap()).collect();
            let expected: BTreeSet<u16> = statuses.iter().copied().collect();
            assert_eq!(documented, expected, "{method} {path}");
        }
        assert_eq!(all_ops().len(), contract.len(), "an operation without a line here");
    }

    #[test]
    fn the_api_needs_a_bearer_token_and_the_service_endpoints_do_not() {
        let scheme = &doc()["components"]["securitySchemes"][BEARER];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        for (path, method, op) in all_ops() {
            let security = op.get("security").cloned().unwrap_or(Value::Null);
            if path.starts_with("/v1/") {
                assert_eq!(security, json!([{BEARER: []}]), "{method} {path}");
                assert!(op["responses"].get("401").is_some(), "{method} {path}");
                assert!(op["description"].as_str().unwrap().contains("Roles"), "{method} {path}");
            } else {
                assert_eq!(security, Value::Null, "{method} {path}");
            }
        }
        assert!(doc().get("security").is_none(), "no global requirement: the service endpoints are public");
    }

    #[test]
    fn roles_come_from_the_permission_table() {
        let append = op("/v1/contacts/{id}/events", "post")["description"].as_str().unwrap();
        assert!(append.contains("- `decision_made`: `decision_maker`, `admin`\n"), "{append}");
        assert!(append.contains("- `audit_finding_recorded`: `auditor`, `admin`\n"), "{append}");
        assert!(!append.contains("- `contact_received`"), "{append}");
        let create = op("/v1/contacts", "post")["description"].as_str().unwrap();
        assert!(create.ends_with("Roles: `referrer`, `practitioner`, `decision_maker`, `admin`."), "{create}");
        let audit = op("/v1/contacts/{id}/audit", "get")["description"].as_str().unwrap();
        assert!(audit.ends_with("Roles: `auditor`, `admin`."), "{audit}");
    }

    /// Every slug the brief lists, which `ApiError::slug` produces.
    const SLUGS: [&str; 13] = [
        "bad-request",
        "unauthenticated",
        "forbidden",
        "not-found",
        "method-not-allowed",
        "version-conflict",
        "payload-too-large",
        "unsupported-media-type",
        "validation",
        "case-rule",
        "idempotency-key-reused",
        "unavailable",
        "internal",
    ];

    /// Fails to compile when `ApiError` gains a variant: give it a problem type in [`PROBLEMS`]
    /// (and so a section in `/docs`), then add it here.
    fn documented(e: &ApiError) -> bool {
        match e {
            ApiError::BadRequest { .. }
            | ApiError::Unauthenticated(_)
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::MethodNotAllowed
            | ApiError::Conflict { .. }
            | ApiError::PayloadTooLarge { .. }
            | ApiError::UnsupportedMediaType(_)
            | ApiError::Unprocessable { .. }
            | ApiError::RuleBroken { .. }
            | ApiError::IdempotencyMismatch
            | ApiError::Unavailable(_)
            | ApiError::Internal(_) => ProblemType::by_slug(e.slug()).is_some(),
        }
    }

    #[tokio::test]
    async fn problem_types_are_what_the_api_sends() {
        let slugs: BTreeSet<&str> = PROBLEMS.iter().map(|p| p.slug).collect();
        assert_eq!(slugs, SLUGS.into_iter().collect(), "one problem type per slug");
        assert_eq!(PROBLEMS.len(), SLUGS.len());
        for p in PROBLEMS {
            let error = (p.example)();
            assert!(documented(&error));
            assert_eq!(error.slug(), p.slug);
            assert_eq!(error.status().as_u16(), p.status, "{}", p.slug);
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), p.status);
            assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let sent: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(sent, p.example_body(), "{}", p.slug);
        }
    }

    #[test]
    fn every_problem_type_appears_as_an_example_where_it_can_happen() {
        let mut examples = Vec::new();
        for (_, _, op) in all_ops() {
            for response in op["responses"].as_object().unwrap().values() {
                if let Some(ex) = response.pointer(&format!("/content/{}/examples", PROBLEM_JSON.replace('/', "~1"))) {
                    for (slug, example) in ex.as_object().unwrap() {
                        let p = ProblemType::by_slug(slug).unwrap_or_else(|| panic!("unknown problem type {slug}"));
                        assert_eq!(example["value"], p.example_body());
                        examples.push(slug.as_str());
                    }
                }
            }
        }
        for slug in SLUGS.iter().filter(|s| **s != "method-not-allowed") {
            assert!(examples.contains(slug), "{slug} appears in no response");
        }
    }

    #[test]
    fn new_event_maps_every_appendable_type_to_its_data() {
        let schemas = &doc()["components"]["schemas"];
        // The event schema's own mapping, type -> data schema.
        let mapping = |alternatives: &Value| -> Vec<(String, String)> {
            alternatives
                .as_array()
                .unwrap()
                .iter()
                .map(|alt| {
                    (
                        alt["properties"]["type"]["enum"][0].as_str().unwrap().to_owned(),
                        alt["properties"]["data"]["$ref"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        let event = mapping(&schemas["Event"]["oneOf"]);
        let appendable = mapping(&schemas["NewEvent"]["oneOf"]);
        let expected: Vec<(String, String)> = event.into_iter().filter(|(t, _)| t != "contact_received").collect();
        assert_eq!(appendable, expected);
        let types: Vec<String> = EventType::ALL
            .iter()
            .filter(|t| **t != EventType::ContactReceived)
            .map(|t| t.as_str().to_owned())
            .collect();
        assert_eq!(appendable.into_iter().map(|(t, _)| t).collect::<Vec<_>>(), types);
        for alt in schemas["NewEvent"]["oneOf"].as_array().unwrap() {
            assert_eq!(alt["additionalProperties"], false);
            let mut keys: Vec<&String> = alt["properties"].as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(keys, ["data", "expected_version", "late_entry_reason", "occurred_at", "type"]);
            assert_eq!(alt["required"], json!(["data", "type"]));
        }
        assert!(schemas.get("AppendableEvent").is_none());
    }

    #[test]
    fn new_contact_is_the_contact_received_data_plus_occurred_at() {
        let schemas = &doc()["components"]["schemas"];
        let body = &schemas["NewContact"];
        let data = &schemas["ContactReceived"];
        assert_eq!(body["additionalProperties"], false);
        assert_eq!(body["required"], data["required"]);
        let mut expected = data["properties"].as_object().unwrap().clone();
        expected.insert("occurred_at".into(), body["properties"]["occurred_at"].clone());
        expected.insert("late_entry_reason".into(), body["properties"]["late_entry_reason"].clone());
        assert_eq!(body["properties"].as_object().unwrap(), &expected);
        assert_eq!(body["properties"]["children"]["minItems"], 1);
        assert_eq!(body["properties"]["children"]["maxItems"], validate::MAX_CHILDREN);
    }

    #[test]
    fn enumerations_are_their_values_on_the_wire() {
        let schemas = &doc()["components"]["schemas"];
        for (name, values) in wire_enums() {
            assert_eq!(schemas[name]["enum"], Value::Array(values), "{name}");
        }
        assert_eq!(schemas["Consent"]["enum"], json!(["given", "not_given", "overridden", "unknown"]));
        assert_eq!(schemas["SourceCode"]["enum"][0], "1A");
        assert!(schemas["SourceCode"]["description"].as_str().unwrap().contains("- `6`: Police"));
        assert_eq!(schemas["EventType"]["enum"][0], "contact_received");
        // No enumeration is left with Rust names.
        let mut enums = Vec::new();
        for schema in schemas.as_object().unwrap().values() {
            if let Some(values) = schema.get("enum").and_then(Value::as_array) {
                enums.extend(values.iter().filter_map(Value::as_str));
            }
        }
        for value in enums {
            assert!(!value.chars().next().unwrap().is_ascii_uppercase() || value.len() <= 2, "{value}");
        }
    }

    #[test]
    fn every_limit_finds_its_field() {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut).unwrap();
        assert_eq!(limits(schemas), Vec::<String>::new());
        let schemas = &document()["components"]["schemas"];
        assert_eq!(schemas["Child"]["properties"]["name"]["maxLength"], validate::SHORT_MAX);
        assert_eq!(schemas["Child"]["properties"]["name"]["minLength"], 1);
        assert!(schemas["Child"]["properties"]["child_ref"].get("minLength").is_none());
        assert_eq!(schemas["NoteAdded"]["properties"]["text"]["maxLength"], validate::LONG_MAX);
        assert_eq!(schemas["DecisionMade"]["properties"]["level_of_need"]["maximum"], 4);
    }
}
