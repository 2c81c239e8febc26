//! Figures split by locality: `?locality=` on every figure (partners' suppression kept), the
//! volumes' `by_locality` and by-source weeks, the /qa selector, and a start refused on a bad
//! `[localities]` table.

use serde_json::{Value, json};

use crate::harness::{BIN, TestApp, contact_body, ready, spawn_app_with};
use crate::pages::{cookie_of, no_redirects, sign_in};

const LOCALITIES: &str = "[localities]\n\"North\" = [\"EX31\", \"ex 32\"]\n\"South\" = [\"TQ1\"]\n";
const PERIOD: &str = "from=2026-03-02&to=2026-03-08";

/// The service with North (EX31, EX32) and South (TQ1) configured; the config's directory is
/// kept as long as the service.
fn spawn_devon() -> (TestApp, tempfile::TempDir) {
    let config = tempfile::tempdir().unwrap();
    let path = config.path().join("frontdoor.toml");
    std::fs::write(&path, LOCALITIES).unwrap();
    let app = spawn_app_with(&["--config", path.to_str().unwrap()]);
    (app, config)
}

/// A contact received at `received` from `source`, about a child living at `postcode` (no
/// address for `None`), decided `outcome` when one is given.
async fn contact_in(app: &TestApp, received: &str, postcode: Option<&str>, source: &str, outcome: Option<&str>) {
    let mut body = contact_body();
    body["occurred_at"] = json!(received);
    body["late_entry_reason"] = json!("entered from the paper log");
    body["source"] = json!(source);
    if source == "6" {
        body["channel"] = json!("police_notification");
    }
    if let Some(postcode) = postcode {
        body["children"][0]["address"] = json!({"line1": "1 Any Street", "postcode": postcode});
    }
    let (s, created) = app.post("practitioner", "/v1/contacts", &body).await;
    assert_eq!(s, 201, "{created}");
    let id = created["contact_id"].as_str().unwrap();
    if let Some(outcome) = outcome {
        let (s, b) = app
            .post(
                "decision_maker",
                &format!("/v1/contacts/{id}/events"),
                &json!({"type": "decision_made", "late_entry_reason": "entered from the paper log",
                    "occurred_at": "2026-03-06T12:00:00Z",
                    "data": {"outcome": outcome, "rationale": "r", "level_of_need": 3, "primary_need": "N4"}}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
}

/// The week of 2 March 2026: North 7 (6 police notifications from EX31, undecided; a school
/// contact from EX32, an assessment), South 2 (a police notification; a school contact, no
/// further action), `other` 1 (Plymouth), `unknown` 1 (no address).
async fn fill(app: &TestApp) {
    for hour in 10..16 {
        contact_in(app, &format!("2026-03-02T{hour}:00:00Z"), Some("EX31 1AA"), "6", None).await;
    }
    contact_in(app, "2026-03-03T09:00:00Z", Some("ex324bb"), "2A", Some("assessment")).await;
    contact_in(app, "2026-03-03T10:00:00Z", Some("TQ1 1AA"), "6", None).await;
    contact_in(app, "2026-03-03T11:00:00Z", Some("TQ1 2AB"), "2A", Some("no_further_action")).await;
    contact_in(app, "2026-03-04T09:00:00Z", Some("PL1 1AA"), "2A", None).await;
    contact_in(app, "2026-03-04T10:00:00Z", None, "2A", None).await;
}

#[tokio::test]
async fn every_figure_counts_the_locality_asked_for_and_partners_keep_their_suppression() {
    let (app, _config) = spawn_devon();
    ready(&app).await;
    fill(&app).await;

    // The split, in the volumes.
    let (s, v) = app.get("practitioner", &format!("/v1/metrics/volumes?{PERIOD}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["locality"], Value::Null, "every contact");
    let split: Vec<(String, u64)> = v["by_locality"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["locality"].as_str().unwrap().to_owned(), r["contacts"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(String, u64)> =
        [("North", 7), ("South", 2), ("other", 1), ("unknown", 1)].iter().map(|(l, n)| ((*l).to_owned(), *n)).collect();
    assert_eq!(split, expected);
    assert_eq!(v["by_locality"][0]["outcomes"]["assessment"], 1);
    assert_eq!(v["by_locality"][1]["outcomes"]["no_further_action"], 1);
    // By source, week by week.
    assert_eq!(v["by_week"][0]["by_referral_source"]["6"]["contacts"], 7);
    assert_eq!(v["by_week"][0]["by_referral_source"]["2A"]["referrals"], 1);
    assert_eq!(v["by_week"][0]["by_referral_source"]["2A"]["conversion_rate"], 0.25);
    assert_eq!(v["by_week"][0]["by_referral_source"]["2A"]["consent"]["given"], 4);

    // Each figure of one locality.
    let (s, v) = app.get("practitioner", &format!("/v1/metrics/volumes?{PERIOD}&locality=North")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["locality"], "North", "the answer says which contacts it counts");
    assert_eq!((v["totals"]["contacts"].as_u64(), v["totals"]["referrals"].as_u64()), (Some(7), Some(1)));
    assert_eq!(v["totals"]["by_source"]["6"], 6);
    let (s, t) = app.get("decision_maker", &format!("/v1/metrics/timeliness?{PERIOD}&locality=South")).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        (t["contacts"].as_u64(), t["decided"].as_u64(), t["locality"].as_str()),
        (Some(2), Some(1), Some("South"))
    );
    let (s, p) = app.get("auditor", &format!("/v1/metrics/practice?{PERIOD}&locality=unknown")).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!((p["contacts"].as_u64(), p["locality"].as_str()), (Some(1), Some("unknown")));
    let (_, p) = app.get("auditor", &format!("/v1/metrics/practice?{PERIOD}&locality=other")).await;
    assert_eq!(p["contacts"], 1);

    // A partner's trends of a locality: 6 of its own in North are shown, 1 in South is not.
    let (s, t) = app.get("partner_police", &format!("/v1/metrics/trends?{PERIOD}&locality=North")).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!((t["own"]["totals"]["contacts"].as_u64(), t["locality"].as_str()), (Some(6), Some("North")));
    assert_eq!(t["overall"]["totals"]["contacts"], 7);
    assert_eq!(t["overall"]["totals"]["by_source"]["2A"], Value::Null, "1 school contact: suppressed");
    let (s, t) = app.get("partner_police", &format!("/v1/metrics/trends?{PERIOD}&locality=South")).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["own"]["totals"]["contacts"], Value::Null, "1 police contact in South: suppressed");
    assert_eq!(t["overall"]["totals"]["contacts"], Value::Null, "2 contacts in South: suppressed");
    assert_eq!(t["overall"]["totals"]["by_source"]["1A"], 0);

    // A locality nobody configured is a 422 naming `locality`, on every figure.
    for (who, path) in [
        ("practitioner", "/v1/metrics/volumes"),
        ("practitioner", "/v1/metrics/timeliness"),
        ("auditor", "/v1/metrics/practice"),
        ("partner_police", "/v1/metrics/trends"),
    ] {
        for name in ["West", "north", ""] {
            let response = app
                .client
                .get(format!("{}{path}?locality={name}", app.url))
                .bearer_auth(app.token(who))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{path} {name:?}");
            assert_eq!(response.headers()["content-type"], "application/problem+json");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["errors"][0]["field"], "locality", "{problem}");
            assert!(problem["errors"][0]["message"].as_str().unwrap().contains("North, South, other, unknown"));
        }
    }
}

#[tokio::test]
async fn the_qa_page_chooses_a_locality_with_a_plain_form() {
    let (app, _config) = spawn_devon();
    ready(&app).await;
    fill(&app).await;
    let http = no_redirects();
    let auditor = cookie_of(&sign_in(&app, app.token("auditor"), &[]).await);
    let page = |query: String| {
        let request = http.get(format!("{}/qa?{query}", app.url)).header("cookie", auditor.clone());
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    let (s, html) = page(PERIOD.to_owned()).await;
    assert_eq!(s, 200);
    let form = &html[html.find("aria-label=\"Period\"").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(form.contains("<select id=\"locality\" name=\"locality\">"), "{form}");
    assert!(form.contains("<option value=\"\" selected>Every locality</option>"), "{form}");
    assert!(form.contains("<option value=\"North\">North</option>"), "{form}");
    assert!(form.contains("<option value=\"unknown\">unknown</option>"), "{form}");
    assert!(html.contains("<span class=\"tile-value\">11</span> <span class=\"tile-label\">Contacts</span>"));
    let split = &html[html.find("id=\"by-locality\"").expect("the locality table")..];
    assert!(split.contains("<tr><th scope=\"row\">North</th><td>7</td><td>7</td><td>1</td>"), "{split}");
    assert!(split.contains("<tr><th scope=\"row\">unknown</th><td>1</td><td>1</td><td>0</td>"), "{split}");
    let sources = &html[html.find("id=\"by-source\"").expect("the by-source table")..];
    assert!(sources.contains("<tr><th scope=\"row\">2026-W10</th><td><abbr title=\""), "{sources}");
    assert!(sources.contains("\">6</abbr></td><td>7</td>"), "{sources}");

    // The form's GET: North's figures only, North chosen.
    let (s, html) = page(format!("{PERIOD}&locality=North")).await;
    assert_eq!(s, 200);
    assert!(html.contains("<option value=\"North\" selected>North</option>"), "{html}");
    assert!(html.contains("in the locality <strong id=\"locality-shown\">North</strong>"), "{html}");
    assert!(html.contains("<span class=\"tile-value\">7</span> <span class=\"tile-label\">Contacts</span>"));
    // "Every locality" sends an empty name: every contact.
    let (s, html) = page(format!("{PERIOD}&locality=")).await;
    assert_eq!(s, 200);
    assert!(html.contains("<span class=\"tile-value\">11</span> <span class=\"tile-label\">Contacts</span>"));
    let (s, html) = page(format!("{PERIOD}&locality=West")).await;
    assert_eq!(s, 422);
    assert!(html.contains("locality: must be one of the localities: North, South, other, unknown"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_something_in_every_locality() {
    let app = spawn_app_with(&["--demo"]);
    ready(&app).await;
    let (s, v) = app.get("auditor", "/v1/metrics/volumes").await;
    assert_eq!(s, 200, "{v}");
    let rows = v["by_locality"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["locality"].as_str().unwrap()).collect();
    assert_eq!(names, ["Central", "Northmoor", "Southvale", "other", "unknown"]);
    for row in rows {
        assert!(row["contacts"].as_u64().unwrap() > 0, "{row}");
        let name = row["locality"].as_str().unwrap();
        let (s, one) = app.get("auditor", &format!("/v1/metrics/volumes?locality={name}")).await;
        assert_eq!(s, 200, "{one}");
        assert_eq!(one["totals"]["contacts"], row["contacts"], "{name}");
    }
}

#[tokio::test]
async fn the_openapi_document_gives_the_locality_parameter_and_the_split() {
    let (app, _config) = spawn_devon();
    let doc: Value = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    for path in ["/v1/metrics/timeliness", "/v1/metrics/volumes", "/v1/metrics/practice", "/v1/metrics/trends"] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let locality = params.iter().find(|p| p["name"] == "locality").unwrap_or_else(|| panic!("{path}"));
        assert_eq!(locality["in"], "query");
        assert!(locality["description"].as_str().unwrap().contains("`unknown`"), "{path}");
        assert!(doc["paths"][path]["get"]["responses"]["422"].is_object(), "{path} documents its 422");
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["Volumes"]["properties"]["by_locality"].is_object());
    assert_eq!(schemas["LocalityRow"]["properties"]["locality"]["type"], "string");
    assert!(schemas["VolumeWeek"].to_string().contains("by_referral_source"));
}

#[test]
fn a_bad_localities_table_refuses_the_start_naming_it() {
    for (table, said) in [
        ("\"North\" = [\"EX31\"]\n\"South\" = [\"ex31\"]\n", "EX31 is listed by both \"North\" and \"South\""),
        ("\"North\" = [\"EX31\", \"EX31 1AA\"]\n", "localities.North: \"EX31 1AA\" is not a postcode district"),
        ("\"unknown\" = [\"EX31\"]\n", "\"unknown\" is a name kept"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("frontdoor.toml");
        std::fs::write(&config, format!("[localities]\n{table}")).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{table}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{table}: {stderr}");
        assert!(!dir.path().join("data").exists(), "nothing was created: {table}");
    }
}
