//! JSON Lines usage events, CloudEvents-style:
//!
//! ```json
//! {"id":"e1","source":"/edge/fra1","type":"com.example.usage","subject":"acme",
//!  "time":"2024-03-01T12:00:00Z","data":{"resource":"bucket-1","meter":"bandwidth_out_bytes","value":1024}}
//! ```
//!
//! `id`, `source`, `subject` (the customer), `time` (RFC 3339) and `data`
//! with `resource`, `meter` and an integer `value` are required; everything
//! else (`type`, `specversion`, extension attributes, other `data` fields)
//! is validated as JSON and ignored. A key given twice at the top level or
//! in `data` (read or not) refuses the line with `DuplicateKey`: readers
//! disagree on which copy wins, so an event must not depend on it.

use std::borrow::Cow;

use crate::event::{EventFields, EventRef, UsageEvent};
use crate::json::{Number, ScanError, Scanner};
use crate::lines::LinePos;
use crate::parse::{LineFormat, LineOutcome};
use crate::reject::Format;
use crate::reject::RejectReason;
use crate::time::parse_rfc3339;

/// The JSON Lines format for [`crate::parse::StreamParser`]: blank lines are skipped.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct JsonLinesFormat;

impl LineFormat for JsonLinesFormat {
    const FORMAT: Format = Format::JsonLines;
    fn parse_line<E: FnMut(EventRef<'_>)>(
        &mut self,
        _pos: LinePos,
        line: &[u8],
        mut emit: E,
    ) -> Result<LineOutcome, RejectReason> {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(LineOutcome::Skipped);
        }
        emit(parse_event_ref(line)?);
        Ok(LineOutcome::Accepted)
    }
}

pub(crate) fn scan_reason(e: ScanError) -> RejectReason {
    match e {
        ScanError::Syntax { at, expected } => RejectReason::InvalidJson {
            column: at as u32 + 1,
            expected,
        },
        ScanError::Utf8 { at } => RejectReason::InvalidUtf8 {
            column: at as u32 + 1,
        },
    }
}

/// The keys of one object seen so far: the usual ones as bits (numbered by
/// the match that reads them, so a key is compared once), any other in a
/// list (empty, so unallocated, for the usual events).
#[derive(Default)]
struct KeySet<'a> {
    seen: u32,
    others: Vec<Cow<'a, str>>,
}

impl<'a> KeySet<'a> {
    /// Records `key`, whose bit `usual` gives if it is a usual one; true
    /// when it was seen before.
    #[inline]
    #[allow(clippy::ptr_arg)] // the Cow itself is kept: a borrowed key stays unallocated
    fn repeated(&mut self, usual: Option<u32>, key: &Cow<'a, str>) -> bool {
        match usual {
            Some(i) => {
                let bit = 1u32 << i;
                let again = self.seen & bit != 0;
                self.seen |= bit;
                again
            }
            None if self.others.contains(key) => true,
            None => {
                self.others.push(key.clone());
                false
            }
        }
    }
}

#[derive(Default)]
struct Data<'a> {
    resource: Option<Cow<'a, str>>,
    meter: Option<Cow<'a, str>>,
    value: Option<u64>,
}

/// Parses one line (without its line terminator) into an event.
pub fn parse_event_line(line: &[u8]) -> Result<UsageEvent, RejectReason> {
    parse_event_ref(line).map(|e| e.to_event())
}

/// What the top-level loop does with a key's value.
enum Top<'s, 'a> {
    Text(&'s mut Option<Cow<'a, str>>, &'static str),
    Data,
    Skip,
}

/// Parses one line into an event that borrows from it.
pub fn parse_event_ref(line: &[u8]) -> Result<EventRef<'_>, RejectReason> {
    let mut s = Scanner::from_bytes(line).map_err(scan_reason)?;
    let mut id = None;
    let mut source = None;
    let mut subject = None;
    let mut time = None;
    let mut data: Option<Data> = None;
    let mut bad_field: Option<RejectReason> = None;

    s.begin_object().map_err(scan_reason)?;
    let mut first = true;
    let mut keys = KeySet::default();
    while let Some(key) = s.next_key(&mut first).map_err(scan_reason)? {
        let (bit, read) = match key.as_ref() {
            "id" => (Some(0), Top::Text(&mut id, "id")),
            "source" => (Some(1), Top::Text(&mut source, "source")),
            "subject" => (Some(2), Top::Text(&mut subject, "subject")),
            "time" => (Some(3), Top::Text(&mut time, "time")),
            "data" => (Some(4), Top::Data),
            // CloudEvents attributes tally does not read.
            "type" => (Some(5), Top::Skip),
            "specversion" => (Some(6), Top::Skip),
            "datacontenttype" => (Some(7), Top::Skip),
            "dataschema" => (Some(8), Top::Skip),
            _ => (None, Top::Skip),
        };
        if keys.repeated(bit, &key) {
            bad_field.get_or_insert_with(|| RejectReason::DuplicateKey {
                field: key.to_string(),
            });
        }
        match read {
            Top::Text(slot, field) => {
                if s.at_string() {
                    *slot = Some(s.string().map_err(scan_reason)?);
                } else {
                    s.skip_value().map_err(scan_reason)?;
                    bad_field.get_or_insert(RejectReason::WrongType {
                        field,
                        expected: "a string",
                    });
                }
            }
            Top::Data => {
                if s.peek() == Some(b'{') {
                    data = Some(parse_data(&mut s, &mut bad_field)?);
                } else {
                    s.skip_value().map_err(scan_reason)?;
                    bad_field.get_or_insert(RejectReason::WrongType {
                        field: "data",
                        expected: "an object",
                    });
                }
            }
            Top::Skip => s.skip_value().map_err(scan_reason)?,
        }
    }
    s.end().map_err(scan_reason)?;
    // The whole line is valid JSON from here on: report field problems.
    if let Some(reason) = bad_field {
        return Err(reason);
    }
    let id = required(id, "id")?;
    let source = required(source, "source")?;
    let customer = required(subject, "subject")?;
    let time = time.ok_or(RejectReason::MissingField { field: "time" })?;
    let time_ms = parse_rfc3339(time.as_bytes()).ok_or(RejectReason::InvalidTime { field: "time" })?;
    let data = data.ok_or(RejectReason::MissingField { field: "data" })?;
    let resource = required(data.resource, "data.resource")?;
    let meter = required(data.meter, "data.meter")?;
    let value = data
        .value
        .ok_or(RejectReason::MissingField { field: "data.value" })?;
    Ok(EventRef {
        id,
        source,
        customer,
        resource,
        meter,
        value,
        time_ms,
    })
}

fn required<'a>(v: Option<Cow<'a, str>>, field: &'static str) -> Result<Cow<'a, str>, RejectReason> {
    match v {
        None => Err(RejectReason::MissingField { field }),
        Some(s) if s.is_empty() => Err(RejectReason::EmptyField { field }),
        Some(s) => Ok(s),
    }
}

fn parse_data<'a>(
    s: &mut Scanner<'a>,
    bad_field: &mut Option<RejectReason>,
) -> Result<Data<'a>, RejectReason> {
    let mut data = Data::default();
    s.begin_object().map_err(scan_reason)?;
    let mut first = true;
    let mut keys = KeySet::default();
    while let Some(key) = s.next_key(&mut first).map_err(scan_reason)? {
        let bit = match key.as_ref() {
            "resource" => Some(0),
            "meter" => Some(1),
            "value" => Some(2),
            _ => None,
        };
        if keys.repeated(bit, &key) {
            bad_field.get_or_insert_with(|| RejectReason::DuplicateKey {
                field: format!("data.{key}"),
            });
        }
        match bit {
            Some(0 | 1) => {
                let (slot, field) = if bit == Some(0) {
                    (&mut data.resource, "data.resource")
                } else {
                    (&mut data.meter, "data.meter")
                };
                if s.at_string() {
                    *slot = Some(s.string().map_err(scan_reason)?);
                } else {
                    s.skip_value().map_err(scan_reason)?;
                    bad_field.get_or_insert(RejectReason::WrongType {
                        field,
                        expected: "a string",
                    });
                }
            }
            Some(_) => {
                if matches!(s.peek(), Some(b'-' | b'0'..=b'9')) {
                    match s.number().map_err(scan_reason)? {
                        Number::Count(v) => data.value = Some(v),
                        Number::NotCount => {
                            bad_field.get_or_insert(RejectReason::InvalidNumber { field: "data.value" });
                        }
                        Number::TooLarge => {
                            bad_field.get_or_insert(RejectReason::NumberTooLarge { field: "data.value" });
                        }
                    }
                } else {
                    s.skip_value().map_err(scan_reason)?;
                    bad_field.get_or_insert(RejectReason::WrongType {
                        field: "data.value",
                        expected: "an integer",
                    });
                }
            }
            _ => s.skip_value().map_err(scan_reason)?,
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"specversion":"1.0","id":"e1","source":"/edge/fra1","type":"com.example.usage","subject":"acme","time":"2024-03-01T12:00:00+01:00","data":{"resource":"bucket-1","meter":"bandwidth_out_bytes","value":1024,"extra":[1,2]}}"#;

    #[test]
    fn parses_a_cloudevent() {
        let e = parse_event_line(GOOD.as_bytes()).unwrap();
        assert_eq!(
            e,
            UsageEvent {
                id: "e1".into(),
                source: "/edge/fra1".into(),
                customer: "acme".into(),
                resource: "bucket-1".into(),
                meter: "bandwidth_out_bytes".into(),
                value: 1024,
                time_ms: 1_709_290_800_000,
            }
        );
    }

    #[test]
    fn repeated_keys_refuse_the_line() {
        let p = |s: &str| parse_event_line(s.as_bytes()).unwrap_err();
        let dup = |f: &str| RejectReason::DuplicateKey { field: f.to_string() };
        // The handed-over input: the second subject must not win.
        let evil = GOOD.replace(r#""subject":"acme","#, r#""subject":"acme","subject":"EVIL","#);
        assert_eq!(p(&evil), dup("subject"));
        // The same key spelt with an escape is the same key.
        let escaped = GOOD.replace(
            r#""subject":"acme","#,
            r#""subject":"acme","subj\u0065ct":"EVIL","#,
        );
        assert_eq!(p(&escaped), dup("subject"));
        assert_eq!(
            p(&GOOD.replace(r#""value":1024"#, r#""value":1,"value":1024"#)),
            dup("data.value")
        );
        // Keys tally does not read count too, at the top level and in data.
        assert_eq!(p(&GOOD.replace(r#""type":"#, r#""x":1,"x":2,"type":"#)), dup("x"));
        assert_eq!(
            p(&GOOD.replace(r#""extra":"#, r#""extra":0,"extra":"#)),
            dup("data.extra")
        );
        assert_eq!(
            p(&GOOD.replace(
                r#""specversion":"1.0","#,
                r#""specversion":"1.0","specversion":"1.0","#
            )),
            dup("specversion")
        );
        // Deeper objects are validated, not read: their keys are not checked.
        assert!(parse_event_line(
            GOOD.replace(r#""extra":[1,2]"#, r#""extra":{"a":1,"a":2}"#)
                .as_bytes()
        )
        .is_ok());
        // A field problem found earlier in the line is the one reported.
        let both = GOOD
            .replace(r#""id":"e1","#, r#""id":1,"#)
            .replace(r#""value":1024"#, r#""value":1,"value":2"#);
        assert_eq!(
            p(&both),
            RejectReason::WrongType {
                field: "id",
                expected: "a string"
            }
        );
    }

    #[test]
    fn reasons_name_the_field() {
        let p = |s: &str| parse_event_line(s.as_bytes()).unwrap_err();
        assert_eq!(
            p(&GOOD.replace("1024", "-5")),
            RejectReason::InvalidNumber { field: "data.value" }
        );
        assert_eq!(
            p(&GOOD.replace("1024", "1.5")),
            RejectReason::InvalidNumber { field: "data.value" }
        );
        assert_eq!(
            p(&GOOD.replace("1024", "\"1024\"")),
            RejectReason::WrongType {
                field: "data.value",
                expected: "an integer"
            }
        );
        assert_eq!(
            p(&GOOD.replace("\"subject\":\"acme\",", "")),
            RejectReason::MissingField { field: "subject" }
        );
        assert_eq!(
            p(&GOOD.replace("2024-03-01T12", "2024-02-30T12")),
            RejectReason::InvalidTime { field: "time" }
        );
        assert_eq!(
            p(&GOOD[..40]),
            RejectReason::InvalidJson {
                column: 41,
                expected: "a value"
            }
        );
        assert_eq!(
            p(&GOOD[..44]),
            RejectReason::InvalidJson {
                column: 45,
                expected: "closing '\"'"
            }
        );
        assert_eq!(
            p("[]"),
            RejectReason::InvalidJson {
                column: 1,
                expected: "'{'"
            }
        );
        assert_eq!(
            p(&format!("{GOOD} x")),
            RejectReason::InvalidJson {
                column: GOOD.len() as u32 + 2,
                expected: "end of line after the object"
            }
        );
    }
}
