//! Time rules behind the council's figures: the Europe/London wall clock, England and
//! Wales bank holidays, working days and the due-by policy.
//!
//! They live in one place because "within one working day" (Working Together 2023) is
//! the yardstick of half the figures: if the duty queue and the timeliness report
//! disagreed about what a working day is, neither could be trusted (Tyneside's lesson).
//!
//! Everything here is a pure function of its arguments: no clock is read and the tz
//! database is compiled in (chrono-tz), so replaying the log on any machine, in any
//! year, gives the same due times and the same figures. (chrono-tz tabulates London's
//! clock changes through 2099; later instants are treated as GMT all year.)
//!
//! Local-time rules, applied everywhere a London wall-clock time is turned back into an
//! instant (see [`from_london`]):
//! - a time in the spring gap (01:00–02:00 on the last Sunday of March does not exist)
//!   moves forward to the first instant that exists, 02:00 BST (01:00 UTC);
//! - a time in the autumn repeated hour (01:00–02:00 on the last Sunday of October
//!   happens twice) takes the earlier instant, the BST one.

use chrono::{
    DateTime, Datelike, Days, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Europe::London;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// Europe/London
// ---------------------------------------------------------------------------------------

/// The London wall-clock reading of an instant, with its offset (GMT +00:00 or BST
/// +01:00), so callers can both group by local date and show an unambiguous time.
pub fn to_london(instant: DateTime<Utc>) -> DateTime<FixedOffset> {
    instant.with_timezone(&London).fixed_offset()
}

/// The London calendar date of an instant: the date a duty team would write down, and
/// the one working-day rules are judged on (a contact at 23:30 UTC in June is already
/// the next day in London).
pub fn london_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&London).date_naive()
}

/// The instant at which London clocks show `local`.
///
/// Total and deterministic, because due times are computed as "the same wall-clock time
/// on another day" and that time may not exist or may exist twice:
/// - in the spring gap it returns the first instant after the gap, 01:00 UTC (02:00
///   BST), whatever time in the gap was asked for: never later than the wall clock would
///   have shown, so a due time is not pushed back by the clock change;
/// - in the autumn repeated hour it returns the earlier (BST) instant, so a due time is
///   never the later of two candidates.
pub fn from_london(local: NaiveDateTime) -> DateTime<Utc> {
    match London.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        LocalResult::None => first_instant_after_gap(local),
    }
}

/// London's UTC offset at an instant, in seconds.
fn london_offset_secs(instant: DateTime<Utc>) -> i32 {
    instant.with_timezone(&London).offset().fix().local_minus_utc()
}

/// The transition instant that ends the gap `local` falls in.
///
/// chrono-tz does not expose transitions, so bisect on whole seconds (tz transitions
/// are on whole seconds) between the two readings of `local`: with the offset in force
/// after the gap it is before the transition, with the one before the gap it is after.
/// London's transitions are months apart, so the offsets 12 hours either side are the
/// ones before and after this gap.
fn first_instant_after_gap(local: NaiveDateTime) -> DateTime<Utc> {
    let wall = local.and_utc();
    let before = london_offset_secs(wall - TimeDelta::hours(12));
    let after = london_offset_secs(wall + TimeDelta::hours(12));
    // Invariant: `lo` is still on the old offset, `hi` already on the new one.
    let mut lo = (wall - TimeDelta::seconds(i64::from(after))).timestamp();
    let mut hi = lo + i64::from(after - before) + 1;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if london_offset_secs(from_timestamp(mid)) == after {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    from_timestamp(hi)
}

fn from_timestamp(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("timestamp near a London clock change")
}

/// Real elapsed hours from `start` to `end` (negative if `end` is earlier), so a
/// weekend spanning a clock change counts 71 or 73 hours, as the child waited.
pub fn hours_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    (end - start).as_seconds_f64() / 3600.0
}

/// ISO 8601 week of an instant's London date, e.g. "2026-W09": the week the figures
/// group by. The year is the ISO week-year, so 1 January 2027 is in "2026-W53"; the
/// label sorts in time order as text.
pub fn iso_week_label(instant: DateTime<Utc>) -> String {
    let week = london_date(instant).iso_week();
    format!("{:04}-W{:02}", week.year(), week.week())
}

/// English name of an instant's London weekday, e.g. "Monday", for "contacts by
/// weekday" (Devon), where a contact at 00:30 BST on Monday belongs to Monday.
pub fn weekday_name(instant: DateTime<Utc>) -> &'static str {
    match london_date(instant).weekday() {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

// ---------------------------------------------------------------------------------------
// Bank holidays
// ---------------------------------------------------------------------------------------

/// Builds a date in a const context; only used on literal dates known to be valid.
const fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(date) => date,
        None => panic!("invalid literal date"),
    }
}

/// Proclaimed one-off bank holidays in England and Wales since the current rules
/// began (1978), including moved spring and early May bank holidays.
const KNOWN_ADDITIONS: [NaiveDate; 13] = [
    date(1981, 7, 29),  // Wedding of the Prince of Wales
    date(1995, 5, 8),   // VE Day 50th anniversary (early May bank holiday moved)
    date(1999, 12, 31), // Millennium
    date(2002, 6, 3),   // Spring bank holiday moved for the Golden Jubilee
    date(2002, 6, 4),   // Golden Jubilee
    date(2011, 4, 29),  // Royal wedding
    date(2012, 6, 4),   // Spring bank holiday moved for the Diamond Jubilee
    date(2012, 6, 5),   // Diamond Jubilee
    date(2020, 5, 8),   // VE Day 75th anniversary (early May bank holiday moved)
    date(2022, 6, 2),   // Spring bank holiday moved for the Platinum Jubilee
    date(2022, 6, 3),   // Platinum Jubilee
    date(2022, 9, 19),  // State funeral of Queen Elizabeth II
    date(2023, 5, 8),   // Coronation of King Charles III
];

/// Rule-based dates that were working days because the holiday was moved (to one of
/// the [`KNOWN_ADDITIONS`]).
const KNOWN_REMOVALS: [NaiveDate; 5] = [
    date(1995, 5, 1),  // early May, moved to 8 May
    date(2002, 5, 27), // spring, moved to 3 June
    date(2012, 5, 28), // spring, moved to 4 June
    date(2020, 5, 4),  // early May, moved to 8 May
    date(2022, 5, 30), // spring, moved to 2 June
];

/// Easter Sunday (Gregorian) of `year`, by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher); exposed because Good Friday and Easter Monday hang off it.
///
/// Euclidean division keeps it correct for proleptic years before 1 as well.
///
/// # Panics
/// If `year` is outside chrono's `NaiveDate` range.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n.div_euclid(31)).expect("Easter is in March or April");
    let day = u32::try_from(n.rem_euclid(31) + 1).expect("day of month is positive");
    ymd(year, month, day)
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("year within chrono's date range")
}

/// The latest Monday on or before `date`.
fn monday_on_or_before(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

/// The eight holidays the standing rules give every year (before one-offs).
///
/// Weekend substitution follows GOV.UK: a holiday on a Saturday or Sunday moves to the
/// next weekday not already a holiday, so Christmas on a Saturday gives Monday 27 and
/// Tuesday 28, and Christmas on a Sunday gives Monday 26 (Boxing Day) and Tuesday 27
/// (substitute for Christmas).
fn rule_holidays(year: i32) -> [NaiveDate; 8] {
    let new_year = ymd(year, 1, 1);
    let new_year = match new_year.weekday() {
        Weekday::Sat => ymd(year, 1, 3),
        Weekday::Sun => ymd(year, 1, 2),
        _ => new_year,
    };
    let easter = easter_sunday(year);
    let christmas = ymd(year, 12, 25);
    let (christmas, boxing_day) = match christmas.weekday() {
        Weekday::Fri => (christmas, ymd(year, 12, 28)),
        Weekday::Sat => (ymd(year, 12, 27), ymd(year, 12, 28)),
        Weekday::Sun => (ymd(year, 12, 27), ymd(year, 12, 26)),
        _ => (christmas, ymd(year, 12, 26)),
    };
    [
        new_year,
        easter - Days::new(2),                 // Good Friday
        easter + Days::new(1),                 // Easter Monday
        monday_on_or_before(ymd(year, 5, 7)),  // Early May: first Monday of May
        monday_on_or_before(ymd(year, 5, 31)), // Spring: last Monday of May
        monday_on_or_before(ymd(year, 8, 31)), // Summer: last Monday of August
        christmas,
        boxing_day,
    ]
}

/// The holiday calendar: England and Wales bank holidays for any year, as standing
/// rules plus one-off changes, so a proclaimed holiday (a coronation, a state funeral)
/// is a config change rather than a release.
///
/// The standing rules are today's (since 1978): New Year's Day, Good Friday, Easter
/// Monday, first and last Mondays of May, last Monday of August, Christmas and Boxing
/// Day, with weekend substitutes. Years before 1978 follow the same rules, not history.
///
/// One-offs come in two layers. The known ones (2022 Jubilee and state funeral, 2023
/// Coronation, the moved 2020 early May and 2002/2012/2022 spring holidays, the 2011
/// and 1981 royal weddings, the 1999 millennium, VE Day 1995 and 2020) are built in and
/// switched on by `known_one_offs`, so a config that adds next year's proclamation
/// cannot drop past ones by accident and change old figures. `additions` and `removals`
/// are the council's own. A date in any removal list is never a holiday: a removal is
/// always a deliberate statement that the day was worked.
///
/// Config (e.g. TOML), every field optional:
/// `known_one_offs = true`, `additions = ["2027-06-07"]`, `removals = []`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Calendar {
    /// Apply the built-in one-offs listed above (default `true`).
    pub known_one_offs: bool,
    /// Extra bank holidays, as ISO dates (default none).
    pub additions: Vec<NaiveDate>,
    /// Rule-based or added dates that are not holidays after all (default none).
    pub removals: Vec<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Self { known_one_offs: true, additions: Vec::new(), removals: Vec::new() }
    }
}

impl Calendar {
    fn is_removed(&self, date: NaiveDate) -> bool {
        self.removals.contains(&date) || (self.known_one_offs && KNOWN_REMOVALS.contains(&date))
    }

    fn is_added(&self, date: NaiveDate) -> bool {
        self.additions.contains(&date) || (self.known_one_offs && KNOWN_ADDITIONS.contains(&date))
    }

    /// Whether `date` is an England and Wales bank holiday under this calendar.
    pub fn is_bank_holiday(&self, date: NaiveDate) -> bool {
        !self.is_removed(date) && (rule_holidays(date.year()).contains(&date) || self.is_added(date))
    }

    /// All bank holidays of `year`, sorted: for showing the calendar the figures use
    /// next to the figures, and for checking it against GOV.UK.
    ///
    /// # Panics
    /// If `year` is outside chrono's `NaiveDate` range.
    pub fn bank_holidays(&self, year: i32) -> Vec<NaiveDate> {
        let added = self
            .additions
            .iter()
            .chain(if self.known_one_offs { &KNOWN_ADDITIONS[..] } else { &[] })
            .copied()
            .filter(|d| d.year() == year);
        let mut days: Vec<NaiveDate> =
            rule_holidays(year).into_iter().chain(added).filter(|&d| !self.is_removed(d)).collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// Monday to Friday and not a bank holiday. `date` is a London date: turn instants
    /// into one with [`london_date`], never with the UTC date.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.is_bank_holiday(date)
    }

    /// The first working day strictly after `date` (so the same as
    /// `add_working_days(date, 1)`): where a clock that starts "on the next working
    /// day" starts.
    ///
    /// # Panics
    /// At the end of chrono's date range.
    pub fn next_working_day(&self, date: NaiveDate) -> NaiveDate {
        let mut day = date;
        loop {
            day = day.succ_opt().expect("date before the end of chrono's range");
            if self.is_working_day(day) {
                return day;
            }
        }
    }

    /// The date `n` working days after `date`: stepping forward a day at a time and
    /// counting only working days, so `n = 0` is `date` itself, whatever day it is, and
    /// Thursday before Easter plus one is the Tuesday after.
    ///
    /// # Panics
    /// At the end of chrono's date range.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        (0..n).fold(date, |day, _| self.next_working_day(day))
    }

    /// Elapsed working time from `start` to `end`, in working days: only time that falls
    /// on a London working day counts, each working day counting 1 (so Friday 17:00 to
    /// Monday 09:00 is 7/24 + 9/24 = 0.667). Negative if `end` is earlier, so events
    /// recorded out of order show up in the figures instead of hiding as zero.
    ///
    /// Each day's share is measured against that day's real length, so a 23- or 25-hour
    /// day would still count 1; in London those are Sundays anyway.
    pub fn working_days_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
        if end < start {
            return -self.working_days_between(end, start);
        }
        let mut total = 0.0;
        let mut day = london_date(start);
        let last = london_date(end);
        while day <= last {
            let next = day.succ_opt().expect("date before the end of chrono's range");
            if self.is_working_day(day) {
                let day_start = from_london(day.and_time(NaiveTime::MIN));
                let day_end = from_london(next.and_time(NaiveTime::MIN));
                let from = start.max(day_start);
                let to = end.min(day_end);
                if to > from {
                    total += (to - from).as_seconds_f64() / (day_end - day_start).as_seconds_f64();
                }
            }
            day = next;
        }
        total
    }
}

// ---------------------------------------------------------------------------------------
// Due by
// ---------------------------------------------------------------------------------------

/// When a contact is due a decision. Policy, not law: the defaults follow Working
/// Together 2023 (a decision within one working day of a referral) and the published
/// RAG scheme (red: within 2 hours), and a council can change them in config, e.g.
/// `working_days = 1`, `urgent_hours = 2`, `[calendar] additions = [...]`.
///
/// Non-urgent rule, in London local time:
/// - received on a working day: due at the same wall-clock time `working_days` working
///   days later (Friday 18:30 → Monday 18:30; Thursday before Easter 10:00 → Tuesday
///   after Easter 10:00);
/// - received on a weekend or bank holiday: the clock starts at 00:00 of the next
///   working day and runs `working_days` full working days, so it is due at 00:00 of
///   the working day after that (Saturday → Tuesday 00:00, i.e. by the end of Monday;
///   Good Friday 2026 → clock starts Tuesday 7 April, due Wednesday 8 April 00:00);
/// - a due wall-clock time that falls in a clock change follows [`from_london`].
///
/// Urgent (red-rated or immediate risk): `urgent_hours` real hours after receipt, any
/// day, any hour, clock changes included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DuePolicy {
    /// Working days allowed for a decision (default 1).
    pub working_days: u32,
    /// Hours allowed for a red-rated or immediate-risk contact (default 2).
    pub urgent_hours: u32,
    /// Hours allowed for the receiving team to accept the handover of a red-rated or
    /// immediate-risk contact, from `handover_sent`, any day (default 2).
    pub urgent_handover_hours: u32,
    /// Working days allowed for the receiving team to accept any other handover (default 1).
    pub handover_working_days: u32,
    /// An event recorded more than this many hours after it occurred is a late entry: the
    /// request needs a `late_entry_reason`, and the figures count it as recorded late
    /// (default 24).
    pub late_entry_hours: u32,
    /// Which days are working days.
    pub calendar: Calendar,
}

impl Default for DuePolicy {
    fn default() -> Self {
        Self {
            working_days: 1,
            urgent_hours: 2,
            urgent_handover_hours: 2,
            handover_working_days: 1,
            late_entry_hours: 24,
            calendar: Calendar::default(),
        }
    }
}

impl DuePolicy {
    /// When a contact received at `received_at` is due a decision; `urgent` for red-rated
    /// or immediate-risk contacts. See the type's documentation for the rule.
    pub fn due_by(&self, received_at: DateTime<Utc>, urgent: bool) -> DateTime<Utc> {
        if urgent {
            return received_at + TimeDelta::hours(i64::from(self.urgent_hours));
        }
        self.working_days_after(received_at, self.working_days)
    }

    /// When a handover sent at `sent_at` is due to be accepted by the receiving team: for a
    /// red-rated or immediate-risk contact (`urgent`), [`urgent_handover_hours`](Self::urgent_handover_hours)
    /// real hours after it was sent, any day, any hour; for any other,
    /// [`handover_working_days`](Self::handover_working_days) working days after, by the same
    /// working-day rule as [`due_by`](Self::due_by) (sent on a weekend or bank holiday: the
    /// clock starts at 00:00 of the next working day).
    pub fn handover_due_by(&self, sent_at: DateTime<Utc>, urgent: bool) -> DateTime<Utc> {
        if urgent {
            return sent_at + TimeDelta::hours(i64::from(self.urgent_handover_hours));
        }
        self.working_days_after(sent_at, self.handover_working_days)
    }

    /// `days` working days after `start`, by the rule of [`due_by`](Self::due_by).
    fn working_days_after(&self, start: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let local = to_london(start).naive_local();
        let (start_day, start_time) = if self.calendar.is_working_day(local.date()) {
            (local.date(), local.time())
        } else {
            (self.calendar.next_working_day(local.date()), NaiveTime::MIN)
        };
        let due_day = self.calendar.add_working_days(start_day, days);
        from_london(due_day.and_time(start_time))
    }

    /// Whether an event that occurred at `occurred_at` and was recorded at `recorded_at` was
    /// recorded late: more than [`late_entry_hours`](Self::late_entry_hours) after it occurred.
    pub fn recorded_late(&self, occurred_at: DateTime<Utc>, recorded_at: DateTime<Utc>) -> bool {
        recorded_at - occurred_at > TimeDelta::hours(i64::from(self.late_entry_hours))
    }

    /// Overdue only strictly after the due instant: a decision made at the due time is
    /// on time, like "within one working day".
    pub fn is_overdue(&self, due_by: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now > due_by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        ymd(y, m, day)
    }

    /// An instant from RFC 3339 text, with an explicit offset so each test says which
    /// London reading it means.
    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    fn local(y: i32, m: u32, day: u32, h: u32, min: u32, s: u32) -> NaiveDateTime {
        d(y, m, day).and_hms_opt(h, min, s).unwrap()
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "expected {expected}, got {actual}");
    }

    // --- Europe/London -----------------------------------------------------------------

    #[test]
    fn to_london_shows_gmt_in_winter_and_bst_in_summer() {
        assert_eq!(to_london(at("2026-01-15T12:00:00Z")).to_rfc3339(), "2026-01-15T12:00:00+00:00");
        assert_eq!(to_london(at("2026-07-01T12:00:00Z")).to_rfc3339(), "2026-07-01T13:00:00+01:00");
        // Clocks go forward at 01:00 UTC on 29 March 2026 and back at 01:00 UTC on 25 October.
        assert_eq!(to_london(at("2026-03-29T00:59:59Z")).to_rfc3339(), "2026-03-29T00:59:59+00:00");
        assert_eq!(to_london(at("2026-03-29T01:00:00Z")).to_rfc3339(), "2026-03-29T02:00:00+01:00");
        assert_eq!(to_london(at("2026-10-25T00:59:59Z")).to_rfc3339(), "2026-10-25T01:59:59+01:00");
        assert_eq!(to_london(at("2026-10-25T01:00:00Z")).to_rfc3339(), "2026-10-25T01:00:00+00:00");
    }

    #[test]
    fn clock_changes_are_known_far_ahead() {
        // The compiled-in database must not stop at 2037 (the 32-bit horizon): due times
        // in 2038 and beyond still need BST. chrono-tz 0.10 tabulates through 2099.
        for (year, day) in [(2038, 28), (2060, 28), (2099, 29)] {
            let change = Utc.with_ymd_and_hms(year, 3, day, 1, 0, 0).unwrap();
            assert_eq!(to_london(change - TimeDelta::seconds(1)).offset().local_minus_utc(), 0, "{year}");
            assert_eq!(to_london(change).offset().local_minus_utc(), 3600, "{year}");
            assert_eq!(from_london(d(year, 3, day).and_hms_opt(1, 30, 0).unwrap()), change);
        }
    }

    #[test]
    fn london_date_differs_from_utc_date_near_midnight_in_summer() {
        assert_eq!(london_date(at("2026-06-28T23:30:00Z")), d(2026, 6, 29));
        assert_eq!(london_date(at("2026-01-31T23:30:00Z")), d(2026, 1, 31));
    }

    #[test]
    fn from_london_converts_ordinary_times() {
        assert_eq!(from_london(local(2026, 1, 15, 9, 0, 0)), at("2026-01-15T09:00:00Z"));
        assert_eq!(from_london(local(2026, 7, 1, 9, 0, 0)), at("2026-07-01T08:00:00Z"));
    }

    #[test]
    fn from_london_moves_a_spring_gap_time_to_the_end_of_the_gap() {
        assert_eq!(from_london(local(2026, 3, 29, 0, 59, 59)), at("2026-03-29T00:59:59Z"));
        for (h, m, s) in [(1, 0, 0), (1, 30, 0), (1, 59, 59)] {
            assert_eq!(from_london(local(2026, 3, 29, h, m, s)), at("2026-03-29T01:00:00Z"), "{h}:{m}:{s}");
        }
        let with_nanos = d(2026, 3, 29).and_hms_nano_opt(1, 15, 0, 500_000_000).unwrap();
        assert_eq!(from_london(with_nanos), at("2026-03-29T01:00:00Z"));
        assert_eq!(from_london(local(2026, 3, 29, 2, 0, 0)), at("2026-03-29T01:00:00Z"));
        // Another year, to show the gap is found, not hard-coded.
        assert_eq!(from_london(local(2027, 3, 28, 1, 30, 0)), at("2027-03-28T01:00:00Z"));
    }

    #[test]
    fn from_london_takes_the_earlier_instant_in_the_autumn_repeated_hour() {
        assert_eq!(from_london(local(2026, 10, 25, 1, 0, 0)), at("2026-10-25T00:00:00Z"));
        assert_eq!(from_london(local(2026, 10, 25, 1, 30, 0)), at("2026-10-25T00:30:00Z"));
        assert_eq!(from_london(local(2026, 10, 25, 2, 0, 0)), at("2026-10-25T02:00:00Z"));
    }

    #[test]
    fn from_london_round_trips_every_quarter_hour_of_a_year_but_the_repeated_hour() {
        let mut t = at("2026-01-01T00:00:00Z");
        let end = at("2027-01-01T00:00:00Z");
        while t < end {
            let back = from_london(to_london(t).naive_local());
            let second_reading = t >= at("2026-10-25T01:00:00Z") && t < at("2026-10-25T02:00:00Z");
            if second_reading {
                assert_eq!(back, t - TimeDelta::hours(1), "{t}");
            } else {
                assert_eq!(back, t, "{t}");
            }
            t += TimeDelta::minutes(15);
        }
    }

    #[test]
    fn hours_between_counts_real_hours_across_clock_changes() {
        let spring = hours_between(at("2026-03-27T12:00:00Z"), at("2026-03-30T11:00:00Z"));
        assert_close(spring, 71.0); // Friday 12:00 GMT to Monday 12:00 BST
        let autumn = hours_between(at("2026-10-23T11:00:00Z"), at("2026-10-26T12:00:00Z"));
        assert_close(autumn, 73.0); // Friday 12:00 BST to Monday 12:00 GMT
        assert_close(hours_between(at("2026-01-02T10:30:00Z"), at("2026-01-02T10:00:00Z")), -0.5);
    }

    #[test]
    fn iso_week_label_uses_london_date_and_iso_week_year() {
        assert_eq!(iso_week_label(at("2026-02-23T09:00:00Z")), "2026-W09");
        assert_eq!(iso_week_label(at("2026-02-22T23:59:59Z")), "2026-W08");
        // Sunday 23:30 UTC in summer is Monday 00:30 BST: a new week.
        assert_eq!(iso_week_label(at("2026-06-28T23:30:00Z")), "2026-W27");
        assert_eq!(iso_week_label(at("2026-06-28T22:30:00Z")), "2026-W26");
        assert_eq!(iso_week_label(at("2027-01-01T12:00:00Z")), "2026-W53");
        assert_eq!(iso_week_label(at("2025-12-29T12:00:00Z")), "2026-W01");
    }

    #[test]
    fn weekday_name_uses_london_date() {
        assert_eq!(weekday_name(at("2026-06-28T22:30:00Z")), "Sunday");
        assert_eq!(weekday_name(at("2026-06-28T23:30:00Z")), "Monday");
        let names: Vec<&str> = (0..7).map(|i| weekday_name(at("2026-01-05T12:00:00Z") + TimeDelta::days(i))).collect();
        assert_eq!(names, ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]);
    }

    // --- Bank holidays -----------------------------------------------------------------

    #[test]
    fn easter_sunday_matches_known_dates() {
        for (year, m, day) in [
            (1818, 3, 22), // earliest possible
            (1943, 4, 25), // latest possible
            (2000, 4, 23),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
            (2285, 3, 22),
        ] {
            assert_eq!(easter_sunday(year), d(year, m, day), "{year}");
        }
    }

    #[test]
    fn easter_sunday_is_a_sunday_in_its_window_for_every_year_including_proleptic_ones() {
        for year in -1000..=3000 {
            let easter = easter_sunday(year);
            assert_eq!(easter.weekday(), Weekday::Sun, "{year}");
            assert!(easter >= d(year, 3, 22) && easter <= d(year, 4, 25), "{year}");
        }
    }

    #[test]
    fn bank_holidays_match_gov_uk_for_2019_to_2027() {
        let cal = Calendar::default();
        let expected: [(i32, &[(u32, u32)]); 9] = [
            (2019, &[(1, 1), (4, 19), (4, 22), (5, 6), (5, 27), (8, 26), (12, 25), (12, 26)]),
            (2020, &[(1, 1), (4, 10), (4, 13), (5, 8), (5, 25), (8, 31), (12, 25), (12, 28)]),
            (2021, &[(1, 1), (4, 2), (4, 5), (5, 3), (5, 31), (8, 30), (12, 27), (12, 28)]),
            (2022, &[(1, 3), (4, 15), (4, 18), (5, 2), (6, 2), (6, 3), (8, 29), (9, 19), (12, 26), (12, 27)]),
            (2023, &[(1, 2), (4, 7), (4, 10), (5, 1), (5, 8), (5, 29), (8, 28), (12, 25), (12, 26)]),
            (2024, &[(1, 1), (3, 29), (4, 1), (5, 6), (5, 27), (8, 26), (12, 25), (12, 26)]),
            (2025, &[(1, 1), (4, 18), (4, 21), (5, 5), (5, 26), (8, 25), (12, 25), (12, 26)]),
            (2026, &[(1, 1), (4, 3), (4, 6), (5, 4), (5, 25), (8, 31), (12, 25), (12, 28)]),
            (2027, &[(1, 1), (3, 26), (3, 29), (5, 3), (5, 31), (8, 30), (12, 27), (12, 28)]),
        ];
        for (year, days) in expected {
            let want: Vec<NaiveDate> = days.iter().map(|&(m, day)| d(year, m, day)).collect();
            assert_eq!(cal.bank_holidays(year), want, "{year}");
            for day in want {
                assert!(cal.is_bank_holiday(day), "{day}");
            }
        }
    }

    #[test]
    fn bank_holidays_agree_with_is_bank_holiday_day_by_day() {
        let cal = Calendar::default();
        for year in [1999, 2002, 2012, 2020, 2022, 2023, 2026] {
            let mut listed = Vec::new();
            let mut day = d(year, 1, 1);
            while day.year() == year {
                if cal.is_bank_holiday(day) {
                    listed.push(day);
                }
                day = day.succ_opt().unwrap();
            }
            assert_eq!(cal.bank_holidays(year), listed, "{year}");
        }
    }

    #[test]
    fn new_years_day_at_a_weekend_moves_to_monday() {
        let cal = Calendar::default();
        // 2022-01-01 Saturday → Monday 3rd; 2023-01-01 Sunday → Monday 2nd.
        assert!(!cal.is_bank_holiday(d(2022, 1, 1)));
        assert!(cal.is_bank_holiday(d(2022, 1, 3)));
        assert!(!cal.is_bank_holiday(d(2023, 1, 1)));
        assert!(cal.is_bank_holiday(d(2023, 1, 2)));
        assert!(cal.is_bank_holiday(d(2026, 1, 1)));
    }

    #[test]
    fn christmas_and_boxing_day_substitutes_for_each_weekend_case() {
        let cal = Calendar::default();
        let december = |year| -> Vec<u32> {
            cal.bank_holidays(year).into_iter().filter(|h| h.month() == 12).map(|h| h.day()).collect()
        };
        assert_eq!(december(2026), [25, 28]); // Christmas Friday: Boxing Day → Monday 28
        assert_eq!(december(2021), [27, 28]); // Christmas Saturday: Monday 27, Tuesday 28
        assert_eq!(december(2022), [26, 27]); // Christmas Sunday: Boxing Day 26, substitute 27
        assert_eq!(december(2024), [25, 26]); // Wednesday and Thursday
        assert_eq!(december(2023), [25, 26]); // Monday and Tuesday
        assert_eq!(december(2025), [25, 26]); // Thursday and Friday
    }

    #[test]
    fn easter_may_and_august_rules() {
        let cal = Calendar::default();
        let y2038 = cal.bank_holidays(2038);
        assert!(y2038.contains(&d(2038, 4, 23))); // Good Friday
        assert!(y2038.contains(&d(2038, 4, 26))); // Easter Monday
        assert!(y2038.contains(&d(2038, 5, 3))); // first Monday of May
        assert!(y2038.contains(&d(2038, 5, 31))); // last Monday of May
        assert!(y2038.contains(&d(2038, 8, 30))); // last Monday of August
        assert_eq!(y2038.len(), 8);
        // May with five Mondays starting on the 1st (2028: 1, 8, ..., 29).
        assert!(cal.is_bank_holiday(d(2028, 5, 1)));
        assert!(cal.is_bank_holiday(d(2028, 5, 29)));
        assert!(!cal.is_bank_holiday(d(2028, 5, 22)));
    }

    #[test]
    fn known_one_offs_are_added_and_moved_holidays_removed() {
        let cal = Calendar::default();
        for day in [
            d(2022, 6, 2),
            d(2022, 6, 3),
            d(2022, 9, 19),
            d(2023, 5, 8),
            d(2020, 5, 8),
            d(2012, 6, 4),
            d(2012, 6, 5),
            d(2002, 6, 3),
            d(2002, 6, 4),
            d(2011, 4, 29),
            d(1999, 12, 31),
            d(1995, 5, 8),
            d(1981, 7, 29),
        ] {
            assert!(cal.is_bank_holiday(day), "{day} should be a holiday");
            assert!(!cal.is_working_day(day), "{day}");
        }
        for day in [d(2022, 5, 30), d(2020, 5, 4), d(2012, 5, 28), d(2002, 5, 27), d(1995, 5, 1)] {
            assert!(!cal.is_bank_holiday(day), "{day} was moved");
            assert!(cal.is_working_day(day), "{day}");
        }
        assert_eq!(
            cal.bank_holidays(2012),
            [
                d(2012, 1, 2),
                d(2012, 4, 6),
                d(2012, 4, 9),
                d(2012, 5, 7),
                d(2012, 6, 4),
                d(2012, 6, 5),
                d(2012, 8, 27),
                d(2012, 12, 25),
                d(2012, 12, 26),
            ]
        );
        assert_eq!(
            cal.bank_holidays(2002),
            [
                d(2002, 1, 1),
                d(2002, 3, 29),
                d(2002, 4, 1),
                d(2002, 5, 6),
                d(2002, 6, 3),
                d(2002, 6, 4),
                d(2002, 8, 26),
                d(2002, 12, 25),
                d(2002, 12, 26),
            ]
        );
        assert_eq!(
            cal.bank_holidays(2011),
            [
                d(2011, 1, 3),
                d(2011, 4, 22),
                d(2011, 4, 25),
                d(2011, 4, 29),
                d(2011, 5, 2),
                d(2011, 5, 30),
                d(2011, 8, 29),
                d(2011, 12, 26),
                d(2011, 12, 27),
            ]
        );
        assert_eq!(
            cal.bank_holidays(1999),
            [
                d(1999, 1, 1),
                d(1999, 4, 2),
                d(1999, 4, 5),
                d(1999, 5, 3),
                d(1999, 5, 31),
                d(1999, 8, 30),
                d(1999, 12, 27),
                d(1999, 12, 28),
                d(1999, 12, 31),
            ]
        );
    }

    #[test]
    fn known_one_offs_can_be_switched_off() {
        let cal = Calendar { known_one_offs: false, ..Calendar::default() };
        assert!(cal.is_bank_holiday(d(2020, 5, 4)));
        assert!(!cal.is_bank_holiday(d(2020, 5, 8)));
        assert!(!cal.is_bank_holiday(d(2023, 5, 8)));
    }

    #[test]
    fn configured_additions_and_removals_apply_and_removals_win() {
        let cal = Calendar {
            known_one_offs: true,
            additions: vec![d(2027, 6, 7), d(2027, 6, 8)],
            removals: vec![d(2027, 5, 31), d(2027, 6, 8)],
        };
        assert!(cal.is_bank_holiday(d(2027, 6, 7)));
        assert!(!cal.is_bank_holiday(d(2027, 6, 8)));
        assert!(!cal.is_bank_holiday(d(2027, 5, 31)));
        assert!(cal.is_working_day(d(2027, 5, 31)));
        assert!(cal.is_bank_holiday(d(2022, 9, 19)), "known one-offs kept");
        assert_eq!(
            cal.bank_holidays(2027),
            [
                d(2027, 1, 1),
                d(2027, 3, 26),
                d(2027, 3, 29),
                d(2027, 5, 3),
                d(2027, 6, 7),
                d(2027, 8, 30),
                d(2027, 12, 27),
                d(2027, 12, 28),
            ]
        );
        // An addition that is already a holiday is listed once.
        let dup = Calendar { additions: vec![d(2026, 12, 25)], ..Calendar::default() };
        assert_eq!(dup.bank_holidays(2026).len(), 8);
    }

    #[test]
    fn calendar_deserialises_with_defaults_and_rejects_unknown_fields() {
        let empty: Calendar = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Calendar::default());
        assert!(empty.known_one_offs);
        let cal: Calendar = serde_json::from_str(r#"{"additions": ["2027-06-07"]}"#).unwrap();
        assert_eq!(cal.additions, [d(2027, 6, 7)]);
        assert!(cal.known_one_offs);
        assert!(cal.is_bank_holiday(d(2022, 6, 3)));
        assert!(serde_json::from_str::<Calendar>(r#"{"addition": ["2027-06-07"]}"#).is_err());
        assert!(serde_json::from_str::<Calendar>(r#"{"additions": ["07/06/2027"]}"#).is_err());
    }

    // --- Working days ------------------------------------------------------------------

    #[test]
    fn working_days_are_weekdays_that_are_not_bank_holidays() {
        let cal = Calendar::default();
        assert!(cal.is_working_day(d(2026, 4, 2))); // Thursday
        assert!(!cal.is_working_day(d(2026, 4, 3))); // Good Friday
        assert!(!cal.is_working_day(d(2026, 4, 4))); // Saturday
        assert!(!cal.is_working_day(d(2026, 4, 5))); // Sunday
        assert!(!cal.is_working_day(d(2026, 4, 6))); // Easter Monday
        assert!(cal.is_working_day(d(2026, 4, 7))); // Tuesday
    }

    #[test]
    fn next_working_day_is_strictly_after() {
        let cal = Calendar::default();
        assert_eq!(cal.next_working_day(d(2026, 4, 2)), d(2026, 4, 7));
        assert_eq!(cal.next_working_day(d(2026, 4, 4)), d(2026, 4, 7));
        assert_eq!(cal.next_working_day(d(2026, 1, 5)), d(2026, 1, 6));
        assert_eq!(cal.next_working_day(d(2026, 1, 9)), d(2026, 1, 12));
        assert_eq!(cal.next_working_day(d(2026, 12, 24)), d(2026, 12, 29));
    }

    #[test]
    fn add_working_days_counts_only_working_days() {
        let cal = Calendar::default();
        assert_eq!(cal.add_working_days(d(2026, 4, 4), 0), d(2026, 4, 4));
        assert_eq!(cal.add_working_days(d(2026, 4, 2), 1), d(2026, 4, 7));
        assert_eq!(cal.add_working_days(d(2026, 1, 5), 5), d(2026, 1, 12));
        // 24 Dec 2026 (Thu) + 3: 29, 30, 31 Dec (25 Fri and 28 Mon are holidays).
        assert_eq!(cal.add_working_days(d(2026, 12, 24), 3), d(2026, 12, 31));
        // 45 working days (the assessment timescale) from Monday 5 January 2026:
        // nine whole weeks, no holidays in between.
        assert_eq!(cal.add_working_days(d(2026, 1, 5), 45), d(2026, 3, 9));
    }

    #[test]
    fn working_days_between_across_a_weekend() {
        let cal = Calendar::default();
        // Friday 17:00 to Monday 09:00 (GMT = UTC in January): 7/24 + 9/24.
        let wd = cal.working_days_between(at("2026-01-16T17:00:00Z"), at("2026-01-19T09:00:00Z"));
        assert_close(wd, 16.0 / 24.0);
        assert_close(cal.working_days_between(at("2026-01-19T09:00:00Z"), at("2026-01-16T17:00:00Z")), -16.0 / 24.0);
        // A whole week, Monday 00:00 to Monday 00:00, is five working days.
        assert_close(cal.working_days_between(at("2026-01-12T00:00:00Z"), at("2026-01-19T00:00:00Z")), 5.0);
        // Within one day, and nothing at all at a weekend.
        assert_close(cal.working_days_between(at("2026-01-14T09:00:00Z"), at("2026-01-14T15:00:00Z")), 0.25);
        assert_close(cal.working_days_between(at("2026-01-17T09:00:00Z"), at("2026-01-18T15:00:00Z")), 0.0);
        let same = at("2026-01-14T09:00:00Z");
        assert_close(cal.working_days_between(same, same), 0.0);
    }

    #[test]
    fn working_days_between_across_a_bank_holiday_weekend() {
        let cal = Calendar::default();
        // Thursday 2 April 2026 17:00 BST to Tuesday 7 April 09:00 BST: Good Friday,
        // the weekend and Easter Monday do not count.
        let wd = cal.working_days_between(at("2026-04-02T16:00:00Z"), at("2026-04-07T08:00:00Z"));
        assert_close(wd, 16.0 / 24.0);
    }

    #[test]
    fn working_days_between_uses_london_days_across_clock_changes() {
        let cal = Calendar::default();
        // Friday 12:00 GMT to Monday 12:00 BST: half of each working day, 71 real hours.
        let spring = cal.working_days_between(at("2026-03-27T12:00:00Z"), at("2026-03-30T11:00:00Z"));
        assert_close(spring, 1.0);
        // Monday 00:00 BST (Sunday 23:00 UTC) to Tuesday 00:00 BST is exactly one day.
        assert_close(cal.working_days_between(at("2026-06-28T23:00:00Z"), at("2026-06-29T23:00:00Z")), 1.0);
        let autumn = cal.working_days_between(at("2026-10-23T11:00:00Z"), at("2026-10-26T12:00:00Z"));
        assert_close(autumn, 1.0);
    }

    // --- Due by ------------------------------------------------------------------------

    #[test]
    fn due_policy_defaults_and_config() {
        let policy = DuePolicy::default();
        assert_eq!(policy.working_days, 1);
        assert_eq!(policy.urgent_hours, 2);
        assert_eq!(policy.calendar, Calendar::default());
        let from_empty: DuePolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(from_empty, policy);
        let custom: DuePolicy =
            serde_json::from_str(r#"{"urgent_hours": 6, "calendar": {"removals": ["2026-12-28"]}}"#).unwrap();
        assert_eq!(custom.working_days, 1);
        assert_eq!(custom.urgent_hours, 6);
        assert_eq!(custom.calendar.removals, [d(2026, 12, 28)]);
        assert!(serde_json::from_str::<DuePolicy>(r#"{"urgent_hour": 4}"#).is_err());
    }

    #[test]
    fn received_on_a_working_day_is_due_same_time_next_working_day() {
        let policy = DuePolicy::default();
        // Wednesday 10:00 → Thursday 10:00.
        assert_eq!(policy.due_by(at("2026-01-14T10:00:00Z"), false), at("2026-01-15T10:00:00Z"));
        // Friday evening → Monday, same time.
        assert_eq!(policy.due_by(at("2026-01-16T18:30:00Z"), false), at("2026-01-19T18:30:00Z"));
        // Friday 23:59 → Monday 23:59; Monday 00:00 → Tuesday 00:00.
        assert_eq!(policy.due_by(at("2026-01-16T23:59:00Z"), false), at("2026-01-19T23:59:00Z"));
        assert_eq!(policy.due_by(at("2026-01-19T00:00:00Z"), false), at("2026-01-20T00:00:00Z"));
    }

    #[test]
    fn received_at_a_weekend_clock_starts_monday_and_is_due_tuesday_midnight() {
        let policy = DuePolicy::default();
        for received in ["2026-01-17T00:00:00Z", "2026-01-17T10:00:00Z", "2026-01-18T23:59:59Z"] {
            assert_eq!(policy.due_by(at(received), false), at("2026-01-20T00:00:00Z"), "{received}");
        }
        // Friday 23:30 UTC in summer is Saturday 00:30 BST: a weekend receipt.
        assert_eq!(
            policy.due_by(at("2026-06-26T23:30:00Z"), false),
            at("2026-06-29T23:00:00Z") // Tuesday 30 June 00:00 BST
        );
    }

    #[test]
    fn received_on_good_friday_clock_starts_tuesday_and_is_due_wednesday_midnight() {
        let policy = DuePolicy::default();
        // Good Friday 3 April 2026 09:00 BST. Easter Monday is a holiday too, so the
        // clock starts Tuesday 7 April 00:00 and it is due Wednesday 8 April 00:00 BST.
        assert_eq!(policy.due_by(at("2026-04-03T08:00:00Z"), false), at("2026-04-07T23:00:00Z"));
        // Easter Monday too.
        assert_eq!(policy.due_by(at("2026-04-06T15:00:00Z"), false), at("2026-04-07T23:00:00Z"));
    }

    #[test]
    fn received_the_day_before_a_bank_holiday_is_due_after_it() {
        let policy = DuePolicy::default();
        // Thursday 2 April 2026 10:00 BST → Tuesday 7 April 10:00 BST.
        assert_eq!(policy.due_by(at("2026-04-02T09:00:00Z"), false), at("2026-04-07T09:00:00Z"));
        // Christmas Eve 2026 (Thursday) 15:00 → Tuesday 29 December 15:00.
        assert_eq!(policy.due_by(at("2026-12-24T15:00:00Z"), false), at("2026-12-29T15:00:00Z"));
    }

    #[test]
    fn due_by_across_the_spring_clock_change() {
        let policy = DuePolicy::default();
        // Friday 27 March 2026 01:30 GMT → Monday 30 March 01:30 BST = 00:30 UTC:
        // 71 real hours.
        let due = policy.due_by(at("2026-03-27T01:30:00Z"), false);
        assert_eq!(due, at("2026-03-30T00:30:00Z"));
        assert_close(hours_between(at("2026-03-27T01:30:00Z"), due), 71.0);
        // Saturday 28 March → clock starts Monday 30 March 00:00 BST, due Tuesday 31
        // March 00:00 BST = Monday 23:00 UTC.
        assert_eq!(policy.due_by(at("2026-03-28T12:00:00Z"), false), at("2026-03-30T23:00:00Z"));
        // Received during the gap's Sunday, after the change.
        assert_eq!(policy.due_by(at("2026-03-29T01:30:00Z"), false), at("2026-03-30T23:00:00Z"));
    }

    #[test]
    fn due_by_across_the_autumn_clock_change() {
        let policy = DuePolicy::default();
        // Friday 23 October 2026 01:30 BST (00:30 UTC) → Monday 26 October 01:30 GMT
        // = 01:30 UTC: 73 real hours.
        let due = policy.due_by(at("2026-10-23T00:30:00Z"), false);
        assert_eq!(due, at("2026-10-26T01:30:00Z"));
        assert_close(hours_between(at("2026-10-23T00:30:00Z"), due), 73.0);
        // Friday 17:00 BST → Monday 17:00 GMT.
        assert_eq!(policy.due_by(at("2026-10-23T16:00:00Z"), false), at("2026-10-26T17:00:00Z"));
        // Either reading of Sunday 01:30 → Tuesday 27 October 00:00 GMT.
        for received in ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"] {
            assert_eq!(policy.due_by(at(received), false), at("2026-10-27T00:00:00Z"), "{received}");
        }
    }

    #[test]
    fn due_by_with_more_working_days_or_none() {
        let two = DuePolicy { working_days: 2, ..DuePolicy::default() };
        assert_eq!(two.due_by(at("2026-01-16T18:30:00Z"), false), at("2026-01-20T18:30:00Z"));
        assert_eq!(two.due_by(at("2026-01-17T10:00:00Z"), false), at("2026-01-21T00:00:00Z"));
        let zero = DuePolicy { working_days: 0, ..DuePolicy::default() };
        assert_eq!(zero.due_by(at("2026-01-16T18:30:00Z"), false), at("2026-01-16T18:30:00Z"));
        assert_eq!(zero.due_by(at("2026-01-17T10:00:00Z"), false), at("2026-01-19T00:00:00Z"));
    }

    #[test]
    fn urgent_contacts_are_due_in_two_real_hours_any_day() {
        let policy = DuePolicy::default();
        assert_eq!(policy.due_by(at("2026-01-14T10:00:00Z"), true), at("2026-01-14T12:00:00Z"));
        // Saturday night, into Sunday.
        assert_eq!(policy.due_by(at("2026-01-17T23:00:00Z"), true), at("2026-01-18T01:00:00Z"));
        // Good Friday.
        assert_eq!(policy.due_by(at("2026-04-03T08:00:00Z"), true), at("2026-04-03T10:00:00Z"));
        // Across the spring change: 00:30 GMT → 03:30 BST, still two real hours.
        assert_eq!(policy.due_by(at("2026-03-29T00:30:00Z"), true), at("2026-03-29T02:30:00Z"));
        let amber = DuePolicy { urgent_hours: 6, ..DuePolicy::default() };
        assert_eq!(amber.due_by(at("2026-01-14T10:00:00Z"), true), at("2026-01-14T16:00:00Z"));
    }

    #[test]
    fn urgent_handovers_are_due_for_acceptance_in_two_real_hours_any_day() {
        let policy = DuePolicy::default();
        // Saturday 22:00 → Sunday 00:00: no waiting for Monday.
        assert_eq!(policy.handover_due_by(at("2026-01-17T22:00:00Z"), true), at("2026-01-18T00:00:00Z"));
        // Good Friday.
        assert_eq!(policy.handover_due_by(at("2026-04-03T15:00:00Z"), true), at("2026-04-03T17:00:00Z"));
        // Its own setting, not the decision's.
        let four = DuePolicy { urgent_handover_hours: 4, urgent_hours: 1, ..DuePolicy::default() };
        assert_eq!(four.handover_due_by(at("2026-01-14T10:00:00Z"), true), at("2026-01-14T14:00:00Z"));
    }

    #[test]
    fn other_handovers_are_due_one_working_day_after_they_were_sent() {
        let policy = DuePolicy::default();
        // Friday 16:00 → Monday 16:00.
        assert_eq!(policy.handover_due_by(at("2026-01-16T16:00:00Z"), false), at("2026-01-19T16:00:00Z"));
        // Sent on Saturday: the clock starts Monday, due by the end of it.
        assert_eq!(policy.handover_due_by(at("2026-01-17T10:00:00Z"), false), at("2026-01-20T00:00:00Z"));
        // Maundy Thursday 10:00 BST → Tuesday after Easter 10:00 BST.
        assert_eq!(policy.handover_due_by(at("2026-04-02T09:00:00Z"), false), at("2026-04-07T09:00:00Z"));
        // Its own setting, not the decision's.
        let two = DuePolicy { handover_working_days: 2, working_days: 5, ..DuePolicy::default() };
        assert_eq!(two.handover_due_by(at("2026-01-14T10:00:00Z"), false), at("2026-01-16T10:00:00Z"));
    }

    #[test]
    fn overdue_only_after_the_due_instant() {
        let policy = DuePolicy::default();
        let due = policy.due_by(at("2026-01-16T18:30:00Z"), false);
        assert!(!policy.is_overdue(due, due - TimeDelta::hours(1)));
        assert!(!policy.is_overdue(due, due));
        assert!(policy.is_overdue(due, due + TimeDelta::seconds(1)));
    }
}
