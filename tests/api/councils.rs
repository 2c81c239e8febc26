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
