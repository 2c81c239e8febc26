//! Concurrent writers and catch-up subscribers.

#![allow(clippy::cast_possible_truncation)] // small test counts

mod common;

use std::sync::Arc;

use eventlog::{AppendError, EventLog, Options};
use tokio::sync::Barrier;
use ulid::Ulid;

/// 32 tasks race for the same version of one contact, round after round: exactly one wins
/// each round, the others get a conflict naming the new version, and positions stay gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_racers_one_winner_per_version() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let contact = Ulid::new();
    log.append(common::notes(contact, 1, Some(0))).await.unwrap();

    const RACERS: usize = 32;
    const ROUNDS: u32 = 10;
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let log = log.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for round in 0..ROUNDS {
                barrier.wait().await;
                let expected = round + 1;
                results.push((expected, log.append(common::notes(contact, 1, Some(expected))).await));
                barrier.wait().await;
            }
            results
        }));
    }
    let mut winners = vec![0; ROUNDS as usize];
    let mut conflicts = 0;
    for task in tasks {
        for (expected, result) in task.await.unwrap() {
            match result {
                Ok(a) => {
                    assert_eq!(a.envelopes[0].version, expected + 1);
                    winners[(expected - 1) as usize] += 1;
                }
                Err(AppendError::Conflict { current_version, .. }) => {
                    assert_eq!(current_version, expected + 1, "the conflict names the winner's version");
                    conflicts += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
    assert_eq!(winners, vec![1; ROUNDS as usize], "exactly one winner per version");
    assert_eq!(conflicts, (RACERS - 1) * ROUNDS as usize);
    let all = log.read_all(0, 1000).unwrap();
    assert_eq!(all.len(), 1 + ROUNDS as usize);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1, "positions gapless");
        assert_eq!(e.version, i as u32 + 1, "versions gapless");
    }
    log.verify().unwrap();
}

/// Many writers retrying on conflict all get their events in, with no gap anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retrying_writers_all_get_through_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let contact = Ulid::new();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..5 {
                loop {
                    let current = log.contact_version(contact).unwrap();
                    match log.append(common::notes(contact, 1, Some(current))).await {
                        Ok(_) => break,
                        Err(AppendError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = log.read_contact(contact).unwrap();
    assert_eq!(events.len(), 160);
    assert!(events.iter().enumerate().all(|(i, e)| e.version == i as u32 + 1));
    assert_eq!(log.verify().unwrap().events, 160);
}

/// A subscriber from the middle gets the stored tail, then live events, each once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_catches_up_then_follows_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let contact = Ulid::new();
    for _ in 0..50 {
        log.append(common::notes(contact, 2, None)).await.unwrap();
    }
    let mut sub = log.subscribe(40);
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                log.append(common::notes(Ulid::new(), 1, Some(0))).await.unwrap();
            }
        })
    };
    let mut positions = Vec::new();
    while positions.len() < 160 {
        let env = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next()).await.unwrap().unwrap();
        positions.push(env.position);
    }
    writer.await.unwrap();
    assert_eq!(positions, (41..=200).collect::<Vec<u64>>());
    assert!(sub.try_next().unwrap().is_none(), "nothing more than what was written");
}

/// A subscriber that stops reading while the broadcast overflows still gets every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_falls_back_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open_with(dir.path(), &Options { broadcast_capacity: 2, ..Options::default() }).unwrap();
    let mut sub = log.subscribe(0);
    for _ in 0..40 {
        log.append(common::notes(Ulid::new(), 1, Some(0))).await.unwrap();
    }
    let mut positions = Vec::new();
    for _ in 0..40 {
        positions.push(sub.next().await.unwrap().position);
    }
    assert_eq!(positions, (1..=40).collect::<Vec<u64>>());
}

/// Readers never see an append before it is acknowledged, and a closed log says so.
#[tokio::test]
async fn shutdown_finishes_queued_appends_then_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let a = log.append(common::notes(Ulid::new(), 3, Some(0))).await.unwrap();
    assert_eq!(a.envelopes.len(), 3);
    log.shutdown();
    assert_eq!(log.append(common::notes(Ulid::new(), 1, None)).await, Err(AppendError::Closed));
    drop(log);
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.head().position, 3);
    assert_eq!(log.read_all(0, 10).unwrap(), a.envelopes);
}

#[tokio::test]
async fn an_empty_append_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let err = log.append(common::notes(Ulid::new(), 0, None)).await.unwrap_err();
    assert!(matches!(err, AppendError::Invalid(_)));
    assert_eq!(log.head().position, 0);
}

#[tokio::test]
async fn reads_of_a_contact_are_kept_in_time_order_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let contact = Ulid::new();
    let other = Ulid::new();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for (i, action) in ["read_contact", "read_events", "read_audit"].iter().enumerate() {
            let entry = eventlog::AccessEntry {
                at: chrono::Utc::now() + chrono::Duration::milliseconds(i as i64),
                actor: common::actor(),
                action: (*action).into(),
                endpoint: format!("/v1/contacts/{contact}"),
            };
            log.record_access(contact, &entry).await.unwrap();
        }
        log.record_access(
            other,
            &eventlog::AccessEntry {
                at: chrono::Utc::now(),
                actor: common::actor(),
                action: "read_contact".into(),
                endpoint: String::new(),
            },
        )
        .await
        .unwrap();
        log.shutdown();
    }
    let log = EventLog::open(dir.path()).unwrap();
    let actions: Vec<String> = log.read_access(contact).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["read_contact", "read_events", "read_audit"]);
    assert_eq!(log.read_access(other).unwrap().len(), 1);
}
