//! Weekly volumes, for `GET /v1/metrics/volumes`: contacts by channel, referral source and
//! weekday, outcomes, referrals and the conversion rate, the share meeting the threshold,
//! and re-contacts (Devon's weekly figures; Warwickshire's sources and trends).

use chrono::NaiveDate;
use events::schema::{Channel, Consent, Outcome, SourceCode};
use serde::Serialize;

use super::{
    ConsultationFigures, Keyed, Tally, WEEKDAYS, Week, consultation_figures, received_in, share, week_index, weeks_of,
};
use crate::facts::ContactFacts;
use crate::locality::Localities;
use crate::model::Consultation;
use crate::time::weekday_name;

/// The key of "outcomes" for contacts with no decision yet.
pub const UNDECIDED: &str = "undecided";

/// Volumes over a period (by receipt): week by week and in total.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Volumes {
    /// The period, London dates by receipt, both included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The locality whose contacts are counted (`?locality=`, see docs/FIGURES.md,
    /// "Localities"); `null` for every contact. Left `null` here: whoever chose the contacts
    /// counted says so.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub locality: Option<String>,
    /// Every ISO week of receipt overlapping the period, ascending.
    pub by_week: Vec<VolumeWeek>,
    /// The whole period, in the same shape as a week.
    pub totals: VolumeCounts,
    /// The period's contacts by concern category (CIN assessment factor code, in the census
    /// order), each with its contacts and their outcomes; a contact counts under each of its
    /// categories, and `none` holds the contacts with none recorded.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, CategoryRow>))]
    pub by_concern_category: Keyed<CategoryRow>,
    /// The period's contacts by CIN census referral source code (in the census order): their
    /// outcomes, consent and conversion, and how their decisions stood to the duty
    /// discussion's recommendation.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, SourceRow>))]
    pub by_referral_source: Keyed<SourceRow>,
    /// Decided contacts whose decision in force followed a duty discussion that gave a
    /// recommendation: whether the decision followed it or departed from it.
    pub recommendations: Recommendations,
    /// The period's contacts by locality (of the first child's postcode district): every
    /// configured locality in name order, then `other` (a district no locality lists) and
    /// `unknown` (no postcode), each with its contacts and their outcomes.
    pub by_locality: Vec<LocalityRow>,
    /// Professional consultations taken in the period (never counted as contacts above).
    pub consultations: ConsultationFigures,
}

/// One locality of [`Volumes::by_locality`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocalityRow {
    /// A configured locality's name, `other` or `unknown`.
    pub locality: String,
    pub contacts: u64,
    /// Children named, summed over the contacts.
    pub children: u64,
    pub decided: u64,
    /// By the decision in force, in the schema's order, then `undecided`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub outcomes: Tally,
    /// Decision in force `strategy_discussion` or `assessment`.
    pub referrals: u64,
    /// `referrals / contacts` (`null` without contacts).
    pub conversion_rate: Option<f64>,
}

impl LocalityRow {
    fn new(locality: &str) -> LocalityRow {
        LocalityRow {
            locality: locality.to_owned(),
            contacts: 0,
            children: 0,
            decided: 0,
            outcomes: Tally::zeros(Outcome::ALL.iter().map(|o| o.as_str()).chain([UNDECIDED])),
            referrals: 0,
            conversion_rate: None,
        }
    }

    fn add(&mut self, contact: &ContactFacts) {
        self.contacts += 1;
        self.children += u64::from(contact.children);
        self.decided += u64::from(contact.outcome.is_some());
        self.outcomes.add(contact.outcome.map_or(UNDECIDED, Outcome::as_str), 1);
        self.referrals += u64::from(contact.is_referral());
    }
}

/// One referral source of [`Volumes::by_referral_source`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceRow {
    pub contacts: u64,
    pub decided: u64,
    /// By the decision in force, in the schema's order, then `undecided`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub outcomes: Tally,
    /// Decision in force `strategy_discussion` or `assessment`.
    pub referrals: u64,
    /// `referrals / contacts` (`null` without contacts).
    pub conversion_rate: Option<f64>,
    /// By consent as it stands: given, not_given, overridden, unknown.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub consent: Tally,
    /// `given / contacts` (`null` without contacts).
    pub consent_given_share: Option<f64>,
    pub recommendations: Recommendations,
}

/// Decisions after a duty discussion that recommended an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recommendations {
    /// Decided contacts whose decision in force came after a duty discussion recommending an
    /// outcome (the latest such discussion before that decision).
    pub after_discussion: u64,
    /// Of those, the decision in force is the outcome recommended.
    pub followed: u64,
    /// Of those, the decision in force is another outcome.
    pub departed: u64,
    /// `followed / after_discussion` (`null` when none).
    pub share_followed: Option<f64>,
}

impl Recommendations {
    fn add(&mut self, contact: &ContactFacts) {
        if let (Some(outcome), Some(recommended)) = (contact.outcome, contact.recommended) {
            self.after_discussion += 1;
            if outcome == recommended {
                self.followed += 1;
            } else {
                self.departed += 1;
            }
        }
    }

    fn finish(mut self) -> Self {
        self.share_followed = share(self.followed, self.after_discussion);
        self
    }
}

impl SourceRow {
    fn new() -> SourceRow {
        SourceRow {
            contacts: 0,
            decided: 0,
            outcomes: Tally::zeros(Outcome::ALL.iter().map(|o| o.as_str()).chain([UNDECIDED])),
            referrals: 0,
            conversion_rate: None,
            consent: Tally::zeros(Consent::ALL.iter().map(|c| c.as_str())),
            consent_given_share: None,
            recommendations: Recommendations::default(),
        }
    }

    fn add(&mut self, contact: &ContactFacts) {
        self.contacts += 1;
        self.decided += u64::from(contact.outcome.is_some());
        self.outcomes.add(contact.outcome.map_or(UNDECIDED, Outcome::as_str), 1);
        self.referrals += u64::from(contact.is_referral());
        self.consent.add(contact.consent.as_str(), 1);
        self.recommendations.add(contact);
    }

    fn finish(mut self) -> Self {
        self.conversion_rate = share(self.referrals, self.contacts);
        self.consent_given_share = share(self.consent.get(Consent::Given.as_str()), self.contacts);
        self.recommendations = self.recommendations.finish();
        self
    }
}

/// The key of "by concern category" for contacts with no category recorded.
pub const NO_CATEGORY: &str = "none";

/// One concern category of [`Volumes::by_concern_category`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryRow {
    /// Contacts with this category (the decision's categories when it gives any, else the
    /// contact's).
    pub contacts: u64,
    /// Those contacts by the decision in force, in the schema's order, then `undecided`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub outcomes: Tally,
    /// Those whose decision in force is `strategy_discussion` or `assessment`.
    pub referrals: u64,
}

/// One ISO week of [`Volumes`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeWeek {
    #[serde(flatten)]
    pub week: Week,
    #[serde(flatten)]
    pub counts: VolumeCounts,
    /// The week's contacts by CIN census referral source code, as
    /// [`Volumes::by_referral_source`] is for the period: outcomes, consent and conversion.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, SourceRow>))]
    pub by_referral_source: Keyed<SourceRow>,
}

/// The volume figures of a set of contacts. Every count is of contacts unless it says
/// otherwise; every tally lists all its keys, zeros included, in a fixed order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeCounts {
    pub contacts: u64,
    /// Children named, summed over the contacts (a contact about three siblings adds 3).
    pub children: u64,
    /// Contacts by channel, in the schema's order (phone, online_form, ...).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub by_channel: Tally,
    /// Contacts by CIN census referral source code, in the census order (1A ... 10).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub by_source: Tally,
    /// Contacts by London weekday of receipt, Monday to Sunday.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub by_weekday: Tally,
    /// Contacts by the decision in force, in the schema's order, then `undecided`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub outcomes: Tally,
    /// Contacts with a decision.
    pub decided: u64,
    /// Contacts whose decision in force is `strategy_discussion` or `assessment`.
    pub referrals: u64,
    /// `referrals / contacts` (`null` without contacts).
    pub conversion_rate: Option<f64>,
    /// Decided contacts that met the threshold for statutory social work: referrals
    /// (decision in force `strategy_discussion` or `assessment`), so the same as `referrals`.
    pub threshold_met: u64,
    /// `threshold_met / decided`, `not_accepted` decisions included in `decided` (Devon's
    /// "share that meets the threshold"; `null` when nothing was decided).
    pub threshold_met_share: Option<f64>,
    /// Decided contacts whose decision in force gives a level of need of 3 or 4.
    pub level_3_or_4: u64,
    /// `level_3_or_4 / decided` (`null` when nothing was decided).
    pub level_3_or_4_share: Option<f64>,
    /// Decided contacts whose decision in force gives no level of need.
    pub level_of_need_not_recorded: u64,
    /// Contacts naming a child who was named in another contact received in the 12
    /// months before this one.
    pub re_contacts: u64,
}

impl Default for VolumeCounts {
    fn default() -> Self {
        VolumeCounts {
            contacts: 0,
            children: 0,
            by_channel: Tally::zeros(Channel::ALL.iter().map(|c| c.as_str())),
            by_source: Tally::zeros(SourceCode::ALL.iter().map(|s| s.as_str())),
            by_weekday: Tally::zeros(WEEKDAYS),
            outcomes: Tally::zeros(Outcome::ALL.iter().map(|o| o.as_str()).chain([UNDECIDED])),
            decided: 0,
            referrals: 0,
            conversion_rate: None,
            threshold_met: 0,
            threshold_met_share: None,
            level_3_or_4: 0,
            level_3_or_4_share: None,
            level_of_need_not_recorded: 0,
            re_contacts: 0,
        }
    }
}

impl VolumeCounts {
    fn add(&mut self, contact: &ContactFacts) {
        self.contacts += 1;
        self.children += u64::from(contact.children);
        self.by_channel.add(contact.channel.as_str(), 1);
        self.by_source.add(contact.source.as_str(), 1);
        self.by_weekday.add(weekday_name(contact.received_at), 1);
        self.outcomes.add(contact.outcome.map_or(UNDECIDED, Outcome::as_str), 1);
        if contact.outcome.is_some() {
            self.decided += 1;
            self.threshold_met += u64::from(contact.is_referral());
            match contact.level_of_need {
                Some(3 | 4) => self.level_3_or_4 += 1,
                Some(_) => {}
                None => self.level_of_need_not_recorded += 1,
            }
        }
        self.referrals += u64::from(contact.is_referral());
        self.re_contacts += u64::from(contact.previous_contacts > 0);
    }

    fn finish(mut self) -> Self {
        self.conversion_rate = share(self.referrals, self.contacts);
        self.threshold_met_share = share(self.threshold_met, self.decided);
        self.level_3_or_4_share = share(self.level_3_or_4, self.decided);
        self
    }
}

/// Every referral source, in the census order, with an empty row.
fn source_rows() -> Keyed<SourceRow> {
    Keyed(SourceCode::ALL.iter().map(|s| (s.as_str(), SourceRow::new())).collect())
}

fn finish_sources(rows: Keyed<SourceRow>) -> Keyed<SourceRow> {
    Keyed(rows.0.into_iter().map(|(k, row)| (k, row.finish())).collect())
}

/// Volumes of the contacts in `facts` received from `from` to `to` (London dates, both
/// included), by ISO week of receipt and in total, split by the `localities` given, with the
/// professional `consultations` given (the caller picks them: of the period, of a locality).
/// Each figure is defined in `docs/FIGURES.md`.
pub fn volumes<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    consultations: impl IntoIterator<Item = &'a Consultation>,
    from: NaiveDate,
    to: NaiveDate,
    localities: &Localities,
) -> Volumes {
    let mut totals = VolumeCounts::default();
    let mut weeks = weeks_of(from, to, || (VolumeCounts::default(), source_rows()));
    let mut by_locality: Vec<LocalityRow> = localities.names().map(LocalityRow::new).collect();
    let outcomes = || Tally::zeros(Outcome::ALL.iter().map(|o| o.as_str()).chain(std::iter::once(UNDECIDED)));
    let mut categories = Keyed(
        events::schema::CONCERN_CATEGORY_CODES
            .iter()
            .copied()
            .chain(std::iter::once(NO_CATEGORY))
            .map(|code| (code, CategoryRow { contacts: 0, outcomes: outcomes(), referrals: 0 }))
            .collect(),
    );
    let mut sources = source_rows();
    let mut recommendations = Recommendations::default();
    for contact in received_in(facts, from, to) {
        if let Some(row) = sources.get_mut(contact.source.as_str()) {
            row.add(contact);
        }
        recommendations.add(contact);
        let keys: Vec<&str> =
            if contact.concern_categories.is_empty() { vec![NO_CATEGORY] } else { contact.concern_categories.clone() };
        for key in keys {
            if let Some(row) = categories.get_mut(key) {
                row.contacts += 1;
                row.outcomes.add(contact.outcome.map_or(UNDECIDED, Outcome::as_str), 1);
                row.referrals += u64::from(contact.is_referral());
            }
        }
        totals.add(contact);
        let week = &mut weeks[week_index(from, contact.received_on())].1;
        week.0.add(contact);
        if let Some(row) = week.1.get_mut(contact.source.as_str()) {
            row.add(contact);
        }
        let locality = localities.of(contact);
        if let Some(row) = by_locality.iter_mut().find(|r| r.locality == locality) {
            row.add(contact);
        }
    }
    Volumes {
        from,
        to,
        locality: None,
        by_week: weeks
            .into_iter()
            .map(|(week, (counts, sources))| VolumeWeek {
                week,
                counts: counts.finish(),
                by_referral_source: finish_sources(sources),
            })
            .collect(),
        totals: totals.finish(),
        by_concern_category: categories,
        by_referral_source: finish_sources(sources),
        recommendations: recommendations.finish(),
        by_locality: by_locality
            .into_iter()
            .map(|row| LocalityRow { conversion_rate: share(row.referrals, row.contacts), ..row })
            .collect(),
        consultations: consultation_figures(consultations, from, to),
    }
}

#[cfg(test)]
mod tests {
    use events::schema::{Channel, Consent, Outcome, SourceCode};

    use super::*;
    use crate::figures::testing::{contact, d};

    #[test]
    fn contacts_and_outcomes_by_concern_category_count_a_contact_under_each_of_its_categories() {
        let facts = [
            contact("2026-03-02T09:00:00Z")
                .categories(&["3A", "4B"])
                .decided_as("2026-03-02T12:00:00Z", Outcome::Assessment),
            contact("2026-03-03T09:00:00Z").categories(&["3A"]).decided_as("2026-03-03T12:00:00Z", Outcome::EarlyHelp),
            contact("2026-03-04T09:00:00Z").categories(&["16A"]),
            contact("2026-03-04T10:00:00Z").decided("2026-03-04T12:00:00Z"),
            // Outside the period.
            contact("2026-03-20T09:00:00Z").categories(&["3A"]),
        ];
        let v = volumes(&facts, [], d(2026, 3, 2), d(2026, 3, 8), &Localities::default());
        let row = |code: &str| v.by_concern_category.get(code).unwrap();
        assert_eq!((row("3A").contacts, row("3A").referrals), (2, 1));
        assert_eq!((row("3A").outcomes.get("assessment"), row("3A").outcomes.get("early_help")), (1, 1));
        assert_eq!((row("4B").contacts, row("4B").referrals), (1, 1));
        assert_eq!((row("16A").contacts, row("16A").outcomes.get("undecided")), (1, 1));
        assert_eq!((row("none").contacts, row("none").outcomes.get("no_further_action")), (1, 1));
        assert_eq!(row("1A").contacts, 0);
        // Every code, in the census order, then none.
        let keys: Vec<&str> = v.by_concern_category.0.iter().map(|(k, _)| *k).collect();
        assert_eq!((keys.len(), keys[0], keys[6], keys[44]), (45, "1A", "3A", "none"));
    }

    #[test]
    fn outcomes_consent_conversion_and_recommendations_by_referral_source() {
        // Worked by hand: three school contacts (one referral after a discussion that
        // recommended it, one early help against a recommended assessment, one undecided
        // without consent), one police contact (no further action, no discussion).
        let facts = [
            contact("2026-03-02T09:00:00Z")
                .consent(Consent::Given, false)
                .recommended(Outcome::Assessment)
                .decided_as("2026-03-02T12:00:00Z", Outcome::Assessment),
            contact("2026-03-03T09:00:00Z")
                .consent(Consent::Given, false)
                .recommended(Outcome::Assessment)
                .decided_as("2026-03-03T12:00:00Z", Outcome::EarlyHelp),
            contact("2026-03-04T09:00:00Z").consent(Consent::NotGiven, true),
            contact("2026-03-04T10:00:00Z")
                .via(Channel::PoliceNotification, SourceCode::Police)
                .consent(Consent::Overridden, false)
                .decided("2026-03-04T12:00:00Z"),
        ];
        let v = volumes(&facts, [], d(2026, 3, 2), d(2026, 3, 8), &Localities::default());
        let school = v.by_referral_source.get("2A").unwrap();
        assert_eq!((school.contacts, school.decided, school.referrals), (3, 2, 1));
        assert_eq!(
            (school.outcomes.get("assessment"), school.outcomes.get("early_help"), school.outcomes.get("undecided")),
            (1, 1, 1)
        );
        crate::figures::testing::assert_close(school.conversion_rate, 1.0 / 3.0);
        assert_eq!((school.consent.get("given"), school.consent.get("not_given")), (2, 1));
        crate::figures::testing::assert_close(school.consent_given_share, 2.0 / 3.0);
        assert_eq!(
            (school.recommendations.after_discussion, school.recommendations.followed, school.recommendations.departed),
            (2, 1, 1)
        );
        let police = v.by_referral_source.get("6").unwrap();
        assert_eq!((police.contacts, police.referrals, police.consent.get("overridden")), (1, 0, 1));
        assert_eq!((police.recommendations.after_discussion, police.recommendations.share_followed), (0, None));
        assert_eq!(v.by_referral_source.get("1A").unwrap().conversion_rate, None);
        assert_eq!((v.recommendations.after_discussion, v.recommendations.followed), (2, 1));
        crate::figures::testing::assert_close(v.recommendations.share_followed, 0.5);
        let keys: Vec<&str> = v.by_referral_source.0.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, SourceCode::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    }

    fn north_and_south() -> Localities {
        Localities::new([
            ("North".to_owned(), vec!["EX31".to_owned(), "EX32".to_owned()]),
            ("South".to_owned(), vec!["TQ1".to_owned()]),
        ])
        .unwrap()
    }

    /// Worked by hand: over the fortnight of 2 March 2026, North has 3 contacts (4 children:
    /// one of two siblings; an assessment, an early help, one undecided), South 1 (no further
    /// action), `other` 1 (Plymouth, PL1: a strategy discussion) and `unknown` 1 (no postcode,
    /// undecided). A North contact received before the period is left out.
    fn split_log() -> Vec<ContactFacts> {
        vec![
            contact("2026-02-27T09:00:00Z").in_district("EX31").decided("2026-02-27T12:00:00Z"),
            contact("2026-03-02T09:00:00Z")
                .in_district("EX31")
                .children(2)
                .decided_as("2026-03-02T12:00:00Z", Outcome::Assessment),
            contact("2026-03-03T09:00:00Z").in_district("EX32").decided_as("2026-03-03T12:00:00Z", Outcome::EarlyHelp),
            contact("2026-03-10T09:00:00Z").in_district("EX32"),
            contact("2026-03-04T09:00:00Z").in_district("TQ1").decided("2026-03-04T10:00:00Z"),
            contact("2026-03-11T09:00:00Z")
                .in_district("PL1")
                .decided_as("2026-03-11T10:00:00Z", Outcome::StrategyDiscussion),
            contact("2026-03-12T09:00:00Z"),
        ]
    }

    #[test]
    fn contacts_and_outcomes_by_locality_from_the_first_childs_postcode_district() {
        let facts = split_log();
        let v = volumes(&facts, [], d(2026, 3, 2), d(2026, 3, 15), &north_and_south());
        let rows: Vec<(&str, u64, u64, u64, u64)> = v
            .by_locality
            .iter()
            .map(|r| (r.locality.as_str(), r.contacts, r.children, r.decided, r.referrals))
            .collect();
        assert_eq!(
            rows,
            [("North", 3, 4, 2, 1), ("South", 1, 1, 1, 0), ("other", 1, 1, 1, 1), ("unknown", 1, 1, 0, 0)]
        );
        let north = &v.by_locality[0];
        assert_eq!(
            (north.outcomes.get("assessment"), north.outcomes.get("early_help"), north.outcomes.get("undecided")),
            (1, 1, 1)
        );
        crate::figures::testing::assert_close(north.conversion_rate, 1.0 / 3.0);
        assert_eq!(v.by_locality[1].outcomes.get("no_further_action"), 1);
        // The rows add up to the period's contacts.
        assert_eq!(v.by_locality.iter().map(|r| r.contacts).sum::<u64>(), v.totals.contacts);
    }

    #[test]
    fn a_figure_of_one_locality_counts_only_its_contacts() {
        let facts = split_log();
        let l = north_and_south();
        let north = volumes(l.filter(&facts, Some("North")), [], d(2026, 3, 2), d(2026, 3, 15), &l);
        assert_eq!((north.totals.contacts, north.totals.children, north.totals.referrals), (3, 4, 1));
        assert_eq!((north.by_week[0].counts.contacts, north.by_week[1].counts.contacts), (2, 1));
        assert_eq!(north.by_locality.iter().map(|r| r.contacts).collect::<Vec<_>>(), [3, 0, 0, 0]);
        let unknown = volumes(l.filter(&facts, Some("unknown")), [], d(2026, 3, 2), d(2026, 3, 15), &l);
        assert_eq!((unknown.totals.contacts, unknown.totals.outcomes.get("undecided")), (1, 1));
        // Changing the map re-splits the same log: with PL1 in South, `other` empties.
        let moved = Localities::new([
            ("North".to_owned(), vec!["EX31".to_owned(), "EX32".to_owned()]),
            ("South".to_owned(), vec!["TQ1".to_owned(), "PL1".to_owned()]),
        ])
        .unwrap();
        let v = volumes(&facts, [], d(2026, 3, 2), d(2026, 3, 15), &moved);
        assert_eq!(v.by_locality.iter().map(|r| r.contacts).collect::<Vec<_>>(), [3, 2, 0, 1]);
    }

    #[test]
    fn outcomes_consent_and_conversion_by_referral_source_week_by_week() {
        // Week 1: two school contacts (an assessment with consent given; one undecided, consent
        // not given) and one police contact (no further action, consent overridden).
        // Week 2: one school contact (early help, consent given).
        let facts = [
            contact("2026-03-02T09:00:00Z")
                .consent(Consent::Given, false)
                .decided_as("2026-03-02T12:00:00Z", Outcome::Assessment),
            contact("2026-03-03T09:00:00Z").consent(Consent::NotGiven, false),
            contact("2026-03-04T09:00:00Z")
                .via(Channel::PoliceNotification, SourceCode::Police)
                .consent(Consent::Overridden, false)
                .decided("2026-03-04T10:00:00Z"),
            contact("2026-03-09T09:00:00Z")
                .consent(Consent::Given, false)
                .decided_as("2026-03-09T12:00:00Z", Outcome::EarlyHelp),
        ];
        let v = volumes(&facts, [], d(2026, 3, 2), d(2026, 3, 15), &Localities::default());
        let school = |week: usize| v.by_week[week].by_referral_source.get("2A").unwrap();
        assert_eq!((school(0).contacts, school(0).decided, school(0).referrals), (2, 1, 1));
        assert_eq!((school(0).outcomes.get("assessment"), school(0).outcomes.get("undecided")), (1, 1));
        crate::figures::testing::assert_close(school(0).conversion_rate, 0.5);
        crate::figures::testing::assert_close(school(0).consent_given_share, 0.5);
        assert_eq!((school(1).contacts, school(1).referrals, school(1).outcomes.get("early_help")), (1, 0, 1));
        crate::figures::testing::assert_close(school(1).conversion_rate, 0.0);
        let police = v.by_week[0].by_referral_source.get("6").unwrap();
        assert_eq!((police.contacts, police.consent.get("overridden"), police.consent_given_share), (1, 1, Some(0.0)));
        assert_eq!(v.by_week[1].by_referral_source.get("6").unwrap().conversion_rate, None);
        // The weeks add up to the period's row.
        let period = v.by_referral_source.get("2A").unwrap();
        assert_eq!(period.contacts, school(0).contacts + school(1).contacts);
    }

    fn week_of_contacts() -> Vec<ContactFacts> {
        vec![
            // Monday 2 March 2026 (GMT).
            contact("2026-03-02T09:00:00Z")
                .children(3)
                .decided_as("2026-03-02T12:00:00Z", Outcome::Assessment)
                .level(4),
            contact("2026-03-02T10:00:00Z")
                .via(Channel::PoliceNotification, SourceCode::Police)
                .decided_as("2026-03-02T11:00:00Z", Outcome::StrategyDiscussion)
                .level(4)
                .previous(2),
            // Tuesday.
            contact("2026-03-03T09:00:00Z")
                .via(Channel::OnlineForm, SourceCode::Gp)
                .decided_as("2026-03-03T15:00:00Z", Outcome::EarlyHelp)
                .level(3),
            contact("2026-03-03T10:00:00Z")
                .children(2)
                .decided_as("2026-03-03T15:00:00Z", Outcome::AdviceAndSignpost)
                .level(2),
            // Wednesday: revised from early help to an assessment.
            contact("2026-03-04T10:00:00Z")
                .via(Channel::Email, SourceCode::FamilyMember)
                .decided_as("2026-03-04T15:00:00Z", Outcome::EarlyHelp)
                .level(2)
                .revised_to(Outcome::Assessment)
                .previous(1),
            // Saturday: no further action, no level recorded.
            contact("2026-03-07T10:00:00Z").via(Channel::Phone, SourceCode::Anonymous).decided("2026-03-09T10:00:00Z"),
            // Sunday, undecided.
            contact("2026-03-08T20:00:00Z").via(Channel::Phone, SourceCode::Unknown).previous(1),
        ]
    }

    #[test]
    fn a_week_of_contacts_counted_every_way() {
        let v = volumes(&week_of_contacts(), [], d(2026, 3, 2), d(2026, 3, 8), &Localities::default());
        assert_eq!(v.by_week.len(), 1);
        let w = &v.by_week[0];
        assert_eq!(w.week.week, "2026-W10");
        assert_eq!(w.counts, v.totals);
        let t = &v.totals;
        assert_eq!((t.contacts, t.children, t.decided), (7, 10, 6));
        assert_eq!(
            t.by_channel.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>(),
            [("phone", 4), ("online_form", 1), ("email", 1), ("police_notification", 1)]
        );
        assert_eq!(
            t.by_source.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>(),
            [("1A", 1), ("2A", 2), ("3A", 1), ("6", 1), ("9", 1), ("10", 1)]
        );
        assert_eq!(
            t.by_weekday.iter().collect::<Vec<_>>(),
            [
                ("Monday", 2),
                ("Tuesday", 2),
                ("Wednesday", 1),
                ("Thursday", 0),
                ("Friday", 0),
                ("Saturday", 1),
                ("Sunday", 1)
            ]
        );
        assert_eq!(
            t.outcomes.iter().collect::<Vec<_>>(),
            [
                ("strategy_discussion", 1),
                ("assessment", 2),
                ("early_help", 1),
                ("advice_and_signpost", 1),
                ("no_further_action", 1),
                ("existing_case", 0),
                ("not_accepted", 0),
                ("undecided", 1),
            ]
        );
        // Each breakdown adds up to the contacts.
        for tally in [&t.by_channel, &t.by_source, &t.by_weekday, &t.outcomes] {
            assert_eq!(tally.total(), t.contacts);
        }
        // Referrals by the decision in force: 3 of 7 contacts.
        assert_eq!(t.referrals, 3);
        assert_eq!(t.conversion_rate, Some(3.0 / 7.0));
        // Levels 4, 4, 3 of 6 decided; one decided has no level.
        assert_eq!((t.level_3_or_4, t.level_of_need_not_recorded), (3, 1));
        assert_eq!(t.level_3_or_4_share, Some(0.5));
        // The threshold met: the 3 referrals of 6 decided.
        assert_eq!((t.threshold_met, t.threshold_met_share), (3, Some(0.5)));
        assert_eq!(t.re_contacts, 3);
    }

    #[test]
    fn weekdays_and_weeks_are_london_ones() {
        let facts = [
            contact("2026-06-28T22:59:00Z"), // Sunday 23:59 BST, W26
            contact("2026-06-28T23:00:00Z"), // Monday 00:00 BST, W27
            contact("2026-06-28T23:30:00Z"), // Monday 00:30 BST, W27
        ];
        let v = volumes(&facts, [], d(2026, 6, 22), d(2026, 7, 5), &Localities::default());
        let w26 = &v.by_week[0].counts;
        let w27 = &v.by_week[1].counts;
        assert_eq!((w26.contacts, w26.by_weekday.get("Sunday")), (1, 1));
        assert_eq!((w27.contacts, w27.by_weekday.get("Monday"), w27.by_weekday.get("Sunday")), (2, 2, 0));
        assert_eq!(v.totals.by_weekday.total(), 3);
    }

    #[test]
    fn weeks_are_ascending_zero_filled_and_add_up_to_the_totals() {
        let mut facts = week_of_contacts();
        facts.push(contact("2026-03-18T10:00:00Z").decided_as("2026-03-18T12:00:00Z", Outcome::Assessment).level(4));
        facts.push(contact("2026-02-27T10:00:00Z")); // before the period
        let v = volumes(&facts, [], d(2026, 3, 1), d(2026, 3, 20), &Localities::default());
        let weeks: Vec<(&str, u64)> = v.by_week.iter().map(|w| (w.week.week.as_str(), w.counts.contacts)).collect();
        assert_eq!(weeks, [("2026-W09", 0), ("2026-W10", 7), ("2026-W11", 0), ("2026-W12", 1)]);
        // The first week is cut to the period: only Sunday 1 March.
        assert_eq!((v.by_week[0].week.from, v.by_week[0].week.to), (d(2026, 3, 1), d(2026, 3, 1)));
        assert_eq!(v.by_week[3].week.to, d(2026, 3, 20));
        assert_eq!(v.by_week[0].counts.conversion_rate, None);
        assert_eq!(v.by_week[3].counts.conversion_rate, Some(1.0));
        let sum = |f: fn(&VolumeCounts) -> u64| v.by_week.iter().map(|w| f(&w.counts)).sum::<u64>();
        assert_eq!(sum(|c| c.contacts), v.totals.contacts);
        assert_eq!(sum(|c| c.referrals), v.totals.referrals);
        assert_eq!(sum(|c| c.re_contacts), v.totals.re_contacts);
        assert_eq!(v.totals.contacts, 8);
        assert_eq!(v.totals.conversion_rate, Some(0.5));
    }

    #[test]
    fn json_lists_every_key_in_a_fixed_order() {
        let v = volumes(&[contact("2026-03-02T09:00:00Z")], [], d(2026, 3, 2), d(2026, 3, 2), &Localities::default());
        let json = serde_json::to_value(&v).unwrap();
        let week = &json["by_week"][0];
        assert_eq!(week["week"], "2026-W10");
        assert_eq!(week["contacts"], 1);
        assert_eq!(week["by_channel"]["phone"], 1);
        assert_eq!(week["by_channel"].as_object().unwrap().len(), Channel::ALL.len());
        let sources: Vec<&String> = week["by_source"].as_object().unwrap().keys().collect();
        assert_eq!(sources.first().map(|s| s.as_str()), Some("1A"));
        assert_eq!(sources.last().map(|s| s.as_str()), Some("10"));
        assert_eq!(week["outcomes"]["undecided"], 1);
        assert_eq!(week["conversion_rate"], 0.0);
        assert_eq!(week["threshold_met_share"], serde_json::Value::Null);
        assert_eq!(week["level_3_or_4_share"], serde_json::Value::Null);
        assert_eq!(json["totals"]["re_contacts"], 0);
    }

    #[test]
    fn threshold_share_as_councils_define_it_referrals_over_decided_not_accepted_included() {
        let facts = [
            // Two referrals: an assessment at level 3 and a strategy discussion, no level.
            contact("2026-03-02T09:00:00Z").decided_as("2026-03-02T10:00:00Z", Outcome::Assessment).level(3),
            contact("2026-03-02T09:00:00Z").decided_as("2026-03-02T10:00:00Z", Outcome::StrategyDiscussion),
            // Level 4 but an existing case: not a referral, but level 3 or 4.
            contact("2026-03-03T09:00:00Z").decided_as("2026-03-03T10:00:00Z", Outcome::ExistingCase).level(4),
            // Targeted early help at level 3, and two not accepted (a duplicate, a wrong service).
            contact("2026-03-03T09:00:00Z").decided_as("2026-03-03T10:00:00Z", Outcome::EarlyHelp).level(3),
            contact("2026-03-04T09:00:00Z").decided_as("2026-03-04T10:00:00Z", Outcome::NotAccepted),
            contact("2026-03-04T09:00:00Z").decided_as("2026-03-04T10:00:00Z", Outcome::NotAccepted),
            // A referral revised to no further action: not a referral any more.
            contact("2026-03-05T09:00:00Z")
                .decided_as("2026-03-05T10:00:00Z", Outcome::Assessment)
                .revised_to(Outcome::NoFurtherAction),
            // Undecided: in neither numerator nor denominator.
            contact("2026-03-06T09:00:00Z"),
        ];
        let t = volumes(&facts, [], d(2026, 3, 2), d(2026, 3, 8), &Localities::default()).totals;
        assert_eq!((t.contacts, t.decided, t.referrals), (8, 7, 2));
        // 2 referrals of 7 decided, the 2 not accepted among them.
        assert_eq!((t.threshold_met, t.threshold_met_share), (2, Some(2.0 / 7.0)));
        // The old figure, levels 3 and 4, is a different thing: here the assessment and the
        // early help at level 3 and the existing case at level 4.
        assert_eq!((t.level_3_or_4, t.level_3_or_4_share), (3, Some(3.0 / 7.0)));
        assert_eq!(t.outcomes.get("not_accepted"), 2);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["threshold_met_share"], 2.0 / 7.0);
        assert_eq!(json["level_3_or_4"], 3);
    }
}
