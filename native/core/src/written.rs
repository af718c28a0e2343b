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

use crate::aggregate::{Aggregator, PeriodUsage, Round};
use crate::billing::{bill_shard_lines, BillingError, Invoice, InvoiceLine, LineRef, Plans, Unit};
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
    // Digits, `.` and `/`: nothing to escape.
    out.push('"');
    out.push_str(name);
    out.push_str("\":\"");
    value.push_exact(out);
    out.push_str("\",");
}

/// Appends the decimal digits of `n` (in 64 bits when it fits: 128-bit
/// division is a slow library call).
fn push_u128(out: &mut String, n: u128) {
    use std::fmt::Write as _;
    let _ = match u64::try_from(n) {
        Ok(n) => write!(out, "{n}"),
        Err(_) => write!(out, "{n}"),
    };
}

/// One invoice line in the written form.
pub fn invoice_line_json(l: &InvoiceLine) -> String {
    let mut out = String::with_capacity(320);
    push_invoice_line(&mut out, l);
    out
}

/// Appends one invoice line in the written form to `out`.
pub fn push_invoice_line(out: &mut String, l: &InvoiceLine) {
    push_line(out, &l.as_line_ref());
}

/// [`push_invoice_line`] of a line whose texts are borrowed.
pub fn push_line(out: &mut String, l: &LineRef<'_>) {
    out.push('{');
    out.push_str("\"amount_minor\":\"");
    push_u128(out, l.amount_minor);
    out.push_str("\",");
    field(out, "currency", l.currency);
    field(out, "customer", l.customer);
    quantity(out, "included", l.included);
    field(out, "key", l.key);
    field(out, "measure", l.measure.name());
    field(out, "meter", l.meter);
    quantity(out, "overage", l.overage);
    field(out, "period", l.period);
    field(out, "plan", l.plan);
    field(out, "resource", l.resource);
    field(out, "unit", unit_name(l.unit));
    quantity(out, "unit_price", l.unit_price);
    quantity(out, "used", l.used);
    out.push_str("\"version\":");
    push_u128(out, u128::from(l.version));
    out.push('}');
}

/// Most lines in one [`WrittenBatch`]: the outbox's batch size.
pub const BATCH_LINES: usize = 5000;
/// A batch is closed once its lines reach this many bytes (4 MiB, the
/// outbox's batch size).
pub const BATCH_BYTES: usize = 4 << 20;

/// A batch of invoice lines ready for the outbox: what it stores and the
/// publisher sends as they are, so no line becomes a term on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct WrittenBatch {
    /// Lines in the batch.
    pub count: u32,
    /// Each line's message id (`KEY/vVERSION`, [`msg_id`]) followed by `\n`,
    /// in line order. An id never holds a `\n`: keys percent-encode
    /// control bytes.
    #[cfg_attr(feature = "gleam", gleam(bit_array))]
    pub ids: Vec<u8>,
    /// Each line in the written form followed by `\n` (JSON Lines: the
    /// written form escapes every control byte), in the same order.
    #[cfg_attr(feature = "gleam", gleam(bit_array))]
    pub lines: Vec<u8>,
}

/// One customer's lines in a [`WrittenInvoice`]: their count and the sum
/// of their amounts, in the plan's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct CustomerTotal {
    pub customer: String,
    pub currency: String,
    pub amount_minor: u128,
    pub lines: u32,
}

/// An invoice in the written form: its lines cut into outbox batches, each
/// customer's total (in customer order), and the customers with usage but
/// no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct WrittenInvoice {
    pub batches: Vec<WrittenBatch>,
    pub totals: Vec<CustomerTotal>,
    pub unbilled_customers: Vec<String>,
}

/// What a line is published under: `KEY/vVERSION` (the Erlang twin is
/// `tally_invoice:msg_id/1`).
pub fn msg_id(l: &InvoiceLine) -> String {
    format!("{}/v{}", l.key, l.version)
}

/// An invoice's lines in the written form, in order, cut into batches of
/// at most [`BATCH_LINES`] lines, each closed once its lines reach
/// [`BATCH_BYTES`]; with each customer's total. Every line of one invoice
/// has one period and one version, so every id of a batch ends in the same
/// `PERIOD/vVERSION`.
pub fn write_invoice(invoice: &Invoice) -> WrittenInvoice {
    write_invoice_in(invoice, BATCH_LINES, BATCH_BYTES)
}

/// [`write_invoice`] with other batch limits (tests).
pub fn write_invoice_in(invoice: &Invoice, max_lines: usize, max_bytes: usize) -> WrittenInvoice {
    let mut w = BatchWriter::new(max_lines, max_bytes);
    for l in &invoice.lines {
        w.push(&l.as_line_ref());
    }
    w.finish(invoice.unbilled_customers.clone())
}

/// [`write_invoice`] of [`crate::billing::bill_shard`]'s invoice, each line
/// written as billing works it out: no line is ever owned (a close of a
/// million customers allocated, kept and freed seven texts a line).
pub fn bill_shard_written(
    usage: &PeriodUsage,
    plans: &Plans,
    version: u32,
    shard: u32,
    shards: u32,
) -> Result<WrittenInvoice, BillingError> {
    let mut w = BatchWriter::new(BATCH_LINES, BATCH_BYTES);
    let unbilled = bill_shard_lines(usage, plans, version, (shard, shards), &mut |l| w.push(l))?;
    Ok(w.finish(unbilled))
}

/// One round of a close in rounds ([`close_round_written`]): its lines in
/// outbox batches, each customer's total, its customers with usage but no
/// plan, and the customer the next round starts from (`None`: the last
/// round).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct WrittenRound {
    pub batches: Vec<WrittenBatch>,
    pub totals: Vec<CustomerTotal>,
    pub unbilled_customers: Vec<String>,
    pub next: Option<String>,
}

/// [`Aggregator::close_round`] with its lines written into batches as they
/// are billed: the rounds of a close together are
/// [`bill_shard_written`]'s lines, batches cut the same way within a round.
pub fn close_round_written(agg: &mut Aggregator, round: Round<'_>) -> Result<WrittenRound, BillingError> {
    let mut w = BatchWriter::new(BATCH_LINES, BATCH_BYTES);
    let end = agg.close_round(round, &mut |l| w.push(l))?;
    let WrittenInvoice {
        batches,
        totals,
        unbilled_customers,
    } = w.finish(end.unbilled_customers);
    Ok(WrittenRound {
        batches,
        totals,
        unbilled_customers,
        next: end.next,
    })
}

/// Lines written one by one into batches, with each customer's total.
struct BatchWriter {
    max_lines: usize,
    max_bytes: usize,
    batches: Vec<WrittenBatch>,
    totals: Vec<CustomerTotal>,
    ids: String,
    lines: String,
    count: usize,
}

impl BatchWriter {
    fn new(max_lines: usize, max_bytes: usize) -> BatchWriter {
        BatchWriter {
            max_lines,
            max_bytes,
            batches: Vec::new(),
            totals: Vec::new(),
            ids: String::new(),
            lines: String::new(),
            count: 0,
        }
    }

    fn push(&mut self, l: &LineRef<'_>) {
        if self.count > 0 && (self.count >= self.max_lines || self.lines.len() >= self.max_bytes) {
            self.cut();
        }
        self.ids.push_str(l.key);
        self.ids.push_str("/v");
        push_u128(&mut self.ids, u128::from(l.version));
        self.ids.push('\n');
        push_line(&mut self.lines, l);
        self.lines.push('\n');
        self.count += 1;
        // A customer's lines are consecutive (billing goes customer by customer).
        match self.totals.last_mut() {
            Some(t) if t.customer == l.customer => {
                t.amount_minor = t.amount_minor.saturating_add(l.amount_minor);
                t.lines += 1;
            }
            _ => self.totals.push(CustomerTotal {
                customer: l.customer.to_string(),
                currency: l.currency.to_string(),
                amount_minor: l.amount_minor,
                lines: 1,
            }),
        }
    }

    fn cut(&mut self) {
        self.batches.push(WrittenBatch {
            count: self.count as u32,
            ids: std::mem::take(&mut self.ids).into_bytes(),
            lines: std::mem::take(&mut self.lines).into_bytes(),
        });
        self.count = 0;
    }

    fn finish(mut self, unbilled_customers: Vec<String>) -> WrittenInvoice {
        if self.count > 0 {
            self.cut();
        }
        WrittenInvoice {
            batches: self.batches,
            totals: self.totals,
            unbilled_customers,
        }
    }
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

    fn line_of(customer: &str, meter: &str, amount: u128) -> InvoiceLine {
        InvoiceLine {
            key: format!("{customer}/*/{meter}/total/2026-10"),
            customer: customer.into(),
            resource: "*".into(),
            meter: meter.into(),
            measure: Measure::Total,
            period: "2026-10".into(),
            version: 3,
            plan: "p".into(),
            currency: "EUR".into(),
            unit: Unit::Unit,
            used: Ratio::new(amount, 7),
            included: Ratio::ZERO,
            overage: Ratio::new(amount, 7),
            unit_price: Ratio::int(1),
            amount_minor: amount,
        }
    }

    /// The batches hold every line's written form and id, in order, cut
    /// at the line limit and once the bytes reach the limit; each
    /// customer's lines are summed.
    #[test]
    fn an_invoice_is_written_in_batches_with_each_customers_total() {
        let lines: Vec<InvoiceLine> = (0..7u128)
            .map(|i| {
                line_of(
                    ["a", "b", "b", "c\"q", "c\"q", "c\"q", "d"][i as usize],
                    "m",
                    i + 1,
                )
            })
            .collect();
        let invoice = Invoice {
            lines: lines.clone(),
            unbilled_customers: vec!["z".into()],
        };
        let w = write_invoice_in(&invoice, 3, usize::MAX);
        assert_eq!(
            w.batches.iter().map(|b| b.count).collect::<Vec<_>>(),
            vec![3, 3, 1]
        );
        let ids: Vec<u8> = w.batches.iter().flat_map(|b| b.ids.clone()).collect();
        let text: Vec<u8> = w.batches.iter().flat_map(|b| b.lines.clone()).collect();
        let want_ids: String = lines.iter().map(|l| msg_id(l) + "\n").collect();
        let want_text: String = lines.iter().map(|l| invoice_line_json(l) + "\n").collect();
        assert_eq!(String::from_utf8(ids).unwrap(), want_ids);
        assert_eq!(String::from_utf8(text).unwrap(), want_text);
        assert!(want_ids.starts_with("a/*/m/total/2026-10/v3\n"));
        let totals: Vec<(&str, u128, u32)> = w
            .totals
            .iter()
            .map(|t| (t.customer.as_str(), t.amount_minor, t.lines))
            .collect();
        assert_eq!(
            totals,
            vec![("a", 1, 1), ("b", 5, 2), ("c\"q", 15, 3), ("d", 7, 1)]
        );
        assert_eq!(w.unbilled_customers, vec!["z".to_string()]);
        // A batch closes once its bytes reach the limit: one line each here.
        let by_bytes = write_invoice_in(&invoice, 100, 10);
        assert_eq!(by_bytes.batches.len(), 7);
        assert!(by_bytes.batches.iter().all(|b| b.count == 1));
        // Nothing billed, no batch.
        let empty = write_invoice(&Invoice {
            lines: vec![],
            unbilled_customers: vec![],
        });
        assert!(empty.batches.is_empty() && empty.totals.is_empty());
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
