//! End-to-end tests: the real `frontdoor` binary on port 0 with a fresh data directory,
//! driven over HTTP exactly as the API contract is written.

mod access_log;
mod access_matrix;
mod allocation;
mod bad_bodies;
mod children;
mod connections;
mod consultations;
mod contact_page;
mod contacts;
mod councils;
mod debriefs;
mod errors;
mod faults;
mod figures;
mod files;
mod handovers;
mod hardening;
mod harness;
mod headers;
mod live;
mod localities;
mod openapi;
mod operations;
mod pages;
mod permissions;
mod previous_contacts;
mod referrer_pages;
mod referrers;
mod replay;
mod replication;
mod returns;
mod safe_rules;
mod service;
mod snapshot;
mod sse;
