//! The generated access-control matrix (issue 8, part 3).
//!
//! Every route the server serves, taken from its own `GET /openapi.json` (every path and every
//! method) plus the sign-in page, is called with every role's bearer token, with every role's
//! session cookie and with nothing; the set of callers let in must be exactly what
//! `frontdoor::auth` says (`may_read`, `may_append`, `may_create_contact`). A route in the
//! document that this file cannot classify fails the test, so a new endpoint gets a decision.
//!
//! Then the restricted-check sweep: a police partner returns a restricted check carrying a
//! unique marker, and an admin records a correction quoting it. Every GET route (the SSE
//! streams read for a moment, the pages, `/metrics`, `/v1/as-of`, `/v1/audit/sample`, ...) is
//! read by every caller that may not see it (practitioner, health partner, referrer, nobody),
//! by token and by cookie, and the marker must never appear in a body or a header: not as
//! text, nor percent-encoded, HTML-escaped, base64 (any alignment, both alphabets) or hex.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use eventlog::{EventType, Role};
use frontdoor::auth::{self, ReadKind};
use serde_json::{Value, json};

use crate::harness::{ACTORS, TestApp, contact_body, ready, spawn_app};

/// The unique part of the marker: letters and digits only, so every text encoding that leaves
/// alphanumerics alone (JSON, HTML, percent-encoding, SSE framing) still shows it verbatim.
const CORE: &str = "Zq7LEAKMARKERw3x9Kp";

/// What a route needs, from `frontdoor::auth`.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Anyone, no token: health, metrics, the document, the docs, the assets, the sign-in page.
    Public,
    /// An API read.
    Read(ReadKind),
    /// `POST /v1/contacts`.
    Create,
    /// `POST /v1/duty-debriefs`.
    RecordDebrief,
    /// `POST /v1/consultations`.
    RecordConsultation,
    /// `POST /v1/contacts/{id}/events` with a body of this type.
    Append(EventType),
    /// `POST /v1/admin/promote` (on this node without `[replication]`, a 409 for those let in).
    Promote,
    /// A page, by session cookie only: the roles it lets in.
    Page(fn(Role) -> bool),
}

fn need(method: &str, path: &str) -> Option<Need> {
    use ReadKind as K;
    Some(match (method, path) {
        ("GET", "/healthz" | "/readyz" | "/openapi.json" | "/docs" | "/docs/style.css" | "/signin") => Need::Public,
        ("GET", p) if p.starts_with("/assets/") => Need::Public,
        ("GET", "/") => Need::Page(auth::may_open_board_page),
        ("GET", "/qa") => Need::Page(|r| auth::may_read(r, K::Metrics)),
        ("GET", "/qa/contacts/{id}") => Need::Page(|r| auth::may_read(r, K::ContactAudit)),
        // The duty team's record: a referrer has its own page of its contact.
        ("GET", "/contacts/{id}") => Need::Page(|r| auth::may_read(r, K::Contact) && r != Role::Referrer),
        ("GET", "/children" | "/children/{child_id}") => Need::Page(|r| auth::may_read(r, K::Children)),
        // A referrer's own pages: "My referrals", the referral form, one of its contacts.
        ("GET", "/referrals" | "/referrals/new" | "/referrals/{id}") => {
            Need::Page(|r| auth::may_read(r, K::OwnContacts))
        }
        ("GET", "/v1/queue" | "/v1/queue/stream") => Need::Read(K::Queue),
        ("GET", "/v1/contacts") => Need::Read(K::OwnContacts),
        ("GET", "/v1/contacts/{id}") => Need::Read(K::Contact),
        ("GET", "/v1/contacts/{id}/events") => Need::Read(K::ContactEvents),
        ("GET", "/v1/contacts/{id}/audit") => Need::Read(K::ContactAudit),
        ("GET", "/v1/events" | "/v1/events/stream") => Need::Read(K::GlobalEvents),
        ("GET", "/v1/access") => Need::Read(K::AccessLog),
        ("GET", "/v1/metrics/timeliness" | "/v1/metrics/volumes" | "/v1/metrics/practice") => Need::Read(K::Metrics),
        ("GET", "/v1/metrics/trends") => Need::Read(K::Trends),
        ("GET", "/v1/audit/sample") => Need::Read(K::AuditSample),
        ("GET", "/v1/as-of") => Need::Read(K::AsOf),
        ("GET", "/v1/children" | "/v1/children/{child_id}" | "/v1/adults") => Need::Read(K::Children),
        ("GET", "/metrics") => Need::Read(K::ServiceMetrics),
        ("POST", "/v1/contacts") => Need::Create,
        ("GET", "/v1/duty-debriefs") => Need::Read(K::DutyDebriefs),
        ("POST", "/v1/duty-debriefs") => Need::RecordDebrief,
        ("GET", "/v1/consultations" | "/v1/consultations/{id}") => Need::Read(K::Consultations),
        ("POST", "/v1/consultations") => Need::RecordConsultation,
        ("POST", "/v1/contacts/{id}/events") => Need::Append(EventType::NoteAdded),
        ("POST", "/v1/admin/promote") => Need::Promote,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cred {
    None,
    Bearer(usize),
    Cookie(usize),
}

struct Caller {
    name: &'static str,
    role: Role,
    token: String,
    /// The session cookie, if the role may sign in to the pages at all.
    cookie: Option<String>,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(app: &TestApp, token: &str) -> Option<String> {
    let resp = no_redirects()
        .post(format!("{}/signin", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.url)
        .body(format!("token={token}&next=%2F"))
        .send()
        .await
        .unwrap();
    let set = resp.headers().get("set-cookie")?.to_str().unwrap().to_owned();
    Some(set.split(';').next().unwrap().to_owned())
}

async fn callers(app: &TestApp) -> Vec<Caller> {
    let mut out = Vec::new();
    for (name, role, _) in ACTORS {
        let token = app.token(name).to_owned();
        let cookie = sign_in(app, &token).await;
        let role: Role = role.parse().unwrap();
        assert_eq!(cookie.is_some(), auth::may_sign_in(role), "{name}: sign-in follows may_sign_in");
        out.push(Caller { name, role, token, cookie });
    }
    out
}

/// Concrete query parameters and body for a route, so that an allowed caller gets a success.
fn concrete(method: &str, path: &str, contact: &str) -> (String, Option<Value>) {
    let mut url = path.replace("{id}", contact);
    match path {
        "/v1/audit/sample" => url.push_str("?seed=1&n=50"),
        "/v1/as-of" => url.push_str("?position=2"),
        "/v1/children" | "/children" => url.push_str("?name=Sam%20Example&date_of_birth=2017-05-04"),
        "/v1/adults" => url.push_str("?name=Alex%20Example"),
        // The id the contact's child was first given (merged ids name the child they joined).
        "/v1/children/{child_id}" | "/children/{child_id}" => {
            let child = projections::children::child_id_for(contact.parse().unwrap(), 0);
            url = url.replace("{child_id}", &child);
        }
        "/v1/contacts" if method == "GET" => url.push_str("?made_by=me"),
        _ => {}
    }
    let body = match (method, path) {
        ("POST", "/v1/contacts") => Some(contact_body()),
        ("POST", "/v1/duty-debriefs") => Some(json!({"date": "2026-03-02", "team": "Duty A"})),
        ("POST", "/v1/consultations") => Some(json!({"agency": "health", "source": "3A", "advice": "Call back"})),
        ("POST", "/v1/contacts/{id}/events") => Some(json!({"type": "note_added", "data": {"text": "matrix"}})),
        _ => None,
    };
    (url, body)
}

struct Answer {
    status: u16,
    location: String,
    headers: String,
    body: Vec<u8>,
}

/// Sends one request. SSE streams are read for `sse_read` (zero: the status and headers only)
/// and then dropped.
async fn call(
    app: &TestApp,
    callers: &[Caller],
    method: &str,
    url: &str,
    body: Option<&Value>,
    cred: Cred,
    sse_read: Duration,
) -> Answer {
    let client = no_redirects();
    let full = format!("{}{url}", app.url);
    let mut req = if method == "POST" { client.post(&full) } else { client.get(&full) };
    if let Some(body) = body {
        req = req.json(body);
    }
    match cred {
        Cred::None => {}
        Cred::Bearer(i) => req = req.bearer_auth(&callers[i].token),
        Cred::Cookie(i) => {
            // The pages' own requests: same origin, as a browser sends them.
            req = req.header("cookie", callers[i].cookie.as_deref().unwrap()).header("origin", &app.url);
        }
    }
    let mut resp = tokio::time::timeout(Duration::from_secs(20), req.send()).await.expect("answer in time").unwrap();
    let status = resp.status().as_u16();
    let header = |n: &str| resp.headers().get(n).map(|v| v.to_str().unwrap_or("").to_owned()).unwrap_or_default();
    let location = header("location");
    let content_type = header("content-type");
    let headers = format!("{:?}", resp.headers());
    let mut bytes = Vec::new();
    if content_type.starts_with("text/event-stream") {
        let deadline = Instant::now() + sse_read;
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline.into(), resp.chunk()).await {
            bytes.extend_from_slice(&chunk);
        }
    } else {
        bytes =
            tokio::time::timeout(Duration::from_secs(20), resp.bytes()).await.expect("body in time").unwrap().to_vec();
    }
    assert!(status < 500, "{method} {url} as {cred:?}: {status} {}", String::from_utf8_lossy(&bytes));
    if status >= 400 && !content_type.starts_with("text/html") {
        assert!(content_type.starts_with("application/problem+json"), "{method} {url}: {status} as {content_type}");
    }
    Answer { status, location, headers, body: bytes }
}

/// Whether the server let the caller in.
fn let_in(need: Need, a: &Answer) -> bool {
    match need {
        // A page that answers "no such contact" (404) let the role in: a receiving team reads
        // only its own handovers, and the matrix's contact has none.
        Need::Page(_) => matches!(a.status, 200 | 404),
        _ => !(matches!(a.status, 401 | 403) || (a.status == 303 && a.location.starts_with("/signin"))),
    }
}

/// What `frontdoor::auth` says.
fn expected(need: Need, cred: Cred, callers: &[Caller]) -> bool {
    let role = match cred {
        Cred::None => return matches!(need, Need::Public),
        Cred::Bearer(i) | Cred::Cookie(i) => callers[i].role,
    };
    match (need, cred) {
        (Need::Public, _) => true,
        // Pages read the session cookie only: browsers send no bearer tokens.
        (Need::Page(_), Cred::Bearer(_)) => false,
        (Need::Page(lets_in), _) => lets_in(role),
        (Need::Read(k), _) => auth::may_read(role, k),
        (Need::Create, _) => auth::may_create_contact(role),
        (Need::RecordDebrief, _) => auth::may_record_duty_debrief(role),
        (Need::RecordConsultation, _) => auth::may_record_consultation(role),
        (Need::Append(t), _) => auth::may_append(role, t),
        (Need::Promote, _) => auth::may_promote(role),
    }
}

/// Every route the server serves: the OpenAPI document's paths and methods, and the sign-in page.
async fn routes(app: &TestApp) -> Vec<(String, String)> {
    let doc: Value = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out.insert(("GET".into(), "/signin".into()));
    out.into_iter().collect()
}

/// A contact with a restricted police check quoting the marker, and a correction quoting it.
async fn seed(app: &TestApp) -> (String, String, String) {
    let marker = format!("{CORE} restricted/intel: Dad & <partner> 100% \"known\"");
    let contact = app.new_contact("referrer").await;
    let (s, b) = app
        .append(
            "partner_police",
            &contact,
            "checks_returned",
            json!({"agency": "police", "summary": marker, "restricted": true}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let check_id = b["event_id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .append(
            "admin",
            &contact,
            "correction_recorded",
            json!({"corrects_event_id": check_id, "field": "summary", "value": format!("{marker} (updated)"), "reason": "update"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    (contact, marker, check_id)
}

#[tokio::test]
async fn every_route_lets_in_exactly_the_roles_auth_names() {
    let app = spawn_app();
    let (contact, _, _) = seed(&app).await;
    ready(&app).await;
    let callers = callers(&app).await;
    let routes = routes(&app).await;
    assert!(routes.len() >= 25, "the document lists every route: {routes:?}");

    let mut creds = vec![Cred::None];
    for (i, c) in callers.iter().enumerate() {
        creds.push(Cred::Bearer(i));
        if c.cookie.is_some() {
            creds.push(Cred::Cookie(i));
        }
    }
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (method, path) in &routes {
        let need = need(method, path).unwrap_or_else(|| panic!("{method} {path}: classify this new route"));
        let (url, body) = concrete(method, path, &contact);
        for cred in &creds {
            let answer = call(&app, &callers, method, &url, body.as_ref(), *cred, Duration::ZERO).await;
            let got = let_in(need, &answer);
            let want = expected(need, *cred, &callers);
            checked += 1;
            if got != want {
                let who = match cred {
                    Cred::None => "nobody".to_owned(),
                    Cred::Bearer(i) => format!("{} (token)", callers[*i].name),
                    Cred::Cookie(i) => format!("{} (cookie)", callers[*i].name),
                };
                wrong.push(format!("{method} {path} as {who}: {} (expected let in: {want})", answer.status));
            }
        }
    }
    // A change by cookie without the pages' own Origin is refused (CSRF), for every role.
    for (i, c) in callers.iter().enumerate() {
        let Some(cookie) = &c.cookie else { continue };
        let resp = no_redirects()
            .post(format!("{}/v1/contacts/{contact}/events", app.url))
            .header("cookie", cookie)
            .json(&json!({"type": "note_added", "data": {"text": "csrf"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{} by cookie without Origin", callers[i].name);
    }
    eprintln!(
        "access matrix: {} routes x {} callers = {checked} calls, {} wrong",
        routes.len(),
        creds.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{} of {checked} calls let in the wrong callers:\n{}", wrong.len(), wrong.join("\n"));
}

/// The forms the marker must never take.
fn forms(marker: &str) -> Vec<String> {
    let mut out = vec![CORE.to_owned(), CORE.to_lowercase(), hex(CORE.as_bytes())];
    for alphabet in [STANDARD, URL_SAFE] {
        for shift in 0..3 {
            // The marker at each alignment inside a longer base64 text: skip the characters
            // the preceding bytes share, and the last group the following bytes share.
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(marker.as_bytes());
            let enc = base64(&bytes, alphabet);
            let start = (shift * 4).div_ceil(3);
            let end = enc.len().saturating_sub(4);
            out.push(enc[start..end].to_owned());
        }
    }
    out
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn leaks(forms: &[String], answer: &Answer) -> Option<String> {
    let text = format!("{}\n{}", answer.headers, String::from_utf8_lossy(&answer.body));
    let lower = text.to_lowercase();
    forms.iter().find(|f| text.contains(f.as_str()) || lower.contains(&f.to_lowercase())).cloned()
}

#[tokio::test]
async fn restricted_checks_never_reach_anyone_who_may_not_see_them() {
    let app = spawn_app();
    let (contact, marker, check_id) = seed(&app).await;
    ready(&app).await;
    let callers = callers(&app).await;
    let routes = routes(&app).await;
    let forms = forms(&marker);

    // The test is not vacuous: those entitled do see the marker, in the JSON and on the page.
    for who in ["decision_maker", "partner_police", "auditor", "admin"] {
        let (s, body) = app.get(who, &format!("/v1/contacts/{contact}")).await;
        assert_eq!(s, 200);
        assert!(body.to_string().contains(CORE), "{who} sees the restricted check");
    }
    let auditor = callers.iter().position(|c| c.name == "auditor").unwrap();
    let page =
        call(&app, &callers, "GET", &format!("/qa/contacts/{contact}"), None, Cred::Cookie(auditor), Duration::ZERO)
            .await;
    assert_eq!(page.status, 200);
    assert!(leaks(&forms, &page).is_some(), "the auditor's page shows the check");
    let stream = call(
        &app,
        &callers,
        "GET",
        "/v1/events/stream?after=0",
        None,
        Cred::Bearer(auditor),
        Duration::from_millis(800),
    )
    .await;
    assert!(leaks(&forms, &stream).is_some(), "the auditor's stream carries the check");

    let blind: Vec<usize> = callers
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            let actor = eventlog::Actor {
                id: c.name.into(),
                role: c.role,
                agency: ACTORS.iter().find(|a| a.0 == c.name).unwrap().2.parse().unwrap(),
                team: None,
            };
            !auth::may_see_restricted(&actor, "police".parse().unwrap())
        })
        .map(|(i, _)| i)
        .collect();
    let names: Vec<&str> = blind.iter().map(|i| callers[*i].name).collect();
    assert_eq!(
        names,
        ["referrer", "practitioner", "partner_health", "receiving_team"],
        "those who may not see police intelligence"
    );

    let mut creds = vec![Cred::None];
    for i in &blind {
        creds.push(Cred::Bearer(*i));
        if callers[*i].cookie.is_some() {
            creds.push(Cred::Cookie(*i));
        }
    }
    let mut urls: Vec<String> = Vec::new();
    for (method, path) in &routes {
        if method != "GET" {
            continue;
        }
        let (url, _) = concrete(method, path, &contact);
        urls.push(url);
    }
    // Streams from the beginning too, and the global log a page at a time, and the queries the
    // pages make.
    urls.extend(
        [
            "/v1/events/stream?after=0",
            "/v1/events?after=0&limit=1000",
            "/qa?n=50&seed=1",
            "/v1/audit/sample?seed=2&n=1000",
            "/v1/as-of?position=3",
        ]
        .map(String::from),
    );
    urls.push(format!("/v1/contacts/{contact}/events?after=0"));
    urls.push(format!("/v1/events/{check_id}"));

    let mut checked = 0;
    let mut found = Vec::new();
    for url in &urls {
        for cred in &creds {
            let answer = call(&app, &callers, "GET", url, None, *cred, Duration::from_millis(600)).await;
            checked += 1;
            if let Some(form) = leaks(&forms, &answer) {
                found.push(format!("GET {url} as {cred:?}: {} shows {form:?}", answer.status));
            }
        }
    }
    // The queue by SSE with Last-Event-ID 0, as a reconnecting board asks.
    for i in &blind {
        let resp = no_redirects()
            .get(format!("{}/v1/queue/stream", app.url))
            .bearer_auth(&callers[*i].token)
            .header("last-event-id", "0")
            .send()
            .await
            .unwrap();
        let mut resp = resp;
        let deadline = Instant::now() + Duration::from_millis(600);
        let mut bytes = Vec::new();
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline.into(), resp.chunk()).await {
            bytes.extend_from_slice(&chunk);
        }
        checked += 1;
        if String::from_utf8_lossy(&bytes).contains(CORE) {
            found.push(format!("queue stream as {}", callers[*i].name));
        }
    }
    eprintln!(
        "restricted sweep: {} urls x {} callers = {checked} reads, {} leaks",
        urls.len(),
        creds.len(),
        found.len()
    );
    assert!(found.is_empty(), "restricted check leaked:\n{}", found.join("\n"));
}
