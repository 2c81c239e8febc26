//! The access log: who read which contact's record, when and how.
//!
//! A read of a child's record is itself a fact worth keeping, but it must not cost the reader
//! an fsync: entries go to their own tree of the index's sled without a flush, and sled's
//! background flush (every 500 ms) makes them durable. Unlike the rest of the index they
//! cannot be rebuilt from the segments. A crash may lose the last half-second of read entries;
//! it can never lose an acknowledged event.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::error::LogError;
use events::envelope::{Actor, timestamp};

/// One read of a contact's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessEntry {
    #[serde(with = "timestamp")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// What was done, e.g. `read_contact`, `read_events`, `read_audit`.
    pub action: String,
    /// The request path.
    pub endpoint: String,
}

/// Appends and reads access entries, keyed `contact ‖ millis ‖ sequence` so a contact's
/// entries come back in time order.
#[derive(Debug)]
pub(crate) struct AccessLog {
    tree: sled::Tree,
    sequence: AtomicU64,
}

impl AccessLog {
    pub(crate) fn open(db: &sled::Db) -> Result<AccessLog, LogError> {
        Ok(AccessLog { tree: db.open_tree("access")?, sequence: AtomicU64::new(0) })
    }

    pub(crate) fn record(&self, contact_id: Ulid, entry: &AccessEntry) -> Result<(), LogError> {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(&contact_id.0.to_be_bytes());
        let millis = u64::try_from(entry.at.timestamp_millis()).unwrap_or(0);
        key[16..24].copy_from_slice(&millis.to_be_bytes());
        key[24..].copy_from_slice(&self.sequence.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let value = serde_json::to_vec(entry).map_err(|e| LogError::Storage(e.to_string()))?;
        self.tree.insert(key, value)?;
        Ok(())
    }

    pub(crate) fn read(&self, contact_id: Ulid) -> Result<Vec<AccessEntry>, LogError> {
        self.tree
            .scan_prefix(contact_id.0.to_be_bytes())
            .map(|item| {
                let (_, value) = item?;
                serde_json::from_slice(&value)
                    .map_err(|e| LogError::Corrupt { position: 0, reason: format!("access log entry: {e}") })
            })
            .collect()
    }
}
