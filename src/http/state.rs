//! What every handler is handed: [`AppState`], a cheap clone of the shared handles (the
//! commands and logged reads, the live read models, tokens, sessions, config, metrics).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use eventlog::EventLog;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::session::Sessions;
use crate::app::FrontDoor;
use crate::auth::TokenStore;
use crate::config::Config;

/// Everything a handler needs: a cheap clone of shared handles.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    front_door: FrontDoor,
    live: crate::live::Live,
    tokens: TokenStore,
    sessions: Sessions,
    config: Config,
    metrics: Metrics,
    ready: AtomicBool,
    /// Cancelled when the service begins to shut down: every event stream ends on it.
    shutdown: CancellationToken,
    /// The log's replication through NATS JetStream, when configured.
    replication: std::sync::OnceLock<crate::replication::Replication>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("log", self.log()).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(log: EventLog, tokens: TokenStore, config: Config) -> Self {
        AppState {
            shared: Arc::new(Shared {
                front_door: FrontDoor::new(log, config.policy.clone()),
                live: crate::live::Live::new(config.policy.clone()),
                tokens,
                sessions: Sessions::default(),
                config,
                metrics: Metrics::default(),
                ready: AtomicBool::new(false),
                shutdown: CancellationToken::new(),
                replication: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn log(&self) -> &EventLog {
        self.shared.front_door.log()
    }

    /// The commands and logged reads ([`crate::app`]) the handlers call.
    pub fn front_door(&self) -> &FrontDoor {
        &self.shared.front_door
    }

    pub fn live(&self) -> &crate::live::Live {
        &self.shared.live
    }

    pub fn tokens(&self) -> &TokenStore {
        &self.shared.tokens
    }

    /// The pages' sign-in sessions (in memory: a restart signs everyone out).
    pub fn sessions(&self) -> &Sessions {
        &self.shared.sessions
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub fn ready_flag(&self) -> &AtomicBool {
        &self.shared.ready
    }

    /// Ready: the log is open and the read models have caught up with it.
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire) && self.shared.live.is_caught_up()
    }

    pub fn set_ready(&self) {
        self.shared.ready.store(true, Ordering::Release);
    }

    pub fn set_replication(&self, replication: crate::replication::Replication) {
        let _ = self.shared.replication.set(replication);
    }

    /// The log's replication, when `[replication]` is configured.
    pub fn replication(&self) -> Option<&crate::replication::Replication> {
        self.shared.replication.get()
    }

    /// Cancelled when the service begins to shut down ([`super::serve`]): a long-lived
    /// response (an event stream) selects on it and ends, so the shutdown is not held up.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shared.shutdown
    }
}
