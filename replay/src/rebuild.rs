//! Every projection from scratch: the same fold the service runs at start-up
//! ([`projections::model::ReadModel::apply`] over the log, in pages), timed.

use std::time::{Duration, Instant};

use projections::model::ReadModel;
use projections::time::DuePolicy;

use crate::error::ReplayError;
use crate::source::{DIR_PAGE, Flow, Source, open_data_dir};

/// What a rebuild produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    pub events: u64,
    /// Contacts ever received.
    pub contacts: usize,
    /// Contacts not closed.
    pub open: usize,
    /// Contacts on the duty queue at the last event's time.
    pub on_queue: usize,
    pub elapsed: Duration,
}

impl Rebuilt {
    /// Events folded per second.
    pub fn events_per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // a rate for people to read
        let events = self.events as f64;
        events / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Folds every event of `source` into a fresh read model; `progress` is told each event's
/// position.
///
/// # Errors
/// A read failure, or an event that does not fold (naming its position).
pub fn rebuild(
    source: &Source,
    policy: &DuePolicy,
    progress: &mut dyn FnMut(u64),
) -> Result<(ReadModel, Rebuilt), ReplayError> {
    // As the service's start-up rebuild is timed: from the open log, so a data directory's
    // opening (sled's recovery) is not counted, and with the same loop (pages of 4096
    // events, `apply` each); a file or the API is read as it is folded.
    let mut model = ReadModel::default();
    let started;
    if let Source::DataDir(dir) = source {
        let log = open_data_dir(dir)?;
        started = Instant::now();
        let result = fold_log(&log, &mut model, progress);
        log.shutdown();
        result?;
    } else {
        started = Instant::now();
        source.for_each(&mut |env| {
            model.apply(env).map_err(|e| ReplayError::Data(format!("position {}: {e}", env.position)))?;
            if env.position % 4096 == 0 {
                progress(env.position);
            }
            Ok(Flow::Continue)
        })?;
    }
    let elapsed = started.elapsed();
    let (contacts, open) = model.counts();
    let on_queue = model.last_recorded_at().map_or(0, |now| model.queue(policy, now).len());
    let events = model.position();
    Ok((model, Rebuilt { events, contacts, open, on_queue, elapsed }))
}

/// The service's rebuild loop over an open log.
fn fold_log(log: &eventlog::EventLog, model: &mut ReadModel, progress: &mut dyn FnMut(u64)) -> Result<(), ReplayError> {
    loop {
        let page = log.read_all(model.position(), DIR_PAGE)?;
        if page.is_empty() {
            return Ok(());
        }
        for env in &page {
            model.apply(env).map_err(|e| ReplayError::Data(format!("position {}: {e}", env.position)))?;
        }
        progress(model.position());
    }
}
