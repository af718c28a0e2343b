//// The written form of invoice lines in pure Gleam: the twin of
//// `native/core/src/written.rs` (`push_invoice_line`, `write_invoice`),
//// the same bytes as `tally bill` prints (README, "The written form"):
//// one JSON object per line, keys in byte order, no spaces, quantities
//// exact strings, `amount_minor` a string of digits, `version` a number.

import tally/billing
import tally/pure/bytes

/// Most lines in one batch: the outbox's batch size.
pub const batch_lines = 5000

/// A batch is closed once its lines reach this many bytes (4 MiB).
pub const batch_bytes = 4_194_304

/// An invoice's lines in the written form, cut into outbox batches (at
/// most `batch_lines` lines, closed once their bytes reach `batch_bytes`),
/// with each customer's total, as `write_invoice` in written.rs.
///
/// ```gleam
/// let written = written.write_invoice(invoice)
/// written.batches
/// ```
pub fn write_invoice(invoice: billing.Invoice) -> billing.WrittenInvoice {
  write_invoice_in(invoice, batch_lines, batch_bytes)
}

/// `write_invoice` with other batch limits.
pub fn write_invoice_in(
  invoice: billing.Invoice,
  max_lines: Int,
  max_bytes: Int,
) -> billing.WrittenInvoice {
  let #(batches, totals) =
    write_lines(invoice.lines, max_lines, max_bytes, Open(0, 0, [], []), [], [])
  billing.WrittenInvoice(
    batches: batches,
    totals: totals,
    unbilled_customers: invoice.unbilled_customers,
  )
}

// The batch being filled: lines, bytes of lines, ids and lines (reversed).
type Open {
  Open(count: Int, size: Int, ids: List(BitArray), lines: List(BitArray))
}

fn write_lines(
  lines: List(billing.InvoiceLine),
  max_lines: Int,
  max_bytes: Int,
  open: Open,
  batches: List(billing.WrittenBatch),
  totals: List(billing.CustomerTotal),
) -> #(List(billing.WrittenBatch), List(billing.CustomerTotal)) {
  case lines {
    [] ->
      case open.count {
        0 -> #(bytes.reverse(batches), bytes.reverse(totals))
        _ -> #(bytes.reverse([close(open), ..batches]), bytes.reverse(totals))
      }
    [line, ..rest] -> {
      let #(open, batches) = case
        open.count > 0 && { open.count >= max_lines || open.size >= max_bytes }
      {
        True -> #(Open(0, 0, [], []), [close(open), ..batches])
        False -> #(open, batches)
      }
      let text = line_json(line)
      let id = bytes.append_byte(<<msg_id(line):utf8>>, 10)
      let open =
        Open(
          count: open.count + 1,
          size: open.size + bytes.size(text) + 1,
          ids: [id, ..open.ids],
          lines: [bytes.append_byte(text, 10), ..open.lines],
        )
      write_lines(
        rest,
        max_lines,
        max_bytes,
        open,
        batches,
        add_total(totals, line),
      )
    }
  }
}

fn close(open: Open) -> billing.WrittenBatch {
  billing.WrittenBatch(
    count: open.count,
    ids: concat(bytes.reverse(open.ids)),
    lines: concat(bytes.reverse(open.lines)),
  )
}

// A customer's lines are consecutive (billing goes customer by customer).
fn add_total(
  totals: List(billing.CustomerTotal),
  line: billing.InvoiceLine,
) -> List(billing.CustomerTotal) {
  let first =
    billing.CustomerTotal(
      customer: line.customer,
      currency: line.currency,
      amount_minor: line.amount_minor,
      lines: 1,
    )
  case totals {
    [] -> [first]
    [last, ..rest] ->
      case last.customer == line.customer {
        True -> [
          billing.CustomerTotal(
            customer: last.customer,
            currency: last.currency,
            amount_minor: last.amount_minor + line.amount_minor,
            lines: last.lines + 1,
          ),
          ..rest
        ]
        False -> [first, ..totals]
      }
  }
}

/// What a line is published under: `KEY/vVERSION`.
pub fn msg_id(line: billing.InvoiceLine) -> String {
  line.key <> "/v" <> bytes.int_to_text(line.version)
}

/// One invoice line in the written form (no newline).
pub fn line_json(l: billing.InvoiceLine) -> BitArray {
  concat([
    <<"{\"amount_minor\":\"":utf8>>,
    <<bytes.int_to_text(l.amount_minor):utf8>>,
    <<"\",\"currency\":":utf8>>,
    json_string(l.currency),
    <<",\"customer\":":utf8>>,
    json_string(l.customer),
    <<",\"included\":\"":utf8>>,
    <<exact(l.included):utf8>>,
    <<"\",\"key\":":utf8>>,
    json_string(l.key),
    <<",\"measure\":\"":utf8>>,
    <<measure_name(l.measure):utf8>>,
    <<"\",\"meter\":":utf8>>,
    json_string(l.meter),
    <<",\"overage\":\"":utf8>>,
    <<exact(l.overage):utf8>>,
    <<"\",\"period\":":utf8>>,
    json_string(l.period),
    <<",\"plan\":":utf8>>,
    json_string(l.plan),
    <<",\"resource\":":utf8>>,
    json_string(l.resource),
    <<",\"unit\":\"":utf8>>,
    <<unit_name(l.unit):utf8>>,
    <<"\",\"unit_price\":\"":utf8>>,
    <<exact(l.unit_price):utf8>>,
    <<"\",\"used\":\"":utf8>>,
    <<exact(l.used):utf8>>,
    <<"\",\"version\":":utf8>>,
    <<bytes.int_to_text(l.version):utf8>>,
    <<"}":utf8>>,
  ])
}

fn measure_name(m: billing.Measure) -> String {
  case m {
    billing.Total -> "total"
    billing.P95Rate -> "p95_rate"
    billing.GbMonthAverage -> "gb_month_average"
    billing.Peak -> "peak"
  }
}

fn unit_name(u: billing.QuantityUnit) -> String {
  case u {
    billing.PlainUnit -> "unit"
    billing.Gigabyte -> "GB"
    billing.MegabitPerSecond -> "Mbps"
  }
}

/// An exact quantity's text, as Rust's `Ratio::to_exact`: `"12"`,
/// `"0.00000049"`, or `"1/3"` when the fraction has no finite decimal
/// expansion.
pub fn exact(f: billing.Fraction) -> String {
  let g = gcd(f.numerator, f.denominator)
  let #(n, d) = case g {
    0 -> #(f.numerator, f.denominator)
    _ -> #(f.numerator / g, f.denominator / g)
  }
  case d {
    1 -> bytes.int_to_text(n)
    _ -> {
      let #(twos, rest) = strip(d, 2, 0)
      let #(fives, rest) = strip(rest, 5, 0)
      case rest {
        1 -> {
          // d = 2^twos 5^fives has max(twos, fives) decimals: the
          // remainder scaled to 10^places / d, a power of 5 or of 2 alone.
          let places = larger(twos, fives)
          let frac = case twos >= fives {
            True -> { n % d } * pow(5, twos - fives)
            False -> { n % d } * pow(2, fives - twos)
          }
          let digits = bytes.int_to_text(frac)
          bytes.int_to_text(n / d)
          <> "."
          <> zeros(places - bytes.size(<<digits:utf8>>), "")
          <> digits
        }
        _ -> bytes.int_to_text(n) <> "/" <> bytes.int_to_text(d)
      }
    }
  }
}

fn gcd(a: Int, b: Int) -> Int {
  case b {
    0 -> a
    _ -> gcd(b, a % b)
  }
}

fn strip(d: Int, p: Int, k: Int) -> #(Int, Int) {
  case d > 0 && d % p == 0 {
    True -> strip(d / p, p, k + 1)
    False -> #(k, d)
  }
}

fn pow(b: Int, e: Int) -> Int {
  case e {
    0 -> 1
    _ -> b * pow(b, e - 1)
  }
}

fn larger(a: Int, b: Int) -> Int {
  case a > b {
    True -> a
    False -> b
  }
}

fn zeros(n: Int, acc: String) -> String {
  case n > 0 {
    True -> zeros(n - 1, acc <> "0")
    False -> acc
  }
}

/// A JSON string, escaped as written.rs does: `\"`, `\\`, `\n`, `\r`,
/// `\t`, and `\u00xx` (lowercase hex) for the other control bytes.
pub fn json_string(s: String) -> BitArray {
  let b = <<s:utf8>>
  concat([<<34>>, ..bytes.reverse([<<34>>, ..escape(b, 0, 0, [])])])
}

// Parts of the escaped text, reversed: runs of plain bytes and escapes.
fn escape(
  b: BitArray,
  start: Int,
  pos: Int,
  acc: List(BitArray),
) -> List(BitArray) {
  case bytes.at(b, pos) {
    -1 -> [bytes.slice(b, start, pos - start), ..acc]
    c if c < 32 || c == 34 || c == 92 -> {
      let esc = case c {
        34 -> <<"\\\"":utf8>>
        92 -> <<"\\\\":utf8>>
        10 -> <<"\\n":utf8>>
        13 -> <<"\\r":utf8>>
        9 -> <<"\\t":utf8>>
        _ -> {
          let high = hex(c / 16)
          let low = hex(c % 16)
          <<"\\u00":utf8, high, low>>
        }
      }
      escape(b, pos + 1, pos + 1, [
        esc,
        bytes.slice(b, start, pos - start),
        ..acc
      ])
    }
    _ -> escape(b, start, pos + 1, acc)
  }
}

fn hex(n: Int) -> Int {
  case n < 10 {
    True -> 48 + n
    False -> 87 + n
  }
}

@external(erlang, "tally_pure_ffi", "concat")
fn concat(parts: List(BitArray)) -> BitArray
