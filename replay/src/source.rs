//! Where the events come from: a stopped service's data directory, an export file (one
//! envelope per line), or a running service's `GET /v1/events`. Every source is read in log
//! order, a page at a time, so a large log is never held in memory by the commands that
//! do not need it.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use eventlog::{Envelope, EventLog};
use serde::Deserialize;

use crate::error::ReplayError;

/// Events per page from the data directory (as the service's start-up rebuild reads).
pub const DIR_PAGE: usize = 4096;
/// Events per page from the API (its maximum).
pub const URL_PAGE: usize = 1000;

/// Whether to go on reading after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// A log to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A stopped service's data directory.
    DataDir(PathBuf),
    /// An export: one envelope per line, as `frontdoor-replay export` writes it.
    File(PathBuf),
    /// Segment files of a data directory (`segments/*.seg`), read offline without the index,
    /// in the order given; see `eventlog/README.md`.
    Segments(Vec<PathBuf>),
    /// A running service, read with a bearer token (an auditor's or an admin's, so that
    /// restricted checks are not left out).
    Url { url: String, token: String },
}

/// Opens a stopped service's log. The log lets one process hold a data directory, so this
/// fails while the service runs: the message says so.
///
/// # Errors
/// [`ReplayError::Io`] when the directory is missing, not a log, or held by a running service;
/// [`ReplayError::Invalid`] when its head record is damaged.
pub fn open_data_dir(dir: &Path) -> Result<EventLog, ReplayError> {
    // `segments/`, or `db` for a directory in the layout before segment files (migrated on open).
    if !dir.join(eventlog::segment::SEGMENTS_DIR).is_dir() && !dir.join("db").is_file() {
        return Err(ReplayError::Io(format!("{} is not a frontdoor data directory (no log in it)", dir.display())));
    }
    // EventLog::open itself waits briefly for a lock that a just-closed handle still holds.
    EventLog::open(dir).map_err(|e| match e {
        eventlog::LogError::Corrupt { position, reason } => ReplayError::Invalid { position, reason },
        other => ReplayError::Io(format!(
            "cannot open the log in {}: {other}. If the service is running it holds the directory \
             (one process at a time): stop it first, or read the running service with --url and --token",
            dir.display()
        )),
    })
}

#[derive(Deserialize)]
struct Page {
    events: Vec<Envelope>,
    next_after: u64,
}

impl Source {
    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Source::DataDir(d) => format!("data directory {}", d.display()),
            Source::File(f) => format!("export {}", f.display()),
            Source::Segments(files) => match files.as_slice() {
                [one] => format!("segment {}", one.display()),
                many => format!("{} segment files", many.len()),
            },
            Source::Url { url, .. } => format!("service {url}"),
        }
    }

    /// Calls `f` with every event in log order until it says [`Flow::Stop`].
    ///
    /// # Errors
    /// Whatever reading fails with, or the first error from `f`.
    pub fn for_each(&self, f: &mut dyn FnMut(&Envelope) -> Result<Flow, ReplayError>) -> Result<(), ReplayError> {
        match self {
            Source::DataDir(dir) => {
                let log = open_data_dir(dir)?;
                let result = for_each_in_log(&log, f);
                log.shutdown();
                result
            }
            Source::File(path) => for_each_in_file(path, f),
            Source::Segments(files) => for_each_in_segments(files, f).map(|_| ()),
            Source::Url { url, token } => for_each_from_url(url, token, f),
        }
    }

    /// Every event, in memory.
    ///
    /// # Errors
    /// As [`Source::for_each`].
    pub fn read_all(&self) -> Result<Vec<Envelope>, ReplayError> {
        let mut out = Vec::new();
        self.for_each(&mut |env| {
            out.push(env.clone());
            Ok(Flow::Continue)
        })?;
        Ok(out)
    }
}

/// Every event of an open log, in order.
///
/// # Errors
/// A damaged record, or the first error from `f`.
pub fn for_each_in_log(
    log: &EventLog,
    f: &mut dyn FnMut(&Envelope) -> Result<Flow, ReplayError>,
) -> Result<(), ReplayError> {
    let mut after = 0;
    loop {
        let page = log.read_all(after, DIR_PAGE)?;
        let Some(last) = page.last() else { return Ok(()) };
        after = last.position;
        for env in &page {
            if f(env)? == Flow::Stop {
                return Ok(());
            }
        }
    }
}

/// Every event of segment files, in order; what was read (where the chain starts, and a
/// partial record left out at the end of the last file).
///
/// # Errors
/// A damaged or misplaced segment, or the first error from `f`.
pub fn for_each_in_segments(
    files: &[PathBuf],
    f: &mut dyn FnMut(&Envelope) -> Result<Flow, ReplayError>,
) -> Result<eventlog::segment::FilesRead, ReplayError> {
    let mut failed = None;
    let read = eventlog::segment::read_files(files, &mut |env| match f(&env) {
        Ok(flow) => Ok(flow == Flow::Continue),
        Err(e) => {
            failed = Some(e);
            Ok(false)
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(read),
    }
}

fn for_each_in_file(path: &Path, f: &mut dyn FnMut(&Envelope) -> Result<Flow, ReplayError>) -> Result<(), ReplayError> {
    let file = std::fs::File::open(path).map_err(|e| ReplayError::io(&format!("cannot read {}", path.display()), e))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut last_position = 0;
    for (number, line) in (1u64..).zip(reader.lines()) {
        let line = line.map_err(|e| ReplayError::io(&format!("cannot read {}", path.display()), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let env: Envelope = serde_json::from_str(&line).map_err(|e| ReplayError::Invalid {
            position: last_position + 1,
            reason: format!("line {number} is not an envelope: {e}"),
        })?;
        last_position = env.position;
        if f(&env)? == Flow::Stop {
            return Ok(());
        }
    }
    Ok(())
}

fn for_each_from_url(
    url: &str,
    token: &str,
    f: &mut dyn FnMut(&Envelope) -> Result<Flow, ReplayError>,
) -> Result<(), ReplayError> {
    let client = http_client()?;
    let base = url.trim_end_matches('/');
    let mut after = 0u64;
    loop {
        let page_url = format!("{base}/v1/events?after={after}&limit={URL_PAGE}");
        let body = get_page(&client, &page_url, token)?;
        let page: Page = serde_json::from_slice(&body)
            .map_err(|e| ReplayError::Io(format!("GET {page_url}: not a page of events: {e}")))?;
        if page.events.is_empty() {
            return Ok(());
        }
        for env in &page.events {
            if f(env)? == Flow::Stop {
                return Ok(());
            }
        }
        if page.next_after <= after {
            return Ok(());
        }
        after = page.next_after;
    }
}

/// The HTTP client the commands read a service with (a minute per request).
pub(crate) fn http_client() -> Result<reqwest::blocking::Client, ReplayError> {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| ReplayError::io("cannot start an HTTP client", e))
}

/// The body of `GET page_url` with the bearer `token`; a refusal is an error carrying the
/// status and the problem's `detail`.
pub(crate) fn get_page(
    client: &reqwest::blocking::Client,
    page_url: &str,
    token: &str,
) -> Result<Vec<u8>, ReplayError> {
    let response =
        client.get(page_url).bearer_auth(token).send().map_err(|e| ReplayError::io(&format!("GET {page_url}"), e))?;
    let status = response.status();
    let body = response.bytes().map_err(|e| ReplayError::io(&format!("GET {page_url}"), e))?;
    if !status.is_success() {
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(ReplayError::Io(format!("GET {page_url}: {status} {detail}")));
    }
    Ok(body.to_vec())
}

/// What an offline command read, for its entry in the data directory's access log.
#[derive(Debug, Clone, Default)]
pub struct OfflineRead {
    /// The contact whose record was read (`case`), if it was one.
    pub contact: Option<ulid::Ulid>,
    /// The moment asked for (`as-of`).
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// Who is running this tool, as the operating system says: the login name (`USER` or
/// `LOGNAME`, which a user can set) beside the real user id (which they cannot).
pub fn os_user() -> String {
    let uid = rustix::process::getuid().as_raw();
    let name = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
    let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    if name.is_empty() { format!("os-user:uid {uid}") } else { format!("os-user:{name} (uid {uid})") }
}

/// Records a read of children's records made offline from a stopped service's data directory
/// (`command`, e.g. `export`) in that directory's access log, durably, before anything read is
/// shown or written, as the service records a read before answering it: one entry naming the
/// log positions read (the whole log) and the contact or moment asked for, by the operating
/// system's user (see [`os_user`]), action `offline_read`. A running service's reads (`--url`)
/// are recorded by the service itself; export files and bare segment files have no access log.
///
/// # Errors
/// The log cannot be opened (the service is running), or the entry cannot be made durable:
/// then nothing is read.
pub fn record_offline_read(source: &Source, command: &str, read: &OfflineRead) -> Result<(), ReplayError> {
    let Source::DataDir(dir) = source else { return Ok(()) };
    let log = open_data_dir(dir)?;
    let head = log.head().position;
    let entry = eventlog::AccessEntry {
        at: chrono::Utc::now(),
        actor: eventlog::Actor::new(os_user(), eventlog::Role::Admin, events::schema::Agency::ChildrensSocialCare),
        action: "offline_read".into(),
        endpoint: format!("frontdoor-replay {command} --data-dir {}", dir.display()),
    };
    let scope = eventlog::AccessScope { as_of: read.as_of, ..eventlog::AccessScope::range(0, head) };
    let result = log.record_bulk_access_blocking(read.contact, &entry, scope);
    log.shutdown();
    result.map_err(|e| ReplayError::Io(format!("cannot record this read in the access log of {}: {e}", dir.display())))
}
