//! The `tally` command line: parse, aggregate and bill usage files with the
//! engine of tally_core, writing JSON Lines. See `tally --help`.

/// `eprintln!` that ignores a closed standard error (a reader that went
/// away must not turn into a panic and exit status 101).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that ignores a closed standard output (for help and version
/// texts; the data written goes through `run`, which reports errors).
macro_rules! show {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod args;
mod input;
mod json;

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use tally_core::aggregate::{parse_period, Aggregator, AggregatorConfig};
use tally_core::billing::{bill, Plans};
use tally_core::event::EventFields;
use tally_core::queue::EventQueue;

use args::{Action, Args, Command};
use input::{read_all, Totals};

/// How many rejects are named on standard error (all go to --rejects).
const REJECTS_SHOWN: usize = 20;

/// Exit status for bad arguments (EX_USAGE of sysexits.h).
const BAD_ARGUMENTS: u8 = 64;

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Input(#[from] input::InputError),
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::Error),
    #[error("plans file {0}: {1}")]
    Plans(String, String),
    #[error("--period {0:?} is not YYYY-MM")]
    Period(String),
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("version" | "--version") => {
            show!("tally {}", tally_core::VERSION);
            return ExitCode::SUCCESS;
        }
        Some("help" | "--help" | "-h") | None => {
            // `tally help parse`: that command's help.
            let help = argv
                .get(1)
                .and_then(|c| args::command_named(c))
                .map_or(args::USAGE, Command::usage);
            show!("{help}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let args = match args::parse(&argv) {
        Ok(Action::Run(a)) => a,
        Ok(Action::Help(text)) => {
            show!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // The help of the command given, else the overview.
            let help = args::command_named(&argv[0]).map_or(args::USAGE, Command::usage);
            say!("tally: {e}\n\n{help}");
            return ExitCode::from(BAD_ARGUMENTS);
        }
    };
    match run(&args) {
        Ok(totals) => report(&args, &totals),
        Err(e) => {
            say!("tally: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<Totals, CliError> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let write_err = |e: std::io::Error| CliError::Write("standard output".into(), e);
    fn write_line(out: &mut impl Write, v: impl std::fmt::Display) -> std::io::Result<()> {
        writeln!(out, "{v}")
    }
    let config = AggregatorConfig {
        window: args.window,
        dedup: args.dedup,
        ..AggregatorConfig::default()
    };
    let totals = match args.command {
        Command::Parse => {
            let mut failed = None;
            let totals = read_all(&args.inputs, args.max_line, args.quiet, |e| {
                if failed.is_none() {
                    if let Err(err) = write_line(&mut out, json::event(&e.to_event())) {
                        failed = Some(err);
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(write_err(e));
            }
            totals
        }
        Command::Aggregate => {
            let mut agg = Aggregator::new(config);
            let mut queue = EventQueue::default();
            let totals = read_all(&args.inputs, args.max_line, args.quiet, |e| {
                queue.push(&e, &mut agg)
            })?;
            queue.flush(&mut agg);
            for (key, start, st) in agg.windows() {
                write_line(&mut out, json::window(&key, args.window, start, st)).map_err(write_err)?;
            }
            note_counters(args, &agg);
            totals
        }
        Command::Bill => {
            let plans_path = args.plans.as_ref().expect("checked by args");
            let name = plans_path.display().to_string();
            let text = std::fs::read_to_string(plans_path)
                .map_err(|e| CliError::Plans(name.clone(), e.to_string()))?;
            let plans = Plans::from_json(&text).map_err(|e| CliError::Plans(name.clone(), e.to_string()))?;
            let label = args.period.clone().expect("checked by args");
            let period = parse_period(&label).ok_or_else(|| CliError::Period(label.clone()))?;
            let mut agg = Aggregator::new(config);
            let mut outside = 0u64;
            let mut queue = EventQueue::default();
            let end = tally_core::aggregate::month_end(period);
            let totals = read_all(&args.inputs, args.max_line, args.quiet, |e| {
                if e.time_ms < period || e.time_ms >= end {
                    outside += 1;
                }
                queue.push(&e, &mut agg);
            })?;
            queue.flush(&mut agg);
            let invoice = bill(&agg.close_period(period), &plans, args.version)
                .map_err(|e| CliError::Plans(name.clone(), e.to_string()))?;
            for line in &invoice.lines {
                write_line(&mut out, json::invoice_line(line)).map_err(write_err)?;
            }
            if !args.quiet {
                if outside > 0 {
                    say!("tally: {outside} events fall outside {label} and are not on this invoice");
                }
                for c in &invoice.unbilled_customers {
                    say!("tally: customer {c} has usage but no plan: not billed");
                }
            }
            note_counters(args, &agg);
            totals
        }
    };
    out.flush().map_err(write_err)?;
    if let Some(path) = &args.rejects {
        let name = path.display().to_string();
        let f = std::fs::File::create(path).map_err(|e| CliError::Write(name.clone(), e))?;
        let mut w = BufWriter::new(f);
        for (file, r) in &totals.rejects {
            writeln!(w, "{}", json::reject(file, r)).map_err(|e| CliError::Write(name.clone(), e))?;
        }
        w.flush().map_err(|e| CliError::Write(name, e))?;
    }
    Ok(totals)
}

fn note_counters(args: &Args, agg: &Aggregator) {
    let c = agg.counters();
    if !args.quiet && c.duplicates > 0 {
        say!(
            "tally: {} (same source and id) counted once",
            counted(c.duplicates as usize, "duplicate event", "duplicate events")
        );
    }
}

/// `1 input`, `2 inputs`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn report(args: &Args, totals: &Totals) -> ExitCode {
    for (file, r) in totals.rejects.iter().take(REJECTS_SHOWN) {
        say!("{file}:{}: {}", r.line, r.reason);
    }
    if totals.rejects.len() > REJECTS_SHOWN {
        say!(
            "... and {} more rejected lines",
            totals.rejects.len() - REJECTS_SHOWN
        );
    }
    let s = totals.stats;
    if !args.quiet {
        // The rejects file is named only when something went into it.
        let kept = match &args.rejects {
            Some(p) if s.rejected > 0 => format!(" (kept in {})", p.display()),
            _ => String::new(),
        };
        say!(
            "tally: {}, {} bytes, {} records read (lines; bucket entries for RGW), {} events, {} rejected{kept}, {} skipped",
            counted(args.inputs.len(), "input", "inputs"),
            s.bytes,
            s.records,
            s.events,
            s.rejected,
            s.skipped
        );
    }
    if s.rejected > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
