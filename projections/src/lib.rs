//! Pure read models folded from the log: free of sled, HTTP and async, so they are tested
//! with plain values and the replay tool reuses them unchanged. They read envelopes and events
//! through the `events` crate alone; the log itself (`eventlog`) is not a dependency.
//!
//! # Layout
//!
//! - [`contact`]: one contact's state folded from its own events.
//! - [`facts`]: the compact per-contact record the figures are computed from.
//! - `chunked`: a vector that grows by chunks, never copying (the model's per-contact and
//!   per-child lists).
//! - [`children`]: which earlier contacts named the same child.
//! - [`names`]: how names are compared, and which characters a name may not hold.
//! - [`model`]: the read model over the whole log, with the duty queue.
//! - [`figures`]: timeliness, volumes, practice and the audit sample (definitions in
//!   docs/FIGURES.md).
//! - [`time`]: Europe/London, working days, bank holidays, the due-by policy.

pub mod children;
mod chunked;
pub mod contact;
pub mod facts;
pub mod figures;
pub mod locality;
pub mod model;
pub mod names;
pub mod time;
