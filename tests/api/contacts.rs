//! A contact's life over HTTP: receipt to closure, idempotent retries, concurrent writers,
//! every case rule, restricted checks and the access log.

use serde_json::{Value, json};

use crate::harness::{contact_body, data_for, spawn_app};

#[tokio::test]
async fn a_contact_from_receipt_to_closure() {
    let mut app = spawn_app();
    app.add_team_token("at-jo", "Assessment Team North");
    let (status, created) = app.post("referrer", "/v1/contacts", &contact_body()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["contact_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 26);
    assert_eq!(created["event"]["type"], "contact_received");
    assert_eq!(created["event"]["version"], 1);
    assert_eq!(created["event"]["actor"]["id"], "referrer", "the actor comes from the token");
    assert_eq!(created["event"]["actor"]["role"], "referrer");

    let steps: &[(&str, &str, Value)] = &[
        ("practitioner", "triage_rated", json!({"rating": "red", "reason": "injury to a child under 10"})),
        ("practitioner", "checks_requested", data_for("checks_requested")),
        ("partner_police", "checks_returned", data_for("checks_returned")),
        ("partner_health", "duty_discussion_held", data_for("duty_discussion_held")),
        (
            "decision_maker",
            "decision_made",
            json!({"outcome": "assessment", "rationale": "s17 assessment needed", "level_of_need": 4, "primary_need": "N1"}),
        ),
        ("practitioner", "referrer_informed", data_for("referrer_informed")),
        ("practitioner", "handover_sent", json!({"to": "assessment_team", "team": "Assessment Team North"})),
        ("at-jo", "handover_accepted", json!({"team": "Assessment Team North", "worker": "at-jo"})),
        ("practitioner", "contact_closed", data_for("contact_closed")),
    ];
    for (i, (who, event_type, data)) in steps.iter().enumerate() {
        let (status, env) = app.append(who, &id, event_type, data.clone()).await;
        assert_eq!(status, 201, "{event_type}: {env}");
        assert_eq!(env["version"], i + 2);
        assert_eq!(env["type"], *event_type);
        assert_eq!(env["actor"]["id"], *who);
        assert_eq!(env["hash"].as_str().unwrap().len(), 64);
    }

    let (status, contact) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["stage"], "closed");
    assert_eq!(contact["closed"], true);
    assert_eq!(contact["version"], 10);
    assert_eq!(contact["rating"], "red");
    assert_eq!(contact["decision"]["outcome"], "assessment");
    assert_eq!(contact["handover"]["status"], "accepted");
    assert_eq!(contact["overdue"], false);
    assert_eq!(contact["children"][0]["name"], "Sam Example");

    let (status, events) = app.get("practitioner", &format!("/v1/contacts/{id}/events")).await;
    assert_eq!(status, 200);
    let versions: Vec<u64> = events.as_array().unwrap().iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, (1..=10).collect::<Vec<_>>());
    // The chain links: each prev_hash is the hash before it.
    let events = events.as_array().unwrap();
    for pair in events.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_first_response_and_writes_nothing() {
    let app = spawn_app();
    let key = [("idempotency-key", "form-4711"), ("content-type", "application/json")];
    let body = serde_json::to_vec(&contact_body()).unwrap();
    let (s1, first) = app.post_raw(Some("referrer"), "/v1/contacts", body.clone(), &key).await;
    let head = app.head().await;
    let (s2, second) = app.post_raw(Some("referrer"), "/v1/contacts", body.clone(), &key).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, second, "the same contact, the same event");
    assert_eq!(app.head().await, head, "nothing written by the retry");

    // The same key with another body is refused.
    let mut other = contact_body();
    other["concerns"] = json!("something else entirely");
    let (s3, problem) = app.post_raw(Some("referrer"), "/v1/contacts", serde_json::to_vec(&other).unwrap(), &key).await;
    assert_eq!(s3, 422, "{problem}");
    assert_eq!(app.head().await, head);

    // Keys belong to their caller: another client's identical key is its own.
    let (s4, theirs) = app.post_raw(Some("practitioner"), "/v1/contacts", body, &key).await;
    assert_eq!(s4, 201);
    assert_ne!(theirs["contact_id"], first["contact_id"]);

    // On the events endpoint too.
    let id = first["contact_id"].as_str().unwrap();
    let note = serde_json::to_vec(&json!({"type": "note_added", "data": {"text": "rang back"}})).unwrap();
    let path = format!("/v1/contacts/{id}/events");
    let k = [("idempotency-key", "note-1")];
    let (a, n1) = app.post_raw(Some("practitioner"), &path, note.clone(), &k).await;
    let (b, n2) = app.post_raw(Some("practitioner"), &path, note, &k).await;
    assert_eq!((a, b), (201, 201));
    assert_eq!(n1, n2);
    let (_, events) = app.get("practitioner", &path).await;
    assert_eq!(events.as_array().unwrap().len(), 2, "one note, not two");
}

#[tokio::test]
async fn concurrent_writers_with_the_same_expected_version_one_wins_the_rest_get_409() {
    let app = std::sync::Arc::new(spawn_app());
    let id = app.new_contact("referrer").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let app = app.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            app.post(
                "practitioner",
                &format!("/v1/contacts/{id}/events"),
                &json!({"type": "note_added", "data": {"text": format!("writer {i}")}, "expected_version": 1}),
            )
            .await
        }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            409 => {
                assert_eq!(body["current_version"], 2, "{body}");
                conflicts += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((created, conflicts), (1, 15));

    // Without expected_version, concurrent writers all get through, in some order.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let app = app.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            app.append("practitioner", &id, "note_added", json!({"text": format!("n{i}")})).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let (_, contact) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["version"], 18);
}

/// Each case rule, broken once: 422 naming the rule, and the log untouched.
#[tokio::test]
async fn every_case_rule_is_enforced_with_a_422_naming_it() {
    let app = spawn_app();
    let decide = |outcome: &str| json!({"outcome": outcome, "rationale": "because", "primary_need": "N1"});
    struct Case {
        given: Vec<(&'static str, &'static str, Value)>,
        when: (&'static str, &'static str, Value),
        rule: &'static str,
    }
    let cases = vec![
        Case {
            given: vec![
                ("admin", "decision_made", decide("no_further_action")),
                ("admin", "contact_closed", data_for("contact_closed")),
            ],
            when: ("practitioner", "triage_rated", data_for("triage_rated")),
            rule: "contact-closed",
        },
        Case {
            given: vec![("admin", "decision_made", decide("early_help"))],
            when: ("decision_maker", "decision_made", decide("assessment")),
            rule: "revision-needs-revises",
        },
        Case {
            given: vec![],
            when: (
                "decision_maker",
                "decision_made",
                json!({"outcome": "assessment", "rationale": "r", "primary_need": "N1", "revises": {"event_id": "01J00000000000000000000000", "reason": "x"}}),
            ),
            rule: "nothing-to-revise",
        },
        Case {
            given: vec![("admin", "decision_made", decide("early_help"))],
            when: (
                "decision_maker",
                "decision_made",
                json!({"outcome": "assessment", "rationale": "r", "primary_need": "N1", "revises": {"event_id": "01J00000000000000000000000", "reason": "x"}}),
            ),
            rule: "revises-current-decision",
        },
        Case {
            given: vec![],
            when: ("practitioner", "handover_sent", data_for("handover_sent")),
            rule: "needs-decision",
        },
        Case {
            given: vec![],
            when: ("practitioner", "action_plan_agreed", data_for("action_plan_agreed")),
            rule: "needs-decision",
        },
        Case {
            given: vec![("admin", "decision_made", decide("strategy_discussion"))],
            when: ("practitioner", "handover_sent", json!({"to": "early_help"})),
            rule: "referral-to-assessment-team",
        },
        Case {
            given: vec![
                ("admin", "decision_made", decide("early_help")),
                ("admin", "handover_sent", data_for("handover_sent")),
            ],
            when: ("practitioner", "handover_sent", json!({"to": "tafso"})),
            rule: "handover-pending",
        },
        Case {
            given: vec![("admin", "decision_made", decide("early_help"))],
            when: ("practitioner", "handover_accepted", data_for("handover_accepted")),
            rule: "needs-pending-handover",
        },
        Case {
            given: vec![
                ("admin", "decision_made", decide("early_help")),
                ("admin", "handover_sent", data_for("handover_sent")),
            ],
            when: ("practitioner", "contact_closed", data_for("contact_closed")),
            rule: "close-with-pending-handover",
        },
        Case {
            given: vec![("admin", "decision_made", decide("assessment"))],
            when: ("practitioner", "contact_closed", data_for("contact_closed")),
            rule: "referral-closed-before-acceptance",
        },
        Case {
            given: vec![],
            when: ("practitioner", "correction_recorded", data_for("correction_recorded")),
            rule: "correction-unknown-event",
        },
        Case {
            given: vec![],
            when: ("practitioner", "note_added", json!({"text": "x"})),
            rule: "occurred-before-received",
        },
    ];
    for case in cases {
        let id = app.new_contact("referrer").await;
        for (who, t, data) in &case.given {
            let (s, b) = app.append(who, &id, t, data.clone()).await;
            assert_eq!(s, 201, "given {t}: {b}");
        }
        let head = app.head().await;
        let (who, t, data) = case.when;
        let (status, problem) = if case.rule == "occurred-before-received" {
            app.post(
                who,
                &format!("/v1/contacts/{id}/events"),
                &json!({"type": t, "data": data, "occurred_at": "2020-01-01T00:00:00Z", "late_entry_reason": "found in a drawer"}),
            )
            .await
        } else {
            app.append(who, &id, t, data).await
        };
        assert_eq!(status, 422, "{}: {problem}", case.rule);
        assert_eq!(problem["rule"], case.rule, "{problem}");
        assert_eq!(app.head().await, head, "{}: the log is untouched", case.rule);
    }
}

#[tokio::test]
async fn restricted_checks_are_seen_only_by_those_entitled() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let secret = "Subject of an ongoing police investigation: do not disclose";
    let (s, check) = app
        .append(
            "partner_police",
            &id,
            "checks_returned",
            json!({"agency": "police", "summary": secret, "restricted": true}),
        )
        .await;
    assert_eq!(s, 201, "{check}");
    let check_id = check["event_id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .append("admin", &id, "correction_recorded", json!({"corrects_event_id": check_id, "field": "summary", "value": format!("{secret} (updated)"), "reason": "update"}))
        .await;
    assert_eq!(s, 201);
    app.append(
        "partner_health",
        &id,
        "checks_returned",
        json!({"agency": "health", "summary": "Known to the health visitor"}),
    )
    .await;

    for (who, may_see) in [
        ("partner_police", true),
        ("decision_maker", true),
        ("auditor", true),
        ("admin", true),
        ("partner_health", false),
        ("practitioner", false),
    ] {
        for path in [format!("/v1/contacts/{id}"), format!("/v1/contacts/{id}/events")] {
            let (status, body) = app.get(who, &path).await;
            assert_eq!(status, 200, "{who} {path}: {body}");
            let text = body.to_string();
            assert_eq!(text.contains("ongoing police investigation"), may_see, "{who} reading {path}");
            assert!(text.contains("Known to the health visitor"), "unrestricted checks are visible to {who}");
        }
    }
    // The referrer who made it reads its own view of it, which shows no check at all.
    let (status, body) = app.get("referrer", &format!("/v1/contacts/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(!text.contains("ongoing police investigation") && !text.contains("health visitor"), "{text}");
    let (status, _) = app.get("referrer", &format!("/v1/contacts/{id}/events")).await;
    assert_eq!(status, 403, "a referrer reads no events");
}

#[tokio::test]
async fn every_read_of_a_contact_is_in_its_access_log() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let (s, _) = app.get("practitioner", &format!("/v1/contacts/{id}")).await;
    assert_eq!(s, 200);
    let (s, _) = app.get("partner_health", &format!("/v1/contacts/{id}/events")).await;
    assert_eq!(s, 200);
    let (s, audit) = app.get("auditor", &format!("/v1/contacts/{id}/audit")).await;
    assert_eq!(s, 200, "{audit}");
    let access = audit["access"].as_array().unwrap();
    let seen: Vec<(String, String)> = access
        .iter()
        .map(|a| (a["actor"]["id"].as_str().unwrap().to_owned(), a["action"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        seen,
        [
            ("practitioner".to_owned(), "read_contact".to_owned()),
            ("partner_health".to_owned(), "read_events".to_owned())
        ]
    );
    assert!(access[0]["at"].as_str().unwrap().ends_with('Z'));
    // The trail interleaves events and reads in time order.
    let kinds: Vec<&str> = audit["trail"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["event", "access", "access"]);
    // A refused read (403) is recorded too, as refused.
    let (s, _) = app.get("referrer", &format!("/v1/contacts/{id}/events")).await;
    assert_eq!(s, 403);
    let (_, audit) = app.get("auditor", &format!("/v1/contacts/{id}/audit")).await;
    let access = audit["access"].as_array().unwrap();
    assert_eq!(access.len(), 4, "the two reads, the auditor's own and the refused one");
    assert_eq!(
        (access[3]["actor"]["id"].as_str(), access[3]["action"].as_str()),
        (Some("referrer"), Some("read_events_refused"))
    );
}

/// An auditor holding any envelope from the API can recompute its hash with stock tools:
/// the JSON without its last member (`,"hash":"…"`) is exactly the hashed body.
#[tokio::test]
async fn envelopes_from_the_api_verify_with_a_stock_sha256() {
    use sha2::{Digest, Sha256};
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    app.append("practitioner", &id, "note_added", json!({"text": "rang back"})).await;
    let resp = app
        .client
        .get(format!("{}/v1/contacts/{id}/events", app.url))
        .bearer_auth(app.token("admin"))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let events: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut prev = "0".repeat(64);
    for env in events {
        let line = serde_json::to_string(&env).unwrap();
        assert!(line.starts_with("{\"position\":"), "field order is the contract's: {line}");
        let cut = line.rfind(",\"hash\":").unwrap();
        let body = format!("{}}}", &line[..cut]);
        let mut h = Sha256::new();
        h.update(hex::decode(env["prev_hash"].as_str().unwrap()).unwrap());
        h.update(body.as_bytes());
        assert_eq!(hex::encode(h.finalize()), env["hash"].as_str().unwrap());
        if env["version"] == 1 {
            prev = env["hash"].as_str().unwrap().to_owned();
        } else {
            assert_eq!(env["prev_hash"].as_str().unwrap(), prev);
        }
    }
}
