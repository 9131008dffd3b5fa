//! The capabilities' side of the network: requests from other members that a capability
//! claims (traces, reviewed trace answers, confirmations), answered by a small pool of workers
//! off the replication core (a comparison can take a second of CPU), and the capabilities'
//! periodic work (delivering answers that waited for a reviewer or an offline requester).

use std::{sync::Arc, time::Duration};

use libp2p::request_response::ResponseChannel;
use striae_protocol::{BureauId, SyncRequest, SyncResponse};
use tokio::sync::{Semaphore, mpsc, watch};

use super::capability::Capabilities;
use crate::net::NetHandle;

/// Requests answered at once; more wait in the core's bounded queue, and past that the
/// sender is told the node is busy.
const WORKERS: usize = 4;
/// How often the periodic work runs.
const TICK: Duration = Duration::from_secs(5);

/// A request for a capability, with the channel its answer goes back on.
pub(super) struct ServiceCall {
    /// The member that asked (authenticated by the transport, on the roster).
    pub(super) from: BureauId,
    /// The request.
    pub(super) request: SyncRequest,
    /// Where the answer goes.
    pub(super) channel: ResponseChannel<SyncResponse>,
}

/// Answers service calls until shutdown.
pub(super) async fn run(
    capabilities: Capabilities,
    net: NetHandle,
    mut calls: mpsc::Receiver<ServiceCall>,
    mut shutdown: watch::Receiver<bool>,
) {
    let workers = Arc::new(Semaphore::new(WORKERS));
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(call) = calls.recv() => {
                let Ok(permit) = workers.clone().acquire_owned().await else { break };
                let capabilities = capabilities.clone();
                let net = net.clone();
                tokio::spawn(async move {
                    let answer = answer(&capabilities, call.from, call.request).await;
                    let _ = net.respond(call.channel, answer).await;
                    drop(permit);
                });
            }
        }
    }
}

/// The answer of the capability that claims `request`.
async fn answer(capabilities: &Capabilities, from: BureauId, request: SyncRequest) -> SyncResponse {
    match capabilities.iter().find(|c| c.claims(&request)) {
        Some(capability) => capability.on_request(from, request).await,
        None => SyncResponse::Refused("not a request this node answers".into()),
    }
}

/// The capabilities' periodic work, until shutdown.
pub(super) async fn background(capabilities: Capabilities, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tick.tick() => {
                for capability in capabilities.iter() {
                    capability.tick().await;
                }
            }
        }
    }
}
