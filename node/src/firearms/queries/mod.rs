//! Cross-border serial-pattern queries, both sides: for a partial or obliterated serial
//! (`12?45*`) the pattern itself goes, signed, to the members asked, and each holder matches
//! it against its own records under its own policy (`[queries]`).
//!
//! - `requester`: validating and starting a query, sending it to each member, keeping the
//!   signed answers (at once or after the holder's review), asking unreachable members again;
//! - `holder`: answering a query (per-member rate limit, matching, review queue), the review,
//!   and the outbox of reviewed answers.
//!
//! Both sides write every query and answer into the audit log. Trees: `queries_out` (queries
//! sent, with every member's answers), `query_retry` (members to ask again), `queries_in`
//! (queries received, with the answers given), `query_pending` (waiting for review, keyed by
//! requester to bound them per member), `query_outbox` (reviewed answers to deliver).

mod holder;
mod requester;

use std::{collections::HashMap, sync::Mutex, time::Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use striae_protocol::{
    BureauId,
    query::{QueryMatch, QueryResponse},
};

use super::{
    FirearmsNode,
    in_flight::InFlight,
    traces::{StoredSigned, TraceError},
};
use crate::{
    notices::rfc3339,
    store::{Keyspace, Store, StoreError},
};

pub use holder::{on_query_request, review};
pub use requester::{QueryInput, on_query_answer, start};

const OUT_TREE: &str = "queries_out";
const IN_TREE: &str = "queries_in";
const RETRY_TREE: &str = "query_retry";
const PENDING_TREE: &str = "query_pending";
const OUTBOX_TREE: &str = "query_outbox";

/// Most queries a list answer shows.
pub const MAX_LIST: usize = 1_000;
/// Attempts to reach a member with a query or a reviewed answer before giving up (with the
/// one-minute tick, about half a day).
const MAX_ATTEMPTS: u32 = 720;

/// Why a query could not be started, shown or reviewed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such query.
    #[error("no such query")]
    NotFound,
    /// The query is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TraceError> for QueryError {
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::Field { field, message } => QueryError::Field { field, message },
            TraceError::NotFound => QueryError::NotFound,
            TraceError::Conflict(m) => QueryError::Conflict(m),
            TraceError::Store(e) => QueryError::Store(e),
        }
    }
}

fn field(field: &str, message: impl Into<String>) -> QueryError {
    QueryError::Field {
        field: field.to_string(),
        message: message.into(),
    }
}

fn parse_id(text: &str) -> Result<[u8; 16], QueryError> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text.trim(), &mut id)
        .map_err(|_| field("id", "a query id is 32 hexadecimal characters"))?;
    Ok(id)
}

/// A query this node sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Outgoing {
    created_at_ms: u64,
    make: String,
    serial_pattern: String,
    model: String,
    caliber: String,
    case_ref: String,
    reason: String,
    targets: Vec<Target>,
    /// The reference of the user who asked, as its requests carry it (kept, so a request
    /// sent again after a restart still names them; empty in queries stored before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    acting: String,
}

/// One member asked, with what it answered.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Target {
    bureau: String,
    country: String,
    attempts: u32,
    last_error: Option<String>,
    /// Its signed answers, oldest first: at most a pending review and a final one.
    answers: Vec<Received>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Received {
    received_at_ms: u64,
    message: StoredSigned,
}

/// A query received.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Incoming {
    requester: String,
    country: String,
    received_at_ms: u64,
    make: String,
    serial_pattern: String,
    model: String,
    caliber: String,
    case_ref: String,
    reason: String,
    /// Sequence numbers of the records it matched (disclosed only once approved).
    records: Vec<u64>,
    /// Whether more records matched than an answer discloses.
    truncated: bool,
    answers: Vec<StoredSigned>,
    /// `pending_review` or `answered`.
    state: String,
    note: String,
    /// The requester's reference for the user who asked (empty if none, or stored before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    requested_by: String,
}

/// A reviewed answer waiting to reach its requester.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct OutboxItem {
    to: String,
    message: StoredSigned,
    attempts: u32,
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(tree, e))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of strings and numbers always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Key of a member's entry under a query: the query id, then the member.
fn member_key(id: &[u8; 16], bureau: &BureauId) -> Vec<u8> {
    let mut key = id.to_vec();
    key.extend_from_slice(&bureau.0);
    key
}

fn parse_member_key(key: &[u8]) -> Option<([u8; 16], BureauId)> {
    let id = <[u8; 16]>::try_from(key.get(..16)?).ok()?;
    let bureau = BureauId(<[u8; 32]>::try_from(key.get(16..)?).ok()?);
    Some((id, bureau))
}

/// The query trees, and the holder's per-member budget.
pub struct QueryStore {
    out: Keyspace,
    incoming: Keyspace,
    retry: Keyspace,
    pending: Keyspace,
    outbox: Keyspace,
    /// Serialises read-modify-write of stored queries.
    lock: Mutex<()>,
    /// Queries each member may still send now (refilled per `[queries] per_member_per_hour`);
    /// keyed by roster members only, so bounded by the roster.
    budgets: Mutex<HashMap<BureauId, (f64, Instant)>>,
    /// Reviewed answers being delivered right now.
    delivering: InFlight,
}

impl QueryStore {
    /// Opens the query trees.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(QueryStore {
            out: store.keyspace(OUT_TREE)?,
            incoming: store.keyspace(IN_TREE)?,
            retry: store.keyspace(RETRY_TREE)?,
            pending: store.keyspace(PENDING_TREE)?,
            outbox: store.keyspace(OUTBOX_TREE)?,
            lock: Mutex::new(()),
            budgets: Mutex::new(HashMap::new()),
            delivering: InFlight::default(),
        })
    }

    /// Work waiting: queries held for review, answers to deliver, queries to send again.
    /// Walks three keyspaces bounded per member: for metrics, not hot paths.
    pub fn depths(&self) -> [(&'static str, usize); 3] {
        [
            ("query_reviews", self.pending.count()),
            ("query_outbox", self.outbox.count()),
            ("query_retries", self.retry.count()),
        ]
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn outgoing(&self, id: &[u8; 16]) -> Result<Option<Outgoing>, StoreError> {
        self.out.get(id)?.map(|b| decode(OUT_TREE, &b)).transpose()
    }

    fn incoming(&self, id: &[u8; 16]) -> Result<Option<Incoming>, StoreError> {
        self.incoming
            .get(id)?
            .map(|b| decode(IN_TREE, &b))
            .transpose()
    }

    /// Changes a query sent, under the lock.
    fn update_outgoing<R>(
        &self,
        id: &[u8; 16],
        change: impl FnOnce(&mut Outgoing) -> R,
    ) -> Result<Option<R>, StoreError> {
        let _guard = self.guard();
        let Some(mut query) = self.outgoing(id)? else {
            return Ok(None);
        };
        let result = change(&mut query);
        self.out.insert(id, encode(&query))?;
        Ok(Some(result))
    }

    /// Takes one query from `member`'s budget of `per_hour`; false when it is spent.
    fn take_budget(&self, member: BureauId, per_hour: u32) -> bool {
        let capacity = f64::from(per_hour.max(1));
        let now = Instant::now();
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = budgets.entry(member).or_insert((capacity, now));
        let refill = now.duration_since(*at).as_secs_f64() * capacity / 3_600.0;
        *tokens = (*tokens + refill).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A stored answer, verified again (`None` if it no longer verifies).
fn opened(node: &FirearmsNode, signed: &StoredSigned) -> Option<QueryResponse> {
    signed.message()?.open::<QueryResponse>(&node.network).ok()
}

fn match_view(m: &QueryMatch) -> Value {
    json!({
        "record_ref": m.record_ref.to_hex(),
        "make": m.make,
        "model": m.model,
        "caliber": m.caliber,
        "serial": m.serial,
        "status": m.status,
        "match": if m.exact { "exact" } else { "confusable" },
    })
}

/// One member's answer as the API shows it: its latest, verified again.
fn answer_view(node: &FirearmsNode, target: &Target) -> Value {
    let mut view = json!({
        "country": target.country,
        "bureau_id": target.bureau,
        "attempts": target.attempts,
    });
    let Some(last) = target.answers.last() else {
        view["outcome"] = json!(if target.last_error.is_some() {
            "unreachable"
        } else {
            "waiting"
        });
        view["error"] = json!(target.last_error);
        return view;
    };
    match opened(node, &last.message) {
        Some(answer) => {
            view["outcome"] = json!(answer.outcome.as_str());
            view["matches"] = answer.matches.iter().map(match_view).collect();
            view["truncated"] = json!(answer.truncated);
            view["note"] = json!(answer.note);
            view["answered_at"] = json!(rfc3339(answer.answered_at_ms));
            view["signature_valid"] = json!(true);
        }
        None => {
            view["outcome"] = json!("unverifiable");
            view["signature_valid"] = json!(false);
        }
    }
    view["received_at"] = json!(rfc3339(last.received_at_ms));
    view
}

fn outgoing_view(node: &FirearmsNode, id: &[u8; 16], query: &Outgoing) -> Value {
    let answers: Vec<Value> = query.targets.iter().map(|t| answer_view(node, t)).collect();
    let done = answers.iter().all(|a| {
        !matches!(
            a["outcome"].as_str(),
            Some("waiting" | "unreachable" | "pending_review")
        )
    });
    json!({
        "id": hex::encode(id),
        "state": if done { "answered" } else { "open" },
        "make": query.make,
        "serial_pattern": query.serial_pattern,
        "model": query.model,
        "caliber": query.caliber,
        "case_ref": query.case_ref,
        "reason": query.reason,
        "created_at": rfc3339(query.created_at_ms),
        "answers": answers,
    })
}

fn incoming_view(id: &[u8], item: &Incoming) -> Value {
    json!({
        "id": hex::encode(id),
        "requester": item.requester,
        "requested_by": (!item.requested_by.is_empty()).then_some(&item.requested_by),
        "country": item.country,
        "received_at": rfc3339(item.received_at_ms),
        "make": item.make,
        "serial_pattern": item.serial_pattern,
        "model": item.model,
        "caliber": item.caliber,
        "case_ref": item.case_ref,
        "reason": item.reason,
        "matching_records": item.records.len(),
        "truncated": item.truncated,
        "state": item.state,
        "note": item.note,
    })
}

/// A query sent, with every member's answer.
pub fn show(node: &FirearmsNode, id: &str) -> Result<Value, QueryError> {
    let id = parse_id(id)?;
    let query = node
        .firearms
        .queries
        .outgoing(&id)?
        .ok_or(QueryError::NotFound)?;
    Ok(outgoing_view(node, &id, &query))
}

/// Queries sent, newest first, at most `limit`.
pub fn list(node: &FirearmsNode, limit: usize) -> Result<Vec<Value>, QueryError> {
    let mut all: Vec<([u8; 16], Outgoing)> = Vec::new();
    for item in node.firearms.queries.out.iter() {
        let (key, value) = item?;
        let Ok(id) = <[u8; 16]>::try_from(key.as_ref()) else {
            continue;
        };
        all.push((id, decode(OUT_TREE, &value)?));
    }
    all.sort_by_key(|(_, q)| std::cmp::Reverse(q.created_at_ms));
    Ok(all
        .iter()
        .take(limit)
        .map(|(id, q)| outgoing_view(node, id, q))
        .collect())
}

/// Queries received, newest first, at most `limit`; only those waiting for review when
/// `pending_only`.
pub fn incoming(
    node: &FirearmsNode,
    limit: usize,
    pending_only: bool,
) -> Result<Vec<Value>, QueryError> {
    let mut all: Vec<(Vec<u8>, Incoming)> = Vec::new();
    for item in node.firearms.queries.incoming.iter() {
        let (key, value) = item?;
        let query: Incoming = decode(IN_TREE, &value)?;
        if !pending_only || query.state == "pending_review" {
            all.push((key.to_vec(), query));
        }
    }
    all.sort_by_key(|(_, q)| std::cmp::Reverse(q.received_at_ms));
    Ok(all
        .iter()
        .take(limit)
        .map(|(id, q)| incoming_view(id, q))
        .collect())
}

/// Periodic work: delivers reviewed answers and asks again members that were unreachable,
/// when they are connected.
pub async fn tick(node: &FirearmsNode) {
    holder::deliver_reviewed(node).await;
    requester::retry_unreachable(node).await;
}
