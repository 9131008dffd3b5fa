//! The outbox of reviewed answers: delivering each to its requester until it confirms
//! receipt (or the attempts run out), and the periodic tick that retries deliveries and
//! requests to members that were unreachable.

use serde_json::json;
use striae_protocol::{BureauId, SyncRequest, SyncResponse};

use super::{
    MAX_ATTEMPTS, audit,
    requester::retry_unreachable,
    store::{OUTBOX_TREE, OutboxItem, decode, encode, outcome_of},
};
use crate::{audit::Direction, firearms::FirearmsNode};

/// Deliveries tried per tick, so one tick stays short.
const MAX_DELIVERIES_PER_TICK: usize = 32;

/// Tries to hand a reviewed answer to its requester, unless that is under way already.
pub(super) async fn deliver(node: &FirearmsNode, trace_id: [u8; 16]) {
    let Some(_claim) = node.firearms.traces.delivering.claim(trace_id) else {
        return;
    };
    deliver_once(node, trace_id).await;
}

/// One delivery attempt; removes the answer from the outbox once the requester confirms.
async fn deliver_once(node: &FirearmsNode, trace_id: [u8; 16]) {
    let traces = &node.firearms.traces;
    let Ok(Some(bytes)) = traces.outbox.get(trace_id) else {
        return;
    };
    let Ok(mut item) = decode::<OutboxItem>(OUTBOX_TREE, &bytes) else {
        let _ = traces.outbox.remove(trace_id);
        return;
    };
    let (Ok(to), Some(message)) = (item.to.parse::<BureauId>(), item.message.message()) else {
        let _ = traces.outbox.remove(trace_id);
        return;
    };
    let outcome = outcome_of(node, &item.message).map(|r| r.outcome.as_str());
    match node.ask(&to, SyncRequest::TraceAnswer(message)).await {
        Ok(SyncResponse::Received) => {
            let _ = traces.outbox.remove(trace_id);
            // The review's record (written before the answer was queued) covers the
            // disclosure; this one notes its delivery, and its failure is logged inside.
            let _ = audit(
                node,
                Direction::Out,
                "trace_response",
                to,
                &hex::encode(trace_id),
                json!({"outcome": outcome, "after_review": true}),
            );
        }
        Ok(SyncResponse::Refused(why)) => {
            // The requester will not take it (it kept another answer, or the trace is gone
            // there): retrying cannot change that.
            tracing::warn!(%to, "a reviewed trace answer was refused: {why}");
            let _ = traces.outbox.remove(trace_id);
        }
        other => {
            item.attempts += 1;
            tracing::debug!("reviewed answer not delivered yet: {other:?}");
            if item.attempts >= MAX_ATTEMPTS {
                tracing::warn!(%to, "giving up delivering a reviewed trace answer");
                let _ = traces.outbox.remove(trace_id);
            } else {
                let _ = traces.outbox.insert(trace_id, encode(&item));
            }
        }
    }
    if let Err(e) = node.store.flush().await {
        tracing::error!("cannot flush the trace outbox: {e}");
    }
}

/// Periodic work: delivers reviewed answers and asks again members that were unreachable,
/// when they are connected.
pub async fn tick(node: &FirearmsNode) {
    let tried = deliver_reviewed(node).await;
    if tried >= MAX_DELIVERIES_PER_TICK {
        return;
    }
    retry_unreachable(node, tried, MAX_DELIVERIES_PER_TICK).await;
}

/// Delivers the outbox's answers whose requesters are connected, at most
/// `MAX_DELIVERIES_PER_TICK`; returns how many were tried.
async fn deliver_reviewed(node: &FirearmsNode) -> usize {
    let mut tried = 0;
    let pending: Vec<([u8; 16], Option<BureauId>)> = node
        .firearms
        .traces
        .outbox
        .iter()
        .filter_map(Result::ok)
        .filter_map(|(k, v)| {
            let id = <[u8; 16]>::try_from(k.as_ref()).ok()?;
            let item: OutboxItem = decode(OUTBOX_TREE, &v).ok()?;
            Some((id, item.to.parse().ok()))
        })
        .collect();
    for (id, to) in pending {
        if tried >= MAX_DELIVERIES_PER_TICK {
            break;
        }
        if to.is_some_and(|b| node.is_connected(&b)) {
            tried += 1;
            deliver(node, id).await;
        }
    }
    tried
}
