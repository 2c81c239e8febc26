//! The backup and restore path: the whole log as JSON lines (exactly the API's envelope
//! JSON, one per line, in log order, verifiable on its own with stock tools), and the
//! restore of such a file into an empty data directory.

use std::io::Write;
use std::path::Path;

use eventlog::Envelope;
use eventlog::import::{ImportError, import_envelopes};

use crate::error::ReplayError;
use crate::source::{Flow, Source};
use crate::verify::{Verified, Verifier};

/// Writes every envelope of `source` to `out`, one JSON line each, checking the chain as it
/// goes (a log that does not verify is not exported: the error names the position).
///
/// # Errors
/// [`ReplayError::Invalid`] at the first bad position; read or write failures.
pub fn export(source: &Source, out: &mut dyn Write) -> Result<Verified, ReplayError> {
    let mut verifier = Verifier::new();
    source.for_each(&mut |env| {
        verifier.check(env)?;
        let line = serde_json::to_string(env).map_err(|e| ReplayError::Data(e.to_string()))?;
        out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")).map_err(|e| ReplayError::io("write", e))?;
        Ok(Flow::Continue)
    })?;
    out.flush().map_err(|e| ReplayError::io("write", e))?;
    Ok(verifier.finish())
}

/// Restores an export into `dir`, which must be missing or empty. The file's whole chain is
/// verified before anything is written.
///
/// # Errors
/// [`ReplayError::Invalid`] when the file does not verify (nothing written),
/// [`ReplayError::Usage`] when `dir` is not empty, [`ReplayError::Io`] on read/write failures.
pub fn import(file: &Path, dir: &Path) -> Result<Verified, ReplayError> {
    if dir.exists() && std::fs::read_dir(dir).map_err(|e| ReplayError::io("read the directory", e))?.next().is_some() {
        return Err(ReplayError::Usage(format!(
            "{} is not empty: import only restores into an empty directory",
            dir.display()
        )));
    }
    let envelopes: Vec<Envelope> = Source::File(file.to_path_buf()).read_all()?;
    if envelopes.is_empty() {
        return Err(ReplayError::Data(format!("{} holds no events", file.display())));
    }
    let report = import_envelopes(dir, &envelopes).map_err(|e| match e {
        ImportError::NotEmpty(d) => {
            ReplayError::Usage(format!("{d} is not empty: import only restores into an empty directory"))
        }
        ImportError::Chain { position, reason } => ReplayError::Invalid { position, reason },
        ImportError::Storage(e) => ReplayError::from(e),
    })?;
    Ok(Verified { events: report.events, contacts: report.contacts, head: report.head.hash })
}
