//! A referrer's pages and the receiving team's sign-in (issue 17, points 5 to 7): a referrer
//! signs in to "My referrals", sees only the contacts it made (another's is 404), opens none of
//! the duty team's pages; the referral form's fields are the API's paths and its writes go
//! through the API's same-origin check; feedback after the outcome reaches the QA page; a
//! receiving team signs in to the handovers to its team. (tests/browser drives the same pages
//! in Chromium.)

use serde_json::json;

use crate::harness::{TestApp, create_token_for, ready, spawn_app};
use crate::pages::{cookie_of, no_redirects, sign_in};

const MARKER: &str = "Restricted police intelligence Vb8Qm";

fn with_gp(mut app: TestApp) -> TestApp {
    let token = create_token_for(app.dir.path(), "referrer", "gp-reed", "health", None);
    app.tokens.insert("gp-reed", token);
    app
}

async fn get(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let resp = no_redirects().get(format!("{}{path}", app.url)).header("cookie", cookie).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn cookie(app: &TestApp, who: &str) -> String {
    cookie_of(&sign_in(app, app.token(who), &[]).await)
}

#[tokio::test]
async fn a_referrer_lands_on_my_referrals_and_sees_only_the_contacts_it_made() {
    let app = with_gp(spawn_app());
    let mine = app.new_contact("referrer").await;
    let gps = app.new_contact("gp-reed").await;
    let check = json!({"agency": "police", "summary": MARKER, "restricted": true});
    assert_eq!(app.append("partner_police", &mine, "checks_returned", check).await.0, 201);
    ready(&app).await;

    let signed_in = sign_in(&app, app.token("referrer"), &[]).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/referrals", "a referrer lands on My referrals");
    let referrer = cookie_of(&signed_in);

    let (status, list) = get(&app, &referrer, "/referrals").await;
    assert_eq!(status, 200);
    assert!(list.contains(&format!("href=\"/referrals/{mine}\"")), "its own contact: {list}");
    assert!(!list.contains(&gps), "not the GP's contact");
    assert!(list.contains("Being looked at"), "the stage in words (checks came back): {list}");

    let (status, page) = get(&app, &referrer, &format!("/referrals/{mine}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("What happens next") && page.contains("call 999"), "{page}");
    assert!(page.contains("data-event=\"note_added\""), "an open contact takes more information");
    assert!(!page.contains("referrer_feedback_given"), "no survey before the outcome");
    for hidden in ["Vb8Qm", "Bruising", "checks", "Hillside"] {
        assert!(!page.contains(hidden), "{hidden} is the duty team's record, not the referrer's: {page}");
    }
    // Another referrer's contact does not exist for it, and the refused read is logged.
    let (status, other) = get(&app, &referrer, &format!("/referrals/{gps}")).await;
    assert_eq!(status, 404, "{other}");
    let (_, audit) = app.get("auditor", &format!("/v1/contacts/{mine}/audit")).await;
    let reads: Vec<(String, String)> = audit["access"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["actor"]["id"] == "referrer")
        .map(|a| (a["action"].as_str().unwrap().to_owned(), a["endpoint"].as_str().unwrap().to_owned()))
        .collect();
    assert!(reads.contains(&("read_own_contacts".into(), "/referrals".into())), "{reads:?}");
    assert!(reads.contains(&("read_contact".into(), format!("/referrals/{mine}"))), "{reads:?}");
    let (_, audit) = app.get("auditor", &format!("/v1/contacts/{gps}/audit")).await;
    assert!(
        audit["access"].as_array().unwrap().iter().any(|a| a["actor"]["id"] == "referrer"
            && a["endpoint"] == format!("/referrals/{gps}")
            && a["action"] == "read_contact_refused"),
        "the refused read is in the GP contact's access log: {audit}"
    );
}

#[tokio::test]
async fn a_referrer_opens_none_of_the_duty_teams_pages_and_no_one_else_opens_a_referrers() {
    let app = spawn_app();
    let contact = app.new_contact("referrer").await;
    ready(&app).await;
    let referrer = cookie(&app, "referrer").await;
    for path in [
        "/".to_owned(),
        "/qa".into(),
        "/children".into(),
        format!("/contacts/{contact}"),
        format!("/qa/contacts/{contact}"),
    ] {
        let (status, html) = get(&app, &referrer, &path).await;
        assert_eq!(status, 403, "{path}: {html}");
        assert!(!html.contains("Hillside") && !html.contains("queue-body"), "{path}: {html}");
    }
    for who in ["practitioner", "decision_maker", "auditor", "receiving_team"] {
        let duty = cookie(&app, who).await;
        for path in ["/referrals".to_owned(), "/referrals/new".into(), format!("/referrals/{contact}")] {
            assert_eq!(get(&app, &duty, &path).await.0, 403, "{who} {path}");
        }
    }
    // Not signed in: to the sign-in page, and back to the referrer's page after it.
    let resp = no_redirects().get(format!("{}/referrals/{contact}", app.url)).send().await.unwrap();
    assert_eq!(resp.headers()["location"], format!("/signin?next=/referrals/{contact}"));
}

#[tokio::test]
async fn the_referral_form_is_the_apis_fields_and_its_writes_need_the_pages_origin() {
    let app = spawn_app();
    ready(&app).await;
    let referrer = cookie(&app, "referrer").await;
    let (status, form) = get(&app, &referrer, "/referrals/new").await;
    assert_eq!(status, 200);
    assert!(form.contains("Call 999 now") && form.contains("MASH"), "immediate-risk guidance: {form}");
    assert!(form.contains("agree to it"), "consent in plain words");
    for name in ["referrer.name", "source", "children[0].name", "children[0].date_of_birth", "concerns", "consent"] {
        assert!(form.contains(&format!("name=\"{name}\"")), "{name} in the form");
    }
    assert!(!form.contains("<script>"), "no inline script");
    // What the page's script sends: a child without a name is refused, naming the form's field.
    let body = json!({"channel": "online_form", "source": "2A", "referrer": {"name": "A Teacher"},
        "children": [{"date_of_birth": "2017-05-04"}], "concerns": "Worried.", "consent": "given"});
    let send = |origin: Option<String>, body: serde_json::Value| {
        let mut req = no_redirects().post(format!("{}/v1/contacts", app.url)).header("cookie", &referrer).json(&body);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    let refused = send(Some(app.url.clone()), body.clone()).await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    let problem: serde_json::Value = refused.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert!(fields.contains(&"children[0].name"), "{problem}");
    let mut good = body.clone();
    good["children"][0]["name"] = json!("Ada Example");
    // From another site: refused before anything is written.
    assert_eq!(send(Some("https://elsewhere.example".into()), good.clone()).await.unwrap().status(), 403);
    assert_eq!(send(None, good.clone()).await.unwrap().status(), 403);
    let made = send(Some(app.url.clone()), good).await.unwrap();
    assert_eq!(made.status(), 201);
    let made: serde_json::Value = made.json().await.unwrap();
    let id = made["contact_id"].as_str().unwrap();
    let (_, list) = get(&app, &referrer, "/referrals").await;
    assert!(list.contains(id) && list.contains("Ada Example"), "the new referral is listed: {list}");
}

#[tokio::test]
async fn feedback_after_the_outcome_is_shown_per_week_on_the_qa_page() {
    let app = spawn_app();
    let contact = app.new_contact("referrer").await;
    let decision = json!({"outcome": "no_further_action", "rationale": "Below threshold."});
    assert_eq!(app.append("decision_maker", &contact, "decision_made", decision).await.0, 201);
    assert_eq!(app.append("practitioner", &contact, "contact_closed", json!({"reason": "Done."})).await.0, 201);
    ready(&app).await;
    let referrer = cookie(&app, "referrer").await;
    let (_, page) = get(&app, &referrer, &format!("/referrals/{contact}")).await;
    assert!(page.contains("data-event=\"referrer_feedback_given\""), "the survey after the outcome: {page}");
    assert!(!page.contains("data-event=\"note_added\""), "a closed contact takes no more information");
    assert!(page.contains("no further action"), "the outcome in plain words: {page}");
    // Sent as the page's script sends it, after closing.
    let answers = json!({"type": "referrer_feedback_given", "data": {"listened_to": 4, "knows_next_steps": 2}});
    let resp = no_redirects()
        .post(format!("{}/v1/contacts/{contact}/events", app.url))
        .header("cookie", &referrer)
        .header("origin", &app.url)
        .json(&answers)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let (_, page) = get(&app, &referrer, &format!("/referrals/{contact}")).await;
    assert!(page.contains("id=\"feedback-thanks\"") && !page.contains("data-event=\"referrer_feedback_given\""));

    let auditor = cookie(&app, "auditor").await;
    let (status, qa) = get(&app, &auditor, "/qa").await;
    assert_eq!(status, 200);
    let table = &qa[qa.find("id=\"feedback\"").expect("the feedback table")..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(table.contains("<td>1</td><td>4.0</td><td>2.0</td>"), "one answer, its scores: {table}");
}

#[tokio::test]
async fn a_receiving_team_signs_in_to_its_handovers_and_may_answer_them() {
    let app = spawn_app();
    let contact = app.new_contact("referrer").await;
    let decision = json!({"outcome": "early_help", "rationale": "Early help fits."});
    assert_eq!(app.append("decision_maker", &contact, "decision_made", decision).await.0, 201);
    let handover = crate::harness::data_for("handover_sent");
    assert_eq!(app.append("decision_maker", &contact, "handover_sent", handover).await.0, 201);
    ready(&app).await;
    let signed_in = sign_in(&app, app.token("receiving_team"), &[]).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/");
    let team = cookie_of(&signed_in);
    let (status, board) = get(&app, &team, "/").await;
    assert_eq!(status, 200);
    assert!(board.contains("Handovers to your team"), "{board}");
    let (status, page) = get(&app, &team, &format!("/contacts/{contact}")).await;
    assert_eq!(status, 200, "{page}");
    for action in ["handover_accepted", "handover_returned", "contact_allocated"] {
        assert!(page.contains(&format!("id=\"action-{action}\"")), "{action} offered");
    }
    assert!(!page.contains("id=\"action-decision_made\""), "no decision for a receiving team");
}
