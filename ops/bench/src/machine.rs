//! The machine every benchmark runs on: its block device and CPU counters, waiting for a quiet
//! machine before a measurement (and repeating one that other processes disturbed), and what
//! a report says about the machine.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

/// Other processes' CPU (percent of one CPU, user mode) above which a measurement is repeated.
pub const NOISY_OTHERS_PCT: f64 = 20.0;
/// A quiet second: at most this many device write requests ...
const QUIET_WRITES: u64 = 20;
/// ... and other processes using at most this share of one CPU (percent, user mode).
const QUIET_CPU_PCT: f64 = 15.0;

/// How a benchmark waits for a quiet machine before each measurement, and how often it
/// repeats a measurement during which other processes were busy.
#[derive(Debug, Clone, Copy)]
pub struct QuietPolicy {
    /// The longest wait for a quiet second; zero: don't wait.
    pub wait: Duration,
    /// Repeats of a disturbed measurement; the last attempt is kept regardless.
    pub max_retries: u32,
}

/// How a kept measurement went as far as the rest of the machine is concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quietness {
    /// How long it waited for a quiet machine before it started.
    pub waited: Duration,
    /// Whether it got one.
    pub quiet: bool,
    /// Earlier attempts thrown away because other processes were busy during them.
    pub retries: u32,
}

impl Quietness {
    /// The CSV columns [`Self::csv`] fills.
    pub const CSV_HEADER: &'static str = "waited_s,quiet_before,retries";

    pub fn csv(&self) -> String {
        format!("{:.1},{},{}", self.waited.as_secs_f64(), self.quiet, self.retries)
    }
}

/// How the machine behaved during one measurement: the window it covers, the CPU used in that
/// window, and the quiet before it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed {
    pub window: Duration,
    pub cpu: Option<CpuDelta>,
    pub quietness: Quietness,
}

impl Observed {
    pub fn new(window: Duration, cpu: Option<CpuDelta>) -> Observed {
        Observed { window, cpu, quietness: Quietness::default() }
    }

    /// The share of one CPU (percent, user mode) other processes used during it.
    pub fn others_pct(&self) -> Option<f64> {
        self.cpu.and_then(|c| c.others_pct(self.window))
    }
}

/// A measurement the quiet policy can judge (by what other processes did meanwhile) and
/// annotate (with how long it waited for quiet, and how often it was repeated).
pub trait Measured {
    fn observed(&mut self) -> &mut Observed;
}

impl QuietPolicy {
    /// Runs `once` after waiting for a quiet machine, and again (up to `max_retries` times)
    /// while other processes used more than [`NOISY_OTHERS_PCT`] of one CPU during it.
    pub fn measure<T: Measured>(&self, device: Option<&BlockDevice>, mut once: impl FnMut() -> Result<T>) -> Result<T> {
        let mut retries = 0;
        loop {
            let (waited, quiet) = wait_for_quiet(device, self.wait);
            if !quiet {
                eprintln!("the machine is still busy after {} s: measuring anyway", self.wait.as_secs());
            }
            let mut measured = once()?;
            let observed = measured.observed();
            let others = observed.others_pct().unwrap_or(0.0);
            if others <= NOISY_OTHERS_PCT || retries >= self.max_retries {
                observed.quietness = Quietness { waited, quiet, retries };
                return Ok(measured);
            }
            eprintln!("other processes used {others:.0}% of a CPU during that measurement: repeating it");
            retries += 1;
        }
    }

    /// The method sentence a report gives for this policy.
    pub fn describe(&self) -> String {
        if self.wait.is_zero() && self.max_retries == 0 {
            return "none: measurements start at once and are never repeated".into();
        }
        format!(
            "Before each measurement it waits (up to {} s) for a quiet second (at most {QUIET_WRITES} \
             device writes, other processes using at most {QUIET_CPU_PCT}% of one CPU), and a \
             measurement during which other processes used more than {NOISY_OTHERS_PCT}% of one CPU \
             is repeated (up to {} times, the last attempt kept).",
            self.wait.as_secs(),
            self.max_retries
        )
    }
}

/// Waits until, over one second, the device sees at most `QUIET_WRITES` write requests and
/// other processes use at most `QUIET_CPU_PCT` of one CPU in user mode, or `max_wait` has passed.
/// Returns how long it waited and whether the machine was quiet.
fn wait_for_quiet(device: Option<&BlockDevice>, max_wait: Duration) -> (Duration, bool) {
    let start = Instant::now();
    if max_wait.is_zero() {
        return (Duration::ZERO, true);
    }
    loop {
        let before = Counters::read(device);
        std::thread::sleep(Duration::from_secs(1));
        let (io, cpu) = Counters::read(device).since(Some(&before));
        let disk_quiet = io.is_none_or(|io| io.writes <= QUIET_WRITES);
        let cpu_quiet = cpu.and_then(|c| c.others_pct(Duration::from_secs(1))).is_none_or(|p| p <= QUIET_CPU_PCT);
        if disk_quiet && cpu_quiet {
            return (start.elapsed(), true);
        }
        if start.elapsed() >= max_wait {
            return (start.elapsed(), false);
        }
    }
}

/// The block device (and filesystem) a directory lives on, from /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub struct BlockDevice {
    major: u64,
    minor: u64,
    source: String,
    fstype: String,
    mount_point: String,
}

/// The device's and the process's counters at one moment.
#[derive(Debug, Clone)]
pub struct Counters {
    disk: Option<DiskStats>,
    cpu: Option<CpuTimes>,
}

impl Counters {
    pub fn read(device: Option<&BlockDevice>) -> Counters {
        Self::read_with(device, None)
    }

    /// Like [`read`](Self::read), counting the process `helper` (a server this benchmark
    /// started) as part of this one rather than as another process.
    pub fn read_with(device: Option<&BlockDevice>, helper: Option<u32>) -> Counters {
        Self::read_with_all(device, helper.as_slice())
    }

    /// Like [`read_with`](Self::read_with), with any number of helper processes (a database
    /// server's processes, say), whose times are added up.
    pub fn read_with_all(device: Option<&BlockDevice>, helpers: &[u32]) -> Counters {
        Counters { disk: device.and_then(BlockDevice::stats), cpu: CpuTimes::read(helpers) }
    }

    pub fn since(&self, earlier: Option<&Counters>) -> (Option<IoDelta>, Option<CpuDelta>) {
        let Some(earlier) = earlier else { return (None, None) };
        let io = self.disk.zip(earlier.disk).map(|(b, a)| b.since(&a));
        let cpu = self.cpu.zip(earlier.cpu).map(|(b, a)| {
            let process_ns = b.process_ns.saturating_sub(a.process_ns);
            CpuDelta {
                process_ns,
                writer_ns: b.writer_ns.saturating_sub(a.writer_ns),
                helper_ns: b.helper_ns.zip(a.helper_ns).map(|(b, a)| b.saturating_sub(a)),
                others_ns: b.machine_user_ns.zip(a.machine_user_ns).zip(b.own_user_ns.zip(a.own_user_ns)).map(
                    |((machine_b, machine_a), (own_b, own_a))| {
                        machine_b.saturating_sub(machine_a).saturating_sub(own_b.saturating_sub(own_a))
                    },
                ),
            }
        });
        (io, cpu)
    }
}

/// CPU time on the clock (ns) of every thread of this process, and of the log's writer thread,
/// from /proc/self/task/*/schedstat (threads that end in between are not counted; none does
/// during a measurement).
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    process_ns: u64,
    writer_ns: u64,
    /// Time on the CPU of the helper processes (a server this benchmark started, a database's
    /// processes): from their threads' schedstat, in ns (the 10 ms ticks of user and system time
    /// would round a database backend's few ms a second to nothing), else user + system time.
    helper_ns: Option<u64>,
    /// User-mode time of the whole machine and of this process with its reaped children and
    /// its helper (/proc/stat, /proc/<pid>/stat): their difference is other processes' work
    /// (the kernel's own I/O threads, which this process's appends keep busy, run in kernel
    /// mode and are left out).
    machine_user_ns: Option<u64>,
    own_user_ns: Option<u64>,
}

/// CPU time used between two readings.
#[derive(Debug, Clone, Copy)]
pub struct CpuDelta {
    pub process_ns: u64,
    pub writer_ns: u64,
    /// CPU (user and system) used by the helper process, if there is one.
    pub helper_ns: Option<u64>,
    /// User-mode CPU used by other processes on the machine.
    pub others_ns: Option<u64>,
}

/// A share of one core, in percent, of `ns` over `window`.
pub fn pct_of(ns: u64, window: Duration) -> f64 {
    ns as f64 / window.as_nanos().max(1) as f64 * 100.0
}

impl CpuDelta {
    pub fn process_pct(&self, window: Duration) -> f64 {
        pct_of(self.process_ns, window)
    }

    pub fn writer_pct(&self, window: Duration) -> f64 {
        pct_of(self.writer_ns, window)
    }

    pub fn helper_pct(&self, window: Duration) -> Option<f64> {
        self.helper_ns.map(|ns| pct_of(ns, window))
    }

    pub fn others_pct(&self, window: Duration) -> Option<f64> {
        self.others_ns.map(|ns| pct_of(ns, window))
    }

    pub fn describe(&self, window: Duration) -> String {
        let writer =
            if self.writer_ns > 0 { format!(" (writer {:.0}%)", self.writer_pct(window)) } else { String::new() };
        let helper = self.helper_pct(window).map(|p| format!(", server {p:.0}%")).unwrap_or_default();
        let others = self.others_pct(window).map(|p| format!(", others {p:.0}%")).unwrap_or_default();
        format!(", CPU {:.0}%{writer}{helper}{others}", self.process_pct(window))
    }
}

impl CpuTimes {
    /// The log's writer thread's name, as `std::thread::Builder::name` sets it in eventlog.
    const WRITER_THREAD: &'static str = "eventlog-writer";

    fn read(helpers: &[u32]) -> Option<CpuTimes> {
        let helper_times: Vec<(u32, ProcessTimes)> =
            helpers.iter().filter_map(|&pid| process_times(&pid.to_string()).map(|t| (pid, t))).collect();
        let helper_user_ns: u64 = helper_times.iter().map(|(_, h)| h.user_ns).sum();
        let own_user_ns = process_times("self").map(|t| t.user_ns + t.children_user_ns + helper_user_ns);
        let mut times = CpuTimes {
            process_ns: 0,
            writer_ns: 0,
            helper_ns: (!helper_times.is_empty())
                .then(|| helper_times.iter().map(|(pid, h)| on_cpu_ns(*pid).unwrap_or(h.user_ns + h.system_ns)).sum()),
            machine_user_ns: machine_user_ns(),
            own_user_ns,
        };
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let path = entry.ok()?.path();
            let Ok(schedstat) = std::fs::read_to_string(path.join("schedstat")) else { continue };
            let ns: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
            times.process_ns += ns;
            if std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == Self::WRITER_THREAD) {
                times.writer_ns += ns;
            }
        }
        Some(times)
    }
}

/// Time on the CPU so far of every thread of process `pid`, in ns, from
/// /proc/<pid>/task/*/schedstat (threads that ended are not counted).
fn on_cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(schedstat) = std::fs::read_to_string(entry.ok()?.path().join("schedstat")) else { continue };
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// /proc's CPU times are in USER_HZ ticks: 100 per second on Linux whatever the kernel's tick.
const NS_PER_TICK: u64 = 10_000_000;

/// User-mode time of all the machine's CPUs so far (user + nice, which include guest time), in
/// ns, from the first line of /proc/stat.
fn machine_user_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).take(2).filter_map(|v| v.parse().ok()).collect();
    Some(ticks.iter().sum::<u64>() * NS_PER_TICK)
}

/// A process's CPU times so far, in ns.
#[derive(Debug, Clone, Copy)]
pub struct ProcessTimes {
    pub user_ns: u64,
    pub system_ns: u64,
    /// User time of its children that have ended and been waited for.
    pub children_user_ns: u64,
}

/// utime, stime and cutime (fields 14, 15 and 16) of /proc/<pid>/stat; `pid` may be `self`.
pub fn process_times(pid: &str) -> Option<ProcessTimes> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_comm = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).map(|t| t * NS_PER_TICK);
    Some(ProcessTimes { user_ns: ticks(11)?, system_ns: ticks(12)?, children_user_ns: ticks(13)? })
}

/// The peak resident set size of this process so far, in KiB (VmHWM of /proc/self/status).
pub fn peak_rss_kib() -> Option<u64> {
    let value = first_line_value("/proc/self/status", "VmHWM")?;
    value.trim_end_matches("kB").trim().parse().ok()
}

/// What `du` says: the bytes allocated on disk to the files under `dir`.
pub fn allocated_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { allocated_bytes(&entry.path())? } else { meta.blocks() * 512 };
    }
    Ok(total)
}

/// Counters from /proc/diskstats.
#[derive(Debug, Clone, Copy)]
struct DiskStats {
    writes: u64,
    sectors_written: u64,
    flushes: u64,
}

/// What the device did between two readings.
#[derive(Debug, Clone, Copy)]
pub struct IoDelta {
    pub writes: u64,
    pub kib_written: f64,
    pub flushes: u64,
}

impl IoDelta {
    pub fn describe_per_op(&self, ops: u64) -> String {
        let ops = ops.max(1) as f64;
        format!(
            "  | device per append: {:.2} writes, {:.1} KiB, {:.2} flushes",
            self.writes as f64 / ops,
            self.kib_written / ops,
            self.flushes as f64 / ops
        )
    }
}

impl DiskStats {
    fn since(&self, earlier: &DiskStats) -> IoDelta {
        IoDelta {
            writes: self.writes.saturating_sub(earlier.writes),
            kib_written: self.sectors_written.saturating_sub(earlier.sectors_written) as f64 / 2.0,
            flushes: self.flushes.saturating_sub(earlier.flushes),
        }
    }
}

impl BlockDevice {
    pub fn of(dir: &Path) -> Option<BlockDevice> {
        let dev = std::fs::metadata(dir).ok()?.dev();
        // Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor).
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let wanted = format!("{major}:{minor}");
        // Fields: id parent major:minor root mount-point options [optional...] - fstype source ...
        mountinfo.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            (left.get(2) == Some(&wanted.as_str())).then(|| BlockDevice {
                major,
                minor,
                source: right.get(1).unwrap_or(&"?").to_string(),
                fstype: right.first().unwrap_or(&"?").to_string(),
                mount_point: left.get(4).unwrap_or(&"?").to_string(),
            })
        })
    }

    /// The device's counters now; `None` if it has none (e.g. tmpfs, overlay).
    fn stats(&self) -> Option<DiskStats> {
        let text = std::fs::read_to_string("/proc/diskstats").ok()?;
        text.lines().find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let major: u64 = f.first()?.parse().ok()?;
            let minor: u64 = f.get(1)?.parse().ok()?;
            if (major, minor) != (self.major, self.minor) {
                return None;
            }
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
            Some(DiskStats {
                writes: field(7)?,
                sectors_written: field(9)?,
                // Flush requests completed: kernel 5.5 and later.
                flushes: field(18).unwrap_or(0),
            })
        })
    }

    fn write_cache(&self) -> Option<String> {
        let path = format!("/sys/dev/block/{}:{}/queue/write_cache", self.major, self.minor);
        std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
    }
}

fn first_line_value(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
}

/// The 1-, 5- and 15-minute load averages from /proc/loadavg.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The number of CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map(std::num::NonZero::get).unwrap_or(1)
}

pub fn machine_description(device: Option<&BlockDevice>, data_dir: &str) -> Vec<(String, String)> {
    let cpu = first_line_value("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".into());
    let memory = first_line_value("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default();
    let mut rows = vec![
        ("CPUs (nproc)".to_string(), cpus().to_string()),
        ("CPU".to_string(), cpu),
        ("memory".to_string(), memory),
        ("kernel".to_string(), format!("Linux {kernel}")),
        ("data dir".to_string(), data_dir.to_string()),
    ];
    if let Some(d) = device {
        let cache = d.write_cache().map(|c| format!(", write cache: {c}")).unwrap_or_default();
        rows.push((
            "filesystem".to_string(),
            format!(
                "{} on {} (device {}:{}), mounted at `{}`{cache}",
                d.fstype, d.source, d.major, d.minor, d.mount_point
            ),
        ));
    }
    rows
}
