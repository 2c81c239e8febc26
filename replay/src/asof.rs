//! The duty queue and timeliness as they stood at a moment: the same fold and the same
//! definitions as the service's `GET /v1/as-of` (`src/http/figures.rs`, `fold_until`):
//!
//! - `--position N`: every event up to position N (or the head, if N is beyond it); the
//!   moment is the `recorded_at` of the last event folded.
//! - `--at T`: every event recorded at or before T, stopping at the first recorded after
//!   it; the moment is T.
//!
//! The queue is [`ReadModel::queue`] at the moment (so "overdue" is as it was then), and the
//! timeliness is [`projections::figures::timeliness`] over the contacts received in the 28
//! London days up to the moment's date.

use chrono::{DateTime, Utc};
use events::envelope::timestamp;
use projections::figures::Timeliness;
use projections::model::{QueueItem, ReadModel};
use projections::time::DuePolicy;
use serde::Serialize;

use crate::error::ReplayError;
use crate::source::{Flow, Source};

/// Which moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// After the event at this position (1 or more).
    Position(u64),
    /// Every event recorded at or before this instant.
    At(DateTime<Utc>),
}

/// The queue as it stood.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Queue {
    pub as_of_position: u64,
    pub items: Vec<QueueItem>,
}

/// The answer: the same JSON as the service's `GET /v1/as-of`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsOf {
    pub as_of_position: u64,
    pub as_of_time: String,
    pub queue: Queue,
    pub timeliness: Timeliness,
}

/// Folds `source` up to `moment`. Returns the model and the instant it describes.
///
/// # Errors
/// [`ReplayError::Usage`] for position 0 or a log with no event at or before the moment;
/// read failures; an event that does not fold.
pub fn fold_until(source: &Source, moment: Moment) -> Result<(ReadModel, DateTime<Utc>), ReplayError> {
    if moment == Moment::Position(0) {
        return Err(ReplayError::Usage("--position starts at 1".into()));
    }
    let mut model = ReadModel::default();
    let mut last_time = None;
    source.for_each(&mut |env| {
        match moment {
            Moment::Position(p) if env.position > p => return Ok(Flow::Stop),
            Moment::At(at) if env.recorded_at > at => return Ok(Flow::Stop),
            _ => {}
        }
        model.apply(env).map_err(|e| ReplayError::Data(format!("position {}: {e}", env.position)))?;
        last_time = Some(env.recorded_at);
        Ok(Flow::Continue)
    })?;
    let instant = match moment {
        Moment::At(at) => at,
        Moment::Position(_) => last_time.ok_or_else(|| ReplayError::Usage("the log is empty".into()))?,
    };
    Ok((model, instant))
}

/// The queue and timeliness at `moment`.
///
/// # Errors
/// As [`fold_until`].
pub fn as_of(source: &Source, moment: Moment, policy: &DuePolicy) -> Result<AsOf, ReplayError> {
    let (model, instant) = fold_until(source, moment)?;
    Ok(as_of_model(&model, instant, policy))
}

/// The answer for a model folded up to `instant`.
pub fn as_of_model(model: &ReadModel, instant: DateTime<Utc>, policy: &DuePolicy) -> AsOf {
    let to = projections::time::london_date(instant);
    let from = to.checked_sub_days(chrono::Days::new(27)).unwrap_or(chrono::NaiveDate::MIN);
    AsOf {
        as_of_position: model.position(),
        as_of_time: timestamp::format(&instant),
        queue: Queue { as_of_position: model.position(), items: model.queue(policy, instant) },
        timeliness: projections::figures::timeliness(model.facts(), from, to, policy, instant),
    }
}

fn opt_hours(h: Option<f64>) -> String {
    h.map_or_else(|| "-".into(), |h| format!("{h:.1}"))
}

fn pct(s: Option<f64>) -> String {
    s.map_or_else(|| "-".into(), |s| format!("{:.1}%", s * 100.0))
}

/// The answer as text: the queue as a table, then the timeliness in brief.
pub fn render_table(a: &AsOf) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "As of position {} ({})", a.as_of_position, a.as_of_time);
    let _ = writeln!(out);
    let _ = writeln!(out, "Duty queue: {} contacts", a.queue.items.len());
    let _ = writeln!(
        out,
        "{:<3} {:<26} {:<18} {:<24} {:<24} {:<7} {:<6} {:<6} {:<19} {:<4} {:<4} {:<8} assigned to",
        "#",
        "contact",
        "stage",
        "received",
        "due by",
        "overdue",
        "urgent",
        "rating",
        "channel",
        "src",
        "prev",
        "children"
    );
    for (i, item) in a.queue.items.iter().enumerate() {
        let stage =
            serde_json::to_value(item.stage).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<3} {:<26} {:<18} {:<24} {:<24} {:<7} {:<6} {:<6} {:<19} {:<4} {:<4} {:<8} {}",
            i + 1,
            item.contact_id.to_string(),
            stage,
            timestamp::format(&item.received_at),
            timestamp::format(&item.due_by),
            if item.overdue { "yes" } else { "no" },
            if item.is_urgent() { "yes" } else { "no" },
            item.rating.map_or("-", |r| r.as_str()),
            item.channel.as_str(),
            item.source.as_str(),
            item.previous_contacts,
            item.children.len(),
            item.assigned_to.as_deref().unwrap_or("-"),
        );
    }
    let t = &a.timeliness;
    let _ = writeln!(out);
    let _ = writeln!(out, "Timeliness, contacts received {} to {} (London dates)", t.from, t.to);
    let _ = writeln!(out, "  contacts {}, decided {}, undecided {}", t.contacts, t.decided, t.undecided);
    let _ = writeln!(
        out,
        "  undecided past due: 24 hours {}, one working day {}, policy {} (each share is over decided plus these)",
        t.undecided_past_due.within_24h, t.undecided_past_due.one_working_day, t.undecided_past_due.policy
    );
    let _ = writeln!(
        out,
        "  recorded late: decisions {}, acceptances {}",
        t.recorded_late.decisions, t.recorded_late.acceptances
    );
    let _ = writeln!(
        out,
        "  decided within 24 hours {} ({}), within one working day {} ({}), within policy {} ({})",
        t.decided_within_24h,
        pct(t.share_within_24h),
        t.decided_within_one_working_day,
        pct(t.share_within_one_working_day),
        t.decided_within_policy,
        pct(t.share_within_policy)
    );
    let _ = writeln!(
        out,
        "  decision hours: median {}, p90 {}, max {}",
        opt_hours(t.decision_hours.median),
        opt_hours(t.decision_hours.p90),
        opt_hours(t.decision_hours.max)
    );
    let at = &t.to_assessment_team;
    let _ = writeln!(
        out,
        "  to the Assessment Team: {} accepted, {} awaiting; hours median {}, p90 {}, max {}",
        at.count,
        at.awaiting,
        opt_hours(at.hours.median),
        opt_hours(at.hours.p90),
        opt_hours(at.hours.max)
    );
    out
}
