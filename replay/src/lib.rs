//! `frontdoor-replay`: quality assurance's offline tool over the front door's log.
//!
//! Reads the log from a stopped service's data directory, an export file, or a running
//! service's `GET /v1/events`, checks it without trusting the service, and recomputes every
//! read model with the `projections` crate, unchanged: the duty queue and timeliness as they
//! stood at any moment, a contact's timeline with what the decider could see, Ofsted Annex A
//! lists and a period report. Every output is deterministic: the same log gives the same
//! bytes.
//!
//! # Layout
//!
//! - [`source`]: where the events come from, streamed in log order.
//! - [`verify`]: the chain check for exports and the API (the data directory uses
//!   [`eventlog::EventLog::verify`]).
//! - [`rebuild`]: every projection from scratch, with a rate.
//! - [`asof`]: the queue and timeliness as they stood (the service's `/v1/as-of`).
//! - [`case`]: one contact's timeline and the state before each decision.
//! - [`export`]: the whole log as JSON lines, and the restore into an empty directory.
//! - [`files`]: private files (the umask), and output put in place only once whole.
//! - [`annex`]: Ofsted ILACS Annex A: List 1 (contacts) and List 3 (referrals) as CSV, and
//!   Ofsted's whole workbook (.xlsx).
//! - [`contacts_csv`]: one pseudonymised row per contact for data teams.
//! - [`census`]: the DfE's CIN census, referral part, as its XML.
//! - [`report`]: timeliness and volumes for a period, as Markdown or CSV.

pub mod access;
pub mod annex;
pub mod asof;
pub mod case;
pub mod census;
pub mod contacts_csv;
pub mod error;
pub mod export;
pub mod files;
pub mod rebuild;
pub mod report;
pub mod source;
pub mod verify;

pub use error::ReplayError;
pub use source::Source;

use chrono::NaiveDate;

/// Formats a date as Ofsted's templates do: `DD/MM/YYYY`.
pub fn ofsted_date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}
