//! The segment files: rolling, a torn tail cut off, damage anywhere else refused and named, a
//! log cut short refused, the index rebuilt when missing or damaged (its snapshot deleted,
//! damaged or of another log), and an online copy of the segments that restores and verifies.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use eventlog::segment::{self, FRAME_HEADER_LEN, parse_frame};
use eventlog::{EventLog, Idempotency, LogError, Options};
use ulid::Ulid;

/// Tiny segments, so a few dozen events span several.
fn tiny() -> Options {
    Options { segment_bytes: 4 * 1024, ..Options::default() }
}

/// A closed log of `n` notes over three contacts (one append with an idempotency key),
/// in segments of 4 KiB.
fn log_of(dir: &Path, n: usize) -> eventlog::Head {
    let log = EventLog::open_with(dir, &tiny()).unwrap();
    let contacts = [Ulid::new(), Ulid::new(), Ulid::new()];
    for i in 0..n {
        let mut request = common::notes(contacts[i % 3], 1, None);
        request.events[0] = common::note(&format!("note number {i} {}", "x".repeat(100)));
        if i == 5 {
            request.idempotency = Some(Idempotency::new("key-5", b"request five"));
        }
        log.append_blocking(request).unwrap();
    }
    let head = log.head();
    log.shutdown();
    head
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    segment::list(&dir.join(segment::SEGMENTS_DIR)).unwrap().into_iter().map(|(_, p)| p).collect()
}

/// The offsets and lengths of every frame of a segment file.
fn frames(path: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = segment::HEADER_SIZE;
    let mut out = Vec::new();
    while at < bytes.len() {
        let frame = parse_frame(&bytes[at..]).unwrap();
        out.push((at, frame.len));
        at += frame.len;
    }
    out
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x04;
    std::fs::write(path, bytes).unwrap();
}

fn refusal(dir: &Path) -> (u64, String) {
    match EventLog::open_with(dir, &tiny()) {
        Err(LogError::Corrupt { position, reason }) => (position, reason),
        Ok(log) => panic!("a damaged log opened with head {:?}", log.head()),
        Err(other) => panic!("not reported as corruption: {other}"),
    }
}

#[test]
fn segments_roll_and_reads_cross_them_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let head = log_of(dir.path(), 60);
    let files = segments(dir.path());
    assert!(files.len() >= 3, "{files:?}");
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names[0], "00000000000000000001.seg");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
    assert_eq!(log.head(), head);
    let all = log.read_all(0, 1000).unwrap();
    assert_eq!(all.len(), 60);
    assert!(all.iter().zip(1u64..).all(|(e, p)| e.position == p));
    for p in [1, 2, 17, 59, 60] {
        assert_eq!(log.get(p).unwrap().unwrap().position, p);
    }
    assert_eq!(log.read_all(30, 5).unwrap().first().unwrap().position, 31);
    assert_eq!(log.read_contact(all[0].contact_id).unwrap().len(), 20);
    assert_eq!(log.verify().unwrap().events, 60);
    // Appends go on after the restart, in the newest segment.
    log.append_blocking(common::notes(all[0].contact_id, 2, Some(20))).unwrap();
    assert_eq!(log.verify().unwrap().events, 62);
}

#[cfg(unix)]
#[test]
fn segments_are_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 3);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join(segment::SEGMENTS_DIR)), 0o700);
    for file in segments(dir.path()) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[test]
fn a_torn_last_record_is_cut_off_and_every_acknowledged_event_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let head = log_of(dir.path(), 20);
    let newest = segments(dir.path()).pop().unwrap();
    let clean_len = std::fs::metadata(&newest).unwrap().len();
    // Half of a copy of the last frame, as a write cut short by a crash would leave it.
    let bytes = std::fs::read(&newest).unwrap();
    let (at, len) = *frames(&newest).last().unwrap();
    let mut torn = bytes.clone();
    torn.extend_from_slice(&bytes[at..at + len / 2]);
    std::fs::write(&newest, &torn).unwrap();

    let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
    assert_eq!(log.head(), head, "every acknowledged event, nothing more");
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), clean_len, "the torn bytes are cut off");
    assert_eq!(log.read_all(0, 100).unwrap().len(), 20);
    assert_eq!(log.verify().unwrap().head, head);
    let next = log.append_blocking(common::notes(Ulid::new(), 1, Some(0))).unwrap();
    assert_eq!(next.envelopes[0].position, head.position + 1);
    log.shutdown();
    drop(log);

    // A tail of zeros (a file extended but never written) is a torn write too.
    let newest = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes.extend_from_slice(&[0u8; 300]);
    std::fs::write(&newest, &bytes).unwrap();
    let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
    assert_eq!(log.head().position, head.position + 1);
    assert_eq!(log.verify().unwrap().events, head.position + 1);
}

#[test]
fn an_append_torn_between_its_events_is_cut_off_whole() {
    let dir = tempfile::tempdir().unwrap();
    let contact = Ulid::new();
    let head = {
        let log = EventLog::open(dir.path()).unwrap();
        log.append_blocking(common::notes(contact, 1, Some(0))).unwrap();
        let head = log.head();
        log.append_blocking(common::notes(contact, 3, Some(1))).unwrap();
        log.shutdown();
        head
    };
    // Keep the three-event append's first two frames: a crash in the middle of its write. The
    // index is removed too, as if it had not been flushed either.
    let newest = segments(dir.path()).pop().unwrap();
    let f = frames(&newest);
    let keep = f[2].0 + f[2].1;
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..keep]).unwrap();
    std::fs::remove_dir_all(dir.path().join(eventlog::log::INDEX_DIR)).unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), head, "an append is all or nothing");
    assert_eq!(log.contact_version(contact).unwrap(), 1);
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), f[0].0 as u64 + f[0].1 as u64);
}

#[test]
fn a_flipped_byte_in_a_sealed_segment_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 60);
    let sealed = segments(dir.path())[1].clone();
    let (at, len) = frames(&sealed)[3];
    flip(&sealed, at + len - 10);
    let (position, reason) = refusal(dir.path());
    let first = segment::parse_file_name(&sealed.file_name().unwrap().to_string_lossy()).unwrap();
    assert_eq!(position, first + 3);
    assert!(reason.contains(&sealed.display().to_string()), "{reason}");
    assert!(reason.contains(&format!("byte offset {at}")), "{reason}");
    assert!(reason.contains("frontdoor-replay verify"), "{reason}");
    assert!(reason.contains("restore"), "{reason}");
}

#[test]
fn a_removed_or_swapped_record_in_a_sealed_segment_is_refused_at_its_position() {
    for tamper in ["removed", "swapped"] {
        let dir = tempfile::tempdir().unwrap();
        log_of(dir.path(), 60);
        let sealed = segments(dir.path())[1].clone();
        let first = segment::parse_file_name(&sealed.file_name().unwrap().to_string_lossy()).unwrap();
        let f = frames(&sealed);
        let bytes = std::fs::read(&sealed).unwrap();
        let (a, b) = (f[2], f[3]);
        let mut edited = bytes[..a.0].to_vec();
        if tamper == "swapped" {
            edited.extend_from_slice(&bytes[b.0..b.0 + b.1]);
        }
        edited.extend_from_slice(&bytes[a.0..a.0 + a.1]);
        edited.extend_from_slice(&bytes[b.0 + b.1..]);
        std::fs::write(&sealed, edited).unwrap();
        let (position, reason) = refusal(dir.path());
        let expected = if tamper == "swapped" { first + 2 } else { first + 3 };
        assert_eq!(position, expected, "{tamper}: {reason}");
        assert!(reason.contains("out of place"), "{tamper}: {reason}");
    }
}

#[test]
fn a_flipped_byte_in_the_newest_segment_before_its_tail_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 60);
    let newest = segments(dir.path()).pop().unwrap();
    let f = frames(&newest);
    assert!(f.len() >= 3, "{f:?}");
    let (at, _) = f[f.len() - 3];
    // In the frame's header (its length), so the record seems to run past the end of the file.
    flip(&newest, at + 1);
    let (_, reason) = refusal(dir.path());
    assert!(reason.contains(&newest.display().to_string()), "{reason}");
    assert!(reason.contains(&format!("byte offset {at}")), "{reason}");
    assert!(reason.contains("intact records follow"), "{reason}");

    // And in a record's body.
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 60);
    let newest = segments(dir.path()).pop().unwrap();
    let f = frames(&newest);
    let (at, len) = f[f.len() - 2];
    flip(&newest, at + FRAME_HEADER_LEN + len / 2);
    let (_, reason) = refusal(dir.path());
    assert!(reason.contains(&format!("byte offset {at}")), "{reason}");
    assert!(reason.contains("checksum"), "{reason}");
}

#[test]
fn a_log_that_ends_before_its_durable_head_is_refused() {
    // The newest segment cut short (a whole record gone, so no torn record gives it away).
    let dir = tempfile::tempdir().unwrap();
    let head = log_of(dir.path(), 60);
    let newest = segments(dir.path()).pop().unwrap();
    let (at, _) = *frames(&newest).last().unwrap();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(at as u64).unwrap();
    let (_, reason) = refusal(dir.path());
    assert!(reason.contains(&format!("position {} was durable", head.position)), "{reason}");

    // The newest segment deleted.
    let dir = tempfile::tempdir().unwrap();
    let head = log_of(dir.path(), 60);
    std::fs::remove_file(segments(dir.path()).pop().unwrap()).unwrap();
    let (_, reason) = refusal(dir.path());
    assert!(reason.contains(&format!("position {} was durable", head.position)), "{reason}");

    // Cut in the middle of its last record.
    let dir = tempfile::tempdir().unwrap();
    let head = log_of(dir.path(), 60);
    let newest = segments(dir.path()).pop().unwrap();
    let (at, len) = *frames(&newest).last().unwrap();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len((at + len / 2) as u64).unwrap();
    let (position, reason) = refusal(dir.path());
    assert_eq!(position, head.position);
    assert!(reason.contains(&format!("position {} was durable", head.position)), "{reason}");
}

/// The index snapshot's file.
fn snapshot_file(dir: &Path) -> PathBuf {
    dir.join(eventlog::log::INDEX_DIR).join("events.snapshot")
}

/// Copies a data directory's files as they are on disk now (the log may still be open): what a
/// crash at this moment would leave.
fn copy_as_crashed(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_as_crashed(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_durable_head_is_kept_within_a_second_without_a_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
    let contact = Ulid::new();
    for version in 0..12 {
        log.append_blocking(common::notes(contact, 1, Some(version))).unwrap();
    }
    let head = log.head();
    // No shutdown: the keeper writes the durable head file within about a second.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    copy_as_crashed(dir.path(), crashed.path());
    drop(log);
    // The copy's newest segment loses its last whole append: no torn record gives it away.
    let newest = segments(crashed.path()).pop().unwrap();
    let (at, _) = *frames(&newest).last().unwrap();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(at as u64).unwrap();
    let (_, reason) = refusal(crashed.path());
    assert!(reason.contains(&format!("position {} was durable", head.position)), "{reason}");
}

#[test]
fn a_missing_or_damaged_index_is_rebuilt_with_the_same_head() {
    let other = tempfile::tempdir().unwrap();
    log_of(other.path(), 60);
    for damage in
        ["deleted", "emptied", "snapshot deleted", "snapshot garbage", "snapshot flipped", "snapshot of another log"]
    {
        let dir = tempfile::tempdir().unwrap();
        let head = log_of(dir.path(), 60);
        let index = dir.path().join(eventlog::log::INDEX_DIR);
        let snapshot = snapshot_file(dir.path());
        assert!(snapshot.is_file(), "a clean shutdown writes the snapshot");
        let (contact, stream) = {
            let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
            let first = log.get(1).unwrap().unwrap();
            let stream = log.read_contact(first.contact_id).unwrap();
            log.shutdown();
            (first.contact_id, stream)
        };
        match damage {
            "deleted" => std::fs::remove_dir_all(&index).unwrap(),
            "emptied" => {
                std::fs::remove_dir_all(&index).unwrap();
                std::fs::create_dir(&index).unwrap();
            }
            "snapshot deleted" => std::fs::remove_file(&snapshot).unwrap(),
            "snapshot garbage" => {
                let len = usize::try_from(std::fs::metadata(&snapshot).unwrap().len()).unwrap();
                std::fs::write(&snapshot, vec![0xA5u8; len]).unwrap();
            }
            "snapshot flipped" => {
                let len = usize::try_from(std::fs::metadata(&snapshot).unwrap().len()).unwrap();
                flip(&snapshot, len / 2);
            }
            _ => {
                // Whole and with a good checksum, but taken of another log: the record at its
                // head has another hash.
                std::fs::copy(snapshot_file(other.path()), &snapshot).unwrap();
            }
        }
        let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
        assert_eq!(log.head(), head, "{damage}");
        assert_eq!(log.verify().unwrap().head, head, "{damage}");
        assert_eq!(log.read_contact(contact).unwrap(), stream, "{damage}");
        assert_eq!(log.contact_version(contact).unwrap(), 20, "{damage}");
        // The idempotency key is rebuilt from its record: a repeat returns the first result.
        let key = Idempotency::new("key-5", b"request five");
        let again = log.idempotent_result(&key).unwrap().expect("the key is known again");
        assert_eq!(again.envelopes[0].position, 6, "{damage}");
        let other = Idempotency::new("key-5", b"another request");
        assert!(log.idempotent_result(&other).is_err(), "{damage}");
        // The rebuilt index survives a restart, and the next append follows on.
        log.shutdown();
        drop(log);
        assert!(snapshot.is_file(), "{damage}: the rebuilt index is saved again");
        let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
        assert_eq!(log.verify().unwrap().head, head, "{damage}");
        let next = log.append_blocking(common::notes(contact, 1, Some(20))).unwrap();
        assert_eq!(next.envelopes[0].version, 21, "{damage}");
    }
}

#[test]
fn a_snapshot_serves_the_next_start_and_the_events_after_it_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let head = log_of(dir.path(), 30);
    let contact = {
        let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
        log.get(1).unwrap().unwrap().contact_id
    };
    let snapshot = std::fs::read(snapshot_file(dir.path())).unwrap();
    // Events after the snapshot; then the snapshot is put back as it was at `head`.
    {
        let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
        assert_eq!(log.head(), head);
        for version in 10..15 {
            log.append_blocking(common::notes(contact, 1, Some(version))).unwrap();
        }
        log.shutdown();
    }
    std::fs::write(snapshot_file(dir.path()), &snapshot).unwrap();
    let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
    assert_eq!(log.head().position, head.position + 5);
    let stream = log.read_contact(contact).unwrap();
    assert_eq!(stream.len(), 15);
    assert!(stream.iter().enumerate().all(|(i, e)| e.version as usize == i + 1));
    assert_eq!(stream.last().unwrap().position, head.position + 5);
    assert_eq!(log.contact_version(contact).unwrap(), 15);
    assert_eq!(log.verify().unwrap().events, head.position + 5);
}

#[test]
fn an_edited_record_with_fixed_checksums_is_found_by_verify_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 20);
    let file = segments(dir.path())[0].clone();
    let (at, _) = frames(&file)[4];
    let mut bytes = std::fs::read(&file).unwrap();
    let (frame_len, record_len) = {
        let frame = parse_frame(&bytes[at..]).unwrap();
        (frame.len, frame.record.len())
    };
    let record_at = at + frame_len - record_len;
    let body = String::from_utf8(bytes[record_at + 36..at + frame_len].to_vec()).unwrap();
    let edited = body.replace("note number 4", "note number 9");
    assert_ne!(body, edited);
    bytes[record_at + 36..at + frame_len].copy_from_slice(edited.as_bytes());
    let crc = crc32fast::hash(&bytes[record_at + 4..at + frame_len]);
    bytes[record_at..record_at + 4].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&file, bytes).unwrap();
    let log = EventLog::open_with(dir.path(), &tiny()).expect("the checksums are right, so the log opens");
    match log.verify() {
        Err(LogError::Corrupt { position, reason }) => {
            assert_eq!(position, 5);
            assert!(reason.contains("hash"), "{reason}");
        }
        other => panic!("the edit went unnoticed: {other:?}"),
    }
}

#[test]
fn an_online_copy_of_the_segments_restores_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open_with(dir.path(), &tiny()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let log = log.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let contact = Ulid::new();
            let mut version = 0;
            while !stop.load(Ordering::Relaxed) {
                let done = log.append_blocking(common::notes(contact, 2, Some(version))).unwrap();
                version = done.envelopes.last().unwrap().version;
            }
        })
    };
    while log.head().position < 100 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The copy: every segment file as it is, in order, while appends go on (no index).
    let acknowledged = log.head();
    let copy = tempfile::tempdir().unwrap();
    let copied = copy.path().join(segment::SEGMENTS_DIR);
    std::fs::create_dir(&copied).unwrap();
    for file in segments(dir.path()) {
        std::fs::copy(&file, copied.join(file.file_name().unwrap())).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let original = log.read_all(0, 100_000).unwrap();
    log.shutdown();

    let restored = EventLog::open_with(copy.path(), &tiny()).unwrap();
    let report = restored.verify().unwrap();
    assert!(report.events >= acknowledged.position, "{report:?} {acknowledged:?}");
    let back = restored.read_all(0, 100_000).unwrap();
    assert_eq!(back[..], original[..back.len()], "a prefix of the same log");
}
