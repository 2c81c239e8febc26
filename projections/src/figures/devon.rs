//! Devon's appendix table ("MASH: average weekly contacts and outcomes"): the children named
//! in contacts ("child and siblings") as weekly averages by weekday and channel, and the
//! outcome split, as weekly averages by weekday and as shares of the period's children.
//!
//! Unit: the child. A contact about three siblings adds 3 to its weekday and channel, and 3
//! to its outcome, as Devon's table counts "child and siblings". The contacts themselves are
//! given alongside. Each figure is defined in `docs/FIGURES.md` (section "Devon's table").

use chrono::{Datelike, NaiveDate};
use events::schema::{Channel, Outcome};
use serde::Serialize;

use super::volumes::UNDECIDED;
use super::{Keyed, Tally, WEEKDAYS, received_in, share};
use crate::facts::ContactFacts;
use crate::time::weekday_name;

/// Devon's table over a period (by London date of receipt, both ends included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevonTable {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The period's length in weeks: its days ÷ 7 (2 for a fortnight, `1.5714…` for 11 days).
    pub weeks: f64,
    /// Monday to Sunday: each weekday's counts divided by the number of times that weekday
    /// falls in the period.
    pub by_weekday: Vec<DevonRow>,
    /// The period's counts divided by [`DevonTable::weeks`].
    pub weekly_average: DevonRow,
    /// The period's counts, and each outcome's share of the children.
    pub totals: DevonTotals,
}

/// One row of Devon's table: weekly averages (unrounded).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevonRow {
    /// `Monday` … `Sunday`, or `all` for the weekly average of the whole period.
    pub weekday: &'static str,
    /// How many times this weekday falls in the period (the divisor); for `all`, 0.
    pub days: u64,
    /// Children named, by channel of the contact, in the schema's order.
    pub children_by_channel: Keyed<f64>,
    /// Children named, all channels.
    pub children: f64,
    /// Contacts received.
    pub contacts: f64,
    /// Children by the decision in force on their contact, in the schema's order, then
    /// `undecided`.
    pub outcomes: Keyed<f64>,
}

/// The period's counts behind Devon's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevonTotals {
    pub contacts: u64,
    pub children: u64,
    pub children_by_channel: Tally,
    /// Children by the decision in force on their contact, then `undecided`.
    pub outcomes: Tally,
    /// Each outcome's children ÷ all children (`null` when no child was named).
    pub outcome_shares: Keyed<Option<f64>>,
}

fn channels() -> Tally {
    Tally::zeros(Channel::ALL.iter().map(|c| c.as_str()))
}

fn outcomes() -> Tally {
    Tally::zeros(Outcome::ALL.iter().map(|o| o.as_str()).chain([UNDECIDED]))
}

#[derive(Clone)]
struct Counts {
    contacts: u64,
    children: u64,
    by_channel: Tally,
    outcomes: Tally,
}

impl Counts {
    fn new() -> Counts {
        Counts { contacts: 0, children: 0, by_channel: channels(), outcomes: outcomes() }
    }

    fn add(&mut self, contact: &ContactFacts) {
        let children = u64::from(contact.children);
        self.contacts += 1;
        self.children += children;
        self.by_channel.add(contact.channel.as_str(), children);
        self.outcomes.add(contact.outcome.map_or(UNDECIDED, Outcome::as_str), children);
    }

    // Counts and day numbers stay far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    fn averaged(&self, weekday: &'static str, days: u64, divisor: f64) -> DevonRow {
        let avg = |n: u64| if divisor > 0.0 { n as f64 / divisor } else { 0.0 };
        DevonRow {
            weekday,
            days,
            children_by_channel: Keyed(self.by_channel.iter().map(|(k, n)| (k, avg(n))).collect()),
            children: avg(self.children),
            contacts: avg(self.contacts),
            outcomes: Keyed(self.outcomes.iter().map(|(k, n)| (k, avg(n))).collect()),
        }
    }
}

/// How many times each weekday (Monday first) falls from `from` to `to`, both included.
fn weekday_days(from: NaiveDate, to: NaiveDate) -> [u64; 7] {
    if from > to {
        return [0; 7];
    }
    let total = u64::try_from((to - from).num_days() + 1).unwrap_or(0);
    let mut days = [total / 7; 7];
    // The remaining days, from the weekday of `from` on.
    let start = u64::from(from.weekday().num_days_from_monday());
    for k in 0..total % 7 {
        let i = usize::try_from((start + k) % 7).unwrap_or(0);
        days[i] += 1;
    }
    days
}

/// Devon's table for the contacts of `facts` received from `from` to `to`.
#[allow(clippy::cast_precision_loss)]
pub fn devon_table<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
) -> DevonTable {
    let mut by_day: Vec<Counts> = vec![Counts::new(); 7];
    let mut all = Counts::new();
    for contact in received_in(facts, from, to) {
        let name = weekday_name(contact.received_at);
        let i = WEEKDAYS.iter().position(|d| *d == name).expect("a weekday name");
        by_day[i].add(contact);
        all.add(contact);
    }
    let days = weekday_days(from, to);
    let total_days: u64 = days.iter().sum();
    let weeks = total_days as f64 / 7.0;
    DevonTable {
        from,
        to,
        weeks,
        by_weekday: by_day
            .iter()
            .zip(WEEKDAYS)
            .zip(days)
            .map(|((counts, weekday), n)| counts.averaged(weekday, n, n as f64))
            .collect(),
        weekly_average: all.averaged("all", 0, weeks),
        totals: DevonTotals {
            contacts: all.contacts,
            children: all.children,
            outcome_shares: Keyed(all.outcomes.iter().map(|(k, n)| (k, share(n, all.children))).collect()),
            children_by_channel: all.by_channel,
            outcomes: all.outcomes,
        },
    }
}

#[cfg(test)]
mod tests {
    use events::schema::{Channel, Outcome, SourceCode};

    use super::*;
    use crate::figures::testing::{assert_close, contact, d};

    #[test]
    fn weekdays_are_counted_in_the_period() {
        // Monday 2 to Wednesday 11 March 2026: Monday to Wednesday twice, the rest once.
        assert_eq!(weekday_days(d(2026, 3, 2), d(2026, 3, 11)), [2, 2, 2, 1, 1, 1, 1]);
        assert_eq!(weekday_days(d(2026, 3, 2), d(2026, 3, 15)), [2; 7]);
        assert_eq!(weekday_days(d(2026, 3, 3), d(2026, 3, 2)), [0; 7]);
    }

    /// A fortnight (Monday 2 to Sunday 15 March 2026, GMT) worked out by hand:
    ///
    /// | received            | channel      | children | decision in force   |
    /// |---------------------|--------------|---------:|---------------------|
    /// | Mon 2 Mar 09:00     | phone        | 1        | early_help          |
    /// | Tue 3 Mar 10:00     | email        | 2        | not_accepted        |
    /// | Mon 9 Mar 09:00     | phone        | 3        | assessment          |
    /// | Mon 9 Mar 14:00     | online_form  | 1        | no_further_action   |
    /// | Fri 13 Mar 16:00    | phone        | 1        | (undecided)         |
    /// | Sat 14 Mar 02:00    | police_notif.| 1        | strategy_discussion |
    /// | Mon 16 Mar (outside the period) | phone | 5 | assessment           |
    ///
    /// Each weekday falls twice, so every weekday figure is its count ÷ 2, and the weekly
    /// average is the fortnight's count ÷ 2. Expected table (children, weekly averages):
    ///
    /// | Weekday  | Phone | Online form | Email | Police | Children | Contacts |
    /// |----------|------:|------------:|------:|-------:|---------:|---------:|
    /// | Monday   | 2.0   | 0.5         | 0     | 0      | 2.5      | 1.5      |
    /// | Tuesday  | 0     | 0           | 1.0   | 0      | 1.0      | 0.5      |
    /// | Friday   | 0.5   | 0           | 0     | 0      | 0.5      | 0.5      |
    /// | Saturday | 0     | 0           | 0     | 0.5    | 0.5      | 0.5      |
    /// | Weekly   | 2.5   | 0.5         | 1.0   | 0.5    | 4.5      | 3.0      |
    ///
    /// Outcomes, children over the fortnight (9): strategy_discussion 1 (11.1%), assessment 3
    /// (33.3%), early_help 1 (11.1%), no_further_action 1 (11.1%), not_accepted 2 (22.2%),
    /// undecided 1 (11.1%); Monday's weekly averages: assessment 1.5, early_help 0.5,
    /// no_further_action 0.5.
    fn fortnight() -> Vec<ContactFacts> {
        vec![
            contact("2026-03-02T09:00:00Z").decided_as("2026-03-02T12:00:00Z", Outcome::EarlyHelp),
            contact("2026-03-03T10:00:00Z")
                .via(Channel::Email, SourceCode::FamilyMember)
                .children(2)
                .decided_as("2026-03-03T12:00:00Z", Outcome::NotAccepted),
            contact("2026-03-09T09:00:00Z").children(3).decided_as("2026-03-09T11:00:00Z", Outcome::Assessment),
            contact("2026-03-09T14:00:00Z").via(Channel::OnlineForm, SourceCode::Gp).decided("2026-03-09T16:00:00Z"),
            contact("2026-03-13T16:00:00Z"),
            contact("2026-03-14T02:00:00Z")
                .via(Channel::PoliceNotification, SourceCode::Police)
                .decided_as("2026-03-14T03:00:00Z", Outcome::StrategyDiscussion),
            contact("2026-03-16T09:00:00Z").children(5).decided_as("2026-03-16T11:00:00Z", Outcome::Assessment),
        ]
    }

    #[test]
    fn devons_table_is_rebuilt_from_a_fortnight_worked_by_hand() {
        let t = devon_table(&fortnight(), d(2026, 3, 2), d(2026, 3, 15));
        assert_close(Some(t.weeks), 2.0);
        let row = |day: &str| t.by_weekday.iter().find(|r| r.weekday == day).unwrap();
        let ch = |r: &DevonRow, c: &str| *r.children_by_channel.get(c).unwrap();
        // (weekday, phone, online_form, email, police_notification, children, contacts)
        let expected = [
            ("Monday", 2.0, 0.5, 0.0, 0.0, 2.5, 1.5),
            ("Tuesday", 0.0, 0.0, 1.0, 0.0, 1.0, 0.5),
            ("Wednesday", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            ("Thursday", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            ("Friday", 0.5, 0.0, 0.0, 0.0, 0.5, 0.5),
            ("Saturday", 0.0, 0.0, 0.0, 0.5, 0.5, 0.5),
            ("Sunday", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        ];
        for (day, phone, form, email, police, children, contacts) in expected {
            let r = row(day);
            assert_eq!(r.days, 2, "{day}");
            let got = (ch(r, "phone"), ch(r, "online_form"), ch(r, "email"), ch(r, "police_notification"));
            assert_eq!(got, (phone, form, email, police), "{day} by channel");
            assert_eq!((r.children, r.contacts), (children, contacts), "{day}");
        }
        let w = &t.weekly_average;
        assert_eq!(
            (ch(w, "phone"), ch(w, "online_form"), ch(w, "email"), ch(w, "police_notification"), ch(w, "in_person")),
            (2.5, 0.5, 1.0, 0.5, 0.0)
        );
        assert_eq!((w.children, w.contacts), (4.5, 3.0));
        let monday = row("Monday");
        assert_eq!(monday.outcomes.get("assessment"), Some(&1.5));
        assert_eq!(monday.outcomes.get("early_help"), Some(&0.5));
        assert_eq!(monday.outcomes.get("no_further_action"), Some(&0.5));
        assert_eq!(monday.outcomes.get("not_accepted"), Some(&0.0));
        assert_eq!((t.totals.children, t.totals.contacts), (9, 6));
        let expected_outcomes = [
            ("strategy_discussion", 1, 1.0 / 9.0),
            ("assessment", 3, 3.0 / 9.0),
            ("early_help", 1, 1.0 / 9.0),
            ("advice_and_signpost", 0, 0.0),
            ("no_further_action", 1, 1.0 / 9.0),
            ("existing_case", 0, 0.0),
            ("not_accepted", 2, 2.0 / 9.0),
            ("undecided", 1, 1.0 / 9.0),
        ];
        let keys: Vec<&str> = t.totals.outcomes.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, expected_outcomes.iter().map(|(k, _, _)| *k).collect::<Vec<_>>());
        for (k, n, s) in expected_outcomes {
            assert_eq!(t.totals.outcomes.get(k), n, "{k}");
            assert_close(*t.totals.outcome_shares.get(k).unwrap(), s);
        }
    }

    #[test]
    fn an_empty_period_has_zeros_and_no_shares() {
        let t = devon_table(&fortnight(), d(2026, 4, 6), d(2026, 4, 12));
        assert_eq!((t.totals.children, t.weekly_average.children), (0, 0.0));
        assert_eq!(t.totals.outcome_shares.get("assessment"), Some(&None));
    }
}
