//! What this node does in an operation: create one (it coordinates it and has joined by
//! creating it), join one it was invited to, and record a seizure once joined. Each signs
//! its message, stores it, queues it for every other participant and answers once all of
//! that is on disk; delivery follows in the background.

use striae_protocol::{
    BureauId, SignedKind, SignedMessage,
    operation::{
        Delivered, Operation, OperationDelivery, OperationId, OperationJoin, Participant,
        SeizedItem, Seizure,
    },
    time::now_ms,
};

use super::{
    OperationsError, OperationsNode,
    outbox::{Pending, check_room, others, outbox_value, pending_key, queue, start_delivery},
    store::{HeldOperation, HeldSeizure, join_key, seizure_key},
};
use crate::notices::rfc3339;

/// An operation to create, as the API checked it.
#[derive(Clone, Debug)]
pub struct NewOperation {
    /// A short name.
    pub name: String,
    /// What it targets (may be empty).
    pub description: String,
    /// The members invited (this node, if named, is left out: it takes part as coordinator).
    pub invited: Vec<BureauId>,
    /// Start, ms since the epoch.
    pub starts_at_ms: u64,
    /// End, ms since the epoch.
    pub ends_at_ms: u64,
}

/// A seizure to record, as the API read it.
#[derive(Clone, Debug)]
pub struct NewSeizure {
    /// The day, `YYYY-MM-DD`, within the operation's days.
    pub date: String,
    /// Where (may be empty).
    pub place: String,
    /// What was seized.
    pub items: Vec<SeizedItem>,
    /// People arrested.
    pub arrests: u32,
}

fn sign<T: SignedKind>(
    node: &OperationsNode,
    value: &T,
    what: &'static str,
) -> Result<SignedMessage, OperationsError> {
    SignedMessage::sign(value, &node.signer, &node.network)
        .map_err(|source| OperationsError::Sign { what, source })
}

/// Creates an operation coordinated by this node and invites its participants.
pub async fn create(
    node: &OperationsNode,
    new: NewOperation,
) -> Result<HeldOperation, OperationsError> {
    let me = node.me;
    let mut participants = vec![Participant {
        bureau: me,
        country: node.country.clone(),
    }];
    for bureau in new.invited {
        if !participants.iter().any(|p| p.bureau == bureau) {
            let country = node.country_of(&bureau);
            participants.push(Participant { bureau, country });
        }
    }
    let salt: [u8; 16] = rand::random();
    let op = Operation {
        id: OperationId::derive(&me, &salt),
        salt,
        coordinator: me,
        version: 1,
        issued_at_ms: now_ms(),
        name: new.name,
        description: new.description,
        participants,
        starts_at_ms: new.starts_at_ms,
        ends_at_ms: new.ends_at_ms,
        acting: node.acting_reference(),
    };
    op.check()?;
    let held = HeldOperation {
        signed: sign(node, &op, "operation")?,
        op,
    };
    let id = held.op.id;
    let ops = &node.operations.held;
    send(
        node,
        &held,
        Delivered::Invite,
        &pending_key(Pending::Operation, &id.0),
        || {
            ops.keep_operation(&held)?;
            ops.keep_join(&id, &me, None)?;
            Ok(())
        },
    )
    .await?;
    Ok(held)
}

/// Joins operation `id`; false when this node had joined already.
pub async fn join(node: &OperationsNode, id: &OperationId) -> Result<bool, OperationsError> {
    let held = find(node, id)?;
    let ops = &node.operations.held;
    if ops.has_joined(id, &node.me)? {
        return Ok(false);
    }
    let join = OperationJoin {
        operation: *id,
        participant: node.me,
        joined_at_ms: now_ms(),
        acting: node.acting_reference(),
    };
    join.check()?;
    let signed = sign(node, &join, "join")?;
    let marker = pending_key(Pending::Join, &join_key(id, &node.me));
    send(
        node,
        &held,
        Delivered::Join(signed.clone()),
        &marker,
        || {
            ops.keep_join(id, &node.me, Some(&signed))?;
            Ok(())
        },
    )
    .await?;
    Ok(true)
}

/// Records a seizure in operation `id`, which this node must have joined.
pub async fn record_seizure(
    node: &OperationsNode,
    id: &OperationId,
    new: NewSeizure,
) -> Result<HeldSeizure, OperationsError> {
    let held = find(node, id)?;
    let ops = &node.operations.held;
    if !ops.has_joined(id, &node.me)? {
        return Err(OperationsError::Conflict(format!(
            "this member has not joined operation {id}: join it first (POST /v1/operations/{id}/join)"
        )));
    }
    within_days(&held.op, &new.date)?;
    let recorded_at_ms = now_ms();
    let mut seizure_id = [0u8; 16];
    seizure_id[..8].copy_from_slice(&recorded_at_ms.to_be_bytes());
    seizure_id[8..].copy_from_slice(&rand::random::<[u8; 8]>());
    let seizure = Seizure {
        operation: *id,
        seizure_id,
        author: node.me,
        recorded_at_ms,
        date: new.date,
        place: new.place,
        items: new.items,
        arrests: new.arrests,
        acting: node.acting_reference(),
    };
    seizure.check()?;
    let kept = HeldSeizure {
        signed: sign(node, &seizure, "seizure record")?,
        seizure,
    };
    let marker = pending_key(Pending::Seizure, &seizure_key(&kept.seizure));
    send(
        node,
        &held,
        Delivered::Seizure(kept.signed.clone()),
        &marker,
        || {
            ops.keep_seizure(&kept)?;
            Ok(())
        },
    )
    .await?;
    node.tally.add("seizures", "records", 1);
    node.tally
        .add("seizures", "items", kept.seizure.items.len() as u64);
    Ok(kept)
}

/// The operation, if this node takes part in it. An operation this node was not invited to
/// is unknown here, exactly like one that does not exist.
fn find(node: &OperationsNode, id: &OperationId) -> Result<HeldOperation, OperationsError> {
    node.operations
        .held
        .get(id)?
        .ok_or_else(|| OperationsError::NotFound(format!("no operation {id} at this node")))
}

/// Refuses a seizure date outside the operation's days (UTC).
fn within_days(op: &Operation, date: &str) -> Result<(), OperationsError> {
    let first = &rfc3339(op.starts_at_ms)[..10];
    let last = &rfc3339(op.ends_at_ms)[..10];
    if date < first || date > last {
        return Err(OperationsError::Field {
            field: "date".into(),
            message: format!("must fall within the operation, {first} to {last}"),
        });
    }
    Ok(())
}

/// Stores an own message and queues it for the other participants, durably, in the order
/// `outbox::requeue_pending` recovers from: marked, stored (`store`), queued, unmarked,
/// flushed. Refuses before writing anything when an outbox is full.
async fn send(
    node: &OperationsNode,
    held: &HeldOperation,
    delivered: Delivered,
    marker: &[u8],
    store: impl FnOnce() -> Result<(), OperationsError>,
) -> Result<(), OperationsError> {
    let recipients = others(&held.op, &node.me);
    let value = outbox_value(&OperationDelivery {
        operation: held.signed.clone(),
        delivered,
    })?;
    check_room(node, &recipients, &value)?;
    let ops = &node.operations.held;
    ops.pending.insert(marker, [])?;
    if let Err(e) = store() {
        ops.pending.remove(marker)?;
        return Err(e);
    }
    queue(ops, &recipients, &value)?;
    ops.pending.remove(marker)?;
    node.store.flush().await?;
    start_delivery(node);
    Ok(())
}
