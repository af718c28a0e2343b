//! The normalised usage event that every parser produces.

use std::borrow::Cow;

use crate::reject::Reject;

/// One measured quantity of usage.
///
/// * `id`: unique per `source`; parsers of sources without ids derive one
///   from the content and its position, so re-reading gives the same ids.
/// * `source`: where it came from (a CloudEvents `source`, or `s3:<bucket>`, ...).
/// * `customer`: who is billed (CloudEvents `subject`, S3 bucket owner, RGW owner, ...).
/// * `resource`: what was used (bucket, volume, link).
/// * `meter`: what was measured; see [`meter_unit`] for the standard names.
/// * `value`: a non-negative integer in the meter's unit.
/// * `time_ms`: when, in milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam, tally_interop::FromGleam))]
pub struct UsageEvent {
    pub id: String,
    pub source: String,
    pub customer: String,
    pub resource: String,
    pub meter: String,
    #[cfg_attr(
        feature = "gleam",
        gleam(
            check = "crate::gleam_shapes::fits_i64",
            expected = "a value from 0 to 2^63-1"
        )
    )]
    pub value: u64,
    pub time_ms: i64,
}

/// An event as a parser sees it, borrowing from the input where it can:
/// parsing into an aggregator needs no allocation per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub id: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub customer: Cow<'a, str>,
    pub resource: Cow<'a, str>,
    pub meter: Cow<'a, str>,
    pub value: u64,
    pub time_ms: i64,
}

/// The fields of an event, however it is held: aggregation counts events
/// borrowed from a parser, owned, or queued in a shared buffer
/// ([`crate::queue::EventQueue`]) through this one view.
pub trait EventFields {
    fn id(&self) -> &str;
    fn source(&self) -> &str;
    fn customer(&self) -> &str;
    fn resource(&self) -> &str;
    fn meter(&self) -> &str;
    fn value(&self) -> u64;
    fn time_ms(&self) -> i64;

    /// An owned copy.
    fn to_event(&self) -> UsageEvent {
        UsageEvent {
            id: self.id().to_string(),
            source: self.source().to_string(),
            customer: self.customer().to_string(),
            resource: self.resource().to_string(),
            meter: self.meter().to_string(),
            value: self.value(),
            time_ms: self.time_ms(),
        }
    }
}

impl EventFields for EventRef<'_> {
    fn id(&self) -> &str {
        &self.id
    }
    fn source(&self) -> &str {
        &self.source
    }
    #[inline]
    fn customer(&self) -> &str {
        &self.customer
    }
    #[inline]
    fn resource(&self) -> &str {
        &self.resource
    }
    #[inline]
    fn meter(&self) -> &str {
        &self.meter
    }
    #[inline]
    fn value(&self) -> u64 {
        self.value
    }
    #[inline]
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
}

impl<'a> From<&'a UsageEvent> for EventRef<'a> {
    fn from(e: &'a UsageEvent) -> Self {
        EventRef {
            id: Cow::Borrowed(&e.id),
            source: Cow::Borrowed(&e.source),
            customer: Cow::Borrowed(&e.customer),
            resource: Cow::Borrowed(&e.resource),
            meter: Cow::Borrowed(&e.meter),
            value: e.value,
            time_ms: e.time_ms,
        }
    }
}

/// Where a parser puts what it reads: events and rejects, in input order.
/// [`crate::parse::Batch`] collects them; an aggregator folds them in directly.
pub trait EventSink {
    fn event(&mut self, event: EventRef<'_>);
    fn reject(&mut self, reject: Reject);
}

/// Standard meter names.
pub mod meters {
    pub const BANDWIDTH_OUT_BYTES: &str = "bandwidth_out_bytes";
    pub const BANDWIDTH_IN_BYTES: &str = "bandwidth_in_bytes";
    pub const REQUESTS: &str = "requests";
    pub const SUCCESSFUL_REQUESTS: &str = "successful_requests";
    pub const STORAGE_BYTES: &str = "storage_bytes";
}

/// The unit a standard meter counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub enum MeterUnit {
    Bytes,
    Count,
}

/// The unit of a standard meter, `None` for a meter tally does not know
/// (custom meters from JSON events are allowed and billed as plain counts).
pub fn meter_unit(meter: &str) -> Option<MeterUnit> {
    use meters::*;
    match meter {
        BANDWIDTH_OUT_BYTES | BANDWIDTH_IN_BYTES | STORAGE_BYTES => Some(MeterUnit::Bytes),
        REQUESTS | SUCCESSFUL_REQUESTS => Some(MeterUnit::Count),
        _ => None,
    }
}

/// `n` events for the tests of the modules that count them: duplicate ids
/// (one in ten repeats an earlier one), several customers, resources and
/// windows, sum, rate and gauge meters, a non-ASCII id.
#[cfg(test)]
pub(crate) fn test_events(n: u64) -> Vec<UsageEvent> {
    (0..n)
        .map(|i| UsageEvent {
            id: format!("é-{}", i % (n * 9 / 10).max(1)),
            source: if i % 7 == 0 { "s3:b".into() } else { "edge".into() },
            customer: format!("cust-{}", i % 13),
            resource: format!("res-{}", i % 5),
            meter: ["requests", "bandwidth_out_bytes", "storage_bytes"][(i % 3) as usize].into(),
            value: i * 31 % 1000,
            time_ms: 1_790_812_800_000 + (i as i64 * 7_919_000) % (40 * 86_400_000),
        })
        .collect()
}
