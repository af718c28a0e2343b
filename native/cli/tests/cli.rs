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
    assert_eq!(kept[0]["reason"]["kind"], "invalid_number");
    assert_eq!(kept[0]["reason"]["field"], "data.value");
    assert_eq!(
        kept[0]["message"],
        "field data.value is not a non-negative integer"
    );
    assert_eq!(kept[0]["text_base64"], false);
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
    assert_eq!(johndoe[0]["key"], "johndoe/*/requests/total/2026-10");
    assert_eq!(johndoe[0]["version"], 2);
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

#[test]
fn every_command_has_its_help() {
    for (args, first) in [
        (&["parse", "--help"][..], "usage: tally parse "),
        (&["aggregate", "-h"], "usage: tally aggregate "),
        (&["bill", "--help"], "usage: tally bill "),
        (&["bill", "--period", "2026-10", "--help"], "usage: tally bill "),
        (&["help", "parse"], "usage: tally parse "),
        (&["--help"], "usage: tally parse     "),
        (&[], "usage: tally parse     "),
    ] {
        let out = tally(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.starts_with(first), "{args:?}: {help}");
        // The help says what the program does with its exit statuses.
        assert!(
            help.contains("0 when every line was used, 2 when some lines were rejected"),
            "{help}"
        );
        assert!(help.contains("64 for bad"), "{help}");
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn bad_arguments_exit_64_with_the_command_help() {
    for args in [
        &["parse", "--max-line", "0", "x.jsonl"][..],
        &["parse", "--nope", "x.jsonl"],
        &["bill", "x.jsonl"],
        &["bill", "--plans", "p.json", "--period", "2026-13", "x.jsonl"],
        &["frobnicate"],
    ] {
        let out = tally(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("tally: "), "{err}");
        assert!(err.contains("usage: tally"), "{err}");
    }
    let err = String::from_utf8_lossy(&tally(&["bill", "x.jsonl"]).stderr).to_string();
    assert!(err.contains("usage: tally bill [options] --plans"), "{err}");
    assert!(err.starts_with("tally: bill needs --plans and --period"), "{err}");
    // Only what is missing is named.
    let err = String::from_utf8_lossy(&tally(&["bill", "--period", "2026-10", "x.jsonl"]).stderr).to_string();
    assert!(err.starts_with("tally: bill needs --plans\n"), "{err}");
}

/// A reader of standard error that goes away early (`2>&1 | head -1`)
/// is no panic: the exit status stays the documented one.
#[test]
fn a_closed_standard_error_changes_no_exit_status() {
    use std::process::Stdio;
    let storage = fixture("storage.csv");
    for args in [
        &["aggregate", "--bogus", "x.jsonl"][..],
        &["aggregate", "--window", "month", &storage],
        &["parse", &storage],
    ] {
        let expected = tally(args).status.code();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        drop(child.stderr.take());
        assert_eq!(child.wait().unwrap().code(), expected, "{args:?}");
        assert_ne!(expected, Some(101), "{args:?}");
    }
    // The summary says `1 input`, not `1 inputs`.
    let out = tally(&["aggregate", "--window", "month", &fixture("storage.csv")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("tally: 1 input, "));
}

#[test]
fn the_summary_names_the_rejects_file_only_when_something_was_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let out = tally(&[
        "parse",
        &fixture("storage.csv"),
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("(kept in {})", rejects.display())), "{err}");
    let clean = dir.path().join("clean.csv");
    std::fs::write(
        &clean,
        "timestamp,customer,bucket,bytes\n2026-10-01T00:00:00Z,acme,b1,5\n",
    )
    .unwrap();
    let out = tally(&[
        "parse",
        clean.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("0 rejected, 1 skipped"), "{err}");
    assert!(!err.contains("kept in"), "{err}");
    assert!(std::fs::read(&rejects).unwrap().is_empty());
}

/// Issue 16, item 3, on the command line: a line over the limit is rejected
/// whole, and the event glued to its end is not read.
#[test]
fn an_over_long_line_smuggles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smuggle.jsonl");
    let event = |id: &str, who: &str| {
        format!(
            r#"{{"id":"{id}","source":"/e","subject":"{who}","time":"2026-10-01T00:00:00Z","data":{{"resource":"r","meter":"requests","value":1}}}}"#
        )
    };
    let input = format!(
        "{}\n{}{}\n{}\n",
        event("a", "alice"),
        "X".repeat(1 << 20),
        event("v", "victim"),
        event("b", "bob")
    );
    std::fs::write(&path, &input).unwrap();
    let out = tally(&["parse", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let customers: Vec<_> = lines(&out.stdout)
        .iter()
        .map(|e| e["customer"].to_string())
        .collect();
    assert_eq!(customers, vec!["\"alice\"", "\"bob\""]);
    let err = String::from_utf8_lossy(&out.stderr);
    let long = (1 << 20) + event("v", "victim").len();
    assert!(
        err.contains(&format!(":2: line of {long} bytes is over the limit of 1048576")),
        "{err}"
    );
}
