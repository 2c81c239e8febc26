//! What the demo amounts to, counted from the projections' own fold of its events: the
//! startup banner's numbers and the figures the tests check.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use eventlog::AppendRequest;
use events::schema::{Channel, Outcome};
use events::{Envelope, Event, Hash};
use projections::contact::{ContactState, HandoverStatus};
use projections::time::DuePolicy;
use ulid::Ulid;

/// What the demo data amounts to: printed in the startup banner and checked by tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DemoSummary {
    pub contacts: usize,
    /// Children named, counted per contact (a child in two contacts counts twice).
    pub children: usize,
    /// Distinct children named in more than one contact (re-contacts).
    pub recontacted_children: usize,
    pub events: usize,
    pub appends: usize,
    pub immediate_risk: usize,
    /// Not closed at `now`.
    pub open: usize,
    /// Open without a decision.
    pub undecided: usize,
    /// Undecided and past their due time (`DuePolicy::due_by`) at `now`.
    pub overdue: usize,
    /// Decided, with a handover sent and not accepted, or returned and not sent again.
    pub awaiting_handover: usize,
    /// Handovers sent, not yet accepted or returned, and past their acceptance due time at
    /// `now` ([`DuePolicy::handover_due_by`]: two hours for red-rated or immediate-risk contacts, else
    /// the policy's working days).
    pub overdue_handovers: usize,
    /// Events recorded more than the policy's late-entry window after they occurred (each
    /// with a `late_entry_reason`).
    pub recorded_late: usize,
    /// Not-accepted decisions naming the earlier contact they duplicate.
    pub duplicates: usize,
    pub closed: usize,
    pub decided: usize,
    /// First decision by the policy's due time (by default one working day, or two hours
    /// for red-rated or immediate-risk contacts).
    pub decided_on_time: usize,
    /// First decision within one working day of receipt.
    pub decided_within_one_working_day: usize,
    /// Contacts whose decision was revised.
    pub revised: usize,
    /// Decided contacts whose (latest) outcome is strategy discussion or assessment.
    pub referrals: usize,
    pub by_channel: BTreeMap<Channel, usize>,
    /// Decided contacts by their latest outcome.
    pub by_outcome: BTreeMap<Outcome, usize>,
}

impl DemoSummary {
    /// `count` as a percentage of `total` (0 when there is nothing to divide).
    pub fn percent(count: usize, total: usize) -> f64 {
        if total == 0 { 0.0 } else { 100.0 * count as f64 / total as f64 }
    }
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: usize, of: usize| Self::percent(n, of);
        writeln!(
            f,
            "{} contacts ({} immediate risk; {} children, {} seen again), {} events in {} appends",
            self.contacts, self.immediate_risk, self.children, self.recontacted_children, self.events, self.appends
        )?;
        writeln!(
            f,
            "open {}: undecided {} (overdue {}), awaiting handover {} (overdue {}); closed {}",
            self.open, self.undecided, self.overdue, self.awaiting_handover, self.overdue_handovers, self.closed
        )?;
        writeln!(
            f,
            "decided {}: on time {:.0}%, within one working day {:.0}%, revised {}, referrals {} ({:.0}%)",
            self.decided,
            pct(self.decided_on_time, self.decided),
            pct(self.decided_within_one_working_day, self.decided),
            self.revised,
            self.referrals,
            pct(self.referrals, self.decided)
        )?;
        let outcomes: Vec<String> =
            self.by_outcome.iter().map(|(o, n)| format!("{o} {n} ({:.0}%)", pct(*n, self.decided))).collect();
        writeln!(f, "outcomes: {} ({} duplicates)", outcomes.join(", "), self.duplicates)?;
        writeln!(
            f,
            "recorded late (with a reason): {} events ({:.1}%)",
            self.recorded_late,
            pct(self.recorded_late, self.events)
        )?;
        let channels: Vec<String> =
            self.by_channel.iter().map(|(c, n)| format!("{c} {n} ({:.0}%)", pct(*n, self.contacts))).collect();
        write!(f, "channels: {}", channels.join(", "))
    }
}

/// The demo's appends as the envelopes a log holds after writing them in order: positions
/// from 1, each contact's versions from 1, `recorded_at` as the demo set it (the hash chain
/// left at genesis: nothing here checks it). What the projections fold, in tests and benches
/// as in [`summarise`].
pub fn envelopes(appends: &[AppendRequest]) -> Vec<Envelope> {
    let mut versions: HashMap<Ulid, u32> = HashMap::new();
    let mut out = Vec::with_capacity(appends.iter().map(|a| a.events.len()).sum());
    for append in appends {
        let version = versions.entry(append.contact_id).or_insert(0);
        for new in &append.events {
            *version += 1;
            out.push(Envelope {
                position: out.len() as u64 + 1,
                event_id: new.event_id,
                contact_id: append.contact_id,
                version: *version,
                event_type: new.event_type,
                schema_version: events::schema::CURRENT_SCHEMA_VERSION,
                occurred_at: new.occurred_at,
                late_entry_reason: new.late_entry_reason.clone(),
                recorded_at: new.recorded_at.unwrap_or(new.occurred_at),
                actor: new.actor.clone(),
                data: new.data.clone(),
                prev_hash: Hash::GENESIS,
                hash: Hash::GENESIS,
            });
        }
    }
    out
}

/// Counts what `generate` produced, as the duty board would see it at `now`: each contact
/// folded by the projections' own [`ContactState::fold`], the figures the service shows.
///
/// # Panics
/// If an event's data does not decode, or a contact's first event is not `contact_received`
/// (neither happens with [`generate`](crate::generate)'s output).
pub fn summarise(appends: &[AppendRequest], now: DateTime<Utc>, policy: &DuePolicy) -> DemoSummary {
    let mut summary = DemoSummary { appends: appends.len(), ..DemoSummary::default() };
    let mut streams: HashMap<Ulid, Vec<Envelope>> = HashMap::new();
    let mut seen_children: HashMap<(String, Option<NaiveDate>), usize> = HashMap::new();
    for env in envelopes(appends) {
        summary.events += 1;
        summary.recorded_late += usize::from(policy.recorded_late(env.occurred_at, env.recorded_at));
        match env.event().expect("demo events decode") {
            Event::ContactReceived(c) => {
                summary.contacts += 1;
                summary.children += c.children.len();
                *summary.by_channel.entry(c.channel).or_default() += 1;
                for child in c.children {
                    *seen_children.entry((child.name, child.date_of_birth)).or_default() += 1;
                }
            }
            Event::DecisionMade(d) => summary.duplicates += usize::from(d.duplicate_of.is_some()),
            _ => {}
        }
        streams.entry(env.contact_id).or_default().push(env);
    }
    summary.recontacted_children = seen_children.values().filter(|&&n| n > 1).count();
    // Working Together's yardstick, whatever the council's own policy says.
    let one_day = DuePolicy { working_days: 1, ..policy.clone() };
    for stream in streams.values() {
        let contact = ContactState::fold(stream).expect("demo contacts fold").expect("a contact has events");
        let urgent = contact.is_urgent();
        let closed = contact.closed.is_some();
        summary.immediate_risk += usize::from(contact.immediate_risk);
        summary.closed += usize::from(closed);
        summary.open += usize::from(!closed);
        summary.revised += usize::from(!contact.revisions_of.is_empty());
        match (contact.first_decision_at, &contact.decision) {
            (Some(decided_at), Some(decision)) => {
                summary.decided += 1;
                *summary.by_outcome.entry(decision.outcome).or_default() += 1;
                summary.referrals += usize::from(decision.outcome.is_referral());
                let due = policy.due_by(contact.received_at, urgent);
                summary.decided_on_time += usize::from(decided_at <= due);
                let one_working_day = one_day.due_by(contact.received_at, false);
                summary.decided_within_one_working_day += usize::from(decided_at <= one_working_day);
                let handover = contact.handover.as_ref().map(|h| h.status);
                let waiting = matches!(handover, Some(HandoverStatus::Pending | HandoverStatus::Returned));
                summary.awaiting_handover += usize::from(!closed && waiting);
                if let Some(h) = contact.handover.as_ref().filter(|h| h.status == HandoverStatus::Pending) {
                    summary.overdue_handovers +=
                        usize::from(policy.is_overdue(policy.handover_due_by(h.sent_at, urgent), now));
                }
            }
            _ if !closed => {
                summary.undecided += 1;
                let due = policy.due_by(contact.received_at, urgent);
                summary.overdue += usize::from(policy.is_overdue(due, now));
            }
            _ => {}
        }
    }
    summary
}
