//! Key layout of the sled database of the layout before segment files (read only by the
//! migration, [`crate::legacy`]; its tests write it). Integers are big-endian so byte order is
//! numeric order.

#[cfg(test)]
use sha2::{Digest, Sha256};
#[cfg(test)]
use ulid::Ulid;

/// `e ‖ position (u64)` → record: the events.
pub const EVENT: u8 = b'e';
/// `c ‖ contact id (u128) ‖ version (u32)` → position (u64): the per-contact index.
#[cfg(test)]
pub const CONTACT: u8 = b'c';
/// `i ‖ SHA-256(idempotency key)` → fingerprint (32) ‖ first position (8) ‖ count (4).
pub const IDEMPOTENCY: u8 = b'i';

#[cfg(test)]
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

#[cfg(test)]
pub fn contact(contact: Ulid, version: u32) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = CONTACT;
    k[1..17].copy_from_slice(&contact.0.to_be_bytes());
    k[17..].copy_from_slice(&version.to_be_bytes());
    k
}

#[cfg(test)]
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
        assert_eq!(contact(c, 3)[1..17], c.0.to_be_bytes());
    }
}
