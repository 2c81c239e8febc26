//! `frontdoor-bench load`: the real server binary holding a steady mixed load for minutes on
//! end: appends and reads at fixed rates, open loop, while hundreds of Server-Sent Events
//! clients stay connected, with the server's memory watched throughout.
//!
//! The server is started on a fresh data directory with `frontdoor serve --demo` (four weeks of
//! a county's front door), stopped, and started again on the same directory with `--demo`, which
//! adds nothing but prints a new token per demo actor: so the server under load holds the demo
//! data exactly as after a restart, without the generator's leftovers. Then:
//!
//! - the SSE clients connect (most to `GET /v1/queue/stream`, a few to `GET /v1/events/stream`)
//!   and stay for the whole run, reading every event;
//! - appends: `--in-flight` tasks each drive one contact at a time through a realistic case
//!   flow (`POST /v1/contacts`, then its events with the right `expected_version` and an
//!   `Idempotency-Key`, ending with the contact leaving the queue), together at
//!   `--appends-per-s`;
//! - reads: `--reads-per-s` requests of a fixed mix (queue, contacts, their events, the global
//!   log, the timeliness figures), each as a role allowed to read it;
//! - both are open loop: every request has a scheduled time, and its latency runs from that time,
//!   so a stall shows as latency instead of as fewer requests.
//!
//! A warm-up under the full load comes first; the measured window follows. Afterwards the load
//! stops, the streams are checked against the log and the queue, and the server is stopped with
//! SIGTERM (it must exit 0).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use chrono::{SecondsFormat, Utc};
use clap::Args;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::machine::{BlockDevice, Counters, allocated_bytes, load_average, machine_description};
use crate::report::{nanos, percentile, replace_section, show, verdict_line};
use crate::sse::{contact_body, server_binary};
use crate::{BENCH_DIR, workspace_root};

/// The share of the target rates a run must achieve.
const RATE_TARGET: f64 = 0.95;
/// How long the demo may take to be written (or rebuilt) and the server to say it is ready.
const START_LIMIT: Duration = Duration::from_secs(300);
/// How long the SSE clients may take to connect and get their first event.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);
/// How long requests still under way when the load stops may take to finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// How long the streams may take, once the load has stopped, to deliver the last events.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How many error descriptions the report quotes.
const FIRST_ERRORS: usize = 8;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Length of the measured window, in minutes, after the warm-up (default 10; `--quick`: 0.5).
    #[arg(long)]
    minutes: Option<f64>,
    /// Appends per second (new contacts and their events), open loop.
    #[arg(long, default_value_t = 200)]
    appends_per_s: u32,
    /// Reads per second, open loop.
    #[arg(long, default_value_t = 500)]
    reads_per_s: u32,
    /// Server-Sent Events clients held open for the whole run.
    #[arg(long, default_value_t = 200)]
    sse_clients: usize,
    /// How many of the SSE clients read `/v1/events/stream` (the rest read `/v1/queue/stream`).
    #[arg(long, default_value_t = 5)]
    events_streams: usize,
    /// Contacts in flight at once, each driven by one task through its case flow.
    #[arg(long, default_value_t = 200)]
    in_flight: usize,
    /// Warm-up under the full load before the measured window, in seconds (default 30;
    /// `--quick`: 5).
    #[arg(long)]
    warmup_s: Option<u64>,
    /// How often the server's memory is sampled during the window, in seconds (default 60;
    /// `--quick`: 10).
    #[arg(long)]
    sample_s: Option<u64>,
    /// Smoke test: a 30-second window; the report goes to `target/bench-tmp/quick/` unless
    /// `--out` is given, so the committed results are kept.
    #[arg(long)]
    quick: bool,
    /// Directory under which the run's data lives. Default: `<workspace>/target/bench-tmp`.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Directory the report (`RELIABILITY.md`, section `load`) and `results-load*.csv` go to.
    /// Default: `ops/RELIABILITY.md` and `ops/bench/` (or `target/bench-tmp/quick` with `--quick`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The server binary. Default: built with `cargo build --release -p frontdoor`.
    #[arg(long, env = "FRONTDOOR_BIN")]
    server: Option<PathBuf>,
}

/// The run's settings, defaults resolved.
#[derive(Debug, Clone)]
struct Settings {
    window: Duration,
    warmup: Duration,
    sample: Duration,
    appends_per_s: u32,
    reads_per_s: u32,
    queue_streams: usize,
    events_streams: usize,
    in_flight: usize,
    quick: bool,
}

impl LoadArgs {
    fn settings(&self) -> Result<Settings> {
        let minutes = self.minutes.unwrap_or(if self.quick { 0.5 } else { 10.0 });
        ensure!(minutes > 0.0 && minutes.is_finite(), "--minutes must be positive");
        ensure!(self.appends_per_s > 0 && self.reads_per_s > 0, "the rates must be at least 1 per second");
        ensure!(self.events_streams <= self.sse_clients, "--events-streams is more than --sse-clients");
        ensure!(self.in_flight > 0, "--in-flight must be at least 1");
        Ok(Settings {
            window: Duration::from_secs_f64(minutes * 60.0),
            warmup: Duration::from_secs(self.warmup_s.unwrap_or(if self.quick { 5 } else { 30 })),
            sample: Duration::from_secs(self.sample_s.unwrap_or(if self.quick { 10 } else { 60 }).max(1)),
            appends_per_s: self.appends_per_s,
            reads_per_s: self.reads_per_s,
            queue_streams: self.sse_clients - self.events_streams,
            events_streams: self.events_streams,
            in_flight: self.in_flight,
            quick: self.quick,
        })
    }
}

pub fn run(args: &LoadArgs) -> Result<()> {
    let settings = args.settings()?;
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => bail!("raising the open-file limit: {e}"),
    };
    let needed = (settings.queue_streams + settings.events_streams) as u64 * 2 + 1024;
    ensure!(files >= needed, "the open-file limit is {files}; this run needs about {needed} (raise `ulimit -Hn`)");
    let server = server_binary(args.server.as_deref())?;
    let parent = match &args.dir {
        Some(dir) => dir.clone(),
        None => workspace_root()?.join("target").join("bench-tmp"),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("frontdoor-bench-load-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?;
    let load_before = load_average();
    eprintln!(
        "frontdoor-bench load: {} s warm-up, then {:.1} min of {} appends/s and {} reads/s with {} + {} SSE clients; \
         server {}; open-file limit {files}; load average {}",
        settings.warmup.as_secs(),
        settings.window.as_secs_f64() / 60.0,
        settings.appends_per_s,
        settings.reads_per_s,
        settings.queue_streams,
        settings.events_streams,
        server.display(),
        load_before.as_deref().unwrap_or("?"),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(load(&settings, &server, scratch.path()))?;
    drop(runtime);
    let report = Report {
        settings: &settings,
        outcome: &outcome,
        server: &server,
        data_dir: &parent,
        device: BlockDevice::of(&parent),
        load: (load_before, load_average()),
    };
    report.write(args.out.as_deref())?;
    print!("\n{}\n{}", report.tables(), report.verdicts().0);
    let (_, failures) = report.verdicts();
    if !failures.is_empty() {
        bail!("the load run failed: {}", failures.join("; "));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// A running `frontdoor serve`, killed when dropped.
struct Server {
    child: Child,
    url: String,
    /// Demo actor id → its bearer token.
    tokens: HashMap<String, String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `frontdoor serve --demo` on `dir`; returns once it has printed its banner.
    fn start(bin: &Path, dir: &Path, demo: bool, log: &Path) -> Result<Server> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut command = Command::new(bin);
        command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir);
        if demo {
            command.arg("--demo");
        }
        let mut child = command
            // Warnings and errors (a read model falling behind is a warning); tower_http's line
            // for each 503 from /readyz while it rebuilds is noise.
            .env("FRONTDOOR_LOG", "warn,tower_http=off")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Passes on every line, and keeps draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, url: String::new(), tokens: HashMap::new() };
        let deadline = std::time::Instant::now() + START_LIMIT;
        let next_line = || -> Result<String> {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(line)) => Ok(line),
                _ => bail!(
                    "the server stopped or printed nothing more within {} s (see {})",
                    START_LIMIT.as_secs(),
                    log.display()
                ),
            }
        };
        let first = next_line()?;
        server.url = first.strip_prefix("frontdoor listening on ").context("the server's first line")?.to_owned();
        if demo {
            // `  <role> <actor id> <token>` lines, until the `try:` line.
            loop {
                let line = next_line()?;
                if line.starts_with("try:") {
                    break;
                }
                let words: Vec<&str> = line.split_whitespace().collect();
                if line.starts_with("  ")
                    && let [_, actor, token] = words[..]
                {
                    server.tokens.insert(actor.to_owned(), token.to_owned());
                }
            }
        }
        Ok(server)
    }

    fn token(&self, actor: &str) -> Result<String> {
        self.tokens.get(actor).cloned().with_context(|| format!("the demo printed no token for {actor}"))
    }

    async fn ready(&self, client: &reqwest::Client) -> Result<()> {
        crate::sse::wait_ready(client, &self.url).await
    }

    /// SIGTERM, then waits for the exit; `Some(code)` if it exited by itself.
    fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// VmRSS and VmHWM of a process, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS"), field("VmHWM"))
}

/// The log's head position, from the server's `/metrics`.
async fn head(client: &reqwest::Client, url: &str, token: &str) -> Result<u64> {
    let text = client.get(format!("{url}/metrics")).bearer_auth(token).send().await?.error_for_status()?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("frontdoor_log_head_position "))
        .and_then(|v| v.trim().parse().ok())
        .context("no frontdoor_log_head_position in /metrics")
}

// ---------------------------------------------------------------------------------------------
// Requests and what they found
// ---------------------------------------------------------------------------------------------

/// A kind of request, as the report counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    CreateContact,
    AppendEvent,
    Queue,
    Contact,
    ContactEvents,
    GlobalEvents,
    Timeliness,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::CreateContact,
        Kind::AppendEvent,
        Kind::Queue,
        Kind::Contact,
        Kind::ContactEvents,
        Kind::GlobalEvents,
        Kind::Timeliness,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::CreateContact => "POST /v1/contacts",
            Kind::AppendEvent => "POST /v1/contacts/{id}/events",
            Kind::Queue => "GET /v1/queue",
            Kind::Contact => "GET /v1/contacts/{id}",
            Kind::ContactEvents => "GET /v1/contacts/{id}/events",
            Kind::GlobalEvents => "GET /v1/events?after=…&limit=100",
            Kind::Timeliness => "GET /v1/metrics/timeliness",
        }
    }

    fn roles(self) -> &'static str {
        match self {
            Kind::CreateContact => "referrer",
            Kind::AppendEvent => "practitioner, decision maker, police and health partners",
            Kind::Queue | Kind::ContactEvents => "practitioner",
            Kind::Contact => "practitioner, decision maker",
            Kind::GlobalEvents => "auditor",
            Kind::Timeliness => "decision maker",
        }
    }

    fn is_append(self) -> bool {
        matches!(self, Kind::CreateContact | Kind::AppendEvent)
    }
}

/// The read mix, one slot per read in turn: 20% queue, 30% contacts, 20% a contact's events,
/// 20% the global log, 10% timeliness.
const READ_MIX: [Kind; 10] = [
    Kind::Queue,
    Kind::Contact,
    Kind::GlobalEvents,
    Kind::ContactEvents,
    Kind::Contact,
    Kind::Queue,
    Kind::GlobalEvents,
    Kind::Contact,
    Kind::ContactEvents,
    Kind::Timeliness,
];

#[derive(Debug, Default)]
struct KindStats {
    /// Latency from the scheduled time to the whole response, in ns, of the successful requests
    /// scheduled in the measured window.
    latencies: Vec<u64>,
    /// Failed requests, warm-up included.
    errors: u64,
    /// Requests answered (successfully) during the measured window, whenever scheduled.
    answered_in_window: u64,
    /// Every request, warm-up included.
    total: u64,
}

#[derive(Debug)]
struct Recorder {
    window: (Instant, Instant),
    kinds: HashMap<Kind, KindStats>,
    first_errors: Vec<String>,
}

impl Recorder {
    fn record(&mut self, kind: Kind, scheduled: Instant, result: Result<(), String>) {
        let done = Instant::now();
        let stats = self.kinds.entry(kind).or_default();
        stats.total += 1;
        match result {
            Ok(()) => {
                if scheduled >= self.window.0 && scheduled < self.window.1 {
                    stats.latencies.push(nanos(done - scheduled));
                }
                if done >= self.window.0 && done <= self.window.1 {
                    stats.answered_in_window += 1;
                }
            }
            Err(e) => {
                stats.errors += 1;
                if self.first_errors.len() < FIRST_ERRORS {
                    self.first_errors.push(format!("{}: {e}", kind.label()));
                }
            }
        }
    }
}

/// What every task of the load shares.
#[derive(Debug)]
struct Ctx {
    client: reqwest::Client,
    url: String,
    tokens: Tokens,
    settings: Settings,
    /// When the first request is scheduled, the measured window starts and the load stops.
    t0: Instant,
    window: (Instant, Instant),
    recorder: Mutex<Recorder>,
    /// Contacts of the demo (ids), read at random.
    demo_contacts: Vec<String>,
    /// Contacts this run created, read at random.
    new_contacts: Mutex<Vec<String>>,
    /// The highest log position an append was given.
    head: AtomicU64,
    contacts_started: AtomicU64,
    contacts_finished: AtomicU64,
}

#[derive(Debug, Clone)]
struct Tokens {
    referrer: String,
    practitioner: String,
    decision_maker: String,
    police: String,
    health: String,
    auditor: String,
    admin: String,
}

impl Ctx {
    fn record(&self, kind: Kind, scheduled: Instant, result: Result<(), String>) {
        self.recorder.lock().unwrap().record(kind, scheduled, result);
    }

    /// Sends a request and reads the whole answer; a transport error or a status other than
    /// 2xx is an error describing it.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let response = request.send().await.map_err(|e| format!("transport: {e}"))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes);
            let cut: String = body.chars().take(400).collect();
            return Err(format!("{status}: {cut}"));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{status} with a body that is not JSON: {e}"))
    }

    fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .header("idempotency-key", ulid::Ulid::new().to_string())
            .json(body)
    }

    fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.url)).bearer_auth(token)
    }

    fn note_position(&self, envelope: &Value) {
        if let Some(p) = envelope["position"].as_u64() {
            self.head.fetch_max(p, Ordering::Relaxed);
        }
    }

    /// When request `n` of a stream of `per_s` a second is due.
    fn slot(&self, per_s: u32, n: u64) -> Instant {
        self.t0 + Duration::from_nanos(n.saturating_mul(1_000_000_000) / u64::from(per_s))
    }
}

// ---------------------------------------------------------------------------------------------
// Appends: case flows
// ---------------------------------------------------------------------------------------------

/// A small count as an index (counts here stay far below `usize::MAX`).
fn small(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Who appends a step.
#[derive(Debug, Clone, Copy)]
enum Who {
    Practitioner,
    DecisionMaker,
    Police,
    Health,
    /// Answers handovers to the assessment team and early help for their teams (the demo prints
    /// no receiving-team token; only those teams and admins may accept them).
    Admin,
}

/// The case flows, after `POST /v1/contacts`: each ends with the contact out of the queue.
const FLOWS: [&[(Who, &str)]; 3] = [
    // Early help: checks with the police, a duty discussion, handed over and accepted.
    &[
        (Who::Practitioner, "triage_rated"),
        (Who::Practitioner, "call_logged"),
        (Who::Practitioner, "checks_requested"),
        (Who::Police, "checks_returned"),
        (Who::Practitioner, "duty_discussion_held"),
        (Who::DecisionMaker, "decision_made"),
        (Who::Practitioner, "referrer_informed"),
        (Who::Practitioner, "handover_sent"),
        (Who::Admin, "handover_accepted"),
        (Who::Practitioner, "contact_closed"),
    ],
    // No further action: a call and a note, decided, the referrer told, closed.
    &[
        (Who::Practitioner, "triage_rated"),
        (Who::Practitioner, "call_logged"),
        (Who::Practitioner, "note_added"),
        (Who::DecisionMaker, "decision_made"),
        (Who::Practitioner, "referrer_informed"),
        (Who::Practitioner, "contact_closed"),
    ],
    // A referral: red, health checks, a discussion with the police, to the Assessment Team.
    &[
        (Who::Practitioner, "triage_rated"),
        (Who::Practitioner, "checks_requested"),
        (Who::Health, "checks_returned"),
        (Who::Police, "duty_discussion_held"),
        (Who::DecisionMaker, "decision_made"),
        (Who::Practitioner, "referrer_informed"),
        (Who::Practitioner, "handover_sent"),
        (Who::Admin, "handover_accepted"),
        (Who::Practitioner, "contact_closed"),
    ],
];

/// The `data` of `event_type` in flow `flow`, for the `n`th contact.
fn step_data(flow: usize, event_type: &str, n: u64) -> Value {
    let referral = flow == 2;
    let agency = if referral { "health" } else { "police" };
    match event_type {
        "triage_rated" => {
            json!({"rating": if referral { "red" } else { "amber" }, "reason": "Concerns about supervision at home."})
        }
        "call_logged" => json!({
            "direction": "outbound", "with": "referrer",
            "started_at": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            "duration_seconds": 120 + n % 600, "summary": "Spoke with the designated safeguarding lead."
        }),
        "checks_requested" => {
            json!({"agency": agency, "request": "Any involvement with the household in the last year?"})
        }
        "checks_returned" => json!({
            "agency": agency, "summary": "One earlier callout; no further concerns recorded.",
            // Now and then a restricted answer, which only some roles may see.
            "restricted": n % 10 == 0
        }),
        "duty_discussion_held" => json!({
            "participants": [
                {"name": "A Social Worker", "role": "social worker", "agency": "childrens_social_care"},
                {"name": "A Police Officer", "role": "MASH officer", "agency": "police"}
            ],
            "summary": "Shared what is known; agreed the next step.",
            "recommendation": if referral { "assessment" } else { "early_help" }
        }),
        "decision_made" => match flow {
            0 => {
                json!({"outcome": "early_help", "rationale": "Needs support below the threshold.", "level_of_need": 2, "primary_need": "N4"})
            }
            1 => {
                json!({"outcome": "no_further_action", "rationale": "No safeguarding concern found.", "level_of_need": 1})
            }
            _ => {
                json!({"outcome": "assessment", "rationale": "Possible significant harm.", "level_of_need": 4, "primary_need": "N1"})
            }
        },
        "referrer_informed" => json!({"method": "phone", "summary": "Told the referrer the outcome."}),
        "handover_sent" => {
            if referral {
                json!({"to": "assessment_team", "team": "Assessment Team North"})
            } else {
                json!({"to": "early_help", "team": "Early Help South"})
            }
        }
        "handover_accepted" => {
            json!({"team": if referral { "Assessment Team North" } else { "Early Help South" }, "worker": "worker-17"})
        }
        "contact_closed" => json!({"reason": "Outcome recorded and handed on."}),
        _ => json!({"text": "Called the school back; nothing new."}),
    }
}

/// A contact one lane is driving.
#[derive(Debug)]
struct InFlight {
    id: String,
    version: u64,
    flow: usize,
    step: usize,
    n: u64,
}

/// One lane: its share of the append slots (every `in_flight`th), one contact at a time, so
/// its requests never race each other for a version.
async fn lane(ctx: Arc<Ctx>, lane: usize) {
    let lanes = ctx.settings.in_flight as u64;
    let mut contact: Option<InFlight> = None;
    for k in 0u64.. {
        let scheduled = ctx.slot(ctx.settings.appends_per_s, k * lanes + lane as u64);
        if scheduled >= ctx.window.1 {
            break;
        }
        tokio::time::sleep_until(scheduled).await;
        match contact.take() {
            None => {
                let n = ctx.contacts_started.fetch_add(1, Ordering::Relaxed);
                let mut body = contact_body(usize::try_from(n).unwrap_or(usize::MAX));
                body["channel"] = json!(["phone", "email", "online_form", "in_person"][small(n % 4)]);
                body["immediate_risk"] = json!(n % 3 == 2);
                let answer = ctx.send(ctx.post("/v1/contacts", &ctx.tokens.referrer, &body)).await;
                let result = answer.and_then(|v| {
                    ctx.note_position(&v["event"]);
                    let id =
                        v["contact_id"].as_str().ok_or_else(|| "no contact_id in the answer".to_owned())?.to_owned();
                    ctx.new_contacts.lock().unwrap().push(id.clone());
                    contact = Some(InFlight { id, version: 1, flow: small(n % 3), step: 0, n });
                    Ok(())
                });
                ctx.record(Kind::CreateContact, scheduled, result);
            }
            Some(mut c) => {
                let (who, event_type) = FLOWS[c.flow][c.step];
                let token = match who {
                    Who::Practitioner => &ctx.tokens.practitioner,
                    Who::DecisionMaker => &ctx.tokens.decision_maker,
                    Who::Police => &ctx.tokens.police,
                    Who::Health => &ctx.tokens.health,
                    Who::Admin => &ctx.tokens.admin,
                };
                let body = json!({
                    "type": event_type,
                    "data": step_data(c.flow, event_type, c.n),
                    "expected_version": c.version,
                });
                let answer = ctx.send(ctx.post(&format!("/v1/contacts/{}/events", c.id), token, &body)).await;
                let result = answer.and_then(|v| {
                    ctx.note_position(&v);
                    c.version = v["version"].as_u64().ok_or_else(|| "no version in the answer".to_owned())?;
                    c.step += 1;
                    Ok(())
                });
                // A failed step leaves the contact where it is; the lane starts a new one.
                if result.is_ok() {
                    if c.step < FLOWS[c.flow].len() {
                        contact = Some(c);
                    } else {
                        ctx.contacts_finished.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ctx.record(Kind::AppendEvent, scheduled, result.map_err(|e| format!("{event_type}: {e}")));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// Schedules the reads, each in its own task so a slow one holds up none of the others.
async fn reads(ctx: Arc<Ctx>) {
    let mut tasks = JoinSet::new();
    for k in 0u64.. {
        let scheduled = ctx.slot(ctx.settings.reads_per_s, k);
        if scheduled >= ctx.window.1 {
            break;
        }
        tokio::time::sleep_until(scheduled).await;
        let kind = READ_MIX[small(k) % READ_MIX.len()];
        tasks.spawn(read(ctx.clone(), kind, scheduled, k));
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// A contact to read: every other one from the demo (mostly closed long ago), the rest from
/// those this run created (open or just closed).
fn some_contact(ctx: &Ctx, k: u64) -> String {
    let new = ctx.new_contacts.lock().unwrap();
    if k % 2 == 0 || new.is_empty() {
        ctx.demo_contacts[fastrand::usize(..ctx.demo_contacts.len())].clone()
    } else {
        // Mostly recent ones: the last 2,000.
        let from = new.len().saturating_sub(2000);
        new[fastrand::usize(from..new.len())].clone()
    }
}

async fn read(ctx: Arc<Ctx>, kind: Kind, scheduled: Instant, k: u64) {
    let t = &ctx.tokens;
    let request = match kind {
        Kind::Queue => ctx.get("/v1/queue", &t.practitioner),
        Kind::Contact => {
            let who = if k % 3 == 0 { &t.decision_maker } else { &t.practitioner };
            ctx.get(&format!("/v1/contacts/{}", some_contact(&ctx, k / 3)), who)
        }
        Kind::ContactEvents => ctx.get(&format!("/v1/contacts/{}/events", some_contact(&ctx, k / 3)), &t.practitioner),
        Kind::GlobalEvents => {
            let after = fastrand::u64(..=ctx.head.load(Ordering::Relaxed));
            ctx.get(&format!("/v1/events?after={after}&limit=100"), &t.auditor)
        }
        Kind::Timeliness => ctx.get("/v1/metrics/timeliness", &t.decision_maker),
        Kind::CreateContact | Kind::AppendEvent => unreachable!("reads only"),
    };
    let result = ctx.send(request).await.and_then(|v| {
        let ok = match kind {
            Kind::Queue => v["items"].is_array(),
            Kind::Contact => v["contact_id"].is_string(),
            Kind::ContactEvents => v.is_array() || v["events"].is_array(),
            Kind::GlobalEvents => v["events"].is_array(),
            _ => v.is_object(),
        };
        if ok { Ok(()) } else { Err(format!("an unexpected body: {:.200}", v.to_string())) }
    });
    ctx.record(kind, scheduled, result);
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events clients
// ---------------------------------------------------------------------------------------------

/// What one SSE client saw.
#[derive(Debug, Default)]
struct Watcher {
    queue: bool,
    /// Its first event (the snapshot, or the stream's headers for the events stream) is in.
    connected: AtomicBool,
    /// Events received, of any type.
    events: AtomicU64,
    /// Queue: snapshots after the first (the server sends one when a client falls too far
    /// behind, so it missed changes).
    resnapshots: AtomicU64,
    /// Queue: the position of the first snapshot.
    snapshot_position: AtomicU64,
    /// Queue: upserts and removes with a position after the load's start.
    changes_after_start: AtomicU64,
    /// The last `id:` seen.
    last_id: AtomicU64,
    /// Events stream: ids that did not follow the one before.
    gaps: AtomicU64,
    /// Queue: the contacts in the queue as this client has it.
    items: Mutex<HashSet<String>>,
    /// Why the stream ended, if it did before the run stopped it.
    ended: Mutex<Option<String>>,
}

/// The position after which queue clients count changes (set once all are connected).
static COMMON_POSITION: AtomicU64 = AtomicU64::new(u64::MAX);

fn contact_id_in(data: &str) -> Option<String> {
    let start = data.find("\"contact_id\":\"")? + "\"contact_id\":\"".len();
    let len = data[start..].find('"')?;
    Some(data[start..start + len].to_owned())
}

async fn watch(client: reqwest::Client, url: String, token: String, me: Arc<Watcher>) {
    let result = watch_inner(&client, &url, &token, &me).await;
    let why = match result {
        Ok(()) => "the server ended the stream".to_owned(),
        Err(e) => format!("{e:#}"),
    };
    *me.ended.lock().unwrap() = Some(why);
}

async fn watch_inner(client: &reqwest::Client, url: &str, token: &str, me: &Watcher) -> Result<()> {
    let mut response =
        client.get(url).bearer_auth(token).header("accept", "text/event-stream").send().await.context("connecting")?;
    ensure!(response.status() == 200, "{url} answered {}", response.status());
    if !me.queue {
        me.connected.store(true, Ordering::Release);
    }
    let mut buffer = Vec::new();
    while let Some(chunk) = response.chunk().await.context("reading the stream")? {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let block = String::from_utf8_lossy(&block);
            let (mut event, mut id, mut data) = ("message", None, String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<u64>().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            let Some(id) = id else { continue }; // a keep-alive comment
            me.events.fetch_add(1, Ordering::Relaxed);
            let last = me.last_id.swap(id, Ordering::AcqRel);
            if !me.queue {
                if last != 0 && id != last + 1 {
                    me.gaps.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            match event {
                "snapshot" => {
                    let body: Value = serde_json::from_str(&data).context("a snapshot that is not JSON")?;
                    let items: HashSet<String> = body["items"]
                        .as_array()
                        .context("a snapshot without items")?
                        .iter()
                        .filter_map(|i| i["contact_id"].as_str().map(str::to_owned))
                        .collect();
                    *me.items.lock().unwrap() = items;
                    if me.connected.swap(true, Ordering::AcqRel) {
                        me.resnapshots.fetch_add(1, Ordering::Relaxed);
                    } else {
                        me.snapshot_position.store(id, Ordering::Release);
                    }
                }
                "upsert" | "remove" => {
                    let contact = contact_id_in(&data).context("a change without a contact_id")?;
                    let mut items = me.items.lock().unwrap();
                    if event == "upsert" {
                        items.insert(contact);
                    } else {
                        items.remove(&contact);
                    }
                    if id > COMMON_POSITION.load(Ordering::Acquire) {
                        me.changes_after_start.fetch_add(1, Ordering::Relaxed);
                    }
                }
                other => bail!("an unknown event type {other:?}"),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/// One sample of the server's memory and data.
#[derive(Debug, Clone)]
struct Sample {
    /// Seconds since the start of the measured window.
    at_s: f64,
    rss_kib: u64,
    hwm_kib: u64,
    head: u64,
    data_bytes: u64,
}

/// Everything the run found.
#[derive(Debug)]
struct Outcome {
    kinds: HashMap<Kind, KindStats>,
    first_errors: Vec<String>,
    window: Duration,
    /// An empty server, and the server holding the demo (before any load), in KiB.
    empty_rss_kib: u64,
    demo_rss_kib: u64,
    demo_events: u64,
    demo_contacts: usize,
    samples: Vec<Sample>,
    /// Problems found outside the requests: streams, the log, the server's exit.
    problems: Vec<String>,
    /// Per stream kind: clients, events delivered, disconnects, fell behind.
    sse: Vec<SseSummary>,
    contacts_started: u64,
    contacts_finished: u64,
    appends_acknowledged: u64,
    head_growth: u64,
    queue_len_end: usize,
    exit_code: Option<i32>,
    server_cpu_pct: Option<f64>,
    bench_cpu_pct: Option<f64>,
    others_cpu_pct: Option<f64>,
    server_warnings: Vec<String>,
}

#[derive(Debug, Clone)]
struct SseSummary {
    stream: &'static str,
    clients: usize,
    events: u64,
    disconnects: usize,
    fell_behind: usize,
    inconsistent: usize,
}

async fn load(settings: &Settings, bin: &Path, scratch: &Path) -> Result<Outcome> {
    let data = scratch.join("data");
    let server_log = scratch.join("server.log");
    let client = reqwest::Client::builder().no_proxy().tcp_nodelay(true).build()?;

    // An empty server's memory: the floor.
    let empty = Server::start(bin, &scratch.join("empty"), false, &server_log)?;
    empty.ready(&client).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (empty_rss_kib, _) = memory(empty.child.id());
    drop(empty);

    eprintln!("writing the demo data…");
    let filler = Server::start(bin, &data, true, &server_log)?;
    ensure!(filler.stop() == Some(0), "the server that wrote the demo did not exit 0 on SIGTERM");
    let server = Server::start(bin, &data, true, &server_log)?;
    server.ready(&client).await?;
    let pid = server.child.id();
    let tokens = Tokens {
        referrer: server.token("demo-referrer")?,
        practitioner: server.token("demo-practitioner")?,
        decision_maker: server.token("demo-decision-maker")?,
        police: server.token("demo-police")?,
        health: server.token("demo-health")?,
        auditor: server.token("demo-auditor")?,
        admin: server.token("demo-admin")?,
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (demo_rss_kib, _) = memory(pid);
    let demo_events = head(&client, &server.url, &tokens.admin).await?;
    let demo_contacts = demo_contact_ids(&client, &server.url, &tokens.auditor).await?;
    ensure!(!demo_contacts.is_empty(), "the demo has no contacts");
    eprintln!(
        "server {} ready: {demo_events} events, {} contacts; RSS {:.1} MiB (empty server {:.1} MiB)",
        server.url,
        demo_contacts.len(),
        demo_rss_kib as f64 / 1024.0,
        empty_rss_kib as f64 / 1024.0
    );

    // The SSE clients, on a client of their own (a connection each).
    let streams = reqwest::Client::builder().no_proxy().tcp_nodelay(true).build()?;
    let mut watchers = Vec::new();
    let mut watching = JoinSet::new();
    for i in 0..settings.queue_streams + settings.events_streams {
        let queue = i < settings.queue_streams;
        let me = Arc::new(Watcher { queue, ..Watcher::default() });
        let (url, token) = if queue {
            (format!("{}/v1/queue/stream", server.url), tokens.practitioner.clone())
        } else {
            (format!("{}/v1/events/stream?after={demo_events}", server.url), tokens.auditor.clone())
        };
        if !queue {
            me.last_id.store(demo_events, Ordering::Relaxed);
        }
        watching.spawn(watch(streams.clone(), url, token, me.clone()));
        watchers.push(me);
    }
    let deadline = Instant::now() + CONNECT_LIMIT;
    while !watchers.iter().all(|w| w.connected.load(Ordering::Acquire)) {
        if let Some(w) = watchers.iter().find_map(|w| w.ended.lock().unwrap().clone()) {
            bail!("an SSE client could not connect: {w}");
        }
        ensure!(Instant::now() < deadline, "the SSE clients did not all connect within {} s", CONNECT_LIMIT.as_secs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let common = watchers.iter().filter(|w| w.queue).map(|w| w.snapshot_position.load(Ordering::Acquire)).max();
    COMMON_POSITION.store(common.unwrap_or(demo_events), Ordering::Release);
    eprintln!("{} SSE clients connected; load starts", watchers.len());

    let t0 = Instant::now() + Duration::from_millis(200);
    let window = (t0 + settings.warmup, t0 + settings.warmup + settings.window);
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        url: server.url.clone(),
        tokens: tokens.clone(),
        settings: settings.clone(),
        t0,
        window,
        recorder: Mutex::new(Recorder { window, kinds: HashMap::new(), first_errors: Vec::new() }),
        demo_contacts,
        new_contacts: Mutex::new(Vec::new()),
        head: AtomicU64::new(demo_events),
        contacts_started: AtomicU64::new(0),
        contacts_finished: AtomicU64::new(0),
    });
    let mut load = JoinSet::new();
    for i in 0..settings.in_flight {
        load.spawn(lane(ctx.clone(), i));
    }
    load.spawn(reads(ctx.clone()));

    // Memory samples: at the start of the window and every `sample` after it.
    let device = BlockDevice::of(&data);
    let mut samples = Vec::new();
    let mut cpu_before = None;
    for i in 0u32.. {
        let at = window.0 + settings.sample * i;
        if at >= window.1 {
            break;
        }
        tokio::time::sleep_until(at).await;
        if i == 0 {
            cpu_before = Some(Counters::read_with(device.as_ref(), Some(pid)));
        }
        let sample =
            take_sample(&client, &server.url, &tokens.admin, pid, &data, (at - window.0).as_secs_f64()).await?;
        let errors: u64 = ctx.recorder.lock().unwrap().kinds.values().map(|k| k.errors).sum();
        eprintln!(
            "{:>6.0} s: RSS {:.1} MiB (peak {:.1}), {} events, data {:.1} MiB, {} errors so far",
            sample.at_s,
            sample.rss_kib as f64 / 1024.0,
            sample.hwm_kib as f64 / 1024.0,
            sample.head,
            sample.data_bytes as f64 / 1048576.0,
            errors
        );
        samples.push(sample);
    }
    tokio::time::sleep_until(window.1).await;
    let cpu = cpu_before.map(|b| Counters::read_with(device.as_ref(), Some(pid)).since(Some(&b)).1);
    let cpu = cpu.flatten();

    // The load stops: what is under way finishes.
    let drained = tokio::time::timeout(DRAIN_LIMIT, async { while load.join_next().await.is_some() {} }).await;
    let mut problems = Vec::new();
    if drained.is_err() {
        problems.push(format!("requests still unanswered {} s after the load stopped", DRAIN_LIMIT.as_secs()));
        load.abort_all();
    }
    let end =
        take_sample(&client, &server.url, &tokens.admin, pid, &data, (Instant::now() - window.0).as_secs_f64()).await?;
    let final_head = end.head;
    samples.push(end);

    // The streams catch up: the events streams to the head, the queue streams until quiet.
    let settle = Instant::now() + SETTLE_LIMIT;
    let mut last_total = u64::MAX;
    loop {
        let total: u64 = watchers.iter().map(|w| w.events.load(Ordering::Relaxed)).sum();
        let events_done = watchers.iter().filter(|w| !w.queue).all(|w| w.last_id.load(Ordering::Acquire) >= final_head);
        if (events_done && total == last_total) || Instant::now() >= settle {
            break;
        }
        last_total = total;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let queue_now: Value = client
        .get(format!("{}/v1/queue", server.url))
        .bearer_auth(&tokens.practitioner)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let queue_now: HashSet<String> = queue_now["items"]
        .as_array()
        .context("GET /v1/queue without items")?
        .iter()
        .filter_map(|i| i["contact_id"].as_str().map(str::to_owned))
        .collect();
    let sse = check_streams(&watchers, &queue_now, final_head, &mut problems);
    watching.abort_all();
    drop(streams);

    let recorder = std::mem::replace(
        &mut *ctx.recorder.lock().unwrap(),
        Recorder { window, kinds: HashMap::new(), first_errors: Vec::new() },
    );
    let appends_acknowledged: u64 =
        recorder.kinds.iter().filter(|(k, _)| k.is_append()).map(|(_, s)| s.total - s.errors).sum();
    let head_growth = final_head - demo_events;
    if head_growth != appends_acknowledged {
        problems
            .push(format!("the log grew by {head_growth} events but {appends_acknowledged} appends were acknowledged"));
    }
    let exit_code = server.stop();
    if exit_code != Some(0) {
        problems.push(format!("the server did not exit 0 on SIGTERM after the run ({exit_code:?})"));
    }
    let server_warnings: Vec<String> = std::fs::read_to_string(&server_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(str::to_owned)
        .collect();
    Ok(Outcome {
        kinds: recorder.kinds,
        first_errors: recorder.first_errors,
        window: settings.window,
        empty_rss_kib,
        demo_rss_kib,
        demo_events,
        demo_contacts: ctx.demo_contacts.len(),
        samples,
        problems,
        sse,
        contacts_started: ctx.contacts_started.load(Ordering::Relaxed),
        contacts_finished: ctx.contacts_finished.load(Ordering::Relaxed),
        appends_acknowledged,
        head_growth,
        queue_len_end: queue_now.len(),
        exit_code,
        server_cpu_pct: cpu.and_then(|c| c.helper_pct(settings.window)),
        bench_cpu_pct: cpu.map(|c| c.process_pct(settings.window)),
        others_cpu_pct: cpu.and_then(|c| c.others_pct(settings.window)),
        server_warnings,
    })
}

async fn take_sample(
    client: &reqwest::Client,
    url: &str,
    admin: &str,
    pid: u32,
    data: &Path,
    at_s: f64,
) -> Result<Sample> {
    let (rss_kib, hwm_kib) = memory(pid);
    Ok(Sample {
        at_s,
        rss_kib,
        hwm_kib,
        head: head(client, url, admin).await?,
        data_bytes: allocated_bytes(data).unwrap_or(0),
    })
}

/// Every contact id of the demo, from its `contact_received` events in the global log.
async fn demo_contact_ids(client: &reqwest::Client, url: &str, auditor: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = client
            .get(format!("{url}/v1/events?after={after}&limit=1000"))
            .bearer_auth(auditor)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for e in page["events"].as_array().context("a page without events")? {
            if e["type"] == "contact_received"
                && let Some(id) = e["contact_id"].as_str()
            {
                ids.push(id.to_owned());
            }
        }
        let next = page["next_after"].as_u64().context("a page without next_after")?;
        if next == after {
            return Ok(ids);
        }
        after = next;
    }
}

/// Checks what the SSE clients saw: none dropped, none fell behind, every queue client ended
/// with the server's queue and counted as many changes as the others, every events client got
/// every event without a gap.
fn check_streams(
    watchers: &[Arc<Watcher>],
    queue_now: &HashSet<String>,
    final_head: u64,
    problems: &mut Vec<String>,
) -> Vec<SseSummary> {
    let mut out = Vec::new();
    for (queue, stream) in [(true, "/v1/queue/stream"), (false, "/v1/events/stream")] {
        let ws: Vec<&Arc<Watcher>> = watchers.iter().filter(|w| w.queue == queue).collect();
        if ws.is_empty() {
            continue;
        }
        let disconnects = ws.iter().filter(|w| w.ended.lock().unwrap().is_some()).count();
        if let Some(why) = ws.iter().find_map(|w| w.ended.lock().unwrap().clone()) {
            problems.push(format!("{disconnects} client(s) of {stream} lost their stream, e.g.: {why}"));
        }
        let (fell_behind, inconsistent) = if queue {
            let fell_behind = ws.iter().filter(|w| w.resnapshots.load(Ordering::Relaxed) > 0).count();
            if fell_behind > 0 {
                problems.push(format!("{fell_behind} client(s) of {stream} fell behind and were sent a new snapshot"));
            }
            // The changes after the common start: the same number for every client.
            let mut counts: HashMap<u64, usize> = HashMap::new();
            for w in ws.iter().filter(|w| w.resnapshots.load(Ordering::Relaxed) == 0) {
                *counts.entry(w.changes_after_start.load(Ordering::Relaxed)).or_default() += 1;
            }
            let usual = counts.iter().max_by_key(|(_, n)| **n).map_or(0, |(c, _)| *c);
            // A client sent a second snapshot skipped changes: only the queue it ends with is compared.
            let odd = ws
                .iter()
                .filter(|w| {
                    let resnapshot = w.resnapshots.load(Ordering::Relaxed) > 0;
                    (!resnapshot && w.changes_after_start.load(Ordering::Relaxed) != usual)
                        || *w.items.lock().unwrap() != *queue_now
                })
                .count();
            if odd > 0 {
                problems.push(format!(
                    "{odd} client(s) of {stream} ended with another queue than GET /v1/queue, or another number of \
                     changes than the other clients ({usual})"
                ));
            }
            (fell_behind, odd)
        } else {
            let gaps = ws.iter().filter(|w| w.gaps.load(Ordering::Relaxed) > 0).count();
            let short = ws.iter().filter(|w| w.last_id.load(Ordering::Relaxed) != final_head).count();
            if gaps + short > 0 {
                problems.push(format!(
                    "{gaps} client(s) of {stream} saw a gap in the positions, {short} did not reach the head {final_head}"
                ));
            }
            (0, gaps + short)
        };
        out.push(SseSummary {
            stream,
            clients: ws.len(),
            events: ws.iter().map(|w| w.events.load(Ordering::Relaxed)).sum(),
            disconnects,
            fell_behind,
            inconsistent,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

struct Report<'a> {
    settings: &'a Settings,
    outcome: &'a Outcome,
    server: &'a Path,
    data_dir: &'a Path,
    device: Option<BlockDevice>,
    load: (Option<String>, Option<String>),
}

/// Figures for a set of request kinds together.
#[derive(Debug, Default)]
struct Row {
    requests: u64,
    errors: u64,
    latencies: Vec<u64>,
    answered_in_window: u64,
}

impl Row {
    fn of<'k>(stats: impl Iterator<Item = &'k KindStats>) -> Row {
        let mut row = Row::default();
        for s in stats {
            row.requests += s.total;
            row.errors += s.errors;
            row.latencies.extend_from_slice(&s.latencies);
            row.answered_in_window += s.answered_in_window;
        }
        row.latencies.sort_unstable();
        row
    }

    fn ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p) as f64 / 1e6
    }

    fn per_s(&self, window: Duration) -> f64 {
        self.answered_in_window as f64 / window.as_secs_f64()
    }
}

/// RSS allowed to grow besides the data's share (buffers, the allocator): the size of the
/// storage engine's page cache that it stood for before the log's index moved into memory.
const SLACK_MIB: u64 = 16;

impl Report<'_> {
    fn row(&self, pick: impl Fn(Kind) -> bool) -> Row {
        Row::of(Kind::ALL.iter().filter(|k| pick(**k)).filter_map(|k| self.outcome.kinds.get(k)))
    }

    fn mib(kib: u64) -> f64 {
        kib as f64 / 1024.0
    }

    /// RSS growth over the window against what the data alone would explain.
    fn memory(&self) -> MemoryFigures {
        let o = self.outcome;
        let first = o.samples.first();
        let last = o.samples.last();
        let (start, end) = (first.map_or(0, |s| s.rss_kib), last.map_or(0, |s| s.rss_kib));
        let events = last.map_or(0, |s| s.head).saturating_sub(first.map_or(0, |s| s.head));
        let per_demo_event =
            o.demo_rss_kib.saturating_sub(o.empty_rss_kib) as f64 * 1024.0 / o.demo_events.max(1) as f64;
        let growth = end as f64 * 1024.0 - start as f64 * 1024.0;
        // The data itself: the events' share as the demo's held them (the read model's and the
        // log's in-memory index's), twice over for slack (vectors grow by doubling), plus a fixed
        // allowance for buffers and the allocator.
        let allowed = 2.0 * per_demo_event * events as f64 + (SLACK_MIB * 1048576) as f64;
        MemoryFigures { start, end, events, per_demo_event, growth, allowed }
    }

    /// RSS growth per appended event in the first and the second half of the window: growth
    /// that is the storage engine's cache filling up slows down; a leak does not.
    fn halves(&self) -> Option<String> {
        let samples = &self.outcome.samples;
        if samples.len() < 3 {
            return None;
        }
        let (first, last) = (samples.first()?, samples.last()?);
        let middle = samples.iter().min_by(|a, b| {
            let mid = (first.at_s + last.at_s) / 2.0;
            (a.at_s - mid).abs().total_cmp(&(b.at_s - mid).abs())
        })?;
        let per_event = |a: &Sample, b: &Sample| {
            (b.rss_kib as f64 - a.rss_kib as f64) * 1024.0 / b.head.saturating_sub(a.head).max(1) as f64
        };
        Some(format!(
            "RSS growth per appended event: {:.0} bytes from {:.0} s to {:.0} s, {:.0} bytes from {:.0} s to {:.0} s.",
            per_event(first, middle),
            first.at_s,
            middle.at_s,
            per_event(middle, last),
            middle.at_s,
            last.at_s
        ))
    }

    fn tables(&self) -> String {
        let o = self.outcome;
        let w = o.window;
        let mut out = String::new();
        let _ = writeln!(out, "| requests | as | sent | errors | p50 ms | p99 ms | max ms | answered per s |");
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
        let mut line = |label: &str, roles: &str, row: &Row| {
            let _ = writeln!(
                out,
                "| {label} | {roles} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                row.requests,
                row.errors,
                row.ms(50.0),
                row.ms(99.0),
                row.ms(100.0),
                row.per_s(w)
            );
        };
        for k in Kind::ALL {
            line(&format!("`{}`", k.label()), k.roles(), &self.row(|x| x == k));
        }
        line("**all appends**", "", &self.row(Kind::is_append));
        line("**all reads**", "", &self.row(|k| !k.is_append()));
        let _ = writeln!(out, "\n| stream | clients | events delivered | disconnects | fell behind | inconsistent |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for s in &o.sse {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                s.stream, s.clients, s.events, s.disconnects, s.fell_behind, s.inconsistent
            );
        }
        let _ = writeln!(out, "\n| at (s) | RSS MiB | peak RSS MiB | events in the log | data directory MiB |");
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
        for s in &o.samples {
            let _ = writeln!(
                out,
                "| {:.0} | {:.1} | {:.1} | {} | {:.1} |",
                s.at_s,
                Self::mib(s.rss_kib),
                Self::mib(s.hwm_kib),
                s.head,
                s.data_bytes as f64 / 1048576.0
            );
        }
        out
    }

    /// The verdict lines, and what failed.
    fn verdicts(&self) -> (String, Vec<String>) {
        let o = self.outcome;
        let s = self.settings;
        let mut out = String::new();
        let mut failures = Vec::new();
        let mut verdict = |label: &str, value: String, target: String, pass: bool| {
            out.push_str(&verdict_line(label, &value, &target, pass));
            if !pass {
                failures.push(format!("{label}: {value} (target {target})"));
            }
        };
        let all = self.row(|_| true);
        verdict("errors (non-2xx or transport), warm-up included", all.errors.to_string(), "0".into(), all.errors == 0);
        let appends = self.row(Kind::is_append);
        let reads = self.row(|k| !k.is_append());
        for (label, row, target) in [("appends", &appends, s.appends_per_s), ("reads", &reads, s.reads_per_s)] {
            let rate = row.per_s(o.window);
            verdict(
                &format!("{label} answered per second"),
                format!("{rate:.1}"),
                format!("≥ {:.0} ({:.0}% of {target})", f64::from(target) * RATE_TARGET, RATE_TARGET * 100.0),
                rate >= f64::from(target) * RATE_TARGET,
            );
        }
        let sse_bad: usize = o.sse.iter().map(|x| x.disconnects + x.fell_behind + x.inconsistent).sum();
        verdict("SSE clients dropped, behind or inconsistent", sse_bad.to_string(), "0".into(), sse_bad == 0);
        verdict(
            "problems found by the checks after the run (streams, log, shutdown)",
            o.problems.len().to_string(),
            "0".into(),
            o.problems.is_empty(),
        );
        let m = self.memory();
        verdict(
            "RSS growth over the window",
            format!(
                "{:.1} MiB for {} events ({:.0} bytes per event)",
                m.growth / 1048576.0,
                m.events,
                m.growth / m.events.max(1) as f64
            ),
            format!(
                "≤ {:.1} MiB: twice the demo's {:.0} bytes per event held, plus {SLACK_MIB} MiB for buffers and the allocator",
                m.allowed / 1048576.0,
                m.per_demo_event
            ),
            m.growth <= m.allowed,
        );
        (out, failures)
    }

    fn markdown(&self) -> String {
        let o = self.outcome;
        let s = self.settings;
        let mut out = String::new();
        let _ = writeln!(out, "## Load\n");
        if s.quick || s.window < Duration::from_secs(600) {
            let _ = writeln!(
                out,
                "**A {:.1}-minute run{}, not the 10-minute run the issue asks for.**\n",
                s.window.as_secs_f64() / 60.0,
                if s.quick { " (`--quick`)" } else { "" }
            );
        }
        let _ = writeln!(
            out,
            "Issue 8, part 4. Written by `frontdoor-bench load` (`ops/load-test.sh`; see `ops/bench/README.md`).\n"
        );
        let _ = writeln!(out, "- date: {} UTC", Utc::now().format("%Y-%m-%d %H:%M:%S"));
        let _ = writeln!(out, "- command: `{}`", crate::report::command_line());
        for (k, v) in machine_description(
            self.device.as_ref(),
            &format!("a temporary directory under `{}`", self.data_dir.display()),
        ) {
            let _ = writeln!(out, "- {k}: {v}");
        }
        if let (Some(before), Some(after)) = &self.load {
            let _ = writeln!(
                out,
                "- load average (1, 5, 15 min): {before} before, {after} after (server and load generator share the \
                 machine; other work on it skews every figure)"
            );
        }
        let _ = writeln!(
            out,
            "- CPU over the window, as a share of one core: server {}%, load generator and clients {}%, other \
             processes {}%",
            show(o.server_cpu_pct, 0),
            show(o.bench_cpu_pct, 0),
            show(o.others_cpu_pct, 0)
        );
        let _ = writeln!(
            out,
            "- server: `{}` (release build), `frontdoor serve --demo` on a fresh data directory, stopped and \
             started again on it (so it holds the demo as after a restart): {} events, {} contacts",
            self.server.display(),
            o.demo_events,
            o.demo_contacts
        );
        let _ = writeln!(
            out,
            "- load: {} appends/s and {} reads/s, open loop (each request has a scheduled time; latency runs from \
             it to the whole answer, so a stall counts against every request it holds up); {} s warm-up, then a \
             {:.1}-minute measured window. Appends: {} contacts in flight, each driven by one task through a case \
             flow of 7 to 11 events (early help with police checks; no further action; a referral to the \
             Assessment Team), each with `expected_version` and an `Idempotency-Key`, ending with the contact \
             out of the queue; {} contacts started, {} finished. Reads: 20% queue, 30% one contact (half from \
             the demo, half new), 20% a contact's events, 20% a page of the global log at a random position, \
             10% timeliness figures. SSE: {} clients on `/v1/queue/stream` (practitioner) and {} on \
             `/v1/events/stream` (auditor), connected before the warm-up, reading every event.",
            s.appends_per_s,
            s.reads_per_s,
            s.warmup.as_secs(),
            s.window.as_secs_f64() / 60.0,
            s.in_flight,
            o.contacts_started,
            o.contacts_finished,
            s.queue_streams,
            s.events_streams
        );
        let _ = writeln!(
            out,
            "- checked after the load stopped (a failure is listed under Errors): the log grew by exactly the \
             acknowledged appends (it grew by {}, {} were acknowledged); every queue client's queue (snapshot, \
             upserts, removes) equals `GET /v1/queue` ({} items), every client that was never sent a second \
             snapshot counted the same changes, and none was sent one (the server does when a client falls \
             more than 4,096 changes behind); every events client reached the head without a gap; the server \
             exits 0 on SIGTERM (it exited {}).",
            o.head_growth,
            o.appends_acknowledged,
            o.queue_len_end,
            o.exit_code.map_or_else(|| "not within 30 s".to_owned(), |c| c.to_string()),
        );
        let _ = writeln!(out, "\n### Results\n");
        out.push_str(&self.tables());
        let m = self.memory();
        let _ = writeln!(
            out,
            "\nMemory: an empty server {:.1} MiB; holding the demo {:.1} MiB, so about {:.0} bytes per event \
             held. Over the window RSS went from {:.1} to {:.1} MiB ({:+.1} MiB) while the log grew by {} events.\n",
            Self::mib(o.empty_rss_kib),
            Self::mib(o.demo_rss_kib),
            m.per_demo_event,
            Self::mib(m.start),
            Self::mib(m.end),
            m.growth / 1048576.0,
            m.events
        );
        if let Some(halves) = self.halves() {
            let _ = writeln!(out, "{halves}\n");
        }
        let _ = writeln!(out, "### Against the targets\n");
        out.push_str(&self.verdicts().0);
        if !o.first_errors.is_empty() || !o.problems.is_empty() {
            let _ = writeln!(out, "\n### Errors\n");
            for e in o.problems.iter().chain(&o.first_errors) {
                let _ = writeln!(out, "- `{}`", e.replace('`', "'"));
            }
        }
        if !o.server_warnings.is_empty() {
            let _ = writeln!(out, "\nThe server logged {} warning(s) or error(s), e.g.:\n", o.server_warnings.len());
            for w in o.server_warnings.iter().take(3) {
                let _ = writeln!(out, "    {w}");
            }
        }
        let _ = writeln!(out, "\nEvery figure: `ops/bench/results-load.csv` and `ops/bench/results-load-memory.csv`.");
        out
    }

    fn csv(&self) -> (String, String) {
        let w = self.outcome.window;
        let mut requests = String::from("kind,requests,errors,p50_ms,p99_ms,max_ms,answered_per_s\n");
        for k in Kind::ALL {
            let r = self.row(|x| x == k);
            let _ = writeln!(
                requests,
                "{},{},{},{:.2},{:.2},{:.2},{:.2}",
                k.label(),
                r.requests,
                r.errors,
                r.ms(50.0),
                r.ms(99.0),
                r.ms(100.0),
                r.per_s(w)
            );
        }
        let mut memory = String::from("at_s,rss_kib,hwm_kib,events,data_bytes\n");
        for s in &self.outcome.samples {
            let _ = writeln!(memory, "{:.1},{},{},{},{}", s.at_s, s.rss_kib, s.hwm_kib, s.head, s.data_bytes);
        }
        (requests, memory)
    }

    fn write(&self, out: Option<&Path>) -> Result<()> {
        let (md_path, csv_dir) = match (out, self.settings.quick) {
            (Some(dir), _) => (dir.join("RELIABILITY.md"), dir.to_path_buf()),
            (None, true) => {
                let dir = workspace_root()?.join("target").join("bench-tmp").join("quick");
                (dir.join("RELIABILITY.md"), dir)
            }
            (None, false) => (PathBuf::from(BENCH_DIR).join("..").join("RELIABILITY.md"), PathBuf::from(BENCH_DIR)),
        };
        std::fs::create_dir_all(&csv_dir).with_context(|| format!("creating {}", csv_dir.display()))?;
        let existing = std::fs::read_to_string(&md_path).unwrap_or_default();
        std::fs::write(&md_path, replace_section(&existing, "load", &self.markdown()))
            .with_context(|| format!("writing {}", md_path.display()))?;
        let (requests, memory) = self.csv();
        std::fs::write(csv_dir.join("results-load.csv"), requests)?;
        std::fs::write(csv_dir.join("results-load-memory.csv"), memory)?;
        eprintln!("wrote the load section of {} and results-load*.csv in {}", md_path.display(), csv_dir.display());
        Ok(())
    }
}

#[derive(Debug)]
struct MemoryFigures {
    start: u64,
    end: u64,
    events: u64,
    per_demo_event: f64,
    growth: f64,
    allowed: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_ids_are_found_in_change_data() {
        assert_eq!(contact_id_in(r#"{"contact_id":"01ABC","stage":"x"}"#).as_deref(), Some("01ABC"));
        assert_eq!(contact_id_in(r#"{"stage":"x"}"#), None);
    }

    #[test]
    fn every_flow_ends_out_of_the_queue_and_decides_once() {
        for flow in FLOWS {
            let last = flow.last().unwrap().1;
            assert_eq!(last, "contact_closed");
            assert_eq!(flow.iter().filter(|(_, t)| *t == "decision_made").count(), 1);
        }
    }
}
