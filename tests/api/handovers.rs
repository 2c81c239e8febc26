//! Handovers (issue 12, points 3 and 4): who accepts a handover, what a receiving team reads,
//! and when a pending handover is due for acceptance.

use std::time::Duration;

use chrono::{DateTime, Utc};
use projections::time::DuePolicy;
use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, ready, spawn_app, spawn_app_with};
use crate::sse::SseReader;

const AT_NORTH: &str = "AT North";

/// An app with receiving-team tokens for AT North (`at-sam`) and AT South (`at-kim`).
async fn app_with_teams(extra: &[&str]) -> TestApp {
    let mut app = spawn_app_with(extra);
    app.add_team_token("at-sam", AT_NORTH);
    app.add_team_token("at-kim", "AT South");
    ready(&app).await;
    app
}

async fn ok(app: &TestApp, who: &str, contact: &str, event_type: &str, data: Value) -> Value {
    let (status, body) = app.append(who, contact, event_type, data).await;
    assert_eq!(status, 201, "{who} {event_type}: {body}");
    body
}

/// A contact received (with `body`), decided `outcome` and handed over `to` `team`.
async fn handed_over(app: &TestApp, body: &Value, outcome: &str, to: &str, team: Option<&str>) -> String {
    let (status, created) = app.post("practitioner", "/v1/contacts", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["contact_id"].as_str().unwrap().to_owned();
    let decision = json!({"outcome": outcome, "rationale": "Threshold met.", "level_of_need": 4, "primary_need": "N1"});
    ok(app, "decision_maker", &id, "decision_made", decision).await;
    let mut handover = json!({"to": to});
    if let Some(team) = team {
        handover["team"] = json!(team);
    }
    ok(app, "practitioner", &id, "handover_sent", handover).await;
    id
}

async fn version(app: &TestApp, contact: &str) -> u64 {
    let (status, body) = app.get("admin", &format!("/v1/contacts/{contact}")).await;
    assert_eq!(status, 200, "{body}");
    body["version"].as_u64().unwrap()
}

fn queue_ids(queue: &Value) -> Vec<String> {
    queue["items"].as_array().unwrap().iter().map(|i| i["contact_id"].as_str().unwrap().to_owned()).collect()
}

fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")).parse().unwrap()
}

/// Issue 12, point 3: the front door's own practitioner recorded `handover_accepted`, so the
/// front door reported its own handovers to the Assessment Team as accepted.
#[tokio::test]
async fn bug_the_front_door_accepted_its_own_handover() {
    let app = app_with_teams(&[]).await;
    let id = handed_over(&app, &contact_body(), "assessment", "assessment_team", Some(AT_NORTH)).await;
    let before = version(&app, &id).await;
    let accept = json!({"team": AT_NORTH, "worker": "at-sam"});
    for who in ["practitioner", "decision_maker"] {
        let (status, body) = app.append(who, &id, "handover_accepted", accept.clone()).await;
        assert_eq!(status, 403, "{who} accepting: {body}");
        assert!(body["detail"].as_str().unwrap().contains("AT North"), "{body}");
        let (status, body) = app.append(who, &id, "handover_returned", json!({"reason": "r"})).await;
        assert_eq!(status, 403, "{who} returning: {body}");
    }
    // Another team does not even learn the contact exists.
    let (status, body) = app.append("at-kim", &id, "handover_accepted", json!({"team": "AT South"})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(version(&app, &id).await, before, "the log is untouched");

    // The team it names accepts it, for itself.
    let (status, body) = app.append("at-sam", &id, "handover_accepted", json!({"team": "AT South"})).await;
    assert_eq!((status, body["rule"].as_str()), (422, Some("acceptance-names-own-team")), "{body}");
    let env = ok(&app, "at-sam", &id, "handover_accepted", accept).await;
    assert_eq!(
        env["actor"],
        json!({"id": "at-sam", "role": "receiving_team", "agency": "childrens_social_care", "team": AT_NORTH})
    );
    let (_, contact) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["handover"]["status"], "accepted");
    assert_eq!(contact["handover"]["accepted_team"], AT_NORTH);
    // And the front door closes it.
    ok(&app, "practitioner", &id, "contact_closed", json!({"reason": "Accepted by AT North."})).await;

    // An admin may answer for a team (e.g. one whose tokens are not yet issued).
    let id = handed_over(&app, &contact_body(), "early_help", "early_help", Some("Early Help East")).await;
    ok(&app, "admin", &id, "handover_returned", json!({"reason": "Sent to the wrong area."})).await;
}

#[tokio::test]
async fn a_handover_to_the_assessment_team_or_early_help_must_name_the_team() {
    let app = spawn_app();
    for (outcome, to) in [("assessment", "assessment_team"), ("early_help", "early_help")] {
        let id = app.new_contact("referrer").await;
        ok(
            &app,
            "decision_maker",
            &id,
            "decision_made",
            json!({"outcome": outcome, "rationale": "r", "primary_need": "N1"}),
        )
        .await;
        let before = version(&app, &id).await;
        for data in [json!({"to": to}), json!({"to": to, "team": "   "})] {
            let (status, body) = app.append("practitioner", &id, "handover_sent", data).await;
            assert_eq!((status, body["rule"].as_str()), (422, Some("handover-needs-team")), "{body}");
        }
        assert_eq!(version(&app, &id).await, before, "the log is untouched");
        ok(&app, "practitioner", &id, "handover_sent", json!({"to": to, "team": "North"})).await;
    }
}

/// For handovers to teams that often have no frontdoor token, the front door records the
/// acceptance, saying how it was confirmed, so the contact can still be closed.
#[tokio::test]
async fn an_acceptance_the_front_door_records_says_how_it_was_confirmed() {
    let app = app_with_teams(&[]).await;
    for (who, to) in [("practitioner", "community"), ("decision_maker", "tafso"), ("practitioner", "other")] {
        let id = handed_over(&app, &contact_body(), "early_help", to, None).await;
        let before = version(&app, &id).await;
        let (status, body) = app.append(who, &id, "handover_accepted", json!({"team": "Family Hub West"})).await;
        assert_eq!((status, body["rule"].as_str()), (422, Some("acceptance-needs-evidence")), "{to}: {body}");
        assert_eq!(version(&app, &id).await, before, "the log is untouched");
        let evidence = "Confirmed by phone with the hub manager, 10:40.";
        let data = json!({"team": "Family Hub West", "worker": "fh-lee", "evidence": evidence});
        let env = ok(&app, who, &id, "handover_accepted", data).await;
        assert_eq!(env["data"]["evidence"], evidence);
        ok(&app, "practitioner", &id, "contact_closed", json!({"reason": "Accepted by the family hub."})).await;
    }
    // A team that has a token, named on such a handover, records its own, no evidence needed.
    let id = handed_over(&app, &contact_body(), "early_help", "community", Some(AT_NORTH)).await;
    ok(&app, "at-sam", &id, "handover_accepted", json!({"team": AT_NORTH})).await;
}

#[tokio::test]
async fn a_receiving_team_reads_and_answers_only_its_own_handovers() {
    let app = app_with_teams(&[]).await;
    let ours = handed_over(&app, &contact_body(), "assessment", "assessment_team", Some("at north")).await;
    let theirs = handed_over(&app, &contact_body(), "assessment", "assessment_team", Some("AT South")).await;
    let undecided = app.new_contact("referrer").await;

    // Its own: the contact and its events (the team name matched ignoring case).
    let (status, contact) = app.get("at-sam", &format!("/v1/contacts/{ours}")).await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["handover"]["status"], "pending");
    let (status, events) = app.get("at-sam", &format!("/v1/contacts/{ours}/events")).await;
    assert_eq!((status, events.as_array().unwrap().len()), (200, 3));
    // Any other: exactly what an unknown contact gets.
    let (_, unknown) = app.get("at-sam", "/v1/contacts/01J00000000000000000000000").await;
    for other in [&theirs, &undecided] {
        for path in [format!("/v1/contacts/{other}"), format!("/v1/contacts/{other}/events")] {
            let (status, body) = app.get("at-sam", &path).await;
            assert_eq!(status, 404, "{path}: {body}");
            assert_eq!(body["title"], unknown["title"]);
        }
        let (status, _) = app.append("at-sam", other, "handover_returned", json!({"reason": "not ours"})).await;
        assert_eq!(status, 404);
    }
    // Never the audit trail, the global log, the figures or the board.
    for path in [format!("/v1/contacts/{ours}/audit"), "/v1/events".into(), "/v1/metrics/timeliness".into()] {
        assert_eq!(app.get("at-sam", &path).await.0, 403, "{path}");
    }
    // Only handover_accepted and handover_returned, even on its own contact.
    for (event_type, data) in [
        ("note_added", json!({"text": "x"})),
        ("triage_rated", json!({"rating": "red"})),
        ("contact_closed", json!({"reason": "x"})),
        ("handover_sent", json!({"to": "assessment_team", "team": AT_NORTH})),
    ] {
        assert_eq!(app.append("at-sam", &ours, event_type, data).await.0, 403, "{event_type}");
    }
    assert_eq!(app.post("at-sam", "/v1/contacts", &contact_body()).await.0, 403);

    // Its queue is its pending handovers, and only those.
    let (status, queue) = app.get("at-sam", "/v1/queue").await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(queue_ids(&queue), vec![ours.clone()]);
    assert_eq!(queue["items"][0]["stage"], "handover_sent");
    let (_, duty) = app.get("practitioner", "/v1/queue").await;
    assert_eq!(queue_ids(&duty).len(), 3, "the duty team's queue is untouched: {duty}");
    // Its own ETag: a 304 while its queue stands, never the duty queue's validator.
    let get = |who: &'static str, etag: Option<String>| {
        let mut req = app.client.get(format!("{}/v1/queue", app.url)).bearer_auth(app.token(who));
        if let Some(etag) = etag {
            req = req.header("if-none-match", etag);
        }
        req.send()
    };
    let etag = get("at-sam", None).await.unwrap().headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(get("at-sam", Some(etag.clone())).await.unwrap().status(), 304);
    assert_eq!(get("practitioner", Some(etag.clone())).await.unwrap().status(), 200);
    assert_eq!(get("at-kim", Some(etag)).await.unwrap().status(), 200, "another team's queue differs");

    // Returned: no longer pending, still its contact to read; sent elsewhere: no longer its.
    ok(&app, "at-sam", &ours, "handover_returned", json!({"reason": "Needs police checks first."})).await;
    assert!(queue_ids(&app.get("at-sam", "/v1/queue").await.1).is_empty());
    assert_eq!(app.get("at-sam", &format!("/v1/contacts/{ours}")).await.0, 200);
    ok(&app, "practitioner", &ours, "handover_sent", json!({"to": "assessment_team", "team": "AT South"})).await;
    assert_eq!(app.get("at-sam", &format!("/v1/contacts/{ours}")).await.0, 404);
    let mut south = queue_ids(&app.get("at-kim", "/v1/queue").await.1);
    south.sort();
    let mut expected = vec![theirs, ours];
    expected.sort();
    assert_eq!(south, expected);
}

#[tokio::test]
async fn a_receiving_teams_queue_stream_carries_only_its_own_handovers() {
    let app = app_with_teams(&[]).await;
    let already = handed_over(&app, &contact_body(), "assessment", "assessment_team", Some(AT_NORTH)).await;
    let mut stream = SseReader::connect(&format!("{}/v1/queue/stream", app.url), app.token("at-sam"), None).await;
    let snapshot = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(queue_ids(&snapshot.data), vec![already.clone()]);

    // Other contacts come and go without a word to this team.
    let other = handed_over(&app, &contact_body(), "assessment", "assessment_team", Some("AT South")).await;
    ok(&app, "at-kim", &other, "handover_accepted", json!({"team": "AT South"})).await;
    // Its own: an upsert when handed over (the first thing it hears), a remove when answered.
    let ours = handed_over(&app, &contact_body(), "assessment", "assessment_team", Some(AT_NORTH)).await;
    let said = |m: Option<crate::sse::SseMessage>| {
        let m = m.expect("a message");
        (m.event, m.data["contact_id"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(said(stream.next(Duration::from_secs(5)).await), ("upsert".to_owned(), ours.clone()));
    ok(&app, "at-sam", &ours, "handover_accepted", json!({"team": AT_NORTH})).await;
    assert_eq!(said(stream.next(Duration::from_secs(5)).await), ("remove".to_owned(), ours.clone()));
    assert!(stream.drain(Duration::from_millis(300)).await.is_empty());

    // A reconnect with Last-Event-ID gets its queue afresh, never the changes to others' contacts.
    let mut again = SseReader::connect(&format!("{}/v1/queue/stream", app.url), app.token("at-sam"), Some("1")).await;
    let first = again.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!((first.event.as_str(), queue_ids(&first.data)), ("snapshot", vec![already.clone()]));
    assert!(again.drain(Duration::from_millis(300)).await.is_empty());
}

#[tokio::test]
async fn a_receiving_team_does_not_see_restricted_checks_unless_the_config_says_so() {
    const MARKER: &str = "Qx9RESTRICTEDz4";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("frontdoor.toml");
    std::fs::write(&config, "receiving_team_sees_restricted = true\n").unwrap();
    for (extra, sees) in [(vec![], false), (vec!["--config", config.to_str().unwrap()], true)] {
        let app = app_with_teams(&extra).await;
        let id = app.new_contact("referrer").await;
        let check = json!({"agency": "police", "summary": format!("{MARKER} intelligence"), "restricted": true});
        ok(&app, "partner_police", &id, "checks_returned", check).await;
        ok(
            &app,
            "decision_maker",
            &id,
            "decision_made",
            json!({"outcome": "assessment", "rationale": "r", "primary_need": "N1"}),
        )
        .await;
        ok(&app, "practitioner", &id, "handover_sent", json!({"to": "assessment_team", "team": AT_NORTH})).await;
        let (_, contact) = app.get("at-sam", &format!("/v1/contacts/{id}")).await;
        let (_, events) = app.get("at-sam", &format!("/v1/contacts/{id}/events")).await;
        let (_, queue) = app.get("at-sam", "/v1/queue").await;
        for (what, body) in [("contact", &contact), ("events", &events)] {
            assert_eq!(body.to_string().contains(MARKER), sees, "{what} (configured: {sees}): {body}");
        }
        assert_eq!(contact["checks"].as_array().unwrap().len(), usize::from(sees));
        assert!(!queue.to_string().contains(MARKER));
        // The setting is the receiving team's alone.
        let (_, practitioner) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
        assert!(!practitioner.to_string().contains(MARKER));
    }
}

#[test]
fn a_receiving_team_token_needs_its_team_and_only_it_has_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(crate::harness::BIN)
            .args(["token", "create", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let missing = run(&["--role", "receiving_team", "--actor", "at-sam"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--team"), "{missing:?}");
    let other = run(&["--role", "practitioner", "--actor", "sw-ana", "--team", AT_NORTH]);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("--team"), "{other:?}");
    let made = run(&["--role", "receiving_team", "--actor", "at-sam", "--team", AT_NORTH]);
    assert!(made.status.success(), "{made:?}");
    let list = std::process::Command::new(crate::harness::BIN)
        .args(["token", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let listing = String::from_utf8(list.stdout).unwrap();
    let line = listing.lines().find(|l| l.contains("at-sam")).unwrap();
    assert!(line.contains("receiving_team") && line.ends_with(AT_NORTH), "{listing}");
}

/// Issue 12, point 4: a pending handover was due for acceptance a working day after the
/// decision, whatever the risk, so a handover of a child at immediate risk could wait a whole
/// working day (or a weekend) for the Assessment Team without showing as overdue.
#[tokio::test]
async fn bug_an_urgent_handover_waited_a_working_day_for_acceptance() {
    let app = app_with_teams(&[]).await;
    let policy = DuePolicy::default();
    let ago = |minutes: i64| (Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
    let mut urgent = contact_body();
    urgent["immediate_risk"] = json!(true);
    let mut ids = Vec::new();
    for body in [contact_body(), urgent] {
        let mut body = body;
        body["occurred_at"] = json!(ago(240));
        let (status, created) = app.post("practitioner", "/v1/contacts", &body).await;
        assert_eq!(status, 201, "{created}");
        let id = created["contact_id"].as_str().unwrap().to_owned();
        let decision = json!({"type": "decision_made", "occurred_at": ago(230),
            "data": {"outcome": "assessment", "rationale": "r", "primary_need": "N1"}});
        let (status, env) = app.post("decision_maker", &format!("/v1/contacts/{id}/events"), &decision).await;
        assert_eq!(status, 201, "{env}");
        // Handed over three hours ago.
        let sent = json!({"type": "handover_sent", "occurred_at": ago(180),
            "data": {"to": "assessment_team", "team": AT_NORTH}});
        let (status, env) = app.post("practitioner", &format!("/v1/contacts/{id}/events"), &sent).await;
        assert_eq!(status, 201, "{env}");
        ids.push((id, ts(&env["occurred_at"])));
    }
    let [(routine, routine_sent), (urgent, urgent_sent)] = [ids[0].clone(), ids[1].clone()];
    let (_, queue) = app.get("practitioner", "/v1/queue").await;
    // Overdue first: the urgent handover was due two hours after it was sent.
    assert_eq!(queue_ids(&queue), [urgent.clone(), routine.clone()], "{queue}");
    let (first, second) = (&queue["items"][0], &queue["items"][1]);
    assert_eq!(ts(&first["due_by"]), urgent_sent + chrono::Duration::hours(2));
    assert_eq!(first["overdue"], true);
    assert_eq!(ts(&second["due_by"]), policy.handover_due_by(routine_sent, false));
    assert_eq!(second["overdue"], false);
    // The receiving team's queue and the contact view say the same (but for the duty team's
    // possible matches in the child index, which a receiving team is not told of).
    let (_, team_queue) = app.get("at-sam", "/v1/queue").await;
    let mut duty_items = queue["items"].clone();
    for item in duty_items.as_array_mut().unwrap() {
        assert!(item.as_object_mut().unwrap().remove("possible_match").is_some(), "{item}");
    }
    assert_eq!(team_queue["items"], duty_items);
    let (_, contact) = app.get("at-sam", &format!("/v1/contacts/{urgent}")).await;
    assert_eq!(contact["handover"]["due_by"], first["due_by"]);
    assert_eq!(contact["handover"]["overdue"], true);
    // Accepted: off the queue, nothing due.
    ok(&app, "at-sam", &urgent, "handover_accepted", json!({"team": AT_NORTH})).await;
    let (_, contact) = app.get("at-sam", &format!("/v1/contacts/{urgent}")).await;
    assert_eq!((contact["handover"]["due_by"].is_null(), &contact["handover"]["overdue"]), (true, &json!(false)));
    assert_eq!(queue_ids(&app.get("practitioner", "/v1/queue").await.1), [routine]);
}
