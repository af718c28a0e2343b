//// Usage events and rejects: what every parser returns, from every backend.

import tally/option

/// One measured quantity of usage, normalised from any source.
///
/// `value` is a non-negative integer in the meter's unit; `time_ms` is
/// milliseconds since the Unix epoch, UTC.
///
/// ```gleam
/// UsageEvent(id: "e1", source: "/edge/fra1", customer: "acme",
///   resource: "bucket-1", meter: "bandwidth_out_bytes", value: 1024,
///   time_ms: 1_709_290_800_000)
/// ```
pub type UsageEvent {
  UsageEvent(
    id: String,
    source: String,
    customer: String,
    resource: String,
    meter: String,
    value: Int,
    time_ms: Int,
  )
}

/// The input formats tally reads.
pub type Format {
  JsonLines
  S3AccessLog
  RgwUsage
  StorageCsv
}

/// Why a line was rejected. Fields are named as in the source format
/// (`data.value`); columns are 1-based byte columns within the line.
pub type RejectReason {
  /// A field of a delimited line without its format's shape.
  BadField(field: String, column: Int, expected: String)
  /// A JSON key given twice in one object (`data.value` for a key of `data`).
  DuplicateKey(field: String)
  /// Two fields of one record that must agree and do not.
  Disagree(field: String, other: String)
  InvalidJson(column: Int, expected: String)
  Malformed(column: Int, expected: String)
  InvalidUtf8(column: Int)
  MissingField(field: String)
  WrongType(field: String, expected: String)
  EmptyField(field: String)
  InvalidTime(field: String)
  InvalidNumber(field: String)
  NumberTooLarge(field: String)
  LineTooLong(length: Int, limit: Int)
  WrongFieldCount(expected: Int, found: Int)
  BadHeader
}

/// A rejected line: its 1-based number, the byte offset where it starts,
/// the reason, and the line itself (its first 4096 bytes).
pub type Reject {
  Reject(
    format: Format,
    line: Int,
    offset: Int,
    reason: RejectReason,
    text: BitArray,
  )
}

/// The unit a standard meter counts in.
pub type MeterUnit {
  Bytes
  Count
}

/// Counts of what a parser read. Always
/// `records == accepted + rejected + skipped`; records are lines (bucket
/// entries for RGW usage); skipped are blank lines and the CSV header.
pub type ParseStats {
  ParseStats(
    records: Int,
    accepted: Int,
    rejected: Int,
    skipped: Int,
    events: Int,
    bytes: Int,
  )
}

/// What parsing produced: events and rejects in input order, and the counts.
pub type Parsed {
  Parsed(events: List(UsageEvent), rejects: List(Reject), stats: ParseStats)
}

/// What `ingest_chunk` made of a whole chunk: one batch per shard (shard
/// `i`'s at position `i`), the chunk's rejects (lines and offsets relative
/// to the chunk) and its counts, as `parse_chunk` gives them. A batch holds
/// its shard's events inside the engine (an opaque value; the pure Gleam
/// engine's is the event list), to be counted once with `apply_batch`.
pub type Ingested(batch) {
  Ingested(batches: List(batch), rejects: List(Reject), stats: ParseStats)
}

/// Who an S3 access log line is billed to.
pub type S3Customer {
  BucketOwner
  Requester
}

/// Settings of a parser: the longest line accepted, the `source` given to
/// events of formats that carry none, S3 attribution, and whether the
/// batches `ingest_chunk` makes are counted with deduplication by event id
/// (a source's `dedup` option; parsing itself ignores it).
pub type ParserOptions {
  ParserOptions(
    max_line: Int,
    source: option.Option(String),
    s3_customer: S3Customer,
    dedup: Bool,
  )
}

/// 1 MiB lines, default sources, S3 billed to bucket owners.
///
/// ```gleam
/// event.default_parser_options().max_line
/// // -> 1_048_576
/// ```
pub fn default_parser_options() -> ParserOptions {
  ParserOptions(
    max_line: 1_048_576,
    source: option.None,
    s3_customer: BucketOwner,
    dedup: True,
  )
}
