//! Issue "Safe case rules and figures that cannot be flattered": closing needs a decision,
//! corrections correct, and time cannot be rewritten silently. Each test pins a defect that was
//! reproduced against the running service.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, spawn_app};

async fn event(app: &TestApp, who: &str, id: &str, body: Value) -> (u16, Value) {
    app.post(who, &format!("/v1/contacts/{id}/events"), &body).await
}

async fn created(app: &TestApp, body: &Value) -> String {
    let (s, c) = app.post("practitioner", "/v1/contacts", body).await;
    assert_eq!(s, 201, "{c}");
    c["contact_id"].as_str().unwrap().to_owned()
}

/// Asserts a 422 naming `rule`, with nothing written.
async fn refused(app: &TestApp, who: &str, id: &str, body: Value, rule: &str) {
    let head = app.head().await;
    let (s, p) = event(app, who, id, body).await;
    assert_eq!((s, p["rule"].as_str()), (422, Some(rule)), "{p}");
    assert_eq!(app.head().await, head, "{rule}: the log is untouched");
}

fn queue_item<'a>(queue: &'a Value, id: &str) -> Option<&'a Value> {
    queue["items"].as_array().unwrap().iter().find(|i| i["contact_id"] == id)
}

#[tokio::test]
async fn bug_an_undecided_police_notification_could_be_closed() {
    let app = spawn_app();
    let mut body = contact_body();
    body["channel"] = json!("police_notification");
    body["source"] = json!("6");
    body["ppn_grade"] = json!("high");
    body["immediate_risk"] = json!(true);
    let id = created(&app, &body).await;
    let close = json!({"type": "contact_closed", "data": {"reason": "dealt with"}});
    refused(&app, "practitioner", &id, close.clone(), "close-needs-decision").await;
    let (_, queue) = app.get("practitioner", "/v1/queue").await;
    assert!(queue_item(&queue, &id).is_some(), "still on the queue");

    // "None / Rejected" is a decision: not_accepted, with a rationale and what it duplicates.
    let other = app.new_contact("referrer").await;
    let not_accepted = |dup: &str| json!({"type": "decision_made", "data": {"outcome": "not_accepted", "rationale": "Same incident as an open contact.", "duplicate_of": dup}});
    refused(&app, "decision_maker", &id, not_accepted("01J00000000000000000000000"), "duplicate-of-unknown-contact")
        .await;
    refused(&app, "decision_maker", &id, not_accepted(&id), "duplicate-of-unknown-contact").await;
    let (s, p) = event(
        &app,
        "decision_maker",
        &id,
        json!({"type": "decision_made", "data": {"outcome": "assessment", "rationale": "r", "primary_need": "N1", "duplicate_of": other}}),
    )
    .await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("data.duplicate_of")), "{p}");
    let (s, d) = event(&app, "decision_maker", &id, not_accepted(&other)).await;
    assert_eq!(s, 201, "{d}");
    let (s, c) = event(&app, "practitioner", &id, close).await;
    assert_eq!(s, 201, "{c}");
    let (_, contact) = app.get("decision_maker", &format!("/v1/contacts/{id}")).await;
    assert_eq!(
        (contact["decision"]["outcome"].as_str(), contact["closed"].as_bool()),
        (Some("not_accepted"), Some(true))
    );
}

#[tokio::test]
async fn bug_corrections_were_accepted_and_changed_nothing() {
    let app = spawn_app();
    let received = Utc::now() - Duration::hours(3);
    let mut body = contact_body();
    body["occurred_at"] = json!(received.to_rfc3339());
    let id = created(&app, &body).await;
    let (_, events) = app.get("admin", &format!("/v1/contacts/{id}/events")).await;
    let received_id = events[0]["event_id"].as_str().unwrap().to_owned();
    let correct = |of: &str, field: &str, value: Value| json!({"type": "correction_recorded", "data": {"corrects_event_id": of, "field": field, "value": value, "reason": "entered wrongly"}});

    // Not a correctable field, or not one of this event's: refused, naming the rule.
    for field in ["concerns", "children[3].name", "restricted", "colour"] {
        refused(
            &app,
            "practitioner",
            &id,
            correct(&received_id, field, json!("x")),
            "correction-field-not-correctable",
        )
        .await;
    }
    // A value checked as the original field is.
    for (field, value) in [
        ("children[0].date_of_birth", json!("purple")),
        ("children[0].date_of_birth", json!((Utc::now() + Duration::days(2)).date_naive())),
        ("children[0].nhs_number", json!("9434765918")),
        ("immediate_risk", json!("yes")),
    ] {
        let head = app.head().await;
        let (s, p) = event(&app, "practitioner", &id, correct(&received_id, field, value)).await;
        assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("data.value")), "{field}: {p}");
        assert_eq!(app.head().await, head);
    }

    // The child's date of birth and immediate risk corrected: the contact and the queue show it.
    let (_, before) = app.get("practitioner", "/v1/queue").await;
    let due_before = queue_item(&before, &id).unwrap()["due_by"].as_str().unwrap().to_owned();
    for (field, value) in [("children[0].date_of_birth", json!("2018-06-30")), ("immediate_risk", json!(true))] {
        let (s, p) = event(&app, "practitioner", &id, correct(&received_id, field, value)).await;
        assert_eq!(s, 201, "{p}");
    }
    let (_, contact) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["children"][0]["date_of_birth"], "2018-06-30");
    assert_eq!(contact["immediate_risk"], true);
    let (_, after) = app.get("practitioner", "/v1/queue").await;
    let item = queue_item(&after, &id).unwrap();
    assert_ne!(item["due_by"].as_str().unwrap(), due_before);
    assert_eq!(item["overdue"], true, "received 3 h ago, immediate risk: due within 2 h");
    assert_eq!(after["items"][0]["contact_id"], id.as_str(), "overdue and urgent: first");

    // The decision's time moved back: only a decision maker, and the figures follow.
    let (s, d) = event(
        &app,
        "decision_maker",
        &id,
        json!({"type": "decision_made", "data": {"outcome": "early_help", "rationale": "r", "level_of_need": 2}}),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let decision = d["event_id"].as_str().unwrap();
    let earlier = (received + Duration::minutes(30)).to_rfc3339();
    let (s, p) = event(&app, "practitioner", &id, correct(decision, "occurred_at", json!(earlier))).await;
    assert_eq!(s, 403, "{p}");
    refused(
        &app,
        "decision_maker",
        &id,
        correct(decision, "occurred_at", json!((received - Duration::minutes(1)).to_rfc3339())),
        "occurred-before-received",
    )
    .await;
    let (s, p) = event(&app, "decision_maker", &id, correct(decision, "occurred_at", json!(earlier))).await;
    assert_eq!(s, 201, "{p}");
    let (_, contact) = app.get("decision_maker", &format!("/v1/contacts/{id}")).await;
    let decided_at: chrono::DateTime<Utc> = contact["decision"]["decided_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(decided_at.to_rfc3339(), earlier);
}

#[tokio::test]
async fn bug_a_check_corrected_to_restricted_stayed_visible() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let marker = "Father known for violence (correction test)";
    let (s, check) = event(
        &app,
        "partner_police",
        &id,
        json!({"type": "checks_returned", "data": {"agency": "police", "summary": marker, "restricted": false}}),
    )
    .await;
    assert_eq!(s, 201, "{check}");
    let check_id = check["event_id"].as_str().unwrap().to_owned();
    let correct = |field: &str, value: Value| json!({"type": "correction_recorded", "data": {"corrects_event_id": check_id, "field": field, "value": value, "reason": "intelligence is restricted"}});
    // Who may correct a check: the returning agency's partners and decision makers.
    for who in ["practitioner", "partner_health"] {
        let (s, p) = event(&app, who, &id, correct("restricted", json!(true))).await;
        assert_eq!(s, 403, "{who}: {p}");
    }
    let (s, p) = event(&app, "partner_police", &id, correct("restricted", json!(true))).await;
    assert_eq!(s, 201, "{p}");
    let (s, p) =
        event(&app, "partner_police", &id, correct("summary", json!(format!("{marker}, two call-outs")))).await;
    assert_eq!(s, 201, "{p}");

    // Hidden from then on, on every read path, from those who may not see restricted checks.
    for who in ["practitioner", "partner_health"] {
        for path in [format!("/v1/contacts/{id}"), format!("/v1/contacts/{id}/events")] {
            let (s, body) = app.get(who, &path).await;
            assert_eq!(s, 200, "{body}");
            assert!(!body.to_string().contains("Father known"), "{who} {path}: {body}");
        }
    }
    // The auditor still sees the original and the corrections.
    let (_, trail) = app.get("auditor", &format!("/v1/contacts/{id}/events")).await;
    let text = trail.to_string();
    assert!(text.contains(marker) && text.contains("two call-outs"), "{trail}");
    let (_, police) = app.get("partner_police", &format!("/v1/contacts/{id}")).await;
    assert_eq!(police["checks"][0]["summary"], format!("{marker}, two call-outs"));
    assert_eq!(police["checks"][0]["restricted"], true);

    // Making it unrestricted again: a decision maker or an admin, not the partner.
    let (s, p) = event(&app, "partner_police", &id, correct("restricted", json!(false))).await;
    assert_eq!(s, 403, "{p}");
    let (s, p) = event(&app, "decision_maker", &id, correct("restricted", json!(false))).await;
    assert_eq!(s, 201, "{p}");
    let (_, seen) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
    assert_eq!(seen["checks"][0]["summary"], format!("{marker}, two call-outs"));
}

#[tokio::test]
async fn bug_time_could_be_rewritten_silently() {
    let app = spawn_app();
    // In the future beyond the clock skew: refused, naming the rule and the field.
    let mut body = contact_body();
    body["occurred_at"] = json!((Utc::now() + Duration::minutes(30)).to_rfc3339());
    let head = app.head().await;
    let (s, p) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(
        (s, p["rule"].as_str(), p["errors"][0]["field"].as_str()),
        (422, Some("occurred-in-future"), Some("occurred_at"))
    );
    // Long ago without a reason: refused; with one: stored with the event.
    body["occurred_at"] = json!((Utc::now() - Duration::hours(30)).to_rfc3339());
    let (s, p) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!((s, p["rule"].as_str()), (422, Some("late-entry-needs-reason")), "{p}");
    assert_eq!(app.head().await, head, "nothing written");
    body["late_entry_reason"] = json!("  Taken by phone on a home visit; typed up next day.  ");
    let (s, c) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["event"]["late_entry_reason"], "Taken by phone on a home visit; typed up next day.");
    let id = c["contact_id"].as_str().unwrap().to_owned();
    let (_, events) = app.get("auditor", &format!("/v1/contacts/{id}/events")).await;
    assert_eq!(events[0]["late_entry_reason"], c["event"]["late_entry_reason"]);
    // A recent event needs no reason, and its envelope has none.
    let (s, note) = event(&app, "practitioner", &id, json!({"type": "note_added", "data": {"text": "n"}})).await;
    assert_eq!(s, 201, "{note}");
    assert!(note.get("late_entry_reason").is_none(), "{note}");

    // A revision dated before the decision it revises.
    let decided_at = Utc::now() - Duration::hours(2);
    let (s, d) = event(
        &app,
        "decision_maker",
        &id,
        json!({"type": "decision_made", "occurred_at": decided_at.to_rfc3339(), "data": {"outcome": "early_help", "rationale": "r"}}),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    refused(
        &app,
        "decision_maker",
        &id,
        json!({"type": "decision_made", "occurred_at": (decided_at - Duration::minutes(10)).to_rfc3339(),
            "data": {"outcome": "assessment", "rationale": "r", "primary_need": "N1", "revises": {"event_id": d["event_id"], "reason": "checks back"}}}),
        "revision-predates-decision",
    )
    .await;

    // A date of birth in the future; an unborn child has an expected date instead.
    let mut unborn = contact_body();
    unborn["children"][0] =
        json!({"name": "Baby Example", "date_of_birth": (Utc::now() + Duration::days(40)).date_naive()});
    let (s, p) = app.post("practitioner", "/v1/contacts", &unborn).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("children[0].date_of_birth")), "{p}");
    unborn["children"][0] = json!({"name": "Baby Example", "expected_date_of_birth": (Utc::now() + Duration::days(40)).date_naive(), "sex": "U"});
    let (s, p) = app.post("practitioner", "/v1/contacts", &unborn).await;
    assert_eq!(s, 201, "{p}");
}
