//! The `tally` command line over tally_core.

use std::io::{BufRead, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("version") | Some("--version") => {
            println!("tally {}", tally_core::VERSION);
            ExitCode::SUCCESS
        }
        Some("parse") => parse_stdin(),
        _ => {
            eprintln!("usage: tally version | tally parse < events.jsonl");
            ExitCode::from(64)
        }
    }
}

fn parse_stdin() -> ExitCode {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let (mut events, mut rejects) = (0u64, 0u64);
    for (n, line) in stdin.lock().split(b'\n').enumerate() {
        let Ok(line) = line else { break };
        match tally_core::jsonl::parse_event_line(&line) {
            Ok(e) => {
                events += 1;
                let _ = writeln!(out, "{e:?}");
            }
            Err(r) => {
                rejects += 1;
                eprintln!("stdin:{}: {r}", n + 1);
            }
        }
    }
    eprintln!("{events} events, {rejects} rejects");
    if rejects > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
