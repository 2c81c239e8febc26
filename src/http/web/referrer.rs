//! A referrer's pages: "My referrals" (`/referrals`, the contacts it made, as
//! `GET /v1/contacts?made_by=me` gives them), the online referral form (`/referrals/new`) and
//! one of its contacts (`/referrals/{id}`: what happens next, adding information, the feedback
//! survey). Nothing of the duty team's record is shown: each page is drawn from the referrer's
//! view ([`referrer_view`]) and nothing else.
//!
//! The forms are sent by the pages' script (`/assets/referral.js`) as JSON to the API with the
//! session cookie (the same-origin check of every write by cookie): the referral to
//! `POST /v1/contacts`, information to `POST /v1/contacts/{id}/events` as `note_added`, the
//! survey as `referrer_feedback_given`. The API's one command path checks the role, that the
//! contact is the referrer's own and open (or decided, for feedback, once), and its 422
//! `errors` are shown beside the fields they name.
//!
//! Every page read is logged as the API's are: the list as `read_own_contacts`, a contact as
//! `read_contact` (another referrer's contact is a 404, logged as refused).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use eventlog::{Actor, Role};
use events::schema::{Consent, Sex, SourceCode};
use ulid::Ulid;

use super::{Chrome, Nav, london, message, page_actor, render, to_signin};
use crate::app::{AppError, Read};
use crate::auth::ReadKind;
use crate::http::extract::ContactPath;
use crate::http::state::AppState;
use crate::http::views::{ReferrerContact, ReferrerStage, referrer_view};

/// What a role other than a referrer is told on a referrer's pages.
const REFERRERS_ONLY: &str = "These pages are for referrers: they show a referrer the contacts it made.";

fn referrer_only(actor: &Actor, title: &'static str, nav: Nav) -> Option<Response> {
    (actor.role != Role::Referrer)
        .then(|| message(StatusCode::FORBIDDEN, Chrome::new(title, Some(actor), nav), REFERRERS_ONLY))
}

/// A contact the referrer made, as its pages show it.
struct Referral {
    id: Ulid,
    received: String,
    children: String,
    /// `received`, `being_looked_at`, `decided`, `closed`: the stage's class on the page.
    stage: &'static str,
    stage_label: &'static str,
    stage_text: String,
    outcome_text: Option<String>,
    next_step: String,
    open: bool,
    feedback_open: bool,
    feedback_given: bool,
}

impl Referral {
    fn of(view: &ReferrerContact) -> Self {
        let (stage, stage_label) = match view.stage {
            ReferrerStage::Received => ("received", "Received"),
            ReferrerStage::BeingLookedAt => ("being_looked_at", "Being looked at"),
            ReferrerStage::Decided => ("decided", "Decided"),
            ReferrerStage::Closed => ("closed", "Closed"),
        };
        Referral {
            id: view.contact_id,
            received: london(view.received_at),
            children: view.children.join(", "),
            stage,
            stage_label,
            stage_text: view.stage_text.clone(),
            outcome_text: view.outcome_text.clone(),
            next_step: view.next_step.clone(),
            open: view.open,
            feedback_open: view.feedback_open,
            feedback_given: view.feedback_given,
        }
    }
}

/// `web/templates/referrals.html`
#[derive(Template)]
#[template(path = "referrals.html")]
struct ReferralsPage {
    chrome: Chrome,
    referrals: Vec<Referral>,
}

/// `GET /referrals`
#[utoipa::path(
    get,
    path = "/referrals",
    tag = "pages",
    operation_id = "my_referrals",
    summary = "My referrals: the contacts a referrer made",
    description = "For a signed-in referrer: the contacts it made, newest first, each with its stage and outcome in \
        plain words and the next step (as `GET /v1/contacts?made_by=me`), each opening `/referrals/{id}`. The read \
        is recorded in each contact's access log. Without a session it sends the browser to `/signin`; other \
        roles get a page saying so (403).",
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn my_referrals(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/referrals") };
    if let Some(refused) = referrer_only(&actor, "My referrals", Nav::Referrals) {
        return refused;
    }
    let chrome = || Chrome::new("My referrals", Some(&actor), Nav::Referrals);
    if let Err(e) = crate::http::queue::require_current(&app).await {
        return message(StatusCode::SERVICE_UNAVAILABLE, chrome(), &e.to_string());
    }
    let mut ids = app.live().model().made_by_referrer(&actor.id).to_vec();
    // Newest first: a contact's id begins with its receipt time.
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let states = match app
        .front_door()
        .read_own_contacts_logged(&actor, &ids, "read_own_contacts", "/referrals", Utc::now())
        .await
    {
        Ok(states) => states,
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, chrome(), &e.to_string()),
    };
    let referrals = states.iter().map(|s| Referral::of(&referrer_view(s))).collect();
    render(StatusCode::OK, &ReferralsPage { chrome: chrome(), referrals })
}

/// `web/templates/referral-form.html`
#[derive(Template)]
#[template(path = "referral-form.html")]
struct ReferralFormPage {
    chrome: Chrome,
    /// (code, description) of each census source.
    sources: Vec<(&'static str, &'static str)>,
    /// (value, words) of each sex.
    sexes: Vec<(&'static str, &'static str)>,
    /// (value, words) of each consent a referrer may give.
    consents: Vec<(&'static str, &'static str)>,
}

/// `GET /referrals/new`
#[utoipa::path(
    get,
    path = "/referrals/new",
    tag = "pages",
    operation_id = "referral_form",
    summary = "The online referral form",
    description = "For a signed-in referrer: the fields of `POST /v1/contacts` (to which the page's script sends them, \
        as JSON with the session cookie; the API's 422 errors are shown beside the fields), consent in plain words, \
        what to do when a child is in immediate danger, and a confirmation with the contact's reference. Without a \
        session it sends the browser to `/signin`; other roles get a page saying so (403).",
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn referral_form(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/referrals/new") };
    if let Some(refused) = referrer_only(&actor, "Make a referral", Nav::NewReferral) {
        return refused;
    }
    let sources = SourceCode::ALL
        .iter()
        .filter(|s| !matches!(s, SourceCode::Anonymous | SourceCode::Unknown | SourceCode::SelfReferral))
        .map(|s| (s.as_str(), s.description()))
        .collect();
    let sexes = Sex::ALL
        .iter()
        .map(|s| {
            let words = match s {
                Sex::Male => "Male",
                Sex::Female => "Female",
                Sex::Unknown => "Not known",
            };
            (s.as_str(), words)
        })
        .collect();
    let consents = [
        (Consent::Given, "Yes: the family know about this referral and agree to it"),
        (Consent::NotGiven, "No: the family were asked and do not agree"),
        (Consent::Unknown, "Not asked: the family have not been asked (say why in the concerns)"),
    ]
    .into_iter()
    .map(|(c, words)| (c.as_str(), words))
    .collect();
    let chrome = Chrome::new("Make a referral", Some(&actor), Nav::NewReferral);
    render(StatusCode::OK, &ReferralFormPage { chrome, sources, sexes, consents })
}

/// `web/templates/referral.html`
#[derive(Template)]
#[template(path = "referral.html")]
struct ReferralPage {
    chrome: Chrome,
    referral: Referral,
}

/// `GET /referrals/{id}`
#[utoipa::path(
    get,
    path = "/referrals/{id}",
    tag = "pages",
    operation_id = "referral_page",
    summary = "What happens next with a contact the referrer made",
    description = "For a signed-in referrer, one contact it made, as `GET /v1/contacts/{id}` shows it to the referrer: \
        received, being looked at or decided, the outcome in plain words and the next step; a form to add \
        information while it is open (`note_added`) and, once decided, the feedback survey \
        (`referrer_feedback_given`, once). Nothing else of the record. The read is recorded in the access log; \
        another referrer's contact is a page saying there is no such contact (404). Without a session it sends \
        the browser to `/signin`; other roles get a page saying so (403).",
    params(ContactPath),
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn referral_page(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let endpoint = format!("/referrals/{}", id.parse::<Ulid>().map(|u| u.to_string()).unwrap_or_else(|_| id.clone()));
    let back = if id.parse::<Ulid>().is_ok() { endpoint.as_str() } else { "/referrals" };
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin(back) };
    if let Some(refused) = referrer_only(&actor, "Your referral", Nav::Referrals) {
        return refused;
    }
    let chrome = || Chrome::new("Your referral", Some(&actor), Nav::Referrals);
    let read = Read { kind: ReadKind::Contact, action: "read_contact", endpoint: &endpoint };
    let state = match app.front_door().read_contact_logged(&actor, read, &id, Utc::now()).await {
        Ok(read) => read.state,
        Err(AppError::NotFound(_) | AppError::Forbidden(_)) => None,
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, chrome(), &e.to_string()),
    };
    let Some(state) = state else {
        return message(StatusCode::NOT_FOUND, chrome(), "No such contact among the contacts you made.");
    };
    render(StatusCode::OK, &ReferralPage { chrome: chrome(), referral: Referral::of(&referrer_view(&state)) })
}
