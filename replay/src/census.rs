//! The DfE's Children in Need census, the referral part, as the census's XML (`Message`,
//! `Header`, `Children`, one `Child` per Child Unique ID with its `CINdetails`), for one census
//! year (1 April to 31 March, reference date 31 March).
//!
//! - **Which referrals**: every contact with a referral decision (`assessment` or
//!   `strategy_discussion`) whose first referral decision falls in the year (London date), as
//!   Annex A's List 3 lists them, for every child of the contact. A referral revised to
//!   `early_help` or `existing_case` is no longer a referral and is left out.
//! - **`ReferralNFA`** is `true` for a referral whose decision in force is `no_further_action`,
//!   `not_accepted` or `advice_and_signpost` and whose revision came before any receiving team
//!   accepted the handover; its `CINclosureDate` is the date of that revision and its
//!   `ReasonForClosure` `RC8` (case closed after assessment, no further action: the census's
//!   code for a referral closed with no further action). Every other referral is exported
//!   **open** (no closure): it went on to the Assessment Team, and its closure belongs to the
//!   case management system that holds the assessment.
//! - **Child identifiers**: `LAchildID` is the Child Unique ID of Annex A, the child index's
//!   child id ([`crate::annex::child_unique_id`]: 1-20 letters and digits, never the NHS
//!   number), so a child referred twice is one `Child` with two `CINdetails`; `UPN` the child's UPN on record (or given on a referral
//!   decision), else `UPNunknown` from the latest referral decision that gave one;
//!   `PersonBirthDate` or `ExpectedPersonBirthDate`; `Sex` `M`, `F` or `U` (not recorded, and
//!   always for an unborn child), as the census records it from 2024-25 (before: `GenderCurrent`).
//! - **Characteristics**: `Ethnicity` as [`events::schema::ethnicity_for_returns`] (`NOBT` for
//!   none, and for free text written before the edge checked codes). Disabilities are not the
//!   front door's to record and are left out.
//! - **`PrimaryNeedCode`**: from the referral decision in force (or the last referral decision
//!   that gave one).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use events::schema::{Child, Outcome, Sex, UpnUnknownReason, ethnicity_for_returns};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::annex::{ContactRecord, child_unique_id, collect};
use crate::error::ReplayError;
use crate::source::Source;

/// A census year: `2026-27` runs from 1 April 2026 to 31 March 2027.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CensusYear {
    /// The year it starts in (2026 for 2026-27).
    pub start: i32,
}

impl CensusYear {
    /// Reads `YYYY-YY` (the second year the first's next, e.g. `2026-27`).
    ///
    /// # Errors
    /// A usage error naming the form expected.
    pub fn parse(text: &str) -> Result<CensusYear, ReplayError> {
        let bad = || ReplayError::Usage(format!("--year must be a census year like 2026-27, not {text:?}"));
        let (first, second) = text.split_once('-').ok_or_else(bad)?;
        let start: i32 = first.parse().map_err(|_| bad())?;
        let end: i32 = second.parse().map_err(|_| bad())?;
        if first.len() != 4 || second.len() != 2 || (start + 1) % 100 != end || !(2000..=2100).contains(&start) {
            return Err(bad());
        }
        Ok(CensusYear { start })
    }

    /// 1 April of the first year.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.start, 4, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The reference date: 31 March of the second year.
    pub fn reference_date(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.start + 1, 3, 31).unwrap_or(NaiveDate::MAX)
    }
}

/// One referral of one child, as the census holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub referral_date: NaiveDate,
    pub source: &'static str,
    pub primary_need: Option<&'static str>,
    /// `Some(date)` for a referral with no further action (closed that day, `RC8`).
    pub nfa_closed: Option<NaiveDate>,
}

/// One child with its referrals in the year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CensusChild {
    pub la_child_id: String,
    pub upn: Option<String>,
    pub upn_unknown: Option<UpnUnknownReason>,
    pub birth_date: Option<NaiveDate>,
    pub expected_birth_date: Option<NaiveDate>,
    /// `M`, `F` or `U` (not recorded, or unborn): the census's `Sex` (from 2024-25).
    pub sex: &'static str,
    pub ethnicity: &'static str,
    pub episodes: Vec<Episode>,
}

fn london(t: DateTime<Utc>) -> NaiveDate {
    projections::time::london_date(t)
}

fn census_sex(sex: Option<Sex>) -> &'static str {
    sex.unwrap_or(Sex::Unknown).as_str()
}

/// The referral of `r`, if it is one the census lists: its date and, for a referral with no
/// further action, the date it was closed.
fn referral(r: &ContactRecord) -> Option<(NaiveDate, Option<NaiveDate>)> {
    let referred = london(r.first_referral()?);
    let (_, decided_at, outcome) = r.decisions.last()?;
    match outcome {
        Outcome::StrategyDiscussion | Outcome::Assessment => Some((referred, None)),
        Outcome::NoFurtherAction | Outcome::NotAccepted | Outcome::AdviceAndSignpost => {
            // Revised after the receiving team accepted it: the referral went on, and its
            // closure is the case management system's.
            if r.accepted_at.is_some_and(|accepted| accepted <= *decided_at) {
                Some((referred, None))
            } else {
                Some((referred, Some(london(*decided_at).max(referred))))
            }
        }
        Outcome::EarlyHelp | Outcome::ExistingCase => None,
    }
}

/// The children and referrals of the year, by Child Unique ID (children in id order, each
/// child's referrals by date).
///
/// # Errors
/// Read failures; an event that does not decode.
pub fn children(source: &Source, year: CensusYear) -> Result<Vec<CensusChild>, ReplayError> {
    let (records, index) = collect(source)?;
    let mut by_id: BTreeMap<String, CensusChild> = BTreeMap::new();
    for r in &records {
        let Some((date, nfa_closed)) = referral(r) else { continue };
        if !(year.first_day()..=year.reference_date()).contains(&date) {
            continue;
        }
        let referrals = r.decided.iter().filter(|d| d.outcome.is_referral());
        let primary_need = referrals.clone().filter_map(|d| d.primary_need).next_back().map(|n| n.as_str());
        for (i, child) in r.children.iter().enumerate() {
            let given = referrals.clone().filter_map(|d| d.children.get(i));
            let upn = child.upn.clone().or_else(|| given.clone().filter_map(|g| g.upn.clone()).next_back());
            let upn_unknown = if upn.is_some() { None } else { given.filter_map(|g| g.upn_unknown_reason).next_back() };
            let id = child_unique_id(&index, r.id, i);
            let entry = by_id.entry(id.clone()).or_insert_with(|| new_child(id, child));
            // The latest record of the child's details wins.
            let latest = new_child(String::new(), child);
            entry.sex = latest.sex;
            entry.ethnicity = latest.ethnicity;
            if latest.birth_date.is_some() || latest.expected_birth_date.is_some() {
                entry.birth_date = latest.birth_date;
                entry.expected_birth_date = latest.expected_birth_date;
            }
            if upn.is_some() {
                entry.upn = upn;
                entry.upn_unknown = None;
            } else if entry.upn.is_none() && upn_unknown.is_some() {
                entry.upn_unknown = upn_unknown;
            }
            entry.episodes.push(Episode { referral_date: date, source: r.source.as_str(), primary_need, nfa_closed });
        }
    }
    let mut out: Vec<CensusChild> = by_id.into_values().collect();
    for c in &mut out {
        c.episodes.sort_by_key(|e| e.referral_date);
    }
    Ok(out)
}

fn new_child(la_child_id: String, child: &Child) -> CensusChild {
    CensusChild {
        la_child_id,
        upn: None,
        upn_unknown: None,
        birth_date: child.date_of_birth,
        expected_birth_date: if child.date_of_birth.is_none() { child.expected_date_of_birth } else { None },
        sex: if child.date_of_birth.is_none() && child.expected_date_of_birth.is_some() {
            "U"
        } else {
            census_sex(child.sex)
        },
        ethnicity: ethnicity_for_returns(child.ethnicity.as_deref()),
        episodes: Vec::new(),
    }
}

/// The census XML for the year. `la` is the local authority's DfE number (three digits).
/// The header's `DateTime` is when the last event read was recorded, so the same log always
/// gives the same bytes.
///
/// # Errors
/// Read failures; an event that does not decode; `la` not three digits.
pub fn cin_census(source: &Source, year: CensusYear, la: &str) -> Result<Vec<u8>, ReplayError> {
    if la.len() != 3 || !la.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ReplayError::Usage(format!("--la must be the LA's three-digit DfE number, not {la:?}")));
    }
    let children = children(source, year)?;
    let mut last_recorded: Option<DateTime<Utc>> = None;
    source.for_each(&mut |env| {
        last_recorded = Some(last_recorded.map_or(env.recorded_at, |t| t.max(env.recorded_at)));
        Ok(crate::source::Flow::Continue)
    })?;
    let stamp = last_recorded.unwrap_or_else(|| year.first_day().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    write_xml(&children, year, la, stamp)
}

fn write_xml(
    children: &[CensusChild],
    year: CensusYear,
    la: &str,
    stamp: DateTime<Utc>,
) -> Result<Vec<u8>, ReplayError> {
    let mut w = Xml(Writer::new_with_indent(Vec::new(), b' ', 2));
    w.0.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None))).map_err(xml_err)?;
    w.open("Message")?;
    w.open("Header")?;
    w.open("CollectionDetails")?;
    w.leaf("Collection", "CIN")?;
    w.leaf("Year", &(year.start + 1).to_string())?;
    w.leaf("ReferenceDate", &year.reference_date().to_string())?;
    w.close("CollectionDetails")?;
    w.open("Source")?;
    w.leaf("SourceLevel", "L")?;
    w.leaf("LEA", la)?;
    w.leaf("SoftwareCode", "frontdoor")?;
    w.leaf("Release", env!("CARGO_PKG_VERSION"))?;
    w.leaf("SerialNo", "1")?;
    w.leaf("DateTime", &stamp.format("%Y-%m-%dT%H:%M:%S").to_string())?;
    w.close("Source")?;
    w.close("Header")?;
    w.open("Children")?;
    for c in children {
        w.open("Child")?;
        w.open("ChildIdentifiers")?;
        w.leaf("LAchildID", &c.la_child_id)?;
        if let Some(upn) = &c.upn {
            w.leaf("UPN", upn)?;
        }
        if let Some(reason) = c.upn_unknown {
            w.leaf("UPNunknown", reason.as_str())?;
        }
        if let Some(d) = c.birth_date {
            w.leaf("PersonBirthDate", &d.to_string())?;
        }
        if let Some(d) = c.expected_birth_date {
            w.leaf("ExpectedPersonBirthDate", &d.to_string())?;
        }
        w.leaf("Sex", c.sex)?;
        w.close("ChildIdentifiers")?;
        w.open("ChildCharacteristics")?;
        w.leaf("Ethnicity", c.ethnicity)?;
        w.close("ChildCharacteristics")?;
        for e in &c.episodes {
            w.open("CINdetails")?;
            w.leaf("CINreferralDate", &e.referral_date.to_string())?;
            w.leaf("ReferralSource", e.source)?;
            if let Some(need) = e.primary_need {
                w.leaf("PrimaryNeedCode", need)?;
            }
            if let Some(closed) = e.nfa_closed {
                w.leaf("CINclosureDate", &closed.to_string())?;
                w.leaf("ReasonForClosure", "RC8")?;
            }
            w.leaf("ReferralNFA", if e.nfa_closed.is_some() { "true" } else { "false" })?;
            w.close("CINdetails")?;
        }
        w.close("Child")?;
    }
    w.close("Children")?;
    w.close("Message")?;
    let mut bytes = w.0.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}

fn xml_err(e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Data(format!("writing the census XML: {e}"))
}

struct Xml(Writer<Vec<u8>>);

impl Xml {
    fn open(&mut self, name: &str) -> Result<(), ReplayError> {
        self.0.write_event(Event::Start(BytesStart::new(name))).map_err(xml_err)
    }

    fn close(&mut self, name: &str) -> Result<(), ReplayError> {
        self.0.write_event(Event::End(BytesEnd::new(name))).map_err(xml_err)
    }

    fn leaf(&mut self, name: &str, text: &str) -> Result<(), ReplayError> {
        self.open(name)?;
        self.0.write_event(Event::Text(BytesText::new(text))).map_err(xml_err)?;
        self.close(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_census_year_is_read_as_the_dfe_writes_it() {
        let y = CensusYear::parse("2026-27").unwrap();
        assert_eq!(y.first_day(), NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
        assert_eq!(y.reference_date(), NaiveDate::from_ymd_opt(2027, 3, 31).unwrap());
        assert_eq!(CensusYear::parse("1999-00").map(|y| y.start).ok(), None);
        assert_eq!(CensusYear::parse("2099-00").unwrap().start, 2099);
        for bad in ["2026", "2026-28", "2026-2027", "26-27", "abcd-ef"] {
            assert!(matches!(CensusYear::parse(bad), Err(ReplayError::Usage(_))), "{bad}");
        }
    }
}
