//! The series of an aggregator: each distinct (customer, resource, meter)
//! gets a dense number. Finding that number is the hot path of aggregation
//! (once per event), so it touches as little memory as it can: the hash
//! table holds the records themselves (hash, number, where the key text
//! lies in one contiguous arena, kind, and the window it last counted in),
//! so one probe and one compare against the arena find everything. A new
//! series costs no allocation of its own (its text is appended to the
//! arena), which matters as much: with many keys, making series is a large
//! part of the work.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use crate::aggregate::SeriesKey;

/// No window remembered yet.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// What the hot path needs of one series: one 48-byte record.
#[derive(Clone, Copy)]
pub(crate) struct SeriesRec {
    hash: u64,
    /// Where `customer`, `resource`, `meter` lie, back to back, in the arena.
    text_at: usize,
    lens: [u32; 3],
    /// The series' number.
    pub id: u32,
    /// Start of the window this series last counted in, and that window's slot.
    pub last_window: i64,
    pub last_slot: u32,
    /// RATE | GAUGE | UNIQUE bits (see aggregate.rs).
    pub kind: u8,
}

pub(crate) struct SeriesTable {
    hasher: FixedState,
    /// The records themselves, so finding one is one probe.
    index: HashTable<SeriesRec>,
    /// By number: where each key's text lies (for reports and exports).
    spans: Vec<(usize, [u32; 3])>,
    text: String,
}

impl SeriesTable {
    pub fn new() -> Self {
        SeriesTable {
            hasher: FixedState::with_seed(0x7a11_7a11),
            index: HashTable::new(),
            spans: Vec::new(),
            text: String::new(),
        }
    }

    /// The record of the series, made (with `kind(meter)`) when new.
    #[inline]
    pub fn find_or_insert(&mut self, customer: &str, resource: &str, meter: &str, kind: impl FnOnce(&str) -> u8) -> &mut SeriesRec {
        let hash = self.hasher.hash_one((customer, resource, meter));
        let lens = [customer.len() as u32, resource.len() as u32, meter.len() as u32];
        let text = &self.text;
        let same = |r: &SeriesRec| {
            r.hash == hash && r.lens == lens && {
                let t = &text.as_bytes()[r.text_at..];
                let (c, rest) = t.split_at(customer.len());
                let (res, rest) = rest.split_at(resource.len());
                c == customer.as_bytes() && res == resource.as_bytes() && &rest[..meter.len()] == meter.as_bytes()
            }
        };
        match self.index.entry(hash, same, |r| r.hash) {
            Entry::Occupied(hit) => hit.into_mut(),
            Entry::Vacant(slot) => {
                let id = self.spans.len() as u32;
                let text_at = self.text.len();
                self.text.push_str(customer);
                self.text.push_str(resource);
                self.text.push_str(meter);
                self.spans.push((text_at, lens));
                let rec = SeriesRec { hash, text_at, lens, id, last_window: 0, last_slot: NO_SLOT, kind: kind(meter) };
                slot.insert(rec).into_mut()
            }
        }
    }

    /// The (customer, resource, meter) of series `i`, borrowed from the arena.
    pub fn parts(&self, i: u32) -> (&str, &str, &str) {
        let (at, lens) = self.spans[i as usize];
        let [c, res, m] = lens.map(|l| l as usize);
        // The arena is the three texts back to back, so these are char boundaries.
        (&self.text[at..at + c], &self.text[at + c..at + c + res], &self.text[at + c + res..at + c + res + m])
    }

    /// The key of series `i`, owned (for reports).
    pub fn key(&self, i: u32) -> SeriesKey {
        let (customer, resource, meter) = self.parts(i);
        SeriesKey { customer: customer.into(), resource: resource.into(), meter: meter.into() }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }
}
