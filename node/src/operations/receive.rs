//! What other participants send: the coordinator's signed operation (verified, checked, and
//! naming both this node and the sender as participants, every one of them on the roster)
//! with the invitation, a join or a seizure record signed by the sender. Anything else is
//! refused and nothing of it is kept, so a member outside an operation holds none of it even
//! if a participant sends it. Every message is written to the audit log (a refused one only
//! as its operation id, sender and why), and a message is answered `Received` only once it
//! and its record are on disk.

use serde_json::json;
use striae_protocol::{
    BureauId, SignedMessage, SyncResponse,
    operation::{
        Delivered, Operation, OperationDelivery, OperationError, OperationJoin, REFUSED_FINAL,
        Seizure,
    },
};

use super::{
    OperationsError, OperationsNode,
    outbox::describe,
    store::{HeldOperation, HeldSeizure},
};
use crate::{
    audit::{Direction, Event},
    store::StoreError,
};

/// Why a delivery is not kept.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// Final: the sender drops the message.
    #[error("{0}")]
    Final(String),
    /// This node could not keep it now; the sender tries again.
    #[error("not kept now: {0}")]
    Store(#[from] StoreError),
}

impl From<OperationError> for Refusal {
    fn from(e: OperationError) -> Self {
        Refusal::Final(e.to_string())
    }
}

impl From<OperationsError> for Refusal {
    fn from(e: OperationsError) -> Self {
        match e {
            OperationsError::Store(e) => Refusal::Store(e),
            other => Refusal::Final(other.to_string()),
        }
    }
}

fn refuse(why: impl Into<String>) -> Refusal {
    Refusal::Final(why.into())
}

/// Checks and keeps a delivery from member `from`; answers once it and its audit record are
/// on disk.
pub(super) async fn on_delivery(
    node: &OperationsNode,
    from: BureauId,
    delivery: OperationDelivery,
) -> SyncResponse {
    let outcome = accept(node, from, &delivery);
    let (action, subject, details) = describe(&delivery);
    // A refused message leaves no trace of its content here, only that it came and why it
    // was refused: a member outside an operation keeps nothing of it, not even in its log.
    let details = match &outcome {
        Ok(()) => details,
        Err(e) => json!({ "refused": e.to_string() }),
    };
    let recorded = node.audit.record(Event {
        direction: Direction::In,
        action,
        peer: from,
        peer_country: &node.country_of(&from),
        subject: &subject,
        details,
    });
    if let Err(e) = recorded {
        tracing::error!("AUDIT LOG WRITE FAILED: {e}; operation message not taken");
        return SyncResponse::Refused("this member cannot audit messages now".into());
    }
    let flushed = node.store.flush().await;
    match (outcome, flushed) {
        (Ok(()), Ok(())) => SyncResponse::Received,
        (Err(Refusal::Final(why)), _) => {
            node.metrics.refused("operation_message");
            SyncResponse::Refused(format!("{REFUSED_FINAL}{why}"))
        }
        (Err(e @ Refusal::Store(_)), _) => SyncResponse::Refused(e.to_string()),
        (Ok(()), Err(e)) => SyncResponse::Refused(format!("not kept now: {e}")),
    }
}

fn accept(
    node: &OperationsNode,
    from: BureauId,
    delivery: &OperationDelivery,
) -> Result<(), Refusal> {
    let received = open_operation(node, &delivery.operation)?;
    let held = node.operations.held.get(&received.op.id)?;
    // A later version held here stays in force; participation is checked against it.
    let in_force = match &held {
        Some(mine) if mine.op.version > received.op.version => mine,
        _ => &received,
    };
    if !in_force.op.is_participant(&node.me) {
        return Err(refuse("this member does not take part in the operation"));
    }
    if !in_force.op.is_participant(&from) {
        return Err(refuse("the sender does not take part in the operation"));
    }
    let item = open_item(node, from, &in_force.op, &delivery.delivered)?;
    let ops = &node.operations.held;
    ops.keep_operation(&received)?;
    match item {
        Item::Invite => {}
        Item::Join(signed) => {
            ops.keep_join(&received.op.id, &from, Some(&signed))?;
        }
        Item::Seizure(seizure) => {
            ops.keep_seizure(&seizure)?;
        }
    }
    Ok(())
}

/// The coordinator's operation, verified and checked, its coordinator and participants all
/// on the roster.
fn open_operation(node: &OperationsNode, signed: &SignedMessage) -> Result<HeldOperation, Refusal> {
    let op: Operation = signed
        .open(&node.network)
        .map_err(|e| refuse(format!("the operation does not verify: {e}")))?;
    op.check()?;
    if let Some(stranger) = op
        .participants
        .iter()
        .find(|p| node.roster.member(&p.bureau).is_none())
    {
        return Err(refuse(format!(
            "participant {} is not on this member's roster",
            stranger.bureau
        )));
    }
    Ok(HeldOperation {
        op,
        signed: signed.clone(),
    })
}

/// What a delivery carries, opened.
enum Item {
    Invite,
    Join(SignedMessage),
    Seizure(HeldSeizure),
}

fn open_item(
    node: &OperationsNode,
    from: BureauId,
    op: &Operation,
    delivered: &Delivered,
) -> Result<Item, Refusal> {
    match delivered {
        // Only the coordinator invites: a participant relays the operation only with its
        // own join or seizure.
        Delivered::Invite if from == op.coordinator => Ok(Item::Invite),
        Delivered::Invite => Err(refuse("only the coordinator sends the invitation")),
        Delivered::Join(signed) => {
            let join: OperationJoin = signed
                .open_from(&node.network, &from)
                .map_err(|e| refuse(format!("the join does not verify: {e}")))?;
            join.check()?;
            if join.operation != op.id {
                return Err(refuse("the join is for another operation"));
            }
            Ok(Item::Join(signed.clone()))
        }
        Delivered::Seizure(signed) => {
            let seizure: Seizure = signed
                .open_from(&node.network, &from)
                .map_err(|e| refuse(format!("the seizure record does not verify: {e}")))?;
            seizure.check()?;
            if seizure.operation != op.id {
                return Err(refuse("the seizure record is for another operation"));
            }
            Ok(Item::Seizure(HeldSeizure {
                seizure,
                signed: signed.clone(),
            }))
        }
    }
}
