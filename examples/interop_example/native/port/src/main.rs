//! The example's port: the generated `call` (one arm per operation of the
//! table, native/port/src/generated.rs) behind `{packet,4}` framed External
//! Term Format on stdin and stdout (`tally_interop::port::serve`). It exits
//! when the VM closes the port; a panic in the work is answered as
//! `{error, {native_panic, Message}}` and the port carries on.

use std::process::ExitCode;

// Written by `make generate`, as the generator lays it out.
#[rustfmt::skip]
mod generated;

/// Biggest request taken: a frame over it stops the port with an error.
const MAX_FRAME: usize = 64 << 20;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("interop_example_port: caught panic: {info}")
    }));
    let (stdin, stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    match tally_interop::port::serve(stdin, stdout, MAX_FRAME, generated::call) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop_example_port: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::generated::call;
    use tally_interop::etf::Term;
    use tally_interop::Value;

    fn reading(meter: &str, value: i64) -> Term {
        Term::Tuple(vec![
            Term::Atom("reading".into()),
            Term::Binary(meter.as_bytes().to_vec()),
            Term::Int(value.into()),
            Term::Atom("none".into()),
        ])
    }

    #[test]
    fn a_request_gives_the_function_s_value_in_gleam_s_shapes() {
        let got = call("totals", &[Term::List(vec![reading("a", 2), reading("a", 3)])]);
        assert_eq!(
            got,
            Some(Ok(Value::List(vec![Value::record(
                "total",
                vec![
                    Value::binary("a"),
                    Value::Int(5),
                    Value::Int(2),
                    Value::Atom("none")
                ]
            )])))
        );
        assert_eq!(
            call("totals", &[Term::List(vec![reading("", 1)])]),
            Some(Err(Value::record("empty_meter", vec![Value::Int(0)])))
        );
    }

    #[test]
    fn a_bad_argument_names_what_was_expected() {
        assert_eq!(
            call("totals", &[Term::List(vec![reading("a", -1)])]),
            Some(Err(Value::record(
                "bad_argument",
                vec![Value::binary("an Int that fits u64")]
            )))
        );
        assert_eq!(call("nope", &[]), None);
        assert_eq!(call("totals", &[]), None);
    }
}
