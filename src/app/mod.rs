//! The application layer between the HTTP edge and the log: the commands ([`FrontDoor::create_contact`],
//! [`FrontDoor::record_event`]) and the logged read ([`FrontDoor::read_contact_logged`]). It knows
//! nothing of axum: plain inputs (the caller, the contact, the parsed request, `now`) and an
//! [`AppError`] whose variants are the answers a client sees, which `http` renders.
//!
//! # Layout
//!
//! - [`command`]: parse a request at the edge, then lock, fold, decide, append, retry, replay.
//! - [`read`]: a read of a child's record and its access-log entry, for the API and the pages.

pub mod command;
pub mod read;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use eventlog::{AppendError, Envelope, EventLog, LogError};
use projections::time::DuePolicy;

use crate::validate::{FieldError, Invalid};

pub use command::{CreateConsultation, CreateContact, CreateDutyDebrief, CreateStream, OpensStream, RecordEvent};
pub use read::{ContactRead, Read};

/// What a command stored (or, for a repeated idempotency key, had stored).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The event appended: the last of the append.
    pub envelope: Envelope,
    /// True when an earlier request with the same idempotency key is returned and nothing new
    /// was written.
    pub replayed: bool,
}

/// Why a command or a read was refused: one variant per answer the client sees (the API's
/// problem types, see `http::error`), never an internal cause leaked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body is not JSON at all (400).
    #[error("{0}")]
    Malformed(String),
    /// Fields that fail validation, each with its path (422).
    #[error("{detail}")]
    Invalid { detail: String, errors: Vec<FieldError> },
    /// The caller's role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such contact, or none this caller may know of (404).
    #[error("{0}")]
    NotFound(String),
    /// `expected_version` did not match (409).
    #[error("expected version {expected} but the contact is at version {current_version}")]
    Conflict { expected: u32, current_version: u32 },
    /// A case rule the event would break (422 naming the rule).
    #[error("{detail}")]
    RuleBroken { rule: &'static str, detail: String },
    /// The idempotency key was used before with another request (422).
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// The log cannot take the write (503); nothing was written.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500): the cause, for the log, never for the client.
    #[error("{0}")]
    Internal(String),
}

impl From<Invalid> for AppError {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::Malformed(detail) => AppError::Malformed(detail),
            Invalid::Fields(errors) => {
                let detail = match errors.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    many => format!("{} fields are invalid", many.len()),
                };
                AppError::Invalid { detail, errors }
            }
        }
    }
}

impl From<crate::rules::RuleBroken> for AppError {
    fn from(broken: crate::rules::RuleBroken) -> Self {
        AppError::RuleBroken { rule: broken.rule, detail: broken.detail }
    }
}

impl From<LogError> for AppError {
    fn from(e: LogError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<AppendError> for AppError {
    fn from(e: AppendError) -> Self {
        use eventlog::AppendError as E;
        match e {
            E::Conflict { expected, current_version } => AppError::Conflict { expected, current_version },
            E::IdempotencyMismatch => AppError::IdempotencyMismatch,
            E::Invalid(why) => AppError::Invalid { detail: why.into(), errors: vec![] },
            E::Storage { disk_full: true, .. } => AppError::Unavailable(
                "the log cannot take writes: the disk is full (less free space than the reserve kept for the log). \
                 Nothing was written; reads still work, and appends resume once space is freed."
                    .into(),
            ),
            E::Storage { message, .. } => {
                tracing::error!(%message, "append failed");
                AppError::Unavailable(
                    "the log could not make the write durable. Nothing was written; try again.".into(),
                )
            }
            E::Closed => AppError::Unavailable("the service is shutting down".into()),
            E::Replication(eventlog::replicate::ReplicateError::NotPrimary(primary)) => AppError::Unavailable(format!(
                "not the primary: this node is a standby and takes no writes ({primary}). Nothing was written; \
                 send writes to the primary."
            )),
            E::Replication(eventlog::replicate::ReplicateError::Unavailable(why)) => {
                tracing::warn!(%why, "append refused: the replicated log is unavailable");
                AppError::Unavailable(
                    "the replicated log cannot take writes now (NATS unreachable or without a quorum). The write is \
                     not acknowledged, but the stream may still take it: retry with the same Idempotency-Key, which \
                     never records it twice. Reads still work, and writes resume once the stream is back."
                        .into(),
                )
            }
            E::Diverged(why) => AppError::Internal(why),
        }
    }
}

/// The front door's commands and logged reads over one log: a cheap clone of shared handles.
#[derive(Clone)]
pub struct FrontDoor {
    shared: Arc<Shared>,
}

struct Shared {
    log: EventLog,
    policy: DuePolicy,
    contact_locks: Vec<tokio::sync::Mutex<Recent>>,
}

/// The states of the contacts a lock stripe last wrote to, newest last: the next command on
/// one of them starts from its state instead of reading and folding every event again, when
/// the log's version of the contact shows nothing was appended since (see
/// [`FrontDoor::state_of`]).
#[derive(Default)]
pub(crate) struct Recent {
    states: Vec<projections::contact::ContactState>,
}

/// Contact states kept per lock stripe (1,024 stripes: about 4,000 contacts).
const RECENT_PER_STRIPE: usize = 4;

impl Recent {
    /// The state kept for `contact`, if it is at `version`.
    fn at(&self, contact: ulid::Ulid, version: u32) -> Option<&projections::contact::ContactState> {
        self.states.iter().find(|s| s.contact_id == contact && s.version == version)
    }

    /// Keeps `state` as its contact's newest, forgetting the least recently kept beyond the limit.
    fn keep(&mut self, state: projections::contact::ContactState) {
        self.states.retain(|s| s.contact_id != state.contact_id);
        if self.states.len() >= RECENT_PER_STRIPE {
            self.states.remove(0);
        }
        self.states.push(state);
    }
}

impl std::fmt::Debug for FrontDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontDoor").field("log", &self.shared.log).finish_non_exhaustive()
    }
}

/// Lock stripes for [`FrontDoor::lock_contact`].
const CONTACT_LOCKS: usize = 1024;

impl FrontDoor {
    /// Commands over `log`, with `policy`'s time rules.
    pub fn new(log: EventLog, policy: DuePolicy) -> Self {
        FrontDoor {
            shared: Arc::new(Shared {
                log,
                policy,
                contact_locks: (0..CONTACT_LOCKS).map(|_| tokio::sync::Mutex::new(Recent::default())).collect(),
            }),
        }
    }

    pub fn log(&self) -> &EventLog {
        &self.shared.log
    }

    /// Serialises read → decide → append for one contact within this process, so writers to
    /// the same contact never race each other into a conflict and an fsync is never wasted on
    /// a write that then fails. Striped: contacts share a lock only by hash collision.
    async fn lock_contact(&self, contact: ulid::Ulid) -> tokio::sync::MutexGuard<'_, Recent> {
        let stripe = usize::try_from(contact.random() % CONTACT_LOCKS as u128).unwrap_or(0);
        self.shared.contact_locks[stripe].lock().await
    }
}
