//! The outbox: every message for another participant is written to disk, per recipient in
//! the order it was made, before the API answers; a delivery pass hands each connected
//! member its messages in that order (an operation before the joins and seizures that
//! follow it), removes each once the member says it kept it, and stops at the first one the
//! member could not take, to try again at the next tick. A message is written to the audit
//! log, durably, before its first attempt leaves.
//!
//! Own messages go in with a marker: marked, stored, queued, unmarked. A crash in between
//! leaves the marker, and at start the message is queued again (receivers keep a message
//! once however often it comes).

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use striae_protocol::{
    BureauId, SyncRequest, SyncResponse, codec,
    operation::{
        Delivered, MAX_DELIVERY_BYTES, Operation, OperationDelivery, OperationJoin, REFUSED_FINAL,
        Seizure,
    },
    signed::decode_stored_value,
};

use super::{
    OperationsError, OperationsNode,
    store::{Held, HeldOperation},
};
use crate::{
    audit::{Direction, Event, naming_requester},
    store::StoreError,
};

/// Outbox messages one pass sends to one member.
const DELIVERIES_PER_PASS: usize = 256;
/// A stored outbox value: one byte (audited or not) and the delivery.
const MAX_OUTBOX_VALUE: usize = MAX_DELIVERY_BYTES + 1;
/// The first byte of an outbox value once its audit record is written.
const AUDITED: u8 = 1;

/// What a pending marker stands for (its first byte; the rest is the message's store key).
#[derive(Clone, Copy)]
pub(super) enum Pending {
    /// An operation this node created (key: its id).
    Operation = 0,
    /// This node's join (key: operation id ‖ this node).
    Join = 1,
    /// This node's seizure record (key: as in `operation_seizures`).
    Seizure = 2,
}

impl Pending {
    fn from_byte(byte: u8) -> Option<Self> {
        [Pending::Operation, Pending::Join, Pending::Seizure]
            .into_iter()
            .find(|p| *p as u8 == byte)
    }
}

/// The marker of an own message not yet known to be queued.
pub(super) fn pending_key(kind: Pending, key: &[u8]) -> Vec<u8> {
    let mut out = vec![kind as u8];
    out.extend_from_slice(key);
    out
}

/// Everyone taking part in `op` but `sender`.
pub(super) fn others(op: &Operation, sender: &BureauId) -> Vec<BureauId> {
    op.participants
        .iter()
        .map(|p| p.bureau)
        .filter(|b| b != sender)
        .collect()
}

/// The outbox form of `delivery` (not yet audited).
pub(super) fn outbox_value(delivery: &OperationDelivery) -> Result<Vec<u8>, StoreError> {
    let bytes = codec::encode(delivery, MAX_DELIVERY_BYTES)
        .map_err(|e| StoreError::corrupt("operation_outbox", e))?;
    let mut value = Vec::with_capacity(bytes.len() + 1);
    value.push(0);
    value.extend_from_slice(&bytes);
    Ok(value)
}

/// Refuses, before anything is written, when a recipient's outbox has no room.
pub(super) fn check_room(
    node: &OperationsNode,
    recipients: &[BureauId],
    value: &[u8],
) -> Result<(), OperationsError> {
    match node.operations.held.outbox_full(recipients, value.len()) {
        Some(full) => Err(OperationsError::OutboxFull(node.country_of(&full))),
        None => Ok(()),
    }
}

/// Appends `value` to each recipient's outbox.
pub(super) fn queue(held: &Held, recipients: &[BureauId], value: &[u8]) -> Result<(), StoreError> {
    for recipient in recipients {
        held.push_outbox(recipient, value)?;
    }
    Ok(())
}

/// At start, queues again the own messages a crash may have left stored but unqueued, and
/// forgets markers of messages that were never stored (their API call never answered).
pub(super) fn requeue_pending(held: &Held) -> Result<(), StoreError> {
    let mut markers = Vec::new();
    for item in held.pending.iter() {
        markers.push(item?.0);
    }
    for marker in markers {
        if let Some((op, sender, delivered)) = pending_message(held, &marker)? {
            let delivery = OperationDelivery {
                operation: op.signed.clone(),
                delivered,
            };
            let recipients = others(&op.op, &sender);
            tracing::info!(operation = %op.op.id, "queueing again a message a crash left unqueued");
            queue(held, &recipients, &outbox_value(&delivery)?)?;
        }
        held.pending.remove(&marker)?;
    }
    Ok(())
}

/// The own message a marker stands for, if it was stored: its operation, its sender, and
/// what it delivers.
fn pending_message(
    held: &Held,
    marker: &[u8],
) -> Result<Option<(HeldOperation, BureauId, Delivered)>, StoreError> {
    let (Some(kind), Some(id)) = (
        marker.first().copied().and_then(Pending::from_byte),
        marker.get(1..17).and_then(|b| <[u8; 16]>::try_from(b).ok()),
    ) else {
        return Ok(None);
    };
    let id = striae_protocol::operation::OperationId(id);
    let Some(op) = held.get(&id)? else {
        return Ok(None);
    };
    let sender = marker
        .get(17..49)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(BureauId);
    let found = match (kind, sender) {
        (Pending::Operation, _) => Some((op.op.coordinator, Delivered::Invite)),
        (Pending::Join, Some(me)) => held
            .join_of(&id, &me)?
            .flatten()
            .map(|signed| (me, Delivered::Join(signed))),
        (Pending::Seizure, Some(me)) => held
            .seizure(&marker[1..])?
            .map(|s| (me, Delivered::Seizure(s.signed))),
        _ => None,
    };
    Ok(found.map(|(sender, delivered)| (op, sender, delivered)))
}

/// How the audit log names a delivery: its action, the operation's id and the particulars,
/// with the reference of the user who wrote the message (`requested_by`), if it names one.
pub(super) fn describe(delivery: &OperationDelivery) -> (&'static str, String, Value) {
    let op = decode_stored_value::<Operation>(&delivery.operation.bytes);
    let subject = op.as_ref().map_or_else(|_| "-".into(), |o| o.id.to_hex());
    match &delivery.delivered {
        Delivered::Invite => {
            let (details, acting) = op.as_ref().map_or((Value::Null, ""), |o| {
                let shown = json!({"name": o.name, "version": o.version,
                                   "participants": o.participants.len()});
                (shown, o.acting.as_str())
            });
            let details = naming_requester(json!({ "operation": details }), acting);
            ("operation_invite", subject, details)
        }
        Delivered::Join(signed) => {
            let join = decode_stored_value::<OperationJoin>(&signed.bytes);
            let (at, acting) = join.map_or((Value::Null, String::new()), |j| {
                (json!(j.joined_at_ms), j.acting)
            });
            let details = naming_requester(json!({ "joined_at_ms": at }), &acting);
            ("operation_join", subject, details)
        }
        Delivered::Seizure(signed) => {
            let seizure = decode_stored_value::<Seizure>(&signed.bytes);
            let (details, acting) = seizure.map_or((Value::Null, String::new()), |s| {
                let shown = json!({
                    "seizure": hex::encode(s.seizure_id),
                    "date": s.date,
                    "items": s.items.len(),
                    "arrests": s.arrests,
                });
                (shown, s.acting)
            });
            let details = naming_requester(json!({ "seizure": details }), &acting);
            ("operation_seizure", subject, details)
        }
    }
}

/// Sends waiting messages to the members that are connected, in the background (one pass
/// at a time).
pub(super) fn start_delivery(node: &OperationsNode) {
    if node.operations.delivering.swap(true, Ordering::AcqRel) {
        return;
    }
    let worker = node.clone();
    tokio::spawn(async move {
        if let Err(e) = deliver(&worker).await {
            tracing::warn!("operation messages not delivered: {e}");
        }
        worker.operations.delivering.store(false, Ordering::Release);
    });
}

async fn deliver(node: &OperationsNode) -> Result<(), StoreError> {
    // Per connected member, so messages for a member that stays offline hold up no other.
    let waiting = node.operations.held.waiting_members();
    for recipient in waiting.into_iter().filter(|m| node.is_connected(m)) {
        deliver_to(node, recipient).await?;
    }
    Ok(())
}

async fn deliver_to(node: &OperationsNode, recipient: BureauId) -> Result<(), StoreError> {
    let held = &node.operations.held;
    let mut waiting = Vec::new();
    for item in held
        .outbox
        .scan_prefix(recipient.0)
        .take(DELIVERIES_PER_PASS)
    {
        waiting.push(item?);
    }
    for (key, value) in waiting {
        let decoded = value.split_first().and_then(|(flag, bytes)| {
            codec::decode_stored::<OperationDelivery>(bytes, MAX_OUTBOX_VALUE)
                .ok()
                .map(|d| (*flag, d))
        });
        let Some((flag, delivery)) = decoded else {
            tracing::error!("an undecodable operation message was dropped from the outbox");
            held.pop_outbox(&recipient, &key, value.len())?;
            continue;
        };
        if flag != AUDITED {
            audit_sending(node, recipient, &key, &value, &delivery).await?;
        }
        match node
            .ask(&recipient, SyncRequest::Operation(delivery.clone()))
            .await
        {
            Ok(SyncResponse::Received) => held.pop_outbox(&recipient, &key, value.len())?,
            Ok(SyncResponse::Refused(why)) if why.starts_with(REFUSED_FINAL) => {
                refused_finally(node, recipient, &delivery, &why);
                held.pop_outbox(&recipient, &key, value.len())?;
            }
            // Rate limited, busy, offline, a failing disk there: the rest waits behind it, in
            // order, for the next pass.
            _ => break,
        }
    }
    Ok(())
}

/// Writes the audit record of a message about to leave for the first time and marks it
/// audited, durably, before it leaves.
async fn audit_sending(
    node: &OperationsNode,
    recipient: BureauId,
    key: &[u8],
    value: &[u8],
    delivery: &OperationDelivery,
) -> Result<(), StoreError> {
    let (action, subject, details) = describe(delivery);
    node.audit.record(Event {
        direction: Direction::Out,
        action,
        peer: recipient,
        peer_country: &node.country_of(&recipient),
        subject: &subject,
        details,
    })?;
    let mut marked = value.to_vec();
    marked[0] = AUDITED;
    node.operations.held.outbox.insert(key, marked)?;
    node.store.flush().await
}

fn refused_finally(
    node: &OperationsNode,
    recipient: BureauId,
    delivery: &OperationDelivery,
    why: &str,
) {
    let (action, subject, _) = describe(delivery);
    let country = node.country_of(&recipient);
    tracing::warn!(%country, operation = %subject, "{action} refused: {why}");
    node.metrics.rejected("operation_message_refused");
    node.audit.record_or_log(Event {
        direction: Direction::In,
        action: "operation_refused",
        peer: recipient,
        peer_country: &country,
        subject: &subject,
        details: json!({"message": action, "reason": why}),
    });
}
