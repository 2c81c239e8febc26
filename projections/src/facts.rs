//! The few facts about each contact that the figures need, small enough to keep for every
//! contact ever received (the full state is kept only while a contact is open).

use chrono::{DateTime, NaiveDate, Utc};
use eventlog::schema::{Channel, Consent, Outcome, Rating, SourceCode};
use serde::Serialize;
use ulid::Ulid;

use crate::contact::ContactState;

/// What the timeliness, volume and practice figures are computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactFacts {
    pub contact_id: Ulid,
    /// When the contact was received (its `occurred_at`).
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    pub source: SourceCode,
    /// Children named in the contact (figures "per child" count each).
    pub children: u32,
    pub immediate_risk: bool,
    /// The latest triage rating.
    pub rating: Option<Rating>,
    /// Consent as it stands, and whether it was recorded after receipt.
    pub consent: Consent,
    pub consent_recorded: bool,
    /// The first decision: when, and what it was (timeliness counts from it).
    pub first_decision_at: Option<DateTime<Utc>>,
    pub first_outcome: Option<Outcome>,
    /// When the first decision was recorded, and whether a correction moved its time.
    pub first_decision_recorded_at: Option<DateTime<Utc>>,
    pub first_decision_backdated: bool,
    /// The decision in force and its level of need.
    pub outcome: Option<Outcome>,
    pub level_of_need: Option<u8>,
    /// How many times the decision was revised.
    pub revisions: u32,
    /// When the Assessment Team first accepted the handover (referrals only).
    pub assessment_team_accepted_at: Option<DateTime<Utc>>,
    /// When that acceptance was recorded, and whether a correction moved its time.
    pub assessment_team_accepted_recorded_at: Option<DateTime<Utc>>,
    pub acceptance_backdated: bool,
    pub referrer_informed_at: Option<DateTime<Utc>>,
    pub action_plans: u32,
    pub closed_at: Option<DateTime<Utc>>,
    /// How many earlier contacts, received in the 12 months before this one, named one of
    /// the same children (matched by NHS number, else child_ref, else name and date of birth).
    pub previous_contacts: u32,
}

impl ContactFacts {
    /// The facts of a contact's current state; `previous_contacts` comes from the children
    /// index, which only the read model has.
    pub fn of(state: &ContactState, previous_contacts: u32) -> ContactFacts {
        ContactFacts {
            contact_id: state.contact_id,
            received_at: state.received_at,
            channel: state.channel,
            source: state.source,
            children: u32::try_from(state.children.len()).unwrap_or(u32::MAX),
            immediate_risk: state.immediate_risk,
            rating: state.rating,
            consent: state.consent,
            consent_recorded: state.consent_recorded,
            first_decision_at: state.first_decision_at,
            first_outcome: state.first_outcome,
            first_decision_recorded_at: state.first_decision_recorded_at,
            first_decision_backdated: state.first_decision_backdated,
            outcome: state.decision.as_ref().map(|d| d.outcome),
            level_of_need: state.decision.as_ref().and_then(|d| d.level_of_need),
            revisions: state.decision.as_ref().map_or(0, |d| d.revisions),
            assessment_team_accepted_at: state.assessment_team_accepted_at,
            assessment_team_accepted_recorded_at: state.assessment_team_accepted_recorded_at,
            acceptance_backdated: state.acceptance_backdated,
            referrer_informed_at: state.referrer_informed_at,
            action_plans: state.action_plans,
            closed_at: state.closed.as_ref().map(|c| c.at),
            previous_contacts,
        }
    }

    /// Whether the decision in force makes this contact a referral.
    pub fn is_referral(&self) -> bool {
        self.outcome.is_some_and(Outcome::is_referral)
    }

    /// Red-rated or immediate risk: due within hours.
    pub fn is_urgent(&self) -> bool {
        self.immediate_risk || self.rating == Some(Rating::Red)
    }

    /// The London date the contact was received on (periods are by receipt).
    pub fn received_on(&self) -> NaiveDate {
        crate::time::london_date(self.received_at)
    }
}
