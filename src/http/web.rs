//! The pages: the duty board (`/`) and a contact's page on it (`/contacts/{id}`, in `contact`),
//! the quality assurance pages (`/qa`), the children pages (`/children`, in `children`), a
//! referrer's pages (`/referrals`, in `referrer`), and sign-in.
//!
//! Who signs in ([`auth::may_sign_in`]): the duty board's readers; referrers, who land on
//! "My referrals" and open only their own pages; receiving teams, whose board (`/`) is the live
//! list of the handovers to their team and who answer them on the contact's page.
//!
//! # Sessions
//!
//! `EventSource` cannot send an `Authorization` header and a token must never sit in a URL,
//! so the pages sign in once: `POST /signin` takes the token pasted into a form and answers
//! with a session cookie (`HttpOnly`, `SameSite=Strict`, and `Secure` unless configured off,
//! as `--demo` does on loopback; always behind https). The session id is 256 random bits;
//! the server keeps only its SHA-256, in memory, with the token it stands for and an expiry. Every request authenticates that token afresh, so revoking the
//! token ends its sessions at once; a restart ends them all. A request that changes anything
//! with the cookie must also say it comes from these pages (`Sec-Fetch-Site: same-origin`, or
//! an `Origin` naming this host): [`same_origin`]. Failed sign-ins are limited per address and
//! per token id and answered at once, 429 past the limit (`super::session`).
//!
//! # Pages
//!
//! Server-rendered HTML from askama templates in `web/templates/` (`layout.html` around
//! `signin.html`, `board.html`, `qa.html` with `charts.html`, `contact.html`, `children.html`,
//! `child.html` and `message.html`), compiled into the binary and checked by the compiler
//! against the structs here and in `children` (`SigninPage`, `BoardPage`, `QaPage`,
//! `ContactPage`, `ChildrenPage`, `ChildPage`, `MessagePage`). Every `{{ value }}`
//! is HTML-escaped by the engine; nothing here writes markup by hand. The board's one script
//! (`/assets/board.js`) draws the live queue from `GET /v1/queue/stream`; the QA page's charts
//! are SVG whose geometry is computed here (`BarChart`, `AcrossChart`) and drawn by
//! `charts.html`. Every asset is compiled into the binary from `web/`; the content security
//! policy allows nothing else (no inline script or style, nothing from another origin).
//!
//! # Forms
//!
//! The sign-in form arrives through [`PageForm`]: the same-origin check first, then axum's
//! `Form`, its refusals (not from this site, too long, not a form) answered as the sign-in page
//! saying why, with 403, 413 or 400. Sign-out posts no fields and checks the origin itself.
//! The audit finding form is sent as JSON by `qa.js` to the API, which answers problem+json;
//! so is every action on a contact's page, by `contact.js`, with the version the page shows as
//! `expected_version` (one command path: the API's).

mod children;
mod contact;
mod referrer;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use eventlog::{Actor, Role};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_stream::StreamExt as _;
use ulid::Ulid;

use super::error::ApiError;
use super::extract::ContactPath;
use super::figures::parse_date;
use super::session::{clear_cookie, is_https, same_origin, session_cookie, session_id, token_id};
use super::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{AppError, Read};
use crate::auth::{self, ReadKind};

/// The pages' policy: their own script, style and images, their own API, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const BOARD_JS: &str = include_str!("../../web/board.js");
const QA_JS: &str = include_str!("../../web/qa.js");
const CONTACT_JS: &str = include_str!("../../web/contact.js");
const REFERRAL_JS: &str = include_str!("../../web/referral.js");
const CHILDREN_JS: &str = include_str!("../../web/children.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");
const ICON_SVG: &str = include_str!("../../web/icon.svg");

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

/// The pages and their assets, each with its OpenAPI path; the sign-in and sign-out form
/// posts are the pages' own, not part of the API, and are left out of the document.
pub fn routes() -> OpenApiRouter<AppState> {
    use axum::routing::post;
    OpenApiRouter::new()
        .routes(routes!(board))
        .routes(routes!(signin_page))
        .route("/signin", post(signin).layer(DefaultBodyLimit::max(FORM_LIMIT)))
        .route("/signout", post(signout))
        .routes(routes!(qa))
        .routes(routes!(qa_contact))
        .routes(routes!(contact::contact_page))
        .routes(routes!(children::children_page))
        .routes(routes!(children::child_page))
        .routes(routes!(board_js))
        .routes(routes!(qa_js))
        .routes(routes!(contact_js))
        .routes(routes!(referral_js))
        .routes(routes!(referrer::my_referrals))
        .routes(routes!(referrer::referral_form))
        .routes(routes!(referrer::referral_page))
        .routes(routes!(children_js))
        .routes(routes!(style_css))
        .routes(routes!(icon_svg))
        .layer(middleware::from_fn(page_headers))
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

/// `GET /assets/children.js`
#[utoipa::path(get, path = "/assets/children.js", tag = "pages", operation_id = "children_js",
    summary = "The children pages' link and unlink script", description = "From the binary. No token needed.",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript; charset=utf-8", body = String)))]
pub async fn children_js() -> Response {
    asset(CHILDREN_JS, "text/javascript; charset=utf-8")
}

/// `GET /assets/qa.js`
#[utoipa::path(get, path = "/assets/qa.js", tag = "pages", operation_id = "qa_js",
    summary = "The audit finding form's script", description = "From the binary. No token needed.",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript; charset=utf-8", body = String)))]
pub async fn qa_js() -> Response {
    asset(QA_JS, "text/javascript; charset=utf-8")
}

/// `GET /assets/contact.js`
#[utoipa::path(get, path = "/assets/contact.js", tag = "pages", operation_id = "contact_js",
    summary = "The contact page's script", description = "From the binary. No token needed.",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript; charset=utf-8", body = String)))]
pub async fn contact_js() -> Response {
    asset(CONTACT_JS, "text/javascript; charset=utf-8")
}

/// `GET /assets/referral.js`
#[utoipa::path(get, path = "/assets/referral.js", tag = "pages", operation_id = "referral_js",
    summary = "The referrer pages' script", description = "From the binary. No token needed.",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript; charset=utf-8", body = String)))]
pub async fn referral_js() -> Response {
    asset(REFERRAL_JS, "text/javascript; charset=utf-8")
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

fn to_signin(next: &str) -> Response {
    Redirect::to(&format!("/signin?next={next}")).into_response()
}

/// The session of a stream (the live queue, the global log) opened with a session cookie
/// rather than a token: such a stream also ends when the session does (sign-out, expiry) and
/// after `stream_lifetime`, and tells the browser to come back after a second
/// ([`hold_to_session`]). `EventSource` then reconnects by itself with `Last-Event-ID` and gets
/// exactly what it missed, so a long-open board is re-authorised regularly and never falls
/// behind.
pub fn stream_session(request: &Request) -> Option<StreamSession> {
    let is_stream = matches!(request.uri().path(), "/v1/queue/stream" | "/v1/events/stream");
    let by_cookie = !request.headers().contains_key(header::AUTHORIZATION);
    if is_stream && by_cookie { session_id(request.headers()).map(StreamSession) } else { None }
}

/// A stream's session cookie, from [`stream_session`], for [`hold_to_session`].
pub struct StreamSession(String);

impl std::fmt::Debug for StreamSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session id is a credential: never in a log line.
        f.write_str("StreamSession(..)")
    }
}

/// The answer to a stream opened with a session ([`stream_session`]): a successful one ends
/// when the session does, as [`stream_session`] says.
pub fn hold_to_session(app: AppState, StreamSession(session): StreamSession, response: Response) -> Response {
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

/// What every page has around its content (`web/templates/layout.html`): its title and, once
/// signed in, who that is and the pages they may open.
struct Chrome {
    title: &'static str,
    who: Option<Who>,
    on_board: bool,
    on_qa: bool,
    on_children: bool,
    on_referrals: bool,
    on_new_referral: bool,
}

struct Who {
    id: String,
    role: String,
    /// May open the QA page (read the figures).
    qa: bool,
    /// May search for children.
    children: bool,
    /// A referrer: its pages are "My referrals" and the referral form, not the board.
    referrer: bool,
    /// A receiving team: the board is its handovers.
    receiving_team: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Board,
    Qa,
    Children,
    Referrals,
    NewReferral,
    None,
}

impl Chrome {
    fn new(title: &'static str, actor: Option<&Actor>, nav: Nav) -> Self {
        Chrome {
            title,
            who: actor.map(|a| Who {
                id: a.id.clone(),
                role: a.role.to_string().replace('_', " "),
                qa: auth::may_read(a.role, ReadKind::Metrics),
                children: auth::may_read(a.role, ReadKind::Children),
                referrer: a.role == Role::Referrer,
                receiving_team: a.role == Role::ReceivingTeam,
            }),
            on_board: nav == Nav::Board,
            on_qa: nav == Nav::Qa,
            on_children: nav == Nav::Children,
            on_referrals: nav == Nav::Referrals,
            on_new_referral: nav == Nav::NewReferral,
        }
    }
}

/// A page answering with `status`: the template rendered (every value in it escaped).
fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            response
        }
        Err(e) => ApiError::internal(format!("rendering a page: {e}")).into_response(),
    }
}

/// A page that only says something: a refusal, a contact not found, a bad period.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    chrome: Chrome,
    text: &'a str,
    /// A bad period on the QA page: shown as an alert, with a way back to the default one.
    period_help: bool,
}

fn message(status: StatusCode, chrome: Chrome, text: &str) -> Response {
    render(status, &MessagePage { chrome, text, period_help: false })
}

// ---------------------------------------------------------------------------------------
// Sign-in

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only this site's own pages may be a `next`: the board, the QA and children pages, a
/// contact's page (`/contacts/` and a ULID, written back as the ULID reads), and a referrer's
/// pages (`/referrals`, `/referrals/new`, `/referrals/` and a ULID).
fn safe_next(next: Option<&str>) -> std::borrow::Cow<'static, str> {
    match next {
        Some("/qa") => "/qa".into(),
        Some("/children") => "/children".into(),
        Some("/referrals") => "/referrals".into(),
        Some("/referrals/new") => "/referrals/new".into(),
        Some(path) => {
            if let Some(Ok(id)) = path.strip_prefix("/contacts/").map(str::parse::<Ulid>) {
                format!("/contacts/{id}").into()
            } else if let Some(Ok(id)) = path.strip_prefix("/referrals/").map(str::parse::<Ulid>) {
                format!("/referrals/{id}").into()
            } else {
                "/".into()
            }
        }
        None => "/".into(),
    }
}

/// Where a signed-in `role` goes after sign-in, given the safe `next`: a referrer only to its
/// own pages ("My referrals" unless it asked for one of them), everyone else anywhere but those.
fn landing(role: Role, next: &str) -> String {
    let referrer_page = next == "/referrals" || next.starts_with("/referrals/");
    match (role == Role::Referrer, referrer_page) {
        (true, true) | (false, false) => next.to_owned(),
        (true, false) => "/referrals".to_owned(),
        (false, true) => "/".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage<'a> {
    chrome: Chrome,
    next: &'a str,
    problem: Option<&'a str>,
}

fn signin_form(status: StatusCode, next: &str, problem: Option<&str>) -> Response {
    render(status, &SigninPage { chrome: Chrome::new("Sign in", None, Nav::None), next, problem })
}

/// `GET /signin`
#[utoipa::path(
    get,
    path = "/signin",
    tag = "pages",
    operation_id = "signin_page",
    summary = "The sign-in page",
    description = "A form to paste a token into. `POST /signin` (a form post from this page, not part of the API) \
        exchanges it for a session cookie (HttpOnly, SameSite=Strict); failed sign-ins are limited per address and per token id (429 with Retry-After past the limit).",
    params(("next" = Option<String>, Query, description = "`/`, `/qa`, `/children`, a contact's page `/contacts/{id}`, or a referrer's `/referrals`, `/referrals/new` or `/referrals/{id}`: where to go once signed in (anything else: `/`; a referrer goes only to its own pages, `/referrals` by default).")),
    responses((status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String))
)]
pub async fn signin_page(Query(q): Query<NextQuery>) -> Response {
    signin_form(StatusCode::OK, &safe_next(q.next.as_deref()), None)
}

/// A form posted by the pages: refused unless it comes from this site (the CSRF defence, before
/// the body is read), then parsed by axum's [`Form`]. The only form the pages post to the
/// server is the sign-in, so a refusal is the sign-in page saying why ([`FormRefused`]).
#[derive(Debug)]
pub struct PageForm<T>(pub T);

/// Why a page's form was refused, answered as the sign-in page with the reason.
#[derive(Debug)]
pub enum FormRefused {
    /// 403: not from this site's own pages.
    CrossSite,
    /// 413: more than [`FORM_LIMIT`] bytes.
    TooLarge,
    /// 400: not a form, or a field missing.
    Malformed,
}

/// The most a sign-in form may weigh: a token of at most 256 characters and a `next`.
pub const FORM_LIMIT: usize = 4096;

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = FormRefused;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !same_origin(request.headers()) {
            return Err(FormRefused::CrossSite);
        }
        match Form::<T>::from_request(request, state).await {
            Ok(Form(form)) => Ok(PageForm(form)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(FormRefused::TooLarge),
            Err(_) => Err(FormRefused::Malformed),
        }
    }
}

impl IntoResponse for FormRefused {
    fn into_response(self) -> Response {
        let (status, problem) = match self {
            FormRefused::CrossSite => (StatusCode::FORBIDDEN, "Sign in from this site's own sign-in page."),
            FormRefused::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "That was too long."),
            FormRefused::Malformed => (StatusCode::BAD_REQUEST, "Paste a token."),
        };
        signin_form(status, "/", Some(problem))
    }
}

#[derive(Debug, Deserialize)]
pub struct SigninForm {
    token: String,
    next: Option<String>,
}

/// `POST /signin` (form): a good token gets a session cookie and goes on; a bad one waits.
async fn signin(
    State(app): State<AppState>,
    connection: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    headers: HeaderMap,
    PageForm(form): PageForm<SigninForm>,
) -> Response {
    let client = connection.map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let next = &*safe_next(form.next.as_deref());
    if let Some(wait) = app.sessions().address_refused(client) {
        tracing::warn!(address = %client, "sign-in refused: too many failures from this address");
        return too_many(next, wait);
    }
    let token = form.token.trim();
    let actor = (!token.is_empty() && token.len() <= 256).then(|| app.tokens().authenticate(token)).flatten();
    let Some(actor) = actor else {
        let id = token_id(token);
        // The address and the token's id, never the secret.
        tracing::warn!(address = %client, token_id = id.unwrap_or("-"), "failed sign-in");
        app.metrics().failed_auth.inc();
        if let Some(wait) = app.sessions().failed(client, id) {
            return too_many(next, wait);
        }
        return signin_form(
            StatusCode::UNAUTHORIZED,
            next,
            Some("That token is unknown or has been revoked. Check it and try again."),
        );
    };
    if !auth::may_sign_in(actor.role) {
        let problem = format!("A {} token cannot open these pages.", actor.role);
        return signin_form(StatusCode::FORBIDDEN, next, Some(&problem));
    }
    let next = &*landing(actor.role, next);
    let Some(id) = app.sessions().start(token) else {
        return signin_form(StatusCode::INTERNAL_SERVER_ERROR, next, Some("No session could be made; try again."));
    };
    tracing::info!(actor = %actor.id, "signed in to the pages");
    let mut response = Redirect::to(next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session_cookie(&id, is_https(&headers) || app.config().secure_cookie)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// 429 with `Retry-After`: too many failed sign-ins from this address or for this token.
fn too_many(next: &str, wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let problem = format!("Too many failed sign-ins. Wait {seconds} seconds, then try again.");
    let mut response = signin_form(StatusCode::TOO_MANY_REQUESTS, next, Some(&problem));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `POST /signout` (a form with no fields): ends the session and clears the cookie.
async fn signout(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return signin_form(StatusCode::FORBIDDEN, "/", Some("Sign out from this site's own pages."));
    }
    if let Some(id) = session_id(&headers) {
        app.sessions().end(&id);
    }
    let mut response = Redirect::to("/signin").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&clear_cookie(is_https(&headers) || app.config().secure_cookie)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ---------------------------------------------------------------------------------------
// The duty board

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    chrome: Chrome,
}

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
    if !auth::may_open_board_page(actor.role) {
        let chrome = Chrome::new("Duty board", Some(&actor), Nav::None);
        return message(StatusCode::FORBIDDEN, chrome, REFERRER_ELSEWHERE);
    }
    let title = if actor.role == Role::ReceivingTeam { "Handovers to your team" } else { "Duty board" };
    render(StatusCode::OK, &BoardPage { chrome: Chrome::new(title, Some(&actor), Nav::Board) })
}

/// What a referrer is told on the duty team's pages.
const REFERRER_ELSEWHERE: &str =
    "This page is the duty team's. Your contacts are under \"My referrals\"; a new one is \"Make a referral\".";

// ---------------------------------------------------------------------------------------
// Quality assurance

#[derive(Debug, Deserialize)]
pub struct QaQuery {
    from: Option<String>,
    to: Option<String>,
    /// One locality's contacts only (empty or absent: every contact).
    locality: Option<String>,
    n: Option<String>,
    seed: Option<String>,
    recorded_late: Option<String>,
}

/// `web/templates/qa.html`: the figures' tiles and charts, the audit sample, the late list.
#[derive(Template)]
#[template(path = "qa.html")]
struct QaPage {
    chrome: Chrome,
    from: NaiveDate,
    to: NaiveDate,
    /// (label, value)
    tiles: Vec<(String, String)>,
    channels: BarChart,
    decision_time: BarChart,
    assessment_team: BarChart,
    outcomes: AcrossChart,
    conversion: BarChart,
    sample: Option<Sample>,
    late: Vec<LateRow>,
    /// Whether the viewer may open each late contact's audit trail.
    late_links: bool,
    late_window_hours: u32,
    /// Referrer feedback per week: (week, answers, listened to, knows next steps), the
    /// averages to one decimal place ("–" without answers).
    feedback: Vec<(String, u64, String, String)>,
    /// The period's (answers, listened to, knows next steps).
    feedback_total: (u64, String, String),
    /// Practice figures: (label, value).
    practice: Vec<(String, String)>,
    /// Decisions by level of need: (level, decisions, referrals among them).
    levels: Vec<(String, u64, u64)>,
    devon: DevonView,
    /// The duty debriefs of the period's days, by day; `None` for a viewer who may not read
    /// them.
    debriefs: Option<Vec<DebriefRow>>,
    /// The locality shown ("" for every contact) and those that may be chosen.
    locality: String,
    /// The outcome columns' headings (see [`table_outcomes`]).
    outcome_labels: Vec<String>,
    localities: Vec<String>,
    /// The period's contacts by locality.
    by_locality: Vec<LocalityView>,
    /// Outcomes, consent and conversion by referral source, week by week then the period;
    /// only the sources with contacts.
    by_source: Vec<SourceWeekView>,
    consultations: ConsultationsView,
}

/// One row of the QA page's locality table.
struct LocalityView {
    locality: String,
    contacts: u64,
    children: u64,
    decided: u64,
    /// Counts in [`table_outcomes`] order.
    outcomes: Vec<u64>,
    referrals: u64,
    conversion: String,
}

impl LocalityView {
    fn of(row: &projections::figures::volumes::LocalityRow) -> LocalityView {
        LocalityView {
            locality: row.locality.clone(),
            contacts: row.contacts,
            children: row.children,
            decided: row.decided,
            outcomes: table_outcomes().map(|k| row.outcomes.get(k)).collect(),
            referrals: row.referrals,
            conversion: share_text(row.conversion_rate),
        }
    }
}

/// One (week, referral source) row of the QA page's by-source table.
struct SourceWeekView {
    /// The ISO week, or "The period".
    week: String,
    source: &'static str,
    source_description: &'static str,
    contacts: u64,
    /// Counts in [`table_outcomes`] order.
    outcomes: Vec<u64>,
    referrals: u64,
    conversion: String,
    consent_given: String,
    consent_not_given: u64,
    consent_overridden: u64,
}

impl SourceWeekView {
    /// The rows of one week (or of the period) with contacts, in the census order.
    fn rows(week: &str, sources: &projections::figures::Keyed<projections::figures::volumes::SourceRow>) -> Vec<Self> {
        sources
            .0
            .iter()
            .filter(|(_, row)| row.contacts > 0)
            .map(|(code, row)| SourceWeekView {
                week: week.to_owned(),
                source: code,
                source_description: events::schema::SourceCode::ALL
                    .iter()
                    .find(|s| s.as_str() == *code)
                    .map_or("", |s| s.description()),
                contacts: row.contacts,
                outcomes: table_outcomes().map(|k| row.outcomes.get(k)).collect(),
                referrals: row.referrals,
                conversion: share_text(row.conversion_rate),
                consent_given: format!("{} ({})", row.consent.get("given"), share_text(row.consent_given_share)),
                consent_not_given: row.consent.get("not_given"),
                consent_overridden: row.consent.get("overridden"),
            })
            .collect()
    }
}

/// The outcome columns of the locality and source tables: every outcome, then `undecided`.
fn table_outcomes() -> impl Iterator<Item = &'static str> {
    events::schema::Outcome::ALL.iter().map(|o| o.as_str()).chain([projections::figures::volumes::UNDECIDED])
}

fn share_text(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |f| format!("{:.0}%", f * 100.0))
}

/// The period's professional consultations on the QA page (docs/FIGURES.md, "Professional
/// consultations"): counts only, no child.
struct ConsultationsView {
    total: u64,
    followed: u64,
    followed_share: String,
    /// (week, consultations, followed by a contact)
    weeks: Vec<(String, u64, u64)>,
    /// (source code, its census description, consultations), the codes with any.
    sources: Vec<(&'static str, &'static str, u64)>,
}

impl ConsultationsView {
    fn of(f: &projections::figures::ConsultationFigures) -> ConsultationsView {
        ConsultationsView {
            total: f.consultations,
            followed: f.followed_by_contact,
            followed_share: f.followed_share.map_or("–".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            weeks: f.by_week.iter().map(|w| (w.week.week.clone(), w.consultations, w.followed_by_contact)).collect(),
            sources: events::schema::SourceCode::ALL
                .iter()
                .map(|c| (c.as_str(), c.description(), f.by_source.get(c.as_str())))
                .filter(|(_, _, n)| *n > 0)
                .collect(),
        }
    }
}

/// One duty debrief on the QA page.
struct DebriefRow {
    date: NaiveDate,
    team: String,
    capacity: String,
    recorded: String,
    multi_agency_value: String,
    notes: String,
}

impl DebriefRow {
    fn of(d: &projections::model::DutyDebrief) -> DebriefRow {
        let data = &d.data;
        let text = |t: &Option<String>| t.clone().unwrap_or_else(|| "–".to_owned());
        let capacity = match (data.staff_on_duty, data.staff_expected) {
            (Some(on), Some(expected)) => format!("{on} of {expected}"),
            (Some(on), None) => format!("{on}"),
            (None, Some(expected)) => format!("? of {expected}"),
            (None, None) => "–".to_owned(),
        };
        DebriefRow {
            date: data.date,
            team: data.team.clone(),
            capacity,
            recorded: text(&data.recorded),
            multi_agency_value: text(&data.multi_agency_value),
            notes: text(&data.notes),
        }
    }
}

/// Devon's appendix table (docs/FIGURES.md, "Devon's table"), formatted: weekly averages of
/// children by weekday and channel, and the outcome split.
struct DevonView {
    weeks: String,
    channels: Vec<&'static str>,
    /// (weekday, children by channel, children, contacts)
    rows: Vec<(&'static str, Vec<String>, String, String)>,
    outcomes: Vec<&'static str>,
    /// (weekday, children by outcome)
    outcome_rows: Vec<(&'static str, Vec<String>)>,
    totals: Vec<u64>,
    shares: Vec<String>,
}

impl DevonView {
    fn of(t: &projections::figures::DevonTable) -> DevonView {
        let avg = |v: f64| format!("{v:.1}");
        let all = std::iter::once(&t.weekly_average);
        let label =
            |r: &projections::figures::devon::DevonRow| if r.weekday == "all" { "Weekly average" } else { r.weekday };
        DevonView {
            weeks: avg(t.weeks),
            channels: CHANNELS.iter().map(|(_, l)| *l).collect(),
            rows: t
                .by_weekday
                .iter()
                .chain(all.clone())
                .map(|r| {
                    (
                        label(r),
                        CHANNELS
                            .iter()
                            .map(|(k, _)| avg(r.children_by_channel.get(k).copied().unwrap_or(0.0)))
                            .collect(),
                        avg(r.children),
                        avg(r.contacts),
                    )
                })
                .collect(),
            outcomes: DEVON_OUTCOMES.iter().map(|(_, l)| *l).collect(),
            outcome_rows: t
                .by_weekday
                .iter()
                .chain(all)
                .map(|r| {
                    (
                        label(r),
                        DEVON_OUTCOMES.iter().map(|(k, _)| avg(r.outcomes.get(k).copied().unwrap_or(0.0))).collect(),
                    )
                })
                .collect(),
            totals: DEVON_OUTCOMES.iter().map(|(k, _)| t.totals.outcomes.get(k)).collect(),
            shares: DEVON_OUTCOMES
                .iter()
                .map(|(k, _)| {
                    t.totals
                        .outcome_shares
                        .get(k)
                        .copied()
                        .flatten()
                        .map_or("–".to_owned(), |f| format!("{:.0}%", f * 100.0))
                })
                .collect(),
        }
    }
}

/// The outcomes of Devon's table, in the schema's order, `not_accepted` ("None / Rejected")
/// included.
const DEVON_OUTCOMES: &[(&str, &str)] = &[
    ("strategy_discussion", "Strategy discussion (s47)"),
    ("assessment", "Assessment (s17)"),
    ("early_help", "Early help"),
    ("advice_and_signpost", "Advice and signposting"),
    ("no_further_action", "No further action"),
    ("existing_case", "Existing case"),
    ("not_accepted", "Not accepted"),
    ("undecided", "Not yet decided"),
];

struct Sample {
    rows: Vec<SampleRow>,
    n: usize,
    seed: u64,
    only_late: bool,
}

struct SampleRow {
    id: Ulid,
    received: String,
    channel: String,
    source: String,
    source_description: &'static str,
    outcome: String,
    level: String,
    hours: String,
}

/// A contact whose first decision or acceptance was recorded late (docs/FIGURES.md,
/// "Recorded late"): when each happened and when it was entered.
struct LateRow {
    id: Ulid,
    received: String,
    decision: String,
    decision_entered: String,
    accepted: String,
    acceptance_entered: String,
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
        ("from" = Option<String>, Query, format = Date, description = "First London date of receipt, YYYY-MM-DD (default: 27 days before `to`)."),
        ("to" = Option<String>, Query, format = Date, description = "Last London date of receipt, YYYY-MM-DD (default: today)."),
        ("n" = Option<u32>, Query, description = "Audit sample size, 1 to 50 (default 10)."),
        ("seed" = Option<u64>, Query, description = "Audit sample seed (default: the `to` date as YYYYMMDD)."),
        ("recorded_late" = Option<bool>, Query, description = "`true`: draw the audit sample only from the contacts whose decision or acceptance was recorded late (as `GET /v1/audit/sample`)."),
        ("locality" = Option<String>, Query, description = "Every figure, table and the audit sample of one locality's contacts (a configured locality, `other` or `unknown`, as `?locality=` on the figures); empty or absent: every contact. Any other name: a page saying so (422)."),
    ),
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn qa(State(app): State<AppState>, headers: HeaderMap, Query(q): Query<QaQuery>) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/qa") };
    let chrome = || Chrome::new("Quality assurance", Some(&actor), Nav::Qa);
    if !auth::may_read(actor.role, ReadKind::Metrics) {
        return message(StatusCode::FORBIDDEN, chrome(), &format!("A {} may not read the figures.", actor.role));
    }
    // As the figures' API does: every contact acknowledged before the page was asked for is in
    // its figures (without this, one received a moment before could be missing).
    if let Err(e) = crate::http::queue::require_current(&app).await {
        return message(StatusCode::SERVICE_UNAVAILABLE, chrome(), &e.to_string());
    }
    let (from, to) = match resolve_period(q.from.as_deref(), q.to.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            let text = e.to_string();
            return render(StatusCode::BAD_REQUEST, &MessagePage { chrome: chrome(), text: &text, period_help: true });
        }
    };
    let n = q.n.as_deref().and_then(|n| n.parse::<usize>().ok()).filter(|n| (1..=50).contains(n)).unwrap_or(10);
    let default_seed = to.format("%Y%m%d").to_string().parse::<u64>().unwrap_or(1);
    let seed = q.seed.as_deref().and_then(|s| s.parse::<u64>().ok()).unwrap_or(default_seed);
    let only_late = q.recorded_late.as_deref() == Some("true");
    let localities = &app.config().localities;
    let locality = match super::figures::locality(localities, q.locality.as_deref().filter(|l| !l.is_empty())) {
        Ok(l) => l,
        Err(e) => {
            let text = e.to_string();
            return render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &MessagePage { chrome: chrome(), text: &text, period_help: true },
            );
        }
    };
    let page = {
        let model = app.live().model();
        let policy = app.live().policy();
        // Every figure on the page counts the chosen locality's contacts only.
        let facts = || localities.filter(model.facts(), locality);
        let timeliness = serde_json::to_value(projections::figures::timeliness(facts(), from, to, policy, Utc::now()))
            .unwrap_or_default();
        let volumes_typed = projections::figures::volumes(
            facts(),
            localities.filter_consultations(model.consultations(Some(from), Some(to)), locality),
            from,
            to,
            localities,
        );
        let volumes = serde_json::to_value(&volumes_typed).unwrap_or_default();
        let practice = projections::figures::practice(facts(), from, to, &policy.calendar, Utc::now());
        let devon = DevonView::of(&projections::figures::devon_table(facts(), from, to));
        let hours: Vec<f64> = facts()
            .filter(|f| (from..=to).contains(&projections::time::london_date(f.received_at)))
            .filter_map(|f| f.first_decision_at.map(|d| hours_between(f.received_at, d)))
            .collect();
        let is_late =
            |f: &projections::facts::ContactFacts| projections::figures::timeliness::is_recorded_late(f, policy);
        let sample = auth::may_read(actor.role, ReadKind::AuditSample).then(|| Sample {
            rows: projections::figures::audit_sample_of(facts(), from, to, n, seed, |f| !only_late || is_late(f))
                .iter()
                .filter_map(|id| model.contact_facts(*id))
                .map(SampleRow::of)
                .collect(),
            n,
            seed,
            only_late,
        });
        let mut late: Vec<&projections::facts::ContactFacts> =
            facts().filter(|f| projections::figures::in_period(f, from, to) && is_late(f)).collect();
        late.sort_by_key(|f| (f.received_at, f.contact_id));
        let late = late.into_iter().map(|f| LateRow::of(f, policy)).collect();
        let page = qa_page(chrome(), from, to, &timeliness, &volumes, &hours, sample, late, policy.late_entry_hours);
        let debriefs = auth::may_read(actor.role, ReadKind::DutyDebriefs)
            .then(|| model.duty_debriefs(Some(from), Some(to)).into_iter().map(DebriefRow::of).collect());
        let by_source = volumes_typed
            .by_week
            .iter()
            .flat_map(|w| SourceWeekView::rows(&w.week.week, &w.by_referral_source))
            .chain(SourceWeekView::rows("The period", &volumes_typed.by_referral_source))
            .collect();
        let consultations = ConsultationsView::of(&volumes_typed.consultations);
        QaPage {
            practice: practice_rows(&practice),
            levels: level_rows(&practice),
            devon,
            debriefs,
            locality: locality.unwrap_or_default().to_owned(),
            localities: localities.names().map(str::to_owned).collect(),
            by_locality: volumes_typed.by_locality.iter().map(LocalityView::of).collect(),
            by_source,
            consultations,
            ..page
        }
    };
    let feedback = projections::figures::feedback::referrer_feedback(
        localities.filter(app.live().model().facts(), locality),
        from,
        to,
    );
    let average = |a: Option<f64>| a.map_or_else(|| "–".to_owned(), |a| format!("{a:.1}"));
    let page = QaPage {
        late_links: auth::may_read(actor.role, ReadKind::ContactAudit),
        feedback: feedback
            .by_week
            .iter()
            .map(|w| {
                let a = &w.answers;
                (w.week.week.clone(), a.answers, average(a.listened_to_average), average(a.knows_next_steps_average))
            })
            .collect(),
        feedback_total: (
            feedback.totals.answers,
            average(feedback.totals.listened_to_average),
            average(feedback.totals.knows_next_steps_average),
        ),
        ..page
    };
    render(StatusCode::OK, &page)
}

/// The practice figures as (label, value) rows (docs/FIGURES.md, "Practice").
fn practice_rows(p: &projections::figures::Practice) -> Vec<(String, String)> {
    let share = |v: Option<f64>| v.map_or("–".to_owned(), |f| format!("{:.0}%", f * 100.0));
    vec![
        (
            format!("Consent recorded (given, not given or overridden; of {} contacts)", p.contacts),
            format!("{} ({})", p.consent.recorded, share(p.consent.share_recorded)),
        ),
        ("Consent overridden".to_owned(), p.consent.overridden.to_string()),
        (
            "Referrer informed within one working day (of contacts)".to_owned(),
            format!(
                "{} ({})",
                p.referrer_informed.within_one_working_day,
                share(p.referrer_informed.share_within_one_working_day)
            ),
        ),
        ("Referrer not yet informed".to_owned(), p.referrer_informed.not_informed.to_string()),
        (
            format!("Decisions revised (of {} decided)", p.decided),
            format!("{} ({}), {} revisions", p.revised.count, share(p.revised.share_of_decided), p.revised.revisions),
        ),
        (
            "Action plans agreed (contacts, of decided)".to_owned(),
            format!("{} ({})", p.action_plans.contacts, share(p.action_plans.share_of_decided)),
        ),
    ]
}

/// Decisions by level of need, each with how many were referrals.
fn level_rows(p: &projections::figures::Practice) -> Vec<(String, u64, u64)> {
    p.by_level_of_need
        .0
        .iter()
        .map(|(level, row)| {
            let referrals = row.outcomes.get("strategy_discussion") + row.outcomes.get("assessment");
            let label = if *level == "unknown" { "Not recorded".to_owned() } else { format!("Level {level}") };
            (label, row.decisions, referrals)
        })
        .collect()
}

/// As the figures' own period: the 28 days up to `to` (default today), at most three years.
fn resolve_period(from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = parse_date("to", to)?.unwrap_or_else(|| projections::time::london_date(Utc::now()));
    let from = parse_date("from", from)?.unwrap_or(to - chrono::Duration::days(27));
    if from > to {
        return Err(ApiError::bad_param("from", "must not be after `to`"));
    }
    if (to - from).num_days() > 3 * 366 {
        return Err(ApiError::bad_param("from", "a period is at most three years"));
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
fn qa_page(
    chrome: Chrome,
    from: NaiveDate,
    to: NaiveDate,
    timeliness: &Value,
    volumes: &Value,
    decision_hours: &[f64],
    sample: Option<Sample>,
    late: Vec<LateRow>,
    late_window_hours: u32,
) -> QaPage {
    // Headline numbers.
    let t = timeliness;
    let v = &volumes["totals"];
    let decided = num(&t["decided"]);
    let of_due =
        |key: &str| format!("(of {decided} decided and {} undecided past due)", num(&t["undecided_past_due"][key]));
    let tiles = vec![
        ("Contacts".to_owned(), format!("{}", num(&t["contacts"]))),
        (
            format!("Decided within one working day {}", of_due("one_working_day")),
            pct(&t["share_within_one_working_day"]),
        ),
        (format!("Decided within 24 hours {}", of_due("within_24h")), pct(&t["share_within_24h"])),
        ("Median hours to decision".to_owned(), hrs(&t["decision_hours"]["median"])),
        ("Median hours to the Assessment Team".to_owned(), hrs(&t["to_assessment_team"]["hours"]["median"])),
        (
            format!(
                "Median hours to the Assessment Team, immediate referrals ({} accepted)",
                num(&t["to_assessment_team"]["immediate"]["count"])
            ),
            hrs(&t["to_assessment_team"]["immediate"]["hours"]["median"]),
        ),
        (
            format!(
                "Median hours to the Assessment Team, other referrals ({} accepted)",
                num(&t["to_assessment_team"]["other"]["count"])
            ),
            hrs(&t["to_assessment_team"]["other"]["hours"]["median"]),
        ),
        ("Became referrals".to_owned(), pct(&v["conversion_rate"])),
        ("Threshold met (referrals of decided contacts)".to_owned(), pct(&v["threshold_met_share"])),
        ("Level of need 3 or 4 (of decided contacts)".to_owned(), pct(&v["level_3_or_4_share"])),
        (
            "Recorded late: decisions / acceptances".to_owned(),
            format!("{} / {}", num(&t["recorded_late"]["decisions"]), num(&t["recorded_late"]["acceptances"])),
        ),
    ];

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
    let whole = |f: f64| format!("{f:.0}");
    let channels =
        BarChart::draw("chart-channels", "Contacts each week, by how they came".into(), &weeks, series, true, &whole);

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
    let decision_time = BarChart::draw(
        "chart-decision-time",
        format!("Time from receipt to first decision ({} decided contacts)", decision_hours.len()),
        &labels,
        vec![("Contacts".to_owned(), counts)],
        false,
        &whole,
    );

    // 3. Time to the Assessment Team by week.
    let tweeks: Vec<String> =
        t["by_week"].as_array().into_iter().flatten().map(|w| w["week"].as_str().unwrap_or("").to_owned()).collect();
    let spread = |key: &str| -> Vec<f64> {
        t["by_week"].as_array().into_iter().flatten().map(|w| num(&w["to_assessment_team"]["hours"][key])).collect()
    };
    let assessment_team = BarChart::draw(
        "chart-assessment-team",
        "Hours from receipt to acceptance by the Assessment Team, by week of receipt".into(),
        &tweeks,
        vec![("Median".to_owned(), spread("median")), ("90th percentile".to_owned(), spread("p90"))],
        false,
        &|f| format!("{f:.0} h"),
    );

    // 4. Outcomes.
    let olabels: Vec<String> = OUTCOMES.iter().map(|(_, l)| (*l).to_owned()).collect();
    let ocounts: Vec<f64> = OUTCOMES.iter().map(|(k, _)| num(&v["outcomes"][*k])).collect();
    let outcomes = AcrossChart::draw("chart-outcomes", "Outcomes (the decision in force)", olabels, &ocounts);

    // 5. Conversion rate by week.
    let rates: Vec<f64> =
        volumes["by_week"].as_array().into_iter().flatten().map(|w| num(&w["conversion_rate"]) * 100.0).collect();
    let conversion = BarChart::draw(
        "chart-conversion",
        "Share of contacts that became referrals, by week".into(),
        &weeks,
        vec![("Became referrals".to_owned(), rates)],
        false,
        &|f| format!("{f:.0}%"),
    );
    QaPage {
        chrome,
        from,
        to,
        tiles,
        channels,
        decision_time,
        assessment_team,
        outcomes,
        conversion,
        sample,
        late,
        late_links: false,
        late_window_hours,
        feedback: Vec::new(),
        feedback_total: (0, String::new(), String::new()),
        practice: Vec::new(),
        levels: Vec::new(),
        devon: DevonView::of(&projections::figures::devon_table(std::iter::empty(), from, to)),
        debriefs: None,
        locality: String::new(),
        outcome_labels: table_outcomes().map(|k| label_of(OUTCOMES, k)).collect(),
        localities: Vec::new(),
        by_locality: Vec::new(),
        by_source: Vec::new(),
        consultations: ConsultationsView::of(&projections::figures::consultation_figures([], from, to)),
    }
}

impl SampleRow {
    fn of(f: &projections::facts::ContactFacts) -> Self {
        let outcome = f.outcome.map(|o| serde_json::to_value(o).unwrap_or_default());
        let channel = serde_json::to_value(f.channel).unwrap_or_default();
        SampleRow {
            id: f.contact_id,
            received: london(f.received_at),
            channel: label_of(CHANNELS, channel.as_str().unwrap_or("")),
            source: serde_json::to_value(f.source).unwrap_or_default().as_str().unwrap_or("").to_owned(),
            source_description: f.source.description(),
            outcome: outcome.as_ref().and_then(Value::as_str).map_or("–".to_owned(), |k| label_of(OUTCOMES, k)),
            level: f.level_of_need.map_or("–".to_owned(), |l| l.to_string()),
            hours: f.first_decision_at.map_or("–".to_owned(), |d| format!("{:.1}", hours_between(f.received_at, d))),
        }
    }
}

impl LateRow {
    fn of(f: &projections::facts::ContactFacts, policy: &projections::time::DuePolicy) -> Self {
        let (decision, acceptance) = projections::figures::timeliness::recorded_late(f, policy);
        let when = |t: Option<DateTime<Utc>>| t.map_or_else(|| "–".to_owned(), london);
        let entered = |t: Option<DateTime<Utc>>, late: bool, backdated: bool| {
            let mark = match (late, backdated) {
                (true, true) => " (late; time corrected)",
                (true, false) => " (late)",
                _ => "",
            };
            format!("{}{mark}", when(t))
        };
        LateRow {
            id: f.contact_id,
            received: london(f.received_at),
            decision: when(f.first_decision_at),
            decision_entered: entered(f.first_decision_recorded_at, decision, f.first_decision_backdated),
            accepted: when(f.assessment_team_accepted_at),
            acceptance_entered: entered(f.assessment_team_accepted_recorded_at, acceptance, f.acceptance_backdated),
        }
    }
}

fn label_of(table: &[(&str, &str)], key: &str) -> String {
    table.iter().find(|(k, _)| *k == key).map_or_else(|| key.replace('_', " "), |(_, l)| (*l).to_owned())
}

fn london(t: DateTime<Utc>) -> String {
    let local = projections::time::to_london(t);
    local.format("%a %-d %b %Y %H:%M").to_string()
}

// ---------------------------------------------------------------------------------------
// Charts: the geometry here, the SVG in web/templates/charts.html

/// A bar chart (stacked or side by side), 760 × 340, with its numbers on it, a legend in
/// words, and the same numbers as a table beneath for screen readers and for reading off.
struct BarChart {
    id: &'static str,
    title: String,
    /// The grid lines, bottom to top, with their values.
    ticks: Vec<Tick>,
    bars: Vec<Bar>,
    /// The numbers on the bars (each bar's, or each stack's total).
    values: Vec<Label>,
    /// The category names beneath the bars.
    categories: Vec<Label>,
    /// (colour, name) of each series.
    series: Vec<(&'static str, String)>,
    /// The table: each category with each series' value.
    rows: Vec<(String, Vec<String>)>,
}

struct Tick {
    y: f64,
    label: String,
}

struct Bar {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    colour: &'static str,
}

struct Label {
    x: f64,
    y: f64,
    text: String,
}

/// The plot area of a [`BarChart`] (the template draws the grid from `LEFT` to `LEFT + PLOT_W`).
const TOP: f64 = 28.0;
const LEFT: f64 = 56.0;
const PLOT_H: f64 = 340.0 - 44.0 - TOP;
const PLOT_W: f64 = 760.0 - LEFT - 12.0;

impl BarChart {
    fn draw(
        id: &'static str,
        title: String,
        categories: &[String],
        series: Vec<(String, Vec<f64>)>,
        stacked: bool,
        fmt: &dyn Fn(f64) -> String,
    ) -> Self {
        let value = |s: &(String, Vec<f64>), i: usize| s.1.get(i).copied().unwrap_or(0.0);
        let totals: Vec<f64> = (0..categories.len())
            .map(|i| {
                let values = series.iter().map(|s| value(s, i));
                if stacked { values.sum() } else { values.fold(0.0, f64::max) }
            })
            .collect();
        let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
        let ticks = (0..=4)
            .map(|step| Tick {
                y: TOP + PLOT_H - PLOT_H * f64::from(step) / 4.0,
                label: fmt(max * f64::from(step) / 4.0),
            })
            .collect();
        let slot = PLOT_W / categories.len().max(1) as f64;
        let groups = if stacked { 1.0 } else { series.len().max(1) as f64 };
        let bar_w = (slot * 0.7 / groups).min(90.0);
        let (mut bars, mut values, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for (i, category) in categories.iter().enumerate() {
            let x0 = LEFT + slot * i as f64 + (slot - bar_w * groups) / 2.0;
            let mut stack = 0.0;
            for (s, serie) in series.iter().enumerate() {
                let v = value(serie, i);
                let height = if max > 0.0 { PLOT_H * v / max } else { 0.0 };
                let x = if stacked { x0 } else { x0 + bar_w * s as f64 };
                let y = TOP + PLOT_H - height - if stacked { stack } else { 0.0 };
                bars.push(Bar { x, y, width: bar_w, height, colour: PALETTE[s % PALETTE.len()] });
                if !stacked {
                    values.push(Label { x: x + bar_w / 2.0, y: y - 5.0, text: fmt(v) });
                }
                stack += height;
            }
            if stacked {
                values.push(Label { x: x0 + bar_w / 2.0, y: TOP + PLOT_H - stack - 5.0, text: fmt(totals[i]) });
            }
            labels.push(Label {
                x: LEFT + slot * i as f64 + slot / 2.0,
                y: TOP + PLOT_H + 22.0,
                text: category.clone(),
            });
        }
        let rows = categories
            .iter()
            .enumerate()
            .map(|(i, category)| (category.clone(), series.iter().map(|s| fmt(value(s, i))).collect()))
            .collect();
        let series = series.into_iter().enumerate().map(|(s, (name, _))| (PALETTE[s % PALETTE.len()], name)).collect();
        BarChart { id, title, ticks, bars, values, categories: labels, series, rows }
    }
}

/// A horizontal bar chart, 760 wide: long labels read better across.
struct AcrossChart {
    id: &'static str,
    title: &'static str,
    height: f64,
    rows: Vec<AcrossRow>,
}

struct AcrossRow {
    label: String,
    /// The top of the bar; its label and value sit 19 below.
    y: f64,
    width: f64,
    value: f64,
    /// Percent of the total.
    share: f64,
}

impl AcrossChart {
    fn draw(id: &'static str, title: &'static str, labels: Vec<String>, values: &[f64]) -> Self {
        // Bars start at 230 (the labels end at 222) and leave 110 for their numbers.
        const ROW: f64 = 34.0;
        let max = nice_max(values.iter().copied().fold(0.0, f64::max));
        let total: f64 = values.iter().sum();
        let height = ROW * labels.len() as f64 + 16.0;
        let rows = labels
            .into_iter()
            .zip(values)
            .enumerate()
            .map(|(i, (label, &value))| AcrossRow {
                label,
                y: 8.0 + ROW * i as f64,
                width: if max > 0.0 { (760.0 - 230.0 - 110.0) * value / max } else { 0.0 },
                value,
                share: if total > 0.0 { value / total * 100.0 } else { 0.0 },
            })
            .collect();
        AcrossChart { id, title, height, rows }
    }
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

/// `web/templates/contact.html`
#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    chrome: Chrome,
    contact: Ulid,
    events: usize,
    reads: usize,
    may_record_finding: bool,
    trail: Vec<TrailRow>,
}

/// An event (with its version) or a read of the contact, in the trail.
struct TrailRow {
    at: String,
    occurred: String,
    version: Option<u32>,
    who: String,
    what: String,
    /// An event's data as `field: value` pairs.
    detail: Vec<String>,
    endpoint: String,
}

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
    params(ContactPath),
    responses(
        (status = 200, description = "The page.", content_type = "text/html; charset=utf-8", body = String),
        (status = 303, description = "Not signed in: to `/signin`."),
    )
)]
pub async fn qa_contact(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some((_, actor)) = page_actor(&app, &headers) else { return to_signin("/qa") };
    let chrome = || Chrome::new("Audit trail", Some(&actor), Nav::Qa);
    // The path with the id as the log writes it, whatever case the address used.
    let endpoint = format!("/qa/contacts/{}", id.parse::<Ulid>().map(|u| u.to_string()).unwrap_or_else(|_| id.clone()));
    let read = Read { kind: ReadKind::ContactAudit, action: "read_audit", endpoint: &endpoint };
    let (contact, events, access) = match app.front_door().read_contact_logged(&actor, read, &id, Utc::now()).await {
        Ok(read) => {
            // This page's own read is the last of the access log it shows.
            let mut access = read.access;
            access.push(read.logged);
            (read.contact, super::views::visible_events(read.events, &actor), access)
        }
        Err(AppError::Forbidden(_)) => {
            return message(StatusCode::FORBIDDEN, chrome(), "Only auditors and admins may read audit trails.");
        }
        Err(AppError::NotFound(_)) => return message(StatusCode::NOT_FOUND, chrome(), "No such contact."),
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, chrome(), &e.to_string()),
    };
    let mut trail: Vec<(DateTime<Utc>, u8, TrailRow)> = Vec::new();
    for env in &events {
        let row = TrailRow {
            at: london(env.recorded_at),
            occurred: london(env.occurred_at),
            version: Some(env.version),
            who: format!("{} ({})", env.actor.id, env.actor.role),
            what: env.event_type.to_string().replace('_', " "),
            detail: readable(&serde_json::from_str(env.data.get()).unwrap_or_default()),
            endpoint: String::new(),
        };
        trail.push((env.recorded_at, 0, row));
    }
    for a in &access {
        let row = TrailRow {
            at: london(a.at),
            occurred: String::new(),
            version: None,
            who: format!("{} ({})", a.actor.id, a.actor.role),
            what: a.action.replace('_', " "),
            detail: Vec::new(),
            endpoint: a.endpoint.clone(),
        };
        trail.push((a.at, 1, row));
    }
    trail.sort_by_key(|t| (t.0, t.1));
    let page = ContactPage {
        chrome: chrome(),
        contact,
        events: events.len(),
        reads: access.len(),
        may_record_finding: auth::may_append(actor.role, events::schema::EventType::AuditFindingRecorded),
        trail: trail.into_iter().map(|t| t.2).collect(),
    };
    render(StatusCode::OK, &page)
}

/// An event's data for people: `field: value` pairs, nested ones flattened, long text cut.
fn readable(data: &Value) -> Vec<String> {
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
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_ever_our_own_page() {
        assert_eq!(safe_next(Some("/qa")), "/qa");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        let id = "01J00000000000000000000000";
        assert_eq!(safe_next(Some(&format!("/contacts/{id}"))), format!("/contacts/{id}"));
        assert_eq!(safe_next(Some(&format!("/contacts/{}", id.to_lowercase()))), format!("/contacts/{id}"));
        assert_eq!(safe_next(Some("/contacts/x\"><script>")), "/");
        assert_eq!(safe_next(Some("/contacts//evil.example")), "/");
        assert_eq!(safe_next(Some("/referrals")), "/referrals");
        assert_eq!(safe_next(Some(&format!("/referrals/{}", id.to_lowercase()))), format!("/referrals/{id}"));
        assert_eq!(safe_next(Some("/referrals/x\"><script>")), "/");
    }

    #[test]
    fn a_referrer_lands_only_on_its_own_pages_and_no_one_else_on_them() {
        assert_eq!(landing(Role::Referrer, "/"), "/referrals");
        assert_eq!(landing(Role::Referrer, "/qa"), "/referrals");
        assert_eq!(landing(Role::Referrer, "/referrals/new"), "/referrals/new");
        assert_eq!(landing(Role::Practitioner, "/referrals"), "/");
        assert_eq!(landing(Role::ReceivingTeam, "/"), "/");
        assert_eq!(landing(Role::Auditor, "/qa"), "/qa");
    }

    #[test]
    fn the_templates_escape_what_they_are_given() {
        let page = SigninPage {
            chrome: Chrome::new("Sign in", None, Nav::None),
            next: "/\"><script>alert(1)</script>",
            problem: Some("<script>alert('x')</script> & more"),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; more"), "{html}");
        assert!(html.contains("value=\"/&#34;&#62;&#60;script&#62;"), "{html}");
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
    fn event_data_is_shown_as_pairs() {
        let pairs = readable(&serde_json::json!({"a_b": "<x>", "n": {"m": 1}, "l": ["p"], "z": null}));
        assert_eq!(pairs, ["a b: <x>", "n m: 1", "l 1: p"]);
    }
}
