//! `frontdoor-bench children`: the duty team's person search at a county's scale. The real
//! server binary, started on a data directory holding the contacts of about 100,000 children,
//! answers `GET /v1/children` searches: an open-loop load at a fixed rate for the latency
//! (from each request's scheduled time, so a stall delays every request behind it and shows),
//! then a closed loop of a few clients asking as fast as they are answered for the queries a
//! second.
//!
//! The contacts are the demo generator's, window after window (four weeks, ~2,000 contacts
//! each, whole histories), until the children they name number the target. Each window's NHS
//! numbers and references are renumbered so that two windows never give two different
//! children the same number (the demo draws them at random from a small range): a child is
//! the same child only within its window's re-contacts, as in a real county's records.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use chrono::{TimeDelta, Utc};
use clap::Args;
use demo::{DemoActors, generate};
use eventlog::{AppendRequest, EventType};
use projections::time::DuePolicy;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::CommonArgs;
use crate::machine::{BlockDevice, Counters, Measured, Observed, Quietness};
use crate::reads::{copy_dir, paced, store};
use crate::report::{Session, median, median_of, nanos, percentile, quiet_notes, show, verdict_line};
use crate::sse::{Server, create_token, server_binary};

/// The target: p99 of `GET /v1/children` at 100,000 children.
const TARGET_MS: f64 = 20.0;
/// A request not answered within this long counts as an error.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);
/// The demo's windows at most (each four weeks, ~2,900 children).
const MAX_WINDOWS: u64 = 80;

#[derive(Debug, Args)]
pub struct ChildrenArgs {
    /// Children the stored contacts name (by the index's own rule: NHS number, reference, or
    /// name and date of birth) at least.
    #[arg(long, default_value_t = 100_000)]
    children: usize,
    /// Searches per second in the open-loop measurement.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Seconds each measurement lasts (`--quick`: 3).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds of the same load before each measurement, not counted (`--quick`: 1).
    #[arg(long, default_value_t = 2)]
    warmup_s: u64,
    /// Clients in the closed-loop measurement, each sending its next search when the last is
    /// answered.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The server binary. Default: `cargo build --release -p frontdoor` into the target
    /// directory this benchmark runs from, and use `<target>/release/frontdoor`.
    #[arg(long, env = "FRONTDOOR_BIN")]
    server: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// The kinds of search, drawn at random for every request in these shares (percent).
const KINDS: [(Kind, u32); 6] = [
    (Kind::NameDob, 30),
    (Kind::Respelt, 15),
    (Kind::Nhs, 20),
    (Kind::Name, 15),
    (Kind::Surname, 10),
    (Kind::Postcode, 10),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `name` and `date_of_birth` of a stored child.
    NameDob,
    /// The same with the name lower-cased and one letter of the surname doubled or dropped, as
    /// typed in a hurry: only phonetic matching finds the child.
    Respelt,
    /// `nhs_number` of a stored child.
    Nhs,
    /// `name` alone: every child of that name, all ages.
    Name,
    /// A surname alone: the widest search a worker types.
    Surname,
    /// The postcode of a stored child's home: the household and its neighbours.
    Postcode,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::NameDob => "name+dob",
            Kind::Respelt => "respelt name+dob",
            Kind::Nhs => "nhs_number",
            Kind::Name => "name",
            Kind::Surname => "surname",
            Kind::Postcode => "postcode",
        }
    }
}

/// One search's query string, ready to send.
type Query = Vec<(&'static str, String)>;

/// Which measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Requests on schedule at `--rate`.
    Open,
    /// `--clients` clients, each asking again when answered.
    Closed,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Open => "open-loop",
            Mode::Closed => "closed-loop",
        }
    }
}

/// One measurement: one mode in one run.
#[derive(Debug, Clone)]
struct Measurement {
    run: u32,
    mode: Mode,
    /// Per answered request, sorted, in ns (open loop: from the scheduled time).
    latencies: Vec<u64>,
    /// The same per kind of search.
    by_kind: Vec<(Kind, Vec<u64>)>,
    requests: usize,
    errors: usize,
    /// Candidates per answered search, sorted.
    candidates: Vec<u64>,
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

/// The data directory, written once, and the searches drawn from it.
struct Template {
    dir: tempfile::TempDir,
    contacts: usize,
    children: usize,
    events: u64,
    seconds: f64,
    duty: String,
    /// Searches of each kind, drawn from the stored children.
    queries: Vec<(Kind, Vec<Query>)>,
}

pub fn run(args: &ChildrenArgs) -> Result<()> {
    let quick = args.common.quick;
    let seconds = if quick { 3 } else { args.seconds };
    let warmup = if quick { 1 } else { args.warmup_s };
    let target_children = if quick { args.children.min(10_000) } else { args.children };
    ensure!(args.rate > 0 && seconds > 0 && args.clients > 0, "--rate, --seconds and --clients must be at least 1");
    let server = server_binary(args.server.as_deref())?;
    let parent = args.common.data_parent()?;
    let mut session = args.common.session(&parent)?;
    crate::sse::raise_open_files_limit();
    eprintln!(
        "frontdoor-bench children: {} run(s), {} searches/s and {} clients for {seconds} s each, {} children, server {}",
        session.runs,
        args.rate,
        args.clients,
        target_children,
        server.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let template = write_template(&runtime, &server, &parent, target_children)?;
    eprintln!(
        "data: {} events, {} contacts, {} children, written in {:.1} s",
        template.events, template.contacts, template.children, template.seconds
    );

    let mut measurements = Vec::new();
    for run in 1..=session.runs {
        let scratch = tempfile::Builder::new()
            .prefix("frontdoor-bench-children-")
            .tempdir_in(&parent)
            .with_context(|| format!("creating a data directory in {}", parent.display()))?;
        copy_dir(template.dir.path(), scratch.path())?;
        let server = Server::spawn(&server, scratch.path())?;
        let client = client()?;
        runtime.block_on(async {
            server.ready(&client).await?;
            // Every kind of search answers before anything is measured.
            for (kind, queries) in &template.queries {
                let response =
                    client.get(format!("{}/v1/children", server.url)).bearer_auth(&template.duty).query(&queries[0]);
                let response = response.send().await?;
                ensure!(response.status() == 200, "a {} search answered {}", kind.name(), response.status());
            }
            anyhow::Ok(())
        })?;
        for mode in [Mode::Open, Mode::Closed] {
            let m = session.measure(|| {
                runtime.block_on(measure(
                    run,
                    mode,
                    &server,
                    &template,
                    args,
                    Duration::from_secs(warmup),
                    Duration::from_secs(seconds),
                    session.device(),
                ))
            })?;
            eprintln!(
                "run {run} {:>11}: p50 {:.2} ms  p99 {:.2} ms  max {:.1} ms  errors {}  {:.0} answered/s{}",
                mode.name(),
                m.p(50.0),
                m.p(99.0),
                m.p(100.0),
                m.errors,
                m.answered_per_s(),
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
        measurements: &measurements,
        server: &server,
    };
    session.write("children", &report.markdown(), "results-children.csv", &report.csv())?;
    print!("\n{}\n{}", report.table(), report.target_lines());
    Ok(())
}

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().tcp_nodelay(true).timeout(REQUEST_LIMIT).build()?)
}

// ---------------------------------------------------------------------------------------------
// The data
// ---------------------------------------------------------------------------------------------

/// NHS numbers handed out in order from the 999 range (never issued), with a valid check digit.
struct NhsNumbers(u32);

impl NhsNumbers {
    fn next(&mut self) -> Result<String> {
        loop {
            ensure!(self.0 < 1_000_000, "out of NHS numbers in the 999 range");
            let number = format!("999{:06}", self.0);
            self.0 += 1;
            let sum: u32 = number.chars().zip((2..=10).rev()).map(|(d, w)| d.to_digit(10).unwrap_or(0) * w).sum();
            let check = match 11 - sum % 11 {
                11 => 0,
                10 => continue,
                check => check,
            };
            return Ok(format!("{number}{check}"));
        }
    }
}

/// A child as the index tells children apart, roughly: by NHS number, else reference, else
/// name and date of birth (spelling variants and missing numbers make this count a little high).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ChildKey {
    Nhs(String),
    Ref(String),
    NameDob(String, String),
}

/// Writes the data directory: the demo's windows, oldest first, until the children named
/// reach `target`; the searches drawn from them; a practitioner's token.
fn write_template(runtime: &tokio::runtime::Runtime, bin: &Path, parent: &Path, target: usize) -> Result<Template> {
    let started = Instant::now();
    let dir = tempfile::Builder::new().prefix("frontdoor-bench-children-data-").tempdir_in(parent)?;
    let policy = DuePolicy::default();
    let actors = DemoActors::standard();
    let now = Utc::now();
    let mut numbers = NhsNumbers(0);
    let mut children: HashSet<ChildKey> = HashSet::new();
    // Every child named, for the searches.
    let mut named: Vec<Named> = Vec::new();
    let mut windows: Vec<Vec<AppendRequest>> = Vec::new();
    let mut contacts = 0;
    for window in 0..MAX_WINDOWS {
        if children.len() >= target {
            break;
        }
        let until = now - TimeDelta::days(28 * i64::try_from(window)?);
        let mut appends = generate(until, 5000 + window, &actors, &policy);
        let mut renumbered: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for append in &mut appends {
            for event in &mut append.events {
                if event.event_type != EventType::ContactReceived {
                    continue;
                }
                contacts += 1;
                let mut data: Value = serde_json::from_str(event.data.get())?;
                for child in data["children"].as_array_mut().context("a contact without children")? {
                    if let Some(n) = child["nhs_number"].as_str().map(str::to_owned) {
                        let new = match renumbered.get(&n) {
                            Some(new) => new.clone(),
                            None => {
                                let new = numbers.next()?;
                                renumbered.insert(n, new.clone());
                                new
                            }
                        };
                        child["nhs_number"] = Value::String(new);
                    }
                    if let Some(r) = child["child_ref"].as_str().map(str::to_owned) {
                        child["child_ref"] = Value::String(format!("{r}W{window}"));
                    }
                    let text = |k: &str| child[k].as_str().map(str::to_owned);
                    let key = match (text("nhs_number"), text("child_ref"), text("date_of_birth")) {
                        (Some(n), _, _) => ChildKey::Nhs(n),
                        (None, Some(r), _) => ChildKey::Ref(r),
                        (None, None, dob) => {
                            ChildKey::NameDob(text("name").unwrap_or_default().to_lowercase(), dob.unwrap_or_default())
                        }
                    };
                    if children.insert(key) {
                        named.push(Named {
                            name: text("name").unwrap_or_default(),
                            date_of_birth: text("date_of_birth"),
                            nhs_number: text("nhs_number"),
                            postcode: child["address"]["postcode"].as_str().map(str::to_owned),
                        });
                    }
                }
                event.data = RawValue::from_string(serde_json::to_string(&data)?)?;
            }
        }
        // One append per contact, its whole history (the demo writes each contact in several
        // appends, which must not race each other when written many at a time).
        let mut order: Vec<ulid::Ulid> = Vec::new();
        let mut streams: std::collections::HashMap<ulid::Ulid, AppendRequest> = std::collections::HashMap::new();
        for append in appends {
            match streams.get_mut(&append.contact_id) {
                Some(whole) => whole.events.extend(append.events),
                None => {
                    order.push(append.contact_id);
                    streams.insert(append.contact_id, AppendRequest { expected_version: Some(0), ..append });
                }
            }
        }
        windows.push(order.iter().filter_map(|id| streams.remove(id)).collect());
    }
    ensure!(children.len() >= target, "the demo's {MAX_WINDOWS} windows name only {} children", children.len());
    // Oldest window first, so the log reads as the county's years of contacts did.
    let appends: Vec<AppendRequest> = windows.into_iter().rev().flatten().collect();
    let events = appends.iter().map(|a| a.events.len() as u64).sum();
    runtime.block_on(store(dir.path(), appends))?;
    let seconds = started.elapsed().as_secs_f64();
    let duty = create_token(bin, dir.path(), "practitioner", "bench-duty", "childrens_social_care")?;
    Ok(Template { dir, contacts, children: children.len(), events, seconds, duty, queries: queries(&named) })
}

/// One of `from`, at random.
fn any<'a>(rng: &mut fastrand::Rng, from: &[(&'a str, &'a str)]) -> Option<(&'a str, &'a str)> {
    (!from.is_empty()).then(|| from[rng.usize(..from.len())])
}

/// A child as the searches are made from it.
struct Named {
    name: String,
    date_of_birth: Option<String>,
    nhs_number: Option<String>,
    postcode: Option<String>,
}

/// 2,000 searches of each kind, drawn (deterministically) from the children named.
fn queries(named: &[Named]) -> Vec<(Kind, Vec<Query>)> {
    let mut rng = fastrand::Rng::with_seed(16);
    let having = |f: fn(&Named) -> Option<&String>| -> Vec<(&str, &str)> {
        named.iter().filter_map(|c| f(c).map(|v| (c.name.as_str(), v.as_str()))).collect()
    };
    let with_dob = having(|c| c.date_of_birth.as_ref());
    let with_nhs = having(|c| c.nhs_number.as_ref());
    let with_postcode = having(|c| c.postcode.as_ref());
    let mut out = Vec::new();
    for (kind, _) in KINDS {
        let qs = (0..2000)
            .filter_map(|_| {
                Some(match kind {
                    Kind::NameDob => {
                        let (name, dob) = any(&mut rng, &with_dob)?;
                        vec![("name", name.to_owned()), ("date_of_birth", dob.to_owned())]
                    }
                    Kind::Respelt => {
                        let (name, dob) = any(&mut rng, &with_dob)?;
                        vec![("name", respell(&mut rng, name)), ("date_of_birth", dob.to_owned())]
                    }
                    Kind::Nhs => vec![("nhs_number", any(&mut rng, &with_nhs)?.1.to_owned())],
                    Kind::Postcode => vec![("postcode", any(&mut rng, &with_postcode)?.1.to_owned())],
                    Kind::Name => vec![("name", named.get(rng.usize(..named.len()))?.name.clone())],
                    Kind::Surname => {
                        let name = &named.get(rng.usize(..named.len()))?.name;
                        vec![("name", name.rsplit(' ').next().unwrap_or(name).to_owned())]
                    }
                })
            })
            .collect::<Vec<Query>>();
        if !qs.is_empty() {
            out.push((kind, qs));
        }
    }
    out
}

/// The name lower-cased, with one letter of the surname (not its first) doubled or dropped.
fn respell(rng: &mut fastrand::Rng, name: &str) -> String {
    let lower = name.to_lowercase();
    let start = lower.rfind(' ').map_or(0, |i| i + 1);
    let letters: Vec<(usize, char)> = lower[start..].char_indices().skip(1).map(|(i, c)| (start + i, c)).collect();
    let Some(&(at, c)) = (!letters.is_empty()).then(|| &letters[rng.usize(..letters.len())]) else {
        return lower;
    };
    let mut out = lower;
    if rng.bool() {
        out.insert(at, c);
    } else {
        out.remove(at);
    }
    out
}

fn draw_kind(rng: &mut fastrand::Rng) -> Kind {
    let total: u32 = KINDS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.u32(0..total);
    for (kind, weight) in KINDS {
        if roll < weight {
            return kind;
        }
        roll -= weight;
    }
    KINDS[0].0
}

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

struct Outcome {
    index: u64,
    kind: Kind,
    latency: Duration,
    ok: bool,
    candidates: u64,
}

/// Sends one search and reads its answer: whether it was a 200 with candidates, and how many.
async fn search(client: &reqwest::Client, url: &str, token: &str, query: &Query) -> (bool, u64) {
    let Ok(response) = client.get(format!("{url}/v1/children")).bearer_auth(token).query(query).send().await else {
        return (false, 0);
    };
    if response.status() != 200 {
        return (false, 0);
    }
    match response.json::<Value>().await {
        Ok(body) => match body["candidates"].as_array() {
            Some(c) => (true, c.len() as u64),
            None => (false, 0),
        },
        Err(_) => (false, 0),
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    run: u32,
    mode: Mode,
    server: &Server,
    template: &Template,
    args: &ChildrenArgs,
    warmup: Duration,
    seconds: Duration,
    device: Option<&BlockDevice>,
) -> Result<Measurement> {
    let client = client()?;
    let queries: Arc<Vec<(Kind, Vec<Query>)>> = Arc::new(template.queries.clone());
    let token: Arc<str> = template.duty.as_str().into();
    let url: Arc<str> = server.url.as_str().into();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let pick = |rng: &mut fastrand::Rng| -> (Kind, Query) {
        loop {
            let kind = draw_kind(rng);
            if let Some((_, list)) = queries.iter().find(|(k, _)| *k == kind) {
                return (kind, list[rng.usize(..list.len())].clone());
            }
        }
    };
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let measured_from;
    let before;
    let warm;
    match mode {
        Mode::Open => {
            let mut rng = fastrand::Rng::with_seed(u64::from(run) * 1000);
            let period = Duration::from_secs(1) / args.rate;
            warm = u64::from(args.rate) * warmup.as_secs();
            let total = warm + u64::from(args.rate) * seconds.as_secs();
            let mut from = (Instant::now(), None);
            // Paced by a thread with the OS's sleep (see `reads::paced`), not tokio's 1 ms timer.
            let (mut next, pacer) = paced(start.into_std(), period, total)?;
            while let Some(index) = next.recv().await {
                let at = start + period * u32::try_from(index)?;
                if index == warm {
                    from = (at.into_std(), Some(Counters::read_with(device, Some(server.child.id()))));
                }
                let (kind, query) = pick(&mut rng);
                let (client, tx, url, token) = (client.clone(), tx.clone(), Arc::clone(&url), Arc::clone(&token));
                tokio::spawn(async move {
                    let (ok, candidates) = search(&client, &url, &token, &query).await;
                    let _ = tx.send(Outcome { index, kind, latency: at.elapsed(), ok, candidates });
                });
            }
            pacer.join().map_err(|_| anyhow::anyhow!("the pacer thread panicked"))??;
            (measured_from, before) = from;
        }
        Mode::Closed => {
            // Counted from the end of the warm-up: outcomes are numbered from it by time.
            let warm_until = start + warmup;
            let end = warm_until + seconds;
            let counter = Arc::new(AtomicU64::new(0));
            let warming = Arc::new(AtomicBool::new(true));
            let mut tasks = tokio::task::JoinSet::new();
            for c in 0..args.clients {
                let mut rng = fastrand::Rng::with_seed(u64::from(run) * 1000 + 1 + c as u64);
                let (client, tx, url, token) = (client.clone(), tx.clone(), Arc::clone(&url), Arc::clone(&token));
                let (counter, warming) = (Arc::clone(&counter), Arc::clone(&warming));
                let picked: Vec<(Kind, Query)> = (0..4000).map(|_| pick(&mut rng)).collect();
                tasks.spawn(async move {
                    tokio::time::sleep_until(start).await;
                    for (kind, query) in picked.iter().cycle() {
                        let sent = tokio::time::Instant::now();
                        if sent >= end {
                            break;
                        }
                        let (ok, candidates) = search(&client, &url, &token, query).await;
                        // Warm-up outcomes are numbered 0, the measured ones from 1.
                        let index = if warming.load(Ordering::Relaxed) {
                            0
                        } else {
                            counter.fetch_add(1, Ordering::Relaxed) + 1
                        };
                        let _ = tx.send(Outcome { index, kind: *kind, latency: sent.elapsed(), ok, candidates });
                    }
                });
            }
            tokio::time::sleep_until(warm_until).await;
            warming.store(false, Ordering::Relaxed);
            measured_from = Instant::now();
            before = Some(Counters::read_with(device, Some(server.child.id())));
            while tasks.join_next().await.is_some() {}
            warm = 1;
        }
    }
    drop(tx);
    let mut outcomes = Vec::new();
    while let Some(outcome) = rx.recv().await {
        outcomes.push(outcome);
    }
    let window = measured_from.elapsed();
    let (_, cpu) = Counters::read_with(device, Some(server.child.id())).since(before.as_ref());
    let measured: Vec<&Outcome> = outcomes.iter().filter(|o| o.index >= warm).collect();
    let sorted = |it: &mut dyn Iterator<Item = u64>| {
        let mut v: Vec<u64> = it.collect();
        v.sort_unstable();
        v
    };
    let latencies = sorted(&mut measured.iter().filter(|o| o.ok).map(|o| nanos(o.latency)));
    let by_kind = KINDS
        .iter()
        .map(|&(kind, _)| {
            (kind, sorted(&mut measured.iter().filter(|o| o.ok && o.kind == kind).map(|o| nanos(o.latency))))
        })
        .collect();
    let candidates = sorted(&mut measured.iter().filter(|o| o.ok).map(|o| o.candidates));
    Ok(Measurement {
        run,
        mode,
        requests: measured.len(),
        errors: measured.len() - latencies.len(),
        latencies,
        by_kind,
        candidates,
        observed: Observed::new(window, cpu),
    })
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

struct Report<'a> {
    session: &'a Session,
    args: &'a ChildrenArgs,
    seconds: u64,
    warmup: u64,
    template: &'a Template,
    measurements: &'a [Measurement],
    server: &'a Path,
}

impl Report<'_> {
    fn of(&self, mode: Mode) -> Vec<&Measurement> {
        self.measurements.iter().filter(|m| m.mode == mode).collect()
    }

    fn med(&self, mode: Mode, f: impl Fn(&Measurement) -> f64) -> f64 {
        median(self.of(mode).iter().map(|m| f(m)).collect())
    }

    fn errors(&self, mode: Mode) -> usize {
        self.of(mode).iter().map(|m| m.errors).sum()
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| measurement | requests | p50 ms | p99 ms | max ms | errors | searches/s | candidates (median, max) | runs |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for mode in [Mode::Open, Mode::Closed] {
            let ms_ = self.of(mode);
            let label = match mode {
                Mode::Open => format!("open loop, {} searches/s", self.args.rate),
                Mode::Closed => format!("closed loop, {} clients", self.args.clients),
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {:.2} | {:.2} | {:.1} | {} | {:.0} | {:.0}, {:.0} | {} |",
                ms_.iter().map(|m| m.requests).sum::<usize>(),
                self.med(mode, |m| m.p(50.0)),
                self.med(mode, |m| m.p(99.0)),
                self.med(mode, |m| m.p(100.0)),
                self.errors(mode),
                self.med(mode, Measurement::answered_per_s),
                self.med(mode, |m| percentile(&m.candidates, 50.0) as f64),
                self.med(mode, |m| percentile(&m.candidates, 100.0) as f64),
                ms_.len()
            );
        }
        let _ = writeln!(out, "\nBy kind of search, open loop (medians of runs):\n");
        let _ = writeln!(out, "| search | share | p50 ms | p99 ms | max ms |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for (kind, share) in KINDS {
            let lat = |m: &Measurement, p: f64| {
                m.by_kind.iter().find(|(k, _)| *k == kind).map_or(f64::NAN, |(_, v)| ms(v, p))
            };
            let _ = writeln!(
                out,
                "| {} | {share}% | {:.2} | {:.2} | {:.1} |",
                kind.name(),
                self.med(Mode::Open, |m| lat(m, 50.0)),
                self.med(Mode::Open, |m| lat(m, 99.0)),
                self.med(Mode::Open, |m| lat(m, 100.0)),
            );
        }
        out
    }

    fn target_lines(&self) -> String {
        let p99 = self.med(Mode::Open, |m| m.p(99.0));
        let errors = self.errors(Mode::Open);
        let shown = if errors > 0 { format!("{p99:.2} ms, {errors} errors") } else { format!("{p99:.2} ms") };
        verdict_line(
            &format!(
                "`GET /v1/children`: p99 at {} searches/s, {} children (median of runs)",
                self.args.rate, self.template.children
            ),
            &shown,
            &format!("≤ {TARGET_MS:.0} ms at 100,000 children, no errors"),
            errors == 0 && p99 <= TARGET_MS && self.template.children >= 100_000,
        )
    }

    fn markdown(&self) -> String {
        let mut out = self.session.header(
            "Children search benchmark",
            "children",
            "a temporary directory under the data directory per run, copied from one written at the start",
            "other CPU-bound work on the CPUs that server and load generator share",
        );
        let t = self.template;
        let _ = writeln!(
            out,
            "- data: {} contacts ({} events, whole histories) from the demo generator's four-week \
             windows, oldest first, naming {} children (told apart as the index does: NHS number, \
             else reference, else name and date of birth); each window's NHS numbers and \
             references renumbered so that windows never share one; written with \
             `EventLog::append` in {:.1} s, then copied for every run",
            t.contacts, t.events, t.children, t.seconds
        );
        let _ = writeln!(
            out,
            "- server: `{}`, started afresh for every run on its copy, after `/readyz` says 200; a \
             practitioner's token made with `frontdoor token create`",
            self.server.display()
        );
        let _ = writeln!(
            out,
            "- searches, drawn at random in these shares from 2,000 of each kind made from the \
             stored children: {}. Name and date of birth of a stored child; the same lower-cased \
             with a letter of the surname doubled or dropped (\"respelt\"); an NHS number; a full \
             name alone; a surname alone; the postcode of a child's home",
            KINDS.iter().map(|(k, s)| format!("{} {s}%", k.name())).collect::<Vec<_>>().join(", ")
        );
        let _ = writeln!(
            out,
            "- method: open loop at {} searches/s (each sent at its scheduled time whether or not \
             earlier ones were answered; latency from the scheduled time to the whole body read); \
             then a closed loop of {} clients, each sending its next search when the last is \
             answered, for the searches a second; {} s not counted, then {} s measured, each; {} \
             run(s); figures are medians of the runs' own. Errors: no answer within {} s, a status \
             other than 200, or no `candidates`. Every search is a logged read (its terms in the \
             access log), as the API requires.",
            self.args.rate,
            self.args.clients,
            self.warmup,
            self.seconds,
            self.session.runs,
            REQUEST_LIMIT.as_secs()
        );
        out.push_str(&quiet_notes(
            self.measurements.iter().map(|m| (format!("run {} {}", m.run, m.mode.name()), &m.observed.quietness)),
        ));
        let _ = writeln!(out, "\n### Results\n");
        out.push_str(&self.table());
        let _ = writeln!(out, "\n### Against the target\n");
        out.push_str(&self.target_lines());
        let _ = writeln!(out, "\n### Where the time goes\n");
        let _ = writeln!(out, "| measurement | CPU % (server) | CPU % (load generator) | CPU % (other processes) |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for mode in [Mode::Open, Mode::Closed] {
            let ms_ = self.of(mode);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                mode.name(),
                show(median_of(&ms_, |m| m.observed.cpu.and_then(|c| c.helper_pct(m.observed.window))), 0),
                show(median_of(&ms_, |m| m.observed.cpu.map(|c| c.process_pct(m.observed.window))), 0),
                show(median_of(&ms_, |m| m.observed.cpu.and_then(|c| c.others_pct(m.observed.window))), 0),
            );
        }
        let _ = writeln!(
            out,
            "\nA search reads the child index the server keeps in memory (rebuilt from the log at \
             start) and appends one entry to the access log, group-committed with the others in \
             flight. Every run's figures: `results-children.csv`."
        );
        out
    }

    fn csv(&self) -> String {
        let mut out = String::from(
            "run,mode,rate,clients,seconds,requests,errors,p50_ms,p90_ms,p99_ms,max_ms,answered_per_s,\
             candidates_median,candidates_max,server_cpu_ms,bench_cpu_ms,others_cpu_ms,",
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
                "{},{},{},{},{:.3},{},{},{:.3},{:.3},{:.3},{:.3},{:.1},{},{},{server},{bench},{others},{}",
                m.run,
                m.mode.name(),
                self.args.rate,
                self.args.clients,
                m.observed.window.as_secs_f64(),
                m.requests,
                m.errors,
                m.p(50.0),
                m.p(90.0),
                m.p(99.0),
                m.p(100.0),
                m.answered_per_s(),
                percentile(&m.candidates, 50.0),
                percentile(&m.candidates, 100.0),
                m.observed.quietness.csv(),
            );
        }
        out
    }
}
