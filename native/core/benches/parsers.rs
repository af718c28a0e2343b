//! Parser throughput, side by side with serde_json deserialising the same
//! JSON Lines into an equivalent typed struct.
//!
//!   cargo bench -p tally_core --bench parsers
//!
//! Criterion measures each parser; at the end a table prints MB/s, events/s
//! and each JSON Lines figure as a ratio to the serde_json baseline.
//! `_borrowed` rows parse into a sink that keeps nothing (the parser's own
//! speed, as when it feeds an aggregator); the others collect owned events.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use serde::Deserialize;
use std::borrow::Cow;

use tally_core::event::{EventRef, EventSink};
use tally_core::parse::{parse_all, ParserOptions, StreamParser};
use tally_core::time::{format_rfc3339, parse_rfc3339};
use tally_core::Reject;
use tally_core::{Format, UsageEvent};

const LINES: usize = 50_000;

/// JSON Lines as an edge fleet would send them: 2,000 customers, a few
/// meters, unique ids, occasional unknown fields and escapes.
fn jsonl_data() -> Vec<u8> {
    let meters = ["bandwidth_out_bytes", "bandwidth_in_bytes", "requests"];
    let mut out = Vec::with_capacity(LINES * 260);
    for i in 0..LINES {
        let extra = if i % 10 == 0 {
            r#","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01""#
        } else {
            ""
        };
        out.extend_from_slice(
            format!(
                r#"{{"specversion":"1.0","id":"evt-{i:08}","source":"/edge/pop-{}","type":"com.tally.usage","subject":"customer-{:04}","time":"{}"{extra},"data":{{"resource":"bucket-{}","meter":"{}","value":{}}}}}"#,
                i % 17,
                i % 2000,
                format_rfc3339(1_790_812_800_000 + (i as i64) * 37_000),
                i % 5,
                meters[i % 3],
                (i * 7919) % 10_000_000
            )
            .as_bytes(),
        );
        out.push(b'\n');
    }
    out
}

fn s3_data() -> Vec<u8> {
    let ops = ["REST.GET.OBJECT", "REST.PUT.OBJECT", "REST.HEAD.OBJECT"];
    let mut out = Vec::with_capacity(LINES * 400);
    for i in 0..LINES {
        out.extend_from_slice(
            format!(
                "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be bucket-{} [06/Feb/2019:00:{:02}:{:02} +0000] 192.0.2.3 arn:aws:iam::123456789012:user/u{} REQ{i:012X} {} photos/{i}.jpg \"GET /bucket/photos/{i}.jpg HTTP/1.1\" 200 - {} {} 70 10 \"-\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\" - Y1jBcdNS/xzPNhvmyR3E0gOu8qOHX0xQqr9dkFBrazIWRW9mGE0iPcLcvHt8f0Rg7t+4LmXiVWw= SigV4 ECDHE-RSA-AES128-SHA AuthHeader bucket.s3.us-west-1.amazonaws.com TLSv1.2 - -\n",
                i % 300,
                (i / 60) % 60,
                i % 60,
                i % 50,
                ops[i % 3],
                (i * 31) % 5_000_000,
                (i * 31) % 5_000_000 + 1000,
            )
            .as_bytes(),
        );
    }
    out
}

fn csv_data() -> Vec<u8> {
    let mut out = b"timestamp,customer,bucket,bytes\n".to_vec();
    for i in 0..LINES {
        out.extend_from_slice(
            format!(
                "{},customer-{:04},bucket-{},{}\n",
                format_rfc3339(1_790_812_800_000 + (i as i64 / 100) * 3_600_000),
                i % 100,
                i % 7,
                i * 1_000_003
            )
            .as_bytes(),
        );
    }
    out
}

fn rgw_data() -> Vec<u8> {
    let mut out = String::from("{\n    \"entries\": [\n");
    for u in 0..200 {
        out.push_str(&format!(
            "        {{\n            \"user\": \"user-{u}\",\n            \"buckets\": [\n"
        ));
        for h in 0..50 {
            out.push_str(&format!(
                "                {{\n                    \"bucket\": \"bucket-{u}\",\n                    \"time\": \"2026-10-{:02} {:02}:00:00.000000Z\",\n                    \"epoch\": {},\n                    \"owner\": \"user-{u}\",\n                    \"categories\": [\n                        {{\n                            \"category\": \"get_obj\",\n                            \"bytes_sent\": {},\n                            \"bytes_received\": 0,\n                            \"ops\": {},\n                            \"successful_ops\": {}\n                        }}\n                    ]\n                }}{}\n",
                // RGW writes `time` from `epoch`: the two agree (tally refuses an entry where they do not).
                1 + h / 24,
                h % 24,
                1_790_812_800 + h * 3600,
                h * 1_048_576 + 1,
                h + 1,
                h + 1,
                if h < 49 { "," } else { "" }
            ));
        }
        out.push_str(&format!(
            "            ]\n        }}{}\n",
            if u < 199 { "," } else { "" }
        ));
    }
    out.push_str("    ]\n}\n");
    out.into_bytes()
}

#[derive(Deserialize)]
struct SerdeData {
    resource: String,
    meter: String,
    value: u64,
}

#[derive(Deserialize)]
struct SerdeEvent {
    id: String,
    source: String,
    subject: String,
    time: String,
    data: SerdeData,
}

/// The baseline: split lines, serde_json into the typed struct, and the same
/// RFC 3339 conversion, giving the same `UsageEvent`s.
fn serde_baseline(input: &[u8]) -> Vec<UsageEvent> {
    let mut events = Vec::new();
    for line in input.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(e) = serde_json::from_slice::<SerdeEvent>(line) {
            if let Some(time_ms) = parse_rfc3339(e.time.as_bytes()) {
                events.push(UsageEvent {
                    id: e.id,
                    source: e.source,
                    customer: e.subject,
                    resource: e.data.resource,
                    meter: e.data.meter,
                    value: e.data.value,
                    time_ms,
                });
            }
        }
    }
    events
}

#[derive(Deserialize)]
struct SerdeDataRef<'a> {
    #[serde(borrow)]
    resource: Cow<'a, str>,
    #[serde(borrow)]
    meter: Cow<'a, str>,
    value: u64,
}

#[derive(Deserialize)]
struct SerdeEventRef<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow)]
    subject: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    data: SerdeDataRef<'a>,
}

/// The borrowed baseline: serde_json into a struct of `Cow<str>` fields,
/// handed to a sink as tally hands its borrowed events.
fn serde_borrowed(input: &[u8], sink: &mut Summing) {
    for line in input.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(e) = serde_json::from_slice::<SerdeEventRef>(line) {
            if let Some(time_ms) = parse_rfc3339(e.time.as_bytes()) {
                sink.event(EventRef {
                    id: e.id,
                    source: e.source,
                    customer: e.subject,
                    resource: e.data.resource,
                    meter: e.data.meter,
                    value: e.data.value,
                    time_ms,
                });
            }
        }
    }
}

/// A sink that looks at every field, as an aggregator would, and keeps nothing.
#[derive(Default)]
struct Summing {
    events: u64,
    checksum: u64,
}

impl EventSink for Summing {
    fn event(&mut self, e: EventRef<'_>) {
        self.events += 1;
        self.checksum = self
            .checksum
            .wrapping_add(e.value ^ e.time_ms as u64)
            .wrapping_add(
                (e.id.len() + e.source.len() + e.customer.len() + e.resource.len() + e.meter.len()) as u64,
            );
    }
    fn reject(&mut self, _: Reject) {}
}

fn tally_borrowed(input: &[u8], sink: &mut Summing) {
    parse_borrowed(Format::JsonLines, input, sink)
}

/// Parses into a sink that keeps nothing: the parser's own speed, as when
/// it feeds an aggregator.
fn parse_borrowed(format: Format, input: &[u8], sink: &mut Summing) {
    let mut p = StreamParser::new(format, ParserOptions::default());
    p.feed(input, sink);
    p.finish(sink);
}

struct Case {
    name: &'static str,
    bytes: usize,
    events: usize,
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1));
    let jsonl = jsonl_data();
    let inputs = [
        ("json_lines/tally", Format::JsonLines, jsonl.clone()),
        ("s3_access_log/tally", Format::S3AccessLog, s3_data()),
        ("rgw_usage/tally", Format::RgwUsage, rgw_data()),
        ("storage_csv/tally", Format::StorageCsv, csv_data()),
    ];
    // The baseline must produce exactly what tally produces, or the comparison means nothing.
    assert_eq!(
        serde_baseline(&jsonl),
        parse_all(Format::JsonLines, ParserOptions::default(), &jsonl)
            .0
            .events
    );

    let mut cases = Vec::new();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(jsonl.len() as u64));
    group.bench_function("json_lines/serde_json", |b| {
        b.iter(|| black_box(serde_baseline(black_box(&jsonl))))
    });
    cases.push(Case {
        name: "json_lines/serde_json",
        bytes: jsonl.len(),
        events: LINES,
    });
    let (mut a, mut b) = (Summing::default(), Summing::default());
    serde_borrowed(&jsonl, &mut a);
    tally_borrowed(&jsonl, &mut b);
    assert_eq!(
        (a.events, a.checksum),
        (b.events, b.checksum),
        "borrowed baselines agree"
    );
    group.bench_function("json_lines/serde_json_borrowed", |bench| {
        bench.iter(|| {
            let mut sink = Summing::default();
            serde_borrowed(black_box(&jsonl), &mut sink);
            black_box(sink.checksum)
        })
    });
    cases.push(Case {
        name: "json_lines/serde_json_borrowed",
        bytes: jsonl.len(),
        events: LINES,
    });
    group.bench_function("json_lines/tally_borrowed", |bench| {
        bench.iter(|| {
            let mut sink = Summing::default();
            tally_borrowed(black_box(&jsonl), &mut sink);
            black_box(sink.checksum)
        })
    });
    cases.push(Case {
        name: "json_lines/tally_borrowed",
        bytes: jsonl.len(),
        events: LINES,
    });
    let s3 = &inputs[1].2;
    group.throughput(Throughput::Bytes(s3.len() as u64));
    group.bench_function("s3_access_log/tally_borrowed", |bench| {
        bench.iter(|| {
            let mut sink = Summing::default();
            parse_borrowed(Format::S3AccessLog, black_box(s3), &mut sink);
            black_box(sink.checksum)
        })
    });
    let mut sink = Summing::default();
    parse_borrowed(Format::S3AccessLog, s3, &mut sink);
    cases.push(Case {
        name: "s3_access_log/tally_borrowed",
        bytes: s3.len(),
        events: sink.events as usize,
    });
    for (name, format, input) in &inputs {
        let (batch, stats) = parse_all(*format, ParserOptions::default(), input);
        assert_eq!(stats.rejected, 0, "{name}: the benchmark data must be valid");
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| black_box(parse_all(*format, ParserOptions::default(), black_box(input))))
        });
        cases.push(Case {
            name,
            bytes: input.len(),
            events: batch.events.len(),
        });
    }
    group.finish();
    c.final_summary();
    print_table(&cases);
}

/// Reads criterion's estimates back and prints MB/s, events/s and ratios:
/// from the mean time, and from the fastest sample (this shared VM's
/// neighbours only ever add time, so the fastest sample is the closest to
/// what the code does on a quiet core; both are printed).
fn print_table(cases: &[Case]) {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").to_string());
    let read = |name: &str, file: &str| -> Option<serde_json::Value> {
        let path = format!("{dir}/criterion/parse/{}/new/{file}", name.replace('/', "_"));
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    let mean_ns = |name: &str| read(name, "estimates.json")?["mean"]["point_estimate"].as_f64();
    let best_ns = |name: &str| {
        let v = read(name, "sample.json")?;
        let (iters, times) = (v["iters"].as_array()?, v["times"].as_array()?);
        iters
            .iter()
            .zip(times)
            .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?))
            .min_by(f64::total_cmp)
    };
    // Owned results compare with the owned baseline, borrowed with borrowed.
    let baseline = |name: &str, ns: &dyn Fn(&str) -> Option<f64>| {
        if !name.starts_with("json_lines") {
            return None;
        }
        ns(if name.ends_with("borrowed") {
            "json_lines/serde_json_borrowed"
        } else {
            "json_lines/serde_json"
        })
    };
    println!(
        "\n{:<32} {:>10} {:>14} {:>10} {:>12} {:>10}",
        "parser", "MB/s", "events/s", "vs serde", "best MB/s", "vs serde"
    );
    for case in cases {
        let (Some(mean), Some(best)) = (mean_ns(case.name), best_ns(case.name)) else {
            continue;
        };
        let ratio = |ns: f64, b: Option<f64>| b.map_or("-".to_string(), |b| format!("{:.2}x", b / ns));
        println!(
            "{:<32} {:>10.0} {:>14.0} {:>10} {:>12.0} {:>10}",
            case.name,
            case.bytes as f64 * 1e3 / mean,
            case.events as f64 / (mean / 1e9),
            ratio(mean, baseline(case.name, &mean_ns)),
            case.bytes as f64 * 1e3 / best,
            ratio(best, baseline(case.name, &best_ns)),
        );
    }
    println!("(MB/s and ratios from the mean time; 'best' from the fastest sample of each; ratios compare owned with owned, borrowed with borrowed)");
}
