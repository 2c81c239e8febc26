//! The pages in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver, with `fantoccini`), against the real server binary started with `--demo`.
//!
//! Without `chromium` and `chromedriver` on the PATH the test prints a loud SKIPPED line and
//! passes, unless `FRONTDOOR_REQUIRE_BROWSER` is set (CI sets it, after installing both):
//! then their absence fails. Screenshots go to `target/browser-screenshots/`.
//!
//! Every page the test visits is also checked by axe-core (Deque's accessibility engine, the
//! npm package, pinned and installed by `ops/axe-install.sh` into `target/axe/`, or the file
//! `FRONTDOOR_AXE_JS` names) for WCAG 2.1 A and AA: any violation fails the test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_frontdoor");

/// Kills a child process when dropped (the server, chromedriver), even if the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.is_file()))
}

/// The browser and its driver, or `None` (SKIPPED) when they are missing and not required.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    match (on_path("chromium"), on_path("chromedriver")) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        missing => {
            let required = std::env::var_os("FRONTDOOR_REQUIRE_BROWSER").is_some();
            let text = format!(
                "chromium: {:?}, chromedriver: {:?}; install Debian's chromium and chromium-driver",
                missing.0, missing.1
            );
            assert!(!required, "FRONTDOOR_REQUIRE_BROWSER is set but the browser is missing: {text}");
            // Straight to stderr: the test harness would capture (and hide) an eprintln!.
            let line = format!("\n!!!!!!!! SKIPPED: the browser tests did not run ({text}) !!!!!!!!\n\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `frontdoor serve --demo`, with board streams that end every few seconds so that the
/// browser's reconnection (with `Last-Event-ID`) happens during the test.
fn start_server(dir: &std::path::Path) -> (Killed, String, HashMap<String, String>) {
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--overdue-tick-ms", "100", "--data-dir"])
        .arg(dir)
        .env("FRONTDOOR_LOG", "error")
        .env("FRONTDOOR_BOARD_STREAM_SECS", "4")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start frontdoor serve --demo");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("the address").unwrap();
    let url = first.strip_prefix("frontdoor listening on ").expect("listening line").to_owned();
    let mut tokens = HashMap::new();
    for line in lines.by_ref().map_while(Result::ok) {
        if line.starts_with("try:") {
            break;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() == 3 && words[2].starts_with("fd_") {
            tokens.entry(words[0].to_owned()).or_insert_with(|| words[2].to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), url, tokens)
}

fn start_driver(driver: &std::path::Path) -> (Killed, String) {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Killed(child), format!("http://127.0.0.1:{port}"))
}

async fn browser(driver_url: &str, chromium: &std::path::Path, profile: &std::path::Path) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1600,1000",
        "--lang=en-GB",
    ];
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), json!({"binary": chromium, "args": args}));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a Chromium session")
}

/// Polls a JavaScript expression until it is truthy; returns how long that took.
async fn wait_for(client: &Client, expression: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let value = client.execute(&format!("return !!({expression});"), vec![]).await.unwrap();
        if value == Value::Bool(true) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "not within {within:?}: {expression}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn js(client: &Client, expression: &str) -> Value {
    client.execute(&format!("return ({expression});"), vec![]).await.unwrap()
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// axe-core's script (the npm package, installed by `ops/axe-install.sh`), or `None` (SKIPPED)
/// when it is missing and not required (`FRONTDOOR_REQUIRE_BROWSER` requires it too).
fn axe_script() -> Option<String> {
    let path = std::env::var_os("FRONTDOOR_AXE_JS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe/node_modules/axe-core/axe.min.js")
    });
    match std::fs::read_to_string(&path) {
        Ok(script) => Some(script),
        Err(e) => {
            let required = std::env::var_os("FRONTDOOR_REQUIRE_BROWSER").is_some();
            let text = format!("{}: {e}; run ops/axe-install.sh", path.display());
            assert!(!required, "FRONTDOOR_REQUIRE_BROWSER is set but axe-core is missing: {text}");
            let line =
                format!("\n!!!!!!!! SKIPPED: the accessibility checks (axe-core) did not run ({text}) !!!!!!!!\n\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            None
        }
    }
}

/// Runs axe-core on the page as it is now, for WCAG 2.1 A and AA, and fails on any violation,
/// naming the rule, its impact and the first elements it found.
async fn axe(client: &Client, page: &str) {
    let Some(script) = axe_script() else { return };
    client.execute(&script, vec![]).await.unwrap();
    let run = "const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
          .then(r => done({checked: r.passes.length, violations: r.violations.map(v => ({
              id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))}))
          .catch(e => done({error: String(e)}));";
    let result = client.execute_async(run, vec![]).await.unwrap();
    assert!(result.get("error").is_none(), "axe-core did not run on {page}: {result}");
    let violations = result["violations"].as_array().cloned().unwrap_or_default();
    println!("axe-core on {page}: {} rules passed, {} violations", result["checked"], violations.len());
    assert!(violations.is_empty(), "axe-core found WCAG 2.1 A/AA violations on {page}: {violations:#?}");
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// Waits for a form's answer to be the page at `path` (a click may return before it comes, and
/// a failed sign-in just before is slowed down on purpose).
async fn wait_path(client: &Client, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let current = client.current_url().await.unwrap();
        if current.path() == path {
            return current.to_string();
        }
        assert!(Instant::now() < deadline, "still at {current}, not {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in(client: &Client, url: &str, page: &str, token: &str) {
    client.goto(&format!("{url}{page}")).await.unwrap();
    let current = client.current_url().await.unwrap();
    assert_eq!(current.path(), "/signin", "not signed in: sent to sign in");
    client.find(Locator::Css("#token")).await.unwrap().send_keys(token).await.unwrap();
    client.find(Locator::Css("#signin")).await.unwrap().click().await.unwrap();
    let current = wait_path(client, page).await;
    assert!(!current.contains(token), "the token is never in an address");
}

fn contact(name: &str, immediate: bool, occurred_at: Option<String>) -> Value {
    let mut body = json!({
        "channel": "phone",
        "source": "2A",
        "referrer": {"name": "Jo Teacher", "organisation": "Hillside Primary", "role": "DSL"},
        "children": [{"name": name, "date_of_birth": "2017-05-04", "sex": "F"}],
        "concerns": "Seen by the browser test.",
        "immediate_risk": immediate,
        "consent": "given"
    });
    if let Some(at) = occurred_at {
        body["occurred_at"] = json!(at);
    }
    body
}

async fn post(http: &reqwest::Client, url: &str, token: &str, path: &str, body: &Value) -> Value {
    let resp = http.post(format!("{url}{path}")).bearer_auth(token).json(body).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{path}");
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duty_board_and_the_qa_pages_in_chromium() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let data = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let (_server, url, tokens) = start_server(data.path());
    let (_driver, driver_url) = start_driver(&driver);
    let token =
        move |role: &str| tokens.get(role).unwrap_or_else(|| panic!("no demo {role} token: {tokens:?}")).clone();
    let http = reqwest::Client::new();
    let client = browser(&driver_url, &chromium, profile.path()).await;
    // Run the steps in a task so that the browser is closed even when one fails (a killed
    // chromedriver would leave its Chromium behind).
    let steps = {
        let client = client.clone();
        tokio::spawn(async move { run(&client, &http, &url, &token).await })
    };
    let outcome = steps.await;
    let _ = client.close().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn run(client: &Client, http: &reqwest::Client, url: &str, token: &(dyn Fn(&str) -> String + Send + Sync)) {
    // A wrong token is refused, and says so.
    client.goto(&format!("{url}/")).await.unwrap();
    client.find(Locator::Css("#token")).await.unwrap().send_keys("fd_nothing_wrong").await.unwrap();
    client.find(Locator::Css("#signin")).await.unwrap().click().await.unwrap();
    // The refusal is a new page, served after the failed sign-in's delay: wait for it rather
    // than look on the old page (a race seen on a busy machine).
    wait_for(client, "document.getElementById('signin-error')", Duration::from_secs(10)).await;
    let error = match client.find(Locator::Css("#signin-error")).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => panic!("{e}: {}", client.source().await.unwrap()),
    };
    assert!(error.contains("unknown or has been revoked"), "{error}");
    axe(client, "the sign-in page with its error").await;

    // Sign in as a practitioner: the demo queue appears.
    sign_in(client, url, "/", &token("practitioner")).await;
    assert_eq!(js(client, "document.cookie").await, "", "the session cookie is HttpOnly");
    wait_for(
        client,
        "document.body.dataset.connection === 'live' && Number(document.body.dataset.items) > 10",
        Duration::from_secs(10),
    )
    .await;
    let rows = js(client, "document.querySelectorAll('#queue-body tr.item').length").await.as_u64().unwrap();
    assert!(rows > 10, "the demo queue: {rows} rows");
    // Overdue items come first and say so in words.
    let first = client.find(Locator::Css("#queue-body tr.item")).await.unwrap().text().await.unwrap();
    assert!(first.contains("OVERDUE") && first.contains("Overdue by"), "the first row: {first}");
    screenshot(client, "board.png").await;
    axe(client, "the duty board").await;

    // A contact posted through the API appears within a second, and is announced.
    let sent = Instant::now();
    let created = post(http, url, &token("referrer"), "/v1/contacts", &contact("Zora Arrival", false, None)).await;
    let id = created["contact_id"].as_str().unwrap().to_owned();
    wait_for(client, &format!("document.querySelector('#queue-body tr[data-id=\"{id}\"]')"), Duration::from_secs(5))
        .await;
    let latency = sent.elapsed();
    println!("POST /v1/contacts → row on the board: {latency:?}");
    assert!(latency < Duration::from_secs(1), "appeared after {latency:?}");
    let arrivals = js(client, "document.getElementById('arrivals').textContent").await;
    assert!(arrivals.as_str().unwrap().contains("Zora"), "announced: {arrivals}");
    let row = client.find(Locator::Css(&format!("tr[data-id=\"{id}\"]"))).await.unwrap().text().await.unwrap();
    assert!(row.contains("Zora, 9") && row.contains("NEW") && row.contains("Phone"), "{row}");

    // An immediate-risk contact received just under two hours ago turns overdue on the board.
    let almost = (Utc::now() - chrono::Duration::hours(2) + chrono::Duration::seconds(3)).to_rfc3339();
    let created =
        post(http, url, &token("referrer"), "/v1/contacts", &contact("Olive Urgent", true, Some(almost))).await;
    let urgent = created["contact_id"].as_str().unwrap().to_owned();
    let selector = format!("#queue-body tr[data-id=\"{urgent}\"]");
    wait_for(client, &format!("document.querySelector('{selector}')"), Duration::from_secs(5)).await;
    let before = client.find(Locator::Css(&selector)).await.unwrap().text().await.unwrap();
    assert!(before.contains("IMMEDIATE RISK") && before.contains("Due in"), "{before}");
    wait_for(
        client,
        &format!("document.querySelector('{selector}').classList.contains('is-overdue')"),
        Duration::from_secs(10),
    )
    .await;
    let after = client.find(Locator::Css(&selector)).await.unwrap().text().await.unwrap();
    assert!(after.contains("OVERDUE") && after.contains("Overdue by"), "{after}");

    // The stream is ended every few seconds (FRONTDOOR_BOARD_STREAM_SECS): the browser comes
    // back with Last-Event-ID and gets what it missed, not a new snapshot.
    wait_for(client, "Number(document.body.dataset.reconnects || 0) >= 1", Duration::from_secs(15)).await;
    assert_eq!(js(client, "document.body.dataset.snapshots").await, "1", "resumed, not reloaded");
    let created = post(http, url, &token("referrer"), "/v1/contacts", &contact("Rhys Resumed", false, None)).await;
    let resumed = created["contact_id"].as_str().unwrap().to_owned();
    wait_for(client, &format!("document.querySelector('tr[data-id=\"{resumed}\"]')"), Duration::from_secs(8)).await;
    // A contact decided with no further action leaves the board.
    post(
        http,
        url,
        &token("decision_maker"),
        &format!("/v1/contacts/{resumed}/events"),
        &json!({"type": "decision_made", "data": {"outcome": "no_further_action", "rationale": "Test."}}),
    )
    .await;
    wait_for(client, &format!("!document.querySelector('tr[data-id=\"{resumed}\"]')"), Duration::from_secs(8)).await;
    assert_eq!(js(client, "document.body.dataset.snapshots").await, "1", "still no second snapshot");

    // Filters: red or immediate risk only.
    client.find(Locator::Css("#f-rating")).await.unwrap().select_by_value("urgent").await.unwrap();
    let shown = js(
        client,
        "[...document.querySelectorAll('#queue-body tr.item')].every(r => r.classList.contains('is-urgent'))",
    )
    .await;
    assert_eq!(shown, true, "only urgent rows");
    client.find(Locator::Css("#f-rating")).await.unwrap().select_by_value("").await.unwrap();

    // The timeline, opened from the keyboard, closed with Escape.
    let button = client.find(Locator::Css(&format!("tr[data-id=\"{id}\"] button.open"))).await.unwrap();
    button.send_keys("\u{E007}").await.unwrap(); // Enter
    wait_for(
        client,
        "document.getElementById('detail').open && document.getElementById('detail').dataset.loaded",
        Duration::from_secs(5),
    )
    .await;
    let timeline = client.find(Locator::Css("#timeline")).await.unwrap().text().await.unwrap();
    assert!(
        timeline.to_lowercase().contains("contact received") && timeline.contains("Hillside Primary"),
        "{timeline}"
    );
    screenshot(client, "timeline.png").await;
    axe(client, "the board with a timeline open").await;
    client.find(Locator::Css("#detail-close")).await.unwrap().send_keys("\u{E00C}").await.unwrap(); // Escape
    wait_for(client, "!document.getElementById('detail').open", Duration::from_secs(3)).await;
    wait_for(client, &format!("document.activeElement.dataset.id === '{id}'"), Duration::from_secs(3)).await;

    // Large text for the wall screen.
    client.find(Locator::Css("#large")).await.unwrap().click().await.unwrap();
    assert_eq!(js(client, "document.documentElement.classList.contains('large')").await, true);
    screenshot(client, "board-large.png").await;
    client.find(Locator::Css("#large")).await.unwrap().click().await.unwrap();

    children_pages(client, http, url, &token("practitioner")).await;

    // Sign out: the session ends and the board's stream with it.
    client.find(Locator::Css("form.who button")).await.unwrap().click().await.unwrap();
    wait_path(client, "/signin").await;

    // The QA page as an auditor: charts, the audit sample, a contact's trail, a finding.
    client.set_window_size(1600, 3400).await.unwrap();
    sign_in(client, url, "/qa", &token("auditor")).await;
    for chart in
        ["chart-channels", "chart-decision-time", "chart-assessment-team", "chart-outcomes", "chart-conversion"]
    {
        let n = js(client, &format!("document.querySelectorAll('#{chart} svg rect').length")).await.as_u64().unwrap();
        assert!(n > 2, "{chart}: {n} bars");
    }
    let sample = js(client, "document.querySelectorAll('#sample tbody tr').length").await.as_u64().unwrap();
    assert_eq!(sample, 10, "the default sample");
    screenshot(client, "qa.png").await;
    axe(client, "the QA page").await;
    client.set_window_size(1600, 1200).await.unwrap();

    let link = client.find(Locator::Css("#sample tbody tr a")).await.unwrap();
    let audited = link.text().await.unwrap();
    link.click().await.unwrap();
    wait_for(client, "document.getElementById('trail')", Duration::from_secs(5)).await;
    let trail = client.find(Locator::Css("#trail")).await.unwrap().text().await.unwrap();
    assert!(trail.contains("read audit") && trail.contains("demo-auditor"), "the read is logged and shown: {trail}");
    client.find(Locator::Css("#grade")).await.unwrap().select_by_value("requires_improvement").await.unwrap();
    client
        .find(Locator::Css("#findings"))
        .await
        .unwrap()
        .send_keys("Consent not recorded before checks; decision otherwise timely.")
        .await
        .unwrap();
    client.find(Locator::Css("#finding-submit")).await.unwrap().click().await.unwrap();
    wait_for(
        client,
        "document.getElementById('trail') && document.getElementById('trail').textContent.includes('audit finding recorded')",
        Duration::from_secs(10),
    )
    .await;
    wait_for(client, "!document.getElementById('finding-done').hidden", Duration::from_secs(5)).await;
    let done = client.find(Locator::Css("#finding-done")).await.unwrap().text().await.unwrap();
    assert!(done.contains("Finding recorded as event"), "{done}");
    client.set_window_size(1600, 2200).await.unwrap();
    screenshot(client, "audit-trail.png").await;
    axe(client, "a contact's audit trail").await;
    // And the API agrees: the finding is the contact's last event, by the auditor.
    let events: Value = http
        .get(format!("{url}/v1/contacts/{audited}/events"))
        .bearer_auth(token("admin"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = events.as_array().unwrap().last().unwrap();
    assert_eq!(last["type"], "audit_finding_recorded");
    assert_eq!(last["data"]["grade"], "requires_improvement");
    assert_eq!(last["actor"]["id"], "demo-auditor");
}

/// The children pages, signed in as a practitioner: a demo child who came back is searched for
/// by name and date of birth, found with why and how well it matched, and the child's page
/// lists the contacts about them in receipt order, each opening the board's timeline; the
/// queue row's previous contacts open the likely matches of its children.
async fn children_pages(client: &Client, http: &reqwest::Client, url: &str, practitioner: &str) {
    let get = |path: String| async move {
        let resp = http.get(format!("{url}{path}")).bearer_auth(practitioner).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.json::<Value>().await.unwrap()
    };
    // A contact on the queue about a child seen before, and that child's name and birth date.
    let queue = get("/v1/queue".into()).await;
    let again = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["previous_contacts"].as_u64().unwrap_or(0) > 0)
        .expect("the demo queue has a re-contact");
    let contact = again["contact_id"].as_str().unwrap().to_owned();
    let read = get(format!("/v1/contacts/{contact}")).await;
    let child = read["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["date_of_birth"].is_string())
        .expect("a child with a date of birth")
        .clone();
    let (name, born) = (child["name"].as_str().unwrap(), child["date_of_birth"].as_str().unwrap());

    // The search form, typed in.
    client.find(Locator::Css("nav a[href='/children']")).await.unwrap().click().await.unwrap();
    wait_path(client, "/children").await;
    axe(client, "the children search page").await;
    client.find(Locator::Css("#name")).await.unwrap().send_keys(name).await.unwrap();
    client.execute(&format!("document.getElementById('date_of_birth').value = '{born}'"), vec![]).await.unwrap();
    client.find(Locator::Css("form[action='/children'] button[type='submit']")).await.unwrap().click().await.unwrap();
    wait_for(client, "document.querySelector('table.candidates tbody tr')", Duration::from_secs(5)).await;
    let rows = client.find_all(Locator::Css("table.candidates tbody tr")).await.unwrap();
    let first = rows[0].text().await.unwrap();
    assert!(first.contains(name), "the child is the first candidate: {first}");
    assert!(first.contains("name") && first.contains("date of birth"), "why it matched: {first}");
    assert!(first.contains('%'), "its score: {first}");
    screenshot(client, "children-search.png").await;
    axe(client, "the children search results").await;

    // The child's page: every contact about them, oldest first, the queue's contact among them.
    client.find(Locator::Css("table.candidates tbody tr a")).await.unwrap().click().await.unwrap();
    wait_for(client, "document.getElementById('child-contacts')", Duration::from_secs(5)).await;
    let listed: Vec<String> =
        js(client, "[...document.querySelectorAll('#child-contacts tbody tr')].map(r => r.dataset.contact)")
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
    assert!(listed.len() >= 2, "a child who came back has several contacts: {listed:?}");
    assert!(listed.contains(&contact), "{contact} in {listed:?}");
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "in receipt order (a contact id starts with its receipt time)");
    let heading = client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(heading, name);
    screenshot(client, "child.png").await;
    axe(client, "a child's page").await;
    // A practitioner opens the board's timeline of a contact from there.
    let link = client.find(Locator::Css(&format!("#child-contacts tr[data-contact='{contact}'] a"))).await.unwrap();
    assert_eq!(link.attr("href").await.unwrap().unwrap(), format!("/?contact={contact}"));
    link.click().await.unwrap();
    wait_for(
        client,
        "document.getElementById('detail').open && document.getElementById('detail').dataset.loaded",
        Duration::from_secs(5),
    )
    .await;
    client.find(Locator::Css("#detail-close")).await.unwrap().click().await.unwrap();

    // From the queue row, its previous contacts open its children's likely matches.
    wait_for(
        client,
        &format!("document.querySelector('tr[data-id=\"{contact}\"] a.matches')"),
        Duration::from_secs(10),
    )
    .await;
    client.find(Locator::Css(&format!("tr[data-id=\"{contact}\"] a.matches"))).await.unwrap().click().await.unwrap();
    wait_path(client, "/children").await;
    wait_for(client, "document.querySelector('table.candidates tbody tr')", Duration::from_secs(5)).await;
    let matches = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(matches.contains(name), "the row's child among the matches: {matches}");
    axe(client, "a contact's possible matches").await;
    client.goto(&format!("{url}/")).await.unwrap();
    link_from_the_pages(client, &get, url).await;
}

/// A queue row marked "possible match" opens its children's candidates; the practitioner links
/// the contact's child to one of them from the page: without a reason the API's message shows
/// beside the field; with one, the page comes back saying so and the API's child record lists
/// the contact.
async fn link_from_the_pages<F, Fut>(client: &Client, get: &F, url: &str)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Value>,
{
    let queue = get("/v1/queue".into()).await;
    let marked = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["possible_match"] == true)
        .expect("the demo queue has a possible match");
    let contact = marked["contact_id"].as_str().unwrap().to_owned();
    let marker = format!("tr[data-id=\"{contact}\"] a.possible-match");
    wait_for(client, &format!("document.querySelector('{marker}')"), Duration::from_secs(10)).await;
    client.find(Locator::Css(&marker)).await.unwrap().click().await.unwrap();
    wait_path(client, "/children").await;
    wait_for(client, "document.querySelector('form.link-child')", Duration::from_secs(5)).await;
    let form = client.find(Locator::Css("form.link-child")).await.unwrap();
    let child_id = form.attr("data-child-id").await.unwrap().unwrap();
    assert_eq!(form.attr("data-contact").await.unwrap().unwrap(), contact);
    // No reason: the API's 422 names data.reason, shown beside the field.
    form.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
    wait_for(client, "document.querySelector('form.link-child .field-error').textContent", Duration::from_secs(5))
        .await;
    assert_eq!(
        js(client, "document.querySelector('form.link-child input').getAttribute('aria-invalid')").await,
        "true"
    );
    axe(client, "a link refused for want of a reason").await;
    let reason = form.find(Locator::Css("input[name='reason']")).await.unwrap();
    reason.send_keys("Same mother and school; the name is spelt two ways").await.unwrap();
    form.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
    wait_for(client, "!document.getElementById('link-done').hidden", Duration::from_secs(10)).await;
    let done = client.find(Locator::Css("#link-done")).await.unwrap().text().await.unwrap();
    assert!(done.contains("Linked") && done.contains(&child_id), "{done}");
    screenshot(client, "children-linked.png").await;
    axe(client, "a contact's candidates after a link").await;
    let record = get(format!("/v1/children/{child_id}")).await;
    let contacts: Vec<&str> =
        record["contacts"].as_array().unwrap().iter().map(|c| c["contact_id"].as_str().unwrap()).collect();
    assert!(contacts.contains(&contact.as_str()), "{contact} in {contacts:?}");
    client.goto(&format!("{url}/")).await.unwrap();
}
