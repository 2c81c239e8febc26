//! The children pages for the duty team: `/children`, a search for a child frontdoor has seen
//! (or, with `?contact=ID`, the likely matches of each child a contact names, so the worker
//! links instead of starting a new story), and `/children/{child_id}`, a child's contacts in
//! receipt order, each linking to what the viewer may open of it (the audit trail for
//! auditors and admins, the contact's page for the others).
//!
//! Both call the same application functions as `GET /v1/children` and
//! `GET /v1/children/{child_id}`, so the search, the roles allowed and the access log's
//! record of every read are the API's own; the pages only lay out what those return, in the
//! API's shape.

use askama::Template;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use eventlog::Actor;
use events::EventType;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Chrome, Nav, london, message, page_actor, render, to_signin};
use crate::app::{AppError, Read};
use crate::auth::{self, ReadKind};
use crate::http::children::{AdultSearch, ChildSearch, read_child, search_adults, search_children};
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::http::state::AppState;

/// The search form's fields, as typed (shown again above the results).
#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub date_of_birth: String,
    #[serde(default)]
    pub nhs_number: String,
    #[serde(default)]
    pub upn: String,
    #[serde(default)]
    pub postcode: String,
    /// The likely matches of each child this contact names.
    #[serde(default)]
    pub contact: String,
    /// The adults search's fields (`GET /v1/adults`).
    #[serde(default)]
    pub adult_name: String,
    #[serde(default)]
    pub adult_date_of_birth: String,
    #[serde(default)]
    pub adult_postcode: String,
}

impl SearchForm {
    fn is_empty(&self) -> bool {
        [&self.name, &self.date_of_birth, &self.nhs_number, &self.upn, &self.postcode]
            .iter()
            .all(|f| f.trim().is_empty())
    }

    fn adults_asked(&self) -> bool {
        [&self.adult_name, &self.adult_date_of_birth, &self.adult_postcode].iter().any(|f| !f.trim().is_empty())
    }
}

/// `web/templates/children.html`
#[derive(Template)]
#[template(path = "children.html")]
struct ChildrenPage {
    chrome: Chrome,
    form: SearchForm,
    problem: Option<String>,
    groups: Vec<Group>,
    /// The viewer may link a contact's child to a candidate (`children_linked`).
    can_link: bool,
    /// The adults search's answer, when one was asked for.
    adults: Option<Vec<AdultRow>>,
    /// A bad field of the adults search.
    adult_problem: Option<String>,
}

/// An adult the adults search found.
struct AdultRow {
    name: String,
    date_of_birth: String,
    relationships: String,
    matched_on: String,
    score: String,
    /// Each contact naming them: its id and its children's ids.
    contacts: Vec<(String, Vec<String>)>,
}

/// One list of candidates: the search's, or one child's of a contact.
struct Group {
    title: String,
    for_contact: bool,
    candidates: Vec<CandidateRow>,
    /// For a contact's child: what a link from this list appends to.
    link: Option<LinkTarget>,
}

/// A contact's child, as a `children_linked` or `children_unlinked` names it.
struct LinkTarget {
    contact: String,
    child_index: u8,
    /// The contact's version when the page was made (`expected_version`).
    version: u32,
}

struct CandidateRow {
    /// The contact's own child, as linked now (for a contact's candidates).
    is_current: bool,
    child_id: String,
    name: String,
    date_of_birth: String,
    matched_on: String,
    score: String,
    contacts: String,
}

/// `web/templates/child.html`
#[derive(Template)]
#[template(path = "child.html")]
struct ChildPage {
    chrome: Chrome,
    child_id: String,
    name: String,
    /// Other spellings of the name seen.
    also: String,
    date_of_birth: String,
    contacts: Vec<ChildContactRow>,
    /// The professional consultations that named the child: (taken, caller's agency and
    /// source, the advice's first line, how many contacts followed).
    consultations: Vec<(String, String, String, usize)>,
    /// The viewer may unlink a contact from the child (`children_unlinked`).
    can_link: bool,
}

struct ChildContactRow {
    id: String,
    /// The child's index in the contact's `children`.
    child_index: String,
    /// The contact's version when the page was made (`expected_version`).
    version: String,
    received: String,
    source: String,
    concerns: String,
    outcome: String,
    handover: String,
    /// The contact's audit trail (auditors, admins) or its page on the board.
    href: String,
    link_text: &'static str,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A date as people read it (`3 Apr 2015`), or what was given.
fn date(v: &Value) -> String {
    let s = text(v);
    s.parse::<NaiveDate>().map_or(s, |d| d.format("%-d %b %Y").to_string())
}

/// Why a candidate matched, in words: `matched_on` is a list of what agreed (`nhs_number`,
/// `name`, `date_of_birth`, ...), or one such word.
fn matched_on(v: &Value) -> String {
    let words = |s: &str| match s {
        "nhs_number" => "NHS number".to_owned(),
        "upn" => "UPN".to_owned(),
        "child_ref" => "case reference".to_owned(),
        "date_of_birth" => "date of birth".to_owned(),
        "name_phonetic" => "name sounds alike".to_owned(),
        "date_of_birth_partial" => "date of birth in part".to_owned(),
        other => other.replace('_', " "),
    };
    match v {
        Value::Array(items) => items.iter().map(|i| words(&text(i))).collect::<Vec<_>>().join(", "),
        other => words(&text(other)),
    }
}

/// A score for people: a share as a percentage, a number as it is.
fn score(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if (0.0..=1.0).contains(&f) && !v.is_u64() => format!("{:.0}%", f * 100.0),
        Some(f) => format!("{f}"),
        None => text(v),
    }
}

/// How many contacts: a count, or the list of them.
fn contacts(v: &Value) -> String {
    match v {
        Value::Array(items) => items.len().to_string(),
        other => text(other),
    }
}

fn candidate_rows(answer: &Value) -> Vec<CandidateRow> {
    answer["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| CandidateRow {
            is_current: false,
            child_id: text(&c["child_id"]),
            name: text(&c["name"]),
            date_of_birth: date(&c["date_of_birth"]),
            matched_on: matched_on(&c["matched_on"]),
            score: score(&c["score"]),
            contacts: contacts(&c["contacts"]),
        })
        .collect()
}

/// A contact of a child's record as a row; `trail` says whether the viewer may open audit
/// trails (else the link opens the contact's page, `/contacts/{id}`).
fn contact_row(c: &Value, trail: bool) -> ChildContactRow {
    let id = text(&c["contact_id"]);
    let received = c["received_at"]
        .as_str()
        .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        .map_or_else(|| text(&c["received_at"]), london);
    let (href, link_text) =
        if trail { (format!("/qa/contacts/{id}"), "Audit trail") } else { (format!("/contacts/{id}"), "Open") };
    let handover = match &c["handover"] {
        Value::Object(h) if h.is_empty() => String::new(),
        Value::Object(h) => {
            let to = h.get("to").map(text).unwrap_or_default().replace('_', " ");
            let team = h.get("team").map(text).filter(|t| !t.is_empty());
            let state = h.get("state").or_else(|| h.get("status")).map(text).filter(|s| !s.is_empty());
            let mut out = to;
            if let Some(team) = team {
                out = format!("{out} ({team})");
            }
            if let Some(state) = state {
                out = format!("{out}: {}", state.replace('_', " "));
            }
            out
        }
        other => text(other).replace('_', " "),
    };
    ChildContactRow {
        received,
        source: text(&c["source"]),
        concerns: text(&c["concerns"]).lines().next().unwrap_or_default().to_owned(),
        outcome: {
            let o = text(&c["outcome"]).replace('_', " ");
            if o.is_empty() { "Not yet decided".to_owned() } else { o }
        },
        handover: if handover.is_empty() { "–".to_owned() } else { handover },
        href,
        link_text,
        id,
        child_index: text(&c["child_index"]),
        version: text(&c["version"]),
    }
}

/// Whether the viewer may link and unlink children (`children_linked`, `children_unlinked`):
/// only then do the pages show the controls (the API refuses the others anyway).
fn may_link(actor: &Actor) -> bool {
    auth::may_append(actor.role, EventType::ChildrenLinked) && auth::may_append(actor.role, EventType::ChildrenUnlinked)
}

/// How a refusal of the API's own functions reads on these pages.
fn refused(e: ApiError, chrome: Chrome) -> Response {
    match e {
        ApiError::Forbidden(_) => message(StatusCode::FORBIDDEN, chrome, "Only the duty team may search for children."),
        ApiError::NotFound(what) => message(StatusCode::NOT_FOUND, chrome, &format!("Not found: {what}.")),
        ApiError::BadRequest { detail, .. } => message(StatusCode::BAD_REQUEST, chrome, &detail),
        other => message(StatusCode::SERVICE_UNAVAILABLE, chrome, &other.to_string()),
    }
}

/// The search, as `GET /v1/children` makes it (its own function: the terms checked, the index
/// searched, the read recorded with the page's address), in the API's shape.
async fn search(app: &AppState, actor: &Actor, terms: Value, endpoint: &str) -> Result<Value, ApiError> {
    let search: ChildSearch = serde_json::from_value(terms).map_err(ApiError::internal)?;
    let uri: Uri = endpoint.parse().map_err(ApiError::internal)?;
    let found = search_children(State(app.clone()), Caller(actor.clone()), Query(search), OriginalUri(uri)).await?;
    serde_json::to_value(found.0).map_err(ApiError::internal)
}

/// The adults search, as `GET /v1/adults` makes it, in the API's shape, as rows.
async fn adult_search(
    app: &AppState,
    actor: &Actor,
    form: &SearchForm,
    endpoint: &str,
) -> Result<Vec<AdultRow>, ApiError> {
    let mut terms = serde_json::Map::new();
    for (key, value) in
        [("name", &form.adult_name), ("date_of_birth", &form.adult_date_of_birth), ("postcode", &form.adult_postcode)]
    {
        if !value.trim().is_empty() {
            terms.insert(key.to_owned(), Value::String(value.trim().to_owned()));
        }
    }
    let search: AdultSearch = serde_json::from_value(Value::Object(terms)).map_err(ApiError::internal)?;
    let uri: Uri = endpoint.parse().map_err(ApiError::internal)?;
    let found = search_adults(State(app.clone()), Caller(actor.clone()), Query(search), OriginalUri(uri)).await?;
    let answer = serde_json::to_value(found.0).map_err(ApiError::internal)?;
    Ok(answer["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| AdultRow {
            name: text(&a["name"]),
            date_of_birth: date(&a["date_of_birth"]),
            relationships: a["relationships"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| text(r).replace('_', " "))
                .collect::<Vec<_>>()
                .join(", "),
            matched_on: matched_on(&a["matched_on"]),
            score: score(&a["score"]),
            contacts: a["contacts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| (text(&c["contact_id"]), c["child_ids"].as_array().into_iter().flatten().map(text).collect()))
                .collect(),
        })
        .collect())
}

/// The form's terms, as the API's query takes them (empty fields left out).
fn terms(form: &SearchForm) -> Value {
    let mut terms = serde_json::Map::new();
    for (key, value) in [
        ("name", &form.name),
        ("date_of_birth", &form.date_of_birth),
        ("nhs_number", &form.nhs_number),
        ("upn", &form.upn),
        ("postcode", &form.postcode),
    ] {
        if !value.trim().is_empty() {
            terms.insert(key.to_owned(), Value::String(value.trim().to_owned()));
        }
    }
    Value::Object(terms)
}

/// The likely matches of each child `contact` names: the contact read (a logged read, as
/// `GET /v1/contacts/{id}`), then each child searched for by what the contact says of them.
async fn possible_matches(
    app: &AppState,
    actor: &Actor,
    contact: &str,
    endpoint: &str,
) -> Result<Vec<Group>, ApiError> {
    if !auth::may_read(actor.role, ReadKind::Children) {
        return Err(ApiError::Forbidden(format!("a {} may not read children's records", actor.role)));
    }
    let read = Read { kind: ReadKind::Contact, action: "read_contact", endpoint };
    let read = app.front_door().read_contact_logged(actor, read, contact, Utc::now()).await.map_err(|e| match e {
        AppError::NotFound(what) => ApiError::NotFound(what),
        AppError::Forbidden(why) => ApiError::Forbidden(why),
        other => ApiError::from(other),
    })?;
    let Some(state) = read.state else { return Ok(Vec::new()) };
    let mut groups = Vec::new();
    for (index, child) in state.children.iter().enumerate() {
        let terms = json!({
            "name": child.name,
            "date_of_birth": child.date_of_birth,
            "nhs_number": child.nhs_number,
            "upn": child.upn,
            "postcode": child.address.as_ref().and_then(|a| a.postcode.clone()),
        });
        let answer = search(app, actor, terms, endpoint).await?;
        let current = app.live().model().children().child_id_of(state.contact_id, index).map(str::to_owned);
        let mut candidates = candidate_rows(&answer);
        for c in &mut candidates {
            c.is_current = current.as_deref() == Some(c.child_id.as_str());
        }
        groups.push(Group {
            title: format!("Possible matches for {}", child.name),
            for_contact: true,
            candidates,
            link: current.map(|_| LinkTarget {
                contact: state.contact_id.to_string(),
                child_index: u8::try_from(index).unwrap_or(u8::MAX),
                version: state.version,
            }),
        });
    }
    Ok(groups)
}

/// What the form asks for, as the access log records the page's address.
fn endpoint(form: &SearchForm) -> String {
    let mut pairs: Vec<String> = Vec::new();
    for (key, value) in [
        ("name", &form.name),
        ("date_of_birth", &form.date_of_birth),
        ("nhs_number", &form.nhs_number),
        ("upn", &form.upn),
        ("postcode", &form.postcode),
        ("contact", &form.contact),
        ("adult_name", &form.adult_name),
        ("adult_date_of_birth", &form.adult_date_of_birth),
        ("adult_postcode", &form.adult_postcode),
    ] {
        if !value.trim().is_empty() {
            pairs.push(format!("{key}={}", urlencoding(value.trim())));
        }
    }
    if pairs.is_empty() { "/children".to_owned() } else { format!("/children?{}", pairs.join("&")) }
}

/// Percent-encodes all but letters, digits and `-._~` (RFC 3986's unreserved characters).
fn urlencoding(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /children`
#[utoipa::path(
    get,
    path = "/children",
    tag = "pages",
    operation_id = "children_page",
    summary = "Find a child, for people",
    description = "A search form (name, date of birth, NHS number, UPN, postcode) and the children frontdoor has \
        seen that match, with why and how well, as `GET /v1/children` finds them; with `contact`, the likely matches \
        of each child that contact names (with a form to link the contact's child to one, for those who may); with \
        `adult_name`, `adult_date_of_birth` or `adult_postcode`, the adults contacts name, as `GET /v1/adults` finds \
        them. Every search is a logged read, as the API's. The duty team only: \
        without a session it sends the browser to `/signin`; other roles get a page saying so (403); a bad field \
        is named on the page (400).",
    params(
        ("name" = Option<String>, Query, description = "A child's name, or part of it."),
        ("date_of_birth" = Option<String>, Query, format = Date, description = "YYYY-MM-DD."),
        ("nhs_number" = Option<String>, Query, description = "Ten digits."),
        ("upn" = Option<String>, Query, description = "Unique pupil number."),
        ("postcode" = Option<String>, Query, description = "A UK postcode."),
        ("contact" = Option<String>, Query, description = "A contact id: the likely matches of each of its children."),
        ("adult_name" = Option<String>, Query, description = "The adults search (`GET /v1/adults`): a name, or part of it."),
        ("adult_date_of_birth" = Option<String>, Query, format = Date, description = "The adults search: YYYY-MM-DD."),
        ("adult_postcode" = Option<String>, Query, description = "The adults search: a UK postcode."),
    ),
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn children_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(form): Query<SearchForm>,
) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/children") };
    let chrome = || Chrome::new("Children", Some(&actor), Nav::Children);
    let endpoint = endpoint(&form);
    let can_link = may_link(&actor);
    let page = |form, problem, groups, adults, adult_problem| ChildrenPage {
        chrome: chrome(),
        form,
        problem,
        groups,
        can_link,
        adults,
        adult_problem,
    };
    if form.adults_asked() {
        return match adult_search(&app, &actor, &form, &endpoint).await {
            Ok(rows) => render(StatusCode::OK, &page(form, None, Vec::new(), Some(rows), None)),
            Err(ApiError::BadRequest { detail, .. }) => {
                render(StatusCode::BAD_REQUEST, &page(form, None, Vec::new(), None, Some(detail)))
            }
            Err(e) => refused(e, chrome()),
        };
    }
    let groups = if !form.contact.trim().is_empty() {
        match possible_matches(&app, &actor, form.contact.trim(), &endpoint).await {
            Ok(groups) => groups,
            Err(e) => return refused(e, chrome()),
        }
    } else if form.is_empty() {
        if !auth::may_read(actor.role, ReadKind::Children) {
            return refused(ApiError::Forbidden(String::new()), chrome());
        }
        Vec::new()
    } else {
        match search(&app, &actor, terms(&form), &endpoint).await {
            Ok(answer) => {
                vec![Group {
                    title: "Children found".to_owned(),
                    for_contact: false,
                    candidates: candidate_rows(&answer),
                    link: None,
                }]
            }
            Err(ApiError::BadRequest { detail, .. }) => {
                return render(StatusCode::BAD_REQUEST, &page(form, Some(detail), Vec::new(), None, None));
            }
            Err(e) => return refused(e, chrome()),
        }
    };
    render(StatusCode::OK, &page(form, None, groups, None, None))
}

/// `GET /children/{child_id}`
#[utoipa::path(
    get,
    path = "/children/{child_id}",
    tag = "pages",
    operation_id = "child_page",
    summary = "A child's contacts, for people",
    description = "The child's contacts in receipt order (received, source, the concerns' first line, outcome, \
        handover), as `GET /v1/children/{child_id}` gives them, each linking to its audit trail for auditors and \
        admins and to the contact's page (`/contacts/{id}`) for the others. A logged read, as the API's. The duty team only: \
        without a session it sends the browser to `/signin`; other roles and unknown children get a page saying \
        so (403, 404).",
    params(("child_id" = String, Path, description = "The child index's id: 1 to 20 letters and digits.")),
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn child_page(State(app): State<AppState>, headers: HeaderMap, Path(child_id): Path<String>) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/children") };
    let chrome = || Chrome::new("Child", Some(&actor), Nav::Children);
    let endpoint = format!("/children/{}", urlencoding(&child_id));
    let uri: Uri = match endpoint.parse() {
        Ok(uri) => uri,
        Err(e) => return refused(ApiError::internal(e), chrome()),
    };
    let record = match read_child(State(app.clone()), Caller(actor.clone()), Path(child_id), OriginalUri(uri)).await {
        Ok(record) => serde_json::to_value(record.0).unwrap_or_default(),
        Err(e) => return refused(e, chrome()),
    };
    let trail = auth::may_read(actor.role, ReadKind::ContactAudit);
    let names: Vec<String> = record["names"].as_array().into_iter().flatten().map(text).collect();
    let page = ChildPage {
        chrome: chrome(),
        child_id: text(&record["child_id"]),
        // The name as most recently written; the others as "also".
        name: names.last().cloned().unwrap_or_default(),
        also: names.iter().rev().skip(1).cloned().collect::<Vec<_>>().join(", "),
        date_of_birth: date(&record["date_of_birth"]),
        contacts: record["contacts"].as_array().into_iter().flatten().map(|c| contact_row(c, trail)).collect(),
        consultations: record["consultations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let followed = c["followed_by"].as_array().map_or(0, Vec::len);
                let caller = format!("{} ({})", text(&c["agency"]), text(&c["source"]));
                let day: String = text(&c["occurred_at"]).chars().take(10).collect();
                (date(&Value::String(day)), caller, text(&c["advice"]), followed)
            })
            .collect(),
        can_link: may_link(&actor),
    };
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrome() -> Chrome {
        Chrome::new("Children", None, Nav::Children)
    }

    #[test]
    fn candidates_say_why_they_matched_and_their_score_escaped() {
        let answer = serde_json::json!({"candidates": [
            {"child_id": "C7K2Q9", "name": "Zoë <b>Smith</b>", "date_of_birth": "2015-04-03",
             "matched_on": ["name", "date_of_birth"], "score": 0.82, "contacts": 2},
            {"child_id": "C11", "name": "Zoe Smyth", "date_of_birth": "2015-03-04",
             "matched_on": "nhs_number", "score": 1.0, "contacts": [{"contact_id": "a"}]}
        ]});
        let page = ChildrenPage {
            chrome: chrome(),
            form: SearchForm { name: "Zoe \"Smyth\"".into(), ..SearchForm::default() },
            problem: None,
            groups: vec![Group {
                title: "Children found".into(),
                for_contact: false,
                candidates: candidate_rows(&answer),
                link: None,
            }],
            can_link: false,
            adults: None,
            adult_problem: None,
        };
        let html = page.render().unwrap();
        assert!(html.contains("href=\"/children/C7K2Q9\""), "{html}");
        assert!(html.contains("Zoë &#60;b&#62;Smith&#60;/b&#62;") && !html.contains("<b>Smith"), "{html}");
        assert!(
            html.contains("<td>name, date of birth</td><td class=\"num\">82%</td><td class=\"num\">2</td>"),
            "{html}"
        );
        assert!(html.contains("<td>NHS number</td><td class=\"num\">100%</td><td class=\"num\">1</td>"), "{html}");
        assert!(html.contains("3 Apr 2015"), "{html}");
        assert!(html.contains("value=\"Zoe &#34;Smyth&#34;\""), "the search is shown again, escaped: {html}");
    }

    #[test]
    fn adults_show_their_roles_and_each_contacts_children() {
        let answer = serde_json::json!({"name": "Dana <i>K</i>", "date_of_birth": "1989-06-07",
            "relationships": ["parent", "person_causing_concern"], "matched_on": ["name_phonetic"], "score": 0.35,
            "contacts": [{"contact_id": "01J0000000000000000000000A", "child_ids": ["C1", "C2"]}]});
        let row = AdultRow {
            name: text(&answer["name"]),
            date_of_birth: date(&answer["date_of_birth"]),
            relationships: "parent, person causing concern".into(),
            matched_on: matched_on(&answer["matched_on"]),
            score: score(&answer["score"]),
            contacts: vec![("01J0000000000000000000000A".into(), vec!["C1".into(), "C2".into()])],
        };
        let page = ChildrenPage {
            chrome: chrome(),
            form: SearchForm { adult_name: "Dana".into(), ..SearchForm::default() },
            problem: None,
            groups: Vec::new(),
            can_link: false,
            adults: Some(vec![row]),
            adult_problem: None,
        };
        let html = page.render().unwrap();
        assert!(html.contains("Dana &#60;i&#62;K&#60;/i&#62;") && !html.contains("<i>K"), "{html}");
        assert!(
            html.contains(
                "<td>parent, person causing concern</td><td>name sounds alike</td><td class=\"num\">35%</td>"
            ),
            "{html}"
        );
        assert!(html.contains("href=\"/children/C1\"") && html.contains("href=\"/children/C2\""), "{html}");
        assert!(html.contains("id=\"adult_name\"") && html.contains("value=\"Dana\""), "{html}");
    }

    #[test]
    fn a_childs_contacts_link_to_the_trail_or_the_contacts_page() {
        let c = serde_json::json!({"contact_id": "01J0000000000000000000000A", "received_at": "2026-02-02T10:00:00Z",
            "source": "2A", "concerns": "First line\nsecond line", "outcome": "early_help",
            "handover": {"to": "early_help", "team": "Early Help East", "state": "accepted"}});
        let auditor = contact_row(&c, true);
        assert_eq!(auditor.href, "/qa/contacts/01J0000000000000000000000A");
        assert_eq!(auditor.concerns, "First line");
        assert_eq!(auditor.outcome, "early help");
        assert_eq!(auditor.handover, "early help (Early Help East): accepted");
        assert_eq!(auditor.received, "Mon 2 Feb 2026 10:00");
        let worker = contact_row(&c, false);
        assert_eq!(worker.href, "/contacts/01J0000000000000000000000A");
        let undecided = contact_row(&serde_json::json!({"contact_id": "x", "outcome": null}), false);
        assert_eq!((undecided.outcome.as_str(), undecided.handover.as_str()), ("Not yet decided", "–"));
    }
}
