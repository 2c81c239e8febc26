//! `POST /v1/contacts/{id}/events` bodies: see `frontdoor_fuzz::event_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| frontdoor_fuzz::event_request(input));
