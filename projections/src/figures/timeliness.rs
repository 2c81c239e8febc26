//! Decision timeliness (received → first decision) and time to the Assessment Team
//! (received → accepted), for `GET /v1/metrics/timeliness`: the figures Working Together's
//! "within one working day" and Tyneside's "not transferred in time" are judged on.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use events::schema::{Outcome, StrategyOutcome};

use super::{OneWorkingDay, Spread, Tally, Week, received_in, share, week_index, weeks_of, within_24_hours};
use crate::facts::ContactFacts;
use crate::time::{DuePolicy, hours_between};

/// Timeliness over a period (by receipt), with the same figures week by week.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timeliness {
    /// The period, London dates by receipt, both included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The locality whose contacts are counted (`?locality=`, see docs/FIGURES.md,
    /// "Localities"); `null` for every contact. Left `null` here: whoever chose the contacts
    /// counted says so.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub locality: Option<String>,
    /// The due-by policy `decided_within_policy` was judged on.
    pub policy: DuePolicy,
    /// Contacts received in the period.
    pub contacts: u64,
    /// Of those, contacts with a decision (now or ever: a revised decision still counts).
    pub decided: u64,
    /// Contacts with no decision yet.
    pub undecided: u64,
    /// The moment the undecided contacts were judged at: now for live figures, the as-of
    /// moment for past ones.
    pub judged_at: DateTime<Utc>,
    /// Undecided contacts already past each share's own deadline at `judged_at`: they
    /// count as late in the shares' denominators.
    pub undecided_past_due: UndecidedPastDue,
    /// First decision no more than 24 real hours after receipt.
    pub decided_within_24h: u64,
    /// First decision no later than the one-working-day due time (every contact, urgent or not).
    pub decided_within_one_working_day: u64,
    /// First decision no later than the policy's due time: `urgent_hours` for red-rated or
    /// immediate-risk contacts, `working_days` for others.
    pub decided_within_policy: u64,
    /// The three counts above as shares of `decided` plus that share's own
    /// `undecided_past_due` (`null` when both are 0).
    pub share_within_24h: Option<f64>,
    pub share_within_one_working_day: Option<f64>,
    pub share_within_policy: Option<f64>,
    /// Real elapsed hours from receipt to first decision, decided contacts only.
    pub decision_hours: Spread,
    /// Working days from receipt to first decision (only time on London working days
    /// counts, each working day 1), decided contacts only.
    pub decision_working_days: Spread,
    /// Decisions and acceptances recorded late or moved back by a correction.
    pub recorded_late: RecordedLate,
    pub to_assessment_team: ToAssessmentTeam,
    /// Handovers to the Assessment Team and to Early Help counted alike: sent, accepted,
    /// awaiting, returned, hours from receipt to the first acceptance.
    pub handovers: Handovers,
    /// Decision → first strategy discussion held, for the contacts with a discussion.
    pub strategy_discussions: StrategyDiscussions,
    /// Every ISO week of receipt overlapping the period, ascending.
    pub by_week: Vec<TimelinessWeek>,
}

/// [`Timeliness::handovers`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Handovers {
    pub assessment_team: TeamHandovers,
    pub early_help: TeamHandovers,
}

/// The handovers of the period's contacts to one receiving team.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamHandovers {
    /// Contacts with at least one handover sent to the team.
    pub handed_over: u64,
    /// Of those, contacts the team has accepted.
    pub accepted: u64,
    /// Of those, contacts not (yet) accepted.
    pub awaiting: u64,
    /// Contacts with at least one handover the team returned.
    pub returned: u64,
    /// Returns in all (a contact returned twice counts 2).
    pub returns: u64,
    /// Real hours from receipt to the team's first acceptance, accepted contacts only.
    pub hours_to_acceptance: Spread,
}

fn team_handovers<'a>(
    contacts: impl Iterator<Item = (&'a ContactFacts, crate::contact::TeamHandover, Option<DateTime<Utc>>)>,
) -> TeamHandovers {
    let (mut handed_over, mut accepted, mut returned, mut returns, mut hours) = (0, 0, 0, 0, Vec::new());
    for (contact, team, accepted_at) in contacts {
        if !team.sent {
            continue;
        }
        handed_over += 1;
        if let Some(at) = accepted_at {
            accepted += 1;
            hours.push(hours_between(contact.received_at, at));
        }
        returned += u64::from(team.returns > 0);
        returns += u64::from(team.returns);
    }
    TeamHandovers {
        handed_over,
        accepted,
        awaiting: handed_over - accepted,
        returned,
        returns,
        hours_to_acceptance: Spread::of(hours),
    }
}

/// The handovers of the contacts received in the period to the Assessment Team (its
/// acceptance time as corrected) and to Early Help.
pub fn handovers<'a>(facts: impl IntoIterator<Item = &'a ContactFacts>, from: NaiveDate, to: NaiveDate) -> Handovers {
    let contacts: Vec<&ContactFacts> = received_in(facts, from, to).collect();
    Handovers {
        assessment_team: team_handovers(
            contacts.iter().map(|c| (*c, c.handed_over.assessment_team, c.assessment_team_accepted_at)),
        ),
        early_help: team_handovers(
            contacts.iter().map(|c| (*c, c.handed_over.early_help, c.handed_over.early_help.accepted_at)),
        ),
    }
}

/// One ISO week of [`Timeliness`] (contacts received that week, within the period).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelinessWeek {
    #[serde(flatten)]
    pub week: Week,
    pub contacts: u64,
    pub decided: u64,
    pub undecided_past_due: UndecidedPastDue,
    pub decided_within_24h: u64,
    pub decided_within_one_working_day: u64,
    pub decided_within_policy: u64,
    pub decision_hours: Spread,
    pub recorded_late: RecordedLate,
    pub to_assessment_team: ToAssessmentTeam,
}

/// Undecided contacts past the deadline of each share, at the moment judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UndecidedPastDue {
    /// More than 24 real hours since receipt.
    pub within_24h: u64,
    /// Past the one-working-day due time.
    pub one_working_day: u64,
    /// Past the policy's due time (the duty queue's "overdue" of an undecided contact).
    pub policy: u64,
}

/// Contacts whose first decision, or whose acceptance by the Assessment Team, was recorded
/// late (more than `late_entry_hours` after it happened) or dated back by a correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordedLate {
    pub decisions: u64,
    pub acceptances: u64,
}

/// Which of a contact's times were recorded late: (its first decision, its acceptance by
/// the Assessment Team). A time is recorded late when it was recorded more than the
/// policy's `late_entry_hours` after it happened ([`DuePolicy::recorded_late`]), or when a
/// correction moved it (`*_backdated`).
pub fn recorded_late(contact: &ContactFacts, policy: &DuePolicy) -> (bool, bool) {
    let late = |at: Option<DateTime<Utc>>, recorded: Option<DateTime<Utc>>| match (at, recorded) {
        (Some(at), Some(recorded)) => policy.recorded_late(at, recorded),
        _ => false,
    };
    let decision = contact.first_decision_at.is_some()
        && (contact.first_decision_backdated || late(contact.first_decision_at, contact.first_decision_recorded_at));
    let acceptance = contact.assessment_team_accepted_at.is_some()
        && (contact.acceptance_backdated
            || late(contact.assessment_team_accepted_at, contact.assessment_team_accepted_recorded_at));
    (decision, acceptance)
}

/// Whether the first decision or the acceptance of a contact was recorded late.
pub fn is_recorded_late(contact: &ContactFacts, policy: &DuePolicy) -> bool {
    let (decision, acceptance) = recorded_late(contact, policy);
    decision || acceptance
}

/// Received → accepted by the Assessment Team, for referrals (decision in force
/// `strategy_discussion` or `assessment`), in real hours.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToAssessmentTeam {
    /// Referrals the Assessment Team has accepted.
    pub count: u64,
    pub hours: Spread,
    /// Referrals not (yet) accepted by the Assessment Team.
    pub awaiting: u64,
    /// Red-rated or immediate-risk referrals.
    pub immediate: TeamGroup,
    /// All other referrals.
    pub other: TeamGroup,
}

/// Strategy discussions held on the contacts received in the period: how long after the
/// decision the first one was held, and what it decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StrategyDiscussions {
    /// Contacts with a strategy discussion held (the first one counts).
    pub held: u64,
    /// Real hours from the decision in force when it was recorded to when the first discussion
    /// was held.
    pub hours_from_decision: Spread,
    /// The first discussion's outcome: `s47_enquiry`, `no_further_action`, `other`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub outcomes: Tally,
    /// Contacts whose decision in force is `strategy_discussion` and that have no discussion
    /// held yet.
    pub awaiting: u64,
}

impl Default for StrategyDiscussions {
    fn default() -> Self {
        StrategyDiscussions {
            held: 0,
            hours_from_decision: Spread::default(),
            outcomes: Tally::zeros(StrategyOutcome::NAMES.iter().copied()),
            awaiting: 0,
        }
    }
}

impl StrategyDiscussions {
    fn add(&mut self, contact: &ContactFacts, hours: &mut Vec<f64>) {
        match &contact.strategy_discussion {
            Some(held) => {
                self.held += 1;
                self.outcomes.add(held.outcome.as_str(), 1);
                hours.push(hours_between(held.decided_at, held.held_at));
            }
            None if contact.outcome == Some(Outcome::StrategyDiscussion) => self.awaiting += 1,
            None => {}
        }
    }
}

/// The immediate or the other half of [`ToAssessmentTeam`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamGroup {
    pub count: u64,
    pub hours: Spread,
    pub awaiting: u64,
}

/// Timeliness of the contacts in `facts` received from `from` to `to` (London dates,
/// both included), with `policy` for `decided_within_policy` and its calendar for every
/// working-day figure, the undecided contacts judged at `now` (the live figures pass the
/// clock, past ones the moment they describe). Each figure is defined in
/// `docs/FIGURES.md`.
pub fn timeliness<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
    policy: &DuePolicy,
    now: DateTime<Utc>,
) -> Timeliness {
    let one_day = OneWorkingDay::on(&policy.calendar);
    let mut total = Acc::default();
    let mut weeks = weeks_of(from, to, Acc::default);
    let mut discussions = StrategyDiscussions::default();
    let mut discussion_hours = Vec::new();
    let facts: Vec<&ContactFacts> = facts.into_iter().collect();
    let handovers = handovers(facts.iter().copied(), from, to);
    for contact in received_in(facts, from, to) {
        discussions.add(contact, &mut discussion_hours);
        let measured = Measured::of(contact, policy, &one_day, now);
        total.add(&measured);
        weeks[week_index(from, contact.received_on())].1.add(&measured);
    }
    let by_week = weeks
        .into_iter()
        .map(|(week, acc)| TimelinessWeek {
            week,
            contacts: acc.contacts,
            decided: acc.decided,
            undecided_past_due: acc.past_due,
            decided_within_24h: acc.within_24h,
            decided_within_one_working_day: acc.within_one_working_day,
            decided_within_policy: acc.within_policy,
            decision_hours: Spread::of(acc.hours),
            recorded_late: acc.recorded_late,
            to_assessment_team: acc.team.finish(),
        })
        .collect();
    Timeliness {
        from,
        to,
        locality: None,
        policy: policy.clone(),
        contacts: total.contacts,
        decided: total.decided,
        undecided: total.contacts - total.decided,
        judged_at: now,
        undecided_past_due: total.past_due,
        decided_within_24h: total.within_24h,
        decided_within_one_working_day: total.within_one_working_day,
        decided_within_policy: total.within_policy,
        share_within_24h: share(total.within_24h, total.decided + total.past_due.within_24h),
        share_within_one_working_day: share(
            total.within_one_working_day,
            total.decided + total.past_due.one_working_day,
        ),
        share_within_policy: share(total.within_policy, total.decided + total.past_due.policy),
        decision_hours: Spread::of(total.hours),
        decision_working_days: Spread::of(total.working_days),
        recorded_late: total.recorded_late,
        to_assessment_team: total.team.finish(),
        handovers,
        strategy_discussions: StrategyDiscussions { hours_from_decision: Spread::of(discussion_hours), ..discussions },
        by_week,
    }
}

/// What one contact contributes, computed once for the period and its week.
struct Measured {
    decision: Option<DecisionTiming>,
    /// For an undecided contact: which deadlines have passed at the moment judged.
    past_due: UndecidedPastDue,
    recorded_late: RecordedLate,
    /// For a referral: whether it is immediate, and its hours to acceptance if accepted.
    referral: Option<(bool, Option<f64>)>,
}

struct DecisionTiming {
    hours: f64,
    working_days: f64,
    within_24h: bool,
    within_one_working_day: bool,
    within_policy: bool,
}

impl Measured {
    fn of(contact: &ContactFacts, policy: &DuePolicy, one_day: &OneWorkingDay, now: DateTime<Utc>) -> Measured {
        let received = contact.received_at;
        let decision = contact.first_decision_at.map(|decided: DateTime<Utc>| DecisionTiming {
            hours: hours_between(received, decided),
            working_days: policy.calendar.working_days_between(received, decided),
            within_24h: within_24_hours(received, decided),
            within_one_working_day: one_day.met(received, decided),
            within_policy: decided <= policy.due_by(received, contact.is_urgent()),
        });
        let referral = contact.is_referral().then(|| {
            (contact.is_urgent(), contact.assessment_team_accepted_at.map(|accepted| hours_between(received, accepted)))
        });
        let past_due = if decision.is_some() {
            UndecidedPastDue::default()
        } else {
            UndecidedPastDue {
                within_24h: u64::from(!within_24_hours(received, now)),
                one_working_day: u64::from(!one_day.met(received, now)),
                policy: u64::from(policy.is_overdue(policy.due_by(received, contact.is_urgent()), now)),
            }
        };
        let (decision_late, acceptance_late) = recorded_late(contact, policy);
        let recorded_late =
            RecordedLate { decisions: u64::from(decision_late), acceptances: u64::from(acceptance_late) };
        Measured { decision, past_due, recorded_late, referral }
    }
}

#[derive(Default)]
struct Acc {
    contacts: u64,
    decided: u64,
    within_24h: u64,
    within_one_working_day: u64,
    within_policy: u64,
    past_due: UndecidedPastDue,
    recorded_late: RecordedLate,
    hours: Vec<f64>,
    working_days: Vec<f64>,
    team: TeamAcc,
}

impl Acc {
    fn add(&mut self, m: &Measured) {
        self.contacts += 1;
        self.past_due.within_24h += m.past_due.within_24h;
        self.past_due.one_working_day += m.past_due.one_working_day;
        self.past_due.policy += m.past_due.policy;
        self.recorded_late.decisions += m.recorded_late.decisions;
        self.recorded_late.acceptances += m.recorded_late.acceptances;
        if let Some(d) = &m.decision {
            self.decided += 1;
            self.within_24h += u64::from(d.within_24h);
            self.within_one_working_day += u64::from(d.within_one_working_day);
            self.within_policy += u64::from(d.within_policy);
            self.hours.push(d.hours);
            self.working_days.push(d.working_days);
        }
        if let Some((immediate, hours)) = m.referral {
            let group = if immediate { &mut self.team.immediate } else { &mut self.team.other };
            match hours {
                Some(h) => group.hours.push(h),
                None => group.awaiting += 1,
            }
        }
    }
}

#[derive(Default)]
struct TeamAcc {
    immediate: GroupAcc,
    other: GroupAcc,
}

#[derive(Default)]
struct GroupAcc {
    hours: Vec<f64>,
    awaiting: u64,
}

impl GroupAcc {
    fn finish(self) -> TeamGroup {
        TeamGroup { count: count(&self.hours), hours: Spread::of(self.hours), awaiting: self.awaiting }
    }
}

impl TeamAcc {
    fn finish(self) -> ToAssessmentTeam {
        let all: Vec<f64> = self.immediate.hours.iter().chain(&self.other.hours).copied().collect();
        ToAssessmentTeam {
            count: count(&all),
            hours: Spread::of(all),
            awaiting: self.immediate.awaiting + self.other.awaiting,
            immediate: self.immediate.finish(),
            other: self.other.finish(),
        }
    }
}

fn count<T>(values: &[T]) -> u64 {
    u64::try_from(values.len()).expect("fewer than 2^64 contacts")
}

#[cfg(test)]
mod tests {
    use events::schema::{Outcome, Rating};
    use serde_json::json;

    use super::*;
    use crate::figures::testing::{assert_close, at, contact, d};

    /// Judged long after every contact here: each undecided one is past every deadline.
    fn later() -> DateTime<Utc> {
        at("2030-01-01T00:00:00Z")
    }

    fn figures(facts: &[ContactFacts], from: NaiveDate, to: NaiveDate) -> Timeliness {
        timeliness(facts, from, to, &DuePolicy::default(), later())
    }

    fn figures_at(facts: &[ContactFacts], from: NaiveDate, to: NaiveDate, now: &str) -> Timeliness {
        timeliness(facts, from, to, &DuePolicy::default(), at(now))
    }

    /// The timeliness of one contact, in a period that surely holds it.
    fn one(c: &ContactFacts) -> Timeliness {
        let day = c.received_on();
        figures(std::slice::from_ref(c), day, day)
    }

    /// (within 24h, within one working day, within policy) of a single decided contact.
    fn verdicts(t: &Timeliness) -> (u64, u64, u64) {
        assert_eq!(t.decided, 1);
        (t.decided_within_24h, t.decided_within_one_working_day, t.decided_within_policy)
    }

    #[test]
    fn strategy_discussions_count_from_the_decision_to_the_first_held() {
        use events::schema::StrategyOutcome::{NoFurtherAction, S47Enquiry};
        let sd = Outcome::StrategyDiscussion;
        let facts = [
            // 3 hours after the decision: a section 47 enquiry.
            contact("2026-03-02T09:00:00Z")
                .decided_as("2026-03-02T10:00:00Z", sd)
                .discussed("2026-03-02T13:00:00Z", S47Enquiry),
            // 26 hours after: no further action.
            contact("2026-03-03T09:00:00Z")
                .decided_as("2026-03-03T10:00:00Z", sd)
                .discussed("2026-03-04T12:00:00Z", NoFurtherAction),
            // 10 hours after an assessment decision revised to a discussion.
            contact("2026-03-04T09:00:00Z")
                .decided_as("2026-03-04T09:30:00Z", Outcome::Assessment)
                .discussed("2026-03-04T19:30:00Z", S47Enquiry),
            // Decided for a discussion, none held yet.
            contact("2026-03-05T09:00:00Z").decided_as("2026-03-05T10:00:00Z", sd),
            // Neither: not counted.
            contact("2026-03-05T11:00:00Z").decided("2026-03-05T12:00:00Z"),
            // Outside the period.
            contact("2026-03-20T09:00:00Z")
                .decided_as("2026-03-20T10:00:00Z", sd)
                .discussed("2026-03-20T11:00:00Z", S47Enquiry),
        ];
        let t = figures(&facts, d(2026, 3, 2), d(2026, 3, 8));
        let s = &t.strategy_discussions;
        assert_eq!((s.held, s.awaiting), (2 + 1, 1));
        assert_eq!(s.hours_from_decision, Spread { median: Some(10.0), p90: Some(26.0), max: Some(26.0) });
        let v = serde_json::to_value(s).unwrap();
        assert_eq!(v["outcomes"], json!({"s47_enquiry": 2, "no_further_action": 1, "other": 0}));
        // No contacts: nothing held, every outcome present and 0, no spread.
        let empty = figures(&[], d(2026, 3, 2), d(2026, 3, 8));
        assert_eq!(
            serde_json::to_value(&empty.strategy_discussions).unwrap()["hours_from_decision"]["median"],
            json!(null)
        );
        assert_eq!(empty.strategy_discussions.outcomes.total(), 0);
    }

    #[test]
    fn friday_evening_contact_decided_monday_morning_is_within_one_working_day_not_24_hours() {
        // Friday 16 January 2026 17:00 GMT, decided Monday 10:00: due Monday 17:00.
        let t = one(&contact("2026-01-16T17:00:00Z").decided("2026-01-19T10:00:00Z"));
        assert_eq!(verdicts(&t), (0, 1, 1));
        assert_close(t.decision_hours.median, 65.0);
        // 7 hours of Friday and 10 of Monday.
        assert_close(t.decision_working_days.max, 17.0 / 24.0);
        assert_eq!(t.share_within_24h, Some(0.0));
        assert_eq!(t.share_within_one_working_day, Some(1.0));
    }

    #[test]
    fn the_due_time_and_24_hours_exactly_are_in_time_a_second_later_is_not() {
        let exactly = one(&contact("2026-01-16T17:00:00Z").decided("2026-01-19T17:00:00Z"));
        assert_eq!(verdicts(&exactly), (0, 1, 1));
        let late = one(&contact("2026-01-16T17:00:00Z").decided("2026-01-19T17:00:01Z"));
        assert_eq!(verdicts(&late), (0, 0, 0));
        let day = one(&contact("2026-01-14T09:00:00Z").decided("2026-01-15T09:00:00Z"));
        assert_eq!(verdicts(&day), (1, 1, 1));
        let day_and_a_second = one(&contact("2026-01-14T09:00:00Z").decided("2026-01-15T09:00:01Z"));
        assert_eq!(verdicts(&day_and_a_second), (0, 0, 0));
    }

    #[test]
    fn saturday_contact_clock_starts_monday_midnight_and_is_due_tuesday_midnight() {
        // Saturday 17 January 10:00, decided Monday 20:00: due Tuesday 00:00.
        let t = one(&contact("2026-01-17T10:00:00Z").decided("2026-01-19T20:00:00Z"));
        assert_eq!(verdicts(&t), (0, 1, 1));
        assert_close(t.decision_hours.max, 58.0);
        // Only Monday's 20 hours are working time.
        assert_close(t.decision_working_days.max, 20.0 / 24.0);
        let tuesday = one(&contact("2026-01-17T10:00:00Z").decided("2026-01-20T00:00:01Z"));
        assert_eq!(verdicts(&tuesday), (0, 0, 0));
    }

    #[test]
    fn good_friday_contact_clock_starts_on_the_tuesday_after_easter() {
        // Good Friday 3 April 2026 10:00 BST; Easter Monday is a holiday too, so the clock
        // starts Tuesday 7 April 00:00 BST and it is due Wednesday 8 April 00:00 BST.
        let t = one(&contact("2026-04-03T09:00:00Z").decided("2026-04-07T22:00:00Z"));
        assert_eq!(verdicts(&t), (0, 1, 1));
        assert_close(t.decision_hours.max, 4.0 * 24.0 + 13.0);
        assert_close(t.decision_working_days.max, 23.0 / 24.0);
        let wednesday = one(&contact("2026-04-03T09:00:00Z").decided("2026-04-07T23:00:01Z"));
        assert_eq!(verdicts(&wednesday), (0, 0, 0));
        // Easter Monday the same.
        let monday = one(&contact("2026-04-06T14:00:00Z").decided("2026-04-07T22:59:00Z"));
        assert_eq!(verdicts(&monday), (0, 1, 1));
        // Maundy Thursday 17:00 BST is due Tuesday 17:00 BST, the four days between not counting.
        let thursday = one(&contact("2026-04-02T16:00:00Z").decided("2026-04-07T16:00:00Z"));
        assert_eq!(verdicts(&thursday), (0, 1, 1));
        assert_close(thursday.decision_working_days.max, 1.0);
        assert_close(thursday.decision_hours.max, 5.0 * 24.0);
    }

    #[test]
    fn across_the_spring_clock_change_a_weekend_is_71_real_hours() {
        // Friday 27 March 2026 22:00 GMT. Clocks go forward on Sunday, so the due time,
        // Monday 30 March 22:00 BST, is 21:00 UTC: 71 real hours later, not 72.
        let on_time = one(&contact("2026-03-27T22:00:00Z").decided("2026-03-30T21:00:00Z"));
        assert_eq!(verdicts(&on_time), (0, 1, 1));
        assert_close(on_time.decision_hours.max, 71.0);
        // 2 hours of Friday (GMT) and 22 of Monday (BST): one working day exactly.
        assert_close(on_time.decision_working_days.max, 1.0);
        // 22:30 BST Monday is 71.5 real hours, and late.
        let late = one(&contact("2026-03-27T22:00:00Z").decided("2026-03-30T21:30:00Z"));
        assert_eq!(verdicts(&late), (0, 0, 0));
        assert_close(late.decision_hours.max, 71.5);
    }

    #[test]
    fn across_the_autumn_clock_change_a_weekend_is_73_real_hours() {
        // Friday 23 October 2026 17:00 BST (16:00 UTC) → due Monday 26 October 17:00 GMT
        // (17:00 UTC): 73 real hours.
        let on_time = one(&contact("2026-10-23T16:00:00Z").decided("2026-10-26T17:00:00Z"));
        assert_eq!(verdicts(&on_time), (0, 1, 1));
        assert_close(on_time.decision_hours.max, 73.0);
        assert_close(on_time.decision_working_days.max, 1.0);
        // Saturday 12:00 BST to Monday 23:00 GMT: 59 hours by the wall clock, 60 real.
        let weekend = one(&contact("2026-10-24T11:00:00Z").decided("2026-10-26T23:00:00Z"));
        assert_eq!(verdicts(&weekend), (0, 1, 1));
        assert_close(weekend.decision_hours.max, 60.0);
        assert_close(weekend.decision_working_days.max, 23.0 / 24.0);
    }

    #[test]
    fn urgent_contacts_are_judged_on_two_real_hours_for_the_policy_figure_only() {
        // Red-rated Wednesday 10:00, decided 12:00: within everything.
        let red = one(&contact("2026-01-14T10:00:00Z").rated(Rating::Red).decided("2026-01-14T12:00:00Z"));
        assert_eq!(verdicts(&red), (1, 1, 1));
        // Decided 12:01: late by policy, still within 24 hours and one working day.
        let late = one(&contact("2026-01-14T10:00:00Z").immediate().decided("2026-01-14T12:01:00Z"));
        assert_eq!(verdicts(&late), (1, 1, 0));
        // Received 00:30 GMT as the clocks go forward, decided 03:30 BST: 3 hours by the
        // wall clock, 2 real hours, so in time.
        let spring = one(&contact("2026-03-29T00:30:00Z").immediate().decided("2026-03-29T02:30:00Z"));
        assert_eq!(verdicts(&spring), (1, 1, 1));
        assert_close(spring.decision_hours.max, 2.0);
        // An amber contact is not urgent: a day is fine.
        let amber = one(&contact("2026-01-14T10:00:00Z").rated(Rating::Amber).decided("2026-01-15T10:00:00Z"));
        assert_eq!(verdicts(&amber), (1, 1, 1));
    }

    #[test]
    fn a_revised_decision_keeps_the_first_decision_time() {
        // First decided (early help) at 11:00 the next day, revised later to an assessment:
        // 25 hours, and a referral by the decision in force.
        let c = contact("2026-01-14T10:00:00Z")
            .decided_as("2026-01-15T11:00:00Z", Outcome::EarlyHelp)
            .revised_to(Outcome::Assessment)
            .accepted("2026-01-20T10:00:00Z");
        let t = one(&c);
        assert_eq!(verdicts(&t), (0, 0, 0));
        assert_close(t.decision_hours.max, 25.0);
        assert_eq!(t.to_assessment_team.count, 1);
        assert_close(t.to_assessment_team.hours.max, 6.0 * 24.0);
        // Revised away from a referral after acceptance: no longer a referral.
        let t = one(&c.revised_to(Outcome::NoFurtherAction));
        assert_eq!((t.to_assessment_team.count, t.to_assessment_team.awaiting), (0, 0));
        assert_close(t.decision_hours.max, 25.0);
    }

    #[test]
    fn handovers_to_early_help_are_counted_like_those_to_the_assessment_team() {
        use crate::contact::TeamHandover;
        // Worked by hand: two early help handovers, one accepted 5 hours after receipt, one
        // returned twice and still awaiting; one Assessment Team handover accepted in 3 hours.
        let mut a = contact("2026-03-02T09:00:00Z").decided_as("2026-03-02T10:00:00Z", Outcome::EarlyHelp);
        a.handed_over.early_help =
            TeamHandover { sent: true, accepted_at: Some(at("2026-03-02T14:00:00Z")), returns: 0 };
        let mut b = contact("2026-03-03T09:00:00Z").decided_as("2026-03-03T10:00:00Z", Outcome::EarlyHelp);
        b.handed_over.early_help = TeamHandover { sent: true, accepted_at: None, returns: 2 };
        let mut c = contact("2026-03-04T09:00:00Z")
            .decided_as("2026-03-04T10:00:00Z", Outcome::Assessment)
            .accepted("2026-03-04T12:00:00Z");
        c.handed_over.assessment_team =
            TeamHandover { sent: true, accepted_at: Some(at("2026-03-04T12:00:00Z")), returns: 0 };
        let h = handovers(&[a, b, c, contact("2026-03-05T09:00:00Z")], d(2026, 3, 2), d(2026, 3, 8));
        let eh = &h.early_help;
        assert_eq!((eh.handed_over, eh.accepted, eh.awaiting, eh.returned, eh.returns), (2, 1, 1, 1, 2));
        assert_eq!(eh.hours_to_acceptance, Spread { median: Some(5.0), p90: Some(5.0), max: Some(5.0) });
        let at_team = &h.assessment_team;
        assert_eq!((at_team.handed_over, at_team.accepted, at_team.awaiting, at_team.returns), (1, 1, 0, 0));
        assert_eq!(at_team.hours_to_acceptance.max, Some(3.0));
    }

    #[test]
    fn time_to_the_assessment_team_immediate_and_others_apart() {
        let referral = |received: &str, hours: i64, outcome| {
            let accepted = at(received) + chrono::TimeDelta::hours(hours);
            contact(received).decided_as(received, outcome).accepted(&accepted.to_rfc3339())
        };
        let facts = vec![
            // Immediate: 1, 2, 3, 8 hours (by the flag or a red rating).
            referral("2026-03-02T09:00:00Z", 1, Outcome::StrategyDiscussion).immediate(),
            referral("2026-03-02T10:00:00Z", 8, Outcome::StrategyDiscussion).rated(Rating::Red),
            referral("2026-03-03T09:00:00Z", 3, Outcome::Assessment).immediate(),
            referral("2026-03-04T09:00:00Z", 2, Outcome::StrategyDiscussion).immediate().rated(Rating::Amber),
            // Others: 5, 10, 20, 30, 40, 50 hours.
            referral("2026-03-02T11:00:00Z", 50, Outcome::Assessment),
            referral("2026-03-03T11:00:00Z", 5, Outcome::Assessment).rated(Rating::Amber),
            referral("2026-03-04T11:00:00Z", 30, Outcome::Assessment),
            referral("2026-03-05T11:00:00Z", 10, Outcome::Assessment).rated(Rating::Green),
            referral("2026-03-09T11:00:00Z", 40, Outcome::Assessment),
            referral("2026-03-10T11:00:00Z", 20, Outcome::StrategyDiscussion),
            // Not counted in the times: awaiting acceptance (one of each), and not referrals.
            contact("2026-03-06T09:00:00Z").immediate().decided_as("2026-03-06T09:30:00Z", Outcome::StrategyDiscussion),
            contact("2026-03-10T09:00:00Z").decided_as("2026-03-10T09:30:00Z", Outcome::Assessment),
            contact("2026-03-10T09:00:00Z").decided_as("2026-03-10T09:30:00Z", Outcome::EarlyHelp),
            contact("2026-03-10T09:00:00Z").decided_as("2026-03-10T09:30:00Z", Outcome::ExistingCase),
            contact("2026-03-11T09:00:00Z"),
        ];
        let t = figures(&facts, d(2026, 3, 2), d(2026, 3, 15));
        let team = &t.to_assessment_team;
        // All ten sorted: 1 2 3 5 8 10 20 30 40 50 → median rank 5, p90 rank 9.
        assert_eq!((team.count, team.awaiting), (10, 2));
        assert_eq!(team.hours, Spread { median: Some(8.0), p90: Some(40.0), max: Some(50.0) });
        // Immediate 1 2 3 8: median rank 2, p90 rank ceil(3.6) = 4.
        assert_eq!((team.immediate.count, team.immediate.awaiting), (4, 1));
        assert_eq!(team.immediate.hours, Spread { median: Some(2.0), p90: Some(8.0), max: Some(8.0) });
        // Others 5 10 20 30 40 50: median rank 3, p90 rank ceil(5.4) = 6.
        assert_eq!((team.other.count, team.other.awaiting), (6, 1));
        assert_eq!(team.other.hours, Spread { median: Some(20.0), p90: Some(50.0), max: Some(50.0) });

        // By week of receipt: W10 (2–8 March) and W11 (9–15 March).
        assert_eq!(t.by_week.len(), 2);
        let (w10, w11) = (&t.by_week[0], &t.by_week[1]);
        assert_eq!((w10.week.week.as_str(), w11.week.week.as_str()), ("2026-W10", "2026-W11"));
        assert_eq!((w10.contacts, w10.decided, w11.contacts, w11.decided), (9, 9, 6, 5));
        // W10: immediate 1 8 3 2, others 50 5 30 10; W11: others 40 20.
        assert_eq!(w10.to_assessment_team.count, 8);
        assert_eq!(w10.to_assessment_team.hours, Spread { median: Some(5.0), p90: Some(50.0), max: Some(50.0) });
        assert_eq!(w10.to_assessment_team.immediate.hours.median, Some(2.0));
        assert_eq!((w10.to_assessment_team.awaiting, w11.to_assessment_team.awaiting), (1, 1));
        assert_eq!(w11.to_assessment_team.count, 2);
        assert_eq!(w11.to_assessment_team.hours, Spread { median: Some(20.0), p90: Some(40.0), max: Some(40.0) });
        assert_eq!(w11.to_assessment_team.immediate, TeamGroup::default());
    }

    #[test]
    fn the_period_includes_its_last_london_day_across_bst() {
        let facts = [
            contact("2026-06-30T22:30:00Z").decided("2026-06-30T23:00:00Z"), // 23:30 BST 30 June: in
            contact("2026-06-30T23:30:00Z").decided("2026-07-01T08:00:00Z"), // 00:30 BST 1 July: out
            contact("2026-05-31T23:30:00Z"),                                 // 00:30 BST 1 June: in
            contact("2026-05-31T22:59:00Z").decided("2026-06-01T08:00:00Z"), // 23:59 BST 31 May: out
        ];
        let t = figures(&facts, d(2026, 6, 1), d(2026, 6, 30));
        assert_eq!((t.contacts, t.decided, t.undecided), (2, 1, 1));
        assert_close(t.decision_hours.max, 0.5);
        assert_eq!(t.by_week.iter().map(|w| w.contacts).sum::<u64>(), 2);
    }

    #[test]
    fn iso_weeks_turn_at_london_midnight_between_sunday_and_monday() {
        let facts = [
            contact("2026-06-28T22:59:00Z"), // Sunday 28 June 23:59 BST
            contact("2026-06-28T23:00:00Z"), // Monday 29 June 00:00 BST
            contact("2026-06-29T10:00:00Z"),
        ];
        let t = figures(&facts, d(2026, 6, 22), d(2026, 7, 5));
        let weeks: Vec<(&str, u64)> = t.by_week.iter().map(|w| (w.week.week.as_str(), w.contacts)).collect();
        assert_eq!(weeks, [("2026-W26", 1), ("2026-W27", 2)]);
        assert_eq!(t.by_week[1].week.from, d(2026, 6, 29));
    }

    #[test]
    fn weeks_without_contacts_are_listed_with_nulls() {
        let facts = [contact("2026-03-02T09:00:00Z").decided("2026-03-02T10:00:00Z")];
        let t = figures(&facts, d(2026, 3, 2), d(2026, 3, 22));
        assert_eq!(t.by_week.len(), 3);
        let empty = &t.by_week[1];
        assert_eq!((empty.contacts, empty.decided), (0, 0));
        assert_eq!(empty.decision_hours, Spread::default());
    }

    #[test]
    fn nothing_received_gives_zeros_and_nulls() {
        let t = figures(&[], d(2026, 3, 2), d(2026, 3, 8));
        assert_eq!((t.contacts, t.decided, t.decided_within_24h), (0, 0, 0));
        assert_eq!((t.share_within_24h, t.share_within_one_working_day, t.share_within_policy), (None, None, None));
        assert_eq!(t.decision_hours, Spread::default());
        assert_eq!(t.to_assessment_team, ToAssessmentTeam::default());
    }

    #[test]
    fn shares_are_of_decided_contacts() {
        let facts = [
            contact("2026-01-14T09:00:00Z").decided("2026-01-14T10:00:00Z"), // 1 hour
            contact("2026-01-14T09:00:00Z").decided("2026-01-15T12:00:00Z"), // 27 hours, late
            contact("2026-01-16T17:00:00Z").decided("2026-01-19T10:00:00Z"), // 65 hours, in time
            contact("2026-01-14T09:00:00Z").decided("2026-01-14T13:00:00Z"), // 4 hours
            contact("2026-01-14T09:00:00Z"),                                 // undecided
        ];
        // Judged on 14 January at 10:00, the undecided contact is past no deadline yet.
        let early = figures_at(&facts, d(2026, 1, 12), d(2026, 1, 18), "2026-01-14T10:00:00Z");
        assert_eq!((early.share_within_24h, early.share_within_one_working_day), (Some(0.5), Some(0.75)));
        // Judged later, it is past all of them, and late in every share.
        let t = figures(&facts, d(2026, 1, 12), d(2026, 1, 18));
        assert_eq!((t.contacts, t.decided), (5, 4));
        assert_eq!((t.decided_within_24h, t.decided_within_one_working_day), (2, 3));
        assert_eq!(t.undecided_past_due, UndecidedPastDue { within_24h: 1, one_working_day: 1, policy: 1 });
        assert_eq!((t.share_within_24h, t.share_within_one_working_day), (Some(0.4), Some(0.6)));
        // 1 4 27 65: median rank 2, p90 rank 4.
        assert_eq!(t.decision_hours, Spread { median: Some(4.0), p90: Some(65.0), max: Some(65.0) });
        // The weeks add up to the period, and the order of the facts does not matter.
        let sum = |f: fn(&TimelinessWeek) -> u64| t.by_week.iter().map(f).sum::<u64>();
        assert_eq!(t.by_week.len(), 1);
        assert_eq!((sum(|w| w.contacts), sum(|w| w.decided_within_one_working_day)), (5, 3));
        let mut reversed = facts.to_vec();
        reversed.reverse();
        assert_eq!(figures(&reversed, d(2026, 1, 12), d(2026, 1, 18)), t);
    }

    #[test]
    fn the_policy_can_allow_more_working_days() {
        let facts = [contact("2026-01-14T09:00:00Z").decided("2026-01-16T09:00:00Z")];
        let two = DuePolicy { working_days: 2, ..DuePolicy::default() };
        let t = timeliness(&facts, d(2026, 1, 12), d(2026, 1, 18), &two, later());
        // One working day is the standard whatever the policy; the policy allows two.
        assert_eq!((t.decided_within_one_working_day, t.decided_within_policy), (0, 1));
    }

    #[test]
    fn json_has_the_fields_the_api_names() {
        let facts = [
            contact("2026-03-02T09:00:00Z").decided_as("2026-03-02T10:00:00Z", Outcome::Assessment),
            contact("2026-03-03T09:00:00Z"),
        ];
        let v = serde_json::to_value(figures(&facts, d(2026, 3, 2), d(2026, 3, 8))).unwrap();
        assert_eq!(v["contacts"], 2);
        assert_eq!(v["decided"], 1);
        assert_eq!(v["decided_within_24h"], 1);
        assert_eq!(v["decided_within_one_working_day"], 1);
        assert_eq!(v["decision_hours"], json!({"median": 1.0, "p90": 1.0, "max": 1.0}));
        assert_eq!(v["from"], "2026-03-02");
        let team = &v["to_assessment_team"];
        assert_eq!(team["count"], 0);
        assert_eq!(team["awaiting"], 1);
        assert_eq!(team["hours"], json!({"median": null, "p90": null, "max": null}));
        assert_eq!(
            team["immediate"],
            json!({"count": 0, "hours": {"median": null, "p90": null, "max": null}, "awaiting": 0})
        );
        assert_eq!(team["other"]["awaiting"], 1);
        let week = &v["by_week"][0];
        assert_eq!(week["week"], "2026-W10");
        assert_eq!((week["from"].as_str(), week["to"].as_str()), (Some("2026-03-02"), Some("2026-03-08")));
        assert_eq!(week["decided_within_one_working_day"], 1);
        assert_eq!(week["to_assessment_team"]["count"], 0);
        assert_eq!(v["judged_at"], "2030-01-01T00:00:00Z");
        assert_eq!(v["undecided_past_due"], json!({"within_24h": 1, "one_working_day": 1, "policy": 1}));
        assert_eq!(week["undecided_past_due"], json!({"within_24h": 1, "one_working_day": 1, "policy": 1}));
        assert_eq!(v["recorded_late"], json!({"decisions": 0, "acceptances": 0}));
        assert_eq!(week["recorded_late"], json!({"decisions": 0, "acceptances": 0}));
        // 1 in time of 1 decided and 1 past due.
        assert_eq!(v["share_within_24h"], 0.5);
    }

    #[test]
    fn undecided_contacts_count_past_their_own_deadline_at_the_moment_asked_about() {
        let facts = [
            // Friday 16 January 2026 17:00 GMT, undecided: past 24 hours on Saturday 17:00:01,
            // past one working day (and the policy's one working day) on Monday 17:00:01.
            contact("2026-01-16T17:00:00Z"),
            // Wednesday 10:00, decided within the hour: in time by every yardstick.
            contact("2026-01-14T10:00:00Z").decided("2026-01-14T11:00:00Z"),
            // Saturday 10:00, immediate risk, undecided: the policy allows 2 real hours.
            contact("2026-01-17T10:00:00Z").immediate(),
        ];
        let week = (d(2026, 1, 12), d(2026, 1, 18));
        let past_due = |now: &str| figures_at(&facts, week.0, week.1, now).undecided_past_due;
        let due = |within_24h, one_working_day, policy| UndecidedPastDue { within_24h, one_working_day, policy };
        // Saturday 11:00: nothing is past due yet.
        assert_eq!(past_due("2026-01-17T11:00:00Z"), due(0, 0, 0));
        // Saturday 12:00 exactly is the urgent contact's due time, still in time; a second
        // later it is late by the policy, not by 24 hours or one working day.
        assert_eq!(past_due("2026-01-17T12:00:00Z"), due(0, 0, 0));
        assert_eq!(past_due("2026-01-17T12:00:01Z"), due(0, 0, 1));
        // Saturday 18:00: Friday's contact is past 24 hours, not past one working day.
        let saturday = figures_at(&facts, week.0, week.1, "2026-01-17T18:00:00Z");
        assert_eq!(saturday.undecided_past_due, due(1, 0, 1));
        assert_eq!(saturday.judged_at, at("2026-01-17T18:00:00Z"));
        // Shares: 1 in time over 1 decided + that share's past due.
        assert_eq!(saturday.share_within_24h, Some(0.5));
        assert_eq!(saturday.share_within_one_working_day, Some(1.0));
        assert_eq!(saturday.share_within_policy, Some(0.5));
        // Monday 17:00 exactly is Friday's due time; 17:00:01 is past it. The Saturday
        // contact is due Tuesday 00:00 by one working day, and past 24 hours on Sunday 10:00:01.
        assert_eq!(past_due("2026-01-19T17:00:00Z"), due(2, 0, 1));
        assert_eq!(past_due("2026-01-19T17:00:01Z"), due(2, 1, 2));
        assert_eq!(past_due("2026-01-20T00:00:01Z"), due(2, 2, 2));
        let tuesday = figures_at(&facts, week.0, week.1, "2026-01-20T00:00:01Z");
        assert_eq!(
            (tuesday.share_within_24h, tuesday.share_within_one_working_day, tuesday.share_within_policy),
            (Some(1.0 / 3.0), Some(1.0 / 3.0), Some(1.0 / 3.0))
        );
        // The week's entry says the same.
        assert_eq!(tuesday.by_week[0].undecided_past_due, due(2, 2, 2));
        // Deciding a contact takes it out of past due and puts it in `decided`, late.
        let decided_late = [facts[0].clone().decided("2026-01-19T18:00:00Z"), facts[1].clone()];
        let t = figures_at(&decided_late, week.0, week.1, "2026-01-20T00:00:01Z");
        assert_eq!((t.decided, t.undecided_past_due), (2, due(0, 0, 0)));
        assert_eq!(t.share_within_one_working_day, Some(0.5));
        // Nothing decided and nothing past due: the shares are null.
        let none = figures_at(&facts[..1], week.0, week.1, "2026-01-16T18:00:00Z");
        assert_eq!((none.share_within_24h, none.share_within_policy), (None, None));
    }

    #[test]
    fn late_recording_is_visible_for_decisions_and_acceptances() {
        let facts = [
            // Decided Wednesday 10:00, recorded 24 hours later exactly: not late.
            contact("2026-01-14T09:00:00Z").decided("2026-01-14T10:00:00Z").decision_recorded("2026-01-15T10:00:00Z"),
            // Recorded a second over 24 hours later: late.
            contact("2026-01-14T09:00:00Z").decided("2026-01-14T10:00:00Z").decision_recorded("2026-01-15T10:00:01Z"),
            // Recorded at once, but a correction moved its time: late.
            contact("2026-01-14T09:00:00Z").decided("2026-01-14T10:00:00Z").decision_backdated(),
            // A referral accepted on Thursday, the acceptance recorded on Monday: late; its
            // decision recorded at once.
            contact("2026-01-14T09:00:00Z")
                .decided_as("2026-01-14T10:00:00Z", Outcome::Assessment)
                .accepted("2026-01-15T10:00:00Z")
                .acceptance_recorded("2026-01-19T09:00:00Z"),
            // An acceptance moved by a correction, and its decision recorded two days late.
            contact("2026-01-15T09:00:00Z")
                .decided_as("2026-01-15T10:00:00Z", Outcome::StrategyDiscussion)
                .decision_recorded("2026-01-17T10:00:00Z")
                .accepted("2026-01-15T12:00:00Z")
                .acceptance_backdated(),
            // Undecided: nothing recorded, nothing late.
            contact("2026-01-16T09:00:00Z"),
            // Received the week after: not in the period.
            contact("2026-01-19T09:00:00Z").decided("2026-01-19T10:00:00Z").decision_recorded("2026-01-23T10:00:00Z"),
        ];
        let t = figures(&facts, d(2026, 1, 12), d(2026, 1, 18));
        assert_eq!(t.recorded_late, RecordedLate { decisions: 3, acceptances: 2 });
        assert_eq!(t.by_week[0].recorded_late, RecordedLate { decisions: 3, acceptances: 2 });
        let late: Vec<(bool, bool)> = facts.iter().map(|c| recorded_late(c, &DuePolicy::default())).collect();
        assert_eq!(
            late,
            [(false, false), (true, false), (true, false), (false, true), (true, true), (false, false), (true, false)]
        );
        // A wider window makes the two-day-late decision and the four-day-late acceptance
        // timely; corrections stay late.
        let week = DuePolicy { late_entry_hours: 96, ..DuePolicy::default() };
        let t = timeliness(&facts, d(2026, 1, 12), d(2026, 1, 18), &week, later());
        assert_eq!(t.recorded_late, RecordedLate { decisions: 1, acceptances: 1 });
    }
}
