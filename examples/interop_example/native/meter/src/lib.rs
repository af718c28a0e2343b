//! The interop example's engine: one Rust function, [`totals`], offered to
//! Gleam as a NIF (native/nif) and through a port (native/port).
//!
//! Written once here: the function, its values in Gleam's shapes
//! (`#[derive(IntoGleam, FromGleam)]`, matching `src/interop_example/meter.gleam`),
//! and its line in the operation table ([`OPERATIONS`]), from which `make
//! generate` writes everything else: the NIF function, the port's request,
//! the Erlang NIF stubs, the atom vocabulary and the Gleam functions for
//! both paths and for picking one.

use tally_interop::table::{Arg, Operation, Port, Scheduler, Ty};
use tally_interop::{Atoms, FromGleam, IntoGleam};

/// `meter.Reading(meter, value, note)`.
#[derive(Debug, Clone, PartialEq, Eq, IntoGleam, FromGleam)]
pub struct Reading {
    pub meter: String,
    pub value: u64,
    pub note: Option<String>,
}

/// `meter.Total(meter, sum, count, last_note)`: `sum` is a `u128`, so two
/// readings near 2^64 make a bignum on the BEAM.
#[derive(Debug, Clone, PartialEq, Eq, IntoGleam, FromGleam)]
pub struct Total {
    pub meter: String,
    pub sum: u128,
    pub count: u64,
    pub last_note: Option<String>,
}

/// The function's own error: `meter.EmptyMeter(index)`. The Gleam type
/// `MeterError` also has the boundary's errors (`BadArgument`,
/// `NativePanic`, and the port's).
#[derive(Debug, Clone, PartialEq, Eq, IntoGleam)]
pub enum MeterError {
    EmptyMeter { index: u64 },
}

/// Sums the readings per meter, meters in the order first seen; a reading
/// without a meter name is an error naming its position.
pub fn totals(readings: Vec<Reading>) -> Result<Vec<Total>, MeterError> {
    let mut out: Vec<Total> = Vec::new();
    for (index, r) in readings.into_iter().enumerate() {
        if r.meter.is_empty() {
            return Err(MeterError::EmptyMeter { index: index as u64 });
        }
        let at = match out.iter().position(|t| t.meter == r.meter) {
            Some(at) => at,
            None => {
                out.push(Total {
                    meter: r.meter,
                    sum: 0,
                    count: 0,
                    last_note: None,
                });
                out.len() - 1
            }
        };
        let t = &mut out[at];
        t.sum += u128::from(r.value);
        t.count += 1;
        if r.note.is_some() {
            t.last_note = r.note;
        }
    }
    Ok(out)
}

/// The operation table: one line per operation.
pub const OPERATIONS: &[Operation] = &[Operation {
    name: "totals",
    doc: "Sums the readings per meter, meters in the order first seen.\n\n\
          A reading with an empty meter name is `Error(EmptyMeter(index))`.",
    // Each type in Gleam, in an Erlang -spec, and in Rust (the core function's).
    args: &[Arg::new(
        "readings",
        Ty::new("List(meter.Reading)", "[tuple()]").rust("Vec<interop_example::Reading>"),
    )],
    result: Ty::new("List(meter.Total)", "[tuple()]"),
    mutates: false,
    // Its work grows with the list: never on a normal scheduler.
    scheduler: Scheduler::DirtyCpu,
    nif: true,
    port: Port::Call,
    // The function that does the work: the NIF and the port call it
    // (native/nif/src/generated.rs, native/port/src/generated.rs). It returns
    // a `Result` whose error is a Gleam value too.
    core: Some("interop_example::totals"),
    fallible: true,
    api: None,
}];

/// Every atom a reply can hold, from the derives and the boundary's envelope.
pub fn vocabulary() -> Vec<&'static str> {
    let mut atoms = Atoms::default();
    <Result<Vec<Total>, MeterError> as IntoGleam>::gleam_atoms(&mut atoms);
    tally_interop::boundary_atoms(&mut atoms);
    for port_error in ["bad_request", "unknown_request"] {
        atoms.add(port_error);
    }
    atoms.sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_interop::etf::Term;
    use tally_interop::Value;

    fn reading(meter: &str, value: u64, note: Option<&str>) -> Reading {
        Reading {
            meter: meter.into(),
            value,
            note: note.map(String::from),
        }
    }

    #[test]
    fn sums_per_meter_in_order_first_seen() {
        let got = totals(vec![
            reading("b", 1, Some("x")),
            reading("a", u64::MAX, None),
            reading("b", 2, None),
            reading("a", u64::MAX, Some("y")),
        ])
        .unwrap();
        assert_eq!(
            got.iter().map(|t| t.meter.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(
            (got[0].sum, got[0].count, got[0].last_note.as_deref()),
            (3, 2, Some("x"))
        );
        assert_eq!(got[1].sum, 2 * u128::from(u64::MAX));
    }

    #[test]
    fn an_empty_meter_is_an_error_at_its_index() {
        let got = totals(vec![reading("a", 1, None), reading("", 1, None)]);
        assert_eq!(got, Err(MeterError::EmptyMeter { index: 1 }));
        assert_eq!(
            got.unwrap_err().into_gleam(),
            Value::record("empty_meter", vec![Value::Int(1)])
        );
    }

    #[test]
    fn a_bad_argument_names_what_was_expected() {
        let bad = Term::List(vec![Term::Tuple(vec![
            Term::Atom("reading".into()),
            Term::Binary(b"a".to_vec()),
            Term::Int(-1),
            Term::Atom("none".into()),
        ])]);
        let err = Vec::<Reading>::from_gleam(&bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected an Int that fits u64 at [0] > Reading.value"
        );
    }
}
