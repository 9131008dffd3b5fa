//! The in-memory index of firearm digests held from every member (this node's own included):
//! what `POST /v1/firearms/check` answers from, without a query ever leaving the node.
//!
//! Layout, chosen to hold ~10 million digests in a stated, lean footprint with no allocation
//! per digest:
//! - `slots`: one fixed-size [`Slot`] of 44 bytes per (origin, record) ever announced: the
//!   first 8 bytes of the exact and confusable digests, the record reference, the origin (as a
//!   small number), the status (0 once retracted) and two intrusive chain links;
//! - `exact` and `confusable`: hash tables of `u32` slot numbers (5 bytes a bucket), one per
//!   distinct digest prefix, each the head of a chain of slots sharing that prefix (several
//!   members can hold the same gun; many serials share a confusable fold);
//! - `by_ref`: a hash table of `u32` slot numbers keyed by (origin, record reference), so a
//!   newer digest or a retraction of the same record replaces the older one.
//!
//! Comparing 64 of the 128 digest bits is enough: with 10^7 digests held, the chance that an
//! unrelated query collides with one is about 10^7 / 2^64, i.e. 5 * 10^-13.

use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use striae_protocol::{
    BureauId,
    firearm::{DigestStatus, FirearmDigest, RecordRef},
};

/// End of a chain.
const NONE: u32 = u32::MAX;
/// Longest chain walked for one lookup, so that a member publishing many digests under one
/// key cannot make checks slow.
const MAX_CHAIN_WALK: usize = 20_000;

/// One announced record.
#[derive(Clone, Copy)]
struct Slot {
    exact: [u8; 8],
    confusable: [u8; 8],
    record_ref: [u8; 16],
    next_exact: u32,
    next_confusable: u32,
    origin: u16,
    /// `status_code`, or 0 when retracted.
    status: u8,
}

/// One digest found by a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The member holding the record.
    pub origin: BureauId,
    /// The record at its holder.
    pub record_ref: RecordRef,
    /// The status announced.
    pub status: DigestStatus,
    /// Exact match (else confusable only).
    pub exact: bool,
}

/// Figures about the index, for operators.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct IndexStats {
    /// Records announced and not retracted.
    pub live: u64,
    /// Slots in use (live plus retracted).
    pub slots: u64,
    /// Bytes reserved by the index's arrays and tables.
    pub memory_bytes: u64,
}

/// The digest index.
pub struct DigestIndex {
    slots: Vec<Slot>,
    exact: HashTable<u32>,
    confusable: HashTable<u32>,
    by_ref: HashTable<u32>,
    origins: Vec<BureauId>,
    origin_numbers: HashMap<BureauId, u16>,
    hasher: DefaultHashBuilder,
    live: u64,
}

impl Default for DigestIndex {
    fn default() -> Self {
        Self::new()
    }
}

fn status_code(status: DigestStatus) -> u8 {
    match status {
        DigestStatus::Stolen => 1,
        DigestStatus::Lost => 2,
        DigestStatus::Trafficked => 3,
        DigestStatus::Smuggled => 4,
        DigestStatus::Seized => 5,
    }
}

fn status_of(code: u8) -> Option<DigestStatus> {
    Some(match code {
        1 => DigestStatus::Stolen,
        2 => DigestStatus::Lost,
        3 => DigestStatus::Trafficked,
        4 => DigestStatus::Smuggled,
        5 => DigestStatus::Seized,
        _ => return None,
    })
}

fn prefix(digest: &[u8; 16]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

impl DigestIndex {
    /// An empty index.
    pub fn new() -> Self {
        DigestIndex {
            slots: Vec::new(),
            exact: HashTable::new(),
            confusable: HashTable::new(),
            by_ref: HashTable::new(),
            origins: Vec::new(),
            origin_numbers: HashMap::new(),
            hasher: DefaultHashBuilder::default(),
            live: 0,
        }
    }

    fn origin_number(&mut self, origin: &BureauId) -> Option<u16> {
        if let Some(&n) = self.origin_numbers.get(origin) {
            return Some(n);
        }
        let n = u16::try_from(self.origins.len()).ok()?;
        self.origins.push(*origin);
        self.origin_numbers.insert(*origin, n);
        Some(n)
    }

    fn ref_hash(&self, origin: u16, record_ref: &[u8; 16]) -> u64 {
        self.hasher.hash_one((origin, record_ref))
    }

    fn key_hash(&self, key: &[u8; 8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn find_slot(&self, origin: u16, record_ref: &[u8; 16]) -> Option<u32> {
        let hash = self.ref_hash(origin, record_ref);
        let slots = &self.slots;
        self.by_ref
            .find(hash, |&i| {
                let s = &slots[i as usize];
                s.origin == origin && &s.record_ref == record_ref
            })
            .copied()
    }

    /// Applies one digest announced by `origin`: the latest per (origin, record) wins.
    pub fn apply(&mut self, origin: &BureauId, digest: &FirearmDigest) {
        let Some(o) = self.origin_number(origin) else {
            tracing::warn!("digest index: more than 65536 origins; digest ignored");
            return;
        };
        let (exact, confusable) = (prefix(&digest.exact), prefix(&digest.confusable));
        let status = status_code(digest.status);
        if let Some(i) = self.find_slot(o, &digest.record_ref.0) {
            let slot = &mut self.slots[i as usize];
            if slot.exact == exact && slot.confusable == confusable {
                if slot.status == 0 {
                    self.live += 1;
                }
                slot.status = status;
                return;
            }
            // The record's make or serial changed: the old slot stays in its chains, dead,
            // and the reference now names a new slot.
            if slot.status != 0 {
                self.live -= 1;
            }
            slot.status = 0;
            let hash = self.ref_hash(o, &digest.record_ref.0);
            if let Ok(entry) = self.by_ref.find_entry(hash, |&j| j == i) {
                entry.remove();
            }
        }
        let Ok(n) = u32::try_from(self.slots.len()) else {
            tracing::warn!("digest index full; digest ignored");
            return;
        };
        if n == NONE {
            return;
        }
        let next_exact = self.link(Chain::Exact, &exact, n);
        let next_confusable = self.link(Chain::Confusable, &confusable, n);
        self.slots.push(Slot {
            exact,
            confusable,
            record_ref: digest.record_ref.0,
            next_exact,
            next_confusable,
            origin: o,
            status,
        });
        let hash = self.ref_hash(o, &digest.record_ref.0);
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.by_ref.insert_unique(hash, n, |&j| {
            let s = &slots[j as usize];
            hasher.hash_one((s.origin, &s.record_ref))
        });
        self.live += 1;
    }

    /// Makes slot `n` the head of `key`'s chain; returns the previous head.
    fn link(&mut self, chain: Chain, key: &[u8; 8], n: u32) -> u32 {
        let hash = self.key_hash(key);
        let (hasher, slots) = (&self.hasher, &self.slots);
        let table = match chain {
            Chain::Exact => &mut self.exact,
            Chain::Confusable => &mut self.confusable,
        };
        let key_of = |j: u32| -> [u8; 8] {
            // `n` is not pushed yet: its key is the one being linked.
            match slots.get(j as usize) {
                Some(s) => match chain {
                    Chain::Exact => s.exact,
                    Chain::Confusable => s.confusable,
                },
                None => *key,
            }
        };
        match table.entry(
            hash,
            |&j| key_of(j) == *key,
            |&j| hasher.hash_one(key_of(j)),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                let previous = *e.get();
                *e.get_mut() = n;
                previous
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(n);
                NONE
            }
        }
    }

    /// Retracts `origin`'s record: its digest no longer matches.
    pub fn retract(&mut self, origin: &BureauId, record_ref: &RecordRef) {
        let Some(&o) = self.origin_numbers.get(origin) else {
            return;
        };
        if let Some(i) = self.find_slot(o, &record_ref.0) {
            let slot = &mut self.slots[i as usize];
            if slot.status != 0 {
                slot.status = 0;
                self.live -= 1;
            }
        }
    }

    fn walk(&self, chain: Chain, key: &[u8; 8], mut visit: impl FnMut(&Slot)) {
        let table = match chain {
            Chain::Exact => &self.exact,
            Chain::Confusable => &self.confusable,
        };
        let slots = &self.slots;
        let key_of = |s: &Slot| match chain {
            Chain::Exact => s.exact,
            Chain::Confusable => s.confusable,
        };
        let Some(&head) = table.find(self.key_hash(key), |&j| key_of(&slots[j as usize]) == *key)
        else {
            return;
        };
        let mut at = head;
        for _ in 0..MAX_CHAIN_WALK {
            let Some(slot) = slots.get(at as usize) else {
                return;
            };
            // Dead slots of an edited record stay in their old chain; only live slots whose
            // key is this one count.
            if slot.status != 0 && key_of(slot) == *key {
                visit(slot);
            }
            at = match chain {
                Chain::Exact => slot.next_exact,
                Chain::Confusable => slot.next_confusable,
            };
            if at == NONE {
                return;
            }
        }
    }

    /// Live records whose exact or confusable digest matches, exact ones first; a record
    /// found exactly is not repeated as confusable. At most `limit` hits.
    pub fn lookup(&self, exact: &[u8; 16], confusable: &[u8; 16], limit: usize) -> Vec<Hit> {
        let mut hits: Vec<Hit> = Vec::new();
        let mut seen: Vec<(u16, [u8; 16])> = Vec::new();
        let mut take = |slot: &Slot, exact: bool, hits: &mut Vec<Hit>| {
            if hits.len() >= limit || seen.contains(&(slot.origin, slot.record_ref)) {
                return;
            }
            let (Some(origin), Some(status)) = (
                self.origins.get(usize::from(slot.origin)),
                status_of(slot.status),
            ) else {
                return;
            };
            seen.push((slot.origin, slot.record_ref));
            hits.push(Hit {
                origin: *origin,
                record_ref: RecordRef(slot.record_ref),
                status,
                exact,
            });
        };
        self.walk(Chain::Exact, &prefix(exact), |s| take(s, true, &mut hits));
        self.walk(Chain::Confusable, &prefix(confusable), |s| {
            take(s, false, &mut hits)
        });
        hits
    }

    /// Trims the arrays and tables to what they hold plus an eighth, after the rebuild at
    /// start, so that doubling growth does not leave up to half the memory idle.
    pub fn compact(&mut self) {
        let len = self.slots.len();
        self.slots.shrink_to(len + len / 8);
        let hasher = &self.hasher;
        let slots = &self.slots;
        let exact = |&j: &u32| hasher.hash_one(slots[j as usize].exact);
        let confusable = |&j: &u32| hasher.hash_one(slots[j as usize].confusable);
        let by_ref = |&j: &u32| {
            let s = &slots[j as usize];
            hasher.hash_one((s.origin, &s.record_ref))
        };
        self.exact.shrink_to(self.exact.len(), exact);
        self.confusable.shrink_to(self.confusable.len(), confusable);
        self.by_ref.shrink_to(self.by_ref.len(), by_ref);
    }

    /// Figures for operators.
    pub fn stats(&self) -> IndexStats {
        let table_bytes = |capacity: usize| (capacity as u64) * 5 * 8 / 7;
        IndexStats {
            live: self.live,
            slots: self.slots.len() as u64,
            memory_bytes: (self.slots.capacity() * std::mem::size_of::<Slot>()) as u64
                + table_bytes(self.exact.capacity())
                + table_bytes(self.confusable.capacity())
                + table_bytes(self.by_ref.capacity()),
        }
    }
}

#[derive(Clone, Copy)]
enum Chain {
    Exact,
    Confusable,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(e: u8, c: u8, r: u8, status: DigestStatus) -> FirearmDigest {
        FirearmDigest {
            exact: [e; 16],
            confusable: [c; 16],
            status,
            record_ref: RecordRef([r; 16]),
        }
    }

    #[test]
    fn slots_stay_small() {
        assert_eq!(std::mem::size_of::<Slot>(), 44);
    }

    #[test]
    fn exact_then_confusable_without_repeats() {
        let (a, b) = (BureauId([1; 32]), BureauId([2; 32]));
        let mut index = DigestIndex::new();
        index.apply(&a, &digest(1, 9, 1, DigestStatus::Stolen));
        index.apply(&b, &digest(2, 9, 2, DigestStatus::Lost));
        let hits = index.lookup(&[1; 16], &[9; 16], 10);
        assert_eq!(hits.len(), 2);
        assert!(hits[0].exact && hits[0].origin == a);
        assert!(!hits[1].exact && hits[1].origin == b);
        assert!(index.lookup(&[3; 16], &[4; 16], 10).is_empty());
    }

    #[test]
    fn latest_digest_wins_and_retraction_hides() {
        let a = BureauId([1; 32]);
        let mut index = DigestIndex::new();
        index.apply(&a, &digest(1, 9, 1, DigestStatus::Stolen));
        index.apply(&a, &digest(1, 9, 1, DigestStatus::Seized));
        let hits = index.lookup(&[1; 16], &[9; 16], 10);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].status, DigestStatus::Seized);
        index.retract(&a, &RecordRef([1; 16]));
        assert!(index.lookup(&[1; 16], &[9; 16], 10).is_empty());
        assert_eq!(index.stats().live, 0);
        // Announced again after a retraction.
        index.apply(&a, &digest(1, 9, 1, DigestStatus::Stolen));
        assert_eq!(index.lookup(&[1; 16], &[9; 16], 10).len(), 1);
        // The serial was corrected: the old digest no longer matches.
        index.apply(&a, &digest(5, 6, 1, DigestStatus::Stolen));
        assert!(index.lookup(&[1; 16], &[9; 16], 10).is_empty());
        assert_eq!(index.lookup(&[5; 16], &[6; 16], 10).len(), 1);
        assert_eq!(index.stats().live, 1);
    }

    #[test]
    fn many_records_share_a_chain() {
        let a = BureauId([1; 32]);
        let mut index = DigestIndex::new();
        for r in 0..200u8 {
            let mut d = digest(r, 7, r, DigestStatus::Stolen);
            d.exact[15] = r;
            index.apply(&a, &d);
        }
        assert_eq!(index.lookup(&[0; 16], &[7; 16], 500).len(), 200);
        assert_eq!(index.lookup(&[0; 16], &[7; 16], 5).len(), 5);
    }
}
