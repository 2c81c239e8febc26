//! What an operator sees of the running binary: `/metrics` that Prometheus's own tool accepts,
//! with the gauges the alerts in ops/alerts.yml watch moving as the duty queue does; and the
//! log, one plain line per request; and the process running without transparent huge pages.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::harness::{BIN, TestApp, contact_body, create_token, ready, spawn_app};
use crate::sse::SseReader;

/// Every sample of `/metrics`, by its line's name and labels (`name{labels}` as written).
async fn scrape(app: &TestApp) -> (String, HashMap<String, f64>) {
    let resp = app.client.get(format!("{}/metrics", app.url)).bearer_auth(app.token("admin")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {l}")))
        })
        .collect();
    (text, samples)
}

fn gauge(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| panic!("no {series} in {samples:?}"))
}

/// Waits (up to 5 s) until `series` reads `want`; returns the last scrape.
async fn until(app: &TestApp, series: &str, want: f64) -> HashMap<String, f64> {
    for _ in 0..250 {
        let (_, samples) = scrape(app).await;
        if samples.get(series) == Some(&want) {
            return samples;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (text, _) = scrape(app).await;
    panic!("{series} never read {want}:\n{text}");
}

/// `promtool check metrics` on `text`, when promtool is installed (CI installs it, and
/// ops/promtool-check.sh checks the demo's metrics); `None` when it is not.
fn promtool(text: &str) -> Option<(bool, String)> {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    ))
}

#[tokio::test]
async fn the_on_call_gauges_follow_the_duty_queue_and_the_open_streams() {
    let app = spawn_app();
    ready(&app).await;
    let (text, samples) = scrape(&app).await;
    for series in [
        "frontdoor_queue_contacts",
        "frontdoor_queue_decisions_overdue",
        "frontdoor_queue_handovers_overdue",
        "frontdoor_queue_oldest_undecided_age_seconds",
        "frontdoor_sse_clients{stream=\"queue\"}",
        "frontdoor_sse_clients{stream=\"events\"}",
    ] {
        assert_eq!(gauge(&samples, series), 0.0, "{series} on an empty log:\n{text}");
    }

    // A contact received ten days ago (entered late, from the paper log): overdue a decision,
    // whatever the day of the week and the bank holidays.
    let mut late = contact_body();
    late["occurred_at"] = json!((chrono::Utc::now() - chrono::TimeDelta::days(10)).to_rfc3339());
    late["late_entry_reason"] = json!("entered from the paper log after an outage");
    let (status, created) = app.post("practitioner", "/v1/contacts", &late).await;
    assert_eq!(status, 201, "{created}");
    let late_id = created["contact_id"].as_str().unwrap().to_owned();
    // And one received now: on the queue, not overdue.
    app.new_contact("referrer").await;
    let samples = until(&app, "frontdoor_queue_contacts", 2.0).await;
    assert_eq!(gauge(&samples, "frontdoor_queue_decisions_overdue"), 1.0);
    assert_eq!(gauge(&samples, "frontdoor_queue_handovers_overdue"), 0.0);
    let age = gauge(&samples, "frontdoor_queue_oldest_undecided_age_seconds");
    assert!((10.0 * 86_400.0 - 5.0..10.0 * 86_400.0 + 60.0).contains(&age), "the oldest waits ten days: {age} s");

    // Decided eight days ago and never handed over (due within a working day of the decision):
    // no longer undecided, its handover overdue.
    let (status, body) = app
        .post(
            "decision_maker",
            &format!("/v1/contacts/{late_id}/events"),
            &json!({"type": "decision_made",
                "occurred_at": (chrono::Utc::now() - chrono::TimeDelta::days(8)).to_rfc3339(),
                "late_entry_reason": "entered from the paper log after an outage",
                "data": {"outcome": "early_help", "rationale": "Needs support below threshold.", "level_of_need": 2}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let samples = until(&app, "frontdoor_queue_handovers_overdue", 1.0).await;
    assert_eq!(gauge(&samples, "frontdoor_queue_decisions_overdue"), 0.0);
    assert_eq!(gauge(&samples, "frontdoor_queue_contacts"), 2.0, "a decided contact waits for its handover");
    let age = gauge(&samples, "frontdoor_queue_oldest_undecided_age_seconds");
    assert!(age < 600.0, "the oldest undecided contact is now the one received just now: {age} s");

    // One client on each stream, then two on the queue's; each counted under its own stream.
    let queue_url = format!("{}/v1/queue/stream", app.url);
    let events_url = format!("{}/v1/events/stream", app.url);
    let queue_a = SseReader::connect(&queue_url, app.token("practitioner"), None).await;
    let events = SseReader::connect(&events_url, app.token("auditor"), None).await;
    let samples = until(&app, "frontdoor_sse_clients{stream=\"events\"}", 1.0).await;
    assert_eq!(gauge(&samples, "frontdoor_sse_clients{stream=\"queue\"}"), 1.0);
    let queue_b = SseReader::connect(&queue_url, app.token("decision_maker"), None).await;
    until(&app, "frontdoor_sse_clients{stream=\"queue\"}", 2.0).await;
    drop((queue_a, queue_b, events));
    until(&app, "frontdoor_sse_clients{stream=\"queue\"}", 0.0).await;
    until(&app, "frontdoor_sse_clients{stream=\"events\"}", 0.0).await;

    let (text, _) = scrape(&app).await;
    match promtool(&text) {
        Some((ok, output)) => assert!(ok, "promtool check metrics: {output}\n{text}"),
        None => eprintln!("promtool is not installed: the exposition format is checked by ops/promtool-check.sh in CI"),
    }
}

#[tokio::test]
async fn each_request_is_one_plain_log_line_with_its_route_status_latency_and_actor() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(dir.path(), "practitioner", "sw-logs", "childrens_social_care");
    let log_path = dir.path().join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("FRONTDOOR_LOG", "info,tower_http=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let url = lines.next().unwrap().unwrap().strip_prefix("frontdoor listening on ").unwrap().to_owned();
    std::thread::spawn(move || for _ in lines {});
    let client = reqwest::Client::new();
    let (status, created) = crate::harness::read(
        client.post(format!("{url}/v1/contacts")).bearer_auth(&token).json(&contact_body()).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["contact_id"].as_str().unwrap();
    let (status, _) =
        crate::harness::read(client.get(format!("{url}/v1/contacts/{id}")).bearer_auth(&token).send().await.unwrap())
            .await;
    assert_eq!(status, 200);
    // A token typed into a path is a client's mistake the log must not repeat.
    let (status, _) = crate::harness::read(client.get(format!("{url}/v1/{token}")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    let _ = child.kill();
    let _ = child.wait();

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("\x1b["), "colour codes in a log that is not a terminal:\n{log}");
    let secret = token.rsplit('_').next().unwrap();
    assert!(!log.contains(secret), "a token in the log:\n{log}");
    let child_name = contact_body()["children"][0]["name"].as_str().unwrap().to_owned();
    assert!(!log.contains(&child_name), "a child's name in the log:\n{log}");
    assert!(!log.contains(id), "the route template, not the path:\n{log}");

    let answered: Vec<&str> = log.lines().filter(|l| l.contains(" INFO ") && l.contains(" answered ")).collect();
    assert_eq!(answered.len(), 3, "one line per request:\n{log}");
    let read_line = answered.iter().find(|l| l.contains("route=\"/v1/contacts/{id}\"")).expect("the read's line");
    for field in ["method=GET", "status=200", "latency_ms=", "actor=\"sw-logs\""] {
        assert!(read_line.contains(field), "{field} missing from: {read_line}");
    }
    let post_line = answered.iter().find(|l| l.contains("route=\"/v1/contacts\"")).expect("the append's line");
    assert!(
        post_line.contains("method=POST")
            && post_line.contains("status=201")
            && post_line.contains("actor=\"sw-logs\"")
    );
    let unmatched = answered.iter().find(|l| l.contains("status=404")).expect("the 404's line");
    assert!(unmatched.contains("route=\"unmatched\"") && !unmatched.contains("actor="), "{unmatched}");
}

/// The service turns transparent huge pages off for itself at start (15% of a start-up
/// rebuild went to the kernel zeroing 2 MiB pages: docs/DECISIONS.md, "The start-up
/// rebuild"): the kernel says so in the process's status, whatever the machine's setting.
#[test]
fn the_running_service_has_transparent_huge_pages_off() {
    let app = spawn_app();
    let status = std::fs::read_to_string(format!("/proc/{}/status", app.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("THP_enabled:")).expect("a kernel that reports THP_enabled");
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
}
