//! How long the request validator takes per body, in release: `cargo run --release --example
//! validate_timing`. Quoted in docs/DECISIONS.md (one description of the schema); a timing, not
//! a test, so it asserts only that the bodies it times are accepted.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use frontdoor::validate::{parse_event_request, parse_new_contact};
use serde_json::json;

fn main() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let events: Vec<Vec<u8>> = (0..3000)
        .map(|i| {
            let body = match i % 4 {
                0 => json!({"type": "note_added", "data": {"text": format!("  note {i}  ")}, "expected_version": i}),
                1 => json!({"type": "decision_made", "data": {"outcome": "assessment", "rationale": format!("s17 {i}"),
                    "level_of_need": 4, "primary_need": "N1"}}),
                2 => json!({"type": "duty_discussion_held", "data": {"participants": [
                    {"name": "Sam Duty", "role": "team manager", "agency": "childrens_social_care"},
                    {"name": "PC Jones", "role": "MASH officer", "agency": "police"}],
                    "summary": format!("discussed {i}"), "needs": ["housing", "DA"], "recommendation": "assessment"}}),
                _ => json!({"type": "call_logged", "data": {"direction": "inbound", "with": "referrer",
                    "started_at": "2026-03-02T09:00:00Z", "duration_seconds": 300, "summary": format!("call {i}")},
                    "occurred_at": "2026-03-02T09:05:00Z"}),
            };
            serde_json::to_vec(&body).unwrap()
        })
        .collect();
    let contacts: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            serde_json::to_vec(&json!({"channel": "phone", "source": "2A",
                "referrer": {"name": "A Teacher", "organisation": "Hill School", "phone": "0115 496 0000",
                    "email": "teacher@school.example.org"},
                "children": [{"name": format!("Child {i}"), "date_of_birth": "2018-05-01", "sex": "F",
                    "nhs_number": "943 476 5919", "upn": "b801200005001"}, {"name": "Sibling"}],
                "concerns": "Bruising on arm.", "consent": "given"}))
            .unwrap()
        })
        .collect();
    let rounds = 15;
    let mut event_ns = Vec::new();
    let mut contact_ns = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        for body in &events {
            assert!(parse_event_request(std::hint::black_box(body), now).is_ok());
        }
        event_ns.push(start.elapsed().as_nanos() / events.len() as u128);
        let start = Instant::now();
        for body in &contacts {
            assert!(parse_new_contact(std::hint::black_box(body), now).is_ok());
        }
        contact_ns.push(start.elapsed().as_nanos() / contacts.len() as u128);
    }
    event_ns.sort_unstable();
    contact_ns.sort_unstable();
    println!(
        "parse_event_request: median {} ns/body (min {}, max {}) over {rounds} rounds of {} bodies",
        event_ns[rounds / 2],
        event_ns[0],
        event_ns[rounds - 1],
        events.len()
    );
    println!(
        "parse_new_contact:   median {} ns/body (min {}, max {}) over {rounds} rounds of {} bodies",
        contact_ns[rounds / 2],
        contact_ns[0],
        contact_ns[rounds - 1],
        contacts.len()
    );
}
