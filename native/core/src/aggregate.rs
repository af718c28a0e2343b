//! Aggregation: usage events into per (customer, resource, meter, window)
//! statistics, plus what billing needs per period.
//!
//! * Windows are tumbling, in UTC: an hour, a day, or the calendar month.
//!   The billing period is always the calendar month (UTC).
//! * Each window keeps sum, count, min, max, latest (the value at the
//!   greatest time; on equal times the greater value, so that merging is
//!   order-free) and, for meters listed in `unique_meters`, the set of distinct values.
//! * Deduplication: an event whose (source, id) was already counted in its
//!   period is ignored and counted as a duplicate. Ids are kept as 128-bit
//!   XXH3 digests, one set per open period.
//! * Out-of-order and late events inside an open period land in their own
//!   window. Events for a closed period are kept aside ([`Aggregator::take_late`])
//!   and counted, never dropped silently.
//! * Rate meters (`rate_meters`, bandwidth by default) also keep bytes per
//!   5-minute interval of the period, for the 95th percentile; gauge meters
//!   (`gauge_meters`, `storage_bytes` by default) keep their samples, for
//!   time-weighted byte-hours and the peak.
//! * Two aggregators of disjoint event sets merge into exactly the
//!   aggregator of their union; [`Aggregator::export`] writes a canonical
//!   byte form that [`Aggregator::restore`] reads back bit for bit.

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::FixedState;

use crate::digests::DigestSet;
use crate::event::{meters, EventFields, EventRef, EventSink, UsageEvent};
use crate::queue::EventQueue;
use crate::reject::Reject;
use crate::series::SeriesTable;
use crate::time::{civil_from_days, days_from_civil};

mod closing;
pub(crate) mod delta;
mod period;
mod small_map;

pub use closing::{Round, RoundEnd};

use period::{PeriodSeries, PeriodTable};

/// Length of a rate sample: five minutes.
pub const RATE_INTERVAL_MS: i64 = 300_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The width of aggregation windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam, tally_interop::FromGleam))]
pub enum Window {
    Hour,
    Day,
    Month,
}

impl Window {
    /// The start of the window holding `time_ms`.
    pub fn start(self, time_ms: i64) -> i64 {
        match self {
            Window::Hour => time_ms.div_euclid(HOUR_MS) * HOUR_MS,
            Window::Day => time_ms.div_euclid(DAY_MS) * DAY_MS,
            Window::Month => month_start(time_ms),
        }
    }

    /// The end (exclusive) of the window starting at `start`.
    pub fn end(self, start: i64) -> i64 {
        match self {
            Window::Hour => start.saturating_add(HOUR_MS),
            Window::Day => start.saturating_add(DAY_MS),
            Window::Month => month_end(start),
        }
    }

    fn code(self) -> u8 {
        match self {
            Window::Hour => 0,
            Window::Day => 1,
            Window::Month => 2,
        }
    }

    fn from_code(code: u8) -> Option<Window> {
        [Window::Hour, Window::Day, Window::Month]
            .get(code as usize)
            .copied()
    }
}

/// Start (ms) of the calendar month, UTC, holding `time_ms`.
pub fn month_start(time_ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(time_ms.div_euclid(DAY_MS));
    days_from_civil(y, m, 1) * DAY_MS
}

/// End (exclusive) of the calendar month starting at `start_ms`.
pub fn month_end(start_ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(start_ms.div_euclid(DAY_MS));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * DAY_MS
}

/// `YYYY-MM` of the month holding `time_ms`.
pub fn period_label(time_ms: i64) -> String {
    let (y, m, _) = civil_from_days(time_ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}")
}

/// Parses `YYYY-MM` into the month's start.
pub fn parse_period(label: &str) -> Option<i64> {
    let b = label.as_bytes();
    if b.len() != 7 || b[4] != b'-' {
        return None;
    }
    let y: i64 = label[..4].parse().ok()?;
    let m: u32 = label[5..].parse().ok()?;
    (1..=12).contains(&m).then(|| days_from_civil(y, m, 1) * DAY_MS)
}

/// How an aggregator aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "gleam",
    derive(tally_interop::IntoGleam, tally_interop::FromGleam),
    gleam(expected = "AggregatorConfig")
)]
pub struct AggregatorConfig {
    pub window: Window,
    /// Ignore a (source, id) already counted in the period.
    pub dedup: bool,
    /// Meters that also keep 5-minute samples (for the 95th percentile).
    pub rate_meters: Vec<String>,
    /// Meters whose events are snapshots of a level (for byte-hours and peak).
    pub gauge_meters: Vec<String>,
    /// Meters whose windows count distinct values.
    pub unique_meters: Vec<String>,
    /// The longest time one gauge sample is taken to last when no next
    /// sample follows sooner (a collector outage is not billed as a level).
    pub gauge_gap_cap_ms: i64,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            window: Window::Hour,
            dedup: true,
            rate_meters: vec![
                meters::BANDWIDTH_OUT_BYTES.into(),
                meters::BANDWIDTH_IN_BYTES.into(),
            ],
            gauge_meters: vec![meters::STORAGE_BYTES.into()],
            unique_meters: Vec::new(),
            gauge_gap_cap_ms: 48 * HOUR_MS,
        }
    }
}

/// The (customer, resource, meter) a series of windows belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub customer: Box<str>,
    pub resource: Box<str>,
    pub meter: Box<str>,
}

/// Statistics of one window (as [`Aggregator::windows`] gives them; the
/// aggregator holds most windows in a denser form, see `Held`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStats {
    pub sum: u128,
    pub count: u64,
    pub min: u64,
    pub max: u64,
    pub latest_time_ms: i64,
    pub latest_value: u64,
    /// Distinct values, for meters in `unique_meters`.
    pub uniques: Option<Box<BTreeSet<u64>>>,
}

impl WindowStats {
    fn new(value: u64, time_ms: i64, unique: bool) -> Self {
        WindowStats {
            sum: value as u128,
            count: 1,
            min: value,
            max: value,
            latest_time_ms: time_ms,
            latest_value: value,
            uniques: unique.then(|| Box::new(BTreeSet::from([value]))),
        }
    }

    #[inline]
    fn add(&mut self, value: u64, time_ms: i64) {
        self.sum += value as u128;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if (time_ms, value) > (self.latest_time_ms, self.latest_value) {
            self.latest_time_ms = time_ms;
            self.latest_value = value;
        }
        if let Some(u) = self.uniques.as_mut() {
            u.insert(value);
        }
    }

    fn merge(&mut self, other: &WindowStats) {
        self.sum += other.sum;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if (other.latest_time_ms, other.latest_value) > (self.latest_time_ms, self.latest_value) {
            self.latest_time_ms = other.latest_time_ms;
            self.latest_value = other.latest_value;
        }
        match (self.uniques.as_mut(), other.uniques.as_ref()) {
            (Some(a), Some(b)) => a.extend(b.iter().copied()),
            (None, Some(b)) => self.uniques = Some(b.clone()),
            _ => {}
        }
    }

    /// Number of distinct values, when tracked.
    pub fn unique_count(&self) -> Option<u64> {
        self.uniques.as_ref().map(|u| u.len() as u64)
    }
}

/// A window's statistics as the aggregator holds them: 40 bytes, where
/// [`WindowStats`] takes 64 (its sum is 128 bits, its latest time a full
/// instant, and it has room for distinct values). The sum fits 64 bits
/// and the count 32 in nearly every window, and the latest time is kept as
/// its offset from the window's start (a month is under 2^32 ms). A window
/// that outgrows this (or keeps distinct values) is held whole in the
/// table's `wide` map, its `count` here 0 (no window held has count 0).
#[derive(Debug, Clone, Copy)]
struct Held {
    sum: u64,
    min: u64,
    max: u64,
    latest_value: u64,
    count: u32,
    latest_offset: u32,
}

impl Held {
    /// The dense form of `st` (a window starting at `start`), if it fits.
    fn of(st: &WindowStats, start: i64) -> Option<Held> {
        if st.uniques.is_some() || st.count == 0 {
            return None;
        }
        Some(Held {
            sum: u64::try_from(st.sum).ok()?,
            min: st.min,
            max: st.max,
            latest_value: st.latest_value,
            count: u32::try_from(st.count).ok().filter(|&c| c < u32::MAX)?,
            latest_offset: u32::try_from(st.latest_time_ms.checked_sub(start)?).ok()?,
        })
    }

    fn stats(&self, start: i64) -> WindowStats {
        WindowStats {
            sum: self.sum as u128,
            count: self.count as u64,
            min: self.min,
            max: self.max,
            latest_time_ms: start + self.latest_offset as i64,
            latest_value: self.latest_value,
            uniques: None,
        }
    }

    /// Counts an event `offset` ms into the window; false (changing
    /// nothing) when the result would not fit, or the window is wide.
    #[inline]
    fn add(&mut self, value: u64, offset: u32) -> bool {
        let Some(sum) = self.sum.checked_add(value) else {
            return false;
        };
        if self.count == 0 || self.count == u32::MAX - 1 {
            return false;
        }
        self.sum = sum;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if (offset, value) > (self.latest_offset, self.latest_value) {
            self.latest_offset = offset;
            self.latest_value = value;
        }
        true
    }
}

/// The marker of a window held whole in `wide`.
const WIDE: Held = Held {
    sum: 0,
    min: 0,
    max: 0,
    latest_value: 0,
    count: 0,
    latest_offset: 0,
};

/// The windows of all series: stats in a slab, found through a hash
/// table of slots. (The window each series last counted in is remembered
/// in its series record, since events of a series mostly arrive in time
/// order.) The table holds only each window's slot (4 bytes), its key
/// being in `keys`: a map from key to slot held the key twice and took 24
/// bytes a window, the biggest part of a window's memory after its stats.
/// A key is its series and its start in hours since the epoch (8 bytes);
/// a start that is not on the hour or too far for 32 bits of hours (no
/// parser gives one, but an event may hold any instant) is kept in `far`.
struct WindowTable {
    slots: hashbrown::HashTable<u32>,
    hasher: FixedState,
    stats: Vec<Held>,
    keys: Vec<(u32, i32)>,
    /// The windows held whole (see `Held`), by slot.
    wide: HashMap<u32, WindowStats, FixedState>,
    /// The start of each window whose key holds `FAR`, by slot.
    far: HashMap<u32, i64, FixedState>,
}

/// The hour of a window start kept in `far`.
const FAR: i32 = i32::MIN;

/// A window start as its key holds it.
#[inline]
fn start_hour(start: i64) -> i32 {
    match i32::try_from(start.div_euclid(HOUR_MS)) {
        Ok(h) if h != FAR && start.rem_euclid(HOUR_MS) == 0 => h,
        _ => FAR,
    }
}

impl WindowTable {
    fn new() -> Self {
        WindowTable {
            slots: hashbrown::HashTable::new(),
            hasher: FixedState::with_seed(1),
            stats: Vec::new(),
            keys: Vec::new(),
            wide: HashMap::with_hasher(FixedState::with_seed(5)),
            far: HashMap::with_hasher(FixedState::with_seed(6)),
        }
    }

    /// The (series, start) of the window in `slot`.
    #[inline]
    fn key(&self, slot: u32) -> (u32, i64) {
        Self::key_in(&self.keys, &self.far, slot)
    }

    #[inline]
    fn key_in(keys: &[(u32, i32)], far: &HashMap<u32, i64, FixedState>, slot: u32) -> (u32, i64) {
        match keys[slot as usize] {
            (s, FAR) => (s, far[&slot]),
            (s, h) => (s, h as i64 * HOUR_MS),
        }
    }

    #[inline]
    fn hash(&self, key: (u32, i64)) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, key)
    }

    #[inline]
    fn slot(&self, key: (u32, i64)) -> Option<u32> {
        let (keys, far) = (&self.keys, &self.far);
        let held = (key.0, start_hour(key.1));
        self.slots
            .find(self.hash(key), |&slot| {
                keys[slot as usize] == held && (held.1 != FAR || far[&slot] == key.1)
            })
            .copied()
    }

    /// Adds a window not held yet; returns its slot.
    fn push(&mut self, key: (u32, i64), stats: WindowStats) -> u32 {
        let slot = self.stats.len() as u32;
        let hash = self.hash(key);
        self.stats.push(WIDE);
        let hour = start_hour(key.1);
        self.keys.push((key.0, hour));
        if hour == FAR {
            self.far.insert(slot, key.1);
        }
        self.put(slot, stats);
        let (keys, far, hasher) = (&self.keys, &self.far, &self.hasher);
        self.slots.insert_unique(hash, slot, |&s| {
            std::hash::BuildHasher::hash_one(hasher, Self::key_in(keys, far, s))
        });
        slot
    }

    /// Sets the statistics of the window in `slot`.
    fn put(&mut self, slot: u32, stats: WindowStats) {
        let start = self.key(slot).1;
        match Held::of(&stats, start) {
            Some(held) => {
                self.stats[slot as usize] = held;
                if !self.wide.is_empty() {
                    self.wide.remove(&slot);
                }
            }
            None => {
                self.stats[slot as usize] = WIDE;
                self.wide.insert(slot, stats);
            }
        }
    }

    /// The statistics of the window in `slot`.
    fn get(&self, slot: u32) -> std::borrow::Cow<'_, WindowStats> {
        match self.stats[slot as usize] {
            Held { count: 0, .. } => std::borrow::Cow::Borrowed(&self.wide[&slot]),
            held => std::borrow::Cow::Owned(held.stats(self.key(slot).1)),
        }
    }

    /// Counts an event into the window in `slot` (which starts at `start`).
    #[inline]
    fn count(&mut self, slot: u32, start: i64, value: u64, time_ms: i64) {
        // An event's offset in its window: under 2^32 ms (a month at most).
        let offset = (time_ms - start) as u32;
        if !self.stats[slot as usize].add(value, offset) {
            self.count_wide(slot, value, time_ms);
        }
    }

    #[cold]
    #[inline(never)]
    fn count_wide(&mut self, slot: u32, value: u64, time_ms: i64) {
        let mut st = self.get(slot).into_owned();
        st.add(value, time_ms);
        self.put(slot, st);
    }

    /// Counts an event into the window (series `s`, starting at `start`),
    /// found through the map (or made) when the series did not last count
    /// in it; returns the window's slot.
    #[inline(never)]
    fn add(&mut self, s: u32, start: i64, value: u64, time_ms: i64, unique: bool) -> u32 {
        match self.slot((s, start)) {
            Some(slot) => {
                self.count(slot, start, value, time_ms);
                slot
            }
            None => self.push((s, start), WindowStats::new(value, time_ms, unique)),
        }
    }

    /// Starts loading the statistics in `slot` (40 bytes: up to two cache lines).
    #[inline]
    fn prefetch(&self, slot: u32) {
        if let Some(st) = self.stats.get(slot as usize) {
            crate::prefetch::prefetch(st);
            crate::prefetch::prefetch((st as *const Held as *const u8).wrapping_add(39));
        }
    }

    /// Merges `other` into the window `key`, made when new.
    fn merge(&mut self, key: (u32, i64), other: &WindowStats) {
        match self.slot(key) {
            Some(slot) => {
                let mut st = self.get(slot).into_owned();
                st.merge(other);
                self.put(slot, st);
            }
            None => {
                self.push(key, other.clone());
            }
        }
    }

    /// Sets the window `key` to `stats`, made when new.
    fn set(&mut self, key: (u32, i64), stats: WindowStats) {
        match self.slot(key) {
            Some(slot) => self.put(slot, stats),
            None => {
                self.push(key, stats);
            }
        }
    }

    /// Every window: its key and slot.
    fn iter(&self) -> impl Iterator<Item = ((u32, i64), u32)> + '_ {
        (0..self.keys.len() as u32).map(|slot| (self.key(slot), slot))
    }

    fn len(&self) -> usize {
        self.stats.len()
    }
}

/// The window and period an instant falls in.
#[derive(Clone, Copy)]
struct Spot {
    /// The window: [start, end).
    window_start: i64,
    window_end: i64,
    /// Its start in hours since the epoch, when that fits 32 bits (the
    /// form series records remember their last window in).
    window_hour: Option<i32>,
    period: i64,
    period_closed: bool,
}

impl Spot {
    /// Holds no instant.
    const NONE: Spot = Spot {
        window_start: 0,
        window_end: 0,
        window_hour: None,
        period: 0,
        period_closed: false,
    };
}

/// The 5-minute interval of `period` (its start) that `time_ms` falls in.
#[inline]
fn rate_interval(period: i64, time_ms: i64) -> u32 {
    ((time_ms - period) / RATE_INTERVAL_MS) as u32
}

/// The usage of one series over a closed (or queried) period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesUsage {
    pub key: SeriesKey,
    pub total: u128,
    pub count: u64,
    pub max: u64,
    /// Bytes per 5-minute interval, by interval index; intervals absent are 0.
    pub rate_intervals: Vec<(u32, u128)>,
    /// Gauge samples (time, level), in time order.
    pub samples: Vec<(i64, u64)>,
}

/// The usage of every series over one billing period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodUsage {
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub gauge_gap_cap_ms: i64,
    pub series: Vec<SeriesUsage>,
}

/// Counters of what an aggregator did with the events it was given.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam), gleam(tag = "counters"))]
pub struct AggregatorCounters {
    pub applied: u64,
    pub duplicates: u64,
    pub late: u64,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Counted,
    Duplicate,
    /// Its period is closed: kept aside, see [`Aggregator::take_late`].
    Late,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AggregateError {
    #[error("aggregators with different configurations cannot be merged")]
    ConfigMismatch,
    #[error("{count} events of period {period} were counted by both aggregators")]
    Overlap { period: String, count: u64 },
    #[error("not an aggregator export: {0}")]
    BadExport(&'static str),
}

/// The digest an event is deduplicated by.
pub fn event_digest(source: &str, id: &str) -> u128 {
    let seed = xxhash_rust::xxh3::xxh3_64(source.as_bytes());
    xxhash_rust::xxh3::xxh3_128_with_seed(id.as_bytes(), seed)
}

/// No billing data touched (an event of a plain meter).
const NO_PERIOD: u32 = u32::MAX;

const RATE: u8 = 1;
const GAUGE: u8 = 2;
const UNIQUE: u8 = 4;

/// The RATE | GAUGE | UNIQUE bits of a meter under `config`.
fn kind_of(config: &AggregatorConfig, meter: &str) -> u8 {
    let has = |list: &[String]| list.iter().any(|m| m == meter);
    (if has(&config.rate_meters) { RATE } else { 0 })
        | (if has(&config.gauge_meters) { GAUGE } else { 0 })
        | (if has(&config.unique_meters) { UNIQUE } else { 0 })
}

/// A running aggregation. See the module documentation.
pub struct Aggregator {
    config: AggregatorConfig,
    series: SeriesTable,
    windows: WindowTable,
    /// Where the last event fell, to skip the calendar math (reset
    /// whenever a period closes).
    spot: Spot,
    periods: PeriodTable,
    seen: HashMap<i64, DigestSet, FixedState>,
    closed: BTreeSet<i64>,
    late: Vec<UsageEvent>,
    counters: AggregatorCounters,
    /// What changed since the last snapshot saved (see `delta`), once the
    /// aggregator has been saved or loaded: `None` until then, and the
    /// next save writes everything.
    track: Option<Box<delta::Tracking>>,
    /// The cursor of a close in rounds, between its rounds (see `closing`).
    closing: Option<Box<closing::Closing>>,
}

impl Aggregator {
    pub fn new(config: AggregatorConfig) -> Self {
        Aggregator {
            config,
            series: SeriesTable::new(),
            windows: WindowTable::new(),
            spot: Spot::NONE,
            periods: PeriodTable::new(),
            seen: HashMap::with_hasher(FixedState::with_seed(3)),
            closed: BTreeSet::new(),
            late: Vec::new(),
            counters: AggregatorCounters::default(),
            track: None,
            closing: None,
        }
    }

    pub fn config(&self) -> &AggregatorConfig {
        &self.config
    }

    pub fn counters(&self) -> AggregatorCounters {
        self.counters
    }

    fn series_index(&mut self, customer: &str, resource: &str, meter: &str) -> u32 {
        let config = &self.config;
        let hash = self.series.hash(customer, resource, meter);
        self.series
            .find_or_insert(hash, customer, resource, meter, |meter| kind_of(config, meter))
            .0
    }

    /// Where `time_ms` falls: its window and period (the last event's, when
    /// it falls in the same window, which is the common case).
    #[inline]
    fn locate(&mut self, time_ms: i64) -> Spot {
        let spot = self.spot;
        if time_ms >= spot.window_start && time_ms < spot.window_end {
            return spot;
        }
        self.spot = self.spot_of(time_ms);
        self.spot
    }

    #[cold]
    fn spot_of(&self, time_ms: i64) -> Spot {
        let window_start = self.config.window.start(time_ms);
        let period = month_start(time_ms);
        Spot {
            window_start,
            window_end: self.config.window.end(window_start),
            window_hour: i32::try_from(window_start / HOUR_MS)
                .ok()
                .filter(|_| window_start % HOUR_MS == 0),
            period,
            period_closed: self.closed.contains(&period),
        }
    }

    /// Counts one event.
    pub fn apply(&mut self, e: &EventRef<'_>) -> Applied {
        let hash = self.series.hash(&e.customer, &e.resource, &e.meter);
        let digest = if self.config.dedup {
            event_digest(&e.source, &e.id)
        } else {
            0
        };
        self.apply_hashed(e, hash, digest, self.config.dedup)
    }

    /// Counts events in order, exactly as [`Self::apply`] one by one would,
    /// but faster when there are many series: a group of events is looked
    /// up ahead (each one's series entry and dedup bucket, then the
    /// statistics of its last window and its period data, are prefetched in
    /// stages) so that their memory loads overlap instead of waiting one
    /// after another. The lookahead only reads; each event is then counted
    /// by the same code as `apply`.
    pub fn apply_batch<E: EventFields>(&mut self, events: &[E]) {
        self.apply_batch_with(events, self.config.dedup)
    }

    /// [`Self::apply_batch`] with deduplication by event id on or off for
    /// these events, whatever the aggregator's own setting (a source's
    /// `dedup` option, carried by its batches). Events counted without it
    /// leave no digest behind.
    pub fn apply_batch_with<E: EventFields>(&mut self, events: &[E], dedup: bool) {
        // One loop per setting, so the loop without dedup carries no trace of it.
        if dedup {
            self.pipeline::<E, true>(events)
        } else {
            self.pipeline::<E, false>(events)
        }
        self.bound_tracking();
    }

    fn pipeline<E: EventFields, const DEDUP: bool>(&mut self, events: &[E]) {
        // A software pipeline: while event i is hashed (and, with dedup on,
        // digested) and its series' index slot (and digest bucket)
        // requested, event i-D reads that slot (by then loaded) and requests
        // its series' record, event i-2D reads the record and requests the
        // statistics of the window its series last counted in and its
        // period data, and event i-3D is counted, with everything it needs
        // in cache.
        const D: usize = 8;
        const RING: usize = 4 * D; // a power of two, above 3D
        let mut hashes = [0u64; RING];
        let mut digests = [0u128; RING];
        let mut ids = [None::<u32>; RING];
        let n = events.len();
        for i in 0..n + 3 * D {
            if i < n {
                let e = &events[i];
                let h = self.series.hash(e.customer(), e.resource(), e.meter());
                self.series.prefetch_entry(h);
                hashes[i % RING] = h;
                if DEDUP {
                    let d = event_digest(e.source(), e.id());
                    let period = self.locate(e.time_ms()).period;
                    if let Some(set) = self.seen.get(&period) {
                        set.prefetch(d);
                    }
                    digests[i % RING] = d;
                }
            }
            if let Some(j) = i.checked_sub(D).filter(|&j| j < n) {
                ids[j % RING] = self.series.peek_index(hashes[j % RING]);
            }
            if let Some(k) = i.checked_sub(2 * D).filter(|&k| k < n) {
                if let Some(id) = ids[k % RING] {
                    let (window_slot, period_slot) = self.series.peek(id);
                    self.windows.prefetch(window_slot);
                    self.periods.prefetch(period_slot);
                }
            }
            if let Some(m) = i.checked_sub(3 * D) {
                self.apply_hashed(&events[m], hashes[m % RING], digests[m % RING], DEDUP);
            }
        }
    }

    /// Counts one event whose series hash is `hash` (and whose digest is
    /// `digest` when dedup is on). The common case (an
    /// open period, a series and window already held, a plain meter) is
    /// kept small enough to inline into the batch loop; the rest is in cold
    /// helpers.
    #[inline(always)]
    fn apply_hashed<E: EventFields>(&mut self, e: &E, hash: u64, digest: u128, dedup: bool) -> Applied {
        let spot = self.locate(e.time_ms());
        if spot.period_closed {
            return self.keep_late(e);
        }
        if dedup && self.seen_before(spot.period, digest) {
            return Applied::Duplicate;
        }
        let config = &self.config;
        let (s, rec) = self
            .series
            .find_or_insert(hash, e.customer(), e.resource(), e.meter(), |meter| {
                kind_of(config, meter)
            });
        let kind = rec.kind;
        let slot = match rec.cached_slot(spot.window_hour) {
            Some(slot) => {
                self.windows
                    .count(slot, spot.window_start, e.value(), e.time_ms());
                slot
            }
            None => self
                .windows
                .add(s, spot.window_start, e.value(), e.time_ms(), kind & UNIQUE != 0),
        };
        rec.remember(spot.window_hour, slot);
        let period_slot = if kind & (RATE | GAUGE) != 0 {
            let p = self.periods.add(s, kind, spot.period, e, rec.last_period_slot);
            rec.last_period_slot = p;
            p
        } else {
            NO_PERIOD
        };
        if let Some(t) = self.track.as_deref_mut() {
            t.changed(slot, period_slot, kind, spot.period, e.time_ms());
        }
        self.counters.applied += 1;
        Applied::Counted
    }

    #[cold]
    #[inline(never)]
    fn keep_late<E: EventFields>(&mut self, e: &E) -> Applied {
        self.counters.late += 1;
        self.late.push(e.to_event());
        Applied::Late
    }

    /// Whether the event's (source, id) was counted in `period` already;
    /// remembers it if not.
    #[inline(never)]
    fn seen_before(&mut self, period: i64, digest: u128) -> bool {
        let seen = !self.seen.entry(period).or_default().insert(digest);
        if seen {
            self.counters.duplicates += 1;
        } else if let Some(t) = self.track.as_deref_mut() {
            t.digest(period, digest);
        }
        seen
    }

    /// Counts a batch of owned events (in order, through [`Self::apply_batch`]).
    pub fn apply_all<'e>(&mut self, events: impl IntoIterator<Item = &'e UsageEvent>) {
        let refs: Vec<EventRef<'_>> = events.into_iter().map(EventRef::from).collect();
        self.apply_batch(&refs);
    }

    /// Forgets everything counted (windows, periods, event ids, late
    /// events, counters); keeps the configuration. The same as a new
    /// aggregator with this one's configuration.
    pub fn reset(&mut self) {
        *self = Aggregator::new(self.config.clone());
    }

    /// Events that arrived for closed periods since the last call.
    pub fn take_late(&mut self) -> Vec<UsageEvent> {
        std::mem::take(&mut self.late)
    }

    pub fn closed_periods(&self) -> impl Iterator<Item = i64> + '_ {
        self.closed.iter().copied()
    }

    /// Every window, sorted by series key then window start.
    pub fn windows(&self) -> Vec<(SeriesKey, i64, WindowStats)> {
        let mut all: Vec<_> = self
            .windows
            .iter()
            .map(|((s, w), slot)| (self.series.parts(s), w, slot, s))
            .collect();
        all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        all.into_iter()
            .map(|(_, w, slot, s)| (self.series.key(s), w, self.windows.get(slot).into_owned()))
            .collect()
    }

    /// The usage of the period starting at `period_start_ms`, whether closed or not.
    pub fn period_usage(&self, period_start_ms: i64) -> PeriodUsage {
        let end = month_end(period_start_ms);
        // Each series' usage found by its index (no key comparison per
        // window), then sorted by key once: O(windows + series log series).
        const NONE: u32 = u32::MAX;
        let mut slot: Vec<u32> = vec![NONE; self.series.len()];
        let mut series: Vec<SeriesUsage> = Vec::new();
        for ((s, w), window) in self.windows.iter() {
            if w < period_start_ms || w >= end {
                continue;
            }
            let st = self.windows.get(window);
            let at = &mut slot[s as usize];
            if *at == NONE {
                *at = series.len() as u32;
                series.push(SeriesUsage {
                    key: self.series.key(s),
                    total: 0,
                    count: 0,
                    max: 0,
                    rate_intervals: Vec::new(),
                    samples: Vec::new(),
                });
            }
            let u = &mut series[*at as usize];
            u.total += st.sum;
            u.count += st.count;
            u.max = u.max.max(st.max);
        }
        for ((s, p), ps) in self.periods.iter() {
            if p != period_start_ms {
                continue;
            }
            if let Some(u) = slot
                .get(s as usize)
                .filter(|&&at| at != NONE)
                .map(|&at| &mut series[at as usize])
            {
                u.rate_intervals = ps.rate.iter().collect();
                u.samples = ps.samples.iter().map(|(&t, &v)| (t, v)).collect();
            }
        }
        series.sort_unstable_by(|a, b| {
            (&a.key.customer, &a.key.resource, &a.key.meter).cmp(&(
                &b.key.customer,
                &b.key.resource,
                &b.key.meter,
            ))
        });
        PeriodUsage {
            period_start_ms,
            period_end_ms: end,
            gauge_gap_cap_ms: self.config.gauge_gap_cap_ms,
            series,
        }
    }

    /// Closes a period: later events for it are kept aside as late. Returns
    /// its usage. Its dedup digests are no longer needed and are dropped.
    pub fn close_period(&mut self, period_start_ms: i64) -> PeriodUsage {
        self.mark_closed(period_start_ms);
        self.period_usage(period_start_ms)
    }

    /// Closes a period without building its usage (see [`Self::close_period`]).
    fn mark_closed(&mut self, period_start_ms: i64) {
        self.closed.insert(period_start_ms);
        self.spot = Spot::NONE;
        self.seen.remove(&period_start_ms);
    }

    /// Adds another aggregator's counts. Refuses (changing nothing) when the
    /// configurations differ or when both counted the same event.
    pub fn merge(&mut self, other: &Aggregator) -> Result<(), AggregateError> {
        if self.config != other.config {
            return Err(AggregateError::ConfigMismatch);
        }
        // The earliest overlapping period is the one named, whatever the
        // hash map's order (the Gleam engine names the same).
        let mut periods: Vec<_> = other.seen.iter().collect();
        periods.sort_by_key(|(period, _)| **period);
        for (period, theirs) in periods {
            if let Some(ours) = self.seen.get(period) {
                let count = theirs.iter().filter(|&d| ours.contains(d)).count() as u64;
                if count > 0 {
                    return Err(AggregateError::Overlap {
                        period: period_label(*period),
                        count,
                    });
                }
            }
        }
        let remap: Vec<u32> = (0..other.series.len() as u32)
            .map(|i| {
                let (c, r, m) = other.series.parts(i);
                self.series_index(c, r, m)
            })
            .collect();
        for ((s, w), slot) in other.windows.iter() {
            self.windows
                .merge((remap[s as usize], w), &other.windows.get(slot));
        }
        for ((s, p), ps) in other.periods.iter() {
            self.periods.merge((remap[s as usize], p), &ps);
        }
        for (&period, digests) in &other.seen {
            self.seen.entry(period).or_default().extend(digests.iter());
        }
        self.closed.extend(other.closed.iter().copied());
        self.spot = Spot::NONE;
        // Changed all over: the next snapshot is written whole, a close in
        // rounds starts again.
        self.track = None;
        self.closing = None;
        self.late.extend(other.late.iter().cloned());
        self.counters.applied += other.counters.applied;
        self.counters.duplicates += other.counters.duplicates;
        self.counters.late += other.counters.late;
        Ok(())
    }

    /// Number of (series, window) entries held.
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }
}

impl EventSink for Aggregator {
    fn event(&mut self, event: EventRef<'_>) {
        self.apply(&event);
    }
    fn reject(&mut self, _reject: Reject) {
        // Rejects are the parser's business; whoever drives the parser keeps them.
    }
}

// ---------------------------------------------------------------------------
// Export and restore: a canonical little-endian byte form. Everything is
// written in sorted order, so equal aggregators export equal bytes. The
// last 8 bytes are the XXH3-64 (seed 0, little-endian) of every byte before
// them: a damaged export is refused on restore, never read into other
// numbers (format version 2; version 1 had no checksum and is refused).

const MAGIC: &[u8; 8] = b"TALLYAG\0";
const FORMAT_VERSION: u32 = 2;
/// Bytes of the checksum trailer.
const CHECKSUM_BYTES: usize = 8;
/// Bytes an export is written out in when it streams to a `Write`.
const SPILL_BYTES: usize = 64 * 1024;

/// Writes the export's bytes to `out` through a small buffer, hashing them
/// on the way (so a snapshot streams to disk with no second copy of it).
/// Write errors are kept and reported by `finish`.
struct Writer<W: std::io::Write> {
    buf: Vec<u8>,
    /// Spill the buffer to `out` once it holds this much (`usize::MAX`:
    /// never, the buffer is the result).
    spill_at: usize,
    out: W,
    hasher: xxhash_rust::xxh3::Xxh3,
    written: u64,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> Writer<W> {
    fn new(out: W, spill_at: usize, capacity: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(capacity),
            spill_at,
            out,
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            written: 0,
            error: None,
        }
    }
    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= self.spill_at {
            self.spill();
        }
    }
    fn spill(&mut self) {
        self.hasher.update(&self.buf);
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(&self.buf) {
                self.error = Some(e);
            }
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
    }
    /// Hashes and writes what is left, then the checksum.
    fn finish(mut self) -> std::io::Result<(W, Vec<u8>, u64)> {
        self.hasher.update(&self.buf);
        let sum = self.hasher.digest();
        self.buf.extend_from_slice(&sum.to_le_bytes());
        if self.spill_at != usize::MAX {
            if self.error.is_none() {
                if let Err(e) = self.out.write_all(&self.buf) {
                    self.error = Some(e);
                }
            }
            self.written += self.buf.len() as u64;
            self.buf.clear();
        } else {
            self.written += self.buf.len() as u64;
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok((self.out, self.buf, self.written)),
        }
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.bytes(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.bytes(s.as_bytes());
    }
    fn strs(&mut self, list: &[String]) {
        self.u32(list.len() as u32);
        for s in list {
            self.str(s);
        }
    }
    /// A window's statistics (after its series and start).
    fn window(&mut self, st: &WindowStats) {
        self.u128(st.sum);
        self.u64(st.count);
        self.u64(st.min);
        self.u64(st.max);
        self.i64(st.latest_time_ms);
        self.u64(st.latest_value);
        match &st.uniques {
            None => self.u8(0),
            Some(u) => {
                self.u8(1);
                self.u32(u.len() as u32);
                for &v in u.iter() {
                    self.u64(v);
                }
            }
        }
    }
    /// The closed periods, then the late events in their canonical order
    /// (as the export and every delta hold them: whole).
    fn closed_and_late(&mut self, closed: &BTreeSet<i64>, late: &[UsageEvent]) {
        self.u32(closed.len() as u32);
        for &p in closed {
            self.i64(p);
        }
        // Sorted by reference: no copy of the events.
        let mut sorted: Vec<&UsageEvent> = late.iter().collect();
        sorted.sort();
        self.u32(sorted.len() as u32);
        for e in sorted {
            self.event(e);
        }
    }
    fn event(&mut self, e: &UsageEvent) {
        self.str(&e.id);
        self.str(&e.source);
        self.str(&e.customer);
        self.str(&e.resource);
        self.str(&e.meter);
        self.u64(e.value);
        self.i64(e.time_ms);
    }
}

/// Bytes an export is read in when it streams from a `Read`.
const READ_BYTES: usize = 64 * 1024;

/// Reads an export's body (every byte before its checksum) from any `Read`
/// through a 64 KiB buffer, hashing it on the way: a restore from a file
/// never holds the file's bytes beside the aggregator it builds.
struct Reader<S: std::io::Read> {
    src: S,
    buf: Vec<u8>,
    at: usize,
    end: usize,
    /// Body bytes still in `src`.
    unread: usize,
    hasher: xxhash_rust::xxh3::Xxh3,
    io_error: Option<std::io::Error>,
}

type R<T> = Result<T, AggregateError>;

impl<S: std::io::Read> Reader<S> {
    fn new(src: S, body: usize) -> Self {
        Reader {
            src,
            buf: vec![0; READ_BYTES.min(body)],
            at: 0,
            end: 0,
            unread: body,
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            io_error: None,
        }
    }
    /// Body bytes not read yet.
    fn remaining(&self) -> usize {
        self.end - self.at + self.unread
    }
    fn refill(&mut self) -> R<()> {
        let n = self.unread.min(self.buf.len());
        if let Err(e) = self.src.read_exact(&mut self.buf[..n]) {
            self.io_error = Some(e);
            return Err(AggregateError::BadExport("truncated"));
        }
        self.hasher.update(&self.buf[..n]);
        (self.at, self.end, self.unread) = (0, n, self.unread - n);
        Ok(())
    }
    fn fill(&mut self, out: &mut [u8]) -> R<()> {
        if out.len() > self.remaining() {
            return Err(AggregateError::BadExport("truncated"));
        }
        let mut done = 0;
        while done < out.len() {
            if self.at == self.end {
                self.refill()?;
            }
            let k = (self.end - self.at).min(out.len() - done);
            out[done..done + k].copy_from_slice(&self.buf[self.at..self.at + k]);
            (self.at, done) = (self.at + k, done + k);
        }
        Ok(())
    }
    /// Reads the rest of the body and the checksum after it: whether they agree.
    fn checksum_matches(&mut self) -> R<bool> {
        self.at = self.end;
        while self.unread > 0 {
            self.refill()?;
            self.at = self.end;
        }
        let mut sum = [0u8; CHECKSUM_BYTES];
        if let Err(e) = self.src.read_exact(&mut sum) {
            self.io_error = Some(e);
            return Err(AggregateError::BadExport("truncated"));
        }
        Ok(self.hasher.digest().to_le_bytes() == sum)
    }
    fn arr<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut a = [0u8; N];
        self.fill(&mut a)?;
        Ok(a)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.arr::<1>()?[0])
    }
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn i64(&mut self) -> R<i64> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    fn u128(&mut self) -> R<u128> {
        Ok(u128::from_le_bytes(self.arr()?))
    }
    /// A count of items that each take at least `min_size` bytes.
    fn count(&mut self, min_size: usize) -> R<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.remaining() {
            return Err(AggregateError::BadExport("count larger than the data"));
        }
        Ok(n)
    }
    fn str(&mut self) -> R<String> {
        let n = self.count(1)?;
        let mut v = vec![0u8; n];
        self.fill(&mut v)?;
        String::from_utf8(v).map_err(|_| AggregateError::BadExport("text is not UTF-8"))
    }
    fn strs(&mut self) -> R<Vec<String>> {
        let n = self.count(4)?;
        (0..n).map(|_| self.str()).collect()
    }
    fn window(&mut self) -> R<WindowStats> {
        let mut st = WindowStats {
            sum: self.u128()?,
            count: self.u64()?,
            min: self.u64()?,
            max: self.u64()?,
            latest_time_ms: self.i64()?,
            latest_value: self.u64()?,
            uniques: None,
        };
        if self.u8()? == 1 {
            let k = self.count(8)?;
            st.uniques = Some(Box::new((0..k).map(|_| self.u64()).collect::<R<_>>()?));
        }
        Ok(st)
    }
    /// What [`Writer::closed_and_late`] wrote.
    fn closed_and_late(&mut self) -> R<(BTreeSet<i64>, Vec<UsageEvent>)> {
        let mut closed = BTreeSet::new();
        for _ in 0..self.count(8)? {
            closed.insert(self.i64()?);
        }
        let mut late = Vec::new();
        for _ in 0..self.count(36)? {
            late.push(self.event()?);
        }
        Ok((closed, late))
    }
    fn event(&mut self) -> R<UsageEvent> {
        Ok(UsageEvent {
            id: self.str()?,
            source: self.str()?,
            customer: self.str()?,
            resource: self.str()?,
            meter: self.str()?,
            value: self.u64()?,
            time_ms: self.i64()?,
        })
    }
}

impl Aggregator {
    /// The whole state as canonical bytes, for snapshots and crash recovery.
    pub fn export(&self) -> Vec<u8> {
        let w = Writer::new(std::io::sink(), usize::MAX, 64 + self.windows.len() * 80);
        let (_, bytes, _) = self.write_export(w).expect("writing to memory cannot fail");
        bytes
    }

    /// Streams [`Aggregator::export`]'s bytes to `out` through a 64 KiB
    /// buffer (never the whole export in memory); returns how many bytes.
    pub fn export_to<W: std::io::Write>(&self, out: W) -> std::io::Result<u64> {
        let w = Writer::new(out, SPILL_BYTES, SPILL_BYTES + 1024);
        Ok(self.write_export(w)?.2)
    }

    /// The series in key order, and each series' place in that order.
    fn canonical_order(&self) -> (Vec<u32>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.series.len() as u32).collect();
        order.sort_by(|&a, &b| self.series.parts(a).cmp(&self.series.parts(b)));
        let mut canon = vec![0u32; self.series.len()];
        for (new, &old) in order.iter().enumerate() {
            canon[old as usize] = new as u32;
        }
        (order, canon)
    }

    fn write_export<W: std::io::Write>(&self, mut w: Writer<W>) -> std::io::Result<(W, Vec<u8>, u64)> {
        w.bytes(MAGIC);
        w.u32(FORMAT_VERSION);
        let c = &self.config;
        w.u8(c.window.code());
        w.u8(c.dedup as u8);
        w.strs(&c.rate_meters);
        w.strs(&c.gauge_meters);
        w.strs(&c.unique_meters);
        w.i64(c.gauge_gap_cap_ms);
        w.u64(self.counters.applied);
        w.u64(self.counters.duplicates);
        w.u64(self.counters.late);
        // Series in key order; indices below refer to this order.
        let (order, canon) = self.canonical_order();
        w.u32(order.len() as u32);
        for &old in &order {
            let (c, r, m) = self.series.parts(old);
            w.str(c);
            w.str(r);
            w.str(m);
        }
        let mut windows: Vec<_> = self
            .windows
            .iter()
            .map(|((s, t), slot)| ((canon[s as usize], t), slot))
            .collect();
        windows.sort_by_key(|(k, _)| *k);
        w.u32(windows.len() as u32);
        for ((s, t), slot) in windows {
            w.u32(s);
            w.i64(t);
            w.window(&self.windows.get(slot));
        }
        // Sorted by key, each with its slot (24 bytes an entry, not its data's view).
        let mut periods: Vec<_> = self
            .periods
            .iter()
            .enumerate()
            .map(|(slot, ((s, p), _))| ((canon[s as usize], p), slot as u32))
            .collect();
        periods.sort_by_key(|(k, _)| *k);
        w.u32(periods.len() as u32);
        for ((s, p), slot) in periods {
            let (_, ps) = self.periods.at(slot);
            w.u32(s);
            w.i64(p);
            w.u32(ps.rate.len() as u32);
            for (i, v) in ps.rate.iter() {
                w.u32(i);
                w.u128(v);
            }
            w.u32(ps.samples.len() as u32);
            for (&t, &v) in ps.samples.iter() {
                w.i64(t);
                w.u64(v);
            }
        }
        let mut seen: Vec<_> = self.seen.iter().collect();
        seen.sort_by_key(|(p, _)| **p);
        w.u32(seen.len() as u32);
        for (&p, digests) in seen {
            w.i64(p);
            let mut d: Vec<u128> = digests.iter().collect();
            d.sort_unstable();
            w.u32(d.len() as u32);
            for v in d {
                w.u128(v);
            }
        }
        w.closed_and_late(&self.closed, &self.late);
        w.finish()
    }

    /// Rebuilds an aggregator from [`Aggregator::export`]'s bytes, checking
    /// every length and reference.
    pub fn restore(bytes: &[u8]) -> Result<Aggregator, AggregateError> {
        Self::restore_from(bytes, bytes.len() as u64).unwrap_or(Err(AggregateError::BadExport("truncated")))
    }

    /// [`Aggregator::restore`] from a reader of `len` bytes (a file),
    /// reading it once through a small buffer. The checksum is checked
    /// after the body is read; a damaged export is refused as a checksum
    /// mismatch whatever else is wrong with it, as when the bytes are in
    /// memory. The outer error is the reader's.
    pub fn restore_from<S: std::io::Read>(
        mut src: S,
        len: u64,
    ) -> std::io::Result<Result<Aggregator, AggregateError>> {
        let bad = |why| Ok(Err(AggregateError::BadExport(why)));
        let head = 8 + 4 + CHECKSUM_BYTES as u64;
        if len < head {
            // Too short for a body and a checksum: say what its start is.
            let mut b = vec![0u8; len as usize];
            src.read_exact(&mut b)?;
            return match b.len() {
                n if n < 8 => bad("truncated"),
                _ if &b[..8] != MAGIC => bad("wrong magic bytes"),
                n if n < 12 => bad("truncated"),
                _ if b[8..12] != FORMAT_VERSION.to_le_bytes() => bad("unsupported format version"),
                _ => bad("truncated"),
            };
        }
        let body =
            usize::try_from(len - CHECKSUM_BYTES as u64).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        let mut r = Reader::new(&mut src, body);
        let started = (|| {
            if r.arr::<8>()? != *MAGIC {
                return Err(AggregateError::BadExport("wrong magic bytes"));
            }
            if r.u32()? != FORMAT_VERSION {
                return Err(AggregateError::BadExport("unsupported format version"));
            }
            Ok(())
        })();
        if let Err(e) = started {
            return match r.io_error.take() {
                Some(io) => Err(io),
                None => Ok(Err(e)),
            };
        }
        let read = Self::read_body(&mut r);
        let matches = r.checksum_matches();
        if let Some(io) = r.io_error.take() {
            return Err(io);
        }
        Ok(match matches {
            Ok(true) => read,
            _ => Err(AggregateError::BadExport("checksum mismatch")),
        })
    }

    fn read_body<S: std::io::Read>(r: &mut Reader<S>) -> Result<Aggregator, AggregateError> {
        let window = Window::from_code(r.u8()?).ok_or(AggregateError::BadExport("unknown window"))?;
        let dedup = r.u8()? != 0;
        let config = AggregatorConfig {
            window,
            dedup,
            rate_meters: r.strs()?,
            gauge_meters: r.strs()?,
            unique_meters: r.strs()?,
            gauge_gap_cap_ms: r.i64()?,
        };
        let mut agg = Aggregator::new(config);
        agg.counters = AggregatorCounters {
            applied: r.u64()?,
            duplicates: r.u64()?,
            late: r.u64()?,
        };
        let n = r.count(12)?;
        for _ in 0..n {
            let (c, res, m) = (r.str()?, r.str()?, r.str()?);
            let before = agg.series.len();
            agg.series_index(&c, &res, &m);
            if agg.series.len() == before {
                return Err(AggregateError::BadExport("duplicate series"));
            }
        }
        let series_ok = |s: u32| -> R<u32> {
            if (s as usize) < n {
                Ok(s)
            } else {
                Err(AggregateError::BadExport("unknown series"))
            }
        };
        let windows = r.count(61)?;
        for _ in 0..windows {
            let key = (series_ok(r.u32()?)?, r.i64()?);
            let st = r.window()?;
            if agg.windows.slot(key).is_some() {
                return Err(AggregateError::BadExport("duplicate window"));
            }
            agg.windows.push(key, st);
        }
        let periods = r.count(20)?;
        for _ in 0..periods {
            let key = (series_ok(r.u32()?)?, r.i64()?);
            let mut ps = PeriodSeries::default();
            for _ in 0..r.count(20)? {
                ps.rate.set(r.u32()?, r.u128()?);
            }
            for _ in 0..r.count(16)? {
                ps.samples.insert(r.i64()?, r.u64()?);
            }
            agg.periods.insert(key, ps);
        }
        for _ in 0..r.count(12)? {
            let p = r.i64()?;
            let k = r.count(16)?;
            let set = agg.seen.entry(p).or_default();
            for _ in 0..k {
                set.insert(r.u128()?);
            }
        }
        (agg.closed, agg.late) = r.closed_and_late()?;
        if r.remaining() != 0 {
            return Err(AggregateError::BadExport("trailing bytes"));
        }
        Ok(agg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_windows() {
        let t = crate::time::parse_rfc3339(b"2024-02-29T13:45:10Z").unwrap();
        assert_eq!(period_label(t), "2024-02");
        assert_eq!(
            month_start(t),
            crate::time::parse_rfc3339(b"2024-02-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            month_end(month_start(t)),
            crate::time::parse_rfc3339(b"2024-03-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            month_end(parse_period("2024-12").unwrap()),
            parse_period("2025-01").unwrap()
        );
        assert_eq!(
            Window::Hour.start(t),
            crate::time::parse_rfc3339(b"2024-02-29T13:00:00Z").unwrap()
        );
        assert_eq!(
            Window::Day.start(t),
            crate::time::parse_rfc3339(b"2024-02-29T00:00:00Z").unwrap()
        );
        assert_eq!(parse_period("2024-13"), None);
    }
}

/// What feeding one chunk through a parser into an aggregator did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "gleam",
    derive(tally_interop::IntoGleam),
    gleam(tag = "feed_result")
)]
pub struct FeedOutcome {
    /// The parser's counts for this chunk alone.
    pub stats: crate::parse::ParseStats,
    pub rejects: Vec<Reject>,
    /// The aggregator's counters after the chunk.
    pub counters: AggregatorCounters,
}

struct RejectCollector<'a> {
    aggregator: &'a mut Aggregator,
    queue: EventQueue,
    rejects: Vec<Reject>,
}

impl EventSink for RejectCollector<'_> {
    fn event(&mut self, event: EventRef<'_>) {
        self.queue.push(&event, self.aggregator);
    }
    fn reject(&mut self, reject: Reject) {
        self.rejects.push(reject);
    }
}

impl Aggregator {
    /// Parses `chunk` with `parser` into this aggregator, returning the
    /// chunk's rejects. `chunk == None` ends the stream. Events are counted
    /// in groups through an [`EventQueue`], all of them before this returns.
    pub fn feed(&mut self, parser: &mut crate::parse::StreamParser, chunk: Option<&[u8]>) -> FeedOutcome {
        let before = parser.stats();
        let mut sink = RejectCollector {
            aggregator: self,
            queue: EventQueue::default(),
            rejects: Vec::new(),
        };
        match chunk {
            Some(bytes) => parser.feed(bytes, &mut sink),
            None => parser.finish(&mut sink),
        }
        sink.queue.flush(sink.aggregator);
        let rejects = sink.rejects;
        let stats = parser.stats().since(before);
        FeedOutcome {
            stats,
            rejects,
            counters: self.counters,
        }
    }
}
