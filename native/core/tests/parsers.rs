//! Every parser against realistic fixtures written from the formats' public
//! documentation, plus the streaming and robustness properties.

use proptest::prelude::*;
use tally_core::parse::{parse_all, Batch, ParseStats, ParserOptions, S3Customer, StreamParser};
use tally_core::{Format, RejectReason, UsageEvent};

const JSONL: &[u8] = include_bytes!("fixtures/events.jsonl");
const S3: &[u8] = include_bytes!("fixtures/s3_access.log");
const RGW: &[u8] = include_bytes!("fixtures/rgw_usage.json");
const CSV: &[u8] = include_bytes!("fixtures/storage.csv");
const ALL: [(Format, &[u8]); 4] = [
    (Format::JsonLines, JSONL),
    (Format::S3AccessLog, S3),
    (Format::RgwUsage, RGW),
    (Format::StorageCsv, CSV),
];

fn whole(format: Format, input: &[u8]) -> (Batch, ParseStats) {
    parse_all(format, ParserOptions::default(), input)
}

fn chunked(format: Format, options: ParserOptions, input: &[u8], cuts: &[usize]) -> (Batch, ParseStats) {
    let mut p = StreamParser::new(format, options);
    let mut out = Batch::default();
    let mut from = 0;
    for &cut in cuts {
        let cut = cut.clamp(from, input.len());
        p.feed(&input[from..cut], &mut out);
        from = cut;
    }
    p.feed(&input[from..], &mut out);
    p.finish(&mut out);
    (out, p.stats())
}

fn ev(
    id: &str,
    source: &str,
    customer: &str,
    resource: &str,
    meter: &str,
    value: u64,
    time_ms: i64,
) -> UsageEvent {
    UsageEvent {
        id: id.into(),
        source: source.into(),
        customer: customer.into(),
        resource: resource.into(),
        meter: meter.into(),
        value,
        time_ms,
    }
}

fn reasons(b: &Batch) -> Vec<(u64, RejectReason)> {
    b.rejects.iter().map(|r| (r.line, r.reason.clone())).collect()
}

fn assert_counts_add_up(stats: &ParseStats, batch: &Batch) {
    assert_eq!(
        stats.records,
        stats.accepted + stats.rejected + stats.skipped,
        "{stats:?}"
    );
    assert_eq!(stats.rejected, batch.rejects.len() as u64);
    assert_eq!(stats.events, batch.events.len() as u64);
}

#[test]
fn json_lines_fixture() {
    let (b, stats) = whole(Format::JsonLines, JSONL);
    assert_eq!(
        b.events,
        vec![
            ev(
                "evt-1",
                "/edge/fra1",
                "acme",
                "cdn-acme",
                "bandwidth_out_bytes",
                1 << 30,
                1_790_813_100_000
            ),
            // +02:00 and microseconds: truncated to the millisecond.
            ev(
                "evt-2",
                "/edge/fra1",
                "acme",
                "cdn-acme",
                "requests",
                5200,
                1_790_813_400_123
            ),
            ev(
                "evt-3",
                "/edge/ams1",
                "caf\u{e9} \"bar\"",
                "m\u{fc}nchen-\u{1F680}",
                "bandwidth_in_bytes",
                0,
                1_790_823_600_000
            ),
            ev(
                "evt-12",
                "/edge/ams1",
                "globex",
                "media",
                "requests",
                i64::MAX as u64,
                1_790_900_999_999
            ),
        ]
    );
    assert_eq!(
        reasons(&b),
        vec![
            (5, RejectReason::InvalidNumber { field: "data.value" }),
            (6, RejectReason::InvalidNumber { field: "data.value" }),
            (7, RejectReason::InvalidTime { field: "time" }),
            (8, RejectReason::NumberTooLarge { field: "data.value" }),
            (
                9,
                RejectReason::InvalidJson {
                    column: 142,
                    expected: "',' or '}'"
                }
            ),
            (10, RejectReason::MissingField { field: "subject" }),
            (11, RejectReason::EmptyField { field: "id" }),
            (
                12,
                RejectReason::InvalidJson {
                    column: 1,
                    expected: "'{'"
                }
            ),
        ]
    );
    assert_eq!(
        stats,
        ParseStats {
            records: 13,
            accepted: 4,
            rejected: 8,
            skipped: 1,
            events: 4,
            bytes: JSONL.len() as u64
        }
    );
    // A reject keeps the line and where it starts.
    let r = &b.rejects[0];
    assert!(r.text.starts_with(br#"{"id":"evt-4""#));
    assert_eq!(
        &JSONL[r.offset as usize..r.offset as usize + 12],
        br#"{"id":"evt-4"#
    );
}

#[test]
fn s3_access_log_fixture() {
    let (b, stats) = whole(Format::S3AccessLog, S3);
    let owner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";
    let bucket = "amzn-s3-demo-bucket1";
    let src = "s3_access_log";
    let line9 = S3.split(|&c| c == b'\n').nth(8).unwrap();
    let quote_column = line9.iter().position(|&c| c == b'"').unwrap() as u32 + 1;
    let head_id = format!(
        "s3-{:016x}-5",
        tally_core::parse::fnv1a64(S3.split(|&c| c == b'\n').nth(4).unwrap())
    );
    assert_eq!(
        b.events,
        vec![
            ev(
                "3E57427F3EXAMPLE/requests",
                src,
                owner,
                bucket,
                "requests",
                1,
                1_549_411_238_000
            ),
            ev(
                "3E57427F3EXAMPLE/bandwidth_out_bytes",
                src,
                owner,
                bucket,
                "bandwidth_out_bytes",
                113,
                1_549_411_238_000
            ),
            ev(
                "891CE47D2EXAMPLE/requests",
                src,
                owner,
                bucket,
                "requests",
                1,
                1_549_411_238_000
            ),
            ev(
                "891CE47D2EXAMPLE/bandwidth_out_bytes",
                src,
                owner,
                bucket,
                "bandwidth_out_bytes",
                242,
                1_549_411_238_000
            ),
            ev(
                "A1206F460EXAMPLE/requests",
                src,
                owner,
                bucket,
                "requests",
                1,
                1_549_411_317_000
            ),
            ev(
                "A1206F460EXAMPLE/bandwidth_out_bytes",
                src,
                owner,
                bucket,
                "bandwidth_out_bytes",
                2_662_992,
                1_549_411_317_000
            ),
            // +0100: 01:10 local is 00:10 UTC; an upload bills its object size inbound.
            ev(
                "7B4A0FABBEXAMPLE/requests",
                src,
                owner,
                bucket,
                "requests",
                1,
                1_549_411_800_000
            ),
            ev(
                "7B4A0FABBEXAMPLE/bandwidth_in_bytes",
                src,
                owner,
                bucket,
                "bandwidth_in_bytes",
                1_048_576,
                1_549_411_800_000
            ),
            // No request id, no bytes: still a request, with an id from content and position.
            ev(
                &format!("{head_id}/requests"),
                src,
                owner,
                bucket,
                "requests",
                1,
                1_549_411_380_000
            ),
        ]
    );
    assert_eq!(
        reasons(&b),
        vec![
            (7, RejectReason::InvalidNumber { field: "bytes_sent" }),
            (8, RejectReason::InvalidTime { field: "time" }),
            (
                9,
                RejectReason::BadField {
                    field: "request_uri",
                    column: quote_column,
                    expected: "closing '\"' followed by a space"
                }
            ),
            (10, RejectReason::MissingField { field: "key" }),
        ]
    );
    assert_counts_add_up(&stats, &b);
    assert_eq!((stats.records, stats.skipped), (10, 1));
}

#[test]
fn s3_can_bill_the_requester() {
    let options = ParserOptions {
        s3_customer: S3Customer::Requester,
        ..Default::default()
    };
    let (b, _) = parse_all(Format::S3AccessLog, options, S3);
    let customers: Vec<&str> = b.events.iter().map(|e| e.customer.as_str()).collect();
    assert_eq!(customers[4], "arn:aws:iam::123456789012:user/alice");
    // Anonymous (`-`) requests fall back to the bucket owner.
    assert!(customers[6].starts_with("79a59df9"));
}

/// The handed-over input (issue 17, item 1): S3 writes a key's `"` as it
/// is inside the quoted Request-URI. It was rejected whole (243 bytes out
/// lost) with a reason naming `bytes_sent`.
#[test]
fn s3_quote_inside_the_request_uri() {
    let line = br#"owner1 bucket1 [20/Jun/2019:03:51:36 +0000] 192.0.2.4 - 63DAF67A2BC0B6C3 REST.GET.OBJECT %2522 "GET /" HTTP/1.1" 403 AccessDenied 243 - 8 - "-" "curl/7.38.0" -"#;
    let t = 1_561_002_696_000;
    let src = "s3_access_log";
    for input in [&line[..], &[&line[..], b"\n"].concat()] {
        let (b, stats) = whole(Format::S3AccessLog, input);
        assert_eq!(
            b.events,
            vec![
                ev(
                    "63DAF67A2BC0B6C3/requests",
                    src,
                    "owner1",
                    "bucket1",
                    "requests",
                    1,
                    t
                ),
                ev(
                    "63DAF67A2BC0B6C3/bandwidth_out_bytes",
                    src,
                    "owner1",
                    "bucket1",
                    "bandwidth_out_bytes",
                    243,
                    t
                ),
            ]
        );
        assert_eq!(stats.rejected, 0);
    }
    // Quotes in the Referer and User-Agent too, and a Referer of `-`.
    let line = br#"owner1 bucket1 [20/Jun/2019:03:51:36 +0000] 192.0.2.4 - R2 REST.GET.OBJECT a%22b "GET /a"b?x=" "y" HTTP/1.1" 200 - 7 7 8 - "http://e/?q="a b"" "Mozilla "5.0" (X" - SigV4"#;
    let (b, _) = whole(Format::S3AccessLog, line);
    assert_eq!(b.events.iter().map(|e| e.value).collect::<Vec<_>>(), vec![1, 7]);
    let line = br#"owner1 bucket1 [20/Jun/2019:03:51:36 +0000] 192.0.2.4 - R3 REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 9 9 8 - - -"#;
    let (b, _) = whole(Format::S3AccessLog, line);
    assert_eq!(b.events.iter().map(|e| e.value).collect::<Vec<_>>(), vec![1, 9]);
}

/// Every reason names the field it is about, and a short line names the
/// first field it lacks.
#[test]
fn s3_reasons_name_the_field() {
    let good = r#"owner1 bucket1 [20/Jun/2019:03:51:36 +0000] 192.0.2.4 - R1 REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 243 - 8 - "-" "curl/7.38.0" -"#;
    let reason = |line: &str| {
        let (b, _) = whole(Format::S3AccessLog, line.as_bytes());
        b.rejects.first().map(|r| r.reason.clone())
    };
    assert_eq!(reason(good), None);
    assert_eq!(
        reason(&good.replace("HTTP/1.1\" 200", "HTTP/1.1\" OK")),
        Some(RejectReason::BadField {
            field: "http_status",
            column: 96,
            expected: "three digits or '-'"
        })
    );
    assert_eq!(
        reason(&good[..good.find(" 200").unwrap()]),
        Some(RejectReason::BadField {
            field: "request_uri",
            column: 78,
            expected: "closing '\"' followed by a space"
        })
    );
    assert_eq!(
        reason(&good.replace(" 243 ", " 24x ")),
        Some(RejectReason::InvalidNumber { field: "bytes_sent" })
    );
    assert_eq!(
        reason(&good[..good.find("\" \"curl").unwrap()]),
        Some(RejectReason::BadField {
            field: "referer",
            column: 112,
            expected: "closing '\"' followed by the User-Agent"
        })
    );
    assert_eq!(
        reason(&good.replace("curl/7.38.0\" -", "curl/7.38.0\"x -")),
        Some(RejectReason::BadField {
            field: "user_agent",
            column: 116,
            expected: "closing '\"' followed by a space or the end of the line"
        })
    );
    assert_eq!(reason(&good.replace("bucket1", "b\u{e9}")), None);
    let bad_utf8 = [&good.as_bytes()[..7], b"b\xff", &good.as_bytes()[14..]].concat();
    let (b, _) = whole(Format::S3AccessLog, &bad_utf8);
    assert_eq!(
        b.rejects[0].reason,
        RejectReason::BadField {
            field: "bucket",
            column: 9,
            expected: "UTF-8 text"
        }
    );
    assert_eq!(
        reason(&good[..good.find(" 243").unwrap()]),
        Some(RejectReason::MissingField { field: "bytes_sent" })
    );
    assert_eq!(
        reason("owner1 bucket1"),
        Some(RejectReason::MissingField { field: "time" })
    );
}

/// The older format (the 2006-03-01 documentation): it ends at the
/// User-Agent and writes `Anonymous` for unauthenticated requesters.
#[test]
fn s3_older_format() {
    let line = br#"314159b66967d86f031c7249d1d9a8024 mybucket [04/Aug/2006:22:34:02 +0000] 72.21.206.5 Anonymous 3E57427F33A59F07 REST.GET.OBJECT /photos/2006/08/puppy.jpg "GET /mybucket/photos/2006/08/puppy.jpg?x-foo=bar" 200 - 2662992 3462992 70 10 "http://www.amazon.com/webservices" "curl/7.15.1""#;
    let options = ParserOptions {
        s3_customer: S3Customer::Requester,
        ..Default::default()
    };
    let (b, stats) = parse_all(Format::S3AccessLog, options, line);
    assert_eq!(stats.rejected, 0, "{:?}", b.rejects);
    let got: Vec<_> = b
        .events
        .iter()
        .map(|e| (e.customer.as_str(), e.meter.as_str(), e.value, e.time_ms))
        .collect();
    let owner = "314159b66967d86f031c7249d1d9a8024";
    assert_eq!(
        got,
        vec![
            (owner, "requests", 1, 1_154_730_842_000),
            (owner, "bandwidth_out_bytes", 2_662_992, 1_154_730_842_000)
        ]
    );
}

#[test]
fn rgw_usage_fixture() {
    let (b, stats) = whole(Format::RgwUsage, RGW);
    let t10 = 1_790_848_800_000;
    let src = "rgw_usage";
    assert_eq!(
        b.events,
        vec![
            ev(
                "rgw/johndoe/photos/1790848800000/get_obj/bandwidth_out_bytes",
                src,
                "johndoe",
                "photos",
                "bandwidth_out_bytes",
                5 << 30,
                t10
            ),
            ev(
                "rgw/johndoe/photos/1790848800000/get_obj/requests",
                src,
                "johndoe",
                "photos",
                "requests",
                1200,
                t10
            ),
            ev(
                "rgw/johndoe/photos/1790848800000/get_obj/successful_requests",
                src,
                "johndoe",
                "photos",
                "successful_requests",
                1198,
                t10
            ),
            ev(
                "rgw/johndoe/photos/1790848800000/put_obj/bandwidth_in_bytes",
                src,
                "johndoe",
                "photos",
                "bandwidth_in_bytes",
                100 << 20,
                t10
            ),
            ev(
                "rgw/johndoe/photos/1790848800000/put_obj/requests",
                src,
                "johndoe",
                "photos",
                "requests",
                40,
                t10
            ),
            ev(
                "rgw/johndoe/photos/1790848800000/put_obj/successful_requests",
                src,
                "johndoe",
                "photos",
                "successful_requests",
                40,
                t10
            ),
            ev(
                "rgw/johndoe//1790852400000/list_buckets/bandwidth_out_bytes",
                src,
                "johndoe",
                "-",
                "bandwidth_out_bytes",
                512,
                1_790_852_400_000
            ),
            ev(
                "rgw/johndoe//1790852400000/list_buckets/requests",
                src,
                "johndoe",
                "-",
                "requests",
                2,
                1_790_852_400_000
            ),
            ev(
                "rgw/johndoe//1790852400000/list_buckets/successful_requests",
                src,
                "johndoe",
                "-",
                "successful_requests",
                2,
                1_790_852_400_000
            ),
            // No owner and no epoch: the entry's user, and the time string.
            ev(
                "rgw/jane \"j\" roe/logs/1790848800000/get_obj/bandwidth_out_bytes",
                src,
                "jane \"j\" roe",
                "logs",
                "bandwidth_out_bytes",
                2048,
                t10
            ),
            ev(
                "rgw/jane \"j\" roe/logs/1790848800000/get_obj/requests",
                src,
                "jane \"j\" roe",
                "logs",
                "requests",
                3,
                t10
            ),
            ev(
                "rgw/jane \"j\" roe/logs/1790848800000/get_obj/successful_requests",
                src,
                "jane \"j\" roe",
                "logs",
                "successful_requests",
                2,
                t10
            ),
        ]
    );
    // The broken bucket entry is reported at its opening brace, the line before its "bucket".
    let text = std::str::from_utf8(RGW).unwrap();
    let brace = text[..text.find("\"bucket\": \"broken\"").unwrap()]
        .rfind('{')
        .unwrap();
    let brace_line = text[..brace].matches('\n').count() as u64 + 1;
    assert_eq!(
        reasons(&b),
        vec![(
            brace_line,
            RejectReason::WrongType {
                field: "epoch",
                expected: "an integer"
            }
        )]
    );
    assert_eq!(b.rejects[0].offset as usize, brace);
    assert!(b.rejects[0].text.starts_with(b"{") && b.rejects[0].text.ends_with(b"}"));
    assert_eq!(
        stats,
        ParseStats {
            records: 4,
            accepted: 3,
            rejected: 1,
            skipped: 0,
            events: 12,
            bytes: RGW.len() as u64
        }
    );
}

/// One bucket entry of `usage show` (the shape of `RGWUsage::show`).
fn rgw_entry(bucket: &str, extra: &str) -> String {
    format!(
        r#"{{"bucket":"{bucket}","time":"2026-10-01 10:00:00.000000Z","epoch":1790848800,"owner":"acme",{extra}"categories":[{{"category":"get_obj","bytes_sent":100,"bytes_received":0,"ops":2,"successful_ops":1}}]}}"#
    )
}

fn rgw_doc(user: &str, entries: &[String]) -> String {
    format!(
        r#"{{"entries":[{{"user":"{user}","buckets":[{}]}}],"summary":[]}}"#,
        entries.join(",")
    )
}

/// The handed-over input (issue 17, item 2): with `--show-log-entries=false`
/// radosgw-admin prints only the summary. It was read as 0 records, 0
/// events; it is refused: a summary has no time or bucket to bill by.
#[test]
fn rgw_summary_only_is_refused() {
    let doc = br#"{
    "summary": [
        {
            "user": "acme",
            "categories": [
                { "category": "get_obj", "bytes_sent": 5368709120, "bytes_received": 0, "ops": 1200, "successful_ops": 1198 }
            ],
            "total": { "bytes_sent": 5368709120, "bytes_received": 0, "ops": 1200, "successful_ops": 1198 }
        }
    ]
}
"#;
    let (b, stats) = whole(Format::RgwUsage, doc);
    assert!(b.events.is_empty());
    assert_eq!(
        reasons(&b),
        vec![(1, RejectReason::MissingField { field: "entries" })]
    );
    assert_eq!((stats.records, stats.rejected), (1, 1));
    // Nothing shown at all (both sections off), an empty object, the
    // capitalised keys of early releases: refused the same way.
    for doc in [&b"{}"[..], br#"{"Entries":[{"Owner":"acme","Buckets":[]}]}"#] {
        let (b, _) = whole(Format::RgwUsage, doc);
        assert_eq!(
            reasons(&b),
            vec![(1, RejectReason::MissingField { field: "entries" })]
        );
    }
    // Entries with their summary, or no usage at all: read, the summary skipped.
    let (b, stats) = whole(Format::RgwUsage, br#"{"entries":[],"summary":[]}"#);
    assert_eq!((b.events.len(), stats.records, stats.rejected), (0, 0, 0));
    // A user section without buckets: refused, at the section's `{`.
    let (b, _) = whole(Format::RgwUsage, b"{\"entries\":[\n{\"user\":\"acme\"}]}");
    assert_eq!(
        b.rejects
            .iter()
            .map(|r| (r.line, r.offset, r.reason.clone()))
            .collect::<Vec<_>>(),
        vec![(
            2,
            13,
            RejectReason::MissingField {
                field: "entries.buckets"
            }
        )]
    );
    // Documents in a row: each one on its own.
    let two = [
        rgw_doc("acme", &[rgw_entry("b1", "")]),
        "{\"summary\":[]}".to_string(),
    ]
    .join("\n");
    let (b, _) = whole(Format::RgwUsage, two.as_bytes());
    assert_eq!(b.events.len(), 3);
    assert_eq!(
        reasons(&b),
        vec![(2, RejectReason::MissingField { field: "entries" })]
    );
}

/// The admin API's `GET /admin/usage` answer is the same document.
#[test]
fn rgw_admin_api_response() {
    let doc = r#"{"entries":[{"user":"acme","buckets":[{"bucket":"b1","time":"2026-10-01 10:00:00.000000Z","epoch":1790848800,"owner":"acme","categories":[{"category":"put_obj","bytes_sent":0,"bytes_received":4096,"ops":1,"successful_ops":1}]}]}],"summary":[{"user":"acme","categories":[{"category":"put_obj","bytes_sent":0,"bytes_received":4096,"ops":1,"successful_ops":1}],"total":{"bytes_sent":0,"bytes_received":4096,"ops":1,"successful_ops":1}}]}"#;
    let (b, stats) = whole(Format::RgwUsage, doc.as_bytes());
    let got: Vec<_> = b
        .events
        .iter()
        .map(|e| {
            (
                e.customer.as_str(),
                e.resource.as_str(),
                e.meter.as_str(),
                e.value,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("acme", "b1", "bandwidth_in_bytes", 4096),
            ("acme", "b1", "requests", 1),
            ("acme", "b1", "successful_requests", 1)
        ]
    );
    assert_eq!((stats.records, stats.rejected), (1, 0));
}

/// Attribution as RGW accounts usage (rgw_log.cc): a requester-pays bucket's
/// usage is the payer's, user-level operations (bucket `""`) and unknown
/// buckets (`"-"`) belong to the section's user, and `time` must agree with
/// `epoch`.
#[test]
fn rgw_attribution_follows_rgw_accounting() {
    let customers = |doc: String| {
        let (b, _) = whole(Format::RgwUsage, doc.as_bytes());
        let got: Vec<_> = b
            .events
            .iter()
            .filter(|e| e.meter == "requests")
            .map(|e| (e.customer.clone(), e.resource.clone(), e.id.clone()))
            .collect();
        (got, reasons(&b))
    };
    // Requester pays: the entry sits under the payer, owner and payer both shown.
    let (got, rejected) = customers(rgw_doc("bob", &[rgw_entry("b1", r#""payer":"bob","#)]));
    assert_eq!(got[0].0, "bob");
    assert!(rejected.is_empty());
    // "" and "-": no bucket; both bill the resource `-`, with different ids.
    let (got, _) = customers(rgw_doc("acme", &[rgw_entry("", ""), rgw_entry("-", "")]));
    assert_eq!(
        got.iter().map(|g| g.1.as_str()).collect::<Vec<_>>(),
        vec!["-", "-"]
    );
    assert!(
        got[0].2.starts_with("rgw/acme//") && got[1].2.starts_with("rgw/acme/-/"),
        "{got:?}"
    );
    // An entry under another user than its owner (or payer) is inconsistent.
    let (got, rejected) = customers(rgw_doc("mallory", &[rgw_entry("b1", "")]));
    assert!(got.is_empty());
    assert_eq!(
        rejected,
        vec![(
            1,
            RejectReason::Disagree {
                field: "owner",
                other: "user"
            }
        )]
    );
    // `time` is written from `epoch`: one that disagrees is refused.
    let moved = rgw_entry("b1", "").replace("10:00:00", "11:00:00");
    let (_, rejected) = customers(rgw_doc("acme", &[moved]));
    assert_eq!(
        rejected,
        vec![(
            1,
            RejectReason::Disagree {
                field: "time",
                other: "epoch"
            }
        )]
    );
    // A key given twice (read or not) refuses the bucket entry: no copy wins.
    for (extra, field) in [(r#""owner":"mallory","#, "owner"), (r#""x":1,"x":2,"#, "x")] {
        let (_, rejected) = customers(rgw_doc("acme", &[rgw_entry("b1", extra)]));
        assert_eq!(
            rejected,
            vec![(
                1,
                RejectReason::DuplicateKey {
                    field: field.to_string()
                }
            )]
        );
    }
    let twice = rgw_entry("b1", "").replace(r#""ops":2,"#, r#""ops":2,"ops":9000,"#);
    let (_, rejected) = customers(rgw_doc("acme", &[twice]));
    assert_eq!(
        rejected,
        vec![(
            1,
            RejectReason::DuplicateKey {
                field: "categories.ops".to_string()
            }
        )]
    );
    let (_, rejected) = customers(rgw_doc("acme\",\"user\":\"acme", &[rgw_entry("b1", "")]));
    assert_eq!(
        rejected,
        vec![(
            1,
            RejectReason::DuplicateKey {
                field: "user".to_string()
            }
        )]
    );
    // Without `epoch`, `time` alone; without an owner, the section's user.
    let bare = r#"{"entries":[{"user":"acme","buckets":[{"bucket":"b1","time":"2026-10-01 10:00:00.000000Z","categories":[{"category":"get_obj","bytes_sent":1,"bytes_received":0,"ops":1,"successful_ops":1}]}]}]}"#;
    let (b, _) = whole(Format::RgwUsage, bare.as_bytes());
    assert_eq!(
        (b.events[0].customer.as_str(), b.events[0].time_ms),
        ("acme", 1_790_848_800_000)
    );
}

#[test]
fn rgw_truncated_and_broken_documents_are_reported() {
    let text = std::str::from_utf8(RGW).unwrap();
    let cut = &RGW[..text.find("\"list_buckets\"").unwrap()];
    let (b, stats) = whole(Format::RgwUsage, cut);
    assert_eq!(
        b.events.len(),
        6,
        "the complete bucket entry before the cut is kept"
    );
    assert_eq!(b.rejects.len(), 1);
    assert!(matches!(
        b.rejects[0].reason,
        RejectReason::InvalidJson {
            expected: "the rest of the document",
            ..
        }
    ));
    assert_counts_add_up(&stats, &b);

    let (b, _) = whole(Format::RgwUsage, b"{\"entries\": [}");
    assert_eq!(
        reasons(&b),
        vec![(
            1,
            RejectReason::InvalidJson {
                column: 14,
                expected: "']'"
            }
        )]
    );
    let (b, _) = whole(Format::RgwUsage, b"garbage");
    assert_eq!(
        reasons(&b),
        vec![(
            1,
            RejectReason::InvalidJson {
                column: 1,
                expected: "'{'"
            }
        )]
    );
}

#[test]
fn storage_csv_fixture() {
    let (b, stats) = whole(Format::StorageCsv, CSV);
    let src = "storage_csv";
    assert_eq!(
        b.events,
        vec![
            ev(
                "acme/cdn-acme/1790812800000",
                src,
                "acme",
                "cdn-acme",
                "storage_bytes",
                1 << 40,
                1_790_812_800_000
            ),
            ev(
                "acme/cdn-acme/1790827200000",
                src,
                "acme",
                "cdn-acme",
                "storage_bytes",
                1_100_585_369_600,
                1_790_827_200_000
            ),
            ev(
                "Globex, Inc./media/1790812800000",
                src,
                "Globex, Inc.",
                "media",
                "storage_bytes",
                1 << 29,
                1_790_812_800_000
            ),
            ev(
                "acme/say \"hi\"/1790812800000",
                src,
                "acme",
                "say \"hi\"",
                "storage_bytes",
                1,
                1_790_812_800_000
            ),
        ]
    );
    assert_eq!(
        reasons(&b),
        vec![
            (6, RejectReason::InvalidNumber { field: "bytes" }),
            (7, RejectReason::EmptyField { field: "bucket" }),
            (8, RejectReason::InvalidTime { field: "timestamp" }),
            (
                9,
                RejectReason::WrongFieldCount {
                    expected: 4,
                    found: 2
                }
            ),
        ]
    );
    assert_eq!(
        stats,
        ParseStats {
            records: 9,
            accepted: 4,
            rejected: 4,
            skipped: 1,
            events: 4,
            bytes: CSV.len() as u64
        }
    );
}

#[test]
fn csv_columns_follow_the_header() {
    let input = b"Bytes, Bucket ,region,customer,timestamp\n42,b1,eu,acme,2026-10-01T00:00:00Z\n";
    let (b, _) = whole(Format::StorageCsv, input);
    assert_eq!(
        b.events,
        vec![ev(
            "acme/b1/1790812800000",
            "storage_csv",
            "acme",
            "b1",
            "storage_bytes",
            42,
            1_790_812_800_000
        )]
    );
    let (b, _) = whole(
        Format::StorageCsv,
        b"2026-10-01T00:00:00Z,acme,b1,42\n2026-10-01T00:00:00Z,acme,b2,43\n",
    );
    // No header: the file is refused whole, never read in a guessed order.
    assert_eq!(
        reasons(&b),
        vec![(1, RejectReason::BadHeader), (2, RejectReason::BadHeader)]
    );
    assert!(b.events.is_empty());
}

/// The handed-over input (issue 17, item 3): a spreadsheet's "CSV UTF-8"
/// export starts with a byte-order mark. Before, the header was not
/// recognised and `logs` was billed for the bucket `acme`.
#[test]
fn csv_header_after_a_byte_order_mark() {
    let input = b"\xEF\xBB\xBFtimestamp,bucket,customer,bytes\n2026-10-01T00:00:00Z,logs,acme,1000\n";
    let (b, stats) = whole(Format::StorageCsv, input);
    assert_eq!(
        b.events,
        vec![ev(
            "acme/logs/1790812800000",
            "storage_csv",
            "acme",
            "logs",
            "storage_bytes",
            1000,
            1_790_812_800_000
        )]
    );
    assert_eq!((stats.skipped, stats.rejected), (1, 0));
    // Only at the very start: a mark on a later line is data (here: a bad timestamp).
    let (b, _) = whole(
        Format::StorageCsv,
        b"timestamp,bucket,customer,bytes\n\xEF\xBB\xBF2026-10-01T00:00:00Z,logs,acme,1000\n",
    );
    assert_eq!(
        reasons(&b),
        vec![(2, RejectReason::InvalidTime { field: "timestamp" })]
    );
}

#[test]
fn csv_without_a_valid_header_is_refused_whole() {
    for header in [
        &b"time,who,what,bytes\n"[..],
        b"timestamp,customer,bucket,bytes,customer\n",
        b"\"timestamp,customer,bucket,bytes\n",
    ] {
        let input = [
            header,
            b"\n2026-10-01T00:00:00Z,acme,b1,42\n2026-10-02T00:00:00Z,acme,b1,43",
        ]
        .concat();
        let (b, stats) = whole(Format::StorageCsv, &input);
        assert!(b.events.is_empty(), "{:?}", String::from_utf8_lossy(header));
        assert_eq!(stats.rejected, 3);
        assert_eq!(stats.skipped, 1, "the blank line");
        assert_eq!(b.rejects[1].reason, RejectReason::BadHeader);
        assert_eq!(b.rejects[2].reason, RejectReason::BadHeader);
    }
}

#[test]
fn rereading_gives_the_same_ids() {
    for (format, input) in ALL {
        let (a, _) = whole(format, input);
        let (b, _) = whole(format, input);
        assert_eq!(a, b);
        let mut ids: Vec<_> = a.events.iter().map(|e| (&e.source, &e.id)).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), a.events.len(), "{format:?}: ids are unique");
    }
}

#[test]
fn every_single_byte_split_agrees_with_whole() {
    for (format, input) in ALL {
        let expected = whole(format, input);
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            chunked(format, ParserOptions::default(), input, &cuts),
            expected,
            "{format:?}"
        );
    }
}

#[test]
fn long_lines_are_rejected_without_buffering_them() {
    let options = ParserOptions {
        max_line: 300,
        ..Default::default()
    };
    let mut input = JSONL.to_vec();
    input.extend_from_slice(&[b'x'; 10_000]);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(&JSONL[..JSONL.iter().position(|&c| c == b'\n').unwrap() + 1]);
    let (b, stats) = parse_all(Format::JsonLines, options.clone(), &input);
    let too_long: Vec<_> = b
        .rejects
        .iter()
        .filter(|r| matches!(r.reason, RejectReason::LineTooLong { .. }))
        .collect();
    assert_eq!(too_long.len(), 1);
    assert_eq!(
        too_long[0].reason,
        RejectReason::LineTooLong {
            length: 10_000,
            limit: 300
        }
    );
    assert_eq!(too_long[0].line, 14);
    assert_eq!(b.events.last().unwrap().id, "evt-1");
    assert_counts_add_up(&stats, &b);
    let cuts: Vec<usize> = (0..input.len()).step_by(7).collect();
    assert_eq!(chunked(Format::JsonLines, options, &input, &cuts), (b, stats));
}

/// The handed-over input of issue 16, item 3: a valid event, 1 MiB of `X`
/// with an event for `victim` glued to its end, another valid event. The
/// line over the limit is rejected whole, and nothing after its start counts
/// until its newline: not read whole, nor in chunks cut anywhere (before,
/// at and after the limit, inside the glued event, at its newline).
#[test]
fn an_over_long_line_smuggles_no_event() {
    let event = |id: &str, who: &str| {
        format!(
            r#"{{"id":"{id}","source":"/e","subject":"{who}","time":"2026-10-01T00:00:00Z","data":{{"resource":"r","meter":"requests","value":1}}}}"#
        )
    };
    let victim = event("v", "victim");
    let head = format!("{}\n", event("a", "alice"));
    let input = format!("{head}{}{victim}\n{}\n", "X".repeat(1 << 20), event("b", "bob"));
    let input = input.as_bytes();
    let long = (1u64 << 20) + victim.len() as u64;
    let start = head.len();
    let limit = start + (1 << 20);
    let (b, stats) = whole(Format::JsonLines, input);
    let customers = |b: &Batch| b.events.iter().map(|e| e.customer.clone()).collect::<Vec<_>>();
    assert_eq!(customers(&b), vec!["alice", "bob"]);
    assert_eq!(
        b.rejects
            .iter()
            .map(|r| (r.line, r.offset, r.reason.clone()))
            .collect::<Vec<_>>(),
        vec![(
            2,
            start as u64,
            RejectReason::LineTooLong {
                length: long,
                limit: 1 << 20
            }
        )]
    );
    assert_eq!(b.rejects[0].text.len(), 4096, "only the head is kept");
    assert_eq!((stats.records, stats.accepted, stats.rejected), (3, 2, 1));
    let end = start + long as usize;
    for cuts in [
        vec![start, limit, end],
        vec![limit - 1, limit + 1],
        vec![limit + 30, end - 1],
        vec![start + 1, start + 4096, start + 4097, end + 1],
        (start..end + 2).step_by(65_536).collect(),
        vec![end],
    ] {
        let got = chunked(Format::JsonLines, ParserOptions::default(), input, &cuts);
        assert_eq!(got, (b.clone(), stats), "cuts {cuts:?}");
    }
    // A limit just below the line keeps it out; one at its length lets it in
    // (where it is now a bad line: `X` is not JSON).
    for (max_line, rejected_for) in [(long as usize - 1, "too long"), (long as usize, "not JSON")] {
        let options = ParserOptions {
            max_line,
            ..Default::default()
        };
        let (b, _) = parse_all(Format::JsonLines, options, input);
        assert_eq!(customers(&b), vec!["alice", "bob"], "{rejected_for}");
        let too_long = matches!(b.rejects[0].reason, RejectReason::LineTooLong { .. });
        assert_eq!(too_long, rejected_for == "too long");
    }
}

fn formats() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::JsonLines),
        Just(Format::S3AccessLog),
        Just(Format::RgwUsage),
        Just(Format::StorageCsv)
    ]
}

/// Fixture bytes with random damage: bytes overwritten, dropped or repeated.
fn damaged() -> impl Strategy<Value = (Format, Vec<u8>)> {
    (
        formats(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..12),
    )
        .prop_map(|(format, edits)| {
            let base = ALL.iter().find(|(f, _)| *f == format).unwrap().1;
            let mut bytes = base.to_vec();
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = byte,
                    1 => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, bytes[i]),
                }
            }
            (format, bytes)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn chunked_parsing_agrees_with_whole((format, input) in damaged(), cuts in prop::collection::vec(0usize..6000, 0..20)) {
        let mut cuts = cuts;
        cuts.sort();
        let expected = whole(format, &input);
        prop_assert_eq!(chunked(format, ParserOptions::default(), &input, &cuts), expected.clone());
        assert_counts_add_up(&expected.1, &expected.0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(format in formats(), input in prop::collection::vec(any::<u8>(), 0..2000)) {
        tally_core::parse::check_stream_invariants(format, &input);
    }

    #[test]
    fn damaged_fixtures_keep_the_invariants((format, input) in damaged()) {
        tally_core::parse::check_stream_invariants(format, &input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A parser exported mid-stream (mid-line too) and imported carries on
    /// exactly as if nothing had happened: what rebuilding a dead port relies on.
    #[test]
    fn exported_state_resumes_exactly((format, input) in damaged(), cut in any::<prop::sample::Index>()) {
        let cut = if input.is_empty() { 0 } else { cut.index(input.len()) };
        let expected = whole(format, &input);
        let mut p = StreamParser::new(format, ParserOptions::default());
        let mut out = Batch::default();
        p.feed(&input[..cut], &mut out);
        let mut resumed = StreamParser::import_state(&p.export_state()).unwrap();
        resumed.feed(&input[cut..], &mut out);
        resumed.finish(&mut out);
        prop_assert_eq!((out, resumed.stats()), expected);
    }
}

#[test]
fn garbage_state_is_refused() {
    assert!(StreamParser::import_state(b"{}").is_err());
    assert!(StreamParser::import_state(b"").is_err());
}
