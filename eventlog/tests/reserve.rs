//! The free-space reserve: below it, appends are refused before anything is written, and
//! repeats of appends already durable still get their first result.

mod common;

use eventlog::{AppendError, EventLog, Idempotency, Options};
use ulid::Ulid;

#[test]
fn below_the_reserve_nothing_is_written_and_repeats_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let contact = Ulid::new();
    let mut first = common::notes(contact, 2, Some(0));
    first.idempotency = Some(Idempotency::new("k1", b"first"));
    let head = {
        let log = EventLog::open(dir.path()).unwrap();
        let done = log.append_blocking(first.clone()).unwrap();
        assert_eq!(done.envelopes.len(), 2);
        log.shutdown();
        log.head()
    };

    // Every file system has less free space than this.
    let full = Options { min_free_bytes: u64::MAX, ..Options::default() };
    let log = EventLog::open_with(dir.path(), &full).unwrap();
    match log.append_blocking(common::notes(contact, 1, Some(2))) {
        Err(AppendError::Storage { disk_full: true, message }) => assert!(message.contains("reserve"), "{message}"),
        other => panic!("expected a disk-full refusal, got {other:?}"),
    }
    assert_eq!(log.head(), head, "the head did not move");
    assert_eq!(log.read_contact(contact).unwrap().len(), 2, "nothing was written");
    assert_eq!(log.contact_version(contact).unwrap(), 2);

    // A retry of the acknowledged append writes nothing, so it still gets its first result.
    let again = log.append_blocking(first).unwrap();
    assert!(again.replayed);
    assert_eq!(again.envelopes.len(), 2);

    // Reads of a child's record cannot be logged either, so they are refused too.
    let entry = eventlog::AccessEntry {
        at: chrono::Utc::now(),
        actor: common::actor(),
        action: "read_contact".into(),
        endpoint: "/v1/contacts".into(),
    };
    assert!(matches!(log.record_access_blocking(contact, &entry), Err(eventlog::LogError::Storage(_))));
    log.shutdown();
    drop(log);

    // Space back (here: the ordinary reserve): the same append goes through, at version 3.
    let log = EventLog::open(dir.path()).unwrap();
    let done = log.append_blocking(common::notes(contact, 1, Some(2))).unwrap();
    assert_eq!(done.envelopes[0].version, 3);
    assert_eq!(done.envelopes[0].position, head.position + 1);
    log.record_access_blocking(contact, &entry).unwrap();
    assert_eq!(log.verify().unwrap().events, 3);
}
