//// Usage events and rejects: what every parser returns, from every backend.

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
