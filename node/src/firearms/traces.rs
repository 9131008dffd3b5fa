//! Firearm traces between members, both sides.
//!
//! Requester: `start` builds one signed `TraceRequest` per member to ask (members with a
//! digest hit, the country of manufacture, members listed by the caller), sends them in the
//! background, verifies each signed `TraceResponse` and keeps it (tree `traces_out`). A member
//! that cannot be reached is asked again by `tick` (tree `trace_retry`).
//!
//! Holder: `on_trace_request` verifies the request, finds its records (by the references the
//! requester's digests gave and by the make and serial), and answers by the node's policy:
//! at once, or held for review (tree `traces_in`) until an operator approves or refuses; the
//! final answer then waits in the outbox (tree `trace_outbox`) until the requester confirms
//! receipt. Every request and answer, in or out, goes into the audit log.

use std::{collections::HashSet, sync::Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use striae_firearms_lib::normalise_serial;
use striae_protocol::{
    BureauId, SignedMessage, SyncRequest, SyncResponse, codec,
    firearm::RecordRef,
    time::now_ms,
    trace::{
        MAX_TRACE_FIELD_CHARS, MAX_TRACE_REASON_CHARS, MAX_TRACE_RECORD_REFS, MAX_TRACE_RECORDS,
        MAX_TRACE_RESPONSE_BYTES, TraceOutcome, TraceRequest, TraceResponse, TracedRecord,
    },
};

use crate::{
    audit::{Direction, Event},
    config::TracePolicy,
    firearms::FirearmsNode,
    notices::rfc3339,
    store::{Keyspace, Store, StoreError},
};

use super::records::{make_key, query_digests, query_make_keys, record_view};

const OUT_TREE: &str = "traces_out";
const IN_TREE: &str = "traces_in";
const OUTBOX_TREE: &str = "trace_outbox";
const RETRY_TREE: &str = "trace_retry";
const PENDING_TREE: &str = "trace_pending";
/// Most requests of one member that wait for review at once; more are refused, so that one
/// member cannot fill the reviewers' queue (or the disk).
pub const MAX_PENDING_PER_MEMBER: usize = 1_000;
/// Attempts to reach a member with a request or a reviewed answer before giving up.
const MAX_ATTEMPTS: u32 = 720;
/// Deliveries tried per tick, so one tick stays short.
const MAX_DELIVERIES_PER_TICK: usize = 32;
/// Room kept for the non-record parts of an encoded answer.
const RESPONSE_MARGIN: usize = 16 * 1024;
/// Most traces or incoming requests one list answer carries.
pub const MAX_LIST: usize = 1_000;

/// A signed message as stored (hex), so it can be verified again whenever it is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredSigned {
    bytes: String,
    signature: String,
}

impl StoredSigned {
    fn of(message: &SignedMessage) -> Self {
        StoredSigned {
            bytes: hex::encode(&message.bytes),
            signature: message.signature_hex(),
        }
    }

    fn message(&self) -> Option<SignedMessage> {
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut signature).ok()?;
        Some(SignedMessage {
            bytes: hex::decode(&self.bytes).ok()?,
            signature,
        })
    }
}

/// An answer received for an outgoing trace.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ReceivedAnswer {
    received_at_ms: u64,
    message: StoredSigned,
}

/// A member an outgoing trace asks.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct OutTarget {
    bureau: String,
    country: String,
    /// Why it is asked: `digest_hit`, `country_of_manufacture`, `listed`.
    why: Vec<String>,
    record_refs: Vec<RecordRef>,
    attempts: u32,
    last_error: Option<String>,
    answers: Vec<ReceivedAnswer>,
}

/// A trace this node sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Outgoing {
    created_at_ms: u64,
    make: String,
    model: String,
    caliber: String,
    serial: String,
    case_ref: String,
    reason: String,
    targets: Vec<OutTarget>,
}

/// A trace request this node received.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Incoming {
    requester: String,
    country: String,
    received_at_ms: u64,
    make: String,
    model: String,
    caliber: String,
    serial: String,
    case_ref: String,
    reason: String,
    /// This node's records the request found.
    records: Vec<RecordRef>,
    /// Answers sent, oldest first (a pending review, then the final one).
    answers: Vec<StoredSigned>,
    /// `pending_review` or `answered`.
    state: String,
    /// The reviewer's note, if any.
    note: String,
}

/// An answer waiting to reach its requester.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct OutboxItem {
    to: String,
    message: StoredSigned,
    attempts: u32,
}

/// What a caller asks to trace.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceInput {
    /// Make as written.
    pub make: String,
    /// Serial as written.
    pub serial: String,
    /// Model, if known.
    #[serde(default)]
    pub model: String,
    /// Caliber, if known.
    #[serde(default)]
    pub caliber: String,
    /// The case reference.
    pub case_ref: String,
    /// Why the firearm is traced.
    pub reason: String,
    /// Countries to ask besides those found automatically.
    #[serde(default)]
    pub to: Vec<String>,
}

/// Why a trace could not be started or a review applied.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such trace.
    #[error("no such trace")]
    NotFound,
    /// The request is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn field(field: &str, message: impl Into<String>) -> TraceError {
    TraceError::Field {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The trace trees.
pub struct TraceStore {
    out: Keyspace,
    incoming: Keyspace,
    outbox: Keyspace,
    retry: Keyspace,
    /// Requests waiting for review, keyed by requester and trace id, to bound them per member.
    pending: Keyspace,
    /// Serialises read-modify-write of trace records.
    lock: Mutex<()>,
    /// Reviewed answers being delivered right now: the review's own attempt and the periodic
    /// retry must not both send one answer.
    delivering: Mutex<HashSet<[u8; 16]>>,
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(tree, e))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of strings and numbers always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Key of a request waiting for review: requester first, so one member's are counted with a
/// prefix scan.
fn pending_key(requester: &BureauId, id: &[u8; 16]) -> Vec<u8> {
    let mut key = requester.0.to_vec();
    key.extend_from_slice(id);
    key
}

fn retry_key(id: &[u8; 16], bureau: &BureauId) -> Vec<u8> {
    let mut key = id.to_vec();
    key.extend_from_slice(&bureau.0);
    key
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
            lock: Mutex::new(()),
            delivering: Mutex::new(HashSet::new()),
        })
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn outgoing(&self, id: &[u8; 16]) -> Result<Option<Outgoing>, StoreError> {
        self.out.get(id)?.map(|b| decode(OUT_TREE, &b)).transpose()
    }

    fn update_outgoing<R>(
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

    fn incoming(&self, id: &[u8; 16]) -> Result<Option<Incoming>, StoreError> {
        self.incoming
            .get(id)?
            .map(|b| decode(IN_TREE, &b))
            .transpose()
    }
}

fn parse_trace_id(text: &str) -> Result<[u8; 16], TraceError> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text.trim(), &mut id)
        .map_err(|_| field("id", "a trace id is 32 hexadecimal characters"))?;
    Ok(id)
}

fn check_text(name: &str, value: &str, required: bool, max: usize) -> Result<(), TraceError> {
    if required && value.trim().is_empty() {
        return Err(field(name, "is required"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(field(
            name,
            format!("is {chars} characters long; at most {max} are allowed"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(field(name, "must not contain control characters"));
    }
    Ok(())
}

fn audit(
    node: &FirearmsNode,
    direction: Direction,
    action: &str,
    peer: BureauId,
    subject: &str,
    details: Value,
) {
    let country = node.country_of(&peer);
    node.audit.record_or_log(Event {
        direction,
        action,
        peer,
        peer_country: &country,
        subject,
        details,
    });
}

// ---------------------------------------------------------------- requester side

/// Starts a trace: finds whom to ask, stores the trace, sends the requests in the
/// background, and returns the trace id (hex) at once.
pub async fn start(node: &FirearmsNode, input: TraceInput) -> Result<String, TraceError> {
    check_text("make", &input.make, true, MAX_TRACE_FIELD_CHARS)?;
    check_text("serial", &input.serial, true, MAX_TRACE_FIELD_CHARS)?;
    check_text("model", &input.model, false, MAX_TRACE_FIELD_CHARS)?;
    check_text("caliber", &input.caliber, false, MAX_TRACE_FIELD_CHARS)?;
    check_text("case_ref", &input.case_ref, true, MAX_TRACE_FIELD_CHARS)?;
    check_text("reason", &input.reason, true, MAX_TRACE_REASON_CHARS)?;
    normalise_serial(&input.serial).map_err(|e| field("serial", e.to_string()))?;
    let targets = targets(node, &input)?;
    let id: [u8; 16] = rand::random();
    let trace = Outgoing {
        created_at_ms: now_ms(),
        make: input.make,
        model: input.model,
        caliber: input.caliber,
        serial: input.serial,
        case_ref: input.case_ref,
        reason: input.reason,
        targets,
    };
    node.firearms.traces.out.insert(id, encode(&trace))?;
    node.store.flush().await?;
    for target in &trace.targets {
        if let Ok(bureau) = target.bureau.parse::<BureauId>() {
            let node = node.clone();
            tokio::spawn(async move { send_request(&node, id, bureau).await });
        }
    }
    Ok(hex::encode(id))
}

/// The members a trace asks, and why.
fn targets(node: &FirearmsNode, input: &TraceInput) -> Result<Vec<OutTarget>, TraceError> {
    let mut targets: Vec<OutTarget> = Vec::new();
    let mut add = |bureau: BureauId, why: &str, record_ref: Option<RecordRef>| {
        let text = bureau.to_string();
        let at = match targets.iter().position(|t| t.bureau == text) {
            Some(at) => at,
            None => {
                targets.push(OutTarget {
                    bureau: text,
                    country: node.country_of(&bureau),
                    why: Vec::new(),
                    record_refs: Vec::new(),
                    attempts: 0,
                    last_error: None,
                    answers: Vec::new(),
                });
                targets.len() - 1
            }
        };
        let target = &mut targets[at];
        if !target.why.iter().any(|w| w == why) {
            target.why.push(why.to_string());
        }
        if let Some(r) = record_ref
            && target.record_refs.len() < MAX_TRACE_RECORD_REFS
            && !target.record_refs.contains(&r)
        {
            target.record_refs.push(r);
        }
    };
    for hit in node.firearms.lookup(node, &input.make, &input.serial) {
        if hit.origin != node.me {
            add(hit.origin, "digest_hit", Some(hit.record_ref));
        }
    }
    let table = node.firearms.table();
    let make = table.normalise_make(&input.make);
    let maker_country = make
        .id
        .as_deref()
        .and_then(|id| table.make_country(id))
        .map(str::to_string);
    if let Some(member) = maker_country
        .as_deref()
        .and_then(|cc| node.roster.by_country(cc))
        && member.bureau != node.me
    {
        add(member.bureau, "country_of_manufacture", None);
    }
    for (i, cc) in input.to.iter().enumerate() {
        let cc = cc.trim().to_ascii_uppercase();
        let Some(member) = node.roster.by_country(&cc) else {
            return Err(field(
                &format!("to[{i}]"),
                format!("`{cc}` is not a member country of this network"),
            ));
        };
        if member.bureau == node.me {
            return Err(field(&format!("to[{i}]"), "is this node's own country"));
        }
        add(member.bureau, "listed", None);
    }
    if targets.is_empty() {
        let maker = maker_country.unwrap_or_else(|| "unknown".to_string());
        return Err(field(
            "to",
            format!(
                "no member to ask: no other member holds a matching digest, the country of manufacture ({maker}) is not a member, and `to` names no country"
            ),
        ));
    }
    Ok(targets)
}

/// Sends (or sends again) the request of trace `id` to `bureau` and keeps its answer.
async fn send_request(node: &FirearmsNode, id: [u8; 16], bureau: BureauId) {
    let outcome = try_send_request(node, id, bureau).await;
    let traces = &node.firearms.traces;
    let error = outcome.err();
    let updated = traces.update_outgoing(&id, |trace| {
        if let Some(t) = trace
            .targets
            .iter_mut()
            .find(|t| t.bureau == bureau.to_string())
        {
            t.attempts += 1;
            t.last_error = error.clone();
        }
    });
    if let Err(e) = updated {
        tracing::error!("cannot update trace: {e}");
    }
    let key = retry_key(&id, &bureau);
    let retry = match &error {
        Some(e) if e.starts_with("unreachable") => traces.retry.insert(key, []).map(|_| ()),
        _ => traces.retry.remove(key).map(|_| ()),
    };
    if let Err(e) = retry {
        tracing::error!("cannot update trace retries: {e}");
    }
    if let Err(e) = node.store.flush().await {
        tracing::error!("cannot flush trace: {e}");
    }
}

async fn try_send_request(
    node: &FirearmsNode,
    id: [u8; 16],
    bureau: BureauId,
) -> Result<(), String> {
    let trace = node
        .firearms
        .traces
        .outgoing(&id)
        .map_err(|e| e.to_string())?
        .ok_or("the trace is gone")?;
    let record_refs = trace
        .targets
        .iter()
        .find(|t| t.bureau == bureau.to_string())
        .map(|t| t.record_refs.clone())
        .unwrap_or_default();
    let request = TraceRequest {
        trace_id: id,
        requester: node.me,
        issued_at_ms: now_ms(),
        make: trace.make.clone(),
        model: trace.model.clone(),
        caliber: trace.caliber.clone(),
        serial: trace.serial.clone(),
        case_ref: trace.case_ref.clone(),
        reason: trace.reason.clone(),
        record_refs,
    };
    let message = SignedMessage::sign(&request, &node.signer, &node.network)
        .map_err(|e| format!("cannot sign: {e}"))?;
    audit(
        node,
        Direction::Out,
        "trace_request",
        bureau,
        &hex::encode(id),
        json!({
            "case_ref": request.case_ref,
            "reason": request.reason,
            "make": request.make,
            "serial": request.serial,
            "record_refs": request.record_refs.len(),
        }),
    );
    match node.ask(&bureau, SyncRequest::Trace(message)).await {
        Ok(SyncResponse::Trace(answer)) => accept_answer(node, bureau, &answer).map(|_| ()),
        Ok(SyncResponse::Refused(why)) => Err(format!("the member refused the request: {why}")),
        Ok(_) => Err("the member answered with something other than a trace answer".into()),
        Err(e) => Err(format!("unreachable: {e}")),
    }
}

/// Verifies a signed answer from `from` and keeps it with its trace.
fn accept_answer(
    node: &FirearmsNode,
    from: BureauId,
    message: &SignedMessage,
) -> Result<TraceOutcome, String> {
    let response: TraceResponse = message
        .open_from(&node.network, &from)
        .map_err(|e| format!("answer does not verify: {e}"))?;
    if response.requester != node.me {
        return Err("the answer is addressed to another member".into());
    }
    let from_text = from.to_string();
    let stored = node
        .firearms
        .traces
        .update_outgoing(&response.trace_id, |trace| {
            let Some(target) = trace.targets.iter_mut().find(|t| t.bureau == from_text) else {
                return false;
            };
            target.answers.push(ReceivedAnswer {
                received_at_ms: now_ms(),
                message: StoredSigned::of(message),
            });
            target.last_error = None;
            true
        })
        .map_err(|e| e.to_string())?;
    if stored != Some(true) {
        return Err("no such trace was sent to this member".into());
    }
    audit(
        node,
        Direction::In,
        "trace_response",
        from,
        &hex::encode(response.trace_id),
        json!({
            "outcome": response.outcome.as_str(),
            "records": response.records.len(),
            "note": response.note,
        }),
    );
    Ok(response.outcome)
}

/// Receives an answer that followed a review.
pub async fn on_trace_answer(
    node: &FirearmsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    match accept_answer(node, from, &message) {
        Ok(_) => match node.store.flush().await {
            Ok(()) => SyncResponse::Received,
            Err(e) => SyncResponse::Refused(format!("cannot store the answer: {e}")),
        },
        Err(e) => SyncResponse::Refused(e),
    }
}

/// An answer as shown to the requester: verified again from the stored signed bytes.
fn answer_views(node: &FirearmsNode, target: &OutTarget) -> Vec<Value> {
    let Some(last) = target.answers.last() else {
        return Vec::new();
    };
    let message = last.message.message();
    let verified = message
        .as_ref()
        .and_then(|m| m.open::<TraceResponse>(&node.network).ok());
    let signature_valid = verified
        .as_ref()
        .is_some_and(|r| r.responder.to_string() == target.bureau && r.requester == node.me);
    // A tampered answer is still shown (decoded without trust) so the operator sees it.
    let response = verified.or_else(|| {
        message
            .and_then(|m| codec::decode::<TraceResponse>(&m.bytes, MAX_TRACE_RESPONSE_BYTES).ok())
    });
    let Some(response) = response else {
        return vec![json!({
            "country": target.country,
            "bureau_id": target.bureau,
            "outcome": "unreadable",
            "signature_valid": false,
        })];
    };
    let base = json!({
        "country": target.country,
        "bureau_id": target.bureau,
        "outcome": response.outcome.as_str(),
        "signature_valid": signature_valid,
        "answered_at": rfc3339(response.answered_at_ms),
        "received_at": rfc3339(last.received_at_ms),
        "note": response.note,
    });
    if response.records.is_empty() {
        return vec![base];
    }
    response
        .records
        .iter()
        .map(|r| {
            let record: Value = serde_json::from_str(&r.json).unwrap_or(Value::Null);
            let mut view = base.clone();
            view["record_ref"] = json!(r.record_ref.to_hex());
            view["history"] = record.get("history").cloned().unwrap_or(json!([]));
            view["record"] = record;
            view
        })
        .collect()
}

fn is_final(node: &FirearmsNode, target: &OutTarget) -> bool {
    target
        .answers
        .last()
        .and_then(|a| a.message.message())
        .and_then(|m| m.open::<TraceResponse>(&node.network).ok())
        .is_some_and(|r| r.outcome != TraceOutcome::PendingReview)
        || target
            .last_error
            .as_deref()
            .is_some_and(|e| !e.starts_with("unreachable"))
        || target.attempts >= MAX_ATTEMPTS
}

fn outgoing_view(node: &FirearmsNode, id: &[u8; 16], trace: &Outgoing) -> Value {
    let complete = trace.targets.iter().all(|t| is_final(node, t));
    json!({
        "id": hex::encode(id),
        "state": if complete { "complete" } else { "pending" },
        "created_at": rfc3339(trace.created_at_ms),
        "make": trace.make,
        "model": trace.model,
        "caliber": trace.caliber,
        "serial": trace.serial,
        "case_ref": trace.case_ref,
        "reason": trace.reason,
        "asked": trace.targets.iter().map(|t| json!({
            "country": t.country,
            "bureau_id": t.bureau,
            "why": t.why,
            "record_refs": t.record_refs.iter().map(RecordRef::to_hex).collect::<Vec<_>>(),
            "answered": !t.answers.is_empty(),
            "attempts": t.attempts,
            "last_error": t.last_error,
        })).collect::<Vec<_>>(),
        "responses": trace.targets.iter().flat_map(|t| answer_views(node, t)).collect::<Vec<_>>(),
    })
}

/// `GET /v1/traces/{id}`.
pub fn show(node: &FirearmsNode, id: &str) -> Result<Value, TraceError> {
    let id = parse_trace_id(id)?;
    let trace = node
        .firearms
        .traces
        .outgoing(&id)?
        .ok_or(TraceError::NotFound)?;
    Ok(outgoing_view(node, &id, &trace))
}

/// `GET /v1/traces`: the traces this node sent, newest first.
pub fn list(node: &FirearmsNode, limit: usize) -> Result<Vec<Value>, TraceError> {
    let traces = node.firearms.traces.out.iter().filter_map(|item| {
        let (key, value) = match item {
            Ok(kv) => kv,
            Err(e) => return Some(Err(e.into())),
        };
        let id = <[u8; 16]>::try_from(key.as_ref()).ok()?;
        Some(
            decode::<Outgoing>(OUT_TREE, &value)
                .map(|trace| (id, trace))
                .map_err(TraceError::from),
        )
    });
    let newest = newest_first(traces, limit, |(_, t)| t.created_at_ms)?;
    Ok(newest
        .iter()
        .map(|(id, t)| outgoing_view(node, id, t))
        .collect())
}

/// The `limit` newest of `items`, newest first. At most twice `limit` are held at a time:
/// a node keeps far more traces than one page shows.
fn newest_first<T>(
    items: impl Iterator<Item = Result<T, TraceError>>,
    limit: usize,
    at: impl Fn(&T) -> u64,
) -> Result<Vec<T>, TraceError> {
    let keep = |kept: &mut Vec<T>| {
        kept.sort_by_key(|t| std::cmp::Reverse(at(t)));
        kept.truncate(limit);
    };
    let mut kept = Vec::new();
    for item in items {
        kept.push(item?);
        if kept.len() >= limit.saturating_mul(2).max(1) {
            keep(&mut kept);
        }
    }
    keep(&mut kept);
    Ok(kept)
}

// ---------------------------------------------------------------- holder side

/// This node's records a request matches by make and serial (exact or confusable). A record
/// named by reference counts only when it matches too, so that references learnt from
/// digests cannot be used to fetch records without knowing the firearm; naming it still
/// finds a record whose digest was retracted since (recovered, closed).
fn find_records(node: &FirearmsNode, request: &TraceRequest) -> Vec<RecordRef> {
    let table = node.firearms.table();
    let query: Vec<([u8; 16], [u8; 16])> = query_make_keys(&table, &request.make)
        .iter()
        .filter_map(|k| query_digests(&node.digest_key, k, &request.serial))
        .collect();
    let mut found: Vec<RecordRef> = Vec::new();
    for r in &request.record_refs {
        let Ok(Some(stored)) = node.firearms.record(r) else {
            continue;
        };
        let make = make_key(&stored.record.make.normalised);
        let exact = node
            .digest_key
            .exact(&make, &stored.record.serial.normalised);
        let confusable = node
            .digest_key
            .confusable(&make, &stored.record.serial.confusable);
        let matches = query.iter().any(|(e, c)| *e == exact || *c == confusable);
        if matches && !found.contains(r) {
            found.push(*r);
        }
    }
    for hit in node.firearms.lookup(node, &request.make, &request.serial) {
        if hit.origin == node.me && !found.contains(&hit.record_ref) {
            found.push(hit.record_ref);
        }
    }
    found.truncate(MAX_TRACE_RECORDS);
    found
}

/// Signs an answer; with `Found`, the records (as many as fit in an answer).
fn sign_answer(
    node: &FirearmsNode,
    trace_id: [u8; 16],
    requester: BureauId,
    outcome: TraceOutcome,
    records: &[RecordRef],
    note: &str,
) -> Result<SignedMessage, String> {
    let mut traced = Vec::new();
    let mut size = 0usize;
    if outcome == TraceOutcome::Found {
        for r in records {
            let Ok(Some(stored)) = node.firearms.record(r) else {
                continue;
            };
            let json = record_view(*r, &stored).to_string();
            if size + json.len() + 64 > MAX_TRACE_RESPONSE_BYTES - RESPONSE_MARGIN {
                break;
            }
            size += json.len() + 64;
            traced.push(TracedRecord {
                record_ref: *r,
                json,
            });
        }
    }
    // Records can vanish between the search and the answer; then nothing is found.
    let outcome = if outcome == TraceOutcome::Found && traced.is_empty() {
        TraceOutcome::NotFound
    } else {
        outcome
    };
    let response = TraceResponse {
        trace_id,
        responder: node.me,
        requester,
        answered_at_ms: now_ms(),
        outcome,
        records: traced,
        note: note.chars().take(MAX_TRACE_REASON_CHARS).collect(),
    };
    SignedMessage::sign(&response, &node.signer, &node.network).map_err(|e| e.to_string())
}

/// Answers another member's trace request.
pub async fn on_trace_request(
    node: &FirearmsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    match answer_request(node, from, &message) {
        Ok(answer) => match node.store.flush().await {
            Ok(()) => SyncResponse::Trace(answer),
            Err(e) => SyncResponse::Refused(format!("cannot store the request: {e}")),
        },
        Err(why) => SyncResponse::Refused(why),
    }
}

fn answer_request(
    node: &FirearmsNode,
    from: BureauId,
    message: &SignedMessage,
) -> Result<SignedMessage, String> {
    let request: TraceRequest = message
        .open_from(&node.network, &from)
        .map_err(|e| format!("trace request does not verify: {e}"))?;
    request
        .check()
        .map_err(|f| format!("trace request field `{f}` is too long"))?;
    let traces = &node.firearms.traces;
    let subject = hex::encode(request.trace_id);
    let _guard = traces.guard();
    if let Some(existing) = traces
        .incoming(&request.trace_id)
        .map_err(|e| e.to_string())?
    {
        // A retry of a request already answered: the same answer again.
        if existing.requester != from.to_string() {
            return Err("this trace id is already used by another member".into());
        }
        let answer = existing
            .answers
            .last()
            .and_then(StoredSigned::message)
            .ok_or_else(|| "the stored answer is unreadable".to_string())?;
        // Sent again, so logged again.
        audit(
            node,
            Direction::In,
            "trace_request",
            from,
            &subject,
            json!({"repeat": true}),
        );
        let outcome = existing
            .answers
            .last()
            .and_then(|a| outcome_of(node, a))
            .map(|r| r.outcome.as_str());
        audit(
            node,
            Direction::Out,
            "trace_response",
            from,
            &subject,
            json!({"repeat": true, "outcome": outcome}),
        );
        return Ok(answer);
    }
    audit(
        node,
        Direction::In,
        "trace_request",
        from,
        &subject,
        json!({
            "case_ref": request.case_ref,
            "reason": request.reason,
            "make": request.make,
            "model": request.model,
            "caliber": request.caliber,
            "serial": request.serial,
            "record_refs": request.record_refs.len(),
        }),
    );
    let records = find_records(node, &request);
    let outcome = if records.is_empty() {
        TraceOutcome::NotFound
    } else if node.firearms.policy() == TracePolicy::Review {
        let waiting = traces
            .pending
            .scan_prefix(from.0)
            .take(MAX_PENDING_PER_MEMBER)
            .count();
        if waiting >= MAX_PENDING_PER_MEMBER {
            return Err(format!(
                "{MAX_PENDING_PER_MEMBER} of your requests already wait for review here; try again once they are answered"
            ));
        }
        traces
            .pending
            .insert(pending_key(&from, &request.trace_id), [])
            .map_err(|e| e.to_string())?;
        TraceOutcome::PendingReview
    } else {
        TraceOutcome::Found
    };
    let answer = sign_answer(node, request.trace_id, from, outcome, &records, "")?;
    let incoming = Incoming {
        requester: from.to_string(),
        country: node.country_of(&from),
        received_at_ms: now_ms(),
        make: request.make,
        model: request.model,
        caliber: request.caliber,
        serial: request.serial,
        case_ref: request.case_ref,
        reason: request.reason,
        records: records.clone(),
        answers: vec![StoredSigned::of(&answer)],
        state: if outcome == TraceOutcome::PendingReview {
            "pending_review".into()
        } else {
            "answered".into()
        },
        note: String::new(),
    };
    traces
        .incoming
        .insert(request.trace_id, encode(&incoming))
        .map_err(|e| e.to_string())?;
    audit(
        node,
        Direction::Out,
        "trace_response",
        from,
        &subject,
        json!({
            "outcome": outcome.as_str(),
            "records": records.iter().map(RecordRef::to_hex).collect::<Vec<_>>(),
        }),
    );
    Ok(answer)
}

fn outcome_of(node: &FirearmsNode, signed: &StoredSigned) -> Option<TraceResponse> {
    signed.message()?.open::<TraceResponse>(&node.network).ok()
}

fn incoming_view(node: &FirearmsNode, id: &[u8], item: &Incoming) -> Value {
    let last = item.answers.last().and_then(|a| outcome_of(node, a));
    json!({
        "id": hex::encode(id),
        "country": item.country,
        "bureau_id": item.requester,
        "received_at": rfc3339(item.received_at_ms),
        "case_ref": item.case_ref,
        "reason": item.reason,
        "make": item.make,
        "model": item.model,
        "caliber": item.caliber,
        "serial": item.serial,
        "records": item.records.iter().map(RecordRef::to_hex).collect::<Vec<_>>(),
        "state": item.state,
        "outcome": last.as_ref().map(|r| r.outcome.as_str()),
        "answered_at": last.as_ref().map(|r| rfc3339(r.answered_at_ms)),
        "note": item.note,
    })
}

/// `GET /v1/traces/incoming`: requests received, newest first.
pub fn incoming(node: &FirearmsNode, limit: usize) -> Result<Vec<Value>, TraceError> {
    let items = node.firearms.traces.incoming.iter().map(|item| {
        let (key, value) = item?;
        let incoming: Incoming = decode(IN_TREE, &value)?;
        Ok((key.to_vec(), incoming))
    });
    let newest = newest_first(items, limit, |(_, i)| i.received_at_ms)?;
    Ok(newest
        .iter()
        .map(|(id, i)| incoming_view(node, id, i))
        .collect())
}

/// Approves (discloses) or refuses a request held for review; the answer is delivered in the
/// background and retried until the requester has it.
pub async fn review(
    node: &FirearmsNode,
    id: &str,
    approve: bool,
    note: &str,
) -> Result<Value, TraceError> {
    check_text("note", note, false, MAX_TRACE_REASON_CHARS)?;
    let trace_id = parse_trace_id(id)?;
    let traces = &node.firearms.traces;
    let (requester, view) = {
        let _guard = traces.guard();
        let mut item = traces.incoming(&trace_id)?.ok_or(TraceError::NotFound)?;
        if item.state != "pending_review" {
            return Err(TraceError::Conflict(format!(
                "this request is not waiting for review (it is {})",
                item.state
            )));
        }
        let requester: BureauId = item
            .requester
            .parse()
            .map_err(|_| StoreError::corrupt(IN_TREE, "bad requester"))?;
        let outcome = if approve {
            TraceOutcome::Found
        } else {
            TraceOutcome::Refused
        };
        let answer = sign_answer(node, trace_id, requester, outcome, &item.records, note)
            .map_err(|e| StoreError::corrupt(IN_TREE, e))?;
        item.answers.push(StoredSigned::of(&answer));
        item.state = "answered".into();
        item.note = note.to_string();
        let outbox = OutboxItem {
            to: item.requester.clone(),
            message: StoredSigned::of(&answer),
            attempts: 0,
        };
        traces.incoming.insert(trace_id, encode(&item))?;
        traces.outbox.insert(trace_id, encode(&outbox))?;
        traces.pending.remove(pending_key(&requester, &trace_id))?;
        audit(
            node,
            Direction::Out,
            "trace_review",
            requester,
            id,
            json!({"decision": if approve { "approved" } else { "refused" }, "note": note}),
        );
        (requester, incoming_view(node, &trace_id, &item))
    };
    node.store.flush().await?;
    let node = node.clone();
    tokio::spawn(async move {
        deliver(&node, trace_id).await;
        tracing::debug!(%requester, "reviewed trace answer delivery tried");
    });
    Ok(view)
}

/// Tries to hand a reviewed answer to its requester, unless that is under way already.
async fn deliver(node: &FirearmsNode, trace_id: [u8; 16]) {
    let traces = &node.firearms.traces;
    let claimed = traces
        .delivering
        .lock()
        .map(|mut d| d.insert(trace_id))
        .unwrap_or(false);
    if !claimed {
        return;
    }
    deliver_once(node, trace_id).await;
    if let Ok(mut d) = traces.delivering.lock() {
        d.remove(&trace_id);
    }
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
            audit(
                node,
                Direction::Out,
                "trace_response",
                to,
                &hex::encode(trace_id),
                json!({"outcome": outcome, "after_review": true}),
            );
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
    let traces = &node.firearms.traces;
    let mut tried = 0;
    let pending: Vec<([u8; 16], Option<BureauId>)> = traces
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
            return;
        }
        if to.is_some_and(|b| node.is_connected(&b)) {
            tried += 1;
            deliver(node, id).await;
        }
    }
    let retries: Vec<([u8; 16], BureauId)> = traces
        .retry
        .iter()
        .filter_map(Result::ok)
        .filter_map(|(k, _)| {
            let id = <[u8; 16]>::try_from(k.get(..16)?).ok()?;
            let bureau = BureauId(<[u8; 32]>::try_from(k.get(16..)?).ok()?);
            Some((id, bureau))
        })
        .collect();
    for (id, bureau) in retries {
        if tried >= MAX_DELIVERIES_PER_TICK {
            return;
        }
        let gave_up = matches!(traces.outgoing(&id), Ok(Some(t)) if t
            .targets
            .iter()
            .any(|x| x.bureau == bureau.to_string() && x.attempts >= MAX_ATTEMPTS))
            || matches!(traces.outgoing(&id), Ok(None));
        if gave_up {
            let _ = traces.retry.remove(retry_key(&id, &bureau));
            continue;
        }
        if node.is_connected(&bureau) {
            tried += 1;
            send_request(node, id, bureau).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_holds_the_newest_first_whatever_the_stored_order() {
        let times = [5u64, 90, 12, 77, 3, 64, 90, 41, 8, 55, 23];
        for limit in [1, 2, 3, 5, 11, 20] {
            let items = times.iter().map(|t| Ok::<u64, TraceError>(*t));
            let page = newest_first(items, limit, |t| *t).unwrap();
            let mut expected = times.to_vec();
            expected.sort_by(|a, b| b.cmp(a));
            expected.truncate(limit);
            assert_eq!(page, expected, "limit {limit}");
        }
    }

    #[test]
    fn a_stored_item_that_does_not_decode_fails_the_page() {
        let items = vec![Ok(1u64), Err(TraceError::NotFound), Ok(2u64)];
        assert!(newest_first(items.into_iter(), 10, |t| *t).is_err());
    }
}
