//! Malformed and hostile bodies: never a 500, always problem+json, and the log untouched.

use serde_json::json;

use crate::harness::spawn_app;

fn bodies_for_contacts() -> Vec<(&'static str, Vec<u8>)> {
    let ok = crate::harness::contact_body();
    let with = |path: &[&str], value: serde_json::Value| {
        let mut b = ok.clone();
        let mut target = &mut b;
        for key in &path[..path.len() - 1] {
            target = match key.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[*key],
            };
        }
        target[path[path.len() - 1]] = value;
        serde_json::to_vec(&b).unwrap()
    };
    let without = |key: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(key);
        serde_json::to_vec(&b).unwrap()
    };
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        ("empty body", vec![]),
        ("whitespace", b"   ".to_vec()),
        ("truncated", b"{\"channel\": \"phone\"".to_vec()),
        ("not JSON", b"channel=phone".to_vec()),
        ("top-level array", b"[]".to_vec()),
        ("top-level string", b"\"contact\"".to_vec()),
        ("top-level null", b"null".to_vec()),
        ("invalid UTF-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        ("deep nesting", nested.into_bytes()),
        ("missing channel", without("channel")),
        ("missing children", without("children")),
        ("missing concerns", without("concerns")),
        ("missing referrer", without("referrer")),
        ("unknown channel", with(&["channel"], json!("carrier pigeon"))),
        ("unknown source code", with(&["source"], json!("11"))),
        ("source as number", with(&["source"], json!(6))),
        ("empty children", with(&["children"], json!([]))),
        ("21 children", with(&["children"], json!(vec![json!({"name": "A Child"}); 21]))),
        ("child without name", with(&["children"], json!([{"sex": "F"}]))),
        ("blank child name", with(&["children", "0", "name"], json!("   "))),
        ("bad NHS check digit", with(&["children", "0", "nhs_number"], json!("9434765918"))),
        ("NHS number letters", with(&["children", "0", "nhs_number"], json!("94347ABCDE"))),
        ("date of birth not a date", with(&["children", "0", "date_of_birth"], json!("yesterday"))),
        ("date of birth far future", with(&["children", "0", "date_of_birth"], json!("2099-01-01"))),
        ("sex unknown value", with(&["children", "0", "sex"], json!("X"))),
        ("null concerns", with(&["concerns"], json!(null))),
        ("concerns too long", with(&["concerns"], json!("x".repeat(20_000)))),
        ("referrer name too long", with(&["referrer", "name"], json!("x".repeat(500)))),
        ("control characters in a name", with(&["referrer", "name"], json!("Jo\u{0}Teacher"))),
        ("overridden consent without reason", with(&["consent"], json!("overridden"))),
        ("ppn grade on a phone contact", with(&["ppn_grade"], json!("high"))),
        ("immediate_risk as string", with(&["immediate_risk"], json!("yes"))),
        ("occurred_at in the future", with(&["occurred_at"], json!("2099-01-01T00:00:00Z"))),
        ("occurred_at not a time", with(&["occurred_at"], json!("soon"))),
        ("unknown top-level field", with(&["priority"], json!("urgent"))),
        ("huge number", with(&["immediate_risk"], json!(1e308))),
        ("bad email", with(&["referrer", "email"], json!("not-an-email"))),
    ]
}

fn bodies_for_events() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("no type", json!({"data": {"text": "x"}})),
        ("unknown type", json!({"type": "teleport", "data": {}})),
        ("contact_received on a contact", json!({"type": "contact_received", "data": crate::harness::contact_body()})),
        ("no data", json!({"type": "note_added"})),
        ("data not an object", json!({"type": "note_added", "data": "text"})),
        ("unknown field in data", json!({"type": "note_added", "data": {"text": "x", "colour": "red"}})),
        ("unknown top-level field", json!({"type": "note_added", "data": {"text": "x"}, "actor": "admin"})),
        ("negative expected_version", json!({"type": "note_added", "data": {"text": "x"}, "expected_version": -1})),
        (
            "expected_version too big",
            json!({"type": "note_added", "data": {"text": "x"}, "expected_version": 1u64 << 40}),
        ),
        ("expected_version as string", json!({"type": "note_added", "data": {"text": "x"}, "expected_version": "1"})),
        ("unknown rating", json!({"type": "triage_rated", "data": {"rating": "purple"}})),
        (
            "call in the future",
            json!({"type": "call_logged", "data": {"direction": "inbound", "with": "parent", "started_at": "2099-01-01T00:00:00Z", "duration_seconds": 60, "summary": "s"}}),
        ),
        (
            "call lasting two days",
            json!({"type": "call_logged", "data": {"direction": "inbound", "with": "parent", "started_at": "2026-01-01T00:00:00Z", "duration_seconds": 172800, "summary": "s"}}),
        ),
        ("no participants", json!({"type": "duty_discussion_held", "data": {"participants": [], "summary": "s"}})),
        (
            "bad primary need",
            json!({"type": "decision_made", "data": {"outcome": "assessment", "rationale": "r", "primary_need": "N10"}}),
        ),
        (
            "level of need out of range",
            json!({"type": "decision_made", "data": {"outcome": "assessment", "rationale": "r", "primary_need": "N1", "level_of_need": 5}}),
        ),
        (
            "revises without reason",
            json!({"type": "decision_made", "data": {"outcome": "assessment", "rationale": "r", "primary_need": "N1", "revises": {"event_id": "01J00000000000000000000000"}}}),
        ),
        (
            "revises with a bad id",
            json!({"type": "decision_made", "data": {"outcome": "assessment", "rationale": "r", "primary_need": "N1", "revises": {"event_id": "123", "reason": "x"}}}),
        ),
        ("empty note", json!({"type": "note_added", "data": {"text": ""}})),
        ("bad audit grade", json!({"type": "audit_finding_recorded", "data": {"grade": "meh", "findings": "f"}})),
    ]
}

#[tokio::test]
async fn hostile_bodies_are_refused_clearly_and_change_nothing() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let head = app.head().await;
    let ct = [("content-type", "application/json")];
    let mut count = 0;
    for (what, body) in bodies_for_contacts() {
        let (status, problem) = app.post_raw(Some("admin"), "/v1/contacts", body, &ct).await;
        assert!(matches!(status, 400 | 413 | 422), "{what}: {status} {problem}");
        if status == 422 {
            assert!(problem["errors"][0]["field"].is_string(), "{what}: no field named: {problem}");
        }
        count += 1;
    }
    for (what, body) in bodies_for_events() {
        let (status, problem) = app.post("admin", &format!("/v1/contacts/{id}/events"), &body).await;
        assert!(matches!(status, 400 | 422), "{what}: {status} {problem}");
        count += 1;
    }
    // Wrong content types and duplicated or malformed idempotency keys.
    let good = serde_json::to_vec(&crate::harness::contact_body()).unwrap();
    let (s, _) = app.post_raw(Some("admin"), "/v1/contacts", good.clone(), &[("content-type", "text/plain")]).await;
    assert_eq!(s, 415);
    let long_key = "k".repeat(300);
    let (s, p) =
        app.post_raw(Some("admin"), "/v1/contacts", good.clone(), &[("idempotency-key", long_key.as_str())]).await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "Idempotency-Key");
    count += 2;
    assert!(count >= 30, "only {count} bad bodies");
    assert_eq!(app.head().await, head, "no bad body changed the log");
}
