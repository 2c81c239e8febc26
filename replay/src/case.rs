//! One contact's timeline: every event with its actor and times, and before each decision
//! the state the decider could see, folded with [`ContactState`] from the contact's events
//! before the decision (checks returned, duty discussions, rating, consent) and the previous
//! contacts about the same children from the read model (counted when the contact arrived,
//! over the 12 months before it).

use std::fmt::Write;

use eventlog::{Envelope, Event, EventType};
use events::envelope::timestamp;
use projections::contact::ContactState;
use projections::model::ReadModel;
use ulid::Ulid;

use crate::error::ReplayError;
use crate::source::{Flow, Source};

/// A contact's events and its previous-contacts count.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub contact_id: Ulid,
    pub events: Vec<Envelope>,
    pub previous_contacts: u32,
}

/// Reads the contact's events (and folds the whole log for its previous contacts).
///
/// # Errors
/// [`ReplayError::Data`] for a contact not in the log; read failures.
pub fn load(source: &Source, contact_id: Ulid) -> Result<CaseRecord, ReplayError> {
    let mut model = ReadModel::default();
    let mut events = Vec::new();
    let mut received = false;
    source.for_each(&mut |env| {
        // Previous contacts are counted on receipt, so the model is only needed up to it.
        if !received {
            model.apply(env).map_err(|e| ReplayError::Data(format!("position {}: {e}", env.position)))?;
        }
        if env.contact_id == contact_id {
            received = true;
            events.push(env.clone());
        }
        Ok(Flow::Continue)
    })?;
    if let Some(first) = events.first()
        && first.event_type != EventType::ContactReceived
    {
        return Err(ReplayError::Data(format!(
            "{contact_id} is a stream opened by {}, not a contact: `case` replays contacts only",
            first.event_type.as_str()
        )));
    }
    let facts = model
        .contact_facts(contact_id)
        .ok_or_else(|| ReplayError::Data(format!("contact {contact_id} is not in the log")))?;
    Ok(CaseRecord { contact_id, events, previous_contacts: facts.previous_contacts })
}

fn actor(env: &Envelope) -> String {
    format!("{} ({}, {})", env.actor.id, env.actor.role, env.actor.agency)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// What the decider could see, from the contact's events before the decision.
fn before_decision(out: &mut String, state: &ContactState, discussions: &[String], previous_contacts: u32) {
    let _ = writeln!(out, "      before this decision, the record showed:");
    let children: Vec<String> = state
        .children
        .iter()
        .map(|c| match c.date_of_birth {
            Some(dob) => format!("{} (born {dob})", c.name),
            None => c.name.clone(),
        })
        .collect();
    let _ = writeln!(out, "        children: {}", children.join("; "));
    let _ = writeln!(out, "        concerns: {}", state.concerns);
    let _ = writeln!(
        out,
        "        immediate risk: {}; rating: {}; consent: {}",
        yes_no(state.immediate_risk),
        state.rating.map_or("not rated", |r| r.as_str()),
        state.consent
    );
    let requested: Vec<&str> = state.checks_requested.iter().map(|a| a.as_str()).collect();
    let _ = writeln!(
        out,
        "        checks requested: {}",
        if requested.is_empty() { "none".into() } else { requested.join(", ") }
    );
    if state.checks.is_empty() {
        let _ = writeln!(out, "        checks returned: none");
    }
    for c in &state.checks {
        let _ = writeln!(
            out,
            "        checks returned: {} at {} by {}{}: {}",
            c.agency,
            timestamp::format(&c.returned_at),
            c.returned_by,
            if c.restricted { " (restricted)" } else { "" },
            c.summary
        );
    }
    let _ = writeln!(out, "        duty discussions: {}", state.discussions);
    for d in discussions {
        let _ = writeln!(out, "          {d}");
    }
    if let Some(d) = &state.decision {
        let _ = writeln!(
            out,
            "        decision in force: {} by {} at {}",
            d.outcome,
            d.decided_by,
            timestamp::format(&d.decided_at)
        );
    }
    let _ =
        writeln!(out, "        previous contacts about these children (12 months before receipt): {previous_contacts}");
}

/// The timeline as text.
///
/// # Errors
/// [`ReplayError::Data`] when an event does not decode or the stream does not fold.
pub fn render(case: &CaseRecord) -> Result<String, ReplayError> {
    let mut out = String::new();
    let _ = writeln!(out, "Contact {}: {} events", case.contact_id, case.events.len());
    let mut state: Option<ContactState> = None;
    let mut discussions: Vec<String> = Vec::new();
    for env in &case.events {
        let event = env.event().map_err(|e| ReplayError::Data(format!("position {}: {e}", env.position)))?;
        if env.event_type == EventType::DecisionMade
            && let Some(s) = &state
        {
            before_decision(&mut out, s, &discussions, case.previous_contacts);
        }
        let _ = writeln!(
            out,
            "v{:<3} position {:<8} {:<22} occurred {}  recorded {}  by {}",
            env.version,
            env.position,
            env.event_type.as_str(),
            timestamp::format(&env.occurred_at),
            timestamp::format(&env.recorded_at),
            actor(env)
        );
        let _ = writeln!(out, "      {}", env.data.get());
        match state.as_mut() {
            Some(s) => s.apply(env, &event),
            None => {
                state = Some(
                    ContactState::received(env, &event)
                        .map_err(|e| ReplayError::Data(format!("position {}: {e}", env.position)))?,
                );
            }
        }
        match &event {
            Event::DecisionMade(_) => {
                let _ = writeln!(out);
            }
            Event::DutyDiscussionHeld(d) => {
                let who: Vec<String> =
                    d.participants.iter().map(|p| format!("{} ({}, {})", p.name, p.role, p.agency)).collect();
                discussions.push(format!(
                    "at {}: {}; recommended {}; with {}",
                    timestamp::format(&env.occurred_at),
                    d.summary,
                    d.recommendation.map_or("nothing", |r| r.as_str()),
                    who.join(", ")
                ));
            }
            _ => {}
        }
    }
    if let Some(s) = &state {
        let stage =
            serde_json::to_value(s.stage()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let _ = writeln!(out, "Now: {stage}, version {}", s.version);
    }
    Ok(out)
}
