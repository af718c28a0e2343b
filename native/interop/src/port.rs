//! A port's side of the conversation with its owner on the BEAM: each
//! request is one ETF term `{Id, Op, Args}` (`Id` an integer, `Op` an atom,
//! `Args` a tuple) in a `{packet,4}` frame, and each reply is `{Id, Result}`
//! framed the same way, where `Result` is `{ok, Value}` or `{error, Error}`
//! in Gleam's shapes.
//!
//! [`answer`] turns one frame into its reply: a frame that is no request is
//! answered `{0, {error, {bad_request, Detail}}}`, an operation the handler
//! does not know `{Id, {error, {unknown_request, <<"op/arity">>}}}`, and a
//! panic in the handler `{Id, {error, {native_panic, Message}}}`: the port
//! lives on. [`serve`] runs a blocking loop over stdin and stdout for ports
//! that need nothing more (tally's own port is asynchronous and calls
//! [`answer`] itself).
//!
//! ```
//! use tally_interop::etf::{self, Term};
//! use tally_interop::port::answer;
//! use tally_interop::{IntoGleam, Value};
//! let request = Value::Tuple(vec![
//!     Value::Int(7),
//!     Value::Atom("double"),
//!     Value::Tuple(vec![Value::Int(21)]),
//! ]);
//! let reply = answer(&etf::encode(&request).unwrap(), |op, args| match (op, args) {
//!     ("double", [Term::Int(n)]) => Some(Ok((n * 2).into_gleam())),
//!     _ => None,
//! });
//! assert_eq!(reply, Value::Tuple(vec![Value::Int(7), Value::ok(Value::Int(42))]));
//! ```

use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::etf::{self, Term};
use crate::framing::{encode_frame, FrameDecoder};
use crate::panics::{panic_message, panic_value};
use crate::{InteropError, IntoGleam, Value};

/// What a handler gives for one request: the value of `{ok, V}` or of `{error, E}`.
pub type Outcome = Result<Value, Value>;

/// `{error, {Kind, Detail}}`: the port's own errors (`bad_request`, `unknown_request`).
pub fn port_error(kind: &'static str, detail: &str) -> Value {
    Value::error(Value::record(kind, vec![detail.into_gleam()]))
}

/// The reply to one frame; `handle` gets the operation's name and its
/// arguments and returns `None` for an operation it does not know.
pub fn answer(frame: &[u8], handle: impl FnOnce(&str, &[Term]) -> Option<Outcome>) -> Value {
    let (id, op, args) = match etf::decode(frame)
        .map_err(|e| e.to_string())
        .and_then(split_request)
    {
        Ok(parts) => parts,
        Err(detail) => return reply(0, port_error("bad_request", &detail)),
    };
    match catch_unwind(AssertUnwindSafe(|| handle(&op, &args))) {
        Ok(Some(Ok(value))) => reply(id, Value::ok(value)),
        Ok(Some(Err(error))) => reply(id, Value::error(error)),
        Ok(None) => reply(id, port_error("unknown_request", &format!("{op}/{}", args.len()))),
        Err(payload) => reply(id, panic_value(&panic_message(payload.as_ref()))),
    }
}

fn reply(id: i128, value: Value) -> Value {
    Value::Tuple(vec![Value::Int(id), value])
}

/// `{Id, Op, Args}` into its parts.
pub fn split_request(term: Term) -> Result<(i128, String, Vec<Term>), String> {
    match term {
        Term::Tuple(items) if items.len() == 3 => {
            let mut it = items.into_iter();
            let id = it
                .next()
                .and_then(|t| t.as_int())
                .ok_or("request id is not an integer")?;
            let op = it
                .next()
                .and_then(|t| t.as_atom().map(str::to_string))
                .ok_or("operation is not an atom")?;
            match it.next() {
                Some(Term::Tuple(args)) => Ok((id, op, args)),
                _ => Err("arguments are not a tuple".into()),
            }
        }
        _ => Err("request is not {Id, Op, Args}".into()),
    }
}

/// Why [`serve`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("stdin/stdout: {0}")]
    Io(#[from] std::io::Error),
    #[error("framing: {0}")]
    Framing(#[from] InteropError),
}

/// Answers requests from `input` on `output` until `input` ends (the owner
/// closed the port); frames over `max_frame` bytes stop it with an error.
pub fn serve(
    mut input: impl Read,
    mut output: impl Write,
    max_frame: usize,
    mut handle: impl FnMut(&str, &[Term]) -> Option<Outcome>,
) -> Result<(), ServeError> {
    let mut decoder = FrameDecoder::new(max_frame);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        decoder.push(&buf[..n]);
        while let Some(frame) = decoder.next_frame()? {
            let reply = answer(&frame, &mut handle);
            output.write_all(&encode_frame(&etf::encode(&reply)?))?;
        }
        output.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: i128, op: &'static str, args: Vec<Value>) -> Vec<u8> {
        etf::encode(&Value::Tuple(vec![
            Value::Int(id),
            Value::Atom(op),
            Value::Tuple(args),
        ]))
        .unwrap()
    }

    fn echo(op: &str, args: &[Term]) -> Option<Outcome> {
        match (op, args) {
            ("echo", [Term::Binary(b)]) => Some(Ok(Value::Binary(b.clone()))),
            ("fail", []) => Some(Err(Value::Atom("nil"))),
            ("boom", []) => panic!("boom"),
            _ => None,
        }
    }

    #[test]
    fn requests_unknown_ops_garbage_and_panics_each_get_a_reply() {
        let ok = answer(&request(1, "echo", vec![Value::binary("hi")]), echo);
        assert_eq!(ok, reply(1, Value::ok(Value::binary("hi"))));
        assert_eq!(
            answer(&request(2, "fail", vec![]), echo),
            reply(2, Value::error(Value::nil()))
        );
        assert_eq!(
            answer(&request(3, "nope", vec![Value::Int(1)]), echo),
            reply(3, port_error("unknown_request", "nope/1"))
        );
        let garbage = answer(b"garbage", echo);
        assert!(matches!(&garbage, Value::Tuple(t) if t[0] == Value::Int(0)));
        assert_eq!(
            answer(&request(4, "boom", vec![]), echo),
            reply(4, panic_value("boom"))
        );
    }

    #[test]
    fn serve_answers_each_frame_until_the_input_ends() {
        let mut input = encode_frame(&request(1, "echo", vec![Value::binary("a")]));
        input.extend(encode_frame(&request(2, "echo", vec![Value::binary("b")])));
        let mut output = Vec::new();
        serve(&input[..], &mut output, 1024, echo).unwrap();
        let mut decoder = FrameDecoder::new(1024);
        decoder.push(&output);
        let mut replies = Vec::new();
        while let Some(f) = decoder.next_frame().unwrap() {
            replies.push(etf::decode(&f).unwrap());
        }
        assert_eq!(replies.len(), 2);
        assert_eq!(
            replies[1],
            Term::Tuple(vec![
                Term::Int(2),
                Term::Tuple(vec![Term::Atom("ok".into()), Term::Binary(b"b".to_vec())])
            ])
        );
    }
}
