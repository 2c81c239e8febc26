//! The demo county for `frontdoor serve --demo`: four weeks of a county's front door,
//! generated deterministically from a seed, so the duty board, the queue and the figures
//! have something true to life to show without a single real person in them.
//!
//! Everything is invented. The county is "Westshire"; people's names combine common first
//! names and surnames, minus a blocklist of famous combinations; NHS numbers come from the
//! 999 range, which is never issued to patients, with a valid modulus-11 check digit; phone
//! numbers come from Ofcom's drama ranges (01632 960xxx, 07700 900xxx); e-mail addresses are
//! at example.org and example.net.
//!
//! The shape follows DOMAIN.md: about 100 contacts a working day and a dozen on other days,
//! about half by phone, the CIN referral-source mix, about three contacts in ten becoming
//! referrals, most decided within one working day and some not.
//!
//! # How it is built
//!
//! 1. Plan every contact in receipt order: who, about whom (a tenth are re-contacts about
//!    children already seen, some of them one sibling alone, without the NHS number, with a
//!    name spelt another way or the day and month of birth swapped; every household with an
//!    address and the adults around the children), what the duty team will decide, and when it is triaged and
//!    decided (against [`DuePolicy::due_by`], so the timeliness figures come out as intended).
//!    Before them, [`EARLIER_CONTACTS`] contacts 3 to 10 months before the window, all decided
//!    and closed, each about children who come back once in the window, alternately with
//!    the same NHS number and only by name and date of birth, a name (at least one) spelt
//!    another way: the children's pages then show a history, the queue's previous contacts
//!    (12 months) count the first kind and mark the second as a possible match. Of each kind,
//!    every other one comes back in the window's last three days, so whenever the demo is
//!    served its queue shows both (a test checks this at moments across a fortnight). They draw from an
//!    rng of their own, so the window is what it would be without them but for those
//!    re-contacts.
//! 2. Keep only a handful of contacts overdue at `now`; the others that would be were
//!    decided late but before `now`.
//! 3. Write each contact's events in time order, as the service's rules require
//!    (`rules::decide`; every closed contact decided, `not_accepted` included; handovers to
//!    the assessment team or early help named and answered by that team's `receiving_team`
//!    user, others accepted by the practitioner with evidence; handovers answered within two
//!    hours for urgent contacts, one working day for others, a few late), and group them
//!    into appends as clients would write them.
//! 4. Record each append as a migration from an older system would: `recorded_at` (one per
//!    append) minutes to hours after its events, out-of-hours work often written up the
//!    next morning, a few appends written up more than the late-entry window later with a
//!    `late_entry_reason`; never decreasing within a contact. Drop what was not yet recorded
//!    at `now` (a prefix of a valid case history is valid), and order every append by when
//!    it was recorded, so `as-of --at` shows the queue as it stood on a past morning.
//!
//! # Layout
//!
//! - this file: the demo's users ([`DemoActors`]), [`generate`], the plan of each contact,
//!   office time and the random draws;
//! - `contact`: a contact's events written from its plan, recorded and grouped into appends;
//! - `people` and `words`: the invented people and the words of their records;
//! - [`summarise`] and [`envelopes`]: what the demo amounts to, counted from the projections'
//!   own fold ([`projections::contact::ContactState`]), never a fold of its own.
//!
//! That every demo event obeys the service's own rules (`rules::decide`,
//! `validate::check_event`) is tested on the service's side, in `tests/demo_rules.rs`: this
//! crate sits below the service and cannot call it.

mod contact;
mod people;
mod summary;
#[cfg(test)]
mod tests;
mod words;

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use eventlog::{Actor, AppendRequest, Event, EventType, NewEvent, Role};
use events::schema::{
    ActionPlanAgreed, Address, Adult, Agency, CallDirection, CallLogged, CallWith, Channel, ChecksRequested,
    ChecksReturned, Child, Consent, ConsentRecorded, ContactClosed, ContactReceived, DecisionChild, DecisionMade,
    DutyDiscussionHeld, HandoverAccepted, HandoverReturned, HandoverSent, HandoverTo, InformMethod, NoteAdded, Outcome,
    Participant, PlannedAction, PpnGrade, PrimaryNeed, Rating, Referrer, ReferrerInformed, Relationship, Revises, Sex,
    SourceCode, StrategyDiscussionHeld, StrategyOutcome, TriageRated, UpnUnknownReason,
};
use fastrand::Rng;
use projections::time::{self, Calendar, DuePolicy};
use ulid::Ulid;

use contact::*;
use people::*;
pub use summary::{DemoSummary, envelopes, summarise};
use words::*;

/// How far back the demo goes: four weeks ending at `now`.
pub const WINDOW_DAYS: i64 = 28;

/// Share of decided contacts by (final) outcome, in percent; sums to 100.
///
/// The brief's figures (assessment ~20, early help ~25, advice and NFA ~22, strategy ~5,
/// existing case ~8) add up to 80; the other 20 points are spread over the outcomes, so
/// about three contacts in ten become referrals (DOMAIN.md: one in five to Devon's 35%).
/// About one in fourteen is not accepted (Devon's "None / Rejected": duplicates, the wrong
/// service, withdrawn).
pub const OUTCOME_SHARES: [(Outcome, u32); 7] = [
    (Outcome::StrategyDiscussion, 7),
    (Outcome::Assessment, 24),
    (Outcome::EarlyHelp, 27),
    (Outcome::AdviceAndSignpost, 13),
    (Outcome::NoFurtherAction, 10),
    (Outcome::ExistingCase, 12),
    (Outcome::NotAccepted, 7),
];

/// The receiving teams of handovers to the `assessment_team` and to `early_help`: only a
/// `receiving_team` user of the named team accepts or returns them.
pub const ASSESSMENT_TEAMS: [&str; 2] = ["AT North", "AT South"];
pub const EARLY_HELP_TEAMS: [&str; 2] = ["Early Help East", "Early Help West"];

/// The demo's users: who appends what (the roles follow the REST contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoActors {
    /// Submits online forms.
    pub referrer: Actor,
    /// MASH officer / social worker: records phone, e-mail and police contacts, triages,
    /// calls, requests checks, informs referrers, hands over and closes.
    pub practitioner: Actor,
    /// Makes the duty team's decisions.
    pub decision_maker: Actor,
    /// Returns police checks.
    pub partner_police: Actor,
    /// Returns health checks.
    pub partner_health: Actor,
    /// Returns education checks.
    pub partner_education: Actor,
    /// Reads for quality assurance (appends nothing in the demo).
    pub auditor: Actor,
    /// Administers the service (appends nothing in the demo).
    pub admin: Actor,
    /// One `receiving_team` user per team in [`ASSESSMENT_TEAMS`] and [`EARLY_HELP_TEAMS`]:
    /// each accepts or returns the handovers sent to its team.
    pub receiving_teams: Vec<Actor>,
}

impl DemoActors {
    /// Every demo actor, one token each.
    pub fn all(&self) -> Vec<&Actor> {
        let mut all = vec![
            &self.referrer,
            &self.practitioner,
            &self.decision_maker,
            &self.partner_police,
            &self.partner_health,
            &self.partner_education,
            &self.auditor,
            &self.admin,
        ];
        all.extend(&self.receiving_teams);
        all
    }

    /// The receiving-team user of `team`, if the demo has one.
    pub fn receiving_team(&self, team: &str) -> Option<&Actor> {
        self.receiving_teams.iter().find(|a| a.team.as_deref() == Some(team))
    }

    /// One actor per role, with synthetic ids such as `demo-practitioner`.
    pub fn standard() -> DemoActors {
        fn actor(id: &str, role: Role, agency: Agency) -> Actor {
            Actor { id: id.to_owned(), role, agency, team: None }
        }
        DemoActors {
            referrer: actor("demo-referrer", Role::Referrer, Agency::Other),
            practitioner: actor("demo-practitioner", Role::Practitioner, Agency::ChildrensSocialCare),
            decision_maker: actor("demo-decision-maker", Role::DecisionMaker, Agency::ChildrensSocialCare),
            partner_police: actor("demo-police", Role::Partner, Agency::Police),
            partner_health: actor("demo-health", Role::Partner, Agency::Health),
            partner_education: actor("demo-education", Role::Partner, Agency::Education),
            auditor: actor("demo-auditor", Role::Auditor, Agency::ChildrensSocialCare),
            admin: actor("demo-admin", Role::Admin, Agency::ChildrensSocialCare),
            receiving_teams: ASSESSMENT_TEAMS
                .iter()
                .map(|t| (*t, Agency::ChildrensSocialCare))
                .chain(EARLY_HELP_TEAMS.iter().map(|t| (*t, Agency::EarlyHelp)))
                .map(|(team, agency)| {
                    let id = format!("demo-{}", team.to_lowercase().replace(' ', "-"));
                    Actor { team: Some(team.to_owned()), ..actor(&id, Role::ReceivingTeam, agency) }
                })
                .collect(),
        }
    }

    /// The partner who returns checks for `agency` (the practitioner records the others).
    fn partner_for(&self, agency: Agency) -> &Actor {
        match agency {
            Agency::Police => &self.partner_police,
            Agency::Health => &self.partner_health,
            Agency::Education => &self.partner_education,
            _ => &self.practitioner,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------

/// Every demo contact's events, as appends in the order they should be written.
///
/// Each [`AppendRequest`] carries one or more events of one contact, in `occurred_at`
/// order, with `expected_version` set to the contact's version before it (0 for the first,
/// which starts with `contact_received`). Every event has a `recorded_at` (the same for an
/// append's events; never before they occurred, never after `now`) and, when recorded more
/// than the policy's late-entry window after it occurred, a `late_entry_reason`. Appends are
/// ordered by `recorded_at`, so the log reads like four weeks of real writes; written in
/// this order, the log's `recorded_at` is the demo's own, never clamped.
/// The same `now`, `seed`, actors and policy always give the same appends, ids included.
pub fn generate(now: DateTime<Utc>, seed: u64, actors: &DemoActors, policy: &DuePolicy) -> Vec<AppendRequest> {
    let mut rng = Rng::with_seed(seed);
    let cal = &policy.calendar;

    let mut receipts = receipts(&mut rng, now, cal);
    receipts.sort_by_key(|r| r.at);

    // 1. Plan every contact, in receipt order so re-contacts follow the first contact.
    let mut children = Children {
        families: Vec::new(),
        households: Vec::new(),
        numbers: HashSet::new(),
        contacts: Vec::new(),
        known: HashSet::new(),
        next_ref: rng.u32(100_000..900_000),
    };
    // 1a. A handful of contacts months before the window, all closed, whose children come
    //     back in it: planned with an rng of their own and kept apart from the window's
    //     families, so the window draws what it would without them.
    let mut erng = Rng::with_seed(seed ^ 0x0EA7_11E2_C0DE_5EED);
    let earlier = earlier_receipts(&mut erng, now, cal);
    let mut earlier_drafts: Vec<Draft> = earlier
        .iter()
        .enumerate()
        .map(|(k, receipt)| {
            let crng = erng.fork();
            plan_contact(crng, receipt, policy, &mut children, Some(&Recontact::Earlier { spelt: k % 2 == 1 }))
        })
        .collect();
    let families = std::mem::take(&mut children.families);
    let households = std::mem::take(&mut children.households);
    children.contacts.clear();
    // Each comes back once in the window: alternately by NHS number and by name and date of
    // birth (the odd ones, whose names are spelt another way); of each pair, every other one
    // in the window's last three days, so the board shows both kinds whenever it is served,
    // the others at any time.
    let recent_from = receipts.partition_point(|r| r.at < now - TimeDelta::days(3));
    let mut comebacks: std::collections::HashMap<usize, Comeback> = std::collections::HashMap::new();
    for (k, (family, adults)) in families.into_iter().zip(households).enumerate() {
        if receipts.is_empty() {
            break;
        }
        let pick_from = if k % 4 < 2 && recent_from < receipts.len() { recent_from } else { 0 };
        let mut at = erng.usize(pick_from..receipts.len());
        while comebacks.contains_key(&at) {
            at = (at + 1) % receipts.len();
        }
        comebacks.insert(at, Comeback { children: family, adults, by_nhs_number: k % 2 == 0 });
    }
    let mut drafts: Vec<Draft> = receipts
        .iter()
        .enumerate()
        .map(|(i, receipt)| {
            let crng = rng.fork();
            let again = comebacks.remove(&i).map(Recontact::Comeback);
            plan_contact(crng, receipt, policy, &mut children, again.as_ref())
        })
        .collect();
    earlier_drafts.append(&mut drafts);
    let mut drafts = earlier_drafts;

    // 2. Only a handful overdue at `now`.
    limit_overdue(&mut rng, &mut drafts, now, cal);

    // 3. Events, cut at `now`, grouped into appends.
    let mut appends: Vec<AppendRequest> =
        drafts.into_iter().flat_map(|draft| write_contact(draft, actors, policy, now)).collect();
    // In the order they were recorded (stable: a contact's own appends stay in order).
    appends.sort_by_key(|a| a.events.first().and_then(|e| e.recorded_at));
    appends
}

/// Westshire's locality hubs, by the districts of the invented postcode area `WQ` the demo's
/// addresses are in (`WQ1` to `WQ19`): Northmoor WQ1-WQ6, Central WQ7-WQ12, Southvale
/// WQ13-WQ16. WQ17 to WQ19 are in no locality, so the split's `other` shows something too
/// (and `unknown` holds the households first made known by an anonymous caller or an
/// acquaintance, who gave no postcode).
pub fn localities() -> projections::locality::Localities {
    let districts = |range: std::ops::RangeInclusive<u32>| range.map(|n| format!("WQ{n}")).collect();
    projections::locality::Localities::new([
        ("Northmoor".to_owned(), districts(1..=6)),
        ("Central".to_owned(), districts(7..=12)),
        ("Southvale".to_owned(), districts(13..=16)),
    ])
    .expect("the demo's localities are well formed")
}

/// The duty team's end-of-day debriefs over the same four weeks: one per working day up to
/// `now`, held at 17:15 London time by the decision maker and recorded then. Each is a stream of
/// its own (`duty_debrief_recorded`), never a contact; merge them with [`generate`]'s appends
/// by `recorded_at`. The same arguments always give the same appends, ids included.
pub fn duty_debriefs(now: DateTime<Utc>, seed: u64, actors: &DemoActors, policy: &DuePolicy) -> Vec<AppendRequest> {
    use events::schema::DutyDebriefRecorded;
    const GAINS: [&str; 4] = [
        "Police checks back within the hour for the immediate-risk contacts.",
        "Health visitor joined the discussion of the two babies and shared the birth history.",
        "School safeguarding leads answered every call before 15:00.",
        "Early help coordinator took three families straight from the duty discussion.",
    ];
    let mut rng = Rng::with_seed(seed ^ 0xDEB1EF);
    let cal = &policy.calendar;
    let mut out = Vec::new();
    let mut day = time::london_date(now - TimeDelta::days(WINDOW_DAYS));
    while day <= time::london_date(now) {
        let at = london_at_secs(day, (17 * 60 + 15) * 60);
        if cal.is_working_day(day) && at <= now {
            let expected = 6;
            let on_duty = expected - rng.u8(0..=2);
            let team = if chance(&mut rng, 50) { "MASH duty A" } else { "MASH duty B" };
            let data = DutyDebriefRecorded {
                date: day,
                team: team.to_owned(),
                staff_on_duty: Some(on_duty),
                staff_expected: Some(expected),
                recorded: Some(format!(
                    "{} contacts taken, {} decided, {} handed over.",
                    rng.u32(80..=120),
                    rng.u32(60..=100),
                    rng.u32(5..=20)
                )),
                multi_agency_value: Some(GAINS[rng.usize(0..GAINS.len())].to_owned()),
                notes: (on_duty < expected).then(|| format!("{} of {expected} on duty: the queue ran late.", on_duty)),
            };
            let mut event = NewEvent::new(&Event::DutyDebriefRecorded(data), at, actors.decision_maker.clone());
            let millis = u64::try_from(at.timestamp_millis()).expect("after 1970");
            event.event_id = Ulid::from_parts(millis, rng.u128(..));
            event.recorded_at = Some(at);
            out.push(AppendRequest {
                contact_id: Ulid::from_parts(millis, rng.u128(..)),
                events: vec![event],
                expected_version: Some(0),
                idempotency: None,
            });
        }
        day = day.succ_opt().expect("date in range");
    }
    out
}

/// Professional consultations over the same four weeks: on most working days a professional
/// calls the duty line for advice, taken by the practitioner in the late morning; every third
/// names the child (drawn like a contact's), the others none. Each is a stream of its own
/// (`consultation_recorded`), never a contact. The first contact of `contacts` received after the
/// first consultation that advised a referral names it in `follows_consultation`. Merge the
/// result with [`generate`]'s appends by `recorded_at`. The same arguments always give the same
/// appends, ids included.
pub fn consultations(
    now: DateTime<Utc>,
    seed: u64,
    actors: &DemoActors,
    policy: &DuePolicy,
    contacts: &mut [AppendRequest],
) -> Vec<AppendRequest> {
    use events::schema::{Agency, ConsultationRecorded};
    const CALLS: [(Agency, SourceCode, &str); 5] = [
        (
            Agency::Education,
            SourceCode::School,
            "Advised the school to speak to the parents first and to call back if the marks recur.",
        ),
        (
            Agency::Health,
            SourceCode::HealthVisitor,
            "No referral needed yet: shared the early help offer for the health visitor to discuss with the family.",
        ),
        (Agency::Police, SourceCode::Police, "Talked through the threshold: a referral if the child discloses again."),
        (Agency::Housing, SourceCode::Housing, "Signposted the housing officer to the family support line."),
        (Agency::Health, SourceCode::Gp, "Advised the GP to make a referral today, with the consent of the mother."),
    ];
    const REFERRAL_ADVISED: usize = 4;
    let mut rng = Rng::with_seed(seed ^ 0xC0_4517);
    let cal = &policy.calendar;
    let mut out: Vec<(usize, AppendRequest)> = Vec::new();
    let mut day = time::london_date(now - TimeDelta::days(WINDOW_DAYS));
    while day <= time::london_date(now) {
        let at = london_at_secs(day, (10 * 60 + 30) * 60 + rng.u32(0..=240) * 60);
        if cal.is_working_day(day) && at <= now && chance(&mut rng, 70) {
            let kind = out.len() % CALLS.len();
            let (agency, source, advice) = CALLS[kind];
            let children =
                if out.len() % 3 == 0 { draw_family(&mut rng, day).into_iter().take(1).collect() } else { Vec::new() };
            let data = ConsultationRecorded {
                agency,
                source,
                advice: advice.to_owned(),
                children,
                concern_categories: Vec::new(),
            };
            let mut event = NewEvent::new(&Event::ConsultationRecorded(data), at, actors.practitioner.clone());
            let millis = u64::try_from(at.timestamp_millis()).expect("after 1970");
            event.event_id = Ulid::from_parts(millis, rng.u128(..));
            event.recorded_at = Some(at);
            let request = AppendRequest {
                contact_id: Ulid::from_parts(millis, rng.u128(..)),
                events: vec![event],
                expected_version: Some(0),
                idempotency: None,
            };
            out.push((kind, request));
        }
        day = day.succ_opt().expect("date in range");
    }
    if let Some((_, advised)) = out.iter().find(|(kind, _)| *kind == REFERRAL_ADVISED) {
        let taken = advised.events[0].occurred_at;
        let next = contacts
            .iter_mut()
            .filter_map(|a| a.events.first_mut())
            .filter(|e| e.event_type == EventType::ContactReceived && e.occurred_at > taken)
            .min_by_key(|e| e.occurred_at);
        if let Some(first) = next
            && let Ok(Event::ContactReceived(mut received)) = Event::from_data(first.event_type, first.data.get())
        {
            received.follows_consultation = Some(advised.contact_id);
            first.data = Event::ContactReceived(received).data_json();
        }
    }
    out.into_iter().map(|(_, request)| request).collect()
}

/// A contact's arrival: when, from whom, by which channel.
#[derive(Debug, Clone, Copy)]
struct Receipt {
    at: DateTime<Utc>,
    source: SourceCode,
    channel: Channel,
}

/// How many earlier contacts, months before the window, whose children come back in it.
pub const EARLIER_CONTACTS: usize = 8;

/// Contacts received 3 to 10 months before the window (working days, in office hours), about
/// children contacted again in it: with their own rng, so the window's draws do not move.
fn earlier_receipts(rng: &mut Rng, now: DateTime<Utc>, cal: &Calendar) -> Vec<Receipt> {
    let start = time::london_date(now - TimeDelta::days(WINDOW_DAYS));
    let mut out = Vec::with_capacity(EARLIER_CONTACTS);
    while out.len() < EARLIER_CONTACTS {
        let mut day = start - Days::new(rng.u64(91..=304));
        while !cal.is_working_day(day) {
            day = day.pred_opt().expect("date in range");
        }
        let source = weighted(rng, &SOURCES);
        let channel = channel_for(rng, source);
        let at = london_at_secs(day, rng.u32(9 * 3600..17 * 3600));
        out.push(Receipt { at, source, channel });
    }
    out.sort_by_key(|r| r.at);
    out
}

/// A child of an earlier contact come back in the window: `by_nhs_number` recorded with the
/// same identifiers, otherwise only by name and date of birth, a name spelt another way where
/// one has another spelling.
#[derive(Debug, Clone)]
struct Comeback {
    children: Vec<Child>,
    adults: Vec<Adult>,
    by_nhs_number: bool,
}

/// Contacts received in the four weeks ending at `now`, unordered.
fn receipts(rng: &mut Rng, now: DateTime<Utc>, cal: &Calendar) -> Vec<Receipt> {
    let start = now - TimeDelta::days(WINDOW_DAYS);
    let mut out = Vec::new();
    let mut day = time::london_date(start);
    let last = time::london_date(now);
    while day <= last {
        let working_day = cal.is_working_day(day);
        let count = if working_day {
            // Mondays are busiest, Fridays quietest (Devon's contacts by weekday).
            let base: u32 = match day.weekday() {
                Weekday::Mon => 110,
                Weekday::Tue => 104,
                Weekday::Wed => 100,
                Weekday::Thu => 97,
                _ => 90,
            };
            base + rng.u32(0..=24) - 12
        } else {
            rng.u32(10..=15)
        };
        for _ in 0..count {
            let source = if !working_day && chance(rng, 50) { SourceCode::Police } else { weighted(rng, &SOURCES) };
            let channel = channel_for(rng, source);
            let at = london_at_secs(day, receipt_secs(rng, channel, working_day));
            if at > start && at <= now {
                out.push(Receipt { at, source, channel });
            }
        }
        day = day.succ_opt().expect("date in range");
    }
    out
}

/// CIN referral sources, in tenths of a percent.
const SOURCES: [(SourceCode, u32); 22] = [
    (SourceCode::FamilyMember, 50),
    (SourceCode::Acquaintance, 30),
    (SourceCode::SelfReferral, 15),
    (SourceCode::OtherIndividual, 25),
    (SourceCode::School, 210),
    (SourceCode::EducationServices, 30),
    (SourceCode::Gp, 40),
    (SourceCode::HealthVisitor, 30),
    (SourceCode::SchoolNurse, 15),
    (SourceCode::OtherPrimaryHealth, 15),
    (SourceCode::AccidentAndEmergency, 35),
    (SourceCode::OtherHealth, 25),
    (SourceCode::Housing, 25),
    (SourceCode::LaSocialCare, 25),
    (SourceCode::OtherInternalLa, 30),
    (SourceCode::ExternalLa, 20),
    (SourceCode::EarlyHelp, 30),
    (SourceCode::Police, 255),
    (SourceCode::OtherLegalAgency, 30),
    (SourceCode::Other, 35),
    (SourceCode::Anonymous, 20),
    (SourceCode::Unknown, 10),
];

fn channel_for(rng: &mut Rng, source: SourceCode) -> Channel {
    use Channel::{Email, InPerson, OnlineForm, Other, Phone, PoliceNotification};
    use SourceCode as S;
    let table: &[(Channel, u32)] = match source {
        S::Police => &[(PoliceNotification, 63), (Phone, 25), (Email, 12)],
        S::FamilyMember | S::Acquaintance | S::SelfReferral | S::OtherIndividual => {
            &[(Phone, 65), (OnlineForm, 18), (InPerson, 12), (Email, 5)]
        }
        S::School | S::EducationServices => &[(Phone, 60), (OnlineForm, 22), (Email, 16), (Other, 2)],
        S::Gp
        | S::HealthVisitor
        | S::SchoolNurse
        | S::OtherPrimaryHealth
        | S::AccidentAndEmergency
        | S::OtherHealth => &[(Phone, 60), (OnlineForm, 15), (Email, 22), (Other, 3)],
        S::LaSocialCare | S::OtherInternalLa | S::ExternalLa | S::EarlyHelp => {
            &[(Phone, 50), (Email, 30), (OnlineForm, 12), (InPerson, 4), (Other, 4)]
        }
        S::Housing => &[(Phone, 50), (Email, 30), (OnlineForm, 20)],
        S::OtherLegalAgency => &[(Phone, 45), (Email, 45), (Other, 10)],
        S::Other => &[(Phone, 55), (OnlineForm, 25), (Email, 15), (InPerson, 5)],
        S::Anonymous => &[(Phone, 80), (OnlineForm, 20)],
        S::Unknown => &[(Phone, 40), (Other, 40), (Email, 20)],
    };
    weighted(rng, table)
}

const DAY_SECS: u32 = 24 * 3600;

/// Seconds after London midnight a contact arrives: office hours mostly, with an evening
/// and night tail; police notifications at any hour, evenings and nights most.
fn receipt_secs(rng: &mut Rng, channel: Channel, working_day: bool) -> u32 {
    let h = |hours: u32, minutes: u32| (hours * 60 + minutes) * 60;
    if channel == Channel::PoliceNotification {
        return if chance(rng, 50) { rng.u32(0..DAY_SECS) } else { (h(17, 0) + rng.u32(0..h(10, 0))) % DAY_SECS };
    }
    if working_day {
        match rng.u32(0..100) {
            // Office hours, a uniform base plus a midday hump.
            0..40 => rng.u32(h(8, 30)..h(17, 30)),
            40..82 => h(8, 30) + (rng.u32(0..h(9, 0)) + rng.u32(0..h(9, 0))) / 2,
            82..94 => rng.u32(h(17, 30)..h(22, 30)),
            _ => (h(22, 30) + rng.u32(0..h(10, 0))) % DAY_SECS,
        }
    } else if chance(rng, 70) {
        rng.u32(h(9, 0)..h(21, 0))
    } else {
        (h(21, 0) + rng.u32(0..h(12, 0))) % DAY_SECS
    }
}

/// A contact planned in full before any event is written, with the rng that writes it.
#[derive(Debug)]
struct Draft {
    rng: Rng,
    plan: Plan,
}

#[derive(Debug)]
struct Plan {
    id: Ulid,
    received_at: DateTime<Utc>,
    contact: ContactReceived,
    /// The referrer submitted it online; otherwise a practitioner recorded it.
    online: bool,
    first_outcome: Outcome,
    outcome: Outcome,
    need: PrimaryNeed,
    rating: Rating,
    urgent: bool,
    due_by: DateTime<Utc>,
    triage_at: DateTime<Utc>,
    decision_at: DateTime<Utc>,
    /// Why a contact is not accepted, when that is its (final) outcome.
    not_accepted: Option<NotAccepted>,
    /// Its events are written up within a minute (so a decision made just before `now`,
    /// after the contact was due, is in the log at `now`).
    prompt: bool,
    /// One of the contacts months before the window: always closed.
    earlier: bool,
}

/// Devon's "None / Rejected".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotAccepted {
    /// About the same children and incident as an earlier contact, received days before.
    DuplicateOf(Ulid),
    WrongService,
    Withdrawn,
}

/// The children seen so far, so re-contacts reuse a child's record and a new child is
/// never confused with an earlier one (same name and date of birth).
struct Children {
    families: Vec<Vec<Child>>,
    /// The adults around each of those contacts' children (parallel to `families`).
    households: Vec<Vec<Adult>>,
    /// Every contact planned so far and when it was received (parallel to `families`).
    contacts: Vec<(Ulid, DateTime<Utc>)>,
    known: HashSet<(String, Option<NaiveDate>)>,
    /// Every NHS number given so far.
    numbers: HashSet<String>,
    next_ref: u32,
}

/// What a contact is planned as, besides a contact of the window.
#[derive(Debug, Clone)]
enum Recontact {
    /// One of the earlier contacts: a new household, decided and closed; `spelt`: one whose
    /// children come back with a name spelt another way, so a child's name has another
    /// spelling that sounds the same.
    Earlier { spelt: bool },
    /// A window contact about the children of an earlier contact.
    Comeback(Comeback),
}

fn plan_contact(
    mut rng: Rng,
    receipt: &Receipt,
    policy: &DuePolicy,
    seen: &mut Children,
    recontact: Option<&Recontact>,
) -> Draft {
    let earlier = matches!(recontact, Some(Recontact::Earlier { .. }));
    let spelt = matches!(recontact, Some(Recontact::Earlier { spelt: true }));
    let cal = &policy.calendar;
    let received_at = receipt.at;
    let id = Ulid::from_parts(millis(received_at), rng.u128(..));

    let outcome = weighted(&mut rng, &OUTCOME_SHARES);
    // About 4% of decisions are revised: the first decision differed.
    let first_outcome = if rng.u32(0..1000) < 40 { revised_from(&mut rng, outcome) } else { outcome };
    let immediate_risk = chance(
        &mut rng,
        match first_outcome {
            Outcome::StrategyDiscussion => 60,
            Outcome::Assessment => 12,
            Outcome::ExistingCase => 6,
            Outcome::EarlyHelp => 2,
            Outcome::AdviceAndSignpost | Outcome::NoFurtherAction | Outcome::NotAccepted => 0,
        },
    );
    let rating = rating_for(&mut rng, first_outcome, immediate_risk);
    let need = need_for(&mut rng, first_outcome);

    // Not accepted: a duplicate of a contact received in the last few days (about the same
    // children), the wrong service, or withdrawn.
    let mut not_accepted = (outcome == Outcome::NotAccepted).then(|| {
        let recent: Vec<usize> = (0..seen.contacts.len())
            .rev()
            .take_while(|&i| received_at - seen.contacts[i].1 <= TimeDelta::days(5))
            .filter(|&i| received_at - seen.contacts[i].1 >= TimeDelta::minutes(30))
            .collect();
        match rng.u32(0..100) {
            0..45 if !recent.is_empty() => NotAccepted::DuplicateOf(seen.contacts[*pick(&mut rng, &recent)].0),
            0..70 => NotAccepted::WrongService,
            _ => NotAccepted::Withdrawn,
        }
    });

    // A comeback is about its earlier contact's children, never a duplicate of a recent one.
    if let Some(Recontact::Comeback(_)) = recontact
        && let Some(NotAccepted::DuplicateOf(_)) = not_accepted
    {
        not_accepted = Some(NotAccepted::WrongService);
    }

    // A tenth of contacts are about children already known from an earlier contact.
    let today = time::london_date(received_at);
    let comeback = match recontact {
        Some(Recontact::Comeback(back)) => Some(back),
        _ => None,
    };
    let (children, household) = if let Some(back) = comeback {
        (came_back(&mut rng, back), back.adults.clone())
    } else {
        match (not_accepted, seen.families.len()) {
            (Some(NotAccepted::DuplicateOf(of)), _) => {
                let i = seen.contacts.iter().position(|(id, _)| *id == of).expect("a planned contact");
                (seen.families[i].clone(), seen.households[i].clone())
            }
            (_, n) if n > 0 && !earlier && chance(&mut rng, 10) => {
                let i = rng.usize(..n);
                let family = seen.families[i].clone();
                (recorded_again(&mut rng, &family, today, seen), seen.households[i].clone())
            }
            _ => {
                // A new household: the children's home, and the adults around them.
                let mut family = new_family(&mut rng, today, seen);
                // An earlier contact's children are born, and under 17 for the months until
                // the window and through it.
                let young =
                    |c: &Child| c.date_of_birth.is_some_and(|d| today.years_since(d).is_some_and(|age| age < 16));
                while earlier && !family.iter().any(|c| young(c) && (!spelt || respelling(c).is_some())) {
                    family = new_family(&mut rng, today, seen);
                }
                if earlier {
                    family.retain(young);
                }
                let mut home = address(&mut rng);
                // An anonymous caller or an acquaintance (a neighbour) knows the street, not
                // the postcode: the household is known without one (the figures' `unknown`
                // locality), until and unless the council records it.
                if matches!(receipt.source, SourceCode::Anonymous | SourceCode::Acquaintance) {
                    home.postcode = None;
                }
                for child in &mut family {
                    child.address = Some(home.clone());
                }
                let adults = household_adults(&mut rng, &family, &home, today);
                (family, adults)
            }
        }
    };
    // Most contacts name the adults around the children; some (a short police notification,
    // an anonymous call) none.
    let adults = if chance(&mut rng, 80) { household.clone() } else { Vec::new() };
    seen.households.push(household);
    seen.families.push(children.clone());
    seen.contacts.push((id, received_at));

    let referrer = referrer_for(&mut rng, receipt.source, &children, time::london_date(received_at));
    let concerns = concerns_for(&mut rng, need, receipt.channel, &children);
    let (consent, consent_override_reason) = consent_at_receipt(&mut rng, immediate_risk);
    let ppn_grade = (receipt.channel == Channel::PoliceNotification).then(|| {
        if immediate_risk || first_outcome == Outcome::StrategyDiscussion {
            PpnGrade::High
        } else if first_outcome.is_referral() {
            weighted(&mut rng, &[(PpnGrade::High, 40), (PpnGrade::Medium, 60)])
        } else {
            weighted(&mut rng, &[(PpnGrade::Medium, 45), (PpnGrade::Low, 55)])
        }
    });
    let contact = ContactReceived {
        channel: receipt.channel,
        source: receipt.source,
        referrer,
        children,
        concerns,
        immediate_risk,
        consent,
        consent_override_reason,
        ppn_grade,
        adults,
        concern_categories: Vec::new(),
        follows_consultation: None,
    };

    let urgent = immediate_risk || rating == Rating::Red;
    let due_by = policy.due_by(received_at, urgent);
    let triage_at = if urgent {
        received_at + minutes(&mut rng, 3, 35)
    } else {
        add_office_time(cal, received_at, minutes(&mut rng, 5, 75))
    };
    let decision_at = if urgent {
        if chance(&mut rng, 88) {
            let room = due_by - triage_at - TimeDelta::minutes(12);
            if room > TimeDelta::zero() {
                triage_at + TimeDelta::minutes(10) + part_of(room, skewed_permille(&mut rng))
            } else {
                triage_at + minutes(&mut rng, 5, 20)
            }
        } else {
            due_by + minutes(&mut rng, 5, 180)
        }
    } else if chance(&mut rng, 85) {
        let available = office_time_between(cal, triage_at, due_by) - TimeDelta::minutes(1);
        if available >= TimeDelta::minutes(20) {
            let span = available - TimeDelta::minutes(5);
            add_office_time(cal, triage_at, TimeDelta::minutes(5) + part_of(span, skewed_permille(&mut rng)))
        } else {
            triage_at + minutes(&mut rng, 5, 20)
        }
    } else {
        let late = if chance(&mut rng, 70) { minutes(&mut rng, 10, 300) } else { minutes(&mut rng, 300, 1600) };
        add_office_time(cal, due_by, late)
    };
    // However the policy is configured, a decision follows its triage.
    let decision_at = decision_at.max(triage_at + TimeDelta::minutes(5));

    let plan = Plan {
        id,
        received_at,
        contact,
        online: receipt.channel == Channel::OnlineForm,
        first_outcome,
        outcome,
        need,
        rating,
        urgent,
        due_by,
        triage_at,
        decision_at,
        not_accepted,
        prompt: false,
        earlier,
    };
    Draft { rng, plan }
}

/// The children of an earlier contact as a window contact records them: with the same
/// identifiers, or without any, a name spelt another way where one has another spelling that
/// the child index offers as sounding the same (else as it was, so the name and date of birth
/// link it).
fn came_back(rng: &mut Rng, back: &Comeback) -> Vec<Child> {
    let mut children = back.children.clone();
    if back.by_nhs_number {
        return children;
    }
    // Most names come back spelt another way where one has another spelling, and at least
    // one does (the earlier contact was planned with such a child), so the re-contact is a
    // possible match the duty team is shown, not linked.
    let respellings: Vec<Option<String>> = children.iter().map(respelling).collect();
    let mut chosen: Vec<bool> = respellings.iter().map(|r| r.is_some() && chance(rng, 80)).collect();
    if !chosen.iter().any(|&c| c)
        && let Some(first) = respellings.iter().position(Option::is_some)
    {
        chosen[first] = true;
    }
    for ((child, name), chosen) in children.iter_mut().zip(respellings).zip(chosen) {
        child.nhs_number = None;
        child.child_ref = None;
        child.upn = None;
        if let Some(name) = name.filter(|_| chosen) {
            child.name = name;
        }
    }
    children
}

/// `child`'s name with one word (the last it can) spelt another way that the child index
/// offers as sounding the same, if it has one.
fn respelling(child: &Child) -> Option<String> {
    let words: Vec<&str> = child.name.split(' ').collect();
    (0..words.len()).rev().find_map(|at| {
        let mut name = words.clone();
        name[at] = respelt(words[at])?;
        let name = name.join(" ");
        sounds_the_same(child, &name).then_some(name)
    })
}

/// Whether the child index offers `child` to a search for `name` and its date of birth as a
/// name that sounds the same.
fn sounds_the_same(child: &Child, name: &str) -> bool {
    use projections::children::{ChildIndex, Query};
    let mut index = ChildIndex::default();
    index.receive(Ulid::nil(), DateTime::<Utc>::UNIX_EPOCH, std::slice::from_ref(child), &[]);
    let query = Query { name: Some(name.to_owned()), date_of_birth: child.date_of_birth, ..Query::default() };
    index.search(&query).iter().any(|c| c.matched_on.contains(&"name_phonetic"))
}

/// What a revised decision to `outcome` most plausibly replaced.
fn revised_from(rng: &mut Rng, outcome: Outcome) -> Outcome {
    use Outcome as O;
    match outcome {
        O::StrategyDiscussion => O::Assessment,
        O::Assessment => *pick(rng, &[O::EarlyHelp, O::StrategyDiscussion, O::AdviceAndSignpost]),
        O::EarlyHelp => *pick(rng, &[O::AdviceAndSignpost, O::NoFurtherAction, O::Assessment]),
        O::AdviceAndSignpost => *pick(rng, &[O::NoFurtherAction, O::EarlyHelp]),
        O::NoFurtherAction => *pick(rng, &[O::AdviceAndSignpost, O::EarlyHelp]),
        O::ExistingCase => *pick(rng, &[O::Assessment, O::EarlyHelp]),
        O::NotAccepted => *pick(rng, &[O::NoFurtherAction, O::AdviceAndSignpost]),
    }
}

fn rating_for(rng: &mut Rng, outcome: Outcome, immediate_risk: bool) -> Rating {
    use Rating::{Amber, Blue, Green, Red};
    if immediate_risk {
        return weighted(rng, &[(Red, 90), (Amber, 10)]);
    }
    let table: &[(Rating, u32)] = match outcome {
        Outcome::StrategyDiscussion => &[(Red, 55), (Amber, 45)],
        Outcome::Assessment => &[(Red, 8), (Amber, 62), (Green, 30)],
        Outcome::ExistingCase => &[(Red, 3), (Amber, 40), (Green, 47), (Blue, 10)],
        Outcome::EarlyHelp => &[(Amber, 15), (Green, 75), (Blue, 10)],
        Outcome::AdviceAndSignpost => &[(Green, 45), (Blue, 55)],
        Outcome::NoFurtherAction | Outcome::NotAccepted => &[(Green, 30), (Blue, 70)],
    };
    weighted(rng, table)
}

fn need_for(rng: &mut Rng, outcome: Outcome) -> PrimaryNeed {
    use PrimaryNeed::{N0, N1, N2, N3, N4, N5, N6, N7, N8, N9};
    let table: &[(PrimaryNeed, u32)] = match outcome {
        Outcome::StrategyDiscussion | Outcome::Assessment => {
            &[(N1, 65), (N2, 2), (N3, 6), (N4, 5), (N5, 8), (N6, 10), (N7, 1), (N8, 3)]
        }
        Outcome::EarlyHelp => &[(N1, 20), (N2, 8), (N3, 12), (N4, 20), (N5, 18), (N6, 10), (N7, 7), (N8, 4), (N0, 1)],
        Outcome::ExistingCase => &[(N1, 45), (N2, 8), (N3, 8), (N4, 10), (N5, 12), (N6, 12), (N8, 5)],
        Outcome::AdviceAndSignpost => {
            &[(N1, 10), (N2, 10), (N3, 10), (N4, 20), (N5, 15), (N6, 10), (N7, 10), (N9, 10), (N0, 5)]
        }
        Outcome::NoFurtherAction | Outcome::NotAccepted => {
            &[(N1, 15), (N4, 10), (N5, 15), (N6, 5), (N7, 5), (N9, 35), (N0, 15)]
        }
    };
    weighted(rng, table)
}

fn level_of_need(rng: &mut Rng, outcome: Outcome) -> u8 {
    match outcome {
        Outcome::StrategyDiscussion | Outcome::Assessment => 4,
        Outcome::EarlyHelp => weighted(rng, &[(2, 60), (3, 40)]),
        Outcome::ExistingCase => weighted(rng, &[(3, 50), (4, 50)]),
        Outcome::AdviceAndSignpost => weighted(rng, &[(1, 60), (2, 40)]),
        Outcome::NoFurtherAction | Outcome::NotAccepted => weighted(rng, &[(1, 75), (2, 25)]),
    }
}

fn consent_at_receipt(rng: &mut Rng, immediate_risk: bool) -> (Consent, Option<String>) {
    let table: &[(Consent, u32)] = if immediate_risk {
        &[(Consent::Overridden, 25), (Consent::Unknown, 45), (Consent::Given, 20), (Consent::NotGiven, 10)]
    } else {
        &[(Consent::Given, 50), (Consent::Unknown, 38), (Consent::NotGiven, 9), (Consent::Overridden, 3)]
    };
    let consent = weighted(rng, table);
    let reason = (consent == Consent::Overridden).then(|| (*pick(rng, &OVERRIDE_REASONS)).to_owned());
    (consent, reason)
}

/// Keeps a handful (6-9) of contacts undecided past their due time at `now`; the others
/// that would have been are decided late, but before `now`.
fn limit_overdue(rng: &mut Rng, drafts: &mut [Draft], now: DateTime<Utc>, cal: &Calendar) {
    let mut overdue: Vec<usize> = drafts
        .iter()
        .enumerate()
        .filter(|(_, d)| d.plan.decision_at > now && d.plan.due_by < now)
        .map(|(i, _)| i)
        .collect();
    rng.shuffle(&mut overdue);
    let keep = rng.usize(6..=9);
    if overdue.len() < keep {
        // Too few ran late by chance: leave some from the last few days waiting.
        let mut spare: Vec<usize> = drafts
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                let p = &d.plan;
                !p.urgent && p.due_by < now && p.decision_at <= now && now - p.received_at <= TimeDelta::days(5)
            })
            .map(|(i, _)| i)
            .collect();
        rng.shuffle(&mut spare);
        for &i in spare.iter().take(keep - overdue.len()) {
            let Draft { rng, plan } = &mut drafts[i];
            plan.decision_at = add_office_time(cal, now, minutes(rng, 30, 600));
        }
    }
    for &i in overdue.iter().skip(keep) {
        let Draft { rng, plan } = &mut drafts[i];
        let from = plan.due_by.max(plan.triage_at) + TimeDelta::minutes(1);
        let to = now - TimeDelta::minutes(1);
        if to <= from {
            continue;
        }
        let permille = rng.i64(0..1000);
        let office = office_time_between(cal, from, to);
        plan.decision_at = if !plan.urgent && office >= TimeDelta::minutes(10) {
            add_office_time(cal, from, part_of(office, permille))
        } else {
            from + part_of(to - from, permille)
        };
    }
    // A decision made in the last hours of contacts already due is written up at once, so
    // that no more than those kept above are overdue at `now`.
    for Draft { plan, .. } in drafts.iter_mut() {
        let decided_lately = plan.decision_at <= now && now - plan.decision_at < TimeDelta::hours(8);
        plan.prompt = decided_lately && plan.due_by < now;
    }
}

// ---------------------------------------------------------------------------------------
// Office time (London working days, 08:30-17:30)
// ---------------------------------------------------------------------------------------

const OFFICE_OPENS: u32 = (8 * 60 + 30) * 60;
const OFFICE_CLOSES: u32 = (17 * 60 + 30) * 60;

/// The instant London clocks show `secs` after midnight on `date`.
fn london_at_secs(date: NaiveDate, secs: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).expect("seconds within a day");
    time::from_london(date.and_time(time))
}

/// Office hours on `date`, if it is a working day.
fn office_hours(cal: &Calendar, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    cal.is_working_day(date).then(|| (london_at_secs(date, OFFICE_OPENS), london_at_secs(date, OFFICE_CLOSES)))
}

/// Office time between two instants (zero if `end` is not after `start`).
fn office_time_between(cal: &Calendar, start: DateTime<Utc>, end: DateTime<Utc>) -> TimeDelta {
    let mut total = TimeDelta::zero();
    let mut day = time::london_date(start);
    while start < end && day <= time::london_date(end) {
        if let Some((opens, closes)) = office_hours(cal, day) {
            let (from, to) = (start.max(opens), end.min(closes));
            if to > from {
                total += to - from;
            }
        }
        day = day.succ_opt().expect("date in range");
    }
    total
}

/// The instant `amount` of office time after `start`: work that waits for the office to
/// open, as the duty team's does (an amount of zero outside office hours gives the next
/// opening).
fn add_office_time(cal: &Calendar, start: DateTime<Utc>, amount: TimeDelta) -> DateTime<Utc> {
    let mut remaining = amount;
    let mut day = time::london_date(start);
    loop {
        if let Some((opens, closes)) = office_hours(cal, day) {
            let from = start.max(opens);
            if from < closes {
                if remaining <= closes - from {
                    return from + remaining;
                }
                remaining -= closes - from;
            }
        }
        day = day.succ_opt().expect("date in range");
    }
}

/// `lo..hi` minutes later: in real time when urgent, otherwise in office time.
fn later(cal: &Calendar, rng: &mut Rng, at: DateTime<Utc>, urgent: bool, lo: i64, hi: i64) -> DateTime<Utc> {
    let delay = minutes(rng, lo, hi);
    if urgent { at + delay } else { add_office_time(cal, at, delay) }
}

// ---------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------

fn millis(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

fn chance(rng: &mut Rng, percent: u32) -> bool {
    rng.u32(0..100) < percent
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn weighted<T: Copy>(rng: &mut Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut roll = rng.u32(0..total);
    for &(value, weight) in table {
        if roll < weight {
            return value;
        }
        roll -= weight;
    }
    table[table.len() - 1].0
}

/// Uniformly between `lo` and `hi` minutes, to the second.
fn minutes(rng: &mut Rng, lo: i64, hi: i64) -> TimeDelta {
    TimeDelta::seconds(rng.i64(lo * 60..=hi * 60))
}

/// `permille` thousandths of `span`.
fn part_of(span: TimeDelta, permille: i64) -> TimeDelta {
    TimeDelta::milliseconds(span.num_milliseconds() / 1000 * permille)
}

/// A fraction in thousandths leaning early (mean about 0.42): most work is done well
/// before the deadline.
fn skewed_permille(rng: &mut Rng) -> i64 {
    let u = rng.i64(0..1000);
    (u + u * u / 1000) / 2
}
