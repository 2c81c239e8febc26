//! The service as an operator meets it: tokens from the CLI on a running server, the demo,
//! and a clean shutdown that finishes the appends in flight.

use std::time::Duration;

use serde_json::json;

use crate::harness::{BIN, create_token, read, spawn_app, start_capturing};

#[tokio::test]
async fn tokens_made_and_revoked_by_the_cli_take_effect_at_once_on_a_running_server() {
    let app = spawn_app();
    let token = create_token(app.dir.path(), "practitioner", "sw-new", "childrens_social_care");
    let id = app.new_contact("referrer").await;
    let get = |t: String| {
        let client = app.client.clone();
        let url = format!("{}/v1/contacts/{id}", app.url);
        async move { read(client.get(url).bearer_auth(t).send().await.unwrap()).await.0 }
    };
    assert_eq!(get(token.clone()).await, 200, "a new token works without a restart");

    let list =
        std::process::Command::new(BIN).args(["token", "list", "--data-dir"]).arg(app.dir.path()).output().unwrap();
    let listing = String::from_utf8(list.stdout).unwrap();
    assert!(listing.contains("sw-new"), "{listing}");
    let secret = token.rsplit('_').next().unwrap();
    assert!(!listing.contains(secret), "the list never shows secrets");
    let token_id =
        listing.lines().find(|l| l.contains("sw-new")).unwrap().split_whitespace().next().unwrap().to_owned();

    let revoke = std::process::Command::new(BIN)
        .args(["token", "revoke", "--data-dir"])
        .arg(app.dir.path())
        .arg(&token_id)
        .output()
        .unwrap();
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));
    assert_eq!(get(token).await, 401, "revocation takes effect at once");

    // The tokens file holds no secret.
    let stored = std::fs::read_to_string(app.dir.path().join("tokens.json")).unwrap();
    for t in app.tokens.values() {
        assert!(!stored.contains(t.rsplit('_').next().unwrap()));
    }
}

#[tokio::test]
async fn serve_demo_fills_a_county_and_prints_a_working_token_per_role() {
    let dir = tempfile::tempdir().unwrap();
    // The demo line, the tokens' heading, 12 tokens (one per role, one per receiving team).
    let (mut child, url, banner) = start_capturing(dir.path(), &["--demo"], 16);
    let text = banner.join("\n");
    assert!(text.contains("demo data:"), "{text}");
    let token_of = |role: &str| {
        banner
            .iter()
            .find(|l| l.trim_start().starts_with(role))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("no {role} token in:\n{text}"))
            .to_owned()
    };
    let client = reqwest::Client::new();
    let (status, page) =
        read(client.get(format!("{url}/v1/events?limit=1000")).bearer_auth(token_of("admin")).send().await.unwrap())
            .await;
    assert_eq!(status, 200);
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1000, "thousands of demo events");
    let contact = events[0]["contact_id"].as_str().unwrap();
    let (status, view) = read(
        client.get(format!("{url}/v1/contacts/{contact}")).bearer_auth(token_of("practitioner")).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    let (status, _) = read(
        client
            .post(format!("{url}/v1/contacts"))
            .bearer_auth(token_of("referrer"))
            .json(&crate::harness::contact_body())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    // A receiving-team user for each team handovers go to, e.g. the Assessment Team North.
    let teams: Vec<&str> = banner
        .iter()
        .filter(|l| l.trim_start().starts_with("receiving_team"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(teams.contains(&"demo-at-north") && teams.len() == 4, "{text}");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_appends_in_flight_and_loses_none() {
    let mut app = spawn_app();
    let id = app.new_contact("referrer").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = app.client.clone();
        let url = format!("{}/v1/contacts/{id}/events", app.url);
        let token = app.token("practitioner").to_owned();
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"type": "note_added", "data": {"text": format!("n{i}")}}))
                .send()
                .await;
            match resp {
                Ok(r) => Some((r.status().as_u16(), r.json::<serde_json::Value>().await.ok())),
                Err(_) => None,
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let exited = tokio::task::block_in_place(|| app.terminate(Duration::from_secs(15)));
    assert_eq!(exited, Some(true), "a clean exit after SIGTERM");
    let mut acknowledged = Vec::new();
    for t in tasks {
        if let Some((201, Some(env))) = t.await.unwrap() {
            acknowledged.push(env["event_id"].as_str().unwrap().to_owned());
        }
    }
    println!("{} of 40 appends acknowledged before the shutdown", acknowledged.len());
    assert!(!acknowledged.is_empty(), "the shutdown came before any append: the test proved nothing");
    tokio::task::block_in_place(|| app.restart());
    let (_, events) = app.get("admin", &format!("/v1/contacts/{id}/events")).await;
    let stored: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    for ack in &acknowledged {
        assert!(stored.contains(&ack.as_str()), "acknowledged event {ack} lost in shutdown");
    }
}
