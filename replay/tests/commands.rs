//! Every command of `frontdoor-replay` on the fixture log: verify (and a tampered log and
//! export), rebuild, as-of, case, export → import, annex-a, report, deterministic output,
//! and the exit codes.

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::*;
use eventlog::EventLog;
use projections::children::child_id_for;

fn dir_arg(p: &std::path::Path) -> String {
    p.to_str().unwrap().to_owned()
}

#[test]
fn verify_counts_every_event_of_a_sound_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let out = run(&["verify", "--data-dir", &data]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("verified "), "{text}");
    let log = EventLog::open(&data).unwrap();
    let head = log.head();
    log.shutdown();
    drop(log);
    assert!(text.contains(&format!("verified {} events", head.position)), "{text}");
    assert!(text.contains(&head.hash.to_hex()), "{text}");
}

/// The segment files of a data directory, in order.
fn segment_files(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    eventlog::segment::list(&data.join(eventlog::segment::SEGMENTS_DIR)).unwrap().into_iter().map(|(_, p)| p).collect()
}

/// The byte offset of position `position`'s frame in a single-segment log, and its length.
fn frame_of(bytes: &[u8], position: u64) -> (usize, usize) {
    let mut at = eventlog::segment::HEADER_SIZE;
    for _ in 1..position {
        at += eventlog::segment::parse_frame(&bytes[at..]).unwrap().len;
    }
    (at, eventlog::segment::parse_frame(&bytes[at..]).unwrap().len)
}

#[test]
fn a_record_edited_in_a_segment_fails_verify_at_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_copy(tmp.path());
    let files = segment_files(&data);
    assert_eq!(files.len(), 1, "the fixture fits in one segment");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let (at, len) = frame_of(&bytes, 7);
    // Change a byte of the body ("concerns" or any text) and, to be thorough, fix the record's
    // checksum, so only the hash chain can tell.
    let end = at + len;
    let edit = end - 40;
    bytes[edit] = if bytes[edit] == b'a' { b'b' } else { b'a' };
    let record = at + eventlog::segment::FRAME_HEADER_LEN;
    let crc = crc32(&bytes[record + 4..end]);
    bytes[record..record + 4].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&files[0], &bytes).unwrap();
    let out = run(&["verify", "--data-dir", &dir_arg(&data)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("position 7"), "{}", stderr(&out));
    // The segment file on its own, without the index, tells the same.
    let out = run(&["verify", "--file", &dir_arg(&files[0])]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("position 7"), "{}", stderr(&out));
}

#[test]
fn segment_files_verify_offline_with_the_data_directorys_head() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_copy(tmp.path());
    let log = EventLog::open(&data).unwrap();
    let head = log.head();
    log.shutdown();
    drop(log);
    let files = segment_files(&data);
    let mut args = vec!["verify".to_owned(), "--file".to_owned()];
    args.extend(files.iter().map(|f| dir_arg(f)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("verified {} events", head.position)), "{text}");
    assert!(text.contains(&head.hash.to_hex()), "{text}");
}

#[test]
fn many_segments_verify_together_or_from_a_later_one_and_refuse_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // The fixture's appends in segments of 64 KiB.
    let log =
        EventLog::open_with(&data, &eventlog::Options { segment_bytes: 64 * 1024, ..Default::default() }).unwrap();
    let policy = projections::time::DuePolicy::default();
    let mut appends = demo::generate(at(NOW), 1, &demo::DemoActors::standard(), &policy);
    appends.extend(hand_made());
    append_all(&log, appends);
    let head = log.head();
    log.shutdown();
    drop(log);
    let files = segment_files(&data);
    assert!(files.len() >= 3, "{} segments", files.len());
    let names: Vec<String> = files.iter().map(|f| dir_arg(f)).collect();

    let mut args = vec!["verify", "--file"];
    args.extend(names.iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("verified {} events", head.position)), "{}", stdout(&out));
    assert!(stdout(&out).contains(&head.hash.to_hex()), "{}", stdout(&out));

    // An incremental backup's later segments check on their own, to the same head.
    let mut args = vec!["verify", "--file"];
    args.extend(names[1..].iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&head.hash.to_hex()), "{}", stdout(&out));

    // One left out in the middle: refused, naming the segment after the gap.
    let mut args = vec!["verify", "--file", names[0].as_str()];
    args.extend(names[2..].iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&names[2]), "{}", stderr(&out));
}

/// CRC-32 (IEEE), as the log's records use.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn an_export_verifies_and_an_edited_line_fails_at_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("log.jsonl");
    let out = run(&["export", "--file", &dir_arg(&fixture_file()), "--format", "jsonl", "--out", &dir_arg(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&["verify", "--file", &dir_arg(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // The API's envelope JSON, fields in the contract's order.
    assert!(lines[0].starts_with("{\"position\":1,\"event_id\":"), "{}", lines[0]);
    assert!(lines[0].ends_with(&format!("\"hash\":\"{}\"}}", &lines[0][lines[0].len() - 66..lines[0].len() - 2])));
    lines[11] = lines[11].replacen("\"version\":", "\"version\":1", 1);
    let tampered = tmp.path().join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let out = run(&["verify", "--file", &dir_arg(&tampered)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("position 12"), "{}", stderr(&out));

    // A line removed: the gap is named.
    lines.remove(20);
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let out = run(&["verify", "--file", &dir_arg(&tampered)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("position 12"), "the first bad position: {}", stderr(&out));

    // import refuses it and writes nothing.
    let restored = tmp.path().join("restored");
    let out = run(&["import", "--file", &dir_arg(&tampered), "--data-dir", &dir_arg(&restored)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!restored.exists());
}

#[test]
fn export_then_import_restores_the_same_log_and_the_same_projections() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("log.jsonl");
    let out = run(&["export", "--file", &dir_arg(&fixture_file()), "--out", &dir_arg(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let restored = tmp.path().join("restored");
    let out = run(&["import", "--file", &dir_arg(&file), "--data-dir", &dir_arg(&restored)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("verified"), "{}", stdout(&out));

    let out = run(&["verify", "--data-dir", &dir_arg(&restored)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = tmp.path().join("again.jsonl");
    let out = run(&["export", "--data-dir", &dir_arg(&restored), "--out", &dir_arg(&again)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(&again).unwrap(), "the same bytes after a round trip");

    // The same queue and timeliness at several positions, from the original, the restored
    // directory and the export.
    for position in ["1", "500", "5000", "999999999"] {
        let original = run(&["as-of", "--file", &dir_arg(&fixture_file()), "--position", position, "--json"]);
        assert_eq!(original.status.code(), Some(0), "{}", stderr(&original));
        for source in [["--data-dir", &dir_arg(&restored)], ["--file", &dir_arg(&file)]] {
            let other = run(&["as-of", source[0], source[1], "--position", position, "--json"]);
            assert_eq!(original.stdout, other.stdout, "as-of {position} from {source:?}");
        }
    }

    // A directory that is not empty is refused with a usage error, and left alone.
    let out = run(&["import", "--file", &dir_arg(&file), "--data-dir", &dir_arg(&restored)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
}

#[test]
fn rebuild_prints_counts_and_a_rate() {
    let out = run(&["rebuild", "--file", &dir_arg(&fixture_file())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for label in ["events ", "contacts ", "open ", "on queue "] {
        assert!(text.lines().any(|l| l.starts_with(label)), "{label}: {text}");
    }
    assert!(stderr(&out).contains("events/s"), "{}", stderr(&out));
    assert!(!stderr(&out).contains('\r'), "no progress bar when stderr is not a terminal");
}

#[test]
fn as_of_shows_the_queue_as_it_stood() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let out = run(&["as-of", "--data-dir", &data, "--position", "3000", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["as_of_position"], 3000);
    assert_eq!(v["queue"]["as_of_position"], 3000);
    assert!(v["queue"]["items"].as_array().is_some_and(|i| !i.is_empty()));
    assert!(v["timeliness"]["contacts"].is_u64());
    let moment = v["as_of_time"].as_str().unwrap().to_owned();

    // The same moment by time: everything recorded at or before it (a group commit shares
    // one recorded_at, so at least position 3000).
    let out = run(&["as-of", "--data-dir", &data, "--at", &moment, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let by_time: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(by_time["as_of_position"].as_u64().unwrap() >= 3000);
    assert_eq!(by_time["as_of_time"], moment);

    let table = run(&["as-of", "--data-dir", &data, "--position", "3000"]);
    assert_eq!(table.status.code(), Some(0));
    let text = stdout(&table);
    assert!(text.starts_with("As of position 3000"), "{text}");
    assert!(text.contains("Duty queue: "), "{text}");
    assert!(text.contains("Timeliness, contacts received"), "{text}");

    // Usage errors.
    assert_eq!(run(&["as-of", "--data-dir", &data]).status.code(), Some(2));
    assert_eq!(run(&["as-of", "--data-dir", &data, "--at", "yesterday"]).status.code(), Some(2));
    assert_eq!(run(&["as-of", "--data-dir", &data, "--position", "0"]).status.code(), Some(2));
}

#[test]
fn as_of_a_past_morning_shows_the_queue_as_it_stood_that_morning() {
    // The demo is written as a migration keeps it: each event with the time it was recorded.
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let as_of = |at: &str| {
        let out = run(&["as-of", "--data-dir", &data, "--at", at, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // Wednesday 18 March 2026, 09:00 London (GMT), and the demo's now, Friday noon.
    let morning = "2026-03-18T09:00:00Z";
    let (then, now) = (as_of(morning), as_of(NOW));
    assert_eq!(at(then["as_of_time"].as_str().unwrap()), at(morning));
    assert!(then["as_of_position"].as_u64().unwrap() < now["as_of_position"].as_u64().unwrap());
    let items = |v: &serde_json::Value| v["queue"]["items"].as_array().unwrap().clone();
    let ids = |v: &serde_json::Value| -> HashSet<String> {
        items(v).iter().map(|i| i["contact_id"].as_str().unwrap().to_owned()).collect()
    };
    assert!(items(&then).len() >= 10, "{} on the morning's queue", items(&then).len());
    // Only what had been received by then, overdue as it was then.
    for item in items(&then) {
        assert!(at(item["received_at"].as_str().unwrap()) <= at(morning), "{item}");
        assert_eq!(item["overdue"], at(item["due_by"].as_str().unwrap()) < at(morning), "{item}");
    }
    // Most of the morning's contacts have been dealt with since: not on today's queue.
    let gone = ids(&then).difference(&ids(&now)).count();
    assert!(gone * 2 > ids(&then).len(), "{gone} of {} dealt with since", ids(&then).len());
}

#[test]
fn case_shows_the_timeline_and_what_the_decider_could_see() {
    let out = run(&["case", "--file", &dir_arg(&fixture_file()), &REFERRAL.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!("Contact {REFERRAL}: 8 events")), "{text}");
    let before = text.find("before this decision").expect("the state before the decision");
    let decision = text.find("decision_made").unwrap();
    assert!(before < decision, "{text}");
    let seen = &text[before..decision];
    assert!(seen.contains("checks returned: police at 2026-03-10T10:00:00Z by pc-cy: Two callouts in 2025."), "{seen}");
    assert!(seen.contains("rating: amber; consent: given"), "{seen}");
    assert!(seen.contains("duty discussions: 0"), "{seen}");
    assert!(seen.contains("previous contacts about these children (12 months before receipt): 0"), "{seen}");
    assert!(text.contains("by dm-bo (decision_maker, childrens_social_care)"), "{text}");
    assert!(text.contains("Now: handover_accepted, version 8"), "{text}");

    // The revised referral: one state before each decision; the second shows the first.
    let out = run(&["case", "--file", &dir_arg(&fixture_file()), &REVISED.to_string()]);
    let text = stdout(&out);
    assert_eq!(text.matches("before this decision").count(), 2, "{text}");
    assert!(text.contains("decision in force: strategy_discussion by dm-bo"), "{text}");

    let out = run(&["case", "--file", &dir_arg(&fixture_file()), "01J00000000000000000000000"]);
    assert_eq!(out.status.code(), Some(1), "an unknown contact");
    let out = run(&["case", "--file", &dir_arg(&fixture_file()), "not-a-ulid"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Found trying the API: a correction of a child's details or of a contact's date changed
/// nothing, so Annex A kept the wrong values.
#[test]
fn bug_annex_a_ignored_corrections() {
    use eventlog::{Actor, AppendRequest, NewEvent, Role};
    use events::schema::{CorrectionRecorded, Event};
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture_copy(tmp.path());
    let received = ulid::Ulid::from_parts(at("2026-03-10T09:00:00Z").timestamp_millis().try_into().unwrap(), 1);
    let dm = Actor::new("dm-bo", Role::DecisionMaker, events::schema::Agency::ChildrensSocialCare);
    let correct = |field: &str, value: serde_json::Value| {
        let event = Event::CorrectionRecorded(CorrectionRecorded {
            corrects_event_id: received,
            field: field.into(),
            value,
            reason: "entered wrongly".into(),
        });
        NewEvent::new(&event, at("2026-03-12T09:00:00Z"), dm.clone())
    };
    let log = EventLog::open(&dir).unwrap();
    let version = log.read_contact(REFERRAL).unwrap().len();
    append_all(
        &log,
        vec![AppendRequest {
            contact_id: REFERRAL,
            events: vec![
                correct("children[1].date_of_birth", serde_json::json!("2016-01-02")),
                correct("children[1].sex", serde_json::json!("F")),
                correct("occurred_at", serde_json::json!("2026-03-09T16:00:00Z")),
            ],
            expected_version: Some(u32::try_from(version).unwrap()),
            idempotency: None,
        }],
    );
    log.shutdown();
    drop(log);
    let data = dir_arg(&dir);
    let out = run(&["annex-a", "--data-dir", &data, "--list", "1", "--from", "2026-03-09", "--to", "2026-03-10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let (ada, ben) = (child_id_for(REFERRAL, 0), child_id_for(REFERRAL, 1));
    assert!(
        text.contains(&format!("\n{ben},F,,02/01/2016,10,09/03/2026,2A\n")),
        "Ben's corrected sex, date of birth and date of contact: {text}"
    );
    assert!(text.contains(&format!("\n{ada},F,WBRI,10/06/2015,10,09/03/2026,2A\n")), "{text}");
}

#[test]
fn annex_a_lists_use_ofsteds_columns_and_hand_checked_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let out = run(&["annex-a", "--data-dir", &data, "--list", "1", "--from", "2026-03-10", "--to", "2026-03-10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Child Unique ID,Gender,Ethnicity,Date of Birth,Age of Child (Years),Date of Contact,Contact Source")
    );
    // Each child's id is the child index's: Ada's (her child_ref matched on the second contact)
    // and Ben's, each from the contact that first named them, letters and digits only.
    let (ada, ben) = (child_id_for(REFERRAL, 0), child_id_for(REFERRAL, 1));
    for id in [&ada, &ben] {
        assert!(id.len() <= 20 && id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    }
    assert!(text.contains(&format!("\n{ada},F,WBRI,10/06/2015,10,10/03/2026,2A\n")), "{text}");
    assert!(text.contains(&format!("\n{ben},U,,,,10/03/2026,2A\n")), "{text}");
    // One row per child per contact, every row dated in the period.
    assert!(text.lines().skip(1).all(|l| l.contains(",10/03/2026,")), "{text}");

    let out = run(&["annex-a", "--data-dir", &data, "--list", "3", "--from", "2026-03-10", "--to", "2026-03-11"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().next(),
        Some(
            "Child Unique ID,Gender,Ethnicity,Date of Birth,Age of Child (Years),Date of Referral,Referral Source,\
             Referral NFA?,Number of Referrals in Last 12 Months,Allocated Team,Allocated Worker"
        )
    );
    assert!(
        text.contains(&format!("\n{ada},F,WBRI,10/06/2015,10,10/03/2026,2A,No,1,Assessment Team North,at-max\n")),
        "{text}"
    );
    assert!(text.contains(&format!("\n{ada},F,WBRI,10/06/2015,10,11/03/2026,2A,Yes,2,,\n")), "{text}");
    assert!(text.contains(&format!("\n{ben},U,,,,10/03/2026,2A,No,1,Assessment Team North,at-max\n")), "{text}");

    assert_eq!(
        run(&["annex-a", "--data-dir", &data, "--list", "2", "--from", "2026-03-01", "--to", "2026-03-02"])
            .status
            .code(),
        Some(2)
    );
}

/// The number in a Markdown table row starting `| {label} |`, first column.
fn row_count(text: &str, label: &str) -> u64 {
    let start = format!("| {label} | ");
    let line = text.lines().find(|l| l.starts_with(&start)).unwrap_or_else(|| panic!("no row {label}: {text}"));
    line[start.len()..].split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn report_splits_by_the_localities_of_the_config_and_counts_one_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let config = tmp.path().join("frontdoor.toml");
    // The demo county's hubs (WQ17 to WQ19 in none of them).
    let hubs: Vec<String> = [("Northmoor", 1..=6), ("Central", 7..=12), ("Southvale", 13..=16)]
        .into_iter()
        .map(|(name, range)| {
            let districts: Vec<String> = range.map(|n| format!("\"WQ{n}\"")).collect();
            format!("\"{name}\" = [{}]", districts.join(", "))
        })
        .collect();
    std::fs::write(&config, format!("[localities]\n{}\n", hubs.join("\n"))).unwrap();
    let config = config.to_str().unwrap();
    let period = ["--from", "2026-02-02", "--to", "2026-03-20"];
    let report = |extra: &[&str]| {
        let mut args = vec!["report", "--data-dir", &data, "--config", config];
        args.extend_from_slice(&period);
        args.extend_from_slice(extra);
        run(&args)
    };
    let all = report(&[]);
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
    let all = stdout(&all);
    assert!(all.contains("## By locality (first child's postcode district)"), "{all}");
    assert!(all.contains("## By referral source, week by week"), "{all}");
    let names = ["Northmoor", "Central", "Southvale", "other", "unknown"];
    let split: Vec<u64> = names.iter().map(|name| row_count(&all, name)).collect();
    assert!(split.iter().all(|n| *n > 0), "{split:?}");
    assert_eq!(split.iter().sum::<u64>(), row_count(&all, "Contacts"), "the split adds up");
    // One locality's report counts its contacts only, as the whole report's split said.
    for (name, n) in names.iter().zip(&split) {
        let one = report(&["--locality", name]);
        assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
        let one = stdout(&one);
        assert!(one.starts_with(&format!("# Front door: 2026-02-02 to 2026-03-20, locality {name}")), "{one}");
        assert_eq!(row_count(&one, "Contacts"), *n, "{name}");
    }
    let csv = report(&["--locality", "Central", "--format", "csv"]);
    let csv = stdout(&csv);
    assert!(csv.contains(&format!("\nvolumes,,contacts,{}\n", split[1])), "{csv}");
    assert!(csv.contains("\nby_locality,,contacts:Northmoor,0\n"), "{csv}");
    assert!(csv.contains("\nperiod,,locality,Central\n"), "{csv}");
    let devon = stdout(&report(&["--locality", "unknown", "--format", "devon"]));
    assert!(devon.contains("\n\nOnly the contacts of the locality unknown"), "{devon}");
    // A name the config does not give is refused, naming the ones it does.
    let bad = report(&["--locality", "Westmoor"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("Central, Northmoor, Southvale, other, unknown"), "{}", stderr(&bad));
    let without =
        run(&["report", "--data-dir", &data, "--from", "2026-02-02", "--to", "2026-03-20", "--locality", "Central"]);
    assert_eq!(without.status.code(), Some(2), "no --config: no Central");
}

#[test]
fn report_gives_markdown_and_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let md = run(&["report", "--data-dir", &data, "--from", "2026-02-23", "--to", "2026-03-20"]);
    assert_eq!(md.status.code(), Some(0), "{}", stderr(&md));
    let text = stdout(&md);
    assert!(text.starts_with("# Front door: 2026-02-23 to 2026-03-20"), "{text}");
    for heading in [
        "## Summary",
        "## Time to the Assessment Team",
        "## Strategy discussions",
        "## By week",
        "## Contacts by CIN referral source",
        "## Practice",
        "## Decisions by level of need",
    ] {
        assert!(text.contains(heading), "{heading}");
    }
    assert!(text.contains("| 2026-W09 | 2026-02-23 | 2026-03-01 |"), "{text}");
    for row in [
        "| Undecided past due (24 hours / one working day / policy) |",
        "| Recorded late (decisions / acceptances) |",
        "| Threshold met (referrals, of decided) |",
        "| Level of need 3 or 4 (of decided) |",
    ] {
        assert!(text.contains(row), "{row}");
    }
    // Judged at a moment given, and said so.
    let judged = run(&[
        "report",
        "--data-dir",
        &data,
        "--from",
        "2026-02-23",
        "--to",
        "2026-03-20",
        "--judged-at",
        "2026-02-23T00:00:00Z",
    ]);
    assert_eq!(judged.status.code(), Some(0), "{}", stderr(&judged));
    let judged = stdout(&judged);
    assert!(judged.contains("judged at 2026-02-23T00:00:00"), "{judged}");
    // Before anything was received, nothing undecided is past due.
    assert!(judged.contains("| Undecided past due (24 hours / one working day / policy) | 0 / 0 / 0 |"), "{judged}");

    let csv = run(&["report", "--data-dir", &data, "--from", "2026-02-23", "--to", "2026-03-20", "--format", "csv"]);
    assert_eq!(csv.status.code(), Some(0), "{}", stderr(&csv));
    let text = stdout(&csv);
    assert!(text.starts_with("section,week,measure,value\n"), "{text}");
    assert!(text.contains("\ntimeliness,,contacts,"), "{text}");
    assert!(text.contains("\nvolumes,2026-W10,source:2A,"), "{text}");
    for measure in [
        "\nperiod,,judged_at,",
        "\ntimeliness,,undecided_past_due_one_working_day,",
        "\ntimeliness,,recorded_late_decisions,",
        "\ntimeliness,,strategy_discussions_held,",
        "\ntimeliness,,strategy_discussion_outcome:s47_enquiry,",
        "\nvolumes,,threshold_met_share,",
        "\nvolumes,,level_3_or_4_share,",
        "\npractice,,consent_recorded,",
        "\npractice,,referrer_informed_within_one_working_day,",
        "\npractice,,revised,",
        "\npractice,,level_of_need:4,",
    ] {
        assert!(text.contains(measure), "{measure}");
    }
    assert_eq!(
        run(&["report", "--data-dir", &data, "--from", "2026-03-20", "--to", "2026-03-01"]).status.code(),
        Some(2)
    );
}

#[test]
fn the_same_log_gives_byte_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let commands: Vec<Vec<String>> = [
        vec!["as-of", "--position", "4000", "--json"],
        vec!["as-of", "--position", "4000"],
        vec!["annex-a", "--list", "1", "--from", "2026-02-01", "--to", "2026-03-31"],
        vec!["annex-a", "--list", "3", "--from", "2026-02-01", "--to", "2026-03-31"],
        vec!["report", "--from", "2026-02-01", "--to", "2026-03-31"],
        vec!["report", "--from", "2026-02-01", "--to", "2026-03-31", "--format", "csv"],
        vec!["rebuild"],
        vec!["export"],
        vec!["verify"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| (*s).to_owned()).collect())
    .collect();
    let case = REFERRAL.to_string();
    let mut all = commands;
    all.push(vec!["case".into(), case]);
    for command in all {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.splice(1..1, ["--data-dir", data.as_str()]);
        let first = run(&args);
        let second = run(&args);
        assert_eq!(first.status.code(), Some(0), "{command:?}: {}", stderr(&first));
        assert!(!first.stdout.is_empty(), "{command:?}");
        assert_eq!(first.stdout, second.stdout, "{command:?} twice");
    }
}

#[test]
fn a_data_directory_held_by_a_running_service_is_an_io_error_that_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_copy(tmp.path());
    let held = EventLog::open(&data).unwrap();
    let out = run(&["verify", "--data-dir", &dir_arg(&data)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("stop it first"), "{}", stderr(&out));
    held.shutdown();

    let out = run(&["verify", "--data-dir", &dir_arg(&tmp.path().join("nothing-here"))]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(run(&["verify"]).status.code(), Some(2), "no source");
    assert_eq!(run(&["verify", "--data-dir", "a", "--file", "b"]).status.code(), Some(2), "two sources");
}

#[test]
fn every_command_has_help_with_the_exit_codes() {
    for command in ["verify", "rebuild", "as-of", "case", "export", "import", "annex-a", "report"] {
        let out = run(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{command}");
        assert!(stdout(&out).contains("Exit codes:"), "{command}");
    }
    let out = run(&["--help"]);
    assert!(stdout(&out).contains("Exit codes:"));
}

#[test]
fn a_failed_export_never_harms_the_last_good_backup_and_a_good_one_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let backups = tmp.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let backup = backups.join("frontdoor.jsonl");
    let older = older_backup(&backup);
    let out_arg = dir_arg(&backup);
    let kept = |what: &str| {
        assert_eq!(std::fs::read(&backup).unwrap(), older, "{what}: the last good backup is untouched");
        assert_eq!(names_in(&backups), ["frontdoor.jsonl"], "{what}: no temporary file left behind");
    };

    // No service listening there.
    let out = run(&["export", "--url", "http://127.0.0.1:9", "--token", "x", "--out", &out_arg]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    kept("service down");

    // A log that does not verify (an edited line) is not exported.
    let text = std::fs::read_to_string(fixture_file()).unwrap();
    let tampered = tmp.path().join("tampered.jsonl");
    std::fs::write(&tampered, text.replacen("\"version\":2", "\"version\":3", 1)).unwrap();
    let out = run(&["export", "--file", &dir_arg(&tampered), "--out", &out_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("verification failed at position"), "{}", stderr(&out));
    kept("a log that does not verify");

    // A data directory that cannot be read (not a log).
    let out = run(&["export", "--data-dir", &dir_arg(&tmp.path().join("nothing-here")), "--out", &out_arg]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    kept("no log to read");

    // A directory that cannot be written: nothing changes either.
    let out =
        run(&["export", "--file", &dir_arg(&fixture_file()), "--out", &dir_arg(&tmp.path().join("no/such.jsonl"))]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    kept("an unwritable place");

    // A whole export that verifies replaces it, private even under a login shell's umask.
    let data = fixture_copy(tmp.path());
    let out = run_with_umask("022", &["export", "--data-dir", &dir_arg(&data), "--out", &out_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&backup).unwrap(), std::fs::read(fixture_file()).unwrap(), "replaced by the new export");
    assert_eq!(mode(&backup), 0o600);
    // The data directory's access log beside it, as private.
    assert_eq!(names_in(&backups), ["frontdoor.jsonl", "frontdoor.jsonl.access.jsonl"]);
    assert_eq!(mode(&backups.join("frontdoor.jsonl.access.jsonl")), 0o600);
    let out = run(&["verify", "--file", &out_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A relative --out (the current directory) works the same way.
    let out = Command::new(BIN)
        .current_dir(&backups)
        .args(["export", "--file", &dir_arg(&fixture_file()), "--out", "relative.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // From an export file there is no access log to write.
    assert_eq!(names_in(&backups), ["frontdoor.jsonl", "frontdoor.jsonl.access.jsonl", "relative.jsonl"]);
}

#[test]
fn what_the_tool_writes_is_private_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let file = dir_arg(&fixture_file());
    let annex = tmp.path().join("annex.csv");
    let out = run_with_umask(
        "000",
        &[
            "annex-a",
            "--file",
            &file,
            "--list",
            "1",
            "--from",
            "2026-02-01",
            "--to",
            "2026-03-31",
            "--out",
            &dir_arg(&annex),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(mode(&annex), 0o600);
    assert_eq!(names_in(tmp.path()), ["annex.csv"]);

    // A restore into a new directory, and into an existing empty one that others could read.
    let restored = tmp.path().join("restored");
    let out = run_with_umask("022", &["import", "--file", &file, "--data-dir", &dir_arg(&restored)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run_with_umask("022", &["import", "--file", &file, "--data-dir", &dir_arg(&open)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for dir in [&restored, &open] {
        let modes = modes_under(dir);
        assert!(modes.len() > 2, "{modes:?}");
        for (path, mode) in modes {
            assert_eq!(mode & 0o077, 0, "{} is open to others: {mode:04o}", path.display());
        }
        assert_eq!(mode(dir), 0o700);
    }
}

/// Issue 16: the Child Unique ID is the child index's, and a link or an unlink changes the
/// child a referral is counted for in "Number of Referrals in Last 12 Months".
#[test]
fn annex_a_follows_the_child_links() {
    use eventlog::{Actor, AppendRequest, NewEvent, Role};
    use events::schema::{
        Channel, Child, ChildrenLinked, ChildrenUnlinked, Consent, ContactReceived, DecisionMade, Event, Outcome,
        Referrer, SourceCode,
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture_copy(tmp.path());
    let dm = Actor::new("dm-bo", Role::DecisionMaker, events::schema::Agency::ChildrensSocialCare);
    let contact = ulid::Ulid::from_parts(at("2026-03-12T09:00:00Z").timestamp_millis().try_into().unwrap(), 0xBE11);
    let received = Event::ContactReceived(ContactReceived {
        channel: Channel::Phone,
        source: SourceCode::Gp,
        referrer: Referrer { name: "Dr Example".into(), organisation: None, role: None, phone: None, email: None },
        children: vec![Child {
            name: "Benjamin Example".into(),
            date_of_birth: None,
            sex: None,
            child_ref: None,
            nhs_number: None,
            upn: None,
            ethnicity: None,
            expected_date_of_birth: None,
            address: None,
        }],
        concerns: "Unexplained injury.".into(),
        immediate_risk: false,
        consent: Consent::Given,
        consent_override_reason: None,
        ppn_grade: None,
        adults: Vec::new(),
        concern_categories: Vec::new(),
        follows_consultation: None,
    });
    let decided = Event::DecisionMade(DecisionMade {
        outcome: Outcome::Assessment,
        rationale: "Threshold met.".into(),
        level_of_need: Some(4),
        primary_need: None,
        revises: None,
        duplicate_of: None,
        children: Vec::new(),
        concern_categories: Vec::new(),
    });
    let ben = child_id_for(REFERRAL, 1);
    let list3 = |dir: &std::path::Path| {
        let out =
            run(&["annex-a", "--data-dir", &dir_arg(dir), "--list", "3", "--from", "2026-03-12", "--to", "2026-03-12"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // The demo's referrals of that day are listed too: this contact's row is the one of a
        // child without sex or date of birth, referred by a GP.
        let text = stdout(&out);
        let rows: Vec<String> =
            text.lines().filter(|l| l.contains(",U,,,,12/03/2026,3A,")).map(str::to_owned).collect();
        assert_eq!(rows.len(), 1, "{text}");
        rows[0].clone()
    };
    let append = |version: u32, event: Event| {
        let log = EventLog::open(&dir).unwrap();
        append_all(
            &log,
            vec![AppendRequest {
                contact_id: contact,
                events: vec![NewEvent::new(&event, at("2026-03-12T10:00:00Z"), dm.clone())],
                expected_version: Some(version),
                idempotency: None,
            }],
        );
        log.shutdown();
    };
    {
        let log = EventLog::open(&dir).unwrap();
        append_all(
            &log,
            vec![AppendRequest {
                contact_id: contact,
                events: vec![
                    NewEvent::new(&received, at("2026-03-12T09:00:00Z"), dm.clone()),
                    NewEvent::new(&decided, at("2026-03-12T09:30:00Z"), dm.clone()),
                ],
                expected_version: Some(0),
                idempotency: None,
            }],
        );
        log.shutdown();
    }
    // A child of its own: its own id, one referral.
    let own = child_id_for(contact, 0);
    assert!(list3(&dir).starts_with(&format!("{own},U,,,,12/03/2026,3A,No,1,")), "{}", list3(&dir));
    // Linked to Ben: Ben's id, and Ben's referral of the 10th counts.
    append(
        2,
        Event::ChildrenLinked(ChildrenLinked { child_index: 0, child_id: ben.clone(), reason: "GP letter".into() }),
    );
    assert!(list3(&dir).starts_with(&format!("{ben},U,,,,12/03/2026,3A,No,2,")), "{}", list3(&dir));
    // Unlinked again: a new id of its own, one referral.
    append(
        3,
        Event::ChildrenUnlinked(ChildrenUnlinked { child_index: 0, child_id: ben.clone(), reason: "Wrong Ben".into() }),
    );
    let row = list3(&dir);
    let id = row.split(',').next().unwrap();
    assert!(id != ben && id != own && id.len() == 16 && id.bytes().all(|b| b.is_ascii_alphanumeric()), "{row}");
    assert!(row.ends_with(",12/03/2026,3A,No,1,,"), "{row}");
}

/// A copy of the fixture's data directory with `n` access entries, one a bulk read, in
/// access segments that roll every 1 KiB.
fn data_with_reads(into: &std::path::Path, n: usize) -> (std::path::PathBuf, ulid::Ulid) {
    let data = fixture_copy(into);
    let options = eventlog::Options { segment_bytes: 1024, ..eventlog::Options::default() };
    let log = EventLog::open_with(&data, &options).unwrap();
    let contact = log.read_all(0, 1).unwrap()[0].contact_id;
    let actor = eventlog::Actor::new("auditor-1", eventlog::Role::Auditor, events::schema::Agency::ChildrensSocialCare);
    let entry = |action: &str| eventlog::AccessEntry {
        at: chrono::Utc::now(),
        actor: actor.clone(),
        action: action.into(),
        endpoint: format!("/v1/contacts/{contact}"),
    };
    for _ in 1..n {
        log.record_access_blocking(contact, &entry("read_contact")).unwrap();
    }
    log.record_bulk_access_blocking(None, &entry("read_log"), eventlog::AccessScope::range(0, 100)).unwrap();
    log.shutdown();
    (data, contact)
}

#[test]
fn export_and_import_carry_the_access_log_and_verify_checks_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, contact) = data_with_reads(tmp.path(), 30);
    let access_segments: Vec<String> =
        eventlog::segment::list(&data.join("access")).unwrap().into_iter().map(|(_, p)| dir_arg(&p)).collect();
    assert!(access_segments.len() > 2, "the access log rolled: {access_segments:?}");

    // Access segments verify offline, on their own.
    let mut args = vec!["verify", "--file"];
    args.extend(access_segments.iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("verified 30 access entries"), "{}", stdout(&out));

    let file = tmp.path().join("backup.jsonl");
    // The export is itself a read, recorded before it is written: 31 entries.
    let out = run(&["export", "--data-dir", &dir_arg(&data), "--out", &dir_arg(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("exported 31 access entries"), "{}", stderr(&out));
    let access_file = tmp.path().join("backup.jsonl.access.jsonl");
    let out = run(&["verify", "--file", &dir_arg(&access_file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("verified 31 access entries"), "{}", stdout(&out));

    let restored = tmp.path().join("restored");
    let out = run(&["import", "--file", &dir_arg(&file), "--data-dir", &dir_arg(&restored)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("imported 31 access entries"), "{}", stdout(&out));
    let log = EventLog::open(&restored).unwrap();
    assert_eq!(log.read_access(contact).unwrap().len(), 29);
    let entries = log.read_access_after(0, 100).unwrap();
    assert_eq!(entries[29].scope.range.map(|r| r.to), Some(100));
    assert_eq!(entries[30].entry.action, "offline_read");
    log.shutdown();
    drop(log);

    // An edited access line: verify fails at its position, import writes nothing.
    let text = std::fs::read_to_string(&access_file).unwrap();
    let edited = text.replacen("read_contact", "read_events", 1);
    std::fs::write(&access_file, edited).unwrap();
    let out = run(&["verify", "--file", &dir_arg(&access_file)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("position 1"), "{}", stderr(&out));
    let refused = tmp.path().join("refused");
    let out = run(&["import", "--file", &dir_arg(&file), "--data-dir", &dir_arg(&refused)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!refused.exists());

    // A flipped byte in a sealed access segment: refused, naming the segment and offset.
    let sealed = std::path::PathBuf::from(&access_segments[1]);
    let mut bytes = std::fs::read(&sealed).unwrap();
    bytes[64 + 12 + 40] ^= 0x01;
    std::fs::write(&sealed, &bytes).unwrap();
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let name = sealed.file_name().unwrap().to_str().unwrap();
    assert!(stderr(&out).contains(name) && stderr(&out).contains("byte offset 64"), "{}", stderr(&out));
    let out = run(&["verify", "--data-dir", &dir_arg(&data)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(name), "{}", stderr(&out));
}

/// The files of an `.xlsx`, by name.
fn xlsx_parts(path: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut parts = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        let mut text = String::new();
        if file.read_to_string(&mut text).is_ok() {
            parts.insert(file.name().to_owned(), text);
        }
    }
    parts
}

#[test]
fn annex_a_workbook_has_every_list_and_ofsteds_coded_values() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let out = tmp.path().join("annex-a.xlsx");
    // The workbook is binary: it is written to a file, never to the terminal.
    let refused = run(&["annex-a", "--data-dir", &data, "--from", "2026-03-10", "--to", "2026-03-11"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let done =
        run(&["annex-a", "--data-dir", &data, "--from", "2026-03-10", "--to", "2026-03-11", "--out", &dir_arg(&out)]);
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let parts = xlsx_parts(&out);
    let book = &parts["xl/workbook.xml"];
    for n in 1..=11 {
        assert!(book.contains(&format!("name=\"List {n}\"")), "List {n}: {book}");
    }
    let strings = &parts["xl/sharedStrings.xml"];
    // Ofsted's current template: "Sex", coded; Ada is F, Ben has none recorded.
    for wanted in [
        ">Sex<",
        ">b) Female<",
        ">c) Not stated/recorded<",
        ">WBRI<",
        ">NOBT<",
        ">a) Yes<",
        ">b) No<",
        ">Assessment Team North<",
        ">Date of Referral<",
        ">Organisation completing assessment<",
        ">Reason for leaving adoption process<",
    ] {
        assert!(strings.contains(wanted), "{wanted} in {strings}");
    }
    assert!(!strings.contains(">Gender<") && !strings.contains(">U<") && !strings.contains(">F<"), "{strings}");
    // Dates are Excel dates shown DD/MM/YYYY, not text.
    assert!(parts["xl/styles.xml"].contains("dd/mm/yyyy"));
    assert!(!strings.contains("10/03/2026"), "dates are not strings");
    // Lists 1 and 3 hold the rows the CSV lists hold (the demo's of those days too), plus headers.
    for (list, sheet) in [("1", "sheet1"), ("3", "sheet3")] {
        let csv = stdout(&run(&[
            "annex-a",
            "--data-dir",
            &data,
            "--list",
            list,
            "--from",
            "2026-03-10",
            "--to",
            "2026-03-11",
        ]));
        let rows = parts[&format!("xl/worksheets/{sheet}.xml")].matches("<row ").count();
        assert_eq!(rows, csv.lines().count(), "List {list}");
        assert!(rows > 3, "List {list}");
    }
    assert_eq!(parts["xl/worksheets/sheet2.xml"].matches("<row ").count(), 1, "List 2: headers only");
}

#[test]
fn cin_census_exports_referrals_open_unless_nfa_before_acceptance() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let bad = run(&["cin-census", "--data-dir", &data, "--year", "2025-2026"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let out = run(&["cin-census", "--data-dir", &data, "--year", "2025-26"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = stdout(&out);
    assert!(xml.contains("<ReferenceDate>2026-03-31</ReferenceDate>"), "{xml}");
    // Ada (child_ref HC-TEST-0001): one child, two referrals: the first went on to the
    // Assessment Team (open), the second was revised to no further action before acceptance.
    let ada = xml
        .split("<Child>")
        .find(|c| {
            c.contains("<PersonBirthDate>2015-06-10</PersonBirthDate>")
                && c.contains("<CINreferralDate>2026-03-11</CINreferralDate>")
        })
        .unwrap();
    let id = ada.split("<LAchildID>").nth(1).unwrap().split('<').next().unwrap();
    assert!(id.len() <= 20 && id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    assert!(ada.contains("<Sex>F</Sex>") && ada.contains("<Ethnicity>WBRI</Ethnicity>"), "{ada}");
    let details: Vec<&str> = ada.split("<CINdetails>").skip(1).collect();
    assert_eq!(details.len(), 2, "{ada}");
    assert!(details[0].contains("<CINreferralDate>2026-03-10</CINreferralDate>"), "{ada}");
    assert!(details[0].contains("<ReferralSource>2A</ReferralSource>"));
    assert!(details[0].contains("<PrimaryNeedCode>N1</PrimaryNeedCode>"));
    assert!(details[0].contains("<ReferralNFA>false</ReferralNFA>") && !details[0].contains("CINclosureDate"));
    assert!(details[1].contains("<CINreferralDate>2026-03-11</CINreferralDate>"), "{ada}");
    assert!(details[1].contains("<CINclosureDate>2026-03-12</CINclosureDate>"), "{ada}");
    assert!(details[1].contains("<ReasonForClosure>RC8</ReasonForClosure>"));
    assert!(details[1].contains("<ReferralNFA>true</ReferralNFA>"));
    // Ben: nothing recorded but his name: sex U, ethnicity not obtained, no date of birth.
    let ben = xml
        .split("<Child>")
        .find(|c| {
            c.contains("<CINreferralDate>2026-03-10</CINreferralDate>")
                && c.contains("<ReferralSource>2A</ReferralSource>")
                && !c.contains("PersonBirthDate")
        })
        .unwrap();
    assert!(ben.contains("<Sex>U</Sex>") && ben.contains("<Ethnicity>NOBT</Ethnicity>"), "{ben}");
    // The same log gives the same bytes.
    assert_eq!(stdout(&run(&["cin-census", "--data-dir", &data, "--year", "2025-26"])), xml);
}

#[test]
fn report_rebuilds_devons_table_from_a_small_log_worked_by_hand() {
    // The two hand-made contacts alone: both by phone on Tuesday 10 March 2026, one about
    // two children (an assessment), one about one child (a strategy discussion revised to no
    // further action). Over the week of Monday 9 March, each weekday falls once, so the
    // weekly averages are the counts: Tuesday 3 children by phone from 2 contacts; outcomes
    // 2 children assessment (66.7%), 1 no further action (33.3%).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let log = EventLog::open(&dir).unwrap();
    append_all(&log, hand_made());
    log.shutdown();
    drop(log);
    let data = dir_arg(&dir);
    let out = run(&["report", "--data-dir", &data, "--from", "2026-03-09", "--to", "2026-03-15", "--format", "devon"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let expected = "\
| Weekday | phone | online_form | email | police_notification | in_person | other | Children | Contacts |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| Monday | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |
| Tuesday | 3.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 3.0 | 2.0 |
| Wednesday | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |
| Thursday | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |
| Friday | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |
| Saturday | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |
| Sunday | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |
| Weekly average | 3.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 3.0 | 2.0 |
";
    assert!(text.contains(expected), "{text}");
    let outcomes = "\
| Weekday | strategy_discussion | assessment | early_help | advice_and_signpost | no_further_action | existing_case | not_accepted | undecided |
";
    assert!(text.contains(outcomes), "{text}");
    assert!(text.contains("| Tuesday | 0.0 | 2.0 | 0.0 | 0.0 | 1.0 | 0.0 | 0.0 | 0.0 |\n"), "{text}");
    assert!(text.contains("| Total in period | 0 | 2 | 0 | 0 | 1 | 0 | 0 | 0 |\n"), "{text}");
    assert!(
        text.contains("| Share of children | 0.0% | 66.7% | 0.0% | 0.0% | 33.3% | 0.0% | 0.0% | 0.0% |\n"),
        "{text}"
    );
    assert!(text.contains("Children: 3. Contacts: 2."), "{text}");

    // The practice figures of the same two contacts: consent given on both; the second
    // decision revised once; no referrer told yet; both decided at level 4, one a referral.
    let out = run(&["report", "--data-dir", &data, "--from", "2026-03-09", "--to", "2026-03-15"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for row in [
        "| Consent recorded (given, not given or overridden; of contacts) | 2 (100.0%) |",
        "| Referrer informed within one working day (of contacts) | 0 (0.0%) |",
        "| Decisions revised (of decided) | 1 (50.0%) |",
        "| Revisions in all | 1 |",
        "| 4 | 2 | 1 |",
        "| unknown | 0 | 0 |",
        // The referral handed over to the Assessment Team at 11:30, accepted at 15:00: 6 hours
        // from receipt; nothing to Early Help.
        "| Assessment Team | 1 | 1 | 0 | 0 / 0 | 6.0 / 6.0 / 6.0 |",
        "| Early Help | 0 | 0 | 0 | 0 / 0 |  /  /  |",
        // Both from a school (2A), consent given, one a referral.
        "| 2A | 2 | 2 | 1 | 50.0% | 2 (100.0%) | 0 / 0 |",
    ] {
        assert!(text.contains(row), "{row}\n{text}");
    }
}

/// Every string under `keys` anywhere in `v`.
fn strings_under(v: &serde_json::Value, keys: &[&str], out: &mut HashSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if keys.contains(&k.as_str())
                    && let Some(s) = v.as_str()
                {
                    out.insert(s.to_owned());
                }
                strings_under(v, keys, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings_under(v, keys, out)),
        _ => {}
    }
}

#[test]
fn contacts_csv_has_one_pseudonymised_row_per_contact() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let out = run(&["contacts-csv", "--data-dir", &data, "--from", "2026-02-01", "--to", "2026-03-31"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "date_of_contact,week,weekday,channel,source,immediate_risk,rating,children,child_ids,child_ages,consent,\
             concern_categories,first_decision_hours,first_outcome,outcome,level_of_need,referral,revisions,\
             recommendation_followed,assessment_team_hours,referrer_informed_within_one_working_day,previous_contacts"
        )
    );
    // The hand-made referral, worked by hand: Tuesday 10 March 09:00, amber, two children (one
    // aged 10, one without a date of birth), decided an assessment at 11:00 (2 hours),
    // accepted by the Assessment Team at 15:00 (6 hours), the referrer not told.
    let args = ["annex-a", "--data-dir", data.as_str(), "--list", "1", "--from", "2026-03-10", "--to", "2026-03-10"];
    let annex = stdout(&run(&args));
    let ids: Vec<&str> =
        annex.lines().filter(|l| l.ends_with(",10/03/2026,2A")).filter_map(|l| l.split(',').next()).collect();
    let (ada, ben) = (ids[0], ids[1]);
    let row = format!(
        "2026-03-10,2026-W11,Tuesday,phone,2A,no,amber,2,{ada};{ben},10;,given,,2,assessment,assessment,4,yes,0,,6,no,0"
    );
    assert!(text.lines().any(|l| l == row), "{row}\n{text}");
    assert_eq!(text.lines().count() - 1, text.lines().filter(|l| l.starts_with("2026-0")).count());

    // No name, identifier or free text of any event of the log appears.
    let mut secrets = HashSet::new();
    for line in std::fs::read_to_string(fixture_file()).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        strings_under(
            &v,
            &[
                "name",
                "nhs_number",
                "upn",
                "child_ref",
                "concerns",
                "summary",
                "rationale",
                "phone",
                "email",
                "organisation",
                "text",
                "reason",
                "description",
            ],
            &mut secrets,
        );
    }
    assert!(secrets.contains("Ada Example") && secrets.iter().any(|s| s.starts_with("Bruising")), "the log's text");
    let leaked: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4 && text.contains(s.as_str())).collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

/// The fixture's log holds the demo's duty debriefs (streams of their own): the returns count
/// only contacts, so Annex A's List 1 has one row per child of the contacts received that day,
/// and nothing of a debrief reaches any return or report.
#[test]
fn duty_debriefs_in_the_log_reach_no_return() {
    let export = std::fs::read_to_string(fixture_file()).unwrap();
    let lines: Vec<serde_json::Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let day: chrono::NaiveDate = "2026-03-10".parse().unwrap();
    let debriefs: Vec<&str> = lines
        .iter()
        .filter(|e| e["type"] == "duty_debrief_recorded")
        .map(|e| e["contact_id"].as_str().unwrap())
        .collect();
    assert!(debriefs.len() >= 15, "the fixture holds a debrief per working day: {}", debriefs.len());
    assert!(lines.iter().any(|e| e["type"] == "duty_debrief_recorded" && e["data"]["date"] == "2026-03-10"));
    let children: usize = lines
        .iter()
        .filter(|e| e["type"] == "contact_received")
        .filter(|e| projections::time::london_date(e["occurred_at"].as_str().unwrap().parse().unwrap()) == day)
        .map(|e| e["data"]["children"].as_array().unwrap().len())
        .sum();

    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let out = run(&["annex-a", "--data-dir", &data, "--list", "1", "--from", "2026-03-10", "--to", "2026-03-10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count() - 1, children, "one row per child of each contact, none for a debrief");
    for args in [
        vec!["annex-a", "--list", "3", "--from", "2026-02-20", "--to", "2026-03-20"],
        vec!["report", "--from", "2026-02-20", "--to", "2026-03-20"],
    ] {
        let mut full = args.clone();
        full.extend(["--data-dir", &data]);
        let out = run(&full);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(!text.contains("MASH duty"), "{args:?}");
        assert!(debriefs.iter().all(|id| !text.contains(id)), "{args:?}");
    }
    // `case` on a debrief's id says what the stream is rather than reading it as a contact.
    let out = run(&["case", "--data-dir", &data, debriefs[0]]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("opened by duty_debrief_recorded, not a contact"), "{}", stderr(&out));
    let out = run(&["verify", "--data-dir", &data]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The fixture's log holds the demo's professional consultations (streams of their own, some
/// naming a child): neither Annex A, the CIN census, the report nor the contacts CSV counts or
/// names one.
#[test]
fn consultations_in_the_log_reach_no_return() {
    let export = std::fs::read_to_string(fixture_file()).unwrap();
    let lines: Vec<serde_json::Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let consultations: Vec<&serde_json::Value> =
        lines.iter().filter(|e| e["type"] == "consultation_recorded").collect();
    assert!(consultations.len() >= 8, "the fixture holds the demo's consultations: {}", consultations.len());
    let named: Vec<(&str, String)> = consultations
        .iter()
        .filter(|e| e["data"]["children"].as_array().is_some_and(|c| !c.is_empty()))
        .map(|e| {
            let id = e["contact_id"].as_str().unwrap();
            (id, child_id_for(id.parse().unwrap(), 0))
        })
        .collect();
    assert!(!named.is_empty(), "some name a child");
    assert!(lines.iter().any(|e| e["type"] == "contact_received" && e["data"]["follows_consultation"].is_string()));

    let tmp = tempfile::tempdir().unwrap();
    let data = dir_arg(&fixture_copy(tmp.path()));
    let from = "2026-01-01";
    let to = "2026-03-31";
    let children: usize = lines
        .iter()
        .filter(|e| e["type"] == "contact_received")
        .filter(|e| {
            let on = projections::time::london_date(e["occurred_at"].as_str().unwrap().parse().unwrap());
            (from.parse().unwrap()..=to.parse().unwrap()).contains(&on)
        })
        .map(|e| e["data"]["children"].as_array().unwrap().len())
        .sum();
    let out = run(&["annex-a", "--data-dir", &data, "--list", "1", "--from", from, "--to", to]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().count() - 1,
        children,
        "one row per child of each contact, none for a consultation"
    );
    for args in [
        vec!["annex-a", "--list", "3", "--from", from, "--to", to],
        vec!["report", "--from", from, "--to", to],
        vec!["cin-census", "--year", "2025-26"],
        vec!["contacts-csv", "--from", from, "--to", to],
    ] {
        let mut full = args.clone();
        full.extend(["--data-dir", &data]);
        let out = run(&full);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        for (id, child) in &named {
            assert!(!text.contains(id), "{args:?} names consultation {id}");
            assert!(!text.contains(child.as_str()), "{args:?} has the child {child} only a consultation named");
        }
        assert!(!text.contains("Advised the GP"), "{args:?}");
    }
}

#[test]
fn reads_of_a_stopped_services_data_directory_are_recorded_in_its_access_log_first() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_copy(tmp.path());
    let head = {
        let log = EventLog::open(&data).unwrap();
        let head = log.head().position;
        log.shutdown();
        head
    };
    let d = dir_arg(&data);
    let case = REFERRAL.to_string();
    let commands: [Vec<&str>; 6] = [
        vec!["case", "--data-dir", &d, &case],
        vec!["as-of", "--data-dir", &d, "--at", "2026-03-02T09:00:00Z"],
        vec!["export", "--data-dir", &d],
        vec!["annex-a", "--data-dir", &d, "--list", "1", "--from", "2026-02-01", "--to", "2026-03-31"],
        vec!["contacts-csv", "--data-dir", &d, "--from", "2026-02-01", "--to", "2026-03-31"],
        vec!["cin-census", "--data-dir", &d, "--year", "2025-26"],
    ];
    for args in &commands {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    // Figures alone (report) and checks (verify, rebuild) name no child: not recorded.
    for args in [
        vec!["report", "--data-dir", &d, "--from", "2026-02-01", "--to", "2026-03-31"],
        vec!["verify", "--data-dir", &d],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }

    let log = EventLog::open(&data).unwrap();
    let entries = log.read_access_after(0, 100).unwrap();
    let case_reads = log.read_access(REFERRAL).unwrap();
    log.shutdown();
    let names: Vec<&str> = entries.iter().map(|e| e.entry.endpoint.split(' ').nth(1).unwrap_or("")).collect();
    assert_eq!(names, ["case", "as-of", "export", "annex-a", "contacts-csv", "cin-census"], "{entries:#?}");
    for e in &entries {
        assert_eq!(e.entry.action, "offline_read");
        assert!(e.entry.actor.id.starts_with("os-user:") && e.entry.actor.id.contains("uid "), "{:?}", e.entry.actor);
        assert!(e.entry.endpoint.ends_with(&format!("--data-dir {d}")), "{}", e.entry.endpoint);
        assert_eq!(e.scope.range.map(|r| (r.after, r.to)), Some((0, head)), "the whole log was read");
    }
    assert_eq!(entries[1].scope.as_of.map(|t| t.to_rfc3339()), Some("2026-03-02T09:00:00+00:00".to_owned()));
    // The contact read with `case` shows it in its own audit trail.
    assert_eq!(case_reads.len(), 1);
    assert_eq!(case_reads[0].endpoint.split(' ').nth(1), Some("case"));

    // Reading an export file touches no data directory: nothing to record, nothing refused.
    let out = run(&["case", "--file", &dir_arg(&fixture_file()), &case]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
