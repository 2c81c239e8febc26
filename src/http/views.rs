//! What a viewer may see of a contact: the folded view, and the filter that keeps restricted
//! agency checks (and anything that quotes them) from roles that may not see them. Every read
//! path goes through here, so the rule lives in one place.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use eventlog::{Envelope, EventType};
use events::schema::{
    Agency, Channel, Child, Consent, Event, HandoverTo, Outcome, PpnGrade, PrimaryNeed, Rating, Referrer, SourceCode,
};
use projections::contact::{ContactState, HandoverStatus, Stage};
use projections::model::pending_handover;
use projections::time::DuePolicy;
use serde::Serialize;
use ulid::Ulid;
use utoipa::ToSchema;

use crate::auth::RestrictedViewer;

/// The events of one contact this viewer may not see: restricted checks from agencies
/// they are not entitled to, and corrections of those checks (which could quote them).
/// "Restricted" is as it stands after every correction: a check corrected to restricted is
/// hidden (with the correction that restricted it) from then on.
pub fn hidden_events(events: &[Envelope], viewer: &(impl RestrictedViewer + ?Sized)) -> HashSet<Ulid> {
    use events::correction::{Correction, Field, Value};
    let mut hidden = HashSet::new();
    // Each check's agency and whether it is restricted now.
    let mut checks: Vec<(Ulid, Agency, bool)> = Vec::new();
    let mut corrections: Vec<(Ulid, Ulid)> = Vec::new();
    for env in events {
        match (env.event_type, env.event()) {
            (EventType::ChecksReturned, Ok(Event::ChecksReturned(c))) => {
                checks.push((env.event_id, c.agency, c.restricted));
            }
            (EventType::CorrectionRecorded, Ok(Event::CorrectionRecorded(c))) => {
                corrections.push((env.event_id, c.corrects_event_id));
                if let Some(check) = checks.iter_mut().find(|(id, ..)| *id == c.corrects_event_id)
                    && let Some(Correction { field: Field::Restricted, value: Value::Bool(restricted) }) =
                        Correction::read(EventType::ChecksReturned, &c.field, &c.value)
                {
                    check.2 = restricted;
                }
            }
            // Undecodable: hide rather than risk showing it.
            (EventType::ChecksReturned | EventType::CorrectionRecorded, _) => {
                hidden.insert(env.event_id);
            }
            _ => {}
        }
    }
    for (id, agency, restricted) in checks {
        if restricted && !viewer.may_see_restricted(agency) {
            hidden.insert(id);
        }
    }
    for (id, target) in corrections {
        if hidden.contains(&target) {
            hidden.insert(id);
        }
    }
    hidden
}

/// The contact's events as this viewer may see them, in version order.
pub fn visible_events(events: Vec<Envelope>, viewer: &(impl RestrictedViewer + ?Sized)) -> Vec<Envelope> {
    let hidden = hidden_events(&events, viewer);
    events.into_iter().filter(|e| !hidden.contains(&e.event_id)).collect()
}

/// `GET /v1/contacts/{id}`: the contact's current state, folded, filtered for the viewer.
pub fn contact_view(
    state: &ContactState,
    hidden: &HashSet<Ulid>,
    viewer: &(impl RestrictedViewer + ?Sized),
    policy: &DuePolicy,
    now: DateTime<Utc>,
) -> Contact {
    let due_by = policy.due_by(state.received_at, state.is_urgent());
    let open_undecided = state.decision.is_none() && state.closed.is_none();
    let checks = state
        .checks
        .iter()
        .filter(|c| !hidden.contains(&c.event_id))
        .filter(|c| !c.restricted || viewer.may_see_restricted(c.agency))
        .map(|c| Check {
            event_id: c.event_id,
            agency: c.agency,
            summary: c.summary.clone(),
            restricted: c.restricted,
            returned_at: c.returned_at,
            returned_by: c.returned_by.clone(),
        })
        .collect();
    Contact {
        contact_id: state.contact_id,
        version: state.version,
        stage: state.stage(),
        received_at: state.received_at,
        channel: state.channel,
        source: state.source,
        referrer: state.referrer.clone(),
        children: state.children.clone(),
        concerns: state.concerns.clone(),
        immediate_risk: state.immediate_risk,
        ppn_grade: state.ppn_grade,
        rating: state.rating,
        consent: state.consent,
        decision: state.decision.as_ref().map(|d| Decision {
            event_id: d.event_id,
            outcome: d.outcome,
            rationale: d.rationale.clone(),
            level_of_need: d.level_of_need,
            primary_need: d.primary_need,
            decided_at: d.decided_at,
            decided_by: d.decided_by.clone(),
            revisions: d.revisions,
            referral: d.outcome.is_referral(),
        }),
        first_decision_at: state.first_decision_at,
        handover: state.handover.as_ref().map(|h| {
            // While pending, when the receiving team is due to accept it (the queue's due_by).
            let due = pending_handover(state).map(|h| policy.handover_due_by(h.sent_at, state.is_urgent()));
            Handover {
                to: h.to,
                team: h.team.clone(),
                sent_at: h.sent_at,
                status: h.status,
                answered_at: h.answered_at,
                accepted_team: h.accepted_team.clone(),
                worker: h.worker.clone(),
                returned_reason: h.returned_reason.clone(),
                due_by: due,
                overdue: due.is_some_and(|d| policy.is_overdue(d, now)),
            }
        }),
        due_by,
        overdue: open_undecided && policy.is_overdue(due_by, now),
        closed: state.closed.is_some(),
        closure: state.closed.as_ref().map(|c| Closure { at: c.at, reason: c.reason.clone() }),
        checks_requested: state.checks_requested.clone(),
        checks,
        duty_discussions: state.discussions,
        action_plans: state.action_plans,
        actions_agreed: u32::try_from(state.actions.len()).unwrap_or(u32::MAX),
        actions_done: u32::try_from(state.actions.iter().filter(|a| a.completed_at.is_some()).count())
            .unwrap_or(u32::MAX),
        strategy_discussions: state.strategy_discussions,
        concern_categories: state.concern_categories.clone(),
        follows_consultation: state.follows_consultation,
        referrer_informed_at: state.referrer_informed_at,
        assigned_to: state.assigned_to.clone(),
        team_worker: state.team_worker.clone(),
    }
}

/// A contact's current state, folded from its events, as this caller may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Contact {
    pub contact_id: Ulid,
    /// The version of the last event: send it as `expected_version` to append safely.
    pub version: u32,
    pub stage: Stage,
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    pub source: SourceCode,
    pub referrer: Referrer,
    pub children: Vec<Child>,
    pub concerns: String,
    pub immediate_risk: bool,
    #[schema(required = true)]
    pub ppn_grade: Option<PpnGrade>,
    #[schema(required = true)]
    pub rating: Option<Rating>,
    pub consent: Consent,
    /// The decision in force, if any.
    #[schema(required = true)]
    pub decision: Option<Decision>,
    /// When the first decision was made (timeliness counts from it).
    #[schema(required = true)]
    pub first_decision_at: Option<DateTime<Utc>>,
    /// The latest handover, if any.
    #[schema(required = true)]
    pub handover: Option<Handover>,
    /// When a decision is due, by the due-by policy (working days, bank holidays).
    pub due_by: DateTime<Utc>,
    /// Open, undecided and past `due_by`.
    pub overdue: bool,
    pub closed: bool,
    #[schema(required = true)]
    pub closure: Option<Closure>,
    /// Agencies asked for checks.
    pub checks_requested: Vec<Agency>,
    /// Checks returned; restricted ones only for those who may see them.
    pub checks: Vec<Check>,
    /// How many duty discussions were held.
    pub duty_discussions: u32,
    /// How many action plans were agreed.
    pub action_plans: u32,
    /// How many actions those plans hold, and how many were done (`action_completed`).
    pub actions_agreed: u32,
    pub actions_done: u32,
    /// How many strategy discussions were held (`strategy_discussion_held`).
    pub strategy_discussions: u32,
    /// The concern categories in force (CIN assessment factor codes): the latest decision's that
    /// gives any, else the contact's.
    pub concern_categories: Vec<String>,
    /// The professional consultation (`GET /v1/consultations/{id}`) this contact follows.
    #[schema(required = true)]
    pub follows_consultation: Option<Ulid>,
    #[schema(required = true)]
    pub referrer_informed_at: Option<DateTime<Utc>>,
    /// The front door's worker on it: the latest `contact_allocated` by the duty team.
    #[schema(required = true)]
    pub assigned_to: Option<String>,
    /// The receiving team's worker on it: from its acceptance, or its own `contact_allocated`.
    #[schema(required = true)]
    pub team_worker: Option<String>,
}

/// The decision in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct Decision {
    pub event_id: Ulid,
    pub outcome: Outcome,
    pub rationale: String,
    #[schema(required = true, minimum = 1, maximum = 4)]
    pub level_of_need: Option<u8>,
    #[schema(required = true)]
    pub primary_need: Option<PrimaryNeed>,
    pub decided_at: DateTime<Utc>,
    /// The actor id of the decision maker.
    pub decided_by: String,
    /// How many earlier decisions this one replaced.
    pub revisions: u32,
    /// Whether the outcome makes the contact a referral (strategy_discussion, assessment).
    pub referral: bool,
}

/// The latest handover.
#[derive(Debug, Serialize, ToSchema)]
pub struct Handover {
    pub to: HandoverTo,
    #[schema(required = true)]
    pub team: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub status: HandoverStatus,
    /// When the receiving team accepted or returned it.
    #[schema(required = true)]
    pub answered_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub accepted_team: Option<String>,
    #[schema(required = true)]
    pub worker: Option<String>,
    #[schema(required = true)]
    pub returned_reason: Option<String>,
    /// While pending: when the receiving team is due to accept it, from `sent_at` (two hours for
    /// an immediate-risk or red-rated contact, any day; else one working day; see the policy).
    #[schema(required = true)]
    pub due_by: Option<DateTime<Utc>>,
    /// Pending and past `due_by`.
    pub overdue: bool,
}

/// A returned agency check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    pub event_id: Ulid,
    pub agency: Agency,
    pub summary: String,
    pub restricted: bool,
    pub returned_at: DateTime<Utc>,
    /// The actor id who recorded it.
    pub returned_by: String,
}

/// When and why the contact was closed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Closure {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// Where a contact is, as a referrer is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferrerStage {
    /// Received; nobody on the duty team has worked on it yet.
    Received,
    /// The duty team is looking at it (rated, calls, checks, a discussion, allocated).
    BeingLookedAt,
    /// Decided; the outcome is being carried out.
    Decided,
    /// Finished at the front door.
    Closed,
}

/// `GET /v1/contacts/{id}` for a referrer (of a contact it made), and each line of
/// `GET /v1/contacts?made_by=me`: what happens next, in plain words. Nothing of the duty
/// team's record: no checks, discussion, rationale, workers or other contacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferrerContact {
    pub contact_id: Ulid,
    /// When the contact was received.
    pub received_at: DateTime<Utc>,
    /// The children's names, as the contact gave them.
    pub children: Vec<String>,
    pub stage: ReferrerStage,
    /// The stage in plain words.
    pub stage_text: String,
    /// The decision in force, once decided.
    #[schema(required = true)]
    pub outcome: Option<Outcome>,
    /// The outcome in plain words, once decided.
    #[schema(required = true)]
    pub outcome_text: Option<String>,
    /// What happens next, and what the referrer may do.
    pub next_step: String,
    /// Whether the referrer may still add information (`note_added`): the contact is open.
    pub open: bool,
    /// Whether the referrer may answer the feedback survey (`referrer_feedback_given`): decided,
    /// and not answered yet.
    pub feedback_open: bool,
    /// Whether the referrer answered the feedback survey.
    pub feedback_given: bool,
}

/// An outcome in plain words, for the referrer.
pub fn outcome_in_plain_words(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::StrategyDiscussion => {
            "Children's social care will hold a strategy discussion with the police and other agencies about \
             the child's safety."
        }
        Outcome::Assessment => "A social worker will assess the child's needs and the family's circumstances.",
        Outcome::EarlyHelp => "The family will be offered early help: support from a family worker, if they agree.",
        Outcome::AdviceAndSignpost => "The family will be given advice and told about services that can help.",
        Outcome::NoFurtherAction => "Children's social care will take no further action on this contact.",
        Outcome::ExistingCase => {
            "The child already has a worker from children's social care, who has been given the information."
        }
        Outcome::NotAccepted => {
            "This contact is not taken forward on its own (for example, it repeats a contact already received)."
        }
    }
}

/// Where a handover goes, in plain words.
fn handover_in_plain_words(to: HandoverTo) -> &'static str {
    match to {
        HandoverTo::AssessmentTeam => "the social work assessment team",
        HandoverTo::EarlyHelp => "the early help service",
        HandoverTo::Tafso => "the team around the family",
        HandoverTo::Community => "a community service",
        HandoverTo::AllocatedWorker => "the child's allocated worker",
        HandoverTo::Other => "the service that will help the family",
    }
}

/// A referrer's view of a contact it made ([`ReferrerContact`]).
pub fn referrer_view(state: &ContactState) -> ReferrerContact {
    let looked_at = state.rating.is_some()
        || state.assigned_to.is_some()
        || !state.checks_requested.is_empty()
        || !state.checks.is_empty()
        || state.discussions > 0
        || state.consent_recorded
        || state.events.iter().any(|e| e.event_type == EventType::CallLogged);
    let stage = match (&state.closed, &state.decision) {
        (Some(_), _) => ReferrerStage::Closed,
        (None, Some(_)) => ReferrerStage::Decided,
        (None, None) if looked_at => ReferrerStage::BeingLookedAt,
        (None, None) => ReferrerStage::Received,
    };
    let stage_text = match stage {
        ReferrerStage::Received => "Received: the duty team has your contact and will look at it.",
        ReferrerStage::BeingLookedAt => "Being looked at: the duty team is finding out more before deciding.",
        ReferrerStage::Decided => "Decided: the duty team has decided what happens next.",
        ReferrerStage::Closed => "Closed: the front door's work on this contact is finished.",
    };
    let outcome = state.decision.as_ref().map(|d| d.outcome);
    let feedback_given = state.referrer_feedback_at.is_some();
    let feedback_open = outcome.is_some() && !feedback_given;
    let handover = state.handover.as_ref();
    let mut next_step = match (stage, handover) {
        (ReferrerStage::Received | ReferrerStage::BeingLookedAt, _) => {
            "The duty team will decide what happens next, usually within one working day. If you learn more, \
             add it to this contact rather than making a new one. If a child is in immediate danger, call 999."
                .to_owned()
        }
        (ReferrerStage::Decided, Some(h)) if h.status == HandoverStatus::Pending => format!(
            "The contact is being passed to {}, who will contact the family. You may be asked to help.",
            handover_in_plain_words(h.to)
        ),
        (ReferrerStage::Decided, Some(h)) if h.status == HandoverStatus::Accepted => format!(
            "{} has taken it on and will contact the family. You may be asked to help.",
            capitalised(handover_in_plain_words(h.to))
        ),
        (ReferrerStage::Decided, _) if outcome.is_some_and(needs_no_handover) => {
            "Nothing more is needed from you for now. If you have new concerns, make a new contact.".to_owned()
        }
        (ReferrerStage::Decided, _) => {
            "The duty team is arranging who will work with the family. If you learn more, add it to this contact."
                .to_owned()
        }
        (ReferrerStage::Closed, _) => {
            "Nothing more is needed from you. If you have new concerns, make a new contact.".to_owned()
        }
    };
    if feedback_open {
        next_step.push_str(" Please tell us how this contact went: two questions, once.");
    }
    ReferrerContact {
        contact_id: state.contact_id,
        received_at: state.received_at,
        children: state.children.iter().map(|c| c.name.clone()).collect(),
        stage,
        stage_text: stage_text.to_owned(),
        outcome,
        outcome_text: outcome.map(|o| outcome_in_plain_words(o).to_owned()),
        next_step,
        open: state.closed.is_none(),
        feedback_open,
        feedback_given,
    }
}

/// Outcomes that hand nothing over.
fn needs_no_handover(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::AdviceAndSignpost | Outcome::NoFurtherAction | Outcome::NotAccepted)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
