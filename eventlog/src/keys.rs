//! Key layout of the index's `log` tree (sled, in `<data_dir>/index`). The events themselves
//! live in the segment files; everything here can be rebuilt from them. One `apply_batch` per
//! group commit makes a group's index entries and the indexed head appear together or not at
//! all. Integers are big-endian so byte order is numeric order.

use sha2::{Digest, Sha256};
use ulid::Ulid;

/// `e ‖ position (u64)` → record: the events' key in the layout before segment files
/// (read only by the migration, [`crate::legacy`]).
pub const EVENT: u8 = b'e';
/// `c ‖ contact id (u128) ‖ version (u32)` → position (u64) ‖ frame offset in its segment (u64).
pub const CONTACT: u8 = b'c';
/// `i ‖ SHA-256(idempotency key)` → fingerprint (32) ‖ first position (8) ‖ count (4).
pub const IDEMPOTENCY: u8 = b'i';
/// `o ‖ position (u64)` → frame offset in its segment (u64), for every
/// [`SPARSE`]th position (1, 1 + SPARSE, …): where a positional read starts walking.
pub const OFFSET: u8 = b'o';
/// `h` → the indexed (durable) head: position (8) ‖ hash (32) ‖ its segment's first position
/// (8) ‖ its frame's offset (8).
pub const HEAD: &[u8] = b"h";
/// Positions between two [`OFFSET`] entries.
pub const SPARSE: u64 = 64;

pub fn offset(position: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = OFFSET;
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

/// A contact index value: position ‖ offset.
pub fn contact_value(position: u64, offset: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&position.to_be_bytes());
    v[8..].copy_from_slice(&offset.to_be_bytes());
    v
}

/// The (position, offset) of a contact index value.
pub fn contact_value_parts(v: &[u8]) -> Option<(u64, u64)> {
    if v.len() != 16 {
        return None;
    }
    Some((u64_value(&v[..8])?, u64_value(&v[8..])?))
}

/// The idempotency key of a key already hashed (as stored in a frame).
pub fn idempotency_hashed(key_hash: &[u8; 32]) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = IDEMPOTENCY;
    k[1..].copy_from_slice(key_hash);
    k
}

/// SHA-256 of an idempotency key.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg_attr(not(test), allow(dead_code))]
pub fn event(position: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = EVENT;
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

pub fn event_position(key: &[u8]) -> Option<u64> {
    match key {
        [EVENT, rest @ ..] if rest.len() == 8 => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

pub fn contact_prefix(contact: Ulid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = CONTACT;
    k[1..].copy_from_slice(&contact.0.to_be_bytes());
    k
}

pub fn contact(contact: Ulid, version: u32) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[..17].copy_from_slice(&contact_prefix(contact));
    k[17..].copy_from_slice(&version.to_be_bytes());
    k
}

/// The (contact, version) of a contact index key.
pub fn contact_parts(key: &[u8]) -> Option<(Ulid, u32)> {
    match key {
        [CONTACT, rest @ ..] if rest.len() == 20 => Some((
            Ulid(u128::from_be_bytes(rest[..16].try_into().ok()?)),
            u32::from_be_bytes(rest[16..].try_into().ok()?),
        )),
        _ => None,
    }
}

pub fn idempotency(key: &str) -> [u8; 33] {
    idempotency_hashed(&key_hash(key))
}

pub fn u64_value(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_numerically() {
        assert!(event(255) < event(256));
        assert!(event(1) < event(u64::MAX));
        assert_eq!(event_position(&event(42)), Some(42));
    }

    #[test]
    fn contact_keys_group_a_stream_in_version_order() {
        let c = Ulid::from_parts(7, 9);
        assert!(contact(c, 9) < contact(c, 10));
        assert!(contact(c, 1).starts_with(&contact_prefix(c)));
        assert_eq!(contact_parts(&contact(c, 3)), Some((c, 3)));
    }
}
