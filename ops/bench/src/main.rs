//! `frontdoor-bench`: benchmarks of the front door's event log against the disk's own limit.
//!
//! `append` measures, on one filesystem:
//!
//! - `raw fsync`: one thread appending fixed-size records to a plain file and calling
//!   `sync_data()` after each one: the most durable appends per second one thread can get.
//! - `eventlog xN`: N tokio tasks appending one event each to the log, each waiting for the
//!   durable acknowledgement before its next append (so group commit is all that can make N
//!   appenders faster than one).
//!
//! Every measurement runs for a fixed time after a warm-up, on a fresh file or log directory,
//! and is repeated; contenders are interleaved within each run, and the report gives the
//! median across runs. See `ops/bench/README.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write as _};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};
use eventlog::schema::{
    Agency, CallDirection, CallLogged, CallWith, Channel, ChecksReturned, Child, Consent, ContactReceived, NoteAdded,
    Referrer, Sex, SourceCode,
};
use eventlog::{Actor, AppendRequest, Event, EventLog, NewEvent, Role};
use ulid::Ulid;

/// The workspace root, from this package's manifest directory (`ops/bench`).
const WORKSPACE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Where the report goes by default.
const BENCH_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The project's targets for the two ratios.
const TARGET_SCALING: f64 = 8.0;
const TARGET_VS_FSYNC: f64 = 0.5;

/// Other processes' CPU (percent of one CPU, user mode) above which a measurement is repeated.
const NOISY_OTHERS_PCT: f64 = 20.0;

#[derive(Debug, Parser)]
#[command(name = "frontdoor-bench", about = "Benchmarks of the front door's event log")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Durable appends: the disk's raw fsync rate, then the log with 1, 8 and 64 appenders.
    Append(AppendArgs),
}

#[derive(Debug, Args)]
struct AppendArgs {
    /// Seconds each measurement runs for, after its warm-up.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// How many times every contender is measured (the report gives the median).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Warm-up before each measurement, in milliseconds (appends made during it are not counted).
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Smoke test: 1 run of 1 s each, 200 ms warm-up, no waiting for quiet; the report goes to
    /// `target/bench-tmp/quick/` unless `--out` is given, so the real results are kept.
    #[arg(long)]
    quick: bool,
    /// Concurrent appenders to measure the log with.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    appenders: Vec<usize>,
    /// Size of each raw fsync record in bytes (about one event's data).
    #[arg(long, default_value_t = 600)]
    record_bytes: usize,
    /// Events an appender writes to one contact before it moves on to a new contact.
    #[arg(long, default_value_t = 20)]
    events_per_contact: u32,
    /// Before each measurement, wait up to this many seconds for a quiet machine (a second with
    /// at most 20 device writes and other processes using at most 15% of one CPU); 0: don't wait.
    #[arg(long, default_value_t = 120)]
    quiet_wait_s: u64,
    /// Repeat a measurement (up to this many times) when other processes used more than 20% of
    /// one CPU during it (user-mode time, from /proc/stat); the last attempt is kept regardless.
    #[arg(long, default_value_t = 5)]
    max_retries: u32,
    /// Directory under which a temporary directory holds the fsync file and the logs.
    /// It must be on the filesystem being measured. Default: `<workspace>/target/bench-tmp`.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Directory the report (`RESULTS.md`) and the CSV (`results-append.csv`) are written to.
    /// Default: `ops/bench` (or `target/bench-tmp/quick` with `--quick`).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Append(args) => run_append(&args),
    }
}

// ---------------------------------------------------------------------------------------------
// The append benchmark
// ---------------------------------------------------------------------------------------------

/// One contender: the raw fsync loop or the log with some number of appenders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Contender {
    /// Appending to a file: every `sync_data()` also commits the file's new size.
    RawFsync,
    /// Overwriting a file written in full beforehand: every `sync_data()` is data only.
    RawFsyncOverwrite,
    EventLog(usize),
}

impl Contender {
    fn name(self) -> String {
        match self {
            Contender::RawFsync => "raw fsync".into(),
            Contender::RawFsyncOverwrite => "raw fsync (overwrite)".into(),
            Contender::EventLog(n) => format!("eventlog x{n}"),
        }
    }

    fn appenders(self) -> usize {
        match self {
            Contender::RawFsync | Contender::RawFsyncOverwrite => 1,
            Contender::EventLog(n) => n,
        }
    }
}

/// What one measurement of one contender found.
#[derive(Debug, Clone)]
struct Measurement {
    run: u32,
    contender: Contender,
    /// Appends acknowledged (or records synced) inside the measurement window.
    ops: u64,
    window: Duration,
    /// Latency of every counted append, in nanoseconds, sorted.
    latencies: Vec<u64>,
    /// What the data directory's block device did during the window, if it could be read.
    io: Option<IoDelta>,
    /// CPU time this process used during the window, if it could be read.
    cpu: Option<CpuDelta>,
    /// How long it waited for a quiet machine before it started, and whether it got one.
    waited: Duration,
    quiet: bool,
    /// Earlier attempts thrown away because other processes were busy during them.
    retries: u32,
}

impl Measurement {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.window.as_secs_f64()
    }

    fn percentile_us(&self, p: f64) -> f64 {
        percentile(&self.latencies, p) as f64 / 1000.0
    }

    fn mean_us(&self) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.iter().sum::<u64>() as f64 / self.latencies.len() as f64 / 1000.0
    }

    fn max_us(&self) -> f64 {
        self.latencies.last().copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil();
    // `rank` is in 0..=len, a small whole number, so the conversion is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 <= rank <= len")]
    let index = (rank as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

struct Settings {
    seconds: f64,
    runs: u32,
    warmup: Duration,
    appenders: Vec<usize>,
    record_bytes: usize,
    events_per_contact: u32,
    quick: bool,
    quiet_wait: Duration,
    max_retries: u32,
}

/// Waits until, over one second, the device sees at most `QUIET_WRITES` write requests and
/// other processes use at most `QUIET_CPU_PCT` of one CPU in user mode, or `max_wait` has passed.
/// Returns how long it waited and whether the machine was quiet.
fn wait_for_quiet(device: Option<&BlockDevice>, max_wait: Duration) -> (Duration, bool) {
    const QUIET_WRITES: u64 = 20;
    const QUIET_CPU_PCT: f64 = 15.0;
    let start = Instant::now();
    if max_wait.is_zero() {
        return (Duration::ZERO, true);
    }
    loop {
        let before = Counters::read(device);
        std::thread::sleep(Duration::from_secs(1));
        let (io, cpu) = Counters::read(device).since(Some(&before));
        let disk_quiet = io.is_none_or(|io| io.writes <= QUIET_WRITES);
        let cpu_quiet = cpu.and_then(|c| c.others_pct(Duration::from_secs(1))).is_none_or(|p| p <= QUIET_CPU_PCT);
        if disk_quiet && cpu_quiet {
            return (start.elapsed(), true);
        }
        if start.elapsed() >= max_wait {
            return (start.elapsed(), false);
        }
    }
}

fn run_append(args: &AppendArgs) -> Result<()> {
    let settings = Settings {
        seconds: if args.quick { 1.0 } else { args.seconds },
        runs: if args.quick { 1 } else { args.runs },
        warmup: Duration::from_millis(if args.quick { 200 } else { args.warmup_ms }),
        appenders: args.appenders.clone(),
        record_bytes: args.record_bytes,
        events_per_contact: args.events_per_contact.max(1),
        quick: args.quick,
        quiet_wait: Duration::from_secs(if args.quick { 0 } else { args.quiet_wait_s }),
        max_retries: if args.quick { 0 } else { args.max_retries },
    };
    if !(settings.seconds > 0.0 && settings.seconds.is_finite()) || settings.runs == 0 {
        bail!("--seconds must be positive and --runs at least 1");
    }
    if settings.appenders.is_empty() || settings.appenders.contains(&0) {
        bail!("--appenders needs one or more counts, each at least 1");
    }
    let window = Duration::from_secs_f64(settings.seconds);

    let root = std::fs::canonicalize(WORKSPACE_ROOT).context("finding the workspace root")?;
    let parent = args.dir.clone().unwrap_or_else(|| root.join("target").join("bench-tmp"));
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("frontdoor-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let out_dir = match (&args.out, settings.quick) {
        (Some(dir), _) => dir.clone(),
        (None, true) => root.join("target").join("bench-tmp").join("quick"),
        (None, false) => PathBuf::from(BENCH_DIR),
    };

    let device = BlockDevice::of(scratch.path());
    let load_before = load_average();
    if let Some(load) = load_before.as_deref() {
        eprintln!("load average before: {load} (other work on this machine skews every figure)");
    }
    let workload = Workload::new();
    let mut contenders = vec![Contender::RawFsync, Contender::RawFsyncOverwrite];
    contenders.extend(settings.appenders.iter().map(|&n| Contender::EventLog(n)));

    eprintln!(
        "frontdoor-bench append: {} run(s) x {} contender(s), {:.1} s each after {} ms warm-up, in {}",
        settings.runs,
        contenders.len(),
        settings.seconds,
        settings.warmup.as_millis(),
        scratch.path().display()
    );
    eprintln!(
        "event data {}..{} bytes of JSON ({} bytes on average); raw fsync records {} bytes",
        workload.min_data_bytes(),
        workload.max_data_bytes(),
        workload.mean_data_bytes(),
        settings.record_bytes
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut measurements = Vec::new();
    let mut record_bytes_stored = None;
    for run in 1..=settings.runs {
        for &contender in &contenders {
            let dir = scratch.path().join(format!("run{run}-{}", contender.name().replace([' ', '(', ')'], "")));
            for attempt in 0..=settings.max_retries {
                let (waited, quiet) = wait_for_quiet(device.as_ref(), settings.quiet_wait);
                if !quiet {
                    eprintln!("the machine is still busy after {} s: measuring anyway", settings.quiet_wait.as_secs());
                }
                let mut m = match contender {
                    Contender::RawFsync | Contender::RawFsyncOverwrite => measure_raw_fsync(
                        run,
                        contender,
                        &dir,
                        settings.record_bytes,
                        settings.warmup,
                        window,
                        device.as_ref(),
                    )?,
                    Contender::EventLog(n) => {
                        let (m, stored) = runtime.block_on(measure_eventlog(
                            run,
                            n,
                            &dir,
                            &workload,
                            settings.events_per_contact,
                            settings.warmup,
                            window,
                            device.as_ref(),
                        ))?;
                        record_bytes_stored = record_bytes_stored.or(stored);
                        m
                    }
                };
                (m.waited, m.quiet, m.retries) = (waited, quiet, attempt);
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
                // Commit the removal (and, with `discard`, its trims) now, not during the next one.
                File::open(scratch.path())?.sync_all()?;
                eprintln!(
                    "run {run} {:<20} {:>7.0} appends/s  p50 {:>6.0} µs  p99 {:>6.0} µs{}{}",
                    contender.name(),
                    m.ops_per_sec(),
                    m.percentile_us(50.0),
                    m.percentile_us(99.0),
                    m.io.as_ref().map(|io| io.describe_per_op(m.ops)).unwrap_or_default(),
                    m.cpu.as_ref().map(|cpu| cpu.describe(m.window)).unwrap_or_default(),
                );
                let others = m.cpu.and_then(|c| c.others_pct(m.window)).unwrap_or(0.0);
                if others <= NOISY_OTHERS_PCT || attempt == settings.max_retries {
                    measurements.push(m);
                    break;
                }
                eprintln!("other processes used {others:.0}% of a CPU during that measurement: repeating it");
            }
        }
    }
    drop(runtime);
    let load_after = load_average();

    let report = Report {
        settings: &settings,
        contenders: &contenders,
        measurements: &measurements,
        device: device.as_ref(),
        data_dir: &parent,
        workload: &workload,
        record_bytes_stored,
        load: (load_before, load_after),
    };
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let md_path = out_dir.join("RESULTS.md");
    let csv_path = out_dir.join("results-append.csv");
    std::fs::write(&md_path, report.markdown()).with_context(|| format!("writing {}", md_path.display()))?;
    std::fs::write(&csv_path, report.csv()).with_context(|| format!("writing {}", csv_path.display()))?;
    print!("{}", report.summary());
    eprintln!("wrote {} and {}", md_path.display(), csv_path.display());
    Ok(())
}

/// One thread writing `record_bytes` records to a new file, `sync_data()` after each: appended
/// at the end (the file grows, so every sync also commits its size, as the log's file does
/// when it grows), or overwriting a file written in full and synced beforehand (data only).
fn measure_raw_fsync(
    run: u32,
    contender: Contender,
    dir: &Path,
    record_bytes: usize,
    warmup: Duration,
    window: Duration,
    device: Option<&BlockDevice>,
) -> Result<Measurement> {
    /// Size of the overwritten file: records wrap around within it.
    const OVERWRITE_FILE_BYTES: u64 = 64 * 1024 * 1024;

    std::fs::create_dir_all(dir)?;
    let path = dir.join("records");
    let mut file = OpenOptions::new().create_new(true).read(true).write(true).open(&path)?;
    if contender == Contender::RawFsyncOverwrite {
        let chunk = vec![0u8; 1024 * 1024];
        let mut written = 0u64;
        while written < OVERWRITE_FILE_BYTES {
            file.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        file.sync_all()?;
        file.seek(SeekFrom::Start(0))?;
    }
    // The new directory entry is made durable first, as the log does when it creates its db.
    File::open(dir)?.sync_all()?;
    let mut record = vec![b'x'; record_bytes.max(1)];
    if let Some(last) = record.last_mut() {
        *last = b'\n';
    }
    let wrap_at = OVERWRITE_FILE_BYTES - record.len() as u64;

    let start = Instant::now();
    let measure_from = start + warmup;
    let measure_to = measure_from + window;
    let mut latencies = Vec::new();
    let mut ops = 0u64;
    let mut before = None;
    let mut offset = 0u64;
    loop {
        let t0 = Instant::now();
        if before.is_none() && t0 >= measure_from {
            before = Some(Counters::read(device));
        }
        if contender == Contender::RawFsyncOverwrite && offset >= wrap_at {
            file.seek(SeekFrom::Start(0))?;
            offset = 0;
        }
        file.write_all(&record)?;
        offset += record.len() as u64;
        file.sync_data()?;
        let t1 = Instant::now();
        if t1 >= measure_to {
            break;
        }
        if t1 >= measure_from {
            ops += 1;
        }
        if t0 >= measure_from {
            latencies.push(nanos(t1 - t0));
        }
    }
    let (io, cpu) = Counters::read(device).since(before.as_ref());
    latencies.sort_unstable();
    Ok(Measurement { run, contender, ops, window, latencies, io, cpu, waited: Duration::ZERO, quiet: true, retries: 0 })
}

/// `appenders` tasks appending to a fresh log; each appender writes `events_per_contact` events
/// to its contact (expected version = its last version) and then starts a new contact.
#[allow(clippy::too_many_arguments)]
async fn measure_eventlog(
    run: u32,
    appenders: usize,
    dir: &Path,
    workload: &Workload,
    events_per_contact: u32,
    warmup: Duration,
    window: Duration,
    device: Option<&BlockDevice>,
) -> Result<(Measurement, Option<usize>)> {
    let log = EventLog::open(dir).with_context(|| format!("opening the log in {}", dir.display()))?;
    let start = Instant::now();
    let measure_from = start + warmup;
    let measure_to = measure_from + window;

    let mut tasks = Vec::with_capacity(appenders);
    for a in 0..appenders {
        let log = log.clone();
        let workload = workload.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut ops = 0u64;
            let mut contact = Ulid::new();
            let mut version = 0u32;
            let mut sequence = a; // staggers which event each appender starts with
            let mut stored_bytes = None;
            loop {
                let event = if version == 0 { workload.opening() } else { workload.follow_up(sequence) };
                sequence += 1;
                let request = AppendRequest {
                    contact_id: contact,
                    events: vec![NewEvent::new(event, Utc::now(), workload.actor.clone())],
                    expected_version: Some(version),
                    idempotency: None,
                };
                let t0 = Instant::now();
                let appended = log.append(request).await.context("append failed")?;
                let t1 = Instant::now();
                if stored_bytes.is_none()
                    && let Some(env) = appended.envelopes.first()
                {
                    // crc32 (4) + hash (32) + body: the record format in eventlog::envelope.
                    stored_bytes = Some(36 + env.canonical_body().len());
                }
                version += 1;
                if version >= events_per_contact {
                    contact = Ulid::new();
                    version = 0;
                }
                if t1 >= measure_to {
                    break;
                }
                if t1 >= measure_from {
                    ops += 1;
                }
                if t0 >= measure_from {
                    latencies.push(nanos(t1 - t0));
                }
            }
            anyhow::Ok((ops, latencies, stored_bytes))
        }));
    }

    tokio::time::sleep_until(measure_from.into()).await;
    let before = Counters::read(device);
    tokio::time::sleep_until(measure_to.into()).await;
    let (io, cpu) = Counters::read(device).since(Some(&before));

    let mut latencies = Vec::new();
    let mut ops = 0;
    let mut stored = None;
    for task in tasks {
        let (n, mut l, s) = task.await??;
        ops += n;
        latencies.append(&mut l);
        stored = stored.or(s);
    }
    log.shutdown();
    drop(log);
    latencies.sort_unstable();
    let m = Measurement {
        run,
        contender: Contender::EventLog(appenders),
        ops,
        window,
        latencies,
        io,
        cpu,
        waited: Duration::ZERO,
        quiet: true,
        retries: 0,
    };
    Ok((m, stored))
}

// ---------------------------------------------------------------------------------------------
// The workload: realistic, synthetic events of about 600 bytes of JSON each
// ---------------------------------------------------------------------------------------------

/// The events appenders write: a contact_received to open each contact, then a rotation of
/// calls, agency checks and case notes. Every name is invented; phone numbers are in Ofcom's
/// drama range and e-mail domains are `example.org`.
#[derive(Debug, Clone)]
struct Workload {
    actor: Actor,
    opening: std::sync::Arc<Event>,
    follow_ups: std::sync::Arc<Vec<Event>>,
}

impl Workload {
    fn new() -> Workload {
        let actor =
            Actor { id: "practitioner-0042".into(), role: Role::Practitioner, agency: Agency::ChildrensSocialCare };
        let opening = Event::ContactReceived(ContactReceived {
            channel: Channel::Phone,
            source: SourceCode::School,
            referrer: Referrer {
                name: "Avery Testwood".into(),
                organisation: Some("Brookfield Primary School".into()),
                role: Some("Designated safeguarding lead".into()),
                phone: Some("01632 960123".into()),
                email: Some("dsl@brookfield.example.org".into()),
            },
            children: vec![
                Child {
                    name: "Sam Example".into(),
                    date_of_birth: NaiveDate::from_ymd_opt(2016, 5, 14),
                    sex: Some(Sex::Male),
                    child_ref: Some("C-004711".into()),
                    nhs_number: None,
                    upn: None,
                    ethnicity: None,
                },
                Child {
                    name: "Robin Example".into(),
                    date_of_birth: NaiveDate::from_ymd_opt(2019, 11, 2),
                    sex: Some(Sex::Female),
                    child_ref: None,
                    nhs_number: None,
                    upn: None,
                    ethnicity: None,
                },
            ],
            concerns: "Sam arrived at school hungry for the third day this week and said there was \
                       no food at home. He has a bruise on his left forearm he could not explain. \
                       Attendance has fallen to 82% this term. Mum told the class teacher she is \
                       struggling since her partner moved back in."
                .into(),
            immediate_risk: false,
            consent: Consent::Given,
            consent_override_reason: None,
            ppn_grade: None,
        });
        let follow_ups = vec![
            Event::CallLogged(CallLogged {
                direction: CallDirection::Outbound,
                with: CallWith::Referrer,
                started_at: Utc::now(),
                duration_seconds: 540,
                summary: "Spoke with the DSL at Brookfield Primary. Sam has been seen by the school \
                          nurse, who thinks the bruise is consistent with a fall but could not be \
                          sure. School have provided breakfast club places for both children from \
                          Monday. DSL reports mum was tearful at pick-up and said money is very \
                          tight since her hours were cut. No concerns raised about Robin at nursery. \
                          DSL agreed to call back if Sam discloses anything further."
                    .into(),
            }),
            Event::ChecksReturned(ChecksReturned {
                agency: Agency::Health,
                summary: "Health visitor last saw Robin in March for the two-year review; \
                          development on track, immunisations up to date. GP records show mum \
                          was prescribed antidepressants in January and missed two follow-up \
                          appointments. No A&E attendances for either child in the past twelve \
                          months. Health have no current safeguarding concerns on file but would \
                          support an early help assessment and can offer a home visit next week."
                    .into(),
                restricted: false,
            }),
            Event::NoteAdded(NoteAdded {
                text: "Checked the case management system: one previous contact in 2022 (neighbour \
                       reported shouting, closed with advice and signposting). No current plans or \
                       open episodes for either child. Police checks requested on the partner as \
                       mum says he moved back in recently; not yet returned. Consent for checks \
                       was given by mum on the phone this morning. Discussed with the team manager, \
                       who agrees this should go to the daily duty discussion tomorrow."
                    .into(),
            }),
        ];
        Workload { actor, opening: std::sync::Arc::new(opening), follow_ups: std::sync::Arc::new(follow_ups) }
    }

    fn opening(&self) -> &Event {
        &self.opening
    }

    fn follow_up(&self, sequence: usize) -> &Event {
        &self.follow_ups[sequence % self.follow_ups.len()]
    }

    fn data_sizes(&self) -> Vec<usize> {
        std::iter::once(&*self.opening).chain(self.follow_ups.iter()).map(|e| e.data_json().get().len()).collect()
    }

    fn min_data_bytes(&self) -> usize {
        self.data_sizes().into_iter().min().unwrap_or(0)
    }

    fn max_data_bytes(&self) -> usize {
        self.data_sizes().into_iter().max().unwrap_or(0)
    }

    fn mean_data_bytes(&self) -> usize {
        let sizes = self.data_sizes();
        sizes.iter().sum::<usize>() / sizes.len().max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// The machine and its block device
// ---------------------------------------------------------------------------------------------

/// The block device (and filesystem) a directory lives on, from /proc/self/mountinfo.
#[derive(Debug, Clone)]
struct BlockDevice {
    major: u64,
    minor: u64,
    source: String,
    fstype: String,
    mount_point: String,
}

/// The device's and the process's counters at one moment.
#[derive(Debug, Clone)]
struct Counters {
    disk: Option<DiskStats>,
    cpu: Option<CpuTimes>,
}

impl Counters {
    fn read(device: Option<&BlockDevice>) -> Counters {
        Counters { disk: device.and_then(BlockDevice::stats), cpu: CpuTimes::read() }
    }

    fn since(&self, earlier: Option<&Counters>) -> (Option<IoDelta>, Option<CpuDelta>) {
        let Some(earlier) = earlier else { return (None, None) };
        let io = self.disk.zip(earlier.disk).map(|(b, a)| b.since(&a));
        let cpu = self.cpu.zip(earlier.cpu).map(|(b, a)| {
            let process_ns = b.process_ns.saturating_sub(a.process_ns);
            CpuDelta {
                process_ns,
                writer_ns: b.writer_ns.saturating_sub(a.writer_ns),
                others_ns: b.machine_user_ns.zip(a.machine_user_ns).zip(b.own_user_ns.zip(a.own_user_ns)).map(
                    |((machine_b, machine_a), (own_b, own_a))| {
                        machine_b.saturating_sub(machine_a).saturating_sub(own_b.saturating_sub(own_a))
                    },
                ),
            }
        });
        (io, cpu)
    }
}

/// CPU time on the clock (ns) of every thread of this process, and of the log's writer thread,
/// from /proc/self/task/*/schedstat (threads that end in between are not counted; none does
/// during a measurement).
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    process_ns: u64,
    writer_ns: u64,
    /// User-mode time of the whole machine and of this process (/proc/stat, /proc/self/stat):
    /// their difference is other processes' work (the kernel's own I/O threads, which this
    /// process's appends keep busy, run in kernel mode and are left out).
    machine_user_ns: Option<u64>,
    own_user_ns: Option<u64>,
}

/// CPU time used between two readings.
#[derive(Debug, Clone, Copy)]
struct CpuDelta {
    process_ns: u64,
    writer_ns: u64,
    /// User-mode CPU used by other processes on the machine.
    others_ns: Option<u64>,
}

impl CpuDelta {
    /// Share of one core, in percent.
    fn process_pct(&self, window: Duration) -> f64 {
        self.process_ns as f64 / window.as_nanos() as f64 * 100.0
    }

    fn writer_pct(&self, window: Duration) -> f64 {
        self.writer_ns as f64 / window.as_nanos() as f64 * 100.0
    }

    fn others_pct(&self, window: Duration) -> Option<f64> {
        self.others_ns.map(|ns| ns as f64 / window.as_nanos() as f64 * 100.0)
    }

    fn describe(&self, window: Duration) -> String {
        let writer =
            if self.writer_ns > 0 { format!(" (writer {:.0}%)", self.writer_pct(window)) } else { String::new() };
        let others = self.others_pct(window).map(|p| format!(", others {p:.0}%")).unwrap_or_default();
        format!(", CPU {:.0}%{writer}{others}", self.process_pct(window))
    }
}

impl CpuTimes {
    /// The log's writer thread's name, as `std::thread::Builder::name` sets it in eventlog.
    const WRITER_THREAD: &'static str = "eventlog-writer";

    fn read() -> Option<CpuTimes> {
        let mut times =
            CpuTimes { process_ns: 0, writer_ns: 0, machine_user_ns: machine_user_ns(), own_user_ns: own_user_ns() };
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let path = entry.ok()?.path();
            let Ok(schedstat) = std::fs::read_to_string(path.join("schedstat")) else { continue };
            let ns: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
            times.process_ns += ns;
            if std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == Self::WRITER_THREAD) {
                times.writer_ns += ns;
            }
        }
        Some(times)
    }
}

/// /proc's CPU times are in USER_HZ ticks: 100 per second on Linux whatever the kernel's tick.
const NS_PER_TICK: u64 = 10_000_000;

/// User-mode time of all the machine's CPUs so far (user + nice, which include guest time), in
/// ns, from the first line of /proc/stat.
fn machine_user_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).take(2).filter_map(|v| v.parse().ok()).collect();
    Some(ticks.iter().sum::<u64>() * NS_PER_TICK)
}

/// This process's user-mode time so far, in ns (utime, field 14 of /proc/self/stat).
fn own_user_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_comm = &text[text.rfind(')')? + 1..];
    let utime: u64 = after_comm.split_whitespace().nth(11)?.parse().ok()?;
    Some(utime * NS_PER_TICK)
}

/// Counters from /proc/diskstats.
#[derive(Debug, Clone, Copy)]
struct DiskStats {
    writes: u64,
    sectors_written: u64,
    flushes: u64,
}

/// What the device did between two readings.
#[derive(Debug, Clone, Copy)]
struct IoDelta {
    writes: u64,
    kib_written: f64,
    flushes: u64,
}

impl IoDelta {
    fn describe_per_op(&self, ops: u64) -> String {
        let ops = ops.max(1) as f64;
        format!(
            "  | device per append: {:.2} writes, {:.1} KiB, {:.2} flushes",
            self.writes as f64 / ops,
            self.kib_written / ops,
            self.flushes as f64 / ops
        )
    }
}

impl DiskStats {
    fn since(&self, earlier: &DiskStats) -> IoDelta {
        IoDelta {
            writes: self.writes.saturating_sub(earlier.writes),
            kib_written: self.sectors_written.saturating_sub(earlier.sectors_written) as f64 / 2.0,
            flushes: self.flushes.saturating_sub(earlier.flushes),
        }
    }
}

impl BlockDevice {
    fn of(dir: &Path) -> Option<BlockDevice> {
        let dev = std::fs::metadata(dir).ok()?.dev();
        // Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor).
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let wanted = format!("{major}:{minor}");
        // Fields: id parent major:minor root mount-point options [optional...] - fstype source ...
        mountinfo.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            (left.get(2) == Some(&wanted.as_str())).then(|| BlockDevice {
                major,
                minor,
                source: right.get(1).unwrap_or(&"?").to_string(),
                fstype: right.first().unwrap_or(&"?").to_string(),
                mount_point: left.get(4).unwrap_or(&"?").to_string(),
            })
        })
    }

    /// The device's counters now; `None` if it has none (e.g. tmpfs, overlay).
    fn stats(&self) -> Option<DiskStats> {
        let text = std::fs::read_to_string("/proc/diskstats").ok()?;
        text.lines().find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let major: u64 = f.first()?.parse().ok()?;
            let minor: u64 = f.get(1)?.parse().ok()?;
            if (major, minor) != (self.major, self.minor) {
                return None;
            }
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
            Some(DiskStats {
                writes: field(7)?,
                sectors_written: field(9)?,
                // Flush requests completed: kernel 5.5 and later.
                flushes: field(18).unwrap_or(0),
            })
        })
    }

    fn write_cache(&self) -> Option<String> {
        let path = format!("/sys/dev/block/{}:{}/queue/write_cache", self.major, self.minor);
        std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
    }
}

fn first_line_value(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
}

/// The 1-, 5- and 15-minute load averages from /proc/loadavg.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn machine_description(device: Option<&BlockDevice>, data_dir: &Path) -> Vec<(String, String)> {
    let nproc = std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_else(|_| "?".into());
    let cpu = first_line_value("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".into());
    let memory = first_line_value("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default();
    let mut rows = vec![
        ("CPUs (nproc)".to_string(), nproc),
        ("CPU".to_string(), cpu),
        ("memory".to_string(), memory),
        ("kernel".to_string(), format!("Linux {kernel}")),
        ("data dir".to_string(), format!("a temporary directory under `{}`", data_dir.display())),
    ];
    if let Some(d) = device {
        let cache = d.write_cache().map(|c| format!(", write cache: {c}")).unwrap_or_default();
        rows.push((
            "filesystem".to_string(),
            format!(
                "{} on {} (device {}:{}), mounted at `{}`{cache}",
                d.fstype, d.source, d.major, d.minor, d.mount_point
            ),
        ));
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

struct Report<'a> {
    settings: &'a Settings,
    contenders: &'a [Contender],
    measurements: &'a [Measurement],
    device: Option<&'a BlockDevice>,
    data_dir: &'a Path,
    workload: &'a Workload,
    record_bytes_stored: Option<usize>,
    /// /proc/loadavg before and after the measurements.
    load: (Option<String>, Option<String>),
}

/// Medians across runs of one contender.
#[derive(Debug, Clone, Copy)]
struct Summary {
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    runs: usize,
    /// Device write requests, KiB written and cache flushes per append.
    writes_per_op: Option<f64>,
    kib_per_op: Option<f64>,
    flushes_per_op: Option<f64>,
    /// CPU time as a share of one core (percent): the whole process, and the log's writer thread.
    cpu_pct: Option<f64>,
    writer_cpu_pct: Option<f64>,
    others_cpu_pct: Option<f64>,
}

/// The median of `f` over the measurements, if `f` has a value for every one of them.
fn median_of(ms: &[&Measurement], f: impl Fn(&Measurement) -> Option<f64>) -> Option<f64> {
    let values: Option<Vec<f64>> = ms.iter().map(|m| f(m)).collect();
    values.filter(|v| !v.is_empty()).map(median)
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

impl Report<'_> {
    fn summaries(&self) -> BTreeMap<Contender, Summary> {
        self.contenders
            .iter()
            .map(|&c| {
                let ms: Vec<&Measurement> = self.measurements.iter().filter(|m| m.contender == c).collect();
                let per_op = |m: &Measurement, x: f64| x / m.ops.max(1) as f64;
                let summary = Summary {
                    ops_per_sec: median(ms.iter().map(|m| m.ops_per_sec()).collect()),
                    p50_us: median(ms.iter().map(|m| m.percentile_us(50.0)).collect()),
                    p99_us: median(ms.iter().map(|m| m.percentile_us(99.0)).collect()),
                    runs: ms.len(),
                    writes_per_op: median_of(&ms, |m| m.io.map(|io| per_op(m, io.writes as f64))),
                    kib_per_op: median_of(&ms, |m| m.io.map(|io| per_op(m, io.kib_written))),
                    flushes_per_op: median_of(&ms, |m| m.io.map(|io| per_op(m, io.flushes as f64))),
                    cpu_pct: median_of(&ms, |m| m.cpu.map(|c| c.process_pct(m.window))),
                    writer_cpu_pct: median_of(&ms, |m| m.cpu.map(|c| c.writer_pct(m.window))),
                    others_cpu_pct: median_of(&ms, |m| m.cpu.and_then(|c| c.others_pct(m.window))),
                };
                (c, summary)
            })
            .collect()
    }

    /// (label, value, target, pass) for the two ratios the project's target is stated in.
    fn ratios(&self) -> Vec<(String, Option<f64>, String, bool)> {
        let s = self.summaries();
        let rate = |c: Contender| s.get(&c).map(|x| x.ops_per_sec);
        let one = rate(Contender::EventLog(1));
        let sixty_four = rate(Contender::EventLog(64));
        let fsync = rate(Contender::RawFsync);
        let fsync_overwrite = rate(Contender::RawFsyncOverwrite);
        let scaling = one.zip(sixty_four).map(|(a, b)| b / a);
        let vs_fsync = one.zip(fsync).map(|(a, b)| a / b);
        let vs_overwrite = one.zip(fsync_overwrite).map(|(a, b)| a / b);
        vec![
            (
                "64 appenders / 1 appender".into(),
                scaling,
                format!("≥ {TARGET_SCALING}×"),
                scaling.is_some_and(|r| r >= TARGET_SCALING),
            ),
            (
                "1 appender / raw fsync".into(),
                vs_fsync,
                format!("≥ {TARGET_VS_FSYNC}"),
                vs_fsync.is_some_and(|r| r >= TARGET_VS_FSYNC),
            ),
            (
                "1 appender / raw fsync (overwrite) (stricter: the device's data-only fsync rate)".into(),
                vs_overwrite,
                format!("≥ {TARGET_VS_FSYNC}"),
                vs_overwrite.is_some_and(|r| r >= TARGET_VS_FSYNC),
            ),
        ]
    }

    fn command_line() -> String {
        let args: Vec<String> = std::env::args().skip(1).collect();
        format!("cargo run --release -p frontdoor-bench -- {}", args.join(" "))
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| contender | appends/s (median) | p50 µs | p99 µs | runs |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for (c, s) in self.summaries() {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0} | {:.0} | {} |",
                c.name(),
                s.ops_per_sec,
                s.p50_us,
                s.p99_us,
                s.runs
            );
        }
        out
    }

    fn ratio_lines(&self) -> String {
        let mut out = String::new();
        for (label, value, target, pass) in self.ratios() {
            let value = value.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into());
            let verdict = if pass { "PASS" } else { "MISS" };
            let _ = writeln!(out, "- {label}: **{value}** (target {target}): **{verdict}**");
        }
        out
    }

    fn summary(&self) -> String {
        format!("\n{}\n{}", self.table(), self.ratio_lines())
    }

    fn markdown(&self) -> String {
        let st = self.settings;
        let mut out = String::new();
        let _ = writeln!(out, "# Event log append benchmark\n");
        if st.quick {
            let _ = writeln!(out, "**Quick smoke test (1 run of 1 s): not a measurement.**\n");
        }
        let _ = writeln!(out, "Written by `frontdoor-bench append` (see `ops/bench/README.md`).\n");
        let _ = writeln!(out, "- date: {} UTC", Utc::now().format("%Y-%m-%d %H:%M:%S"));
        let _ = writeln!(out, "- command: `{}`", Self::command_line());
        for (k, v) in machine_description(self.device, self.data_dir) {
            let _ = writeln!(out, "- {k}: {v}");
        }
        if let (Some(before), Some(after)) = &self.load {
            let _ = writeln!(
                out,
                "- load average (1, 5, 15 min): {before} before, {after} after (other work on the \
                 machine, above all other fsyncs on the same disk, skews every figure)"
            );
        }
        let _ = writeln!(
            out,
            "- method: {} run(s); in each run every contender is measured once, in the order of the \
             table, for {:.1} s after a {} ms warm-up, on a fresh file or log directory; figures are \
             the median across runs (p50/p99: median of the per-run percentiles). Before each \
             measurement it waits (up to {} s) for a quiet second (at most 20 device writes, other \
             processes using at most 15% of one CPU), and a measurement during which other \
             processes used more than {NOISY_OTHERS_PCT}% of one CPU is repeated (up to {} times, the \
             last attempt kept).",
            st.runs,
            st.seconds,
            st.warmup.as_millis(),
            st.quiet_wait.as_secs(),
            st.max_retries
        );
        let retried: u32 = self.measurements.iter().map(|m| m.retries).sum();
        if retried > 0 {
            let _ = writeln!(out, "- measurements repeated because of other processes: {retried}");
        }
        let noisy: Vec<String> = self
            .measurements
            .iter()
            .filter(|m| !m.quiet)
            .map(|m| format!("run {} {}", m.run, m.contender.name()))
            .collect();
        if !noisy.is_empty() {
            let _ = writeln!(out, "- **started on a busy machine** (no quiet second in time): {}", noisy.join(", "));
        }
        let _ = writeln!(
            out,
            "- raw fsync: one thread appends {}-byte records to a new file and calls `sync_data()` \
             after each; the file grows with every record, so every `sync_data()` also commits the \
             new file size (on ext4: a journal commit). raw fsync (overwrite): the same, but \
             overwriting a 64 MiB file written and synced beforehand, so each `sync_data()` writes \
             data only: the device's own flush rate.",
            st.record_bytes
        );
        let stored =
            self.record_bytes_stored.map(|b| format!(", about {b} bytes as a stored record")).unwrap_or_default();
        let _ = writeln!(
            out,
            "- eventlog xN: N tokio tasks (on a {}-worker runtime), each appending one event per \
             append and waiting for the durable acknowledgement before the next; each appender \
             writes {} events to a contact (expected_version = its last version) then starts a new \
             one. Events: contact_received, call_logged, checks_returned, note_added, {}..{} bytes \
             of JSON data{stored}.",
            std::thread::available_parallelism().map(std::num::NonZero::get).unwrap_or(1),
            st.events_per_contact,
            self.workload.min_data_bytes(),
            self.workload.max_data_bytes(),
        );
        let _ = writeln!(out, "\n## Results\n");
        out.push_str(&self.table());
        let _ = writeln!(out, "\n## Against the target\n");
        out.push_str(&self.ratio_lines());

        let _ = writeln!(out, "\n## Where the time goes (medians)\n");
        let _ = writeln!(
            out,
            "Per append, what the data directory's block device did (`/proc/diskstats`, the whole \
             device, so anything else writing at the time is included), and the CPU this process \
             used as a share of one core (`/proc/self/task/*/schedstat`; the writer is the log's \
             `eventlog-writer` thread), over each measurement window; other processes: the rest of \
             the machine's user-mode CPU time (`/proc/stat`), a sign of interference.\n"
        );
        let _ = writeln!(
            out,
            "| contender | device writes / append | KiB written / append | cache flushes / append | \
             appends / flush | CPU % (process) | CPU % (writer) | CPU % (other processes) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let show =
            |v: Option<f64>, decimals: usize| v.map(|v| format!("{v:.decimals$}")).unwrap_or_else(|| "n/a".into());
        for (c, s) in self.summaries() {
            let per_flush = s.flushes_per_op.filter(|f| *f > 0.0).map(|f| 1.0 / f);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                c.name(),
                show(s.writes_per_op, 2),
                show(s.kib_per_op, 1),
                show(s.flushes_per_op, 2),
                show(per_flush, 1),
                show(s.cpu_pct, 0),
                if matches!(c, Contender::EventLog(_)) { show(s.writer_cpu_pct, 0) } else { "-".into() },
                show(s.others_cpu_pct, 0),
            );
        }
        let _ = writeln!(out, "\nEvery run's figures: `results-append.csv`.");
        out
    }

    fn csv(&self) -> String {
        let mut out = String::from(
            "run,contender,appenders,seconds,appends,appends_per_s,p50_us,p99_us,mean_us,max_us,\
             device_writes,device_kib_written,device_flushes,cpu_ms,writer_cpu_ms,others_cpu_ms,\
             waited_s,quiet_before,retries\n",
        );
        for m in self.measurements {
            let (w, k, f) =
                m.io.map(|io| (io.writes.to_string(), format!("{:.1}", io.kib_written), io.flushes.to_string()))
                    .unwrap_or_default();
            let ms = |ns: u64| format!("{:.1}", ns as f64 / 1e6);
            let (cpu, writer, others) = m
                .cpu
                .map(|c| (ms(c.process_ns), ms(c.writer_ns), c.others_ns.map(ms).unwrap_or_default()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{},{:.3},{},{:.1},{:.1},{:.1},{:.1},{:.1},{w},{k},{f},{cpu},{writer},{others},{:.1},{},{}",
                m.run,
                m.contender.name(),
                m.contender.appenders(),
                m.window.as_secs_f64(),
                m.ops,
                m.ops_per_sec(),
                m.percentile_us(50.0),
                m.percentile_us(99.0),
                m.mean_us(),
                m.max_us(),
                m.waited.as_secs_f64(),
                m.quiet,
                m.retries,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert!((median(vec![3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
        assert!((median(vec![4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-9);
    }

    #[test]
    fn events_are_about_600_bytes() {
        let w = Workload::new();
        for size in w.data_sizes() {
            assert!((450..=750).contains(&size), "event data of {size} bytes");
        }
    }
}
