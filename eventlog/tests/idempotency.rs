//! Reading an idempotency key's stored result: what an append with the key would answer, asked
//! without writing anything, and the same answer after a restart.

mod common;

use eventlog::{AppendError, EventLog, Idempotency};
use ulid::Ulid;

#[test]
fn a_used_key_reads_back_its_first_result_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let contact = Ulid::new();
    let key = Idempotency::new("client-1/k1", b"two notes");
    let mut first = common::notes(contact, 2, Some(0));
    first.idempotency = Some(key.clone());

    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.idempotent_result(&key).unwrap(), None, "a key never used has no result");
    let done = log.append_blocking(first).unwrap();
    let head = log.head();

    let stored = log.idempotent_result(&key).unwrap().expect("the key was used");
    assert!(stored.replayed);
    assert_eq!(stored.envelopes, done.envelopes, "the first append's envelopes, both of them");
    assert_eq!(log.head(), head, "reading the key wrote nothing");

    let other_body = Idempotency::new("client-1/k1", b"something else");
    assert!(matches!(log.idempotent_result(&other_body), Err(AppendError::IdempotencyMismatch)));
    let other_key = Idempotency::new("client-1/k2", b"two notes");
    assert_eq!(log.idempotent_result(&other_key).unwrap(), None, "keys are not confused");

    log.shutdown();
    drop(log);
    let reopened = EventLog::open(dir.path()).unwrap();
    let after = reopened.idempotent_result(&key).unwrap().expect("still used after a restart");
    assert_eq!(after.envelopes, done.envelopes);
}
