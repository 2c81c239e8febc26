//! The duty queue: `GET /v1/queue` and its live feed `GET /v1/queue/stream` (SSE: a
//! `snapshot` on connect, then `upsert` and `remove` as events land; `id:` is the log
//! position; a reconnect with `Last-Event-ID` gets exactly the changes since then).

use std::collections::{BTreeSet, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use eventlog::{Actor, Role};
use projections::model::{Queue, QueueItem};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use ulid::Ulid;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, PresentedToken};
use super::problem::LiveReadErrors;
use super::state::AppState;
use crate::auth::{self, ReadKind};
use crate::live::{ChangeKind, QueueBody, QueueChange};

/// `GET /v1/queue`'s query.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct QueueQuery {
    /// Only the items allocated to this worker; `me`: the caller.
    worker: Option<String>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_queue)).routes(routes!(queue_stream))
}

/// How often an open stream re-checks its token, so a revocation closes it promptly.
pub const TOKEN_RECHECK: Duration = Duration::from_secs(2);

/// The read models are rebuilt, and have applied every event acknowledged before this request
/// arrived, so a client always reads its own writes (waiting at most two seconds; past that
/// it gets the model as it is, and the delay is logged).
pub(crate) async fn require_current(app: &AppState) -> Result<(), ApiError> {
    if !app.live().is_caught_up() {
        return Err(ApiError::Unavailable("the read models are still being rebuilt from the log; see /readyz".into()));
    }
    let head = app.log().head().position;
    if !app.live().applied_up_to(head, Duration::from_secs(2)).await {
        tracing::warn!(head, "the read model is more than two seconds behind the log");
    }
    Ok(())
}

/// The queue as a `snapshot` event: the same body as `GET /v1/queue`, serialised once.
fn snapshot_event(body: &QueueBody) -> SseEvent {
    SseEvent::default()
        .id(body.position.to_string())
        .event("snapshot")
        .data(std::str::from_utf8(&body.json).unwrap_or_default())
}

/// Whether `If-None-Match` names `etag` (or is `*`): the client already holds the body.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').map(str::trim).any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
    })
}

#[utoipa::path(
    get,
    path = "/v1/queue",
    tag = "queue",
    operation_id = "read_queue",
    summary = "The duty queue",
    description = "Every open contact without a decision, plus decided ones awaiting a handover's acceptance, in the \
        contract's order: overdue first, then immediate-risk or red, then by `due_by`, then by `received_at`. \
        Each item's `list` says what is to be done next: `decision_due` (undecided) or \
        `handover_awaiting_acceptance` (decided, the handover to be sent or accepted); a client shows the two \
        lists apart by filtering on it, each in the same order. `concerns_summary` is the concerns' first line, \
        `outcome` the decision in force. `assigned_to` is the latest allocation by the front door \
        (`contact_allocated`), never whoever last recorded something. `worker=<actor id>` lists only the items \
        allocated to that worker, `worker=me` the caller's own (\"My work\"). \
        `previous_contacts`: the other contacts about the same children received in the 12 months before this \
        one, whatever order they were entered in (names compared as they look). \
        Exact rules in docs/FIGURES.md, \"The duty queue\".",
    params(
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer: 304 if the queue is still exactly that."),
        ("worker" = Option<String>, Query, description = "Only the items allocated to this worker (an actor id), or `me`: the caller's own."),
    ),
    responses(
        (
            status = 200,
            description = "The queue.",
            content_type = "application/json",
            body = Queue,
            headers(("ETag" = String, description = "A strong validator of this body; send it back as `If-None-Match`.")),
        ),
        (status = 304, description = "The queue is still the one `If-None-Match` names; no body."),
        LiveReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/queue`: the body is built once per change of the queue and shared (see
/// [`crate::live::QueueBody`]); `If-None-Match` with its `ETag` gets a 304.
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn read_queue(
    State(app): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    query: Result<axum::extract::Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if !auth::may_read(caller.role, ReadKind::Queue) {
        return Err(ApiError::Forbidden(format!("a {} may not read the duty queue", caller.role)));
    }
    let query = query.map_err(|_| ApiError::bad_param("worker", "must be an actor id or `me`"))?.0;
    let worker = match query.worker.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err(ApiError::bad_param("worker", "must be an actor id or `me`, not empty")),
        Some("me") => Some(caller.id.clone()),
        Some(id) => Some(id.to_owned()),
    };
    require_current(&app).await?;
    let (etag_text, json) = if caller.role == Role::ReceivingTeam || worker.is_some() {
        let (position, mut items) = if caller.role == Role::ReceivingTeam {
            team_queue(&app, &caller, Utc::now())
        } else {
            let model = app.live().model();
            (model.position(), model.queue(app.live().policy(), Utc::now()))
        };
        if let Some(worker) = &worker {
            items.retain(|item| item.assigned_to.as_deref() == Some(worker.as_str()));
        }
        let json = team_queue_json(position, &items);
        // A strong validator of exactly these bytes.
        (format!("\"t{}\"", &hex::encode(Sha256::digest(&json))[..32]), axum::body::Bytes::from(json))
    } else {
        let body = app.live().queue_body().await;
        (body.etag.clone(), body.json.clone())
    };
    let etag = HeaderValue::from_str(&etag_text).map_err(ApiError::internal)?;
    if not_modified(&headers, &etag_text) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let content_type = HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, content_type), (header::ETAG, etag)], json).into_response())
}

/// A receiving team's queue: its pending handovers ([`auth::awaits_team`]), in the contract's
/// order, with the position they reflect.
fn team_queue(app: &AppState, team: &Actor, now: DateTime<Utc>) -> (u64, Vec<QueueItem>) {
    let model = app.live().model();
    let mut items = model.queue_of(app.live().policy(), now, |state| auth::awaits_team(team, state));
    for item in &mut items {
        for_team(item);
    }
    (model.position(), items)
}

/// A queue line as a receiving team sees it: without what only the duty team is told (the
/// child index's possible matches).
fn for_team(item: &mut QueueItem) {
    item.possible_match = None;
}

/// The body of `GET /v1/queue` for these items (a receiving team's, or one worker's).
fn team_queue_json(position: u64, items: &[QueueItem]) -> Vec<u8> {
    serde_json::to_vec(&Queue { as_of_position: position, items: items.into() }).unwrap_or_default()
}

/// A receiving team's queue as a `snapshot` event, and the contacts it lists.
fn team_snapshot(app: &AppState, team: &Actor) -> (u64, SseEvent, HashSet<Ulid>) {
    let (position, items) = team_queue(app, team, Utc::now());
    let listed = items.iter().map(|i| i.contact_id).collect();
    let json = team_queue_json(position, &items);
    let event = SseEvent::default()
        .id(position.to_string())
        .event("snapshot")
        .data(std::str::from_utf8(&json).unwrap_or_default());
    (position, event, listed)
}

/// Which of the queue's changes a stream passes on.
enum Scope {
    /// The whole duty queue.
    All,
    /// A receiving team's pending handovers; `listed` holds the contacts its client was last sent
    /// as on its queue, the only ones it is ever told left it (of any other, it does not learn
    /// even the id).
    Team { team: Actor, listed: HashSet<Ulid> },
}

impl Scope {
    /// What this stream's client is sent of `change`, if anything.
    fn pass(&mut self, app: &AppState, change: &QueueChange) -> Option<SseEvent> {
        let Scope::Team { team, listed } = self else {
            return Some(sse_change(change));
        };
        let id = match &change.kind {
            ChangeKind::Upsert(item) => item.contact_id,
            ChangeKind::Remove(id) => *id,
        };
        // Judged on the contact as the model holds it now (at or after the change): a later
        // change to the same contact follows, and is judged the same way.
        let awaits = matches!(&change.kind, ChangeKind::Upsert(_))
            && app.live().model().contact(id).is_some_and(|state| auth::awaits_team(team, state));
        if awaits {
            listed.insert(id);
            let ChangeKind::Upsert(item) = &change.kind else { return None };
            let mut item = item.clone();
            for_team(&mut item);
            Some(sse_change(&QueueChange::new(change.position, ChangeKind::Upsert(item))))
        } else if listed.remove(&id) {
            Some(sse_change(&QueueChange::new(change.position, ChangeKind::Remove(id))))
        } else {
            None
        }
    }
}

/// Parses `Last-Event-ID` (a position); a malformed one is a 400 naming the header.
pub(crate) fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(str::trim)
            .and_then(|s| s.parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_param("Last-Event-ID", "must be a log position (a whole number)")),
    }
}

/// A change as an SSE event; its JSON was serialised once, when it was announced.
fn sse_change(change: &QueueChange) -> SseEvent {
    let event = SseEvent::default().id(change.position.to_string());
    let kind = match &change.kind {
        ChangeKind::Upsert(_) => "upsert",
        ChangeKind::Remove(_) => "remove",
    };
    event.event(kind).data(&*change.json)
}

#[utoipa::path(
    get,
    path = "/v1/queue/stream",
    tag = "queue",
    operation_id = "queue_stream",
    summary = "The duty queue, live (Server-Sent Events)",
    description = "On connect a `snapshot` event (the queue, as `GET /v1/queue`), then `upsert` (one item) and \
        `remove` (`{contact_id}`) as events land, and an `upsert` when an item turns overdue with no new event. \
        `id:` is the log position. Reconnecting with `Last-Event-ID` sends exactly the changes to the contacts \
        touched since that position instead of a snapshot. The stream ends when the token is revoked.",
    params(("Last-Event-ID" = Option<u64>, Header, description = "Resume after this position.")),
    responses(
        (status = 200, description = "An event stream.", content_type = "text/event-stream", body = String),
        LiveReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/queue/stream`
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn queue_stream(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Extension(token): Extension<PresentedToken>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !auth::may_read(caller.role, ReadKind::Queue) {
        return Err(ApiError::Forbidden(format!("a {} may not read the duty queue", caller.role)));
    }
    require_current(&app).await?;
    let resume = last_event_id(&headers)?;
    // Subscribe before reading the model, so nothing lands between the two unseen.
    let mut changes = app.live().subscribe();
    let (tx, rx) = mpsc::channel::<Result<SseEvent, Infallible>>(256);
    // A client resuming from a position the model has reached gets what it missed; any other
    // gets the queue. A receiving team always gets its queue afresh: what it missed could
    // name contacts it may not know of.
    let resume = resume.filter(|from| *from <= app.live().model().position());
    let mut scope = Scope::All;
    let (position, initial) = match resume {
        _ if caller.role == Role::ReceivingTeam => {
            let (position, snapshot, listed) = team_snapshot(&app, &caller);
            scope = Scope::Team { team: caller.clone(), listed };
            (position, vec![snapshot])
        }
        Some(from) => missed_since(&app, from)?,
        None => {
            let body = app.live().queue_body().await;
            (body.position, vec![snapshot_event(&body)])
        }
    };
    let mut cursor = Cursor { position };
    tokio::spawn(async move {
        let _client = app.metrics().sse_client(super::metrics::SseStream::Queue);
        for event in initial {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        let mut recheck = tokio::time::interval(TOKEN_RECHECK);
        loop {
            tokio::select! {
                change = changes.recv() => match cursor.next(change) {
                    Next::Skip => {}
                    Next::Change(change) => {
                        // Revocation takes effect at once: nothing announced after it reaches a
                        // revoked token (the file is looked at once per change, for every stream).
                        if app.tokens().authenticate_at(&token.0, change.seq).is_none() {
                            return;
                        }
                        let Some(event) = scope.pass(&app, &change) else { continue };
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                    Next::Resnapshot => {
                        // Too far behind to replay: start again from a fresh snapshot.
                        let event = match &mut scope {
                            Scope::All => {
                                let body = app.live().queue_body().await;
                                cursor.snapshot_taken(body.position);
                                snapshot_event(&body)
                            }
                            Scope::Team { team, listed } => {
                                let (position, event, now_listed) = team_snapshot(&app, team);
                                cursor.snapshot_taken(position);
                                *listed = now_listed;
                                event
                            }
                        };
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                    Next::End => return,
                },
                _ = recheck.tick() => {
                    if app.tokens().authenticate(&token.0).is_none() {
                        // Revoked while streaming: the stream ends now.
                        return;
                    }
                }
                () = tx.closed() => return,
                () = app.shutdown().cancelled() => {
                    // Not awaited: a client that has stopped reading must not hold the shutdown up.
                    let _ = tx.try_send(Ok(shutting_down()));
                    return;
                }
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

/// The last thing an event stream sends when the service shuts down: a comment (clients skip
/// it), then the stream ends and the client reconnects, with `Last-Event-ID`, to the next
/// instance.
pub(crate) fn shutting_down() -> SseEvent {
    SseEvent::default().comment("shutting down")
}

/// Where a queue stream's client stands: the position its snapshot (or resumed changes) brought
/// it up to. Changes from events already reflected there are not sent again.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    position: u64,
}

impl Cursor {
    /// Whether `change` is news to the client: a change from a later event, or an overdue
    /// announcement at its position (the ticker announces at the current position).
    fn admits(&self, change: &QueueChange) -> bool {
        change.position > self.position
            || (change.position == self.position && matches!(&change.kind, ChangeKind::Upsert(i) if i.overdue))
    }

    /// What to do with one result of the changes channel. A client too far behind to replay
    /// gets a fresh snapshot instead; after it, [`Cursor::snapshot_taken`] moves the cursor
    /// so the older changes still waiting in the channel are skipped: they are in that
    /// snapshot already.
    fn next(&self, received: Result<QueueChange, RecvError>) -> Next {
        match received {
            Ok(change) if self.admits(&change) => Next::Change(change),
            Ok(_) => Next::Skip,
            Err(RecvError::Lagged(_)) => Next::Resnapshot,
            Err(RecvError::Closed) => Next::End,
        }
    }

    /// The client has been sent a fresh snapshot taken at `position`.
    fn snapshot_taken(&mut self, position: u64) {
        self.position = position;
    }
}

/// What a queue stream does next.
#[derive(Debug)]
enum Next {
    Skip,
    Change(QueueChange),
    /// Send a fresh snapshot (and then [`Cursor::snapshot_taken`]).
    Resnapshot,
    End,
}

/// What a client resuming from `Last-Event-ID` gets on connect: exactly the changes to the
/// contacts touched since `from` (and to those whose previous contacts a contact received
/// since then changed). Returns the position they bring it up to.
fn missed_since(app: &AppState, from: u64) -> Result<(u64, Vec<SseEvent>), ApiError> {
    // One read guard throughout: the model cannot move while we work out what the client
    // missed, so the position we report is exactly what the events bring it up to.
    let model = app.live().model();
    let position = model.position();
    let now = Utc::now();
    let mut touched = BTreeSet::new();
    let mut after = from;
    while after < position {
        let page = app.log().read_all(after, usize::try_from(position - after).unwrap_or(1000).min(1000))?;
        let Some(last) = page.last() else { break };
        after = last.position;
        touched.extend(page.iter().map(|e| e.contact_id));
        // A contact received before others about the same child, entered after them, a child
        // linked or unlinked, or a child's identifiers corrected, changed the previous contacts
        // of the other contacts about the child too (those it is still linked with, and those
        // an unlink separated it from).
        use eventlog::EventType as T;
        for e in page.iter().filter(|e| {
            matches!(e.event_type, T::ContactReceived | T::ChildrenLinked | T::ChildrenUnlinked | T::CorrectionRecorded)
        }) {
            touched.extend(model.contacts_sharing_children(e.contact_id));
            // And the possible matches of the contacts about a child that sounds the same.
            touched.extend(model.children().possible_neighbours(e.contact_id));
            if let Ok(eventlog::Event::ChildrenUnlinked(u)) = e.event() {
                touched.extend(model.children().child(&u.child_id).into_iter().flat_map(|c| c.contacts).map(|c| c.0));
            }
        }
    }
    let events = touched
        .into_iter()
        .map(|id: Ulid| {
            let kind = match model.queue_item(id, app.live().policy(), now) {
                Some(item) => ChangeKind::Upsert(Box::new(item)),
                None => ChangeKind::Remove(id),
            };
            sse_change(&QueueChange::new(position, kind))
        })
        .collect();
    Ok((position, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::schema::{Channel, SourceCode};
    use projections::contact::Stage;
    use projections::model::QueueItem;

    fn remove(position: u64) -> QueueChange {
        QueueChange::new(position, ChangeKind::Remove(Ulid::from_parts(position, 1)))
    }

    fn upsert(position: u64, overdue: bool) -> QueueChange {
        let at = Utc::now();
        let item = QueueItem {
            contact_id: Ulid::from_parts(position, 2),
            stage: Stage::AwaitingDecision,
            list: projections::model::QueueList::DecisionDue,
            received_at: at,
            due_by: at,
            overdue,
            immediate_risk: false,
            rating: None,
            channel: Channel::Phone,
            source: SourceCode::Police,
            children: Vec::new(),
            previous_contacts: 0,
            possible_match: Some(false),
            assigned_to: None,
            concerns_summary: "bruising".into(),
            outcome: None,
            version: 1,
        };
        QueueChange::new(position, ChangeKind::Upsert(Box::new(item)))
    }

    #[test]
    fn a_cursor_admits_later_changes_and_overdue_announcements_at_its_position() {
        let cursor = Cursor { position: 10 };
        assert!(!cursor.admits(&remove(9)));
        assert!(!cursor.admits(&remove(10)));
        assert!(!cursor.admits(&upsert(10, false)));
        assert!(cursor.admits(&upsert(10, true)), "the ticker announces at the current position");
        assert!(cursor.admits(&remove(11)));
        assert!(cursor.admits(&upsert(11, false)));
    }

    /// A client that fell more than the channel's capacity behind is sent a fresh snapshot. The
    /// changes still waiting in the channel are older than that snapshot, and they used to be sent
    /// on top of it: the board went back in time, `id:` went backwards, and a slow client had
    /// thousands more changes to read, so it fell behind again (the load run: 160 of 195 clients).
    #[test]
    fn bug_after_a_fresh_snapshot_older_changes_still_in_the_channel_were_sent_again() {
        let (tx, mut rx) = tokio::sync::broadcast::channel(4);
        for position in 1..=10 {
            tx.send(remove(position)).unwrap();
        }
        let mut cursor = Cursor { position: 0 };
        let mut sent = Vec::new();
        loop {
            let received = match rx.try_recv() {
                Ok(change) => Ok(change),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(_) => break,
            };
            // The model is at position 10 by now: the snapshot is taken there.
            match cursor.next(received) {
                Next::Change(change) => sent.push(format!("change {}", change.position)),
                Next::Resnapshot => {
                    cursor.snapshot_taken(10);
                    sent.push("snapshot 10".to_owned());
                }
                Next::Skip | Next::End => {}
            }
        }
        assert_eq!(sent, ["snapshot 10"], "positions 7 to 10 are in the snapshot already");
        tx.send(remove(11)).unwrap();
        assert!(matches!(cursor.next(Ok(rx.try_recv().unwrap())), Next::Change(c) if c.position == 11));
    }
}
