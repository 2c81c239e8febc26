//! The live side: the duty queue, its SSE feed, the global event stream, overdue announcements.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;

use crate::harness::{contact_body, ready, spawn_app, spawn_app_with};
use crate::sse::SseReader;

#[tokio::test]
async fn the_queue_lists_open_contacts_in_the_contracts_order() {
    let app = spawn_app();
    ready(&app).await;
    let routine = app.new_contact("referrer").await;
    let mut urgent_body = contact_body();
    urgent_body["immediate_risk"] = json!(true);
    let (_, urgent) = app.post("referrer", "/v1/contacts", &urgent_body).await;
    let urgent = urgent["contact_id"].as_str().unwrap().to_owned();
    let mut old_body = contact_body();
    old_body["occurred_at"] = json!((Utc::now() - chrono::Duration::days(6)).to_rfc3339());
    old_body["late_entry_reason"] = json!("typed up from the weekend's paper notes");
    let (_, old) = app.post("referrer", "/v1/contacts", &old_body).await;
    let old = old["contact_id"].as_str().unwrap().to_owned();
    let done = app.new_contact("referrer").await;
    app.append("decision_maker", &done, "decision_made", json!({"outcome": "no_further_action", "rationale": "r"}))
        .await;

    let (status, queue) = app.get("practitioner", "/v1/queue").await;
    assert_eq!(status, 200, "{queue}");
    let ids: Vec<&str> = queue["items"].as_array().unwrap().iter().map(|i| i["contact_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [old.as_str(), urgent.as_str(), routine.as_str()], "overdue, then urgent, then by due_by: {queue}");
    let first = &queue["items"][0];
    assert_eq!(first["overdue"], true);
    assert_eq!(first["children"][0]["name"], "Sam Example");
    assert!(first["children"][0]["age"].is_u64());
    assert_eq!(first["stage"], "awaiting_decision");
    assert!(queue["as_of_position"].as_u64().unwrap() >= 5);
    let (status, _) = app.get("referrer", "/v1/queue").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_new_contact_reaches_a_connected_queue_stream_at_once() {
    let app = spawn_app();
    ready(&app).await;
    app.new_contact("referrer").await;
    let mut stream = SseReader::connect(&format!("{}/v1/queue/stream", app.url), app.token("practitioner"), None).await;
    let snapshot = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data["items"].as_array().unwrap().len(), 1);

    let mut latencies = Vec::new();
    for _ in 0..5 {
        let sent = Instant::now();
        let id = app.new_contact("referrer").await;
        let msg = stream.next(Duration::from_secs(5)).await.expect("an upsert");
        latencies.push(sent.elapsed());
        assert_eq!(msg.event, "upsert");
        assert_eq!(msg.data["contact_id"], id.as_str());
    }
    println!("post → SSE upsert: {latencies:?}");
    // Deciding NFA takes it off the queue.
    let id = app.new_contact("referrer").await;
    stream.next(Duration::from_secs(5)).await.unwrap();
    app.append("decision_maker", &id, "decision_made", json!({"outcome": "no_further_action", "rationale": "r"})).await;
    let msg = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!((msg.event.as_str(), msg.data["contact_id"].as_str()), ("remove", Some(id.as_str())));
}

#[tokio::test]
async fn a_queue_client_that_reconnects_gets_exactly_what_it_missed() {
    let app = spawn_app();
    ready(&app).await;
    let stays = app.new_contact("referrer").await;
    let leaves = app.new_contact("referrer").await;
    let mut stream = SseReader::connect(&format!("{}/v1/queue/stream", app.url), app.token("practitioner"), None).await;
    let snapshot = stream.next(Duration::from_secs(5)).await.unwrap();
    let last_id = snapshot.id.clone().unwrap();
    drop(stream);

    // While disconnected: one new contact, one decided off the queue, one triaged.
    let arrives = app.new_contact("referrer").await;
    app.append("decision_maker", &leaves, "decision_made", json!({"outcome": "no_further_action", "rationale": "r"}))
        .await;
    app.append("practitioner", &stays, "triage_rated", json!({"rating": "red"})).await;

    let mut stream =
        SseReader::connect(&format!("{}/v1/queue/stream", app.url), app.token("practitioner"), Some(&last_id)).await;
    let missed = stream.drain(Duration::from_millis(600)).await;
    let mut seen: Vec<(String, String)> =
        missed.iter().map(|m| (m.event.clone(), m.data["contact_id"].as_str().unwrap().to_owned())).collect();
    seen.sort();
    let mut expected = vec![
        ("remove".to_owned(), leaves.clone()),
        ("upsert".to_owned(), arrives.clone()),
        ("upsert".to_owned(), stays.clone()),
    ];
    expected.sort();
    assert_eq!(seen, expected, "each missed change once, and no snapshot");
    let triaged = missed.iter().find(|m| m.data["contact_id"] == stays.as_str()).unwrap();
    assert_eq!(triaged.data["rating"], "red");

    // And it carries on live.
    let later = app.new_contact("referrer").await;
    let msg = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(msg.data["contact_id"], later.as_str());
}

#[tokio::test]
async fn the_event_stream_resumes_with_exactly_the_missed_events_in_order() {
    let app = spawn_app();
    ready(&app).await;
    for _ in 0..3 {
        app.new_contact("referrer").await;
    }
    let url = format!("{}/v1/events/stream?after=0", app.url);
    let mut stream = SseReader::connect(&url, app.token("auditor"), None).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let m = stream.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(m.event, "contact_received");
        assert_eq!(m.data["position"].to_string(), m.id.clone().unwrap());
        ids.push(m.id.unwrap());
    }
    assert_eq!(ids, ["1", "2", "3"]);
    drop(stream);
    for _ in 0..4 {
        app.new_contact("referrer").await;
    }
    let mut stream = SseReader::connect(&url, app.token("auditor"), Some("3")).await;
    let resumed: Vec<String> =
        stream.drain(Duration::from_millis(500)).await.into_iter().map(|m| m.id.unwrap()).collect();
    assert_eq!(resumed, ["4", "5", "6", "7"], "exactly the missed events, once, in order");

    let resp = app
        .client
        .get(&url)
        .bearer_auth(app.token("auditor"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    let (status, problem) = crate::harness::read(resp).await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"][0]["field"], "Last-Event-ID");
}

#[tokio::test]
async fn an_item_turning_overdue_is_announced_with_no_new_event() {
    let app = spawn_app_with(&["--overdue-tick-ms", "100"]);
    ready(&app).await;
    // Immediate risk is due two hours after receipt: received 2 h minus 1.5 s ago.
    let mut body = contact_body();
    body["immediate_risk"] = json!(true);
    body["occurred_at"] =
        json!((Utc::now() - chrono::Duration::hours(2) + chrono::Duration::milliseconds(1500)).to_rfc3339());
    let (_, created) = app.post("referrer", "/v1/contacts", &body).await;
    let id = created["contact_id"].as_str().unwrap().to_owned();
    let head = app.head().await;
    let mut stream = SseReader::connect(&format!("{}/v1/queue/stream", app.url), app.token("practitioner"), None).await;
    let snapshot = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snapshot.data["items"][0]["overdue"], false);
    let msg = stream.next(Duration::from_secs(5)).await.expect("an overdue upsert");
    assert_eq!(msg.event, "upsert");
    assert_eq!(msg.data["contact_id"], id.as_str());
    assert_eq!(msg.data["overdue"], true);
    assert_eq!(app.head().await, head, "no event was appended");
}

#[tokio::test]
async fn a_revoked_token_closes_its_open_stream() {
    let app = spawn_app();
    ready(&app).await;
    let token = crate::harness::create_token(app.dir.path(), "practitioner", "sw-temp", "childrens_social_care");
    let mut stream = SseReader::connect(&format!("{}/v1/queue/stream", app.url), &token, None).await;
    stream.next(Duration::from_secs(5)).await.unwrap();
    let list = std::process::Command::new(crate::harness::BIN)
        .args(["token", "list", "--data-dir"])
        .arg(app.dir.path())
        .output()
        .unwrap();
    let listing = String::from_utf8(list.stdout).unwrap();
    let id = listing.lines().find(|l| l.contains("sw-temp")).unwrap().split_whitespace().next().unwrap().to_owned();
    let status = std::process::Command::new(crate::harness::BIN)
        .args(["token", "revoke", "--data-dir"])
        .arg(app.dir.path())
        .arg(&id)
        .status()
        .unwrap();
    assert!(status.success());
    // Nothing more reaches the revoked token, and the stream ends.
    let started = Instant::now();
    app.new_contact("referrer").await;
    let leaked = stream.next(Duration::from_secs(5)).await;
    assert!(leaked.is_none(), "a revoked token still received {leaked:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "the stream ended rather than idled");
}

/// A client reads its own writes: a contact acknowledged by POST is on the very next queue
/// read (the read waits for the live model to apply everything acknowledged before it).
#[tokio::test]
async fn the_queue_read_right_after_a_post_holds_the_new_contact() {
    let app = spawn_app();
    ready(&app).await;
    for round in 0..20 {
        let id = app.new_contact("referrer").await;
        let (status, queue) = app.get("practitioner", "/v1/queue").await;
        assert_eq!(status, 200);
        let ids: Vec<&str> =
            queue["items"].as_array().unwrap().iter().map(|i| i["contact_id"].as_str().unwrap()).collect();
        assert!(ids.contains(&id.as_str()), "round {round}: {id} missing from {ids:?}");
        let (_, t) = app.get("practitioner", "/v1/metrics/timeliness").await;
        assert_eq!(t["contacts"], round + 1, "round {round}: the figures count it too");
    }
}

/// `GET /v1/queue` as raw bytes, with its `ETag`, optionally sending `If-None-Match`.
async fn queue_bytes(app: &crate::harness::TestApp, who: &str, if_none_match: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut req = app.client.get(format!("{}/v1/queue", app.url)).bearer_auth(app.token(who));
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let etag = resp.headers().get("etag").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, etag, resp.bytes().await.unwrap().to_vec())
}

/// The queue carries a strong `ETag`: sent back as `If-None-Match` it gets a 304 with no body
/// until the queue changes, and then the new queue. Every role that may read the queue reads
/// the same bytes, restricted checks on a contact notwithstanding.
#[tokio::test]
async fn the_queue_answers_a_matching_if_none_match_with_304_until_it_changes() {
    let app = spawn_app();
    ready(&app).await;
    let id = app.new_contact("referrer").await;
    let restricted =
        json!({"agency": "police", "summary": "Restricted: an ongoing investigation.", "restricted": true});
    let (status, body) = app.append("partner_police", &id, "checks_returned", restricted).await;
    assert_eq!(status, 201, "{body}");

    let (status, etag, body) = queue_bytes(&app, "practitioner", None).await;
    assert_eq!(status, 200);
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "a strong ETag: {etag:?}");
    let queue: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(queue["items"][0]["contact_id"], id.as_str());
    assert!(!String::from_utf8_lossy(&body).contains("investigation"), "the queue never quotes a check");
    for who in ["decision_maker", "partner_police", "partner_health", "auditor", "admin"] {
        let (status, tag, same) = queue_bytes(&app, who, None).await;
        assert_eq!((status, &tag), (200, &etag), "{who}");
        assert_eq!(same, body, "{who} reads the same queue");
    }

    let (status, tag, empty) = queue_bytes(&app, "practitioner", Some(&etag)).await;
    assert_eq!((status, tag.as_str(), empty.len()), (304, etag.as_str(), 0));
    let (status, _, _) = queue_bytes(&app, "practitioner", Some(&format!("\"other\", {etag}"))).await;
    assert_eq!(status, 304, "one of a list of ETags");
    let (status, _, _) = queue_bytes(&app, "referrer", Some(&etag)).await;
    assert_eq!(status, 403, "a 304 is still only for those who may read the queue");

    // A new contact: the old ETag no longer matches, and the new queue holds it.
    let newer = app.new_contact("referrer").await;
    let (status, new_tag, body) = queue_bytes(&app, "practitioner", Some(&etag)).await;
    assert_eq!(status, 200);
    assert_ne!(new_tag, etag);
    let queue: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(queue["items"].as_array().unwrap().iter().any(|i| i["contact_id"] == newer.as_str()), "{queue}");
    let (status, _, _) = queue_bytes(&app, "practitioner", Some(&new_tag)).await;
    assert_eq!(status, 304);

    // The live feed's snapshot is the same queue.
    let mut stream =
        SseReader::connect(&format!("{}/v1/queue/stream", app.url), app.token("partner_health"), None).await;
    let snapshot = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data, queue);
    assert_eq!(snapshot.id.as_deref(), Some(queue["as_of_position"].to_string().as_str()));
}
