//! `events::schema::decode`: see `frontdoor_fuzz::schema`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| frontdoor_fuzz::schema(input));
