//! Every error status of the contract, each as problem+json (checked by `read`).

use serde_json::json;

use crate::harness::{contact_body, read, spawn_app};

#[tokio::test]
async fn every_error_status_of_the_contract() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let events = format!("/v1/contacts/{id}/events");
    let json_ct = [("content-type", "application/json")];

    // 400: malformed JSON.
    let (s, p) = app.post_raw(Some("practitioner"), &events, b"{\"type\": \"note_added\",".to_vec(), &json_ct).await;
    assert_eq!(s, 400, "{p}");

    // 401: no token, an unknown token, a malformed header.
    let (s, _) = app.post_raw(None, "/v1/contacts", serde_json::to_vec(&contact_body()).unwrap(), &json_ct).await;
    assert_eq!(s, 401);
    let resp =
        app.client.get(format!("{}/v1/contacts/{id}", app.url)).bearer_auth("fd_nope_nope").send().await.unwrap();
    assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(read(resp).await.0, 401);
    let resp =
        app.client.get(format!("{}/v1/events", app.url)).header("authorization", "Basic YTpi").send().await.unwrap();
    assert_eq!(read(resp).await.0, 401);

    // 403: a known token without the right.
    let (s, p) = app.append("referrer", &id, "triage_rated", json!({"rating": "red"})).await;
    assert_eq!(s, 403, "{p}");
    let (s, p) = app
        .append(
            "partner_police",
            &id,
            "decision_made",
            json!({"outcome": "assessment", "rationale": "r", "primary_need": "N1"}),
        )
        .await;
    assert_eq!(s, 403, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("decision_made"), "{p}");

    // 404: an unknown contact, a malformed id, an unknown endpoint.
    let (s, _) = app.get("practitioner", "/v1/contacts/01J00000000000000000000000").await;
    assert_eq!(s, 404);
    let (s, _) = app.append("practitioner", "01J00000000000000000000000", "note_added", json!({"text": "x"})).await;
    assert_eq!(s, 404);
    let (s, _) = app.get("practitioner", "/v1/contacts/not-a-ulid").await;
    assert_eq!(s, 404);
    let (s, _) = app.get("practitioner", "/v1/nothing-here").await;
    assert_eq!(s, 404);

    // 409: a stale expected_version, with the current version.
    let (s, p) = app
        .post("practitioner", &events, &json!({"type": "note_added", "data": {"text": "x"}, "expected_version": 7}))
        .await;
    assert_eq!(s, 409, "{p}");
    assert_eq!(p["current_version"], 1);

    // 413: a body over the 64 KiB limit.
    let mut big = contact_body();
    big["concerns"] = json!("x".repeat(70 * 1024));
    let (s, p) = app.post_raw(Some("referrer"), "/v1/contacts", serde_json::to_vec(&big).unwrap(), &json_ct).await;
    assert_eq!(s, 413, "{p}");

    // 422: an unknown field, named.
    let mut unknown = contact_body();
    unknown["children"][0]["nickname"] = json!("Sammy");
    let (s, p) = app.post("referrer", "/v1/contacts", &unknown).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "children[0].nickname", "{p}");

    // 422: an actor in the body is refused; the actor is always the token's.
    let mut spoof = contact_body();
    spoof["actor"] = json!({"id": "someone-else", "role": "admin", "agency": "police"});
    let (s, p) = app.post("referrer", "/v1/contacts", &spoof).await;
    assert_eq!(s, 422, "{p}");

    // 405 is problem+json too.
    let resp = app
        .client
        .delete(format!("{}/v1/contacts/{id}", app.url))
        .bearer_auth(app.token("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(resp).await.0, 405);

    // Health and readiness need no token.
    for path in ["/healthz", "/readyz"] {
        let resp = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    // The metrics need a monitor's or an admin's token.
    let resp = app.client.get(format!("{}/metrics", app.url)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp =
        app.client.get(format!("{}/metrics", app.url)).bearer_auth(app.token("practitioner")).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let resp = app.client.get(format!("{}/metrics", app.url)).bearer_auth(app.token("admin")).send().await.unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.contains("frontdoor_http_requests_total"), "{text}");
    assert!(text.contains("frontdoor_events_appended_total"), "{text}");
}

#[tokio::test]
async fn the_global_log_pages_and_names_bad_parameters() {
    let app = spawn_app();
    for _ in 0..3 {
        app.new_contact("referrer").await;
    }
    let (s, page) = app.get("auditor", "/v1/events?after=1&limit=1").await;
    assert_eq!(s, 200);
    assert_eq!(page["events"][0]["position"], 2);
    assert_eq!(page["next_after"], 2);
    let (_, rest) = app.get("auditor", "/v1/events?after=2").await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    let (_, end) = app.get("auditor", "/v1/events?after=3").await;
    assert_eq!((end["events"].as_array().unwrap().len(), end["next_after"].as_u64()), (0, Some(3)));
    for (query, field) in [("limit=0", "limit"), ("limit=1001", "limit"), ("after=-1", "after"), ("after=abc", "after")]
    {
        let (s, p) = app.get("auditor", &format!("/v1/events?{query}")).await;
        assert_eq!(s, 400, "{query}: {p}");
        assert_eq!(p["errors"][0]["field"], field);
    }
    let (s, _) = app.get("practitioner", "/v1/events").await;
    assert_eq!(s, 403, "the global log is for auditors and admins");
}
