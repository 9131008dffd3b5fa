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

mod byzantine;
mod invariants;
mod setup;

use invariants::{Invariant, remembering_verifier};
use setup::{notice_entry, random_graph};

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde::Serialize;
use striae_node::{
    core::{
        feeds::Feeds,
        sync::{Input, Output, StoredEntries, SyncConfig, SyncState},
    },
    store::Store,
};
use striae_protocol::{
    BureauId, NetworkId, SignedHeads, Signer, VerifiedEntry, feed::UnverifiedEntry,
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
    /// The most memory any honest member held in entries waiting for gaps at the end of a
    /// round (bytes, as the node counts them; capped by `MAX_PENDING_BYTES_TOTAL`).
    pub max_held_bytes: usize,
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
    /// The most bytes an honest member held waiting for gaps.
    max_held_bytes: usize,
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
            max_ahead_ms: 600_000,
            own_head_grace_ms: 10 * ROUND_MS,
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
            max_held_bytes: 0,
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
            if self.members[i].role == Role::Honest {
                let held = self.members[i].sync.feeds().pending_bytes();
                self.max_held_bytes = self.max_held_bytes.max(held);
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
            // As in the node: nothing is signed before the member knows how far its own feed
            // reached (a liar's claim of more of it stops counting once its page is empty).
            while self.members[i]
                .schedule
                .front()
                .is_some_and(|r| *r <= self.round)
                && self.members[i].sync.may_sign(self.now())
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
}
