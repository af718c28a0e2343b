//// What the application publishes besides the lines (tally/app/written):
//// message ids, key parts, voids, the schema header; and the quantities of
//// the lines' written form (tally/pure/written, the engine's twin) at the
//// edges the Rust tests pin.

import tally/app/written
import tally/billing
import tally/expect
import tally/pure/written as form

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

pub fn a_void_names_the_keys_parts_test() {
  let assert Ok(parts) = written.key_parts("tab%09x/%2A/bw/peak/2026-10")
  expect.equal(
    written.void_json("tab%09x/%2A/bw/peak/2026-10", parts, 2),
    "{\"customer\":\"tab\\tx\",\"key\":\"tab%09x/%2A/bw/peak/2026-10\","
      <> "\"measure\":\"peak\",\"meter\":\"bw\",\"period\":\"2026-10\","
      <> "\"resource\":\"*\",\"version\":2,\"void\":true}",
  )
}

pub fn quantities_are_exact_at_the_edges_test() {
  let q = fn(n, d) { form.exact(billing.Fraction(n, d)) }
  // Reduced first.
  expect.equal(q(10, 4), "2.5")
  expect.equal(q(3, 40), "0.075")
  expect.equal(q(999, 1000), "0.999")
  expect.equal(q(1, 8), "0.125")
  expect.equal(q(123_456_789, 1_048_576), "117.73756885528564453125")
  // The Rust test's value near 2^127, where u128 arithmetic must not overflow.
  expect.equal(
    q(
      85_070_591_730_234_615_865_843_651_857_942_052_865,
      170_141_183_460_469_231_731_687_303_715_884_105_728,
    ),
    "0.5000000000000000000000000000000000000058774717541114375398436826861112283890933277838604376075437585313920862972736358642578125",
  )
}
