//// A shard's progress without a process: chunks applied once by
//// position, snapshots due by work done, positions saved and read back.

import tally/app/progress
import tally/app/source_pos
import tally/expect
import tally/option

fn file(source: String, inode: Int) -> source_pos.SourceFile {
  source_pos.SourceFile(source: source, file: source_pos.FileId(8, inode))
}

fn at(offset: Int) -> source_pos.Position {
  source_pos.Position(
    ..source_pos.start(0),
    offset: offset,
    line: offset / 10,
    fingerprint: source_pos.fingerprint(<<"first bytes":utf8>>),
  )
}

pub fn a_chunk_is_applied_once_test() {
  let edge = file("edge", 1)
  let p = progress.new([], snapshot_bytes: 100)
  expect.equal(
    progress.decide(p, edge, generation: 0, from: 0, to: at(40)),
    source_pos.Apply,
  )
  let p = progress.applied(p, edge, from: 0, to: at(40))
  expect.equal(progress.position(p, edge), option.Some(at(40)))
  // The same chunk again (a collector restarted): skipped.
  expect.equal(
    progress.decide(p, edge, generation: 0, from: 0, to: at(40)),
    source_pos.Skip,
  )
  expect.equal(
    progress.decide(p, edge, generation: 0, from: 40, to: at(80)),
    source_pos.Apply,
  )
  // Another file of the source, or the same inode of another source: new.
  expect.equal(
    progress.decide(p, file("edge", 2), generation: 0, from: 0, to: at(40)),
    source_pos.Apply,
  )
  expect.equal(
    progress.decide(p, file("s3", 1), generation: 0, from: 0, to: at(40)),
    source_pos.Apply,
  )
  expect.equal(progress.dirty(p), True)
  expect.equal(progress.dirty(progress.saved(p)), False)
}

pub fn snapshots_are_due_by_work_done_test() {
  let edge = file("edge", 1)
  // Feeds 10 bytes at a time, counting the snapshots taken when due.
  let run =
    fold(range(0, 99), #(progress.new([], snapshot_bytes: 30), []), fn(acc, i) {
      let #(p, taken) = acc
      let p = progress.applied(p, edge, from: i * 10, to: at(i * 10 + 10))
      case progress.snapshot_due(p) {
        True -> #(progress.saved(p), [i * 10 + 10, ..taken])
        False -> #(p, taken)
      }
    })
  // Every 30 bytes of input (each save writes only what changed).
  expect.equal(reverse(run.1), [
    30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330, 360, 390, 420, 450, 480,
    510, 540, 570, 600, 630, 660, 690, 720, 750, 780, 810, 840, 870, 900, 930,
    960, 990,
  ])
}

pub fn positions_are_saved_and_read_back_test() {
  let p =
    progress.new([], snapshot_bytes: 100)
    |> progress.applied(file("edge", 1), from: 0, to: at(40))
    |> progress.applied(
      file("ceph \"usage\"", 77),
      from: 0,
      to: source_pos.Position(..at(1000), generation: 3, done: True),
    )
  let extra = progress.encode(p, late_bytes: 123)
  let assert Ok(saved) = progress.decode(extra)
  expect.equal(saved.late_bytes, 123)
  expect.equal(saved.positions, progress.positions(p))
  let restored = progress.new(saved.positions, snapshot_bytes: 100)
  expect.equal(progress.positions(restored), progress.positions(p))
  expect.equal(progress.dirty(restored), False)
  // Not positions: refused with a reason, never a crash.
  expect.be_true(progress.decode(<<"{}":utf8>>) != Ok(saved), "empty object")
  expect.be_true(progress.decode(<<255, 0>>) != Ok(saved), "not UTF-8")
  expect.be_true(
    progress.decode(<<"{\"positions\":[{}],\"late_bytes\":0}":utf8>>)
      != Ok(saved),
    "an entry without fields",
  )
  expect.equal(
    progress.decode(<<"{\"positions\":[],\"late_bytes\":0}":utf8>>),
    Ok(progress.Saved([], 0)),
  )
}

fn range(from: Int, to: Int) -> List(Int) {
  case from > to {
    True -> []
    False -> [from, ..range(from + 1, to)]
  }
}

fn fold(list: List(a), acc: b, f: fn(b, a) -> b) -> b {
  case list {
    [] -> acc
    [x, ..rest] -> fold(rest, f(acc, x), f)
  }
}

@external(erlang, "lists", "reverse")
fn reverse(list: List(a)) -> List(a)
