//// The rules of positions alone: what a shard does with a chunk, and where
//// a collector resumes a file from the shards' records.

import tally/app/source_pos
import tally/expect
import tally/option

fn at(generation: Int, offset: Int) -> source_pos.Position {
  source_pos.Position(..source_pos.start(generation), offset: offset)
}

pub fn decide_test() {
  let decide = fn(current, generation, from, to) {
    source_pos.decide(current, generation: generation, from: from, to: to)
  }
  expect.equal(decide(option.None, 0, 0, at(0, 10)), source_pos.Apply)
  // Where the shard stands: applied.
  expect.equal(
    decide(option.Some(at(0, 10)), 0, 10, at(0, 20)),
    source_pos.Apply,
  )
  // Already had: skipped, whether it ends at the shard's position or before.
  expect.equal(
    decide(option.Some(at(0, 20)), 0, 10, at(0, 20)),
    source_pos.Skip,
  )
  expect.equal(decide(option.Some(at(0, 20)), 0, 0, at(0, 10)), source_pos.Skip)
  // Straddling the shard's position: refused, nothing applied twice.
  expect.equal(
    decide(option.Some(at(0, 20)), 0, 10, at(0, 30)),
    source_pos.NotAtPosition(from: 10, at: 20),
  )
  // A gap: refused too.
  expect.equal(
    decide(option.Some(at(0, 20)), 0, 25, at(0, 30)),
    source_pos.NotAtPosition(from: 25, at: 20),
  )
  // A newer generation starts over; an older one is past.
  expect.equal(decide(option.Some(at(0, 20)), 1, 0, at(1, 5)), source_pos.Apply)
  expect.equal(decide(option.Some(at(2, 0)), 1, 0, at(1, 5)), source_pos.Skip)
  // A position-only step at the shard's offset (a rotated file finished).
  expect.equal(
    decide(
      option.Some(at(0, 20)),
      0,
      20,
      source_pos.Position(..at(0, 20), done: True),
    ),
    source_pos.Apply,
  )
}

pub fn resume_test() {
  let yes = fn(_) { True }
  // The lowest position, and a cut wherever another shard stopped.
  expect.equal(
    source_pos.resume(
      [option.Some(at(0, 30)), option.Some(at(0, 10)), option.Some(at(0, 30))],
      yes,
    ),
    #(at(0, 10), [30]),
  )
  // A shard without a record starts from the beginning.
  expect.equal(
    source_pos.resume(
      [option.Some(at(0, 30)), option.None, option.Some(at(0, 10))],
      yes,
    ),
    #(at(0, 0), [10, 30]),
  )
  // An older generation counts as nothing of the newest.
  expect.equal(
    source_pos.resume([option.Some(at(1, 7)), option.Some(at(0, 90))], yes),
    #(at(1, 0), [7]),
  )
  // A changed fingerprint: a new generation from the start, no cuts.
  expect.equal(
    source_pos.resume([option.Some(at(1, 7))], fn(_) { False }),
    #(at(2, 0), []),
  )
  // Nothing known: the start.
  expect.equal(
    source_pos.resume([option.None, option.None], yes),
    #(at(0, 0), []),
  )
}

pub fn resume_checks_the_furthest_fingerprint_test() {
  let short = source_pos.fingerprint(<<"ab":utf8>>)
  let long = source_pos.fingerprint(<<"abcd":utf8>>)
  let records = [
    option.Some(source_pos.Position(..at(0, 2), fingerprint: short)),
    option.Some(source_pos.Position(..at(0, 4), fingerprint: long)),
  ]
  // Only the longest fingerprint (the furthest record's) is checked.
  let #(from, cuts) = source_pos.resume(records, fn(fp) { fp == long })
  expect.equal(#(from.offset, cuts), #(2, [4]))
  let #(rewritten, _) = source_pos.resume(records, fn(fp) { fp == short })
  expect.equal(rewritten, at(1, 0))
}

pub fn the_fingerprint_grows_with_what_was_read_test() {
  let empty = source_pos.fingerprint(<<>>)
  expect.equal(empty.length, 0)
  expect.equal(source_pos.fingerprint_due(empty, offset: 0), Error(Nil))
  expect.equal(source_pos.fingerprint_due(empty, offset: 100), Ok(100))
  let hundred = source_pos.fingerprint(<<0:size(800)>>)
  expect.equal(source_pos.fingerprint_due(hundred, offset: 100), Error(Nil))
  // Capped: a long file is known by its first 1024 bytes.
  expect.equal(source_pos.fingerprint_due(hundred, offset: 5000), Ok(1024))
  let full = source_pos.fingerprint(<<0:size(8192)>>)
  expect.equal(source_pos.fingerprint_due(full, offset: 9000), Error(Nil))
  // Different first bytes, different fingerprints.
  expect.be_true(
    source_pos.fingerprint(<<"a":utf8>>) != source_pos.fingerprint(<<"b":utf8>>),
    "fingerprints differ",
  )
}

pub fn chunks_cut_where_a_shard_stopped_test() {
  expect.equal(source_pos.next_cut([], offset: 0, size: 100), #(100, False))
  expect.equal(source_pos.next_cut([30, 60], offset: 10, size: 100), #(30, True))
  expect.equal(source_pos.next_cut([30, 60], offset: 30, size: 100), #(60, True))
  // A cut past the end of what the file holds now: read what there is.
  expect.equal(source_pos.next_cut([30, 160], offset: 30, size: 100), #(
    100,
    False,
  ))
}
