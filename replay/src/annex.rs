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
//! - **Allocated Team / Worker**: the receiving team's: from the latest `handover_accepted`
//!   (`team`, `worker`), then the latest `contact_allocated` by that receiving team (its own
//!   worker); blank until a team has accepted. The front door's own allocations are not the
//!   allocated worker.

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
pub(crate) struct ContactRecord {
    pub(crate) id: Ulid,
    /// The `contact_received` event (corrections of the children and the time name it).
    received_event: Ulid,
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) source: SourceCode,
    pub(crate) children: Vec<Child>,
    /// Every decision, in order: its event, when and what.
    pub(crate) decisions: Vec<(Ulid, DateTime<Utc>, Outcome)>,
    /// Every decision's data, in the same order.
    pub(crate) decided: Vec<events::schema::DecisionMade>,
    /// When a receiving team first accepted a handover of the contact.
    pub(crate) accepted_at: Option<DateTime<Utc>>,
    team: Option<String>,
    worker: Option<String>,
}

impl ContactRecord {
    fn in_force(&self) -> Option<Outcome> {
        self.decisions.last().map(|(_, _, o)| *o)
    }

    pub(crate) fn first_referral(&self) -> Option<DateTime<Utc>> {
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
pub(crate) fn collect(source: &Source) -> Result<(Vec<ContactRecord>, ChildIndex), ReplayError> {
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
                | T::ContactAllocated
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
                        decided: Vec::new(),
                        accepted_at: None,
                        team: None,
                        worker: None,
                    },
                );
            }
            Event::DecisionMade(d) => {
                if let Some(r) = records.get_mut(&env.contact_id) {
                    r.decisions.push((env.event_id, env.occurred_at, d.outcome));
                    r.decided.push(d);
                }
            }
            Event::HandoverAccepted(a) => {
                if let Some(r) = records.get_mut(&env.contact_id) {
                    r.accepted_at.get_or_insert(env.occurred_at);
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
            Event::ContactAllocated(a) if env.actor.role == eventlog::Role::ReceivingTeam => {
                if let Some(r) = records.get_mut(&env.contact_id) {
                    if r.team.is_none() {
                        r.team.clone_from(&env.actor.team);
                    }
                    r.worker = Some(a.worker);
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

/// One row of List 1 or List 3, before it is written as CSV or in the workbook.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    sex: Option<Sex>,
    ethnicity: Option<String>,
    date_of_birth: Option<NaiveDate>,
    age: Option<i32>,
    /// Date of Contact (List 1) or Date of Referral (List 3).
    date: NaiveDate,
    source: SourceCode,
    /// List 3 only: Referral NFA?, Number of Referrals in Last 12 Months, Allocated Team and
    /// Worker.
    referral: Option<(bool, usize, Option<String>, Option<String>)>,
}

pub(crate) fn age_years(dob: Option<NaiveDate>, on: NaiveDate) -> Option<i32> {
    age_on(dob, on).parse().ok()
}

/// The rows of a list, in order of the contact's (or referral's) date, then contact id, then
/// the child's place in the contact.
fn rows(records: &[ContactRecord], children: &ChildIndex, list: List, from: NaiveDate, to: NaiveDate) -> Vec<Row> {
    let mut out = Vec::new();
    match list {
        List::Contacts => {
            for r in records {
                let date = london(r.received_at);
                if !(from..=to).contains(&date) {
                    continue;
                }
                for (i, child) in r.children.iter().enumerate() {
                    out.push(Row {
                        id: child_unique_id(children, r.id, i),
                        sex: child.sex,
                        ethnicity: child.ethnicity.clone(),
                        date_of_birth: child.date_of_birth,
                        age: age_years(child.date_of_birth, date),
                        date,
                        source: r.source,
                        referral: None,
                    });
                }
            }
        }
        List::Referrals => {
            // Every listed referral of the log, by child, for the 12-month count.
            struct Listed<'a> {
                record: &'a ContactRecord,
                date: NaiveDate,
                nfa: bool,
            }
            let mut listed: Vec<Listed> = records
                .iter()
                .filter_map(|r| {
                    let nfa = r.referral_nfa()?;
                    Some(Listed { record: r, date: london(r.first_referral()?), nfa })
                })
                .collect();
            listed.sort_by(|a, b| {
                a.date
                    .cmp(&b.date)
                    .then(a.record.received_at.cmp(&b.record.received_at))
                    .then(a.record.id.cmp(&b.record.id))
            });
            let mut by_child: BTreeMap<String, Vec<NaiveDate>> = BTreeMap::new();
            for l in &listed {
                for i in 0..l.record.children.len() {
                    by_child.entry(child_unique_id(children, l.record.id, i)).or_default().push(l.date);
                }
            }
            for l in listed.iter().filter(|l| (from..=to).contains(&l.date)) {
                let r = l.record;
                for (i, child) in r.children.iter().enumerate() {
                    let id = child_unique_id(children, r.id, i);
                    let since = l.date - Duration::days(365);
                    let count = by_child
                        .get(&id)
                        .map_or(0, |dates| dates.iter().filter(|d| **d > since && **d <= l.date).count());
                    out.push(Row {
                        id,
                        sex: child.sex,
                        ethnicity: child.ethnicity.clone(),
                        date_of_birth: child.date_of_birth,
                        age: age_years(child.date_of_birth, l.date),
                        date: l.date,
                        source: r.source,
                        referral: Some((l.nfa, count, r.team.clone(), r.worker.clone())),
                    });
                }
            }
        }
    }
    out
}

/// The list as CSV bytes (values as recorded: `M`/`F`/`U`, the ethnicity as recorded, `Yes` /
/// `No`), rows in order of the contact's (or referral's) date, then contact id, then the
/// child's place in the contact.
///
/// # Errors
/// Read failures; an event that does not decode.
pub fn annex_a(source: &Source, list: List, from: NaiveDate, to: NaiveDate) -> Result<Vec<u8>, ReplayError> {
    let (records, children) = collect(source)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ReplayError::Data(e.to_string());
    match list {
        List::Contacts => w.write_record(LIST1_COLUMNS).map_err(csv_err)?,
        List::Referrals => w.write_record(LIST3_COLUMNS).map_err(csv_err)?,
    }
    for row in rows(&records, &children, list, from, to) {
        let mut record = vec![
            row.id,
            gender(row.sex).to_owned(),
            row.ethnicity.unwrap_or_default(),
            row.date_of_birth.map(ofsted_date).unwrap_or_default(),
            row.age.map(|a| a.to_string()).unwrap_or_default(),
            ofsted_date(row.date),
            row.source.as_str().to_owned(),
        ];
        if let Some((nfa, count, team, worker)) = row.referral {
            record.extend([
                if nfa { "Yes" } else { "No" }.to_owned(),
                count.to_string(),
                team.unwrap_or_default(),
                worker.unwrap_or_default(),
            ]);
        }
        w.write_record(&record).map_err(csv_err)?;
    }
    w.into_inner().map_err(|e| ReplayError::Data(e.to_string()))
}

/// The name of the sex column in the workbook: Ofsted's current (2026) Annex A template calls
/// it "Sex" (earlier templates: "Gender"); the values are the template's.
pub const SEX_COLUMN: &str = "Sex";

/// Ofsted's coded value for a recorded sex: `a) Male`, `b) Female`, or `c) Not stated/recorded`
/// (also for no sex recorded). The template's `d) Neither` is never recorded by the front door.
pub fn ofsted_sex(sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::Male) => "a) Male",
        Some(Sex::Female) => "b) Female",
        Some(Sex::Unknown) | None => "c) Not stated/recorded",
    }
}

/// Every sheet of Ofsted's Annex A workbook: its name and columns (the template's, in order;
/// the sex column is [`SEX_COLUMN`]). Lists 1 and 3 are filled from the log; the others belong
/// to the case management system and are written with their headers only, so the workbook has
/// every list a reader of Ofsted's template expects.
pub const WORKBOOK: [(&str, &[&str]); 11] = [
    (
        "List 1",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Date of Contact",
            "Contact Source",
        ],
    ),
    (
        "List 2",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Assessment start date",
            "Assessment completion date",
            "Organisation completing assessment",
        ],
    ),
    (
        "List 3",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Date of Referral",
            "Referral Source",
            "Referral NFA?",
            "Number of Referrals in Last 12 Months",
            "Allocated Team",
            "Allocated Worker",
        ],
    ),
    (
        "List 4",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Does the Child have a Disability",
            "Continuous Assessment Start Date",
            "Child Seen During Continuous Assessment",
            "Continuous Assessment Date of Authorisation",
            "Was the child assessed as requiring LA children's social care support?",
            "Allocated Team",
            "Allocated Worker",
        ],
    ),
    (
        "List 5",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Does the Child have a Disability",
            "Strategy discussion initiating Section 47 Enquiry Start Date",
            "Was an Initial Child Protection Conference deemed unnecessary?",
            "Date of Initial Child Protection Conference",
            "Did the Initial Child Protection Conference Result in a Child Protection Plan",
            "Number of Section 47 Enquiries in the last 12 months",
            "Number of ICPCs in the last 12 months",
            "Allocated Team",
            "Allocated Worker",
        ],
    ),
    (
        "List 6",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Does the Child have a Disability",
            "CIN Start Date",
            "Primary Need Code",
            "Date Child Was Last Seen",
            "CIN Closure Date",
            "Reason for Closure",
            "Case Status",
            "Allocated Team",
            "Allocated Worker",
        ],
    ),
    (
        "List 7",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Does the Child have a Disability",
            "Child Protection Plan Start Date",
            "Initial Category of Abuse",
            "Latest Category of Abuse",
            "Date of the Last Statutory Visit",
            "Was the Child Seen Alone?",
            "Date of latest review conference",
            "Child Protection Plan End Date",
            "Subject to Emergency Protection Order or Protected Under Police Powers in Last Six Months (Y/N)",
            "Number of Previous Child Protection Plans",
            "Allocated Team",
            "Allocated Worker",
        ],
    ),
    (
        "List 8",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Unaccompanied Asylum Seeking Child (UASC) within the Last 12 Months (Y/N)",
            "Does the Child have a Disability",
            "Date Started to be Looked After",
            "Child's Category of Need",
            "Is this a second or subsequent period of being a Looked After Child within the last 12 months (Y/N)",
            "Start date of current legal status",
            "Child's Legal Status",
            "Date of Latest Statutory Review",
            "Date of Last Social Work Visit",
            "What is the permanence plan for this child?",
            "Date of Last IRO Visit / Contact to the Child",
            "Date of Last Health Assessment",
            "Date of Last Dental Check",
            "Number of Placements in the Last 12 months",
            "Date Ceased to be Looked After",
            "Reason Ceased to be Looked After",
            "Start Date of Most Recent Placement",
            "Placement Type",
            "Placement Provider",
            "Placement postcode",
            "URN of Placement",
            "Placement Location",
            "LA of Placement",
            "Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months",
            "Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months",
            "Was the child offered a Return Interview after their last missing episode (Y/N)?",
            "Did the child accept a Return Interview after their last missing episode (Y/N)?",
            "Allocated Team",
            "Allocated Worker",
        ],
    ),
    (
        "List 9",
        &[
            "Child Unique ID",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Does the Child have a Disability",
            "Allocated Team",
            "Allocated Worker",
            "Eligibility Category",
            "LA in Touch",
            "Type of Accommodation",
            "Suitability of Accommodation",
            "Activity Status",
        ],
    ),
    (
        "List 10",
        &[
            "Child Unique ID",
            "Family identifier",
            "Sex",
            "Ethnicity",
            "Date of Birth",
            "Age of Child (Years)",
            "Does the Child have a Disability",
            "Date the Child Entered Care",
            "Date of Decision that Child Should be Placed for Adoption",
            "Date of Placement Order",
            "Date of Matching Child and Prospective Adopters",
            "Date Placed for Adoption",
            "Date of Adoption Order",
            "Date of Decision that Child Should No Longer be Placed for Adoption",
            "Reason Why Child No Longer Placed for Adoption",
            "Date the child was placed for fostering in FFA or concurrent planning placement",
        ],
    ),
    (
        "List 11",
        &[
            "Individual adopter identifier",
            "Family identifier",
            "Sex",
            "Ethnicity",
            "Disability",
            "Is the (prospective) adopter fostering for adoption?",
            "Date enquiry received",
            "Date Stage 1 started",
            "Date Stage 1 ended",
            "Date Stage 2 started",
            "Date Stage 2 ended",
            "Date application submitted",
            "Date application approved",
            "Date adopter matched with child(ren)",
            "Date child/children placed with adopter(s)",
            "No. of children placed",
            "Date of Adoption Order",
            "Date of leaving adoption process",
            "Reason for leaving adoption process",
        ],
    ),
];

/// Ofsted's Annex A workbook (`.xlsx` bytes): a sheet per list with the template's headers
/// ([`WORKBOOK`]), Lists 1 and 3 filled for the period. Values in Ofsted's coded form: sex as
/// [`ofsted_sex`], ethnicity the DfE code ([`events::schema::ethnicity_for_returns`]: `NOBT` when
/// none or no code was recorded), source the CIN code, `a) Yes` / `b) No`; dates are Excel dates
/// shown `DD/MM/YYYY`, ages and counts numbers.
///
/// # Errors
/// Read failures; an event that does not decode; the writer failing.
pub fn workbook(source: &Source, from: NaiveDate, to: NaiveDate) -> Result<Vec<u8>, ReplayError> {
    use rust_xlsxwriter::{Format, Workbook};
    let (records, children) = collect(source)?;
    let xlsx = |e: rust_xlsxwriter::XlsxError| ReplayError::Data(format!("workbook: {e}"));
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let date_format = Format::new().set_num_format("dd/mm/yyyy");
    for (name, columns) in WORKBOOK {
        let sheet = book.add_worksheet();
        sheet.set_name(name).map_err(xlsx)?;
        for (c, header) in columns.iter().enumerate() {
            let c = u16::try_from(c).map_err(|_| ReplayError::Data("too many columns".into()))?;
            sheet.write_string_with_format(0, c, *header, &bold).map_err(xlsx)?;
            sheet.set_column_width(c, 18).map_err(xlsx)?;
        }
        let list = match name {
            "List 1" => List::Contacts,
            "List 3" => List::Referrals,
            _ => continue,
        };
        for (i, row) in rows(&records, &children, list, from, to).into_iter().enumerate() {
            let r = u32::try_from(i + 1).map_err(|_| ReplayError::Data("too many rows for a worksheet".into()))?;
            sheet.write_string(r, 0, &row.id).map_err(xlsx)?;
            sheet.write_string(r, 1, ofsted_sex(row.sex)).map_err(xlsx)?;
            sheet.write_string(r, 2, events::schema::ethnicity_for_returns(row.ethnicity.as_deref())).map_err(xlsx)?;
            if let Some(dob) = row.date_of_birth {
                sheet.write_date_with_format(r, 3, excel_date(dob)?, &date_format).map_err(xlsx)?;
            }
            if let Some(age) = row.age {
                sheet.write_number(r, 4, f64::from(age)).map_err(xlsx)?;
            }
            sheet.write_date_with_format(r, 5, excel_date(row.date)?, &date_format).map_err(xlsx)?;
            sheet.write_string(r, 6, row.source.as_str()).map_err(xlsx)?;
            if let Some((nfa, count, team, worker)) = row.referral {
                sheet.write_string(r, 7, if nfa { "a) Yes" } else { "b) No" }).map_err(xlsx)?;
                let count = u32::try_from(count).map_err(|_| ReplayError::Data("count out of range".into()))?;
                sheet.write_number(r, 8, f64::from(count)).map_err(xlsx)?;
                if let Some(team) = team {
                    sheet.write_string(r, 9, &team).map_err(xlsx)?;
                }
                if let Some(worker) = worker {
                    sheet.write_string(r, 10, &worker).map_err(xlsx)?;
                }
            }
        }
    }
    book.save_to_buffer().map_err(xlsx)
}

fn excel_date(d: NaiveDate) -> Result<rust_xlsxwriter::ExcelDateTime, ReplayError> {
    let month = u8::try_from(d.month()).map_err(|_| ReplayError::Data(format!("bad date {d}")))?;
    let day = u8::try_from(d.day()).map_err(|_| ReplayError::Data(format!("bad date {d}")))?;
    let year = u16::try_from(d.year()).map_err(|_| ReplayError::Data(format!("bad date {d}")))?;
    rust_xlsxwriter::ExcelDateTime::from_ymd(year, month, day).map_err(|e| ReplayError::Data(format!("date {d}: {e}")))
}
