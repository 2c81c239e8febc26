//! What can go wrong, and the process exit code for each.

/// A failure, with its exit code: 1 the log does not verify or its data is unusable,
/// 2 the command line is wrong, 3 reading or writing failed (files, the data directory, the
/// service over HTTP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The log fails verification at `position`.
    #[error("verification failed at position {position}: {reason}")]
    Invalid { position: u64, reason: String },
    /// The data cannot be used (an unknown contact, an event that does not fold, ...).
    #[error("{0}")]
    Data(String),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing failed: a file, the data directory (e.g. the service still holds
    /// it), or the service over HTTP.
    #[error("{0}")]
    Io(String),
}

impl ReplayError {
    /// The process exit code: 1 verification or data, 2 usage, 3 I/O or remote.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReplayError::Invalid { .. } | ReplayError::Data(_) => 1,
            ReplayError::Usage(_) => 2,
            ReplayError::Io(_) => 3,
        }
    }

    pub(crate) fn io(context: &str, e: impl std::fmt::Display) -> ReplayError {
        ReplayError::Io(format!("{context}: {e}"))
    }
}

impl From<eventlog::LogError> for ReplayError {
    fn from(e: eventlog::LogError) -> Self {
        match e {
            eventlog::LogError::Corrupt { position, reason } => ReplayError::Invalid { position, reason },
            other => ReplayError::Io(other.to_string()),
        }
    }
}
