//// The written form in pure Gleam (tally/pure/written), against the bytes
//// written.rs gives for the same values (its tests hold the same cases).

import tally/billing
import tally/expect
import tally/pure/bytes
import tally/pure/written

pub fn quantities_are_exact_test() {
  expect.equal(written.exact(billing.Fraction(12, 1)), "12")
  expect.equal(written.exact(billing.Fraction(0, 1)), "0")
  expect.equal(written.exact(billing.Fraction(49, 100_000_000)), "0.00000049")
  expect.equal(written.exact(billing.Fraction(46, 20)), "2.3")
  expect.equal(written.exact(billing.Fraction(1, 3)), "1/3")
  expect.equal(written.exact(billing.Fraction(14, 12)), "7/6")
  expect.equal(
    written.exact(billing.Fraction(1, 1_073_741_824)),
    "0.000000000931322574615478515625",
  )
}

pub fn strings_are_escaped_like_the_rust_twin_test() {
  // a"b\c, a newline, d, byte 1, é, byte 127
  let text = bytes.to_text(<<"a\"b\\c\nd":utf8, 1, "é":utf8, 127>>)
  expect.equal(written.json_string(text), <<
    "\"a\\\"b\\\\c\\nd\\u0001é":utf8,
    127,
    "\"":utf8,
  >>)
}

pub fn a_line_is_written_and_batched_test() {
  let line =
    billing.InvoiceLine(
      key: "acme/*/bandwidth_out_bytes/total/2026-10",
      customer: "acme",
      resource: "*",
      meter: "bandwidth_out_bytes",
      measure: billing.Total,
      period: "2026-10",
      version: 1,
      plan: "pro",
      currency: "EUR",
      unit: billing.Gigabyte,
      used: billing.Fraction(1, 3),
      included: billing.Fraction(0, 1),
      overage: billing.Fraction(1, 3),
      unit_price: billing.Fraction(49, 100_000_000),
      amount_minor: 1_152_921_504_606_846_977,
    )
  let text =
    "{\"amount_minor\":\"1152921504606846977\",\"currency\":\"EUR\",\"customer\":\"acme\",\"included\":\"0\",\"key\":\"acme/*/bandwidth_out_bytes/total/2026-10\",\"measure\":\"total\",\"meter\":\"bandwidth_out_bytes\",\"overage\":\"1/3\",\"period\":\"2026-10\",\"plan\":\"pro\",\"resource\":\"*\",\"unit\":\"GB\",\"unit_price\":\"0.00000049\",\"used\":\"1/3\",\"version\":1}"
  expect.equal(written.line_json(line), <<text:utf8>>)
  let other = billing.InvoiceLine(..line, customer: "b", amount_minor: 5)
  let w =
    written.write_invoice_in(
      billing.Invoice([line, line, other], ["z"]),
      2,
      1_000_000,
    )
  let id = "acme/*/bandwidth_out_bytes/total/2026-10/v1\n"
  let assert [first, second] = w.batches
  expect.equal(first.count, 2)
  expect.equal(first.ids, <<id:utf8, id:utf8>>)
  expect.equal(first.lines, <<text:utf8, "\n":utf8, text:utf8, "\n":utf8>>)
  expect.equal(second.count, 1)
  expect.equal(w.totals, [
    billing.CustomerTotal("acme", "EUR", 2_305_843_009_213_693_954, 2),
    billing.CustomerTotal("b", "EUR", 5, 1),
  ])
  expect.equal(w.unbilled_customers, ["z"])
}
