//! Helpers shared by the log's integration tests.
#![allow(dead_code)]

use chrono::Utc;
use eventlog::{Actor, AppendRequest, NewEvent, Role};
use events::schema::{Agency, Event, NoteAdded};
use ulid::Ulid;

pub fn actor() -> Actor {
    Actor { id: "sw-test".into(), role: Role::Practitioner, agency: Agency::ChildrensSocialCare, team: None }
}

pub fn note(text: &str) -> NewEvent {
    NewEvent::new(&Event::NoteAdded(NoteAdded { text: text.into() }), Utc::now(), actor())
}

/// An append of `n` notes to `contact`.
pub fn notes(contact: Ulid, n: usize, expected_version: Option<u32>) -> AppendRequest {
    AppendRequest {
        contact_id: contact,
        events: (0..n).map(|i| note(&format!("note {i}"))).collect(),
        expected_version,
        idempotency: None,
    }
}
