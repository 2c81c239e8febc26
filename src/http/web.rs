//! The pages: the duty board (`/`), the quality assurance pages (`/qa`), and sign-in.
//!
//! # Sessions
//!
//! `EventSource` cannot send an `Authorization` header and a token must never sit in a URL,
//! so the pages sign in once: `POST /signin` takes the token pasted into a form and answers
//! with a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind https). The session
//! id is 256 random bits; the server keeps only its SHA-256, in memory, with the token it
//! stands for and an expiry. Every request authenticates that token afresh, so revoking the
//! token ends its sessions at once; a restart ends them all. A request that changes anything
//! with the cookie must also say it comes from these pages (`Sec-Fetch-Site: same-origin`, or
//! an `Origin` naming this host): [`same_origin`]. Failed sign-ins from one address are slowed
//! down, doubling up to [`MAX_BACKOFF`].
//!
//! # Pages
//!
//! Server-rendered HTML; the board's one script (`/assets/board.js`) draws the live queue from
//! `GET /v1/queue/stream`, the QA page's charts are SVG drawn here from the figures. Every
//! asset is compiled into the binary from `web/`; the content security policy allows nothing
//! else (no inline script or style, nothing from another origin).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use eventlog::Actor;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt as _;
use ulid::Ulid;

use super::AppState;
use super::docs::escape;
use super::figures::parse_date;
use crate::app::{AppError, Read};
use crate::auth::{self, ReadKind};

/// The session cookie's name.
pub const COOKIE: &str = "frontdoor_session";
/// How long a session lasts from sign-in (a long shift); the token's revocation ends it sooner.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The longest a failed sign-in is made to wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The pages' policy: their own script, style and images, their own API, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const BOARD_JS: &str = include_str!("../../web/board.js");
const QA_JS: &str = include_str!("../../web/qa.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");
const ICON_SVG: &str = include_str!("../../web/icon.svg");

// ---------------------------------------------------------------------------------------
// Sessions

/// The sessions, keyed by the SHA-256 of their id; and the recent failed sign-ins by address.
#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

struct Session {
    token: Arc<str>,
    expires: Instant,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Put in a request's extensions when its caller came by session cookie: the session id.
#[derive(Debug, Clone)]
pub struct SessionCaller(pub String);

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Starts a session for `token`; returns its id (64 hex digits), for the cookie only.
    pub fn start(&self, token: &str) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let id = hex::encode(bytes);
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(key(&id), Session { token: token.into(), expires: now + SESSION_LIFETIME });
        Some(id)
    }

    /// The token a live session stands for.
    pub fn token(&self, id: &str) -> Option<Arc<str>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let k = key(id);
        match sessions.get(&k) {
            Some(s) if s.expires > Instant::now() => Some(s.token.clone()),
            Some(_) => {
                sessions.remove(&k);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key(id));
    }

    /// How long a sign-in from `client` must wait: nothing at first, then 250 ms doubling with
    /// each failure in the last quarter of an hour, up to [`MAX_BACKOFF`].
    fn backoff(&self, client: IpAddr) -> Duration {
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures.get(&client) {
            Some(f) if f.last.elapsed() < FAILURE_MEMORY && f.count > 0 => {
                Duration::from_millis(250u64.saturating_mul(1u64 << f.count.min(6).saturating_sub(1))).min(MAX_BACKOFF)
            }
            _ => Duration::ZERO,
        }
    }

    fn failed(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() > 10_000 {
            failures.retain(|_, f| f.last.elapsed() < FAILURE_MEMORY);
        }
        let entry = failures.entry(client).or_insert(Failures { count: 0, last: Instant::now() });
        if entry.last.elapsed() >= FAILURE_MEMORY {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = Instant::now();
    }

    fn succeeded(&self, client: IpAddr) {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&client);
    }
}

const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

/// The session id in the request's cookie, if it has one of the right shape.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether a request comes from this site's own pages: `Sec-Fetch-Site: same-origin` where
/// the browser sends it, else an `Origin` whose host is this request's `Host`. Neither: no.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) else {
        return false;
    };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else { return false };
    origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn session_cookie(id: &str, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", SESSION_LIFETIME.as_secs())
}

fn clear_cookie(https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// The signed-in actor of a page request (cookie only: browsers send no bearer tokens).
fn page_actor(app: &AppState, headers: &HeaderMap) -> Option<(String, Actor)> {
    let id = session_id(headers)?;
    let token = app.sessions().token(&id)?;
    match app.tokens().authenticate(&token) {
        Some(actor) => Some((id, actor)),
        None => {
            app.sessions().end(&id);
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// Routes and headers

pub fn router(state: AppState) -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/", get(board))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", axum::routing::post(signout))
        .route("/qa", get(qa))
        .route("/qa/contacts/{id}", get(qa_contact))
        .route("/assets/board.js", get(board_js))
        .route("/assets/qa.js", get(qa_js))
        .route("/assets/style.css", get(style_css))
        .route("/assets/icon.svg", get(icon_svg))
        .layer(middleware::from_fn(page_headers))
        .with_state(state)
}

/// The security headers of every page and asset.
async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// `GET /assets/board.js`
#[utoipa::path(get, path = "/assets/board.js", tag = "pages", operation_id = "board_js",
    summary = "The duty board's script", description = "From the binary. No token needed.",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript; charset=utf-8", body = String)))]
pub async fn board_js() -> Response {
    asset(BOARD_JS, "text/javascript; charset=utf-8")
}

/// `GET /assets/qa.js`
#[utoipa::path(get, path = "/assets/qa.js", tag = "pages", operation_id = "qa_js",
    summary = "The audit finding form's script", description = "From the binary. No token needed.",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript; charset=utf-8", body = String)))]
pub async fn qa_js() -> Response {
    asset(QA_JS, "text/javascript; charset=utf-8")
}

/// `GET /assets/style.css`
#[utoipa::path(get, path = "/assets/style.css", tag = "pages", operation_id = "pages_style",
    summary = "The pages' style sheet", description = "From the binary. No token needed.",
    responses((status = 200, description = "CSS.", content_type = "text/css; charset=utf-8", body = String)))]
pub async fn style_css() -> Response {
    asset(STYLE_CSS, "text/css; charset=utf-8")
}

/// `GET /assets/icon.svg`
#[utoipa::path(get, path = "/assets/icon.svg", tag = "pages", operation_id = "pages_icon",
    summary = "The pages' icon", description = "From the binary. No token needed.",
    responses((status = 200, description = "SVG.", content_type = "image/svg+xml", body = String)))]
pub async fn icon_svg() -> Response {
    asset(ICON_SVG, "image/svg+xml")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

fn to_signin(next: &str) -> Response {
    Redirect::to(&format!("/signin?next={next}")).into_response()
}

/// For the live queue opened with a session cookie: the stream also ends when the session does
/// (sign-out, expiry) and after [`stream_lifetime`], and tells the browser to come back after
/// a second. `EventSource` then reconnects by itself with `Last-Event-ID` and gets exactly what
/// it missed, so a long-open board is re-authorised regularly and never falls behind.
pub async fn session_streams(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let is_stream = request.uri().path() == "/v1/queue/stream";
    let by_cookie = !request.headers().contains_key(header::AUTHORIZATION);
    let session = if is_stream && by_cookie { session_id(request.headers()) } else { None };
    let response = next.run(request).await;
    let Some(session) = session else { return response };
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, axum::Error>>(64);
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + stream_lifetime();
        let mut data = body.into_data_stream();
        let mut recheck = tokio::time::interval(Duration::from_secs(1));
        if tx.send(Ok(Bytes::from_static(b"retry: 1000\n\n"))).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                chunk = data.next() => match chunk {
                    Some(chunk) => if tx.send(chunk).await.is_err() { return },
                    None => return,
                },
                _ = recheck.tick() => if app.sessions().token(&session).is_none() { return },
                () = tokio::time::sleep_until(deadline) => return,
                () = tx.closed() => return,
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

/// How long one board connection lasts before the browser is made to reconnect (and resume):
/// ten minutes, or `FRONTDOOR_BOARD_STREAM_SECS`.
fn stream_lifetime() -> Duration {
    std::env::var("FRONTDOOR_BOARD_STREAM_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(Duration::from_secs(600), Duration::from_secs)
}

// ---------------------------------------------------------------------------------------
// Layout

enum Nav {
    Board,
    Qa,
    None,
}

fn layout(title: &str, actor: Option<&Actor>, nav: &Nav, scripts: &[&str], main: &str) -> String {
    let mut out = String::with_capacity(main.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · frontdoor</title>\n<link rel=\"icon\" href=\"/assets/icon.svg\">\n\
         <link rel=\"stylesheet\" href=\"/assets/style.css\">\n",
        title = escape(title)
    );
    for script in scripts {
        let _ = writeln!(out, "<script src=\"{script}\" defer></script>");
    }
    out.push_str("</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to the content</a>\n<header class=\"top\">\n");
    out.push_str("<p class=\"brand\">frontdoor <span>children's services front door</span></p>\n");
    if let Some(actor) = actor {
        out.push_str("<nav aria-label=\"Pages\"><ul>");
        let current = |here: bool| if here { " aria-current=\"page\"" } else { "" };
        let _ = write!(out, "<li><a href=\"/\"{}>Duty board</a></li>", current(matches!(nav, Nav::Board)));
        if auth::may_read(actor.role, ReadKind::Metrics) {
            let _ = write!(out, "<li><a href=\"/qa\"{}>Quality assurance</a></li>", current(matches!(nav, Nav::Qa)));
        }
        out.push_str("</ul></nav>\n");
        let _ = write!(
            out,
            "<form class=\"who\" method=\"post\" action=\"/signout\"><span>Signed in as <strong>{}</strong> ({})</span> \
             <button type=\"submit\">Sign out</button></form>",
            escape(&actor.id),
            escape(&actor.role.to_string().replace('_', " ")),
        );
    }
    out.push_str("</header>\n<main id=\"main\">\n");
    out.push_str(main);
    out.push_str("\n</main>\n</body>\n</html>\n");
    out
}

// ---------------------------------------------------------------------------------------
// Sign-in

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only this site's own pages may be a `next`.
fn safe_next(next: Option<&str>) -> &'static str {
    match next {
        Some("/qa") => "/qa",
        _ => "/",
    }
}

fn signin_form(next: &str, problem: Option<&str>) -> String {
    let mut main = String::from("<div class=\"narrow\">\n<h1>Sign in</h1>\n");
    if let Some(problem) = problem {
        let _ = write!(
            main,
            "<div class=\"alert\" role=\"alert\" id=\"signin-error\"><p><strong>Not signed in.</strong> {}</p></div>",
            escape(problem)
        );
    }
    let _ = write!(
        main,
        "<p>Paste the access token you were given. It is exchanged for a session on this device and never \
         stored in the page or its address; signing out ends the session.</p>\n\
         <form method=\"post\" action=\"/signin\" class=\"stack\">\n\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
         <label for=\"token\">Access token</label>\n\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" spellcheck=\"false\" required \
         maxlength=\"256\" autofocus>\n\
         <button type=\"submit\" id=\"signin\">Sign in</button>\n</form>\n</div>",
        next = escape(next)
    );
    layout("Sign in", None, &Nav::None, &[], &main)
}

/// `GET /signin`
#[utoipa::path(
    get,
    path = "/signin",
    tag = "pages",
    operation_id = "signin_page",
    summary = "The sign-in page",
    description = "A form to paste a token into. `POST /signin` (a form post from this page, not part of the API) \
        exchanges it for a session cookie (HttpOnly, SameSite=Strict); repeated failures from one address are slowed down.",
    params(("next" = Option<String>, Query, description = "`/` or `/qa`: where to go once signed in.")),
    responses((status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String))
)]
pub async fn signin_page(Query(q): Query<NextQuery>) -> Response {
    html(StatusCode::OK, signin_form(safe_next(q.next.as_deref()), None))
}

#[derive(Debug, Deserialize)]
struct SigninForm {
    token: String,
    next: Option<String>,
}

/// `POST /signin` (form): a good token gets a session cookie and goes on; a bad one waits.
async fn signin(State(app): State<AppState>, request: Request) -> Response {
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let https = is_https(request.headers());
    if !same_origin(request.headers()) {
        return html(StatusCode::FORBIDDEN, signin_form("/", Some("Sign in from this site's own sign-in page.")));
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), 4096).await else {
        return html(StatusCode::PAYLOAD_TOO_LARGE, signin_form("/", Some("That was too long.")));
    };
    let form: SigninForm = match serde_urlencoded_form(&body) {
        Some(form) => form,
        None => return html(StatusCode::BAD_REQUEST, signin_form("/", Some("Paste a token."))),
    };
    let next = safe_next(form.next.as_deref());
    let wait = app.sessions().backoff(client);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let token = form.token.trim();
    let actor = (!token.is_empty() && token.len() <= 256).then(|| app.tokens().authenticate(token)).flatten();
    let Some(actor) = actor else {
        app.sessions().failed(client);
        app.metrics().failed_auth.inc();
        return html(
            StatusCode::UNAUTHORIZED,
            signin_form(next, Some("That token is unknown or has been revoked. Check it and try again.")),
        );
    };
    app.sessions().succeeded(client);
    if !auth::may_read(actor.role, ReadKind::Board) {
        return html(
            StatusCode::FORBIDDEN,
            signin_form(next, Some(&format!("A {} token cannot open the duty board.", actor.role))),
        );
    }
    let Some(id) = app.sessions().start(token) else {
        return html(
            StatusCode::INTERNAL_SERVER_ERROR,
            signin_form(next, Some("No session could be made; try again.")),
        );
    };
    tracing::info!(actor = %actor.id, "signed in to the pages");
    let mut response = Redirect::to(next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session_cookie(&id, https)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `application/x-www-form-urlencoded`, by hand (the two fields the form has).
fn serde_urlencoded_form(body: &[u8]) -> Option<SigninForm> {
    let text = std::str::from_utf8(body).ok()?;
    let mut token = None;
    let mut next = None;
    for pair in text.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)?;
        match name {
            "token" => token = Some(value),
            "next" => next = Some(value),
            _ => {}
        }
    }
    Some(SigninForm { token: token?, next })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `POST /signout` (form): ends the session and clears the cookie.
async fn signout(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return html(StatusCode::FORBIDDEN, signin_form("/", Some("Sign out from this site's own pages.")));
    }
    if let Some(id) = session_id(&headers) {
        app.sessions().end(&id);
    }
    let mut response = Redirect::to("/signin").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&clear_cookie(is_https(&headers))) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ---------------------------------------------------------------------------------------
// The duty board

/// `GET /`
#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    operation_id = "board",
    summary = "The duty board",
    description = "The live duty queue for people: an HTML page whose script follows `GET /v1/queue/stream` with \
        the session cookie. Without a session it sends the browser to `/signin`.",
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn board(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/") };
    let main = r#"<div class="board-head">
<h1>Duty queue</h1>
<p id="connection" class="connection" role="status" data-state="connecting"><span class="dot" aria-hidden="true"></span> <span id="connection-text">Connecting…</span></p>
</div>
<form id="filters" class="filters" aria-label="Filter the queue">
<div><label for="f-stage">Stage</label>
<select id="f-stage"><option value="">All stages</option><option value="awaiting_decision">Awaiting decision</option><option value="decided">Decided</option><option value="handover_sent">Handover sent</option><option value="handover_returned">Handover returned</option></select></div>
<div><label for="f-rating">Rating</label>
<select id="f-rating"><option value="">All ratings</option><option value="urgent">Immediate risk or red</option><option value="red">Red</option><option value="amber">Amber</option><option value="green">Green</option><option value="blue">Blue</option><option value="none">Not yet rated</option></select></div>
<div><label for="f-overdue"><input type="checkbox" id="f-overdue"> Overdue only</label></div>
<div><button type="button" id="large" aria-pressed="false">Large text</button></div>
</form>
<p id="summary" class="summary" aria-live="polite">Loading the queue…</p>
<div id="arrivals" class="visually-hidden" aria-live="polite" aria-atomic="false"></div>
<div id="alerts" class="visually-hidden" aria-live="assertive"></div>
<table id="queue" class="queue">
<caption class="visually-hidden">Contacts on the queue, most pressing first</caption>
<thead><tr><th scope="col">Due</th><th scope="col">Urgency</th><th scope="col">Children</th><th scope="col">Stage</th><th scope="col">Came by</th><th scope="col">Source</th><th scope="col">Previous contacts</th><th scope="col">Assigned to</th><th scope="col"><span class="visually-hidden">Timeline</span></th></tr></thead>
<tbody id="queue-body"></tbody>
</table>
<dialog id="detail" aria-labelledby="detail-title">
<div class="detail-head"><h2 id="detail-title">Timeline</h2><button type="button" id="detail-close">Close</button></div>
<p id="detail-note" class="note">Opening a timeline is recorded in the contact's access log.</p>
<ol id="timeline" class="timeline"></ol>
</dialog>"#;
    html(StatusCode::OK, layout("Duty board", Some(&actor), &Nav::Board, &["/assets/board.js"], main))
}

// ---------------------------------------------------------------------------------------
// Quality assurance

#[derive(Debug, Deserialize)]
pub struct QaQuery {
    from: Option<String>,
    to: Option<String>,
    n: Option<String>,
    seed: Option<String>,
    recorded_late: Option<String>,
}

/// `GET /qa`
#[utoipa::path(
    get,
    path = "/qa",
    tag = "pages",
    operation_id = "qa",
    summary = "The quality assurance page",
    description = "Timeliness and volume charts (SVG, drawn on the server from the figures) for a period, and for \
        auditors and admins the case-audit sample with links to each contact's audit trail. Without a session it \
        sends the browser to `/signin`; a role that may not read the figures gets a page saying so (403).",
    params(
        ("from" = Option<String>, Query, description = "First London date of receipt, YYYY-MM-DD (default: 27 days before `to`)."),
        ("to" = Option<String>, Query, description = "Last London date of receipt, YYYY-MM-DD (default: today)."),
        ("n" = Option<u32>, Query, description = "Audit sample size, 1 to 50 (default 10)."),
        ("seed" = Option<u64>, Query, description = "Audit sample seed (default: the `to` date as YYYYMMDD)."),
        ("recorded_late" = Option<bool>, Query, description = "`true`: draw the audit sample only from the contacts whose decision or acceptance was recorded late (as `GET /v1/audit/sample`)."),
    ),
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn qa(State(app): State<AppState>, headers: HeaderMap, Query(q): Query<QaQuery>) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/qa") };
    if !auth::may_read(actor.role, ReadKind::Metrics) {
        let main =
            format!("<h1>Quality assurance</h1><p>A {} may not read the figures.</p>", escape(&actor.role.to_string()));
        return html(StatusCode::FORBIDDEN, layout("Quality assurance", Some(&actor), &Nav::Qa, &[], &main));
    }
    let (from, to) = match resolve_period(q.from.as_deref(), q.to.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            let main = format!(
                "<h1>Quality assurance</h1><div class=\"alert\" role=\"alert\"><p>{}</p></div><p><a href=\"/qa\">The last four weeks</a></p>",
                escape(&e.to_string())
            );
            return html(StatusCode::BAD_REQUEST, layout("Quality assurance", Some(&actor), &Nav::Qa, &[], &main));
        }
    };
    let n = q.n.as_deref().and_then(|n| n.parse::<usize>().ok()).filter(|n| (1..=50).contains(n)).unwrap_or(10);
    let default_seed = to.format("%Y%m%d").to_string().parse::<u64>().unwrap_or(1);
    let seed = q.seed.as_deref().and_then(|s| s.parse::<u64>().ok()).unwrap_or(default_seed);
    let only_late = q.recorded_late.as_deref() == Some("true");
    let main = {
        let model = app.live().model();
        let policy = app.live().policy();
        let timeliness =
            serde_json::to_value(projections::figures::timeliness(model.facts(), from, to, policy, Utc::now()))
                .unwrap_or_default();
        let volumes = serde_json::to_value(projections::figures::volumes(model.facts(), from, to)).unwrap_or_default();
        let hours: Vec<f64> = model
            .facts()
            .filter(|f| (from..=to).contains(&projections::time::london_date(f.received_at)))
            .filter_map(|f| f.first_decision_at.map(|d| hours_between(f.received_at, d)))
            .collect();
        let is_late =
            |f: &projections::facts::ContactFacts| projections::figures::timeliness::is_recorded_late(f, policy);
        let sample = auth::may_read(actor.role, ReadKind::AuditSample).then(|| {
            projections::figures::audit_sample_of(model.facts(), from, to, n, seed, |f| !only_late || is_late(f))
                .iter()
                .filter_map(|id| model.contact_facts(*id).cloned())
                .collect::<Vec<_>>()
        });
        let mut late: Vec<RecordedLateRow> = model
            .facts()
            .filter(|f| projections::figures::in_period(f, from, to) && is_late(f))
            .map(|f| RecordedLateRow::of(f, policy))
            .collect();
        late.sort_by_key(|r| (r.facts.received_at, r.facts.contact_id));
        let links = auth::may_read(actor.role, ReadKind::ContactAudit);
        let mut out = qa_main(from, to, &timeliness, &volumes, &hours, sample.as_deref(), n, seed, only_late);
        recorded_late_section(&mut out, &late, links, policy.late_entry_hours);
        out
    };
    html(StatusCode::OK, layout("Quality assurance", Some(&actor), &Nav::Qa, &[], &main))
}

/// As the figures' own period: the 28 days up to `to` (default today), at most three years.
fn resolve_period(from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), super::error::ApiError> {
    let to = parse_date("to", to)?.unwrap_or_else(|| projections::time::london_date(Utc::now()));
    let from = parse_date("from", from)?.unwrap_or(to - chrono::Duration::days(27));
    if from > to {
        return Err(super::error::ApiError::bad_param("from", "must not be after `to`"));
    }
    if (to - from).num_days() > 3 * 366 {
        return Err(super::error::ApiError::bad_param("from", "a period is at most three years"));
    }
    Ok((from, to))
}

fn hours_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / 3600.0
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn pct(v: &Value) -> String {
    v.as_f64().map_or("–".to_owned(), |f| format!("{:.0}%", f * 100.0))
}

fn hrs(v: &Value) -> String {
    v.as_f64().map_or("–".to_owned(), |f| if f < 10.0 { format!("{f:.1} h") } else { format!("{f:.0} h") })
}

/// Channels, outcomes: their keys and how people say them.
const CHANNELS: &[(&str, &str)] = &[
    ("phone", "Phone"),
    ("online_form", "Online form"),
    ("email", "Email"),
    ("police_notification", "Police notification"),
    ("in_person", "In person"),
    ("other", "Other"),
];
const OUTCOMES: &[(&str, &str)] = &[
    ("strategy_discussion", "Strategy discussion (s47)"),
    ("assessment", "Assessment (s17)"),
    ("early_help", "Early help"),
    ("advice_and_signpost", "Advice and signposting"),
    ("no_further_action", "No further action"),
    ("existing_case", "Existing case"),
    ("undecided", "Not yet decided"),
];
/// Okabe-Ito: told apart by people with any common colour-vision deficiency; every chart also
/// has its numbers written on it and a table.
const PALETTE: &[&str] = &["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];

#[allow(clippy::too_many_arguments)]
fn qa_main(
    from: NaiveDate,
    to: NaiveDate,
    timeliness: &Value,
    volumes: &Value,
    decision_hours: &[f64],
    sample: Option<&[projections::facts::ContactFacts]>,
    n: usize,
    seed: u64,
    only_late: bool,
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<h1>Quality assurance</h1>\n\
         <form method=\"get\" action=\"/qa\" class=\"filters\" aria-label=\"Period\">\
         <div><label for=\"from\">Received from</label><input type=\"date\" id=\"from\" name=\"from\" value=\"{from}\"></div>\
         <div><label for=\"to\">to</label><input type=\"date\" id=\"to\" name=\"to\" value=\"{to}\"></div>\
         <div><button type=\"submit\">Show</button></div></form>\n\
         <p class=\"note\">Contacts received from {from} to {to} (London dates, both included). Definitions: docs/FIGURES.md.</p>\n"
    );
    // Headline numbers.
    let t = timeliness;
    let v = &volumes["totals"];
    out.push_str("<ul class=\"tiles\">");
    let decided = num(&t["decided"]);
    let of_due =
        |key: &str| format!("(of {decided} decided and {} undecided past due)", num(&t["undecided_past_due"][key]));
    let tiles = [
        ("Contacts".to_owned(), format!("{}", num(&t["contacts"]))),
        (
            format!("Decided within one working day {}", of_due("one_working_day")),
            pct(&t["share_within_one_working_day"]),
        ),
        (format!("Decided within 24 hours {}", of_due("within_24h")), pct(&t["share_within_24h"])),
        ("Median hours to decision".to_owned(), hrs(&t["decision_hours"]["median"])),
        ("Median hours to the Assessment Team".to_owned(), hrs(&t["to_assessment_team"]["hours"]["median"])),
        ("Became referrals".to_owned(), pct(&v["conversion_rate"])),
        ("Threshold met (referrals of decided contacts)".to_owned(), pct(&v["threshold_met_share"])),
        ("Level of need 3 or 4 (of decided contacts)".to_owned(), pct(&v["level_3_or_4_share"])),
        (
            "Recorded late: decisions / acceptances".to_owned(),
            format!("{} / {}", num(&t["recorded_late"]["decisions"]), num(&t["recorded_late"]["acceptances"])),
        ),
    ];
    for (label, value) in tiles {
        let _ = write!(
            out,
            "<li><span class=\"tile-value\">{}</span> <span class=\"tile-label\">{}</span></li>",
            escape(&value),
            escape(&label)
        );
    }
    out.push_str("</ul>\n<div class=\"charts\">\n");

    // 1. Weekly contacts by channel (stacked).
    let weeks: Vec<String> = volumes["by_week"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w["week"].as_str().unwrap_or("").to_owned())
        .collect();
    let series: Vec<(String, Vec<f64>)> = CHANNELS
        .iter()
        .map(|(k, label)| {
            (
                (*label).to_owned(),
                volumes["by_week"].as_array().into_iter().flatten().map(|w| num(&w["by_channel"][*k])).collect(),
            )
        })
        .collect();
    chart(&mut out, "chart-channels", "Contacts each week, by how they came", &weeks, &series, true, &|f| {
        format!("{f:.0}")
    });

    // 2. Decision time distribution.
    let buckets: [(&str, f64, f64); 7] = [
        ("< 2 h", 0.0, 2.0),
        ("2–6 h", 2.0, 6.0),
        ("6–24 h", 6.0, 24.0),
        ("1–2 days", 24.0, 48.0),
        ("2–3 days", 48.0, 72.0),
        ("3–5 days", 72.0, 120.0),
        ("5 days +", 120.0, f64::INFINITY),
    ];
    let labels: Vec<String> = buckets.iter().map(|b| b.0.to_owned()).collect();
    let counts: Vec<f64> = buckets
        .iter()
        .map(|(_, lo, hi)| decision_hours.iter().filter(|h| **h >= *lo && **h < *hi).count() as f64)
        .collect();
    chart(
        &mut out,
        "chart-decision-time",
        &format!("Time from receipt to first decision ({} decided contacts)", decision_hours.len()),
        &labels,
        &[("Contacts".to_owned(), counts)],
        false,
        &|f| format!("{f:.0}"),
    );

    // 3. Time to the Assessment Team by week.
    let tweeks: Vec<String> =
        t["by_week"].as_array().into_iter().flatten().map(|w| w["week"].as_str().unwrap_or("").to_owned()).collect();
    let spread = |key: &str| -> Vec<f64> {
        t["by_week"].as_array().into_iter().flatten().map(|w| num(&w["to_assessment_team"]["hours"][key])).collect()
    };
    chart(
        &mut out,
        "chart-assessment-team",
        "Hours from receipt to acceptance by the Assessment Team, by week of receipt",
        &tweeks,
        &[("Median".to_owned(), spread("median")), ("90th percentile".to_owned(), spread("p90"))],
        false,
        &|f| format!("{f:.0} h"),
    );

    // 4. Outcomes.
    let olabels: Vec<String> = OUTCOMES.iter().map(|(_, l)| (*l).to_owned()).collect();
    let ocounts: Vec<f64> = OUTCOMES.iter().map(|(k, _)| num(&v["outcomes"][*k])).collect();
    hchart(&mut out, "chart-outcomes", "Outcomes (the decision in force)", &olabels, &ocounts);

    // 5. Conversion rate by week.
    let rates: Vec<f64> =
        volumes["by_week"].as_array().into_iter().flatten().map(|w| num(&w["conversion_rate"]) * 100.0).collect();
    chart(
        &mut out,
        "chart-conversion",
        "Share of contacts that became referrals, by week",
        &weeks,
        &[("Became referrals".to_owned(), rates)],
        false,
        &|f| format!("{f:.0}%"),
    );
    out.push_str("</div>\n");

    // The audit sample.
    if let Some(sample) = sample {
        let _ = write!(
            out,
            "<section aria-labelledby=\"sample-title\" class=\"sample\"><h2 id=\"sample-title\">Case-audit sample</h2>\n\
             <p>{} decided contacts{} drawn at random with seed <strong>{seed}</strong>: the same period, size and seed always \
             draw the same contacts.</p>\n\
             <form method=\"get\" action=\"/qa\" class=\"filters\" aria-label=\"Draw a sample\">\
             <input type=\"hidden\" name=\"from\" value=\"{from}\"><input type=\"hidden\" name=\"to\" value=\"{to}\">\
             <div><label for=\"n\">How many</label><input type=\"number\" id=\"n\" name=\"n\" min=\"1\" max=\"50\" value=\"{n}\"></div>\
             <div><label for=\"seed\">Seed</label><input type=\"number\" id=\"seed\" name=\"seed\" min=\"0\" value=\"{seed}\"></div>\
             <div><label for=\"recorded_late\"><input type=\"checkbox\" id=\"recorded_late\" name=\"recorded_late\" value=\"true\"{checked}> \
             Only contacts recorded late</label></div>\
             <div><button type=\"submit\">Draw</button></div></form>\n",
            sample.len(),
            if only_late { " recorded late" } else { "" },
            checked = if only_late { " checked" } else { "" },
        );
        out.push_str(
            "<table id=\"sample\"><thead><tr><th scope=\"col\">Contact</th><th scope=\"col\">Received</th><th scope=\"col\">Came by</th>\
             <th scope=\"col\">Source</th><th scope=\"col\">Outcome</th><th scope=\"col\">Level of need</th><th scope=\"col\">Hours to decision</th></tr></thead><tbody>\n",
        );
        for f in sample {
            let outcome = f.outcome.map(|o| serde_json::to_value(o).unwrap_or_default());
            let outcome = outcome.as_ref().and_then(Value::as_str).map_or("–".to_owned(), |k| label_of(OUTCOMES, k));
            let channel = serde_json::to_value(f.channel).unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr><th scope=\"row\"><a href=\"/qa/contacts/{id}\">{id}</a></th><td>{received}</td><td>{channel}</td>\
                 <td><abbr title=\"{desc}\">{code}</abbr></td><td>{outcome}</td><td>{level}</td><td>{hours}</td></tr>",
                id = f.contact_id,
                received = london(f.received_at),
                channel = escape(&label_of(CHANNELS, channel.as_str().unwrap_or(""))),
                desc = escape(f.source.description()),
                code = escape(serde_json::to_value(f.source).unwrap_or_default().as_str().unwrap_or("")),
                outcome = escape(&outcome),
                level = f.level_of_need.map_or("–".to_owned(), |l| l.to_string()),
                hours =
                    f.first_decision_at.map_or("–".to_owned(), |d| format!("{:.1}", hours_between(f.received_at, d))),
            );
        }
        out.push_str("</tbody></table></section>\n");
    }
    out
}

/// A contact whose first decision or acceptance was recorded late, for the QA page's list.
struct RecordedLateRow<'a> {
    facts: &'a projections::facts::ContactFacts,
    decision: bool,
    acceptance: bool,
}

impl<'a> RecordedLateRow<'a> {
    fn of(facts: &'a projections::facts::ContactFacts, policy: &projections::time::DuePolicy) -> Self {
        let (decision, acceptance) = projections::figures::timeliness::recorded_late(facts, policy);
        RecordedLateRow { facts, decision, acceptance }
    }
}

/// The list of contacts recorded late (docs/FIGURES.md, "Recorded late"): when each time
/// happened and when it was entered, links to the audit trail for those who may read it.
fn recorded_late_section(out: &mut String, rows: &[RecordedLateRow<'_>], links: bool, window_hours: u32) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"late-title\" class=\"sample\"><h2 id=\"late-title\">Recorded late</h2>\n\
         <p>{} contacts received in the period whose first decision or acceptance by the Assessment Team was entered \
         more than {window_hours} hours after it happened, or whose time was moved back by a correction.</p>\n",
        rows.len()
    );
    if rows.is_empty() {
        out.push_str("</section>\n");
        return;
    }
    out.push_str(
        "<table id=\"recorded-late\"><thead><tr><th scope=\"col\">Contact</th><th scope=\"col\">Received</th>\
         <th scope=\"col\">First decision</th><th scope=\"col\">Decision entered</th>\
         <th scope=\"col\">Accepted by the Assessment Team</th><th scope=\"col\">Acceptance entered</th></tr></thead><tbody>\n",
    );
    let when = |t: Option<DateTime<Utc>>| t.map_or_else(|| "–".to_owned(), london);
    let entered = |t: Option<DateTime<Utc>>, late: bool, backdated: bool| {
        let mark = match (late, backdated) {
            (true, true) => " (late; time corrected)",
            (true, false) => " (late)",
            _ => "",
        };
        format!("{}{mark}", when(t))
    };
    for r in rows {
        let f = r.facts;
        let id = if links {
            format!("<a href=\"/qa/contacts/{0}\">{0}</a>", f.contact_id)
        } else {
            f.contact_id.to_string()
        };
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{id}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            london(f.received_at),
            when(f.first_decision_at),
            escape(&entered(f.first_decision_recorded_at, r.decision, f.first_decision_backdated)),
            when(f.assessment_team_accepted_at),
            escape(&entered(f.assessment_team_accepted_recorded_at, r.acceptance, f.acceptance_backdated)),
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn label_of(table: &[(&str, &str)], key: &str) -> String {
    table.iter().find(|(k, _)| *k == key).map_or_else(|| key.replace('_', " "), |(_, l)| (*l).to_owned())
}

fn london(t: DateTime<Utc>) -> String {
    let local = projections::time::to_london(t);
    local.format("%a %-d %b %Y %H:%M").to_string()
}

/// A bar chart as SVG (stacked or side by side), with its numbers on it, a legend in words,
/// and the same numbers as a table beneath for screen readers and for reading off exactly.
#[allow(clippy::too_many_arguments)]
fn chart(
    out: &mut String,
    id: &str,
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    stacked: bool,
    fmt: &dyn Fn(f64) -> String,
) {
    let (w, h, left, bottom, top) = (760.0_f64, 340.0_f64, 56.0_f64, 44.0_f64, 28.0_f64);
    let plot_h = h - bottom - top;
    let plot_w = w - left - 12.0;
    let totals: Vec<f64> = (0..categories.len())
        .map(|i| {
            if stacked {
                series.iter().map(|s| s.1.get(i).copied().unwrap_or(0.0)).sum()
            } else {
                series.iter().map(|s| s.1.get(i).copied().unwrap_or(0.0)).fold(0.0, f64::max)
            }
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let _ = write!(
        out,
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{title}</figcaption>\n\
         <svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{id}-t\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"15\">\
         <title id=\"{id}-t\">{title}</title>",
        title = escape(title)
    );
    // Axis and grid.
    for step in 0..=4 {
        let value = max * f64::from(step) / 4.0;
        let y = top + plot_h - plot_h * f64::from(step) / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#b1b4b6\" stroke-width=\"1\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"currentColor\">{label}</text>",
            x2 = left + plot_w,
            tx = left - 6.0,
            ty = y + 5.0,
            label = escape(&fmt(value))
        );
    }
    let n = categories.len().max(1) as f64;
    let slot = plot_w / n;
    let groups = if stacked { 1.0 } else { series.len().max(1) as f64 };
    let bar_w = (slot * 0.7 / groups).min(90.0);
    for (i, category) in categories.iter().enumerate() {
        let x0 = left + slot * i as f64 + (slot - bar_w * groups) / 2.0;
        let mut stack = 0.0;
        for (s, (_, values)) in series.iter().enumerate() {
            let value = values.get(i).copied().unwrap_or(0.0);
            let bh = if max > 0.0 { plot_h * value / max } else { 0.0 };
            let x = if stacked { x0 } else { x0 + bar_w * s as f64 };
            let y = top + plot_h - bh - if stacked { stack } else { 0.0 };
            let colour = PALETTE[s % PALETTE.len()];
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\" fill=\"{colour}\" stroke=\"#ffffff\" stroke-width=\"1\"/>"
            );
            if !stacked {
                let _ = write!(
                    out,
                    "<text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" fill=\"currentColor\" font-weight=\"bold\">{label}</text>",
                    cx = x + bar_w / 2.0,
                    ty = y - 5.0,
                    label = escape(&fmt(value))
                );
            }
            stack += bh;
        }
        if stacked {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" fill=\"currentColor\" font-weight=\"bold\">{label}</text>",
                cx = x0 + bar_w / 2.0,
                ty = top + plot_h - stack - 5.0,
                label = escape(&fmt(totals[i]))
            );
        }
        let _ = write!(
            out,
            "<text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" fill=\"currentColor\">{label}</text>",
            cx = left + slot * i as f64 + slot / 2.0,
            ty = top + plot_h + 22.0,
            label = escape(category)
        );
    }
    out.push_str("</svg>\n");
    if series.len() > 1 {
        out.push_str("<ul class=\"legend\">");
        for (s, (name, _)) in series.iter().enumerate() {
            let _ = write!(
                out,
                "<li><svg viewBox=\"0 0 14 14\" width=\"14\" height=\"14\" aria-hidden=\"true\"><rect width=\"14\" height=\"14\" fill=\"{}\"/></svg> {}</li>",
                PALETTE[s % PALETTE.len()],
                escape(name)
            );
        }
        out.push_str("</ul>\n");
    }
    let _ = write!(out, "<details><summary>The numbers</summary><table><thead><tr><th scope=\"col\"></th>");
    for (name, _) in series {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(name));
    }
    out.push_str("</tr></thead><tbody>");
    for (i, category) in categories.iter().enumerate() {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(category));
        for (_, values) in series {
            let _ = write!(out, "<td>{}</td>", escape(&fmt(values.get(i).copied().unwrap_or(0.0))));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></details></figure>\n");
}

/// A horizontal bar chart: long labels read better across.
fn hchart(out: &mut String, id: &str, title: &str, labels: &[String], values: &[f64]) {
    let row = 34.0_f64;
    let (w, left) = (760.0_f64, 230.0_f64);
    let h = row * labels.len() as f64 + 16.0;
    let max = nice_max(values.iter().copied().fold(0.0, f64::max));
    let total: f64 = values.iter().sum();
    let _ = write!(
        out,
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{title}</figcaption>\n\
         <svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{id}-t\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"15\">\
         <title id=\"{id}-t\">{title}</title>",
        title = escape(title)
    );
    for (i, (label, value)) in labels.iter().zip(values).enumerate() {
        let y = 8.0 + row * i as f64;
        let bw = if max > 0.0 { (w - left - 110.0) * value / max } else { 0.0 };
        let share = if total > 0.0 { value / total * 100.0 } else { 0.0 };
        let _ = write!(
            out,
            "<text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"currentColor\">{label}</text>\
             <rect x=\"{left}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh}\" fill=\"{colour}\"/>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\" fill=\"currentColor\" font-weight=\"bold\">{value:.0} ({share:.0}%)</text>",
            lx = left - 8.0,
            ty = y + 19.0,
            label = escape(label),
            bh = row - 10.0,
            colour = PALETTE[0],
            vx = left + bw + 6.0,
        );
    }
    out.push_str("</svg>\n<details><summary>The numbers</summary><table><thead><tr><th scope=\"col\">Outcome</th><th scope=\"col\">Contacts</th></tr></thead><tbody>");
    for (label, value) in labels.iter().zip(values) {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th><td>{value:.0}</td></tr>", escape(label));
    }
    out.push_str("</tbody></table></details></figure>\n");
}

/// A round number at or above `max` for the top of an axis, such that its quarters (the grid
/// lines) are round too: 1, 2 or 5 times a power of ten.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 4.0;
    }
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|s| s * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    step * 4.0
}

// ---------------------------------------------------------------------------------------
// A contact's audit trail

/// `GET /qa/contacts/{id}`
#[utoipa::path(
    get,
    path = "/qa/contacts/{id}",
    tag = "pages",
    operation_id = "qa_contact",
    summary = "A contact's audit trail, for people",
    description = "The contact's events and its access log in time order, and a form to record an audit finding \
        (sent by the page's script to `POST /v1/contacts/{id}/events`). Auditors and admins only; the read is \
        recorded in the access log. Without a session it sends the browser to `/signin`; other roles and unknown \
        contacts get a page saying so (403, 404).",
    params(crate::http::openapi::ContactPath),
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn qa_contact(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/qa") };
    let page = |status: StatusCode, main: &str| {
        html(status, layout("Audit trail", Some(&actor), &Nav::Qa, &["/assets/qa.js"], main))
    };
    // The path with the id as the log writes it, whatever case the address used.
    let endpoint = format!("/qa/contacts/{}", id.parse::<Ulid>().map(|u| u.to_string()).unwrap_or_else(|_| id.clone()));
    let read = Read { kind: ReadKind::ContactAudit, action: "read_audit", endpoint: &endpoint };
    let (contact, events, access) = match app.front_door().read_contact_logged(&actor, read, &id, Utc::now()) {
        Ok(read) => {
            // This page's own read is the last of the access log it shows.
            let mut access = read.access;
            access.push(read.logged);
            (read.contact, super::views::visible_events(read.events, &actor), access)
        }
        Err(AppError::Forbidden(_)) => {
            return page(
                StatusCode::FORBIDDEN,
                "<h1>Audit trail</h1><p>Only auditors and admins may read audit trails.</p>",
            );
        }
        Err(AppError::NotFound(_)) => {
            return page(StatusCode::NOT_FOUND, "<h1>Audit trail</h1><p>No such contact.</p>");
        }
        Err(e) => {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("<h1>Audit trail</h1><p>{}</p>", escape(&e.to_string())),
            );
        }
    };
    let mut trail: Vec<(DateTime<Utc>, u8, String)> = Vec::new();
    for env in &events {
        let summary = readable(&serde_json::from_str(env.data.get()).unwrap_or_default());
        trail.push((
            env.recorded_at,
            0,
            format!(
                "<tr class=\"event\"><td>{at}<br><small>happened {occurred}</small></td><td>Event {version}</td><td>{who}</td>\
                 <td><strong>{what}</strong><br>{summary}</td></tr>",
                at = london(env.recorded_at),
                occurred = london(env.occurred_at),
                version = env.version,
                who = escape(&format!("{} ({})", env.actor.id, env.actor.role)),
                what = escape(&env.event_type.to_string().replace('_', " ")),
                summary = summary,
            ),
        ));
    }
    for a in &access {
        trail.push((
            a.at,
            1,
            format!(
                "<tr class=\"access\"><td>{at}</td><td>Read</td><td>{who}</td><td>{what} <code>{endpoint}</code></td></tr>",
                at = london(a.at),
                who = escape(&format!("{} ({})", a.actor.id, a.actor.role)),
                what = escape(&a.action.replace('_', " ")),
                endpoint = escape(&a.endpoint),
            ),
        ));
    }
    trail.sort_by_key(|t| (t.0, t.1));
    let mut main = format!(
        "<p><a href=\"/qa\">← Quality assurance</a></p><h1>Audit trail of contact <code>{contact}</code></h1>\n\
         <p>{} events and {} reads of this record, in time order. This page's own read is the last.</p>\n",
        events.len(),
        access.len()
    );
    if auth::may_append(actor.role, events::schema::EventType::AuditFindingRecorded) {
        let _ = write!(
            main,
            "<p id=\"finding-done\" class=\"done\" role=\"status\" hidden></p>\n\
             <section class=\"finding\" aria-labelledby=\"finding-title\"><h2 id=\"finding-title\">Record an audit finding</h2>\n\
             <form id=\"finding\" data-contact=\"{contact}\" class=\"stack\">\n\
             <label for=\"grade\">Grade</label><select id=\"grade\" name=\"grade\" required>\
             <option value=\"outstanding\">Outstanding</option><option value=\"good\" selected>Good</option>\
             <option value=\"requires_improvement\">Requires improvement</option><option value=\"inadequate\">Inadequate</option></select>\n\
             <label for=\"findings\">Findings</label><textarea id=\"findings\" name=\"findings\" rows=\"4\" required></textarea>\n\
             <button type=\"submit\" id=\"finding-submit\">Record the finding</button>\n\
             <p id=\"finding-status\" role=\"status\"></p></form></section>\n"
        );
    }
    main.push_str(
        "<table id=\"trail\" class=\"trail\"><caption>Events and reads</caption><thead><tr><th scope=\"col\">When (London)</th>\
         <th scope=\"col\">What</th><th scope=\"col\">Who</th><th scope=\"col\">Detail</th></tr></thead><tbody>\n",
    );
    for (_, _, row) in trail {
        main.push_str(&row);
        main.push('\n');
    }
    main.push_str("</tbody></table>\n");
    page(StatusCode::OK, &main)
}

/// An event's data for people: `field: value` pairs, nested ones flattened, long text cut.
fn readable(data: &Value) -> String {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.replace('_', " ")
                    } else {
                        format!("{prefix} {}", k.replace('_', " "))
                    };
                    walk(&name, v, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{prefix} {}", i + 1), v, out);
                }
            }
            Value::String(s) => out.push(format!("{prefix}: {}", s.chars().take(300).collect::<String>())),
            Value::Null => {}
            other => out.push(format!("{prefix}: {other}")),
        }
    }
    let mut parts = Vec::new();
    walk("", data, &mut parts);
    parts.iter().map(|p| format!("<span class=\"pair\">{}</span>", escape(p))).collect::<Vec<_>>().join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_needs_the_browsers_word_or_a_matching_origin() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site"), ("origin", "http://a:1"), ("host", "a:1")])));
        assert!(same_origin(&headers(&[("origin", "http://a:1"), ("host", "a:1")])));
        assert!(!same_origin(&headers(&[("origin", "http://evil:1"), ("host", "a:1")])));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "a:1")])));
        assert!(!same_origin(&headers(&[("host", "a:1")])));
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_must_be_64_hex_digits() {
        let id = "ab".repeat(32);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("x=1; {COOKIE}={id}; y=2")).unwrap());
        assert_eq!(session_id(&h), Some(id));
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}=short")).unwrap());
        assert_eq!(session_id(&h), None);
    }

    #[test]
    fn sessions_end_and_only_their_hash_is_kept() {
        let sessions = Sessions::default();
        let id = sessions.start("fd_token").unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(sessions.token(&id).as_deref(), Some("fd_token"));
        assert!(!sessions.sessions.lock().unwrap().contains_key(&[0u8; 32]));
        assert!(sessions.sessions.lock().unwrap().contains_key(&key(&id)));
        sessions.end(&id);
        assert_eq!(sessions.token(&id), None);
    }

    #[test]
    fn failed_sign_ins_wait_longer_each_time_up_to_a_limit() {
        let sessions = Sessions::default();
        let client = IpAddr::from([10, 0, 0, 1]);
        assert_eq!(sessions.backoff(client), Duration::ZERO);
        let mut waits = Vec::new();
        for _ in 0..8 {
            sessions.failed(client);
            waits.push(sessions.backoff(client).as_millis());
        }
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(sessions.backoff(IpAddr::from([10, 0, 0, 2])), Duration::ZERO, "per client");
        sessions.succeeded(client);
        assert_eq!(sessions.backoff(client), Duration::ZERO);
    }

    #[test]
    fn forms_are_decoded_and_next_is_only_ever_our_own_page() {
        let form = serde_urlencoded_form(b"token=fd_a%2Bb+c&next=%2Fqa").unwrap();
        assert_eq!(form.token, "fd_a+b c");
        assert_eq!(safe_next(form.next.as_deref()), "/qa");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert!(serde_urlencoded_form(b"token=%zz").is_none());
        assert!(serde_urlencoded_form(b"next=/").is_none());
    }

    #[test]
    fn axes_end_on_round_quarters() {
        assert_eq!(nice_max(0.0), 4.0);
        assert_eq!(nice_max(32.0), 40.0);
        assert_eq!(nice_max(525.0), 800.0);
        assert_eq!(nice_max(788.0), 800.0);
        assert_eq!(nice_max(107.0), 200.0);
        assert_eq!(nice_max(3.0), 4.0);
    }

    #[test]
    fn event_data_is_shown_as_escaped_pairs() {
        let text = readable(&serde_json::json!({"a_b": "<x>", "n": {"m": 1}, "l": ["p"], "z": null}));
        assert_eq!(
            text,
            "<span class=\"pair\">a b: &lt;x&gt;</span> · <span class=\"pair\">n m: 1</span> · <span class=\"pair\">l 1: p</span>"
        );
    }
}
