//! Networking: one task owns the libp2p Swarm (`EventLoop`); the rest of the node talks to it
//! through a cloneable `NetHandle` that sends commands on a bounded channel, and receives
//! `NetEvent`s on another bounded channel.

pub mod behaviour;
pub mod codec;
pub mod fast_path;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, Transport,
    core::upgrade::Version,
    gossipsub, noise,
    pnet::{PnetConfig, PreSharedKey},
    request_response::{self, OutboundRequestId, ResponseChannel},
    swarm::{SwarmEvent, dial_opts::DialOpts},
    tcp, yamux,
};
use striae_protocol::{BureauId, Signer, SyncRequest, SyncResponse, VerifiedEntry};
use tokio::sync::{mpsc, oneshot};

use behaviour::{Behaviour, BehaviourEvent, ENTRIES_TOPIC};
use fast_path::FastPath;

/// How long a request to a member may go unanswered before the transport gives up on it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Capacity of the command channel into the network task.
pub const COMMAND_CAPACITY: usize = 1024;
/// Capacity of the event channel out of the network task.
pub const EVENT_CAPACITY: usize = 4096;

/// Network failures the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The transport or behaviour could not be built.
    #[error("cannot build the network stack")]
    Build(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A roster member's key does not make a libp2p peer id.
    #[error("a roster member's key is not a libp2p key")]
    Member(#[source] striae_protocol::IdentityError),
    /// A listen address was refused.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        source: libp2p::TransportError<std::io::Error>,
    },
    /// The network task has stopped (the node is shutting down).
    #[error("the network task has stopped")]
    Stopped,
    /// Gossipsub refused to publish.
    #[error("gossip publish failed")]
    Publish(#[source] gossipsub::PublishError),
}

/// A member's connection state as the network task sees it.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The member.
    pub bureau: BureauId,
    /// Connected now.
    pub connected: bool,
    /// Last time a connection was up, ms since epoch (0 = never).
    pub last_seen_ms: u64,
    /// Gossipsub score (negative after invalid messages).
    pub gossip_score: f64,
}

/// What the network task tells the rest of the node.
#[derive(Debug)]
pub enum NetEvent {
    /// A gossiped entry awaits validation; answer with `NetHandle::report`.
    Gossip {
        /// Gossipsub's id for the message.
        message_id: gossipsub::MessageId,
        /// The peer it came from (not necessarily its origin).
        source: PeerId,
        /// The payload: a `WireEntry` encoding.
        data: Vec<u8>,
    },
    /// A gossiped entry that extends a feed where this node holds it: verified and already
    /// accepted (forwarded) by the fast path; the core applies it.
    Accepted {
        /// The peer it came from.
        source: PeerId,
        /// The entry.
        entry: VerifiedEntry,
    },
    /// A member asks something; answer with `NetHandle::respond`.
    Request {
        /// Who asks.
        peer: PeerId,
        /// What.
        request: SyncRequest,
        /// Where the answer goes.
        channel: ResponseChannel<SyncResponse>,
    },
    /// The answer to a `NetHandle::request` with this tag.
    Response {
        /// Who answered.
        peer: PeerId,
        /// The caller's tag.
        tag: u64,
        /// The answer or why there is none.
        result: Result<SyncResponse, String>,
    },
    /// A member connected.
    Connected(PeerId),
    /// A member's last connection closed.
    Disconnected(PeerId),
}

/// Outcome of validating a gossiped entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: forward it.
    Accept,
    /// Harmless but not to be forwarded (duplicate, held for a gap, overloaded).
    Ignore,
    /// Invalid: drop it and penalise the sender.
    Reject,
}

enum Command {
    Publish {
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Report {
        message_id: gossipsub::MessageId,
        source: PeerId,
        verdict: Verdict,
    },
    Request {
        peer: PeerId,
        request: SyncRequest,
        tag: u64,
    },
    Respond {
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    Penalise {
        peer: PeerId,
        points: f64,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
}

/// The cloneable handle to the network task.
#[derive(Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
}

impl NetHandle {
    async fn send(&self, cmd: Command) -> Result<(), NetError> {
        self.commands.send(cmd).await.map_err(|_| NetError::Stopped)
    }

    /// Publishes raw bytes on the entries topic. The node publishes its own signed entries
    /// through this; anything else is rejected by every receiver.
    pub async fn publish(&self, data: Vec<u8>) -> Result<(), NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { data, reply }).await?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Tells gossipsub whether to forward a message.
    pub async fn report(
        &self,
        message_id: gossipsub::MessageId,
        source: PeerId,
        verdict: Verdict,
    ) -> Result<(), NetError> {
        self.send(Command::Report {
            message_id,
            source,
            verdict,
        })
        .await
    }

    /// Sends a sync request; the answer comes back as `NetEvent::Response` with `tag`.
    pub async fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
        tag: u64,
    ) -> Result<(), NetError> {
        self.send(Command::Request { peer, request, tag }).await
    }

    /// Answers a sync request.
    pub async fn respond(
        &self,
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    ) -> Result<(), NetError> {
        self.send(Command::Respond { channel, response }).await
    }

    /// Lowers a peer's application score (it sent something invalid outside gossipsub's view).
    pub async fn penalise(&self, peer: PeerId, points: f64) -> Result<(), NetError> {
        self.send(Command::Penalise { peer, points }).await
    }

    /// The roster members and their connection state.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Peers { reply }).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The addresses the swarm listens on (useful with port 0).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::ListenAddrs { reply }).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }
}

/// What the network task needs to start.
pub struct NetConfig {
    /// The node key.
    pub signer: Signer,
    /// Pre-shared network key.
    pub psk: [u8; 32],
    /// Where to listen.
    pub listen: Vec<Multiaddr>,
    /// Every roster member except ourselves, with addresses.
    pub members: Vec<(BureauId, Vec<Multiaddr>)>,
    /// The members this node dials (others may dial in).
    pub dial: Vec<BureauId>,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
    /// Fastest redial.
    pub redial_min: Duration,
    /// Slowest redial.
    pub redial_max: Duration,
    /// Feed tips for accepting in-sequence gossip without a round trip to the core.
    pub fast_path: Arc<FastPath>,
}

struct Redial {
    next_at: Instant,
    delay: Duration,
}

/// The task that owns the Swarm.
pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    members: HashMap<PeerId, (BureauId, Vec<Multiaddr>)>,
    dial: Vec<PeerId>,
    redial: HashMap<PeerId, Redial>,
    last_seen: HashMap<PeerId, u64>,
    app_scores: HashMap<PeerId, f64>,
    pending: HashMap<OutboundRequestId, (PeerId, u64)>,
    topic: gossipsub::IdentTopic,
    redial_min: Duration,
    redial_max: Duration,
    fast_path: Arc<FastPath>,
}

fn build_swarm(config: &NetConfig) -> Result<Swarm<Behaviour>, NetError> {
    let psk = PreSharedKey::new(config.psk);
    let roster_size = config.members.len() + 1;
    let heartbeat = config.heartbeat;
    let swarm = SwarmBuilder::with_existing_identity(config.signer.keypair())
        .with_tokio()
        .with_other_transport(|key| {
            let noise = noise::Config::new(key)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                    .and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))
                    .upgrade(Version::V1Lazy)
                    .authenticate(noise)
                    .multiplex(yamux::Config::default()),
            )
        })
        .map_err(|e| NetError::Build(Box::new(e)))?
        .with_behaviour(|key| {
            Behaviour::new(key, heartbeat, roster_size)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .map_err(|e| NetError::Build(Box::new(e)))?
        .with_swarm_config(|c| {
            // Members stay connected: replication and receipts depend on it.
            c.with_idle_connection_timeout(Duration::from_secs(3600))
        })
        .build();
    Ok(swarm)
}

/// Builds the network stack and starts listening. Returns the handle, the event stream and the
/// loop to spawn.
pub fn new(
    config: NetConfig,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>, EventLoop), NetError> {
    let mut swarm = build_swarm(&config)?;
    let mut members = HashMap::new();
    for (bureau, addrs) in &config.members {
        let peer = bureau.peer_id().map_err(NetError::Member)?;
        swarm.behaviour_mut().allow.allow_peer(peer);
        for addr in addrs {
            swarm.add_peer_address(peer, addr.clone());
        }
        members.insert(peer, (*bureau, addrs.clone()));
    }
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|source| NetError::Listen {
                addr: addr.clone(),
                source,
            })?;
    }
    let dial = config
        .dial
        .iter()
        .filter_map(|b| b.peer_id().ok())
        .filter(|p| members.contains_key(p))
        .collect();
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_CAPACITY);
    let event_loop = EventLoop {
        swarm,
        commands: cmd_rx,
        events: ev_tx,
        members,
        dial,
        redial: HashMap::new(),
        last_seen: HashMap::new(),
        app_scores: HashMap::new(),
        pending: HashMap::new(),
        topic: gossipsub::IdentTopic::new(ENTRIES_TOPIC),
        redial_min: config.redial_min,
        redial_max: config.redial_max,
        fast_path: config.fast_path.clone(),
    };
    Ok((NetHandle { commands: cmd_tx }, ev_rx, event_loop))
}

impl EventLoop {
    /// Runs until every `NetHandle` is dropped.
    pub async fn run(mut self) {
        let mut redial_tick = tokio::time::interval(self.redial_min);
        redial_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = redial_tick.tick() => self.redial_members(),
            }
        }
        tracing::debug!("network task stopped");
    }

    fn emit(&self, event: NetEvent) -> bool {
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("node is busy: dropping a network event (it will be re-synced)");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { data, reply } => {
                let result = self.publish(data);
                let _ = reply.send(result);
            }
            Command::Report {
                message_id,
                source,
                verdict,
            } => {
                let acceptance = match verdict {
                    Verdict::Accept => gossipsub::MessageAcceptance::Accept,
                    Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
                    Verdict::Reject => gossipsub::MessageAcceptance::Reject,
                };
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(&message_id, &source, acceptance);
            }
            Command::Request { peer, request, tag } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending.insert(id, (peer, tag));
            }
            Command::Respond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Command::Penalise { peer, points } => {
                let score = self.app_scores.entry(peer).or_insert(0.0);
                *score -= points;
                let score = *score;
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .set_application_score(&peer, score);
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
        }
    }

    fn publish(&mut self, data: Vec<u8>) -> Result<(), NetError> {
        match self
            .swarm
            .behaviour_mut()
            .gossip
            .publish(self.topic.clone(), data)
        {
            Ok(_) => Ok(()),
            // Nobody to tell right now: sync delivers the entry when members connect.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic)
            | Err(gossipsub::PublishError::Duplicate) => Ok(()),
            Err(e) => Err(NetError::Publish(e)),
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let now = striae_protocol::time::now_ms();
        self.members
            .iter()
            .map(|(peer, (bureau, _))| {
                let connected = self.swarm.is_connected(peer);
                PeerInfo {
                    bureau: *bureau,
                    connected,
                    last_seen_ms: if connected {
                        now
                    } else {
                        self.last_seen.get(peer).copied().unwrap_or(0)
                    },
                    gossip_score: self
                        .swarm
                        .behaviour()
                        .gossip
                        .peer_score(peer)
                        .unwrap_or(0.0),
                }
            })
            .collect()
    }

    fn redial_members(&mut self) {
        let now = Instant::now();
        for peer in self.dial.clone() {
            if self.swarm.is_connected(&peer) {
                continue;
            }
            let min = self.redial_min;
            let state = self.redial.entry(peer).or_insert(Redial {
                next_at: now,
                delay: min,
            });
            if state.next_at > now {
                continue;
            }
            state.delay = (state.delay * 2).min(self.redial_max);
            state.next_at = now + state.delay;
            let addrs = self
                .members
                .get(&peer)
                .map(|m| m.1.clone())
                .unwrap_or_default();
            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, "dial not started: {e}");
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(ev)) => self.on_gossip(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync(ev),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                self.redial.remove(&peer_id);
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, "member connected");
                    self.emit(NetEvent::Connected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.last_seen
                    .insert(peer_id, striae_protocol::time::now_ms());
                tracing::info!(peer = %peer_id, "member disconnected");
                self.emit(NetEvent::Disconnected(peer_id));
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!("incoming connection refused: {error}");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "outgoing connection failed: {error}");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        if let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        {
            if let Some(entry) = self.fast_path.check(&message.data) {
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Accept,
                    );
                // Already forwarded; if the core is too busy to take it, sync brings it.
                self.emit(NetEvent::Accepted {
                    source: propagation_source,
                    entry,
                });
                return;
            }
            let delivered = self.emit(NetEvent::Gossip {
                message_id: message_id.clone(),
                source: propagation_source,
                data: message.data,
            });
            if !delivered {
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Ignore,
                    );
            }
        }
    }

    fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.emit(NetEvent::Request {
                        peer,
                        request,
                        channel,
                    });
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((peer, tag)) = self.pending.remove(&request_id) {
                        self.emit(NetEvent::Response {
                            peer,
                            tag,
                            result: Ok(response),
                        });
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((peer, tag)) = self.pending.remove(&request_id) {
                    self.emit(NetEvent::Response {
                        peer,
                        tag,
                        result: Err(error.to_string()),
                    });
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "inbound sync failure: {error}");
            }
            _ => {}
        }
    }
}
