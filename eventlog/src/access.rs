//! The access log: who read what of the children's records, when and how, as a second
//! hash-chained log.
//!
//! Entries are records in segment files of their own, in `access/` beside `segments/`, with the
//! same header, frame and record format as the events (see `eventlog/README.md`): each body is
//! compact JSON starting `{"position":N,"prev_hash":"…",` and
//! `hash = SHA-256(prev_hash ‖ body)`, so the same tools check both chains. An entry names one
//! contact (`contact_id`, a read of its record), or a bulk read by its scope (a range of log
//! positions, the contacts of a sample, a moment asked for, search terms), or both. An access
//! writer thread takes every waiting entry as a group, writes the group with one `write` and
//! makes it durable with one `fdatasync` before any of its callers returns: an entry is durable
//! before the read it records is answered. The access segments roll at the log's segment size,
//! like the event segments; a sealed one never changes. The index is in memory, built from the
//! access segments at open (each entry's byte offset by position, and each contact's positions:
//! the entry's contact and every contact of its scope); its durable head is kept in the index's
//! head file with the events' (see `eventlog/README.md`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use events::envelope::{Actor, Hash, chain_hash, timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use ulid::Ulid;

use crate::error::LogError;
use crate::log::{Segment, corrupt_at, create_segment, sync_dir};
use crate::segment::{self, Cursor, HEADER_LEN, HEADER_SIZE, SegmentHeader};

/// The access log's segments' directory inside a data directory.
pub const ACCESS_DIR: &str = "access";
/// No more entries than this in one group.
const MAX_GROUP: usize = 1024;
/// Entries waiting for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 4096;

/// One read, as the caller describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessEntry {
    #[serde(with = "timestamp")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// What was done, e.g. `read_contact`, `read_events`, `read_audit`, `read_log`,
    /// `read_refused`.
    pub action: String,
    /// The request path.
    pub endpoint: String,
}

/// A range of log positions read: the events after `after`, up to and including `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PositionRange {
    pub after: u64,
    pub to: u64,
}

/// What a bulk read covered. Every field is optional and left out of the stored body when
/// empty, so an entry of a single contact's read has none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessScope {
    /// The log positions read (a page of `GET /v1/events`, a stream from `after` on (`to`
    /// being the head when it opened), a fold up to a position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<PositionRange>,
    /// The contacts read as a set (an audit sample). The entry is indexed under each, so each
    /// contact's audit trail shows it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Ulid>,
    /// The moment asked for (as-of).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_timestamp")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub as_of: Option<DateTime<Utc>>,
    /// Search terms, as given (for `downstream_readers`, the NATS users permitted to read the
    /// downstream stream, comma-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// For a read recorded on another node of a replicated service and copied into this
    /// node's access log: that node, and the entry's place in its access chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_on: Option<RecordedOn>,
}

/// Where a replicated access entry was first recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordedOn {
    /// The node's name.
    pub node: String,
    /// The entry's position in that node's access chain.
    pub position: u64,
    /// The entry's hash there.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: Hash,
}

impl AccessScope {
    /// A range of log positions.
    pub fn range(after: u64, to: u64) -> Self {
        AccessScope { range: Some(PositionRange { after, to }), ..AccessScope::default() }
    }

    /// A set of contacts.
    pub fn contacts(contacts: Vec<Ulid>) -> Self {
        AccessScope { contacts, ..AccessScope::default() }
    }
}

mod opt_timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&events::envelope::timestamp::format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| DateTime::parse_from_rfc3339(&t).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// One stored entry with its place in the access chain (what `GET /v1/access` and the access
/// export show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessRecord {
    /// Position in the access chain: gapless, from 1.
    pub position: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub prev_hash: Hash,
    /// `SHA-256(prev_hash ‖ body)` of the stored body.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: Hash,
    /// The contact whose record was read, for a read of one contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub contact_id: Option<Ulid>,
    #[serde(flatten)]
    pub entry: AccessEntry,
    #[serde(flatten)]
    pub scope: AccessScope,
}

impl AccessRecord {
    /// Whether the entry concerns `contact`: it names it, or its scope lists it.
    pub fn concerns(&self, contact: Ulid) -> bool {
        self.contact_id == Some(contact) || self.scope.contacts.contains(&contact)
    }
}

/// The stored body of an access record, written with the fields in this order (scope fields
/// only when set).
#[derive(Serialize)]
struct BodyOut<'a> {
    position: u64,
    prev_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_id: Option<String>,
    #[serde(with = "timestamp")]
    at: DateTime<Utc>,
    actor: &'a Actor,
    action: &'a str,
    endpoint: &'a str,
    #[serde(flatten)]
    scope: &'a AccessScope,
}

/// The stored body read back (older bodies always have `contact_id` and no scope).
#[derive(Deserialize)]
struct BodyIn {
    position: u64,
    prev_hash: Hash,
    #[serde(default)]
    contact_id: Option<Ulid>,
    #[serde(with = "timestamp")]
    at: DateTime<Utc>,
    actor: Actor,
    action: String,
    endpoint: String,
    #[serde(flatten)]
    scope: AccessScope,
}

/// The body an entry is stored with.
pub(crate) fn encode_body(
    position: u64,
    prev: &Hash,
    contact: Option<Ulid>,
    entry: &AccessEntry,
    scope: &AccessScope,
) -> Result<Vec<u8>, LogError> {
    let body = BodyOut {
        position,
        prev_hash: prev.to_hex(),
        contact_id: contact.map(|c| c.to_string()),
        at: entry.at,
        actor: &entry.actor,
        action: &entry.action,
        endpoint: &entry.endpoint,
        scope,
    };
    serde_json::to_vec(&body).map_err(|e| LogError::Storage(e.to_string()))
}

/// Decodes a stored body (whose hash is `hash`), without checking the chain.
///
/// # Errors
/// What is wrong with it, as text.
pub fn decode_body(body: &[u8], hash: Hash) -> Result<AccessRecord, String> {
    let b: BodyIn = serde_json::from_slice(body).map_err(|e| format!("not an access entry: {e}"))?;
    Ok(AccessRecord {
        position: b.position,
        prev_hash: b.prev_hash,
        hash,
        contact_id: b.contact_id,
        entry: AccessEntry { at: b.at, actor: b.actor, action: b.action, endpoint: b.endpoint },
        scope: b.scope,
    })
}

/// The contacts an entry is indexed under: its own and its scope's, each once.
fn indexed_contacts(contact: Option<Ulid>, scope: &AccessScope) -> Vec<Ulid> {
    let mut out: Vec<Ulid> = contact.into_iter().chain(scope.contacts.iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// One entry to append.
type NewEntry = (Option<Ulid>, AccessEntry, AccessScope);

struct Job {
    entries: Vec<NewEntry>,
    reply: oneshot::Sender<Result<(), LogError>>,
}

/// The chain's head: position and hash of the last entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessHead {
    pub position: u64,
    pub hash: Hash,
}

type Segments = Arc<RwLock<Vec<Arc<Segment>>>>;

/// The access log's index, in memory.
#[derive(Debug, Default, PartialEq, Eq)]
struct AccessIndex {
    /// The durable head the index reaches.
    head: Option<AccessHead>,
    /// Each entry's byte offset in its segment, by position − 1.
    offsets: Vec<u64>,
    /// The positions of the entries concerning each contact, in order.
    contacts: HashMap<Ulid, Vec<u64>>,
}

impl AccessIndex {
    fn add(&mut self, position: u64, offset: u64, contacts: &[Ulid]) {
        self.offsets.push(offset);
        for contact in contacts {
            let positions = self.contacts.entry(*contact).or_default();
            if positions.last() != Some(&position) {
                positions.push(position);
            }
        }
    }
}

/// Appends (durably) and reads access entries.
pub(crate) struct AccessLog {
    dir: PathBuf,
    segments: Segments,
    /// The position up to which the access chain is durable and indexed.
    durable: Arc<AtomicU64>,
    index: Arc<RwLock<AccessIndex>>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// What [`walk`] found at the end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walked {
    pub(crate) head: AccessHead,
    /// The end of the last entry in the last segment walked.
    pub(crate) end: u64,
    /// A partial last entry left out (file index, offset), when it was not cut off.
    pub(crate) torn: Option<(usize, u64)>,
}

/// How [`walk`] treats a torn last entry of the newest segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Cut it off when the entries before it reach this position (the indexed head), else refuse.
    Repair(u64),
    /// Refuse it.
    Refuse,
    /// Leave it out and report it (a copy taken during a write).
    Report,
}

/// Walks access segments in order from the first one's header: every header's link to the
/// segment before, every frame's and record's checksum, each position, each `prev_hash` link
/// and hash. Calls `f(offset, record)`. Stops after position `limit` if given. The first
/// segment must start the chain unless `partial`.
pub(crate) fn walk(
    segments: &[(PathBuf, &File)],
    tail: Tail,
    partial: bool,
    limit: Option<u64>,
    f: &mut dyn FnMut(u64, &AccessRecord),
) -> Result<Walked, LogError> {
    let mut head: Option<AccessHead> = None;
    let mut end = HEADER_LEN;
    let mut torn = None;
    for (index, (path, file)) in segments.iter().enumerate() {
        let newest = index + 1 == segments.len();
        let len = file.metadata()?.len();
        let expected_first = head.map_or(1, |h| h.position + 1);
        if len < HEADER_LEN {
            return Err(corrupt_at(path, 0, expected_first, "the access segment is shorter than a segment header"));
        }
        let mut header = [0u8; HEADER_SIZE];
        file.read_exact_at(&mut header, 0)?;
        let header = SegmentHeader::decode(&header).map_err(|e| corrupt_at(path, 0, expected_first, &e))?;
        let mut at_head = match head {
            Some(h) => {
                if header.first_position != h.position + 1 || header.prev_hash != h.hash {
                    return Err(corrupt_at(
                        path,
                        0,
                        h.position + 1,
                        "the access segment does not follow the access segment before it",
                    ));
                }
                h
            }
            None if partial => AccessHead { position: header.first_position.saturating_sub(1), hash: header.prev_hash },
            None => {
                if header.first_position != 1 || header.prev_hash != Hash::GENESIS {
                    return Err(corrupt_at(path, 0, 1, "the first access segment does not start the access chain"));
                }
                AccessHead { position: 0, hash: Hash::GENESIS }
            }
        };
        let mut cursor = Cursor::new(file, HEADER_LEN, len);
        end = HEADER_LEN;
        loop {
            if limit.is_some_and(|l| at_head.position >= l) {
                break;
            }
            let Some((at, frame)) = cursor.next()? else { break };
            let position = at_head.position + 1;
            let fail = |what: &str| corrupt_at(path, at, position, &format!("access log: {what}"));
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    if newest && segment::valid_frame_after(file, at, len)?.is_none() {
                        match tail {
                            Tail::Repair(durable) if at_head.position >= durable => {
                                tracing::warn!(
                                    segment = %path.display(),
                                    offset = at,
                                    bytes = len - at,
                                    "cut off a torn access-log entry at the end of the newest access segment (never acknowledged)"
                                );
                                file.set_len(at)?;
                                file.sync_all()?;
                                return Ok(Walked { head: at_head, end: at, torn: None });
                            }
                            Tail::Repair(durable) => {
                                return Err(fail(&format!(
                                    "a partial entry at the end ({e}), before entry {durable}, which the index recorded as durable"
                                )));
                            }
                            Tail::Report => {
                                torn = Some((index, at));
                                break;
                            }
                            Tail::Refuse => {}
                        }
                    }
                    return Err(fail(&e.to_string()));
                }
            };
            let hash = frame.hash();
            let body = &frame.record[36..];
            let record = decode_body(body, hash).map_err(|e| fail(&e))?;
            if record.position != position {
                return Err(fail(&format!("the record says it is position {}", record.position)));
            }
            if record.prev_hash != at_head.hash {
                return Err(fail("prev_hash does not link to the entry before"));
            }
            if chain_hash(&at_head.hash, body) != hash {
                return Err(fail("hash does not match the record's contents"));
            }
            let frame_len = frame.len as u64;
            f(at, &record);
            at_head = AccessHead { position, hash };
            end = at + frame_len;
        }
        head = Some(at_head);
        if limit.is_some_and(|l| at_head.position >= l) {
            break;
        }
    }
    Ok(Walked { head: head.unwrap_or(AccessHead { position: 0, hash: Hash::GENESIS }), end, torn })
}

/// Checks access segment files given on their own (a copy, without the index), in order;
/// the first may start after position 1 (later segments of a backup). Calls `f` with every
/// entry. A partial entry at the very end of the last file is left out and reported.
///
/// # Errors
/// [`LogError::Corrupt`] naming the file, byte offset and position of the first damage.
pub fn verify_files(
    files: &[PathBuf],
    f: &mut dyn FnMut(&AccessRecord),
) -> Result<(AccessHead, Option<(PathBuf, u64)>), LogError> {
    let opened = files.iter().map(|p| File::open(p).map(|file| (p.clone(), file))).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<(PathBuf, &File)> = opened.iter().map(|(p, file)| (p.clone(), file)).collect();
    let walked = walk(&refs, Tail::Report, true, None, &mut |_, r| f(r))?;
    Ok((walked.head, walked.torn.map(|(i, at)| (files[i].clone(), at))))
}

/// Whether the file is an access segment (its first entry, if any, is an access entry). An
/// access segment without entries is taken as one when it lies in an `access/` directory.
pub fn is_access_segment(path: &Path) -> bool {
    let Ok(file) = File::open(path) else { return false };
    let Ok(len) = file.metadata().map(|m| m.len()) else { return false };
    let mut cursor = Cursor::with_chunk(&file, HEADER_LEN, len, 64 * 1024);
    match cursor.next() {
        Ok(Some((_, Ok(frame)))) => decode_body(&frame.record[36..], frame.hash()).is_ok(),
        _ => path.parent().and_then(|p| p.file_name()).is_some_and(|n| n == ACCESS_DIR),
    }
}

impl AccessLog {
    /// Opens (or creates) the access log of the data directory `dir`: checks the whole chain
    /// over every access segment, cuts off a torn last entry, refuses other damage, refuses a
    /// chain that ends before its durable head (from the index's head file) or holds another
    /// entry there, and builds the index in memory.
    pub(crate) fn open(
        dir: &Path,
        durable: Option<crate::log::Head>,
        segment_bytes: u64,
    ) -> Result<AccessLog, LogError> {
        let access_dir = dir.join(ACCESS_DIR);
        if !access_dir.exists() {
            std::fs::DirBuilder::new().mode(0o700).create(&access_dir)?;
            sync_dir(dir)?;
        }
        let mut segments = Vec::new();
        for (first, path) in segment::list(&access_dir)? {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            segments.push(Arc::new(Segment { first, path, file }));
        }
        if segments.is_empty() {
            let header = SegmentHeader { first_position: 1, prev_hash: Hash::GENESIS };
            let file = create_segment(&access_dir, &header)?;
            segments.push(Arc::new(Segment { first: 1, path: access_dir.join(segment::file_name(1)), file }));
        }
        let indexed = durable.map(|h| AccessHead { position: h.position, hash: h.hash });
        let from = indexed.map_or(0, |h| h.position);
        let mut index = AccessIndex::default();
        let mut at_indexed = None;
        let refs: Vec<(PathBuf, &File)> = segments.iter().map(|s| (s.path.clone(), &s.file)).collect();
        let walked = walk(&refs, Tail::Repair(from), false, None, &mut |offset, record| {
            if record.position == from {
                at_indexed = Some(record.hash);
            }
            index.add(record.position, offset, &indexed_contacts(record.contact_id, &record.scope));
        })?;
        let (head, end) = (walked.head, walked.end);
        let newest_path = segments.last().map(|s| s.path.clone()).unwrap_or_default();
        if let Some(indexed) = indexed {
            if head.position < indexed.position {
                return Err(corrupt_at(
                    &newest_path,
                    end,
                    head.position + 1,
                    &format!(
                        "the access log ends at entry {} but its index recorded entry {} as durable (an access \
                         segment was cut short, removed or replaced)",
                        head.position, indexed.position
                    ),
                ));
            }
            if indexed.position > 0 && at_indexed != Some(indexed.hash) {
                return Err(corrupt_at(
                    &newest_path,
                    0,
                    indexed.position,
                    "the access log's entry at its durable head has another hash (an access segment was replaced)",
                ));
            }
        }
        index.offsets.truncate(usize::try_from(head.position).unwrap_or(usize::MAX));
        index.head = Some(head);
        if head.position > 0 {
            tracing::info!(entries = head.position, "indexed the access log's entries");
        }
        let index = Arc::new(RwLock::new(index));
        let segments: Segments = Arc::new(RwLock::new(segments));
        let (jobs_tx, jobs_rx) = mpsc::channel(QUEUE_DEPTH);
        let durable = Arc::new(AtomicU64::new(head.position));
        let writer = Writer {
            access_dir,
            segment_bytes: segment_bytes.max(HEADER_LEN + 1),
            segments: Arc::clone(&segments),
            durable: Arc::clone(&durable),
            index: Arc::clone(&index),
            head,
            end,
            buf: Vec::new(),
        };
        let handle = std::thread::Builder::new().name("access-writer".into()).spawn(move || writer.run(jobs_rx))?;
        Ok(AccessLog {
            dir: dir.to_path_buf(),
            segments,
            durable,
            index,
            jobs: Mutex::new(Some(jobs_tx)),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Stops taking entries, lets the writer finish those queued, and waits for it.
    pub(crate) fn close(&self) {
        self.jobs.lock().map(|mut j| j.take()).ok();
        if let Some(handle) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
    }

    /// The durable head (position and hash).
    pub(crate) fn durable_head(&self) -> AccessHead {
        self.index.read().ok().and_then(|i| i.head).unwrap_or(AccessHead { position: 0, hash: Hash::GENESIS })
    }

    /// Copies the entries of an old, unchained access log into the chain, durably, in order.
    /// Returns how many.
    pub(crate) fn copy_old(&self, old: Vec<(Ulid, AccessEntry)>) -> Result<u64, LogError> {
        let entries: Vec<NewEntry> =
            old.into_iter().map(|(contact, entry)| (Some(contact), entry, AccessScope::default())).collect();
        let n = entries.len() as u64;
        for chunk in entries.chunks(MAX_GROUP) {
            self.append_blocking(chunk.to_vec())?;
        }
        Ok(n)
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>, LogError> {
        self.jobs.lock().map_err(|_| LogError::Closed)?.clone().ok_or(LogError::Closed)
    }

    /// Appends entries and returns once they are written and `fdatasync`ed, waiting without
    /// holding a thread.
    pub(crate) async fn append(&self, entries: Vec<NewEntry>) -> Result<(), LogError> {
        let (reply, wait) = oneshot::channel();
        self.sender()?.send(Job { entries, reply }).await.map_err(|_| LogError::Closed)?;
        wait.await.map_err(|_| LogError::Closed)?
    }

    /// [`append`](Self::append) for callers outside an async runtime.
    pub(crate) fn append_blocking(&self, entries: Vec<NewEntry>) -> Result<(), LogError> {
        let (reply, wait) = oneshot::channel();
        self.sender()?.blocking_send(Job { entries, reply }).map_err(|_| LogError::Closed)?;
        wait.blocking_recv().map_err(|_| LogError::Closed)?
    }

    /// The segment holding `position`.
    fn segment_for(&self, position: u64) -> Result<Arc<Segment>, LogError> {
        let segments = self.segments.read().map_err(|_| LogError::Closed)?;
        let i = segments.partition_point(|s| s.first <= position);
        i.checked_sub(1).map(|i| Arc::clone(&segments[i])).ok_or_else(|| bad_index(position))
    }

    /// The record at `offset` of the segment holding `position`.
    fn read_at(&self, position: u64, offset: u64) -> Result<AccessRecord, LogError> {
        let seg = self.segment_for(position)?;
        let len = seg.file.metadata()?.len();
        let mut cursor = Cursor::with_chunk(&seg.file, offset, len, 4096);
        let fail = |what: &str| corrupt_at(&seg.path, offset, position, &format!("access log: {what}"));
        let Some((_, frame)) = cursor.next()? else { return Err(fail("the index points past the end")) };
        let frame = frame.map_err(|e| fail(&e.to_string()))?;
        let record = decode_body(&frame.record[36..], frame.hash()).map_err(|e| fail(&e))?;
        if record.position != position {
            return Err(fail("the index points to another entry"));
        }
        Ok(record)
    }

    /// Every entry concerning `contact_id` (its own reads and the bulk reads that listed it).
    pub(crate) fn read(&self, contact_id: Ulid) -> Result<Vec<AccessRecord>, LogError> {
        let durable = self.head_position();
        let located: Vec<(u64, Option<u64>)> = {
            let index = self.index.read().map_err(|_| LogError::Closed)?;
            let positions = index.contacts.get(&contact_id).map_or(&[][..], Vec::as_slice);
            positions
                .iter()
                .take_while(|&&p| p <= durable)
                .map(|&p| (p, usize::try_from(p - 1).ok().and_then(|i| index.offsets.get(i).copied())))
                .collect()
        };
        located
            .into_iter()
            .map(|(position, offset)| {
                let record = self.read_at(position, offset.ok_or_else(|| bad_index(position))?)?;
                if !record.concerns(contact_id) {
                    return Err(bad_index(position));
                }
                Ok(record)
            })
            .collect()
    }

    /// The durable head's position.
    pub(crate) fn head_position(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Up to `limit` entries after position `after`, in order, never past the durable head.
    pub(crate) fn read_after(&self, after: u64, limit: usize) -> Result<Vec<AccessRecord>, LogError> {
        let head = self.head_position();
        if after >= head || limit == 0 {
            return Ok(Vec::new());
        }
        let last = head.min(after.saturating_add(limit as u64));
        let want = after + 1;
        let start = want;
        let offset = usize::try_from(want - 1)
            .ok()
            .and_then(|i| self.index.read().ok()?.offsets.get(i).copied())
            .ok_or_else(|| bad_index(start))?;
        let segments: Vec<Arc<Segment>> = self.segments.read().map_err(|_| LogError::Closed)?.clone();
        let mut out = Vec::with_capacity(usize::try_from(last - after).unwrap_or(0));
        let mut i = segments.partition_point(|s| s.first <= start).saturating_sub(1);
        let mut position = start;
        let mut from = offset;
        while position <= last && i < segments.len() {
            let seg = &segments[i];
            let len = seg.file.metadata()?.len();
            let mut cursor = Cursor::new(&seg.file, from, len);
            while position <= last {
                let Some((at, frame)) = cursor.next()? else { break };
                let fail = |what: &str| corrupt_at(&seg.path, at, position, &format!("access log: {what}"));
                let frame = frame.map_err(|e| fail(&e.to_string()))?;
                let record = decode_body(&frame.record[36..], frame.hash()).map_err(|e| fail(&e))?;
                if record.position != position {
                    return Err(fail(&format!("the record says it is position {}", record.position)));
                }
                if position >= want {
                    out.push(record);
                }
                position += 1;
            }
            i += 1;
            from = HEADER_LEN;
        }
        if position <= last {
            return Err(LogError::Corrupt { position, reason: "access entry missing from the access log".into() });
        }
        Ok(out)
    }

    /// Recomputes the whole access chain (up to the durable head) and checks every index entry.
    pub(crate) fn verify(&self) -> Result<AccessHead, LogError> {
        let mut rebuilt = AccessIndex::default();
        // Up to the last group made durable: a group being written is not checked.
        let durable = self.head_position();
        let segments: Vec<Arc<Segment>> = self.segments.read().map_err(|_| LogError::Closed)?.clone();
        let refs: Vec<(PathBuf, &File)> = segments.iter().map(|s| (s.path.clone(), &s.file)).collect();
        let walked = walk(&refs, Tail::Refuse, false, Some(durable), &mut |offset, record| {
            rebuilt.add(record.position, offset, &indexed_contacts(record.contact_id, &record.scope));
        })?;
        let head = walked.head;
        if head.position < durable {
            return Err(LogError::Corrupt {
                position: head.position + 1,
                reason: format!("the access log ends at entry {} before its durable head {durable}", head.position),
            });
        }
        let index = self.index.read().map_err(|_| LogError::Closed)?;
        let len = usize::try_from(head.position).unwrap_or(usize::MAX);
        if let Some(i) = (0..len).find(|&i| index.offsets.get(i) != rebuilt.offsets.get(i)) {
            return Err(bad_index(i as u64 + 1));
        }
        for (contact, positions) in &rebuilt.contacts {
            let stored = index.contacts.get(contact).map_or(&[][..], Vec::as_slice);
            let stored = &stored[..stored.partition_point(|&p| p <= head.position)];
            if stored != positions.as_slice() {
                let at = stored.iter().zip(positions).find(|(a, b)| a != b).map_or(head.position, |(_, b)| *b);
                return Err(bad_index(at));
            }
        }
        let stored: usize = index.contacts.values().map(|p| p.partition_point(|&p| p <= head.position)).sum();
        let needed: usize = rebuilt.contacts.values().map(Vec::len).sum();
        if stored != needed {
            return Err(LogError::Corrupt {
                position: head.position,
                reason: format!(
                    "access log index has {stored} entries where the {} access entries need {needed}",
                    head.position
                ),
            });
        }
        Ok(head)
    }
}

fn bad_index(position: u64) -> LogError {
    LogError::Corrupt {
        position,
        reason: "access log index entry is missing or wrong (the index is rebuilt from the access segments at every \
                 start)"
            .into(),
    }
}

/// The access writer: owns the chain's next position and last hash.
struct Writer {
    access_dir: PathBuf,
    segment_bytes: u64,
    segments: Segments,
    durable: Arc<AtomicU64>,
    index: Arc<RwLock<AccessIndex>>,
    head: AccessHead,
    /// The end of the newest segment.
    end: u64,
    buf: Vec<u8>,
}

impl Writer {
    fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(first) = jobs.blocking_recv() {
            let mut group = vec![first];
            let mut count = group[0].entries.len();
            while count < MAX_GROUP {
                match jobs.try_recv() {
                    Ok(job) => {
                        count += job.entries.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            let result = self.commit(&group);
            for job in group {
                let _ = job.reply.send(result.clone());
            }
        }
    }

    /// Seals the newest segment and starts the next one, when it is full.
    fn roll_if_full(&mut self) -> Result<Arc<Segment>, LogError> {
        let newest = self.segments.read().map_err(|_| LogError::Closed)?.last().cloned().ok_or(LogError::Closed)?;
        if self.end < self.segment_bytes || self.end <= HEADER_LEN {
            return Ok(newest);
        }
        let header = SegmentHeader { first_position: self.head.position + 1, prev_hash: self.head.hash };
        let file = create_segment(&self.access_dir, &header)?;
        let seg = Arc::new(Segment {
            first: header.first_position,
            path: self.access_dir.join(segment::file_name(header.first_position)),
            file,
        });
        self.segments.write().map_err(|_| LogError::Closed)?.push(Arc::clone(&seg));
        self.end = HEADER_LEN;
        Ok(seg)
    }

    /// One `write` and one `fdatasync` for the whole group, then the index (in memory).
    fn commit(&mut self, group: &[Job]) -> Result<(), LogError> {
        let seg = self.roll_if_full()?;
        self.buf.clear();
        let mut head = self.head;
        let mut added = Vec::new();
        for (contact, entry, scope) in group.iter().flat_map(|j| j.entries.iter()) {
            let position = head.position + 1;
            let body = encode_body(position, &head.hash, *contact, entry, scope)?;
            let hash = chain_hash(&head.hash, &body);
            let record = crate::record::encode_record_parts(&hash, &body);
            let offset = self.end + self.buf.len() as u64;
            segment::encode_frame(&mut self.buf, &record, true, None);
            added.push((position, offset, indexed_contacts(*contact, scope)));
            head = AccessHead { position, hash };
        }
        if let Err(e) = seg.file.write_all_at(&self.buf, self.end).and_then(|()| seg.file.sync_data()) {
            // Nothing of the group is acknowledged; cut off whatever reached the file.
            let _ = seg.file.set_len(self.end);
            return Err(e.into());
        }
        self.end += self.buf.len() as u64;
        self.head = head;
        {
            let mut index = self.index.write().map_err(|_| LogError::Closed)?;
            for (position, offset, contacts) in added {
                index.add(position, offset, &contacts);
            }
            index.head = Some(head);
        }
        // After the index, so that readers and `verify` never find durable entries unindexed.
        self.durable.store(head.position, Ordering::Release);
        Ok(())
    }
}

/// The line of an access export for `record`: its stored body, byte for byte, with
/// `,"hash":"<hex>"` put before the closing brace (see `eventlog/README.md`).
///
/// # Errors
/// When the body does not hash to the record's hash (the record was not read from a chain
/// that verifies).
pub fn export_line(record: &AccessRecord) -> Result<String, String> {
    let body = encode_body(record.position, &record.prev_hash, record.contact_id, &record.entry, &record.scope)
        .map_err(|e| e.to_string())?;
    if chain_hash(&record.prev_hash, &body) != record.hash {
        return Err(format!("access entry {}: hash does not match the entry's contents", record.position));
    }
    let mut line = String::from_utf8(body).map_err(|e| e.to_string())?;
    line.pop();
    line.push_str(",\"hash\":\"");
    line.push_str(&record.hash.to_hex());
    line.push_str("\"}");
    Ok(line)
}

/// The stored body and hash of a line of an access export, the entry decoded (the chain is
/// not checked here: see [`ExportChecker`]).
///
/// # Errors
/// What is wrong with the line.
pub fn parse_export_line(line: &str) -> Result<(Vec<u8>, AccessRecord), String> {
    const SUFFIX: usize = ",\"hash\":\"".len() + 64 + "\"}".len();
    let cut = line.len().checked_sub(SUFFIX).filter(|&c| line.is_char_boundary(c));
    let Some(cut) = cut.filter(|&c| line[c..].starts_with(",\"hash\":\"") && line.ends_with("\"}")) else {
        return Err("an access export line ends with ,\"hash\":\"<64 hex>\"}".into());
    };
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&line[cut + 9..line.len() - 2], &mut digest).map_err(|e| format!("hash: {e}"))?;
    let mut body = line.as_bytes()[..cut].to_vec();
    body.push(b'}');
    let record = decode_body(&body, Hash(digest))?;
    Ok((body, record))
}

/// Checks an access export's lines in order: positions gapless from 1, each `prev_hash`
/// linking to the hash before, each hash recomputed from the body.
#[derive(Debug, Default)]
pub struct ExportChecker {
    head: Option<AccessHead>,
}

impl ExportChecker {
    pub fn new() -> Self {
        ExportChecker::default()
    }

    /// A checker that continues a chain already checked up to `head`.
    pub fn from_head(head: AccessHead) -> Self {
        ExportChecker { head: (head.position > 0).then_some(head) }
    }

    /// Checks the next line's body and record.
    ///
    /// # Errors
    /// The position expected and what is wrong.
    pub fn check(&mut self, body: &[u8], record: &AccessRecord) -> Result<(), (u64, String)> {
        let head = self.head.unwrap_or(AccessHead { position: 0, hash: Hash::GENESIS });
        let expected = head.position + 1;
        if record.position != expected {
            return Err((expected, format!("expected access entry {expected}, found {}", record.position)));
        }
        if record.prev_hash != head.hash {
            return Err((expected, "prev_hash does not link to the access entry before".into()));
        }
        if chain_hash(&head.hash, body) != record.hash {
            return Err((expected, "hash does not match the access entry's contents".into()));
        }
        self.head = Some(AccessHead { position: expected, hash: record.hash });
        Ok(())
    }

    /// The head checked so far.
    pub fn head(&self) -> AccessHead {
        self.head.unwrap_or(AccessHead { position: 0, hash: Hash::GENESIS })
    }
}
