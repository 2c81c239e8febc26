//! The stored-record decoder: see `frontdoor_fuzz::record`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| frontdoor_fuzz::record(input));
