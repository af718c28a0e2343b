//! Storage capacity snapshots as CSV (RFC 4180): a header naming the
//! columns `timestamp`, `customer`, `bucket` and `bytes` in any order
//! (case and surrounding spaces ignored; other columns ignored), then one
//! snapshot per line. Fields may be quoted (`"a,b"`, `""` for a quote);
//! quoted line breaks are not supported (the line is rejected).
//!
//! `timestamp` is RFC 3339 or integer seconds since the epoch. Each line
//! gives one `storage_bytes` event, with the id
//! `<customer>/<bucket>/<time_ms>`: the same snapshot read twice is the
//! same event. A UTF-8 byte-order mark before the header (spreadsheets'
//! "CSV UTF-8" writes one) is dropped. A first record that is not a valid
//! header (a column missing or named twice, or a malformed line) refuses
//! the whole file: it is rejected with its reason and every line after it
//! with `BadHeader`, never read in a guessed column order.

use std::borrow::Cow;

use crate::event::{meters, EventRef};
use crate::lines::LinePos;
use crate::parse::{LineFormat, LineOutcome, ParserOptions};
use crate::reject::{Format, RejectReason};
use crate::time::parse_rfc3339;

const COLUMNS: [&str; 4] = ["timestamp", "customer", "bucket", "bytes"];

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct StorageCsvFormat {
    source: String,
    /// Position of each of COLUMNS; `None` until the header was read.
    columns: Option<[usize; 4]>,
    width: usize,
    /// The first record was not a valid header: every later line is refused.
    #[serde(default)]
    refused: bool,
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl StorageCsvFormat {
    pub(crate) fn new(options: &ParserOptions) -> Self {
        StorageCsvFormat {
            source: options
                .source
                .clone()
                .unwrap_or_else(|| "storage_csv".to_string()),
            columns: None,
            width: 4,
            refused: false,
        }
    }
}

/// Splits one CSV record into its fields, unquoting them.
fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, RejectReason> {
    let mut fields = Vec::with_capacity(4);
    let mut i = 0;
    loop {
        let mut field = Vec::new();
        if line.get(i) == Some(&b'"') {
            let open = i;
            i += 1;
            loop {
                match line.get(i) {
                    None => {
                        return Err(RejectReason::Malformed {
                            column: open as u32 + 1,
                            expected: "closing '\"'",
                        })
                    }
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        field.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            if !matches!(line.get(i), None | Some(b',')) {
                return Err(RejectReason::Malformed {
                    column: i as u32 + 1,
                    expected: "',' after a quoted field",
                });
            }
        } else {
            let end = memchr::memchr(b',', &line[i..]).map_or(line.len(), |e| i + e);
            field.extend_from_slice(&line[i..end]);
            i = end;
        }
        fields.push(field);
        if i >= line.len() {
            return Ok(fields);
        }
        i += 1; // the comma
        if i == line.len() {
            fields.push(Vec::new());
            return Ok(fields);
        }
    }
}

/// Where each column is, when every one is named exactly once.
fn header(fields: &[Vec<u8>]) -> Option<[usize; 4]> {
    let mut at = [usize::MAX; 4];
    for (i, f) in fields.iter().enumerate() {
        let name = String::from_utf8_lossy(f).trim().to_ascii_lowercase();
        if let Some(c) = COLUMNS.iter().position(|&col| col == name) {
            if at[c] != usize::MAX {
                return None; // named twice: which one holds the values?
            }
            at[c] = i;
        }
    }
    at.iter().all(|&i| i != usize::MAX).then_some(at)
}

fn parse_time(field: &str) -> Option<i64> {
    if !field.is_empty() && field.len() <= 12 && field.bytes().all(|b| b.is_ascii_digit()) {
        return field.parse::<i64>().ok().map(|s| s * 1000);
    }
    parse_rfc3339(field.as_bytes())
}

impl LineFormat for StorageCsvFormat {
    const FORMAT: Format = Format::StorageCsv;

    fn parse_line<E: FnMut(EventRef<'_>)>(
        &mut self,
        pos: LinePos,
        line: &[u8],
        mut emit: E,
    ) -> Result<LineOutcome, RejectReason> {
        let line = match line.strip_prefix(BOM) {
            Some(rest) if pos.line == 1 => rest,
            _ => line,
        };
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(LineOutcome::Skipped);
        }
        if self.refused {
            return Err(RejectReason::BadHeader);
        }
        let Some(cols) = self.columns else {
            // The first record is the header; without a valid one the file is refused.
            let fields = split(line).inspect_err(|_| self.refused = true)?;
            let Some(cols) = header(&fields) else {
                self.refused = true;
                return Err(RejectReason::BadHeader);
            };
            self.columns = Some(cols);
            self.width = fields.len().max(4);
            return Ok(LineOutcome::Skipped);
        };
        let fields = split(line)?;
        let get = |c: usize| fields.get(cols[c]).map(|f| f.as_slice());
        let needed = cols.iter().max().copied().unwrap_or(3) + 1;
        if fields.len() < needed {
            return Err(RejectReason::WrongFieldCount {
                expected: self.width as u32,
                found: fields.len() as u32,
            });
        }
        let field_text = |c: usize, name: &'static str| -> Result<String, RejectReason> {
            let raw = get(c).unwrap_or_default();
            let s = std::str::from_utf8(raw).map_err(|e| RejectReason::InvalidUtf8 {
                column: e.valid_up_to() as u32 + 1,
            })?;
            let s = s.trim();
            if s.is_empty() {
                return Err(RejectReason::EmptyField { field: name });
            }
            Ok(s.to_string())
        };
        let time_ms = parse_time(&field_text(0, "timestamp")?)
            .ok_or(RejectReason::InvalidTime { field: "timestamp" })?;
        let customer = field_text(1, "customer")?;
        let bucket = field_text(2, "bucket")?;
        let bytes_text = field_text(3, "bytes")?;
        if bytes_text.len() > 19 || !bytes_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RejectReason::InvalidNumber { field: "bytes" });
        }
        let bytes: u64 = bytes_text
            .parse()
            .map_err(|_| RejectReason::NumberTooLarge { field: "bytes" })?;
        if bytes > i64::MAX as u64 {
            return Err(RejectReason::NumberTooLarge { field: "bytes" });
        }
        emit(EventRef {
            id: Cow::Owned(format!("{customer}/{bucket}/{time_ms}")),
            source: Cow::Borrowed(&self.source),
            customer: Cow::Owned(customer),
            resource: Cow::Owned(bucket),
            meter: Cow::Borrowed(meters::STORAGE_BYTES),
            value: bytes,
            time_ms,
        });
        Ok(LineOutcome::Accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_rfc4180() {
        assert_eq!(
            split(br#"a,"b,c","d""e","#).unwrap(),
            vec![b"a".to_vec(), b"b,c".to_vec(), b"d\"e".to_vec(), vec![]]
        );
        assert!(split(br#""open"#).is_err());
    }
}
