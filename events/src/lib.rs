//! The front door's events: the typed schema every event is written under and the envelope
//! it is stored in, with its hash chain. Pure data and serde: no storage, no runtime, so the
//! projections, the replay tool and the fuzz targets read events without compiling the log.
//!
//! # Layout
//!
//! - [`schema`]: every event type and its `data`, with the upcasting seam ([`schema::decode`]).
//! - [`shape`]: the shape of each `data` field (its presence, kind, limit and format),
//!   declared with the struct; the request validator's walk and the OpenAPI document's limits
//!   are derived from it.
//! - [`validate`]: a request body into typed data: the shape walk (every error at once, by
//!   path), then each field's own rule; the service's API and the fuzz targets call it.
//! - [`text`]: which characters are invisible or reorder text (for names).
//! - [`correction`]: which fields of which events a `correction_recorded` may correct.
//! - [`envelope`]: the envelope ([`Envelope`], [`Actor`], [`Role`]), its canonical body and
//!   hash chain ([`Hash`](struct@Hash), [`envelope::chain_hash`]), and the wire format of
//!   timestamps ([`envelope::timestamp`]).
//!
//! The durable log that stores envelopes (its record framing, sled, subscriptions) is the
//! `eventlog` crate, built on this one.

pub mod correction;
pub mod envelope;
pub mod schema;
pub mod shape;
pub mod text;
pub mod validate;

pub use envelope::{Actor, Envelope, Hash, Role};
pub use schema::{DecodeError, Event, EventType};
