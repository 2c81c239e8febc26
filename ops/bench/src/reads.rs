//! `frontdoor-bench reads`: the duty team's reads under load. The real server binary, started on
//! a data directory holding thousands of open contacts (and a closed history), answers an
//! open-loop load of `GET /v1/queue` and `GET /v1/contacts/{id}` at a fixed rate; latency runs
//! from each request's scheduled time, so a stall delays every request behind it and shows.
//!
//! The data directory is written once per invocation with the log's own API (the demo
//! generator's contacts, as the server itself would have stored them), then copied afresh for
//! every run: reads of a contact write its access log, so no run sees another's.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use chrono::{TimeDelta, Utc};
use clap::Args;
use demo::{DemoActors, generate};
use eventlog::{AppendRequest, Envelope, EventLog, EventType, Hash, NewEvent};
use projections::contact::ContactState;
use projections::model::on_queue;
use projections::time::DuePolicy;
use serde_json::Value;
use ulid::Ulid;

use crate::CommonArgs;
use crate::machine::{BlockDevice, Counters, Measured, Observed, Quietness};
use crate::report::{Session, median, median_of, nanos, percentile, quiet_notes, show, verdict_line};
use crate::sse::{Server, create_token, server_binary};

/// The benchmarks' target for both reads, p99 at the target rate and number of open contacts.
const TARGET_MS: f64 = 5.0;
/// A request not answered within this long counts as an error.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);
/// Appends in flight while the data directory is written.
const LOAD_IN_FLIGHT: usize = 256;
/// The demo's windows the contacts come from, newest first (each four weeks, ~2,000 contacts).
const MAX_WINDOWS: u64 = 40;

#[derive(Debug, Args)]
pub struct ReadsArgs {
    /// Contacts on the duty queue (open, undecided) when the server starts.
    #[arg(long, default_value_t = 5000)]
    open: usize,
    /// Closed contacts stored besides them (their whole histories), as many as the demo's
    /// windows that gave the open ones hold, at most this many.
    #[arg(long, default_value_t = 3000)]
    closed: usize,
    /// Requests per second, sent on schedule whether or not earlier ones were answered.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds each measurement lasts (`--quick`: 3).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds of the same load before each measurement, not counted (`--quick`: 1).
    #[arg(long, default_value_t = 2)]
    warmup_s: u64,
    /// The loads, each measured in every run, in this order: `queue`, `contact`, `mix` (half
    /// each), `queue-etag` (the queue revalidated with `If-None-Match`).
    #[arg(long, value_delimiter = ',', default_value = "queue,contact,mix,queue-etag")]
    loads: Vec<Load>,
    /// The server binary. Default: `cargo build --release -p frontdoor` into the target
    /// directory this benchmark runs from, and use `<target>/release/frontdoor`.
    #[arg(long, env = "FRONTDOOR_BIN")]
    server: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// What the load asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Load {
    /// `GET /v1/queue`, the whole body every time.
    Queue,
    /// `GET /v1/contacts/{id}` of a random open contact.
    Contact,
    /// Half and half, at random.
    Mix,
    /// `GET /v1/queue` with `If-None-Match` of the last `ETag` seen: a screen polling.
    QueueEtag,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Queue => "queue",
            Load::Contact => "contact",
            Load::Mix => "mix",
            Load::QueueEtag => "queue-etag",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Load::Queue => "`GET /v1/queue`",
            Load::Contact => "`GET /v1/contacts/{id}`, a random open contact",
            Load::Mix => "half `GET /v1/queue`, half `GET /v1/contacts/{id}`, at random",
            Load::QueueEtag => "`GET /v1/queue` with `If-None-Match` (304 while unchanged)",
        }
    }

    /// Whether the target applies (the revalidating poll is extra).
    fn targeted(self) -> bool {
        self != Load::QueueEtag
    }
}

/// One measurement: one load in one run.
#[derive(Debug, Clone)]
struct Measurement {
    run: u32,
    load: Load,
    /// Scheduled time → whole response read, per answered request, sorted, in ns.
    latencies: Vec<u64>,
    /// Requests sent in the measured window.
    requests: usize,
    /// Requests that failed, timed out or were answered with anything but 200 or 304.
    errors: usize,
    /// How many were 304.
    not_modified: usize,
    /// Response body bytes, per answered request, sorted.
    sizes: Vec<u64>,
    /// The latest any request was sent after its scheduled time, in ns (the generator's lag).
    send_lag_max: u64,
    /// The measured window, the CPU used meanwhile (the server's as `cpu.helper_ns`), and the
    /// quiet before it.
    observed: Observed,
}

impl Measured for Measurement {
    fn observed(&mut self) -> &mut Observed {
        &mut self.observed
    }
}

fn ms(sorted: &[u64], p: f64) -> f64 {
    percentile(sorted, p) as f64 / 1e6
}

impl Measurement {
    fn p(&self, p: f64) -> f64 {
        ms(&self.latencies, p)
    }

    fn answered_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.observed.window.as_secs_f64().max(1e-9)
    }
}

/// The data directory's contents, written once.
struct Template {
    dir: tempfile::TempDir,
    /// Contacts on the queue (as the server reports them at start).
    open: usize,
    closed: usize,
    events: u64,
    /// Seconds it took to write.
    seconds: f64,
    /// The tokens: a practitioner reads.
    duty: String,
    /// In this process, on the same data: what building the queue's body for every request
    /// cost (the read model's queue, a `serde_json::Value`, serialised: the server's path
    /// before the body was shared), median of several, and what the shared body's first build
    /// and a later read of it cost, in ms.
    per_request_build_ms: f64,
    shared_build_ms: f64,
    shared_read_ms: f64,
}

pub fn run(args: &ReadsArgs) -> Result<()> {
    let quick = args.common.quick;
    let seconds = if quick { 3 } else { args.seconds };
    let warmup = if quick { 1 } else { args.warmup_s };
    ensure!(args.rate > 0 && seconds > 0, "--rate and --seconds must be at least 1");
    ensure!(args.open > 0, "--open must be at least 1");
    ensure!(!args.loads.is_empty(), "--loads needs at least one load");
    let server = server_binary(args.server.as_deref())?;
    let parent = args.common.data_parent()?;
    let mut session = args.common.session(&parent)?;
    // A connection per request in flight, on each side.
    crate::sse::raise_open_files_limit();
    eprintln!(
        "frontdoor-bench reads: {} run(s) x {:?}, {} req/s for {seconds} s each, {} open contacts, server {}",
        session.runs,
        args.loads.iter().map(|l| l.name()).collect::<Vec<_>>(),
        args.rate,
        args.open,
        server.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let template = write_template(&runtime, &server, &parent, args.open, args.closed)?;
    eprintln!(
        "data: {} events, {} open and {} closed contacts, written in {:.1} s; the queue's body: built per \
         request {:.1} ms, shared: first build {:.1} ms, then {:.4} ms",
        template.events,
        template.open,
        template.closed,
        template.seconds,
        template.per_request_build_ms,
        template.shared_build_ms,
        template.shared_read_ms
    );

    let mut measurements = Vec::new();
    let mut queue_len = 0;
    for run in 1..=session.runs {
        // A fresh copy of the data for every run, and a fresh server on it.
        let scratch = tempfile::Builder::new()
            .prefix("frontdoor-bench-reads-")
            .tempdir_in(&parent)
            .with_context(|| format!("creating a data directory in {}", parent.display()))?;
        copy_dir(template.dir.path(), scratch.path())?;
        let server = Server::spawn(&server, scratch.path())?;
        let client = client()?;
        let ids = runtime.block_on(async {
            server.ready(&client).await?;
            open_contacts(&client, &server.url, &template.duty).await
        })?;
        // The load is stated for `--open` contacts on the queue: the server must see them all.
        ensure!(
            ids.len() == template.open && template.open == args.open,
            "the server's queue holds {} contacts, the data was written with {} open ({} wanted)",
            ids.len(),
            template.open,
            args.open
        );
        queue_len = ids.len();
        for &load in &args.loads {
            let m = session.measure(|| {
                runtime.block_on(measure(
                    run,
                    load,
                    &server,
                    &template.duty,
                    &ids,
                    args.rate,
                    Duration::from_secs(warmup),
                    Duration::from_secs(seconds),
                    session.device(),
                ))
            })?;
            eprintln!(
                "run {run} {:>10}: p50 {:.2} ms  p99 {:.2} ms  max {:.1} ms  errors {}  {:.0} answered/s  {} bytes{}",
                load.name(),
                m.p(50.0),
                m.p(99.0),
                m.p(100.0),
                m.errors,
                m.answered_per_s(),
                percentile(&m.sizes, 50.0),
                m.observed.cpu.map(|c| c.describe(m.observed.window)).unwrap_or_default(),
            );
            measurements.push(m);
        }
        drop(server);
    }
    drop(runtime);
    session.finish();

    let report = Report {
        session: &session,
        args,
        seconds,
        warmup,
        template: &template,
        queue_len,
        measurements: &measurements,
        server: &server,
    };
    session.write("reads", &report.markdown(), "results-reads.csv", &report.csv())?;
    print!("\n{}\n{}", report.table(), report.target_lines());
    Ok(())
}

/// No proxy for loopback, whatever the environment says; the pool grows with the requests in
/// flight.
fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().tcp_nodelay(true).timeout(REQUEST_LIMIT).build()?)
}

// ---------------------------------------------------------------------------------------------
// The data
// ---------------------------------------------------------------------------------------------

/// Writes the data directory: `open` contacts on the queue and up to `closed` closed ones, from
/// the demo generator's windows, newest first. A contact whose whole history leaves it on the
/// queue is stored whole; one that was decided or closed is stored up to the event before
/// that (a real earlier state of it: received, perhaps checked, called, noted) while open ones
/// are still wanted, and whole as closed history after. Then the tokens, with the real CLI.
fn write_template(
    runtime: &tokio::runtime::Runtime,
    bin: &Path,
    parent: &Path,
    open: usize,
    closed: usize,
) -> Result<Template> {
    let started = Instant::now();
    let dir = tempfile::Builder::new().prefix("frontdoor-bench-reads-data-").tempdir_in(parent)?;
    let policy = DuePolicy::default();
    let actors = DemoActors::standard();
    let now = Utc::now();
    let mut appends: Vec<AppendRequest> = Vec::new();
    let (mut opened, mut kept_closed) = (0, 0);
    for window in 0..MAX_WINDOWS {
        if opened >= open && kept_closed >= closed {
            break;
        }
        let until = now - TimeDelta::days(28 * i64::try_from(window)?);
        // Each contact's events, in order, contacts in the order of their first append.
        let mut order: Vec<Ulid> = Vec::new();
        let mut streams: HashMap<Ulid, Vec<NewEvent>> = HashMap::new();
        for append in generate(until, 3000 + window, &actors, &policy) {
            let stream = streams.entry(append.contact_id).or_insert_with(|| {
                order.push(append.contact_id);
                Vec::new()
            });
            stream.extend(append.events);
        }
        // Newest first, so the open contacts are the most recent ones.
        for id in order.into_iter().rev() {
            let Some(events) = streams.remove(&id) else { continue };
            let whole_open = queued(id, &events)?;
            let events = if whole_open && opened < open {
                opened += 1;
                events
            } else if !whole_open && opened < open {
                let cut = events
                    .iter()
                    .position(|e| matches!(e.event_type, EventType::DecisionMade | EventType::ContactClosed))
                    .unwrap_or(events.len());
                let mut events = events;
                events.truncate(cut);
                if events.is_empty() || !queued(id, &events)? {
                    continue;
                }
                opened += 1;
                events
            } else if !whole_open && kept_closed < closed {
                kept_closed += 1;
                events
            } else {
                continue;
            };
            appends.push(AppendRequest { contact_id: id, events, expected_version: Some(0), idempotency: None });
        }
    }
    ensure!(opened >= open, "the demo's {MAX_WINDOWS} windows gave only {opened} open contacts");
    let events = appends.iter().map(|a| a.events.len() as u64).sum();
    runtime.block_on(store(dir.path(), appends))?;
    let seconds = started.elapsed().as_secs_f64();
    let duty = create_token(bin, dir.path(), "practitioner", "bench-duty", "childrens_social_care")?;
    let (per_request_build_ms, shared_build_ms, shared_read_ms) = queue_costs(dir.path())?;
    Ok(Template {
        dir,
        open: opened,
        closed: kept_closed,
        events,
        seconds,
        duty,
        per_request_build_ms,
        shared_build_ms,
        shared_read_ms,
    })
}

/// Builds the read model from the log in `dir` as the server does and times the queue's body:
/// built for every request as the server once did, and built once and shared as it does now.
fn queue_costs(dir: &Path) -> Result<(f64, f64, f64)> {
    let log = EventLog::open(dir).with_context(|| format!("opening the log in {}", dir.display()))?;
    let live = frontdoor::live::Live::new(DuePolicy::default());
    live.rebuild(&log)?;
    log.shutdown();
    let now = Utc::now();
    let ms = |started: Instant| started.elapsed().as_secs_f64() * 1e3;
    let mut per_request = Vec::new();
    let mut bytes = 0;
    for _ in 0..9 {
        let started = Instant::now();
        let model = live.model();
        let value = serde_json::json!({"as_of_position": model.position(), "items": model.queue(live.policy(), now)});
        drop(model);
        bytes = serde_json::to_vec(&value)?.len();
        per_request.push(ms(started));
    }
    let started = Instant::now();
    let shared = live.queue_body_at(now);
    let shared_build = ms(started);
    ensure!(shared.json.len() == bytes, "the shared body differs in size from the one built per request");
    let started = Instant::now();
    let again = live.queue_body_at(now);
    let shared_read = ms(started);
    ensure!(Arc::ptr_eq(&shared, &again), "the queue's body was built again with nothing changed");
    Ok((median(per_request), shared_build, shared_read))
}

/// Whether a contact with these events is on the duty queue.
fn queued(id: Ulid, events: &[NewEvent]) -> Result<bool> {
    let envelopes: Vec<Envelope> = events
        .iter()
        .zip(1..)
        .map(|(e, version)| Envelope {
            position: u64::from(version),
            event_id: e.event_id,
            contact_id: id,
            version,
            event_type: e.event_type,
            schema_version: events::schema::CURRENT_SCHEMA_VERSION,
            occurred_at: e.occurred_at,
            late_entry_reason: None,
            recorded_at: e.occurred_at,
            actor: e.actor.clone(),
            data: e.data.clone(),
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        })
        .collect();
    let state = ContactState::fold(&envelopes).map_err(|e| anyhow::anyhow!("folding a demo contact: {e}"))?;
    Ok(state.is_some_and(|s| on_queue(&s)))
}

/// Appends every contact's events (one append each) to a new log in `dir`, many in flight.
pub(crate) async fn store(dir: &Path, appends: Vec<AppendRequest>) -> Result<()> {
    let log = EventLog::open(dir).with_context(|| format!("creating the log in {}", dir.display()))?;
    let mut in_flight = tokio::task::JoinSet::new();
    let mut result = Ok(());
    for append in appends {
        if in_flight.len() >= LOAD_IN_FLIGHT
            && let Some(done) = in_flight.join_next().await
        {
            result = result.and(done?);
        }
        let log = log.clone();
        in_flight.spawn(async move { log.append(append).await.map(|_| ()).context("appending a demo contact") });
    }
    while let Some(done) = in_flight.join_next().await {
        result = result.and(done?);
    }
    log.shutdown();
    result
}

/// Copies a data directory (files and directories only).
pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {} to {}", entry.path().display(), target.display()))?;
        }
    }
    Ok(())
}

/// The contacts on the queue, as the duty practitioner sees it.
async fn open_contacts(client: &reqwest::Client, url: &str, token: &str) -> Result<Vec<String>> {
    let response = client.get(format!("{url}/v1/queue")).bearer_auth(token).send().await?;
    ensure!(response.status() == 200, "GET /v1/queue answered {}", response.status());
    let queue: Value = response.json().await?;
    let items = queue["items"].as_array().context("no items in the queue")?;
    Ok(items.iter().filter_map(|i| i["contact_id"].as_str().map(str::to_owned)).collect())
}

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

/// What one request found: its index, latency from its scheduled time, status, body bytes,
/// and how late it was sent.
struct Outcome {
    index: u64,
    latency: Duration,
    status: Option<u16>,
    bytes: u64,
    lag: Duration,
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    run: u32,
    load: Load,
    server: &Server,
    token: &str,
    ids: &[String],
    rate: u32,
    warmup: Duration,
    seconds: Duration,
    device: Option<&BlockDevice>,
) -> Result<Measurement> {
    let client = client()?;
    let period = Duration::from_secs(1) / rate;
    let warm = u64::from(rate) * warmup.as_secs();
    let total = warm + u64::from(rate) * seconds.as_secs();
    let ids: Arc<[String]> = ids.into();
    let etag: Arc<Mutex<Option<String>>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let mut rng = fastrand::Rng::with_seed(u64::from(run) * 1000 + load as u64);

    let start = Instant::now() + Duration::from_millis(50);
    let (mut next, pacer) = paced(start, period, total)?;
    let mut before = None;
    let mut measured_from = Instant::now();
    while let Some(index) = next.recv().await {
        let at = tokio::time::Instant::from_std(start + period * u32::try_from(index)?);
        if index == warm {
            before = Some(Counters::read_with(device, Some(server.child.id())));
            measured_from = at.into_std();
        }
        let queue = match load {
            Load::Queue | Load::QueueEtag => true,
            Load::Contact => false,
            Load::Mix => rng.bool(),
        };
        let path = if queue { "/v1/queue".to_owned() } else { format!("/v1/contacts/{}", ids[rng.usize(..ids.len())]) };
        let request = client.get(format!("{}{path}", server.url)).bearer_auth(token);
        let (tx, etag) = (tx.clone(), Arc::clone(&etag));
        let revalidate = load == Load::QueueEtag;
        tokio::spawn(async move {
            let sent = tokio::time::Instant::now();
            let mut request = request;
            if revalidate && let Some(tag) = etag.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
                request = request.header("if-none-match", tag);
            }
            let (status, bytes) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if let Some(tag) = response.headers().get("etag").and_then(|v| v.to_str().ok()) {
                        *etag.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tag.to_owned());
                    }
                    match response.bytes().await {
                        Ok(body) => (Some(status), body.len() as u64),
                        Err(_) => (None, 0),
                    }
                }
                Err(_) => (None, 0),
            };
            let _ = tx.send(Outcome { index, latency: at.elapsed(), status, bytes, lag: sent - at });
        });
    }
    pacer.join().map_err(|_| anyhow::anyhow!("the pacer thread panicked"))??;
    drop(tx);
    let mut outcomes = Vec::with_capacity(usize::try_from(total)?);
    while let Some(outcome) = rx.recv().await {
        outcomes.push(outcome);
    }
    let window = measured_from.elapsed();
    let (_, cpu) = Counters::read_with(device, Some(server.child.id())).since(before.as_ref());

    let measured: Vec<&Outcome> = outcomes.iter().filter(|o| o.index >= warm).collect();
    let answered = |o: &&&Outcome| matches!(o.status, Some(200 | 304));
    let mut latencies: Vec<u64> = measured.iter().filter(answered).map(|o| nanos(o.latency)).collect();
    latencies.sort_unstable();
    let mut sizes: Vec<u64> = measured.iter().filter(answered).map(|o| o.bytes).collect();
    sizes.sort_unstable();
    Ok(Measurement {
        run,
        load,
        requests: measured.len(),
        errors: measured.len() - latencies.len(),
        not_modified: measured.iter().filter(|o| o.status == Some(304)).count(),
        latencies,
        sizes,
        send_lag_max: measured.iter().map(|o| nanos(o.lag)).max().unwrap_or(0),
        observed: Observed::new(window, cpu),
    })
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

struct Report<'a> {
    session: &'a Session,
    args: &'a ReadsArgs,
    seconds: u64,
    warmup: u64,
    template: &'a Template,
    queue_len: usize,
    measurements: &'a [Measurement],
    server: &'a Path,
}

/// Medians across the runs of one load.
struct Summary {
    p50: f64,
    p99: f64,
    max: f64,
    errors: usize,
    requests: usize,
    not_modified: usize,
    bytes: f64,
    answered_per_s: f64,
    send_lag_ms: f64,
    server_cpu_pct: Option<f64>,
    bench_cpu_pct: Option<f64>,
    others_cpu_pct: Option<f64>,
    runs: usize,
}

impl Summary {
    fn pass(&self) -> bool {
        self.errors == 0 && self.p99 <= TARGET_MS
    }
}

impl Report<'_> {
    fn summary(&self, load: Load) -> Summary {
        let ms_: Vec<&Measurement> = self.measurements.iter().filter(|m| m.load == load).collect();
        let med = |f: &dyn Fn(&Measurement) -> f64| median(ms_.iter().map(|m| f(m)).collect());
        Summary {
            p50: med(&|m| m.p(50.0)),
            p99: med(&|m| m.p(99.0)),
            max: med(&|m| m.p(100.0)),
            errors: ms_.iter().map(|m| m.errors).sum(),
            requests: ms_.iter().map(|m| m.requests).sum(),
            not_modified: ms_.iter().map(|m| m.not_modified).sum(),
            bytes: med(&|m| percentile(&m.sizes, 50.0) as f64),
            answered_per_s: med(&|m| m.answered_per_s()),
            send_lag_ms: med(&|m| m.send_lag_max as f64 / 1e6),
            server_cpu_pct: median_of(&ms_, |m| m.observed.cpu.and_then(|c| c.helper_pct(m.observed.window))),
            bench_cpu_pct: median_of(&ms_, |m| m.observed.cpu.map(|c| c.process_pct(m.observed.window))),
            others_cpu_pct: median_of(&ms_, |m| m.observed.cpu.and_then(|c| c.others_pct(m.observed.window))),
            runs: ms_.len(),
        }
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| load | requests | p50 ms | p99 ms | max ms | errors | 304s | body bytes (median) | answered/s | runs |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for &load in &self.args.loads {
            let s = self.summary(load);
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.1} | {} | {} | {:.0} | {:.0} | {} |",
                load.name(),
                s.requests,
                s.p50,
                s.p99,
                s.max,
                s.errors,
                s.not_modified,
                s.bytes,
                s.answered_per_s,
                s.runs
            );
        }
        out
    }

    fn target_lines(&self) -> String {
        let mut out = String::new();
        for &load in self.args.loads.iter().filter(|l| l.targeted()) {
            let s = self.summary(load);
            let errors = if s.errors > 0 { format!(", {} errors", s.errors) } else { String::new() };
            out.push_str(&verdict_line(
                &format!(
                    "{}: p99 at {} req/s, {} open contacts (median of runs)",
                    load.name(),
                    self.args.rate,
                    self.queue_len
                ),
                &format!("{:.2} ms{errors}", s.p99),
                &format!("≤ {TARGET_MS:.0} ms, no errors"),
                s.pass(),
            ));
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = self.session.header(
            "Reads under load benchmark",
            "reads",
            "a temporary directory under the data directory per run, copied from one written at the start",
            "other CPU-bound work on the CPUs that server and load generator share",
        );
        let t = self.template;
        let _ = writeln!(
            out,
            "- data: {} events; {} contacts on the duty queue (open, undecided) and {} closed ones, \
             from the demo generator's four-week windows, newest first (a contact that was decided or \
             closed is stored up to the event before, while open ones are wanted: received, perhaps \
             checked, called, noted; most of them are therefore overdue); written with \
             `EventLog::append` ({} in flight) in {:.1} s, then copied for every run",
            t.events, t.open, t.closed, LOAD_IN_FLIGHT, t.seconds
        );
        let _ = writeln!(
            out,
            "- server: `{}` (built by `cargo build --release -p frontdoor` unless `--server` is given), \
             started afresh for every run on its copy (`frontdoor serve --listen 127.0.0.1:0`), after \
             `/readyz` says 200; a practitioner's token made with `frontdoor token create`; the open \
             contacts' ids are read from `GET /v1/queue`",
            self.server.display()
        );
        let _ = writeln!(
            out,
            "- method: open loop: requests scheduled every {:.2} ms ({} req/s) and sent at their time \
             whether or not earlier ones were answered (one reqwest client, connections as needed, on \
             this process's {}-worker tokio runtime; the schedule kept by a thread of its own with the \
             OS's sleep: until 7 December 2026 by tokio's timer, whose 1 ms ticks sent each request up \
             to 1 ms late, inside its latency); latency runs from the **scheduled** time to the \
             whole body read, so a stall delays every request behind it and shows; {} s of load not \
             counted, then {} s measured, per load; loads in each run: {}; {} run(s), interleaved; \
             figures are medians of the runs' own p50, p99 and max (nearest rank). Errors: no answer \
             within {} s, or any status but 200 (and 304 for `queue-etag`). Every contact read is \
             recorded in its access log, as the API requires.",
            1000.0 / f64::from(self.args.rate),
            self.args.rate,
            crate::machine::cpus(),
            self.warmup,
            self.seconds,
            self.args.loads.iter().map(|l| format!("`{}` ({})", l.name(), l.what())).collect::<Vec<_>>().join(", "),
            self.session.runs,
            REQUEST_LIMIT.as_secs()
        );
        out.push_str(&quiet_notes(
            self.measurements.iter().map(|m| (format!("run {} {}", m.run, m.load.name()), &m.observed.quietness)),
        ));
        let _ = writeln!(out, "\n### Results\n");
        out.push_str(&self.table());
        let _ = writeln!(out, "\n### Against the target\n");
        out.push_str(&self.target_lines());
        let _ = writeln!(out, "\n### Where the time goes\n");
        let _ = writeln!(
            out,
            "CPU as a share of one core over each measured window (medians of runs): the server \
             process (user + system), this process (the load generator, which reads every body), \
             and other processes; and the latest a request was sent after its scheduled time (the \
             generator's own lag, inside every figure above).\n"
        );
        let _ = writeln!(
            out,
            "| load | CPU % (server) | CPU % (load generator) | CPU % (other processes) | send lag max ms |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for &load in &self.args.loads {
            let s = self.summary(load);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.1} |",
                load.name(),
                show(s.server_cpu_pct, 0),
                show(s.bench_cpu_pct, 0),
                show(s.others_cpu_pct, 0),
                s.send_lag_ms
            );
        }
        let _ = writeln!(
            out,
            "\nThe queue's body is serialised once per change of the queue and shared by every reader \
             (`frontdoor::live::QueueBody`; docs/DECISIONS.md), so a read of an unchanged queue costs \
             the copy of its bytes onto the socket; with its `ETag` sent back as `If-None-Match` it \
             costs a 304. Timed in this process on the same data (read model rebuilt from the log as \
             the server does): building the body for every request, as the server did before (the \
             queue's fold and sort, a `serde_json::Value`, serialised), took {:.1} ms (median of 9), \
             i.e. at most {:.0} requests/s on one core; the shared body's first build took {:.1} ms, \
             a later read of it {:.4} ms. A contact read folds the contact's few events from the log \
             and writes one access-log entry.\n\nEvery run's figures: `results-reads.csv`.",
            t.per_request_build_ms,
            1000.0 / t.per_request_build_ms.max(1e-9),
            t.shared_build_ms,
            t.shared_read_ms
        );
        out
    }

    fn csv(&self) -> String {
        let mut out = String::from(
            "run,load,rate,seconds,requests,errors,not_modified,p50_ms,p90_ms,p99_ms,max_ms,body_bytes_median,\
             answered_per_s,send_lag_max_ms,server_cpu_ms,bench_cpu_ms,others_cpu_ms,",
        );
        out.push_str(Quietness::CSV_HEADER);
        out.push('\n');
        for m in self.measurements {
            let cpu_ms = |ns: u64| format!("{:.1}", ns as f64 / 1e6);
            let (server, bench, others) = m
                .observed
                .cpu
                .map(|c| {
                    (
                        c.helper_ns.map(cpu_ms).unwrap_or_default(),
                        cpu_ms(c.process_ns),
                        c.others_ns.map(cpu_ms).unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{},{:.3},{},{},{},{:.3},{:.3},{:.3},{:.3},{},{:.1},{:.2},{server},{bench},{others},{}",
                m.run,
                m.load.name(),
                self.args.rate,
                m.observed.window.as_secs_f64(),
                m.requests,
                m.errors,
                m.not_modified,
                m.p(50.0),
                m.p(90.0),
                m.p(99.0),
                m.p(100.0),
                percentile(&m.sizes, 50.0),
                m.answered_per_s(),
                m.send_lag_max as f64 / 1e6,
                m.observed.quietness.csv(),
            );
        }
        out
    }
}

/// An open-loop schedule: request `index` (from 0 to `total`) is due at `start + period * index`,
/// and its number comes out of the receiver then. Kept by a thread of its own with the OS's
/// sleep (tens of µs late at most), not by tokio's timer, whose 1 ms ticks sent every request
/// up to a millisecond after its time and counted that in its latency. Join the thread once
/// the receiver is drained.
pub fn paced(
    start: Instant,
    period: Duration,
    total: u64,
) -> Result<(tokio::sync::mpsc::UnboundedReceiver<u64>, std::thread::JoinHandle<Result<()>>)> {
    let (due, next) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let pacer = std::thread::Builder::new().name("bench-pacer".into()).spawn(move || -> Result<()> {
        for index in 0..total {
            let at = start + period * u32::try_from(index)?;
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if due.send(index).is_err() {
                break;
            }
        }
        Ok(())
    })?;
    Ok((next, pacer))
}
