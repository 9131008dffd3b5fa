//! The composition root: starts storage, the network task, the capabilities, the replication
//! core and the API, wires them together, and owns their shutdown. This is the one place that
//! names every part; the core knows capabilities only through `core::Capability`, and
//! capabilities know the node only through their `Context`.

use std::{collections::HashSet, net::SocketAddr, ops::Deref, sync::Arc};

use libp2p::Multiaddr;
use striae_protocol::{BureauId, firearm::DigestKey};
use tokio::sync::{broadcast, watch};

use crate::{
    accounts::{Accounts, AccountsError},
    analysis::AnalysisNode,
    audit::AuditLog,
    ballistics::{Ballistics, BallisticsNode},
    cases::CasesNode,
    config::{self, ConfigError, NodeConfig},
    context::{Context, ContextInner},
    core::{self, Applied, Capabilities, CoreConfig, CoreHandle, CoreParts, sync::SyncConfig},
    firearms::{Firearms, FirearmsNode},
    metrics::Metrics,
    net::{self, NetConfig, NetError, NetHandle, fast_path::FastPath},
    notices::Notices,
    operations::{Operations, OperationsNode},
    store::{Store, StoreError},
};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Configuration, key or token problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The users cannot be opened.
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    /// The blob store (`[blobs]`) cannot be set up.
    #[error(transparent)]
    Blobs(#[from] crate::ballistics::BlobError),
    /// Network problem.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Publishing failed.
    #[error(transparent)]
    Core(#[from] core::CoreError),
    /// The API's certificate or key (`[api] tls_cert`, `tls_key`) cannot be used.
    #[error("cannot use the API's certificate {cert} and key {key}: {source}")]
    ApiTls {
        /// The certificate file.
        cert: std::path::PathBuf,
        /// The key file.
        key: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The API address could not be bound.
    #[error("cannot listen on {addr} for the API: {source}")]
    ApiListen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A cloneable handle to a running node, for the API, the devnet and tests: the capabilities'
/// shared context (through `Deref`), the network, and each capability.
#[derive(Clone)]
pub struct NodeHandle {
    /// What every capability works with.
    pub ctx: Context,
    /// Network task handle.
    pub net: NetHandle,
    /// The API's users and their tokens (the bootstrap token is the first admin's).
    pub accounts: Arc<Accounts>,
    /// Notices held, from every feed.
    pub notices: Arc<Notices>,
    /// Firearm records, digests held, traces.
    pub firearms: FirearmsNode,
    /// Ballistic exhibits, digests held, searches and leads.
    pub ballistics: BallisticsNode,
    /// Cases: the Firearms Recovery Protocol over the two above.
    pub cases: CasesNode,
    /// Joint operations this node takes part in.
    pub operations: OperationsNode,
    /// Every member's published aggregate statistics, and this node's publications.
    pub analysis: AnalysisNode,
}

impl Deref for NodeHandle {
    type Target = ContextInner;

    fn deref(&self) -> &ContextInner {
        &self.ctx
    }
}

impl NodeHandle {
    /// Reads the sizes and queue depths that `/metrics` shows as gauges.
    pub fn refresh_gauges(&self) {
        let m = &self.metrics;
        let index = self.firearms.firearms.index_stats();
        Metrics::set(&m.sizes, "firearm_digests", index.live);
        Metrics::set(&m.sizes, "firearm_index_bytes", index.memory_bytes);
        let (aggregates, aggregate_bytes) = self.analysis.projection.size();
        Metrics::set(&m.sizes, "aggregates", aggregates as u64);
        Metrics::set(&m.sizes, "aggregate_bytes", aggregate_bytes as u64);
        if let Ok(n) = self.store.entry_count() {
            Metrics::set(&m.sizes, "feed_entries", n);
        }
        let depths = self.firearms.firearms.queue_depths().into_iter();
        let depths = depths.chain(self.ballistics.ballistics.queue_depths());
        let depths = depths.chain([(
            "operation_outbox",
            self.operations.operations.outbox_depth(),
        )]);
        for (kind, n) in depths {
            Metrics::set(&m.queued, kind, n as u64);
        }
        for (kind, n) in self.ballistics.ballistics.sizes() {
            Metrics::set(&m.sizes, kind, n as u64);
        }
    }

    /// Entries appended from now on.
    pub fn subscribe_applied(&self) -> broadcast::Receiver<Applied> {
        self.core.subscribe_applied()
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
/// starts networking, the capabilities, the replication core and the API.
pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
    let signer = config::load_or_create_key(&config.data_dir)?;
    let token = config::load_or_create_token(&config.data_dir)?;
    let store = Store::open(&config.data_dir.join("db"))?;
    let blobs = crate::ballistics::open_blobs(&config.blobs)?;
    let me = signer.bureau();
    if config.roster.member(&me).is_none() {
        tracing::warn!(bureau = %me, "this node's key is not on the roster: members will refuse it");
    }
    let fast_path = Arc::new(fast_path_of(&config, &store)?);
    let (net, net_events, event_loop) = net::new(net_config(&config, &signer, fast_path.clone()))?;
    let net_task = tokio::spawn(event_loop.run());
    let network = config.roster.network_id;
    let (core_handle, core_inbox) = CoreHandle::new();
    let metrics = Arc::new(Metrics::default());
    let limits = Arc::new(crate::core::limits::RateLimits::default());
    let ctx = Context::new(ContextInner {
        country: config.country.clone(),
        name: config.name.clone(),
        me,
        signer: signer.clone(),
        network,
        digest_key: DigestKey::from_psk(&config.roster.psk),
        data_dir: config.data_dir.clone(),
        roster: config.roster.clone(),
        store: store.clone(),
        audit: AuditLog::open(&store, signer.clone(), network)?,
        metrics: metrics.clone(),
        limits: limits.clone(),
        core: core_handle.clone(),
        tally: Arc::new(crate::tally::Tally::open(&store)?),
        user_on_wire: config.user_on_wire,
    });
    let firearms = FirearmsNode::new(ctx.clone(), Firearms::open(&store, &config)?);
    let ballistics = BallisticsNode::new(
        ctx.clone(),
        Ballistics::open(&store, &config, blobs, ctx.me)?,
    );
    let cases = CasesNode::open(&store, ctx.clone(), firearms.clone(), ballistics.clone())?;
    let analysis = AnalysisNode::new(ctx.clone(), firearms.clone(), config.analysis);
    let handle = NodeHandle {
        notices: Arc::new(Notices::default()),
        analysis,
        firearms,
        ballistics,
        cases,
        operations: OperationsNode::new(ctx.clone(), Operations::open(&store)?),
        ctx,
        net: net.clone(),
        accounts: Arc::new(Accounts::open(&store, &token)?),
    };
    // Registration order is the order every entry reaches the capabilities.
    let capabilities: Capabilities = Arc::new([
        handle.notices.clone(),
        Arc::new(handle.firearms.clone()),
        Arc::new(handle.ballistics.clone()),
        Arc::new(handle.operations.clone()),
        Arc::new(crate::audit::AuditAnchoring::new(handle.ctx.clone())),
        Arc::new(handle.analysis.clone()),
    ]);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let core_config = CoreConfig {
        signer,
        network,
        members: config.roster.members.keys().copied().collect(),
        sync: SyncConfig {
            heads_interval_ms: config.tuning.heads_interval.as_millis() as u64,
            heads_debounce_ms: config.tuning.heads_debounce.as_millis() as u64,
            max_ahead_ms: config.tuning.max_clock_ahead.as_millis() as u64,
            own_head_grace_ms: config.tuning.own_head_grace.as_millis() as u64,
        },
        feed_quota_bytes: config.tuning.max_feed_bytes_per_member,
    };
    let parts = CoreParts {
        store,
        net,
        net_events,
        fast_path,
        metrics,
        capabilities,
        limits,
    };
    let mut tasks = core::start(
        core_config,
        parts,
        &core_handle,
        core_inbox,
        shutdown_rx.clone(),
    )?;
    tasks.push(tokio::spawn(reconcile_records(handle.firearms.clone())));
    handle.cases.resume();
    let (api_task, api_addr) = serve_api(&config, handle.clone(), shutdown_rx).await?;
    tasks.insert(0, api_task);
    tracing::info!(country = %config.country, bureau = %me, api = %api_addr, "member started");
    Ok(RunningNode {
        handle,
        api_addr,
        shutdown,
        tasks,
        net_task,
    })
}

/// Announces what a crash left written but unannounced (see `Firearms::reconcile`).
async fn reconcile_records(firearms: FirearmsNode) {
    if let Err(e) = firearms.firearms.reconcile(&firearms).await {
        tracing::error!("cannot finish the record changes a crash interrupted: {e}");
    }
}

/// The network task's view of the feed tips, from what is stored (frozen feeds left out).
fn fast_path_of(config: &NodeConfig, store: &Store) -> Result<FastPath, StoreError> {
    let frozen: HashSet<BureauId> = store.evidence()?.into_iter().map(|e| e.0).collect();
    Ok(FastPath::new(
        config.roster.network_id,
        config.tuning.max_clock_ahead.as_millis() as u64,
        config
            .roster
            .members
            .keys()
            .copied()
            .filter(|m| !frozen.contains(m)),
        store.heads()?.iter().map(|h| (h.origin, h.seq, h.id)),
    ))
}

fn net_config(
    config: &NodeConfig,
    signer: &striae_protocol::Signer,
    fast_path: Arc<FastPath>,
) -> NetConfig {
    let me = signer.bureau();
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
    NetConfig {
        signer: signer.clone(),
        psk: config.roster.psk,
        listen: config.listen.clone(),
        members: others,
        dial,
        heartbeat: config.tuning.gossip_heartbeat,
        redial_min: config.tuning.redial_min,
        redial_max: config.tuning.redial_max,
        fast_path,
    }
}

async fn serve_api(
    config: &NodeConfig,
    handle: NodeHandle,
    shutdown: watch::Receiver<bool>,
) -> Result<(tokio::task::JoinHandle<()>, SocketAddr), NodeError> {
    let listen_error = |source| NodeError::ApiListen {
        addr: config.api_listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    let tls = match &config.api_tls {
        None => None,
        Some(files) => {
            Some(
                crate::api::load_tls(files)
                    .await
                    .map_err(|source| NodeError::ApiTls {
                        cert: files.cert.clone(),
                        key: files.key.clone(),
                        source,
                    })?,
            )
        }
    };
    let options = crate::api::ApiOptions {
        metrics_public: config.metrics_public,
    };
    Ok((
        tokio::spawn(crate::api::serve(listener, handle, options, tls, shutdown)),
        addr,
    ))
}
