//! Restore: writes an export's envelopes, verbatim, into an empty log directory.
//!
//! The restore path of `frontdoor-replay import`. Every envelope keeps its position, event
//! id, version, timestamps, actor, data and hashes, so the restored log is the same chain,
//! byte for byte in every record's body. Nothing is written unless the whole chain verifies
//! first (positions gapless from 1, each `prev_hash` linking to the hash before, each hash
//! recomputed from the body, each contact's versions gapless from 1), and a directory that
//! already holds anything is refused. The records are written into segment files as the
//! writer frames them (each event an append of its own), synced, then the log is opened (which
//! builds its index from the segments) and verified in full as `EventLog::verify` does.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};

use ulid::Ulid;

use crate::access::{ACCESS_DIR, AccessRecord, ExportChecker};
use crate::error::LogError;
use crate::log::{EventLog, Head, Options, VerifyReport, create_segment, sync_dir};
use crate::record::encode_record_parts;
use crate::segment::{self, HEADER_LEN, IdemMeta, SegmentHeader};
use events::envelope::{Envelope, Hash};

/// Bytes buffered before a write.
const WRITE_CHUNK: usize = 1 << 20;

/// Writes frames into new segment files in order, rolling at the segment size on append
/// boundaries (the migration and the import).
#[derive(Debug)]
pub(crate) struct BulkWriter {
    segments_dir: PathBuf,
    segment_bytes: u64,
    file: Option<File>,
    end: u64,
    buf: Vec<u8>,
    head: Head,
    at_boundary: bool,
}

impl BulkWriter {
    pub(crate) fn new(segments_dir: &Path, segment_bytes: u64) -> Self {
        BulkWriter {
            segments_dir: segments_dir.to_path_buf(),
            segment_bytes,
            file: None,
            end: HEADER_LEN,
            buf: Vec::with_capacity(WRITE_CHUNK + 64 * 1024),
            head: Head::default(),
            at_boundary: true,
        }
    }

    /// Appends the frame of the event at `position` (whose hash is `hash`).
    pub(crate) fn push(
        &mut self,
        position: u64,
        hash: Hash,
        record: &[u8],
        end_of_append: bool,
        idem: Option<&IdemMeta>,
    ) -> Result<(), LogError> {
        if position != self.head.position + 1 {
            return Err(LogError::Corrupt { position, reason: "events out of order".into() });
        }
        if self.file.is_none() || (self.at_boundary && self.end + self.buf.len() as u64 >= self.segment_bytes) {
            self.roll()?;
        }
        segment::encode_frame(&mut self.buf, record, end_of_append, idem);
        self.head = Head { position, hash };
        self.at_boundary = end_of_append;
        if self.buf.len() >= WRITE_CHUNK {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<(), LogError> {
        if let Some(file) = &self.file {
            file.write_all_at(&self.buf, self.end)?;
            self.end += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<(), LogError> {
        self.write_out()?;
        if let Some(file) = self.file.take() {
            file.sync_data()?;
        }
        let header = SegmentHeader { first_position: self.head.position + 1, prev_hash: self.head.hash };
        self.file = Some(create_segment(&self.segments_dir, &header)?);
        self.end = HEADER_LEN;
        Ok(())
    }

    /// Writes out what is buffered and syncs the last segment and the directory; the head.
    pub(crate) fn finish(mut self) -> Result<Head, LogError> {
        if !self.at_boundary {
            return Err(LogError::Corrupt {
                position: self.head.position,
                reason: "the last append is not whole".into(),
            });
        }
        self.write_out()?;
        if let Some(file) = self.file.take() {
            file.sync_data()?;
        }
        sync_dir(&self.segments_dir)?;
        Ok(self.head)
    }
}

/// Why an import wrote nothing (or, for [`ImportError::Storage`], failed part-way into a
/// directory that was empty: delete it and try again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The directory already holds files (a log, tokens, anything).
    #[error("{0} is not empty: import only restores into an empty directory")]
    NotEmpty(String),
    /// The envelopes do not form a valid chain; nothing was written.
    #[error("the export does not verify at position {position}: {reason}; nothing was written")]
    Chain { position: u64, reason: String },
    /// The file system or the storage engine failed.
    #[error(transparent)]
    Storage(#[from] LogError),
}

/// Checks that `envelopes` form a complete chain from position 1 (what an import requires).
///
/// # Errors
/// The first bad position and why.
pub fn verify_chain(envelopes: &[Envelope]) -> Result<(), ImportError> {
    let mut prev = Hash::GENESIS;
    let mut versions: HashMap<Ulid, u32> = HashMap::new();
    for (expected, env) in (1u64..).zip(envelopes) {
        let fail = |reason: String| Err(ImportError::Chain { position: expected, reason });
        if env.position != expected {
            return fail(format!("expected position {expected}, found {}", env.position));
        }
        if env.prev_hash != prev {
            return fail("prev_hash does not link to the event before".into());
        }
        if env.compute_hash() != env.hash {
            return fail("hash does not match the envelope's contents".into());
        }
        let version = versions.entry(env.contact_id).or_insert(0);
        if env.version != *version + 1 {
            return fail(format!("contact {} jumps from version {} to {}", env.contact_id, version, env.version));
        }
        *version = env.version;
        prev = env.hash;
    }
    Ok(())
}

/// Writes `envelopes` verbatim into a new log in `dir` (which must be missing or empty),
/// after verifying the whole chain, then opens it (building its index) and verifies it in full.
///
/// # Errors
/// [`ImportError::NotEmpty`] and [`ImportError::Chain`] write nothing.
pub fn import_envelopes(dir: &Path, envelopes: &[Envelope]) -> Result<VerifyReport, ImportError> {
    import_log(dir, envelopes, &[])
}

/// [`import_envelopes`], and the access log: `access` holds each access entry's stored body
/// and hash, in order (as [`crate::access::parse_export_line`] reads them from an access
/// export). Both chains are verified before anything is written; the access entries are
/// written verbatim into `access/`, so the restored access chain is the same chain.
///
/// # Errors
/// [`ImportError::NotEmpty`] and [`ImportError::Chain`] write nothing (a broken access chain is
/// named with its access position and "access" in the reason).
pub fn import_log(
    dir: &Path,
    envelopes: &[Envelope],
    access: &[(Vec<u8>, AccessRecord)],
) -> Result<VerifyReport, ImportError> {
    verify_chain(envelopes)?;
    let mut checker = ExportChecker::new();
    for (body, record) in access {
        checker
            .check(body, record)
            .map_err(|(position, reason)| ImportError::Chain { position, reason: format!("access log: {reason}") })?;
    }
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(LogError::from)?;
        if entries.next().is_some() {
            return Err(ImportError::NotEmpty(dir.display().to_string()));
        }
    }
    std::fs::create_dir_all(dir).map_err(LogError::from)?;
    let segments_dir = dir.join(segment::SEGMENTS_DIR);
    std::fs::DirBuilder::new().mode(0o700).create(&segments_dir).map_err(LogError::from)?;
    let access_dir = dir.join(ACCESS_DIR);
    std::fs::DirBuilder::new().mode(0o700).create(&access_dir).map_err(LogError::from)?;
    sync_dir(dir)?;
    let options = Options::default();
    let mut writer = BulkWriter::new(&segments_dir, options.segment_bytes);
    for env in envelopes {
        let body = env.canonical_body();
        writer.push(env.position, env.hash, &encode_record_parts(&env.hash, &body), true, None)?;
    }
    writer.finish()?;
    let mut writer = BulkWriter::new(&access_dir, options.segment_bytes);
    for (body, record) in access {
        writer.push(record.position, record.hash, &encode_record_parts(&record.hash, body), true, None)?;
    }
    if access.is_empty() {
        // An empty access log still has its first segment.
        let header = SegmentHeader { first_position: 1, prev_hash: Hash::GENESIS };
        create_segment(&access_dir, &header)?;
    } else {
        writer.finish()?;
    }
    let log = EventLog::open_with(dir, &options)?;
    let report = log.verify();
    log.shutdown();
    let report = report?;
    if report.access_entries != access.len() as u64 {
        return Err(ImportError::Storage(LogError::Corrupt {
            position: report.access_entries,
            reason: format!(
                "the restored access log has {} entries, not the {} imported",
                report.access_entries,
                access.len()
            ),
        }));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use crate::log::{AppendRequest, EventLog, NewEvent};
    use events::envelope::Actor;
    use events::schema::{Agency, Event, NoteAdded};

    fn sample_log(dir: &Path) -> Vec<Envelope> {
        let log = EventLog::open(dir).unwrap();
        let actor =
            Actor { id: "sw".into(), role: Role::Practitioner, agency: Agency::ChildrensSocialCare, team: None };
        for i in 0..5u64 {
            let ev = Event::NoteAdded(NoteAdded { text: format!("note {i}") });
            let contact = Ulid::from_parts(1, u128::from(i % 2));
            log.append_blocking(AppendRequest {
                contact_id: contact,
                events: vec![NewEvent::new(&ev, "2026-03-02T10:00:00Z".parse().unwrap(), actor.clone())],
                expected_version: None,
                idempotency: None,
            })
            .unwrap();
        }
        let all = log.read_all(0, 100).unwrap();
        log.shutdown();
        all
    }

    /// Opens a log just closed in this process, once its lock file is released.
    fn open_when_released(dir: &Path) -> EventLog {
        for _ in 0..200 {
            if let Ok(log) = EventLog::open(dir) {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        EventLog::open(dir).unwrap()
    }

    #[test]
    fn restores_the_same_chain_and_refuses_a_non_empty_directory() {
        let src = tempfile::tempdir().unwrap();
        let envelopes = sample_log(src.path());
        let dst = tempfile::tempdir().unwrap();
        let target = dst.path().join("restored");
        let report = import_envelopes(&target, &envelopes).unwrap();
        assert_eq!(report.events, 5);
        assert_eq!(report.contacts, 2);
        let log = open_when_released(&target);
        assert_eq!(log.read_all(0, 100).unwrap(), envelopes);
        log.shutdown();
        drop(log);
        assert!(matches!(import_envelopes(&target, &envelopes), Err(ImportError::NotEmpty(_))));
    }

    #[test]
    fn a_broken_chain_writes_nothing() {
        let src = tempfile::tempdir().unwrap();
        let mut envelopes = sample_log(src.path());
        envelopes[2].version += 1;
        let dst = tempfile::tempdir().unwrap();
        let target = dst.path().join("restored");
        let err = import_envelopes(&target, &envelopes).unwrap_err();
        assert!(matches!(err, ImportError::Chain { position: 3, .. }), "{err}");
        assert!(!target.exists());
    }
}
