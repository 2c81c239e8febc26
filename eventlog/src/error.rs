//! What can go wrong with the log, named after what the caller must do about it.

/// A failure to open, read or verify the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The storage engine or the file system failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// A stored record is damaged, missing or out of order. Never served as if valid.
    #[error("corrupt log at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    /// The log has been shut down.
    #[error("the event log is closed")]
    Closed,
}

impl From<sled::Error> for LogError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { at, .. } => {
                LogError::Corrupt { position: 0, reason: format!("storage engine reports corruption at {at:?}") }
            }
            other => LogError::Storage(other.to_string()),
        }
    }
}

impl From<std::io::Error> for LogError {
    fn from(e: std::io::Error) -> Self {
        LogError::Storage(e.to_string())
    }
}

/// Why an append was not written. In every case nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// `expected_version` did not match the contact's current version.
    #[error("expected version {expected} but the contact is at version {current_version}")]
    Conflict { expected: u32, current_version: u32 },
    /// The idempotency key was already used for a different request.
    #[error("idempotency key already used for a different request")]
    IdempotencyMismatch,
    /// The request itself is not appendable (e.g. no events).
    #[error("invalid append: {0}")]
    Invalid(&'static str),
    /// The write or the flush to disk failed; the append was not acknowledged.
    #[error("storage error, nothing written: {message}")]
    Storage { message: String, disk_full: bool },
    /// The log has been shut down.
    #[error("the event log is closed")]
    Closed,
    /// The replicated log did not take the append (not the primary, or unavailable); nothing
    /// was acknowledged.
    #[error("{0}")]
    Replication(crate::replicate::ReplicateError),
    /// A standby's verbatim append does not continue this log's chain; nothing was written.
    #[error("the replicated append does not continue this log: {0}")]
    Diverged(String),
}

impl AppendError {
    pub(crate) fn storage(e: &LogError) -> Self {
        let message = e.to_string();
        let lower = message.to_ascii_lowercase();
        let disk_full = lower.contains("no space") || lower.contains("file too large") || lower.contains("quota");
        AppendError::Storage { message, disk_full }
    }
}
