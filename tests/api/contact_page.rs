//! A contact's page on the duty board (`/contacts/{id}`, issue 17 points 1 and 2): the record
//! as the role may see it, its read in the access log, the actions the role may take, and the
//! page's writes through `POST /v1/contacts/{id}/events` with the version it was drawn at.
//! (tests/browser drives the same page in Chromium.)

use serde_json::{Value, json};

use crate::harness::{TestApp, ready, spawn_app};
use crate::pages::{cookie_of, no_redirects, sign_in};

/// The page as `who` sees it: (status, body).
async fn page(app: &TestApp, cookie: &str, contact: &str) -> (u16, String) {
    let resp =
        no_redirects().get(format!("{}/contacts/{contact}", app.url)).header("cookie", cookie).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn cookie(app: &TestApp, who: &str) -> String {
    cookie_of(&sign_in(app, app.token(who), &[]).await)
}

/// The version the page was drawn at (`data-version` of `#record`).
fn version_of(html: &str) -> u32 {
    let at = html.find("data-version=\"").expect("the page carries its version") + "data-version=\"".len();
    html[at..].split('"').next().unwrap().parse().unwrap()
}

/// The names of the fields of the action form for `event` on the page.
fn form_fields(html: &str, event: &str) -> Vec<String> {
    let start = html.find(&format!("data-event=\"{event}\"")).unwrap_or_else(|| panic!("no {event} form"));
    let form = &html[start..start + html[start..].find("</form>").unwrap()];
    form.split("name=\"").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect()
}

const MARKER: &str = "Restricted police intelligence Kq4Zt";

async fn seeded(app: &TestApp) -> String {
    let contact = app.new_contact("referrer").await;
    let check = json!({"agency": "police", "summary": MARKER, "restricted": true});
    assert_eq!(app.append("partner_police", &contact, "checks_returned", check).await.0, 201);
    let open = json!({"agency": "health", "summary": "Health visitor saw the family in March.", "restricted": false});
    assert_eq!(app.append("partner_health", &contact, "checks_returned", open).await.0, 201);
    let call = json!({"direction": "outbound", "with": "referrer", "started_at": "2026-01-05T10:00:00Z",
        "duration_seconds": 300, "summary": "Spoke with the DSL about the bruising."});
    assert_eq!(app.append("practitioner", &contact, "call_logged", call).await.0, 201);
    assert_eq!(
        app.append("practitioner", &contact, "note_added", json!({"text": "School to call back."})).await.0,
        201
    );
    contact
}

#[tokio::test]
async fn a_contacts_page_shows_the_record_restricted_checks_only_to_those_entitled() {
    let app = spawn_app();
    ready(&app).await;
    let contact = seeded(&app).await;

    for (who, sees) in [
        ("practitioner", false),
        ("partner_health", false),
        ("partner_police", true),
        ("decision_maker", true),
        ("auditor", true),
        ("admin", true),
    ] {
        let (status, html) = page(&app, &cookie(&app, who).await, &contact).await;
        assert_eq!(status, 200, "{who}: {html}");
        assert_eq!(html.contains(MARKER), sees, "{who} sees the restricted check: {sees}");
        // What everyone on the duty board sees of the record.
        for shown in [
            "Sam Example",
            "NHS 9434765919",
            "Hillside Primary",
            "Bruising on the upper arm, explanation inconsistent.",
            "Health visitor saw the family in March.",
            "Spoke with the DSL about the bruising.",
            "School to call back.",
            "2A Schools",
        ] {
            assert!(html.contains(shown), "{who} sees {shown:?}");
        }
        assert_eq!(version_of(&html), 5, "{who}");
    }
}

#[tokio::test]
async fn opening_a_contacts_page_is_a_logged_read() {
    let app = spawn_app();
    ready(&app).await;
    let contact = app.new_contact("referrer").await;
    let (status, _) = page(&app, &cookie(&app, "practitioner").await, &contact).await;
    assert_eq!(status, 200);
    let (_, audit) = app.get("admin", &format!("/v1/contacts/{contact}/audit")).await;
    let read = audit["access"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["endpoint"] == format!("/contacts/{contact}"))
        .unwrap_or_else(|| panic!("the page's read is in the access log: {audit}"))
        .clone();
    assert_eq!(read["actor"]["id"], "practitioner");
    assert_eq!(read["action"], "read_contact");
}

#[tokio::test]
async fn a_contacts_page_is_for_the_signed_in_duty_board_and_says_when_there_is_no_such_contact() {
    let app = spawn_app();
    ready(&app).await;
    let contact = app.new_contact("referrer").await;
    // Not signed in (a bearer token is not a session): to the sign-in page.
    let resp = no_redirects()
        .get(format!("{}/contacts/{contact}", app.url))
        .bearer_auth(app.token("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], format!("/signin?next=/contacts/{contact}"), "and back here once signed in");
    let resp = no_redirects()
        .post(format!("{}/signin", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.url)
        .body(format!("token={}&next=%2Fcontacts%2F{contact}", app.token("practitioner")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], format!("/contacts/{contact}"));
    // A referrer has its own page of its contact, not the duty team's record; a receiving team
    // reads only its own handovers, and this contact is none (as if it did not exist).
    let referrer = cookie(&app, "referrer").await;
    let (status, html) = page(&app, &referrer, &contact).await;
    assert_eq!(status, 403, "{html}");
    assert!(!html.contains("Hillside"), "{html}");
    let team = cookie(&app, "receiving_team").await;
    assert_eq!(page(&app, &team, &contact).await.0, 404);
    let practitioner = cookie(&app, "practitioner").await;
    let (status, html) = page(&app, &practitioner, "01J00000000000000000000000").await;
    assert_eq!(status, 404);
    assert!(html.contains("No such contact."), "{html}");
    assert_eq!(page(&app, &practitioner, "nonsense").await.0, 404);
}

#[tokio::test]
async fn a_contacts_page_offers_only_the_actions_the_role_may_take() {
    let app = spawn_app();
    ready(&app).await;
    let contact = app.new_contact("referrer").await;
    let forms = |html: &str| -> Vec<String> {
        html.split("data-event=\"").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect()
    };
    let (_, html) = page(&app, &cookie(&app, "practitioner").await, &contact).await;
    let practitioner = forms(&html);
    for t in
        ["triage_rated", "call_logged", "note_added", "contact_allocated", "checks_requested", "duty_discussion_held"]
    {
        assert!(practitioner.iter().any(|f| f == t), "a practitioner may {t}: {practitioner:?}");
    }
    assert!(!practitioner.iter().any(|f| f == "decision_made"), "a practitioner does not decide");
    // A practitioner takes a contact only for themselves.
    assert!(html.contains("Take it myself"));
    assert_eq!(form_fields(&html, "contact_allocated"), ["worker"]);
    assert!(html.contains("name=\"worker\" value=\"practitioner\""), "{html}");

    let (_, html) = page(&app, &cookie(&app, "decision_maker").await, &contact).await;
    assert!(forms(&html).iter().any(|f| f == "decision_made"));

    let (_, html) = page(&app, &cookie(&app, "partner_health").await, &contact).await;
    let mut partner = forms(&html);
    partner.sort();
    assert_eq!(partner, ["checks_returned", "correction_recorded", "duty_discussion_held", "note_added"]);
    // A partner returns checks for its own agency only.
    let start = html.find("name=\"agency\"").unwrap();
    let select = &html[start..start + html[start..].find("</select>").unwrap()];
    assert!(select.contains("value=\"health\"") && !select.contains("value=\"police\""), "{select}");

    let (_, html) = page(&app, &cookie(&app, "auditor").await, &contact).await;
    assert!(forms(&html).is_empty(), "an auditor records nothing here: {:?}", forms(&html));
}

/// Every field the API names in its 422 has its input on the page, so the page can show each
/// message beside its field.
#[tokio::test]
async fn the_apis_field_errors_name_the_pages_fields() {
    let app = spawn_app();
    ready(&app).await;
    let contact = app.new_contact("referrer").await;
    let (_, html) = page(&app, &cookie(&app, "decision_maker").await, &contact).await;
    let empty_participant = json!({"participants": [{}], "needs": [""]});
    for (event, data) in [
        ("triage_rated", json!({"rating": "purple"})),
        ("call_logged", json!({})),
        ("checks_requested", json!({"agency": "nobody"})),
        ("duty_discussion_held", empty_participant),
        ("decision_made", json!({"level_of_need": 7})),
        ("handover_sent", json!({})),
        ("contact_closed", json!({})),
    ] {
        let (status, problem) = app.append("decision_maker", &contact, event, data).await;
        assert_eq!(status, 422, "{event}: {problem}");
        let fields = form_fields(&html, event);
        for error in problem["errors"].as_array().unwrap() {
            let path = error["field"].as_str().unwrap().trim_start_matches("data.");
            let path = path.strip_suffix("[0]").unwrap_or(path);
            assert!(fields.iter().any(|f| f == path), "{event}: the page has no field {path}: {fields:?}");
        }
    }
}

#[tokio::test]
async fn a_stale_page_gets_a_conflict_and_writes_nothing() {
    let app = spawn_app();
    ready(&app).await;
    let contact = app.new_contact("referrer").await;
    let practitioner = cookie(&app, "practitioner").await;
    let (_, html) = page(&app, &practitioner, &contact).await;
    let drawn_at = version_of(&html);
    assert_eq!(drawn_at, 1);
    // Someone else records meanwhile.
    assert_eq!(app.append("decision_maker", &contact, "triage_rated", json!({"rating": "red"})).await.0, 201);
    // The page's script sends its rating with the version it was drawn at.
    let body = json!({"type": "triage_rated", "data": {"rating": "green"}, "expected_version": drawn_at});
    let resp = no_redirects()
        .post(format!("{}/v1/contacts/{contact}/events", app.url))
        .header("cookie", &practitioner)
        .header("origin", &app.url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["current_version"], 2, "{problem}");
    // Nothing was overwritten: the record and the fresh page still say red.
    let (_, record) = app.get("admin", &format!("/v1/contacts/{contact}")).await;
    assert_eq!(record["rating"], "red");
    assert_eq!(record["version"], 2);
    let (_, html) = page(&app, &practitioner, &contact).await;
    assert_eq!(version_of(&html), 2);
    assert!(html.contains("<dd id=\"rating\">RED</dd>"), "the fresh state");
    // Sent again from the fresh page, it is recorded.
    let body = json!({"type": "triage_rated", "data": {"rating": "green"}, "expected_version": 2});
    let resp = no_redirects()
        .post(format!("{}/v1/contacts/{contact}/events", app.url))
        .header("cookie", &practitioner)
        .header("origin", &app.url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let (_, html) = page(&app, &practitioner, &contact).await;
    assert!(html.contains("<dd id=\"rating\">GREEN</dd>"), "the new state");
}

/// The page is a template that escapes every value: a script in a child's name, the concerns
/// or a note is shown as text, never run.
#[tokio::test]
async fn a_script_on_a_contact_is_shown_as_text() {
    let app = spawn_app();
    ready(&app).await;
    let mut body = crate::harness::contact_body();
    body["children"][0]["name"] = json!("<script>alert('child')</script>");
    body["concerns"] = json!("<img src=x onerror=alert(1)> & more");
    let (code, created) = app.post("referrer", "/v1/contacts", &body).await;
    assert_eq!(code, 201, "{created}");
    let contact = created["contact_id"].as_str().unwrap().to_owned();
    let note = json!({"text": "\"><script>alert('note')</script>"});
    assert_eq!(app.append("practitioner", &contact, "note_added", note).await.0, 201);
    let (status, html) = page(&app, &cookie(&app, "practitioner").await, &contact).await;
    assert_eq!(status, 200);
    assert!(html.contains("&#60;script&#62;alert(&#39;child&#39;)&#60;/script&#62;"), "the name, as text: {html}");
    assert!(html.contains("&#60;img src=x onerror=alert(1)&#62; &#38; more"), "the concerns, as text");
    assert!(html.contains("&#34;&#62;&#60;script&#62;alert(&#39;note&#39;)"), "the note, as text");
    assert_eq!(html.matches("<script").count(), 1, "only the page's own script");
    assert!(!html.contains("<img"), "{html}");
}

/// Every action's fields have ids of their own on the page (a label names one field only, and
/// the page's script finds the place for each error by the field's id), for the role offered
/// the most: an admin, on a decided contact with a pending handover.
#[tokio::test]
async fn every_field_on_the_page_has_an_id_of_its_own() {
    let app = spawn_app();
    ready(&app).await;
    let contact = seeded(&app).await;
    for event in ["decision_made", "handover_sent"] {
        let (code, body) = app.append("decision_maker", &contact, event, crate::harness::data_for(event)).await;
        assert_eq!(code, 201, "{body}");
    }
    let (_, html) = page(&app, &cookie(&app, "admin").await, &contact).await;
    let ids: Vec<&str> = html.split(" id=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        assert!(seen.insert(*id), "the id {id} is used twice");
    }
    for event in ["handover_accepted", "handover_returned", "contact_closed", "correction_recorded"] {
        assert!(html.contains(&format!("data-event=\"{event}\"")), "an admin may {event}");
    }
    assert!(html.contains("Revise the decision"), "a second decision revises the first");
    assert!(form_fields(&html, "decision_made").iter().any(|f| f == "revises.reason"));
}

/// The other contacts about the same child (the child index links them by NHS number) are
/// on the page, linked to the child's record and to each contact's page; showing them is in
/// those contacts' access logs.
#[tokio::test]
async fn a_contacts_page_links_the_other_contacts_about_its_children() {
    let app = spawn_app();
    ready(&app).await;
    let first = app.new_contact("referrer").await;
    let second = app.new_contact("referrer").await;
    let practitioner = cookie(&app, "practitioner").await;
    let mut html = String::new();
    for _ in 0..200 {
        html = page(&app, &practitioner, &second).await.1;
        if html.contains(&format!("href=\"/contacts/{first}\"")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let section = &html[html.find("id=\"previous\"").unwrap()..];
    assert!(section.contains(&format!("href=\"/contacts/{first}\"")), "the first contact, linked: {section}");
    assert!(section.contains("href=\"/children/"), "the child's record, linked");
    assert!(!section.contains("(after this contact)"), "the first came before");
    let (_, html) = page(&app, &practitioner, &first).await;
    let section = &html[html.find("id=\"previous\"").unwrap()..];
    assert!(section.contains(&format!("href=\"/contacts/{second}\"")) && section.contains("(after this contact)"));
    let (_, audit) = app.get("admin", &format!("/v1/contacts/{first}/audit")).await;
    assert!(
        audit["access"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "read_previous_contacts" && a["endpoint"] == format!("/contacts/{second}")),
        "{audit}"
    );
}
