//! Professional consultations (issue 18, point 5): `POST /v1/consultations` records a
//! professional's call for advice as a stream of its own; a contact that follows it names it
//! (`follows_consultation`); one that names a child is in the child index, restricted and
//! access-logged like a contact; none reaches the queue or the contact figures.

use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, fields, never_a_contact, ready, refused_naming, spawn_app};

fn consultation() -> Value {
    json!({
        "agency": "education",
        "source": "2A",
        "advice": "  Talk to the parents first; if the bruising recurs, make a referral. ",
        "concern_categories": ["2B"]
    })
}

fn naming_a_child() -> Value {
    let mut body = consultation();
    body["children"] = json!([{"name": "Robin Testcase", "date_of_birth": "2016-02-03", "nhs_number": "9434765870"}]);
    body
}

async fn record(app: &TestApp, who: &str, body: &Value) -> (u16, Value) {
    app.post(who, "/v1/consultations", body).await
}

async fn recorded(app: &TestApp, body: &Value) -> String {
    let (status, answer) = record(app, "practitioner", body).await;
    assert_eq!(status, 201, "{answer}");
    answer["consultation_id"].as_str().unwrap().to_owned()
}

/// `from=&to=`: the days around today, so what was just recorded is in it.
fn around_today() -> String {
    let today = chrono::Utc::now().date_naive();
    format!("from={}&to={}", today - chrono::Days::new(7), today + chrono::Days::new(1))
}

/// A page, signed in as `who`: 200, its HTML.
async fn page(app: &TestApp, who: &str, path: &str) -> String {
    use crate::pages::{cookie_of, no_redirects, sign_in};
    let cookie = cookie_of(&sign_in(app, app.token(who), &[]).await);
    let resp = no_redirects().get(format!("{}{path}", app.url)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{who} {path}");
    resp.text().await.unwrap()
}

/// The access log's entries (as an auditor reads it) for `id`: `(action, actor)`.
async fn access_of(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let (status, body) = app.get("auditor", "/v1/access?after=0&limit=1000").await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["contact_id"] == id || e["contacts"].as_array().is_some_and(|c| c.iter().any(|x| x == id)))
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["actor"]["id"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_consultation_is_recorded_read_and_listed_with_the_contact_that_followed_it() {
    let app = spawn_app();
    ready(&app).await;
    let (status, body) = record(&app, "decision_maker", &consultation()).await;
    assert_eq!(status, 201, "{body}");
    let id = body["consultation_id"].as_str().unwrap().to_owned();
    assert_eq!(body["event"]["type"], "consultation_recorded");
    assert_eq!(body["event"]["data"]["advice"], "Talk to the parents first; if the bruising recurs, make a referral.");

    let mut follows = contact_body();
    follows["follows_consultation"] = json!(id);
    let (status, contact) = app.post("practitioner", "/v1/contacts", &follows).await;
    assert_eq!(status, 201, "{contact}");
    let contact = contact["contact_id"].as_str().unwrap().to_owned();
    let (_, read) = app.get("practitioner", &format!("/v1/contacts/{contact}")).await;
    assert_eq!(read["follows_consultation"], id.as_str(), "the contact shows what it follows: {read}");
    let html = page(&app, "practitioner", &format!("/contacts/{contact}")).await;
    assert!(html.contains(&format!("id=\"follows-consultation\">Professional consultation {id}<")), "{html}");

    ready(&app).await;
    for who in ["practitioner", "decision_maker", "auditor", "admin"] {
        let (status, one) = app.get(who, &format!("/v1/consultations/{id}")).await;
        assert_eq!(status, 200, "{who}: {one}");
        assert_eq!((one["agency"].as_str(), one["source"].as_str()), (Some("education"), Some("2A")), "{one}");
        assert_eq!(one["followed_by"], json!([contact]), "{who}: {one}");
        assert_eq!(one["recorded_by"], "decision_maker");
        let (status, list) = app.get(who, &format!("/v1/consultations?{}", around_today())).await;
        assert_eq!(status, 200, "{who}: {list}");
        let listed: Vec<&str> =
            list["consultations"].as_array().unwrap().iter().map(|c| c["consultation_id"].as_str().unwrap()).collect();
        assert_eq!(listed, [id.as_str()], "{who}: {list}");
    }
    let (status, none) = app.get("auditor", "/v1/consultations?from=2000-01-01&to=2000-01-31").await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["consultations"], json!([]), "out of the period");
    let (status, body) = app.get("auditor", "/v1/consultations?from=2026-03-04&to=2026-03-01").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_bad_consultation_names_its_fields_and_writes_nothing() {
    let app = spawn_app();
    ready(&app).await;
    let with = |key: &str, value: Value| {
        let mut body = consultation();
        body[key] = value;
        body
    };
    let cases = [
        (json!({"agency": "education", "source": "2A"}), vec!["advice"]),
        (json!({"source": "2A", "advice": "x"}), vec!["agency"]),
        (with("advice", json!("   ")), vec!["advice"]),
        (with("source", json!("9Z")), vec!["source"]),
        (with("agency", json!("fire_brigade")), vec!["agency"]),
        (with("children", json!([{"date_of_birth": "2016-02-03"}])), vec!["children[0].name"]),
        (with("children", json!([{"name": "A Child", "nhs_number": "1234567890"}])), vec!["children[0].nhs_number"]),
        (with("children", json!([{"name": "A Child", "ethnicity": "purple"}])), vec!["children[0].ethnicity"]),
        (with("concern_categories", json!(["99Z"])), vec!["concern_categories[0]"]),
        (with("referrer", json!({"name": "X"})), vec!["referrer"]),
        (with("occurred_at", json!("2099-01-01T00:00:00Z")), vec!["occurred_at"]),
    ];
    refused_naming(&app, "practitioner", "/v1/consultations", &cases).await;
}

#[tokio::test]
async fn a_repeated_idempotency_key_records_one_consultation() {
    let app = spawn_app();
    ready(&app).await;
    let body = serde_json::to_vec(&consultation()).unwrap();
    let headers = [("content-type", "application/json"), ("idempotency-key", "call-1")];
    let (s1, first) = app.post_raw(Some("practitioner"), "/v1/consultations", body.clone(), &headers).await;
    let (s2, second) = app.post_raw(Some("practitioner"), "/v1/consultations", body, &headers).await;
    assert_eq!((s1, s2), (201, 201), "{first} {second}");
    assert_eq!(first["consultation_id"], second["consultation_id"], "the same consultation");
    let mut other = consultation();
    other["advice"] = json!("Different advice");
    let (s3, third) =
        app.post_raw(Some("practitioner"), "/v1/consultations", serde_json::to_vec(&other).unwrap(), &headers).await;
    assert_eq!(s3, 422, "{third}");
}

#[tokio::test]
async fn only_the_duty_team_records_consultations_and_only_it_auditors_and_admins_read_them_logged() {
    let app = spawn_app();
    ready(&app).await;
    for who in ["referrer", "partner_police", "auditor", "receiving_team"] {
        let (status, body) = record(&app, who, &naming_a_child()).await;
        assert_eq!(status, 403, "{who}: {body}");
    }
    let (status, body) = record(&app, "admin", &naming_a_child()).await;
    assert_eq!(status, 201, "{body}");
    let id = body["consultation_id"].as_str().unwrap().to_owned();
    ready(&app).await;
    for who in ["referrer", "partner_police", "receiving_team"] {
        let (status, body) = app.get(who, "/v1/consultations").await;
        assert_eq!(status, 403, "{who}: {body}");
        let (status, body) = app.get(who, &format!("/v1/consultations/{id}")).await;
        assert_eq!(status, 403, "{who}: {body}");
    }
    let (status, body) = app.get("practitioner", &format!("/v1/consultations/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["children"][0]["name"], "Robin Testcase", "{body}");
    let (status, _) = app.get("practitioner", &format!("/v1/consultations?{}", around_today())).await;
    assert_eq!(status, 200);

    let log = access_of(&app, &id).await;
    for refused in ["partner_police", "referrer", "receiving_team"] {
        assert!(
            log.iter().any(|(action, actor)| action == "read_consultation_refused" && actor.starts_with(refused)),
            "{refused}'s refused read is logged: {log:?}"
        );
    }
    assert!(log.contains(&("read_consultation".to_owned(), "practitioner".to_owned())), "{log:?}");
    assert!(log.contains(&("list_consultations".to_owned(), "practitioner".to_owned())), "{log:?}");

    let (status, body) = app.get("practitioner", "/v1/consultations/01J00000000000000000000000").await;
    assert_eq!(status, 404, "{body}");
    let contact = app.new_contact("practitioner").await;
    let (status, body) = app.get("practitioner", &format!("/v1/consultations/{contact}")).await;
    assert_eq!(status, 404, "a contact is no consultation: {body}");
}

#[tokio::test]
async fn follows_consultation_must_name_a_consultation_that_exists() {
    let app = spawn_app();
    ready(&app).await;
    let contact = app.new_contact("practitioner").await;
    let before = app.head().await;
    for (what, id) in [("nothing", "01J00000000000000000000000"), ("a contact", contact.as_str())] {
        let mut body = contact_body();
        body["follows_consultation"] = json!(id);
        let (status, answer) = app.post("practitioner", "/v1/contacts", &body).await;
        assert_eq!(status, 422, "{what}: {answer}");
        assert_eq!(fields(&answer), ["follows_consultation"], "{what}: {answer}");
    }
    let mut body = contact_body();
    body["follows_consultation"] = json!("not-an-id");
    let (status, answer) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(fields(&answer), ["follows_consultation"], "{answer}");
    assert_eq!(app.head().await, before, "nothing was written");
}

#[tokio::test]
async fn a_consultation_is_never_a_contact_in_the_queue_the_figures_or_the_contact_endpoints() {
    let app = spawn_app();
    ready(&app).await;
    let contact = app.new_contact("practitioner").await;
    let id = recorded(&app, &naming_a_child()).await;
    ready(&app).await;

    let (_, queue) = app.get("decision_maker", "/v1/queue").await;
    let ids: Vec<&str> = queue["items"].as_array().unwrap().iter().map(|i| i["contact_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [contact.as_str()], "only the contact is on the queue");
    let (status, volumes) = app.get("decision_maker", &format!("/v1/metrics/volumes?{}", around_today())).await;
    assert_eq!(status, 200, "{volumes}");
    assert_eq!(volumes["totals"]["contacts"], 1, "the consultation is no contact: {volumes}");
    assert_eq!(volumes["totals"]["children"], 1, "{volumes}");
    let (_, timeliness) = app.get("decision_maker", &format!("/v1/metrics/timeliness?{}", around_today())).await;
    assert_eq!(timeliness["contacts"], 1, "{timeliness}");

    never_a_contact(&app, &id, "is a consultation", &contact, "consultation_recorded", consultation()).await;
    let (_, body) = app.append("admin", &contact, "consultation_recorded", consultation()).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("POST /v1/consultations"), "{body}");
}

#[tokio::test]
async fn the_child_s_record_lists_a_consultation_as_a_consultation_and_the_search_finds_it() {
    let app = spawn_app();
    ready(&app).await;
    let id = recorded(&app, &naming_a_child()).await;
    ready(&app).await;
    let (status, found) = app.get("practitioner", "/v1/children?nhs_number=9434765870").await;
    assert_eq!(status, 200, "{found}");
    let candidate = &found["candidates"][0];
    assert_eq!((candidate["contacts"].as_u64(), candidate["consultations"].as_u64()), (Some(0), Some(1)), "{found}");
    let child_id = candidate["child_id"].as_str().unwrap().to_owned();

    // A contact about the same child (the same NHS number) follows the consultation.
    let mut follows = contact_body();
    follows["children"] =
        json!([{"name": "Robin Testcase", "date_of_birth": "2016-02-03", "nhs_number": "9434765870"}]);
    follows["follows_consultation"] = json!(id);
    let (status, contact) = app.post("practitioner", "/v1/contacts", &follows).await;
    assert_eq!(status, 201, "{contact}");
    let contact = contact["contact_id"].as_str().unwrap().to_owned();
    ready(&app).await;

    let (status, record) = app.get("decision_maker", &format!("/v1/children/{child_id}")).await;
    assert_eq!(status, 200, "{record}");
    let contacts: Vec<&str> =
        record["contacts"].as_array().unwrap().iter().map(|c| c["contact_id"].as_str().unwrap()).collect();
    assert_eq!(contacts, [contact.as_str()], "the consultation is not listed as a contact: {record}");
    let consultation = &record["consultations"][0];
    assert_eq!(consultation["consultation_id"], id.as_str(), "{record}");
    assert_eq!(consultation["followed_by"], json!([contact]), "{record}");
    assert_eq!(record["consultations"].as_array().unwrap().len(), 1);

    let html = page(&app, "practitioner", &format!("/children/{child_id}")).await;
    let table = &html[html.find("id=\"child-consultations\"").expect("the page lists the consultation")..];
    assert!(table.contains("Talk to the parents first") && table.contains("education (2A)"), "{table}");
    let contacts = &html[html.find("id=\"child-contacts\"").expect("and the contact")..];
    assert!(!contacts[..contacts.find("</table>").unwrap()].contains("Talk to the parents"), "{contacts}");

    let log = access_of(&app, &id).await;
    assert!(log.contains(&("read_child".to_owned(), "decision_maker".to_owned())), "{log:?}");
    assert!(log.contains(&("search_children".to_owned(), "practitioner".to_owned())), "{log:?}");
}

#[tokio::test]
async fn the_figures_count_consultations_by_week_and_source_and_those_a_contact_followed_on_the_qa_page_too() {
    let app = spawn_app();
    ready(&app).await;
    let first = recorded(&app, &consultation()).await;
    let mut from_a_gp = naming_a_child();
    from_a_gp["source"] = json!("3A");
    recorded(&app, &from_a_gp).await;
    let mut follows = contact_body();
    follows["follows_consultation"] = json!(first);
    let (status, body) = app.post("practitioner", "/v1/contacts", &follows).await;
    assert_eq!(status, 201, "{body}");
    ready(&app).await;

    let (status, v) = app.get("decision_maker", &format!("/v1/metrics/volumes?{}", around_today())).await;
    assert_eq!(status, 200, "{v}");
    let c = &v["consultations"];
    assert_eq!((c["consultations"].as_u64(), c["followed_by_contact"].as_u64()), (Some(2), Some(1)), "{c}");
    assert_eq!(c["naming_a_child"], 1, "{c}");
    assert_eq!(c["followed_share"], 0.5, "{c}");
    assert_eq!((c["by_source"]["2A"].as_u64(), c["by_source"]["3A"].as_u64()), (Some(2 - 1), Some(1)), "{c}");
    let weekly: u64 = c["by_week"].as_array().unwrap().iter().map(|w| w["consultations"].as_u64().unwrap()).sum();
    assert_eq!(weekly, 2, "{c}");
    assert_eq!(v["totals"]["contacts"], 1, "only the contact is a contact: {v}");

    let today = chrono::Utc::now().date_naive();
    let html = page(&app, "auditor", &format!("/qa?from={}&to={}", today - chrono::Days::new(7), today)).await;
    assert!(
        html.contains("2 consultations in the period; 1 followed by a contact (50%)"),
        "{}",
        &html[html.find("consultations-title").unwrap_or(0)..]
    );
    let by_source = &html[html.find("id=\"consultations-by-source\"").expect("the table by source")..];
    assert!(by_source.contains("<th scope=\"row\">3A "), "{by_source}");
}
