//! The commands: a request parsed at the edge ([`CreateContact::parse`], [`RecordEvent::parse`]:
//! the role, the contact id, the body, in the order the API answers them), then carried out
//! against the contact's current state under its lock, with the idempotent replay of a
//! request already done.

use chrono::{DateTime, Utc};
use eventlog::{Actor, AppendRequest, Idempotency, NewEvent};
use events::schema::{ConsultationRecorded, DutyDebriefRecorded, Event, StreamKind};
use projections::contact::ContactState;
use ulid::Ulid;

use super::{AppError, FrontDoor, Recorded};
use crate::auth;
use crate::rules;
use crate::validate::{self, EventRequest, Invalid, NewContact, NewStream};

/// How often a write without `expected_version` is retried when another write to the same
/// contact lands between reading it and appending (only possible from outside this process's
/// per-contact lock, e.g. a second instance, which the log's lock file forbids anyway).
const RETRIES: usize = 3;

/// `POST /v1/contacts`: a new contact's `contact_received`.
#[derive(Debug, Clone)]
pub struct CreateContact {
    pub new: NewContact,
    pub idempotency: Option<Idempotency>,
}

impl CreateContact {
    /// The role first (403), then the body (400, 422). `key` is the client's idempotency key,
    /// scoped here to the caller so that two clients never collide.
    pub fn parse(caller: &Actor, body: &[u8], key: Option<&str>, now: DateTime<Utc>) -> Result<Self, AppError> {
        may_create(caller)?;
        let new = validate::parse_new_contact(body, now)?;
        Ok(CreateContact { new, idempotency: idempotency(key, caller, "contacts", body) })
    }
}

/// A record that is a stream of its own, opened by its own endpoint and never a contact: what
/// differs between them (who may record one, how its body is read) and nothing else.
pub trait OpensStream: Sized + Into<Event> {
    /// What the records are called, for the 403: `duty debriefs`.
    const WHAT: &'static str;
    /// The idempotency keys' scope: the endpoint's last segment.
    const SCOPE: &'static str;
    /// Whether `role` may record one.
    fn may_record(role: eventlog::Role) -> bool;
    /// The body read and checked (400, 422).
    fn parse(body: &[u8], now: DateTime<Utc>) -> Result<NewStream<Self>, Invalid>;
}

impl OpensStream for DutyDebriefRecorded {
    const WHAT: &'static str = "duty debriefs";
    const SCOPE: &'static str = "duty-debriefs";
    fn may_record(role: eventlog::Role) -> bool {
        auth::may_record_duty_debrief(role)
    }
    fn parse(body: &[u8], now: DateTime<Utc>) -> Result<NewStream<Self>, Invalid> {
        validate::parse_new_duty_debrief(body, now)
    }
}

impl OpensStream for ConsultationRecorded {
    const WHAT: &'static str = "consultations";
    const SCOPE: &'static str = "consultations";
    fn may_record(role: eventlog::Role) -> bool {
        auth::may_record_consultation(role)
    }
    fn parse(body: &[u8], now: DateTime<Utc>) -> Result<NewStream<Self>, Invalid> {
        validate::parse_new_consultation(body, now)
    }
}

/// `POST /v1/duty-debriefs`, `POST /v1/consultations`: a record that opens a stream of its own.
#[derive(Debug, Clone)]
pub struct CreateStream<T> {
    pub new: NewStream<T>,
    pub idempotency: Option<Idempotency>,
}

/// `POST /v1/duty-debriefs`: a duty team's end-of-day debrief.
pub type CreateDutyDebrief = CreateStream<DutyDebriefRecorded>;
/// `POST /v1/consultations`: a professional consultation.
pub type CreateConsultation = CreateStream<ConsultationRecorded>;

impl<T: OpensStream> CreateStream<T> {
    /// The role first (403), then the body (400, 422).
    pub fn parse(caller: &Actor, body: &[u8], key: Option<&str>, now: DateTime<Utc>) -> Result<Self, AppError> {
        may_record::<T>(caller)?;
        let new = T::parse(body, now)?;
        Ok(CreateStream { new, idempotency: idempotency(key, caller, T::SCOPE, body) })
    }
}

/// `POST /v1/contacts/{id}/events`: one event on a contact.
#[derive(Debug, Clone)]
pub struct RecordEvent {
    pub contact: Ulid,
    pub request: EventRequest,
    pub idempotency: Option<Idempotency>,
}

impl RecordEvent {
    /// Whether the role may append anything (403), the contact id (404), then the body (400,
    /// 422). What this event needs is checked by [`FrontDoor::record_event`].
    pub fn parse(
        caller: &Actor,
        id: &str,
        body: &[u8],
        key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, AppError> {
        if !auth::may_append_any(caller.role) {
            return Err(AppError::Forbidden(format!("a {} may not append events to contacts", caller.role)));
        }
        let contact = contact_id(id)?;
        let request = validate::parse_event_request(body, now)?;
        Ok(RecordEvent { contact, request, idempotency: idempotency(key, caller, &contact.to_string(), body) })
    }
}

/// A contact id from a path: anything but a ULID names no contact (404).
pub fn contact_id(raw: &str) -> Result<Ulid, AppError> {
    raw.parse::<Ulid>().map_err(|_| AppError::NotFound(format!("no contact {raw:?}: contact ids are ULIDs")))
}

/// Scopes a client's key to the caller and the resource, so two clients never collide.
fn idempotency(key: Option<&str>, caller: &Actor, scope: &str, body: &[u8]) -> Option<Idempotency> {
    key.map(|k| Idempotency::new(format!("{}\u{1f}{scope}\u{1f}{k}", caller.id), body))
}

fn may_create(caller: &Actor) -> Result<(), AppError> {
    if auth::may_create_contact(caller.role) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("a {} may not create contacts", caller.role)))
    }
}

fn may_record<T: OpensStream>(caller: &Actor) -> Result<(), AppError> {
    if T::may_record(caller.role) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("a {} may not record {}", caller.role, T::WHAT)))
    }
}

fn not_found(contact: Ulid) -> AppError {
    AppError::NotFound(format!("no contact {contact}"))
}

/// Refuses a stream that is not a contact (a duty debrief, a consultation) as a contact this id
/// does not name (404), saying what the id is instead.
pub(crate) fn contact_stream(contact: Ulid, events: &[eventlog::Envelope]) -> Result<(), AppError> {
    match events.first().and_then(|e| StreamKind::opened_by(e.event_type)) {
        Some(kind) if kind != StreamKind::Contact => {
            Err(AppError::NotFound(format!("no contact {contact}: {contact} is {}, not a contact", kind.noun())))
        }
        _ => Ok(()),
    }
}

/// Whether the log holds a stream `id` of this kind (its first event opens one).
pub(crate) fn is_stream(events: &[eventlog::Envelope], kind: StreamKind) -> bool {
    events.first().and_then(|e| StreamKind::opened_by(e.event_type)) == Some(kind)
}

pub(crate) fn fold(events: &[eventlog::Envelope]) -> Result<Option<ContactState>, AppError> {
    ContactState::fold(events).map_err(|e| AppError::Internal(e.to_string()))
}

impl FrontDoor {
    /// Receives a new contact: the time rules, then its first event, appended as version 1 of a
    /// new stream.
    pub async fn create_contact(
        &self,
        caller: &Actor,
        command: CreateContact,
        now: DateTime<Utc>,
    ) -> Result<Recorded, AppError> {
        may_create(caller)?;
        let CreateContact { new, idempotency } = command;
        if let Some(consultation) = new.data.follows_consultation
            && !is_stream(&self.log().read_contact(consultation)?, StreamKind::Consultation)
        {
            return Err(Invalid::Fields(vec![validate::FieldError::new(
                "follows_consultation",
                format!("{consultation} is no consultation: it must name one recorded with POST /v1/consultations"),
            )])
            .into());
        }
        let event = Event::ContactReceived(new.data);
        self.open_stream(caller, &event, new.occurred_at, new.late_entry_reason, idempotency, now).await
    }

    /// Records a duty debrief or a consultation: the role (403), the time rules (422), then its
    /// first event, appended as version 1 of a new stream that is never a contact.
    pub async fn record_stream<T: OpensStream>(
        &self,
        caller: &Actor,
        command: CreateStream<T>,
        now: DateTime<Utc>,
    ) -> Result<Recorded, AppError> {
        may_record::<T>(caller)?;
        let CreateStream { new, idempotency } = command;
        let event: Event = new.data.into();
        self.open_stream(caller, &event, new.occurred_at, new.late_entry_reason, idempotency, now).await
    }

    /// A new stream opened by `event`: the time rules (422), then the event appended as version
    /// 1 of a stream with a new id. One path for contacts, duty debriefs and consultations.
    async fn open_stream(
        &self,
        caller: &Actor,
        event: &Event,
        occurred_at: Option<DateTime<Utc>>,
        late_entry_reason: Option<String>,
        idempotency: Option<Idempotency>,
        now: DateTime<Utc>,
    ) -> Result<Recorded, AppError> {
        let occurred_at = occurred_at.unwrap_or(now);
        rules::check_time(occurred_at, late_entry_reason.as_deref(), now, &self.shared.policy)?;
        let mut new_event = NewEvent::new(event, occurred_at, caller.clone());
        new_event.late_entry_reason = late_entry_reason;
        let request =
            AppendRequest { contact_id: Ulid::new(), events: vec![new_event], expected_version: Some(0), idempotency };
        let appended = self.log().append(request).await?;
        let envelope = appended
            .envelopes
            .into_iter()
            .next()
            .ok_or_else(|| AppError::Internal("append returned no event".into()))?;
        Ok(Recorded { envelope, replayed: appended.replayed })
    }

    /// Records one event on a contact: who may record it (403), the time rules and a duplicate's
    /// target (422); then, under the contact's lock, its current state (404 for a contact this
    /// caller may not know of), `expected_version` (409), a correction's value and permission,
    /// the case rules (422, 403), and the append, retried when another writer got in first and
    /// no version was expected. A repeated idempotency key returns the first result, even when
    /// the rules would now refuse the event (e.g. a second decision).
    pub async fn record_event(
        &self,
        caller: &Actor,
        command: RecordEvent,
        now: DateTime<Utc>,
    ) -> Result<Recorded, AppError> {
        let RecordEvent { contact, request, idempotency } = command;
        let event_type = request.event.event_type();
        if !auth::may_append(caller.role, event_type) {
            return Err(AppError::Forbidden(format!("a {} may not append {event_type}", caller.role)));
        }
        if let Event::ChecksReturned(c) = &request.event
            && !auth::partner_may_return_checks_for(caller, c.agency)
        {
            return Err(AppError::Forbidden(format!(
                "a {} partner returns checks for their own agency, not {}",
                caller.agency, c.agency
            )));
        }
        let occurred_at = request.occurred_at.unwrap_or(now);
        rules::check_time(occurred_at, request.late_entry_reason.as_deref(), now, &self.shared.policy)?;
        if let Event::DecisionMade(d) = &request.event
            && let Some(duplicate) = d.duplicate_of
            && (duplicate == contact || self.log().read_contact(duplicate)?.is_empty())
        {
            return Err(AppError::RuleBroken {
                rule: "duplicate-of-unknown-contact",
                detail: format!("data.duplicate_of {duplicate} must name another contact that exists"),
            });
        }
        let mut event = request.event;
        let late_entry_reason = request.late_entry_reason;
        let event_id = Ulid::new();
        let new_event = |event: &Event| NewEvent {
            event_id,
            late_entry_reason: late_entry_reason.clone(),
            ..NewEvent::new(event, occurred_at, caller.clone())
        };

        let mut recent = self.lock_contact(contact).await;
        for attempt in 0.. {
            let state = self.state_of(&recent, contact)?.ok_or_else(|| not_found(contact))?;
            // A receiving team answers only its own handovers, a referrer adds only to its own
            // contacts; of any other contact they do not learn even that it exists.
            if !auth::reads_contact(caller, &state) {
                return Err(not_found(contact));
            }
            if let Some(expected) = request.expected_version
                && expected != state.version
                && idempotency.is_none()
            {
                return Err(AppError::Conflict { expected, current_version: state.version });
            }
            if let Event::CorrectionRecorded(c) = &mut event
                && let Some(target) = state.event(c.corrects_event_id)
            {
                check_correction(caller, &state, target, c, now)?;
            }
            if let Err(refused) = refusal(&state, &event, occurred_at, caller) {
                // A retried idempotent request may legitimately break a rule now (e.g. a second
                // decision): if the key was used, its first result is the answer.
                let Some(key) = &idempotency else { return Err(refused) };
                return match self.log().idempotent_result(key)? {
                    Some(stored) => last(stored.envelopes, true),
                    None => Err(refused),
                };
            }
            let append = AppendRequest {
                contact_id: contact,
                events: vec![new_event(&event)],
                expected_version: Some(request.expected_version.unwrap_or(state.version)),
                idempotency: idempotency.clone(),
            };
            match self.log().append(append).await {
                Ok(appended) => {
                    if let [envelope] = &appended.envelopes[..]
                        && !appended.replayed
                        && envelope.version == state.version + 1
                    {
                        let mut next = state;
                        next.apply(envelope, &event);
                        recent.keep(next);
                    }
                    return last(appended.envelopes, appended.replayed);
                }
                Err(eventlog::AppendError::Conflict { .. })
                    if request.expected_version.is_none() && attempt < RETRIES =>
                {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        unreachable!("the retry loop returns")
    }
}

impl FrontDoor {
    /// A contact's current state: the one its lock stripe kept, when the log's version of the
    /// contact is still the kept state's (nothing appended since), else every event read and
    /// folded. `None` for a contact never received.
    fn state_of(&self, recent: &super::Recent, contact: Ulid) -> Result<Option<ContactState>, AppError> {
        let version = self.log().contact_version(contact)?;
        if version == 0 {
            return Ok(None);
        }
        if let Some(state) = recent.at(contact, version) {
            return Ok(Some(state.clone()));
        }
        let events = self.log().read_contact(contact)?;
        contact_stream(contact, &events)?;
        fold(&events)
    }
}

fn last(envelopes: Vec<eventlog::Envelope>, replayed: bool) -> Result<Recorded, AppError> {
    let envelope = envelopes.into_iter().last().ok_or_else(|| AppError::Internal("append returned no event".into()))?;
    Ok(Recorded { envelope, replayed })
}

/// A correction's value checked as the corrected field's own (422 naming `data.value`), then
/// whether this caller may make it (403).
fn check_correction(
    caller: &Actor,
    state: &ContactState,
    target: projections::contact::EventRef,
    correction: &mut events::schema::CorrectionRecorded,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let field = events::correction::Field::parse(target.event_type, &correction.field);
    let check = state.checks.iter().find(|c| c.event_id == target.event_id).map(|c| (c.agency, c.restricted));
    auth::may_correct(caller, target.event_type, field, check, &correction.value).map_err(AppError::Forbidden)?;
    let errors = validate::check_correction(correction, target.event_type, now);
    if !errors.is_empty() {
        let errors =
            errors.into_iter().map(|e| validate::FieldError::new(format!("data.{}", e.field), e.message)).collect();
        return Err(Invalid::Fields(errors).into());
    }
    Ok(())
}

/// Why `event` may not be appended now, by `caller`, to the contact whose state is `state`: the
/// case rules ([`rules::decide`], 422), then whether a partner may complete the action it names
/// ([`auth::partner_may_complete`], 403), then who may answer a pending handover
/// ([`auth::may_answer_handover`], 403), then the handover rules that depend on who records it
/// ([`rules::decide_handover`], 422), and the allocation and referrer rules that do
/// ([`rules::decide_by_actor`], 422).
fn refusal(state: &ContactState, event: &Event, occurred_at: DateTime<Utc>, caller: &Actor) -> Result<(), AppError> {
    rules::decide(state, event, occurred_at)?;
    if let Event::ActionCompleted(done) = event
        && let Some(action) = state.action(done.plan_event_id, done.action_index)
        && !auth::partner_may_complete(caller, action.owner_agency)
    {
        return Err(AppError::Forbidden(format!(
            "a {} partner completes its own agency's actions; this action is {}'s",
            caller.agency, action.owner_agency
        )));
    }
    if let Event::DecisionMade(d) = event {
        let errors = rules::decision_children(state, d, occurred_at);
        if !errors.is_empty() {
            return Err(Invalid::Fields(errors).into());
        }
    }
    if let Event::HandoverAccepted(_) | Event::HandoverReturned(_) = event
        && let Some(handover) = projections::model::pending_handover(state)
        && !auth::may_answer_handover(caller, handover)
    {
        return Err(AppError::Forbidden(match caller.role {
            eventlog::Role::Practitioner | eventlog::Role::DecisionMaker => format!(
                "this handover is to the {}: only the receiving team it names{} (or an admin) may accept or return it",
                handover.to,
                handover.team.as_deref().map(|t| format!(" ({t})")).unwrap_or_default()
            ),
            role => format!("a {role} may not answer this handover"),
        }));
    }
    rules::decide_handover(event, caller)?;
    Ok(rules::decide_by_actor(state, event, caller)?)
}
