//! The access log's export: every access entry as one JSON line, its stored body byte for byte
//! with `,"hash":"<hex>"` put before the closing brace, so the chain can be recomputed with
//! stock tools (see `eventlog/README.md`). Written beside the events export as
//! `<FILE>.access.jsonl`, restored by `import` with the events.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use eventlog::access::{ExportChecker, export_line, parse_export_line};
use eventlog::{AccessRecord, Hash};
use serde::Deserialize;

use crate::error::ReplayError;
use crate::source::{Source, URL_PAGE, open_data_dir};

/// An access entry's stored body and what it says.
pub type StoredEntry = (Vec<u8>, AccessRecord);

/// What an access export or check covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessVerified {
    pub entries: u64,
    /// The hash of the last entry (the access chain's head).
    pub head: Hash,
}

/// The access export's file beside the events export `path`: `<path>.access.jsonl`.
pub fn access_path(events: &Path) -> PathBuf {
    let mut name = events.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".access.jsonl");
    events.with_file_name(name)
}

fn invalid((position, reason): (u64, String)) -> ReplayError {
    ReplayError::Invalid { position, reason: format!("access log: {reason}") }
}

/// Writes one line, checking the chain as it goes.
fn write_record(record: &AccessRecord, checker: &mut ExportChecker, out: &mut dyn Write) -> Result<(), ReplayError> {
    let line = export_line(record).map_err(|reason| invalid((record.position, reason)))?;
    let (body, parsed) = parse_export_line(&line).map_err(|reason| invalid((record.position, reason)))?;
    checker.check(&body, &parsed).map_err(invalid)?;
    out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")).map_err(|e| ReplayError::io("write", e))
}

#[derive(Deserialize)]
struct Page {
    entries: Vec<AccessRecord>,
    next_after: u64,
}

/// Writes every access entry of `source` to `out`: a data directory's access log, or a running
/// service's `GET /v1/access` (read up to the first page shorter than a full one: each page
/// read is itself recorded, after the page). `Ok(None)` for a source without an access log (an
/// export file, segment files).
///
/// # Errors
/// [`ReplayError::Invalid`] at the first bad access position; read or write failures.
pub fn export_access(source: &Source, out: &mut dyn Write) -> Result<Option<AccessVerified>, ReplayError> {
    let mut checker = ExportChecker::new();
    match source {
        Source::DataDir(dir) => {
            let log = open_data_dir(dir)?;
            let mut after = 0;
            let result = loop {
                let page = match log.read_access_after(after, 4096) {
                    Ok(page) => page,
                    Err(e) => break Err(ReplayError::from(e)),
                };
                let Some(last) = page.last().map(|r| r.position) else { break Ok(()) };
                if let Err(e) = page.iter().try_for_each(|r| write_record(r, &mut checker, out)) {
                    break Err(e);
                }
                after = last;
            };
            log.shutdown();
            result?;
        }
        Source::Url { url, token } => {
            let client = crate::source::http_client()?;
            let base = url.trim_end_matches('/');
            let mut after = 0u64;
            loop {
                let page_url = format!("{base}/v1/access?after={after}&limit={URL_PAGE}");
                let body = crate::source::get_page(&client, &page_url, token)?;
                let page: Page = serde_json::from_slice(&body)
                    .map_err(|e| ReplayError::Io(format!("GET {page_url}: not a page of the access log: {e}")))?;
                for record in &page.entries {
                    write_record(record, &mut checker, out)?;
                }
                if page.entries.len() < URL_PAGE || page.next_after <= after {
                    break;
                }
                after = page.next_after;
            }
        }
        Source::File(_) | Source::Segments(_) => return Ok(None),
    }
    out.flush().map_err(|e| ReplayError::io("write", e))?;
    let head = checker.head();
    Ok(Some(AccessVerified { entries: head.position, head: head.hash }))
}

/// Reads an access export: every line's stored body and entry, the chain checked.
///
/// # Errors
/// [`ReplayError::Invalid`] at the first bad line; read failures.
pub fn read_access_file(path: &Path) -> Result<(Vec<StoredEntry>, AccessVerified), ReplayError> {
    let file = std::fs::File::open(path).map_err(|e| ReplayError::io(&format!("cannot read {}", path.display()), e))?;
    let mut checker = ExportChecker::new();
    let mut out = Vec::new();
    for (number, line) in (1u64..).zip(std::io::BufReader::new(file).lines()) {
        let line = line.map_err(|e| ReplayError::io(&format!("cannot read {}", path.display()), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let expected = checker.head().position + 1;
        let (body, record) = parse_export_line(&line)
            .map_err(|reason| invalid((expected, format!("line {number} is not an access entry: {reason}"))))?;
        checker.check(&body, &record).map_err(invalid)?;
        out.push((body, record));
    }
    let head = checker.head();
    Ok((out, AccessVerified { entries: head.position, head: head.hash }))
}

/// Whether `path` is an access export (its first line is an access entry).
pub fn is_access_export(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else { return false };
    let mut first = String::new();
    if std::io::BufReader::new(file).read_line(&mut first).is_err() {
        return false;
    }
    parse_export_line(first.trim_end()).is_ok()
}

/// Checks access segment files (`access/*.seg`) offline, in order, as `verify --file` does.
///
/// # Errors
/// [`ReplayError::Invalid`] naming the file, byte offset and position of the first damage.
pub fn verify_access_segments(files: &[PathBuf]) -> Result<AccessVerified, ReplayError> {
    let mut count = 0u64;
    let (head, torn) = eventlog::access::verify_files(files, &mut |_| count += 1)?;
    if let Some((file, offset)) = torn {
        eprintln!(
            "note: {} ends in a partial access entry at byte offset {offset} (a copy taken during a write): left out",
            file.display()
        );
    }
    Ok(AccessVerified { entries: count, head: head.hash })
}
