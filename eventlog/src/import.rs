//! Restore: writes an export's envelopes, verbatim, into an empty log directory.
//!
//! The restore path of `frontdoor-replay import`. Every envelope keeps its position, event
//! id, version, timestamps, actor, data and hashes, so the restored log is the same chain,
//! byte for byte in every record's body. Nothing is written unless the whole chain verifies
//! first (positions gapless from 1, each `prev_hash` linking to the hash before, each hash
//! recomputed from the body, each contact's versions gapless from 1), and a directory that
//! already holds anything is refused. The records go in a few large sled batches, then sled
//! `flush` and an `fsync` of the database file and the directory, as the writer does; the
//! whole tree is then verified as `EventLog::verify` does.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use ulid::Ulid;

use crate::error::LogError;
use crate::keys;
use crate::log::{Options, VerifyReport, verify_tree};
use crate::record::encode_record_parts;
use events::envelope::{Envelope, Hash};

/// Events per sled batch: large enough to be few batches, small enough to bound memory.
const BATCH: usize = 100_000;

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
/// after verifying the whole chain, then verifies the written tree in full.
///
/// # Errors
/// [`ImportError::NotEmpty`] and [`ImportError::Chain`] write nothing.
pub fn import_envelopes(dir: &Path, envelopes: &[Envelope]) -> Result<VerifyReport, ImportError> {
    verify_chain(envelopes)?;
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(LogError::from)?;
        if entries.next().is_some() {
            return Err(ImportError::NotEmpty(dir.display().to_string()));
        }
    }
    std::fs::create_dir_all(dir).map_err(LogError::from)?;
    {
        let options = Options::default();
        let db = sled::Config::new().path(dir).cache_capacity(options.cache_capacity).open().map_err(LogError::from)?;
        let tree = db.open_tree("log").map_err(LogError::from)?;
        if tree.iter().next().is_some() {
            return Err(ImportError::NotEmpty(dir.display().to_string()));
        }
        for chunk in envelopes.chunks(BATCH) {
            let mut batch = sled::Batch::default();
            for env in chunk {
                let body = env.canonical_body();
                batch.insert(&keys::event(env.position)[..], encode_record_parts(&env.hash, &body));
                batch.insert(&keys::contact(env.contact_id, env.version)[..], &env.position.to_be_bytes()[..]);
            }
            tree.apply_batch(batch).map_err(LogError::from)?;
        }
        db.flush().map_err(LogError::from)?;
        File::open(dir.join("db")).and_then(|f| f.sync_data()).map_err(LogError::from)?;
        File::open(dir).and_then(|f| f.sync_all()).map_err(LogError::from)?;
        // Walked in full while the database is still open: reopening at once can race
        // sled's release of its file lock.
        let head = envelopes.last().map_or(0, |e| e.position);
        Ok(verify_tree(&tree, head)?)
    }
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

    /// Opens a log just closed in this process, once sled has released its file lock.
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
