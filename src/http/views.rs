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
        referrer_informed_at: state.referrer_informed_at,
        assigned_to: state.assigned_to.clone(),
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
    #[schema(required = true)]
    pub referrer_informed_at: Option<DateTime<Utc>>,
    /// The worker on it.
    #[schema(required = true)]
    pub assigned_to: Option<String>,
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
