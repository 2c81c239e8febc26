//! The council's figures, computed from [`ContactFacts`]: decision timeliness and time to
//! the Assessment Team, weekly volumes, practice measures, and the case-audit sample.
//!
//! Every function here is pure: the same facts, period and policy give the same figures on
//! any machine, today or in ten years, which is what lets an inspector re-run a figure from
//! the log. Each figure's exact definition is in `docs/FIGURES.md`; the rules shared by all
//! of them are here:
//!
//! - **Period**: `from` and `to` are London calendar dates and both are included; a contact
//!   belongs to the period of the London date it was *received* on (not the UTC date, and
//!   not the date of its decision). A later decision, revision or acceptance changes the
//!   figures of the week the contact was received in.
//! - **Weeks**: ISO 8601 weeks (Monday to Sunday) of the London receipt date, labelled
//!   like `2026-W09`. Every week that overlaps the period is listed, in order, including
//!   weeks with no contacts; the first and last may be partial (`from`/`to` of each week
//!   say which days were counted).
//! - **Shares** are fractions from 0 to 1, unrounded, and `null` when their denominator is 0.
//! - **Spreads** (`{median, p90, max}`) use the nearest-rank method, see [`nearest_rank`]:
//!   each is a value that was actually observed, and `null` when there are none.
//!
//! # Layout
//!
//! - [`timeliness`](mod@timeliness): received → first decision, received → accepted by the Assessment Team.
//! - [`volumes`](mod@volumes): contacts, channels, sources, weekdays, outcomes, referrals, re-contacts.
//! - [`practice`](mod@practice): consent, referrer informed, threshold consistency, action plans, revisions.
//! - [`consultations`]: professional consultations per week and by source, and those a contact followed.
//! - [`devon`]: Devon's appendix table, children by weekday and channel and the outcome split.
//! - [`trends`]: partners' trends, by source and week, small counts suppressed.
//! - [`sample`]: the reproducible random sample of decided contacts for case audit.

pub mod consultations;
pub mod devon;
pub mod feedback;
pub mod practice;
pub mod sample;
pub mod timeliness;
pub mod trends;
pub mod volumes;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::facts::ContactFacts;
use crate::time::{Calendar, DuePolicy};

pub use consultations::{ConsultationFigures, consultation_figures};
pub use devon::{DevonTable, devon_table};
pub use practice::{Practice, practice};
pub use sample::{SplitMix64, audit_sample, audit_sample_of};
pub use timeliness::{Timeliness, timeliness};
pub use trends::{Trends, trends};
pub use volumes::{Volumes, volumes};

/// Whether a contact was received on a London date from `from` to `to`, both included.
pub fn in_period(facts: &ContactFacts, from: NaiveDate, to: NaiveDate) -> bool {
    (from..=to).contains(&facts.received_on())
}

/// The contacts of `facts` received in the period.
fn received_in<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
) -> impl Iterator<Item = &'a ContactFacts> {
    facts.into_iter().filter(move |f| in_period(f, from, to))
}

/// The one-working-day yardstick (Working Together 2023) on a calendar: a time is within
/// one working day of receipt when it is no later than the due-by of a non-urgent contact
/// under a one-working-day policy (same London time on the next working day; received on
/// a non-working day, 00:00 of the working day after the next working day). Used for
/// decisions and for informing the referrer alike, and for every contact, urgent or not:
/// the urgent rule is a separate figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneWorkingDay(DuePolicy);

impl OneWorkingDay {
    pub fn on(calendar: &Calendar) -> OneWorkingDay {
        OneWorkingDay(DuePolicy {
            working_days: 1,
            urgent_hours: 0,
            calendar: calendar.clone(),
            ..DuePolicy::default()
        })
    }

    /// The end of the working day allowed for a contact received at `received_at`.
    pub fn due_by(&self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        self.0.due_by(received_at, false)
    }

    /// Whether `at` is within one working day of `received_at` (the due instant included).
    pub fn met(&self, received_at: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        at <= self.due_by(received_at)
    }
}

/// Whether `at` is no more than 24 real hours after `received_at` (exactly 24 hours is
/// within).
fn within_24_hours(received_at: DateTime<Utc>, at: DateTime<Utc>) -> bool {
    at - received_at <= TimeDelta::hours(24)
}

/// `part / whole`, or `None` when `whole` is 0.
// Counts of contacts stay far below 2^53, above which u64 → f64 would round.
#[allow(clippy::cast_precision_loss)]
pub fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The value at nearest rank `percent` of ascending `sorted` values: the value at rank
/// `ceil(percent / 100 × n)` counting from 1 (rank 1 at least), so the 90th percentile of
/// 10 values is the 9th, the median (50th) of 10 values is the 5th and of 2 values the
/// 1st, and every result is a value that was observed. `None` for no values.
pub fn nearest_rank(sorted: &[f64], percent: u32) -> Option<f64> {
    let n = u64::try_from(sorted.len()).ok()?;
    let rank = (u64::from(percent) * n).div_ceil(100).clamp(1, n.max(1));
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// Median, 90th percentile and maximum of a set of durations, by nearest rank; each
/// `null` when there are no values.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Spread {
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
}

impl Spread {
    /// The spread of `values` (in any order).
    pub fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        Spread { median: nearest_rank(&values, 50), p90: nearest_rank(&values, 90), max: nearest_rank(&values, 100) }
    }
}

/// Counts under fixed keys, in a fixed order, every key present even when 0; serialised
/// as a JSON object (`{"phone": 3, "online_form": 0, ...}`) in that order, so the output
/// is the same byte for byte from run to run and a reader sees what was zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally(Keyed<u64>);

impl Tally {
    /// A tally of 0 under each key, in the order given.
    pub fn zeros(keys: impl IntoIterator<Item = &'static str>) -> Tally {
        Tally(Keyed(keys.into_iter().map(|k| (k, 0)).collect()))
    }

    /// Adds `n` under `key`.
    ///
    /// # Panics
    /// If `key` is not one of the tally's keys (a programming error: the keys are the
    /// complete list of values).
    pub fn add(&mut self, key: &str, n: u64) {
        *self.0.get_mut(key).unwrap_or_else(|| panic!("tally has no key {key:?}")) += n;
    }

    /// The count under `key` (0 for a key the tally does not have).
    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// The sum of all counts.
    pub fn total(&self) -> u64 {
        self.0.0.iter().map(|(_, n)| n).sum()
    }

    /// The keys and counts, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.0.iter().map(|&(k, n)| (k, n))
    }
}

impl Serialize for Tally {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Values under fixed keys in a fixed order, serialised as a JSON object in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<T>(pub Vec<(&'static str, T)>);

impl<T> Keyed<T> {
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        self.0.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl<T: Serialize> Serialize for Keyed<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The London weekday names in week order, the keys of "by weekday".
pub const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// An ISO week, as far as it lies inside a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Week {
    /// ISO 8601 week label, e.g. `2026-W09` (the year is the ISO week-year).
    pub week: String,
    /// The first and last London dates of the week counted: Monday and Sunday, or the
    /// period's `from`/`to` where the week is cut by it.
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The ISO week label of a London date, e.g. `2026-W09`; the same label as
/// [`crate::time::iso_week_label`] gives for an instant on that date.
pub fn week_label(date: NaiveDate) -> String {
    let week = date.iso_week();
    format!("{:04}-W{:02}", week.year(), week.week())
}

/// The Monday that starts the ISO week of `date`.
fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

/// Every ISO week that overlaps the period, ascending, each cut to the period, paired
/// with an accumulator from `init`. Empty when `from` is after `to`.
///
/// One entry per week of the period: the caller (the HTTP layer) bounds the period.
fn weeks_of<A>(from: NaiveDate, to: NaiveDate, init: impl Fn() -> A) -> Vec<(Week, A)> {
    let mut weeks = Vec::new();
    let mut monday = monday_of(from);
    while monday <= to {
        let sunday = monday.checked_add_days(Days::new(6)).unwrap_or(NaiveDate::MAX);
        weeks.push((Week { week: week_label(monday), from: monday.max(from), to: sunday.min(to) }, init()));
        match monday.checked_add_days(Days::new(7)) {
            Some(next) => monday = next,
            None => break,
        }
    }
    weeks
}

/// The index in [`weeks_of`]`(from, ..)` of the week holding `date` (a date in the period).
fn week_index(from: NaiveDate, date: NaiveDate) -> usize {
    let weeks = (monday_of(date) - monday_of(from)).num_weeks();
    usize::try_from(weeks).expect("a date in the period is not before its first week")
}

#[cfg(test)]
pub(crate) mod testing {
    //! Given-facts helpers: a contact as the figures see it, built in one line.

    use chrono::{DateTime, NaiveDate, Utc};
    use events::schema::{Channel, Consent, Outcome, Rating, SourceCode};
    use ulid::Ulid;

    use crate::facts::ContactFacts;

    pub fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    pub fn assert_close(actual: Option<f64>, expected: f64) {
        let actual = actual.unwrap_or_else(|| panic!("expected {expected}, got null"));
        assert!((actual - expected).abs() < 1e-9, "expected {expected}, got {actual}");
    }

    /// A phone contact from a school about one child, received at `received`, undecided;
    /// its id is made from the receipt time.
    pub fn contact(received: &str) -> ContactFacts {
        let received_at = at(received);
        ContactFacts {
            contact_id: Ulid::from_parts(u64::try_from(received_at.timestamp_millis()).unwrap(), 0),
            received_at,
            channel: Channel::Phone,
            source: SourceCode::School,
            district: None,
            children: 1,
            immediate_risk: false,
            rating: None,
            consent: Consent::Unknown,
            consent_recorded: false,
            first_decision_at: None,
            first_outcome: None,
            first_decision_recorded_at: None,
            first_decision_backdated: false,
            outcome: None,
            level_of_need: None,
            revisions: 0,
            recommended: None,
            decided_at: None,
            strategy_discussion: None,
            assessment_team_accepted_at: None,
            assessment_team_accepted_recorded_at: None,
            acceptance_backdated: false,
            handed_over: crate::contact::HandedOver::default(),
            referrer_informed_at: None,
            action_plans: 0,
            actions: Vec::new(),
            concern_categories: Vec::new(),
            closed_at: None,
            previous_contacts: 0,
            referrer_feedback: None,
            sources: crate::facts::FactSources::default(),
        }
    }

    impl ContactFacts {
        pub fn id(mut self, n: u128) -> Self {
            self.contact_id = Ulid(n);
            self
        }

        /// First decided at `when` with `outcome` (still in force), recorded at once.
        pub fn decided_as(mut self, when: &str, outcome: Outcome) -> Self {
            self.first_decision_at = Some(at(when));
            self.first_decision_recorded_at = Some(at(when));
            self.first_outcome = Some(outcome);
            self.outcome = Some(outcome);
            self.decided_at = Some(at(when));
            self
        }

        /// A strategy discussion held at `when` with `outcome` (the first one counts), after the
        /// decision in force.
        pub fn discussed(mut self, when: &str, outcome: events::schema::StrategyOutcome) -> Self {
            let decided_at = self.decided_at.expect("a discussion follows a decision");
            self.strategy_discussion =
                Some(crate::contact::StrategyDiscussion { held_at: at(when), outcome, decided_at });
            self
        }

        /// First decided at `when`: no further action.
        pub fn decided(self, when: &str) -> Self {
            self.decided_as(when, Outcome::NoFurtherAction)
        }

        /// The decision revised (once more) to `outcome`; the first decision time stays.
        pub fn revised_to(mut self, outcome: Outcome) -> Self {
            assert!(self.first_decision_at.is_some(), "only a decided contact is revised");
            self.outcome = Some(outcome);
            self.revisions += 1;
            self
        }

        /// The concern categories in force.
        pub fn categories(mut self, codes: &[&'static str]) -> Self {
            self.concern_categories = codes.to_vec();
            self
        }

        /// A duty discussion recommended `outcome` before the decision in force.
        pub fn recommended(mut self, outcome: Outcome) -> Self {
            self.recommended = Some(outcome);
            self
        }

        pub fn level(mut self, level: u8) -> Self {
            self.level_of_need = Some(level);
            self
        }

        /// Accepted by the Assessment Team at `when`, recorded at once.
        pub fn accepted(mut self, when: &str) -> Self {
            self.assessment_team_accepted_at = Some(at(when));
            self.assessment_team_accepted_recorded_at = Some(at(when));
            self
        }

        /// The first decision recorded (entered in the log) at `when`.
        pub fn decision_recorded(mut self, when: &str) -> Self {
            assert!(self.first_decision_at.is_some(), "only a decision is recorded");
            self.first_decision_recorded_at = Some(at(when));
            self
        }

        /// The acceptance by the Assessment Team recorded at `when`.
        pub fn acceptance_recorded(mut self, when: &str) -> Self {
            assert!(self.assessment_team_accepted_at.is_some(), "only an acceptance is recorded");
            self.assessment_team_accepted_recorded_at = Some(at(when));
            self
        }

        /// A correction moved the first decision's time.
        pub fn decision_backdated(mut self) -> Self {
            self.first_decision_backdated = true;
            self
        }

        /// A correction moved the acceptance's time.
        pub fn acceptance_backdated(mut self) -> Self {
            self.acceptance_backdated = true;
            self
        }

        pub fn immediate(mut self) -> Self {
            self.immediate_risk = true;
            self
        }

        pub fn rated(mut self, rating: Rating) -> Self {
            self.rating = Some(rating);
            self
        }

        pub fn via(mut self, channel: Channel, source: SourceCode) -> Self {
            self.channel = channel;
            self.source = source;
            self
        }

        /// The first child's postcode is in `district` (e.g. `EX31`).
        pub fn in_district(mut self, district: &str) -> Self {
            self.district = Some(crate::locality::District::parse(district).expect("a postcode district"));
            self
        }

        pub fn children(mut self, n: u32) -> Self {
            self.children = n;
            self
        }

        pub fn previous(mut self, n: u32) -> Self {
            self.previous_contacts = n;
            self
        }

        pub fn consent(mut self, consent: Consent, recorded_later: bool) -> Self {
            self.consent = consent;
            self.consent_recorded = recorded_later;
            self
        }

        pub fn informed(mut self, when: &str) -> Self {
            self.referrer_informed_at = Some(at(when));
            self
        }

        pub fn plans(mut self, n: u32) -> Self {
            self.action_plans = n;
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{at, contact, d};
    use super::*;

    #[test]
    fn nearest_rank_of_one_value_is_that_value() {
        let s = Spread::of(vec![7.5]);
        assert_eq!(s, Spread { median: Some(7.5), p90: Some(7.5), max: Some(7.5) });
    }

    #[test]
    fn nearest_rank_of_two_values_takes_the_lower_as_median() {
        // Rank ceil(0.5 × 2) = 1 for the median, ceil(0.9 × 2) = 2 for p90: both observed
        // values, never the mean 2.0.
        let s = Spread::of(vec![3.0, 1.0]);
        assert_eq!(s, Spread { median: Some(1.0), p90: Some(3.0), max: Some(3.0) });
    }

    #[test]
    fn nearest_rank_of_ten_values() {
        let s = Spread::of(vec![10.0, 2.0, 9.0, 4.0, 7.0, 1.0, 6.0, 3.0, 8.0, 5.0]);
        assert_eq!(s, Spread { median: Some(5.0), p90: Some(9.0), max: Some(10.0) });
        // Eleven values: median rank 6, p90 rank ceil(9.9) = 10.
        let s = Spread::of((1..=11).map(f64::from).collect());
        assert_eq!(s, Spread { median: Some(6.0), p90: Some(10.0), max: Some(11.0) });
    }

    #[test]
    fn nearest_rank_of_nothing_is_null() {
        assert_eq!(Spread::of(Vec::new()), Spread { median: None, p90: None, max: None });
        assert_eq!(serde_json::to_string(&Spread::default()).unwrap(), r#"{"median":null,"p90":null,"max":null}"#);
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[1.0, 2.0], 0), Some(1.0), "rank is at least 1");
    }

    #[test]
    fn shares_are_fractions_and_null_without_a_denominator() {
        assert_eq!(share(1, 4), Some(0.25));
        assert_eq!(share(0, 3), Some(0.0));
        assert_eq!(share(0, 0), None);
    }

    #[test]
    fn the_period_is_by_london_receipt_date_both_ends_included() {
        let (from, to) = (d(2026, 6, 1), d(2026, 6, 30));
        // 00:30 BST on 1 June is 23:30 UTC on 31 May: in.
        assert!(in_period(&contact("2026-05-31T23:30:00Z"), from, to));
        // 23:59 BST on 31 May: out.
        assert!(!in_period(&contact("2026-05-31T22:59:00Z"), from, to));
        // 23:30 BST on 30 June: in; 00:30 BST on 1 July (still 30 June in UTC): out.
        assert!(in_period(&contact("2026-06-30T22:30:00Z"), from, to));
        assert!(!in_period(&contact("2026-06-30T23:30:00Z"), from, to));
        // In winter London is UTC.
        assert!(in_period(&contact("2026-01-31T23:59:59Z"), d(2026, 1, 31), d(2026, 1, 31)));
        assert!(!in_period(&contact("2026-02-01T00:00:00Z"), d(2026, 1, 31), d(2026, 1, 31)));
        // A backwards period holds nothing.
        assert!(!in_period(&contact("2026-06-15T12:00:00Z"), to, from));
    }

    #[test]
    fn weeks_cover_the_period_cut_at_its_ends_and_cross_the_iso_year() {
        let weeks: Vec<Week> = weeks_of(d(2026, 12, 30), d(2027, 1, 12), || ()).into_iter().map(|(w, ())| w).collect();
        assert_eq!(
            weeks,
            [
                // 1 January 2027 is a Friday, so it is in the last ISO week of 2026.
                Week { week: "2026-W53".into(), from: d(2026, 12, 30), to: d(2027, 1, 3) },
                Week { week: "2027-W01".into(), from: d(2027, 1, 4), to: d(2027, 1, 10) },
                Week { week: "2027-W02".into(), from: d(2027, 1, 11), to: d(2027, 1, 12) },
            ]
        );
        assert_eq!(week_index(d(2026, 12, 30), d(2027, 1, 3)), 0);
        assert_eq!(week_index(d(2026, 12, 30), d(2027, 1, 11)), 2);
        assert!(weeks_of(d(2026, 3, 2), d(2026, 3, 1), || ()).is_empty());
    }

    #[test]
    fn week_labels_agree_with_the_time_rules() {
        for instant in ["2026-06-28T22:59:00Z", "2026-06-28T23:00:00Z", "2027-01-01T12:00:00Z", "2026-03-02T00:00:00Z"]
        {
            let instant = at(instant);
            assert_eq!(week_label(crate::time::london_date(instant)), crate::time::iso_week_label(instant));
        }
    }

    #[test]
    fn one_working_day_is_judged_on_the_calendar_given() {
        let day = OneWorkingDay::on(&Calendar::default());
        // Friday 17:00 → due Monday 17:00, inclusive.
        assert!(day.met(at("2026-01-16T17:00:00Z"), at("2026-01-19T17:00:00Z")));
        assert!(!day.met(at("2026-01-16T17:00:00Z"), at("2026-01-19T17:00:01Z")));
        // With Monday 19 January made a holiday, Tuesday 17:00 is in time.
        let day = OneWorkingDay::on(&Calendar { additions: vec![d(2026, 1, 19)], ..Calendar::default() });
        assert_eq!(day.due_by(at("2026-01-16T17:00:00Z")), at("2026-01-20T17:00:00Z"));
        assert!(day.met(at("2026-01-16T17:00:00Z"), at("2026-01-20T17:00:00Z")));
    }

    #[test]
    fn tally_keeps_its_order_and_zeros() {
        let mut t = Tally::zeros(["b", "a", "c"]);
        t.add("a", 2);
        t.add("c", 1);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"b":0,"a":2,"c":1}"#);
        assert_eq!((t.get("a"), t.get("zzz"), t.total()), (2, 0, 3));
    }
}
