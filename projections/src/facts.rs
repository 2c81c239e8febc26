//! The few facts about each contact that the figures need, small enough to keep for every
//! contact ever received (the full state is kept only while a contact is open).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use events::schema::{Channel, Consent, Outcome, Rating, SourceCode};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use events::EventType;
use events::correction::{Correction, Field, Value};

use crate::chunked::Chunked;
use crate::contact::{ContactState, PlanAction, StrategyDiscussion};
use crate::locality::District;

/// What the timeliness, volume and practice figures are computed from.
///
/// Its serde form is the read model snapshot's (ids as 128-bit numbers, times as nanoseconds),
/// not an API's: nothing serves it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactFacts {
    #[serde(with = "ulid::serde::ulid_as_u128")]
    pub contact_id: Ulid,
    /// When the contact was received (its `occurred_at`).
    #[serde(with = "chrono::serde::ts_nanoseconds")]
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    pub source: SourceCode,
    /// The postcode district of the first child's address, if it has a postcode (the
    /// contact's locality is worked out from it, see [`crate::locality`]).
    pub district: Option<District>,
    /// Children named in the contact (figures "per child" count each).
    pub children: u32,
    pub immediate_risk: bool,
    /// The latest triage rating.
    pub rating: Option<Rating>,
    /// Consent as it stands, and whether it was recorded after receipt.
    pub consent: Consent,
    pub consent_recorded: bool,
    /// The first decision: when, and what it was (timeliness counts from it).
    #[serde(with = "chrono::serde::ts_nanoseconds_option")]
    pub first_decision_at: Option<DateTime<Utc>>,
    pub first_outcome: Option<Outcome>,
    /// When the first decision was recorded, and whether a correction moved its time.
    #[serde(with = "chrono::serde::ts_nanoseconds_option")]
    pub first_decision_recorded_at: Option<DateTime<Utc>>,
    pub first_decision_backdated: bool,
    /// The decision in force and its level of need.
    pub outcome: Option<Outcome>,
    pub level_of_need: Option<u8>,
    /// How many times the decision was revised.
    pub revisions: u32,
    /// The recommendation of the latest duty discussion held before the decision in force.
    pub recommended: Option<Outcome>,
    /// When the decision in force was made.
    #[serde(with = "chrono::serde::ts_nanoseconds_option")]
    pub decided_at: Option<DateTime<Utc>>,
    /// The first strategy discussion held (also after closing), and the decision it followed.
    pub strategy_discussion: Option<StrategyDiscussion>,
    /// When the Assessment Team first accepted the handover (referrals only).
    #[serde(with = "chrono::serde::ts_nanoseconds_option")]
    pub assessment_team_accepted_at: Option<DateTime<Utc>>,
    /// When that acceptance was recorded, and whether a correction moved its time.
    #[serde(with = "chrono::serde::ts_nanoseconds_option")]
    pub assessment_team_accepted_recorded_at: Option<DateTime<Utc>>,
    pub acceptance_backdated: bool,
    /// Handovers to the Assessment Team and to Early Help: sent, first accepted, returned.
    pub handed_over: crate::contact::HandedOver,
    #[serde(with = "chrono::serde::ts_nanoseconds_option")]
    pub referrer_informed_at: Option<DateTime<Utc>>,
    pub action_plans: u32,
    /// Every action of the contact's action plans, with its due date and completion.
    pub actions: Vec<PlanAction>,
    /// The concern categories in force (CIN assessment factor codes): the decision's when it
    /// gives any, else the contact's.
    #[serde(deserialize_with = "known_categories")]
    pub concern_categories: Vec<&'static str>,
    #[serde(with = "chrono::serde::ts_nanoseconds_option")]
    pub closed_at: Option<DateTime<Utc>>,
    /// How many earlier contacts, received in the 12 months before this one, named one of
    /// the same children (matched by NHS number, else child_ref, else name and date of birth).
    pub previous_contacts: u32,
    /// The referrer's answers to the feedback survey, if it gave them.
    pub referrer_feedback: Option<Feedback>,
    /// Which events the times and values above come from, so that a correction of a closed
    /// contact (whose full state is no longer kept) still reaches the figures.
    pub sources: FactSources,
}

/// Every contact's facts, by contact id. The facts themselves sit in a [`Chunked`] vector (in
/// the order the contacts were first received) and the map holds only where each is. A map of
/// the facts themselves (336 bytes each) doubled its table as contacts came, copying every
/// record each time and briefly holding both tables: at 545,733 contacts its table is 2^20
/// slots of 352 bytes (370 MB), where the facts take 183 MB.
#[derive(Debug, Clone, Default)]
pub(crate) struct FactStore {
    at: HashMap<Ulid, u32, foldhash::fast::RandomState>,
    all: Chunked<ContactFacts>,
}

impl FactStore {
    /// Sets the facts of `facts.contact_id`, replacing any it had.
    pub(crate) fn insert(&mut self, facts: ContactFacts) {
        match self.at.get(&facts.contact_id) {
            Some(&i) => self.all[i as usize] = facts,
            None => {
                let i = u32::try_from(self.all.len()).expect("fewer than 4 billion contacts");
                self.at.insert(facts.contact_id, i);
                self.all.push(facts);
            }
        }
    }

    pub(crate) fn get(&self, id: &Ulid) -> Option<&ContactFacts> {
        self.at.get(id).map(|&i| &self.all[i as usize])
    }

    pub(crate) fn get_mut(&mut self, id: &Ulid) -> Option<&mut ContactFacts> {
        self.at.get(id).map(|&i| &mut self.all[i as usize])
    }

    /// Every contact's facts, in the order the contacts were first received into the log.
    pub(crate) fn values(&self) -> impl Iterator<Item = &ContactFacts> {
        self.all.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }
}

/// In a snapshot, the facts alone: where each is follows from their order.
impl Serialize for FactStore {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.all.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for FactStore {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let all = Chunked::<ContactFacts>::deserialize(deserializer)?;
        let mut at = HashMap::with_capacity_and_hasher(all.len(), foldhash::fast::RandomState::default());
        for (i, facts) in all.iter().enumerate() {
            let i = u32::try_from(i).map_err(serde::de::Error::custom)?;
            if at.insert(facts.contact_id, i).is_some() {
                return Err(serde::de::Error::custom(format!("contact {} has two facts", facts.contact_id)));
            }
        }
        Ok(FactStore { at, all })
    }
}

/// A referrer's answers to the feedback survey (`referrer_feedback_given`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// When it was given (its `occurred_at`): the week it counts in.
    pub at: DateTime<Utc>,
    /// Did the referrer feel listened to, 1 to 5.
    pub listened_to: u8,
    /// Does the referrer know what happens next, 1 to 5.
    pub knows_next_steps: u8,
}

/// The events a contact's facts come from, each as the low 64 bits of its id (the random
/// part of a ULID: two events of one contact never share them in practice), 0 for none.
/// Compact because it is kept for every contact ever received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactSources {
    received: u64,
    consent: u64,
    first_decision: u64,
    referrer_informed: u64,
    assessment_team_accepted: u64,
    closed: u64,
}

fn key(id: Ulid) -> u64 {
    // Truncation is the point: the random low half of the id.
    #[allow(clippy::cast_possible_truncation)]
    let low = id.0 as u64;
    low
}

fn key_of(id: Option<Ulid>) -> u64 {
    id.map_or(0, key)
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
            district: state
                .children
                .first()
                .and_then(|c| c.address.as_ref())
                .and_then(|a| a.postcode.as_deref())
                .and_then(District::of_postcode),
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
            recommended: state.decision.as_ref().and_then(|d| d.recommended),
            decided_at: state.decision.as_ref().map(|d| d.decided_at),
            strategy_discussion: state.strategy_discussion,
            assessment_team_accepted_at: state.assessment_team_accepted_at,
            assessment_team_accepted_recorded_at: state.assessment_team_accepted_recorded_at,
            acceptance_backdated: state.acceptance_backdated,
            handed_over: state.handed_over,
            referrer_informed_at: state.referrer_informed_at,
            action_plans: state.action_plans,
            actions: state.actions.clone(),
            concern_categories: state
                .concern_categories
                .iter()
                .filter_map(|c| events::schema::CONCERN_CATEGORY_CODES.iter().copied().find(|k| k == c))
                .collect(),
            closed_at: state.closed.as_ref().map(|c| c.at),
            previous_contacts,
            referrer_feedback: state
                .referrer_feedback_at
                .zip(state.referrer_feedback)
                .map(|(at, (listened_to, knows_next_steps))| Feedback { at, listened_to, knows_next_steps }),
            sources: FactSources {
                received: key(state.events.first().map_or(Ulid::nil(), |e| e.event_id)),
                consent: if state.consent_event_id.is_some() {
                    key_of(state.consent_event_id)
                } else {
                    key(state.events.first().map_or(Ulid::nil(), |e| e.event_id))
                },
                first_decision: key_of(state.first_decision_id),
                referrer_informed: key_of(state.referrer_informed_id),
                assessment_team_accepted: key_of(state.assessment_team_accepted_id),
                closed: key_of(state.closed.as_ref().map(|c| c.event_id)),
            },
        }
    }

    /// Applies a correction recorded on a closed contact (an open contact's facts are
    /// recomputed from its corrected state instead). Only the corrections that change a fact
    /// do anything: the time of receipt, of the first decision, of informing the referrer, of
    /// the Assessment Team's acceptance or of closing; immediate risk; consent in force.
    pub fn correct(&mut self, target: Ulid, field: &str, value: &serde_json::Value) {
        let target = key(target);
        if target == 0 {
            return;
        }
        let s = self.sources;
        let target_type = if target == s.received {
            EventType::ContactReceived
        } else if target == s.consent {
            EventType::ConsentRecorded
        } else if target == s.first_decision {
            EventType::DecisionMade
        } else if target == s.referrer_informed {
            EventType::ReferrerInformed
        } else if target == s.assessment_team_accepted {
            EventType::HandoverAccepted
        } else if target == s.closed {
            EventType::ContactClosed
        } else {
            return;
        };
        let Some(correction) = Correction::read(target_type, field, value) else { return };
        match (correction.field, correction.value) {
            (Field::ImmediateRisk, Value::Bool(v)) if target == s.received => self.immediate_risk = v,
            (Field::Consent, Value::Consent(v)) if target == s.consent => self.consent = v,
            (Field::OccurredAt, Value::Timestamp(at)) => {
                if target == s.received {
                    self.received_at = at;
                }
                if target == s.first_decision {
                    self.first_decision_at = Some(at);
                    self.first_decision_backdated = true;
                }
                if target == s.referrer_informed {
                    self.referrer_informed_at = Some(at);
                }
                if target == s.assessment_team_accepted {
                    self.assessment_team_accepted_at = Some(at);
                    self.acceptance_backdated = true;
                }
                if target == s.closed {
                    self.closed_at = Some(at);
                }
            }
            _ => {}
        }
    }

    /// Records a strategy discussion held on a closed contact (an open contact's facts are
    /// recomputed from its state instead): the first one counts, from the decision in force.
    pub fn discussion_held(&mut self, held: &events::schema::StrategyDiscussionHeld) {
        if self.strategy_discussion.is_none()
            && let Some(decided_at) = self.decided_at
        {
            self.strategy_discussion =
                Some(StrategyDiscussion { held_at: held.held_at, outcome: held.outcome, decided_at });
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

/// The concern categories of a snapshot's facts, each the code's own `'static` text (a code no
/// longer known refuses the snapshot, and the model is rebuilt from the log).
fn known_categories<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
    let codes = Vec::<String>::deserialize(d)?;
    codes
        .iter()
        .map(|c| {
            events::schema::CONCERN_CATEGORY_CODES
                .iter()
                .copied()
                .find(|k| k == c)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown concern category {c:?}")))
        })
        .collect()
}
