//! The example's NIF: `interop_example::call` inside the VM. A panic never
//! crosses into the VM: `guarded` turns it into `{error, {native_panic, Message}}`.

use rustler::{Env, Term};
use tally_interop::nif::{guarded, to_term};
use tally_interop::{IntoGleam, Value};

/// On a dirty CPU scheduler: its work grows with the list (the table says so too).
#[rustler::nif(schedule = "DirtyCpu")]
fn totals<'a>(env: Env<'a>, readings: Term<'a>) -> Term<'a> {
    guarded(env, || {
        let readings = to_term(readings).map_err(|_| bad_argument("a List(Reading)"))?;
        interop_example::call("totals", &[readings]).unwrap_or_else(|| Err(bad_argument("an operation")))
    })
}

fn bad_argument(what: &'static str) -> Value {
    tally_interop::expected(what).into_gleam()
}

rustler::init!("interop_example_nif");
