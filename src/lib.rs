//! frontdoor: the case-flow service for a children's services front door.
//!
//! # Layout
//!
//! From the top down:
//!
//! - `main.rs` and [`server`]: the command line, start-up (open the log, rebuild the read
//!   models) and shutdown.
//! - [`http`]: the REST API and the pages (axum): one module per resource, each registering its
//!   routes with their OpenAPI paths and returning typed bodies; problem+json errors; SSE.
//! - [`app`]: the one command path (lock, fold, decide, append, retry, idempotent replay) and
//!   the logged read of a contact, which the API and the pages both call.
//! - [`live`]: the live read model and the queue's changes, for the streams; [`snapshot`]: the
//!   model written at shutdown and read back at start-up.
//! - [`rules`]: the case rules: a pure `decide` that accepts or refuses each new event.
//! - [`auth`]: tokens (stored hashed) and what each role may do.
//! - [`config`]: configuration from a file and the environment.
//! - [`validate`]: request bodies into typed events (`events::validate`, re-exported).
//!
//! The log lives in the `eventlog` crate, the read models in `projections`, and the demo county
//! that `serve --demo` writes in `demo` (its events are checked against [`rules`] and
//! [`validate`] by `tests/demo_rules.rs`).

pub mod app;
pub mod auth;
pub mod config;
pub mod http;
pub mod live;
pub mod replication;
pub mod rules;
pub mod server;
pub mod snapshot;
pub use events::validate;
