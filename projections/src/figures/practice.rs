//! Practice measures over a period: consent, the referrer told in time, decisions by level
//! of need (threshold consistency), action plans, revised decisions. Tyneside found consent
//! not consistently obtained and thresholds applied inconsistently; Nottinghamshire counts
//! action plans and decisions; these are the figures that show whether that changed.

use chrono::{DateTime, NaiveDate, Utc};
use events::schema::{Consent, Outcome};
use serde::Serialize;

use super::{Keyed, OneWorkingDay, Tally, received_in, share};
use crate::facts::ContactFacts;
use crate::time::Calendar;

/// The keys of "by level of need": the four levels, then decisions without one.
pub const LEVELS: [&str; 5] = ["1", "2", "3", "4", "unknown"];

/// Practice figures over a period (by receipt).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Practice {
    /// The period, London dates by receipt, both included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The locality whose contacts are counted (`?locality=`, see docs/FIGURES.md,
    /// "Localities"); `null` for every contact. Left `null` here: whoever chose the contacts
    /// counted says so.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub locality: Option<String>,
    /// The moment actions were judged overdue at: now for live figures.
    pub judged_at: DateTime<Utc>,
    pub contacts: u64,
    pub decided: u64,
    pub consent: ConsentFigures,
    pub referrer_informed: ReferrerInformed,
    /// Decided contacts by the level of need of the decision in force, each with its
    /// outcomes: `{"1": {"decisions": n, "outcomes": {...}}, ..., "unknown": {...}}`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, LevelRow>))]
    pub by_level_of_need: Keyed<LevelRow>,
    pub action_plans: ActionPlans,
    pub revised: Revised,
}

/// Consent as it stands on each contact (given at receipt or recorded since).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentFigures {
    /// Contacts whose consent is known: given, not given or overridden (not `unknown`).
    pub recorded: u64,
    /// `recorded / contacts`.
    pub share_recorded: Option<f64>,
    /// Contacts by consent as it stands: given, not_given, overridden, unknown.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub by_consent: Tally,
    /// Contacts where consent was overridden (asking would have put the child at risk).
    pub overridden: u64,
    /// Contacts with a `consent_recorded` event after receipt.
    pub recorded_after_receipt: u64,
}

/// The referrer told the outcome (first `referrer_informed`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ReferrerInformedFigures))]
pub struct ReferrerInformed {
    /// Contacts whose referrer has been informed, at any time.
    pub informed: u64,
    /// Contacts whose referrer was first informed within one working day of receipt.
    pub within_one_working_day: u64,
    /// `within_one_working_day / contacts`.
    pub share_within_one_working_day: Option<f64>,
    /// Contacts whose referrer has not been informed.
    pub not_informed: u64,
}

/// One level of need of [`Practice::by_level_of_need`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LevelRow {
    /// Decided contacts at this level.
    pub decisions: u64,
    /// Those contacts by the decision in force.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub outcomes: Tally,
}

/// Action plans agreed by the duty team.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionPlans {
    /// Contacts with at least one action plan.
    pub contacts: u64,
    /// `contacts / decided`.
    pub share_of_decided: Option<f64>,
    /// Action plans agreed in all.
    pub plans: u64,
    /// The plans' actions: done on time, done late, overdue.
    pub actions: PlanActions,
}

/// The actions of the action plans agreed (every action of every plan), by whether they were
/// done (`action_completed`) by the London date they were due.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanActions {
    /// Actions agreed in all.
    pub agreed: u64,
    /// Of those, actions done (at any time).
    pub done: u64,
    /// Done on or before the day they were due (London date of completion).
    pub done_on_time: u64,
    /// Done after the day they were due.
    pub done_late: u64,
    /// Not done, and the day they were due has passed at `judged_at`.
    pub overdue: u64,
    /// Not done: not due yet, or without a due date.
    pub open: u64,
    /// `done_on_time / (done_on_time + done_late + overdue)`: of the actions with a due date
    /// that were done or are past it, the share done in time.
    pub share_done_on_time: Option<f64>,
    /// `overdue / (done_on_time + done_late + overdue)`.
    pub share_overdue: Option<f64>,
}

impl PlanActions {
    fn add(&mut self, action: &crate::contact::PlanAction, today: NaiveDate) {
        self.agreed += 1;
        let done_on = action.completed_at.map(crate::time::london_date);
        match (done_on, action.due) {
            (Some(on), Some(due)) => {
                self.done += 1;
                if on <= due {
                    self.done_on_time += 1;
                } else {
                    self.done_late += 1;
                }
            }
            (Some(_), None) => self.done += 1,
            (None, Some(due)) if due < today => self.overdue += 1,
            (None, _) => self.open += 1,
        }
    }

    fn finish(mut self) -> PlanActions {
        let judged = self.done_on_time + self.done_late + self.overdue;
        self.share_done_on_time = share(self.done_on_time, judged);
        self.share_overdue = share(self.overdue, judged);
        self
    }
}

/// Decisions changed after they were made.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revised {
    /// Decided contacts whose decision was revised at least once.
    pub count: u64,
    /// `count / decided`.
    pub share_of_decided: Option<f64>,
    /// Revisions in all (a decision revised twice counts 2).
    pub revisions: u64,
}

/// Practice figures of the contacts in `facts` received from `from` to `to` (London dates,
/// both included); `calendar` decides what "one working day" is, `now` which actions are
/// overdue. Each figure is defined in `docs/FIGURES.md`.
pub fn practice<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> Practice {
    let today = crate::time::london_date(now);
    let mut actions = PlanActions::default();
    let one_day = OneWorkingDay::on(calendar);
    let outcomes = || Tally::zeros(Outcome::ALL.iter().map(|o| o.as_str()));
    let mut contacts = 0;
    let mut decided = 0;
    let mut by_consent = Tally::zeros(Consent::ALL.iter().map(|c| c.as_str()));
    let mut recorded_after_receipt = 0;
    let mut informed = 0;
    let mut informed_in_time = 0;
    let mut levels =
        Keyed(LEVELS.iter().map(|&level| (level, LevelRow { decisions: 0, outcomes: outcomes() })).collect());
    let mut with_plans = 0;
    let mut plans = 0;
    let mut revised = 0;
    let mut revisions = 0;
    for contact in received_in(facts, from, to) {
        contacts += 1;
        by_consent.add(contact.consent.as_str(), 1);
        recorded_after_receipt += u64::from(contact.consent_recorded);
        if let Some(at) = contact.referrer_informed_at {
            informed += 1;
            informed_in_time += u64::from(one_day.met(contact.received_at, at));
        }
        with_plans += u64::from(contact.action_plans > 0);
        plans += u64::from(contact.action_plans);
        for action in &contact.actions {
            actions.add(action, today);
        }
        if let Some(outcome) = contact.outcome {
            decided += 1;
            let row = levels.get_mut(level_key(contact.level_of_need)).expect("every level key is listed");
            row.decisions += 1;
            row.outcomes.add(outcome.as_str(), 1);
            revised += u64::from(contact.revisions > 0);
            revisions += u64::from(contact.revisions);
        }
    }
    let unknown = by_consent.get(Consent::Unknown.as_str());
    Practice {
        from,
        to,
        locality: None,
        judged_at: now,
        contacts,
        decided,
        consent: ConsentFigures {
            recorded: contacts - unknown,
            share_recorded: share(contacts - unknown, contacts),
            overridden: by_consent.get(Consent::Overridden.as_str()),
            by_consent,
            recorded_after_receipt,
        },
        referrer_informed: ReferrerInformed {
            informed,
            within_one_working_day: informed_in_time,
            share_within_one_working_day: share(informed_in_time, contacts),
            not_informed: contacts - informed,
        },
        by_level_of_need: levels,
        action_plans: ActionPlans {
            contacts: with_plans,
            share_of_decided: share(with_plans, decided),
            plans,
            actions: actions.finish(),
        },
        revised: Revised { count: revised, share_of_decided: share(revised, decided), revisions },
    }
}

/// The key of a level of need; a level outside 1–4 (the write side refuses one) is
/// counted as unknown rather than dropped.
fn level_key(level: Option<u8>) -> &'static str {
    match level {
        Some(1) => "1",
        Some(2) => "2",
        Some(3) => "3",
        Some(4) => "4",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use events::schema::{Consent, Outcome};
    use serde_json::json;

    use super::*;
    use crate::contact::PlanAction;
    use crate::figures::testing::{at, contact, d};

    fn figures(facts: &[ContactFacts]) -> Practice {
        practice(facts, d(2026, 1, 12), d(2026, 1, 18), &Calendar::default(), at("2026-01-20T12:00:00Z"))
    }

    #[test]
    fn consent_known_as_it_stands_and_overrides_apart() {
        let facts = [
            contact("2026-01-12T09:00:00Z").consent(Consent::Given, false),
            contact("2026-01-12T10:00:00Z").consent(Consent::Given, true),
            contact("2026-01-13T09:00:00Z").consent(Consent::Overridden, true),
            contact("2026-01-13T10:00:00Z").consent(Consent::NotGiven, false),
            contact("2026-01-14T09:00:00Z").consent(Consent::Unknown, false),
        ];
        let p = figures(&facts);
        assert_eq!((p.consent.recorded, p.consent.overridden, p.consent.recorded_after_receipt), (4, 1, 2));
        assert_eq!(p.consent.share_recorded, Some(0.8));
        assert_eq!(
            p.consent.by_consent.iter().collect::<Vec<_>>(),
            [("given", 2), ("not_given", 1), ("overridden", 1), ("unknown", 1)]
        );
    }

    #[test]
    fn referrer_informed_within_one_working_day_of_receipt() {
        let facts = [
            // Friday 17:00, informed Monday 17:00: in time.
            contact("2026-01-16T17:00:00Z").informed("2026-01-19T17:00:00Z"),
            // Friday 17:00, informed Monday 17:01: late.
            contact("2026-01-16T17:00:00Z").informed("2026-01-19T17:01:00Z"),
            // Saturday, informed Monday 23:59: in time (clock starts Monday 00:00).
            contact("2026-01-17T10:00:00Z").informed("2026-01-19T23:59:00Z"),
            // Not informed.
            contact("2026-01-14T10:00:00Z"),
        ];
        let p = figures(&facts);
        let r = &p.referrer_informed;
        assert_eq!((r.informed, r.within_one_working_day, r.not_informed), (3, 2, 1));
        assert_eq!(r.share_within_one_working_day, Some(0.5));
    }

    #[test]
    fn decisions_by_level_of_need_with_their_outcomes() {
        let facts = [
            contact("2026-01-12T09:00:00Z").decided_as("2026-01-12T10:00:00Z", Outcome::Assessment).level(4),
            contact("2026-01-12T09:00:00Z").decided_as("2026-01-12T10:00:00Z", Outcome::StrategyDiscussion).level(4),
            // Level 4 with no further action: the inconsistency the table is for.
            contact("2026-01-12T09:00:00Z").decided("2026-01-12T10:00:00Z").level(4),
            contact("2026-01-13T09:00:00Z").decided_as("2026-01-13T10:00:00Z", Outcome::EarlyHelp).level(2),
            contact("2026-01-13T09:00:00Z").decided_as("2026-01-13T10:00:00Z", Outcome::EarlyHelp),
            contact("2026-01-13T09:00:00Z"),
        ];
        let p = figures(&facts);
        assert_eq!((p.contacts, p.decided), (6, 5));
        let decisions: Vec<(&str, u64)> = p.by_level_of_need.0.iter().map(|(k, row)| (*k, row.decisions)).collect();
        assert_eq!(decisions, [("1", 0), ("2", 1), ("3", 0), ("4", 3), ("unknown", 1)]);
        let four = &p.by_level_of_need.get("4").unwrap().outcomes;
        assert_eq!(
            (four.get("assessment"), four.get("strategy_discussion"), four.get("no_further_action"), four.total()),
            (1, 1, 1, 3)
        );
        assert_eq!(p.by_level_of_need.get("unknown").unwrap().outcomes.get("early_help"), 1);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["by_level_of_need"]["2"]["decisions"], 1);
        assert_eq!(json["by_level_of_need"]["1"]["outcomes"]["assessment"], 0);
    }

    #[test]
    fn action_plans_and_revised_decisions_as_shares_of_decided() {
        let facts = [
            contact("2026-01-12T09:00:00Z").decided("2026-01-12T10:00:00Z").plans(2),
            contact("2026-01-12T09:00:00Z")
                .decided_as("2026-01-12T10:00:00Z", Outcome::EarlyHelp)
                .revised_to(Outcome::Assessment)
                .revised_to(Outcome::StrategyDiscussion)
                .plans(1),
            contact("2026-01-13T09:00:00Z").decided("2026-01-13T10:00:00Z"),
            contact("2026-01-13T09:00:00Z").decided("2026-01-13T10:00:00Z"),
            contact("2026-01-14T09:00:00Z"),
        ];
        let p = figures(&facts);
        assert_eq!((p.action_plans.contacts, p.action_plans.share_of_decided, p.action_plans.plans), (2, Some(0.5), 3));
        assert_eq!(p.revised, Revised { count: 1, share_of_decided: Some(0.25), revisions: 2 });
    }

    fn action(due: Option<NaiveDate>, done: Option<&str>) -> PlanAction {
        PlanAction {
            plan_event_id: ulid::Ulid(1),
            index: 0,
            owner_agency: events::schema::Agency::Education,
            due,
            completed_at: done.map(at),
        }
    }

    #[test]
    fn actions_done_on_time_late_or_overdue_judged_on_london_dates() {
        // Judged Tuesday 20 January 2026 at noon.
        let mut with_plan = contact("2026-01-12T09:00:00Z").decided("2026-01-12T10:00:00Z").plans(1);
        with_plan.actions = vec![
            // Done on the day it was due, late in the evening: on time.
            action(Some(d(2026, 1, 14)), Some("2026-01-14T23:30:00Z")),
            // Done the day after: late.
            action(Some(d(2026, 1, 14)), Some("2026-01-15T08:00:00Z")),
            // Due yesterday, not done: overdue.
            action(Some(d(2026, 1, 19)), None),
            // Due today, not done: open (not overdue until the day is over).
            action(Some(d(2026, 1, 20)), None),
            // No due date: done counts, open counts, never late.
            action(None, Some("2026-01-16T10:00:00Z")),
            action(None, None),
        ];
        // Outside the period: not counted.
        let mut outside = contact("2026-01-19T09:00:00Z").decided("2026-01-19T10:00:00Z").plans(1);
        outside.actions = vec![action(Some(d(2026, 1, 19)), None)];
        let a = figures(&[with_plan, outside]).action_plans.actions;
        assert_eq!((a.agreed, a.done, a.done_on_time, a.done_late, a.overdue, a.open), (6, 3, 1, 1, 1, 2), "{a:?}");
        assert_eq!(a.share_done_on_time, Some(1.0 / 3.0));
        assert_eq!(a.share_overdue, Some(1.0 / 3.0));
        let none = figures(&[contact("2026-01-12T09:00:00Z")]).action_plans.actions;
        assert_eq!((none.agreed, none.share_done_on_time, none.share_overdue), (0, None, None));
    }

    #[test]
    fn nothing_received_gives_zeros_and_nulls() {
        let p = figures(&[contact("2026-01-19T09:00:00Z")]); // after the period
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["contacts"], 0);
        assert_eq!(json["consent"]["share_recorded"], json!(null));
        assert_eq!(json["referrer_informed"]["share_within_one_working_day"], json!(null));
        assert_eq!(json["revised"], json!({"count": 0, "share_of_decided": null, "revisions": 0}));
    }
}
