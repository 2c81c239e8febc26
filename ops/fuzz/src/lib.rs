//! The checks behind the fuzz targets in `fuzz_targets/`: each takes the fuzzer's bytes and
//! asserts invariants (not only "no panic"); a failed assertion is a crash libFuzzer keeps.
//!
//! - [`record`]: the stored-record decoder (`eventlog::record::decode_record`) and the
//!   envelope's canonical body, hash and export line.
//! - [`schema`]: `events::schema::decode`, the upcasting seam every reader goes through.
//! - [`new_contact`], [`event_request`]: the request validators of `POST /v1/contacts` and
//!   `POST /v1/contacts/{id}/events`.
//! - [`near_json`]: near-valid JSON built from the schema's own vocabulary (the `arbitrary`
//!   crate), so the validators are reached past the JSON parser.
//!
//! The schema, the envelope and the request validators come from the pure `events` crate; the
//! record framing from `eventlog` without its storage (no sled, no tokio).

use chrono::{DateTime, Utc};
use eventlog::record::{decode_record, encode_record_parts};
use events::envelope::{Envelope, Hash};
use events::schema::{self, CURRENT_SCHEMA_VERSION};
use events::{Event, EventType};
use events::validate::{self, Invalid, MAX_ERRORS};
use serde_json::value::RawValue;

pub mod near_json;

/// The validators' clock: fixed, so a crash reproduces, and after the seed corpus's dates.
pub fn now() -> DateTime<Utc> {
    "2026-12-01T00:00:00Z".parse().expect("a valid timestamp")
}

/// The stored-record decoder.
///
/// Input: 4 control bytes, then a record body. The body gets a correct checksum (random bytes
/// would almost never pass a CRC-32, and the body is what is worth fuzzing); the raw input is
/// also decoded as a whole record. For a body that decodes:
///
/// 1. the canonical body is a fixed point: encoded with its recomputed hash it decodes to the
///    same envelope, whose canonical body is the same bytes;
/// 2. the export line (the API's envelope JSON) parses back to the same envelope;
/// 3. `data` decodes or is refused without a panic;
/// 4. a byte of the valid record changed (control bytes 0-1 pick it, byte 2 the bits) is
///    refused by the checksum; and with the checksum recomputed (a deliberate edit, control
///    byte 3), the record is either refused or its hash no longer matches, unless the content
///    it decodes to is exactly the original: an edit is never accepted as different content.
pub fn record(input: &[u8]) {
    let _ = decode_record(input);
    if input.len() < 4 {
        return;
    }
    let (control, body) = input.split_at(4);
    let Ok(mut env) = decode_record(&encode_record_parts(&Hash::GENESIS, body)) else {
        return;
    };
    let _ = env.event();

    let canonical = env.canonical_body();
    env.hash = env.compute_hash();
    let valid = encode_record_parts(&env.hash, &canonical);
    let back = decode_record(&valid).expect("a canonical record decodes");
    assert_eq!(back, env, "the canonical record decodes to the same envelope");
    assert_eq!(back.canonical_body(), canonical, "the canonical body is a fixed point");
    assert_eq!(back.compute_hash(), back.hash);

    let line = serde_json::to_string(&env).expect("an envelope serialises");
    let from_line: Envelope = serde_json::from_str(&line).expect("an export line parses back");
    assert_eq!(from_line, env, "the export line parses back to the same envelope");
    assert_eq!(from_line.compute_hash(), env.hash, "the export line's hash recomputes");

    let at = usize::from(u16::from_be_bytes([control[0], control[1]])) % valid.len();
    let bits = if control[2] == 0 { 1 } else { control[2] };
    let mut edited = valid.clone();
    edited[at] ^= bits;
    assert!(decode_record(&edited).is_err(), "a changed byte at {at} passed the checksum");

    if control[3] & 1 == 1 && at >= 4 {
        // Recompute the checksum, as someone editing the store on purpose would.
        let hash = Hash(edited[4..36].try_into().expect("32 bytes"));
        let forged = encode_record_parts(&hash, &edited[36..]);
        if let Ok(read) = decode_record(&forged)
            && read.compute_hash() == read.hash
        {
            assert_eq!(read, env, "an edited record was accepted with different content");
        }
    }
}

/// `schema::decode`. Input: an event type (byte 0, modulo the number of types), a schema
/// version (byte 1), then `data`. Whatever decodes re-encodes (`Event::data_json`) to a
/// canonical `data` that decodes to the same event and re-encodes to the same bytes; a type
/// never changes; an unknown schema version is refused, never guessed.
pub fn schema(input: &[u8]) {
    let [type_byte, version, data @ ..] = input else {
        return;
    };
    let event_type = EventType::ALL[usize::from(*type_byte) % EventType::ALL.len()];
    let version = u16::from(*version);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(raw) = RawValue::from_string(text.to_owned()) else {
        return;
    };
    match schema::decode(event_type, version, &raw) {
        Ok(event) => {
            assert_eq!(version, CURRENT_SCHEMA_VERSION, "only the current schema version decodes today");
            assert_eq!(event.event_type(), event_type);
            let canonical = event.data_json();
            let again = schema::decode(event_type, CURRENT_SCHEMA_VERSION, &canonical).expect("canonical data decodes");
            assert_eq!(again, event, "canonical data decodes to the same event");
            assert_eq!(again.data_json().get(), canonical.get(), "canonical data is a fixed point");
        }
        Err(schema::DecodeError::UnknownSchemaVersion { event_type: named, version: v }) => {
            assert_ne!(version, CURRENT_SCHEMA_VERSION);
            assert_eq!((named, v), (event_type, version));
        }
        Err(schema::DecodeError::Data { event_type: named, .. }) => assert_eq!(named, event_type),
    }
}

/// What every refusal must be: a 400 with a message and no fields, or a 422 naming at least
/// one field (and at most [`MAX_ERRORS`]), each with a non-empty name and message.
pub fn check_refusal(invalid: &Invalid) {
    match invalid {
        Invalid::Malformed(message) => {
            assert_eq!(invalid.status(), 400);
            assert!(!message.is_empty(), "a 400 says why");
            assert!(invalid.field_errors().is_empty());
        }
        Invalid::Fields(errors) => {
            assert_eq!(invalid.status(), 422);
            assert!(!errors.is_empty(), "a 422 names at least one field");
            assert!(errors.len() <= MAX_ERRORS, "{} errors", errors.len());
            for e in errors {
                assert!(!e.field.is_empty(), "a field error without a field name: {e:?}");
                assert!(!e.message.is_empty(), "a field error without a message: {e:?}");
            }
        }
    }
}

/// An accepted event as the log would hold it: the rules pass, normalising again changes
/// nothing, and the stored `data` decodes to the same event.
fn check_accepted(event: &Event) {
    assert!(validate::check_event(event, now()).is_empty(), "accepted, but check_event refuses it: {event:?}");
    let mut again = event.clone();
    validate::normalise(&mut again);
    assert_eq!(&again, event, "normalising is idempotent");
    let stored = schema::decode(event.event_type(), CURRENT_SCHEMA_VERSION, &event.data_json())
        .expect("accepted data decodes from the log");
    assert_eq!(&stored, event, "the log decodes what was accepted");
}

/// `validate::parse_new_contact`: never panics; refusals as [`check_refusal`]; an accepted
/// body, serialised again, is accepted as the same contact.
pub fn new_contact(body: &[u8]) {
    match validate::parse_new_contact(body, now()) {
        Ok(contact) => {
            check_accepted(&Event::ContactReceived(contact.data.clone()));
            let mut value = serde_json::to_value(&contact.data).expect("contact data serialises");
            if let Some(at) = contact.occurred_at {
                value["occurred_at"] = serde_json::to_value(at).expect("a timestamp serialises");
            }
            let again = serde_json::to_vec(&value).expect("JSON serialises");
            match validate::parse_new_contact(&again, now()) {
                Ok(back) => assert_eq!(back, contact, "re-serialised contact parses to the same"),
                Err(e) => panic!("accepted {body:?}, refused its re-serialisation {again:?}: {e}"),
            }
        }
        Err(invalid) => check_refusal(&invalid),
    }
}

/// `validate::parse_event_request`: as [`new_contact`], for an event on an existing contact.
pub fn event_request(body: &[u8]) {
    match validate::parse_event_request(body, now()) {
        Ok(request) => {
            assert_ne!(request.event.event_type(), EventType::ContactReceived);
            check_accepted(&request.event);
            let mut value = serde_json::to_value(&request.event).expect("an event serialises");
            if let Some(at) = request.occurred_at {
                value["occurred_at"] = serde_json::to_value(at).expect("a timestamp serialises");
            }
            if let Some(version) = request.expected_version {
                value["expected_version"] = version.into();
            }
            let again = serde_json::to_vec(&value).expect("JSON serialises");
            match validate::parse_event_request(&again, now()) {
                Ok(back) => assert_eq!(back, request, "re-serialised request parses to the same"),
                Err(e) => panic!("accepted {body:?}, refused its re-serialisation {again:?}: {e}"),
            }
        }
        Err(invalid) => check_refusal(&invalid),
    }
}
