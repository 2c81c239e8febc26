//! Builds a large log for the rebuild rate check: the demo county repeated (each copy four
//! weeks later, with its own seed) until it holds `REPLAY_RATE_EVENTS` events (default
//! 1,000,000), restored into `REPLAY_RATE_DIR` with `eventlog::import`. Ignored by default:
//!
//! ```sh
//! REPLAY_RATE_DIR=/tmp/big cargo test --release -p replay --test rate -- --ignored
//! frontdoor-replay rebuild --data-dir /tmp/big
//! ```

use chrono::{Duration, SubsecRound};
use eventlog::{Envelope, Hash};
use events::schema::CURRENT_SCHEMA_VERSION;

#[test]
#[ignore = "builds a large log for the rate check; run by hand"]
fn build_a_large_log() {
    let Some(dir) = std::env::var_os("REPLAY_RATE_DIR") else {
        eprintln!("set REPLAY_RATE_DIR");
        return;
    };
    let target: u64 = std::env::var("REPLAY_RATE_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let policy = projections::time::DuePolicy::default();
    let actors = demo::DemoActors::standard();
    let start: chrono::DateTime<chrono::Utc> = "2026-03-20T12:00:00Z".parse().unwrap();
    let mut envelopes: Vec<Envelope> = Vec::new();
    let mut prev = Hash::GENESIS;
    let mut recorded = start - Duration::days(400);
    let mut copy = 0i64;
    'copies: loop {
        let now = start + Duration::days(28 * copy);
        let appends = demo::generate(now, u64::try_from(copy).unwrap() + 1, &actors, &policy);
        for append in appends {
            let base = append.expected_version.unwrap_or(0);
            for (offset, new) in (1u32..).zip(append.events) {
                let at = new.recorded_at.unwrap_or(new.occurred_at).trunc_subsecs(3);
                recorded = recorded.max(at);
                let mut env = Envelope {
                    position: envelopes.len() as u64 + 1,
                    event_id: new.event_id,
                    contact_id: append.contact_id,
                    version: base + offset,
                    event_type: new.event_type,
                    schema_version: CURRENT_SCHEMA_VERSION,
                    occurred_at: new.occurred_at,
                    late_entry_reason: new.late_entry_reason,
                    recorded_at: recorded,
                    actor: new.actor,
                    data: new.data,
                    prev_hash: prev,
                    hash: Hash::GENESIS,
                };
                env.hash = env.compute_hash();
                prev = env.hash;
                envelopes.push(env);
            }
            if envelopes.len() as u64 >= target {
                break 'copies;
            }
        }
        copy += 1;
    }
    let report = eventlog::import::import_envelopes(std::path::Path::new(&dir), &envelopes).unwrap();
    eprintln!("{} events of {} contacts in {}", report.events, report.contacts, dir.to_string_lossy());
}
