//! The backup and restore path: the whole log as JSON lines (exactly the API's envelope
//! JSON, one per line, in log order, verifiable on its own with stock tools), and the
//! restore of such a file into an empty data directory.
//!
//! An export to a file never harms the file it replaces (the last good backup): it is written
//! to a temporary file beside it, read back and verified, and only then renamed over it
//! ([`export_to_file`]).

use std::io::Write;
use std::path::Path;

use eventlog::Envelope;
use eventlog::import::{ImportError, import_log};

use crate::access::{AccessVerified, access_path, export_access, read_access_file};

use crate::error::ReplayError;
use crate::files::{make_dir_private, replace_atomically};
use crate::source::{Flow, Source};
use crate::verify::{Verified, Verifier, verify};

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

/// Exports `source` to the file `path`, replacing it only when the new export is whole and
/// verified: the events go to a temporary file in the same directory (mode 0600), which is
/// fsynced, read back from disk and verified as `verify --file` does (it must cover the same
/// events and end at the same head hash as the log read), then renamed over `path`, and the
/// directory is fsynced. If anything fails (the source cannot be read, the service is down or
/// refuses the token, the connection breaks mid-stream, the log or the written file does not
/// verify, the disk is full), the temporary file is removed and an existing `path` is left
/// exactly as it was.
///
/// A data directory's or a running service's access log is exported too, the same way, to
/// `<path>.access.jsonl` ([`crate::access::access_path`]), after the events (so a service's
/// entries for the pages of this export are in it): both files are written and verified
/// before either is renamed. The second value is `None` for a source without an access log.
///
/// # Errors
/// As [`export`]; [`ReplayError::Invalid`] when the written file does not verify when read
/// back; [`ReplayError::Io`] when the file cannot be written, fsynced or renamed.
pub fn export_to_file(source: &Source, path: &Path) -> Result<(Verified, Option<AccessVerified>), ReplayError> {
    let mut access = None;
    let verified = replace_atomically(
        path,
        |out| export(source, out),
        |written, exported| {
            let read_back = verify(&Source::File(written.to_path_buf())).map_err(|e| match e {
                ReplayError::Invalid { position, reason } => ReplayError::Invalid {
                    position,
                    reason: format!(
                        "the export written to {} does not verify when read back: {reason}",
                        written.display()
                    ),
                },
                other => other,
            })?;
            if read_back != *exported {
                return Err(ReplayError::Io(format!(
                    "the export written to {} reads back as {} events ending at {}, not the {} events ending at {} \
                     that were written",
                    written.display(),
                    read_back.events,
                    read_back.head,
                    exported.events,
                    exported.head
                )));
            }
            if matches!(source, Source::DataDir(_) | Source::Url { .. }) {
                access = Some(export_access_to_file(source, &access_path(path))?);
            }
            Ok(())
        },
    )?;
    Ok((verified, access))
}

/// The access log of `source` to `path`, through a temporary file, read back and verified.
fn export_access_to_file(source: &Source, path: &Path) -> Result<AccessVerified, ReplayError> {
    replace_atomically(
        path,
        |out| {
            export_access(source, out)?
                .ok_or_else(|| ReplayError::Usage(format!("{} has no access log", source.describe())))
        },
        |written, exported| {
            let (_, read_back) = read_access_file(written)?;
            if read_back != *exported {
                return Err(ReplayError::Io(format!(
                    "the access export written to {} reads back as {} entries, not the {} written",
                    written.display(),
                    read_back.entries,
                    exported.entries
                )));
            }
            Ok(())
        },
    )
}

/// Restores an export into `dir`, which must be missing or empty, with the access log of
/// `<file>.access.jsonl` beside it if there is one. Both chains are verified before anything is
/// written. The directory is made private to its owner (0700)
/// if it was not; the files in it are as private as the process umask makes them (the binary
/// sets 0o077).
///
/// # Errors
/// [`ReplayError::Invalid`] when the file does not verify (nothing written),
/// [`ReplayError::Usage`] when `dir` is not empty, [`ReplayError::Io`] on read/write failures.
pub fn import(file: &Path, dir: &Path) -> Result<(Verified, Option<AccessVerified>), ReplayError> {
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
    // The access export beside it, if there is one: verified before anything is written.
    let access_file = access_path(file);
    let (access, access_verified) = if access_file.exists() {
        read_access_file(&access_file).map(|(a, v)| (a, Some(v)))?
    } else {
        (Vec::new(), None)
    };
    if dir.exists() {
        make_dir_private(dir)?;
    }
    let report = import_log(dir, &envelopes, &access).map_err(|e| match e {
        ImportError::NotEmpty(d) => {
            ReplayError::Usage(format!("{d} is not empty: import only restores into an empty directory"))
        }
        ImportError::Chain { position, reason } => ReplayError::Invalid { position, reason },
        ImportError::Storage(e) => ReplayError::from(e),
    })?;
    make_dir_private(dir)?;
    Ok((Verified { events: report.events, contacts: report.contacts, head: report.head.hash }, access_verified))
}
