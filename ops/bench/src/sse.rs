//! `frontdoor-bench sse`: how long a new contact takes to reach the duty team's screens: from
//! sending `POST /v1/contacts` to each Server-Sent Events client of `GET /v1/queue/stream`
//! receiving the matching `upsert`, on the real server binary over loopback.
//!
//! Each run starts the server afresh (`frontdoor serve --listen 127.0.0.1:0` on a new data
//! directory, tokens made with `frontdoor token create`), waits for `/readyz`, connects the
//! clients and waits for each one's `snapshot`, then posts the contacts one at a time.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::{Days, NaiveDate};
use clap::Args;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::machine::{BlockDevice, Counters, Measured, Observed, Quietness};
use crate::report::{Session, median, median_of, nanos, percentile, quiet_notes, show, verdict_line};
use crate::{CommonArgs, workspace_root};

/// The first target: a new contact on every duty screen "within 100 ms".
const TARGET_MS: f64 = 100.0;
/// The benchmarks' target: from the append's acknowledgement (the 201 arriving) to delivery
/// at every subscriber, p99 at most this with [`TARGET_SUBSCRIBERS`] subscribers.
const ACK_TARGET_MS: f64 = 50.0;
const TARGET_SUBSCRIBERS: usize = 500;
/// How long the server may take to print its address, and then to answer /readyz with 200.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long the clients may take to connect and receive their snapshots.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);
/// How long to wait, after the last POST, for upserts still on their way.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct SseArgs {
    /// SSE clients of /v1/queue/stream, one configuration each.
    #[arg(long, value_delimiter = ',', default_value = "1,50,500")]
    subscribers: Vec<usize>,
    /// Contacts posted, one at a time, in each run (`--quick`: 20).
    #[arg(long, default_value_t = 200)]
    contacts: usize,
    /// Pause after each POST's response before the next one, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pause_ms: u64,
    /// The server binary. Default: `cargo build --release -p frontdoor` into the target
    /// directory this benchmark runs from, and use `<target>/release/frontdoor`.
    #[arg(long, env = "FRONTDOOR_BIN")]
    server: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// What one run with some number of subscribers found.
#[derive(Debug, Clone)]
struct Measurement {
    run: u32,
    subscribers: usize,
    contacts: usize,
    /// POST sent → upsert received, for every (contact, subscriber) pair that got one, in ns.
    latencies: Vec<u64>,
    /// 201 received → upsert received, for the same pairs, in ns (0 when the upsert came first).
    from_ack: Vec<u64>,
    /// Pairs whose upsert never came.
    missed: usize,
    /// POST sent → 201 received, per contact, in ns.
    posts: Vec<u64>,
    /// Pairs whose upsert came before the POST's response did.
    before_response: usize,
    /// From the first POST to the last upsert, the CPU used meanwhile (the server's as
    /// `cpu.helper_ns`), and the quiet before the run.
    observed: Observed,
}

impl Measured for Measurement {
    fn observed(&mut self) -> &mut Observed {
        &mut self.observed
    }
}

impl Measurement {
    fn ms(sorted: &[u64], p: f64) -> f64 {
        percentile(sorted, p) as f64 / 1e6
    }
}

pub fn run(args: &SseArgs) -> Result<()> {
    let contacts = if args.common.quick { 20 } else { args.contacts };
    ensure!(contacts > 0, "--contacts must be at least 1");
    ensure!(
        !args.subscribers.is_empty() && !args.subscribers.contains(&0),
        "--subscribers needs one or more counts, each at least 1"
    );
    let pause = Duration::from_millis(args.pause_ms);
    let server = server_binary(args.server.as_deref())?;
    // A socket per subscriber here and in the server (which inherits the limit).
    let files = raise_open_files_limit();
    let most = args.subscribers.iter().max().copied().unwrap_or(0);
    ensure!(
        files.is_none_or(|limit| limit >= 2 * most as u64 + 256),
        "{most} subscribers need more open files than the limit of {files:?}: raise it (ulimit -n)"
    );
    let parent = args.common.data_parent()?;
    let mut session = args.common.session(&parent)?;
    eprintln!(
        "frontdoor-bench sse: {} run(s) x {:?} subscribers, {contacts} contacts each, server {}",
        session.runs,
        args.subscribers,
        server.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut measurements = Vec::new();
    for run in 1..=session.runs {
        for &subscribers in &args.subscribers {
            measurements.push(session.measure(|| {
                let scratch = tempfile::Builder::new()
                    .prefix("frontdoor-bench-sse-")
                    .tempdir_in(&parent)
                    .with_context(|| format!("creating a data directory in {}", parent.display()))?;
                let m = runtime.block_on(measure(
                    run,
                    subscribers,
                    contacts,
                    pause,
                    &server,
                    scratch.path(),
                    session.device(),
                ))?;
                let mut sorted = m.latencies.clone();
                sorted.sort_unstable();
                let mut acked = m.from_ack.clone();
                acked.sort_unstable();
                eprintln!(
                    "run {run} {subscribers:>4} subscriber(s): median {:.1} ms  p99 {:.1} ms  max {:.1} ms  \
                     (from the 201: median {:.1} ms  p99 {:.1} ms)  missed {}  (POST median {:.1} ms{})",
                    Measurement::ms(&sorted, 50.0),
                    Measurement::ms(&sorted, 99.0),
                    Measurement::ms(&sorted, 100.0),
                    Measurement::ms(&acked, 50.0),
                    Measurement::ms(&acked, 99.0),
                    m.missed,
                    Measurement::ms(&m.posts, 50.0),
                    m.observed.cpu.map(|c| c.describe(m.observed.window)).unwrap_or_default(),
                );
                Ok(m)
            })?);
        }
    }
    drop(runtime);
    session.finish();

    let report = Report {
        session: &session,
        subscribers: &args.subscribers,
        contacts,
        pause,
        measurements: &measurements,
        data_dir: &parent,
        server: &server,
    };
    session.write("sse", &report.markdown(), "results-sse.csv", &report.csv())?;
    print!("\n{}\n{}", report.table(), report.target_lines());
    Ok(())
}

/// The server binary: `explicit`, or built with cargo into the target directory this
/// benchmark's own binary is in (`<target>/<profile>/frontdoor-bench`), which is
/// `CARGO_TARGET_DIR` when that is set. (Cargo builds a binary for the integration tests of
/// its own package only, as `CARGO_BIN_EXE_<name>`; a benchmark in another package builds it.)
pub(crate) fn server_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        ensure!(path.is_file(), "no server binary at {}", path.display());
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe().context("finding this benchmark's own binary")?;
    let target = exe.parent().and_then(Path::parent).context("this benchmark is not in a cargo target directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = workspace_root()?.join("Cargo.toml");
    eprintln!("building the server: cargo build --release -p frontdoor (target directory {})", target.display());
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "frontdoor", "--bin", "frontdoor", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .context("running cargo (or give the binary with --server / FRONTDOOR_BIN)")?;
    ensure!(status.success(), "cargo build -p frontdoor failed");
    let bin = target.join("release").join("frontdoor");
    ensure!(bin.is_file(), "cargo built no {}", bin.display());
    Ok(bin)
}

/// Raises this process's soft limit on open files to its hard limit (children inherit it);
/// returns the limit now in force, if it could be read.
pub(crate) fn raise_open_files_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// A running `frontdoor serve`, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Creates the tokens (with the real CLI, as an operator would) and starts the server.
    pub(crate) fn start(bin: &Path, dir: &Path) -> Result<(Server, Tokens)> {
        let tokens = Tokens {
            referrer: create_token(bin, dir, "referrer", "bench-referrer", "education")?,
            duty: create_token(bin, dir, "practitioner", "bench-duty", "childrens_social_care")?,
        };
        Ok((Server::spawn(bin, dir)?, tokens))
    }

    /// Starts `frontdoor serve` on a free loopback port with the data directory `dir`.
    pub(crate) fn spawn(bin: &Path, dir: &Path) -> Result<Server> {
        Server::spawn_with(bin, dir, None)
    }

    /// As [`Server::spawn`], with `--config FILE` when one is given.
    pub(crate) fn spawn_with(bin: &Path, dir: &Path, config: Option<&Path>) -> Result<Server> {
        let mut command = Command::new(bin);
        command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = command
            // Errors only; tower_http's line for each 503 from /readyz while it rebuilds is noise.
            .env("FRONTDOOR_LOG", "error,tower_http=off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address line, then keeps draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        // From here on, dropping `server` stops it.
        let mut server = Server { child, url: String::new() };
        let Ok(Some(Ok(first))) = rx.recv_timeout(START_LIMIT) else {
            bail!("the server printed no address within {} s", START_LIMIT.as_secs());
        };
        server.url = first.strip_prefix("frontdoor listening on ").context("the server's first line")?.to_owned();
        Ok(server)
    }

    pub(crate) async fn ready(&self, client: &reqwest::Client) -> Result<()> {
        wait_ready(client, &self.url).await
    }
}

/// Waits until the server at `url` answers `/readyz` with 200 (at most [`START_LIMIT`]).
pub(crate) async fn wait_ready(client: &reqwest::Client, url: &str) -> Result<()> {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        if let Ok(resp) = client.get(format!("{url}/readyz")).send().await
            && resp.status() == 200
        {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "/readyz did not say 200 within {} s", START_LIMIT.as_secs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) struct Tokens {
    pub(crate) referrer: String,
    pub(crate) duty: String,
}

pub(crate) fn create_token(bin: &Path, dir: &Path, role: &str, actor: &str, agency: &str) -> Result<String> {
    let out = Command::new(bin)
        .args(["token", "create", "--data-dir"])
        .arg(dir)
        .args(["--role", role, "--actor", actor, "--agency", agency])
        .output()
        .context("running frontdoor token create")?;
    ensure!(out.status.success(), "token create failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    let token = String::from_utf8(out.stdout)?.trim().to_owned();
    ensure!(!token.is_empty(), "token create printed no token");
    Ok(token)
}

/// A valid `POST /v1/contacts` body (as tests/api/harness.rs's `contact_body`), about a
/// different child each time: an invented name, a date of birth and an NHS number from the 999
/// range, which is never issued, with a valid check digit.
pub(crate) fn contact_body(i: usize) -> Value {
    const FIRST: [&str; 8] = ["Sam", "Alex", "Jordan", "Riley", "Casey", "Morgan", "Taylor", "Jamie"];
    const LAST: [&str; 8] = ["Example", "Sample", "Testwood", "Placeholder", "Fictional", "Madeup", "Dummy", "Notreal"];
    let name = format!("{} {}", FIRST[i % FIRST.len()], LAST[(i / FIRST.len()) % LAST.len()]);
    let born = NaiveDate::from_ymd_opt(2010, 1, 1).and_then(|d| d.checked_add_days(Days::new((i % 5000) as u64)));
    let nhs = (0..20u64).find_map(|k| {
        let first_nine = format!("999{:06}", (i as u64 * 13 + k) % 1_000_000);
        frontdoor::validate::nhs_check_digit(&first_nine).map(|check| format!("{first_nine}{check}"))
    });
    json!({
        "channel": "phone",
        "source": "2A",
        "referrer": {"name": "Jo Teacher", "organisation": "Hillside Primary", "role": "DSL"},
        "children": [{"name": name, "date_of_birth": born.map(|d| d.to_string()), "sex": "M", "nhs_number": nhs}],
        "concerns": "Bruising on the upper arm, explanation inconsistent.",
        "consent": "given"
    })
}

/// An `upsert` one client received: (client, contact id, when its bytes arrived).
type Receipt = (usize, String, Instant);

/// One SSE client: signals `snapshot` once its snapshot is in, then reports every `upsert`.
pub(crate) async fn subscriber(
    client: reqwest::Client,
    url: String,
    token: String,
    index: usize,
    snapshot: oneshot::Sender<()>,
    receipts: mpsc::UnboundedSender<Receipt>,
) -> Result<()> {
    let mut response = client
        .get(url)
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .context("connecting to /v1/queue/stream")?;
    ensure!(response.status() == 200, "/v1/queue/stream answered {}", response.status());
    let mut snapshot = Some(snapshot);
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        let arrived = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            match event {
                "snapshot" => {
                    if let Some(tx) = snapshot.take() {
                        let _ = tx.send(());
                    }
                }
                "upsert" => {
                    let item: Value = serde_json::from_str(&data).context("an upsert that is not JSON")?;
                    if let Some(id) = item["contact_id"].as_str()
                        && receipts.send((index, id.to_owned(), arrived)).is_err()
                    {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// One run: a fresh server, `subscribers` clients, `contacts` contacts posted one at a time.
async fn measure(
    run: u32,
    subscribers: usize,
    contacts: usize,
    pause: Duration,
    bin: &Path,
    dir: &Path,
    device: Option<&BlockDevice>,
) -> Result<Measurement> {
    let (server, tokens) = Server::start(bin, dir)?;
    // No proxy for loopback, whatever the environment says; no idle pool limit per host.
    let client = reqwest::Client::builder().no_proxy().tcp_nodelay(true).build()?;
    server.ready(&client).await?;

    let (receipts_tx, mut receipts) = mpsc::unbounded_channel();
    let mut snapshots = Vec::with_capacity(subscribers);
    let mut clients = tokio::task::JoinSet::new();
    for index in 0..subscribers {
        let (tx, rx) = oneshot::channel();
        snapshots.push(rx);
        clients.spawn(subscriber(
            client.clone(),
            format!("{}/v1/queue/stream", server.url),
            tokens.duty.clone(),
            index,
            tx,
            receipts_tx.clone(),
        ));
    }
    drop(receipts_tx);
    let connected = async {
        for rx in snapshots {
            rx.await.context("a client ended before its snapshot")?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(CONNECT_LIMIT, connected).await.with_context(|| {
        format!("{subscribers} clients did not all get a snapshot within {} s", CONNECT_LIMIT.as_secs())
    })??;

    let before = Counters::read_with(device, Some(server.child.id()));
    let started = Instant::now();
    // (contact id, POST sent, response received)
    let mut posted: Vec<(String, Instant, Instant)> = Vec::with_capacity(contacts);
    for i in 0..contacts {
        let sent = Instant::now();
        let response = client
            .post(format!("{}/v1/contacts", server.url))
            .bearer_auth(&tokens.referrer)
            .json(&contact_body(i))
            .send()
            .await
            .context("POST /v1/contacts")?;
        let status = response.status();
        let body: Value = response.json().await.context("the POST's response")?;
        let answered = Instant::now();
        ensure!(status == 201, "POST /v1/contacts answered {status}: {body}");
        let id = body["contact_id"].as_str().context("no contact_id in the POST's response")?.to_owned();
        posted.push((id, sent, answered));
        tokio::time::sleep(pause).await;
    }

    // Every (contact, client) pair's first upsert, until all are in or the time is up.
    let expected = contacts * subscribers;
    let mut arrivals: HashMap<String, Vec<Option<Instant>>> =
        posted.iter().map(|(id, _, _)| (id.clone(), vec![None; subscribers])).collect();
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    let mut last = started;
    while got < expected {
        let Ok(Some((index, id, at))) = tokio::time::timeout_at(deadline, receipts.recv()).await else { break };
        if let Some(slot) = arrivals.get_mut(&id).and_then(|v| v.get_mut(index))
            && slot.is_none()
        {
            *slot = Some(at);
            got += 1;
            last = last.max(at);
        }
    }
    let window = last - started;
    let (_, cpu) = Counters::read_with(device, Some(server.child.id())).since(Some(&before));
    clients.abort_all();
    drop(server);

    let mut latencies = Vec::with_capacity(expected);
    let mut from_ack = Vec::with_capacity(expected);
    let mut before_response = 0;
    for (id, sent, answered) in &posted {
        for at in arrivals.get(id).into_iter().flatten().flatten() {
            latencies.push(nanos(at.saturating_duration_since(*sent)));
            from_ack.push(nanos(at.saturating_duration_since(*answered)));
            if at < answered {
                before_response += 1;
            }
        }
    }
    let mut posts: Vec<u64> = posted.iter().map(|(_, sent, answered)| nanos(*answered - *sent)).collect();
    posts.sort_unstable();
    Ok(Measurement {
        run,
        subscribers,
        contacts,
        missed: expected - latencies.len(),
        latencies,
        from_ack,
        posts,
        before_response,
        observed: Observed::new(window, cpu),
    })
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

struct Report<'a> {
    session: &'a Session,
    subscribers: &'a [usize],
    contacts: usize,
    pause: Duration,
    measurements: &'a [Measurement],
    data_dir: &'a Path,
    server: &'a Path,
}

/// Every run of one configuration together.
#[derive(Debug, Clone)]
struct Summary {
    /// Every pair's latency across runs, sorted, in ns.
    latencies: Vec<u64>,
    /// The same from the POST's 201, sorted.
    from_ack: Vec<u64>,
    posts: Vec<u64>,
    missed: usize,
    pairs: usize,
    before_response: usize,
    server_cpu_pct: Option<f64>,
    bench_cpu_pct: Option<f64>,
    others_cpu_pct: Option<f64>,
    runs: usize,
}

impl Summary {
    fn ms(&self, p: f64) -> f64 {
        Measurement::ms(&self.latencies, p)
    }

    fn pass(&self) -> bool {
        self.missed == 0 && self.ms(50.0) <= TARGET_MS && self.ms(99.0) <= TARGET_MS
    }

    fn ack_ms(&self, p: f64) -> f64 {
        Measurement::ms(&self.from_ack, p)
    }
}

impl Report<'_> {
    fn summary(&self, subscribers: usize) -> Summary {
        let ms: Vec<&Measurement> = self.measurements.iter().filter(|m| m.subscribers == subscribers).collect();
        let mut latencies: Vec<u64> = ms.iter().flat_map(|m| m.latencies.iter().copied()).collect();
        latencies.sort_unstable();
        let mut from_ack: Vec<u64> = ms.iter().flat_map(|m| m.from_ack.iter().copied()).collect();
        from_ack.sort_unstable();
        let mut posts: Vec<u64> = ms.iter().flat_map(|m| m.posts.iter().copied()).collect();
        posts.sort_unstable();
        Summary {
            latencies,
            from_ack,
            posts,
            missed: ms.iter().map(|m| m.missed).sum(),
            pairs: ms.iter().map(|m| m.contacts * m.subscribers).sum(),
            before_response: ms.iter().map(|m| m.before_response).sum(),
            server_cpu_pct: median_of(&ms, |m| m.observed.cpu.and_then(|c| c.helper_pct(m.observed.window))),
            bench_cpu_pct: median_of(&ms, |m| m.observed.cpu.map(|c| c.process_pct(m.observed.window))),
            others_cpu_pct: median_of(&ms, |m| m.observed.cpu.and_then(|c| c.others_pct(m.observed.window))),
            runs: ms.len(),
        }
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| subscribers | pairs | median ms | p90 ms | p99 ms | max ms | from the 201: median ms | from the 201: p99 ms | missed | p99 ms (median of runs) | runs |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for &n in self.subscribers {
            let s = self.summary(n);
            let per_run_p99 = median(
                self.measurements
                    .iter()
                    .filter(|m| m.subscribers == n)
                    .map(|m| {
                        let mut v = m.latencies.clone();
                        v.sort_unstable();
                        Measurement::ms(&v, 99.0)
                    })
                    .collect(),
            );
            let _ = writeln!(
                out,
                "| {n} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {} |",
                s.pairs,
                s.ms(50.0),
                s.ms(90.0),
                s.ms(99.0),
                s.ms(100.0),
                s.ack_ms(50.0),
                s.ack_ms(99.0),
                s.missed,
                per_run_p99,
                s.runs
            );
        }
        out
    }

    fn target_lines(&self) -> String {
        let mut out = String::new();
        for &n in self.subscribers {
            let s = self.summary(n);
            let missed = if s.missed > 0 { format!(", {} upserts never came", s.missed) } else { String::new() };
            out.push_str(&verdict_line(
                &format!("{n} subscriber(s): POST → upsert, median and p99"),
                &format!("{:.1} ms and {:.1} ms{missed}", s.ms(50.0), s.ms(99.0)),
                &format!("≤ {TARGET_MS:.0} ms each, none missed"),
                s.pass(),
            ));
        }
        if self.subscribers.contains(&TARGET_SUBSCRIBERS) {
            let s = self.summary(TARGET_SUBSCRIBERS);
            let missed = if s.missed > 0 { format!(", {} upserts never came", s.missed) } else { String::new() };
            out.push_str(&verdict_line(
                &format!("{TARGET_SUBSCRIBERS} subscribers: append acknowledged (201) → upsert delivered, p99"),
                &format!("{:.1} ms (median {:.1} ms){missed}", s.ack_ms(99.0), s.ack_ms(50.0)),
                &format!("≤ {ACK_TARGET_MS:.0} ms, none missed"),
                s.missed == 0 && s.ack_ms(99.0) <= ACK_TARGET_MS,
            ));
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = self.session.header(
            "Live queue (SSE) latency benchmark",
            "sse",
            &format!("a temporary directory under `{}` per run", self.data_dir.display()),
            "other CPU-bound work on the CPUs that server and clients share",
        );
        let _ = writeln!(
            out,
            "- server: `{}` (built by `cargo build --release -p frontdoor` unless `--server` is given), \
             started afresh for every run: `frontdoor serve --listen 127.0.0.1:0` on an empty data \
             directory, tokens made with `frontdoor token create` (a referrer posts, a practitioner \
             watches the queue), after `/readyz` says 200",
            self.server.display()
        );
        let _ = writeln!(
            out,
            "- method: {} run(s) for each number of subscribers; in a run, N clients (one reqwest \
             client, a connection each, on this process's {}-worker tokio runtime) connect to \
             `GET /v1/queue/stream` and each waits for its `snapshot`; then {} contacts are posted \
             one at a time (`POST /v1/contacts`, a different child each time, as \
             tests/api/harness.rs's `contact_body`), {} ms apart after each response. Latency: from \
             just before the POST is sent to the arrival of the bytes carrying the `upsert` with \
             that contact_id, for every (contact, subscriber) pair; and from the append's \
             acknowledgement (the POST's 201 arriving) to the same arrival, 0 when the upsert came \
             first; percentiles over all pairs of all runs (nearest rank). The open-file limit is \
             raised to its hard limit (a socket per subscriber on each side). Clients, server and \
             disk share the machine: with many subscribers the clients' own scheduling on this \
             process's workers is part of every figure.",
            self.session.runs,
            crate::machine::cpus(),
            self.contacts,
            self.pause.as_millis()
        );
        out.push_str(&quiet_notes(
            self.measurements.iter().map(|m| (format!("run {} x{}", m.run, m.subscribers), &m.observed.quietness)),
        ));
        let _ = writeln!(out, "\n### Results\n");
        out.push_str(&self.table());
        let _ = writeln!(out, "\n### Against the target\n");
        out.push_str(&self.target_lines());
        let _ = writeln!(out, "\n### Where the time goes\n");
        let _ = writeln!(
            out,
            "The server publishes a queue change only once its event is durable (after the group \
             commit's fsync), so the POST's own round trip is the floor. CPU as a share of one core \
             from the first POST to the last upsert (medians of runs): the server process (user + \
             system), this process (the clients and the poster), and other processes.\n"
        );
        let _ = writeln!(
            out,
            "| subscribers | POST → 201 median ms | POST → 201 p99 ms | upserts before the 201 | CPU % (server) | CPU % (clients) | CPU % (other processes) |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
        for &n in self.subscribers {
            let s = self.summary(n);
            let early = s.before_response as f64 / s.latencies.len().max(1) as f64 * 100.0;
            let _ = writeln!(
                out,
                "| {n} | {:.1} | {:.1} | {early:.0}% | {} | {} | {} |",
                Measurement::ms(&s.posts, 50.0),
                Measurement::ms(&s.posts, 99.0),
                show(s.server_cpu_pct, 0),
                show(s.bench_cpu_pct, 0),
                show(s.others_cpu_pct, 0),
            );
        }
        let _ = writeln!(out, "\nEvery run's figures: `results-sse.csv`.");
        out
    }

    fn csv(&self) -> String {
        let mut out = String::from(
            "run,subscribers,contacts,pairs,missed,median_ms,p90_ms,p99_ms,max_ms,ack_median_ms,ack_p99_ms,\
             post_median_ms,post_p99_ms,\
             before_response,seconds,server_cpu_ms,bench_cpu_ms,others_cpu_ms,",
        );
        out.push_str(Quietness::CSV_HEADER);
        out.push('\n');
        for m in self.measurements {
            let mut sorted = m.latencies.clone();
            sorted.sort_unstable();
            let mut acked = m.from_ack.clone();
            acked.sort_unstable();
            let ms = |ns: u64| format!("{:.1}", ns as f64 / 1e6);
            let (server, bench, others) = m
                .observed
                .cpu
                .map(|c| {
                    (c.helper_ns.map(ms).unwrap_or_default(), ms(c.process_ns), c.others_ns.map(ms).unwrap_or_default())
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{},{:.3},{server},{bench},{others},{}",
                m.run,
                m.subscribers,
                m.contacts,
                m.contacts * m.subscribers,
                m.missed,
                Measurement::ms(&sorted, 50.0),
                Measurement::ms(&sorted, 90.0),
                Measurement::ms(&sorted, 99.0),
                Measurement::ms(&sorted, 100.0),
                Measurement::ms(&acked, 50.0),
                Measurement::ms(&acked, 99.0),
                Measurement::ms(&m.posts, 50.0),
                Measurement::ms(&m.posts, 99.0),
                m.before_response,
                m.observed.window.as_secs_f64(),
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
    fn contact_bodies_carry_valid_nhs_numbers_and_differ() {
        let a = contact_body(1);
        let b = contact_body(2);
        assert_ne!(a["children"][0]["name"], b["children"][0]["name"]);
        for body in [a, b, contact_body(4999)] {
            let nhs = body["children"][0]["nhs_number"].as_str().unwrap();
            assert!(nhs.starts_with("999") && frontdoor::validate::nhs_number_is_valid(nhs), "{nhs}");
            assert!(body["children"][0]["date_of_birth"].is_string());
        }
    }
}
