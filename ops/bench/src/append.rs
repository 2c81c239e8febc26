//! `frontdoor-bench append`: durable appends to the event log against the disk's own limit.
//!
//! It measures, on one filesystem:
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
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, Utc};
use clap::Args;
use eventlog::schema::{
    Agency, CallDirection, CallLogged, CallWith, Channel, ChecksReturned, Child, Consent, ContactReceived, NoteAdded,
    Referrer, Sex, SourceCode,
};
use eventlog::{Actor, AppendRequest, Event, EventLog, NewEvent, Role};
use ulid::Ulid;

use crate::CommonArgs;
use crate::machine::{BlockDevice, Counters, IoDelta, Measured, Observed, Quietness, cpus};
use crate::report::{Session, median, median_of, nanos, percentile, quiet_notes, show, verdict_line};

/// The project's targets for the two ratios.
const TARGET_SCALING: f64 = 8.0;
const TARGET_VS_FSYNC: f64 = 0.5;

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Seconds each measurement runs for, after its warm-up (`--quick`: 1).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Warm-up before each measurement, in milliseconds (appends made during it are not counted;
    /// `--quick`: 200).
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Concurrent appenders to measure the log with.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    appenders: Vec<usize>,
    /// Size of each raw fsync record in bytes (about one event's data).
    #[arg(long, default_value_t = 600)]
    record_bytes: usize,
    /// Events an appender writes to one contact before it moves on to a new contact.
    #[arg(long, default_value_t = 20)]
    events_per_contact: u32,
    #[command(flatten)]
    common: CommonArgs,
}

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
    events_per_contact: u32,
}

pub fn run(args: &AppendArgs) -> Result<()> {
    let quick = args.common.quick;
    let settings = Settings {
        seconds: if quick { 1.0 } else { args.seconds },
        warmup: Duration::from_millis(if quick { 200 } else { args.warmup_ms }),
        appenders: args.appenders.clone(),
        record_bytes: args.record_bytes,
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
    let mut contenders = vec![Contender::RawFsync, Contender::RawFsyncOverwrite];
    contenders.extend(settings.appenders.iter().map(|&n| Contender::EventLog(n)));

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

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
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
                };
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
    };
    session.write("append", &report.markdown(), "results-append.csv", &report.csv())?;
    print!("{}", report.summary());
    Ok(())
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
                    // crc32 (4) + hash (32) + body: the record format in eventlog::envelope.
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
                    others_cpu_pct: median_of(&ms, |m| m.observed.cpu.and_then(|c| c.others_pct(m.observed.window))),
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
            out.push_str(&verdict_line(&label, &show(value, 3), &target, pass));
        }
        out
    }

    fn summary(&self) -> String {
        format!("\n{}\n{}", self.table(), self.ratio_lines())
    }

    fn markdown(&self) -> String {
        let st = self.settings;
        let mut out = self.session.header(
            "Event log append benchmark",
            "append",
            &format!("a temporary directory under `{}`", self.data_dir.display()),
            "other fsyncs on the same disk",
        );
        let _ = writeln!(
            out,
            "- method: {} run(s); in each run every contender is measured once, in the order of the \
             table, for {:.1} s after a {} ms warm-up, on a fresh file or log directory; figures are \
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
            cpus(),
            st.events_per_contact,
            self.workload.min_data_bytes(),
            self.workload.max_data_bytes(),
        );
        let _ = writeln!(out, "\n### Results\n");
        out.push_str(&self.table());
        let _ = writeln!(out, "\n### Against the target\n");
        out.push_str(&self.ratio_lines());

        let _ = writeln!(out, "\n### Where the time goes (medians)\n");
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
             device_writes,device_kib_written,device_flushes,cpu_ms,writer_cpu_ms,others_cpu_ms,",
        );
        out.push_str(Quietness::CSV_HEADER);
        out.push('\n');
        for m in self.measurements {
            let (w, k, f) =
                m.io.map(|io| (io.writes.to_string(), format!("{:.1}", io.kib_written), io.flushes.to_string()))
                    .unwrap_or_default();
            let ms = |ns: u64| format!("{:.1}", ns as f64 / 1e6);
            let (cpu, writer, others) = m
                .observed
                .cpu
                .map(|c| (ms(c.process_ns), ms(c.writer_ns), c.others_ns.map(ms).unwrap_or_default()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{},{:.3},{},{:.1},{:.1},{:.1},{:.1},{:.1},{w},{k},{f},{cpu},{writer},{others},{}",
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
    fn events_are_about_600_bytes() {
        let w = Workload::new();
        for size in w.data_sizes() {
            assert!((450..=750).contains(&size), "event data of {size} bytes");
        }
    }
}
