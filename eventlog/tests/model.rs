//! Model-based test: random sequences of appends, conflicts, idempotent retries and restarts
//! against an in-memory model. After every step the log answers as the model does, and after
//! every sequence the whole log equals the model and its chain verifies.

#![allow(clippy::cast_possible_truncation)] // small test counts

mod common;

use std::collections::HashMap;

use eventlog::{AppendError, AppendRequest, EventLog, Idempotency};
use proptest::prelude::*;
use ulid::Ulid;

const CONTACTS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Append {
        contact: usize,
        events: usize,
        expect: Expect,
        /// An idempotency key from a small set, so keys are reused, sometimes with the same
        /// request and sometimes with another.
        key: Option<u8>,
    },
    Restart,
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Unchecked,
    Current,
    Stale,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..CONTACTS, 1..4usize, prop_oneof![Just(Expect::Unchecked), Just(Expect::Current), Just(Expect::Stale)],
              proptest::option::weighted(0.4, 0..4u8))
            .prop_map(|(contact, events, expect, key)| Op::Append { contact, events, expect, key }),
        1 => Just(Op::Restart),
    ]
}

/// What the model expects of an append.
#[derive(Debug, PartialEq)]
enum Outcome {
    Written(Vec<(u64, u32)>),
    Replayed(Vec<(u64, u32)>),
    Conflict(u32),
    Mismatch,
}

#[derive(Default)]
struct Model {
    /// (contact index, version) in position order.
    log: Vec<(usize, u32)>,
    versions: [u32; CONTACTS],
    /// key → (request fingerprint, positions and versions written).
    keys: HashMap<u8, (String, Vec<(u64, u32)>)>,
}

impl Model {
    fn append(&mut self, contact: usize, events: usize, expect: Expect, key: Option<(u8, String)>) -> Outcome {
        if let Some((k, fingerprint)) = &key
            && let Some((first, written)) = self.keys.get(k)
        {
            return if first == fingerprint { Outcome::Replayed(written.clone()) } else { Outcome::Mismatch };
        }
        let current = self.versions[contact];
        if let Expect::Stale = expect {
            return Outcome::Conflict(current);
        }
        let mut written = Vec::new();
        for _ in 0..events {
            self.versions[contact] += 1;
            self.log.push((contact, self.versions[contact]));
            written.push((self.log.len() as u64, self.versions[contact]));
        }
        if let Some((k, fingerprint)) = key {
            self.keys.insert(k, (fingerprint, written.clone()));
        }
        Outcome::Written(written)
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let contacts: Vec<Ulid> = (0..CONTACTS).map(|_| Ulid::new()).collect();
    let mut log = EventLog::open(dir.path()).unwrap();
    let mut model = Model::default();
    let mut ids_at: HashMap<u64, Ulid> = HashMap::new();

    for op in ops {
        match *op {
            Op::Restart => {
                log.shutdown();
                drop(log);
                log = EventLog::open(dir.path()).unwrap();
            }
            Op::Append { contact, events, expect, key } => {
                let fingerprint = format!("{contact}/{events}");
                let current = model.versions[contact];
                let mut request: AppendRequest = common::notes(
                    contacts[contact],
                    events,
                    match expect {
                        Expect::Unchecked => None,
                        Expect::Current => Some(current),
                        Expect::Stale => Some(current + 1),
                    },
                );
                request.idempotency = key.map(|k| Idempotency::new(format!("key-{k}"), fingerprint.as_bytes()));
                let expected = model.append(contact, events, expect, key.map(|k| (k, fingerprint)));
                let got = match log.append_blocking(request) {
                    Ok(a) => {
                        let pv: Vec<(u64, u32)> = a.envelopes.iter().map(|e| (e.position, e.version)).collect();
                        for e in &a.envelopes {
                            if a.replayed {
                                prop_assert_eq!(
                                    ids_at.get(&e.position),
                                    Some(&e.event_id),
                                    "replay returns the first events"
                                );
                            } else {
                                ids_at.insert(e.position, e.event_id);
                            }
                        }
                        if a.replayed { Outcome::Replayed(pv) } else { Outcome::Written(pv) }
                    }
                    Err(AppendError::Conflict { current_version, .. }) => Outcome::Conflict(current_version),
                    Err(AppendError::IdempotencyMismatch) => Outcome::Mismatch,
                    Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
                };
                prop_assert_eq!(got, expected);
            }
        }
        prop_assert_eq!(log.head().position, model.log.len() as u64);
    }

    // The whole log equals the model, globally and per contact, and verifies.
    let all = log.read_all(0, usize::MAX).unwrap();
    let seen: Vec<(usize, u32)> =
        all.iter().map(|e| (contacts.iter().position(|c| *c == e.contact_id).unwrap(), e.version)).collect();
    prop_assert_eq!(&seen, &model.log);
    for (i, e) in all.iter().enumerate() {
        prop_assert_eq!(e.position, i as u64 + 1);
        prop_assert_eq!(Some(&e.event_id), ids_at.get(&e.position));
    }
    for (i, c) in contacts.iter().enumerate() {
        let versions: Vec<u32> = log.read_contact(*c).unwrap().iter().map(|e| e.version).collect();
        prop_assert_eq!(versions, (1..=model.versions[i]).collect::<Vec<_>>());
        prop_assert_eq!(log.contact_version(*c).unwrap(), model.versions[i]);
    }
    let report = log.verify().unwrap();
    prop_assert_eq!(report.events, model.log.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_log_always_equals_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops)?;
    }
}
