//! Panics as Gleam error values, for NIFs and ports alike.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::{IntoGleam, Value};

/// The Gleam error value for a caught panic: `{error, {native_panic, Message}}`.
pub fn panic_value(message: &str) -> Value {
    Value::error(Value::record("native_panic", vec![message.into_gleam()]))
}

/// The text a panic was raised with, when it was a string.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `work`, giving `{ok, Value}`, or the panic's error value.
pub fn catch_as_result(work: impl FnOnce() -> Value) -> Value {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(v) => Value::ok(v),
        Err(payload) => panic_value(&panic_message(payload.as_ref())),
    }
}
