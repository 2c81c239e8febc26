//! The access log over HTTP: bulk reads recorded as one entry each with their scope
//! (`GET /v1/events` pages, a stream's connection, as-of, the audit sample), readable by
//! auditors and admins at `GET /v1/access` (itself recorded), a sampled contact's audit
//! trail showing the sample, a receiving team's 404 recorded as refused, and the export and
//! import carrying the access log so a restored contact's audit trail shows the reads made
//! before the backup.

use serde_json::{Value, json};

use crate::figures::decided_contact;
use crate::harness::{create_token, ready, spawn_app, start};

/// Every access entry, read as the auditor (the read itself is recorded after its page).
async fn access_log(app: &crate::harness::TestApp) -> Vec<Value> {
    let (s, page) = app.get("auditor", "/v1/access?after=0&limit=1000").await;
    assert_eq!(s, 200, "{page}");
    page["entries"].as_array().unwrap().clone()
}

fn with_action<'a>(entries: &'a [Value], action: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["action"] == action).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_reads_are_recorded_once_each_naming_what_they_covered() {
    let app = spawn_app();
    ready(&app).await;
    let mut ids = Vec::new();
    for day in 2..=4 {
        let received = format!("2026-03-0{day}T09:00:00Z");
        let at = format!("2026-03-0{day}T10:00:00Z");
        ids.push(decided_contact(&app, &received, Some((&at, "early_help")), "phone").await);
    }
    let head = app.head().await;
    assert_eq!(head, 6);

    // A page of the global log: one entry naming the positions returned, not one per event.
    let (s, page) = app.get("auditor", "/v1/events?after=1&limit=3").await;
    assert_eq!((s, page["next_after"].as_u64()), (200, Some(4)), "{page}");
    // As-of, by position and by time.
    let (s, b) = app.get("decision_maker", "/v1/as-of?position=2").await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app.get("auditor", "/v1/as-of?at=2100-01-01T00:00:00Z").await;
    assert_eq!(s, 200, "{b}");
    // A stream's connection: its entry is durable before the first byte, so it is there as
    // soon as the response's headers are.
    let stream = app
        .client
        .get(format!("{}/v1/events/stream?after=2", app.url))
        .bearer_auth(app.token("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // The audit sample: every decided contact in the period.
    let (s, sample) = app.get("auditor", "/v1/audit/sample?from=2026-03-01&to=2026-03-08&n=10&seed=7").await;
    assert_eq!(s, 200, "{sample}");
    let mut sampled: Vec<String> =
        sample["contacts"].as_array().unwrap().iter().map(|c| c["contact_id"].as_str().unwrap().to_owned()).collect();
    sampled.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(sampled, expected);

    let entries = access_log(&app).await;
    // Positions gapless from 1, each linked to the one before.
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["position"], i as u64 + 1, "{e}");
        if i > 0 {
            assert_eq!(e["prev_hash"], entries[i - 1]["hash"], "{e}");
        }
    }
    // (The harness's `head()` reads pages of the log too; ours is the last of them.)
    let pages = with_action(&entries, "read_log");
    let page = pages.last().unwrap();
    assert_eq!(pages.iter().filter(|p| p["range"]["after"] == 1).count(), 1, "one entry for the page: {entries:#?}");
    assert_eq!(page["range"], json!({"after": 1, "to": 4}));
    assert_eq!(page["actor"]["id"], "auditor");
    assert_eq!(page["endpoint"], "/v1/events");
    assert!(page.get("contact_id").is_none(), "a bulk read names no single contact: {page}");
    let as_of = with_action(&entries, "read_as_of");
    assert_eq!(as_of.len(), 2, "{entries:#?}");
    assert_eq!(as_of[0]["range"], json!({"after": 0, "to": 2}));
    assert_eq!(as_of[0]["actor"]["id"], "decision_maker");
    assert_eq!(as_of[1]["range"], json!({"after": 0, "to": 6}));
    assert_eq!(as_of[1]["as_of"], "2100-01-01T00:00:00Z");
    let streams = with_action(&entries, "read_log_stream");
    assert_eq!(streams.len(), 1, "{entries:#?}");
    assert_eq!(streams[0]["range"], json!({"after": 2, "to": 6}));
    assert_eq!(streams[0]["actor"]["id"], "admin");
    drop(stream);
    let samples = with_action(&entries, "audit_sample");
    assert_eq!(samples.len(), 1, "{entries:#?}");
    let mut listed: Vec<String> =
        samples[0]["contacts"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    listed.sort();
    assert_eq!(listed, expected);

    // Each sampled contact's audit trail shows it was sampled.
    let (s, audit) = app.get("auditor", &format!("/v1/contacts/{}/audit", ids[1])).await;
    assert_eq!(s, 200, "{audit}");
    let actions: Vec<&str> =
        audit["access"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["audit_sample"], "{audit}");

    // The read of the access log was itself recorded, after its page: it is on the next one.
    let last = entries.last().unwrap()["position"].as_u64().unwrap();
    let (s, next) = app.get("admin", &format!("/v1/access?after={last}")).await;
    assert_eq!(s, 200, "{next}");
    let first = &next["entries"][0];
    assert_eq!(first["action"], "read_access_log", "{next}");
    assert_eq!(first["range"], json!({"after": 0, "to": last}));
}

#[tokio::test]
async fn only_auditors_and_admins_read_the_access_log_and_bad_paging_is_named() {
    let app = spawn_app();
    ready(&app).await;
    for who in ["practitioner", "decision_maker", "referrer"] {
        let (s, b) = app.get(who, "/v1/access").await;
        assert_eq!(s, 403, "{who}: {b}");
    }
    let (s, b) = app.get("auditor", "/v1/access?limit=1001").await;
    assert_eq!(s, 400, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("limit"), "{b}");
    let (s, b) = app.get("auditor", "/v1/access?after=x").await;
    assert_eq!(s, 400, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("after"), "{b}");
    // Refused requests and bad ones record nothing: the first page read is the only entry
    // the next page shows.
    let (s, b) = app.get("auditor", "/v1/access").await;
    assert_eq!((s, b["entries"].as_array().unwrap().len()), (200, 0), "{b}");
    let (_, b) = app.get("auditor", "/v1/access").await;
    assert_eq!(b["entries"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["entries"][0]["action"], "read_access_log");
}

#[tokio::test]
async fn a_receiving_teams_404_is_recorded_as_a_refused_read() {
    let mut app = spawn_app();
    ready(&app).await;
    app.add_team_token("team-east", "AT East");
    let id = app.new_contact("practitioner").await;
    let (s, _) = app.get("team-east", &format!("/v1/contacts/{id}")).await;
    assert_eq!(s, 404);
    let (s, audit) = app.get("auditor", &format!("/v1/contacts/{id}/audit")).await;
    assert_eq!(s, 200, "{audit}");
    let access = audit["access"].as_array().unwrap();
    assert_eq!(access.len(), 1, "{audit}");
    assert_eq!(access[0]["action"], "read_contact_refused");
    assert_eq!(access[0]["actor"]["id"], "team-east");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_restore_both_chains_and_the_audit_trail() {
    let app = spawn_app();
    ready(&app).await;
    let id = app.new_contact("practitioner").await;
    for who in ["practitioner", "decision_maker"] {
        let (s, b) = app.get(who, &format!("/v1/contacts/{id}")).await;
        assert_eq!(s, 200, "{b}");
    }
    let backups = tempfile::tempdir().unwrap();
    let out = backups.path().join("backup.jsonl");
    let access_out = backups.path().join("backup.jsonl.access.jsonl");

    // A failed export (a token that may not read the log) leaves earlier files untouched.
    std::fs::write(&out, "earlier events\n").unwrap();
    std::fs::write(&access_out, "earlier access\n").unwrap();
    let source = ::replay::Source::Url { url: app.url.clone(), token: app.token("practitioner").to_owned() };
    let target = out.clone();
    let failed = tokio::task::spawn_blocking(move || ::replay::export::export_to_file(&source, &target)).await.unwrap();
    assert!(failed.is_err());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "earlier events\n");
    assert_eq!(std::fs::read_to_string(&access_out).unwrap(), "earlier access\n");

    let source = ::replay::Source::Url { url: app.url.clone(), token: app.token("auditor").to_owned() };
    let target = out.clone();
    let (events, access) =
        tokio::task::spawn_blocking(move || ::replay::export::export_to_file(&source, &target)).await.unwrap().unwrap();
    let access = access.expect("the service's access log is exported");
    assert_eq!(events.events, 1);
    // Two reads of the contact and the export's own page of the global log.
    assert!(access.entries >= 3, "{access:?}");

    // Stock tools: every line's hash is SHA-256(prev_hash ‖ the line without its hash).
    let text = std::fs::read_to_string(&access_out).unwrap();
    let mut prev = [0u8; 32];
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let hash = v["hash"].as_str().unwrap();
        let body = line.strip_suffix(&format!(",\"hash\":\"{hash}\"}}")).unwrap().to_owned() + "}";
        assert_eq!(v["prev_hash"].as_str().unwrap(), hex(&prev));
        let digest = sha256(&[&prev[..], body.as_bytes()].concat());
        assert_eq!(hex(&digest), hash, "{line}");
        prev = digest;
    }
    assert_eq!(hex(&prev), access.head.to_hex());

    // Restore into an empty directory and start a service on it: the contact's audit trail
    // shows the reads made before the backup.
    let restored = tempfile::tempdir().unwrap();
    let dir = restored.path().join("data");
    let (file, target) = (out.clone(), dir.clone());
    let (imported, imported_access) =
        tokio::task::spawn_blocking(move || ::replay::export::import(&file, &target)).await.unwrap().unwrap();
    assert_eq!(imported.head, events.head);
    assert_eq!(imported_access, Some(access));
    let token = create_token(&dir, "auditor", "auditor-restored", "childrens_social_care");
    let (mut child, url) = start(&dir, &[]);
    let response =
        reqwest::Client::new().get(format!("{url}/v1/contacts/{id}/audit")).bearer_auth(&token).send().await.unwrap();
    let (status, audit) = crate::harness::read(response).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{audit}");
    let readers: Vec<(&str, &str)> = audit["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["actor"]["id"].as_str().unwrap(), a["action"].as_str().unwrap()))
        .collect();
    assert_eq!(readers, [("practitioner", "read_contact"), ("decision_maker", "read_contact")], "{audit}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
