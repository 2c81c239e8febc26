//! Synthetic demo data for `frontdoor serve --demo`: four weeks of a county's front door,
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
//!    children already seen), what the duty team will decide, and when it is triaged and
//!    decided (against [`DuePolicy::due_by`], so the timeliness figures come out as intended).
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use eventlog::{Actor, AppendRequest, Event, EventType, NewEvent, Role};
use events::schema::{
    ActionPlanAgreed, Agency, CallDirection, CallLogged, CallWith, Channel, ChecksRequested, ChecksReturned, Child,
    Consent, ConsentRecorded, ContactClosed, ContactReceived, DecisionMade, DutyDiscussionHeld, HandoverAccepted,
    HandoverReturned, HandoverSent, HandoverTo, InformMethod, NoteAdded, Outcome, Participant, PlannedAction, PpnGrade,
    PrimaryNeed, Rating, Referrer, ReferrerInformed, Revises, Sex, SourceCode, TriageRated,
};
use fastrand::Rng;
use projections::time::{self, Calendar, DuePolicy};
use ulid::Ulid;

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
        contacts: Vec::new(),
        known: HashSet::new(),
        next_ref: rng.u32(100_000..900_000),
    };
    let mut drafts: Vec<Draft> = receipts
        .iter()
        .map(|receipt| {
            let crng = rng.fork();
            plan_contact(crng, receipt, policy, &mut children)
        })
        .collect();

    // 2. Only a handful overdue at `now`.
    limit_overdue(&mut rng, &mut drafts, now, cal);

    // 3. Events, cut at `now`, grouped into appends.
    let mut appends: Vec<AppendRequest> =
        drafts.into_iter().flat_map(|draft| write_contact(draft, actors, policy, now)).collect();
    // In the order they were recorded (stable: a contact's own appends stay in order).
    appends.sort_by_key(|a| a.events.first().and_then(|e| e.recorded_at));
    appends
}

/// A contact's arrival: when, from whom, by which channel.
#[derive(Debug, Clone, Copy)]
struct Receipt {
    at: DateTime<Utc>,
    source: SourceCode,
    channel: Channel,
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
    /// Every contact planned so far and when it was received (parallel to `families`).
    contacts: Vec<(Ulid, DateTime<Utc>)>,
    known: HashSet<(String, Option<NaiveDate>)>,
    next_ref: u32,
}

fn plan_contact(mut rng: Rng, receipt: &Receipt, policy: &DuePolicy, seen: &mut Children) -> Draft {
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
    let not_accepted = (outcome == Outcome::NotAccepted).then(|| {
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

    // A tenth of contacts are about children already known from an earlier contact.
    let children = match (not_accepted, seen.families.len()) {
        (Some(NotAccepted::DuplicateOf(of)), _) => {
            let i = seen.contacts.iter().position(|(id, _)| *id == of).expect("a planned contact");
            seen.families[i].clone()
        }
        (_, n) if n > 0 && chance(&mut rng, 10) => seen.families[rng.usize(..n)].clone(),
        _ => new_family(&mut rng, time::london_date(received_at), seen),
    };
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
    };
    Draft { rng, plan }
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
// A contact's events
// ---------------------------------------------------------------------------------------

/// Collects a contact's events; ids are derived from the contact's rng, so they are
/// deterministic too.
struct Timeline<'a> {
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
struct Window {
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

fn write_contact(draft: Draft, actors: &DemoActors, policy: &DuePolicy, now: DateTime<Utc>) -> Vec<AppendRequest> {
    let cal = &policy.calendar;
    let Draft { mut rng, plan: draft } = draft;
    let rng = &mut rng;
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
    let decision = |rng: &mut Rng, outcome: Outcome, revises: Option<Revises>| {
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
            },
            _ => DecisionMade {
                outcome,
                rationale: pick(rng, rationales(outcome)).replace("{c}", &child),
                level_of_need: Some(level_of_need(rng, outcome)),
                primary_need: Some(draft.need),
                revises,
                duplicate_of: None,
            },
        };
        Event::DecisionMade(event)
    };
    let first = decision(rng, draft.first_outcome, None);
    let first_id = tl.push(rng, &first, draft.decision_at, &actors.decision_maker);
    let mut decided_at = draft.decision_at;
    if draft.first_outcome != draft.outcome {
        // Never dated before the decision it revises.
        decided_at = later(cal, rng, decided_at, draft.urgent, 30, 360);
        let reason = (*pick(rng, &REVISION_REASONS)).to_owned();
        let revised = decision(rng, draft.outcome, Some(Revises { event_id: first_id, reason }));
        tl.push(rng, &revised, decided_at, &actors.decision_maker);
    }

    after_decision(&draft, decided_at, rng, &mut tl, policy, &child);

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
const LATE_ENTRY_PERCENT: u32 = 4;

/// Why an append was recorded more than the late-entry window after it occurred.
const LATE_ENTRY_REASONS: [&str; 4] = [
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
fn record(appends: &mut [AppendRequest], rng: &mut Rng, policy: &DuePolicy, plan: &Plan, now: DateTime<Utc>) {
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
fn record_delay(rng: &mut Rng, cal: &Calendar, at: DateTime<Utc>, role: Role, soon: bool) -> TimeDelta {
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
fn before_decision(d: &Plan, rng: &mut Rng, tl: &mut Timeline<'_>, cal: &Calendar, child: &str) {
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
fn after_decision(
    draft: &Plan,
    decided_at: DateTime<Utc>,
    rng: &mut Rng,
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
        tl.push(rng, &Event::ActionPlanAgreed(ActionPlanAgreed { actions, referrer_role }), at, practitioner);
        last = last.max(at);
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
    let left_open = handover_to.is_none()
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

/// When a handover is due to be accepted: two hours after it was sent for a red-rated or
/// immediate-risk contact, any day; otherwise the policy's working days.
pub fn handover_due_by(policy: &DuePolicy, sent_at: DateTime<Utc>, urgent: bool) -> DateTime<Utc> {
    let handover = DuePolicy {
        working_days: policy.handover_working_days,
        urgent_hours: policy.urgent_handover_hours,
        ..policy.clone()
    };
    handover.due_by(sent_at, urgent)
}

/// When the receiving team answers a handover sent at `sent_at`: mostly well within the
/// time allowed (a return sooner than an acceptance), about one in twelve late.
fn answer_at(rng: &mut Rng, policy: &DuePolicy, sent_at: DateTime<Utc>, urgent: bool, returned: bool) -> DateTime<Utc> {
    let cal = &policy.calendar;
    let due = handover_due_by(policy, sent_at, urgent);
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
fn group_into_appends(contact_id: Ulid, events: Vec<NewEvent>, rng: &mut Rng) -> Vec<AppendRequest> {
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

// ---------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------

/// What the demo data amounts to: printed in the startup banner and checked by tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DemoSummary {
    pub contacts: usize,
    /// Children named, counted per contact (a child in two contacts counts twice).
    pub children: usize,
    /// Distinct children named in more than one contact (re-contacts).
    pub recontacted_children: usize,
    pub events: usize,
    pub appends: usize,
    pub immediate_risk: usize,
    /// Not closed at `now`.
    pub open: usize,
    /// Open without a decision.
    pub undecided: usize,
    /// Undecided and past their due time (`DuePolicy::due_by`) at `now`.
    pub overdue: usize,
    /// Decided, with a handover sent and not accepted, or returned and not sent again.
    pub awaiting_handover: usize,
    /// Handovers sent, not yet accepted or returned, and past their acceptance due time at
    /// `now` ([`handover_due_by`]: two hours for red-rated or immediate-risk contacts, else
    /// the policy's working days).
    pub overdue_handovers: usize,
    /// Events recorded more than the policy's late-entry window after they occurred (each
    /// with a `late_entry_reason`).
    pub recorded_late: usize,
    /// Not-accepted decisions naming the earlier contact they duplicate.
    pub duplicates: usize,
    pub closed: usize,
    pub decided: usize,
    /// First decision by the policy's due time (by default one working day, or two hours
    /// for red-rated or immediate-risk contacts).
    pub decided_on_time: usize,
    /// First decision within one working day of receipt.
    pub decided_within_one_working_day: usize,
    /// Contacts whose decision was revised.
    pub revised: usize,
    /// Decided contacts whose (latest) outcome is strategy discussion or assessment.
    pub referrals: usize,
    pub by_channel: BTreeMap<Channel, usize>,
    /// Decided contacts by their latest outcome.
    pub by_outcome: BTreeMap<Outcome, usize>,
}

impl DemoSummary {
    /// `count` as a percentage of `total` (0 when there is nothing to divide).
    pub fn percent(count: usize, total: usize) -> f64 {
        if total == 0 { 0.0 } else { 100.0 * count as f64 / total as f64 }
    }
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: usize, of: usize| Self::percent(n, of);
        writeln!(
            f,
            "{} contacts ({} immediate risk; {} children, {} seen again), {} events in {} appends",
            self.contacts, self.immediate_risk, self.children, self.recontacted_children, self.events, self.appends
        )?;
        writeln!(
            f,
            "open {}: undecided {} (overdue {}), awaiting handover {} (overdue {}); closed {}",
            self.open, self.undecided, self.overdue, self.awaiting_handover, self.overdue_handovers, self.closed
        )?;
        writeln!(
            f,
            "decided {}: on time {:.0}%, within one working day {:.0}%, revised {}, referrals {} ({:.0}%)",
            self.decided,
            pct(self.decided_on_time, self.decided),
            pct(self.decided_within_one_working_day, self.decided),
            self.revised,
            self.referrals,
            pct(self.referrals, self.decided)
        )?;
        let outcomes: Vec<String> =
            self.by_outcome.iter().map(|(o, n)| format!("{o} {n} ({:.0}%)", pct(*n, self.decided))).collect();
        writeln!(f, "outcomes: {} ({} duplicates)", outcomes.join(", "), self.duplicates)?;
        writeln!(
            f,
            "recorded late (with a reason): {} events ({:.1}%)",
            self.recorded_late,
            pct(self.recorded_late, self.events)
        )?;
        let channels: Vec<String> =
            self.by_channel.iter().map(|(c, n)| format!("{c} {n} ({:.0}%)", pct(*n, self.contacts))).collect();
        write!(f, "channels: {}", channels.join(", "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandoverState {
    None,
    Pending,
    Returned,
    Accepted,
}

/// A contact folded just far enough for the summary.
#[derive(Debug)]
struct Folded {
    received_at: DateTime<Utc>,
    immediate_risk: bool,
    rating: Option<Rating>,
    first_decision_at: Option<DateTime<Utc>>,
    outcome: Option<Outcome>,
    revised: bool,
    handover: HandoverState,
    handover_sent_at: Option<DateTime<Utc>>,
    closed: bool,
}

/// Counts what `generate` produced, as the duty board would see it at `now`.
///
/// # Panics
/// If an event's data does not decode, or a contact's first event is not `contact_received`
/// (neither happens with [`generate`]'s output).
pub fn summarise(appends: &[AppendRequest], now: DateTime<Utc>, policy: &DuePolicy) -> DemoSummary {
    let mut summary = DemoSummary { appends: appends.len(), ..DemoSummary::default() };
    let mut contacts: HashMap<Ulid, Folded> = HashMap::new();
    let mut seen_children: HashMap<(String, Option<NaiveDate>), usize> = HashMap::new();
    for append in appends {
        for new in &append.events {
            summary.events += 1;
            let recorded_at = new.recorded_at.unwrap_or(new.occurred_at);
            summary.recorded_late += usize::from(policy.recorded_late(new.occurred_at, recorded_at));
            let event = Event::from_data(new.event_type, new.data.get()).expect("demo events decode");
            if let Event::ContactReceived(c) = &event {
                summary.contacts += 1;
                summary.children += c.children.len();
                *summary.by_channel.entry(c.channel).or_default() += 1;
                for child in &c.children {
                    *seen_children.entry((child.name.clone(), child.date_of_birth)).or_default() += 1;
                }
                contacts.insert(
                    append.contact_id,
                    Folded {
                        received_at: new.occurred_at,
                        immediate_risk: c.immediate_risk,
                        rating: None,
                        first_decision_at: None,
                        outcome: None,
                        revised: false,
                        handover: HandoverState::None,
                        handover_sent_at: None,
                        closed: false,
                    },
                );
                continue;
            }
            let contact = contacts.get_mut(&append.contact_id).expect("contact_received comes first");
            match event {
                Event::TriageRated(t) => contact.rating = Some(t.rating),
                Event::DecisionMade(d) => {
                    contact.revised |= d.revises.is_some();
                    contact.first_decision_at.get_or_insert(new.occurred_at);
                    contact.outcome = Some(d.outcome);
                    summary.duplicates += usize::from(d.duplicate_of.is_some());
                }
                Event::HandoverSent(_) => {
                    contact.handover = HandoverState::Pending;
                    contact.handover_sent_at = Some(new.occurred_at);
                }
                Event::HandoverReturned(_) => contact.handover = HandoverState::Returned,
                Event::HandoverAccepted(_) => contact.handover = HandoverState::Accepted,
                Event::ContactClosed(_) => contact.closed = true,
                _ => {}
            }
        }
    }
    summary.recontacted_children = seen_children.values().filter(|&&n| n > 1).count();
    // Working Together's yardstick, whatever the council's own policy says.
    let one_day = DuePolicy { working_days: 1, ..policy.clone() };
    for contact in contacts.values() {
        let urgent = contact.immediate_risk || contact.rating == Some(Rating::Red);
        summary.immediate_risk += usize::from(contact.immediate_risk);
        summary.closed += usize::from(contact.closed);
        summary.open += usize::from(!contact.closed);
        summary.revised += usize::from(contact.revised);
        match (contact.first_decision_at, contact.outcome) {
            (Some(decided_at), Some(outcome)) => {
                summary.decided += 1;
                *summary.by_outcome.entry(outcome).or_default() += 1;
                summary.referrals += usize::from(outcome.is_referral());
                let due = policy.due_by(contact.received_at, urgent);
                summary.decided_on_time += usize::from(decided_at <= due);
                let one_working_day = one_day.due_by(contact.received_at, false);
                summary.decided_within_one_working_day += usize::from(decided_at <= one_working_day);
                let waiting = matches!(contact.handover, HandoverState::Pending | HandoverState::Returned);
                summary.awaiting_handover += usize::from(!contact.closed && waiting);
                if let (HandoverState::Pending, Some(sent_at)) = (contact.handover, contact.handover_sent_at) {
                    summary.overdue_handovers +=
                        usize::from(policy.is_overdue(handover_due_by(policy, sent_at, urgent), now));
                }
            }
            _ if !contact.closed => {
                summary.undecided += 1;
                let due = policy.due_by(contact.received_at, urgent);
                summary.overdue += usize::from(policy.is_overdue(due, now));
            }
            _ => {}
        }
    }
    summary
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

// ---------------------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------------------

const ADULT_NAMES: &[&str] = &[
    "Sarah",
    "James",
    "Rachel",
    "Mark",
    "Helen",
    "Paul",
    "Claire",
    "Andrew",
    "Laura",
    "Daniel",
    "Joanne",
    "Richard",
    "Nicola",
    "Stephen",
    "Kirsty",
    "Gareth",
    "Fiona",
    "Martin",
    "Lisa",
    "Simon",
    "Amanda",
    "Neil",
    "Karen",
    "Darren",
    "Louise",
    "Hannah",
    "Jason",
    "Emma",
    "Gemma",
    "Matthew",
    "Jenny",
    "Adam",
    "Natalie",
    "Stuart",
    "Vicky",
    "Owen",
    "Sian",
    "Rebecca",
    "Imran",
    "Priya",
    "Aisha",
    "Tomasz",
    "Agnieszka",
    "Kwame",
    "Nadia",
    "Ravi",
    "Bethan",
    "Callum",
];
const GIRL_NAMES: &[&str] = &[
    "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Florence", "Poppy", "Evie", "Ella", "Sophie", "Grace",
    "Ruby", "Millie", "Layla", "Maisie", "Daisy", "Harper", "Zara", "Maja", "Hollie", "Chloe", "Erin", "Jessica",
    "Amber", "Megan", "Leah", "Skye", "Aaliyah",
];
const BOY_NAMES: &[&str] = &[
    "Oliver", "Noah", "George", "Leo", "Arthur", "Oscar", "Theo", "Jack", "Charlie", "Freddie", "Alfie", "Archie",
    "Henry", "Finley", "Jacob", "Reuben", "Tyler", "Kai", "Riley", "Logan", "Mason", "Ethan", "Lewis", "Jayden",
    "Kian", "Ibrahim", "Dylan", "Connor", "Rhys", "Zain",
];
const SURNAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "Harris",
    "Martin",
    "Cooper",
    "Hughes",
    "Edwards",
    "Turner",
    "Parker",
    "Collins",
    "Bennett",
    "Marshall",
    "Ward",
    "Morris",
    "Hill",
    "Price",
    "Barker",
    "Foster",
    "Lloyd",
    "Kowalski",
    "Mensah",
    "Ahmed",
    "Begum",
    "Nowak",
    "Ellis",
    "Hussain",
    "Chapman",
    "Pearce",
    "Shaw",
    "Gibson",
    "Fletcher",
    "Dixon",
    "Pritchard",
    "Rowe",
    "Holt",
    "Kerr",
    "Nash",
    "Sutton",
    "Mills",
];

/// Combinations of the lists above that name someone famous, or a child from a published
/// serious case review: never generated.
const FAMOUS_NAMES: &[&str] = &[
    "Adam Johnson",
    "Alfie Evans",
    "Arthur Hughes",
    "Callum Wilson",
    "Charlie Brown",
    "Charlie Cooper",
    "Daniel Jones",
    "Darren Fletcher",
    "Emma Roberts",
    "Emma Thompson",
    "Gemma Collins",
    "George Martin",
    "Grace Jones",
    "Henry Cooper",
    "Jack Wilson",
    "James Martin",
    "James Taylor",
    "Joanne Harris",
    "Mark Foster",
    "Mark Hughes",
    "Mark Williams",
    "Mark Wright",
    "Martin Lewis",
    "Matthew Wright",
    "Nadia Hussain",
    "Nicola Walker",
    "Noah Taylor",
    "Owen Jones",
    "Owen Wilson",
    "Paul Robinson",
    "Paul Smith",
    "Paul Walker",
    "Richard Harris",
    "Richard Wilson",
    "Stuart Hall",
    "Stuart Pearce",
    "Tyler Roberts",
];

/// "First Surname", with the surname given or drawn, never a famous combination.
fn person_name(rng: &mut Rng, first_names: &[&str], surname: Option<&str>) -> String {
    loop {
        let first = pick(rng, first_names);
        let surname = surname.unwrap_or_else(|| *pick(rng, SURNAMES));
        let name = format!("{first} {surname}");
        if !FAMOUS_NAMES.contains(&name.as_str()) {
            return name;
        }
    }
}

fn surname_of(name: &str) -> &str {
    name.rsplit(' ').next().unwrap_or(name)
}

/// How concerns and summaries refer to the (first) child.
fn first_name_of(children: &[Child]) -> String {
    match children.first() {
        Some(child) if child.date_of_birth.is_none() && child.name.starts_with("Unborn") => {
            "the unborn baby".to_owned()
        }
        Some(child) => child.name.split(' ').next().unwrap_or("the child").to_owned(),
        None => "the child".to_owned(),
    }
}

/// 1-3 siblings sharing a surname, aged 0-17 on `today`, none of them already known;
/// now and then an unborn baby.
fn new_family(rng: &mut Rng, today: NaiveDate, seen: &mut Children) -> Vec<Child> {
    loop {
        let mut family = draw_family(rng, today);
        let key = |c: &Child| (c.name.clone(), c.date_of_birth);
        if family.iter().all(|c| !seen.known.contains(&key(c))) {
            for child in &mut family {
                seen.known.insert(key(child));
                // The unborn always get a reference: there is nothing else to find them by.
                if child.date_of_birth.is_none() || chance(rng, 55) {
                    seen.next_ref += 1;
                    child.child_ref = Some(format!("WS{:07}", seen.next_ref));
                }
            }
            return family;
        }
    }
}

fn draw_family(rng: &mut Rng, today: NaiveDate) -> Vec<Child> {
    let surname = *pick(rng, SURNAMES);
    let count = weighted(rng, &[(1, 60), (2, 27), (3, 13)]);
    let mut children: Vec<Child> = Vec::with_capacity(count);
    if count == 1 && rng.u32(0..1000) < 15 {
        return vec![Child {
            name: format!("Unborn baby {surname}"),
            date_of_birth: None,
            sex: Some(Sex::Unknown),
            child_ref: None,
            nhs_number: None,
            upn: None,
            ethnicity: None,
            // Due at least five weeks on, so no re-contact in the four weeks comes after it.
            expected_date_of_birth: today.checked_add_days(Days::new(rng.u64(35..200))),
        }];
    }
    let ethnicity = chance(rng, 70).then(|| weighted(rng, &ETHNICITIES).to_owned());
    while children.len() < count {
        let age = weighted(rng, &AGES);
        // At least a month short of the next birthday, so a re-contact within the four
        // weeks never turns 18; newborns from three days old.
        let offset = if age == 0 { rng.u64(3..335) } else { rng.u64(30..335) };
        let days = age * 365 + age / 4 + offset;
        let date_of_birth = today.checked_sub_days(Days::new(days));
        let sex = weighted(rng, &[(Sex::Female, 49), (Sex::Male, 49), (Sex::Unknown, 2)]);
        let names = match sex {
            Sex::Female => GIRL_NAMES,
            Sex::Male => BOY_NAMES,
            Sex::Unknown => {
                if chance(rng, 50) {
                    GIRL_NAMES
                } else {
                    BOY_NAMES
                }
            }
        };
        let name = person_name(rng, names, Some(surname));
        if children.iter().any(|c| c.name == name) {
            continue;
        }
        children.push(Child {
            name,
            date_of_birth,
            sex: Some(sex),
            child_ref: None,
            nhs_number: chance(rng, 65).then(|| nhs_number(rng)),
            upn: None,
            ethnicity: ethnicity.clone(),
            expected_date_of_birth: None,
        });
    }
    children
}

/// Age in years, weighted: more babies and teenagers, as front doors see.
const AGES: [(u64, u32); 18] = [
    (0, 90),
    (1, 60),
    (2, 50),
    (3, 50),
    (4, 50),
    (5, 55),
    (6, 55),
    (7, 55),
    (8, 55),
    (9, 55),
    (10, 55),
    (11, 55),
    (12, 62),
    (13, 66),
    (14, 68),
    (15, 66),
    (16, 55),
    (17, 45),
];

/// CIN census ethnicity codes, roughly a shire county's mix.
const ETHNICITIES: [(&str, u32); 12] = [
    ("WBRI", 780),
    ("WOTH", 60),
    ("WIRI", 5),
    ("MWBC", 25),
    ("MWAS", 15),
    ("MOTH", 20),
    ("AIND", 15),
    ("APKN", 15),
    ("ABAN", 5),
    ("BAFR", 20),
    ("CHNE", 5),
    ("NOBT", 35),
];

/// A valid NHS number from the 999 range (never issued to patients): nine digits, then
/// the modulus-11 check digit (weights 10 to 2; 11 gives 0; 10 is invalid, so redraw).
fn nhs_number(rng: &mut Rng) -> String {
    loop {
        let mut digits = [9u32; 10];
        for d in &mut digits[3..9] {
            *d = rng.u32(0..10);
        }
        let sum: u32 = digits[..9].iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        digits[9] = match 11 - sum % 11 {
            11 => 0,
            10 => continue,
            check => check,
        };
        return digits.iter().map(|&d| char::from_digit(d, 10).expect("a digit")).collect();
    }
}

const TOWNS: &[&str] = &[
    "Ashcombe",
    "Bramford",
    "Culverton",
    "Dunmere",
    "Fallowfield",
    "Harrowby",
    "Kingsmoor",
    "Langford Mill",
    "Marlow Heath",
    "Northam Vale",
    "Oakhurst",
    "Stowbury",
    "Thornwick",
    "Upton Fields",
    "Westerleigh",
    "Yarrow Bay",
];
const AREAS: &[&str] = &["North", "South", "East", "West", "Central"];

fn referrer_for(rng: &mut Rng, source: SourceCode, children: &[Child], today: NaiveDate) -> Referrer {
    use SourceCode as S;
    let town = *pick(rng, TOWNS);
    let family_surname = children.first().map_or("Smith", |c| surname_of(&c.name)).to_owned();
    let org = |rng: &mut Rng, options: &[&str]| Some(pick(rng, options).replace("{town}", town));
    let (organisation, roles): (Option<String>, &[&str]) = match source {
        S::FamilyMember => {
            (None, &["Mother", "Father", "Grandmother", "Grandfather", "Aunt", "Uncle", "Stepfather", "Kinship carer"])
        }
        S::Acquaintance => (None, &["Neighbour", "Childminder", "Family friend"]),
        S::SelfReferral => (None, &["Young person", "Parent"]),
        S::OtherIndividual => (None, &["Member of the public", "Sports coach", "Faith leader"]),
        S::School => (
            org(rng, &["{town} Primary School", "{town} Academy", "{town} Community College", "{town} Infant School"]),
            &["Designated Safeguarding Lead", "Deputy Safeguarding Lead", "Head Teacher", "Pastoral Lead"],
        ),
        S::EducationServices => (
            org(
                rng,
                &["Westshire Education Welfare Service", "Westshire Virtual School", "Westshire Inclusion Service"],
            ),
            &["Education Welfare Officer", "Inclusion Officer"],
        ),
        S::Gp => (org(rng, &["{town} Medical Practice", "{town} Surgery"]), &["GP", "Practice Nurse"]),
        S::HealthVisitor => (org(rng, &["Westshire Community Health: Health Visiting"]), &["Health Visitor"]),
        S::SchoolNurse => (org(rng, &["Westshire School Nursing Service"]), &["School Nurse"]),
        S::OtherPrimaryHealth => {
            (org(rng, &["Westshire Community Midwifery", "{town} Dental Practice"]), &["Midwife", "Dentist"])
        }
        S::AccidentAndEmergency => (
            org(rng, &["Westshire General Hospital Emergency Department", "{town} Hospital Emergency Department"]),
            &["ED Nurse", "ED Consultant", "Paediatric Liaison Nurse"],
        ),
        S::OtherHealth => (
            org(rng, &["Westshire CAMHS", "Westshire Drug and Alcohol Service", "Westshire Maternity Unit"]),
            &["CAMHS Clinician", "Substance Misuse Worker", "Safeguarding Nurse"],
        ),
        S::Housing => (
            org(rng, &["{town} District Council Housing Options", "Westshire Homes"]),
            &["Housing Officer", "Tenancy Support Worker"],
        ),
        S::LaSocialCare => (org(rng, &["Westshire Adult Social Care"]), &["Adult Social Worker"]),
        S::OtherInternalLa => (
            org(rng, &["Westshire Youth Justice Service", "Westshire Family Support Service"]),
            &["Youth Justice Worker", "Family Support Worker"],
        ),
        S::ExternalLa => (
            org(rng, &["Eastmoor County Council Children's Services", "Southvale Borough Children's Services"]),
            &["Social Worker"],
        ),
        S::EarlyHelp => (org(rng, &["Early Help Hub {town}"]), &["Early Help Worker", "Family Practitioner"]),
        S::Police => (org(rng, &["Westshire Constabulary"]), &["Police Constable", "Detective Constable", "Sergeant"]),
        S::OtherLegalAgency => (
            org(rng, &["Probation Service Westshire", "Cafcass", "Westshire Family Court"]),
            &["Probation Officer", "Family Court Adviser"],
        ),
        S::Other => (
            org(rng, &["{town} Children's Centre", "{town} Youth Club", "Westshire Domestic Abuse Service"]),
            &["Children's Centre Worker", "Youth Worker", "Domestic Abuse Advocate"],
        ),
        S::Anonymous | S::Unknown => (None, &[]),
    };
    if roles.is_empty() {
        let name = if source == S::Anonymous { "Anonymous caller" } else { "Not recorded" };
        return Referrer { name: name.to_owned(), organisation: None, role: None, phone: None, email: None };
    }
    let mut role = *pick(rng, roles);
    let teenager = children[0].date_of_birth.and_then(|dob| today.years_since(dob)).is_some_and(|age| age >= 12);
    if role == "Young person" && !teenager {
        role = "Parent";
    }
    let individual = organisation.is_none();
    let name = match (source, role) {
        (S::SelfReferral, "Young person") => children[0].name.clone(),
        (S::FamilyMember | S::SelfReferral, _) if chance(rng, 70) => {
            person_name(rng, ADULT_NAMES, Some(&family_surname))
        }
        _ => person_name(rng, ADULT_NAMES, None),
    };
    let (phone_percent, email_percent) = if individual { (70, 20) } else { (60, 70) };
    let phone = chance(rng, phone_percent).then(|| {
        if individual || chance(rng, 30) {
            format!("07700 900{:03}", rng.u32(0..1000))
        } else {
            format!("01632 960{:03}", rng.u32(0..1000))
        }
    });
    let email = chance(rng, email_percent).then(|| {
        let local: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c == ' ' { '.' } else { c })
            .filter(|c| c.is_ascii_lowercase() || *c == '.')
            .collect();
        if individual { format!("{local}{}@example.net", rng.u32(1..100)) } else { format!("{local}@example.org") }
    });
    Referrer { name, organisation, role: Some(role.to_owned()), phone, email }
}

// ---------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------

fn concerns_for(rng: &mut Rng, need: PrimaryNeed, channel: Channel, children: &[Child]) -> String {
    let child = first_name_of(children);
    let police = channel == Channel::PoliceNotification;
    let text = match (need, police) {
        (PrimaryNeed::N1, true) => pick(rng, &POLICE_ABUSE),
        (PrimaryNeed::N5, true) => pick(rng, &POLICE_DYSFUNCTION),
        (PrimaryNeed::N6, true) => pick(rng, &POLICE_BEHAVIOUR),
        _ => pick(rng, concerns(need)),
    };
    let text = text.replace("{c}", &child);
    if police { format!("PPN: {text}") } else { text }
}

fn concerns(need: PrimaryNeed) -> &'static [&'static str] {
    match need {
        PrimaryNeed::N1 => &[
            "{c} told a teacher that a parent hit them with a belt last night; a red mark on the forearm was seen.",
            "Bruising to {c}'s upper arm noticed at breakfast club; the explanation given does not fit the injury.",
            "{c} has been arriving hungry and in the same unwashed clothes for several weeks; attendance falling.",
            "Home conditions reported as very poor: no working heating, rubbish on the floors, children sharing one mattress.",
            "Unexplained injury to a non-mobile baby seen in hospital; the parents' accounts differ.",
            "{c} said mum's partner shouts and throws things and that they are scared to go home.",
            "Concern that {c} is being left alone overnight while the parent works.",
            "Sexualised behaviour by {c} reported at school that staff consider unusual for their age.",
            "An older sibling told staff that {c} is locked in a bedroom as a punishment.",
        ],
        PrimaryNeed::N2 => &[
            "{c} is autistic and the family say they can no longer manage {c}'s distressed behaviour at home.",
            "Parents of {c}, who has complex medical needs, are asking for help with respite and equipment.",
            "{c} has a learning disability and has been excluded; mother struggling to cope.",
        ],
        PrimaryNeed::N3 => &[
            "Mother admitted to a mental health unit; father struggling to care for the children alone.",
            "Parent has a serious illness and {c} is taking on significant caring responsibilities.",
            "Father's drinking has increased since losing his job; {c} says they worry about him.",
            "Parent recently discharged after an overdose; {c} was the one who called the ambulance.",
        ],
        PrimaryNeed::N4 => &[
            "Family facing eviction at the end of the month; parents report high stress and {c} missing school.",
            "Recent bereavement; mother says she cannot get out of bed and {c} is getting themselves to school.",
            "Family have moved to the area after fleeing domestic abuse and have no support network.",
        ],
        PrimaryNeed::N5 => &[
            "Ongoing parental conflict after separation; {c} is being asked to pass messages and is distressed.",
            "{c} is refusing to go home after arguments with a step-parent.",
            "Frequent loud arguments at the address; {c} told a teacher they hide in their room.",
        ],
        PrimaryNeed::N6 => &[
            "{c} has been missing from home overnight twice this month and came back with new clothes and a phone.",
            "{c} arrested for possession of cannabis; concern about older associates and possible criminal exploitation.",
            "{c} excluded after assaulting a peer; aggressive behaviour at home reported too.",
            "Concern that {c} is sending images to an older person met online.",
        ],
        PrimaryNeed::N7 => &[
            "Family without food or gas credit; referred by the food bank for the third time.",
            "Parents in significant debt; {c} has no winter coat or school shoes.",
        ],
        PrimaryNeed::N8 => &[
            "{c} is sleeping on friends' sofas after being told to leave home by a parent.",
            "Parent is in custody and {c} is being cared for informally by an elderly grandparent.",
            "{c} appears to be living with adults who are not family (possible private fostering).",
        ],
        PrimaryNeed::N9 => &[
            "Request for information from another local authority about {c}'s family, who have moved away.",
            "Court request for a report on {c}; no current safeguarding concern stated.",
            "Referrer seeking advice about a parenting course; no concern about {c}'s safety.",
        ],
        PrimaryNeed::N0 => &[
            "Referrer worried about {c} but unable to give details; will send more information.",
            "Caller concerned about the children at the address, without specifics.",
        ],
    }
}

const POLICE_ABUSE: [&str; 4] = [
    "Domestic abuse incident at the family home overnight; {c} was present and woke to shouting. Suspect arrested.",
    "Report of a parent intoxicated in charge of {c}; the child was found alone in the flat.",
    "Neighbours called police to screaming at the address; {c} seen with a cut lip.",
    "Third domestic abuse call-out in two months; {c} described by officers as withdrawn.",
];
const POLICE_DYSFUNCTION: [&str; 2] = [
    "Verbal argument between separated parents at a handover of {c}; no offences disclosed.",
    "Police called to a family argument; {c} distressed but unhurt.",
];
const POLICE_BEHAVIOUR: [&str; 2] = [
    "{c} reported missing overnight and found in another town with older males; return interview needed.",
    "{c} stopped with a large amount of cash and two phones; county lines indicators.",
];

const OVERRIDE_REASONS: [&str; 3] = [
    "Seeking consent could place the child at increased risk of harm.",
    "A parent is the alleged perpetrator; asking would alert them.",
    "Risk that the family would leave the area if told.",
];
const CONSENT_GIVEN: [&str; 2] =
    ["Mother agreed by phone to information being shared.", "Both parents agreed to checks with partner agencies."];
const CONSENT_REFUSED: [&str; 2] =
    ["Father declined information sharing; concerns recorded.", "Parent refused consent; advised of the next steps."];

fn rating_reasons(rating: Rating) -> &'static [&'static str] {
    match rating {
        Rating::Red => &["Possible significant harm: checks back within 2 hours.", "Child may not be safe tonight."],
        Rating::Amber => &["Significant concern: checks within 6 hours.", "Pattern of concerns needs checks today."],
        Rating::Green => {
            &["Below the statutory threshold on what is known.", "Additional needs; checks within 24 hours."]
        }
        Rating::Blue => {
            &["No safeguarding concern identified.", "Information request; no risk to the child identified."]
        }
    }
}

const CALLS: [(CallDirection, CallWith, &str); 6] = [
    (CallDirection::Outbound, CallWith::Referrer, "Called the referrer to clarify the concern and where {c} is now."),
    (
        CallDirection::Outbound,
        CallWith::Parent,
        "Spoke to the mother, who knows about the contact and gave her account.",
    ),
    (
        CallDirection::Outbound,
        CallWith::Agency,
        "Called the school's safeguarding lead for attendance and recent observations.",
    ),
    (CallDirection::Outbound, CallWith::Child, "Spoke to {c}, who said they feel safe at home tonight."),
    (CallDirection::Inbound, CallWith::Referrer, "Referrer called back with further information about {c}."),
    (CallDirection::Inbound, CallWith::Parent, "Father called, upset about the contact; explained the process."),
];

fn check_requests(agency: Agency) -> &'static [&'static str] {
    match agency {
        Agency::Police => &[
            "Domestic abuse history and intelligence on the adults at the address.",
            "Police checks on mother's new partner.",
        ],
        Agency::Health => &[
            "GP, health visiting and emergency department checks for the children and parents.",
            "Health checks including maternity and mental health services.",
        ],
        _ => {
            &["Attendance, exclusions and safeguarding records from school.", "Education checks for all the children."]
        }
    }
}

fn check_returns(agency: Agency, restricted: bool) -> &'static [&'static str] {
    match (agency, restricted) {
        (Agency::Police, false) => &[
            "Two previous domestic abuse call-outs in 12 months, both graded medium.",
            "No trace on the adults at the address.",
            "Father known for drug supply offences two years ago.",
        ],
        (Agency::Police, true) => &[
            "Ongoing investigation involving an adult in the household; details held by the police researcher.",
            "Intelligence of concern linked to the address; not to be shared with the family.",
        ],
        (Agency::Health, false) => &[
            "Immunisations up to date; no concerns from the health visitor.",
            "Two emergency department attendances this year for minor injuries; explanations consistent.",
            "Mother under the perinatal mental health team; last seen two weeks ago.",
            "Missed three health appointments; GP has written to the family.",
        ],
        (Agency::Health, true) => &[
            "Sensitive health information about a parent held; decision maker briefed.",
            "Sexual health clinic attendance by the young person; details restricted.",
        ],
        (_, false) => &[
            "Attendance 82% this term with several late marks.",
            "No concerns recorded by the school; attendance 97%.",
            "Two suspensions this year; pastoral support in place.",
            "Safeguarding lead reports {c} recently tired and withdrawn.",
        ],
        (_, true) => &["Disclosure to the school counsellor held on a confidential file."],
    }
}

const DUTY_SEATS: [(&str, Agency); 7] = [
    ("Advanced Practitioner", Agency::ChildrensSocialCare),
    ("Social Worker", Agency::ChildrensSocialCare),
    ("MASH Officer", Agency::ChildrensSocialCare),
    ("Detective Constable", Agency::Police),
    ("Safeguarding Nurse", Agency::Health),
    ("Education Safeguarding Officer", Agency::Education),
    ("Early Help Officer", Agency::EarlyHelp),
];

const DISCUSSIONS: [&str; 3] = [
    "Duty team reviewed the contact, the checks and the history; agreed the threshold.",
    "Discussed {c}'s lived experience and the family's strengths; views of partners taken.",
    "Reviewed previous contacts and the partners' checks; agreed next steps.",
];

fn needs_for(need: PrimaryNeed) -> &'static [&'static str] {
    match need {
        PrimaryNeed::N1 => &["safety at home", "protection from harm"],
        PrimaryNeed::N2 => &["support with disability", "short breaks for the family"],
        PrimaryNeed::N3 => &["support while a parent is unwell"],
        PrimaryNeed::N4 => &["stable housing", "family support"],
        PrimaryNeed::N5 => &["reducing parental conflict"],
        PrimaryNeed::N6 => &["exploitation risk", "positive activities"],
        PrimaryNeed::N7 => &["financial help", "food and warmth"],
        PrimaryNeed::N8 => &["a safe place to live"],
        PrimaryNeed::N9 | PrimaryNeed::N0 => &["information"],
    }
}

const NOTES_OPEN: [&str; 3] = [
    "Referrer rang to ask for an update; told a decision is due today.",
    "School confirmed {c} is in class today.",
    "Previous contact about {c} linked for the duty team.",
];
const NOTES_CLOSED: [&str; 2] =
    ["Referrer called for an update; told the contact was closed and why.", "Late information filed for the record."];

fn rationales(outcome: Outcome) -> &'static [&'static str] {
    match outcome {
        Outcome::StrategyDiscussion => &[
            "Reasonable cause to suspect {c} is suffering significant harm; strategy discussion with police and health today (s47).",
            "Disclosure and injury meet the child protection threshold; strategy discussion needed.",
        ],
        Outcome::Assessment => &[
            "Needs cannot be met without a statutory assessment; child and family assessment (s17).",
            "Cumulative concerns about {c} meet the threshold for a social work assessment.",
        ],
        Outcome::EarlyHelp => &[
            "Additional needs, not statutory; the family agree to early help support.",
            "Family would benefit from a team around the family; below the statutory threshold.",
        ],
        Outcome::AdviceAndSignpost => &[
            "Concern addressed with advice to the referrer; family signposted to universal services.",
            "Advice given on next steps; no role for children's social care now.",
        ],
        Outcome::NoFurtherAction => &[
            "No concerns requiring a response from children's services; information recorded.",
            "Checks show no further concern; no further action.",
        ],
        Outcome::ExistingCase => &[
            "{c} is already open to an allocated worker; information passed on.",
            "Family already open to a children in need plan; passed to the allocated worker.",
        ],
        Outcome::NotAccepted => &[
            "Duplicate of a contact about {c} already being worked; not accepted.",
            "Referrer withdrew the contact after speaking to the family; not accepted.",
        ],
    }
}

fn outcome_words(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::StrategyDiscussion => "a strategy discussion",
        Outcome::Assessment => "a social work assessment",
        Outcome::EarlyHelp => "early help",
        Outcome::AdviceAndSignpost => "advice and signposting",
        Outcome::NoFurtherAction => "no further action",
        Outcome::ExistingCase => "passing it to the allocated worker",
        Outcome::NotAccepted => "not accepting the contact",
    }
}

const REVISION_REASONS: [&str; 3] = [
    "New police information received after the decision.",
    "Manager review: threshold applied inconsistently.",
    "Family's circumstances clarified by the referrer.",
];

const INFORMED: [&str; 2] = [
    "Told the referrer the outcome ({outcome}) and what happens next.",
    "Explained the decision ({outcome}) about {c}.",
];

const ACTIONS: [(Agency, &str); 6] = [
    (Agency::EarlyHelp, "Early help assessment with the family within 10 working days."),
    (Agency::Education, "School to offer daily check-ins with the pastoral lead."),
    (Agency::Health, "Health visitor to visit the family at home."),
    (Agency::EarlyHelp, "Referral to a parenting programme."),
    (Agency::Housing, "Housing options appointment for the family."),
    (Agency::Other, "Referral to the domestic abuse support service."),
];
const REFERRER_ROLES: [&str; 2] =
    ["Lead professional for the early help plan.", "Attend the team around the family meeting."];

/// The team a handover goes to (another than `not`, when it was returned by that one).
fn team_name(rng: &mut Rng, to: HandoverTo, not: Option<&str>) -> String {
    let named = |teams: &[&str], rng: &mut Rng| {
        let others: Vec<&str> = teams.iter().copied().filter(|t| Some(*t) != not).collect();
        (*pick(rng, if others.is_empty() { teams } else { &others })).to_owned()
    };
    match to {
        HandoverTo::AssessmentTeam => named(&ASSESSMENT_TEAMS, rng),
        HandoverTo::EarlyHelp => named(&EARLY_HELP_TEAMS, rng),
        _ => {
            let area = pick(rng, AREAS);
            match to {
                HandoverTo::Tafso => format!("TAFSO {area}"),
                HandoverTo::Community => format!("Community Family Support {area}"),
                HandoverTo::AllocatedWorker => format!("Children in Need Team {area}"),
                _ => format!("Locality Team {area}"),
            }
        }
    }
}

/// How the practitioner confirmed a handover to a team with no frontdoor user.
const ACCEPTANCE_EVIDENCE: [&str; 4] = [
    "Confirmed by phone with the allocated worker.",
    "{t} confirmed receipt by secure e-mail.",
    "Confirmed by phone with the {t} duty coordinator.",
    "Acceptance noted at the {t} allocation meeting; minutes on file.",
];

/// Why a contact is not accepted, in the decision maker's words.
fn not_accepted_rationale(rng: &mut Rng, why: NotAccepted, child: &str) -> String {
    let text = match why {
        NotAccepted::DuplicateOf(of) => {
            return format!("Duplicate of contact {of} about {child}: the same incident, already being worked there.");
        }
        NotAccepted::WrongService => *pick(
            rng,
            &[
                "Wrong service: the concern is about an adult's care needs; passed to adult social care.",
                "Wrong service: the family live outside Westshire; passed to their home authority's front door.",
                "Wrong service: a request for a school place, passed to the admissions team.",
            ],
        ),
        NotAccepted::Withdrawn => *pick(
            rng,
            &[
                "Referrer withdrew the contact after speaking to the family; not accepted.",
                "Withdrawn: the referrer resolved the concern with the school the same day.",
            ],
        ),
    };
    text.to_owned()
}

const HANDOVER_NOTES: [&str; 3] = [
    "Contact, checks and duty discussion attached.",
    "Family aware; {c}'s school informed.",
    "Please see the partners' checks before the first visit.",
];
const RETURN_REASONS: [&str; 3] = [
    "Wrong locality: the family live in another patch.",
    "Checks incomplete: health check outstanding.",
    "Consent for early help not yet recorded.",
];

fn close_reasons(outcome: Outcome, handed_over: bool) -> &'static [&'static str] {
    match (outcome, handed_over) {
        (_, true) => {
            &["Accepted by the receiving team; front door involvement ended.", "Handed over; closed at the front door."]
        }
        (Outcome::NoFurtherAction, false) => &["No further action; referrer informed."],
        (Outcome::NotAccepted, false) => &["Not accepted; closed at the front door."],
        (Outcome::AdviceAndSignpost, false) => &["Advice given and the family signposted."],
        _ => &["Plan agreed with universal services; closed at the front door."],
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::OnceLock;

    use eventlog::Envelope;
    use projections::contact::ContactState;

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
    /// service's own case rules ([`crate::rules::decide`] on the contact's
    /// [`ContactState`]) and field checks ([`crate::validate::check_event`] at the
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
                return Err(format!(
                    "{id}: expected_version {:?}, version is {}",
                    append.expected_version, state.version
                ));
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
        crate::validate::normalise(&mut event);
        if event != as_written {
            return Err(format!("{} is not normalised", new.event_type));
        }
        let invalid = crate::validate::check_event(&event, recorded_at);
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
        crate::rules::decide(folded, &event, new.occurred_at)
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
        if state.closed && !matches!(event, Event::NoteAdded(_) | Event::CorrectionRecorded(_)) {
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
            Event::ActionPlanAgreed(_) | Event::ReferrerInformed(_) => {
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
        let by =
            |pred: &dyn Fn(&ContactReceived) -> bool| share(cases.iter().filter(|c| pred(c.received())).count(), n);
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
            cases
                .iter()
                .all(|c| c.received().ppn_grade.is_some() == (c.received().channel == Channel::PoliceNotification))
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
            .filter(|c| {
                c.events.get(1).is_some_and(|(new, _)| new.occurred_at - c.received_at() <= TimeDelta::minutes(80))
            })
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
        let recent: Vec<&Case> =
            demo().cases.iter().filter(|c| now() - c.received_at() <= TimeDelta::hours(2)).collect();
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
    fn every_contact_obeys_the_case_rules() {
        check_log(&demo().appends, now(), &DuePolicy::default()).unwrap();
        for seed in [7, 42] {
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
            referrer: Referrer {
                name: "Test Referrer".into(),
                organisation: None,
                role: None,
                phone: None,
                email: None,
            },
            children: vec![Child {
                name: "Test Child".into(),
                date_of_birth: None,
                sex: None,
                child_ref: None,
                nhs_number: None,
                upn: None,
                ethnicity: None,
                expected_date_of_birth: None,
            }],
            concerns: "test".into(),
            immediate_risk: false,
            consent: Consent::Unknown,
            consent_override_reason: None,
            ppn_grade: None,
        });
        let decision = |outcome, revises| {
            Event::DecisionMade(DecisionMade {
                outcome,
                rationale: "test".into(),
                level_of_need: Some(4),
                primary_need: None,
                revises,
                duplicate_of: None,
            })
        };
        let sent = |to| Event::HandoverSent(HandoverSent { to, team: Some("AT North".into()), notes: None });
        let accepted =
            Event::HandoverAccepted(HandoverAccepted { team: "AT North".into(), worker: None, evidence: None });
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
                vec![
                    (received.clone(), p),
                    (decision(Outcome::Assessment, None), dm),
                    (sent(HandoverTo::EarlyHelp), p),
                ],
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
        // A child seen twice is the same record: name, date of birth, NHS number, reference.
        for r in records.values() {
            assert!(r.len() == 1, "{r:?}");
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
        assert!(next_morning > 100, "{next_morning} written up the next morning");
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
                        on_time += usize::from(new.occurred_at <= handover_due_by(&policy, sent_at, urgent));
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
        assert_eq!(
            office_time_between(&cal, at("2026-01-16T17:00:00Z"), at("2026-01-19T09:00:00Z")),
            TimeDelta::hours(1)
        );
        assert_eq!(
            office_time_between(&cal, at("2026-01-19T09:00:00Z"), at("2026-01-16T17:00:00Z")),
            TimeDelta::zero()
        );
    }

    #[test]
    fn the_summary_reads_well_in_the_banner() {
        let text = demo().summary.to_string();
        println!("{text}");
        assert!(text.contains(&format!("{} contacts", demo().summary.contacts)), "{text}");
        assert!(text.contains("assessment") && text.contains("phone"), "{text}");
    }
}
