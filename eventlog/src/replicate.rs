//! Replication: the hook through which the writer hands every durable group to a replicated
//! log (the service's NATS JetStream side, `src/replication`), the verbatim appends a standby
//! makes from that log, and the quarantine of records a log holds beyond it.
//!
//! The writer calls [`Replicate::admit`] before it writes a group holding new appends (a
//! refusal writes nothing), then [`Replicate::begin`] with the group's new appends just before
//! it writes and `fdatasync`s them (so the replicated log's round trip overlaps the local
//! one), and waits for the outcome once the group is durable in its segment, before any of it
//! is visible or acknowledged: an append is acknowledged only when both have taken it. When the
//! replicated log refuses, the group is cut off the segment again and every append in it is
//! refused: the log never serves what the replicated log may lack. When the local write fails,
//! the outcome is never waited for (the replicated log may then hold a group this log does
//! not, as after a crash between the two: the replicator must find it there and catch up with
//! it before it takes the next group). Without a replicator (one machine, the default) none of
//! this is called.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use events::envelope::{Envelope, Hash};

use crate::error::LogError;
use crate::log::{INDEX_DIR, lock_dir, sync_dir};
use crate::segment::{self, Cursor, HEADER_LEN, SegmentHeader};

/// Where records moved aside live, inside a data directory.
pub const QUARANTINE_DIR: &str = "quarantine";

/// One append as the primary made it: one contact's events at consecutive positions, and the
/// hash of its idempotency key with the request's fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaAppend {
    pub envelopes: Vec<Envelope>,
    pub idempotency: Option<ReplicaIdempotency>,
}

/// An idempotency key as the log stores it: its SHA-256, and the first request's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaIdempotency {
    pub key_hash: [u8; 32],
    pub fingerprint: Hash,
}

/// Why the replicated log did not take a group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicateError {
    /// Another node is the primary (the replicated log refused our expected position, or this
    /// node is a standby): no write is taken here.
    #[error("not the primary: {0}")]
    NotPrimary(String),
    /// The replicated log cannot take the group now (unreachable, no quorum); writes resume
    /// once it can.
    #[error("the replicated log is unavailable: {0}")]
    Unavailable(String),
}

/// A group handed to the replicated log whose outcome is still to come: called once the group
/// is durable locally, it waits for the replicated log's answer (`Ok` lets the writer
/// acknowledge the group). Dropped without being called when the local write failed.
pub type Replicating<'a> = Box<dyn FnOnce() -> Result<(), ReplicateError> + 'a>;

/// What the writer calls when the log is replicated.
pub trait Replicate: Send + Sync + std::fmt::Debug {
    /// Whether new appends may be written now. An error refuses them, nothing written.
    fn admit(&self) -> Result<(), ReplicateError>;
    /// The group's new appends, durable in the local segment, in position order. `Ok` lets
    /// the writer acknowledge them; an error cuts them off again and refuses them.
    fn replicate(&self, appends: &[ReplicaAppend]) -> Result<(), ReplicateError>;
    /// The group's new appends, in position order, about to be written locally: a replicator
    /// may send them now and wait for its answer in the returned call, which the writer makes
    /// once they are durable locally (and never when the local write failed). The default
    /// sends nothing early: the call is [`replicate`](Self::replicate).
    fn begin<'a>(&'a self, appends: &'a [ReplicaAppend]) -> Replicating<'a> {
        Box::new(move || self.replicate(appends))
    }
}

/// Moves every record after position `keep` out of the log in `dir` (which must not be open)
/// into a segment file of its own under `quarantine/`, named by its first position and the
/// time, and returns that file's path (`None` when the log holds nothing after `keep`). The
/// quarantine file has the segments' format (header with its first position and the hash
/// before it, then the frames as they were), so `frontdoor-replay`'s chain check reads it.
/// The index is removed, and rebuilt from the segments at the next open.
pub fn quarantine_after(dir: &Path, keep: u64) -> Result<Option<PathBuf>, LogError> {
    let _lock = lock_dir(dir)?;
    let segments_dir = dir.join(segment::SEGMENTS_DIR);
    let listed = segment::list(&segments_dir)?;
    // The segment that holds position keep + 1 (the last one starting at or before it).
    let Some(at) = listed.iter().rposition(|(first, _)| *first <= keep + 1) else {
        return Ok(None);
    };
    let (first, path) = &listed[at];
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut header_bytes = [0u8; segment::HEADER_SIZE];
    file.read_exact_at(&mut header_bytes, 0)?;
    let header =
        SegmentHeader::decode(&header_bytes).map_err(|reason| LogError::Corrupt { position: *first, reason })?;
    let mut prev_hash = header.prev_hash;
    let mut cut = None;
    let mut position = *first;
    let mut cursor = Cursor::new(&file, HEADER_LEN, len);
    while let Some((offset, frame)) = cursor.next()? {
        let frame = frame.map_err(|e| LogError::Corrupt { position, reason: format!("{e:?}") })?;
        if position == keep + 1 {
            cut = Some(offset);
            break;
        }
        prev_hash = frame.hash();
        position += 1;
    }
    let later = &listed[at + 1..];
    let Some(cut) = cut else {
        if later.is_empty() {
            return Ok(None);
        }
        return Err(LogError::Corrupt {
            position: keep + 1,
            reason: "segments after the position to keep, but none holds it".into(),
        });
    };

    let quarantine_dir = dir.join(QUARANTINE_DIR);
    if !quarantine_dir.exists() {
        std::fs::DirBuilder::new().mode(0o700).create(&quarantine_dir)?;
        sync_dir(dir)?;
    }
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let out_path = quarantine_dir.join(format!("{:020}-{seconds}.{}", keep + 1, segment::EXTENSION));
    let out = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&out_path)?;
    out.write_all_at(&SegmentHeader { first_position: keep + 1, prev_hash }.encode(), 0)?;
    let mut written = HEADER_LEN;
    written += copy_range(&file, cut, len, &out, written)?;
    for (_, later_path) in later {
        let f = File::open(later_path)?;
        let l = f.metadata()?.len();
        written += copy_range(&f, HEADER_LEN, l, &out, written)?;
    }
    out.sync_all()?;
    sync_dir(&quarantine_dir)?;

    // Only once the copy is durable: cut the log back.
    file.set_len(cut)?;
    file.sync_all()?;
    for (_, later_path) in later {
        std::fs::remove_file(later_path)?;
    }
    sync_dir(&segments_dir)?;
    let index = dir.join(INDEX_DIR);
    if index.exists() {
        std::fs::remove_dir_all(&index)?;
        sync_dir(dir)?;
    }
    tracing::warn!(
        kept = keep,
        quarantine = %out_path.display(),
        bytes = written,
        "records beyond the replicated log moved aside into a quarantine file (never served, never deleted)"
    );
    Ok(Some(out_path))
}

/// The quarantine files in a data directory, oldest first.
pub fn quarantine_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(QUARANTINE_DIR))
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn copy_range(from: &File, start: u64, end: u64, to: &File, at: u64) -> Result<u64, LogError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = start;
    while offset < end {
        let n = usize::try_from((end - offset).min(buf.len() as u64)).unwrap_or(buf.len());
        from.read_exact_at(&mut buf[..n], offset)?;
        to.write_all_at(&buf[..n], at + (offset - start))?;
        offset += n as u64;
    }
    Ok(end.saturating_sub(start))
}
