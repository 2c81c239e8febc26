//! The OpenAPI 3.1 document, generated with utoipa from the handlers' `#[utoipa::path]`
//! attributes and the event schema's `ToSchema` derives, and served at `GET /openapi.json`.
//! `GET /docs` ([`super::docs`]) renders the same document as HTML.
//!
//! Each resource module registers its routes together with their paths (utoipa-axum's
//! `routes!`), and every body a handler sends is a type that derives both `Serialize` and
//! `ToSchema`, so the document describes what is sent. What is written by hand here is only
//! what the code cannot say by itself: the API's description, the security scheme, who may
//! call what (from [`crate::auth`]) and the sentences that describe the case rules on fields
//! (`NOTES`). The limits and formats of fields (children 1 to 20, lengths, NHS
//! numbers, levels of need, ...) come from the schema's own shapes (`events::shape`), as the
//! validator's do. Who may call what is generated from [`crate::auth`].

use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use eventlog::{Actor, Envelope, EventType, Role};
use events::schema::{
    Agency, AuditGrade, CallDirection, CallWith, Channel, Consent, DataVisitor, Event, EventData, HandoverTo,
    InformMethod, Outcome, PpnGrade, PrimaryNeed, Rating, Relationship, Sex, SourceCode, StrategyOutcome,
    UpnUnknownReason,
};
use events::shape::{Shape, Text};
use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::state::AppState;
use crate::auth::{self, ReadKind};
use crate::validate::{self, FieldError};

/// The name of the bearer-token security scheme.
pub const BEARER: &str = "bearer";

/// The document's `info.description` (CommonMark; `/docs` renders the subset used here).
const DESCRIPTION: &str = "The REST API of frontdoor, the case-flow service for a children's services front door \
(the MASH). Every contact, and everything that happens to it, is an event in an append-only, hash-chained log; \
what the API shows is folded from it.

JSON everywhere, UTF-8, never to be cached (`Cache-Control: no-store`). A request must name this \
service in its `Host` (`localhost`, the address it listens on, or a configured name); any other host is \
refused (400), so a web page that rebinds its own name to this machine cannot reach it. Timestamps are RFC 3339 in UTC with a `Z`. Ids are ULIDs: 26 characters of Crockford \
base32. Strings in request bodies are trimmed; a required one must not be empty, and an optional one that is \
empty is taken as absent. A field that is not in the schema is refused (422).

Send `Authorization: Bearer <token>`. A token maps to an actor (an id, a role and an agency), which is \
recorded as the actor of every event it appends; the actor is never taken from a body. No token, or an unknown \
one: 401. A known token without the right: 403. The roles:

- `referrer`: creates contacts, and follows the contacts it made: `GET /v1/contacts?made_by=me` lists them \
(newest first) and `GET /v1/contacts/{id}` shows one (any other contact is a 404), each in a referrer's view: \
received, being looked at, decided or closed, the outcome in plain words and the next step, nothing of checks, \
the duty discussion or other contacts. It may add information to its own open contact (`note_added`) instead \
of making a duplicate, and once the contact is decided answer a short survey once (`referrer_feedback_given`: \
`listened_to` and `knows_next_steps` from 1 to 5, and a `comment`), also after it is closed.
- `practitioner`: everything on a contact except `decision_made`, and accepting or returning a handover to the \
`assessment_team` or `early_help` (the receiving team's); reads contacts. Takes a contact itself \
(`contact_allocated` with its own actor id as `worker`), never allocates it to someone else.
- `decision_maker`: what a practitioner may, plus `decision_made`, and allocating a contact to anyone.
- `partner`: `checks_returned` (for their own agency), `duty_discussion_held`, `note_added`, corrections of their own agency's checks; reads contacts.
- `auditor`: reads everything, appends `audit_finding_recorded`, nothing else.
- `admin`: everything.
- `monitor`: a monitoring system's: reads `/metrics`, nothing else.
- `receiving_team`: a team that accepts handovers (the Assessment Team, Early Help); its token names its team \
(`frontdoor token create --role receiving_team --actor at-sam --team \"AT North\"`). It reads only the contacts \
whose latest handover names its team (any other is a 404, as if it did not exist), sees its pending handovers as \
its queue (`GET /v1/queue`, `/v1/queue/stream`), and appends only `handover_accepted` (for its own team), \
`handover_returned` and, once it accepted, `contact_allocated` (its own worker, also after the front door closed \
the contact; Annex A's allocated worker) to them. A handover to the `assessment_team` or `early_help` must name the team, and nobody \
but that team and admins may accept or return it. A handover to `community`, `tafso`, an `allocated_worker` or \
`other` is answered by a practitioner or decision maker, whose acceptance says how it was confirmed \
(`evidence`). Restricted checks stay hidden from receiving teams unless the service is configured otherwise \
(`receiving_team_sees_restricted`).

Each operation lists the roles it allows, generated from the service's own permission table.

`/healthz` and `/readyz` need no token, for load balancers. Nor do `/openapi.json` and `/docs`: they describe \
the API and hold no data, and integrators need to read them before they have a token. `/metrics` holds counts \
and timings only, but needs a token of role `monitor` (a scraper's, which reads `/metrics` and nothing else) or \
`admin`.

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

Children are records of their own: the child index gives each child frontdoor has seen a child id (1 to 20 \
letters and digits, pseudonymous, stable; Annex A's Child Unique ID). A child named on a new contact is linked to \
a child already seen when they share an NHS number, a UPN or a `child_ref`, or the same name (compared with case, \
diacritics and invisible characters folded) and date of birth, unless an NHS number, UPN or `child_ref` of one \
conflicts with the other's. Names that only sound alike and partial dates are offered by `GET /v1/children`, never \
linked. A practitioner or decision maker links a contact's child to a child id with `children_linked` (the older \
child keeps its id) and separates it with `children_unlinked` (it gets a new id and is not linked back \
automatically); both are allowed after the contact is closed. The queue's `previous_contacts`, the re-contact \
figures and Annex A follow the links as they stand. A search is recorded, with its terms, in the access log of \
every contact about each candidate, and a child's record in the access log of every contact it shows. The duty \
team's queue lines carry `possible_match` (never a receiving team's): a child of the contact sounds like a child \
of the index not linked to it, with the same date of birth (or day and month swapped). Adults named on contacts \
are found with `GET /v1/adults` (name, date of birth, postcode; the same roles and logging as the children's \
search), each with the contacts naming them and those contacts' child ids.

The duty queue's `assigned_to` is the front door's latest allocation (`contact_allocated` by the duty team), \
never whoever last recorded something on the contact; `GET /v1/queue?worker=me` is the caller's own work. Each \
line says which list it is on (`list`: `decision_due` or `handover_awaiting_acceptance`), the concerns' first \
line and, once decided, the outcome.

A strategy discussion held after the decision is recorded with `strategy_discussion_held` (`held_at`, the \
`agencies` that took part, and its `outcome`: `s47_enquiry`, `no_further_action` or `other`) by a practitioner, \
a decision maker or an admin, also after the contact is closed; it follows a decision (rule `needs-decision`) and \
is not held before the decision in force (rule `discussion-after-decision`, naming `data.held_at`). The \
timeliness figures time the first one from that decision (`strategy_discussions`).

A contact and a decision may record `concern_categories`: the CIN census's assessment factor codes (`1A` to \
`24A`, e.g. `3A` domestic abuse, the child the subject; each at most once, at most 20). A decision's categories, \
when it gives any, replace the contact's in the figures (`GET /v1/metrics/volumes`, `by_concern_category`).

An action of an agreed plan is marked done with `action_completed` (`plan_event_id`, the `action_plan_agreed` of \
the same contact, rule `action-plan-unknown`; `action_index`, the action's place in its `actions` from 0, rule \
`action-index-unknown`), once per action (rule `action-completed-once`), also after the contact is closed. The \
duty team records any action; a partner only its own agency's (403). The practice figures count the actions \
done on time, late and overdue (`action_plans.actions`).

A contact is closed only once decided (rule `close-needs-decision`): a duplicate, wrong-service or withdrawn \
contact is decided `not_accepted` (Devon's \"None / Rejected\"), with a `rationale` and, for a duplicate, \
`duplicate_of`.

The statutory returns' codes are checked where they are entered. A child's `ethnicity` is a DfE ethnicity code \
(`WBRI`, `WIRI`, `WIRT`, `WOTH`, `WROM`, `MWBC`, `MWBA`, `MWAS`, `MOTH`, `AIND`, `APKN`, `ABAN`, `AOTH`, `BCRB`, \
`BAFR`, `BOTH`, `CHNE`, `OOTH`, `REFU` refused, `NOBT` not yet obtained; lower case is taken and stored upper \
case). Nothing new is required when a contact is received. A `decision_made` whose `outcome` is `assessment` or \
`strategy_discussion` (a referral) needs `primary_need` (CIN code `N0`-`N9`) and, for each child of school age \
(the CIN census's rule: five by the 31 August before the census year, 1 April to 31 March, of the decision) \
without a UPN on record, `children[i].upn` or `children[i].upn_unknown_reason` (CIN code `UN1`-`UN10`), where \
`children[i]` is the contact's `children[i]` (`{}` for a child who needs nothing); a 422 names the field, e.g. \
`data.children[1].upn_unknown_reason`. `data.children` may not name more children than the contact.";

#[derive(OpenApi)]
#[openapi(
    info(title = "frontdoor", license(name = "MIT OR Apache-2.0")),
    components(schemas(Problem, FieldError, Event, EventType, Envelope, Actor, Role)),
    tags(
        (name = "contacts", description = "Receive contacts, record what happens to them, and read them back."),
        (name = "duty debriefs", description = "Duty teams' end-of-day debriefs: streams of their own, never contacts, never in the queue or the contact figures."),
        (name = "consultations", description = "Professional consultations: a professional's call for advice, a stream of its own, never a contact, never in the queue, the contact figures or the returns. One that names a child is in the child index and read like a contact, every read logged."),
        (name = "children", description = "The child index: every child frontdoor has seen, with a stable child id, found by search and read with every contact about them. Matching, links and unlinks in the API reference."),
        (name = "log", description = "The global event log, for integrating tools and auditors, and the access log (who read what), for auditors."),
        (name = "queue", description = "The live duty queue: open contacts awaiting a decision or a handover's acceptance."),
        (name = "figures", description = "Timeliness, volumes and practice figures (definitions in docs/FIGURES.md), the case-audit sample, and the state as of a past moment."),
        (name = "service", description = "Health, readiness and metrics, for operators and load balancers, and the promotion of a standby (`[replication]`), for admins."),
        (name = "reference", description = "This API's own description: the OpenAPI document and this reference."),
        (name = "pages", description = "The duty board and the quality assurance pages, for people in a browser: HTML signed in with a session cookie (`POST /signin` and `POST /signout` are the pages' own form posts, not part of the API)."),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The served document, as JSON and as text: the paths the resource modules registered with
/// their routes, on [`ApiDoc`], completed by `Contract` and `refine`.
#[derive(Debug)]
pub struct ApiDocument {
    pub value: Value,
    pub json: String,
}

impl ApiDocument {
    /// Completes the document the routers were registered on.
    pub fn new(mut api: Document) -> ApiDocument {
        Contract.modify(&mut api);
        let mut value = serde_json::to_value(api).unwrap_or_else(|e| json!({"error": e.to_string()}));
        refine(&mut value);
        let json = serde_json::to_string_pretty(&value).unwrap_or_default();
        ApiDocument { value, json }
    }
}

/// `GET /openapi.json`, registered with its path.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
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
pub async fn openapi_json(Extension(doc): Extension<&'static ApiDocument>) -> Response {
    let mut response = doc.json.as_str().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
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
    add_description(doc, "/v1/duty-debriefs", true, &format!("Roles: {}.", role_list(auth::may_record_duty_debrief)));
    add_description(doc, "/v1/consultations", true, &format!("Roles: {}.", role_list(auth::may_record_consultation)));
    add_description(doc, "/v1/admin/promote", true, &format!("Roles: {}.", role_list(auth::may_promote)));
    let mut by_type = String::from("Roles, by event type:\n");
    for t in EventType::ALL.iter().filter(|t| t.is_appendable()) {
        by_type.push_str(&format!("\n- `{t}`: {}", role_list(|r| auth::may_append(r, *t))));
    }
    by_type.push_str(
        "\n\nA `partner` returns checks only for their own agency. A `receiving_team` appends only to the contacts \
         whose latest handover names its team (others: 404). A handover to the `assessment_team` or `early_help` \
         is accepted or returned only by the `receiving_team` it names or an `admin` (others: 403); a `practitioner` \
         or `decision_maker` answers the other handovers, an acceptance with `evidence`. A `practitioner` allocates \
         a contact (`contact_allocated`) to themselves only (rule `allocation-to-self-only`), a `receiving_team` \
         its own worker once it accepted the handover (rule `allocation-after-acceptance`). A `referrer` appends \
         only to the contacts it made (others: 404): `note_added` while the contact is open (rule \
         `contact-closed`), `referrer_feedback_given` once the contact is decided (rule `needs-decision`), once \
         (rule `feedback-once`), also after it is closed.",
    );
    add_description(doc, "/v1/contacts/{id}/events", true, &by_type);
    for (path, what) in [
        ("/v1/contacts", ReadKind::OwnContacts),
        ("/v1/contacts/{id}", ReadKind::Contact),
        ("/v1/contacts/{id}/events", ReadKind::ContactEvents),
        ("/v1/contacts/{id}/audit", ReadKind::ContactAudit),
        ("/v1/duty-debriefs", ReadKind::DutyDebriefs),
        ("/v1/consultations", ReadKind::Consultations),
        ("/v1/consultations/{id}", ReadKind::Consultations),
        ("/v1/events", ReadKind::GlobalEvents),
        ("/v1/events/stream", ReadKind::GlobalEvents),
        ("/v1/access", ReadKind::AccessLog),
        ("/v1/queue", ReadKind::Queue),
        ("/v1/queue/stream", ReadKind::Queue),
        ("/v1/metrics/timeliness", ReadKind::Metrics),
        ("/v1/metrics/volumes", ReadKind::Metrics),
        ("/v1/metrics/practice", ReadKind::Metrics),
        ("/v1/metrics/trends", ReadKind::Trends),
        ("/v1/audit/sample", ReadKind::AuditSample),
        ("/v1/as-of", ReadKind::AsOf),
        ("/metrics", ReadKind::ServiceMetrics),
        ("/v1/children", ReadKind::Children),
        ("/v1/children/{child_id}", ReadKind::Children),
        ("/v1/adults", ReadKind::Children),
    ] {
        let scoped = match what {
            ReadKind::Contact => {
                " A `receiving_team` reads only the contacts whose latest handover names its team (others: 404); a \
                 `referrer` only the contacts it made (others: 404), in a referrer's view."
            }
            ReadKind::ContactEvents => {
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
    parameters_and_ids(doc);
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
    close_flattened(schemas, "TimelinessWeek");
    // Each alternative of a tagged union gets its own name, so a generated client has a
    // `NewEventDecisionMade` rather than a `NewEventType4`.
    name_variants(schemas, "NewEvent", "type");
    name_variants(schemas, "Event", "type");
    name_variants(schemas, "TrailEntry", "kind");
    no_object_defaults(schemas);
    // Only NewEvent used it, and it now holds its alternatives itself.
    schemas.remove("AppendableEvent");
    if let Some(data) = schemas.get_mut("Envelope").and_then(|e| e.pointer_mut("/properties/data/description")) {
        *data = json!("The event's data: its schema is the one the `type` names (see `Event`).");
    }
    // Every request body's reason for a late entry is free text, checked as such.
    for schema in schemas.values_mut() {
        if let Some(reason) = schema.pointer_mut("/properties/late_entry_reason").and_then(Value::as_object_mut) {
            reason.insert("maxLength".into(), validate::LONG_MAX.into());
            reason.insert("pattern".into(), NO_CONTROL_BUT_BREAKS_AND_TABS.into());
        }
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
        Relationship,
        UpnUnknownReason,
        StrategyOutcome,
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

/// Moves each alternative of the `oneOf` of `name` (objects told apart by the one value of
/// their `tag` property) into a schema of its own, `name` followed by the value in camel case,
/// and gives the union a `discriminator` mapping each value to it.
fn name_variants(schemas: &mut Map<String, Value>, name: &str, tag: &str) {
    let Some(alternatives) = schemas.get(name).and_then(|s| s.get("oneOf")).and_then(Value::as_array).cloned() else {
        return;
    };
    let mut refs = Vec::new();
    let mut mapping = Map::new();
    for alternative in alternatives {
        let Some(value) = alternative.pointer(&format!("/properties/{tag}/enum/0")).and_then(Value::as_str) else {
            return; // not a tagged union: leave it as it is
        };
        let camel: String = value
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect();
        let variant = format!("{name}{camel}");
        let reference = format!("#/components/schemas/{variant}");
        mapping.insert(value.to_owned(), json!(reference));
        refs.push(json!({"$ref": reference}));
        schemas.insert(variant, alternative);
    }
    if let Some(union) = schemas.get_mut(name) {
        union["oneOf"] = Value::Array(refs);
        union["discriminator"] = json!({"propertyName": tag, "mapping": mapping});
    }
}

/// Removes `default` from properties that are objects by reference (the service's defaults of
/// a configuration, shown in a response): a client takes what the response says, and a
/// default object there is more than code generators accept.
fn no_object_defaults(schemas: &mut Map<String, Value>) {
    for schema in schemas.values_mut() {
        for property in
            schema.get_mut("properties").and_then(Value::as_object_mut).into_iter().flat_map(|p| p.values_mut())
        {
            if property.get("default").is_some_and(Value::is_object)
                && let Some(property) = property.as_object_mut()
            {
                property.remove("default");
            }
        }
    }
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

/// A string with no control character (Unicode's `Cc`: what Rust's `char::is_control` finds),
/// as every one-line field must be. The same text as a regular expression for ECMA-262, Python
/// and Rust.
const NO_CONTROL_CHARACTERS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// Free text: no control character but line feed, carriage return and tab.
const NO_CONTROL_BUT_BREAKS_AND_TABS: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

/// A telephone number: digits, spaces, `+`, `(`, `)` and `-`, with 7 to 20 digits.
const PHONE_PATTERN: &str = "^[ +()-]*([0-9][ +()-]*){7,20}$";

/// A ULID as the server reads one: 26 characters of Crockford's base32, either case.
const ULID_PATTERN: &str = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$";

/// A date the API's periods and searches take: YYYY-MM-DD from the year 1900.
const DATE_FROM_1900: &str = "^(19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$";

/// What the handlers check of a query or path parameter beyond its type, as JSON Schema
/// keywords (an integrating developer's client, and schemathesis, then send what the server
/// takes): `(path, location, name)` to keywords and whether the parameter is required.
fn parameter_limits(path: &str, location: &str, name: &str, format: Option<&str>) -> Option<(Value, bool)> {
    let search = matches!(path, "/v1/children" | "/v1/adults");
    Some(match (location, name) {
        ("path", "id") => (json!({"pattern": ULID_PATTERN}), true),
        ("query", _) if format == Some("date") && path.starts_with("/v1/") => {
            (json!({"pattern": DATE_FROM_1900}), false)
        }
        ("query", "nhs_number") if search => (json!({"pattern": "^[0-9 ]*$", "maxLength": 200}), false),
        ("query", "name" | "upn" | "postcode") if search => {
            (json!({"pattern": NO_CONTROL_CHARACTERS, "maxLength": 200}), false)
        }
        // Anything but white space alone (the caller's own, with `me`).
        ("query", "worker") if path == "/v1/queue" => (json!({"pattern": "\\S"}), false),
        ("query", "made_by") if path == "/v1/contacts" => (json!({"enum": ["me"]}), true),
        _ => return None,
    })
}

/// Writes [`parameter_limits`] into the document's parameters, and a ULID's pattern beside
/// every `format: ulid` (a format few tools know).
fn parameters_and_ids(doc: &mut Value) {
    fn ulids(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if map.get("format").and_then(Value::as_str) == Some("ulid") && !map.contains_key("pattern") {
                    map.insert("pattern".into(), ULID_PATTERN.into());
                }
                map.values_mut().for_each(ulids);
            }
            Value::Array(items) => items.iter_mut().for_each(ulids),
            _ => {}
        }
    }
    ulids(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        for op in item.as_object_mut().into_iter().flat_map(|i| i.values_mut()) {
            for param in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                let (Some(location), Some(name)) = (param["in"].as_str(), param["name"].as_str()) else { continue };
                let format = param.pointer("/schema/format").and_then(Value::as_str);
                let Some((keywords, required)) = parameter_limits(path, location, name, format) else { continue };
                if let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut) {
                    schema.extend(keywords.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
                }
                if required {
                    param["required"] = true.into();
                }
            }
        }
    }
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
    /// One of these strings.
    Choice(&'static [&'static str]),
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
            Shape::ChildIndex => Limit::Other(
                "The child's index in the contact's `children`, from 0.",
                || json!({"minimum": 0, "maximum": validate::MAX_CHILDREN - 1}),
            ),
            Shape::Score => Limit::Other("1 to 5.", || json!({"minimum": 1, "maximum": 5})),
            Shape::Staff => Limit::Other(
                "A number of staff, 0 to 200.",
                || json!({"minimum": 0, "maximum": events::shape::MAX_STAFF}),
            ),
            Shape::Choice(values) => Limit::Choice(values),
            Shape::ActionIndex => Limit::Other(
                "The action's index in the plan's `actions`, from 0.",
                || json!({"minimum": 0, "maximum": validate::MAX_ITEMS - 1}),
            ),
            Shape::List { item, min, max } => {
                out.push((name, field.name.to_owned(), Limit::Items(min, max)));
                match *item {
                    Shape::Text(text) => out.push((name, format!("{}/items", field.name), text_limit(text))),
                    Shape::Choice(values) => out.push((name, format!("{}/items", field.name), Limit::Choice(values))),
                    _ => {}
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
            || json!({"pattern": PHONE_PATTERN, "maxLength": validate::SHORT_MAX}),
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
        Text::Postcode => Limit::Other(
            "A UK postcode in the official format (e.g. `NG1 1AA`, `SW1A 2AA`); stored upper case with one space \
             before the last three characters.",
            || json!({"maxLength": 8}),
        ),
        Text::ChildId => Limit::Other(
            "A child id of the child index: 1 to 20 letters and digits.",
            || json!({"pattern": "^[A-Za-z0-9]{1,20}$"}),
        ),
    }
}

/// Each of a list of concern categories at most once.
const CATEGORIES_ONCE: Limit = Limit::Other("Each code at most once.", || json!({"uniqueItems": true}));

/// What the rules add to a field beyond its shape, in words: `(schema, property, note)`.
const NOTES: &[(&str, &str, Limit)] = &[
    (
        "Adult",
        "date_of_birth",
        Limit::Other("Not in the future, not before 1900.", || json!({"pattern": DATE_FROM_1900})),
    ),
    ("ContactReceived", "concern_categories", CATEGORIES_ONCE),
    ("DecisionMade", "concern_categories", CATEGORIES_ONCE),
    ("ConsultationRecorded", "concern_categories", CATEGORIES_ONCE),
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
            Limit::Short => (
                "One line.",
                merge(json!({"maxLength": validate::SHORT_MAX, "pattern": NO_CONTROL_CHARACTERS}), not_empty),
            ),
            Limit::Long => (
                "",
                merge(json!({"maxLength": validate::LONG_MAX, "pattern": NO_CONTROL_BUT_BREAKS_AND_TABS}), not_empty),
            ),
            Limit::Items(min, max) => ("", json!({"minItems": min, "maxItems": max})),
            // A field whose type is an enumeration of its own has its values there already.
            Limit::Choice(_) if target.contains_key("$ref") || target.contains_key("oneOf") => ("", json!({})),
            Limit::Choice(values) => ("", json!({"enum": values})),
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

    use crate::http::error::{ApiError, PROBLEM_JSON};
    use crate::http::problem::{PROBLEMS, ProblemType};

    fn doc() -> &'static Value {
        &crate::http::document().value
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
        let text = crate::http::document().json.as_str();
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
            ("/v1/contacts", "post", &[201, 400, 401, 403, 408, 413, 415, 422, 500, 503]),
            ("/v1/contacts", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/contacts/{id}/events", "post", &[201, 400, 401, 403, 404, 408, 409, 413, 415, 422, 500, 503]),
            ("/v1/contacts/{id}", "get", &[200, 401, 403, 404, 500, 503]),
            ("/v1/duty-debriefs", "post", &[201, 400, 401, 403, 408, 413, 415, 422, 500, 503]),
            ("/v1/duty-debriefs", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/consultations", "post", &[201, 400, 401, 403, 408, 413, 415, 422, 500, 503]),
            ("/v1/consultations", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/consultations/{id}", "get", &[200, 401, 403, 404, 500, 503]),
            ("/v1/contacts/{id}/events", "get", &[200, 401, 403, 404, 500, 503]),
            ("/v1/contacts/{id}/audit", "get", &[200, 401, 403, 404, 500, 503]),
            ("/v1/events", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/access", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/events/stream", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/queue", "get", &[200, 304, 400, 401, 403, 500, 503]),
            ("/v1/queue/stream", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/metrics/timeliness", "get", &[200, 400, 401, 403, 422, 500, 503]),
            ("/v1/metrics/volumes", "get", &[200, 400, 401, 403, 422, 500, 503]),
            ("/v1/metrics/practice", "get", &[200, 400, 401, 403, 422, 500, 503]),
            ("/v1/metrics/trends", "get", &[200, 400, 401, 403, 422, 500, 503]),
            ("/v1/audit/sample", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/as-of", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/children", "get", &[200, 400, 401, 403, 500, 503]),
            ("/v1/children/{child_id}", "get", &[200, 400, 401, 403, 404, 500, 503]),
            ("/v1/adults", "get", &[200, 400, 401, 403, 500, 503]),
            ("/healthz", "get", &[200]),
            ("/readyz", "get", &[200, 503]),
            ("/metrics", "get", &[200, 401, 403, 500]),
            ("/v1/admin/promote", "post", &[200, 401, 403, 409, 500, 503]),
            ("/openapi.json", "get", &[200]),
            ("/docs", "get", &[200]),
            ("/docs/style.css", "get", &[200]),
            ("/", "get", &[200, 303]),
            ("/signin", "get", &[200]),
            ("/qa", "get", &[200, 303]),
            ("/qa/contacts/{id}", "get", &[200, 303]),
            ("/contacts/{id}", "get", &[200, 303]),
            ("/children", "get", &[200, 303]),
            ("/children/{child_id}", "get", &[200, 303]),
            ("/referrals", "get", &[200, 303]),
            ("/referrals/new", "get", &[200, 303]),
            ("/referrals/{id}", "get", &[200, 303]),
            ("/assets/board.js", "get", &[200]),
            ("/assets/qa.js", "get", &[200]),
            ("/assets/contact.js", "get", &[200]),
            ("/assets/referral.js", "get", &[200]),
            ("/assets/children.js", "get", &[200]),
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
    fn the_api_and_the_metrics_need_a_bearer_token_and_the_other_service_endpoints_do_not() {
        let scheme = &doc()["components"]["securitySchemes"][BEARER];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        for (path, method, op) in all_ops() {
            let security = op.get("security").cloned().unwrap_or(Value::Null);
            if path.starts_with("/v1/") || path == "/metrics" {
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
        let promote = op("/v1/admin/promote", "post")["description"].as_str().unwrap();
        assert!(promote.ends_with("Roles: `admin`."), "{promote}");
    }

    /// Every slug the brief lists, and `not-a-standby` (a promotion, `[replication]`), which
    /// `ApiError::slug` produces.
    const SLUGS: [&str; 15] = [
        "bad-request",
        "unauthenticated",
        "forbidden",
        "not-found",
        "method-not-allowed",
        "version-conflict",
        "not-a-standby",
        "request-timeout",
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
            | ApiError::RequestTimeout(_)
            | ApiError::Conflict { .. }
            | ApiError::NotStandby(_)
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
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), p.status(), "{}", p.slug);
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
        let resolve = |alt: &Value| -> Value {
            let name = alt["$ref"].as_str().unwrap().trim_start_matches("#/components/schemas/");
            schemas[name].clone()
        };
        // The event schema's own mapping, type -> data schema; each alternative named.
        let mapping = |alternatives: &Value| -> Vec<(String, String)> {
            alternatives
                .as_array()
                .unwrap()
                .iter()
                .map(resolve)
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
        let expected: Vec<(String, String)> =
            event.into_iter().filter(|(t, _)| t.parse::<EventType>().unwrap().is_appendable()).collect();
        assert_eq!(appendable, expected);
        let types: Vec<String> =
            EventType::ALL.iter().filter(|t| t.is_appendable()).map(|t| t.as_str().to_owned()).collect();
        assert_eq!(appendable.into_iter().map(|(t, _)| t).collect::<Vec<_>>(), types);
        for alt in schemas["NewEvent"]["oneOf"].as_array().unwrap().iter().map(resolve) {
            assert_eq!(alt["additionalProperties"], false);
            let mut keys: Vec<&String> = alt["properties"].as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(keys, ["data", "expected_version", "late_entry_reason", "occurred_at", "type"]);
            assert_eq!(alt["required"], json!(["data", "type"]));
        }
        assert!(schemas.get("AppendableEvent").is_none());
        assert_eq!(
            schemas["NewEvent"]["discriminator"]["mapping"]["decision_made"],
            "#/components/schemas/NewEventDecisionMade"
        );
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
        // A wire value may be upper case (CIN codes such as `UN10`); a Rust name never is one.
        let wire: Vec<Value> = wire_enums().into_iter().flat_map(|(_, values)| values).collect();
        for value in enums {
            assert!(
                !value.chars().next().unwrap().is_ascii_uppercase()
                    || value.len() <= 2
                    || wire.contains(&Value::from(value)),
                "{value}"
            );
        }
    }

    #[test]
    fn every_limit_finds_its_field() {
        let mut doc = serde_json::to_value(crate::http::routes().into_openapi()).unwrap();
        let schemas = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut).unwrap();
        assert_eq!(limits(schemas), Vec::<String>::new());
        let schemas = &crate::http::document().value["components"]["schemas"];
        assert_eq!(schemas["Child"]["properties"]["name"]["maxLength"], validate::SHORT_MAX);
        assert_eq!(schemas["Child"]["properties"]["name"]["minLength"], 1);
        assert!(schemas["Child"]["properties"]["child_ref"].get("minLength").is_none());
        assert_eq!(schemas["NoteAdded"]["properties"]["text"]["maxLength"], validate::LONG_MAX);
        assert_eq!(schemas["DecisionMade"]["properties"]["level_of_need"]["maximum"], 4);
        assert_eq!(schemas["DutyDebriefRecorded"]["properties"]["staff_on_duty"]["maximum"], 200);
        let codes = &schemas["ContactReceived"]["properties"]["concern_categories"]["items"]["enum"];
        assert_eq!(codes.as_array().map(Vec::len), Some(events::schema::CONCERN_CATEGORY_CODES.len()));
    }

    /// The patterns the document gives strings say exactly what the server's checks say, for
    /// every character: a client that follows them is never refused for a character, and never
    /// kept from sending one the server takes.
    #[test]
    fn the_documents_text_patterns_are_the_servers_checks() {
        let short = regex::Regex::new(NO_CONTROL_CHARACTERS).unwrap();
        let long = regex::Regex::new(NO_CONTROL_BUT_BREAKS_AND_TABS).unwrap();
        let ulid = regex::Regex::new(ULID_PATTERN).unwrap();
        // Every character where Unicode puts its controls and white space, and a sample of the rest.
        let chars =
            (0..=0x3000).chain((0x3001..=0x10FFFF).step_by(251)).chain(0xFFF0..=0xFFFF).filter_map(char::from_u32);
        let now = chrono::Utc::now();
        for c in chars {
            let text = format!("a{c}b");
            // A duty debrief's `team` is one line, its `notes` free text.
            let body = json!({"date": "2026-01-05", "team": text, "notes": text}).to_string();
            let refused: Vec<String> = match validate::parse_new_duty_debrief(body.as_bytes(), now) {
                Ok(_) => Vec::new(),
                Err(invalid) => invalid.field_errors().iter().map(|e| e.field.clone()).collect(),
            };
            assert_eq!(short.is_match(&text), !refused.contains(&"team".to_owned()), "{c:?} as one line");
            assert_eq!(long.is_match(&text), !refused.contains(&"notes".to_owned()), "{c:?} as free text");
            let id = format!("01ARZ3NDEKTSV4RRFFQ69G5FA{c}");
            assert_eq!(ulid.is_match(&id), id.parse::<ulid::Ulid>().is_ok(), "{id:?}");
        }
        let phone = regex::Regex::new(PHONE_PATTERN).unwrap();
        for ok in ["0115 496 0000", "+44 (0)115 4960000", "1234567", "12345678901234567890", "07700-900-000"] {
            assert!(phone.is_match(ok), "{ok}");
        }
        for bad in ["123456", "123456789012345678901", "0115 496 000O", "", "ext. 1234567"] {
            assert!(!phone.is_match(bad), "{bad}");
        }
        let doc = doc();
        let props = &doc["components"]["schemas"]["Referrer"]["properties"];
        assert_eq!(props["name"]["pattern"], NO_CONTROL_CHARACTERS);
        assert_eq!(
            doc["components"]["schemas"]["NoteAdded"]["properties"]["text"]["pattern"],
            NO_CONTROL_BUT_BREAKS_AND_TABS
        );
        assert_eq!(
            doc["components"]["schemas"]["NewContact"]["properties"]["follows_consultation"]["pattern"],
            ULID_PATTERN
        );
        assert_eq!(
            doc["components"]["schemas"]["NewContact"]["properties"]["late_entry_reason"]["pattern"],
            NO_CONTROL_BUT_BREAKS_AND_TABS
        );
    }

    /// The query and path parameters say what their handlers take.
    #[test]
    fn parameters_say_what_their_handlers_take() {
        let param = |path: &str, name: &str| -> Value {
            let params = op(path, "get")["parameters"].as_array().unwrap();
            params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{path} {name}")).clone()
        };
        assert_eq!(param("/v1/contacts/{id}", "id")["schema"]["pattern"], ULID_PATTERN);
        assert_eq!(param("/v1/contacts", "made_by")["schema"]["enum"], json!(["me"]));
        assert_eq!(param("/v1/contacts", "made_by")["required"], true);
        assert_eq!(param("/v1/queue", "worker")["schema"]["pattern"], "\\S");
        assert_eq!(param("/v1/children", "nhs_number")["schema"]["pattern"], "^[0-9 ]*$");
        assert_eq!(param("/v1/adults", "postcode")["schema"]["pattern"], NO_CONTROL_CHARACTERS);
        let date = regex::Regex::new(DATE_FROM_1900).unwrap();
        assert_eq!(param("/v1/metrics/volumes", "from")["schema"]["pattern"], DATE_FROM_1900);
        assert!(date.is_match("1900-01-01") && date.is_match("9999-12-31") && date.is_match("2026-02-30"));
        assert!(!date.is_match("1899-12-31") && !date.is_match("0999-01-01") && !date.is_match("20260101"));
    }
}
