//! Kill -9 in the middle of appends, reopen, verify: no acknowledged event lost or corrupt.

use std::time::Duration;

use eventlog::crash::{CrashConfig, run_cycles};

#[test]
fn thirty_kills_lose_no_acknowledged_event() {
    let work = tempfile::tempdir().unwrap();
    let report = run_cycles(&CrashConfig {
        child: env!("CARGO_BIN_EXE_eventlog-crash").into(),
        child_args: vec!["child".into()],
        work_dir: work.path().to_path_buf(),
        cycles: 30,
        cycles_per_log: 10,
        max_run: Duration::from_millis(300),
        seed: 20261122,
    });
    println!("{report}");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.cycles, 30);
    // The harness must actually have been appending when it killed, or it proves nothing.
    assert!(report.acknowledged > 100, "too few acknowledged events to mean anything: {report}");
    assert!(report.events_verified >= report.acknowledged, "{report}");
}
