//! The child index over HTTP (issue 16): search, a child's record, links and unlinks, the
//! queue's previous contacts following them, who may read, and what is never shown.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::{Value, json};

use crate::harness::{TestApp, contact_body, ready, spawn_app};

/// A contact about one child (`child`, merged over a plain one), received `hours_ago` hours ago.
async fn contact_about(app: &TestApp, child: Value, hours_ago: i64) -> String {
    let mut body = contact_body();
    let mut c = json!({"name": "Someone", "sex": "F"});
    for (k, v) in child.as_object().unwrap() {
        c[k] = v.clone();
    }
    body["children"] = json!([c]);
    body["occurred_at"] = json!((Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339());
    let (status, created) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 201, "{created}");
    created["contact_id"].as_str().unwrap().to_owned()
}

async fn search(app: &TestApp, who: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(who, &format!("/v1/children?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["candidates"].as_array().unwrap().clone()
}

async fn previous(app: &TestApp) -> HashMap<String, u64> {
    let (status, body) = app.get("practitioner", "/v1/queue").await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["contact_id"].as_str().unwrap().to_owned(), i["previous_contacts"].as_u64().unwrap()))
        .collect()
}

/// The child id of the candidate named `name`.
fn id_of(candidates: &[Value], name: &str) -> String {
    let found = candidates.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}: {candidates:?}"));
    found["child_id"].as_str().unwrap().to_owned()
}

async fn record(app: &TestApp, who: &str, child_id: &str) -> Value {
    let (status, body) = app.get(who, &format!("/v1/children/{child_id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn contact_ids(record: &Value) -> Vec<String> {
    record["contacts"].as_array().unwrap().iter().map(|c| c["contact_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_different_spelling_is_offered_not_linked_and_the_same_nhs_number_is_linked() {
    let app = spawn_app();
    ready(&app).await;
    let smyth = contact_about(&app, json!({"name": "Zoe Smyth", "date_of_birth": "2016-08-09"}), 10).await;
    let smith = contact_about(&app, json!({"name": "Zo\u{EB} Smith", "date_of_birth": "2016-08-09"}), 5).await;
    let found = search(&app, "practitioner", "name=Zo%C3%AB%20Smith&date_of_birth=2016-08-09").await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0]["name"], "Zo\u{EB} Smith");
    assert_eq!(found[0]["matched_on"], json!(["name", "date_of_birth"]));
    assert_eq!(found[1]["name"], "Zoe Smyth");
    assert_eq!(found[1]["matched_on"], json!(["name_phonetic", "date_of_birth"]));
    assert!(found[0]["score"].as_f64().unwrap() > found[1]["score"].as_f64().unwrap());
    assert_eq!((found[0]["contacts"].as_u64(), found[1]["contacts"].as_u64()), (Some(1), Some(1)));
    assert_ne!(found[0]["child_id"], found[1]["child_id"], "offered, not linked");
    let q = previous(&app).await;
    assert_eq!((q[&smyth], q[&smith]), (0, 0), "{q:?}");

    // The same NHS number, spelled another way and with another name: the same child.
    let sam = contact_about(&app, json!({"name": "Sam Example", "nhs_number": "9434765919"}), 4).await;
    let samuel = contact_about(&app, json!({"name": "Samuel Exampel", "nhs_number": "943 476 5919"}), 2).await;
    let found = search(&app, "decision_maker", "nhs_number=9434765919").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0]["matched_on"].clone(), found[0]["score"].as_f64()), (json!(["nhs_number"]), Some(1.0)));
    assert_eq!(found[0]["contacts"], 2);
    let child = record(&app, "practitioner", found[0]["child_id"].as_str().unwrap()).await;
    assert_eq!(contact_ids(&child), [sam.clone(), samuel.clone()], "in order of receipt");
    assert_eq!(child["names"], json!(["Sam Example", "Samuel Exampel"]));
    let id = child["child_id"].as_str().unwrap();
    assert!(id.len() <= 20 && id.bytes().all(|b| b.is_ascii_alphanumeric()) && !id.contains("9434765919"), "{id}");
    assert_eq!(previous(&app).await[&samuel], 1);
}

#[tokio::test]
async fn a_link_and_an_unlink_change_the_record_and_the_queue() {
    let app = spawn_app();
    ready(&app).await;
    let first = contact_about(&app, json!({"name": "Zoe Smyth", "date_of_birth": "2016-08-09"}), 10).await;
    let second = contact_about(&app, json!({"name": "Zo\u{EB} Smith", "date_of_birth": "2016-08-09"}), 5).await;
    let found = search(&app, "practitioner", "name=Zoe%20Smith&date_of_birth=2016-08-09").await;
    let (older, newer) = (id_of(&found, "Zoe Smyth"), id_of(&found, "Zo\u{EB} Smith"));
    let head = app.head().await;

    // Refused: an id nobody has, a child the contact does not have, a referrer.
    let link = |child_index: u64, child_id: &str| json!({"child_index": child_index, "child_id": child_id, "reason": "Same school, same mother"});
    let (status, problem) = app.append("practitioner", &second, "children_linked", link(0, "NOSUCHCHILD1")).await;
    assert_eq!((status, problem["rule"].as_str()), (422, Some("child-id-unknown")), "{problem}");
    assert_eq!(problem["errors"][0]["field"], "data.child_id", "{problem}");
    let (status, problem) = app.append("practitioner", &second, "children_linked", link(1, &older)).await;
    assert_eq!((status, problem["rule"].as_str()), (422, Some("child-index-unknown")), "{problem}");
    assert_eq!(problem["errors"][0]["field"], "data.child_index", "{problem}");
    let (status, problem) = app.append("practitioner", &second, "children_linked", link(0, "FD-12")).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "data.child_id", "{problem}");
    let (status, _) = app.append("referrer", &second, "children_linked", link(0, &older)).await;
    assert_eq!(status, 403);
    let (status, _) = app.append("partner_police", &second, "children_linked", link(0, &older)).await;
    assert_eq!(status, 403);
    assert_eq!(app.head().await, head, "nothing refused reached the log");

    // Linked: one child, the older id, both contacts; the newer id names it too.
    let (status, appended) = app.append("practitioner", &second, "children_linked", link(0, &older)).await;
    assert_eq!(status, 201, "{appended}");
    let child = record(&app, "practitioner", &older).await;
    assert_eq!(contact_ids(&child), [first.clone(), second.clone()]);
    assert_eq!(child["names"], json!(["Zoe Smyth", "Zo\u{EB} Smith"]));
    assert_eq!(record(&app, "practitioner", &newer).await["child_id"], older.as_str());
    assert_eq!(previous(&app).await[&second], 1);
    let (status, problem) = app.append("decision_maker", &first, "children_linked", link(0, &newer)).await;
    assert_eq!((status, problem["rule"].as_str()), (422, Some("child-already-linked")), "{problem}");
    let found = search(&app, "practitioner", "name=Zoe%20Smith&date_of_birth=2016-08-09").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["contacts"], 2);

    // Unlinked: apart again, the second under a new id; the queue's count goes back.
    let unlink = json!({"child_index": 0, "child_id": older, "reason": "Different child: another school"});
    let (status, appended) = app.append("decision_maker", &second, "children_unlinked", unlink.clone()).await;
    assert_eq!(status, 201, "{appended}");
    assert_eq!(contact_ids(&record(&app, "practitioner", &older).await), [first.as_str()]);
    assert_eq!(previous(&app).await[&second], 0);
    let found = search(&app, "practitioner", "name=Zoe%20Smith&date_of_birth=2016-08-09").await;
    assert_eq!(found.len(), 2, "{found:?}");
    let apart = id_of(&found, "Zo\u{EB} Smith");
    assert!(apart != older && apart != newer, "{apart}");
    let (status, problem) = app.append("decision_maker", &second, "children_unlinked", unlink).await;
    assert_eq!((status, problem["rule"].as_str()), (422, Some("child-not-linked")), "{problem}");

    // Every read is in the access log of the contacts it showed.
    let (status, audit) = app.get("auditor", &format!("/v1/contacts/{first}/audit")).await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<(&str, &str)> = audit["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["endpoint"].as_str().unwrap()))
        .collect();
    assert!(actions.contains(&("read_child", &*format!("/v1/children/{older}"))), "{actions:?}");
    assert!(
        actions.contains(&("search_children", "/v1/children?name=Zoe%20Smith&date_of_birth=2016-08-09")),
        "the search with its terms: {actions:?}"
    );
}

#[tokio::test]
async fn a_search_never_shows_a_restricted_check_and_referrers_and_teams_may_not_search() {
    let app = spawn_app();
    ready(&app).await;
    let contact = contact_about(&app, json!({"name": "Ada Restricted", "date_of_birth": "2014-02-03"}), 3).await;
    let check = json!({"agency": "police", "summary": "SECRET-INTEL about the stepfather", "restricted": true});
    let (status, body) = app.append("partner_police", &contact, "checks_returned", check).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) =
        app.append("practitioner", &contact, "note_added", json!({"text": "Called the school."})).await;
    assert_eq!(status, 201, "{body}");
    for who in ["practitioner", "partner_health", "decision_maker", "auditor", "admin", "partner_police"] {
        let (status, found) = app.get(who, "/v1/children?name=Ada%20Restricted").await;
        assert_eq!(status, 200, "{who}: {found}");
        assert!(!found.to_string().contains("SECRET-INTEL"), "{who}: {found}");
        let id = found["candidates"][0]["child_id"].as_str().unwrap().to_owned();
        let child = record(&app, who, &id).await;
        assert!(!child.to_string().contains("SECRET-INTEL"), "{who}: {child}");
        assert_eq!(child["contacts"][0]["concerns"], "Bruising on the upper arm, explanation inconsistent.");
    }
    let (_, found) = app.get("practitioner", "/v1/children?date_of_birth=2014-02-03").await;
    let id = found["candidates"][0]["child_id"].as_str().unwrap().to_owned();
    for who in ["referrer", "receiving_team"] {
        let (status, problem) = app.get(who, "/v1/children?name=Ada").await;
        assert_eq!(status, 403, "{who}: {problem}");
        let (status, problem) = app.get(who, &format!("/v1/children/{id}")).await;
        assert_eq!(status, 403, "{who}: {problem}");
    }
    // Bad queries name the parameter; an unknown child is a 404.
    for (query, field) in [
        ("", "name"),
        ("name=%20", "name"),
        ("date_of_birth=2014-13-01", "date_of_birth"),
        ("nhs_number=94x", "nhs_number"),
    ] {
        let (status, problem) = app.get("practitioner", &format!("/v1/children?{query}")).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let (status, problem) = app.get("practitioner", "/v1/children/FD-1234").await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some("child_id")), "{problem}");
    let (status, _) = app.get("practitioner", "/v1/children/NOSUCHCHILD1").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn adults_and_addresses_are_validated_and_stored() {
    let app = spawn_app();
    ready(&app).await;
    let head = app.head().await;
    for (pointer, value, field) in [
        ("/adults", json!([{"name": "Pat Example"}]), "adults[0].relationship"),
        ("/adults", json!([{"name": "Pat Example", "relationship": "uncle"}]), "adults[0].relationship"),
        ("/children/0/address", json!({"postcode": "NOT A POSTCODE"}), "children[0].address.postcode"),
        (
            "/adults",
            json!([{"name": "Pat", "relationship": "carer", "address": {"postcode": "QQ1 1AA"}}]),
            "adults[0].address.postcode",
        ),
    ] {
        let mut body = contact_body();
        match pointer {
            "/adults" => body["adults"] = value,
            _ => body["children"][0]["address"] = value,
        }
        let (status, problem) = app.post("practitioner", "/v1/contacts", &body).await;
        assert_eq!(status, 422, "{field}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert_eq!(app.head().await, head, "nothing refused reached the log");
    let mut body = contact_body();
    body["children"][0]["address"] = json!({"line1": "1 Mill Lane", "postcode": "ng7 2rd"});
    body["adults"] = json!([{"name": "Pat Example", "relationship": "person_causing_concern",
                             "address": {"postcode": "ng72rd"}}]);
    let (status, created) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(status, 201, "{created}");
    let data = &created["event"]["data"];
    assert_eq!(data["children"][0]["address"]["postcode"], "NG7 2RD");
    assert_eq!(data["adults"][0]["address"]["postcode"], "NG7 2RD");
    let found = search(&app, "practitioner", "postcode=NG7%202RD").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["matched_on"], json!(["postcode"]));
}

/// The value of attribute `name` of the first element at or after `from` in `html`.
fn attr(html: &str, from: usize, name: &str) -> String {
    let at = from + html[from..].find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("{name}: {html}"));
    let rest = &html[at + name.len() + 3..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Posts an event to a contact as the children pages' script does: JSON, with the session
/// cookie and the page's origin.
async fn post_as_page(app: &TestApp, cookie: &str, contact: &str, body: &Value) -> (u16, Value) {
    let resp = crate::pages::no_redirects()
        .post(format!("{}/v1/contacts/{contact}/events", app.url))
        .header("cookie", cookie)
        .header("origin", &app.url)
        .json(body)
        .send()
        .await
        .unwrap();
    crate::harness::read(resp).await
}

/// A link and an unlink made from the pages, as `web/children.js` makes them from the forms'
/// data: the candidates of a contact offer to link its child to the other spelling (not to
/// itself); a link without a reason is refused naming `data.reason`; a stale page is 409; the
/// link changes the child's record and the queue's count; the child's page then offers to
/// unlink, which undoes it. A partner and an auditor see no controls, and the API refuses them.
#[tokio::test]
async fn a_child_is_linked_and_unlinked_from_the_pages() {
    use crate::pages::{cookie_of, no_redirects, sign_in};
    let app = spawn_app();
    ready(&app).await;
    let first = contact_about(&app, json!({"name": "Zoe Smyth", "date_of_birth": "2016-08-09"}), 10).await;
    let second = contact_about(&app, json!({"name": "Zo\u{EB} Smith", "date_of_birth": "2016-08-09"}), 5).await;
    let http = no_redirects();
    let practitioner = cookie_of(&sign_in(&app, app.token("practitioner"), &[]).await);
    let page = |path: String, cookie: String| {
        let http = http.clone();
        let url = format!("{}{path}", app.url);
        async move {
            let resp = http.get(url).header("cookie", cookie).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };

    let html = page(format!("/children?contact={second}"), practitioner.clone()).await;
    assert!(html.contains("src=\"/assets/children.js\""), "{html}");
    let forms: Vec<usize> = html.match_indices("<form class=\"link-child\"").map(|(i, _)| i).collect();
    assert_eq!(forms.len(), 1, "one other candidate to link to; its own child is not offered: {html}");
    assert!(html.contains("This contact's child"), "{html}");
    let at = forms[0];
    assert_eq!(attr(&html, at, "data-type"), "children_linked");
    assert_eq!(attr(&html, at, "data-contact"), second);
    let older = attr(&html, at, "data-child-id");
    let version: u64 = attr(&html, at, "data-version").parse().unwrap();
    let link = |reason: &str, version: u64| {
        json!({"type": attr(&html, at, "data-type"), "expected_version": version,
               "data": {"child_index": attr(&html, at, "data-child-index").parse::<u64>().unwrap(),
                        "child_id": older, "reason": reason}})
    };
    let head = app.head().await;
    let (status, problem) = post_as_page(&app, &practitioner, &second, &link(" ", version)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "data.reason", "{problem}");
    let (status, problem) = post_as_page(&app, &practitioner, &second, &link("Same mother", version - 1)).await;
    assert_eq!((status, problem["current_version"].as_u64()), (409, Some(version)), "{problem}");
    assert_eq!(app.head().await, head, "nothing refused reached the log");
    let partner = cookie_of(&sign_in(&app, app.token("partner_police"), &[]).await);
    let seen = page(format!("/children?contact={second}"), partner.clone()).await;
    assert!(seen.contains("Possible matches for") && !seen.contains("link-child") && !seen.contains("children.js"));
    let (status, _) = post_as_page(&app, &partner, &second, &link("Same mother", version)).await;
    assert_eq!(status, 403);

    let (status, appended) = post_as_page(&app, &practitioner, &second, &link("Same mother", version)).await;
    assert_eq!(status, 201, "{appended}");
    assert_eq!(appended["actor"]["id"], "practitioner");
    assert_eq!(contact_ids(&record(&app, "practitioner", &older).await), [first.clone(), second.clone()]);
    assert_eq!(previous(&app).await[&second], 1);
    let html = page(format!("/children?contact={second}"), practitioner.clone()).await;
    assert!(!html.contains("<form class=\"link-child\""), "linked: nothing left to link: {html}");

    // The child's page offers to unlink each contact; the second's undoes the link.
    let html = page(format!("/children/{older}"), practitioner.clone()).await;
    let at = html
        .match_indices("<form class=\"link-child\"")
        .map(|(i, _)| i)
        .find(|&i| attr(&html, i, "data-contact") == second)
        .unwrap_or_else(|| panic!("an unlink form for the second contact: {html}"));
    assert_eq!(attr(&html, at, "data-type"), "children_unlinked");
    assert_eq!(attr(&html, at, "data-child-id"), older);
    let unlink = json!({"type": "children_unlinked",
        "expected_version": attr(&html, at, "data-version").parse::<u64>().unwrap(),
        "data": {"child_index": attr(&html, at, "data-child-index").parse::<u64>().unwrap(),
                 "child_id": older, "reason": "Another school, another mother"}});
    let auditor = cookie_of(&sign_in(&app, app.token("auditor"), &[]).await);
    let seen = page(format!("/children/{older}"), auditor.clone()).await;
    assert!(seen.contains(&second) && !seen.contains("link-child"), "{seen}");
    let (status, _) = post_as_page(&app, &auditor, &second, &unlink).await;
    assert_eq!(status, 403);
    let (status, appended) = post_as_page(&app, &practitioner, &second, &unlink).await;
    assert_eq!(status, 201, "{appended}");
    assert_eq!(contact_ids(&record(&app, "practitioner", &older).await), [first.as_str()]);
    assert_eq!(previous(&app).await[&second], 0);
}

/// The duty team's queue marks a contact whose child sounds like a child of the index, with
/// the same date of birth, that is not linked to it (both ways); a link takes the mark away.
/// A receiving team's queue never carries the field.
#[tokio::test]
async fn a_possible_match_is_marked_on_the_queue_until_it_is_linked() {
    let mut app = spawn_app();
    app.add_team_token("at-sam", "AT North");
    ready(&app).await;
    let marks = |queue: &Value| -> HashMap<String, Option<bool>> {
        queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (i["contact_id"].as_str().unwrap().to_owned(), i.get("possible_match").map(|v| v.as_bool().unwrap()))
            })
            .collect()
    };
    let first = contact_about(&app, json!({"name": "Zoe Smyth", "date_of_birth": "2016-08-09"}), 10).await;
    let (_, queue) = app.get("practitioner", "/v1/queue").await;
    assert_eq!(marks(&queue)[&first], Some(false), "alone, nothing to match");
    let second = contact_about(&app, json!({"name": "Zo\u{EB} Smith", "date_of_birth": "2016-08-09"}), 5).await;
    let other = contact_about(&app, json!({"name": "Zoe Smyth", "date_of_birth": "2015-01-02"}), 4).await;
    let (_, queue) = app.get("decision_maker", "/v1/queue").await;
    let m = marks(&queue);
    assert_eq!((m[&second], m[&first], m[&other]), (Some(true), Some(true), Some(false)), "{queue}");

    // A receiving team's queue does not carry it.
    let handed = app.new_contact("referrer").await;
    for (who, event_type, data) in [
        (
            "decision_maker",
            "decision_made",
            json!({"outcome": "assessment", "rationale": "Threshold met.", "level_of_need": 4, "primary_need": "N1"}),
        ),
        ("practitioner", "handover_sent", json!({"to": "assessment_team", "team": "AT North"})),
    ] {
        let (status, body) = app.append(who, &handed, event_type, data).await;
        assert_eq!(status, 201, "{event_type}: {body}");
    }
    let (status, team) = app.get("at-sam", "/v1/queue").await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(marks(&team), HashMap::from([(handed.clone(), None)]), "{team}");

    // Linked: no longer a possible match, on either.
    let found = search(&app, "practitioner", "name=Zoe%20Smyth&date_of_birth=2016-08-09").await;
    let older = id_of(&found, "Zoe Smyth");
    let link = json!({"child_index": 0, "child_id": older, "reason": "Same mother, same school"});
    let (status, body) = app.append("practitioner", &second, "children_linked", link).await;
    assert_eq!(status, 201, "{body}");
    let (_, queue) = app.get("practitioner", "/v1/queue").await;
    let m = marks(&queue);
    assert_eq!((m[&second], m[&first]), (Some(false), Some(false)), "{queue}");
}

/// `GET /v1/adults`: the adults contacts name, found by a name that sounds the same, a date of
/// birth or a postcode; the same person on two contacts is one candidate listing both, each
/// with its children's ids; a logged read with its terms; never a check's text; referrers and
/// receiving teams refused; bad parameters named.
#[tokio::test]
async fn adults_are_found_with_their_contacts_and_children() {
    let app = spawn_app();
    ready(&app).await;
    let with_adult = |child: &str, adult: Value| {
        let mut body = contact_body();
        body["children"] = json!([{"name": child, "date_of_birth": "2015-03-04", "sex": "F"}]);
        body["adults"] = json!([adult]);
        body
    };
    let mother = json!({"name": "Dana Kowalska", "date_of_birth": "1989-06-07", "relationship": "parent",
                        "address": {"line1": "2 Mill Lane", "postcode": "NG7 2RD"}});
    let (status, first) = app.post("practitioner", "/v1/contacts", &with_adult("Mia Kowalska", mother.clone())).await;
    assert_eq!(status, 201, "{first}");
    let first = first["contact_id"].as_str().unwrap().to_owned();
    let mut carer = mother.clone();
    carer["relationship"] = json!("carer");
    carer["name"] = json!("Dana KOWALSKA");
    let (status, second) = app.post("practitioner", "/v1/contacts", &with_adult("Leo Nowak", carer)).await;
    assert_eq!(status, 201, "{second}");
    let second = second["contact_id"].as_str().unwrap().to_owned();
    let check = json!({"agency": "police", "summary": "SECRET-INTEL about Dana", "restricted": true});
    let (status, body) = app.append("partner_police", &second, "checks_returned", check).await;
    assert_eq!(status, 201, "{body}");

    let (status, found) = app.get("practitioner", "/v1/adults?name=Dana%20Kowalski&date_of_birth=1989-06-07").await;
    assert_eq!(status, 200, "{found}");
    let candidates = found["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "one person on two contacts: {found}");
    let dana = &candidates[0];
    assert_eq!(dana["name"], "Dana KOWALSKA");
    assert_eq!(dana["date_of_birth"], "1989-06-07");
    assert_eq!(dana["relationships"], json!(["parent", "carer"]));
    assert_eq!(dana["matched_on"], json!(["name_phonetic", "date_of_birth"]));
    let contacts: Vec<&str> =
        dana["contacts"].as_array().unwrap().iter().map(|c| c["contact_id"].as_str().unwrap()).collect();
    assert_eq!(contacts, [first.as_str(), second.as_str()]);
    let mia = dana["contacts"][0]["child_ids"][0].as_str().unwrap();
    assert_eq!(contact_ids(&record(&app, "practitioner", mia).await), [first.as_str()], "the child id reads the child");
    for who in ["practitioner", "decision_maker", "partner_police", "partner_health", "auditor", "admin"] {
        let (status, found) = app.get(who, "/v1/adults?postcode=ng72rd").await;
        assert_eq!(status, 200, "{who}: {found}");
        assert_eq!(found["candidates"].as_array().unwrap().len(), 1, "{who}: {found}");
        assert!(!found.to_string().contains("SECRET-INTEL"), "{who}: {found}");
    }
    let (_, none) = app.get("practitioner", "/v1/adults?name=Someone%20Else&date_of_birth=1989-06-07").await;
    assert_eq!(none["candidates"], json!([]), "a date alone does not offer whoever was born that day");

    // A logged read, with its terms, in the trail of each contact shown.
    let (_, audit) = app.get("auditor", &format!("/v1/contacts/{second}/audit")).await;
    let searches: Vec<&str> = audit["access"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "search_adults" && a["actor"]["id"] == "practitioner")
        .map(|a| a["endpoint"].as_str().unwrap())
        .collect();
    assert!(searches.contains(&"/v1/adults?name=Dana%20Kowalski&date_of_birth=1989-06-07"), "{searches:?}");

    for who in ["referrer", "receiving_team"] {
        let (status, problem) = app.get(who, "/v1/adults?name=Dana").await;
        assert_eq!(status, 403, "{who}: {problem}");
    }
    let head = app.head().await;
    for (query, field) in [("", "name"), ("name=%20", "name"), ("date_of_birth=1989-13-01", "date_of_birth")] {
        let (status, problem) = app.get("practitioner", &format!("/v1/adults?{query}")).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    assert_eq!(app.head().await, head, "nothing written");
}
