//// The plans file in pure Gleam: the twin of `Plans::from_json` in
//// `native/core/src/billing.rs`. The document is read in two steps, as
//// serde reads it there: its shape first (fields, types, defaults, no
//// unknown or repeated fields), then every plan checked in name order with
//// the same reasons (`plan P, line N: ...`). A file the Rust engine's serde
//// refuses is refused here too, but the wording of shape errors is this
//// module's own (serde's cites line and column). A key given twice in any
//// object (a plan defined twice) is refused first, with the Rust engine's
//// words (`duplicate key "p" in /plans`).

import tally/billing
import tally/engine
import tally/pure/bytes
import tally/pure/chain
import tally/pure/json_tree as jt
import tally/pure/map
import tally/pure/ratio

pub type Scope {
  CustomerScope
  ResourceScope
}

pub type Tier {
  Tier(
    up_to: Result(billing.Fraction, Nil),
    unit_price: billing.Fraction,
    flat_fee: billing.Fraction,
  )
}

pub type Pricing {
  Flat(unit_price: billing.Fraction)
  Graduated(tiers: List(Tier))
  Volume(tiers: List(Tier))
  Package(size: billing.Fraction, price: billing.Fraction)
}

pub type PlanLine {
  PlanLine(
    meter: String,
    measure: billing.Measure,
    unit: billing.QuantityUnit,
    bytes_per_gb: Int,
    included: billing.Fraction,
    scope: Scope,
    pricing: Pricing,
  )
}

pub type Plan {
  Plan(name: String, currency: String, lines: List(PlanLine))
}

/// Plans, checked: every price parsed, tiers ascending, every customer's plan known.
pub type Plans {
  Plans(
    plans: map.Map(String, Plan),
    /// customer -> plan name
    customers: map.Map(String, String),
    default_plan: Result(String, Nil),
  )
}

/// The plan billing `customer`: its own, else the default.
pub fn plan_for(plans: Plans, customer: String) -> Result(Plan, Nil) {
  let name = case map.get(plans.customers, customer) {
    Ok(name) -> Ok(name)
    Error(Nil) -> plans.default_plan
  }
  case name {
    Ok(n) -> map.get(plans.plans, n)
    Error(Nil) -> Error(Nil)
  }
}

const gib = 1_073_741_824

const u64_max = 18_446_744_073_709_551_615

// The shape, as serde's derived types hold it --------------------------------

type TierSpec {
  TierSpec(
    up_to: Result(String, Nil),
    unit_price: String,
    flat_fee: Result(String, Nil),
  )
}

type PricingSpec {
  FlatSpec(unit_price: String)
  GraduatedSpec(tiers: List(TierSpec))
  VolumeSpec(tiers: List(TierSpec))
  PackageSpec(package_size: String, package_price: String)
}

type LineSpec {
  LineSpec(
    meter: String,
    measure: billing.Measure,
    unit: billing.QuantityUnit,
    bytes_per_gb: Result(Int, Nil),
    included: Result(String, Nil),
    scope: Scope,
    pricing: PricingSpec,
  )
}

type PlanSpec {
  PlanSpec(currency: String, lines: List(LineSpec))
}

/// Reads and checks a plans file (JSON).
pub fn from_json(text: String) -> Result(Plans, engine.BillingError) {
  case jt.parse(text) {
    Error(reason) -> syntax(reason)
    Ok(tree) ->
      // A repeated key (a plan defined twice) is refused, as in the Rust engine.
      case jt.first_repeated_key(tree), document(tree) {
        Ok(reason), _ -> syntax(reason)
        _, Error(reason) -> syntax(reason)
        _, Ok(#(specs, customers, default_plan)) ->
          check(specs, customers, default_plan)
      }
  }
}

fn syntax(reason: String) -> Result(a, engine.BillingError) {
  Error(engine.PlansInvalid("plans file: " <> reason))
}

// An object's fields, refusing unknown and repeated ones.
fn fields(
  tree: jt.Json,
  what: String,
  known: List(String),
) -> Result(map.Map(String, jt.Json), String) {
  case tree {
    jt.JObject(members) -> collect_fields(members, what, known, map.new())
    _ -> Error(what <> " must be an object")
  }
}

fn collect_fields(
  members: List(#(String, jt.Json)),
  what: String,
  known: List(String),
  acc: map.Map(String, jt.Json),
) -> Result(map.Map(String, jt.Json), String) {
  case members {
    [] -> Ok(acc)
    [#(key, v), ..rest] ->
      case chain.contains(known, key), map.get(acc, key) {
        False, _ -> Error("unknown field `" <> key <> "` in " <> what)
        True, Ok(_) -> Error("duplicate field `" <> key <> "` in " <> what)
        True, Error(Nil) ->
          collect_fields(rest, what, known, map.put(acc, key, v))
      }
  }
}

fn required(
  f: map.Map(String, jt.Json),
  key: String,
  what: String,
) -> Result(jt.Json, String) {
  case map.get(f, key) {
    Ok(v) -> Ok(v)
    Error(Nil) -> Error("missing field `" <> key <> "` in " <> what)
  }
}

fn string(v: jt.Json, what: String) -> Result(String, String) {
  case v {
    jt.JString(s) -> Ok(s)
    _ -> Error(what <> " must be a string")
  }
}

fn required_string(
  f: map.Map(String, jt.Json),
  key: String,
  what: String,
) -> Result(String, String) {
  use v <- chain.then(required(f, key, what))
  string(v, key <> " in " <> what)
}

// An `Option<String>`: absent or null is none.
fn optional_string(
  f: map.Map(String, jt.Json),
  key: String,
  what: String,
) -> Result(Result(String, Nil), String) {
  case map.get(f, key) {
    Error(Nil) | Ok(jt.JNull) -> Ok(Error(Nil))
    Ok(v) ->
      case string(v, key <> " in " <> what) {
        Ok(s) -> Ok(Ok(s))
        Error(e) -> Error(e)
      }
  }
}

// A field whose value is one of a few names; absent gives `default`.
fn choice(
  f: map.Map(String, jt.Json),
  key: String,
  what: String,
  names: List(#(String, a)),
  default: Result(a, Nil),
) -> Result(a, String) {
  case map.get(f, key), default {
    Error(Nil), Ok(d) -> Ok(d)
    Error(Nil), Error(Nil) -> Error("missing field `" <> key <> "` in " <> what)
    Ok(jt.JString(name)), _ ->
      case lookup(names, name) {
        Ok(x) -> Ok(x)
        Error(Nil) ->
          Error("unknown " <> key <> " `" <> name <> "` in " <> what)
      }
    Ok(_), _ -> Error(key <> " in " <> what <> " must be a string")
  }
}

fn lookup(pairs: List(#(String, a)), key: String) -> Result(a, Nil) {
  case pairs {
    [] -> Error(Nil)
    [#(k, v), ..rest] ->
      case k == key {
        True -> Ok(v)
        False -> lookup(rest, key)
      }
  }
}

fn array(
  v: jt.Json,
  what: String,
  item: fn(jt.Json, String) -> Result(a, String),
) -> Result(List(a), String) {
  case v {
    jt.JArray(items) -> each(items, what, item, 1, [])
    _ -> Error(what <> " must be an array")
  }
}

fn each(
  items: List(jt.Json),
  what: String,
  item: fn(jt.Json, String) -> Result(a, String),
  n: Int,
  acc: List(a),
) -> Result(List(a), String) {
  case items {
    [] -> Ok(bytes.reverse(acc))
    [x, ..rest] -> {
      use v <- chain.then(item(x, what <> " item " <> bytes.int_to_text(n)))
      each(rest, what, item, n + 1, [v, ..acc])
    }
  }
}

fn document(
  tree: jt.Json,
) -> Result(
  #(List(#(String, PlanSpec)), map.Map(String, String), Result(String, Nil)),
  String,
) {
  use f <- chain.then(
    fields(tree, "the plans file", ["plans", "customers", "default_plan"]),
  )
  use plans_tree <- chain.then(required(f, "plans", "the plans file"))
  use plans <- chain.then(case plans_tree {
    jt.JObject(members) -> plan_specs(members, map.new())
    _ -> Error("plans must be an object")
  })
  use customers <- chain.then(case map.get(f, "customers") {
    Error(Nil) -> Ok(map.new())
    Ok(jt.JObject(members)) -> customer_plans(members, map.new())
    Ok(_) -> Error("customers must be an object")
  })
  use default_plan <- chain.then(optional_string(
    f,
    "default_plan",
    "the plans file",
  ))
  Ok(#(map.sorted_pairs(plans), customers, default_plan))
}

// (Repeated plans and customers were refused before: see `from_json`.)
fn plan_specs(
  members: List(#(String, jt.Json)),
  acc: map.Map(String, PlanSpec),
) -> Result(map.Map(String, PlanSpec), String) {
  case members {
    [] -> Ok(acc)
    [#(name, tree), ..rest] -> {
      use spec <- chain.then(plan_spec(tree, "plan " <> name))
      plan_specs(rest, map.put(acc, name, spec))
    }
  }
}

fn customer_plans(
  members: List(#(String, jt.Json)),
  acc: map.Map(String, String),
) -> Result(map.Map(String, String), String) {
  case members {
    [] -> Ok(acc)
    [#(customer, v), ..rest] -> {
      use plan <- chain.then(string(v, "the plan of customer " <> customer))
      customer_plans(rest, map.put(acc, customer, plan))
    }
  }
}

fn plan_spec(tree: jt.Json, what: String) -> Result(PlanSpec, String) {
  use f <- chain.then(fields(tree, what, ["currency", "lines"]))
  use currency <- chain.then(required_string(f, "currency", what))
  use lines_tree <- chain.then(required(f, "lines", what))
  use lines <- chain.then(array(lines_tree, what <> " lines", line_spec))
  Ok(PlanSpec(currency, lines))
}

fn line_spec(tree: jt.Json, what: String) -> Result(LineSpec, String) {
  use f <- chain.then(
    fields(tree, what, [
      "meter", "measure", "unit", "bytes_per_gb", "included", "scope", "pricing",
    ]),
  )
  use meter <- chain.then(required_string(f, "meter", what))
  use measure <- chain.then(choice(
    f,
    "measure",
    what,
    [
      #("total", billing.Total),
      #("p95_rate", billing.P95Rate),
      #("gb_month_average", billing.GbMonthAverage),
      #("peak", billing.Peak),
    ],
    Error(Nil),
  ))
  use unit <- chain.then(choice(
    f,
    "unit",
    what,
    [
      #("unit", billing.PlainUnit),
      #("GB", billing.Gigabyte),
      #("Mbps", billing.MegabitPerSecond),
    ],
    Ok(billing.PlainUnit),
  ))
  use bytes_per_gb <- chain.then(case map.get(f, "bytes_per_gb") {
    Error(Nil) | Ok(jt.JNull) -> Ok(Error(Nil))
    Ok(jt.JNumber(text)) -> {
      let b = <<text:utf8>>
      case bytes.all_digits(b) {
        True ->
          case bytes.parse_digits(b) {
            n if n <= u64_max -> Ok(Ok(n))
            _ -> Error("bytes_per_gb in " <> what <> " must fit 64 bits")
          }
        False -> Error("bytes_per_gb in " <> what <> " must be a whole number")
      }
    }
    Ok(_) -> Error("bytes_per_gb in " <> what <> " must be a number")
  })
  use included <- chain.then(optional_string(f, "included", what))
  use scope <- chain.then(choice(
    f,
    "scope",
    what,
    [#("customer", CustomerScope), #("resource", ResourceScope)],
    Ok(CustomerScope),
  ))
  use pricing_tree <- chain.then(required(f, "pricing", what))
  use pricing <- chain.then(pricing_spec(pricing_tree, what <> " pricing"))
  Ok(LineSpec(meter, measure, unit, bytes_per_gb, included, scope, pricing))
}

fn pricing_spec(tree: jt.Json, what: String) -> Result(PricingSpec, String) {
  case tree {
    jt.JObject(members) ->
      case lookup(members, "model") {
        Error(Nil) -> Error("missing field `model` in " <> what)
        Ok(jt.JString(model)) -> {
          let rest = without(members, "model", [])
          let fields_of = fn(known) { fields(jt.JObject(rest), what, known) }
          case model {
            "flat" -> {
              use f <- chain.then(fields_of(["unit_price"]))
              use p <- chain.then(required_string(f, "unit_price", what))
              Ok(FlatSpec(p))
            }
            "graduated" | "volume" -> {
              use f <- chain.then(fields_of(["tiers"]))
              use tiers_tree <- chain.then(required(f, "tiers", what))
              use tiers <- chain.then(array(
                tiers_tree,
                what <> " tiers",
                tier_spec,
              ))
              case model {
                "graduated" -> Ok(GraduatedSpec(tiers))
                _ -> Ok(VolumeSpec(tiers))
              }
            }
            "package" -> {
              use f <- chain.then(fields_of(["package_size", "package_price"]))
              use size <- chain.then(required_string(f, "package_size", what))
              use price <- chain.then(required_string(f, "package_price", what))
              Ok(PackageSpec(size, price))
            }
            _ -> Error("unknown model `" <> model <> "` in " <> what)
          }
        }
        Ok(_) -> Error("model in " <> what <> " must be a string")
      }
    _ -> Error(what <> " must be an object")
  }
}

fn without(
  members: List(#(String, jt.Json)),
  key: String,
  acc: List(#(String, jt.Json)),
) -> List(#(String, jt.Json)) {
  case members {
    [] -> bytes.reverse(acc)
    [#(k, v), ..rest] ->
      case k == key {
        True -> without(rest, key, acc)
        False -> without(rest, key, [#(k, v), ..acc])
      }
  }
}

fn tier_spec(tree: jt.Json, what: String) -> Result(TierSpec, String) {
  use f <- chain.then(fields(tree, what, ["up_to", "unit_price", "flat_fee"]))
  use up_to <- chain.then(optional_string(f, "up_to", what))
  use unit_price <- chain.then(required_string(f, "unit_price", what))
  use flat_fee <- chain.then(optional_string(f, "flat_fee", what))
  Ok(TierSpec(up_to, unit_price, flat_fee))
}

// The checks, in plan-name order -------------------------------------------

fn check(
  specs: List(#(String, PlanSpec)),
  customers: map.Map(String, String),
  default_plan: Result(String, Nil),
) -> Result(Plans, engine.BillingError) {
  use plans <- chain.then(check_plans(specs, map.new()))
  let assigned = case default_plan {
    Ok(p) ->
      bytes.reverse([#(p, p), ..bytes.reverse(map.sorted_pairs(customers))])
    Error(Nil) -> map.sorted_pairs(customers)
  }
  use _ <- chain.then(known_plans(assigned, plans))
  Ok(Plans(plans, customers, default_plan))
}

fn known_plans(
  assigned: List(#(String, String)),
  plans: map.Map(String, Plan),
) -> Result(Nil, engine.BillingError) {
  case assigned {
    [] -> Ok(Nil)
    [#(customer, plan), ..rest] ->
      case map.get(plans, plan) {
        Ok(_) -> known_plans(rest, plans)
        Error(Nil) -> Error(engine.UnknownPlan(customer: customer, plan: plan))
      }
  }
}

fn check_plans(
  specs: List(#(String, PlanSpec)),
  acc: map.Map(String, Plan),
) -> Result(map.Map(String, Plan), engine.BillingError) {
  case specs {
    [] -> Ok(acc)
    [#(name, spec), ..rest] -> {
      use lines <- chain.then(check_lines(name, spec.lines, 1, []))
      check_plans(rest, map.put(acc, name, Plan(name, spec.currency, lines)))
    }
  }
}

fn invalid(
  plan: String,
  line: Int,
  reason: String,
) -> Result(a, engine.BillingError) {
  Error(invalid_plan(plan, line, reason))
}

fn invalid_plan(
  plan: String,
  line: Int,
  reason: String,
) -> engine.BillingError {
  engine.PlansInvalid(
    "plan " <> plan <> ", line " <> bytes.int_to_text(line) <> ": " <> reason,
  )
}

fn decimal(
  text: String,
  plan: String,
  line: Int,
  what: String,
) -> Result(billing.Fraction, engine.BillingError) {
  case ratio.parse_decimal(text) {
    Ok(r) -> Ok(r)
    Error(Nil) ->
      invalid(
        plan,
        line,
        what <> " " <> debug_text(text) <> " is not a non-negative decimal",
      )
  }
}

fn optional_decimal(
  text: Result(String, Nil),
  plan: String,
  line: Int,
  what: String,
) -> Result(Result(billing.Fraction, Nil), engine.BillingError) {
  case text {
    Error(Nil) -> Ok(Error(Nil))
    Ok(t) ->
      case decimal(t, plan, line, what) {
        Ok(r) -> Ok(Ok(r))
        Error(e) -> Error(e)
      }
  }
}

fn check_lines(
  plan: String,
  specs: List(LineSpec),
  line: Int,
  acc: List(PlanLine),
) -> Result(List(PlanLine), engine.BillingError) {
  case specs {
    [] -> Ok(bytes.reverse(acc))
    [l, ..rest] -> {
      use pricing <- chain.then(check_pricing(l.pricing, plan, line))
      let unit_fits = case l.measure, l.unit {
        billing.P95Rate, billing.MegabitPerSecond -> True
        billing.P95Rate, _ -> False
        billing.GbMonthAverage, billing.Gigabyte -> True
        billing.GbMonthAverage, _ -> False
        _, billing.MegabitPerSecond -> False
        _, _ -> True
      }
      use <- chain.guard(
        !unit_fits,
        invalid_plan(
          plan,
          line,
          "unit "
            <> unit_debug(l.unit)
            <> " does not fit measure "
            <> measure_name(l.measure),
        ),
      )
      let bytes_per_gb = case l.bytes_per_gb {
        Ok(n) -> n
        Error(Nil) -> gib
      }
      use <- chain.guard(
        bytes_per_gb == 0,
        invalid_plan(plan, line, "bytes_per_gb is 0"),
      )
      use included <- chain.then(optional_decimal(
        l.included,
        plan,
        line,
        "included",
      ))
      let included = case included {
        Ok(r) -> r
        Error(Nil) -> ratio.zero
      }
      // Two such lines would bill under one key: one charge would be lost
      // to the upsert (the same check and words as Rust's).
      use <- same_key_guard(plan, line, l, bytes.reverse(acc), 1)
      let checked =
        PlanLine(
          l.meter,
          l.measure,
          l.unit,
          bytes_per_gb,
          included,
          l.scope,
          pricing,
        )
      check_lines(plan, rest, line + 1, [checked, ..acc])
    }
  }
}

fn same_key_guard(
  plan: String,
  line: Int,
  l: LineSpec,
  before: List(PlanLine),
  n: Int,
  next: fn() -> Result(List(PlanLine), engine.BillingError),
) -> Result(List(PlanLine), engine.BillingError) {
  case before {
    [] -> next()
    [p, ..rest] ->
      case p.meter == l.meter && p.measure == l.measure && p.scope == l.scope {
        True ->
          invalid(
            plan,
            line,
            "same meter, measure and scope as line "
              <> bytes.int_to_text(n)
              <> ": their invoice lines would share a key",
          )
        False -> same_key_guard(plan, line, l, rest, n + 1, next)
      }
  }
}

fn check_pricing(
  spec: PricingSpec,
  plan: String,
  line: Int,
) -> Result(Pricing, engine.BillingError) {
  case spec {
    FlatSpec(p) -> {
      use price <- chain.then(decimal(p, plan, line, "unit_price"))
      Ok(Flat(price))
    }
    GraduatedSpec(t) -> {
      use tiers <- chain.then(check_tiers(t, plan, line, []))
      Ok(Graduated(tiers))
    }
    VolumeSpec(t) -> {
      use tiers <- chain.then(check_tiers(t, plan, line, []))
      Ok(Volume(tiers))
    }
    PackageSpec(size_text, price_text) -> {
      use size <- chain.then(decimal(size_text, plan, line, "package_size"))
      use <- chain.guard(
        ratio.is_zero(size),
        invalid_plan(plan, line, "package_size is 0"),
      )
      use price <- chain.then(decimal(price_text, plan, line, "package_price"))
      Ok(Package(size, price))
    }
  }
}

// `acc` holds the tiers checked so far, last first.
fn check_tiers(
  specs: List(TierSpec),
  plan: String,
  line: Int,
  acc: List(Tier),
) -> Result(List(Tier), engine.BillingError) {
  case specs, acc {
    [], [] -> invalid(plan, line, "tiers are empty")
    [], [Tier(up_to: Ok(_), ..), ..] ->
      invalid(plan, line, "the last tier must have no up_to")
    [], _ -> Ok(bytes.reverse(acc))
    [t, ..rest], _ -> {
      use up_to <- chain.then(optional_decimal(t.up_to, plan, line, "up_to"))
      use <- chain.guard(
        up_to == Error(Nil) && rest != [],
        invalid_plan(plan, line, "only the last tier may have no up_to"),
      )
      let descending = case acc, up_to {
        [Tier(up_to: Ok(prev), ..), ..], Ok(cur) ->
          ratio.compare(cur, prev) <= 0
        _, _ -> False
      }
      use <- chain.guard(
        descending,
        invalid_plan(plan, line, "tier bounds must ascend"),
      )
      use unit_price <- chain.then(decimal(
        t.unit_price,
        plan,
        line,
        "unit_price",
      ))
      use flat_fee <- chain.then(optional_decimal(
        t.flat_fee,
        plan,
        line,
        "flat_fee",
      ))
      let flat_fee = case flat_fee {
        Ok(f) -> f
        Error(Nil) -> ratio.zero
      }
      check_tiers(rest, plan, line, [Tier(up_to, unit_price, flat_fee), ..acc])
    }
  }
}

/// The measure's name in plans and invoice keys.
pub fn measure_name(m: billing.Measure) -> String {
  case m {
    billing.Total -> "total"
    billing.P95Rate -> "p95_rate"
    billing.GbMonthAverage -> "gb_month_average"
    billing.Peak -> "peak"
  }
}

// The unit as Rust's `{:?}` names its variant.
fn unit_debug(u: billing.QuantityUnit) -> String {
  case u {
    billing.PlainUnit -> "Unit"
    billing.Gigabyte -> "Gb"
    billing.MegabitPerSecond -> "Mbps"
  }
}

// Text quoted as Rust's `{:?}` quotes a string: `"`, `\` and control
// characters escaped.
fn debug_text(text: String) -> String {
  "\"" <> bytes.to_text(escape(<<text:utf8>>, 0, <<>>)) <> "\""
}

fn escape(b: BitArray, i: Int, out: BitArray) -> BitArray {
  case bytes.at(b, i) {
    -1 -> out
    34 -> escape(b, i + 1, bytes.append(out, <<"\\\"":utf8>>))
    92 -> escape(b, i + 1, bytes.append(out, <<"\\\\":utf8>>))
    10 -> escape(b, i + 1, bytes.append(out, <<"\\n":utf8>>))
    13 -> escape(b, i + 1, bytes.append(out, <<"\\r":utf8>>))
    9 -> escape(b, i + 1, bytes.append(out, <<"\\t":utf8>>))
    0 -> escape(b, i + 1, bytes.append(out, <<"\\0":utf8>>))
    c if c < 32 || c == 127 -> {
      let code: String = hex(c)
      escape(b, i + 1, bytes.append(out, <<"\\u{":utf8, code:utf8, "}":utf8>>))
    }
    c -> escape(b, i + 1, bytes.append_byte(out, c))
  }
}

fn hex(n: Int) -> String {
  let digit = fn(d) {
    case d < 10 {
      True -> bytes.int_to_text(d)
      False ->
        case d {
          10 -> "a"
          11 -> "b"
          12 -> "c"
          13 -> "d"
          14 -> "e"
          _ -> "f"
        }
    }
  }
  case n < 16 {
    True -> digit(n)
    False -> digit(n / 16) <> digit(n % 16)
  }
}
