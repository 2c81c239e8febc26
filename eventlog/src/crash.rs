//! The crash test: does an acknowledged append survive `kill -9`?
//!
//! A child process appends as fast as it can from several tasks and prints one line per
//! acknowledged event. The parent kills it with SIGKILL at a random moment, reopens the log,
//! verifies the whole chain and checks that every event the child reported as acknowledged is
//! there, intact, at its position. `cargo test` runs a few dozen cycles; `ops/crash-test.sh`
//! runs any number with the same code.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ulid::Ulid;

use crate::log::{AppendRequest, EventLog, NewEvent};
use crate::{AppendError, Idempotency};
use events::envelope::{Actor, Role};
use events::schema::{Agency, Event, NoteAdded};

/// One event the child saw acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub position: u64,
    pub event_id: Ulid,
    pub contact_id: Ulid,
    pub version: u32,
}

impl Ack {
    fn to_line(self) -> String {
        format!("ack {} {} {} {}\n", self.position, self.event_id, self.contact_id, self.version)
    }

    fn parse(line: &str) -> Option<Ack> {
        let mut parts = line.strip_prefix("ack ")?.split(' ');
        let ack = Ack {
            position: parts.next()?.parse().ok()?,
            event_id: parts.next()?.parse().ok()?,
            contact_id: parts.next()?.parse().ok()?,
            version: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(ack)
    }
}

/// The child: appends from `writers` tasks until killed, printing every acknowledged event.
/// Each task owns a few contacts and appends one to three events at a time with the expected
/// version it last saw; every tenth append carries an idempotency key and is retried once.
pub fn child_main(dir: &Path, writers: usize) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let log = EventLog::open(dir).map_err(|e| e.to_string())?;
        let out = Arc::new(Mutex::new(std::io::stdout()));
        writeln!(out.lock().map_err(|e| e.to_string())?, "ready {}", log.head().position).map_err(|e| e.to_string())?;
        let mut tasks = Vec::new();
        for writer in 0..writers {
            let log = log.clone();
            let out = Arc::clone(&out);
            tasks.push(tokio::spawn(async move { child_writer(log, out, writer).await }));
        }
        for task in tasks {
            task.await.map_err(|e| e.to_string())??;
        }
        Ok(())
    })
}

async fn child_writer(log: EventLog, out: Arc<Mutex<std::io::Stdout>>, writer: usize) -> Result<(), String> {
    let actor = Actor {
        id: format!("crash-writer-{writer}"),
        role: Role::Practitioner,
        agency: Agency::ChildrensSocialCare,
        team: None,
    };
    let mut contacts: Vec<(Ulid, u32)> = (0..4).map(|_| (Ulid::new(), 0)).collect();
    let mut rng = fastrand::Rng::new();
    // Keys must be unique to this run: a key reused by the next child would (rightly) replay
    // this child's events.
    let run = Ulid::new();
    for n in 0u64.. {
        let slot = rng.usize(..contacts.len());
        let (contact_id, version) = contacts[slot];
        let count = rng.usize(1..=3);
        let events = (0..count)
            .map(|i| {
                let text = format!("writer {writer} append {n} event {i}: {}", "x".repeat(rng.usize(50..400)));
                NewEvent::new(&Event::NoteAdded(NoteAdded { text }), Utc::now(), actor.clone())
            })
            .collect();
        let idempotency = (n % 10 == 0).then(|| Idempotency::new(format!("{run}-{writer}-{n}"), b"same request"));
        let request = AppendRequest { contact_id, events, expected_version: Some(version), idempotency };
        let appended = match log.append(request.clone()).await {
            Ok(a) => a,
            Err(AppendError::Conflict { current_version, .. }) => {
                return Err(format!("writer {writer} owns its contacts but hit a conflict at {current_version}"));
            }
            Err(e) => return Err(e.to_string()),
        };
        if request.idempotency.is_some() {
            let again = log.append(request).await.map_err(|e| e.to_string())?;
            if !again.replayed || again.envelopes != appended.envelopes {
                return Err("an idempotent retry did not return the first result".into());
            }
        }
        let mut text = String::new();
        for env in &appended.envelopes {
            text.push_str(
                &Ack { position: env.position, event_id: env.event_id, contact_id, version: env.version }.to_line(),
            );
        }
        contacts[slot].1 = appended.envelopes.last().map_or(version, |e| e.version);
        let mut out = out.lock().map_err(|e| e.to_string())?;
        out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What a run of cycles found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashReport {
    pub cycles: u64,
    /// Events the children reported as acknowledged.
    pub acknowledged: u64,
    /// Acknowledged events missing after the restart.
    pub lost: u64,
    /// Acknowledged events present but different, unreadable, or a chain that failed to verify.
    pub corrupt: u64,
    /// Cycles in which the log refused to open or failed `verify()`.
    pub failed_reopens: u64,
    /// Events found in the logs at the end of all cycles (acknowledged or not).
    pub events_verified: u64,
    /// The first few problems, described.
    pub problems: Vec<String>,
    pub elapsed: Duration,
}

impl CrashReport {
    /// True when nothing acknowledged was lost or damaged and every reopen verified.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.corrupt == 0 && self.failed_reopens == 0
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < 20 {
            self.problems.push(text);
        }
    }
}

impl std::fmt::Display for CrashReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "cycles: {}", self.cycles)?;
        writeln!(f, "acknowledged events: {}", self.acknowledged)?;
        writeln!(f, "lost: {}", self.lost)?;
        writeln!(f, "corrupt: {}", self.corrupt)?;
        writeln!(f, "failed reopens: {}", self.failed_reopens)?;
        writeln!(f, "events verified in the logs: {}", self.events_verified)?;
        writeln!(f, "elapsed: {:.1} s", self.elapsed.as_secs_f64())?;
        for p in &self.problems {
            writeln!(f, "problem: {p}")?;
        }
        Ok(())
    }
}

/// How to run the cycles.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// The executable to run as the child, and the arguments that make it call
    /// [`child_main`] on the directory given after them.
    pub child: PathBuf,
    pub child_args: Vec<String>,
    /// Where the logs live; a fresh subdirectory every `cycles_per_log` cycles.
    pub work_dir: PathBuf,
    pub cycles: u64,
    pub cycles_per_log: u64,
    /// The longest a child runs before it is killed (chosen at random up to this).
    pub max_run: Duration,
    pub seed: u64,
}

/// Runs the kill/reopen/verify cycles.
pub fn run_cycles(config: &CrashConfig) -> CrashReport {
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let mut report = CrashReport::default();
    let mut log_dir = PathBuf::new();
    for cycle in 0..config.cycles {
        if cycle % config.cycles_per_log.max(1) == 0 {
            if let Ok(verified) = final_count(&log_dir) {
                report.events_verified += verified;
            }
            log_dir = config.work_dir.join(format!("log-{cycle:05}"));
            let _ = std::fs::remove_dir_all(&log_dir);
        }
        report.cycles += 1;
        // Mostly kill mid-stream; sometimes during start-up, while the log is being opened.
        let kill_after = if rng.u8(..10) == 0 {
            Duration::from_millis(rng.u64(0..30))
        } else {
            Duration::from_millis(rng.u64(20..=config.max_run.as_millis().try_into().unwrap_or(u64::MAX).max(21)))
        };
        let acks = match run_child(config, &log_dir, kill_after, rng.bool()) {
            Ok(acks) => acks,
            Err(e) => {
                report.problem(format!("cycle {cycle}: child could not run: {e}"));
                report.failed_reopens += 1;
                continue;
            }
        };
        report.acknowledged += acks.len() as u64;
        check_cycle(cycle, &log_dir, &acks, &mut report);
    }
    if let Ok(verified) = final_count(&log_dir) {
        report.events_verified += verified;
    }
    report.elapsed = started.elapsed();
    report
}

fn final_count(dir: &Path) -> Result<u64, String> {
    if dir.as_os_str().is_empty() || !dir.exists() {
        return Err("no log".into());
    }
    let log = EventLog::open(dir).map_err(|e| e.to_string())?;
    let n = log.verify().map_err(|e| e.to_string())?.events;
    log.shutdown();
    Ok(n)
}

/// Starts the child, waits until it is ready (or not, for an early kill), kills it with
/// SIGKILL and returns every complete ack line it printed.
fn run_child(config: &CrashConfig, dir: &Path, kill_after: Duration, wait_ready: bool) -> Result<Vec<Ack>, String> {
    let mut child = Command::new(&config.child)
        .args(&config.child_args)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", config.child.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("ready") {
                let _ = ready_tx.send(());
            } else if let Some(ack) = Ack::parse(&line) {
                acks.push(ack);
            }
        }
        acks
    });
    if wait_ready {
        // A child that never gets ready (e.g. refuses to open the log) is reported below.
        let _ = ready_rx.recv_timeout(Duration::from_secs(30));
    }
    std::thread::sleep(kill_after);
    if let Ok(Some(status)) = child.try_wait() {
        let _ = reader.join();
        return Err(format!("child exited by itself before the kill: {status}"));
    }
    // On Unix, Child::kill sends SIGKILL: no destructor, no flush, no goodbye.
    let _ = child.kill();
    child.wait().map_err(|e| e.to_string())?;
    reader.join().map_err(|_| "reader thread panicked".to_string())
}

fn check_cycle(cycle: u64, dir: &Path, acks: &[Ack], report: &mut CrashReport) {
    let log = match EventLog::open(dir) {
        Ok(log) => log,
        Err(e) => {
            report.failed_reopens += 1;
            report.corrupt += acks.len() as u64;
            report.problem(format!("cycle {cycle}: log refused to open after kill: {e}"));
            return;
        }
    };
    if let Err(e) = log.verify() {
        report.failed_reopens += 1;
        report.problem(format!("cycle {cycle}: verify failed after kill: {e}"));
    }
    for ack in acks {
        match log.get(ack.position) {
            Ok(Some(env))
                if env.event_id == ack.event_id && env.contact_id == ack.contact_id && env.version == ack.version => {}
            Ok(Some(env)) => {
                report.corrupt += 1;
                report.problem(format!(
                    "cycle {cycle}: position {} holds event {} (v{}) not the acknowledged {} (v{})",
                    ack.position, env.event_id, env.version, ack.event_id, ack.version
                ));
            }
            Ok(None) => {
                report.lost += 1;
                report.problem(format!("cycle {cycle}: acknowledged position {} is missing", ack.position));
            }
            Err(e) => {
                report.corrupt += 1;
                report.problem(format!("cycle {cycle}: acknowledged position {} unreadable: {e}", ack.position));
            }
        }
    }
    log.shutdown();
}
