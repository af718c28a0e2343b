//// Aggregation in pure Gleam: the twin of the window part of
//// `native/core/src/aggregate.rs`. Per (customer, resource, meter) and
//// tumbling UTC window: sum, count, min, max, latest and, for unique
//// meters, distinct values; each (source, id) counts once per calendar
//// month; aggregators of disjoint events merge. (Closing periods, billing
//// and exports are not written in Gleam yet; the Rust engine's rate
//// intervals and gauge samples serve only those.)

import tally/engine
import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/map
import tally/pure/rfc3339
import tally/usage

const hour_ms = 3_600_000

const day_ms = 86_400_000

type Stats {
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

/// An aggregation's whole state (a value: the engine keeps it in a cell).
pub opaque type State {
  State(
    config: usage.AggregatorConfig,
    windows: map.Map(#(String, String, String, Int), Stats),
    // (month start, source, id) of every event counted
    seen: map.Map(#(Int, String, String), Bool),
    applied: Int,
    duplicates: Int,
  )
}

pub fn new(config: usage.AggregatorConfig) -> State {
  State(config, map.new(), map.new(), 0, 0)
}

pub fn counters(state: State) -> usage.Counters {
  usage.Counters(applied: state.applied, duplicates: state.duplicates, late: 0)
}

/// Counts events (already checked by the caller).
pub fn apply_all(state: State, events: List(event.UsageEvent)) -> State {
  case events {
    [] -> state
    [e, ..rest] -> apply_all(apply(state, e), rest)
  }
}

fn apply(state: State, e: event.UsageEvent) -> State {
  let period = month_start(e.time_ms)
  let key = #(period, e.source, e.id)
  case state.config.dedup, map.get(state.seen, key) {
    True, Ok(_) -> State(..state, duplicates: state.duplicates + 1)
    dedup, _ -> {
      let seen = case dedup {
        True -> map.put(state.seen, key, True)
        False -> state.seen
      }
      let window = #(e.customer, e.resource, e.meter, window_start(state.config.window, e.time_ms))
      let stats = case map.get(state.windows, window) {
        Ok(st) -> add(st, e.value, e.time_ms)
        Error(Nil) ->
          Stats(
            sum: e.value,
            count: 1,
            min: e.value,
            max: e.value,
            latest_time_ms: e.time_ms,
            latest_value: e.value,
            uniques: case member(e.meter, state.config.unique_meters) {
              True -> Ok(map.put(map.new(), e.value, True))
              False -> Error(Nil)
            },
          )
      }
      State(..state, seen: seen, windows: map.put(state.windows, window, stats), applied: state.applied + 1)
    }
  }
}

fn add(st: Stats, value: Int, time_ms: Int) -> Stats {
  let later =
    time_ms > st.latest_time_ms || time_ms == st.latest_time_ms && value > st.latest_value
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

fn member(meter: String, meters: List(String)) -> Bool {
  case meters {
    [] -> False
    [m, ..rest] -> m == meter || member(meter, rest)
  }
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
  let era = case z >= 0 {
    True -> z
    False -> z - 146_096
  } / 146_097
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
      case overlap(map.sorted_pairs(from.seen), into.seen, #(0, 0)) {
        #(period, count) if count > 0 ->
          Error(engine.Overlap(period: period_label(period), count: count))
        _ ->
          Ok(State(
            ..into,
            windows: merge_windows(map.sorted_pairs(from.windows), into.windows),
            seen: merge_seen(map.sorted_pairs(from.seen), into.seen),
            applied: into.applied + from.applied,
            duplicates: into.duplicates + from.duplicates,
          ))
      }
  }
}

// The earliest period with events counted by both, and how many.
fn overlap(
  theirs: List(#(#(Int, String, String), Bool)),
  ours: map.Map(#(Int, String, String), Bool),
  found: #(Int, Int),
) -> #(Int, Int) {
  case theirs {
    [] -> found
    [#(#(period, _, _) as key, _), ..rest] ->
      case map.get(ours, key), found {
        Ok(_), #(_, 0) -> overlap(rest, ours, #(period, 1))
        Ok(_), #(p, n) if p == period -> overlap(rest, ours, #(p, n + 1))
        _, _ -> overlap(rest, ours, found)
      }
  }
}

fn merge_seen(
  theirs: List(#(#(Int, String, String), Bool)),
  ours: map.Map(#(Int, String, String), Bool),
) -> map.Map(#(Int, String, String), Bool) {
  case theirs {
    [] -> ours
    [#(key, _), ..rest] -> merge_seen(rest, map.put(ours, key, True))
  }
}

fn merge_windows(
  theirs: List(#(#(String, String, String, Int), Stats)),
  ours: map.Map(#(String, String, String, Int), Stats),
) -> map.Map(#(String, String, String, Int), Stats) {
  case theirs {
    [] -> ours
    [#(key, st), ..rest] ->
      merge_windows(rest, map.put(ours, key, case map.get(ours, key) {
        Ok(mine) -> merge_stats(mine, st)
        Error(Nil) -> st
      }))
  }
}

fn merge_stats(a: Stats, b: Stats) -> Stats {
  let later =
    b.latest_time_ms > a.latest_time_ms || b.latest_time_ms == a.latest_time_ms && b.latest_value > a.latest_value
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
      Ok(x), Ok(y) -> Ok(merge_values(map.sorted_pairs(y), x))
      Error(Nil), Ok(y) -> Ok(y)
      x, _ -> x
    },
  )
}

fn merge_values(theirs: List(#(Int, Bool)), ours: map.Map(Int, Bool)) -> map.Map(Int, Bool) {
  case theirs {
    [] -> ours
    [#(v, _), ..rest] -> merge_values(rest, map.put(ours, v, True))
  }
}

/// `YYYY-MM` of the month starting at `start_ms`.
pub fn period_label(start_ms: Int) -> String {
  let #(y, m) = civil_month(floor_div(start_ms, day_ms))
  pad(y, 4) <> "-" <> pad(m, 2)
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
