//! The access log as a second chained log: entries durable and chained in `access/`, read
//! back after a reopen, rebuilt with the index, a torn last entry cut off, damage refused and
//! named, a cut-short access segment refused, and the old unchained sled tree copied once.

mod common;

use std::path::{Path, PathBuf};

use chrono::Utc;
use eventlog::segment;
use eventlog::{AccessEntry, AccessScope, EventLog, LogError, PositionRange};
use ulid::Ulid;

fn entry(action: &str) -> AccessEntry {
    AccessEntry { at: Utc::now(), actor: common::actor(), action: action.into(), endpoint: "/v1/contacts/x".into() }
}

fn access_segment(dir: &Path) -> PathBuf {
    let list = segment::list(&dir.join("access")).unwrap();
    assert_eq!(list.len(), 1);
    list[0].1.clone()
}

/// A closed log with `n` access entries over two contacts; returns the contacts.
fn log_with_reads(dir: &Path, n: usize) -> [Ulid; 2] {
    let log = EventLog::open(dir).unwrap();
    let contacts = [Ulid::new(), Ulid::new()];
    for i in 0..n {
        log.record_access_blocking(contacts[i % 2], &entry(&format!("read_{i}"))).unwrap();
    }
    assert_eq!(log.verify().unwrap().access_entries, n as u64);
    contacts
}

#[test]
fn entries_are_chained_in_their_own_segment_and_read_back_after_reopen_and_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let contacts = log_with_reads(dir.path(), 7);
    let bytes = std::fs::read(access_segment(dir.path())).unwrap();
    assert_eq!(&bytes[..8], &segment::MAGIC);
    // The bodies start like the events' do, so the same offline checks apply.
    let first = segment::parse_frame(&bytes[64..]).unwrap();
    assert!(first.record[36..].starts_with(b"{\"position\":1,\"prev_hash\":\"0000"));

    let log = EventLog::open(dir.path()).unwrap();
    let actions: Vec<String> = log.read_access(contacts[0]).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["read_0", "read_2", "read_4", "read_6"]);
    assert_eq!(log.read_access(contacts[1]).unwrap().len(), 3);
    drop(log);

    // Without its index the access log is indexed again from its segment.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.read_access(contacts[1]).unwrap().len(), 3);
    log.record_access_blocking(contacts[1], &entry("after")).unwrap();
    assert_eq!(log.verify().unwrap().access_entries, 8);
}

#[test]
fn a_torn_last_entry_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let contacts = log_with_reads(dir.path(), 4);
    let path = access_segment(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    // A write that never completed (and so was never acknowledged): half a frame.
    let bytes = std::fs::read(&path).unwrap();
    let mut torn = bytes.clone();
    torn.extend_from_slice(&bytes[64..64 + 40]);
    std::fs::write(&path, &torn).unwrap();
    // The index recorded only the four acknowledged entries.
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    assert_eq!(log.read_access(contacts[0]).unwrap().len() + log.read_access(contacts[1]).unwrap().len(), 4);
    assert_eq!(log.verify().unwrap().access_entries, 4);
}

#[test]
fn a_flipped_byte_in_the_access_segment_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    log_with_reads(dir.path(), 6);
    let path = access_segment(dir.path());
    let clean = std::fs::read(&path).unwrap();
    let second = 64 + segment::parse_frame(&clean[64..]).unwrap().len;
    // In the first entry's body (intact entries after it), and in the second entry's hash.
    for at in [64 + 12 + 60, second + 12 + 10] {
        let mut bad = clean.clone();
        bad[at] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let err = EventLog::open(dir.path()).unwrap_err();
        let LogError::Corrupt { reason, .. } = &err else { panic!("{err:?}") };
        assert!(reason.contains("access") && reason.contains("00000000000000000001.seg"), "{reason}");
        assert!(reason.contains("byte offset"), "{reason}");
    }
    std::fs::write(&path, &clean).unwrap();
    assert_eq!(EventLog::open(dir.path()).unwrap().verify().unwrap().access_entries, 6);
}

#[test]
fn an_access_segment_cut_short_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    log_with_reads(dir.path(), 3);
    EventLog::open(dir.path()).unwrap().flush().unwrap();
    let path = access_segment(dir.path());
    let clean = std::fs::read(&path).unwrap();
    let first = 64 + segment::parse_frame(&clean[64..]).unwrap().len;
    std::fs::write(&path, &clean[..first]).unwrap();
    let err = EventLog::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("ends at entry 1"), "{err}");
}

#[test]
fn the_old_unchained_access_tree_is_copied_into_the_chain_once() {
    let dir = tempfile::tempdir().unwrap();
    let contact = Ulid::new();
    EventLog::open(dir.path()).unwrap().flush().unwrap();
    {
        // The layout before: `contact ‖ millis ‖ sequence → JSON entry` in the index's sled.
        let db = sled::open(dir.path().join("index")).unwrap();
        let old = db.open_tree("access").unwrap();
        for (i, action) in ["read_contact", "read_audit"].iter().enumerate() {
            let mut key = [0u8; 32];
            key[..16].copy_from_slice(&contact.0.to_be_bytes());
            key[24..].copy_from_slice(&(i as u64).to_be_bytes());
            old.insert(key, serde_json::to_vec(&entry(action)).unwrap()).unwrap();
        }
        db.flush().unwrap();
    }
    let log = EventLog::open(dir.path()).unwrap();
    let actions: Vec<String> = log.read_access(contact).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["read_contact", "read_audit"]);
    assert_eq!(log.verify().unwrap().access_entries, 2);
    drop(log);
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.read_access(contact).unwrap().len(), 2, "copied once");
}

/// The README's stock-tools script (Python 3's standard library) checks an access segment as
/// it checks the events' segments, and prints the same head `verify` computes.
#[test]
fn the_readme_script_checks_an_access_segment() {
    if std::process::Command::new("python3").arg("--version").output().is_err() {
        eprintln!("no python3: skipped");
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let script = readme.split("```python\n").nth(1).unwrap().split("```").next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    log_with_reads(dir.path(), 5);
    let script_path = dir.path().join("verify-segments.py");
    std::fs::write(&script_path, script).unwrap();
    let out = std::process::Command::new("python3").arg(&script_path).arg(access_segment(dir.path())).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.starts_with("5 "), "{printed}");
    let bytes = std::fs::read(access_segment(dir.path())).unwrap();
    let mut at = 64;
    let mut last = None;
    while at < bytes.len() {
        let frame = segment::parse_frame(&bytes[at..]).unwrap();
        last = Some(frame.hash());
        at += frame.len;
    }
    assert_eq!(printed.trim(), format!("5 {}", last.unwrap().to_hex()));
}

/// Figures (ignored by default; `cargo test -p eventlog --release --test access -- --ignored
/// --nocapture`): `record_access` latency at a paced 500 entries/s from 16 threads, each
/// returning only once its entry is durable.
#[test]
#[ignore = "a measurement, not a check"]
fn record_access_latency_at_500_per_second() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let contacts: Vec<Ulid> = (0..5000).map(|_| Ulid::new()).collect();
    let threads: u32 = 16;
    let per_thread: u32 = 250; // 4,000 entries in 8 s
    let interval = Duration::from_micros(1_000_000 * u64::from(threads) / 500);
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..threads {
        let (log, contacts) = (log.clone(), contacts.clone());
        handles.push(std::thread::spawn(move || {
            let mut out = Vec::new();
            let phase = interval * t / threads;
            for i in 0..per_thread {
                let due = started + phase + interval * i;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let begin = Instant::now();
                log.record_access_blocking(contacts[fastrand::usize(..contacts.len())], &entry("read_contact"))
                    .unwrap();
                out.push(begin.elapsed());
            }
            out
        }));
    }
    let mut all: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort();
    let at = |percent: usize| all[(all.len() * percent / 100).min(all.len() - 1)];
    println!(
        "record_access at 500/s: {} entries in {:.1?}: p50 {:.2?} p99 {:.2?} max {:.2?}",
        all.len(),
        started.elapsed(),
        at(50),
        at(99),
        all[all.len() - 1]
    );
}

/// A partial entry before the head the index recorded as durable is not a torn write: refused,
/// and the file is left as it is.
#[test]
fn a_cut_inside_a_durable_entry_is_refused_not_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    log_with_reads(dir.path(), 4);
    EventLog::open(dir.path()).unwrap().flush().unwrap();
    let path = access_segment(dir.path());
    let clean = std::fs::read(&path).unwrap();
    let cut = &clean[..clean.len() - 10];
    std::fs::write(&path, cut).unwrap();
    let err = EventLog::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("recorded as durable"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), cut, "the damaged file is kept for inspection");
}

/// `verify` while entries are being recorded checks what is durable and never a group being
/// written.
#[test]
fn verify_runs_while_reads_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                let contact = Ulid::new();
                for _ in 0..100 {
                    log.record_access_blocking(contact, &entry("read_contact")).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..20 {
        log.verify().unwrap();
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(log.verify().unwrap().access_entries, 400);
}

/// A log whose segments (events and access) roll at `bytes`.
fn open_rolling(dir: &Path, bytes: u64) -> EventLog {
    EventLog::open_with(dir, &eventlog::Options { segment_bytes: bytes, ..eventlog::Options::default() }).unwrap()
}

#[test]
fn bulk_entries_carry_their_scope_and_are_indexed_under_each_contact_listed() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let [a, b, c] = [Ulid::new(), Ulid::new(), Ulid::new()];
    log.record_access_blocking(a, &entry("read_contact")).unwrap();
    log.record_bulk_access_blocking(None, &entry("read_log"), AccessScope::range(10, 20)).unwrap();
    log.record_bulk_access_blocking(None, &entry("audit_sample"), AccessScope::contacts(vec![a, b])).unwrap();
    let actions = |contact| log.read_access(contact).unwrap().into_iter().map(|e| e.action).collect::<Vec<_>>();
    assert_eq!(actions(a), ["read_contact", "audit_sample"]);
    assert_eq!(actions(b), ["audit_sample"]);
    assert!(actions(c).is_empty());
    let all = log.read_access_after(0, 100).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!((all[0].contact_id, &all[0].scope), (Some(a), &AccessScope::default()));
    assert_eq!((all[1].contact_id, all[1].scope.range), (None, Some(PositionRange { after: 10, to: 20 })));
    assert_eq!(all[2].scope.contacts, [a, b]);
    assert_eq!(all[1].prev_hash, all[0].hash);
    assert_eq!(log.read_access_after(1, 1).unwrap()[0].entry.action, "read_log");
    assert_eq!(log.verify().unwrap().access_entries, 3);
    // A single contact's read stores no scope fields: its body is as before bulk entries.
    let bytes = std::fs::read(access_segment(dir.path())).unwrap();
    let first = segment::parse_frame(&bytes[64..]).unwrap();
    let body = std::str::from_utf8(&first.record[36..]).unwrap();
    assert!(body.contains("\"contact_id\"") && !body.contains("\"range\"") && !body.contains("\"contacts\""), "{body}");
    drop(log);
    // Rebuilt from the segment, the index has the sampled contacts again.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.read_access(b).unwrap().len(), 1);
    assert_eq!(log.verify().unwrap().access_entries, 3);
}

#[test]
fn access_segments_roll_stay_sealed_and_serve_every_entry_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_rolling(dir.path(), 1024);
    let contacts = [Ulid::new(), Ulid::new()];
    for i in 0..40 {
        log.record_access_blocking(contacts[i % 2], &entry(&format!("read_{i}"))).unwrap();
    }
    let list = segment::list(&dir.path().join("access")).unwrap();
    assert!(list.len() > 3, "rolled into {} segments", list.len());
    let sealed: Vec<Vec<u8>> = list[..list.len() - 1].iter().map(|(_, p)| std::fs::read(p).unwrap()).collect();
    for i in 40..60 {
        log.record_access_blocking(contacts[i % 2], &entry(&format!("read_{i}"))).unwrap();
    }
    for ((_, path), before) in list.iter().zip(&sealed) {
        assert_eq!(&std::fs::read(path).unwrap(), before, "{} changed after it was sealed", path.display());
    }
    drop(log);
    let log = open_rolling(dir.path(), 1024);
    assert_eq!(log.verify().unwrap().access_entries, 60);
    let all = log.read_access_after(0, 1000).unwrap();
    let actions: Vec<String> = all.iter().map(|r| r.entry.action.clone()).collect();
    assert_eq!(actions, (0..60).map(|i| format!("read_{i}")).collect::<Vec<_>>());
    // A page that starts and ends in the middle of segments.
    let page = log.read_access_after(37, 15).unwrap();
    assert_eq!(page.iter().map(|r| r.position).collect::<Vec<_>>(), (38..=52).collect::<Vec<_>>());
    assert_eq!(log.read_access(contacts[1]).unwrap().len(), 30);
    drop(log);
    // Offline, the access segments verify as one chain.
    let files: Vec<PathBuf> = segment::list(&dir.path().join("access")).unwrap().into_iter().map(|(_, p)| p).collect();
    let (head, torn) = eventlog::access::verify_files(&files, &mut |_| {}).unwrap();
    assert_eq!((head.position, torn), (60, None));
    assert!(eventlog::access::is_access_segment(&files[0]));
    assert!(!eventlog::access::is_access_segment(&dir.path().join("segments").join(segment::file_name(1))));
}

#[test]
fn a_flipped_byte_in_a_sealed_access_segment_is_refused_naming_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_rolling(dir.path(), 1024);
    for i in 0..30 {
        log.record_access_blocking(Ulid::new(), &entry(&format!("read_{i}"))).unwrap();
    }
    drop(log);
    let files: Vec<PathBuf> = segment::list(&dir.path().join("access")).unwrap().into_iter().map(|(_, p)| p).collect();
    assert!(files.len() > 2);
    let sealed = &files[1];
    let clean = std::fs::read(sealed).unwrap();
    let second = 64 + segment::parse_frame(&clean[64..]).unwrap().len;
    let mut bad = clean.clone();
    bad[second + 12 + 50] ^= 0x01;
    std::fs::write(sealed, &bad).unwrap();
    let err = eventlog::access::verify_files(&files, &mut |_| {}).unwrap_err();
    let reason = err.to_string();
    let name = sealed.file_name().unwrap().to_str().unwrap();
    assert!(reason.contains(name) && reason.contains(&format!("byte offset {second}")), "{reason}");
    let options = eventlog::Options { segment_bytes: 1024, ..eventlog::Options::default() };
    let err = EventLog::open_with(dir.path(), &options).unwrap_err_log();
    assert!(err.contains(name) && err.contains(&format!("byte offset {second}")), "{err}");
    std::fs::write(sealed, &clean).unwrap();
    assert_eq!(open_rolling(dir.path(), 1024).verify().unwrap().access_entries, 30);
}

#[test]
fn export_lines_round_trip_and_an_import_restores_the_same_access_chain() {
    let src = tempfile::tempdir().unwrap();
    let log = EventLog::open(src.path()).unwrap();
    let contact = Ulid::new();
    log.append_blocking(common::notes(contact, 1, Some(0))).unwrap();
    log.record_access_blocking(contact, &entry("read_contact")).unwrap();
    log.record_bulk_access_blocking(None, &entry("audit_sample"), AccessScope::contacts(vec![contact])).unwrap();
    let envelopes = log.read_all(0, 10).unwrap();
    let records = log.read_access_after(0, 10).unwrap();
    log.shutdown();
    drop(log);
    let lines: Vec<String> = records.iter().map(|r| eventlog::access::export_line(r).unwrap()).collect();
    let mut checker = eventlog::access::ExportChecker::new();
    let mut parsed = Vec::new();
    for line in &lines {
        let (body, record) = eventlog::access::parse_export_line(line).unwrap();
        checker.check(&body, &record).unwrap();
        parsed.push((body, record));
    }
    assert_eq!(parsed.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(), records);
    // A changed entry no longer checks.
    let mut forged = parsed[1].clone();
    forged.1.entry.action = "read_contact".into();
    let forged_line = eventlog::access::export_line(&forged.1);
    assert!(forged_line.is_err(), "a changed entry no longer hashes to its hash");
    let mut tampered = parsed.clone();
    tampered[0].0[20] ^= 1;
    let dst = tempfile::tempdir().unwrap();
    let target = dst.path().join("restored");
    assert!(eventlog::import::import_log(&target, &envelopes, &tampered).is_err());
    assert!(!target.exists(), "nothing written for a broken access chain");

    let report = eventlog::import::import_log(&target, &envelopes, &parsed).unwrap();
    assert_eq!((report.events, report.access_entries), (1, 2));
    let log = EventLog::open(&target).unwrap();
    assert_eq!(log.read_access_after(0, 10).unwrap(), records);
    let actions: Vec<String> = log.read_access(contact).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["read_contact", "audit_sample"]);
}

trait UnwrapErrLog {
    fn unwrap_err_log(self) -> String;
}

impl UnwrapErrLog for Result<EventLog, LogError> {
    fn unwrap_err_log(self) -> String {
        match self {
            Ok(_) => panic!("the log opened"),
            Err(e) => e.to_string(),
        }
    }
}

#[test]
fn an_index_kept_by_sled_is_removed_and_rebuilt_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let contacts = log_with_reads(dir.path(), 5);
    // The index as the version before the in-memory index kept it: a sled database in `index/`
    // with the events' and the access log's trees (here with entries that point nowhere).
    let index = dir.path().join("index");
    {
        let db = sled::open(&index).unwrap();
        db.open_tree("log").unwrap().insert(b"h", &[1u8; 56][..]).unwrap();
        db.open_tree("access-index").unwrap().insert(b"p\0\0\0\0\0\0\0\x01", &[9u8; 8][..]).unwrap();
        db.flush().unwrap();
    }
    assert!(index.join("db").is_file());
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.read_access_after(0, 10).unwrap().len(), 5);
    assert_eq!(log.read_access(contacts[0]).unwrap().len(), 3);
    assert_eq!(log.verify().unwrap().access_entries, 5);
    assert!(!index.join("db").exists(), "sled's files are gone");
    assert!(!index.join("conf").exists(), "sled's files are gone");
}
