//! A read of a child's record, recorded in the contact's access log before it is shown: once,
//! for the API and the pages alike. An unlogged read of a child's record must not happen.

use chrono::{DateTime, Utc};
use eventlog::{AccessEntry, Actor, Envelope};
use projections::contact::ContactState;
use ulid::Ulid;

use super::command::{contact_id, fold};
use super::{AppError, FrontDoor};
use crate::auth::{self, ReadKind};

/// What is being read, and how the access log names it.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    /// Which read, for the role check ([`auth::may_read`]).
    pub kind: ReadKind,
    /// The access log's `action`: `read_contact`, `read_events`, `read_audit`.
    pub action: &'a str,
    /// The access log's `endpoint`: the path the caller asked for.
    pub endpoint: &'a str,
}

/// A contact as read, once the read is in its access log.
#[derive(Debug, Clone)]
pub struct ContactRead {
    pub contact: Ulid,
    /// Every event of the contact, in version order; what the caller may see of them is the
    /// view's to filter.
    pub events: Vec<Envelope>,
    /// The folded state, for a read of the contact itself ([`ReadKind::Contact`]).
    pub state: Option<ContactState>,
    /// For an audit read ([`ReadKind::ContactAudit`]): the access log before this read.
    pub access: Vec<AccessEntry>,
    /// This read's own entry in the access log.
    pub logged: AccessEntry,
}

impl FrontDoor {
    /// Reads a contact for `caller`: the role (403), the id and the stream (404, also for any
    /// contact a receiving team may not read ([`auth::reads_contact`]), so that it does not learn
    /// the contact exists), then records the read in the access log. A read that cannot be
    /// recorded is refused (503 when the disk refuses writes).
    pub fn read_contact_logged(
        &self,
        caller: &Actor,
        read: Read<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<ContactRead, AppError> {
        if !auth::may_read(caller.role, read.kind) {
            // A refused read is recorded too (when the id names a contact at all), before the
            // 403 is sent.
            if let Ok(contact) = contact_id(id) {
                let refused = AccessEntry {
                    at: now,
                    actor: caller.clone(),
                    action: format!("{}_refused", read.action),
                    endpoint: read.endpoint.into(),
                };
                self.record_access(contact, &refused)?;
            }
            return Err(AppError::Forbidden(format!("a {} may not read this", caller.role)));
        }
        let contact = contact_id(id)?;
        let events = self.log().read_contact(contact)?;
        if events.is_empty() {
            return Err(AppError::NotFound(format!("no contact {contact}")));
        }
        let needs_state = read.kind == ReadKind::Contact || caller.role == eventlog::Role::ReceivingTeam;
        let state = if needs_state { fold(&events)? } else { None };
        if caller.role == eventlog::Role::ReceivingTeam
            && !state.as_ref().is_some_and(|s| auth::reads_contact(caller, s))
        {
            return Err(AppError::NotFound(format!("no contact {contact}")));
        }
        let access = if read.kind == ReadKind::ContactAudit { self.log().read_access(contact)? } else { Vec::new() };
        let logged =
            AccessEntry { at: now, actor: caller.clone(), action: read.action.into(), endpoint: read.endpoint.into() };
        self.record_access(contact, &logged)?;
        Ok(ContactRead { contact, events, state, access, logged })
    }

    /// Records a read of children's records (`GET /v1/children`, `GET /v1/children/{id}`) in
    /// the access log of each of `contacts`, as `action` of `endpoint` (which, for a search,
    /// holds its terms), before anything is shown. A read that cannot be recorded is refused.
    pub fn record_reads(
        &self,
        caller: &Actor,
        contacts: &[Ulid],
        action: &str,
        endpoint: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let entry = AccessEntry { at: now, actor: caller.clone(), action: action.into(), endpoint: endpoint.into() };
        for contact in contacts {
            self.record_access(*contact, &entry)?;
        }
        Ok(())
    }

    /// Records an entry in the access log, durably; the disk refusing writes is a 503.
    fn record_access(&self, contact: Ulid, entry: &AccessEntry) -> Result<(), AppError> {
        self.log().record_access(contact, entry).map_err(|e| match e {
            // The disk refusing writes (e.g. full) is a 503 like an append's, not a 500: the read
            // is refused because it could not be recorded.
            eventlog::LogError::Storage(message) => {
                tracing::error!(%message, "recording a read in the access log failed");
                AppError::Unavailable(
                    "this read of a child's record cannot be recorded in the access log (the disk refuses writes), \
                     so it is not shown; other reads still work"
                        .into(),
                )
            }
            other => other.into(),
        })
    }
}
