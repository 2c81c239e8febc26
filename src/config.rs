//! Configuration: defaults, then a TOML file (`--config` / `FRONTDOOR_CONFIG`), then
//! environment variables and flags (clap reads both; a flag beats its variable).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use projections::locality::Localities;
use projections::time::DuePolicy;
use serde::Deserialize;

/// The default request body limit: 64 KiB, as the API contract says.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long a client has to send a request's headers, in seconds: from the connection's
/// opening, and again from the end of each response on a kept-alive connection (so it is the
/// idle keep-alive timeout too).
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// How long a client has to send a request's whole body, in seconds, from the moment its
/// headers are read.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
/// Connections open at once; past it a new one is closed as soon as it is accepted.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// The default free-space reserve, in MiB (see [`eventlog::Options::min_free_bytes`]).
pub const DEFAULT_MIN_FREE_MB: u64 = eventlog::DEFAULT_MIN_FREE_BYTES / (1024 * 1024);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for production log collectors.
    Json,
}

/// The resolved configuration of a running service.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    pub body_limit: usize,
    /// Free space (MiB) kept in reserve on the data directory's file system: appends are
    /// refused with a 503 below it, and resume by themselves once space is freed.
    pub min_free_mb: u64,
    pub log_format: LogFormat,
    /// When a contact is due a decision (working days, urgent hours, bank holidays).
    pub policy: DuePolicy,
    /// How often the duty queue is checked for contacts turning overdue.
    pub overdue_tick: std::time::Duration,
    /// Whether receiving teams see restricted agency checks on the contacts handed over to them
    /// (default false: only decision makers, auditors, admins and the returning agency's
    /// partners see them).
    pub receiving_team_sees_restricted: bool,
    /// Host names (without port) the service answers to besides `localhost` and the listen
    /// address; any other `Host` is refused (a DNS-rebinding page names its own). When the
    /// service listens on every address (`0.0.0.0`, `::`), any IP address is answered too: a
    /// rebinding needs a name.
    pub allowed_hosts: Vec<String>,
    /// Whether the session cookie is `Secure` (sent by browsers over https only). On by
    /// default; off by default with `--demo`, which serves plain http on loopback.
    pub secure_cookie: bool,
    /// How long a client has to send a request's headers (and how long a kept-alive connection
    /// may wait idle for its next request).
    pub header_read_timeout: std::time::Duration,
    /// How long a client has to send a request's whole body, once its headers are read.
    pub body_timeout: std::time::Duration,
    /// Connections open at once; past it, new ones are closed at once, never queued.
    pub max_connections: usize,
    /// The localities every figure can be split by (`[localities]`: name → postcode districts).
    pub localities: Localities,
    /// `[replication]`: the log replicated through NATS JetStream. `None` (the default) is one
    /// machine.
    pub replication: Option<crate::replication::ReplicationConfig>,
}

impl Config {
    /// A configuration for `data_dir` with every default (tests use this).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            listen: DEFAULT_LISTEN.into(),
            body_limit: DEFAULT_BODY_LIMIT,
            min_free_mb: DEFAULT_MIN_FREE_MB,
            log_format: LogFormat::Text,
            policy: DuePolicy::default(),
            overdue_tick: std::time::Duration::from_secs(1),
            receiving_team_sees_restricted: false,
            allowed_hosts: Vec::new(),
            secure_cookie: false,
            header_read_timeout: std::time::Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            body_timeout: std::time::Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            localities: Localities::default(),
            replication: None,
        }
    }
}

/// The configuration file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    body_limit: Option<usize>,
    /// No longer used (it sized sled's page cache; the log's index is now in memory): still
    /// accepted so that an older configuration file loads.
    #[allow(dead_code)]
    cache_mb: Option<u64>,
    min_free_mb: Option<u64>,
    log_format: Option<LogFormat>,
    policy: Option<DuePolicy>,
    receiving_team_sees_restricted: Option<bool>,
    allowed_hosts: Option<Vec<String>>,
    secure_cookie: Option<bool>,
    header_read_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    localities: Option<BTreeMap<String, Vec<String>>>,
    replication: Option<crate::replication::config::ReplicationFile>,
}

/// `frontdoor serve` flags; each also reads its environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (see ops/frontdoor.example.toml).
    #[arg(long, env = "FRONTDOOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the log, tokens and access log live. With --demo and none given, a fresh
    /// temporary directory.
    #[arg(long, env = "FRONTDOOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, env = "FRONTDOOR_LISTEN")]
    pub listen: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, env = "FRONTDOOR_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Working days a contact has for a decision.
    #[arg(long, env = "FRONTDOOR_DUE_WORKING_DAYS")]
    pub due_working_days: Option<u32>,
    /// Hours a red-rated or immediate-risk contact has for a decision.
    #[arg(long, env = "FRONTDOOR_URGENT_HOURS")]
    pub urgent_hours: Option<u32>,
    /// Free space (MiB) kept in reserve on the data directory's file system; appends are
    /// refused (503) while less is free and resume once space is freed. Default 64.
    #[arg(long, env = "FRONTDOOR_MIN_FREE_MB")]
    pub min_free_mb: Option<u64>,
    /// Log format.
    #[arg(long, env = "FRONTDOOR_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// How often (milliseconds) the queue is checked for contacts turning overdue.
    #[arg(long, env = "FRONTDOOR_OVERDUE_TICK_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub overdue_tick_ms: u64,
    /// Host names the service answers to besides localhost and the listen address, comma
    /// separated (e.g. frontdoor.council.example).
    #[arg(long, env = "FRONTDOOR_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Option<Vec<String>>,
    /// Whether the session cookie is Secure (https only): default true, false with --demo.
    #[arg(long, env = "FRONTDOOR_SECURE_COOKIE")]
    pub secure_cookie: Option<bool>,
    /// Seconds a client has to send a request's headers (and a kept-alive connection may
    /// wait idle). Default 10.
    #[arg(long, env = "FRONTDOOR_HEADER_READ_TIMEOUT_SECS")]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's whole body once its headers are read. Default 30.
    #[arg(long, env = "FRONTDOOR_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Connections open at once; past it new ones are closed at once. Default 4096.
    #[arg(long, env = "FRONTDOOR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Fill an empty log with four weeks of synthetic contacts and print a token per role.
    #[arg(long)]
    pub demo: bool,
}

impl ServeArgs {
    /// Resolves defaults ← file ← environment/flags.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = match self.data_dir.clone().or(file.data_dir) {
            Some(dir) => dir,
            None if self.demo => std::env::temp_dir().join(format!("frontdoor-demo-{}", ulid::Ulid::new())),
            None => anyhow::bail!(
                "say where the data lives: --data-dir DIR (or FRONTDOOR_DATA_DIR, or data_dir in the config file)"
            ),
        };
        let mut policy = file.policy.unwrap_or_default();
        if let Some(days) = self.due_working_days {
            policy.working_days = days;
        }
        if let Some(hours) = self.urgent_hours {
            policy.urgent_hours = hours;
        }
        let body_limit = self.body_limit.or(file.body_limit).unwrap_or(DEFAULT_BODY_LIMIT);
        anyhow::ensure!((1024..=16 * 1024 * 1024).contains(&body_limit), "body_limit must be 1 KiB to 16 MiB");
        let header_read_timeout =
            self.header_read_timeout_secs.or(file.header_read_timeout_secs).unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_SECS);
        anyhow::ensure!((1..=3600).contains(&header_read_timeout), "header_read_timeout_secs must be 1 to 3600");
        let body_timeout = self.body_timeout_secs.or(file.body_timeout_secs).unwrap_or(DEFAULT_BODY_TIMEOUT_SECS);
        anyhow::ensure!((1..=3600).contains(&body_timeout), "body_timeout_secs must be 1 to 3600");
        let max_connections = self.max_connections.or(file.max_connections).unwrap_or(DEFAULT_MAX_CONNECTIONS);
        anyhow::ensure!((1..=1_000_000).contains(&max_connections), "max_connections must be 1 to 1,000,000");
        // The demo county's localities unless the file names some.
        let localities = match file.localities {
            Some(table) => Localities::new(table).map_err(anyhow::Error::msg)?,
            None if self.demo => demo::localities(),
            None => Localities::default(),
        };
        Ok(Config {
            data_dir,
            listen: self.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into()),
            body_limit,
            min_free_mb: self.min_free_mb.or(file.min_free_mb).unwrap_or(DEFAULT_MIN_FREE_MB),
            log_format: self.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            policy,
            overdue_tick: std::time::Duration::from_millis(self.overdue_tick_ms.max(10)),
            receiving_team_sees_restricted: file.receiving_team_sees_restricted.unwrap_or(false),
            allowed_hosts: allowed_hosts(self.allowed_hosts.clone().or(file.allowed_hosts).unwrap_or_default())?,
            secure_cookie: self.secure_cookie.or(file.secure_cookie).unwrap_or(!self.demo),
            header_read_timeout: std::time::Duration::from_secs(header_read_timeout),
            body_timeout: std::time::Duration::from_secs(body_timeout),
            max_connections,
            localities,
            replication: file.replication.map(crate::replication::config::ReplicationFile::check).transpose()?,
        })
    }
}

/// Host names as the `Host` header is compared with them: lower case, no port; a name with a
/// port, a scheme or a path is a mistake in the configuration, said at start.
fn allowed_hosts(names: Vec<String>) -> anyhow::Result<Vec<String>> {
    names
        .into_iter()
        .map(|name| {
            let name = name.trim().to_ascii_lowercase();
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            anyhow::ensure!(valid, "allowed_hosts: {name:?} is not a host name (no scheme, port or path)");
            Ok(name)
        })
        .collect()
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontdoor.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/frontdoor\"\nlisten = \"0.0.0.0:9000\"\nbody_limit = 32768\n[policy]\nurgent_hours = 4\n",
        )
        .unwrap();
        let args = ServeArgs { config: Some(path), listen: Some("127.0.0.1:0".into()), ..ServeArgs::default() };
        let config = args.resolve().unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/frontdoor"));
        assert_eq!(config.listen, "127.0.0.1:0");
        assert_eq!(config.body_limit, 32768);
        assert_eq!(config.policy.urgent_hours, 4);
        assert_eq!(config.policy.working_days, 1);
        assert!(!config.receiving_team_sees_restricted);
    }

    #[test]
    fn the_file_may_let_receiving_teams_see_restricted_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontdoor.toml");
        std::fs::write(&path, "data_dir = \"/srv\"\nreceiving_team_sees_restricted = true\n").unwrap();
        let config = ServeArgs { config: Some(path), ..ServeArgs::default() }.resolve().unwrap();
        assert!(config.receiving_team_sees_restricted);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontdoor.toml");
        std::fs::write(&path, "data_dri = \"/srv\"\n").unwrap();
        let err = ServeArgs { config: Some(path), ..ServeArgs::default() }.resolve().unwrap_err();
        assert!(format!("{err:#}").contains("data_dri"), "{err:#}");
    }

    #[test]
    fn localities_are_read_and_a_bad_table_refuses_the_start_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontdoor.toml");
        let resolve = |text: &str| {
            std::fs::write(&path, format!("data_dir = \"/srv\"\n[localities]\n{text}")).unwrap();
            ServeArgs { config: Some(path.clone()), ..ServeArgs::default() }.resolve()
        };
        let config = resolve("\"North\" = [\"ex31\", \"EX32\"]\n\"Exeter\" = [\"EX1\"]\n").unwrap();
        assert_eq!(config.localities.configured(), ["Exeter", "North"]);
        assert_eq!(config.localities.districts_of("North").len(), 2);
        let err = resolve("\"North\" = [\"EX31\"]\n\"South\" = [\"EX31\"]\n").unwrap_err();
        assert!(format!("{err:#}").contains("EX31 is listed by both \"North\" and \"South\""), "{err:#}");
        let err = resolve("\"North\" = [\"EX3!\"]\n").unwrap_err();
        assert!(format!("{err:#}").contains("localities.North: \"EX3!\""), "{err:#}");
    }

    #[test]
    fn without_a_data_dir_serve_says_how_to_give_one() {
        let err = ServeArgs::default().resolve().unwrap_err();
        assert!(err.to_string().contains("--data-dir"));
        let demo = ServeArgs { demo: true, ..ServeArgs::default() }.resolve().unwrap();
        assert!(demo.data_dir.starts_with(std::env::temp_dir()));
    }

    #[test]
    fn the_example_file_parses_and_the_reserve_flag_beats_it() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/frontdoor.example.toml");
        let config = ServeArgs { config: Some(example.into()), ..ServeArgs::default() }.resolve().unwrap();
        assert_eq!(config.min_free_mb, 64);
        assert!(!config.receiving_team_sees_restricted, "restricted checks stay hidden from receiving teams");
        let args = ServeArgs { config: Some(example.into()), min_free_mb: Some(2), ..ServeArgs::default() };
        assert_eq!(args.resolve().unwrap().min_free_mb, 2);
        assert_eq!(config.header_read_timeout, std::time::Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS));
        assert_eq!(config.body_timeout, std::time::Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS));
        assert_eq!(config.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(config.localities.configured(), ["Exeter", "North", "South and West"]);
    }
}
