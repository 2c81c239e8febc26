//! Issue 15, "Sessions and access": a signed-out session ends every stream it opened, hosts
//! the service does not answer to are refused, the API's answers are never cached, the
//! session cookie is `Secure` by configuration, and failed sign-ins are limited per address
//! and per token id, answered at once.

use std::io::Read as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, contact_body, create_token, ready, spawn_app, spawn_app_with};
use crate::pages::{cookie_of, no_redirects, sign_in};

/// A client whose connections come from `ip` (any of 127.0.0.0/8 reaches loopback).
fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in_from(client: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    client
        .post(format!("{url}/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", url)
        .body(format!("token={token}&next=%2F"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn signing_out_ends_an_events_stream_opened_with_the_cookie() {
    let app = spawn_app();
    ready(&app).await;
    let cookie = cookie_of(&sign_in(&app, app.token("auditor"), &[]).await);
    let http = no_redirects();
    let mut stream = http.get(format!("{}/v1/events/stream", app.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let resp = http
        .post(format!("{}/signout", app.url))
        .header("cookie", &cookie)
        .header("origin", &app.url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    // Whatever was already on its way may arrive; then the stream ends, and no event recorded
    // after the sign-out is delivered.
    let mut received = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream is still open 5 s after sign-out");
    let after = app.new_contact("referrer").await;
    assert!(!received.contains(&after), "an event recorded after sign-out was delivered");
}

#[tokio::test]
async fn a_host_the_service_does_not_answer_to_is_refused() {
    let app = spawn_app_with(&["--allowed-hosts", "frontdoor.council.example"]);
    ready(&app).await;
    let port = app.url.rsplit(':').next().unwrap().to_owned();
    let http = no_redirects();
    let get =
        |host: String| http.get(format!("{}/v1/queue", app.url)).bearer_auth(app.token("auditor")).header("host", host);
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "frontdoor.council.example".into()] {
        assert_eq!(get(host.clone()).send().await.unwrap().status(), 200, "{host}");
    }
    for host in [format!("evil.example:{port}"), "rebind.attacker.example".into(), format!("10.0.0.1:{port}")] {
        let resp = get(host.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{host}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "Host", "{body}");
    }
    // The pages too: a rebinding page would read them with the worker's cookie.
    let page = http.get(format!("{}/signin", app.url)).header("host", "evil.example").send().await.unwrap();
    assert_eq!(page.status(), 400);
    // And nothing was written by a refused request.
    let before = app.head().await;
    let refused = http
        .post(format!("{}/v1/contacts", app.url))
        .bearer_auth(app.token("referrer"))
        .header("host", "evil.example")
        .json(&contact_body())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(app.head().await, before);
}

#[tokio::test]
async fn the_apis_answers_are_not_stored_by_caches() {
    let app = spawn_app();
    ready(&app).await;
    let id = app.new_contact("referrer").await;
    for path in
        [format!("/v1/contacts/{id}"), format!("/v1/contacts/{id}/events"), "/v1/queue".into(), "/v1/events".into()]
    {
        let resp = app.client.get(format!("{}{path}", app.url)).bearer_auth(app.token("auditor")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
    }
    let created = app
        .client
        .post(format!("{}/v1/contacts", app.url))
        .bearer_auth(app.token("referrer"))
        .json(&contact_body())
        .send()
        .await
        .unwrap();
    assert_eq!(created.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_session_cookie_is_secure_unless_configured_off() {
    let app = spawn_app();
    ready(&app).await;
    let set = sign_in(&app, app.token("practitioner"), &[]).await.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("; Secure"), "secure by default, even over plain http: {set}");
    let plain = spawn_app_with(&["--secure-cookie", "false"]);
    ready(&plain).await;
    let set =
        sign_in(&plain, plain.token("practitioner"), &[]).await.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!set.contains("Secure"), "configured off: {set}");
    let set =
        sign_in(&plain, plain.token("practitioner"), &[("x-forwarded-proto", "https")]).await.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
    assert!(set.contains("; Secure"), "behind https, always: {set}");
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_address_and_per_token_id_and_answered_at_once() {
    let app = spawn_app();
    ready(&app).await;
    // 20 wrong tokens at once from one address: all answered at once, past the address's
    // allowance with 429 and when to come back.
    let noisy = from([127, 0, 0, 1]);
    let started = Instant::now();
    // Each a different token id, so only the address's allowance counts.
    let mut pending = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (noisy, url) = (noisy.clone(), app.url.clone());
        pending.spawn(async move {
            let response = sign_in_from(&noisy, &url, &format!("fd_{n:012}_wrong")).await;
            let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry)
        });
    }
    let answers = pending.join_all().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "20 failed sign-ins took {took:?}");
    let refused = answers.iter().filter(|(status, _)| *status == 429).count();
    let unknown = answers.iter().filter(|(status, _)| *status == 401).count();
    assert_eq!((unknown, refused), (10, 10), "{answers:?}");
    println!("20 failed sign-ins at once from one address: answered in {took:?}, {unknown} × 401, {refused} × 429");
    assert!(
        answers
            .iter()
            .filter(|(s, _)| *s == 429)
            .all(|(_, retry)| retry.as_deref().is_some_and(|r| r.parse::<u64>().unwrap() >= 1))
    );
    // That address is refused now, even with a good token; another is not.
    assert_eq!(sign_in_from(&noisy, &app.url, app.token("auditor")).await.status(), 429);
    assert_eq!(sign_in_from(&from([127, 0, 0, 2]), &app.url, app.token("auditor")).await.status(), 303);

    // Wrong secrets for the auditor's token id, from one address after another: past the
    // id's allowance, 429 ...
    let id = app.token("auditor").split('_').nth(1).unwrap().to_owned();
    let mut statuses = Vec::new();
    for n in 0..6u8 {
        let resp = sign_in_from(&from([127, 0, 1, n + 1]), &app.url, &format!("fd_{id}_not-the-secret")).await;
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // ... but the holder, with the right secret, still signs in: knowing an id locks no one out.
    assert_eq!(sign_in_from(&from([127, 0, 2, 1]), &app.url, app.token("auditor")).await.status(), 303);
    // A monitor's token is real but opens no page (it reads the service's metrics only).
    let monitor = crate::harness::create_token_for(app.dir.path(), "monitor", "monitor", "other", None);
    let resp = sign_in_from(&from([127, 0, 2, 2]), &app.url, &monitor).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get("set-cookie").is_none());
}

#[test]
fn a_failed_sign_in_is_logged_with_its_address_and_token_id_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(dir.path(), "auditor", "qa-lead", "childrens_social_care");
    let log = dir.path().join("server.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("FRONTDOOR_LOG", "warn")
        .env("FRONTDOOR_LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut first = [0u8; 200];
    let n = child.stdout.as_mut().unwrap().read(&mut first).unwrap();
    let url = String::from_utf8_lossy(&first[..n])
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("frontdoor listening on ")
        .to_owned();
    let id = token.split('_').nth(1).unwrap().to_owned();
    let secret = "this-is-not-the-secret-but-must-not-be-logged";
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async {
        for _ in 0..200 {
            if reqwest::get(format!("{url}/readyz")).await.is_ok_and(|r| r.status() == 200) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sign_in_from(&from([127, 0, 3, 1]), &url, &format!("fd_{id}_{secret}")).await.status().as_u16()
    });
    assert_eq!(status, 401);
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().find(|l| l.contains("failed sign-in")).unwrap_or_else(|| panic!("not logged: {text}"));
    assert!(line.contains("127.0.3.1") && line.contains(&id), "{line}");
    assert!(!text.contains(secret), "the secret was logged: {text}");
}
