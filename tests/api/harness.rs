//! `spawn_app()`: starts the real server binary and hands out a token per role.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_frontdoor");

/// The actors the tests use: (token name, role, agency).
pub const ACTORS: &[(&str, &str, &str)] = &[
    ("referrer", "referrer", "education"),
    ("practitioner", "practitioner", "childrens_social_care"),
    ("decision_maker", "decision_maker", "childrens_social_care"),
    ("partner_police", "partner", "police"),
    ("partner_health", "partner", "health"),
    ("auditor", "auditor", "childrens_social_care"),
    ("admin", "admin", "childrens_social_care"),
    ("receiving_team", "receiving_team", "childrens_social_care"),
];

/// The team of each receiving-team actor above: the one `data_for("handover_sent")` names.
pub const TEAMS: &[(&str, &str)] = &[("receiving_team", "Early Help South")];

/// The team an actor of [`ACTORS`] belongs to, if it is a receiving team.
pub fn team_of(name: &str) -> Option<&'static str> {
    TEAMS.iter().find(|(n, _)| *n == name).map(|(_, team)| *team)
}

pub struct TestApp {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub tokens: HashMap<&'static str, String>,
    pub client: reqwest::Client,
    child: Child,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a token with the real CLI, as an operator would.
pub fn create_token(dir: &Path, role: &str, actor: &str, agency: &str) -> String {
    create_token_for(dir, role, actor, agency, None)
}

/// The `frontdoor` binary as a command, started under `umask` (through
/// `sh -c 'umask …; exec …'`, so the child is the binary itself) when one is given.
fn frontdoor(umask: Option<&str>) -> Command {
    match umask {
        None => Command::new(BIN),
        Some(umask) => {
            let mut command = Command::new("sh");
            command.arg("-c").arg(format!("umask {umask}; exec \"$0\" \"$@\"")).arg(BIN);
            command
        }
    }
}

/// Creates a token with the real CLI, with `--team` when `team` is given.
pub fn create_token_for(dir: &Path, role: &str, actor: &str, agency: &str, team: Option<&str>) -> String {
    create_token_with(None, dir, role, actor, agency, team)
}

/// Creates a token with the real CLI started under `umask` (e.g. "022", a login shell's).
pub fn create_token_under_umask(umask: &str, dir: &Path, role: &str, actor: &str, agency: &str) -> String {
    create_token_with(Some(umask), dir, role, actor, agency, None)
}

fn create_token_with(
    umask: Option<&str>,
    dir: &Path,
    role: &str,
    actor: &str,
    agency: &str,
    team: Option<&str>,
) -> String {
    let mut command = frontdoor(umask);
    command
        .args(["token", "create", "--data-dir"])
        .arg(dir)
        .args(["--role", role, "--actor", actor, "--agency", agency]);
    if let Some(team) = team {
        command.args(["--team", team]);
    }
    let out = command.output().expect("run frontdoor token create");
    assert!(out.status.success(), "token create failed: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!token.is_empty() && !token.contains('\n'), "the token alone on stdout");
    token
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(&[])
}

pub fn spawn_app_with(extra: &[&str]) -> TestApp {
    spawn_app_in(tempfile::tempdir().unwrap(), None, extra)
}

/// Like [`spawn_app`], in `dir`, with the tokens created and the server started under `umask`
/// when one is given.
pub fn spawn_app_in(dir: tempfile::TempDir, umask: Option<&str>, extra: &[&str]) -> TestApp {
    let tokens = ACTORS
        .iter()
        .map(|(name, role, agency)| (*name, create_token_with(umask, dir.path(), role, name, agency, team_of(name))))
        .collect();
    let (child, url, _) = start_with(umask, dir.path(), extra, 0);
    TestApp { url, dir, tokens, client: reqwest::Client::new(), child }
}

/// Starts `frontdoor serve` on port 0 and returns it with its URL once it listens.
pub fn start(dir: &Path, extra: &[&str]) -> (Child, String) {
    let (child, url, _) = start_capturing(dir, extra, 0);
    (child, url)
}

/// Like [`start`], also returning the first `banner_lines` lines printed after the address.
pub fn start_capturing(dir: &Path, extra: &[&str], banner_lines: usize) -> (Child, String, Vec<String>) {
    start_with(None, dir, extra, banner_lines)
}

/// Like [`start`], under `umask` (e.g. "022", a login shell's).
pub fn start_under_umask(umask: &str, dir: &Path) -> (Child, String) {
    let (child, url, _) = start_with(Some(umask), dir, &[], 0);
    (child, url)
}

fn start_with(umask: Option<&str>, dir: &Path, extra: &[&str], banner_lines: usize) -> (Child, String, Vec<String>) {
    // Quiet, it logs errors only: gathered to say why it ended, if it does.
    let level = std::env::var_os("TEST_LOG").is_none().then_some("error");
    let (child, url, banner, _) = serve(umask, dir, extra, banner_lines, level);
    (child, url, banner)
}

/// What a server logs, gathered as it runs.
pub type Logged = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts `frontdoor serve` on port 0 and returns it with its URL once it listens, the first
/// `banner_lines` lines printed after the address, and its log at `level` (`None`: at `debug`,
/// on this test's stderr, and nothing gathered). Its output is drained for as long as it runs,
/// so that it never blocks on a full pipe.
fn serve(
    umask: Option<&str>,
    dir: &Path,
    extra: &[&str],
    banner_lines: usize,
    level: Option<&str>,
) -> (Child, String, Vec<String>, Logged) {
    let mut child = frontdoor(umask)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .env("FRONTDOOR_LOG", level.unwrap_or("debug"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if level.is_some() { Stdio::piped() } else { Stdio::inherit() })
        .spawn()
        .expect("start frontdoor serve");
    let logged = Logged::default();
    let gathering = child.stderr.take().map(|stderr| {
        let gathered = logged.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                gathered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
            }
        })
    });
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let Some(Ok(first)) = lines.next() else {
        let status = child.wait();
        let said = match gathering {
            Some(thread) => {
                let _ = thread.join();
                logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).join("\n")
            }
            None => "see this test's stderr".to_owned(),
        };
        panic!("frontdoor serve ended before printing its address ({status:?}): {said}");
    };
    let url = first.strip_prefix("frontdoor listening on ").expect("listening line").to_owned();
    let banner: Vec<String> = lines.by_ref().take(banner_lines).map_while(Result::ok).collect();
    std::thread::spawn(move || for _ in lines {});
    (child, url, banner, logged)
}

impl TestApp {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to `limit`) for the process to exit; returns its success.
    pub fn terminate(&mut self, limit: std::time::Duration) -> Option<bool> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// Starts the server again on the same data directory (after `terminate`).
    pub fn restart(&mut self) {
        let (child, url) = start(self.dir.path(), &[]);
        self.child = child;
        self.url = url;
    }

    /// Kills the process at once (SIGKILL), as a crash or `kill -9` would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same data directory (after `terminate` or `kill`),
    /// logging at `info`: returns what it logs, gathered as it runs.
    pub fn restart_logging(&mut self) -> Logged {
        self.restart_logging_with(&[])
    }

    /// [`TestApp::restart_logging`] with `extra` arguments to `serve`.
    pub fn restart_logging_with(&mut self, extra: &[&str]) -> Logged {
        let (child, url, _, logged) = serve(None, self.dir.path(), extra, 0, Some("info"));
        self.child = child;
        self.url = url;
        logged
    }

    /// Creates a receiving team's token (actor id `name`) while the server runs.
    pub fn add_team_token(&mut self, name: &'static str, team: &str) {
        let token = create_token_for(self.dir.path(), "receiving_team", name, "childrens_social_care", Some(team));
        self.tokens.insert(name, token);
    }

    pub fn token(&self, name: &str) -> &str {
        self.tokens.get(name).unwrap_or_else(|| panic!("no token {name}"))
    }

    pub async fn post(&self, who: &str, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(self.token(who))
            .json(body)
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    pub async fn post_raw(
        &self,
        who: Option<&str>,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.url)).body(body);
        if let Some(who) = who {
            req = req.bearer_auth(self.token(who));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, who: &str, path: &str) -> (u16, Value) {
        let resp = self.client.get(format!("{}{path}", self.url)).bearer_auth(self.token(who)).send().await.unwrap();
        read(resp).await
    }

    /// Receives a contact as `who` and returns its id.
    pub async fn new_contact(&self, who: &str) -> String {
        let (status, body) = self.post(who, "/v1/contacts", &contact_body()).await;
        assert_eq!(status, 201, "{body}");
        body["contact_id"].as_str().unwrap().to_owned()
    }

    pub async fn append(&self, who: &str, contact: &str, event_type: &str, data: Value) -> (u16, Value) {
        self.post(who, &format!("/v1/contacts/{contact}/events"), &json!({"type": event_type, "data": data})).await
    }

    /// The global log's head position, read as an auditor.
    pub async fn head(&self) -> u64 {
        let mut after = 0;
        loop {
            let (status, body) = self.get("auditor", &format!("/v1/events?after={after}&limit=1000")).await;
            assert_eq!(status, 200, "{body}");
            let next = body["next_after"].as_u64().unwrap();
            if next == after {
                return after;
            }
            after = next;
        }
    }
}

/// The fields a 422 problem names.
pub fn fields(body: &Value) -> Vec<&str> {
    body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect()
}

/// Posts each body to `path` as `who`: each is a 422 naming exactly its fields, and the log is
/// untouched.
pub async fn refused_naming(app: &TestApp, who: &str, path: &str, cases: &[(Value, Vec<&str>)]) {
    let before = app.head().await;
    for (body, expected) in cases {
        let (status, answer) = app.post(who, path, body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(fields(&answer), *expected, "{body}");
    }
    assert_eq!(app.head().await, before, "nothing was written");
}

/// A stream that is not a contact (`noun`: "duty debrief", "consultation") is no contact on
/// any contact endpoint, nothing is appended to it, and its first event (`first`, with `data`)
/// is never appended to `contact`. Nothing is written.
pub async fn never_a_contact(app: &TestApp, id: &str, noun: &str, contact: &str, first: &str, data: Value) {
    for path in [format!("/v1/contacts/{id}"), format!("/v1/contacts/{id}/events"), format!("/v1/contacts/{id}/audit")]
    {
        let (status, body) = app.get("admin", &path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(noun), "{path}: {body}");
    }
    let before = app.head().await;
    let (status, body) = app.append("admin", id, "note_added", json!({"text": "appended to a stream"})).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("not a contact"), "{body}");
    let (status, body) = app.append("admin", contact, first, data).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["type"], "{body}");
    assert_eq!(app.head().await, before, "nothing was written");
}

/// Reads a response, checking that every error is problem+json with the contract's fields.
pub async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = resp.bytes().await.unwrap();
    let body: Value =
        if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    if status >= 400 {
        assert!(content_type.starts_with("application/problem+json"), "{status} came as {content_type:?}: {bytes:?}");
        assert_eq!(body["status"], status, "{body}");
        for field in ["type", "title", "detail"] {
            assert!(body[field].is_string(), "problem without {field}: {body}");
        }
    }
    assert_ne!(status, 500, "a 500: {body}");
    (status, body)
}

/// A valid `POST /v1/contacts` body.
pub fn contact_body() -> Value {
    json!({
        "channel": "phone",
        "source": "2A",
        "referrer": {"name": "Jo Teacher", "organisation": "Hillside Primary", "role": "DSL"},
        "children": [{"name": "Sam Example", "date_of_birth": "2017-05-04", "sex": "M", "nhs_number": "9434765919", "upn": "B801200005001", "ethnicity": "WBRI"}],
        "concerns": "Bruising on the upper arm, explanation inconsistent.",
        "consent": "given"
    })
}

/// Valid `data` for each event type, for contacts in the right state.
pub fn data_for(event_type: &str) -> Value {
    match event_type {
        "triage_rated" => json!({"rating": "amber", "reason": "significant concern"}),
        "call_logged" => {
            json!({"direction": "outbound", "with": "referrer", "started_at": "2026-01-05T10:00:00Z", "duration_seconds": 300, "summary": "Spoke with the DSL."})
        }
        "checks_requested" => json!({"agency": "police", "request": "Any police involvement with the household?"}),
        "checks_returned" => json!({"agency": "police", "summary": "Two callouts in 2025.", "restricted": false}),
        "duty_discussion_held" => {
            json!({"participants": [{"name": "A Social Worker", "role": "social worker", "agency": "childrens_social_care"}], "summary": "Discussed.", "recommendation": "assessment"})
        }
        "consent_recorded" => json!({"consent": "given", "reason": "Parent agreed by phone"}),
        "decision_made" => {
            json!({"outcome": "early_help", "rationale": "Needs support below threshold.", "level_of_need": 2, "primary_need": "N4"})
        }
        "action_plan_agreed" => {
            json!({"actions": [{"owner_agency": "education", "description": "School to offer ELSA sessions"}]})
        }
        "referrer_informed" => json!({"method": "phone", "summary": "Told the DSL the outcome."}),
        "handover_sent" => json!({"to": "early_help", "team": "Early Help South"}),
        "handover_accepted" => json!({"team": "Early Help South", "worker": "eh-kim"}),
        "handover_returned" => json!({"reason": "Family has moved out of area."}),
        "contact_closed" => json!({"reason": "Handed over to Early Help."}),
        "note_added" => json!({"text": "Called school back."}),
        "correction_recorded" => {
            json!({"corrects_event_id": "01J00000000000000000000000", "field": "children[0].name", "value": "Sam Sample", "reason": "typo"})
        }
        "audit_finding_recorded" => json!({"grade": "good", "findings": "Timely, well-reasoned decision."}),
        "contact_allocated" => json!({"worker": "practitioner"}),
        "referrer_feedback_given" => json!({"listened_to": 4, "knows_next_steps": 3, "comment": "Clear letter."}),
        // The plan's id is the caller's to fill in (the action_plan_agreed of the contact).
        "action_completed" => json!({"plan_event_id": "01J00000000000000000000000", "action_index": 0}),
        // Held a minute after now: after a decision made just before, not in the future beyond
        // the clock skew allowed.
        "strategy_discussion_held" => json!({
            "held_at": (chrono::Utc::now() + chrono::TimeDelta::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "agencies": ["police", "health"],
            "outcome": "s47_enquiry"
        }),
        other => panic!("no sample data for {other}"),
    }
}

/// Waits until `/readyz` says 200 (the read models have caught up with the log); a server still
/// starting (connection refused) is waited for too, up to a minute.
pub async fn ready(app: &TestApp) {
    for _ in 0..3000 {
        if let Ok(r) = app.client.get(format!("{}/readyz", app.url)).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("never ready");
}
