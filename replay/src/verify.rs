//! Verifying a log without trusting whoever holds it: the hash chain, the checksums, the
//! per-contact index and the versions.
//!
//! A data directory is checked by [`eventlog::EventLog::verify`] (it also has the stored
//! checksums and the per-contact index). Segment files given on their own are read with their
//! checksums and without the index, then checked as an export is. An export or the API has
//! neither, so each hash is
//! recomputed from the envelope itself ([`eventlog::Envelope::compute_hash`]), each
//! `prev_hash` must link to the hash before, positions must run gapless from 1 and every
//! contact's versions gapless from 1.

use std::collections::HashMap;

use eventlog::{Envelope, Hash};
use ulid::Ulid;

use crate::error::ReplayError;
use crate::source::{Flow, Source, for_each_in_segments, open_data_dir};

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
    /// Checking a part of the log that starts after position 1 (later segments only): a
    /// contact first seen in it may start at any version.
    partial: bool,
    /// The position before the first one checked.
    start: u64,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// A check of the part of a log after `position`, whose hash is `prev` (e.g. segments
    /// from an incremental backup). The counts then cover that part only.
    pub fn starting_after(position: u64, prev: Hash) -> Verifier {
        Verifier { prev, events: position, versions: HashMap::new(), partial: position > 0, start: position }
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
        let partial = self.partial;
        let version = self
            .versions
            .entry(env.contact_id)
            .or_insert_with(|| if partial { env.version.saturating_sub(1) } else { 0 });
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
        Verified { events: self.events - self.start, contacts: self.versions.len() as u64, head: self.prev }
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
    if let Source::Segments(files) = source {
        // Where the chain starts is in the first file's header.
        let mut verifier: Option<Verifier> = None;
        let read = for_each_in_segments(files, &mut |env| {
            let v = verifier.get_or_insert_with(|| Verifier::starting_after(env.position - 1, env.prev_hash));
            v.check(env)?;
            Ok(Flow::Continue)
        })?;
        if let Some((file, offset)) = read.torn_tail {
            eprintln!(
                "note: {} ends in a partial record at byte offset {offset} (a copy taken during a write): left out",
                file.display()
            );
        }
        let verifier =
            verifier.unwrap_or_else(|| Verifier::starting_after(read.start.first_position - 1, read.start.prev_hash));
        return Ok(verifier.finish());
    }
    let mut verifier = Verifier::new();
    source.for_each(&mut |env| {
        verifier.check(env)?;
        Ok(Flow::Continue)
    })?;
    Ok(verifier.finish())
}
