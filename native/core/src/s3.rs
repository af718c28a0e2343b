//! Amazon S3 server access logs (the "Amazon S3 server access log format"
//! document): one request per line, space-separated fields, where the time
//! is `[bracketed]`, the request URI, referrer and user agent are
//! `"quoted"` (and may hold spaces and `\"`), and any field may be `-`.
//!
//! Fields used, by position: 0 bucket owner, 1 bucket, 2 time, 4 requester,
//! 5 request id, 6 operation, 11 bytes sent, 12 object size. A line needs at
//! least the 17 fields up to the user agent; later fields (version id, host
//! id, signature version, ...) are accepted and ignored, as AWS may append more.
//!
//! Each line gives:
//! * `requests` = 1;
//! * `bandwidth_out_bytes` = Bytes Sent, when above 0 (`-` is 0);
//! * `bandwidth_in_bytes` = Object Size for uploads (`REST.PUT.OBJECT`,
//!   `REST.PUT.PART`, `REST.POST.OBJECT`, `REST.POST.UPLOAD`), when above 0.
//!
//! Event ids are `<request id>/<meter>`; a line with no request id gets
//! `s3-<FNV-1a of the line>-<line number>/<meter>` instead.

use std::borrow::Cow;

use crate::event::{meters, EventRef};
use crate::lines::LinePos;
use crate::parse::{fnv1a64, LineFormat, LineOutcome, ParserOptions, S3Customer};
use crate::reject::{Format, RejectReason};
use crate::time::to_epoch_ms;

const MIN_FIELDS: usize = 17;
const MAX_FIELDS: usize = 40;

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct S3Format {
    source: String,
    customer: S3Customer,
    /// Where each event's id is written (reused, so an id costs no allocation).
    #[serde(skip)]
    id: String,
}

impl S3Format {
    pub(crate) fn new(options: &ParserOptions) -> Self {
        S3Format {
            source: options
                .source
                .clone()
                .unwrap_or_else(|| "s3_access_log".to_string()),
            customer: options.s3_customer,
            id: String::new(),
        }
    }
}

/// Splits a log line into its fields, brackets and quotes removed.
fn split_fields(line: &[u8]) -> Result<([&[u8]; MAX_FIELDS], usize), RejectReason> {
    let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
    let mut n = 0;
    let mut i = 0;
    while i < line.len() {
        if line[i] == b' ' {
            i += 1;
            continue;
        }
        let (field, next) = match line[i] {
            b'[' => match memchr::memchr(b']', &line[i..]) {
                Some(end) => (&line[i + 1..i + end], i + end + 1),
                None => {
                    return Err(RejectReason::Malformed {
                        column: i as u32 + 1,
                        expected: "closing ']'",
                    })
                }
            },
            b'"' => {
                // The closing quote: the next `"` not escaped by a `\`.
                let mut j = i + 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', line.get(j..).unwrap_or_default()).map(|k| j + k) {
                        None => {
                            return Err(RejectReason::Malformed {
                                column: i as u32 + 1,
                                expected: "closing '\"'",
                            })
                        }
                        Some(k) if line[k] == b'\\' => j = k + 2,
                        Some(k) => {
                            j = k;
                            break;
                        }
                    }
                }
                (&line[i + 1..j], j + 1)
            }
            _ => {
                let end = memchr::memchr(b' ', &line[i..]).map_or(line.len(), |e| i + e);
                (&line[i..end], end)
            }
        };
        if n == MAX_FIELDS {
            return Err(RejectReason::WrongFieldCount {
                expected: MAX_FIELDS as u32,
                found: n as u32 + 1,
            });
        }
        fields[n] = field;
        n += 1;
        i = next;
    }
    Ok((fields, n))
}

/// `06/Feb/2019:00:00:38 +0000`
pub fn parse_log_time(s: &[u8]) -> Option<i64> {
    if s.len() != 26
        || s[2] != b'/'
        || s[6] != b'/'
        || s[11] != b':'
        || s[14] != b':'
        || s[17] != b':'
        || s[20] != b' '
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        s[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == &s[3..6])? as u32 + 1;
    let local = to_epoch_ms(
        num(7..11)? as i64,
        month,
        num(0..2)?,
        num(12..14)?,
        num(15..17)?,
        num(18..20)?,
        0,
    )?;
    let (oh, om) = (num(22..24)? as i64, num(24..26)? as i64);
    if om > 59 {
        return None;
    }
    let offset = (oh * 60 + om) * 60_000;
    match s[21] {
        b'+' => Some(local - offset),
        b'-' => Some(local + offset),
        _ => None,
    }
}

/// A byte count field: `-` is 0.
fn byte_count(field: &[u8], name: &'static str) -> Result<u64, RejectReason> {
    if field == b"-" {
        return Ok(0);
    }
    if field.is_empty() || field.len() > 19 || !field.iter().all(u8::is_ascii_digit) {
        return Err(RejectReason::InvalidNumber { field: name });
    }
    let v = field.iter().fold(0u64, |acc, &c| acc * 10 + (c - b'0') as u64);
    if v > i64::MAX as u64 {
        return Err(RejectReason::NumberTooLarge { field: name });
    }
    Ok(v)
}

fn text<'a>(field: &'a [u8], name: &'static str) -> Result<&'a str, RejectReason> {
    let s = if field.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        unsafe { std::str::from_utf8_unchecked(field) }
    } else {
        std::str::from_utf8(field).map_err(|e| RejectReason::InvalidUtf8 {
            column: e.valid_up_to() as u32 + 1,
        })?
    };
    if s.is_empty() || s == "-" {
        return Err(RejectReason::EmptyField { field: name });
    }
    Ok(s)
}

fn is_upload(operation: &[u8]) -> bool {
    matches!(
        operation,
        b"REST.PUT.OBJECT" | b"REST.PUT.PART" | b"REST.POST.OBJECT" | b"REST.POST.UPLOAD"
    )
}

impl LineFormat for S3Format {
    const FORMAT: Format = Format::S3AccessLog;

    fn parse_line<E: FnMut(EventRef<'_>)>(
        &mut self,
        pos: LinePos,
        line: &[u8],
        mut emit: E,
    ) -> Result<LineOutcome, RejectReason> {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(LineOutcome::Skipped);
        }
        let (f, n) = split_fields(line)?;
        if n < MIN_FIELDS {
            return Err(RejectReason::WrongFieldCount {
                expected: MIN_FIELDS as u32,
                found: n as u32,
            });
        }
        let owner = text(f[0], "bucket_owner")?;
        let bucket = text(f[1], "bucket")?;
        let time_ms = parse_log_time(f[2]).ok_or(RejectReason::InvalidTime { field: "time" })?;
        let customer = match (self.customer, f[4]) {
            (S3Customer::Requester, requester) if requester != b"-" => text(requester, "requester")?,
            _ => owner,
        };
        let operation = f[6];
        let bytes_sent = byte_count(f[11], "bytes_sent")?;
        let object_size = byte_count(f[12], "object_size")?;
        let id = &mut self.id;
        id.clear();
        match f[5] {
            b"-" | b"" => {
                use std::fmt::Write;
                let _ = write!(id, "s3-{:016x}-{}", fnv1a64(line), pos.line);
            }
            request_id => id.push_str(text(request_id, "request_id")?),
        }
        id.push('/');
        let base_len = id.len();
        let source = self.source.as_str();
        let mut push = |meter: &'static str, value: u64| {
            id.truncate(base_len);
            id.push_str(meter);
            emit(EventRef {
                id: Cow::Borrowed(id.as_str()),
                source: Cow::Borrowed(source),
                customer: Cow::Borrowed(customer),
                resource: Cow::Borrowed(bucket),
                meter: Cow::Borrowed(meter),
                value,
                time_ms,
            })
        };
        push(meters::REQUESTS, 1);
        if bytes_sent > 0 {
            push(meters::BANDWIDTH_OUT_BYTES, bytes_sent);
        }
        if is_upload(operation) && object_size > 0 {
            push(meters::BANDWIDTH_IN_BYTES, object_size);
        }
        Ok(LineOutcome::Accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_time() {
        assert_eq!(
            parse_log_time(b"06/Feb/2019:00:00:38 +0000"),
            Some(1_549_411_238_000)
        );
        assert_eq!(
            parse_log_time(b"06/Feb/2019:02:00:38 +0200"),
            Some(1_549_411_238_000)
        );
        assert_eq!(parse_log_time(b"30/Feb/2019:00:00:38 +0000"), None);
        assert_eq!(parse_log_time(b"06/Fev/2019:00:00:38 +0000"), None);
    }

    #[test]
    fn fields_with_quotes_and_brackets() {
        let (f, n) = split_fields(
            br#"a [06/Feb/2019:00:00:38 +0000] "GET /x?q=\"1\" HTTP/1.1" - "Mozilla/5.0 (X11; Linux)""#,
        )
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(f[1], b"06/Feb/2019:00:00:38 +0000");
        assert_eq!(f[2], br#"GET /x?q=\"1\" HTTP/1.1"#);
        assert_eq!(f[3], b"-");
        assert_eq!(f[4], b"Mozilla/5.0 (X11; Linux)");
    }
}
