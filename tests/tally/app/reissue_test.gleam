//// A reissue's voids (tally/app/reissue): the keys an earlier version of a
//// period had and the new one has not, each a void of the new version, the
//// same again when the period is closed again; and the record of what a
//// period issued, as the engine wrote the ids.

import tally/app/key_set
import tally/app/outbox_book as book
import tally/app/reissue
import tally/app/written
import tally/expect
import tally/pure/map

const k1 = "a%2Fb/*/requests/total/2026-10"

const k2 = "a/b%2Fc/requests/total/2026-10"

const k3 = "tab%09x/%2A/bandwidth_out_bytes/peak/2026-10"

fn blob(ids: List(String)) -> BitArray {
  case ids {
    [] -> <<>>
    [id, ..rest] -> <<id:utf8, "\n":utf8, blob(rest):bits>>
  }
}

fn recorded(r: reissue.Reissue) -> reissue.Issued {
  let assert reissue.WriteRecord(bytes) = r.record
  let assert Ok(issued) = reissue.parse_record(bytes)
  issued
}

pub fn voids_name_the_gone_keys_once_test() {
  // Version 1: nothing issued before, nothing void; the ids recorded as
  // the engine wrote them.
  let v1 = [
    blob([written.msg_id(k1, 1), written.msg_id(k2, 1)]),
    blob([written.msg_id(k3, 1)]),
  ]
  let assert Ok(r1) = reissue.voids(reissue.NothingIssued, v1, 1, "s")
  expect.equal(r1.voids, [])
  expect.equal(
    r1.record,
    reissue.WriteRecord(
      blob([written.msg_id(k1, 1), written.msg_id(k2, 1), written.msg_id(k3, 1)]),
    ),
  )
  // Each close reads the record again (a close uses up what it read).
  // Version 2 has K2 only: K1 and K3 are void, in key order, as version 2.
  let assert Ok(r2) =
    reissue.voids(recorded(r1), [blob([written.msg_id(k2, 2)])], 2, "s")
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
  // No key new to the period: the record stays as it is.
  expect.equal(r2.record, reissue.KeepRecord)
  // Closed again (a crash, a rerun): the same voids.
  let assert Ok(again) =
    reissue.voids(recorded(r1), [blob([written.msg_id(k2, 2)])], 2, "s")
  expect.equal(again.voids, r2.voids)
  // Version 3 brings K1 back and a new key: only K3 stays void, and the
  // new key is added to the record.
  let k4 = "d/*/requests/total/2026-10"
  let assert Ok(r3) =
    reissue.voids(
      recorded(r1),
      [
        blob([
          written.msg_id(k1, 3),
          written.msg_id(k2, 3),
          written.msg_id(k4, 3),
        ]),
      ],
      3,
      "s",
    )
  let assert [void3] = r3.voids
  expect.equal(void3.key, k3 <> "/v3")
  expect.equal(
    r3.record,
    reissue.WriteRecord(
      blob([
        written.msg_id(k1, 1),
        written.msg_id(k2, 1),
        written.msg_id(k3, 1),
        written.msg_id(k4, 3),
      ]),
    ),
  )
  // Nothing issued and nothing now: no record.
  let assert Ok(none) = reissue.voids(reissue.NothingIssued, [], 1, "s")
  expect.equal(none.record, reissue.KeepRecord)
}

pub fn the_earlier_record_is_read_test() {
  // An Erlang term of the keys, as the Erlang closer wrote it.
  let keys = map.put(map.put(map.new(), k1, True), k2, True)
  let assert Ok(issued) = reissue.parse_record(encode_keys(keys))
  let assert Ok(r) =
    reissue.voids(issued, [blob([written.msg_id(k2, 2)])], 2, "s")
  let assert [void] = r.voids
  expect.equal(void.key, k1 <> "/v2")
  expect.equal(reissue.key_of("a/b/c/d/e/v12"), "a/b/c/d/e")
}

pub fn a_record_that_is_not_of_line_keys_is_an_error_test() {
  let assert Ok(issued) = reissue.parse_record(blob(["not/a/v1"]))
  expect.equal(
    reissue.voids(issued, [], 2, "s"),
    Error(reissue.NotALineKey("not/a")),
  )
}

@external(erlang, "tally_outbox_ffi", "encode_keys")
fn encode_keys(keys: map.Map(String, Bool)) -> BitArray

pub fn what_an_unfinished_close_recorded_is_issued_test() {
  let id1 = written.msg_id(k1, 1)
  let id2 = written.msg_id(k2, 1)
  let id3 = written.msg_id(k3, 1)
  // Nothing issued before: the unfinished record's whole ids, its last line
  // (cut short by a crash) left out.
  let torn = <<blob([id1, id2]):bits, "tab%09x/%2A/band":utf8>>
  let assert #(reissue.Issued(keys, record), True) =
    reissue.with_unfinished(reissue.NothingIssued, torn)
  expect.equal(record, blob([id1, id2]))
  expect.equal(key_set.sorted(keys), [k1, k2])
  // Issued before: only keys the record lacks are added, after its ids.
  let assert Ok(before) = reissue.parse_record(blob([id2]))
  let assert #(reissue.Issued(_, record), True) =
    reissue.with_unfinished(before, blob([id2, id3, id1, id3]))
  expect.equal(record, blob([id2, id3, id1]))
  // Nothing new (a copy of the record, or a torn copy): nothing added.
  let assert #(same, False) =
    reissue.with_unfinished(before, <<blob([id2]):bits, "a%2F":utf8>>)
  expect.equal(same, before)
  let assert #(reissue.NothingIssued, False) =
    reissue.with_unfinished(reissue.NothingIssued, <<"a%2Fb/*/req":utf8>>)
}
