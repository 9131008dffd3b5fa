//! The in-memory screening index: every ballistic digest this node holds (its own and every
//! member's), grouped by evidence kind and caliber class, each group a flat packed
//! [`DigestIndex`] scanned exhaustively. A side table maps index ids to the holder and its
//! exhibit reference. Retractions mask an entry at once and compact its group in batches.

use std::{
    collections::HashMap,
    sync::{Mutex, RwLock, RwLockReadGuard},
};

use striae_ballistics_lib::signature::{Digest, DigestIndex};
use striae_firearms_lib::ReferenceTable;
use striae_protocol::{
    BureauId,
    ballistic::{EvidenceKind, ExhibitRef},
};

/// Caliber class of scans whose caliber is not in the reference table (or ambiguous): they
/// are screened against every class, since excluding them could hide a match.
pub const UNKNOWN_CLASS: &str = "unknown";

/// Masked rows a group tolerates before it is compacted (and at least an eighth of it).
const COMPACT_AFTER: usize = 64;

/// Whether scans of caliber classes `a` and `b` can come from one firearm: the same class,
/// cartridges the reference table declares related, or either class unknown.
pub fn classes_compatible(a: &str, b: &str) -> bool {
    let table = ReferenceTable::builtin();
    a == b
        || a == UNKNOWN_CLASS
        || b == UNKNOWN_CLASS
        || table.calibres_related(a, b)
        || table.calibres_related(b, a)
}

/// A digest held: whose exhibit it is and how it is classed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The holder.
    pub origin: BureauId,
    /// The exhibit at the holder.
    pub exhibit_ref: ExhibitRef,
    /// Cartridge case or bullet.
    pub kind: EvidenceKind,
    /// Caliber class.
    pub caliber_class: String,
}

#[derive(Default)]
struct Group {
    index: DigestIndex,
    live: usize,
    dead: usize,
}

/// Digests grouped by (kind, caliber class).
#[derive(Default)]
pub struct ScreeningIndex {
    groups: HashMap<(EvidenceKind, String), Group>,
    held: HashMap<u64, Held>,
    ids: HashMap<(BureauId, ExhibitRef), u64>,
    next: u64,
}

impl ScreeningIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Digests held (masked ones excluded).
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Bytes of packed digest data (what a search over every class reads).
    pub fn scanned_bytes(&self) -> usize {
        self.groups.values().map(|g| g.index.scanned_bytes()).sum()
    }

    /// Adds a digest; a digest already held for the same exhibit is replaced.
    pub fn insert(&mut self, held: Held, digest: &Digest) {
        self.remove(&held.origin, &held.exhibit_ref);
        let id = self.next;
        self.next += 1;
        let group = self
            .groups
            .entry((held.kind, held.caliber_class.clone()))
            .or_default();
        group.index.push(id, digest);
        group.live += 1;
        self.ids.insert((held.origin, held.exhibit_ref), id);
        self.held.insert(id, held);
    }

    /// The member holding `exhibit_ref`, if a digest of it is held.
    pub fn holder_of(&self, exhibit_ref: &ExhibitRef) -> Option<BureauId> {
        self.held
            .values()
            .find(|h| h.exhibit_ref == *exhibit_ref)
            .map(|h| h.origin)
    }

    /// Removes the digest of an exhibit; false if it was not held.
    pub fn remove(&mut self, origin: &BureauId, exhibit_ref: &ExhibitRef) -> bool {
        let Some(id) = self.ids.remove(&(*origin, *exhibit_ref)) else {
            return false;
        };
        let Some(held) = self.held.remove(&id) else {
            return false;
        };
        if let Some(group) = self.groups.get_mut(&(held.kind, held.caliber_class)) {
            group.live = group.live.saturating_sub(1);
            group.dead += 1;
            if group.dead >= COMPACT_AFTER && group.dead * 8 >= group.live {
                let held = &self.held;
                group.index.retain(|id| held.contains_key(&id));
                group.dead = 0;
            }
        }
        true
    }

    /// The `k` best-scoring digests of kind `kind` in classes compatible with `class`, best
    /// first, leaving out `exclude` (the probe itself when it is held).
    pub fn search(
        &self,
        probe: &Digest,
        kind: EvidenceKind,
        class: &str,
        exclude: Option<(BureauId, ExhibitRef)>,
        k: usize,
    ) -> Vec<(Held, f32)> {
        let mut out: Vec<(Held, f32)> = Vec::new();
        for ((group_kind, group_class), group) in &self.groups {
            if *group_kind != kind || group.live == 0 || !classes_compatible(class, group_class) {
                continue;
            }
            // Masked rows and the probe may take places in the group's top list: ask for a
            // few more, and for more again in the rare case they crowded the list out.
            let mut want = k + usize::from(exclude.is_some()) + group.dead.min(16);
            loop {
                let raw = group.index.search(probe, want);
                let exhausted = raw.len() < want;
                let kept: Vec<(Held, f32)> = raw
                    .into_iter()
                    .filter_map(|(id, score)| {
                        let held = self.held.get(&id)?;
                        (exclude != Some((held.origin, held.exhibit_ref)))
                            .then(|| (held.clone(), score))
                    })
                    .collect();
                if kept.len() >= k || exhausted {
                    out.extend(kept);
                    break;
                }
                want = want.saturating_mul(4);
            }
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.truncate(k);
        out
    }
}

/// A change to an index.
pub enum IndexOp {
    /// Hold (or replace) a digest.
    Insert(Held, Digest),
    /// Drop an exhibit's digest.
    Remove(BureauId, ExhibitRef),
}

/// An index that writers never wait on: changes queue up and are applied by whoever next gets
/// the write lock, so the replication core does not stall behind a long search.
#[derive(Default)]
pub struct Shelf {
    index: RwLock<ScreeningIndex>,
    pending: Mutex<Vec<IndexOp>>,
}

impl Shelf {
    /// Queues a change and applies the queue if the index is free.
    pub fn apply(&self, op: IndexOp) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.push(op);
        }
        if let Ok(mut index) = self.index.try_write() {
            self.drain_into(&mut index);
        }
    }

    fn drain_into(&self, index: &mut ScreeningIndex) {
        let ops = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        for op in ops {
            match op {
                IndexOp::Insert(held, digest) => index.insert(held, &digest),
                IndexOp::Remove(origin, exhibit_ref) => {
                    index.remove(&origin, &exhibit_ref);
                }
            }
        }
    }

    /// Digests indexed now, unless a search or an update holds the index (for metrics,
    /// which must not wait).
    pub fn len_now(&self) -> Option<usize> {
        self.index.try_read().ok().map(|index| index.len())
    }

    /// The index with every queued change applied (may wait for a running search; call it
    /// off the async runtime).
    pub fn read(&self) -> RwLockReadGuard<'_, ScreeningIndex> {
        let has_pending = self.pending.lock().map(|p| !p.is_empty()).unwrap_or(false);
        if has_pending {
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            self.drain_into(&mut index);
        }
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use striae_ballistics_lib::signature::random_digest;
    use striae_protocol::{Signer, firearm::RecordRef};

    use super::*;

    fn held(origin: BureauId, n: u8, class: &str) -> Held {
        Held {
            origin,
            exhibit_ref: RecordRef([n; 16]),
            kind: EvidenceKind::CartridgeCase,
            caliber_class: class.to_string(),
        }
    }

    #[test]
    fn search_filters_classes_excludes_the_probe_and_forgets_retractions() {
        let a = Signer::generate().bureau();
        let mut index = ScreeningIndex::new();
        index.insert(held(a, 1, "cal:9x19"), &random_digest(1));
        index.insert(held(a, 2, "cal:45acp"), &random_digest(1));
        index.insert(held(a, 3, UNKNOWN_CLASS), &random_digest(1));
        index.insert(held(a, 4, "cal:9x19"), &random_digest(4));
        let probe = random_digest(1);
        let hits = index.search(&probe, EvidenceKind::CartridgeCase, "cal:9x19", None, 10);
        let refs: Vec<u8> = hits.iter().map(|h| h.0.exhibit_ref.0[0]).collect();
        assert_eq!(refs.len(), 3, "{refs:?}");
        assert!(!refs.contains(&2), "another caliber class was screened");
        assert!(
            index
                .search(&probe, EvidenceKind::Bullet, "cal:9x19", None, 10)
                .is_empty()
        );
        let without_self = index.search(
            &probe,
            EvidenceKind::CartridgeCase,
            "cal:9x19",
            Some((a, RecordRef([1; 16]))),
            10,
        );
        assert!(without_self.iter().all(|h| h.0.exhibit_ref.0[0] != 1));
        assert!(index.remove(&a, &RecordRef([1; 16])));
        assert!(!index.remove(&a, &RecordRef([1; 16])));
        let after = index.search(&probe, EvidenceKind::CartridgeCase, "cal:9x19", None, 10);
        assert!(after.iter().all(|h| h.0.exhibit_ref.0[0] != 1));
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn masked_rows_crowding_the_top_do_not_hide_the_rest() {
        let a = Signer::generate().bureau();
        let mut index = ScreeningIndex::new();
        for n in 0..600u16 {
            let mut r = [0u8; 16];
            r[..2].copy_from_slice(&n.to_le_bytes());
            // The first 30 are the probe itself, then unrelated digests.
            let seed = if n < 30 { 1 } else { 1000 + u64::from(n) };
            index.insert(
                Held {
                    origin: a,
                    exhibit_ref: RecordRef(r),
                    kind: EvidenceKind::CartridgeCase,
                    caliber_class: "cal:9x19".into(),
                },
                &random_digest(seed),
            );
        }
        for n in 0..30u16 {
            let mut r = [0u8; 16];
            r[..2].copy_from_slice(&n.to_le_bytes());
            assert!(index.remove(&a, &RecordRef(r)));
        }
        let hits = index.search(
            &random_digest(1),
            EvidenceKind::CartridgeCase,
            "cal:9x19",
            None,
            5,
        );
        assert_eq!(hits.len(), 5);
        assert!(
            hits.iter()
                .all(|h| u16::from_le_bytes([h.0.exhibit_ref.0[0], h.0.exhibit_ref.0[1]]) >= 30)
        );
    }

    #[test]
    fn many_retractions_compact_and_keep_the_rest() {
        let a = Signer::generate().bureau();
        let mut index = ScreeningIndex::new();
        for n in 0..200u8 {
            index.insert(held(a, n, "cal:9x19"), &random_digest(u64::from(n)));
        }
        for n in 0..150u8 {
            index.remove(&a, &RecordRef([n; 16]));
        }
        assert_eq!(index.len(), 50);
        assert!(index.scanned_bytes() < 200 * striae_ballistics_lib::signature::DIGEST_DIMS);
        let hit = index.search(
            &random_digest(180),
            EvidenceKind::CartridgeCase,
            "cal:9x19",
            None,
            1,
        );
        assert_eq!(hit[0].0.exhibit_ref, RecordRef([180; 16]));
    }
}
