//! The case rules: a pure `decide` that accepts or refuses each new event on a contact,
//! given the contact's state folded from its own events. Who may append what is
//! [`crate::auth`]'s business; this module knows only the case flow of DOMAIN.md.

use chrono::{DateTime, Utc};
use eventlog::schema::{Event, HandoverTo};
use eventlog::{Actor, Role};
use projections::contact::{ContactState, HandoverStatus};

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
        "nothing follows contact_closed except note_added, correction_recorded and audit_finding_recorded",
    ),
    ("occurred-before-received", "an event cannot have occurred before its contact was received"),
    ("revision-needs-revises", "a second decision must say which decision it revises and why (data.revises)"),
    ("nothing-to-revise", "a first decision cannot revise anything"),
    ("revises-current-decision", "data.revises.event_id must be the decision currently in force"),
    ("needs-decision", "action plans, informing the referrer and handovers follow a decision"),
    ("referral-to-assessment-team", "strategy_discussion and assessment are handed over to the assessment_team"),
    ("handover-pending", "a contact has one pending handover at a time"),
    ("needs-pending-handover", "handover_accepted and handover_returned answer a pending handover_sent"),
    ("close-with-pending-handover", "a contact is not closed while its handover is pending"),
    ("referral-closed-before-acceptance", "a referral is not closed before the Assessment Team accepted it"),
    ("correction-unknown-event", "a correction names an event of the same contact"),
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
];

/// Decides whether `event`, occurring at `occurred_at`, may be appended to the contact whose
/// state is `state`. `state` is `None` only for a new contact, whose first event must be
/// `contact_received`.
pub fn decide(state: &ContactState, event: &Event, occurred_at: DateTime<Utc>) -> Result<(), RuleBroken> {
    if let Event::ContactReceived(_) = event {
        return broken("contact-received-once", "this contact has already been received");
    }
    let late_ok = matches!(event, Event::NoteAdded(_) | Event::CorrectionRecorded(_) | Event::AuditFindingRecorded(_));
    if let Some(closed) = &state.closed
        && !late_ok
    {
        return broken(
            "contact-closed",
            format!(
                "the contact was closed at {} ({}); only notes, corrections and audit findings may follow",
                eventlog::envelope::timestamp::format(&closed.at),
                closed.reason
            ),
        );
    }
    if occurred_at < state.received_at {
        return broken(
            "occurred-before-received",
            format!(
                "occurred_at is before the contact was received ({})",
                eventlog::envelope::timestamp::format(&state.received_at)
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
            (Some(_), Some(_)) => Ok(()),
        },
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
        Event::CorrectionRecorded(c) if !state.has_event(c.corrects_event_id) => broken(
            "correction-unknown-event",
            format!("data.corrects_event_id {} is not an event of this contact", c.corrects_event_id),
        ),
        _ => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    //! given(events).when(event).then(accepted | rule broken)

    use super::*;
    use eventlog::schema::*;
    use eventlog::{Actor, Envelope, Hash, Role};
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
            }],
            concerns: "domestic abuse incident".into(),
            immediate_risk: false,
            consent: Consent::Unknown,
            consent_override_reason: None,
            ppn_grade: None,
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
            field: "rationale".into(),
            value: serde_json::json!("typo fixed"),
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
        assert_eq!(when(&given(&[]), &closed()), Ok(()), "a duplicate contact may be closed undecided");
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
    fn a_contact_is_received_once_and_events_cannot_predate_it() {
        assert_eq!(when(&given(&[]), &received()), Err("contact-received-once"));
        assert_eq!(decide(&given(&[]), &note(), at(-5)).map_err(|e| e.rule), Err("occurred-before-received"));
    }

    #[test]
    fn corrections_name_an_event_of_the_contact() {
        let correction = |of| {
            Event::CorrectionRecorded(CorrectionRecorded {
                corrects_event_id: of,
                field: "concerns".into(),
                value: serde_json::json!("x"),
                reason: "wrong child".into(),
            })
        };
        assert_eq!(when(&given(&[]), &correction(id(1))), Ok(()));
        assert_eq!(when(&given(&[]), &correction(Ulid::nil())), Err("correction-unknown-event"));
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
}
