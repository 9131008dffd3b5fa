//! The stored schema of traces and [`TraceStore`]: the trees, their keys, and the JSON
//! encoding of traces sent (`Outgoing`), requests received (`Incoming`) and answers waiting
//! in the outbox (`OutboxItem`). Answers received for a trace sent are kept apart, one key
//! per (trace, member, kind of answer) in raw bytes (tree `trace_answers`), so an answer
//! never rewrites the trace and a member holds at most two: its "pending review" and its
//! final answer.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use striae_protocol::{BureauId, SignedMessage, firearm::RecordRef, trace::TraceResponse};

use crate::{
    firearms::{FirearmsNode, in_flight::InFlight},
    store::{Keyspace, Store, StoreError},
};

pub(super) const OUT_TREE: &str = "traces_out";
pub(super) const IN_TREE: &str = "traces_in";
pub(super) const OUTBOX_TREE: &str = "trace_outbox";
const RETRY_TREE: &str = "trace_retry";
const PENDING_TREE: &str = "trace_pending";
const ANSWERS_TREE: &str = "trace_answers";

/// A signed message as stored (hex), so it can be verified again whenever it is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredSigned {
    bytes: String,
    signature: String,
}

impl StoredSigned {
    pub(crate) fn of(message: &SignedMessage) -> Self {
        StoredSigned {
            bytes: hex::encode(&message.bytes),
            signature: message.signature_hex(),
        }
    }

    pub(crate) fn message(&self) -> Option<SignedMessage> {
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut signature).ok()?;
        Some(SignedMessage {
            bytes: hex::decode(&self.bytes).ok()?,
            signature,
        })
    }
}

/// A stored answer, verified again (`None` if it no longer verifies).
pub(super) fn outcome_of(node: &FirearmsNode, signed: &StoredSigned) -> Option<TraceResponse> {
    signed.message()?.open::<TraceResponse>(&node.network).ok()
}

/// An answer received for an outgoing trace.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ReceivedAnswer {
    pub(super) received_at_ms: u64,
    pub(super) message: StoredSigned,
}

impl ReceivedAnswer {
    /// As kept in `trace_answers`: the time received (8 bytes, big-endian), the signature
    /// (64), the signed bytes.
    fn encode(&self) -> Vec<u8> {
        let message = self.message.message();
        let (bytes, signature) = message
            .as_ref()
            .map_or((&[][..], [0u8; 64]), |m| (&m.bytes[..], m.signature));
        let mut out = Vec::with_capacity(8 + 64 + bytes.len());
        out.extend_from_slice(&self.received_at_ms.to_be_bytes());
        out.extend_from_slice(&signature);
        out.extend_from_slice(bytes);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let received_at_ms = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let signature: [u8; 64] = bytes.get(8..72)?.try_into().ok()?;
        let message = SignedMessage {
            bytes: bytes.get(72..)?.to_vec(),
            signature,
        };
        Some(ReceivedAnswer {
            received_at_ms,
            message: StoredSigned::of(&message),
        })
    }
}

/// The two answers a member may give to one trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AnswerKind {
    /// "Held for review".
    Pending,
    /// Found, not found or refused.
    Final,
}

/// Key of an answer: the trace id, the member, the kind.
fn answer_key(id: &[u8; 16], from: &BureauId, kind: AnswerKind) -> Vec<u8> {
    let mut key = id.to_vec();
    key.extend_from_slice(&from.0);
    key.push(match kind {
        AnswerKind::Pending => 0,
        AnswerKind::Final => 1,
    });
    key
}

/// A member an outgoing trace asks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct OutTarget {
    pub(super) bureau: String,
    pub(super) country: String,
    /// Why it is asked: `digest_hit`, `country_of_manufacture`, `listed`.
    pub(super) why: Vec<String>,
    pub(super) record_refs: Vec<RecordRef>,
    pub(super) attempts: u32,
    pub(super) last_error: Option<String>,
    /// Answers kept inline by earlier versions (now in `trace_answers`); read, never written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) answers: Vec<ReceivedAnswer>,
}

/// A trace this node sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Outgoing {
    pub(super) created_at_ms: u64,
    pub(super) make: String,
    pub(super) model: String,
    pub(super) caliber: String,
    pub(super) serial: String,
    pub(super) case_ref: String,
    pub(super) reason: String,
    pub(super) targets: Vec<OutTarget>,
    /// The reference of the user who started it, as its requests carry it (kept, so a
    /// request sent again after a restart still names them; empty in traces stored before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(super) acting: String,
}

/// A trace request this node received.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Incoming {
    pub(super) requester: String,
    pub(super) country: String,
    pub(super) received_at_ms: u64,
    pub(super) make: String,
    pub(super) model: String,
    pub(super) caliber: String,
    pub(super) serial: String,
    pub(super) case_ref: String,
    pub(super) reason: String,
    /// This node's records the request found.
    pub(super) records: Vec<RecordRef>,
    /// Answers sent, oldest first (a pending review, then the final one).
    pub(super) answers: Vec<StoredSigned>,
    /// `pending_review` or `answered`.
    pub(super) state: String,
    /// The reviewer's note, if any.
    pub(super) note: String,
    /// The requester's reference for the user who asked (empty if none, or stored before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(super) requested_by: String,
}

/// An answer waiting to reach its requester.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct OutboxItem {
    pub(super) to: String,
    pub(super) message: StoredSigned,
    pub(super) attempts: u32,
}

/// The trace trees.
pub struct TraceStore {
    pub(super) out: Keyspace,
    pub(super) incoming: Keyspace,
    pub(super) outbox: Keyspace,
    pub(super) retry: Keyspace,
    /// Requests waiting for review, keyed by requester and trace id, to bound them per member.
    pub(super) pending: Keyspace,
    /// Answers received for traces sent, keyed by `answer_key`.
    answers: Keyspace,
    /// Serialises read-modify-write of trace records.
    lock: Mutex<()>,
    /// Reviewed answers being delivered right now: the review's own attempt and the periodic
    /// retry must not both send one answer.
    pub(super) delivering: InFlight,
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(tree, e))
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of strings and numbers always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Key of a request waiting for review: requester first, so one member's are counted with a
/// prefix scan.
pub(super) fn pending_key(requester: &BureauId, id: &[u8; 16]) -> Vec<u8> {
    let mut key = requester.0.to_vec();
    key.extend_from_slice(id);
    key
}

/// Key of a request to send again: the trace id, then the member to ask.
pub(super) fn retry_key(id: &[u8; 16], bureau: &BureauId) -> Vec<u8> {
    let mut key = id.to_vec();
    key.extend_from_slice(&bureau.0);
    key
}

/// The trace id and member of a retry key.
pub(super) fn parse_retry_key(key: &[u8]) -> Option<([u8; 16], BureauId)> {
    let id = <[u8; 16]>::try_from(key.get(..16)?).ok()?;
    let bureau = BureauId(<[u8; 32]>::try_from(key.get(16..)?).ok()?);
    Some((id, bureau))
}

impl TraceStore {
    /// Opens the trace trees.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(TraceStore {
            out: store.keyspace(OUT_TREE)?,
            incoming: store.keyspace(IN_TREE)?,
            outbox: store.keyspace(OUTBOX_TREE)?,
            retry: store.keyspace(RETRY_TREE)?,
            pending: store.keyspace(PENDING_TREE)?,
            answers: store.keyspace(ANSWERS_TREE)?,
            lock: Mutex::new(()),
            delivering: InFlight::default(),
        })
    }

    /// Work waiting: requests held for review, answers to deliver, requests to send again.
    /// Walks three keyspaces bounded per member: for metrics, not hot paths.
    pub fn depths(&self) -> [(&'static str, usize); 3] {
        [
            ("trace_reviews", self.pending.count()),
            ("trace_outbox", self.outbox.count()),
            ("trace_retries", self.retry.count()),
        ]
    }

    pub(super) fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn outgoing(&self, id: &[u8; 16]) -> Result<Option<Outgoing>, StoreError> {
        self.out.get(id)?.map(|b| decode(OUT_TREE, &b)).transpose()
    }

    pub(super) fn update_outgoing<R>(
        &self,
        id: &[u8; 16],
        change: impl FnOnce(&mut Outgoing) -> R,
    ) -> Result<Option<R>, StoreError> {
        let _guard = self.guard();
        let Some(mut trace) = self.outgoing(id)? else {
            return Ok(None);
        };
        let result = change(&mut trace);
        self.out.insert(id, encode(&trace))?;
        Ok(Some(result))
    }

    /// The answer of `kind` member `from` gave to trace `id`, if any.
    pub(super) fn answer(
        &self,
        id: &[u8; 16],
        from: &BureauId,
        kind: AnswerKind,
    ) -> Result<Option<ReceivedAnswer>, StoreError> {
        let Some(bytes) = self.answers.get(answer_key(id, from, kind))? else {
            return Ok(None);
        };
        ReceivedAnswer::decode(&bytes)
            .map(Some)
            .ok_or_else(|| StoreError::corrupt(ANSWERS_TREE, "answer shorter than its header"))
    }

    /// Keeps an answer (the caller checked that none of its kind is held).
    pub(super) fn put_answer(
        &self,
        id: &[u8; 16],
        from: &BureauId,
        kind: AnswerKind,
        answer: &ReceivedAnswer,
    ) -> Result<(), StoreError> {
        self.answers
            .insert(answer_key(id, from, kind), answer.encode())
    }

    /// The answers member `bureau` gave to trace `id`, oldest first: a pending review, then
    /// the final one (or those an earlier version kept inline with the trace).
    pub(super) fn answers_of(
        &self,
        id: &[u8; 16],
        target: &OutTarget,
    ) -> Result<Vec<ReceivedAnswer>, StoreError> {
        let Ok(bureau) = target.bureau.parse::<BureauId>() else {
            return Ok(target.answers.clone());
        };
        let mut out = Vec::new();
        for kind in [AnswerKind::Pending, AnswerKind::Final] {
            out.extend(self.answer(id, &bureau, kind)?);
        }
        if out.is_empty() {
            out = target.answers.clone();
        }
        Ok(out)
    }

    pub(super) fn incoming(&self, id: &[u8; 16]) -> Result<Option<Incoming>, StoreError> {
        self.incoming
            .get(id)?
            .map(|b| decode(IN_TREE, &b))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_answer_reads_back_as_received() {
        let message = SignedMessage {
            bytes: vec![1, 2, 3],
            signature: [7; 64],
        };
        let answer = ReceivedAnswer {
            received_at_ms: 42,
            message: StoredSigned::of(&message),
        };
        let back = ReceivedAnswer::decode(&answer.encode()).unwrap();
        assert_eq!(back.received_at_ms, 42);
        assert_eq!(back.message.message(), Some(message));
        assert!(ReceivedAnswer::decode(&[0; 71]).is_none());
    }

    #[test]
    fn a_retry_key_gives_back_its_trace_and_member() {
        let id = [7u8; 16];
        let bureau = BureauId([9u8; 32]);
        assert_eq!(
            parse_retry_key(&retry_key(&id, &bureau)),
            Some((id, bureau))
        );
        assert_eq!(parse_retry_key(&id), None);
    }
}
