//! The councils' data (issue 18, point 5): strategy discussions held, over HTTP, and the figures
//! they feed, on small logs whose answers were worked out by hand.

use serde_json::{Value, json};

use crate::figures::decided_contact;
use crate::harness::{TestApp, ready, spawn_app};

/// Appends an event dated `at` (entered late, with a reason), as `who`.
async fn append_at(app: &TestApp, who: &str, contact: &str, event_type: &str, at: &str, data: Value) -> (u16, Value) {
    app.post(
        who,
        &format!("/v1/contacts/{contact}/events"),
        &json!({"type": event_type, "occurred_at": at, "late_entry_reason": "entered from the paper log", "data": data}),
    )
    .await
}

async fn events_of(app: &TestApp, contact: &str) -> usize {
    let (status, events) = app.get("admin", &format!("/v1/contacts/{contact}/events")).await;
    assert_eq!(status, 200, "{events}");
    events.as_array().unwrap().len()
}

fn discussion(held_at: &str, outcome: &str) -> Value {
    json!({"held_at": held_at, "agencies": ["police", "health", "childrens_social_care"], "outcome": outcome})
}

#[tokio::test]
async fn a_strategy_discussion_is_recorded_after_the_decision_even_once_closed_and_timed_from_it() {
    let app = spawn_app();
    ready(&app).await;
    // Decided for a strategy discussion at 10:00; held at 13:00: 3 hours, a section 47 enquiry.
    let first =
        decided_contact(&app, "2026-03-02T09:00:00Z", Some(("2026-03-02T10:00:00Z", "strategy_discussion")), "phone")
            .await;
    let (status, body) = append_at(
        &app,
        "decision_maker",
        &first,
        "strategy_discussion_held",
        "2026-03-02T13:30:00Z",
        discussion("2026-03-02T13:00:00Z", "s47_enquiry"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["agencies"], json!(["police", "health", "childrens_social_care"]), "{body}");

    // No further action at 11:00, closed, then a discussion held the next day at 09:00 by a
    // practitioner: 22 hours, no further action.
    let second =
        decided_contact(&app, "2026-03-03T09:00:00Z", Some(("2026-03-03T11:00:00Z", "no_further_action")), "email")
            .await;
    let (status, body) =
        append_at(&app, "practitioner", &second, "contact_closed", "2026-03-03T12:00:00Z", json!({"reason": "NFA"}))
            .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = append_at(
        &app,
        "practitioner",
        &second,
        "strategy_discussion_held",
        "2026-03-04T09:10:00Z",
        discussion("2026-03-04T09:00:00Z", "no_further_action"),
    )
    .await;
    assert_eq!(status, 201, "a discussion may follow closure: {body}");

    // Decided for a discussion, none held yet: awaiting.
    decided_contact(&app, "2026-03-04T09:00:00Z", Some(("2026-03-04T10:00:00Z", "strategy_discussion")), "phone").await;
    // Outside the period: not counted.
    let outside =
        decided_contact(&app, "2026-01-05T09:00:00Z", Some(("2026-01-05T10:00:00Z", "strategy_discussion")), "phone")
            .await;
    let (status, body) = append_at(
        &app,
        "decision_maker",
        &outside,
        "strategy_discussion_held",
        "2026-01-05T11:00:00Z",
        discussion("2026-01-05T11:00:00Z", "other"),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let (status, contact) = app.get("practitioner", &format!("/v1/contacts/{second}")).await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["strategy_discussions"], 1, "{contact}");

    ready(&app).await;
    let (status, t) = app.get("practitioner", "/v1/metrics/timeliness?from=2026-03-02&to=2026-03-08").await;
    assert_eq!(status, 200, "{t}");
    let s = &t["strategy_discussions"];
    assert_eq!(s["held"], 2, "{s}");
    assert_eq!(s["awaiting"], 1, "{s}");
    // Hours 3 and 22: nearest-rank median of two is the first.
    assert_eq!(s["hours_from_decision"], json!({"median": 3.0, "p90": 22.0, "max": 22.0}), "{s}");
    assert_eq!(s["outcomes"], json!({"s47_enquiry": 1, "no_further_action": 1, "other": 0}), "{s}");
    // The discussions are not contacts: the counts stay those of the contacts received.
    assert_eq!(t["contacts"], 3, "{t}");
}

#[tokio::test]
async fn a_strategy_discussion_refused_names_its_field_or_rule_and_writes_nothing() {
    let app = spawn_app();
    ready(&app).await;
    let undecided = decided_contact(&app, "2026-03-02T09:00:00Z", None, "phone").await;
    let (status, body) = append_at(
        &app,
        "decision_maker",
        &undecided,
        "strategy_discussion_held",
        "2026-03-02T12:00:00Z",
        discussion("2026-03-02T12:00:00Z", "s47_enquiry"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "needs-decision", "{body}");
    assert_eq!(events_of(&app, &undecided).await, 1);

    let decided =
        decided_contact(&app, "2026-03-02T09:00:00Z", Some(("2026-03-02T10:00:00Z", "strategy_discussion")), "phone")
            .await;
    // Held before the decision it follows.
    let (status, body) = append_at(
        &app,
        "decision_maker",
        &decided,
        "strategy_discussion_held",
        "2026-03-02T12:00:00Z",
        discussion("2026-03-02T09:30:00Z", "s47_enquiry"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "discussion-after-decision", "{body}");
    assert_eq!(body["errors"][0]["field"], "data.held_at", "{body}");

    let cases = [
        (json!({"agencies": ["police"], "outcome": "s47_enquiry"}), "data.held_at"),
        (json!({"held_at": "2026-03-02T11:00:00Z", "agencies": [], "outcome": "s47_enquiry"}), "data.agencies"),
        (json!({"held_at": "2026-03-02T11:00:00Z", "agencies": ["mi5"], "outcome": "other"}), "data.agencies[0]"),
        (json!({"held_at": "2026-03-02T11:00:00Z", "agencies": ["police"], "outcome": "assessment"}), "data.outcome"),
        (json!({"held_at": "2026-03-02T11:00:00Z", "agencies": ["police"]}), "data.outcome"),
        (json!({"held_at": "2099-03-02T11:00:00Z", "agencies": ["police"], "outcome": "other"}), "data.held_at"),
    ];
    for (data, field) in cases {
        let (status, body) =
            append_at(&app, "decision_maker", &decided, "strategy_discussion_held", "2026-03-02T12:00:00Z", data).await;
        assert_eq!(status, 422, "{field}: {body}");
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
        assert_eq!(fields, [field], "{body}");
    }
    // The duty team records it; a partner, a referrer or an auditor may not.
    for who in ["partner_police", "referrer", "auditor", "receiving_team"] {
        let (status, body) = append_at(
            &app,
            who,
            &decided,
            "strategy_discussion_held",
            "2026-03-02T12:00:00Z",
            discussion("2026-03-02T11:00:00Z", "other"),
        )
        .await;
        assert!(matches!(status, 403 | 404), "{who}: {status} {body}");
    }
    assert_eq!(events_of(&app, &decided).await, 2, "nothing written");
}

#[tokio::test]
async fn actions_are_completed_once_by_the_duty_team_or_their_agency_and_counted_on_time_late_or_overdue() {
    let app = spawn_app();
    ready(&app).await;
    let id = decided_contact(&app, "2026-03-02T09:00:00Z", Some(("2026-03-02T10:00:00Z", "early_help")), "phone").await;
    let plan = json!({"actions": [
        {"owner_agency": "education", "description": "Offer ELSA sessions", "due": "2026-03-04"},
        {"owner_agency": "health", "description": "Health visitor to visit", "due": "2026-03-05"},
        {"owner_agency": "police", "description": "Share the incident log", "due": "2026-03-06"},
        {"owner_agency": "housing", "description": "Review the tenancy"}
    ]});
    let (status, planned) =
        append_at(&app, "practitioner", &id, "action_plan_agreed", "2026-03-02T12:00:00Z", plan).await;
    assert_eq!(status, 201, "{planned}");
    let plan_id = planned["event_id"].as_str().unwrap().to_owned();
    let done = |index: u64| json!({"plan_event_id": plan_id, "action_index": index});

    // Education's, on the day it was due (late afternoon): on time.
    let (status, body) =
        append_at(&app, "practitioner", &id, "action_completed", "2026-03-04T16:00:00Z", done(0)).await;
    assert_eq!(status, 201, "{body}");
    // Once per action.
    let (status, body) =
        append_at(&app, "practitioner", &id, "action_completed", "2026-03-04T17:00:00Z", done(0)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "action-completed-once", "{body}");
    assert_eq!(body["errors"][0]["field"], "data.action_index", "{body}");
    // An action the plan does not have, a plan that is not one, an id that is no ULID.
    let (status, body) =
        append_at(&app, "practitioner", &id, "action_completed", "2026-03-04T17:00:00Z", done(4)).await;
    assert_eq!(
        (status, &body["rule"], &body["errors"][0]["field"]),
        (422, &json!("action-index-unknown"), &json!("data.action_index")),
        "{body}"
    );
    let (_, events) = app.get("admin", &format!("/v1/contacts/{id}/events")).await;
    let decision_id = events[1]["event_id"].clone();
    let (status, body) = append_at(
        &app,
        "practitioner",
        &id,
        "action_completed",
        "2026-03-04T17:00:00Z",
        json!({"plan_event_id": decision_id, "action_index": 0}),
    )
    .await;
    assert_eq!(
        (status, &body["rule"], &body["errors"][0]["field"]),
        (422, &json!("action-plan-unknown"), &json!("data.plan_event_id")),
        "{body}"
    );
    for (data, field) in [
        (json!({"plan_event_id": "plan-1", "action_index": 0}), "data.plan_event_id"),
        (json!({"plan_event_id": plan_id, "action_index": -1}), "data.action_index"),
        (json!({"plan_event_id": plan_id}), "data.action_index"),
    ] {
        let (status, body) =
            append_at(&app, "practitioner", &id, "action_completed", "2026-03-04T17:00:00Z", data).await;
        assert_eq!(status, 422, "{field}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    // A partner completes its own agency's actions only; a referrer or an auditor none.
    let (status, body) =
        append_at(&app, "partner_police", &id, "action_completed", "2026-03-05T09:00:00Z", done(1)).await;
    assert_eq!(status, 403, "{body}");
    for who in ["referrer", "auditor"] {
        let (status, body) = append_at(&app, who, &id, "action_completed", "2026-03-05T09:00:00Z", done(1)).await;
        assert_eq!(status, 403, "{who}: {body}");
    }
    assert_eq!(events_of(&app, &id).await, 4, "only the plan and one completion written");

    // Closed; health's action done the day after it was due, after the closure: late.
    let (status, body) = append_at(
        &app,
        "practitioner",
        &id,
        "contact_closed",
        "2026-03-05T10:00:00Z",
        json!({"reason": "Plan agreed"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) =
        append_at(&app, "partner_health", &id, "action_completed", "2026-03-06T09:00:00Z", done(1)).await;
    assert_eq!(status, 201, "after closing too: {body}");

    // Police's (due 6 March) was never done: overdue now; housing's has no due date: open.
    let (status, contact) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!((&contact["actions_agreed"], &contact["actions_done"]), (&json!(4), &json!(2)), "{contact}");

    ready(&app).await;
    let (status, p) = app.get("practitioner", "/v1/metrics/practice?from=2026-03-02&to=2026-03-08").await;
    assert_eq!(status, 200, "{p}");
    let a = &p["action_plans"]["actions"];
    assert_eq!(
        (&a["agreed"], &a["done"], &a["done_on_time"], &a["done_late"], &a["overdue"], &a["open"]),
        (&json!(4), &json!(2), &json!(1), &json!(1), &json!(1), &json!(1)),
        "{a}"
    );
    let third = 1.0 / 3.0;
    assert_eq!(a["share_done_on_time"], json!(third), "{a}");
    assert_eq!(a["share_overdue"], json!(third), "{a}");
}

#[tokio::test]
async fn concern_categories_are_census_codes_and_the_volumes_split_contacts_and_outcomes_by_them() {
    let app = spawn_app();
    ready(&app).await;
    let mut body = crate::harness::contact_body();
    body["occurred_at"] = json!("2026-03-02T09:00:00Z");
    body["late_entry_reason"] = json!("entered from the paper log");
    // Bad codes are refused at the edge, naming the entry; nothing is written.
    for (categories, field) in [
        (json!(["3A", "3Z"]), "concern_categories[1]"),
        (json!(["3A", "16A", "3A"]), "concern_categories[2]"),
        (json!("3A"), "concern_categories"),
    ] {
        let mut bad = body.clone();
        bad["concern_categories"] = categories;
        let (status, problem) = app.post("practitioner", "/v1/contacts", &bad).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert_eq!(app.head().await, 0, "nothing written");

    // Domestic abuse (child the subject) and a parent's mental health, then an assessment.
    body["concern_categories"] = json!(["3A", "4B"]);
    let (status, created) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 201, "{created}");
    let first = created["contact_id"].as_str().unwrap().to_owned();
    assert_eq!(created["event"]["data"]["concern_categories"], json!(["3A", "4B"]));
    let (status, decided) = append_at(
        &app,
        "decision_maker",
        &first,
        "decision_made",
        "2026-03-02T11:00:00Z",
        json!({"outcome": "assessment", "rationale": "r", "primary_need": "N1"}),
    )
    .await;
    assert_eq!(status, 201, "{decided}");
    // A second contact, domestic abuse; the decision finds neglect instead, and its
    // categories replace the contact's.
    body["concern_categories"] = json!(["3A"]);
    body["occurred_at"] = json!("2026-03-03T09:00:00Z");
    let (status, created) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 201, "{created}");
    let second = created["contact_id"].as_str().unwrap().to_owned();
    let (status, problem) = append_at(
        &app,
        "decision_maker",
        &second,
        "decision_made",
        "2026-03-03T11:00:00Z",
        json!({"outcome": "early_help", "rationale": "r", "concern_categories": ["99"]}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "data.concern_categories[0]", "{problem}");
    let (status, decided) = append_at(
        &app,
        "decision_maker",
        &second,
        "decision_made",
        "2026-03-03T11:00:00Z",
        json!({"outcome": "early_help", "rationale": "r", "concern_categories": ["16A"]}),
    )
    .await;
    assert_eq!(status, 201, "{decided}");
    let (status, contact) = app.get("practitioner", &format!("/v1/contacts/{second}")).await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["concern_categories"], json!(["16A"]), "the decision's replace the contact's: {contact}");
    // A third with none recorded, undecided.
    body.as_object_mut().unwrap().remove("concern_categories");
    body["occurred_at"] = json!("2026-03-04T09:00:00Z");
    let (status, created) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 201, "{created}");

    ready(&app).await;
    let (status, v) = app.get("practitioner", "/v1/metrics/volumes?from=2026-03-02&to=2026-03-08").await;
    assert_eq!(status, 200, "{v}");
    let c = &v["by_concern_category"];
    assert_eq!((&c["3A"]["contacts"], &c["3A"]["referrals"]), (&json!(1), &json!(1)), "{c}");
    assert_eq!(c["3A"]["outcomes"]["assessment"], 1, "{c}");
    assert_eq!((&c["4B"]["contacts"], &c["16A"]["contacts"]), (&json!(1), &json!(1)), "{c}");
    assert_eq!(c["16A"]["outcomes"]["early_help"], 1, "{c}");
    assert_eq!((&c["none"]["contacts"], &c["none"]["outcomes"]["undecided"]), (&json!(1), &json!(1)), "{c}");
    assert_eq!(c["1A"]["contacts"], 0, "{c}");
}
