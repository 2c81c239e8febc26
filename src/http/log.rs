//! `GET /v1/events`: the global log, a page at a time, for integrating tools and auditors.

use axum::Json;
use axum::extract::{Query, State};
use chrono::Utc;
use eventlog::{AccessScope, Envelope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, MAX_LIMIT};
use super::problem::ReadLogErrors;
use super::state::AppState;
use super::views::visible_events;
use crate::auth::{self, ReadKind};

const DEFAULT_LIMIT: usize = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_events))
}

/// A page of the global log.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsPage {
    /// Envelopes in position order (restricted checks left out for roles that may not see them).
    pub events: Vec<Envelope>,
    /// Pass as `after` for the next page; equal to `after` when there is nothing newer.
    pub next_after: u64,
}

/// Query parameters, taken as text so a bad value gets our own error naming it.
#[derive(Debug, Deserialize)]
pub struct Page {
    after: Option<String>,
    limit: Option<String>,
}

pub(crate) fn parse_after(raw: Option<&str>) -> Result<u64, ApiError> {
    raw.map_or(Ok(0), |v| v.parse().map_err(|_| ApiError::bad_param("after", "must be a position: 0 or more")))
}

/// A page's `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub(crate) fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    raw.map_or(Ok(DEFAULT_LIMIT), |v| {
        v.parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::bad_param("limit", format!("must be 1 to {MAX_LIMIT}")))
    })
}

#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "log",
    operation_id = "read_events",
    summary = "Read the global log",
    description = "Every contact's events in log order, a page at a time. Start with `after=0` and pass each page's \
        `next_after` as the next `after`; a page shorter than `limit` means you have caught up. \
        Restricted checks are left out for roles that may not see them. Each page is recorded in the access \
        log as one entry naming the positions it returns (`read_log`).",
    params(
        ("after" = Option<u64>, Query, description = "Return events after this position (default 0: from the start).", minimum = 0),
        ("limit" = Option<u32>, Query, description = "The most events to return: 1 to 1000, default 100.", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "A page of the log.", body = EventsPage),
        ReadLogErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/events?after=<position>&limit=<n>`
#[tracing::instrument(skip_all, fields(actor))]
async fn read_events(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(page): Query<Page>,
) -> Result<Json<EventsPage>, ApiError> {
    if !auth::may_read(caller.role, ReadKind::GlobalEvents) {
        return Err(ApiError::Forbidden(format!("a {} may not read the global log", caller.role)));
    }
    let after = parse_after(page.after.as_deref())?;
    let limit = parse_limit(page.limit.as_deref())?;
    let events = app.log().read_all(after, limit)?;
    let next_after = events.last().map_or(after, |e| e.position);
    // One access entry for the page, naming the positions it returns, durable before it is sent.
    app.front_door()
        .record_bulk_read(&caller, "read_log", "/v1/events", Utc::now(), AccessScope::range(after, next_after))
        .await?;
    // Restricted checks are filtered per contact, with each contact's whole stream in view so
    // a correction of a hidden check is hidden too.
    let mut visible = Vec::with_capacity(events.len());
    let mut by_contact: std::collections::HashMap<ulid::Ulid, std::collections::HashSet<ulid::Ulid>> =
        std::collections::HashMap::new();
    for env in events {
        if auth::sees_all_restricted(caller.role) {
            visible.push(env);
            continue;
        }
        let shown = match by_contact.entry(env.contact_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let stream = app.log().read_contact(env.contact_id)?;
                e.insert(visible_events(stream, &caller).into_iter().map(|e| e.event_id).collect())
            }
        };
        if shown.contains(&env.event_id) {
            visible.push(env);
        }
    }
    Ok(Json(EventsPage { events: visible, next_after }))
}
