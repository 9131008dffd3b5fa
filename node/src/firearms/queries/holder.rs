//! The holder side of queries: answering another member's signed query under this node's
//! `[queries]` policy (a per-member budget answered `rate_limited`, matching against this
//! node's records, answering at once or holding matches for review), an operator's review,
//! and the outbox that delivers reviewed answers until the requester confirms receipt.

use serde_json::{Value, json};
use striae_firearms_lib::SerialPattern;
use striae_protocol::{
    BureauId, SignedError, SignedMessage, SyncRequest, SyncResponse,
    query::{MAX_QUERY_REASON_CHARS, QueryMatch, QueryOutcome, QueryRequest, QueryResponse},
    time::now_ms,
};

use super::{
    IN_TREE, Incoming, MAX_ATTEMPTS, OUTBOX_TREE, OutboxItem, QueryError, decode, encode,
    incoming_view, parse_id,
};
use crate::metrics::Metrics;
use crate::{
    audit::{Direction, naming_requester},
    config::TracePolicy,
    firearms::{
        FirearmsNode,
        traces::{StoredSigned, audit, check_text},
    },
    store::StoreError,
};

/// Most queries of one member that wait for review at once.
const MAX_PENDING_PER_MEMBER: usize = 1_000;
/// Deliveries tried per tick.
const DELIVERIES_PER_TICK: usize = 32;

/// Why a query is refused outright (the requester gets the text).
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("query does not verify: {0}")]
    Unverified(#[source] SignedError),
    #[error("query field `{0}` is too long")]
    TooLong(&'static str),
    #[error("this query id is already used by another member")]
    IdTaken,
    #[error("the stored answer is unreadable")]
    Unreadable,
    #[error("{MAX_PENDING_PER_MEMBER} of your queries already wait for review here")]
    TooManyPending,
    #[error(transparent)]
    Sign(#[from] SignedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Answers another member's query.
pub async fn on_query_request(
    node: &FirearmsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    let node2 = node.clone();
    let answered = tokio::task::spawn_blocking(move || answer(&node2, from, &message)).await;
    match answered {
        Ok(Ok(answer)) => match node.store.flush().await {
            Ok(()) => SyncResponse::Query(answer),
            Err(e) => SyncResponse::Refused(format!("cannot store the query: {e}")),
        },
        Ok(Err(why)) => SyncResponse::Refused(why.to_string()),
        Err(_) => SyncResponse::Refused("the query could not be answered".into()),
    }
}

/// Verifies a query and answers it: the same answer again for a repeated query; over the
/// member's budget `rate_limited`; else its matches, no match, or held for review.
fn answer(
    node: &FirearmsNode,
    from: BureauId,
    message: &SignedMessage,
) -> Result<SignedMessage, Refusal> {
    let request: QueryRequest = message
        .open_from(&node.network, &from)
        .map_err(Refusal::Unverified)?;
    request.check().map_err(|e| Refusal::TooLong(e.0))?;
    let queries = &node.firearms.queries;
    let subject = hex::encode(request.query_id);
    let _guard = queries.guard();
    if let Some(existing) = queries.incoming(&request.query_id)? {
        if existing.requester != from.to_string() {
            return Err(Refusal::IdTaken);
        }
        audit(
            node,
            Direction::In,
            "query_request",
            from,
            &subject,
            naming_requester(json!({"repeat": true}), &existing.requested_by),
        )?;
        return existing
            .answers
            .last()
            .and_then(StoredSigned::message)
            .ok_or(Refusal::Unreadable);
    }
    audit(
        node,
        Direction::In,
        "query_request",
        from,
        &subject,
        request_details(&request),
    )?;
    let policy = node.firearms.query_policy();
    if !queries.take_budget(from, policy.per_member_per_hour) {
        let note = format!(
            "at most {} queries per hour are answered for one member; ask again later",
            policy.per_member_per_hour
        );
        let answer = sign(
            node,
            &request,
            QueryOutcome::RateLimited,
            Vec::new(),
            false,
            &note,
        )?;
        audit(
            node,
            Direction::Out,
            "query_response",
            from,
            &subject,
            json!({"outcome": "rate_limited"}),
        )?;
        return Ok(answer);
    }
    let (records, truncated) = match SerialPattern::parse(&request.serial_pattern) {
        Ok(pattern) => node
            .firearms
            .match_serials(&request.make, &pattern, policy.max_matches)?,
        // A pattern this node cannot read matches nothing here.
        Err(_) => (Vec::new(), false),
    };
    let outcome = if records.is_empty() {
        QueryOutcome::NoMatch
    } else if policy.policy == TracePolicy::Review {
        hold_for_review(node, from, &request.query_id)?;
        QueryOutcome::PendingReview
    } else {
        QueryOutcome::Matches
    };
    let seqs: Vec<u64> = records.iter().map(|m| m.seq).collect();
    let matches = if outcome == QueryOutcome::Matches {
        node.firearms.disclosed(&records)?
    } else {
        Vec::new()
    };
    let answer = sign(node, &request, outcome, matches.clone(), truncated, "")?;
    Metrics::event(&node.metrics.queries, "answered", outcome.as_str());
    // The disclosure is audited before anything of it is kept or sent.
    audit(
        node,
        Direction::Out,
        "query_response",
        from,
        &subject,
        json!({
            "outcome": outcome.as_str(),
            "records": matches.iter().map(|m| m.record_ref.to_hex()).collect::<Vec<_>>(),
            "matching": seqs.len(),
        }),
    )?;
    let kept = Incoming {
        requester: from.to_string(),
        country: node.country_of(&from),
        received_at_ms: now_ms(),
        make: request.make,
        serial_pattern: request.serial_pattern,
        model: request.model,
        caliber: request.caliber,
        case_ref: request.case_ref,
        reason: request.reason,
        records: seqs,
        truncated,
        answers: vec![StoredSigned::of(&answer)],
        state: if outcome == QueryOutcome::PendingReview {
            "pending_review".into()
        } else {
            "answered".into()
        },
        note: String::new(),
        requested_by: request.acting,
    };
    queries.incoming.insert(request.query_id, encode(&kept))?;
    Ok(answer)
}

fn request_details(request: &QueryRequest) -> Value {
    naming_requester(
        json!({
            "case_ref": request.case_ref,
            "reason": request.reason,
            "make": request.make,
            "serial_pattern": request.serial_pattern,
            "model": request.model,
            "caliber": request.caliber,
        }),
        &request.acting,
    )
}

/// Counts the query against the member's bound on waiting queries and marks it waiting.
fn hold_for_review(node: &FirearmsNode, from: BureauId, id: &[u8; 16]) -> Result<(), Refusal> {
    let pending = &node.firearms.queries.pending;
    let waiting = pending
        .scan_prefix(from.0)
        .take(MAX_PENDING_PER_MEMBER)
        .count();
    if waiting >= MAX_PENDING_PER_MEMBER {
        return Err(Refusal::TooManyPending);
    }
    pending.insert(pending_key(&from, id), [])?;
    node.metrics.review("query", "held");
    tracing::info!(
        country = %node.country_of(&from),
        query = %hex::encode(id),
        "a query waits for review: `striae query incoming --pending`"
    );
    Ok(())
}

fn pending_key(requester: &BureauId, id: &[u8; 16]) -> Vec<u8> {
    let mut key = requester.0.to_vec();
    key.extend_from_slice(id);
    key
}

fn sign(
    node: &FirearmsNode,
    request: &QueryRequest,
    outcome: QueryOutcome,
    matches: Vec<QueryMatch>,
    truncated: bool,
    note: &str,
) -> Result<SignedMessage, SignedError> {
    let answer = QueryResponse {
        query_id: request.query_id,
        responder: node.me,
        requester: request.requester,
        answered_at_ms: now_ms(),
        outcome,
        matches,
        truncated,
        note: note.chars().take(MAX_QUERY_REASON_CHARS).collect(),
    };
    SignedMessage::sign(&answer, &node.signer, &node.network)
}

/// Approves (discloses the matches) or refuses a query held for review; the answer is
/// delivered in the background and retried until the requester has it.
pub async fn review(
    node: &FirearmsNode,
    id: &str,
    approve: bool,
    note: &str,
) -> Result<Value, QueryError> {
    check_text("note", note, false, MAX_QUERY_REASON_CHARS)?;
    let query_id = parse_id(id)?;
    let queries = &node.firearms.queries;
    let view = {
        let _guard = queries.guard();
        let mut item = queries.incoming(&query_id)?.ok_or(QueryError::NotFound)?;
        if item.state != "pending_review" {
            return Err(QueryError::Conflict(format!(
                "this query is not waiting for review (it is {})",
                item.state
            )));
        }
        let requester: BureauId = item
            .requester
            .parse()
            .map_err(|_| StoreError::corrupt(IN_TREE, "bad requester"))?;
        let matches = if approve {
            let seqs: Vec<_> = item
                .records
                .iter()
                .map(|&seq| crate::firearms::serials::SerialMatch { seq, exact: true })
                .collect();
            node.firearms.disclosed(&seqs)?
        } else {
            Vec::new()
        };
        let outcome = match (approve, matches.is_empty()) {
            (false, _) => QueryOutcome::Refused,
            (true, true) => QueryOutcome::NoMatch,
            (true, false) => QueryOutcome::Matches,
        };
        let request = QueryRequest {
            query_id,
            requester,
            issued_at_ms: 0,
            make: String::new(),
            serial_pattern: String::new(),
            model: String::new(),
            caliber: String::new(),
            case_ref: String::new(),
            reason: String::new(),
            acting: String::new(),
        };
        let answer = sign(node, &request, outcome, matches, item.truncated, note)
            .map_err(|e| StoreError::corrupt(IN_TREE, e))?;
        audit(
            node,
            Direction::Out,
            "query_review",
            requester,
            id,
            json!({"decision": if approve { "approved" } else { "refused" }, "note": note}),
        )?;
        item.answers.push(StoredSigned::of(&answer));
        item.state = "answered".into();
        item.note = note.to_string();
        let outbox = OutboxItem {
            to: item.requester.clone(),
            message: StoredSigned::of(&answer),
            attempts: 0,
        };
        queries.incoming.insert(query_id, encode(&item))?;
        queries.outbox.insert(query_id, encode(&outbox))?;
        queries.pending.remove(pending_key(&requester, &query_id))?;
        incoming_view(&query_id, &item)
    };
    node.store.flush().await?;
    node.metrics
        .review("query", if approve { "approved" } else { "refused" });
    let node = node.clone();
    tokio::spawn(async move { deliver(&node, query_id).await });
    Ok(view)
}

/// Delivers the outbox's answers whose requesters are connected.
pub(super) async fn deliver_reviewed(node: &FirearmsNode) {
    let due: Vec<([u8; 16], Option<BureauId>)> = node
        .firearms
        .queries
        .outbox
        .iter()
        .filter_map(Result::ok)
        .filter_map(|(k, v)| {
            let id = <[u8; 16]>::try_from(k.as_ref()).ok()?;
            let item: OutboxItem = decode(OUTBOX_TREE, &v).ok()?;
            Some((id, item.to.parse().ok()))
        })
        .take(DELIVERIES_PER_TICK * 4)
        .collect();
    let mut tried = 0;
    for (id, to) in due {
        if tried >= DELIVERIES_PER_TICK {
            break;
        }
        if to.is_some_and(|b| node.is_connected(&b)) {
            tried += 1;
            deliver(node, id).await;
        }
    }
}

/// Tries to hand a reviewed answer to its requester, unless that is under way already.
async fn deliver(node: &FirearmsNode, id: [u8; 16]) {
    let Some(_claim) = node.firearms.queries.delivering.claim(id) else {
        return;
    };
    deliver_once(node, id).await;
}

async fn deliver_once(node: &FirearmsNode, id: [u8; 16]) {
    let queries = &node.firearms.queries;
    let Ok(Some(bytes)) = queries.outbox.get(id) else {
        return;
    };
    let item = decode::<OutboxItem>(OUTBOX_TREE, &bytes).ok();
    let Some((mut item, to, message)) = item.and_then(|i| {
        let to = i.to.parse::<BureauId>().ok()?;
        let message = i.message.message()?;
        Some((i, to, message))
    }) else {
        let _ = queries.outbox.remove(id);
        return;
    };
    match node.ask(&to, SyncRequest::QueryAnswer(message)).await {
        Ok(SyncResponse::Received) => {
            let _ = queries.outbox.remove(id);
            let _ = audit(
                node,
                Direction::Out,
                "query_response",
                to,
                &hex::encode(id),
                json!({"after_review": true, "delivered": true}),
            );
        }
        Ok(SyncResponse::Refused(why)) => {
            tracing::warn!(%to, "a reviewed query answer was refused: {why}");
            let _ = queries.outbox.remove(id);
        }
        _ => {
            item.attempts += 1;
            if item.attempts >= MAX_ATTEMPTS {
                tracing::warn!(%to, "giving up delivering a reviewed query answer");
                let _ = queries.outbox.remove(id);
            } else {
                let _ = queries.outbox.insert(id, encode(&item));
            }
        }
    }
    if let Err(e) = node.store.flush().await {
        tracing::error!("cannot flush the query outbox: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_key_starts_with_its_requester() {
        let key = pending_key(&BureauId([7; 32]), &[1; 16]);
        assert!(key.starts_with(&[7; 32]));
        assert_eq!(key.len(), 48);
    }
}
