//! A seeded, deterministic simulator of many members over the node's own sync state machine
//! (`striae_node::core::sync::SyncState`) and its own feed store (`Store::memory`), in the
//! style of iroh-gossip's `proto::sim`. Time advances in rounds; a message sent in one round
//! is delivered in the next, in a fixed order, so a seed always gives the same run.
//!
//! Members are connected in a random graph of fixed degree; gossip goes to a small mesh of
//! neighbours, as gossipsub does; heads exchange and paged pulls run exactly as in a node.
//! Some honest members may be offline for the middle of the run and must catch up; byzantine
//! members (valid keys, bad behaviour) inflate their heads, withhold pages, replay old
//! entries, equivocate and send garbage.
//!
//! What is checked, as `violations`: an entry applied out of order or past a gap, an entry
//! stored that does not verify, an honest member's feed frozen as equivocating, and at the
//! end an honest member left without an honest member's entry.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde::Serialize;
use striae_node::{
    core::{
        feeds::Feeds,
        sync::{HeadsVerifier, Input, Output, PageError, StoredEntries, SyncConfig, SyncState},
    },
    store::Store,
};
use striae_protocol::{
    Body, BureauId, Entry, EntryError, EntryId, Head, Heads, NetworkId, NoticeContent, NoticeKind,
    NoticeOp, SignedHeads, Signer, VerifiedEntry,
    feed::{ENTRY_VERSION, UnverifiedEntry},
    sync::{MAX_PAGE_BYTES, MAX_PAGE_ENTRIES},
};

/// Simulated time per round.
pub const ROUND_MS: u64 = 100;
/// A request whose answer is withheld fails after this many rounds (the transport's timeout).
const TIMEOUT_ROUNDS: u64 = 10;
/// Distinct heads statements remembered as verified before the memo starts over.
const REMEMBERED_HEADS: usize = 2_048;
/// Simulated time at round 0 (ms since the epoch).
const EPOCH_MS: u64 = 1_800_000_000_000;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Members in all.
    pub members: usize,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Rounds to run.
    pub rounds: u64,
    /// Honest members offline from a tenth to half of the run.
    pub offline: usize,
    /// Members that misbehave.
    pub byzantine: usize,
    /// Entries each honest member publishes, in the first half of the run.
    pub entries_per_member: usize,
    /// Neighbours each member connects to.
    pub degree: usize,
    /// Neighbours each member gossips to.
    pub mesh: usize,
    /// Rounds between heads exchanges.
    pub heads_interval_rounds: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            members: 50,
            seed: 1,
            rounds: 200,
            offline: 0,
            byzantine: 0,
            entries_per_member: 1,
            degree: 8,
            mesh: 3,
            heads_interval_rounds: 50,
        }
    }
}

/// What came of a run.
#[derive(Clone, Debug, Serialize)]
pub struct SimReport {
    /// Members in all.
    pub members: usize,
    /// The seed.
    pub seed: u64,
    /// Rounds run.
    pub rounds: u64,
    /// Byzantine members.
    pub byzantine: usize,
    /// Honest members that were offline for part of the run.
    pub offline: usize,
    /// Every honest member holds every honest member's entries at the end.
    pub delivered_all: bool,
    /// Every honest member holds the same heads for every honest origin at the end.
    pub converged: bool,
    /// The most rounds from an honest entry's publication until the last honest member held
    /// it (offline members included).
    pub max_rounds_to_converge: u64,
    /// Broken invariants (must be 0).
    pub violations: u64,
    /// The broken invariants by kind: `out_of_order` (applied past a gap or off the chain),
    /// `unverified` (stored without a valid signature), `not_stored`, `honest_frozen` (an
    /// honest feed taken for equivocation), `honest_penalised`, and `left_behind` (an honest
    /// member without an honest member's entry at the end).
    pub broken: BTreeMap<&'static str, u64>,
    /// Entries published by honest members.
    pub entries: u64,
    /// Messages delivered.
    pub messages: u64,
    /// Penalties honest members gave, by offence, and equivocations they caught.
    pub penalties: BTreeMap<String, u64>,
}

/// An invariant of sync, as the simulator checks it.
#[derive(Clone, Copy, Debug)]
enum Invariant {
    OutOfOrder,
    Unverified,
    NotStored,
    HonestFrozen,
    HonestPenalised,
    LeftBehind,
}

impl Invariant {
    fn name(self) -> &'static str {
        match self {
            Invariant::OutOfOrder => "out_of_order",
            Invariant::Unverified => "unverified",
            Invariant::NotStored => "not_stored",
            Invariant::HonestFrozen => "honest_frozen",
            Invariant::HonestPenalised => "honest_penalised",
            Invariant::LeftBehind => "left_behind",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Honest,
    Byzantine,
}

enum Msg {
    Gossip(Vec<u8>),
    HeadsRequest(Arc<SignedHeads>),
    HeadsAnswer(Arc<SignedHeads>),
    Pull {
        origin: BureauId,
        from_seq: u64,
        limit: u32,
    },
    Page {
        origin: BureauId,
        from_seq: u64,
        page: Option<Vec<Vec<u8>>>,
    },
}

struct Envelope {
    from: usize,
    to: usize,
    msg: Msg,
}

struct Member {
    signer: Signer,
    role: Role,
    sync: SyncState,
    store: Store,
    neighbours: Vec<usize>,
    mesh: Vec<usize>,
    /// Rounds at which this member publishes (honest members).
    schedule: VecDeque<u64>,
    offline: Option<(u64, u64)>,
}

impl Member {
    fn online(&self, round: u64) -> bool {
        self.offline
            .is_none_or(|(from, to)| round < from || round >= to)
    }
}

/// The stored bytes of a member's entries, for the state machine's fork checks.
struct Held<'a>(&'a Store);

impl StoredEntries for Held<'_> {
    fn stored(&self, origin: &BureauId, seq: u64) -> Option<Vec<u8>> {
        self.0.entry(origin, seq).ok().flatten()
    }
}

/// The simulation.
pub struct Sim {
    config: SimConfig,
    network: NetworkId,
    rng: StdRng,
    members: Vec<Member>,
    index: HashMap<BureauId, usize>,
    queue: Vec<Envelope>,
    /// Answers withheld until the round they fail in.
    delayed: BTreeMap<u64, Vec<Envelope>>,
    /// Verification results by entry bytes (signatures are deterministic, so each distinct
    /// entry is verified once for the whole run).
    verified: HashMap<blake3::Hash, Option<VerifiedEntry>>,
    /// Honest entries: (origin, seq) -> (round published, honest members holding it).
    honest_entries: HashMap<(BureauId, u64), (u64, usize)>,
    /// Honest entries' completion rounds, as they complete.
    converged_after: u64,
    honest_count: usize,
    broken: BTreeMap<&'static str, u64>,
    messages: u64,
    penalties: BTreeMap<String, u64>,
    round: u64,
}

impl Sim {
    /// Sets a simulation up: keys, roles, the graph, the publication schedule.
    pub fn new(config: SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let n = config.members.max(2);
        let signers: Vec<Signer> = (0..n)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&config.seed.to_le_bytes());
                seed[8..16].copy_from_slice(&(i as u64).to_le_bytes());
                Signer::from_seed(seed)
            })
            .collect();
        let ids: Vec<BureauId> = signers.iter().map(Signer::bureau).collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let byzantine: Vec<usize> = order
            .iter()
            .copied()
            .take(config.byzantine.min(n - 1))
            .collect();
        let offline: Vec<usize> = order
            .iter()
            .copied()
            .skip(byzantine.len())
            .take(config.offline)
            .collect();
        let graph = random_graph(n, config.degree, &mut rng);
        let network = NetworkId::from_name("striae-sim");
        let sync_config = SyncConfig {
            heads_interval_ms: config.heads_interval_rounds * ROUND_MS,
            heads_debounce_ms: 3 * ROUND_MS,
        };
        let window = (config.rounds / 10, config.rounds / 2);
        let verifier = remembering_verifier();
        let mut members = Vec::with_capacity(n);
        for (i, signer) in signers.into_iter().enumerate() {
            let role = if byzantine.contains(&i) {
                Role::Byzantine
            } else {
                Role::Honest
            };
            let mut neighbours = graph[i].clone();
            neighbours.sort_unstable();
            let mut mesh = neighbours.clone();
            mesh.shuffle(&mut rng);
            mesh.truncate(config.mesh);
            let mut schedule: Vec<u64> = (0..config.entries_per_member)
                .map(|_| rng.gen_range(0..(config.rounds / 2).max(1)))
                .collect();
            schedule.sort_unstable();
            let mut sync = SyncState::new(
                signer.clone(),
                network,
                sync_config,
                Feeds::new(ids.iter().copied(), []),
                rng.r#gen(),
            );
            sync.set_heads_verifier(verifier.clone());
            members.push(Member {
                sync,
                signer,
                role,
                store: Store::memory(),
                neighbours,
                mesh,
                schedule: schedule.into(),
                offline: offline.contains(&i).then_some(window),
            });
        }
        let honest_count = members.iter().filter(|m| m.role == Role::Honest).count();
        Sim {
            index: ids.iter().enumerate().map(|(i, b)| (*b, i)).collect(),
            config,
            network,
            rng,
            members,
            queue: Vec::new(),
            delayed: BTreeMap::new(),
            verified: HashMap::new(),
            honest_entries: HashMap::new(),
            converged_after: 0,
            honest_count,
            broken: BTreeMap::new(),
            messages: 0,
            penalties: BTreeMap::new(),
            round: 0,
        }
    }

    /// Runs every round and reports.
    pub fn run(mut self) -> SimReport {
        self.connect_all();
        for round in 0..self.config.rounds {
            self.round = round;
            self.step();
        }
        self.report()
    }

    fn broke(&mut self, invariant: Invariant) {
        *self.broken.entry(invariant.name()).or_default() += 1;
    }

    fn now(&self) -> u64 {
        EPOCH_MS + self.round * ROUND_MS
    }

    fn connect_all(&mut self) {
        for i in 0..self.members.len() {
            if !self.members[i].online(0) {
                continue;
            }
            for j in self.members[i].neighbours.clone() {
                if self.members[j].online(0) {
                    let peer = self.members[j].signer.bureau();
                    self.input(i, Input::Connected(peer));
                }
            }
        }
    }

    fn step(&mut self) {
        self.connection_changes();
        self.publish_scheduled();
        let mut delivered = std::mem::take(&mut self.queue);
        if let Some(late) = self.delayed.remove(&self.round) {
            delivered.extend(late);
        }
        for envelope in delivered {
            self.deliver(envelope);
        }
        for i in 0..self.members.len() {
            if self.members[i].online(self.round) {
                self.input(i, Input::Tick);
                if self.members[i].role == Role::Byzantine {
                    self.misbehave(i);
                }
            }
        }
    }

    /// Members whose offline window starts or ends this round disconnect or reconnect.
    fn connection_changes(&mut self) {
        for i in 0..self.members.len() {
            let Some((from, to)) = self.members[i].offline else {
                continue;
            };
            if self.round != from && self.round != to {
                continue;
            }
            let up = self.round == to;
            let me = self.members[i].signer.bureau();
            for j in self.members[i].neighbours.clone() {
                if !self.members[j].online(self.round) {
                    continue;
                }
                let peer = self.members[j].signer.bureau();
                let (mine, theirs) = if up {
                    (Input::Connected(peer), Input::Connected(me))
                } else {
                    (Input::Disconnected(peer), Input::Disconnected(me))
                };
                if up {
                    self.input(i, mine);
                } else {
                    // The state is kept while down (as on disk); only connections go.
                    let now = self.now();
                    let member = &mut self.members[i];
                    let _ = member.sync.handle(mine, now, &Held(&member.store));
                }
                self.input(j, theirs);
            }
        }
    }

    fn publish_scheduled(&mut self) {
        for i in 0..self.members.len() {
            let member = &self.members[i];
            if member.role != Role::Honest || !member.online(self.round) {
                continue;
            }
            while self.members[i]
                .schedule
                .front()
                .is_some_and(|r| *r <= self.round)
            {
                self.members[i].schedule.pop_front();
                let title = format!("sim {} {}", i, self.round);
                if let Some(entry) = self.sign_next(i, &title) {
                    self.honest_entries
                        .insert((entry.entry.origin, entry.entry.seq), (self.round, 0));
                    self.input(i, Input::Own(entry.clone()));
                    self.gossip(i, None, &entry.wire);
                }
            }
        }
    }

    /// Member `i`'s next own entry, signed at its head.
    fn sign_next(&self, i: usize, title: &str) -> Option<VerifiedEntry> {
        let member = &self.members[i];
        let (seq, prev) = member.sync.own_head()?;
        notice_entry(
            &member.signer,
            seq + 1,
            prev,
            self.now(),
            title,
            &self.network,
        )
    }

    fn gossip(&mut self, from: usize, except: Option<usize>, wire: &[u8]) {
        for to in self.members[from].mesh.clone() {
            if Some(to) != except {
                self.send(from, to, Msg::Gossip(wire.to_vec()));
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        self.queue.push(Envelope { from, to, msg });
    }

    /// Hands an input to member `i` and carries out its outputs.
    fn input(&mut self, i: usize, input: Input) -> Vec<Output> {
        let now = self.now();
        let member = &mut self.members[i];
        let outputs = member.sync.handle(input, now, &Held(&member.store));
        let mut verdicts = Vec::new();
        for output in outputs {
            match output {
                Output::Verdict(v) => verdicts.push(Output::Verdict(v)),
                other => self.carry_out(i, other),
            }
        }
        verdicts
    }

    fn carry_out(&mut self, i: usize, output: Output) {
        match output {
            Output::Verdict(_) => {}
            Output::Persist(run) => self.persist(i, run),
            Output::SendHeads(peer) => {
                let now = self.now();
                if let (Some(to), Ok(heads)) = (
                    self.index.get(&peer).copied(),
                    self.members[i].sync.own_heads(now),
                ) {
                    self.send(i, to, Msg::HeadsRequest(heads));
                }
            }
            Output::Pull {
                peer,
                origin,
                from_seq,
                limit,
            } => {
                if let Some(to) = self.index.get(&peer).copied() {
                    self.send(
                        i,
                        to,
                        Msg::Pull {
                            origin,
                            from_seq,
                            limit,
                        },
                    );
                }
            }
            Output::Penalise { offence, peer } => {
                if self.members[i].role == Role::Honest {
                    *self.penalties.entry(format!("{offence:?}")).or_default() += 1;
                    if self
                        .index
                        .get(&peer)
                        .is_some_and(|p| self.members[*p].role == Role::Honest)
                    {
                        // An honest member penalised for what it sent: the protocol misread it.
                        self.broke(Invariant::HonestPenalised);
                    }
                }
            }
            Output::Equivocation { origin, .. } => {
                if self.members[i].role == Role::Honest
                    && self
                        .index
                        .get(&origin)
                        .is_some_and(|o| self.members[*o].role == Role::Honest)
                {
                    self.broke(Invariant::HonestFrozen);
                } else if self.members[i].role == Role::Honest {
                    *self.penalties.entry("Equivocation".into()).or_default() += 1;
                }
            }
            Output::Receipt { .. } => {}
        }
    }

    /// Stores a run as the node does, checking the invariants on the way.
    fn persist(&mut self, i: usize, run: Vec<VerifiedEntry>) {
        let Some(first) = run.first() else { return };
        let origin = first.entry.origin;
        let store = &self.members[i].store;
        let (mut seq, mut id) = store
            .head(&origin)
            .ok()
            .flatten()
            .unwrap_or((0, EntryId::GENESIS));
        for entry in &run {
            let in_order = entry.entry.origin == origin
                && entry.entry.seq == seq + 1
                && entry.entry.prev == id;
            let genuine = self.verify(&entry.wire).is_some_and(|v| v.id == entry.id);
            if !in_order {
                self.broke(Invariant::OutOfOrder);
                return;
            }
            if !genuine {
                self.broke(Invariant::Unverified);
                return;
            }
            (seq, id) = (entry.entry.seq, entry.id);
        }
        let store = &self.members[i].store;
        if store
            .put_entries(&run)
            .and_then(|()| store.set_head(&origin, seq, &id))
            .is_err()
        {
            self.broke(Invariant::NotStored);
            return;
        }
        if self.members[i].role != Role::Honest {
            return;
        }
        for entry in &run {
            if let Some((published, holders)) =
                self.honest_entries.get_mut(&(origin, entry.entry.seq))
            {
                *holders += 1;
                if *holders == self.honest_count {
                    self.converged_after = self.converged_after.max(self.round - *published);
                }
            }
        }
    }

    /// The entry in `wire`, if it decodes and its signature verifies (memoised).
    fn verify(&mut self, wire: &[u8]) -> Option<VerifiedEntry> {
        let network = self.network;
        self.verified
            .entry(blake3::hash(wire))
            .or_insert_with(|| {
                UnverifiedEntry::decode(wire)
                    .and_then(|e| e.verify(&network))
                    .ok()
            })
            .clone()
    }

    fn deliver(&mut self, envelope: Envelope) {
        let Envelope { from, to, msg } = envelope;
        if !self.members[to].online(self.round) || !self.members[from].online(self.round) {
            // Lost on the way. As a transport does when a connection drops, the side waiting
            // for an answer is told its request failed.
            match msg {
                Msg::Pull {
                    origin, from_seq, ..
                } => self.fail_pull(from, origin, from_seq),
                Msg::Page {
                    origin, from_seq, ..
                } => self.fail_pull(to, origin, from_seq),
                _ => {}
            }
            return;
        }
        self.messages += 1;
        let sender = self.members[from].signer.bureau();
        match msg {
            Msg::Gossip(wire) => self.on_gossip(to, from, sender, wire),
            Msg::HeadsRequest(signed) => {
                self.input(
                    to,
                    Input::Heads {
                        from: sender,
                        signed,
                    },
                );
                let now = self.now();
                if let Ok(mine) = self.members[to].sync.own_heads(now) {
                    let answer = self.heads_of(to, mine);
                    self.send(to, from, Msg::HeadsAnswer(answer));
                }
            }
            Msg::HeadsAnswer(signed) => {
                self.input(
                    to,
                    Input::Heads {
                        from: sender,
                        signed,
                    },
                );
            }
            Msg::Pull {
                origin,
                from_seq,
                limit,
            } => self.serve_pull(to, from, origin, from_seq, limit),
            Msg::Page {
                origin,
                from_seq,
                page,
            } => self.on_page(to, sender, origin, from_seq, page),
        }
    }

    fn fail_pull(&mut self, asker: usize, origin: BureauId, from_seq: u64) {
        let now = self.now();
        let member = &mut self.members[asker];
        let outputs = member.sync.handle(
            Input::PullFailed { origin, from_seq },
            now,
            &Held(&member.store),
        );
        debug_assert!(outputs.is_empty());
    }

    fn on_gossip(&mut self, to: usize, from: usize, sender: BureauId, wire: Vec<u8>) {
        let entry = match self.verify(&wire) {
            Some(e) => Ok(e),
            None => UnverifiedEntry::decode(&wire).and_then(|e| e.verify(&self.network)),
        };
        let verdicts = self.input(
            to,
            Input::Gossip {
                from: sender,
                entry,
            },
        );
        let accepted = verdicts.iter().any(|v| {
            matches!(
                v,
                Output::Verdict(striae_node::core::sync::GossipVerdict::Accept)
            )
        });
        if accepted {
            self.gossip(to, Some(from), &wire);
        }
    }

    fn serve_pull(
        &mut self,
        holder: usize,
        asker: usize,
        origin: BureauId,
        from_seq: u64,
        limit: u32,
    ) {
        let withhold = self.members[holder].role == Role::Byzantine && self.rng.gen_bool(0.5);
        if withhold {
            // No answer: the asker's transport gives up after its timeout.
            let fail_at = self.round + TIMEOUT_ROUNDS;
            self.delayed.entry(fail_at).or_default().push(Envelope {
                from: holder,
                to: asker,
                msg: Msg::Page {
                    origin,
                    from_seq,
                    page: None,
                },
            });
            return;
        }
        let garbage = self.members[holder].role == Role::Byzantine && self.rng.gen_bool(0.3);
        let page = if garbage {
            Some(vec![random_bytes(&mut self.rng, 200)])
        } else {
            let limit = limit.min(MAX_PAGE_ENTRIES) as usize;
            self.members[holder]
                .store
                .entries_from(&origin, from_seq.max(1), limit, MAX_PAGE_BYTES)
                .ok()
        };
        self.send(
            holder,
            asker,
            Msg::Page {
                origin,
                from_seq,
                page,
            },
        );
    }

    fn on_page(
        &mut self,
        to: usize,
        sender: BureauId,
        origin: BureauId,
        from_seq: u64,
        page: Option<Vec<Vec<u8>>>,
    ) {
        let Some(page) = page else {
            self.input(to, Input::PullFailed { origin, from_seq });
            return;
        };
        self.input(
            to,
            Input::PageArrived {
                from: sender,
                origin,
            },
        );
        let results = self.verify_pulled(origin, from_seq, page);
        self.input(
            to,
            Input::PageVerified {
                from: sender,
                origin,
                from_seq,
                results,
            },
        );
    }

    /// A page checked as the node's verifier checks it (`verifier::verify_page`: consecutive
    /// entries of the feed asked for, then each signature), except that each distinct entry's
    /// signature is verified once for the whole run.
    fn verify_pulled(
        &mut self,
        origin: BureauId,
        from_seq: u64,
        page: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<VerifiedEntry, EntryError>>, PageError> {
        for (k, wire) in page.iter().enumerate() {
            let entry = UnverifiedEntry::decode(wire).map_err(PageError::Malformed)?;
            if entry.entry.origin != origin || entry.entry.seq != from_seq + k as u64 {
                return Err(PageError::OutOfOrder);
            }
        }
        Ok(page
            .into_iter()
            .map(|wire| match self.verify(&wire) {
                Some(verified) => Ok(verified),
                None => UnverifiedEntry::decode_owned(wire).and_then(|e| e.verify(&self.network)),
            })
            .collect())
    }

    /// The heads a member states: its real ones, or for a byzantine member now and then an
    /// inflated claim (every feed it knows 1,000 entries further than it holds).
    fn heads_of(&mut self, i: usize, real: Arc<SignedHeads>) -> Arc<SignedHeads> {
        if self.members[i].role != Role::Byzantine || !self.rng.gen_bool(0.5) {
            return real;
        }
        let member = &self.members[i];
        let heads = Heads {
            member: member.signer.bureau(),
            issued_at_ms: self.now(),
            heads: member
                .sync
                .feeds()
                .heads()
                .into_iter()
                .filter(|h| h.1 > 0)
                .map(|(origin, seq, id)| Head {
                    origin,
                    seq: seq + 1_000,
                    id,
                })
                .collect(),
        };
        heads
            .sign(&member.signer, &self.network)
            .map(Arc::new)
            .unwrap_or(real)
    }

    /// A byzantine member's misbehaviour this round: garbage, replays, equivocation, lies.
    fn misbehave(&mut self, i: usize) {
        let neighbours = self.members[i].neighbours.clone();
        let Some(&target) = neighbours.choose(&mut self.rng) else {
            return;
        };
        match self.rng.gen_range(0..10) {
            0 => {
                let garbage = random_bytes(&mut self.rng, 300);
                self.send(i, target, Msg::Gossip(garbage));
            }
            1 => {
                // Replays an entry it holds, from any feed.
                let heads = self.members[i].sync.feeds().heads();
                if let Some((origin, seq, _)) = heads.choose(&mut self.rng).copied()
                    && seq > 0
                    && let Ok(Some(wire)) = self.members[i].store.entry(&origin, seq)
                {
                    self.send(i, target, Msg::Gossip(wire));
                }
            }
            2 if self.round.is_multiple_of(25) => self.equivocate(i),
            3 => {
                let now = self.now();
                if let Ok(real) = self.members[i].sync.own_heads(now) {
                    let lie = self.heads_of(i, real);
                    self.send(i, target, Msg::HeadsRequest(lie));
                }
            }
            _ => {}
        }
    }

    /// Signs two different entries for its next seq and gossips one to half its neighbours
    /// and the other to the rest (its own state takes the first).
    fn equivocate(&mut self, i: usize) {
        let (Some(a), Some(b)) = (
            self.sign_next(i, &format!("fork a {}", self.round)),
            self.sign_next(i, &format!("fork b {}", self.round)),
        ) else {
            return;
        };
        self.input(i, Input::Own(a.clone()));
        let neighbours = self.members[i].neighbours.clone();
        for (k, to) in neighbours.into_iter().enumerate() {
            let wire = if k % 2 == 0 { &a.wire } else { &b.wire };
            self.send(i, to, Msg::Gossip(wire.clone()));
        }
    }

    fn report(&mut self) -> SimReport {
        let honest: Vec<usize> = (0..self.members.len())
            .filter(|i| self.members[*i].role == Role::Honest)
            .collect();
        let mut expected: BTreeMap<BureauId, u64> = BTreeMap::new();
        for (origin, seq) in self.honest_entries.keys() {
            let e = expected.entry(*origin).or_default();
            *e = (*e).max(*seq);
        }
        let mut delivered_all = true;
        let mut converged = true;
        let reference = honest.first().map(|i| self.heads_for(*i, &expected));
        for i in &honest {
            let heads = self.heads_for(*i, &expected);
            for (origin, seq) in &expected {
                let held = heads.get(origin).map_or(0, |h| h.0);
                if held < *seq {
                    delivered_all = false;
                    self.broke(Invariant::LeftBehind);
                    if std::env::var_os("STRIAE_SIM_DEBUG").is_some() {
                        let o = self.index[origin];
                        eprintln!(
                            "member {i} (offline {:?}) holds {held}/{seq} of {o} (offline {:?}, schedule {:?}); neighbours {:?}",
                            self.members[*i].offline,
                            self.members[o].offline,
                            self.members[o].schedule,
                            self.members[*i].neighbours
                        );
                    }
                }
            }
            if Some(&heads) != reference.as_ref() {
                converged = false;
            }
        }
        let incomplete = self
            .honest_entries
            .values()
            .any(|(_, holders)| *holders < self.honest_count);
        SimReport {
            members: self.members.len(),
            seed: self.config.seed,
            rounds: self.config.rounds,
            byzantine: self.members.len() - honest.len(),
            offline: self.config.offline,
            delivered_all: delivered_all && !incomplete,
            converged,
            max_rounds_to_converge: self.converged_after,
            violations: self.broken.values().sum(),
            broken: self.broken.clone(),
            entries: self.honest_entries.len() as u64,
            messages: self.messages,
            penalties: self.penalties.clone(),
        }
    }

    /// Member `i`'s heads for the honest origins.
    fn heads_for(
        &self,
        i: usize,
        honest: &BTreeMap<BureauId, u64>,
    ) -> BTreeMap<BureauId, (u64, EntryId)> {
        honest
            .keys()
            .map(|o| (*o, self.members[i].sync.feeds().head(o)))
            .collect()
    }
}

/// Heads verification that checks each distinct statement once for the whole run (a
/// statement goes to every neighbour, and is stated again until something changes). Keyed by
/// signature, with the statement's bytes compared on a hit.
fn remembering_verifier() -> HeadsVerifier {
    type Seen = HashMap<[u8; 64], (Vec<u8>, Result<Heads, ()>)>;
    let seen: Mutex<Seen> = Mutex::default();
    Arc::new(move |signed: &SignedHeads, network: &NetworkId| {
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= REMEMBERED_HEADS {
            seen.clear();
        }
        if let Some((bytes, Ok(heads))) = seen.get(&signed.signature)
            && *bytes == signed.heads_bytes
        {
            return Ok(heads.clone());
        }
        let result = signed.verify(network);
        let remembered = result.as_ref().map(Clone::clone).map_err(|_| ());
        seen.insert(signed.signature, (signed.heads_bytes.clone(), remembered));
        result
    })
}

/// A notice entry, signed.
fn notice_entry(
    signer: &Signer,
    seq: u64,
    prev: EntryId,
    now_ms: u64,
    title: &str,
    network: &NetworkId,
) -> Option<VerifiedEntry> {
    Entry {
        version: ENTRY_VERSION,
        origin: signer.bureau(),
        seq,
        prev,
        timestamp_ms: now_ms,
        body: Body::Notice(NoticeOp::Issue(NoticeContent {
            kind: NoticeKind::Purple,
            title: title.into(),
            summary: "simulated".into(),
            body: String::new(),
            expires_at_ms: now_ms + 86_400_000,
        })),
    }
    .sign(signer, network)
    .ok()
}

/// A random connected graph: a ring (so nobody is isolated) plus random links up to `degree`.
fn random_graph(n: usize, degree: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut links: Vec<Vec<usize>> = vec![Vec::new(); n];
    let link = |a: usize, b: usize, links: &mut Vec<Vec<usize>>| {
        if a != b && !links[a].contains(&b) {
            links[a].push(b);
            links[b].push(a);
        }
    };
    for a in 0..n {
        link(a, (a + 1) % n, &mut links);
    }
    let degree = degree.min(n - 1);
    for a in 0..n {
        let mut tries = 0;
        while links[a].len() < degree && tries < 10 * degree {
            tries += 1;
            let b = rng.gen_range(0..n);
            if links[b].len() < degree + 2 {
                link(a, b, &mut links);
            }
        }
    }
    links
}

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.r#gen()).collect()
}
