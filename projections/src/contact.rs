//! One contact's current state, folded from its own events: what the case rules decide on,
//! what `GET /v1/contacts/{id}` shows, and what the duty queue lists.

use chrono::{DateTime, Utc};
use events::correction::{Correction, Field, Value};
use events::schema::{
    Agency, Channel, Child, Consent, ContactReceived, Event, HandoverTo, Outcome, PpnGrade, PrimaryNeed, Rating,
    Referrer, SourceCode, StrategyOutcome, StreamKind,
};
use events::{DecodeError, Envelope, EventType};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// Where a contact is in the case flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Received; the duty team has not decided yet.
    AwaitingDecision,
    /// Decided; no handover sent (or none needed).
    Decided,
    /// Handed over; waiting for the receiving team to accept.
    HandoverSent,
    /// The receiving team accepted it.
    HandoverAccepted,
    /// The receiving team sent it back to the duty team.
    HandoverReturned,
    Closed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::AwaitingDecision => "awaiting_decision",
            Stage::Decided => "decided",
            Stage::HandoverSent => "handover_sent",
            Stage::HandoverAccepted => "handover_accepted",
            Stage::HandoverReturned => "handover_returned",
            Stage::Closed => "closed",
        }
    }
}

/// One event of the contact's stream, as the rules and corrections refer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub event_id: Ulid,
    pub event_type: EventType,
    /// When it happened, as corrected.
    pub occurred_at: DateTime<Utc>,
}

/// A contact's handovers to one receiving team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TeamHandover {
    /// Whether a handover to the team was sent.
    pub sent: bool,
    /// When the team first accepted one.
    pub accepted_at: Option<DateTime<Utc>>,
    /// How many handovers the team returned.
    pub returns: u32,
}

/// A contact's handovers to the Assessment Team and to Early Help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HandedOver {
    pub assessment_team: TeamHandover,
    pub early_help: TeamHandover,
}

impl HandedOver {
    fn to_mut(&mut self, to: HandoverTo) -> Option<&mut TeamHandover> {
        match to {
            HandoverTo::AssessmentTeam => Some(&mut self.assessment_team),
            HandoverTo::EarlyHelp => Some(&mut self.early_help),
            _ => None,
        }
    }
}

/// The decision in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub event_id: Ulid,
    pub outcome: Outcome,
    pub rationale: String,
    pub level_of_need: Option<u8>,
    pub primary_need: Option<PrimaryNeed>,
    pub decided_at: DateTime<Utc>,
    pub decided_by: String,
    /// How many earlier decisions this one replaced.
    pub revisions: u32,
    /// The recommendation of the latest duty discussion held before this decision, if any
    /// gave one.
    pub recommended: Option<Outcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HandoverStatus {
    Pending,
    Accepted,
    Returned,
}

/// The latest handover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// The `handover_sent` event, and the event that answered it.
    pub sent_event_id: Ulid,
    pub answer_event_id: Option<Ulid>,
    pub to: HandoverTo,
    pub team: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub status: HandoverStatus,
    /// When the receiving team accepted or returned it.
    pub answered_at: Option<DateTime<Utc>>,
    pub accepted_team: Option<String>,
    pub worker: Option<String>,
    pub returned_reason: Option<String>,
}

/// A returned agency check. Restricted ones are filtered per viewer by the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub event_id: Ulid,
    pub agency: Agency,
    pub summary: String,
    pub restricted: bool,
    pub returned_at: DateTime<Utc>,
    pub returned_by: String,
}

/// The first strategy discussion held on a contact, and the decision it followed (the figure
/// "decision to strategy discussion" counts from that decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyDiscussion {
    pub held_at: DateTime<Utc>,
    pub outcome: StrategyOutcome,
    /// When the decision in force when the discussion was recorded was made.
    pub decided_at: DateTime<Utc>,
}

/// One action of an agreed action plan: when it is due, and when it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanAction {
    /// The `action_plan_agreed` event it belongs to, and its index in that plan's `actions`.
    pub plan_event_id: Ulid,
    pub index: u8,
    /// The agency whose action it is.
    pub owner_agency: Agency,
    pub due: Option<chrono::NaiveDate>,
    /// The `occurred_at` of its `action_completed`.
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub event_id: Ulid,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// A contact folded from its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactState {
    pub contact_id: Ulid,
    pub version: u32,
    /// Global position of the last event applied.
    pub position: u64,
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    pub source: SourceCode,
    pub referrer: Referrer,
    pub children: Vec<Child>,
    pub concerns: String,
    pub immediate_risk: bool,
    pub ppn_grade: Option<PpnGrade>,
    pub rating: Option<Rating>,
    pub consent: Consent,
    /// The `consent_recorded` event the consent in force comes from (`None`: from receipt).
    pub consent_event_id: Option<Ulid>,
    pub decision: Option<Decision>,
    /// The first decision's event (timeliness counts from it).
    pub first_decision_id: Option<Ulid>,
    /// Each revising decision with the decision it revised: (revising, revised).
    pub revisions_of: Vec<(Ulid, Ulid)>,
    /// When the first decision was made (timeliness counts from it, not from revisions).
    pub first_decision_at: Option<DateTime<Utc>>,
    pub first_outcome: Option<Outcome>,
    /// When the first decision was recorded, and whether a correction later moved its
    /// `occurred_at` (either can make it "recorded late" in the figures).
    pub first_decision_recorded_at: Option<DateTime<Utc>>,
    pub first_decision_backdated: bool,
    pub handover: Option<Handover>,
    pub closed: Option<Closure>,
    pub checks_requested: Vec<Agency>,
    pub checks: Vec<Check>,
    pub discussions: u32,
    /// The recommendation of the latest duty discussion that gave one.
    pub recommendation: Option<Outcome>,
    /// Handovers to the Assessment Team and to Early Help: sent, first accepted, returned.
    pub handed_over: HandedOver,
    pub referrer_informed_at: Option<DateTime<Utc>>,
    pub referrer_informed_id: Option<Ulid>,
    pub action_plans: u32,
    /// Whether consent was recorded after receipt (a `consent_recorded` event).
    pub consent_recorded: bool,
    /// When the Assessment Team first accepted a handover of this contact.
    pub assessment_team_accepted_at: Option<DateTime<Utc>>,
    /// When that acceptance was recorded, and whether a correction later moved its time.
    pub assessment_team_accepted_recorded_at: Option<DateTime<Utc>>,
    pub acceptance_backdated: bool,
    pub assessment_team_accepted_id: Option<Ulid>,
    /// The front door's worker on it: the latest `contact_allocated` by the duty team (a
    /// decision maker, a practitioner taking it, an admin). Nothing else changes it: working on
    /// a contact (a note, a call, a decision) does not make anyone its worker.
    pub assigned_to: Option<String>,
    /// The receiving team's worker on it: the `worker` of the latest `handover_accepted` that
    /// names one, or the latest `contact_allocated` by the receiving team itself.
    pub team_worker: Option<String>,
    /// The actor who made the contact (its `contact_received`): a referrer reads and adds to
    /// its own contacts only.
    pub made_by: String,
    /// The professional consultation this contact follows, if its `contact_received` named one.
    pub follows_consultation: Option<Ulid>,
    /// When the referrer answered the feedback survey (once per contact).
    pub referrer_feedback_at: Option<DateTime<Utc>>,
    /// The first strategy discussion held, and how many were held.
    pub strategy_discussion: Option<StrategyDiscussion>,
    pub strategy_discussions: u32,
    /// Every action of every action plan agreed, in plan and action order.
    pub actions: Vec<PlanAction>,
    /// The concern categories in force: the latest decision's that gives any, else the
    /// contact's.
    pub concern_categories: Vec<String>,
    /// The referrer's answers: (listened to, knows the next steps), each 1 to 5.
    pub referrer_feedback: Option<(u8, u8)>,
    /// Every event in the stream (for corrections and revisions).
    pub events: Vec<EventRef>,
}

/// Marks the action an `action_completed` names as done at `at` (the first completion stands).
pub fn complete_action(actions: &mut [PlanAction], done: &events::schema::ActionCompleted, at: DateTime<Utc>) {
    if let Some(action) =
        actions.iter_mut().find(|a| a.plan_event_id == done.plan_event_id && a.index == done.action_index)
    {
        action.completed_at.get_or_insert(at);
    }
}

/// A contact's events did not fold.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    #[error("the first event of a contact must be contact_received, not {0}")]
    NotReceivedFirst(EventType),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl ContactState {
    /// Folds a contact's envelopes (in version order). `None` for an empty stream, and for a
    /// stream that is not a contact (its first event opens another kind of stream, such as a
    /// duty debrief): no contact has that id.
    pub fn fold<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>) -> Result<Option<ContactState>, FoldError> {
        let mut state: Option<ContactState> = None;
        for env in envelopes {
            if state.is_none() && StreamKind::opened_by(env.event_type).is_some_and(|k| k != StreamKind::Contact) {
                return Ok(None);
            }
            let event = env.event()?;
            match state.as_mut() {
                Some(s) => s.apply(env, &event),
                None => state = Some(ContactState::received(env, &event)?),
            }
        }
        Ok(state)
    }

    /// A new contact from its `contact_received` event.
    pub fn received(env: &Envelope, event: &Event) -> Result<ContactState, FoldError> {
        let Event::ContactReceived(c) = event else {
            return Err(FoldError::NotReceivedFirst(env.event_type));
        };
        Ok(ContactState::from_received(env, c.clone()))
    }

    /// A new contact from its `contact_received` event's data, taken (not copied).
    pub fn from_received(env: &Envelope, c: ContactReceived) -> ContactState {
        ContactState {
            contact_id: env.contact_id,
            version: env.version,
            position: env.position,
            received_at: env.occurred_at,
            channel: c.channel,
            source: c.source,
            referrer: c.referrer,
            children: c.children,
            concerns: c.concerns,
            immediate_risk: c.immediate_risk,
            ppn_grade: c.ppn_grade,
            rating: None,
            consent: c.consent,
            consent_event_id: None,
            decision: None,
            first_decision_id: None,
            revisions_of: Vec::new(),
            first_decision_at: None,
            first_outcome: None,
            first_decision_recorded_at: None,
            first_decision_backdated: false,
            handover: None,
            closed: None,
            checks_requested: Vec::new(),
            checks: Vec::new(),
            discussions: 0,
            recommendation: None,
            handed_over: HandedOver::default(),
            referrer_informed_at: None,
            referrer_informed_id: None,
            action_plans: 0,
            consent_recorded: false,
            assessment_team_accepted_at: None,
            assessment_team_accepted_recorded_at: None,
            acceptance_backdated: false,
            assessment_team_accepted_id: None,
            assigned_to: None,
            team_worker: None,
            made_by: env.actor.id.clone(),
            follows_consultation: c.follows_consultation,
            referrer_feedback_at: None,
            strategy_discussion: None,
            strategy_discussions: 0,
            actions: Vec::new(),
            concern_categories: c.concern_categories,
            referrer_feedback: None,
            events: vec![EventRef { event_id: env.event_id, event_type: env.event_type, occurred_at: env.occurred_at }],
        }
    }

    /// Applies the next event of this contact.
    pub fn apply(&mut self, env: &Envelope, event: &Event) {
        self.version = env.version;
        self.position = env.position;
        self.events.push(EventRef { event_id: env.event_id, event_type: env.event_type, occurred_at: env.occurred_at });
        let at = env.occurred_at;
        let by = &env.actor.id;
        match event {
            // A stream's first event: never one of a contact's later events.
            Event::ContactReceived(_) | Event::DutyDebriefRecorded(_) | Event::ConsultationRecorded(_) => {}
            Event::TriageRated(t) => self.rating = Some(t.rating),
            Event::CallLogged(_) | Event::NoteAdded(_) => {}
            Event::CorrectionRecorded(c) => {
                if let Some(target) = self.event(c.corrects_event_id)
                    && let Some(correction) = Correction::read(target.event_type, &c.field, &c.value)
                {
                    self.correct(target, &correction);
                }
            }
            Event::ChecksRequested(c) => self.checks_requested.push(c.agency),
            Event::ChecksReturned(c) => self.checks.push(Check {
                event_id: env.event_id,
                agency: c.agency,
                summary: c.summary.clone(),
                restricted: c.restricted,
                returned_at: at,
                returned_by: by.clone(),
            }),
            Event::DutyDiscussionHeld(d) => {
                self.discussions += 1;
                if d.recommendation.is_some() {
                    self.recommendation = d.recommendation;
                }
            }
            Event::ConsentRecorded(c) => {
                self.consent = c.consent;
                self.consent_event_id = Some(env.event_id);
                self.consent_recorded = true;
            }
            Event::DecisionMade(d) => {
                let revisions = self.decision.as_ref().map_or(0, |prev| prev.revisions + 1);
                if let Some(r) = &d.revises {
                    self.revisions_of.push((env.event_id, r.event_id));
                }
                if self.first_decision_at.is_none() {
                    self.first_decision_at = Some(at);
                    self.first_decision_id = Some(env.event_id);
                    self.first_decision_recorded_at = Some(env.recorded_at);
                }
                self.first_outcome.get_or_insert(d.outcome);
                if !d.concern_categories.is_empty() {
                    self.concern_categories.clone_from(&d.concern_categories);
                }
                self.decision = Some(Decision {
                    event_id: env.event_id,
                    outcome: d.outcome,
                    rationale: d.rationale.clone(),
                    level_of_need: d.level_of_need,
                    primary_need: d.primary_need,
                    decided_at: at,
                    decided_by: by.clone(),
                    revisions,
                    recommended: self.recommendation,
                });
            }
            Event::ActionPlanAgreed(plan) => {
                self.action_plans += 1;
                for (index, action) in plan.actions.iter().enumerate() {
                    self.actions.push(PlanAction {
                        plan_event_id: env.event_id,
                        index: u8::try_from(index).unwrap_or(u8::MAX),
                        owner_agency: action.owner_agency,
                        due: action.due,
                        completed_at: None,
                    });
                }
            }
            Event::ActionCompleted(done) => complete_action(&mut self.actions, done, at),
            Event::ReferrerInformed(_) => {
                if self.referrer_informed_at.is_none() {
                    self.referrer_informed_at = Some(at);
                    self.referrer_informed_id = Some(env.event_id);
                }
            }
            Event::HandoverSent(h) => {
                if let Some(t) = self.handed_over.to_mut(h.to) {
                    t.sent = true;
                }
                self.handover = Some(Handover {
                    sent_event_id: env.event_id,
                    answer_event_id: None,
                    to: h.to,
                    team: h.team.clone(),
                    sent_at: at,
                    status: HandoverStatus::Pending,
                    answered_at: None,
                    accepted_team: None,
                    worker: None,
                    returned_reason: None,
                });
            }
            Event::HandoverAccepted(a) => {
                if let Some(h) = self.handover.as_mut() {
                    if let Some(t) = self.handed_over.to_mut(h.to) {
                        t.accepted_at.get_or_insert(at);
                    }
                    if h.to == HandoverTo::AssessmentTeam && self.assessment_team_accepted_at.is_none() {
                        self.assessment_team_accepted_at = Some(at);
                        self.assessment_team_accepted_id = Some(env.event_id);
                        self.assessment_team_accepted_recorded_at = Some(env.recorded_at);
                    }
                    h.answer_event_id = Some(env.event_id);
                    h.status = HandoverStatus::Accepted;
                    h.answered_at = Some(at);
                    h.accepted_team = Some(a.team.clone());
                    h.worker = a.worker.clone();
                }
                if let Some(worker) = &a.worker {
                    self.team_worker = Some(worker.clone());
                }
            }
            Event::HandoverReturned(r) => {
                if let Some(h) = self.handover.as_mut() {
                    if let Some(t) = self.handed_over.to_mut(h.to) {
                        t.returns += 1;
                    }
                    h.answer_event_id = Some(env.event_id);
                    h.status = HandoverStatus::Returned;
                    h.answered_at = Some(at);
                    h.returned_reason = Some(r.reason.clone());
                }
            }
            Event::ContactClosed(c) => {
                self.closed = Some(Closure { event_id: env.event_id, at, reason: c.reason.clone() });
            }
            // The child index's business ([`crate::children`]): the case itself is unchanged.
            Event::AuditFindingRecorded(_) | Event::ChildrenLinked(_) | Event::ChildrenUnlinked(_) => {}
            Event::ContactAllocated(a) => {
                if env.actor.role == events::Role::ReceivingTeam {
                    self.team_worker = Some(a.worker.clone());
                } else {
                    self.assigned_to = Some(a.worker.clone());
                }
            }
            Event::ReferrerFeedbackGiven(f) => {
                if self.referrer_feedback_at.is_none() {
                    self.referrer_feedback_at = Some(at);
                    self.referrer_feedback = Some((f.listened_to, f.knows_next_steps));
                }
            }
            Event::StrategyDiscussionHeld(s) => {
                self.strategy_discussions += 1;
                if self.strategy_discussion.is_none()
                    && let Some(d) = &self.decision
                {
                    self.strategy_discussion =
                        Some(StrategyDiscussion { held_at: s.held_at, outcome: s.outcome, decided_at: d.decided_at });
                }
            }
        }
    }

    /// The action `index` of the plan `plan_event_id`, if the contact has it.
    pub fn action(&self, plan_event_id: Ulid, index: u8) -> Option<&PlanAction> {
        self.actions.iter().find(|a| a.plan_event_id == plan_event_id && a.index == index)
    }

    pub fn stage(&self) -> Stage {
        if self.closed.is_some() {
            return Stage::Closed;
        }
        match (&self.decision, &self.handover) {
            (None, _) => Stage::AwaitingDecision,
            (Some(_), None) => Stage::Decided,
            (Some(_), Some(h)) => match h.status {
                HandoverStatus::Pending => Stage::HandoverSent,
                HandoverStatus::Accepted => Stage::HandoverAccepted,
                HandoverStatus::Returned => Stage::HandoverReturned,
            },
        }
    }

    /// Whether the decision in force makes this contact a referral.
    pub fn is_referral(&self) -> bool {
        self.decision.as_ref().is_some_and(|d| d.outcome.is_referral())
    }

    /// Red-rated or flagged at receipt as immediate risk: due within hours, any day.
    pub fn is_urgent(&self) -> bool {
        self.immediate_risk || self.rating == Some(Rating::Red)
    }

    pub fn has_event(&self, id: Ulid) -> bool {
        self.event(id).is_some()
    }

    /// One of the contact's events.
    pub fn event(&self, id: Ulid) -> Option<EventRef> {
        self.events.iter().find(|e| e.event_id == id).copied()
    }

    /// Applies a correction of the contact's event `target`: the corrected value is read
    /// instead of the original from here on.
    fn correct(&mut self, target: EventRef, correction: &Correction) {
        let id = target.event_id;
        match (correction.field, &correction.value) {
            (Field::Child(..), _) => correction.apply_to_children(&mut self.children),
            (Field::ImmediateRisk, Value::Bool(v)) => self.immediate_risk = *v,
            (Field::Consent, Value::Consent(v)) => {
                // The consent in force comes from the latest consent_recorded, else receipt.
                let from_target = match target.event_type {
                    EventType::ContactReceived => self.consent_event_id.is_none(),
                    _ => self.consent_event_id == Some(id),
                };
                if from_target {
                    self.consent = *v;
                }
            }
            (Field::Restricted, Value::Bool(v)) => {
                if let Some(check) = self.checks.iter_mut().find(|c| c.event_id == id) {
                    check.restricted = *v;
                }
            }
            (Field::Summary, Value::Text(v)) => {
                if let Some(check) = self.checks.iter_mut().find(|c| c.event_id == id) {
                    check.summary.clone_from(v);
                }
            }
            (Field::OccurredAt, Value::Timestamp(at)) => self.correct_time(target, *at),
            _ => {}
        }
    }

    /// Moves the event `target` to `at`, and every time the contact keeps from it.
    fn correct_time(&mut self, target: EventRef, at: DateTime<Utc>) {
        let id = target.event_id;
        if let Some(e) = self.events.iter_mut().find(|e| e.event_id == id) {
            e.occurred_at = at;
        }
        match target.event_type {
            EventType::ContactReceived => self.received_at = at,
            EventType::DecisionMade => {
                if self.first_decision_id == Some(id) {
                    self.first_decision_at = Some(at);
                    self.first_decision_backdated = true;
                }
                if let Some(d) = self.decision.as_mut().filter(|d| d.event_id == id) {
                    d.decided_at = at;
                }
            }
            EventType::ReferrerInformed if self.referrer_informed_id == Some(id) => {
                self.referrer_informed_at = Some(at);
            }
            EventType::HandoverSent => {
                if let Some(h) = self.handover.as_mut().filter(|h| h.sent_event_id == id) {
                    h.sent_at = at;
                }
            }
            EventType::HandoverAccepted | EventType::HandoverReturned => {
                if let Some(h) = self.handover.as_mut().filter(|h| h.answer_event_id == Some(id)) {
                    h.answered_at = Some(at);
                }
                if self.assessment_team_accepted_id == Some(id) {
                    self.assessment_team_accepted_at = Some(at);
                    self.acceptance_backdated = true;
                }
            }
            EventType::ChecksReturned => {
                if let Some(check) = self.checks.iter_mut().find(|c| c.event_id == id) {
                    check.returned_at = at;
                }
            }
            EventType::ContactClosed => {
                if let Some(c) = self.closed.as_mut().filter(|c| c.event_id == id) {
                    c.at = at;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::schema::*;
    use events::{Actor, Hash, Role};

    fn env(version: u32, event: &Event, at: &str, role: Role, actor: &str) -> Envelope {
        Envelope {
            position: u64::from(version),
            event_id: Ulid::from_parts(u64::from(version), 0),
            contact_id: Ulid::from_parts(1, 1),
            version,
            event_type: event.event_type(),
            schema_version: CURRENT_SCHEMA_VERSION,
            occurred_at: at.parse().unwrap(),
            late_entry_reason: None,
            recorded_at: at.parse().unwrap(),
            actor: Actor { id: actor.into(), role, agency: Agency::ChildrensSocialCare, team: None },
            data: event.data_json(),
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        }
    }

    fn received() -> Event {
        Event::ContactReceived(ContactReceived {
            channel: Channel::Phone,
            source: SourceCode::School,
            referrer: Referrer { name: "A Teacher".into(), organisation: None, role: None, phone: None, email: None },
            children: vec![Child {
                name: "Sam Example".into(),
                date_of_birth: None,
                sex: None,
                child_ref: None,
                nhs_number: None,
                upn: None,
                ethnicity: None,
                expected_date_of_birth: None,
                address: None,
            }],
            concerns: "bruising".into(),
            immediate_risk: false,
            consent: Consent::Given,
            consent_override_reason: None,
            ppn_grade: None,
            adults: Vec::new(),
            concern_categories: Vec::new(),
            follows_consultation: None,
        })
    }

    fn decision(outcome: Outcome) -> Event {
        Event::DecisionMade(DecisionMade {
            outcome,
            rationale: "r".into(),
            level_of_need: Some(4),
            primary_need: None,
            revises: None,
            duplicate_of: None,
            children: Vec::new(),
            concern_categories: Vec::new(),
        })
    }

    #[test]
    fn a_contact_moves_through_its_stages() {
        let events = [
            env(1, &received(), "2026-03-02T09:00:00Z", Role::Referrer, "school"),
            env(
                2,
                &Event::TriageRated(TriageRated { rating: Rating::Amber, reason: None }),
                "2026-03-02T09:10:00Z",
                Role::Practitioner,
                "sw-1",
            ),
            env(3, &decision(Outcome::Assessment), "2026-03-02T11:00:00Z", Role::DecisionMaker, "dm-1"),
        ];
        let s = ContactState::fold(&events).unwrap().unwrap();
        assert_eq!(s.stage(), Stage::Decided);
        assert!(s.is_referral());
        assert_eq!(s.rating, Some(Rating::Amber));
        assert_eq!(s.assigned_to, None, "working on a contact does not allocate it");
        assert_eq!(s.first_decision_at, Some("2026-03-02T11:00:00Z".parse().unwrap()));

        let mut s = s;
        let sent = env(
            4,
            &Event::HandoverSent(HandoverSent { to: HandoverTo::AssessmentTeam, team: None, notes: None }),
            "2026-03-02T12:00:00Z",
            Role::Practitioner,
            "sw-1",
        );
        s.apply(&sent, &sent.event().unwrap());
        assert_eq!(s.stage(), Stage::HandoverSent);
        let accepted = env(
            5,
            &Event::HandoverAccepted(HandoverAccepted {
                team: "AT North".into(),
                worker: Some("at-jo".into()),
                evidence: None,
            }),
            "2026-03-03T09:00:00Z",
            Role::Practitioner,
            "at-jo",
        );
        s.apply(&accepted, &accepted.event().unwrap());
        assert_eq!(s.stage(), Stage::HandoverAccepted);
        assert_eq!(s.team_worker.as_deref(), Some("at-jo"));
        assert_eq!(s.assigned_to, None, "the receiving team's worker is not the front door's");
        assert_eq!(s.version, 5);
    }

    #[test]
    fn handovers_to_early_help_are_counted_sent_returned_and_accepted() {
        let sent = || Event::HandoverSent(HandoverSent { to: HandoverTo::EarlyHelp, team: None, notes: None });
        let events = [
            env(1, &received(), "2026-03-02T09:00:00Z", Role::Referrer, "school"),
            env(2, &decision(Outcome::EarlyHelp), "2026-03-02T11:00:00Z", Role::DecisionMaker, "dm-1"),
            env(3, &sent(), "2026-03-02T11:30:00Z", Role::Practitioner, "sw-1"),
            env(
                4,
                &Event::HandoverReturned(HandoverReturned { reason: "Not known to us".into() }),
                "2026-03-02T13:00:00Z",
                Role::ReceivingTeam,
                "eh-1",
            ),
            env(5, &sent(), "2026-03-02T14:00:00Z", Role::Practitioner, "sw-1"),
            env(
                6,
                &Event::HandoverAccepted(HandoverAccepted {
                    team: "Early Help West".into(),
                    worker: None,
                    evidence: None,
                }),
                "2026-03-02T16:00:00Z",
                Role::ReceivingTeam,
                "eh-1",
            ),
        ];
        let s = ContactState::fold(&events).unwrap().unwrap();
        let eh = s.handed_over.early_help;
        assert!(eh.sent);
        assert_eq!((eh.returns, eh.accepted_at), (1, Some("2026-03-02T16:00:00Z".parse().unwrap())));
        assert_eq!(s.handed_over.assessment_team, TeamHandover::default());
        assert_eq!(s.assessment_team_accepted_at, None, "Early Help is not the Assessment Team");
    }

    /// Found on the duty board: whoever last touched a contact became its worker, so a manager
    /// adding a note took the contact from the practitioner allocated to it.
    #[test]
    fn bug_a_manager_adding_a_note_became_the_assigned_worker() {
        let allocated = |worker: &str| Event::ContactAllocated(ContactAllocated { worker: worker.into() });
        let note = Event::NoteAdded(NoteAdded { text: "spoke to the school".into() });
        let events = [
            env(1, &received(), "2026-03-02T09:00:00Z", Role::Referrer, "school"),
            env(2, &allocated("sw-1"), "2026-03-02T09:05:00Z", Role::Practitioner, "sw-1"),
            env(3, &note, "2026-03-02T09:10:00Z", Role::DecisionMaker, "dm-1"),
            env(4, &decision(Outcome::Assessment), "2026-03-02T10:00:00Z", Role::DecisionMaker, "dm-1"),
        ];
        let mut s = ContactState::fold(&events).unwrap().unwrap();
        assert_eq!(s.assigned_to.as_deref(), Some("sw-1"));
        assert_eq!(s.made_by, "school");
        let moved = env(5, &allocated("sw-2"), "2026-03-02T10:05:00Z", Role::DecisionMaker, "dm-1");
        s.apply(&moved, &moved.event().unwrap());
        assert_eq!(s.assigned_to.as_deref(), Some("sw-2"));
        let team = env(6, &allocated("at-jo"), "2026-03-03T10:05:00Z", Role::ReceivingTeam, "at-north");
        s.apply(&team, &team.event().unwrap());
        assert_eq!((s.assigned_to.as_deref(), s.team_worker.as_deref()), (Some("sw-2"), Some("at-jo")));
    }

    #[test]
    fn a_revised_decision_keeps_the_first_decision_time() {
        let first = env(2, &decision(Outcome::EarlyHelp), "2026-03-02T10:00:00Z", Role::DecisionMaker, "dm-1");
        let mut second_ev = decision(Outcome::Assessment);
        if let Event::DecisionMade(d) = &mut second_ev {
            d.revises = Some(Revises { event_id: first.event_id, reason: "new information".into() });
        }
        let second = env(3, &second_ev, "2026-03-03T10:00:00Z", Role::DecisionMaker, "dm-2");
        let s = ContactState::fold(&[env(1, &received(), "2026-03-02T09:00:00Z", Role::Referrer, "r"), first, second])
            .unwrap()
            .unwrap();
        let d = s.decision.unwrap();
        assert_eq!((d.outcome, d.revisions), (Outcome::Assessment, 1));
        assert_eq!(s.first_decision_at, Some("2026-03-02T10:00:00Z".parse().unwrap()));
    }

    fn correction(version: u32, of: u32, field: &str, value: serde_json::Value) -> Envelope {
        let event = Event::CorrectionRecorded(CorrectionRecorded {
            corrects_event_id: Ulid::from_parts(u64::from(of), 0),
            field: field.into(),
            value,
            reason: "recorded wrongly".into(),
        });
        env(version, &event, "2026-03-04T09:00:00Z", Role::DecisionMaker, "dm-1")
    }

    /// Found trying the API: a correction was accepted and changed nothing, even a child's
    /// date of birth, immediate risk or a check's restriction.
    #[test]
    fn bug_corrections_changed_nothing() {
        let check = Event::ChecksReturned(ChecksReturned {
            agency: Agency::Police,
            summary: "known to police".into(),
            restricted: false,
        });
        let events = [
            env(1, &received(), "2026-03-02T09:00:00Z", Role::Referrer, "school"),
            env(2, &check, "2026-03-02T10:00:00Z", Role::Partner, "pc-1"),
            env(3, &decision(Outcome::EarlyHelp), "2026-03-03T11:00:00Z", Role::DecisionMaker, "dm-1"),
            correction(4, 1, "children[0].date_of_birth", serde_json::json!("2019-04-01")),
            correction(5, 1, "immediate_risk", serde_json::json!(true)),
            correction(6, 2, "restricted", serde_json::json!(true)),
            correction(7, 2, "summary", serde_json::json!("known to police: two call-outs")),
            correction(8, 3, "occurred_at", serde_json::json!("2026-03-02T12:00:00Z")),
            correction(9, 1, "consent", serde_json::json!("overridden")),
            // Unreadable corrections (as schema version 1 allowed) change nothing.
            correction(10, 1, "concerns", serde_json::json!("rewritten")),
            correction(11, 1, "children[0].date_of_birth", serde_json::json!("purple")),
        ];
        let s = ContactState::fold(&events).unwrap().unwrap();
        assert_eq!(s.children[0].date_of_birth, Some("2019-04-01".parse().unwrap()));
        assert!(s.immediate_risk && s.is_urgent());
        assert!(s.checks[0].restricted);
        assert_eq!(s.checks[0].summary, "known to police: two call-outs");
        assert_eq!(s.first_decision_at, Some("2026-03-02T12:00:00Z".parse().unwrap()));
        assert_eq!(s.decision.as_ref().unwrap().decided_at, "2026-03-02T12:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert!(s.first_decision_backdated);
        assert_eq!(s.consent, Consent::Overridden);
        assert_eq!(s.concerns, "bruising");
        assert_eq!(s.version, 11);

        // Consent recorded after receipt is the consent in force: correcting receipt's leaves it.
        let recorded = Event::ConsentRecorded(ConsentRecorded { consent: Consent::Given, reason: None });
        let later = [
            env(1, &received(), "2026-03-02T09:00:00Z", Role::Referrer, "school"),
            env(2, &recorded, "2026-03-02T10:00:00Z", Role::Practitioner, "sw-1"),
            correction(3, 1, "consent", serde_json::json!("not_given")),
        ];
        assert_eq!(ContactState::fold(&later).unwrap().unwrap().consent, Consent::Given);
    }

    #[test]
    fn a_stream_must_start_with_contact_received() {
        let note = env(1, &Event::NoteAdded(NoteAdded { text: "x".into() }), "2026-03-02T09:00:00Z", Role::Admin, "a");
        assert!(matches!(ContactState::fold(&[note]), Err(FoldError::NotReceivedFirst(EventType::NoteAdded))));
        assert!(ContactState::fold(&[]).unwrap().is_none());
    }
}
