//! The JSON the command line writes: one object per line.

use serde_json::{json, Value};
use tally_core::aggregate::{SeriesKey, Window, WindowStats};
use tally_core::billing::InvoiceLine;
use tally_core::time::format_rfc3339;
use tally_core::{Reject, UsageEvent};

/// Values, sums and their kin (u64 and u128) are always decimal strings:
/// as JSON numbers they would lose precision above 2^53 in many readers,
/// and a field keeps one JSON type whatever its value (see README, "The
/// written form"). Counts, lines, offsets and times stay numbers.
fn big(n: u128) -> Value {
    json!(n.to_string())
}

pub fn event(e: &UsageEvent) -> Value {
    json!({
        "id": e.id, "source": e.source, "customer": e.customer, "resource": e.resource,
        "meter": e.meter, "value": big(e.value as u128), "time": format_rfc3339(e.time_ms), "time_ms": e.time_ms,
    })
}

/// A rejected line in the one written form (`tally_core::written`), the
/// same object the release writes to `rejects.jsonl`; the input's name is
/// both its source and its file.
pub fn reject(file: &str, r: &Reject) -> String {
    tally_core::written::reject_json(file, file, r)
}

fn window_name(w: Window) -> &'static str {
    match w {
        Window::Hour => "hour",
        Window::Day => "day",
        Window::Month => "month",
    }
}

pub fn window(
    key: &SeriesKey,
    window: Window,
    start: i64,
    st: impl std::borrow::Borrow<WindowStats>,
) -> Value {
    let st = st.borrow();
    let mut v = json!({
        "customer": &*key.customer, "resource": &*key.resource, "meter": &*key.meter,
        "window": window_name(window), "window_start": format_rfc3339(start),
        "sum": big(st.sum), "count": st.count, "min": big(st.min as u128), "max": big(st.max as u128),
        "latest": big(st.latest_value as u128), "latest_time": format_rfc3339(st.latest_time_ms),
    });
    if let Some(u) = st.unique_count() {
        v["unique_count"] = json!(u);
    }
    v
}

/// An invoice line in the one written form (`tally_core::written`), the
/// same bytes the release publishes.
pub fn invoice_line(l: &InvoiceLine) -> String {
    tally_core::written::invoice_line_json(l)
}
