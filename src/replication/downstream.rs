//! The downstream stream: the log as a reader without any right to restricted checks sees it,
//! for readers outside the service (a council's data warehouse, its case management system),
//! who sign in to NATS as the users `replication.downstream_users` names and may read this
//! stream only (the full stream is for frontdoor nodes: the NATS permissions say so).
//!
//! The primary derives it from its own log, after the full stream holds each event: one
//! message per log position, in order, with JetStream's expected last sequence (so the
//! stream's sequence is the log position, and a second primary's first publish is refused).
//! A message is either the event exactly as the export writes it, or, for an event the server
//! hides from a reader without the right ([`crate::http::views::hidden_events`], the one filter
//! every read path uses), a stub with its position, `prev_hash` and `hash` only, so the reader
//! can follow the chain across it. A correction that makes an earlier check restricted (the
//! server hides both from then on) is withheld, and its message names the earlier positions
//! the reader must now drop ([`HEADER_WITHDRAW`]). docs/DECISIONS.md ("The downstream
//! stream") says what a reader can and cannot verify.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use bytes::Bytes;
use eventlog::{Envelope, EventLog, EventType};
use events::schema::Agency;
use serde::Serialize;

use super::{HEADER_NODE, Replication, Role, config::Tls};
use crate::auth::RestrictedViewer;

/// The log position a downstream message carries (also its stream sequence).
pub const HEADER_POSITION: &str = "Frontdoor-Position";
/// `event` (the envelope as exported) or `withheld` (position and hashes only).
pub const HEADER_KIND: &str = "Frontdoor-Kind";
/// Earlier positions, comma-separated, that this event makes restricted: a reader drops what
/// it holds of them and keeps only their hashes.
pub const HEADER_WITHDRAW: &str = "Frontdoor-Withdraw";

/// The file in a data directory holding the list of downstream readers last recorded in the
/// access log (written only once the entry is durable).
pub const READERS_FILE: &str = "replication.downstream-readers";
/// The access log's action for the list of downstream readers.
pub const READERS_ACTION: &str = "downstream_readers";

/// Messages published before their acknowledgements are awaited.
const IN_FLIGHT: usize = 128;
/// How often an idle publisher looks at the node's role again.
const IDLE: Duration = Duration::from_millis(200);

/// The reader of the downstream stream: one who may see no restricted check at all.
struct Downstream;

impl RestrictedViewer for Downstream {
    fn may_see_restricted(&self, _returning_agency: Agency) -> bool {
        false
    }
}

/// A withheld event as its downstream message carries it.
#[derive(Serialize)]
struct Withheld {
    position: u64,
    withheld: bool,
    prev_hash: eventlog::Hash,
    hash: eventlog::Hash,
}

/// One downstream message, built from a log event.
#[derive(Debug, Clone, PartialEq)]
pub struct DownstreamMessage {
    pub position: u64,
    pub withheld: bool,
    /// Earlier positions this event makes restricted.
    pub withdraw: Vec<u64>,
    pub payload: Bytes,
    /// The message id (JetStream's duplicate window): the position and the event's hash.
    pub id: String,
}

/// The downstream message for `env`, given the events of its contact (any of them: only those
/// before and at `env` are looked at, so the message is the same whenever it is built).
pub fn message_for(env: &Envelope, contact_events: &[Envelope]) -> anyhow::Result<DownstreamMessage> {
    let (withheld, withdraw) = match env.event_type {
        // Only checks and their corrections are ever hidden.
        EventType::ChecksReturned | EventType::CorrectionRecorded => {
            let upto: Vec<Envelope> = contact_events.iter().filter(|e| e.position <= env.position).cloned().collect();
            let before: Vec<Envelope> = upto.iter().filter(|e| e.position < env.position).cloned().collect();
            let hidden_now = crate::http::views::hidden_events(&upto, &Downstream);
            let hidden_before = crate::http::views::hidden_events(&before, &Downstream);
            let withdraw = before
                .iter()
                .filter(|e| hidden_now.contains(&e.event_id) && !hidden_before.contains(&e.event_id))
                .map(|e| e.position)
                .collect();
            (hidden_now.contains(&env.event_id), withdraw)
        }
        _ => (false, Vec::new()),
    };
    let payload = if withheld {
        serde_json::to_vec(&Withheld {
            position: env.position,
            withheld: true,
            prev_hash: env.prev_hash,
            hash: env.hash,
        })?
    } else {
        serde_json::to_vec(env)?
    };
    Ok(DownstreamMessage {
        position: env.position,
        withheld,
        withdraw,
        payload: payload.into(),
        id: format!("ds-{}-{}", env.position, env.hash),
    })
}

/// The client options with TLS when `[replication]` asks for it: the servers' CA, and this
/// node's certificate and key for mutual TLS.
pub(super) fn with_tls(options: async_nats::ConnectOptions, tls: Option<&Tls>) -> async_nats::ConnectOptions {
    let Some(tls) = tls else { return options };
    let mut options = options.require_tls(true).add_root_certificates(tls.ca_file.clone());
    if let Some((cert, key)) = &tls.client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options
}

impl Replication {
    /// Makes sure the downstream stream exists (file storage, as many replicas as the full one).
    pub(super) async fn ensure_downstream_stream(&self) -> anyhow::Result<()> {
        let config = &self.inner.config;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let made = self
                .inner
                .js
                .get_or_create_stream(stream::Config {
                    name: config.downstream_stream.clone(),
                    subjects: vec![config.downstream_subject.clone()],
                    storage: stream::StorageType::File,
                    num_replicas: config.replicas,
                    duplicate_window: Duration::from_secs(120),
                    ..Default::default()
                })
                .await;
            match made {
                Ok(_) => return Ok(()),
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, stream = %config.downstream_stream, "the downstream stream is not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("the JetStream stream {}", config.downstream_stream));
                }
            }
        }
    }

    /// Records that the full stream holds the log up to `position`.
    pub(super) fn full_stream_holds(&self, position: u64) {
        self.inner.full_position.fetch_max(position, std::sync::atomic::Ordering::SeqCst);
    }

    fn full_position(&self) -> u64 {
        self.inner.full_position.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The last position the downstream stream holds (its last sequence).
    /// A downstream stream that is gone (deleted by hand, or lost with the NATS servers' storage)
    /// is made again, empty, as at start-up: publishing then starts again from the first event.
    async fn downstream_last(&self) -> anyhow::Result<u64> {
        let name = &self.inner.config.downstream_stream;
        let mut stream = match self.inner.js.get_stream(name).await {
            Ok(stream) => stream,
            Err(e) if is_stream_not_found(&e) => {
                tracing::warn!(
                    stream = %name,
                    "the downstream stream is gone: made again, and every event published to it again from the first"
                );
                self.ensure_downstream_stream().await?;
                self.inner.js.get_stream(name).await.context("the downstream stream, made again")?
            }
            Err(e) => return Err(e).context("the downstream stream"),
        };
        Ok(stream.info().await.context("the downstream stream's info")?.state.last_sequence)
    }

    /// Records in the access log who may read the downstream stream (the configuration's
    /// `downstream_users`), when the list differs from the one last recorded here (or none
    /// was): an entry `downstream_readers` by this node, its endpoint the stream, its `query`
    /// the users, comma-separated (empty: nobody). Returns whether it wrote one.
    pub async fn record_downstream_readers(&self, log: &EventLog) -> anyhow::Result<bool> {
        let config = &self.inner.config;
        let list = config.downstream_users.join(",");
        let file = self.inner.data_dir.join(READERS_FILE);
        if std::fs::read_to_string(&file).ok().as_deref().map(str::trim_end) == Some(list.as_str()) {
            return Ok(false);
        }
        let entry = eventlog::AccessEntry {
            at: chrono::Utc::now(),
            actor: eventlog::Actor {
                id: config.node.clone(),
                role: eventlog::Role::Admin,
                agency: Agency::ChildrensSocialCare,
                team: None,
            },
            action: READERS_ACTION.into(),
            endpoint: format!("nats:{}", config.downstream_stream),
        };
        let scope = eventlog::AccessScope { query: Some(list.clone()), ..eventlog::AccessScope::default() };
        log.record_bulk_access(None, &entry, scope).await.context("recording the downstream readers")?;
        let tmp = self.inner.data_dir.join(format!("{READERS_FILE}.tmp"));
        std::fs::write(&tmp, format!("{list}\n")).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &file)?;
        tracing::info!(readers = %list, stream = %config.downstream_stream, "downstream readers recorded in the access log");
        Ok(true)
    }

    /// While this node is the primary: records the downstream readers (each time it becomes
    /// the primary), and, while `downstream_users` names anyone, publishes every event the
    /// full stream holds to the downstream stream, in order, from where the downstream stream
    /// ends. With nobody named, nobody may read the downstream stream, so nothing is derived
    /// (a second three-replica message per event, for no reader); once a reader is named (a
    /// restart with the new configuration), deriving starts from where the downstream stream
    /// ends: its first message when it was never derived, else where it stopped.
    pub(super) async fn publish_downstream(self, log: EventLog) {
        let mut readers_recorded = false;
        loop {
            if self.role() != Role::Primary {
                readers_recorded = false;
                tokio::time::sleep(IDLE).await;
                continue;
            }
            if !readers_recorded {
                match self.record_downstream_readers(&log).await {
                    Ok(_) => readers_recorded = true,
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "the downstream readers could not be recorded yet");
                    }
                }
            }
            if self.inner.config.downstream_users.is_empty() {
                tokio::time::sleep(IDLE).await;
                continue;
            }
            match self.publish_downstream_while_primary(&log).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "the downstream stream is behind; publishing resumes shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn publish_downstream_while_primary(&self, log: &EventLog) -> anyhow::Result<()> {
        let last = tokio::time::timeout(Duration::from_secs(5), self.downstream_last())
            .await
            .context("no answer from the downstream stream")??;
        let head = log.head().position;
        if last > head {
            anyhow::bail!("the downstream stream holds position {last}, beyond this log's head {head}");
        }
        if last > 0 {
            // The stream's last message must be this log's event at that position.
            let stream = self.inner.js.get_stream_no_info(&self.inner.config.downstream_stream).await?;
            let message = stream.get_raw_message(last).await.context("the downstream stream's last message")?;
            let ours = log.get(last)?.context("the log lacks the downstream stream's last position")?;
            let theirs: serde_json::Value =
                serde_json::from_slice(&message.payload).context("the downstream stream's last message")?;
            let ours_hash = ours.hash.to_string();
            anyhow::ensure!(
                theirs["position"] == last && theirs["hash"] == ours_hash.as_str(),
                "the downstream stream's message {last} (hash {}) is not this log's event there (hash {ours_hash}); \
                 downstream publishing stops until an operator looks",
                theirs["hash"]
            );
        }
        let mut subscription = log.subscribe(last);
        let mut in_flight: VecDeque<(u64, jetstream::context::PublishAckFuture)> = VecDeque::new();
        let mut published = last;
        loop {
            if self.role() != Role::Primary {
                drain(&mut in_flight).await?;
                return Ok(());
            }
            // The next event, once the full stream holds it.
            let next = if published < self.full_position() {
                match subscription.try_next()? {
                    Some(env) => Some(env),
                    None => tokio::time::timeout(IDLE, subscription.next()).await.ok().transpose()?,
                }
            } else {
                None
            };
            let Some(env) = next else {
                // Nothing to publish now: make sure what is out was taken, then wait.
                drain(&mut in_flight).await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let contact = match env.event_type {
                EventType::ChecksReturned | EventType::CorrectionRecorded => log.read_contact(env.contact_id)?,
                _ => Vec::new(),
            };
            let message = message_for(&env, &contact)?;
            let mut publish = jetstream::message::PublishMessage::build()
                .payload(message.payload)
                .message_id(&message.id)
                .expected_last_sequence(message.position - 1)
                .header(HEADER_NODE, self.inner.config.node.as_str())
                .header(HEADER_POSITION, message.position.to_string().as_str())
                .header(HEADER_KIND, if message.withheld { "withheld" } else { "event" });
            if !message.withdraw.is_empty() {
                let list: Vec<String> = message.withdraw.iter().map(u64::to_string).collect();
                publish = publish.header(HEADER_WITHDRAW, list.join(",").as_str());
            }
            let ack = self.inner.js.send_publish(self.inner.config.downstream_subject.clone(), publish).await?;
            in_flight.push_back((message.position, ack));
            published = message.position;
            if in_flight.len() >= IN_FLIGHT {
                drain(&mut in_flight).await?;
            }
        }
    }
}

/// Waits for every publish in flight; a refused expected sequence is an error (the loop
/// starts again from where the stream ends).
async fn drain(in_flight: &mut VecDeque<(u64, jetstream::context::PublishAckFuture)>) -> anyhow::Result<()> {
    while let Some((position, ack)) = in_flight.pop_front() {
        match ack.await {
            Ok(ack) if ack.sequence == position => {}
            Ok(ack) => anyhow::bail!("downstream position {position} was stored at sequence {}", ack.sequence),
            Err(e) if matches!(e.kind(), PublishErrorKind::WrongLastSequence) => {
                anyhow::bail!("the downstream stream did not end where expected before position {position}")
            }
            Err(e) => return Err(e).context(format!("publishing downstream position {position}")),
        }
    }
    Ok(())
}

/// Whether JetStream answered that the stream does not exist (as opposed to no answer at all).
fn is_stream_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(j) if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventlog::Hash;
    use ulid::Ulid;

    /// A contact's events, chained from the genesis hash.
    fn chain(events: &[(EventType, serde_json::Value)]) -> Vec<Envelope> {
        let contact = Ulid::from_parts(7, 7);
        let mut prev = Hash::GENESIS;
        let mut out = Vec::new();
        for (n, (event_type, data)) in (1u64..).zip(events) {
            let env =
                crate::replication::tests::envelope(n, contact, u32::try_from(n).unwrap(), *event_type, data, prev);
            prev = env.hash;
            out.push(env);
        }
        out
    }

    #[test]
    fn restricted_checks_and_their_corrections_are_withheld_with_their_hashes_only() {
        let third = Ulid::from_parts(3, 1).to_string();
        let second = Ulid::from_parts(2, 1).to_string();
        let events = chain(&[
            (EventType::NoteAdded, serde_json::json!({"text": "Called the school back."})),
            (
                EventType::ChecksReturned,
                serde_json::json!({"agency": "police", "summary": "SECRET one", "restricted": true}),
            ),
            (
                EventType::ChecksReturned,
                serde_json::json!({"agency": "health", "summary": "Known to the health visitor"}),
            ),
            (
                EventType::CorrectionRecorded,
                serde_json::json!({"corrects_event_id": third, "field": "restricted", "value": true, "reason": "asked"}),
            ),
            (
                EventType::CorrectionRecorded,
                serde_json::json!({"corrects_event_id": second, "field": "restricted", "value": false, "reason": "cleared"}),
            ),
        ]);
        let messages: Vec<DownstreamMessage> = events.iter().map(|e| message_for(e, &events).unwrap()).collect();
        let shape: Vec<(bool, Vec<u64>)> = messages.iter().map(|m| (m.withheld, m.withdraw.clone())).collect();
        assert_eq!(
            shape,
            [
                (false, vec![]),
                (true, vec![]),
                // Unrestricted when written; the correction that restricts it withdraws it.
                (false, vec![]),
                (true, vec![3]),
                // Made unrestricted: the correction is shown, the check stays withheld here.
                (false, vec![]),
            ]
        );
        for (env, message) in events.iter().zip(&messages) {
            assert_eq!(message.position, env.position);
            if message.withheld {
                let doc: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                assert_eq!(
                    doc,
                    serde_json::json!({"position": env.position, "withheld": true, "prev_hash": env.prev_hash.to_string(), "hash": env.hash.to_string()})
                );
            } else {
                assert_eq!(message.payload.as_ref(), serde_json::to_vec(env).unwrap().as_slice(), "the export line");
            }
            assert!(!String::from_utf8_lossy(&message.payload).contains("SECRET"));
        }
        // The same message whenever it is built: later events of the contact change nothing.
        assert_eq!(message_for(&events[2], &events[..3]).unwrap(), messages[2]);
    }
}
