//! `GET /v1/events/stream?after=<position>`: the global log as Server-Sent Events, a
//! catch-up subscription (`id:` = position, `event:` = type), resumable with `Last-Event-ID`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, PresentedToken};
use super::problem::LiveReadErrors;
use super::queue::{TOKEN_RECHECK, last_event_id, shutting_down};
use super::state::AppState;
use crate::auth::{self, ReadKind};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events_stream))
}

#[derive(Debug, serde::Deserialize)]
pub struct After {
    after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "log",
    operation_id = "events_stream",
    summary = "The global log, live (Server-Sent Events)",
    description = "Every stored event after `after`, then each new one as it becomes durable: `id:` is the \
        position, `event:` the type, `data:` the envelope. No gap, no duplicate; reconnect with `Last-Event-ID` \
        to resume. The stream ends when the token is revoked. Each connection is recorded in the access log \
        before the stream starts (`read_log_stream`, from `after` to the head as it opened).",
    params(
        ("after" = Option<u64>, Query, description = "Start after this position (default 0)."),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this position (wins over `after`)."),
    ),
    responses(
        (status = 200, description = "An event stream.", content_type = "text/event-stream", body = String),
        LiveReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/events/stream`
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn events_stream(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Extension(token): Extension<PresentedToken>,
    Query(query): Query<After>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    if !auth::may_read(caller.role, ReadKind::GlobalEvents) {
        return Err(ApiError::Forbidden(format!("a {} may not read the global log", caller.role)));
    }
    // Last-Event-ID (a reconnecting browser) wins over ?after= (the first connection).
    let after = match last_event_id(&headers)? {
        Some(p) => p,
        None => super::log::parse_after(query.after.as_deref())?,
    };
    // One access entry for the connection, durable before the first byte of the stream: from
    // `after` on, `to` being the head as it opened.
    let head = app.log().head().position;
    app.front_door()
        .record_bulk_read(
            &caller,
            "read_log_stream",
            "/v1/events/stream",
            chrono::Utc::now(),
            eventlog::AccessScope::range(after, head),
        )
        .await?;
    let sees_all = auth::sees_all_restricted(caller.role);
    let mut subscription = app.log().subscribe(after);
    let (tx, rx) = mpsc::channel::<Result<SseEvent, Infallible>>(256);
    tokio::spawn(async move {
        let _client = app.metrics().sse_client(super::metrics::SseStream::Events);
        let mut recheck = tokio::time::interval(TOKEN_RECHECK);
        loop {
            tokio::select! {
                next = subscription.next() => {
                    let Ok(env) = next else { return };
                    if app.tokens().authenticate(&token.0).is_none() {
                        return;
                    }
                    if !sees_all {
                        // Only roles that see every restricted check read the global log
                        // today; should that change, filter per contact as /v1/events does.
                        let stream = app.log().read_contact(env.contact_id).unwrap_or_default();
                        if !super::views::visible_events(stream, &caller).iter().any(|e| e.event_id == env.event_id) {
                            continue;
                        }
                    }
                    let event = SseEvent::default()
                        .id(env.position.to_string())
                        .event(env.event_type.as_str())
                        .data(serde_json::to_string(&env).unwrap_or_default());
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                _ = recheck.tick() => {
                    if app.tokens().authenticate(&token.0).is_none() {
                        return;
                    }
                }
                () = tx.closed() => return,
                () = app.shutdown().cancelled() => {
                    let _ = tx.try_send(Ok(shutting_down()));
                    return;
                }
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}
