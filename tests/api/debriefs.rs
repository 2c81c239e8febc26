//! Duty debriefs (issue 18, point 5): `POST /v1/duty-debriefs` records a duty team's day as a
//! stream of its own; `GET /v1/duty-debriefs` lists them by day; they never reach the queue,
//! the contact figures, or a contact's endpoints.

use serde_json::{Value, json};

use crate::harness::{TestApp, never_a_contact, ready, refused_naming, spawn_app};

fn debrief(date: &str, team: &str) -> Value {
    json!({
        "date": date,
        "team": team,
        "staff_on_duty": 4,
        "staff_expected": 6,
        "recorded": "27 contacts, 11 decisions, 2 strategy discussions",
        "multi_agency_value": "Police and health checks back within the hour",
        "notes": "Two staff off sick; the queue was clear by 17:00."
    })
}

async fn record(app: &TestApp, who: &str, body: &Value) -> (u16, Value) {
    app.post(who, "/v1/duty-debriefs", body).await
}

#[tokio::test]
async fn a_duty_debrief_is_recorded_and_listed_by_day_for_the_duty_team_and_auditors() {
    let app = spawn_app();
    ready(&app).await;
    let (status, body) = record(&app, "decision_maker", &debrief("2026-03-03", "  MASH duty B ")).await;
    assert_eq!(status, 201, "{body}");
    let tuesday = body["debrief_id"].as_str().unwrap().to_owned();
    assert_eq!(body["event"]["type"], "duty_debrief_recorded");
    assert_eq!(body["event"]["data"]["team"], "MASH duty B", "trimmed");
    let (status, body) = record(&app, "practitioner", &debrief("2026-03-02", "MASH duty A")).await;
    assert_eq!(status, 201, "{body}");
    let monday = body["debrief_id"].as_str().unwrap().to_owned();

    for who in ["practitioner", "decision_maker", "auditor", "admin"] {
        let (status, body) = app.get(who, "/v1/duty-debriefs?from=2026-03-01&to=2026-03-31").await;
        assert_eq!(status, 200, "{who}: {body}");
        let listed: Vec<(&str, &str)> = body["debriefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["debrief_id"].as_str().unwrap(), d["team"].as_str().unwrap()))
            .collect();
        assert_eq!(listed, [(monday.as_str(), "MASH duty A"), (tuesday.as_str(), "MASH duty B")], "{who}: by day");
    }
    let (_, body) = app.get("auditor", "/v1/duty-debriefs?from=2026-03-03&to=2026-03-03").await;
    let one = &body["debriefs"][0];
    assert_eq!(body["debriefs"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!((one["staff_on_duty"].as_u64(), one["staff_expected"].as_u64()), (Some(4), Some(6)));
    assert_eq!(one["recorded_by"], "decision_maker", "{one}");
    assert_eq!(one["multi_agency_value"], "Police and health checks back within the hour");
    let (status, body) = app.get("auditor", "/v1/duty-debriefs?from=2026-03-04&to=2026-03-01").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_bad_debrief_names_its_fields_and_writes_nothing() {
    let app = spawn_app();
    ready(&app).await;
    let cases = [
        (json!({"team": "A"}), vec!["date"]),
        (json!({"date": "2026-03-02"}), vec!["team"]),
        (json!({"date": "2026-03-02", "team": " "}), vec!["team"]),
        (json!({"date": "2099-03-02", "team": "A"}), vec!["date"]),
        (json!({"date": "2026-03-02", "team": "A", "staff_on_duty": 201}), vec!["staff_on_duty"]),
        (json!({"date": "2026-03-02", "team": "A", "staff_expected": "six"}), vec!["staff_expected"]),
        (json!({"date": "2026-03-02", "team": "A", "children": [{"name": "X"}]}), vec!["children"]),
    ];
    refused_naming(&app, "practitioner", "/v1/duty-debriefs", &cases).await;
}

#[tokio::test]
async fn only_the_duty_team_and_admins_record_debriefs_and_partners_do_not_read_them() {
    let app = spawn_app();
    ready(&app).await;
    for who in ["referrer", "partner_police", "auditor", "receiving_team"] {
        let (status, body) = record(&app, who, &debrief("2026-03-02", "Duty A")).await;
        assert_eq!(status, 403, "{who}: {body}");
    }
    let (status, body) = record(&app, "admin", &debrief("2026-03-02", "Duty A")).await;
    assert_eq!(status, 201, "{body}");
    for who in ["referrer", "partner_police", "receiving_team"] {
        let (status, body) = app.get(who, "/v1/duty-debriefs").await;
        assert_eq!(status, 403, "{who}: {body}");
    }
}

#[tokio::test]
async fn a_debrief_is_never_a_contact_in_the_queue_the_figures_or_the_contact_endpoints() {
    let app = spawn_app();
    ready(&app).await;
    let contact = app.new_contact("practitioner").await;
    let (status, body) = record(&app, "decision_maker", &debrief("2026-03-02", "Duty A")).await;
    assert_eq!(status, 201, "{body}");
    let id = body["debrief_id"].as_str().unwrap().to_owned();
    ready(&app).await;

    let (_, queue) = app.get("decision_maker", "/v1/queue").await;
    let ids: Vec<&str> = queue["items"].as_array().unwrap().iter().map(|i| i["contact_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [contact.as_str()], "only the contact is on the queue");
    let (status, volumes) = app.get("decision_maker", "/v1/metrics/volumes?from=2026-01-01&to=2026-12-31").await;
    assert_eq!(status, 200, "{volumes}");
    let (_, timeliness) = app.get("decision_maker", "/v1/metrics/timeliness?from=2026-01-01&to=2026-12-31").await;
    assert_eq!(volumes["totals"]["contacts"], 1, "the debrief is no contact: {volumes}");
    assert_eq!(timeliness["contacts"], 1, "{timeliness}");

    never_a_contact(&app, &id, "duty debrief", &contact, "duty_debrief_recorded", debrief("2026-03-02", "Duty A"))
        .await;
}

#[tokio::test]
async fn the_qa_page_lists_the_periods_debriefs() {
    use crate::pages::{cookie_of, no_redirects, sign_in};
    let app = spawn_app();
    ready(&app).await;
    let (status, body) = record(&app, "practitioner", &debrief("2026-03-02", "MASH duty <A>")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = record(&app, "practitioner", &debrief("2026-02-01", "Outside the period")).await;
    assert_eq!(status, 201, "{body}");
    ready(&app).await;
    let page = |who: &'static str| {
        let app = &app;
        async move {
            let cookie = cookie_of(&sign_in(app, app.token(who), &[]).await);
            let resp = no_redirects()
                .get(format!("{}/qa?from=2026-03-01&to=2026-03-31", app.url))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{who}");
            resp.text().await.unwrap()
        }
    };
    let html = page("auditor").await;
    let table = &html[html.find("id=\"duty-debriefs\"").expect("the debriefs' table")..];
    assert!(
        table.contains("<th scope=\"row\">2026-03-02</th><td>MASH duty &#60;A&#62;</td><td>4 of 6</td>"),
        "{table}"
    );
    assert!(!html.contains("Outside the period"), "only the period's days");
    assert!(html.contains("27 contacts, 11 decisions"));
}
