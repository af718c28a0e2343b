//! Request dispatch: decode `{Id, Op, Args}`, call the core, wrap the reply.

use tally_interop::etf::{self, Term};
use std::panic::{catch_unwind, AssertUnwindSafe};

use tally_interop::panics::{panic_message, panic_value};
use tally_core::gleam_shapes::parsed;
use tally_core::parse::{parse_all, ParserOptions};
use tally_core::Format;
use tally_interop::{FromGleam, IntoGleam, Value};

/// The reply to one frame. A frame that cannot be read as a request is
/// answered with id 0 and `{error, {bad_request, Detail}}`.
pub fn handle_frame(frame: &[u8]) -> Value {
    let (id, op, args) = match etf::decode(frame).map_err(|e| e.to_string()).and_then(split_request) {
        Ok(parts) => parts,
        Err(detail) => return reply(0, port_error("bad_request", &detail)),
    };
    match catch_unwind(AssertUnwindSafe(|| dispatch(&op, &args))) {
        Ok(Some(Ok(value))) => reply(id, Value::ok(value)),
        Ok(Some(Err(error))) => reply(id, Value::error(error)),
        Ok(None) => reply(id, port_error("unknown_request", &format!("{op}/{}", args.len()))),
        Err(payload) => reply(id, panic_value(&panic_message(payload.as_ref()))),
    }
}

fn reply(id: i128, value: Value) -> Value {
    Value::Tuple(vec![Value::Int(id), value])
}

fn port_error(kind: &'static str, detail: &str) -> Value {
    Value::error(Value::record(kind, vec![detail.into_gleam()]))
}

fn split_request(term: Term) -> Result<(i128, String, Vec<Term>), String> {
    match term {
        Term::Tuple(items) if items.len() == 3 => {
            let mut it = items.into_iter();
            let id = it.next().and_then(|t| t.as_int()).ok_or("request id is not an integer")?;
            let op = it.next().and_then(|t| t.as_atom().map(str::to_string)).ok_or("operation is not an atom")?;
            match it.next() {
                Some(Term::Tuple(args)) => Ok((id, op, args)),
                _ => Err("arguments are not a tuple".into()),
            }
        }
        _ => Err("request is not {Id, Op, Args}".into()),
    }
}

/// The result for a request (`Err` for an operation's own error), `None`
/// when no operation has that name and arity. Each arm mirrors the NIF of the same name.
fn dispatch(op: &str, args: &[Term]) -> Option<Result<Value, Value>> {
    Some(Ok(match (op, args) {
        ("engine_info", []) => tally_core::engine_info("port").into_gleam(),
        ("meter_unit", [Term::Binary(name)]) => {
            tally_core::meter_unit(std::str::from_utf8(name).unwrap_or("")).into_gleam()
        }
        ("parse_event_line", [Term::Binary(line)]) => tally_core::jsonl::parse_event_line(line).into_gleam(),
        ("parse_chunk", [format, options, Term::Binary(chunk)]) => {
            let decoded = Format::from_gleam(format).and_then(|f| Ok((f, ParserOptions::from_gleam(options)?)));
            match decoded {
                Ok((format, options)) => {
                    let (batch, stats) = parse_all(format, options, chunk);
                    parsed(batch, stats)
                }
                Err(e) => return Some(Err(e.into_gleam())),
            }
        }
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: i128, op: &'static str, args: Vec<Value>) -> Vec<u8> {
        etf::encode(&Value::Tuple(vec![Value::Int(id), Value::Atom(op), Value::Tuple(args)])).unwrap()
    }

    #[test]
    fn answers_with_the_request_id() {
        let v = handle_frame(&request(7, "meter_unit", vec![Value::binary("requests")]));
        assert_eq!(v, Value::Tuple(vec![Value::Int(7), Value::ok(Value::some(Value::Atom("count")))]));
    }

    #[test]
    fn unknown_and_malformed_requests_get_typed_errors() {
        let v = handle_frame(&request(3, "nope", vec![]));
        assert_eq!(v, reply(3, port_error("unknown_request", "nope/0")));
        let v = handle_frame(b"garbage");
        assert!(matches!(v, Value::Tuple(ref t) if t[0] == Value::Int(0)));
    }
}
