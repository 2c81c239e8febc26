//! What a viewer may see of a contact: the folded view, and the filter that keeps restricted
//! agency checks (and anything that quotes them) from roles that may not see them. Every read
//! path goes through here, so the rule lives in one place.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use eventlog::{Envelope, EventType};
use events::schema::{Agency, Event};
use projections::contact::ContactState;
use projections::model::pending_handover;
use projections::time::DuePolicy;
use serde_json::{Value, json};
use ulid::Ulid;

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

fn ts(t: &DateTime<Utc>) -> String {
    events::envelope::timestamp::format(t)
}

/// `GET /v1/contacts/{id}`: the contact's current state, folded, filtered for the viewer.
pub fn contact_view(
    state: &ContactState,
    hidden: &HashSet<Ulid>,
    viewer: &(impl RestrictedViewer + ?Sized),
    policy: &DuePolicy,
    now: DateTime<Utc>,
) -> Value {
    let due_by = policy.due_by(state.received_at, state.is_urgent());
    let open_undecided = state.decision.is_none() && state.closed.is_none();
    let checks: Vec<Value> = state
        .checks
        .iter()
        .filter(|c| !hidden.contains(&c.event_id))
        .filter(|c| !c.restricted || viewer.may_see_restricted(c.agency))
        .map(|c| {
            json!({
                "event_id": c.event_id, "agency": c.agency, "summary": c.summary,
                "restricted": c.restricted, "returned_at": ts(&c.returned_at), "returned_by": c.returned_by,
            })
        })
        .collect();
    json!({
        "contact_id": state.contact_id,
        "version": state.version,
        "stage": state.stage().as_str(),
        "received_at": ts(&state.received_at),
        "channel": state.channel,
        "source": state.source,
        "referrer": state.referrer,
        "children": state.children,
        "concerns": state.concerns,
        "immediate_risk": state.immediate_risk,
        "ppn_grade": state.ppn_grade,
        "rating": state.rating,
        "consent": state.consent,
        "decision": state.decision.as_ref().map(|d| json!({
            "event_id": d.event_id, "outcome": d.outcome, "rationale": d.rationale,
            "level_of_need": d.level_of_need, "primary_need": d.primary_need,
            "decided_at": ts(&d.decided_at), "decided_by": d.decided_by, "revisions": d.revisions,
            "referral": d.outcome.is_referral(),
        })),
        "first_decision_at": state.first_decision_at.as_ref().map(ts),
        "handover": state.handover.as_ref().map(|h| {
            // While pending, when the receiving team is due to accept it (the queue's due_by).
            let due = pending_handover(state).map(|h| policy.handover_due_by(h.sent_at, state.is_urgent()));
            json!({
                "to": h.to, "team": h.team, "sent_at": ts(&h.sent_at), "status": h.status,
                "answered_at": h.answered_at.as_ref().map(ts), "accepted_team": h.accepted_team,
                "worker": h.worker, "returned_reason": h.returned_reason,
                "due_by": due.as_ref().map(ts), "overdue": due.is_some_and(|d| policy.is_overdue(d, now)),
            })
        }),
        "due_by": ts(&due_by),
        "overdue": open_undecided && policy.is_overdue(due_by, now),
        "closed": state.closed.is_some(),
        "closure": state.closed.as_ref().map(|c| json!({"at": ts(&c.at), "reason": c.reason})),
        "checks_requested": state.checks_requested,
        "checks": checks,
        "duty_discussions": state.discussions,
        "action_plans": state.action_plans,
        "referrer_informed_at": state.referrer_informed_at.as_ref().map(ts),
        "assigned_to": state.assigned_to,
    })
}
