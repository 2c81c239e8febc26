//! Tokens and roles: who a bearer token belongs to, and what each role may create, append and read.
//!
//! # Tokens
//!
//! A token is `fd_<id>_<secret>`: `id` is 12 lowercase hex characters (6 random bytes), public,
//! shown by `frontdoor token list` and used to revoke; `secret` is 64 lowercase hex characters
//! (32 bytes from the operating system's random number generator). The token text is shown
//! once, when it is created, and never stored: `<data_dir>/tokens.json` holds only its SHA-256,
//! with the actor it stands for, when it was created and when (if ever) it was revoked.
//!
//! A fast hash is the right one here. Tokens carry 256 bits of randomness, so nobody can guess
//! a preimage however fast they can hash; a deliberately slow password hash (argon2, bcrypt)
//! defends low-entropy human passwords against dictionary attacks, which a random token does
//! not need, and it would cost tens of milliseconds of CPU on every request.
//!
//! The CLI (`frontdoor token create|revoke|list`) runs as its own process beside the server.
//! Writers take an exclusive lock on `<data_dir>/tokens.lock`, read the file, change it and
//! replace it atomically (temporary file, `fsync`, `rename`, `fsync` of the directory), mode
//! 0600. Readers need no lock: they see the old file or the new one, never half of either.
//! [`TokenStore::authenticate`] `stat`s the file on every call and reloads it when it changed,
//! so a token revoked by the CLI is refused by the server on the very next request. The store
//! keeps the file it last loaded open, so that file's inode cannot be reused by a later version
//! while we still compare against it: a replaced file always shows a new inode number.
//!
//! A tokens file that cannot be parsed is an error naming the file, never an empty token list:
//! [`TokenStore::open`] refuses it, and a running server refuses every token until it is fixed
//! (failing closed: a revocation in the damaged file must not be lost).
//!
//! # Permissions
//!
//! The role table of the REST contract, made exact. A new role or event type is a compile
//! error in these functions, so each gets a decision rather than a default.
//!
//! | role             | create contact | append (events endpoint)                                   | read |
//! |------------------|:---:|----------------------------------------------------------------------|------|
//! | `referrer`       | yes | `note_added`, `referrer_feedback_given` (its own contacts only)      | its own contacts (a referrer's view) |
//! | `practitioner`   | yes | all but `contact_received`, `decision_made`, `audit_finding_recorded`, `referrer_feedback_given` (`contact_allocated` to itself only) | queue, contact, contact events, metrics, board |
//! | `decision_maker` | yes | a practitioner's, plus `decision_made`                              | a practitioner's, plus as-of |
//! | `partner`        | no  | `checks_returned` (own agency only), `duty_discussion_held`, `note_added` | queue, contact, contact events, board |
//! | `auditor`        | no  | `audit_finding_recorded`                                            | everything |
//! | `admin`          | yes | all but `contact_received`                                          | everything but a referrer's list |
//! | `receiving_team` | no  | `handover_accepted`, `handover_returned`, `contact_allocated` (its own handovers) | queue, contact, contact events (its own handovers only) |
//!
//! A referrer reads, and adds notes and feedback to, only the contacts it made
//! ([`reads_contact`]; any other is a 404): `GET /v1/contacts?made_by=me` and
//! `GET /v1/contacts/{id}` show it a referrer's view (stage and outcome in plain words, the next
//! step), nothing of checks, discussions or other contacts.
//!
//! A receiving team's token names its team (`--team "AT North"`): it reads only the contacts
//! whose latest handover names that team ([`reads_contact`]; any other is a 404, so it does not
//! learn the contact exists), its queue is its pending handovers ([`awaits_team`]), and the
//! accepting and returning of a handover is [`may_answer_handover`]'s.
//!
//! See [`may_create_contact`], [`may_append`], [`may_read`], [`may_see_restricted`] and
//! [`partner_may_return_checks_for`] for the reasons.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use eventlog::{Actor, EventType, Role};
use events::envelope::timestamp;
use events::schema::{Agency, HandoverTo};
use projections::contact::{ContactState, Handover};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const TOKENS_FILE: &str = "tokens.json";
const LOCK_FILE: &str = "tokens.lock";
const TEMP_FILE: &str = "tokens.json.tmp";
/// Names the file's kind, so a stray JSON file is not mistaken for a tokens file.
const FORMAT: &str = "frontdoor-tokens";
const FORMAT_VERSION: u32 = 1;

const TOKEN_PREFIX: &str = "fd_";
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;
const ID_LEN: usize = 2 * ID_BYTES;
const SECRET_LEN: usize = 2 * SECRET_BYTES;
const DIGEST_LEN: usize = 32;

/// How long a writer waits for another writer (a `frontdoor token` command) to finish.
const LOCK_WAIT: Duration = Duration::from_secs(10);
const LOCK_POLL: Duration = Duration::from_millis(20);
const MAX_ACTOR_ID_CHARS: usize = 128;
/// As long as any `team` a handover may name.
const MAX_TEAM_CHARS: usize = 200;

/// What went wrong with the token store.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file system refused.
    #[error("tokens store {path}: could not {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// The tokens file is not a tokens file we wrote. It is never read as an empty list.
    #[error(
        "tokens file {path} is corrupt: {reason}; every token is refused until it is repaired or restored \
         from a backup (it is never read as an empty list)"
    )]
    Corrupt { path: PathBuf, reason: String },
    /// Someone other than the owner may read or change the tokens file.
    #[error("tokens file {path} has mode {mode:04o}, but only its owner may read or write it: run `chmod 600 {path}`")]
    InsecurePermissions { path: PathBuf, mode: u32 },
    /// No token has this id.
    #[error("no token with id {0:?}")]
    UnknownToken(String),
    /// The actor a token would stand for cannot be recorded in the log.
    #[error("actor id {id:?} cannot be used: {reason}")]
    InvalidActor { id: String, reason: &'static str },
    /// A receiving team's token without its team, or another role's with one.
    #[error("actor {id:?}: {reason}")]
    InvalidTeam { id: String, reason: &'static str },
    /// Another writer held the lock for too long.
    #[error(
        "gave up after {}s waiting for the lock {path} (is another `frontdoor token` command running?)",
        .waited.as_secs()
    )]
    LockTimeout { path: PathBuf, waited: Duration },
    /// The operating system's random number generator failed.
    #[error("could not get random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

/// A token as `list` shows it: never its secret, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The public id, the `<id>` in `fd_<id>_<secret>`.
    pub id: String,
    /// Who the token acts as.
    pub actor: Actor,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "opt_timestamp")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Bearer tokens, stored hashed in `<data_dir>/tokens.json`.
///
/// Cheap to clone (an `Arc` inside); `Send + Sync`. [`authenticate`](Self::authenticate) costs one
/// `stat` and one SHA-256 of the presented token. [`open`](Self::open), [`create`](Self::create)
/// and [`revoke`](Self::revoke) do blocking file I/O with `fsync`: from async code, call them
/// through `spawn_blocking`.
#[derive(Clone)]
pub struct TokenStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    cache: RwLock<Cache>,
    /// The tokens as last looked at for [`TokenStore::authenticate_at`], and the latest moment
    /// they were looked at for.
    moment: Mutex<Option<(u64, Arc<Tokens>)>>,
}

/// What the store last read from the tokens file.
struct Cache {
    /// The file as it was when read; `None` forces a reload.
    stamp: Option<FileStamp>,
    /// The file read, kept open so that its inode number is not reused by a later version.
    held: Option<File>,
    /// The tokens, or why the file at `stamp` could not be parsed.
    tokens: Result<Arc<Tokens>, String>,
    /// The last tokens parsed, for [`TokenStore::list`] while the file is unusable.
    last_good: Arc<Tokens>,
    /// Whether the file is unusable now (so that it is logged once, not on every request).
    failing: bool,
}

/// Enough of a file's metadata to tell that it was replaced or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The tokens file as parsed and checked.
#[derive(Default)]
struct Tokens {
    stored: Vec<StoredToken>,
    by_digest: HashMap<[u8; DIGEST_LEN], usize>,
}

/// The tokens file on disk.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    format: String,
    version: u32,
    tokens: Vec<StoredToken>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredToken {
    id: String,
    /// SHA-256 of the whole token text, lowercase hex.
    sha256: String,
    actor: Actor,
    #[serde(with = "timestamp")]
    created_at: DateTime<Utc>,
    #[serde(with = "opt_timestamp")]
    revoked_at: Option<DateTime<Utc>>,
}

impl StoredToken {
    fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id.clone(),
            actor: self.actor.clone(),
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        }
    }
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl TokenStore {
    /// Opens the tokens file in `data_dir`, creating the directory (mode 0700) and an empty
    /// tokens file (mode 0600) if absent.
    ///
    /// Fails, naming the file, when it is corrupt or when anyone but its owner may read or
    /// write it (someone who can write it can give themselves any role).
    pub fn open(data_dir: &Path) -> Result<TokenStore, AuthError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|source| io_error(data_dir, "create the data directory", source))?;
        let store = TokenStore {
            inner: Arc::new(Inner {
                dir: data_dir.to_path_buf(),
                path: data_dir.join(TOKENS_FILE),
                lock_path: data_dir.join(LOCK_FILE),
                cache: RwLock::new(Cache {
                    stamp: None,
                    held: None,
                    tokens: Ok(Arc::default()),
                    last_good: Arc::default(),
                    failing: false,
                }),
                moment: Mutex::new(None),
            }),
        };
        let path = &store.inner.path;
        if !exists(path)? {
            let _lock = store.lock()?;
            // Another process may have created it while we waited for the lock.
            if !exists(path)? {
                store.write(&TokensFile { format: FORMAT.to_owned(), version: FORMAT_VERSION, tokens: Vec::new() })?;
            }
        }
        let meta = fs::metadata(path).map_err(|source| io_error(path, "stat", source))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(AuthError::InsecurePermissions { path: path.clone(), mode });
        }
        store.refresh()?;
        Ok(store)
    }

    /// Creates a token for `actor`. Returns what `list` shows of it and the token text, which
    /// is shown to the operator once and stored nowhere.
    pub fn create(&self, actor: Actor) -> Result<(TokenInfo, String), AuthError> {
        check_actor(&actor)?;
        self.modify(|file| {
            let id = loop {
                let id = random_hex(ID_BYTES)?;
                if file.tokens.iter().all(|t| t.id != id) {
                    break id;
                }
            };
            let token = format!("{TOKEN_PREFIX}{id}_{}", random_hex(SECRET_BYTES)?);
            let stored = StoredToken {
                id,
                sha256: hex::encode(Sha256::digest(token.as_bytes())),
                actor,
                created_at: now(),
                revoked_at: None,
            };
            let info = stored.info();
            file.tokens.push(stored);
            Ok(((info, token), true))
        })
    }

    /// Revokes the token with public id `token_id`; every process sharing the data directory
    /// refuses it from its next request on. Revoking a revoked token changes nothing and
    /// returns it with its first `revoked_at`.
    pub fn revoke(&self, token_id: &str) -> Result<TokenInfo, AuthError> {
        self.modify(|file| {
            let token = file
                .tokens
                .iter_mut()
                .find(|t| t.id == token_id)
                .ok_or_else(|| AuthError::UnknownToken(token_id.to_owned()))?;
            let changed = token.revoked_at.is_none();
            if changed {
                token.revoked_at = Some(now());
            }
            Ok((token.info(), changed))
        })
    }

    /// The tokens file as stored (hashes, actors, times; never a secret), for a replicated
    /// node's primary to publish. Read without the lock: the file is replaced whole, so this is
    /// one version of it. Fails, naming the file, when it cannot be read or parsed.
    pub fn snapshot(&self) -> Result<Vec<u8>, AuthError> {
        let path = &self.inner.path;
        let (_, _, bytes) = read_file(path)?;
        parse(&bytes).map_err(|reason| AuthError::Corrupt { path: path.clone(), reason })?;
        Ok(bytes)
    }

    /// Replaces the tokens file with `bytes` (a primary's [`snapshot`](Self::snapshot), as a
    /// standby receives it), under the writers' lock and atomically, once they parse as a
    /// tokens file; returns whether the file changed. Every request after it sees the new
    /// tokens. Bytes that do not parse change nothing and are an error.
    pub fn replace_with(&self, bytes: &[u8]) -> Result<bool, AuthError> {
        let tokens = parse(bytes).map_err(|reason| AuthError::Corrupt {
            path: self.inner.path.clone(),
            reason: format!("the replicated tokens do not parse: {reason}"),
        })?;
        let _lock = self.lock()?;
        let (_, _, current) = read_file(&self.inner.path)?;
        if current == bytes {
            return Ok(false);
        }
        self.write(&TokensFile { format: FORMAT.to_owned(), version: FORMAT_VERSION, tokens: tokens.stored })?;
        if let Err(error) = self.refresh() {
            tracing::warn!(%error, "could not reload the tokens file just written");
        }
        Ok(true)
    }

    /// Every token, revoked ones included, oldest first; never a secret or a hash.
    ///
    /// If the file has become unusable since it was last read, this logs the error and returns
    /// the tokens as last read; [`try_list`](Self::try_list) returns the error instead.
    pub fn list(&self) -> Vec<TokenInfo> {
        let tokens = self.refresh().unwrap_or_else(|_| self.read_cache().last_good.clone());
        tokens.stored.iter().map(StoredToken::info).collect()
    }

    /// Every token as the file holds it now, or why the file cannot be read.
    pub fn try_list(&self) -> Result<Vec<TokenInfo>, AuthError> {
        Ok(self.refresh()?.stored.iter().map(StoredToken::info).collect())
    }

    /// The actor a presented token stands for: `None` when it is malformed, unknown or revoked,
    /// and for every token while the tokens file is missing or corrupt (logged once).
    pub fn authenticate(&self, presented: &str) -> Option<Actor> {
        if !is_well_formed(presented) {
            return None;
        }
        let tokens = self.refresh().ok()?;
        Self::find(&tokens, presented)
    }

    /// As [`authenticate`](Self::authenticate), looking at the tokens file once per `moment`
    /// for every caller rather than once per call. Moments are numbered in the order they
    /// happen (a live stream passes the number of the change it is about to send, announced in
    /// that order): the first caller for a moment later than any seen looks at the file; a
    /// caller for that moment or an earlier one reuses what it found. That look happened after
    /// the moment, so it saw every revocation completed before it: a change fanned out to many
    /// streams costs one `stat` instead of one per stream, and still reaches no token revoked
    /// before the change was announced.
    pub fn authenticate_at(&self, presented: &str, moment: u64) -> Option<Actor> {
        if !is_well_formed(presented) {
            return None;
        }
        let tokens = {
            let mut seen = self.inner.moment.lock().unwrap_or_else(PoisonError::into_inner);
            match seen.as_ref() {
                Some((latest, tokens)) if moment <= *latest => Arc::clone(tokens),
                _ => {
                    let tokens = self.refresh().ok()?;
                    *seen = Some((moment, Arc::clone(&tokens)));
                    tokens
                }
            }
        };
        Self::find(&tokens, presented)
    }

    /// The actor of a well-formed presented token, if the tokens hold it unrevoked.
    fn find(tokens: &Tokens, presented: &str) -> Option<Actor> {
        // Looking up by digest leaks nothing useful through timing: the attacker chooses the
        // token, not its SHA-256, and a digest that matches a stored one only in its first bytes
        // says nothing about the token that produced it.
        let digest: [u8; DIGEST_LEN] = Sha256::digest(presented.as_bytes()).into();
        let token = &tokens.stored[*tokens.by_digest.get(&digest)?];
        if token.revoked_at.is_some() {
            tracing::debug!(token_id = %token.id, "revoked token presented");
            return None;
        }
        Some(token.actor.clone())
    }

    /// The tokens as the file holds them now: one `stat`, and a reload only if it changed.
    fn refresh(&self) -> Result<Arc<Tokens>, AuthError> {
        let path = &self.inner.path;
        let stamp = match fs::metadata(path) {
            Ok(meta) => FileStamp::of(&meta),
            Err(source) => {
                let error = io_error(path, "stat", source);
                note_failure(&mut self.write_cache(), &error);
                return Err(error);
            }
        };
        if let Some(current) = self.cached(&self.read_cache(), stamp) {
            return current;
        }
        let mut cache = self.write_cache();
        if let Some(current) = self.cached(&cache, stamp) {
            return current;
        }
        let (file, stamp, bytes) = match read_file(path) {
            Ok(read) => read,
            Err(error) => {
                note_failure(&mut cache, &error);
                return Err(error);
            }
        };
        cache.stamp = Some(stamp);
        cache.held = Some(file);
        match parse(&bytes) {
            Ok(tokens) => {
                let tokens = Arc::new(tokens);
                cache.tokens = Ok(tokens.clone());
                cache.last_good = tokens.clone();
                if cache.failing {
                    cache.failing = false;
                    tracing::info!(path = %path.display(), "tokens file readable again");
                }
                Ok(tokens)
            }
            Err(reason) => {
                cache.tokens = Err(reason.clone());
                let error = AuthError::Corrupt { path: path.clone(), reason };
                note_failure(&mut cache, &error);
                Err(error)
            }
        }
    }

    /// The cached tokens (or parse failure) if the file is still the one read.
    fn cached(&self, cache: &Cache, stamp: FileStamp) -> Option<Result<Arc<Tokens>, AuthError>> {
        (cache.stamp == Some(stamp)).then(|| {
            cache.tokens.clone().map_err(|reason| AuthError::Corrupt { path: self.inner.path.clone(), reason })
        })
    }

    /// Read, change and atomically replace the tokens file under the writers' lock. `change`
    /// returns its result and whether it changed anything (if not, nothing is written).
    fn modify<T>(&self, change: impl FnOnce(&mut TokensFile) -> Result<(T, bool), AuthError>) -> Result<T, AuthError> {
        let path = &self.inner.path;
        let _lock = self.lock()?;
        let (_, _, bytes) = read_file(path)?;
        let tokens = parse(&bytes).map_err(|reason| AuthError::Corrupt { path: path.clone(), reason })?;
        let mut file = TokensFile { format: FORMAT.to_owned(), version: FORMAT_VERSION, tokens: tokens.stored };
        let (out, changed) = change(&mut file)?;
        if changed {
            self.write(&file)?;
            // So that this process sees its own change without waiting for a request.
            if let Err(error) = self.refresh() {
                tracing::warn!(%error, "could not reload the tokens file just written");
            }
        }
        Ok(out)
    }

    /// Replaces the tokens file atomically. Call with the lock held.
    fn write(&self, file: &TokensFile) -> Result<(), AuthError> {
        let Inner { dir, path, .. } = &*self.inner;
        let temp = dir.join(TEMP_FILE);
        match fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error(&temp, "remove a stale temporary file", source)),
        }
        let mut body = serde_json::to_vec_pretty(file)
            .map_err(|e| io_error(&temp, "serialise the tokens", io::Error::other(e)))?;
        body.push(b'\n');
        // `create_new` with mode 0600: the file is never, even briefly, readable by others.
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|source| io_error(&temp, "create", source))?;
        out.write_all(&body).map_err(|source| io_error(&temp, "write", source))?;
        out.sync_all().map_err(|source| io_error(&temp, "fsync", source))?;
        drop(out);
        fs::rename(&temp, path).map_err(|source| io_error(path, "replace", source))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(|source| io_error(dir, "fsync the data directory", source))
    }

    /// Takes the writers' lock; it is released when the returned file is dropped (or the
    /// process dies: an `flock` never goes stale).
    fn lock(&self) -> Result<File, AuthError> {
        let path = &self.inner.lock_path;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| io_error(path, "open", source))?;
        let started = Instant::now();
        loop {
            // fs2 rather than `File::try_lock`, which needs Rust 1.89 (the workspace supports 1.85).
            match fs2::FileExt::try_lock_exclusive(&file) {
                Ok(()) => return Ok(file),
                Err(e) if is_contended(&e) => {
                    if started.elapsed() >= LOCK_WAIT {
                        return Err(AuthError::LockTimeout { path: path.clone(), waited: started.elapsed() });
                    }
                    std::thread::sleep(LOCK_POLL);
                }
                Err(source) => return Err(io_error(path, "lock", source)),
            }
        }
    }

    // The cache is whole at every point a panic could occur, so a poisoned lock is still good.
    fn read_cache(&self) -> RwLockReadGuard<'_, Cache> {
        self.inner.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, Cache> {
        self.inner.cache.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Logs the file becoming unusable, once until it is usable again.
fn note_failure(cache: &mut Cache, error: &AuthError) {
    if !cache.failing {
        cache.failing = true;
        tracing::error!(%error, "tokens file unusable: every token is refused until it is fixed");
    }
    if !matches!(error, AuthError::Corrupt { .. }) {
        // Not a parse failure tied to one version of the file: try again next time.
        cache.stamp = None;
        cache.held = None;
    }
}

fn read_file(path: &Path) -> Result<(File, FileStamp, Vec<u8>), AuthError> {
    let mut file = File::open(path).map_err(|source| io_error(path, "open", source))?;
    // The stamp of the file actually read, even if it was replaced since the caller's `stat`.
    let meta = file.metadata().map_err(|source| io_error(path, "stat", source))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|source| io_error(path, "read", source))?;
    Ok((file, FileStamp::of(&meta), bytes))
}

/// Parses and checks a tokens file; the error is why it is corrupt.
fn parse(bytes: &[u8]) -> Result<Tokens, String> {
    let file: TokensFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.format != FORMAT {
        return Err(format!("format is {:?}, expected {FORMAT:?}", file.format));
    }
    if file.version != FORMAT_VERSION {
        return Err(format!("version {} is not supported (expected {FORMAT_VERSION})", file.version));
    }
    let mut by_digest = HashMap::with_capacity(file.tokens.len());
    let mut ids = HashSet::with_capacity(file.tokens.len());
    for (index, token) in file.tokens.iter().enumerate() {
        if token.id.len() != ID_LEN || !is_lower_hex(token.id.as_bytes()) {
            return Err(format!("token {index} has a malformed id {:?}", token.id));
        }
        if !ids.insert(token.id.as_str()) {
            return Err(format!("token id {:?} appears twice", token.id));
        }
        let mut digest = [0u8; DIGEST_LEN];
        if !is_lower_hex(token.sha256.as_bytes()) || hex::decode_to_slice(&token.sha256, &mut digest).is_err() {
            return Err(format!("token {:?} has a malformed sha256", token.id));
        }
        if by_digest.insert(digest, index).is_some() {
            return Err(format!("token {:?} has the same sha256 as another", token.id));
        }
        check_actor(&token.actor).map_err(|e| format!("token {:?}: {e}", token.id))?;
    }
    Ok(Tokens { stored: file.tokens, by_digest })
}

/// Whether `token` is `fd_` + 12 lowercase hex + `_` + 64 lowercase hex. Works on bytes so that
/// no input can make it slice inside a character.
fn is_well_formed(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else {
        return false;
    };
    let rest = rest.as_bytes();
    rest.len() == ID_LEN + 1 + SECRET_LEN
        && rest[ID_LEN] == b'_'
        && is_lower_hex(&rest[..ID_LEN])
        && is_lower_hex(&rest[ID_LEN + 1..])
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An actor id goes into every event the token appends: it must say who, legibly. A receiving
/// team's actor names its team (what it reads and answers depends on it); no other role has one.
fn check_actor(actor: &Actor) -> Result<(), AuthError> {
    let team_reason = match (actor.role, actor.team.as_deref()) {
        (Role::ReceivingTeam, None) => Some("a receiving_team token needs its team (--team \"AT North\")"),
        (Role::ReceivingTeam, Some(team)) if team.trim().is_empty() => Some("the team is empty"),
        (Role::ReceivingTeam, Some(team)) if team.trim() != team => Some("the team has leading or trailing whitespace"),
        (Role::ReceivingTeam, Some(team)) if team.chars().count() > MAX_TEAM_CHARS => {
            Some("the team is longer than 200 characters")
        }
        (Role::ReceivingTeam, Some(team)) if team.chars().any(char::is_control) => {
            Some("the team contains control characters")
        }
        (Role::ReceivingTeam, Some(_)) | (_, None) => None,
        (_, Some(_)) => Some("only a receiving_team token names a team"),
    };
    if let Some(reason) = team_reason {
        return Err(AuthError::InvalidTeam { id: actor.id.clone(), reason });
    }
    let reason = if actor.id.trim().is_empty() {
        "it is empty"
    } else if actor.id.trim() != actor.id {
        "it has leading or trailing whitespace"
    } else if actor.id.chars().count() > MAX_ACTOR_ID_CHARS {
        "it is longer than 128 characters"
    } else if actor.id.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(AuthError::InvalidActor { id: actor.id.clone(), reason })
}

fn random_hex(len: usize) -> Result<String, AuthError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(AuthError::Random)?;
    Ok(hex::encode(bytes))
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn exists(path: &Path) -> Result<bool, AuthError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(io_error(path, "stat", source)),
    }
}

fn is_contended(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock || error.raw_os_error() == fs2::lock_contended_error().raw_os_error()
}

fn io_error(path: &Path, action: &'static str, source: io::Error) -> AuthError {
    AuthError::Io { path: path.to_path_buf(), action, source }
}

/// `Option<DateTime<Utc>>` as an RFC 3339 timestamp or `null`.
mod opt_timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&events::envelope::timestamp::format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).map_err(D::Error::custom))
            .transpose()
    }
}

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

/// Whether `role` may create a contact (`POST /v1/contacts`): referrers (that is all they may
/// do), practitioners, decision makers and admins.
///
/// Partners and auditors may not: a partner agency refers a child through a referrer's token
/// (the integration with its own systems) or by phone, and quality assurance never writes the
/// case record it audits.
pub fn may_create_contact(role: Role) -> bool {
    match role {
        Role::Referrer | Role::Practitioner | Role::DecisionMaker | Role::Admin => true,
        Role::Partner | Role::Auditor | Role::ReceivingTeam | Role::Monitor => false,
    }
}

/// Whether `role` may append an event of `event_type` to a contact
/// (`POST /v1/contacts/{id}/events`); if not, the answer is 403.
///
/// - `contact_received`: nobody. Contacts are created by `POST /v1/contacts`
///   ([`may_create_contact`]), never through the events endpoint, admins included: a second
///   `contact_received` on a contact is meaningless, and refusing it here does not leave it to
///   the case rules to catch.
/// - `decision_made`: decision makers and admins. Deciding what happens to a child is the
///   duty manager's, not the practitioner's who gathered the information.
/// - `audit_finding_recorded`: auditors and admins. Audit findings are quality assurance's: the
///   duty team does not audit itself.
/// - `checks_returned`, `duty_discussion_held`, `note_added`: practitioners, decision makers,
///   partners and admins. These are how partner agencies take part in a contact; a partner
///   returns checks only for its own agency ([`partner_may_return_checks_for`]).
/// - every other type (triage, calls, check requests, consent, action plans, informing the
///   referrer, handovers, closing, corrections, linking and unlinking a child in the child
///   index): practitioners, decision makers and admins.
///
/// - `contact_allocated`: decision makers and admins (to anyone), practitioners (to themselves
///   only: rule `allocation-to-self-only`) and receiving teams (their own worker, once they
///   accepted the handover).
/// - `referrer_feedback_given`: referrers (on their own contacts) and admins.
/// - `strategy_discussion_held`: practitioners, decision makers and admins (also after the
///   contact is closed: the discussion may be held after the duty team's part ended).
/// - `action_completed`: practitioners, decision makers, admins, and partners for their own
///   agency's actions ([`partner_may_complete`]).
///
/// Referrers append only notes (to their own open contacts) and their feedback; auditors append
/// only their findings. A receiving team appends only `handover_accepted`, `handover_returned`
/// and `contact_allocated`, and only to its own handovers ([`reads_contact`],
/// [`may_answer_handover`]).
pub fn may_append(role: Role, event_type: EventType) -> bool {
    use Role::{Admin, Auditor, DecisionMaker, Partner, Practitioner, ReceivingTeam, Referrer};
    match event_type {
        EventType::HandoverAccepted | EventType::HandoverReturned => {
            matches!(role, Practitioner | DecisionMaker | Admin | ReceivingTeam)
        }
        // Streams' first events: each is created by its own endpoint, never appended.
        EventType::ContactReceived | EventType::DutyDebriefRecorded | EventType::ConsultationRecorded => false,
        EventType::DecisionMade => matches!(role, DecisionMaker | Admin),
        EventType::AuditFindingRecorded => matches!(role, Auditor | Admin),
        EventType::ChecksReturned | EventType::DutyDiscussionHeld => {
            matches!(role, Practitioner | DecisionMaker | Partner | Admin)
        }
        EventType::NoteAdded => matches!(role, Referrer | Practitioner | DecisionMaker | Partner | Admin),
        EventType::ContactAllocated => matches!(role, Practitioner | DecisionMaker | Admin | ReceivingTeam),
        EventType::ReferrerFeedbackGiven => matches!(role, Referrer | Admin),
        EventType::StrategyDiscussionHeld => matches!(role, Practitioner | DecisionMaker | Admin),
        // Partners complete only their own agency's actions: see `partner_may_complete`.
        EventType::ActionCompleted => matches!(role, Practitioner | DecisionMaker | Partner | Admin),
        // Partners correct only their own agency's checks: see `may_correct`.
        EventType::CorrectionRecorded => matches!(role, Practitioner | DecisionMaker | Partner | Admin),
        EventType::TriageRated
        | EventType::CallLogged
        | EventType::ChecksRequested
        | EventType::ConsentRecorded
        | EventType::ActionPlanAgreed
        | EventType::ReferrerInformed
        | EventType::HandoverSent
        | EventType::ContactClosed
        | EventType::ChildrenLinked
        | EventType::ChildrenUnlinked => matches!(role, Practitioner | DecisionMaker | Admin),
    }
}

/// What a read endpoint exposes, for [`may_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadKind {
    /// `GET /v1/queue` and `GET /v1/queue/stream`: the live duty queue.
    Queue,
    /// `GET /v1/contacts/{id}`: one contact's state.
    Contact,
    /// `GET /v1/contacts/{id}/events`: one contact's events.
    ContactEvents,
    /// `GET /v1/contacts/{id}/audit`: one contact's events and its access log.
    ContactAudit,
    /// `GET /v1/events` and `GET /v1/events/stream`: the whole log, every contact.
    GlobalEvents,
    /// `GET /v1/metrics/timeliness` and `GET /v1/metrics/volumes`.
    Metrics,
    /// `GET /v1/metrics/trends`: contacts, outcomes and categories by source and week, small
    /// counts suppressed, no child-level data: partners too.
    Trends,
    /// `GET /v1/audit/sample`: the case-audit sample.
    AuditSample,
    /// `GET /v1/as-of`: the queue and timeliness as they stood at a past moment.
    AsOf,
    /// `GET /`: the duty board.
    Board,
    /// `GET /metrics`: the service's own Prometheus metrics (no case data): admins and
    /// monitors.
    ServiceMetrics,
    /// `GET /v1/children` and `GET /v1/children/{child_id}`: the child index, search and
    /// records.
    Children,
    /// `GET /v1/access`: the access log, every entry (who read what).
    AccessLog,
    /// `GET /v1/contacts?made_by=me`: the contacts a referrer made, in a referrer's view.
    OwnContacts,
    /// `GET /v1/duty-debriefs` and the debriefs on the QA page.
    DutyDebriefs,
    /// `GET /v1/consultations` and `GET /v1/consultations/{id}`: professional consultations,
    /// which may name children.
    Consultations,
}

impl ReadKind {
    /// Every kind of read.
    pub const ALL: &'static [ReadKind] = &[
        ReadKind::Queue,
        ReadKind::Contact,
        ReadKind::ContactEvents,
        ReadKind::ContactAudit,
        ReadKind::GlobalEvents,
        ReadKind::Metrics,
        ReadKind::Trends,
        ReadKind::AuditSample,
        ReadKind::AsOf,
        ReadKind::Board,
        ReadKind::ServiceMetrics,
        ReadKind::Children,
        ReadKind::AccessLog,
        ReadKind::OwnContacts,
        ReadKind::DutyDebriefs,
        ReadKind::Consultations,
    ];
}

/// Whether `role` may read `what`; if not, the answer is 403.
///
/// - Queue, contact, contact events, board: practitioners, decision makers, partners, auditors,
///   admins. Readers of a contact must still leave out restricted checks the viewer may not see
///   ([`may_see_restricted`]).
/// - Metrics: practitioners, decision makers, auditors, admins. Partners are not told the team's
///   performance figures.
/// - Trends: as metrics, and partners (Warwickshire shares its trends with them): counts by
///   source and week with counts under 5 suppressed, a partner's own agency and overall.
/// - As-of: decision makers, auditors, admins. It shows only what the queue and timeliness
///   showed at the time, which a decision maker reads live anyway; managers use it to review
///   the queue as it stood when something went wrong. Practitioners work the live queue.
/// - Contact audit (the access log: who read which child's record), the global log (every
///   contact, restricted checks included, in one stream) and the audit sample: auditors and
///   admins only. The duty team does not audit itself: a decision maker who could draw the
///   case-audit sample could know which decisions will be audited, and the access log is the
///   record of the team's own reading.
///
/// - Children (the child index's search and records): practitioners, decision makers,
///   partners, auditors, admins. Not referrers (a search would tell them about other
///   contacts) and not receiving teams (who read only their own handovers).
/// - Own contacts (`GET /v1/contacts?made_by=me`): referrers only, the one list made for them.
/// - Duty debriefs (`GET /v1/duty-debriefs`): the duty team (practitioners, decision makers),
///   auditors and admins. A debrief is the team's account of its own day, not a partner's.
/// - Consultations (`GET /v1/consultations`, `GET /v1/consultations/{id}`): the duty team,
///   auditors and admins, as for a child's record: a consultation may name children, and
///   referrers, receiving teams and partners do not read them.
///
/// A referrer reads a contact (`GET /v1/contacts/{id}`) only if it made it ([`reads_contact`];
/// any other is a 404), and then sees a referrer's view of it, never the duty team's record.
///
/// A receiving team reads the queue, a contact and its events, scoped to its own handovers: its
/// queue is its pending handovers ([`awaits_team`]) and it reads only the contacts whose latest
/// handover names its team ([`reads_contact`]; others are 404). It has no duty board: its
/// board page is its handovers ([`may_open_board_page`]).
pub fn may_read(role: Role, what: ReadKind) -> bool {
    use Role::{Admin, Auditor, DecisionMaker, Partner, Practitioner, ReceivingTeam, Referrer};
    match what {
        ReadKind::Contact => {
            matches!(role, Referrer | Practitioner | DecisionMaker | Partner | Auditor | Admin | ReceivingTeam)
        }
        ReadKind::OwnContacts => role == Referrer,
        ReadKind::Queue | ReadKind::ContactEvents => {
            matches!(role, Practitioner | DecisionMaker | Partner | Auditor | Admin | ReceivingTeam)
        }
        ReadKind::Board => matches!(role, Practitioner | DecisionMaker | Partner | Auditor | Admin),
        ReadKind::Metrics => matches!(role, Practitioner | DecisionMaker | Auditor | Admin),
        ReadKind::Trends => matches!(role, Practitioner | DecisionMaker | Partner | Auditor | Admin),
        ReadKind::AsOf => matches!(role, DecisionMaker | Auditor | Admin),
        ReadKind::ContactAudit | ReadKind::GlobalEvents | ReadKind::AuditSample | ReadKind::AccessLog => {
            matches!(role, Auditor | Admin)
        }
        ReadKind::ServiceMetrics => matches!(role, Role::Monitor | Admin),
        ReadKind::Children => matches!(role, Practitioner | DecisionMaker | Partner | Auditor | Admin),
        ReadKind::DutyDebriefs => matches!(role, Practitioner | DecisionMaker | Auditor | Admin),
        ReadKind::Consultations => matches!(role, Practitioner | DecisionMaker | Auditor | Admin),
    }
}

/// Whether `role` may sign in to the pages: the duty board's readers; referrers, to their own
/// pages ("My referrals", the referral form); receiving teams, to the board of their
/// handovers. Monitors read only the service's metrics and have no pages.
pub fn may_sign_in(role: Role) -> bool {
    may_read(role, ReadKind::Board) || matches!(role, Role::Referrer | Role::ReceivingTeam)
}

/// Whether `role` may open the board page (`/`): the duty board's readers, and a receiving team,
/// for which it is the live list of the handovers to its team (its queue: [`awaits_team`]).
pub fn may_open_board_page(role: Role) -> bool {
    may_read(role, ReadKind::Board) || role == Role::ReceivingTeam
}

/// Whether `role` may record a duty debrief (`POST /v1/duty-debriefs`): the duty team
/// (practitioners, decision makers) and admins. Auditors read them; partners, referrers,
/// receiving teams and monitors neither write nor read them.
pub fn may_record_duty_debrief(role: Role) -> bool {
    matches!(role, Role::Practitioner | Role::DecisionMaker | Role::Admin)
}

/// Whether `role` may record a professional consultation (`POST /v1/consultations`): the duty
/// team that takes the call (practitioners, decision makers) and admins.
pub fn may_record_consultation(role: Role) -> bool {
    matches!(role, Role::Practitioner | Role::DecisionMaker | Role::Admin)
}

/// Whether `role` may promote a standby to primary (`POST /v1/admin/promote`, with
/// `[replication]`): admins only. It decides which node takes every write.
pub fn may_promote(role: Role) -> bool {
    role == Role::Admin
}

/// Whether `actor` may record a correction of `field` on the contact's event `target`
/// (`check` is the corrected check when `target` is a `checks_returned`); the `Err` says why
/// not (403).
///
/// - A check is corrected by the returning agency's partners, decision makers and admins: a
///   caller who may not see a restricted check may not correct it, and a practitioner corrects
///   no check. Making a restricted check unrestricted is for decision makers and admins only.
/// - Moving the time of a decision or of a handover's acceptance changes the timeliness
///   figures: decision makers and admins only.
/// - Anything else: practitioners, decision makers and admins (a partner corrects only checks).
pub fn may_correct(
    actor: &Actor,
    target: EventType,
    field: Option<events::correction::Field>,
    check: Option<(Agency, bool)>,
    new_value: &serde_json::Value,
) -> Result<(), String> {
    use events::correction::Field;
    let manager = matches!(actor.role, Role::DecisionMaker | Role::Admin);
    if target == EventType::ChecksReturned {
        let (agency, restricted) = check.unwrap_or((Agency::Other, true));
        let returning_partner = actor.role == Role::Partner && actor.agency == agency;
        if !manager && !returning_partner {
            return Err(format!(
                "a check is corrected by the returning agency's ({agency}) partners or a decision maker, not a {} of {}",
                actor.role, actor.agency
            ));
        }
        if field == Some(Field::Restricted) && restricted && new_value == &serde_json::Value::Bool(false) && !manager {
            return Err("only a decision maker or an admin may make a restricted check unrestricted".into());
        }
        return Ok(());
    }
    if actor.role == Role::Partner {
        return Err("a partner corrects only its own agency's checks".into());
    }
    if field == Some(Field::OccurredAt)
        && matches!(target, EventType::DecisionMade | EventType::HandoverAccepted)
        && !manager
    {
        return Err(format!("only a decision maker or an admin may move the time of a {target}"));
    }
    Ok(())
}

/// Whether `role` may append any event at all to an existing contact (referrers may not:
/// they are refused before their body is even read).
pub fn may_append_any(role: Role) -> bool {
    EventType::ALL.iter().any(|t| may_append(role, *t))
}

/// Whether `role` sees every restricted check, whichever agency returned it.
pub fn sees_all_restricted(role: Role) -> bool {
    match role {
        Role::DecisionMaker | Role::Auditor | Role::Admin => true,
        Role::Referrer | Role::Practitioner | Role::Partner | Role::ReceivingTeam | Role::Monitor => false,
    }
}

/// Whether `viewer` may see a restricted `checks_returned` returned by `returning_agency`:
/// decision makers, auditors and admins always; partners only of the returning agency (the
/// police see their own restricted intelligence, health does not); practitioners and referrers
/// never, whatever their agency.
pub fn may_see_restricted(viewer: &Actor, returning_agency: Agency) -> bool {
    match viewer.role {
        Role::DecisionMaker | Role::Auditor | Role::Admin => true,
        Role::Partner => viewer.agency == returning_agency,
        Role::Referrer | Role::Practitioner | Role::ReceivingTeam | Role::Monitor => false,
    }
}

/// Whether two team names name the same team: compared ignoring case and runs of spaces, so
/// "AT North" typed on a handover as "at  north" still reaches the AT North team.
pub fn same_team(a: &str, b: &str) -> bool {
    let words = |s: &str| s.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>();
    words(a) == words(b)
}

/// Whether `actor`'s team is the one `handover` names (false for an actor without a team and a
/// handover that names none).
fn names_team_of(handover: &Handover, actor: &Actor) -> bool {
    matches!((handover.team.as_deref(), actor.team.as_deref()), (Some(named), Some(own)) if same_team(named, own))
}

/// Whether `viewer`, who [`may_read`] contacts, may read this one: every role that may read
/// contacts reads them all, except a receiving team, which reads only the contacts whose latest
/// handover names its team (pending, accepted or returned), and a referrer, which reads only
/// the contacts it made. Anything else is answered as if the contact did not exist (404).
pub fn reads_contact(viewer: &Actor, state: &ContactState) -> bool {
    match viewer.role {
        Role::ReceivingTeam => state.handover.as_ref().is_some_and(|h| names_team_of(h, viewer)),
        Role::Referrer => state.made_by == viewer.id,
        Role::Practitioner | Role::DecisionMaker | Role::Partner | Role::Auditor | Role::Admin => true,
        Role::Monitor => false,
    }
}

/// Whether the open contact `state` is one of `team`'s pending handovers: its latest handover,
/// sent and neither accepted nor returned, names the team. A receiving team's queue is these.
pub fn awaits_team(viewer: &Actor, state: &ContactState) -> bool {
    state.closed.is_none()
        && state
            .handover
            .as_ref()
            .is_some_and(|h| h.status == projections::contact::HandoverStatus::Pending && names_team_of(h, viewer))
}

/// Whether `actor` may accept or return the pending `handover` (if not, 403).
///
/// - A handover to the `assessment_team` or `early_help` is answered by the receiving team it
///   names, and by nobody else but an admin: the front door does not report its own handovers
///   as accepted.
/// - A handover to `community`, `tafso`, an `allocated_worker` or `other` often goes to people
///   with no frontdoor token: a practitioner or decision maker records the answer (an acceptance
///   with `evidence` of how it was confirmed, rule `acceptance-needs-evidence`), as may the
///   receiving team it names, if it has a token, and an admin.
pub fn may_answer_handover(actor: &Actor, handover: &Handover) -> bool {
    let to_a_team = matches!(handover.to, HandoverTo::AssessmentTeam | HandoverTo::EarlyHelp);
    match actor.role {
        Role::Admin => true,
        Role::ReceivingTeam => names_team_of(handover, actor),
        Role::Practitioner | Role::DecisionMaker => !to_a_team,
        Role::Referrer | Role::Partner | Role::Auditor | Role::Monitor => false,
    }
}

/// Who may see restricted checks, for the functions that filter what a viewer reads
/// ([`crate::http::views`]).
pub trait RestrictedViewer {
    /// Whether this viewer may see a restricted check returned by `returning_agency`.
    fn may_see_restricted(&self, returning_agency: Agency) -> bool;
}

impl RestrictedViewer for Actor {
    fn may_see_restricted(&self, returning_agency: Agency) -> bool {
        may_see_restricted(self, returning_agency)
    }
}

/// A caller as the service's configuration lets them see restricted checks: as
/// [`may_see_restricted`] says, except that a receiving team sees them when the configuration
/// says so (`receiving_team_sees_restricted`; by default it does not).
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub actor: &'a Actor,
    pub receiving_team_sees_restricted: bool,
}

impl RestrictedViewer for Viewer<'_> {
    fn may_see_restricted(&self, returning_agency: Agency) -> bool {
        match self.actor.role {
            Role::ReceivingTeam => self.receiving_team_sees_restricted,
            _ => may_see_restricted(self.actor, returning_agency),
        }
    }
}

/// Whether `actor` may complete an action owned by `owner` (`action_completed`): a partner
/// only its own agency's actions; the duty team (and admins) any, as they record what an
/// agency told them.
pub fn partner_may_complete(actor: &Actor, owner: Agency) -> bool {
    partner_may_return_checks_for(actor, owner)
}

/// Whether `actor` may append `checks_returned` for `agency`: a partner only for its own agency
/// (health cannot answer for the police); other roles that may append it, for any agency (the
/// practitioner who took the police's answer by phone records it).
pub fn partner_may_return_checks_for(actor: &Actor, agency: Agency) -> bool {
    match actor.role {
        Role::Partner => actor.agency == agency,
        Role::Referrer
        | Role::Practitioner
        | Role::DecisionMaker
        | Role::Auditor
        | Role::Admin
        | Role::ReceivingTeam
        | Role::Monitor => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: bool = true;
    const N: bool = false;

    /// The columns of the expected matrices below.
    const ROLES: [Role; 8] = [
        Role::Referrer,
        Role::Practitioner,
        Role::DecisionMaker,
        Role::Partner,
        Role::Auditor,
        Role::Admin,
        Role::ReceivingTeam,
        Role::Monitor,
    ];

    fn actor(id: &str, role: Role, agency: Agency) -> Actor {
        Actor { id: id.to_owned(), role, agency, team: None }
    }

    fn ana() -> Actor {
        actor("sw-ana", Role::DecisionMaker, Agency::ChildrensSocialCare)
    }

    fn secret_of(token: &str) -> &str {
        token.rsplit('_').next().unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_created_token_authenticates_as_its_actor() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (info, token) = store.create(ana()).unwrap();
        assert_eq!(store.authenticate(&token), Some(ana()));
        assert_eq!(info.actor, ana());
        assert_eq!(info.revoked_at, None);
        // fd_<12 hex id>_<64 hex secret>, the id being the public one.
        assert_eq!(token.len(), 3 + 12 + 1 + 64);
        assert!(token.starts_with(&format!("fd_{}_", info.id)));
        assert!(is_well_formed(&token));
        // And after a restart.
        let reopened = TokenStore::open(dir.path()).unwrap();
        assert_eq!(reopened.authenticate(&token), Some(ana()));
    }

    #[test]
    fn two_tokens_never_share_an_id_or_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (a, ta) = store.create(ana()).unwrap();
        let (b, tb) = store.create(ana()).unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(secret_of(&ta), secret_of(&tb));
        assert_eq!(store.authenticate(&ta), Some(ana()));
        assert_eq!(store.authenticate(&tb), Some(ana()));
    }

    #[test]
    fn the_tokens_file_holds_hashes_not_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (info, token) = store.create(ana()).unwrap();
        let text = fs::read_to_string(dir.path().join("tokens.json")).unwrap();
        assert!(!text.contains(&token), "token text in the file");
        assert!(!text.contains(secret_of(&token)), "secret in the file");
        assert!(text.contains(&hex::encode(Sha256::digest(token.as_bytes()))), "hash missing from the file");
        assert!(text.contains(&info.id));
        // Nor in any other file the store leaves in the data directory.
        for entry in fs::read_dir(dir.path()).unwrap() {
            let bytes = fs::read(entry.unwrap().path()).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(secret_of(&token)));
        }
    }

    #[test]
    fn a_revoked_token_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (info, token) = store.create(ana()).unwrap();
        let (_, other) = store.create(ana()).unwrap();
        assert!(store.authenticate(&token).is_some());
        let revoked = store.revoke(&info.id).unwrap();
        assert!(revoked.revoked_at.is_some());
        assert_eq!(store.authenticate(&token), None);
        assert_eq!(store.authenticate(&other), Some(ana()), "revoking one token revoked another");
        assert_eq!(TokenStore::open(dir.path()).unwrap().authenticate(&token), None);
    }

    #[test]
    fn a_token_revoked_before_a_moment_is_refused_at_it_and_the_file_is_read_once_per_moment() {
        let dir = tempfile::tempdir().unwrap();
        let server = TokenStore::open(dir.path()).unwrap();
        let (info, token) = server.create(ana()).unwrap();
        assert_eq!(server.authenticate_at(&token, 1), Some(ana()));
        // Revoked by another process (the CLI) after moment 1 was looked at.
        TokenStore::open(dir.path()).unwrap().revoke(&info.id).unwrap();
        // Moment 1 (and anything before it) keeps what was seen after it: nothing announced
        // after the revocation is at moment 1.
        assert_eq!(server.authenticate_at(&token, 1), Some(ana()));
        assert_eq!(server.authenticate_at(&token, 0), Some(ana()));
        // Every later moment looks again.
        assert_eq!(server.authenticate_at(&token, 2), None);
        assert_eq!(server.authenticate_at(&token, 2), None);
        assert_eq!(server.authenticate_at("fd_not-a-token", 3), None);
        let (_, fresh) = TokenStore::open(dir.path()).unwrap().create(ana()).unwrap();
        assert_eq!(server.authenticate_at(&fresh, 4), Some(ana()), "a token created since is known at the next moment");
    }

    #[test]
    fn a_token_revoked_by_another_process_is_refused_on_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let server = TokenStore::open(dir.path()).unwrap();
        let (info, token) = server.create(ana()).unwrap();
        assert_eq!(server.authenticate(&token), Some(ana()));
        // The CLI: its own store on the same directory, no shared memory.
        let cli = TokenStore::open(dir.path()).unwrap();
        cli.revoke(&info.id).unwrap();
        assert_eq!(server.authenticate(&token), None);
        // Again, many times in a row, so that a stale cache cannot hide behind timestamps that
        // did not tick between writes.
        for _ in 0..20 {
            let (info, token) = TokenStore::open(dir.path()).unwrap().create(ana()).unwrap();
            assert_eq!(server.authenticate(&token), Some(ana()));
            TokenStore::open(dir.path()).unwrap().revoke(&info.id).unwrap();
            assert_eq!(server.authenticate(&token), None);
        }
    }

    #[test]
    fn a_standby_takes_the_primarys_tokens_whole_and_refuses_bytes_that_are_not_a_tokens_file() {
        let primary_dir = tempfile::tempdir().unwrap();
        let standby_dir = tempfile::tempdir().unwrap();
        let primary = TokenStore::open(primary_dir.path()).unwrap();
        let standby = TokenStore::open(standby_dir.path()).unwrap();
        let (_, own) = standby.create(actor("sw-own", Role::Practitioner, Agency::ChildrensSocialCare)).unwrap();
        let (kept_info, kept) = primary.create(ana()).unwrap();
        let (gone_info, gone) = primary.create(actor("sw-ben", Role::Practitioner, Agency::Police)).unwrap();
        primary.revoke(&gone_info.id).unwrap();

        let snapshot = primary.snapshot().unwrap();
        assert!(!String::from_utf8_lossy(&snapshot).contains(&kept), "a snapshot never holds a token's text");
        assert!(standby.replace_with(&snapshot).unwrap(), "the standby's file changed");
        assert!(!standby.replace_with(&snapshot).unwrap(), "the same tokens again change nothing");
        assert_eq!(standby.authenticate(&kept), Some(ana()));
        assert_eq!(standby.authenticate(&gone), None, "revoked on the primary");
        assert_eq!(standby.authenticate(&own), None, "the standby's own tokens are replaced by the primary's");
        assert_eq!(standby.list(), primary.list());
        assert_eq!(fs::read(standby_dir.path().join("tokens.json")).unwrap(), snapshot);

        // Bytes that are not a tokens file change nothing: the last good tokens stay in force.
        for bad in [&b"{}"[..], b"not json", &snapshot[..snapshot.len() / 2]] {
            let err = standby.replace_with(bad).unwrap_err();
            assert!(matches!(err, AuthError::Corrupt { .. }), "{err}");
            assert_eq!(standby.authenticate(&kept), Some(ana()));
            assert_eq!(standby.authenticate(&gone), None);
        }
        assert_eq!(standby.list().iter().map(|t| t.id.clone()).collect::<Vec<_>>(), [kept_info.id, gone_info.id]);
    }

    #[test]
    fn a_token_created_by_another_process_is_accepted_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let server = TokenStore::open(dir.path()).unwrap();
        let partner = actor("pc-jo", Role::Partner, Agency::Police);
        let (_, token) = TokenStore::open(dir.path()).unwrap().create(partner.clone()).unwrap();
        assert_eq!(server.authenticate(&token), Some(partner));
    }

    #[test]
    fn malformed_and_unknown_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (info, token) = store.create(ana()).unwrap();
        let secret = secret_of(&token).to_owned();
        let (other_info, other_token) = store.create(ana()).unwrap();
        let unknown = format!("fd_{}_{}", "0".repeat(12), "0".repeat(64));
        let cases = [
            String::new(),
            "fd_".to_owned(),
            "Bearer ".to_owned() + &token,
            token.to_uppercase(),
            format!("{token} "),
            format!(" {token}"),
            format!("{token}\n"),
            format!("{token}0"),
            token[..token.len() - 1].to_owned(),
            token.replacen("fd_", "fe_", 1),
            token.replacen("fd_", "", 1),
            secret.clone(),
            info.id.clone(),
            format!("fd_{}_{}", info.id, "0".repeat(64)),
            format!("fd_{}_{secret}", other_info.id),
            format!("fd_{}-{secret}", info.id),
            format!("fd_{}_{}é", info.id, &secret[..62]),
            format!("fd_{}é_{secret}", &info.id[..10]),
            unknown,
            "x".repeat(100_000),
        ];
        for case in &cases {
            assert_eq!(store.authenticate(case), None, "accepted {case:?}");
        }
        assert_eq!(store.authenticate(&token), Some(ana()));
        assert_eq!(store.authenticate(&other_token), Some(ana()));
    }

    #[test]
    fn listing_shows_tokens_but_never_secrets_or_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (a, ta) = store.create(ana()).unwrap();
        let (b, tb) = store.create(actor("hv-sam", Role::Partner, Agency::Health)).unwrap();
        store.revoke(&b.id).unwrap();
        let listed = store.list();
        assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [a.id.as_str(), b.id.as_str()]);
        assert_eq!(listed[0], a);
        assert!(listed[1].revoked_at.is_some());
        assert_eq!(store.try_list().unwrap(), listed);
        let shown = format!("{listed:?} {}", serde_json::to_string(&listed).unwrap());
        for token in [&ta, &tb] {
            assert!(!shown.contains(secret_of(token)), "secret shown: {shown}");
            assert!(!shown.contains(&hex::encode(Sha256::digest(token.as_bytes()))), "hash shown: {shown}");
        }
        assert!(!format!("{store:?}").contains(secret_of(&ta)));
    }

    #[test]
    fn revoking_an_unknown_id_is_an_error_and_revoking_twice_keeps_the_first_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let err = store.revoke("0123456789ab").unwrap_err();
        assert!(matches!(err, AuthError::UnknownToken(ref id) if id == "0123456789ab"), "{err}");
        let (info, _) = store.create(ana()).unwrap();
        let first = store.revoke(&info.id).unwrap();
        let second = store.revoke(&info.id).unwrap();
        assert_eq!(first.revoked_at, second.revoked_at);
        assert!(first.revoked_at.unwrap() >= info.created_at);
    }

    #[test]
    fn an_actor_id_that_cannot_name_anyone_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        for id in ["", "  ", " sw-ana", "sw-ana\n", "sw\u{0}ana", &"a".repeat(129)] {
            let err = store.create(actor(id, Role::Admin, Agency::ChildrensSocialCare)).unwrap_err();
            assert!(matches!(err, AuthError::InvalidActor { .. }), "{id:?}: {err}");
        }
        assert!(store.list().is_empty());
    }

    #[test]
    fn the_tokens_file_is_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = TokenStore::open(&data).unwrap();
        let path = data.join("tokens.json");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&data), 0o700);
        let (info, _) = store.create(ana()).unwrap();
        assert_eq!(mode(&path), 0o600);
        store.revoke(&info.id).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&data.join("tokens.lock")), 0o600);
        assert!(!data.join("tokens.json.tmp").exists());
    }

    #[test]
    fn a_tokens_file_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(TokenStore::open(dir.path()).unwrap());
        let path = dir.path().join("tokens.json");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = TokenStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, AuthError::InsecurePermissions { mode: 0o644, .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn a_corrupt_tokens_file_is_an_error_naming_it_never_an_empty_list() {
        for content in ["", "{not json", "[]", r#"{"format":"frontdoor-tokens","version":2,"tokens":[]}"#] {
            let dir = tempfile::tempdir().unwrap();
            drop(TokenStore::open(dir.path()).unwrap());
            let path = dir.path().join("tokens.json");
            fs::write(&path, content).unwrap();
            let err = TokenStore::open(dir.path()).unwrap_err();
            assert!(matches!(err, AuthError::Corrupt { .. }), "{content:?}: {err}");
            assert!(err.to_string().contains(&path.display().to_string()), "{err}");
            assert_eq!(fs::read_to_string(&path).unwrap(), content, "open rewrote a corrupt file");
        }
    }

    #[test]
    fn tokens_files_with_duplicate_or_malformed_entries_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        store.create(ana()).unwrap();
        let path = dir.path().join("tokens.json");
        let good: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let entry = good["tokens"][0].clone();
        let mut edits: Vec<serde_json::Value> = Vec::new();
        edits.push(serde_json::json!([entry, entry]));
        for (field, value) in [
            ("id", serde_json::json!("short")),
            ("sha256", serde_json::json!("zz")),
            ("sha256", serde_json::json!("AB".repeat(32))),
            ("role", serde_json::json!("superuser")),
            ("extra", serde_json::json!(1)),
        ] {
            let mut e = entry.clone();
            if field == "role" {
                e["actor"]["role"] = value;
            } else {
                e[field] = value;
            }
            edits.push(serde_json::json!([e]));
        }
        for tokens in edits {
            let mut file = good.clone();
            file["tokens"] = tokens.clone();
            fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
            let err = TokenStore::open(dir.path()).unwrap_err();
            assert!(matches!(err, AuthError::Corrupt { .. }), "{tokens}: {err}");
        }
    }

    #[test]
    fn a_running_store_refuses_every_token_while_the_file_is_corrupt_or_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (_, token) = store.create(ana()).unwrap();
        let path = dir.path().join("tokens.json");
        let good = fs::read(&path).unwrap();

        fs::write(&path, b"{").unwrap();
        assert_eq!(store.authenticate(&token), None);
        assert!(matches!(store.create(ana()), Err(AuthError::Corrupt { .. })));
        assert!(matches!(store.try_list(), Err(AuthError::Corrupt { .. })));
        assert_eq!(store.list().len(), 1, "list shows the tokens as last read, not an empty list");
        assert_eq!(fs::read(&path).unwrap(), b"{", "a write replaced a corrupt file");

        fs::remove_file(&path).unwrap();
        assert_eq!(store.authenticate(&token), None);
        assert!(matches!(store.revoke("0123456789ab"), Err(AuthError::Io { .. })));

        fs::write(&path, &good).unwrap();
        assert_eq!(store.authenticate(&token), Some(ana()), "not usable again once restored");
    }

    #[test]
    fn concurrent_writers_lose_no_tokens() {
        let dir = tempfile::tempdir().unwrap();
        TokenStore::open(dir.path()).unwrap();
        let tokens: Vec<String> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        let store = TokenStore::open(dir.path()).unwrap();
                        (0..8).map(|_| store.create(ana()).unwrap().1).collect::<Vec<_>>()
                    })
                })
                .collect();
            writers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let store = TokenStore::open(dir.path()).unwrap();
        assert_eq!(store.list().len(), 24);
        for token in &tokens {
            assert_eq!(store.authenticate(token), Some(ana()));
        }
    }

    #[test]
    fn the_store_is_shareable_between_threads() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<TokenStore>();
    }

    #[test]
    fn who_may_create_a_contact() {
        let expected = [Y, Y, Y, N, N, Y, N, N];
        for (role, expected) in ROLES.iter().zip(expected) {
            assert_eq!(may_create_contact(*role), expected, "{role}");
        }
    }

    #[test]
    fn the_append_matrix() {
        // Columns: referrer, practitioner, decision_maker, partner, auditor, admin, receiving_team, monitor.
        let expected: [(&str, [bool; 8]); 25] = [
            ("contact_received", [N, N, N, N, N, N, N, N]),
            // Recorded by `POST /v1/duty-debriefs` (`may_record_duty_debrief`), never appended.
            ("duty_debrief_recorded", [N, N, N, N, N, N, N, N]),
            // Recorded by `POST /v1/consultations` (`may_record_consultation`), never appended.
            ("consultation_recorded", [N, N, N, N, N, N, N, N]),
            ("triage_rated", [N, Y, Y, N, N, Y, N, N]),
            ("call_logged", [N, Y, Y, N, N, Y, N, N]),
            ("checks_requested", [N, Y, Y, N, N, Y, N, N]),
            ("checks_returned", [N, Y, Y, Y, N, Y, N, N]),
            ("duty_discussion_held", [N, Y, Y, Y, N, Y, N, N]),
            ("consent_recorded", [N, Y, Y, N, N, Y, N, N]),
            ("decision_made", [N, N, Y, N, N, Y, N, N]),
            ("action_plan_agreed", [N, Y, Y, N, N, Y, N, N]),
            ("referrer_informed", [N, Y, Y, N, N, Y, N, N]),
            ("handover_sent", [N, Y, Y, N, N, Y, N, N]),
            // Practitioners and decision makers only for handovers not to the assessment team or
            // early help, the receiving team only for its own: see may_answer_handover.
            ("handover_accepted", [N, Y, Y, N, N, Y, Y, N]),
            ("handover_returned", [N, Y, Y, N, N, Y, Y, N]),
            ("contact_closed", [N, Y, Y, N, N, Y, N, N]),
            // A referrer's on its own open contacts only (reads_contact, rules::decide_by_actor).
            ("note_added", [Y, Y, Y, Y, N, Y, N, N]),
            ("correction_recorded", [N, Y, Y, Y, N, Y, N, N]),
            ("audit_finding_recorded", [N, N, N, N, Y, Y, N, N]),
            ("children_linked", [N, Y, Y, N, N, Y, N, N]),
            ("children_unlinked", [N, Y, Y, N, N, Y, N, N]),
            // A practitioner to themselves only, a receiving team its own worker on its own
            // accepted handovers (rules::decide_by_actor).
            ("contact_allocated", [N, Y, Y, N, N, Y, Y, N]),
            ("referrer_feedback_given", [Y, N, N, N, N, Y, N, N]),
            ("strategy_discussion_held", [N, Y, Y, N, N, Y, N, N]),
            // A partner completes its own agency's actions only (partner_may_complete).
            ("action_completed", [N, Y, Y, Y, N, Y, N, N]),
        ];
        let covered: HashSet<EventType> = expected.iter().map(|(t, _)| t.parse().unwrap()).collect();
        assert_eq!(
            covered,
            EventType::ALL.iter().copied().collect::<HashSet<_>>(),
            "the table must cover every event type once"
        );
        assert_eq!(covered.len(), expected.len());
        assert_eq!(
            ROLES.iter().collect::<HashSet<_>>(),
            Role::ALL.iter().collect::<HashSet<_>>(),
            "a role is missing a column"
        );
        for (name, row) in expected {
            let event_type: EventType = name.parse().unwrap();
            for (role, may) in ROLES.iter().zip(row) {
                assert_eq!(may_append(*role, event_type), may, "{role} appending {name}");
            }
        }
    }

    #[test]
    fn the_read_matrix() {
        // Columns: referrer, practitioner, decision_maker, partner, auditor, admin, receiving_team, monitor.
        let expected = [
            // The receiving team's: its own handovers only (reads_contact, awaits_team).
            (ReadKind::Queue, [N, Y, Y, Y, Y, Y, Y, N]),
            // The referrer's: its own contacts only, in a referrer's view.
            (ReadKind::Contact, [Y, Y, Y, Y, Y, Y, Y, N]),
            (ReadKind::ContactEvents, [N, Y, Y, Y, Y, Y, Y, N]),
            (ReadKind::ContactAudit, [N, N, N, N, Y, Y, N, N]),
            (ReadKind::GlobalEvents, [N, N, N, N, Y, Y, N, N]),
            (ReadKind::Metrics, [N, Y, Y, N, Y, Y, N, N]),
            (ReadKind::Trends, [N, Y, Y, Y, Y, Y, N, N]),
            (ReadKind::AuditSample, [N, N, N, N, Y, Y, N, N]),
            (ReadKind::AsOf, [N, N, Y, N, Y, Y, N, N]),
            (ReadKind::Board, [N, Y, Y, Y, Y, Y, N, N]),
            (ReadKind::ServiceMetrics, [N, N, N, N, N, Y, N, Y]),
            (ReadKind::Children, [N, Y, Y, Y, Y, Y, N, N]),
            (ReadKind::AccessLog, [N, N, N, N, Y, Y, N, N]),
            (ReadKind::OwnContacts, [Y, N, N, N, N, N, N, N]),
            // The duty team's account of its day: not partners', referrers' or receiving teams'.
            (ReadKind::DutyDebriefs, [N, Y, Y, N, Y, Y, N, N]),
            // Consultations may name children: read like contacts by the duty team, auditors
            // and admins; never by referrers, receiving teams or partners.
            (ReadKind::Consultations, [N, Y, Y, N, Y, Y, N, N]),
        ];
        // A new kind of read fails to compile here until it has a row.
        let row = |kind: ReadKind| match kind {
            ReadKind::Queue => 0,
            ReadKind::Contact => 1,
            ReadKind::ContactEvents => 2,
            ReadKind::ContactAudit => 3,
            ReadKind::GlobalEvents => 4,
            ReadKind::Metrics => 5,
            ReadKind::Trends => 6,
            ReadKind::AuditSample => 7,
            ReadKind::AsOf => 8,
            ReadKind::Board => 9,
            ReadKind::ServiceMetrics => 10,
            ReadKind::Children => 11,
            ReadKind::AccessLog => 12,
            ReadKind::OwnContacts => 13,
            ReadKind::DutyDebriefs => 14,
            ReadKind::Consultations => 15,
        };
        assert_eq!(ReadKind::ALL.len(), expected.len());
        for kind in ReadKind::ALL {
            assert_eq!(expected[row(*kind)].0, *kind);
        }
        for (kind, columns) in expected {
            for (role, may) in ROLES.iter().zip(columns) {
                assert_eq!(may_read(*role, kind), may, "{role} reading {kind:?}");
            }
        }
    }

    #[test]
    fn who_sees_restricted_checks() {
        use Agency::{ChildrensSocialCare, Education, Health, Other, Police};
        // (viewer role, viewer agency, returning agency, may see)
        let cases = [
            (Role::DecisionMaker, ChildrensSocialCare, Police, Y),
            (Role::Auditor, Other, Health, Y),
            (Role::Admin, ChildrensSocialCare, Police, Y),
            (Role::Partner, Police, Police, Y),
            (Role::Partner, Health, Health, Y),
            (Role::Partner, Health, Police, N),
            (Role::Partner, Education, Police, N),
            (Role::Partner, ChildrensSocialCare, Police, N),
            (Role::Practitioner, ChildrensSocialCare, Police, N),
            (Role::Practitioner, Police, Police, N),
            (Role::Referrer, Police, Police, N),
            (Role::Referrer, Health, Police, N),
        ];
        for (role, agency, returning, may) in cases {
            assert_eq!(
                may_see_restricted(&actor("v", role, agency), returning),
                may,
                "{role} of {agency} / {returning}"
            );
        }
        // And every combination: only partners depend on their agency.
        for role in ROLES {
            for agency in Agency::ALL {
                for returning in Agency::ALL {
                    let may = may_see_restricted(&actor("v", role, *agency), *returning);
                    match role {
                        Role::DecisionMaker | Role::Auditor | Role::Admin => assert!(may),
                        Role::Partner => assert_eq!(may, agency == returning),
                        Role::Referrer | Role::Practitioner | Role::ReceivingTeam | Role::Monitor => assert!(!may),
                    }
                }
            }
        }
    }

    fn team(id: &str, name: &str) -> Actor {
        Actor {
            id: id.to_owned(),
            role: Role::ReceivingTeam,
            agency: Agency::ChildrensSocialCare,
            team: Some(name.into()),
        }
    }

    fn handover(to: HandoverTo, team: Option<&str>) -> Handover {
        Handover {
            sent_event_id: ulid::Ulid::nil(),
            answer_event_id: None,
            to,
            team: team.map(Into::into),
            sent_at: Utc::now(),
            status: projections::contact::HandoverStatus::Pending,
            answered_at: None,
            accepted_team: None,
            worker: None,
            returned_reason: None,
        }
    }

    /// A contact received, decided and handed over `to` `team`, then `then` (if any).
    fn handed_over(to: HandoverTo, team: Option<&str>, then: Option<events::schema::Event>) -> ContactState {
        use events::schema::*;
        let received = Event::ContactReceived(ContactReceived {
            channel: Channel::Phone,
            source: SourceCode::Police,
            referrer: Referrer { name: "PC Example".into(), organisation: None, role: None, phone: None, email: None },
            children: Vec::new(),
            concerns: "c".into(),
            immediate_risk: false,
            consent: Consent::Unknown,
            consent_override_reason: None,
            ppn_grade: None,
            adults: Vec::new(),
            concern_categories: Vec::new(),
            follows_consultation: None,
        });
        let decided = Event::DecisionMade(DecisionMade {
            outcome: Outcome::Assessment,
            rationale: "r".into(),
            level_of_need: None,
            primary_need: None,
            revises: None,
            duplicate_of: None,
            children: Vec::new(),
            concern_categories: Vec::new(),
        });
        let sent = Event::HandoverSent(HandoverSent { to, team: team.map(Into::into), notes: None });
        let envs: Vec<eventlog::Envelope> = [Some(received), Some(decided), Some(sent), then]
            .into_iter()
            .flatten()
            .zip(1u32..)
            .map(|(ev, v)| eventlog::Envelope {
                position: u64::from(v),
                event_id: ulid::Ulid::from_parts(u64::from(v), 1),
                contact_id: ulid::Ulid::from_parts(1, 1),
                version: v,
                event_type: ev.event_type(),
                schema_version: CURRENT_SCHEMA_VERSION,
                occurred_at: Utc::now(),
                late_entry_reason: None,
                recorded_at: Utc::now(),
                actor: ana(),
                data: ev.data_json(),
                prev_hash: eventlog::Hash::GENESIS,
                hash: eventlog::Hash::GENESIS,
            })
            .collect();
        ContactState::fold(&envs).unwrap().unwrap()
    }

    #[test]
    fn team_names_match_ignoring_case_and_spacing_only() {
        assert!(same_team("AT North", "AT North"));
        assert!(same_team("AT North", " at  NORTH "));
        assert!(!same_team("AT North", "AT South"));
        assert!(!same_team("AT North", "ATNorth"));
        assert!(!same_team("AT North", "AT North 2"));
    }

    #[test]
    fn a_receiving_team_reads_only_the_contacts_whose_latest_handover_names_it() {
        use events::schema::{Event, HandoverAccepted, HandoverReturned};
        let north = team("at-sam", "AT North");
        let south = team("at-kim", "AT South");
        let pending = handed_over(HandoverTo::AssessmentTeam, Some("at north"), None);
        assert!(reads_contact(&north, &pending) && awaits_team(&north, &pending));
        assert!(!reads_contact(&south, &pending) && !awaits_team(&south, &pending));
        // Answered: still its contact to read, no longer awaiting it.
        let accepted =
            Event::HandoverAccepted(HandoverAccepted { team: "AT North".into(), worker: None, evidence: None });
        let accepted = handed_over(HandoverTo::AssessmentTeam, Some("AT North"), Some(accepted));
        assert!(reads_contact(&north, &accepted) && !awaits_team(&north, &accepted));
        let returned = Event::HandoverReturned(HandoverReturned { reason: "r".into() });
        let returned = handed_over(HandoverTo::AssessmentTeam, Some("AT North"), Some(returned));
        assert!(reads_contact(&north, &returned) && !awaits_team(&north, &returned));
        // A handover naming no team is nobody's.
        let unnamed = handed_over(HandoverTo::Community, None, None);
        assert!(!reads_contact(&north, &unnamed) && !awaits_team(&north, &unnamed));
        // Every other role that may read contacts reads them all, but a referrer: its own only.
        let others = ROLES.into_iter().filter(|r| !matches!(r, Role::ReceivingTeam | Role::Referrer));
        for role in others.filter(|r| may_read(*r, ReadKind::Contact)) {
            assert!(reads_contact(&actor("x", role, Agency::Police), &pending), "{role}");
        }
        assert!(!reads_contact(&actor("x", Role::Referrer, Agency::Police), &pending));
        assert!(reads_contact(&actor(&pending.made_by, Role::Referrer, Agency::Police), &pending));
    }

    #[test]
    fn who_may_answer_a_handover() {
        use HandoverTo::{AllocatedWorker, AssessmentTeam, Community, EarlyHelp, Other, Tafso};
        let north = team("at-sam", "AT North");
        for to in [AssessmentTeam, EarlyHelp, Community, Tafso, AllocatedWorker, Other] {
            let named = handover(to, Some("AT North"));
            let to_a_team = matches!(to, AssessmentTeam | EarlyHelp);
            assert!(may_answer_handover(&north, &named), "{to}");
            assert!(!may_answer_handover(&team("at-kim", "AT South"), &named), "{to}");
            assert!(!may_answer_handover(&north, &handover(to, None)), "{to}");
            for agency in [Agency::ChildrensSocialCare, Agency::Police] {
                assert!(may_answer_handover(&actor("a", Role::Admin, agency), &named));
                for role in [Role::Practitioner, Role::DecisionMaker] {
                    assert_eq!(may_answer_handover(&actor("p", role, agency), &named), !to_a_team, "{role} {to}");
                }
                for role in [Role::Referrer, Role::Partner, Role::Auditor] {
                    assert!(!may_answer_handover(&actor("p", role, agency), &named), "{role} {to}");
                }
            }
        }
    }

    #[test]
    fn a_receiving_team_token_needs_its_team_and_no_other_role_has_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (_, token) = store.create(team("at-sam", "AT North")).unwrap();
        assert_eq!(store.authenticate(&token).unwrap().team.as_deref(), Some("AT North"));
        let mut bad = vec![Actor { team: None, ..team("at-sam", "x") }];
        for name in ["", " ", " AT North", "AT\tNorth", &"A".repeat(201)] {
            bad.push(team("at-sam", name));
        }
        bad.push(Actor { team: Some("AT North".into()), ..ana() });
        for actor in bad {
            let err = store.create(actor.clone()).unwrap_err();
            assert!(matches!(err, AuthError::InvalidTeam { .. }), "{actor:?}: {err}");
        }
        assert_eq!(store.list().len(), 1);
    }

    #[test]
    fn a_receiving_team_sees_restricted_checks_only_when_configured_to() {
        let north = team("at-sam", "AT North");
        for agency in Agency::ALL {
            assert!(!north.may_see_restricted(*agency));
            assert!(!Viewer { actor: &north, receiving_team_sees_restricted: false }.may_see_restricted(*agency));
            assert!(Viewer { actor: &north, receiving_team_sees_restricted: true }.may_see_restricted(*agency));
            // The setting changes nothing for anyone else.
            for role in ROLES.into_iter().filter(|r| *r != Role::ReceivingTeam) {
                let other = actor("x", role, Agency::Health);
                for configured in [false, true] {
                    let viewer = Viewer { actor: &other, receiving_team_sees_restricted: configured };
                    assert_eq!(viewer.may_see_restricted(*agency), may_see_restricted(&other, *agency));
                }
            }
        }
    }

    #[test]
    fn partners_return_checks_only_for_their_own_agency() {
        for agency in Agency::ALL {
            for returning in Agency::ALL {
                let partner = actor("p", Role::Partner, *agency);
                assert_eq!(partner_may_return_checks_for(&partner, *returning), agency == returning);
                for role in [Role::Practitioner, Role::DecisionMaker, Role::Admin] {
                    assert!(partner_may_return_checks_for(&actor("p", role, *agency), *returning));
                }
            }
        }
        let police = actor("pc-jo", Role::Partner, Agency::Police);
        assert!(partner_may_return_checks_for(&police, Agency::Police));
        assert!(!partner_may_return_checks_for(&police, Agency::Health));
    }
}
