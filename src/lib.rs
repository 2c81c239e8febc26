//! frontdoor: the case-flow service for a children's services front door.
//!
//! # Layout
//!
//! - [`rules`]: the case rules: a pure `decide` that accepts or refuses each new event.
//! - [`app`]: the commands (lock, fold, decide, append) and the logged reads, beneath `http`.
//! - [`validate`]: request bodies into typed events, every field checked at the edge.
//! - [`auth`]: tokens (stored hashed) and what each role may do.
//! - [`demo`]: synthetic demo data for a county's front door.
//! - [`http`]: the REST API (axum), problem+json errors, SSE.
//! - [`config`]: configuration from a file and the environment.
//!
//! The log lives in the `eventlog` crate and the read models in `projections`.

pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod http;
pub mod live;
pub mod rules;
pub mod server;
pub mod validate;
