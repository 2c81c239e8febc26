//! The demo's shape: volumes, shares, timeliness, people and words as a county's would be.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Monday 2 March 2026, noon: the demo's reference `now`.
fn now() -> DateTime<Utc> {
    at("2026-03-02T12:00:00Z")
}

/// One contact's events in log order, decoded.
struct Case {
    events: Vec<(NewEvent, Event)>,
}

impl Case {
    fn received(&self) -> &ContactReceived {
        match &self.events[0].1 {
            Event::ContactReceived(c) => c,
            other => panic!("first event is {:?}", other.event_type()),
        }
    }

    fn received_at(&self) -> DateTime<Utc> {
        self.events[0].0.occurred_at
    }

    fn decisions(&self) -> Vec<(&NewEvent, &DecisionMade)> {
        self.events
            .iter()
            .filter_map(|(new, e)| match e {
                Event::DecisionMade(d) => Some((new, d)),
                _ => None,
            })
            .collect()
    }
}

struct Demo {
    appends: Vec<AppendRequest>,
    cases: Vec<Case>,
    summary: DemoSummary,
}

fn cases_of(appends: &[AppendRequest]) -> Vec<Case> {
    let mut index: HashMap<Ulid, usize> = HashMap::new();
    let mut cases: Vec<Case> = Vec::new();
    for append in appends {
        let i = *index.entry(append.contact_id).or_insert_with(|| {
            cases.push(Case { events: Vec::new() });
            cases.len() - 1
        });
        for new in &append.events {
            let event = Event::from_data(new.event_type, new.data.get()).unwrap();
            cases[i].events.push((new.clone(), event));
        }
    }
    cases
}

/// Seed 1 at [`now`], generated once for all the tests.
fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let policy = DuePolicy::default();
        let appends = generate(now(), 1, &DemoActors::standard(), &policy);
        let cases = cases_of(&appends);
        let summary = summarise(&appends, now(), &policy);
        Demo { appends, cases, summary }
    })
}

/// Whether `number` is ten digits with a valid modulus-11 check digit.
fn nhs_number_is_valid(number: &str) -> bool {
    let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 10 || number.len() != 10 {
        return false;
    }
    let sum: u32 = digits[..9].iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        11 => digits[9] == 0,
        10 => false,
        check => digits[9] == check,
    }
}

fn share(count: usize, total: usize) -> f64 {
    DemoSummary::percent(count, total)
}

fn assert_between(what: &str, value: f64, lo: f64, hi: f64) {
    assert!((lo..=hi).contains(&value), "{what}: {value:.1} not in {lo}..={hi}");
}

// --- Determinism and shape ---------------------------------------------------------

/// An event as written: id, type, data, occurred, recorded, late-entry reason, actor.
type Written = (Ulid, EventType, String, DateTime<Utc>, Option<DateTime<Utc>>, Option<String>, String);
type Fingerprint = Vec<(Ulid, Option<u32>, Vec<Written>)>;

fn fingerprint(appends: &[AppendRequest]) -> Fingerprint {
    appends
        .iter()
        .map(|a| {
            let events = a
                .events
                .iter()
                .map(|e| {
                    (
                        e.event_id,
                        e.event_type,
                        e.data.get().to_owned(),
                        e.occurred_at,
                        e.recorded_at,
                        e.late_entry_reason.clone(),
                        e.actor.id.clone(),
                    )
                })
                .collect();
            (a.contact_id, a.expected_version, events)
        })
        .collect()
}

#[test]
fn the_same_seed_and_now_give_the_same_log_ids_included() {
    let again = generate(now(), 1, &DemoActors::standard(), &DuePolicy::default());
    assert_eq!(fingerprint(&demo().appends), fingerprint(&again));
    let other = generate(now(), 2, &DemoActors::standard(), &DuePolicy::default());
    assert_ne!(demo().appends[0].contact_id, other[0].contact_id);
    assert_ne!(demo().summary, summarise(&other, now(), &DuePolicy::default()));
}

#[test]
fn ids_are_unique_and_contact_ids_carry_the_receipt_time() {
    let mut ids = HashSet::new();
    for case in &demo().cases {
        let (first, _) = &case.events[0];
        assert_eq!(u64::try_from(first.occurred_at.timestamp_millis()).unwrap(), {
            let contact = demo().appends.iter().find(|a| a.events[0].event_id == first.event_id).unwrap();
            contact.contact_id.timestamp_ms()
        });
        for (new, _) in &case.events {
            assert!(ids.insert(new.event_id), "duplicate event id {}", new.event_id);
        }
    }
}

#[test]
fn about_a_hundred_contacts_a_working_day_and_a_dozen_on_other_days() {
    let cal = Calendar::default();
    let first = time::london_date(now() - TimeDelta::days(WINDOW_DAYS));
    let last = time::london_date(now());
    let mut per_day: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for case in &demo().cases {
        *per_day.entry(time::london_date(case.received_at())).or_default() += 1;
    }
    // Whole days only: the first and last are cut by the window.
    let whole = |working: bool| -> Vec<usize> {
        per_day
            .iter()
            .filter(|(d, _)| **d > first && **d < last && cal.is_working_day(**d) == working)
            .map(|(_, n)| *n)
            .collect()
    };
    let (working, other) = (whole(true), whole(false));
    assert_eq!(working.len(), 19);
    assert_eq!(other.len(), 8);
    let average = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    assert_between("contacts per working day", average(&working), 85.0, 115.0);
    assert_between("contacts per weekend day", average(&other), 8.0, 17.0);
    assert!(working.iter().all(|&n| (70..=130).contains(&n)), "{working:?}");

    let s = &demo().summary;
    assert!((1800..=2500).contains(&s.contacts), "{} contacts", s.contacts);
    assert!((12_000..=20_000).contains(&s.events), "{} events", s.events);
    assert!(s.appends > s.contacts * 2, "events are written in several appends per contact");
    assert!(demo().appends.iter().any(|a| a.events.len() >= 3), "some appends carry several events");
}

#[test]
fn most_contacts_arrive_in_office_hours_and_police_notifications_at_any_hour() {
    let hour = |case: &Case| time::to_london(case.received_at()).format("%H").to_string().parse::<u32>().unwrap();
    let (police, others): (Vec<&Case>, Vec<&Case>) =
        demo().cases.iter().partition(|c| c.received().channel == Channel::PoliceNotification);
    let office = others.iter().filter(|c| (8..18).contains(&hour(c))).count();
    assert_between("office-hours share", share(office, others.len()), 75.0, 92.0);
    let night = police.iter().filter(|c| !(8..18).contains(&hour(c))).count();
    assert_between("police notifications out of hours", share(night, police.len()), 45.0, 90.0);
}

#[test]
fn about_half_by_phone_and_the_sources_of_a_county() {
    let cases = &demo().cases;
    let n = cases.len();
    let by = |pred: &dyn Fn(&ContactReceived) -> bool| share(cases.iter().filter(|c| pred(c.received())).count(), n);
    assert_between("phone", by(&|c| c.channel == Channel::Phone), 45.0, 55.0);
    assert_between("police notifications", by(&|c| c.channel == Channel::PoliceNotification), 15.0, 20.0);
    for channel in Channel::ALL {
        assert!(by(&|c| c.channel == *channel) > 0.5, "no {channel} contacts");
    }
    let source = |codes: &[&str]| by(&|c| codes.contains(&c.source.as_str()));
    assert_between("police (6)", source(&["6"]), 25.0, 30.0);
    assert_between("schools (2A)", source(&["2A"]), 17.0, 23.0);
    assert_between("health (3A-3F)", source(&["3A", "3B", "3C", "3D", "3E", "3F"]), 12.0, 18.0);
    assert_between("individuals (1A-1D)", source(&["1A", "1B", "1C", "1D"]), 9.0, 15.0);
    assert_between("LA services (5A-5D)", source(&["5A", "5B", "5C", "5D"]), 7.0, 13.0);
    for small in ["4", "7", "8", "9", "10"] {
        assert_between(small, source(&[small]), 0.3, 5.0);
    }
    assert!(
        cases.iter().all(|c| c.received().ppn_grade.is_some() == (c.received().channel == Channel::PoliceNotification))
    );
    assert_between("immediate risk", by(&|c| c.immediate_risk), 5.0, 11.0);
    assert_between("consent overridden", by(&|c| c.consent == Consent::Overridden), 1.0, 8.0);
    assert_between("consent not given", by(&|c| c.consent == Consent::NotGiven), 4.0, 15.0);
}

#[test]
fn outcomes_follow_the_target_shares() {
    let s = &demo().summary;
    assert_eq!(OUTCOME_SHARES.iter().map(|(_, p)| p).sum::<u32>(), 100);
    for (outcome, target) in OUTCOME_SHARES {
        let got = share(s.by_outcome.get(&outcome).copied().unwrap_or(0), s.decided);
        assert_between(outcome.as_str(), got, f64::from(target) - 5.0, f64::from(target) + 5.0);
    }
    let count = |o: Outcome| s.by_outcome.get(&o).copied().unwrap_or(0);
    let low = count(Outcome::AdviceAndSignpost) + count(Outcome::NoFurtherAction);
    assert_between("advice and NFA", share(low, s.decided), 20.0, 31.0);
    assert_between("referrals", share(s.referrals, s.decided), 24.0, 38.0);
    assert_between("revised decisions", share(s.revised, s.decided), 2.0, 6.5);
}

#[test]
fn urgent_contacts_are_rated_red_and_decided_fast() {
    let cases = &demo().cases;
    let immediate: Vec<&Case> = cases.iter().filter(|c| c.received().immediate_risk).collect();
    let rating = |c: &Case| {
        c.events.iter().find_map(|(_, e)| match e {
            Event::TriageRated(t) => Some(t.rating),
            _ => None,
        })
    };
    let red = immediate.iter().filter(|c| rating(c) == Some(Rating::Red)).count();
    assert_between("immediate risk rated red", share(red, immediate.len()), 80.0, 97.0);
    let decided: Vec<(DateTime<Utc>, DateTime<Utc>)> = immediate
        .iter()
        .filter_map(|c| c.decisions().first().map(|(new, _)| (c.received_at(), new.occurred_at)))
        .collect();
    let fast = decided.iter().filter(|(r, d)| *d - *r <= TimeDelta::hours(2)).count();
    assert_between("immediate risk decided within 2 hours", share(fast, decided.len()), 75.0, 97.0);
    let triaged_within_an_hour = cases
        .iter()
        .filter(|c| c.events.get(1).is_some_and(|(new, _)| new.occurred_at - c.received_at() <= TimeDelta::minutes(80)))
        .count();
    assert_between("triaged within 80 minutes", share(triaged_within_an_hour, cases.len()), 60.0, 100.0);
}

#[test]
fn timeliness_is_good_but_not_perfect() {
    let s = &demo().summary;
    assert_between("within one working day", share(s.decided_within_one_working_day, s.decided), 78.0, 92.0);
    assert_between("on time", share(s.decided_on_time, s.decided), 75.0, 92.0);
}

#[test]
fn some_contacts_are_open_and_a_handful_overdue() {
    let s = &demo().summary;
    let policy = DuePolicy::default();
    assert!(s.undecided >= 30, "{s}");
    assert!((5..=10).contains(&s.overdue), "{s}");
    assert!(s.awaiting_handover >= 3, "{s}");
    assert_eq!(s.open + s.closed, s.contacts);
    assert!(s.closed * 100 >= s.contacts * 80, "most contacts are closed: {s}");
    // The overdue ones are more than a working day old, or urgent ones past two hours.
    let undecided: Vec<&Case> = demo().cases.iter().filter(|c| c.decisions().is_empty()).collect();
    let old = undecided.iter().filter(|c| policy.due_by(c.received_at(), false) < now()).count();
    assert!((3..=10).contains(&old), "{old} undecided contacts older than a working day");
    // The last few hours' contacts are mostly waiting.
    let recent: Vec<&Case> = demo().cases.iter().filter(|c| now() - c.received_at() <= TimeDelta::hours(2)).collect();
    let waiting = recent.iter().filter(|c| c.decisions().is_empty()).count();
    assert!(recent.len() >= 10 && waiting * 2 > recent.len(), "{waiting} of {} recent waiting", recent.len());
    // A referral or two awaits the Assessment Team.
    let referral_waiting = demo().cases.iter().any(|c| {
        c.decisions().last().is_some_and(|(_, d)| d.outcome.is_referral())
            && !c.events.iter().any(|(_, e)| matches!(e, Event::HandoverAccepted(_)))
    });
    assert!(referral_waiting);
}

#[test]
fn accepted_referrals_went_to_the_assessment_team() {
    let mut accepted = 0;
    for case in &demo().cases {
        let Some((_, decision)) = case.decisions().last().copied() else { continue };
        if !decision.outcome.is_referral() {
            continue;
        }
        let mut to = None;
        for (_, e) in &case.events {
            match e {
                Event::HandoverSent(h) => to = Some(h.to),
                Event::HandoverAccepted(h) => {
                    assert_eq!(to, Some(HandoverTo::AssessmentTeam));
                    assert!(ASSESSMENT_TEAMS.contains(&h.team.as_str()), "{}", h.team);
                    accepted += 1;
                }
                _ => {}
            }
        }
    }
    assert!(accepted > 300, "{accepted} referrals accepted");
}

#[test]
fn revised_decisions_name_the_first_decision() {
    let mut revised = 0;
    for case in &demo().cases {
        if let [(first, _), (_, second), ..] = case.decisions()[..] {
            assert_eq!(second.revises.as_ref().unwrap().event_id, first.event_id);
            revised += 1;
        }
    }
    assert_eq!(revised, demo().summary.revised);
    assert!(revised > 20);
}

#[test]
fn the_handover_flow_has_returns_and_restricted_checks() {
    let events = || demo().cases.iter().flat_map(|c| c.events.iter().map(|(_, e)| e));
    assert!(events().filter(|e| matches!(e, Event::HandoverReturned(_))).count() >= 10);
    let returned: Vec<bool> = events()
        .filter_map(|e| match e {
            Event::ChecksReturned(c) => Some(c.restricted),
            _ => None,
        })
        .collect();
    let restricted = returned.iter().filter(|r| **r).count();
    assert_between("restricted checks", share(restricted, returned.len()), 10.0, 20.0);
    for kind in [
        EventType::CallLogged,
        EventType::DutyDiscussionHeld,
        EventType::ConsentRecorded,
        EventType::ActionPlanAgreed,
        EventType::ReferrerInformed,
        EventType::NoteAdded,
    ] {
        assert!(events().any(|e| e.event_type() == kind), "no {kind}");
    }
    // Handovers match the outcome: early help to early help or TAFSO, existing cases to
    // the allocated worker.
    for case in &demo().cases {
        let Some((_, d)) = case.decisions().last().copied() else { continue };
        for (_, e) in &case.events {
            if let Event::HandoverSent(h) = e {
                let fits = match d.outcome {
                    Outcome::StrategyDiscussion | Outcome::Assessment => h.to == HandoverTo::AssessmentTeam,
                    Outcome::EarlyHelp => matches!(h.to, HandoverTo::EarlyHelp | HandoverTo::Tafso),
                    Outcome::ExistingCase => h.to == HandoverTo::AllocatedWorker,
                    Outcome::AdviceAndSignpost => h.to == HandoverTo::Community,
                    Outcome::NoFurtherAction | Outcome::NotAccepted => false,
                };
                assert!(fits, "{} handed over to {}", d.outcome, h.to);
            }
        }
    }
}

#[test]
fn the_councils_figures_have_something_to_show() {
    let events = || demo().cases.iter().flat_map(|c| c.events.iter().map(|(_, e)| e));
    // Strategy discussions, after most strategy-discussion decisions, mostly s47 enquiries.
    let held: Vec<&StrategyDiscussionHeld> = events()
        .filter_map(|e| match e {
            Event::StrategyDiscussionHeld(h) => Some(h),
            _ => None,
        })
        .collect();
    assert!(held.len() >= 20, "{} strategy discussions", held.len());
    let s47 = held.iter().filter(|h| h.outcome == StrategyOutcome::S47Enquiry).count();
    assert_between("s47 enquiries of discussions", share(s47, held.len()), 50.0, 90.0);
    // Completed actions: some done on time, some late (the figure splits them).
    let completed = events().filter(|e| matches!(e, Event::ActionCompleted(_))).count();
    assert!(completed >= 100, "{completed} completed actions");
    // Concern categories on most contacts, domestic abuse among them, every code valid.
    let categorised = demo()
        .cases
        .iter()
        .filter(|c| match &c.events[0].1 {
            Event::ContactReceived(r) => !r.concern_categories.is_empty(),
            _ => false,
        })
        .count();
    assert_between("contacts with categories", share(categorised, demo().cases.len()), 55.0, 85.0);
    let codes: Vec<&String> = events()
        .flat_map(|e| match e {
            Event::ContactReceived(r) => r.concern_categories.iter().collect::<Vec<_>>(),
            Event::DecisionMade(d) => d.concern_categories.iter().collect(),
            _ => Vec::new(),
        })
        .collect();
    assert!(codes.iter().any(|c| c.as_str() == "3A"), "no domestic abuse");
    assert!(codes.iter().all(|c| events::schema::CONCERN_CATEGORY_CODES.contains(&c.as_str())));
}

#[test]
fn every_figure_the_councils_asked_for_shows_something_in_the_demo() {
    // The figures as the service computes them, from the demo's log folded by the read model,
    // over the four weeks up to `now`.
    let policy = DuePolicy::default();
    let log = envelopes(&demo().appends);
    let model = projections::model::ReadModel::rebuild(&log).expect("the demo folds");
    let to = time::london_date(now());
    let from = to - Days::new(27);
    let localities = localities();
    let t = projections::figures::timeliness(model.facts(), from, to, &policy, now());
    let v =
        projections::figures::volumes(model.facts(), model.consultations(Some(from), Some(to)), from, to, &localities);
    let p = projections::figures::practice(model.facts(), from, to, &policy.calendar, now());
    let eh = &t.handovers.early_help;
    assert!(eh.handed_over > 50 && eh.returned > 0, "Early Help handovers returned: {eh:?}");
    assert!(v.recommendations.departed > 0 && v.recommendations.followed > 0, "{:?}", v.recommendations);
    assert!(t.strategy_discussions.held >= 10, "{:?}", t.strategy_discussions);
    let actions = &p.action_plans.actions;
    assert!(actions.done_on_time > 0 && actions.done_late > 0 && actions.overdue > 0, "{actions:?}");
    assert!(v.by_concern_category.get("3A").is_some_and(|row| row.contacts > 0), "domestic abuse");
    // Every locality has contacts, `other` and `unknown` included, and the split adds up.
    for row in &v.by_locality {
        assert!(row.contacts >= 5, "{}: {} contacts", row.locality, row.contacts);
        assert!(row.outcomes.iter().any(|(k, n)| k != "undecided" && n > 0), "{} has decisions", row.locality);
    }
    assert_eq!(v.by_locality.len(), 5);
    assert_eq!(v.by_locality.iter().map(|r| r.contacts).sum::<u64>(), v.totals.contacts);
    // By source week by week: a school's contacts every week, with consent and conversion.
    for week in v.by_week.iter().filter(|w| w.counts.contacts > 0) {
        let school = week.by_referral_source.get("2A").expect("the census codes");
        assert!(school.contacts > 0 && school.consent_given_share.is_some(), "{}", week.week.week);
    }
}

// --- Children and people -----------------------------------------------------------

#[test]
fn nhs_numbers_are_valid_and_from_the_range_never_issued() {
    assert!(nhs_number_is_valid("9434765919"));
    assert!(!nhs_number_is_valid("9434765918"));
    assert!(!nhs_number_is_valid("943476591"));
    assert!(!nhs_number_is_valid("94347659190"));
    let mut rng = Rng::with_seed(9);
    for _ in 0..5000 {
        let n = nhs_number(&mut rng);
        assert!(nhs_number_is_valid(&n) && n.starts_with("999"), "{n}");
    }
    let mut with_number = 0;
    for case in &demo().cases {
        for child in &case.received().children {
            if let Some(n) = &child.nhs_number {
                assert!(nhs_number_is_valid(n) && n.starts_with("999"), "{n}");
                with_number += 1;
            }
        }
    }
    assert!(with_number > 1000);
}

#[test]
fn children_are_aged_0_to_17_and_siblings_share_a_surname() {
    let mut counts = [0usize; 4];
    for case in &demo().cases {
        let c = case.received();
        let today = time::london_date(case.received_at());
        counts[c.children.len()] += 1;
        let surnames: HashSet<&str> = c.children.iter().map(|ch| surname_of(&ch.name)).collect();
        assert_eq!(surnames.len(), 1, "{:?}", c.children);
        for child in &c.children {
            if let Some(dob) = child.date_of_birth {
                let age = today.years_since(dob).expect("born before the contact");
                assert!(age <= 17, "{} aged {age}", child.name);
            }
        }
    }
    assert!(counts[1] > counts[2] && counts[2] > counts[3] && counts[3] > 0, "{counts:?}");
}

#[test]
fn re_contacts_sometimes_spell_a_name_otherwise_forget_the_nhs_number_or_swap_day_and_month() {
    let children: Vec<&Child> = demo().cases.iter().flat_map(|c| &c.received().children).collect();
    let records: HashSet<(&str, Option<NaiveDate>)> =
        children.iter().map(|c| (c.name.as_str(), c.date_of_birth)).collect();
    let with_number: HashSet<(&str, Option<NaiveDate>)> =
        children.iter().filter(|c| c.nhs_number.is_some()).map(|c| (c.name.as_str(), c.date_of_birth)).collect();
    // The name with one word spelt as SPELLINGS spells it otherwise.
    let respellings = |name: &str| -> Vec<String> {
        let words: Vec<&str> = name.split(' ').collect();
        (0..words.len())
            .filter_map(|i| {
                respelt(words[i]).map(|other| {
                    let mut w = words.clone();
                    w[i] = other;
                    w.join(" ")
                })
            })
            .collect()
    };
    let mut spelt = HashSet::new();
    let mut swapped = 0;
    let mut without_number = 0;
    for child in &children {
        for other in respellings(&child.name) {
            if records.contains(&(other.as_str(), child.date_of_birth)) {
                let mut pair = [child.name.clone(), other];
                pair.sort();
                spelt.insert(pair);
            }
        }
        if let Some(dob) = child.date_of_birth.and_then(swap_day_and_month)
            && records.contains(&(child.name.as_str(), Some(dob)))
        {
            swapped += 1;
        }
        without_number += usize::from(
            child.nhs_number.is_none() && with_number.contains(&(child.name.as_str(), child.date_of_birth)),
        );
    }
    assert!(spelt.len() >= 3, "{spelt:?}: names spelt two ways");
    assert!(swapped >= 2, "{swapped} children with day and month of birth swapped");
    assert!(without_number >= 10, "{without_number} records of a numbered child without the number");
    // Siblings: some contacts name several children.
    assert!(demo().cases.iter().filter(|c| c.received().children.len() > 1).count() > 200);
}

#[test]
fn households_have_an_address_and_the_adults_around_the_children() {
    let mut relationships: HashMap<Relationship, usize> = HashMap::new();
    let mut with_adults = 0;
    let mut without_postcode = 0;
    let cases = &demo().cases;
    for case in cases {
        let c = case.received();
        // Siblings live together, at an address with a postcode in the UK's format (in an area
        // the UK does not use).
        let homes: HashSet<String> = c.children.iter().map(|ch| serde_json::to_string(&ch.address).unwrap()).collect();
        assert_eq!(homes.len(), 1, "{:?}", c.children);
        // A household first made known by an anonymous caller or an acquaintance has no
        // postcode (they know the street); every other's is in the UK's format.
        for child in &c.children {
            let address = child.address.as_ref().expect("an address");
            assert!(address.town.is_some() && address.line1.is_some());
            if let Some(postcode) = address.postcode.as_deref() {
                assert!(postcode.starts_with("WQ"), "{postcode}");
                assert_eq!(events::validate::check_postcode(postcode), Ok(()), "{postcode}");
            }
        }
        without_postcode += usize::from(c.children[0].address.as_ref().is_some_and(|a| a.postcode.is_none()));
        with_adults += usize::from(!c.adults.is_empty());
        let today = time::london_date(case.received_at());
        for adult in &c.adults {
            *relationships.entry(adult.relationship).or_default() += 1;
            if let Some(born) = adult.date_of_birth {
                assert!(today.years_since(born).is_some_and(|age| age >= 18), "{} born {born}", adult.name);
            }
            if adult.relationship == Relationship::Parent {
                assert!(adult.address == c.children[0].address || adult.address.is_none());
            }
        }
    }
    assert_between("contacts naming adults", share(with_adults, cases.len()), 70.0, 90.0);
    assert_between("contacts without a postcode", share(without_postcode, cases.len()), 0.5, 8.0);
    for r in [
        Relationship::Parent,
        Relationship::Carer,
        Relationship::HouseholdMember,
        Relationship::PersonCausingConcern,
        Relationship::Other,
    ] {
        assert!(relationships.get(&r).is_some_and(|&n| n >= 10), "{r:?}: {relationships:?}");
    }
    // A re-contact names the same household: the adults of a child's contacts are the same people.
    let mut adults_of: HashMap<String, HashSet<String>> = HashMap::new();
    for case in cases {
        let c = case.received();
        if c.adults.is_empty() {
            continue;
        }
        for child in c.children.iter().filter_map(|ch| ch.nhs_number.clone()) {
            adults_of.entry(child).or_default().insert(serde_json::to_string(&c.adults).unwrap());
        }
    }
    let differ: Vec<_> = adults_of.iter().filter(|(_, a)| a.len() > 1).collect();
    assert!(differ.is_empty(), "a child's household is the same on every contact: {differ:?}");
}

#[test]
fn about_a_tenth_of_children_come_back_with_the_same_record() {
    let mut records: HashMap<(String, Option<NaiveDate>), HashSet<String>> = HashMap::new();
    for case in &demo().cases {
        for child in &case.received().children {
            records
                .entry((child.name.clone(), child.date_of_birth))
                .or_default()
                .insert(serde_json::to_string(child).unwrap());
        }
    }
    // A child seen twice under the same name and date of birth is the same record, or that
    // record without its NHS number and reference.
    for r in records.values() {
        let with_ids: HashSet<String> = r
            .iter()
            .map(|json| serde_json::from_str::<Child>(json).unwrap())
            .filter(|c| c.nhs_number.is_some() || c.child_ref.is_some())
            .map(|c| serde_json::to_string(&c).unwrap())
            .collect();
        assert!(r.len() <= 2 && with_ids.len() <= 1, "{r:?}");
    }
    let s = &demo().summary;
    assert_between("re-contacted children", share(s.recontacted_children, records.len()), 6.0, 15.0);
}

/// Famous people (and fictional ones) whose names must never appear, beyond the
/// generator's own blocklist.
const ALSO_FAMOUS: &[&str] = &[
    "David Beckham",
    "Victoria Beckham",
    "Harry Potter",
    "Harry Kane",
    "Harry Styles",
    "Boris Johnson",
    "Keir Starmer",
    "Rishi Sunak",
    "Theresa May",
    "Gordon Brown",
    "Tony Blair",
    "Margaret Thatcher",
    "Elton John",
    "Tom Jones",
    "Emma Thompson",
    "David Attenborough",
    "Jamie Oliver",
    "Mary Berry",
    "Gary Lineker",
    "Lewis Hamilton",
    "Paul McCartney",
    "John Lennon",
    "George Michael",
    "Adele Adkins",
    "Ed Sheeran",
    "Lily Allen",
    "Daniel Craig",
    "Simon Cowell",
    "Oliver Cromwell",
    "Charles Dickens",
];

#[test]
fn every_name_is_synthetic_and_every_contact_detail_fictional() {
    let mut names: Vec<String> = Vec::new();
    for case in &demo().cases {
        let c = case.received();
        names.extend(c.children.iter().map(|ch| ch.name.clone()));
        names.push(c.referrer.name.clone());
        if let Some(phone) = &c.referrer.phone {
            assert!(phone.starts_with("01632 960") || phone.starts_with("07700 900"), "{phone}");
            assert_eq!(phone.len(), 12, "{phone}");
        }
        if let Some(email) = &c.referrer.email {
            assert!(email.ends_with("@example.org") || email.ends_with("@example.net"), "{email}");
        }
        for (_, e) in &case.events {
            match e {
                Event::DutyDiscussionHeld(d) => names.extend(d.participants.iter().map(|p| p.name.clone())),
                Event::HandoverAccepted(h) => names.extend(h.worker.clone()),
                _ => {}
            }
        }
    }
    assert!(names.len() > 5000);
    for name in &names {
        assert!(!FAMOUS_NAMES.contains(&name.as_str()) && !ALSO_FAMOUS.contains(&name.as_str()), "{name}");
        assert!(!name.trim().is_empty());
    }
}

#[test]
fn actors_have_sensible_roles_and_agencies() {
    let a = DemoActors::standard();
    assert_eq!((a.partner_police.role, a.partner_police.agency), (Role::Partner, Agency::Police));
    assert_eq!((a.partner_health.role, a.partner_health.agency), (Role::Partner, Agency::Health));
    assert_eq!((a.partner_education.role, a.partner_education.agency), (Role::Partner, Agency::Education));
    assert_eq!(a.practitioner.id, "demo-practitioner");
    assert_eq!(a.decision_maker.role, Role::DecisionMaker);
    assert_eq!(a.referrer.role, Role::Referrer);
    assert_eq!(a.auditor.role, Role::Auditor);
    assert_eq!(a.admin.role, Role::Admin);
    let ids: HashSet<&str> = a.all().iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids.len(), 12, "one token each");
    // One receiving-team user per team handovers go to, each of its own team only.
    for team in ASSESSMENT_TEAMS.iter().chain(&EARLY_HELP_TEAMS) {
        let actor = a.receiving_team(team).unwrap();
        assert_eq!((actor.role, actor.team.as_deref()), (Role::ReceivingTeam, Some(*team)));
    }
    assert_eq!(a.receiving_team("AT North").unwrap().id, "demo-at-north");
    assert!(a.all().iter().filter(|x| x.team.is_some()).all(|x| x.role == Role::ReceivingTeam));
}

// --- Recording, not accepted, handovers ---------------------------------------------

#[test]
fn events_are_recorded_in_order_minutes_to_hours_after_they_occur_and_late_ones_give_a_reason() {
    let policy = DuePolicy::default();
    let mut previous: Option<DateTime<Utc>> = None;
    let mut delays: Vec<TimeDelta> = Vec::new();
    let (mut late, mut next_morning, mut online) = (0, 0, Vec::new());
    let mut late_kinds: HashSet<EventType> = HashSet::new();
    for append in &demo().appends {
        let recorded: HashSet<Option<DateTime<Utc>>> = append.events.iter().map(|e| e.recorded_at).collect();
        assert_eq!(recorded.len(), 1, "an append's events are recorded together");
        for e in &append.events {
            let r = e.recorded_at.expect("every demo event has a recorded_at");
            assert!(previous.is_none_or(|p| p <= r), "recorded_at decreases at {}", e.event_id);
            previous = Some(r);
            assert!(e.occurred_at <= r && r <= now(), "{} occurred {} recorded {r}", e.event_id, e.occurred_at);
            if policy.recorded_late(e.occurred_at, r) {
                late += 1;
                late_kinds.insert(e.event_type);
                let reason = e.late_entry_reason.as_deref().unwrap_or_default();
                assert!(LATE_ENTRY_REASONS.contains(&reason), "{} late without a reason", e.event_id);
            } else {
                delays.push(r - e.occurred_at);
            }
            // Written up the next morning: out of hours, recorded on a later London day.
            let out_of_hours = !(8..18).contains(&chrono::Timelike::hour(&time::to_london(e.occurred_at)));
            next_morning += usize::from(out_of_hours && time::london_date(r) > time::london_date(e.occurred_at));
            if e.actor.role == Role::Referrer {
                online.push(r - e.occurred_at);
            }
        }
    }
    let events = demo().summary.events;
    assert_eq!(late, demo().summary.recorded_late);
    assert_between("recorded late", share(late, events), 0.5, 3.0);
    // Decisions and acceptances among them, so the figures' recorded_late has something.
    assert!(late_kinds.contains(&EventType::DecisionMade), "{late_kinds:?}");
    assert!(late_kinds.contains(&EventType::HandoverAccepted), "{late_kinds:?}");
    delays.sort();
    let median = delays[delays.len() / 2];
    assert!(median >= TimeDelta::minutes(3) && median <= TimeDelta::hours(3), "median delay {median}");
    let p90 = delays[delays.len() * 9 / 10];
    assert!(p90 >= TimeDelta::hours(1) && p90 <= TimeDelta::hours(24), "p90 delay {p90}");
    assert!(next_morning > 80, "{next_morning} written up the next morning");
    assert!(online.iter().all(|d| *d <= TimeDelta::minutes(2)), "online forms are recorded as submitted");
}

#[test]
fn a_few_contacts_are_not_accepted_with_a_reason_and_duplicates_name_the_earlier_contact() {
    let s = &demo().summary;
    let not_accepted = s.by_outcome.get(&Outcome::NotAccepted).copied().unwrap_or(0);
    assert_between("not accepted", share(not_accepted, s.decided), 5.0, 10.0);
    assert!(s.duplicates >= 20, "{s}");
    let received: HashMap<Ulid, &Case> = demo().cases.iter().map(|c| (demo_contact_id(c), c)).collect();
    let mut duplicates = 0;
    for case in &demo().cases {
        let Some((_, d)) = case.decisions().last().copied() else { continue };
        if d.outcome != Outcome::NotAccepted {
            assert!(d.duplicate_of.is_none());
            continue;
        }
        assert!(!d.rationale.trim().is_empty());
        if let Some(of) = d.duplicate_of {
            let earlier = received.get(&of).expect("duplicate_of names a demo contact");
            assert!(earlier.received_at() < case.received_at());
            assert!(case.received_at() - earlier.received_at() <= TimeDelta::days(5));
            assert_eq!(earlier.received().children, case.received().children, "about the same children");
            assert!(d.rationale.contains(&of.to_string()), "{}", d.rationale);
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, s.duplicates);
}

/// A case's contact id (the id its `contact_received` event's append names).
fn demo_contact_id(case: &Case) -> Ulid {
    let first = case.events[0].0.event_id;
    demo().appends.iter().find(|a| a.events[0].event_id == first).unwrap().contact_id
}

#[test]
fn receiving_teams_answer_their_own_handovers_mostly_in_time() {
    let policy = DuePolicy::default();
    let actors = DemoActors::standard();
    let (mut on_time, mut answered, mut by_team, mut with_evidence) = (0, 0, 0, 0);
    for case in &demo().cases {
        let urgent = case.received().immediate_risk
            || case.events.iter().any(|(_, e)| matches!(e, Event::TriageRated(t) if t.rating == Rating::Red));
        let mut sent: Option<(DateTime<Utc>, HandoverTo, Option<String>)> = None;
        for (new, e) in &case.events {
            match e {
                Event::HandoverSent(h) => sent = Some((new.occurred_at, h.to, h.team.clone())),
                Event::HandoverAccepted(_) | Event::HandoverReturned(_) => {
                    let (sent_at, to, team) = sent.clone().unwrap();
                    answered += 1;
                    on_time += usize::from(new.occurred_at <= policy.handover_due_by(sent_at, urgent));
                    if matches!(to, HandoverTo::AssessmentTeam | HandoverTo::EarlyHelp) {
                        let team = team.expect("a handover to the assessment team or early help names the team");
                        assert_eq!(Some(&new.actor), actors.receiving_team(&team), "{team}");
                        by_team += 1;
                    } else {
                        assert_eq!(new.actor, actors.practitioner);
                        if let Event::HandoverAccepted(a) = e {
                            assert!(a.evidence.as_deref().is_some_and(|t| !t.is_empty()));
                            with_evidence += 1;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert!(by_team > 500 && with_evidence > 200, "{by_team} by the teams, {with_evidence} with evidence");
    println!(
        "{on_time} of {answered} handovers answered in time; {by_team} by the teams, {with_evidence} with evidence"
    );
    assert_between("handovers answered in time", share(on_time, answered), 85.0, 97.0);
    let s = &demo().summary;
    assert!(s.overdue_handovers <= 8, "{s}");
}

#[test]
fn the_unborn_have_an_expected_date_of_birth_and_nobody_is_born_in_the_future() {
    let mut unborn = 0;
    for case in &demo().cases {
        let today = time::london_date(case.received_at());
        for child in &case.received().children {
            if child.name.starts_with("Unborn") {
                unborn += 1;
                assert_eq!(child.date_of_birth, None);
                assert_eq!(child.sex, Some(Sex::Unknown));
                assert!(child.expected_date_of_birth.is_some_and(|d| d > time::london_date(now())));
            } else {
                assert!(child.date_of_birth.is_some_and(|d| d <= today), "{}", child.name);
                assert_eq!(child.expected_date_of_birth, None);
            }
        }
    }
    assert!(unborn > 0);
}

#[test]
fn office_time_skips_nights_weekends_and_bank_holidays() {
    let cal = Calendar::default();
    // Friday 17:00 + 1 hour of office time: Monday 09:00 (GMT).
    assert_eq!(add_office_time(&cal, at("2026-01-16T17:00:00Z"), TimeDelta::hours(1)), at("2026-01-19T09:00:00Z"));
    // Saturday, zero office time: Monday's opening.
    assert_eq!(add_office_time(&cal, at("2026-01-17T10:00:00Z"), TimeDelta::zero()), at("2026-01-19T08:30:00Z"));
    // Thursday before Easter 17:00 BST + 1 hour: Tuesday 09:00 BST.
    assert_eq!(add_office_time(&cal, at("2026-04-02T16:00:00Z"), TimeDelta::hours(1)), at("2026-04-07T08:00:00Z"));
    assert_eq!(office_time_between(&cal, at("2026-01-16T17:00:00Z"), at("2026-01-19T09:00:00Z")), TimeDelta::hours(1));
    assert_eq!(office_time_between(&cal, at("2026-01-19T09:00:00Z"), at("2026-01-16T17:00:00Z")), TimeDelta::zero());
}

#[test]
fn the_summary_reads_well_in_the_banner() {
    let text = demo().summary.to_string();
    println!("{text}");
    assert!(text.contains(&format!("{} contacts", demo().summary.contacts)), "{text}");
    assert!(text.contains("assessment") && text.contains("phone"), "{text}");
}

/// The child index (the projection the service searches) over the demo: re-contacts are
/// linked into one child, and a name spelt another way is offered as a candidate but not
/// linked, so the search and the links have something to show.
#[test]
fn the_child_index_links_the_re_contacts_and_offers_a_name_spelt_otherwise() {
    use projections::children::{ChildIndex, Query};
    let mut index = ChildIndex::default();
    let ids: HashMap<Ulid, Ulid> = demo().appends.iter().map(|a| (a.events[0].event_id, a.contact_id)).collect();
    let mut mentions: Vec<(Ulid, usize, Child)> = Vec::new();
    for case in &demo().cases {
        let id = ids[&case.events[0].0.event_id];
        let c = case.received();
        index.receive(id, case.received_at(), &c.children, &c.adults);
        mentions.extend(c.children.iter().cloned().enumerate().map(|(i, ch)| (id, i, ch)));
    }
    // Children with several contacts, linked by the index.
    let mut contacts_of: HashMap<String, HashSet<Ulid>> = HashMap::new();
    for (contact, i, _) in &mentions {
        let child = index.child_id_of(*contact, *i).expect("every child has an id").to_owned();
        contacts_of.entry(child).or_default().insert(*contact);
    }
    let again = contacts_of.values().filter(|c| c.len() > 1).count();
    assert!(again > 100, "{again} children with several contacts");
    // A name spelt another way: the same date of birth, a word respelt as SPELLINGS has it.
    let mut offered = Vec::new();
    for (contact, i, child) in &mentions {
        let words: Vec<&str> = child.name.split(' ').collect();
        for (w, word) in words.iter().enumerate() {
            let Some(other) = respelt(word) else { continue };
            let mut respelt_name = words.clone();
            respelt_name[w] = other;
            let respelt_name = respelt_name.join(" ");
            let Some((o_contact, o_i, _)) =
                mentions.iter().find(|(_, _, c)| c.name == respelt_name && c.date_of_birth == child.date_of_birth)
            else {
                continue;
            };
            let (mine, theirs) =
                (index.child_id_of(*contact, *i).unwrap(), index.child_id_of(*o_contact, *o_i).unwrap());
            if mine == theirs {
                continue; // linked by an NHS number or reference, or spelt the same once folded (Zoë, Zoe)
            }
            let found = index.search(&Query {
                name: Some(child.name.clone()),
                date_of_birth: child.date_of_birth,
                ..Query::default()
            });
            if found.iter().any(|c| c.child_id == theirs) {
                offered.push((child.name.clone(), respelt_name));
            }
        }
    }
    assert!(!offered.is_empty(), "no spelling variant offered as a candidate");
    // A date of birth with day and month swapped: the child is offered too.
    let mut swapped = 0;
    for (contact, i, child) in &mentions {
        let Some(other_dob) = child.date_of_birth.and_then(swap_day_and_month) else { continue };
        let Some((o_contact, o_i, _)) =
            mentions.iter().find(|(_, _, c)| c.name == child.name && c.date_of_birth == Some(other_dob))
        else {
            continue;
        };
        let theirs = index.child_id_of(*o_contact, *o_i).unwrap();
        if index.child_id_of(*contact, *i) == Some(theirs) {
            continue;
        }
        let found = index.search(&Query {
            name: Some(child.name.clone()),
            date_of_birth: child.date_of_birth,
            ..Query::default()
        });
        swapped += usize::from(found.iter().any(|c| c.child_id == theirs));
    }
    assert!(swapped > 0, "no child with day and month of birth swapped offered as a candidate");
}

/// The contacts months before the window: a handful, all closed, each about children who come
/// back in the window; half of them by NHS number (linked by the child index, so the
/// re-contact's previous contacts count it), the others by name and date of birth only (linked
/// when spelt the same, else a possible match the duty team is shown).
#[test]
fn earlier_contacts_months_before_the_window_come_back_in_it() {
    use projections::children::ChildIndex;
    let start = now() - TimeDelta::days(WINDOW_DAYS);
    let ids: HashMap<Ulid, Ulid> = demo().appends.iter().map(|a| (a.events[0].event_id, a.contact_id)).collect();
    let id_of = |case: &Case| ids[&case.events[0].0.event_id];
    let earlier: Vec<&Case> = demo().cases.iter().filter(|c| c.received_at() < start).collect();
    assert_eq!(earlier.len(), EARLIER_CONTACTS);
    for case in &earlier {
        let days = (start - case.received_at()).num_days();
        assert!((90..=310).contains(&days), "{days} days before the window");
        assert!(case.events.iter().any(|(_, e)| matches!(e, Event::ContactClosed(_))), "closed");
        assert!(!case.decisions().is_empty(), "decided");
    }
    let mut index = ChildIndex::default();
    let mut previous: HashMap<Ulid, u32> = HashMap::new();
    for case in &demo().cases {
        let c = case.received();
        index.receive(id_of(case), case.received_at(), &c.children, &c.adults);
    }
    for case in &demo().cases {
        previous.insert(id_of(case), index.previous_contacts(id_of(case)));
    }
    let (mut linked, mut offered) = (0, 0);
    for case in &earlier {
        let child = &case.received().children[0];
        let back = demo()
            .cases
            .iter()
            .filter(|c| c.received_at() >= start)
            .find(|c| {
                c.received().children.iter().any(|ch| {
                    ch.date_of_birth == child.date_of_birth
                        && (ch.nhs_number.is_some() && ch.nhs_number == child.nhs_number
                            || projections::children::fold(&ch.name).split(' ').next_back()
                                == projections::children::fold(&child.name).split(' ').next_back()
                            || ch.name.split(' ').next() == child.name.split(' ').next())
                })
            })
            .unwrap_or_else(|| panic!("{} comes back in the window", child.name));
        let (then, again) = (id_of(case), id_of(back));
        if index.child_id_of(then, 0) == index.child_id_of(again, 0) || index.contacts_sharing(again).contains(&then) {
            linked += 1;
            assert!(previous[&again] >= 1, "the re-contact counts the earlier contact");
        } else {
            offered += 1;
            let mut touched = index.contacts_sharing(again);
            touched.extend(index.possible_neighbours(again));
            touched.push(again);
            index.refresh_possible(&touched);
            assert!(
                index.has_possible_match(again),
                "{:?} then, {:?} again: offered as a possible match",
                case.received().children,
                back.received().children
            );
        }
    }
    assert!(linked >= EARLIER_CONTACTS / 2 && offered >= 1, "{linked} linked, {offered} offered");
}

#[test]
fn duty_debriefs_are_one_per_working_day_valid_and_never_contacts() {
    let policy = DuePolicy::default();
    let debriefs = duty_debriefs(now(), 1, &DemoActors::standard(), &policy);
    let ids = |appends: &[AppendRequest]| -> Vec<(Ulid, Ulid)> {
        appends.iter().map(|a| (a.contact_id, a.events[0].event_id)).collect()
    };
    assert_eq!(ids(&debriefs), ids(&duty_debriefs(now(), 1, &DemoActors::standard(), &policy)), "reproducible");
    let days: Vec<NaiveDate> = debriefs
        .iter()
        .map(|a| {
            assert_eq!((a.events.len(), a.expected_version), (1, Some(0)));
            let e = &a.events[0];
            assert_eq!(e.event_type, EventType::DutyDebriefRecorded);
            assert!(e.recorded_at.is_some_and(|r| r >= e.occurred_at && r <= now()));
            let event = events::schema::decode(e.event_type, events::schema::CURRENT_SCHEMA_VERSION, &e.data).unwrap();
            assert!(events::validate::check_event(&event, now()).is_empty(), "{event:?}");
            let Event::DutyDebriefRecorded(d) = event else { panic!("not a debrief") };
            assert!(d.staff_on_duty <= d.staff_expected);
            d.date
        })
        .collect();
    let working: Vec<NaiveDate> = (0..=WINDOW_DAYS)
        .map(|n| time::london_date(now()) - TimeDelta::days(WINDOW_DAYS - n))
        .filter(|d| policy.calendar.is_working_day(*d) && london_at_secs(*d, (17 * 60 + 15) * 60) <= now())
        .collect();
    assert_eq!(days, working, "one per working day, by day");
    let contacts: HashSet<Ulid> =
        generate(now(), 1, &DemoActors::standard(), &policy).iter().map(|a| a.contact_id).collect();
    assert!(debriefs.iter().all(|a| !contacts.contains(&a.contact_id)), "streams of their own");
}

#[test]
fn consultations_are_valid_some_name_a_child_and_one_is_followed_by_a_later_contact() {
    let policy = DuePolicy::default();
    let actors = DemoActors::standard();
    let mut contacts = generate(now(), 1, &actors, &policy);
    let untouched = contacts.clone();
    let consultations = consultations(now(), 1, &actors, &policy, &mut contacts);
    let mut again = untouched.clone();
    let ids = |appends: &[AppendRequest]| -> Vec<Ulid> { appends.iter().map(|a| a.contact_id).collect() };
    assert_eq!(ids(&consultations), ids(&super::consultations(now(), 1, &actors, &policy, &mut again)), "reproducible");
    assert!(consultations.len() >= 8, "most working days of four weeks: {}", consultations.len());
    let mut naming = 0;
    for a in &consultations {
        assert_eq!((a.events.len(), a.expected_version), (1, Some(0)));
        let e = &a.events[0];
        assert_eq!(e.event_type, EventType::ConsultationRecorded);
        assert!(e.recorded_at.is_some_and(|r| r >= e.occurred_at && r <= now()));
        let event = events::schema::decode(e.event_type, events::schema::CURRENT_SCHEMA_VERSION, &e.data).unwrap();
        assert!(events::validate::check_event(&event, now()).is_empty(), "{event:?}");
        let Event::ConsultationRecorded(c) = event else { panic!("not a consultation") };
        naming += usize::from(!c.children.is_empty());
    }
    assert!(naming > 0 && naming < consultations.len(), "some name a child, most none: {naming}");
    let known: HashSet<Ulid> = untouched.iter().map(|a| a.contact_id).collect();
    assert!(consultations.iter().all(|a| !known.contains(&a.contact_id)), "streams of their own");

    let followers: Vec<(DateTime<Utc>, Ulid)> = contacts
        .iter()
        .filter_map(|a| a.events.first())
        .filter(|e| e.event_type == EventType::ContactReceived)
        .filter_map(|e| match Event::from_data(e.event_type, e.data.get()) {
            Ok(Event::ContactReceived(c)) => c.follows_consultation.map(|id| (e.occurred_at, id)),
            _ => None,
        })
        .collect();
    assert_eq!(followers.len(), 1, "one contact follows a consultation");
    let (received, followed) = followers[0];
    let taken =
        consultations.iter().find(|a| a.contact_id == followed).expect("it names one of them").events[0].occurred_at;
    assert!(taken < received, "the consultation came first");
    assert_eq!(contacts.len(), untouched.len(), "no contact added");
}

/// Whenever the demo is served, the duty queue shows what the board and the children's pages
/// are about: a contact whose child was seen before (previous contacts) and one whose child
/// has a possible match (a name spelt another way, the same date of birth). Checked at
/// moments across a fortnight, weekends and nights included, as the README's command would
/// be run at any of them.
#[test]
fn whenever_it_is_served_the_queue_has_a_previous_contact_and_a_possible_match() {
    use projections::model::ReadModel;
    let policy = DuePolicy::default();
    let mut misses = Vec::new();
    // Every 7 hours for 15 days: each hour of the day and each day of the week, in turn.
    for step in 0..(15 * 24 / 7) {
        let now = at("2026-12-03T00:30:00Z") + TimeDelta::hours(7 * step);
        let appends = generate(now, 1, &DemoActors::standard(), &policy);
        let mut model = ReadModel::default();
        for env in envelopes(&appends) {
            model.apply(&env).unwrap();
        }
        let queue = model.queue(&policy, now);
        let previous = queue.iter().filter(|i| i.previous_contacts > 0).count();
        let possible = queue.iter().filter(|i| i.possible_match == Some(true)).count();
        if previous == 0 || possible == 0 {
            misses.push(format!(
                "{now}: {} on the queue, {previous} seen before, {possible} possible matches",
                queue.len()
            ));
        }
    }
    assert!(misses.is_empty(), "{misses:#?}");
}
