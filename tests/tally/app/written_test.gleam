//// The written form of an invoice line on the BEAM (tally/app/written)
//// against the Rust core's (tally_core::written): the same line gives the
//// same bytes (this line is the one native/core/src/written.rs tests), and
//// quantities are exact.

import tally/app/written
import tally/billing
import tally/expect
import tally/pure/bytes
import tally/pure/map

fn line(key: String, version: Int) -> billing.InvoiceLine {
  billing.InvoiceLine(
    key: key,
    customer: "acme",
    resource: "*",
    meter: "bandwidth_out_bytes",
    measure: billing.Total,
    period: "2026-10",
    version: version,
    plan: "pro",
    currency: "EUR",
    unit: billing.Gigabyte,
    used: billing.Fraction(1, 3),
    included: billing.Fraction(0, 1),
    overage: billing.Fraction(1, 3),
    unit_price: billing.Fraction(49, 100_000_000),
    amount_minor: 1_152_921_504_606_846_977,
  )
}

pub fn the_same_bytes_as_the_rust_core_test() {
  expect.equal(
    written.line_json(line("acme/*/bandwidth_out_bytes/total/2026-10", 1)),
    "{\"amount_minor\":\"1152921504606846977\",\"currency\":\"EUR\",\"customer\":\"acme\","
      <> "\"included\":\"0\",\"key\":\"acme/*/bandwidth_out_bytes/total/2026-10\",\"measure\":\"total\","
      <> "\"meter\":\"bandwidth_out_bytes\",\"overage\":\"1/3\",\"period\":\"2026-10\",\"plan\":\"pro\","
      <> "\"resource\":\"*\",\"unit\":\"GB\",\"unit_price\":\"0.00000049\",\"used\":\"1/3\",\"version\":1}",
  )
}

pub fn measures_and_units_are_named_as_in_rust_test() {
  let l =
    billing.InvoiceLine(
      ..line("k", 2),
      measure: billing.P95Rate,
      unit: billing.MegabitPerSecond,
    )
  expect.be_true(
    contains(written.line_json(l), "\"measure\":\"p95_rate\""),
    "p95_rate",
  )
  expect.be_true(contains(written.line_json(l), "\"unit\":\"Mbps\""), "Mbps")
  let l =
    billing.InvoiceLine(
      ..l,
      measure: billing.GbMonthAverage,
      unit: billing.PlainUnit,
    )
  expect.be_true(
    contains(written.line_json(l), "\"measure\":\"gb_month_average\""),
    "gb_month_average",
  )
  expect.be_true(contains(written.line_json(l), "\"unit\":\"unit\""), "unit")
  expect.equal(written.measure_text(billing.Peak), "peak")
}

pub fn strings_are_escaped_like_the_rust_core_test() {
  let text = bytes.to_text(<<"a\"b\\c\nd":utf8, 1, "é":utf8, 127, "\r\t":utf8>>)
  expect.equal(
    written.json_string(text),
    bytes.to_text(<<"\"a\\\"b\\\\c\\nd\\u0001é":utf8, 127, "\\r\\t\"":utf8>>),
  )
  expect.equal(written.json_string("plain"), "\"plain\"")
  expect.equal(written.json_string(""), "\"\"")
  expect.equal(written.json_string(bytes.to_text(<<31>>)), "\"\\u001f\"")
}

pub fn quantities_are_exact_test() {
  let q = fn(n, d) { written.quantity(billing.Fraction(n, d)) }
  expect.equal(q(12, 1), "12")
  expect.equal(q(0, 1), "0")
  expect.equal(q(23, 10), "2.3")
  expect.equal(q(49, 100_000_000), "0.00000049")
  expect.equal(q(1, 3), "1/3")
  expect.equal(q(7, 6), "7/6")
  // Reduced first.
  expect.equal(q(10, 4), "2.5")
  expect.equal(q(1, 1_073_741_824), "0.000000000931322574615478515625")
  // The Rust test's value near 2^127, where u128 arithmetic must not overflow.
  expect.equal(
    q(
      85_070_591_730_234_615_865_843_651_857_942_052_865,
      170_141_183_460_469_231_731_687_303_715_884_105_728,
    ),
    "0.5000000000000000000000000000000000000058774717541114375398436826861112283890933277838604376075437585313920862972736358642578125",
  )
  expect.equal(q(3, 40), "0.075")
  expect.equal(q(999, 1000), "0.999")
  expect.equal(q(5, 2), "2.5")
  expect.equal(q(1, 8), "0.125")
  expect.equal(q(123_456_789, 1_048_576), "117.73756885528564453125")
}

pub fn msg_ids_and_key_parts_test() {
  expect.equal(
    written.msg_id("acme/*/requests/total/2026-10", 12),
    "acme/*/requests/total/2026-10/v12",
  )
  expect.equal(
    written.key_parts("a%2Fb/%2A/50%25%20off/total/2026-10"),
    Ok(written.KeyParts("a/b", "*", "50% off", "total", "2026-10")),
  )
  expect.equal(written.key_parts("a/b/c"), Error(Nil))
  expect.equal(written.schema(), "invoice_line.v1")
}

pub fn an_invoice_written_with_each_customers_total_test() {
  let a1 = line("acme/*/m/total/2026-10", 3)
  let a2 =
    billing.InvoiceLine(..line("acme/x/m/total/2026-10", 3), amount_minor: 5)
  let g =
    billing.InvoiceLine(
      ..line("globex/*/m/total/2026-10", 3),
      customer: "globex",
      currency: "USD",
      amount_minor: 7,
    )
  let w = written.written(billing.Invoice([a1, a2, g], ["initech"]))
  expect.equal(w.lines, [
    #("acme/*/m/total/2026-10/v3", written.line_json(a1)),
    #("acme/x/m/total/2026-10/v3", written.line_json(a2)),
    #("globex/*/m/total/2026-10/v3", written.line_json(g)),
  ])
  expect.equal(map.sorted_pairs(w.customers), [
    #("acme", written.CustomerTotal("EUR", 1_152_921_504_606_846_977 + 5, 2)),
    #("globex", written.CustomerTotal("USD", 7, 1)),
  ])
  expect.equal(w.unbilled, ["initech"])
}

pub fn a_void_names_the_keys_parts_test() {
  let assert Ok(parts) = written.key_parts("tab%09x/%2A/bw/peak/2026-10")
  expect.equal(
    written.void_json("tab%09x/%2A/bw/peak/2026-10", parts, 2),
    "{\"customer\":\"tab\\tx\",\"key\":\"tab%09x/%2A/bw/peak/2026-10\","
      <> "\"measure\":\"peak\",\"meter\":\"bw\",\"period\":\"2026-10\","
      <> "\"resource\":\"*\",\"version\":2,\"void\":true}",
  )
}

@external(erlang, "tally_outbox_test_ffi", "contains")
fn contains(text: String, part: String) -> Bool
