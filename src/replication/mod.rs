//! Beyond one machine: the log replicated through a NATS JetStream stream.
//!
//! The primary's group commit hands every durable group to [`Replication`] (the eventlog's
//! [`Replicate`] hook), which publishes the group's appends whole in one message (their
//! events as the export's JSON lines; an append is never split) with JetStream's expected last
//! sequence, so a second primary's first publish is refused and it turns standby. A standby
//! reads the stream message by message into its own log (every record's chain link checked by
//! the log's verbatim append), and is promoted by `frontdoor promote` (which writes
//! [`ROLE_FILE`]) or at start by that file. At start every node compares its log with the
//! stream (one hash per message, by binary search): what the log lacks it follows, what it
//! holds beyond a stream that went on without it is moved into a quarantine file, and what a
//! primary holds beyond a stream that ends where its log agrees is published first.
//! docs/DECISIONS.md ("Beyond one machine") says what each `acks` mode promises.

pub mod access;
pub mod config;
pub mod downstream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_nats::{HeaderMap, HeaderValue};
use bytes::Bytes;
use eventlog::replicate::{ReplicaAppend, ReplicaIdempotency, Replicate, ReplicateError, Replicating};
use eventlog::{AppendError, Envelope, EventLog, Hash, Options};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

pub use config::{Acks, Auth, Mode, ReplicationConfig};

/// The file in a data directory that says what the node is (`primary` or `standby`), written
/// by `frontdoor promote` and by a primary that finds another has taken over; it wins over
/// `mode` in the configuration.
pub const ROLE_FILE: &str = "replication.role";
/// Written by a running node once it has become the primary (`primary <stream sequence>`), so
/// `frontdoor promote` knows the promotion is done.
pub const PROMOTED_FILE: &str = "replication.promoted";

/// Written in a standby's data directory while its tokens are the primary's (the primary's
/// node name inside); `frontdoor token create|revoke` refuse to run there. Removed when the
/// node becomes the primary.
pub const TOKENS_FROM_FILE: &str = "replication.tokens-from";
/// How often the primary looks for token changes and a standby for new ones.
const TOKENS_POLL: Duration = Duration::from_millis(100);

/// Message headers (besides JetStream's `Nats-Msg-Id` and `Nats-Expected-Last-Sequence`).
pub const HEADER_NODE: &str = "Frontdoor-Node";
pub const HEADER_FIRST: &str = "Frontdoor-First-Position";
pub const HEADER_LAST: &str = "Frontdoor-Last-Position";
pub const HEADER_LAST_HASH: &str = "Frontdoor-Last-Hash";
pub const HEADER_IDEMPOTENCY: &str = "Frontdoor-Idempotency";
/// The number of events of each append a message carries, comma-separated, in order; absent
/// when it carries one append.
pub const HEADER_APPENDS: &str = "Frontdoor-Appends";

/// The prefix of the inboxes replies to a frontdoor node come to (NATS's default `_INBOX` is
/// left to other clients): the NATS permissions let only the `frontdoor` user subscribe to it.
pub const NODE_INBOX_PREFIX: &str = "_FRONTDOOR_INBOX";

/// Messages read or published in one batch.
const BATCH: usize = 256;
/// The most events one message of an existing log's history carries.
const HISTORY_EVENTS: usize = 1000;
/// The most payload bytes one message of an existing log's history carries.
const HISTORY_BYTES: usize = 512 * 1024;
/// The payload bytes one message of new appends carries at most (an append larger than this
/// goes alone): well under NATS's default 1 MiB `max_payload`.
const MESSAGE_BYTES: usize = 256 * 1024;
/// The most appends one message carries: its headers name each (up to 129 bytes for an
/// idempotency key), so at most about 33 KiB of headers beside the payload.
const MESSAGE_APPENDS: usize = 256;
/// Room for a message's headers (see [`MESSAGE_APPENDS`]), which NATS counts in `max_payload`.
const HEADERS_ROOM: usize = 40 * 1024;
/// Room for an envelope's own fields beside its data (ids, times, actor, hashes).
const ENVELOPE_ROOM: usize = 4 * 1024;

/// The largest message this node may publish when request bodies are at most `body_limit`
/// bytes: a batch of appends or of history, or one append alone (an append larger than a
/// batch goes alone), with its headers. The NATS server must take messages this large (its
/// `max_payload`, 1 MiB unless configured), else publishing would fail on the first large
/// append, after it was written here.
pub fn largest_message(body_limit: usize) -> usize {
    MESSAGE_BYTES.max(HISTORY_BYTES).max(body_limit + ENVELOPE_ROOM) + HEADERS_ROOM
}
/// How long a standby waits for one message before it asks again.
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a promotion waits for the stream to be reachable.
const PROMOTE_WAIT: Duration = Duration::from_secs(60);
/// How long a standby waits before it looks for new messages again, when it has read them all.
const FOLLOW_IDLE: Duration = Duration::from_millis(20);

/// What the node is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Comparing its log with the stream; takes no writes yet.
    Starting,
    Primary,
    Standby,
    /// Catching up with the stream before it takes writes.
    Promoting,
}

/// Replication as `/readyz` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReplicationStatus {
    pub role: Role,
    /// This node's name.
    pub node: String,
    pub stream: String,
    /// The node that published the newest message this node knows of.
    pub primary: Option<String>,
    /// The stream sequence of the last message this node published or applied.
    pub stream_sequence: u64,
    /// Why the standby stopped following the stream (a record that does not continue the
    /// chain), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Why the last publish failed, while writes are refused for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Why this node stopped copying the other nodes' access entries (an entry that does not
    /// continue its node's access chain), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_stopped: Option<String>,
    /// Quarantine files: records this node held beyond the stream, moved aside, never served.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<String>,
}

struct State {
    role: Role,
    /// The stream sequence of the last message in this node's log.
    last_seq: u64,
    primary: Option<String>,
    stopped: Option<String>,
    /// While set and in the future, writes are refused at once (the last publish failed).
    down_until: Option<Instant>,
    unavailable: Option<String>,
    access_stopped: Option<String>,
}

/// The node's replication: a cheap clone. Hand it to the log as its replicator.
#[derive(Clone)]
pub struct Replication {
    inner: Arc<Inner>,
}

struct Inner {
    config: ReplicationConfig,
    data_dir: PathBuf,
    js: jetstream::Context,
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
    /// With `acks = "local"`: the background publisher's queue.
    local: OnceLock<mpsc::UnboundedSender<Vec<ReplicaAppend>>>,
    log: OnceLock<EventLog>,
    /// Held while messages are applied to the log (the follower, a promotion).
    applying: tokio::sync::Mutex<()>,
    /// The last log position the full stream is known to hold: the downstream stream never
    /// goes beyond it.
    full_position: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication").field("node", &self.inner.config.node).field("role", &self.role()).finish()
    }
}

/// Where the token store's replication stands.
struct TokensSync {
    /// The SHA-256 of the tokens file last published or applied here.
    known: Option<[u8; 32]>,
    stream: Option<stream::Stream>,
    /// Whether the current trouble has been logged (once, not every pass).
    warned: bool,
}

/// One message to publish: one or more whole appends at consecutive positions.
struct Outgoing {
    first: u64,
    last: u64,
    last_hash: Hash,
    /// The number of events of each append, in order.
    appends: Vec<usize>,
    /// Each append's idempotency key, in order.
    idempotency: Vec<Option<ReplicaIdempotency>>,
    payload: Bytes,
}

/// What a message's headers say.
#[derive(Debug, Clone)]
struct Meta {
    last: u64,
    last_hash: Hash,
    node: String,
}

impl Outgoing {
    /// Its `Nats-Msg-Id`: the last position and hash, so a retry is a duplicate JetStream drops.
    fn id(&self) -> String {
        format!("{}-{}", self.last, self.last_hash)
    }

    /// The message's own headers (JetStream's are added by the publish).
    fn headers(&self, node: &str) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (HEADER_NODE, node.to_owned()),
            (HEADER_FIRST, self.first.to_string()),
            (HEADER_LAST, self.last.to_string()),
            (HEADER_LAST_HASH, self.last_hash.to_string()),
        ];
        if self.appends.len() > 1 {
            let counts: Vec<String> = self.appends.iter().map(ToString::to_string).collect();
            headers.push((HEADER_APPENDS, counts.join(",")));
        }
        if self.idempotency.iter().any(Option::is_some) {
            let keys: Vec<String> = self
                .idempotency
                .iter()
                .map(|key| key.map_or_else(String::new, |k| format!("{}{}", hex::encode(k.key_hash), k.fingerprint)))
                .collect();
            headers.push((HEADER_IDEMPOTENCY, keys.join(",")));
        }
        headers
    }
}

/// What a log holds of the stream message after the last one it agrees with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Nothing of it (or no such message, or events it does not carry).
    None,
    /// Its first whole appends, and nothing after them.
    WholeAppends,
    /// Its first events, ending inside one of its appends.
    PartOfAnAppend,
}

/// Why a publish failed.
enum PublishFail {
    /// The stream's last sequence is not the one expected: someone else published.
    WrongSequence,
    Unavailable(String),
}

/// Why applying messages stopped.
enum ApplyFail {
    /// A message that does not continue this log: the follower stops, named.
    Diverged(String),
    Unavailable(String),
}

/// What the start found.
enum Start {
    Primary,
    /// The log holds appends after the stream's end, where the two agree: publish them.
    Publish {
        after: u64,
    },
    /// The stream holds more, published by this node (an ack that timed out): apply, then primary.
    CatchUpThenPrimary,
    Standby,
    /// The log holds records after `keep` that the stream does not: move them aside.
    Quarantine {
        keep: u64,
    },
    /// The log holds the first records of this node's own next message and no more (a crash
    /// during the local write, after the publish): cut them (moved aside like a quarantine,
    /// though the stream holds them), then catch up with the stream and stay the primary.
    CutThenCatchUp {
        keep: u64,
    },
}

impl Replication {
    /// Connects to NATS and makes sure the stream exists (file storage, `replicas` copies).
    /// `body_limit`: the largest request body the server takes, which bounds the largest
    /// message it publishes ([`largest_message`]).
    pub async fn connect(
        config: &ReplicationConfig,
        data_dir: &Path,
        body_limit: usize,
    ) -> anyhow::Result<Replication> {
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("frontdoor {}", config.node))
            .retry_on_initial_connect()
            // Only the servers the configuration names, never ones a server advertises.
            .ignore_discovered_servers()
            .connection_timeout(Duration::from_secs(2))
            // Replies to this node's requests (the full stream's messages among them) come to
            // inboxes of its own, which the NATS permissions give to frontdoor nodes only.
            .custom_inbox_prefix(NODE_INBOX_PREFIX)
            // A permission the NATS server refuses this node is said in its log, named.
            .event_callback(|event| async move {
                if let async_nats::Event::ServerError(e) = event {
                    tracing::warn!(error = %e, "the NATS server reports an error");
                }
            });
        options = downstream::with_tls(options, config.tls.as_ref());
        options = match &config.auth {
            Auth::None => options,
            Auth::CredentialsFile(path) => options
                .credentials_file(path)
                .await
                .with_context(|| format!("replication.credentials_file: reading {}", path.display()))?,
            Auth::UserPassword { user, password } => options.user_and_password(user.clone(), password.clone()),
        };
        let urls: Vec<async_nats::ServerAddr> =
            config.urls.iter().map(|u| u.parse()).collect::<Result<_, _>>().context("replication.urls")?;
        let client = options.connect(urls).await.context("connecting to NATS (replication.urls)")?;
        let ack_timeout = (config.publish_timeout / 2).max(Duration::from_millis(100));
        let js = jetstream::ContextBuilder::new().timeout(ack_timeout).build(client.clone());
        let replication = Replication {
            inner: Arc::new(Inner {
                config: config.clone(),
                data_dir: data_dir.to_path_buf(),
                js,
                runtime: tokio::runtime::Handle::current(),
                state: Mutex::new(State {
                    role: Role::Starting,
                    last_seq: 0,
                    primary: None,
                    stopped: None,
                    down_until: None,
                    unavailable: None,
                    access_stopped: None,
                }),
                local: OnceLock::new(),
                log: OnceLock::new(),
                applying: tokio::sync::Mutex::new(()),
                full_position: std::sync::atomic::AtomicU64::new(0),
            }),
        };
        replication.ensure_stream().await?;
        // Connected now (the stream was reached): the server has said what it takes.
        let max_payload = client.server_info().max_payload;
        let needed = largest_message(body_limit);
        anyhow::ensure!(
            max_payload >= needed,
            "the NATS server takes messages of at most {max_payload} bytes (its max_payload), and this node may \
             publish messages of up to {needed} bytes with body_limit = {body_limit}: raise max_payload in the NATS \
             servers' configuration to at least {needed}, or lower body_limit"
        );
        replication.ensure_downstream_stream().await?;
        Ok(replication)
    }

    async fn ensure_stream(&self) -> anyhow::Result<()> {
        let config = &self.inner.config;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let made = self
                .inner
                .js
                .get_or_create_stream(stream::Config {
                    name: config.stream.clone(),
                    subjects: vec![config.subject.clone()],
                    storage: stream::StorageType::File,
                    num_replicas: config.replicas,
                    duplicate_window: Duration::from_secs(120),
                    ..Default::default()
                })
                .await;
            match made {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    tracing::warn!(error = %e, stream = %config.stream, "the stream is not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e).with_context(|| format!("the JetStream stream {}", config.stream)),
            }
        }
    }

    /// The options' replicator.
    pub fn replicator(&self) -> Arc<dyn Replicate> {
        Arc::new(self.clone())
    }

    pub fn role(&self) -> Role {
        self.inner.state.lock().map(|s| s.role).unwrap_or(Role::Starting)
    }

    pub fn status(&self) -> ReplicationStatus {
        let state = self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ReplicationStatus {
            role: state.role,
            node: self.inner.config.node.clone(),
            stream: self.inner.config.stream.clone(),
            primary: state.primary.clone(),
            stream_sequence: state.last_seq,
            stopped: state.stopped.clone(),
            unavailable: state.down_until.filter(|t| *t > Instant::now()).and(state.unavailable.clone()),
            access_stopped: state.access_stopped.clone(),
            quarantine: eventlog::replicate::quarantine_files(&self.inner.data_dir)
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        }
    }

    /// The role this node starts as: the data directory's [`ROLE_FILE`], else the config's mode.
    fn wanted(&self) -> Mode {
        match read_role(&self.inner.data_dir) {
            Some(mode) => mode,
            None => self.inner.config.mode,
        }
    }

    fn set(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state);
    }

    fn last_seq(&self) -> u64 {
        self.inner.state.lock().map(|s| s.last_seq).unwrap_or(0)
    }

    /// Compares the log with the stream and settles the node's role: publishes what only the
    /// log holds (a primary whose stream agrees), quarantines what the stream went on
    /// without, follows what it lacks. Returns the log to serve (reopened after a quarantine).
    pub async fn start(&self, mut log: EventLog, options: &Options) -> anyhow::Result<EventLog> {
        for _ in 0..3 {
            let wanted = self.wanted();
            let (start, seq) = self.reconcile(&log, wanted).await?;
            self.set(|s| s.last_seq = seq);
            match start {
                Start::Quarantine { keep } | Start::CutThenCatchUp { keep } => {
                    let stay_primary = matches!(start, Start::CutThenCatchUp { .. });
                    if stay_primary {
                        tracing::warn!(
                            head = log.head().position,
                            keep,
                            "this log holds part of this node's own next stream message (a crash during the local write): \
                             moving it into a quarantine file; this node catches up with the stream and stays the primary"
                        );
                    } else {
                        tracing::warn!(
                            head = log.head().position,
                            keep,
                            "this log holds records the stream does not (written here, never acknowledged by the stream): \
                             moving them into a quarantine file; this node follows the stream"
                        );
                    }
                    let dir = log.dir().to_path_buf();
                    let closing = log;
                    tokio::task::spawn_blocking(move || closing.shutdown()).await?;
                    let path = {
                        let dir = dir.clone();
                        tokio::task::spawn_blocking(move || eventlog::replicate::quarantine_after(&dir, keep))
                            .await?
                            .context("moving records beyond the stream into quarantine")?
                    };
                    if let Some(path) = path {
                        tracing::warn!(quarantine = %path.display(), "quarantine file written (see /readyz)");
                    }
                    if !stay_primary {
                        write_role(&self.inner.data_dir, Mode::Standby)?;
                    }
                    let options = options.clone();
                    log = tokio::task::spawn_blocking(move || EventLog::open_with(&dir, &options))
                        .await?
                        .context("reopening the log after the quarantine")?;
                }
                Start::Publish { after } => {
                    self.publish_history(&log, after).await?;
                    self.become_primary();
                    return self.serve(log);
                }
                Start::Primary => {
                    self.become_primary();
                    return self.serve(log);
                }
                Start::CatchUpThenPrimary => {
                    self.catch_up(&log, None).await.map_err(|e| anyhow::anyhow!(apply_message(&e)))?;
                    self.become_primary();
                    return self.serve(log);
                }
                Start::Standby => {
                    self.set(|s| s.role = Role::Standby);
                    tracing::info!(node = %self.inner.config.node, seq, "standby: following the stream");
                    return self.serve(log);
                }
            }
        }
        anyhow::bail!("the log and the stream could not be brought to agree after a quarantine")
    }

    /// Starts the background tasks (the follower, the promotion watcher, the local-acks
    /// publisher) and hands the log back.
    fn serve(&self, log: EventLog) -> anyhow::Result<EventLog> {
        let _ = self.inner.log.set(log.clone());
        if self.role() == Role::Primary {
            // The log and the stream agree: the stream holds everything the log does.
            self.full_stream_holds(log.head().position);
        }
        if self.inner.config.acks == Acks::Local {
            let (tx, rx) = mpsc::unbounded_channel();
            let _ = self.inner.local.set(tx);
            tokio::spawn(self.clone().publish_in_background(rx));
        }
        if self.role() == Role::Standby {
            tokio::spawn(self.clone().follow(log.clone()));
        }
        tokio::spawn(self.clone().watch_role_file());
        tokio::spawn(self.clone().publish_downstream(log.clone()));
        self.serve_access(&log);
        Ok(log)
    }

    /// The stream of token changes: `<stream>_TOKENS`, subject `<stream>.tokens` in lower case.
    fn tokens_names(&self) -> (String, String) {
        let stream = &self.inner.config.stream;
        (format!("{stream}_TOKENS"), format!("{}.tokens", stream.to_ascii_lowercase()))
    }

    /// Keeps the token store in step with the primary's: the primary publishes its tokens file
    /// (hashes only, never a secret) whenever it changed, whoever changed it (the server or a
    /// `frontdoor token` process); a standby replaces its own with the newest one published.
    /// Each message is the whole file, so a standby that was down needs only the last one: a
    /// standby takes it before this returns (before it is ready), so it never starts serving
    /// with a token the primary revoked while it was down; a primary publishes its own before
    /// this returns.
    pub async fn sync_tokens(&self, store: crate::auth::TokenStore) {
        let mut sync = TokensSync { known: None, stream: None, warned: false };
        // Before the node is ready: a primary publishes its tokens (so a standby started after
        // it finds them), a standby takes the newest.
        if !self.tokens_pass(&store, &mut sync).await && self.role() == Role::Standby {
            tracing::warn!("the standby starts with the tokens it last took from the primary");
        }
        tokio::spawn(self.clone().tokens_loop(store, sync));
    }

    async fn tokens_loop(self, store: crate::auth::TokenStore, mut sync: TokensSync) {
        loop {
            tokio::time::sleep(TOKENS_POLL).await;
            self.tokens_pass(&store, &mut sync).await;
        }
    }

    /// One look at the tokens: publish (primary) or apply (standby). `false` when it failed.
    async fn tokens_pass(&self, store: &crate::auth::TokenStore, sync: &mut TokensSync) -> bool {
        let (name, subject) = self.tokens_names();
        if sync.stream.is_none() {
            let made = self.inner.js.get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                storage: stream::StorageType::File,
                num_replicas: self.inner.config.replicas,
                max_messages_per_subject: 16,
                ..Default::default()
            });
            match tokio::time::timeout(READ_TIMEOUT * 5, made).await {
                Ok(Ok(made)) => sync.stream = Some(made),
                Ok(Err(e)) => return self.tokens_trouble(&mut sync.warned, &format!("the stream {name}: {e}")),
                Err(_) => return self.tokens_trouble(&mut sync.warned, &format!("the stream {name}: no answer")),
            }
        }
        let Some(tokens) = &sync.stream else { return false };
        let done = match self.role() {
            Role::Primary => self.publish_tokens(store, &subject, &mut sync.known).await,
            Role::Standby => self.apply_tokens(store, tokens, &subject, &mut sync.known).await,
            Role::Starting | Role::Promoting => Ok(()),
        };
        match done {
            Ok(()) => {
                sync.warned = false;
                true
            }
            Err(why) => self.tokens_trouble(&mut sync.warned, &why),
        }
    }

    fn tokens_trouble(&self, warned: &mut bool, why: &str) -> bool {
        if !*warned {
            tracing::warn!(%why, "token changes are not replicated for now; retrying");
            *warned = true;
        }
        false
    }

    async fn publish_tokens(
        &self,
        store: &crate::auth::TokenStore,
        subject: &str,
        known: &mut Option<[u8; 32]>,
    ) -> Result<(), String> {
        let marker = self.inner.data_dir.join(TOKENS_FROM_FILE);
        if marker.exists() {
            std::fs::remove_file(&marker).map_err(|e| format!("removing {}: {e}", marker.display()))?;
        }
        let reading = store.clone();
        let bytes = tokio::task::spawn_blocking(move || reading.snapshot())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if *known == Some(digest) {
            return Ok(());
        }
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_NODE, self.inner.config.node.as_str());
        let ack = self
            .inner
            .js
            .publish_with_headers(subject.to_owned(), headers, Bytes::from(bytes))
            .await
            .map_err(|e| format!("publishing the tokens: {e}"))?;
        ack.await.map_err(|e| format!("publishing the tokens: {e}"))?;
        *known = Some(digest);
        tracing::info!(sha256 = %hex::encode(digest), "token changes published to the standbys");
        Ok(())
    }

    async fn apply_tokens(
        &self,
        store: &crate::auth::TokenStore,
        tokens: &stream::Stream,
        subject: &str,
        known: &mut Option<[u8; 32]>,
    ) -> Result<(), String> {
        let message = match tokio::time::timeout(READ_TIMEOUT, tokens.get_last_raw_message_by_subject(subject)).await {
            Ok(Ok(message)) => message,
            Ok(Err(e)) if matches!(e.kind(), stream::LastRawMessageErrorKind::NoMessageFound) => return Ok(()),
            Ok(Err(e)) => return Err(format!("reading the tokens: {e}")),
            Err(_) => return Err(format!("reading the tokens: no answer within {READ_TIMEOUT:?}")),
        };
        let digest: [u8; 32] = Sha256::digest(&message.payload).into();
        if *known == Some(digest) {
            return Ok(());
        }
        let from = header(&message.headers, HEADER_NODE).unwrap_or("the primary").to_owned();
        let writing = store.clone();
        let payload = message.payload.clone();
        let changed = tokio::task::spawn_blocking(move || writing.replace_with(&payload))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("applying the primary's tokens: {e}"))?;
        let marker = self.inner.data_dir.join(TOKENS_FROM_FILE);
        std::fs::write(&marker, format!("{from}\n")).map_err(|e| format!("writing {}: {e}", marker.display()))?;
        *known = Some(digest);
        if changed {
            tracing::info!(primary = %from, sha256 = %hex::encode(digest), "tokens replaced with the primary's");
        }
        Ok(())
    }

    fn become_primary(&self) {
        if let Some(log) = self.inner.log.get() {
            self.full_stream_holds(log.head().position);
        }
        self.set(|s| {
            s.role = Role::Primary;
            s.primary = Some(self.inner.config.node.clone());
            s.stopped = None;
        });
        let seq = self.last_seq();
        let promoted = self.inner.data_dir.join(PROMOTED_FILE);
        if let Err(e) = std::fs::write(&promoted, format!("primary {seq}\n")) {
            tracing::warn!(error = %e, file = %promoted.display(), "could not write the promotion marker");
        }
        tracing::info!(node = %self.inner.config.node, seq, "primary: taking writes");
    }

    async fn stream(&self) -> Result<stream::Stream<()>, String> {
        self.inner.js.get_stream_no_info(&self.inner.config.stream).await.map_err(|e| e.to_string())
    }

    async fn stream_last(&self) -> anyhow::Result<u64> {
        let mut stream = self.inner.js.get_stream(&self.inner.config.stream).await.context("the stream's info")?;
        Ok(stream.info().await.context("the stream's info")?.state.last_sequence)
    }

    async fn meta(&self, stream: &stream::Stream<()>, seq: u64) -> anyhow::Result<Meta> {
        let message = stream.get_raw_message(seq).await.with_context(|| format!("reading stream message {seq}"))?;
        meta_of(&message.headers).with_context(|| format!("stream message {seq}"))
    }

    /// Whether the log holds message `seq`'s last event with the same hash (and so, by the
    /// chain, everything before it).
    async fn agrees(&self, log: &EventLog, stream: &stream::Stream<()>, seq: u64) -> anyhow::Result<bool> {
        if seq == 0 {
            return Ok(true);
        }
        let meta = self.meta(stream, seq).await?;
        Ok(meta.last <= log.head().position && log.get(meta.last)?.is_some_and(|env| env.hash == meta.last_hash))
    }

    async fn reconcile(&self, log: &EventLog, wanted: Mode) -> anyhow::Result<(Start, u64)> {
        let last = self.stream_last().await?;
        let stream = self.stream().await.map_err(|e| anyhow::anyhow!(e))?;
        // The last message the log agrees with: agreement holds up to a point, then never again.
        let (mut lo, mut hi) = (0, last);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.agrees(log, &stream, mid).await? {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let agreed = lo;
        let agreed_position = if agreed == 0 { 0 } else { self.meta(&stream, agreed).await?.last };
        let newest = if last == 0 { None } else { Some(self.meta(&stream, last).await?) };
        self.set(|s| s.primary = newest.as_ref().map(|m| m.node.clone()));
        let head = log.head().position;
        let own_newest = newest.as_ref().is_some_and(|m| m.node == self.inner.config.node);
        // Beyond the last message it agrees with, the log may hold the first events of the
        // next one (a crash while a group or a standby's batch was written): its first whole
        // appends agree with the stream (following skips them); part of an append does not.
        let tail = if agreed_position < head && agreed < last {
            self.next_message_tail(log, &stream, agreed + 1, agreed_position).await?
        } else {
            Tail::None
        };
        let start = if agreed_position < head && tail != Tail::WholeAppends {
            if agreed == last && wanted == Mode::Primary {
                Start::Publish { after: agreed_position }
            } else if agreed < last && wanted == Mode::Primary && own_newest && tail == Tail::PartOfAnAppend {
                Start::CutThenCatchUp { keep: agreed_position }
            } else {
                Start::Quarantine { keep: agreed_position }
            }
        } else if agreed < last {
            match (&newest, wanted) {
                (Some(meta), Mode::Primary) if meta.node == self.inner.config.node => Start::CatchUpThenPrimary,
                (Some(meta), Mode::Primary) => {
                    tracing::error!(
                        primary = %meta.node,
                        "not the primary: {} has published since this log's end; this node follows the stream",
                        meta.node
                    );
                    write_role(&self.inner.data_dir, Mode::Standby)?;
                    Start::Standby
                }
                _ => Start::Standby,
            }
        } else if wanted == Mode::Primary {
            Start::Primary
        } else {
            Start::Standby
        };
        tracing::info!(stream_last = last, agreed, agreed_position, head, "compared the log with the stream");
        Ok((start, agreed))
    }

    /// Whether stream message `seq` carries every event this log holds after `keep` (the same
    /// positions and hashes), and whether those end where one of its appends ends: the log then
    /// holds the first part of that message only, as a crash during a local write leaves it
    /// (a primary's group published first, or a standby's batch).
    async fn next_message_tail(
        &self,
        log: &EventLog,
        stream: &stream::Stream<()>,
        seq: u64,
        keep: u64,
    ) -> anyhow::Result<Tail> {
        let message = stream.get_raw_message(seq).await.with_context(|| format!("reading stream message {seq}"))?;
        let Ok(appends) = decode(&message) else { return Ok(Tail::None) };
        let carried: Vec<&Envelope> = appends.iter().flat_map(|a| &a.envelopes).collect();
        let extra = log.head().position.saturating_sub(keep);
        if extra == 0 || extra >= carried.len() as u64 {
            return Ok(Tail::None);
        }
        let tail = log.read_all(keep, carried.len())?;
        let same = tail.len() as u64 == extra
            && tail
                .iter()
                .zip(carried)
                .all(|(ours, theirs)| ours.position == theirs.position && ours.hash == theirs.hash);
        if !same {
            return Ok(Tail::None);
        }
        let mut ends = 0u64;
        for append in &appends {
            ends += append.envelopes.len() as u64;
            if ends == extra {
                return Ok(Tail::WholeAppends);
            }
        }
        Ok(Tail::PartOfAnAppend)
    }

    /// Publishes the log's events after `after` (a log that held events before replication
    /// was enabled, or a group written just before a crash), then checks the stream's last
    /// message against the log's head.
    async fn publish_history(&self, log: &EventLog, after: u64) -> anyhow::Result<()> {
        let head = log.head().position;
        tracing::info!(from = after + 1, to = head, "publishing what the log holds beyond the stream");
        let mut position = after;
        while position < head {
            let page = log.read_all(position, 4096)?;
            let Some(last) = page.last() else { break };
            position = last.position;
            let appends = history_appends(page);
            for chunk in appends.chunks(BATCH) {
                let outgoing = messages_for(chunk)?;
                let seq = self.last_seq();
                match self.publish(&outgoing, seq, None).await {
                    Ok(seq) => self.set(|s| s.last_seq = seq),
                    Err(PublishFail::WrongSequence) => {
                        anyhow::bail!("not the primary: another node published while this one published its history")
                    }
                    Err(PublishFail::Unavailable(why)) => anyhow::bail!("publishing the log's history: {why}"),
                }
            }
        }
        let stream = self.stream().await.map_err(|e| anyhow::anyhow!(e))?;
        let seq = self.last_seq();
        if seq > 0 {
            let meta = self.meta(&stream, seq).await?;
            let local = log.head();
            anyhow::ensure!(
                meta.last == local.position && meta.last_hash == local.hash,
                "the stream's last message (position {}, hash {}) is not the log's head (position {}, hash {})",
                meta.last,
                meta.last_hash,
                local.position,
                local.hash
            );
        }
        tracing::info!(events = head - after, seq, "the stream holds the whole log");
        Ok(())
    }

    /// Publishes `messages` in order after stream sequence `after`, pipelined, each with its
    /// expected last sequence; retries what timed out (the message ids make a retry of a
    /// message already stored a duplicate, not a second copy) until `deadline`. Returns the
    /// last message's sequence.
    async fn publish(&self, messages: &[Outgoing], after: u64, deadline: Option<Instant>) -> Result<u64, PublishFail> {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.inner.config.publish_timeout);
        loop {
            match self.try_publish(messages, after).await {
                Ok(seq) => return Ok(seq),
                Err(PublishFail::WrongSequence) => return Err(PublishFail::WrongSequence),
                Err(PublishFail::Unavailable(why)) => {
                    if Instant::now() >= deadline {
                        return Err(PublishFail::Unavailable(why));
                    }
                    tracing::debug!(%why, "publish failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn try_publish(&self, messages: &[Outgoing], after: u64) -> Result<u64, PublishFail> {
        let acks = self.send_all(messages, after).await?;
        await_acks(acks, after).await
    }

    /// Sends `messages` in order after stream sequence `after`, each with its expected last
    /// sequence, without waiting for their acknowledgements.
    async fn send_all(&self, messages: &[Outgoing], after: u64) -> Result<Vec<PublishAck>, PublishFail> {
        let config = &self.inner.config;
        let mut acks = Vec::with_capacity(messages.len());
        for (n, message) in (1u64..).zip(messages) {
            let mut publish = jetstream::message::PublishMessage::build()
                .payload(message.payload.clone())
                .message_id(message.id())
                .expected_last_sequence(after + n - 1);
            for (name, value) in message.headers(&config.node) {
                publish = publish.header(name, value.as_str());
            }
            let ack =
                self.inner.js.send_publish(config.subject.clone(), publish).await.map_err(|e| publish_fail(&e))?;
            acks.push((after + n, ack));
        }
        Ok(acks)
    }

    /// The node that published the stream's newest message. Read from the stream's leader
    /// alone (the last message on the subject), not from the cluster's metadata leader, which
    /// may still be being elected when a NATS node has just come back. `Err` when the stream
    /// cannot be read now.
    async fn newest_publisher(&self) -> Result<String, String> {
        let stream = self.stream().await?;
        let last = stream.get_last_raw_message_by_subject(&self.inner.config.subject);
        let message = match tokio::time::timeout(READ_TIMEOUT, last).await {
            Ok(Ok(message)) => message,
            Ok(Err(e)) => return Err(format!("reading the stream's newest message: {e}")),
            Err(_) => return Err(format!("no answer from the stream within {READ_TIMEOUT:?}")),
        };
        Ok(header(&message.headers, HEADER_NODE).unwrap_or("a publisher that does not name itself").to_owned())
    }

    /// The stream refused this node's publish as out of sequence: someone published after this
    /// node's last message. Find out who, and stand down (or, when it was this node's own
    /// publish that timed out, catch up with it). Until the stream says who, nothing is
    /// concluded: the write is refused as unavailable and the next one asks again. (Standing
    /// down on a guess turned a primary into a standby for good when its own publish, taken
    /// by a leader that had lost its quorum, was committed as a NATS node came back while the
    /// cluster was still electing its metadata leader.)
    fn fenced(&self) -> ReplicateError {
        let node = self.inner.config.node.clone();
        let newest = self.inner.runtime.block_on(self.newest_publisher());
        match newest {
            Err(why) => {
                let why = format!(
                    "the stream has a message after this node's last, and who published it cannot be read now: {why}"
                );
                tracing::warn!(%why, "writes wait until the stream says who published last");
                self.set(|s| {
                    s.down_until = Some(Instant::now() + Duration::from_millis(500));
                    s.unavailable = Some(why.clone());
                });
                ReplicateError::Unavailable(why)
            }
            Ok(newest) if newest == node => {
                tracing::warn!("the stream holds this node's own publish that timed out; catching up with it");
                self.set(|s| s.role = Role::Promoting);
                let this = self.clone();
                self.inner.runtime.spawn(async move {
                    if let Err(e) = this.promote().await {
                        // Still the primary, behind the stream by its own publish: the next
                        // write is refused by the stream again and the catching up retried.
                        tracing::error!(error = %format!("{e:#}"), "catching up with this node's own publish failed; retried at the next write");
                        this.set(|s| s.role = Role::Primary);
                    }
                });
                ReplicateError::Unavailable("catching up with the stream; retry shortly".into())
            }
            Ok(primary) => {
                tracing::error!(
                    %primary,
                    "not the primary: the stream refused this node's publish ({primary} has published); \
                     writes stop here and this node follows the stream"
                );
                if let Err(e) = write_role(&self.inner.data_dir, Mode::Standby) {
                    tracing::error!(error = %e, "could not record the standby role in the data directory");
                }
                self.set(|s| {
                    s.role = Role::Standby;
                    s.primary = Some(primary.clone());
                });
                if let Some(log) = self.inner.log.get() {
                    self.inner.runtime.spawn(self.clone().follow(log.clone()));
                }
                ReplicateError::NotPrimary(format!("the primary is {primary}"))
            }
        }
    }

    /// `acks = "local"`: publishes the queued groups in order, retrying until the stream
    /// takes them. It runs as long as the node does: a node that stands down drops what it
    /// holds (its log keeps it; the start moves it into quarantine) and publishes again once
    /// it is the primary again.
    async fn publish_in_background(self, mut queue: mpsc::UnboundedReceiver<Vec<ReplicaAppend>>) {
        while let Some(appends) = queue.recv().await {
            let mut outgoing: Vec<Outgoing> = match messages_for(&appends) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "an append could not be encoded for the stream");
                    continue;
                }
            };
            loop {
                match self.role() {
                    Role::Primary => {}
                    // Never published by a node that is not the primary: another one owns the
                    // stream's sequence now.
                    Role::Standby => {
                        tracing::error!(
                            from = outgoing.first().map_or(0, |o| o.first),
                            "not the primary: a group acknowledged here stays unpublished (held in the log, moved into quarantine at the next start)"
                        );
                        break;
                    }
                    Role::Starting | Role::Promoting => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
                let after = self.last_seq();
                match self.publish(&outgoing, after, None).await {
                    Ok(seq) => {
                        self.set(|s| {
                            s.last_seq = seq;
                            s.unavailable = None;
                        });
                        self.full_stream_holds(outgoing.last().map_or(0, |o| o.last));
                        break;
                    }
                    Err(PublishFail::WrongSequence) => {
                        // The stream may hold this node's own messages already (taken, their
                        // acknowledgement lost): the log holds them too, so only the rest is
                        // published.
                        match self.published_already(&outgoing).await {
                            Ok(Some(taken)) => {
                                tracing::warn!(
                                    messages = taken,
                                    seq = self.last_seq(),
                                    "the stream holds this node's own publish whose acknowledgement was lost; publishing goes on after it"
                                );
                                outgoing.drain(..taken);
                                if outgoing.is_empty() {
                                    break;
                                }
                                continue;
                            }
                            Ok(None) => {}
                            Err(why) => {
                                tracing::warn!(%why, "the stream refused the expected sequence and cannot be read now; retrying");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                continue;
                            }
                        }
                        let err = tokio::task::block_in_place(|| self.fenced());
                        if self.role() == Role::Primary {
                            // Who published last could not be read: ask again shortly.
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        } else {
                            // Standing down (the next pass drops the group) or catching up
                            // (the next pass waits for it): never the end of publishing.
                            tracing::warn!(error = %err, "the stream refused this node's publish");
                        }
                    }
                    Err(PublishFail::Unavailable(why)) => {
                        tracing::warn!(%why, "the stream is unavailable; the local acks' backlog waits");
                        self.set(|s| s.unavailable = Some(why));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }

    /// `acks = "local"`, a publish refused as out of sequence: whether the stream's newest
    /// message is this node's own and this log holds it (the same last event and hash), i.e.
    /// the stream took some of `outgoing` (or a group before it) and the acknowledgement was
    /// lost. If so, the node's last sequence becomes the stream's and the number of `outgoing`
    /// messages the stream holds is returned. `None`: someone else's message, or one this log
    /// does not hold ([`Replication::fenced`] finds out).
    async fn published_already(&self, outgoing: &[Outgoing]) -> Result<Option<usize>, String> {
        let Some(log) = self.inner.log.get() else { return Ok(None) };
        let last = match tokio::time::timeout(READ_TIMEOUT, self.stream_last()).await {
            Ok(Ok(last)) => last,
            Ok(Err(e)) => return Err(format!("{e:#}")),
            Err(_) => return Err(format!("no answer from the stream within {READ_TIMEOUT:?}")),
        };
        if last <= self.last_seq() {
            return Ok(None);
        }
        let stream = self.stream().await?;
        let meta = match tokio::time::timeout(READ_TIMEOUT, self.meta(&stream, last)).await {
            Ok(Ok(meta)) => meta,
            Ok(Err(e)) => return Err(format!("{e:#}")),
            Err(_) => return Err(format!("no answer from the stream within {READ_TIMEOUT:?}")),
        };
        let first = outgoing.first().map_or(0, |o| o.first);
        if meta.node != self.inner.config.node || meta.last + 1 < first {
            return Ok(None);
        }
        let holds = meta.last <= log.head().position
            && log.get(meta.last).map_err(|e| e.to_string())?.is_some_and(|env| env.hash == meta.last_hash);
        if !holds {
            return Ok(None);
        }
        self.set(|s| {
            s.last_seq = last;
            s.unavailable = None;
        });
        self.full_stream_holds(meta.last);
        Ok(Some(outgoing.iter().take_while(|o| o.last <= meta.last).count()))
    }

    /// A standby: applies new messages as they come, until promoted or stopped.
    async fn follow(self, log: EventLog) {
        loop {
            if self.role() != Role::Standby {
                return;
            }
            match self.catch_up(&log, None).await {
                Ok(0) => tokio::time::sleep(FOLLOW_IDLE).await,
                Ok(_) => {}
                Err(ApplyFail::Diverged(why)) => {
                    tracing::error!(%why, "the standby stopped following the stream: a record does not continue its chain");
                    self.set(|s| s.stopped = Some(why));
                    return;
                }
                Err(ApplyFail::Unavailable(why)) => {
                    tracing::warn!(%why, "the stream is unavailable; following resumes when it is back");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Applies the stream's messages after this node's last one, up to `until` (or the end).
    async fn catch_up(&self, log: &EventLog, until: Option<u64>) -> Result<u64, ApplyFail> {
        let _applying = self.inner.applying.lock().await;
        let stream = self.stream().await.map_err(ApplyFail::Unavailable)?;
        let mut applied = 0;
        loop {
            let from = self.last_seq();
            if until.is_some_and(|u| from >= u) {
                return Ok(applied);
            }
            // The next message alone first (an idle standby's passes mostly find none), then
            // the rest of what the stream holds, up to a batch, asked for all at once.
            let Some(first) = fetch(&stream, from + 1).await.map_err(ApplyFail::Unavailable)? else {
                return Ok(applied);
            };
            let mut messages = vec![first];
            let last = match tokio::time::timeout(READ_TIMEOUT, self.stream_last()).await {
                Ok(Ok(last)) => until.map_or(last, |u| u.min(last)),
                _ => from + 1,
            };
            let more = usize::try_from(last.saturating_sub(from + 1)).unwrap_or(BATCH).min(BATCH - 1);
            let mut reads = tokio::task::JoinSet::new();
            for k in 2..=more as u64 + 1 {
                let stream = stream.clone();
                reads.spawn(async move { (k, fetch(&stream, from + k).await) });
            }
            let mut fetched: Vec<Option<jetstream::message::StreamMessage>> = vec![None; more];
            while let Some(joined) = reads.join_next().await {
                if let Ok((k, Ok(Some(message)))) = joined {
                    fetched[usize::try_from(k - 2).unwrap_or(0)] = Some(message);
                }
            }
            // In order, up to the first that could not be read (it is asked for again next pass).
            messages.extend(fetched.into_iter().map_while(|m| m));
            let mut batch = Vec::with_capacity(messages.len());
            let mut newest = None;
            let mut seq = from;
            let held = log.head().position;
            for message in &messages {
                let appends =
                    decode(message).map_err(|e| ApplyFail::Diverged(format!("stream message {}: {e:#}", seq + 1)))?;
                newest = meta_of(&message.headers).ok().map(|m| m.node);
                for append in appends {
                    // Appends the log already holds (written before a crash that came before
                    // the message's last append): the same hash, or the log does not follow.
                    if let (Some(first), Some(last)) = (append.envelopes.first(), append.envelopes.last())
                        && first.position <= held
                    {
                        let ours = if last.position > held {
                            None
                        } else {
                            log.get(last.position).map_err(|e| ApplyFail::Unavailable(e.to_string()))?
                        };
                        if ours.is_none_or(|env| env.hash != last.hash) {
                            return Err(ApplyFail::Diverged(format!(
                                "stream message {}: the log holds position {} otherwise, or part of its append",
                                seq + 1,
                                last.position
                            )));
                        }
                        continue;
                    }
                    batch.push(append);
                }
                seq += 1;
            }
            let count = seq - from;
            if count == 0 {
                return Ok(applied);
            }
            match log.append_replicas(batch).await {
                Ok(_) => {}
                Err(AppendError::Diverged(why)) => {
                    return Err(ApplyFail::Diverged(format!("stream messages {}..={seq}: {why}", from + 1)));
                }
                Err(e) => return Err(ApplyFail::Diverged(format!("stream messages {}..={seq}: {e}", from + 1))),
            }
            applied += count;
            self.set(|s| {
                s.last_seq = seq;
                if newest.is_some() {
                    s.primary = newest;
                }
            });
        }
    }

    /// Catches up to the stream's last sequence and takes writes from the next position.
    pub async fn promote(&self) -> anyhow::Result<()> {
        let log = self.inner.log.get().cloned().context("the log is not open yet")?;
        self.set(|s| s.role = Role::Promoting);
        // The stream may be between leaders (a NATS node just restarted): wait for it.
        let deadline = Instant::now() + PROMOTE_WAIT;
        let last = loop {
            let caught = match self.stream_last().await {
                Ok(last) => match self.catch_up(&log, Some(last)).await {
                    Ok(_) if self.last_seq() == last => Ok(last),
                    Ok(_) => Err(format!("caught up to {} of {last}", self.last_seq())),
                    Err(ApplyFail::Diverged(why)) => anyhow::bail!("a stream record does not continue this log: {why}"),
                    Err(ApplyFail::Unavailable(why)) => Err(why),
                },
                Err(e) => Err(format!("{e:#}")),
            };
            match caught {
                Ok(last) => break last,
                Err(why) if Instant::now() < deadline => {
                    tracing::warn!(%why, "promotion waits for the stream");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(why) => anyhow::bail!("the stream stayed unavailable: {why}"),
            }
        };
        write_role(&self.inner.data_dir, Mode::Primary)?;
        self.become_primary();
        tracing::info!(seq = last, head = log.head().position, "promoted: taking writes from the next position");
        Ok(())
    }

    /// Promotes this node if it is a standby: catches up to the stream's last sequence and
    /// takes writes from the next position. What `frontdoor promote` (through the role file)
    /// and `POST /v1/admin/promote` both do. One promotion at a time: a node that is not a
    /// standby (a primary, or one already promoting) is refused, unchanged. A promotion that
    /// fails leaves the node a standby, following the stream again.
    pub async fn promote_standby(&self, asked_by: &str) -> Result<Promoted, PromoteError> {
        let claimed = {
            let mut state = self.inner.state.lock().map_err(|_| PromoteError::Failed("poisoned".into()))?;
            let role = state.role;
            if role == Role::Standby {
                state.role = Role::Promoting;
            }
            role
        };
        if claimed != Role::Standby {
            let what = match claimed {
                Role::Primary => "already the primary",
                Role::Promoting => "already being promoted",
                Role::Starting | Role::Standby => "still comparing its log with the stream",
            };
            return Err(PromoteError::NotStandby(format!("{} is not a standby: it is {what}", self.inner.config.node)));
        }
        tracing::info!(%asked_by, "promotion asked for: catching up with the stream");
        match self.promote().await {
            Ok(()) => {
                let head = self.inner.log.get().map(EventLog::head).unwrap_or_default();
                Ok(Promoted {
                    node: self.inner.config.node.clone(),
                    stream_sequence: self.last_seq(),
                    log_position: head.position,
                    head_hash: head.hash.to_string(),
                })
            }
            Err(e) => {
                let why = format!("{e:#}");
                tracing::error!(%why, "promotion failed; still a standby");
                self.set(|s| s.role = Role::Standby);
                let _ = write_role(&self.inner.data_dir, Mode::Standby);
                if let Some(log) = self.inner.log.get() {
                    tokio::spawn(self.clone().follow(log.clone()));
                }
                Err(PromoteError::Failed(why))
            }
        }
    }

    /// A standby promotes itself when its data directory's role file says `primary`.
    async fn watch_role_file(self) {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if self.role() == Role::Standby && read_role(&self.inner.data_dir) == Some(Mode::Primary) {
                // A refusal means a promotion is already under way (or done): nothing to do.
                let _ = self.promote_standby("the role file (frontdoor promote)").await;
            }
        }
    }
}

/// A promotion done: where the new primary's log and the stream stand.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Promoted {
    /// The node now the primary.
    pub node: String,
    /// The stream's last sequence, which this node has caught up to.
    pub stream_sequence: u64,
    /// The position of the last event in this node's log: the next write takes the one after.
    pub log_position: u64,
    /// The hash of that event (64 zeros for an empty log): the next write's `prev_hash`.
    pub head_hash: String,
}

/// Why a promotion did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// The node is not a standby (a primary, or one already being promoted): unchanged.
    #[error("{0}")]
    NotStandby(String),
    /// Catching up failed (the stream stayed unreachable, or a record does not continue this
    /// log): the node is still a standby.
    #[error("{0}")]
    Failed(String),
}

impl Replicate for Replication {
    fn admit(&self) -> Result<(), ReplicateError> {
        let state = self.inner.state.lock().map_err(|_| ReplicateError::Unavailable("poisoned".into()))?;
        match state.role {
            Role::Primary => match (state.down_until, &state.unavailable) {
                (Some(until), Some(why)) if until > Instant::now() && self.inner.config.acks == Acks::Replicated => {
                    Err(ReplicateError::Unavailable(why.clone()))
                }
                _ => Ok(()),
            },
            Role::Standby => Err(ReplicateError::NotPrimary(format!(
                "the primary is {}",
                state.primary.as_deref().unwrap_or("not known to this node")
            ))),
            Role::Starting | Role::Promoting => {
                Err(ReplicateError::Unavailable("this node is catching up with the stream; retry shortly".into()))
            }
        }
    }

    fn replicate(&self, appends: &[ReplicaAppend]) -> Result<(), ReplicateError> {
        if let Some(local) = self.inner.local.get() {
            return local
                .send(appends.to_vec())
                .map_err(|_| ReplicateError::Unavailable("the background publisher stopped".into()));
        }
        self.begin(appends)()
    }

    /// `acks = "replicated"`: the group's messages are sent now, before the local write and
    /// `fdatasync`, and their acknowledgements awaited in the returned call, once the group is
    /// durable locally (retrying what timed out, as [`Replication::publish`] does, until the
    /// publish timeout from now). Dropped uncalled (the local write failed), the stream may
    /// hold the group and this node's last sequence does not count it: the next publish is
    /// refused as out of sequence, the stream's newest message is found to be this node's, and
    /// the node catches up with it ([`Replication::fenced`]), as after a publish that timed out
    /// or a crash between the publish and the local `fdatasync`. `acks = "local"`: nothing is
    /// sent early; the group is queued once it is durable.
    fn begin<'a>(&'a self, appends: &'a [ReplicaAppend]) -> Replicating<'a> {
        if self.inner.local.get().is_some() {
            return Box::new(move || self.replicate(appends));
        }
        let outgoing: Result<Vec<Outgoing>, ReplicateError> =
            messages_for(appends).map_err(|e| ReplicateError::Unavailable(e.to_string()));
        let after = self.last_seq();
        let deadline = Instant::now() + self.inner.config.publish_timeout;
        let sent = match &outgoing {
            Ok(outgoing) => Some(self.inner.runtime.block_on(self.send_all(outgoing, after))),
            Err(_) => None,
        };
        Box::new(move || {
            let outgoing = outgoing?;
            let published = self.inner.runtime.block_on(async {
                match sent {
                    Some(Ok(acks)) => match await_acks(acks, after).await {
                        Err(PublishFail::Unavailable(why)) if Instant::now() >= deadline => {
                            return Err(PublishFail::Unavailable(why));
                        }
                        Err(PublishFail::Unavailable(why)) => tracing::debug!(%why, "publish failed; retrying"),
                        done => return done,
                    },
                    Some(Err(PublishFail::WrongSequence)) => return Err(PublishFail::WrongSequence),
                    Some(Err(PublishFail::Unavailable(why))) => tracing::debug!(%why, "publish failed; retrying"),
                    None => {}
                }
                self.publish(&outgoing, after, Some(deadline)).await
            });
            self.settle(published, &outgoing)
        })
    }
}

impl Replication {
    /// What a group's publish comes to: the node's last sequence moves on, or writes are
    /// refused for a moment (the stream is unavailable), or the node finds out who published
    /// instead ([`Replication::fenced`]).
    fn settle(&self, published: Result<u64, PublishFail>, outgoing: &[Outgoing]) -> Result<(), ReplicateError> {
        match published {
            Ok(seq) => {
                self.set(|s| {
                    s.last_seq = seq;
                    s.down_until = None;
                    s.unavailable = None;
                });
                self.full_stream_holds(outgoing.last().map_or(0, |o| o.last));
                Ok(())
            }
            Err(PublishFail::WrongSequence) => Err(self.fenced()),
            Err(PublishFail::Unavailable(why)) => {
                tracing::warn!(%why, "the stream did not take a group: writes are refused until it does");
                self.set(|s| {
                    // Refuse at once for a moment, then try the stream again.
                    s.down_until = Some(Instant::now() + Duration::from_millis(500));
                    s.unavailable = Some(why.clone());
                });
                Err(ReplicateError::Unavailable(why))
            }
        }
    }
}

/// One stream message (`None`: there is none at `seq` yet). A stream without a leader (just
/// created, or electing one) does not answer: the request is given up after [`READ_TIMEOUT`]
/// and asked again later, rather than waited for.
async fn fetch(stream: &stream::Stream<()>, seq: u64) -> Result<Option<jetstream::message::StreamMessage>, String> {
    match tokio::time::timeout(READ_TIMEOUT, stream.get_raw_message(seq)).await {
        Ok(Ok(message)) => Ok(Some(message)),
        Ok(Err(e)) if matches!(e.kind(), stream::LastRawMessageErrorKind::NoMessageFound) => Ok(None),
        Ok(Err(e)) => Err(format!("reading stream message {seq}: {e}")),
        Err(_) => Err(format!("no answer from the stream within {READ_TIMEOUT:?} (message {seq})")),
    }
}

/// A message sent: the stream sequence it must be stored at, and its acknowledgement to come.
type PublishAck = (u64, jetstream::context::PublishAckFuture);

/// Waits for the acknowledgements of messages sent after stream sequence `after`, in order;
/// returns the last one's sequence.
async fn await_acks(acks: Vec<PublishAck>, after: u64) -> Result<u64, PublishFail> {
    let mut last = after;
    for (expected, ack) in acks {
        let ack = ack.await.map_err(|e| publish_fail(&e))?;
        if ack.sequence != expected {
            return Err(PublishFail::WrongSequence);
        }
        last = ack.sequence;
    }
    Ok(last)
}

fn publish_fail(e: &jetstream::context::PublishError) -> PublishFail {
    match e.kind() {
        PublishErrorKind::WrongLastSequence => PublishFail::WrongSequence,
        _ => PublishFail::Unavailable(e.to_string()),
    }
}

fn apply_message(e: &ApplyFail) -> String {
    match e {
        ApplyFail::Diverged(why) => format!("a stream record does not continue this log: {why}"),
        ApplyFail::Unavailable(why) => format!("the stream is unavailable: {why}"),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> anyhow::Result<&'a str> {
    headers.get(name).map(HeaderValue::as_str).with_context(|| format!("header {name} missing"))
}

fn parse_hash(text: &str) -> anyhow::Result<Hash> {
    let bytes: [u8; 32] =
        hex::decode(text).ok().and_then(|b| b.try_into().ok()).with_context(|| format!("{text:?} is not a hash"))?;
    Ok(Hash(bytes))
}

fn meta_of(headers: &HeaderMap) -> anyhow::Result<Meta> {
    Ok(Meta {
        last: header(headers, HEADER_LAST)?.parse().context(HEADER_LAST)?,
        last_hash: parse_hash(header(headers, HEADER_LAST_HASH)?)?,
        node: header(headers, HEADER_NODE)?.to_owned(),
    })
}

/// The messages that carry `appends` (in position order): consecutive appends together, up to
/// [`MESSAGE_BYTES`] of payload and [`MESSAGE_APPENDS`] appends a message, each append whole in
/// one message.
fn messages_for(appends: &[ReplicaAppend]) -> anyhow::Result<Vec<Outgoing>> {
    let mut out: Vec<Outgoing> = Vec::new();
    let mut payload: Vec<u8> = Vec::new();
    let mut current: Option<Outgoing> = None;
    for append in appends {
        let (Some(first), Some(last)) = (append.envelopes.first(), append.envelopes.last()) else {
            anyhow::bail!("an empty append");
        };
        let mut lines = Vec::with_capacity(append.envelopes.len() * 768);
        for env in &append.envelopes {
            serde_json::to_writer(&mut lines, env)?;
            lines.push(b'\n');
        }
        if let Some(open) = &current
            && (payload.len() + lines.len() > MESSAGE_BYTES
                || open.appends.len() >= MESSAGE_APPENDS
                || open.last + 1 != first.position)
        {
            let mut done = current.take().context("a message")?;
            done.payload = std::mem::take(&mut payload).into();
            out.push(done);
        }
        let message = current.get_or_insert_with(|| Outgoing {
            first: first.position,
            last: 0,
            last_hash: last.hash,
            appends: Vec::new(),
            idempotency: Vec::new(),
            payload: Bytes::new(),
        });
        message.last = last.position;
        message.last_hash = last.hash;
        message.appends.push(append.envelopes.len());
        message.idempotency.push(append.idempotency);
        payload.extend_from_slice(&lines);
    }
    if let Some(mut done) = current {
        done.payload = payload.into();
        out.push(done);
    }
    Ok(out)
}

/// A stream message as the appends it carries.
fn decode(message: &jetstream::message::StreamMessage) -> anyhow::Result<Vec<ReplicaAppend>> {
    decode_parts(&message.headers, &message.payload)
}

fn decode_parts(headers: &HeaderMap, payload: &[u8]) -> anyhow::Result<Vec<ReplicaAppend>> {
    let mut envelopes = Vec::new();
    for line in payload.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        envelopes.push(serde_json::from_slice::<Envelope>(line).context("an event that is not an envelope")?);
    }
    let meta = meta_of(headers)?;
    let last = envelopes.last().context("no events")?;
    anyhow::ensure!(
        last.position == meta.last && last.hash == meta.last_hash,
        "its headers do not describe its events"
    );
    let counts: Vec<usize> = match headers.get(HEADER_APPENDS) {
        None => vec![envelopes.len()],
        Some(value) => value
            .as_str()
            .split(',')
            .map(|n| n.trim().parse::<usize>().ok().filter(|n| *n > 0))
            .collect::<Option<_>>()
            .with_context(|| format!("{HEADER_APPENDS}: not a list of event counts"))?,
    };
    anyhow::ensure!(
        counts.iter().sum::<usize>() == envelopes.len(),
        "{HEADER_APPENDS} counts {} events, the message carries {}",
        counts.iter().sum::<usize>(),
        envelopes.len()
    );
    let keys: Vec<Option<ReplicaIdempotency>> = match headers.get(HEADER_IDEMPOTENCY) {
        None => vec![None; counts.len()],
        Some(value) => value.as_str().split(',').map(idempotency_of).collect::<anyhow::Result<_>>()?,
    };
    anyhow::ensure!(
        keys.len() == counts.len(),
        "{HEADER_IDEMPOTENCY} names {} appends, the message carries {}",
        keys.len(),
        counts.len()
    );
    let mut rest = envelopes.into_iter();
    Ok(counts
        .into_iter()
        .zip(keys)
        .map(|(count, idempotency)| ReplicaAppend { envelopes: rest.by_ref().take(count).collect(), idempotency })
        .collect())
}

/// One append's entry in [`HEADER_IDEMPOTENCY`]: empty (no key), or the key's SHA-256 and the
/// request's fingerprint in hex.
fn idempotency_of(text: &str) -> anyhow::Result<Option<ReplicaIdempotency>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    anyhow::ensure!(text.len() == 128, "{HEADER_IDEMPOTENCY}: not a key hash and a fingerprint");
    Ok(Some(ReplicaIdempotency { key_hash: parse_hash(&text[..64])?.0, fingerprint: parse_hash(&text[64..])? }))
}

/// An existing log's events as messages: consecutive events of one contact together (an
/// append's events are always consecutive and of one contact, so no append is split), at most
/// [`HISTORY_EVENTS`] events and about [`HISTORY_BYTES`] of JSON each.
fn history_appends(page: Vec<Envelope>) -> Vec<ReplicaAppend> {
    let mut out: Vec<ReplicaAppend> = Vec::new();
    let mut bytes = 0;
    for env in page {
        let size = env.data.get().len() + 512;
        match out.last_mut() {
            Some(run)
                if run.envelopes[0].contact_id == env.contact_id
                    && run.envelopes.len() < HISTORY_EVENTS
                    && bytes + size < HISTORY_BYTES =>
            {
                bytes += size;
                run.envelopes.push(env);
            }
            _ => {
                bytes = size;
                out.push(ReplicaAppend { envelopes: vec![env], idempotency: None });
            }
        }
    }
    out
}

/// The role recorded in a data directory, if any.
pub fn read_role(data_dir: &Path) -> Option<Mode> {
    match std::fs::read_to_string(data_dir.join(ROLE_FILE)).ok()?.trim() {
        "primary" => Some(Mode::Primary),
        "standby" => Some(Mode::Standby),
        _ => None,
    }
}

/// Records the node's role in its data directory (written whole, then renamed).
pub fn write_role(data_dir: &Path, mode: Mode) -> anyhow::Result<()> {
    let text = match mode {
        Mode::Primary => "primary\n",
        Mode::Standby => "standby\n",
    };
    let tmp = data_dir.join(format!("{ROLE_FILE}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, data_dir.join(ROLE_FILE))?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use eventlog::{Actor, EventType, Role};
    use events::schema::Agency;
    use ulid::Ulid;

    /// Event `position` of the log: `version` of `contact`, its hash worked out, after `prev`.
    pub(super) fn envelope(
        position: u64,
        contact: Ulid,
        version: u32,
        event_type: EventType,
        data: &serde_json::Value,
        prev: Hash,
    ) -> Envelope {
        let mut env = Envelope {
            position,
            event_id: Ulid::from_parts(position, 1),
            contact_id: contact,
            version,
            event_type,
            schema_version: 1,
            occurred_at: "2026-03-02T10:15:00Z".parse().unwrap(),
            late_entry_reason: None,
            recorded_at: "2026-03-02T10:16:02.123Z".parse().unwrap(),
            actor: Actor::new("dm-test", Role::DecisionMaker, Agency::ChildrensSocialCare),
            data: serde_json::value::RawValue::from_string(data.to_string()).unwrap(),
            prev_hash: prev,
            hash: Hash::GENESIS,
        };
        env.hash = env.compute_hash();
        env
    }

    /// `sizes` appends of one contact each, chained from the genesis hash; the second has an
    /// idempotency key. `text` pads each event's data.
    fn appends(sizes: &[usize], text: usize) -> Vec<ReplicaAppend> {
        let mut prev = Hash::GENESIS;
        let mut position = 0u64;
        let mut out = Vec::new();
        for (n, size) in (1u64..).zip(sizes) {
            let contact = Ulid::from_parts(n, 7);
            let mut envelopes = Vec::new();
            for version in 1..=*size {
                position += 1;
                let data = serde_json::json!({ "summary": "x".repeat(text) });
                let version = u32::try_from(version).unwrap();
                let env = envelope(position, contact, version, EventType::ContactReceived, &data, prev);
                prev = env.hash;
                envelopes.push(env);
            }
            let idempotency = (n == 2).then_some(ReplicaIdempotency { key_hash: [9; 32], fingerprint: Hash([4; 32]) });
            out.push(ReplicaAppend { envelopes, idempotency });
        }
        out
    }

    fn header_map(message: &Outgoing) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in message.headers("node-a") {
            headers.insert(name, value.as_str());
        }
        headers
    }

    #[test]
    fn a_group_is_one_message_that_gives_back_its_appends_whole() {
        let group = appends(&[1, 3, 2], 10);
        let messages = messages_for(&group).unwrap();
        assert_eq!(messages.len(), 1, "a small group is one message");
        let message = &messages[0];
        assert_eq!((message.first, message.last), (1, 6));
        assert_eq!(message.last_hash, group[2].envelopes[1].hash);
        assert_eq!(message.id(), format!("6-{}", message.last_hash));
        let headers = header_map(message);
        assert_eq!(headers.get(HEADER_APPENDS).unwrap().as_str(), "1,3,2");
        let keys = headers.get(HEADER_IDEMPOTENCY).unwrap().as_str().to_owned();
        assert!(keys.starts_with(',') && keys.ends_with(','), "only the second append has a key: {keys}");
        assert_eq!(decode_parts(&headers, &message.payload).unwrap(), group);
        // The payload is the export's JSON lines: one envelope a line.
        assert_eq!(message.payload.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 6);
    }

    /// What NATS counts against `max_payload` for `message`: its payload and its headers.
    fn message_bytes(message: &Outgoing) -> usize {
        let headers: usize = message.headers("node-a").iter().map(|(name, value)| name.len() + value.len() + 4).sum();
        message.payload.len() + headers
    }

    #[test]
    fn every_message_fits_the_largest_a_node_checks_nats_takes() {
        // A default NATS server (max_payload 1 MiB) takes what a default node publishes.
        assert!(largest_message(crate::config::DEFAULT_BODY_LIMIT) <= 1024 * 1024);
        // The most appends a message carries, every one with an idempotency key.
        let mut many = appends(&[1; MESSAGE_APPENDS], 10);
        for append in &mut many {
            append.idempotency = Some(ReplicaIdempotency { key_hash: [9; 32], fingerprint: Hash([4; 32]) });
        }
        let messages = messages_for(&many).unwrap();
        assert_eq!(messages.len(), 1);
        let headers = message_bytes(&messages[0]) - messages[0].payload.len();
        assert!(headers <= HEADERS_ROOM, "{headers} bytes of headers");
        // A batch as full as it gets, and an append of the largest body alone.
        let full = appends(&[1; 40], 7_000);
        let body_limit = 200_000;
        let alone = appends(&[1], body_limit - 100);
        for message in messages_for(&full).unwrap().iter().chain(&messages_for(&alone).unwrap()) {
            assert!(message_bytes(message) <= largest_message(body_limit), "{} bytes", message_bytes(message));
        }
    }

    #[test]
    fn one_append_is_a_message_with_the_headers_of_one_append() {
        let group = appends(&[2], 10);
        let messages = messages_for(&group).unwrap();
        let headers = header_map(&messages[0]);
        assert!(headers.get(HEADER_APPENDS).is_none());
        assert!(headers.get(HEADER_IDEMPOTENCY).is_none());
        assert_eq!(decode_parts(&headers, &messages[0].payload).unwrap(), group);
    }

    #[test]
    fn a_large_group_is_cut_between_appends_never_inside_one() {
        // Each event about 20 KiB: 30 appends of 1 to 3 events, about 1.2 MiB in all.
        let sizes: Vec<usize> = (0..30).map(|n| 1 + n % 3).collect();
        let group = appends(&sizes, 20_000);
        let messages = messages_for(&group).unwrap();
        assert!(messages.len() > 1, "{} messages", messages.len());
        let mut back = Vec::new();
        let mut next = 1;
        for message in &messages {
            assert!(message.payload.len() <= MESSAGE_BYTES, "{} bytes", message.payload.len());
            assert_eq!(message.first, next, "messages follow one another");
            next = message.last + 1;
            back.extend(decode_parts(&header_map(message), &message.payload).unwrap());
        }
        assert_eq!(back, group);
        // An append larger than a message's budget goes alone, whole.
        let big = appends(&[1, 20, 1], 20_000);
        let messages = messages_for(&big).unwrap();
        assert_eq!(messages.iter().map(|m| m.appends.clone()).collect::<Vec<_>>(), vec![vec![1], vec![20], vec![1]]);
        // Many small appends: at most MESSAGE_APPENDS a message, so the headers stay small.
        let many = appends(&[1; 300], 10);
        let messages = messages_for(&many).unwrap();
        assert_eq!(
            messages.iter().map(|m| m.appends.len()).collect::<Vec<_>>(),
            vec![MESSAGE_APPENDS, 300 - MESSAGE_APPENDS]
        );
    }

    #[test]
    fn a_message_whose_headers_miscount_its_events_is_refused() {
        let group = appends(&[1, 3, 2], 10);
        let message = &messages_for(&group).unwrap()[0];
        let mut headers = header_map(message);
        headers.insert(HEADER_APPENDS, "1,3,1");
        let err = decode_parts(&headers, &message.payload).unwrap_err().to_string();
        assert!(err.contains("counts 5 events, the message carries 6"), "{err}");
        headers.insert(HEADER_APPENDS, "1,0,5");
        assert!(decode_parts(&headers, &message.payload).is_err());
        let mut headers = header_map(message);
        headers.insert(HEADER_IDEMPOTENCY, ",");
        let err = decode_parts(&headers, &message.payload).unwrap_err().to_string();
        assert!(err.contains("names 2 appends, the message carries 3"), "{err}");
    }
}
