//! The commands and the logged read without HTTP: given a contact's events, when a caller
//! records or reads, then what the log holds.

use chrono::Utc;
use eventlog::{Actor, EventLog, Role};
use events::schema::Agency;
use serde_json::json;

use super::{AppError, CreateContact, FrontDoor, Read, RecordEvent, Recorded};
use crate::auth::ReadKind;

fn actor(id: &str, role: Role) -> Actor {
    Actor { id: id.into(), role, agency: Agency::ChildrensSocialCare, team: None }
}

fn front_door() -> (tempfile::TempDir, FrontDoor) {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    (dir, FrontDoor::new(log, Default::default()))
}

fn contact_body() -> Vec<u8> {
    json!({
        "channel": "phone",
        "source": "2A",
        "referrer": {"name": "Jo Teacher", "organisation": "Hillside Primary", "role": "DSL"},
        "children": [{"name": "Sam Example", "date_of_birth": "2017-05-04", "sex": "M"}],
        "concerns": "Bruising on the upper arm, explanation inconsistent.",
        "consent": "given"
    })
    .to_string()
    .into_bytes()
}

fn decision() -> Vec<u8> {
    json!({"type": "decision_made", "data": {"outcome": "early_help", "rationale": "Needs support below threshold.",
        "level_of_need": 2, "primary_need": "N4"}})
    .to_string()
    .into_bytes()
}

async fn received(front_door: &FrontDoor) -> String {
    let referrer = actor("referrer-1", Role::Referrer);
    let command = CreateContact::parse(&referrer, &contact_body(), None, Utc::now()).unwrap();
    let recorded = front_door.create_contact(&referrer, command, Utc::now()).await.unwrap();
    recorded.envelope.contact_id.to_string()
}

async fn record(
    front_door: &FrontDoor,
    who: &Actor,
    id: &str,
    body: &[u8],
    key: Option<&str>,
) -> Result<Recorded, AppError> {
    let now = Utc::now();
    let command = RecordEvent::parse(who, id, body, key, now)?;
    front_door.record_event(who, command, now).await
}

#[tokio::test]
async fn a_repeated_key_replays_a_decision_the_rules_now_refuse() {
    let (_dir, front_door) = front_door();
    let id = received(&front_door).await;
    let dm = actor("dm-1", Role::DecisionMaker);

    let first = record(&front_door, &dm, &id, &decision(), Some("k1")).await.unwrap();
    assert!(!first.replayed);
    let head = front_door.log().head();

    // The contact is decided now, so the same decision again breaks a rule: with its key it is
    // the first request repeated, and gets the first answer.
    let again = record(&front_door, &dm, &id, &decision(), Some("k1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.envelope, first.envelope);
    assert_eq!(front_door.log().head(), head, "nothing was written");

    // Without a key, or with a key never used, it is the rule that answers.
    for key in [None, Some("k2")] {
        match record(&front_door, &dm, &id, &decision(), key).await {
            Err(AppError::RuleBroken { rule: "revision-needs-revises", .. }) => {}
            other => panic!("{key:?}: expected the rule, got {other:?}"),
        }
    }
    // The key used with another request is a mismatch, not a replay.
    let other = json!({"type": "decision_made", "data": {"outcome": "early_help", "rationale": "Another reason.",
        "level_of_need": 2, "primary_need": "N4"}});
    let reused = record(&front_door, &dm, &id, other.to_string().as_bytes(), Some("k1")).await;
    assert!(matches!(reused, Err(AppError::IdempotencyMismatch)), "{reused:?}");
    assert_eq!(front_door.log().head(), head, "still nothing written");
    assert_eq!(front_door.log().read_contact(id.parse().unwrap()).unwrap().len(), 2);
}

#[tokio::test]
async fn refusals_come_in_the_order_the_api_answers_them() {
    let (_dir, front_door) = front_door();
    let id = received(&front_door).await;
    let dm = actor("dm-1", Role::DecisionMaker);

    // A role that may append nothing is refused before its contact id or body is looked at.
    let parsed = RecordEvent::parse(&actor("monitor-1", Role::Monitor), "not-a-ulid", b"{", None, Utc::now());
    assert!(matches!(parsed, Err(AppError::Forbidden(_))), "{parsed:?}");
    assert!(matches!(RecordEvent::parse(&dm, "not-a-ulid", b"{", None, Utc::now()), Err(AppError::NotFound(_))));
    assert!(matches!(RecordEvent::parse(&dm, &id, b"{", None, Utc::now()), Err(AppError::Malformed(_))));

    let stale = json!({"type": "note_added", "expected_version": 7, "data": {"text": "x"}});
    match record(&front_door, &dm, &id, stale.to_string().as_bytes(), None).await {
        Err(AppError::Conflict { expected: 7, current_version: 1 }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    let unknown = ulid::Ulid::new().to_string();
    let note = json!({"type": "note_added", "data": {"text": "x"}}).to_string();
    assert!(matches!(record(&front_door, &dm, &unknown, note.as_bytes(), None).await, Err(AppError::NotFound(_))));
}

#[tokio::test]
async fn every_read_is_logged_once_and_a_refused_read_as_refused() {
    let (_dir, front_door) = front_door();
    let id = received(&front_door).await;
    let contact = id.parse().unwrap();
    let auditor = actor("auditor-1", Role::Auditor);
    let read = |kind, action| Read { kind, action, endpoint: "/somewhere" };

    let first =
        front_door.read_contact_logged(&auditor, read(ReadKind::Contact, "read_contact"), &id, Utc::now()).await;
    let first = first.unwrap();
    assert_eq!(first.state.map(|s| s.version), Some(1));
    assert_eq!(front_door.log().read_access(contact).unwrap(), vec![first.logged.clone()]);

    // An audit read shows the access log as it was before it, and adds itself.
    let audit =
        front_door.read_contact_logged(&auditor, read(ReadKind::ContactAudit, "read_audit"), &id, Utc::now()).await;
    let audit = audit.unwrap();
    assert_eq!(audit.access, vec![first.logged.clone()]);
    assert_eq!(front_door.log().read_access(contact).unwrap(), vec![first.logged, audit.logged]);

    // A receiving team not named by a handover does not learn the contact exists; a role that
    // may not read audits is refused (403), and that refusal is logged as such.
    let team = Actor { team: Some("Early Help South".into()), ..actor("eh-1", Role::ReceivingTeam) };
    let refused = front_door.read_contact_logged(&team, read(ReadKind::Contact, "read_contact"), &id, Utc::now()).await;
    assert!(matches!(refused, Err(AppError::NotFound(_))), "{refused:?}");
    let referrer = actor("referrer-1", Role::Referrer);
    let refused =
        front_door.read_contact_logged(&referrer, read(ReadKind::ContactAudit, "read_audit"), &id, Utc::now()).await;
    assert!(matches!(refused, Err(AppError::Forbidden(_))), "{refused:?}");
    let logged = front_door.log().read_access(contact).unwrap();
    assert_eq!(logged.len(), 4);
    assert_eq!((logged[2].action.as_str(), logged[2].actor.id.as_str()), ("read_contact_refused", "eh-1"));
    assert_eq!((logged[3].action.as_str(), logged[3].actor.id.as_str()), ("read_audit_refused", "referrer-1"));
}

#[tokio::test]
async fn a_command_starts_from_the_logs_state_even_after_a_write_that_bypassed_it() {
    let (_dir, front_door) = front_door();
    let id = received(&front_door).await;
    let dm = actor("dm-1", Role::DecisionMaker);
    let note = |text: &str| json!({"type": "note_added", "data": {"text": text}}).to_string().into_bytes();

    // The first command folds the log; its result is kept for the next.
    let first = record(&front_door, &dm, &id, &note("one"), None).await.unwrap();
    assert_eq!(first.envelope.version, 2);

    // A decision appended to the log directly, not through the commands.
    let contact = id.parse().unwrap();
    let decided = events::schema::Event::DecisionMade(
        serde_json::from_slice::<serde_json::Value>(&decision())
            .map(|v| serde_json::from_value(v["data"].clone()).unwrap())
            .unwrap(),
    );
    front_door
        .log()
        .append(eventlog::AppendRequest {
            contact_id: contact,
            events: vec![eventlog::NewEvent::new(&decided, Utc::now(), dm.clone())],
            expected_version: Some(2),
            idempotency: None,
        })
        .await
        .unwrap();

    // The next command sees it: a stale expected version is a conflict, and a second decision
    // breaks the rule, so the kept state (undecided, version 2) was not used.
    let stale = json!({"type": "note_added", "expected_version": 2, "data": {"text": "two"}}).to_string().into_bytes();
    match record(&front_door, &dm, &id, &stale, None).await {
        Err(AppError::Conflict { expected: 2, current_version: 3 }) => {}
        other => panic!("expected a conflict at version 3, got {other:?}"),
    }
    match record(&front_door, &dm, &id, &decision(), None).await {
        Err(AppError::RuleBroken { .. }) => {}
        other => panic!("expected the rule against a second decision, got {other:?}"),
    }
    let next = record(&front_door, &dm, &id, &note("three"), None).await.unwrap();
    assert_eq!(next.envelope.version, 4);
}
