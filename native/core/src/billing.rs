//! Billing: a period's usage and a plans file into invoice lines.
//!
//! Rules (also in README, "Plans file"):
//! * Quantities are exact rationals; money is an integer count of the plan
//!   currency's minor units. Prices are decimals of minor units per unit
//!   (`"2.3"` = 2.3 cents per GB). Each line's amount is computed exactly
//!   and rounded once, half up, to a whole minor unit.
//! * 1 GB is 2^30 bytes unless a line sets `bytes_per_gb` (e.g. 1000000000).
//! * `included` is deducted from the quantity used; tiers and packages apply
//!   to the overage that is left.
//! * Measures: `total` (sum of the period's events), `p95_rate` (the 95th
//!   percentile of 5-minute rates: every 5-minute interval of the period,
//!   missing ones as 0, sorted, the top floor(5%) dropped, the highest left
//!   billed; 28/30/31-day months have 8064/8640/8928 intervals and drop
//!   403/432/446), `gb_month_average` (byte-milliseconds of the gauge's
//!   samples, each lasting until the next sample, the period end, or the
//!   gap cap, whichever is first; divided by GB and by the period length),
//!   and `peak` (the highest level; for a customer-scope line, the highest
//!   sum over the customer's resources at any sample time).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::aggregate::{period_label, PeriodUsage, SeriesUsage, RATE_INTERVAL_MS};
use crate::ratio::{Overflow, Ratio};
use crate::shard::shard_of;

const GIB: u128 = 1 << 30;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BillingError {
    #[error("plans file: {0}")]
    PlansSyntax(String),
    #[error("plan {plan}, line {line}: {reason}")]
    InvalidPlan {
        plan: String,
        line: usize,
        reason: String,
    },
    #[error("customer {customer} is assigned the unknown plan {plan}")]
    UnknownPlan { customer: String, plan: String },
    #[error("amount for {key} overflows 128 bits")]
    Overflow { key: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub enum Measure {
    Total,
    P95Rate,
    GbMonthAverage,
    Peak,
}

impl Measure {
    pub fn name(self) -> &'static str {
        match self {
            Measure::Total => "total",
            Measure::P95Rate => "p95_rate",
            Measure::GbMonthAverage => "gb_month_average",
            Measure::Peak => "peak",
        }
    }
}

/// The unit a line's quantity is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub enum Unit {
    /// The meter's own unit (requests, bytes).
    #[default]
    #[serde(rename = "unit")]
    #[cfg_attr(feature = "gleam", gleam(tag = "plain_unit"))]
    Unit,
    #[serde(rename = "GB")]
    #[cfg_attr(feature = "gleam", gleam(tag = "gigabyte"))]
    Gb,
    /// Megabits per second (10^6), for `p95_rate`.
    #[serde(rename = "Mbps")]
    #[cfg_attr(feature = "gleam", gleam(tag = "megabit_per_second"))]
    Mbps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One line per customer, over all its resources.
    #[default]
    Customer,
    /// One line per resource.
    Resource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// Upper bound of the tier (inclusive), in the line's unit; absent = no bound.
    pub up_to: Option<String>,
    pub unit_price: String,
    pub flat_fee: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum PricingSpec {
    Flat {
        unit_price: String,
    },
    Graduated {
        tiers: Vec<TierSpec>,
    },
    Volume {
        tiers: Vec<TierSpec>,
    },
    Package {
        package_size: String,
        package_price: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLineSpec {
    pub meter: String,
    pub measure: Measure,
    #[serde(default)]
    pub unit: Unit,
    pub bytes_per_gb: Option<u64>,
    pub included: Option<String>,
    #[serde(default)]
    pub scope: Scope,
    pub pricing: PricingSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    pub currency: String,
    pub lines: Vec<PlanLineSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlansSpec {
    pub plans: BTreeMap<String, PlanSpec>,
    #[serde(default)]
    pub customers: BTreeMap<String, String>,
    pub default_plan: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub up_to: Option<Ratio>,
    pub unit_price: Ratio,
    pub flat_fee: Ratio,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pricing {
    Flat { unit_price: Ratio },
    Graduated(Vec<Tier>),
    Volume(Vec<Tier>),
    Package { size: Ratio, price: Ratio },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLine {
    pub meter: String,
    pub measure: Measure,
    pub unit: Unit,
    pub bytes_per_gb: u128,
    pub included: Ratio,
    pub scope: Scope,
    pub pricing: Pricing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub currency: String,
    pub lines: Vec<PlanLine>,
}

/// Plans, checked: every price parsed, tiers ascending, every customer's plan known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans {
    pub plans: BTreeMap<String, Plan>,
    pub customers: BTreeMap<String, String>,
    pub default_plan: Option<String>,
}

fn decimal(text: &str, plan: &str, line: usize, what: &str) -> Result<Ratio, BillingError> {
    Ratio::parse_decimal(text).ok_or_else(|| BillingError::InvalidPlan {
        plan: plan.into(),
        line,
        reason: format!("{what} {text:?} is not a non-negative decimal"),
    })
}

fn tiers(specs: &[TierSpec], plan: &str, line: usize) -> Result<Vec<Tier>, BillingError> {
    let invalid = |reason: &str| BillingError::InvalidPlan {
        plan: plan.into(),
        line,
        reason: reason.into(),
    };
    if specs.is_empty() {
        return Err(invalid("tiers are empty"));
    }
    let mut out: Vec<Tier> = Vec::new();
    for (i, t) in specs.iter().enumerate() {
        let up_to = t
            .up_to
            .as_deref()
            .map(|u| decimal(u, plan, line, "up_to"))
            .transpose()?;
        if up_to.is_none() && i + 1 != specs.len() {
            return Err(invalid("only the last tier may have no up_to"));
        }
        if let (Some(prev), Some(cur)) = (out.last().and_then(|p| p.up_to), up_to) {
            if cur <= prev {
                return Err(invalid("tier bounds must ascend"));
            }
        }
        out.push(Tier {
            up_to,
            unit_price: decimal(&t.unit_price, plan, line, "unit_price")?,
            flat_fee: t
                .flat_fee
                .as_deref()
                .map(|f| decimal(f, plan, line, "flat_fee"))
                .transpose()?
                .unwrap_or(Ratio::ZERO),
        });
    }
    if out.last().is_some_and(|t| t.up_to.is_some()) {
        return Err(invalid("the last tier must have no up_to"));
    }
    Ok(out)
}

impl Plans {
    /// Reads and checks a plans file (JSON).
    pub fn from_json(text: &str) -> Result<Plans, BillingError> {
        // serde would keep the last copy of a repeated key (a plan defined twice).
        if let Some(repeated) = crate::json::first_repeated_key(text) {
            return Err(BillingError::PlansSyntax(repeated.to_string()));
        }
        let spec: PlansSpec =
            serde_json::from_str(text).map_err(|e| BillingError::PlansSyntax(e.to_string()))?;
        Plans::from_spec(spec)
    }

    pub fn from_spec(spec: PlansSpec) -> Result<Plans, BillingError> {
        let mut plans = BTreeMap::new();
        for (name, p) in spec.plans {
            let mut lines = Vec::new();
            for (i, l) in p.lines.into_iter().enumerate() {
                let line = i + 1;
                let pricing = match &l.pricing {
                    PricingSpec::Flat { unit_price } => Pricing::Flat {
                        unit_price: decimal(unit_price, &name, line, "unit_price")?,
                    },
                    PricingSpec::Graduated { tiers: t } => Pricing::Graduated(tiers(t, &name, line)?),
                    PricingSpec::Volume { tiers: t } => Pricing::Volume(tiers(t, &name, line)?),
                    PricingSpec::Package {
                        package_size,
                        package_price,
                    } => {
                        let size = decimal(package_size, &name, line, "package_size")?;
                        if size.is_zero() {
                            return Err(BillingError::InvalidPlan {
                                plan: name,
                                line,
                                reason: "package_size is 0".into(),
                            });
                        }
                        Pricing::Package {
                            size,
                            price: decimal(package_price, &name, line, "package_price")?,
                        }
                    }
                };
                let unit_fits = match l.measure {
                    Measure::P95Rate => l.unit == Unit::Mbps,
                    Measure::GbMonthAverage => l.unit == Unit::Gb,
                    Measure::Total | Measure::Peak => l.unit != Unit::Mbps,
                };
                if !unit_fits {
                    return Err(BillingError::InvalidPlan {
                        plan: name,
                        line,
                        reason: format!("unit {:?} does not fit measure {}", l.unit, l.measure.name()),
                    });
                }
                let bytes_per_gb = l.bytes_per_gb.map_or(GIB, |b| b as u128);
                if bytes_per_gb == 0 {
                    return Err(BillingError::InvalidPlan {
                        plan: name,
                        line,
                        reason: "bytes_per_gb is 0".into(),
                    });
                }
                let included = l
                    .included
                    .as_deref()
                    .map(|v| decimal(v, &name, line, "included"))
                    .transpose()?
                    .unwrap_or(Ratio::ZERO);
                // Two such lines would bill under one key: one charge would be lost to the upsert.
                if let Some(first) = lines.iter().position(|p: &PlanLine| {
                    p.meter == l.meter && p.measure == l.measure && p.scope == l.scope
                }) {
                    return Err(BillingError::InvalidPlan {
                        plan: name,
                        line,
                        reason: format!(
                            "same meter, measure and scope as line {}: their invoice lines would share a key",
                            first + 1
                        ),
                    });
                }
                lines.push(PlanLine {
                    included,
                    meter: l.meter,
                    measure: l.measure,
                    unit: l.unit,
                    bytes_per_gb,
                    scope: l.scope,
                    pricing,
                });
            }
            plans.insert(
                name.clone(),
                Plan {
                    name,
                    currency: p.currency,
                    lines,
                },
            );
        }
        for (customer, plan) in spec
            .customers
            .iter()
            .chain(spec.default_plan.iter().map(|p| (p, p)))
        {
            if !plans.contains_key(plan) {
                return Err(BillingError::UnknownPlan {
                    customer: customer.clone(),
                    plan: plan.clone(),
                });
            }
        }
        Ok(Plans {
            plans,
            customers: spec.customers,
            default_plan: spec.default_plan,
        })
    }

    pub fn plan_for(&self, customer: &str) -> Option<&Plan> {
        let name = self.customers.get(customer).or(self.default_plan.as_ref())?;
        self.plans.get(name)
    }
}

/// The last plans parsed, kept with their text, so that the shards of one
/// close (each billing its customers with the same plans file) parse it
/// once: they run at once, the first parses while the others wait for it
/// and share the result. A different text replaces it; refused plans are
/// not kept. Holds one plans file (its text and its parsed form) between
/// closes. An adapter keeps one in a `static`.
#[derive(Debug, Default)]
pub struct PlansCache(std::sync::Mutex<Option<CachedPlans>>);

/// A plans file's text and its parsed form.
type CachedPlans = (Box<[u8]>, std::sync::Arc<Plans>);

impl PlansCache {
    pub const fn new() -> PlansCache {
        PlansCache(std::sync::Mutex::new(None))
    }

    /// [`Plans::from_json`] of `text`, or the plans parsed from the same text last time.
    pub fn parse(&self, text: &str) -> Result<std::sync::Arc<Plans>, BillingError> {
        // A panic while parsing leaves the slot as it was: its value is still whole.
        let mut slot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((kept, plans)) = slot.as_ref() {
            if **kept == *text.as_bytes() {
                return Ok(plans.clone());
            }
        }
        let plans = std::sync::Arc::new(Plans::from_json(text)?);
        *slot = Some((text.as_bytes().into(), plans.clone()));
        Ok(plans)
    }
}

/// One line of an invoice. `key` identifies the line across versions
/// (see [`line_key`]), so an invoice system can upsert on it and keep the
/// highest `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct InvoiceLine {
    pub key: String,
    pub customer: String,
    pub resource: String,
    pub meter: String,
    pub measure: Measure,
    pub period: String,
    pub version: u32,
    pub plan: String,
    pub currency: String,
    pub unit: Unit,
    pub used: Ratio,
    pub included: Ratio,
    pub overage: Ratio,
    /// The price per unit for flat pricing; the highest tier reached for
    /// graduated and volume; the price per package for packages.
    pub unit_price: Ratio,
    pub amount_minor: u128,
}

/// One invoice line as billing works it out, its texts borrowed: what an
/// [`InvoiceLine`] owns, and what `crate::written` writes without owning
/// it (a close of millions of lines, seven texts each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef<'a> {
    pub key: &'a str,
    pub customer: &'a str,
    pub resource: &'a str,
    pub meter: &'a str,
    pub measure: Measure,
    pub period: &'a str,
    pub version: u32,
    pub plan: &'a str,
    pub currency: &'a str,
    pub unit: Unit,
    pub used: Ratio,
    pub included: Ratio,
    pub overage: Ratio,
    pub unit_price: Ratio,
    pub amount_minor: u128,
}

impl InvoiceLine {
    /// The line with its texts borrowed.
    pub fn as_line_ref(&self) -> LineRef<'_> {
        LineRef {
            key: &self.key,
            customer: &self.customer,
            resource: &self.resource,
            meter: &self.meter,
            measure: self.measure,
            period: &self.period,
            version: self.version,
            plan: &self.plan,
            currency: &self.currency,
            unit: self.unit,
            used: self.used,
            included: self.included,
            overage: self.overage,
            unit_price: self.unit_price,
            amount_minor: self.amount_minor,
        }
    }
}

impl LineRef<'_> {
    /// The line with its texts owned.
    pub fn owned(&self) -> InvoiceLine {
        InvoiceLine {
            key: self.key.to_string(),
            customer: self.customer.to_string(),
            resource: self.resource.to_string(),
            meter: self.meter.to_string(),
            measure: self.measure,
            period: self.period.to_string(),
            version: self.version,
            plan: self.plan.to_string(),
            currency: self.currency.to_string(),
            unit: self.unit,
            used: self.used,
            included: self.included,
            overage: self.overage,
            unit_price: self.unit_price,
            amount_minor: self.amount_minor,
        }
    }
}

/// The invoice lines of one period, and the customers with usage but no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct Invoice {
    pub lines: Vec<InvoiceLine>,
    pub unbilled_customers: Vec<String>,
}

/// An invoice line's key: `customer/resource/meter/measure/period`, each
/// part percent-encoded (`%`, `/`, `*`, space and control bytes as `%XX`,
/// uppercase hex; other characters kept as UTF-8), and the resource of a
/// customer-scope line the bare `*`. Distinct lines have distinct keys by
/// construction: no part contains a bare `/`, and no encoded resource is
/// `*`. The version is not part of it: a reissue keeps the key.
pub fn line_key(
    customer: &str,
    scope: Scope,
    resource: &str,
    meter: &str,
    measure: Measure,
    period: &str,
) -> String {
    let mut key = String::with_capacity(customer.len() + resource.len() + meter.len() + 32);
    push_line_key(&mut key, customer, scope, resource, meter, measure, period);
    key
}

/// Appends [`line_key`]'s key to `key`.
fn push_line_key(
    key: &mut String,
    customer: &str,
    scope: Scope,
    resource: &str,
    meter: &str,
    measure: Measure,
    period: &str,
) {
    encode_part(customer, key);
    key.push('/');
    match scope {
        Scope::Customer => key.push('*'),
        Scope::Resource => encode_part(resource, key),
    }
    key.push('/');
    encode_part(meter, key);
    key.push('/');
    encode_part(measure.name(), key);
    key.push('/');
    encode_part(period, key);
}

fn encode_part(part: &str, out: &mut String) {
    for c in part.chars() {
        match c {
            '%' | '/' | '*' | ' ' | '\u{7f}' | '\0'..='\u{1f}' => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                let b = c as u8;
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
            _ => out.push(c),
        }
    }
}

/// The price of `quantity` under `pricing`, exact, and the unit price shown.
pub fn price(pricing: &Pricing, quantity: Ratio) -> Result<(Ratio, Ratio), Overflow> {
    match pricing {
        Pricing::Flat { unit_price } => Ok((quantity.checked_mul(*unit_price)?, *unit_price)),
        Pricing::Package { size, price } => {
            let packages = Ratio::new(quantity.num(), quantity.den())
                .checked_mul(Ratio::new(size.den(), size.num()))?
                .ceil();
            Ok((Ratio::int(packages).checked_mul(*price)?, *price))
        }
        Pricing::Graduated(tiers) => {
            if quantity.is_zero() {
                return Ok((Ratio::ZERO, tiers[0].unit_price));
            }
            // Each tier reached prices the units inside it, plus its flat fee.
            let (mut total, mut lower, mut shown) = (Ratio::ZERO, Ratio::ZERO, tiers[0].unit_price);
            for t in tiers {
                let upper = t.up_to.map_or(quantity, |u| u.min(quantity));
                total = total
                    .checked_add(upper.saturating_sub(lower)?.checked_mul(t.unit_price)?)?
                    .checked_add(t.flat_fee)?;
                shown = t.unit_price;
                match t.up_to {
                    Some(u) if quantity > u => lower = u,
                    _ => break,
                }
            }
            Ok((total, shown))
        }
        Pricing::Volume(tiers) => {
            if quantity.is_zero() {
                return Ok((Ratio::ZERO, tiers[0].unit_price));
            }
            let t = tiers
                .iter()
                .find(|t| t.up_to.is_none_or(|u| quantity <= u))
                .unwrap_or(&tiers[tiers.len() - 1]);
            Ok((
                quantity.checked_mul(t.unit_price)?.checked_add(t.flat_fee)?,
                t.unit_price,
            ))
        }
    }
}

/// The 95th-percentile interval value of a period with `intervals` 5-minute
/// intervals, given the non-zero ones: all `max(intervals, values.len())`
/// values sorted from the highest (the missing ones as 0), the top floor(5%)
/// dropped, the highest left. Selection, not a sort: O(values), so a
/// customer with traffic in 3 intervals costs 3, not the month's 8928.
pub fn p95_interval_value(values: &[u128], intervals: usize) -> u128 {
    let n = intervals.max(values.len());
    let dropped = n * 5 / 100;
    if dropped >= values.len() {
        return 0; // the highest left is one of the missing intervals
    }
    let mut v = values.to_vec();
    let (_, nth, _) = v.select_nth_unstable_by(dropped, |a, b| b.cmp(a));
    *nth
}

/// Byte-milliseconds of one gauge series: each sample lasts until the next,
/// the period end, or `cap_ms`, whichever comes first.
pub fn byte_ms(samples: &[(i64, u64)], period_end_ms: i64, cap_ms: i64) -> u128 {
    let mut total = 0u128;
    for (i, &(t, level)) in samples.iter().enumerate() {
        let next = samples
            .get(i + 1)
            .map_or(period_end_ms, |s| s.0)
            .min(period_end_ms);
        // min then max, not clamp: a negative cap (a config may hold one) must
        // mean "lasts 0", not a panic.
        let lasts = (next - t).min(cap_ms).max(0);
        total += level as u128 * lasts as u128;
    }
    total
}

/// The highest sum of levels over several gauge series at any sample time.
pub fn peak_of_sum(series: &[&[(i64, u64)]], cap_ms: i64) -> u128 {
    let times: BTreeSet<i64> = series.iter().flat_map(|s| s.iter().map(|p| p.0)).collect();
    let mut best = 0u128;
    for &t in &times {
        let sum: u128 = series
            .iter()
            .map(|s| {
                let at = s.partition_point(|p| p.0 <= t);
                match at.checked_sub(1).map(|i| s[i]) {
                    Some((ts, level)) if t - ts < cap_ms || ts == t => level as u128,
                    _ => 0,
                }
            })
            .sum();
        best = best.max(sum);
    }
    best
}

/// The quantity used, in the line's unit, over a group of series.
fn quantity(line: &PlanLine, group: &[&SeriesUsage], usage: &PeriodUsage) -> Result<Ratio, Overflow> {
    let period_ms = (usage.period_end_ms - usage.period_start_ms) as u128;
    let per_gb = |bytes: u128| {
        if line.unit == Unit::Gb {
            Ratio::new(bytes, line.bytes_per_gb)
        } else {
            Ratio::int(bytes)
        }
    };
    Ok(match line.measure {
        Measure::Total => per_gb(group.iter().map(|s| s.total).sum()),
        Measure::P95Rate => {
            // The group's intervals summed by index: one sort, no tree.
            let mut all: Vec<(u32, u128)> = group
                .iter()
                .flat_map(|s| s.rate_intervals.iter().copied())
                .collect();
            if group.len() > 1 {
                all.sort_unstable_by_key(|&(i, _)| i);
            }
            let mut values: Vec<u128> = Vec::with_capacity(all.len());
            let mut last = None;
            for (i, v) in all {
                if last == Some(i) {
                    *values.last_mut().expect("a value for the last interval") += v;
                } else {
                    values.push(v);
                    last = Some(i);
                }
            }
            let bytes = p95_interval_value(&values, (period_ms / RATE_INTERVAL_MS as u128) as usize);
            // bytes per 300 s, in bits per second, in Mbps.
            Ratio::new(bytes * 8, 300 * 1_000_000)
        }
        Measure::GbMonthAverage => {
            let total: u128 = group
                .iter()
                .map(|s| byte_ms(&s.samples, usage.period_end_ms, usage.gauge_gap_cap_ms))
                .sum();
            Ratio::new(total, 1).checked_mul(Ratio::new(
                1,
                line.bytes_per_gb.checked_mul(period_ms).ok_or(Overflow)?,
            ))?
        }
        Measure::Peak => {
            let series: Vec<&[(i64, u64)]> = group.iter().map(|s| s.samples.as_slice()).collect();
            per_gb(peak_of_sum(&series, usage.gauge_gap_cap_ms))
        }
    })
}

/// Bills one period: every customer in `usage` or in the plans gets a line
/// for each line of its plan (customer scope), or one per resource with
/// usage (resource scope). Lines come in customer order, then plan-line
/// order, then resource order.
pub fn bill(usage: &PeriodUsage, plans: &Plans, version: u32) -> Result<Invoice, BillingError> {
    bill_where(usage, plans, version, |_| true)
}

/// Bills the customers of one shard: those (with usage, or named in the
/// plans) whose `shard_of(customer, shards)` is `shard`. The invoices of the
/// shards `0..shards` together are exactly `bill` of all their usage.
pub fn bill_shard(
    usage: &PeriodUsage,
    plans: &Plans,
    version: u32,
    shard: u32,
    shards: u32,
) -> Result<Invoice, BillingError> {
    bill_where(usage, plans, version, |c| shard_of(c, shards) == shard)
}

/// [`bill_shard`]'s lines handed to `emit` one by one, in the same order,
/// none of them owned; returns the customers with usage but no plan.
pub fn bill_shard_lines(
    usage: &PeriodUsage,
    plans: &Plans,
    version: u32,
    (shard, shards): (u32, u32),
    emit: &mut dyn FnMut(&LineRef<'_>),
) -> Result<Vec<String>, BillingError> {
    bill_each(usage, plans, version, |c| shard_of(c, shards) == shard, emit)
}

/// Each customer's series, in customer order: one pass after a sort by
/// customer (the aggregator hands series sorted by key, where the stable
/// sort only checks the order), merged with the customers the plans name.
fn by_customer<'a>(
    usage: &'a PeriodUsage,
    plans: &'a Plans,
    keep: &impl Fn(&str) -> bool,
) -> Vec<(&'a str, Vec<&'a SeriesUsage>)> {
    let mut series: Vec<&SeriesUsage> = usage.series.iter().filter(|s| keep(&s.key.customer)).collect();
    series.sort_by(|a, b| a.key.customer.cmp(&b.key.customer));
    let mut named = plans
        .customers
        .keys()
        .map(String::as_str)
        .filter(|c| keep(c))
        .peekable();
    let mut out: Vec<(&str, Vec<&SeriesUsage>)> = Vec::new();
    let mut rest = series.as_slice();
    while let Some(first) = rest.first() {
        let customer: &str = &first.key.customer;
        let n = rest.iter().take_while(|s| &*s.key.customer == customer).count();
        while let Some(c) = named.next_if(|c| *c < customer) {
            out.push((c, Vec::new()));
        }
        named.next_if(|c| *c == customer);
        out.push((customer, rest[..n].to_vec()));
        rest = &rest[n..];
    }
    out.extend(named.map(|c| (c, Vec::new())));
    out
}

fn bill_where(
    usage: &PeriodUsage,
    plans: &Plans,
    version: u32,
    keep: impl Fn(&str) -> bool,
) -> Result<Invoice, BillingError> {
    let mut lines = Vec::new();
    let unbilled = bill_each(usage, plans, version, keep, &mut |l| lines.push(l.owned()))?;
    Ok(Invoice {
        lines,
        unbilled_customers: unbilled,
    })
}

/// Bills the customers `keep` keeps, handing each line to `emit`; returns
/// the customers with usage but no plan.
fn bill_each(
    usage: &PeriodUsage,
    plans: &Plans,
    version: u32,
    keep: impl Fn(&str) -> bool,
    emit: &mut dyn FnMut(&LineRef<'_>),
) -> Result<Vec<String>, BillingError> {
    let mut biller = Biller::new(usage, plans, version);
    let mut unbilled = Vec::new();
    for (customer, series) in by_customer(usage, plans, &keep) {
        if !biller.bill(customer, &series, emit)? {
            unbilled.push(customer.to_string());
        }
    }
    Ok(unbilled)
}

/// How many lines a customer's plan gives it: one per customer-scope line,
/// one per resource with usage of the meter for a resource-scope line
/// (what [`Biller::bill`] emits).
pub fn lines_of(plan: &Plan, series: &[&SeriesUsage]) -> usize {
    plan.lines
        .iter()
        .map(|line| match line.scope {
            Scope::Customer => 1,
            Scope::Resource => series
                .iter()
                .filter(|s| *s.key.meter == line.meter)
                .map(|s| &*s.key.resource)
                .collect::<BTreeSet<&str>>()
                .len(),
        })
        .sum()
}

/// Bills customers one at a time, each with its series: what [`bill`] does
/// for every customer, and a close in rounds (`crate::aggregate`) for the
/// customers of a round. `usage` gives the period (its series are not read).
pub struct Biller<'a> {
    usage: &'a PeriodUsage,
    plans: &'a Plans,
    version: u32,
    period: String,
    /// One key text, written again for each line.
    key: String,
}

impl<'a> Biller<'a> {
    pub fn new(usage: &'a PeriodUsage, plans: &'a Plans, version: u32) -> Biller<'a> {
        Biller {
            usage,
            plans,
            version,
            period: period_label(usage.period_start_ms),
            key: String::new(),
        }
    }

    /// Hands each line of `customer` (whose series in the period are
    /// `series`, in key order) to `emit`; false when it has no plan.
    pub fn bill(
        &mut self,
        customer: &str,
        series: &[&SeriesUsage],
        emit: &mut dyn FnMut(&LineRef<'_>),
    ) -> Result<bool, BillingError> {
        let Some(plan) = self.plans.plan_for(customer) else {
            return Ok(false);
        };
        let (usage, version, period, key) = (self.usage, self.version, &self.period, &mut self.key);
        for line in &plan.lines {
            let of_meter = series.iter().copied().filter(|s| *s.key.meter == line.meter);
            let groups: Vec<(&str, Vec<&SeriesUsage>)> = match line.scope {
                Scope::Customer => vec![("*", of_meter.collect())],
                Scope::Resource => {
                    let mut by: BTreeMap<&str, Vec<&SeriesUsage>> = BTreeMap::new();
                    for s in of_meter {
                        by.entry(&s.key.resource).or_default().push(s);
                    }
                    by.into_iter().collect()
                }
            };
            for (resource, group) in groups {
                key.clear();
                push_line_key(
                    key,
                    customer,
                    line.scope,
                    resource,
                    &line.meter,
                    line.measure,
                    period,
                );
                let overflow = |_| BillingError::Overflow { key: key.clone() };
                let used = quantity(line, &group, usage).map_err(overflow)?;
                let overage = used.saturating_sub(line.included).map_err(overflow)?;
                let (amount, unit_price) = price(&line.pricing, overage).map_err(overflow)?;
                emit(&LineRef {
                    key,
                    customer,
                    resource,
                    meter: &line.meter,
                    measure: line.measure,
                    period,
                    version,
                    plan: &plan.name,
                    currency: &plan.currency,
                    unit: line.unit,
                    used,
                    included: line.included,
                    overage,
                    unit_price,
                    amount_minor: amount.round_half_up(),
                });
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text is parsed once (the same plans come back); another
    /// text replaces it; refused plans are an error each time, never kept.
    #[test]
    fn plans_are_parsed_once_per_text() {
        let cache = PlansCache::new();
        let a = r#"{"plans": {"p": {"currency": "EUR", "lines": []}}, "default_plan": "p"}"#;
        let b = r#"{"plans": {"q": {"currency": "USD", "lines": []}}, "default_plan": "q"}"#;
        let first = cache.parse(a).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &cache.parse(a).unwrap()));
        let other = cache.parse(b).unwrap();
        assert_eq!(other.default_plan.as_deref(), Some("q"));
        assert!(!std::sync::Arc::ptr_eq(&first, &cache.parse(a).unwrap()));
        assert_eq!(*cache.parse(a).unwrap(), Plans::from_json(a).unwrap());
        let bad = r#"{"plans": {}, "default_plan": "gone"}"#;
        assert_eq!(cache.parse(bad), Err(Plans::from_json(bad).unwrap_err()));
        assert!(cache.parse(bad).is_err());
    }
}
