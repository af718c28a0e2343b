//! Streaming parsers: one [`StreamParser`] per input stream, fed chunks cut
//! anywhere, giving the same events and rejects as the whole input at once.

use crate::event::{EventFields, EventRef, EventSink, UsageEvent};
use crate::lines::{LineItem, LinePos, LineSplitter, DEFAULT_MAX_LINE};
use crate::reject::{Format, Reject, RejectReason};
use crate::{csv, jsonl, rgw, s3};

/// Who an S3 access log line is billed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(
    feature = "gleam",
    derive(tally_interop::IntoGleam, tally_interop::FromGleam),
    gleam(expected = "an S3Customer")
)]
pub enum S3Customer {
    /// The bucket owner's canonical id (hosting: the bucket's owner pays).
    #[default]
    BucketOwner,
    /// The requester's id, or the bucket owner for anonymous requests (`-`).
    Requester,
}

/// Settings of a parser.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(
    feature = "gleam",
    derive(tally_interop::IntoGleam, tally_interop::FromGleam),
    gleam(expected = "ParserOptions")
)]
pub struct ParserOptions {
    /// Lines longer than this are rejected without being buffered.
    #[cfg_attr(feature = "gleam", gleam(check = "crate::gleam_shapes::max_line_above_zero"))]
    pub max_line: usize,
    /// The `source` given to events of formats that carry none (S3, RGW, CSV).
    pub source: Option<String>,
    pub s3_customer: S3Customer,
    /// Whether the batches [`crate::batch::ingest_chunk`] makes are counted
    /// with deduplication by event id (a source's `dedup` option: on for
    /// producers that retry, off for files read exactly once by position).
    /// Parsing itself does not look at it.
    pub dedup: bool,
}

impl Default for ParserOptions {
    fn default() -> Self {
        ParserOptions {
            max_line: DEFAULT_MAX_LINE,
            source: None,
            s3_customer: S3Customer::default(),
            dedup: true,
        }
    }
}

/// What parsing produced: events and rejects, in input order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    pub events: Vec<UsageEvent>,
    pub rejects: Vec<Reject>,
}

impl Batch {
    pub fn append(&mut self, other: Batch) {
        self.events.extend(other.events);
        self.rejects.extend(other.rejects);
    }
}

impl EventSink for Batch {
    fn event(&mut self, event: EventRef<'_>) {
        self.events.push(event.to_event());
    }
    fn reject(&mut self, reject: Reject) {
        self.rejects.push(reject);
    }
}

/// Counts of records (lines; for RGW usage, bucket entries) read so far.
/// Always `records == accepted + rejected + skipped`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct ParseStats {
    pub records: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Blank lines and the CSV header: read, and deliberately not events.
    pub skipped: u64,
    pub events: u64,
    pub bytes: u64,
}

impl ParseStats {
    /// What was counted since `before`, an earlier reading of the same parser.
    pub fn since(self, before: ParseStats) -> ParseStats {
        ParseStats {
            records: self.records - before.records,
            accepted: self.accepted - before.accepted,
            rejected: self.rejected - before.rejected,
            skipped: self.skipped - before.skipped,
            events: self.events - before.events,
            bytes: self.bytes - before.bytes,
        }
    }
}

/// What a line-oriented format made of one line.
pub(crate) enum LineOutcome {
    Accepted,
    Skipped,
}

/// One line-oriented format: turns a line into events. A format checks the
/// whole line before it emits anything, so a rejected line adds no event.
pub(crate) trait LineFormat {
    const FORMAT: Format;
    fn parse_line<E: FnMut(EventRef<'_>)>(
        &mut self,
        pos: LinePos,
        line: &[u8],
        emit: E,
    ) -> Result<LineOutcome, RejectReason>;
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LineDriver<F> {
    splitter: LineSplitter,
    format: F,
    max_line: usize,
}

impl<F: LineFormat> LineDriver<F> {
    fn handle<S: EventSink>(
        format: &mut F,
        max_line: usize,
        item: LineItem,
        out: &mut S,
        stats: &mut ParseStats,
    ) {
        stats.records += 1;
        let mut emitted = 0u64;
        let (pos, text, result) = match item {
            LineItem::Line(pos, line) => {
                let emit = |e: EventRef<'_>| {
                    emitted += 1;
                    out.event(e);
                };
                (pos, line, format.parse_line(pos, line, emit))
            }
            LineItem::TooLong(pos, length, head) => (
                pos,
                head,
                Err(RejectReason::LineTooLong {
                    length,
                    limit: max_line as u64,
                }),
            ),
        };
        match result {
            Ok(LineOutcome::Accepted) => {
                stats.accepted += 1;
                stats.events += emitted;
            }
            Ok(LineOutcome::Skipped) => stats.skipped += 1,
            Err(reason) => {
                debug_assert_eq!(emitted, 0, "a format emitted events for a line it rejected");
                stats.rejected += 1;
                out.reject(Reject::new(F::FORMAT, pos.line, pos.offset, reason, text));
            }
        }
    }

    fn new(format: F, max_line: usize) -> Self {
        LineDriver {
            splitter: LineSplitter::new(max_line),
            format,
            max_line,
        }
    }

    fn feed<S: EventSink>(&mut self, chunk: &[u8], out: &mut S, stats: &mut ParseStats) {
        let (format, max_line) = (&mut self.format, self.max_line);
        self.splitter
            .feed(chunk, |item| Self::handle(format, max_line, item, out, stats));
    }

    fn finish<S: EventSink>(&mut self, out: &mut S, stats: &mut ParseStats) {
        let (format, max_line) = (&mut self.format, self.max_line);
        self.splitter
            .finish(|item| Self::handle(format, max_line, item, out, stats));
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
enum Inner {
    JsonLines(LineDriver<jsonl::JsonLinesFormat>),
    S3(LineDriver<s3::S3Format>),
    Csv(LineDriver<csv::StorageCsvFormat>),
    Rgw(rgw::RgwStream),
}

/// A parser for one stream of one format.
///
/// ```
/// use tally_core::parse::{Batch, ParserOptions, StreamParser};
/// use tally_core::reject::Format;
/// let mut p = StreamParser::new(Format::StorageCsv, ParserOptions::default());
/// let mut out = Batch::default();
/// p.feed(b"timestamp,customer,bucket,bytes\n2024-03-01T00:00:00Z,acme,b1,10", &mut out);
/// p.finish(&mut out);
/// assert_eq!(out.events.len(), 1);
/// assert_eq!(p.stats().records, 2);
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StreamParser {
    inner: Inner,
    stats: ParseStats,
    finished: bool,
}

impl StreamParser {
    pub fn new(format: Format, options: ParserOptions) -> Self {
        let max = options.max_line;
        let inner = match format {
            Format::JsonLines => Inner::JsonLines(LineDriver::new(jsonl::JsonLinesFormat, max)),
            Format::S3AccessLog => Inner::S3(LineDriver::new(s3::S3Format::new(&options), max)),
            Format::StorageCsv => Inner::Csv(LineDriver::new(csv::StorageCsvFormat::new(&options), max)),
            Format::RgwUsage => Inner::Rgw(rgw::RgwStream::new(&options)),
        };
        StreamParser {
            inner,
            stats: ParseStats::default(),
            finished: false,
        }
    }

    /// Parses a chunk; the events and rejects of the records it completes go
    /// to `out` (a [`Batch`], or any [`EventSink`]).
    pub fn feed<S: EventSink>(&mut self, chunk: &[u8], out: &mut S) {
        if self.finished {
            return;
        }
        self.stats.bytes += chunk.len() as u64;
        let stats = &mut self.stats;
        match &mut self.inner {
            Inner::JsonLines(d) => d.feed(chunk, out, stats),
            Inner::S3(d) => d.feed(chunk, out, stats),
            Inner::Csv(d) => d.feed(chunk, out, stats),
            Inner::Rgw(r) => r.feed(chunk, out, stats),
        }
    }

    /// Ends the stream: completes a last line with no newline, and reports a
    /// truncated document.
    pub fn finish<S: EventSink>(&mut self, out: &mut S) {
        if self.finished {
            return;
        }
        self.finished = true;
        let stats = &mut self.stats;
        match &mut self.inner {
            Inner::JsonLines(d) => d.finish(out, stats),
            Inner::S3(d) => d.finish(out, stats),
            Inner::Csv(d) => d.finish(out, stats),
            Inner::Rgw(r) => r.finish(out, stats),
        }
    }

    pub fn stats(&self) -> ParseStats {
        self.stats
    }
}

/// Parses a whole input at once.
pub fn parse_all(format: Format, options: ParserOptions, input: &[u8]) -> (Batch, ParseStats) {
    let mut p = StreamParser::new(format, options);
    let mut out = Batch::default();
    p.feed(input, &mut out);
    p.finish(&mut out);
    (out, p.stats())
}

/// A stable 64-bit FNV-1a hash, for ids derived from content.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Checks the properties every parser keeps on any input, panicking if one
/// breaks: parsing in chunks (of a size taken from the input's first byte)
/// gives exactly what parsing it whole gives, and the counts add up. The fuzz
/// targets and the property tests call it; a 200-byte line limit makes the
/// long-line paths run too.
pub fn check_stream_invariants(format: Format, data: &[u8]) {
    let step = data.first().map_or(1, |b| (*b as usize % 13) + 1);
    let options = ParserOptions {
        max_line: 200,
        ..ParserOptions::default()
    };
    let (whole, stats) = parse_all(format, options.clone(), data);
    let mut parser = StreamParser::new(format, options);
    let mut chunked = Batch::default();
    for chunk in data.chunks(step) {
        parser.feed(chunk, &mut chunked);
    }
    parser.finish(&mut chunked);
    if whole != chunked {
        panic!(
            "chunks of {step} bytes disagree with the whole input: {}",
            first_difference(&whole, &chunked)
        );
    }
    assert_eq!(stats, parser.stats());
    assert_eq!(
        stats.records,
        stats.accepted + stats.rejected + stats.skipped,
        "{stats:?}"
    );
    assert_eq!(stats.rejected as usize, whole.rejects.len());
    assert_eq!(stats.events as usize, whole.events.len());
}

/// The first event or reject where two batches differ, for short failure messages.
fn first_difference(a: &Batch, b: &Batch) -> String {
    if let Some(i) = (0..a.events.len().max(b.events.len())).find(|&i| a.events.get(i) != b.events.get(i)) {
        return format!("event {i}: {:?} vs {:?}", a.events.get(i), b.events.get(i));
    }
    let i = (0..a.rejects.len().max(b.rejects.len()))
        .find(|&i| a.rejects.get(i) != b.rejects.get(i))
        .unwrap_or(0);
    let show = |r: Option<&Reject>| r.map(|r| format!("{r} text={:?}", String::from_utf8_lossy(&r.text)));
    format!(
        "reject {i}: {:?} vs {:?}",
        show(a.rejects.get(i)),
        show(b.rejects.get(i))
    )
}

/// A parser's state that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a parser state: {0}")]
pub struct BadParserState(String);

impl StreamParser {
    /// The whole state (partial line included) as bytes, so that a parser
    /// can be moved or rebuilt after its process died. The encoding is JSON:
    /// small, and only ever read back by [`StreamParser::import_state`].
    pub fn export_state(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a parser's state always serializes")
    }

    pub fn import_state(bytes: &[u8]) -> Result<StreamParser, BadParserState> {
        serde_json::from_slice(bytes).map_err(|e| BadParserState(e.to_string()))
    }
}
