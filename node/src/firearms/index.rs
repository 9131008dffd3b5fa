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
//! Every member knows the digest key, so any member can publish digests carrying another
//! member's `exact` and `confusable` values. A chain therefore holds at most
//! [`MAX_SLOTS_PER_MEMBER`] slots of one member (a slot of that member no longer live makes
//! room; otherwise its further slots stay out of the chain), and a lookup returns every
//! member's hits: a flood of copies takes memory only up to that bound per key and cannot
//! hide another holder.
//!
//! Comparing 64 of the 128 digest bits is enough: with 10^7 digests held, the chance that an
//! unrelated query collides with one is about 10^7 / 2^64, i.e. 5 * 10^-13.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use striae_protocol::{
    BureauId,
    firearm::{DigestStatus, FirearmDigest, RecordRef},
};

/// End of a chain.
const NONE: u32 = u32::MAX;
/// Most slots one member has in one chain. Legitimately a member holds a few records of one
/// make and serial (a gun registered twice, serials that fold alike).
pub const MAX_SLOTS_PER_MEMBER: usize = 16;
/// Longest chain walked, a safeguard only: chains hold at most `MAX_SLOTS_PER_MEMBER` slots
/// per member.
const MAX_CHAIN_WALK: usize = 1 << 20;
/// `Slot::unlinked` bits: the slot was left out of, or taken off, that chain.
const OFF_EXACT: u8 = 1;
const OFF_CONFUSABLE: u8 = 2;

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
    /// `OFF_EXACT` and `OFF_CONFUSABLE`: chains the slot is not in.
    unlinked: u8,
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
            if slot.exact == exact && slot.confusable == confusable && slot.unlinked == 0 {
                if slot.status == 0 {
                    self.live += 1;
                }
                slot.status = status;
                return;
            }
            // The record's make or serial changed (or its slot was taken off a chain): the old
            // slot stays in its chains, dead, and the reference now names a new slot.
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
        let next_exact = self.link(Chain::Exact, &exact, n, o);
        let next_confusable = self.link(Chain::Confusable, &confusable, n, o);
        if next_exact.is_none() && next_confusable.is_none() {
            // The member already fills both chains: nothing of it would be found.
            tracing::debug!("digest index: a member's slots for one key are full; digest ignored");
            return;
        }
        let unlinked = if next_exact.is_none() { OFF_EXACT } else { 0 }
            | if next_confusable.is_none() {
                OFF_CONFUSABLE
            } else {
                0
            };
        self.slots.push(Slot {
            exact,
            confusable,
            record_ref: digest.record_ref.0,
            next_exact: next_exact.unwrap_or(NONE),
            next_confusable: next_confusable.unwrap_or(NONE),
            origin: o,
            status,
            unlinked,
        });
        let hash = self.ref_hash(o, &digest.record_ref.0);
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.by_ref.insert_unique(hash, n, |&j| {
            let s = &slots[j as usize];
            hasher.hash_one((s.origin, &s.record_ref))
        });
        self.live += 1;
    }

    /// Makes slot `n` of member `origin` the head of `key`'s chain and returns the previous
    /// head (`NONE` for a new chain), unless the member already has `MAX_SLOTS_PER_MEMBER`
    /// slots in it and none of them is dead (a dead one is taken off to make room): then
    /// `None`, and the slot stays out of the chain.
    fn link(&mut self, chain: Chain, key: &[u8; 8], n: u32, origin: u16) -> Option<u32> {
        if let Some(head) = self.head(chain, key) {
            let (count, oldest_dead) = self.member_slots(chain, head, origin);
            if count >= MAX_SLOTS_PER_MEMBER {
                let (before, dead) = oldest_dead?;
                self.unlink(chain, key, before, dead);
            }
        }
        Some(self.push_head(chain, key, n))
    }

    /// The first slot of `key`'s chain.
    fn head(&self, chain: Chain, key: &[u8; 8]) -> Option<u32> {
        let slots = &self.slots;
        self.table(chain)
            .find(self.key_hash(key), |&j| {
                chain.key(&slots[j as usize]) == *key
            })
            .copied()
    }

    fn table(&self, chain: Chain) -> &HashTable<u32> {
        match chain {
            Chain::Exact => &self.exact,
            Chain::Confusable => &self.confusable,
        }
    }

    /// How many slots `origin` has in the chain from `head`, and its oldest dead one with the
    /// slot before it (`None` when it is the head).
    fn member_slots(
        &self,
        chain: Chain,
        head: u32,
        origin: u16,
    ) -> (usize, Option<(Option<u32>, u32)>) {
        let (mut count, mut oldest_dead) = (0, None);
        let (mut before, mut at) = (None, head);
        for _ in 0..MAX_CHAIN_WALK {
            let Some(slot) = self.slots.get(at as usize) else {
                break;
            };
            if slot.origin == origin {
                count += 1;
                if slot.status == 0 {
                    oldest_dead = Some((before, at));
                }
            }
            before = Some(at);
            at = chain.next(slot);
            if at == NONE {
                break;
            }
        }
        (count, oldest_dead)
    }

    /// Takes slot `at` off `key`'s chain (`before` is the slot linking to it, `None` if it is
    /// the head).
    fn unlink(&mut self, chain: Chain, key: &[u8; 8], before: Option<u32>, at: u32) {
        let after = chain.next(&self.slots[at as usize]);
        match before {
            Some(b) => chain.set_next(&mut self.slots[b as usize], after),
            None => {
                let hash = self.key_hash(key);
                let slots = &self.slots;
                let table = match chain {
                    Chain::Exact => &mut self.exact,
                    Chain::Confusable => &mut self.confusable,
                };
                if let Ok(entry) =
                    table.find_entry(hash, |&j| chain.key(&slots[j as usize]) == *key)
                {
                    if after == NONE {
                        entry.remove();
                    } else {
                        *entry.into_mut() = after;
                    }
                }
            }
        }
        let slot = &mut self.slots[at as usize];
        chain.set_next(slot, NONE);
        slot.unlinked |= chain.off_bit();
    }

    /// Makes slot `n` the head of `key`'s chain; returns the previous head.
    fn push_head(&mut self, chain: Chain, key: &[u8; 8], n: u32) -> u32 {
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
        let Some(mut at) = self.head(chain, key) else {
            return;
        };
        for _ in 0..MAX_CHAIN_WALK {
            let Some(slot) = self.slots.get(at as usize) else {
                return;
            };
            // Dead slots of an edited record stay in their old chain; only live slots whose
            // key is this one count.
            if slot.status != 0 && chain.key(slot) == *key {
                visit(slot);
            }
            at = chain.next(slot);
            if at == NONE {
                return;
            }
        }
    }

    /// Live records whose exact or confusable digest matches, exact ones first; a record
    /// found exactly is not repeated as confusable. Every member holding one is named: each
    /// member has at most `MAX_SLOTS_PER_MEMBER` slots in a chain, so at most twice that many
    /// hits each.
    pub fn lookup(&self, exact: &[u8; 16], confusable: &[u8; 16]) -> Vec<Hit> {
        let mut hits: Vec<Hit> = Vec::new();
        let mut seen: HashSet<(u16, [u8; 16])> = HashSet::new();
        let mut take = |slot: &Slot, exact: bool, hits: &mut Vec<Hit>| {
            if seen.contains(&(slot.origin, slot.record_ref)) {
                return;
            }
            let (Some(origin), Some(status)) = (
                self.origins.get(usize::from(slot.origin)),
                status_of(slot.status),
            ) else {
                return;
            };
            seen.insert((slot.origin, slot.record_ref));
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

impl Chain {
    fn key(self, slot: &Slot) -> [u8; 8] {
        match self {
            Chain::Exact => slot.exact,
            Chain::Confusable => slot.confusable,
        }
    }

    fn next(self, slot: &Slot) -> u32 {
        match self {
            Chain::Exact => slot.next_exact,
            Chain::Confusable => slot.next_confusable,
        }
    }

    fn set_next(self, slot: &mut Slot, next: u32) {
        match self {
            Chain::Exact => slot.next_exact = next,
            Chain::Confusable => slot.next_confusable = next,
        }
    }

    fn off_bit(self) -> u8 {
        match self {
            Chain::Exact => OFF_EXACT,
            Chain::Confusable => OFF_CONFUSABLE,
        }
    }
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
        let hits = index.lookup(&[1; 16], &[9; 16]);
        assert_eq!(hits.len(), 2);
        assert!(hits[0].exact && hits[0].origin == a);
        assert!(!hits[1].exact && hits[1].origin == b);
        assert!(index.lookup(&[3; 16], &[4; 16]).is_empty());
    }

    #[test]
    fn latest_digest_wins_and_retraction_hides() {
        let a = BureauId([1; 32]);
        let mut index = DigestIndex::new();
        index.apply(&a, &digest(1, 9, 1, DigestStatus::Stolen));
        index.apply(&a, &digest(1, 9, 1, DigestStatus::Seized));
        let hits = index.lookup(&[1; 16], &[9; 16]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].status, DigestStatus::Seized);
        index.retract(&a, &RecordRef([1; 16]));
        assert!(index.lookup(&[1; 16], &[9; 16]).is_empty());
        assert_eq!(index.stats().live, 0);
        // Announced again after a retraction.
        index.apply(&a, &digest(1, 9, 1, DigestStatus::Stolen));
        assert_eq!(index.lookup(&[1; 16], &[9; 16]).len(), 1);
        // The serial was corrected: the old digest no longer matches.
        index.apply(&a, &digest(5, 6, 1, DigestStatus::Stolen));
        assert!(index.lookup(&[1; 16], &[9; 16]).is_empty());
        assert_eq!(index.lookup(&[5; 16], &[6; 16]).len(), 1);
        assert_eq!(index.stats().live, 1);
    }

    #[test]
    fn many_records_share_a_chain_up_to_the_bound_per_member() {
        let a = BureauId([1; 32]);
        let mut index = DigestIndex::new();
        for r in 0..200u8 {
            index.apply(&a, &digest(r, 7, r, DigestStatus::Stolen));
        }
        // Each record keeps its own exact chain; the shared confusable chain holds the
        // member's first `MAX_SLOTS_PER_MEMBER`.
        assert_eq!(index.lookup(&[0; 16], &[7; 16]).len(), MAX_SLOTS_PER_MEMBER);
        assert_eq!(
            index.lookup(&[199; 16], &[7; 16]).len(),
            MAX_SLOTS_PER_MEMBER + 1
        );
        assert_eq!(index.stats().live, 200);
    }

    #[test]
    fn a_flood_of_copies_neither_hides_the_holder_nor_takes_memory() {
        let (holder, forger) = (BureauId([1; 32]), BureauId([2; 32]));
        let mut index = DigestIndex::new();
        index.apply(&holder, &digest(1, 9, 1, DigestStatus::Stolen));
        for r in 0..10_000u32 {
            let mut copy = digest(1, 9, 0, DigestStatus::Stolen);
            copy.record_ref.0[..4].copy_from_slice(&r.to_le_bytes());
            index.apply(&forger, &copy);
        }
        let hits = index.lookup(&[1; 16], &[9; 16]);
        assert!(
            hits.iter().any(|h| h.origin == holder && h.exact),
            "{hits:?}"
        );
        assert_eq!(hits.len(), 1 + MAX_SLOTS_PER_MEMBER);
        assert_eq!(index.stats().slots, 1 + MAX_SLOTS_PER_MEMBER as u64);
    }

    #[test]
    fn a_dead_slot_makes_room_for_its_member() {
        let a = BureauId([1; 32]);
        let mut index = DigestIndex::new();
        for r in 0..MAX_SLOTS_PER_MEMBER as u8 {
            index.apply(&a, &digest(1, 9, r, DigestStatus::Stolen));
        }
        // Full: one more copy is not kept.
        index.apply(&a, &digest(1, 9, 200, DigestStatus::Stolen));
        assert_eq!(index.lookup(&[1; 16], &[9; 16]).len(), MAX_SLOTS_PER_MEMBER);
        // One record's serial is corrected: its old slot dies and leaves room.
        index.apply(&a, &digest(5, 6, 0, DigestStatus::Stolen));
        index.apply(&a, &digest(1, 9, 201, DigestStatus::Stolen));
        let hits = index.lookup(&[1; 16], &[9; 16]);
        assert_eq!(hits.len(), MAX_SLOTS_PER_MEMBER);
        assert!(hits.iter().any(|h| h.record_ref == RecordRef([201; 16])));
        // A retracted record whose slot made room meanwhile is found when announced again.
        index.retract(&a, &RecordRef([1; 16]));
        index.retract(&a, &RecordRef([2; 16]));
        index.apply(&a, &digest(1, 9, 202, DigestStatus::Stolen));
        index.apply(&a, &digest(1, 9, 1, DigestStatus::Stolen));
        let hits = index.lookup(&[1; 16], &[9; 16]);
        assert!(hits.iter().any(|h| h.record_ref == RecordRef([202; 16])));
        assert!(hits.iter().any(|h| h.record_ref == RecordRef([1; 16])));
        assert_eq!(hits.len(), MAX_SLOTS_PER_MEMBER);
        assert_eq!(index.stats().live, MAX_SLOTS_PER_MEMBER as u64 + 1);
    }
}
