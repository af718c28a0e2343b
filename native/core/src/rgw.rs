//! Ceph RGW usage as `radosgw-admin usage show` prints it (and the admin
//! API's `GET /admin/usage` returns it; both are `RGWUsage::show` in Ceph's
//! `src/rgw/rgw_usage.cc`):
//!
//! ```json
//! {"entries": [{"user": "johndoe",
//!               "buckets": [{"bucket": "photos", "time": "2024-03-01 10:00:00.000000Z",
//!                            "epoch": 1709287200, "owner": "johndoe",
//!                            "categories": [{"category": "get_obj", "bytes_sent": 1024,
//!                                            "bytes_received": 0, "ops": 3, "successful_ops": 3}]}]}],
//!  "summary": [...]}
//! ```
//!
//! The document is one JSON value spread over many lines, so it is read as a
//! stream: a small state machine follows the structure chunk by chunk and
//! cuts out each bucket entry (`entries[].buckets[]`), which is then parsed
//! whole. Memory is bounded by the largest bucket entry (and by `max_line`).
//! A bucket entry is a "record": accepted or rejected as a unit, its line
//! and offset those of its opening `{`. Several documents in a row are read
//! one after the other.
//!
//! What is not read is refused, never taken as zero: a document without
//! `entries` (`--show-log-entries=false` prints only the `summary`, which has
//! no time or bucket to bill by; older releases spelt the keys `Entries`,
//! `Owner`, ...) is one rejected record (`MissingField entries`) at its `{`,
//! and so is a user section without `buckets`. The `summary` of a document
//! with entries repeats them and is skipped.
//!
//! Each category of a bucket entry gives, when above 0:
//! `bandwidth_out_bytes` (bytes_sent), `bandwidth_in_bytes` (bytes_received),
//! `requests` (ops) and `successful_requests` (successful_ops). Usage is
//! billed as RGW accounts it (`rgw_log.cc` logs it under the payer of a
//! requester-pays bucket, else the bucket's owner, and under the requesting
//! user for operations without a bucket; `usage show` groups entries by that
//! user): the customer is the entry's `payer`, else its `owner`, else the
//! section's `user`, and an entry whose customer is not its section's user is
//! refused (`Disagree`). A key given twice in a bucket entry or a category,
//! or a second `user` before a section's buckets, refuses the bucket entry
//! (`DuplicateKey`). The bucket `""` (user-level operations such as
//! listing buckets) and `"-"` (RGW's name for a bucket that was not found)
//! both bill the resource `-`; their ids keep them apart. The time is
//! `epoch` (the start of the hour RGW counted in), else `time`; when both are
//! present they must agree. Ids are
//! `rgw/<customer>/<bucket as written>/<time_ms>/<category>/<meter>`.

use std::borrow::Cow;

use crate::event::{meters, EventRef, EventSink};
use crate::json::{Number, Scanner};
use crate::jsonl::scan_reason;
use crate::parse::{ParseStats, ParserOptions};
use crate::reject::{Format, Reject, RejectReason, KEPT_TEXT_LIMIT};
use crate::time::parse_rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Tag {
    Root,
    Entries,
    Entry,
    Buckets,
    Bucket,
    Other,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Frame {
    tag: Tag,
    is_object: bool,
    /// In an object: the next string is a key.
    expect_key: bool,
    /// The last key read, kept only where the path needs it (Root, Entry).
    key: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum StringRole {
    Key,
    User,
    Ignore,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Capture {
    line: u64,
    offset: u64,
    bytes: Vec<u8>,
    /// Full length when over the limit (only the head is kept).
    overflow: Option<u64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct RgwStream {
    source: String,
    max_record: usize,
    stack: Vec<Frame>,
    in_string: bool,
    escape: bool,
    role: StringRole,
    string_buf: Vec<u8>,
    user: Option<String>,
    capture: Option<Capture>,
    /// Position of the next byte.
    line: u64,
    offset: u64,
    line_start: u64,
    failed: bool,
    /// The current document: where its `{` is, and whether it has `entries`.
    #[serde(default)]
    doc: Start,
    /// The current user section (`entries[]`): where, and whether it has `buckets`.
    #[serde(default)]
    section: Start,
    /// How many `user` (or `owner`) keys the current section has had so far:
    /// a second one refuses the bucket entries after it.
    #[serde(default)]
    section_users: u8,
}

/// Where an object began, and whether the part that must be read came.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Start {
    line: u64,
    offset: u64,
    seen: bool,
}

/// Deepest nesting followed; deeper input is rejected.
const MAX_DEPTH: usize = 64;

impl RgwStream {
    pub(crate) fn new(options: &ParserOptions) -> Self {
        RgwStream {
            source: options.source.clone().unwrap_or_else(|| "rgw_usage".to_string()),
            max_record: options.max_line,
            stack: Vec::new(),
            in_string: false,
            escape: false,
            role: StringRole::Ignore,
            string_buf: Vec::new(),
            user: None,
            capture: None,
            line: 1,
            offset: 0,
            line_start: 0,
            failed: false,
            doc: Start::default(),
            section: Start::default(),
            section_users: 0,
        }
    }

    pub(crate) fn feed<S: EventSink>(&mut self, chunk: &[u8], out: &mut S, stats: &mut ParseStats) {
        if self.failed {
            return;
        }
        // Start of the not-yet-copied part of a capture within this chunk.
        let mut cap_from: Option<usize> = self.capture.as_ref().map(|_| 0);
        for (i, &c) in chunk.iter().enumerate() {
            self.step(c, i, chunk, &mut cap_from, out, stats);
            if self.failed {
                return;
            }
            self.offset += 1;
            if c == b'\n' {
                self.line += 1;
                self.line_start = self.offset;
            }
        }
        if let (Some(from), Some(_)) = (cap_from, self.capture.as_ref()) {
            self.append_capture(&chunk[from..]);
        }
    }

    pub(crate) fn finish<S: EventSink>(&mut self, out: &mut S, stats: &mut ParseStats) {
        if self.failed || (self.stack.is_empty() && !self.in_string) {
            return;
        }
        // The input ended inside the document.
        stats.records += 1;
        stats.rejected += 1;
        let (line, offset, text) = match self.capture.take() {
            Some(cap) => (cap.line, cap.offset, cap.bytes),
            None => (self.line, self.offset, Vec::new()),
        };
        out.reject(Reject::new(
            Format::RgwUsage,
            line,
            offset,
            RejectReason::InvalidJson {
                column: (self.offset - self.line_start) as u32 + 1,
                expected: "the rest of the document",
            },
            &text,
        ));
        self.failed = true;
    }

    fn append_capture(&mut self, bytes: &[u8]) {
        let max = self.max_record;
        if let Some(cap) = self.capture.as_mut() {
            match cap.overflow.as_mut() {
                Some(len) => {
                    *len += bytes.len() as u64;
                    let room = KEPT_TEXT_LIMIT.saturating_sub(cap.bytes.len());
                    cap.bytes.extend_from_slice(&bytes[..room.min(bytes.len())]);
                }
                None if cap.bytes.len() + bytes.len() > max => {
                    cap.overflow = Some((cap.bytes.len() + bytes.len()) as u64);
                    let room = KEPT_TEXT_LIMIT.saturating_sub(cap.bytes.len());
                    cap.bytes.extend_from_slice(&bytes[..room.min(bytes.len())]);
                }
                None => cap.bytes.extend_from_slice(bytes),
            }
        }
    }

    fn fail<S: EventSink>(
        &mut self,
        expected: &'static str,
        at: (&[u8], &mut Option<usize>, usize),
        out: &mut S,
        stats: &mut ParseStats,
    ) {
        let (chunk, cap_from, i) = at;
        if let Some(from) = cap_from.take() {
            self.append_capture(&chunk[from..=i]);
        }
        stats.records += 1;
        stats.rejected += 1;
        let column = (self.offset - self.line_start) as u32 + 1;
        let (line, offset, text) = match self.capture.take() {
            Some(cap) => (cap.line, cap.offset, cap.bytes),
            None => (self.line, self.offset, Vec::new()),
        };
        out.reject(Reject::new(
            Format::RgwUsage,
            line,
            offset,
            RejectReason::InvalidJson { column, expected },
            &text,
        ));
        self.failed = true;
    }

    fn step<S: EventSink>(
        &mut self,
        c: u8,
        i: usize,
        chunk: &[u8],
        cap_from: &mut Option<usize>,
        out: &mut S,
        stats: &mut ParseStats,
    ) {
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if c == b'\\' {
                self.escape = true;
            } else if c == b'"' {
                self.in_string = false;
                self.end_string();
                return;
            }
            if self.role != StringRole::Ignore && self.string_buf.len() < 1024 {
                self.string_buf.push(c);
            }
            return;
        }
        match c {
            b'"' => {
                self.in_string = true;
                self.string_buf.clear();
                self.role = match self.stack.last() {
                    Some(f) if f.is_object && f.expect_key => {
                        if matches!(f.tag, Tag::Root | Tag::Entry) {
                            StringRole::Key
                        } else {
                            StringRole::Ignore
                        }
                    }
                    Some(f)
                        if f.is_object && f.tag == Tag::Entry && (f.key == b"user" || f.key == b"owner") =>
                    {
                        StringRole::User
                    }
                    _ => StringRole::Ignore,
                };
            }
            b'{' | b'[' => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail("less nesting", (chunk, cap_from, i), out, stats);
                }
                let is_object = c == b'{';
                let tag = match (self.stack.last(), is_object) {
                    (None, true) => Tag::Root,
                    (None, false) => return self.fail("'{'", (chunk, cap_from, i), out, stats),
                    (Some(f), false) if f.tag == Tag::Root && f.key == b"entries" => Tag::Entries,
                    (Some(f), true) if f.tag == Tag::Entries => Tag::Entry,
                    (Some(f), false) if f.tag == Tag::Entry && f.key == b"buckets" => Tag::Buckets,
                    (Some(f), true) if f.tag == Tag::Buckets => Tag::Bucket,
                    _ => Tag::Other,
                };
                let here = Start {
                    line: self.line,
                    offset: self.offset,
                    seen: false,
                };
                match tag {
                    Tag::Root => self.doc = here,
                    Tag::Entries => self.doc.seen = true,
                    Tag::Entry => {
                        self.user = None;
                        self.section = here;
                        self.section_users = 0;
                    }
                    Tag::Buckets => self.section.seen = true,
                    _ => {}
                }
                if tag == Tag::Bucket {
                    self.capture = Some(Capture {
                        line: self.line,
                        offset: self.offset,
                        bytes: Vec::new(),
                        overflow: None,
                    });
                    *cap_from = Some(i);
                }
                self.stack.push(Frame {
                    tag,
                    is_object,
                    expect_key: is_object,
                    key: Vec::new(),
                });
            }
            b'}' | b']' => {
                let Some(frame) = self.stack.pop() else {
                    return self.fail("'{'", (chunk, cap_from, i), out, stats);
                };
                if frame.is_object != (c == b'}') {
                    return self.fail(
                        if frame.is_object { "'}'" } else { "']'" },
                        (chunk, cap_from, i),
                        out,
                        stats,
                    );
                }
                match frame.tag {
                    Tag::Bucket => {
                        if let Some(from) = cap_from.take() {
                            self.append_capture(&chunk[from..=i]);
                        }
                        if let Some(cap) = self.capture.take() {
                            self.record(cap, out, stats);
                        }
                    }
                    // Usage this parser would not read: refused, not taken as none.
                    Tag::Entry if !self.section.seen => {
                        self.unread(self.section, "entries.buckets", out, stats)
                    }
                    Tag::Root if !self.doc.seen => self.unread(self.doc, "entries", out, stats),
                    _ => {}
                }
            }
            b',' => {
                if let Some(f) = self.stack.last_mut() {
                    if f.is_object {
                        f.expect_key = true;
                    }
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' | b':' => {}
            _ if self.stack.is_empty() => self.fail("'{'", (chunk, cap_from, i), out, stats),
            _ => {} // numbers and literals outside bucket entries are not needed
        }
    }

    fn end_string(&mut self) {
        match self.role {
            StringRole::Key => {
                if let Some(f) = self.stack.last_mut() {
                    f.key = std::mem::take(&mut self.string_buf);
                    f.expect_key = false;
                }
            }
            StringRole::User => {
                self.section_users = self.section_users.saturating_add(1);
                let mut quoted = Vec::with_capacity(self.string_buf.len() + 2);
                quoted.push(b'"');
                quoted.extend_from_slice(&self.string_buf);
                quoted.push(b'"');
                self.user = Scanner::from_bytes(&quoted)
                    .ok()
                    .and_then(|mut s| s.string().ok())
                    .map(|s| s.into_owned());
            }
            StringRole::Ignore => {
                if let Some(f) = self.stack.last_mut() {
                    if f.is_object && f.expect_key {
                        f.expect_key = false;
                    }
                }
            }
        }
    }

    /// A rejected record for an object (a document, a user section) that
    /// lacks the part holding its usage.
    fn unread<S: EventSink>(&mut self, at: Start, field: &'static str, out: &mut S, stats: &mut ParseStats) {
        stats.records += 1;
        stats.rejected += 1;
        out.reject(Reject::new(
            Format::RgwUsage,
            at.line,
            at.offset,
            RejectReason::MissingField { field },
            &[],
        ));
    }

    fn record<S: EventSink>(&mut self, cap: Capture, out: &mut S, stats: &mut ParseStats) {
        stats.records += 1;
        let mut emitted = 0u64;
        let emit = |e: EventRef<'_>| {
            emitted += 1;
            out.event(e);
        };
        let result = match cap.overflow {
            Some(length) => Err(RejectReason::LineTooLong {
                length,
                limit: self.max_record as u64,
            }),
            None if self.section_users > 1 => Err(RejectReason::DuplicateKey {
                field: "user".to_string(),
            }),
            None => parse_bucket(&cap.bytes, self.user.as_deref(), &self.source, emit),
        };
        match result {
            Ok(()) => {
                stats.accepted += 1;
                stats.events += emitted;
            }
            Err(reason) => {
                debug_assert_eq!(emitted, 0);
                stats.rejected += 1;
                out.reject(Reject::new(
                    Format::RgwUsage,
                    cap.line,
                    cap.offset,
                    reason,
                    &cap.bytes,
                ));
            }
        }
    }
}

#[derive(Default)]
struct Category {
    name: Option<String>,
    counts: [u64; 4],
}

const CATEGORY_FIELDS: [(&str, &str, &str); 4] = [
    ("bytes_sent", "categories.bytes_sent", meters::BANDWIDTH_OUT_BYTES),
    (
        "bytes_received",
        "categories.bytes_received",
        meters::BANDWIDTH_IN_BYTES,
    ),
    ("ops", "categories.ops", meters::REQUESTS),
    (
        "successful_ops",
        "categories.successful_ops",
        meters::SUCCESSFUL_REQUESTS,
    ),
];

fn count(s: &mut Scanner, field: &'static str) -> Result<u64, RejectReason> {
    if !matches!(s.peek(), Some(b'-' | b'0'..=b'9')) {
        return Err(RejectReason::WrongType {
            field,
            expected: "an integer",
        });
    }
    match s.number().map_err(scan_reason)? {
        Number::Count(v) => Ok(v),
        Number::NotCount => Err(RejectReason::InvalidNumber { field }),
        Number::TooLarge => Err(RejectReason::NumberTooLarge { field }),
    }
}

fn string(s: &mut Scanner, field: &'static str) -> Result<String, RejectReason> {
    if !s.at_string() {
        return Err(RejectReason::WrongType {
            field,
            expected: "a string",
        });
    }
    Ok(s.string().map_err(scan_reason)?.into_owned())
}

/// Refuses a key given twice in one object (which copy to believe is not
/// for tally to guess), naming it with `prefix`.
fn once<'a>(keys: &mut Vec<Cow<'a, str>>, key: Cow<'a, str>, prefix: &str) -> Result<(), RejectReason> {
    if keys.contains(&key) {
        return Err(RejectReason::DuplicateKey {
            field: format!("{prefix}{key}"),
        });
    }
    keys.push(key);
    Ok(())
}

fn parse_category(s: &mut Scanner) -> Result<Category, RejectReason> {
    let mut cat = Category::default();
    if s.peek() != Some(b'{') {
        return Err(RejectReason::WrongType {
            field: "categories",
            expected: "a list of objects",
        });
    }
    s.begin_object().map_err(scan_reason)?;
    let mut first = true;
    let mut keys = Vec::new();
    while let Some(key) = s.next_key(&mut first).map_err(scan_reason)? {
        once(&mut keys, key.clone(), "categories.")?;
        if key == "category" {
            cat.name = Some(string(s, "categories.category")?);
        } else if let Some(i) = CATEGORY_FIELDS.iter().position(|(k, _, _)| *k == key) {
            cat.counts[i] = count(s, CATEGORY_FIELDS[i].1)?;
        } else {
            s.skip_value().map_err(scan_reason)?;
        }
    }
    Ok(cat)
}

fn parse_bucket(
    bytes: &[u8],
    user: Option<&str>,
    source: &str,
    mut emit: impl FnMut(EventRef<'_>),
) -> Result<(), RejectReason> {
    let mut s = Scanner::from_bytes(bytes).map_err(scan_reason)?;
    let (mut bucket, mut time, mut epoch, mut owner, mut payer) = (None, None, None, None, None);
    let mut categories = Vec::new();
    s.begin_object().map_err(scan_reason)?;
    let mut first = true;
    let mut keys = Vec::new();
    while let Some(key) = s.next_key(&mut first).map_err(scan_reason)? {
        once(&mut keys, key.clone(), "")?;
        match key.as_ref() {
            "bucket" => bucket = Some(string(&mut s, "bucket")?),
            "time" => time = Some(string(&mut s, "time")?),
            "owner" => owner = Some(string(&mut s, "owner")?),
            "payer" => payer = Some(string(&mut s, "payer")?),
            "epoch" => epoch = Some(count(&mut s, "epoch")?),
            "categories" => {
                if s.peek() != Some(b'[') {
                    return Err(RejectReason::WrongType {
                        field: "categories",
                        expected: "a list of objects",
                    });
                }
                s.begin_array().map_err(scan_reason)?;
                let mut first_cat = true;
                while s.next_element(&mut first_cat).map_err(scan_reason)? {
                    categories.push(parse_category(&mut s)?);
                }
            }
            _ => s.skip_value().map_err(scan_reason)?,
        }
    }
    s.end().map_err(scan_reason)?;
    let bucket = bucket.ok_or(RejectReason::MissingField { field: "bucket" })?;
    // No bucket: user-level operations (`""`) and buckets not found (`"-"`).
    let resource = if bucket.is_empty() { "-" } else { bucket.as_str() };
    // Who RGW accounts the usage to: the payer, else the owner, else the section's user.
    let (customer, field) = match (payer.filter(|p| !p.is_empty()), owner) {
        (Some(p), _) => (p, "payer"),
        (None, Some(o)) => (o, "owner"),
        (None, None) => match user {
            Some(u) => (u.to_string(), "user"),
            None => return Err(RejectReason::MissingField { field: "owner" }),
        },
    };
    if customer.is_empty() {
        return Err(RejectReason::EmptyField { field });
    }
    if user.is_some_and(|u| u != customer) {
        return Err(RejectReason::Disagree { field, other: "user" });
    }
    let time_ms = match (epoch, time) {
        (Some(e), t) => {
            let ms = (e as i64)
                .checked_mul(1000)
                .ok_or(RejectReason::NumberTooLarge { field: "epoch" })?;
            if let Some(t) = t {
                let written =
                    parse_rfc3339(t.as_bytes()).ok_or(RejectReason::InvalidTime { field: "time" })?;
                if written != ms {
                    return Err(RejectReason::Disagree {
                        field: "time",
                        other: "epoch",
                    });
                }
            }
            ms
        }
        (None, Some(t)) => parse_rfc3339(t.as_bytes()).ok_or(RejectReason::InvalidTime { field: "time" })?,
        (None, None) => return Err(RejectReason::MissingField { field: "epoch" }),
    };
    if categories.iter().any(|c| c.name.is_none()) {
        return Err(RejectReason::MissingField {
            field: "categories.category",
        });
    }
    for cat in &categories {
        let name = cat.name.as_deref().unwrap_or_default();
        for (i, (_, _, meter)) in CATEGORY_FIELDS.iter().enumerate() {
            if cat.counts[i] > 0 {
                emit(EventRef {
                    id: Cow::Owned(format!("rgw/{customer}/{bucket}/{time_ms}/{name}/{meter}")),
                    source: Cow::Borrowed(source),
                    customer: Cow::Borrowed(&customer),
                    resource: Cow::Borrowed(resource),
                    meter: Cow::Borrowed(meter),
                    value: cat.counts[i],
                    time_ms,
                });
            }
        }
    }
    Ok(())
}
