//! IBIN's sharing criteria as policy. Each exhibit is shared with the whole network (its
//! digest goes into the feed, which every member replicates), with a named list of members
//! (its digest is sent to each of them point to point, signed and addressed to that member,
//! and kept in an outbox until the member acknowledges it, so a member that was offline gets
//! it when it is back), or with nobody (the digest never leaves the node). Members keep the
//! digests shared with them and screen against them like published ones; a holder compares
//! an exhibit only for members it is shared with, and answers "unknown exhibit" to others.

use std::{collections::HashMap, sync::atomic::Ordering};

use striae_ballistics_lib::{bullet::BulletDigest, signature::Digest};
use striae_protocol::{
    BureauId, SignedMessage, SyncRequest, SyncResponse,
    ballistic::{BallisticDigest, EvidenceKind, ExhibitRef, SharedDigests},
    codec,
    time::now_ms,
};

use super::{Ballistics, BallisticsError, Held, IndexOp, bullets::BulletOp};
use crate::{ballistics::BallisticsNode, config::Share, store::StoreError};

/// Digests one member may share with this node (beyond them new ones are refused): about
/// 75 MB of index at the largest digest size.
pub(super) const MAX_SHARED_PER_MEMBER: usize = 16_384;
/// Outbox items one delivery pass sends to one member.
const DELIVERIES_PER_PASS: usize = 256;
/// Most bytes of a stored outbox message.
const MAX_OUTBOX_BYTES: usize = 64 * 1024;

/// The outbox key: recipient, exhibit, and whether it is the digest (0) or its retraction (1).
fn outbox_key(recipient: &BureauId, exhibit: &ExhibitRef, retraction: bool) -> Vec<u8> {
    let mut key = recipient.0.to_vec();
    key.extend_from_slice(&exhibit.0);
    key.push(u8::from(retraction));
    key
}

fn shared_key(origin: &BureauId, exhibit: &ExhibitRef) -> Vec<u8> {
    let mut key = origin.0.to_vec();
    key.extend_from_slice(&exhibit.0);
    key
}

/// The index change a shared digest makes, if its digest decodes.
fn index_insert(ballistics: &Ballistics, origin: BureauId, d: &BallisticDigest) {
    let held = Held {
        origin,
        exhibit_ref: d.exhibit_ref,
        kind: d.kind,
        caliber_class: d.caliber_class.clone(),
    };
    match d.kind {
        EvidenceKind::CartridgeCase => {
            if let Ok(digest) = Digest::from_bytes(&d.digest) {
                ballistics.all.apply(IndexOp::Insert(held, digest));
            }
        }
        EvidenceKind::Bullet => {
            if let Ok(digest) = BulletDigest::from_bytes(&d.digest) {
                ballistics.bullets.apply(BulletOp::Insert(held, digest));
            }
        }
    }
}

fn index_remove(ballistics: &Ballistics, origin: BureauId, exhibit: ExhibitRef) {
    ballistics.all.apply(IndexOp::Remove(origin, exhibit));
    ballistics.bullets.apply(BulletOp::Remove(origin, exhibit));
}

impl Ballistics {
    /// Puts what is not in the feeds back into the screening indexes at start: this node's
    /// exhibits kept local or shared with a list, and the digests members shared with it.
    pub(super) fn index_unpublished(&self, me: BureauId) -> Result<(), StoreError> {
        for record in self.own_records()? {
            if record.retracted_at_ms.is_some() || record.share == Share::Network {
                continue;
            }
            let (Some(kind), Some(exhibit_ref), Ok(digest)) = (
                record.evidence_kind(),
                record.exhibit_ref(),
                hex::decode(&record.digest),
            ) else {
                continue;
            };
            let published = BallisticDigest {
                exhibit_ref,
                kind,
                caliber_class: record.caliber_class.clone(),
                digest,
            };
            index_insert(self, me, &published);
        }
        let mut counts: HashMap<BureauId, usize> = HashMap::new();
        for item in self.shared_in.iter() {
            let (key, value) = item?;
            let Ok(origin) = <[u8; 32]>::try_from(&key[..key.len().min(32)]) else {
                continue;
            };
            let origin = BureauId(origin);
            let digest: BallisticDigest = codec::decode_stored(&value, MAX_OUTBOX_BYTES)
                .map_err(|e| StoreError::corrupt("ballistic_shared_in", e))?;
            index_insert(self, origin, &digest);
            *counts.entry(origin).or_default() += 1;
        }
        if let Ok(mut held) = self.shared_counts.lock() {
            *held = counts;
        }
        Ok(())
    }
}

/// Makes a new exhibit known as its sharing says: into the feed, into the outbox for each
/// member of its list, or nowhere; a digest not in the feed is indexed here directly.
pub(super) async fn share_digest(
    node: &BallisticsNode,
    share: &Share,
    digest: BallisticDigest,
) -> Result<(), BallisticsError> {
    match share {
        Share::Network => {
            node.publish(striae_protocol::Body::BallisticDigests(vec![digest]))
                .await
                .map_err(|source| BallisticsError::Publish {
                    what: "digest",
                    source,
                })?;
        }
        Share::Local => index_insert(&node.ballistics, node.me, &digest),
        Share::Region { members, .. } => {
            for member in members.iter().filter(|m| **m != node.me) {
                let message = SharedDigests {
                    sender: node.me,
                    recipient: *member,
                    issued_at_ms: now_ms(),
                    digests: vec![digest.clone()],
                    retracted: Vec::new(),
                };
                let key = outbox_key(member, &digest.exhibit_ref, false);
                node.ballistics
                    .share_outbox
                    .insert(key, sign(node, &message)?)?;
            }
            index_insert(&node.ballistics, node.me, &digest);
            start_delivery(node);
        }
    }
    Ok(())
}

/// Withdraws an exhibit as its sharing says: a retraction in the feed, one to each member of
/// its list (a digest still waiting in the outbox is simply dropped), or nothing to send.
pub(super) async fn withdraw(
    node: &BallisticsNode,
    share: &Share,
    exhibit: ExhibitRef,
) -> Result<(), BallisticsError> {
    match share {
        Share::Network => {
            node.publish(striae_protocol::Body::BallisticRetractions(vec![exhibit]))
                .await
                .map_err(|source| BallisticsError::Publish {
                    what: "retraction",
                    source,
                })?;
        }
        Share::Local => index_remove(&node.ballistics, node.me, exhibit),
        Share::Region { members, .. } => {
            let outbox = &node.ballistics.share_outbox;
            for member in members.iter().filter(|m| **m != node.me) {
                outbox.remove(outbox_key(member, &exhibit, false))?;
                let message = SharedDigests {
                    sender: node.me,
                    recipient: *member,
                    issued_at_ms: now_ms(),
                    digests: Vec::new(),
                    retracted: vec![exhibit],
                };
                outbox.insert(outbox_key(member, &exhibit, true), sign(node, &message)?)?;
            }
            index_remove(&node.ballistics, node.me, exhibit);
            start_delivery(node);
        }
    }
    Ok(())
}

fn sign(node: &BallisticsNode, message: &SharedDigests) -> Result<Vec<u8>, BallisticsError> {
    let signed = SignedMessage::sign(message, &node.signer, &node.network).map_err(|e| {
        BallisticsError::Field {
            field: "share",
            message: format!("the shared digest cannot be signed: {e}"),
        }
    })?;
    codec::encode(&signed, MAX_OUTBOX_BYTES).map_err(|e| BallisticsError::Field {
        field: "share",
        message: format!("the shared digest is too large: {e}"),
    })
}

/// Sends waiting outbox items to the members that are connected, in the background (one
/// pass at a time).
pub(super) fn start_delivery(node: &BallisticsNode) {
    if node.ballistics.delivering.swap(true, Ordering::AcqRel) {
        return;
    }
    let worker = node.clone();
    tokio::spawn(async move {
        if let Err(e) = deliver(&worker).await {
            tracing::warn!("shared digests not delivered: {e}");
        }
        worker.ballistics.delivering.store(false, Ordering::Release);
    });
}

async fn deliver(node: &BallisticsNode) -> Result<(), StoreError> {
    // Per connected member, so messages waiting for a member that stays offline never hold
    // up the others.
    let connected: Vec<BureauId> = node
        .roster
        .members
        .keys()
        .filter(|m| **m != node.me && node.is_connected(m))
        .copied()
        .collect();
    for recipient in connected {
        deliver_to(node, recipient).await?;
    }
    Ok(())
}

async fn deliver_to(node: &BallisticsNode, recipient: BureauId) -> Result<(), StoreError> {
    let mut waiting = Vec::new();
    for item in node
        .ballistics
        .share_outbox
        .scan_prefix(recipient.0)
        .take(DELIVERIES_PER_PASS)
    {
        waiting.push(item?);
    }
    for (key, value) in waiting {
        let Ok(message) = codec::decode_stored::<SignedMessage>(&value, MAX_OUTBOX_BYTES) else {
            node.ballistics.share_outbox.remove(&key)?;
            continue;
        };
        match node
            .ask(&recipient, SyncRequest::SharedDigests(message))
            .await
        {
            Ok(SyncResponse::Received) => node.ballistics.share_outbox.remove(&key)?,
            Ok(SyncResponse::Refused(why)) if !why.starts_with("rate limited") => {
                tracing::warn!(country = %node.country_of(&recipient), "shared digest refused: {why}");
                node.ballistics.share_outbox.remove(&key)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why a shared-digests message is refused.
#[derive(Debug, thiserror::Error)]
enum ShareProblem {
    #[error("shared digests addressed to another member")]
    NotForUs,
    #[error("shared digests out of bounds: {0}")]
    Bounds(#[from] striae_protocol::ballistic::BallisticDigestError),
    #[error("this member already shares {MAX_SHARED_PER_MEMBER} digests with us")]
    Full,
}

/// Keeps the digests another member shares with this node, and forgets the ones it
/// withdraws.
pub async fn on_shared_digests(
    node: &BallisticsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    let shared = match message.open_from::<SharedDigests>(&node.network, &from) {
        Ok(s) => s,
        Err(e) => return SyncResponse::Refused(format!("shared digests do not verify: {e}")),
    };
    match keep(node, from, &shared) {
        Ok(()) => match node.store.flush().await {
            Ok(()) => SyncResponse::Received,
            Err(e) => SyncResponse::Refused(format!("shared digests not kept: {e}")),
        },
        Err(KeepError::Refused(why)) => SyncResponse::Refused(why.to_string()),
        Err(KeepError::Store(e)) => SyncResponse::Refused(format!("shared digests not kept: {e}")),
    }
}

#[derive(Debug, thiserror::Error)]
enum KeepError {
    #[error(transparent)]
    Refused(#[from] ShareProblem),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn keep(node: &BallisticsNode, from: BureauId, shared: &SharedDigests) -> Result<(), KeepError> {
    if shared.recipient != node.me {
        return Err(ShareProblem::NotForUs.into());
    }
    shared.check().map_err(ShareProblem::from)?;
    let b = &node.ballistics;
    let mut counts = b.shared_counts.lock().unwrap_or_else(|e| e.into_inner());
    let count = counts.entry(from).or_default();
    for exhibit in &shared.retracted {
        let key = shared_key(&from, exhibit);
        if b.shared_in.contains_key(&key)? {
            b.shared_in.remove(&key)?;
            *count = count.saturating_sub(1);
        }
        index_remove(b, from, *exhibit);
    }
    for digest in &shared.digests {
        let key = shared_key(&from, &digest.exhibit_ref);
        let new = !b.shared_in.contains_key(&key)?;
        if new && *count >= MAX_SHARED_PER_MEMBER {
            return Err(ShareProblem::Full.into());
        }
        let bytes = codec::encode(digest, MAX_OUTBOX_BYTES)
            .map_err(|e| StoreError::corrupt("ballistic_shared_in", e))?;
        b.shared_in.insert(&key, bytes)?;
        *count += usize::from(new);
        index_insert(b, from, digest);
    }
    Ok(())
}
