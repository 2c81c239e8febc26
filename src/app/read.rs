//! A read of a child's record, recorded in the contact's access log before it is shown: once,
//! for the API and the pages alike. An unlogged read of a child's record must not happen.

use chrono::{DateTime, Utc};
use eventlog::{AccessEntry, AccessScope, Actor, Envelope};
use projections::contact::ContactState;
use ulid::Ulid;

use super::command::{contact_id, contact_stream, fold, is_stream};
use super::{AppError, FrontDoor};
use crate::auth::{self, ReadKind};
use events::schema::StreamKind;

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
    /// contact a receiving team or a referrer may not read ([`auth::reads_contact`]), so that it
    /// does not learn the contact exists, though that refusal is recorded as one), then records
    /// the read in the access log. A read that cannot be recorded is refused (503 when the disk refuses writes).
    pub async fn read_contact_logged(
        &self,
        caller: &Actor,
        read: Read<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<ContactRead, AppError> {
        self.may_read_logged(caller, read, id, now).await?;
        let contact = contact_id(id)?;
        let events = self.log().read_contact(contact)?;
        if events.is_empty() {
            return Err(AppError::NotFound(format!("no contact {contact}")));
        }
        contact_stream(contact, &events)?;
        // A receiving team reads only its own handovers, a referrer only the contacts it made.
        let scoped = matches!(caller.role, eventlog::Role::ReceivingTeam | eventlog::Role::Referrer);
        let needs_state = read.kind == ReadKind::Contact || scoped;
        let state = if needs_state { fold(&events)? } else { None };
        if scoped && !state.as_ref().is_some_and(|s| auth::reads_contact(caller, s)) {
            // The contact exists but is not this team's (or referrer's): recorded as a refused
            // read (the caller is told only that there is no such contact).
            self.record_access(contact, &refused_entry(caller, read, now)).await?;
            return Err(AppError::NotFound(format!("no contact {contact}")));
        }
        let access = if read.kind == ReadKind::ContactAudit { self.log().read_access(contact)? } else { Vec::new() };
        let logged =
            AccessEntry { at: now, actor: caller.clone(), action: read.action.into(), endpoint: read.endpoint.into() };
        self.record_access(contact, &logged).await?;
        Ok(ContactRead { contact, events, state, access, logged })
    }

    /// The role (403) for a read of one stream: a refused read is recorded too (when the id is
    /// a ULID at all), before the 403 is sent.
    async fn may_read_logged(
        &self,
        caller: &Actor,
        read: Read<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        if auth::may_read(caller.role, read.kind) {
            return Ok(());
        }
        if let Ok(stream) = contact_id(id) {
            self.record_access(stream, &refused_entry(caller, read, now)).await?;
        }
        Err(AppError::Forbidden(format!("a {} may not read this", caller.role)))
    }

    /// Reads a professional consultation for `caller`: the role (403, the refusal recorded),
    /// the id (404 for anything but a consultation's), then the read recorded in its access log
    /// before anything is shown, as a contact's is. Returns its first event.
    pub async fn read_consultation_logged(
        &self,
        caller: &Actor,
        read: Read<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope, AppError> {
        self.may_read_logged(caller, read, id, now).await?;
        let no_such = || AppError::NotFound(format!("no consultation {id}"));
        let stream = id.parse::<Ulid>().map_err(|_| no_such())?;
        let events = self.log().read_contact(stream)?;
        if !is_stream(&events, StreamKind::Consultation) {
            return Err(no_such());
        }
        let logged =
            AccessEntry { at: now, actor: caller.clone(), action: read.action.into(), endpoint: read.endpoint.into() };
        self.record_access(stream, &logged).await?;
        events.into_iter().next().ok_or_else(no_such)
    }

    /// Records a read of a child's record (`GET /v1/children/{id}`) in the access log of each
    /// of `contacts` it shows, as `action` of `endpoint`, before anything is shown. A read that
    /// cannot be recorded is refused.
    pub async fn record_reads(
        &self,
        caller: &Actor,
        contacts: &[Ulid],
        action: &str,
        endpoint: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let entry = AccessEntry { at: now, actor: caller.clone(), action: action.into(), endpoint: endpoint.into() };
        for contact in contacts {
            self.record_access(*contact, &entry).await?;
        }
        Ok(())
    }

    /// Reads the contacts a referrer made (`contacts`, as the read model lists them), newest
    /// first: the role (403), then each contact's state, each read recorded in that contact's
    /// access log (as `action` of `endpoint`) before any is shown. A contact the caller did not
    /// make is left out ([`auth::reads_contact`]).
    pub async fn read_own_contacts_logged(
        &self,
        caller: &Actor,
        contacts: &[Ulid],
        action: &str,
        endpoint: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<ContactState>, AppError> {
        if !auth::may_read(caller.role, ReadKind::OwnContacts) {
            return Err(AppError::Forbidden(format!(
                "a {} has no list of its own contacts: made_by=me lists the contacts a referrer made",
                caller.role
            )));
        }
        let mut states = Vec::with_capacity(contacts.len());
        for contact in contacts {
            let events = self.log().read_contact(*contact)?;
            if let Some(state) = fold(&events)?.filter(|s| auth::reads_contact(caller, s)) {
                states.push(state);
            }
        }
        states.sort_by(|a, b| b.received_at.cmp(&a.received_at).then(b.contact_id.cmp(&a.contact_id)));
        let entry = AccessEntry { at: now, actor: caller.clone(), action: action.into(), endpoint: endpoint.into() };
        for state in &states {
            self.record_access(state.contact_id, &entry).await?;
        }
        Ok(states)
    }

    /// Records a bulk read (a page or stream of the global log, as-of, an audit sample, a read
    /// of the access log itself) as one entry naming its scope, durably, before the read is
    /// answered. A read that cannot be recorded is refused (503 when the disk refuses writes).
    pub async fn record_bulk_read(
        &self,
        caller: &Actor,
        action: &str,
        endpoint: &str,
        now: DateTime<Utc>,
        scope: AccessScope,
    ) -> Result<(), AppError> {
        let entry = AccessEntry { at: now, actor: caller.clone(), action: action.into(), endpoint: endpoint.into() };
        self.log().record_bulk_access(None, &entry, scope).await.map_err(access_error)
    }

    /// Records an entry in the access log, durably; the disk refusing writes is a 503.
    async fn record_access(&self, contact: Ulid, entry: &AccessEntry) -> Result<(), AppError> {
        self.log().record_access(contact, entry).await.map_err(access_error)
    }
}

/// The entry of a refused read: the action with `_refused` appended.
fn refused_entry(caller: &Actor, read: Read<'_>, now: DateTime<Utc>) -> AccessEntry {
    AccessEntry {
        at: now,
        actor: caller.clone(),
        action: format!("{}_refused", read.action),
        endpoint: read.endpoint.into(),
    }
}

/// The disk refusing an access entry is a 503 like an append's, not a 500.
fn access_error(e: eventlog::LogError) -> AppError {
    match e {
        eventlog::LogError::Storage(message) => {
            tracing::error!(%message, "recording a read in the access log failed");
            AppError::Unavailable(
                "this read of a child's record cannot be recorded in the access log (the disk refuses writes), \
                 so it is not shown; other reads still work"
                    .into(),
            )
        }
        other => other.into(),
    }
}
