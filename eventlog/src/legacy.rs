//! The layout before segment files, and the migration from it.
//!
//! Until segment files, a data directory kept every event in sled, in the data directory
//! itself (`db`, `conf`, `blobs/`, `snap.*`, and the `durable-head` mark beside them): events
//! under `e ‖ position`, the per-contact index under `c ‖ contact ‖ version`, idempotency
//! records under `i ‖ SHA-256(key)`, and the access log in its own tree. On the first start
//! of this version on such a directory, [`migrate`] reads the old log, checks its whole chain
//! while it reads, and writes the same records into segment files (`segments.migrating/`,
//! renamed to `segments/` once complete and synced); then the log opens as usual (building its
//! index), and [`finish`] verifies the new log in full, checks that its head is the old one,
//! copies the access log over, and only then removes the old files. A crash at any point leaves
//! either the old files alone (the migration starts again) or both (finish runs again).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use ulid::Ulid;

use crate::access::AccessEntry;
use crate::error::LogError;
use crate::import::BulkWriter;
use crate::keys;
use crate::log::{EventLog, Head, LOCK_WAIT, sync_dir};
use crate::record::decode_record;
use crate::segment::{self, IdemMeta};
use events::envelope::Hash;

/// The old layout's database file.
const OLD_DB: &str = "db";
/// The old layout's durable-head mark.
const OLD_MARK: &str = "durable-head";
/// Where the migration writes before the rename.
const MIGRATING: &str = "segments.migrating";
const CACHE: u64 = 64 * 1024 * 1024;

/// True when `dir` holds a log in the layout before segment files.
pub(crate) fn is_legacy(dir: &Path) -> bool {
    dir.join(OLD_DB).is_file()
}

fn refuse(position: u64, what: &str) -> LogError {
    LogError::Corrupt {
        position,
        reason: format!(
            "this data directory holds a log in the layout before segment files, and it cannot be migrated: {what}. \
             Nothing was changed. Export it with the previous version (`frontdoor-replay export --data-dir DIR --out \
             EXPORT.jsonl`) and restore it into a new directory with `frontdoor-replay import --file EXPORT.jsonl \
             --data-dir NEW_DIR`"
        ),
    }
}

/// The old log's last event.
fn old_head(tree: &sled::Tree) -> Result<Head, LogError> {
    match tree.scan_prefix([keys::EVENT]).next_back() {
        None => Ok(Head::default()),
        Some(item) => {
            let (key, value) = item?;
            let position = keys::event_position(&key).ok_or_else(|| refuse(0, "a malformed event key"))?;
            let env = decode_record(&value).map_err(|e| refuse(position, &e.to_string()))?;
            Ok(Head { position, hash: env.hash })
        }
    }
}

/// Writes the old log's events into `segments/`, checking the chain as it goes.
pub(crate) fn migrate(dir: &Path, segment_bytes: u64) -> Result<(), LogError> {
    let started = Instant::now();
    tracing::info!(dir = %dir.display(), "migrating the log into segment files; the old files are kept until the new log verifies");
    let db = open_sled(dir, CACHE)?;
    let tree = db.open_tree("log")?;

    // Each idempotency record, by its append's last position; the positions inside those
    // appends (not their last) are not ends of appends. Every other event is its own append.
    let mut idem: HashMap<u64, IdemMeta> = HashMap::new();
    let mut inside: HashSet<u64> = HashSet::new();
    for item in tree.scan_prefix([keys::IDEMPOTENCY]) {
        let (key, value) = item?;
        if key.len() != 33 || value.len() != 44 {
            return Err(refuse(0, "a malformed idempotency record"));
        }
        let first = keys::u64_value(&value[32..40]).unwrap_or(0);
        let count = u32::from_be_bytes(value[40..44].try_into().expect("4 bytes"));
        if first == 0 || count == 0 {
            return Err(refuse(0, "a malformed idempotency record"));
        }
        let last = first + u64::from(count) - 1;
        idem.insert(
            last,
            IdemMeta {
                key_hash: key[1..33].try_into().expect("32 bytes"),
                fingerprint: Hash(value[..32].try_into().expect("32 bytes")),
            },
        );
        inside.extend(first..last);
    }

    let target = dir.join(MIGRATING);
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&target)?;
    }
    let mut writer = BulkWriter::new(&target, segment_bytes);
    let mut prev = Hash::GENESIS;
    let mut expected = 1u64;
    for item in tree.scan_prefix([keys::EVENT]) {
        let (key, value) = item?;
        let position = keys::event_position(&key).ok_or_else(|| refuse(expected, "a malformed event key"))?;
        if position != expected {
            return Err(refuse(expected, "an event is missing from the old log"));
        }
        let env = decode_record(&value).map_err(|e| refuse(position, &format!("position {position}: {e}")))?;
        if env.position != position {
            return Err(refuse(position, &format!("the record at position {position} says {}", env.position)));
        }
        if env.prev_hash != prev {
            return Err(refuse(position, &format!("position {position}: prev_hash does not link to the event before")));
        }
        if env.compute_hash() != env.hash {
            return Err(refuse(position, &format!("position {position}: hash does not match the record's contents")));
        }
        writer.push(position, env.hash, &value, !inside.contains(&position), idem.get(&position))?;
        prev = env.hash;
        expected += 1;
    }
    let events = expected - 1;
    // The old layout's own check: a log that ends before the head it recorded lost events.
    if let Ok(text) = std::fs::read_to_string(dir.join(OLD_MARK))
        && let Some(Ok(marked)) = text.split_whitespace().next().map(str::parse::<u64>)
        && marked > events
    {
        return Err(refuse(
            events + 1,
            &format!("the old log ends at position {events} but position {marked} was durable ({OLD_MARK})"),
        ));
    }
    if events > 0 {
        writer.finish()?;
    }
    drop(tree);
    drop(db);
    std::fs::rename(&target, dir.join(segment::SEGMENTS_DIR))?;
    sync_dir(dir)?;
    tracing::info!(events, seconds = started.elapsed().as_secs_f64(), "migrated the log's events into segment files");
    Ok(())
}

/// After the migrated log has opened: verifies it in full against the old head, copies the
/// access log, and removes the old files.
pub(crate) fn finish(log: &EventLog) -> Result<(), LogError> {
    let dir = log.dir().to_path_buf();
    let report = log.verify()?;
    let db = open_sled(&dir, CACHE)?;
    let old = old_head(&db.open_tree("log")?)?;
    if old != report.head {
        return Err(refuse(
            old.position.min(report.head.position) + 1,
            &format!(
                "the migrated log's head (position {}, {}) is not the old log's (position {}, {}); the old files are kept",
                report.head.position,
                report.head.hash.to_hex(),
                old.position,
                old.hash.to_hex()
            ),
        ));
    }
    let old_access = read_old_access(&db.open_tree("access")?)?;
    drop(db);
    let copied = log.copy_old_access(old_access)?;
    log.flush()?;
    // The database file first: without it the directory is no longer in the old layout.
    std::fs::remove_file(dir.join(OLD_DB))?;
    sync_dir(&dir)?;
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "conf" || name == OLD_MARK || name.starts_with("snap.") {
            std::fs::remove_file(entry.path())?;
        } else if name == "blobs" && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    sync_dir(&dir)?;
    tracing::info!(
        events = report.events,
        head = %report.head.hash.to_hex(),
        access_entries = copied,
        "the migrated log verifies and has the old head; the old sled files are removed"
    );
    Ok(())
}

/// Opens a sled database (the old layouts only), waiting a little for a lock that a handle
/// just dropped in this process still holds.
pub(crate) fn open_sled(dir: &Path, cache_capacity: u64) -> Result<sled::Db, LogError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new().path(dir).cache_capacity(cache_capacity).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if Instant::now() >= deadline {
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

/// The entries of an old, unchained access tree (`contact ‖ millis ‖ sequence → JSON entry`),
/// in key order.
fn read_old_access(old: &sled::Tree) -> Result<Vec<(Ulid, AccessEntry)>, LogError> {
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
    Ok(entries)
}

/// The old unchained access log in `<dir>/index` as sled kept the index (between the first
/// segment-file layout and the in-memory index), if there is one: copied into the access chain
/// once, before the sled files there are removed.
pub(crate) fn old_index_access(dir: &Path) -> Result<Option<Vec<(Ulid, AccessEntry)>>, LogError> {
    let path = dir.join(crate::index::INDEX_DIR);
    if !path.join(OLD_DB).is_file() {
        return Ok(None);
    }
    let db = match open_sled(&path, CACHE) {
        Ok(db) => db,
        Err(LogError::Storage(message)) if message.contains("holds the log") => return Err(LogError::Storage(message)),
        Err(e) => {
            // Only a rebuildable index besides the access tree; nothing to copy from a damaged one.
            tracing::warn!(error = %e, "the old sled index cannot be opened; it is removed and rebuilt from the segments");
            return Ok(None);
        }
    };
    if !db.tree_names().iter().any(|n| &n[..] == b"access") {
        return Ok(None);
    }
    let entries = read_old_access(&db.open_tree("access")?)?;
    Ok(Some(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::AccessEntry;
    use crate::log::Idempotency;
    use crate::record::encode_record_parts;
    use events::envelope::{Actor, Envelope, Role};
    use events::schema::{Agency, CURRENT_SCHEMA_VERSION, Event, NoteAdded};
    use ulid::Ulid;

    fn actor() -> Actor {
        Actor::new("sw-legacy", Role::Practitioner, Agency::ChildrensSocialCare)
    }

    /// Writes a log in the layout before segment files: twelve notes over three contacts,
    /// positions 4 to 6 one append with an idempotency key, one access entry, the mark.
    fn old_layout(dir: &Path) -> (Head, Vec<Ulid>, Idempotency) {
        let contacts = vec![Ulid::from_parts(1, 1), Ulid::from_parts(1, 2), Ulid::from_parts(1, 3)];
        let idempotency = Idempotency::new("k-legacy", b"the three-note request");
        let db = sled::open(dir).unwrap();
        let tree = db.open_tree("log").unwrap();
        let mut prev = Hash::GENESIS;
        let mut versions = [0u32; 3];
        for position in 1..=12u64 {
            // Positions 4..=6 are one append to contact 0.
            let slot = if (4..=6).contains(&position) { 0 } else { (position % 3) as usize };
            versions[slot] += 1;
            let ev = Event::NoteAdded(NoteAdded { text: format!("legacy note {position}") });
            let mut env = Envelope {
                position,
                event_id: Ulid::from_parts(2, u128::from(position)),
                contact_id: contacts[slot],
                version: versions[slot],
                event_type: ev.event_type(),
                schema_version: CURRENT_SCHEMA_VERSION,
                occurred_at: "2026-03-02T10:15:00Z".parse().unwrap(),
                late_entry_reason: None,
                recorded_at: "2026-03-02T10:16:02.123Z".parse().unwrap(),
                actor: actor(),
                data: ev.data_json(),
                prev_hash: prev,
                hash: Hash::GENESIS,
            };
            env.hash = env.compute_hash();
            tree.insert(keys::event(position), encode_record_parts(&env.hash, &env.canonical_body())).unwrap();
            tree.insert(keys::contact(env.contact_id, env.version), &position.to_be_bytes()[..]).unwrap();
            prev = env.hash;
        }
        let mut value = idempotency.fingerprint.0.to_vec();
        value.extend_from_slice(&4u64.to_be_bytes());
        value.extend_from_slice(&3u32.to_be_bytes());
        tree.insert(keys::idempotency(&idempotency.key), value).unwrap();
        let entry = AccessEntry {
            at: "2026-03-03T09:00:00Z".parse().unwrap(),
            actor: actor(),
            action: "read_contact".into(),
            endpoint: "/v1/contacts".into(),
        };
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(&contacts[1].0.to_be_bytes());
        db.open_tree("access").unwrap().insert(key, serde_json::to_vec(&entry).unwrap()).unwrap();
        db.flush().unwrap();
        drop(tree);
        drop(db);
        std::fs::write(dir.join(OLD_MARK), format!("12 {}\n", prev.to_hex())).unwrap();
        (Head { position: 12, hash: prev }, contacts, idempotency)
    }

    fn open_when_released(dir: &Path) -> Result<EventLog, LogError> {
        for _ in 0..100 {
            match EventLog::open(dir) {
                Err(LogError::Storage(e)) if e.contains("lock") => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
        EventLog::open(dir)
    }

    #[test]
    fn an_old_data_directory_is_migrated_verified_and_its_old_files_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (head, contacts, idempotency) = old_layout(dir.path());
        let log = open_when_released(dir.path()).unwrap();
        assert_eq!(log.head(), head, "the same chain, the same head hash");
        assert_eq!(log.verify().unwrap().events, 12);
        for gone in [OLD_DB, "conf", OLD_MARK, "blobs", MIGRATING] {
            assert!(!dir.path().join(gone).exists(), "{gone} is left behind");
        }
        assert!(dir.path().join(segment::SEGMENTS_DIR).is_dir());
        // What the old log answered, the new one answers.
        let replay = log.idempotent_result(&idempotency).unwrap().expect("the key came along");
        assert_eq!(replay.envelopes.iter().map(|e| e.position).collect::<Vec<_>>(), vec![4, 5, 6]);
        assert_eq!(log.read_contact(contacts[0]).unwrap().len(), 6);
        assert_eq!(log.contact_version(contacts[1]).unwrap(), 3);
        assert_eq!(log.read_access(contacts[1]).unwrap().len(), 1, "the access log came along");
        log.shutdown();
        drop(log);
        // And it stays migrated.
        let log = open_when_released(dir.path()).unwrap();
        assert_eq!(log.head(), head);
        assert_eq!(log.read_access(contacts[1]).unwrap().len(), 1);
    }

    #[test]
    fn an_old_log_that_does_not_verify_is_refused_with_how_to_export_and_import_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        old_layout(dir.path());
        {
            let db = sled::open(dir.path()).unwrap();
            let tree = db.open_tree("log").unwrap();
            let mut record = tree.get(keys::event(5)).unwrap().unwrap().to_vec();
            let at = record.len() - 5;
            record[at] ^= 0x01;
            tree.insert(keys::event(5), record).unwrap();
            db.flush().unwrap();
        }
        let err = open_when_released(dir.path()).unwrap_err();
        let LogError::Corrupt { position, reason } = err else { panic!("not a refusal: {err}") };
        assert_eq!(position, 5);
        assert!(reason.contains("frontdoor-replay export") && reason.contains("frontdoor-replay import"), "{reason}");
        assert!(dir.path().join(OLD_DB).is_file(), "the old files are kept");
        assert!(!dir.path().join(segment::SEGMENTS_DIR).exists());
    }
}
