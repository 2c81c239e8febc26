//! What every benchmark's report shares: medians and percentiles, the header (date, command,
//! machine, load), PASS/MISS lines, and writing its own section of `RESULTS.md` (between
//! `<!-- NAME:begin -->` and `<!-- NAME:end -->`, leaving the other sections as they are) and
//! its own CSV file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::machine::{BlockDevice, Measured, QuietPolicy, Quietness, load_average, machine_description};

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil();
    // `rank` is in 0..=len, a small whole number, so the conversion is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 <= rank <= len")]
    let index = (rank as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The median of `f` over the measurements, if `f` has a value for every one of them.
pub fn median_of<M>(ms: &[&M], f: impl Fn(&M) -> Option<f64>) -> Option<f64> {
    let values: Option<Vec<f64>> = ms.iter().map(|m| f(m)).collect();
    values.filter(|v| !v.is_empty()).map(median)
}

pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// A figure for a table, or `n/a`.
pub fn show(v: Option<f64>, decimals: usize) -> String {
    v.filter(|v| v.is_finite()).map(|v| format!("{v:.decimals$}")).unwrap_or_else(|| "n/a".into())
}

/// One line against a target: `- label: **value** (target …): **PASS**`.
pub fn verdict_line(label: &str, value: &str, target: &str, pass: bool) -> String {
    let verdict = if pass { "PASS" } else { "MISS" };
    format!("- {label}: **{value}** (target {target}): **{verdict}**\n")
}

/// The command as it was run, for the report.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run --release -p frontdoor-bench -- {}", args.join(" "))
}

/// What one benchmark run shares across its measurements and its report: the common flags'
/// settings, the device it measures, the load average around it, and where it reports.
#[derive(Debug)]
pub struct Session {
    pub quick: bool,
    pub runs: u32,
    pub quiet: QuietPolicy,
    device: Option<BlockDevice>,
    /// /proc/loadavg before and after the measurements.
    load: (Option<String>, Option<String>),
    output: Output,
}

impl Session {
    /// Starts a session measuring the device of `data`, and says the load average.
    pub fn start(quick: bool, runs: u32, quiet: QuietPolicy, data: &Path, output: Output) -> Session {
        let before = load_average();
        if let Some(load) = before.as_deref() {
            eprintln!("load average before: {load} (other work on this machine skews every figure)");
        }
        Session { quick, runs, quiet, device: BlockDevice::of(data), load: (before, None), output }
    }

    pub fn device(&self) -> Option<&BlockDevice> {
        self.device.as_ref()
    }

    /// One measurement under the session's quiet policy (see [`QuietPolicy::measure`]).
    pub fn measure<T: Measured>(&self, once: impl FnMut() -> Result<T>) -> Result<T> {
        self.quiet.measure(self.device(), once)
    }

    /// Marks the end of the measurements.
    pub fn finish(&mut self) {
        self.load.1 = load_average();
    }

    /// The start of a section: its title, the subcommand that writes it, the date, the command
    /// line, the machine, the load average (with what other work skews most) and the quiet
    /// policy.
    pub fn header(&self, title: &str, command: &str, data_dir: &str, skewed_by: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## {title}\n");
        if self.quick {
            let _ = writeln!(out, "**Quick smoke test: not a measurement.**\n");
        }
        let _ = writeln!(out, "Written by `frontdoor-bench {command}` (see `ops/bench/README.md`).\n");
        let _ = writeln!(out, "- date: {} UTC", Utc::now().format("%Y-%m-%d %H:%M:%S"));
        let _ = writeln!(out, "- command: `{}`", command_line());
        for (k, v) in machine_description(self.device(), data_dir) {
            let _ = writeln!(out, "- {k}: {v}");
        }
        if let (Some(before), Some(after)) = &self.load {
            let _ = writeln!(
                out,
                "- load average (1, 5, 15 min): {before} before, {after} after (other work on the \
                 machine, above all {skewed_by}, skews every figure)"
            );
        }
        let _ = writeln!(out, "- waiting for quiet: {}", self.quiet.describe());
        out
    }

    /// Writes `markdown` as the section `name` of `RESULTS.md`, and `csv` as `csv_name`.
    pub fn write(&self, name: &str, markdown: &str, csv_name: &str, csv: &str) -> Result<()> {
        self.output.write(name, markdown, csv_name, csv)
    }
}

/// The lines a report adds about measurements repeated, or started on a busy machine.
pub fn quiet_notes<'a>(measurements: impl IntoIterator<Item = (String, &'a Quietness)>) -> String {
    let mut retried = 0;
    let mut noisy = Vec::new();
    for (label, q) in measurements {
        retried += q.retries;
        if !q.quiet {
            noisy.push(label);
        }
    }
    let mut out = String::new();
    if retried > 0 {
        let _ = writeln!(out, "- measurements repeated because of other processes: {retried}");
    }
    if !noisy.is_empty() {
        let _ = writeln!(out, "- **started on a busy machine** (no quiet second in time): {}", noisy.join(", "));
    }
    out
}

/// The top of a new `RESULTS.md`.
const PREAMBLE: &str = "# frontdoor benchmarks\n\nWritten by `frontdoor-bench` (see `ops/bench/README.md`). \
     Each subcommand replaces only its own section, between `<!-- NAME:begin -->` and \
     `<!-- NAME:end -->`.\n";

/// `existing` with the section `name` replaced by `body` (or added at the end, or after the
/// preamble of a new file); everything outside the section's markers is kept as it is.
pub fn replace_section(existing: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let section = format!("{begin}\n{}\n{end}", body.trim_end());
    if let Some(start) = existing.find(&begin)
        && let Some(stop) = existing[start..].find(&end).map(|i| start + i + end.len())
    {
        return format!("{}{section}{}", &existing[..start], &existing[stop..]);
    }
    let head = if existing.trim().is_empty() { PREAMBLE } else { existing };
    format!("{}\n\n{section}\n", head.trim_end())
}

/// Where a benchmark writes its report.
#[derive(Debug, Clone)]
pub struct Output {
    pub dir: PathBuf,
}

impl Output {
    /// Writes `markdown` as the section `name` of `RESULTS.md`, and `csv` as `csv_name`.
    pub fn write(&self, name: &str, markdown: &str, csv_name: &str, csv: &str) -> Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let md_path = self.dir.join("RESULTS.md");
        let csv_path = self.dir.join(csv_name);
        let existing = match std::fs::read_to_string(&md_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", md_path.display())),
        };
        write_file(&md_path, &replace_section(&existing, name, markdown))?;
        write_file(&csv_path, csv)?;
        eprintln!("wrote the {name} section of {} and {}", md_path.display(), csv_path.display());
        Ok(())
    }
}

impl Output {
    /// Writes `markdown` as the section `name` of `RESULTS.md`, with no CSV of its own.
    pub fn write_section(&self, name: &str, markdown: &str) -> Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let md_path = self.dir.join("RESULTS.md");
        let existing = match std::fs::read_to_string(&md_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", md_path.display())),
        };
        write_file(&md_path, &replace_section(&existing, name, markdown))?;
        eprintln!("wrote the {name} section of {}", md_path.display());
        Ok(())
    }
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert!((median(vec![3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
        assert!((median(vec![4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-9);
    }

    #[test]
    fn a_section_replaces_only_itself() {
        let first = replace_section("", "append", "## Append\n\nold\n");
        assert!(first.starts_with("# frontdoor benchmarks"));
        let both = replace_section(&first, "rebuild", "## Rebuild\n\nr1");
        assert!(both.contains("old") && both.contains("r1"));
        let again = replace_section(&both, "append", "## Append\n\nnew");
        assert!(!again.contains("old") && again.contains("new") && again.contains("r1"));
        assert!(again.find("new") < again.find("r1"), "the section stays where it was");
        assert_eq!(replace_section(&again, "append", "## Append\n\nnew"), again, "idempotent");
    }

    #[test]
    fn a_file_without_markers_is_kept() {
        let legacy = "# Old report\n\nfigures\n";
        let out = replace_section(legacy, "sse", "## SSE");
        assert!(out.starts_with(legacy.trim_end()));
        assert!(out.contains("<!-- sse:begin -->\n## SSE\n<!-- sse:end -->"));
    }
}
