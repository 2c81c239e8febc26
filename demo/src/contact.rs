//! A contact's events: written in time order from its plan, recorded, and grouped into appends.

use super::*;

/// Collects a contact's events; ids are derived from the contact's rng, so they are
/// deterministic too.
pub(crate) struct Timeline<'a> {
    events: Vec<NewEvent>,
    actors: &'a DemoActors,
}

impl Timeline<'_> {
    fn push(&mut self, rng: &mut Rng, event: &Event, at: DateTime<Utc>, actor: &Actor) -> Ulid {
        let mut new = NewEvent::new(event, at, actor.clone());
        new.event_id = Ulid::from_parts(millis(at), rng.u128(..));
        let id = new.event_id;
        self.events.push(new);
        id
    }
}

/// Where in the time between triage and decision the work in between happens: office
/// time for ordinary contacts, real time for urgent ones.
pub(crate) struct Window {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    office: Option<TimeDelta>,
}

impl Window {
    fn at(&self, cal: &Calendar, permille: i64) -> DateTime<Utc> {
        match self.office {
            Some(span) => add_office_time(cal, self.start, part_of(span, permille)),
            None => self.start + part_of(self.end - self.start, permille),
        }
    }
}

pub(crate) fn write_contact(
    draft: Draft,
    actors: &DemoActors,
    policy: &DuePolicy,
    now: DateTime<Utc>,
) -> Vec<AppendRequest> {
    let cal = &policy.calendar;
    let Draft { mut rng, plan: mut draft } = draft;
    let rng = &mut rng;
    // The councils' additions (concern categories, strategy discussions, completed actions)
    // draw from a generator of their own, seeded from the contact's id, so that every other
    // event of the demo stays as it was.
    let mut extra = Rng::with_seed(additions_seed(draft.id));
    draft.contact.concern_categories = categories_for(&mut extra, draft.need);
    let mut tl = Timeline { events: Vec::new(), actors };
    let practitioner = &actors.practitioner;
    let received_by = if draft.online { &actors.referrer } else { practitioner };
    tl.push(rng, &Event::ContactReceived(draft.contact.clone()), draft.received_at, received_by);

    let rating = Event::TriageRated(TriageRated {
        rating: draft.rating,
        reason: Some((*pick(rng, rating_reasons(draft.rating))).to_owned()),
    });
    tl.push(rng, &rating, draft.triage_at, practitioner);

    let child = first_name_of(&draft.contact.children);
    before_decision(&draft, rng, &mut tl, cal, &child);

    // The decision, and for a few a revised one.
    let decision = |rng: &mut Rng, extra: &mut Rng, outcome: Outcome, revises: Option<Revises>, at: DateTime<Utc>| {
        let event = match (outcome, draft.not_accepted) {
            (Outcome::NotAccepted, Some(why)) => DecisionMade {
                outcome,
                rationale: not_accepted_rationale(rng, why, &child),
                level_of_need: None,
                primary_need: None,
                revises,
                duplicate_of: match why {
                    NotAccepted::DuplicateOf(of) => Some(of),
                    _ => None,
                },
                children: Vec::new(),
                concern_categories: Vec::new(),
            },
            _ => DecisionMade {
                outcome,
                rationale: pick(rng, rationales(outcome)).replace("{c}", &child),
                level_of_need: Some(level_of_need(rng, outcome)),
                primary_need: Some(draft.need),
                revises,
                duplicate_of: None,
                children: if outcome.is_referral() { upn_reasons(&draft.contact.children, at) } else { Vec::new() },
                // A referral's decision often records what the duty team found.
                concern_categories: if outcome.is_referral() && chance(extra, 50) {
                    found_categories(extra, &draft.contact.concern_categories)
                } else {
                    Vec::new()
                },
            },
        };
        Event::DecisionMade(event)
    };
    let first = decision(rng, &mut extra, draft.first_outcome, None, draft.decision_at);
    let first_id = tl.push(rng, &first, draft.decision_at, &actors.decision_maker);
    let mut decided_at = draft.decision_at;
    if draft.first_outcome != draft.outcome {
        // Never dated before the decision it revises.
        decided_at = later(cal, rng, decided_at, draft.urgent, 30, 360);
        let reason = (*pick(rng, &REVISION_REASONS)).to_owned();
        let revised =
            decision(rng, &mut extra, draft.outcome, Some(Revises { event_id: first_id, reason }), decided_at);
        tl.push(rng, &revised, decided_at, &actors.decision_maker);
    }

    after_decision(&draft, decided_at, rng, &mut extra, &mut tl, policy, &child);

    // Written as clients would have written them, each append recorded minutes to hours
    // after its events occurred; then cut at `now`: what was not yet recorded is not in the
    // log (a prefix of a valid case history is valid).
    let mut events = tl.events;
    events.sort_by_key(|e| e.occurred_at);
    let mut appends = group_into_appends(draft.id, events, rng);
    record(&mut appends, rng, policy, &draft, now);
    appends.retain(|a| a.events.iter().all(|e| e.recorded_at.is_some_and(|r| r <= now)));
    appends
}

/// Share of contacts, in percent, with one append recorded more than the late-entry window
/// after it occurred (and so everything after it in the contact recorded no earlier).
pub(crate) const LATE_ENTRY_PERCENT: u32 = 4;

/// Why an append was recorded more than the late-entry window after it occurred.
pub(crate) const LATE_ENTRY_REASONS: [&str; 4] = [
    "Recorded after a home visit without network access.",
    "Case system unavailable; entered from the paper notes taken at the time.",
    "Recorded on return from leave, from notes made at the time.",
    "Found in the shared inbox during a weekly check; entered on the day it was found.",
];

/// Sets when each append was recorded, as a migration from the older system keeps it: a
/// client writes an append (all its events at one moment) minutes to hours after its last
/// event occurred; something that happened out of hours is often written up the next
/// morning; a few appends are written up more than the late-entry window later, with a
/// reason. Within a contact `recorded_at` never decreases, and an append recorded more than
/// the window after its first event carries a `late_entry_reason` (the API's rule).
pub(crate) fn record(
    appends: &mut [AppendRequest],
    rng: &mut Rng,
    policy: &DuePolicy,
    plan: &Plan,
    now: DateTime<Utc>,
) {
    let cal = &policy.calendar;
    let window = TimeDelta::hours(i64::from(policy.late_entry_hours));
    let late_one =
        (!plan.prompt && appends.len() > 1 && chance(rng, LATE_ENTRY_PERCENT)).then(|| rng.usize(1..appends.len()));
    let mut reason: Option<String> = None;
    let mut previous: Option<DateTime<Utc>> = None;
    for (i, append) in appends.iter_mut().enumerate() {
        let (Some(first), Some(last)) = (append.events.first(), append.events.last()) else { continue };
        let (first, last_at, role) = (first.occurred_at, last.occurred_at, last.actor.role);
        let late_at = (late_one == Some(i))
            .then(|| add_office_time(cal, (first + window).max(last_at), minutes(rng, 20, 600)))
            // One that would be written up after `now` is written up in time instead.
            .filter(|at| *at <= now);
        let mut at = if let Some(late_at) = late_at {
            reason = Some((*pick(rng, &LATE_ENTRY_REASONS)).to_owned());
            late_at
        } else if plan.prompt {
            last_at + TimeDelta::seconds(rng.i64(5..50))
        } else {
            let received = i == 0;
            let natural = last_at + record_delay(rng, cal, last_at, role, plan.urgent || received);
            natural.min(first + window - minutes(rng, 30, 180)).max(last_at)
        };
        if let Some(previous) = previous {
            at = at.max(previous);
        }
        previous = Some(at);
        let late = append.events.iter().any(|e| policy.recorded_late(e.occurred_at, at));
        for event in &mut append.events {
            event.recorded_at = Some(at);
            if late {
                event.late_entry_reason.clone_from(&reason);
            }
        }
    }
}

/// How long after its last event a client writes an append; `soon` for a contact as it is
/// received and anything on an urgent one.
pub(crate) fn record_delay(rng: &mut Rng, cal: &Calendar, at: DateTime<Utc>, role: Role, soon: bool) -> TimeDelta {
    let in_office = office_hours(cal, time::london_date(at)).is_some_and(|(opens, closes)| at >= opens && at < closes);
    if role == Role::Referrer {
        // An online form is recorded as it is submitted.
        TimeDelta::seconds(rng.i64(1..=90))
    } else if in_office && soon {
        match rng.u32(0..100) {
            0..85 => minutes(rng, 1, 20),
            _ => minutes(rng, 20, 90),
        }
    } else if in_office {
        match rng.u32(0..100) {
            0..70 => minutes(rng, 2, 30),
            70..95 => minutes(rng, 30, 120),
            _ => minutes(rng, 120, 300),
        }
    } else if soon || chance(rng, 40) {
        // The out-of-hours team writes up as it goes.
        minutes(rng, 5, 90)
    } else {
        // Written up when the office opens.
        add_office_time(cal, at, TimeDelta::zero()) - at + minutes(rng, 0, 90)
    }
}

/// Calls, checks, consent and the duty discussion, between triage and the first decision.
pub(crate) fn before_decision(d: &Plan, rng: &mut Rng, tl: &mut Timeline<'_>, cal: &Calendar, child: &str) {
    let actors = tl.actors;
    let practitioner = &actors.practitioner;
    let office = office_time_between(cal, d.triage_at, d.decision_at);
    let window = Window {
        start: d.triage_at,
        end: d.decision_at,
        office: (!d.urgent && office >= TimeDelta::minutes(30)).then_some(office),
    };
    let outcome = d.first_outcome;

    // Consent sought where it was not known, or overridden where seeking it is a risk.
    let consent_update = match d.contact.consent {
        Consent::Unknown if chance(rng, 45) => {
            Some(weighted(rng, &[(Consent::Given, 75), (Consent::NotGiven, 15), (Consent::Overridden, 10)]))
        }
        Consent::NotGiven if outcome.is_referral() && chance(rng, 50) => Some(Consent::Overridden),
        _ => None,
    };
    if let Some(consent) = consent_update {
        let reason = match consent {
            Consent::Given => pick(rng, &CONSENT_GIVEN),
            Consent::NotGiven => pick(rng, &CONSENT_REFUSED),
            _ => pick(rng, &OVERRIDE_REASONS),
        };
        let event = Event::ConsentRecorded(ConsentRecorded { consent, reason: Some((*reason).to_owned()) });
        let at = window.at(cal, rng.i64(100..800));
        tl.push(rng, &event, at, practitioner);
    }

    // A call: with the referrer to clarify, a parent, the child or another agency.
    let call_chance = if d.contact.channel == Channel::Phone { 45 } else { 30 };
    if chance(rng, call_chance) {
        let started_at = window.at(cal, rng.i64(50..500));
        let duration_seconds = rng.u32(180..2400);
        let ended_at = started_at + TimeDelta::seconds(i64::from(duration_seconds));
        if ended_at < d.decision_at - TimeDelta::minutes(1) {
            let (direction, with, summary) = *pick(rng, &CALLS);
            let event = Event::CallLogged(CallLogged {
                direction,
                with,
                started_at,
                duration_seconds,
                summary: summary.replace("{c}", child),
            });
            tl.push(rng, &event, ended_at, practitioner);
        }
    }

    // Checks with partner agencies, requested together and returned by each agency's own
    // partner in the MASH.
    let (checks_percent, most) = match outcome {
        Outcome::StrategyDiscussion | Outcome::Assessment => (80, 3),
        Outcome::EarlyHelp => (50, 2),
        Outcome::ExistingCase => (40, 2),
        Outcome::AdviceAndSignpost => (20, 1),
        Outcome::NoFurtherAction => (25, 1),
        Outcome::NotAccepted => (0, 1),
    };
    if chance(rng, checks_percent) {
        let mut agencies = vec![Agency::Police, Agency::Health, Agency::Education];
        rng.shuffle(&mut agencies);
        agencies.truncate(rng.usize(1..=most));
        let requested = rng.i64(20..350);
        let requested_at = window.at(cal, requested);
        for (n, agency) in (0i64..).zip(agencies) {
            let request = Event::ChecksRequested(ChecksRequested {
                agency,
                request: (*pick(rng, check_requests(agency))).to_owned(),
            });
            let at = requested_at + TimeDelta::seconds(20 * n);
            tl.push(rng, &request, at, practitioner);
            let restricted = chance(rng, 15);
            let summary = pick(rng, check_returns(agency, restricted)).replace("{c}", child);
            let returned = Event::ChecksReturned(ChecksReturned { agency, summary, restricted });
            let at = window.at(cal, rng.i64(requested + 100..900));
            tl.push(rng, &returned, at, actors.partner_for(agency));
        }
    }

    // The duty team's discussion, close to the decision.
    let discussion_percent = match outcome {
        Outcome::StrategyDiscussion | Outcome::Assessment => 60,
        Outcome::EarlyHelp => 30,
        Outcome::ExistingCase => 25,
        Outcome::AdviceAndSignpost => 8,
        Outcome::NoFurtherAction => 10,
        Outcome::NotAccepted => 0,
    };
    if chance(rng, discussion_percent) {
        let mut seats = DUTY_SEATS.to_vec();
        rng.shuffle(&mut seats[1..]);
        seats.truncate(rng.usize(3..=5));
        let participants = seats
            .iter()
            .map(|&(role, agency)| Participant {
                name: person_name(rng, ADULT_NAMES, None),
                role: role.to_owned(),
                agency,
            })
            .collect();
        let event = Event::DutyDiscussionHeld(DutyDiscussionHeld {
            participants,
            summary: pick(rng, &DISCUSSIONS).replace("{c}", child),
            needs: needs_for(d.need).iter().map(|n| (*n).to_owned()).collect(),
            recommendation: chance(rng, 90).then_some(outcome),
        });
        let by = *pick(rng, &[&actors.practitioner, &actors.partner_police, &actors.partner_health]);
        let at = window.at(cal, rng.i64(880..960));
        tl.push(rng, &event, at, by);
    }

    if chance(rng, 6) {
        let event = Event::NoteAdded(NoteAdded { text: pick(rng, &NOTES_OPEN).replace("{c}", child) });
        let by = *pick(rng, &[&actors.practitioner, &actors.partner_education]);
        let at = window.at(cal, rng.i64(100..900));
        tl.push(rng, &event, at, by);
    }
}

/// Referrer feedback, action plans, the handover and closing, after the (final) decision.
pub(crate) fn after_decision(
    draft: &Plan,
    decided_at: DateTime<Utc>,
    rng: &mut Rng,
    extra: &mut Rng,
    tl: &mut Timeline<'_>,
    policy: &DuePolicy,
    child: &str,
) {
    let cal = &policy.calendar;
    let actors = tl.actors;
    let practitioner = &actors.practitioner;
    let outcome = draft.outcome;
    let mut last = decided_at;

    let anonymous = matches!(draft.contact.source, SourceCode::Anonymous | SourceCode::Unknown);
    if !anonymous && chance(rng, 82) {
        let at = if chance(rng, 85) {
            later(cal, rng, decided_at, false, 10, 240)
        } else {
            add_office_time(cal, decided_at, minutes(rng, 540, 1600))
        };
        let referrer = &draft.contact.referrer;
        let method = if draft.contact.channel == Channel::OnlineForm && chance(rng, 60) {
            InformMethod::Portal
        } else if referrer.email.is_some() && chance(rng, 50) {
            InformMethod::Email
        } else if referrer.phone.is_some() || chance(rng, 50) {
            InformMethod::Phone
        } else {
            InformMethod::Letter
        };
        let summary = pick(rng, &INFORMED).replace("{outcome}", outcome_words(outcome)).replace("{c}", child);
        tl.push(rng, &Event::ReferrerInformed(ReferrerInformed { method, summary }), at, practitioner);
        last = last.max(at);
    }

    if outcome == Outcome::EarlyHelp && chance(rng, 85) {
        let at = add_office_time(cal, decided_at, minutes(rng, 30, 600));
        let mut actions = ACTIONS.to_vec();
        rng.shuffle(&mut actions);
        actions.truncate(rng.usize(2..=4));
        let today = time::london_date(at);
        let actions = actions
            .into_iter()
            .map(|(owner_agency, description)| PlannedAction {
                owner_agency,
                description: description.to_owned(),
                due: today.checked_add_days(Days::new(rng.u64(5..=20))),
            })
            .collect();
        let referrer_role = chance(rng, 50).then(|| (*pick(rng, &REFERRER_ROLES)).to_owned());
        let plan = ActionPlanAgreed { actions, referrer_role };
        let plan_id = tl.push(rng, &Event::ActionPlanAgreed(plan.clone()), at, practitioner);
        last = last.max(at);
        // Most actions are done, most of them by the day they were due; the front door
        // records each as the agency reports it, often after it closed the contact.
        for (index, action) in plan.actions.iter().enumerate() {
            let Some(due) = action.due else { continue };
            if !chance(extra, 75) {
                continue;
            }
            let days_before_due = (due - time::london_date(at)).num_days();
            let day = if chance(extra, 80) {
                extra.i64(1..=days_before_due.max(1))
            } else {
                days_before_due + extra.i64(1..=4)
            };
            let done_at = add_office_time(cal, at, TimeDelta::hours(8 * day) + minutes(extra, 0, 300));
            let done = events::schema::ActionCompleted {
                plan_event_id: plan_id,
                action_index: u8::try_from(index).unwrap_or(u8::MAX),
                note: None,
            };
            tl.push(extra, &Event::ActionCompleted(done), done_at, practitioner);
        }
    }

    // A strategy discussion follows most decisions to hold one: within hours when urgent,
    // else within a working day or two; mostly a section 47 enquiry.
    if outcome == Outcome::StrategyDiscussion && chance(extra, 90) {
        let held_at = later(cal, extra, decided_at, draft.urgent, 60, 900);
        let mut agencies = vec![Agency::ChildrensSocialCare, Agency::Police, Agency::Health];
        if chance(extra, 60) {
            agencies.push(Agency::Education);
        }
        let outcome = weighted(
            extra,
            &[(StrategyOutcome::S47Enquiry, 72), (StrategyOutcome::NoFurtherAction, 18), (StrategyOutcome::Other, 10)],
        );
        let recorded_at = held_at + minutes(extra, 30, 120);
        let held = StrategyDiscussionHeld { held_at, agencies, outcome };
        tl.push(extra, &Event::StrategyDiscussionHeld(held), recorded_at, practitioner);
    }

    let handover_to = match outcome {
        Outcome::StrategyDiscussion | Outcome::Assessment => Some(HandoverTo::AssessmentTeam),
        Outcome::EarlyHelp => {
            chance(rng, 92).then(|| if chance(rng, 70) { HandoverTo::EarlyHelp } else { HandoverTo::Tafso })
        }
        Outcome::ExistingCase => chance(rng, 95).then_some(HandoverTo::AllocatedWorker),
        Outcome::AdviceAndSignpost => chance(rng, 12).then_some(HandoverTo::Community),
        Outcome::NoFurtherAction | Outcome::NotAccepted => None,
    };
    if let Some(to) = handover_to {
        // Red-rated or immediate-risk contacts are handed over at once, any hour; the
        // receiving team has two hours to accept (others one working day).
        let urgent = draft.urgent;
        let mut team = team_name(rng, to, None);
        let mut sent_at = if urgent {
            decided_at + minutes(rng, 5, 40)
        } else {
            add_office_time(cal, decided_at, minutes(rng, 10, 180))
        };
        let notes = Some(pick(rng, &HANDOVER_NOTES).replace("{c}", child));
        tl.push(rng, &Event::HandoverSent(HandoverSent { to, team: Some(team.clone()), notes }), sent_at, practitioner);
        // The assessment team and early help accept or return their own handovers; for
        // the others the practitioner records the answer, with how it was confirmed.
        let answered_by = |team: &str| actors.receiving_team(team).unwrap_or(practitioner);
        if chance(rng, 6) {
            let returned_at = answer_at(rng, policy, sent_at, urgent, true);
            let reason = (*pick(rng, &RETURN_REASONS)).to_owned();
            tl.push(rng, &Event::HandoverReturned(HandoverReturned { reason }), returned_at, answered_by(&team));
            sent_at = later(cal, rng, returned_at, urgent, 30, 240);
            team = team_name(rng, to, Some(&team));
            let notes = Some("Sent again with the missing information.".to_owned());
            let resent = Event::HandoverSent(HandoverSent { to, team: Some(team.clone()), notes });
            tl.push(rng, &resent, sent_at, practitioner);
        }
        let accepted_at = answer_at(rng, policy, sent_at, urgent, false);
        let worker = Some(person_name(rng, ADULT_NAMES, None));
        let by = answered_by(&team);
        let evidence = (by.role != Role::ReceivingTeam).then(|| pick(rng, &ACCEPTANCE_EVIDENCE).replace("{t}", &team));
        tl.push(rng, &Event::HandoverAccepted(HandoverAccepted { team, worker, evidence }), accepted_at, by);
        last = last.max(accepted_at);
    }

    // Every decided contact is closed once its handover (if any) is accepted; a few advice
    // and no-further-action contacts are left open (off the queue all the same).
    let left_open = !draft.earlier
        && handover_to.is_none()
        && matches!(outcome, Outcome::AdviceAndSignpost | Outcome::NoFurtherAction)
        && chance(rng, 8);
    if !left_open {
        let closed_at = add_office_time(cal, last, minutes(rng, 5, 240));
        let reason = pick(rng, close_reasons(outcome, handover_to.is_some())).replace("{c}", child);
        tl.push(rng, &Event::ContactClosed(ContactClosed { reason }), closed_at, practitioner);
        if chance(rng, 3) {
            let at = add_office_time(cal, closed_at, minutes(rng, 60, 2000));
            let text = pick(rng, &NOTES_CLOSED).replace("{c}", child);
            tl.push(rng, &Event::NoteAdded(NoteAdded { text }), at, practitioner);
        }
    }
}

/// When the receiving team answers a handover sent at `sent_at`: mostly well within the
/// time allowed (a return sooner than an acceptance), about one in twelve late.
pub(crate) fn answer_at(
    rng: &mut Rng,
    policy: &DuePolicy,
    sent_at: DateTime<Utc>,
    urgent: bool,
    returned: bool,
) -> DateTime<Utc> {
    let cal = &policy.calendar;
    let due = policy.handover_due_by(sent_at, urgent);
    let share = || -> i64 { if returned { 500 } else { 1000 } };
    if chance(rng, 92) {
        if urgent {
            let room = due - sent_at - TimeDelta::minutes(10);
            if room > TimeDelta::minutes(5) {
                return sent_at + TimeDelta::minutes(5) + part_of(room, skewed_permille(rng) * share() / 1000);
            }
            return sent_at + minutes(rng, 2, 5);
        }
        let available = office_time_between(cal, sent_at, due) - TimeDelta::minutes(1);
        if available >= TimeDelta::minutes(20) {
            let span = available - TimeDelta::minutes(5);
            return add_office_time(
                cal,
                sent_at,
                TimeDelta::minutes(5) + part_of(span, skewed_permille(rng) * share() / 1000),
            );
        }
        return sent_at + minutes(rng, 5, 15);
    }
    if urgent { due + minutes(rng, 10, 240) } else { add_office_time(cal, due, minutes(rng, 10, 300)) }
}

/// Splits a contact's events into appends as clients would write them: the contact with its
/// triage (by the same person within half an hour), then runs by the same actor within two
/// hours, at most four at a time.
pub(crate) fn group_into_appends(contact_id: Ulid, events: Vec<NewEvent>, rng: &mut Rng) -> Vec<AppendRequest> {
    let mut groups: Vec<Vec<NewEvent>> = Vec::new();
    let limit = rng.usize(3..=4);
    for event in events {
        let joins = match groups.last() {
            None => false,
            // The contact and its triage together, when the same person wrote both.
            Some(group) if groups.len() == 1 && group.len() == 1 => {
                event.event_type == EventType::TriageRated
                    && group[0].actor == event.actor
                    && event.occurred_at - group[0].occurred_at <= TimeDelta::minutes(30)
            }
            Some(group) => {
                let prev = group.last().expect("groups are never empty");
                groups.len() > 1
                    && group.len() < limit
                    && prev.actor == event.actor
                    && event.occurred_at - prev.occurred_at <= TimeDelta::hours(2)
            }
        };
        match groups.last_mut() {
            Some(group) if joins => group.push(event),
            _ => groups.push(vec![event]),
        }
    }
    let mut version = 0u32;
    groups
        .into_iter()
        .map(|events| {
            let expected_version = Some(version);
            version += u32::try_from(events.len()).expect("a handful of events");
            AppendRequest { contact_id, events, expected_version, idempotency: None }
        })
        .collect()
}

/// What a referral decision records of the children's UPNs: for every school-age child without
/// a UPN, a CIN census reason it is unknown (one of those the census accepts for a school-age
/// child, UN2-UN6, taken in turn, so the demo's random sequence is left as it was); empty when
/// no child needs one.
/// The seed of a contact's councils' additions, from its id.
fn additions_seed(id: Ulid) -> u64 {
    // The random low half of the id, mixed with a constant of this use.
    #[allow(clippy::cast_possible_truncation)]
    let low = id.0 as u64;
    low ^ 0xc18c_a7e6_0d1e_5eed
}

/// Concern categories (CIN assessment factor codes) fitting a primary need, recorded on most
/// contacts: e.g. domestic abuse (`3A`, `3B`) for family dysfunction, neglect (`16A`) for abuse
/// or neglect.
fn categories_for(rng: &mut Rng, need: PrimaryNeed) -> Vec<String> {
    if !chance(rng, 75) {
        return Vec::new();
    }
    let choices: &[&[&str]] = match need {
        PrimaryNeed::N1 => &[&["16A"], &["17A"], &["18B"], &["3A", "17A"], &["19B"]],
        PrimaryNeed::N2 => &[&["6A"], &["5A"]],
        PrimaryNeed::N3 => &[&["4B"], &["6B"], &["1B"], &["2B", "4B"]],
        PrimaryNeed::N4 => &[&["3B"], &["4B"], &["2B"]],
        PrimaryNeed::N5 => &[&["3A"], &["3A", "3B"], &["1B", "3A"], &["3C"]],
        PrimaryNeed::N6 => &[&["14A"], &["10A", "14A"], &["15A"], &["11A"]],
        PrimaryNeed::N7 | PrimaryNeed::N8 => &[&["16A"]],
        PrimaryNeed::N0 | PrimaryNeed::N9 => &[&[]],
    };
    pick(rng, choices).iter().map(|c| (*c).to_owned()).collect()
}

/// The categories a referral's decision records: the contact's, and now and then one more the
/// duty team found (emotional abuse, a parent's mental health).
fn found_categories(rng: &mut Rng, contact: &[String]) -> Vec<String> {
    let mut found = contact.to_vec();
    let more = *pick(rng, &["17A", "4B", "16A"]);
    if found.is_empty() || (chance(rng, 40) && !found.iter().any(|c| c == more)) {
        found.push(more.to_owned());
    }
    found
}

fn upn_reasons(children: &[Child], at: DateTime<Utc>) -> Vec<DecisionChild> {
    const REASONS: [UpnUnknownReason; 5] = [
        UpnUnknownReason::Un2,
        UpnUnknownReason::Un3,
        UpnUnknownReason::Un4,
        UpnUnknownReason::Un5,
        UpnUnknownReason::Un6,
    ];
    let on = time::london_date(at);
    let needs =
        |c: &Child| c.upn.is_none() && c.date_of_birth.is_some_and(|dob| events::validate::is_school_age(dob, on));
    if !children.iter().any(needs) {
        return Vec::new();
    }
    children
        .iter()
        .enumerate()
        .map(|(i, c)| DecisionChild { upn: None, upn_unknown_reason: needs(c).then_some(REASONS[i % REASONS.len()]) })
        .collect()
}
