//! The read model's snapshot: written at a clean shutdown, private, loaded at the next start
//! when it is this build's and this log's (then only the events after it are folded), and
//! never used otherwise.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const FILE: &str = "read-model.snapshot";

/// Whether the server logged a line containing `what`: waits a while for it, since the
/// thread gathering the server's log may read it after the server has gone on.
fn logged(lines: &Logged, what: &str) -> bool {
    for _ in 0..200 {
        if lines.lock().unwrap().iter().any(|l| l.contains(what)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

async fn queue(app: &TestApp) -> Value {
    let (status, queue) = app.get("practitioner", "/v1/queue").await;
    assert_eq!(status, 200, "{queue}");
    queue
}

fn ids(queue: &Value) -> Vec<&str> {
    queue["items"].as_array().unwrap().iter().map(|i| i["contact_id"].as_str().unwrap()).collect()
}

fn stop(app: &mut TestApp) {
    let exited = tokio::task::block_in_place(|| app.terminate(Duration::from_secs(30)));
    assert_eq!(exited, Some(true), "a clean exit after SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_loads_the_snapshot_written_at_shutdown_then_folds_what_came_after() {
    let mut app = spawn_app();
    let first = app.new_contact("referrer").await;
    let second = app.new_contact("referrer").await;
    ready(&app).await;
    let before = queue(&app).await;
    assert_eq!(ids(&before).len(), 2);
    stop(&mut app);
    let file = app.dir.path().join(FILE);
    let mode = std::fs::metadata(&file).expect("a snapshot written at shutdown").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the snapshot holds children's data: private like the log");

    let log = tokio::task::block_in_place(|| app.restart_logging());
    ready(&app).await;
    assert!(logged(&log, "read model loaded from its snapshot"), "{:?}", log.lock().unwrap());
    assert!(!log.lock().unwrap().iter().any(|l| l.contains("read model rebuilt")));
    assert_eq!(queue(&app).await, before, "the same queue as before the restart");

    // A crash writes no snapshot: the next start loads the last one and folds the event since.
    let third = app.new_contact("referrer").await;
    tokio::task::block_in_place(|| app.kill());
    let log = tokio::task::block_in_place(|| app.restart_logging());
    ready(&app).await;
    assert!(logged(&log, "read model loaded from its snapshot"), "{:?}", log.lock().unwrap());
    assert!(logged(&log, "events_folded=1"), "{:?}", log.lock().unwrap());
    let after = queue(&app).await;
    let mut shown = ids(&after);
    shown.sort_unstable();
    let mut expected = vec![first.as_str(), second.as_str(), third.as_str()];
    expected.sort_unstable();
    assert_eq!(shown, expected, "the contact made after the snapshot is on the queue");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_or_another_logs_snapshot_is_not_used_and_the_model_is_rebuilt() {
    let mut app = spawn_app();
    app.new_contact("referrer").await;
    app.new_contact("referrer").await;
    ready(&app).await;
    let before = queue(&app).await;
    stop(&mut app);
    let file = app.dir.path().join(FILE);

    // One byte flipped in the middle of the model.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    // And what a shutdown killed while writing leaves: removed at the next start.
    let leftover = app.dir.path().join(".read-model.unfinished");
    std::fs::write(&leftover, b"half a snapshot").unwrap();
    let log = tokio::task::block_in_place(|| app.restart_logging());
    ready(&app).await;
    assert!(!leftover.exists(), "an unfinished snapshot's temporary file is removed at start");
    assert!(logged(&log, "snapshot is not used"), "{:?}", log.lock().unwrap());
    assert!(logged(&log, "read model rebuilt"), "{:?}", log.lock().unwrap());
    assert!(!file.exists(), "an unusable snapshot is removed");
    assert_eq!(queue(&app).await, before);

    // Another build's snapshot (its header's hash of the executable is not this binary's).
    stop(&mut app);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[16] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let log = tokio::task::block_in_place(|| app.restart_logging());
    ready(&app).await;
    assert!(logged(&log, "another build of frontdoor wrote it"), "{:?}", log.lock().unwrap());
    assert!(!file.exists(), "another build's snapshot is removed");
    assert_eq!(queue(&app).await, before);

    // Another log's snapshot, by the same build: its position's event is not this log's.
    let mut other = spawn_app();
    other.new_contact("referrer").await;
    ready(&other).await;
    stop(&mut other);
    stop(&mut app);
    std::fs::copy(other.dir.path().join(FILE), &file).unwrap();
    let log = tokio::task::block_in_place(|| app.restart_logging());
    ready(&app).await;
    assert!(logged(&log, "is not the one it was taken at"), "{:?}", log.lock().unwrap());
    assert!(logged(&log, "read model rebuilt"));
    assert_eq!(queue(&app).await, before);

    // A snapshot taken beyond the log's head (the log restored from an older backup).
    stop(&mut app);
    let mut longer = spawn_app();
    for _ in 0..4 {
        longer.new_contact("referrer").await;
    }
    ready(&longer).await;
    stop(&mut longer);
    std::fs::copy(longer.dir.path().join(FILE), &file).unwrap();
    let log = tokio::task::block_in_place(|| app.restart_logging());
    ready(&app).await;
    assert!(logged(&log, "beyond the log's head"), "{:?}", log.lock().unwrap());
    assert_eq!(queue(&app).await, before);
}

/// A snapshot that would eat into the free space kept in reserve for the log's appends is not
/// kept: the appends matter more than a fast start.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_that_would_leave_less_than_the_reserve_free_is_not_kept() {
    let mut app = spawn_app();
    app.new_contact("referrer").await;
    ready(&app).await;
    let before = queue(&app).await;
    stop(&mut app);
    let file = app.dir.path().join(FILE);
    assert!(file.exists());
    // A reserve no disk has: the start still reads the snapshot (reading takes no space) ...
    let log = tokio::task::block_in_place(|| app.restart_logging_with(&["--min-free-mb", "1000000000"]));
    ready(&app).await;
    assert!(logged(&log, "read model loaded from its snapshot"), "{:?}", log.lock().unwrap());
    assert_eq!(queue(&app).await, before);
    // ... but the shutdown keeps none, says why, and leaves no temporary file behind.
    stop(&mut app);
    assert!(logged(&log, "not kept"), "{:?}", log.lock().unwrap());
    assert!(!file.exists(), "no snapshot under the reserve");
    let leftovers: Vec<_> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".read-model."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
