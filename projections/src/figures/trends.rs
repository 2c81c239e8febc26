//! Trends partners may read (Warwickshire shares its triage trends with partners): contacts,
//! outcomes and concern categories by referral source and ISO week, for one agency's own
//! sources and for everyone, with no child-level data and every count from 1 to 4 suppressed
//! (`null`), as published figures do. Definitions in `docs/FIGURES.md` ("Partner trends").

use chrono::NaiveDate;
use events::schema::{Agency, Outcome, SourceCode};
use serde::Serialize;

use super::volumes::{NO_CATEGORY, UNDECIDED};
use super::{Keyed, Tally, Week, received_in, week_index, weeks_of};
use crate::facts::ContactFacts;

/// Counts from 1 to `SUPPRESS_BELOW - 1` are not shown.
pub const SUPPRESS_BELOW: u64 = 5;

/// The CIN census referral sources that are an agency's own: the contacts it makes.
pub fn agency_sources(agency: Agency) -> &'static [SourceCode] {
    use SourceCode as S;
    match agency {
        Agency::Police => &[S::Police],
        Agency::Health => {
            &[S::Gp, S::HealthVisitor, S::SchoolNurse, S::OtherPrimaryHealth, S::AccidentAndEmergency, S::OtherHealth]
        }
        Agency::Education => &[S::School, S::EducationServices],
        Agency::Probation => &[S::OtherLegalAgency],
        Agency::AdultSocialCare => &[S::LaSocialCare],
        Agency::Housing => &[S::Housing],
        Agency::EarlyHelp => &[S::EarlyHelp],
        Agency::ChildrensSocialCare => &[S::OtherInternalLa, S::ExternalLa],
        Agency::Other => &[S::Other],
    }
}

/// A count as published: `null` when from 1 to 4.
pub fn suppressed(n: u64) -> Option<u64> {
    (n == 0 || n >= SUPPRESS_BELOW).then_some(n)
}

/// The trends of a period: for one agency's sources (when asked) and for all sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trends {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The locality whose contacts are counted (`?locality=`, see docs/FIGURES.md,
    /// "Localities"); `null` for every contact. Left `null` here: whoever chose the contacts
    /// counted says so.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub locality: Option<String>,
    /// Counts from 1 to this minus 1 are `null` (suppressed); 0 is shown.
    pub suppressed_below: u64,
    /// The agency whose own sources `own` covers (a partner's own agency).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub agency: Option<Agency>,
    /// The contacts from the agency's own sources; `null` when no agency was asked for.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub own: Option<TrendScope>,
    /// Every contact, from every source.
    pub overall: TrendScope,
}

/// Trends over one set of sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrendScope {
    /// The sources counted (CIN census codes).
    pub sources: Vec<SourceCode>,
    /// Every ISO week of receipt overlapping the period, ascending.
    pub by_week: Vec<TrendWeek>,
    /// The whole period.
    pub totals: TrendCounts,
}

/// One week of a [`TrendScope`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrendWeek {
    #[serde(flatten)]
    pub week: Week,
    #[serde(flatten)]
    pub counts: TrendCounts,
}

/// Suppressed counts of contacts: `null` stands for 1 to 4.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrendCounts {
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub contacts: Option<u64>,
    /// By CIN census referral source code (the scope's sources only).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, Option<u64>>))]
    pub by_source: Keyed<Option<u64>>,
    /// By the decision in force, then `undecided`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, Option<u64>>))]
    pub outcomes: Keyed<Option<u64>>,
    /// By concern category (a contact counts under each of its categories), then `none`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, Option<u64>>))]
    pub concern_categories: Keyed<Option<u64>>,
}

struct Acc {
    contacts: u64,
    by_source: Tally,
    outcomes: Tally,
    categories: Tally,
}

impl Acc {
    fn new(sources: &[SourceCode]) -> Acc {
        Acc {
            contacts: 0,
            by_source: Tally::zeros(sources.iter().map(|s| s.as_str())),
            outcomes: Tally::zeros(Outcome::ALL.iter().map(|o| o.as_str()).chain([UNDECIDED])),
            categories: Tally::zeros(events::schema::CONCERN_CATEGORY_CODES.iter().copied().chain([NO_CATEGORY])),
        }
    }

    fn add(&mut self, contact: &ContactFacts) {
        self.contacts += 1;
        self.by_source.add(contact.source.as_str(), 1);
        self.outcomes.add(contact.outcome.map_or(UNDECIDED, Outcome::as_str), 1);
        if contact.concern_categories.is_empty() {
            self.categories.add(NO_CATEGORY, 1);
        }
        for code in &contact.concern_categories {
            self.categories.add(code, 1);
        }
    }

    fn published(&self) -> TrendCounts {
        let keyed = |t: &Tally| Keyed(t.iter().map(|(k, n)| (k, suppressed(n))).collect());
        TrendCounts {
            contacts: suppressed(self.contacts),
            by_source: keyed(&self.by_source),
            outcomes: keyed(&self.outcomes),
            concern_categories: keyed(&self.categories),
        }
    }
}

fn scope<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
    sources: &[SourceCode],
) -> TrendScope {
    let mut totals = Acc::new(sources);
    let mut weeks = weeks_of(from, to, || Acc::new(sources));
    for contact in received_in(facts, from, to).filter(|c| sources.contains(&c.source)) {
        totals.add(contact);
        weeks[week_index(from, contact.received_on())].1.add(contact);
    }
    TrendScope {
        sources: sources.to_vec(),
        by_week: weeks.into_iter().map(|(week, acc)| TrendWeek { week, counts: acc.published() }).collect(),
        totals: totals.published(),
    }
}

/// The trends of the contacts received from `from` to `to`, for `agency`'s own sources
/// (when given) and overall.
pub fn trends<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
    agency: Option<Agency>,
) -> Trends {
    let facts: Vec<&ContactFacts> = facts.into_iter().collect();
    Trends {
        from,
        to,
        locality: None,
        suppressed_below: SUPPRESS_BELOW,
        agency,
        own: agency.map(|a| scope(facts.iter().copied(), from, to, agency_sources(a))),
        overall: scope(facts.iter().copied(), from, to, SourceCode::ALL),
    }
}

#[cfg(test)]
mod tests {
    use events::schema::{Agency, Channel, Outcome, SourceCode};

    use super::*;
    use crate::figures::testing::{contact, d};

    #[test]
    fn counts_from_one_to_four_are_suppressed_and_zero_and_five_are_shown() {
        assert_eq!([0, 1, 4, 5, 12].map(suppressed), [Some(0), None, None, Some(5), Some(12)]);
    }

    #[test]
    fn a_partners_own_sources_and_everyone_by_week_with_small_counts_suppressed() {
        // Week of 2 March 2026: 6 police contacts (5 no further action, 1 assessment, all
        // domestic abuse 3A) and 2 school contacts. Week of 9 March: 1 police contact.
        let mut facts = Vec::new();
        for hour in 0..5 {
            facts.push(
                contact(&format!("2026-03-02T1{hour}:00:00Z"))
                    .via(Channel::PoliceNotification, SourceCode::Police)
                    .categories(&["3A"])
                    .decided("2026-03-03T09:00:00Z"),
            );
        }
        facts.push(
            contact("2026-03-03T10:00:00Z")
                .via(Channel::PoliceNotification, SourceCode::Police)
                .categories(&["3A"])
                .decided_as("2026-03-03T12:00:00Z", Outcome::Assessment),
        );
        facts.push(contact("2026-03-04T10:00:00Z"));
        facts.push(contact("2026-03-05T10:00:00Z"));
        facts.push(contact("2026-03-10T10:00:00Z").via(Channel::PoliceNotification, SourceCode::Police));
        let t = trends(&facts, d(2026, 3, 2), d(2026, 3, 15), Some(Agency::Police));
        let own = t.own.as_ref().unwrap();
        assert_eq!(own.sources, [SourceCode::Police]);
        assert_eq!(own.totals.contacts, Some(7));
        assert_eq!(own.by_week[0].counts.contacts, Some(6));
        assert_eq!(own.by_week[0].counts.outcomes.get("no_further_action"), Some(&Some(5)));
        assert_eq!(own.by_week[0].counts.outcomes.get("assessment"), Some(&None), "1 is suppressed");
        assert_eq!(own.by_week[0].counts.outcomes.get("early_help"), Some(&Some(0)));
        assert_eq!(own.by_week[0].counts.concern_categories.get("3A"), Some(&Some(6)));
        assert_eq!(own.by_week[1].counts.contacts, None, "1 contact in the second week");
        assert_eq!(own.by_week[0].counts.by_source.0.len(), 1, "only the agency's own sources");
        // Overall: 9 contacts; the school's 2 are suppressed.
        assert_eq!(t.overall.totals.contacts, Some(9));
        assert_eq!(t.overall.totals.by_source.get("2A"), Some(&None));
        assert_eq!(t.overall.totals.by_source.get("6"), Some(&Some(7)));
        assert_eq!(t.overall.totals.concern_categories.get("none"), Some(&None));
        // Without an agency, no own scope.
        assert_eq!(trends(&facts, d(2026, 3, 2), d(2026, 3, 15), None).own, None);
    }

    #[test]
    fn every_agency_has_its_own_sources() {
        for agency in Agency::ALL {
            assert!(!agency_sources(*agency).is_empty(), "{agency:?}");
        }
    }
}
