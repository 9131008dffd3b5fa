//! The requester side of queries: validating and starting a query, sending the signed query
//! to each member asked, keeping each signed answer (at once, or after the holder's review),
//! and asking again the members that could not be reached.

use serde::Deserialize;
use serde_json::json;
use striae_firearms_lib::SerialPattern;
use striae_protocol::{
    BureauId, SignedMessage, SyncRequest, SyncResponse,
    query::{MAX_QUERY_FIELD_CHARS, MAX_QUERY_REASON_CHARS, QueryRequest, QueryResponse},
    time::now_ms,
};

use super::{
    MAX_ATTEMPTS, OUT_TREE, Outgoing, QueryError, Received, Target, decode, encode, field,
    member_key, parse_member_key,
};
use crate::metrics::Metrics;
use crate::{
    audit::{Direction, naming_requester},
    firearms::{
        FirearmsNode,
        traces::{StoredSigned, audit, check_text},
    },
    store::StoreError,
};

/// Members reached per tick when asking again, so one tick stays short.
const RETRIES_PER_TICK: usize = 32;
/// Largest "held for review" answer kept (it carries a note at most).
const MAX_PENDING_ANSWER_BYTES: usize = 8 * 1024;

/// What a caller asks.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryInput {
    /// Make as written.
    #[schema(min_length = 1, max_length = 200)]
    pub make: String,
    /// The serial pattern: letters and digits, `?` for one unknown character, `*` for an
    /// unknown run; at least four known characters.
    pub serial_pattern: String,
    /// Caliber, if known.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub caliber: String,
    /// Model, if known.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub model: String,
    /// The case reference.
    #[schema(min_length = 1, max_length = 200)]
    pub case_ref: String,
    /// Why the query is made.
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
    /// Countries to ask (every other member when absent or empty).
    #[serde(default)]
    pub to: Vec<String>,
}

/// Starts a query: checks it, stores it, sends it to each member in the background, and
/// returns its id (hex) at once.
pub async fn start(node: &FirearmsNode, input: QueryInput) -> Result<String, QueryError> {
    let pattern = check_input(&input)?;
    let targets = targets(node, &input.to)?;
    let id: [u8; 16] = rand::random();
    let query = Outgoing {
        created_at_ms: now_ms(),
        make: input.make,
        serial_pattern: pattern.as_str().to_string(),
        model: input.model,
        caliber: input.caliber,
        case_ref: input.case_ref,
        reason: input.reason,
        targets,
        acting: node.acting_reference(),
    };
    let queries = &node.firearms.queries;
    queries.out.insert(id, encode(&query))?;
    // Every member is due until its answer is stored: a crash after this answer leaves the
    // sending to the tick, never forgotten.
    let members: Vec<BureauId> = query
        .targets
        .iter()
        .filter_map(|t| t.bureau.parse().ok())
        .collect();
    for bureau in &members {
        queries.retry.insert(member_key(&id, bureau), [])?;
    }
    node.store.flush().await?;
    for bureau in members {
        let node = node.clone();
        // The query's audit record names the user who started it.
        tokio::spawn(crate::audit::carry(
            async move { send(&node, id, bureau).await },
        ));
    }
    Ok(hex::encode(id))
}

/// Checks the fields of a query to start; the parsed pattern.
fn check_input(input: &QueryInput) -> Result<SerialPattern, QueryError> {
    check_text("make", &input.make, true, MAX_QUERY_FIELD_CHARS)?;
    check_text(
        "serial_pattern",
        &input.serial_pattern,
        true,
        MAX_QUERY_FIELD_CHARS,
    )?;
    check_text("model", &input.model, false, MAX_QUERY_FIELD_CHARS)?;
    check_text("caliber", &input.caliber, false, MAX_QUERY_FIELD_CHARS)?;
    check_text("case_ref", &input.case_ref, true, MAX_QUERY_FIELD_CHARS)?;
    check_text("reason", &input.reason, true, MAX_QUERY_REASON_CHARS)?;
    SerialPattern::parse(&input.serial_pattern).map_err(|e| field("serial_pattern", e.to_string()))
}

/// The members named by `to`, or every other member.
fn targets(node: &FirearmsNode, to: &[String]) -> Result<Vec<Target>, QueryError> {
    let target = |bureau: BureauId| Target {
        bureau: bureau.to_string(),
        country: node.country_of(&bureau),
        attempts: 0,
        last_error: None,
        answers: Vec::new(),
    };
    if to.is_empty() {
        let all: Vec<Target> = node
            .roster
            .members
            .keys()
            .filter(|b| **b != node.me)
            .map(|b| target(*b))
            .collect();
        if all.is_empty() {
            return Err(field("to", "this network has no other member to ask"));
        }
        return Ok(all);
    }
    let mut out: Vec<Target> = Vec::new();
    for (i, cc) in to.iter().enumerate() {
        let cc = cc.trim().to_ascii_uppercase();
        let name = format!("to[{i}]");
        let member = node.roster.by_country(&cc).ok_or_else(|| {
            field(
                &name,
                format!("`{cc}` is not a member country of this network"),
            )
        })?;
        if member.bureau == node.me {
            return Err(field(&name, "is this node's own country"));
        }
        if !out.iter().any(|t| t.bureau == member.bureau.to_string()) {
            out.push(target(member.bureau));
        }
    }
    Ok(out)
}

/// Why a member gave no usable answer; kept as its `last_error`.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the query is gone")]
    Gone,
    #[error("cannot sign: {0}")]
    Sign(#[source] striae_protocol::SignedError),
    #[error("the member refused the query: {0}")]
    Refused(String),
    #[error("the answer was not kept: {0}")]
    Answer(#[source] AnswerError),
    #[error("the member answered with something other than a query answer")]
    Unexpected,
    /// Asked again once the member is connected.
    #[error("unreachable: {0}")]
    Unreachable(#[source] crate::core::AskError),
}

/// Sends (or sends again) query `id` to `bureau` and keeps its answer.
async fn send(node: &FirearmsNode, id: [u8; 16], bureau: BureauId) {
    let result = try_send(node, id, bureau).await;
    let queries = &node.firearms.queries;
    let error = result.err();
    let last_error = error.as_ref().map(ToString::to_string);
    let updated = queries.update_outgoing(&id, |q| {
        if let Some(t) = q
            .targets
            .iter_mut()
            .find(|t| t.bureau == bureau.to_string())
        {
            t.attempts += 1;
            t.last_error = last_error;
        }
    });
    let key = member_key(&id, &bureau);
    let retry = match &error {
        Some(SendError::Unreachable(_)) => queries.retry.insert(key, []).map(|_| ()),
        _ => queries.retry.remove(key).map(|_| ()),
    };
    if let Err(e) = updated.map(|_| ()).and(retry) {
        tracing::error!("cannot update a query sent: {e}");
    }
    if let Err(e) = node.store.flush().await {
        tracing::error!("cannot flush a query sent: {e}");
    }
}

async fn try_send(node: &FirearmsNode, id: [u8; 16], bureau: BureauId) -> Result<(), SendError> {
    let query = node
        .firearms
        .queries
        .outgoing(&id)?
        .ok_or(SendError::Gone)?;
    let request = QueryRequest {
        query_id: id,
        requester: node.me,
        issued_at_ms: now_ms(),
        make: query.make,
        serial_pattern: query.serial_pattern,
        model: query.model,
        caliber: query.caliber,
        case_ref: query.case_ref,
        reason: query.reason,
        acting: query.acting,
    };
    let message =
        SignedMessage::sign(&request, &node.signer, &node.network).map_err(SendError::Sign)?;
    audit(
        node,
        Direction::Out,
        "query_request",
        bureau,
        &hex::encode(id),
        naming_requester(
            json!({
                "case_ref": request.case_ref,
                "reason": request.reason,
                "make": request.make,
                "serial_pattern": request.serial_pattern,
            }),
            &request.acting,
        ),
    )?;
    // What the query discloses leaves only once its record is on disk.
    node.store.flush().await?;
    match node.ask(&bureau, SyncRequest::Query(message)).await {
        Ok(SyncResponse::Query(answer)) => {
            keep_answer(node, bureau, &answer, Some(id)).map_err(SendError::Answer)?;
            Ok(())
        }
        Ok(SyncResponse::Refused(why)) => Err(SendError::Refused(why)),
        Ok(_) => Err(SendError::Unexpected),
        Err(e) => Err(SendError::Unreachable(e)),
    }
}

/// Why a member's answer was not kept.
#[derive(Debug, thiserror::Error)]
pub(super) enum AnswerError {
    #[error("answer does not verify: {0}")]
    Unverified(#[source] striae_protocol::SignedError),
    #[error("the answer is addressed to another member")]
    NotForUs,
    #[error("the answer breaks a bound: `{0}`")]
    Bounds(&'static str),
    #[error("no such query was sent to this member")]
    Unknown,
    #[error("the answer names another query than the one sent")]
    OtherQuery,
    #[error("this member already answered this query")]
    AlreadyAnswered,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether an answer was kept now or had been kept before.
enum Kept {
    New,
    Again,
}

/// Verifies a signed answer from `from` and keeps it with its query: only for a query sent
/// to `from` (the one `request` names, when it answers a request), at most a pending answer
/// and then a final one per member (an identical repeat counts as delivered again).
fn keep_answer(
    node: &FirearmsNode,
    from: BureauId,
    message: &SignedMessage,
    request: Option<[u8; 16]>,
) -> Result<Kept, AnswerError> {
    let answer: QueryResponse = message
        .open_from(&node.network, &from)
        .map_err(AnswerError::Unverified)?;
    answer.check().map_err(|e| AnswerError::Bounds(e.0))?;
    if answer.requester != node.me {
        return Err(AnswerError::NotForUs);
    }
    if request.is_some_and(|id| id != answer.query_id) {
        return Err(AnswerError::OtherQuery);
    }
    if !answer.outcome.is_final() && message.bytes.len() > MAX_PENDING_ANSWER_BYTES {
        return Err(AnswerError::Bounds("note"));
    }
    let id = answer.query_id;
    let queries = &node.firearms.queries;
    let kept = {
        let _guard = queries.guard();
        let mut query = queries.outgoing(&id)?.ok_or(AnswerError::Unknown)?;
        let target = query
            .targets
            .iter_mut()
            .find(|t| t.bureau == from.to_string())
            .ok_or(AnswerError::Unknown)?;
        if let Some(kept) = verdict_on_repeat(node, target, message, &answer) {
            kept?
        } else {
            target.answers.push(Received {
                received_at_ms: now_ms(),
                message: StoredSigned::of(message),
            });
            queries.out.insert(id, encode(&query))?;
            Kept::New
        }
    };
    if matches!(kept, Kept::New) {
        Metrics::event(
            &node.metrics.queries,
            "answer_received",
            answer.outcome.as_str(),
        );
        audit(
            node,
            Direction::In,
            "query_response",
            from,
            &hex::encode(id),
            json!({
                "outcome": answer.outcome.as_str(),
                "matches": answer.matches.len(),
                "note": answer.note,
            }),
        )?;
    }
    Ok(kept)
}

/// What to make of an answer where the member has answered before: `None` when it is news
/// (a final answer after a pending one), else a repeat or a refusal.
fn verdict_on_repeat(
    node: &FirearmsNode,
    target: &Target,
    message: &SignedMessage,
    answer: &QueryResponse,
) -> Option<Result<Kept, AnswerError>> {
    if target
        .answers
        .iter()
        .any(|a| a.message.message().as_ref() == Some(message))
    {
        return Some(Ok(Kept::Again));
    }
    let last = target.answers.last()?;
    let last_final = super::opened(node, &last.message).is_none_or(|a| a.outcome.is_final());
    if last_final || !answer.outcome.is_final() {
        return Some(Err(AnswerError::AlreadyAnswered));
    }
    None
}

/// Receives an answer that followed a review.
pub async fn on_query_answer(
    node: &FirearmsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    match keep_answer(node, from, &message, None) {
        Ok(Kept::Again) => SyncResponse::Received,
        Ok(Kept::New) => match node.store.flush().await {
            Ok(()) => SyncResponse::Received,
            Err(e) => SyncResponse::Refused(format!("cannot store the answer: {e}")),
        },
        Err(e) => {
            tracing::warn!(country = %node.country_of(&from), "query answer refused: {e}");
            SyncResponse::Refused(e.to_string())
        }
    }
}

/// Asks again the members that could not be reached and are connected now; forgets those
/// given up on.
pub(super) async fn retry_unreachable(node: &FirearmsNode) {
    let queries = &node.firearms.queries;
    let due: Vec<([u8; 16], BureauId)> = queries
        .retry
        .iter()
        .filter_map(Result::ok)
        .filter_map(|(k, _)| parse_member_key(&k))
        .collect();
    let mut tried = 0;
    for (id, bureau) in due {
        if tried >= RETRIES_PER_TICK {
            return;
        }
        let attempts = queries
            .out
            .get(id)
            .ok()
            .flatten()
            .and_then(|b| decode::<Outgoing>(OUT_TREE, &b).ok())
            .and_then(|q| {
                q.targets
                    .iter()
                    .find(|t| t.bureau == bureau.to_string())
                    .map(|t| t.attempts)
            });
        match attempts {
            Some(n) if n < MAX_ATTEMPTS => {
                if node.is_connected(&bureau) {
                    tried += 1;
                    send(node, id, bureau).await;
                }
            }
            _ => {
                let _ = queries.retry.remove(member_key(&id, &bureau));
            }
        }
    }
}
