//! `frontdoor-bench append`: durable appends to the event log against the disk's own limit.
//!
//! It measures, on one filesystem, at N concurrent writers (1, 8, 64 and 256 by default), each
//! waiting for its append to be durable before it makes the next:
//!
//! - `raw fsync`: one thread appending fixed-size records to a plain file and calling
//!   `sync_data()` after each one: the most durable appends per second one thread can get
//!   (and `raw fsync (overwrite)`, the same over a preallocated file: the device's flush rate).
//! - `group fsync xN`: N writers handing records to one thread that writes all pending records
//!   and calls `sync_data()` once for them: the physical limit at N writers.
//! - `eventlog xN`: N tokio tasks appending one event each to the log in process.
//! - `http xN`: N clients, a keep-alive connection each, appending through the real server
//!   binary's REST API (`POST /v1/contacts`, then `POST /v1/contacts/{id}/events`).
//! - `postgres xN`: N connections appending the same events to an events table in PostgreSQL
//!   (`--pg-url`), one transaction per append, with the same expected-version check.
//!
//! Every measurement runs for a fixed time after a warm-up, on a fresh file, log directory or
//! table, and is repeated; contenders are interleaved within each run, and the report gives the
//! median across runs. See `ops/bench/README.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::{NaiveDate, Utc};
use clap::Args;
use eventlog::{Actor, AppendRequest, Event, EventLog, NewEvent, Role};
use events::schema::{
    Agency, CallDirection, CallLogged, CallWith, Channel, ChecksReturned, Child, Consent, ContactReceived, NoteAdded,
    Referrer, Sex, SourceCode,
};
use ulid::Ulid;

use crate::CommonArgs;
use crate::machine::{BlockDevice, Counters, CpuDelta, IoDelta, Measured, Observed, Quietness, cpus};
use crate::report::{Session, median, median_of, nanos, percentile, quiet_notes, show, verdict_line};

/// The targets: in process with 64 writers, at least this many appends/s ...
const TARGET_X64_PER_SEC: f64 = 40_000.0;
/// ... and this many times PostgreSQL's best (at any number of writers);
const TARGET_X64_VS_PG: f64 = 5.0;
/// over HTTP with 64 writers, this many times PostgreSQL's best (issue 14's bar);
const TARGET_HTTP_X64_VS_PG: f64 = 1.0;
/// one writer in process: this share of the raw fsync rate (issue 14's bar), and a p99 of at
/// most this (µs).
const TARGET_X1_VS_FSYNC: f64 = 0.85;
const TARGET_X1_P99_US: f64 = 2_000.0;

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Seconds each measurement runs for, after its warm-up (`--quick`: 1).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Warm-up before each measurement, in milliseconds (appends made during it are not counted;
    /// `--quick`: 200).
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Concurrent writers to measure every contender with.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64,256")]
    appenders: Vec<usize>,
    /// PostgreSQL to measure against (e.g. `postgresql://postgres@127.0.0.1:5433/bench`); its
    /// `events` table is dropped and created afresh for every measurement. Without it the
    /// PostgreSQL rows are left out (`ops/bench/run.sh` starts a temporary cluster and sets it).
    #[arg(long, env = "FRONTDOOR_BENCH_PG_URL")]
    pg_url: Option<String>,
    /// Leave out the HTTP contender (which builds and starts the real server binary).
    #[arg(long)]
    no_http: bool,
    /// The server binary for the HTTP contender. Default: `cargo build --release -p frontdoor`
    /// into the target directory this benchmark runs from (as `sse` does).
    #[arg(long, env = "FRONTDOOR_BIN")]
    server: Option<PathBuf>,
    /// Size of each raw fsync and group fsync record in bytes. Default: the bytes the log
    /// itself writes per event of the workload (framing, hashes and envelope included),
    /// measured before the runs, so the yardsticks append the same bytes as the log.
    #[arg(long)]
    record_bytes: Option<usize>,
    /// Events an appender writes to one contact before it moves on to a new contact.
    #[arg(long, default_value_t = 20)]
    events_per_contact: u32,
    #[command(flatten)]
    common: CommonArgs,
}

/// One contender at some number of concurrent writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Contender {
    /// Appending to a file: every `sync_data()` also commits the file's new size.
    RawFsync,
    /// Overwriting a file written in full beforehand: every `sync_data()` is data only.
    RawFsyncOverwrite,
    /// N writers, one syncing thread: one `write` and one `sync_data()` per group of records.
    GroupFsync(usize),
    /// The log in process.
    EventLog(usize),
    /// The real server over loopback HTTP.
    Http(usize),
    /// An events table in PostgreSQL.
    Postgres(usize),
}

impl Contender {
    fn name(self) -> String {
        match self {
            Contender::RawFsync => "raw fsync".into(),
            Contender::RawFsyncOverwrite => "raw fsync (overwrite)".into(),
            Contender::GroupFsync(n) => format!("group fsync x{n}"),
            Contender::EventLog(n) => format!("eventlog x{n}"),
            Contender::Http(n) => format!("http x{n}"),
            Contender::Postgres(n) => format!("postgres x{n}"),
        }
    }

    fn appenders(self) -> usize {
        match self {
            Contender::RawFsync | Contender::RawFsyncOverwrite => 1,
            Contender::GroupFsync(n) | Contender::EventLog(n) | Contender::Http(n) | Contender::Postgres(n) => n,
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
    /// Latency of every counted append, in nanoseconds, sorted.
    latencies: Vec<u64>,
    /// What the data directory's block device did during the window, if it could be read.
    io: Option<IoDelta>,
    /// The measurement window, the CPU used in it (this process: `cpu.process_ns`), the quiet.
    observed: Observed,
}

impl Measured for Measurement {
    fn observed(&mut self) -> &mut Observed {
        &mut self.observed
    }
}

impl Measurement {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.observed.window.as_secs_f64()
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

struct Settings {
    seconds: f64,
    warmup: Duration,
    appenders: Vec<usize>,
    record_bytes: usize,
    /// Whether `record_bytes` is the log's own bytes per event (else `--record-bytes`).
    measured_record_bytes: bool,
    events_per_contact: u32,
}

pub fn run(args: &AppendArgs) -> Result<()> {
    let quick = args.common.quick;
    let mut settings = Settings {
        seconds: if quick { 1.0 } else { args.seconds },
        warmup: Duration::from_millis(if quick { 200 } else { args.warmup_ms }),
        appenders: args.appenders.clone(),
        record_bytes: args.record_bytes.unwrap_or(0),
        measured_record_bytes: args.record_bytes.is_none(),
        events_per_contact: args.events_per_contact.max(1),
    };
    if !(settings.seconds > 0.0 && settings.seconds.is_finite()) {
        bail!("--seconds must be positive");
    }
    if settings.appenders.is_empty() || settings.appenders.contains(&0) {
        bail!("--appenders needs one or more counts, each at least 1");
    }
    let window = Duration::from_secs_f64(settings.seconds);

    let parent = args.common.data_parent()?;
    let scratch = tempfile::Builder::new()
        .prefix("frontdoor-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let mut session = args.common.session(scratch.path())?;
    let workload = Workload::new();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.record_bytes.is_none() {
        let dir = scratch.path().join("calibration");
        settings.record_bytes = runtime.block_on(log_bytes_per_event(&dir, &workload, settings.events_per_contact))?;
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let server = if args.no_http { None } else { Some(crate::sse::server_binary(args.server.as_deref())?) };
    let postgres = match &args.pg_url {
        Some(url) => {
            let most = settings.appenders.iter().copied().max().unwrap_or(1);
            Some(runtime.block_on(PgInfo::query(url, most))?)
        }
        None => {
            eprintln!("no --pg-url (or FRONTDOOR_BENCH_PG_URL): PostgreSQL is left out");
            None
        }
    };
    let mut contenders = vec![Contender::RawFsync, Contender::RawFsyncOverwrite];
    for &n in &settings.appenders {
        contenders.push(Contender::GroupFsync(n));
        contenders.push(Contender::EventLog(n));
        if server.is_some() {
            contenders.push(Contender::Http(n));
        }
        if postgres.is_some() {
            contenders.push(Contender::Postgres(n));
        }
    }

    eprintln!(
        "frontdoor-bench append: {} run(s) x {} contender(s), {:.1} s each after {} ms warm-up, in {}",
        session.runs,
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

    let mut measurements = Vec::new();
    let mut record_bytes_stored = None;
    for run in 1..=session.runs {
        for &contender in &contenders {
            let dir = scratch.path().join(format!("run{run}-{}", contender.name().replace([' ', '(', ')'], "")));
            measurements.push(session.measure(|| {
                let m = match contender {
                    Contender::RawFsync | Contender::RawFsyncOverwrite => measure_raw_fsync(
                        run,
                        contender,
                        &dir,
                        settings.record_bytes,
                        settings.warmup,
                        window,
                        session.device(),
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
                            session.device(),
                        ))?;
                        record_bytes_stored = record_bytes_stored.or(stored);
                        m
                    }
                    Contender::GroupFsync(n) => runtime.block_on(measure_group_fsync(
                        run,
                        n,
                        &dir,
                        settings.record_bytes,
                        settings.warmup,
                        window,
                        session.device(),
                    ))?,
                    Contender::Http(n) => {
                        let bin = server.as_deref().context("no server binary")?;
                        runtime.block_on(measure_http(
                            run,
                            n,
                            bin,
                            &dir,
                            &workload,
                            settings.events_per_contact,
                            settings.warmup,
                            window,
                            session.device(),
                        ))?
                    }
                    Contender::Postgres(n) => {
                        let url = args.pg_url.as_deref().context("no PostgreSQL URL")?;
                        runtime.block_on(measure_postgres(
                            run,
                            n,
                            url,
                            &workload,
                            settings.events_per_contact,
                            settings.warmup,
                            window,
                            session.device(),
                        ))?
                    }
                };
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
                }
                // Commit the removal (and, with `discard`, its trims) now, not during the next one.
                File::open(scratch.path())?.sync_all()?;
                eprintln!(
                    "run {run} {:<20} {:>7.0} appends/s  p50 {:>6.0} µs  p99 {:>6.0} µs{}{}",
                    contender.name(),
                    m.ops_per_sec(),
                    m.percentile_us(50.0),
                    m.percentile_us(99.0),
                    m.io.as_ref().map(|io| io.describe_per_op(m.ops)).unwrap_or_default(),
                    m.observed.cpu.as_ref().map(|cpu| cpu.describe(m.observed.window)).unwrap_or_default(),
                );
                Ok(m)
            })?);
        }
    }
    drop(runtime);
    session.finish();

    let report = Report {
        settings: &settings,
        session: &session,
        contenders: &contenders,
        measurements: &measurements,
        data_dir: &parent,
        workload: &workload,
        record_bytes_stored,
        postgres: postgres.as_ref(),
        server: server.as_deref(),
    };
    session.write("append", &report.markdown(), "results-append.csv", &report.csv())?;
    print!("{}", report.summary());
    Ok(())
}

/// The bytes the log's segment files grow by per event of `workload` (record, framing and all,
/// the same rotation of events the appenders write), from a fresh log in `dir`: what the raw
/// and group fsync yardsticks append per record, so they write what the log writes.
async fn log_bytes_per_event(dir: &Path, workload: &Workload, events_per_contact: u32) -> Result<usize> {
    const EVENTS: u32 = 400;
    let log = EventLog::open(dir).with_context(|| format!("opening the log in {}", dir.display()))?;
    let mut contact = Ulid::new();
    for n in 0..EVENTS {
        let version = n % events_per_contact;
        if n > 0 && version == 0 {
            contact = Ulid::new();
        }
        let event = if version == 0 { workload.opening() } else { workload.follow_up(n as usize) };
        let request = AppendRequest {
            contact_id: contact,
            events: vec![NewEvent::new(event, Utc::now(), workload.actor.clone())],
            expected_version: Some(version),
            idempotency: None,
        };
        log.append(request).await.context("calibration append failed")?;
    }
    log.shutdown();
    drop(log);
    let segments = dir.join(eventlog::segment::SEGMENTS_DIR);
    let mut bytes = 0u64;
    for entry in std::fs::read_dir(&segments).with_context(|| format!("reading {}", segments.display()))? {
        bytes += entry?.metadata()?.len();
    }
    let per_event = usize::try_from(bytes / u64::from(EVENTS)).unwrap_or(usize::MAX);
    ensure!(per_event > 0, "the log wrote nothing to {}", segments.display());
    Ok(per_event)
}

/// The window of a timed loop: operations count from `from` (after the warm-up) to `to`.
#[derive(Debug, Clone)]
struct Tally {
    from: Instant,
    to: Instant,
    /// Operations that ended inside the window.
    ops: u64,
    /// Latency of each operation that started inside the window, in nanoseconds.
    latencies: Vec<u64>,
}

impl Tally {
    fn after(start: Instant, warmup: Duration, window: Duration) -> Tally {
        Tally { from: start + warmup, to: start + warmup + window, ops: 0, latencies: Vec::new() }
    }

    /// Counts an operation that ran from `t0` to `t1`; false (and not counted) once the window
    /// is over.
    fn record(&mut self, t0: Instant, t1: Instant) -> bool {
        if t1 >= self.to {
            return false;
        }
        if t1 >= self.from {
            self.ops += 1;
        }
        if t0 >= self.from {
            self.latencies.push(nanos(t1 - t0));
        }
        true
    }
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

    let mut tally = Tally::after(Instant::now(), warmup, window);
    let mut before = None;
    let mut offset = 0u64;
    loop {
        let t0 = Instant::now();
        if before.is_none() && t0 >= tally.from {
            before = Some(Counters::read(device));
        }
        if contender == Contender::RawFsyncOverwrite && offset >= wrap_at {
            file.seek(SeekFrom::Start(0))?;
            offset = 0;
        }
        file.write_all(&record)?;
        offset += record.len() as u64;
        file.sync_data()?;
        if !tally.record(t0, Instant::now()) {
            break;
        }
    }
    let (io, cpu) = Counters::read(device).since(before.as_ref());
    let Tally { ops, mut latencies, .. } = tally;
    latencies.sort_unstable();
    Ok(Measurement { run, contender, ops, latencies, io, observed: Observed::new(window, cpu) })
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
    let empty = Tally::after(Instant::now(), warmup, window);
    let (measure_from, measure_to) = (empty.from, empty.to);

    let mut tasks = Vec::with_capacity(appenders);
    for a in 0..appenders {
        let log = log.clone();
        let workload = workload.clone();
        let mut tally = empty.clone();
        tasks.push(tokio::spawn(async move {
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
                    // crc32 (4) + hash (32) + body: the record format in eventlog::record.
                    stored_bytes = Some(36 + env.canonical_body().len());
                }
                version += 1;
                if version >= events_per_contact {
                    contact = Ulid::new();
                    version = 0;
                }
                if !tally.record(t0, t1) {
                    break;
                }
            }
            anyhow::Ok((tally.ops, tally.latencies, stored_bytes))
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
        latencies,
        io,
        observed: Observed::new(window, cpu),
    };
    Ok((m, stored))
}

/// What N writers did in one measurement window.
struct Driven {
    ops: u64,
    latencies: Vec<u64>,
    io: Option<IoDelta>,
    cpu: Option<CpuDelta>,
    window: Duration,
}

/// Runs one writer task per state (`writer(index, state, tally)`, which appends until
/// `tally.record` says the window is over), starting the clock once every state is ready; the
/// device and CPU counters cover the window, with `helpers` (a server's processes) counted as
/// this benchmark's own work.
async fn drive<S, F, Fut>(
    states: Vec<S>,
    warmup: Duration,
    window: Duration,
    device: Option<&BlockDevice>,
    helpers: &[u32],
    writer: F,
) -> Result<Driven>
where
    S: Send + 'static,
    F: Fn(usize, S, Tally) -> Fut,
    Fut: Future<Output = Result<Tally>> + Send + 'static,
{
    let empty = Tally::after(Instant::now(), warmup, window);
    let tasks: Vec<_> =
        states.into_iter().enumerate().map(|(i, state)| tokio::spawn(writer(i, state, empty.clone()))).collect();
    tokio::time::sleep_until(empty.from.into()).await;
    let before = Counters::read_with_all(device, helpers);
    tokio::time::sleep_until(empty.to.into()).await;
    let (io, cpu) = Counters::read_with_all(device, helpers).since(Some(&before));
    let mut ops = 0;
    let mut latencies = Vec::new();
    let mut failed = None;
    for task in tasks {
        match task.await.context("a writer panicked")? {
            Ok(tally) => {
                ops += tally.ops;
                latencies.extend(tally.latencies);
            }
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    latencies.sort_unstable();
    Ok(Driven { ops, latencies, io, cpu, window })
}

impl Driven {
    fn measurement(self, run: u32, contender: Contender) -> Measurement {
        Measurement {
            run,
            contender,
            ops: self.ops,
            latencies: self.latencies,
            io: self.io,
            observed: Observed::new(self.window, self.cpu),
        }
    }
}

/// A record handed to the syncing thread, and how to tell its writer it is durable.
type Handed = (Vec<u8>, tokio::sync::oneshot::Sender<()>);

/// `writers` tasks handing `record_bytes` records to one thread, which appends every record
/// waiting (one `write`), calls `sync_data()` once and then acknowledges them all: group
/// commit with nothing else, the most a file can take at N writers.
async fn measure_group_fsync(
    run: u32,
    writers: usize,
    dir: &Path,
    record_bytes: usize,
    warmup: Duration,
    window: Duration,
    device: Option<&BlockDevice>,
) -> Result<Measurement> {
    std::fs::create_dir_all(dir)?;
    let mut file = OpenOptions::new().create_new(true).write(true).open(dir.join("records"))?;
    File::open(dir)?.sync_all()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Handed>(8192);
    let syncer = std::thread::Builder::new().name("group-fsync".into()).spawn(move || -> std::io::Result<()> {
        let mut buffer = Vec::new();
        let mut acks = Vec::new();
        while let Some((record, ack)) = rx.blocking_recv() {
            buffer.clear();
            buffer.extend_from_slice(&record);
            acks.push(ack);
            while let Ok((record, ack)) = rx.try_recv() {
                buffer.extend_from_slice(&record);
                acks.push(ack);
            }
            file.write_all(&buffer)?;
            file.sync_data()?;
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
        }
        Ok(())
    })?;
    let mut record = vec![b'x'; record_bytes.max(1)];
    if let Some(last) = record.last_mut() {
        *last = b'\n';
    }
    let states = vec![(tx, record); writers];
    let driven = drive(states, warmup, window, device, &[], |_, (tx, record), mut tally| async move {
        loop {
            let (ack, acked) = tokio::sync::oneshot::channel();
            let t0 = Instant::now();
            tx.send((record.clone(), ack)).await.context("the syncing thread ended")?;
            acked.await.context("the syncing thread failed")?;
            if !tally.record(t0, Instant::now()) {
                return Ok(tally);
            }
        }
    })
    .await?;
    syncer.join().map_err(|_| anyhow::anyhow!("the syncing thread panicked"))??;
    Ok(driven.measurement(run, Contender::GroupFsync(writers)))
}

/// `writers` clients, each with its own keep-alive connection to the real server started on
/// a fresh data directory, each opening a contact with `POST /v1/contacts` (a referrer's
/// token) and then appending `events_per_contact - 1` events to it with
/// `POST /v1/contacts/{id}/events` and `expected_version` (a duty practitioner's token). Every
/// 201 is one durable append.
#[allow(clippy::too_many_arguments)]
async fn measure_http(
    run: u32,
    writers: usize,
    bin: &Path,
    dir: &Path,
    workload: &Workload,
    events_per_contact: u32,
    warmup: Duration,
    window: Duration,
    device: Option<&BlockDevice>,
) -> Result<Measurement> {
    std::fs::create_dir_all(dir)?;
    let (server, tokens) = crate::sse::Server::start(bin, dir)?;
    let mut clients = Vec::with_capacity(writers);
    for _ in 0..writers {
        // One client per writer, so one connection per writer, kept alive between requests.
        let client = reqwest::Client::builder().no_proxy().tcp_nodelay(true).pool_max_idle_per_host(1).build()?;
        clients.push(client);
    }
    server.ready(&clients[0]).await?;
    for client in &clients[1..] {
        // Opens each writer's connection before the clock starts.
        client.get(format!("{}/readyz", server.url)).send().await?.error_for_status()?;
    }
    let opening = std::sync::Arc::new(workload.opening().data_json().get().to_owned());
    ensure!(
        CHILD_FIELDS.iter().all(|field| opening.contains(field)),
        "the opening contact no longer names the children `children_of` varies"
    );
    let follow_ups: std::sync::Arc<Vec<(String, String)>> = std::sync::Arc::new(
        workload
            .follow_ups
            .iter()
            .map(|e| (e.event_type().as_str().to_owned(), e.data_json().get().to_owned()))
            .collect(),
    );
    let contacts_url = std::sync::Arc::new(format!("{}/v1/contacts", server.url));
    let referrer = std::sync::Arc::new(tokens.referrer.clone());
    let duty = std::sync::Arc::new(tokens.duty.clone());
    let helpers = [server.child.id()];
    let driven = drive(clients, warmup, window, device, &helpers, |a, client, mut tally| {
        let (opening, follow_ups, contacts_url) = (opening.clone(), follow_ups.clone(), contacts_url.clone());
        let (referrer, duty) = (referrer.clone(), duty.clone());
        async move {
            let mut contact = String::new();
            let mut version = 0u32;
            let mut sequence = a;
            let mut opened = 0usize;
            loop {
                let t0 = Instant::now();
                let request = if version == 0 {
                    opened += 1;
                    let body = children_of(&opening, opened * writers + a);
                    client.post(contacts_url.as_str()).bearer_auth(referrer.as_str()).body(body)
                } else {
                    let (kind, data) = &follow_ups[sequence % follow_ups.len()];
                    sequence += 1;
                    let body = format!(r#"{{"type":"{kind}","data":{data},"expected_version":{version}}}"#);
                    client.post(format!("{contacts_url}/{contact}/events")).bearer_auth(duty.as_str()).body(body)
                };
                let response =
                    request.header("content-type", "application/json").send().await.context("POST to the server")?;
                let status = response.status();
                let body = response.bytes().await.context("the server's response")?;
                let t1 = Instant::now();
                ensure!(status == 201, "the server answered {status}: {}", String::from_utf8_lossy(&body));
                if version == 0 {
                    let created: serde_json::Value = serde_json::from_slice(&body)?;
                    contact = created["contact_id"].as_str().context("no contact_id in the response")?.to_owned();
                }
                version += 1;
                if version >= events_per_contact {
                    version = 0;
                }
                if !tally.record(t0, t1) {
                    return Ok(tally);
                }
            }
        }
    })
    .await?;
    drop(server);
    Ok(driven.measurement(run, Contender::Http(writers)))
}

/// The opening contact's children, as its JSON names them: the first child's date of birth
/// and `child_ref`, the second's date of birth.
const CHILD_FIELDS: [&str; 3] = ["\"2016-05-14\"", "\"C-004711\"", "\"2019-11-02\""];

/// The opening contact's JSON about the `n`-th contact's own children: the same names, their
/// dates of birth spread over 5,000 days and a `child_ref` of its own, each the same length as
/// before (so the same bytes are appended). A front door's contacts are about many children;
/// naming the same two in every contact made the server's live child index look at every
/// earlier contact about them for each new one (which a real child with a handful of contacts
/// never costs), a cost that grew through the run.
fn children_of(opening: &str, n: usize) -> String {
    let born = |from: NaiveDate, salt: usize| {
        let days = u64::try_from((n.wrapping_mul(7919) + salt) % 5000).unwrap_or(0);
        format!("\"{}\"", from + chrono::Days::new(days))
    };
    let base = NaiveDate::from_ymd_opt(2009, 1, 1).unwrap_or_default();
    opening
        .replace(CHILD_FIELDS[0], &born(base, 0))
        .replace(CHILD_FIELDS[1], &format!("\"C-{:06}\"", n % 1_000_000))
        .replace(CHILD_FIELDS[2], &born(base, 2500))
}

/// The events table, as a council would keep a front door's log in PostgreSQL: a global
/// position, the contact's stream and version (unique together), the type, the data as jsonb.
const PG_SCHEMA: &str = "DROP TABLE IF EXISTS events;
CREATE TABLE events (
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    contact_id  uuid NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       jsonb NOT NULL,
    data        jsonb NOT NULL,
    UNIQUE (contact_id, version)
);";

/// One append: version `$3 + 1`, inserted only if the contact's current version is `$3`
/// (0: a new contact). One statement, so one transaction under autocommit. The `WHERE` refuses
/// a stale or gapped expectation; two writers that both read `$3` race on
/// `unique (contact_id, version)`, which makes the second wait for the first and fail (23505).
/// Either way nothing is inserted: a version conflict, as the log's 409.
const PG_APPEND: &str = "INSERT INTO events (event_id, contact_id, version, type, occurred_at, actor, data)
SELECT $1::text::uuid, $2::text::uuid, $3::integer + 1, $4::text, $5::timestamptz, $6::text::jsonb, $7::text::jsonb
WHERE (SELECT coalesce(max(version), 0) FROM events WHERE contact_id = $2::text::uuid) = $3::integer
RETURNING position";

/// The PostgreSQL server measured: its version and the settings that bear on durable appends.
#[derive(Debug, Clone)]
struct PgInfo {
    version: String,
    settings: Vec<(String, String)>,
}

impl PgInfo {
    /// The settings shown in the report.
    const SETTINGS: [&str; 12] = [
        "shared_buffers",
        "synchronous_commit",
        "fsync",
        "wal_sync_method",
        "full_page_writes",
        "wal_level",
        "wal_buffers",
        "commit_delay",
        "max_wal_size",
        "checkpoint_timeout",
        "max_connections",
        "data_directory",
    ];

    /// Connects once, reads the version and settings, and refuses a server that would
    /// acknowledge a commit before it is durable, or that has too few connections.
    async fn query(url: &str, writers: usize) -> Result<PgInfo> {
        let client = pg_connect(url).await?;
        let version: String = client.query_one("SELECT version()", &[]).await?.get(0);
        let mut settings = Vec::new();
        for name in Self::SETTINGS {
            // data_directory is for superusers (and pg_read_all_settings) only.
            if let Ok(row) = client.query_one("SELECT current_setting($1)", &[&name]).await {
                settings.push((name.to_owned(), row.get::<_, String>(0)));
            }
        }
        let setting = |name: &str| settings.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        ensure!(setting("fsync") == Some("on"), "PostgreSQL runs with fsync = {:?}: not durable", setting("fsync"));
        ensure!(
            setting("synchronous_commit").is_some_and(|v| v != "off"),
            "PostgreSQL runs with synchronous_commit = off: commits are acknowledged before they are durable"
        );
        let max: usize = setting("max_connections").and_then(|v| v.parse().ok()).unwrap_or(100);
        ensure!(
            max >= writers + 4,
            "PostgreSQL allows {max} connections; {writers} writers need at least {} (max_connections)",
            writers + 4
        );
        eprintln!("PostgreSQL: {version}");
        Ok(PgInfo { version, settings })
    }
}

async fn pg_connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", redact(url)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("PostgreSQL connection: {e}");
        }
    });
    Ok(client)
}

/// A connection URL without its password, if it has one.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The ULID as a uuid's 32 hex digits (the same 128 bits).
fn uuid_text(id: Ulid) -> String {
    format!("{:032x}", u128::from(id))
}

/// `writers` connections to PostgreSQL, each appending the workload's events as
/// [`measure_eventlog`] does (`events_per_contact` to a contact, then a new contact), one
/// [`PG_APPEND`] per event, acknowledged when its commit returns: with
/// `synchronous_commit = on`, once the commit's WAL is flushed to disk. The table is dropped and
/// created afresh, and a `CHECKPOINT` taken, before the clock starts.
#[allow(clippy::too_many_arguments)]
async fn measure_postgres(
    run: u32,
    writers: usize,
    url: &str,
    workload: &Workload,
    events_per_contact: u32,
    warmup: Duration,
    window: Duration,
    device: Option<&BlockDevice>,
) -> Result<Measurement> {
    let admin = pg_connect(url).await?;
    admin.batch_execute(PG_SCHEMA).await.context("creating the events table")?;
    if let Err(e) = admin.batch_execute("CHECKPOINT").await {
        eprintln!("CHECKPOINT refused ({e}): the measurement may pay for an earlier one's checkpoint");
    }
    let mut states = Vec::with_capacity(writers);
    for _ in 0..writers {
        let client = pg_connect(url).await?;
        let statement = client.prepare(PG_APPEND).await.context("preparing the append")?;
        states.push((client, statement));
    }
    // The server's processes (if it runs on this machine) count as the benchmark's own work.
    let helpers: Vec<u32> = admin
        .query("SELECT pid FROM pg_stat_activity", &[])
        .await?
        .iter()
        .filter_map(|row| u32::try_from(row.get::<_, i32>(0)).ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .collect();
    let actor = std::sync::Arc::new(serde_json::to_string(&workload.actor)?);
    let driven = drive(states, warmup, window, device, &helpers, |a, (client, statement), mut tally| {
        let (workload, actor) = (workload.clone(), actor.clone());
        async move {
            let mut contact = uuid_text(Ulid::new());
            let mut version = 0i32;
            let mut sequence = a;
            loop {
                let event = if version == 0 { workload.opening() } else { workload.follow_up(sequence) };
                sequence += 1;
                let kind = event.event_type().as_str();
                let data = event.data_json();
                let t0 = Instant::now();
                let rows = client
                    .query(
                        &statement,
                        &[
                            &uuid_text(Ulid::new()),
                            &contact,
                            &version,
                            &kind,
                            &Utc::now(),
                            &actor.as_str(),
                            &data.get(),
                        ],
                    )
                    .await
                    .context("the append")?;
                let t1 = Instant::now();
                ensure!(rows.len() == 1, "the expected-version check refused version {version} + 1");
                version += 1;
                if version >= i32::try_from(events_per_contact).unwrap_or(i32::MAX) {
                    contact = uuid_text(Ulid::new());
                    version = 0;
                }
                if !tally.record(t0, t1) {
                    return Ok(tally);
                }
            }
        }
    })
    .await?;
    let m = driven.measurement(run, Contender::Postgres(writers));
    let stored: i64 = admin.query_one("SELECT count(*) FROM events", &[]).await?.get(0);
    ensure!(u64::try_from(stored).unwrap_or(0) >= m.ops, "PostgreSQL holds {stored} events, fewer than acknowledged");
    Ok(m)
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
        let actor = Actor {
            id: "practitioner-0042".into(),
            role: Role::Practitioner,
            agency: Agency::ChildrensSocialCare,
            team: None,
        };
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
                    expected_date_of_birth: None,
                    address: None,
                },
                Child {
                    name: "Robin Example".into(),
                    date_of_birth: NaiveDate::from_ymd_opt(2019, 11, 2),
                    sex: Some(Sex::Female),
                    child_ref: None,
                    nhs_number: None,
                    upn: None,
                    ethnicity: None,
                    expected_date_of_birth: None,
                    address: None,
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
            adults: Vec::new(),
            concern_categories: Vec::new(),
            follows_consultation: None,
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
// The report
// ---------------------------------------------------------------------------------------------

struct Report<'a> {
    settings: &'a Settings,
    session: &'a Session,
    contenders: &'a [Contender],
    measurements: &'a [Measurement],
    data_dir: &'a Path,
    workload: &'a Workload,
    record_bytes_stored: Option<usize>,
    postgres: Option<&'a PgInfo>,
    server: Option<&'a Path>,
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
    /// The server's CPU (http: the frontdoor server; postgres: its processes on this machine).
    server_cpu_pct: Option<f64>,
    others_cpu_pct: Option<f64>,
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
                    cpu_pct: median_of(&ms, |m| m.observed.cpu.map(|c| c.process_pct(m.observed.window))),
                    writer_cpu_pct: median_of(&ms, |m| m.observed.cpu.map(|c| c.writer_pct(m.observed.window))),
                    server_cpu_pct: median_of(&ms, |m| m.observed.cpu.and_then(|c| c.helper_pct(m.observed.window))),
                    others_cpu_pct: median_of(&ms, |m| m.observed.cpu.and_then(|c| c.others_pct(m.observed.window))),
                };
                (c, summary)
            })
            .collect()
    }

    /// (label, value, target, verdict) for the issue's targets; the verdict is `None` when a
    /// figure it needs was not measured.
    fn ratios(&self) -> Vec<(String, Option<f64>, String, Option<bool>)> {
        let s = self.summaries();
        let rate = |c: Contender| s.get(&c).map(|x| x.ops_per_sec);
        let pg_best = s
            .iter()
            .filter(|(c, _)| matches!(c, Contender::Postgres(_)))
            .map(|(_, x)| x.ops_per_sec)
            .max_by(f64::total_cmp);
        let x64 = rate(Contender::EventLog(64));
        let http64 = rate(Contender::Http(64));
        let x1 = rate(Contender::EventLog(1));
        let x1_p99 = s.get(&Contender::EventLog(1)).map(|x| x.p99_us);
        let fsync = rate(Contender::RawFsync);
        let x64_vs_pg = x64.zip(pg_best).map(|(a, b)| a / b);
        let http_vs_pg = http64.zip(pg_best).map(|(a, b)| a / b);
        let x1_vs_fsync = x1.zip(fsync).map(|(a, b)| a / b);
        vec![
            (
                "in process, 64 writers: appends/s".into(),
                x64,
                format!("≥ {TARGET_X64_PER_SEC:.0}"),
                x64.map(|r| r >= TARGET_X64_PER_SEC),
            ),
            (
                "in process x64 / PostgreSQL's best".into(),
                x64_vs_pg,
                format!("≥ {TARGET_X64_VS_PG}×"),
                x64_vs_pg.map(|r| r >= TARGET_X64_VS_PG),
            ),
            (
                "HTTP x64 / PostgreSQL's best".into(),
                http_vs_pg,
                format!("≥ {TARGET_HTTP_X64_VS_PG}×"),
                http_vs_pg.map(|r| r >= TARGET_HTTP_X64_VS_PG),
            ),
            (
                "in process x1 / raw fsync".into(),
                x1_vs_fsync,
                format!("≥ {TARGET_X1_VS_FSYNC}"),
                x1_vs_fsync.map(|r| r >= TARGET_X1_VS_FSYNC),
            ),
            (
                "in process x1: p99 µs".into(),
                x1_p99,
                format!("≤ {TARGET_X1_P99_US:.0} µs"),
                x1_p99.map(|p| p <= TARGET_X1_P99_US),
            ),
        ]
    }

    /// Each contender's share of the physical limit at the same number of writers, and the
    /// other ratios worth reading beside the targets.
    fn context_lines(&self) -> String {
        let s = self.summaries();
        let rate = |c: Contender| s.get(&c).map(|x| x.ops_per_sec);
        let mut out = String::new();
        let pg_best = s
            .iter()
            .filter(|(c, _)| matches!(c, Contender::Postgres(_)))
            .max_by(|a, b| a.1.ops_per_sec.total_cmp(&b.1.ops_per_sec));
        if let Some((c, x)) = pg_best {
            let _ = writeln!(out, "- PostgreSQL's best: {:.0} appends/s ({})", x.ops_per_sec, c.name());
        }
        for &n in &self.settings.appenders {
            let limit = rate(Contender::GroupFsync(n));
            let share = |c: Contender| {
                rate(c).zip(limit).map(|(a, b)| format!("{} {:.2}", c.name(), a / b)).unwrap_or_default()
            };
            let parts: Vec<String> =
                [Contender::EventLog(n), Contender::Http(n), Contender::Postgres(n)].into_iter().map(share).collect();
            let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
            if !parts.is_empty() {
                let _ = writeln!(out, "- {n} writer(s), share of group fsync x{n}: {}", parts.join(", "));
            }
        }
        let overwrite = rate(Contender::RawFsync).zip(rate(Contender::RawFsyncOverwrite));
        if let Some(x1) = rate(Contender::EventLog(1))
            && let Some((_, over)) = overwrite
        {
            let _ =
                writeln!(out, "- in process x1 / raw fsync (overwrite), the device's data-only rate: {:.2}", x1 / over);
        }
        if let Some((one, sixty_four)) = rate(Contender::EventLog(1)).zip(rate(Contender::EventLog(64))) {
            let _ = writeln!(out, "- in process x64 / x1: {:.1}×", sixty_four / one);
        }
        out
    }

    /// The contenders in the order they were measured.
    fn ordered(&self) -> Vec<(Contender, Summary)> {
        let s = self.summaries();
        self.contenders.iter().filter_map(|c| s.get(c).map(|x| (*c, *x))).collect()
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| contender | writers | appends/s (median) | p50 µs | p99 µs | runs |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for (c, s) in self.ordered() {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {:.0} | {} |",
                c.name(),
                c.appenders(),
                s.ops_per_sec,
                s.p50_us,
                s.p99_us,
                s.runs
            );
        }
        out
    }

    /// Appends/s with writers across, one row per contender.
    fn pivot(&self) -> String {
        let s = self.summaries();
        let ns = &self.settings.appenders;
        let mut out = String::new();
        let heads: Vec<String> = ns.iter().map(|n| format!("x{n}")).collect();
        let _ = writeln!(out, "| appends/s | {} |", heads.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(ns.len()));
        type Row = (&'static str, fn(usize) -> Contender);
        let rows: [Row; 4] = [
            ("group fsync (the disk's limit)", Contender::GroupFsync),
            ("frontdoor in process (eventlog)", Contender::EventLog),
            ("frontdoor over HTTP", Contender::Http),
            ("PostgreSQL", Contender::Postgres),
        ];
        for (label, make) in rows {
            let cells: Vec<String> = ns.iter().map(|&n| show(s.get(&make(n)).map(|x| x.ops_per_sec), 0)).collect();
            if cells.iter().any(|c| c != "n/a") {
                let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
            }
        }
        out
    }

    fn ratio_lines(&self) -> String {
        let mut out = String::new();
        for (label, value, target, pass) in self.ratios() {
            match pass {
                Some(pass) => {
                    // Rates and latencies as whole numbers, ratios with two decimals.
                    let decimals = if value.is_some_and(|v| v >= 100.0) { 0 } else { 2 };
                    out.push_str(&verdict_line(&label, &show(value, decimals), &target, pass));
                }
                None => {
                    let _ = writeln!(out, "- {label}: not measured (target {target})");
                }
            }
        }
        out
    }

    fn summary(&self) -> String {
        format!("\n{}\n{}\n{}\n{}", self.table(), self.pivot(), self.ratio_lines(), self.context_lines())
    }

    fn markdown(&self) -> String {
        let st = self.settings;
        let mut out = self.session.header(
            "Durable appends: frontdoor, PostgreSQL and the disk's own limit",
            "append",
            &format!("a temporary directory under `{}`", self.data_dir.display()),
            "other fsyncs on the same disk",
        );
        let _ = writeln!(
            out,
            "- method: {} run(s); in each run every contender is measured once, in the order of the \
             table, for {:.1} s after a {} ms warm-up, on a fresh file, log, server data directory or table; figures are \
             the median across runs (p50/p99: median of the per-run percentiles).",
            self.session.runs,
            st.seconds,
            st.warmup.as_millis(),
        );
        out.push_str(&quiet_notes(
            self.measurements.iter().map(|m| (format!("run {} {}", m.run, m.contender.name()), &m.observed.quietness)),
        ));
        let _ = writeln!(
            out,
            "- raw fsync: one thread appends {}-byte records ({}) to a new file and calls `sync_data()` \
             after each; the file grows with every record, so every `sync_data()` also commits the \
             new file size (on ext4: a journal commit). raw fsync (overwrite): the same, but \
             overwriting a 64 MiB file written and synced beforehand, so each `sync_data()` writes \
             data only: the device's own flush rate.",
            st.record_bytes,
            if st.measured_record_bytes {
                "what the log's segment files grew by per event of the workload, measured before the runs"
            } else {
                "set by --record-bytes"
            }
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
            cpus(),
            st.events_per_contact,
            self.workload.min_data_bytes(),
            self.workload.max_data_bytes(),
        );
        let _ = writeln!(
            out,
            "- group fsync xN: the physical limit at N writers for the same {}-byte records: N tokio \
             tasks hand records to one thread, which appends every record waiting in one `write`, \
             calls `sync_data()` once and then acknowledges them all (group commit with nothing \
             else: no index, no checksum, no version check).",
            st.record_bytes
        );
        match self.server {
            Some(bin) => {
                let _ = writeln!(
                    out,
                    "- http xN: the real server (`{}`, `frontdoor serve --listen 127.0.0.1:0` on a fresh \
                     data directory per measurement, tokens made with `frontdoor token create`); N \
                     clients, each with its own keep-alive connection, each opening a contact with \
                     `POST /v1/contacts` (a referrer's token; the contact_received data above) and \
                     then appending the follow-ups with `POST /v1/contacts/{{id}}/events` and \
                     `expected_version` (a duty practitioner's token), {} appends per contact; every \
                     201 is one durable append. Clients, server and disk share the machine.",
                    bin.display(),
                    st.events_per_contact
                );
            }
            None => {
                let _ = writeln!(out, "- http xN: left out (`--no-http`).");
            }
        }
        match self.postgres {
            Some(pg) => {
                let _ = writeln!(
                    out,
                    "- postgres xN: N connections (one per writer, `tokio-postgres`, prepared statement), \
                     the same events and contacts as eventlog xN, one transaction per append, \
                     acknowledged when the commit returns. Server: {}.",
                    pg.version
                );
                let settings: Vec<String> = pg.settings.iter().map(|(k, v)| format!("`{k}` = {v}")).collect();
                let _ = writeln!(out, "  Settings: {}.", settings.join(", "));
                let _ = writeln!(
                    out,
                    "  The table is dropped and created afresh, and a `CHECKPOINT` taken, before each \
                     measurement:\n\n```sql\n{PG_SCHEMA}\n```\n\n  Each append (`$3` = the \
                     expected version):\n\n```sql\n{PG_APPEND}\n```\n"
                );
                let _ = writeln!(
                    out,
                    "  Why this check: `unique (contact_id, version)` alone, inserting version = \
                     expected + 1, catches two writers racing for the same version but not a stale or \
                     wrong expectation (expecting 3 when the contact is at 1 would insert version 4 and \
                     leave a gap). The `WHERE` on the contact's current version refuses that, and \
                     under READ COMMITTED two transactions that both read the same maximum then collide \
                     on the unique index (the second waits for the first and fails with 23505), so \
                     together they are the log's expected-version check. Caveat on the global \
                     position: an identity column hands out numbers at insert, not at commit, so \
                     positions can become visible out of order (a reader tailing `position > last` can \
                     skip a row that commits late); the log assigns positions in its single writer, in \
                     commit order. PostgreSQL keeps no hash chain and no idempotency keys here: it does \
                     less work per append than the log."
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "- postgres xN: **not measured**: no `--pg-url` (or `FRONTDOOR_BENCH_PG_URL`) was \
                     given. `ops/bench/run.sh` starts a temporary PostgreSQL cluster and gives it."
                );
            }
        }
        let _ = writeln!(out, "\n### Results\n");
        out.push_str(&self.table());
        let _ = writeln!(out);
        out.push_str(&self.pivot());
        let _ = writeln!(out, "\n### Against the target\n");
        out.push_str(&self.ratio_lines());
        let _ = writeln!(out);
        out.push_str(&self.context_lines());

        let _ = writeln!(out, "\n### Where the time goes (medians)\n");
        let _ = writeln!(
            out,
            "Per append, what the data directory's block device did (`/proc/diskstats`, the whole \
             device, so anything else writing at the time is included), and the CPU this process \
             used as a share of one core (`/proc/self/task/*/schedstat`; the writer is the log's \
             `eventlog-writer` thread), over each measurement window; server: the frontdoor server \
             (http) or PostgreSQL's processes (postgres), user + system; other processes: the rest \
             of the machine's user-mode CPU time (`/proc/stat`), a sign of interference.\n"
        );
        let _ = writeln!(
            out,
            "| contender | device writes / append | KiB written / append | cache flushes / append | \
             appends / flush | CPU % (process) | CPU % (writer) | CPU % (server) | CPU % (other processes) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (c, s) in self.ordered() {
            let per_flush = s.flushes_per_op.filter(|f| *f > 0.0).map(|f| 1.0 / f);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.name(),
                show(s.writes_per_op, 2),
                show(s.kib_per_op, 1),
                show(s.flushes_per_op, 2),
                show(per_flush, 1),
                show(s.cpu_pct, 0),
                if matches!(c, Contender::EventLog(_)) { show(s.writer_cpu_pct, 0) } else { "-".into() },
                if matches!(c, Contender::Http(_) | Contender::Postgres(_)) {
                    show(s.server_cpu_pct, 0)
                } else {
                    "-".into()
                },
                show(s.others_cpu_pct, 0),
            );
        }
        let _ = writeln!(out, "\nEvery run's figures: `results-append.csv`.");
        out
    }

    fn csv(&self) -> String {
        let mut out = String::from(
            "run,contender,appenders,seconds,appends,appends_per_s,p50_us,p99_us,mean_us,max_us,\
             device_writes,device_kib_written,device_flushes,cpu_ms,writer_cpu_ms,server_cpu_ms,others_cpu_ms,",
        );
        out.push_str(Quietness::CSV_HEADER);
        out.push('\n');
        for m in self.measurements {
            let (w, k, f) =
                m.io.map(|io| (io.writes.to_string(), format!("{:.1}", io.kib_written), io.flushes.to_string()))
                    .unwrap_or_default();
            let ms = |ns: u64| format!("{:.1}", ns as f64 / 1e6);
            let (cpu, writer, server, others) = m
                .observed
                .cpu
                .map(|c| {
                    (
                        ms(c.process_ns),
                        ms(c.writer_ns),
                        c.helper_ns.map(ms).unwrap_or_default(),
                        c.others_ns.map(ms).unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{},{:.3},{},{:.1},{:.1},{:.1},{:.1},{:.1},{w},{k},{f},{cpu},{writer},{server},{others},{}",
                m.run,
                m.contender.name(),
                m.contender.appenders(),
                m.observed.window.as_secs_f64(),
                m.ops,
                m.ops_per_sec(),
                m.percentile_us(50.0),
                m.percentile_us(99.0),
                m.mean_us(),
                m.max_us(),
                m.observed.quietness.csv(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_and_ulids_fit_a_uuid() {
        assert_eq!(redact("postgresql://bench:secret@127.0.0.1:5433/db"), "postgresql://bench@127.0.0.1:5433/db");
        assert_eq!(redact("postgresql://postgres@127.0.0.1/db"), "postgresql://postgres@127.0.0.1/db");
        assert_eq!(redact("host=/tmp dbname=db"), "host=/tmp dbname=db");
        assert_eq!(uuid_text(Ulid(1)), format!("{}1", "0".repeat(31)));
        assert_eq!(uuid_text(Ulid::new()).len(), 32);
    }

    #[test]
    fn group_fsync_acknowledges_only_what_the_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group");
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let window = Duration::from_millis(200);
        let m =
            runtime.block_on(measure_group_fsync(1, 8, &path, 100, Duration::from_millis(50), window, None)).unwrap();
        assert!(m.ops > 0, "no append acknowledged");
        assert!(m.latencies.windows(2).all(|w| w[0] <= w[1]), "latencies sorted");
        let stored = std::fs::metadata(path.join("records")).unwrap().len();
        assert!(stored >= m.ops * 100, "{} acknowledged, {stored} bytes stored", m.ops);
    }

    #[test]
    fn each_contact_posted_names_children_of_its_own_in_the_same_bytes() {
        let w = Workload::new();
        let opening = w.opening().data_json().get().to_owned();
        let bodies: Vec<String> = (0..2000).map(|n| children_of(&opening, n)).collect();
        for body in &bodies {
            assert_eq!(body.len(), opening.len());
            assert!(!body.contains(CHILD_FIELDS[1]), "{body}");
            let event: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(event["children"][0]["date_of_birth"].as_str().unwrap().starts_with("20"));
        }
        let distinct: std::collections::HashSet<&String> = bodies.iter().collect();
        assert_eq!(distinct.len(), bodies.len(), "each contact's children are its own");
        // Every one is a contact the server takes.
        for body in bodies.iter().step_by(97) {
            assert!(events::validate::parse_new_contact(body.as_bytes(), Utc::now()).is_ok(), "{body}");
        }
    }

    #[test]
    fn events_are_about_600_bytes() {
        let w = Workload::new();
        for size in w.data_sizes() {
            assert!((450..=750).contains(&size), "event data of {size} bytes");
        }
    }
}
