//! Professional consultations' figures: how many were taken, week by week and by referral
//! source, and how many a contact followed. Consultations are never contacts: none of the
//! contacts' figures counts them, and these count nothing else.

use chrono::NaiveDate;
use events::schema::SourceCode;
use serde::Serialize;

use super::{Tally, Week, share, week_index, weeks_of};
use crate::model::Consultation;

/// The consultations taken in a period (by the London date of the call).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsultationFigures {
    /// Consultations taken in the period.
    pub consultations: u64,
    /// Of them, those that named at least one child.
    pub naming_a_child: u64,
    /// Of them, those a contact followed: a contact's `follows_consultation` names it (as the
    /// log stands, whenever the contact came).
    pub followed_by_contact: u64,
    /// `followed_by_contact` ÷ `consultations`; `null` when there were none.
    pub followed_share: Option<f64>,
    /// Every ISO week of the call overlapping the period, ascending.
    pub by_week: Vec<ConsultationWeek>,
    /// By CIN census referral source code (the contacts' codes, in the census order), zeros
    /// included.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub by_source: Tally,
}

/// One ISO week of [`ConsultationFigures`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsultationWeek {
    #[serde(flatten)]
    pub week: Week,
    pub consultations: u64,
    pub followed_by_contact: u64,
}

/// The figures of the consultations taken from `from` to `to` (London dates, both included).
/// Defined in `docs/FIGURES.md`.
pub fn consultation_figures<'a>(
    all: impl IntoIterator<Item = &'a Consultation>,
    from: NaiveDate,
    to: NaiveDate,
) -> ConsultationFigures {
    let mut weeks = weeks_of(from, to, || (0u64, 0u64));
    let mut by_source = Tally::zeros(SourceCode::ALL.iter().map(|s| s.as_str()));
    let (mut total, mut naming, mut followed) = (0, 0, 0);
    for c in all.into_iter().filter(|c| (from..=to).contains(&c.occurred_on())) {
        let was_followed = u64::from(!c.followed_by.is_empty());
        total += 1;
        naming += u64::from(!c.data.children.is_empty());
        followed += was_followed;
        by_source.add(c.data.source.as_str(), 1);
        let week = &mut weeks[week_index(from, c.occurred_on())].1;
        week.0 += 1;
        week.1 += was_followed;
    }
    ConsultationFigures {
        consultations: total,
        naming_a_child: naming,
        followed_by_contact: followed,
        followed_share: share(followed, total),
        by_week: weeks
            .into_iter()
            .map(|(week, (consultations, followed_by_contact))| ConsultationWeek {
                week,
                consultations,
                followed_by_contact,
            })
            .collect(),
        by_source,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use events::schema::{Agency, Child, ConsultationRecorded, SourceCode};
    use ulid::Ulid;

    use super::*;
    use crate::figures::testing::d;

    fn consultation(n: u64, at: &str, source: SourceCode, child: bool, followed: usize) -> Consultation {
        let occurred_at: DateTime<Utc> = at.parse().unwrap();
        Consultation {
            consultation_id: Ulid::from_parts(n, 0),
            recorded_at: occurred_at,
            occurred_at,
            recorded_by: "practitioner-1".into(),
            data: ConsultationRecorded {
                agency: Agency::Education,
                source,
                advice: "Speak to the parents first.".into(),
                children: if child {
                    vec![serde_json::from_value::<Child>(serde_json::json!({"name": "Ann Example"})).unwrap()]
                } else {
                    Vec::new()
                },
                concern_categories: Vec::new(),
            },
            followed_by: (0..followed).map(|i| Ulid::from_parts(100 + n, i as u128)).collect(),
        }
    }

    /// Worked by hand: the period is Wednesday 4 to Sunday 15 March 2026, so weeks W10 (4-8)
    /// and W11 (9-15). In it: Wednesday 4th (2A, followed twice: counts once), Sunday 8th at
    /// 23:30 UTC (London is still GMT: the 8th, W10; 3A), Monday 9th at 00:30 (W11; 2A, names a
    /// child), Sunday 15th (W11; 2A, followed). Out of it: Tuesday 3rd and Monday 16th. So 4
    /// consultations, 2 followed (share 0.5), 1 naming a child; W10: 2, 1 followed; W11: 2, 1
    /// followed; by source 2A 3, 3A 1, every other code 0.
    #[test]
    fn consultations_per_week_and_by_source_from_a_small_log_worked_by_hand() {
        let all = [
            consultation(1, "2026-03-03T10:00:00Z", SourceCode::Police, false, 1),
            consultation(2, "2026-03-04T10:00:00Z", SourceCode::School, false, 2),
            consultation(3, "2026-03-08T23:30:00Z", SourceCode::Gp, false, 0),
            consultation(4, "2026-03-09T00:30:00Z", SourceCode::School, true, 0),
            consultation(5, "2026-03-15T16:00:00Z", SourceCode::School, false, 1),
            consultation(6, "2026-03-16T09:00:00Z", SourceCode::School, true, 1),
        ];
        assert_eq!((SourceCode::School.as_str(), SourceCode::Gp.as_str()), ("2A", "3A"));
        let f = consultation_figures(&all, d(2026, 3, 4), d(2026, 3, 15));
        assert_eq!((f.consultations, f.followed_by_contact, f.naming_a_child), (4, 2, 1));
        assert_eq!(f.followed_share, Some(0.5));
        let weeks: Vec<(&str, NaiveDate, NaiveDate, u64, u64)> = f
            .by_week
            .iter()
            .map(|w| (w.week.week.as_str(), w.week.from, w.week.to, w.consultations, w.followed_by_contact))
            .collect();
        assert_eq!(
            weeks,
            [("2026-W10", d(2026, 3, 4), d(2026, 3, 8), 2, 1), ("2026-W11", d(2026, 3, 9), d(2026, 3, 15), 2, 1)]
        );
        assert_eq!((f.by_source.get("2A"), f.by_source.get("3A"), f.by_source.get("1A")), (3, 1, 0));
        assert_eq!(f.by_source.total(), 4);
        assert_eq!(f.by_source.iter().count(), SourceCode::ALL.len(), "every code listed, zeros included");

        let none = consultation_figures(&all, d(2026, 1, 5), d(2026, 1, 11));
        assert_eq!((none.consultations, none.followed_share), (0, None));
    }
}
