//! Previous contacts counted by when contacts were received, not when they were entered, with
//! names that look the same matched; names that would display otherwise than stored refused.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, ready, spawn_app};
use crate::sse::SseReader;

/// A contact about a child called `name` (born 4 May 2017, no NHS number: name and date of
/// birth decide who it is), received `hours_ago` hours before now.
async fn contact_about(app: &TestApp, name: &str, hours_ago: i64) -> String {
    let mut body = contact_body();
    body["children"] = json!([{"name": name, "date_of_birth": "2017-05-04", "sex": "F"}]);
    body["occurred_at"] = json!((Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339());
    let (status, created) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 201, "{created}");
    created["contact_id"].as_str().unwrap().to_owned()
}

/// Each contact's `previous_contacts` on `GET /v1/queue` (or an as-of queue).
fn previous(queue: &Value) -> HashMap<String, u64> {
    queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["contact_id"].as_str().unwrap().to_owned(), i["previous_contacts"].as_u64().unwrap()))
        .collect()
}

async fn queue(app: &TestApp) -> HashMap<String, u64> {
    let (status, body) = app.get("practitioner", "/v1/queue").await;
    assert_eq!(status, 200, "{body}");
    previous(&body)
}

#[tokio::test]
async fn bug_previous_contacts_depended_on_entry_order() {
    let mut app = spawn_app();
    ready(&app).await;
    // Three contacts about the same girl, her name spelled as three systems would store it:
    // a precomposed ë, an e with a combining diaeresis, and with a byte order mark and a
    // zero-width space pasted in. Entered in order of receipt.
    let a = contact_about(&app, "Zo\u{EB} Example", 10).await;
    let b = contact_about(&app, "Zoe\u{308} Example", 5).await;
    let c = contact_about(&app, "\u{FEFF}Zo\u{200B}\u{EB} Example", 1).await;
    let other = contact_about(&app, "Zoey Example", 3).await;
    let q = queue(&app).await;
    assert_eq!([q[&a], q[&b], q[&c], q[&other]], [0, 1, 2, 0], "{q:?}");
    let before_late_entry = app.head().await;

    // A contact received before all three is entered last: it has none before it, and each
    // of the three now has one more.
    let d = contact_about(&app, "ZO\u{CB} EXAMPLE", 20).await;
    let q = queue(&app).await;
    assert_eq!([q[&d], q[&a], q[&b], q[&c], q[&other]], [0, 1, 2, 3, 0], "{q:?}");

    // Re-contacts on the volumes figure are the same count: three of five had one before.
    let (status, volumes) = app.get("practitioner", "/v1/metrics/volumes").await;
    assert_eq!(status, 200, "{volumes}");
    assert_eq!(volumes["totals"]["contacts"], 5, "{volumes}");
    assert_eq!(volumes["totals"]["re_contacts"], 3, "{volumes}");

    // A duty board that was following the queue stream and reconnects from that position is
    // sent the lines of the three whose counts went up, as well as the new one.
    let stream = format!("{}/v1/queue/stream", app.url);
    let mut sse = SseReader::connect(&stream, app.token("practitioner"), Some(&before_late_entry.to_string())).await;
    let resent: HashMap<String, u64> = sse
        .drain(Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|m| m.event == "upsert")
        .map(|m| (m.data["contact_id"].as_str().unwrap().to_owned(), m.data["previous_contacts"].as_u64().unwrap()))
        .collect();
    let mut expected: HashMap<String, u64> = [(&d, 0), (&a, 1), (&b, 2), (&c, 3)].map(|(k, v)| (k.clone(), v)).into();
    // Zoey Example, born the same day, sounds like the new child: its line is sent again too
    // (its possible match may have changed), with its count unchanged.
    expected.insert(other.clone(), 0);
    assert_eq!(resent, expected);
    drop(sse);

    // As of the log's position before the late entry, the queue showed what it showed then.
    let (status, then) = app.get("auditor", &format!("/v1/as-of?position={before_late_entry}")).await;
    assert_eq!(status, 200, "{then}");
    let then = previous(&then["queue"]);
    assert_eq!([then[&a], then[&b], then[&c]], [0, 1, 2], "{then:?}");
    assert!(!then.contains_key(&d));

    // A restart rebuilds the read model from the log in entry order: the same counts.
    assert_eq!(app.terminate(Duration::from_secs(10)), Some(true));
    app.restart();
    ready(&app).await;
    let q = queue(&app).await;
    assert_eq!([q[&d], q[&a], q[&b], q[&c], q[&other]], [0, 1, 2, 3, 0], "{q:?}");
}

#[tokio::test]
async fn bug_names_could_hide_bidi_overrides_or_be_invisible() {
    let app = spawn_app();
    ready(&app).await;
    let head = app.head().await;
    // A right-to-left override makes "Amy \u{202E}htimS" display as "Amy Smith".
    let mut body = contact_body();
    body["children"][0]["name"] = json!("Amy \u{202E}htimS");
    let (status, problem) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "children[0].name", "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("bidirectional"), "{problem}");
    // A referrer's name of a zero-width space alone names no one.
    let mut body = contact_body();
    body["referrer"]["name"] = json!("\u{200B}");
    let (status, problem) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "referrer.name", "{problem}");
    // A discussion participant's name with an isolate.
    let id = app.new_contact("practitioner").await;
    let head_with_contact = app.head().await;
    let (status, problem) = app
        .append(
            "practitioner",
            &id,
            "duty_discussion_held",
            json!({"participants": [{"name": "\u{2067}A Worker\u{2069}", "role": "social worker", "agency": "childrens_social_care"}], "summary": "Discussed.", "recommendation": "assessment"}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "data.participants[0].name", "{problem}");
    // Nothing refused reached the log.
    assert_eq!(head_with_contact, head + 1);
    assert_eq!(app.head().await, head_with_contact);
}
