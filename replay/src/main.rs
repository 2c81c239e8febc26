//! `frontdoor-replay`: check and replay the front door's log without trusting the service.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use projections::time::DuePolicy;
use replay::asof::Moment;
use replay::source::{OfflineRead, record_offline_read};
use replay::{ReplayError, Source};

const EXIT_CODES: &str = "Exit codes:
  0  success
  1  verification failed (the first bad position is named) or the data cannot be used
  2  usage error (bad arguments, a non-empty import directory)
  3  I/O or remote error (a file, the data directory, e.g. held by a running service, or HTTP)";

/// Quality assurance's offline tool over the front door's event log: verify the hash chain,
/// rebuild every projection, see the duty queue as it stood, a contact's timeline, Ofsted
/// Annex A lists and a period report, and export/import the log.
#[derive(Debug, Parser)]
#[command(name = "frontdoor-replay", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where to read the log from: exactly one of these.
#[derive(Debug, Clone, Args)]
struct SourceArgs {
    /// A stopped service's data directory (one process at a time: stop the service first,
    /// or use --url).
    #[arg(long, value_name = "DIR", group = "source")]
    data_dir: Option<PathBuf>,
    /// An export written by `frontdoor-replay export` (one envelope per line), or a segment
    /// file of a data directory (`segments/*.seg`), read without the index (`verify` takes
    /// more segment files after it, in order). `verify` also takes an access segment
    /// (`access/*.seg`, more after it) or an access export (`FILE.access.jsonl`).
    #[arg(long, value_name = "EXPORT.jsonl|SEGMENT", group = "source")]
    file: Option<PathBuf>,
    /// A running service's base URL (reads GET /v1/events; needs --token).
    #[arg(long, value_name = "URL", group = "source", requires = "token")]
    url: Option<String>,
    /// Bearer token for --url (an auditor's or admin's, so restricted checks are included).
    #[arg(long, env = "FRONTDOOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl SourceArgs {
    fn source(&self) -> Result<Source, ReplayError> {
        match (&self.data_dir, &self.file, &self.url) {
            (Some(d), None, None) => Ok(Source::DataDir(d.clone())),
            (None, Some(f), None) if eventlog::segment::is_segment_file(f) => Ok(Source::Segments(vec![f.clone()])),
            (None, Some(f), None) => Ok(Source::File(f.clone())),
            (None, None, Some(u)) => Ok(Source::Url {
                url: u.clone(),
                token: self.token.clone().ok_or_else(|| ReplayError::Usage("--url needs --token".into()))?,
            }),
            _ => Err(ReplayError::Usage("give one of --data-dir, --file or --url".into())),
        }
    }
}

/// The due-by policy (the service's defaults unless told otherwise).
#[derive(Debug, Clone, Args)]
struct PolicyArgs {
    /// The service's config file: its [policy] table is used (working days, urgent hours,
    /// bank-holiday calendar).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Working days allowed for a decision (overrides the config; default 1).
    #[arg(long)]
    working_days: Option<u32>,
    /// Hours allowed for red-rated or immediate-risk contacts (overrides the config; default 2).
    #[arg(long)]
    urgent_hours: Option<u32>,
}

impl PolicyArgs {
    /// The config file's `[localities]` (none without a file or the table), refused as the
    /// service refuses it at start.
    fn localities(&self) -> Result<projections::locality::Localities, ReplayError> {
        let Some(path) = &self.config else { return Ok(projections::locality::Localities::default()) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| ReplayError::Io(format!("cannot read {}: {e}", path.display())))?;
        let value: toml::Table = toml::from_str(&text)
            .map_err(|e| ReplayError::Usage(format!("{} is not valid TOML: {e}", path.display())))?;
        let table: std::collections::BTreeMap<String, Vec<String>> = match value.get("localities") {
            None => std::collections::BTreeMap::new(),
            Some(t) => t
                .clone()
                .try_into()
                .map_err(|e| ReplayError::Usage(format!("{}: bad [localities]: {e}", path.display())))?,
        };
        projections::locality::Localities::new(table)
            .map_err(|e| ReplayError::Usage(format!("{}: {e}", path.display())))
    }

    fn policy(&self) -> Result<DuePolicy, ReplayError> {
        let mut policy = match &self.config {
            None => DuePolicy::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ReplayError::Io(format!("cannot read {}: {e}", path.display())))?;
                let value: toml::Table = toml::from_str(&text)
                    .map_err(|e| ReplayError::Usage(format!("{} is not valid TOML: {e}", path.display())))?;
                match value.get("policy") {
                    None => DuePolicy::default(),
                    Some(p) => p
                        .clone()
                        .try_into()
                        .map_err(|e| ReplayError::Usage(format!("{}: bad [policy]: {e}", path.display())))?,
                }
            }
        };
        if let Some(d) = self.working_days {
            policy.working_days = d;
        }
        if let Some(h) = self.urgent_hours {
            policy.urgent_hours = h;
        }
        Ok(policy)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify the hash chain, checksums, per-contact index and versions; print the count
    /// verified, or name the first bad position (exit 1).
    #[command(after_help = EXIT_CODES)]
    Verify {
        #[command(flatten)]
        source: SourceArgs,
        /// More segment files after `--file SEGMENT`, in log order (e.g. `--file
        /// DIR/segments/*.seg`): the chain is checked across them.
        #[arg(value_name = "SEGMENT", requires = "file")]
        more_segments: Vec<PathBuf>,
    },
    /// Rebuild every projection from scratch; print counts, time and events/s (a progress
    /// bar when stderr is a terminal).
    #[command(after_help = EXIT_CODES)]
    Rebuild {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// The duty queue and timeliness (the 28 days before) as they stood at a moment; the
    /// same answer as the service's GET /v1/as-of.
    #[command(name = "as-of", after_help = EXIT_CODES)]
    AsOf {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Every event recorded at or before this RFC 3339 time.
        #[arg(long, group = "moment", required_unless_present = "position")]
        at: Option<String>,
        /// Every event up to this log position (the moment is that event's recorded_at).
        #[arg(long, group = "moment")]
        position: Option<u64>,
        /// JSON (the service's /v1/as-of shape) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A contact's timeline: each event with its actor and times, and before each decision
    /// the state the decider could see.
    #[command(after_help = EXIT_CODES)]
    Case {
        #[command(flatten)]
        source: SourceArgs,
        /// The contact's id (a ULID).
        contact_id: String,
    },
    /// Write the whole log, one envelope per line (the API's envelope JSON), verifying the
    /// chain as it goes. With --out, the file is replaced only by a whole export that verifies
    /// when read back: a failed export leaves the file that was there untouched.
    #[command(after_help = EXIT_CODES)]
    Export {
        #[command(flatten)]
        source: SourceArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write here (mode 0600, through a temporary file in the same directory renamed
        /// over FILE once verified) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Restore an export into an EMPTY data directory: refuses a file whose chain does not
    /// verify (exit 1) and a directory that is not empty (exit 2).
    #[command(after_help = EXIT_CODES)]
    Import {
        /// The export to restore.
        #[arg(long, value_name = "EXPORT.jsonl")]
        file: PathBuf,
        /// The new data directory (missing or empty).
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Ofsted ILACS Annex A: without --list, Ofsted's whole workbook (.xlsx, every list's sheet
    /// and header, Lists 1 and 3 filled, Ofsted's coded values; needs --out); with --list, one
    /// list as CSV. See replay/README.md for each column.
    #[command(name = "annex-a", after_help = EXIT_CODES)]
    AnnexA {
        #[command(flatten)]
        source: SourceArgs,
        /// 1 (contacts) or 3 (referrals): that list alone, as CSV.
        #[arg(long, value_parser = ["1", "3"])]
        list: Option<String>,
        /// First London date, YYYY-MM-DD (date of contact, or of referral for List 3).
        #[arg(long)]
        from: NaiveDate,
        /// Last London date, YYYY-MM-DD, included.
        #[arg(long)]
        to: NaiveDate,
        /// Write here instead of stdout (required for the workbook).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// One row per contact received in the period, for data teams: pseudonymised (the child
    /// index's child ids and ages, no names, identifiers or free text). Columns: docs/FIGURES.md.
    #[command(name = "contacts-csv", after_help = EXIT_CODES)]
    ContactsCsv {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        /// First London date of receipt, YYYY-MM-DD.
        #[arg(long)]
        from: NaiveDate,
        /// Last London date of receipt, YYYY-MM-DD, included.
        #[arg(long)]
        to: NaiveDate,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The DfE's Children in Need census, referral part, as the census's XML: every child the
    /// front door referred in the census year (1 April to 31 March), with identifiers,
    /// characteristics, referral date, source, primary need and ReferralNFA. See
    /// docs/FIGURES.md for what the front door does not own.
    #[command(name = "cin-census", after_help = EXIT_CODES)]
    CinCensus {
        #[command(flatten)]
        source: SourceArgs,
        /// The census year, e.g. 2026-27 (referrals from 1 April 2026 to 31 March 2027).
        #[arg(long, value_name = "YYYY-YY")]
        year: String,
        /// The local authority's DfE LA number (three digits) for the header.
        #[arg(long, default_value = "000")]
        la: String,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Timeliness and volumes for a period (by London date of receipt), as Markdown tables or
    /// CSV.
    #[command(after_help = EXIT_CODES)]
    Report {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        /// First London date of receipt, YYYY-MM-DD.
        #[arg(long)]
        from: NaiveDate,
        /// Last London date of receipt, YYYY-MM-DD, included.
        #[arg(long)]
        to: NaiveDate,
        /// The moment undecided contacts are judged at (RFC 3339): an undecided contact past a
        /// deadline then counts as late in that share. Default: when the last event read was
        /// recorded, so the same log always gives the same report. (The log is still read to
        /// its end: for the figures as they stood at a past moment, use `as-of`.)
        #[arg(long)]
        judged_at: Option<String>,
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
        /// Count only this locality's contacts (of the first child's postcode district): a
        /// locality of the --config file's [localities], `other` (a district none lists) or
        /// `unknown` (no postcode).
        #[arg(long, value_name = "NAME")]
        locality: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    Jsonl,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Markdown,
    Csv,
    /// Devon's appendix table: children by weekday and channel, and the outcome split.
    Devon,
}

fn write_out(out: Option<&PathBuf>, bytes: &[u8]) -> Result<(), ReplayError> {
    match out {
        Some(path) => replay::files::replace_atomically(
            path,
            |out| out.write_all(bytes).map_err(|e| ReplayError::Io(format!("cannot write {}: {e}", path.display()))),
            |_, ()| Ok(()),
        ),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes).and_then(|()| stdout.flush()).map_err(|e| ReplayError::Io(format!("stdout: {e}")))
        }
    }
}

fn run(cli: Cli) -> Result<(), ReplayError> {
    match cli.command {
        Command::Verify { source, more_segments } => {
            let source = match source.source()? {
                Source::Segments(mut files) if !more_segments.is_empty() => {
                    if let Some(other) = more_segments.iter().find(|f| !eventlog::segment::is_segment_file(f)) {
                        return Err(ReplayError::Usage(format!("{} is not a segment file", other.display())));
                    }
                    files.extend(more_segments);
                    Source::Segments(files)
                }
                _ if !more_segments.is_empty() => {
                    return Err(ReplayError::Usage("files after --file are taken only after a segment file".into()));
                }
                source => source,
            };
            // An access log's segments or export: the access chain.
            let access = match &source {
                Source::Segments(files) if files.first().is_some_and(|f| eventlog::access::is_access_segment(f)) => {
                    Some(replay::access::verify_access_segments(files)?)
                }
                Source::File(f) if replay::access::is_access_export(f) => Some(replay::access::read_access_file(f)?.1),
                _ => None,
            };
            if let Some(a) = access {
                println!(
                    "verified {} access entries from {}; access head hash {}",
                    a.entries,
                    source.describe(),
                    a.head
                );
                return Ok(());
            }
            let v = replay::verify::verify(&source)?;
            if matches!(source, Source::DataDir(_)) {
                // `EventLog::verify` checks the access chain and its index as well.
                println!("verified the access log of {}", source.describe());
            }
            println!(
                "verified {} events of {} contacts from {}; head hash {}",
                v.events,
                v.contacts,
                source.describe(),
                v.head
            );
        }
        Command::Rebuild { source, policy } => {
            let source = source.source()?;
            let policy = policy.policy()?;
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} {pos} events folded ({per_sec})")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar
            });
            let (_, r) = replay::rebuild::rebuild(&source, &policy, &mut |p| {
                if let Some(bar) = &bar {
                    bar.set_position(p);
                }
            })?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            println!("events {}", r.events);
            println!("contacts {}", r.contacts);
            println!("open {}", r.open);
            println!("on queue {}", r.on_queue);
            eprintln!("time {:.3} s", r.elapsed.as_secs_f64());
            eprintln!("rate {:.0} events/s", r.events_per_second());
        }
        Command::AsOf { source, policy, at, position, json } => {
            let source = source.source()?;
            let policy = policy.policy()?;
            let moment = match (at, position) {
                (Some(at), None) => Moment::At(
                    DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| ReplayError::Usage(format!("--at must be an RFC 3339 time: {e}")))?
                        .with_timezone(&Utc),
                ),
                (None, Some(p)) => Moment::Position(p),
                _ => return Err(ReplayError::Usage("give --at or --position".into())),
            };
            let as_of = match &moment {
                Moment::At(at) => Some(*at),
                Moment::Position(_) => None,
            };
            record_offline_read(&source, "as-of", &OfflineRead { as_of, ..OfflineRead::default() })?;
            let answer = replay::asof::as_of(&source, moment, &policy)?;
            if json {
                let mut text = serde_json::to_string_pretty(&answer).map_err(|e| ReplayError::Data(e.to_string()))?;
                text.push('\n');
                write_out(None, text.as_bytes())?;
            } else {
                write_out(None, replay::asof::render_table(&answer).as_bytes())?;
            }
        }
        Command::Case { source, contact_id } => {
            let source = source.source()?;
            let id: ulid::Ulid = contact_id
                .parse()
                .map_err(|_| ReplayError::Usage(format!("{contact_id:?} is not a contact id (a ULID)")))?;
            record_offline_read(&source, "case", &OfflineRead { contact: Some(id), ..OfflineRead::default() })?;
            let case = replay::case::load(&source, id)?;
            write_out(None, replay::case::render(&case)?.as_bytes())?;
        }
        Command::Export { source, format: ExportFormat::Jsonl, out } => {
            let source = source.source()?;
            record_offline_read(&source, "export", &OfflineRead::default())?;
            let (v, access) = match &out {
                Some(path) => replay::export::export_to_file(&source, path)?,
                None => {
                    (replay::export::export(&source, &mut std::io::BufWriter::new(std::io::stdout().lock()))?, None)
                }
            };
            eprintln!("exported {} events of {} contacts; head hash {}", v.events, v.contacts, v.head);
            match (access, &out) {
                (Some(a), Some(path)) => eprintln!(
                    "exported {} access entries to {}; access head hash {}",
                    a.entries,
                    replay::access::access_path(path).display(),
                    a.head
                ),
                (None, Some(_)) => eprintln!("note: {} has no access log; none exported", source.describe()),
                (_, None) => eprintln!("note: the access log is exported only with --out (to FILE.access.jsonl)"),
            }
        }
        Command::Import { file, data_dir } => {
            let (v, access) = replay::export::import(&file, &data_dir)?;
            println!(
                "imported {} events of {} contacts into {}; verified; head hash {}",
                v.events,
                v.contacts,
                data_dir.display(),
                v.head
            );
            match access {
                Some(a) => println!("imported {} access entries; verified; access head hash {}", a.entries, a.head),
                None => println!(
                    "no access export ({}) beside it: the access log starts empty",
                    replay::access::access_path(&file).display()
                ),
            }
        }
        Command::AnnexA { source, list, from, to, out } => {
            if from > to {
                return Err(ReplayError::Usage("--from must not be after --to".into()));
            }
            let source = source.source()?;
            record_offline_read(&source, "annex-a", &OfflineRead::default())?;
            let bytes = match list.as_deref() {
                Some("1") => replay::annex::annex_a(&source, replay::annex::List::Contacts, from, to)?,
                Some(_) => replay::annex::annex_a(&source, replay::annex::List::Referrals, from, to)?,
                None if out.is_none() => {
                    return Err(ReplayError::Usage(
                        "the workbook needs --out FILE.xlsx (or give --list for CSV)".into(),
                    ));
                }
                None => replay::annex::workbook(&source, from, to)?,
            };
            write_out(out.as_ref(), &bytes)?;
        }
        Command::ContactsCsv { source, policy, from, to, out } => {
            if from > to {
                return Err(ReplayError::Usage("--from must not be after --to".into()));
            }
            let source = source.source()?;
            let policy = policy.policy()?;
            record_offline_read(&source, "contacts-csv", &OfflineRead::default())?;
            let (model, _) = replay::rebuild::rebuild(&source, &policy, &mut |_| {})?;
            let bytes = replay::contacts_csv::contacts_csv(&source, &model, &policy, from, to)?;
            write_out(out.as_ref(), &bytes)?;
        }
        Command::CinCensus { source, year, la, out } => {
            let year = replay::census::CensusYear::parse(&year)?;
            let source = source.source()?;
            record_offline_read(&source, "cin-census", &OfflineRead::default())?;
            let bytes = replay::census::cin_census(&source, year, &la)?;
            write_out(out.as_ref(), &bytes)?;
        }
        Command::Report { source, policy, from, to, judged_at, format, locality } => {
            if from > to {
                return Err(ReplayError::Usage("--from must not be after --to".into()));
            }
            let judged_at = judged_at
                .map(|at| {
                    DateTime::parse_from_rfc3339(&at)
                        .map(|at| at.with_timezone(&Utc))
                        .map_err(|e| ReplayError::Usage(format!("--judged-at must be an RFC 3339 time: {e}")))
                })
                .transpose()?;
            let localities = policy.localities()?;
            let locality = locality
                .map(|name| {
                    localities.find(&name).ok_or_else(|| {
                        let names: Vec<&str> = localities.names().collect();
                        ReplayError::Usage(format!(
                            "--locality: {name:?} is not a locality; give one of {} (the localities come from --config)",
                            names.join(", ")
                        ))
                    })
                })
                .transpose()?;
            let source = source.source()?;
            let policy = policy.policy()?;
            let (model, _) = replay::rebuild::rebuild(&source, &policy, &mut |_| {})?;
            let judged_at = judged_at.or_else(|| model.last_recorded_at()).unwrap_or_else(Utc::now);
            let scope = replay::report::Scope { localities: &localities, locality };
            let r = replay::report::report(&model, from, to, &policy, judged_at, scope);
            match format {
                ReportFormat::Markdown => write_out(None, replay::report::markdown(&r).as_bytes())?,
                ReportFormat::Csv => write_out(None, &replay::report::csv(&r))?,
                ReportFormat::Devon => {
                    let table = projections::figures::devon_table(localities.filter(model.facts(), locality), from, to);
                    let mut text = replay::report::devon_markdown(&table, r.position);
                    if let Some(locality) = locality {
                        // Said under the title: only this locality's contacts are counted.
                        let at = text.find("\n\n").map_or(text.len(), |i| i + 2);
                        text.insert_str(
                            at,
                            &format!(
                                "Only the contacts of the locality {locality} (of the first child's postcode district) are counted.\n\n"
                            ),
                        );
                    }
                    write_out(None, text.as_bytes())?;
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Exports, Annex A lists and restored data directories hold children's records: whatever
    // umask the tool is started with, what it creates is its owner's alone (0600 / 0700).
    replay::files::private_umask();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("frontdoor-replay: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
