//! Ofsted ILACS Annex A lists as CSV, with Ofsted's column names (DOMAIN.md):
//!
//! - **List 1, Contacts**: one row per child per contact received (London date) in the
//!   period: Child Unique ID, Gender, Ethnicity, Date of Birth, Age of Child (Years),
//!   Date of Contact, Contact Source.
//! - **List 3, Referrals**: one row per child per referral whose Date of Referral is in the
//!   period: the five child columns, then Date of Referral, Referral Source, Referral NFA?,
//!   Number of Referrals in Last 12 Months, Allocated Team, Allocated Worker.
//!
//! Choices, documented in replay/README.md:
//!
//! - **Child Unique ID**: the child index's child id ([`projections::children`]): 16 letters
//!   and digits, pseudonymous (never the NHS number), the same for every contact about the
//!   same child as the index links them at the end of the log (matches, `children_linked`,
//!   `children_unlinked`), and the same for the same log. It meets the DfE's rule for an LA
//!   child id (alphanumeric, at most 20 characters).
//! - **Gender**: `M`, `F` or `U` from the recorded sex (`U` when none was recorded). Ofsted's
//!   2026 templates call this column "Sex"; the values are the same.
//! - **Dates** are London dates as `DD/MM/YYYY`; **Age of Child (Years)** is whole years on the
//!   Date of Contact (List 1) or the Date of Referral (List 3), blank without a date of birth.
//! - **A referral** is a contact whose decision in force is `strategy_discussion` or
//!   `assessment`; its **Date of Referral** is the date of its first decision with one of
//!   those outcomes. A referral later revised to `no_further_action` or
//!   `advice_and_signpost` stays on List 3 (it was a referral on that date) with
//!   **Referral NFA?** `Yes`; every other row says `No`. (A referral revised to early help
//!   or an existing case is no longer a referral and is not listed.)
//! - **Referral Source**: the CIN source code of the contact, as Contact Source.
//! - **Number of Referrals in Last 12 Months**: per child, the listed referrals of the same
//!   child (same Child Unique ID, so following the index's current links) with a Date of Referral in the 365 days up to and including
//!   this one's, this one included, over the whole log (not only the period).
//! - **Allocated Team / Worker**: from the latest `handover_accepted` (`team`, `worker`);
//!   blank until a team has accepted.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use eventlog::Event;
use events::schema::{Child, Outcome, Sex, SourceCode};
use projections::children::{ChildIndex, child_id_for};
use ulid::Ulid;

use crate::error::ReplayError;
use crate::ofsted_date;
use crate::source::{Flow, Source};

/// Which Annex A list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// List 1: contacts.
    Contacts,
    /// List 3: referrals.
    Referrals,
}

/// List 1's columns.
pub const LIST1_COLUMNS: [&str; 7] = [
    "Child Unique ID",
    "Gender",
    "Ethnicity",
    "Date of Birth",
    "Age of Child (Years)",
    "Date of Contact",
    "Contact Source",
];

/// List 3's columns.
pub const LIST3_COLUMNS: [&str; 11] = [
    "Child Unique ID",
    "Gender",
    "Ethnicity",
    "Date of Birth",
    "Age of Child (Years)",
    "Date of Referral",
    "Referral Source",
    "Referral NFA?",
    "Number of Referrals in Last 12 Months",
    "Allocated Team",
    "Allocated Worker",
];

/// What Annex A needs of one contact.
#[derive(Debug, Clone)]
struct ContactRecord {
    id: Ulid,
    /// The `contact_received` event (corrections of the children and the time name it).
    received_event: Ulid,
    received_at: DateTime<Utc>,
    source: SourceCode,
    children: Vec<Child>,
    /// Every decision, in order: its event, when and what.
    decisions: Vec<(Ulid, DateTime<Utc>, Outcome)>,
    team: Option<String>,
    worker: Option<String>,
}

impl ContactRecord {
    fn in_force(&self) -> Option<Outcome> {
        self.decisions.last().map(|(_, _, o)| *o)
    }

    fn first_referral(&self) -> Option<DateTime<Utc>> {
        self.decisions.iter().find(|(_, _, o)| o.is_referral()).map(|(_, at, _)| *at)
    }

    /// Applies a correction of the child details, the time of receipt or a decision's time.
    fn correct(&mut self, target: Ulid, field: &str, value: &serde_json::Value) {
        use eventlog::EventType as T;
        use events::correction::{Correction, Field, Value};
        if target == self.received_event {
            let Some(c) = Correction::read(T::ContactReceived, field, value) else { return };
            c.apply_to_children(&mut self.children);
            if let (Field::OccurredAt, Value::Timestamp(at)) = (c.field, c.value) {
                self.received_at = at;
            }
        } else if let Some(decision) = self.decisions.iter_mut().find(|(id, ..)| *id == target)
            && let Some(Correction { field: Field::OccurredAt, value: Value::Timestamp(at) }) =
                Correction::read(T::DecisionMade, field, value)
        {
            decision.1 = at;
        }
    }

    /// `Some(nfa)` when the contact belongs on List 3.
    fn referral_nfa(&self) -> Option<bool> {
        self.first_referral()?;
        match self.in_force()? {
            Outcome::StrategyDiscussion | Outcome::Assessment => Some(false),
            Outcome::NoFurtherAction | Outcome::AdviceAndSignpost | Outcome::NotAccepted => Some(true),
            Outcome::EarlyHelp | Outcome::ExistingCase => None,
        }
    }
}

/// The Child Unique ID of child `index` of `contact` (see the module documentation): the
/// child index's id, or (for a child the index has not seen, which a log read whole cannot
/// hold) the id it would be given.
pub fn child_unique_id(children: &ChildIndex, contact: Ulid, index: usize) -> String {
    children.child_id_of(contact, index).map_or_else(|| child_id_for(contact, index), str::to_owned)
}

fn gender(sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::Male) => "M",
        Some(Sex::Female) => "F",
        Some(Sex::Unknown) | None => "U",
    }
}

fn age_on(dob: Option<NaiveDate>, on: NaiveDate) -> String {
    let Some(dob) = dob else { return String::new() };
    let mut years = on.year() - dob.year();
    if (on.month(), on.day()) < (dob.month(), dob.day()) {
        years -= 1;
    }
    if years < 0 { String::new() } else { years.to_string() }
}

fn london(t: DateTime<Utc>) -> NaiveDate {
    projections::time::london_date(t)
}

/// Folds what Annex A needs from every contact, in receipt order (then id), with the child
/// index as the whole log leaves it.
fn collect(source: &Source) -> Result<(Vec<ContactRecord>, ChildIndex), ReplayError> {
    let mut records: BTreeMap<Ulid, ContactRecord> = BTreeMap::new();
    let mut children = ChildIndex::default();
    source.for_each(&mut |env| {
        use eventlog::EventType as T;
        if !matches!(
            env.event_type,
            T::ContactReceived
                | T::DecisionMade
                | T::HandoverAccepted
                | T::CorrectionRecorded
                | T::ChildrenLinked
                | T::ChildrenUnlinked
        ) {
            return Ok(Flow::Continue);
        }
        let event = env.event().map_err(|e| ReplayError::Data(format!("position {}: {e}", env.position)))?;
        match event {
            Event::ChildrenLinked(l) => {
                children.link(env.contact_id, usize::from(l.child_index), &l.child_id);
            }
            Event::ChildrenUnlinked(u) => {
                children.unlink(env.contact_id, usize::from(u.child_index), &u.child_id, env.event_id);
            }
            Event::ContactReceived(c) => {
                children.receive(env.contact_id, env.occurred_at, &c.children, &c.adults);
                records.insert(
                    env.contact_id,
                    ContactRecord {
                        id: env.contact_id,
                        received_event: env.event_id,
                        received_at: env.occurred_at,
                        source: c.source,
                        children: c.children,
                        decisions: Vec::new(),
                        team: None,
                        worker: None,
                    },
                );
            }
            Event::DecisionMade(d) => {
                if let Some(r) = records.get_mut(&env.contact_id) {
                    r.decisions.push((env.event_id, env.occurred_at, d.outcome));
                }
            }
            Event::HandoverAccepted(a) => {
                if let Some(r) = records.get_mut(&env.contact_id) {
                    r.team = Some(a.team);
                    r.worker = a.worker;
                }
            }
            Event::CorrectionRecorded(c) => {
                if let Some(r) = records.get_mut(&env.contact_id) {
                    r.correct(c.corrects_event_id, &c.field, &c.value);
                    if c.corrects_event_id == r.received_event {
                        children.update(r.id, r.received_at, &r.children);
                    }
                }
            }
            _ => {}
        }
        Ok(Flow::Continue)
    })?;
    let mut out: Vec<ContactRecord> = records.into_values().collect();
    out.sort_by(|a, b| a.received_at.cmp(&b.received_at).then(a.id.cmp(&b.id)));
    Ok((out, children))
}

/// The list as CSV bytes, rows in order of the contact's (or referral's) date, then contact
/// id, then the child's place in the contact.
///
/// # Errors
/// Read failures; an event that does not decode.
pub fn annex_a(source: &Source, list: List, from: NaiveDate, to: NaiveDate) -> Result<Vec<u8>, ReplayError> {
    let (records, children) = collect(source)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ReplayError::Data(e.to_string());
    match list {
        List::Contacts => {
            w.write_record(LIST1_COLUMNS).map_err(csv_err)?;
            for r in &records {
                let date = london(r.received_at);
                if !(from..=to).contains(&date) {
                    continue;
                }
                for (i, child) in r.children.iter().enumerate() {
                    w.write_record([
                        child_unique_id(&children, r.id, i),
                        gender(child.sex).to_owned(),
                        child.ethnicity.clone().unwrap_or_default(),
                        child.date_of_birth.map(ofsted_date).unwrap_or_default(),
                        age_on(child.date_of_birth, date),
                        ofsted_date(date),
                        r.source.as_str().to_owned(),
                    ])
                    .map_err(csv_err)?;
                }
            }
        }
        List::Referrals => {
            w.write_record(LIST3_COLUMNS).map_err(csv_err)?;
            // Every listed referral of the log, by child, for the 12-month count.
            struct Row<'a> {
                record: &'a ContactRecord,
                date: NaiveDate,
                nfa: bool,
            }
            let mut rows: Vec<Row> = records
                .iter()
                .filter_map(|r| {
                    let nfa = r.referral_nfa()?;
                    Some(Row { record: r, date: london(r.first_referral()?), nfa })
                })
                .collect();
            rows.sort_by(|a, b| {
                a.date
                    .cmp(&b.date)
                    .then(a.record.received_at.cmp(&b.record.received_at))
                    .then(a.record.id.cmp(&b.record.id))
            });
            let mut by_child: BTreeMap<String, Vec<NaiveDate>> = BTreeMap::new();
            for row in &rows {
                for i in 0..row.record.children.len() {
                    by_child.entry(child_unique_id(&children, row.record.id, i)).or_default().push(row.date);
                }
            }
            for row in rows.iter().filter(|row| (from..=to).contains(&row.date)) {
                let r = row.record;
                for (i, child) in r.children.iter().enumerate() {
                    let id = child_unique_id(&children, r.id, i);
                    let since = row.date - Duration::days(365);
                    let count = by_child
                        .get(&id)
                        .map_or(0, |dates| dates.iter().filter(|d| **d > since && **d <= row.date).count());
                    w.write_record([
                        id,
                        gender(child.sex).to_owned(),
                        child.ethnicity.clone().unwrap_or_default(),
                        child.date_of_birth.map(ofsted_date).unwrap_or_default(),
                        age_on(child.date_of_birth, row.date),
                        ofsted_date(row.date),
                        r.source.as_str().to_owned(),
                        if row.nfa { "Yes" } else { "No" }.to_owned(),
                        count.to_string(),
                        r.team.clone().unwrap_or_default(),
                        r.worker.clone().unwrap_or_default(),
                    ])
                    .map_err(csv_err)?;
                }
            }
        }
    }
    w.into_inner().map_err(|e| ReplayError::Data(e.to_string()))
}
