//// The pure Gleam engine's snapshot saves: a base, then deltas of what
//// changed appended to its log, compacted by the Rust engines' rule, in
//// the Rust engines' format (read back by the pure reader and by the NIF,
//// and written in turns by both on the same files).

import tally/aggregate
import tally/app/files
import tally/backend
import tally/event
import tally/expect
import tally/usage

const oct1 = 1_790_812_800_000

const nov1 = 1_793_491_200_000

const quarter = 900_000

const plans = "{\"plans\": {\"std\": {\"currency\": \"EUR\", \"lines\": [{\"meter\": \"requests\", \"measure\": \"total\", \"included\": \"10\", \"pricing\": {\"model\": \"flat\", \"unit_price\": \"0.5\"}}]}}, \"customers\": {\"c0\": \"std\"}}"

// Event `i` of a generated stream: 7 customers, 3 resources, a counter,
// a rate and a gauge meter, a quarter of an hour apart from `from`.
fn event_at(i: Int, from: Int, tag: String) -> event.UsageEvent {
  event.UsageEvent(
    id: tag <> int_text(i),
    source: "/s",
    customer: "c" <> int_text(i % 7),
    resource: "r" <> int_text(i % 3),
    meter: case i % 3 {
      0 -> "requests"
      1 -> "bandwidth_out_bytes"
      _ -> "storage_bytes"
    },
    value: i * 977 % 5000 + 1,
    time_ms: from + i * quarter,
  )
}

fn events(from: Int, n: Int, tag: String) -> List(event.UsageEvent) {
  events_acc(from, n - 1, tag, [])
}

fn events_acc(
  from: Int,
  i: Int,
  tag: String,
  acc: List(event.UsageEvent),
) -> List(event.UsageEvent) {
  case i < 0 {
    True -> acc
    False -> events_acc(from, i - 1, tag, [event_at(i, from, tag), ..acc])
  }
}

fn new(on: backend.Backend) -> aggregate.Aggregator {
  let assert Ok(agg) = aggregate.new(on: on, config: usage.default_config())
  agg
}

fn add(agg: aggregate.Aggregator, events: List(event.UsageEvent)) -> Nil {
  let assert Ok(_) = aggregate.add_events(agg, events)
  Nil
}

fn save(agg: aggregate.Aggregator, path: String, extra: String) -> Int {
  let assert Ok(written) =
    aggregate.save(agg, path: path, extra: <<extra:utf8>>)
  written
}

// The export and extra each engine loads from the files at `path`: the
// pure reader's and the Rust reader's (through the NIF) must both be
// `want` and `extra`.
fn loads_to(path: String, want: BitArray, extra: String) -> Nil {
  expect_loaded(backend.Gleam, path, want, extra)
  expect_loaded(backend.Nif, path, want, extra)
}

fn expect_loaded(
  on: backend.Backend,
  path: String,
  want: BitArray,
  extra: String,
) -> Nil {
  let assert Ok(usage.Loaded(copy, got)) = aggregate.load(on: on, path: path)
  expect.equal(#(aggregate.export(copy), got), #(Ok(want), <<extra:utf8>>))
}

fn export(agg: aggregate.Aggregator) -> BitArray {
  let assert Ok(bytes) = aggregate.export(agg)
  bytes
}

fn read(path: String) -> BitArray {
  let assert Ok(bytes) = read_file(path)
  bytes
}

pub fn a_save_after_a_few_changes_appends_a_small_delta_test() {
  let path = temporary_path("delta.snap")
  let log = path <> ".log"
  let agg = new(backend.Gleam)
  add(agg, events(oct1, 2000, "a"))
  let first = save(agg, path, "p1")
  let base = read(path)
  expect.equal(first, byte_size(base) + 20)
  expect.equal(byte_size(read(log)), 20)
  // A counter, a rate interval, a gauge sample, a new series: 4 events.
  add(agg, [
    event_at(3, oct1 + 60_000, "b"),
    event_at(4, oct1 + 60_000, "b"),
    event_at(5, oct1 + 60_000, "b"),
    event.UsageEvent(..event_at(6, oct1, "b"), customer: "new"),
  ])
  let second = save(agg, path, "p2")
  // The delta holds 4 windows, 1 interval, 1 sample, 4 digests, 1 series
  // and the extra: a few hundred bytes where the state takes about 150 kB.
  expect.equal(second < 1000, True)
  expect.equal(byte_size(base) > 100_000, True)
  expect.equal(read(path), base)
  expect.equal(byte_size(read(log)), 20 + second)
  loads_to(path, export(agg), "p2")
  // A closed period, a late event, duplicates and the next month: the
  // delta carries the closed periods, late events and counters whole.
  let assert Ok(_) =
    aggregate.close_period(agg, period: "2026-10", plans: plans, version: 1)
  add(agg, [
    event_at(7, oct1, "late"),
    event_at(8, nov1, "n"),
    event_at(8, nov1, "n"),
    event_at(9, nov1, "n"),
  ])
  let third = save(agg, path, "p3")
  expect.equal(third < 1000, True)
  expect.equal(read(path), base)
  expect.equal(byte_size(read(log)), 20 + second + third)
  loads_to(path, export(agg), "p3")
  remove([path, log])
}

pub fn a_torn_last_delta_is_cut_test() {
  let path = temporary_path("torn.snap")
  let log = path <> ".log"
  let agg = new(backend.Gleam)
  add(agg, events(oct1, 600, "a"))
  let _ = save(agg, path, "p1")
  add(agg, events(oct1 + 7 * quarter, 5, "b"))
  let second = save(agg, path, "p2")
  let after_second = export(agg)
  add(agg, events(oct1 + 11 * quarter, 5, "c"))
  let third = save(agg, path, "p3")
  let whole = byte_size(read(log))
  expect.equal(whole, 20 + second + third)
  // Zeros after the last whole delta (a crash's tail) are no delta.
  let assert Ok(Nil) = files.append_durably(log, <<0:size(64), 0:size(64)>>)
  loads_to(path, export(agg), "p3")
  // The last delta cut anywhere: the state of the save before it.
  let at = 20 + second
  let _ =
    [third - 1, third - 8, third - 9, third - 17, 1]
    |> each(fn(cut) {
      let assert Ok(Nil) = files.truncate_at(log, at + cut)
      loads_to(path, after_second, "p2")
    })
  // Loaded from the torn files, the next save appends where the whole
  // deltas end.
  let assert Ok(usage.Loaded(copy, _)) =
    aggregate.load(on: backend.Gleam, path: path)
  add(copy, events(oct1 + 13 * quarter, 5, "d"))
  let fourth = save(copy, path, "p4")
  expect.equal(byte_size(read(log)), at + fourth)
  loads_to(path, export(copy), "p4")
  remove([path, log])
}

// A crash may cut the log after any byte of a delta being appended: for
// every length the log can be cut to, both engines load the last save
// whose delta is whole, with its extra.
pub fn a_log_cut_after_any_byte_loads_the_last_whole_save_test() {
  let path = temporary_path("cut.snap")
  let log = path <> ".log"
  let agg = new(backend.Gleam)
  add(agg, events(oct1, 20, "a"))
  let _ = save(agg, path, "s0")
  // (log length, export, extra) after each save, the latest first
  let saves =
    range(1, 3)
    |> fold([#(20, export(agg), "s0")], fn(saves, i) {
      let assert [#(end, _, _), ..] = saves
      add(agg, events(oct1 + i * quarter, 2, "d" <> int_text(i)))
      let extra = "s" <> int_text(i)
      let written = save(agg, path, extra)
      [#(end + written, export(agg), extra), ..saves]
    })
  let whole = read(log)
  expect.equal(byte_size(whole), first_end(saves))
  expect.equal(read(path) != <<>>, True)
  range(20, byte_size(whole))
  |> each(fn(cut) {
    let _ = write_file(log, slice(whole, 0, cut))
    let #(_, want, extra) = last_whole(saves, cut)
    loads_to(path, want, extra)
  })
  remove([path, log])
}

fn first_end(saves: List(#(Int, BitArray, String))) -> Int {
  let assert [#(end, _, _), ..] = saves
  end
}

// The latest save whose log ends within `cut` bytes.
fn last_whole(
  saves: List(#(Int, BitArray, String)),
  cut: Int,
) -> #(Int, BitArray, String) {
  let assert [#(end, _, _) as save, ..rest] = saves
  case end <= cut {
    True -> save
    False -> last_whole(rest, cut)
  }
}

// The same events and saves on the NIF and on the pure engine: each save
// writes a base or a delta, the same number of bytes, on both (so the pure
// engine compacts by the Rust rule: when base and log would exceed twice
// the state's size), and both files load to the state saved.
pub fn compaction_follows_the_rust_rule_test() {
  let gleam_path = temporary_path("rule-gleam.snap")
  let nif_path = temporary_path("rule-nif.snap")
  let pure = new(backend.Gleam)
  let rust = new(backend.Nif)
  let start = events(oct1, 40, "a")
  add(pure, start)
  add(rust, start)
  let steps =
    range(1, 12)
    |> map_list(fn(step) {
      // Every series again, in windows already counted: the state grows
      // little, each delta rewrites the same windows.
      let more = events(oct1 + step * 60_000, 40, "s" <> int_text(step))
      add(pure, more)
      add(rust, more)
      let pure_base = read_or_empty(gleam_path)
      let rust_base = read_or_empty(nif_path)
      let written = save(pure, gleam_path, "step")
      expect.equal(save(rust, nif_path, "step"), written)
      let rewrote = read(gleam_path) != pure_base
      expect.equal(read(nif_path) != rust_base, rewrote)
      expect.equal(
        byte_size(read(gleam_path <> ".log")),
        byte_size(read(nif_path <> ".log")),
      )
      loads_to(gleam_path, export(pure), "step")
      expect.equal(export(rust), export(pure))
      rewrote
    })
  // The first save and some later ones wrote a base; the others a delta.
  let bases = filter_true(steps)
  expect.equal(bases > 1 && bases < 12, True)
  remove([gleam_path, gleam_path <> ".log", nif_path, nif_path <> ".log"])
}

// Saves by the NIF and by the pure engine in turns, on the same files:
// each engine appends to the other's log and loads what the other saved.
pub fn engines_save_to_each_others_files_test() {
  let path = temporary_path("turns.snap")
  let log = path <> ".log"
  let nif_first = new(backend.Nif)
  add(nif_first, events(oct1, 800, "a"))
  let _ = save(nif_first, path, "n1")
  let base = read(path)
  add(nif_first, events(oct1 + quarter, 5, "b"))
  let _ = save(nif_first, path, "n2")
  turns(path, [backend.Gleam, backend.Nif, backend.Gleam], 0)
  expect.equal(read(path), base)
  remove([path, log])
  // And the other way round.
  let gleam_first = new(backend.Gleam)
  add(gleam_first, events(oct1, 800, "a"))
  let _ = save(gleam_first, path, "g1")
  let base = read(path)
  add(gleam_first, events(oct1 + quarter, 5, "b"))
  let _ = save(gleam_first, path, "g2")
  turns(path, [backend.Nif, backend.Gleam, backend.Nif], 0)
  expect.equal(read(path), base)
  remove([path, log])
}

// Each engine in turn loads the files, counts a few more events, saves a
// delta to them, and both engines load what it saved.
fn turns(path: String, engines: List(backend.Backend), n: Int) -> Nil {
  case engines {
    [] -> Nil
    [on, ..rest] -> {
      let log_before = byte_size(read(path <> ".log"))
      let assert Ok(usage.Loaded(agg, _)) = aggregate.load(on: on, path: path)
      add(agg, [
        event_at(n, oct1 + 120_000, "t" <> int_text(n)),
        event_at(n + 1, oct1 + 120_000, "t" <> int_text(n)),
        event_at(n + 2, nov1, "t" <> int_text(n)),
        event.UsageEvent(
          ..event_at(n, oct1, "t"),
          customer: "turn" <> int_text(n),
        ),
      ])
      let extra = "turn" <> int_text(n)
      let written = save(agg, path, extra)
      expect.equal(byte_size(read(path <> ".log")), log_before + written)
      loads_to(path, export(agg), extra)
      turns(path, rest, n + 1)
    }
  }
}

// Helpers ------------------------------------------------------------------

fn read_or_empty(path: String) -> BitArray {
  case files.exists(path) {
    True -> read(path)
    False -> <<>>
  }
}

fn filter_true(list: List(Bool)) -> Int {
  case list {
    [] -> 0
    [True, ..rest] -> 1 + filter_true(rest)
    [False, ..rest] -> filter_true(rest)
  }
}

fn range(from: Int, to: Int) -> List(Int) {
  case from > to {
    True -> []
    False -> [from, ..range(from + 1, to)]
  }
}

fn map_list(list: List(a), f: fn(a) -> b) -> List(b) {
  case list {
    [] -> []
    [x, ..rest] -> [f(x), ..map_list(rest, f)]
  }
}

fn fold(list: List(a), acc: b, f: fn(b, a) -> b) -> b {
  case list {
    [] -> acc
    [x, ..rest] -> fold(rest, f(acc, x), f)
  }
}

fn each(list: List(a), f: fn(a) -> Nil) -> Nil {
  case list {
    [] -> Nil
    [x, ..rest] -> {
      f(x)
      each(rest, f)
    }
  }
}

fn remove(paths: List(String)) -> Nil {
  each(paths, fn(p) {
    let _ = files.delete(p)
    Nil
  })
}

// A path no other test (or VM) uses: /tmp is always there.
fn temporary_path(name: String) -> String {
  "/tmp/tally-"
  <> int_text(system_time())
  <> "-"
  <> int_text(unique_integer())
  <> "-"
  <> name
}

@external(erlang, "erlang", "system_time")
fn system_time() -> Int

@external(erlang, "erlang", "unique_integer")
fn unique_integer() -> Int

@external(erlang, "erlang", "integer_to_binary")
fn int_text(n: Int) -> String

@external(erlang, "erlang", "byte_size")
fn byte_size(bytes: BitArray) -> Int

@external(erlang, "file", "read_file")
fn read_file(path: String) -> Result(BitArray, Nil)

type Ignored

@external(erlang, "file", "write_file")
fn write_file(path: String, bytes: BitArray) -> Ignored

@external(erlang, "binary", "part")
fn slice(bytes: BitArray, at: Int, length: Int) -> BitArray

// A log torn by one engine's crash, loaded and saved on by the other: the
// save appends where the whole deltas end, and both engines load it.
pub fn a_log_torn_by_one_engine_is_saved_on_by_the_other_test() {
  [#(backend.Gleam, backend.Nif), #(backend.Nif, backend.Gleam)]
  |> each(fn(pair) {
    let #(writer, next) = pair
    let path = temporary_path("cross-torn.snap")
    let log = path <> ".log"
    let agg = new(writer)
    add(agg, events(oct1, 300, "a"))
    let _ = save(agg, path, "w1")
    add(agg, events(oct1 + 5 * quarter, 4, "b"))
    let second = save(agg, path, "w2")
    let after_second = export(agg)
    add(agg, events(oct1 + 9 * quarter, 4, "c"))
    let third = save(agg, path, "w3")
    let at = 20 + second
    let assert Ok(Nil) = files.truncate_at(log, at + third / 2)
    loads_to(path, after_second, "w2")
    let assert Ok(usage.Loaded(copy, _)) = aggregate.load(on: next, path: path)
    add(copy, events(oct1 + 13 * quarter, 4, "d"))
    let fourth = save(copy, path, "n4")
    expect.equal(byte_size(read(log)), at + fourth)
    loads_to(path, export(copy), "n4")
    remove([path, log])
  })
}
