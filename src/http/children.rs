//! `/v1/children`: the child index ([`projections::children`]): search for a child, and read a
//! child's record, every contact about them in receipt order. Both are reads of children's
//! records: each is recorded in the access log of every contact it shows, before it is sent.

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use chrono::{DateTime, NaiveDate, Utc};
use eventlog::AccessScope;
use events::schema::{Agency, HandoverTo, Outcome, Relationship, SourceCode};
use projections::children;
use projections::contact::HandoverStatus;
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::Caller;
use super::problem::{AdultSearchErrors, ChildReadErrors, ChildSearchErrors};
use super::queue::require_current;
use super::state::AppState;
use crate::app::command::fold;
use crate::auth::{self, ReadKind};

/// The routes of `/v1/children`, each with its OpenAPI path.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_children)).routes(routes!(read_child)).routes(routes!(search_adults))
}

/// `GET /v1/children`: what to search for. At least one term; a child matching any of them
/// is a candidate, scored by all.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChildSearch {
    /// A name, or part of one (each word must sound like a word of the child's name). Compared
    /// with case, diacritics and invisible characters folded, and by Double Metaphone codes.
    name: Option<String>,
    /// A date of birth, YYYY-MM-DD. The same year and month, or the day and month swapped, is a
    /// partial match (with a name that matches).
    #[param(format = Date)]
    date_of_birth: Option<String>,
    /// An NHS number (spaces ignored).
    nhs_number: Option<String>,
    /// A Unique Pupil Number.
    upn: Option<String>,
    /// A UK postcode (any case and spacing) of the child's address.
    postcode: Option<String>,
}

/// A child a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChildCandidate {
    /// The child's id in the child index: 1 to 20 letters and digits.
    pub child_id: String,
    /// The name as most recently written.
    pub name: String,
    pub date_of_birth: Option<NaiveDate>,
    /// Why it matched: `nhs_number`, `upn`, `name` (the same name once folded),
    /// `name_phonetic` (a name that sounds the same), `date_of_birth`, `date_of_birth_partial`
    /// (the same year and month, or day and month swapped), `postcode`.
    pub matched_on: Vec<&'static str>,
    /// 0 to 1: the weights of `matched_on` added up (NHS number or UPN 1, name 0.5, a
    /// sound-alike name 0.35, date of birth 0.4, a partial date 0.15, postcode 0.15), at most 1.
    pub score: f64,
    /// How many contacts are about the child (`GET /v1/children/{child_id}` lists them).
    pub contacts: u32,
    /// How many professional consultations named the child (never counted as contacts).
    pub consultations: u32,
}

/// `200` from `GET /v1/children`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChildSearchResult {
    /// Best first, at most 50. Candidates are offered, never linked: a practitioner links a
    /// contact's child with `children_linked`.
    pub candidates: Vec<ChildCandidate>,
}

/// A handover as a child's record shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChildHandover {
    pub to: HandoverTo,
    pub team: Option<String>,
    /// `pending`, `accepted` or `returned`.
    pub status: &'static str,
}

/// One contact about a child, as the child's record shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChildContact {
    pub contact_id: Ulid,
    /// The child's index in the contact's `children` (for `children_linked`/`children_unlinked`).
    pub child_index: u8,
    /// The name the contact gave the child.
    pub name: String,
    #[serde(with = "events::envelope::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
    pub source: SourceCode,
    /// The first line of the concerns.
    pub concerns: String,
    /// The decision in force, if decided.
    pub outcome: Option<Outcome>,
    /// The latest handover, if any.
    pub handover: Option<ChildHandover>,
    pub closed: bool,
    /// The contact's version now: the `expected_version` of a `children_unlinked` on it.
    pub version: u32,
}

/// A professional consultation that named a child, as the child's record shows it: never one
/// of its contacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChildConsultation {
    /// `GET /v1/consultations/{id}` reads it.
    pub consultation_id: Ulid,
    /// The child's index in the consultation's `children`.
    pub child_index: u8,
    /// The name the consultation gave the child.
    pub name: String,
    #[serde(with = "events::envelope::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    pub agency: Agency,
    pub source: SourceCode,
    /// The first line of the advice given.
    pub advice: String,
    /// The contacts that followed it.
    pub followed_by: Vec<Ulid>,
}

/// `200` from `GET /v1/children/{child_id}`: the child's record.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChildRecord {
    /// The child's id (for a merged id, the id of the child it was merged into).
    pub child_id: String,
    /// Every spelling of the name seen, first seen first.
    pub names: Vec<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub nhs_numbers: Vec<String>,
    pub upns: Vec<String>,
    pub child_refs: Vec<String>,
    /// Every contact about the child, in order of receipt.
    pub contacts: Vec<ChildContact>,
    /// Every professional consultation that named the child, in the order taken.
    pub consultations: Vec<ChildConsultation>,
}

/// The longest search term.
const TERM_MAX: usize = 200;

fn term(field: &str, raw: Option<&String>) -> Result<Option<String>, ApiError> {
    let Some(v) = raw.map(|v| v.trim()).filter(|v| !v.is_empty()) else { return Ok(None) };
    if v.chars().count() > TERM_MAX {
        return Err(ApiError::bad_param(field, format!("must be at most {TERM_MAX} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::bad_param(field, "must not contain control characters"));
    }
    Ok(Some(v.to_owned()))
}

impl ChildSearch {
    fn query(&self) -> Result<children::Query, ApiError> {
        let date_of_birth = super::figures::parse_date(
            "date_of_birth",
            term("date_of_birth", self.date_of_birth.as_ref())?.as_deref(),
        )?;
        let nhs_number = term("nhs_number", self.nhs_number.as_ref())?;
        if let Some(n) = &nhs_number
            && !n.chars().all(|c| c.is_ascii_digit() || c == ' ')
        {
            return Err(ApiError::bad_param("nhs_number", "must be digits (spaces are ignored)"));
        }
        let q = children::Query {
            name: term("name", self.name.as_ref())?,
            date_of_birth,
            nhs_number,
            upn: term("upn", self.upn.as_ref())?,
            postcode: term("postcode", self.postcode.as_ref())?,
        };
        if q.name.is_none()
            && q.date_of_birth.is_none()
            && q.nhs_number.is_none()
            && q.upn.is_none()
            && q.postcode.is_none()
        {
            return Err(ApiError::bad_param(
                "name",
                "give at least one of name, date_of_birth, nhs_number, upn and postcode to search by",
            ));
        }
        Ok(q)
    }
}

fn may_read_children(caller: &eventlog::Actor) -> Result<(), ApiError> {
    if auth::may_read(caller.role, ReadKind::Children) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("a {} may not read children's records", caller.role)))
    }
}

#[utoipa::path(
    get,
    path = "/v1/children",
    tag = "children",
    operation_id = "search_children",
    summary = "Search for a child",
    description = "Children frontdoor has seen who match any of the terms, scored: an NHS number or UPN, a name \
        (the same once folded, or one that sounds the same), a date of birth (exact, or partial with a name), a \
        postcode. Candidates are offered, never linked. The search is recorded as one entry of the access log, with \
        its terms (`scope.query`), listing every contact about each candidate (action `search_children`), so each \
        of their audit trails shows it. No restricted check is ever shown.",
    params(ChildSearch),
    responses(
        (status = 200, description = "The candidates, best first.", body = ChildSearchResult),
        ChildSearchErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/children`
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn search_children(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(search): Query<ChildSearch>,
    uri: OriginalUri,
) -> Result<Json<ChildSearchResult>, ApiError> {
    may_read_children(&caller)?;
    let query = search.query()?;
    require_current(&app).await?;
    let (found, contacts): (Vec<children::Candidate>, Vec<Ulid>) = {
        let model = app.live().model();
        let index = model.children();
        let found = index.search(&query);
        let mut contacts: Vec<Ulid> = found
            .iter()
            .filter_map(|c| index.child(&c.child_id))
            .flat_map(|r| r.contacts.into_iter().chain(r.consultations).map(|c| c.0))
            .collect();
        contacts.sort_unstable();
        contacts.dedup();
        (found, contacts)
    };
    // One entry for the search, with its terms, indexed under every contact about each
    // candidate (so each contact's audit trail shows who searched their way to it).
    let endpoint = uri.0.path_and_query().map_or_else(|| uri.0.path().to_owned(), |p| p.as_str().to_owned());
    let scope = AccessScope { contacts, query: uri.0.query().map(str::to_owned), ..AccessScope::default() };
    app.front_door().record_bulk_read(&caller, "search_children", &endpoint, Utc::now(), scope).await?;
    let candidates = found
        .into_iter()
        .map(|c| ChildCandidate {
            child_id: c.child_id,
            name: c.name,
            date_of_birth: c.date_of_birth,
            matched_on: c.matched_on,
            score: c.score,
            contacts: c.contacts,
            consultations: c.consultations,
        })
        .collect();
    Ok(Json(ChildSearchResult { candidates }))
}

#[utoipa::path(
    get,
    path = "/v1/children/{child_id}",
    tag = "children",
    operation_id = "read_child",
    summary = "Read a child's record",
    description = "The child as the child index links them now: the names and identifiers seen, and every contact \
        about them in order of receipt (when, the source, the concerns' first line, the outcome, the handover). \
        A child id merged into another names the child it was merged into. The read is recorded in the access \
        log of every contact shown (action `read_child`).",
    params(("child_id" = String, Path, description = "The child's id: 1 to 20 letters and digits.", pattern = "^[A-Za-z0-9]{1,20}$")),
    responses(
        (status = 200, description = "The child's record.", body = ChildRecord),
        ChildReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/children/{child_id}`
#[tracing::instrument(skip_all, fields(actor, child = %child_id))]
pub(crate) async fn read_child(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(child_id): Path<String>,
    uri: OriginalUri,
) -> Result<Json<ChildRecord>, ApiError> {
    may_read_children(&caller)?;
    if !events::validate::is_child_id(&child_id) {
        return Err(ApiError::bad_param("child_id", "must be 1 to 20 letters and digits"));
    }
    require_current(&app).await?;
    let record = app.live().model().children().child(&child_id);
    let Some(record) = record else { return Err(ApiError::NotFound(format!("no child {child_id}"))) };
    let mut contacts = Vec::with_capacity(record.contacts.len());
    for (contact, index, received_at) in &record.contacts {
        let events = app.log().read_contact(*contact).map_err(ApiError::internal)?;
        let Some(state) = fold(&events).map_err(ApiError::from)? else { continue };
        let handover = state.handover.as_ref().map(|h| ChildHandover {
            to: h.to,
            team: h.team.clone(),
            status: match h.status {
                HandoverStatus::Pending => "pending",
                HandoverStatus::Accepted => "accepted",
                HandoverStatus::Returned => "returned",
            },
        });
        contacts.push(ChildContact {
            contact_id: *contact,
            child_index: *index,
            name: state.children.get(usize::from(*index)).map(|c| c.name.clone()).unwrap_or_default(),
            received_at: *received_at,
            source: state.source,
            concerns: state.concerns.lines().next().unwrap_or_default().to_owned(),
            outcome: state.decision.as_ref().map(|d| d.outcome),
            handover,
            closed: state.closed.is_some(),
            version: state.version,
        });
    }
    let consultations: Vec<ChildConsultation> = {
        let model = app.live().model();
        record
            .consultations
            .iter()
            .filter_map(|&(id, index, occurred_at)| {
                let c = model.consultation(id)?;
                Some(ChildConsultation {
                    consultation_id: id,
                    child_index: index,
                    name: c.data.children.get(usize::from(index)).map(|c| c.name.clone()).unwrap_or_default(),
                    occurred_at,
                    agency: c.data.agency,
                    source: c.data.source,
                    advice: c.data.advice.lines().next().unwrap_or_default().to_owned(),
                    followed_by: c.followed_by.clone(),
                })
            })
            .collect()
    };
    let ids: Vec<Ulid> =
        contacts.iter().map(|c| c.contact_id).chain(consultations.iter().map(|c| c.consultation_id)).collect();
    app.front_door().record_reads(&caller, &ids, "read_child", uri.0.path(), Utc::now()).await?;
    Ok(Json(ChildRecord {
        child_id: record.child_id,
        names: record.names,
        date_of_birth: record.date_of_birth,
        nhs_numbers: record.nhs_numbers,
        upns: record.upns,
        child_refs: record.child_refs,
        contacts,
        consultations,
    }))
}

/// `GET /v1/adults`: what to search for. At least one term; an adult matching any of them is a
/// candidate, scored by all (once a name is given, the name must match or sound alike).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdultSearch {
    /// A name, or part of one (each word must sound like a word of the adult's name). Compared
    /// with case, diacritics and invisible characters folded, and by Double Metaphone codes.
    name: Option<String>,
    /// A date of birth, YYYY-MM-DD (the day and month swapped is a partial match, with a name
    /// that matches).
    #[param(format = Date)]
    date_of_birth: Option<String>,
    /// A UK postcode (any case and spacing) of the adult's address.
    postcode: Option<String>,
}

impl AdultSearch {
    fn query(&self) -> Result<children::Query, ApiError> {
        let date_of_birth = super::figures::parse_date(
            "date_of_birth",
            term("date_of_birth", self.date_of_birth.as_ref())?.as_deref(),
        )?;
        let q = children::Query {
            name: term("name", self.name.as_ref())?,
            date_of_birth,
            postcode: term("postcode", self.postcode.as_ref())?,
            ..children::Query::default()
        };
        if q.name.is_none() && q.date_of_birth.is_none() && q.postcode.is_none() {
            return Err(ApiError::bad_param(
                "name",
                "give at least one of name, date_of_birth and postcode to search by",
            ));
        }
        Ok(q)
    }
}

/// A contact naming an adult a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdultContact {
    pub contact_id: Ulid,
    /// The child ids of the contact's children (as the child index links them now), in the
    /// contact's order: `GET /v1/children/{child_id}` reads each.
    pub child_ids: Vec<String>,
}

/// An adult a search found: the adults of every contact with the same name (once folded) and
/// date of birth, taken as one person.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdultCandidate {
    /// The name as most recently written.
    pub name: String,
    pub date_of_birth: Option<NaiveDate>,
    /// How the contacts name them (`parent`, `carer`, `household_member`,
    /// `person_causing_concern`, `other`), each once, first seen first.
    pub relationships: Vec<Relationship>,
    /// Why they matched: `name`, `name_phonetic`, `date_of_birth`, `date_of_birth_partial`,
    /// `postcode` (as for children).
    pub matched_on: Vec<&'static str>,
    /// 0 to 1, weighted as for children.
    pub score: f64,
    /// The contacts naming them, in the order recorded, each with its children's ids.
    pub contacts: Vec<AdultContact>,
}

/// `200` from `GET /v1/adults`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdultSearchResult {
    /// Best first, at most 50.
    pub candidates: Vec<AdultCandidate>,
}

#[utoipa::path(
    get,
    path = "/v1/adults",
    tag = "children",
    operation_id = "search_adults",
    summary = "Search for an adult named on contacts",
    description = "The adults contacts name (parents, carers, household members, people causing concern) who match \
        any of the terms, scored as children are: a name (the same once folded, or one that sounds the same), a date \
        of birth, a postcode. The adults of several contacts with the same name and date of birth are one candidate, \
        listing each contact with its children's child ids. Who may search is who may search for children. The \
        search is recorded as one entry of the access log, with its terms (`scope.query`), listing every contact \
        shown (action `search_adults`). No check is ever shown, restricted or not.",
    params(AdultSearch),
    responses(
        (status = 200, description = "The candidates, best first.", body = AdultSearchResult),
        AdultSearchErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/adults`
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn search_adults(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(search): Query<AdultSearch>,
    uri: OriginalUri,
) -> Result<Json<AdultSearchResult>, ApiError> {
    may_read_children(&caller)?;
    let query = search.query()?;
    require_current(&app).await?;
    let found = app.live().model().children().search_adults(&query);
    let mut contacts: Vec<Ulid> = found.iter().flat_map(|a| a.contacts.iter().map(|c| c.contact_id)).collect();
    contacts.sort_unstable();
    contacts.dedup();
    let endpoint = uri.0.path_and_query().map_or_else(|| uri.0.path().to_owned(), |p| p.as_str().to_owned());
    let scope = AccessScope { contacts, query: uri.0.query().map(str::to_owned), ..AccessScope::default() };
    app.front_door().record_bulk_read(&caller, "search_adults", &endpoint, Utc::now(), scope).await?;
    let candidates = found
        .into_iter()
        .map(|a| AdultCandidate {
            name: a.name,
            date_of_birth: a.date_of_birth,
            relationships: a.relationships,
            matched_on: a.matched_on,
            score: a.score,
            contacts: a
                .contacts
                .into_iter()
                .map(|c| AdultContact { contact_id: c.contact_id, child_ids: c.child_ids })
                .collect(),
        })
        .collect();
    Ok(Json(AdultSearchResult { candidates }))
}
