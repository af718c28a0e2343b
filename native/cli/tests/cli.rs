//! The `tally` binary end to end, on the core's fixtures.

use std::process::{Command, Output};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/fixtures");

fn tally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .expect("runs")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn parse_writes_events_and_names_every_reject() {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let out = tally(&[
        "parse",
        &fixture("events.jsonl"),
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "rejected lines give status 2");
    let events = lines(&out.stdout);
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["id"], "evt-1");
    assert_eq!(events[0]["time"], "2026-10-01T00:05:00.000Z");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("events.jsonl:5: field data.value is not a non-negative integer"),
        "{stderr}"
    );
    assert!(stderr.contains("13 records read"), "{stderr}");
    let kept = lines(&std::fs::read(&rejects).unwrap());
    assert_eq!(kept.len(), 8);
    assert_eq!(kept[0]["line"], 5);
    assert_eq!(kept[0]["offset"], 704);
    assert!(kept[0]["text"].as_str().unwrap().starts_with("{\"id\":\"evt-4\""));
}

#[test]
fn aggregate_counts_replays_once() {
    let f = fixture("storage.csv");
    let once = tally(&["aggregate", "--window", "month", &f, "--quiet"]);
    let twice = tally(&["aggregate", "--window", "month", &f, &f]);
    assert_eq!(lines(&once.stdout), lines(&twice.stdout));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("4 duplicate events"));
    let windows = lines(&once.stdout);
    assert_eq!(windows[0]["customer"], "Globex, Inc.");
    assert_eq!(windows[0]["window_start"], "2026-10-01T00:00:00.000Z");
}

#[test]
fn bill_writes_invoice_lines() {
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans.json");
    std::fs::write(
        &plans,
        r#"{"plans": {"std": {"currency": "EUR", "lines": [
              {"meter": "requests", "measure": "total", "included": "1000", "pricing": {"model": "package", "package_size": "1000", "package_price": "40"}},
              {"meter": "bandwidth_out_bytes", "measure": "total", "unit": "GB", "pricing": {"model": "flat", "unit_price": "5"}}]}},
            "default_plan": "std"}"#,
    )
    .unwrap();
    let out = tally(&[
        "bill",
        "--plans",
        plans.to_str().unwrap(),
        "--period",
        "2026-10",
        "--version",
        "2",
        &fixture("rgw_usage.json"),
    ]);
    assert_eq!(out.status.code(), Some(2), "the fixture has a rejected entry");
    let invoice = lines(&out.stdout);
    let johndoe: Vec<_> = invoice.iter().filter(|l| l["customer"] == "johndoe").collect();
    assert_eq!(johndoe[0]["key"], "johndoe/*/requests/total/2026-10/v2");
    assert_eq!(johndoe[0]["used"], "1242");
    assert_eq!(johndoe[0]["amount_minor"], "40");
    // 5 GiB + 512 bytes, exact: 5 + 1/2^21 GB
    assert_eq!(johndoe[1]["used"], "5.000000476837158203125");
    assert_eq!(johndoe[1]["amount_minor"], "25");
}

#[test]
fn errors_name_the_file_and_exit_non_zero() {
    let out = tally(&["parse", "/no/such/file.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /no/such/file.jsonl"));
    let out = tally(&["parse", "data.unknown"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no format for \"data.unknown\""));
    let out = tally(&[
        "bill",
        "--plans",
        "/nope.json",
        "--period",
        "2026-10",
        &fixture("storage.csv"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plans file /nope.json"));
}
