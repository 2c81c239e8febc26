//! The crash-test harness as a command: `eventlog-crash run --cycles N [--dir D] [--seed S]`
//! kills a child appender N times and reports what survived; `eventlog-crash child DIR` is the
//! child it runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use eventlog::crash::{CrashConfig, child_main, run_cycles};

const USAGE: &str =
    "usage: eventlog-crash run [--cycles N] [--dir DIR] [--seed S] [--max-run-ms MS]\n       eventlog-crash child DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("child") => match args.get(1) {
            Some(dir) => match child_main(&PathBuf::from(dir), 8) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("crash child: {e}");
                    ExitCode::from(3)
                }
            },
            None => usage(),
        },
        Some("run") => run(&args[1..]),
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn run(args: &[String]) -> ExitCode {
    let mut cycles = 1000u64;
    let mut dir: Option<PathBuf> = None;
    let mut seed = fastrand_seed();
    let mut max_run_ms = 400u64;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next();
        let parsed = match (flag.as_str(), value) {
            ("--cycles", Some(v)) => v.parse().map(|v| cycles = v).is_ok(),
            ("--dir", Some(v)) => {
                dir = Some(PathBuf::from(v));
                true
            }
            ("--seed", Some(v)) => v.parse().map(|v| seed = v).is_ok(),
            ("--max-run-ms", Some(v)) => v.parse().map(|v| max_run_ms = v).is_ok(),
            _ => false,
        };
        if !parsed {
            return usage();
        }
    }
    let temp;
    let work_dir = match dir {
        Some(d) => d,
        None => {
            temp = std::env::temp_dir().join(format!("frontdoor-crash-{}", std::process::id()));
            temp
        }
    };
    let child = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("crash test: {cycles} cycles, seed {seed}, logs under {}", work_dir.display());
    let report = run_cycles(&CrashConfig {
        child,
        child_args: vec!["child".into()],
        work_dir: work_dir.clone(),
        cycles,
        cycles_per_log: 25,
        max_run: Duration::from_millis(max_run_ms),
        seed,
    });
    print!("{report}");
    let _ = std::fs::remove_dir_all(&work_dir);
    if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn fastrand_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(1)
}
