//! Key layout of the `log` tree. Everything a group commit writes lives in this one tree, so
//! one `apply_batch` makes an event, its index entry and its idempotency record appear
//! together or not at all. Integers are big-endian so byte order is numeric order.

use sha2::{Digest, Sha256};
use ulid::Ulid;

/// `e ‖ position (u64)` → record.
pub const EVENT: u8 = b'e';
/// `c ‖ contact id (u128) ‖ version (u32)` → position (u64).
pub const CONTACT: u8 = b'c';
/// `i ‖ SHA-256(idempotency key)` → fingerprint (32) ‖ first position (8) ‖ count (4).
pub const IDEMPOTENCY: u8 = b'i';

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
    let mut k = [0u8; 33];
    k[0] = IDEMPOTENCY;
    k[1..].copy_from_slice(&Sha256::digest(key.as_bytes()));
    k
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
