//! The case rules: a pure `decide` that accepts or refuses each new event on a contact,
//! given the contact's state folded from its own events. Who may append what is
//! [`crate::auth`]'s business; this module knows only the case flow of DOMAIN.md.

use chrono::{DateTime, TimeDelta, Utc};
use eventlog::EventType;
use eventlog::{Actor, Role};
use events::correction::{self, Correction, Field, Value};
use events::schema::{DecisionMade, Event, HandoverTo};
use events::validate::FieldError;
use projections::contact::{ContactState, EventRef, HandoverStatus};
use projections::time::DuePolicy;

/// How far ahead of the server's clock an `occurred_at` may be (clock skew between a client
/// and the server), in minutes.
pub const CLOCK_SKEW_MINUTES: i64 = 5;

use crate::auth::same_team;

/// A case rule an event would break. The `rule` is a stable name clients can match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct RuleBroken {
    pub rule: &'static str,
    pub detail: String,
}

fn broken(rule: &'static str, detail: impl Into<String>) -> Result<(), RuleBroken> {
    Err(RuleBroken { rule, detail: detail.into() })
}

/// Every rule, with what it means: the API docs list these.
pub const RULES: &[(&str, &str)] = &[
    ("contact-received-once", "a contact is received once: contact_received starts a stream and never follows"),
    (
        "contact-closed",
        "nothing follows contact_closed except note_added (not by its referrer), correction_recorded, \
         audit_finding_recorded, children_linked, children_unlinked, referrer_feedback_given, \
         strategy_discussion_held, action_completed and a receiving team's contact_allocated",
    ),
    ("occurred-before-received", "an event cannot have occurred before its contact was received"),
    ("revision-needs-revises", "a second decision must say which decision it revises and why (data.revises)"),
    ("nothing-to-revise", "a first decision cannot revise anything"),
    ("revises-current-decision", "data.revises.event_id must be the decision currently in force"),
    (
        "needs-decision",
        "action plans, informing the referrer, handovers, strategy discussions held and the referrer's feedback \
         follow a decision",
    ),
    ("discussion-after-decision", "a strategy discussion is held (data.held_at) no earlier than the decision in force"),
    ("action-plan-unknown", "action_completed names an action_plan_agreed of the same contact (data.plan_event_id)"),
    ("action-index-unknown", "action_completed names an action of the plan by its index in actions, from 0"),
    ("action-completed-once", "an action is completed once"),
    ("referral-to-assessment-team", "strategy_discussion and assessment are handed over to the assessment_team"),
    ("handover-pending", "a contact has one pending handover at a time"),
    ("needs-pending-handover", "handover_accepted and handover_returned answer a pending handover_sent"),
    ("close-with-pending-handover", "a contact is not closed while its handover is pending"),
    ("referral-closed-before-acceptance", "a referral is not closed before the Assessment Team accepted it"),
    ("correction-unknown-event", "a correction names an event of the same contact"),
    (
        "close-needs-decision",
        "a contact is closed only after a decision (not_accepted for a duplicate, wrong service or withdrawn contact)",
    ),
    ("occurred-in-future", "occurred_at may not be more than 5 minutes ahead of the server's clock"),
    (
        "late-entry-needs-reason",
        "an event dated more than the late-entry window (default 24 hours) before the server's clock needs a late_entry_reason",
    ),
    ("revision-predates-decision", "a revising decision may not be dated before the decision it revises"),
    (
        "correction-field-not-correctable",
        "a correction names a field that may be corrected on the corrected event's type",
    ),
    ("duplicate-of-unknown-contact", "data.duplicate_of names another contact that exists"),
    (
        "handover-needs-team",
        "a handover to the assessment_team or early_help names the receiving team (data.team), whose \
         receiving_team tokens alone may accept or return it",
    ),
    (
        "acceptance-needs-evidence",
        "a practitioner or decision maker recording the acceptance of a handover (to community, tafso, \
         allocated_worker or other) says how it was confirmed (data.evidence)",
    ),
    ("acceptance-names-own-team", "a receiving team accepts a handover for itself: data.team is its own team"),
    (
        "child-index-unknown",
        "children_linked and children_unlinked name a child of the contact by its index in children (from 0)",
    ),
    ("child-id-unknown", "children_linked and children_unlinked name a child id the child index knows"),
    ("child-already-linked", "children_linked links a child to a child id it is not already linked to"),
    ("child-not-linked", "children_unlinked separates a child from the child id it is linked to"),
    ("feedback-once", "a referrer gives feedback on a contact once (referrer_feedback_given)"),
    (
        "allocation-to-self-only",
        "a practitioner allocates a contact to themselves only (data.worker is their own actor id); a decision \
         maker allocates it to anyone",
    ),
    (
        "allocation-after-acceptance",
        "a receiving team allocates its own worker once it has accepted the handover of the contact",
    ),
];

/// The request field a rule is about, for rules on one field of the request (the 422 then
/// names it in `errors`, as a validation error would).
pub fn field_of(rule: &str) -> Option<&'static str> {
    match rule {
        "occurred-in-future" => Some("occurred_at"),
        "late-entry-needs-reason" => Some("late_entry_reason"),
        "duplicate-of-unknown-contact" => Some("data.duplicate_of"),
        "correction-field-not-correctable" => Some("data.field"),
        "correction-unknown-event" => Some("data.corrects_event_id"),
        "child-index-unknown" => Some("data.child_index"),
        "child-id-unknown" | "child-already-linked" | "child-not-linked" => Some("data.child_id"),
        "allocation-to-self-only" => Some("data.worker"),
        "discussion-after-decision" => Some("data.held_at"),
        "action-plan-unknown" => Some("data.plan_event_id"),
        "action-index-unknown" | "action-completed-once" => Some("data.action_index"),
        _ => None,
    }
}

/// The rules on an event's own time, checked before the contact's state: `occurred_at` not
/// ahead of `now` by more than the clock skew, and a reason for an entry dated more than the
/// late-entry window before `now`.
pub fn check_time(
    occurred_at: DateTime<Utc>,
    late_entry_reason: Option<&str>,
    now: DateTime<Utc>,
    policy: &DuePolicy,
) -> Result<(), RuleBroken> {
    if occurred_at > now + TimeDelta::minutes(CLOCK_SKEW_MINUTES) {
        return broken(
            "occurred-in-future",
            format!(
                "occurred_at ({}) is in the future: at most {CLOCK_SKEW_MINUTES} minutes ahead of the server's clock ({}) is allowed",
                events::envelope::timestamp::format(&occurred_at),
                events::envelope::timestamp::format(&now)
            ),
        );
    }
    if late_entry_reason.is_none() && policy.recorded_late(occurred_at, now) {
        return broken(
            "late-entry-needs-reason",
            format!(
                "occurred_at is more than {} hours before now: say why it is recorded late in late_entry_reason",
                policy.late_entry_hours
            ),
        );
    }
    Ok(())
}

/// The correction `c` of the contact's event `target`, read: the field must be correctable on
/// the target's type (the value's own checks are the validator's).
pub fn correction_of(
    target: EventRef,
    field: &str,
    value: &serde_json::Value,
) -> Result<Option<Correction>, RuleBroken> {
    let Some(parsed) = Field::parse(target.event_type, field) else {
        return Err(RuleBroken {
            rule: "correction-field-not-correctable",
            detail: format!(
                "{field:?} may not be corrected on a {}; correctable: {}",
                target.event_type,
                correction::correctable(target.event_type).join(", ")
            ),
        });
    };
    Ok(parsed.read(value).ok().map(|value| Correction { field: parsed, value }))
}

/// The rules on moving the event `target` of a contact to `at`: nothing before the contact's
/// receipt (nor its receipt after anything else), and no revision before what it revises.
fn corrected_time(state: &ContactState, target: EventRef, at: DateTime<Utc>) -> Result<(), RuleBroken> {
    let ts = events::envelope::timestamp::format;
    if target.event_type == EventType::ContactReceived {
        if let Some(first) = state.events.iter().skip(1).map(|e| e.occurred_at).min()
            && at > first
        {
            return broken(
                "occurred-before-received",
                format!("the contact cannot be received after its own events (the first at {})", ts(&first)),
            );
        }
        return Ok(());
    }
    if at < state.received_at {
        return broken(
            "occurred-before-received",
            format!("the corrected time is before the contact was received ({})", ts(&state.received_at)),
        );
    }
    for (revising, revised) in &state.revisions_of {
        let time_of = |id: &ulid::Ulid| state.event(*id).map(|e| e.occurred_at);
        let broken_link = if *revising == target.event_id {
            time_of(revised).filter(|t| at < *t)
        } else if *revised == target.event_id {
            time_of(revising).filter(|t| at > *t)
        } else {
            None
        };
        if let Some(t) = broken_link {
            return broken(
                "revision-predates-decision",
                format!("a revision may not be dated before the decision it revises (the other is at {})", ts(&t)),
            );
        }
    }
    Ok(())
}

/// Decides whether `event`, occurring at `occurred_at`, may be appended to the contact whose
/// state is `state`. `state` is `None` only for a new contact, whose first event must be
/// `contact_received`.
pub fn decide(state: &ContactState, event: &Event, occurred_at: DateTime<Utc>) -> Result<(), RuleBroken> {
    if let Event::ContactReceived(_) = event {
        return broken("contact-received-once", "this contact has already been received");
    }
    // Linking and unlinking a child corrects the child index, never the case: it may follow a
    // closed contact as corrections do. The referrer's feedback and a receiving team's
    // allocation may follow closure too (the duty team's allocation may not:
    // [`decide_by_actor`]), as notes, corrections and audits do.
    let late_ok = matches!(
        event,
        Event::NoteAdded(_)
            | Event::CorrectionRecorded(_)
            | Event::AuditFindingRecorded(_)
            | Event::ChildrenLinked(_)
            | Event::ChildrenUnlinked(_)
            | Event::ReferrerFeedbackGiven(_)
            | Event::ContactAllocated(_)
            | Event::StrategyDiscussionHeld(_)
            | Event::ActionCompleted(_)
    );
    if let Some(closed) = &state.closed
        && !late_ok
    {
        return broken(
            "contact-closed",
            format!(
                "the contact was closed at {} ({}); only notes, corrections, audit findings, child links, feedback, strategy discussions and completed actions may follow",
                events::envelope::timestamp::format(&closed.at),
                closed.reason
            ),
        );
    }
    if occurred_at < state.received_at {
        return broken(
            "occurred-before-received",
            format!(
                "occurred_at is before the contact was received ({})",
                events::envelope::timestamp::format(&state.received_at)
            ),
        );
    }
    let pending = state.handover.as_ref().is_some_and(|h| h.status == HandoverStatus::Pending);
    match event {
        Event::DecisionMade(d) => match (&state.decision, &d.revises) {
            (None, None) => Ok(()),
            (None, Some(_)) => broken("nothing-to-revise", "there is no earlier decision to revise"),
            (Some(current), None) => broken(
                "revision-needs-revises",
                format!(
                    "the contact was already decided ({}); a new decision must give data.revises with the event_id {} and a reason",
                    current.outcome, current.event_id
                ),
            ),
            (Some(current), Some(r)) if r.event_id != current.event_id => broken(
                "revises-current-decision",
                format!("data.revises.event_id must be the decision in force, {}", current.event_id),
            ),
            (Some(current), Some(_)) if occurred_at < current.decided_at => broken(
                "revision-predates-decision",
                format!(
                    "a revision may not be dated before the decision it revises ({})",
                    events::envelope::timestamp::format(&current.decided_at)
                ),
            ),
            (Some(_), Some(_)) => Ok(()),
        },
        Event::ReferrerFeedbackGiven(_) if state.decision.is_none() => {
            broken("needs-decision", "the referrer's feedback follows the outcome; the contact is not decided yet")
        }
        Event::ReferrerFeedbackGiven(_) if state.referrer_feedback_at.is_some() => broken(
            "feedback-once",
            format!(
                "the referrer already gave feedback on this contact (at {})",
                state.referrer_feedback_at.as_ref().map(events::envelope::timestamp::format).unwrap_or_default()
            ),
        ),
        Event::StrategyDiscussionHeld(held) => match &state.decision {
            None => broken("needs-decision", "a strategy discussion follows a decision; the contact is undecided"),
            Some(d) if held.held_at < d.decided_at => broken(
                "discussion-after-decision",
                format!(
                    "data.held_at is before the decision in force ({})",
                    events::envelope::timestamp::format(&d.decided_at)
                ),
            ),
            Some(_) => Ok(()),
        },
        Event::ActionCompleted(done) => {
            let is_plan = |e: &EventRef| e.event_type == EventType::ActionPlanAgreed;
            if !state.event(done.plan_event_id).is_some_and(|e| is_plan(&e)) {
                return broken(
                    "action-plan-unknown",
                    format!("data.plan_event_id {} is not an action_plan_agreed of this contact", done.plan_event_id),
                );
            }
            let actions = state.actions.iter().filter(|a| a.plan_event_id == done.plan_event_id).count();
            match state.action(done.plan_event_id, done.action_index) {
                None => broken(
                    "action-index-unknown",
                    format!("data.action_index {} names no action: the plan has {actions} (from 0)", done.action_index),
                ),
                Some(action) => match action.completed_at {
                    Some(at) => broken(
                        "action-completed-once",
                        format!(
                            "action {} of this plan was completed at {}",
                            done.action_index,
                            events::envelope::timestamp::format(&at)
                        ),
                    ),
                    None => Ok(()),
                },
            }
        }
        Event::ActionPlanAgreed(_) | Event::ReferrerInformed(_) if state.decision.is_none() => {
            broken("needs-decision", format!("{} follows a decision; the contact is undecided", event.event_type()))
        }
        Event::HandoverSent(h) => {
            let Some(decision) = &state.decision else {
                return broken("needs-decision", "a handover needs a decision first");
            };
            if pending {
                return broken(
                    "handover-pending",
                    "a handover is already pending: it must be accepted or returned first",
                );
            }
            if decision.outcome.is_referral() && h.to != HandoverTo::AssessmentTeam {
                return broken(
                    "referral-to-assessment-team",
                    format!("a {} decision is handed over to the assessment_team, not {}", decision.outcome, h.to),
                );
            }
            Ok(())
        }
        Event::HandoverAccepted(_) | Event::HandoverReturned(_) if !pending => broken(
            "needs-pending-handover",
            format!("{} needs a pending handover_sent; there is none", event.event_type()),
        ),
        Event::ContactClosed(_) if state.decision.is_none() => broken(
            "close-needs-decision",
            "the contact has no decision: decide it first (not_accepted, with a rationale, for a duplicate, \
             wrong service or withdrawn contact)",
        ),
        Event::ContactClosed(_) if pending => broken(
            "close-with-pending-handover",
            "the handover is still pending: it must be accepted or returned first",
        ),
        Event::ContactClosed(_)
            if state.is_referral()
                && !state.handover.as_ref().is_some_and(|h| h.status == HandoverStatus::Accepted) =>
        {
            broken(
                "referral-closed-before-acceptance",
                "this contact is a referral: it is closed once the Assessment Team has accepted the handover",
            )
        }
        Event::ChildrenLinked(events::schema::ChildrenLinked { child_index, .. })
        | Event::ChildrenUnlinked(events::schema::ChildrenUnlinked { child_index, .. })
            if usize::from(*child_index) >= state.children.len() =>
        {
            broken(
                "child-index-unknown",
                format!(
                    "data.child_index {child_index} names no child: the contact names {} (from 0)",
                    state.children.len()
                ),
            )
        }
        Event::CorrectionRecorded(c) => {
            let Some(target) = state.event(c.corrects_event_id) else {
                return broken(
                    "correction-unknown-event",
                    format!("data.corrects_event_id {} is not an event of this contact", c.corrects_event_id),
                );
            };
            if let Some(Field::Child(index, _)) = Field::parse(target.event_type, &c.field)
                && index >= state.children.len()
            {
                return broken(
                    "correction-field-not-correctable",
                    format!("{:?}: the contact names {} children", c.field, state.children.len()),
                );
            }
            match correction_of(target, &c.field, &c.value)? {
                Some(Correction { field: Field::OccurredAt, value: Value::Timestamp(at) }) => {
                    corrected_time(state, target, at)
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// A referral decision's children, against the contact's: `data.children` names no more
/// children than the contact, and every school-age child (see
/// [`events::validate::is_school_age`], on the London date of the decision) without a UPN on
/// record gets `data.children[i].upn` or `data.children[i].upn_unknown_reason`. Paths are the
/// request's (`data.children[1].upn_unknown_reason`); empty when the decision may stand.
pub fn decision_children(state: &ContactState, d: &DecisionMade, occurred_at: DateTime<Utc>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if d.children.len() > state.children.len() {
        errors.push(FieldError::new(
            "data.children",
            format!(
                "names {} children; the contact names {} (data.children[i] is the contact's children[i])",
                d.children.len(),
                state.children.len()
            ),
        ));
        return errors;
    }
    if !d.outcome.is_referral() {
        return errors;
    }
    let on = projections::time::london_date(occurred_at);
    for (i, child) in state.children.iter().enumerate() {
        let Some(dob) = child.date_of_birth else { continue };
        let given = d.children.get(i);
        if events::validate::is_school_age(dob, on)
            && child.upn.is_none()
            && given.is_none_or(|g| g.upn.is_none() && g.upn_unknown_reason.is_none())
        {
            errors.push(FieldError::new(
                format!("data.children[{i}].upn_unknown_reason"),
                format!(
                    "children[{i}] is of school age and has no UPN on record: give data.children[{i}].upn, or \
                     data.children[{i}].upn_unknown_reason (a CIN census code, UN1-UN10)"
                ),
            ));
        }
    }
    errors
}

/// The handover rules that depend on who records the event, beside [`decide`] (the append path
/// calls this once `decide` has accepted the event and [`crate::auth::may_answer_handover`] has
/// let `actor` answer the handover):
/// - `handover-needs-team`: a handover to the `assessment_team` or `early_help` names the team,
///   since only that team (or an admin) may accept or return it;
/// - `acceptance-needs-evidence`: a practitioner or decision maker records an acceptance (of a
///   handover to `community`, `tafso`, `allocated_worker` or `other`) with `evidence` of how it
///   was confirmed;
/// - `acceptance-names-own-team`: a receiving team's acceptance names its own team.
pub fn decide_handover(event: &Event, actor: &Actor) -> Result<(), RuleBroken> {
    match event {
        Event::HandoverSent(h)
            if matches!(h.to, HandoverTo::AssessmentTeam | HandoverTo::EarlyHelp) && h.team.is_none() =>
        {
            broken(
                "handover-needs-team",
                format!(
                    "a handover to {} names the receiving team in data.team (e.g. \"AT North\"): only that team \
                     may accept or return it",
                    h.to
                ),
            )
        }
        Event::HandoverAccepted(a) => match actor.role {
            Role::Practitioner | Role::DecisionMaker if a.evidence.is_none() => broken(
                "acceptance-needs-evidence",
                "the receiving team does not record this acceptance itself: say how it was confirmed in \
                 data.evidence (e.g. \"confirmed by phone with the team manager\")",
            ),
            Role::ReceivingTeam if !actor.team.as_deref().is_some_and(|own| same_team(own, &a.team)) => broken(
                "acceptance-names-own-team",
                format!(
                    "a receiving team accepts for itself: data.team must be {:?}",
                    actor.team.as_deref().unwrap_or_default()
                ),
            ),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The rules on allocation and on a referrer's additions, which depend on who records the event
/// (the append path calls this after [`decide`] and [`decide_handover`]):
/// - `allocation-to-self-only`: a practitioner allocates a contact to themselves, never to
///   someone else (a decision maker or an admin allocates it to anyone);
/// - `allocation-after-acceptance`: a receiving team allocates its own worker once it has
///   accepted the contact's handover (which it alone may read: [`crate::auth::reads_contact`]);
/// - `contact-closed`: the duty team does not allocate a closed contact, and a referrer adds
///   information to an open contact only (a closed one needs a new contact).
pub fn decide_by_actor(state: &ContactState, event: &Event, actor: &Actor) -> Result<(), RuleBroken> {
    let closed = |what: &str| {
        broken(
            "contact-closed",
            format!(
                "the contact was closed at {}: {what}",
                state.closed.as_ref().map(|c| events::envelope::timestamp::format(&c.at)).unwrap_or_default()
            ),
        )
    };
    match event {
        Event::ContactAllocated(a) => match actor.role {
            Role::ReceivingTeam => {
                let accepted_by_team = state.handover.as_ref().is_some_and(|h| {
                    h.status == HandoverStatus::Accepted
                        && actor.team.as_deref().is_some_and(|own| h.team.as_deref().is_some_and(|t| same_team(own, t)))
                });
                if accepted_by_team {
                    Ok(())
                } else {
                    broken(
                        "allocation-after-acceptance",
                        "a receiving team allocates its worker once it has accepted the handover: accept it first",
                    )
                }
            }
            _ if state.closed.is_some() => closed("the front door no longer allocates it"),
            Role::Practitioner if a.worker != actor.id => broken(
                "allocation-to-self-only",
                format!(
                    "a practitioner takes a contact themselves (data.worker {:?}); a decision maker allocates it to \
                     someone else",
                    actor.id
                ),
            ),
            _ => Ok(()),
        },
        Event::NoteAdded(_) if actor.role == Role::Referrer && state.closed.is_some() => {
            closed("add the new information as a new contact instead")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    //! given(events).when(event).then(accepted | rule broken)

    use super::*;
    use eventlog::{Actor, Envelope, Hash, Role};
    use events::schema::*;
    use ulid::Ulid;

    const T0: &str = "2026-03-02T09:00:00Z";

    fn at(minutes: i64) -> DateTime<Utc> {
        T0.parse::<DateTime<Utc>>().unwrap() + chrono::Duration::minutes(minutes)
    }

    fn given(events: &[Event]) -> ContactState {
        let envs: Vec<Envelope> = std::iter::once(received())
            .chain(events.iter().cloned())
            .zip(1u32..)
            .map(|(ev, v)| Envelope {
                position: u64::from(v),
                event_id: Ulid::from_parts(u64::from(v), 7),
                contact_id: Ulid::from_parts(1, 1),
                version: v,
                event_type: ev.event_type(),
                schema_version: CURRENT_SCHEMA_VERSION,
                occurred_at: at(i64::from(v)),
                late_entry_reason: None,
                recorded_at: at(i64::from(v)),
                actor: Actor {
                    id: "sw".into(),
                    role: Role::DecisionMaker,
                    agency: Agency::ChildrensSocialCare,
                    team: None,
                },
                data: ev.data_json(),
                prev_hash: Hash::GENESIS,
                hash: Hash::GENESIS,
            })
            .collect();
        ContactState::fold(&envs).unwrap().unwrap()
    }

    /// The id `given` assigns to the event at `version`.
    fn id(version: u64) -> Ulid {
        Ulid::from_parts(version, 7)
    }

    fn received() -> Event {
        Event::ContactReceived(ContactReceived {
            channel: Channel::Phone,
            source: SourceCode::Police,
            referrer: Referrer { name: "PC Example".into(), organisation: None, role: None, phone: None, email: None },
            children: vec![Child {
                name: "Alex Example".into(),
                date_of_birth: None,
                sex: None,
                child_ref: None,
                nhs_number: None,
                upn: None,
                ethnicity: None,
                expected_date_of_birth: None,
                address: None,
            }],
            concerns: "domestic abuse incident".into(),
            immediate_risk: false,
            consent: Consent::Unknown,
            consent_override_reason: None,
            ppn_grade: None,
            adults: Vec::new(),
            concern_categories: Vec::new(),
            follows_consultation: None,
        })
    }

    fn decided(outcome: Outcome) -> Event {
        Event::DecisionMade(DecisionMade {
            outcome,
            rationale: "threshold met".into(),
            level_of_need: None,
            primary_need: None,
            revises: None,
            duplicate_of: None,
            children: Vec::new(),
            concern_categories: Vec::new(),
        })
    }

    fn revising(outcome: Outcome, of: Ulid) -> Event {
        Event::DecisionMade(DecisionMade {
            outcome,
            rationale: "new information".into(),
            level_of_need: None,
            primary_need: None,
            revises: Some(Revises { event_id: of, reason: "police checks returned".into() }),
            duplicate_of: None,
            children: Vec::new(),
            concern_categories: Vec::new(),
        })
    }

    fn sent(to: HandoverTo) -> Event {
        Event::HandoverSent(HandoverSent { to, team: None, notes: None })
    }

    fn accepted() -> Event {
        Event::HandoverAccepted(HandoverAccepted { team: "Assessment Team North".into(), worker: None, evidence: None })
    }

    fn returned() -> Event {
        Event::HandoverReturned(HandoverReturned { reason: "needs more information".into() })
    }

    fn closed() -> Event {
        Event::ContactClosed(ContactClosed { reason: "done".into() })
    }

    fn note() -> Event {
        Event::NoteAdded(NoteAdded { text: "n".into() })
    }

    fn when(state: &ContactState, event: &Event) -> Result<(), &'static str> {
        decide(state, event, at(600)).map_err(|e| e.rule)
    }

    #[test]
    fn the_happy_path_is_accepted_step_by_step() {
        let steps = [
            Event::TriageRated(TriageRated { rating: Rating::Red, reason: None }),
            decided(Outcome::StrategyDiscussion),
            Event::ReferrerInformed(ReferrerInformed { method: InformMethod::Phone, summary: "told".into() }),
            sent(HandoverTo::AssessmentTeam),
            accepted(),
            closed(),
            note(),
        ];
        for i in 0..steps.len() {
            assert_eq!(when(&given(&steps[..i]), &steps[i]), Ok(()), "step {i}: {:?}", steps[i].event_type());
        }
    }

    #[test]
    fn nothing_but_notes_corrections_and_audit_follow_closure() {
        let state = given(&[decided(Outcome::NoFurtherAction), closed()]);
        assert_eq!(
            when(&state, &Event::TriageRated(TriageRated { rating: Rating::Red, reason: None })),
            Err("contact-closed")
        );
        assert_eq!(when(&state, &closed()), Err("contact-closed"));
        assert_eq!(when(&state, &revising(Outcome::Assessment, id(2))), Err("contact-closed"));
        assert_eq!(when(&state, &note()), Ok(()));
        let correction = Event::CorrectionRecorded(CorrectionRecorded {
            corrects_event_id: id(2),
            field: "occurred_at".into(),
            value: serde_json::json!("2026-03-02T09:01:30Z"),
            reason: "typo".into(),
        });
        assert_eq!(when(&state, &correction), Ok(()));
        let finding =
            Event::AuditFindingRecorded(AuditFindingRecorded { grade: AuditGrade::Good, findings: "sound".into() });
        assert_eq!(when(&state, &finding), Ok(()));
    }

    #[test]
    fn a_second_decision_must_revise_the_one_in_force() {
        let state = given(&[decided(Outcome::EarlyHelp)]);
        assert_eq!(when(&state, &decided(Outcome::Assessment)), Err("revision-needs-revises"));
        assert_eq!(when(&state, &revising(Outcome::Assessment, id(1))), Err("revises-current-decision"));
        assert_eq!(when(&state, &revising(Outcome::Assessment, id(2))), Ok(()));
        assert_eq!(when(&given(&[]), &revising(Outcome::Assessment, id(1))), Err("nothing-to-revise"));
    }

    #[test]
    fn handovers_need_a_decision_and_referrals_go_to_the_assessment_team() {
        assert_eq!(when(&given(&[]), &sent(HandoverTo::EarlyHelp)), Err("needs-decision"));
        let referral = given(&[decided(Outcome::Assessment)]);
        assert_eq!(when(&referral, &sent(HandoverTo::EarlyHelp)), Err("referral-to-assessment-team"));
        assert_eq!(when(&referral, &sent(HandoverTo::AssessmentTeam)), Ok(()));
        assert_eq!(when(&given(&[decided(Outcome::EarlyHelp)]), &sent(HandoverTo::Tafso)), Ok(()));
    }

    #[test]
    fn one_pending_handover_at_a_time_and_answers_need_one() {
        assert_eq!(when(&given(&[decided(Outcome::EarlyHelp)]), &accepted()), Err("needs-pending-handover"));
        assert_eq!(when(&given(&[decided(Outcome::EarlyHelp)]), &returned()), Err("needs-pending-handover"));
        let pending = given(&[decided(Outcome::EarlyHelp), sent(HandoverTo::EarlyHelp)]);
        assert_eq!(when(&pending, &sent(HandoverTo::Tafso)), Err("handover-pending"));
        assert_eq!(when(&pending, &closed()), Err("close-with-pending-handover"));
        assert_eq!(when(&pending, &returned()), Ok(()));
        let back = given(&[decided(Outcome::EarlyHelp), sent(HandoverTo::EarlyHelp), returned()]);
        assert_eq!(when(&back, &accepted()), Err("needs-pending-handover"));
        assert_eq!(when(&back, &sent(HandoverTo::Tafso)), Ok(()), "a returned handover can be sent again");
    }

    #[test]
    fn a_referral_is_closed_only_after_acceptance() {
        let referral = given(&[decided(Outcome::Assessment)]);
        assert_eq!(when(&referral, &closed()), Err("referral-closed-before-acceptance"));
        let accepted_referral = given(&[decided(Outcome::Assessment), sent(HandoverTo::AssessmentTeam), accepted()]);
        assert_eq!(when(&accepted_referral, &closed()), Ok(()));
        assert_eq!(when(&given(&[decided(Outcome::NoFurtherAction)]), &closed()), Ok(()));
        assert_eq!(when(&given(&[decided(Outcome::NotAccepted)]), &closed()), Ok(()), "a duplicate is not accepted");
    }

    /// Found trying the demo: a practitioner could close an immediate-risk police notification
    /// nobody had decided on; it left the queue and was never counted late.
    #[test]
    fn bug_a_contact_could_be_closed_without_a_decision() {
        assert_eq!(when(&given(&[]), &closed()), Err("close-needs-decision"));
        let rated = given(&[Event::TriageRated(TriageRated { rating: Rating::Red, reason: None })]);
        assert_eq!(when(&rated, &closed()), Err("close-needs-decision"));
    }

    #[test]
    fn a_revision_is_not_dated_before_the_decision_it_revises() {
        let state = given(&[decided(Outcome::EarlyHelp)]);
        let revision = revising(Outcome::Assessment, id(2));
        assert_eq!(decide(&state, &revision, at(1)).map_err(|e| e.rule), Err("revision-predates-decision"));
        assert_eq!(decide(&state, &revision, at(2)).map_err(|e| e.rule), Ok(()), "the same minute is fine");
    }

    #[test]
    fn time_rules_refuse_the_future_and_unexplained_late_entries() {
        let now = at(24 * 60 * 3);
        let policy = DuePolicy::default();
        let rule = |occurred, reason| check_time(occurred, reason, now, &policy).map_err(|e| e.rule);
        assert_eq!(rule(now + TimeDelta::minutes(5), None), Ok(()), "clock skew");
        assert_eq!(rule(now + TimeDelta::minutes(6), None), Err("occurred-in-future"));
        assert_eq!(rule(now - TimeDelta::hours(24), None), Ok(()), "exactly the window");
        assert_eq!(rule(now - TimeDelta::hours(25), None), Err("late-entry-needs-reason"));
        assert_eq!(rule(now - TimeDelta::hours(25), Some("paper notes typed up")), Ok(()));
        let narrow = DuePolicy { late_entry_hours: 1, ..DuePolicy::default() };
        assert!(check_time(now - TimeDelta::hours(2), None, now, &narrow).is_err(), "the window is policy");
    }

    #[test]
    fn plans_and_informing_the_referrer_follow_a_decision() {
        let plan = Event::ActionPlanAgreed(ActionPlanAgreed {
            actions: vec![PlannedAction { owner_agency: Agency::Education, description: "d".into(), due: None }],
            referrer_role: None,
        });
        assert_eq!(when(&given(&[]), &plan), Err("needs-decision"));
        assert_eq!(when(&given(&[decided(Outcome::EarlyHelp)]), &plan), Ok(()));
    }

    #[test]
    fn an_action_of_a_plan_of_the_contact_is_completed_once_even_after_closure() {
        let plan = Event::ActionPlanAgreed(ActionPlanAgreed {
            actions: vec![
                PlannedAction { owner_agency: Agency::Education, description: "d".into(), due: None },
                PlannedAction { owner_agency: Agency::Health, description: "e".into(), due: None },
            ],
            referrer_role: None,
        });
        // Versions: received 1, decided 2, the plan 3 (event ids are made from versions).
        let plan_id = Ulid::from_parts(3, 7);
        let done = |plan_event_id: Ulid, action_index: u8| {
            Event::ActionCompleted(ActionCompleted { plan_event_id, action_index, note: None })
        };
        let planned = given(&[decided(Outcome::EarlyHelp), plan.clone()]);
        assert_eq!(when(&planned, &done(plan_id, 0)), Ok(()));
        assert_eq!(when(&planned, &done(plan_id, 1)), Ok(()));
        assert_eq!(when(&planned, &done(plan_id, 2)), Err("action-index-unknown"));
        // The decision is an event of the contact, but not a plan; another id is nothing.
        assert_eq!(when(&planned, &done(Ulid::from_parts(2, 7), 0)), Err("action-plan-unknown"));
        assert_eq!(when(&planned, &done(Ulid::from_parts(99, 7), 0)), Err("action-plan-unknown"));
        let completed = given(&[decided(Outcome::EarlyHelp), plan.clone(), done(plan_id, 1)]);
        assert_eq!(when(&completed, &done(plan_id, 1)), Err("action-completed-once"));
        assert_eq!(when(&completed, &done(plan_id, 0)), Ok(()));
        let closed_after = given(&[decided(Outcome::EarlyHelp), plan, closed()]);
        assert_eq!(when(&closed_after, &done(plan_id, 0)), Ok(()));
        assert_eq!(field_of("action-completed-once"), Some("data.action_index"));
    }

    #[test]
    fn a_contact_is_received_once_and_events_cannot_predate_it() {
        assert_eq!(when(&given(&[]), &received()), Err("contact-received-once"));
        assert_eq!(decide(&given(&[]), &note(), at(-5)).map_err(|e| e.rule), Err("occurred-before-received"));
    }

    #[test]
    fn corrections_name_an_event_of_the_contact() {
        let correction = |of| {
            Event::CorrectionRecorded(CorrectionRecorded {
                corrects_event_id: of,
                field: "children[0].name".into(),
                value: serde_json::json!("Alex Sample"),
                reason: "misspelt".into(),
            })
        };
        assert_eq!(when(&given(&[]), &correction(id(1))), Ok(()));
        assert_eq!(when(&given(&[]), &correction(Ulid::nil())), Err("correction-unknown-event"));
    }

    /// Found trying the API: any `field` was taken, and the correction changed nothing.
    #[test]
    fn bug_a_correction_of_any_field_name_was_accepted() {
        let correct = |of, field: &str, value| {
            Event::CorrectionRecorded(CorrectionRecorded {
                corrects_event_id: of,
                field: field.into(),
                value,
                reason: "r".into(),
            })
        };
        let state = given(&[decided(Outcome::EarlyHelp)]);
        for (of, field) in [(id(1), "concerns"), (id(1), "children[1].name"), (id(2), "outcome"), (id(2), "colour")] {
            assert_eq!(
                when(&state, &correct(of, field, serde_json::json!("x"))),
                Err("correction-field-not-correctable"),
                "{field}"
            );
        }
        let time = |t: &str| serde_json::json!(t);
        // A decision cannot be moved before the contact's receipt, nor receipt after the decision.
        assert_eq!(
            when(&state, &correct(id(2), "occurred_at", time("2026-03-02T08:00:00Z"))),
            Err("occurred-before-received")
        );
        assert_eq!(
            when(&state, &correct(id(1), "occurred_at", time("2026-03-02T09:30:00Z"))),
            Err("occurred-before-received")
        );
        assert_eq!(when(&state, &correct(id(1), "occurred_at", time("2026-03-02T08:30:00Z"))), Ok(()));
        // A revision cannot be moved before the decision it revises, nor the decision after it.
        let revised = given(&[decided(Outcome::EarlyHelp), revising(Outcome::Assessment, id(2))]);
        assert_eq!(
            when(&revised, &correct(id(3), "occurred_at", time("2026-03-02T09:01:00Z"))),
            Err("revision-predates-decision")
        );
        assert_eq!(
            when(&revised, &correct(id(2), "occurred_at", time("2026-03-02T09:04:00Z"))),
            Err("revision-predates-decision")
        );
        assert_eq!(when(&revised, &correct(id(2), "occurred_at", time("2026-03-02T09:02:30Z"))), Ok(()));
    }

    #[test]
    fn a_school_age_child_on_a_referral_needs_a_upn_or_a_reason() {
        let mut state = given(&[]);
        state.children[0].date_of_birth = Some(chrono::NaiveDate::from_ymd_opt(2016, 1, 1).unwrap());
        let Event::DecisionMade(mut d) = decided(Outcome::Assessment) else { unreachable!() };
        d.primary_need = Some(PrimaryNeed::N1);
        let fields = |d: &DecisionMade, state: &ContactState| {
            decision_children(state, d, at(5)).into_iter().map(|e| e.field).collect::<Vec<_>>()
        };
        assert_eq!(fields(&d, &state), ["data.children[0].upn_unknown_reason"]);
        d.children = vec![DecisionChild { upn: None, upn_unknown_reason: Some(UpnUnknownReason::Un2) }];
        assert!(fields(&d, &state).is_empty());
        d.children = vec![DecisionChild { upn: Some("B801200005001".into()), upn_unknown_reason: None }];
        assert!(fields(&d, &state).is_empty());
        d.children.push(DecisionChild { upn: None, upn_unknown_reason: None });
        assert_eq!(fields(&d, &state), ["data.children"]);
        // A UPN on record, a child under school age, or no date of birth: nothing to give.
        d.children.clear();
        state.children[0].upn = Some("B801200005001".into());
        assert!(fields(&d, &state).is_empty());
        state.children[0].upn = None;
        state.children[0].date_of_birth = Some(chrono::NaiveDate::from_ymd_opt(2022, 1, 1).unwrap());
        assert!(fields(&d, &state).is_empty());
        state.children[0].date_of_birth = None;
        assert!(fields(&d, &state).is_empty());
        // Not a referral: nothing asked.
        state.children[0].date_of_birth = Some(chrono::NaiveDate::from_ymd_opt(2016, 1, 1).unwrap());
        d.outcome = Outcome::EarlyHelp;
        assert!(fields(&d, &state).is_empty());
    }

    #[test]
    fn every_rule_is_listed() {
        let names: Vec<&str> = RULES.iter().map(|(n, _)| *n).collect();
        for rule in [
            "contact-received-once",
            "contact-closed",
            "occurred-before-received",
            "revision-needs-revises",
            "nothing-to-revise",
            "revises-current-decision",
            "needs-decision",
            "referral-to-assessment-team",
            "handover-pending",
            "needs-pending-handover",
            "close-with-pending-handover",
            "referral-closed-before-acceptance",
            "correction-unknown-event",
            "close-needs-decision",
            "occurred-in-future",
            "late-entry-needs-reason",
            "revision-predates-decision",
            "correction-field-not-correctable",
            "duplicate-of-unknown-contact",
        ] {
            assert!(names.contains(&rule), "{rule}");
        }
    }

    fn by(role: Role, team: Option<&str>) -> Actor {
        Actor { id: "x".into(), role, agency: Agency::ChildrensSocialCare, team: team.map(Into::into) }
    }

    fn accepted_with(team: &str, evidence: Option<&str>) -> Event {
        Event::HandoverAccepted(HandoverAccepted {
            team: team.into(),
            worker: None,
            evidence: evidence.map(Into::into),
        })
    }

    #[test]
    fn a_handover_to_the_assessment_team_or_early_help_names_the_team() {
        let practitioner = by(Role::Practitioner, None);
        for to in [HandoverTo::AssessmentTeam, HandoverTo::EarlyHelp] {
            assert_eq!(decide_handover(&sent(to), &practitioner).map_err(|e| e.rule), Err("handover-needs-team"));
            let named = Event::HandoverSent(HandoverSent { to, team: Some("AT North".into()), notes: None });
            assert_eq!(decide_handover(&named, &practitioner), Ok(()));
        }
        for to in [HandoverTo::Community, HandoverTo::Tafso, HandoverTo::AllocatedWorker, HandoverTo::Other] {
            assert_eq!(decide_handover(&sent(to), &practitioner), Ok(()), "{to}");
        }
    }

    #[test]
    fn an_acceptance_the_front_door_records_says_how_it_was_confirmed() {
        for role in [Role::Practitioner, Role::DecisionMaker] {
            let actor = by(role, None);
            assert_eq!(
                decide_handover(&accepted_with("Community team", None), &actor).map_err(|e| e.rule),
                Err("acceptance-needs-evidence")
            );
            assert_eq!(decide_handover(&accepted_with("Community team", Some("phoned the manager")), &actor), Ok(()));
        }
        assert_eq!(decide_handover(&accepted_with("Community team", None), &by(Role::Admin, None)), Ok(()));
    }

    #[test]
    fn a_receiving_team_accepts_for_itself() {
        let north = by(Role::ReceivingTeam, Some("AT North"));
        assert_eq!(decide_handover(&accepted_with("AT North", None), &north), Ok(()));
        assert_eq!(decide_handover(&accepted_with("at  north", None), &north), Ok(()));
        assert_eq!(
            decide_handover(&accepted_with("AT South", None), &north).map_err(|e| e.rule),
            Err("acceptance-names-own-team")
        );
        assert_eq!(decide_handover(&returned(), &north), Ok(()));
    }

    #[test]
    fn the_handover_rules_are_listed() {
        let names: Vec<&str> = RULES.iter().map(|(n, _)| *n).collect();
        for rule in ["handover-needs-team", "acceptance-needs-evidence", "acceptance-names-own-team"] {
            assert!(names.contains(&rule), "{rule}");
        }
    }

    fn allocated(worker: &str) -> Event {
        Event::ContactAllocated(ContactAllocated { worker: worker.into() })
    }

    fn feedback() -> Event {
        Event::ReferrerFeedbackGiven(ReferrerFeedbackGiven { listened_to: 4, knows_next_steps: 5, comment: None })
    }

    #[test]
    fn feedback_follows_the_outcome_once_even_after_closure() {
        assert_eq!(when(&given(&[]), &feedback()), Err("needs-decision"));
        assert_eq!(when(&given(&[decided(Outcome::NoFurtherAction)]), &feedback()), Ok(()));
        assert_eq!(when(&given(&[decided(Outcome::NoFurtherAction), closed()]), &feedback()), Ok(()));
        let given_once = given(&[decided(Outcome::NoFurtherAction), closed(), feedback()]);
        assert_eq!(when(&given_once, &feedback()), Err("feedback-once"));
    }

    fn discussion_held_at(minutes: i64) -> Event {
        Event::StrategyDiscussionHeld(StrategyDiscussionHeld {
            held_at: at(minutes),
            agencies: vec![Agency::Police, Agency::Health],
            outcome: StrategyOutcome::S47Enquiry,
        })
    }

    #[test]
    fn a_strategy_discussion_follows_the_decision_even_after_closure() {
        assert_eq!(when(&given(&[]), &discussion_held_at(30)), Err("needs-decision"));
        // The decision is version 2, at minute 2: a discussion held at minute 1 predates it.
        let decided_sd = given(&[decided(Outcome::StrategyDiscussion)]);
        assert_eq!(when(&decided_sd, &discussion_held_at(1)), Err("discussion-after-decision"));
        assert_eq!(when(&decided_sd, &discussion_held_at(2)), Ok(()));
        let closed_after = given(&[decided(Outcome::NoFurtherAction), closed()]);
        assert_eq!(when(&closed_after, &discussion_held_at(30)), Ok(()));
        assert_eq!(field_of("discussion-after-decision"), Some("data.held_at"));
    }

    #[test]
    fn who_may_allocate_a_contact_to_whom() {
        let open = given(&[]);
        let mut practitioner = by(Role::Practitioner, None);
        practitioner.id = "sw-1".into();
        let rule = |state: &ContactState, event: &Event, actor: &Actor| {
            decide_by_actor(state, event, actor).map_err(|e| e.rule)
        };
        assert_eq!(rule(&open, &allocated("sw-1"), &practitioner), Ok(()));
        assert_eq!(rule(&open, &allocated("sw-2"), &practitioner), Err("allocation-to-self-only"));
        assert_eq!(rule(&open, &allocated("sw-2"), &by(Role::DecisionMaker, None)), Ok(()));
        let done = given(&[decided(Outcome::NoFurtherAction), closed()]);
        assert_eq!(rule(&done, &allocated("sw-2"), &by(Role::DecisionMaker, None)), Err("contact-closed"));
        // A receiving team allocates its own worker once it has accepted the handover, even
        // after the front door closed the contact.
        let team = by(Role::ReceivingTeam, Some("AT North"));
        let to_north = Event::HandoverSent(HandoverSent {
            to: HandoverTo::AssessmentTeam,
            team: Some("AT North".into()),
            notes: None,
        });
        let pending = given(&[decided(Outcome::Assessment), to_north.clone()]);
        assert_eq!(rule(&pending, &allocated("at-jo"), &team), Err("allocation-after-acceptance"));
        let accepted = given(&[decided(Outcome::Assessment), to_north, accepted_with("AT North", None), closed()]);
        assert_eq!(when(&accepted, &allocated("at-jo")), Ok(()));
        assert_eq!(rule(&accepted, &allocated("at-jo"), &team), Ok(()));
        assert_eq!(
            rule(&accepted, &allocated("at-jo"), &by(Role::ReceivingTeam, Some("AT South"))),
            Err("allocation-after-acceptance")
        );
    }

    #[test]
    fn a_referrer_adds_to_an_open_contact_only() {
        let referrer = by(Role::Referrer, None);
        assert_eq!(decide_by_actor(&given(&[]), &note(), &referrer), Ok(()));
        let done = given(&[decided(Outcome::NoFurtherAction), closed()]);
        assert_eq!(decide_by_actor(&done, &note(), &referrer).map_err(|e| e.rule), Err("contact-closed"));
        assert_eq!(decide_by_actor(&done, &note(), &by(Role::Practitioner, None)), Ok(()));
    }
}
