//! The capabilities' side of the network: trace requests, reviewed trace answers and
//! confirmation requests from other members, answered by a small pool of workers off the
//! replication core (a comparison can take a second of CPU), and the capabilities' periodic
//! work (delivering answers that waited for a reviewer or an offline requester).

use std::{sync::Arc, time::Duration};

use libp2p::request_response::ResponseChannel;
use striae_protocol::{BureauId, SyncRequest, SyncResponse};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::node::NodeHandle;

/// Requests answered at once; more wait in the core's bounded queue, and past that the
/// sender is told the node is busy.
const WORKERS: usize = 4;
/// How often the periodic work runs.
const TICK: Duration = Duration::from_secs(5);

/// A request for a capability, with the channel its answer goes back on.
pub struct ServiceCall {
    /// The member that asked (authenticated by the transport, on the roster).
    pub from: BureauId,
    /// The request.
    pub request: SyncRequest,
    /// Where the answer goes.
    pub channel: ResponseChannel<SyncResponse>,
}

/// Answers service calls until shutdown.
pub async fn run(
    node: NodeHandle,
    mut calls: mpsc::Receiver<ServiceCall>,
    mut shutdown: watch::Receiver<bool>,
) {
    let workers = Arc::new(Semaphore::new(WORKERS));
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(call) = calls.recv() => {
                let Ok(permit) = workers.clone().acquire_owned().await else { break };
                let node = node.clone();
                tokio::spawn(async move {
                    let answer = answer(&node, call.from, call.request).await;
                    let _ = node.net.respond(call.channel, answer).await;
                    drop(permit);
                });
            }
        }
    }
}

async fn answer(node: &NodeHandle, from: BureauId, request: SyncRequest) -> SyncResponse {
    match request {
        SyncRequest::Trace(message) => crate::firearms::on_trace_request(node, from, message).await,
        SyncRequest::TraceAnswer(message) => {
            crate::firearms::on_trace_answer(node, from, message).await
        }
        SyncRequest::Confirm(message) => {
            crate::ballistics::on_confirm_request(node, from, message).await
        }
        SyncRequest::Heads(_) | SyncRequest::Pull { .. } => {
            SyncResponse::Refused("not a service request".into())
        }
    }
}

/// The capabilities' periodic work, until shutdown.
pub async fn background(node: NodeHandle, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tick.tick() => {
                crate::firearms::tick(&node).await;
                crate::ballistics::tick(&node).await;
            }
        }
    }
}
