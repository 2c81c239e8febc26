//! The pages' sign-in over plain HTTP: the session cookie, its CSRF defence, revocation,
//! sign-out and the security headers (the limits on failed sign-ins: hardening.rs). (tests/browser drives the
//! same pages in Chromium.)

use std::time::Duration;

use serde_json::json;

use crate::harness::{BIN, TestApp, contact_body, create_token, ready, spawn_app};

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in with `token`; returns the response.
pub(crate) async fn sign_in(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = no_redirects()
        .post(format!("{}/signin", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.url)
        .body(format!("token={token}&next=%2F"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

pub(crate) fn cookie_of(resp: &reqwest::Response) -> String {
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

async fn status(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_token_is_exchanged_for_a_strict_httponly_cookie_that_reads_the_api() {
    let app = spawn_app();
    ready(&app).await;
    let http = no_redirects();
    let resp = http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/signin?next=/");

    let token = app.token("practitioner").to_owned();
    let resp = sign_in(&app, &token, &[]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/");
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains(&token) && !set.contains(token.rsplit('_').next().unwrap()), "the cookie is not the token");
    let cookie = cookie_of(&resp);
    let id = cookie.strip_prefix("frontdoor_session=").unwrap();
    assert_eq!(id.len(), 64, "256 random bits");

    // The cookie reads the API and opens the board.
    assert_eq!(status(http.get(format!("{}/v1/queue", app.url)).header("cookie", &cookie)).await, 200);
    let page = http.get(format!("{}/", app.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert_eq!(
        csp,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap().to_ascii_lowercase();
    assert!(html.contains("<script src=\"/assets/board.js\" defer></script>"));
    assert_eq!(html.matches("<script").count(), 1, "no inline script");
    for banned in ["style=", " onclick=", " onload=", "javascript:", "http://", "https://"] {
        assert!(!html.contains(banned), "the page contains {banned}");
    }

    // The live queue by cookie tells the browser to come back quickly when it ends.
    let mut stream = http.get(format!("{}/v1/queue/stream", app.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("retry: 1000"), "{first:?}");
    drop(stream);

    // Behind https, the cookie is Secure.
    let resp = sign_in(&app, &token, &[("x-forwarded-proto", "https")]).await;
    assert!(resp.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));

    // Sign-out ends the session on the server, not only in the browser.
    let resp = http
        .post(format!("{}/signout", app.url))
        .header("cookie", &cookie)
        .header("origin", &app.url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(resp.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(status(http.get(format!("{}/v1/queue", app.url)).header("cookie", &cookie)).await, 401);
    assert_eq!(status(http.get(format!("{}/", app.url)).header("cookie", &cookie)).await, 303);
}

#[tokio::test]
async fn a_change_made_with_the_cookie_must_come_from_the_pages() {
    let app = spawn_app();
    ready(&app).await;
    let http = no_redirects();
    let contact = app.new_contact("referrer").await;
    let cookie = cookie_of(&sign_in(&app, app.token("practitioner"), &[]).await);
    let url = format!("{}/v1/contacts/{contact}/events", app.url);
    let note = json!({"type": "note_added", "data": {"text": "From the board."}});
    let post = || http.post(&url).header("cookie", &cookie).json(&note);
    assert_eq!(status(post()).await, 403, "no Origin, no Sec-Fetch-Site");
    assert_eq!(status(post().header("origin", "http://evil.example")).await, 403);
    assert_eq!(status(post().header("sec-fetch-site", "cross-site").header("origin", &app.url)).await, 403);
    assert_eq!(status(post().header("sec-fetch-site", "same-site")).await, 403);
    assert_eq!(status(post().header("origin", &app.url)).await, 201);
    assert_eq!(status(post().header("sec-fetch-site", "same-origin")).await, 201);
    // Bearer tokens need none of this, as before.
    let (code, _) = app.post("practitioner", &format!("/v1/contacts/{contact}/events"), &note).await;
    assert_eq!(code, 201);
    // The actor is the session's.
    let (_, events) = app.get("admin", &format!("/v1/contacts/{contact}/events")).await;
    assert_eq!(events[1]["actor"]["id"], "practitioner");
    // And a sign-in from another site is refused.
    let resp = no_redirects()
        .post(format!("{}/signin", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "http://evil.example")
        .body(format!("token={}", app.token("practitioner")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn revoking_the_token_ends_its_sessions_at_once() {
    let app = spawn_app();
    ready(&app).await;
    let http = no_redirects();
    let token = create_token(app.dir.path(), "practitioner", "sw-shift", "childrens_social_care");
    let cookie = cookie_of(&sign_in(&app, &token, &[]).await);
    assert_eq!(status(http.get(format!("{}/v1/queue", app.url)).header("cookie", &cookie)).await, 200);
    let list =
        std::process::Command::new(BIN).args(["token", "list", "--data-dir"]).arg(app.dir.path()).output().unwrap();
    let listing = String::from_utf8(list.stdout).unwrap();
    let id = listing.lines().find(|l| l.contains("sw-shift")).unwrap().split_whitespace().next().unwrap().to_owned();
    let revoked = std::process::Command::new(BIN)
        .args(["token", "revoke", "--data-dir"])
        .arg(app.dir.path())
        .arg(&id)
        .status()
        .unwrap();
    assert!(revoked.success());
    assert_eq!(status(http.get(format!("{}/v1/queue", app.url)).header("cookie", &cookie)).await, 401);
    assert_eq!(status(http.get(format!("{}/", app.url)).header("cookie", &cookie)).await, 303);
}

#[tokio::test]
async fn the_qa_pages_follow_the_roles() {
    let app = spawn_app();
    ready(&app).await;
    let http = no_redirects();
    let contact = app.new_contact("referrer").await;
    let partner = cookie_of(&sign_in(&app, app.token("partner_police"), &[]).await);
    let auditor = cookie_of(&sign_in(&app, app.token("auditor"), &[]).await);
    let get = |path: &str, cookie: &str| http.get(format!("{}{path}", app.url)).header("cookie", cookie.to_owned());
    assert_eq!(status(get("/qa", &partner)).await, 403);
    assert_eq!(status(get(&format!("/qa/contacts/{contact}"), &partner)).await, 403);
    let qa = get("/qa", &auditor).send().await.unwrap();
    assert_eq!(qa.status(), 200);
    let html = qa.text().await.unwrap();
    assert_eq!(html.matches("<svg viewBox=\"0 0 760").count(), 5, "five charts");
    let trail = get(&format!("/qa/contacts/{contact}"), &auditor).send().await.unwrap();
    assert_eq!(trail.status(), 200);
    assert!(trail.text().await.unwrap().contains("id=\"finding\""));
    // Reading the trail through the page is itself in the access log.
    let (_, audit) = app.get("admin", &format!("/v1/contacts/{contact}/audit")).await;
    let access = audit["access"].as_array().unwrap();
    assert!(access.iter().any(|a| a["actor"]["id"] == "auditor" && a["endpoint"] == format!("/qa/contacts/{contact}")));
    assert_eq!(status(get("/qa/contacts/nonsense", &auditor)).await, 404);
}

/// Issue 13, point 5: the pages are templates that escape every value. A child's name and an
/// audit finding carrying a script are shown as text on the audit trail, never run.
#[tokio::test]
async fn a_script_in_a_childs_name_or_a_finding_is_shown_as_text() {
    let app = spawn_app();
    ready(&app).await;
    let mut body = contact_body();
    body["children"][0]["name"] = json!("<script>alert('child')</script>");
    let (code, created) = app.post("referrer", "/v1/contacts", &body).await;
    assert_eq!(code, 201, "{created}");
    let contact = created["contact_id"].as_str().unwrap().to_owned();
    let finding = json!({"grade": "good", "findings": "Fine <script>alert(\"finding\")</script> & done"});
    let (code, appended) = app.append("auditor", &contact, "audit_finding_recorded", finding).await;
    assert_eq!(code, 201, "{appended}");
    let auditor = cookie_of(&sign_in(&app, app.token("auditor"), &[]).await);
    let page = no_redirects()
        .get(format!("{}/qa/contacts/{contact}", app.url))
        .header("cookie", auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    // askama writes `<`, `>`, `"`, `'` and `&` as numeric character references.
    assert!(
        html.contains("name: &#60;script&#62;alert(&#39;child&#39;)&#60;/script&#62;"),
        "the name, as text: {html}"
    );
    assert!(html.contains("Fine &#60;script&#62;alert(&#34;finding&#34;)&#60;/script&#62; &#38; done"), "{html}");
    assert_eq!(html.matches("<script").count(), 1, "only the page's own script: {html}");
}

/// Issue 12, point 10: the start-up message and the board agree on what "open" and "overdue"
/// mean. The demo's banner counts the duty queue as the board does (every contact on the
/// queue, and those of them past their due-by), not contacts merely not closed nor only the
/// undecided ones overdue.
#[tokio::test]
async fn the_start_up_message_and_the_board_agree_on_open_and_overdue() {
    let dir = tempfile::tempdir().unwrap();
    let before = chrono::Utc::now();
    let (mut child, url, banner) = crate::harness::start_capturing(dir.path(), &["--demo"], 12);
    let text = banner.join("\n");
    let line = banner.iter().find(|l| l.starts_with("demo data:")).unwrap_or_else(|| panic!("{text}"));
    // "demo data: N contacts, E events over four weeks (Q on the queue: O overdue)"
    let inside = line.rsplit_once('(').and_then(|(_, r)| r.strip_suffix(')')).unwrap_or_else(|| panic!("{line}"));
    let (on_queue, overdue) = inside.split_once(" on the queue: ").unwrap_or_else(|| panic!("{line}"));
    let on_queue: usize = on_queue.parse().unwrap_or_else(|_| panic!("{line}"));
    let overdue: usize =
        overdue.strip_suffix(" overdue").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    let token = banner
        .iter()
        .find(|l| l.trim_start().starts_with("practitioner"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no practitioner token in:\n{text}"))
        .to_owned();
    let client = reqwest::Client::new();
    let mut queue = serde_json::Value::Null;
    for _ in 0..500 {
        let (status, body) =
            crate::harness::read(client.get(format!("{url}/v1/queue")).bearer_auth(&token).send().await.unwrap()).await;
        if status == 200 {
            queue = body;
            break;
        }
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = chrono::Utc::now();
    let items = queue["items"].as_array().unwrap_or_else(|| panic!("the queue never came: {queue}"));
    // What the board shows: every item, and the items marked overdue.
    assert_eq!(on_queue, items.len(), "{line}");
    let board_overdue = items.iter().filter(|i| i["overdue"] == true).count();
    // Both count a contact overdue once its due-by has passed; one that fell due between
    // the banner and the read may be counted by the board only.
    let due_by =
        |i: &serde_json::Value| i["due_by"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let surely = items.iter().filter(|i| due_by(i) < before).count();
    let at_most = items.iter().filter(|i| due_by(i) < after).count();
    assert!((surely..=at_most).contains(&overdue), "{line}: {surely}..={at_most} were overdue");
    assert!((surely..=at_most).contains(&board_overdue), "board: {board_overdue}, {surely}..={at_most}");
    assert!(overdue > 0, "the demo has overdue contacts: {line}");
    // The board says it in the same words.
    let script = client.get(format!("{url}/assets/board.js")).send().await.unwrap().text().await.unwrap();
    assert!(script.contains("\" contacts on the queue: \" + overdue + \" overdue"), "the board's summary");
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 16: the children pages for the duty team. A practitioner searches by name and date of
/// birth and finds the child two contacts named with the same NHS number, and the same child
/// spelt another way as a second, weaker candidate (never linked); the child's page lists both
/// contacts in receipt order, each opening the board's timeline (an auditor's, the audit
/// trail); both reads are in the contacts' access logs with the page's address; a bad date is
/// named; a referrer, signed in to its own pages, cannot open these.
#[tokio::test]
async fn the_children_pages_find_a_child_and_list_their_contacts() {
    let app = spawn_app();
    ready(&app).await;
    let http = no_redirects();
    let first = app.new_contact("referrer").await;
    let second = app.new_contact("referrer").await;
    let mut variant = contact_body();
    variant["children"][0] = json!({"name": "Sam Exampel", "date_of_birth": "2017-05-04", "sex": "M"});
    let (code, created) = app.post("referrer", "/v1/contacts", &variant).await;
    assert_eq!(code, 201, "{created}");
    let spelt = created["contact_id"].as_str().unwrap().to_owned();

    let practitioner = cookie_of(&sign_in(&app, app.token("practitioner"), &[]).await);
    let get = |path: &str, cookie: &str| http.get(format!("{}{path}", app.url)).header("cookie", cookie.to_owned());
    let empty = get("/children", &practitioner).send().await.unwrap();
    assert_eq!(empty.status(), 200);
    assert!(empty.text().await.unwrap().contains("id=\"date_of_birth\""), "the search form");
    let found = get("/children?name=Sam+Example&date_of_birth=2017-05-04", &practitioner).send().await.unwrap();
    assert_eq!(found.status(), 200);
    let html = found.text().await.unwrap();
    let rows: Vec<&str> = html.split("<tr data-child=\"").skip(1).collect();
    assert_eq!(rows.len(), 2, "the child and the one spelt otherwise: {html}");
    assert!(rows[0].contains("Sam Example") && rows[0].contains("name, date of birth") && rows[0].contains("90%"));
    assert!(rows[0].contains("<td class=\"num\">2</td>"), "two contacts about the child: {}", rows[0]);
    assert!(rows[1].contains("Sam Exampel") && rows[1].contains("name sounds alike"), "{}", rows[1]);
    let child = rows[0].split('"').next().unwrap().to_owned();
    assert_ne!(child, rows[1].split('"').next().unwrap(), "offered, not linked");

    let page = get(&format!("/children/{child}"), &practitioner).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let (at_first, at_second) =
        (html.find(&format!("/contacts/{first}\"")), html.find(&format!("/contacts/{second}\"")));
    assert!(at_first.is_some() && at_second.is_some() && at_first < at_second, "in receipt order: {html}");
    assert!(!html.contains(&spelt) && !html.contains("/qa/contacts/"), "{html}");
    let auditor = cookie_of(&sign_in(&app, app.token("auditor"), &[]).await);
    let trail = get(&format!("/children/{child}"), &auditor).send().await.unwrap().text().await.unwrap();
    assert!(trail.contains(&format!("href=\"/qa/contacts/{first}\"")), "{trail}");

    // Both reads are in the access log, with the page's address.
    let (_, audit) = app.get("admin", &format!("/v1/contacts/{first}/audit")).await;
    let endpoints: Vec<&str> = audit["access"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["actor"]["id"] == "practitioner")
        .filter_map(|a| a["endpoint"].as_str())
        .collect();
    assert!(endpoints.contains(&"/children?name=Sam%20Example&date_of_birth=2017-05-04"), "{endpoints:?}");
    assert!(endpoints.contains(&format!("/children/{child}").as_str()), "{endpoints:?}");

    // The likely matches of a contact's children, from the board's queue row.
    let matches = get(&format!("/children?contact={spelt}"), &practitioner).send().await.unwrap();
    assert_eq!(matches.status(), 200);
    let html = matches.text().await.unwrap();
    assert!(
        html.contains("Possible matches for Sam Exampel") && html.contains(&format!("/children/{child}")),
        "{html}"
    );

    let bad = get("/children?date_of_birth=2017-13-01", &practitioner).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("date_of_birth"), "the field is named");
    assert_eq!(get("/children/nope-", &practitioner).send().await.unwrap().status(), 400);
    assert_eq!(get("/children/NOSUCHCHILD", &practitioner).send().await.unwrap().status(), 404);
    // Not signed in: to the sign-in page; a referrer signs in to its own pages, not these.
    let anonymous = http.get(format!("{}/children", app.url)).send().await.unwrap();
    assert_eq!(anonymous.headers()["location"], "/signin?next=/children");
    let referrer = cookie_of(&sign_in(&app, app.token("referrer"), &[]).await);
    assert_eq!(get("/children", &referrer).send().await.unwrap().status(), 403);
    assert_eq!(get(&format!("/children/{child}"), &referrer).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn qa_shows_devons_table_and_the_practice_figures() {
    let app = spawn_app();
    ready(&app).await;
    let http = no_redirects();
    // Two phone contacts about one child each, consent given, not yet decided. Over the
    // default period (the 28 days to today) each weekday falls 4 times, so the weekly
    // average is 2 ÷ 4 = 0.5 children and contacts, all by phone, all undecided.
    app.new_contact("referrer").await;
    app.new_contact("referrer").await;
    let auditor = cookie_of(&sign_in(&app, app.token("auditor"), &[]).await);
    let page = http.get(format!("{}/qa", app.url)).header("cookie", auditor).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let devon = &html[html.find("id=\"devon-channels\"").expect("Devon's table")..];
    assert!(
        devon.contains(
            "<tr><th scope=\"row\">Weekly average</th><td>0.5</td><td>0.0</td><td>0.0</td><td>0.0</td><td>0.0</td>\
             <td>0.0</td><td>0.5</td><td>0.5</td></tr>"
        ),
        "{devon}"
    );
    assert!(
        devon.contains(
            "<tr><th scope=\"row\">Total in period</th><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td>\
             <td>0</td><td>2</td></tr>"
        ),
        "{devon}"
    );
    assert!(devon.contains("<td>0%</td><td>100%</td></tr>"), "{devon}");
    assert!(
        html.contains("Consent recorded (given, not given or overridden; of 2 contacts)</th><td>2 (100%)</td>"),
        "{html}"
    );
    assert!(html.contains("Referrer informed within one working day (of contacts)</th><td>0 (0%)</td>"), "{html}");
    assert!(html.contains("Median hours to the Assessment Team, immediate referrals (0 accepted)"), "{html}");
}
