//! Amazon S3 server access logs (the "Amazon S3 server access log format"
//! document): one request per line, space-separated fields, where the time
//! is `[bracketed]`, the Request-URI, Referer and User-Agent are `"quoted"`
//! and any field may be `-`. S3 writes the quoted fields unescaped, so they
//! may hold spaces and quotes: see `closing_quote` (below) for where each ends.
//!
//! Fields used, by position: 0 bucket owner, 1 bucket, 2 time, 4 requester,
//! 5 request id, 6 operation, 11 bytes sent, 12 object size. A line needs at
//! least the 17 fields up to the user agent; later fields (version id, host
//! id, signature version, ...) are accepted and ignored, as AWS may append more.
//! Every reason names the field it is about (`request_uri`, `bytes_sent`,
//! ...; a short line: the first missing field). The older format (up to the
//! User-Agent, `Anonymous` for an unauthenticated requester) reads the same.
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

/// The fields of a line, by position (the S3 documentation's names, in
/// snake case); a reason names the field it is about. Fields after these
/// (version id, host id, signature version, cipher suite, authentication
/// type, host header, TLS version, access point ARN, aclRequired, and any
/// AWS appends later) are read and not used.
const NAMES: [&str; MIN_FIELDS] = [
    "bucket_owner",
    "bucket",
    "time",
    "remote_ip",
    "requester",
    "request_id",
    "operation",
    "key",
    "request_uri",
    "http_status",
    "error_code",
    "bytes_sent",
    "object_size",
    "total_time",
    "turn_around_time",
    "referer",
    "user_agent",
];
const TIME: usize = 2;
const REQUEST_URI: usize = 8;
const REFERER: usize = 15;
const USER_AGENT: usize = 16;

/// The fields of a line (brackets and quotes removed) and where each starts.
struct Fields<'a> {
    text: [&'a [u8]; MAX_FIELDS],
    start: [usize; MAX_FIELDS],
    n: usize,
}

/// Whether the bytes at `at` are a whole field: followed by a space or the
/// end of the line.
fn field_ends(line: &[u8], at: usize) -> bool {
    matches!(line.get(at), None | Some(b' '))
}

/// An HTTP status: three digits, or `-`.
fn is_status(field: &[u8]) -> bool {
    field == b"-" || (field.len() == 3 && field.iter().all(u8::is_ascii_digit))
}

/// After a space at `at`, the fields that follow the Request-URI: the HTTP
/// status, five words (error code, bytes sent, object size, total time,
/// turn-around time) and the start of the Referer (a quote or a word).
fn uri_tail_at(line: &[u8], mut at: usize) -> bool {
    for k in 0..7 {
        if line.get(at) != Some(&b' ') {
            return false;
        }
        while line.get(at) == Some(&b' ') {
            at += 1;
        }
        let end = memchr::memchr(b' ', &line[at..]).map_or(line.len(), |e| at + e);
        if end == at || (k == 0 && !is_status(&line[at..end])) {
            return false;
        }
        if k == 6 {
            return true; // the Referer: quoted, or a word such as `-`
        }
        at = end;
    }
    false
}

/// The closing quote of the quoted field number `field` opened before
/// `from`. S3 writes the Request-URI, Referer and User-Agent as they came,
/// so they may hold `"` themselves; a quote closes the field when what
/// follows is what the next fields must look like:
/// * Request-URI: a space, an HTTP status (three digits or `-`), five more
///   words and the Referer; failing that, the first quote before a space
///   (and the status is then checked on its own);
/// * Referer: a space and the quoted User-Agent; failing that, a space and
///   `-`, or the end of the line;
/// * User-Agent: the last quote of the line (no later field is quoted),
///   followed by a space or the end.
fn closing_quote(line: &[u8], from: usize, field: usize) -> Result<usize, &'static str> {
    let quotes = || memchr::memchr_iter(b'"', &line[from..]).map(|k| from + k);
    let found = match field {
        REQUEST_URI => quotes()
            .find(|&q| uri_tail_at(line, q + 1))
            .or_else(|| quotes().find(|&q| line.get(q + 1) == Some(&b' '))),
        REFERER => quotes()
            .find(|&q| line.get(q + 1..q + 3) == Some(&b" \""[..]))
            .or_else(|| {
                quotes().find(|&q| {
                    line.get(q + 1).is_none()
                        || (line.get(q + 1..q + 3) == Some(&b" -"[..]) && field_ends(line, q + 3))
                })
            }),
        _ => memchr::memrchr(b'"', &line[from..])
            .map(|k| from + k)
            .filter(|&q| field_ends(line, q + 1)),
    };
    found.ok_or(match field {
        REQUEST_URI => "closing '\"' followed by a space",
        REFERER => "closing '\"' followed by the User-Agent",
        _ => "closing '\"' followed by a space or the end of the line",
    })
}

/// Splits a log line into its fields: `[time]`, the three quoted fields
/// (or `-`), and space-separated words for the rest.
fn split_fields(line: &[u8]) -> Result<Fields<'_>, RejectReason> {
    let mut f = Fields {
        text: [&[]; MAX_FIELDS],
        start: [0; MAX_FIELDS],
        n: 0,
    };
    let mut i = 0;
    while i < line.len() {
        if line[i] == b' ' {
            i += 1;
            continue;
        }
        if f.n == MAX_FIELDS {
            return Err(RejectReason::WrongFieldCount {
                expected: MAX_FIELDS as u32,
                found: f.n as u32 + 1,
            });
        }
        let bad = |expected| RejectReason::BadField {
            field: NAMES[f.n],
            column: i as u32 + 1,
            expected,
        };
        let (field, next) = match (f.n, line[i]) {
            (TIME, b'[') => match memchr::memchr(b']', &line[i..]) {
                Some(end) => (&line[i + 1..i + end], i + end + 1),
                None => return Err(bad("closing ']'")),
            },
            (REQUEST_URI | REFERER | USER_AGENT, b'"') => {
                let end = closing_quote(line, i + 1, f.n).map_err(bad)?;
                (&line[i + 1..end], end + 1)
            }
            _ => {
                let end = memchr::memchr(b' ', &line[i..]).map_or(line.len(), |e| i + e);
                (&line[i..end], end)
            }
        };
        f.text[f.n] = field;
        f.start[f.n] = i;
        f.n += 1;
        i = next;
    }
    Ok(f)
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

/// Text field number `i`: UTF-8, and neither empty nor `-`.
fn text<'a>(f: &Fields<'a>, i: usize) -> Result<&'a str, RejectReason> {
    let field = f.text[i];
    let s = if field.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        unsafe { std::str::from_utf8_unchecked(field) }
    } else {
        std::str::from_utf8(field).map_err(|e| RejectReason::BadField {
            field: NAMES[i],
            column: (f.start[i] + e.valid_up_to()) as u32 + 1,
            expected: "UTF-8 text",
        })?
    };
    if s.is_empty() || s == "-" {
        return Err(RejectReason::EmptyField { field: NAMES[i] });
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
        let f = split_fields(line)?;
        // Fields are checked in line order, so the reason names the first
        // that broke: a bad time before a line cut short after it.
        let missing = RejectReason::MissingField {
            field: NAMES[f.n.min(MIN_FIELDS - 1)],
        };
        let owner = text(&f, 0)?;
        let bucket = if f.n > 1 {
            text(&f, 1)?
        } else {
            return Err(missing);
        };
        if f.n <= TIME {
            return Err(missing);
        }
        let time_ms = parse_log_time(f.text[TIME]).ok_or(RejectReason::InvalidTime { field: "time" })?;
        if f.n < MIN_FIELDS {
            return Err(missing);
        }
        // Anonymous requests: `-`, or `Anonymous` in the older format.
        let customer = match (self.customer, f.text[4]) {
            (S3Customer::Requester, requester) if requester != b"-" && requester != b"Anonymous" => {
                text(&f, 4)?
            }
            _ => owner,
        };
        if !is_status(f.text[9]) {
            return Err(RejectReason::BadField {
                field: "http_status",
                column: f.start[9] as u32 + 1,
                expected: "three digits or '-'",
            });
        }
        let operation = f.text[6];
        let bytes_sent = byte_count(f.text[11], "bytes_sent")?;
        let object_size = byte_count(f.text[12], "object_size")?;
        let id = &mut self.id;
        id.clear();
        match f.text[5] {
            b"-" | b"" => {
                use std::fmt::Write;
                let _ = write!(id, "s3-{:016x}-{}", fnv1a64(line), pos.line);
            }
            _ => id.push_str(text(&f, 5)?),
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
    fn quoted_fields_end_where_the_next_field_can_start() {
        let f = split_fields(
            br#"o b [06/Feb/2019:00:00:38 +0000] ip - id OP k "GET /a" b"-" HTTP/1.1" 403 - 1 - 2 - "http://x/"q"" "ua "v" 1" - host"#,
        )
        .unwrap();
        assert_eq!(f.n, 19);
        assert_eq!(f.text[TIME], b"06/Feb/2019:00:00:38 +0000");
        assert_eq!(f.text[REQUEST_URI], br#"GET /a" b"-" HTTP/1.1"#);
        assert_eq!(f.text[9], b"403");
        assert_eq!(f.text[REFERER], br#"http://x/"q""#);
        assert_eq!(f.text[USER_AGENT], br#"ua "v" 1"#);
        assert_eq!(f.text[18], b"host");
        let bad = |line: &[u8]| split_fields(line).err();
        assert_eq!(
            bad(br#"o b [t] ip - id OP k "GET / HTTP/1.1 x"#),
            Some(RejectReason::BadField {
                field: "request_uri",
                column: 22,
                expected: "closing '\"' followed by a space"
            })
        );
        assert_eq!(
            bad(b"o b [06/Feb/2019:00:00:38 +0000"),
            Some(RejectReason::BadField {
                field: "time",
                column: 5,
                expected: "closing ']'"
            })
        );
    }
}
