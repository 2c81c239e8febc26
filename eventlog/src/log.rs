//! The append-only log: one sled tree, one writer thread doing group commit, durable acks.
//!
//! Appends go through a channel to a single writer thread. It drains whatever is waiting,
//! checks expected versions and idempotency keys, writes the whole group in one atomic
//! `apply_batch`, makes it durable (sled `flush` then `fsync` of the database file, because
//! sled's flush ends in `sync_file_range`, which leaves the drive's cache unflushed), and only
//! then publishes the new head, broadcasts the events and acknowledges every append in the
//! group. Readers never see past the durable head, so nothing a reader sees can be lost.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use ulid::Ulid;

use crate::access::{AccessEntry, AccessLog};
use crate::error::{AppendError, LogError};
use crate::keys;
use crate::record::{decode_record, encode_record_parts};
use crate::subscribe::Subscription;
use events::envelope::{Actor, Envelope, Hash, chain_hash, recorded_now};
use events::schema::{CURRENT_SCHEMA_VERSION, Event, EventType};

/// How many waiting appends one group commit takes at most.
const MAX_GROUP: usize = 1024;
/// Appends waiting for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 8192;
/// The most events one append may carry (a contact and its first steps fit easily).
pub const MAX_EVENTS_PER_APPEND: u32 = 1000;
/// Contacts whose current version the writer keeps in memory before it starts afresh.
const VERSION_CACHE_LIMIT: usize = 200_000;

/// Tuning for [`EventLog::open_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// sled's page cache in bytes. sled's own default (1 GiB) is far more than a front door's
    /// log needs; the projections hold the working set in memory anyway.
    pub cache_capacity: u64,
    /// How many batches of new events a slow subscriber may fall behind before it goes back
    /// to reading from the log.
    pub broadcast_capacity: usize,
    /// Free space kept in reserve on the log's file system: a group of appends is refused
    /// (nothing written, [`AppendError::Storage`] with `disk_full`) while less than this is
    /// free, and access-log entries while less than a quarter of it is. sled 0.34 keeps the
    /// first I/O error and fails every later write until it is reopened, so the log must never
    /// run the disk out of space itself; with the reserve, appends resume by themselves once
    /// space is freed.
    pub min_free_bytes: u64,
}

/// The default free-space reserve: far more than one group commit writes (at most
/// [`MAX_GROUP`] appends; sled writes about 14 times a small record's bytes).
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

impl Default for Options {
    fn default() -> Self {
        Options { cache_capacity: 64 * 1024 * 1024, broadcast_capacity: 1024, min_free_bytes: DEFAULT_MIN_FREE_BYTES }
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
}

struct Job {
    request: AppendRequest,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

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

struct Inner {
    dir: PathBuf,
    min_free_bytes: u64,
    db: sled::Db,
    tree: sled::Tree,
    access: AccessLog,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    head: watch::Receiver<Head>,
    live: broadcast::Sender<Arc<Vec<Envelope>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it has finished what is queued.
        self.jobs.lock().map(|mut j| j.take()).ok();
        if let Some(handle) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
    }
}

impl EventLog {
    /// Opens (or creates) the log in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<EventLog, LogError> {
        Self::open_with(dir, &Options::default())
    }

    /// Opens (or creates) the log in `dir`. Checks the head record (checksum, hash, link to its
    /// predecessor) and refuses to open a log whose head is damaged, naming the position.
    pub fn open_with(dir: impl AsRef<Path>, options: &Options) -> Result<EventLog, LogError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let db = open_sled(&dir, options.cache_capacity)?;
        // The directory entry of a newly created database must survive a power cut too.
        File::open(&dir)?.sync_all()?;
        let db_file = File::open(dir.join("db"))?;
        let tree = db.open_tree("log")?;

        let access = AccessLog::open(&db)?;
        let (head, last_recorded) = check_head(&tree)?;
        check_mark(&dir, &tree, head)?;
        let (head_tx, head_rx) = watch::channel(head);
        let (live, _) = broadcast::channel(options.broadcast_capacity.max(1));
        let (jobs_tx, jobs_rx) = mpsc::channel(QUEUE_DEPTH);

        let writer = Writer {
            dir: dir.clone(),
            min_free_bytes: options.min_free_bytes,
            last_mark: std::time::Instant::now(),
            last_recorded,
            db: db.clone(),
            db_file,
            tree: tree.clone(),
            head,
            head_tx,
            live: live.clone(),
            versions: HashMap::new(),
        };
        let handle = std::thread::Builder::new().name("eventlog-writer".into()).spawn(move || writer.run(jobs_rx))?;

        Ok(EventLog {
            inner: Arc::new(Inner {
                dir,
                min_free_bytes: options.min_free_bytes,
                db,
                tree,
                access,
                jobs: Mutex::new(Some(jobs_tx)),
                head: head_rx,
                live,
                writer: Mutex::new(Some(handle)),
            }),
        })
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
        let (reply, rx) = oneshot::channel();
        self.sender()?.send(Job { request, reply }).await.map_err(|_| AppendError::Closed)?;
        rx.await.map_err(|_| AppendError::Closed)?
    }

    /// [`append`](Self::append) for callers outside an async runtime.
    pub fn append_blocking(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.sender()?.blocking_send(Job { request, reply }).map_err(|_| AppendError::Closed)?;
        rx.blocking_recv().map_err(|_| AppendError::Closed)?
    }

    /// Stops taking appends, lets the writer finish those already queued, and waits for it.
    /// Other handles see [`AppendError::Closed`] from then on.
    pub fn shutdown(&self) {
        self.inner.jobs.lock().map(|mut j| j.take()).ok();
        if let Some(handle) = self.inner.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
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
        let mut expected = after + 1;
        for item in self.inner.tree.range(keys::event(after + 1)..=keys::event(last)) {
            let (key, value) = item?;
            let position = keys::event_position(&key)
                .ok_or_else(|| LogError::Corrupt { position: expected, reason: "malformed event key".into() })?;
            if position != expected {
                return Err(LogError::Corrupt { position: expected, reason: "event missing from the log".into() });
            }
            out.push(read_record(position, &value)?);
            expected += 1;
        }
        if expected != last + 1 {
            return Err(LogError::Corrupt { position: expected, reason: "event missing from the log".into() });
        }
        Ok(out)
    }

    /// The event at `position`, if it is durable.
    pub fn get(&self, position: u64) -> Result<Option<Envelope>, LogError> {
        if position == 0 || position > self.head().position {
            return Ok(None);
        }
        match self.inner.tree.get(keys::event(position))? {
            Some(v) => read_record(position, &v).map(Some),
            None => Err(LogError::Corrupt { position, reason: "event missing from the log".into() }),
        }
    }

    /// A contact's events in version order (empty for an unknown contact).
    pub fn read_contact(&self, contact_id: Ulid) -> Result<Vec<Envelope>, LogError> {
        let head = self.head().position;
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix(keys::contact_prefix(contact_id)) {
            let (key, value) = item?;
            let position = keys::u64_value(&value)
                .ok_or_else(|| LogError::Corrupt { position: 0, reason: format!("bad index entry {key:?}") })?;
            if position > head {
                break;
            }
            match self.get(position)? {
                Some(env) if env.contact_id == contact_id => out.push(env),
                _ => {
                    return Err(LogError::Corrupt {
                        position,
                        reason: format!("contact index for {contact_id} points at the wrong event"),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The contact's current (durable) version; 0 for a contact never seen.
    pub fn contact_version(&self, contact_id: Ulid) -> Result<u32, LogError> {
        let head = self.head().position;
        for item in self.inner.tree.scan_prefix(keys::contact_prefix(contact_id)).rev() {
            let (key, value) = item?;
            if keys::u64_value(&value).is_some_and(|p| p <= head) {
                return Ok(keys::contact_parts(&key).map(|(_, v)| v).unwrap_or(0));
            }
        }
        Ok(0)
    }

    /// A catch-up subscription: every event after `after`, first from the log, then live, in
    /// order, with no gap and no duplicate.
    pub fn subscribe(&self, after: u64) -> Subscription {
        Subscription::new(self.clone(), self.inner.live.subscribe(), after)
    }

    /// Walks the whole log: positions gapless from 1, every checksum, every hash link, every
    /// per-contact index entry and version. Returns the first bad position.
    pub fn verify(&self) -> Result<VerifyReport, LogError> {
        verify_tree(&self.inner.tree, self.head().position)
    }

    /// The result stored for an idempotency key, read without writing anything: `Ok(None)` when
    /// the key was never used (or its append is not durable yet), the first append's envelopes
    /// (`replayed: true`) when it was used with the same fingerprint, and
    /// [`AppendError::IdempotencyMismatch`] when it was used with another request. This is what
    /// an append with the key would answer instead of writing, asked before deciding whether the
    /// append could be made now.
    pub fn idempotent_result(&self, idempotency: &Idempotency) -> Result<Option<Appended>, AppendError> {
        let key = keys::idempotency(&idempotency.key);
        let Some(stored) = self.inner.tree.get(key).map_err(|e| AppendError::storage(&e.into()))? else {
            return Ok(None);
        };
        let (first, count) = stored_positions(&stored)?;
        // The writer inserts the key with its events before they are durable; until they are,
        // the key is not used as far as any reader may know.
        if first + u64::from(count) - 1 > self.head().position {
            return Ok(None);
        }
        if stored[..32] != idempotency.fingerprint.0 {
            return Err(AppendError::IdempotencyMismatch);
        }
        let envelopes = stored_events(&self.inner.tree, first, count)?;
        Ok(Some(Appended { envelopes, replayed: true }))
    }

    /// Records a read of a contact's record (not fsynced: see [`crate::access`]). Refused, with
    /// nothing written, while the file system has less than a quarter of the free-space
    /// reserve left (see [`Options::min_free_bytes`]).
    pub fn record_access(&self, contact_id: Ulid, entry: &AccessEntry) -> Result<(), LogError> {
        let floor = self.inner.min_free_bytes / 4;
        if let Some(free) = self.free_space()
            && free < floor
        {
            return Err(LogError::Storage(format!(
                "no space: {free} bytes free on the log's file system, under the {floor} bytes kept for the access log"
            )));
        }
        self.inner.access.record(contact_id, entry)
    }

    /// Bytes free for the log on its file system (`None` when the file system cannot say).
    pub fn free_space(&self) -> Option<u64> {
        free_space(&self.inner.dir)
    }

    /// Every recorded read of a contact's record, oldest first.
    pub fn read_access(&self, contact_id: Ulid) -> Result<Vec<AccessEntry>, LogError> {
        self.inner.access.read(contact_id)
    }

    /// Forces sled to write out everything (used by tests and shutdown; appends are already
    /// durable when acknowledged).
    pub fn flush(&self) -> Result<(), LogError> {
        self.inner.db.flush()?;
        Ok(())
    }
}

/// The first position and the count of an idempotency record (fingerprint (32) ‖ first
/// position (8) ‖ count (4), see [`keys::idempotency`]).
fn stored_positions(stored: &[u8]) -> Result<(u64, u32), AppendError> {
    let malformed =
        || AppendError::storage(&LogError::Corrupt { position: 0, reason: "malformed idempotency record".into() });
    if stored.len() != 44 {
        return Err(malformed());
    }
    let first = u64::from_be_bytes(stored[32..40].try_into().map_err(|_| malformed())?);
    let count = u32::from_be_bytes(stored[40..44].try_into().map_err(|_| malformed())?);
    if first == 0 || count == 0 {
        return Err(malformed());
    }
    Ok((first, count))
}

/// The `count` events from `first` that an idempotency record points at.
fn stored_events(tree: &sled::Tree, first: u64, count: u32) -> Result<Vec<Envelope>, AppendError> {
    (first..first + u64::from(count))
        .map(|p| match tree.get(keys::event(p)) {
            Ok(Some(v)) => read_record(p, &v).map_err(|e| AppendError::storage(&e)),
            Ok(None) => Err(AppendError::storage(&LogError::Corrupt {
                position: p,
                reason: "idempotency record points at a missing event".into(),
            })),
            Err(e) => Err(AppendError::storage(&e.into())),
        })
        .collect()
}

/// How long `open` waits for sled's file lock to be released by a handle on the same log
/// that was just closed (sled lets go of it from a background thread shortly after the last
/// handle is dropped). Another process holding the log still fails after this wait.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn open_sled(dir: &Path, cache_capacity: u64) -> Result<sled::Db, LogError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new().path(dir).cache_capacity(cache_capacity).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(LogError::Storage(format!(
                        "{e}: another process (a running service?) holds the log in {}",
                        dir.display()
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
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

/// Checks the last record and its link to the one before; returns the durable head.
/// The head and when it was recorded.
fn check_head(tree: &sled::Tree) -> Result<(Head, Option<DateTime<Utc>>), LogError> {
    let Some(last) = tree.scan_prefix([keys::EVENT]).next_back() else {
        return Ok((Head { position: 0, hash: Hash::GENESIS }, None));
    };
    let (key, value) = last?;
    let position = keys::event_position(&key)
        .ok_or_else(|| LogError::Corrupt { position: 0, reason: "malformed event key at the head".into() })?;
    let env = read_record(position, &value)?;
    if env.compute_hash() != env.hash {
        return Err(LogError::Corrupt { position, reason: "hash does not match the record's contents".into() });
    }
    let expected_prev = if position == 1 {
        Hash::GENESIS
    } else {
        let prev = tree
            .get(keys::event(position - 1))?
            .ok_or_else(|| LogError::Corrupt { position: position - 1, reason: "event missing from the log".into() })?;
        read_record(position - 1, &prev)?.hash
    };
    if env.prev_hash != expected_prev {
        return Err(LogError::Corrupt { position, reason: "prev_hash does not link to the event before".into() });
    }
    match tree.get(keys::contact(env.contact_id, env.version))? {
        Some(p) if keys::u64_value(&p) == Some(position) => {}
        _ => return Err(LogError::Corrupt { position, reason: "contact index entry missing for the head".into() }),
    }
    Ok((Head { position, hash: env.hash }, Some(env.recorded_at)))
}

pub(crate) fn verify_tree(tree: &sled::Tree, head: u64) -> Result<VerifyReport, LogError> {
    let mut prev = Hash::GENESIS;
    let mut expected = 1u64;
    let mut versions: HashMap<Ulid, u32> = HashMap::new();
    for item in tree.scan_prefix([keys::EVENT]) {
        let (key, value) = item?;
        let position = keys::event_position(&key)
            .ok_or_else(|| LogError::Corrupt { position: expected, reason: "malformed event key".into() })?;
        if position != expected {
            return Err(LogError::Corrupt { position: expected, reason: "event missing from the log".into() });
        }
        let env = read_record(position, &value)?;
        if env.prev_hash != prev {
            return Err(LogError::Corrupt { position, reason: "prev_hash does not link to the event before".into() });
        }
        if env.compute_hash() != env.hash {
            return Err(LogError::Corrupt { position, reason: "hash does not match the record's contents".into() });
        }
        let version = versions.entry(env.contact_id).or_insert(0);
        if env.version != *version + 1 {
            return Err(LogError::Corrupt {
                position,
                reason: format!("contact {} jumps from version {} to {}", env.contact_id, version, env.version),
            });
        }
        *version = env.version;
        match tree.get(keys::contact(env.contact_id, env.version))? {
            Some(p) if keys::u64_value(&p) == Some(position) => {}
            _ => {
                return Err(LogError::Corrupt {
                    position,
                    reason: format!("contact index entry for version {} is missing or wrong", env.version),
                });
            }
        }
        prev = env.hash;
        expected += 1;
    }
    let events = expected - 1;
    if events < head {
        return Err(LogError::Corrupt { position: expected, reason: "log ends before its acknowledged head".into() });
    }
    let index_entries = tree.scan_prefix([keys::CONTACT]).count() as u64;
    if index_entries != events {
        return Err(LogError::Corrupt {
            position: events,
            reason: format!("contact index has {index_entries} entries for {events} events"),
        });
    }
    Ok(VerifyReport { events, contacts: versions.len() as u64, head: Head { position: events, hash: prev } })
}

/// The durable-head mark: a small file beside sled's, holding a position and hash that were
/// durable when it was written (at a clean shutdown, and at most every [`MARK_INTERVAL`]
/// while appending). sled 0.34, on opening a file with a damaged or missing tail, silently
/// drops everything after the damage and opens what is left as if it were the whole
/// database; the mark is how `open` tells that apart from a log that simply ends there.
const MARK_FILE: &str = "durable-head";
/// How often, at most, the writer refreshes the mark while appending.
const MARK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Writes the mark atomically (temporary file, fsync, rename, fsync of the directory).
fn write_mark(dir: &Path, head: Head) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{MARK_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    writeln!(f, "{} {}", head.position, hex::encode(head.hash.0))?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(MARK_FILE))?;
    File::open(dir)?.sync_all()
}

/// Refuses a log that ends before the last recorded durable head, or whose event at that
/// position is not the one recorded: the storage engine lost or replaced acknowledged events.
fn check_mark(dir: &Path, tree: &sled::Tree, head: Head) -> Result<(), LogError> {
    let Ok(text) = std::fs::read_to_string(dir.join(MARK_FILE)) else { return Ok(()) };
    let mut parts = text.split_whitespace();
    let (Some(Ok(position)), Some(hash)) = (parts.next().map(str::parse::<u64>), parts.next()) else {
        return Err(LogError::Corrupt { position: 0, reason: format!("unreadable {MARK_FILE} file: {text:?}") });
    };
    if position > head.position {
        return Err(LogError::Corrupt {
            position: head.position + 1,
            reason: format!(
                "the log ends at position {} but position {position} was durable ({MARK_FILE}): \
                 the storage engine dropped the events after position {}",
                head.position, head.position
            ),
        });
    }
    if position == 0 {
        return Ok(());
    }
    let stored = tree
        .get(keys::event(position))?
        .ok_or_else(|| LogError::Corrupt { position, reason: "event missing from the log".into() })?;
    if hex::encode(read_record(position, &stored)?.hash.0) != hash {
        return Err(LogError::Corrupt {
            position,
            reason: format!("hash differs from the durable head recorded in {MARK_FILE}"),
        });
    }
    Ok(())
}

/// The single writer: owns the next position, the chain's last hash and the version checks.
struct Writer {
    dir: PathBuf,
    /// See [`Options::min_free_bytes`].
    min_free_bytes: u64,
    /// When the durable-head mark was last written.
    last_mark: std::time::Instant,
    db: sled::Db,
    db_file: File,
    tree: sled::Tree,
    head: Head,
    head_tx: watch::Sender<Head>,
    live: broadcast::Sender<Arc<Vec<Envelope>>>,
    /// Current version of recently seen contacts (durable state only).
    versions: HashMap<Ulid, u32>,
    /// The latest `recorded_at` written: no later event is recorded before it.
    last_recorded: Option<DateTime<Utc>>,
}

/// What one append in a group will get once the group is durable.
enum Pending {
    Written(Vec<Envelope>),
    /// A repeat of an append earlier in the same group.
    ReplayOf(usize),
    /// A repeat of an append already durable.
    Replayed(Vec<Envelope>),
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
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "final flush of the event log failed");
        } else if let Err(e) = write_mark(&self.dir, self.head) {
            tracing::error!(error = %e, "writing the durable-head mark failed");
        }
    }

    fn current_version(&mut self, contact: Ulid, in_group: &HashMap<Ulid, u32>) -> Result<u32, LogError> {
        if let Some(v) = in_group.get(&contact).or_else(|| self.versions.get(&contact)) {
            return Ok(*v);
        }
        let v = match self.tree.scan_prefix(keys::contact_prefix(contact)).next_back() {
            Some(item) => keys::contact_parts(&item?.0).map(|(_, v)| v).unwrap_or(0),
            None => 0,
        };
        if self.versions.len() >= VERSION_CACHE_LIMIT {
            self.versions.clear();
        }
        self.versions.insert(contact, v);
        Ok(v)
    }

    /// Why the group must be refused before anything is written: less free space than the
    /// reserve.
    fn space_refusal(&self) -> Option<AppendError> {
        let free = free_space(&self.dir)?;
        (free < self.min_free_bytes).then(|| AppendError::Storage {
            message: format!(
                "no space: {free} bytes free on the log's file system, under the {} bytes kept in reserve",
                self.min_free_bytes
            ),
            disk_full: true,
        })
    }

    fn commit_group(&mut self, group: &mut Vec<Job>) {
        let start = self.head;
        let start_recorded = self.last_recorded;
        let mut batch = sled::Batch::default();
        let mut written_keys: Vec<Vec<u8>> = Vec::new();
        let mut in_group_versions: HashMap<Ulid, u32> = HashMap::new();
        let mut in_group_keys: HashMap<[u8; 33], (Hash, usize)> = HashMap::new();
        let mut results: Vec<Result<Pending, AppendError>> = Vec::with_capacity(group.len());
        let recorded_at = recorded_now();

        for (index, job) in group.iter().enumerate() {
            let result = self.plan(
                index,
                &job.request,
                recorded_at,
                &mut batch,
                &mut written_keys,
                &mut in_group_versions,
                &mut in_group_keys,
            );
            results.push(result);
        }

        let mut wrote = !written_keys.is_empty();
        if wrote && let Some(refusal) = self.space_refusal() {
            // Nothing has touched sled yet: forget the plan and refuse what would have written.
            // Repeats of appends already durable still get their first result.
            tracing::error!(error = %refusal, "appends refused: the disk is (nearly) full");
            self.head = start;
            self.last_recorded = start_recorded;
            wrote = false;
            for result in &mut results {
                if matches!(result, Ok(Pending::Written(_) | Pending::ReplayOf(_))) {
                    *result = Err(refusal.clone());
                }
            }
        }
        if wrote {
            if let Err(e) = self.make_durable(batch) {
                tracing::error!(error = %e, from = start.position + 1, "group commit failed; rolling back");
                self.roll_back(&written_keys);
                self.head = start;
                self.last_recorded = start_recorded;
                let err = AppendError::storage(&e);
                for job in group.drain(..) {
                    let _ = job.reply.send(Err(err.clone()));
                }
                return;
            }
            self.versions.extend(in_group_versions);
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
        // After the acknowledgements, so its syncs never delay them; the group is durable, so
        // the mark never runs ahead of the log.
        if wrote && self.last_mark.elapsed() >= MARK_INTERVAL {
            if let Err(e) = write_mark(&self.dir, self.head) {
                tracing::warn!(error = %e, "writing the durable-head mark failed");
            }
            self.last_mark = std::time::Instant::now();
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn plan(
        &mut self,
        index: usize,
        request: &AppendRequest,
        recorded_at: DateTime<Utc>,
        batch: &mut sled::Batch,
        written_keys: &mut Vec<Vec<u8>>,
        in_group_versions: &mut HashMap<Ulid, u32>,
        in_group_keys: &mut HashMap<[u8; 33], (Hash, usize)>,
    ) -> Result<Pending, AppendError> {
        let idem_key = request.idempotency.as_ref().map(|i| (keys::idempotency(&i.key), i.fingerprint));
        if let Some((key, fingerprint)) = &idem_key {
            if let Some((first_fingerprint, first_index)) = in_group_keys.get(key) {
                return if first_fingerprint == fingerprint {
                    Ok(Pending::ReplayOf(*first_index))
                } else {
                    Err(AppendError::IdempotencyMismatch)
                };
            }
            if let Some(stored) = self.tree.get(key).map_err(|e| AppendError::storage(&e.into()))? {
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
            self.current_version(request.contact_id, in_group_versions).map_err(|e| AppendError::storage(&e))?;
        if let Some(expected) = request.expected_version
            && expected != current
        {
            return Err(AppendError::Conflict { expected, current_version: current });
        }

        let first_position = self.head.position + 1;
        let mut envelopes = Vec::with_capacity(request.events.len());
        for (offset, new) in (0u32..).zip(&request.events) {
            // The caller's time (a migration's) or the writer's clock, never before the last
            // event's: on an empty log there is none, and a migration's past times stand.
            let recorded_at = new.recorded_at.unwrap_or(recorded_at);
            let recorded_at = self.last_recorded.map_or(recorded_at, |last| recorded_at.max(last));
            self.last_recorded = Some(recorded_at);
            let mut env = Envelope {
                position: self.head.position + 1,
                event_id: new.event_id,
                contact_id: request.contact_id,
                version: current + 1 + offset,
                event_type: new.event_type,
                schema_version: CURRENT_SCHEMA_VERSION,
                occurred_at: new.occurred_at,
                late_entry_reason: new.late_entry_reason.clone(),
                recorded_at,
                actor: new.actor.clone(),
                data: new.data.clone(),
                prev_hash: self.head.hash,
                hash: Hash::GENESIS,
            };
            // Encoded once: the same bytes are hashed and stored.
            let body = env.canonical_body();
            env.hash = chain_hash(&env.prev_hash, &body);
            let record = encode_record_parts(&env.hash, &body);
            let event_key = keys::event(env.position);
            let contact_key = keys::contact(env.contact_id, env.version);
            batch.insert(&event_key[..], record);
            batch.insert(&contact_key[..], &env.position.to_be_bytes()[..]);
            written_keys.push(event_key.to_vec());
            written_keys.push(contact_key.to_vec());
            self.head = Head { position: env.position, hash: env.hash };
            envelopes.push(env);
        }
        in_group_versions.insert(request.contact_id, current + count);
        if let Some((key, fingerprint)) = idem_key {
            let mut value = Vec::with_capacity(44);
            value.extend_from_slice(&fingerprint.0);
            value.extend_from_slice(&first_position.to_be_bytes());
            value.extend_from_slice(&count.to_be_bytes());
            batch.insert(&key[..], value);
            written_keys.push(key.to_vec());
            in_group_keys.insert(key, (fingerprint, index));
        }
        Ok(Pending::Written(envelopes))
    }

    /// The events a stored idempotency record points at, if the fingerprint matches.
    fn replay_stored(&self, stored: &[u8], fingerprint: &Hash) -> Result<Vec<Envelope>, AppendError> {
        let (first, count) = stored_positions(stored)?;
        if stored[..32] != fingerprint.0 {
            return Err(AppendError::IdempotencyMismatch);
        }
        stored_events(&self.tree, first, count)
    }

    fn make_durable(&self, batch: sled::Batch) -> Result<(), LogError> {
        self.tree.apply_batch(batch)?;
        self.db.flush()?;
        self.db_file.sync_data()?;
        Ok(())
    }

    /// Removes a failed group's keys from sled's memory so readers and the next group never see
    /// them; whether they reached the disk or not, they were never acknowledged.
    fn roll_back(&self, written_keys: &[Vec<u8>]) {
        let mut undo = sled::Batch::default();
        for key in written_keys {
            undo.remove(key.as_slice());
        }
        if let Err(e) = self.tree.apply_batch(undo) {
            tracing::error!(error = %e, "rolling back a failed group commit failed");
        }
    }
}
