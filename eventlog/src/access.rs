//! The access log: who read which contact's record, when and how, as a second hash-chained log.
//!
//! Entries are records in segment files of their own, in `access/` beside `segments/`, with the
//! same header, frame and record format as the events (see `eventlog/README.md`): each body is
//! compact JSON starting `{"position":N,"prev_hash":"…",` and
//! `hash = SHA-256(prev_hash ‖ body)`, so the same tools check both chains. An access writer
//! thread takes every waiting entry as a group, writes the group with one `write` and makes it
//! durable with one `fdatasync` before any of its callers returns: an entry is durable before
//! the read it records is answered. The index (sled tree `access-index`: contact ‖ position →
//! byte offset, and the indexed head) can be rebuilt from the access segments.
//!
//! The access log has one segment (`access/00000000000000000001.seg`); it does not roll yet.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use events::envelope::{Actor, Hash, chain_hash, timestamp};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::error::LogError;
use crate::log::{corrupt_at, create_segment, sync_dir};
use crate::segment::{self, Cursor, HEADER_LEN, HEADER_SIZE, SegmentHeader};

/// The access log's segments' directory inside a data directory.
pub const ACCESS_DIR: &str = "access";
/// The sled tree of the access log's index.
const INDEX_TREE: &str = "access-index";
/// The index key of the indexed head: position (8) ‖ hash (32).
const HEAD_KEY: &[u8] = b"h";
/// No more entries than this in one group.
const MAX_GROUP: usize = 1024;

/// One read of a contact's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessEntry {
    #[serde(with = "timestamp")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// What was done, e.g. `read_contact`, `read_events`, `read_audit`, `read_refused`.
    pub action: String,
    /// The request path.
    pub endpoint: String,
}

/// The stored body of an access record, fields in this order.
#[derive(Debug, Serialize, Deserialize)]
struct AccessBody {
    position: u64,
    prev_hash: String,
    contact_id: String,
    #[serde(with = "timestamp")]
    at: DateTime<Utc>,
    actor: Actor,
    action: String,
    endpoint: String,
}

impl AccessBody {
    fn decode(bytes: &[u8]) -> Result<(Ulid, AccessEntry, u64, String), String> {
        let b: AccessBody = serde_json::from_slice(bytes).map_err(|e| format!("not an access entry: {e}"))?;
        let contact = b.contact_id.parse::<Ulid>().map_err(|e| format!("contact id: {e}"))?;
        let entry = AccessEntry { at: b.at, actor: b.actor, action: b.action, endpoint: b.endpoint };
        Ok((contact, entry, b.position, b.prev_hash))
    }
}

struct Job {
    entries: Vec<(Ulid, AccessEntry)>,
    reply: SyncSender<Result<(), LogError>>,
}

/// The chain's head: position and hash of the last entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessHead {
    pub position: u64,
    pub hash: Hash,
}

/// Appends (durably) and reads access entries.
pub(crate) struct AccessLog {
    path: PathBuf,
    file: Arc<File>,
    /// The byte offset up to which the access segment is durable (written and synced).
    durable_end: Arc<AtomicU64>,
    tree: sled::Tree,
    jobs: Mutex<Option<SyncSender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.jobs.lock().map(|mut j| j.take()).ok();
        if let Some(handle) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
    }
}

fn index_key(contact: Ulid, position: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&contact.0.to_be_bytes());
    key[16..].copy_from_slice(&position.to_be_bytes());
    key
}

fn head_value(head: AccessHead) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..8].copy_from_slice(&head.position.to_be_bytes());
    v[8..].copy_from_slice(&head.hash.0);
    v
}

/// Walks the access segment from its header: every frame's and record's checksum, each
/// position, each `prev_hash` link and hash. Calls `f(position, offset, contact, entry)`.
/// A torn last frame is cut off when `repair` and the entries before it reach `durable` (the
/// head the index recorded), else refused.
fn walk(
    path: &Path,
    file: &File,
    repair: bool,
    durable: u64,
    limit: Option<u64>,
    f: &mut dyn FnMut(u64, u64, Hash, Ulid, AccessEntry),
) -> Result<(AccessHead, u64), LogError> {
    let len = limit.map_or_else(|| file.metadata().map(|m| m.len()), Ok)?;
    if len < HEADER_LEN {
        return Err(corrupt_at(path, 0, 1, "the access segment is shorter than a segment header"));
    }
    let mut header = [0u8; HEADER_SIZE];
    file.read_exact_at(&mut header, 0)?;
    let header = SegmentHeader::decode(&header).map_err(|e| corrupt_at(path, 0, 1, &e))?;
    if header.first_position != 1 || header.prev_hash != Hash::GENESIS {
        return Err(corrupt_at(path, 0, 1, "the access segment does not start the access chain"));
    }
    let mut head = AccessHead { position: 0, hash: Hash::GENESIS };
    let mut cursor = Cursor::new(file, HEADER_LEN, len);
    let mut end = HEADER_LEN;
    while let Some((at, frame)) = cursor.next()? {
        let position = head.position + 1;
        let fail = |what: &str| corrupt_at(path, at, position, &format!("access log: {what}"));
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                if segment::valid_frame_after(file, at, len)?.is_none() {
                    if repair && head.position >= durable {
                        tracing::warn!(
                            segment = %path.display(),
                            offset = at,
                            bytes = len - at,
                            "cut off a torn access-log entry at the end of the access segment (never acknowledged)"
                        );
                        file.set_len(at)?;
                        file.sync_all()?;
                        return Ok((head, at));
                    }
                    return Err(fail(&format!(
                        "a partial entry at the end ({e}), before entry {durable}, which the index recorded as durable"
                    )));
                }
                return Err(fail(&e.to_string()));
            }
        };
        let hash = frame.hash();
        let body = &frame.record[36..];
        let (contact, entry, stored_position, prev_hex) = AccessBody::decode(body).map_err(|e| fail(&e))?;
        if stored_position != position {
            return Err(fail(&format!("the record says it is position {stored_position}")));
        }
        if prev_hex != head.hash.to_hex() {
            return Err(fail("prev_hash does not link to the entry before"));
        }
        if chain_hash(&head.hash, body) != hash {
            return Err(fail("hash does not match the record's contents"));
        }
        f(position, at, hash, contact, entry);
        head = AccessHead { position, hash };
        end = at + frame.len as u64;
    }
    Ok((head, end))
}

impl AccessLog {
    /// Opens (or creates) the access log of the data directory `dir`: checks the whole chain,
    /// cuts off a torn last entry, refuses other damage, refuses a chain that ends before the
    /// indexed head, indexes what the index lacks, and copies the entries of the old,
    /// unchained `access` tree (if any) into the chain once.
    pub(crate) fn open(dir: &Path, db: &sled::Db) -> Result<AccessLog, LogError> {
        let access_dir = dir.join(ACCESS_DIR);
        if !access_dir.exists() {
            std::fs::DirBuilder::new().mode(0o700).create(&access_dir)?;
            sync_dir(dir)?;
        }
        let segments = segment::list(&access_dir)?;
        let (path, file) = match segments.as_slice() {
            [] => {
                let header = SegmentHeader { first_position: 1, prev_hash: Hash::GENESIS };
                let file = create_segment(&access_dir, &header)?;
                (access_dir.join(segment::file_name(1)), file)
            }
            [(1, path)] => (path.clone(), std::fs::OpenOptions::new().read(true).write(true).open(path)?),
            _ => {
                return Err(corrupt_at(
                    &access_dir,
                    0,
                    1,
                    "the access log has one segment, 00000000000000000001.seg; other or more files were found",
                ));
            }
        };
        let tree = db.open_tree(INDEX_TREE)?;
        let indexed = tree.get(HEAD_KEY)?.and_then(|v| {
            (v.len() == 40).then(|| AccessHead {
                position: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
                hash: Hash(v[8..].try_into().expect("32 bytes")),
            })
        });
        let from = indexed.map_or(0, |h| h.position);
        let mut batch = sled::Batch::default();
        let mut at_indexed = None;
        let (head, end) = walk(&path, &file, true, from, None, &mut |position, offset, hash, contact, _| {
            if position == from {
                at_indexed = Some(hash);
            }
            if position > from {
                batch.insert(&index_key(contact, position)[..], &offset.to_be_bytes()[..]);
            }
        })?;
        if let Some(indexed) = indexed {
            if head.position < indexed.position {
                return Err(corrupt_at(
                    &path,
                    end,
                    head.position + 1,
                    &format!(
                        "the access log ends at entry {} but its index recorded entry {} as durable (the access \
                         segment was cut short or replaced)",
                        head.position, indexed.position
                    ),
                ));
            }
            if indexed.position > 0 && at_indexed != Some(indexed.hash) {
                return Err(corrupt_at(
                    &path,
                    0,
                    indexed.position,
                    "the access log's entry at its indexed head has another hash (the access segment was replaced)",
                ));
            }
        }
        if head.position > from {
            batch.insert(HEAD_KEY, &head_value(head)[..]);
            tree.apply_batch(batch)?;
            tracing::info!(entries = head.position - from, "indexed access-log entries");
        }
        let file = Arc::new(file);
        let (jobs_tx, jobs_rx) = sync_channel(4096);
        let durable_end = Arc::new(AtomicU64::new(end));
        let writer = Writer {
            file: Arc::clone(&file),
            durable_end: Arc::clone(&durable_end),
            tree: tree.clone(),
            head,
            end,
            buf: Vec::new(),
        };
        let handle = std::thread::Builder::new().name("access-writer".into()).spawn(move || writer.run(&jobs_rx))?;
        let log = AccessLog {
            path,
            file,
            durable_end,
            tree,
            jobs: Mutex::new(Some(jobs_tx)),
            writer: Mutex::new(Some(handle)),
        };
        if db.tree_names().iter().any(|n| &n[..] == b"access") {
            let old = db.open_tree("access")?;
            let copied = log.copy_old(&old)?;
            drop(old);
            db.drop_tree("access")?;
            db.flush()?;
            if copied > 0 {
                tracing::info!(entries = copied, "copied the old access log into the chained access log");
            }
        }
        Ok(log)
    }

    /// Copies the entries of an old, unchained access tree (`contact ‖ millis ‖ sequence →
    /// JSON entry`) into the chain, durably, in key order. Returns how many.
    pub(crate) fn copy_old(&self, old: &sled::Tree) -> Result<u64, LogError> {
        let mut entries = Vec::new();
        for item in old.iter() {
            let (k, v) = item?;
            let contact = k
                .get(..16)
                .map(|b| Ulid(u128::from_be_bytes(b.try_into().expect("16 bytes"))))
                .ok_or_else(|| LogError::Corrupt { position: 0, reason: "old access log key too short".into() })?;
            let entry: AccessEntry = serde_json::from_slice(&v)
                .map_err(|e| LogError::Corrupt { position: 0, reason: format!("old access log entry: {e}") })?;
            entries.push((contact, entry));
        }
        let n = entries.len() as u64;
        for chunk in entries.chunks(MAX_GROUP) {
            self.append(chunk.to_vec())?;
        }
        Ok(n)
    }

    /// Appends entries and returns once they are written and `fdatasync`ed.
    pub(crate) fn append(&self, entries: Vec<(Ulid, AccessEntry)>) -> Result<(), LogError> {
        let (reply, wait) = sync_channel(1);
        let sender = self.jobs.lock().map_err(|_| LogError::Closed)?.clone().ok_or(LogError::Closed)?;
        sender.send(Job { entries, reply }).map_err(|_| LogError::Closed)?;
        wait.recv().map_err(|_| LogError::Closed)?
    }

    pub(crate) fn record(&self, contact_id: Ulid, entry: &AccessEntry) -> Result<(), LogError> {
        self.append(vec![(contact_id, entry.clone())])
    }

    pub(crate) fn read(&self, contact_id: Ulid) -> Result<Vec<AccessEntry>, LogError> {
        let len = self.file.metadata()?.len();
        self.tree
            .scan_prefix(contact_id.0.to_be_bytes())
            .map(|item| {
                let (k, v) = item?;
                let position = u64::from_be_bytes(k[16..24].try_into().map_err(|_| bad_index(0))?);
                let offset = u64::from_be_bytes(v[..].try_into().map_err(|_| bad_index(position))?);
                let mut cursor = Cursor::with_chunk(&self.file, offset, len, 4096);
                let fail = |what: &str| corrupt_at(&self.path, offset, position, &format!("access log: {what}"));
                let Some((_, frame)) = cursor.next()? else { return Err(fail("the index points past the end")) };
                let frame = frame.map_err(|e| fail(&e.to_string()))?;
                let (contact, entry, stored, _) = AccessBody::decode(&frame.record[36..]).map_err(|e| fail(&e))?;
                if contact != contact_id || stored != position {
                    return Err(fail("the index points to another entry"));
                }
                Ok(entry)
            })
            .collect()
    }

    /// Recomputes the whole access chain and checks every index entry. Returns the head and
    /// the number of entries.
    pub(crate) fn verify(&self) -> Result<AccessHead, LogError> {
        let mut index: BTreeMap<[u8; 24], u64> = BTreeMap::new();
        // Up to the end of the last group made durable: a group being written is not checked.
        let durable_end = self.durable_end.load(Ordering::Acquire);
        let (head, _) =
            walk(&self.path, &self.file, false, 0, Some(durable_end), &mut |position, offset, _, contact, _| {
                index.insert(index_key(contact, position), offset);
            })?;
        let mut stored = 0u64;
        for item in self.tree.iter() {
            let (k, v) = item?;
            if &k[..] == HEAD_KEY {
                continue;
            }
            let position = k.get(16..24).map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
            if position > head.position {
                continue;
            }
            let key: Option<[u8; 24]> = k[..].try_into().ok();
            let offset = v[..].try_into().ok().map(u64::from_be_bytes);
            if key.and_then(|k| index.get(&k).copied()) != offset || offset.is_none() {
                return Err(bad_index(position));
            }
            stored += 1;
        }
        if stored != head.position {
            return Err(LogError::Corrupt {
                position: head.position,
                reason: format!("access log index has {stored} entries for {} access entries", head.position),
            });
        }
        Ok(head)
    }
}

fn bad_index(position: u64) -> LogError {
    LogError::Corrupt {
        position,
        reason: "access log index entry is missing or wrong (the index is rebuilt from the access segment if its \
                 directory is removed)"
            .into(),
    }
}

/// The access writer: owns the chain's next position and last hash.
struct Writer {
    file: Arc<File>,
    durable_end: Arc<AtomicU64>,
    tree: sled::Tree,
    head: AccessHead,
    end: u64,
    buf: Vec<u8>,
}

impl Writer {
    fn run(mut self, jobs: &Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
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

    /// One `write` and one `fdatasync` for the whole group, then the index (not flushed).
    fn commit(&mut self, group: &[Job]) -> Result<(), LogError> {
        self.buf.clear();
        let mut head = self.head;
        let mut batch = sled::Batch::default();
        for (contact, entry) in group.iter().flat_map(|j| j.entries.iter()) {
            let position = head.position + 1;
            let body = AccessBody {
                position,
                prev_hash: head.hash.to_hex(),
                contact_id: contact.to_string(),
                at: entry.at,
                actor: entry.actor.clone(),
                action: entry.action.clone(),
                endpoint: entry.endpoint.clone(),
            };
            let body = serde_json::to_vec(&body).map_err(|e| LogError::Storage(e.to_string()))?;
            let hash = chain_hash(&head.hash, &body);
            let record = crate::record::encode_record_parts(&hash, &body);
            let offset = self.end + self.buf.len() as u64;
            segment::encode_frame(&mut self.buf, &record, true, None);
            batch.insert(&index_key(*contact, position)[..], &offset.to_be_bytes()[..]);
            head = AccessHead { position, hash };
        }
        if let Err(e) = self.file.write_all_at(&self.buf, self.end).and_then(|()| self.file.sync_data()) {
            // Nothing of the group is acknowledged; cut off whatever reached the file.
            let _ = self.file.set_len(self.end);
            return Err(e.into());
        }
        self.end += self.buf.len() as u64;
        self.head = head;
        batch.insert(HEAD_KEY, &head_value(head)[..]);
        let indexed = self.tree.apply_batch(batch);
        // After the index, so that `verify` never finds durable entries it cannot find indexed.
        self.durable_end.store(self.end, Ordering::Release);
        Ok(indexed?)
    }
}
