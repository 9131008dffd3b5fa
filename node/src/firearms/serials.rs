//! The serials of this node's own records, in memory, for serial-pattern queries: per make,
//! the normalised serials side by side in one string with their record sequence numbers.
//! Keyed digests cannot answer a pattern (`12?45*`), and decoding every stored record for
//! each query would take seconds at a million records; this scan takes milliseconds.
//!
//! Built after start and after each import, in the background (a pass over the records tree,
//! a slice at a time so queries are not held up), and caught up before each query: new
//! records are picked up from the tree by sequence number, and a replaced record is added
//! again under its new make and serial. Rows can therefore be stale (a record
//! replaced or removed since); callers read each candidate back and match it again.

use std::collections::HashMap;

use striae_firearms_lib::{ReferenceTable, SerialPattern};

use super::records::{StoredRecord, make_key, store_key};
use crate::store::{Keyspace, StoreError};

/// The serials of one make.
#[derive(Default)]
struct Shelf {
    seqs: Vec<u64>,
    /// End offset of each serial in `text`.
    ends: Vec<u32>,
    text: String,
}

impl Shelf {
    fn push(&mut self, seq: u64, serial: &str) {
        self.text.push_str(serial);
        self.seqs.push(seq);
        self.ends.push(self.text.len() as u32);
    }

    fn serials(&self) -> impl Iterator<Item = (u64, &str)> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        self.seqs
            .iter()
            .zip(starts.zip(self.ends.iter().copied()))
            .map(|(&seq, (a, b))| (seq, &self.text[a as usize..b as usize]))
    }
}

/// A record the pattern matched, by sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SerialMatch {
    /// The record's sequence number in the records tree.
    pub seq: u64,
    /// Whether the serial matched as written (else only once folded).
    pub exact: bool,
}

/// The serial index (see the module docs).
#[derive(Default)]
pub struct SerialIndex {
    shelves: HashMap<String, Shelf>,
    /// The next sequence number not yet read from the records tree.
    next_seq: u64,
    built: bool,
}

impl SerialIndex {
    /// Reads the records written since the last call (all of them the first time), at most
    /// `max` at a time; true when there may be more.
    pub fn catch_up(
        &mut self,
        records: &Keyspace,
        table: &ReferenceTable,
        max: usize,
    ) -> Result<bool, StoreError> {
        for (read, item) in records.range(store_key(self.next_seq)..).enumerate() {
            if read == max {
                return Ok(true);
            }
            let (key, value) = item?;
            let Ok(bytes) = <[u8; 8]>::try_from(key.as_ref()) else {
                continue;
            };
            let seq = u64::from_be_bytes(bytes);
            // A record that no longer validates is skipped here as everywhere else.
            if let Ok(stored) = StoredRecord::decode(&value, table) {
                self.add(seq, &stored);
            }
            self.next_seq = seq + 1;
        }
        self.built = true;
        Ok(false)
    }

    /// Adds a record replaced in place, unless the next catch-up reads it anyway.
    pub fn replaced(&mut self, seq: u64, stored: &StoredRecord) {
        if seq < self.next_seq {
            self.add(seq, stored);
        }
    }

    fn add(&mut self, seq: u64, stored: &StoredRecord) {
        let make = make_key(&stored.record.make.normalised);
        self.shelves
            .entry(make)
            .or_default()
            .push(seq, &stored.record.serial.normalised);
    }

    /// Whether a pass over the records has reached their end once.
    pub fn is_built(&self) -> bool {
        self.built
    }

    /// Rows held (stale ones included).
    pub fn len(&self) -> usize {
        self.shelves.values().map(|s| s.seqs.len()).sum()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records of the makes `make_keys` whose serial matches `pattern`, exact matches first,
    /// in record order, at most `limit` (and whether more matched).
    pub fn matching(
        &self,
        make_keys: &[String],
        pattern: &SerialPattern,
        limit: usize,
    ) -> (Vec<SerialMatch>, bool) {
        let mut exact = Vec::new();
        let mut folded = Vec::new();
        for shelf in make_keys.iter().filter_map(|k| self.shelves.get(k)) {
            for (seq, serial) in shelf.serials() {
                match pattern.match_kind(serial) {
                    Some(true) => exact.push(SerialMatch { seq, exact: true }),
                    Some(false) => folded.push(SerialMatch { seq, exact: false }),
                    None => {}
                }
            }
        }
        exact.sort_by_key(|m| m.seq);
        exact.dedup_by_key(|m| m.seq);
        folded.sort_by_key(|m| m.seq);
        folded.dedup_by_key(|m| m.seq);
        folded.retain(|f| exact.binary_search_by_key(&f.seq, |m| m.seq).is_err());
        let mut all = exact;
        all.extend(folded);
        let more = all.len() > limit;
        all.truncate(limit);
        (all, more)
    }
}
