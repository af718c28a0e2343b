//// tally/app/customer_totals: the totals file a close writes.

import tally/app/customer_totals
import tally/billing
import tally/expect

pub fn totals_are_written_one_a_line_and_read_back_test() {
  let totals = [
    billing.CustomerTotal("acme", "EUR", 116_225, 5),
    billing.CustomerTotal("a \"quoted\"\ncustomer", "USD", 0, 1),
    billing.CustomerTotal("big", "EUR", 340_282_366_920_938_463_463, 2),
  ]
  let text = customer_totals.lines(totals)
  expect.equal(
    customer_totals.lines([billing.CustomerTotal("acme", "EUR", 116_225, 5)]),
    <<
      "{\"amount_minor\":116225,\"currency\":\"EUR\",\"customer\":\"acme\",\"lines\":5}\n":utf8,
    >>,
  )
  expect.equal(customer_totals.parse(text), Ok(totals))
  expect.equal(customer_totals.parse(<<>>), Ok([]))
  expect.equal(
    customer_totals.path("/var/lib/tally", "2026-10"),
    "/var/lib/tally/totals/2026-10.jsonl",
  )
}

pub fn a_line_that_is_not_a_total_is_named_test() {
  let good = customer_totals.lines([billing.CustomerTotal("a", "EUR", 1, 1)])
  expect.equal(
    customer_totals.parse(<<
      good:bits,
      "{\"customer\":\"b\",\"currency\":\"EUR\",\"amount_minor\":-1,\"lines\":1}\n":utf8,
    >>),
    Error("line 2: not a total (customer, currency, amount_minor, lines)"),
  )
  let assert Error("line 1: " <> _) = customer_totals.parse(<<"{oops\n":utf8>>)
  Nil
}
