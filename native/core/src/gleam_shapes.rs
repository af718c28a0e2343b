//! Core values in the shapes Gleam gives them (see `gleam_src/tally/event.gleam`),
//! shared by the NIF and the port so both return the very same terms.
//!
//! Most types derive their shape where they are defined
//! (`#[derive(IntoGleam, FromGleam)]`, with the `gleam` feature); this module
//! holds the field checks those derives name, the few values put together
//! from parts (`parsed`, `window_aggregate`), the errors whose Gleam shape
//! is not their Rust one, and [`engine_atoms`], the atoms of them all.

use tally_interop::{expected, Atoms, DecodeError, IntoGleam, Value};

use crate::aggregate::{AggregateError, FeedOutcome, SeriesKey, WindowStats};
use crate::billing::{BillingError, Invoice};
use crate::parse::{Batch, ParseStats, ParserOptions};
use crate::{EngineInfo, MeterUnit, RejectReason, UsageEvent};

/// `UsageEvent.value`: a Gleam Int the engine keeps as an i64 too.
pub(crate) fn fits_i64(value: &u64) -> Result<(), DecodeError> {
    if *value <= i64::MAX as u64 {
        Ok(())
    } else {
        Err(expected("a value from 0 to 2^63-1"))
    }
}

/// `ParserOptions.max_line`: a parser that takes no byte takes no line.
pub(crate) fn max_line_above_zero(max_line: &usize) -> Result<(), DecodeError> {
    if *max_line > 0 {
        Ok(())
    } else {
        Err(expected("a max_line above 0"))
    }
}

/// `Parsed(events, rejects, stats)`.
#[derive(tally_interop::IntoGleam)]
struct Parsed {
    events: Vec<UsageEvent>,
    rejects: Vec<crate::Reject>,
    stats: ParseStats,
}

/// `Parsed(events, rejects, stats)`.
pub fn parsed(batch: Batch, stats: ParseStats) -> Value {
    Parsed {
        events: batch.events,
        rejects: batch.rejects,
        stats,
    }
    .into_gleam()
}

/// `WindowAggregate(customer, resource, meter, window_start_ms, sum, count,
/// min, max, latest, latest_time_ms, unique_count)`.
#[derive(tally_interop::IntoGleam)]
struct WindowAggregate<'a> {
    customer: &'a str,
    resource: &'a str,
    meter: &'a str,
    window_start_ms: i64,
    sum: u128,
    count: u64,
    min: u64,
    max: u64,
    latest: u64,
    latest_time_ms: i64,
    unique_count: Option<u64>,
}

/// One window of a series, as `aggregator_windows` returns it.
pub fn window_aggregate(key: &SeriesKey, start: i64, st: impl std::borrow::Borrow<WindowStats>) -> Value {
    let st = st.borrow();
    WindowAggregate {
        customer: &key.customer,
        resource: &key.resource,
        meter: &key.meter,
        window_start_ms: start,
        sum: st.sum,
        count: st.count,
        min: st.min,
        max: st.max,
        latest: st.latest_value,
        latest_time_ms: st.latest_time_ms,
        unique_count: st.unique_count(),
    }
    .into_gleam()
}

/// `AggregateFailed(reason)`: `ConfigMismatch`, `Overlap(period, count)`,
/// `BadExport(why)`.
impl IntoGleam for AggregateError {
    fn into_gleam(self) -> Value {
        let reason = match self {
            AggregateError::ConfigMismatch => Value::Atom("config_mismatch"),
            AggregateError::Overlap { period, count } => {
                Value::record("overlap", vec![period.into_gleam(), count.into_gleam()])
            }
            AggregateError::BadExport(why) => Value::record("bad_export", vec![why.into_gleam()]),
        };
        Value::record("aggregate_failed", vec![reason])
    }
    fn gleam_atoms(atoms: &mut Atoms) {
        for a in ["aggregate_failed", "config_mismatch", "overlap", "bad_export"] {
            atoms.add(a);
        }
    }
}

/// `BillingFailed(reason)`: `UnknownPlan(customer, plan)`,
/// `AmountOverflow(key)`, `PlansInvalid(message)`.
impl IntoGleam for BillingError {
    fn into_gleam(self) -> Value {
        let reason = match &self {
            BillingError::UnknownPlan { customer, plan } => Value::record(
                "unknown_plan",
                vec![customer.as_str().into_gleam(), plan.as_str().into_gleam()],
            ),
            BillingError::Overflow { key } => {
                Value::record("amount_overflow", vec![key.as_str().into_gleam()])
            }
            BillingError::PlansSyntax(_) | BillingError::InvalidPlan { .. } => {
                Value::record("plans_invalid", vec![self.to_string().into_gleam()])
            }
        };
        Value::record("billing_failed", vec![reason])
    }
    fn gleam_atoms(atoms: &mut Atoms) {
        for a in [
            "billing_failed",
            "unknown_plan",
            "amount_overflow",
            "plans_invalid",
        ] {
            atoms.add(a);
        }
    }
}

/// Every atom a core value can hold in its Gleam shape, from the types
/// themselves (derived `gleam_atoms`): the engine's part of the atom
/// vocabulary a port's owner loads before decoding replies.
pub fn engine_atoms() -> Vec<&'static str> {
    let mut atoms = Atoms::default();
    <UsageEvent as IntoGleam>::gleam_atoms(&mut atoms);
    <Parsed as IntoGleam>::gleam_atoms(&mut atoms);
    <WindowAggregate as IntoGleam>::gleam_atoms(&mut atoms);
    <FeedOutcome as IntoGleam>::gleam_atoms(&mut atoms);
    <Invoice as IntoGleam>::gleam_atoms(&mut atoms);
    <crate::written::WrittenInvoice as IntoGleam>::gleam_atoms(&mut atoms);
    <crate::written::WrittenRound as IntoGleam>::gleam_atoms(&mut atoms);
    <EngineInfo as IntoGleam>::gleam_atoms(&mut atoms);
    <Option<MeterUnit> as IntoGleam>::gleam_atoms(&mut atoms);
    <Result<UsageEvent, RejectReason> as IntoGleam>::gleam_atoms(&mut atoms);
    <AggregateError as IntoGleam>::gleam_atoms(&mut atoms);
    <BillingError as IntoGleam>::gleam_atoms(&mut atoms);
    <ParserOptions as tally_interop::FromGleam>::gleam_atoms(&mut atoms);
    <crate::aggregate::AggregatorConfig as tally_interop::FromGleam>::gleam_atoms(&mut atoms);
    <DecodeError as IntoGleam>::gleam_atoms(&mut atoms);
    <tally_interop::InteropError as IntoGleam>::gleam_atoms(&mut atoms);
    tally_interop::boundary_atoms(&mut atoms);
    atoms.sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::{InvoiceLine, Measure, Unit};
    use crate::ratio::Ratio;
    use crate::reject::{Format, Reject};
    use tally_interop::etf::Term;
    use tally_interop::FromGleam;

    fn atom(a: &str) -> Term {
        Term::Atom(a.to_string())
    }

    #[test]
    fn derived_shapes_are_the_gleam_types() {
        let reject = Reject {
            format: Format::S3AccessLog,
            line: 3,
            offset: 120,
            reason: RejectReason::BadHeader,
            text: vec![0xff, b'x'],
        };
        assert_eq!(
            reject.into_gleam(),
            Value::record(
                "reject",
                vec![
                    Value::Atom("s3_access_log"),
                    Value::Int(3),
                    Value::Int(120),
                    Value::Atom("bad_header"),
                    Value::Binary(vec![0xff, b'x']),
                ]
            )
        );
        assert_eq!(
            RejectReason::LineTooLong { length: 9, limit: 8 }.into_gleam(),
            Value::record("line_too_long", vec![Value::Int(9), Value::Int(8)])
        );
        assert_eq!(Unit::Mbps.into_gleam(), Value::Atom("megabit_per_second"));
        assert_eq!(
            Measure::GbMonthAverage.into_gleam(),
            Value::Atom("gb_month_average")
        );
        assert_eq!(
            Ratio::new(u128::MAX, 1).into_gleam(),
            Value::record("fraction", vec![Value::BigUint(u128::MAX), Value::Int(1)]),
            "an amount past i128 is a bignum, not a wrapped negative"
        );
        let line = InvoiceLine {
            key: "k".into(),
            customer: "c".into(),
            resource: "*".into(),
            meter: "m".into(),
            measure: Measure::Total,
            period: "2026-10".into(),
            version: 1,
            plan: "p".into(),
            currency: "EUR".into(),
            unit: Unit::Unit,
            used: Ratio::new(8, 1),
            included: Ratio::new(0, 1),
            overage: Ratio::new(8, 1),
            unit_price: Ratio::new(1, 4),
            amount_minor: 2,
        };
        let Value::Tuple(items) = line.into_gleam() else {
            panic!("a record")
        };
        assert_eq!(items.len(), 16);
        assert_eq!(items[0], Value::Atom("invoice_line"));
        assert_eq!(items[5], Value::Atom("total"));
        assert_eq!(items[10], Value::Atom("plain_unit"));
        assert_eq!(items[15], Value::Int(2));
    }

    #[test]
    fn decoders_keep_the_texts_of_the_pure_gleam_twins() {
        let event = |value: i128| {
            Term::Tuple(vec![
                atom("usage_event"),
                Term::Binary(b"1".to_vec()),
                Term::Binary(b"s".to_vec()),
                Term::Binary(b"c".to_vec()),
                Term::Binary(b"r".to_vec()),
                Term::Binary(b"m".to_vec()),
                Term::Int(value),
                Term::Int(0),
            ])
        };
        assert_eq!(UsageEvent::from_gleam(&event(5)).unwrap().value, 5);
        for bad in [-1, i64::MAX as i128 + 1, u64::MAX as i128 + 1] {
            let e = UsageEvent::from_gleam(&event(bad)).unwrap_err();
            assert_eq!(e.expected, "a value from 0 to 2^63-1");
            assert_eq!(e.location(), "UsageEvent.value");
        }
        let options = |max: i128| {
            Term::Tuple(vec![
                atom("parser_options"),
                Term::Int(max),
                atom("none"),
                atom("requester"),
                atom("true"),
            ])
        };
        assert_eq!(ParserOptions::from_gleam(&options(10)).unwrap().max_line, 10);
        assert_eq!(
            ParserOptions::from_gleam(&options(0)).unwrap_err().expected,
            "a max_line above 0"
        );
        assert_eq!(
            ParserOptions::from_gleam(&options(-1)).unwrap_err().expected,
            "an Int that fits usize"
        );
        assert_eq!(
            ParserOptions::from_gleam(&atom("x")).unwrap_err().expected,
            "ParserOptions"
        );
        let config = Term::Tuple(vec![
            atom("aggregator_config"),
            atom("week"),
            atom("true"),
            Term::List(vec![]),
            Term::List(vec![]),
            Term::List(vec![]),
            Term::Int(0),
        ]);
        let e = crate::aggregate::AggregatorConfig::from_gleam(&config).unwrap_err();
        assert_eq!(e.to_string(), "expected a Window at AggregatorConfig.window");
    }

    /// The vocabulary (erlang_src/tally_atoms.erl, generated and drift-checked)
    /// holds every atom a derived type lists: the enums' variants, the records' tags.
    #[test]
    fn the_vocabulary_comes_from_the_types() {
        let vocabulary = crate::operations::vocabulary();
        for atom in [
            "usage_event",
            "s3_access_log",
            "megabit_per_second",
            "feed_result",
            "bad_header",
        ] {
            assert!(engine_atoms().contains(&atom), "{atom}");
        }
        assert!(engine_atoms().iter().all(|a| vocabulary.contains(a)));
    }
}
