//! `GET /v1/access`: the access log (who read what of the children's records), a page at a
//! time, for auditors and admins.

use axum::Json;
use axum::extract::{Query, State};
use chrono::Utc;
use eventlog::{AccessRecord, AccessScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::Caller;
use super::log::{parse_after, parse_limit};
use super::problem::ReadAccessErrors;
use super::state::AppState;
use crate::auth::{self, ReadKind};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_access))
}

/// A page of the access log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessPage {
    /// Entries in position order, each with its place in the access chain (`position`,
    /// `prev_hash`, `hash`), the read it records, and what it covered: `contact_id` for a read
    /// of one contact, `range`, `contacts`, `as_of` or `query` for a bulk read.
    pub entries: Vec<AccessRecord>,
    /// Pass as `after` for the next page; equal to `after` when there is nothing newer.
    pub next_after: u64,
}

/// Query parameters, taken as text so a bad value gets our own error naming it.
#[derive(Debug, Deserialize)]
pub struct Page {
    after: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/access",
    tag = "log",
    operation_id = "read_access",
    summary = "Read the access log",
    description = "Every recorded read of the children's records (and every refused one), in the order recorded, a \
        page at a time, with each entry's position and hash in the access chain (`hash = SHA-256(prev_hash ‖ body)`, \
        see eventlog/README.md). Start with `after=0` and pass each page's `next_after` as the next `after`; a page \
        shorter than `limit` means you have caught up. Auditors and admins only. This read is itself recorded (after \
        the page is read, so it appears on the next page).",
    params(
        ("after" = Option<u64>, Query, description = "Return entries after this access position (default 0: from the start).", minimum = 0),
        ("limit" = Option<u32>, Query, description = "The most entries to return: 1 to 1000, default 100.", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "A page of the access log.", body = AccessPage),
        ReadAccessErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/access?after=<position>&limit=<n>`
#[tracing::instrument(skip_all, fields(actor))]
async fn read_access(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(page): Query<Page>,
) -> Result<Json<AccessPage>, ApiError> {
    if !auth::may_read(caller.role, ReadKind::AccessLog) {
        return Err(ApiError::Forbidden(format!("a {} may not read the access log", caller.role)));
    }
    let after = parse_after(page.after.as_deref())?;
    let limit = parse_limit(page.limit.as_deref())?;
    let entries = tokio::task::block_in_place(|| app.log().read_access_after(after, limit))?;
    let next_after = entries.last().map_or(after, |e| e.position);
    // The read of the access log is itself recorded; for this action the range names the
    // access positions returned.
    let scope = AccessScope::range(after, next_after);
    app.front_door().record_bulk_read(&caller, "read_access_log", "/v1/access", Utc::now(), scope).await?;
    Ok(Json(AccessPage { entries, next_after }))
}
