//// Aggregator exports in pure Gleam: the canonical little-endian byte form
//// of `Aggregator::export` in `native/core/src/aggregate.rs`, written in
//// the same sorted order (so equal aggregators give equal bytes whichever
//// engine holds them), and read back with the same checks and the same
//// reasons for refusing bytes that are not an export.
////
//// Format version 2 ends with a checksum: the XXH3-64 (seed 0,
//// little-endian) of every byte before it, checked before anything is read
//// (a damaged export is refused, never read into other numbers). A shard's
//// snapshot (its base, written by a save; `read_snapshot`) wraps an export
//// with the shard's own bytes, under a checksum of its own
//// (native/core/src/snapshot.rs).
////
//// A snapshot may have a log beside it: deltas appended since the base
//// (native/core/src/aggregate/delta.rs), by this engine or a Rust one.
//// `read_snapshot_log` reads the base and then each whole delta, as
//// `snapshot::load_from` does, and leaves the state tracking the files.
//// `plan_save` says what a save writes, as `snapshot::save` decides it: a
//// delta of what changed since the state was last saved to (or loaded
//// from) the same files, or a new base (and its log started afresh) when
//// it was not, or when base and log together would exceed twice the
//// state's size. The caller writes it and reports it done (`saved`,
//// `log_started`).

import tally/engine
import tally/event
import tally/pure/aggregate as agg
import tally/pure/bytes
import tally/pure/chain
import tally/pure/map
import tally/usage

const magic = <<"TALLYAG":utf8, 0>>

const format_version = 2

const snapshot_magic = <<"TALLYSN":utf8, 0>>

const snapshot_version = 1

const log_magic = <<"TALLYSL":utf8, 0>>

const log_version = 1

// Writing ------------------------------------------------------------------

/// The whole state as canonical bytes, ending with their checksum.
pub fn export(state: agg.State) -> BitArray {
  let #(body, _) = numbered_export(state)
  with_checksum(body)
}

fn with_checksum(b: BitArray) -> BitArray {
  concat([b, word(hash64(b), 8)])
}

// A shard's snapshot (a base): an export and the shard's `extra` bytes.
fn snapshot_of(export: BitArray, extra: BitArray) -> BitArray {
  with_checksum(
    concat([
      snapshot_magic,
      word(snapshot_version, 4),
      word(bytes.size(extra), 8),
      extra,
      export,
    ]),
  )
}

/// Reads a snapshot's base back (either engine's): the state and the extra
/// bytes, refusing a damaged one with the Rust engine's reasons.
pub fn read_snapshot(
  b: BitArray,
) -> Result(#(agg.State, BitArray), engine.AggregateError) {
  let size = bytes.size(b)
  use <- chain.guard(size < 28, engine.BadExport("snapshot truncated"))
  use <- chain.guard(
    bytes.slice(b, 0, 8) != snapshot_magic,
    engine.BadExport("not a snapshot: wrong magic bytes"),
  )
  use covered <- chain.then(checked(b, "snapshot checksum mismatch"))
  use <- chain.guard(
    read_le(b, 8, 4, False) != Ok(snapshot_version),
    engine.BadExport("unsupported snapshot version"),
  )
  let extra_len = case read_le(b, 12, 8, False) {
    Ok(n) -> n
    Error(Nil) -> size
  }
  use <- chain.guard(
    extra_len > size - 8 - 20,
    engine.BadExport("snapshot extra longer than the file"),
  )
  let export_at = 20 + extra_len
  use state <- chain.then(
    restore(bytes.slice(covered, export_at, bytes.size(covered) - export_at)),
  )
  Ok(#(state, bytes.slice(covered, 20, extra_len)))
}

// The header of the log of the base whose checksum is `base_sum`: a log
// holding only this names the base and adds nothing to it.
fn header_naming(base_sum: Int) -> BitArray {
  concat([log_magic, word(log_version, 4), word(base_sum, 8)])
}

const log_header_bytes = 20

fn base_sum(base: BitArray) -> Int {
  case read_le(base, bytes.size(base) - 8, 8, False) {
    Ok(sum) -> sum
    Error(Nil) -> -1
  }
}

/// Reads a snapshot's base and its log (when there is one): the state
/// after the last whole delta, and that delta's extra (or the base's). The
/// log ends at the first delta that is cut off or fails its checksum (a
/// crash's torn write); a log naming another base is stale and ignored; a
/// damaged log header is refused. The state tracks the files at `target`
/// (the base's path): its next save there appends a delta after the last
/// whole one.
pub fn read_snapshot_log(
  base: BitArray,
  log: Result(BitArray, Nil),
  target: String,
) -> Result(#(agg.State, BitArray), engine.AggregateError) {
  use #(state, extra) <- chain.then(read_snapshot(base))
  let series = map.keys(state.series)
  let keys = number_keys(series, 0, map.new())
  let read = case log {
    Error(Nil) -> Ok(Loaded(state, extra, keys, 0))
    Ok(l) -> {
      use <- chain.guard(
        bytes.size(l) < log_header_bytes
          || bytes.slice(l, 0, 8) != log_magic
          || read_le(l, 8, 4, False) != Ok(log_version),
        engine.BadExport("snapshot log damaged"),
      )
      case read_le(l, 12, 8, False) == Ok(base_sum(base)) {
        // stale: the next delta starts the log afresh
        False -> Ok(Loaded(state, extra, keys, 0))
        True -> read_frames(l, log_header_bytes, Loaded(state, extra, keys, 0))
      }
    }
  }
  use Loaded(state, extra, keys, log_len) <- chain.then(read)
  let numbers =
    map.fold(keys, map.new(), fn(numbers, n, key) { map.put(numbers, key, n) })
  let files =
    agg.Files(
      target: target,
      base_sum: base_sum(base),
      base_len: bytes.size(base),
      log_len: log_len,
      numbers: numbers,
      series_bytes: series_bytes(state.series),
    )
  Ok(#(agg.track(state, files), extra))
}

// What the files read so far give: the state, the last extra, the
// series by number in the files, and the bytes of the log read.
type Loaded {
  Loaded(
    state: agg.State,
    extra: BitArray,
    keys: map.Map(Int, agg.SeriesKey),
    log_len: Int,
  )
}

fn number_keys(
  series: List(agg.SeriesKey),
  n: Int,
  keys: map.Map(Int, agg.SeriesKey),
) -> map.Map(Int, agg.SeriesKey) {
  case series {
    [] -> keys
    [key, ..rest] -> number_keys(rest, n + 1, map.put(keys, n, key))
  }
}

fn read_frames(
  l: BitArray,
  at: Int,
  read: Loaded,
) -> Result(Loaded, engine.AggregateError) {
  let left = bytes.size(l) - at
  let len = case left < 16 {
    True -> -1
    False ->
      case read_le(l, at, 8, False) {
        Ok(n) -> n
        Error(Nil) -> -1
      }
  }
  let whole = len >= 0 && len <= left - 16
  let sum_ok =
    whole
    && read_le(l, at + 8 + len, 8, False)
    == Ok(hash64(bytes.slice(l, at, 8 + len)))
  case sum_ok {
    False -> Ok(Loaded(..read, log_len: at))
    True -> {
      use #(#(state, keys), extra) <- chain.then(apply_delta(
        bytes.slice(l, at + 8, len),
        read.state,
        read.keys,
      ))
      read_frames(l, at + 16 + len, Loaded(state, extra, keys, at + 16 + len))
    }
  }
}

// One delta's body over `state` (see delta.rs for the layout): the values
// it holds replace those held.
fn apply_delta(
  body: BitArray,
  state: agg.State,
  keys: map.Map(Int, agg.SeriesKey),
) -> Result(
  #(#(agg.State, map.Map(Int, agg.SeriesKey)), BitArray),
  engine.AggregateError,
) {
  // the series numbered so far: the base's and every delta's
  let next = map.size(keys)
  let r = Reader(body, 0)
  use #(n, r) <- chain.then(u64(r))
  use #(extra, r) <- chain.then(take(r, n))
  use #(applied, r) <- chain.then(u64(r))
  use #(duplicates, r) <- chain.then(u64(r))
  use #(late_count, r) <- chain.then(u64(r))
  use #(k, r) <- chain.then(count(r, 8))
  use #(closed, r) <- chain.then(times(r, k, i64, []))
  use #(k, r) <- chain.then(count(r, 36))
  use #(late, r) <- chain.then(times(r, k, read_event, []))
  use #(k, r) <- chain.then(count(r, 12))
  use #(#(state, keys), r) <- chain.then(read_series(
    r,
    next + k,
    state,
    keys,
    next,
  ))
  use #(k, r) <- chain.then(count(r, 61))
  use #(state, r) <- chain.then(read_windows(r, k, keys, state, True))
  use #(k, r) <- chain.then(count(r, 16))
  use #(state, r) <- chain.then(read_groups(r, k, keys, state, True))
  use #(k, r) <- chain.then(count(r, 16))
  use #(state, r) <- chain.then(read_groups(r, k, keys, state, False))
  use #(k, r) <- chain.then(count(r, 12))
  use #(state, r) <- chain.then(read_seen(r, k, state))
  use <- chain.guard(
    r.pos != bytes.size(body),
    engine.BadExport("trailing bytes"),
  )
  let state =
    agg.State(
      ..state,
      applied: applied,
      duplicates: duplicates,
      late_count: late_count,
      closed: put_keys(closed, map.new()),
      seen: drop_keys(closed, state.seen),
      late: bytes.reverse(late),
    )
  Ok(#(#(state, keys), extra))
}

fn drop_keys(keys: List(k), from: map.Map(k, v)) -> map.Map(k, v) {
  case keys {
    [] -> from
    [k, ..rest] -> drop_keys(rest, map.delete(from, k))
  }
}

// A delta's groups of rate intervals (`rate`) or gauge samples: each
// value replaces the one held.
fn read_groups(
  r: Reader,
  n: Int,
  keys: map.Map(Int, agg.SeriesKey),
  state: agg.State,
  rate: Bool,
) -> Read(agg.State) {
  case n {
    0 -> Ok(#(state, r))
    _ -> {
      use #(#(c, res, m), r) <- chain.then(series_at(r, keys))
      use #(period, r) <- chain.then(i64(r))
      let key = #(c, res, m, period)
      let held = case map.get(state.periods, key) {
        Ok(ps) -> ps
        Error(Nil) -> agg.PeriodSeries(map.new(), map.new())
      }
      use #(ps, r) <- chain.then(case rate {
        True -> {
          use #(k, r) <- chain.then(count(r, 20))
          use #(pairs, r) <- chain.then(times(r, k, rate_pair, []))
          Ok(#(agg.PeriodSeries(..held, rate: map.put_all(pairs, held.rate)), r))
        }
        False -> {
          use #(k, r) <- chain.then(count(r, 16))
          use #(pairs, r) <- chain.then(times(r, k, sample_pair, []))
          Ok(#(
            agg.PeriodSeries(..held, samples: map.put_all(pairs, held.samples)),
            r,
          ))
        }
      })
      let periods = map.put(state.periods, key, ps)
      read_groups(r, n - 1, keys, agg.State(..state, periods: periods), rate)
    }
  }
}

// The bytes before the checksum trailer, if the trailer matches them.
fn checked(
  b: BitArray,
  reason: String,
) -> Result(BitArray, engine.AggregateError) {
  let body = bytes.size(b) - 8
  let covered = bytes.slice(b, 0, body)
  case read_le(b, body, 8, False) {
    Ok(sum) ->
      case sum == hash64(covered) {
        True -> Ok(covered)
        False -> Error(engine.BadExport(reason))
      }
    Error(Nil) -> Error(engine.BadExport(reason))
  }
}

@external(erlang, "tally_xxh3", "hash64")
fn hash64(b: BitArray) -> Int

// The export's bytes before its checksum, and each series' number in it.
fn numbered_export(
  state: agg.State,
) -> #(BitArray, map.Map(agg.SeriesKey, Int)) {
  let c = state.config
  let series = map.keys(state.series)
  let index = number_series(series, 0, map.new())
  let head = [
    magic,
    word(format_version, 4),
    word(window_code(c.window), 1),
    word(bool_code(c.dedup), 1),
    strs(c.rate_meters),
    strs(c.gauge_meters),
    strs(c.unique_meters),
    word(c.gauge_gap_cap_ms, 8),
    word(state.applied, 8),
    word(state.duplicates, 8),
    word(state.late_count, 8),
    word(bytes.length(series), 4),
    concat(series_texts(series, [])),
  ]
  let windows = map.sorted_pairs(state.windows)
  let periods = map.sorted_pairs(state.periods)
  let seen = map.sorted_pairs(state.seen)
  let body =
    concat([
      concat(head),
      word(bytes.length(windows), 4),
      concat(window_texts(windows, index, [])),
      word(bytes.length(periods), 4),
      concat(period_texts(periods, index, [])),
      word(bytes.length(seen), 4),
      concat(seen_texts(seen, [])),
      closed_and_late(state),
    ])
  #(body, index)
}

// The closed periods and the late events (sorted), as the export and
// every delta hold them: whole.
fn closed_and_late(state: agg.State) -> BitArray {
  let closed = map.sorted_pairs(state.closed)
  let late = bytes.sort(state.late)
  concat([
    word(bytes.length(closed), 4),
    concat(map_list(closed, fn(pair: #(Int, Bool)) { word(pair.0, 8) })),
    word(bytes.length(late), 4),
    concat(map_list(late, late_text)),
  ])
}

// Saving: a base and its log ------------------------------------------------

/// What a save writes (`plan_save`). `files`: the files as the state
/// tracks them once it is written (`saved`).
pub type Save {
  /// Append `frame` (a delta) to the log after its first `at` bytes,
  /// cutting off what follows them (a torn tail); first, when `header` is
  /// `Ok`, start the log afresh with it (`at` is then its size).
  AppendDelta(
    header: Result(BitArray, Nil),
    at: Int,
    frame: BitArray,
    files: agg.Files,
  )
  /// Replace the base with `base` (a shard's snapshot: `extra` and the
  /// export), then start the log afresh with `header`.
  WriteBase(base: BitArray, header: BitArray, files: agg.Files)
}

/// What saving `state` with `extra` to the files at `target` writes: a
/// delta when the state tracks these files (it was saved to or loaded
/// from them) and base and log with the delta stay within twice the
/// state's size; otherwise a new base.
pub fn plan_save(state: agg.State, target: String, extra: BitArray) -> Save {
  case state.track {
    Ok(t) ->
      case t.files.target == target {
        True -> {
          let #(frame, files) = delta(state, t, extra)
          let held = t.files.base_len + t.files.log_len
          case held + bytes.size(frame) <= 2 * live_bytes(state, t.files) {
            False -> new_base(state, target, extra)
            True ->
              case t.files.log_len < log_header_bytes {
                True ->
                  AppendDelta(
                    Ok(header_naming(t.files.base_sum)),
                    log_header_bytes,
                    frame,
                    agg.Files(
                      ..files,
                      log_len: log_header_bytes + bytes.size(frame),
                    ),
                  )
                False -> AppendDelta(Error(Nil), t.files.log_len, frame, files)
              }
          }
        }
        False -> new_base(state, target, extra)
      }
    Error(Nil) -> new_base(state, target, extra)
  }
}

fn new_base(state: agg.State, target: String, extra: BitArray) -> Save {
  let #(body, numbers) = numbered_export(state)
  let base = snapshot_of(with_checksum(body), extra)
  let files =
    agg.Files(
      target: target,
      base_sum: base_sum(base),
      base_len: bytes.size(base),
      log_len: log_header_bytes,
      numbers: numbers,
      series_bytes: series_bytes(state.series),
    )
  WriteBase(base, header_naming(files.base_sum), files)
}

/// The state once `save` is written (for a new base: `log` tells whether
/// its log was started; if not, the old log names the old base, is
/// ignored on load, and the next delta starts it first). Changes are
/// tracked afresh from there.
pub fn saved(state: agg.State, save: Save, log: Bool) -> agg.State {
  case save, log {
    AppendDelta(files: files, ..), _ -> agg.track(state, files)
    WriteBase(files: files, ..), True -> agg.track(state, files)
    WriteBase(files: files, ..), False ->
      agg.track(state, agg.Files(..files, log_len: 0))
  }
}

/// The state once a log was started afresh but its delta not appended:
/// its changes are all still to save, after the header.
pub fn log_started(state: agg.State) -> agg.State {
  case state.track {
    Ok(t) ->
      agg.State(
        ..state,
        track: Ok(
          agg.Tracking(
            ..t,
            files: agg.Files(..t.files, log_len: log_header_bytes),
          ),
        ),
      )
    Error(Nil) -> state
  }
}

// About the bytes an export of the state takes (snapshot.rs `live_bytes`,
// the same sizes): the files are compacted when they hold more than twice
// this.
fn live_bytes(state: agg.State, files: agg.Files) -> Int {
  let #(intervals, samples) =
    map.fold(
      state.periods,
      #(0, 0),
      fn(n: #(Int, Int), _, ps: agg.PeriodSeries) {
        #(n.0 + map.size(ps.rate), n.1 + map.size(ps.samples))
      },
    )
  let digests = map.fold(state.seen, 0, fn(n, _, d) { n + map.size(d) })
  // (bytes each, how many)
  weighted(
    [
      #(12, map.size(state.series)),
      #(61, map.size(state.windows)),
      #(20, map.size(state.periods)),
      #(20, intervals),
      #(16, samples),
      #(12, map.size(state.seen)),
      #(16, digests),
      #(8, map.size(state.closed)),
      #(60, bytes.length(state.late)),
    ],
    128 + files.series_bytes,
  )
}

fn weighted(counts: List(#(Int, Int)), total: Int) -> Int {
  case counts {
    [] -> total
    [#(size, n), ..rest] -> weighted(rest, total + size * n)
  }
}

fn series_bytes(series: map.Map(agg.SeriesKey, Bool)) -> Int {
  map.fold(series, 0, fn(n, key: agg.SeriesKey, _) {
    n + text_size(key.0) + text_size(key.1) + text_size(key.2)
  })
}

fn texts_size(series: List(agg.SeriesKey), n: Int) -> Int {
  case series {
    [] -> n
    [#(c, r, m), ..rest] ->
      texts_size(rest, n + text_size(c) + text_size(r) + text_size(m))
  }
}

@external(erlang, "erlang", "byte_size")
fn text_size(text: String) -> Int

// The delta of what changed since the last save (delta.rs has the
// layout), framed (its length first, the XXH3-64 of length and delta
// last), and the files once it is appended.
fn delta(
  state: agg.State,
  t: agg.Tracking,
  extra: BitArray,
) -> #(BitArray, agg.Files) {
  // new series are numbered on from the files' count, in the order added
  let new = bytes.reverse(t.series)
  let numbers = number_series(new, map.size(t.files.numbers), t.files.numbers)
  let windows = changed_windows(map.keys(t.windows), state.windows, [])
  let rate = map.sorted_pairs(t.rate)
  let samples = map.sorted_pairs(t.samples)
  let digests = open_digests(map.sorted_pairs(t.digests), state.seen, [])
  let body =
    concat([
      word(bytes.size(extra), 8),
      extra,
      word(state.applied, 8),
      word(state.duplicates, 8),
      word(state.late_count, 8),
      closed_and_late(state),
      word(bytes.length(new), 4),
      concat(series_texts(new, [])),
      word(bytes.length(windows), 4),
      concat(window_texts(windows, numbers, [])),
      word(bytes.length(rate), 4),
      concat(map_list(rate, fn(group) { rate_group(group, state, numbers) })),
      word(bytes.length(samples), 4),
      concat(
        map_list(samples, fn(group) { sample_group(group, state, numbers) }),
      ),
      word(bytes.length(digests), 4),
      concat(digests),
    ])
  let frame = with_checksum(concat([word(bytes.size(body), 8), body]))
  let files =
    agg.Files(
      ..t.files,
      log_len: t.files.log_len + bytes.size(frame),
      numbers: numbers,
      series_bytes: t.files.series_bytes + texts_size(new, 0),
    )
  #(frame, files)
}

// The windows changed, with their current statistics.
fn changed_windows(
  keys: List(agg.WindowKey),
  windows: map.Map(agg.WindowKey, agg.Stats),
  acc: List(#(agg.WindowKey, agg.Stats)),
) -> List(#(agg.WindowKey, agg.Stats)) {
  case keys {
    [] -> bytes.reverse(acc)
    [key, ..rest] ->
      case map.get(windows, key) {
        Ok(st) -> changed_windows(rest, windows, [#(key, st), ..acc])
        // a window is never dropped from a tracking state
        Error(Nil) -> changed_windows(rest, windows, acc)
      }
  }
}

fn held_period(state: agg.State, key: agg.PeriodKey) -> agg.PeriodSeries {
  case map.get(state.periods, key) {
    Ok(ps) -> ps
    Error(Nil) -> agg.PeriodSeries(map.new(), map.new())
  }
}

fn value_at(values: map.Map(Int, Int), key: Int) -> Int {
  case map.get(values, key) {
    Ok(v) -> v
    Error(Nil) -> 0
  }
}

// A period entry's intervals changed, with their current bytes.
fn rate_group(
  group: #(agg.PeriodKey, map.Map(Int, Bool)),
  state: agg.State,
  numbers: map.Map(agg.SeriesKey, Int),
) -> BitArray {
  let #(#(c, r, m, period) as key, changed) = group
  let rate = held_period(state, key).rate
  let intervals = map.keys(changed)
  concat([
    word(position(numbers, #(c, r, m)), 4),
    word(period, 8),
    word(bytes.length(intervals), 4),
    ..map_list(intervals, fn(i) {
      concat([word(i, 4), word(value_at(rate, i), 16)])
    })
  ])
}

// A period entry's gauge samples taken, with their current levels.
fn sample_group(
  group: #(agg.PeriodKey, map.Map(Int, Bool)),
  state: agg.State,
  numbers: map.Map(agg.SeriesKey, Int),
) -> BitArray {
  let #(#(c, r, m, period) as key, changed) = group
  let samples = held_period(state, key).samples
  let times = map.keys(changed)
  concat([
    word(position(numbers, #(c, r, m)), 4),
    word(period, 8),
    word(bytes.length(times), 4),
    ..map_list(times, fn(t) {
      concat([word(t, 8), word(value_at(samples, t), 8)])
    })
  ])
}

// The digests added to periods still open (a closed period's are dropped).
fn open_digests(
  added: List(#(Int, List(Int))),
  seen: map.Map(Int, map.Map(Int, Bool)),
  acc: List(BitArray),
) -> List(BitArray) {
  case added {
    [] -> bytes.reverse(acc)
    [#(period, digests), ..rest] ->
      case map.get(seen, period) {
        Error(Nil) -> open_digests(rest, seen, acc)
        Ok(_) -> {
          let text =
            concat([
              word(period, 8),
              word(bytes.length(digests), 4),
              ..map_list(digests, fn(d) { word(d, 16) })
            ])
          open_digests(rest, seen, [text, ..acc])
        }
      }
  }
}

fn window_code(window: usage.Window) -> Int {
  case window {
    usage.Hour -> 0
    usage.Day -> 1
    usage.Month -> 2
  }
}

fn bool_code(b: Bool) -> Int {
  case b {
    True -> 1
    False -> 0
  }
}

fn str(text: String) -> BitArray {
  let b = <<text:utf8>>
  concat([word(bytes.size(b), 4), b])
}

fn strs(list: List(String)) -> BitArray {
  concat([word(bytes.length(list), 4), ..map_list(list, str)])
}

// Series in key order; the windows and periods refer to them by position.
fn number_series(
  series: List(agg.SeriesKey),
  n: Int,
  index: map.Map(agg.SeriesKey, Int),
) -> map.Map(agg.SeriesKey, Int) {
  case series {
    [] -> index
    [key, ..rest] -> number_series(rest, n + 1, map.put(index, key, n))
  }
}

fn series_texts(
  series: List(agg.SeriesKey),
  acc: List(BitArray),
) -> List(BitArray) {
  case series {
    [] -> bytes.reverse(acc)
    [#(c, r, m), ..rest] -> series_texts(rest, [str(m), str(r), str(c), ..acc])
  }
}

fn position(index: map.Map(agg.SeriesKey, Int), key: agg.SeriesKey) -> Int {
  case map.get(index, key) {
    Ok(n) -> n
    // every window's and period's series is in `series` (see aggregate)
    Error(Nil) -> -1
  }
}

fn window_texts(
  windows: List(#(#(String, String, String, Int), agg.Stats)),
  index: map.Map(agg.SeriesKey, Int),
  acc: List(BitArray),
) -> List(BitArray) {
  case windows {
    [] -> bytes.reverse(acc)
    [#(#(c, r, m, start), st), ..rest] -> {
      let uniques = case st.uniques {
        Error(Nil) -> word(0, 1)
        Ok(u) -> {
          let values = map.sorted_pairs(u)
          concat([
            word(1, 1),
            word(bytes.length(values), 4),
            ..map_list(values, fn(pair: #(Int, Bool)) { word(pair.0, 8) })
          ])
        }
      }
      let text =
        concat([
          word(position(index, #(c, r, m)), 4),
          word(start, 8),
          word(st.sum, 16),
          word(st.count, 8),
          word(st.min, 8),
          word(st.max, 8),
          word(st.latest_time_ms, 8),
          word(st.latest_value, 8),
          uniques,
        ])
      window_texts(rest, index, [text, ..acc])
    }
  }
}

fn period_texts(
  periods: List(#(#(String, String, String, Int), agg.PeriodSeries)),
  index: map.Map(agg.SeriesKey, Int),
  acc: List(BitArray),
) -> List(BitArray) {
  case periods {
    [] -> bytes.reverse(acc)
    [#(#(c, r, m, period), ps), ..rest] -> {
      let rate = map.sorted_pairs(ps.rate)
      let samples = map.sorted_pairs(ps.samples)
      let text =
        concat([
          word(position(index, #(c, r, m)), 4),
          word(period, 8),
          word(bytes.length(rate), 4),
          concat(
            map_list(rate, fn(p: #(Int, Int)) {
              concat([word(p.0, 4), word(p.1, 16)])
            }),
          ),
          word(bytes.length(samples), 4),
          concat(
            map_list(samples, fn(p: #(Int, Int)) {
              concat([word(p.0, 8), word(p.1, 8)])
            }),
          ),
        ])
      period_texts(rest, index, [text, ..acc])
    }
  }
}

fn seen_texts(
  seen: List(#(Int, map.Map(Int, Bool))),
  acc: List(BitArray),
) -> List(BitArray) {
  case seen {
    [] -> bytes.reverse(acc)
    [#(period, digests), ..rest] -> {
      let ds = map.sorted_pairs(digests)
      let text =
        concat([
          word(period, 8),
          word(bytes.length(ds), 4),
          ..map_list(ds, fn(p: #(Int, Bool)) { word(p.0, 16) })
        ])
      seen_texts(rest, [text, ..acc])
    }
  }
}

fn late_text(e: event.UsageEvent) -> BitArray {
  concat([
    str(e.id),
    str(e.source),
    str(e.customer),
    str(e.resource),
    str(e.meter),
    word(e.value, 8),
    word(e.time_ms, 8),
  ])
}

fn map_list(list: List(a), f: fn(a) -> b) -> List(b) {
  map_list_acc(list, f, [])
}

fn map_list_acc(list: List(a), f: fn(a) -> b, acc: List(b)) -> List(b) {
  case list {
    [] -> bytes.reverse(acc)
    [x, ..rest] -> map_list_acc(rest, f, [f(x), ..acc])
  }
}

@external(erlang, "tally_pure_ffi", "le_word")
fn word(n: Int, size: Int) -> BitArray

@external(erlang, "tally_pure_ffi", "concat")
fn concat(parts: List(BitArray)) -> BitArray

// Reading ------------------------------------------------------------------

type Reader {
  Reader(bytes: BitArray, pos: Int)
}

type Read(a) =
  Result(#(a, Reader), engine.AggregateError)

fn bad(reason: String) -> Result(a, engine.AggregateError) {
  Error(engine.BadExport(reason))
}

fn read_word(r: Reader, size: Int, signed: Bool) -> Read(Int) {
  case read_le(r.bytes, r.pos, size, signed) {
    Ok(v) -> Ok(#(v, Reader(r.bytes, r.pos + size)))
    Error(Nil) -> bad("truncated")
  }
}

fn u8(r: Reader) -> Read(Int) {
  read_word(r, 1, False)
}

fn u32(r: Reader) -> Read(Int) {
  read_word(r, 4, False)
}

fn u64(r: Reader) -> Read(Int) {
  read_word(r, 8, False)
}

fn i64(r: Reader) -> Read(Int) {
  read_word(r, 8, True)
}

fn u128(r: Reader) -> Read(Int) {
  read_word(r, 16, False)
}

fn take(r: Reader, n: Int) -> Read(BitArray) {
  case r.pos + n <= bytes.size(r.bytes) {
    True -> Ok(#(bytes.slice(r.bytes, r.pos, n), Reader(r.bytes, r.pos + n)))
    False -> bad("truncated")
  }
}

/// A count of items that each take at least `min_size` bytes.
fn count(r: Reader, min_size: Int) -> Read(Int) {
  use #(n, r) <- chain.then(u32(r))
  case n * min_size > bytes.size(r.bytes) - r.pos {
    True -> bad("count larger than the data")
    False -> Ok(#(n, r))
  }
}

fn read_str(r: Reader) -> Read(String) {
  use #(n, r) <- chain.then(count(r, 1))
  use #(b, r) <- chain.then(take(r, n))
  case bytes.utf8_error_at(b) {
    -1 -> Ok(#(bytes.to_text(b), r))
    _ -> bad("text is not UTF-8")
  }
}

// `n` items read by `item`, in order.
fn times(
  r: Reader,
  n: Int,
  item: fn(Reader) -> Read(a),
  acc: List(a),
) -> Read(List(a)) {
  case n {
    0 -> Ok(#(bytes.reverse(acc), r))
    _ -> {
      use #(x, r) <- chain.then(item(r))
      times(r, n - 1, item, [x, ..acc])
    }
  }
}

fn read_strs(r: Reader) -> Read(List(String)) {
  use #(n, r) <- chain.then(count(r, 4))
  times(r, n, read_str, [])
}

/// Rebuilds an aggregation from `export`'s bytes (or the Rust engine's),
/// checking every length and reference.
pub fn restore(b: BitArray) -> Result(agg.State, engine.AggregateError) {
  let r = Reader(b, 0)
  use #(m, r) <- chain.then(take(r, 8))
  use <- chain.guard(m != magic, engine.BadExport("wrong magic bytes"))
  use #(version, r) <- chain.then(u32(r))
  use <- chain.guard(
    version != format_version,
    engine.BadExport("unsupported format version"),
  )
  use <- chain.guard(bytes.size(b) - 8 < 12, engine.BadExport("truncated"))
  use b <- chain.then(checked(b, "checksum mismatch"))
  let r = Reader(b, r.pos)
  use #(code, r) <- chain.then(u8(r))
  use window <- chain.then(case code {
    0 -> Ok(usage.Hour)
    1 -> Ok(usage.Day)
    2 -> Ok(usage.Month)
    _ -> bad("unknown window")
  })
  use #(dedup, r) <- chain.then(u8(r))
  use #(rate_meters, r) <- chain.then(read_strs(r))
  use #(gauge_meters, r) <- chain.then(read_strs(r))
  use #(unique_meters, r) <- chain.then(read_strs(r))
  use #(cap, r) <- chain.then(i64(r))
  let config =
    usage.AggregatorConfig(
      window: window,
      dedup: dedup != 0,
      rate_meters: rate_meters,
      gauge_meters: gauge_meters,
      unique_meters: unique_meters,
      gauge_gap_cap_ms: cap,
    )
  use #(applied, r) <- chain.then(u64(r))
  use #(duplicates, r) <- chain.then(u64(r))
  use #(late_count, r) <- chain.then(u64(r))
  let state =
    agg.State(
      ..agg.new(config),
      applied: applied,
      duplicates: duplicates,
      late_count: late_count,
    )
  use #(n, r) <- chain.then(count(r, 12))
  use #(#(state, keys), r) <- chain.then(read_series(r, n, state, map.new(), 0))
  use #(windows, r) <- chain.then(count(r, 61))
  use #(state, r) <- chain.then(read_windows(r, windows, keys, state, False))
  use #(periods, r) <- chain.then(count(r, 20))
  use #(state, r) <- chain.then(read_periods(r, periods, keys, state))
  use #(seen, r) <- chain.then(count(r, 12))
  use #(state, r) <- chain.then(read_seen(r, seen, state))
  use #(closed, r) <- chain.then(count(r, 8))
  use #(closed, r) <- chain.then(times(r, closed, i64, []))
  let state = agg.State(..state, closed: put_keys(closed, state.closed))
  use #(late, r) <- chain.then(count(r, 36))
  use #(late, r) <- chain.then(times(r, late, read_event, []))
  let state = agg.State(..state, late: bytes.reverse(late))
  case r.pos == bytes.size(b) {
    True -> Ok(state)
    False -> bad("trailing bytes")
  }
}

fn put_keys(keys: List(k), into: map.Map(k, Bool)) -> map.Map(k, Bool) {
  case keys {
    [] -> into
    [k, ..rest] -> put_keys(rest, map.put(into, k, True))
  }
}

fn read_series(
  r: Reader,
  n: Int,
  state: agg.State,
  keys: map.Map(Int, agg.SeriesKey),
  i: Int,
) -> Read(#(agg.State, map.Map(Int, agg.SeriesKey))) {
  case i == n {
    True -> Ok(#(#(state, keys), r))
    False -> {
      use #(c, r) <- chain.then(read_str(r))
      use #(res, r) <- chain.then(read_str(r))
      use #(m, r) <- chain.then(read_str(r))
      let key = #(c, res, m)
      case map.get(state.series, key) {
        Ok(_) -> bad("duplicate series")
        Error(Nil) ->
          read_series(
            r,
            n,
            agg.State(..state, series: map.put(state.series, key, True)),
            map.put(keys, i, key),
            i + 1,
          )
      }
    }
  }
}

fn series_at(
  r: Reader,
  keys: map.Map(Int, agg.SeriesKey),
) -> Read(agg.SeriesKey) {
  use #(s, r) <- chain.then(u32(r))
  case map.get(keys, s) {
    Ok(key) -> Ok(#(key, r))
    Error(Nil) -> bad("unknown series")
  }
}

// `replace`: a window held is replaced (a delta), else refused (an export).
fn read_windows(
  r: Reader,
  n: Int,
  keys: map.Map(Int, agg.SeriesKey),
  state: agg.State,
  replace: Bool,
) -> Read(agg.State) {
  case n {
    0 -> Ok(#(state, r))
    _ -> {
      use #(#(c, res, m), r) <- chain.then(series_at(r, keys))
      use #(start, r) <- chain.then(i64(r))
      use #(sum, r) <- chain.then(u128(r))
      use #(events, r) <- chain.then(u64(r))
      use #(min, r) <- chain.then(u64(r))
      use #(max, r) <- chain.then(u64(r))
      use #(latest_time, r) <- chain.then(i64(r))
      use #(latest_value, r) <- chain.then(u64(r))
      use #(flag, r) <- chain.then(u8(r))
      use #(uniques, r) <- chain.then(case flag {
        1 -> {
          use #(k, r) <- chain.then(count(r, 8))
          use #(values, r) <- chain.then(times(r, k, u64, []))
          Ok(#(Ok(put_keys(values, map.new())), r))
        }
        _ -> Ok(#(Error(Nil), r))
      })
      let key = #(c, res, m, start)
      case map.get(state.windows, key), replace {
        Ok(_), False -> bad("duplicate window")
        _, _ -> {
          let st =
            agg.Stats(sum, events, min, max, latest_time, latest_value, uniques)
          read_windows(
            r,
            n - 1,
            keys,
            agg.State(..state, windows: map.put(state.windows, key, st)),
            replace,
          )
        }
      }
    }
  }
}

fn read_periods(
  r: Reader,
  n: Int,
  keys: map.Map(Int, agg.SeriesKey),
  state: agg.State,
) -> Read(agg.State) {
  case n {
    0 -> Ok(#(state, r))
    _ -> {
      use #(#(c, res, m), r) <- chain.then(series_at(r, keys))
      use #(period, r) <- chain.then(i64(r))
      use #(k, r) <- chain.then(count(r, 20))
      use #(rate, r) <- chain.then(times(r, k, rate_pair, []))
      use #(k, r) <- chain.then(count(r, 16))
      use #(samples, r) <- chain.then(times(r, k, sample_pair, []))
      let ps =
        agg.PeriodSeries(
          map.put_all(rate, map.new()),
          map.put_all(samples, map.new()),
        )
      // a repeated key replaces the earlier, as the Rust engine's insert does
      let periods = map.put(state.periods, #(c, res, m, period), ps)
      read_periods(r, n - 1, keys, agg.State(..state, periods: periods))
    }
  }
}

fn rate_pair(r: Reader) -> Read(#(Int, Int)) {
  use #(i, r) <- chain.then(u32(r))
  use #(v, r) <- chain.then(u128(r))
  Ok(#(#(i, v), r))
}

fn sample_pair(r: Reader) -> Read(#(Int, Int)) {
  use #(t, r) <- chain.then(i64(r))
  use #(v, r) <- chain.then(u64(r))
  Ok(#(#(t, v), r))
}

fn read_seen(r: Reader, n: Int, state: agg.State) -> Read(agg.State) {
  case n {
    0 -> Ok(#(state, r))
    _ -> {
      use #(period, r) <- chain.then(i64(r))
      use #(k, r) <- chain.then(count(r, 16))
      use #(digests, r) <- chain.then(times(r, k, u128, []))
      let mine = case map.get(state.seen, period) {
        Ok(d) -> d
        Error(Nil) -> map.new()
      }
      let seen = map.put(state.seen, period, put_keys(digests, mine))
      read_seen(r, n - 1, agg.State(..state, seen: seen))
    }
  }
}

fn read_event(r: Reader) -> Read(event.UsageEvent) {
  use #(id, r) <- chain.then(read_str(r))
  use #(source, r) <- chain.then(read_str(r))
  use #(customer, r) <- chain.then(read_str(r))
  use #(resource, r) <- chain.then(read_str(r))
  use #(meter, r) <- chain.then(read_str(r))
  use #(value, r) <- chain.then(u64(r))
  use #(time_ms, r) <- chain.then(i64(r))
  Ok(#(
    event.UsageEvent(id, source, customer, resource, meter, value, time_ms),
    r,
  ))
}

@external(erlang, "tally_pure_ffi", "read_le")
fn read_le(b: BitArray, pos: Int, size: Int, signed: Bool) -> Result(Int, Nil)
