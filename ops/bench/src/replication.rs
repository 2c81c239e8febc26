//! `frontdoor-bench replication`: what a standby on NATS JetStream costs (issue 19).
//!
//! A three-node JetStream cluster of `nats-server` processes is started on loopback (free
//! ports, a temporary directory), as `ops/cluster.sh` does by hand. Then, in every run:
//!
//! - `local xN` and `replicated xN`: N clients, each with its own keep-alive connection,
//!   posting new contacts (`POST /v1/contacts`, one event each) to the real server for the
//!   window, one after another; `local` is `frontdoor serve` with no `[replication]`,
//!   `replicated` the same binary as a primary with `acks = "replicated"` (each 201 waits for
//!   the local `fdatasync` and for JetStream's acknowledgement from a quorum of the stream's three
//!   replicas). Each measurement has a fresh data directory and, replicated, a fresh stream.
//! - `replicated downstream xN`: the same with a downstream reader named
//!   (`downstream_users`), so the primary also derives the downstream stream (a second
//!   three-replica message per event, in the background); without one it derives nothing.
//! - `standby lag`: a primary and a standby on a fresh stream; one client follows the standby's
//!   `GET /v1/queue/stream`; contacts are posted to the primary open loop (a new request every
//!   1/rate s, whatever the earlier ones are doing) for the window. The lag of a contact is
//!   from its 201 arriving from the primary to its `upsert` arriving from the standby (0 when
//!   the upsert came first).
//!
//! The servers' and NATS nodes' CPU counts as this benchmark's own work, not as other load.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Args;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::CommonArgs;
use crate::machine::{Counters, Measured, Observed, Quietness};
use crate::report::{Session, median, nanos, percentile, quiet_notes, show, verdict_line};
use crate::sse::{Server, contact_body, create_token, subscriber};

/// The bars: replicated ÷ local at 64 writers, one writer's p99, the standby's lag p99.
const TARGET_X64_RATIO: f64 = 0.5;
const GOAL_X64_RATIO: f64 = 0.8;
const TARGET_X1_P99_MS: f64 = 5.0;
const TARGET_LAG_P99_MS: f64 = 100.0;
/// How long the cluster's nodes may take to accept connections.
const NATS_START_LIMIT: Duration = Duration::from_secs(30);
/// How long the standby may take to follow, and its stream to be open.
const FOLLOW_LIMIT: Duration = Duration::from_secs(60);
/// How long to wait after the last POST for upserts still on their way.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct ReplicationArgs {
    /// Seconds each throughput measurement runs for, after its warm-up (`--quick`: 1).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Warm-up before each throughput measurement, in milliseconds (`--quick`: 200).
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Concurrent writers for the throughput measurements.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    writers: Vec<usize>,
    /// Appends a second posted to the primary while the standby's lag is measured.
    #[arg(long, default_value_t = 200.0)]
    lag_rate: f64,
    /// Seconds of posting while the lag is measured (`--quick`: 3).
    #[arg(long, default_value_t = 20.0)]
    lag_seconds: f64,
    /// The server binary. Default: `cargo build --release -p frontdoor` into the target
    /// directory this benchmark runs from (as `sse` does).
    #[arg(long, env = "FRONTDOOR_BIN")]
    server: Option<PathBuf>,
    /// The NATS server binary (Debian: `apt-get install nats-server`).
    #[arg(long, env = "FRONTDOOR_BENCH_NATS_SERVER", default_value = "nats-server")]
    nats_server: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

/// Three JetStream nodes clustered on loopback, killed when dropped.
struct Cluster {
    ports: [u16; 3],
    nodes: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    fn start(bin: &Path, dir: &Path) -> Result<Cluster> {
        let ports = [free_port()?, free_port()?, free_port()?];
        let routes = [free_port()?, free_port()?, free_port()?];
        let route_urls: Vec<String> = routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect();
        let mut cluster = Cluster { ports, nodes: Vec::new() };
        for n in 0..3 {
            let store = dir.join(format!("nats-n{n}"));
            std::fs::create_dir_all(&store)?;
            let log = std::fs::File::create(store.join("server.log"))?;
            let child = Command::new(bin)
                .args(["--server_name", &format!("n{n}"), "-a", "127.0.0.1", "-p", &ports[n].to_string(), "-js"])
                .arg("-sd")
                .arg(&store)
                .args(["--cluster_name", "frontdoor-bench"])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", routes[n])])
                .args(["--routes", &route_urls.join(",")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {} (Debian: apt-get install nats-server)", bin.display()))?;
            cluster.nodes.push(child);
        }
        let deadline = Instant::now() + NATS_START_LIMIT;
        for port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                ensure!(Instant::now() < deadline, "NATS on port {port} did not accept connections in time");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(cluster)
    }

    fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Child::id).collect()
    }

    /// A `[replication]` configuration file for one node.
    /// `reader`: a downstream reader named, so the primary derives the downstream stream.
    fn config(&self, path: &Path, stream: &str, node: &str, mode: &str, reader: bool) -> Result<PathBuf> {
        let urls: Vec<String> = self.ports.iter().map(|p| format!("\"nats://127.0.0.1:{p}\"")).collect();
        let mut text = format!(
            "[replication]\nurls = [{}]\nstream = \"{stream}\"\nnode = \"{node}\"\nmode = \"{mode}\"\nacks = \"replicated\"\n",
            urls.join(", ")
        );
        if reader {
            text.push_str("downstream_users = [\"bench-reader\"]\n");
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path.to_path_buf())
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Contender {
    Local(usize),
    Replicated(usize),
    /// Replicated, with a downstream reader named: the downstream stream is derived too.
    ReplicatedDownstream(usize),
    Lag,
}

impl Contender {
    fn name(self) -> String {
        match self {
            Contender::Local(n) => format!("local x{n}"),
            Contender::Replicated(n) => format!("replicated x{n}"),
            Contender::ReplicatedDownstream(n) => format!("replicated downstream x{n}"),
            Contender::Lag => "standby lag".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Measurement {
    run: u32,
    contender: Contender,
    /// Appends acknowledged inside the window (throughput), or posted (lag).
    ops: u64,
    /// Latency of every counted append (throughput) or lag of every contact seen on the
    /// standby (lag), in ns, sorted.
    latencies: Vec<u64>,
    /// Lag only: contacts posted whose upsert never came from the standby.
    missed: usize,
    /// Lag only: POST → 201 on the primary, in ns, sorted.
    posts: Vec<u64>,
    observed: Observed,
}

impl Measured for Measurement {
    fn observed(&mut self) -> &mut Observed {
        &mut self.observed
    }
}

impl Measurement {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.observed.window.as_secs_f64()
    }

    fn ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p) as f64 / 1e6
    }
}

pub fn run(args: &ReplicationArgs) -> Result<()> {
    let quick = args.common.quick;
    let seconds = if quick { 1.0 } else { args.seconds };
    let warmup = Duration::from_millis(if quick { 200 } else { args.warmup_ms });
    let lag_seconds = if quick { 3.0 } else { args.lag_seconds };
    ensure!(seconds > 0.0 && seconds.is_finite(), "--seconds must be positive");
    ensure!(lag_seconds > 0.0 && lag_seconds.is_finite(), "--lag-seconds must be positive");
    ensure!(args.lag_rate > 0.0 && args.lag_rate <= 5_000.0, "--lag-rate must be in (0, 5000]");
    ensure!(
        !args.writers.is_empty() && !args.writers.contains(&0),
        "--writers needs one or more counts, each at least 1"
    );
    let window = Duration::from_secs_f64(seconds);
    let bin = crate::sse::server_binary(args.server.as_deref())?;
    crate::sse::raise_open_files_limit();

    let parent = args.common.data_parent()?;
    let scratch = tempfile::Builder::new()
        .prefix("frontdoor-bench-replication-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let mut session = args.common.session(scratch.path())?;
    let cluster = Cluster::start(&args.nats_server, scratch.path())?;
    let nats_version = Command::new(&args.nats_server)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();

    let mut contenders = Vec::new();
    for &n in &args.writers {
        contenders.push(Contender::Local(n));
        contenders.push(Contender::Replicated(n));
        contenders.push(Contender::ReplicatedDownstream(n));
    }
    contenders.push(Contender::Lag);
    eprintln!(
        "frontdoor-bench replication: {} run(s) x {} measurement(s), {nats_version}, in {}",
        session.runs,
        contenders.len(),
        scratch.path().display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut measurements = Vec::new();
    for run in 1..=session.runs {
        for &contender in &contenders {
            let dir = scratch.path().join(format!("run{run}-{}", contender.name().replace(' ', "-")));
            let stream = format!("BENCH_R{run}_{}", contender.name().replace(' ', "_").to_uppercase());
            measurements.push(session.measure(|| {
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)?;
                }
                std::fs::create_dir_all(&dir)?;
                let m = match contender {
                    Contender::Local(n) => {
                        runtime.block_on(throughput(run, contender, n, &bin, &dir, None, &cluster, warmup, window))?
                    }
                    Contender::Replicated(n) | Contender::ReplicatedDownstream(n) => {
                        let reader = matches!(contender, Contender::ReplicatedDownstream(_));
                        let config =
                            cluster.config(&dir.join("frontdoor.toml"), &stream, "bench-primary", "primary", reader)?;
                        runtime.block_on(throughput(
                            run,
                            contender,
                            n,
                            &bin,
                            &dir,
                            Some(&config),
                            &cluster,
                            warmup,
                            window,
                        ))?
                    }
                    Contender::Lag => {
                        runtime.block_on(lag(run, &bin, &dir, &stream, &cluster, args.lag_rate, lag_seconds))?
                    }
                };
                std::fs::remove_dir_all(&dir).ok();
                eprintln!(
                    "run {run} {:<16} {:>7.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms{}",
                    contender.name(),
                    m.per_sec(),
                    m.ms(50.0),
                    m.ms(99.0),
                    if m.missed > 0 { format!("  {} never seen on the standby", m.missed) } else { String::new() },
                );
                Ok(m)
            })?);
        }
    }
    drop(runtime);
    drop(cluster);
    session.finish();

    let report = Report {
        session: &session,
        contenders: &contenders,
        measurements: &measurements,
        seconds,
        warmup,
        lag_rate: args.lag_rate,
        lag_seconds,
        nats_version: &nats_version,
        server: &bin,
        data_dir: &parent,
    };
    session.write("replication", &report.markdown(), "results-replication.csv", &report.csv())?;
    print!("{}", report.summary());
    Ok(())
}

/// `writers` clients posting new contacts one after another for the window.
#[allow(clippy::too_many_arguments, reason = "one measurement's settings, each used once")]
async fn throughput(
    run: u32,
    contender: Contender,
    writers: usize,
    bin: &Path,
    dir: &Path,
    config: Option<&Path>,
    cluster: &Cluster,
    warmup: Duration,
    window: Duration,
) -> Result<Measurement> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let referrer = create_token(bin, &data, "referrer", "bench-referrer", "education")?;
    let server = Server::spawn_with(bin, &data, config)?;
    let mut clients = Vec::with_capacity(writers);
    for _ in 0..writers {
        clients.push(reqwest::Client::builder().no_proxy().tcp_nodelay(true).pool_max_idle_per_host(1).build()?);
    }
    crate::sse::wait_ready(&clients[0], &server.url).await?;
    for client in &clients[1..] {
        client.get(format!("{}/readyz", server.url)).send().await?.error_for_status()?;
    }
    let url = Arc::new(format!("{}/v1/contacts", server.url));
    let referrer = Arc::new(referrer);
    let start = Instant::now();
    let (from, to) = (start + warmup, start + warmup + window);
    let mut tasks = tokio::task::JoinSet::new();
    for (w, client) in clients.into_iter().enumerate() {
        let (url, referrer) = (url.clone(), referrer.clone());
        tasks.spawn(async move {
            let mut ops = 0u64;
            let mut latencies = Vec::new();
            let mut i = w;
            loop {
                let t0 = Instant::now();
                let response = client
                    .post(url.as_str())
                    .bearer_auth(referrer.as_str())
                    .json(&contact_body(i))
                    .send()
                    .await
                    .context("POST /v1/contacts")?;
                let status = response.status();
                let body = response.bytes().await?;
                let t1 = Instant::now();
                ensure!(status == 201, "the server answered {status}: {}", String::from_utf8_lossy(&body));
                i += writers;
                if t1 >= to {
                    return anyhow::Ok((ops, latencies));
                }
                if t1 >= from {
                    ops += 1;
                }
                if t0 >= from {
                    latencies.push(nanos(t1 - t0));
                }
            }
        });
    }
    let mut helpers = vec![server.child.id()];
    helpers.extend(cluster.pids());
    tokio::time::sleep_until(from.into()).await;
    let before = Counters::read_with_all(None, &helpers);
    tokio::time::sleep_until(to.into()).await;
    let (_, cpu) = Counters::read_with_all(None, &helpers).since(Some(&before));
    let mut ops = 0;
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (n, l) = done.context("a writer panicked")??;
        ops += n;
        latencies.extend(l);
    }
    latencies.sort_unstable();
    drop(server);
    Ok(Measurement {
        run,
        contender,
        ops,
        latencies,
        missed: 0,
        posts: Vec::new(),
        observed: Observed::new(window, cpu),
    })
}

/// A primary and a standby on a fresh stream; open-loop posts to the primary; each contact's
/// lag from its 201 to its upsert on the standby's queue stream.
async fn lag(
    run: u32,
    bin: &Path,
    dir: &Path,
    stream: &str,
    cluster: &Cluster,
    rate: f64,
    seconds: f64,
) -> Result<Measurement> {
    let (primary_data, standby_data) = (dir.join("primary"), dir.join("standby"));
    std::fs::create_dir_all(&primary_data)?;
    std::fs::create_dir_all(&standby_data)?;
    let primary_config = cluster.config(&dir.join("primary.toml"), stream, "bench-primary", "primary", false)?;
    let standby_config = cluster.config(&dir.join("standby.toml"), stream, "bench-standby", "standby", false)?;
    let referrer = create_token(bin, &primary_data, "referrer", "bench-referrer", "education")?;
    let duty = create_token(bin, &primary_data, "practitioner", "bench-duty", "childrens_social_care")?;
    // A standby takes the primary's tokens over NATS: the primary's duty token reads its queue.
    let reader = duty;
    let primary = Server::spawn_with(bin, &primary_data, Some(&primary_config))?;
    let client = reqwest::Client::builder().no_proxy().tcp_nodelay(true).build()?;
    crate::sse::wait_ready(&client, &primary.url).await?;
    let standby = Server::spawn_with(bin, &standby_data, Some(&standby_config))?;
    crate::sse::wait_ready(&client, &standby.url).await?;

    // Follow the standby's queue (its tokens come from the primary: it may take a moment).
    let (receipts_tx, mut receipts) = mpsc::unbounded_channel();
    let deadline = Instant::now() + FOLLOW_LIMIT;
    let follower = loop {
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(subscriber(
            client.clone(),
            format!("{}/v1/queue/stream", standby.url),
            reader.clone(),
            0,
            tx,
            receipts_tx.clone(),
        ));
        if tokio::time::timeout(Duration::from_secs(5), rx).await.is_ok_and(|r| r.is_ok()) {
            break task;
        }
        task.abort();
        ensure!(Instant::now() < deadline, "the standby's /v1/queue/stream never opened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(receipts_tx);

    let mut helpers = vec![primary.child.id(), standby.child.id()];
    helpers.extend(cluster.pids());
    let before = Counters::read_with_all(None, &helpers);
    let started = Instant::now();
    // At most 5,000/s for a finite, positive number of seconds (checked in `run`).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a positive, bounded count")]
    let count = (rate * seconds).round().max(1.0) as usize;
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let url = Arc::new(format!("{}/v1/contacts", primary.url));
    let referrer = Arc::new(referrer);
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..count {
        interval.tick().await;
        let (client, url, referrer) = (client.clone(), url.clone(), referrer.clone());
        posts.spawn(async move {
            let sent = Instant::now();
            let response =
                client.post(url.as_str()).bearer_auth(referrer.as_str()).json(&contact_body(i)).send().await?;
            let status = response.status();
            let body: Value = response.json().await?;
            let answered = Instant::now();
            ensure!(status == 201, "the primary answered {status}: {body}");
            let id = body["contact_id"].as_str().context("no contact_id")?.to_owned();
            anyhow::Ok((id, sent, answered))
        });
    }
    let mut posted = Vec::with_capacity(count);
    while let Some(done) = posts.join_next().await {
        posted.push(done.context("a post panicked")??);
    }
    let posting = started.elapsed();

    let mut arrivals: HashMap<String, Option<Instant>> = posted.iter().map(|(id, _, _)| (id.clone(), None)).collect();
    let mut got = 0;
    let drain = tokio::time::Instant::now() + DRAIN_LIMIT;
    while got < posted.len() {
        let Ok(Some((_, id, at))) = tokio::time::timeout_at(drain, receipts.recv()).await else { break };
        if let Some(slot) = arrivals.get_mut(&id)
            && slot.is_none()
        {
            *slot = Some(at);
            got += 1;
        }
    }
    let (_, cpu) = Counters::read_with_all(None, &helpers).since(Some(&before));
    follower.abort();
    drop(standby);
    drop(primary);

    let mut latencies = Vec::with_capacity(posted.len());
    let mut missed = 0;
    for (id, _, answered) in &posted {
        match arrivals.get(id).copied().flatten() {
            Some(at) => latencies.push(nanos(at.saturating_duration_since(*answered))),
            None => missed += 1,
        }
    }
    latencies.sort_unstable();
    let mut post_times: Vec<u64> = posted.iter().map(|(_, sent, answered)| nanos(*answered - *sent)).collect();
    post_times.sort_unstable();
    Ok(Measurement {
        run,
        contender: Contender::Lag,
        ops: posted.len() as u64,
        latencies,
        missed,
        posts: post_times,
        observed: Observed::new(posting, cpu),
    })
}

struct Report<'a> {
    session: &'a Session,
    contenders: &'a [Contender],
    measurements: &'a [Measurement],
    seconds: f64,
    warmup: Duration,
    lag_rate: f64,
    lag_seconds: f64,
    nats_version: &'a str,
    server: &'a Path,
    data_dir: &'a Path,
}

/// Medians across runs of one contender.
#[derive(Debug, Clone, Copy)]
struct Summary {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    missed: usize,
    post_p99_ms: Option<f64>,
    server_cpu_pct: Option<f64>,
    runs: usize,
}

impl Report<'_> {
    fn summary_of(&self, c: Contender) -> Option<Summary> {
        let ms: Vec<&Measurement> = self.measurements.iter().filter(|m| m.contender == c).collect();
        if ms.is_empty() {
            return None;
        }
        Some(Summary {
            per_sec: median(ms.iter().map(|m| m.per_sec()).collect()),
            p50_ms: median(ms.iter().map(|m| m.ms(50.0)).collect()),
            p99_ms: median(ms.iter().map(|m| m.ms(99.0)).collect()),
            missed: ms.iter().map(|m| m.missed).sum(),
            post_p99_ms: (c == Contender::Lag)
                .then(|| median(ms.iter().map(|m| percentile(&m.posts, 99.0) as f64 / 1e6).collect())),
            server_cpu_pct: {
                let v: Vec<f64> =
                    ms.iter().filter_map(|m| m.observed.cpu.and_then(|c| c.helper_pct(m.observed.window))).collect();
                (!v.is_empty()).then(|| median(v))
            },
            runs: ms.len(),
        })
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ =
            writeln!(out, "| measurement | per second (median) | p50 ms | p99 ms | servers' and NATS's CPU | runs |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for &c in self.contenders {
            if let Some(s) = self.summary_of(c) {
                let (rate, what) = match c {
                    Contender::Lag => (format!("{:.0} posted", s.per_sec), "lag"),
                    _ => (format!("{:.0} appends", s.per_sec), ""),
                };
                let _ = writeln!(
                    out,
                    "| {}{} | {rate} | {:.2} | {:.2} | {} | {} |",
                    c.name(),
                    if what.is_empty() {
                        String::new()
                    } else {
                        format!(" ({what}: 201 on the primary → upsert on the standby)")
                    },
                    s.p50_ms,
                    s.p99_ms,
                    s.server_cpu_pct.map(|p| format!("{p:.0}%")).unwrap_or_else(|| "n/a".into()),
                    s.runs
                );
            }
        }
        out
    }

    fn verdicts(&self) -> String {
        let mut out = String::new();
        let rate = |c| self.summary_of(c).map(|s| s.per_sec);
        let configurations = [
            (Contender::Replicated as fn(usize) -> Contender, "no downstream reader"),
            (Contender::ReplicatedDownstream, "a downstream reader named"),
        ];
        for (replicated, what) in configurations {
            let ratio = rate(replicated(64)).zip(rate(Contender::Local(64))).map(|(r, l)| r / l);
            match ratio {
                Some(r) => out.push_str(&verdict_line(
                    &format!("HTTP x64, replicated ({what}) ÷ local"),
                    &format!("{r:.2}"),
                    &format!("≥ {TARGET_X64_RATIO}, goal ≥ {GOAL_X64_RATIO}"),
                    r >= TARGET_X64_RATIO,
                )),
                None => {
                    let _ =
                        writeln!(out, "- HTTP x64, replicated ({what}) ÷ local: not measured (`--writers` without 64)");
                }
            }
            if let Some(s) = self.summary_of(replicated(1)) {
                out.push_str(&verdict_line(
                    &format!("one writer, replicated ({what}): p99"),
                    &format!("{:.2} ms", s.p99_ms),
                    &format!("≤ {TARGET_X1_P99_MS} ms"),
                    s.p99_ms <= TARGET_X1_P99_MS,
                ));
            }
        }
        if let Some(s) = self.summary_of(Contender::Lag) {
            out.push_str(&verdict_line(
                &format!("standby lag at {:.0} appends/s: p99", self.lag_rate),
                &format!("{:.2} ms ({} of the contacts never seen on the standby)", s.p99_ms, s.missed),
                &format!("≤ {TARGET_LAG_P99_MS} ms, none missed"),
                s.p99_ms <= TARGET_LAG_P99_MS && s.missed == 0,
            ));
        }
        for &n in self.contenders.iter().filter_map(|c| if let Contender::Local(n) = c { Some(n) } else { None }) {
            if n == 64 {
                continue;
            }
            for (replicated, what) in configurations {
                if let Some(r) = rate(replicated(n)).zip(rate(Contender::Local(n))).map(|(r, l)| r / l) {
                    let _ = writeln!(out, "- HTTP x{n}, replicated ({what}) ÷ local: {r:.2}");
                }
            }
        }
        out
    }

    fn summary(&self) -> String {
        format!("\n{}\n{}", self.table(), self.verdicts())
    }

    fn markdown(&self) -> String {
        let mut out = self.session.header(
            "A standby on NATS JetStream: what replication costs",
            "replication",
            &format!("a temporary directory under `{}`", self.data_dir.display()),
            "other fsyncs on the same disk and other CPU work (three NATS nodes and two servers share the machine)",
        );
        let _ = writeln!(
            out,
            "- cluster: three `{}` nodes (`-js`, file storage) clustered on loopback, on the same machine and disk as the servers; the stream has 3 replicas",
            if self.nats_version.is_empty() { "nats-server" } else { self.nats_version }
        );
        let _ = writeln!(out, "- server: `{}`", self.server.display());
        let _ = writeln!(
            out,
            "- method: {} run(s); local xN and replicated xN: N clients with a keep-alive connection each post new \
             contacts (`POST /v1/contacts`, one event each) one after another for {:.1} s after a {} ms warm-up; \
             a fresh data directory (and, replicated, a fresh stream) each time; `replicated` names no downstream \
             reader (the primary derives no downstream stream), `replicated downstream` names one (it derives it \
             in the background, a second three-replica message per event). Standby lag (no downstream reader): a primary and a standby \
             on a fresh stream, contacts posted to the primary open loop at {:.0}/s for {:.0} s, the lag of each \
             from its 201 to its `upsert` on the standby's `/v1/queue/stream` (0 if the upsert came first). \
             Figures are medians across runs (p50/p99: median of the per-run percentiles).",
            self.session.runs,
            self.seconds,
            self.warmup.as_millis(),
            self.lag_rate,
            self.lag_seconds
        );
        out.push_str(&quiet_notes(
            self.measurements.iter().map(|m| (format!("run {} {}", m.run, m.contender.name()), &m.observed.quietness)),
        ));
        if let Some(s) = self.summary_of(Contender::Lag) {
            let _ = writeln!(
                out,
                "- while the lag was measured, the primary's POST → 201 p99 was {} ms",
                show(s.post_p99_ms, 2)
            );
        }
        out.push('\n');
        out.push_str(&self.table());
        out.push('\n');
        out.push_str(&self.verdicts());
        out
    }

    fn csv(&self) -> String {
        let mut out = format!("run,measurement,ops,per_sec,p50_ms,p99_ms,missed,{}\n", Quietness::CSV_HEADER);
        for m in self.measurements {
            let _ = writeln!(
                out,
                "{},{},{},{:.1},{:.3},{:.3},{},{}",
                m.run,
                m.contender.name(),
                m.ops,
                m.per_sec(),
                m.ms(50.0),
                m.ms(99.0),
                m.missed,
                m.observed.quietness.csv()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_name_per_measurement_is_a_valid_jetstream_name() {
        for c in [Contender::Local(1), Contender::Replicated(64), Contender::ReplicatedDownstream(64), Contender::Lag] {
            let name = format!("BENCH_R1_{}", c.name().replace(' ', "_").to_uppercase());
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{name}");
        }
    }
}
