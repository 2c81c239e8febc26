//! `frontdoor-bench`: benchmarks of the front door's event log and service.
//!
//! - `append`: durable appends in process, over HTTP and to PostgreSQL, against the disk's own
//!   limit, at 1 to 256 writers ([`append`]).
//! - `rebuild`: the service's start-up rebuild of its read model from logs of one and five
//!   million realistic events, against the engine's limit (a scan with the typed parse) and
//!   PostgreSQL reading the same rows in order ([`rebuild`]).
//! - `sse`: the time from `POST /v1/contacts` to the duty queue's `upsert` reaching every
//!   Server-Sent Events client of the real server binary ([`sse`]).
//! - `reads`: `GET /v1/queue` and `GET /v1/contacts/{id}` latency under an open-loop load on
//!   the real server binary holding thousands of open contacts ([`reads`]).
//! - `children`: `GET /v1/children` searches on the real server binary holding the contacts of
//!   100,000 children, open loop for the latency and closed loop for the searches a second
//!   ([`children`]).
//! - `load`: minutes of steady appends and reads with hundreds of open SSE clients against the
//!   demo on the real server binary, watching its memory ([`load`]); it reports to
//!   `ops/RELIABILITY.md`.
//! - `replication`: appends over HTTP with `acks = "replicated"` against the same without
//!   replication, and a standby's lag, on a three-node NATS JetStream cluster ([`replication`]).
//! - `summary`: the log's speed and memory table (issue 14) from the CSVs `append`, `rebuild`
//!   and `reads` wrote, beside the sled-based log's figures ([`summary`]).
//!
//! Every benchmark waits for a quiet machine before each measurement, repeats the whole set
//! `--runs` times and reports medians, and writes its own section of `ops/bench/RESULTS.md`
//! and its own CSV file. See `ops/bench/README.md`.

/// The server's allocator (see `src/main.rs`), so in-process figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod append;
mod children;
mod load;
mod machine;
mod reads;
mod rebuild;
mod rebuild_pg;
mod replication;
mod report;
mod sse;
mod summary;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::machine::QuietPolicy;
use crate::report::{Output, Session};

/// The workspace root, from this package's manifest directory (`ops/bench`).
const WORKSPACE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Where the report goes by default.
const BENCH_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Debug, Parser)]
#[command(name = "frontdoor-bench", about = "Benchmarks of the front door's event log and service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Durable appends at 1/8/64/256 writers: the log, the server over HTTP, PostgreSQL, the fsync limit.
    Append(append::AppendArgs),
    /// The start-up rebuild of the read model from a log of realistic events, against bare scans.
    Rebuild(rebuild::RebuildArgs),
    /// Latency from POST /v1/contacts to the queue's SSE upsert, on the real server binary.
    Sse(sse::SseArgs),
    /// GET /v1/queue and GET /v1/contacts/{id} latency under an open-loop load, on the real server binary.
    Reads(reads::ReadsArgs),
    /// GET /v1/children latency and searches/s at 100,000 children, on the real server binary.
    Children(children::ChildrenArgs),
    /// Minutes of steady appends, reads and open SSE streams against the demo on the real server.
    Load(load::LoadArgs),
    /// Replicated appends against local ones, and a standby's lag, on a three-node NATS JetStream cluster.
    Replication(replication::ReplicationArgs),
    /// The log's speed and memory table (issue 14) from this run's append, rebuild and reads figures.
    Summary(summary::SummaryArgs),
    /// One measurement of `rebuild` in a fresh process (run by `rebuild` itself).
    #[command(hide = true)]
    RebuildPhase(rebuild::PhaseArgs),
}

/// Flags every benchmark takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// How many times every measurement is made (the report gives medians across runs; `sse`
    /// gives percentiles over all runs together).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Smoke test: one short run, no waiting for quiet; the report goes to
    /// `target/bench-tmp/quick/` unless `--out` is given, so the committed results are kept.
    #[arg(long)]
    pub quick: bool,
    /// Before each measurement, wait up to this many seconds for a quiet machine (a second with
    /// at most 20 device writes and other processes using at most 15% of one CPU); 0: don't wait.
    #[arg(long, default_value_t = 120)]
    pub quiet_wait_s: u64,
    /// Repeat a measurement (up to this many times) when other processes used more than 20% of
    /// one CPU during it (user-mode time, from /proc/stat); the last attempt is kept regardless.
    #[arg(long, default_value_t = 5)]
    pub max_retries: u32,
    /// Directory under which the benchmark's data lives. It must be on the filesystem being
    /// measured. Default: `<workspace>/target/bench-tmp`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Directory `RESULTS.md` and the CSV file are written to.
    /// Default: `ops/bench` (or `target/bench-tmp/quick` with `--quick`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl CommonArgs {
    /// A session measuring the device of `data`; `--quick` makes it one run with no waiting.
    pub fn session(&self, data: &Path) -> Result<Session> {
        let (runs, quiet) = if self.quick {
            (1, QuietPolicy { wait: Duration::ZERO, max_retries: 0 })
        } else {
            (self.runs, QuietPolicy { wait: Duration::from_secs(self.quiet_wait_s), max_retries: self.max_retries })
        };
        anyhow::ensure!(runs > 0, "--runs must be at least 1");
        Ok(Session::start(self.quick, runs, quiet, data, self.output()?))
    }

    /// The directory the benchmark's data goes under (created).
    pub fn data_parent(&self) -> Result<PathBuf> {
        let parent = match &self.dir {
            Some(dir) => dir.clone(),
            None => workspace_root()?.join("target").join("bench-tmp"),
        };
        std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        Ok(parent)
    }

    fn output(&self) -> Result<Output> {
        let dir = match (&self.out, self.quick) {
            (Some(dir), _) => dir.clone(),
            (None, true) => workspace_root()?.join("target").join("bench-tmp").join("quick"),
            (None, false) => PathBuf::from(BENCH_DIR),
        };
        Ok(Output { dir })
    }
}

fn workspace_root() -> Result<PathBuf> {
    std::fs::canonicalize(WORKSPACE_ROOT).context("finding the workspace root")
}

fn main() -> Result<()> {
    // As the server does (`src/main.rs`), so in-process figures are the server's.
    frontdoor::live::without_huge_pages();
    let cli = Cli::parse();
    match cli.command {
        Command::Append(args) => append::run(&args),
        Command::Rebuild(args) => rebuild::run(&args),
        Command::Sse(args) => sse::run(&args),
        Command::Reads(args) => reads::run(&args),
        Command::Children(args) => children::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Replication(args) => replication::run(&args),
        Command::Summary(args) => summary::run(&args),
        Command::RebuildPhase(args) => rebuild::run_phase(&args),
    }
}
