//! The full role × event-type permission matrix, over HTTP, from API.md's role table.

use serde_json::{Value, json};

use crate::harness::{ACTORS, TestApp, data_for, spawn_app};

const EVENT_TYPES: &[&str] = &[
    "triage_rated",
    "call_logged",
    "checks_requested",
    "checks_returned",
    "duty_discussion_held",
    "consent_recorded",
    "decision_made",
    "action_plan_agreed",
    "referrer_informed",
    "handover_sent",
    "handover_accepted",
    "handover_returned",
    "contact_closed",
    "note_added",
    "correction_recorded",
    "audit_finding_recorded",
    "children_linked",
    "children_unlinked",
    "contact_allocated",
    "referrer_feedback_given",
    "strategy_discussion_held",
    "action_completed",
];

/// API.md: who may append what.
fn allowed(role: &str, event_type: &str) -> bool {
    match role {
        // On the contacts it made (these are the referrer's).
        "referrer" => matches!(event_type, "note_added" | "referrer_feedback_given"),
        // The handover they answer is to early help: its receiving team's alone (issue 12).
        "practitioner" => !matches!(
            event_type,
            "decision_made"
                | "audit_finding_recorded"
                | "handover_accepted"
                | "handover_returned"
                | "referrer_feedback_given"
        ),
        "decision_maker" => !matches!(
            event_type,
            "audit_finding_recorded" | "handover_accepted" | "handover_returned" | "referrer_feedback_given"
        ),
        // A strategy discussion is recorded by the duty team, whoever took part.
        // A partner's own agency's actions (the action here is the partner's agency's).
        "partner" => {
            matches!(event_type, "checks_returned" | "duty_discussion_held" | "note_added" | "action_completed")
        }
        "auditor" => event_type == "audit_finding_recorded",
        "admin" => true,
        // Its own handovers only (this one names its team).
        "receiving_team" => matches!(event_type, "handover_accepted" | "handover_returned" | "contact_allocated"),
        other => panic!("unknown role {other}"),
    }
}

/// A contact in a state where `event_type` breaks no case rule, and that event's data.
async fn ready_for(app: &TestApp, event_type: &str, agency: &str) -> (String, Value) {
    let id = app.new_contact("referrer").await;
    let decide = |outcome: &str| json!({"outcome": outcome, "rationale": "because"});
    let given: Vec<(&str, Value)> = match event_type {
        "action_plan_agreed" | "referrer_informed" | "handover_sent" => vec![("decision_made", decide("early_help"))],
        "handover_accepted" | "handover_returned" => {
            vec![("decision_made", decide("early_help")), ("handover_sent", data_for("handover_sent"))]
        }
        "contact_closed" | "referrer_feedback_given" | "strategy_discussion_held" => {
            vec![("decision_made", decide("no_further_action"))]
        }
        // Handed over to the receiving team and accepted, so that it may allocate its worker.
        "contact_allocated" => vec![
            ("decision_made", decide("early_help")),
            ("handover_sent", data_for("handover_sent")),
            ("handover_accepted", data_for("handover_accepted")),
        ],
        // A plan whose one action is the agency's of the actor (a partner completes its own).
        "action_completed" => vec![
            ("decision_made", decide("early_help")),
            (
                "action_plan_agreed",
                json!({"actions": [{"owner_agency": agency, "description": "Offer a family support worker"}]}),
            ),
        ],
        _ => vec![],
    };
    for (t, data) in given {
        let (s, b) = app.append("admin", &id, t, data).await;
        assert_eq!(s, 201, "{b}");
    }
    let mut data = match event_type {
        // Linked to another child (every contact here names the same Sam, linked by NHS number),
        // unlinked from the child it is linked to.
        "children_linked" => {
            // A child of its own each time (a link joins the two, and the next with the same
            // name and date of birth would join them too).
            static OTHER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = OTHER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut other = crate::harness::contact_body();
            other["children"] = json!([{"name": format!("Other Child {n}"), "date_of_birth": "2019-01-02"}]);
            let (s, b) = app.post("admin", "/v1/contacts", &other).await;
            assert_eq!(s, 201, "{b}");
            let other: ulid::Ulid = b["contact_id"].as_str().unwrap().parse().unwrap();
            let child_id = projections::children::child_id_for(other, 0);
            json!({"child_index": 0, "child_id": child_id, "reason": "The same child"})
        }
        "children_unlinked" => {
            let child_id = projections::children::child_id_for(id.parse().unwrap(), 0);
            json!({"child_index": 0, "child_id": child_id, "reason": "Not the same child"})
        }
        _ => data_for(event_type),
    };
    match event_type {
        "checks_returned" => data["agency"] = json!(agency),
        "correction_recorded" => {
            let (_, events) = app.get("admin", &format!("/v1/contacts/{id}/events")).await;
            data["corrects_event_id"] = events[0]["event_id"].clone();
        }
        "action_completed" => {
            let (_, events) = app.get("admin", &format!("/v1/contacts/{id}/events")).await;
            data["plan_event_id"] = events[2]["event_id"].clone();
        }
        _ => {}
    }
    (id, data)
}

#[tokio::test]
async fn every_role_may_append_exactly_what_the_contract_says() {
    let app = spawn_app();
    let mut mismatches = Vec::new();
    for (name, role, agency) in ACTORS {
        for event_type in EVENT_TYPES {
            let (id, data) = ready_for(&app, event_type, agency).await;
            let (status, body) = app.append(name, &id, event_type, data).await;
            let expected = if allowed(role, event_type) { 201 } else { 403 };
            if status != expected {
                mismatches.push(format!("{name} ({role}) {event_type}: {status}, expected {expected}: {body}"));
            }
        }
        let (status, _) = app.post(name, "/v1/contacts", &crate::harness::contact_body()).await;
        let may_create = matches!(*role, "referrer" | "practitioner" | "decision_maker" | "admin");
        if status != if may_create { 201 } else { 403 } {
            mismatches.push(format!("{name} ({role}) POST /v1/contacts: {status}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn a_partner_returns_checks_only_for_their_own_agency() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let (s, p) =
        app.append("partner_health", &id, "checks_returned", json!({"agency": "police", "summary": "x"})).await;
    assert_eq!(s, 403, "{p}");
    let (s, _) =
        app.append("partner_health", &id, "checks_returned", json!({"agency": "health", "summary": "x"})).await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn reads_follow_the_role_table() {
    let app = spawn_app();
    let id = app.new_contact("referrer").await;
    let cases: &[(&str, &[(&str, u16)])] = &[
        (
            &format!("/v1/contacts/{id}"),
            &[
                // Its own contact, in a referrer's view.
                ("referrer", 200),
                ("practitioner", 200),
                ("decision_maker", 200),
                ("partner_police", 200),
                ("auditor", 200),
                ("admin", 200),
                // Not handed over to it: as if it did not exist.
                ("receiving_team", 404),
            ],
        ),
        (
            &format!("/v1/contacts/{id}/events"),
            &[
                ("referrer", 403),
                ("practitioner", 200),
                ("partner_health", 200),
                ("auditor", 200),
                ("receiving_team", 404),
            ],
        ),
        (
            &format!("/v1/contacts/{id}/audit"),
            &[
                ("referrer", 403),
                ("practitioner", 403),
                ("partner_police", 403),
                ("auditor", 200),
                ("admin", 200),
                ("receiving_team", 403),
            ],
        ),
        (
            "/v1/events",
            &[("referrer", 403), ("practitioner", 403), ("partner_police", 403), ("auditor", 200), ("admin", 200)],
        ),
    ];
    for (path, expectations) in cases {
        for (who, expected) in *expectations {
            let (status, body) = app.get(who, path).await;
            assert_eq!(status, *expected, "{who} GET {path}: {body}");
        }
    }
}
