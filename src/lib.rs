//! frontdoor: the case-flow service for a children's services front door.
//!
//! # Layout
//!
//! - [`rules`]: the case rules: a pure `decide` that accepts or refuses each new event.
//! - [`app`]: the commands (lock, fold, decide, append) and the logged reads, beneath `http`.
//! - [`validate`]: request bodies into typed events, every field checked at the edge.
//! - [`auth`]: tokens (stored hashed) and what each role may do.
//! - [`http`]: the REST API (axum), problem+json errors, SSE.
//! - [`config`]: configuration from a file and the environment.
//!
//! The log lives in the `eventlog` crate, the read models in `projections`, and the demo county
//! that `serve --demo` writes in `demo` (its events are checked against [`rules`] and
//! [`validate`] by `tests/demo_rules.rs`).

pub mod app;
pub mod auth;
pub mod config;
pub mod http;
pub mod live;
pub mod rules;
pub mod server;
pub use events::validate;
