//! A period closed and billed in rounds: one shard's customers billed a
//! round at a time, each round's lines handed out before the next is
//! billed, so a close holds a round of lines, not the period's invoice.
//!
//! Between rounds the aggregator keeps a cursor over the closing period:
//! the shard's series with usage in it, in key order, each with its
//! windows' sums and its period slot (40 bytes a series; the period's
//! usage as [`Aggregator::period_usage`] builds it, keys and intervals
//! copied, takes ~270). A round builds the usage of its own customers only.
//! The cursor is dropped with the last round (or an error), by a reset or a
//! merge; a round that does not continue the last one (another period,
//! plans, version, shard or first customer) builds it again.

use std::ops::Bound;
use std::sync::Arc;

use super::{month_end, Aggregator, SeriesUsage};
use crate::aggregate::PeriodUsage;
use crate::billing::{lines_of, Biller, BillingError, LineRef, Plans};
use crate::shard::shard_of;

/// No period slot: the series has windows in the period but no rate or gauge data.
const NO_SLOT: u32 = u32::MAX;

/// One series of the closing period: its windows' sums, and where its
/// rate intervals and samples are.
struct Series {
    total_lo: u64,
    total_hi: u64,
    count: u64,
    max: u64,
    id: u32,
    slot: u32,
}

impl Series {
    fn total(&self) -> u128 {
        (u128::from(self.total_hi) << 64) | u128::from(self.total_lo)
    }
}

/// The cursor of a close in rounds.
pub(super) struct Closing {
    period_start_ms: i64,
    plans: Arc<Plans>,
    version: u32,
    shard: u32,
    shards: u32,
    /// The shard's series with usage in the period, in key order.
    series: Vec<Series>,
    /// Where the next round starts, and its first customer.
    pos: usize,
    next: Option<Box<str>>,
}

/// What a round ends with besides its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundEnd {
    /// Customers of the round with usage but no plan, in order.
    pub unbilled_customers: Vec<String>,
    /// The first customer not billed yet (the next round's `from`); `None`
    /// once every customer of the shard is billed.
    pub next: Option<String>,
}

/// Which round of which close.
pub struct Round<'a> {
    pub period_start_ms: i64,
    pub plans: Arc<Plans>,
    pub version: u32,
    pub shard: u32,
    pub shards: u32,
    /// Bill the customers from this one on (in byte order); `None`: from the first.
    pub from: Option<&'a str>,
    /// Stop before the customer whose lines would take the round past this
    /// many (a round bills at least one customer with lines).
    pub max_lines: usize,
}

impl Aggregator {
    /// One round of closing the period at `round.period_start_ms` and
    /// billing shard `round.shard` of `round.shards`: the period is closed
    /// (later events for it are kept aside as late), then the customers of
    /// the shard (with usage in the period, or named in the plans) from
    /// `round.from` on are billed in order, each line handed to `emit`, up
    /// to the line budget. The rounds from `None` to the round whose `next`
    /// is `None`, each from the last one's `next`, bill exactly what
    /// [`crate::billing::bill_shard`] bills, in the same order.
    pub fn close_round(
        &mut self,
        round: Round<'_>,
        emit: &mut dyn FnMut(&LineRef<'_>),
    ) -> Result<RoundEnd, BillingError> {
        self.mark_closed(round.period_start_ms);
        let mut cursor = match (self.closing.take(), round.from) {
            (Some(c), Some(from)) if c.continues(&round, from) => c,
            _ => Box::new(self.cursor(&round)),
        };
        let result = self.bill_round(&mut cursor, &round, emit);
        // Kept for the next round (dropped after the last, or on an error).
        if matches!(&result, Ok(end) if end.next.is_some()) {
            self.closing = Some(cursor);
        }
        result
    }

    /// The cursor of `round`'s close, positioned at its first customer.
    fn cursor(&self, round: &Round<'_>) -> Closing {
        let start = round.period_start_ms;
        let end = month_end(start);
        const NONE: u32 = u32::MAX;
        // Each series of the shard found by its index, its windows summed.
        let mut at: Vec<u32> = vec![NONE; self.series.len()];
        let mut mine: Vec<Option<bool>> = vec![None; self.series.len()];
        let mut series: Vec<Series> = Vec::new();
        for ((s, w), window) in self.windows.iter() {
            if w < start || w >= end {
                continue;
            }
            let here = mine[s as usize]
                .get_or_insert_with(|| shard_of(self.series.parts(s).0, round.shards) == round.shard);
            if !*here {
                continue;
            }
            let st = self.windows.get(window);
            let i = &mut at[s as usize];
            if *i == NONE {
                *i = series.len() as u32;
                series.push(Series {
                    total_lo: 0,
                    total_hi: 0,
                    count: 0,
                    max: 0,
                    id: s,
                    slot: NO_SLOT,
                });
            }
            let e = &mut series[*i as usize];
            let total = e.total() + st.sum;
            (e.total_lo, e.total_hi) = (total as u64, (total >> 64) as u64);
            e.count += st.count;
            e.max = e.max.max(st.max);
        }
        drop(mine);
        for (slot, ((s, p), _)) in self.periods.iter().enumerate() {
            if p == start {
                if let Some(&i) = at.get(s as usize).filter(|&&i| i != NONE) {
                    series[i as usize].slot = slot as u32;
                }
            }
        }
        drop(at);
        series.sort_unstable_by(|a, b| self.series.parts(a.id).cmp(&self.series.parts(b.id)));
        let pos = match round.from {
            None => 0,
            Some(from) => series.partition_point(|e| self.series.parts(e.id).0 < from),
        };
        Closing {
            period_start_ms: start,
            plans: round.plans.clone(),
            version: round.version,
            shard: round.shard,
            shards: round.shards,
            series,
            pos,
            next: round.from.map(Into::into),
        }
    }

    /// One series' usage in the period, owned (the round's customers only).
    fn usage_of(&self, e: &Series) -> SeriesUsage {
        let data = (e.slot != NO_SLOT).then(|| self.periods.at(e.slot).1);
        SeriesUsage {
            key: self.series.key(e.id),
            total: e.total(),
            count: e.count,
            max: e.max,
            rate_intervals: data.as_ref().map(|p| p.rate.iter().collect()).unwrap_or_default(),
            samples: data
                .map(|p| p.samples.iter().map(|(&t, &v)| (t, v)).collect())
                .unwrap_or_default(),
        }
    }

    fn bill_round(
        &self,
        cursor: &mut Closing,
        round: &Round<'_>,
        emit: &mut dyn FnMut(&LineRef<'_>),
    ) -> Result<RoundEnd, BillingError> {
        let period = PeriodUsage {
            period_start_ms: cursor.period_start_ms,
            period_end_ms: month_end(cursor.period_start_ms),
            gauge_gap_cap_ms: self.config.gauge_gap_cap_ms,
            series: Vec::new(),
        };
        let plans = cursor.plans.clone();
        let plans = &*plans;
        let mut biller = Biller::new(&period, plans, cursor.version);
        let from = cursor.next.clone();
        let lower = match &from {
            Some(from) => Bound::Included(&**from),
            None => Bound::Unbounded,
        };
        let (shard, shards) = (cursor.shard, cursor.shards);
        let mut named = plans
            .customers
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|(c, _)| c.as_str())
            .filter(|c| shard_of(c, shards) == shard)
            .peekable();
        let mut unbilled = Vec::new();
        let mut lines = 0usize;
        let mut group: Vec<SeriesUsage> = Vec::new();
        loop {
            let with_usage = cursor.series.get(cursor.pos).map(|e| self.series.parts(e.id).0);
            let customer: &str = match (with_usage, named.peek()) {
                (None, None) => break,
                (Some(u), Some(&n)) => u.min(n),
                (Some(u), None) => u,
                (None, Some(&n)) => n,
            };
            let n = cursor.series[cursor.pos..]
                .iter()
                .take_while(|e| self.series.parts(e.id).0 == customer)
                .count();
            group.clear();
            group.extend(
                cursor.series[cursor.pos..cursor.pos + n]
                    .iter()
                    .map(|e| self.usage_of(e)),
            );
            let refs: Vec<&SeriesUsage> = group.iter().collect();
            let more = plans.plan_for(customer).map_or(0, |plan| lines_of(plan, &refs));
            if lines > 0 && lines + more > round.max_lines {
                cursor.next = Some(customer.into());
                return Ok(RoundEnd {
                    unbilled_customers: unbilled,
                    next: Some(customer.to_string()),
                });
            }
            if !biller.bill(customer, &refs, emit)? {
                unbilled.push(customer.to_string());
            }
            lines += more;
            cursor.pos += n;
            named.next_if(|&c| c == customer);
        }
        cursor.next = None;
        Ok(RoundEnd {
            unbilled_customers: unbilled,
            next: None,
        })
    }
}

impl Closing {
    /// Whether `round` is the next round of this close.
    fn continues(&self, round: &Round<'_>, from: &str) -> bool {
        self.period_start_ms == round.period_start_ms
            && Arc::ptr_eq(&self.plans, &round.plans)
            && self.version == round.version
            && (self.shard, self.shards) == (round.shard, round.shards)
            && self.next.as_deref() == Some(from)
    }
}

#[cfg(test)]
mod tests {
    use crate::aggregate::{parse_period, Aggregator, AggregatorConfig, Round};
    use crate::billing::Plans;
    use crate::written::{bill_shard_written, close_round_written, WrittenInvoice};
    use crate::UsageEvent;
    use std::sync::Arc;

    fn ev(i: u64, customer: &str, resource: &str, meter: &str, value: u64, time_ms: i64) -> UsageEvent {
        UsageEvent {
            id: format!("e{i}"),
            source: "s".into(),
            customer: customer.into(),
            resource: resource.into(),
            meter: meter.into(),
            value,
            time_ms,
        }
    }

    /// Customers with usage in October (several resources and meters, a
    /// rate and a gauge meter), one only in November, plans naming
    /// customers without usage, and customers without a plan.
    fn aggregator() -> Aggregator {
        let oct = 1_790_812_800_000; // 2026-10-01T00:00Z
        let mut events = Vec::new();
        for c in 0..40u64 {
            let customer = format!("c{c:02}");
            for r in 0..(c % 4) {
                for (m, meter) in ["bandwidth_out_bytes", "storage_bytes", "requests"]
                    .iter()
                    .enumerate()
                {
                    let i = c * 100 + r * 10 + m as u64;
                    events.push(ev(
                        i,
                        &customer,
                        &format!("r{r}"),
                        meter,
                        1000 * i + 7,
                        oct + (i % 700) as i64 * 3_600_000 + (c as i64) * 1000,
                    ));
                }
            }
        }
        events.push(ev(9999, "late", "r", "requests", 5, oct + 31 * 86_400_000 + 1));
        let mut agg = Aggregator::new(AggregatorConfig::default());
        agg.apply_all(&events);
        agg
    }

    const PLANS: &str = r#"{"plans": {
        "p": {"currency": "EUR", "lines": [
            {"meter": "bandwidth_out_bytes", "measure": "total", "unit": "GB", "pricing": {"model": "flat", "unit_price": "3"}},
            {"meter": "bandwidth_out_bytes", "measure": "p95_rate", "unit": "Mbps", "pricing": {"model": "flat", "unit_price": "1"}},
            {"meter": "storage_bytes", "measure": "peak", "scope": "resource", "pricing": {"model": "flat", "unit_price": "0"}}]},
        "none": {"currency": "USD", "lines": []}},
      "customers": {"c01": "p", "c05": "none", "c07": "p", "c08": "p", "c11": "p", "c12": "p", "c13": "p",
                    "c20": "p", "c21": "p", "c22": "p", "c23": "p", "c30": "p", "c33": "p",
                    "named-a": "p", "named-b": "p", "zz": "p"}}"#;

    fn rounds(
        agg: &mut Aggregator,
        plans: &Arc<Plans>,
        shard: u32,
        shards: u32,
        max_lines: usize,
    ) -> (WrittenInvoice, usize) {
        let mut all = WrittenInvoice {
            batches: vec![],
            totals: vec![],
            unbilled_customers: vec![],
        };
        let (mut from, mut n) = (None::<String>, 0);
        loop {
            let round = Round {
                period_start_ms: parse_period("2026-10").unwrap(),
                plans: plans.clone(),
                version: 2,
                shard,
                shards,
                from: from.as_deref(),
                max_lines,
            };
            let r = close_round_written(agg, round).unwrap();
            let lines: u32 = r.batches.iter().map(|b| b.count).sum();
            // Over the budget only with the round's one customer with lines.
            assert!(
                lines as usize <= max_lines || r.totals.len() == 1,
                "{lines} lines in a round of {max_lines}"
            );
            all.batches.extend(r.batches);
            all.totals.extend(r.totals);
            all.unbilled_customers.extend(r.unbilled_customers);
            n += 1;
            match r.next {
                Some(next) => {
                    assert!(from.as_deref() < Some(next.as_str()), "a round moves on");
                    from = Some(next)
                }
                None => return (all, n),
            }
        }
    }

    fn joined(w: &WrittenInvoice) -> (Vec<u8>, Vec<u8>, u32) {
        let ids = w.batches.iter().flat_map(|b| b.ids.clone()).collect();
        let lines = w.batches.iter().flat_map(|b| b.lines.clone()).collect();
        (ids, lines, w.batches.iter().map(|b| b.count).sum())
    }

    /// Every budget and shard count: the rounds together bill what the
    /// whole shard's close bills, line for line, with the same totals and
    /// unbilled customers.
    #[test]
    fn rounds_together_bill_the_shard_line_for_line() {
        let plans = Arc::new(Plans::from_json(PLANS).unwrap());
        for shards in [1u32, 3] {
            for shard in 0..shards {
                let mut whole_agg = aggregator();
                let usage = whole_agg.close_period(parse_period("2026-10").unwrap());
                let whole = bill_shard_written(&usage, &plans, 2, shard, shards).unwrap();
                assert!(!whole.batches.is_empty());
                for max_lines in [1, 2, 3, 7, 1000] {
                    let mut agg = aggregator();
                    let (got, n) = rounds(&mut agg, &plans, shard, shards, max_lines);
                    assert_eq!(
                        joined(&got),
                        joined(&whole),
                        "shard {shard}/{shards}, {max_lines} lines a round"
                    );
                    assert_eq!(got.totals, whole.totals);
                    assert_eq!(got.unbilled_customers, whole.unbilled_customers);
                    let lines = joined(&whole).2 as usize;
                    if lines <= max_lines {
                        assert_eq!(n, 1);
                    } else {
                        assert!(
                            n > 1 && n * 4 >= lines / max_lines,
                            "{n} rounds for {lines} lines"
                        );
                    }
                    assert!(agg.closing.is_none(), "the cursor goes with the last round");
                    // The period is closed: a later event for it is late.
                    agg.apply_all(&[ev(1, "c01", "r0", "requests", 1, 1_790_812_800_000)]);
                    assert_eq!(agg.counters().late, 1);
                }
            }
        }
        let with_usage = aggregator().close_period(parse_period("2026-10").unwrap());
        let unbilled = crate::billing::bill(&with_usage, &plans, 2)
            .unwrap()
            .unbilled_customers;
        assert!(
            unbilled.len() > 5 && !unbilled.contains(&"late".to_string()),
            "{unbilled:?}"
        );
    }

    /// A round that does not continue the last one (another aggregator
    /// holding the same usage, a first round again) builds its cursor
    /// again and bills the same lines.
    #[test]
    fn a_round_from_any_customer_bills_the_same_as_the_next_round() {
        let plans = Arc::new(Plans::from_json(PLANS).unwrap());
        let start = parse_period("2026-10").unwrap();
        let round = |from| Round {
            period_start_ms: start,
            plans: plans.clone(),
            version: 2,
            shard: 0,
            shards: 1,
            from,
            max_lines: 5,
        };
        let mut a = aggregator();
        let first = close_round_written(&mut a, round(None)).unwrap();
        let next = first.next.clone().unwrap();
        let mut b = Aggregator::restore(&a.export()).unwrap();
        let continued = close_round_written(&mut a, round(Some(&next))).unwrap();
        assert_eq!(
            close_round_written(&mut b, round(Some(&next))).unwrap(),
            continued
        );
        // From the start again: the first round once more.
        assert_eq!(close_round_written(&mut a, round(None)).unwrap(), first);
        assert_ne!(continued, first);
    }
}
