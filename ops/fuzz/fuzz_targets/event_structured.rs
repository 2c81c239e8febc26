//! Near-valid bodies for both validators, built from the schema's vocabulary: see
//! `frontdoor_fuzz::near_json`. Each body is checked as `frontdoor_fuzz::event_request` and
//! its `data` as `frontdoor_fuzz::new_contact` check theirs.
#![no_main]

use frontdoor_fuzz::near_json::EventBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: EventBody| {
    let event = serde_json::to_vec(&body.to_json()).expect("JSON serialises");
    frontdoor_fuzz::event_request(&event);
    let contact = serde_json::to_vec(&body.contact_json()).expect("JSON serialises");
    frontdoor_fuzz::new_contact(&contact);
});
