//// The one written form of an invoice line: the JSON tally publishes, the
//// same bytes as `tally_core::written::invoice_line_json`, which `tally
//// bill` prints (README, "The written form"). One object, keys in byte
//// order, no spaces; quantities exact strings (decimal digits when the value
//// has a finite decimal expansion, else `"N/D"`); `amount_minor` a string of
//// digits; `version` a number. Also what a line is published under
//// (`KEY/vVERSION`) and the voids of a reissue.

import tally/billing
import tally/pure/bytes
import tally/pure/map

/// A customer's total over the lines of one close.
pub type CustomerTotal {
  CustomerTotal(currency: String, amount_minor: Int, lines: Int)
}

/// An invoice in the written form: each line as `#(msg_id, json)`, each
/// customer's total, and the customers with usage but no plan. What a
/// shard hands the closer: only keys and text travel.
pub type Written {
  Written(
    lines: List(#(String, String)),
    customers: map.Map(String, CustomerTotal),
    unbilled: List(String),
  )
}

/// The line's JSON.
///
/// ```gleam
/// line_json(line)
/// // "{\"amount_minor\":\"150\",\"currency\":\"EUR\",...,\"version\":1}"
/// ```
pub fn line_json(line: billing.InvoiceLine) -> String {
  // One binary made once from its pieces: a close writes millions.
  concat([
    "{\"amount_minor\":\"",
    int_text(line.amount_minor),
    "\",\"currency\":",
    json_string(line.currency),
    ",\"customer\":",
    json_string(line.customer),
    ",\"included\":\"",
    quantity(line.included),
    "\",\"key\":",
    json_string(line.key),
    ",\"measure\":\"",
    measure_text(line.measure),
    "\",\"meter\":",
    json_string(line.meter),
    ",\"overage\":\"",
    quantity(line.overage),
    "\",\"period\":",
    json_string(line.period),
    ",\"plan\":",
    json_string(line.plan),
    ",\"resource\":",
    json_string(line.resource),
    ",\"unit\":\"",
    unit_text(line.unit),
    "\",\"unit_price\":\"",
    quantity(line.unit_price),
    "\",\"used\":\"",
    quantity(line.used),
    "\",\"version\":",
    int_text(line.version),
    "}",
  ])
}

@external(erlang, "erlang", "iolist_to_binary")
fn concat(pieces: List(String)) -> String

@external(erlang, "erlang", "integer_to_binary")
fn int_text(n: Int) -> String

/// A void: the line `key` of an earlier version is gone from `version`.
/// Its customer, resource, meter, measure and period are `parts`, the key's
/// decoded parts (`key_parts`); keys in byte order, no spaces.
pub fn void_json(key: String, parts: KeyParts, version: Int) -> String {
  "{\"customer\":"
  <> json_string(parts.customer)
  <> ",\"key\":"
  <> json_string(key)
  <> ",\"measure\":"
  <> json_string(parts.measure)
  <> ",\"meter\":"
  <> json_string(parts.meter)
  <> ",\"period\":"
  <> json_string(parts.period)
  <> ",\"resource\":"
  <> json_string(parts.resource)
  <> ",\"version\":"
  <> bytes.int_to_text(version)
  <> ",\"void\":true}"
}

/// The five parts of a line key, percent-decoded.
pub type KeyParts {
  KeyParts(
    customer: String,
    resource: String,
    meter: String,
    measure: String,
    period: String,
  )
}

/// A key's parts (`billing::line_key` percent-encodes each and joins them
/// with `/`); an error for a key that does not have five parts.
///
/// ```gleam
/// key_parts("a%2Fb/*/requests/total/2026-10")
/// // Ok(KeyParts("a/b", "*", "requests", "total", "2026-10"))
/// ```
pub fn key_parts(key: String) -> Result(KeyParts, Nil) {
  case split_key(key) {
    [c, r, m, me, p] ->
      Ok(KeyParts(customer: c, resource: r, meter: m, measure: me, period: p))
    _ -> Error(Nil)
  }
}

@external(erlang, "tally_outbox_ffi", "key_parts")
fn split_key(key: String) -> List(String)

/// What a line (or a void) is published under: `KEY/vVERSION`
/// (unambiguous: a key's parts never hold a bare `/`). The stream's
/// duplicate window, the outbox's memory and the file sink work on it, so a
/// reissue is never taken for a copy of the earlier version.
///
/// ```gleam
/// msg_id("acme/*/requests/total/2026-10", 2)
/// // "acme/*/requests/total/2026-10/v2"
/// ```
pub fn msg_id(key: String, version: Int) -> String {
  key <> "/v" <> bytes.int_to_text(version)
}

/// The `Tally-Schema` header: the JSON Schema a message follows
/// (contract/invoice_line.v1.schema.json).
pub fn schema() -> String {
  "invoice_line.v1"
}

/// An invoice in the written form, with each customer's total.
pub fn written(invoice: billing.Invoice) -> Written {
  let lines =
    map_lines(invoice.lines, [], fn(l: billing.InvoiceLine) {
      #(msg_id(l.key, l.version), line_json(l))
    })
  Written(
    lines: lines,
    customers: totals(invoice.lines, map.new()),
    unbilled: invoice.unbilled_customers,
  )
}

fn map_lines(
  lines: List(billing.InvoiceLine),
  acc: List(a),
  f: fn(billing.InvoiceLine) -> a,
) -> List(a) {
  case lines {
    [] -> bytes.reverse(acc)
    [l, ..rest] -> map_lines(rest, [f(l), ..acc], f)
  }
}

// A customer's lines come one after another (the engine bills customer by
// customer): the running total goes into the map when the customer changes.
fn totals(
  lines: List(billing.InvoiceLine),
  acc: map.Map(String, CustomerTotal),
) -> map.Map(String, CustomerTotal) {
  case lines {
    [] -> acc
    [l, ..rest] -> {
      let start = case map.get(acc, l.customer) {
        Ok(t) -> t
        Error(Nil) -> CustomerTotal(l.currency, 0, 0)
      }
      running(rest, l.customer, add(start, l), acc)
    }
  }
}

fn running(
  lines: List(billing.InvoiceLine),
  customer: String,
  total: CustomerTotal,
  acc: map.Map(String, CustomerTotal),
) -> map.Map(String, CustomerTotal) {
  case lines {
    [l, ..rest] ->
      case l.customer == customer {
        True -> running(rest, customer, add(total, l), acc)
        False -> totals(lines, map.put(acc, customer, total))
      }
    [] -> map.put(acc, customer, total)
  }
}

fn add(t: CustomerTotal, l: billing.InvoiceLine) -> CustomerTotal {
  CustomerTotal(
    currency: t.currency,
    amount_minor: t.amount_minor + l.amount_minor,
    lines: t.lines + 1,
  )
}

/// An exact quantity's text: `"12"`, `"0.00000049"`, or `"1/3"` when the
/// fraction has no finite decimal expansion (the twin of Rust's
/// `Ratio::to_exact`).
///
/// ```gleam
/// quantity(billing.Fraction(23, 10))
/// // "2.3"
/// ```
pub fn quantity(q: billing.Fraction) -> String {
  let g = gcd(q.numerator, q.denominator)
  let n = q.numerator / g
  let d = q.denominator / g
  case d == 1 {
    True -> bytes.int_to_text(n)
    False -> {
      let #(twos, rest2) = strip(d, 2, 0)
      let #(fives, rest) = strip(rest2, 5, 0)
      case rest == 1 {
        // d = 2^twos 5^fives has max(twos, fives) decimals: the remainder
        // times 10^places / d, a power of 5 or of 2 alone. A reduced
        // fraction's last decimal is never 0.
        True -> {
          let places = max(twos, fives)
          let r = n % d
          let frac = case twos >= fives {
            True -> r * pow(5, twos - fives)
            False -> r * pow(2, fives - twos)
          }
          let text = bytes.int_to_text(frac)
          bytes.int_to_text(n / d)
          <> "."
          <> copies("0", places - byte_size(text))
          <> text
        }
        False -> bytes.int_to_text(n) <> "/" <> bytes.int_to_text(d)
      }
    }
  }
}

fn strip(d: Int, p: Int, k: Int) -> #(Int, Int) {
  case d % p == 0 {
    True -> strip(d / p, p, k + 1)
    False -> #(k, d)
  }
}

fn pow(b: Int, e: Int) -> Int {
  case e {
    0 -> 1
    _ ->
      case e % 2 == 0 {
        True -> {
          let x = pow(b, e / 2)
          x * x
        }
        False -> b * pow(b, e - 1)
      }
  }
}

fn gcd(a: Int, b: Int) -> Int {
  case b {
    0 -> a
    _ -> gcd(b, a % b)
  }
}

fn max(a: Int, b: Int) -> Int {
  case a > b {
    True -> a
    False -> b
  }
}

// (`n` is never negative: the remainder's digits fit in `places`.)
@external(erlang, "binary", "copy")
fn copies(text: String, n: Int) -> String

@external(erlang, "erlang", "byte_size")
fn byte_size(text: String) -> Int

/// The measure's name in the written form and in keys.
pub fn measure_text(m: billing.Measure) -> String {
  case m {
    billing.Total -> "total"
    billing.P95Rate -> "p95_rate"
    billing.GbMonthAverage -> "gb_month_average"
    billing.Peak -> "peak"
  }
}

fn unit_text(u: billing.QuantityUnit) -> String {
  case u {
    billing.PlainUnit -> "unit"
    billing.Gigabyte -> "GB"
    billing.MegabitPerSecond -> "Mbps"
  }
}

/// A JSON string, quoted and escaped as the Rust twin does: `\"` `\\` `\n`
/// `\r` `\t`, and `\u00xx` (lowercase hex) for the other control bytes.
///
/// ```gleam
/// json_string("a\"b")
/// // "\"a\\\"b\""
/// ```
@external(erlang, "tally_outbox_ffi", "json_string")
pub fn json_string(text: String) -> String
