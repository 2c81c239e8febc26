//! Tamper tests: an edited byte, a removed event, two swapped events and a damaged head are
//! each found, at the right position, by `verify()` or by `open()`.

use chrono::Utc;
use ulid::Ulid;

use crate::LogError;
use crate::keys;
use crate::log::{AppendRequest, EventLog, NewEvent};
use crate::record::decode_record;
use events::Hash;
use events::envelope::{Actor, Role};
use events::schema::{Agency, Event, NoteAdded};

const EVENTS: u64 = 10;

/// A closed log of ten notes over two contacts.
fn log_of_ten() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let actor = Actor { id: "sw-1".into(), role: Role::Practitioner, agency: Agency::ChildrensSocialCare, team: None };
    let contacts = [Ulid::new(), Ulid::new()];
    for i in 0..EVENTS {
        let ev = Event::NoteAdded(NoteAdded { text: format!("note number {i}") });
        log.append_blocking(AppendRequest {
            contact_id: contacts[(i % 2) as usize],
            events: vec![NewEvent::new(&ev, Utc::now(), actor.clone())],
            expected_version: None,
            idempotency: None,
        })
        .unwrap();
    }
    assert_eq!(log.verify().unwrap().events, EVENTS);
    log.shutdown();
    dir
}

/// Opens the raw tree, lets `f` tamper with it, and closes it again.
fn tamper(dir: &tempfile::TempDir, f: impl FnOnce(&sled::Tree)) {
    let db = sled::open(dir.path()).unwrap();
    let tree = db.open_tree("log").unwrap();
    f(&tree);
    db.flush().unwrap();
}

fn verify_error(dir: &tempfile::TempDir) -> (u64, String) {
    let log = EventLog::open(dir.path()).expect("the head is intact, so the log opens");
    match log.verify() {
        Err(LogError::Corrupt { position, reason }) => (position, reason),
        other => panic!("tampering went unnoticed: {other:?}"),
    }
}

fn rewrite_crc(record: &mut [u8]) {
    let crc = crc32fast::hash(&record[4..]);
    record[..4].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn a_flipped_byte_is_found_by_its_checksum() {
    let dir = log_of_ten();
    tamper(&dir, |t| {
        let mut rec = t.get(keys::event(5)).unwrap().unwrap().to_vec();
        let mid = rec.len() - 20;
        rec[mid] ^= 0x01;
        t.insert(keys::event(5), rec).unwrap();
    });
    let (position, reason) = verify_error(&dir);
    assert_eq!(position, 5);
    assert!(reason.contains("checksum"), "{reason}");
}

#[test]
fn an_edited_event_with_a_fixed_up_checksum_is_found_by_its_hash() {
    let dir = log_of_ten();
    tamper(&dir, |t| {
        let rec = t.get(keys::event(4)).unwrap().unwrap().to_vec();
        let text = String::from_utf8(rec[36..].to_vec()).unwrap().replace("note number 3", "note number 9");
        let mut edited = rec[..36].to_vec();
        edited.extend_from_slice(text.as_bytes());
        rewrite_crc(&mut edited);
        t.insert(keys::event(4), edited).unwrap();
    });
    let (position, reason) = verify_error(&dir);
    assert_eq!(position, 4);
    assert!(reason.contains("hash"), "{reason}");
}

#[test]
fn an_edited_event_with_its_own_hash_recomputed_breaks_the_next_link() {
    let dir = log_of_ten();
    tamper(&dir, |t| {
        let mut env = decode_record(&t.get(keys::event(4)).unwrap().unwrap()).unwrap();
        env.data = Event::NoteAdded(NoteAdded { text: "rewritten history".into() }).data_json();
        env.hash = env.compute_hash();
        t.insert(keys::event(4), crate::record::encode_record(&env)).unwrap();
    });
    let (position, reason) = verify_error(&dir);
    assert_eq!(position, 5, "the edit is consistent in itself; the next event no longer links");
    assert!(reason.contains("prev_hash"), "{reason}");
}

#[test]
fn a_removed_event_is_found_where_it_was() {
    let dir = log_of_ten();
    tamper(&dir, |t| {
        let env = decode_record(&t.get(keys::event(6)).unwrap().unwrap()).unwrap();
        t.remove(keys::event(6)).unwrap();
        t.remove(keys::contact(env.contact_id, env.version)).unwrap();
    });
    let (position, reason) = verify_error(&dir);
    assert_eq!(position, 6);
    assert!(reason.contains("missing"), "{reason}");
}

#[test]
fn two_swapped_events_are_found_at_the_first() {
    let dir = log_of_ten();
    tamper(&dir, |t| {
        let a = t.get(keys::event(3)).unwrap().unwrap();
        let b = t.get(keys::event(7)).unwrap().unwrap();
        t.insert(keys::event(3), b).unwrap();
        t.insert(keys::event(7), a).unwrap();
    });
    let (position, _) = verify_error(&dir);
    assert_eq!(position, 3);
}

#[test]
fn swapped_events_renumbered_and_rehashed_still_break_the_chain() {
    let dir = log_of_ten();
    tamper(&dir, |t| {
        let mut a = decode_record(&t.get(keys::event(3)).unwrap().unwrap()).unwrap();
        let mut b = decode_record(&t.get(keys::event(4)).unwrap().unwrap()).unwrap();
        std::mem::swap(&mut a.position, &mut b.position);
        a.hash = a.compute_hash();
        b.hash = b.compute_hash();
        t.insert(keys::event(3), crate::record::encode_record(&b)).unwrap();
        t.insert(keys::event(4), crate::record::encode_record(&a)).unwrap();
    });
    let (position, reason) = verify_error(&dir);
    assert_eq!(position, 3);
    assert!(reason.contains("prev_hash"), "{reason}");
}

#[test]
fn a_damaged_head_stops_the_log_from_opening_and_names_the_position() {
    let dir = log_of_ten();
    tamper(&dir, |t| {
        let mut rec = t.get(keys::event(EVENTS)).unwrap().unwrap().to_vec();
        rec.truncate(rec.len() / 2);
        t.insert(keys::event(EVENTS), rec).unwrap();
    });
    match EventLog::open(dir.path()) {
        Err(LogError::Corrupt { position, reason }) => {
            assert_eq!(position, EVENTS);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("a log with a torn head opened: {other:?}"),
    }
}

#[test]
fn a_head_that_does_not_link_to_its_predecessor_is_refused() {
    let dir = log_of_ten();
    tamper(&dir, |t| {
        let mut env = decode_record(&t.get(keys::event(EVENTS)).unwrap().unwrap()).unwrap();
        env.prev_hash = Hash([7; 32]);
        env.hash = env.compute_hash();
        t.insert(keys::event(EVENTS), crate::record::encode_record(&env)).unwrap();
    });
    let err = EventLog::open(dir.path()).unwrap_err();
    assert_eq!(
        err,
        LogError::Corrupt { position: EVENTS, reason: "prev_hash does not link to the event before".into() }
    );
}

#[test]
fn an_untouched_log_verifies_with_its_counts() {
    let dir = log_of_ten();
    let log = EventLog::open(dir.path()).unwrap();
    let report = log.verify().unwrap();
    assert_eq!((report.events, report.contacts), (EVENTS, 2));
    assert_eq!(report.head, log.head());
}

/// Regression (issue 8, faults): sled 0.34 opens a file whose tail is damaged or cut off by
/// silently dropping every event after the damage, so the log used to open, verify and serve
/// a shorter chain as if it were whole. The durable-head mark makes `open` refuse it.
#[test]
fn sled_silently_drops_the_events_after_a_damaged_tail_and_open_now_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let actor = Actor { id: "sw-1".into(), role: Role::Practitioner, agency: Agency::ChildrensSocialCare, team: None };
    for i in 0..200 {
        let ev = Event::NoteAdded(NoteAdded { text: format!("note number {i} {}", "x".repeat(200)) });
        log.append_blocking(AppendRequest {
            contact_id: Ulid::new(),
            events: vec![NewEvent::new(&ev, Utc::now(), actor.clone())],
            expected_version: None,
            idempotency: None,
        })
        .unwrap();
    }
    log.shutdown();
    drop(log);
    let db = dir.path().join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(len * 3 / 4).unwrap();
    match EventLog::open(dir.path()) {
        Err(LogError::Corrupt { position, reason }) => {
            assert!(position > 0 && position <= 200, "{position}: {reason}");
            assert!(reason.contains("position 200 was durable"), "{reason}");
        }
        Ok(log) => panic!("a log cut short opened as valid with {} events", log.head().position),
        Err(other) => panic!("not reported as corruption: {other}"),
    }
}
