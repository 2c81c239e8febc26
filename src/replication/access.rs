//! The access log beyond one machine: every node publishes its own access chain, entry by
//! entry as recorded, to a stream of its own (`<STREAM>_ACCESS`), and copies the reads recorded
//! on the other nodes into its own access log, so that the audit view of a contact is complete
//! on every node.
//!
//! A node's chain is published verbatim (each entry's stored body and hash, as the access
//! export's lines) on the subject `<stream>.access.<chain>`, where `<chain>` is the first 16
//! hex characters of the hash of the chain's first entry (a node whose data directory was
//! replaced starts a new chain, on a new subject). A follower checks every chain it reads
//! from its first entry on (position, `prev_hash` link, hash of the body): a message that does
//! not continue its chain stops the copying, named in the log and in `/readyz`, never skipped.
//! It copies only the entries first recorded on the publishing node (not those the publisher
//! copied from another, which it reads from their own chains), each with `recorded_on` naming
//! the node and the entry's place in that node's chain.
//!
//! Where a follower stands is kept in `replication.access.json` in the data directory,
//! written after each copied group is durable; entries copied after the last write (a crash
//! in between) are found in the access log at the next start and not copied twice.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::stream;
use bytes::Bytes;
use eventlog::access::{export_line, parse_export_line};
use eventlog::{AccessHead, AccessRecord, EventLog, ExportChecker, Hash, RecordedOn};
use serde::{Deserialize, Serialize};

use super::{HEADER_LAST, HEADER_LAST_HASH, HEADER_NODE, READ_TIMEOUT, Replication, fetch, header, parse_hash};

/// Where a follower of the access stream stands, in the data directory.
pub const ACCESS_STATE_FILE: &str = "replication.access.json";
/// Entries in one message at most.
const ENTRIES_PER_MESSAGE: usize = 256;
/// How long the publisher and the follower wait when there is nothing new.
const IDLE: Duration = Duration::from_millis(50);

/// What `replication.access.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FollowState {
    /// The last message of the access stream read.
    seq: u64,
    /// This node's access head when the state was written: entries after it may be copies
    /// made after the last write.
    local_head: u64,
    /// Each chain's checked head: `[position, hash]`.
    chains: HashMap<String, (u64, String)>,
}

impl Replication {
    /// The access stream's name and its subjects' prefix.
    fn access_names(&self) -> (String, String) {
        let stream = &self.inner.config.stream;
        (format!("{stream}_ACCESS"), format!("{}.access", stream.to_ascii_lowercase()))
    }

    async fn access_stream(&self) -> Result<stream::Stream<()>, String> {
        let (name, prefix) = self.access_names();
        let made = self.inner.js.get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.*")],
            storage: stream::StorageType::File,
            num_replicas: self.inner.config.replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        });
        match tokio::time::timeout(READ_TIMEOUT * 5, made).await {
            Ok(Ok(_)) => self.inner.js.get_stream_no_info(&name).await.map_err(|e| format!("the stream {name}: {e}")),
            Ok(Err(e)) => Err(format!("the stream {name}: {e}")),
            Err(_) => Err(format!("the stream {name}: no answer")),
        }
    }

    /// Starts publishing this node's access chain and copying the other nodes'.
    pub(super) fn serve_access(&self, log: &EventLog) {
        tokio::spawn(self.clone().publish_access(log.clone()));
        tokio::spawn(self.clone().follow_access(log.clone()));
    }

    /// The subject of this node's access chain, once it has a first entry.
    fn own_chain(log: &EventLog) -> Option<String> {
        let first = log.read_access_after(0, 1).ok()?.into_iter().next()?;
        Some(chain_id(&first.hash))
    }

    /// Publishes this node's access entries as they are recorded, from where the stream's
    /// last message of its chain ends.
    async fn publish_access(self, log: EventLog) {
        let mut warned = false;
        let trouble = |warned: &mut bool, why: String| {
            warn_once(warned, &why, "access entries are not published for now; retrying");
        };
        let (stream, chain) = loop {
            match (self.access_stream().await, Self::own_chain(&log)) {
                (Ok(stream), Some(chain)) => break (stream, chain),
                (Err(why), _) => trouble(&mut warned, why),
                (Ok(_), None) => {}
            }
            tokio::time::sleep(IDLE * 4).await;
        };
        let subject = format!("{}.{chain}", self.access_names().1);
        let mut published = loop {
            match tokio::time::timeout(READ_TIMEOUT, stream.get_last_raw_message_by_subject(&subject)).await {
                Ok(Ok(message)) => match last_published(&log, &message.headers) {
                    Ok(position) => break position,
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), %subject, "this node's access chain in the stream is not its own; not published");
                        return;
                    }
                },
                Ok(Err(e)) if matches!(e.kind(), stream::LastRawMessageErrorKind::NoMessageFound) => break 0,
                Ok(Err(e)) => trouble(&mut warned, format!("reading {subject}: {e}")),
                Err(_) => trouble(&mut warned, format!("reading {subject}: no answer")),
            }
            tokio::time::sleep(IDLE * 4).await;
        };
        loop {
            let records = match log.read_access_after(published, ENTRIES_PER_MESSAGE) {
                Ok(records) => records,
                Err(e) => {
                    tracing::error!(error = %e, "reading the access log to publish it");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(last) = records.last() else {
                tokio::time::sleep(IDLE).await;
                continue;
            };
            let (last_position, last_hash) = (last.position, last.hash);
            let mut payload = String::new();
            for record in &records {
                match export_line(record) {
                    Ok(line) => {
                        payload.push_str(&line);
                        payload.push('\n');
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "an access entry that does not verify is not published; publishing stops");
                        return;
                    }
                }
            }
            let mut headers = HeaderMap::new();
            headers.insert(HEADER_NODE, self.inner.config.node.as_str());
            headers.insert(HEADER_LAST, last_position.to_string().as_str());
            headers.insert(HEADER_LAST_HASH, last_hash.to_string().as_str());
            headers.insert("Nats-Msg-Id", format!("{chain}-{last_position}").as_str());
            let sent = match self.inner.js.publish_with_headers(subject.clone(), headers, Bytes::from(payload)).await {
                Ok(ack) => ack.await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(_) => {
                    published = last_position;
                    warned = false;
                }
                Err(why) => {
                    trouble(&mut warned, format!("publishing access entries up to {last_position}: {why}"));
                    tokio::time::sleep(IDLE * 4).await;
                    // The stream may have taken it all the same: go on from what it holds.
                    if let Ok(Ok(message)) =
                        tokio::time::timeout(READ_TIMEOUT, stream.get_last_raw_message_by_subject(&subject)).await
                        && let Ok(position) = last_published(&log, &message.headers)
                    {
                        published = position;
                    }
                }
            }
        }
    }

    /// Copies the reads recorded on the other nodes into this node's access log.
    async fn follow_access(self, log: EventLog) {
        let path = self.inner.data_dir.join(ACCESS_STATE_FILE);
        let mut state = match read_state(&path) {
            Ok(state) => state,
            Err(e) => {
                let why = format!("{e:#}");
                tracing::error!(%why, "access entries of the other nodes are not copied");
                self.set(|s| s.access_stopped = Some(why));
                return;
            }
        };
        let copied = match copied_since(&log, state.local_head) {
            Ok(copied) => copied,
            Err(e) => {
                let why = format!("reading this node's access log: {e}");
                self.set(|s| s.access_stopped = Some(why));
                return;
            }
        };
        let mut checkers: HashMap<String, ExportChecker> = HashMap::new();
        for (chain, (position, hash)) in &state.chains {
            let Ok(hash) = parse_hash(hash) else { continue };
            checkers.insert(chain.clone(), ExportChecker::from_head(AccessHead { position: *position, hash }));
        }
        let prefix = format!("{}.", self.access_names().1);
        let mut own: Option<String> = None;
        let mut warned = false;
        let mut stream = None;
        loop {
            if stream.is_none() {
                match self.access_stream().await {
                    Ok(s) => stream = Some(s),
                    Err(why) => {
                        warn_once(&mut warned, &why, COPY_PAUSED);
                        tokio::time::sleep(IDLE * 4).await;
                        continue;
                    }
                }
            }
            let Some(s) = &stream else { continue };
            let message = match fetch(s, state.seq + 1).await {
                Ok(Some(message)) => message,
                Ok(None) => {
                    tokio::time::sleep(IDLE).await;
                    continue;
                }
                Err(why) => {
                    warn_once(&mut warned, &why, COPY_PAUSED);
                    tokio::time::sleep(IDLE * 4).await;
                    continue;
                }
            };
            warned = false;
            // Looked up after the message is read: a message of this node's own chain is
            // published after its first entry is durable, so it is known by then.
            if own.is_none() {
                own = Self::own_chain(&log);
            }
            let seq = state.seq + 1;
            let chain = message.subject.as_str().strip_prefix(prefix.as_str()).unwrap_or_default().to_owned();
            if own.as_deref() == Some(chain.as_str()) || chain.is_empty() {
                state.seq = seq;
                continue;
            }
            let node = header(&message.headers, HEADER_NODE).unwrap_or("another node").to_owned();
            let checker = checkers.entry(chain.clone()).or_default();
            let mut entries = Vec::new();
            let text = String::from_utf8_lossy(&message.payload).into_owned();
            for line in text.lines().filter(|l| !l.is_empty()) {
                let checked =
                    parse_export_line(line).map_err(|e| (checker.head().position + 1, e)).and_then(|(body, record)| {
                        if record.position <= checker.head().position {
                            // A repeat of entries already checked (a publish retried with
                            // more entries): nothing of it is copied.
                            return Ok(None);
                        }
                        checker.check(&body, &record).map(|()| Some(record))
                    });
                let record = match checked {
                    Ok(Some(record)) => record,
                    Ok(None) => continue,
                    Err((position, why)) => {
                        let why = format!(
                            "access stream message {seq} ({node}'s access chain {chain}), entry {position}: {why}"
                        );
                        tracing::error!(%why, "stopped copying the other nodes' access entries: an entry does not continue its chain");
                        self.set(|s| s.access_stopped = Some(why));
                        return;
                    }
                };
                if let Some(entry) = copy_of(record, &node, &copied) {
                    entries.push(entry);
                }
            }
            let count = entries.len();
            if let Err(e) = log.record_replicated_access(entries).await {
                tracing::error!(error = %e, "copying the other nodes' access entries; retrying");
                checkers.remove(&chain);
                if let Some((position, hash)) = state.chains.get(&chain)
                    && let Ok(hash) = parse_hash(hash)
                {
                    checkers.insert(chain, ExportChecker::from_head(AccessHead { position: *position, hash }));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let head = checker.head();
            state.seq = seq;
            state.local_head = log.access_head();
            state.chains.insert(chain, (head.position, head.hash.to_string()));
            if let Err(e) = write_state(&path, &state) {
                tracing::warn!(error = %format!("{e:#}"), "could not record where the access stream was read up to");
            }
            if count > 0 {
                tracing::debug!(%node, count, "copied access entries recorded on another node");
            }
        }
    }
}

/// A chain's name: the first 16 hex characters of its first entry's hash.
fn chain_id(first: &Hash) -> String {
    first.to_string()[..16].to_owned()
}

/// The last position the stream holds of this node's chain, checked against this node's log.
fn last_published(log: &EventLog, headers: &HeaderMap) -> anyhow::Result<u64> {
    let position: u64 = header(headers, HEADER_LAST)?.parse().context(HEADER_LAST)?;
    let hash = parse_hash(header(headers, HEADER_LAST_HASH)?)?;
    let here = log.read_access_after(position.saturating_sub(1), 1)?;
    match here.first() {
        Some(record) if record.position == position && record.hash == hash => Ok(position),
        _ => anyhow::bail!("the stream holds entry {position} with hash {hash}, this access log does not"),
    }
}

/// The entry to record here for a record of another node's chain, if it was first recorded
/// there and is not already copied.
fn copy_of(
    record: AccessRecord,
    node: &str,
    copied: &HashSet<Hash>,
) -> Option<(Option<ulid::Ulid>, eventlog::AccessEntry, eventlog::AccessScope)> {
    if record.scope.recorded_on.is_some() || copied.contains(&record.hash) {
        return None;
    }
    let mut scope = record.scope;
    scope.recorded_on = Some(RecordedOn { node: node.to_owned(), position: record.position, hash: record.hash });
    Some((record.contact_id, record.entry, scope))
}

/// The hashes (on their nodes) of the entries copied into this log after `after`.
fn copied_since(log: &EventLog, after: u64) -> Result<HashSet<Hash>, eventlog::LogError> {
    let mut out = HashSet::new();
    let mut at = after;
    loop {
        let page = log.read_access_after(at, 1024)?;
        let Some(last) = page.last() else { return Ok(out) };
        at = last.position;
        out.extend(page.iter().filter_map(|r| r.scope.recorded_on.as_ref().map(|o| o.hash)));
    }
}

fn read_state(path: &Path) -> anyhow::Result<FollowState> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is not readable", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FollowState::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_state(path: &Path, state: &FollowState) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(state)?)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// What the copying of the other nodes' access entries logs when it pauses.
const COPY_PAUSED: &str = "the other nodes' access entries are not copied for now; retrying";

/// Logs `what` with `why` once per spell of trouble (`warned` is cleared when it ends).
fn warn_once(warned: &mut bool, why: &str, what: &str) {
    if !*warned {
        tracing::warn!(%why, "{what}");
        *warned = true;
    }
}
