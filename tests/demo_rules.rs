//! The demo county obeys the service's own rules: every event of `frontdoor serve --demo`'s
//! four weeks, run through [`frontdoor::validate`] (shape and normalisation) and
//! [`frontdoor::rules::decide`] on the contact as the projections fold it, as the API would
//! have taken it when it was recorded. These tests live on the service's side because the
//! `demo` crate cannot depend on the service that depends on it (docs/DECISIONS.md).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use demo::{DemoActors, DemoSummary, generate, summarise};
use eventlog::{Actor, AppendRequest, Envelope, Event, NewEvent, Role};
use events::schema::{
    Channel, Child, Consent, ContactClosed, ContactReceived, DecisionMade, HandoverAccepted, HandoverSent, HandoverTo,
    Outcome, PrimaryNeed, Referrer, Sex, SourceCode,
};
use projections::contact::ContactState;
use projections::time::{self, DuePolicy};
use ulid::Ulid;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Monday 2 March 2026, noon: the demo's reference `now`.
fn now() -> DateTime<Utc> {
    at("2026-03-02T12:00:00Z")
}

fn share(count: usize, total: usize) -> f64 {
    DemoSummary::percent(count, total)
}

fn assert_between(what: &str, value: f64, lo: f64, hi: f64) {
    assert!((lo..=hi).contains(&value), "{what}: {value:.1} not in {lo}..={hi}");
}

// --- The case rules: the service's own, and a small model of the flow ---------------

#[derive(Default)]
struct CaseState {
    version: u32,
    received_at: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
    closed: bool,
    decisions: Vec<Ulid>,
    outcome: Option<Outcome>,
    pending: Option<HandoverTo>,
    returned: bool,
    accepted: Option<HandoverTo>,
    /// The contact as the service folds it, for `rules::decide`.
    folded: Option<ContactState>,
}

/// Checks every append as the service would have taken it when it was recorded: the
/// service's own case rules ([`frontdoor::rules::decide`] on the contact's
/// [`ContactState`]) and field checks ([`frontdoor::validate::check_event`] at the
/// recording time), the rules for time (nothing in the future, nothing recorded after
/// `now`, `recorded_at` never decreasing, late entries with a reason), versions, who may
/// append what, and the demo's own flow.
fn check_log(appends: &[AppendRequest], now: DateTime<Utc>, policy: &DuePolicy) -> Result<(), String> {
    let mut states: HashMap<Ulid, CaseState> = HashMap::new();
    let mut position = 0u64;
    let mut last_recorded: Option<DateTime<Utc>> = None;
    let mut known: HashMap<Ulid, DateTime<Utc>> = HashMap::new();
    for append in appends {
        let id = append.contact_id;
        if let Some(first) = append.events.first()
            && append.expected_version == Some(0)
        {
            known.entry(id).or_insert(first.occurred_at);
        }
        let state = states.entry(id).or_default();
        if append.expected_version != Some(state.version) {
            return Err(format!("{id}: expected_version {:?}, version is {}", append.expected_version, state.version));
        }
        if append.events.is_empty() {
            return Err(format!("{id}: empty append"));
        }
        for new in &append.events {
            position += 1;
            let recorded_at = new.recorded_at.ok_or_else(|| format!("{id}: no recorded_at"))?;
            let version = state.version + 1;
            let at = |e: String| format!("{id} v{version} (position {position}): {e}");
            if last_recorded.is_some_and(|l| recorded_at < l) {
                return Err(at("recorded before the event at the previous position".into()));
            }
            last_recorded = Some(recorded_at);
            check_recorded(new, recorded_at, now, policy).map_err(at)?;
            check_with_the_service(state, id, position, new, recorded_at, &known).map_err(at)?;
            check_event(state, new, now).map_err(at)?;
            state.version += 1;
        }
    }
    Ok(())
}

/// The rules for time at recording: recorded at or before `now`, never before it
/// occurred, and a reason when more than the late-entry window after.
fn check_recorded(
    new: &NewEvent,
    recorded_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &DuePolicy,
) -> Result<(), String> {
    if recorded_at > now {
        return Err(format!("{} recorded after now", new.event_type));
    }
    if new.occurred_at > recorded_at {
        return Err(format!("{} occurred after it was recorded (occurred-in-future)", new.event_type));
    }
    let reason = new.late_entry_reason.as_deref().is_some_and(|r| !r.trim().is_empty());
    if policy.recorded_late(new.occurred_at, recorded_at) && !reason {
        return Err(format!("{} recorded late without a reason (late-entry-needs-reason)", new.event_type));
    }
    if new.late_entry_reason.is_some() && recorded_at - new.occurred_at < TimeDelta::hours(1) {
        return Err(format!("{} has a late-entry reason but was recorded at once", new.event_type));
    }
    Ok(())
}

/// The service's own rules for `new` on the contact as it stood when it was recorded.
fn check_with_the_service(
    state: &mut CaseState,
    contact_id: Ulid,
    position: u64,
    new: &NewEvent,
    recorded_at: DateTime<Utc>,
    known: &HashMap<Ulid, DateTime<Utc>>,
) -> Result<(), String> {
    let mut event = Event::from_data(new.event_type, new.data.get()).map_err(|e| e.to_string())?;
    let as_written = event.clone();
    frontdoor::validate::normalise(&mut event);
    if event != as_written {
        return Err(format!("{} is not normalised", new.event_type));
    }
    let invalid = frontdoor::validate::check_event(&event, recorded_at);
    if !invalid.is_empty() {
        return Err(format!("{} refused by validation: {invalid:?}", new.event_type));
    }
    let env = Envelope {
        position,
        event_id: new.event_id,
        contact_id,
        version: state.version + 1,
        event_type: new.event_type,
        schema_version: events::schema::CURRENT_SCHEMA_VERSION,
        occurred_at: new.occurred_at,
        late_entry_reason: new.late_entry_reason.clone(),
        recorded_at,
        actor: new.actor.clone(),
        data: new.data.clone(),
        prev_hash: eventlog::Hash::GENESIS,
        hash: eventlog::Hash::GENESIS,
    };
    let Some(folded) = state.folded.as_mut() else {
        state.folded = Some(ContactState::received(&env, &event).map_err(|e| e.to_string())?);
        return check_children(&event, recorded_at);
    };
    frontdoor::rules::decide(folded, &event, new.occurred_at)
        .map_err(|e| format!("{} refused by rule {}: {}", new.event_type, e.rule, e.detail))?;
    // The rules the service is gaining (issue 12), checked here until `decide` has them.
    match &event {
        Event::ContactClosed(_) if folded.decision.is_none() => {
            return Err("contact_closed without a decision (close-needs-decision)".into());
        }
        Event::DecisionMade(d) => {
            if let Some(current) = &folded.decision
                && new.occurred_at < current.decided_at
            {
                return Err("a revision dated before the decision it revises".into());
            }
            match (d.outcome, d.duplicate_of) {
                (Outcome::NotAccepted, Some(of))
                    if of != contact_id && known.get(&of).is_some_and(|r| *r <= folded.received_at) => {}
                (Outcome::NotAccepted, Some(of)) => return Err(format!("duplicate_of {of}: no earlier contact")),
                (_, Some(_)) => return Err("duplicate_of without not_accepted".into()),
                (_, None) => {}
            }
        }
        Event::HandoverSent(h) => {
            let receiving = matches!(h.to, HandoverTo::AssessmentTeam | HandoverTo::EarlyHelp);
            if receiving && h.team.is_none() {
                return Err(format!("handover_sent to {} without a team (handover-needs-team)", h.to));
            }
        }
        Event::HandoverAccepted(_) | Event::HandoverReturned(_) => {
            let handover = folded.handover.as_ref().ok_or("no handover")?;
            let actor = &new.actor;
            if matches!(handover.to, HandoverTo::AssessmentTeam | HandoverTo::EarlyHelp) {
                if actor.role != Role::ReceivingTeam || actor.team != handover.team {
                    return Err(format!("{} of a handover to {:?} by {}", new.event_type, handover.team, actor.id));
                }
            } else if !matches!(actor.role, Role::Practitioner | Role::DecisionMaker) {
                return Err(format!("{} of a handover to {} by {}", new.event_type, handover.to, actor.id));
            } else if let Event::HandoverAccepted(a) = &event
                && a.evidence.is_none()
            {
                return Err("acceptance recorded without evidence (acceptance-needs-evidence)".into());
            }
        }
        _ => {}
    }
    folded.apply(&env, &event);
    Ok(())
}

/// No child born after the contact was recorded; the unborn have an expected date of
/// birth and sex `U` instead.
fn check_children(event: &Event, recorded_at: DateTime<Utc>) -> Result<(), String> {
    let Event::ContactReceived(c) = event else { return Ok(()) };
    let today = time::london_date(recorded_at);
    for child in &c.children {
        match (child.date_of_birth, child.expected_date_of_birth) {
            (Some(dob), None) if dob <= today => {}
            (None, Some(due)) if due > today && child.sex == Some(Sex::Unknown) => {}
            (None, None) if !child.name.starts_with("Unborn") => {}
            _ => return Err(format!("{}: date of birth {:?}", child.name, child.date_of_birth)),
        }
    }
    Ok(())
}

fn check_event(state: &mut CaseState, new: &NewEvent, now: DateTime<Utc>) -> Result<(), String> {
    let event = Event::from_data(new.event_type, new.data.get()).map_err(|e| e.to_string())?;
    let t = new.occurred_at;
    let role = new.actor.role;
    if (state.version == 0) != matches!(event, Event::ContactReceived(_)) {
        return Err(format!("{} at version {}", new.event_type, state.version));
    }
    if t > now {
        return Err(format!("{} occurs after now", new.event_type));
    }
    if state.received_at.is_some_and(|r| t < r) || state.last_at.is_some_and(|l| t < l) {
        return Err(format!("{} out of time order", new.event_type));
    }
    let late_ok = matches!(
        event,
        Event::NoteAdded(_)
            | Event::CorrectionRecorded(_)
            | Event::ActionCompleted(_)
            | Event::StrategyDiscussionHeld(_)
    );
    if state.closed && !late_ok {
        return Err(format!("{} after contact_closed", new.event_type));
    }
    let needs_role = |allowed: &[Role]| {
        if allowed.contains(&role) { Ok(()) } else { Err(format!("{} by a {role}", new.event_type)) }
    };
    match &event {
        Event::ContactReceived(c) => {
            needs_role(&[Role::Referrer, Role::Practitioner])?;
            state.received_at = Some(t);
            if c.ppn_grade.is_some() != (c.channel == Channel::PoliceNotification) {
                return Err("ppn_grade without a police notification, or the reverse".into());
            }
            if c.consent_override_reason.is_some() != (c.consent == Consent::Overridden) {
                return Err("consent_override_reason does not match consent".into());
            }
            if c.children.is_empty() || c.children.len() > 20 || c.concerns.trim().is_empty() {
                return Err("children or concerns missing".into());
            }
        }
        Event::DecisionMade(d) => {
            needs_role(&[Role::DecisionMaker])?;
            if state.pending.is_some() {
                return Err("decision while a handover is pending".into());
            }
            match (&d.revises, state.decisions.is_empty()) {
                (None, true) => {}
                (Some(r), false) if state.decisions.contains(&r.event_id) && !r.reason.is_empty() => {}
                _ => return Err("a second decision must revise an earlier one, a first must not".into()),
            }
            let consistent = match (d.outcome, d.level_of_need) {
                (Outcome::NotAccepted, None) => d.primary_need.is_none(),
                (_, None) | (Outcome::NotAccepted, Some(_)) => false,
                (Outcome::StrategyDiscussion | Outcome::Assessment, Some(level)) => level == 4,
                (Outcome::EarlyHelp, Some(level)) => (2..=3).contains(&level),
                (Outcome::AdviceAndSignpost | Outcome::NoFurtherAction, Some(level)) => (1..=2).contains(&level),
                (Outcome::ExistingCase, Some(level)) => (3..=4).contains(&level),
            };
            if !consistent {
                return Err(format!("level {:?} for {}", d.level_of_need, d.outcome));
            }
            state.decisions.push(new.event_id);
            state.outcome = Some(d.outcome);
        }
        Event::HandoverSent(h) => {
            needs_role(&[Role::Practitioner])?;
            let outcome = state.outcome.ok_or("handover_sent before a decision")?;
            if state.pending.is_some() {
                return Err("handover_sent while one is pending".into());
            }
            if outcome.is_referral() && h.to != HandoverTo::AssessmentTeam {
                return Err(format!("{outcome} handed over to {}", h.to));
            }
            state.pending = Some(h.to);
            state.returned = false;
        }
        Event::HandoverAccepted(_) | Event::HandoverReturned(_) => {
            needs_role(&[Role::Practitioner, Role::ReceivingTeam])?;
            let to = state.pending.take().ok_or(format!("{} without a pending handover", new.event_type))?;
            if matches!(event, Event::HandoverAccepted(_)) {
                state.accepted = Some(to);
            } else {
                state.returned = true;
            }
        }
        Event::ContactClosed(_) => {
            needs_role(&[Role::Practitioner])?;
            if state.pending.is_some() || state.returned {
                return Err("closed while a handover is pending".into());
            }
            if state.outcome.is_some_and(Outcome::is_referral) && state.accepted.is_none() {
                return Err("referral closed before its handover was accepted".into());
            }
            state.closed = true;
        }
        Event::ChecksReturned(c) => {
            let matching = new.actor.role == Role::Partner && new.actor.agency == c.agency;
            if !matching {
                return Err(format!("{} checks returned by {}", c.agency, new.actor.id));
            }
        }
        Event::CallLogged(c) => {
            needs_role(&[Role::Practitioner])?;
            let end = c.started_at + TimeDelta::seconds(i64::from(c.duration_seconds));
            if state.received_at.is_some_and(|r| c.started_at < r) || end > t {
                return Err("call outside the contact's time".into());
            }
        }
        Event::DutyDiscussionHeld(_) | Event::NoteAdded(_) => needs_role(&[Role::Practitioner, Role::Partner])?,
        Event::ActionPlanAgreed(_) | Event::ReferrerInformed(_) | Event::StrategyDiscussionHeld(_) => {
            needs_role(&[Role::Practitioner])?;
            if state.outcome.is_none() {
                return Err(format!("{} before a decision", new.event_type));
            }
        }
        _ => needs_role(&[Role::Practitioner])?,
    }
    state.last_at = Some(t);
    Ok(())
}

#[test]
fn every_contact_obeys_the_case_rules() {
    for seed in [1, 7, 42] {
        let appends = generate(now(), seed, &DemoActors::standard(), &DuePolicy::default());
        check_log(&appends, now(), &DuePolicy::default()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn the_rules_hold_across_a_bank_holiday_and_a_clock_change() {
    // Easter 2026 and the spring clock change (29 March) fall in these four weeks.
    let now = at("2026-04-10T16:30:00Z");
    let policy = DuePolicy::default();
    let appends = generate(now, 3, &DemoActors::standard(), &policy);
    check_log(&appends, now, &policy).unwrap();
    let s = summarise(&appends, now, &policy);
    assert!((1700..=2500).contains(&s.contacts), "{s}");
}

#[test]
fn timeliness_follows_a_configured_policy() {
    // Two working days and six hours for urgent contacts: the duty team works to the
    // council's policy, so about as many are on time as under the default.
    let policy = DuePolicy { working_days: 2, urgent_hours: 6, ..DuePolicy::default() };
    let appends = generate(now(), 5, &DemoActors::standard(), &policy);
    check_log(&appends, now(), &policy).unwrap();
    let s = summarise(&appends, now(), &policy);
    assert_between("on time", share(s.decided_on_time, s.decided), 78.0, 92.0);
    assert!((5..=10).contains(&s.overdue), "{s}");
    // Even a policy where everything is due on receipt gives a valid log.
    let instant = DuePolicy { working_days: 0, ..DuePolicy::default() };
    check_log(&generate(now(), 5, &DemoActors::standard(), &instant), now(), &instant).unwrap();
}

#[test]
fn the_checker_refuses_broken_histories() {
    let actors = DemoActors::standard();
    let t0 = at("2026-02-10T10:00:00Z");
    let received = Event::ContactReceived(ContactReceived {
        channel: Channel::Phone,
        source: SourceCode::School,
        referrer: Referrer { name: "Test Referrer".into(), organisation: None, role: None, phone: None, email: None },
        children: vec![Child {
            name: "Test Child".into(),
            date_of_birth: None,
            sex: None,
            child_ref: None,
            nhs_number: None,
            upn: None,
            ethnicity: None,
            expected_date_of_birth: None,
            address: None,
        }],
        concerns: "test".into(),
        immediate_risk: false,
        consent: Consent::Unknown,
        consent_override_reason: None,
        ppn_grade: None,
        adults: Vec::new(),
        concern_categories: Vec::new(),
        follows_consultation: None,
    });
    let decision = |outcome, revises| {
        Event::DecisionMade(DecisionMade {
            outcome,
            rationale: "test".into(),
            level_of_need: Some(4),
            primary_need: Some(PrimaryNeed::N1),
            revises,
            duplicate_of: None,
            children: Vec::new(),
            concern_categories: Vec::new(),
        })
    };
    let sent = |to| Event::HandoverSent(HandoverSent { to, team: Some("AT North".into()), notes: None });
    let accepted = Event::HandoverAccepted(HandoverAccepted { team: "AT North".into(), worker: None, evidence: None });
    let closed = Event::ContactClosed(ContactClosed { reason: "test".into() });
    let id = Ulid::from_parts(1, 1);
    let log = |events: Vec<(Event, &Actor)>| -> Vec<AppendRequest> {
        events
            .into_iter()
            .enumerate()
            .map(|(i, (e, actor))| {
                let minutes = i64::try_from(i).unwrap();
                let mut new = NewEvent::new(&e, t0 + TimeDelta::minutes(minutes), actor.clone());
                new.recorded_at = Some(new.occurred_at + TimeDelta::minutes(5));
                AppendRequest {
                    contact_id: id,
                    events: vec![new],
                    expected_version: Some(u32::try_from(i).unwrap()),
                    idempotency: None,
                }
            })
            .collect()
    };
    let (p, dm) = (&actors.practitioner, &actors.decision_maker);
    let at_north = actors.receiving_team("AT North").unwrap();
    let policy = DuePolicy::default();
    let ok = log(vec![
        (received.clone(), p),
        (decision(Outcome::Assessment, None), dm),
        (sent(HandoverTo::AssessmentTeam), p),
        (accepted.clone(), at_north),
        (closed.clone(), p),
    ]);
    check_log(&ok, now(), &policy).unwrap();
    let broken: [(&str, Vec<(Event, &Actor)>); 9] = [
        ("closed without a decision", vec![(received.clone(), p), (closed.clone(), p)]),
        (
            "the assessment team's handover accepted by the front door",
            vec![
                (received.clone(), p),
                (decision(Outcome::Assessment, None), dm),
                (sent(HandoverTo::AssessmentTeam), p),
                (accepted.clone(), p),
            ],
        ),
        (
            "a handover to the assessment team without a team",
            vec![
                (received.clone(), p),
                (decision(Outcome::Assessment, None), dm),
                (Event::HandoverSent(HandoverSent { to: HandoverTo::AssessmentTeam, team: None, notes: None }), p),
            ],
        ),
        (
            "a handover to the allocated worker accepted without evidence",
            vec![
                (received.clone(), p),
                (decision(Outcome::ExistingCase, None), dm),
                (Event::HandoverSent(HandoverSent { to: HandoverTo::AllocatedWorker, team: None, notes: None }), p),
                (accepted, p),
            ],
        ),
        ("handover before a decision", vec![(received.clone(), p), (sent(HandoverTo::EarlyHelp), p)]),
        (
            "referral to early help",
            vec![(received.clone(), p), (decision(Outcome::Assessment, None), dm), (sent(HandoverTo::EarlyHelp), p)],
        ),
        (
            "second decision without revises",
            vec![
                (received.clone(), p),
                (decision(Outcome::Assessment, None), dm),
                (decision(Outcome::Assessment, None), dm),
            ],
        ),
        (
            "referral closed before acceptance",
            vec![(received.clone(), p), (decision(Outcome::Assessment, None), dm), (closed, p)],
        ),
        ("decision by a practitioner", vec![(received, p), (decision(Outcome::Assessment, None), p)]),
    ];
    for (what, events) in broken {
        assert!(check_log(&log(events), now(), &policy).is_err(), "{what} accepted");
    }
    let mut future = ok.clone();
    future[4].events[0].occurred_at = now() + TimeDelta::seconds(1);
    assert!(check_log(&future, now(), &policy).is_err(), "event after now accepted");
    let mut unrecorded = ok.clone();
    unrecorded[4].events[0].recorded_at = Some(now() + TimeDelta::seconds(1));
    assert!(check_log(&unrecorded, now(), &policy).is_err(), "event recorded after now accepted");
    let mut early = ok.clone();
    early[3].events[0].recorded_at = early[3].events[0].recorded_at.map(|r| r - TimeDelta::minutes(10));
    assert!(check_log(&early, now(), &policy).is_err(), "recorded before it occurred accepted");
    let mut backwards = ok.clone();
    backwards[3].events[0].recorded_at = backwards[4].events[0].recorded_at.map(|r| r + TimeDelta::minutes(10));
    assert!(check_log(&backwards, now(), &policy).is_err(), "recorded_at decreasing by position accepted");
    let mut late = ok.clone();
    for append in &mut late[3..] {
        append.events[0].recorded_at = Some(t0 + TimeDelta::hours(30));
    }
    assert!(check_log(&late, now(), &policy).is_err(), "a late entry without a reason accepted");
    for append in &mut late[3..] {
        append.events[0].late_entry_reason = Some("Recorded after a home visit.".into());
    }
    check_log(&late, now(), &policy).unwrap();
    let mut gap = ok;
    gap[2].expected_version = Some(1);
    assert!(check_log(&gap, now(), &policy).is_err(), "wrong expected_version accepted");
}
