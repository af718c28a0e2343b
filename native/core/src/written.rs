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

use crate::billing::{InvoiceLine, Unit};
use crate::ratio::Ratio;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Measure;

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
