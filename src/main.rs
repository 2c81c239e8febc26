//! `frontdoor`: the service binary. `serve` runs it; `token` manages API tokens.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use eventlog::{Actor, Role};
use events::schema::Agency;
use frontdoor::auth::TokenStore;
use frontdoor::config::{LogFormat, ServeArgs};

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
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(frontdoor::server::run(config, args.demo))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(command) => token(command),
    }
}

fn token(command: TokenCommand) -> anyhow::Result<ExitCode> {
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
