//! A contact's page on the duty board (`/contacts/{id}`): the duty team's record of it, as
//! `GET /v1/contacts/{id}` gives it to the viewer (the same logged read and the same filter of
//! restricted checks), with what was done on it and the previous contacts about its children,
//! and the actions the viewer's role may take.
//!
//! The actions are forms described here ([`ActionForm`], one per event type, its fields named
//! as the API's error paths name them) and drawn by `contact-page.html`. The page's script
//! (`/assets/contact.js`) sends each as JSON to `POST /v1/contacts/{id}/events` with the session
//! cookie and `expected_version` = the version the page was drawn at: the API's one command path
//! checks the role, the case rules and the version, and its 422 `errors` are shown beside the
//! fields they name; a 409 (someone else recorded meanwhile) reloads the fresh record and says
//! so, keeping what was typed.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use eventlog::{Actor, Envelope, EventType, Role};
use events::schema::Event;
use serde::Serialize;
use ulid::Ulid;

use super::{Chrome, Nav, london, message, page_actor, render, to_signin};
use crate::app::{AppError, Read};
use crate::auth::{self, ReadKind};
use crate::http::contacts::duty_record;
use crate::http::extract::ContactPath;
use crate::http::state::AppState;
use crate::http::views::{Contact, outcome_in_plain_words};

/// `web/templates/contact-page.html`
#[derive(Template)]
#[template(path = "contact-page.html")]
struct ContactWorkPage {
    chrome: Chrome,
    contact: Ulid,
    /// The version the page shows: sent back as `expected_version` with every action.
    version: u32,
    title: String,
    stage: String,
    received: String,
    due: String,
    overdue: bool,
    immediate_risk: bool,
    channel: String,
    source: String,
    /// The professional consultation the contact follows (`GET /v1/consultations/{id}`).
    follows_consultation: Option<Ulid>,
    ppn_grade: Option<String>,
    referrer: Vec<(&'static str, String)>,
    children: Vec<ChildRow>,
    concerns: String,
    consent: String,
    rating: Option<String>,
    rating_class: String,
    assigned_to: Option<String>,
    team_worker: Option<String>,
    calls: Vec<Line>,
    checks_requested: Vec<Line>,
    checks: Vec<CheckRow>,
    discussions: Vec<Line>,
    decision: Option<Vec<(&'static str, String)>>,
    action_plans: Vec<Line>,
    referrer_informed: Vec<Line>,
    handover: Option<Vec<(&'static str, String)>>,
    corrections: Vec<Line>,
    notes: Vec<Line>,
    closure: Option<String>,
    previous: Vec<PreviousRow>,
    actions: Vec<ActionForm>,
}

struct ChildRow {
    name: String,
    age: String,
    identifiers: String,
    child_id: Option<String>,
}

/// Something recorded on the contact: when, by whom, what.
struct Line {
    when: String,
    who: String,
    text: Vec<String>,
}

struct CheckRow {
    agency: String,
    summary: String,
    restricted: bool,
    when: String,
    who: String,
}

/// Another contact about one of this contact's children (as the child index links them now).
struct PreviousRow {
    child: String,
    child_id: String,
    contact: Ulid,
    received: String,
    /// Received after this contact.
    later: bool,
}

/// An action on the contact: a form whose fields become one event's `data`.
struct ActionForm {
    /// The event type, as the API names it.
    event: &'static str,
    title: &'static str,
    submit: &'static str,
    fields: Vec<FormField>,
}

struct FormField {
    /// The field's path in `data`, as the API's errors name it (`participants[0].name`).
    name: String,
    /// The element id: the path with `[`, `]` and `.` as `-`.
    id: String,
    label: String,
    /// `text`, `area`, `select`, `number`, `minutes`, `datetime`, `date`, `check`, `lines`
    /// (one item a line), `value` (JSON if it reads as JSON, else text), `hidden`.
    kind: &'static str,
    required: bool,
    value: String,
    /// (value, label) for a `select`; an empty value is "not given".
    options: Vec<(String, String)>,
    hint: &'static str,
    /// A `select` whose values are numbers.
    numeric: bool,
}

impl FormField {
    fn new(event: &str, name: &str, label: &str, kind: &'static str) -> Self {
        let id = format!("{event}-{name}").replace(['[', ']', '.', '_'], "-").replace("--", "-");
        FormField {
            name: name.to_owned(),
            id: id.trim_end_matches('-').to_owned(),
            label: label.to_owned(),
            kind,
            required: false,
            value: String::new(),
            options: Vec::new(),
            hint: "",
            numeric: false,
        }
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    fn numeric(mut self) -> Self {
        self.numeric = true;
        self
    }

    fn choices(mut self, keys: &[&str], optional: bool) -> Self {
        if optional {
            self.options.push((String::new(), "Not given".to_owned()));
        }
        self.options.extend(keys.iter().map(|k| ((*k).to_owned(), words(k))));
        self
    }
}

/// A key as people read it: `adult_social_care` → `Adult social care`.
fn words(key: &str) -> String {
    if key == "tafso" {
        return "TAFSO (team around the family)".to_owned();
    }
    let spaced = key.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// An enum's API name (its serde name).
fn key(value: impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn age(dob: Option<NaiveDate>, expected: Option<NaiveDate>, today: NaiveDate) -> String {
    match (dob, expected) {
        (Some(dob), _) => {
            let mut years = today.year() - dob.year();
            if (today.month(), today.day()) < (dob.month(), dob.day()) {
                years -= 1;
            }
            let born = dob.format("%-d %b %Y");
            if years < 1 { format!("under 1 (born {born})") } else { format!("{years} (born {born})") }
        }
        (None, Some(due)) => format!("unborn (expected {})", due.format("%-d %b %Y")),
        (None, None) => "age not known".to_owned(),
    }
}

const AGENCIES: &[&str] = &[
    "police",
    "health",
    "education",
    "probation",
    "adult_social_care",
    "housing",
    "early_help",
    "childrens_social_care",
    "other",
];
const OUTCOME_KEYS: &[&str] = &[
    "strategy_discussion",
    "assessment",
    "early_help",
    "advice_and_signpost",
    "no_further_action",
    "existing_case",
    "not_accepted",
];
const CONSENTS: &[&str] = &["given", "not_given", "overridden", "unknown"];
const HANDOVER_TO: &[&str] = &["assessment_team", "early_help", "tafso", "community", "allocated_worker", "other"];
const UPN_UNKNOWN: &[&str] = &["UN1", "UN2", "UN3", "UN4", "UN5", "UN6", "UN7", "UN8", "UN9", "UN10"];

/// The forms of the actions `actor` may take on this contact, the most used first. The server
/// refuses anything else anyway; this only leaves out what would be refused.
fn action_forms(actor: &Actor, record: &Contact, events: &[Envelope]) -> Vec<ActionForm> {
    let may = |t: EventType| auth::may_append(actor.role, t);
    let mut forms = Vec::new();
    let mut form = |event: EventType, title: &'static str, submit: &'static str, fields: Vec<FormField>| {
        if may(event) {
            forms.push(ActionForm { event: event.as_str(), title, submit, fields });
        }
    };
    let f = |e: EventType, name: &str, label: &str, kind: &'static str| FormField::new(e.as_str(), name, label, kind);

    use EventType as T;
    let t = T::TriageRated;
    form(
        t,
        "Rate (BRAG)",
        "Record the rating",
        vec![
            f(t, "rating", "Rating", "select").required().choices(&["red", "amber", "green", "blue"], false),
            f(t, "reason", "Why", "area"),
        ],
    );
    let t = T::CallLogged;
    form(
        t,
        "Log a call",
        "Log the call",
        vec![
            f(t, "direction", "Direction", "select").required().choices(&["inbound", "outbound"], false),
            f(t, "with", "With", "select")
                .required()
                .choices(&["referrer", "parent", "child", "agency", "other"], false),
            f(t, "started_at", "Started (your local time)", "datetime").required(),
            f(t, "duration_seconds", "Duration in minutes", "minutes").required(),
            f(t, "summary", "Summary", "area").required(),
        ],
    );
    let t = T::NoteAdded;
    form(t, "Add a note", "Add the note", vec![f(t, "text", "Note", "area").required()]);
    let t = T::ContactAllocated;
    let worker = if actor.role == Role::Practitioner {
        // A practitioner allocates only to themselves (rule allocation-to-self-only).
        f(t, "worker", "Worker", "hidden").value(&actor.id)
    } else {
        f(t, "worker", "Worker", "text").required().value(&actor.id).hint("Your own id takes it yourself.")
    };
    form(t, "Allocate", if actor.role == Role::Practitioner { "Take it myself" } else { "Allocate" }, vec![worker]);
    let t = T::ChecksRequested;
    form(
        t,
        "Request checks",
        "Request the checks",
        vec![
            f(t, "agency", "Agency", "select").required().choices(AGENCIES, false),
            f(t, "request", "What is asked", "area").required(),
        ],
    );
    let t = T::ChecksReturned;
    let agencies: Vec<&str> = if actor.role == Role::Partner {
        AGENCIES.iter().copied().filter(|a| key(actor.agency) == *a).collect()
    } else {
        AGENCIES.to_vec()
    };
    form(
        t,
        "Return a check",
        "Record the check",
        vec![
            f(t, "agency", "Returning agency", "select").required().choices(&agencies, false),
            f(t, "summary", "What the agency knows", "area").required(),
            f(t, "restricted", "Restricted: only decision makers and the returning agency may see it", "check"),
        ],
    );
    let t = T::DutyDiscussionHeld;
    let mut fields = Vec::new();
    for i in 0..3 {
        let n = i + 1;
        fields.push(f(t, &format!("participants[{i}].name"), &format!("Participant {n}: name"), "text"));
        fields.push(f(t, &format!("participants[{i}].role"), &format!("Participant {n}: role"), "text"));
        fields.push(
            f(t, &format!("participants[{i}].agency"), &format!("Participant {n}: agency"), "select")
                .choices(AGENCIES, true),
        );
    }
    fields.push(f(t, "summary", "Summary", "area").required());
    fields.push(f(t, "needs", "Needs, one a line", "lines"));
    fields.push(f(t, "recommendation", "Recommendation", "select").choices(OUTCOME_KEYS, true));
    form(t, "Record the duty discussion", "Record the discussion", fields);
    let t = T::DecisionMade;
    let mut fields = vec![
        f(t, "outcome", "Outcome", "select").required().choices(OUTCOME_KEYS, false),
        f(t, "rationale", "Rationale", "area").required(),
        f(t, "level_of_need", "Level of need", "select").choices(&["1", "2", "3", "4"], true).numeric(),
        f(t, "primary_need", "Primary need", "select")
            .choices(&["N0", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"], true)
            .hint("Required for an assessment or a strategy discussion."),
    ];
    if let Some(d) = &record.decision {
        fields.push(f(t, "revises.event_id", "Revises the decision", "hidden").value(d.event_id.to_string()));
        fields.push(f(t, "revises.reason", "Why the decision is revised", "area").required());
    }
    for (i, child) in record.children.iter().enumerate() {
        fields.push(
            f(
                t,
                &format!("children[{i}].upn_unknown_reason"),
                &format!("{}: why the UPN is not known", child.name),
                "select",
            )
            .choices(UPN_UNKNOWN, true)
            .hint("For a school-age child without a UPN, on an assessment or strategy discussion."),
        );
    }
    fields
        .push(f(t, "duplicate_of", "Duplicate of (contact id)", "text").hint("Only when not accepted as a duplicate."));
    form(t, if record.decision.is_some() { "Revise the decision" } else { "Decide" }, "Record the decision", fields);
    let t = T::ConsentRecorded;
    form(
        t,
        "Consent or its override",
        "Record consent",
        vec![
            f(t, "consent", "Consent", "select").required().choices(CONSENTS, false),
            f(t, "reason", "Reason (required to override)", "area"),
        ],
    );
    let t = T::ActionPlanAgreed;
    let mut fields = Vec::new();
    for i in 0..3 {
        let n = i + 1;
        fields.push(
            f(t, &format!("actions[{i}].owner_agency"), &format!("Action {n}: agency"), "select")
                .choices(AGENCIES, true),
        );
        fields.push(f(t, &format!("actions[{i}].description"), &format!("Action {n}: what"), "text"));
        fields.push(f(t, &format!("actions[{i}].due"), &format!("Action {n}: due"), "date"));
    }
    fields.push(f(t, "referrer_role", "The referrer's part", "text"));
    form(t, "Agree an action plan", "Agree the plan", fields);
    let t = T::ReferrerInformed;
    form(
        t,
        "Inform the referrer",
        "Record it",
        vec![
            f(t, "method", "How", "select").required().choices(&["phone", "email", "letter", "portal"], false),
            f(t, "summary", "What they were told", "area").required(),
        ],
    );
    let t = T::HandoverSent;
    form(
        t,
        "Hand over",
        "Send the handover",
        vec![
            f(t, "to", "To", "select").required().choices(HANDOVER_TO, false),
            f(t, "team", "Team", "text").hint("Required for the assessment team and early help."),
            f(t, "notes", "Notes", "area"),
        ],
    );
    let pending = record.handover.as_ref().filter(|h| h.status == projections::contact::HandoverStatus::Pending);
    if let Some(h) = pending {
        let t = T::HandoverAccepted;
        form(
            t,
            "Record the handover accepted",
            "Record the acceptance",
            vec![
                f(t, "team", "Team", "text").required().value(h.team.clone().unwrap_or_default()),
                f(t, "worker", "Worker", "text"),
                f(t, "evidence", "How it was confirmed", "area"),
            ],
        );
        let t = T::HandoverReturned;
        form(
            t,
            "Record the handover returned",
            "Record the return",
            vec![f(t, "reason", "Why it came back", "area").required()],
        );
    }
    let t = T::CorrectionRecorded;
    let mut target = f(t, "corrects_event_id", "Event to correct", "select").required();
    target.options = events
        .iter()
        .map(|e| {
            (
                e.event_id.to_string(),
                format!("{} {}: {}", e.version, words(e.event_type.as_str()), london(e.occurred_at)),
            )
        })
        .collect();
    form(
        t,
        "Correct a field",
        "Record the correction",
        vec![
            target,
            f(t, "field", "Field", "text")
                .required()
                .hint("children[0].date_of_birth, consent, restricted, summary or occurred_at"),
            f(t, "value", "Correct value", "value").required().hint("true, false, a date, a time or text"),
            f(t, "reason", "Why", "area").required(),
        ],
    );
    if record.closure.is_none() {
        let t = T::ContactClosed;
        form(t, "Close", "Close the contact", vec![f(t, "reason", "Why", "area").required()]);
    }
    forms
}

/// `GET /contacts/{id}`
#[utoipa::path(
    get,
    path = "/contacts/{id}",
    tag = "pages",
    operation_id = "contact_page",
    summary = "A contact's page on the duty board",
    description = "The duty team's record of a contact, as `GET /v1/contacts/{id}` gives it to the viewer (restricted \
        checks only for those who may see them), what was done on it, the previous contacts about its children, and \
        forms for the actions the viewer's role may take (sent by the page's script to \
        `POST /v1/contacts/{id}/events` with `expected_version`). The read is recorded in the access log. Without a \
        session it sends the browser to `/signin`, and back here once signed in; unknown contacts get a page saying so (404).",
    params(ContactPath),
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn contact_page(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let endpoint = format!("/contacts/{}", id.parse::<Ulid>().map(|u| u.to_string()).unwrap_or_else(|_| id.clone()));
    // Signed in, the browser comes back here; only a well-formed contact address goes into
    // the redirect (the sign-in page's `safe_next` checks it again).
    let back = if id.parse::<Ulid>().is_ok() { endpoint.as_str() } else { "/" };
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin(back) };
    let chrome = || Chrome::new("Contact", Some(&actor), Nav::Board);
    // The record comes from the log, its previous contacts from the read model: the model
    // first holds every event acknowledged before this request, so the two agree.
    if let Err(e) = crate::http::queue::require_current(&app).await {
        return message(StatusCode::SERVICE_UNAVAILABLE, chrome(), &e.to_string());
    }
    let read = Read { kind: ReadKind::Contact, action: "read_contact", endpoint: &endpoint };
    let now = Utc::now();
    let read = match app.front_door().read_contact_logged(&actor, read, &id, now).await {
        Ok(read) => read,
        Err(AppError::Forbidden(_)) => {
            return message(StatusCode::FORBIDDEN, chrome(), "Your role may not open a contact's record.");
        }
        Err(AppError::NotFound(_)) => return message(StatusCode::NOT_FOUND, chrome(), "No such contact."),
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, chrome(), &e.to_string()),
    };
    let Some(state) = read.state.as_ref() else {
        return message(StatusCode::NOT_FOUND, chrome(), "No such contact.");
    };
    if actor.role == Role::Referrer {
        return message(StatusCode::FORBIDDEN, chrome(), "Referrers see their contacts on their own page.");
    }
    let (record, events) = duty_record(&app, &actor, state, read.events, now);
    let (child_ids, previous) = previous_contacts(&app, &record);
    let shown: Vec<Ulid> = previous.iter().map(|p| p.contact).collect();
    if !shown.is_empty()
        && let Err(e) = app.front_door().record_reads(&actor, &shown, "read_previous_contacts", &endpoint, now).await
    {
        return message(StatusCode::SERVICE_UNAVAILABLE, chrome(), &e.to_string());
    }
    let page = page(chrome(), &actor, &record, &events, Shown { child_ids, previous }, now);
    render(StatusCode::OK, &page)
}

/// Each child's id in the child index, and the other contacts about each child of the contact,
/// as the index links them now.
fn previous_contacts(app: &AppState, record: &Contact) -> (Vec<Option<String>>, Vec<PreviousRow>) {
    let model = app.live().model();
    let index = model.children();
    let mut ids = Vec::new();
    let mut out: Vec<PreviousRow> = Vec::new();
    for (i, child) in record.children.iter().enumerate() {
        let child_id = index.child_id_of(record.contact_id, i);
        ids.push(child_id.map(str::to_owned));
        let Some(child_id) = child_id else { continue };
        let Some(found) = index.child(child_id) else { continue };
        for (contact, _, received) in found.contacts {
            if contact != record.contact_id && !out.iter().any(|p| p.contact == contact && p.child_id == found.child_id)
            {
                out.push(PreviousRow {
                    child: child.name.clone(),
                    child_id: found.child_id.clone(),
                    contact,
                    received: london(received),
                    later: received > record.received_at,
                });
            }
        }
    }
    (ids, out)
}

/// What the child index says of the contact's children.
struct Shown {
    child_ids: Vec<Option<String>>,
    previous: Vec<PreviousRow>,
}

fn page(
    chrome: Chrome,
    actor: &Actor,
    record: &Contact,
    events: &[Envelope],
    shown: Shown,
    now: DateTime<Utc>,
) -> ContactWorkPage {
    let Shown { child_ids, previous } = shown;
    let today = projections::time::to_london(now).date_naive();
    let occurred: HashMap<Ulid, DateTime<Utc>> = events.iter().map(|e| (e.event_id, e.occurred_at)).collect();
    let who = |e: &Envelope| format!("{} ({})", e.actor.id, words(&e.actor.role.to_string()));
    let line = |e: &Envelope, text: Vec<String>| Line {
        when: london(occurred.get(&e.event_id).copied().unwrap_or(e.occurred_at)),
        who: who(e),
        text,
    };
    let (mut calls, mut requested, mut discussions, mut plans, mut informed, mut corrections, mut notes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut rating_reason = None;
    for env in events {
        let Ok(event) = env.event() else { continue };
        match event {
            Event::TriageRated(r) => rating_reason = r.reason.clone(),
            Event::CallLogged(c) => calls.push(line(
                env,
                vec![
                    format!(
                        "{} call with the {}, {} min, started {}",
                        words(&key(c.direction)),
                        key(c.with).replace('_', " "),
                        c.duration_seconds.div_ceil(60),
                        london(c.started_at)
                    ),
                    c.summary.clone(),
                ],
            )),
            Event::ChecksRequested(c) => requested.push(line(env, vec![words(&key(c.agency)), c.request.clone()])),
            Event::DutyDiscussionHeld(d) => {
                let people = d
                    .participants
                    .iter()
                    .map(|p| format!("{} ({}, {})", p.name, p.role, key(p.agency).replace('_', " ")))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut text = vec![format!("With {people}"), d.summary.clone()];
                if !d.needs.is_empty() {
                    text.push(format!("Needs: {}", d.needs.join("; ")));
                }
                if let Some(r) = d.recommendation {
                    text.push(format!("Recommended: {}", words(&key(r))));
                }
                discussions.push(line(env, text));
            }
            Event::ActionPlanAgreed(p) => {
                let mut text: Vec<String> = p
                    .actions
                    .iter()
                    .map(|a| {
                        let due = a.due.map(|d| format!(", due {}", d.format("%-d %b %Y"))).unwrap_or_default();
                        format!("{}: {}{due}", words(&key(a.owner_agency)), a.description)
                    })
                    .collect();
                if let Some(r) = &p.referrer_role {
                    text.push(format!("Referrer: {r}"));
                }
                plans.push(line(env, text));
            }
            Event::ReferrerInformed(r) => {
                informed.push(line(env, vec![format!("By {}", key(r.method)), r.summary.clone()]));
            }
            Event::CorrectionRecorded(c) => {
                let target = events.iter().find(|e| e.event_id == c.corrects_event_id).map_or_else(
                    || c.corrects_event_id.to_string(),
                    |e| format!("event {} ({})", e.version, words(e.event_type.as_str())),
                );
                let value = match &c.value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                corrections
                    .push(line(env, vec![format!("{target}: {} is {value}", c.field), format!("Why: {}", c.reason)]));
            }
            Event::NoteAdded(n) => notes.push(line(env, vec![n.text.clone()])),
            _ => {}
        }
    }
    let checks = record
        .checks
        .iter()
        .map(|c| CheckRow {
            agency: words(&key(c.agency)),
            summary: c.summary.clone(),
            restricted: c.restricted,
            when: london(c.returned_at),
            who: c.returned_by.clone(),
        })
        .collect();
    let children: Vec<ChildRow> = record
        .children
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut ids = Vec::new();
            if let Some(n) = &c.nhs_number {
                ids.push(format!("NHS {n}"));
            }
            if let Some(u) = &c.upn {
                ids.push(format!("UPN {u}"));
            }
            if let Some(r) = &c.child_ref {
                ids.push(format!("ref {r}"));
            }
            if let Some(s) = c.sex {
                ids.push(format!("sex {}", key(s)));
            }
            ChildRow {
                name: c.name.clone(),
                age: age(c.date_of_birth, c.expected_date_of_birth, today),
                identifiers: if ids.is_empty() { "none given".to_owned() } else { ids.join(", ") },
                child_id: child_ids.get(i).cloned().flatten(),
            }
        })
        .collect();
    let referrer = [
        ("Name", Some(record.referrer.name.clone())),
        ("Organisation", record.referrer.organisation.clone()),
        ("Role", record.referrer.role.clone()),
        ("Phone", record.referrer.phone.clone()),
        ("Email", record.referrer.email.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let decision = record.decision.as_ref().map(|d| {
        let mut rows = vec![
            ("Outcome", words(&key(d.outcome))),
            ("In plain words", outcome_in_plain_words(d.outcome).to_owned()),
            ("Rationale", d.rationale.clone()),
        ];
        if let Some(l) = d.level_of_need {
            rows.push(("Level of need", l.to_string()));
        }
        if let Some(p) = d.primary_need {
            rows.push(("Primary need", key(p)));
        }
        rows.push(("Decided", format!("{} by {}", london(d.decided_at), d.decided_by)));
        if d.revisions > 0 {
            rows.push(("Revisions", d.revisions.to_string()));
        }
        rows
    });
    let handover = record.handover.as_ref().map(|h| {
        let mut rows = vec![("To", words(&key(h.to)))];
        if let Some(t) = &h.team {
            rows.push(("Team", t.clone()));
        }
        rows.push(("Sent", london(h.sent_at)));
        rows.push(("Status", words(&key(h.status))));
        if let Some(d) = h.due_by {
            rows.push(("Acceptance due", format!("{}{}", london(d), if h.overdue { " (overdue)" } else { "" })));
        }
        if let Some(a) = h.answered_at {
            rows.push(("Answered", london(a)));
        }
        if let Some(w) = &h.worker {
            rows.push(("Worker", w.clone()));
        }
        if let Some(r) = &h.returned_reason {
            rows.push(("Returned because", r.clone()));
        }
        rows
    });
    let names: Vec<&str> = record.children.iter().map(|c| c.name.as_str()).collect();
    ContactWorkPage {
        chrome,
        contact: record.contact_id,
        version: record.version,
        title: names.join(", "),
        stage: words(&key(record.stage)),
        received: london(record.received_at),
        due: london(record.due_by),
        overdue: record.overdue,
        immediate_risk: record.immediate_risk,
        channel: words(&key(record.channel)),
        source: format!("{} {}", key(record.source), record.source.description()),
        follows_consultation: record.follows_consultation,
        ppn_grade: record.ppn_grade.map(|g| words(&key(g))),
        referrer,
        children,
        concerns: record.concerns.clone(),
        consent: words(&key(record.consent)),
        rating: record.rating.map(|r| {
            let r = key(r).to_uppercase();
            rating_reason.as_ref().map_or_else(|| r.clone(), |why| format!("{r}: {why}"))
        }),
        rating_class: record.rating.map(|r| format!("rating-{}", key(r))).unwrap_or_default(),
        assigned_to: record.assigned_to.clone(),
        team_worker: record.team_worker.clone(),
        calls,
        checks_requested: requested,
        checks,
        discussions,
        decision,
        action_plans: plans,
        referrer_informed: informed,
        handover,
        corrections,
        notes,
        closure: record.closure.as_ref().map(|c| format!("{}: {}", london(c.at), c.reason)),
        previous,
        actions: action_forms(actor, record, events),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_childs_age_turns_on_the_birthday() {
        let born = Some(day("2017-05-04"));
        assert_eq!(age(born, None, day("2026-05-03")), "8 (born 4 May 2017)");
        assert_eq!(age(born, None, day("2026-05-04")), "9 (born 4 May 2017)");
        assert_eq!(age(Some(day("2026-01-10")), None, day("2026-05-04")), "under 1 (born 10 Jan 2026)");
        assert_eq!(age(None, Some(day("2026-08-01")), day("2026-05-04")), "unborn (expected 1 Aug 2026)");
        assert_eq!(age(None, None, day("2026-05-04")), "age not known");
    }

    #[test]
    fn a_fields_id_is_its_path_in_words() {
        let f = FormField::new("duty_discussion_held", "participants[2].agency", "Agency", "select");
        assert_eq!(f.id, "duty-discussion-held-participants-2-agency");
        assert_eq!(f.name, "participants[2].agency");
        assert_eq!(words("adult_social_care"), "Adult social care");
    }
}
