//! The on-disk record format of a stored envelope.
//!
//! A stored record is `crc32 (4 bytes, BE) ‖ hash (32 bytes) ‖ body`, where `body` is the
//! envelope without its hash as compact JSON ([`Envelope::canonical_body`]) and
//! `hash = SHA-256(prev_hash ‖ body)`. The envelope, its body and its hash chain are the
//! `events` crate's ([`events::envelope`]); the checksum around them is storage, so it stays
//! with the log.

use events::envelope::{Envelope, Hash, chain_hash};

/// The stored record for an envelope whose canonical body is already encoded.
///
/// Public for the fuzz targets (`ops/fuzz`), which build records around arbitrary bodies.
pub fn encode_record_parts(hash: &Hash, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 32 + body.len());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&hash.0);
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out[4..]);
    out[..4].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Appends to `out` the stored record of the body that `body` writes at the end of `out`,
/// chained to `prev` (the body is hashed and checksummed in place, never copied), and returns
/// its hash.
pub fn push_record(out: &mut Vec<u8>, prev: &Hash, body: impl FnOnce(&mut Vec<u8>)) -> Hash {
    let start = out.len();
    out.extend_from_slice(&[0; 4 + 32]);
    body(out);
    let hash = chain_hash(prev, &out[start + 36..]);
    out[start + 4..start + 36].copy_from_slice(&hash.0);
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_be_bytes());
    hash
}

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record too short ({0} bytes)")]
    Truncated(usize),
    #[error("checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("record body is not a valid envelope: {0}")]
    Body(String),
}

/// Reads a stored record, checking its checksum. The hash chain is checked by the caller,
/// which knows the previous hash.
///
/// Public for the fuzz targets (`ops/fuzz`); the log reads records through it.
pub fn decode_record(bytes: &[u8]) -> Result<Envelope, RecordError> {
    if bytes.len() < 4 + 32 + 2 {
        return Err(RecordError::Truncated(bytes.len()));
    }
    let stored = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&bytes[4..]);
    if stored != computed {
        return Err(RecordError::Checksum { stored, computed });
    }
    let hash = Hash(bytes[4..36].try_into().expect("32 bytes"));
    Envelope::from_body(&bytes[36..], hash).map_err(|e| RecordError::Body(e.to_string()))
}

/// The stored record of an envelope: checksum, hash, body (the writer encodes the body once
/// itself, through [`encode_record_parts`]).
#[cfg(test)]
pub(crate) fn encode_record(env: &Envelope) -> Vec<u8> {
    encode_record_parts(&env.hash, &env.canonical_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::envelope::{Actor, Role};
    use events::schema::{Agency, CURRENT_SCHEMA_VERSION, Event, NoteAdded};
    use ulid::Ulid;

    fn sample() -> Envelope {
        let ev = Event::NoteAdded(NoteAdded { text: "called school back".into() });
        let mut env = Envelope {
            position: 1,
            event_id: Ulid::from_parts(1, 1),
            contact_id: Ulid::from_parts(1, 2),
            version: 1,
            event_type: ev.event_type(),
            schema_version: CURRENT_SCHEMA_VERSION,
            occurred_at: "2026-03-02T10:15:00Z".parse().unwrap(),
            late_entry_reason: None,
            recorded_at: "2026-03-02T10:16:02.123Z".parse().unwrap(),
            actor: Actor::new("sw-ana", Role::DecisionMaker, Agency::ChildrensSocialCare),
            data: ev.data_json(),
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        };
        env.hash = env.compute_hash();
        env
    }

    #[test]
    fn record_round_trips_and_detects_a_flipped_byte() {
        let env = sample();
        let mut rec = encode_record(&env);
        assert_eq!(decode_record(&rec).unwrap(), env);
        let mid = rec.len() / 2;
        rec[mid] ^= 0x20;
        assert!(matches!(decode_record(&rec), Err(RecordError::Checksum { .. })));
        assert!(matches!(decode_record(&rec[..10]), Err(RecordError::Truncated(10))));
    }

    #[test]
    fn a_record_written_in_place_is_the_same_record() {
        let env = sample();
        let mut out = b"frame".to_vec();
        let hash = push_record(&mut out, &env.prev_hash, |out| out.extend_from_slice(&env.canonical_body()));
        assert_eq!(hash, env.hash);
        assert_eq!(&out[..5], b"frame");
        assert_eq!(out[5..], encode_record(&env));
    }
}
