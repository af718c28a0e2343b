//// Aggregation in pure Gleam: the twin of `native/core/src/aggregate.rs`.
//// Per (customer, resource, meter) and tumbling UTC window: sum, count,
//// min, max, latest and, for unique meters, distinct values; each (source,
//// id) counts once per calendar month (kept as the same 128-bit XXH3
//// digests as the Rust engine, so exports agree byte for byte); rate meters
//// keep bytes per 5-minute interval and gauge meters their samples, per
//// period, for billing; a closed period's later events are kept aside as
//// late; aggregators of disjoint events merge. Exports are in
//// `tally/pure/export`.
////
//// Once a state was saved to snapshot files (or loaded from them), it
//// remembers what changed since (`Tracking`: the windows, 5-minute
//// intervals and gauge samples touched, the dedup digests added, the new
//// series), so that its next save can append only that as a delta
//// (`tally/pure/export`'s `plan_save`), as the Rust engines do.

import tally/engine
import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/chain
import tally/pure/map
import tally/pure/plans
import tally/pure/rfc3339
import tally/usage

const hour_ms = 3_600_000

const day_ms = 86_400_000

/// Length of a rate sample: five minutes.
pub const rate_interval_ms = 300_000

/// The statistics of one window (see `usage.WindowAggregate`).
pub type Stats {
  Stats(
    sum: Int,
    count: Int,
    min: Int,
    max: Int,
    latest_time_ms: Int,
    latest_value: Int,
    uniques: Result(map.Map(Int, Bool), Nil),
  )
}

/// What billing needs of one series in one period: bytes per 5-minute
/// interval (by interval index) and gauge samples (time -> level).
pub type PeriodSeries {
  PeriodSeries(rate: map.Map(Int, Int), samples: map.Map(Int, Int))
}

/// A (customer, resource, meter).
pub type SeriesKey =
  #(String, String, String)

/// A window's key: (customer, resource, meter, window start).
pub type WindowKey =
  #(String, String, String, Int)

/// A period entry's key: (customer, resource, meter, period start).
pub type PeriodKey =
  #(String, String, String, Int)

/// The snapshot files a state was last saved to or loaded from, as its
/// next save needs them (native/core/src/aggregate/delta.rs `Tracking`).
pub type Files {
  Files(
    /// The base's path (the log is beside it).
    target: String,
    /// XXH3-64 of the base (its last 8 bytes), which the log's header names.
    base_sum: Int,
    base_len: Int,
    /// Bytes of the log up to its last whole delta (a torn tail after it is
    /// cut off by the next append); 0: the log is started afresh first.
    log_len: Int,
    /// Each series' number in the files: the base's key order, then the
    /// order deltas added them.
    numbers: map.Map(SeriesKey, Int),
    /// Bytes of series text the files hold (part of the state's size).
    series_bytes: Int,
  )
}

/// What changed since the last save to (or load from) `files`. Only keys:
/// a delta holds the current values of what changed.
pub type Tracking {
  Tracking(
    files: Files,
    /// Series not in the files yet, newest first.
    series: List(SeriesKey),
    windows: map.Map(WindowKey, Bool),
    /// Per period entry, the 5-minute intervals counted into.
    rate: map.Map(PeriodKey, map.Map(Int, Bool)),
    /// Per period entry, the times of the gauge samples taken.
    samples: map.Map(PeriodKey, map.Map(Int, Bool)),
    /// Per period, the dedup digests added.
    digests: map.Map(Int, List(Int)),
  )
}

/// `state` tracking its changes from now on, as of `files`.
pub fn track(state: State, files: Files) -> State {
  State(
    ..state,
    track: Ok(Tracking(
      files: files,
      series: [],
      windows: map.new(),
      rate: map.new(),
      samples: map.new(),
      digests: map.new(),
    )),
  )
}

/// An aggregation's whole state (a value: the engine keeps it in a cell).
/// Public for `tally/pure/export`, which writes and reads it.
pub type State {
  State(
    config: usage.AggregatorConfig,
    // every series ever counted (or restored), even one with no window
    series: map.Map(SeriesKey, Bool),
    windows: map.Map(#(String, String, String, Int), Stats),
    // keyed by (customer, resource, meter, period start)
    periods: map.Map(#(String, String, String, Int), PeriodSeries),
    // per open period: the digests of the (source, id)s counted
    seen: map.Map(Int, map.Map(Int, Bool)),
    closed: map.Map(Int, Bool),
    // events for closed periods, newest first
    late: List(event.UsageEvent),
    applied: Int,
    duplicates: Int,
    late_count: Int,
    // a cache: the XXH3 seed of each source seen
    seeds: map.Map(String, Int),
    // what changed since the last save, once saved to (or loaded from) files
    track: Result(Tracking, Nil),
    // a close in rounds under way: the rest of the shard's invoice
    closing: Result(ClosingRounds, Nil),
  )
}

/// What is left of a shard's close in rounds after a round
/// (`tally/pure.aggregator_close_round`): the customers it did not bill
/// (never none: the first is where the next round starts), each with its
/// usage, so that the next round bills from there instead of closing the
/// period again (the Rust engines keep a cursor the same way), kept for the
/// close it was made by.
pub type ClosingRounds {
  ClosingRounds(
    close: RoundsOf,
    customers: List(#(String, List(SeriesUsage))),
    // the period (its series are in `customers`)
    usage: PeriodUsage,
    plans: plans.Plans,
  )
}

/// A close in rounds: the period's start, the plans (JSON), the version
/// and the shard.
pub type RoundsOf {
  RoundsOf(
    period_start: Int,
    plans: String,
    version: Int,
    shard: Int,
    shards: Int,
  )
}

pub fn new(config: usage.AggregatorConfig) -> State {
  State(
    config: config,
    series: map.new(),
    windows: map.new(),
    periods: map.new(),
    seen: map.new(),
    closed: map.new(),
    late: [],
    applied: 0,
    duplicates: 0,
    late_count: 0,
    seeds: map.new(),
    track: Error(Nil),
    closing: Error(Nil),
  )
}

pub fn counters(state: State) -> usage.Counters {
  usage.Counters(
    applied: state.applied,
    duplicates: state.duplicates,
    late: state.late_count,
  )
}

/// Counts events (already checked by the caller).
pub fn apply_all(state: State, events: List(event.UsageEvent)) -> State {
  apply_all_with(state, events, state.config.dedup)
}

/// Counts events with deduplication by event id on or off (a source's
/// `dedup` option, carried by its batch), whatever the aggregator's setting.
pub fn apply_all_with(
  state: State,
  events: List(event.UsageEvent),
  dedup: Bool,
) -> State {
  case events {
    [] -> state
    [e, ..rest] -> apply_all_with(apply(state, e, dedup), rest, dedup)
  }
}

fn apply(state: State, e: event.UsageEvent, dedup: Bool) -> State {
  let period = month_start(e.time_ms)
  case map.get(state.closed, period), dedup {
    Ok(_), _ ->
      State(..state, late: [e, ..state.late], late_count: state.late_count + 1)
    Error(Nil), False -> count(state, e, period)
    Error(Nil), True -> {
      let #(state, digest) = digest_of(state, e)
      let digests = case map.get(state.seen, period) {
        Ok(d) -> d
        Error(Nil) -> map.new()
      }
      case map.get(digests, digest) {
        Ok(_) -> State(..state, duplicates: state.duplicates + 1)
        Error(Nil) ->
          count(
            State(
              ..state,
              seen: map.put(state.seen, period, map.put(digests, digest, True)),
              track: digest_added(state.track, period, digest),
            ),
            e,
            period,
          )
      }
    }
  }
}

// The event's dedup digest, the source's seed cached.
fn digest_of(state: State, e: event.UsageEvent) -> #(State, Int) {
  case map.get(state.seeds, e.source) {
    Ok(seed) -> #(state, xxh3_128(e.id, seed))
    Error(Nil) -> {
      let seed = xxh3_64(e.source)
      #(
        State(..state, seeds: map.put(state.seeds, e.source, seed)),
        xxh3_128(e.id, seed),
      )
    }
  }
}

@external(erlang, "tally_xxh3", "hash64")
fn xxh3_64(text: String) -> Int

@external(erlang, "tally_xxh3", "hash128")
fn xxh3_128(text: String, seed: Int) -> Int

// Counts an event of an open period, not a duplicate.
fn count(state: State, e: event.UsageEvent, period: Int) -> State {
  let config = state.config
  let window = #(
    e.customer,
    e.resource,
    e.meter,
    window_start(config.window, e.time_ms),
  )
  let series_key = #(e.customer, e.resource, e.meter)
  let #(series, stats) = case map.get(state.windows, window) {
    Ok(st) -> #(state.series, add(st, e.value, e.time_ms))
    Error(Nil) -> #(
      map.put(state.series, series_key, True),
      Stats(
        sum: e.value,
        count: 1,
        min: e.value,
        max: e.value,
        latest_time_ms: e.time_ms,
        latest_value: e.value,
        uniques: case chain.contains(config.unique_meters, e.meter) {
          True -> Ok(map.put(map.new(), e.value, True))
          False -> Error(Nil)
        },
      ),
    )
  }
  let rate = chain.contains(config.rate_meters, e.meter)
  let gauge = chain.contains(config.gauge_meters, e.meter)
  let key = #(e.customer, e.resource, e.meter, period)
  let interval = { e.time_ms - period } / rate_interval_ms
  let periods = case rate || gauge {
    False -> state.periods
    True -> {
      let ps = case map.get(state.periods, key) {
        Ok(ps) -> ps
        Error(Nil) -> PeriodSeries(map.new(), map.new())
      }
      let ps = case rate {
        False -> ps
        True -> PeriodSeries(..ps, rate: add_to(ps.rate, interval, e.value))
      }
      let ps = case gauge {
        False -> ps
        True ->
          PeriodSeries(..ps, samples: keep_max(ps.samples, e.time_ms, e.value))
      }
      map.put(state.periods, key, ps)
    }
  }
  let track = case state.track {
    Error(Nil) -> state.track
    Ok(t) -> {
      let t =
        Tracking(
          ..t,
          series: case map.size(series) > map.size(state.series) {
            True -> [series_key, ..t.series]
            False -> t.series
          },
          windows: map.put(t.windows, window, True),
        )
      let t = case rate {
        True -> Tracking(..t, rate: put_in(t.rate, key, interval))
        False -> t
      }
      case gauge {
        True -> Ok(Tracking(..t, samples: put_in(t.samples, key, e.time_ms)))
        False -> Ok(t)
      }
    }
  }
  State(
    ..state,
    series: series,
    windows: map.put(state.windows, window, stats),
    periods: periods,
    applied: state.applied + 1,
    track: track,
  )
}

// `inner` put in the set of `outer`'s entry.
fn put_in(
  sets: map.Map(k, map.Map(Int, Bool)),
  outer: k,
  inner: Int,
) -> map.Map(k, map.Map(Int, Bool)) {
  let set = case map.get(sets, outer) {
    Ok(set) -> set
    Error(Nil) -> map.new()
  }
  map.put(sets, outer, map.put(set, inner, True))
}

fn digest_added(
  track: Result(Tracking, Nil),
  period: Int,
  digest: Int,
) -> Result(Tracking, Nil) {
  case track {
    Error(Nil) -> track
    Ok(t) -> {
      let added = case map.get(t.digests, period) {
        Ok(list) -> list
        Error(Nil) -> []
      }
      Ok(Tracking(..t, digests: map.put(t.digests, period, [digest, ..added])))
    }
  }
}

fn add_to(m: map.Map(Int, Int), key: Int, value: Int) -> map.Map(Int, Int) {
  case map.get(m, key) {
    Ok(v) -> map.put(m, key, v + value)
    Error(Nil) -> map.put(m, key, value)
  }
}

// Two readings at one instant: the higher.
fn keep_max(m: map.Map(Int, Int), key: Int, value: Int) -> map.Map(Int, Int) {
  case map.get(m, key) {
    Ok(v) if v >= value -> m
    _ -> map.put(m, key, value)
  }
}

fn add(st: Stats, value: Int, time_ms: Int) -> Stats {
  let later =
    time_ms > st.latest_time_ms
    || time_ms == st.latest_time_ms
    && value > st.latest_value
  Stats(
    sum: st.sum + value,
    count: st.count + 1,
    min: case value < st.min {
      True -> value
      False -> st.min
    },
    max: case value > st.max {
      True -> value
      False -> st.max
    },
    latest_time_ms: case later {
      True -> time_ms
      False -> st.latest_time_ms
    },
    latest_value: case later {
      True -> value
      False -> st.latest_value
    },
    uniques: case st.uniques {
      Ok(u) -> Ok(map.put(u, value, True))
      Error(Nil) -> Error(Nil)
    },
  )
}

/// Every window, sorted by customer, resource, meter and start.
pub fn windows(state: State) -> List(usage.WindowAggregate) {
  to_aggregates(map.sorted_pairs(state.windows), [])
}

fn to_aggregates(
  pairs: List(#(#(String, String, String, Int), Stats)),
  acc: List(usage.WindowAggregate),
) -> List(usage.WindowAggregate) {
  case pairs {
    [] -> bytes.reverse(acc)
    [#(#(customer, resource, meter, start), st), ..rest] ->
      to_aggregates(rest, [
        usage.WindowAggregate(
          customer: customer,
          resource: resource,
          meter: meter,
          window_start_ms: start,
          sum: st.sum,
          count: st.count,
          min: st.min,
          max: st.max,
          latest: st.latest_value,
          latest_time_ms: st.latest_time_ms,
          unique_count: case st.uniques {
            Ok(u) -> option.Some(map.size(u))
            Error(Nil) -> option.None
          },
        ),
        ..acc
      ])
  }
}

fn window_start(window: usage.Window, time_ms: Int) -> Int {
  case window {
    usage.Hour -> floor_div(time_ms, hour_ms) * hour_ms
    usage.Day -> floor_div(time_ms, day_ms) * day_ms
    usage.Month -> month_start(time_ms)
  }
}

/// Start of the calendar month (UTC) holding `time_ms`.
pub fn month_start(time_ms: Int) -> Int {
  let #(y, m) = civil_month(floor_div(time_ms, day_ms))
  rfc3339.days_from_civil(y, m, 1) * day_ms
}

// (year, month) of a day number (H. Hinnant's civil_from_days).
fn civil_month(days: Int) -> #(Int, Int) {
  let z = days + 719_468
  let era =
    case z >= 0 {
      True -> z
      False -> z - 146_096
    }
    / 146_097
  let doe = z - era * 146_097
  let yoe = { doe - doe / 1460 + doe / 36_524 - doe / 146_096 } / 365
  let y = yoe + era * 400
  let doy = doe - { 365 * yoe + yoe / 4 - yoe / 100 }
  let mp = { 5 * doy + 2 } / 153
  let m = case mp < 10 {
    True -> mp + 3
    False -> mp - 9
  }
  case m <= 2 {
    True -> #(y + 1, m)
    False -> #(y, m)
  }
}

@external(erlang, "tally_pure_ffi", "floor_div")
fn floor_div(a: Int, b: Int) -> Int

/// Adds `from` into `into`: refused when the configurations differ or when
/// both counted an event of the same period (the earliest such period is
/// named, as by the Rust engine).
pub fn merge(into: State, from: State) -> Result(State, engine.AggregateError) {
  case into.config == from.config {
    False -> Error(engine.ConfigMismatch)
    True ->
      case overlap(map.sorted_pairs(from.seen), into.seen) {
        Ok(#(period, n)) ->
          Error(engine.Overlap(period: period_label(period), count: n))
        Error(Nil) ->
          Ok(
            State(
              ..into,
              series: map.put_all(map.sorted_pairs(from.series), into.series),
              windows: merge_windows(
                map.sorted_pairs(from.windows),
                into.windows,
              ),
              periods: merge_periods(
                map.sorted_pairs(from.periods),
                into.periods,
              ),
              seen: merge_seen(map.sorted_pairs(from.seen), into.seen),
              closed: map.put_all(map.sorted_pairs(from.closed), into.closed),
              // both newest first: theirs arrived after ours
              late: chain.prepend(bytes.reverse(from.late), into.late),
              applied: into.applied + from.applied,
              duplicates: into.duplicates + from.duplicates,
              late_count: into.late_count + from.late_count,
              // a merged state's next save writes a base, as in Rust
              track: Error(Nil),
              // a closed period's usage may have changed: rounds bill again
              closing: Error(Nil),
            ),
          )
      }
  }
}

// The earliest period with events counted by both, and how many.
fn overlap(
  theirs: List(#(Int, map.Map(Int, Bool))),
  ours: map.Map(Int, map.Map(Int, Bool)),
) -> Result(#(Int, Int), Nil) {
  case theirs {
    [] -> Error(Nil)
    [#(period, digests), ..rest] -> {
      let n = case map.get(ours, period) {
        Ok(mine) -> count_common(map.sorted_pairs(digests), mine, 0)
        Error(Nil) -> 0
      }
      case n > 0 {
        True -> Ok(#(period, n))
        False -> overlap(rest, ours)
      }
    }
  }
}

fn count_common(
  theirs: List(#(Int, Bool)),
  ours: map.Map(Int, Bool),
  n: Int,
) -> Int {
  case theirs {
    [] -> n
    [#(d, _), ..rest] ->
      case map.get(ours, d) {
        Ok(_) -> count_common(rest, ours, n + 1)
        Error(Nil) -> count_common(rest, ours, n)
      }
  }
}

fn merge_seen(
  theirs: List(#(Int, map.Map(Int, Bool))),
  ours: map.Map(Int, map.Map(Int, Bool)),
) -> map.Map(Int, map.Map(Int, Bool)) {
  case theirs {
    [] -> ours
    [#(period, digests), ..rest] -> {
      let mine = case map.get(ours, period) {
        Ok(m) -> m
        Error(Nil) -> map.new()
      }
      merge_seen(
        rest,
        map.put(ours, period, map.put_all(map.sorted_pairs(digests), mine)),
      )
    }
  }
}

fn merge_periods(
  theirs: List(#(#(String, String, String, Int), PeriodSeries)),
  ours: map.Map(#(String, String, String, Int), PeriodSeries),
) -> map.Map(#(String, String, String, Int), PeriodSeries) {
  case theirs {
    [] -> ours
    [#(key, ps), ..rest] -> {
      let mine = case map.get(ours, key) {
        Ok(m) -> m
        Error(Nil) -> PeriodSeries(map.new(), map.new())
      }
      let merged =
        PeriodSeries(
          rate: fold_pairs(map.sorted_pairs(ps.rate), mine.rate, add_to),
          samples: fold_pairs(
            map.sorted_pairs(ps.samples),
            mine.samples,
            keep_max,
          ),
        )
      merge_periods(rest, map.put(ours, key, merged))
    }
  }
}

fn fold_pairs(
  pairs: List(#(Int, Int)),
  into: map.Map(Int, Int),
  combine: fn(map.Map(Int, Int), Int, Int) -> map.Map(Int, Int),
) -> map.Map(Int, Int) {
  case pairs {
    [] -> into
    [#(k, v), ..rest] -> fold_pairs(rest, combine(into, k, v), combine)
  }
}

// Closing periods --------------------------------------------------------

/// The usage of one series over a period (see `tally/pure/billing`).
pub type SeriesUsage {
  SeriesUsage(
    customer: String,
    resource: String,
    meter: String,
    total: Int,
    count: Int,
    max: Int,
    /// (interval index, bytes), by index; intervals absent are 0.
    rate_intervals: List(#(Int, Int)),
    /// (time, level), in time order.
    samples: List(#(Int, Int)),
  )
}

/// The usage of every series (sorted by key) over one billing period.
pub type PeriodUsage {
  PeriodUsage(
    start_ms: Int,
    end_ms: Int,
    gauge_gap_cap_ms: Int,
    series: List(SeriesUsage),
  )
}

/// Closes the period starting at `start_ms`: later events for it are kept
/// aside as late, and its dedup digests are dropped. Returns its usage.
pub fn close_period(state: State, start_ms: Int) -> #(State, PeriodUsage) {
  let state =
    State(
      ..state,
      closed: map.put(state.closed, start_ms, True),
      seen: map.delete(state.seen, start_ms),
    )
  #(state, period_usage(state, start_ms))
}

/// The usage of the period starting at `start_ms`, closed or not.
pub fn period_usage(state: State, start_ms: Int) -> PeriodUsage {
  let end = month_end(start_ms)
  let in_period =
    filter_windows(map.sorted_pairs(state.windows), start_ms, end, [])
  PeriodUsage(
    start_ms: start_ms,
    end_ms: end,
    gauge_gap_cap_ms: state.config.gauge_gap_cap_ms,
    series: group_series(in_period, state, start_ms, []),
  )
}

fn filter_windows(
  windows: List(#(#(String, String, String, Int), Stats)),
  start: Int,
  end: Int,
  acc: List(#(#(String, String, String, Int), Stats)),
) -> List(#(#(String, String, String, Int), Stats)) {
  case windows {
    [] -> bytes.reverse(acc)
    [#(#(_, _, _, w), _) as pair, ..rest] if w >= start && w < end ->
      filter_windows(rest, start, end, [pair, ..acc])
    [_, ..rest] -> filter_windows(rest, start, end, acc)
  }
}

// Windows sorted by key, so a series' windows are consecutive.
fn group_series(
  windows: List(#(#(String, String, String, Int), Stats)),
  state: State,
  period: Int,
  acc: List(SeriesUsage),
) -> List(SeriesUsage) {
  case windows {
    [] -> bytes.reverse(acc)
    [#(#(c, r, m, _), st), ..rest] ->
      case same_series(acc, #(c, r, m)) {
        Ok(#(u, done)) -> {
          let max = case st.max > u.max {
            True -> st.max
            False -> u.max
          }
          let u =
            SeriesUsage(
              ..u,
              total: u.total + st.sum,
              count: u.count + st.count,
              max: max,
            )
          group_series(rest, state, period, [u, ..done])
        }
        Error(Nil) -> {
          let #(rates, samples) = case
            map.get(state.periods, #(c, r, m, period))
          {
            Ok(ps) -> #(map.sorted_pairs(ps.rate), map.sorted_pairs(ps.samples))
            Error(Nil) -> #([], [])
          }
          let u = SeriesUsage(c, r, m, st.sum, st.count, st.max, rates, samples)
          group_series(rest, state, period, [u, ..acc])
        }
      }
  }
}

// The series being summed, when it is `key`'s.
fn same_series(
  acc: List(SeriesUsage),
  key: SeriesKey,
) -> Result(#(SeriesUsage, List(SeriesUsage)), Nil) {
  case acc {
    [u, ..done] ->
      case #(u.customer, u.resource, u.meter) == key {
        True -> Ok(#(u, done))
        False -> Error(Nil)
      }
    [] -> Error(Nil)
  }
}

/// Events that arrived for closed periods since the last call, oldest first.
pub fn take_late(state: State) -> #(State, List(event.UsageEvent)) {
  #(State(..state, late: []), bytes.reverse(state.late))
}

fn merge_windows(
  theirs: List(#(#(String, String, String, Int), Stats)),
  ours: map.Map(#(String, String, String, Int), Stats),
) -> map.Map(#(String, String, String, Int), Stats) {
  case theirs {
    [] -> ours
    [#(key, st), ..rest] ->
      merge_windows(
        rest,
        map.put(ours, key, case map.get(ours, key) {
          Ok(mine) -> merge_stats(mine, st)
          Error(Nil) -> st
        }),
      )
  }
}

fn merge_stats(a: Stats, b: Stats) -> Stats {
  let later =
    b.latest_time_ms > a.latest_time_ms
    || b.latest_time_ms == a.latest_time_ms
    && b.latest_value > a.latest_value
  Stats(
    sum: a.sum + b.sum,
    count: a.count + b.count,
    min: case b.min < a.min {
      True -> b.min
      False -> a.min
    },
    max: case b.max > a.max {
      True -> b.max
      False -> a.max
    },
    latest_time_ms: case later {
      True -> b.latest_time_ms
      False -> a.latest_time_ms
    },
    latest_value: case later {
      True -> b.latest_value
      False -> a.latest_value
    },
    uniques: case a.uniques, b.uniques {
      Ok(x), Ok(y) -> Ok(map.put_all(map.sorted_pairs(y), x))
      Error(Nil), Ok(y) -> Ok(y)
      x, _ -> x
    },
  )
}

/// `YYYY-MM` of the month holding `time_ms` (a negative year as `-001`,
/// as Rust's `{:04}` writes it).
pub fn period_label(time_ms: Int) -> String {
  let #(y, m) = civil_month(floor_div(time_ms, day_ms))
  let year = case y < 0 {
    True -> "-" <> pad(0 - y, 3)
    False -> pad(y, 4)
  }
  year <> "-" <> pad(m, 2)
}

/// End (exclusive) of the calendar month starting at `start_ms`.
pub fn month_end(start_ms: Int) -> Int {
  let #(y, m) = civil_month(floor_div(start_ms, day_ms))
  case m == 12 {
    True -> rfc3339.days_from_civil(y + 1, 1, 1) * day_ms
    False -> rfc3339.days_from_civil(y, m + 1, 1) * day_ms
  }
}

/// The start of the month `YYYY-MM` names, as `parse_period` in the Rust
/// engine reads it (a sign is allowed, as Rust's integer parsing allows).
pub fn parse_period(label: String) -> Result(Int, Nil) {
  let b = <<label:utf8>>
  case bytes.size(b) == 7 && bytes.at(b, 4) == 45 {
    False -> Error(Nil)
    True ->
      case
        signed_number(bytes.slice(b, 0, 4), True),
        signed_number(bytes.slice(b, 5, 2), False)
      {
        Ok(y), Ok(m) if m >= 1 && m <= 12 ->
          Ok(rfc3339.days_from_civil(y, m, 1) * day_ms)
        _, _ -> Error(Nil)
      }
  }
}

// Digits after an optional `+` (or `-` when `signed`), as Rust's `parse`.
fn signed_number(b: BitArray, signed: Bool) -> Result(Int, Nil) {
  let n = bytes.size(b)
  case bytes.at(b, 0) {
    43 if n > 1 -> digits(bytes.slice(b, 1, n - 1), 1)
    45 if signed && n > 1 -> digits(bytes.slice(b, 1, n - 1), -1)
    _ -> digits(b, 1)
  }
}

fn digits(b: BitArray, sign: Int) -> Result(Int, Nil) {
  case bytes.all_digits(b) {
    True -> Ok(sign * bytes.parse_digits(b))
    False -> Error(Nil)
  }
}

fn pad(n: Int, width: Int) -> String {
  pad_text(bytes.int_to_text(n), width)
}

fn pad_text(text: String, width: Int) -> String {
  case bytes.size(<<text:utf8>>) < width {
    True -> pad_text("0" <> text, width)
    False -> text
  }
}
