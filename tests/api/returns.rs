//! The codes the statutory returns need, checked at the edge (issue 18, point 2): a DfE
//! ethnicity code, a primary need on a referral decision, and for each school-age child a UPN
//! or the CIN census's reason it is unknown. Nothing new is asked when a contact is received.

use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, spawn_app};

/// Asserts a 422 problem naming exactly `fields`, with nothing written.
async fn refused(app: &TestApp, who: &str, path: &str, body: &Value, fields: &[&str]) {
    let head = app.head().await;
    let (s, p) = app.post(who, path, body).await;
    assert_eq!(s, 422, "{p}");
    let named: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(named, fields, "{p}");
    assert_eq!(app.head().await, head, "the log is untouched");
}

#[tokio::test]
async fn ethnicity_is_a_dfe_code_and_nothing_new_is_asked_of_a_contact() {
    let app = spawn_app();
    let mut body = contact_body();
    body["children"][0]["ethnicity"] = json!("purple");
    refused(&app, "practitioner", "/v1/contacts", &body, &["children[0].ethnicity"]).await;

    body["children"][0]["ethnicity"] = json!("nobt");
    let (s, c) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(s, 201, "{c}");
    let (_, contact) = app.get("practitioner", &format!("/v1/contacts/{}", c["contact_id"].as_str().unwrap())).await;
    assert_eq!(contact["children"][0]["ethnicity"], "NOBT", "{contact}");

    // A neighbour's call about a child they know only by name is still taken.
    let neighbour = json!({
        "channel": "phone", "source": "1B", "referrer": {"name": "A Neighbour"},
        "children": [{"name": "Child Next Door"}], "concerns": "Shouting every night."
    });
    let (s, c) = app.post("practitioner", "/v1/contacts", &neighbour).await;
    assert_eq!(s, 201, "{c}");
}

#[tokio::test]
async fn a_referral_decision_names_a_primary_need_and_each_school_age_childs_upn_or_reason() {
    let app = spawn_app();
    let mut body = contact_body();
    body["children"] = json!([
        {"name": "Baby Example", "date_of_birth": "2025-06-01", "sex": "F"},
        {"name": "Pat Example", "date_of_birth": "2015-02-03", "sex": "M"},
        {"name": "Kim Example", "date_of_birth": "2013-09-09", "sex": "F", "upn": "B801200005001"}
    ]);
    let (s, c) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(s, 201, "{c}");
    let path = format!("/v1/contacts/{}/events", c["contact_id"].as_str().unwrap());
    let decision = |data: Value| json!({"type": "decision_made", "data": data});

    refused(
        &app,
        "decision_maker",
        &path,
        &decision(json!({"outcome": "strategy_discussion", "rationale": "Significant harm suspected."})),
        &["data.primary_need"],
    )
    .await;
    // The baby is not of school age and Kim's UPN is on record: only Pat needs one.
    let without = json!({"outcome": "assessment", "rationale": "s17 needed.", "primary_need": "N1"});
    refused(&app, "decision_maker", &path, &decision(without.clone()), &["data.children[1].upn_unknown_reason"]).await;
    let mut bad = without.clone();
    bad["children"] = json!([{}, {"upn_unknown_reason": "UN99"}]);
    refused(&app, "decision_maker", &path, &decision(bad), &["data.children[1].upn_unknown_reason"]).await;
    let mut too_many = without.clone();
    too_many["children"] = json!([{}, {"upn_unknown_reason": "UN4"}, {}, {}]);
    refused(&app, "decision_maker", &path, &decision(too_many), &["data.children"]).await;

    let mut good = without.clone();
    good["children"] = json!([{}, {"upn_unknown_reason": "UN4"}]);
    let (s, d) = app.post("decision_maker", &path, &decision(good)).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["data"]["children"][1]["upn_unknown_reason"], "UN4", "{d}");
    assert_eq!(d["data"]["primary_need"], "N1", "{d}");
}

#[tokio::test]
async fn a_decision_that_is_not_a_referral_asks_for_nothing_new() {
    let app = spawn_app();
    let mut body = contact_body();
    body["children"] = json!([{"name": "Pat Example", "date_of_birth": "2015-02-03"}]);
    let (_, c) = app.post("practitioner", "/v1/contacts", &body).await;
    let path = format!("/v1/contacts/{}/events", c["contact_id"].as_str().unwrap());
    let (s, d) = app
        .post(
            "decision_maker",
            &path,
            &json!({"type": "decision_made", "data": {"outcome": "early_help", "rationale": "Support below threshold."}}),
        )
        .await;
    assert_eq!(s, 201, "{d}");
}
