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
            InvalidJson { column, expected } => Value::record("invalid_json", vec![column.into_gleam(), expected.into_gleam()]),
            Malformed { column, expected } => Value::record("malformed", vec![column.into_gleam(), expected.into_gleam()]),
            InvalidUtf8 { column } => Value::record("invalid_utf8", vec![column.into_gleam()]),
            MissingField { field } => Value::record("missing_field", vec![field.into_gleam()]),
            WrongType { field, expected } => Value::record("wrong_type", vec![field.into_gleam(), expected.into_gleam()]),
            EmptyField { field } => Value::record("empty_field", vec![field.into_gleam()]),
            InvalidTime { field } => Value::record("invalid_time", vec![field.into_gleam()]),
            InvalidNumber { field } => Value::record("invalid_number", vec![field.into_gleam()]),
            NumberTooLarge { field } => Value::record("number_too_large", vec![field.into_gleam()]),
            LineTooLong { length, limit } => Value::record("line_too_long", vec![length.into_gleam(), limit.into_gleam()]),
            WrongFieldCount { expected, found } => {
                Value::record("wrong_field_count", vec![expected.into_gleam(), found.into_gleam()])
            }
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
            vec![self.name.into_gleam(), self.version.into_gleam(), self.commit.into_gleam()],
        )
    }
}
