//! The libp2p behaviour of a member: roster allow-list, connection limits, gossipsub for new
//! entries, request-response for sync, identify and ping.

use std::{collections::HashSet, time::Duration};

use libp2p::{
    allow_block_list, connection_limits, gossipsub, identify, identity::Keypair, ping,
    request_response, swarm::NetworkBehaviour,
};

use super::codec::{SYNC_PROTOCOL, SyncCodec};

/// The gossipsub topic that carries new feed entries.
pub const ENTRIES_TOPIC: &str = "striae/entries/1";

/// The combined behaviour.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Only roster members get past the handshake.
    pub allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    /// Caps on connections.
    pub limits: connection_limits::Behaviour,
    /// The fast path for new entries.
    pub gossip:
        gossipsub::Behaviour<gossipsub::IdentityTransform, gossipsub::WhitelistSubscriptionFilter>,
    /// Heads exchange and pulls.
    pub sync: request_response::Behaviour<SyncCodec>,
    /// Protocol and address exchange.
    pub identify: identify::Behaviour,
    /// Liveness.
    pub ping: ping::Behaviour,
}

/// Errors building the behaviour (configuration bugs, reported at start).
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// Gossipsub refused its configuration.
    #[error("gossipsub configuration")]
    Config(#[source] gossipsub::ConfigBuilderError),
    /// Gossipsub refused to start or to score peers (libp2p reports these as text).
    #[error("gossipsub: {0}")]
    Gossip(String),
    /// Gossipsub refused the subscription to the entries topic.
    #[error("gossipsub subscription")]
    Subscribe(#[source] gossipsub::SubscriptionError),
}

/// The gossip mesh: how many members each member forwards a new entry to.
struct MeshDegree {
    target: usize,
    low: usize,
    high: usize,
    outbound_min: usize,
    lazy: usize,
}

/// Every copy of a message a member receives costs a signature check (gossipsub's, in Strict
/// mode, before duplicates are dropped), a decryption and a timer, and with many members on
/// few cores those copies, not the first arrival, set how fast a notice reaches everyone: at
/// 196 members on two cores, gossipsub's default mesh of 6 (5 to 12) spent about 390 ms of CPU
/// per notice, a mesh of 3 (2 to 5) about 150 ms. A smaller mesh means more hops, but members
/// are vetted, the lazy gossip of message ids still reaches peers outside the mesh at every
/// heartbeat, and the heads exchange delivers whatever gossip misses.
const MESH: MeshDegree = MeshDegree {
    target: 3,
    low: 2,
    high: 5,
    outbound_min: 1,
    lazy: 3,
};

/// Gossipsub settings: strict signing, our own validation before forwarding, content-addressed
/// message ids (so a re-sent entry is recognised as the same message), and scoring that
/// punishes invalid messages but not the many members that share one host in tests.
fn gossip(
    key: &Keypair,
    heartbeat: Duration,
    roster_size: usize,
) -> Result<
    gossipsub::Behaviour<gossipsub::IdentityTransform, gossipsub::WhitelistSubscriptionFilter>,
    BehaviourError,
> {
    let mut builder = gossipsub::ConfigBuilder::default();
    builder
        .mesh_n(MESH.target)
        .mesh_n_low(MESH.low)
        .mesh_n_high(MESH.high)
        .mesh_outbound_min(MESH.outbound_min)
        .gossip_lazy(MESH.lazy);
    let config = builder
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(&blake3::hash(&m.data).as_bytes()[..20])
        })
        // A whole entry (a digest batch can be half a megabyte) plus the envelope.
        .max_transmit_size(striae_protocol::codec::MAX_ENTRY_BYTES + 4096)
        .heartbeat_interval(heartbeat)
        .heartbeat_initial_delay(Duration::from_millis(100))
        .duplicate_cache_time(Duration::from_secs(120))
        .build()
        .map_err(BehaviourError::Config)?;
    let topic = gossipsub::IdentTopic::new(ENTRIES_TOPIC);
    let filter = gossipsub::WhitelistSubscriptionFilter(HashSet::from([topic.hash()]));
    let mut behaviour = gossipsub::Behaviour::new_with_subscription_filter(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        config,
        filter,
    )
    .map_err(|e| BehaviourError::Gossip(e.to_string()))?;
    let (params, thresholds) = score_params(&topic, roster_size);
    behaviour
        .with_peer_score(params, thresholds)
        .map_err(|e| BehaviourError::Gossip(e.to_string()))?;
    behaviour
        .subscribe(&topic)
        .map_err(BehaviourError::Subscribe)?;
    Ok(behaviour)
}

fn score_params(
    topic: &gossipsub::IdentTopic,
    roster_size: usize,
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        // Members are known and few: only misbehaviour moves a score, so a negative score
        // always means something was wrong.
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams {
        // Every member may run on the same host in tests and small deployments.
        ip_colocation_factor_weight: 0.0,
        app_specific_weight: 1.0,
        ..Default::default()
    };
    params.topics.insert(topic.hash(), topic_params);
    params.topic_score_cap = 0.0;
    let _ = roster_size;
    (params, gossipsub::PeerScoreThresholds::default())
}

impl Behaviour {
    /// Builds the behaviour for `key`.
    pub fn new(
        key: &Keypair,
        heartbeat: Duration,
        roster_size: usize,
    ) -> Result<Self, BehaviourError> {
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_pending_incoming(Some(256))
            .with_max_pending_outgoing(Some(512))
            .with_max_established_per_peer(Some(2))
            .with_max_established(Some((roster_size as u32 * 2 + 16).max(64)));
        let sync = request_response::Behaviour::with_codec(
            SyncCodec,
            [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(super::REQUEST_TIMEOUT)
                .with_max_concurrent_streams(256),
        );
        Ok(Behaviour {
            allow: allow_block_list::Behaviour::default(),
            limits: connection_limits::Behaviour::new(limits),
            gossip: gossip(key, heartbeat, roster_size)?,
            sync,
            identify: identify::Behaviour::new(identify::Config::new(
                "/striae/1".into(),
                key.public(),
            )),
            ping: ping::Behaviour::new(ping::Config::new()),
        })
    }
}
