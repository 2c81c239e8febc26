//! The live read model: rebuilt from the log at start-up, then kept current from the log's
//! subscription. Every event that moves a contact on or off the duty queue becomes a
//! [`QueueChange`] on a broadcast channel (the SSE feed), and a ticker announces contacts that
//! turn overdue with no new event.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use eventlog::{Envelope, EventLog};
use projections::model::{Change, Queue, QueueItem, QueueSummary, ReadModel};
use projections::time::{DuePolicy, london_date};
use tokio::sync::broadcast;
use ulid::Ulid;

/// One change to the duty queue, with its SSE `data` serialised once for every subscriber.
#[derive(Debug, Clone)]
pub struct QueueChange {
    /// The log position the change reflects.
    pub position: u64,
    /// The change's number: changes are announced in this order, from 1 (0: a change made up
    /// for one client, never announced).
    pub seq: u64,
    pub kind: ChangeKind,
    /// The change as JSON: the item for an upsert, `{contact_id}` for a removal.
    pub json: Arc<str>,
}

impl QueueChange {
    /// A change for one client (numbered 0: never announced).
    pub fn new(position: u64, kind: ChangeKind) -> QueueChange {
        let json = match &kind {
            ChangeKind::Upsert(item) => serde_json::to_string(item).unwrap_or_default(),
            ChangeKind::Remove(id) => serde_json::json!({"contact_id": id}).to_string(),
        };
        QueueChange { position, seq: 0, kind, json: json.into() }
    }
}

/// The duty queue exactly as `GET /v1/queue` serves it (`{as_of_position, items}`),
/// serialised once and shared by every reader until it could differ: until the model moves
/// on, an item turns overdue, or the date (the children's ages) changes. Every role that
/// may read the queue reads the same items (no item carries anything restricted), so one
/// body serves them all.
#[derive(Debug)]
pub struct QueueBody {
    /// The log position the queue reflects (`as_of_position`).
    pub position: u64,
    /// A strong validator of exactly these bytes, quoted: the position, the London date and
    /// how many items are overdue. At one position the overdue items only grow as time
    /// passes, so their count tells the sets apart, and the date fixes the ages.
    pub etag: String,
    /// The JSON body.
    pub json: Bytes,
    /// The London date the ages were computed on.
    date: NaiveDate,
    /// The earliest `due_by` of the items not yet overdue: past it, one turns overdue.
    next_due: Option<DateTime<Utc>>,
    /// The latest `due_by` of the items already overdue (a clock set back could undo one).
    last_overdue: Option<DateTime<Utc>>,
}

impl QueueBody {
    /// Builds the body of the queue `items` at `position`, as they stand at `now`.
    fn build(position: u64, items: &[QueueItem], now: DateTime<Utc>) -> QueueBody {
        let json = serde_json::to_vec(&Queue { as_of_position: position, items: items.into() }).unwrap_or_default();
        let overdue = items.iter().filter(|i| i.overdue).count();
        let next_due = items.iter().filter(|i| !i.overdue).map(|i| i.due_by).min();
        let last_overdue = items.iter().filter(|i| i.overdue).map(|i| i.due_by).max();
        let date = london_date(now);
        QueueBody {
            position,
            etag: format!("\"q{position}-{}-{overdue}\"", date.format("%Y%m%d")),
            json: Bytes::from(json),
            date,
            next_due,
            last_overdue,
        }
    }

    /// Whether a body built now from a model at `position` would be these very bytes.
    fn is_current(&self, position: u64, policy: &DuePolicy, now: DateTime<Utc>) -> bool {
        self.position == position
            && london_date(now) == self.date
            && self.next_due.is_none_or(|due| !policy.is_overdue(due, now))
            && self.last_overdue.is_none_or(|due| policy.is_overdue(due, now))
    }
}

#[derive(Debug, Clone)]
pub enum ChangeKind {
    /// The contact is on the queue with this line (new, changed, or just turned overdue).
    Upsert(Box<QueueItem>),
    /// The contact left the queue.
    Remove(Ulid),
}

/// How many queue changes a slow SSE client may fall behind before it is sent a fresh
/// snapshot instead.
const CHANGES_CAPACITY: usize = 4096;
/// Events read per page during the start-up rebuild.
const REBUILD_PAGE: usize = 4096;

/// The shared live read model.
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    model: RwLock<ReadModel>,
    /// The position the model has applied up to, for readers that must see their own writes.
    applied: tokio::sync::watch::Sender<u64>,
    changes: broadcast::Sender<QueueChange>,
    /// The number of the last change announced; held while announcing, so numbers follow the
    /// order of announcement.
    announced: Mutex<u64>,
    caught_up: AtomicBool,
    policy: DuePolicy,
    /// The last queue body served, rebuilt (by one reader, the others waiting for it) only
    /// when it is no longer current.
    queue_body: Mutex<Option<Arc<QueueBody>>>,
    /// Held while the body is built for async readers, so that one builds and the rest wait.
    queue_building: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("caught_up", &self.is_caught_up()).finish_non_exhaustive()
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy)]
pub struct RebuildReport {
    pub events: u64,
    /// The position of the snapshot the model started from, if it did (then only the events
    /// after it were folded).
    pub snapshot: Option<u64>,
    /// How long reading the snapshot back took (beside the log's open, before `elapsed`).
    pub snapshot_read: Option<Duration>,
    pub contacts: usize,
    pub open: usize,
    pub elapsed: Duration,
}

impl RebuildReport {
    pub fn events_per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // a rate for a log line
        let events = self.events as f64;
        events / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl Live {
    pub fn new(policy: DuePolicy) -> Live {
        Live {
            inner: Arc::new(Inner {
                model: RwLock::new(ReadModel::default()),
                applied: tokio::sync::watch::channel(0).0,
                changes: broadcast::channel(CHANGES_CAPACITY).0,
                announced: Mutex::new(0),
                caught_up: AtomicBool::new(false),
                policy,
                queue_body: Mutex::new(None),
                queue_building: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn policy(&self) -> &DuePolicy {
        &self.inner.policy
    }

    /// Whether the model has caught up with the log as it stood at start-up.
    pub fn is_caught_up(&self) -> bool {
        self.inner.caught_up.load(Ordering::Acquire)
    }

    /// Read access to the model (held briefly: the follower waits for it).
    pub fn model(&self) -> RwLockReadGuard<'_, ReadModel> {
        self.inner.model.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The duty queue's body as it stands now, shared while it is current. When it must be
    /// built again, one caller builds it on a blocking thread (tens of milliseconds at
    /// thousands of open contacts: no async worker stalls for it) while the others wait.
    pub async fn queue_body(&self) -> Arc<QueueBody> {
        if let Some(body) = self.current_queue_body(Utc::now()) {
            return body;
        }
        let _building = self.inner.queue_building.lock().await;
        // Someone else may have built it while we waited.
        let now = Utc::now();
        if let Some(body) = self.current_queue_body(now) {
            return body;
        }
        let live = self.clone();
        match tokio::task::spawn_blocking(move || live.build_queue_body(now)).await {
            Ok(body) => body,
            // Only a panic in the build gets here: build it here, to the same effect.
            Err(_) => self.build_queue_body(now),
        }
    }

    /// The duty queue's body as it stands at `now` (blocking if it must be built).
    pub fn queue_body_at(&self, now: DateTime<Utc>) -> Arc<QueueBody> {
        self.current_queue_body(now).unwrap_or_else(|| self.build_queue_body(now))
    }

    /// The last body built, if it is still the queue at `now`.
    fn current_queue_body(&self, now: DateTime<Utc>) -> Option<Arc<QueueBody>> {
        let cached = self.inner.queue_body.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let body = cached.as_ref()?;
        body.is_current(self.model().position(), &self.inner.policy, now).then(|| Arc::clone(body))
    }

    /// Builds the body at `now` and keeps it for the readers after.
    fn build_queue_body(&self, now: DateTime<Utc>) -> Arc<QueueBody> {
        let (position, items) = {
            let model = self.model();
            (model.position(), model.queue(&self.inner.policy, now))
        };
        // Serialised with the model free again: the follower need not wait for it.
        let body = Arc::new(QueueBody::build(position, &items, now));
        *self.inner.queue_body.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&body));
        body
    }

    /// The duty queue's length, overdue counts and oldest undecided contact as of `now` (the
    /// metrics' gauges); counted under the read lock, without building the queue's lines.
    pub fn queue_summary(&self, now: DateTime<Utc>) -> QueueSummary {
        self.model().queue_summary(&self.inner.policy, now)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<QueueChange> {
        self.inner.changes.subscribe()
    }

    /// Folds every stored event into the model. Blocking: run it off the async workers.
    ///
    /// Two threads: one reads the log in pages (the segments' frames, checksums and envelope
    /// parse: about a third of the work) and frees the pages folded, while this one folds, a
    /// few pages behind at most.
    pub fn rebuild(&self, log: &EventLog) -> anyhow::Result<RebuildReport> {
        self.rebuild_from(log, ReadModel::default(), Instant::now())
    }

    /// [`Live::rebuild`] from `model` (a snapshot's) on: folds the events after its position.
    /// `started` is when the work began, for the report.
    pub fn rebuild_from(&self, log: &EventLog, model: ReadModel, started: Instant) -> anyhow::Result<RebuildReport> {
        let mut model = model;
        let from = model.position();
        std::thread::scope(|scope| -> anyhow::Result<()> {
            // The reader also parses the data the fold will read, so the two threads share
            // the work about evenly (docs/DECISIONS.md, "The start-up rebuild").
            type Page = Vec<(Envelope, Option<projections::model::Parsed>)>;
            let (pages, next_page) = std::sync::mpsc::sync_channel::<Result<Page, eventlog::LogError>>(2);
            let (done, folded) = std::sync::mpsc::channel::<Page>();
            std::thread::Builder::new().name("rebuild-read".into()).spawn_scoped(scope, move || {
                let mut after = from;
                loop {
                    // Freed here rather than on the folding thread.
                    while let Ok(page) = folded.try_recv() {
                        drop(page);
                    }
                    let page = log.read_all(after, REBUILD_PAGE).map(|page| {
                        page.into_iter()
                            .map(|env| {
                                let parsed = projections::model::parse_for_fold(&env);
                                (env, parsed)
                            })
                            .collect::<Page>()
                    });
                    // An empty page (the end) or an error is the last one sent.
                    let last = page.as_ref().ok().and_then(|page| page.last()).map(|(env, _)| env.position);
                    if pages.send(page).is_err() {
                        return;
                    }
                    match last {
                        Some(last) => after = last,
                        None => return,
                    }
                }
            })?;
            for page in next_page {
                let mut page = page?;
                if page.is_empty() {
                    break;
                }
                for (env, parsed) in &mut page {
                    model.apply_parsed(env, parsed).map_err(|e| anyhow::anyhow!("position {}: {e}", env.position))?;
                }
                // The reader may have ended (the last page read): then it is freed here.
                let _ = done.send(page);
            }
            Ok(())
        })?;
        let (contacts, open) = model.counts();
        let report = RebuildReport {
            events: model.position(),
            snapshot: (from > 0).then_some(from),
            snapshot_read: None,
            contacts,
            open,
            elapsed: started.elapsed(),
        };
        *self.inner.model.write().unwrap_or_else(std::sync::PoisonError::into_inner) = model;
        self.inner.applied.send_replace(report.events);
        Ok(report)
    }

    /// Starts from the snapshot being read (or rebuilds), marks the model caught up, then
    /// follows the log until it closes.
    pub async fn run(self, log: EventLog, snapshot: crate::snapshot::Pending) -> anyhow::Result<()> {
        let report = {
            let live = self.clone();
            let log = log.clone();
            tokio::task::spawn_blocking(move || live.start(&log, snapshot.wait())).await??
        };
        match report.snapshot {
            Some(position) => tracing::info!(
                snapshot_position = position,
                events = report.events,
                events_folded = report.events - position,
                contacts = report.contacts,
                open = report.open,
                snapshot_read_seconds = report.snapshot_read.unwrap_or_default().as_secs_f64(),
                seconds = report.elapsed.as_secs_f64(),
                "read model loaded from its snapshot, then the events after it folded"
            ),
            None => tracing::info!(
                events = report.events,
                contacts = report.contacts,
                open = report.open,
                seconds = report.elapsed.as_secs_f64(),
                events_per_second = report.events_per_second().round(),
                "read model rebuilt"
            ),
        }
        let mut subscription = log.subscribe(self.model().position());
        // Anything appended during the rebuild is in the subscription's catch-up.
        self.inner.caught_up.store(true, Ordering::Release);
        // The executable's hash, which keys the snapshot written at shutdown, worked out now
        // that the start-up's work is done, so that a shutdown need not wait for it (a tenth of
        // a second or more: it reads the whole binary).
        let _ = std::thread::Builder::new().name("build-id".into()).spawn(crate::snapshot::build_id);
        loop {
            let env = match subscription.next().await {
                Ok(env) => env,
                Err(eventlog::LogError::Closed) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            self.apply(&env)?;
        }
    }

    /// The model at start-up: read from the data directory's snapshot and brought up to the
    /// log's head when the snapshot is this build's and this log's (`crate::snapshot`), else
    /// rebuilt from the whole log. Blocking.
    pub fn start(&self, log: &EventLog, snapshot: crate::snapshot::Loaded) -> anyhow::Result<RebuildReport> {
        let started = Instant::now();
        match crate::snapshot::check(snapshot, log) {
            crate::snapshot::Found::Model(model, read) => {
                let mut report = self.rebuild_from(log, *model, started)?;
                report.snapshot_read = Some(read);
                return Ok(report);
            }
            crate::snapshot::Found::Unusable(why) => {
                tracing::warn!(reason = %why, "the read model's snapshot is not used (removed); rebuilding from the log");
            }
            crate::snapshot::Found::None => {}
        }
        self.rebuild_from(log, ReadModel::default(), started)
    }

    /// Writes the model's snapshot to `log`'s directory, if the model has caught up with the
    /// log (a model still rebuilding is not the log's). Blocking: at a clean shutdown, once no
    /// request can append.
    pub fn write_snapshot(
        &self,
        log: &EventLog,
        min_free_bytes: u64,
    ) -> anyhow::Result<Option<crate::snapshot::Written>> {
        if !self.is_caught_up() {
            return Ok(None);
        }
        let model = self.model();
        let position = model.position();
        if position == 0 {
            return Ok(None);
        }
        let Some(env) = log.get(position)? else {
            anyhow::bail!("the log has no event at the model's position {position}");
        };
        crate::snapshot::write(log.dir(), &model, env.hash, min_free_bytes).map(Some)
    }

    /// Applies one event and announces what it did to the queue.
    pub fn apply(&self, env: &Envelope) -> anyhow::Result<()> {
        let now = Utc::now();
        let (kind, also) = {
            let mut model = self.inner.model.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            let kind = match model.apply(env).map_err(|e| anyhow::anyhow!("position {}: {e}", env.position))? {
                Change::OnQueue(id) => {
                    model.queue_item(id, &self.inner.policy, now).map(|i| ChangeKind::Upsert(Box::new(i)))
                }
                Change::OffQueue(id) => Some(ChangeKind::Remove(id)),
                Change::Nothing => None,
            };
            // Contacts received after this one about the same child: their previous contacts
            // went up, so their lines changed too.
            let also: Vec<ChangeKind> = model
                .also_changed()
                .iter()
                .filter_map(|&id| model.queue_item(id, &self.inner.policy, now))
                .map(|i| ChangeKind::Upsert(Box::new(i)))
                .collect();
            (kind, also)
        };
        self.inner.applied.send_replace(env.position);
        for kind in kind.into_iter().chain(also) {
            self.announce(QueueChange::new(env.position, kind));
        }
        Ok(())
    }

    /// Numbers a change and sends it to every subscriber.
    fn announce(&self, mut change: QueueChange) {
        let mut announced = self.inner.announced.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *announced += 1;
        change.seq = *announced;
        let _ = self.inner.changes.send(change);
    }

    /// Waits (at most `limit`) until the model has applied `position`: a reader then sees
    /// every write acknowledged before it asked. Returns whether it got there.
    pub async fn applied_up_to(&self, position: u64, limit: Duration) -> bool {
        let mut applied = self.inner.applied.subscribe();
        tokio::time::timeout(limit, applied.wait_for(|p| *p >= position)).await.is_ok_and(|r| r.is_ok())
    }

    /// Announces every queue line that has turned overdue since the last tick, with no event
    /// needed: the duty board's countdown reaching zero is itself news.
    pub async fn tick_overdue(self, every: Duration) {
        let mut known_overdue: HashSet<Ulid> = HashSet::new();
        // The first pass only learns what is already overdue: clients' snapshots show that.
        let mut primed = false;
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if !self.is_caught_up() {
                continue;
            }
            let (position, queue) = {
                let model = self.model();
                (model.position(), model.queue(&self.inner.policy, Utc::now()))
            };
            let mut now_overdue = HashSet::with_capacity(known_overdue.len());
            for item in queue {
                if item.overdue {
                    now_overdue.insert(item.contact_id);
                    if primed && !known_overdue.contains(&item.contact_id) {
                        self.announce(QueueChange::new(position, ChangeKind::Upsert(Box::new(item))));
                    }
                }
            }
            known_overdue = now_overdue;
            primed = true;
        }
    }
}

/// Turns off transparent huge pages for this process (`prctl(PR_SET_THP_DISABLE)`), before the
/// read model is built. The allocator asks for huge pages for its regions, and the kernel's
/// zeroing of each fresh 2 MiB page, as the model's tables and vectors grow, was 15% of a
/// million-event start-up rebuild's samples: with 4 KiB pages the same rebuild took 2.13 s
/// against 2.56 s, with no more memory (docs/DECISIONS.md, "The start-up rebuild").
/// A kernel without the call leaves things as they were.
pub fn without_huge_pages() {
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "transparent huge pages left as they were");
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use demo::DemoActors;
    use eventlog::{Envelope, Hash};

    use super::*;

    /// The demo's four weeks ending at `now`, as the envelopes a log would hold.
    fn demo_envelopes(now: DateTime<Utc>, policy: &DuePolicy) -> Vec<Envelope> {
        demo::envelopes(&demo::generate(now, 7, &DemoActors::standard(), policy))
    }

    /// The body as `GET /v1/queue` built it before it was cached: the model's queue, as a
    /// JSON value, serialised.
    fn fresh_body(live: &Live, now: DateTime<Utc>) -> Vec<u8> {
        let model = live.model();
        let value = serde_json::json!({"as_of_position": model.position(), "items": model.queue(live.policy(), now)});
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn the_cached_queue_body_is_the_freshly_built_one_until_the_queue_changes() {
        let now: DateTime<Utc> = "2026-11-20T16:00:00Z".parse().unwrap();
        let policy = DuePolicy::default();
        let envelopes = demo_envelopes(now, &policy);
        let (first, rest) = envelopes.split_at(envelopes.len() - 40);
        let live = Live::new(policy);
        for env in first {
            live.apply(env).unwrap();
        }

        let body = live.queue_body_at(now);
        assert_eq!(body.json.as_ref(), fresh_body(&live, now).as_slice());
        assert_eq!(body.position, live.model().position());
        let items = serde_json::from_slice::<serde_json::Value>(&body.json).unwrap()["items"].as_array().unwrap().len();
        assert!(items > 10, "the demo's queue has {items} items");
        // Nothing changed: the very same body, shared.
        assert!(Arc::ptr_eq(&body, &live.queue_body_at(now + TimeDelta::seconds(1))));

        // Every further event: a body at the new position, equal to a fresh one.
        let mut etags = HashSet::from([body.etag.clone()]);
        for env in rest {
            live.apply(env).unwrap();
            let body = live.queue_body_at(now);
            assert_eq!(body.position, env.position);
            assert_eq!(body.json.as_ref(), fresh_body(&live, now).as_slice(), "after position {}", env.position);
            assert!(etags.insert(body.etag.clone()), "a new position, a new ETag: {}", body.etag);
        }
    }

    #[test]
    fn the_cached_queue_body_follows_items_turning_overdue_and_the_date() {
        let now: DateTime<Utc> = "2026-11-20T16:00:00Z".parse().unwrap();
        let policy = DuePolicy::default();
        let live = Live::new(policy.clone());
        for env in demo_envelopes(now, &policy) {
            live.apply(&env).unwrap();
        }
        let before = live.queue_body_at(now);
        let due = live.model().queue(&policy, now).iter().filter(|i| !i.overdue).map(|i| i.due_by).min();
        let due = due.expect("the demo's queue has items not yet overdue");

        // At its due time the item is not yet overdue: the same body.
        assert!(Arc::ptr_eq(&before, &live.queue_body_at(due)));
        // Just past it, it is: a new body (and ETag), as a fresh build shows it.
        let past = due + TimeDelta::seconds(1);
        let after = live.queue_body_at(past);
        assert_ne!(after.etag, before.etag);
        assert_eq!(after.position, before.position);
        assert_eq!(after.json.as_ref(), fresh_body(&live, past).as_slice());
        let overdue = |body: &QueueBody| {
            let v: serde_json::Value = serde_json::from_slice(&body.json).unwrap();
            v["items"].as_array().unwrap().iter().filter(|i| i["overdue"] == true).count()
        };
        assert_eq!(overdue(&after), overdue(&before) + 1);

        // A clock set back: the body is built again, as it was.
        let back = live.queue_body_at(now);
        assert_eq!(back.etag, before.etag);
        assert_eq!(back.json, before.json);

        // A new day in London: the children's ages are computed afresh.
        let tomorrow = now + TimeDelta::days(1);
        let next_day = live.queue_body_at(tomorrow);
        assert_ne!(next_day.etag, before.etag);
        assert_eq!(next_day.json.as_ref(), fresh_body(&live, tomorrow).as_slice());
    }

    #[test]
    fn the_demo_queue_as_of_a_past_morning_is_the_queue_as_it_stood_then() {
        // Friday 20 November 2026, 16:00; the morning is Wednesday's, 09:00 London (GMT).
        let now: DateTime<Utc> = "2026-11-20T16:00:00Z".parse().unwrap();
        let morning: DateTime<Utc> = "2026-11-18T09:00:00Z".parse().unwrap();
        let policy = DuePolicy::default();
        let envelopes = demo_envelopes(now, &policy);
        assert!(envelopes.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at), "recorded in position order");

        // As `as-of --at` folds: every event recorded at or before the moment.
        let fold = |until: DateTime<Utc>| {
            let mut model = ReadModel::default();
            for env in envelopes.iter().take_while(|e| e.recorded_at <= until) {
                model.apply(env).unwrap();
            }
            model
        };
        let (then, today) = (fold(morning), fold(now));
        let queue_then = then.queue(&policy, morning);
        let queue_now = today.queue(&policy, now);
        let ids = |q: &[QueueItem]| q.iter().map(|i| i.contact_id).collect::<HashSet<_>>();
        assert!(queue_then.len() >= 10, "{} on Wednesday morning's queue", queue_then.len());
        assert_ne!(ids(&queue_then), ids(&queue_now));

        // Everything on the morning's queue had been received by then and was open then; most
        // of it has been dealt with since, and is closed now.
        assert!(queue_then.iter().all(|i| i.received_at <= morning));
        // (The model keeps the full state of open contacts only.)
        assert!(queue_then.iter().all(|i| then.contact(i.contact_id).is_some()));
        let closed_since = queue_then.iter().filter(|i| today.contact(i.contact_id).is_none()).count();
        assert!(closed_since * 2 > queue_then.len(), "{closed_since} of {} closed since", queue_then.len());
        // The night's contacts were still being written up: some had occurred by the morning
        // but were recorded after it, and are not on the morning's queue.
        let unrecorded: HashSet<Ulid> = envelopes
            .iter()
            .filter(|e| e.version == 1 && e.occurred_at <= morning && e.recorded_at > morning)
            .map(|e| e.contact_id)
            .collect();
        assert!(!unrecorded.is_empty(), "contacts received overnight and recorded after 09:00");
        assert!(unrecorded.iter().all(|id| !ids(&queue_then).contains(id)));
        // Overdue as it was then: the morning's overdue items are the ones due before 09:00.
        assert!(queue_then.iter().all(|i| i.overdue == (i.due_by < morning)));
    }

    #[test]
    fn the_queue_summary_counts_what_the_queue_lists() {
        let now: DateTime<Utc> = "2026-11-20T16:00:00Z".parse().unwrap();
        let policy = DuePolicy::default();
        let live = Live::new(policy.clone());
        for env in demo_envelopes(now, &policy) {
            live.apply(&env).unwrap();
        }
        // The demo's Friday afternoon, the Monday morning after, and a week on: more overdue.
        let mut overdue_seen = 0;
        for at in [now, now + TimeDelta::hours(65), now + TimeDelta::days(7)] {
            let queue = live.model().queue(&policy, at);
            let summary = live.queue_summary(at);
            let undecided = queue.iter().filter(|i| i.outcome.is_none());
            assert_eq!(summary.length, queue.len(), "at {at}");
            assert_eq!(summary.decisions_overdue, undecided.clone().filter(|i| i.overdue).count(), "at {at}");
            assert_eq!(
                summary.handovers_overdue,
                queue.iter().filter(|i| i.outcome.is_some() && i.overdue).count(),
                "at {at}"
            );
            assert_eq!(summary.oldest_undecided_received_at, undecided.map(|i| i.received_at).min(), "at {at}");
            assert!(summary.decisions_overdue + summary.handovers_overdue >= overdue_seen, "overdue only grows");
            overdue_seen = summary.decisions_overdue + summary.handovers_overdue;
        }
        assert!(overdue_seen > 0 && live.queue_summary(now).length > 10, "the demo's queue is not trivial");
    }

    #[test]
    fn a_change_is_serialised_once_as_its_sse_data() {
        let id = Ulid::new();
        let change = QueueChange::new(3, ChangeKind::Remove(id));
        assert_eq!(&*change.json, format!(r#"{{"contact_id":"{id}"}}"#));
    }

    #[test]
    fn a_contact_entered_after_later_received_ones_announces_their_new_counts() {
        use eventlog::{Actor, Event, EventType, Role};
        use events::schema::{Agency, Channel, Child, Consent, ContactReceived, Referrer, SourceCode};
        let now = Utc::now();
        let received = |position: u64, contact: Ulid, hours_ago: i64| {
            let at = now - TimeDelta::hours(hours_ago);
            let event = Event::ContactReceived(ContactReceived {
                channel: Channel::Phone,
                source: SourceCode::Police,
                referrer: Referrer {
                    name: "PC Example".into(),
                    organisation: None,
                    role: None,
                    phone: None,
                    email: None,
                },
                children: vec![Child {
                    name: "Sam Example".into(),
                    date_of_birth: None,
                    sex: None,
                    child_ref: Some("WS1".into()),
                    nhs_number: None,
                    upn: None,
                    ethnicity: None,
                    expected_date_of_birth: None,
                    address: None,
                }],
                concerns: "concern".into(),
                immediate_risk: false,
                consent: Consent::Unknown,
                consent_override_reason: None,
                ppn_grade: None,
                adults: Vec::new(),
                concern_categories: Vec::new(),
                follows_consultation: None,
            });
            Envelope {
                position,
                event_id: Ulid::from_parts(position, 1),
                contact_id: contact,
                version: 1,
                event_type: EventType::ContactReceived,
                schema_version: events::schema::CURRENT_SCHEMA_VERSION,
                occurred_at: at,
                late_entry_reason: None,
                recorded_at: now,
                actor: Actor::new("pc-1", Role::Referrer, Agency::Police),
                data: event.data_json(),
                prev_hash: Hash::GENESIS,
                hash: Hash::GENESIS,
            }
        };
        let (later, earlier) = (Ulid::from_parts(1, 1), Ulid::from_parts(2, 2));
        let live = Live::new(DuePolicy::default());
        let mut changes = live.subscribe();
        live.apply(&received(1, later, 2)).unwrap();
        // Received 20 hours ago, entered after the one received 2 hours ago.
        live.apply(&received(2, earlier, 20)).unwrap();
        let mut announced = Vec::new();
        while let Ok(change) = changes.try_recv() {
            let ChangeKind::Upsert(item) = change.kind else { panic!("only upserts here") };
            announced.push((change.position, item.contact_id, item.previous_contacts));
        }
        assert_eq!(announced, [(1, later, 0), (2, earlier, 0), (2, later, 1)]);
    }

    /// A start-up rebuild (two threads, many pages) ends with the model that applying every
    /// event in turn gives: the same position, counts and queue.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rebuild_over_many_pages_is_the_model_the_events_applied_in_turn_give() {
        let now: DateTime<Utc> = "2026-11-20T16:00:00Z".parse().unwrap();
        let policy = DuePolicy::default();
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        crate::server::append_all(&log, demo::generate(now, 7, &DemoActors::standard(), &policy)).await.unwrap();
        let stored = log.read_all(0, usize::MAX).unwrap();
        assert!(stored.len() > 3 * REBUILD_PAGE, "{} events: more than three pages", stored.len());

        let applied = Live::new(policy.clone());
        for env in &stored {
            applied.apply(env).unwrap();
        }
        let rebuilt = Live::new(policy);
        let report = {
            let (rebuilt, log) = (rebuilt.clone(), log.clone());
            tokio::task::spawn_blocking(move || rebuilt.rebuild(&log)).await.unwrap().unwrap()
        };
        assert_eq!(report.events, stored.len() as u64);
        assert_eq!(rebuilt.model().position(), applied.model().position());
        assert_eq!(rebuilt.model().counts(), applied.model().counts());
        assert_eq!(fresh_body(&rebuilt, now), fresh_body(&applied, now));
        log.shutdown();
    }
}
