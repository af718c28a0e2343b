//! Core values in the shapes Gleam gives them (see `gleam_src/tally/event.gleam`),
//! shared by the NIF and the port so both return the very same terms.

use tally_interop::{IntoGleam, Value};

use crate::event::{MeterUnit, UsageEvent};
use crate::reject::{Format, Reject, RejectReason};
use crate::EngineInfo;

impl IntoGleam for UsageEvent {
    fn into_gleam(self) -> Value {
        Value::record(
            "usage_event",
            vec![
                self.id.into_gleam(),
                self.source.into_gleam(),
                self.customer.into_gleam(),
                self.resource.into_gleam(),
                self.meter.into_gleam(),
                self.value.into_gleam(),
                self.time_ms.into_gleam(),
            ],
        )
    }
}

impl IntoGleam for Format {
    fn into_gleam(self) -> Value {
        Value::Atom(self.name())
    }
}

impl IntoGleam for RejectReason {
    fn into_gleam(self) -> Value {
        use RejectReason::*;
        match self {
            BadField {
                field,
                column,
                expected,
            } => Value::record(
                "bad_field",
                vec![field.into_gleam(), column.into_gleam(), expected.into_gleam()],
            ),
            DuplicateKey { field } => Value::record("duplicate_key", vec![field.into_gleam()]),
            Disagree { field, other } => {
                Value::record("disagree", vec![field.into_gleam(), other.into_gleam()])
            }
            InvalidJson { column, expected } => {
                Value::record("invalid_json", vec![column.into_gleam(), expected.into_gleam()])
            }
            Malformed { column, expected } => {
                Value::record("malformed", vec![column.into_gleam(), expected.into_gleam()])
            }
            InvalidUtf8 { column } => Value::record("invalid_utf8", vec![column.into_gleam()]),
            MissingField { field } => Value::record("missing_field", vec![field.into_gleam()]),
            WrongType { field, expected } => {
                Value::record("wrong_type", vec![field.into_gleam(), expected.into_gleam()])
            }
            EmptyField { field } => Value::record("empty_field", vec![field.into_gleam()]),
            InvalidTime { field } => Value::record("invalid_time", vec![field.into_gleam()]),
            InvalidNumber { field } => Value::record("invalid_number", vec![field.into_gleam()]),
            NumberTooLarge { field } => Value::record("number_too_large", vec![field.into_gleam()]),
            LineTooLong { length, limit } => {
                Value::record("line_too_long", vec![length.into_gleam(), limit.into_gleam()])
            }
            WrongFieldCount { expected, found } => Value::record(
                "wrong_field_count",
                vec![expected.into_gleam(), found.into_gleam()],
            ),
            BadHeader => Value::Atom("bad_header"),
        }
    }
}

impl IntoGleam for Reject {
    fn into_gleam(self) -> Value {
        Value::record(
            "reject",
            vec![
                self.format.into_gleam(),
                self.line.into_gleam(),
                self.offset.into_gleam(),
                self.reason.into_gleam(),
                Value::Binary(self.text),
            ],
        )
    }
}

impl IntoGleam for MeterUnit {
    fn into_gleam(self) -> Value {
        Value::Atom(match self {
            MeterUnit::Bytes => "bytes",
            MeterUnit::Count => "count",
        })
    }
}

impl IntoGleam for EngineInfo {
    fn into_gleam(self) -> Value {
        Value::record(
            "engine_info",
            vec![
                self.name.into_gleam(),
                self.version.into_gleam(),
                self.commit.into_gleam(),
            ],
        )
    }
}

// ---------------------------------------------------------------------------
// Parsing, aggregation and billing values. The Gleam types live in
// gleam_src/tally/event.gleam, aggregate.gleam, billing.gleam and engine.gleam.

use tally_interop::etf::Term;
use tally_interop::{expected, DecodeError, FromGleam};

use crate::aggregate::{
    AggregateError, AggregatorConfig, AggregatorCounters, SeriesKey, Window, WindowStats,
};
use crate::billing::{BillingError, Invoice, InvoiceLine, Measure, Unit};
use crate::parse::{Batch, ParseStats, ParserOptions, S3Customer};
use crate::ratio::Ratio;

impl FromGleam for Format {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        Ok(match t.variant("a Format")? {
            "json_lines" => Format::JsonLines,
            "s3_access_log" => Format::S3AccessLog,
            "rgw_usage" => Format::RgwUsage,
            "storage_csv" => Format::StorageCsv,
            _ => return Err(expected("a Format")),
        })
    }
}

impl FromGleam for ParserOptions {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        let f = t.record("parser_options", 4, "ParserOptions")?;
        let s3_customer = match f[2].variant("an S3Customer")? {
            "bucket_owner" => S3Customer::BucketOwner,
            "requester" => S3Customer::Requester,
            _ => return Err(expected("an S3Customer")),
        };
        let max_line = usize::from_gleam(&f[0])?;
        if max_line == 0 {
            return Err(expected("a max_line above 0"));
        }
        Ok(ParserOptions {
            max_line,
            source: Option::<String>::from_gleam(&f[1])?,
            s3_customer,
            dedup: bool::from_gleam(&f[3])?,
        })
    }
}

impl FromGleam for Window {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        Ok(match t.variant("a Window")? {
            "hour" => Window::Hour,
            "day" => Window::Day,
            "month" => Window::Month,
            _ => return Err(expected("a Window")),
        })
    }
}

impl FromGleam for AggregatorConfig {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        let f = t.record("aggregator_config", 6, "AggregatorConfig")?;
        Ok(AggregatorConfig {
            window: Window::from_gleam(&f[0])?,
            dedup: bool::from_gleam(&f[1])?,
            rate_meters: Vec::from_gleam(&f[2])?,
            gauge_meters: Vec::from_gleam(&f[3])?,
            unique_meters: Vec::from_gleam(&f[4])?,
            gauge_gap_cap_ms: i64::from_gleam(&f[5])?,
        })
    }
}

impl FromGleam for UsageEvent {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        let f = t.record("usage_event", 7, "a UsageEvent")?;
        let value = u64::from_gleam(&f[5])
            .ok()
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or(expected("a value from 0 to 2^63-1"))?;
        Ok(UsageEvent {
            id: String::from_gleam(&f[0])?,
            source: String::from_gleam(&f[1])?,
            customer: String::from_gleam(&f[2])?,
            resource: String::from_gleam(&f[3])?,
            meter: String::from_gleam(&f[4])?,
            value,
            time_ms: i64::from_gleam(&f[6])?,
        })
    }
}

impl IntoGleam for ParseStats {
    fn into_gleam(self) -> Value {
        Value::record(
            "parse_stats",
            vec![
                self.records.into_gleam(),
                self.accepted.into_gleam(),
                self.rejected.into_gleam(),
                self.skipped.into_gleam(),
                self.events.into_gleam(),
                self.bytes.into_gleam(),
            ],
        )
    }
}

/// `Parsed(events, rejects, stats)`.
pub fn parsed(batch: Batch, stats: ParseStats) -> Value {
    Value::record(
        "parsed",
        vec![
            batch.events.into_gleam(),
            batch.rejects.into_gleam(),
            stats.into_gleam(),
        ],
    )
}

impl IntoGleam for AggregatorCounters {
    fn into_gleam(self) -> Value {
        Value::record(
            "counters",
            vec![
                self.applied.into_gleam(),
                self.duplicates.into_gleam(),
                self.late.into_gleam(),
            ],
        )
    }
}

/// `WindowAggregate(customer, resource, meter, window_start_ms, sum, count,
/// min, max, latest, latest_time_ms, unique_count)`.
pub fn window_aggregate(key: &SeriesKey, start: i64, st: &WindowStats) -> Value {
    Value::record(
        "window_aggregate",
        vec![
            (&*key.customer).into_gleam(),
            (&*key.resource).into_gleam(),
            (&*key.meter).into_gleam(),
            start.into_gleam(),
            Value::Int(st.sum as i128),
            st.count.into_gleam(),
            st.min.into_gleam(),
            st.max.into_gleam(),
            st.latest_value.into_gleam(),
            st.latest_time_ms.into_gleam(),
            st.unique_count().into_gleam(),
        ],
    )
}

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
}

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
}

impl IntoGleam for Ratio {
    fn into_gleam(self) -> Value {
        Value::record(
            "fraction",
            vec![Value::Int(self.num() as i128), Value::Int(self.den() as i128)],
        )
    }
}

impl IntoGleam for InvoiceLine {
    fn into_gleam(self) -> Value {
        let measure = match self.measure {
            Measure::Total => "total",
            Measure::P95Rate => "p95_rate",
            Measure::GbMonthAverage => "gb_month_average",
            Measure::Peak => "peak",
        };
        let unit = match self.unit {
            Unit::Unit => "plain_unit",
            Unit::Gb => "gigabyte",
            Unit::Mbps => "megabit_per_second",
        };
        Value::record(
            "invoice_line",
            vec![
                self.key.into_gleam(),
                self.customer.into_gleam(),
                self.resource.into_gleam(),
                self.meter.into_gleam(),
                Value::Atom(measure),
                self.period.into_gleam(),
                self.version.into_gleam(),
                self.plan.into_gleam(),
                self.currency.into_gleam(),
                Value::Atom(unit),
                self.used.into_gleam(),
                self.included.into_gleam(),
                self.overage.into_gleam(),
                self.unit_price.into_gleam(),
                Value::Int(self.amount_minor as i128),
            ],
        )
    }
}

impl IntoGleam for Invoice {
    fn into_gleam(self) -> Value {
        Value::record(
            "invoice",
            vec![self.lines.into_gleam(), self.unbilled_customers.into_gleam()],
        )
    }
}

impl IntoGleam for crate::aggregate::FeedOutcome {
    fn into_gleam(self) -> Value {
        Value::record(
            "feed_result",
            vec![
                self.stats.into_gleam(),
                self.rejects.into_gleam(),
                self.counters.into_gleam(),
            ],
        )
    }
}

impl IntoGleam for crate::written::WrittenBatch {
    fn into_gleam(self) -> Value {
        Value::record(
            "written_batch",
            vec![
                self.count.into_gleam(),
                Value::Binary(self.ids),
                Value::Binary(self.lines),
            ],
        )
    }
}

impl IntoGleam for crate::written::CustomerTotal {
    fn into_gleam(self) -> Value {
        Value::record(
            "customer_total",
            vec![
                self.customer.into_gleam(),
                self.currency.into_gleam(),
                // A sum of u128 amounts: beyond i128 only in theory.
                Value::Int(i128::try_from(self.amount_minor).unwrap_or(i128::MAX)),
                self.lines.into_gleam(),
            ],
        )
    }
}

impl IntoGleam for crate::written::WrittenInvoice {
    fn into_gleam(self) -> Value {
        Value::record(
            "written_invoice",
            vec![
                self.batches.into_gleam(),
                self.totals.into_gleam(),
                self.unbilled_customers.into_gleam(),
            ],
        )
    }
}
