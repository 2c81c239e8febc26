//! Allocation and what to do next (issue 17, points 3 and 4): `contact_allocated`, the queue's
//! `assigned_to` (the front door's latest allocation, never whoever last touched the contact),
//! `GET /v1/queue?worker=`, and each queue line's list, concerns summary and outcome.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, ready, spawn_app};

async fn ok(app: &TestApp, who: &str, contact: &str, event_type: &str, data: Value) -> Value {
    let (status, body) = app.append(who, contact, event_type, data).await;
    assert_eq!(status, 201, "{who} {event_type}: {body}");
    body
}

async fn queue(app: &TestApp, who: &str, query: &str) -> Value {
    let (status, body) = app.get(who, &format!("/v1/queue{query}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn line<'a>(queue: &'a Value, contact: &str) -> &'a Value {
    queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["contact_id"] == contact)
        .unwrap_or_else(|| panic!("{contact} not on the queue: {queue}"))
}

fn ids(queue: &Value) -> Vec<&str> {
    queue["items"].as_array().unwrap().iter().map(|i| i["contact_id"].as_str().unwrap()).collect()
}

/// Found on the duty board: whoever last recorded something on a contact became its assignee,
/// so a manager adding a note took the contact off the practitioner's list.
#[tokio::test]
async fn bug_a_managers_note_made_them_the_assignee() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    ok(&app, "practitioner", &id, "contact_allocated", json!({"worker": "practitioner"})).await;
    ok(&app, "decision_maker", &id, "note_added", json!({"text": "Checked with the school nurse."})).await;
    ok(&app, "decision_maker", &id, "triage_rated", json!({"rating": "amber"})).await;
    ready(&app).await;
    let q = queue(&app, "decision_maker", "").await;
    assert_eq!(line(&q, &id)["assigned_to"], "practitioner", "{q}");
    let (_, contact) = app.get("decision_maker", &format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["assigned_to"], "practitioner", "{contact}");

    // A decision maker moves it to someone else; that is the allocation from then on.
    ok(&app, "decision_maker", &id, "contact_allocated", json!({"worker": "sw-lee"})).await;
    let q = queue(&app, "practitioner", "").await;
    assert_eq!(line(&q, &id)["assigned_to"], "sw-lee", "{q}");
}

#[tokio::test]
async fn a_practitioner_takes_a_contact_but_does_not_give_it_away() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let (status, body) = app.append("practitioner", &id, "contact_allocated", json!({"worker": "sw-lee"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "allocation-to-self-only", "{body}");
    assert_eq!(body["errors"][0]["field"], "data.worker", "{body}");
    let (_, events) = app.get("admin", &format!("/v1/contacts/{id}/events")).await;
    assert_eq!(events.as_array().unwrap().len(), 1, "nothing written: {events}");

    // Roles that may not allocate at all are refused before the rules.
    for who in ["partner_police", "auditor", "referrer"] {
        let (status, body) = app.append(who, &id, "contact_allocated", json!({"worker": who})).await;
        assert_eq!(status, 403, "{who}: {body}");
    }
    // A blank worker names the field.
    let (status, body) = app.append("decision_maker", &id, "contact_allocated", json!({"worker": "  "})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "data.worker", "{body}");
}

#[tokio::test]
async fn my_work_lists_only_the_callers_own_contacts() {
    let app = spawn_app();
    let mine = app.new_contact("referrer").await;
    let theirs = app.new_contact("referrer").await;
    let nobodys = app.new_contact("referrer").await;
    ok(&app, "practitioner", &mine, "contact_allocated", json!({"worker": "practitioner"})).await;
    ok(&app, "decision_maker", &theirs, "contact_allocated", json!({"worker": "sw-lee"})).await;
    ready(&app).await;
    let all = queue(&app, "practitioner", "").await;
    assert_eq!(ids(&all).len(), 3, "{all}");
    assert_eq!(line(&all, &nobodys)["assigned_to"], Value::Null);
    assert_eq!(ids(&queue(&app, "practitioner", "?worker=me").await), [mine.as_str()]);
    assert_eq!(ids(&queue(&app, "practitioner", "?worker=practitioner").await), [mine.as_str()]);
    assert_eq!(ids(&queue(&app, "decision_maker", "?worker=sw-lee").await), [theirs.as_str()]);
    assert!(ids(&queue(&app, "decision_maker", "?worker=me").await).is_empty());
    let (status, body) = app.get("practitioner", "/v1/queue?worker=").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "worker", "{body}");
}

#[tokio::test]
async fn queue_lines_say_what_to_do_next() {
    let app = spawn_app();
    let mut body = contact_body();
    let long_line = format!("Bruising to the face, {}", "seen at drop-off and again at lunch ".repeat(6));
    body["concerns"] = json!(format!("\n  {long_line}\nSecond line with more detail."));
    let (status, created) = app.post("referrer", "/v1/contacts", &body).await;
    assert_eq!(status, 201, "{created}");
    let undecided = created["contact_id"].as_str().unwrap().to_owned();
    let decided = app.new_contact("referrer").await;
    ok(&app, "decision_maker", &decided, "decision_made", crate::harness::data_for("decision_made")).await;
    let sent = app.new_contact("referrer").await;
    ok(&app, "decision_maker", &sent, "decision_made", crate::harness::data_for("decision_made")).await;
    ok(&app, "practitioner", &sent, "handover_sent", crate::harness::data_for("handover_sent")).await;
    ready(&app).await;

    let q = queue(&app, "practitioner", "").await;
    let first = line(&q, &undecided);
    assert_eq!(first["list"], "decision_due", "{first}");
    assert_eq!(first["outcome"], Value::Null);
    let summary = first["concerns_summary"].as_str().unwrap();
    assert!(summary.starts_with("Bruising to the face, seen at drop-off"), "{summary}");
    assert!(summary.chars().count() <= 120 && summary.ends_with('…'), "{summary}");
    assert!(!summary.contains("Second line"), "{summary}");
    for id in [&decided, &sent] {
        let l = line(&q, id);
        assert_eq!(l["list"], "handover_awaiting_acceptance", "{l}");
        assert_eq!(l["outcome"], "early_help", "{l}");
        assert_eq!(l["concerns_summary"], "Bruising on the upper arm, explanation inconsistent.", "{l}");
    }
    // The same lines on the live stream: its snapshot, then an upsert when one is decided.
    let url = format!("{}/v1/queue/stream", app.url);
    let mut stream = crate::sse::SseReader::connect(&url, app.token("practitioner"), None).await;
    let snapshot = stream.next(Duration::from_secs(5)).await.expect("a snapshot");
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(line(&snapshot.data, &sent)["list"], "handover_awaiting_acceptance");
    assert_eq!(line(&snapshot.data, &undecided)["concerns_summary"], summary);
    ok(&app, "decision_maker", &undecided, "decision_made", crate::harness::data_for("decision_made")).await;
    let upsert = stream.next(Duration::from_secs(5)).await.expect("an upsert");
    assert_eq!(upsert.event, "upsert", "{upsert:?}");
    assert_eq!(upsert.data["contact_id"], undecided.as_str());
    assert_eq!(upsert.data["list"], "handover_awaiting_acceptance", "{upsert:?}");
    assert_eq!(upsert.data["outcome"], "early_help", "{upsert:?}");
    assert_eq!(upsert.data["concerns_summary"], summary);
}

/// The receiving team allocates its own worker once it accepted the handover, even after the
/// front door closed the contact; the front door's allocation stays its own.
#[tokio::test]
async fn the_receiving_team_allocates_its_own_worker() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    ok(&app, "practitioner", &id, "contact_allocated", json!({"worker": "practitioner"})).await;
    ok(&app, "decision_maker", &id, "decision_made", crate::harness::data_for("decision_made")).await;
    ok(&app, "practitioner", &id, "handover_sent", crate::harness::data_for("handover_sent")).await;
    let (status, body) = app.append("receiving_team", &id, "contact_allocated", json!({"worker": "eh-kim"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "allocation-after-acceptance", "{body}");
    ok(&app, "receiving_team", &id, "handover_accepted", json!({"team": "Early Help South"})).await;
    ok(&app, "practitioner", &id, "contact_closed", json!({"reason": "Handed over."})).await;
    ok(&app, "receiving_team", &id, "contact_allocated", json!({"worker": "eh-kim"})).await;
    let (status, body) = app.append("decision_maker", &id, "contact_allocated", json!({"worker": "sw-lee"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "contact-closed", "{body}");
    let (_, contact) = app.get("receiving_team", &format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["assigned_to"], "practitioner", "{contact}");
    assert_eq!(contact["team_worker"], "eh-kim", "{contact}");
}
