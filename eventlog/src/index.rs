//! The log's index, in memory: built from the segments at open, kept up to date by the writer
//! after each group commit, and saved now and then to a snapshot file so that a restart need
//! not parse every record again.
//!
//! - [`EventIndex::offsets`]: the frame offset (in its segment) of every position, indexed by
//!   position − 1; the segment itself is found by a binary search over the segments' first
//!   positions.
//! - [`EventIndex::contacts`]: each contact's positions in version order (version `v` at index
//!   `v − 1`), so a contact's current version is the length of its list.
//! - [`EventIndex::keys`]: idempotency keys by the first 16 bytes of SHA-256(key): the request's
//!   fingerprint and the append's first position and event count.
//!
//! The offsets and the idempotency keys come from the frames alone (a frame's place, and the
//! key hash and fingerprint an append's last frame carries), so `open` rebuilds them during the
//! walk it makes anyway to check every checksum. Only the contacts need each record's body
//! parsed (`contact_id`, `version`): that is what the snapshot saves.
//!
//! Files, in `<data dir>/index/` (0700; everything 0600):
//!
//! ```text
//! head            := magic "FDHEAD01" ‖ events' position (u64 LE) ‖ events' hash (32)
//!                    ‖ access position (u64 LE) ‖ access hash (32) ‖ crc32(all before) (u32 LE)
//! events.snapshot := magic "FDSNAP01" ‖ position (u64 LE) ‖ hash (32) ‖ head segment (u64 LE)
//!                    ‖ head frame offset (u64 LE) ‖ contacts (u64 LE)
//!                    ‖ { contact id (u128 LE) ‖ n (u32 LE) ‖ n × position (u64 LE) }*
//!                    ‖ crc32(all before) (u32 LE)
//! ```
//!
//! Both are written to a temporary file, `fsync`ed, renamed over the old one, and the
//! directory `fsync`ed: a reader finds the old file or the new one, never a mix. The `head`
//! file is the *durable head* (`open` refuses a log that ends before it, or has another event
//! at its position); the snapshot is only a shortcut, checked at open against the segment's
//! record at its head (position, hash, place) and discarded (logged, index rebuilt) when it
//! does not match or its checksum fails.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::error::LogError;
use crate::log::Head;
use events::envelope::Hash;

/// The index's directory inside a data directory.
pub const INDEX_DIR: &str = "index";
/// The durable head file inside [`INDEX_DIR`].
pub const HEAD_FILE: &str = "head";
/// The events' index snapshot inside [`INDEX_DIR`].
pub const SNAPSHOT_FILE: &str = "events.snapshot";

const HEAD_MAGIC: &[u8; 8] = b"FDHEAD01";
const SNAPSHOT_MAGIC: &[u8; 8] = b"FDSNAP01";
const HEAD_LEN: usize = 8 + 8 + 32 + 8 + 32 + 4;

/// An idempotency key's stored result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyEntry {
    pub(crate) fingerprint: Hash,
    pub(crate) first: u64,
    pub(crate) count: u32,
}

/// The first 16 bytes of SHA-256 of an idempotency key (as the index keys it).
pub(crate) fn key_id(key_hash: &[u8; 32]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&key_hash[..16]);
    id
}

/// SHA-256 of an idempotency key (as a frame carries it).
pub(crate) fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The events' index (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct EventIndex {
    /// The durable head the index reaches (updated with each group's entries).
    pub(crate) head: Head,
    pub(crate) offsets: Vec<u64>,
    pub(crate) contacts: HashMap<Ulid, Vec<u64>>,
    pub(crate) keys: HashMap<[u8; 16], KeyEntry>,
}

impl EventIndex {
    /// The frame offset of `position` in its segment.
    pub(crate) fn offset(&self, position: u64) -> Option<u64> {
        let i = usize::try_from(position.checked_sub(1)?).ok()?;
        self.offsets.get(i).copied()
    }

    /// The contact's current version (0 for a contact never seen).
    pub(crate) fn version(&self, contact: Ulid) -> u32 {
        self.contacts.get(&contact).map_or(0, |v| u32::try_from(v.len()).unwrap_or(u32::MAX))
    }

    /// Adds the next event of a contact (`version` must be its current version + 1).
    pub(crate) fn push_contact(&mut self, contact: Ulid, version: u32, position: u64) -> Result<(), String> {
        let list = self.contacts.entry(contact).or_default();
        if u64::from(version) != list.len() as u64 + 1 {
            return Err(format!("contact {contact} jumps from version {} to {version}", list.len()));
        }
        list.push(position);
        Ok(())
    }
}

/// What a snapshot holds besides the contacts: the head it was taken at and that head's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotHead {
    pub(crate) head: Head,
    /// The first position of the head's segment.
    pub(crate) segment: u64,
    /// The head frame's offset in it.
    pub(crate) offset: u64,
}

/// A snapshot read back: where it was taken, and each contact's positions.
pub(crate) type Snapshot = (SnapshotHead, HashMap<Ulid, Vec<u64>>);

/// The durable heads of both chains, as the `head` file holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DurableHeads {
    pub(crate) events: Head,
    pub(crate) access: Head,
}

/// Creates `<dir>/index` (0700) if it is missing.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), LogError> {
    let path = dir.join(INDEX_DIR);
    if !path.exists() {
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        crate::log::sync_dir(dir)?;
    }
    Ok(())
}

/// Writes `bytes` to `<dir>/index/<name>` atomically: temporary file, `fsync`, rename,
/// `fsync` of the directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LogError> {
    let index_dir = dir.join(INDEX_DIR);
    let tmp = index_dir.join(format!("{name}.tmp"));
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, index_dir.join(name))?;
    File::open(&index_dir)?.sync_all()?;
    Ok(())
}

/// Writes the durable heads.
pub(crate) fn write_heads(dir: &Path, heads: &DurableHeads) -> Result<(), LogError> {
    let mut out = Vec::with_capacity(HEAD_LEN);
    out.extend_from_slice(HEAD_MAGIC);
    out.extend_from_slice(&heads.events.position.to_le_bytes());
    out.extend_from_slice(&heads.events.hash.0);
    out.extend_from_slice(&heads.access.position.to_le_bytes());
    out.extend_from_slice(&heads.access.hash.0);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    write_atomically(dir, HEAD_FILE, &out)
}

/// Reads the durable heads: `None` when the file is missing; one that is damaged is reported
/// (a warning) and taken as missing.
pub(crate) fn read_heads(dir: &Path) -> Result<Option<DurableHeads>, LogError> {
    let path = dir.join(INDEX_DIR).join(HEAD_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let parsed = (|| {
        if bytes.len() != HEAD_LEN || &bytes[..8] != HEAD_MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(bytes[HEAD_LEN - 4..].try_into().ok()?);
        if crc32fast::hash(&bytes[..HEAD_LEN - 4]) != crc {
            return None;
        }
        let mut r = Reader { bytes: &bytes[8..HEAD_LEN - 4] };
        let events = Head { position: r.u64()?, hash: r.hash()? };
        let access = Head { position: r.u64()?, hash: r.hash()? };
        Some(DurableHeads { events, access })
    })();
    if parsed.is_none() {
        tracing::warn!(file = %path.display(), "the durable head file is damaged; it is ignored and written again");
    }
    Ok(parsed)
}

/// Writes an encoded snapshot (see [`encode_snapshot_of`]).
pub(crate) fn write_snapshot(dir: &Path, bytes: &[u8]) -> Result<(), LogError> {
    write_atomically(dir, SNAPSHOT_FILE, bytes)
}

/// Contacts copied into a snapshot per hold of the index's read lock.
const SNAPSHOT_CHUNK: usize = 4096;

/// A snapshot of the contacts `ids` of the index behind `lock`, as they stood at `at`: the
/// caller took `at` and `ids` under one hold of the lock. The positions are then copied a chunk
/// of [`SNAPSHOT_CHUNK`] contacts at a time, each under its own short hold of the read lock, so
/// the writer (which needs the write lock after every group commit) waits for one chunk at
/// most, never for the whole encoding (about 48 MB at five million events). That gives the
/// index at `at` because a contact's list only ever grows at its end, in position order: its
/// prefix up to `at.head.position` is what it held then, and contacts first seen later are
/// not in `ids`.
///
/// # Errors
/// [`LogError::Closed`] when the lock is poisoned (the writer panicked).
pub(crate) fn encode_snapshot_of(
    lock: &std::sync::RwLock<EventIndex>,
    at: &SnapshotHead,
    ids: &[Ulid],
) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::with_capacity(72 + ids.len() * 28);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.extend_from_slice(&at.head.position.to_le_bytes());
    out.extend_from_slice(&at.head.hash.0);
    out.extend_from_slice(&at.segment.to_le_bytes());
    out.extend_from_slice(&at.offset.to_le_bytes());
    out.extend_from_slice(&(ids.len() as u64).to_le_bytes());
    for chunk in ids.chunks(SNAPSHOT_CHUNK) {
        let index = lock.read().map_err(|_| LogError::Closed)?;
        for contact in chunk {
            let list = index.contacts.get(contact).map_or(&[][..], Vec::as_slice);
            let list = &list[..list.partition_point(|&p| p <= at.head.position)];
            out.extend_from_slice(&contact.0.to_le_bytes());
            out.extend_from_slice(&u32::try_from(list.len()).unwrap_or(u32::MAX).to_le_bytes());
            for position in list {
                out.extend_from_slice(&position.to_le_bytes());
            }
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Reads the snapshot: `None` when it is missing or damaged (damage is logged). The caller
/// still has to check it against the segments.
pub(crate) fn read_snapshot(dir: &Path) -> Result<Option<Snapshot>, LogError> {
    let path = dir.join(INDEX_DIR).join(SNAPSHOT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let parsed = parse_snapshot(&bytes);
    if let Err(why) = &parsed {
        tracing::warn!(file = %path.display(), reason = %why, "discarding the index snapshot; the index is rebuilt from the segments");
    }
    Ok(parsed.ok())
}

fn parse_snapshot(bytes: &[u8]) -> Result<Snapshot, &'static str> {
    if bytes.len() < 8 + 8 + 32 + 8 + 8 + 8 + 4 || &bytes[..8] != SNAPSHOT_MAGIC {
        return Err("not a snapshot");
    }
    let body = &bytes[..bytes.len() - 4];
    let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().map_err(|_| "short")?);
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch");
    }
    let mut r = Reader { bytes: &body[8..] };
    let malformed = "malformed";
    let head = Head { position: r.u64().ok_or(malformed)?, hash: r.hash().ok_or(malformed)? };
    let segment = r.u64().ok_or(malformed)?;
    let offset = r.u64().ok_or(malformed)?;
    let count = r.u64().ok_or(malformed)?;
    let mut contacts = HashMap::with_capacity(usize::try_from(count.min(1 << 24)).unwrap_or(0));
    let mut total = 0u64;
    for _ in 0..count {
        let contact = Ulid(u128::from_le_bytes(r.take(16).ok_or(malformed)?.try_into().map_err(|_| malformed)?));
        let n = u32::from_le_bytes(r.take(4).ok_or(malformed)?.try_into().map_err(|_| malformed)?) as usize;
        let raw = r.take(n.checked_mul(8).ok_or(malformed)?).ok_or(malformed)?;
        let list: Vec<u64> = raw.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        if list.iter().any(|&p| p == 0 || p > head.position) || list.windows(2).any(|w| w[0] >= w[1]) {
            return Err("a contact's positions are out of range or order");
        }
        total += list.len() as u64;
        if contacts.insert(contact, list).is_some() {
            return Err("a contact listed twice");
        }
    }
    if !r.bytes.is_empty() {
        return Err("trailing bytes");
    }
    if total != head.position {
        return Err("the contacts' positions do not cover the snapshot's events");
    }
    Ok((SnapshotHead { head, segment, offset }, contacts))
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn hash(&mut self) -> Option<Hash> {
        Some(Hash(self.take(32)?.try_into().ok()?))
    }
}

/// Removes the files of the index as sled kept it (`db`, `conf`, `blobs/`, `snap.*`) from
/// `<dir>/index`: everything in them is rebuilt from the segments.
pub(crate) fn remove_sled_files(dir: &Path) -> Result<bool, LogError> {
    let index_dir = dir.join(INDEX_DIR);
    let Ok(entries) = std::fs::read_dir(&index_dir) else { return Ok(false) };
    let mut removed = false;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "db" || name == "conf" || name.starts_with("snap.") {
            std::fs::remove_file(entry.path())?;
            removed = true;
        } else if name == "blobs" && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
            removed = true;
        }
    }
    if removed {
        File::open(&index_dir)?.sync_all()?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_back_and_a_flipped_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        ensure_dir(dir.path()).unwrap();
        let mut index = EventIndex::default();
        let (a, b) = (Ulid::from_parts(1, 2), Ulid::from_parts(3, 4));
        index.push_contact(a, 1, 1).unwrap();
        index.push_contact(b, 1, 2).unwrap();
        index.push_contact(a, 2, 3).unwrap();
        assert!(index.push_contact(b, 3, 4).is_err(), "a version skipped");
        let at = SnapshotHead { head: Head { position: 3, hash: Hash([7; 32]) }, segment: 1, offset: 200 };
        let ids: Vec<Ulid> = index.contacts.keys().copied().collect();
        let at_head = index.contacts.clone();
        let lock = std::sync::RwLock::new(index);
        // Appends made while the snapshot is copied (between its chunks) are left out of it.
        {
            let mut index = lock.write().unwrap();
            index.push_contact(a, 3, 4).unwrap();
            index.push_contact(Ulid::from_parts(5, 6), 1, 5).unwrap();
        }
        write_snapshot(dir.path(), &encode_snapshot_of(&lock, &at, &ids).unwrap()).unwrap();
        let (read, contacts) = read_snapshot(dir.path()).unwrap().unwrap();
        assert_eq!(read, at);
        assert_eq!(contacts, at_head);

        let path = dir.path().join(INDEX_DIR).join(SNAPSHOT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[60] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_snapshot(dir.path()).unwrap().is_none());
    }

    #[test]
    fn the_head_file_reads_back_and_damage_reads_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        ensure_dir(dir.path()).unwrap();
        assert_eq!(read_heads(dir.path()).unwrap(), None);
        let heads = DurableHeads {
            events: Head { position: 9, hash: Hash([1; 32]) },
            access: Head { position: 4, hash: Hash([2; 32]) },
        };
        write_heads(dir.path(), &heads).unwrap();
        assert_eq!(read_heads(dir.path()).unwrap(), Some(heads));
        let path = dir.path().join(INDEX_DIR).join(HEAD_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_heads(dir.path()).unwrap(), None);
    }
}
