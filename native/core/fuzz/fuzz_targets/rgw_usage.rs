//! Any bytes, cut into chunks anywhere: no panic, the chunked result equals
//! the whole one, and the counts add up.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tally_core::Format;

fuzz_target!(|data: &[u8]| {
    tally_core::parse::check_stream_invariants(Format::RgwUsage, data);
});
