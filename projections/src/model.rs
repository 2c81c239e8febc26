//! The read model: every contact's facts, the full state of open contacts, the children
//! index, and the duty queue folded from them. One `apply` per event, in log order; the same
//! fold serves the live service, a rebuild from scratch and "as of" a past position.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use events::schema::{Channel, Event, Outcome, Rating, SourceCode};
use events::{Envelope, EventType};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::children::ChildIndex;
use crate::contact::{ContactState, FoldError, Handover, HandoverStatus, Stage};
use crate::facts::{ContactFacts, FactStore};
use crate::time::DuePolicy;

mod snapshot;
pub use snapshot::SnapshotError;

/// A child as the duty queue shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueChild {
    pub name: String,
    /// Whole years today; `None` without a date of birth (or before birth).
    pub age: Option<u32>,
}

/// Which of the duty queue's two lists a line belongs to: what the duty team does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueueList {
    /// Undecided: a decision is due.
    DecisionDue,
    /// Decided: a handover is to be sent, or was sent and awaits the receiving team's
    /// acceptance (or came back and is to be sent again).
    HandoverAwaitingAcceptance,
}

impl QueueList {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueList::DecisionDue => "decision_due",
            QueueList::HandoverAwaitingAcceptance => "handover_awaiting_acceptance",
        }
    }
}

/// A duty team's end-of-day debrief as recorded: a stream of its own, never a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DutyDebrief {
    /// The debrief's stream id.
    pub debrief_id: Ulid,
    pub recorded_at: DateTime<Utc>,
    /// When the debrief was held.
    pub occurred_at: DateTime<Utc>,
    /// The actor id of who recorded it.
    pub recorded_by: String,
    #[serde(flatten)]
    pub data: events::schema::DutyDebriefRecorded,
}

/// A professional consultation as recorded: a stream of its own, never a contact, with the
/// contacts that said they followed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consultation {
    /// The consultation's stream id.
    pub consultation_id: Ulid,
    pub recorded_at: DateTime<Utc>,
    /// When the call was taken.
    pub occurred_at: DateTime<Utc>,
    /// The actor id of who recorded it.
    pub recorded_by: String,
    #[serde(flatten)]
    pub data: events::schema::ConsultationRecorded,
    /// The contacts whose `follows_consultation` names it, in the order received.
    pub followed_by: Vec<Ulid>,
}

impl Consultation {
    /// The London date of the call.
    pub fn occurred_on(&self) -> NaiveDate {
        crate::time::london_date(self.occurred_at)
    }
}

/// Most characters of the concerns' first line a queue line shows.
pub const CONCERNS_SUMMARY_MAX: usize = 120;

/// The first non-blank line of `concerns`, cut to [`CONCERNS_SUMMARY_MAX`] characters (with
/// `…` when cut), so a queue line says what the contact is about without the whole text.
pub fn concerns_summary(concerns: &str) -> String {
    let line = concerns.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    if line.chars().count() <= CONCERNS_SUMMARY_MAX {
        return line.to_owned();
    }
    let cut: String = line.chars().take(CONCERNS_SUMMARY_MAX - 1).collect();
    format!("{}…", cut.trim_end())
}

/// One line of the duty queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueItem {
    pub contact_id: Ulid,
    pub stage: Stage,
    /// Which list the line is on: `decision_due` (undecided) or `handover_awaiting_acceptance`
    /// (decided, its handover not yet accepted).
    pub list: QueueList,
    #[serde(with = "events::envelope::timestamp")]
    pub received_at: DateTime<Utc>,
    /// Undecided: when the decision is due. Decided: when the handover is due to be accepted.
    #[serde(with = "events::envelope::timestamp")]
    pub due_by: DateTime<Utc>,
    pub overdue: bool,
    pub immediate_risk: bool,
    pub rating: Option<Rating>,
    pub channel: Channel,
    pub source: SourceCode,
    pub children: Vec<QueueChild>,
    pub previous_contacts: u32,
    /// For the duty team only (absent for a receiving team): whether a child of the contact has
    /// a possible match in the child index that is not linked to it (a name that sounds the
    /// same, the same date of birth or with day and month swapped, nothing in conflict, not
    /// unlinked by hand). The board marks it, linking to `/children?contact=ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub possible_match: Option<bool>,
    /// The front door's worker: the latest `contact_allocated` by the duty team.
    pub assigned_to: Option<String>,
    /// The concerns' first line, at most 120 characters.
    pub concerns_summary: String,
    /// The decision in force, once decided.
    pub outcome: Option<Outcome>,
    pub version: u32,
}

/// The duty queue at a log position: the body of `GET /v1/queue` and of the stream's
/// `snapshot`, and of the queue `GET /v1/as-of` shows. It may borrow its items, so the live
/// queue is serialised without a copy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Queue<'a> {
    /// The log position the queue reflects.
    pub as_of_position: u64,
    /// In the contract's order ([`queue_order`]).
    pub items: std::borrow::Cow<'a, [QueueItem]>,
}

impl QueueItem {
    /// Red-rated or immediate risk.
    pub fn is_urgent(&self) -> bool {
        self.immediate_risk || self.rating == Some(Rating::Red)
    }
}

/// The contract's order: overdue first, then immediate-risk or red, then by `due_by`, then by
/// `received_at` (and the id, so the order is total).
pub fn queue_order(a: &QueueItem, b: &QueueItem) -> std::cmp::Ordering {
    b.overdue
        .cmp(&a.overdue)
        .then(b.is_urgent().cmp(&a.is_urgent()))
        .then(a.due_by.cmp(&b.due_by))
        .then(a.received_at.cmp(&b.received_at))
        .then(a.contact_id.cmp(&b.contact_id))
}

/// Whether a decided contact still waits for a team to accept it: every outcome but advice,
/// no further action and not accepted is handed over somewhere.
fn needs_handover(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::AdviceAndSignpost | Outcome::NoFurtherAction | Outcome::NotAccepted)
}

/// Whether a contact belongs on the duty queue: open and undecided, or decided and awaiting a
/// handover's acceptance.
pub fn on_queue(state: &ContactState) -> bool {
    if state.closed.is_some() {
        return false;
    }
    match &state.decision {
        None => true,
        Some(d) => {
            needs_handover(d.outcome) && !state.handover.as_ref().is_some_and(|h| h.status == HandoverStatus::Accepted)
        }
    }
}

fn age_on(dob: Option<NaiveDate>, today: NaiveDate) -> Option<u32> {
    let dob = dob?;
    let mut years = today.year() - dob.year();
    if (today.month(), today.day()) < (dob.month(), dob.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

/// The contact's handover, if one is pending (sent, not yet accepted or returned).
pub fn pending_handover(state: &ContactState) -> Option<&Handover> {
    state.handover.as_ref().filter(|h| h.status == HandoverStatus::Pending)
}

/// When a contact on the duty queue is due, by the first rule that applies:
/// - a handover pending: its acceptance, [`DuePolicy::handover_due_by`] from when it was sent
///   (two real hours for an immediate-risk or red-rated contact, any day; else one working day);
/// - undecided: its decision, [`DuePolicy::due_by`] from receipt;
/// - decided, not handed over (or the handover returned): one working day (the policy's
///   `working_days`) after the decision in force.
pub fn queue_due_by(state: &ContactState, policy: &DuePolicy) -> DateTime<Utc> {
    if let Some(h) = pending_handover(state) {
        return policy.handover_due_by(h.sent_at, state.is_urgent());
    }
    match &state.decision {
        None => policy.due_by(state.received_at, state.is_urgent()),
        Some(d) => policy.due_by(d.decided_at, false),
    }
}

/// The queue line for a contact, as of `now`.
pub fn queue_item(
    state: &ContactState,
    previous_contacts: u32,
    possible_match: Option<bool>,
    policy: &DuePolicy,
    now: DateTime<Utc>,
) -> QueueItem {
    let due_by = queue_due_by(state, policy);
    let today = crate::time::london_date(now);
    QueueItem {
        contact_id: state.contact_id,
        stage: state.stage(),
        list: if state.decision.is_some() { QueueList::HandoverAwaitingAcceptance } else { QueueList::DecisionDue },
        received_at: state.received_at,
        due_by,
        overdue: policy.is_overdue(due_by, now),
        immediate_risk: state.immediate_risk,
        rating: state.rating,
        channel: state.channel,
        source: state.source,
        children: state
            .children
            .iter()
            .map(|c| QueueChild { name: c.name.clone(), age: age_on(c.date_of_birth, today) })
            .collect(),
        previous_contacts,
        possible_match,
        assigned_to: state.assigned_to.clone(),
        concerns_summary: concerns_summary(&state.concerns),
        outcome: state.decision.as_ref().map(|d| d.outcome),
        version: state.version,
    }
}

/// The duty queue in four numbers, the ones an on-call person is alerted on (the service's
/// `frontdoor_queue_*` gauges). Counted without building the queue's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueSummary {
    /// Contacts on the duty queue.
    pub length: usize,
    /// Undecided contacts past the time their decision was due.
    pub decisions_overdue: usize,
    /// Decided contacts on the queue past their due time: a handover not accepted in time, or
    /// not sent within the working day after the decision.
    pub handovers_overdue: usize,
    /// When the undecided contact waiting longest was received (`None`: nothing undecided).
    pub oldest_undecided_received_at: Option<DateTime<Utc>>,
}

/// What one event did to the read model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The contact is (still) on the queue and its line may have changed.
    OnQueue(Ulid),
    /// The contact is not on the queue (it left it, or never was).
    OffQueue(Ulid),
    /// The event changed nothing the read model keeps (e.g. a note on a closed contact).
    Nothing,
}

/// Every contact, folded.
#[derive(Debug, Clone, Default)]
pub struct ReadModel {
    position: u64,
    last_recorded_at: Option<DateTime<Utc>>,
    /// Full state, kept only while a contact is open. Boxed: a state is about 1,100 bytes, and
    /// a map of the states themselves moved every one of them each time its table grew (and
    /// kept its unused slots at that size).
    open: HashMap<Ulid, Box<ContactState>, foldhash::fast::RandomState>,
    facts: FactStore,
    children: ChildIndex,
    /// The contacts each referrer made, in receipt order of the log (`GET /v1/contacts?made_by=me`).
    made_by_referrer: HashMap<String, Vec<Ulid>, foldhash::fast::RandomState>,
    /// Every duty debrief, in log order: streams of their own, never contacts.
    duty_debriefs: Vec<DutyDebrief>,
    /// Every professional consultation, in log order, and where each is by id.
    consultations: Vec<Consultation>,
    consultation_at: HashMap<Ulid, usize, foldhash::fast::RandomState>,
    /// Contacts that named a consultation not (yet) in the log, by the id they named: linked
    /// if it comes (a log imported out of order).
    follows_unseen: HashMap<Ulid, Vec<Ulid>, foldhash::fast::RandomState>,
    /// The contacts other than the event's own whose previous contacts the last `apply`
    /// changed (a contact entered after later-received ones about the same child).
    also_changed: Vec<Ulid>,
}

impl ReadModel {
    /// The position of the last event applied.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// When the last applied event was recorded.
    pub fn last_recorded_at(&self) -> Option<DateTime<Utc>> {
        self.last_recorded_at
    }

    /// Applies the next event of the log. Events at or before the current position are
    /// ignored, so a replay never applies anything twice.
    pub fn apply(&mut self, env: &Envelope) -> Result<Change, FoldError> {
        self.apply_parsed(env, &mut None)
    }

    /// [`ReadModel::apply`], given the typed data [`parse_for_fold`] worked out for `env`
    /// beforehand (on another thread, in a rebuild), or `None` to parse it here when needed.
    /// The outcome is the same either way. What the fold takes of `parsed` it takes out; the
    /// rest is left to the caller to free.
    pub fn apply_parsed(&mut self, env: &Envelope, parsed: &mut Option<Parsed>) -> Result<Change, FoldError> {
        if env.position <= self.position {
            return Ok(Change::Nothing);
        }
        // The typed data, parsed at most once: every path below asks for it at most once.
        let mut event = || parsed.take().unwrap_or_else(|| env.event());
        self.position = env.position;
        self.last_recorded_at = Some(env.recorded_at);
        self.also_changed.clear();
        let id = env.contact_id;
        if env.event_type == EventType::DutyDebriefRecorded {
            let Event::DutyDebriefRecorded(data) = event()? else { return Ok(Change::Nothing) };
            self.duty_debriefs.push(DutyDebrief {
                debrief_id: id,
                recorded_at: env.recorded_at,
                occurred_at: env.occurred_at,
                recorded_by: env.actor.id.clone(),
                data,
            });
            return Ok(Change::Nothing);
        }
        if env.event_type == EventType::ConsultationRecorded {
            let Event::ConsultationRecorded(data) = event()? else { return Ok(Change::Nothing) };
            if !data.children.is_empty() {
                // A consultation is never a previous contact, but its child may link children
                // of contacts together: their counts and possible matches are looked at again.
                let touched = self.children.receive_consultation(id, env.occurred_at, &data.children);
                self.count_again(id, &touched);
                self.refresh_possible(id, &touched);
            }
            self.consultation_at.insert(id, self.consultations.len());
            self.consultations.push(Consultation {
                consultation_id: id,
                recorded_at: env.recorded_at,
                occurred_at: env.occurred_at,
                recorded_by: env.actor.id.clone(),
                data,
                followed_by: self.follows_unseen.remove(&id).unwrap_or_default(),
            });
            return Ok(Change::Nothing);
        }
        if env.event_type == EventType::ContactReceived {
            let Event::ContactReceived(received) = event()? else {
                return Err(FoldError::NotReceivedFirst(env.event_type));
            };
            if let Some(followed) = received.follows_consultation {
                match self.consultation_at.get(&followed) {
                    Some(&at) => self.consultations[at].followed_by.push(id),
                    None => self.follows_unseen.entry(followed).or_default().push(id),
                }
            }
            let adults = received.adults.clone();
            let state = ContactState::from_received(env, received);
            if env.actor.role == events::Role::Referrer {
                self.made_by_referrer.entry(env.actor.id.clone()).or_default().push(id);
            }
            let touched = self.children.receive(id, state.received_at, &state.children, &adults);
            self.facts.insert(ContactFacts::of(&state, self.children.previous_contacts(id)));
            self.count_again(id, &touched);
            self.refresh_possible(id, &touched);
            let change = if on_queue(&state) { Change::OnQueue(id) } else { Change::OffQueue(id) };
            self.open.insert(id, Box::new(state));
            return Ok(change);
        }
        // Links and unlinks change the child index, on open and closed contacts alike.
        if matches!(env.event_type, EventType::ChildrenLinked | EventType::ChildrenUnlinked) {
            let touched = match event()? {
                Event::ChildrenLinked(l) => self.children.link(id, usize::from(l.child_index), &l.child_id),
                Event::ChildrenUnlinked(u) => {
                    self.children.unlink(id, usize::from(u.child_index), &u.child_id, env.event_id)
                }
                _ => Vec::new(),
            };
            if let Some(facts) = self.facts.get_mut(&id) {
                facts.previous_contacts = self.children.previous_contacts(id);
            }
            self.count_again(id, &touched);
            self.refresh_possible(id, &touched);
            let Some(state) = self.open.get_mut(&id) else { return Ok(Change::Nothing) };
            state.apply(env, &placeholder(env.event_type));
            let previous = self.children.previous_contacts(id);
            if let Some(facts) = self.facts.get_mut(&id) {
                *facts = ContactFacts::of(state, previous);
            }
            return Ok(if on_queue(state) { Change::OnQueue(id) } else { Change::OffQueue(id) });
        }
        let Some(state) = self.open.get_mut(&id) else {
            // A closed contact: only notes, corrections, audit findings, feedback, strategy
            // discussions and completed actions may follow. A correction, a discussion or a
            // completed action may change a figure (never the queue).
            match env.event_type {
                EventType::CorrectionRecorded | EventType::StrategyDiscussionHeld | EventType::ActionCompleted => {
                    let event = event()?;
                    if let Some(facts) = self.facts.get_mut(&id) {
                        match &event {
                            Event::CorrectionRecorded(c) => facts.correct(c.corrects_event_id, &c.field, &c.value),
                            Event::StrategyDiscussionHeld(held) => facts.discussion_held(held),
                            Event::ActionCompleted(done) => {
                                crate::contact::complete_action(&mut facts.actions, done, env.occurred_at);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            // The referrer's feedback may come after closing (once): it counts in the figures.
            if env.event_type == EventType::ReferrerFeedbackGiven
                && let Event::ReferrerFeedbackGiven(f) = event()?
                && let Some(facts) = self.facts.get_mut(&id)
                && facts.referrer_feedback.is_none()
            {
                facts.referrer_feedback = Some(crate::facts::Feedback {
                    at: env.occurred_at,
                    listened_to: f.listened_to,
                    knows_next_steps: f.knows_next_steps,
                });
            }
            return Ok(Change::Nothing);
        };
        let event = if needs_data(env.event_type) { event()? } else { placeholder(env.event_type) };
        // A correction may move the receipt or change a child's identifiers: the children
        // index then forgets the contact as it was and receives it as it now is.
        let before =
            (env.event_type == EventType::CorrectionRecorded).then(|| (state.received_at, state.children.clone()));
        state.apply(env, &event);
        let mut touched = Vec::new();
        if let Some((received_at, children)) = before
            && (received_at != state.received_at || children != state.children)
        {
            let before = self.children.possible_neighbours(id);
            touched = self.children.update(id, state.received_at, &state.children);
            touched.extend(before);
        }
        // The count changes only when the index does (it counts the year before the contact's
        // own receipt, not before now): otherwise the one the facts hold stands.
        let previous = match self.facts.get(&id) {
            Some(f) if touched.is_empty() => f.previous_contacts,
            _ => self.children.previous_contacts(id),
        };
        self.facts.insert(ContactFacts::of(state, previous));
        let change = if on_queue(state) { Change::OnQueue(id) } else { Change::OffQueue(id) };
        if state.closed.is_some() {
            self.open.remove(&id);
        }
        self.count_again(id, &touched);
        if !touched.is_empty() {
            self.refresh_possible(id, &touched);
        }
        Ok(change)
    }

    /// Works out again the possible matches of `id`, of `touched` and of the contacts about a
    /// child `id`'s children sound like (after the child index changed), noting in
    /// `also_changed` the others whose answer changed.
    fn refresh_possible(&mut self, id: Ulid, touched: &[Ulid]) {
        let mut around: Vec<Ulid> = touched.to_vec();
        around.push(id);
        around.extend(self.children.possible_neighbours(id));
        around.sort_unstable();
        around.dedup();
        let changed = self.children.refresh_possible(&around);
        self.also_changed.extend(changed.into_iter().filter(|c| *c != id));
        self.also_changed.sort_unstable();
        self.also_changed.dedup();
    }

    /// Counts again the previous contacts of each of `touched` other than `id` (after the child
    /// index changed), noting in `also_changed` those whose count changed.
    fn count_again(&mut self, id: Ulid, touched: &[Ulid]) {
        for other in touched.iter().filter(|&&c| c != id) {
            let count = self.children.previous_contacts(*other);
            if let Some(f) = self.facts.get_mut(other)
                && f.previous_contacts != count
            {
                f.previous_contacts = count;
                self.also_changed.push(*other);
            }
        }
        self.also_changed.sort_unstable();
        self.also_changed.dedup();
    }

    /// The child index: every child seen, linked as it stands now.
    pub fn children(&self) -> &ChildIndex {
        &self.children
    }

    /// The contacts other than the last event's own whose previous contacts that event
    /// changed: a contact entered after contacts received later about the same child adds
    /// one to each of theirs. Their queue lines (if on the queue) changed with it.
    pub fn also_changed(&self) -> &[Ulid] {
        &self.also_changed
    }

    /// The other contacts about any child of contact `id`, as the child index links them now:
    /// the contacts whose previous contacts a change to `id`'s children may have changed.
    pub fn contacts_sharing_children(&self, id: Ulid) -> Vec<Ulid> {
        let mut out = self.children.contacts_sharing(id);
        out.retain(|c| *c != id);
        out
    }

    /// Folds events from scratch, each with its data parsed beforehand as a start-up rebuild
    /// does ([`parse_for_fold`], then [`ReadModel::apply_parsed`]).
    pub fn rebuild<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Result<ReadModel, FoldError> {
        let mut model = ReadModel::default();
        for env in events {
            model.apply_parsed(env, &mut parse_for_fold(env))?;
        }
        Ok(model)
    }

    /// The contacts the referrer `actor_id` made, in the order they were recorded.
    pub fn made_by_referrer(&self, actor_id: &str) -> &[Ulid] {
        self.made_by_referrer.get(actor_id).map_or(&[], Vec::as_slice)
    }

    /// The duty debriefs whose duty day is from `from` to `to` (both included, either open),
    /// by day, then as recorded.
    pub fn duty_debriefs(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<&DutyDebrief> {
        let mut out: Vec<&DutyDebrief> = self
            .duty_debriefs
            .iter()
            .filter(|d| from.is_none_or(|f| d.data.date >= f) && to.is_none_or(|t| d.data.date <= t))
            .collect();
        out.sort_by_key(|d| (d.data.date, d.occurred_at, d.debrief_id));
        out
    }

    /// The professional consultations taken on London dates from `from` to `to` (both
    /// included, either open), in the order they happened.
    pub fn consultations(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<&Consultation> {
        let mut out: Vec<&Consultation> = self
            .consultations
            .iter()
            .filter(|c| from.is_none_or(|f| c.occurred_on() >= f) && to.is_none_or(|t| c.occurred_on() <= t))
            .collect();
        out.sort_by_key(|c| (c.occurred_at, c.consultation_id));
        out
    }

    /// One professional consultation, by its stream id.
    pub fn consultation(&self, id: Ulid) -> Option<&Consultation> {
        self.consultation_at.get(&id).map(|&at| &self.consultations[at])
    }

    /// The open contact's state.
    pub fn contact(&self, id: Ulid) -> Option<&ContactState> {
        self.open.get(&id).map(Box::as_ref)
    }

    /// Every contact's facts, in the order received into the log.
    pub fn facts(&self) -> impl Iterator<Item = &ContactFacts> {
        self.facts.values()
    }

    pub fn contact_facts(&self, id: Ulid) -> Option<&ContactFacts> {
        self.facts.get(&id)
    }

    /// How many contacts the model knows, and how many are open.
    pub fn counts(&self) -> (usize, usize) {
        (self.facts.len(), self.open.len())
    }

    /// The queue line of one contact, if it is on the queue.
    pub fn queue_item(&self, id: Ulid, policy: &DuePolicy, now: DateTime<Utc>) -> Option<QueueItem> {
        let state = self.open.get(&id).filter(|s| on_queue(s))?;
        let previous = self.facts.get(&id).map_or(0, |f| f.previous_contacts);
        Some(queue_item(state, previous, Some(self.children.has_possible_match(id)), policy, now))
    }

    /// The duty queue in the contract's order.
    pub fn queue(&self, policy: &DuePolicy, now: DateTime<Utc>) -> Vec<QueueItem> {
        self.queue_of(policy, now, on_queue)
    }

    /// The duty queue's [`QueueSummary`] as of `now`: the same contacts, and the same
    /// overdue flags, as [`ReadModel::queue`] lists.
    pub fn queue_summary(&self, policy: &DuePolicy, now: DateTime<Utc>) -> QueueSummary {
        let mut summary = QueueSummary::default();
        for state in self.open.values().filter(|s| on_queue(s)) {
            summary.length += 1;
            let overdue = policy.is_overdue(queue_due_by(state, policy), now);
            if state.decision.is_none() {
                summary.decisions_overdue += usize::from(overdue);
                summary.oldest_undecided_received_at =
                    Some(summary.oldest_undecided_received_at.map_or(state.received_at, |t| t.min(state.received_at)));
            } else {
                summary.handovers_overdue += usize::from(overdue);
            }
        }
        summary
    }

    /// The queue lines of the open contacts `keep` picks (whether or not they are on the duty
    /// queue), in the contract's order: e.g. one receiving team's pending handovers.
    pub fn queue_of(
        &self,
        policy: &DuePolicy,
        now: DateTime<Utc>,
        keep: impl Fn(&ContactState) -> bool,
    ) -> Vec<QueueItem> {
        let mut items: Vec<QueueItem> = self
            .open
            .values()
            .filter(|s| keep(s))
            .map(|s| {
                let previous = self.facts.get(&s.contact_id).map_or(0, |f| f.previous_contacts);
                queue_item(s, previous, Some(self.children.has_possible_match(s.contact_id)), policy, now)
            })
            .collect();
        items.sort_by(queue_order);
        items
    }
}

/// An event's typed data, or why it could not be parsed.
pub type Parsed = Result<Event, events::DecodeError>;

/// What [`ReadModel::apply_parsed`] would parse of `env`, parsed here: the typed data of an
/// event whose data the fold reads, `None` for the others. A rebuild calls it on the thread
/// that reads the log, so the folding thread does not parse.
pub fn parse_for_fold(env: &Envelope) -> Option<Parsed> {
    needs_data(env.event_type).then(|| env.event())
}

/// Event types whose `data` the fold reads. The others only move the version (and the
/// assigned worker), so their JSON is never parsed: a rebuild skips most of the parsing.
fn needs_data(t: EventType) -> bool {
    !matches!(t, EventType::NoteAdded | EventType::CallLogged | EventType::AuditFindingRecorded)
}

/// A stand-in for an event whose data the fold does not read.
fn placeholder(t: EventType) -> Event {
    use events::schema::{AuditFindingRecorded, AuditGrade, NoteAdded};
    match t {
        EventType::AuditFindingRecorded => {
            Event::AuditFindingRecorded(AuditFindingRecorded { grade: AuditGrade::Good, findings: String::new() })
        }
        _ => Event::NoteAdded(NoteAdded { text: String::new() }),
    }
}
