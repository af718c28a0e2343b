//! The one written form of what tally publishes: an invoice line as one
//! JSON object, the same bytes from the command line (`tally bill`), the
//! NIF, the port and the release (whose Erlang twin is
//! `erlang_src/tally_invoice.erl`). The form is specified in README
//! ("The written form"); in short:
//!
//! * keys in byte order, no spaces, no trailing newline;
//! * quantities (`used`, `included`, `overage`, `unit_price`) exact, as
//!   strings: decimal digits when the value has a finite decimal expansion,
//!   else `"N/D"` ([`Ratio::to_exact`]);
//! * `amount_minor` a string of decimal digits (it is a `u128`: a JSON number
//!   would lose precision above 2^53 in many readers), `version` a number;
//! * strings escaped as `\"`, `\\`, `\n`, `\r`, `\t` and `\u00xx` (lowercase
//!   hex) for the other control bytes, everything else as UTF-8.
//!
//! A rejected line has one written form too ([`reject_json`]): the CLI's
//! `--rejects FILE` and the release's `rejects.jsonl` (Erlang twin:
//! `erlang_src/tally_reject.erl`) write the same object, specified in
//! README ("Rejected lines").

use base64::Engine as _;

use crate::billing::{InvoiceLine, Unit};
use crate::ratio::Ratio;
use crate::reject::{Reject, RejectReason};

/// The name a unit is written with.
pub fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Unit => "unit",
        Unit::Gb => "GB",
        Unit::Mbps => "Mbps",
    }
}

/// Appends `s` as a JSON string.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn field(out: &mut String, name: &str, value: &str) {
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
    push_json_string(out, value);
    out.push(',');
}

fn quantity(out: &mut String, name: &str, value: Ratio) {
    field(out, name, &value.to_exact());
}

/// One invoice line in the written form.
pub fn invoice_line_json(l: &InvoiceLine) -> String {
    let mut out = String::with_capacity(320);
    out.push('{');
    field(&mut out, "amount_minor", &l.amount_minor.to_string());
    field(&mut out, "currency", &l.currency);
    field(&mut out, "customer", &l.customer);
    quantity(&mut out, "included", l.included);
    field(&mut out, "key", &l.key);
    field(&mut out, "measure", l.measure.name());
    field(&mut out, "meter", &l.meter);
    quantity(&mut out, "overage", l.overage);
    field(&mut out, "period", &l.period);
    field(&mut out, "plan", &l.plan);
    field(&mut out, "resource", &l.resource);
    field(&mut out, "unit", unit_name(l.unit));
    quantity(&mut out, "unit_price", l.unit_price);
    quantity(&mut out, "used", l.used);
    out.push_str("\"version\":");
    out.push_str(&l.version.to_string());
    out.push('}');
    out
}

/// A named field of a reject's reason: a string or a count.
enum Detail {
    Str(String),
    Num(u64),
}

/// A reason's kind and its named fields, in byte order of the names. A
/// field name keeps one JSON type across kinds (`expected` is always a
/// string: a field count is `expected_fields`).
fn reason_fields(r: &RejectReason) -> (&'static str, Vec<(&'static str, Detail)>) {
    use Detail::{Num, Str};
    use RejectReason::*;
    let s = |v: &str| Str(v.to_string());
    let n = |v: u32| Num(u64::from(v));
    match r {
        BadField {
            field,
            column,
            expected,
        } => (
            "bad_field",
            vec![
                ("column", n(*column)),
                ("expected", s(expected)),
                ("field", s(field)),
            ],
        ),
        DuplicateKey { field } => ("duplicate_key", vec![("field", s(field))]),
        Disagree { field, other } => ("disagree", vec![("field", s(field)), ("other", s(other))]),
        InvalidJson { column, expected } => (
            "invalid_json",
            vec![("column", n(*column)), ("expected", s(expected))],
        ),
        Malformed { column, expected } => (
            "malformed",
            vec![("column", n(*column)), ("expected", s(expected))],
        ),
        InvalidUtf8 { column } => ("invalid_utf8", vec![("column", n(*column))]),
        MissingField { field } => ("missing_field", vec![("field", s(field))]),
        WrongType { field, expected } => ("wrong_type", vec![("expected", s(expected)), ("field", s(field))]),
        EmptyField { field } => ("empty_field", vec![("field", s(field))]),
        InvalidTime { field } => ("invalid_time", vec![("field", s(field))]),
        InvalidNumber { field } => ("invalid_number", vec![("field", s(field))]),
        NumberTooLarge { field } => ("number_too_large", vec![("field", s(field))]),
        LineTooLong { length, limit } => (
            "line_too_long",
            vec![("length", Num(*length)), ("limit", Num(*limit))],
        ),
        WrongFieldCount { expected, found } => (
            "wrong_field_count",
            vec![("expected_fields", n(*expected)), ("found_fields", n(*found))],
        ),
        BadHeader => ("bad_header", vec![]),
    }
}

fn number(out: &mut String, name: &str, value: u64) {
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
    out.push_str(&value.to_string());
    out.push(',');
}

/// A reason as a JSON object: `kind` and its named fields, keys sorted.
fn reason_json(out: &mut String, r: &RejectReason) {
    let (kind, fields) = reason_fields(r);
    let mut all: Vec<(&str, Detail)> = fields;
    all.push(("kind", Detail::Str(kind.to_string())));
    all.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (name, value) in &all {
        match value {
            Detail::Str(v) => field(out, name, v),
            Detail::Num(v) => number(out, name, *v),
        }
    }
    out.pop(); // the last ','
    out.push('}');
}

/// One rejected line in the written form: an object with keys in byte
/// order, no spaces, no trailing newline:
///
/// * `source` (the configured source's name; on the command line the input
///   as named), `file` (the path read), `format`;
/// * `line` (1-based) and `offset` (the byte where the line starts), numbers;
/// * `reason`: `{"kind": ..., named fields}` (columns, lengths and counts
///   numbers, field names strings) and `message`, the same reason as text;
/// * `text`: the line (its first 4096 bytes) as a string when it is UTF-8,
///   else base64 with `text_base64` true.
pub fn reject_json(source: &str, file: &str, r: &Reject) -> String {
    let mut out = String::with_capacity(160 + r.text.len());
    out.push('{');
    field(&mut out, "file", file);
    field(&mut out, "format", r.format.name());
    number(&mut out, "line", r.line);
    field(&mut out, "message", &r.reason.to_string());
    number(&mut out, "offset", r.offset);
    out.push_str("\"reason\":");
    reason_json(&mut out, &r.reason);
    out.push(',');
    field(&mut out, "source", source);
    let base64 = match std::str::from_utf8(&r.text) {
        Ok(text) => {
            field(&mut out, "text", text);
            false
        }
        Err(_) => {
            field(
                &mut out,
                "text",
                &base64::engine::general_purpose::STANDARD.encode(&r.text),
            );
            true
        }
    };
    out.push_str(if base64 {
        "\"text_base64\":true}"
    } else {
        "\"text_base64\":false}"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Measure;
    use crate::reject::Format;

    #[test]
    fn a_reject_is_one_object_with_its_reason_named_and_as_text() {
        let r = Reject::new(
            Format::S3AccessLog,
            3,
            120,
            RejectReason::WrongFieldCount {
                expected: 18,
                found: 2,
            },
            b"a \"b\"",
        );
        let text = reject_json("s3", "in/s3.log", &r);
        assert_eq!(
            text,
            r#"{"file":"in/s3.log","format":"s3_access_log","line":3,"message":"expected 18 fields, found 2","offset":120,"reason":{"expected_fields":18,"found_fields":2,"kind":"wrong_field_count"},"source":"s3","text":"a \"b\"","text_base64":false}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
    }

    /// The same bytes as `tally_reject_tests` expects from the Erlang twin.
    #[test]
    fn a_line_that_is_not_utf8_is_kept_in_base64_with_its_flag() {
        let r = Reject::new(
            Format::JsonLines,
            1,
            0,
            RejectReason::InvalidUtf8 { column: 9 },
            b"{\"id\":\"\xff\"}",
        );
        assert_eq!(
            reject_json("edge", "e.jsonl", &r),
            r#"{"file":"e.jsonl","format":"json_lines","line":1,"message":"invalid UTF-8 at column 9","offset":0,"reason":{"column":9,"kind":"invalid_utf8"},"source":"edge","text":"eyJpZCI6Iv8ifQ==","text_base64":true}"#
        );
        let bad = Reject::new(Format::StorageCsv, 1, 0, RejectReason::BadHeader, b"x");
        assert!(reject_json("s", "f", &bad).contains(r#""reason":{"kind":"bad_header"}"#));
    }

    #[test]
    fn strings_are_escaped_like_the_erlang_twin() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é\u{7f}");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\"");
    }

    #[test]
    fn a_line_is_one_object_with_sorted_keys_and_exact_quantities() {
        let line = InvoiceLine {
            key: "acme/*/bandwidth_out_bytes/total/2026-10".into(),
            customer: "acme".into(),
            resource: "*".into(),
            meter: "bandwidth_out_bytes".into(),
            measure: Measure::Total,
            period: "2026-10".into(),
            version: 1,
            plan: "pro".into(),
            currency: "EUR".into(),
            unit: Unit::Gb,
            used: Ratio::new(1, 3),
            included: Ratio::ZERO,
            overage: Ratio::new(1, 3),
            unit_price: Ratio::new(49, 100_000_000),
            amount_minor: (1u128 << 60) + 1,
        };
        let text = invoice_line_json(&line);
        assert_eq!(
            text,
            r#"{"amount_minor":"1152921504606846977","currency":"EUR","customer":"acme","included":"0","key":"acme/*/bandwidth_out_bytes/total/2026-10","measure":"total","meter":"bandwidth_out_bytes","overage":"1/3","period":"2026-10","plan":"pro","resource":"*","unit":"GB","unit_price":"0.00000049","used":"1/3","version":1}"#
        );
        // serde_json reads it, and writes the same bytes back (sorted keys).
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
    }
}
