//! The replay tool against the real server: `frontdoor-replay`'s library reads the demo
//! county's log over `GET /v1/events` (as `--url` does), verifies it, and its as-of agrees
//! with the service's `GET /v1/as-of` for the same positions and times: the same queue
//! items in the same order, the same timeliness.

use ::replay::Source;
use ::replay::asof::Moment;
use projections::time::DuePolicy;

use crate::harness::{ready, spawn_app_with};

/// Runs blocking replay code (its HTTP client is blocking) off the async test's thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Our answer as JSON text read back, exactly as the service's answer is read: serde_json's
/// default float parser may land one unit in the last place away from the value written,
/// so both sides go through the same text → number step (the texts themselves agree).
fn as_parsed(answer: &::replay::asof::AsOf) -> serde_json::Value {
    serde_json::from_str(&serde_json::to_string(answer).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_as_of_agrees_with_the_service_over_the_demo_log() {
    let app = spawn_app_with(&["--demo"]);
    ready(&app).await;
    let head = app.head().await;
    assert!(head > 1000, "the demo fills the log: {head}");
    let source = Source::Url { url: app.url.clone(), token: app.token("auditor").to_owned() };

    let verified = {
        let source = source.clone();
        blocking(move || ::replay::verify::verify(&source)).await.unwrap()
    };
    assert_eq!(verified.events, head);

    let mut times = Vec::new();
    for position in [1, 2, 137, head / 3, head / 2, head - 1, head] {
        let (status, service) = app.get("auditor", &format!("/v1/as-of?position={position}")).await;
        assert_eq!(status, 200, "{service}");
        let ours = {
            let source = source.clone();
            blocking(move || ::replay::asof::as_of(&source, Moment::Position(position), &DuePolicy::default()))
                .await
                .unwrap()
        };
        let ours = as_parsed(&ours);
        assert_eq!(ours["as_of_position"], position);
        assert_eq!(service["as_of_time"], ours["as_of_time"], "position {position}");
        assert_eq!(service["queue"], ours["queue"], "the queue at position {position}");
        assert_eq!(service["timeliness"], ours["timeliness"], "timeliness at position {position}");
        assert_eq!(service, ours, "the whole answer at position {position}");
        times.push(ours["as_of_time"].as_str().unwrap().to_owned());
    }
    // By time, too (every event recorded at or before it).
    for at in [&times[2], &times[4]] {
        let (status, service) = app.get("auditor", &format!("/v1/as-of?at={at}")).await;
        assert_eq!(status, 200, "{service}");
        let moment = Moment::At(at.parse().unwrap());
        let ours = {
            let source = source.clone();
            blocking(move || ::replay::asof::as_of(&source, moment, &DuePolicy::default())).await.unwrap()
        };
        assert_eq!(service, as_parsed(&ours), "as of {at}");
    }

    // A token that may not read the global log is a remote error, not a verification failure.
    let source = Source::Url { url: app.url.clone(), token: app.token("practitioner").to_owned() };
    let err = blocking(move || ::replay::verify::verify(&source)).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
}
