//! Every input a fuzz target ever failed on, kept and replayed. A file is
//! named `<target>-crash-<hash>`; the target names the format.

use tally_core::parse::check_stream_invariants;
use tally_core::Format;

#[test]
fn replay_fuzz_findings() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz_regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).expect("the regression folder exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let format = match name.split("-crash-").next() {
            Some("json_lines") => Format::JsonLines,
            Some("s3_access_log") => Format::S3AccessLog,
            Some("rgw_usage") => Format::RgwUsage,
            Some("storage_csv") => Format::StorageCsv,
            _ => panic!("{name}: unknown fuzz target"),
        };
        check_stream_invariants(format, &std::fs::read(&path).unwrap());
        replayed += 1;
    }
    assert!(replayed >= 2, "the known findings are all here");
}
