//! `frontdoor serve`: open the log and the tokens, fill a demo if asked, listen, and shut
//! down cleanly on SIGTERM or Ctrl-C (requests in flight finish, then the log's writer
//! drains its queue and flushes).

use std::collections::HashSet;
use std::io::Write;

use anyhow::Context;
use demo::DemoActors;
use eventlog::{AppendRequest, EventLog, Options};
use tokio::net::TcpListener;

use crate::auth::TokenStore;
use crate::config::Config;
use crate::http::{self, AppState};

/// Runs the service until a shutdown signal.
pub async fn run(config: Config, demo: bool) -> anyhow::Result<()> {
    // The read model's snapshot is read back (it is keyed by the executable's hash) while the
    // log opens; whether it describes the log is checked once the log is open.
    let snapshot = crate::snapshot::Pending::start(&config.data_dir);
    // No `[replication]`: one machine, no NATS, and the writer's hook is a `None`.
    let replication = match &config.replication {
        Some(replication) => Some(
            crate::replication::Replication::connect(replication, &config.data_dir, config.body_limit)
                .await
                .context("starting replication ([replication])")?,
        ),
        None => None,
    };
    let options = Options {
        min_free_bytes: config.min_free_mb.saturating_mul(1024 * 1024),
        replicator: replication.as_ref().map(crate::replication::Replication::replicator),
        ..Options::default()
    };
    let log = EventLog::open_with(&config.data_dir, &options).with_context(|| {
        format!(
            "opening the log in {}: if it is damaged, run `frontdoor-replay verify --data-dir {0}` and restore from the last export",
            config.data_dir.display()
        )
    })?;
    let log = match &replication {
        Some(replication) => replication.start(log, &options).await.context("replication")?,
        None => log,
    };
    let tokens = TokenStore::open(&config.data_dir).context("opening the token store")?;

    let mut banner = Vec::new();
    if demo {
        banner = fill_demo(&log, &tokens, &config).await?;
    }

    let listener =
        TcpListener::bind(&config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(log.clone(), tokens.clone(), config.clone());
    if let Some(replication) = replication {
        replication.sync_tokens(tokens.clone()).await;
        state.set_replication(replication);
    }
    state.set_ready();
    // The read models rebuild in the background; /readyz says 503 until they have caught up.
    let model = state.live().clone();
    let live = tokio::spawn(model.clone().run(log.clone(), snapshot));
    tokio::spawn(state.live().clone().tick_overdue(config.overdue_tick));

    // One line a script (and the end-to-end tests) can read, then the demo's tokens.
    let mut out = std::io::stdout().lock();
    writeln!(out, "frontdoor listening on http://{addr}")?;
    writeln!(out, "data directory: {}", config.data_dir.display())?;
    for line in banner {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    drop(out);
    tracing::info!(%addr, data_dir = %config.data_dir.display(), head = log.head().position, "serving");

    tokio::select! {
        served = http::serve(listener, state, shutdown_signal()) => served?,
        followed = live => {
            // The read model stopped following the log: a damaged event, never served as valid.
            followed??;
            anyhow::bail!("the read model stopped following the log");
        }
    }
    tracing::info!("requests drained; writing the read model's snapshot");
    // No request appends any more; a standby's model may still move on, and any position the
    // model has reached is one the snapshot can be taken at.
    let snapshot_log = log.clone();
    let reserve = options.min_free_bytes;
    match tokio::task::spawn_blocking(move || model.write_snapshot(&snapshot_log, reserve)).await? {
        Ok(Some(written)) => tracing::info!(
            position = written.position,
            bytes = written.bytes,
            seconds = written.elapsed.as_secs_f64(),
            "read model snapshot written"
        ),
        Ok(None) => tracing::info!("no read model snapshot written (the model had not caught up, or the log is empty)"),
        // The next start rebuilds from the log: slower, never wrong.
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "the read model's snapshot could not be written"),
    }
    tracing::info!("closing the log");
    tokio::task::spawn_blocking(move || log.shutdown()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received");
}

/// Fills an empty log with the demo county and creates one token per role. Returns the lines
/// to print. On a log that already holds events it adds nothing and says so.
async fn fill_demo(log: &EventLog, tokens: &TokenStore, config: &Config) -> anyhow::Result<Vec<String>> {
    let actors = DemoActors::standard();
    let mut lines = Vec::new();
    if log.head().position == 0 {
        let now = chrono::Utc::now();
        let mut appends = demo::generate(now, 1, &actors, &config.policy);
        let summary = demo::summarise(&appends, now, &config.policy);
        let debriefs = demo::duty_debriefs(now, 1, &actors, &config.policy);
        let debrief_count = debriefs.len();
        let consultations = demo::consultations(now, 1, &actors, &config.policy, &mut appends);
        let consultation_count = consultations.len();
        appends.extend(debriefs);
        appends.extend(consultations);
        // Stable: each contact's own appends stay in order.
        appends.sort_by_key(|a| a.events.first().and_then(|e| e.recorded_at));
        append_all(log, appends).await?;
        // Counted as the board counts: the duty queue's items and those of them overdue.
        let log = log.clone();
        let policy = config.policy.clone();
        let queue = tokio::task::spawn_blocking(move || QueueCounts::of(&log, &policy, chrono::Utc::now())).await??;
        lines.push(format!(
            "demo data: {} contacts, {} events over four weeks, {debrief_count} duty debriefs, \
             {consultation_count} professional consultations ({})",
            summary.contacts, summary.events, queue
        ));
    } else {
        lines.push(format!("demo data: the log already holds {} events; nothing added", log.head().position));
    }
    lines.push("tokens (shown once; stored only as hashes):".into());
    for actor in actors.all() {
        let (_, secret) = tokens.create(actor.clone()).context("creating a demo token")?;
        lines.push(format!("  {:<15} {:<24} {secret}", actor.role.as_str(), actor.id));
    }
    lines.push("try: curl -H \"Authorization: Bearer <token>\" http://<address>/v1/events".into());
    Ok(lines)
}

/// What the duty board's summary counts ("N contacts on the queue: M overdue"), by the
/// queue's own rules (`projections::model::on_queue`, `QueueItem::overdue`): open and
/// awaiting a decision or a handover's acceptance; of those, past their due-by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    pub on_queue: usize,
    pub overdue: usize,
}

impl QueueCounts {
    /// The queue of the whole log at `now`.
    pub fn of(
        log: &EventLog,
        policy: &projections::time::DuePolicy,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<QueueCounts> {
        let mut model = projections::model::ReadModel::default();
        loop {
            let page = log.read_all(model.position(), 4096)?;
            if page.is_empty() {
                break;
            }
            for env in &page {
                model.apply(env)?;
            }
        }
        let items = model.queue(policy, now);
        Ok(QueueCounts { on_queue: items.len(), overdue: items.iter().filter(|i| i.overdue).count() })
    }
}

impl std::fmt::Display for QueueCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on the queue: {} overdue", self.on_queue, self.overdue)
    }
}

/// Appends in order, many at once: a window of appends that touch distinct contacts goes to
/// the log together (one group commit), and a contact's own appends stay in order.
pub(crate) async fn append_all(log: &EventLog, appends: Vec<AppendRequest>) -> anyhow::Result<()> {
    let mut window = Vec::new();
    let mut contacts = HashSet::new();
    for append in appends {
        if window.len() == 256 || !contacts.insert(append.contact_id) {
            flush_window(log, &mut window).await?;
            contacts.clear();
            contacts.insert(append.contact_id);
        }
        window.push(append);
    }
    flush_window(log, &mut window).await
}

/// Submits the window's appends in order (each is queued for the writer when first polled,
/// and they are polled in order), so the log's positions follow the demo's recording order
/// and each event keeps its own `recorded_at`; then waits for them all.
async fn flush_window(log: &EventLog, window: &mut Vec<AppendRequest>) -> anyhow::Result<()> {
    let mut pending: Vec<_> = window.drain(..).map(|a| Some(Box::pin(log.append(a)))).collect();
    let mut results = Vec::with_capacity(pending.len());
    std::future::poll_fn(|cx| {
        for slot in &mut pending {
            if let Some(append) = slot
                && let std::task::Poll::Ready(result) = append.as_mut().poll(cx)
            {
                results.push(result);
                *slot = None;
            }
        }
        if pending.iter().all(Option::is_none) { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    for result in results {
        result.context("appending demo data")?;
    }
    Ok(())
}
