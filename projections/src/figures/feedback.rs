//! Referrer feedback (Nottinghamshire's first data need): the answers referrers gave to the
//! two-question survey after the outcome (`referrer_feedback_given`), per week. Unlike the
//! other figures an answer counts in the week it was *given* (the London date of its
//! `occurred_at`), not the week its contact was received: the figure follows how referrers
//! feel about the front door now. Each contact has at most one answer.

use chrono::NaiveDate;
use serde::Serialize;

use super::{Week, weeks_of};
use crate::facts::ContactFacts;
use crate::time::london_date;

/// The answers given in a period, and per ISO week of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferrerFeedback {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub totals: Answers,
    pub by_week: Vec<WeekAnswers>,
}

/// How many answers, and the mean of each question's scores (1 to 5; null without answers).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Answers {
    pub answers: u64,
    /// "Did you feel listened to?": the mean score.
    pub listened_to_average: Option<f64>,
    /// "Do you know what happens next?": the mean score.
    pub knows_next_steps_average: Option<f64>,
}

/// One week's answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeekAnswers {
    #[serde(flatten)]
    pub week: Week,
    #[serde(flatten)]
    pub answers: Answers,
}

#[derive(Default)]
struct Sums {
    n: u64,
    listened: u64,
    knows: u64,
}

impl Sums {
    fn answers(&self) -> Answers {
        #[allow(clippy::cast_precision_loss)]
        let mean = |total: u64| (self.n > 0).then(|| total as f64 / self.n as f64);
        Answers {
            answers: self.n,
            listened_to_average: mean(self.listened),
            knows_next_steps_average: mean(self.knows),
        }
    }
}

/// The feedback given between `from` and `to` (London dates, both included).
pub fn referrer_feedback<'a>(
    facts: impl IntoIterator<Item = &'a ContactFacts>,
    from: NaiveDate,
    to: NaiveDate,
) -> ReferrerFeedback {
    let mut weeks = weeks_of(from, to, Sums::default);
    let mut total = Sums::default();
    for feedback in facts.into_iter().filter_map(|f| f.referrer_feedback) {
        let day = london_date(feedback.at);
        if !(from..=to).contains(&day) {
            continue;
        }
        for sums in [&mut total]
            .into_iter()
            .chain(weeks.iter_mut().find(|(w, _)| (w.from..=w.to).contains(&day)).map(|w| &mut w.1))
        {
            sums.n += 1;
            sums.listened += u64::from(feedback.listened_to);
            sums.knows += u64::from(feedback.knows_next_steps);
        }
    }
    ReferrerFeedback {
        from,
        to,
        totals: total.answers(),
        by_week: weeks.into_iter().map(|(week, sums)| WeekAnswers { week, answers: sums.answers() }).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Feedback;
    use crate::figures::testing::{at, contact, d};

    fn answered(received: &str, given: &str, listened_to: u8, knows_next_steps: u8) -> ContactFacts {
        let mut f = contact(received);
        f.referrer_feedback = Some(Feedback { at: at(given), listened_to, knows_next_steps });
        f
    }

    #[test]
    fn answers_count_in_the_week_they_were_given() {
        let facts = [
            // Received the week before, answered in the first week of the period.
            answered("2026-02-25T10:00:00Z", "2026-03-03T10:00:00Z", 5, 4),
            answered("2026-03-02T10:00:00Z", "2026-03-04T10:00:00Z", 2, 1),
            answered("2026-03-02T10:00:00Z", "2026-03-10T10:00:00Z", 4, 4),
            // Given after the period: not counted.
            answered("2026-03-02T10:00:00Z", "2026-03-20T10:00:00Z", 1, 1),
            // No answer.
            contact("2026-03-03T10:00:00Z"),
        ];
        let figure = referrer_feedback(&facts, d(2026, 3, 2), d(2026, 3, 15));
        assert_eq!(figure.totals.answers, 3);
        assert_eq!(figure.totals.listened_to_average, Some(11.0 / 3.0));
        assert_eq!(figure.by_week.len(), 2);
        let first = &figure.by_week[0];
        assert_eq!((first.week.week.as_str(), first.answers.answers), ("2026-W10", 2));
        assert_eq!(first.answers.listened_to_average, Some(3.5));
        assert_eq!(first.answers.knows_next_steps_average, Some(2.5));
        let second = &figure.by_week[1];
        assert_eq!((second.answers.answers, second.answers.knows_next_steps_average), (1, Some(4.0)));
    }

    #[test]
    fn a_week_without_answers_has_no_averages() {
        let figure = referrer_feedback(&[contact("2026-03-03T10:00:00Z")], d(2026, 3, 2), d(2026, 3, 8));
        assert_eq!(figure.totals, Answers::default());
        assert_eq!(figure.by_week[0].answers.listened_to_average, None);
    }
}
