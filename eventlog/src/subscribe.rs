//! Catch-up subscriptions: read what is stored after a position, then follow the live
//! broadcast, with no gap and no duplicate. A subscriber that falls behind the broadcast goes
//! back to reading from the log, so a slow reader never holds up the writer.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::error::LogError;
use crate::log::EventLog;
use events::envelope::Envelope;

/// How many events one catch-up read takes from the log.
const PAGE: usize = 512;

/// A stream of every event after a position, in order. See [`EventLog::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    log: EventLog,
    live: broadcast::Receiver<Arc<Vec<Envelope>>>,
    /// The next position this subscriber should receive.
    next: u64,
    buffer: VecDeque<Envelope>,
}

impl Subscription {
    pub(crate) fn new(log: EventLog, live: broadcast::Receiver<Arc<Vec<Envelope>>>, after: u64) -> Self {
        // Saturating: `after` comes from clients (`Last-Event-ID`, `?after=`), and u64::MAX must
        // wait for an event that never comes, not overflow (a panic, or a wrap to 0 in release).
        Subscription { log, live, next: after.saturating_add(1), buffer: VecDeque::new() }
    }

    /// The position of the last event returned (or the starting point).
    pub fn position(&self) -> u64 {
        self.next - 1
    }

    /// The next event, waiting for one if the subscriber is at the head.
    pub async fn next(&mut self) -> Result<Envelope, LogError> {
        loop {
            if let Some(env) = self.buffer.pop_front() {
                self.next = env.position + 1;
                return Ok(env);
            }
            // Catch up from the log while it is ahead of us.
            if self.log.head().position >= self.next {
                self.buffer.extend(self.log.read_all(self.next - 1, PAGE)?);
                continue;
            }
            match self.live.recv().await {
                Ok(batch) => {
                    let fresh = batch.iter().filter(|e| e.position >= self.next);
                    for (expected, env) in (self.next..).zip(fresh) {
                        if env.position != expected {
                            // A gap (we subscribed mid-flight): the log has it, read from there.
                            self.buffer.clear();
                            break;
                        }
                        self.buffer.push_back(env.clone());
                    }
                }
                // Fell behind the broadcast: the log still has everything.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {
                    // The writer is gone; hand out what is durable, then report closed.
                    if self.log.head().position < self.next {
                        return Err(LogError::Closed);
                    }
                }
            }
        }
    }

    /// The next event if one is available without waiting.
    pub fn try_next(&mut self) -> Result<Option<Envelope>, LogError> {
        if self.buffer.is_empty() && self.log.head().position >= self.next {
            self.buffer.extend(self.log.read_all(self.next - 1, PAGE)?);
        }
        Ok(self.buffer.pop_front().inspect(|env| self.next = env.position + 1))
    }
}
