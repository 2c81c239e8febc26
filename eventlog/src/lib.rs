//! The front door's event log: a durable, tamper-evident, append-only log of the envelopes
//! the `events` crate defines, in segment files the log owns, with an index in memory that is
//! built from them at open (from a snapshot checked against them, when it matches).
//!
//! # Layout
//!
//! - [`record`]: the record format (checksum ‖ hash ‖ body) of an envelope.
//! - [`segment`]: the segment files and the frame around each record (see `README.md`).
//! - [`log`]: [`EventLog`]: open (checks, torn-tail cut, index from snapshot or rebuilt), append
//!   (group commit, durable acks), read (events, and an idempotency key's stored result),
//!   verify.
//! - `index`: the in-memory index, its snapshot and the durable head file.
//! - `legacy`: the migration of a data directory from the layout before segment files (the one
//!   place sled is still used: to read the old layouts).
//! - [`subscribe`]: catch-up subscriptions (stored events, then live).
//! - [`crash`]: the kill-9 crash-test harness, shared by `cargo test` and `ops/crash-test.sh`.
//! - [`replicate`]: the hook that hands every durable group to a replicated log, a standby's
//!   verbatim appends, and the quarantine of records beyond the replicated log.
//! - [`access`], [`import`]: the access log of reads, and loading an export into a new log.
//!
//! The event schema, the corrections and the envelope live in the pure `events` crate. This
//! crate re-exports them ([`schema`], [`correction`], and [`Actor`], [`Envelope`], [`Event`],
//! …) so that the service's `eventlog::…` paths name the same types; code that needs only the
//! events (the projections, the fuzz targets) depends on `events` and never compiles sled.
//! The crate knows nothing of HTTP; the service and the replay tool read the log through it.

#[cfg(feature = "storage")]
pub mod access;
#[cfg(feature = "storage")]
pub mod crash;
#[cfg(feature = "storage")]
pub mod error;
#[cfg(feature = "storage")]
pub mod import;
#[cfg(feature = "storage")]
mod index;
#[cfg(feature = "storage")]
mod keys;
#[cfg(feature = "storage")]
mod legacy;
#[cfg(feature = "storage")]
pub mod log;
pub mod record;
#[cfg(feature = "storage")]
pub mod replicate;
pub mod segment;
#[cfg(feature = "storage")]
pub mod subscribe;

#[cfg(feature = "storage")]
pub use access::{AccessEntry, AccessHead, AccessRecord, AccessScope, ExportChecker, PositionRange, RecordedOn};
#[cfg(feature = "storage")]
pub use error::{AppendError, LogError};
pub use events::{Actor, DecodeError, Envelope, Event, EventType, Hash, Role, correction, schema};
#[cfg(feature = "storage")]
pub use log::{
    AppendRequest, Appended, DEFAULT_MIN_FREE_BYTES, DEFAULT_SEGMENT_BYTES, EventLog, Head, Idempotency, NewEvent,
    Options, VerifyReport,
};
#[cfg(feature = "storage")]
pub use subscribe::Subscription;
