//! Verifying a log without trusting whoever holds it: the hash chain, the checksums, the
//! per-contact index and the versions.
//!
//! A data directory is checked by [`eventlog::EventLog::verify`] (it also has the stored
//! checksums and the per-contact index). An export or the API has neither, so each hash is
//! recomputed from the envelope itself ([`eventlog::Envelope::compute_hash`]), each
//! `prev_hash` must link to the hash before, positions must run gapless from 1 and every
//! contact's versions gapless from 1.

use std::collections::HashMap;

use eventlog::{Envelope, Hash};
use ulid::Ulid;

use crate::error::ReplayError;
use crate::source::{Flow, Source, open_data_dir};

/// What a successful verification covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub events: u64,
    pub contacts: u64,
    /// The hash of the last event (the chain's head).
    pub head: Hash,
}

/// A streaming chain check, one envelope at a time in log order.
#[derive(Debug, Default)]
pub struct Verifier {
    prev: Hash,
    events: u64,
    versions: HashMap<Ulid, u32>,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// Checks the next envelope.
    ///
    /// # Errors
    /// [`ReplayError::Invalid`] naming the position expected next.
    pub fn check(&mut self, env: &Envelope) -> Result<(), ReplayError> {
        let expected = self.events + 1;
        let fail = |reason: String| Err(ReplayError::Invalid { position: expected, reason });
        if env.position != expected {
            return fail(format!(
                "expected position {expected}, found {} (an event is missing; over --url, use an auditor's or admin's \
                 token so restricted checks are not left out)",
                env.position
            ));
        }
        if env.prev_hash != self.prev {
            return fail("prev_hash does not link to the event before".into());
        }
        if env.compute_hash() != env.hash {
            return fail("hash does not match the envelope's contents".into());
        }
        let version = self.versions.entry(env.contact_id).or_insert(0);
        if env.version != *version + 1 {
            return fail(format!("contact {} jumps from version {} to {}", env.contact_id, version, env.version));
        }
        *version = env.version;
        self.prev = env.hash;
        self.events = expected;
        Ok(())
    }

    /// The counts so far.
    pub fn finish(&self) -> Verified {
        Verified { events: self.events, contacts: self.versions.len() as u64, head: self.prev }
    }
}

/// Verifies a whole source.
///
/// # Errors
/// [`ReplayError::Invalid`] at the first bad position, or a read failure.
pub fn verify(source: &Source) -> Result<Verified, ReplayError> {
    if let Source::DataDir(dir) = source {
        let log = open_data_dir(dir)?;
        let result = log.verify();
        log.shutdown();
        let report = result?;
        return Ok(Verified { events: report.events, contacts: report.contacts, head: report.head.hash });
    }
    let mut verifier = Verifier::new();
    source.for_each(&mut |env| {
        verifier.check(env)?;
        Ok(Flow::Continue)
    })?;
    Ok(verifier.finish())
}
