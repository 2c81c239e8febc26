//! `--url`: the binary reads a running service (the real HTTP API, served in this test's
//! process on the fixture log) page by page, and gives the same answers as from the export;
//! a token that may not read the global log is exit 3.

mod common;

use common::*;
use eventlog::{Actor, EventLog, Role};
use events::schema::Agency;

struct Served {
    url: String,
    auditor: String,
    practitioner: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(dir: std::path::PathBuf) -> Served {
    let tokens = frontdoor::auth::TokenStore::open(&dir).unwrap();
    let (_, auditor) = tokens
        .create(Actor { id: "qa".into(), role: Role::Auditor, agency: Agency::ChildrensSocialCare, team: None })
        .unwrap();
    let (_, practitioner) = tokens
        .create(Actor { id: "sw".into(), role: Role::Practitioner, agency: Agency::ChildrensSocialCare, team: None })
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let log = EventLog::open(&dir).unwrap();
            let config = frontdoor::config::Config::with_data_dir(&dir);
            let state = frontdoor::http::AppState::new(log.clone(), tokens, config);
            state.set_ready();
            tokio::spawn(state.live().clone().run(log.clone(), frontdoor::snapshot::Pending::none()));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            frontdoor::http::serve(listener, state, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
            log.shutdown();
        });
    });
    let addr = addr_rx.recv().unwrap();
    Served { url: format!("http://{addr}"), auditor, practitioner, stop: Some(stop), thread: Some(thread) }
}

#[test]
fn the_binary_reads_a_running_service_and_agrees_with_the_export() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(fixture_copy(tmp.path()));
    let file = dir_string(&fixture_file());

    let out = run(&["verify", "--url", &served.url, "--token", &served.auditor]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let from_file = run(&["verify", "--file", &file]);
    let count = |o: &std::process::Output| stdout(o).split(" events").next().unwrap().to_owned();
    assert_eq!(count(&out), count(&from_file));

    for args in [
        vec!["as-of", "--position", "2500", "--json"],
        vec!["annex-a", "--list", "3", "--from", "2026-02-01", "--to", "2026-03-31"],
        vec!["case", &REFERRAL.to_string()],
    ]
    .iter()
    .map(|a| a.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>())
    {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut remote = vec![args[0], "--url", &served.url, "--token", &served.auditor];
        remote.extend(&args[1..]);
        let mut local = vec![args[0], "--file", &file];
        local.extend(&args[1..]);
        let (r, l) = (run(&remote), run(&local));
        assert_eq!(r.status.code(), Some(0), "{args:?}: {}", stderr(&r));
        assert_eq!(r.stdout, l.stdout, "{args:?} over --url and from the export");
    }

    let out = run(&["verify", "--url", &served.url, "--token", &served.practitioner]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    let out = run(&["verify", "--url", &served.url, "--token", "nonsense"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = run(&["verify", "--url", "http://127.0.0.1:9", "--token", "x"]);
    assert_eq!(out.status.code(), Some(3), "unreachable: {}", stderr(&out));
}

fn dir_string(p: &std::path::Path) -> String {
    p.to_str().unwrap().to_owned()
}

#[test]
fn an_export_over_http_that_fails_keeps_the_last_good_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(fixture_copy(tmp.path()));
    let backups = tmp.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let backup = backups.join("frontdoor.jsonl");
    let older = older_backup(&backup);
    let out_arg = dir_string(&backup);

    for (token, why) in [("nonsense", "401"), (served.practitioner.as_str(), "403")] {
        let out = run(&["export", "--url", &served.url, "--token", token, "--out", &out_arg]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
        assert_eq!(std::fs::read(&backup).unwrap(), older, "a refused token ({why}) leaves the backup");
        assert_eq!(names_in(&backups), ["frontdoor.jsonl"]);
    }

    // A connection that breaks after the first page has been written out.
    let broken = break_after_first_page();
    let out = run(&["export", "--url", &broken, "--token", "x", "--out", &out_arg]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("after=1000"), "broken while reading the second page: {}", stderr(&out));
    assert_eq!(std::fs::read(&backup).unwrap(), older, "a broken connection leaves the backup");
    assert_eq!(names_in(&backups), ["frontdoor.jsonl"]);

    let out = run(&["export", "--url", &served.url, "--token", &served.auditor, "--out", &out_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&backup).unwrap(), std::fs::read(fixture_file()).unwrap(), "replaced by the new export");
    // With the service's access log beside it, which holds the export's own pages of the log.
    assert_eq!(names_in(&backups), ["frontdoor.jsonl", "frontdoor.jsonl.access.jsonl"]);
    let access = std::fs::read_to_string(backups.join("frontdoor.jsonl.access.jsonl")).unwrap();
    assert!(access.lines().any(|l| l.contains("\"action\":\"read_log\"")), "{access}");
    let out = run(&["verify", "--file", &dir_string(&backups.join("frontdoor.jsonl.access.jsonl"))]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A stand-in for the service that answers the first page of `GET /v1/events` (the fixture's
/// first 1,000 events) and then cuts the second answer off in the middle of its body.
fn break_after_first_page() -> String {
    use std::io::{BufRead, BufReader, Write};
    let text = std::fs::read_to_string(fixture_file()).unwrap();
    let first: Vec<&str> = text.lines().take(1000).collect();
    let page = format!("{{\"events\":[{}],\"next_after\":1000}}", first.join(","));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                line.clear();
            }
            // The first answer whole; the second promises as much but sends half, then closes.
            let body = if n == 0 { page.as_bytes() } else { &page.as_bytes()[..page.len() / 2] };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                page.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
            let _ = stream.flush();
        }
    });
    format!("http://{addr}")
}
