//! Rejected input: every line a parser cannot use is kept with where and why.

use std::fmt;

/// The input formats tally reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam, tally_interop::FromGleam))]
pub enum Format {
    /// CloudEvents-style usage events, one JSON object per line.
    JsonLines,
    /// S3 server access logs.
    S3AccessLog,
    /// `radosgw-admin usage show` JSON.
    RgwUsage,
    /// Storage capacity snapshots as CSV.
    StorageCsv,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::JsonLines => "json_lines",
            Format::S3AccessLog => "s3_access_log",
            Format::RgwUsage => "rgw_usage",
            Format::StorageCsv => "storage_csv",
        }
    }
}

/// Why a line was rejected. Field names are the format's own (`data.value`,
/// `bytes_sent`, ...); columns are 1-based byte columns within the line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub enum RejectReason {
    /// A field of a delimited line (an access log's quoted Request-URI, its
    /// bracketed time, ...) that does not have its format's shape.
    BadField {
        field: &'static str,
        column: u32,
        expected: &'static str,
    },
    /// A JSON key given twice in one object (`data.value` for a key of
    /// `data`): which copy to believe is not for tally to guess.
    DuplicateKey {
        field: String,
    },
    /// Two fields of one record that must agree and do not (an RGW entry's
    /// `time` and `epoch`).
    Disagree {
        field: &'static str,
        other: &'static str,
    },
    /// Not well-formed: what was expected at which column.
    InvalidJson {
        column: u32,
        expected: &'static str,
    },
    /// A delimited line (access log, CSV) that breaks its format's syntax.
    Malformed {
        column: u32,
        expected: &'static str,
    },
    /// Bytes that are not UTF-8 in a text field.
    InvalidUtf8 {
        column: u32,
    },
    MissingField {
        field: &'static str,
    },
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    EmptyField {
        field: &'static str,
    },
    /// A timestamp that is not a valid date and time of its format.
    InvalidTime {
        field: &'static str,
    },
    /// Not a non-negative integer (negative, fractional, exponent, junk).
    InvalidNumber {
        field: &'static str,
    },
    /// An integer over 2^63 - 1.
    NumberTooLarge {
        field: &'static str,
    },
    /// More than the configured line length limit; the line is skipped whole.
    LineTooLong {
        length: u64,
        limit: u64,
    },
    /// A delimited record with the wrong number of fields.
    WrongFieldCount {
        expected: u32,
        found: u32,
    },
    /// The CSV header does not name the expected columns: the header line
    /// and every line after it are refused (never read in a guessed order).
    BadHeader,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RejectReason::*;
        match self {
            BadField {
                field,
                column,
                expected,
            } => write!(f, "field {field} at column {column}: expected {expected}"),
            DuplicateKey { field } => write!(f, "field {field} appears more than once"),
            Disagree { field, other } => write!(f, "field {field} disagrees with {other}"),
            InvalidJson { column, expected } => {
                write!(f, "invalid JSON at column {column}: expected {expected}")
            }
            Malformed { column, expected } => {
                write!(f, "malformed line at column {column}: expected {expected}")
            }
            InvalidUtf8 { column } => write!(f, "invalid UTF-8 at column {column}"),
            MissingField { field } => write!(f, "missing field {field}"),
            WrongType { field, expected } => write!(f, "field {field} should be {expected}"),
            EmptyField { field } => write!(f, "field {field} is empty"),
            InvalidTime { field } => write!(f, "field {field} is not a valid timestamp"),
            InvalidNumber { field } => write!(f, "field {field} is not a non-negative integer"),
            NumberTooLarge { field } => write!(f, "field {field} is too large"),
            LineTooLong { length, limit } => write!(f, "line of {length} bytes is over the limit of {limit}"),
            WrongFieldCount { expected, found } => write!(f, "expected {expected} fields, found {found}"),
            BadHeader => write!(
                f,
                "the CSV header does not name the columns timestamp, customer, bucket and bytes"
            ),
        }
    }
}

/// The most bytes of a rejected line kept in its [`Reject`].
pub const KEPT_TEXT_LIMIT: usize = 4096;

/// A rejected line: its 1-based number, the byte offset where it starts in
/// the stream, the format, the reason, and (up to [`KEPT_TEXT_LIMIT`] bytes
/// of) the line itself so it can be inspected and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct Reject {
    pub format: Format,
    pub line: u64,
    pub offset: u64,
    pub reason: RejectReason,
    #[cfg_attr(feature = "gleam", gleam(bit_array))]
    pub text: Vec<u8>,
}

impl Reject {
    pub fn new(format: Format, line: u64, offset: u64, reason: RejectReason, text: &[u8]) -> Self {
        let kept = &text[..text.len().min(KEPT_TEXT_LIMIT)];
        Reject {
            format,
            line,
            offset,
            reason,
            text: kept.to_vec(),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {} (byte {}): {}",
            self.format.name(),
            self.line,
            self.offset,
            self.reason
        )
    }
}
