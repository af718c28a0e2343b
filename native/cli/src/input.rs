//! Reading inputs in chunks through the streaming parsers, with progress,
//! and keeping every reject with the file it came from.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};

use tally_core::event::{EventRef, EventSink};
use tally_core::parse::{ParseStats, ParserOptions, StreamParser};
use tally_core::Reject;

use crate::args::Input;

const CHUNK: usize = 1 << 20;
/// Inputs at least this large get a progress indicator.
const PROGRESS_FROM: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {name}: {source}")]
    Read { name: String, source: std::io::Error },
}

/// Counts over all inputs, and every reject with its file.
#[derive(Default)]
pub struct Totals {
    pub stats: ParseStats,
    pub rejects: Vec<(String, Reject)>,
}

/// Hands events on to `inner` and keeps rejects with the file name.
struct Tagging<'a, S> {
    inner: &'a mut S,
    name: &'a str,
    rejects: &'a mut Vec<(String, Reject)>,
}

impl<S: FnMut(EventRef<'_>)> EventSink for Tagging<'_, S> {
    fn event(&mut self, e: EventRef<'_>) {
        (self.inner)(e)
    }
    fn reject(&mut self, r: Reject) {
        self.rejects.push((self.name.to_string(), r));
    }
}

/// Parses every input, calling `each` for every event.
pub fn read_all(
    inputs: &[Input],
    max_line: usize,
    quiet: bool,
    mut each: impl FnMut(EventRef<'_>),
) -> Result<Totals, InputError> {
    let mut totals = Totals::default();
    for input in inputs {
        let name = input.name();
        let read_err = |source| InputError::Read {
            name: name.clone(),
            source,
        };
        let (mut reader, size): (Box<dyn Read>, Option<u64>) = match &input.path {
            Some(p) => {
                let f = File::open(p).map_err(read_err)?;
                let size = f.metadata().ok().map(|m| m.len());
                (Box::new(f), size)
            }
            None => (Box::new(std::io::stdin().lock()), None),
        };
        let show_progress = !quiet && size.is_some_and(|s| s >= PROGRESS_FROM);
        let mut parser = StreamParser::new(
            input.format,
            ParserOptions {
                max_line,
                ..ParserOptions::default()
            },
        );
        let mut sink = Tagging {
            inner: &mut each,
            name: &name,
            rejects: &mut totals.rejects,
        };
        let mut buf = vec![0u8; CHUNK];
        let mut read = 0u64;
        let mut shown = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            parser.feed(&buf[..n], &mut sink);
            read += n as u64;
            if let (true, Some(total)) = (show_progress, size) {
                let pct = read * 100 / total.max(1);
                if pct >= shown + 5 {
                    shown = pct - pct % 5;
                    progress(&name, pct, parser.stats());
                }
            }
        }
        parser.finish(&mut sink);
        if show_progress {
            progress(&name, 100, parser.stats());
            let _ = writeln!(std::io::stderr());
        }
        let s = parser.stats();
        let t = &mut totals.stats;
        t.records += s.records;
        t.accepted += s.accepted;
        t.rejected += s.rejected;
        t.skipped += s.skipped;
        t.events += s.events;
        t.bytes += s.bytes;
    }
    Ok(totals)
}

fn progress(name: &str, pct: u64, s: ParseStats) {
    let mut err = std::io::stderr();
    let end = if err.is_terminal() { "\r" } else { "\n" };
    let _ = write!(
        err,
        "tally: {name}: {pct:>3}% ({} lines, {} events, {} rejected){end}",
        s.records, s.events, s.rejected
    );
}
