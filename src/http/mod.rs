//! The REST API (axum): `app(state)` builds the router, `serve(listener, state, shutdown)`
//! runs it until `shutdown` resolves, finishing requests in flight (and so their appends).
//!
//! # Layout
//!
//! - [`contacts`]: receive a contact, append events, read a contact, its events, its audit.
//! - [`log`]: the global log a page at a time.
//! - [`service`]: health, readiness, Prometheus metrics.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers (`/openapi.json`).
//! - [`docs`]: the API reference page rendered from it (`/docs`).
//! - [`web`]: the duty board (`/`), the QA pages (`/qa`), sign-in and the session cookie;
//!   the HTML from askama templates in `web/templates/`.
//! - [`views`]: what a viewer may see (restricted checks filtered on every read path).
//! - [`extract`]: the caller, the JSON body, the idempotency key, all failing as problem+json.
//! - [`error`]: the one error type, rendered as problem+json.

pub mod contacts;
pub mod docs;
pub mod error;
pub mod extract;
pub mod figures;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod queue;
pub mod service;
pub mod stream;
pub mod views;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use eventlog::EventLog;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::FrontDoor;
use crate::auth::TokenStore;
use crate::config::Config;
use error::{ApiError, PROBLEM_JSON};
use metrics::Metrics;

/// Everything a handler needs: a cheap clone of shared handles.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    front_door: FrontDoor,
    live: crate::live::Live,
    tokens: TokenStore,
    sessions: web::Sessions,
    config: Config,
    metrics: Metrics,
    ready: AtomicBool,
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
                sessions: web::Sessions::default(),
                config,
                metrics: Metrics::default(),
                ready: AtomicBool::new(false),
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
    pub fn sessions(&self) -> &web::Sessions {
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
}

/// Request ids are ULIDs: sortable, and the same alphabet as every other id here.
#[derive(Clone, Copy, Debug)]
struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::new().to_string()).ok().map(RequestId::new)
    }
}

/// The whole API.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.config().body_limit;
    Router::new()
        .merge(contacts::router())
        .merge(log::router())
        .merge(queue::router())
        .merge(figures::router())
        .merge(stream::router())
        .merge(service::router())
        .merge(openapi::router())
        .merge(docs::router())
        .merge(web::router(state.clone()))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), web::session_streams))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(middleware::from_fn(problems_everywhere))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<Body>| {
                let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id, actor = tracing::field::Empty)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, UlidRequestId))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /docs".into())
}

/// The safety net: any error response that is not already problem+json (a method not
/// allowed, a framework rejection) is rewritten as one, so clients parse one error format.
async fn problems_everywhere(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON));
    // The pages answer people with HTML pages, errors too.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if status.as_u16() < 400 || is_problem || is_page {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text =
        axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let detail = if text.trim().is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text };
    let problem = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0 },
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        s if s.is_server_error() => ApiError::Internal(detail),
        _ => ApiError::BadRequest { detail, errors: vec![] },
    };
    let mut rewritten = problem.into_response();
    if rewritten.status() != status {
        // Keep the status the framework chose, in the body too.
        *rewritten.status_mut() = status;
        return rewrite_status(rewritten, status).await;
    }
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        rewritten.headers_mut().insert(header::ALLOW, allow.clone());
    }
    rewritten
}

/// Sets a problem body's `status` to match the response's.
async fn rewrite_status(response: Response, status: StatusCode) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let mut problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    problem["status"] = status.as_u16().into();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(problem.to_string()))
}

/// Serves `app` on `listener` until `shutdown` resolves; requests in flight are finished.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
