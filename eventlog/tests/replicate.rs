//! The replication hook: a group the replicated log refuses is cut off and never served; a
//! standby's verbatim appends reproduce the primary's chain byte for byte and refuse anything
//! that does not continue it; records beyond the replicated log are moved into a quarantine
//! file.

mod common;

use std::sync::{Arc, Mutex};

use eventlog::replicate::{self, ReplicaAppend, Replicate, ReplicateError};
use eventlog::{AppendError, EventLog, Idempotency, Options};
use ulid::Ulid;

/// A replicated log held in memory, which can be switched off.
#[derive(Debug, Default)]
struct Memory {
    taken: Mutex<Vec<ReplicaAppend>>,
    down: Mutex<Option<ReplicateError>>,
    refuse_publish: Mutex<bool>,
}

impl Replicate for Memory {
    fn admit(&self) -> Result<(), ReplicateError> {
        self.down.lock().unwrap().clone().map_or(Ok(()), Err)
    }
    fn replicate(&self, appends: &[ReplicaAppend]) -> Result<(), ReplicateError> {
        if *self.refuse_publish.lock().unwrap() {
            return Err(ReplicateError::Unavailable("no quorum".into()));
        }
        self.taken.lock().unwrap().extend_from_slice(appends);
        Ok(())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn a_refused_group_is_cut_off_and_the_next_one_takes_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(Memory::default());
    let options = Options { replicator: Some(memory.clone()), ..Options::default() };
    let log = EventLog::open_with(dir.path(), &options).unwrap();
    let contact = Ulid::new();
    let mut first = common::notes(contact, 2, Some(0));
    first.idempotency = Some(Idempotency::new("k1", b"first"));
    log.append_blocking(first).unwrap();
    assert_eq!(memory.taken.lock().unwrap().len(), 1);
    assert!(memory.taken.lock().unwrap()[0].idempotency.is_some(), "the key's hash travels with the append");
    let head = log.head();

    // Published but not taken: refused, cut off, not visible.
    *memory.refuse_publish.lock().unwrap() = true;
    match log.append_blocking(common::notes(contact, 1, Some(2))) {
        Err(AppendError::Replication(ReplicateError::Unavailable(why))) => assert!(why.contains("quorum")),
        other => panic!("expected a replication refusal, got {other:?}"),
    }
    assert_eq!(log.head(), head);
    assert_eq!(log.read_contact(contact).unwrap().len(), 2);

    // Not admitted: nothing written at all.
    *memory.refuse_publish.lock().unwrap() = false;
    *memory.down.lock().unwrap() = Some(ReplicateError::NotPrimary("node b is".into()));
    assert!(matches!(
        log.append_blocking(common::notes(contact, 1, Some(2))),
        Err(AppendError::Replication(ReplicateError::NotPrimary(_)))
    ));
    assert_eq!(log.head(), head);

    // Back: the next append takes the refused one's position, and the chain verifies.
    *memory.down.lock().unwrap() = None;
    let done = log.append_blocking(common::notes(contact, 1, Some(2))).unwrap();
    assert_eq!(done.envelopes[0].position, head.position + 1);
    assert_eq!(done.envelopes[0].prev_hash, head.hash);
    log.shutdown();
    drop(log);
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.verify().unwrap().events, 3);
}

#[test]
fn a_standby_reproduces_the_chain_and_refuses_what_does_not_continue_it() {
    let rt = runtime();
    let primary_dir = tempfile::tempdir().unwrap();
    let standby_dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(Memory::default());
    let primary =
        EventLog::open_with(primary_dir.path(), &Options { replicator: Some(memory.clone()), ..Options::default() })
            .unwrap();
    let contacts = [Ulid::new(), Ulid::new()];
    for round in 0..3u32 {
        for contact in contacts {
            let mut append = common::notes(contact, 2, Some(round * 2));
            append.idempotency = Some(Idempotency::new(format!("{contact}-{round}"), b"body"));
            primary.append_blocking(append).unwrap();
        }
    }
    let taken = memory.taken.lock().unwrap().clone();
    assert_eq!(taken.len(), 6);

    let standby = EventLog::open(standby_dir.path()).unwrap();
    rt.block_on(async {
        // Out of order: the second append first. Nothing written.
        match standby.append_replica(taken[1].clone()).await {
            Err(AppendError::Diverged(why)) => assert!(why.contains("position 3"), "{why}"),
            other => panic!("expected a divergence, got {other:?}"),
        }
        assert_eq!(standby.head().position, 0);
        // A record changed in transit: its hash no longer matches its body.
        let mut tampered = taken[0].clone();
        tampered.envelopes[1].occurred_at += chrono::Duration::seconds(1);
        assert!(matches!(standby.append_replica(tampered).await, Err(AppendError::Diverged(_))));
        assert_eq!(standby.head().position, 0);
        for append in &taken {
            standby.append_replica(append.clone()).await.unwrap();
        }
    });
    assert_eq!(standby.head(), primary.head(), "same positions, same chain");
    assert_eq!(standby.read_all(0, 100).unwrap(), primary.read_all(0, 100).unwrap());
    // The idempotency keys came along: a retry on the standby replays the first result.
    let mut retry = common::notes(contacts[0], 2, Some(0));
    retry.idempotency = Some(Idempotency::new(format!("{}-0", contacts[0]), b"body"));
    let again = standby.append_blocking(retry).unwrap();
    assert!(again.replayed);
    assert_eq!(again.envelopes[0].position, 1);
    assert_eq!(standby.verify().unwrap().events, 12);
}

#[test]
fn records_beyond_the_replicated_log_are_quarantined_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let contact = Ulid::new();
    let kept = {
        let log = EventLog::open_with(dir.path(), &Options { segment_bytes: 1024, ..Options::default() }).unwrap();
        for v in 0..10u32 {
            log.append_blocking(common::notes(contact, 1, Some(v))).unwrap();
        }
        let kept = log.get(4).unwrap().unwrap();
        log.shutdown();
        kept
    };
    let file = replicate::quarantine_after(dir.path(), 4).unwrap().expect("records moved aside");
    assert_eq!(replicate::quarantine_files(dir.path()), vec![file.clone()]);
    // The quarantine file is a segment: header first position 5, linked to position 4's hash.
    let bytes = std::fs::read(&file).unwrap();
    let header = eventlog::segment::SegmentHeader::decode(&bytes[..64]).unwrap();
    assert_eq!((header.first_position, header.prev_hash), (5, kept.hash));
    assert!(bytes.len() > 64 + 6 * 100, "six records in it");

    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.head().position, 4);
    assert_eq!(log.head().hash, kept.hash);
    assert_eq!(log.contact_version(contact).unwrap(), 4, "the index was rebuilt from what is left");
    let next = log.append_blocking(common::notes(contact, 1, Some(4))).unwrap();
    assert_eq!(next.envelopes[0].position, 5);
    assert_eq!(log.verify().unwrap().events, 5);
    log.shutdown();
    drop(log);
    assert_eq!(replicate::quarantine_after(dir.path(), 5).unwrap(), None, "nothing beyond the head");
}
