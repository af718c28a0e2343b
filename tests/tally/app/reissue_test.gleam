//// A reissue's voids (tally/app/reissue): the keys an earlier version of a
//// period had and the new one has not, each a void of the new version, the
//// same again when the period is closed again.

import tally/app/outbox_book as book
import tally/app/reissue
import tally/app/written
import tally/expect
import tally/pure/map

const k1 = "a%2Fb/*/requests/total/2026-10"

const k2 = "a/b%2Fc/requests/total/2026-10"

const k3 = "tab%09x/%2A/bandwidth_out_bytes/peak/2026-10"

pub fn voids_name_the_gone_keys_once_test() {
  // Version 1: nothing issued before, nothing void; the keys are recorded.
  let assert Ok(r1) =
    reissue.voids(
      map.new(),
      [written.msg_id(k1, 1), written.msg_id(k2, 1), written.msg_id(k3, 1)],
      1,
      "s",
    )
  expect.equal(r1.voids, [])
  expect.equal(r1.changed, True)
  expect.equal(map.keys(r1.issued), [k2, k1, k3] |> sorted)
  // Version 2 has K2 only: K1 and K3 are void, in key order, as version 2.
  let assert Ok(r2) = reissue.voids(r1.issued, [written.msg_id(k2, 2)], 2, "s")
  expect.equal(r2.voids, [
    book.Item(
      k1 <> "/v2",
      "s",
      "{\"customer\":\"a/b\",\"key\":\"a%2Fb/*/requests/total/2026-10\",\"measure\":\"total\","
        <> "\"meter\":\"requests\",\"period\":\"2026-10\",\"resource\":\"*\",\"version\":2,\"void\":true}",
    ),
    book.Item(
      k3 <> "/v2",
      "s",
      "{\"customer\":\"tab\\tx\",\"key\":\"tab%09x/%2A/bandwidth_out_bytes/peak/2026-10\","
        <> "\"measure\":\"peak\",\"meter\":\"bandwidth_out_bytes\",\"period\":\"2026-10\","
        <> "\"resource\":\"*\",\"version\":2,\"void\":true}",
    ),
  ])
  // Nothing new issued: the record stays as it is.
  expect.equal(r2.changed, False)
  expect.equal(r2.issued, r1.issued)
  // Closed again (a crash, a rerun): the same voids.
  let assert Ok(again) =
    reissue.voids(r2.issued, [written.msg_id(k2, 2)], 2, "s")
  expect.equal(again.voids, r2.voids)
  // Version 3 brings K1 back: only K3 stays void.
  let assert Ok(r3) =
    reissue.voids(
      r2.issued,
      [written.msg_id(k1, 3), written.msg_id(k2, 3)],
      3,
      "s",
    )
  let assert [void3] = r3.voids
  expect.equal(void3.key, k3 <> "/v3")
}

pub fn a_record_that_is_not_of_line_keys_is_an_error_test() {
  let issued = map.put(map.new(), "not/a/line", True)
  expect.equal(
    reissue.voids(issued, [], 2, "s"),
    Error(reissue.NotALineKey("not/a/line")),
  )
}

@external(erlang, "lists", "sort")
fn sorted(l: List(String)) -> List(String)
