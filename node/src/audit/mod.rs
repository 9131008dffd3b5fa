//! The audit log: every request and disclosure that crossed a border, in or out (trace
//! requests and answers, confirmation requests and results), as a hash-chained list of
//! records signed with this node's key. Editing, reordering or removing any record breaks the
//! chain or a signature, and `verify` says where.
//!
//! Storage: tree `audit`, key = seq (u64 big-endian, from 1), value = 64-byte signature ++
//! the record's JSON; key `head` of tree `audit_head` holds the count and the last hash, so a
//! removed tail is detected too.
//!
//! Whoever can edit the disk can also rewrite the head, so the head is anchored outside the
//! log's reach as well: `anchor` publishes it in this node's own feed (`Body::AuditAnchor`),
//! which every member holds, and `verify` checks the log against the latest anchor. A crash
//! between a record and its head leaves the record as the head (the next record follows it,
//! never overwrites it).
//!
//! A record names the user who acted (`user`, their account id and name: the bureau's
//! internal reference) when it was written on behalf of an API request; see `acting`. Records
//! written before accounts existed have no `user` and still verify: the field is left out of
//! the signed JSON when absent.

mod acting;
mod anchor;

pub use acting::{ActingUser, carry, current as acting_user, scope as acting_as};
pub use anchor::AuditAnchoring;

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use striae_protocol::{
    BureauId, NetworkId, Signer, feed::AuditAnchor, identity::signing_message, time::now_ms,
};

use crate::store::{Keyspace, Store, StoreError};

const AUDIT_DOMAIN: &[u8] = b"striae-audit-v1:";
const HEAD_KEY: &[u8] = b"head";

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// This node sent it.
    Out,
    /// This node received it.
    In,
}

/// One audit record as stored and shown (without its signature and hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it was written, ms since the epoch.
    pub at_ms: u64,
    /// In or out.
    pub direction: Direction,
    /// What crossed: `trace_request`, `trace_response`, `confirm_request`, `confirm_response`,
    /// `trace_review`, ...
    pub action: String,
    /// The other member.
    pub peer: BureauId,
    /// The other member's country.
    pub peer_country: String,
    /// What it was about (a trace id, a search id).
    pub subject: String,
    /// The particulars (case reference, reason, outcome, scores...).
    pub details: Value,
    /// Hash of the previous stored record (hex), or 64 zeros for the first.
    pub prev: String,
    /// The user on whose behalf this node acted, when a user did (absent in records written
    /// by the node on its own, and in records written before accounts existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ActingUser>,
}

/// A record with its hash and signature, as the API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ListedRecord {
    /// The record.
    #[serde(flatten)]
    pub record: AuditRecord,
    /// When, RFC 3339.
    pub at: String,
    /// Hash of the stored record (hex): the next record's `prev`.
    pub hash: String,
    /// This node's signature over the record (hex).
    pub signature: String,
}

/// What `verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    /// True when every record verifies and the chain is whole.
    pub ok: bool,
    /// Records checked.
    pub entries: u64,
    /// What is wrong, first problem first (empty when `ok`).
    pub problems: Vec<Problem>,
}

/// One problem found by `verify`.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The record (or the position where one is missing).
    pub seq: u64,
    /// What is wrong with it.
    pub problem: String,
}

/// `details` with `requested_by`, the reference of the user a signed request names (see
/// `protocol::acting`), when it names one. Every record of a request, sent or received, says
/// who asked: for requests received, the asking bureau's own reference for its user.
pub fn naming_requester(mut details: Value, acting: &str) -> Value {
    if let (Value::Object(map), false) = (&mut details, acting.is_empty()) {
        map.insert("requested_by".into(), Value::String(acting.to_string()));
    }
    details
}

/// What a caller writes into the log.
pub struct Event<'a> {
    /// In or out.
    pub direction: Direction,
    /// What crossed.
    pub action: &'a str,
    /// The other member.
    pub peer: BureauId,
    /// Its country.
    pub peer_country: &'a str,
    /// What it was about.
    pub subject: &'a str,
    /// The particulars.
    pub details: Value,
}

/// The node's audit log.
pub struct AuditLog {
    tree: Keyspace,
    head_tree: Keyspace,
    signer: Signer,
    network: NetworkId,
    /// (records written, hash of the last): writes are serialised through it.
    head: Mutex<(u64, [u8; 32])>,
    /// The latest anchor of this log found in this node's own feed.
    anchored: Mutex<Option<AuditAnchor>>,
}

impl AuditLog {
    /// Opens the log in `store`.
    pub fn open(store: &Store, signer: Signer, network: NetworkId) -> Result<Self, StoreError> {
        let tree = store.keyspace("audit")?;
        let head_tree = store.keyspace("audit_head")?;
        let written = match head_tree.get(HEAD_KEY)? {
            Some(v) if v.len() == 40 => {
                let mut count = [0u8; 8];
                count.copy_from_slice(&v[..8]);
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&v[8..]);
                (u64::from_be_bytes(count), hash)
            }
            Some(_) => return Err(StoreError::corrupt("audit_head", "bad head value")),
            None => (0, [0u8; 32]),
        };
        // A crash after a record but before its head leaves the record last: it is the head.
        // A head beyond the last record means records were removed: new ones go after the
        // head, so the gap stays visible to `verify`.
        let last = match tree.last()? {
            Some((key, value)) => {
                let seq = <[u8; 8]>::try_from(key.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::corrupt("audit", "key is not 8 bytes"))?;
                (seq, *blake3::hash(&value).as_bytes())
            }
            None => (0, [0u8; 32]),
        };
        let head = if last.0 >= written.0 { last } else { written };
        Ok(AuditLog {
            tree,
            head_tree,
            signer,
            network,
            head: Mutex::new(head),
            anchored: Mutex::new(None),
        })
    }

    /// (records written, hash of the last), as an anchor would say.
    pub fn head(&self) -> AuditAnchor {
        let (records, last_hash) = self.head.lock().map(|h| *h).unwrap_or((0, [0; 32]));
        AuditAnchor { records, last_hash }
    }

    /// An anchor of this log found in this node's own feed.
    pub fn note_anchor(&self, anchor: AuditAnchor) {
        let mut anchored = self.anchored.lock().unwrap_or_else(|p| p.into_inner());
        if anchored.is_none_or(|a| anchor.records >= a.records) {
            *anchored = Some(anchor);
        }
    }

    /// The latest anchor of this log in this node's own feed.
    pub fn anchored(&self) -> Option<AuditAnchor> {
        *self.anchored.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a record. Not flushed: callers that answer an API request flush the store
    /// before answering.
    pub fn record(&self, event: Event<'_>) -> Result<u64, StoreError> {
        let mut head = self
            .head
            .lock()
            .map_err(|_| StoreError::corrupt("audit", "lock poisoned"))?;
        let record = AuditRecord {
            seq: head.0 + 1,
            at_ms: now_ms(),
            direction: event.direction,
            action: event.action.to_string(),
            peer: event.peer,
            peer_country: event.peer_country.to_string(),
            subject: event.subject.to_string(),
            details: event.details,
            prev: hex::encode(head.1),
            user: acting::current(),
        };
        let json = serde_json::to_vec(&record)
            .map_err(|e| StoreError::corrupt("audit", format!("cannot encode: {e}")))?;
        let signature = self
            .signer
            .sign(&signing_message(AUDIT_DOMAIN, &self.network, &json));
        let mut value = Vec::with_capacity(64 + json.len());
        value.extend_from_slice(&signature);
        value.extend_from_slice(&json);
        let hash = *blake3::hash(&value).as_bytes();
        self.tree.insert(record.seq.to_be_bytes(), value)?;
        let mut head_value = record.seq.to_be_bytes().to_vec();
        head_value.extend_from_slice(&hash);
        self.head_tree.insert(HEAD_KEY, head_value)?;
        *head = (record.seq, hash);
        Ok(record.seq)
    }

    /// Writes a record, logging instead of failing: an audit write must never stop an answer
    /// that is already on its way, but its loss must be visible.
    pub fn record_or_log(&self, event: Event<'_>) {
        if let Err(e) = self.record(event) {
            tracing::error!("AUDIT LOG WRITE FAILED: {e}");
        }
    }

    /// Records from `from_seq` on, at most `limit`, oldest first.
    pub fn list(&self, from_seq: u64, limit: usize) -> Result<Vec<ListedRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.range(from_seq.max(1).to_be_bytes()..).take(limit) {
            let (_, value) = item?;
            let (signature, json) = split(&value)?;
            let record: AuditRecord = serde_json::from_slice(json)
                .map_err(|e| StoreError::corrupt("audit", e.to_string()))?;
            out.push(ListedRecord {
                at: crate::notices::rfc3339(record.at_ms),
                record,
                hash: blake3::hash(&value).to_hex().to_string(),
                signature: hex::encode(signature),
            });
        }
        Ok(out)
    }

    /// Number of records written.
    pub fn len(&self) -> u64 {
        self.head.lock().map(|h| h.0).unwrap_or(0)
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks every record: its place, its link to the previous one, its signature, and that
    /// the log ends where the head says.
    pub fn verify(&self) -> Result<Verification, StoreError> {
        let me = self.signer.bureau();
        // The head first: records appended while the log is read are not part of this check.
        let (written, head_hash) = self.head.lock().map(|h| *h).unwrap_or((0, [0; 32]));
        let anchor = self.anchored();
        let mut anchored_hash = None;
        let mut problems = Vec::new();
        let mut expected_seq = 1u64;
        let mut prev = [0u8; 32];
        for item in self.tree.iter() {
            let (key, value) = item?;
            let seq = <[u8; 8]>::try_from(key.as_slice())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if seq > written {
                break;
            }
            if seq != expected_seq {
                problems.push(Problem {
                    seq: expected_seq,
                    problem: format!("record missing (next present is {seq})"),
                });
            }
            if let Some(problem) = self.check_one(&me, seq, &value, &prev) {
                problems.push(Problem { seq, problem });
            }
            prev = *blake3::hash(&value).as_bytes();
            if anchor.is_some_and(|a| a.records == seq) {
                anchored_hash = Some(prev);
            }
            expected_seq = seq + 1;
        }
        let held = expected_seq - 1;
        if held != written {
            problems.push(Problem {
                seq: held + 1,
                problem: format!("the log ends at {held} but {written} records were written"),
            });
        } else if written > 0 && head_hash != prev {
            problems.push(Problem {
                seq: held,
                problem: "the last record is not the one the head names".into(),
            });
        }
        if let Some(anchor) = anchor {
            problems.extend(check_anchor(&anchor, held, anchored_hash));
        }
        Ok(Verification {
            ok: problems.is_empty(),
            entries: held,
            problems,
        })
    }

    fn check_one(&self, me: &BureauId, seq: u64, value: &[u8], prev: &[u8; 32]) -> Option<String> {
        let Ok((signature, json)) = split(value) else {
            return Some("record too short".into());
        };
        let message = signing_message(AUDIT_DOMAIN, &self.network, json);
        if me.verify(&message, &signature).is_err() {
            return Some("signature does not verify: the record was altered".into());
        }
        let record: AuditRecord = match serde_json::from_slice(json) {
            Ok(r) => r,
            Err(e) => return Some(format!("record does not decode: {e}")),
        };
        if record.seq != seq {
            return Some(format!(
                "record says seq {} but is stored at {seq}",
                record.seq
            ));
        }
        if record.prev != hex::encode(prev) {
            return Some(
                "does not chain to the previous record (one was removed or altered)".into(),
            );
        }
        None
    }
}

/// What is wrong with a log that ends at `held` (its record at the anchor hashing to
/// `found`) given the anchor in this node's feed.
fn check_anchor(anchor: &AuditAnchor, held: u64, found: Option<[u8; 32]>) -> Option<Problem> {
    if anchor.records > held {
        return Some(Problem {
            seq: held + 1,
            problem: format!(
                "the log ends at {held} but this node's signed feed anchored {} records: the log was cut back",
                anchor.records
            ),
        });
    }
    (anchor.records > 0 && found != Some(anchor.last_hash)).then(|| Problem {
        seq: anchor.records,
        problem: "not the record this node's signed feed anchored: the log was rewritten".into(),
    })
}

fn split(value: &[u8]) -> Result<([u8; 64], &[u8]), StoreError> {
    if value.len() < 64 {
        return Err(StoreError::corrupt("audit", "record too short"));
    }
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&value[..64]);
    Ok((signature, &value[64..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log() -> (tempfile::TempDir, Store, AuditLog) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let log = AuditLog::open(
            &store,
            Signer::from_seed([7; 32]),
            NetworkId::from_name("t"),
        )
        .expect("log");
        (dir, store, log)
    }

    fn write(log: &AuditLog, n: usize) {
        for i in 0..n {
            log.record(Event {
                direction: Direction::Out,
                action: "trace_request",
                peer: Signer::from_seed([8; 32]).bureau(),
                peer_country: "DE",
                subject: &format!("t{i}"),
                details: json!({"case_ref": "C-1"}),
            })
            .expect("write");
        }
    }

    #[test]
    fn an_untouched_log_verifies() {
        let (_d, _s, log) = log();
        write(&log, 5);
        let v = log.verify().expect("verify");
        assert!(v.ok, "{:?}", v.problems);
        assert_eq!(v.entries, 5);
        assert_eq!(log.list(1, 10).expect("list").len(), 5);
    }

    #[test]
    fn records_written_before_accounts_still_verify_and_new_ones_name_the_user() {
        let (_d, store, _empty) = log();
        // A record as written before the `user` field existed: the same JSON without it.
        let old = serde_json::json!({
            "seq": 1, "at_ms": 1, "direction": "out", "action": "trace_request",
            "peer": Signer::from_seed([8; 32]).bureau(), "peer_country": "DE",
            "subject": "t0", "details": {"case_ref": "C-1"}, "prev": hex::encode([0u8; 32]),
        });
        let json = serde_json::to_vec(&old).expect("json");
        let signature = Signer::from_seed([7; 32]).sign(&signing_message(
            AUDIT_DOMAIN,
            &NetworkId::from_name("t"),
            &json,
        ));
        let mut value = signature.to_vec();
        value.extend_from_slice(&json);
        store
            .keyspace("audit")
            .expect("tree")
            .insert(1u64.to_be_bytes(), value)
            .expect("insert");
        let log = AuditLog::open(
            &store,
            Signer::from_seed([7; 32]),
            NetworkId::from_name("t"),
        )
        .expect("reopen");
        let user = ActingUser {
            id: "u1".into(),
            name: "reviewer one".into(),
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(acting::scope(user.clone(), async { write(&log, 1) }));
        let v = log.verify().expect("verify");
        assert!(v.ok, "{:?}", v.problems);
        let listed = log.list(1, 10).expect("list");
        assert_eq!(listed[0].record.user, None);
        assert_eq!(listed[1].record.user, Some(user));
    }

    #[test]
    fn an_edited_record_is_found() {
        let (_d, store, log) = log();
        write(&log, 3);
        let tree = store.keyspace("audit").expect("tree");
        let mut value = tree
            .get(2u64.to_be_bytes())
            .expect("get")
            .expect("present")
            .to_vec();
        let text = String::from_utf8(value[64..].to_vec()).expect("utf8");
        let edited = text.replace("C-1", "C-2");
        value.truncate(64);
        value.extend_from_slice(edited.as_bytes());
        tree.insert(2u64.to_be_bytes(), value).expect("insert");
        let v = log.verify().expect("verify");
        assert!(!v.ok);
        assert_eq!(v.problems[0].seq, 2);
    }

    #[test]
    fn a_tail_cut_with_its_head_rewritten_is_found_against_the_feed_anchor() {
        let (_d, store, log) = log();
        write(&log, 5);
        log.note_anchor(log.head());
        // Someone with the disk removes records 4 and 5 and rewrites the head to match.
        let tree = store.keyspace("audit").expect("tree");
        let third = tree.get(3u64.to_be_bytes()).expect("get").expect("present");
        tree.remove(4u64.to_be_bytes()).expect("remove");
        tree.remove(5u64.to_be_bytes()).expect("remove");
        let mut head = 3u64.to_be_bytes().to_vec();
        head.extend_from_slice(blake3::hash(&third).as_bytes());
        store
            .keyspace("audit_head")
            .expect("tree")
            .insert(HEAD_KEY, head)
            .expect("insert");
        let reopened = AuditLog::open(
            &store,
            Signer::from_seed([7; 32]),
            NetworkId::from_name("t"),
        )
        .expect("log");
        assert!(
            reopened.verify().expect("verify").ok,
            "undetectable without the anchor"
        );
        reopened.note_anchor(log.head());
        let v = reopened.verify().expect("verify");
        assert!(!v.ok);
        assert!(
            v.problems[0].problem.contains("cut back"),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn a_crash_between_a_record_and_its_head_does_not_let_the_next_record_overwrite_it() {
        let (_d, store, log) = log();
        write(&log, 2);
        // Record 3 reached the disk; its head did not.
        let head_before = store
            .keyspace("audit_head")
            .expect("tree")
            .get(HEAD_KEY)
            .expect("get")
            .expect("present");
        write(&log, 1);
        store
            .keyspace("audit_head")
            .expect("tree")
            .insert(HEAD_KEY, head_before)
            .expect("insert");
        let reopened = AuditLog::open(
            &store,
            Signer::from_seed([7; 32]),
            NetworkId::from_name("t"),
        )
        .expect("log");
        write(&reopened, 1);
        let v = reopened.verify().expect("verify");
        assert!(v.ok, "{:?}", v.problems);
        assert_eq!(v.entries, 4);
    }

    #[test]
    fn a_removed_record_is_found_in_the_middle_and_at_the_end() {
        let (_d, store, log) = log();
        write(&log, 4);
        let tree = store.keyspace("audit").expect("tree");
        tree.remove(4u64.to_be_bytes()).expect("remove");
        assert!(!log.verify().expect("verify").ok);
        tree.remove(2u64.to_be_bytes()).expect("remove");
        let v = log.verify().expect("verify");
        assert!(v.problems.iter().any(|p| p.seq == 2));
    }
}
