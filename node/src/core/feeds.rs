//! Per-feed chain state without I/O: which entries apply now and in what order, what waits for
//! a gap to fill, what proves equivocation, and what to pull next. The sync state machine
//! (`sync.rs`) offers it verified entries and hands what applies to the runtime to persist.

use std::collections::BTreeMap;

// Keys are roster members' ids, not chosen by a peer, so the fast hasher is safe here; the
// core looks heads up for every origin of every heads statement it receives.
use hashbrown::{HashMap, HashSet};

use striae_protocol::{BureauId, EntryId, VerifiedEntry};

/// Most entries held ahead of a gap for one origin.
pub const MAX_PENDING_PER_ORIGIN: usize = 8_192;
/// Most entries held ahead of gaps in all.
pub const MAX_PENDING_TOTAL: usize = 65_536;
/// Most bytes held ahead of a gap for one origin. An entry may be up to 1 MiB, so the count
/// alone would let one member park gigabytes here; honest gaps are a few pages of small
/// entries.
pub const MAX_PENDING_BYTES_PER_ORIGIN: usize = 16 << 20;
/// Most bytes held ahead of gaps in all.
pub const MAX_PENDING_BYTES_TOTAL: usize = 128 << 20;
/// A held entry whose gap has not filled in this long is dropped: it is pulled again with
/// the rest of its feed once the gap is pulled.
pub const PENDING_EXPIRY_MS: u64 = 300_000;
/// Entries asked for in one pull.
pub const PULL_PAGE: u64 = 1_024;
/// Pulls in flight for one origin at once.
pub const PULL_WINDOW: usize = 8;

/// What became of an offered entry.
#[derive(Debug)]
pub enum Offer {
    /// These entries now apply, in order: the offered one and any held ones it unblocked.
    Apply(Vec<VerifiedEntry>),
    /// Held until the entries before it arrive.
    Held,
    /// Already held (here or in the pending buffer), same content.
    Duplicate,
    /// At or below the head: the caller compares it with the stored entry of that seq.
    AtOrBelowHead(VerifiedEntry),
    /// Two different signed entries for one `(origin, seq)`: both kept as proof; the origin is
    /// frozen and neither is applied.
    Equivocation {
        /// The seq both claim.
        seq: u64,
        /// The first one seen.
        first: Vec<u8>,
        /// The second one.
        second: Vec<u8>,
    },
    /// Right position, but its `prev` is not the id of the entry before it.
    ChainBroken,
    /// The origin is not on the roster.
    NotMember,
    /// The origin was caught equivocating; nothing more from it applies.
    Frozen,
    /// The pending buffer is full; the entry will be pulled again later.
    Overloaded,
    /// The origin's feed reached the bytes this node stores for one member
    /// (`Feeds::set_quota`): nothing more of it applies until an operator raises the quota.
    OverQuota,
}

/// One origin's entries waiting for a gap to fill, with when each arrived.
#[derive(Debug, Default)]
struct Held {
    entries: BTreeMap<u64, (VerifiedEntry, u64)>,
    bytes: usize,
}

/// What an entry held in memory costs: its signed bytes, its decoded copy (of about the same
/// size) and the map's bookkeeping.
fn held_cost(entry: &VerifiedEntry) -> usize {
    2 * entry.wire.len() + 256
}

/// Per-origin chain state and the entries waiting for gaps to fill.
#[derive(Debug, Default)]
pub struct Feeds {
    members: HashSet<BureauId>,
    heads: HashMap<BureauId, (u64, EntryId)>,
    pending: HashMap<BureauId, Held>,
    pending_total: usize,
    pending_bytes: usize,
    frozen: HashSet<BureauId>,
    /// Bytes of each origin's feed stored (as applied).
    stored_bytes: HashMap<BureauId, u64>,
    /// Most bytes stored of one member's feed (this node's own is not limited).
    quota: u64,
    me: Option<BureauId>,
}

impl Feeds {
    /// A tracker for `members`, starting from the heads already stored.
    pub fn new(
        members: impl IntoIterator<Item = BureauId>,
        heads: impl IntoIterator<Item = (BureauId, u64, EntryId)>,
    ) -> Self {
        Feeds {
            members: members.into_iter().collect(),
            heads: heads.into_iter().map(|(o, s, id)| (o, (s, id))).collect(),
            quota: u64::MAX,
            ..Default::default()
        }
    }

    /// Limits the bytes stored of any member's feed but `me`'s to `quota`, given what is
    /// stored already. Everything a member can make every other node hold (the firearm index,
    /// the ballistic shelf, notices) comes from its feed, so this bounds them all.
    pub fn set_quota(
        &mut self,
        me: BureauId,
        quota: u64,
        stored: impl IntoIterator<Item = (BureauId, u64)>,
    ) {
        self.me = Some(me);
        self.quota = quota;
        self.stored_bytes = stored.into_iter().collect();
    }

    /// Bytes stored of `origin`'s feed.
    pub fn stored_bytes(&self, origin: &BureauId) -> u64 {
        self.stored_bytes.get(origin).copied().unwrap_or(0)
    }

    fn over_quota(&self, entry: &VerifiedEntry) -> bool {
        let origin = entry.entry.origin;
        self.me != Some(origin) && self.stored_bytes(&origin) + entry.wire.len() as u64 > self.quota
    }

    /// Highest contiguous seq held from `origin` (0 when none).
    pub fn head_seq(&self, origin: &BureauId) -> u64 {
        self.heads.get(origin).map_or(0, |h| h.0)
    }

    /// Head seq and id of `origin`.
    pub fn head(&self, origin: &BureauId) -> (u64, EntryId) {
        self.heads
            .get(origin)
            .copied()
            .unwrap_or((0, EntryId::GENESIS))
    }

    /// All heads, sorted by origin.
    pub fn heads(&self) -> Vec<(BureauId, u64, EntryId)> {
        let mut out: Vec<_> = self
            .heads
            .iter()
            .map(|(o, (s, id))| (*o, *s, *id))
            .collect();
        out.sort_by_key(|a| a.0);
        out
    }

    /// Whether `origin` was caught equivocating.
    pub fn is_frozen(&self, origin: &BureauId) -> bool {
        self.frozen.contains(origin)
    }

    /// Stops applying anything from `origin` (after equivocation found elsewhere).
    pub fn freeze(&mut self, origin: BureauId) {
        self.drop_held(&origin);
        self.frozen.insert(origin);
    }

    fn drop_held(&mut self, origin: &BureauId) {
        if let Some(held) = self.pending.remove(origin) {
            self.pending_total -= held.entries.len();
            self.pending_bytes -= held.bytes;
        }
    }

    /// Number of entries waiting for gaps.
    pub fn pending_len(&self) -> usize {
        self.pending_total
    }

    /// Memory the entries waiting for gaps take, in bytes (as `held_cost` counts it).
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Drops held entries that arrived more than `PENDING_EXPIRY_MS` before `now_ms`.
    pub fn expire_pending(&mut self, now_ms: u64) {
        let cutoff = now_ms.saturating_sub(PENDING_EXPIRY_MS);
        for held in self.pending.values_mut() {
            let before = held.entries.len();
            let mut released = 0;
            held.entries.retain(|_, (entry, at)| {
                let keep = *at >= cutoff;
                if !keep {
                    released += held_cost(entry);
                }
                keep
            });
            held.bytes -= released;
            self.pending_bytes -= released;
            self.pending_total -= before - held.entries.len();
        }
        self.pending.retain(|_, held| !held.entries.is_empty());
    }

    /// Offers a verified entry that arrived at `now_ms`. On `Apply`, the heads move at once:
    /// the caller must persist the returned entries before anything else reads the store.
    pub fn offer(&mut self, entry: VerifiedEntry, now_ms: u64) -> Offer {
        let origin = entry.entry.origin;
        if !self.members.contains(&origin) {
            return Offer::NotMember;
        }
        if self.frozen.contains(&origin) {
            return Offer::Frozen;
        }
        let (head_seq, head_id) = self.head(&origin);
        let seq = entry.entry.seq;
        if seq <= head_seq {
            return Offer::AtOrBelowHead(entry);
        }
        if seq == head_seq + 1 {
            if entry.entry.prev != head_id {
                return Offer::ChainBroken;
            }
            if self.over_quota(&entry) {
                return Offer::OverQuota;
            }
            return Offer::Apply(self.apply_run(entry));
        }
        self.hold(entry, now_ms)
    }

    fn hold(&mut self, entry: VerifiedEntry, now_ms: u64) -> Offer {
        let origin = entry.entry.origin;
        let seq = entry.entry.seq;
        let held = self.pending.entry(origin).or_default();
        if let Some((existing, _)) = held.entries.get(&seq) {
            if existing.id == entry.id {
                return Offer::Duplicate;
            }
            let first = existing.wire.clone();
            self.freeze(origin);
            return Offer::Equivocation {
                seq,
                first,
                second: entry.wire,
            };
        }
        let cost = held_cost(&entry);
        if held.entries.len() >= MAX_PENDING_PER_ORIGIN
            || self.pending_total >= MAX_PENDING_TOTAL
            || held.bytes + cost > MAX_PENDING_BYTES_PER_ORIGIN
            || self.pending_bytes + cost > MAX_PENDING_BYTES_TOTAL
        {
            if held.entries.is_empty() {
                self.pending.remove(&origin);
            }
            return Offer::Overloaded;
        }
        held.entries.insert(seq, (entry, now_ms));
        held.bytes += cost;
        self.pending_total += 1;
        self.pending_bytes += cost;
        Offer::Held
    }

    /// Applies `first` and every held entry that follows it without a gap.
    fn apply_run(&mut self, first: VerifiedEntry) -> Vec<VerifiedEntry> {
        let origin = first.entry.origin;
        let first_bytes = first.wire.len() as u64;
        let mut head = (first.entry.seq, first.id);
        let mut run = vec![first];
        if let Some(held) = self.pending.get_mut(&origin) {
            let mut released = 0;
            // Held entries at or below the new head can never apply any more.
            while let Some((&seq, _)) = held.entries.first_key_value() {
                if seq > head.0 {
                    break;
                }
                if let Some((_, (stale, _))) = held.entries.pop_first() {
                    released += held_cost(&stale);
                }
                self.pending_total -= 1;
            }
            let mut room = self
                .quota
                .saturating_sub(self.stored_bytes.get(&origin).copied().unwrap_or(0))
                .saturating_sub(first_bytes);
            while let Some((next, _)) = held.entries.remove(&(head.0 + 1)) {
                self.pending_total -= 1;
                released += held_cost(&next);
                let bytes = next.wire.len() as u64;
                if next.entry.prev != head.1 || (self.me != Some(origin) && bytes > room) {
                    break;
                }
                room -= bytes.min(room);
                head = (next.entry.seq, next.id);
                run.push(next);
            }
            held.bytes -= released;
            self.pending_bytes -= released;
            if held.entries.is_empty() {
                self.pending.remove(&origin);
            }
        }
        self.heads.insert(origin, head);
        let bytes: u64 = run.iter().map(|e| e.wire.len() as u64).sum();
        *self.stored_bytes.entry(origin).or_default() += bytes;
        run
    }

    /// The seq ranges worth pulling from a peer that holds `origin` up to `their_seq`, given
    /// the ranges already in flight (by start seq). Each range is at most `PULL_PAGE` long.
    pub fn plan_pulls(
        &self,
        origin: &BureauId,
        their_seq: u64,
        in_flight: &[u64],
    ) -> Vec<(u64, u64)> {
        let full = self.me != Some(*origin) && self.stored_bytes(origin) >= self.quota;
        if full || self.frozen.contains(origin) || !self.members.contains(origin) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut from = self.head_seq(origin) + 1;
        let held = self.pending.get(origin);
        while from <= their_seq && in_flight.len() + out.len() < PULL_WINDOW {
            let to = (from + PULL_PAGE - 1).min(their_seq);
            let covered = held.is_some_and(|h| (from..=to).all(|s| h.entries.contains_key(&s)));
            if !in_flight.contains(&from) && !covered {
                out.push((from, to));
            }
            from = to + 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use striae_protocol::{
        Body, Entry, NetworkId, NoticeContent, NoticeKind, NoticeOp, Signer, feed::ENTRY_VERSION,
    };

    fn chain(signer: &Signer, n: u64) -> Vec<VerifiedEntry> {
        let net = NetworkId::from_name("t");
        let mut prev = EntryId::GENESIS;
        (1..=n)
            .map(|seq| {
                let e = entry(signer, seq, prev, "t")
                    .sign(signer, &net)
                    .expect("test fixture");
                prev = e.id;
                e
            })
            .collect()
    }

    fn entry(signer: &Signer, seq: u64, prev: EntryId, title: &str) -> Entry {
        Entry {
            version: ENTRY_VERSION,
            origin: signer.bureau(),
            seq,
            prev,
            timestamp_ms: 1,
            body: Body::Notice(NoticeOp::Issue(NoticeContent {
                kind: NoticeKind::Orange,
                title: title.into(),
                summary: "s".into(),
                body: String::new(),
                expires_at_ms: 2,
            })),
        }
    }

    fn applied(offer: Offer) -> Vec<u64> {
        match offer {
            Offer::Apply(v) => v.iter().map(|e| e.entry.seq).collect(),
            other => panic!("expected Apply, got {other:?}"),
        }
    }

    #[test]
    fn out_of_order_entries_wait_for_the_gap_and_then_apply_in_order() {
        let s = Signer::from_seed([1; 32]);
        let c = chain(&s, 5);
        let mut feeds = Feeds::new([s.bureau()], []);
        assert!(matches!(feeds.offer(c[2].clone(), 0), Offer::Held));
        assert!(matches!(feeds.offer(c[4].clone(), 0), Offer::Held));
        assert!(matches!(feeds.offer(c[2].clone(), 0), Offer::Duplicate));
        assert_eq!(applied(feeds.offer(c[0].clone(), 0)), vec![1]);
        assert_eq!(applied(feeds.offer(c[1].clone(), 0)), vec![2, 3]);
        assert_eq!(feeds.head_seq(&s.bureau()), 3);
        assert_eq!(applied(feeds.offer(c[3].clone(), 0)), vec![4, 5]);
        assert_eq!(feeds.pending_len(), 0);
        assert!(matches!(
            feeds.offer(c[1].clone(), 0),
            Offer::AtOrBelowHead(_)
        ));
    }

    #[test]
    fn two_entries_for_one_seq_are_equivocation_and_neither_applies() {
        let s = Signer::from_seed([2; 32]);
        let net = NetworkId::from_name("t");
        let c = chain(&s, 2);
        let fork = entry(&s, 3, c[1].id, "other")
            .sign(&s, &net)
            .expect("test fixture");
        let real = entry(&s, 3, c[1].id, "real")
            .sign(&s, &net)
            .expect("test fixture");
        let mut feeds = Feeds::new([s.bureau()], []);
        assert_eq!(applied(feeds.offer(c[0].clone(), 0)), vec![1]);
        assert!(matches!(feeds.offer(real, 0), Offer::Held));
        assert!(matches!(
            feeds.offer(fork, 0),
            Offer::Equivocation { seq: 3, .. }
        ));
        assert!(matches!(feeds.offer(c[1].clone(), 0), Offer::Frozen));
        assert_eq!(feeds.head_seq(&s.bureau()), 1);
    }

    #[test]
    fn wrong_prev_breaks_the_chain() {
        let s = Signer::from_seed([3; 32]);
        let net = NetworkId::from_name("t");
        let c = chain(&s, 1);
        let bad = entry(&s, 2, EntryId([9; 32]), "x")
            .sign(&s, &net)
            .expect("test fixture");
        let mut feeds = Feeds::new([s.bureau()], []);
        feeds.offer(c[0].clone(), 0);
        assert!(matches!(feeds.offer(bad, 0), Offer::ChainBroken));
    }

    fn big_entry(signer: &Signer, seq: u64, bytes: usize) -> VerifiedEntry {
        let net = NetworkId::from_name("t");
        let mut e = entry(signer, seq, EntryId([7; 32]), "big");
        if let Body::Notice(NoticeOp::Issue(content)) = &mut e.body {
            content.body = "x".repeat(bytes);
        }
        e.sign(signer, &net).expect("test fixture")
    }

    #[test]
    fn one_mebibyte_entries_behind_a_gap_stay_under_the_byte_cap() {
        let s = Signer::from_seed([7; 32]);
        let mut feeds = Feeds::new([s.bureau()], []);
        let one = big_entry(&s, 2, (1 << 20) - 1024);
        let mut held = 0;
        for seq in 2..2 + MAX_PENDING_PER_ORIGIN as u64 {
            let mut e = one.clone();
            e.entry.seq = seq;
            match feeds.offer(e, 0) {
                Offer::Held => held += 1,
                Offer::Overloaded => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(held > 0);
        assert!(feeds.pending_bytes() <= MAX_PENDING_BYTES_PER_ORIGIN);
        assert!(feeds.pending_len() < MAX_PENDING_PER_ORIGIN / 100);
    }

    #[test]
    fn held_entries_expire_and_their_bytes_are_released() {
        let s = Signer::from_seed([8; 32]);
        let c = chain(&s, 4);
        let mut feeds = Feeds::new([s.bureau()], []);
        assert!(matches!(feeds.offer(c[2].clone(), 1_000), Offer::Held));
        assert!(matches!(
            feeds.offer(c[3].clone(), 1_000 + PENDING_EXPIRY_MS),
            Offer::Held
        ));
        feeds.expire_pending(2_000 + PENDING_EXPIRY_MS);
        assert_eq!(feeds.pending_len(), 1);
        assert_eq!(feeds.pending_bytes(), held_cost(&c[3]));
        feeds.expire_pending(u64::MAX);
        assert_eq!((feeds.pending_len(), feeds.pending_bytes()), (0, 0));
        assert_eq!(applied(feeds.offer(c[0].clone(), 0)), vec![1]);
    }

    #[test]
    fn a_member_feed_stops_applying_at_the_quota_and_our_own_never_does() {
        let s = Signer::from_seed([9; 32]);
        let me = Signer::from_seed([10; 32]);
        let c = chain(&s, 4);
        let mine = chain(&me, 4);
        let mut feeds = Feeds::new([s.bureau(), me.bureau()], []);
        let two = (c[0].wire.len() + c[1].wire.len()) as u64;
        feeds.set_quota(me.bureau(), two, []);
        assert!(matches!(feeds.offer(c[2].clone(), 0), Offer::Held));
        assert_eq!(applied(feeds.offer(c[0].clone(), 0)), vec![1]);
        // The held third entry would go over: only the second applies.
        assert_eq!(applied(feeds.offer(c[1].clone(), 0)), vec![2]);
        assert!(matches!(feeds.offer(c[2].clone(), 0), Offer::OverQuota));
        assert_eq!(feeds.stored_bytes(&s.bureau()), two);
        for (i, e) in mine.iter().enumerate() {
            assert_eq!(applied(feeds.offer(e.clone(), 0)), vec![i as u64 + 1]);
        }
    }

    #[test]
    fn strangers_are_not_applied() {
        let s = Signer::from_seed([4; 32]);
        let c = chain(&s, 1);
        let mut feeds = Feeds::new([Signer::from_seed([5; 32]).bureau()], []);
        assert!(matches!(feeds.offer(c[0].clone(), 0), Offer::NotMember));
    }

    #[test]
    fn pulls_are_planned_in_pages_within_the_window() {
        let s = Signer::from_seed([6; 32]);
        let feeds = Feeds::new([s.bureau()], []);
        let plan = feeds.plan_pulls(&s.bureau(), 20_000, &[]);
        assert_eq!(plan.len(), PULL_WINDOW);
        assert_eq!(plan[0], (1, PULL_PAGE));
        assert_eq!(plan[1].0, PULL_PAGE + 1);
        let plan = feeds.plan_pulls(&s.bureau(), 20_000, &[1]);
        assert_eq!(plan.len(), PULL_WINDOW - 1);
        assert!(feeds.plan_pulls(&s.bureau(), 0, &[]).is_empty());
    }
}
