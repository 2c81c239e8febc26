//! Referrers (issue 17, points 6 and 7): "what happens next" for the contacts a referrer made,
//! their added information and their feedback, and nothing of anyone else's contacts.

use serde_json::{Value, json};

use crate::harness::{TestApp, create_token_for, data_for, ready, spawn_app};

/// A second referrer, a GP, beside the harness's school referrer.
fn with_gp(mut app: TestApp) -> TestApp {
    let token = create_token_for(app.dir.path(), "referrer", "gp-reed", "health", None);
    app.tokens.insert("gp-reed", token);
    app
}

async fn ok(app: &TestApp, who: &str, contact: &str, event_type: &str, data: Value) -> Value {
    let (status, body) = app.append(who, contact, event_type, data).await;
    assert_eq!(status, 201, "{who} {event_type}: {body}");
    body
}

async fn access_actions(app: &TestApp, contact: &str) -> Vec<(String, String)> {
    let (status, audit) = app.get("auditor", &format!("/v1/contacts/{contact}/audit")).await;
    assert_eq!(status, 200, "{audit}");
    audit["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["actor"]["id"].as_str().unwrap().to_owned(), a["action"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_referrer_sees_only_its_own_contacts_newest_first() {
    let app = with_gp(spawn_app());
    let older = app.new_contact("referrer").await;
    let gps = app.new_contact("gp-reed").await;
    let newer = app.new_contact("referrer").await;
    let by_duty_team = app.new_contact("practitioner").await;
    ready(&app).await;

    let (status, list) = app.get("referrer", "/v1/contacts?made_by=me").await;
    assert_eq!(status, 200, "{list}");
    let listed: Vec<&str> =
        list["contacts"].as_array().unwrap().iter().map(|c| c["contact_id"].as_str().unwrap()).collect();
    assert_eq!(listed, [newer.as_str(), older.as_str()], "{list}");
    let first = &list["contacts"][0];
    assert_eq!(first["stage"], "received", "{first}");
    assert_eq!(first["children"], json!(["Sam Example"]), "{first}");
    assert!(first["next_step"].as_str().unwrap().contains("999"), "{first}");
    let (_, gp_list) = app.get("gp-reed", "/v1/contacts?made_by=me").await;
    assert_eq!(gp_list["contacts"].as_array().unwrap().len(), 1, "{gp_list}");
    assert_eq!(gp_list["contacts"][0]["contact_id"], gps.as_str());

    // Another referrer's contact, or the duty team's, is not there at all: 404, recorded as a
    // refused read.
    for other in [&gps, &by_duty_team] {
        let (status, body) = app.get("referrer", &format!("/v1/contacts/{other}")).await;
        assert_eq!(status, 404, "{body}");
        assert!(access_actions(&app, other).await.contains(&("referrer".into(), "read_contact_refused".into())));
    }
    // Each read of its own contacts is logged, the list's and the contact's.
    let (status, _) = app.get("referrer", &format!("/v1/contacts/{older}")).await;
    assert_eq!(status, 200);
    let actions = access_actions(&app, &older).await;
    assert!(actions.contains(&("referrer".into(), "read_own_contacts".into())), "{actions:?}");
    assert!(actions.contains(&("referrer".into(), "read_contact".into())), "{actions:?}");

    // The list is the referrer's alone, and says what it lists.
    let (status, body) = app.get("practitioner", "/v1/contacts?made_by=me").await;
    assert_eq!(status, 403, "{body}");
    for query in ["", "?made_by=someone", "?made_by="] {
        let (status, body) = app.get("referrer", &format!("/v1/contacts{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["errors"][0]["field"], "made_by", "{body}");
    }
    // The duty team's record stays the duty team's.
    for path in ["events", "audit"] {
        let (status, body) = app.get("referrer", &format!("/v1/contacts/{older}/{path}")).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
}

#[tokio::test]
async fn a_referrer_follows_its_contact_in_plain_words_and_sees_nothing_of_the_record() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let path = format!("/v1/contacts/{id}");
    ok(&app, "practitioner", &id, "triage_rated", json!({"rating": "amber", "reason": "MARKERTRIAGE"})).await;
    ok(
        &app,
        "partner_police",
        &id,
        "checks_returned",
        json!({"agency": "police", "summary": "MARKERCHECK", "restricted": false}),
    )
    .await;
    let (status, seen) = app.get("referrer", &path).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["stage"], "being_looked_at", "{seen}");
    assert_eq!(seen["outcome"], Value::Null);
    assert_eq!(seen["feedback_open"], false);
    let decision =
        json!({"outcome": "early_help", "rationale": "MARKERRATIONALE", "level_of_need": 2, "primary_need": "N4"});
    ok(&app, "decision_maker", &id, "decision_made", decision).await;
    ok(&app, "practitioner", &id, "handover_sent", data_for("handover_sent")).await;
    let (_, seen) = app.get("referrer", &path).await;
    assert_eq!(seen["stage"], "decided", "{seen}");
    assert_eq!(seen["outcome"], "early_help");
    assert!(seen["outcome_text"].as_str().unwrap().contains("early help"), "{seen}");
    assert!(seen["next_step"].as_str().unwrap().contains("early help service"), "{seen}");
    assert_eq!(seen["feedback_open"], true);
    let text = seen.to_string();
    for hidden in ["MARKER", "rationale", "checks", "assigned_to", "referrer\"", "concerns", "version"] {
        assert!(!text.contains(hidden), "{hidden} shown to the referrer: {text}");
    }
}

#[tokio::test]
async fn a_referrer_adds_information_to_its_own_open_contact_only() {
    let app = with_gp(spawn_app());
    let id = app.new_contact("referrer").await;
    let note = json!({"text": "Sam said today that he is scared to go home."});
    let added = ok(&app, "referrer", &id, "note_added", note.clone()).await;
    assert_eq!(added["actor"]["id"], "referrer");
    let (status, body) = app.append("gp-reed", &id, "note_added", note.clone()).await;
    assert_eq!(status, 404, "another referrer's contact: {body}");
    let (status, body) = app.append("referrer", &id, "triage_rated", json!({"rating": "red"})).await;
    assert_eq!(status, 403, "a referrer does not triage: {body}");
    let (status, body) = app.append("referrer", &id, "note_added", json!({"text": "  "})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "data.text", "{body}");

    ok(
        &app,
        "decision_maker",
        &id,
        "decision_made",
        json!({"outcome": "no_further_action", "rationale": "Below threshold."}),
    )
    .await;
    ok(&app, "practitioner", &id, "contact_closed", json!({"reason": "No further action."})).await;
    let (status, body) = app.append("referrer", &id, "note_added", note).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "contact-closed", "{body}");
    let (_, seen) = app.get("referrer", &format!("/v1/contacts/{id}")).await;
    assert_eq!((seen["stage"].as_str(), seen["open"].as_bool()), (Some("closed"), Some(false)), "{seen}");
}

#[tokio::test]
async fn feedback_is_given_once_after_the_outcome_even_once_closed() {
    let app = with_gp(spawn_app());
    let id = app.new_contact("referrer").await;
    let feedback = data_for("referrer_feedback_given");
    let (status, body) = app.append("referrer", &id, "referrer_feedback_given", feedback.clone()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "needs-decision", "{body}");
    ok(
        &app,
        "decision_maker",
        &id,
        "decision_made",
        json!({"outcome": "advice_and_signpost", "rationale": "Advice given."}),
    )
    .await;
    ok(&app, "practitioner", &id, "contact_closed", json!({"reason": "Advice given."})).await;

    let (status, body) = app.append("practitioner", &id, "referrer_feedback_given", feedback.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app.append("gp-reed", &id, "referrer_feedback_given", feedback.clone()).await;
    assert_eq!(status, 404, "{body}");
    let bad = json!({"listened_to": 6, "knows_next_steps": 0});
    let (status, body) = app.append("referrer", &id, "referrer_feedback_given", bad).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["data.listened_to", "data.knows_next_steps"], "{body}");

    let given = ok(&app, "referrer", &id, "referrer_feedback_given", feedback.clone()).await;
    assert_eq!(given["data"], feedback);
    let (status, body) = app.append("referrer", &id, "referrer_feedback_given", feedback).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "feedback-once", "{body}");
    let (_, seen) = app.get("referrer", &format!("/v1/contacts/{id}")).await;
    assert_eq!((seen["feedback_given"].as_bool(), seen["feedback_open"].as_bool()), (Some(true), Some(false)));
}
