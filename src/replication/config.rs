//! `[replication]` in the configuration file: where NATS is, how to sign in, the stream, this
//! node's name and role, and what an acknowledgement waits for. Checked at start; a mistake is
//! said with the key it is in.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// What a node starts as when its data directory does not say (`promote` and a fencing
/// write `replication.role` there, which wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Takes writes, publishes every append to the stream.
    Primary,
    /// Follows the stream into its own log, serves reads, answers writes 503.
    Standby,
}

/// What a write's 201 waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acks {
    /// The local `fdatasync` and JetStream's ack (the append is on a quorum of the stream's
    /// replicas): nothing acknowledged is lost with this machine.
    #[default]
    Replicated,
    /// The local `fdatasync` only; the append is published in the background, in order.
    Local,
}

/// How the node signs in to NATS.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// A NATS credentials file (JWT and NKey seed).
    CredentialsFile(PathBuf),
    UserPassword {
        user: String,
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::CredentialsFile(path) => f.debug_tuple("CredentialsFile").field(path).finish(),
            Auth::UserPassword { user, .. } => {
                f.debug_struct("UserPassword").field("user", user).field("password", &"…").finish()
            }
        }
    }
}

/// The checked `[replication]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationConfig {
    pub urls: Vec<String>,
    pub auth: Auth,
    /// The JetStream stream (default `FRONTDOOR`).
    pub stream: String,
    /// Its one subject: `<stream>.events` in lower case.
    pub subject: String,
    /// This node's name, in every message it publishes and in the standby's 503.
    pub node: String,
    pub mode: Mode,
    pub acks: Acks,
    /// Replicas of the stream when this node creates it (default 3).
    pub replicas: usize,
    /// How long a group commit waits for JetStream before the writes are refused (503).
    pub publish_timeout: Duration,
    /// The downstream stream (`<stream>_DOWNSTREAM`): the log without restricted checks, for
    /// readers outside the service (a data warehouse, a case management system).
    pub downstream_stream: String,
    /// Its one subject: `<stream>.downstream` in lower case.
    pub downstream_subject: String,
    /// The NATS users permitted to read the downstream stream (recorded in the access log at
    /// start and whenever the list changes); the NATS server's permissions enforce it.
    pub downstream_users: Vec<String>,
    /// TLS to the NATS servers; `None` is plaintext (a loopback test only).
    pub tls: Option<Tls>,
}

/// TLS to NATS: the CA that signed the servers' certificates, and this node's own certificate
/// and key when the servers ask for one (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca_file: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplicationFile {
    urls: Vec<String>,
    credentials_file: Option<PathBuf>,
    user: Option<String>,
    password: Option<String>,
    stream: Option<String>,
    node: String,
    mode: Mode,
    acks: Option<Acks>,
    replicas: Option<usize>,
    publish_timeout_ms: Option<u64>,
    downstream_users: Option<Vec<String>>,
    tls_ca_file: Option<PathBuf>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
}

const DEFAULT_STREAM: &str = "FRONTDOOR";

fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ReplicationFile {
    pub(crate) fn check(self) -> anyhow::Result<ReplicationConfig> {
        anyhow::ensure!(!self.urls.is_empty(), "replication.urls: give at least one NATS server (nats://host:4222)");
        for url in &self.urls {
            let valid = url.parse::<async_nats::ServerAddr>().is_ok()
                && (url.starts_with("nats://") || url.starts_with("tls://"));
            anyhow::ensure!(valid, "replication.urls: {url:?} is not a NATS server address (nats://host:port)");
        }
        let auth = match (self.credentials_file, self.user, self.password) {
            (None, None, None) => Auth::None,
            (Some(path), None, None) => {
                anyhow::ensure!(
                    path.is_file(),
                    "replication.credentials_file: {} is not a readable file",
                    path.display()
                );
                Auth::CredentialsFile(path)
            }
            (None, Some(user), Some(password)) => {
                anyhow::ensure!(!user.is_empty(), "replication.user: empty");
                anyhow::ensure!(!password.is_empty(), "replication.password: empty");
                Auth::UserPassword { user, password }
            }
            (Some(_), _, _) => {
                anyhow::bail!("replication.credentials_file: give either a credentials file or user and password")
            }
            (None, Some(_), None) => anyhow::bail!("replication.password: missing (user is given)"),
            (None, None, Some(_)) => anyhow::bail!("replication.user: missing (password is given)"),
        };
        let stream = self.stream.unwrap_or_else(|| DEFAULT_STREAM.into());
        anyhow::ensure!(name_ok(&stream), "replication.stream: {stream:?} must be 1 to 64 letters, digits, - or _");
        anyhow::ensure!(
            name_ok(&self.node),
            "replication.node: {:?} must be 1 to 64 letters, digits, - or _",
            self.node
        );
        let replicas = self.replicas.unwrap_or(3);
        anyhow::ensure!(
            (1..=5).contains(&replicas),
            "replication.replicas: must be 1 to 5 (3 for a standby that loses nothing)"
        );
        let timeout = self.publish_timeout_ms.unwrap_or(5000);
        anyhow::ensure!((100..=120_000).contains(&timeout), "replication.publish_timeout_ms: must be 100 to 120000");
        let mut downstream_users = self.downstream_users.unwrap_or_default();
        for user in &downstream_users {
            anyhow::ensure!(
                name_ok(user),
                "replication.downstream_users: {user:?} must be 1 to 64 letters, digits, - or _"
            );
        }
        downstream_users.sort();
        downstream_users.dedup();
        let readable = |key: &str, path: &PathBuf| -> anyhow::Result<()> {
            anyhow::ensure!(path.is_file(), "replication.{key}: {} is not a readable file", path.display());
            Ok(())
        };
        let tls = match (self.tls_ca_file, self.tls_cert_file, self.tls_key_file) {
            (None, None, None) => None,
            (Some(ca), cert, key) => {
                readable("tls_ca_file", &ca)?;
                let client = match (cert, key) {
                    (None, None) => None,
                    (Some(cert), Some(key)) => {
                        readable("tls_cert_file", &cert)?;
                        readable("tls_key_file", &key)?;
                        Some((cert, key))
                    }
                    (Some(_), None) => anyhow::bail!("replication.tls_key_file: missing (tls_cert_file is given)"),
                    (None, Some(_)) => anyhow::bail!("replication.tls_cert_file: missing (tls_key_file is given)"),
                };
                Some(Tls { ca_file: ca, client })
            }
            (None, _, _) => {
                anyhow::bail!("replication.tls_ca_file: missing (the CA that signed the NATS servers' certificates)")
            }
        };
        if tls.is_some() {
            for url in &self.urls {
                anyhow::ensure!(
                    url.starts_with("tls://"),
                    "replication.urls: {url:?} must be tls://host:port when tls_ca_file is given"
                );
            }
        }
        Ok(ReplicationConfig {
            downstream_stream: format!("{stream}_DOWNSTREAM"),
            downstream_subject: format!("{}.downstream", stream.to_ascii_lowercase()),
            downstream_users,
            tls,
            urls: self.urls,
            auth,
            subject: format!("{}.events", stream.to_ascii_lowercase()),
            stream,
            node: self.node,
            mode: self.mode,
            acks: self.acks.unwrap_or_default(),
            replicas,
            publish_timeout: Duration::from_millis(timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<ReplicationConfig> {
        let file: ReplicationFile = toml::from_str(text)?;
        file.check()
    }

    #[test]
    fn a_full_section_is_read_with_its_defaults() {
        let config = parse(
            "urls = [\"nats://10.0.0.1:4222\", \"nats://10.0.0.2:4222\"]\nnode = \"fd-a\"\nmode = \"primary\"\n\
             user = \"frontdoor\"\npassword = \"s3cret\"\n",
        )
        .unwrap();
        assert_eq!(config.stream, "FRONTDOOR");
        assert_eq!(config.subject, "frontdoor.events");
        assert_eq!(config.acks, Acks::Replicated, "nothing lost unless asked otherwise");
        assert_eq!(config.replicas, 3);
        assert!(!format!("{config:?}").contains("s3cret"), "the password is never printed");
        assert_eq!(config.downstream_stream, "FRONTDOOR_DOWNSTREAM");
        assert_eq!(config.downstream_subject, "frontdoor.downstream");
        assert!(config.downstream_users.is_empty(), "nobody reads downstream unless named");
        assert_eq!(config.tls, None);
    }

    #[test]
    fn downstream_users_are_kept_sorted_once_each() {
        let config = parse(
            "urls = [\"nats://x:1\"]\nnode = \"a\"\nmode = \"primary\"\n\
             downstream_users = [\"warehouse\", \"casework\", \"warehouse\"]\n",
        )
        .unwrap();
        assert_eq!(config.downstream_users, ["casework", "warehouse"]);
    }

    #[test]
    fn tls_needs_its_ca_and_tls_urls() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not checked here").unwrap();
        let ca = ca.display();
        let ok = parse(&format!("urls = [\"tls://x:1\"]\nnode = \"a\"\nmode = \"primary\"\ntls_ca_file = \"{ca}\"\n"))
            .unwrap();
        assert_eq!(ok.tls.map(|t| t.client), Some(None));
        let cases = [
            (
                format!("urls = [\"nats://x:1\"]\nnode = \"a\"\nmode = \"primary\"\ntls_ca_file = \"{ca}\""),
                "replication.urls",
            ),
            (
                format!(
                    "urls = [\"tls://x:1\"]\nnode = \"a\"\nmode = \"primary\"\ntls_ca_file = \"{ca}\"\ntls_cert_file = \"{ca}\""
                ),
                "replication.tls_key_file",
            ),
            (
                "urls = [\"tls://x:1\"]\nnode = \"a\"\nmode = \"primary\"\ntls_cert_file = \"/x\"".into(),
                "replication.tls_ca_file",
            ),
            (
                "urls = [\"tls://x:1\"]\nnode = \"a\"\nmode = \"primary\"\ntls_ca_file = \"/nonexistent.pem\"".into(),
                "replication.tls_ca_file",
            ),
            (
                "urls = [\"nats://x:1\"]\nnode = \"a\"\nmode = \"primary\"\ndownstream_users = [\"a b\"]".into(),
                "replication.downstream_users",
            ),
        ];
        for (text, key) in cases {
            let err = parse(&text).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{text}: {err:#}");
        }
    }

    #[test]
    fn mistakes_name_their_key() {
        let cases = [
            ("urls = []\nnode = \"a\"\nmode = \"primary\"", "replication.urls"),
            ("urls = [\"http://x:1\"]\nnode = \"a\"\nmode = \"primary\"", "replication.urls"),
            ("urls = [\"nats://x:1\"]\nnode = \"a b\"\nmode = \"primary\"", "replication.node"),
            ("urls = [\"nats://x:1\"]\nnode = \"a\"\nmode = \"primary\"\nuser = \"u\"", "replication.password"),
            ("urls = [\"nats://x:1\"]\nnode = \"a\"\nmode = \"primary\"\nstream = \"a.b\"", "replication.stream"),
            ("urls = [\"nats://x:1\"]\nnode = \"a\"\nmode = \"primary\"\nreplicas = 9", "replication.replicas"),
            (
                "urls = [\"nats://x:1\"]\nnode = \"a\"\nmode = \"primary\"\ncredentials_file = \"/nonexistent.creds\"",
                "replication.credentials_file",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{text}: {err:#}");
        }
        let err = parse("urls = [\"nats://x:1\"]\nnode = \"a\"\nmode = \"leader\"").unwrap_err();
        assert!(format!("{err:#}").contains("primary"), "{err:#}");
    }
}
