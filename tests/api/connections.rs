//! Connections and shutdown (issue 15, points 1 and 2): slow clients are timed out and capped
//! so they cannot starve the others, an oversized body is refused before it is sent, and
//! SIGTERM ends the event streams with a last comment, finishes what is in flight and exits 0.
//!
//! Raw TCP where the client's misbehaviour is the point (reqwest would send a whole request).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{TestApp, read, ready, spawn_app, spawn_app_with};
use crate::sse::SseReader;

fn address(app: &TestApp) -> String {
    app.url.strip_prefix("http://").unwrap().to_owned()
}

/// What came back on a connection before the server closed it, or `None` if it was still open
/// after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Opens a connection and sends the first half of a request's headers, never the rest.
async fn slow_client(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.unwrap();
    stream
}

/// Whether a fresh connection is served: a whole `GET /healthz` on it gets its 200, where a
/// connection past the cap is closed without an answer.
async fn served(address: &str) -> bool {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    let answer = until_closed(&mut stream, Duration::from_secs(5)).await.expect("an answer or a close, not a wait");
    answer.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(&["--header-read-timeout-secs", "1"]);
    let address = address(&app);
    let mut slow = slow_client(&address).await;
    let started = Instant::now();
    let answer = until_closed(&mut slow, Duration::from_secs(8)).await;
    assert!(answer.is_some(), "a connection with half its headers was still open after 8 s (timeout 1 s)");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before its time: {:?}", started.elapsed());

    // A kept-alive connection waiting idle for its next request is closed the same way.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let answer = until_closed(&mut idle, Duration::from_secs(8)).await.expect("an idle connection left open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_event_stream_outlives_the_header_and_body_timeouts() {
    let app = spawn_app_with(&["--header-read-timeout-secs", "1", "--body-timeout-secs", "1"]);
    ready(&app).await;
    let mut stream = SseReader::connect(&format!("{}/v1/queue/stream", app.url), app.token("practitioner"), None).await;
    assert_eq!(stream.next(Duration::from_secs(5)).await.expect("a snapshot").event, "snapshot");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let id = app.new_contact("referrer").await;
    let upsert = stream.next(Duration::from_secs(5)).await.expect("the stream was cut by a timeout");
    assert_eq!((upsert.event.as_str(), upsert.data["contact_id"].as_str()), ("upsert", Some(id.as_str())));
}

#[tokio::test]
async fn slow_clients_up_to_the_cap_do_not_starve_healthz_and_past_it_connections_are_closed_at_once() {
    let app = spawn_app_with(&["--max-connections", "64"]);
    let address = address(&app);
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(slow_client(&address).await);
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let health = client.get(format!("{}/healthz", app.url)).send().await.unwrap();
    assert_eq!(health.status(), 200, "50 slow clients held open, /healthz must still answer");

    while slow.len() < 64 {
        slow.push(slow_client(&address).await);
    }
    let started = Instant::now();
    assert!(!served(&address).await, "a 65th connection past a cap of 64 was served");
    assert!(started.elapsed() < Duration::from_secs(2), "refusing took {:?}: queued, not refused", started.elapsed());

    // The slow clients' slots come back as they leave.
    slow.truncate(40);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !served(&address).await {
        assert!(Instant::now() < deadline, "slots freed by 24 clients leaving were never reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An on-call person sees both on /metrics: the 40 slow connections (and this request's
    // own) open, and the refusal counted.
    let text = client
        .get(format!("{}/metrics", app.url))
        .bearer_auth(app.token("admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    let open = value("frontdoor_connections_open");
    assert!((41.0..=64.0).contains(&open), "connections open: {open}");
    assert!(value("frontdoor_connections_refused_total") >= 1.0, "the 65th connection was not counted");
}

#[tokio::test]
async fn a_content_length_over_the_body_limit_is_refused_before_the_body_is_sent() {
    let app = spawn_app();
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let head = format!(
        "POST /v1/contacts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n",
        app.token("referrer")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Not a byte of the 10 MB body is sent: the answer must come anyway.
    let answer = until_closed(&mut stream, Duration::from_secs(5)).await.expect("the server waited for the body");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-type: application/problem+json"), "{answer}");
    assert!(answer.contains("\"status\":413"), "{answer}");
}

#[tokio::test]
async fn a_body_trickled_past_the_body_timeout_fails_the_request() {
    let app = spawn_app_with(&["--body-timeout-secs", "1"]);
    let id = app.new_contact("referrer").await;
    let body = json!({"type": "note_added", "data": {"text": "never finished"}}).to_string();
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let head = format!(
        "POST /v1/contacts/{id}/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.token("practitioner"),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    let answer =
        until_closed(&mut stream, Duration::from_secs(8)).await.expect("a trickled body held the request open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-type: application/problem+json"), "{answer}");
    assert!(answer.contains("/docs#problem-request-timeout") && answer.contains("within 1 s"), "{answer}");
    let (_, events) = app.get("admin", &format!("/v1/contacts/{id}/events")).await;
    assert_eq!(events.as_array().unwrap().len(), 1, "nothing appended from half a body: {events}");
}

/// Reads an event stream to its end (or `within`), returning all it sent.
async fn read_to_end(mut response: reqwest::Response, within: Duration) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_both_event_streams_with_a_comment_finishes_an_append_in_flight_and_exits_0() {
    let mut app = spawn_app();
    ready(&app).await;
    let id = app.new_contact("referrer").await;
    let open = |path: &str, who: &str| {
        app.client.get(format!("{}{path}", app.url)).bearer_auth(app.token(who)).header("accept", "text/event-stream")
    };
    let queue = open("/v1/queue/stream", "decision_maker").send().await.unwrap();
    let events = open("/v1/events/stream", "auditor").send().await.unwrap();
    assert_eq!((queue.status().as_u16(), events.status().as_u16()), (200, 200));
    let queue = tokio::spawn(read_to_end(queue, Duration::from_secs(20)));
    let events = tokio::spawn(read_to_end(events, Duration::from_secs(20)));

    // An append in flight: its headers and half its body are in when SIGTERM comes.
    let body = json!({"type": "note_added", "data": {"text": "sent across the shutdown"}}).to_string();
    let mut append = TcpStream::connect(address(&app)).await.unwrap();
    let head = format!(
        "POST /v1/contacts/{id}/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.token("practitioner"),
        body.len()
    );
    append.write_all(head.as_bytes()).await.unwrap();
    append.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let kill = std::process::Command::new("kill").args(["-TERM", &app.pid().to_string()]).status().unwrap();
    assert!(kill.success());
    let (queue, events) = (queue.await.unwrap(), events.await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(5), "the streams ended only after {:?}", started.elapsed());
    assert!(queue.contains("event: snapshot"), "{queue}");
    assert!(queue.ends_with(": shutting down\n\n"), "the queue stream's last words: {queue:?}");
    assert!(events.contains("event: contact_received"), "{events}");
    assert!(events.ends_with(": shutting down\n\n"), "the events stream's last words: {events:?}");

    // No new connections now; the append in flight is finished.
    assert!(TcpStream::connect(address(&app)).await.is_err(), "still accepting after SIGTERM");
    append.write_all(&body.as_bytes()[10..]).await.unwrap();
    let answer = until_closed(&mut append, Duration::from_secs(5)).await.expect("the append in flight hung");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let exited = tokio::task::block_in_place(|| app.terminate(Duration::from_secs(5)));
    assert_eq!(exited, Some(true), "exit 0 within 5 s of SIGTERM (took {:?} so far)", started.elapsed());
    // The log was closed cleanly: it opens again with the append made across the shutdown.
    tokio::task::block_in_place(|| app.restart());
    let (status, stored) = read(
        app.client
            .get(format!("{}/v1/contacts/{id}/events", app.url))
            .bearer_auth(app.token("admin"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(stored.to_string().contains("sent across the shutdown"), "{stored}");
}
