//! The front door's event log: the typed event schema and a durable, tamper-evident,
//! append-only log on sled.
//!
//! # Layout
//!
//! - [`schema`]: every event type and its `data`, with the upcasting seam ([`schema::decode`]).
//! - [`envelope`]: the stored envelope, its hash chain and the on-disk record format.
//! - [`log`]: [`EventLog`]: open, append (group commit, durable acks), read, verify.
//! - [`subscribe`]: catch-up subscriptions (stored events, then live).
//! - [`crash`]: the kill-9 crash-test harness, shared by `cargo test` and `ops/crash-test.sh`.
//!
//! The crate knows nothing of HTTP; the service, the projections and the replay tool all
//! read the log through it.

pub mod access;
pub mod correction;
pub mod crash;
pub mod envelope;
pub mod error;
pub mod import;
mod keys;
pub mod log;
pub mod schema;
pub mod subscribe;
#[cfg(test)]
mod tamper_tests;

pub use access::AccessEntry;
pub use envelope::{Actor, Envelope, Hash, Role};
pub use error::{AppendError, LogError};
pub use log::{
    AppendRequest, Appended, DEFAULT_MIN_FREE_BYTES, EventLog, Head, Idempotency, NewEvent, Options, VerifyReport,
};
pub use schema::{DecodeError, Event, EventType};
pub use subscribe::Subscription;
