//! tally_core: the engine of tally.
//!
//! Parsers turn raw usage data into [`UsageEvent`]s (one normalised type for
//! every source), plus a [`Reject`] for every line that could not be used.
//! Pure Rust: no rustler, no tokio, no I/O beyond byte slices.

pub mod aggregate;
pub mod batch;
pub mod billing;
pub mod csv;
mod digests;
#[cfg(feature = "gleam")]
pub mod entry;
pub mod event;
pub mod json;
pub mod jsonl;
mod line_index;
pub mod lines;
#[cfg(feature = "gleam")]
pub mod operations;
pub mod parse;
mod prefetch;
pub mod queue;
pub mod ratio;
pub mod reject;
pub mod rgw;
pub mod s3;
mod series;
pub mod shard;
pub mod snapshot;
pub mod time;
pub mod written;

#[cfg(feature = "gleam")]
pub mod gleam_shapes;

pub use event::{meter_unit, MeterUnit, UsageEvent};
pub use parse::{parse_all, Batch, ParseStats, ParserOptions, StreamParser};
pub use reject::{Format, Reject, RejectReason};

/// The engine's version, as the NIF and the port report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a running engine says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam))]
pub struct EngineInfo {
    pub name: String,
    pub version: String,
    /// The git commit it was built from, when the build knew it.
    pub commit: Option<String>,
}

/// Describes this build; `host` names the adapter ("nif", "port", "cli").
pub fn engine_info(host: &str) -> EngineInfo {
    EngineInfo {
        name: format!("tally_core/{host}"),
        version: VERSION.to_string(),
        commit: option_env!("TALLY_GIT_COMMIT")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    }
}
