//! One row per contact for data teams, pseudonymised: no names, no identifiers (NHS number,
//! UPN, child_ref, addresses, the referrer), no free text (concerns, rationale, notes, check
//! summaries), so nothing restricted. Children appear only as the child index's child ids
//! (the same pseudonymous ids as Annex A) and their whole-year ages on the date of contact.
//! The columns are defined in docs/FIGURES.md ("The contacts CSV").

use chrono::{DateTime, NaiveDate, Utc};
use projections::figures::{OneWorkingDay, week_label};
use projections::model::ReadModel;
use projections::time::{DuePolicy, london_date, weekday_name};

use crate::annex::{age_years, child_unique_id, collect};
use crate::error::ReplayError;
use crate::source::Source;

/// The columns, in order.
pub const COLUMNS: [&str; 22] = [
    "date_of_contact",
    "week",
    "weekday",
    "channel",
    "source",
    "immediate_risk",
    "rating",
    "children",
    "child_ids",
    "child_ages",
    "consent",
    "concern_categories",
    "first_decision_hours",
    "first_outcome",
    "outcome",
    "level_of_need",
    "referral",
    "revisions",
    "recommendation_followed",
    "assessment_team_hours",
    "referrer_informed_within_one_working_day",
    "previous_contacts",
];

fn hours(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> String {
    // Differences of instants in the log stay far below 2^53 seconds.
    #[allow(clippy::cast_precision_loss)]
    to.map_or_else(String::new, |to| ((to - from).num_seconds() as f64 / 3600.0).to_string())
}

/// The contacts received from `from` to `to` (London dates, both included), one row each,
/// in order of receipt then contact, as CSV bytes.
///
/// # Errors
/// Read failures; an event that does not decode.
///
/// # Panics
/// Never in practice: writing CSV to memory does not fail.
pub fn contacts_csv(
    source: &Source,
    model: &ReadModel,
    policy: &DuePolicy,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<u8>, ReplayError> {
    let (records, children) = collect(source)?;
    let day = OneWorkingDay::on(&policy.calendar);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS).expect("CSV to memory");
    for r in &records {
        let Some(f) = model.contact_facts(r.id) else { continue };
        let date = london_date(f.received_at);
        if !(from..=to).contains(&date) {
            continue;
        }
        let ids: Vec<String> = (0..r.children.len()).map(|i| child_unique_id(&children, r.id, i)).collect();
        let ages: Vec<String> = r
            .children
            .iter()
            .map(|c| age_years(c.date_of_birth, date).map(|a| a.to_string()).unwrap_or_default())
            .collect();
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        let record = [
            date.to_string(),
            week_label(date),
            weekday_name(f.received_at).to_owned(),
            f.channel.as_str().to_owned(),
            f.source.as_str().to_owned(),
            yes_no(f.immediate_risk),
            f.rating.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            f.children.to_string(),
            ids.join(";"),
            ages.join(";"),
            f.consent.as_str().to_owned(),
            f.concern_categories.join(";"),
            hours(f.received_at, f.first_decision_at),
            f.first_outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            f.outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            f.level_of_need.map(|l| l.to_string()).unwrap_or_default(),
            yes_no(f.is_referral()),
            f.revisions.to_string(),
            match (f.recommended, f.outcome) {
                (Some(rec), Some(out)) => yes_no(rec == out),
                _ => String::new(),
            },
            hours(f.received_at, f.assessment_team_accepted_at),
            yes_no(f.referrer_informed_at.is_some_and(|at| day.met(f.received_at, at))),
            f.previous_contacts.to_string(),
        ];
        w.write_record(&record).expect("CSV to memory");
    }
    Ok(w.into_inner().expect("CSV to memory"))
}
