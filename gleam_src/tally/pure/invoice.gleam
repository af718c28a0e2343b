//// Billing in pure Gleam: a closed period's usage and the plans into
//// invoice lines, the twin of `bill` in `native/core/src/billing.rs` (the
//// rules are in README, "Plans file and billing rules"). Quantities are
//// exact fractions; each amount is rounded once, half up.

import tally/billing
import tally/engine
import tally/pure/aggregate as agg
import tally/pure/bytes
import tally/pure/chain
import tally/pure/map
import tally/pure/plans
import tally/pure/ratio

/// Bills one period: every customer with usage or a plan gets a line for
/// each line of its plan (customer scope), or one per resource with usage
/// (resource scope); customers with usage but no plan are listed unbilled.
pub fn bill(
  usage: agg.PeriodUsage,
  p: plans.Plans,
  version: Int,
) -> Result(billing.Invoice, engine.BillingError) {
  bill_where(usage, p, version, fn(_) { True })
}

/// Bills the customers of one shard of `shards`: those (with usage, or
/// named in the plans) whose XXH3-64 modulo `shards` is `shard`, the rule
/// of `tally_core::shard::shard_of`.
pub fn bill_shard(
  usage: agg.PeriodUsage,
  p: plans.Plans,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.Invoice, engine.BillingError) {
  bill_where(usage, p, version, in_shard(shard, shards))
}

fn in_shard(shard: Int, shards: Int) -> fn(String) -> Bool {
  fn(customer) { shard_of(customer, shards) == shard }
}

/// The customers of one shard (`bill_shard`'s), in order, each with its
/// series: what a close in rounds bills a customer at a time
/// (`bill_customer`).
pub fn shard_customers(
  usage: agg.PeriodUsage,
  p: plans.Plans,
  shard: Int,
  shards: Int,
) -> List(#(String, List(agg.SeriesUsage))) {
  customers_of(
    usage.series,
    map.sorted_pairs(p.customers),
    in_shard(shard, shards),
  )
}

/// How many lines a customer's plan gives it (0 without a plan): one per
/// customer-scope line, one per resource with usage of the meter for a
/// resource-scope line, as `tally_core::billing::lines_of` counts them.
pub fn line_count(
  p: plans.Plans,
  customer: String,
  series: List(agg.SeriesUsage),
) -> Int {
  case plans.plan_for(p, customer) {
    Error(Nil) -> 0
    Ok(plan) -> count_lines(plan.lines, customer, series, 0)
  }
}

fn count_lines(
  plan_lines: List(plans.PlanLine),
  customer: String,
  series: List(agg.SeriesUsage),
  n: Int,
) -> Int {
  case plan_lines {
    [] -> n
    [line, ..rest] -> {
      let here = case line.scope {
        plans.CustomerScope -> 1
        plans.ResourceScope ->
          bytes.length(
            by_resource(of_customer_meter(series, customer, line.meter, [])),
          )
      }
      count_lines(rest, customer, series, n + here)
    }
  }
}

/// One customer's lines (`bill_shard`'s, for it alone); `Ok(Error(Nil))`
/// for a customer without a plan (unbilled).
pub fn bill_customer(
  customer: String,
  series: List(agg.SeriesUsage),
  usage: agg.PeriodUsage,
  p: plans.Plans,
  version: Int,
) -> Result(Result(List(billing.InvoiceLine), Nil), engine.BillingError) {
  let period = agg.period_label(usage.start_ms)
  case customer_lines(customer, series, usage, p, period, version, []) {
    Ok(Ok(lines)) -> Ok(Ok(bytes.reverse(lines)))
    other -> other
  }
}

// A customer's lines put before `acc` (newest first); `Ok(Error(Nil))`
// for a customer without a plan.
fn customer_lines(
  customer: String,
  series: List(agg.SeriesUsage),
  usage: agg.PeriodUsage,
  p: plans.Plans,
  period: String,
  version: Int,
  acc: List(billing.InvoiceLine),
) -> Result(Result(List(billing.InvoiceLine), Nil), engine.BillingError) {
  case plans.plan_for(p, customer) {
    Error(Nil) -> Ok(Error(Nil))
    Ok(plan) ->
      case
        bill_lines(
          plan.lines,
          plan,
          customer,
          series,
          usage,
          period,
          version,
          acc,
        )
      {
        Error(e) -> Error(e)
        Ok(lines) -> Ok(Ok(lines))
      }
  }
}

/// The shard of a customer among `shards` (0 for one shard or none).
pub fn shard_of(customer: String, shards: Int) -> Int {
  case shards <= 1 {
    True -> 0
    False -> hash64(<<customer:utf8>>) % shards
  }
}

@external(erlang, "tally_xxh3", "hash64")
fn hash64(bytes: BitArray) -> Int

fn bill_where(
  usage: agg.PeriodUsage,
  p: plans.Plans,
  version: Int,
  keep: fn(String) -> Bool,
) -> Result(billing.Invoice, engine.BillingError) {
  let period = agg.period_label(usage.start_ms)
  let customers =
    customers_of(usage.series, map.sorted_pairs(p.customers), keep)
  bill_customers(customers, usage, p, period, version, [], [])
}

// Each customer's series (in key order), customers in order: one pass over
// the series, then the customers the plans name.
fn customers_of(
  series: List(agg.SeriesUsage),
  assigned: List(#(String, String)),
  keep: fn(String) -> Bool,
) -> List(#(String, List(agg.SeriesUsage))) {
  let with_usage = group_by_customer(series, keep, map.new())
  let all = name_each(assigned, keep, with_usage)
  reverse_groups(bytes.reverse(map.sorted_pairs(all)), [])
}

fn group_by_customer(
  series: List(agg.SeriesUsage),
  keep: fn(String) -> Bool,
  acc: map.Map(String, List(agg.SeriesUsage)),
) -> map.Map(String, List(agg.SeriesUsage)) {
  case series {
    [] -> acc
    [s, ..rest] ->
      case keep(s.customer) {
        False -> group_by_customer(rest, keep, acc)
        True -> {
          let before = case map.get(acc, s.customer) {
            Ok(members) -> members
            Error(Nil) -> []
          }
          group_by_customer(rest, keep, map.put(acc, s.customer, [s, ..before]))
        }
      }
  }
}

fn name_each(
  assigned: List(#(String, String)),
  keep: fn(String) -> Bool,
  acc: map.Map(String, List(agg.SeriesUsage)),
) -> map.Map(String, List(agg.SeriesUsage)) {
  case assigned {
    [] -> acc
    [#(customer, _), ..rest] ->
      case keep(customer), map.get(acc, customer) {
        True, Error(Nil) -> name_each(rest, keep, map.put(acc, customer, []))
        _, _ -> name_each(rest, keep, acc)
      }
  }
}

fn bill_customers(
  customers: List(#(String, List(agg.SeriesUsage))),
  usage: agg.PeriodUsage,
  p: plans.Plans,
  period: String,
  version: Int,
  lines: List(billing.InvoiceLine),
  unbilled: List(String),
) -> Result(billing.Invoice, engine.BillingError) {
  case customers {
    [] ->
      Ok(billing.Invoice(
        lines: bytes.reverse(lines),
        unbilled_customers: bytes.reverse(unbilled),
      ))
    [#(customer, series), ..rest] ->
      case customer_lines(customer, series, usage, p, period, version, lines) {
        Error(e) -> Error(e)
        Ok(Error(Nil)) ->
          bill_customers(rest, usage, p, period, version, lines, [
            customer,
            ..unbilled
          ])
        Ok(Ok(lines)) ->
          bill_customers(rest, usage, p, period, version, lines, unbilled)
      }
  }
}

fn bill_lines(
  plan_lines: List(plans.PlanLine),
  plan: plans.Plan,
  customer: String,
  of_customer: List(agg.SeriesUsage),
  usage: agg.PeriodUsage,
  period: String,
  version: Int,
  acc: List(billing.InvoiceLine),
) -> Result(List(billing.InvoiceLine), engine.BillingError) {
  case plan_lines {
    [] -> Ok(acc)
    [line, ..rest] -> {
      let series = of_customer_meter(of_customer, customer, line.meter, [])
      let groups = case line.scope {
        plans.CustomerScope -> [#("*", series)]
        plans.ResourceScope -> by_resource(series)
      }
      case
        bill_groups(groups, line, plan, customer, usage, period, version, acc)
      {
        Error(e) -> Error(e)
        Ok(acc) ->
          bill_lines(
            rest,
            plan,
            customer,
            of_customer,
            usage,
            period,
            version,
            acc,
          )
      }
    }
  }
}

fn of_customer_meter(
  series: List(agg.SeriesUsage),
  customer: String,
  meter: String,
  acc: List(agg.SeriesUsage),
) -> List(agg.SeriesUsage) {
  case series {
    [] -> bytes.reverse(acc)
    [s, ..rest] ->
      case s.customer == customer && s.meter == meter {
        True -> of_customer_meter(rest, customer, meter, [s, ..acc])
        False -> of_customer_meter(rest, customer, meter, acc)
      }
  }
}

// Series grouped by resource, resources in order (the series are sorted by
// key, so a resource's series are consecutive).
fn by_resource(
  series: List(agg.SeriesUsage),
) -> List(#(String, List(agg.SeriesUsage))) {
  group(series, [])
}

fn group(
  series: List(agg.SeriesUsage),
  acc: List(#(String, List(agg.SeriesUsage))),
) -> List(#(String, List(agg.SeriesUsage))) {
  case series {
    [] -> reverse_groups(acc, [])
    [s, ..rest] -> {
      let own = s.resource
      case acc {
        [#(resource, members), ..done] if resource == own ->
          group(rest, [#(resource, [s, ..members]), ..done])
        _ -> group(rest, [#(own, [s]), ..acc])
      }
    }
  }
}

fn reverse_groups(
  groups: List(#(String, List(agg.SeriesUsage))),
  acc: List(#(String, List(agg.SeriesUsage))),
) -> List(#(String, List(agg.SeriesUsage))) {
  case groups {
    [] -> acc
    [#(r, members), ..rest] ->
      reverse_groups(rest, [#(r, bytes.reverse(members)), ..acc])
  }
}

fn bill_groups(
  groups: List(#(String, List(agg.SeriesUsage))),
  line: plans.PlanLine,
  plan: plans.Plan,
  customer: String,
  usage: agg.PeriodUsage,
  period: String,
  version: Int,
  acc: List(billing.InvoiceLine),
) -> Result(List(billing.InvoiceLine), engine.BillingError) {
  case groups {
    [] -> Ok(acc)
    [#(resource, members), ..rest] -> {
      let key =
        line_key(
          customer,
          line.scope,
          resource,
          line.meter,
          plans.measure_name(line.measure),
          period,
        )
      let priced = {
        use used <- chain.then(quantity(line, members, usage))
        use overage <- chain.then(ratio.saturating_sub(used, line.included))
        use #(amount, unit_price) <- chain.then(price(line.pricing, overage))
        Ok(billing.InvoiceLine(
          key: key,
          customer: customer,
          resource: resource,
          meter: line.meter,
          measure: line.measure,
          period: period,
          version: version,
          plan: plan.name,
          currency: plan.currency,
          unit: line.unit,
          used: used,
          included: line.included,
          overage: overage,
          unit_price: unit_price,
          amount_minor: ratio.round_half_up(amount),
        ))
      }
      case priced {
        Error(Nil) -> Error(engine.AmountOverflow(key: key))
        Ok(invoice_line) ->
          bill_groups(rest, line, plan, customer, usage, period, version, [
            invoice_line,
            ..acc
          ])
      }
    }
  }
}

// Quantities -----------------------------------------------------------------

const u128_max = 340_282_366_920_938_463_463_374_607_431_768_211_455

/// The quantity used, in the line's unit, over a group of series.
fn quantity(
  line: plans.PlanLine,
  group: List(agg.SeriesUsage),
  usage: agg.PeriodUsage,
) -> Result(billing.Fraction, Nil) {
  let period_ms = usage.end_ms - usage.start_ms
  let per_gb = fn(amount: Int) {
    case line.unit {
      billing.Gigabyte -> ratio.new(amount, line.bytes_per_gb)
      _ -> ratio.int(amount)
    }
  }
  case line.measure {
    billing.Total ->
      Ok(per_gb(sum(group, fn(s: agg.SeriesUsage) { s.total }, 0)))
    billing.P95Rate -> {
      let by_interval = interval_sums(group, map.new())
      let bytes_in =
        p95_interval_value(
          values(map.sorted_pairs(by_interval), []),
          period_ms / agg.rate_interval_ms,
        )
      // bytes per 300 s, in bits per second, in Mbps
      Ok(ratio.new(bytes_in * 8, 300 * 1_000_000))
    }
    billing.GbMonthAverage -> {
      let total =
        sum(
          group,
          fn(s: agg.SeriesUsage) {
            byte_ms(s.samples, usage.end_ms, usage.gauge_gap_cap_ms, 0)
          },
          0,
        )
      case line.bytes_per_gb * period_ms > u128_max {
        True -> Error(Nil)
        False ->
          ratio.mul(
            ratio.new(total, 1),
            ratio.new(1, line.bytes_per_gb * period_ms),
          )
      }
    }
    billing.Peak -> Ok(per_gb(peak_of_sum(group, usage.gauge_gap_cap_ms)))
  }
}

fn sum(items: List(a), f: fn(a) -> Int, acc: Int) -> Int {
  case items {
    [] -> acc
    [x, ..rest] -> sum(rest, f, acc + f(x))
  }
}

fn interval_sums(
  group: List(agg.SeriesUsage),
  acc: map.Map(Int, Int),
) -> map.Map(Int, Int) {
  case group {
    [] -> acc
    [s, ..rest] -> interval_sums(rest, add_intervals(s.rate_intervals, acc))
  }
}

fn add_intervals(
  pairs: List(#(Int, Int)),
  acc: map.Map(Int, Int),
) -> map.Map(Int, Int) {
  case pairs {
    [] -> acc
    [#(i, v), ..rest] ->
      add_intervals(
        rest,
        map.put(acc, i, case map.get(acc, i) {
          Ok(x) -> x + v
          Error(Nil) -> v
        }),
      )
  }
}

fn values(pairs: List(#(k, Int)), acc: List(Int)) -> List(Int) {
  case pairs {
    [] -> acc
    [#(_, v), ..rest] -> values(rest, [v, ..acc])
  }
}

/// The 95th-percentile interval value of a period of `intervals` 5-minute
/// intervals, given the values of the intervals with traffic: all of them
/// sorted from the highest, missing ones as 0, the top 5% (rounded down)
/// dropped, the highest left.
pub fn p95_interval_value(present: List(Int), intervals: Int) -> Int {
  let n = bytes.length(present)
  let all = case intervals > n {
    True -> intervals
    False -> n
  }
  nth(bytes.reverse(bytes.sort(present)), all * 5 / 100)
}

fn nth(list: List(Int), i: Int) -> Int {
  case list, i {
    [], _ -> 0
    [x, ..], 0 -> x
    [_, ..rest], _ -> nth(rest, i - 1)
  }
}

/// Byte-milliseconds of one gauge series: each sample lasts until the
/// next, the period end, or `cap_ms`, whichever comes first.
pub fn byte_ms(
  samples: List(#(Int, Int)),
  end_ms: Int,
  cap_ms: Int,
  acc: Int,
) -> Int {
  case samples {
    [] -> acc
    [#(t, level), ..rest] -> {
      let next = case rest {
        [#(n, _), ..] -> smaller(n, end_ms)
        [] -> end_ms
      }
      let lasts = larger(smaller(next - t, cap_ms), 0)
      byte_ms(rest, end_ms, cap_ms, acc + level * lasts)
    }
  }
}

fn smaller(a: Int, b: Int) -> Int {
  case a < b {
    True -> a
    False -> b
  }
}

fn larger(a: Int, b: Int) -> Int {
  case a > b {
    True -> a
    False -> b
  }
}

/// The highest sum of levels over several gauge series at any sample time;
/// a series counts its last sample until `cap_ms` has passed.
pub fn peak_of_sum(group: List(agg.SeriesUsage), cap_ms: Int) -> Int {
  let samples = bytes.sort(tag_samples(group, 0, []))
  sweep(samples, cap_ms, map.new(), 0)
}

// (time, series number, level) of every sample of the group.
fn tag_samples(
  group: List(agg.SeriesUsage),
  n: Int,
  acc: List(#(Int, Int, Int)),
) -> List(#(Int, Int, Int)) {
  case group {
    [] -> acc
    [s, ..rest] -> tag_samples(rest, n + 1, tag(s.samples, n, acc))
  }
}

fn tag(
  samples: List(#(Int, Int)),
  n: Int,
  acc: List(#(Int, Int, Int)),
) -> List(#(Int, Int, Int)) {
  case samples {
    [] -> acc
    [#(t, level), ..rest] -> tag(rest, n, [#(t, n, level), ..acc])
  }
}

// In time order: each series' latest (time, level), the peak so far.
fn sweep(
  samples: List(#(Int, Int, Int)),
  cap_ms: Int,
  latest: map.Map(Int, #(Int, Int)),
  best: Int,
) -> Int {
  case samples {
    [] -> best
    [#(t, n, level), ..rest] -> {
      let latest = map.put(latest, n, #(t, level))
      case rest {
        [#(next, _, _), ..] if next == t -> sweep(rest, cap_ms, latest, best)
        _ ->
          sweep(
            rest,
            cap_ms,
            latest,
            larger(best, level_sum(map.sorted_pairs(latest), t, cap_ms, 0)),
          )
      }
    }
  }
}

fn level_sum(
  latest: List(#(Int, #(Int, Int))),
  t: Int,
  cap_ms: Int,
  acc: Int,
) -> Int {
  case latest {
    [] -> acc
    [#(_, #(ts, level)), ..rest] ->
      case t - ts < cap_ms || ts == t {
        True -> level_sum(rest, t, cap_ms, acc + level)
        False -> level_sum(rest, t, cap_ms, acc)
      }
  }
}

// Prices ---------------------------------------------------------------------

/// The price of `quantity` under `pricing`, exact, and the unit price shown:
/// the price per unit (flat), of the highest tier reached (graduated,
/// volume), or per package.
pub fn price(
  pricing: plans.Pricing,
  quantity: billing.Fraction,
) -> Result(#(billing.Fraction, billing.Fraction), Nil) {
  case pricing {
    plans.Flat(unit_price) -> {
      use total <- chain.then(ratio.mul(quantity, unit_price))
      Ok(#(total, unit_price))
    }
    plans.Package(size, package_price) -> {
      use packages <- chain.then(ratio.mul(
        quantity,
        ratio.new(size.denominator, size.numerator),
      ))
      use total <- chain.then(ratio.mul(
        ratio.int(ratio.ceil(packages)),
        package_price,
      ))
      Ok(#(total, package_price))
    }
    plans.Graduated(tiers) ->
      case ratio.is_zero(quantity), tiers {
        True, [first, ..] -> Ok(#(ratio.zero, first.unit_price))
        _, _ -> graduated(tiers, quantity, ratio.zero, ratio.zero, ratio.zero)
      }
    plans.Volume(tiers) ->
      case ratio.is_zero(quantity), tiers {
        True, [first, ..] -> Ok(#(ratio.zero, first.unit_price))
        _, _ -> {
          let t = volume_tier(tiers, quantity)
          use product <- chain.then(ratio.mul(quantity, t.unit_price))
          use total <- chain.then(ratio.add(product, t.flat_fee))
          Ok(#(total, t.unit_price))
        }
      }
  }
}

// Each tier reached prices the units inside it, plus its flat fee.
fn graduated(
  tiers: List(plans.Tier),
  quantity: billing.Fraction,
  total: billing.Fraction,
  lower: billing.Fraction,
  shown: billing.Fraction,
) -> Result(#(billing.Fraction, billing.Fraction), Nil) {
  case tiers {
    [] -> Ok(#(total, shown))
    [t, ..rest] -> {
      let upper = case t.up_to {
        Ok(u) -> ratio.min(u, quantity)
        Error(Nil) -> quantity
      }
      use inside <- chain.then(ratio.saturating_sub(upper, lower))
      use cost <- chain.then(ratio.mul(inside, t.unit_price))
      use with_cost <- chain.then(ratio.add(total, cost))
      use total <- chain.then(ratio.add(with_cost, t.flat_fee))
      case t.up_to {
        Ok(u) ->
          case ratio.compare(quantity, u) > 0 {
            True -> graduated(rest, quantity, total, u, t.unit_price)
            False -> Ok(#(total, t.unit_price))
          }
        Error(Nil) -> Ok(#(total, t.unit_price))
      }
    }
  }
}

fn volume_tier(
  tiers: List(plans.Tier),
  quantity: billing.Fraction,
) -> plans.Tier {
  case tiers {
    [t] -> t
    [t, ..rest] ->
      case t.up_to {
        Error(Nil) -> t
        Ok(u) ->
          case ratio.compare(quantity, u) <= 0 {
            True -> t
            False -> volume_tier(rest, quantity)
          }
      }
    // plans are checked: tiers are never empty
    [] -> plans.Tier(Error(Nil), ratio.zero, ratio.zero)
  }
}

/// An invoice line's key, the twin of Rust's `billing::line_key`:
/// `customer/resource/meter/measure/period`, each part percent-encoded
/// (`%`, `/`, `*`, space and control bytes as `%XX`, uppercase hex), the
/// resource of a customer-scope line the bare `*`. No version: a reissue
/// keeps the key.
pub fn line_key(
  customer: String,
  scope: plans.Scope,
  resource: String,
  meter: String,
  measure: String,
  period: String,
) -> String {
  let resource = case scope {
    plans.CustomerScope -> "*"
    plans.ResourceScope -> encode_part(resource)
  }
  encode_part(customer)
  <> "/"
  <> resource
  <> "/"
  <> encode_part(meter)
  <> "/"
  <> encode_part(measure)
  <> "/"
  <> encode_part(period)
}

fn encode_part(part: String) -> String {
  bytes.to_text(encode_bytes(<<part:utf8>>, 0, <<>>))
}

// Bytes of a multi-byte UTF-8 character are all >= 128: kept as they are.
fn encode_bytes(b: BitArray, i: Int, out: BitArray) -> BitArray {
  case bytes.at(b, i) {
    -1 -> out
    c if c == 37 || c == 47 || c == 42 || c <= 32 || c == 127 -> {
      let high = hex_digit(c / 16)
      let low = hex_digit(c % 16)
      encode_bytes(
        b,
        i + 1,
        bytes.append(out, <<"%":utf8, high:utf8, low:utf8>>),
      )
    }
    c -> encode_bytes(b, i + 1, bytes.append_byte(out, c))
  }
}

fn hex_digit(d: Int) -> String {
  case d {
    10 -> "A"
    11 -> "B"
    12 -> "C"
    13 -> "D"
    14 -> "E"
    15 -> "F"
    _ -> bytes.int_to_text(d)
  }
}
