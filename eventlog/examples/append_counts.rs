//! Counts (not timings) of the log's work, for a shared machine where timings are noise:
//!
//! - `append DIR N`: N appends of one event each by one writer into a new log in DIR, and
//!   per append: the bytes this process had written to storage (`/proc/self/io`
//!   `write_bytes`, the log's background threads included), its write calls (`syscw`), and the
//!   device's completed writes and sectors (`/proc/diskstats` for DIR's device: the whole
//!   device, so other work on the machine shows up too). A second after the last append is
//!   counted as well, so that background flushes of the appends are included.
//! - `concurrent DIR N W`: N appends of one event each by W tokio tasks (on a 2-worker
//!   runtime) into a new log in DIR, each task writing 20 events to a contact with
//!   `expected_version`, then starting a new contact (as `frontdoor-bench append` does), and
//!   the appends per second and mean events per group commit (appends per `fdatasync`, from
//!   the process's write calls).
//! - `build DIR N`: a log of N events (10 per contact, about 600-byte records) written with 256
//!   appends in flight.
//! - `open DIR`: opens the log in DIR and prints its head, the seconds it took and the peak
//!   RSS of the process (`VmHWM`).
//!
//! Instructions per append: run `append` under `valgrind --tool=callgrind` with two values of
//! N and divide the difference of the totals by the difference of N.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use eventlog::{Actor, AppendRequest, EventLog, NewEvent, Role};
use events::schema::{Agency, Event, NoteAdded};
use ulid::Ulid;

fn actor() -> Actor {
    Actor { id: "sw-bench".into(), role: Role::Practitioner, agency: Agency::ChildrensSocialCare, team: None }
}

fn request(contact: Ulid, i: u64, expected: Option<u32>) -> AppendRequest {
    let text = format!("synthetic note {i}: {}", "lorem ipsum dolor sit amet ".repeat(16));
    AppendRequest {
        contact_id: contact,
        events: vec![NewEvent::new(&Event::NoteAdded(NoteAdded { text }), Utc::now(), actor())],
        expected_version: expected,
        idempotency: None,
    }
}

fn proc_io() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse::<u64>().unwrap_or(0))).unwrap_or(0)
    };
    (field("write_bytes:"), field("syscw:"))
}

/// (completed writes, sectors written) of the block device holding `dir`.
fn disk(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00));
    let stats = std::fs::read_to_string("/proc/diskstats").ok()?;
    // A partition's figures, or the whole disk's when the file system sits on the disk itself.
    stats.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && f[0] == major.to_string() && f[1] == minor.to_string())
            .then(|| (f[7].parse().unwrap_or(0), f[9].parse().unwrap_or(0)))
    })
}

fn peak_rss_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: append_counts (append DIR N | concurrent DIR N W | build DIR N | open DIR)";
    let (command, dir) = (args.get(1).expect(usage), Path::new(args.get(2).expect(usage)));
    let n: u64 = args.get(3).map_or(0, |n| n.parse().expect(usage));
    match command.as_str() {
        "append" => {
            let log = EventLog::open(dir).unwrap();
            let contacts: Vec<Ulid> = (0..100).map(|_| Ulid::new()).collect();
            // Warm up: every contact exists, files are created.
            for (i, c) in contacts.iter().enumerate() {
                log.append_blocking(request(*c, i as u64, None)).unwrap();
            }
            std::thread::sleep(Duration::from_millis(1500));
            let (bytes0, calls0) = proc_io();
            let disk0 = disk(dir);
            let started = Instant::now();
            for i in 0..n {
                let contact = contacts[(i % 100) as usize];
                log.append_blocking(request(contact, i, None)).unwrap();
            }
            let seconds = started.elapsed().as_secs_f64();
            std::thread::sleep(Duration::from_millis(1500));
            let (bytes1, calls1) = proc_io();
            let disk1 = disk(dir);
            let per = |d: u64| d as f64 / n.max(1) as f64;
            println!(
                "appends {n}  seconds {seconds:.2}  write_bytes/append {:.0}  syscw/append {:.2}",
                per(bytes1 - bytes0),
                per(calls1 - calls0)
            );
            if let (Some((w0, s0)), Some((w1, s1))) = (disk0, disk1) {
                println!(
                    "device (whole, shared): writes/append {:.2}  KiB/append {:.2}",
                    per(w1 - w0),
                    per((s1 - s0) * 512) / 1024.0
                );
            }
            log.shutdown();
        }
        "concurrent" => {
            let writers: u64 = args.get(4).map_or(64, |w| w.parse().expect(usage));
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async {
                let log = EventLog::open(dir).unwrap();
                let (_, calls0) = proc_io();
                let started = Instant::now();
                let mut tasks = tokio::task::JoinSet::new();
                for w in 0..writers {
                    let log = log.clone();
                    let count = n / writers + u64::from(w < n % writers);
                    tasks.spawn(async move {
                        let (mut contact, mut version) = (Ulid::new(), 0u32);
                        for i in 0..count {
                            log.append(request(contact, i, Some(version))).await.unwrap();
                            version += 1;
                            if version == 20 {
                                (contact, version) = (Ulid::new(), 0);
                            }
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
                let seconds = started.elapsed().as_secs_f64();
                let (_, calls1) = proc_io();
                println!(
                    "appends {n}  writers {writers}  seconds {seconds:.2}  appends/s {:.0}  write calls/append {:.3}",
                    n as f64 / seconds,
                    (calls1 - calls0) as f64 / n.max(1) as f64
                );
                log.shutdown();
            });
        }
        "build" => {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
            runtime.block_on(async {
                let log = EventLog::open(dir).unwrap();
                let contacts = n.div_ceil(10);
                let mut tasks = tokio::task::JoinSet::new();
                for lane in 0..256u64 {
                    let log = log.clone();
                    tasks.spawn(async move {
                        let mut c = lane;
                        while c < contacts {
                            let contact = Ulid::new();
                            for v in 0..10u32 {
                                let i = c * 10 + u64::from(v);
                                if i >= n {
                                    break;
                                }
                                log.append(request(contact, i, Some(v))).await.unwrap();
                            }
                            c += 256;
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
                println!("built {} events", log.head().position);
                log.shutdown();
            });
        }
        "open" => {
            let before = peak_rss_kib();
            let started = Instant::now();
            let log = EventLog::open(dir).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            let head = log.head();
            println!(
                "opened {} events in {seconds:.2} s  peak RSS {} MiB (before opening {} MiB)",
                head.position,
                peak_rss_kib() / 1024,
                before / 1024
            );
            drop(log);
        }
        _ => panic!("{usage}"),
    }
}
