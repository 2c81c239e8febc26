//! The append-only log: segment files, one writer thread doing group commit, durable acks,
//! and an in-memory index that is always rebuilt from the segments (see `eventlog/README.md`).
//!
//! Appends go through a channel to a single writer thread. It drains whatever is waiting,
//! checks expected versions and idempotency keys, frames the whole group's records in one
//! buffer, writes it to the end of the newest segment with one `write` and makes it durable
//! with one `fdatasync`. Only then does it update the index (in memory: no further I/O),
//! publish the new head, broadcast the events and acknowledge every append in the group.
//! Readers never see past the durable head, so nothing a reader sees can be lost.
//!
//! A keeper thread writes the durable head file (both chains' heads) at most once a second
//! when it has moved, and a snapshot of the index every [`SNAPSHOT_EVERY`] events; a clean
//! shutdown writes both.
//!
//! `open` walks every segment (frame and record checksums), cuts off a torn tail of the newest
//! segment (a write that was never acknowledged), refuses any other damage, and refuses a log
//! that ends before the durable head file's position or holds another event there. See
//! [`crate::segment`] for the format.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use ulid::Ulid;

use crate::access::{AccessEntry, AccessLog, AccessRecord, AccessScope};
use crate::error::{AppendError, LogError};
use crate::index::{self, DurableHeads, EventIndex, KeyEntry, SnapshotHead};
use crate::record::{decode_record, encode_record_parts, push_record};
use crate::replicate::{ReplicaAppend, ReplicaIdempotency, Replicate};
use crate::segment::{self, Cursor, HEADER_LEN, IdemMeta, SegmentHeader};
use crate::subscribe::Subscription;
use events::envelope::{Actor, BodyParts, Envelope, Hash, chain_hash, recorded_now};
use events::schema::{CURRENT_SCHEMA_VERSION, Event, EventType};

/// How many waiting appends one group commit takes at most.
const MAX_GROUP: usize = 1024;
/// Appends waiting for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 8192;
/// The most events one append may carry (a contact and its first steps fit easily).
pub const MAX_EVENTS_PER_APPEND: u32 = 1000;
/// How often the keeper writes the durable head file when a head has moved.
const HEAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Events between two snapshots of the index (besides the one at a clean shutdown).
pub const SNAPSHOT_EVERY: u64 = 500_000;

/// Tuning for [`EventLog::open_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How many batches of new events a slow subscriber may fall behind before it goes back
    /// to reading from the log.
    pub broadcast_capacity: usize,
    /// Free space kept in reserve on the log's file system: a group of appends is refused
    /// (nothing written, [`AppendError::Storage`] with `disk_full`) while less than this is
    /// free, and access-log entries while less than a quarter of it is. The log never runs the
    /// disk out of space itself (a snapshot of the index needs room too); with the reserve,
    /// appends resume by themselves once space is freed. While more than twice the reserve
    /// (and at least 64 MiB more than it) is free, the writer reads the free space every 50 ms
    /// and counts its own writes in between; closer to the reserve, before every group.
    pub min_free_bytes: u64,
    /// A segment is sealed, and the next group commit starts a new one, once it holds at least
    /// this many bytes (a group is never split between segments).
    pub segment_bytes: u64,
    /// The replicated log every group goes to before it is acknowledged (see
    /// [`crate::replicate`]); `None`, the default, is one machine.
    pub replicator: Option<Arc<dyn Replicate>>,
}

/// The default free-space reserve: far more than one group commit writes (at most
/// `MAX_GROUP`, 1024, appends) or a snapshot of the index.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;
/// The default segment size: 64 MiB, about 100,000 events.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

impl Default for Options {
    fn default() -> Self {
        Options {
            broadcast_capacity: 1024,
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            replicator: None,
        }
    }
}

/// The log's durable head: the last acknowledged position and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub position: u64,
    pub hash: Hash,
}

/// One event to append, already serialised by the caller so the writer thread does no JSON.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Ulid,
    pub event_type: EventType,
    pub data: Box<RawValue>,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    /// Why it is recorded long after it occurred (see the late-entry rule).
    pub late_entry_reason: Option<String>,
    /// When it was recorded, for an in-process migration (the demo) that replays an older
    /// system's history with its own clock; `None` (every API write) takes the writer's clock.
    /// Either way the log's `recorded_at` never decreases by position.
    pub recorded_at: Option<DateTime<Utc>>,
}

impl NewEvent {
    /// A new event with a fresh id.
    pub fn new(event: &Event, occurred_at: DateTime<Utc>, actor: Actor) -> Self {
        NewEvent {
            event_id: Ulid::new(),
            event_type: event.event_type(),
            data: event.data_json(),
            occurred_at,
            actor,
            late_entry_reason: None,
            recorded_at: None,
        }
    }
}

/// An idempotency key and the fingerprint of the request it was first used with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The key, already scoped by the caller (e.g. by actor) as it sees fit.
    pub key: String,
    /// What makes two requests "the same": e.g. a hash of the HTTP body.
    pub fingerprint: Hash,
}

impl Idempotency {
    /// A key whose fingerprint is the SHA-256 of `request`.
    pub fn new(key: impl Into<String>, request: &[u8]) -> Self {
        Idempotency { key: key.into(), fingerprint: chain_hash(&Hash::GENESIS, request) }
    }
}

/// One or more events for one contact, appended atomically.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub contact_id: Ulid,
    pub events: Vec<NewEvent>,
    /// The contact's version the caller decided on (0 for a new contact); `None` skips the check.
    pub expected_version: Option<u32>,
    pub idempotency: Option<Idempotency>,
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub envelopes: Vec<Envelope>,
    /// True when an earlier append with the same idempotency key is returned and nothing new
    /// was written.
    pub replayed: bool,
}

/// Counts from a full [`EventLog::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub contacts: u64,
    pub head: Head,
    /// Entries in the access log's chain (checked too).
    pub access_entries: u64,
}

struct Job {
    request: AppendRequest,
    /// The pieces of each event's body the caller encodes on its own thread, so that the
    /// writer only splices in the values it decides (see [`BodyParts`]); empty for a
    /// standby's verbatim append, and for one with too many events (which is refused).
    parts: Vec<BodyParts>,
    /// A standby's verbatim append of the primary's events (see [`EventLog::append_replica`]).
    replica: Option<ReplicaAppend>,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

impl Job {
    /// A new append as a job for the writer, with its events' body pieces encoded here.
    fn append(request: AppendRequest) -> (Job, oneshot::Receiver<Result<Appended, AppendError>>) {
        let parts = if request.events.len() <= MAX_EVENTS_PER_APPEND as usize {
            request.events.iter().map(|new| body_parts(request.contact_id, new)).collect()
        } else {
            Vec::new()
        };
        let (reply, rx) = oneshot::channel();
        (Job { request, parts, replica: None, reply }, rx)
    }
}

/// The pieces of a new event's body that do not depend on where the log places it.
fn body_parts(contact_id: Ulid, new: &NewEvent) -> BodyParts {
    BodyParts::new(
        new.event_id,
        contact_id,
        new.event_type,
        CURRENT_SCHEMA_VERSION,
        &new.occurred_at,
        new.late_entry_reason.as_deref(),
        &new.actor,
        &new.data,
    )
}

/// The index's directory inside a data directory (the durable head file and the index
/// snapshot; see `eventlog/README.md`).
pub use crate::index::INDEX_DIR;
/// The lock file that keeps a second process off a data directory.
pub const LOCK_FILE: &str = "eventlog.lock";

/// One segment file, open for reading (and, the newest, for appending).
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) first: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: File,
}

type Segments = Arc<RwLock<Vec<Arc<Segment>>>>;

/// A cheap, cloneable handle to the log.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").field("dir", &self.inner.dir).field("head", &self.head()).finish()
    }
}

/// A standby's verbatim append, as a job for the writer.
fn replica_job(append: ReplicaAppend) -> Result<(Job, oneshot::Receiver<Result<Appended, AppendError>>), AppendError> {
    let first = append.envelopes.first().ok_or(AppendError::Invalid("an append needs at least one event"))?;
    let request = AppendRequest {
        contact_id: first.contact_id,
        events: append
            .envelopes
            .iter()
            .map(|e| NewEvent {
                event_id: e.event_id,
                event_type: e.event_type,
                data: e.data.clone(),
                occurred_at: e.occurred_at,
                actor: e.actor.clone(),
                late_entry_reason: e.late_entry_reason.clone(),
                recorded_at: Some(e.recorded_at),
            })
            .collect(),
        expected_version: Some(first.version.saturating_sub(1)),
        idempotency: None,
    };
    let (reply, rx) = oneshot::channel();
    Ok((Job { request, parts: Vec::new(), replica: Some(append), reply }, rx))
}

/// The segments and the index: what reads need.
#[derive(Clone)]
pub(crate) struct Store {
    segments: Segments,
    index: Arc<RwLock<EventIndex>>,
}

struct Inner {
    dir: PathBuf,
    min_free_bytes: u64,
    store: Store,
    access: Arc<AccessLog>,
    persist: Arc<Persist>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    head: watch::Receiver<Head>,
    live: broadcast::Sender<Arc<Vec<Envelope>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Stops the keeper (dropping the sender) and waits for it.
    keeper: Mutex<Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>>,
    /// Held (locked) while the log is open.
    _lock: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.keeper.lock().ok().and_then(|mut k| k.take()) {
            drop(stop);
            let _ = handle.join();
        }
        // Closing the channel ends the writer after it has finished what is queued.
        self.jobs.lock().map(|mut j| j.take()).ok();
        if let Some(handle) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
        self.access.close();
        if let Err(e) = self.persist.save(true) {
            tracing::error!(error = %e, "writing the index snapshot and durable head at shutdown failed");
        }
    }
}

/// Writes the durable head file and the index snapshot (see `eventlog/README.md`).
struct Persist {
    dir: PathBuf,
    store: Store,
    access: Arc<AccessLog>,
    /// What was last written: the heads, and the snapshot's position.
    last: Mutex<(Option<DurableHeads>, u64)>,
}

impl Persist {
    /// Writes the head file if a head has moved since it was last written, and a snapshot if
    /// [`SNAPSHOT_EVERY`] events came since the last one (or, with `snapshot`, any event).
    fn save(&self, snapshot: bool) -> Result<(), LogError> {
        let mut last = self.last.lock().map_err(|_| LogError::Closed)?;
        let access = self.access.durable_head();
        let (heads, encoded) = {
            let index = self.store.index.read().map_err(|_| LogError::Closed)?;
            let heads =
                DurableHeads { events: index.head, access: Head { position: access.position, hash: access.hash } };
            let due = index.head.position >= last.1.saturating_add(SNAPSHOT_EVERY)
                || (snapshot && index.head.position != last.1);
            // Where the snapshot stands and which contacts it holds, under this one hold of the
            // lock; their positions are copied after it, a chunk at a time.
            let taken = if due && index.head.position > 0 {
                let position = index.head.position;
                let segment = self.store.segment_for(position).map(|s| s.first).ok_or(LogError::Closed)?;
                let offset = index.offset(position).ok_or(LogError::Closed)?;
                let at = SnapshotHead { head: index.head, segment, offset };
                Some((at, index.contacts.keys().copied().collect::<Vec<_>>()))
            } else {
                None
            };
            (heads, taken)
        };
        if let Some((at, ids)) = encoded {
            let bytes = index::encode_snapshot_of(&self.store.index, &at, &ids)?;
            index::write_snapshot(&self.dir, &bytes)?;
            last.1 = at.head.position;
        }
        if last.0 != Some(heads) {
            index::write_heads(&self.dir, &heads)?;
            last.0 = Some(heads);
        }
        Ok(())
    }

    /// The keeper: [`save`](Self::save) every [`HEAD_INTERVAL`] until `stop` is dropped.
    fn keep(&self, stop: &std::sync::mpsc::Receiver<()>) {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(HEAD_INTERVAL) {
            if let Err(e) = self.save(false) {
                tracing::error!(error = %e, "writing the durable head file or the index snapshot failed");
            }
        }
    }
}

/// A damaged or missing part of the log, named: segment file, byte offset, position, and what
/// to do.
pub(crate) fn corrupt_at(path: &Path, offset: u64, position: u64, what: &str) -> LogError {
    LogError::Corrupt {
        position,
        reason: format!(
            "segment {}, byte offset {offset}: {what}. Run `frontdoor-replay verify --data-dir <data dir>` \
             and restore from the last export (or from a copy of the segments)",
            path.display()
        ),
    }
}

impl EventLog {
    /// Opens (or creates) the log in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<EventLog, LogError> {
        Self::open_with(dir, &Options::default())
    }

    /// Opens (or creates) the log in `dir`. Walks every segment (checksums), cuts off a torn
    /// tail of the newest one, refuses any other damage naming the segment, byte offset and
    /// position, refuses a log that ends before the durable head file's position, and builds
    /// the index in memory (from the snapshot, if it matches the segments, and the events
    /// after it). A data directory in the layout before segment files (events in sled) is
    /// migrated first.
    pub fn open_with(dir: impl AsRef<Path>, options: &Options) -> Result<EventLog, LogError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let lock = lock_dir(&dir)?;
        let segments_dir = dir.join(segment::SEGMENTS_DIR);
        let legacy = crate::legacy::is_legacy(&dir);
        if legacy && !segments_dir.exists() {
            crate::legacy::migrate(&dir, options.segment_bytes)?;
        }
        if !segments_dir.exists() {
            std::fs::DirBuilder::new().mode(0o700).create(&segments_dir)?;
            sync_dir(&dir)?;
        }
        index::ensure_dir(&dir)?;
        let durable = index::read_heads(&dir)?;
        // The index as sled kept it (before the in-memory index): an old unchained access log
        // in it is copied into the access chain below; the rest is rebuilt from the segments.
        let old_access = crate::legacy::old_index_access(&dir)?;
        let recovered = recover(&dir, &segments_dir, durable.map(|d| d.events))?;
        let access = Arc::new(AccessLog::open(&dir, durable.map(|d| d.access), options.segment_bytes)?);
        if let Some(old) = old_access {
            let copied = access.copy_old(old)?;
            if copied > 0 {
                tracing::info!(entries = copied, "copied the old access log into the chained access log");
            }
        }
        if index::remove_sled_files(&dir)? {
            tracing::info!("removed the index files sled kept; the index is now built in memory from the segments");
        }
        let head = recovered.head;
        let (head_tx, head_rx) = watch::channel(head);
        let (live, _) = broadcast::channel(options.broadcast_capacity.max(1));
        let (jobs_tx, jobs_rx) = mpsc::channel(QUEUE_DEPTH);
        let newest_first = recovered.segments.last().map_or(1, |s| s.first);
        let segments: Segments = Arc::new(RwLock::new(recovered.segments));
        let parsed = recovered.parsed;
        let store_index = Arc::new(RwLock::new(recovered.index));
        let store = Store { segments: Arc::clone(&segments), index: Arc::clone(&store_index) };
        let persist = Arc::new(Persist {
            dir: dir.clone(),
            store: store.clone(),
            access: Arc::clone(&access),
            last: Mutex::new((durable, recovered.snapshot_position)),
        });
        // Whatever had to be parsed is saved for the next start; the head file is brought up to date.
        persist.save(parsed > 0)?;

        let writer = Writer {
            dir: dir.clone(),
            segments_dir,
            min_free_bytes: options.min_free_bytes,
            segment_bytes: options.segment_bytes.max(HEADER_LEN + 1),
            segments: Arc::clone(&segments),
            end: recovered.end,
            newest_first,
            head_at: recovered.head_at,
            index_failed: None,
            last_recorded: recovered.last_recorded,
            index: store_index,
            head,
            head_tx,
            live: live.clone(),
            buf: Vec::new(),
            replicator: options.replicator.clone(),
            free_seen: None,
            spare_plan: Plan::default(),
        };
        let handle = std::thread::Builder::new().name("eventlog-writer".into()).spawn(move || writer.run(jobs_rx))?;
        let (stop, stopped) = std::sync::mpsc::channel();
        let keeping = Arc::clone(&persist);
        let keeper =
            std::thread::Builder::new().name("eventlog-keeper".into()).spawn(move || keeping.keep(&stopped))?;

        let log = EventLog {
            inner: Arc::new(Inner {
                dir,
                min_free_bytes: options.min_free_bytes,
                store,
                access,
                persist,
                jobs: Mutex::new(Some(jobs_tx)),
                head: head_rx,
                live,
                writer: Mutex::new(Some(handle)),
                keeper: Mutex::new(Some((stop, keeper))),
                _lock: lock,
            }),
        };
        if legacy {
            crate::legacy::finish(&log)?;
        }
        Ok(log)
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The durable head.
    pub fn head(&self) -> Head {
        *self.inner.head.borrow()
    }

    /// A receiver that changes whenever the durable head moves.
    pub fn watch_head(&self) -> watch::Receiver<Head> {
        self.inner.head.clone()
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>, AppendError> {
        self.inner.jobs.lock().ok().and_then(|j| j.clone()).ok_or(AppendError::Closed)
    }

    /// Appends events for one contact. Returns once they are durable.
    pub async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let (job, rx) = Job::append(request);
        self.sender()?.send(job).await.map_err(|_| AppendError::Closed)?;
        rx.await.map_err(|_| AppendError::Closed)?
    }

    /// [`append`](Self::append) for callers outside an async runtime.
    pub fn append_blocking(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let (job, rx) = Job::append(request);
        self.sender()?.blocking_send(job).map_err(|_| AppendError::Closed)?;
        rx.blocking_recv().map_err(|_| AppendError::Closed)?
    }

    /// Appends the primary's append verbatim (a standby following the replicated log): every
    /// event must be the next position, link to the head's hash, hash to what it says and
    /// continue its contact's versions, or nothing is written ([`AppendError::Diverged`]).
    /// Returns once it is durable; it is not handed to the replicator.
    pub async fn append_replica(&self, append: ReplicaAppend) -> Result<Appended, AppendError> {
        let (job, rx) = replica_job(append)?;
        self.sender()?.send(job).await.map_err(|_| AppendError::Closed)?;
        rx.await.map_err(|_| AppendError::Closed)?
    }

    /// [`append_replica`](Self::append_replica) of many appends in order, queued together so
    /// the writer commits them in as few groups as it can. Stops at the first refusal (and
    /// returns it); those before it are durable.
    pub async fn append_replicas(&self, appends: Vec<ReplicaAppend>) -> Result<usize, AppendError> {
        let sender = self.sender()?;
        let mut replies = Vec::with_capacity(appends.len());
        for append in appends {
            let (job, rx) = replica_job(append)?;
            sender.send(job).await.map_err(|_| AppendError::Closed)?;
            replies.push(rx);
        }
        let count = replies.len();
        for rx in replies {
            rx.await.map_err(|_| AppendError::Closed)??;
        }
        Ok(count)
    }

    /// Stops taking appends, lets the writer finish those already queued, waits for it, and
    /// writes the index snapshot and the durable head file. Other handles see
    /// [`AppendError::Closed`] from then on.
    pub fn shutdown(&self) {
        self.inner.jobs.lock().map(|mut j| j.take()).ok();
        if let Some(handle) = self.inner.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
        if let Err(e) = self.inner.persist.save(true) {
            tracing::error!(error = %e, "writing the index snapshot and durable head at shutdown failed");
        }
    }

    /// Up to `limit` events after position `after`, in order, never past the durable head.
    pub fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Envelope>, LogError> {
        let head = self.head().position;
        if after >= head || limit == 0 {
            return Ok(Vec::new());
        }
        let last = head.min(after.saturating_add(limit as u64));
        let mut out = Vec::with_capacity(usize::try_from(last - after).unwrap_or(0));
        self.inner.store.read_range(after + 1, last, &mut |env| {
            out.push(env);
            Ok(())
        })?;
        Ok(out)
    }

    /// The event at `position`, if it is durable.
    pub fn get(&self, position: u64) -> Result<Option<Envelope>, LogError> {
        if position == 0 || position > self.head().position {
            return Ok(None);
        }
        let mut found = None;
        self.inner.store.read_range(position, position, &mut |env| {
            found = Some(env);
            Ok(())
        })?;
        found.map(Some).ok_or_else(|| LogError::Corrupt { position, reason: "event missing from the log".into() })
    }

    /// A contact's events in version order (empty for an unknown contact).
    pub fn read_contact(&self, contact_id: Ulid) -> Result<Vec<Envelope>, LogError> {
        let head = self.head().position;
        let located: Vec<(u64, Option<u64>)> = {
            let index = self.inner.store.index.read().map_err(|_| LogError::Closed)?;
            let positions = index.contacts.get(&contact_id).map_or(&[][..], Vec::as_slice);
            positions.iter().take_while(|&&p| p <= head).map(|&p| (p, index.offset(p))).collect()
        };
        let mut out = Vec::with_capacity(located.len());
        for (position, offset) in located {
            let offset = offset.ok_or_else(|| LogError::Corrupt {
                position,
                reason: "the index has no offset for this event".into(),
            })?;
            let env = self.inner.store.read_at(position, offset)?;
            if env.contact_id != contact_id {
                return Err(LogError::Corrupt {
                    position,
                    reason: format!("contact index for {contact_id} points at the wrong event"),
                });
            }
            out.push(env);
        }
        Ok(out)
    }

    /// The contact's current (durable) version; 0 for a contact never seen.
    pub fn contact_version(&self, contact_id: Ulid) -> Result<u32, LogError> {
        let head = self.head().position;
        let index = self.inner.store.index.read().map_err(|_| LogError::Closed)?;
        let durable = index.contacts.get(&contact_id).map_or(0, |positions| positions.partition_point(|&p| p <= head));
        Ok(u32::try_from(durable).unwrap_or(u32::MAX))
    }

    /// A catch-up subscription: every event after `after`, first from the log, then live, in
    /// order, with no gap and no duplicate.
    pub fn subscribe(&self, after: u64) -> Subscription {
        Subscription::new(self.clone(), self.inner.live.subscribe(), after)
    }

    /// Walks the whole log: every segment header, positions gapless from 1, every checksum,
    /// every hash link, every per-contact index entry and version. Returns the first bad
    /// position.
    pub fn verify(&self) -> Result<VerifyReport, LogError> {
        let mut report = self.inner.store.verify(self.head())?;
        report.access_entries = self.inner.access.verify()?.position;
        Ok(report)
    }

    /// The result stored for an idempotency key, read without writing anything: `Ok(None)` when
    /// the key was never used (or its append is not durable yet), the first append's envelopes
    /// (`replayed: true`) when it was used with the same fingerprint, and
    /// [`AppendError::IdempotencyMismatch`] when it was used with another request. This is what
    /// an append with the key would answer instead of writing, asked before deciding whether the
    /// append could be made now.
    pub fn idempotent_result(&self, idempotency: &Idempotency) -> Result<Option<Appended>, AppendError> {
        let id = index::key_id(&index::key_hash(&idempotency.key));
        let stored = self.inner.store.index.read().map_err(|_| AppendError::Closed)?.keys.get(&id).copied();
        let Some(KeyEntry { fingerprint, first, count }) = stored else {
            return Ok(None);
        };
        // The index only ever holds durable appends; the head may still be about to move.
        if first + u64::from(count) - 1 > self.head().position {
            return Ok(None);
        }
        if fingerprint != idempotency.fingerprint {
            return Err(AppendError::IdempotencyMismatch);
        }
        let envelopes = self.inner.store.stored_events(first, count)?;
        Ok(Some(Appended { envelopes, replayed: true }))
    }

    /// Records a read of a contact's record in the access log's chain and returns once the entry
    /// is written and `fdatasync`ed (group-committed with the reads recorded at the same time:
    /// see [`crate::access`]); call it before answering the read. The wait holds no thread (an
    /// async task waits on the writer's reply). Refused, with nothing written, while the file
    /// system has less than a quarter of the free-space reserve left (see
    /// [`Options::min_free_bytes`]).
    pub async fn record_access(&self, contact_id: Ulid, entry: &AccessEntry) -> Result<(), LogError> {
        self.access_space()?;
        self.inner.access.append(vec![(Some(contact_id), entry.clone(), AccessScope::default())]).await
    }

    /// Records a bulk read (a page or stream of the global log, an export, as-of, an audit
    /// sample, a search), described by its scope and, if it concerns one contact, that
    /// contact: one entry for the whole read, durable before this returns. The entry is indexed
    /// under `contact_id` and every contact of `scope.contacts`, so their audit trails show it.
    pub async fn record_bulk_access(
        &self,
        contact_id: Option<Ulid>,
        entry: &AccessEntry,
        scope: AccessScope,
    ) -> Result<(), LogError> {
        self.access_space()?;
        self.inner.access.append(vec![(contact_id, entry.clone(), scope)]).await
    }

    /// Records reads made on another node of a replicated service (each scope's `recorded_on`
    /// says where), in order, as one group: durable before this returns. Not refused for
    /// space: the reads were made and answered elsewhere, and the record of them must not be
    /// lost here.
    pub async fn record_replicated_access(
        &self,
        entries: Vec<(Option<Ulid>, AccessEntry, AccessScope)>,
    ) -> Result<(), LogError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.inner.access.append(entries).await
    }

    /// [`record_access`](Self::record_access) for callers outside an async runtime (tools,
    /// tests).
    pub fn record_access_blocking(&self, contact_id: Ulid, entry: &AccessEntry) -> Result<(), LogError> {
        self.access_space()?;
        self.inner.access.append_blocking(vec![(Some(contact_id), entry.clone(), AccessScope::default())])
    }

    /// [`record_bulk_access`](Self::record_bulk_access) for callers outside an async runtime.
    pub fn record_bulk_access_blocking(
        &self,
        contact_id: Option<Ulid>,
        entry: &AccessEntry,
        scope: AccessScope,
    ) -> Result<(), LogError> {
        self.access_space()?;
        self.inner.access.append_blocking(vec![(contact_id, entry.clone(), scope)])
    }

    /// Refuses an access entry while less than a quarter of the reserve is free.
    fn access_space(&self) -> Result<(), LogError> {
        let floor = self.inner.min_free_bytes / 4;
        if let Some(free) = self.free_space()
            && free < floor
        {
            return Err(LogError::Storage(format!(
                "no space: {free} bytes free on the log's file system, under the {floor} bytes kept for the access log"
            )));
        }
        Ok(())
    }

    /// Bytes free for the log on its file system (`None` when the file system cannot say).
    pub fn free_space(&self) -> Option<u64> {
        free_space(&self.inner.dir)
    }

    /// Every recorded read concerning a contact (its own reads, and bulk reads that listed
    /// it), oldest first.
    pub fn read_access(&self, contact_id: Ulid) -> Result<Vec<AccessEntry>, LogError> {
        Ok(self.inner.access.read(contact_id)?.into_iter().map(|r| r.entry).collect())
    }

    /// [`read_access`](Self::read_access) with each entry's place in the chain and scope.
    pub fn read_access_records(&self, contact_id: Ulid) -> Result<Vec<AccessRecord>, LogError> {
        self.inner.access.read(contact_id)
    }

    /// Up to `limit` access entries after position `after`, in order, never past the access
    /// chain's durable head.
    pub fn read_access_after(&self, after: u64, limit: usize) -> Result<Vec<AccessRecord>, LogError> {
        self.inner.access.read_after(after, limit)
    }

    /// The position of the access chain's durable head.
    pub fn access_head(&self) -> u64 {
        self.inner.access.head_position()
    }

    /// Copies an old, unchained access log into the access chain (for the migration).
    pub(crate) fn copy_old_access(&self, old: Vec<(Ulid, AccessEntry)>) -> Result<u64, LogError> {
        self.inner.access.copy_old(old)
    }

    /// Writes the durable head file and a snapshot of the index now (appends are already
    /// durable in their segment when acknowledged; this only saves the next start the work).
    pub fn flush(&self) -> Result<(), LogError> {
        self.inner.persist.save(true)
    }
}

impl Store {
    fn segment_for(&self, position: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read().ok()?;
        let i = segments.partition_point(|s| s.first <= position);
        i.checked_sub(1).map(|i| Arc::clone(&segments[i]))
    }

    fn segment_starting(&self, position: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read().ok()?;
        segments.binary_search_by_key(&position, |s| s.first).ok().map(|i| Arc::clone(&segments[i]))
    }

    /// Where a walk to `position` starts: its segment, the frame's offset in it and the
    /// position of the frame there.
    fn locate(&self, position: u64) -> Result<(Arc<Segment>, u64, u64), LogError> {
        let seg = self
            .segment_for(position)
            .ok_or_else(|| LogError::Corrupt { position, reason: "no segment holds this position".into() })?;
        let offset = self.index.read().map_err(|_| LogError::Closed)?.offset(position);
        match offset {
            Some(offset) => Ok((seg, offset, position)),
            None => Err(LogError::Corrupt { position, reason: "the index has no offset for this event".into() }),
        }
    }

    /// Calls `f` with every event from `first` to `last` (both durable), in order.
    fn read_range(
        &self,
        first: u64,
        last: u64,
        f: &mut dyn FnMut(Envelope) -> Result<(), LogError>,
    ) -> Result<(), LogError> {
        let (mut seg, mut offset, mut position) = self.locate(first)?;
        let span = usize::try_from(last - position + 1).unwrap_or(usize::MAX);
        let chunk = span.saturating_mul(1024).clamp(16 * 1024, segment::READ_CHUNK);
        loop {
            let end = seg.file.metadata()?.len();
            let mut cursor = Cursor::with_chunk(&seg.file, offset, end, chunk);
            while position <= last {
                match cursor.next()? {
                    None => break,
                    Some((at, Err(e))) => return Err(corrupt_at(&seg.path, at, position, &e.to_string())),
                    Some((at, Ok(frame))) => {
                        if position >= first {
                            let env = read_record(position, frame.record)
                                .map_err(|e| corrupt_at(&seg.path, at, position, &corrupt_reason(&e)))?;
                            f(env)?;
                        }
                        position += 1;
                    }
                }
            }
            if position > last {
                return Ok(());
            }
            seg = self.segment_starting(position).ok_or_else(|| LogError::Corrupt {
                position,
                reason: format!("event missing from the log: no segment after {} starts here", seg.path.display()),
            })?;
            offset = HEADER_LEN;
        }
    }

    /// The event whose frame is at `offset` of the segment holding `position`.
    fn read_at(&self, position: u64, offset: u64) -> Result<Envelope, LogError> {
        let seg = self
            .segment_for(position)
            .ok_or_else(|| LogError::Corrupt { position, reason: "no segment holds this position".into() })?;
        let end = seg.file.metadata()?.len();
        let mut cursor = Cursor::with_chunk(&seg.file, offset, end, 4096);
        match cursor.next()? {
            Some((_, Ok(frame))) => read_record(position, frame.record)
                .map_err(|e| corrupt_at(&seg.path, offset, position, &corrupt_reason(&e))),
            Some((_, Err(e))) => Err(corrupt_at(&seg.path, offset, position, &e.to_string())),
            None => Err(corrupt_at(&seg.path, offset, position, "the index points past the segment's end")),
        }
    }

    /// The `count` events from `first` that an idempotency record points at.
    fn stored_events(&self, first: u64, count: u32) -> Result<Vec<Envelope>, AppendError> {
        let mut out = Vec::with_capacity(count as usize);
        self.read_range(first, first + u64::from(count) - 1, &mut |env| {
            out.push(env);
            Ok(())
        })
        .map_err(|e| AppendError::storage(&e))?;
        Ok(out)
    }

    fn verify(&self, head: Head) -> Result<VerifyReport, LogError> {
        let segments: Vec<Arc<Segment>> = self.segments.read().map_err(|_| LogError::Closed)?.clone();
        // The index's lock is taken for each check, never for the whole walk: appends go on.
        let index = || self.index.read().map_err(|_| LogError::Closed);
        let mut prev = Hash::GENESIS;
        let mut expected = 1u64;
        let mut versions: HashMap<Ulid, u32> = HashMap::new();
        'segments: for seg in &segments {
            if expected > head.position && head.position > 0 {
                break;
            }
            let mut header = [0u8; segment::HEADER_SIZE];
            seg.file.read_exact_at(&mut header, 0)?;
            let header = SegmentHeader::decode(&header).map_err(|e| corrupt_at(&seg.path, 0, expected, &e))?;
            if header.first_position != expected || seg.first != expected {
                return Err(corrupt_at(
                    &seg.path,
                    0,
                    expected,
                    &format!("the segment starts at position {}, not at the next one", header.first_position),
                ));
            }
            if header.prev_hash != prev {
                return Err(corrupt_at(
                    &seg.path,
                    0,
                    expected,
                    "the header's prev_hash does not link to the event before",
                ));
            }
            let end = seg.file.metadata()?.len();
            let mut cursor = Cursor::new(&seg.file, HEADER_LEN, end);
            while let Some((at, frame)) = cursor.next()? {
                if expected > head.position {
                    break 'segments;
                }
                let position = expected;
                let fail = |what: &str| corrupt_at(&seg.path, at, position, what);
                let frame = frame.map_err(|e| fail(&e.to_string()))?;
                let env = read_record(position, frame.record).map_err(|e| fail(&corrupt_reason(&e)))?;
                if env.prev_hash != prev {
                    return Err(fail("prev_hash does not link to the event before"));
                }
                if env.compute_hash() != env.hash {
                    return Err(fail("hash does not match the record's contents"));
                }
                let version = versions.entry(env.contact_id).or_insert(0);
                if env.version != *version + 1 {
                    return Err(fail(&format!(
                        "contact {} jumps from version {} to {}",
                        env.contact_id, version, env.version
                    )));
                }
                *version = env.version;
                let (indexed, offset) = {
                    let index = index()?;
                    let indexed = index
                        .contacts
                        .get(&env.contact_id)
                        .and_then(|positions| positions.get(env.version as usize - 1))
                        .copied();
                    (indexed, index.offset(position))
                };
                if indexed != Some(position) || offset != Some(at) {
                    return Err(fail(&format!(
                        "the index's entry for version {} is missing or wrong (the index is rebuilt from the \
                         segments at every start)",
                        env.version
                    )));
                }
                prev = env.hash;
                expected += 1;
            }
        }
        let events = expected - 1;
        if events < head.position {
            return Err(LogError::Corrupt {
                position: expected,
                reason: "log ends before its acknowledged head".into(),
            });
        }
        let index_entries: u64 =
            index()?.contacts.values().map(|positions| positions.partition_point(|&p| p <= events) as u64).sum();
        if index_entries != events {
            return Err(LogError::Corrupt {
                position: events,
                reason: format!("contact index has {index_entries} entries for {events} events"),
            });
        }
        Ok(VerifyReport {
            events,
            contacts: versions.len() as u64,
            head: Head { position: events, hash: prev },
            access_entries: 0,
        })
    }
}

fn corrupt_reason(e: &LogError) -> String {
    match e {
        LogError::Corrupt { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// How long `open` waits for a lock still held by a handle on the same log that was just
/// closed (its threads finish their work, and the snapshot is written, before the lock file
/// is closed). Another process holding the log still fails after this wait.
pub(crate) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes the data directory's lock: one process at a time.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, LogError> {
    use fs2::FileExt;
    let file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(dir.join(LOCK_FILE))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => return Ok(file),
            Err(e) => {
                if Instant::now() >= deadline {
                    return Err(LogError::Storage(format!(
                        "could not acquire lock ({e}): another process (a running service?) holds the log in {}",
                        dir.display()
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Bytes available to this process on `dir`'s file system; `None` (and a warning) when the
/// file system cannot say, in which case no reserve is enforced.
fn free_space(dir: &Path) -> Option<u64> {
    match fs2::available_space(dir) {
        Ok(free) => Some(free),
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot read the free space of the log's file system");
            None
        }
    }
}

fn read_record(position: u64, bytes: &[u8]) -> Result<Envelope, LogError> {
    let env = decode_record(bytes).map_err(|e| LogError::Corrupt { position, reason: e.to_string() })?;
    if env.position != position {
        return Err(LogError::Corrupt {
            position,
            reason: format!("record stored at position {position} says it is position {}", env.position),
        });
    }
    Ok(env)
}

/// What `open` found: the segments, the head, where the next group goes, and the index.
struct Recovered {
    segments: Vec<Arc<Segment>>,
    head: Head,
    /// The head frame's segment (first position) and offset.
    head_at: (u64, u64),
    /// The end of the newest segment.
    end: u64,
    last_recorded: Option<DateTime<Utc>>,
    index: EventIndex,
    /// The position of the snapshot the index started from (0: none).
    snapshot_position: u64,
    /// Events whose bodies were parsed to index them (those after the snapshot).
    parsed: u64,
}

/// The fields of a record's body the index needs.
#[derive(serde::Deserialize)]
struct IndexFields {
    position: u64,
    contact_id: Ulid,
    version: u32,
}

/// The position a record's body starts with (`{"position":N,`), if it starts that way.
fn body_position(body: &[u8]) -> Option<u64> {
    let rest = body.strip_prefix(b"{\"position\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The contacts' entries of one append, held until its END frame.
#[derive(Default)]
struct PendingAppend {
    contacts: Vec<(Ulid, u32, u64, u64)>,
    first: u64,
    count: u32,
}

/// The snapshot, if it matches the segments: the record at its head (segment, offset) is there,
/// whole, at that position and with that hash. Otherwise `None` (logged): the index is rebuilt.
fn checked_snapshot(dir: &Path, segments_dir: &Path) -> Result<Option<index::Snapshot>, LogError> {
    let Some((at, contacts)) = index::read_snapshot(dir)? else {
        return Ok(None);
    };
    let path = segments_dir.join(segment::file_name(at.segment));
    let matches = (|| -> Result<bool, LogError> {
        if at.segment == 0 || at.segment > at.head.position || at.offset < HEADER_LEN || !path.is_file() {
            return Ok(false);
        }
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        let mut cursor = Cursor::with_chunk(&file, at.offset, len, 4096);
        Ok(match cursor.next()? {
            Some((_, Ok(frame))) => {
                frame.is_end()
                    && frame.hash() == at.head.hash
                    && body_position(&frame.record[36..]) == Some(at.head.position)
            }
            _ => false,
        })
    })()?;
    if !matches {
        tracing::warn!(
            position = at.head.position,
            segment = %path.display(),
            offset = at.offset,
            "the index snapshot does not match the segment's record at its head; it is discarded and the index rebuilt from the segments"
        );
        return Ok(None);
    }
    Ok(Some((at, contacts)))
}

/// Opens the segments, checks them, cuts a torn tail and builds the index: offsets and
/// idempotency keys from the frames, the contacts from the snapshot (if it matches) and from
/// the bodies of the events after it. `durable` is the durable head file's events' head.
fn recover(dir: &Path, segments_dir: &Path, durable: Option<Head>) -> Result<Recovered, LogError> {
    let started = Instant::now();
    let mut listed = segment::list(segments_dir)?;
    // A newest segment whose header never made it to disk (a crash while it was created) held
    // nothing acknowledged: the header is synced before the first group is written into it.
    if let Some((_, path)) = listed.last().cloned() {
        let len = std::fs::metadata(&path)?.len();
        let mut bytes = vec![0u8; usize::try_from(len.min(HEADER_LEN)).unwrap_or(0)];
        File::open(&path)?.read_exact_at(&mut bytes, 0)?;
        if len <= HEADER_LEN && SegmentHeader::decode(&bytes).is_err() {
            tracing::warn!(segment = %path.display(), bytes = len, "removing a newest segment whose header was never completed (a crash while it was created)");
            std::fs::remove_file(&path)?;
            sync_dir(segments_dir)?;
            listed.pop();
        }
    }

    let durable_position = durable.map_or(0, |h| h.position);
    let snapshot = if listed.is_empty() { None } else { checked_snapshot(dir, segments_dir)? };
    if snapshot.is_none() && !listed.is_empty() {
        tracing::info!("no index snapshot to start from: indexing every event of the segments");
    }
    let snapshot_position = snapshot.as_ref().map_or(0, |(at, _)| at.head.position);
    let mut index = EventIndex::default();
    if let Some((_, contacts)) = snapshot {
        index.contacts = contacts;
    }

    let mut segments = Vec::with_capacity(listed.len());
    let mut position = 0u64;
    let mut hash = Hash::GENESIS;
    let mut head_at = (1, HEADER_LEN);
    let mut end = HEADER_LEN;
    let mut parsed = 0u64;
    let last = listed.len().saturating_sub(1);
    for (i, (first, path)) in listed.iter().enumerate() {
        let newest = i == last;
        let file = OpenOptions::new().read(true).write(newest).open(path)?;
        let len = file.metadata()?.len();
        let mut header = [0u8; segment::HEADER_SIZE];
        if len < HEADER_LEN {
            return Err(corrupt_at(path, 0, position + 1, "the segment is shorter than its header"));
        }
        file.read_exact_at(&mut header, 0)?;
        let header = SegmentHeader::decode(&header).map_err(|e| corrupt_at(path, 0, position + 1, &e))?;
        if header.first_position != *first || *first != position + 1 {
            return Err(corrupt_at(
                path,
                0,
                position + 1,
                &format!(
                    "the segment starts at position {} (its name says {first}) but the log before it ends at {position}: \
                     a segment is missing or out of place",
                    header.first_position
                ),
            ));
        }
        if header.prev_hash != hash {
            return Err(corrupt_at(path, 0, position + 1, "the header's prev_hash does not link to the event before"));
        }
        let mut cursor = Cursor::new(&file, HEADER_LEN, len);
        let mut pending = PendingAppend::default();
        // After the last whole append: position, hash, offset, head frame offset.
        let mut whole = (position, hash, HEADER_LEN, head_at);
        let mut damage = None;
        while let Some((at, frame)) = cursor.next()? {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    damage = Some((at, e));
                    break;
                }
            };
            position += 1;
            hash = frame.hash();
            if let Some(h) = durable
                && h.position == position
                && h.hash != hash
            {
                return Err(corrupt_at(
                    path,
                    at,
                    position,
                    "this event differs from the durable head recorded in the index's head file",
                ));
            }
            // Every body starts with its own position (`{"position":N,`): a frame removed,
            // repeated or moved shows here, without parsing the rest.
            let body = &frame.record[36..];
            if let Some(said) = body_position(body)
                && said != position
            {
                return Err(corrupt_at(
                    path,
                    at,
                    position,
                    &format!("the record says it is position {said}: an event is missing, repeated or out of place"),
                ));
            }
            index.offsets.push(at);
            if pending.count == 0 {
                pending.first = position;
            }
            pending.count += 1;
            if position > snapshot_position {
                let fields: IndexFields = serde_json::from_slice(body)
                    .map_err(|e| corrupt_at(path, at, position, &format!("record body is not an envelope: {e}")))?;
                if fields.position != position {
                    return Err(corrupt_at(
                        path,
                        at,
                        position,
                        &format!("the record says it is position {}", fields.position),
                    ));
                }
                pending.contacts.push((fields.contact_id, fields.version, position, at));
            }
            if frame.is_end() {
                let done = std::mem::take(&mut pending);
                for (contact, version, p, at) in done.contacts {
                    index.push_contact(contact, version, p).map_err(|e| corrupt_at(path, at, p, &e))?;
                    parsed += 1;
                }
                if let Some(idem) = frame.idem {
                    index.keys.insert(
                        index::key_id(&idem.key_hash),
                        KeyEntry { fingerprint: idem.fingerprint, first: done.first, count: done.count },
                    );
                }
                whole = (position, hash, at + frame.len as u64, (*first, at));
            }
        }
        let (whole_position, whole_hash, whole_end, whole_head_at) = whole;
        if let Some((at, e)) = &damage {
            if !newest {
                return Err(corrupt_at(path, *at, position + 1, &format!("{e} (in a sealed segment)")));
            }
            if let Some(next) = segment::valid_frame_after(&file, *at, len)? {
                return Err(corrupt_at(
                    path,
                    *at,
                    position + 1,
                    &format!("{e}, and intact records follow at byte offset {next}: this is damage, not a torn write"),
                ));
            }
        }
        if whole_end < len {
            if !newest {
                return Err(corrupt_at(path, whole_end, whole_position + 1, "a sealed segment ends inside an append"));
            }
            if whole_position < durable_position {
                return Err(corrupt_at(
                    path,
                    whole_end,
                    whole_position + 1,
                    &format!(
                        "the log ends at position {whole_position} but position {durable_position} was durable \
                         (recorded in the index's head file)"
                    ),
                ));
            }
            let cut = len - whole_end;
            let why = match &damage {
                Some((at, e)) => format!("{e} at byte offset {at}"),
                None => "an append without its last event".into(),
            };
            tracing::warn!(
                segment = %path.display(),
                offset = whole_end,
                bytes = cut,
                position = whole_position + 1,
                reason = %why,
                "cutting off a torn tail of the newest segment: a write that was never acknowledged"
            );
            file.set_len(whole_end)?;
            file.sync_all()?;
            position = whole_position;
            hash = whole_hash;
            index.offsets.truncate(usize::try_from(position).unwrap_or(usize::MAX));
        }
        head_at = whole_head_at;
        end = whole_end;
        segments.push(Arc::new(Segment { first: *first, path: path.clone(), file }));
    }

    if durable_position > position {
        let newest = listed.last().map_or_else(|| segments_dir.to_path_buf(), |(_, p)| p.clone());
        return Err(corrupt_at(
            &newest,
            end,
            position + 1,
            &format!(
                "the log ends at position {position} but position {durable_position} was durable (recorded in the \
                 index's head file): the newest segment was deleted or cut short"
            ),
        ));
    }
    if snapshot_position > position {
        // The snapshot matched the segment's record at its head, so the log is the same chain
        // up to here: its entries up to the (now shorter) head stand.
        for positions in index.contacts.values_mut() {
            positions.truncate(positions.partition_point(|&p| p <= position));
        }
        index.contacts.retain(|_, positions| !positions.is_empty());
    }
    if segments.is_empty() {
        let file = create_segment(segments_dir, &SegmentHeader { first_position: 1, prev_hash: Hash::GENESIS })?;
        segments.push(Arc::new(Segment { first: 1, path: segments_dir.join(segment::file_name(1)), file }));
        end = HEADER_LEN;
        head_at = (1, HEADER_LEN);
    }
    let head = Head { position, hash };
    index.head = head;
    if parsed > 10_000 || (snapshot_position == 0 && position > 0) {
        tracing::info!(
            events = position,
            parsed,
            from_snapshot = snapshot_position.min(position),
            seconds = started.elapsed().as_secs_f64(),
            "indexed the segments' events"
        );
    }
    let last_recorded = if position == 0 {
        None
    } else {
        let seg = segments.iter().rev().find(|s| s.first <= position).expect("a segment holds the head");
        let len = seg.file.metadata()?.len();
        let mut cursor = Cursor::with_chunk(&seg.file, head_at.1, len, 4096);
        match cursor.next()? {
            Some((_, Ok(frame))) => Some(read_record(position, frame.record)?.recorded_at),
            _ => return Err(corrupt_at(&seg.path, head_at.1, position, "the head record cannot be read")),
        }
    };
    Ok(Recovered {
        segments,
        head,
        head_at,
        end,
        last_recorded,
        index,
        snapshot_position: snapshot_position.min(position),
        parsed,
    })
}

/// Creates a segment file (0600) with its header, synced, and syncs the directory.
pub(crate) fn create_segment(segments_dir: &Path, header: &SegmentHeader) -> Result<File, LogError> {
    let path = segments_dir.join(segment::file_name(header.first_position));
    let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all_at(&header.encode(), 0)?;
    file.sync_all()?;
    sync_dir(segments_dir)?;
    Ok(file)
}

/// The single writer: owns the next position, the chain's last hash and the version checks.
struct Writer {
    dir: PathBuf,
    segments_dir: PathBuf,
    /// See [`Options::min_free_bytes`].
    min_free_bytes: u64,
    segment_bytes: u64,
    segments: Segments,
    /// The end of the newest segment: where the next group is written.
    end: u64,
    /// The newest segment's first position.
    newest_first: u64,
    /// The head frame's segment and offset.
    head_at: (u64, u64),
    /// Set when the index could not take a group's entries: appends stop until a restart
    /// re-indexes from the segments.
    index_failed: Option<String>,
    index: Arc<RwLock<EventIndex>>,
    head: Head,
    head_tx: watch::Sender<Head>,
    live: broadcast::Sender<Arc<Vec<Envelope>>>,
    /// The latest `recorded_at` written: no later event is recorded before it.
    last_recorded: Option<DateTime<Utc>>,
    /// The group's frames, reused.
    buf: Vec<u8>,
    /// See [`Options::replicator`].
    replicator: Option<Arc<dyn Replicate>>,
    /// The free space last read, while it is plentiful (see [`Writer::space_refusal`]).
    free_seen: Option<FreeSeen>,
    /// The last group's plan, emptied, so that its collections are reused.
    spare_plan: Plan,
}

/// A reading of the log's file system's free space, and the bytes the log wrote since.
struct FreeSeen {
    free: u64,
    at: Instant,
    written: u64,
}

/// How long a reading of the free space stands (while it is plentiful), besides the log's
/// own writes, which are subtracted from it.
const FREE_SPACE_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
/// Above the reserve, the free space that lets a reading stand for [`FREE_SPACE_EVERY`]: at
/// least the reserve again, and at least this.
const FREE_SPACE_HEADROOM: u64 = 64 * 1024 * 1024;

/// What one append in a group will get once the group is durable.
enum Pending {
    Written(Vec<Envelope>),
    /// A repeat of an append earlier in the same group.
    ReplayOf(usize),
    /// A repeat of an append already durable.
    Replayed(Vec<Envelope>),
}

/// What the planning of a group gathers.
#[derive(Default)]
struct Plan {
    /// The group's index entries: each event's (contact, version, position) and frame offset.
    events: Vec<(Ulid, u32, u64, u64)>,
    keys: Vec<([u8; 16], KeyEntry)>,
    in_group_versions: HashMap<Ulid, u32>,
    in_group_keys: HashMap<[u8; 16], (Hash, usize)>,
    recorded_at: DateTime<Utc>,
    wrote: bool,
}

impl Plan {
    /// Empties it for the next group, keeping what the collections allocated.
    fn reset(mut self, recorded_at: DateTime<Utc>) -> Plan {
        self.events.clear();
        self.keys.clear();
        self.in_group_versions.clear();
        self.in_group_keys.clear();
        self.recorded_at = recorded_at;
        self.wrote = false;
        self
    }
}

impl Writer {
    fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while let Some(first) = jobs.blocking_recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match jobs.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            self.commit_group(&mut group);
        }
    }

    fn current_version(&self, contact: Ulid, in_group: &HashMap<Ulid, u32>) -> Result<u32, LogError> {
        if let Some(v) = in_group.get(&contact) {
            return Ok(*v);
        }
        Ok(self.index.read().map_err(|_| LogError::Closed)?.version(contact))
    }

    /// Adds a durable group's entries to the index and moves its head.
    fn index_group(&self, plan: &mut Plan) -> Result<(), String> {
        let mut index = self.index.write().map_err(|_| "the index's lock is poisoned".to_string())?;
        for (contact, version, position, offset) in plan.events.drain(..) {
            if position != index.offsets.len() as u64 + 1 {
                return Err(format!(
                    "the index is at position {} but the group's event is {position}",
                    index.offsets.len()
                ));
            }
            index.offsets.push(offset);
            index.push_contact(contact, version, position)?;
        }
        index.keys.extend(plan.keys.drain(..));
        index.head = self.head;
        Ok(())
    }

    /// Why the group in the buffer must be refused before anything is written: less free
    /// space than the reserve. The file system is asked at most every [`FREE_SPACE_EVERY`]
    /// while its answer, less what the log has written since, stays above the reserve by the
    /// reserve again (and at least [`FREE_SPACE_HEADROOM`]); closer to the reserve, before
    /// every group.
    fn space_refusal(&mut self) -> Option<AppendError> {
        let group = self.buf.len() as u64;
        let headroom = self.min_free_bytes.max(FREE_SPACE_HEADROOM);
        if let Some(seen) = &mut self.free_seen
            && seen.at.elapsed() < FREE_SPACE_EVERY
            && seen.free.saturating_sub(seen.written + group) >= self.min_free_bytes.saturating_add(headroom)
        {
            seen.written += group;
            return None;
        }
        self.free_seen = None;
        let free = free_space(&self.dir)?;
        if free < self.min_free_bytes {
            return Some(AppendError::Storage {
                message: format!(
                    "no space: {free} bytes free on the log's file system, under the {} bytes kept in reserve",
                    self.min_free_bytes
                ),
                disk_full: true,
            });
        }
        self.free_seen = Some(FreeSeen { free, at: Instant::now(), written: group });
        None
    }

    /// Seals the newest segment and starts the next one, when it is full.
    fn roll_if_full(&mut self) -> Result<(), LogError> {
        if self.end < self.segment_bytes || self.end <= HEADER_LEN {
            return Ok(());
        }
        let header = SegmentHeader { first_position: self.head.position + 1, prev_hash: self.head.hash };
        let file = create_segment(&self.segments_dir, &header)?;
        let seg = Segment {
            first: header.first_position,
            path: self.segments_dir.join(segment::file_name(header.first_position)),
            file,
        };
        self.segments.write().map_err(|_| LogError::Closed)?.push(Arc::new(seg));
        self.end = HEADER_LEN;
        self.newest_first = header.first_position;
        Ok(())
    }

    fn newest(&self) -> Result<Arc<Segment>, LogError> {
        self.segments.read().map_err(|_| LogError::Closed)?.last().cloned().ok_or(LogError::Closed)
    }

    fn commit_group(&mut self, group: &mut Vec<Job>) {
        let refuse_all = |group: &mut Vec<Job>, err: AppendError| {
            for job in group.drain(..) {
                let _ = job.reply.send(Err(err.clone()));
            }
        };
        if let Some(message) = &self.index_failed {
            let err = AppendError::Storage { message: message.clone(), disk_full: false };
            refuse_all(group, err);
            return;
        }
        if let Err(e) = self.roll_if_full() {
            tracing::error!(error = %e, "starting a new segment failed");
            refuse_all(group, AppendError::storage(&e));
            return;
        }
        if let Some(replicator) = &self.replicator
            && group.iter().any(|job| job.replica.is_none())
            && let Err(e) = replicator.admit()
        {
            // Not the primary, or the replicated log is down: new appends are refused before
            // anything is written; a standby's verbatim appends go on.
            for job in std::mem::take(group) {
                if job.replica.is_none() {
                    let _ = job.reply.send(Err(AppendError::Replication(e.clone())));
                } else {
                    group.push(job);
                }
            }
            if group.is_empty() {
                return;
            }
        }
        let start = self.head;
        let start_recorded = self.last_recorded;
        let start_head_at = self.head_at;
        self.buf.clear();
        let mut plan = std::mem::take(&mut self.spare_plan).reset(recorded_now());
        let mut results: Vec<Result<Pending, AppendError>> = Vec::with_capacity(group.len());
        for (index, job) in group.iter_mut().enumerate() {
            let result = self.plan(index, job, &mut plan);
            results.push(result);
        }

        if let Some(diverged) = results.iter().find_map(|r| match r {
            Err(e @ AppendError::Diverged(_)) => Some(e.clone()),
            _ => None,
        }) {
            // A standby's append that does not continue this log: nothing of the group is written.
            self.head = start;
            self.last_recorded = start_recorded;
            self.head_at = start_head_at;
            refuse_all(group, diverged);
            return;
        }
        let mut wrote = plan.wrote;
        if wrote && let Some(refusal) = self.space_refusal() {
            // Nothing has been written yet: forget the plan and refuse what would have written.
            // Repeats of appends already durable still get their first result.
            tracing::error!(error = %refusal, "appends refused: the disk is (nearly) full");
            self.head = start;
            self.last_recorded = start_recorded;
            self.head_at = start_head_at;
            wrote = false;
            for result in &mut results {
                if matches!(result, Ok(Pending::Written(_) | Pending::ReplayOf(_))) {
                    *result = Err(refusal.clone());
                }
            }
        }
        if wrote {
            // The replicated log's round trip overlaps the local write and fdatasync; the group
            // is acknowledged only once both have taken it.
            let appends = self.replica_appends(group, &results);
            let replicator = self.replicator.clone();
            let replicating = match &replicator {
                Some(replicator) if !appends.is_empty() => Some(replicator.begin(&appends)),
                _ => None,
            };
            if let Err(e) = self.make_durable() {
                // Never waited for: the replicator finds the group in the replicated log (if
                // it took it) at its next publish and catches up with it.
                drop(replicating);
                tracing::error!(error = %e, from = start.position + 1, "group commit failed; rolling back");
                self.head = start;
                self.last_recorded = start_recorded;
                self.head_at = start_head_at;
                refuse_all(group, AppendError::storage(&e));
                return;
            }
            if let Some(Err(e)) = replicating.map(|finish| finish()) {
                tracing::warn!(error = %e, from = start.position + 1, "the replicated log did not take the group: cut off and refused");
                self.cut_back();
                self.head = start;
                self.last_recorded = start_recorded;
                self.head_at = start_head_at;
                refuse_all(group, AppendError::Replication(e));
                return;
            }
            self.end += self.buf.len() as u64;
            if let Err(e) = self.index_group(&mut plan) {
                // The group is durable in its segment, so it is acknowledged; the index lacks
                // it until a restart re-indexes, so no further append is taken until then.
                tracing::error!(error = %e, "the index could not take a durable group; appends stop until a restart");
                self.index_failed = Some(format!("the log's index failed ({e}); restart the service to re-index"));
            }
            // Head first, then the broadcast: a subscriber that sees a gap can always read it.
            self.head_tx.send_replace(self.head);
            if self.live.receiver_count() > 0 {
                let new: Vec<Envelope> = results
                    .iter()
                    .filter_map(|r| match r {
                        Ok(Pending::Written(e)) => Some(e),
                        _ => None,
                    })
                    .flatten()
                    .cloned()
                    .collect();
                let _ = self.live.send(Arc::new(new));
            }
        }
        self.spare_plan = plan;

        // Only an append repeated within this group needs another's envelopes kept.
        let repeated: std::collections::HashSet<usize> = results
            .iter()
            .filter_map(|r| match r {
                Ok(Pending::ReplayOf(i)) => Some(*i),
                _ => None,
            })
            .collect();
        let mut kept: HashMap<usize, Vec<Envelope>> = HashMap::new();
        for (index, (job, result)) in group.drain(..).zip(results).enumerate() {
            let reply = match result {
                Ok(Pending::Written(envelopes)) => {
                    if repeated.contains(&index) {
                        kept.insert(index, envelopes.clone());
                    }
                    Ok(Appended { envelopes, replayed: false })
                }
                Ok(Pending::Replayed(envelopes)) => Ok(Appended { envelopes, replayed: true }),
                Ok(Pending::ReplayOf(i)) => {
                    Ok(Appended { envelopes: kept.get(&i).cloned().unwrap_or_default(), replayed: true })
                }
                Err(e) => Err(e),
            };
            let _ = job.reply.send(reply);
        }
    }

    /// The group's new appends (not a standby's verbatim ones), as the replicator takes them;
    /// none without a replicator.
    fn replica_appends(&self, group: &[Job], results: &[Result<Pending, AppendError>]) -> Vec<ReplicaAppend> {
        if self.replicator.is_none() {
            return Vec::new();
        }
        group
            .iter()
            .zip(results)
            .filter_map(|(job, result)| match (&job.replica, result) {
                (None, Ok(Pending::Written(envelopes))) => Some(ReplicaAppend {
                    envelopes: envelopes.clone(),
                    idempotency: job
                        .request
                        .idempotency
                        .as_ref()
                        .map(|i| ReplicaIdempotency { key_hash: index::key_hash(&i.key), fingerprint: i.fingerprint }),
                }),
                _ => None,
            })
            .collect()
    }

    /// Cuts a group the replicator refused off the newest segment again.
    fn cut_back(&mut self) {
        let result = self.newest().and_then(|seg| {
            seg.file.set_len(self.end)?;
            seg.file.sync_data()?;
            Ok(())
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "cutting a refused group off the segment failed; appends stop until a restart");
            self.index_failed = Some(format!(
                "a group the replicated log refused could not be cut off the segment ({e}); restart the service"
            ));
        }
    }

    /// Checks one append and frames its events into the group's buffer. The events are moved
    /// out of the job into the envelopes it will be answered with.
    fn plan(&mut self, index: usize, job: &mut Job, plan: &mut Plan) -> Result<Pending, AppendError> {
        let Job { request, parts, replica, .. } = job;
        let replica = replica.as_ref();
        let idem = match replica {
            Some(r) => r.idempotency.map(|i| (i.key_hash, i.fingerprint)),
            None => request.idempotency.as_ref().map(|i| (index::key_hash(&i.key), i.fingerprint)),
        };
        if replica.is_none()
            && let Some((key_hash, fingerprint)) = &idem
        {
            let key = index::key_id(key_hash);
            if let Some((first_fingerprint, first_index)) = plan.in_group_keys.get(&key) {
                return if first_fingerprint == fingerprint {
                    Ok(Pending::ReplayOf(*first_index))
                } else {
                    Err(AppendError::IdempotencyMismatch)
                };
            }
            let stored = self.index.read().map_err(|_| AppendError::Closed)?.keys.get(&key).copied();
            if let Some(stored) = stored {
                return self.replay_stored(&stored, fingerprint).map(Pending::Replayed);
            }
        }
        if request.events.is_empty() {
            return Err(AppendError::Invalid("an append needs at least one event"));
        }
        let Ok(count) = u32::try_from(request.events.len()) else {
            return Err(AppendError::Invalid("too many events in one append"));
        };
        if count > MAX_EVENTS_PER_APPEND {
            return Err(AppendError::Invalid("too many events in one append"));
        }
        let current =
            self.current_version(request.contact_id, &plan.in_group_versions).map_err(|e| AppendError::storage(&e))?;
        if let Some(expected) = request.expected_version
            && expected != current
        {
            return Err(AppendError::Conflict { expected, current_version: current });
        }

        let first_position = self.head.position + 1;
        let segment_first = self.newest_first;
        let idem_meta = idem.map(|(key_hash, fingerprint)| IdemMeta { key_hash, fingerprint });
        let mut envelopes = Vec::with_capacity(request.events.len());
        for (offset, new) in (0u32..).zip(std::mem::take(&mut request.events)) {
            // The caller's time (a migration's) or the writer's clock, never before the last
            // event's: on an empty log there is none, and a migration's past times stand.
            let recorded_at = new.recorded_at.unwrap_or(plan.recorded_at);
            let recorded_at = self.last_recorded.map_or(recorded_at, |last| recorded_at.max(last));
            self.last_recorded = Some(recorded_at);
            let frame_offset = self.end + self.buf.len() as u64;
            let last = offset + 1 == count;
            let meta = if last { idem_meta.as_ref() } else { None };
            let env = if let Some(replica) = replica {
                let env = replica.envelopes[offset as usize].clone();
                let body = env.canonical_body();
                let link = env.position == self.head.position + 1
                    && env.prev_hash == self.head.hash
                    && env.contact_id == request.contact_id
                    && env.version == current + 1 + offset
                    && chain_hash(&env.prev_hash, &body) == env.hash;
                if !link {
                    return Err(AppendError::Diverged(format!(
                        "event at position {} (hash {}) does not continue this log at position {} (hash {})",
                        env.position, env.hash, self.head.position, self.head.hash
                    )));
                }
                segment::encode_frame(&mut self.buf, &encode_record_parts(&env.hash, &body), last, meta);
                env
            } else {
                let (position, version, prev_hash) = (self.head.position + 1, current + 1 + offset, self.head.hash);
                let computed;
                let parts = match parts.get(offset as usize) {
                    Some(parts) => parts,
                    None => {
                        computed = body_parts(request.contact_id, &new);
                        &computed
                    }
                };
                // The body is written once, in place in the group's buffer: the same bytes are
                // hashed, checksummed and stored.
                let record_at = self.buf.len() + segment::FRAME_HEADER_LEN + meta.map_or(0, |_| segment::IDEM_META_LEN);
                let hash = segment::push_frame(&mut self.buf, last, meta, |out| {
                    push_record(out, &prev_hash, |out| {
                        parts.write_body(out, position, version, &recorded_at, &prev_hash);
                    })
                });
                let env = Envelope {
                    position,
                    event_id: new.event_id,
                    contact_id: request.contact_id,
                    version,
                    event_type: new.event_type,
                    schema_version: CURRENT_SCHEMA_VERSION,
                    occurred_at: new.occurred_at,
                    late_entry_reason: new.late_entry_reason,
                    recorded_at,
                    actor: new.actor,
                    data: new.data,
                    prev_hash,
                    hash,
                };
                debug_assert_eq!(
                    self.buf[record_at..],
                    encode_record_parts(&env.hash, &env.canonical_body())[..],
                    "the record written from its parts is the envelope's"
                );
                env
            };
            plan.events.push((env.contact_id, env.version, env.position, frame_offset));
            self.head = Head { position: env.position, hash: env.hash };
            self.head_at = (segment_first, frame_offset);
            envelopes.push(env);
        }
        plan.wrote = true;
        plan.in_group_versions.insert(request.contact_id, current + count);
        if let Some((key_hash, fingerprint)) = idem {
            let key = index::key_id(&key_hash);
            plan.keys.push((key, KeyEntry { fingerprint, first: first_position, count }));
            plan.in_group_keys.insert(key, (fingerprint, index));
        }
        Ok(Pending::Written(envelopes))
    }

    /// The events a stored idempotency record points at, if the fingerprint matches.
    fn replay_stored(&self, stored: &KeyEntry, fingerprint: &Hash) -> Result<Vec<Envelope>, AppendError> {
        let KeyEntry { fingerprint: first_fingerprint, first, count } = *stored;
        if first_fingerprint != *fingerprint {
            return Err(AppendError::IdempotencyMismatch);
        }
        let mut out = Vec::with_capacity(count as usize);
        let store = Store { segments: Arc::clone(&self.segments), index: Arc::clone(&self.index) };
        store
            .read_range(first, first + u64::from(count) - 1, &mut |env| {
                out.push(env);
                Ok(())
            })
            .map_err(|e| AppendError::storage(&e))?;
        Ok(out)
    }

    /// One `write` of the whole group at the end of the newest segment, one `fdatasync`. A
    /// failed write is cut off again so the next group starts at a frame boundary.
    fn make_durable(&self) -> Result<(), LogError> {
        let seg = self.newest()?;
        let result = seg.file.write_all_at(&self.buf, self.end).and_then(|()| seg.file.sync_data());
        if let Err(e) = result {
            if let Err(cut) = seg.file.set_len(self.end) {
                tracing::error!(error = %cut, "cutting a failed write off the segment failed");
            }
            return Err(e.into());
        }
        Ok(())
    }
}
