//! The replication core: the one task that appends to feeds. Own entries (published through
//! `CoreHandle::publish`) and other members' entries (from gossip and sync) all pass through
//! it, in order. The decisions are made by the sans-IO `SyncState` (`sync.rs`); this module
//! only does the I/O it asks for: network requests, storage, the verifier thread, and the
//! registered capabilities (`capability.rs`), which it knows only through their trait.
//!
//! - `feeds`: in-order application, entries held ahead of gaps, equivocation, pull planning;
//! - `sync`: the state machine over heads, pages, gossip and timers;
//! - `verifier`: the thread that verifies pulled pages in arrival order;
//! - `services`: capability requests from other members, answered off the core, and the
//!   capabilities' periodic work;
//! - `capability`: the trait a capability implements;
//! - `limits`: per-member token buckets for the requests members send;
//! - `publish`: this node's own entries: waiting until it may sign, signing, one flush per
//!   batch, then gossip;
//! - `handle`: `CoreHandle`, how the rest of the node publishes, asks and observes.

pub mod capability;
pub mod feeds;
mod handle;
pub mod limits;
mod publish;
mod services;
pub mod sync;
pub mod verifier;

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use libp2p::{PeerId, gossipsub::MessageId, request_response::ResponseChannel};
use striae_protocol::{
    Body, BureauId, NetworkId, Signer, SyncRequest, SyncResponse, VerifiedEntry,
    feed::UnverifiedEntry,
    sync::{MAX_PAGE_BYTES, MAX_PAGE_ENTRIES},
    time::now_ms,
};
use tokio::sync::{mpsc, watch};

pub use capability::{Capabilities, Capability};
use feeds::Feeds;
pub use handle::{Applied, AskError, CoreError, CoreHandle, CoreInbox};
use handle::{AskReply, CoreCommand, PublishReply};
use limits::{RateLimits, RequestKind};
use services::ServiceCall;
use sync::{GossipVerdict, Input, Offence, Output, StoredEntries, SyncConfig, SyncState};
use verifier::{PulledPage, VerifiedPage};

use crate::{
    metrics::Metrics,
    net::{NetEvent, NetHandle, REQUEST_TIMEOUT, Verdict, fast_path::FastPath},
    store::{Store, StoreError},
};

/// Publications made durable by one flush, at most.
const MAX_PUBLISH_BATCH: usize = 64;
/// Most publications kept waiting while the node learns its own head after start.
const MAX_WAITING_PUBLICATIONS: usize = 4_096;
/// Pulled pages waiting for the verifier, and verified pages waiting to be applied (each is at
/// most one page in flight).
const VERIFIED_CAPACITY: usize = 64;
/// Application-score points taken from a peer per invalid entry it sent.
const PENALTY: f64 = 10.0;
/// Requests for the capabilities (traces, confirmations) waiting for a worker.
const SERVICE_QUEUE: usize = 64;
/// How often the core ticks the state machine's timers.
const TICK: Duration = Duration::from_millis(50);
/// A request whose answer has not come back this long after it was sent is given up on: the
/// transport reports every failure within `REQUEST_TIMEOUT`, so only an answer lost inside
/// the node (a dropped event) gets this far, and its range or caller must not wait forever.
const TAG_EXPIRY: Duration = Duration::from_secs(REQUEST_TIMEOUT.as_secs() + 10);

/// What the core needs to start.
pub struct CoreConfig {
    /// This node's key.
    pub signer: Signer,
    /// The network signatures are bound to.
    pub network: NetworkId,
    /// Every roster member, this node included.
    pub members: Vec<BureauId>,
    /// Timing of the heads exchange.
    pub sync: SyncConfig,
    /// Most bytes stored of one other member's feed.
    pub feed_quota_bytes: u64,
}

/// The pieces the core runs with.
pub struct CoreParts {
    /// Storage.
    pub store: Store,
    /// The network task's handle and its events.
    pub net: NetHandle,
    /// Events from the network task.
    pub net_events: mpsc::Receiver<NetEvent>,
    /// The network task's view of the feed tips.
    pub fast_path: Arc<FastPath>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The registered capabilities.
    pub capabilities: Capabilities,
    /// Per-member request budgets (shared with the capabilities, which charge their own).
    pub limits: Arc<RateLimits>,
}

/// Rebuilds every capability's projection from the stored feeds (one pass), then starts the
/// core task, the verifier thread, the capability workers and their periodic work. Returns
/// the tasks, which stop when `shutdown` turns true.
pub fn start(
    config: CoreConfig,
    parts: CoreParts,
    handle: &CoreHandle,
    inbox: CoreInbox,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, StoreError> {
    let stored_bytes = replay(&parts.store, &parts.capabilities)?;
    let mut feeds = Feeds::new(
        config.members.iter().copied(),
        parts.store.heads()?.iter().map(|h| (h.origin, h.seq, h.id)),
    );
    feeds.set_quota(
        config.signer.bureau(),
        config.feed_quota_bytes,
        stored_bytes,
    );
    for (origin, seq) in parts.store.evidence()? {
        tracing::warn!(%origin, seq, "member was caught equivocating: its feed stays frozen");
        feeds.freeze(origin);
    }
    let peers = config
        .members
        .iter()
        .filter_map(|b| b.peer_id().ok().map(|p| (p, *b)))
        .collect();
    let (verified_tx, verified_rx) = mpsc::channel(VERIFIED_CAPACITY);
    let (to_verify, pulled) = mpsc::channel(VERIFIED_CAPACITY);
    verifier::spawn(config.network, pulled, verified_tx);
    let (services_tx, services_rx) = mpsc::channel(SERVICE_QUEUE);
    let services_task = tokio::spawn(services::run(
        parts.capabilities.clone(),
        parts.net.clone(),
        services_rx,
        shutdown.clone(),
    ));
    let background_task = tokio::spawn(services::background(
        parts.capabilities.clone(),
        shutdown.clone(),
    ));
    let core = Core {
        sync: SyncState::new(
            config.signer.clone(),
            config.network,
            config.sync,
            feeds,
            rand::random(),
        ),
        me: config.signer.bureau(),
        signer: config.signer,
        network: config.network,
        store: parts.store,
        net: parts.net,
        events: parts.net_events,
        fast_path: parts.fast_path,
        metrics: parts.metrics,
        capabilities: parts.capabilities,
        limits: parts.limits,
        handle: handle.clone(),
        commands: inbox.commands,
        peers,
        tags: HashMap::new(),
        last_sweep: Instant::now(),
        next_tag: 1,
        to_verify,
        verified_rx,
        services: services_tx,
        waiting: VecDeque::new(),
        storage_failed: false,
    };
    let core_task = tokio::spawn(core.run(shutdown));
    Ok(vec![core_task, services_task, background_task])
}

/// Rebuilds the capabilities' in-memory projections from the stored feeds, in one pass;
/// returns the bytes stored of each feed.
fn replay(
    store: &Store,
    capabilities: &Capabilities,
) -> Result<HashMap<BureauId, u64>, StoreError> {
    let started = Instant::now();
    let mut entries = 0u64;
    let mut bytes: HashMap<BureauId, u64> = HashMap::new();
    store.for_each_entry_received(|entry, received_at_ms| {
        for capability in capabilities.iter() {
            capability.replay(&entry, received_at_ms);
        }
        *bytes.entry(entry.entry.origin).or_default() += entry.wire.len() as u64;
        entries += 1;
        Ok(())
    })?;
    for capability in capabilities.iter() {
        capability.replayed();
    }
    tracing::info!(
        entries,
        ms = started.elapsed().as_millis() as u64,
        "projections rebuilt from the stored feeds"
    );
    Ok(bytes)
}

impl StoredEntries for Store {
    fn stored(&self, origin: &BureauId, seq: u64) -> Option<Vec<u8>> {
        self.entry(origin, seq).ok().flatten()
    }
}

enum Tag {
    Heads,
    Pull { origin: BureauId, from: u64 },
    Ask(AskReply),
}

/// The core task's state: the sync state machine and the I/O around it.
struct Core {
    sync: SyncState,
    me: BureauId,
    signer: Signer,
    network: NetworkId,
    store: Store,
    net: NetHandle,
    events: mpsc::Receiver<NetEvent>,
    fast_path: Arc<FastPath>,
    metrics: Arc<Metrics>,
    capabilities: Capabilities,
    limits: Arc<RateLimits>,
    handle: CoreHandle,
    commands: mpsc::Receiver<CoreCommand>,
    /// Roster members by their libp2p peer id.
    peers: HashMap<PeerId, BureauId>,
    /// Requests in flight: what each answer is for, and when it was asked.
    tags: HashMap<u64, (Tag, Instant)>,
    last_sweep: Instant,
    next_tag: u64,
    to_verify: mpsc::Sender<PulledPage<PeerId>>,
    verified_rx: mpsc::Receiver<VerifiedPage<PeerId>>,
    services: mpsc::Sender<ServiceCall>,
    /// Publications that arrived before this node may sign (`SyncState::may_sign`).
    waiting: VecDeque<(Body, PublishReply)>,
    /// Storing or flushing our own entries failed: the core stops.
    storage_failed: bool,
}

impl Core {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(cmd) = self.commands.recv() => self.on_command(cmd).await,
                Some(page) = self.verified_rx.recv() => self.on_verified(page).await,
                Some(event) = self.events.recv() => self.on_net_event(event).await,
                _ = tick.tick() => {
                    self.step(Input::Tick).await;
                    self.sweep_tags();
                    self.publish_if_ready().await;
                }
            }
            if self.storage_failed {
                // Our feed in memory is ahead of what the disk may keep: announcing it (heads,
                // pages) could make us sign a second entry for the same seq after a restart.
                tracing::error!(
                    "STORAGE FAILED while publishing: replication stopped so that nothing unsaved is announced; fix the disk and restart the node"
                );
                break;
            }
        }
        tracing::debug!("replication core stopped");
    }

    /// Hands one input to the state machine and carries out what it says.
    async fn step(&mut self, input: Input) {
        let outputs = self.sync.handle(input, now_ms(), &self.store);
        self.carry_out(outputs, None).await;
    }

    /// Carries out the state machine's outputs in order; `gossip` names the message a
    /// `Verdict` is about.
    async fn carry_out(&mut self, outputs: Vec<Output>, gossip: Option<(&MessageId, PeerId)>) {
        for output in outputs {
            match output {
                Output::Verdict(verdict) => {
                    if let Some((message_id, source)) = gossip {
                        let verdict = match verdict {
                            GossipVerdict::Accept => Verdict::Accept,
                            GossipVerdict::Ignore => Verdict::Ignore,
                            GossipVerdict::Reject => Verdict::Reject,
                        };
                        let _ = self.net.report(message_id.clone(), source, verdict).await;
                    }
                }
                Output::Persist(run) => self.persist_or_log(run),
                Output::SendHeads(member) => self.send_heads(member).await,
                Output::Pull {
                    peer,
                    origin,
                    from_seq,
                    limit,
                } => self.pull(peer, origin, from_seq, limit).await,
                Output::Penalise { peer, offence } => self.penalise(peer, offence).await,
                Output::Equivocation {
                    origin,
                    seq,
                    first,
                    second,
                } => self.record_equivocation(origin, seq, &first, &second),
                Output::Receipt { member, seq, at_ms } => {
                    if let Err(e) = self.store.put_ack_point(&member, &self.me, seq, at_ms) {
                        tracing::error!("cannot store receipt: {e}");
                    }
                }
            }
        }
    }

    // ---- own entries ----

    async fn on_command(&mut self, cmd: CoreCommand) {
        match cmd {
            CoreCommand::Publish { body, reply } => {
                if self.waiting.len() >= MAX_WAITING_PUBLICATIONS {
                    let _ = reply.send(Err(CoreError::CatchingUp));
                    return;
                }
                self.waiting.push_back((body, reply));
                self.publish_if_ready().await;
            }
            CoreCommand::Ask {
                peer,
                request,
                reply,
            } => {
                let tag = self.tag(Tag::Ask(reply));
                if let Err(e) = self.net.request(peer, request, tag).await
                    && let Some((Tag::Ask(reply), _)) = self.tags.remove(&tag)
                {
                    let _ = reply.send(Err(AskError::Network(e.to_string())));
                }
            }
        }
    }

    /// Appends a run of entries of one origin: entries, then projections, then the head.
    fn persist(&mut self, run: Vec<VerifiedEntry>) -> Result<(), StoreError> {
        let Some(last) = run.last() else {
            return Ok(());
        };
        let (origin, seq, id) = (last.entry.origin, last.entry.seq, last.id);
        self.store.put_entries(&run)?;
        let received_at = now_ms();
        for capability in self.capabilities.iter() {
            capability.apply(&run, received_at)?;
        }
        self.store.set_head(&origin, seq, &id)?;
        self.fast_path.set_tip(origin, seq, id);
        let at = Instant::now();
        self.metrics.entries_applied.inc_by(run.len() as u64);
        for e in &run {
            let _ = self.handle.applied.send(Applied {
                origin: e.entry.origin,
                seq: e.entry.seq,
                id: e.id,
                at,
            });
        }
        Ok(())
    }

    fn persist_or_log(&mut self, run: Vec<VerifiedEntry>) {
        if let Err(e) = self.persist(run) {
            tracing::error!("cannot store entries: {e}");
        }
    }

    fn record_equivocation(&mut self, origin: BureauId, seq: u64, first: &[u8], second: &[u8]) {
        tracing::error!(%origin, seq, "EQUIVOCATION: two different signed entries for one seq; feed frozen, evidence kept");
        self.metrics.rejected("equivocation");
        self.fast_path.close(&origin);
        if let Err(e) = self.store.put_evidence(&origin, seq, first, second) {
            tracing::error!("cannot store equivocation evidence: {e}");
        }
    }

    // ---- network events ----

    async fn on_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Gossip {
                message_id,
                source,
                data,
            } => self.on_gossip(message_id, source, &data).await,
            NetEvent::Accepted { source, entry } => {
                self.metrics.gossip_received.inc();
                if let Some(from) = self.peers.get(&source).copied() {
                    self.step(Input::Accepted { from, entry }).await;
                }
            }
            NetEvent::Request {
                peer,
                request,
                channel,
            } => self.on_request(peer, request, channel).await,
            NetEvent::Response { peer, tag, result } => self.on_response(peer, tag, result).await,
            NetEvent::Connected(peer) => self.on_connection(peer, true).await,
            NetEvent::Disconnected(peer) => self.on_connection(peer, false).await,
        }
    }

    async fn on_gossip(&mut self, message_id: MessageId, source: PeerId, data: &[u8]) {
        self.metrics.gossip_received.inc();
        let Some(from) = self.peers.get(&source).copied() else {
            let _ = self.net.report(message_id, source, Verdict::Ignore).await;
            return;
        };
        let entry = UnverifiedEntry::decode(data).and_then(|e| e.verify(&self.network));
        let outputs = self
            .sync
            .handle(Input::Gossip { from, entry }, now_ms(), &self.store);
        self.carry_out(outputs, Some((&message_id, source))).await;
    }

    async fn on_connection(&mut self, peer: PeerId, up: bool) {
        let Some(member) = self.peers.get(&peer).copied() else {
            return;
        };
        if let Ok(mut set) = self.handle.status.connected.lock() {
            if up {
                set.insert(member);
            } else {
                set.remove(&member);
            }
            self.metrics.peers_connected.set(set.len() as i64);
        }
        let input = if up {
            Input::Connected(member)
        } else {
            Input::Disconnected(member)
        };
        self.step(input).await;
    }

    async fn penalise(&self, member: BureauId, offence: Offence) {
        self.metrics.rejected(offence.label());
        if let Ok(mut map) = self.handle.status.rejected_from.lock() {
            *map.entry(member).or_insert(0) += 1;
        }
        tracing::warn!(%member, ?offence, "refused what a member sent");
        if let Ok(peer) = member.peer_id() {
            let _ = self.net.penalise(peer, PENALTY).await;
        }
    }

    // ---- sync requests and answers ----

    fn tag(&mut self, tag: Tag) -> u64 {
        let id = self.next_tag;
        self.next_tag += 1;
        self.tags.insert(id, (tag, Instant::now()));
        id
    }

    async fn request(&mut self, member: BureauId, request: SyncRequest, tag: Tag) -> bool {
        let Ok(peer) = member.peer_id() else {
            return false;
        };
        let tag = self.tag(tag);
        if self.net.request(peer, request, tag).await.is_err() {
            self.tags.remove(&tag);
            return false;
        }
        true
    }

    /// Gives up on requests whose answers never came back (see `TAG_EXPIRY`): a pull's range
    /// is free to be pulled again, and a caller of `ask` hears that the member did not answer.
    fn sweep_tags(&mut self) {
        if self.last_sweep.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_sweep = Instant::now();
        let expired: Vec<u64> = self
            .tags
            .iter()
            .filter(|(_, (_, asked))| asked.elapsed() >= TAG_EXPIRY)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            match self.tags.remove(&id) {
                Some((Tag::Pull { origin, from }, _)) => self.step_now(Input::PullFailed {
                    origin,
                    from_seq: from,
                }),
                Some((Tag::Ask(reply), _)) => {
                    let _ = reply.send(Err(AskError::TimedOut));
                }
                Some((Tag::Heads, _)) | None => {}
            }
        }
    }

    async fn send_heads(&mut self, member: BureauId) {
        let Ok(heads) = self.sync.own_heads(now_ms()) else {
            return;
        };
        self.request(member, SyncRequest::Heads((*heads).clone()), Tag::Heads)
            .await;
    }

    async fn pull(&mut self, peer: BureauId, origin: BureauId, from_seq: u64, limit: u32) {
        let request = SyncRequest::Pull {
            origin,
            from_seq,
            limit,
        };
        let tag = Tag::Pull {
            origin,
            from: from_seq,
        };
        if !self.request(peer, request, tag).await {
            self.step_now(Input::PullFailed { origin, from_seq });
        }
    }

    /// Hands an input that cannot produce outputs (a range landing) to the state machine.
    fn step_now(&mut self, input: Input) {
        let outputs = self.sync.handle(input, now_ms(), &self.store);
        debug_assert!(outputs.is_empty());
    }

    async fn on_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        self.metrics.requests_served.inc();
        let Some(from) = self.peers.get(&peer).copied() else {
            return;
        };
        if let Some(kind) = self.over_budget(from, &request) {
            self.metrics.refused(kind.label());
            let refused = SyncResponse::Refused(format!("rate limited: {}", kind.label()));
            let _ = self.net.respond(channel, refused).await;
            return;
        }
        let response = match request {
            SyncRequest::Heads(signed) => {
                let signed = Arc::new(signed);
                self.step(Input::Heads { from, signed }).await;
                match self.sync.own_heads(now_ms()) {
                    Ok(h) => SyncResponse::Heads((*h).clone()),
                    Err(e) => SyncResponse::Refused(e.to_string()),
                }
            }
            SyncRequest::Pull {
                origin,
                from_seq,
                limit,
            } => {
                let page = self.serve_pull(origin, from_seq, limit);
                if let SyncResponse::Entries(list) = &page {
                    let bytes: usize = list.iter().map(Vec::len).sum();
                    self.limits
                        .charge(from, RequestKind::PullBytes, bytes as f64);
                }
                page
            }
            request => return self.hand_to_capability(from, request, channel).await,
        };
        let _ = self.net.respond(channel, response).await;
    }

    /// The budget `request` would overdraw, if any. Pulls are charged the bytes served
    /// afterwards; a member whose budget is spent is refused until it refills.
    fn over_budget(&self, from: BureauId, request: &SyncRequest) -> Option<RequestKind> {
        let (kind, cost) = match request {
            SyncRequest::Heads(_) => (RequestKind::Heads, 1.0),
            SyncRequest::Pull { .. } => (RequestKind::PullBytes, 0.0),
            SyncRequest::Trace(_) | SyncRequest::TraceAnswer(_) => (RequestKind::Trace, 1.0),
            // The capability charges the exhibits beyond the first once it has read them.
            SyncRequest::Confirm(_) | SyncRequest::BulletConfirm(_) | SyncRequest::Picture(_) => {
                (RequestKind::ConfirmExhibit, 1.0)
            }
            SyncRequest::SharedDigests(_) => (RequestKind::SharedDigests, 1.0),
            // Flood protection only; the holder's own policy limit answers `rate_limited`.
            SyncRequest::Query(_) | SyncRequest::QueryAnswer(_) => (RequestKind::Query, 1.0),
            SyncRequest::Operation(_) => (RequestKind::Operation, 1.0),
        };
        (!self.limits.allow(from, kind, cost)).then_some(kind)
    }

    /// Hands a capability's request to the worker pool: capabilities answer off the core (a
    /// comparison takes a second of CPU, and replication must not wait for it).
    async fn hand_to_capability(
        &mut self,
        from: BureauId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        let call = ServiceCall {
            from,
            request,
            channel,
        };
        if let Err(
            mpsc::error::TrySendError::Full(call) | mpsc::error::TrySendError::Closed(call),
        ) = self.services.try_send(call)
        {
            let busy = SyncResponse::Refused("busy: try again shortly".into());
            let _ = self.net.respond(call.channel, busy).await;
        }
    }

    fn serve_pull(&self, origin: BureauId, from_seq: u64, limit: u32) -> SyncResponse {
        if from_seq == 0 {
            return SyncResponse::Refused("from_seq starts at 1".into());
        }
        let limit = limit.min(MAX_PAGE_ENTRIES) as usize;
        match self
            .store
            .entries_from(&origin, from_seq, limit, MAX_PAGE_BYTES)
        {
            Ok(list) => SyncResponse::Entries(list),
            Err(e) => SyncResponse::Refused(format!("storage: {e}")),
        }
    }

    async fn on_response(&mut self, peer: PeerId, tag: u64, result: Result<SyncResponse, String>) {
        let Some((tag, _)) = self.tags.remove(&tag) else {
            return;
        };
        let Some(from) = self.peers.get(&peer).copied() else {
            return;
        };
        match (tag, result) {
            (Tag::Ask(reply), result) => {
                let _ = reply.send(result.map_err(AskError::Network));
            }
            (Tag::Heads, Ok(SyncResponse::Heads(signed))) => {
                let signed = Arc::new(signed);
                self.step(Input::Heads { from, signed }).await
            }
            (
                Tag::Pull {
                    origin,
                    from: first,
                },
                Ok(SyncResponse::Entries(page)),
            ) => {
                self.metrics.pages_pulled.inc();
                self.verify_page(peer, origin, first, page);
                // The range stays in flight until its entries are applied.
                self.step(Input::PageArrived { from, origin }).await;
            }
            (
                Tag::Pull {
                    origin,
                    from: first,
                },
                other,
            ) => {
                // Failed or refused: the next heads exchange retries, so a failing peer cannot
                // spin the core.
                if let Err(e) = other {
                    tracing::debug!(%peer, "pull failed: {e}");
                }
                self.step_now(Input::PullFailed {
                    origin,
                    from_seq: first,
                });
            }
            (Tag::Heads, Ok(SyncResponse::Refused(why))) => {
                tracing::debug!(%peer, "heads refused: {why}")
            }
            (Tag::Heads, Err(e)) => tracing::debug!(%peer, "heads exchange failed: {e}"),
            (Tag::Heads, Ok(_)) => {}
        }
    }

    /// Hands a page to the verifier thread, which checks it in arrival order while the core
    /// goes on; the result comes back as a `VerifiedPage`. A full queue drops the page (its
    /// range is pulled again later) rather than stalling the core.
    fn verify_page(&mut self, peer: PeerId, origin: BureauId, from: u64, page: Vec<Vec<u8>>) {
        let pulled = PulledPage {
            peer,
            origin,
            from,
            page,
        };
        if self.to_verify.try_send(pulled).is_err() {
            tracing::debug!(%origin, from, "verifier busy: page dropped, pulled again later");
            self.step_now(Input::PullFailed {
                origin,
                from_seq: from,
            });
        }
    }

    async fn on_verified(&mut self, page: VerifiedPage<PeerId>) {
        let Some(from) = self.peers.get(&page.peer).copied() else {
            return;
        };
        self.step(Input::PageVerified {
            from,
            origin: page.origin,
            from_seq: page.from,
            results: page.results,
        })
        .await;
        self.metrics
            .entries_pending
            .set(self.sync.feeds().pending_len() as i64);
    }
}
