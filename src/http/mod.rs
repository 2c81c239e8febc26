//! The REST API (axum): `app(state)` builds the router, `serve(listener, state, shutdown)`
//! runs it until `shutdown` resolves, finishing requests in flight (and so their appends),
//! with the connection limits of [`crate::config::Config`] (header and body timeouts, a cap
//! on open connections).
//!
//! # Layout
//!
//! From the top down; a file uses only files below it (`tests/http_layout.rs` holds that):
//!
//! - this file: assembles the routers each resource module registers (`routes`), with the
//!   OpenAPI paths registered beside them (utoipa-axum), and the layers around them.
//! - [`web`]: the duty board (`/`), the QA pages (`/qa`), sign-in; HTML from askama templates
//!   in `web/templates/`.
//! - [`contacts`], [`children`], [`log`], [`stream`], [`queue`], [`figures`], [`service`]: the resources.
//!   Each handler parses, calls one function of [`crate::app`] or a read model, and returns a
//!   typed body (a type deriving `Serialize` and `ToSchema`, so the document describes
//!   exactly what is sent).
//! - [`docs`]: the API reference page (`/docs`), rendered from the document.
//! - [`openapi`]: the document's own parts (description, security, who may call what, limits
//!   from the schema's shapes) and `/openapi.json`.
//! - [`guard`]: the `Host` a request names must be this service's; API answers are not cached.
//! - [`views`]: what a viewer may see of a contact (restricted checks filtered on every path).
//! - [`problem`]: the problem types and each operation's error responses, for the document.
//! - [`extract`]: the caller, the JSON body, the idempotency key, all failing as problem+json.
//! - [`state`]: [`AppState`], the shared handles every handler is given.
//! - [`metrics`], [`session`]: the Prometheus registry; the pages' sign-in sessions.
//! - [`error`]: the one error type, and [`error::Problem`], the body it is sent as.

pub mod access;
pub mod children;
pub mod consultations;
pub mod contacts;
pub mod debriefs;
pub mod docs;
pub mod error;
pub mod extract;
pub mod figures;
pub mod guard;
mod log;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod queue;
pub mod service;
pub mod session;
pub mod state;
pub mod stream;
pub mod views;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use error::{ApiError, PROBLEM_JSON};
use openapi::ApiDocument;
pub use state::AppState;

/// Every route, each registered by its own module with its OpenAPI path.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(contacts::routes())
        .merge(debriefs::routes())
        .merge(consultations::routes())
        .merge(children::routes())
        .merge(log::routes())
        .merge(access::routes())
        .merge(stream::routes())
        .merge(queue::routes())
        .merge(figures::routes())
        .merge(service::routes())
        .merge(openapi::routes())
        .merge(docs::routes())
        .merge(web::routes())
}

/// The OpenAPI document of the routes, built once.
pub fn document() -> &'static ApiDocument {
    static DOCUMENT: OnceLock<ApiDocument> = OnceLock::new();
    DOCUMENT.get_or_init(|| ApiDocument::new(routes().into_openapi()))
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
    let router: Router<AppState> = routes().into();
    router
        .fallback(not_found)
        .layer(Extension(document()))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .layer(
            // One line per request at info: method, route template (never the path itself, which
            // could carry anything a client typed), status, latency and the actor's id (recorded
            // by the extractor once the token is known). Never a token, never a child's name.
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<Body>| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
                    tracing::info_span!("request", method = %req.method(), route, request_id = %id, actor = tracing::field::Empty)
                })
                .on_response(|res: &Response, latency: Duration, _: &tracing::Span| {
                    let latency_ms = (latency.as_secs_f64() * 10_000.0).round() / 10.0;
                    tracing::info!(status = res.status().as_u16(), latency_ms, "answered");
                }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, UlidRequestId))
        .with_state(state)
}

/// Middleware: what every request goes through before its handler and every answer after it,
/// outermost first: the `Host` check ([`guard::host_refusal`]); then, for the others, every
/// error answer as problem+json ([`as_problem`]), the request counted and timed by the route it
/// matched, `Cache-Control: no-store` on the API ([`guard::no_store`]), a cookie-opened
/// stream held to its session ([`web::hold_to_session`]) and the body's limits
/// ([`admit_body`]). One layer rather than one each: each `from_fn` layer boxes a clone of
/// the stack inside it for every request, and six of them were a quarter of an append's CPU.
async fn edge(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(refused) = guard::host_refusal(&app, &request) {
        return refused;
    }
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let api = request.uri().path().starts_with("/v1/");
    let session = web::stream_session(&request);
    let mut response = match admit_body(&app, request).await {
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    };
    if let Some(session) = session {
        response = web::hold_to_session(app.clone(), session, response);
    }
    if api {
        guard::no_store(&mut response);
    }
    let metrics = app.metrics();
    metrics
        .requests
        .get_or_create(&metrics::RequestLabels { method, route: route.clone(), status: response.status().as_u16() })
        .inc();
    metrics.latency.get_or_create(&metrics::RouteLabels { route }).observe(started.elapsed().as_secs_f64());
    as_problem(response).await
}

/// A request whose `Content-Length` is over the body limit is refused (413) without its body
/// being buffered or parsed (a body over 1 MiB is not even read); any other is let through
/// with a body that fails the request (the connection is then closed) if it is still arriving
/// [`Config::body_timeout`] after the headers, however slowly it trickles.
///
/// [`Config::body_timeout`]: crate::config::Config::body_timeout
async fn admit_body(app: &AppState, request: Request) -> Result<Request, Response> {
    let limit = app.config().body_limit;
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(length) = declared.filter(|length| *length > limit as u64) {
        // A client still sending would see the connection reset rather than the 413 if it
        // were closed under it: a body of at most `DRAIN_MAX` is read and thrown away (never
        // buffered or parsed) within the body deadline first; a larger one is refused at once.
        if length <= DRAIN_MAX {
            let mut body = request.into_body().into_data_stream();
            let drain = async { while let Some(Ok(_)) = tokio_stream::StreamExt::next(&mut body).await {} };
            let _ = tokio::time::timeout(app.config().body_timeout, drain).await;
        }
        return Err(ApiError::PayloadTooLarge { limit }.into_response());
    }
    if axum::body::HttpBody::is_end_stream(request.body()) {
        return Ok(request);
    }
    let timeout = app.config().body_timeout;
    Ok(request.map(|body| Body::new(BodyDeadline::new(body, timeout))))
}

/// The largest refused body that is read through (and thrown away) before its 413 is sent.
const DRAIN_MAX: u64 = 1024 * 1024;

/// A request body that fails once its deadline passes before it has ended.
struct BodyDeadline {
    body: Body,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl BodyDeadline {
    fn new(body: Body, timeout: Duration) -> BodyDeadline {
        BodyDeadline { body, timeout, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }
}

impl http_body::Body for BodyDeadline {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let seconds = self.timeout.as_secs();
                let error = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the request body did not arrive whole within {seconds} s"),
                );
                Poll::Ready(Some(Err(axum::Error::new(error))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /docs".into())
}

/// The safety net: any error response that is not already problem+json (a method not
/// allowed, a framework rejection) is rewritten as one, so clients parse one error format.
async fn as_problem(response: Response) -> Response {
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

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, ends every
/// event stream ([`AppState::shutdown`]) and lets requests in flight finish, waiting at most
/// [`SHUTDOWN_GRACE`].
///
/// HTTP/1.1 through hyper's own connection builder rather than `axum::serve`, for the limits
/// it lacks: a client has [`Config::header_read_timeout`] to send a request's headers (hyper
/// starts that clock again whenever a kept-alive connection waits for its next request, so
/// idle connections close after it too); at most [`Config::max_connections`] are open at
/// once, and one accepted past that is closed at once rather than queued, so slow clients
/// cannot take every file descriptor and `/healthz` keeps answering. Handlers still get the
/// peer's address as `ConnectInfo<SocketAddr>`.
///
/// [`Config::header_read_timeout`]: crate::config::Config::header_read_timeout
/// [`Config::max_connections`]: crate::config::Config::max_connections
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let config = state.config().clone();
    let streams_end = state.shutdown().clone();
    let metrics = state.clone();
    let router = app(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or memory: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Past the cap: closed at once, so the client learns now rather than waiting in a queue.
            drop(stream);
            metrics.metrics().connections_refused.inc();
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(max_connections = config.max_connections, refused, "connection refused: too many open");
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request
        });
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service)));
        let open = OpenConnection::counted(&metrics.metrics().connections_open);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop((slot, open));
        });
    }
    drop(listener);
    tracing::info!(connections = graceful.count(), "shutting down: no new connections; ending event streams");
    streams_end.cancel();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; closing them");
    }
    Ok(())
}

/// One open connection, counted in `frontdoor_connections_open` until dropped.
struct OpenConnection(prometheus_client::metrics::gauge::Gauge);

impl OpenConnection {
    fn counted(gauge: &prometheus_client::metrics::gauge::Gauge) -> OpenConnection {
        gauge.inc();
        OpenConnection(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// How long a graceful shutdown waits for requests in flight. Well inside systemd's
/// `TimeoutStopSec` (30 s in ops/frontdoor.service), which also covers closing the log.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
