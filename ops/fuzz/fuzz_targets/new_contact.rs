//! `POST /v1/contacts` bodies: see `frontdoor_fuzz::new_contact`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| frontdoor_fuzz::new_contact(input));
