//! `frontdoor-bench summary`: the log's speed and memory table (issue 14), from the figures
//! `append`, `rebuild` and `reads` wrote in this run (their CSVs in the output directory),
//! beside the same measures computed the same way from the figures of the sled-based log
//! (`ops/bench/sled-2026-11-22/`, the CSVs and report of the run of 2026-11-22). It measures
//! nothing itself: `ops/bench/run.sh` runs it last.
//!
//! Every ratio is of medians across the run's repetitions, both sides from the same run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;

use crate::report::{command_line, median};
use crate::{BENCH_DIR, CommonArgs};

/// The directory holding the sled-based log's committed figures.
const OLD_DIR: &str = "sled-2026-11-22";
/// The size the issue's start-up measures are stated for.
const SIZE_5M: f64 = 5_000_000.0;

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// The old figures (default: `ops/bench/sled-2026-11-22`).
    #[arg(long)]
    old: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// A CSV as rows of column → value (the benchmarks' CSVs quote nothing).
#[derive(Debug, Default)]
struct Csv {
    rows: Vec<HashMap<String, String>>,
    /// When the file was written.
    written: Option<DateTime<Utc>>,
}

impl Csv {
    fn read(path: &Path) -> Result<Csv> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let written = std::fs::metadata(path).and_then(|m| m.modified()).ok().map(DateTime::<Utc>::from);
        Ok(Csv { written, ..Csv::parse(&text) })
    }

    fn parse(text: &str) -> Csv {
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap_or_default().split(',').map(str::to_owned).collect();
        let rows = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| header.iter().cloned().zip(l.split(',').map(str::to_owned)).collect())
            .collect();
        Csv { rows, written: None }
    }

    /// The median of `column` over the rows where every `(column, value)` of `filter` holds.
    fn median(&self, filter: &[(&str, &str)], column: &str) -> Option<f64> {
        let values: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| filter.iter().all(|(k, v)| r.get(*k).map(String::as_str) == Some(*v)))
            .filter_map(|r| r.get(column)?.parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .collect();
        (!values.is_empty()).then(|| median(values))
    }

    /// The largest value of `column` (the largest log size measured).
    fn max(&self, column: &str) -> Option<f64> {
        self.rows.iter().filter_map(|r| r.get(column)?.parse::<f64>().ok()).reduce(f64::max)
    }
}

/// The three benchmarks' figures of one run.
#[derive(Debug, Default)]
struct Run {
    append: Csv,
    rebuild: Csv,
    reads: Csv,
    /// The whole data directory's bytes over the records' bytes, when the CSVs lack it (the
    /// old run's report states it).
    disk_ratio_from_report: Option<f64>,
}

/// The measures of the table, computed alike from either run.
#[derive(Debug, Clone, Copy, Default)]
struct Measures {
    one_writer_of_raw: Option<f64>,
    x64_of_group: Option<f64>,
    x64_of_pg: Option<f64>,
    http64_of_pg: Option<f64>,
    rebuild_of_pg: Option<f64>,
    /// The start-up rebuild against the same rebuild with PostgreSQL as the log.
    rebuild_of_pg_fold: Option<f64>,
    /// The size the start-up rows were measured at.
    size: Option<f64>,
    /// The server's own peak RSS, MB (10^6 bytes), and exec to `/readyz` 200, s.
    serve_rss_mb: Option<f64>,
    serve_ready_s: Option<f64>,
    /// The same, the server started from the read model's snapshot.
    snapshot_rss_mb: Option<f64>,
    snapshot_ready_s: Option<f64>,
    /// The same for the rebuild in a bench process (what the old log measured).
    rebuild_rss_mb: Option<f64>,
    rebuild_open_s: Option<f64>,
    disk_ratio: Option<f64>,
    contact_p99_ms: Option<f64>,
}

impl Run {
    fn read(dir: &Path) -> Result<Run> {
        Ok(Run {
            append: Csv::read(&dir.join("results-append.csv"))?,
            rebuild: Csv::read(&dir.join("results-rebuild.csv"))?,
            reads: Csv::read(&dir.join("results-reads.csv"))?,
            disk_ratio_from_report: None,
        })
    }

    fn measures(&self) -> Measures {
        let rate = |contender: &str| self.append.median(&[("contender", contender)], "appends_per_s");
        let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
        let size = self.rebuild.max("events");
        let size_text = size.map(|s| format!("{s:.0}")).unwrap_or_default();
        let at = |phase: &str, column: &str| self.rebuild.median(&[("phase", phase), ("events", &size_text)], column);
        let mib_to_mb = |m: f64| m * 1024.0 * 1024.0 / 1e6;
        let record_bytes = at("frames", "record_bytes").or_else(|| at("sled", "record_bytes"));
        Measures {
            one_writer_of_raw: ratio(rate("eventlog x1"), rate("raw fsync")),
            x64_of_group: ratio(rate("eventlog x64"), rate("group fsync x64")),
            x64_of_pg: ratio(rate("eventlog x64"), rate("postgres x64")),
            http64_of_pg: ratio(rate("http x64"), rate("postgres x64")),
            rebuild_of_pg: ratio(at("rebuild", "events_per_s"), at("pg", "events_per_s")),
            rebuild_of_pg_fold: ratio(at("rebuild", "events_per_s"), at("pg-fold", "events_per_s")),
            size,
            serve_rss_mb: at("serve", "peak_rss_mib").map(mib_to_mb),
            serve_ready_s: at("serve", "seconds"),
            snapshot_rss_mb: at("serve-snapshot", "peak_rss_mib").map(mib_to_mb),
            snapshot_ready_s: at("serve-snapshot", "seconds"),
            rebuild_rss_mb: at("rebuild", "peak_rss_mib").map(mib_to_mb),
            rebuild_open_s: at("rebuild", "seconds").zip(at("rebuild", "open_s")).map(|(r, o)| r + o),
            disk_ratio: ratio(at("serve", "dir_bytes"), record_bytes).or(self.disk_ratio_from_report),
            contact_p99_ms: self.reads.median(&[("load", "contact")], "p99_ms"),
        }
    }
}

/// "so the disk holds 2.30× the records' bytes", the last (largest log) in the old report.
fn disk_ratio_in_report(report: &str) -> Option<f64> {
    let (_, tail) = report.rsplit_once("so the disk holds ")?;
    tail.split_once('×')?.0.trim().parse().ok()
}

/// Whether a value meets a bound: at least (`true`) or at most (`false`).
#[derive(Debug, Clone, Copy)]
struct Bound {
    at_least: bool,
    bar: f64,
    goal: f64,
}

impl Bound {
    fn meets(self, v: f64, limit: f64) -> bool {
        if self.at_least { v >= limit } else { v <= limit }
    }

    fn show(self, limit: f64, unit: &str) -> String {
        format!("{} {}{unit}", if self.at_least { "≥" } else { "≤" }, trim(limit))
    }

    fn verdict(self, v: Option<f64>, applies: bool) -> String {
        match v {
            None => "not measured".into(),
            Some(_) if !applies => "n/a (not at 5M events)".into(),
            Some(v) if self.meets(v, self.goal) => "**PASS** (goal met)".into(),
            Some(v) if self.meets(v, self.bar) => "**PASS**".into(),
            Some(_) => "**FAIL**".into(),
        }
    }
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v}") }
}

fn fig(v: Option<f64>, decimals: usize, unit: &str) -> String {
    v.map_or_else(|| "not measured".into(), |v| format!("{v:.decimals$}{unit}"))
}

/// A row of the table: the measure, its bar and goal, the unit, the old figure as shown, the new
/// one, and whether the verdict applies (the start-up rows only at 5M events).
struct Row(String, Bound, &'static str, String, Option<f64>, bool);

fn rows(old: &Measures, new: &Measures) -> Vec<Row> {
    let at_5m = new.size.is_some_and(|s| (s - SIZE_5M).abs() < 0.5);
    let size = new.size.map_or_else(|| "?".into(), |s| format!("{s:.0}"));
    let ratio = |v: Option<f64>| fig(v, 2, "");
    let up = |bar, goal| Bound { at_least: true, bar, goal };
    let down = |bar, goal| Bound { at_least: false, bar, goal };
    let old_size = old.size.map_or_else(|| "?".into(), |s| format!("{s:.0}"));
    vec![
        Row(
            "one writer in process ÷ raw fsync (appending to a growing file)".into(),
            up(0.85, 0.95),
            "",
            ratio(old.one_writer_of_raw),
            new.one_writer_of_raw,
            true,
        ),
        Row(
            "64 writers in process ÷ group-fsync limit".into(),
            up(0.6, 0.8),
            "",
            ratio(old.x64_of_group),
            new.x64_of_group,
            true,
        ),
        Row(
            "64 writers in process ÷ PostgreSQL 64".into(),
            up(5.0, 8.0),
            "",
            ratio(old.x64_of_pg),
            new.x64_of_pg,
            true,
        ),
        Row(
            "64 writers over HTTP ÷ PostgreSQL 64".into(),
            up(1.0, 2.0),
            "",
            ratio(old.http64_of_pg),
            new.http64_of_pg,
            true,
        ),
        Row(
            format!("start-up rebuild ÷ PostgreSQL reading the same rows with the same parse ({size} events)"),
            up(1.0, 2.0),
            "",
            format!("{} ({old_size} events)", ratio(old.rebuild_of_pg)),
            new.rebuild_of_pg,
            true,
        ),
        Row(
            format!(
                "start-up rebuild ÷ the same rebuild from PostgreSQL: the same rows, parse and fold, like for like ({size} events)"
            ),
            up(1.0, 2.0),
            "",
            "not measured".into(),
            new.rebuild_of_pg_fold,
            true,
        ),
        Row(
            format!("peak RSS of start-up: `frontdoor serve` from exec to `/readyz` 200, VmHWM ({size} events)"),
            down(300.0, 200.0),
            " MB",
            format!(
                "not measured (the rebuild in a bench process: {} at {old_size} events)",
                fig(old.rebuild_rss_mb, 0, " MB")
            ),
            new.serve_rss_mb,
            at_5m,
        ),
        Row(
            format!(
                "peak RSS of start-up from the read model's snapshot: `frontdoor serve` from exec to `/readyz` 200, VmHWM ({size} events)"
            ),
            down(300.0, 200.0),
            " MB",
            "not measured (no snapshot then)".into(),
            new.snapshot_rss_mb,
            at_5m,
        ),
        Row(
            format!(
                "start-up to ready: exec to `/readyz` 200, from the read model's snapshot written at the clean shutdown before ({size} events)"
            ),
            down(10.0, 3.0),
            " s",
            format!(
                "not measured (open + rebuild in a bench process: {} at {old_size} events)",
                fig(old.rebuild_open_s, 1, " s")
            ),
            new.snapshot_ready_s,
            at_5m,
        ),
        Row(
            format!(
                "start-up to ready without a snapshot (a crash before any clean shutdown, a new build): the whole log folded ({size} events)"
            ),
            down(10.0, 3.0),
            " s",
            format!(
                "not measured (open + rebuild in a bench process: {} at {old_size} events)",
                fig(old.rebuild_open_s, 1, " s")
            ),
            new.serve_ready_s,
            at_5m,
        ),
        Row(
            format!(
                "bytes of the whole data directory (segments, index, access log) per event ÷ record bytes ({size} events)"
            ),
            down(1.5, 1.2),
            "",
            format!("{} (the sled database)", ratio(old.disk_ratio)),
            new.disk_ratio,
            true,
        ),
        Row(
            "access-log entry durable: contact read p99 at 500 req/s, 5,000 open contacts".into(),
            down(5.0, 3.0),
            " ms",
            format!(
                "not measured (the entry was not durable then; the read's p99: {})",
                fig(old.contact_p99_ms, 2, " ms")
            ),
            new.contact_p99_ms,
            true,
        ),
    ]
}

fn markdown(old: &Measures, new: &Measures, new_run: &Run, old_dir: &Path, quick: bool) -> String {
    let mut out = String::from("## The log's speed and memory (issue 14)\n\n");
    if quick {
        out.push_str("**Quick smoke test: not a measurement.**\n\n");
    }
    let _ = writeln!(out, "Written by `frontdoor-bench summary` (see `ops/bench/README.md`) from this run's CSVs.\n");
    let _ = writeln!(out, "- date: {} UTC", Utc::now().format("%Y-%m-%d %H:%M:%S"));
    let _ = writeln!(out, "- command: `{}`", command_line());
    let stamp = |c: &Csv| c.written.map_or_else(|| "?".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    let _ = writeln!(
        out,
        "- new: `results-append.csv` ({}), `results-rebuild.csv` ({}), `results-reads.csv` ({}), the \
         sections above; medians across the run's repetitions, each ratio of two medians of the same run",
        stamp(&new_run.append),
        stamp(&new_run.rebuild),
        stamp(&new_run.reads)
    );
    let _ = writeln!(
        out,
        "- old: the sled-based log, the run of 2026-11-22 (`ops/bench/{}/`: its CSVs and report, \
         computed the same way); \"not measured\" where that run did not measure the row's measure",
        old_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    );
    let _ = writeln!(out, "\n| measure | bar | goal | old (sled, 2026-11-22) | new (this run) | pass/fail |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for Row(measure, bound, unit, old, new, applies) in rows(old, new) {
        let decimals = if unit == " MB" { 0 } else { 2 };
        let _ = writeln!(
            out,
            "| {measure} | {} | {} | {old} | {} | {} |",
            bound.show(bound.bar, unit),
            bound.show(bound.goal, unit),
            fig(new, decimals, unit),
            bound.verdict(new, applies)
        );
    }
    let _ = writeln!(
        out,
        "\nPASS: the bar is met (and \"goal met\" when the goal is too); FAIL: the bar is missed. The \
         start-up rows are stated for 5,000,000 events: at another size they are shown, not judged."
    );
    out
}

pub fn run(args: &SummaryArgs) -> Result<()> {
    let out = args.common.output()?;
    let old_dir = args.old.clone().unwrap_or_else(|| PathBuf::from(BENCH_DIR).join(OLD_DIR));
    let new_run = Run::read(&out.dir).context("this run's figures (run append, rebuild and reads first)")?;
    let mut old_run = Run::read(&old_dir).context("the old figures")?;
    old_run.disk_ratio_from_report =
        std::fs::read_to_string(old_dir.join("RESULTS.md")).ok().as_deref().and_then(disk_ratio_in_report);
    let (old, new) = (old_run.measures(), new_run.measures());
    // One run: the three files must come from the same invocation of run.sh, within hours.
    let times: Vec<SystemTime> =
        [&new_run.append, &new_run.rebuild, &new_run.reads].iter().filter_map(|c| c.written.map(Into::into)).collect();
    if let (Some(first), Some(last)) = (times.iter().min(), times.iter().max())
        && last.duration_since(*first).unwrap_or_default().as_secs() > 12 * 3600
    {
        bail!("the CSVs in {} were written more than 12 hours apart: not one run", out.dir.display());
    }
    let text = markdown(&old, &new, &new_run, &old_dir, args.common.quick);
    out.write_section("speed-memory", &text)?;
    print!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPEND: &str = "run,contender,appenders,appends_per_s\n\
        1,raw fsync,1,1000\n2,raw fsync,1,2000\n3,raw fsync,1,3000\n\
        1,eventlog x1,1,900\n2,eventlog x1,1,1800\n3,eventlog x1,1,100\n\
        1,group fsync x64,64,100000\n1,eventlog x64,64,70000\n1,postgres x64,64,10000\n1,http x64,64,15000\n";
    const REBUILD: &str = "run,phase,events,seconds,events_per_s,open_s,record_bytes,peak_rss_mib,dir_bytes\n\
        1,rebuild,20000,0.1,200000,0.01,,50,\n1,pg,20000,0.05,400000,0.001,,8,\n\
        1,rebuild,5000000,20,250000,0.5,,900,\n1,pg,5000000,5,1000000,0.004,,8,\n\
        1,serve,5000000,4.0,1250000,0.3,,190.7,3900000000\n1,frames,5000000,1,5000000,0.1,3000000000,10,\n";

    fn run_of(append: &str, rebuild: &str) -> Run {
        Run {
            append: Csv::parse(append),
            rebuild: Csv::parse(rebuild),
            reads: Csv::parse("run,load,p99_ms\n1,contact,2.5\n2,contact,4.5\n3,queue,9\n"),
            disk_ratio_from_report: None,
        }
    }

    #[test]
    fn the_measures_are_ratios_of_medians_at_the_largest_size() {
        let m = run_of(APPEND, REBUILD).measures();
        // eventlog x1 median 900 over raw fsync median 2000.
        assert!((m.one_writer_of_raw.unwrap() - 0.45).abs() < 1e-9);
        assert!((m.x64_of_group.unwrap() - 0.7).abs() < 1e-9);
        assert!((m.x64_of_pg.unwrap() - 7.0).abs() < 1e-9);
        assert!((m.http64_of_pg.unwrap() - 1.5).abs() < 1e-9);
        assert!((m.rebuild_of_pg.unwrap() - 0.25).abs() < 1e-9, "the 5M rows, not the 20k ones");
        assert!((m.serve_rss_mb.unwrap() - 200.0).abs() < 0.1, "MiB shown as MB");
        assert!((m.serve_ready_s.unwrap() - 4.0).abs() < 1e-9);
        assert!((m.disk_ratio.unwrap() - 1.3).abs() < 1e-9);
        assert!((m.contact_p99_ms.unwrap() - 3.5).abs() < 1e-9, "the contact load only");
    }

    #[test]
    fn verdicts_judge_the_bar_and_the_goal() {
        let up = Bound { at_least: true, bar: 1.0, goal: 2.0 };
        assert_eq!(up.verdict(Some(2.5), true), "**PASS** (goal met)");
        assert_eq!(up.verdict(Some(1.2), true), "**PASS**");
        assert_eq!(up.verdict(Some(0.5), true), "**FAIL**");
        assert_eq!(up.verdict(None, true), "not measured");
        let down = Bound { at_least: false, bar: 300.0, goal: 200.0 };
        assert_eq!(down.verdict(Some(250.0), true), "**PASS**");
        assert_eq!(down.verdict(Some(350.0), true), "**FAIL**");
        assert_eq!(down.verdict(Some(350.0), false), "n/a (not at 5M events)");
    }

    #[test]
    fn the_old_reports_disk_ratio_is_the_largest_logs() {
        let report = "### 1000000 events\n- on disk: so the disk holds 2.31× the records' bytes\n\
                      ### 5000000 events\n- on disk: so the disk holds 2.30× the records' bytes\n";
        assert_eq!(disk_ratio_in_report(report), Some(2.30));
    }

    #[test]
    fn the_committed_old_figures_give_the_issues_old_ratios() {
        let dir = PathBuf::from(BENCH_DIR).join(OLD_DIR);
        let mut old = Run::read(&dir).unwrap();
        old.disk_ratio_from_report =
            std::fs::read_to_string(dir.join("RESULTS.md")).ok().as_deref().and_then(disk_ratio_in_report);
        let m = old.measures();
        // The issue quotes 0.53 of raw fsync, 0.27-0.32 of the group limit, 0.46-0.60 of
        // PostgreSQL over HTTP, 942 MiB at 5M events and 1,416 bytes for 614 (2.30).
        assert!((0.5..0.6).contains(&m.one_writer_of_raw.unwrap()));
        assert!((0.27..0.33).contains(&m.x64_of_group.unwrap()));
        assert!((0.45..0.61).contains(&m.http64_of_pg.unwrap()));
        assert!((980.0..1000.0).contains(&m.rebuild_rss_mb.unwrap()));
        assert_eq!(m.disk_ratio, Some(2.30));
        assert_eq!(m.size, Some(SIZE_5M));
        assert_eq!(m.serve_rss_mb, None, "the old run never started the server");
    }
}
