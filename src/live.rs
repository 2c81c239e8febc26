//! The live read model: rebuilt from the log at start-up, then kept current from the log's
//! subscription. Every event that moves a contact on or off the duty queue becomes a
//! [`QueueChange`] on a broadcast channel (the SSE feed), and a ticker announces contacts that
//! turn overdue with no new event.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use eventlog::EventLog;
use projections::model::{Change, QueueItem, ReadModel};
use projections::time::DuePolicy;
use tokio::sync::broadcast;
use ulid::Ulid;

/// One change to the duty queue.
#[derive(Debug, Clone)]
pub struct QueueChange {
    /// The log position the change reflects.
    pub position: u64,
    pub kind: ChangeKind,
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
    caught_up: AtomicBool,
    policy: DuePolicy,
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
                caught_up: AtomicBool::new(false),
                policy,
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

    pub fn subscribe(&self) -> broadcast::Receiver<QueueChange> {
        self.inner.changes.subscribe()
    }

    /// Folds every stored event into the model. Blocking: run it off the async workers.
    pub fn rebuild(&self, log: &EventLog) -> anyhow::Result<RebuildReport> {
        let started = Instant::now();
        let mut model = ReadModel::default();
        loop {
            let page = log.read_all(model.position(), REBUILD_PAGE)?;
            if page.is_empty() {
                break;
            }
            for env in &page {
                model.apply(env).map_err(|e| anyhow::anyhow!("position {}: {e}", env.position))?;
            }
        }
        let (contacts, open) = model.counts();
        let report = RebuildReport { events: model.position(), contacts, open, elapsed: started.elapsed() };
        *self.inner.model.write().unwrap_or_else(std::sync::PoisonError::into_inner) = model;
        self.inner.applied.send_replace(report.events);
        Ok(report)
    }

    /// Rebuilds, marks the model caught up, then follows the log until it closes.
    pub async fn run(self, log: EventLog) -> anyhow::Result<()> {
        let report = {
            let live = self.clone();
            let log = log.clone();
            tokio::task::spawn_blocking(move || live.rebuild(&log)).await??
        };
        tracing::info!(
            events = report.events,
            contacts = report.contacts,
            open = report.open,
            seconds = report.elapsed.as_secs_f64(),
            events_per_second = report.events_per_second().round(),
            "read model rebuilt"
        );
        let mut subscription = log.subscribe(self.model().position());
        // Anything appended during the rebuild is in the subscription's catch-up.
        self.inner.caught_up.store(true, Ordering::Release);
        loop {
            let env = match subscription.next().await {
                Ok(env) => env,
                Err(eventlog::LogError::Closed) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            self.apply(&env)?;
        }
    }

    /// Applies one event and announces what it did to the queue.
    pub fn apply(&self, env: &eventlog::Envelope) -> anyhow::Result<()> {
        let now = Utc::now();
        let kind = {
            let mut model = self.inner.model.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            match model.apply(env).map_err(|e| anyhow::anyhow!("position {}: {e}", env.position))? {
                Change::OnQueue(id) => {
                    model.queue_item(id, &self.inner.policy, now).map(|i| ChangeKind::Upsert(Box::new(i)))
                }
                Change::OffQueue(id) => Some(ChangeKind::Remove(id)),
                Change::Nothing => None,
            }
        };
        self.inner.applied.send_replace(env.position);
        if let Some(kind) = kind {
            let _ = self.inner.changes.send(QueueChange { position: env.position, kind });
        }
        Ok(())
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
                        let _ =
                            self.inner.changes.send(QueueChange { position, kind: ChangeKind::Upsert(Box::new(item)) });
                    }
                }
            }
            known_overdue = now_overdue;
            primed = true;
        }
    }
}
