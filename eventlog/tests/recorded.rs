//! `recorded_at`: the writer's clock for every API write; an in-process migration (the demo)
//! may give its own, past, times, which the log keeps, never decreasing by position, across
//! restarts too.

mod common;

use chrono::{DateTime, Utc};
use eventlog::{AppendRequest, EventLog};
use ulid::Ulid;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// One note to `contact`, recorded at `recorded_at` (the writer's clock when `None`).
fn note_recorded(contact: Ulid, version: u32, recorded_at: Option<&str>) -> AppendRequest {
    let mut event = common::note("n");
    event.occurred_at = at("2026-01-05T09:00:00Z");
    event.recorded_at = recorded_at.map(at);
    AppendRequest { contact_id: contact, events: vec![event], expected_version: Some(version), idempotency: None }
}

#[tokio::test]
async fn a_migrations_past_recorded_at_is_kept_on_an_empty_log_and_never_decreases() {
    let dir = tempfile::tempdir().unwrap();
    let contact = Ulid::new();
    let recorded = |log: &EventLog, append| {
        let log = log.clone();
        async move { log.append(append).await.unwrap().envelopes[0].recorded_at }
    };

    let log = EventLog::open(dir.path()).unwrap();
    // The first event of an empty log keeps the migration's time (it was once clamped to
    // the writer's clock, and every later event with it).
    let first = recorded(&log, note_recorded(contact, 0, Some("2026-01-05T09:10:00Z"))).await;
    assert_eq!(first, at("2026-01-05T09:10:00Z"));
    assert_eq!(
        recorded(&log, note_recorded(contact, 1, Some("2026-01-06T10:00:00Z"))).await,
        at("2026-01-06T10:00:00Z")
    );
    // Earlier than the last: clamped to it.
    assert_eq!(
        recorded(&log, note_recorded(contact, 2, Some("2026-01-05T12:00:00Z"))).await,
        at("2026-01-06T10:00:00Z")
    );
    log.shutdown();
    drop(log);

    // After a restart the last recorded time still bounds the next; the writer's clock
    // (an API write) is later than any of them.
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(
        recorded(&log, note_recorded(contact, 3, Some("2026-01-01T00:00:00Z"))).await,
        at("2026-01-06T10:00:00Z")
    );
    let before = Utc::now();
    assert!(recorded(&log, note_recorded(contact, 4, None)).await >= before - chrono::TimeDelta::seconds(1));
    log.shutdown();
}
