//! The fixture: four weeks of the demo county (the `demo` crate, fixed clock and seed) plus
//! two hand-made contacts whose Annex A rows are checked by hand.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use eventlog::{Actor, AppendRequest, EventLog, NewEvent, Role};
use events::schema::*;
use ulid::Ulid;

pub const BIN: &str = env!("CARGO_BIN_EXE_frontdoor-replay");

/// The demo's "now".
pub const NOW: &str = "2026-03-20T12:00:00Z";
/// The hand-made referral (in force) and the referral revised to no further action.
pub const REFERRAL: Ulid = Ulid::from_parts(1_773_133_200_000, 0xA11CE);
pub const REVISED: Ulid = Ulid::from_parts(1_773_136_800_000, 0xB0B);

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn actor(id: &str, role: Role) -> Actor {
    Actor { id: id.into(), role, agency: Agency::ChildrensSocialCare, team: None }
}

fn ev(event: &Event, when: &str, who: &Actor, n: u128) -> NewEvent {
    let mut e = NewEvent::new(event, at(when), who.clone());
    e.event_id = Ulid::from_parts(at(when).timestamp_millis().try_into().unwrap(), n);
    e
}

fn received(children: Vec<Child>) -> Event {
    Event::ContactReceived(ContactReceived {
        channel: Channel::Phone,
        source: SourceCode::School,
        referrer: Referrer {
            name: "Jo Teacher".into(),
            organisation: Some("Hillside Primary".into()),
            role: None,
            phone: None,
            email: None,
        },
        children,
        concerns: "Bruising on the upper arm, explanation inconsistent.".into(),
        immediate_risk: false,
        consent: Consent::Given,
        consent_override_reason: None,
        ppn_grade: None,
        adults: Vec::new(),
        concern_categories: Vec::new(),
        follows_consultation: None,
    })
}

fn decision(outcome: Outcome, revises: Option<Ulid>) -> Event {
    Event::DecisionMade(DecisionMade {
        outcome,
        rationale: "Threshold met.".into(),
        level_of_need: Some(4),
        primary_need: Some(PrimaryNeed::N1),
        revises: revises.map(|event_id| Revises { event_id, reason: "New information".into() }),
        duplicate_of: None,
        children: Vec::new(),
        concern_categories: Vec::new(),
    })
}

/// The two hand-made contacts, as appends.
pub fn hand_made() -> Vec<AppendRequest> {
    let pr = actor("sw-ana", Role::Practitioner);
    let dm = actor("dm-bo", Role::DecisionMaker);
    let police = Actor { id: "pc-cy".into(), role: Role::Partner, agency: Agency::Police, team: None };
    let team = Actor {
        id: "at-north".into(),
        role: Role::ReceivingTeam,
        agency: Agency::ChildrensSocialCare,
        team: Some("Assessment Team North".into()),
    };
    let child_a = Child {
        name: "Ada Example".into(),
        date_of_birth: Some("2015-06-10".parse().unwrap()),
        sex: Some(Sex::Female),
        child_ref: Some("HC-TEST-0001".into()),
        nhs_number: None,
        upn: None,
        ethnicity: Some("WBRI".into()),
        expected_date_of_birth: None,
        address: None,
    };
    let child_b = Child {
        name: "Ben Example".into(),
        date_of_birth: None,
        sex: None,
        child_ref: None,
        nhs_number: None,
        upn: None,
        ethnicity: None,
        expected_date_of_birth: None,
        address: None,
    };
    // Tuesday 10 March 2026, 09:00 GMT.
    let a = vec![
        ev(&received(vec![child_a.clone(), child_b]), "2026-03-10T09:00:00Z", &pr, 1),
        ev(&Event::TriageRated(TriageRated { rating: Rating::Amber, reason: None }), "2026-03-10T09:10:00Z", &pr, 2),
        ev(
            &Event::ChecksReturned(ChecksReturned {
                agency: Agency::Police,
                summary: "Two callouts in 2025.".into(),
                restricted: false,
            }),
            "2026-03-10T10:00:00Z",
            &police,
            3,
        ),
        ev(&decision(Outcome::Assessment, None), "2026-03-10T11:00:00Z", &dm, 4),
        ev(
            &Event::HandoverSent(HandoverSent { to: HandoverTo::AssessmentTeam, team: None, notes: None }),
            "2026-03-10T11:30:00Z",
            &pr,
            5,
        ),
        ev(
            &Event::HandoverAccepted(HandoverAccepted {
                team: "Assessment Team North".into(),
                worker: Some("at-jo".into()),
                evidence: None,
            }),
            "2026-03-10T15:00:00Z",
            &pr,
            6,
        ),
        // The front door's allocation is not Annex A's allocated worker; the team's own is.
        ev(&Event::ContactAllocated(ContactAllocated { worker: "sw-ana".into() }), "2026-03-10T15:10:00Z", &dm, 7),
        ev(&Event::ContactAllocated(ContactAllocated { worker: "at-max".into() }), "2026-03-10T15:30:00Z", &team, 8),
    ];
    // The same child again on Wednesday 11 March, a referral revised to no further action.
    let first = Ulid::from_parts(at("2026-03-11T12:00:00Z").timestamp_millis().try_into().unwrap(), 2);
    let b = vec![
        ev(&received(vec![child_a]), "2026-03-10T10:00:00Z", &pr, 1),
        ev(&decision(Outcome::StrategyDiscussion, None), "2026-03-11T12:00:00Z", &dm, 2),
        ev(&decision(Outcome::NoFurtherAction, Some(first)), "2026-03-12T09:00:00Z", &dm, 3),
    ];
    vec![
        AppendRequest { contact_id: REFERRAL, events: a, expected_version: Some(0), idempotency: None },
        AppendRequest { contact_id: REVISED, events: b, expected_version: Some(0), idempotency: None },
    ]
}

/// Appends in order, many at once, a contact's own appends in order (as `serve --demo`).
pub fn append_all(log: &EventLog, appends: Vec<AppendRequest>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut window: Vec<AppendRequest> = Vec::new();
        let mut contacts = HashSet::new();
        for append in appends.into_iter().chain(std::iter::once(AppendRequest {
            contact_id: Ulid::nil(),
            events: vec![],
            expected_version: None,
            idempotency: None,
        })) {
            let end = append.events.is_empty();
            if end || window.len() == 256 || !contacts.insert(append.contact_id) {
                // Queued for the writer in order (each when first polled), so the log keeps the
                // demo's recording order and its recorded_at.
                let mut pending: Vec<_> = window.drain(..).map(|a| Some(Box::pin(log.append(a)))).collect();
                std::future::poll_fn(|cx| {
                    for slot in &mut pending {
                        if let Some(append) = slot
                            && let std::task::Poll::Ready(result) = append.as_mut().poll(cx)
                        {
                            result.unwrap();
                            *slot = None;
                        }
                    }
                    if pending.iter().all(Option::is_none) {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                })
                .await;
                contacts.clear();
                contacts.insert(append.contact_id);
            }
            if !end {
                window.push(append);
            }
        }
    });
}

/// Fills `dir` with the fixture log.
pub fn build_fixture(dir: &Path) {
    let policy = projections::time::DuePolicy::default();
    let actors = demo::DemoActors::standard();
    let mut appends = demo::generate(at(NOW), 1, &actors, &policy);
    appends.extend(hand_made());
    // Duty debriefs: streams of their own in the same log, which no return may count.
    appends.extend(demo::duty_debriefs(at(NOW), 1, &actors, &policy));
    // Professional consultations likewise, one of them followed by a contact.
    let consultations = demo::consultations(at(NOW), 1, &actors, &policy, &mut appends);
    appends.extend(consultations);
    let log = EventLog::open(dir).unwrap();
    append_all(&log, appends);
    log.shutdown();
}

/// The fixture, built once per test binary: a data directory (never opened by the tests
/// themselves: the log allows one process at a time, so each test copies it) and its export.
fn fixture_root() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Under the target directory (a static is never dropped, so a temporary directory
        // would be left behind); rebuilt on every run.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        let data = dir.join("data");
        build_fixture(&data);
        let mut out = std::fs::File::create(dir.join("export.jsonl")).unwrap();
        replay::export::export(&replay::Source::DataDir(data), &mut out).unwrap();
        dir
    })
}

/// The fixture's export (read-only, shared by the tests).
pub fn fixture_file() -> PathBuf {
    fixture_root().join("export.jsonl")
}

/// A private copy of the fixture's data directory.
pub fn fixture_copy(into: &Path) -> PathBuf {
    let dst = into.join("data");
    copy_dir(&fixture_root().join("data"), &dst);
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

/// Runs `frontdoor-replay` with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run frontdoor-replay")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Runs `frontdoor-replay` with `args` under `umask` (e.g. "022", a login shell's), through
/// `sh -c 'umask …; exec …'`.
pub fn run_with_umask(umask: &str, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .output()
        .expect("run frontdoor-replay under sh")
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `path` and everything under it, with the permission bits of each.
pub fn modes_under(path: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![(path.to_path_buf(), mode(path))];
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            out.extend(modes_under(&entry.unwrap().path()));
        }
    }
    out
}

/// The names in a directory, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// "Yesterday's backup": a shorter export that verifies (the fixture's export without its
/// last 50 events), written to `path` with mode 0644 as a shell would have left it.
pub fn older_backup(path: &Path) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt;
    let text = std::fs::read_to_string(fixture_file()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let older = lines[..lines.len() - 50].join("\n") + "\n";
    std::fs::write(path, &older).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    older.into_bytes()
}
