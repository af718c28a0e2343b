//! Aggregation: statistics per window, deduplication, late events, and the
//! laws that let work be split: merge, export/restore, chunking.

use proptest::prelude::*;
use tally_core::aggregate::{parse_period, AggregateError, Aggregator, AggregatorConfig, Applied};
use tally_core::event::EventRef;
use tally_core::parse::{ParserOptions, StreamParser};
use tally_core::{Format, UsageEvent};

const HOUR: i64 = 3_600_000;

fn event(id: &str, customer: &str, meter: &str, value: u64, time_ms: i64) -> UsageEvent {
    UsageEvent {
        id: id.into(),
        source: "src".into(),
        customer: customer.into(),
        resource: "r1".into(),
        meter: meter.into(),
        value,
        time_ms,
    }
}

fn config() -> AggregatorConfig {
    AggregatorConfig {
        unique_meters: vec!["visitors".into()],
        ..AggregatorConfig::default()
    }
}

fn aggregate(events: &[UsageEvent]) -> Aggregator {
    let mut a = Aggregator::new(config());
    a.apply_all(events);
    a
}

#[test]
fn window_statistics() {
    let t = parse_period("2026-05").unwrap() + 7 * HOUR;
    let a = aggregate(&[
        event("1", "acme", "requests", 5, t + 10),
        event("2", "acme", "requests", 3, t + 30),
        event("3", "acme", "requests", 9, t + 20),
        event("4", "acme", "requests", 4, t + 30), // same instant as "2": the greater value is latest
        event("5", "acme", "visitors", 42, t),
        event("6", "acme", "visitors", 42, t + 1),
        event("7", "acme", "visitors", 7, t + 2),
    ]);
    let windows = a.windows();
    assert_eq!(windows.len(), 2);
    let (key, start, st) = &windows[0];
    assert_eq!((&*key.customer, &*key.meter, *start), ("acme", "requests", t));
    assert_eq!(
        (
            st.sum,
            st.count,
            st.min,
            st.max,
            st.latest_time_ms,
            st.latest_value
        ),
        (21, 4, 3, 9, t + 30, 4)
    );
    assert_eq!(st.unique_count(), None);
    assert_eq!(windows[1].2.unique_count(), Some(2));
}

#[test]
fn replaying_never_double_counts() {
    let t = parse_period("2026-05").unwrap();
    let events: Vec<_> = (0..100)
        .map(|i| event(&format!("e{i}"), "acme", "requests", i, t + i as i64 * 60_000))
        .collect();
    let once = aggregate(&events);
    let mut twice = aggregate(&events);
    twice.apply_all(&events);
    assert_eq!(twice.counters().duplicates, 100);
    assert_eq!(twice.windows(), once.windows());
    // The same id from another source is another event.
    let mut other = events[0].clone();
    other.source = "elsewhere".into();
    assert_eq!(twice.apply(&EventRef::from(&other)), Applied::Counted);
}

#[test]
fn late_and_out_of_order_events() {
    let may = parse_period("2026-05").unwrap();
    let june = parse_period("2026-06").unwrap();
    let mut a = Aggregator::new(config());
    a.apply_all(&[
        event("b", "acme", "requests", 2, june + 5 * HOUR),
        event("a", "acme", "requests", 1, june + HOUR),
    ]);
    let w = a.windows();
    assert_eq!(
        (w[0].1, w[0].2.sum, w[1].1, w[1].2.sum),
        (june + HOUR, 1, june + 5 * HOUR, 2)
    );
    a.close_period(may);
    let late = event("late", "acme", "requests", 7, may + HOUR);
    assert_eq!(a.apply(&EventRef::from(&late)), Applied::Late);
    assert_eq!(a.counters().late, 1);
    assert_eq!(a.take_late(), vec![late]);
    assert_eq!(a.windows().len(), 2, "nothing counted in the closed period");
}

#[test]
fn merge_refuses_overlap_and_mismatch() {
    let t = parse_period("2026-05").unwrap();
    let mut a = aggregate(&[event("x", "acme", "requests", 1, t)]);
    let b = aggregate(&[event("x", "acme", "requests", 1, t)]);
    assert_eq!(
        a.merge(&b),
        Err(AggregateError::Overlap {
            period: "2026-05".into(),
            count: 1
        })
    );
    let c = Aggregator::new(AggregatorConfig {
        dedup: false,
        ..config()
    });
    assert_eq!(a.merge(&c), Err(AggregateError::ConfigMismatch));
    assert_eq!(
        a.export(),
        aggregate(&[event("x", "acme", "requests", 1, t)]).export(),
        "a refused merge changes nothing"
    );
}

#[test]
fn restore_rejects_damaged_exports() {
    let t = parse_period("2026-05").unwrap();
    let bytes = aggregate(&[event("x", "acme", "storage_bytes", 10, t)]).export();
    for cut in 0..bytes.len() {
        assert!(Aggregator::restore(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Aggregator::restore(&trailing).is_err());
}

/// Windows and rate intervals are held densely (64-bit sums, 32-bit
/// counts, offsets in the window) until one outgrows that: the results
/// stay exact past it, through export, restore, merge and more events.
#[test]
fn sums_past_64_bits_stay_exact() {
    let month = parse_period("2026-10").unwrap();
    let big = u64::MAX - 1;
    let events: Vec<UsageEvent> = (0..6)
        .map(|i| {
            event(
                &format!("b{i}"),
                "acme",
                "bandwidth_out_bytes",
                big,
                month + 7 * HOUR + i,
            )
        })
        .chain([event("s", "acme", "bandwidth_out_bytes", 3, month + 9 * HOUR)])
        .collect();
    for window in [
        tally_core::aggregate::Window::Hour,
        tally_core::aggregate::Window::Month,
    ] {
        let cfg = AggregatorConfig { window, ..config() };
        let mut a = Aggregator::new(cfg.clone());
        a.apply_all(&events);
        let w = a.windows();
        let first = &w[0].2;
        if window == tally_core::aggregate::Window::Hour {
            assert_eq!((first.sum, first.count), (6 * big as u128, 6));
            assert_eq!(
                (first.latest_time_ms, first.latest_value),
                (month + 7 * HOUR + 5, big)
            );
        } else {
            assert_eq!((first.sum, first.count), (6 * big as u128 + 3, 7));
            assert_eq!((first.latest_time_ms, first.latest_value), (month + 9 * HOUR, 3));
        }
        let usage = a.period_usage(month);
        assert_eq!(usage.series[0].total, 6 * big as u128 + 3);
        let at7 = (7 * 12) as u32;
        assert_eq!(usage.series[0].rate_intervals[0], (at7, 6 * big as u128));
        assert_eq!(usage.series[0].rate_intervals[1], (at7 + 24, 3));
        // The export, a restore and a merge of halves agree.
        let bytes = a.export();
        assert_eq!(Aggregator::restore(&bytes).unwrap().export(), bytes);
        let mut half = Aggregator::new(cfg.clone());
        half.apply_all(&events[..3]);
        let mut other = Aggregator::new(cfg.clone());
        other.apply_all(&events[3..]);
        half.merge(&other).unwrap();
        assert_eq!(half.export(), bytes);
        // A late reading of the month's last millisecond is the latest.
        let end = tally_core::aggregate::month_end(month) - 1;
        a.apply_all(&[event("z", "acme", "bandwidth_out_bytes", 1, end)]);
        let last = a.windows().into_iter().last().unwrap().2;
        assert_eq!((last.latest_time_ms, last.latest_value), (end, 1));
    }
}

/// Windows are keyed by their start in hours as 32 bits; instants beyond
/// that (any i64 an event may hold) are kept exactly all the same.
#[test]
fn windows_far_from_the_epoch_are_kept_apart() {
    let far = 10_000_000_000_000_000i64; // about the year 318,000: past 2^31 hours
    let events = [
        event("1", "acme", "requests", 1, far),
        event("2", "acme", "requests", 2, far + 1),
        event("3", "acme", "requests", 4, far + HOUR),
        event("4", "acme", "requests", 8, -far),
        event("5", "acme", "requests", 16, -1),
        event("6", "acme", "requests", 32, 5),
    ];
    let a = aggregate(&events);
    let w: Vec<(i64, u128)> = a
        .windows()
        .iter()
        .map(|(_, start, st)| (*start, st.sum))
        .collect();
    let hour = |t: i64| t.div_euclid(HOUR) * HOUR;
    assert_eq!(
        w,
        vec![
            (hour(-far), 8),
            (-HOUR, 16),
            (0, 32),
            (hour(far), 3),
            (hour(far) + HOUR, 4)
        ]
    );
    let bytes = a.export();
    assert_eq!(Aggregator::restore(&bytes).unwrap().export(), bytes);
    let mut half = aggregate(&events[..3]);
    half.merge(&aggregate(&events[3..])).unwrap();
    assert_eq!(half.export(), bytes);
}

fn arb_events() -> impl Strategy<Value = Vec<UsageEvent>> {
    let start = parse_period("2026-03").unwrap();
    let meters = prop::sample::select(vec![
        "requests",
        "bandwidth_out_bytes",
        "storage_bytes",
        "visitors",
    ]);
    let customers = prop::sample::select(vec!["acme", "globex", "initech"]);
    // Times over two months, so some events fall in a second period.
    prop::collection::vec(
        (customers, meters, 0u64..1_000_000, 0i64..(61 * 24 * HOUR)),
        0..120,
    )
    .prop_map(move |v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (c, m, value, dt))| event(&format!("id-{i}"), c, m, value, start + dt))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn merge_of_a_split_equals_the_whole(events in arb_events(), split in prop::collection::vec(0u8..3, 120)) {
        let part = |k: u8| -> Vec<UsageEvent> {
            events.iter().enumerate().filter(|(i, _)| split[*i] == k).map(|(_, e)| e.clone()).collect()
        };
        let (a, b, c) = (aggregate(&part(0)), aggregate(&part(1)), aggregate(&part(2)));
        let whole = aggregate(&events).export();

        let mut ab = aggregate(&part(0));
        ab.merge(&b).unwrap();
        let mut ba = aggregate(&part(1));
        ba.merge(&a).unwrap();
        prop_assert_eq!(ab.export(), ba.export(), "commutative");

        let mut ab_c = aggregate(&part(0));
        ab_c.merge(&b).unwrap();
        ab_c.merge(&c).unwrap();
        let mut bc = aggregate(&part(1));
        bc.merge(&c).unwrap();
        let mut a_bc = aggregate(&part(0));
        a_bc.merge(&bc).unwrap();
        prop_assert_eq!(ab_c.export(), a_bc.export(), "associative");
        prop_assert_eq!(ab_c.export(), whole, "the merge is the aggregate of the union");
    }

    #[test]
    fn export_restore_is_bit_for_bit(events in arb_events(), more in arb_events()) {
        let a = aggregate(&events);
        let bytes = a.export();
        let mut restored = Aggregator::restore(&bytes).unwrap();
        prop_assert_eq!(restored.export(), bytes.clone());
        // And it carries on exactly as the original would.
        let more: Vec<UsageEvent> = more.into_iter().map(|mut e| { e.id = format!("more-{}", e.id); e }).collect();
        let mut original = Aggregator::restore(&bytes).unwrap();
        original.apply_all(&more);
        restored.apply_all(&more);
        prop_assert_eq!(restored.export(), original.export());
    }

    #[test]
    fn replay_in_any_order_keeps_the_totals(events in arb_events(), shuffle in any::<prop::sample::Index>()) {
        let mut shuffled = events.clone();
        let k = if shuffled.is_empty() { 0 } else { shuffle.index(shuffled.len()) };
        shuffled.rotate_left(k);
        shuffled.extend(events.iter().take(k).cloned()); // and some replayed
        let a = aggregate(&events);
        let b = aggregate(&shuffled);
        prop_assert_eq!(a.windows(), b.windows());
    }

    #[test]
    fn totals_do_not_depend_on_chunking(events in arb_events(), step in 1usize..200) {
        let text: String = events.iter().map(|e| format!(
            "{{\"id\":\"{}\",\"source\":\"{}\",\"subject\":\"{}\",\"time\":\"{}\",\"data\":{{\"resource\":\"{}\",\"meter\":\"{}\",\"value\":{}}}}}\n",
            e.id, e.source, e.customer, tally_core::time::format_rfc3339(e.time_ms), e.resource, e.meter, e.value)).collect();
        let mut whole = Aggregator::new(config());
        let mut p = StreamParser::new(Format::JsonLines, ParserOptions::default());
        p.feed(text.as_bytes(), &mut whole);
        p.finish(&mut whole);
        let mut chunked = Aggregator::new(config());
        let mut p = StreamParser::new(Format::JsonLines, ParserOptions::default());
        for chunk in text.as_bytes().chunks(step) {
            p.feed(chunk, &mut chunked);
        }
        p.finish(&mut chunked);
        prop_assert_eq!(whole.export(), chunked.export());
        prop_assert_eq!(whole.export(), aggregate(&events).export());
    }
}
