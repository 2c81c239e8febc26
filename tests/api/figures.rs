//! Figures over HTTP: timeliness with known times, volumes, the audit sample, and as-of.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, spawn_app};

async fn ready(app: &TestApp) {
    for _ in 0..200 {
        if app.client.get(format!("{}/readyz", app.url)).send().await.unwrap().status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never ready");
}

/// A contact received at `received` (UTC), decided at `decided` with `outcome`.
async fn decided_contact(app: &TestApp, received: &str, decided: Option<(&str, &str)>, channel: &str) -> String {
    let mut body = contact_body();
    body["occurred_at"] = json!(received);
    body["late_entry_reason"] = json!("entered from the paper log");
    body["channel"] = json!(channel);
    let (s, created) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(s, 201, "{created}");
    let id = created["contact_id"].as_str().unwrap().to_owned();
    if let Some((at, outcome)) = decided {
        let (s, b) = app
            .post(
                "decision_maker",
                &format!("/v1/contacts/{id}/events"),
                &json!({"type": "decision_made", "occurred_at": at, "late_entry_reason": "entered from the paper log",
                    "data": {"outcome": outcome, "rationale": "r", "level_of_need": 3}}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    id
}

#[tokio::test]
async fn timeliness_and_volumes_follow_the_documented_definitions() {
    let app = spawn_app();
    ready(&app).await;
    // Monday 2 March 2026 (GMT). Decided in 2 h: within 24 h and one working day.
    decided_contact(&app, "2026-03-02T09:00:00Z", Some(("2026-03-02T11:00:00Z", "early_help")), "phone").await;
    // Friday 17:00 → Monday 10:00: 65 h, outside 24 h, within one working day (due Mon 17:00).
    decided_contact(&app, "2026-02-27T17:00:00Z", Some(("2026-03-02T10:00:00Z", "assessment")), "email").await;
    // Tuesday 09:00 → Wednesday 12:00: 27 h, late on both counts.
    decided_contact(&app, "2026-03-03T09:00:00Z", Some(("2026-03-04T12:00:00Z", "no_further_action")), "phone").await;
    // Undecided.
    decided_contact(&app, "2026-03-04T09:00:00Z", None, "online_form").await;
    // Outside the period.
    decided_contact(&app, "2026-01-05T09:00:00Z", Some(("2026-01-05T10:00:00Z", "early_help")), "phone").await;

    let (s, t) = app.get("practitioner", "/v1/metrics/timeliness?from=2026-02-23&to=2026-03-08").await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["contacts"], 4);
    assert_eq!(t["decided"], 3);
    assert_eq!(t["decided_within_24h"], 1);
    assert_eq!(t["decided_within_one_working_day"], 2);
    assert_eq!(t["decision_hours"]["max"], 65.0);
    assert_eq!(t["decision_hours"]["median"], 27.0);
    let weeks: Vec<&str> = t["by_week"].as_array().unwrap().iter().map(|w| w["week"].as_str().unwrap()).collect();
    assert_eq!(weeks, ["2026-W09", "2026-W10"]);

    let (s, v) = app.get("practitioner", "/v1/metrics/volumes?from=2026-02-23&to=2026-03-08").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["totals"]["contacts"], 4);
    assert_eq!(v["totals"]["by_channel"]["phone"], 2);
    assert_eq!(v["totals"]["referrals"], 1);
    assert_eq!(v["totals"]["conversion_rate"], 0.25);

    for (query, field) in
        [("from=2026-13-01", "from"), ("to=yesterday", "to"), ("from=2026-03-09&to=2026-03-01", "from")]
    {
        let (s, p) = app.get("practitioner", &format!("/v1/metrics/timeliness?{query}")).await;
        assert_eq!(s, 400, "{query}: {p}");
        assert_eq!(p["errors"][0]["field"], field);
    }
    let (s, _) = app.get("partner_police", "/v1/metrics/timeliness").await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn the_audit_sample_is_reproducible_and_only_of_decided_contacts() {
    let app = spawn_app();
    ready(&app).await;
    let mut decided = Vec::new();
    for day in 2..=6 {
        for hour in [9, 11, 14] {
            let received = format!("2026-03-0{day}T{hour:02}:00:00Z");
            let at = format!("2026-03-0{day}T{:02}:30:00Z", hour + 1);
            decided.push(decided_contact(&app, &received, Some((&at, "early_help")), "phone").await);
        }
    }
    decided_contact(&app, "2026-03-05T10:00:00Z", None, "phone").await;
    let sample = |seed: u64| {
        let app = &app;
        async move {
            let (s, b) =
                app.get("auditor", &format!("/v1/audit/sample?from=2026-03-01&to=2026-03-08&n=5&seed={seed}")).await;
            assert_eq!(s, 200, "{b}");
            b["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["contact_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let first = sample(42).await;
    assert_eq!(first.len(), 5);
    assert_eq!(sample(42).await, first, "the same seed draws the same contacts");
    assert_ne!(sample(43).await, first);
    assert!(first.iter().all(|id| decided.contains(id)), "only decided contacts");
    let (s, p) = app.get("auditor", "/v1/audit/sample?from=2026-03-01&to=2026-03-08").await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (400, Some("seed")));
    let (s, _) = app.get("practitioner", "/v1/audit/sample?seed=1").await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn as_of_shows_the_queue_as_it_stood_then() {
    let app = spawn_app();
    ready(&app).await;
    let a = decided_contact(&app, "2026-03-02T09:00:00Z", None, "phone").await;
    let b = decided_contact(&app, "2026-03-02T09:30:00Z", None, "phone").await;
    let position_then = app.head().await;
    let (s, d) = app
        .post(
            "decision_maker",
            &format!("/v1/contacts/{a}/events"),
            &json!({"type": "decision_made", "occurred_at": "2026-03-02T12:00:00Z", "late_entry_reason": "paper log",
                "data": {"outcome": "no_further_action", "rationale": "r"}}),
        )
        .await;
    assert_eq!(s, 201, "{d}");

    let (s, then) = app.get("auditor", &format!("/v1/as-of?position={position_then}")).await;
    assert_eq!(s, 200, "{then}");
    let ids = |v: &Value| {
        v["queue"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["contact_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&then), [a.clone(), b.clone()], "both were waiting then");
    assert_eq!(then["as_of_position"], position_then);
    let (_, now) = app.get("auditor", &format!("/v1/as-of?position={}", app.head().await)).await;
    assert_eq!(ids(&now), [b]);
    // As of the head, it agrees with the live queue.
    let (_, live) = app.get("auditor", "/v1/queue").await;
    assert_eq!(now["queue"]["items"].as_array().unwrap().len(), live["items"].as_array().unwrap().len());
    let (s, p) = app.get("auditor", "/v1/as-of").await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (400, Some("at")));
    let (s, _) = app.get("auditor", "/v1/as-of?at=2000-01-01T00:00:00Z").await;
    assert_eq!(s, 200);
    let (s, _) = app.get("practitioner", "/v1/as-of?position=1").await;
    assert_eq!(s, 403);
}
