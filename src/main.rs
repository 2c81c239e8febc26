//! `frontdoor`: the service binary. `serve` runs it; `token` manages API tokens.

use std::fs;
use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use eventlog::{Actor, Role};
use events::schema::Agency;
use frontdoor::auth::TokenStore;
use frontdoor::config::{LogFormat, ServeArgs};

/// mimalloc rather than glibc's malloc: the request path allocates and frees many small
/// objects per request (axum's boxed services and futures, the parsed body, the envelope),
/// and glibc's malloc and free were a sixth of the server's CPU under 64 writers
/// (ops/bench/RESULTS.md, "HTTP append path profile").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "frontdoor", version, about = "The case-flow service for a children's services front door (MASH)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Create, revoke and list API tokens (works while the service runs).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Make a standby the primary (`[replication]`): it catches up to the stream's last
    /// message and takes writes from the next position. With the service running, waits
    /// until it has; otherwise the node starts as the primary.
    Promote {
        #[arg(long, env = "FRONTDOOR_DATA_DIR")]
        data_dir: PathBuf,
        /// How long to wait for a running service to finish, in seconds.
        #[arg(long, default_value_t = 120)]
        wait_secs: u64,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it, alone, on stdout. It is shown once and stored only hashed.
    Create {
        #[arg(long, env = "FRONTDOOR_DATA_DIR")]
        data_dir: PathBuf,
        /// referrer | practitioner | decision_maker | partner | auditor | admin | receiving_team
        #[arg(long)]
        role: String,
        /// Who the token acts as; recorded as the actor of every event it appends.
        #[arg(long)]
        actor: String,
        /// The actor's agency (default childrens_social_care).
        #[arg(long, default_value = "childrens_social_care")]
        agency: String,
        /// The receiving team's name, as handovers name it (e.g. "AT North"): required for
        /// receiving_team, refused for every other role.
        #[arg(long)]
        team: Option<String>,
    },
    /// Revoke a token by its id (see `token list`); takes effect at once.
    Revoke {
        #[arg(long, env = "FRONTDOOR_DATA_DIR")]
        data_dir: PathBuf,
        id: String,
    },
    /// List tokens: id, actor, role, agency, created, revoked. Never the secrets.
    List {
        #[arg(long, env = "FRONTDOOR_DATA_DIR")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    // The data directory holds children's records and the tokens' hashes: whatever umask the
    // service is started with (systemd's unit sets 0077, a login shell usually 0022), every
    // file and directory it creates is its owner's alone, 0600 / 0700 (docs/DECISIONS.md,
    // "Files private by default"). Set before any thread starts, so it covers them all.
    rustix::process::umask(rustix::fs::Mode::RWXG | rustix::fs::Mode::RWXO);
    frontdoor::live::without_huge_pages();
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("frontdoor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            init_tracing(config.log_format);
            let private = private_data_dir(&config.data_dir)?;
            if let Some(mode) = private.was {
                tracing::warn!(
                    data_dir = %config.data_dir.display(),
                    was = %format!("{mode:04o}"),
                    "the data directory was open to other users: made it private (0700)"
                );
            }
            if private.open_entries > 0 {
                tracing::warn!(
                    data_dir = %config.data_dir.display(),
                    entries = private.open_entries,
                    "entries of the data directory are open to group or others (made before files were private \
                     by default); the directory's 0700 keeps other users out, `chmod -R go= DIR` tidies them"
                );
            }
            open_files_for(config.max_connections);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(frontdoor::server::run(config, args.demo))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(command) => token(command),
        Command::Promote { data_dir, wait_secs } => promote(&data_dir, wait_secs),
    }
}

/// Writes the role file a running standby watches, and waits for its promotion marker.
fn promote(data_dir: &Path, wait_secs: u64) -> anyhow::Result<ExitCode> {
    use frontdoor::replication::{Mode, PROMOTED_FILE, write_role};
    anyhow::ensure!(data_dir.is_dir(), "--data-dir {}: no such directory", data_dir.display());
    let marker = data_dir.join(PROMOTED_FILE);
    let _ = fs::remove_file(&marker);
    write_role(data_dir, Mode::Primary)?;
    let running = {
        use fs2::FileExt;
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(data_dir.join(eventlog::log::LOCK_FILE))?;
        let held = lock.try_lock_exclusive().is_err();
        if !held {
            let _ = FileExt::unlock(&lock);
        }
        held
    };
    if !running {
        eprintln!("no service runs on {}: it starts as the primary", data_dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
    while std::time::Instant::now() < deadline {
        if let Ok(text) = fs::read_to_string(&marker)
            && text.starts_with("primary")
        {
            eprintln!("promoted: {}", text.trim());
            return Ok(ExitCode::SUCCESS);
        }
        if frontdoor::replication::read_role(data_dir) == Some(Mode::Standby) {
            anyhow::bail!("the promotion failed (see the service's log); the node is still a standby");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    anyhow::bail!("the service did not finish the promotion within {wait_secs} s")
}

/// File descriptors kept for the log, the token store and the rest, besides connections.
const SPARE_FILES: u64 = 256;

/// Raises the open-file limit (`RLIMIT_NOFILE`) from its soft value to the hard one, so that
/// `max_connections` connections can be open at once (a shell's soft limit is often 1,024,
/// and past it `accept` fails and slow clients starve everyone). Warns when even the hard
/// limit is too low.
fn open_files_for(max_connections: usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let needed = max_connections as u64 + SPARE_FILES;
    let limit = getrlimit(Resource::Nofile);
    // No hard limit: ask for what is needed (the kernel's nr_open still caps it).
    let target = limit.maximum.unwrap_or(needed.max(limit.current.unwrap_or(0)));
    let mut current = limit.current;
    if current.is_some_and(|c| c < target) {
        match setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum }) {
            Ok(()) => current = Some(target),
            Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
        }
    }
    match current {
        Some(files) if files < needed => tracing::warn!(
            open_files = files,
            max_connections,
            "the open-file limit is below max_connections plus what the log needs: raise LimitNOFILE \
             (systemd) or `ulimit -Hn`, or lower max_connections"
        ),
        _ => tracing::debug!(open_files = ?current, max_connections, "open-file limit"),
    }
}

/// What [`private_data_dir`] found.
#[derive(Debug)]
struct PrivateDir {
    /// The directory's mode before it was made 0700, if it was open to others.
    was: Option<u32>,
    /// Entries directly in it still open to group or others (made before files were private
    /// by default); left alone: the directory keeps other users out, and the token store
    /// refuses a tokens file that others may have written.
    open_entries: usize,
}

/// Creates the data directory (and any missing parent) with mode 0700, or makes an existing
/// one 0700 if group or others had any access to it.
fn private_data_dir(dir: &Path) -> anyhow::Result<PrivateDir> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    let mode = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?.permissions().mode() & 0o7777;
    let was = if mode & 0o077 == 0 {
        None
    } else {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making the data directory {} private (chmod 0700)", dir.display()))?;
        Some(mode)
    };
    let mut open_entries = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        // A running server renames its temporary files into place: one listed a moment ago
        // may be gone by now, which is no reason to refuse a token command.
        let meta = match entry.and_then(|e| e.metadata()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            other => other.with_context(|| format!("reading {}", dir.display()))?,
        };
        if !meta.is_symlink() && meta.permissions().mode() & 0o077 != 0 {
            open_entries += 1;
        }
    }
    Ok(PrivateDir { was, open_entries })
}

/// With `[replication]`, a standby's tokens are the primary's (replicated, and replaced by
/// each change there): a token created or revoked here would be overwritten, so it is refused,
/// naming the primary.
fn refuse_on_standby(data_dir: &Path) -> anyhow::Result<()> {
    use frontdoor::replication::{Mode, TOKENS_FROM_FILE, read_role};
    let from = fs::read_to_string(data_dir.join(TOKENS_FROM_FILE)).ok();
    if from.is_some() || read_role(data_dir) == Some(Mode::Standby) {
        let primary = from.as_deref().map(str::trim).filter(|p| !p.is_empty()).unwrap_or("the primary");
        anyhow::bail!(
            "{} is a standby's data directory: its tokens are {primary}'s, replicated from it; \
             run `frontdoor token` on {primary} (a promoted standby takes token commands)",
            data_dir.display()
        );
    }
    Ok(())
}

fn token(command: TokenCommand) -> anyhow::Result<ExitCode> {
    let data_dir = match &command {
        TokenCommand::Create { data_dir, .. }
        | TokenCommand::Revoke { data_dir, .. }
        | TokenCommand::List { data_dir } => data_dir,
    };
    if let Some(mode) = private_data_dir(data_dir)?.was {
        eprintln!(
            "frontdoor: {} was open to other users (mode {mode:04o}): made it private (0700)",
            data_dir.display()
        );
    }
    if let TokenCommand::Create { data_dir, .. } | TokenCommand::Revoke { data_dir, .. } = &command {
        refuse_on_standby(data_dir)?;
    }
    match command {
        TokenCommand::Create { data_dir, role, actor, agency, team } => {
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            let agency: Agency = agency.parse().map_err(|e| anyhow::anyhow!("--agency: {e}"))?;
            anyhow::ensure!(!actor.trim().is_empty() && actor.len() <= 100, "--actor must be 1 to 100 characters");
            let team = team.map(|t| t.trim().to_owned());
            match (role, &team) {
                (Role::ReceivingTeam, None) => anyhow::bail!("--team is required for --role receiving_team"),
                (Role::ReceivingTeam, Some(_)) | (_, None) => {}
                (_, Some(_)) => anyhow::bail!("--team is only for --role receiving_team"),
            }
            let store = TokenStore::open(&data_dir).context("opening the token store")?;
            let (_, secret) = store.create(Actor { id: actor.trim().to_owned(), role, agency, team })?;
            println!("{secret}");
        }
        TokenCommand::Revoke { data_dir, id } => {
            let store = TokenStore::open(&data_dir).context("opening the token store")?;
            let info = store.revoke(&id)?;
            eprintln!("revoked {} ({}, {})", info.id, info.actor.id, info.actor.role);
        }
        TokenCommand::List { data_dir } => {
            let store = TokenStore::open(&data_dir).context("opening the token store")?;
            println!(
                "{:<14} {:<24} {:<15} {:<22} {:<21} {:<21} team",
                "id", "actor", "role", "agency", "created", "revoked"
            );
            for t in store.list() {
                println!(
                    "{:<14} {:<24} {:<15} {:<22} {:<21} {:<21} {}",
                    t.id,
                    t.actor.id,
                    t.actor.role,
                    t.actor.agency,
                    t.created_at.format("%Y-%m-%d %H:%M:%S"),
                    t.revoked_at.map_or_else(|| "-".to_owned(), |r| r.format("%Y-%m-%d %H:%M:%S").to_string()),
                    t.actor.team.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FRONTDOOR_LOG").unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    // Colour only for a person at a terminal: a journal or a file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.compact().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_missing_data_directory_is_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new").join("data");
        let found = private_data_dir(&dir).unwrap();
        assert_eq!((found.was, found.open_entries), (None, 0));
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn an_open_data_directory_is_made_private_and_open_entries_are_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.join("db");
        fs::write(&file, b"x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let found = private_data_dir(&dir).unwrap();
        assert_eq!((found.was, found.open_entries), (Some(0o755), 1));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o644, "files are left alone: the directory keeps others out");
        assert_eq!(private_data_dir(&dir).unwrap().was, None);
    }
}
