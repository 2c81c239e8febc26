//! `frontdoor-bench rebuild`: the service's start-up rebuild of its read model, from logs of
//! one and five million realistic events, against the engine's limit (a bare scan of the same
//! log with the typed parse) and PostgreSQL reading the same rows in order.
//!
//! Each log is built once from the demo generator (four-week windows, each earlier than the
//! last, with their own seeds) and cached under `<dir>/rebuild-<N>/`. Every measurement then
//! runs in a fresh process (the hidden `rebuild-phase` subcommand) on a freshly opened log, so
//! its peak RSS is its own and nothing is left over from the measurement before:
//!
//! - `rebuild`: `Live::new(policy).rebuild(&log)`, exactly as `frontdoor serve` does at start-up;
//! - `engine`: the engine limit: `log.read_all(after, 4096)` over every event (the segments'
//!   frames, checksum, envelope parse) and `env.event()` for every event (the data's fully typed parse), no fold;
//! - `scan`: the same without the typed parse;
//! - `serve`: the real `frontdoor serve` on the log's directory, from exec to `/readyz` 200,
//!   with the server's own peak RSS (VmHWM) and the whole data directory's size afterwards,
//!   started without a read model snapshot (removed first): it rebuilds from the whole log;
//! - `serve-snapshot`: the same, started from the snapshot the `serve` before it wrote at its
//!   SIGTERM (what a restart after a clean shutdown does);
//! - `frames`: the segment files read whole and walked frame by frame (both checksums), nothing
//!   parsed;
//! - `split`: the rebuild's loop with reading and folding timed apart;
//! - `pg` (with `--pg-url`): PostgreSQL streaming the same events in position order, each made
//!   into the same `Envelope` and typed `Event` (see `rebuild_pg.rs`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use chrono::{DateTime, TimeDelta, Utc};
use clap::{Args, ValueEnum};
use demo::DemoActors;
use eventlog::{AppendRequest, Envelope, EventLog, Options};
use frontdoor::config::Config;
use frontdoor::live::Live;
use projections::model::ReadModel;
use projections::time::DuePolicy;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use ulid::Ulid;

use crate::CommonArgs;
use crate::machine::{BlockDevice, Counters, Measured, Observed, Quietness, allocated_bytes, peak_rss_kib};
use crate::rebuild_pg;
use crate::report::{Session, median, median_of, quiet_notes, show, verdict_line};
use crate::sse::{Server, server_binary};

/// Bump whenever the generated log changes (the generator's use, the base time, the seeds), so
/// that a log cached the old way is built again.
const LOG_FORMAT: u64 = 1;
/// The newest demo window ends here; each earlier one ends four weeks before the next.
const BASE_NOW: &str = "2026-11-20T16:00:00Z";
/// The seed of the newest window; each earlier window's is one more.
const FIRST_SEED: u64 = 1000;
/// Appends in flight while the log is built (the writer commits up to 1024 in a group).
const LOAD_IN_FLIGHT: usize = 512;
/// Progress is printed every this many events while building.
const PROGRESS_EVERY: u64 = 100_000;
/// Events per `read_all` page: the server's own page size (`REBUILD_PAGE` in src/live.rs).
const PAGE: usize = 4096;
/// How long the server may take from its exec to `/readyz` 200.
const SERVE_LIMIT: Duration = Duration::from_secs(600);

/// The targets: a start-up rebuild of a million events in under 10 s, at least 200,000
/// events/s and at least 80% of the engine limit's rate, in at most 300 MB of RSS with a million
/// events stored.
const TARGET_EVENTS: f64 = 1_000_000.0;
const TARGET_SECONDS: f64 = 10.0;
const TARGET_RATE: f64 = 200_000.0;
const TARGET_OF_ENGINE: f64 = 0.8;
const TARGET_RSS_MB: f64 = 300.0;
/// The server's start-up (issue 14): ready within 10 s of its exec with 5M events stored.
const SERVE_TARGET_EVENTS: f64 = 5_000_000.0;
const SERVE_TARGET_SECONDS: f64 = 10.0;

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Sizes of the logs measured, in events, comma-separated: each built once, then reused
    /// from `<dir>/rebuild-<N>/`. Default 1000000,5000000 (`--quick`: 20000).
    #[arg(long, alias = "events", value_delimiter = ',')]
    sizes: Vec<u64>,
    /// PostgreSQL to compare with (a database this benchmark may create tables in); without
    /// it, the PostgreSQL rows are left out of the report.
    #[arg(long, env = "FRONTDOOR_BENCH_PG_URL")]
    pg_url: Option<String>,
    /// Build the log again even if a cached one is there.
    #[arg(long)]
    fresh: bool,
    /// Also profile one more start-up rebuild with `perf record` (cpu-clock samples, DWARF call
    /// graphs) and report the inclusive time of its parts and its hottest functions (needs perf).
    #[arg(long)]
    perf: bool,
    /// The server binary for the `serve` measurement (default: built with cargo).
    #[arg(long, env = "FRONTDOOR_BIN")]
    server: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// One measurement, made in a process of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Phase {
    Rebuild,
    Serve,
    ServeSnapshot,
    Engine,
    Pg,
    PgFold,
    Scan,
    Frames,
    Split,
}

impl Phase {
    const ALL: [Phase; 9] = [
        Phase::Rebuild,
        Phase::Serve,
        Phase::ServeSnapshot,
        Phase::Engine,
        Phase::Pg,
        Phase::PgFold,
        Phase::Scan,
        Phase::Frames,
        Phase::Split,
    ];

    /// The phases measured: PostgreSQL's only when there is one.
    fn measured(pg: bool) -> Vec<Phase> {
        Phase::ALL.into_iter().filter(|p| pg || !matches!(p, Phase::Pg | Phase::PgFold)).collect()
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Rebuild => "start-up rebuild",
            Phase::Serve => "server: exec to /readyz 200",
            Phase::ServeSnapshot => "server: exec to /readyz 200, from its snapshot",
            Phase::Engine => "engine limit: scan + typed parse",
            Phase::Pg => "PostgreSQL: rows in order + typed parse",
            Phase::PgFold => "PostgreSQL: rows in order + the start-up rebuild's parse and fold",
            Phase::Scan => "scan",
            Phase::Frames => "segment frames only",
            Phase::Split => "rebuild, timed in parts",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Phase::Rebuild => {
                "`Live::new(DuePolicy::default()).rebuild(&log)`, as `frontdoor serve` does at start-up \
                 (one thread reads pages of 4096 with `read_all` and frees those folded, the other \
                 folds them with `ReadModel::apply`)"
            }
            Phase::Scan => {
                "`log.read_all(after, 4096)` over every event, no folding: the segments' frames, \
                 checksum, envelope parse (data kept as raw JSON)"
            }
            Phase::Engine => {
                "`log.read_all(after, 4096)` over every event (the segments' frames, checksum, \
                 the `Envelope` parse) and `env.event()` for every event (the fully typed parse of its \
                 data), nothing folded: what any rebuild through the log's API must at least do"
            }
            Phase::PgFold => {
                "the start-up rebuild with PostgreSQL as the log: the same rows streamed in order, each \
                 made into the same `Envelope`, then what `Live::rebuild` does with each event \
                 (`parse_for_fold`, `ReadModel::apply_parsed`) on the same thread; the server \
                 process works on the other CPU, as the log's reading thread does in the start-up rebuild"
            }
            Phase::Pg => {
                "PostgreSQL: `SELECT … FROM events ORDER BY position` streamed through one portal \
                 (binary rows), each row made into the same `Envelope` and typed `Event`; the \
                 server process works on the other CPU"
            }
            Phase::Serve => {
                "the real server, `frontdoor serve --listen 127.0.0.1:0 --data-dir <the log>` (default \
                 configuration), from its exec until `/readyz` answers 200 (polled every 5 ms): opening \
                 the log, then the same rebuild in the background; `open s` is exec to the address line \
                 (the log open); peak RSS is the server's VmHWM (`/proc/<pid>/status`) at that moment; \
                 then SIGTERM, and `du` of the whole data directory (segments, index, access log, tokens, \
                 and the read model's snapshot the server writes at SIGTERM). Started with no snapshot \
                 (removed first), so the model is rebuilt from the whole log"
            }
            Phase::ServeSnapshot => {
                "the same server started again at once on the same directory: it reads the read model's \
                 snapshot written at the SIGTERM before (checked against the log's event at its position \
                 and the executable's hash) instead of folding the log; `snapshot MiB` is its size"
            }
            Phase::Frames => {
                "the segment files read whole and walked frame by frame (length, both checksums), no \
                 parse: the log's own files' reading limit"
            }
            Phase::Split => {
                "the rebuild's work on one thread, on a bare `ReadModel`, with `read_all` and `apply` timed apart"
            }
        }
    }

    /// Its name on the command line, and in the CSV.
    fn arg(self) -> &'static str {
        match self {
            Phase::Rebuild => "rebuild",
            Phase::Scan => "scan",
            Phase::Engine => "engine",
            Phase::Pg => "pg",
            Phase::PgFold => "pg-fold",
            Phase::Serve => "serve",
            Phase::ServeSnapshot => "serve-snapshot",
            Phase::Frames => "frames",
            Phase::Split => "split",
        }
    }
}

/// The hidden `rebuild-phase` subcommand: one measurement on an existing log.
#[derive(Debug, Args)]
pub struct PhaseArgs {
    #[arg(long, value_enum)]
    phase: Phase,
    /// The log's directory.
    #[arg(long)]
    log: PathBuf,
    /// `pg`: the database, and the table holding the same events.
    #[arg(long)]
    pg_url: Option<String>,
    #[arg(long)]
    table: Option<String>,
}

/// What one measurement found.
#[derive(Debug, Clone)]
struct Sample {
    run: u32,
    phase: Phase,
    events: u64,
    /// The measured part: the rebuild or the scan, without opening the log.
    seconds: f64,
    /// Opening the log (or sled) beforehand.
    open_seconds: f64,
    /// `split`: time in `read_all`, and in `ReadModel::apply`.
    read_seconds: Option<f64>,
    fold_seconds: Option<f64>,
    /// `frames`: the stored records' bytes.
    record_bytes: Option<u64>,
    /// `serve`: the whole data directory's size (`du`) after the server ran on it.
    dir_bytes: Option<u64>,
    /// `serve`: the read model's snapshot the server wrote at its SIGTERM.
    snapshot_bytes: Option<u64>,
    /// `rebuild`: contacts in the model, and those still open.
    contacts: Option<u64>,
    open_contacts: Option<u64>,
    peak_rss_kib: Option<u64>,
    /// The child process's lifetime, the CPU used meanwhile, the quiet before it.
    observed: Observed,
}

impl Measured for Sample {
    fn observed(&mut self) -> &mut Observed {
        &mut self.observed
    }
}

impl Sample {
    fn rate(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }

    fn peak_rss_mib(&self) -> Option<f64> {
        self.peak_rss_kib.map(|k| k as f64 / 1024.0)
    }

    fn us_per_event(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.events.max(1) as f64
    }
}

/// What the cached log holds and how it was made.
#[derive(Debug, Clone)]
struct BuiltLog {
    dir: PathBuf,
    events: u64,
    windows: u64,
    build_seconds: f64,
    reused: bool,
}

/// One log size: the log, its footprint on disk, and PostgreSQL's table of the same events.
#[derive(Debug, Clone)]
struct SizeSet {
    built: BuiltLog,
    /// Bytes the log directory takes on disk (`du`).
    on_disk: u64,
    /// The PostgreSQL table and its size on disk (heap, TOAST, indexes).
    pg_table: Option<(String, u64)>,
}

pub fn run(args: &RebuildArgs) -> Result<()> {
    let sizes = match (&args.sizes[..], args.common.quick) {
        ([], true) => vec![20_000],
        ([], false) => vec![1_000_000, 5_000_000],
        (given, _) => given.to_vec(),
    };
    ensure!(sizes.iter().all(|&n| n > 0), "every size must be at least 1 event");
    let parent = args.common.data_parent()?;
    let pg_url = args.pg_url.as_deref();
    if pg_url.is_none() {
        eprintln!("no --pg-url (or FRONTDOOR_BENCH_PG_URL): the PostgreSQL rows are left out");
    }
    let mut sets = Vec::new();
    for &events in &sizes {
        let built = ensure_log(&parent, events, args.fresh)?;
        let on_disk = allocated_bytes(&built.dir).with_context(|| format!("measuring {}", built.dir.display()))?;
        let pg_table = match pg_url {
            Some(url) => {
                let table = rebuild_pg::table_name(events, LOG_FORMAT);
                let log = EventLog::open(&built.dir)?;
                let bytes = rebuild_pg::ensure_table(url, &table, &log, events);
                log.shutdown();
                drop(log);
                Some((table, bytes?))
            }
            None => None,
        };
        sets.push(SizeSet { built, on_disk, pg_table });
    }
    let phases = Phase::measured(pg_url.is_some());
    let server = server_binary(args.server.as_deref())?;
    let mut session = args.common.session(&sets[0].built.dir)?;
    eprintln!(
        "frontdoor-bench rebuild: {} run(s) x {} measurements on logs of {} events",
        session.runs,
        phases.len(),
        sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
    );

    let mut samples = Vec::new();
    for run in 1..=session.runs {
        for set in &sets {
            // Unmeasured: read the log's files once, so the first measurement of a size finds
            // the page cache as warm as the others do (the other size's measurements may have
            // pushed this log out of it; the start-up rebuild, measured first, paid for that).
            let warm = Target { log: &set.built.dir, pg: None };
            measure_phase(run, Phase::Frames, &warm, session.device())?;
            for &phase in &phases {
                let target =
                    Target { log: &set.built.dir, pg: pg_url.zip(set.pg_table.as_ref().map(|t| t.0.as_str())) };
                samples.push(session.measure(|| {
                    let s = if matches!(phase, Phase::Serve | Phase::ServeSnapshot) {
                        measure_serve(run, phase, &server, &set.built.dir, session.device())?
                    } else {
                        measure_phase(run, phase, &target, session.device())?
                    };
                    eprintln!(
                        "run {run} {:>8} {:<40} {:>9.0} events/s  {:>7.3} s  (open {:.3} s){}{}  peak RSS {} MiB{}",
                        set.built.events,
                        phase.name(),
                        s.rate(),
                        s.seconds,
                        s.open_seconds,
                        s.read_seconds.map(|r| format!("  read_all {r:.3} s")).unwrap_or_default(),
                        s.fold_seconds.map(|f| format!("  apply {f:.3} s")).unwrap_or_default(),
                        show(s.peak_rss_mib(), 0),
                        s.observed.others_pct().map(|p| format!(", others {p:.0}%")).unwrap_or_default(),
                    );
                    ensure!(
                        s.events == set.built.events,
                        "{} saw {} events, the log holds {}",
                        phase.name(),
                        s.events,
                        set.built.events
                    );
                    Ok(s)
                })?);
            }
        }
    }
    let profile = if args.perf { Some(perf_profile(&sets[0].built.dir)?) } else { None };
    session.finish();

    let report =
        Report { session: &session, sets: &sets, samples: &samples, profile: profile.as_ref(), pg: pg_url.is_some() };
    session.write("rebuild", &report.markdown(), "results-rebuild.csv", &report.csv())?;
    for set in &sets {
        let one = report.size(set);
        print!("\n{} events\n{}\n{}", set.built.events, one.table(), one.target_lines());
    }
    print!("\n{}", report.footprint());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Building the log
// ---------------------------------------------------------------------------------------------

/// The cached log of `events` events under `parent`, built first if it is missing, was built
/// the old way, or `fresh` asks for it.
fn ensure_log(parent: &Path, events: u64, fresh: bool) -> Result<BuiltLog> {
    let base = parent.join(format!("rebuild-{events}"));
    let dir = base.join("log");
    let marker = base.join("built.json");
    let wanted = |info: &Value| {
        info["format"] == LOG_FORMAT
            && info["events"] == events
            && info["schema_version"] == events::schema::CURRENT_SCHEMA_VERSION
    };
    if !fresh
        && dir.is_dir()
        && let Ok(text) = std::fs::read_to_string(&marker)
        && let Ok(info) = serde_json::from_str::<Value>(&text)
        && wanted(&info)
    {
        eprintln!("reusing the log in {} (built by an earlier run; --fresh builds it again)", dir.display());
        return Ok(BuiltLog {
            dir,
            events,
            windows: info["windows"].as_u64().unwrap_or(0),
            build_seconds: info["build_seconds"].as_f64().unwrap_or(f64::NAN),
            reused: true,
        });
    }
    if base.exists() {
        std::fs::remove_dir_all(&base).with_context(|| format!("removing {}", base.display()))?;
    }
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let started = Instant::now();
    let windows = build_log(&dir, events)?;
    let build_seconds = started.elapsed().as_secs_f64();
    let info = json!({
        "format": LOG_FORMAT,
        "events": events,
        "schema_version": events::schema::CURRENT_SCHEMA_VERSION,
        "windows": windows,
        "base_now": BASE_NOW,
        "first_seed": FIRST_SEED,
        "build_seconds": build_seconds,
    });
    // Written last: a log whose build was interrupted is never reused.
    std::fs::write(&marker, format!("{info:#}\n")).with_context(|| format!("writing {}", marker.display()))?;
    Ok(BuiltLog { dir, events, windows, build_seconds, reused: false })
}

/// The demo windows, newest first: (the window's end, its seed).
fn window(i: u64) -> Result<(DateTime<Utc>, u64)> {
    let base: DateTime<Utc> = BASE_NOW.parse().context("BASE_NOW")?;
    let weeks = i64::try_from(4 * i).context("too many windows")?;
    Ok((base - TimeDelta::weeks(weeks), FIRST_SEED + i))
}

fn generate(i: u64) -> Result<Vec<AppendRequest>> {
    let (now, seed) = window(i)?;
    Ok(demo::generate(now, seed, &DemoActors::standard(), &DuePolicy::default()))
}

/// Builds a log of exactly `events` events in `dir` from as many four-week demo windows as it
/// takes, oldest first, so that the log reads forward in time. Returns the number of windows.
fn build_log(dir: &Path, events: u64) -> Result<u64> {
    // Count first (newest first, as the windows go back from BASE_NOW), then generate again
    // oldest first while appending: the generator is deterministic, and holding a million
    // events in memory would take a gigabyte.
    let mut windows = 0u64;
    let mut total = 0u64;
    while total < events {
        let count: usize = generate(windows)?.iter().map(|a| a.events.len()).sum();
        ensure!(count > 0, "the demo generator gave no events for window {windows}");
        total += count as u64;
        windows += 1;
    }
    eprintln!(
        "building a log of {events} events from {windows} demo windows of four weeks (about {} events each) in {}",
        total / windows,
        dir.display()
    );
    let log = EventLog::open(dir).with_context(|| format!("creating the log in {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let loaded = runtime.block_on(load(&log, windows, events));
    log.shutdown();
    loaded?;
    let head = log.head().position;
    ensure!(head == events, "the log holds {head} events, not {events}");
    Ok(windows)
}

/// Appends the windows' events, oldest window first, keeping up to `LOAD_IN_FLIGHT` appends in
/// flight. An append's expected version depends on the contact's append before it, so each
/// waits for that one (and only that one) to be acknowledged before it goes to the log. The
/// last append is cut so that the log holds exactly `events`.
async fn load(log: &EventLog, windows: u64, events: u64) -> Result<()> {
    let started = Instant::now();
    let mut in_flight: JoinSet<Result<u64>> = JoinSet::new();
    // Each contact's last append in flight, as the signal that it has been acknowledged.
    let mut last_of: HashMap<Ulid, oneshot::Receiver<()>> = HashMap::new();
    let mut sent = 0u64;
    let mut done = 0u64;
    let mut next_progress = PROGRESS_EVERY;
    for i in (0..windows).rev() {
        for mut append in generate(i)? {
            let left = events - sent;
            if left == 0 {
                break;
            }
            append.events.truncate(usize::try_from(left).unwrap_or(usize::MAX));
            while in_flight.len() >= LOAD_IN_FLIGHT {
                done += in_flight.join_next().await.context("no append in flight")???;
                if done >= next_progress {
                    let rate = done as f64 / started.elapsed().as_secs_f64();
                    eprintln!("  {done} / {events} events appended ({rate:.0} events/s)");
                    next_progress += PROGRESS_EVERY;
                }
            }
            sent += append.events.len() as u64;
            let (acknowledged, next) = oneshot::channel();
            let previous = last_of.insert(append.contact_id, next);
            let log = log.clone();
            in_flight.spawn(async move {
                if let Some(previous) = previous {
                    // An error means the previous append failed; its own task reports that.
                    let _ = previous.await;
                }
                let (contact, count) = (append.contact_id, append.events.len() as u64);
                log.append(append).await.with_context(|| format!("appending to contact {contact}"))?;
                let _ = acknowledged.send(());
                Ok(count)
            });
        }
        // Forget contacts whose last append is acknowledged: a later one need not wait.
        last_of.retain(|_, rx| rx.try_recv() == Err(oneshot::error::TryRecvError::Empty));
    }
    while let Some(count) = in_flight.join_next().await {
        done += count??;
    }
    eprintln!(
        "  {done} events appended in {:.1} s ({:.0} events/s)",
        started.elapsed().as_secs_f64(),
        done as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The measurements, each in a fresh process
// ---------------------------------------------------------------------------------------------

/// What a phase reads: the log, and PostgreSQL's URL and table of the same events.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    log: &'a Path,
    pg: Option<(&'a str, &'a str)>,
}

/// Runs one phase in a child process (this binary's `rebuild-phase`) and reads its result.
fn measure_phase(run: u32, phase: Phase, target: &Target<'_>, device: Option<&BlockDevice>) -> Result<Sample> {
    let exe = std::env::current_exe().context("finding this benchmark's own binary")?;
    let mut command = Command::new(&exe);
    command.args(["rebuild-phase", "--phase", phase.arg(), "--log"]).arg(target.log);
    if let Some((url, table)) = target.pg {
        command.args(["--pg-url", url, "--table", table]);
    }
    let before = Counters::read(device);
    let started = Instant::now();
    let out = command.output().with_context(|| format!("running {} rebuild-phase", exe.display()))?;
    let window = started.elapsed();
    // The child has been waited for, so its CPU time counts as this process's own.
    let (_, mut cpu) = Counters::read(device).since(Some(&before));
    if !out.status.success() {
        bail!("{} failed ({}): {}", phase.name(), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).context("no result from rebuild-phase")?;
    let v: Value = serde_json::from_str(line).with_context(|| format!("rebuild-phase printed {line:?}"))?;
    // PostgreSQL's server process for the connection (reported by the child) is part of what
    // is measured: its time is the server's, not other processes' (which would have the
    // measurement repeated as disturbed every time).
    if let (Some(c), Some(user), Some(all)) = (cpu.as_mut(), v["server_user_ns"].as_u64(), v["server_cpu_ns"].as_u64())
    {
        c.others_ns = c.others_ns.map(|o| o.saturating_sub(user));
        c.helper_ns = Some(all);
    }
    Ok(Sample {
        run,
        phase,
        events: v["events"].as_u64().context("no event count")?,
        seconds: v["seconds"].as_f64().context("no time")?,
        open_seconds: v["open_seconds"].as_f64().unwrap_or(f64::NAN),
        read_seconds: v["read_seconds"].as_f64(),
        fold_seconds: v["fold_seconds"].as_f64(),
        record_bytes: v["record_bytes"].as_u64(),
        dir_bytes: None,
        snapshot_bytes: None,
        contacts: v["contacts"].as_u64(),
        open_contacts: v["open_contacts"].as_u64(),
        peak_rss_kib: v["peak_rss_kib"].as_u64(),
        observed: Observed::new(window, cpu),
    })
}

/// Starts the real server on the log's directory, as an operator would after a restart, and
/// times it from its exec to `/readyz` answering 200; reads its peak RSS (VmHWM) then, stops it
/// with SIGTERM and measures the whole data directory. The log is only read: a start appends
/// nothing (the token store's file and the access log's files are created if missing).
fn measure_serve(run: u32, phase: Phase, bin: &Path, dir: &Path, device: Option<&BlockDevice>) -> Result<Sample> {
    let snapshot = frontdoor::snapshot::path(dir);
    if phase == Phase::ServeSnapshot {
        ensure!(
            snapshot.exists(),
            "no read model snapshot in {}: the `serve` before should have written one",
            dir.display()
        );
    } else {
        match std::fs::remove_file(&snapshot) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", snapshot.display()));
            }
            _ => {}
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let before = Counters::read(device);
    let started = Instant::now();
    let mut server = Server::spawn(bin, dir)?;
    let open_seconds = started.elapsed().as_secs_f64();
    let position = runtime.block_on(async {
        let deadline = started + SERVE_LIMIT;
        loop {
            if let Ok(resp) = client.get(format!("{}/readyz", server.url)).send().await
                && resp.status() == 200
            {
                let body: Value = resp.json().await?;
                return body["log_position"].as_u64().context("/readyz gave no log_position");
            }
            ensure!(Instant::now() < deadline, "/readyz did not say 200 within {} s", SERVE_LIMIT.as_secs());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let pid = server.child.id();
    let peak = status_kib(pid, "VmHWM").context("reading the server's VmHWM")?;
    // SIGTERM: the server drains and closes the log cleanly, so the cached log stays as it was.
    let term = Command::new("kill").args(["-TERM", &pid.to_string()]).status().context("running kill")?;
    ensure!(term.success(), "kill -TERM {pid} failed");
    let exited = server.child.wait().context("waiting for the server")?;
    ensure!(exited.success(), "the server exited with {exited} after SIGTERM");
    let window = started.elapsed();
    // The server has been waited for, so its CPU time counts as this process's own.
    let (_, cpu) = Counters::read(device).since(Some(&before));
    let dir_bytes = allocated_bytes(dir).with_context(|| format!("measuring {}", dir.display()))?;
    let snapshot_bytes = std::fs::metadata(&snapshot).map(|m| m.len()).ok();
    Ok(Sample {
        run,
        phase,
        snapshot_bytes,
        events: position,
        seconds,
        open_seconds,
        read_seconds: None,
        fold_seconds: None,
        record_bytes: None,
        dir_bytes: Some(dir_bytes),
        contacts: None,
        open_contacts: None,
        peak_rss_kib: Some(peak),
        observed: Observed::new(window, cpu),
    })
}

/// A `kB` line of `/proc/<pid>/status` (`VmHWM`, `VmRSS`).
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(&format!("{key}:")))?;
    line[key.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// The `rebuild-phase` subcommand: one measurement; prints its result as one line of JSON.
pub fn run_phase(args: &PhaseArgs) -> Result<()> {
    // The server's own settings: the log's options and the due policy, from the defaults.
    let config = Config::with_data_dir(&args.log);
    let options = Options::default();
    let opening = Instant::now();
    let mut result = if matches!(args.phase, Phase::Pg | Phase::PgFold) {
        let (Some(url), Some(table)) = (&args.pg_url, &args.table) else {
            bail!("the pg phases need --pg-url and --table");
        };
        rebuild_pg::timed_read(url, table, args.phase == Phase::PgFold)?
    } else if args.phase == Phase::Frames {
        // The segment files' own frames, read whole, checksums checked, nothing parsed.
        let files = eventlog::segment::list(&args.log.join(eventlog::segment::SEGMENTS_DIR))?;
        let open_seconds = opening.elapsed().as_secs_f64();
        let started = Instant::now();
        let (mut events, mut bytes) = (0u64, 0u64);
        for (_, path) in files {
            let data = std::fs::read(&path)?;
            let mut at = usize::try_from(eventlog::segment::HEADER_LEN)?;
            while at < data.len() {
                let Ok(frame) = eventlog::segment::parse_frame(&data[at..]) else { break };
                events += 1;
                bytes += frame.record.len() as u64;
                at += frame.len;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        json!({"events": events, "seconds": seconds, "open_seconds": open_seconds, "record_bytes": bytes})
    } else {
        let log = EventLog::open_with(&args.log, &options)
            .with_context(|| format!("opening the log in {}", args.log.display()))?;
        let open_seconds = opening.elapsed().as_secs_f64();
        let mut result = match args.phase {
            Phase::Rebuild => {
                let report = Live::new(config.policy).rebuild(&log)?;
                json!({
                    "events": report.events,
                    "seconds": report.elapsed.as_secs_f64(),
                    "contacts": report.contacts,
                    "open_contacts": report.open,
                })
            }
            Phase::Scan => timed_scan(&log, |env| {
                std::hint::black_box(env);
                Ok(())
            })?,
            Phase::Engine => timed_scan(&log, |env| {
                let event = env.event().map_err(|e| anyhow!("position {}: {e}", env.position))?;
                std::hint::black_box(event);
                Ok(())
            })?,
            Phase::Split => split_rebuild(&log)?,
            Phase::Frames | Phase::Pg | Phase::PgFold | Phase::Serve | Phase::ServeSnapshot => {
                unreachable!("not measured in this process")
            }
        };
        result["open_seconds"] = json!(open_seconds);
        log.shutdown();
        result
    };
    result["peak_rss_kib"] = json!(peak_rss_kib());
    println!("{result}");
    Ok(())
}

/// Reads every event as the rebuild does, a page of `PAGE` at a time, calling `each` on it.
fn timed_scan(log: &EventLog, mut each: impl FnMut(&Envelope) -> Result<()>) -> Result<Value> {
    let started = Instant::now();
    let mut after = 0;
    loop {
        let page = log.read_all(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for env in &page {
            each(env)?;
        }
    }
    Ok(json!({"events": after, "seconds": started.elapsed().as_secs_f64()}))
}

/// The rebuild's work on one thread (as `Live::rebuild` did before it read on a thread of its
/// own) on a bare `ReadModel`, timing `read_all` and `apply` apart; the rest of the time is
/// spent freeing each page.
fn split_rebuild(log: &EventLog) -> Result<Value> {
    let started = Instant::now();
    let mut model = ReadModel::default();
    let (mut read, mut fold) = (Duration::ZERO, Duration::ZERO);
    loop {
        let t0 = Instant::now();
        let page = log.read_all(model.position(), PAGE)?;
        let t1 = Instant::now();
        read += t1 - t0;
        if page.is_empty() {
            break;
        }
        for env in &page {
            model.apply(env).map_err(|e| anyhow!("position {}: {e}", env.position))?;
        }
        fold += t1.elapsed();
    }
    Ok(json!({
        "events": model.position(),
        "seconds": started.elapsed().as_secs_f64(),
        "read_seconds": read.as_secs_f64(),
        "fold_seconds": fold.as_secs_f64(),
    }))
}

/// Functions whose inclusive time `--perf` reports, by the name perf gives them; `↳` marks a
/// part of the row above it. The rebuild runs on two threads (`Live::rebuild_from`): one reads
/// the log and parses each event's data, the other folds; so the rows are CPU time, not wall
/// time, and the two threads' rows add up to more than the rebuild's wall time.
const PROFILED: [(&str, &str); 11] = [
    ("the folding thread (`Live::rebuild_from`)", "frontdoor::live::Live::rebuild_from"),
    ("↳ the fold (`ReadModel::apply_parsed`)", "projections::model::ReadModel::apply_parsed"),
    ("↳↳ `ChildIndex::receive` (previous and later contacts)", "projections::children::ChildIndex::receive"),
    ("↳↳↳ names made comparable (`names::comparable`)", "projections::names::comparable"),
    ("↳↳ possible matches (`ChildIndex::refresh_possible`)", "projections::children::ChildIndex::refresh_possible"),
    (
        "↳↳ their neighbours (`ChildIndex::possible_neighbours`)",
        "projections::children::ChildIndex::possible_neighbours",
    ),
    ("↳↳ a contact's facts (`ContactFacts::of`)", "projections::facts::ContactFacts::of"),
    ("the reading thread: `EventLog::read_all`", "eventlog::log::EventLog::read_all"),
    ("↳ checksum and envelope parse (`decode_record`)", "eventlog::record::decode_record"),
    ("the reading thread: the data's typed parse (`parse_for_fold`)", "projections::model::parse_for_fold"),
    ("↳ `Event::from_data`", "events::schema::Event::from_data"),
];

/// A profile of one start-up rebuild: (what, share of the samples in percent) for
/// [`PROFILED`], malloc and free's own time, and the hottest functions by their own time
/// (the instances of a generic function together).
#[derive(Debug, Clone)]
struct Profile {
    /// How many samples perf recorded, if it said.
    samples: Option<u64>,
    inclusive: Vec<(&'static str, Option<f64>)>,
    allocator: f64,
    hottest: Vec<(f64, String)>,
}

/// One more start-up rebuild under `perf record` (cpu-clock samples with DWARF call graphs:
/// release builds keep no frame pointers), then `perf report` twice: inclusive and own time.
fn perf_profile(log: &Path) -> Result<Profile> {
    let exe = std::env::current_exe()?;
    let data = log.with_file_name("perf.data");
    eprintln!("profiling one start-up rebuild with perf into {}", data.display());
    let recorded = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
        .arg(&data)
        .arg("--")
        .arg(&exe)
        .args(["rebuild-phase", "--phase", "rebuild", "--log"])
        .arg(log)
        .output()
        .context("running perf record (is perf installed?)")?;
    ensure!(recorded.status.success(), "perf record failed: {}", String::from_utf8_lossy(&recorded.stderr).trim());
    // Rows of (first percentage, symbol); a symbol may come more than once.
    let report = |children: &str, fields: &str| -> Result<Vec<(f64, String)>> {
        let out = Command::new("perf")
            .args(["report", children, "--sort", "sym", "-F", fields, "--stdio", "-g", "none", "-i"])
            .arg(&data)
            .output()
            .context("running perf report")?;
        ensure!(out.status.success(), "perf report failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        Ok(String::from_utf8_lossy(&out.stdout).lines().filter_map(perf_row).collect())
    };
    let inclusive = report("--children", "overhead_children,overhead,sym")?;
    let mut own: BTreeMap<String, f64> = BTreeMap::new();
    for (share, sym) in report("--no-children", "overhead,sym")? {
        *own.entry(sym).or_default() += share;
    }
    let mut hottest: Vec<(f64, String)> = own.iter().map(|(sym, share)| (*share, sym.clone())).collect();
    hottest.sort_by(|a, b| b.0.total_cmp(&a.0));
    hottest.truncate(15);
    // perf record ends with `[ perf record: Captured and wrote 1.2 MB perf.data (5093 samples) ]`.
    let stderr = String::from_utf8_lossy(&recorded.stderr);
    let samples = stderr
        .rsplit_once('(')
        .and_then(|(_, tail)| tail.split_once(" samples)"))
        .and_then(|(n, _)| n.trim().parse().ok());
    Ok(Profile {
        samples,
        inclusive: PROFILED.iter().map(|(what, name)| (*what, inclusive_share(&inclusive, name))).collect(),
        allocator: own
            .iter()
            .filter(|(sym, _)| {
                // glibc's (malloc, free and their internals) or mimalloc's (`mi_`, `_mi_`).
                ["malloc", "free", "unlink_chunk", "consolidate"].iter().any(|a| sym.contains(a))
                    || sym.starts_with("mi_")
                    || sym.starts_with("_mi_")
            })
            .map(|(_, share)| share)
            .sum(),
        hottest,
    })
}

/// A row of `perf report -F <percentages>,sym`: the first percentage and the symbol.
fn perf_row(line: &str) -> Option<(f64, String)> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let first = parts.first()?.strip_suffix('%')?.parse().ok()?;
    // After the percentages, `[.]` (user) or `[k]` (kernel), then the symbol.
    let marker = parts.iter().position(|p| p.starts_with('[') && p.ends_with(']'))?;
    Some((first, parts[marker + 1..].join(" ")))
}

/// The inclusive share of `name`: perf may list a function more than once (for disjoint
/// samples), and an inlined one only as `name (inlined)`, which counts when nothing else does.
fn inclusive_share(rows: &[(f64, String)], name: &str) -> Option<f64> {
    let sum = |wanted: &str| {
        let shares: Vec<f64> = rows.iter().filter(|(_, sym)| sym == wanted).map(|(share, _)| *share).collect();
        (!shares.is_empty()).then(|| shares.iter().sum::<f64>())
    };
    sum(name).or_else(|| sum(&format!("{name} (inlined)")))
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

struct Report<'a> {
    session: &'a Session,
    sets: &'a [SizeSet],
    samples: &'a [Sample],
    /// Of a start-up rebuild of the first size.
    profile: Option<&'a Profile>,
    pg: bool,
}

/// The report on one log size.
struct SizeReport<'a> {
    set: &'a SizeSet,
    built: &'a BuiltLog,
    on_disk: u64,
    samples: Vec<&'a Sample>,
    profile: Option<&'a Profile>,
    pg: bool,
}

/// Medians across runs of one phase.
#[derive(Debug, Clone, Copy)]
struct Summary {
    rate: f64,
    seconds: f64,
    open_seconds: f64,
    read_seconds: Option<f64>,
    fold_seconds: Option<f64>,
    peak_rss_mib: Option<f64>,
    runs: usize,
}

impl<'a> Report<'a> {
    fn size(&self, set: &'a SizeSet) -> SizeReport<'a> {
        let first = self.sets.first().is_some_and(|f| std::ptr::eq(f, set));
        SizeReport {
            set,
            built: &set.built,
            on_disk: set.on_disk,
            samples: self.samples.iter().filter(|s| s.events == set.built.events).collect(),
            profile: self.profile.filter(|_| first),
            pg: self.pg,
        }
    }

    /// Peak RSS and bytes on disk per event, for every size.
    fn footprint(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| events | peak RSS MiB: start-up rebuild | server | server from its snapshot | engine limit | segment frames only \
             | on disk: log bytes / event | whole data directory after the server ran, bytes / event \
             | of which the read model's snapshot | stored records bytes / event | PostgreSQL table bytes / event |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for set in self.sets {
            let one = self.size(set);
            let n = set.built.events.max(1) as f64;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
                set.built.events,
                show(one.summary(Phase::Rebuild).peak_rss_mib, 0),
                show(one.summary(Phase::Serve).peak_rss_mib, 0),
                show(one.summary(Phase::ServeSnapshot).peak_rss_mib, 0),
                show(one.summary(Phase::Engine).peak_rss_mib, 0),
                show(one.summary(Phase::Frames).peak_rss_mib, 0),
                set.on_disk as f64 / n,
                show(one.dir_bytes().map(|b| b as f64 / n), 0),
                show(one.snapshot_bytes().map(|b| b as f64 / n), 0),
                show(one.record_bytes().map(|b| b as f64 / n), 0),
                show(set.pg_table.as_ref().map(|(_, b)| *b as f64 / n), 0),
            );
        }
        out
    }
}

impl SizeReport<'_> {
    fn of(&self, phase: Phase) -> Vec<&Sample> {
        self.samples.iter().copied().filter(|s| s.phase == phase).collect()
    }

    fn phases(&self) -> Vec<Phase> {
        Phase::measured(self.pg)
    }

    fn summary(&self, phase: Phase) -> Summary {
        let ss = self.of(phase);
        Summary {
            rate: median(ss.iter().map(|s| s.rate()).collect()),
            seconds: median(ss.iter().map(|s| s.seconds).collect()),
            open_seconds: median(ss.iter().map(|s| s.open_seconds).collect()),
            read_seconds: median_of(&ss, |s| s.read_seconds),
            fold_seconds: median_of(&ss, |s| s.fold_seconds),
            peak_rss_mib: median_of(&ss, Sample::peak_rss_mib),
            runs: ss.len(),
        }
    }

    /// Microseconds per event of the median `seconds`.
    fn us(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.built.events.max(1) as f64
    }

    fn record_bytes(&self) -> Option<u64> {
        self.samples.iter().find_map(|s| s.record_bytes)
    }

    /// The whole data directory's size after the server ran on it (the last run's).
    fn dir_bytes(&self) -> Option<u64> {
        self.samples.iter().rev().find_map(|s| s.dir_bytes)
    }

    /// The read model's snapshot in it (the last run's).
    fn snapshot_bytes(&self) -> Option<u64> {
        self.samples.iter().rev().find_map(|s| s.snapshot_bytes)
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ =
            writeln!(out, "| measurement | events/s (median) | seconds | µs / event | open s | peak RSS MiB | runs |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for phase in self.phases() {
            let s = self.summary(phase);
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.3} | {:.2} | {:.3} | {} | {} |",
                phase.name(),
                s.rate,
                s.seconds,
                self.us(s.seconds),
                s.open_seconds,
                show(s.peak_rss_mib, 0),
                s.runs
            );
        }
        out
    }

    fn target_lines(&self) -> String {
        let rebuild = self.summary(Phase::Rebuild);
        let events = self.built.events as f64;
        let scaled = if (events - TARGET_EVENTS).abs() < 0.5 { "" } else { " (scaled from the measured rate)" };
        let million = TARGET_EVENTS / rebuild.rate;
        let with_open = million + rebuild.open_seconds;
        let mut out = String::new();
        out.push_str(&verdict_line(
            &format!("start-up rebuild of 1,000,000 events{scaled}"),
            &format!("{million:.2} s"),
            &format!("< {TARGET_SECONDS} s"),
            million < TARGET_SECONDS,
        ));
        out.push_str(&verdict_line(
            "start-up rebuild rate",
            &format!("{:.0} events/s", rebuild.rate),
            &format!("≥ {TARGET_RATE:.0} events/s"),
            rebuild.rate >= TARGET_RATE,
        ));
        out.push_str(&verdict_line(
            "opening the log and rebuilding (stricter: what a restart waits for before /readyz says 200)",
            &format!("{with_open:.2} s"),
            &format!("< {TARGET_SECONDS} s"),
            with_open < TARGET_SECONDS,
        ));
        let engine = self.summary(Phase::Engine);
        let of_engine = rebuild.rate / engine.rate;
        out.push_str(&verdict_line(
            "start-up rebuild / engine limit (scan + typed parse of the same log)",
            &format!("{:.0}% ({:.0} of {:.0} events/s)", of_engine * 100.0, rebuild.rate, engine.rate),
            &format!("≥ {:.0}%", TARGET_OF_ENGINE * 100.0),
            of_engine >= TARGET_OF_ENGINE,
        ));
        if self.pg {
            let pg = self.summary(Phase::Pg);
            let _ = writeln!(
                out,
                "- start-up rebuild / PostgreSQL reading the same rows in order with the same typed parse: \
                 **{:.2}×** ({:.0} against {:.0} events/s; no target)",
                rebuild.rate / pg.rate,
                rebuild.rate,
                pg.rate
            );
            let pg_fold = self.summary(Phase::PgFold);
            let _ = writeln!(
                out,
                "- start-up rebuild / the same rebuild from PostgreSQL (rows in order, the same parse and fold): \
                 **{:.2}×** ({:.0} against {:.0} events/s; no target)",
                rebuild.rate / pg_fold.rate,
                rebuild.rate,
                pg_fold.rate
            );
        }
        // The server's start-up: stated for 5M events (issue 14), judged only there.
        let serve = self.summary(Phase::Serve);
        let serve_mb = serve.peak_rss_mib.map(|m| m * 1024.0 * 1024.0 / 1e6);
        let from_snapshot = self.summary(Phase::ServeSnapshot);
        let from_snapshot_mb = from_snapshot.peak_rss_mib.map(|m| m * 1024.0 * 1024.0 / 1e6);
        if (events - SERVE_TARGET_EVENTS).abs() < 0.5 {
            out.push_str(&verdict_line(
                "the server, exec to `/readyz` 200, from the read model's snapshot written at the clean shutdown before",
                &format!("{:.2} s", from_snapshot.seconds),
                &format!("≤ {SERVE_TARGET_SECONDS} s"),
                from_snapshot.seconds <= SERVE_TARGET_SECONDS,
            ));
            out.push_str(&verdict_line(
                "that server's peak RSS (VmHWM) by then",
                &format!("{} MB", show(from_snapshot_mb, 0)),
                &format!("≤ {TARGET_RSS_MB:.0} MB"),
                from_snapshot_mb.is_some_and(|m| m <= TARGET_RSS_MB),
            ));
            out.push_str(&verdict_line(
                "the server, exec to `/readyz` 200, without a snapshot (after a crash with none written yet, or a new build): the whole log folded",
                &format!("{:.2} s", serve.seconds),
                &format!("≤ {SERVE_TARGET_SECONDS} s"),
                serve.seconds <= SERVE_TARGET_SECONDS,
            ));
            out.push_str(&verdict_line(
                "the server's peak RSS (VmHWM) by then",
                &format!("{} MB", show(serve_mb, 0)),
                &format!("≤ {TARGET_RSS_MB:.0} MB"),
                serve_mb.is_some_and(|m| m <= TARGET_RSS_MB),
            ));
        } else {
            let _ = writeln!(
                out,
                "- the server, exec to `/readyz` 200: **{:.2} s** from its snapshot (peak RSS **{} MB**), **{:.2} s** \
                 without one (peak RSS **{} MB**) (targets stated for {SERVE_TARGET_EVENTS} events: ≤ \
                 {SERVE_TARGET_SECONDS} s, ≤ {TARGET_RSS_MB:.0} MB)",
                from_snapshot.seconds,
                show(from_snapshot_mb, 0),
                serve.seconds,
                show(serve_mb, 0)
            );
        }
        // The RSS target is stated for a million events stored.
        if (events - TARGET_EVENTS).abs() < 0.5 {
            let rss_mb = rebuild.peak_rss_mib.map(|m| m * 1024.0 * 1024.0 / 1e6);
            out.push_str(&verdict_line(
                "peak RSS of the start-up rebuild with 1,000,000 events stored",
                &format!("{} MB", show(rss_mb, 0)),
                &format!("≤ {TARGET_RSS_MB:.0} MB"),
                rss_mb.is_some_and(|m| m <= TARGET_RSS_MB),
            ));
        }
        out
    }

    /// Per event: the segments' frames, then the envelope, then the fold, from the phases.
    fn where_the_time_goes(&self) -> String {
        let rebuild = self.summary(Phase::Rebuild);
        let scan = self.summary(Phase::Scan);
        let typed = self.summary(Phase::Engine);
        let frames = self.summary(Phase::Frames);
        let split = self.summary(Phase::Split);
        let total = self.us(split.seconds);
        let read = split.read_seconds.map(|r| self.us(r));
        let fold = split.fold_seconds.map(|f| self.us(f));
        let other = read.zip(fold).map(|(r, f)| total - r - f);
        let frames_us = self.us(frames.seconds);
        let envelope = read.map(|r| r - frames_us);
        let share = |v: Option<f64>| v.map(|v| v / total * 100.0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Per event, medians across runs. The rebuild's own parts come from `{}` (the same work \
             on one thread, timed apart: {:.2} µs/event in all, against {:.2} for the start-up \
             rebuild itself, which reads on one thread while it folds on another); reading the \
             segments' frames from `{}`.\n",
            Phase::Split.name(),
            total,
            self.us(rebuild.seconds),
            Phase::Frames.name()
        );
        let _ = writeln!(out, "| part | µs / event | share of the rebuild |");
        let _ = writeln!(out, "|---|---:|---:|");
        let mut row = |label: &str, v: Option<f64>| {
            let _ = writeln!(out, "| {label} | {} | {}% |", show(v, 2), show(share(v), 0));
        };
        row("reading the segment files frame by frame (length, checksums)", Some(frames_us));
        row("envelope parse and the rest of `read_all` beyond the frames", envelope);
        row("fold: `ReadModel::apply`, with the data it parses", fold);
        row("freeing each page of envelopes", other);
        let _ = writeln!(
            out,
            "\nFor comparison: the engine limit (`{}`) costs {:.2} µs/event ({:.0} events/s); a bare \
             `read_all` scan without the typed parse {:.2} µs/event ({:.0} events/s), so the typed \
             parse of every event's data costs about {:.2} µs/event (the two measured in separate \
             processes: on a busy machine the difference is noise).",
            Phase::Engine.name(),
            self.us(typed.seconds),
            typed.rate,
            self.us(scan.seconds),
            scan.rate,
            self.us(typed.seconds - scan.seconds),
        );
        if let Some(profile) = self.profile {
            out.push_str(&self.profile_lines(profile));
        }
        out
    }

    fn profile_lines(&self, profile: &Profile) -> String {
        let rebuild_us = self.us(self.summary(Phase::Rebuild).seconds);
        // CPU time per event: every sample is 1/499 s of one thread's time.
        let cpu_us = profile.samples.map(|n| self.us(n as f64 / 499.0));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nOne more start-up rebuild under `perf record -e cpu-clock -F 499 --call-graph dwarf` \
             (`--perf`; {}, {} µs of CPU per event in this profiled run, which perf's unwinding slows \
             and whose sample count varies by half from run to run, so compare the shares; the \
             median unprofiled rebuild took {rebuild_us:.2} µs per event of wall time on two threads). Inclusive CPU time of the rebuild's parts \
             (`perf report --children`), as a share of all the process's samples and in µs of CPU \
             per event (n/a: not found in the profile, e.g. inlined):\n",
            profile.samples.map_or_else(|| "samples: ?".to_owned(), |n| format!("{n} samples")),
            show(cpu_us, 2)
        );
        let _ = writeln!(out, "| function | share of samples | ≈ µs of CPU / event |");
        let _ = writeln!(out, "|---|---:|---:|");
        for (what, share) in &profile.inclusive {
            let _ = writeln!(
                out,
                "| {what} | {}% | {} |",
                show(*share, 1),
                show(share.zip(cpu_us).map(|(s, cpu)| s / 100.0 * cpu), 2)
            );
        }
        let _ = writeln!(
            out,
            "\nmalloc and free's own time: {:.1}% of the samples. The hottest functions by their own \
             time (`perf report --no-children`):\n",
            profile.allocator
        );
        let _ = writeln!(out, "| own time | function |\n|---:|---|");
        for (share, sym) in &profile.hottest {
            let short: String = sym.chars().take(110).collect();
            let _ = writeln!(out, "| {share:.1}% | `{}` |", short.replace('|', "\\|"));
        }
        out
    }

    /// What the log holds, how it was made, what it takes on disk.
    fn log_lines(&self) -> String {
        let b = self.built;
        let mut out = String::new();
        let rebuild = self.of(Phase::Rebuild);
        let contacts = rebuild.first().and_then(|s| s.contacts).map(|c| format!(", {c} contacts")).unwrap_or_default();
        let open = rebuild
            .first()
            .and_then(|s| s.open_contacts)
            .map(|c| format!(" ({c} of them open at the end)"))
            .unwrap_or_default();
        let reused = if b.reused { " by an earlier run, and reused" } else { "" };
        let built = format!("built in {:.0} s{reused}", b.build_seconds);
        let _ = writeln!(
            out,
            "- log: {} events{contacts}{open}, from {} windows of `demo::generate(now, seed, \
             &DemoActors::standard(), &DuePolicy::default())`, `now` = {BASE_NOW} and every four weeks \
             before it, seeds from {FIRST_SEED}; appended oldest window first with \
             `EventLog::append`, up to {LOAD_IN_FLIGHT} appends in flight ({built}; cached in \
             `rebuild-{}/` with a format version)",
            b.events, b.windows, b.events
        );
        let record_bytes = self.record_bytes();
        let per_event = |bytes: u64| bytes as f64 / b.events.max(1) as f64;
        let stored = record_bytes
            .map(|r| {
                format!(
                    "; the stored records (checksum, hash, JSON envelope) are {:.0} bytes/event, so the \
                     disk holds {:.2}× the records' bytes",
                    per_event(r),
                    self.on_disk as f64 / r as f64
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- on disk: {:.0} bytes/event (`du` of the log directory, {:.1} MiB, / {}){stored}",
            per_event(self.on_disk),
            self.on_disk as f64 / 1024.0 / 1024.0,
            b.events
        );
        if let Some((table, bytes)) = &self.set.pg_table {
            let _ = writeln!(
                out,
                "- PostgreSQL: table `{table}`, {:.0} bytes/event (`pg_total_relation_size`: heap, TOAST, \
                 the primary key on position and the unique (contact_id, version) index; {:.1} MiB)",
                per_event(*bytes),
                *bytes as f64 / 1024.0 / 1024.0
            );
        }
        out
    }
}

impl Report<'_> {
    fn markdown(&self) -> String {
        let dirs: Vec<String> = self.sets.iter().map(|s| format!("`{}`", s.built.dir.display())).collect();
        let mut out = self.session.header(
            "Start-up rebuild benchmark",
            "rebuild",
            &dirs.join(", "),
            "other CPU-bound work on the same CPUs",
        );
        let _ = writeln!(
            out,
            "- method: {} run(s); in each run, for each log size, every measurement runs once, in \
             the order of the table, each in a fresh process (`frontdoor-bench rebuild-phase`) that \
             opens the log as the server does (default options); \
             `seconds` excludes opening the log or connecting (`open s`). The OS page cache is \
             warm (before each size's measurements an unmeasured read of the log's files), so this \
             is a service restart, not a cold boot. \
             Figures are medians across runs; peak RSS is the process's VmHWM \
             (`/proc/self/status`), the log's in-memory index included (for PostgreSQL: the client \
             process only).",
            self.session.runs,
        );
        if !self.pg {
            let _ = writeln!(out, "- PostgreSQL: not measured (no `--pg-url` or `FRONTDOOR_BENCH_PG_URL`)");
        }
        out.push_str(&quiet_notes(
            self.samples
                .iter()
                .map(|s| (format!("run {} {} {}", s.run, s.events, s.phase.name()), &s.observed.quietness)),
        ));
        let _ = writeln!(out, "\n| measurement | what runs |\n|---|---|");
        for phase in Phase::measured(self.pg) {
            let _ = writeln!(out, "| {} | {} |", phase.name(), phase.what());
        }
        let _ = writeln!(
            out,
            "\nThe engine limit is what any rebuild through the log's API must at least do: read \
             every event with `read_all` in pages of {PAGE} (the segments' frames, the record's CRC \
             check, the `Envelope` parse: ids, timestamps, actor, hashes, the data kept as raw \
             JSON) and parse every event's data into its typed `Event` (`env.event()`), folding \
             nothing. The start-up rebuild does the same reading but parses the data only of the \
             events its fold needs, and folds."
        );
        for set in self.sets {
            let one = self.size(set);
            let _ = writeln!(out, "\n### {} events\n", set.built.events);
            out.push_str(&one.log_lines());
            out.push('\n');
            out.push_str(&one.table());
            let _ = writeln!(out, "\nAgainst the targets:\n");
            out.push_str(&one.target_lines());
            let _ = writeln!(out, "\n#### Where the time goes ({} events)\n", set.built.events);
            out.push_str(&one.where_the_time_goes());
        }
        let _ = writeln!(out, "\n### Footprint\n");
        let _ = writeln!(
            out,
            "Peak RSS (VmHWM, MiB, medians) of the processes above, and bytes on disk per event: the \
             log directory (`du`), the stored records alone, and PostgreSQL's table.\n"
        );
        out.push_str(&self.footprint());
        let _ = writeln!(out, "\nEvery run's figures: `results-rebuild.csv`.");
        out
    }

    fn csv(&self) -> String {
        let mut out = String::from(
            "run,phase,events,seconds,events_per_s,us_per_event,open_s,read_s,fold_s,record_bytes,\
             dir_bytes,snapshot_bytes,peak_rss_mib,others_cpu_pct,",
        );
        out.push_str(Quietness::CSV_HEADER);
        out.push('\n');
        let opt = |v: Option<f64>, d: usize| v.map(|v| format!("{v:.d$}")).unwrap_or_default();
        for s in self.samples {
            let _ = writeln!(
                out,
                "{},{},{},{:.4},{:.0},{:.3},{:.4},{},{},{},{},{},{},{},{}",
                s.run,
                s.phase.arg(),
                s.events,
                s.seconds,
                s.rate(),
                s.us_per_event(s.seconds),
                s.open_seconds,
                opt(s.read_seconds, 4),
                opt(s.fold_seconds, 4),
                s.record_bytes.map(|b| b.to_string()).unwrap_or_default(),
                s.dir_bytes.map(|b| b.to_string()).unwrap_or_default(),
                s.snapshot_bytes.map(|b| b.to_string()).unwrap_or_default(),
                opt(s.peak_rss_mib(), 1),
                opt(s.observed.others_pct(), 0),
                s.observed.quietness.csv(),
            );
        }
        out
    }
}
