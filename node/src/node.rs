//! The running member: starts storage, the network task, the replication core and the API,
//! and owns their shutdown. The replication core is the one task that appends to feeds: own
//! entries (published through `NodeHandle::publish`) and other members' entries (from gossip
//! and sync) all pass through it, in order.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId, request_response::ResponseChannel};
use striae_protocol::{
    Body, BureauId, Entry, EntryError, EntryId, Head, Heads, NetworkId, SignedHeads, Signer,
    SyncRequest, SyncResponse, VerifiedEntry,
    feed::{ENTRY_VERSION, UnverifiedEntry, verify_batch},
    firearm::DigestKey,
    sync::{MAX_PAGE_BYTES, MAX_PAGE_ENTRIES},
    time::now_ms,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::{
    audit::AuditLog,
    ballistics::Ballistics,
    config::{self, ConfigError, NodeConfig, Roster},
    firearms::Firearms,
    metrics::Metrics,
    net::{self, NetConfig, NetError, NetEvent, NetHandle, Verdict, fast_path::FastPath},
    notices::Notices,
    replication::{Feeds, Offer},
    services::{self, ServiceCall},
    store::{Store, StoreError},
};

/// A gossiped entry already held and older than this is a replay, not a late delivery
/// (gossipsub forwards a message only on first receipt and remembers it for two minutes).
const REPLAY_AGE_MS: u64 = 120_000;
/// Capacity of the publish queue into the core.
const CORE_COMMAND_CAPACITY: usize = 256;
/// Publications made durable by one flush, at most.
const MAX_PUBLISH_BATCH: usize = 64;
/// Capacity of the applied-entry broadcast (observers that lag lose events, nothing else).
const APPLIED_CAPACITY: usize = 65_536;
/// Pulled pages waiting for the verifier, and verified pages waiting to be applied (each is at
/// most one page in flight).
const VERIFIED_CAPACITY: usize = 64;
/// Application-score points taken from a peer per invalid entry it sent.
const PENALTY: f64 = 10.0;
/// Requests for the capabilities (traces, confirmations) waiting for a worker.
const SERVICE_QUEUE: usize = 64;

/// Node failures.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Configuration, key or token problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Network problem.
    #[error(transparent)]
    Net(#[from] NetError),
    /// An entry could not be built.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// Our heads could not be signed.
    #[error(transparent)]
    Heads(#[from] striae_protocol::heads::HeadsError),
    /// The API address could not be bound.
    #[error("cannot listen on {addr} for the API: {source}")]
    ApiListen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A published entry was stored but could not be flushed to disk.
    #[error("storage: the entry could not be flushed to disk: {0}")]
    NotDurable(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
    /// This node's own feed is frozen (it was found equivocating, e.g. after a restore from an
    /// old backup); it must not publish until an operator resolves it.
    #[error("this node's feed is frozen after an equivocation; see the node log")]
    Frozen,
}

/// An entry appended to a feed, for observers (benchmarks, tests, the devnet summary).
#[derive(Clone, Debug)]
pub struct Applied {
    /// The feed.
    pub origin: BureauId,
    /// Its seq.
    pub seq: u64,
    /// Its id.
    pub id: EntryId,
    /// When this node appended it.
    pub at: Instant,
}

type PublishReply = oneshot::Sender<Result<VerifiedEntry, NodeError>>;

enum CoreCommand {
    Publish {
        body: Body,
        reply: PublishReply,
    },
    Ask {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, String>>,
    },
}

/// What the API and CLI need about the node.
pub struct Shared {
    /// Country code.
    pub country: String,
    /// Bureau name.
    pub name: String,
    /// This node's identity.
    pub me: BureauId,
    /// This node's key, for the capabilities' signed messages.
    pub signer: Signer,
    /// The network signatures are bound to.
    pub network: NetworkId,
    /// The key firearm digests are computed with (from the roster's pre-shared key).
    pub digest_key: DigestKey,
    /// The data dir (blob store and other files beside the database).
    pub data_dir: PathBuf,
    /// The signed, hash-chained audit log.
    pub audit: AuditLog,
    /// Notices held, from every feed.
    pub notices: Notices,
    /// Firearm records, digests held, traces.
    pub firearms: Firearms,
    /// Ballistic exhibits, digests held, searches and leads.
    pub ballistics: Ballistics,
    /// Members connected right now.
    pub connected: Mutex<HashSet<BureauId>>,
    /// The roster.
    pub roster: Roster,
    /// Storage.
    pub store: Store,
    /// Network task handle.
    pub net: NetHandle,
    /// Metrics.
    pub metrics: Metrics,
    /// The API token.
    pub token: String,
    /// Entries refused per sending member.
    pub rejected_from: Mutex<HashMap<BureauId, u64>>,
    commands: mpsc::Sender<CoreCommand>,
    applied: broadcast::Sender<Applied>,
}

/// A cloneable handle to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<Shared>,
}

impl std::ops::Deref for NodeHandle {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl NodeHandle {
    /// Appends `body` to this node's own feed, makes it durable, and gossips it. Returns the
    /// signed entry once it is on disk.
    pub async fn publish(&self, body: Body) -> Result<VerifiedEntry, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(CoreCommand::Publish { body, reply })
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// Sends `request` to member `to` and waits for its answer (the network's request
    /// timeout bounds the wait). Used for traces and confirmations.
    pub async fn ask(&self, to: &BureauId, request: SyncRequest) -> Result<SyncResponse, String> {
        let peer = to.peer_id().map_err(|e| e.to_string())?;
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(CoreCommand::Ask {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| NodeError::Stopped.to_string())?;
        rx.await.map_err(|_| NodeError::Stopped.to_string())?
    }

    /// Whether member `bureau` is connected right now.
    pub fn is_connected(&self, bureau: &BureauId) -> bool {
        self.connected
            .lock()
            .map(|c| c.contains(bureau))
            .unwrap_or(false)
    }

    /// Entries appended from now on.
    pub fn subscribe_applied(&self) -> broadcast::Receiver<Applied> {
        self.applied.subscribe()
    }

    /// Country of a member, or "??" for a stranger.
    pub fn country_of(&self, bureau: &BureauId) -> String {
        self.roster
            .member(bureau)
            .map_or_else(|| "??".to_string(), |m| m.country.clone())
    }
}

/// A node started by `start`.
pub struct RunningNode {
    /// The handle.
    pub handle: NodeHandle,
    /// Where the API listens.
    pub api_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    net_task: tokio::task::JoinHandle<()>,
}

impl RunningNode {
    /// Stops the API and the core, flushes storage, then stops the network.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.handle.store.flush().await {
            tracing::error!("flush at shutdown failed: {e}");
        }
        self.net_task.abort();
        let _ = self.net_task.await;
    }
}

/// Starts a member from its configuration: opens storage, loads or creates the key and token,
/// starts networking, the replication core and the API.
pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
    let signer = config::load_or_create_key(&config.data_dir)?;
    let token = config::load_or_create_token(&config.data_dir)?;
    let store = Store::open(&config.data_dir.join("db"))?;
    let me = signer.bureau();
    if config.roster.member(&me).is_none() {
        tracing::warn!(bureau = %me, "this node's key is not on the roster: members will refuse it");
    }
    let others: Vec<(BureauId, Vec<Multiaddr>)> = config
        .roster
        .members
        .values()
        .filter(|m| m.bureau != me)
        .map(|m| (m.bureau, m.addrs.clone()))
        .collect();
    let dial = config
        .dial_only
        .clone()
        .unwrap_or_else(|| others.iter().map(|o| o.0).collect());
    let stored_heads = store.heads()?;
    let frozen: HashSet<BureauId> = store.evidence()?.into_iter().map(|e| e.0).collect();
    let fast_path = Arc::new(FastPath::new(
        config.roster.network_id,
        config
            .roster
            .members
            .keys()
            .copied()
            .filter(|m| !frozen.contains(m)),
        stored_heads.iter().map(|h| (h.origin, h.seq, h.id)),
    ));
    let (net, net_events, event_loop) = net::new(NetConfig {
        signer: signer.clone(),
        psk: config.roster.psk,
        listen: config.listen.clone(),
        members: others,
        dial,
        heartbeat: config.tuning.gossip_heartbeat,
        redial_min: config.tuning.redial_min,
        redial_max: config.tuning.redial_max,
        fast_path: fast_path.clone(),
    })?;
    let net_task = tokio::spawn(event_loop.run());
    let (commands_tx, commands_rx) = mpsc::channel(CORE_COMMAND_CAPACITY);
    let (applied, _) = broadcast::channel(APPLIED_CAPACITY);
    let network = config.roster.network_id;
    let audit = AuditLog::open(&store, signer.clone(), network)?;
    let notices = Notices::default();
    let firearms = Firearms::open(&store, &config)?;
    let ballistics = Ballistics::open(&store, &config)?;
    rebuild_projections(&store, &notices, &firearms, &ballistics)?;
    let handle = NodeHandle {
        shared: Arc::new(Shared {
            country: config.country.clone(),
            name: config.name.clone(),
            me,
            signer: signer.clone(),
            network,
            digest_key: DigestKey::from_psk(&config.roster.psk),
            data_dir: config.data_dir.clone(),
            audit,
            notices,
            firearms,
            ballistics,
            connected: Mutex::new(HashSet::new()),
            roster: config.roster.clone(),
            store: store.clone(),
            net: net.clone(),
            metrics: Metrics::default(),
            token,
            rejected_from: Mutex::new(HashMap::new()),
            commands: commands_tx,
            applied,
        }),
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (services_tx, services_rx) = mpsc::channel(SERVICE_QUEUE);
    let core = Core::new(
        handle.clone(),
        signer,
        &config,
        net_events,
        commands_rx,
        services_tx,
        fast_path,
    )?;
    let core_task = tokio::spawn(core.run(shutdown_rx.clone()));
    let services_task = tokio::spawn(services::run(
        handle.clone(),
        services_rx,
        shutdown_rx.clone(),
    ));
    let background_task = tokio::spawn(services::background(handle.clone(), shutdown_rx.clone()));
    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .map_err(|source| NodeError::ApiListen {
            addr: config.api_listen,
            source,
        })?;
    let api_addr = listener
        .local_addr()
        .map_err(|source| NodeError::ApiListen {
            addr: config.api_listen,
            source,
        })?;
    let api_task = tokio::spawn(crate::api::serve(listener, handle.clone(), shutdown_rx));
    tracing::info!(country = %config.country, bureau = %me, api = %api_addr, "member started");
    Ok(RunningNode {
        handle,
        api_addr,
        shutdown,
        tasks: vec![api_task, core_task, services_task, background_task],
        net_task,
    })
}

/// Rebuilds the in-memory projections (notices, the firearm digest index and reference
/// table, the ballistic screening index) from the stored feeds, in one pass over them.
fn rebuild_projections(
    store: &Store,
    notices: &Notices,
    firearms: &Firearms,
    ballistics: &Ballistics,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut entries = 0u64;
    store.for_each_entry_received(|entry, received_at_ms| {
        notices.project(std::slice::from_ref(&entry), received_at_ms);
        firearms.rebuild_from(&entry);
        ballistics.rebuild_from(&entry);
        entries += 1;
        Ok(())
    })?;
    firearms.rebuilt();
    tracing::info!(
        entries,
        ms = started.elapsed().as_millis() as u64,
        "projections rebuilt from the stored feeds"
    );
    Ok(())
}

enum Tag {
    Heads,
    Pull { origin: BureauId, from: u64 },
    Ask(oneshot::Sender<Result<SyncResponse, String>>),
}

/// The replication core: the only writer of feeds.
struct Core {
    node: NodeHandle,
    signer: Signer,
    network: NetworkId,
    feeds: Feeds,
    events: mpsc::Receiver<NetEvent>,
    commands: mpsc::Receiver<CoreCommand>,
    peers: HashMap<PeerId, BureauId>,
    connected: HashSet<PeerId>,
    /// Each connected peer's latest heads statement, as signed and as verified.
    peer_heads: HashMap<PeerId, (SignedHeads, Heads)>,
    /// Per member, its latest heads statement's time and its head of our own feed: the
    /// receipts recorded so far.
    member_heads: HashMap<BureauId, (u64, u64)>,
    in_flight: HashMap<BureauId, Vec<u64>>,
    tags: HashMap<u64, Tag>,
    next_tag: u64,
    heads_dirty: Option<Instant>,
    advanced: HashSet<BureauId>,
    signed_heads: Option<SignedHeads>,
    to_verify: mpsc::Sender<PulledPage>,
    verified_rx: mpsc::Receiver<VerifiedPage>,
    services: mpsc::Sender<ServiceCall>,
    fast_path: Arc<FastPath>,
    heads_debounce: Duration,
    heads_interval: Duration,
}

impl Core {
    fn new(
        node: NodeHandle,
        signer: Signer,
        config: &NodeConfig,
        events: mpsc::Receiver<NetEvent>,
        commands: mpsc::Receiver<CoreCommand>,
        services: mpsc::Sender<ServiceCall>,
        fast_path: Arc<FastPath>,
    ) -> Result<Self, NodeError> {
        let stored = node.store.heads()?;
        let feeds = Feeds::new(
            config.roster.members.keys().copied(),
            stored.iter().map(|h| (h.origin, h.seq, h.id)),
        );
        for (origin, seq) in node.store.evidence()? {
            tracing::warn!(%origin, seq, "member was caught equivocating: its feed stays frozen");
        }
        let mut frozen_feeds = feeds;
        for (origin, _) in node.store.evidence()? {
            frozen_feeds.freeze(origin);
        }
        // Heads seen before a restart are not needed: receipts already on disk keep their
        // first time, and the next statements bring the rest.
        let member_heads = HashMap::new();
        let peers = config
            .roster
            .members
            .keys()
            .filter_map(|b| b.peer_id().ok().map(|p| (p, *b)))
            .collect();
        let (verified_tx, verified_rx) = mpsc::channel(VERIFIED_CAPACITY);
        let (to_verify, pulled) = mpsc::channel(VERIFIED_CAPACITY);
        spawn_verifier(config.roster.network_id, pulled, verified_tx);
        Ok(Core {
            signed_heads: None,
            to_verify,
            verified_rx,
            services,
            fast_path,
            network: config.roster.network_id,
            node,
            signer,
            feeds: frozen_feeds,
            events,
            commands,
            peers,
            connected: HashSet::new(),
            peer_heads: HashMap::new(),
            member_heads,
            in_flight: HashMap::new(),
            tags: HashMap::new(),
            next_tag: 1,
            heads_dirty: None,
            advanced: HashSet::new(),
            heads_debounce: config.tuning.heads_debounce,
            heads_interval: config.tuning.heads_interval,
        })
    }

    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A random phase, so that members started together do not all exchange heads (and
        // verify each other's) in the same instant every interval.
        let phase = self.heads_interval.mul_f64(rand::random::<f64>());
        let mut last_exchange = Instant::now()
            .checked_sub(phase)
            .unwrap_or_else(Instant::now);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(cmd) = self.commands.recv() => self.on_command(cmd).await,
                Some(page) = self.verified_rx.recv() => self.on_verified(page).await,
                Some(event) = self.events.recv() => self.on_net_event(event).await,
                _ = tick.tick() => {
                    if last_exchange.elapsed() >= self.heads_interval {
                        last_exchange = Instant::now();
                        self.heads_dirty = None;
                        self.advanced.clear();
                        self.push_heads().await;
                    } else if self.heads_dirty.is_some_and(|t| t.elapsed() >= self.heads_debounce) {
                        self.heads_dirty = None;
                        self.send_receipts().await;
                    }
                }
            }
        }
        tracing::debug!("replication core stopped");
    }

    // ---- own entries ----

    async fn on_command(&mut self, cmd: CoreCommand) {
        match cmd {
            CoreCommand::Publish { body, reply } => self.publish_waiting(body, reply).await,
            CoreCommand::Ask {
                peer,
                request,
                reply,
            } => {
                let tag = self.tag(Tag::Ask(reply));
                if let Err(e) = self.node.net.request(peer, request, tag).await
                    && let Some(Tag::Ask(reply)) = self.tags.remove(&tag)
                {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }

    /// Publishes `body` and any other publications already waiting: each signed and stored in
    /// order, all made durable by one flush, then gossiped. On disk before anyone hears of
    /// them: a member that announced an entry it then lost in a crash would sign another entry
    /// for the same seq after restart, and every peer would see it equivocate.
    async fn publish_waiting(&mut self, body: Body, reply: PublishReply) {
        let mut batch = vec![(self.append_own(body), reply)];
        let mut next = None;
        while batch.len() < MAX_PUBLISH_BATCH {
            match self.commands.try_recv() {
                Ok(CoreCommand::Publish { body, reply }) => {
                    batch.push((self.append_own(body), reply));
                }
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let flushed = self.node.store.flush().await.map_err(|e| e.to_string());
        for (appended, reply) in batch {
            let result = match (appended, &flushed) {
                (Ok(entry), Ok(())) => {
                    self.gossip_own(&entry).await;
                    Ok(entry)
                }
                (Ok(_), Err(e)) => Err(NodeError::NotDurable(e.clone())),
                (Err(e), _) => Err(e),
            };
            let _ = reply.send(result);
        }
        if let Some(command) = next {
            Box::pin(self.on_command(command)).await;
        }
    }

    async fn gossip_own(&mut self, entry: &VerifiedEntry) {
        if let Err(e) = self.node.net.publish(entry.wire.clone()).await {
            // Sync delivers it anyway; gossip is only the fast path.
            tracing::warn!("gossip publish failed: {e}");
        }
    }

    /// Signs `body` as the next entry of our own feed and stores it (not yet flushed).
    fn append_own(&mut self, body: Body) -> Result<VerifiedEntry, NodeError> {
        let me = self.signer.bureau();
        if self.feeds.is_frozen(&me) {
            return Err(NodeError::Frozen);
        }
        let (seq, prev) = self.feeds.head(&me);
        let entry = Entry {
            version: ENTRY_VERSION,
            origin: me,
            seq: seq + 1,
            prev,
            timestamp_ms: now_ms(),
            body,
        }
        .sign(&self.signer, &self.network)?;
        match self.feeds.offer(entry.clone()) {
            Offer::Apply(run) => self.persist(run)?,
            other => {
                tracing::error!("own entry not applicable: {other:?}");
                return Err(NodeError::Frozen);
            }
        }
        Ok(entry)
    }

    /// Appends a run of entries of one origin: entries, then projections, then the head.
    fn persist(&mut self, run: Vec<VerifiedEntry>) -> Result<(), StoreError> {
        let Some(last) = run.last() else {
            return Ok(());
        };
        let (origin, seq, id) = (last.entry.origin, last.entry.seq, last.id);
        let store = &self.node.store;
        store.put_entries(&run)?;
        self.node.notices.project(&run, now_ms());
        self.node.firearms.project(&self.node, &run)?;
        self.node.ballistics.project(&self.node, &run)?;
        store.set_head(&origin, seq, &id)?;
        self.fast_path.set_tip(origin, seq, id);
        let at = Instant::now();
        self.node.metrics.entries_applied.inc_by(run.len() as u64);
        for e in &run {
            let _ = self.node.applied.send(Applied {
                origin: e.entry.origin,
                seq: e.entry.seq,
                id: e.id,
                at,
            });
        }
        self.heads_dirty.get_or_insert(at);
        self.advanced.insert(origin);
        self.signed_heads = None;
        Ok(())
    }

    fn persist_or_log(&mut self, run: Vec<VerifiedEntry>) {
        if let Err(e) = self.persist(run) {
            tracing::error!("cannot store entries: {e}");
        }
    }

    // ---- network events ----

    async fn on_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Gossip {
                message_id,
                source,
                data,
            } => {
                self.node.metrics.gossip_received.inc();
                let (verdict, run) = self.on_gossip(source, &data).await;
                // Forwarding first: the entry is verified and in sequence, and storing it
                // should not add to every hop's latency.
                let _ = self.node.net.report(message_id, source, verdict).await;
                self.persist_or_log(run);
            }
            NetEvent::Accepted { source, entry } => {
                self.node.metrics.gossip_received.inc();
                self.on_accepted(source, entry).await;
            }
            NetEvent::Request {
                peer,
                request,
                channel,
            } => self.on_request(peer, request, channel).await,
            NetEvent::Response { peer, tag, result } => self.on_response(peer, tag, result).await,
            NetEvent::Connected(peer) => {
                self.connected.insert(peer);
                self.mark_connected(peer, true);
                self.node
                    .metrics
                    .peers_connected
                    .set(self.connected.len() as i64);
                self.send_heads(peer).await;
            }
            NetEvent::Disconnected(peer) => {
                self.connected.remove(&peer);
                self.mark_connected(peer, false);
                self.peer_heads.remove(&peer);
                self.node
                    .metrics
                    .peers_connected
                    .set(self.connected.len() as i64);
            }
        }
    }

    fn mark_connected(&self, peer: PeerId, connected: bool) {
        let Some(bureau) = self.peers.get(&peer) else {
            return;
        };
        if let Ok(mut set) = self.node.connected.lock() {
            if connected {
                set.insert(*bureau);
            } else {
                set.remove(bureau);
            }
        }
    }

    async fn penalise(&self, peer: PeerId, reason: &str) {
        self.node.metrics.rejected(reason);
        if let Some(bureau) = self.peers.get(&peer)
            && let Ok(mut map) = self.node.rejected_from.lock()
        {
            *map.entry(*bureau).or_insert(0) += 1;
        }
        tracing::warn!(%peer, "refused an entry: {reason}");
        let _ = self.node.net.penalise(peer, PENALTY).await;
    }

    /// Validates a gossiped entry: the verdict for gossipsub, and the entries that now apply
    /// (to be stored right after the verdict is reported).
    async fn on_gossip(&mut self, source: PeerId, data: &[u8]) -> (Verdict, Vec<VerifiedEntry>) {
        let entry = match UnverifiedEntry::decode(data).and_then(|e| e.verify(&self.network)) {
            Ok(e) => e,
            Err(e) => {
                self.penalise(source, &format!("invalid: {e}")).await;
                return (Verdict::Reject, Vec::new());
            }
        };
        let origin = entry.entry.origin;
        let seq = entry.entry.seq;
        let verdict = match self.feeds.offer(entry) {
            Offer::Apply(run) => return (Verdict::Accept, run),
            Offer::Held => {
                // A gap: ask the sender for what lies before.
                self.pull_from(source, origin, seq.saturating_sub(1)).await;
                Verdict::Accept
            }
            Offer::Duplicate | Offer::Frozen | Offer::Overloaded => Verdict::Ignore,
            Offer::AtOrBelowHead(entry) => self.on_old_entry(source, entry).await,
            Offer::Equivocation { seq, first, second } => {
                self.record_equivocation(origin, seq, &first, &second);
                Verdict::Reject
            }
            Offer::ChainBroken => {
                self.penalise(source, "entry does not chain to its predecessor")
                    .await;
                Verdict::Reject
            }
            Offer::NotMember => {
                self.penalise(source, "origin is not a member").await;
                Verdict::Reject
            }
        };
        (verdict, Vec::new())
    }

    /// A gossiped entry the fast path verified and forwarded: it applies unless the core moved
    /// on meanwhile (the same entry from another path, or a fork).
    async fn on_accepted(&mut self, source: PeerId, entry: VerifiedEntry) {
        let (origin, seq) = (entry.entry.origin, entry.entry.seq);
        match self.feeds.offer(entry) {
            Offer::Apply(run) => self.persist_or_log(run),
            Offer::Held => self.pull_from(source, origin, seq.saturating_sub(1)).await,
            Offer::AtOrBelowHead(entry) => {
                let _ = self.on_old_entry(source, entry).await;
            }
            Offer::Equivocation { seq, first, second } => {
                self.record_equivocation(origin, seq, &first, &second);
            }
            Offer::Duplicate
            | Offer::Frozen
            | Offer::Overloaded
            | Offer::ChainBroken
            | Offer::NotMember => {}
        }
    }

    /// An entry at or below the head: the same one again (late or replayed) or a fork.
    async fn on_old_entry(&mut self, source: PeerId, entry: VerifiedEntry) -> Verdict {
        let (origin, seq, timestamp) = (
            entry.entry.origin,
            entry.entry.seq,
            entry.entry.timestamp_ms,
        );
        let wire = entry.wire;
        let stored = match self.node.store.entry(&origin, seq) {
            Ok(Some(stored)) => stored,
            _ => return Verdict::Ignore,
        };
        let same = VerifiedEntry::from_stored(stored.clone()).is_ok_and(|s| s.wire == wire);
        if !same {
            self.record_equivocation(origin, seq, &stored, &wire);
            return Verdict::Reject;
        }
        if now_ms().saturating_sub(timestamp) > REPLAY_AGE_MS {
            self.penalise(source, "replayed entry").await;
            return Verdict::Reject;
        }
        Verdict::Ignore
    }

    fn record_equivocation(&mut self, origin: BureauId, seq: u64, first: &[u8], second: &[u8]) {
        tracing::error!(%origin, seq, "EQUIVOCATION: two different signed entries for one seq; feed frozen, evidence kept");
        self.node.metrics.rejected("equivocation");
        self.feeds.freeze(origin);
        self.fast_path.close(&origin);
        if let Err(e) = self.node.store.put_evidence(&origin, seq, first, second) {
            tracing::error!("cannot store equivocation evidence: {e}");
        }
    }

    // ---- sync ----

    /// This node's signed heads; signed once per change, not once per peer.
    fn own_heads(&mut self) -> Result<SignedHeads, NodeError> {
        if let Some(cached) = &self.signed_heads {
            return Ok(cached.clone());
        }
        let heads = Heads {
            member: self.signer.bureau(),
            issued_at_ms: now_ms(),
            heads: self
                .feeds
                .heads()
                .into_iter()
                .filter(|h| h.1 > 0)
                .map(|(origin, seq, id)| Head { origin, seq, id })
                .collect(),
        };
        let signed = heads.sign(&self.signer, &self.network)?;
        self.signed_heads = Some(signed.clone());
        Ok(signed)
    }

    fn tag(&mut self, tag: Tag) -> u64 {
        let id = self.next_tag;
        self.next_tag += 1;
        self.tags.insert(id, tag);
        id
    }

    async fn send_heads(&mut self, peer: PeerId) {
        let Ok(heads) = self.own_heads() else { return };
        let tag = self.tag(Tag::Heads);
        let _ = self
            .node
            .net
            .request(peer, SyncRequest::Heads(heads), tag)
            .await;
    }

    /// The periodic exchange with every connected member: the guarantee behind catch-up.
    async fn push_heads(&mut self) {
        let peers: Vec<PeerId> = self.connected.iter().copied().collect();
        for peer in peers {
            self.send_heads(peer).await;
        }
    }

    /// After new entries: our heads go to the members whose feeds advanced, as their receipt.
    /// Only those: sending every change to every member would cost N² messages per notice,
    /// and gossip already carries the entries themselves.
    async fn send_receipts(&mut self) {
        let me = self.signer.bureau();
        let origins: Vec<BureauId> = self.advanced.drain().filter(|o| *o != me).collect();
        for origin in origins {
            let Ok(peer) = origin.peer_id() else { continue };
            if self.connected.contains(&peer) {
                self.send_heads(peer).await;
            }
        }
    }

    async fn on_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        self.node.metrics.requests_served.inc();
        let response = match request {
            SyncRequest::Heads(theirs) => {
                self.on_heads(peer, theirs).await;
                match self.own_heads() {
                    Ok(h) => SyncResponse::Heads(h),
                    Err(e) => SyncResponse::Refused(e.to_string()),
                }
            }
            SyncRequest::Pull {
                origin,
                from_seq,
                limit,
            } => self.serve_pull(origin, from_seq, limit),
            service @ (SyncRequest::Trace(_)
            | SyncRequest::TraceAnswer(_)
            | SyncRequest::Confirm(_)) => {
                // Capabilities answer off the core: a comparison takes a second of CPU, and
                // replication must not wait for it.
                let Some(from) = self.peers.get(&peer).copied() else {
                    return;
                };
                match self.services.try_send(ServiceCall {
                    from,
                    request: service,
                    channel,
                }) {
                    Ok(()) => return,
                    Err(mpsc::error::TrySendError::Full(call))
                    | Err(mpsc::error::TrySendError::Closed(call)) => {
                        let busy = SyncResponse::Refused("busy: try again shortly".into());
                        let _ = self.node.net.respond(call.channel, busy).await;
                        return;
                    }
                }
            }
        };
        let _ = self.node.net.respond(channel, response).await;
    }

    fn serve_pull(&self, origin: BureauId, from_seq: u64, limit: u32) -> SyncResponse {
        if from_seq == 0 {
            return SyncResponse::Refused("from_seq starts at 1".into());
        }
        let limit = limit.min(MAX_PAGE_ENTRIES) as usize;
        match self
            .node
            .store
            .entries_from(&origin, from_seq, limit, MAX_PAGE_BYTES)
        {
            Ok(list) => SyncResponse::Entries(list),
            Err(e) => SyncResponse::Refused(format!("storage: {e}")),
        }
    }

    async fn on_response(&mut self, peer: PeerId, tag: u64, result: Result<SyncResponse, String>) {
        let Some(tag) = self.tags.remove(&tag) else {
            return;
        };
        if let Tag::Ask(reply) = tag {
            let _ = reply.send(result);
            return;
        }
        match (tag, result) {
            (Tag::Heads, Ok(SyncResponse::Heads(theirs))) => self.on_heads(peer, theirs).await,
            (Tag::Pull { origin, from }, Ok(SyncResponse::Entries(entries))) => {
                self.node.metrics.pages_pulled.inc();
                // The range stays in flight until its entries are applied.
                self.verify_page(peer, origin, from, entries).await;
                self.pull_more(origin).await;
            }
            (Tag::Pull { origin, from }, _) => {
                // Failed or refused: the next heads exchange retries, so a failing peer cannot
                // spin the core.
                self.land(origin, from);
            }
            (_, Ok(SyncResponse::Refused(why))) => tracing::debug!(%peer, "request refused: {why}"),
            (_, Err(e)) => tracing::debug!(%peer, "request failed: {e}"),
            _ => {}
        }
    }

    async fn on_heads(&mut self, peer: PeerId, signed: SignedHeads) {
        // The same statement again (nothing changed at the peer since): already verified and
        // its receipts recorded; only the pull check below is repeated, as the retry of any
        // pull that failed.
        let repeated = self
            .peer_heads
            .get(&peer)
            .filter(|(known, _)| *known == signed)
            .map(|(_, heads)| heads.clone());
        let heads = match repeated {
            Some(heads) => heads,
            None => match self.verify_heads(peer, &signed).await {
                Some(heads) => heads,
                None => return,
            },
        };
        for head in &heads.heads {
            self.check_fork(peer, head).await;
            if head.seq > self.feeds.head_seq(&head.origin) {
                self.pull_from(peer, head.origin, head.seq).await;
            }
        }
        self.peer_heads.insert(peer, (signed, heads));
    }

    /// Verifies a peer's new heads statement and records the receipts it carries.
    async fn verify_heads(&mut self, peer: PeerId, signed: &SignedHeads) -> Option<Heads> {
        let heads = match signed.verify(&self.network) {
            Ok(h) => h,
            Err(e) => {
                self.penalise(peer, &format!("invalid heads: {e}")).await;
                return None;
            }
        };
        if self.peers.get(&peer) != Some(&heads.member) {
            self.penalise(peer, "heads signed by another member").await;
            return None;
        }
        self.record_receipts(&heads);
        Some(heads)
    }

    /// A peer whose head for an origin names a different entry than ours at the same seq has
    /// seen a fork: fetch its entry, which either proves equivocation or is refused as forged.
    /// Only equal heads are compared, so no storage is read for the many statements that
    /// arrive.
    async fn check_fork(&mut self, peer: PeerId, head: &Head) {
        let (seq, id) = self.feeds.head(&head.origin);
        if head.seq == 0 || head.seq != seq || head.id == id || self.feeds.is_frozen(&head.origin) {
            return;
        }
        let tag = self.tag(Tag::Pull {
            origin: head.origin,
            from: head.seq,
        });
        let request = SyncRequest::Pull {
            origin: head.origin,
            from_seq: head.seq,
            limit: 1,
        };
        let _ = self.node.net.request(peer, request, tag).await;
    }

    /// Notes on disk when a member's signed heads first reached each new entry of our own
    /// feed: the receipts for every entry up to there. Receipts travel back to the issuer
    /// only; recording every member's progress on every origin would add members × origins
    /// rows to every node's store at each heads exchange.
    fn record_receipts(&mut self, heads: &Heads) {
        let me = self.signer.bureau();
        let seq = heads.seq_of(&me);
        let (last_at, last_seq) = self
            .member_heads
            .get(&heads.member)
            .copied()
            .unwrap_or((0, 0));
        if last_at >= heads.issued_at_ms {
            return;
        }
        if seq > last_seq
            && let Err(e) =
                self.node
                    .store
                    .put_ack_point(&heads.member, &me, seq, heads.issued_at_ms)
        {
            tracing::error!("cannot store receipt: {e}");
        }
        self.member_heads
            .insert(heads.member, (heads.issued_at_ms, seq.max(last_seq)));
    }

    async fn pull_from(&mut self, peer: PeerId, origin: BureauId, their_seq: u64) {
        let in_flight = self.in_flight.get(&origin).cloned().unwrap_or_default();
        for (from, to) in self.feeds.plan_pulls(&origin, their_seq, &in_flight) {
            let tag = self.tag(Tag::Pull { origin, from });
            let limit = u32::try_from(to - from + 1).unwrap_or(MAX_PAGE_ENTRIES);
            let request = SyncRequest::Pull {
                origin,
                from_seq: from,
                limit,
            };
            if self.node.net.request(peer, request, tag).await.is_ok() {
                self.in_flight.entry(origin).or_default().push(from);
            }
        }
    }

    /// After a page, keeps pulling `origin` from the connected peer that holds the most of it.
    async fn pull_more(&mut self, origin: BureauId) {
        let best = self
            .peer_heads
            .iter()
            .filter(|(p, _)| self.connected.contains(p))
            .map(|(p, h)| (*p, h.1.seq_of(&origin)))
            .max_by_key(|(_, seq)| *seq);
        if let Some((peer, seq)) = best
            && seq > self.feeds.head_seq(&origin)
        {
            self.pull_from(peer, origin, seq).await;
        }
    }

    /// A pull is done with: its range no longer counts as in flight.
    fn land(&mut self, origin: BureauId, from: u64) {
        if let Some(list) = self.in_flight.get_mut(&origin) {
            list.retain(|f| *f != from);
        }
    }

    /// Hands a page to the verifier thread, which checks it in arrival order while the core
    /// goes on; the result comes back as a `VerifiedPage`. A full queue drops the page (its
    /// range is pulled again later) rather than stalling the core.
    async fn verify_page(&mut self, peer: PeerId, origin: BureauId, from: u64, page: Vec<Vec<u8>>) {
        let pulled = PulledPage {
            peer,
            origin,
            from,
            page,
        };
        if self.to_verify.try_send(pulled).is_err() {
            tracing::debug!(%origin, from, "verifier busy: page dropped, pulled again later");
            self.land(origin, from);
        }
    }

    async fn on_verified(&mut self, page: VerifiedPage) {
        let VerifiedPage {
            peer,
            origin,
            from,
            results,
        } = page;
        self.land(origin, from);
        let results = match results {
            Ok(results) => results,
            Err(problem) => {
                self.penalise(peer, &problem).await;
                return;
            }
        };
        let mut run = Vec::new();
        for result in results {
            let entry = match result {
                Ok(e) => e,
                Err(e) => {
                    self.penalise(peer, &format!("invalid entry in page: {e}"))
                        .await;
                    break;
                }
            };
            match self.feeds.offer(entry) {
                Offer::Apply(applied) => run.extend(applied),
                Offer::AtOrBelowHead(entry) => {
                    let seq = entry.entry.seq;
                    let stored = self.node.store.entry(&origin, seq).ok().flatten();
                    if let Some(stored) = stored.filter(|s| *s != entry.wire) {
                        self.record_equivocation(origin, seq, &stored, &entry.wire);
                        break;
                    }
                }
                Offer::Equivocation { seq, first, second } => {
                    self.record_equivocation(origin, seq, &first, &second);
                    break;
                }
                Offer::ChainBroken => {
                    self.penalise(peer, "entry does not chain to its predecessor")
                        .await;
                    break;
                }
                _ => {}
            }
        }
        let progressed = !run.is_empty();
        self.persist_or_log(run);
        self.node
            .metrics
            .entries_pending
            .set(self.feeds.pending_len() as i64);
        // A page that brought nothing new (the peer's heads were stale, or it is lying) is
        // not followed up at once; the next heads exchange tries again.
        if progressed {
            self.pull_more(origin).await;
        }
    }
}

/// A pulled page as it arrived.
struct PulledPage {
    peer: PeerId,
    origin: BureauId,
    from: u64,
    page: Vec<Vec<u8>>,
}

/// A pulled page after signature verification: per entry, or why the page as a whole was
/// refused (malformed, out of order, of another feed).
struct VerifiedPage {
    peer: PeerId,
    origin: BureauId,
    from: u64,
    results: Result<Vec<Result<VerifiedEntry, EntryError>>, String>,
}

/// Starts the verifier thread: pages are decoded and verified one at a time, in arrival order,
/// each on all cores, so that the first page pulled is the first ready to apply and the core
/// applies it while the next is verified (pages verified side by side would all finish late
/// together). It stops when the core drops its sender.
fn spawn_verifier(
    network: NetworkId,
    mut pulled: mpsc::Receiver<PulledPage>,
    verified: mpsc::Sender<VerifiedPage>,
) {
    let spawned = std::thread::Builder::new()
        .name("striae-verify".into())
        .spawn(move || {
            while let Some(page) = pulled.blocking_recv() {
                let results = decode_page(page.origin, page.from, page.page)
                    .map(|decoded| verify_parallel(decoded, &network));
                let done = VerifiedPage {
                    peer: page.peer,
                    origin: page.origin,
                    from: page.from,
                    results,
                };
                if verified.blocking_send(done).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the verifier thread: {e}");
    }
}

/// Decodes a page and checks that it holds consecutive entries of `origin` from `from`.
fn decode_page(
    origin: BureauId,
    from: u64,
    page: Vec<Vec<u8>>,
) -> Result<Vec<UnverifiedEntry>, String> {
    let mut decoded = Vec::with_capacity(page.len());
    for (i, wire) in page.into_iter().enumerate() {
        let e = UnverifiedEntry::decode_owned(wire)
            .map_err(|e| format!("invalid entry in page: {e}"))?;
        if e.entry.origin != origin || e.entry.seq != from + i as u64 {
            return Err("page out of order or of another feed".into());
        }
        decoded.push(e);
    }
    Ok(decoded)
}

/// Verifies a page on all cores, in batches.
fn verify_parallel(
    entries: Vec<UnverifiedEntry>,
    network: &NetworkId,
) -> Vec<Result<VerifiedEntry, EntryError>> {
    use rayon::prelude::*;
    const CHUNK: usize = 256;
    let mut chunks: Vec<Vec<UnverifiedEntry>> = Vec::new();
    let mut rest = entries.into_iter().peekable();
    while rest.peek().is_some() {
        chunks.push(rest.by_ref().take(CHUNK).collect());
    }
    chunks
        .into_par_iter()
        .map(|chunk| verify_batch(chunk, network))
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect()
}
