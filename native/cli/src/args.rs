//! Command-line arguments, parsed by hand (no dependency for a dozen flags).

use std::path::PathBuf;

use tally_core::aggregate::Window;
use tally_core::Format;

#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    #[error("{0}")]
    Usage(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Parse,
    Aggregate,
    Bill,
}

/// One input: a path (or `-` for standard input) and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub format: Format,
    pub path: Option<PathBuf>,
}

impl Input {
    pub fn name(&self) -> String {
        self.path
            .as_ref()
            .map_or("<stdin>".to_string(), |p| p.display().to_string())
    }
}

#[derive(Debug)]
pub struct Args {
    pub command: Command,
    pub inputs: Vec<Input>,
    pub rejects: Option<PathBuf>,
    pub max_line: usize,
    pub window: Window,
    pub dedup: bool,
    pub plans: Option<PathBuf>,
    pub period: Option<String>,
    pub version: u32,
    pub quiet: bool,
}

/// What every command shares: inputs, options, exit statuses.
macro_rules! common_help {
    () => {
        "
INPUT is PATH, FORMAT:PATH, or - (standard input, needs --format).
FORMAT is json_lines, s3_access_log, rgw_usage or storage_csv; without one it
follows the file name: .jsonl/.ndjson, .log, .json, .csv.

options:
  --format FORMAT     format of inputs that do not name one
  --rejects FILE      write every rejected line to FILE as JSON Lines
  --max-line BYTES    longest line accepted, at least 1 (default 1048576);
                      a longer line is rejected whole
  --quiet             no progress or summary on standard error
  -h, --help          this help

Output is JSON Lines on standard output; every rejected line is named on
standard error (the first 20) and kept in --rejects FILE (all).
Exit status: 0 when every line was used, 2 when some lines were rejected,
1 on any other error (unreadable input, bad plans file, ...), 64 for bad
arguments."
    };
}

pub const USAGE: &str = concat!(
    "\
usage: tally parse     [options] INPUT...
       tally aggregate [options] [--window hour|day|month] [--no-dedup] INPUT...
       tally bill      [options] --plans PLANS.json --period YYYY-MM [--version N] INPUT...
       tally version
       tally COMMAND --help
",
    common_help!()
);

pub const PARSE_USAGE: &str = concat!(
    "\
usage: tally parse [options] INPUT...

Reads every INPUT and writes one usage event per line: id, source, customer,
resource, meter, value, time (RFC 3339) and time_ms.
",
    common_help!()
);

pub const AGGREGATE_USAGE: &str = concat!(
    "\
usage: tally aggregate [options] [--window hour|day|month] [--no-dedup] INPUT...

Reads every INPUT and writes one line per customer, resource, meter and
window: sum, count, min, max, latest value and its time.

  --window WINDOW     hour (default), day or month
  --no-dedup          count events with the same source and id every time
",
    common_help!()
);

pub const BILL_USAGE: &str = concat!(
    "\
usage: tally bill [options] --plans PLANS.json --period YYYY-MM [--version N] INPUT...

Reads every INPUT, closes the billing period YYYY-MM (UTC) and writes its
invoice lines, priced with the plans file.

  --plans FILE        the plans file (JSON; see README)
  --period YYYY-MM    the billing period
  --version N         the invoice version written in each line (default 1)
",
    common_help!()
);

impl Command {
    /// This command's help text.
    pub fn usage(self) -> &'static str {
        match self {
            Command::Parse => PARSE_USAGE,
            Command::Aggregate => AGGREGATE_USAGE,
            Command::Bill => BILL_USAGE,
        }
    }
}

/// What the arguments ask for.
#[derive(Debug)]
pub enum Action {
    Run(Args),
    /// `--help` (or `-h`) was given: print this and exit 0.
    Help(&'static str),
}

pub fn format_named(name: &str) -> Option<Format> {
    Some(match name {
        "json_lines" | "jsonl" => Format::JsonLines,
        "s3_access_log" | "s3" => Format::S3AccessLog,
        "rgw_usage" | "rgw" => Format::RgwUsage,
        "storage_csv" | "csv" => Format::StorageCsv,
        _ => return None,
    })
}

fn format_of_path(path: &str) -> Option<Format> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "jsonl" | "ndjson" => Format::JsonLines,
        "log" => Format::S3AccessLog,
        "json" => Format::RgwUsage,
        "csv" => Format::StorageCsv,
        _ => return None,
    })
}

/// The command a word names.
pub fn command_named(word: &str) -> Option<Command> {
    Some(match word {
        "parse" => Command::Parse,
        "aggregate" => Command::Aggregate,
        "bill" => Command::Bill,
        _ => return None,
    })
}

pub fn parse(argv: &[String]) -> Result<Action, ArgError> {
    let usage = |m: String| ArgError::Usage(m);
    let mut it = argv.iter();
    let command = match it.next() {
        Some(word) => command_named(word).ok_or_else(|| usage(format!("unknown command {word:?}")))?,
        None => return Err(usage("no command".into())),
    };
    let mut args = Args {
        command,
        inputs: Vec::new(),
        rejects: None,
        max_line: tally_core::lines::DEFAULT_MAX_LINE,
        window: Window::Hour,
        dedup: true,
        plans: None,
        period: None,
        version: 1,
        quiet: false,
    };
    let mut default_format = None;
    let mut raw_inputs = Vec::new();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| usage(format!("{flag} needs a value")))
        };
        match a.as_str() {
            "--format" => {
                let v = value("--format")?;
                default_format =
                    Some(format_named(&v).ok_or_else(|| usage(format!("unknown format {v:?}")))?);
            }
            "--rejects" => args.rejects = Some(value("--rejects")?.into()),
            "--max-line" => {
                args.max_line = value("--max-line")?
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or_else(|| usage("--max-line takes a number of bytes, at least 1".into()))?
            }
            "--window" => {
                args.window = match value("--window")?.as_str() {
                    "hour" => Window::Hour,
                    "day" => Window::Day,
                    "month" => Window::Month,
                    w => return Err(usage(format!("unknown window {w:?}"))),
                }
            }
            "--no-dedup" => args.dedup = false,
            "--plans" => args.plans = Some(value("--plans")?.into()),
            "--period" => {
                let v = value("--period")?;
                if tally_core::aggregate::parse_period(&v).is_none() {
                    return Err(usage(format!("--period {v:?} is not YYYY-MM")));
                }
                args.period = Some(v)
            }
            "--version" => {
                args.version = value("--version")?
                    .parse()
                    .map_err(|_| usage("--version takes a number".into()))?
            }
            "--quiet" => args.quiet = true,
            "--help" | "-h" => return Ok(Action::Help(command.usage())),
            flag if flag.starts_with("--") => return Err(usage(format!("unknown option {flag}"))),
            input => raw_inputs.push(input.to_string()),
        }
    }
    if raw_inputs.is_empty() {
        return Err(usage("no INPUT given".into()));
    }
    for raw in raw_inputs {
        let (named, path) = match raw.split_once(':') {
            Some((f, p)) if format_named(f).is_some() => (format_named(f), p.to_string()),
            _ => (None, raw.clone()),
        };
        let format = named
            .or(default_format)
            .or_else(|| format_of_path(&path))
            .ok_or_else(|| usage(format!("no format for {raw:?}: use --format or FORMAT:PATH")))?;
        args.inputs.push(Input {
            format,
            path: (path != "-").then(|| path.into()),
        });
    }
    if command == Command::Bill {
        let missing: Vec<&str> = [
            ("--plans", args.plans.is_none()),
            ("--period", args.period.is_none()),
        ]
        .into_iter()
        .filter_map(|(flag, absent)| absent.then_some(flag))
        .collect();
        if !missing.is_empty() {
            return Err(usage(format!("bill needs {}", missing.join(" and "))));
        }
    }
    Ok(Action::Run(args))
}
