//! Sync decisions without I/O, in the style of iroh-gossip's `proto`: the runtime (`core`)
//! turns network events, verified pages and timer ticks into `Input`s, calls
//! `SyncState::handle(input, now_ms, stored)`, and carries out the `Output`s it returns (pull,
//! send heads, persist, penalise, report equivocation, record a receipt). Randomness comes
//! from a caller-seeded RNG and time from the caller, so the simulator (`striae-sim`) and the
//! unit tests drive exactly the code that runs in a node.
//!
//! What it decides: which entries apply (through `Feeds`), when a gossiped entry is forwarded,
//! which ranges to pull from whom, when a member's heads prove a fork, when to exchange heads,
//! and which receipts to record. It never reads the network or the disk; the one question it
//! asks the runtime is the stored bytes of an entry at or below a head (`StoredEntries`).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use striae_protocol::{
    BureauId, EntryError, EntryId, Head, Heads, NetworkId, SignedHeads, Signer, VerifiedEntry,
    heads::HeadsError,
};

use super::feeds::{Feeds, Offer, PULL_PAGE};

mod io;

pub use io::{GossipVerdict, Input, Offence, Output, PageError};

/// A gossiped entry already held and older than this is a replay, not a late delivery
/// (gossipsub forwards a message only on first receipt and remembers it for two minutes).
pub const REPLAY_AGE_MS: u64 = 120_000;

/// Timing of the heads exchange.
#[derive(Clone, Copy, Debug)]
pub struct SyncConfig {
    /// Every connected member gets our heads this often: the guarantee behind catch-up.
    pub heads_interval_ms: u64,
    /// After new entries, our heads go to the members whose feeds advanced (their receipt)
    /// this long after the first change, so that a burst costs one statement.
    pub heads_debounce_ms: u64,
    /// An entry stamped further ahead of our clock than this is not applied yet: it is
    /// ignored (not forwarded, not held) and applies once our clock has caught up, when it is
    /// offered again. A signed time in the future would otherwise stretch a notice's five-year
    /// limit, and every member agrees on "not yet" only once time has passed.
    pub max_ahead_ms: u64,
    /// After start, this node signs nothing until a member's heads statement has told it how
    /// far its own feed reached, or until this long has passed with no member heard from. A
    /// node restored from an older copy of its store would otherwise sign a second entry for
    /// a seq its peers already hold: equivocation, and its feed frozen everywhere.
    pub own_head_grace_ms: u64,
}

/// Checks a signed heads statement and opens it. Verification is a pure function of the
/// statement's bytes, so a caller that sees the same statement many times (the simulator) may
/// remember answers; a node uses `SignedHeads::verify` as it is.
pub type HeadsVerifier =
    Arc<dyn Fn(&SignedHeads, &NetworkId) -> Result<Heads, HeadsError> + Send + Sync>;

fn penalise(out: &mut Vec<Output>, peer: BureauId, offence: Offence) {
    out.push(Output::Penalise { peer, offence });
}

/// The stored signed bytes of entries at or below a head, which the state machine compares
/// with an entry offered again (a replay, or a fork).
pub trait StoredEntries {
    /// The signed bytes of `(origin, seq)`, if stored.
    fn stored(&self, origin: &BureauId, seq: u64) -> Option<Vec<u8>>;
}

/// The sync state of one member.
pub struct SyncState {
    me: BureauId,
    signer: Signer,
    network: NetworkId,
    config: SyncConfig,
    feeds: Feeds,
    rng: StdRng,
    connected: BTreeSet<BureauId>,
    /// Each connected member's latest heads statement, as signed and as verified.
    peer_heads: BTreeMap<BureauId, (Arc<SignedHeads>, Heads)>,
    /// Per member, its latest heads statement's time and its head of our own feed: the
    /// receipts recorded so far.
    receipts: HashMap<BureauId, (u64, u64)>,
    /// Pulls in flight per origin, by first seq.
    in_flight: HashMap<BureauId, Vec<u64>>,
    next_exchange_ms: Option<u64>,
    heads_dirty_since: Option<u64>,
    advanced: BTreeSet<BureauId>,
    signed_heads: Option<Arc<SignedHeads>>,
    verify: HeadsVerifier,
    /// (member, origin) -> the seq the member claimed for the origin when a page from it
    /// brought nothing new: that claim wins no more pulls until the member claims another.
    overclaimed: HashMap<(BureauId, BureauId), u64>,
    /// When the first input was handled (the start of the own-head grace).
    started_ms: Option<u64>,
    /// Whether any member's heads statement was accepted since start.
    heard_heads: bool,
    next_expiry_ms: u64,
}

impl SyncState {
    /// The state of member `signer` given the feeds it holds; `seed` drives every random
    /// choice (the phase of the heads exchange).
    pub fn new(
        signer: Signer,
        network: NetworkId,
        config: SyncConfig,
        feeds: Feeds,
        seed: u64,
    ) -> Self {
        SyncState {
            me: signer.bureau(),
            signer,
            network,
            config,
            feeds,
            rng: StdRng::seed_from_u64(seed),
            connected: BTreeSet::new(),
            peer_heads: BTreeMap::new(),
            receipts: HashMap::new(),
            in_flight: HashMap::new(),
            next_exchange_ms: None,
            heads_dirty_since: None,
            advanced: BTreeSet::new(),
            signed_heads: None,
            verify: Arc::new(|signed: &SignedHeads, network: &NetworkId| signed.verify(network)),
            overclaimed: HashMap::new(),
            started_ms: None,
            heard_heads: false,
            next_expiry_ms: 0,
        }
    }

    /// Replaces how heads statements are verified (see `HeadsVerifier`).
    pub fn set_heads_verifier(&mut self, verify: HeadsVerifier) {
        self.verify = verify;
    }

    /// The feeds as held (heads, frozen origins, entries waiting for gaps).
    pub fn feeds(&self) -> &Feeds {
        &self.feeds
    }

    /// Where this node's next own entry goes: `(seq, prev)` of its current head, or `None`
    /// when its own feed is frozen.
    pub fn own_head(&self) -> Option<(u64, EntryId)> {
        (!self.feeds.is_frozen(&self.me)).then(|| self.feeds.head(&self.me))
    }

    /// Whether this node may sign its next own entry now: once it knows how far its own feed
    /// reached (see `SyncConfig::own_head_grace_ms`) and no member holds more of it than this
    /// node does (those entries are pulled back first). A member whose page of our feed came
    /// back empty does not hold what it claimed and does not count.
    pub fn may_sign(&self, now_ms: u64) -> bool {
        let started = self.started_ms.unwrap_or(now_ms);
        let grace_over = now_ms.saturating_sub(started) >= self.config.own_head_grace_ms;
        if !self.heard_heads && !grace_over {
            return false;
        }
        let own_seq = self.feeds.head_seq(&self.me);
        !self.peer_heads.iter().any(|(peer, (_, heads))| {
            let claim = heads.seq_of(&self.me);
            claim > own_seq && self.overclaimed.get(&(*peer, self.me)) != Some(&claim)
        })
    }

    /// When the next periodic heads exchange is due (ms since the epoch), once ticking began.
    pub fn next_exchange_ms(&self) -> Option<u64> {
        self.next_exchange_ms
    }

    /// Members connected now.
    pub fn connected(&self) -> &BTreeSet<BureauId> {
        &self.connected
    }

    /// This node's signed heads; signed once per change, not once per peer.
    pub fn own_heads(&mut self, now_ms: u64) -> Result<Arc<SignedHeads>, HeadsError> {
        if let Some(cached) = &self.signed_heads {
            return Ok(cached.clone());
        }
        let heads = Heads {
            member: self.me,
            issued_at_ms: now_ms,
            heads: self
                .feeds
                .heads()
                .into_iter()
                .filter(|h| h.1 > 0)
                .map(|(origin, seq, id)| Head { origin, seq, id })
                .collect(),
        };
        let signed = Arc::new(heads.sign(&self.signer, &self.network)?);
        self.signed_heads = Some(signed.clone());
        Ok(signed)
    }

    /// Handles one input; the outputs are to be carried out in order.
    pub fn handle(&mut self, input: Input, now_ms: u64, stored: &dyn StoredEntries) -> Vec<Output> {
        let mut out = Vec::new();
        self.started_ms.get_or_insert(now_ms);
        match input {
            Input::Connected(peer) => {
                self.connected.insert(peer);
                out.push(Output::SendHeads(peer));
            }
            Input::Disconnected(peer) => {
                self.connected.remove(&peer);
                self.peer_heads.remove(&peer);
                self.overclaimed.retain(|(member, _), _| *member != peer);
            }
            Input::Heads { from, signed } => self.on_heads(from, signed, &mut out),
            Input::Gossip { from, entry } => self.on_gossip(from, entry, now_ms, stored, &mut out),
            Input::Accepted { from, entry } => {
                self.on_accepted(from, entry, now_ms, stored, &mut out)
            }
            Input::Own(entry) => {
                if let Offer::Apply(run) = self.feeds.offer(entry, now_ms) {
                    self.persist(run, now_ms, &mut out);
                }
            }
            Input::PageArrived { origin, .. } => self.pull_more(origin, &mut out),
            Input::PullFailed { origin, from_seq } => self.land(origin, from_seq),
            Input::PageVerified {
                from,
                origin,
                from_seq,
                results,
            } => self.on_page(from, origin, from_seq, results, now_ms, stored, &mut out),
            Input::Tick => self.on_tick(now_ms, &mut out),
        }
        out
    }

    // ---- timers ----

    fn on_tick(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        if now_ms >= self.next_expiry_ms {
            self.next_expiry_ms = now_ms + 1_000;
            self.feeds.expire_pending(now_ms);
        }
        let interval = self.config.heads_interval_ms.max(1);
        // The first exchange comes at a random phase, so that members started together do
        // not all exchange heads (and verify each other's) in the same instant every interval.
        let next = *self
            .next_exchange_ms
            .get_or_insert_with(|| now_ms + self.rng.gen_range(0..interval));
        if now_ms >= next {
            self.next_exchange_ms = Some(now_ms + interval);
            self.heads_dirty_since = None;
            self.advanced.clear();
            out.extend(self.connected.iter().map(|p| Output::SendHeads(*p)));
        } else if self
            .heads_dirty_since
            .is_some_and(|t| now_ms.saturating_sub(t) >= self.config.heads_debounce_ms)
        {
            self.heads_dirty_since = None;
            self.send_receipts(out);
        }
    }

    /// After new entries: our heads go to the members whose feeds advanced, as their receipt.
    /// Only those: sending every change to every member would cost N² messages per notice,
    /// and gossip already carries the entries themselves.
    fn send_receipts(&mut self, out: &mut Vec<Output>) {
        let advanced = std::mem::take(&mut self.advanced);
        for origin in advanced {
            if origin != self.me && self.connected.contains(&origin) {
                out.push(Output::SendHeads(origin));
            }
        }
    }

    // ---- applying ----

    fn persist(&mut self, run: Vec<VerifiedEntry>, now_ms: u64, out: &mut Vec<Output>) {
        let Some(first) = run.first() else { return };
        self.advanced.insert(first.entry.origin);
        self.heads_dirty_since.get_or_insert(now_ms);
        self.signed_heads = None;
        out.push(Output::Persist(run));
    }

    fn equivocation(
        &mut self,
        origin: BureauId,
        seq: u64,
        first: Vec<u8>,
        second: Vec<u8>,
        out: &mut Vec<Output>,
    ) {
        self.feeds.freeze(origin);
        self.in_flight.remove(&origin);
        out.push(Output::Equivocation {
            origin,
            seq,
            first,
            second,
        });
    }

    // ---- gossip ----

    fn on_gossip(
        &mut self,
        from: BureauId,
        entry: Result<VerifiedEntry, EntryError>,
        now_ms: u64,
        stored: &dyn StoredEntries,
        out: &mut Vec<Output>,
    ) {
        let entry = match entry {
            Ok(e) => e,
            Err(_) => {
                out.push(Output::Verdict(GossipVerdict::Reject));
                penalise(out, from, Offence::InvalidEntry);
                return;
            }
        };
        if self.ahead_of_time(&entry, now_ms) {
            // Not the sender's fault (its clock, or the origin's, may be off): no penalty.
            out.push(Output::Verdict(GossipVerdict::Ignore));
            return;
        }
        let (origin, seq) = (entry.entry.origin, entry.entry.seq);
        let mut rest = Vec::new();
        let verdict = match self.feeds.offer(entry, now_ms) {
            Offer::Apply(run) => {
                // Forwarding first: the entry is verified and in sequence, and storing it
                // should not add to every hop's latency.
                self.persist(run, now_ms, &mut rest);
                GossipVerdict::Accept
            }
            Offer::Held => {
                // A gap: ask the sender for what lies before. Only applied entries are
                // forwarded: an entry that may never apply (its gap may never fill) must not
                // cost every member memory.
                self.pull_from(from, origin, seq.saturating_sub(1), &mut rest);
                GossipVerdict::Ignore
            }
            Offer::Duplicate | Offer::Frozen | Offer::Overloaded | Offer::OverQuota => {
                GossipVerdict::Ignore
            }
            Offer::AtOrBelowHead(entry) => {
                self.on_old_entry(from, entry, now_ms, stored, &mut rest)
            }
            Offer::Equivocation { seq, first, second } => {
                // The origin signed both; the member that relayed one did nothing wrong, so
                // gossipsub must not lower its score (the origin is frozen instead).
                self.equivocation(origin, seq, first, second, &mut rest);
                GossipVerdict::Ignore
            }
            Offer::ChainBroken => {
                penalise(&mut rest, from, Offence::BrokenChain);
                GossipVerdict::Reject
            }
            Offer::NotMember => {
                penalise(&mut rest, from, Offence::NotMember);
                GossipVerdict::Reject
            }
        };
        out.push(Output::Verdict(verdict));
        out.append(&mut rest);
    }

    /// A gossiped entry the fast path verified and forwarded: it applies unless the state
    /// moved on meanwhile (the same entry from another path, or a fork).
    fn on_accepted(
        &mut self,
        from: BureauId,
        entry: VerifiedEntry,
        now_ms: u64,
        stored: &dyn StoredEntries,
        out: &mut Vec<Output>,
    ) {
        if self.ahead_of_time(&entry, now_ms) {
            return;
        }
        let (origin, seq) = (entry.entry.origin, entry.entry.seq);
        match self.feeds.offer(entry, now_ms) {
            Offer::Apply(run) => self.persist(run, now_ms, out),
            Offer::Held => self.pull_from(from, origin, seq.saturating_sub(1), out),
            Offer::AtOrBelowHead(entry) => {
                let _ = self.on_old_entry(from, entry, now_ms, stored, out);
            }
            Offer::Equivocation { seq, first, second } => {
                self.equivocation(origin, seq, first, second, out)
            }
            Offer::Duplicate
            | Offer::Frozen
            | Offer::Overloaded
            | Offer::OverQuota
            | Offer::ChainBroken
            | Offer::NotMember => {}
        }
    }

    /// An entry at or below the head: the same one again (late or replayed) or a fork.
    fn on_old_entry(
        &mut self,
        from: BureauId,
        entry: VerifiedEntry,
        now_ms: u64,
        stored: &dyn StoredEntries,
        out: &mut Vec<Output>,
    ) -> GossipVerdict {
        let (origin, seq) = (entry.entry.origin, entry.entry.seq);
        let Some(held) = stored.stored(&origin, seq) else {
            return GossipVerdict::Ignore;
        };
        if held != entry.wire {
            // The origin's fault, not the relayer's (see `on_gossip`).
            self.equivocation(origin, seq, held, entry.wire, out);
            return GossipVerdict::Ignore;
        }
        if now_ms.saturating_sub(entry.entry.timestamp_ms) > REPLAY_AGE_MS {
            penalise(out, from, Offence::Replay);
            return GossipVerdict::Reject;
        }
        GossipVerdict::Ignore
    }

    /// Whether `entry` is stamped too far ahead of `now_ms` to apply yet.
    fn ahead_of_time(&self, entry: &VerifiedEntry, now_ms: u64) -> bool {
        entry.entry.timestamp_ms > now_ms.saturating_add(self.config.max_ahead_ms)
    }

    // ---- heads ----

    fn on_heads(&mut self, from: BureauId, signed: Arc<SignedHeads>, out: &mut Vec<Output>) {
        // The same statement again (nothing changed at the peer since): already verified and
        // its receipts recorded; only the pull check below is repeated, as the retry of any
        // pull that failed. The statement is taken out while it is read (no copy of it).
        let heads = match self.peer_heads.remove(&from) {
            Some((known, heads)) if Arc::ptr_eq(&known, &signed) || known == signed => heads,
            previous => match self.verify_heads(from, &signed, out) {
                Some(heads) => heads,
                None => {
                    // A bad statement does not erase the last good one.
                    if let Some(previous) = previous {
                        self.peer_heads.insert(from, previous);
                    }
                    return;
                }
            },
        };
        self.heard_heads = true;
        for head in &heads.heads {
            let (seq, id) = self.feeds.head(&head.origin);
            if head.seq == seq {
                self.check_fork(from, head, id, out);
            } else if head.seq > seq && self.plausible(from, &heads, head) {
                self.overclaimed.remove(&(from, head.origin));
                self.pull_from(from, head.origin, head.seq, out);
            }
        }
        if self.connected.contains(&from) {
            self.peer_heads.insert(from, (signed, heads));
        }
    }

    /// Whether `from`'s claim `head` may win a pull: not a claim that already brought an
    /// empty page, and not above what the origin itself said later. A member that claims
    /// `u64::MAX` of every feed would otherwise be asked first for everything, forever.
    fn plausible(&self, from: BureauId, heads: &Heads, head: &Head) -> bool {
        if self.overclaimed.get(&(from, head.origin)) == Some(&head.seq) {
            return false;
        }
        match self.peer_heads.get(&head.origin) {
            Some((_, own)) if head.origin != from && own.issued_at_ms >= heads.issued_at_ms => {
                head.seq <= own.seq_of(&head.origin)
            }
            _ => true,
        }
    }

    /// Verifies a member's new heads statement and records the receipts it carries.
    fn verify_heads(
        &mut self,
        from: BureauId,
        signed: &SignedHeads,
        out: &mut Vec<Output>,
    ) -> Option<Heads> {
        let heads = match (self.verify)(signed, &self.network) {
            Ok(h) => h,
            Err(_) => {
                penalise(out, from, Offence::InvalidHeads);
                return None;
            }
        };
        if heads.member != from {
            penalise(out, from, Offence::ForeignHeads);
            return None;
        }
        self.record_receipts(&heads, out);
        Some(heads)
    }

    /// Notes when a member's signed heads first reached each new entry of our own feed.
    /// Receipts travel back to the issuer only; recording every member's progress on every
    /// origin would add members × origins rows to every node's store at each heads exchange.
    ///
    /// Only what we hold counts: a statement of more of our feed than we have (a lie, or
    /// entries we lost) or of another entry at our head (a fork) records nothing.
    fn record_receipts(&mut self, heads: &Heads, out: &mut Vec<Output>) {
        let (own_seq, own_id) = self.feeds.head(&self.me);
        let seq = match heads.heads.iter().find(|h| h.origin == self.me) {
            None => 0,
            Some(h) if h.seq > own_seq || (h.seq == own_seq && h.id != own_id) => return,
            Some(h) => h.seq,
        };
        let (last_at, last_seq) = self.receipts.get(&heads.member).copied().unwrap_or((0, 0));
        if last_at >= heads.issued_at_ms {
            return;
        }
        if seq > last_seq {
            out.push(Output::Receipt {
                member: heads.member,
                seq,
                at_ms: heads.issued_at_ms,
            });
        }
        self.receipts
            .insert(heads.member, (heads.issued_at_ms, seq.max(last_seq)));
    }

    /// A member whose head for an origin names a different entry than ours at the same seq
    /// has seen a fork: fetch its entry, which either proves equivocation or is refused as
    /// forged. Only equal heads are compared, so no storage is read for the many statements
    /// that arrive.
    fn check_fork(&mut self, from: BureauId, head: &Head, ours: EntryId, out: &mut Vec<Output>) {
        if head.seq == 0 || head.id == ours || self.feeds.is_frozen(&head.origin) {
            return;
        }
        out.push(Output::Pull {
            peer: from,
            origin: head.origin,
            from_seq: head.seq,
            limit: 1,
        });
    }

    // ---- pulls ----

    fn pull_from(
        &mut self,
        peer: BureauId,
        origin: BureauId,
        their_seq: u64,
        out: &mut Vec<Output>,
    ) {
        let in_flight = self.in_flight.entry(origin).or_default();
        for (from, to) in self.feeds.plan_pulls(&origin, their_seq, in_flight) {
            let limit = u32::try_from(to - from + 1).unwrap_or(PULL_PAGE as u32);
            in_flight.push(from);
            out.push(Output::Pull {
                peer,
                origin,
                from_seq: from,
                limit,
            });
        }
    }

    /// After a page, keeps pulling `origin` from the connected member that holds the most of
    /// it.
    fn pull_more(&mut self, origin: BureauId, out: &mut Vec<Output>) {
        let best = self
            .peer_heads
            .iter()
            .filter(|(p, _)| self.connected.contains(p))
            .filter_map(|(p, (_, heads))| {
                let seq = heads.seq_of(&origin);
                let head = Head {
                    origin,
                    seq,
                    id: EntryId::GENESIS,
                };
                self.plausible(*p, heads, &head).then_some((*p, seq))
            })
            .max_by_key(|(_, seq)| *seq);
        if let Some((peer, seq)) = best
            && seq > self.feeds.head_seq(&origin)
        {
            self.pull_from(peer, origin, seq, out);
        }
    }

    fn note_overclaim(&mut self, from: BureauId, origin: BureauId) {
        let claim = self
            .peer_heads
            .get(&from)
            .map_or(0, |(_, heads)| heads.seq_of(&origin));
        if claim > self.feeds.head_seq(&origin) {
            self.overclaimed.insert((from, origin), claim);
        }
    }

    /// A pull is done with: its range no longer counts as in flight.
    fn land(&mut self, origin: BureauId, from: u64) {
        if let Some(list) = self.in_flight.get_mut(&origin) {
            list.retain(|f| *f != from);
            if list.is_empty() {
                self.in_flight.remove(&origin);
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one input's fields, handed on as they came
    fn on_page(
        &mut self,
        from: BureauId,
        origin: BureauId,
        from_seq: u64,
        results: Result<Vec<Result<VerifiedEntry, EntryError>>, PageError>,
        now_ms: u64,
        stored: &dyn StoredEntries,
        out: &mut Vec<Output>,
    ) {
        self.land(origin, from_seq);
        let results = match results {
            Ok(results) => results,
            Err(_) => {
                penalise(out, from, Offence::InvalidPage);
                return;
            }
        };
        let mut run = Vec::new();
        // A page that overtook the one before it: it starts where we asked and is kept for
        // the gap (or dropped for lack of room) instead of applied. Honest, and news.
        let mut overtook = false;
        for result in results {
            let Ok(entry) = result else {
                penalise(out, from, Offence::InvalidEntry);
                break;
            };
            if entry.entry.origin != origin {
                penalise(out, from, Offence::InvalidPage);
                break;
            }
            if self.ahead_of_time(&entry, now_ms) {
                // The rest waits until our clock catches up; the next exchange pulls it again.
                break;
            }
            let seq = entry.entry.seq;
            match self.feeds.offer(entry, now_ms) {
                Offer::Apply(applied) => run.extend(applied),
                Offer::AtOrBelowHead(entry) => {
                    if let Some(held) = stored.stored(&origin, seq)
                        && held != entry.wire
                    {
                        self.equivocation(origin, seq, held, entry.wire, out);
                        break;
                    }
                }
                Offer::Equivocation { seq, first, second } => {
                    self.equivocation(origin, seq, first, second, out);
                    break;
                }
                Offer::ChainBroken => {
                    penalise(out, from, Offence::BrokenChain);
                    break;
                }
                Offer::NotMember => {
                    penalise(out, from, Offence::NotMember);
                    break;
                }
                Offer::OverQuota => break,
                Offer::Held | Offer::Overloaded => overtook |= seq == from_seq,
                Offer::Duplicate | Offer::Frozen => {}
            }
        }
        // A page that brought nothing new (the peer's heads were stale, or it is lying) is
        // not followed up at once; the next heads exchange tries again, and the claim that
        // asked for it wins no more pulls until the member claims something else. A page
        // that overtook the one before it is not such a page; one that skipped the seq we
        // asked for (withholding it) is.
        let progressed = !run.is_empty();
        if !progressed && !overtook {
            self.note_overclaim(from, origin);
        }
        self.persist(run, now_ms, out);
        if progressed {
            self.pull_more(origin, out);
        }
    }
}

#[cfg(test)]
mod tests;
