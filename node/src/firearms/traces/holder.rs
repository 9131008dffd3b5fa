//! The holder side of traces and the review queue: answering another member's request
//! (verify it, find this node's records it matches, answer by the node's policy or hold it
//! for review), and an operator's review that approves or refuses a held request.

use serde_json::{Value, json};
use striae_protocol::{
    BureauId, SignedError, SignedMessage, SyncResponse,
    firearm::RecordRef,
    time::now_ms,
    trace::{
        MAX_TRACE_REASON_CHARS, MAX_TRACE_RECORDS, MAX_TRACE_RESPONSE_BYTES, TraceOutcome,
        TraceRequest, TraceRequestError, TraceResponse, TracedRecord,
    },
};

use super::{
    TraceError, audit, check_text,
    outbox::deliver,
    parse_trace_id,
    store::{IN_TREE, Incoming, OutboxItem, StoredSigned, encode, outcome_of, pending_key},
    views::incoming_view,
};
use crate::metrics::Metrics;
use crate::{
    audit::{Direction, naming_requester},
    config::TracePolicy,
    firearms::{
        FirearmsNode,
        records::{make_key, query_digests, query_make_keys, record_view},
    },
    store::StoreError,
};

/// Most requests of one member that wait for review at once; more are refused, so that one
/// member cannot fill the reviewers' queue (or the disk).
pub const MAX_PENDING_PER_MEMBER: usize = 1_000;
/// Room kept for the non-record parts of an encoded answer.
const RESPONSE_MARGIN: usize = 16 * 1024;

/// Why a trace request is refused; the requester gets the text.
#[derive(Debug, thiserror::Error)]
pub(super) enum RequestRefusal {
    /// The signature does not verify, or the request is not signed by its sender.
    #[error("trace request does not verify: {0}")]
    Unverified(#[source] SignedError),
    /// A field breaks a bound.
    #[error("trace request field `{0}` is too long")]
    TooLong(#[source] TraceRequestError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another member sent a request with this trace id first.
    #[error("this trace id is already used by another member")]
    IdTaken,
    /// The answer to a repeated request cannot be read back.
    #[error("the stored answer is unreadable")]
    StoredAnswerUnreadable,
    /// The member has too many requests waiting for review here.
    #[error(
        "{} of your requests already wait for review here; try again once they are answered",
        MAX_PENDING_PER_MEMBER
    )]
    TooManyPending,
    /// The answer could not be signed.
    #[error(transparent)]
    Sign(#[from] SignedError),
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
        Err(why) => SyncResponse::Refused(why.to_string()),
    }
}

/// Verifies a request and answers it: the same answer again for a repeated request, else a
/// fresh one (found, not found, or held for review), kept with the request.
fn answer_request(
    node: &FirearmsNode,
    from: BureauId,
    message: &SignedMessage,
) -> Result<SignedMessage, RequestRefusal> {
    let request = open_request(node, from, message)?;
    let traces = &node.firearms.traces;
    let subject = hex::encode(request.trace_id);
    let _guard = traces.guard();
    if let Some(existing) = traces.incoming(&request.trace_id)? {
        return repeat_answer(node, from, &subject, &existing);
    }
    audit_request(node, from, &subject, &request)?;
    let records = find_records(node, &request);
    let outcome = decide(node, from, &request, &records)?;
    let answer = sign_answer(node, request.trace_id, from, outcome, &records, "")?;
    Metrics::event(&node.metrics.traces, "answered", outcome.as_str());
    node.tally.add("traces.answered", outcome.as_str(), 1);
    node.tally
        .add("trace_requests.asker", &node.country_of(&from), 1);
    let trace_id = request.trace_id;
    let incoming = received(node, from, request, &records, &answer, outcome);
    // The disclosure is audited before anything of it is kept or sent.
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
    )?;
    traces.incoming.insert(trace_id, encode(&incoming))?;
    Ok(answer)
}

/// The request in `message`, verified as signed by its sender and within bounds.
fn open_request(
    node: &FirearmsNode,
    from: BureauId,
    message: &SignedMessage,
) -> Result<TraceRequest, RequestRefusal> {
    let request: TraceRequest = message
        .open_from(&node.network, &from)
        .map_err(RequestRefusal::Unverified)?;
    request.check().map_err(RequestRefusal::TooLong)?;
    Ok(request)
}

/// A retry of a request already answered: the same answer again, logged again.
fn repeat_answer(
    node: &FirearmsNode,
    from: BureauId,
    subject: &str,
    existing: &Incoming,
) -> Result<SignedMessage, RequestRefusal> {
    if existing.requester != from.to_string() {
        return Err(RequestRefusal::IdTaken);
    }
    let answer = existing
        .answers
        .last()
        .and_then(StoredSigned::message)
        .ok_or(RequestRefusal::StoredAnswerUnreadable)?;
    audit(
        node,
        Direction::In,
        "trace_request",
        from,
        subject,
        naming_requester(json!({"repeat": true}), &existing.requested_by),
    )?;
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
        subject,
        json!({"repeat": true, "outcome": outcome}),
    )?;
    Ok(answer)
}

fn audit_request(
    node: &FirearmsNode,
    from: BureauId,
    subject: &str,
    request: &TraceRequest,
) -> Result<(), StoreError> {
    audit(
        node,
        Direction::In,
        "trace_request",
        from,
        subject,
        naming_requester(
            json!({
                "case_ref": request.case_ref,
                "reason": request.reason,
                "make": request.make,
                "model": request.model,
                "caliber": request.caliber,
                "serial": request.serial,
                "record_refs": request.record_refs.len(),
            }),
            &request.acting,
        ),
    )
}

/// The answer the node's policy gives: nothing found, found, or held for review (counted
/// against the requester's bound on waiting requests).
fn decide(
    node: &FirearmsNode,
    from: BureauId,
    request: &TraceRequest,
    records: &[RecordRef],
) -> Result<TraceOutcome, RequestRefusal> {
    if records.is_empty() {
        return Ok(TraceOutcome::NotFound);
    }
    if node.firearms.policy() != TracePolicy::Review {
        return Ok(TraceOutcome::Found);
    }
    let pending = &node.firearms.traces.pending;
    let waiting = pending
        .scan_prefix(from.0)
        .take(MAX_PENDING_PER_MEMBER)
        .count();
    if waiting >= MAX_PENDING_PER_MEMBER {
        return Err(RequestRefusal::TooManyPending);
    }
    pending.insert(pending_key(&from, &request.trace_id), [])?;
    node.metrics.review("trace", "held");
    tracing::info!(
        country = %node.country_of(&from),
        trace = %hex::encode(request.trace_id),
        case_ref = %request.case_ref,
        "a trace request waits for review: `striae trace incoming --pending`"
    );
    Ok(TraceOutcome::PendingReview)
}

/// The request as kept at this node, with its first answer.
fn received(
    node: &FirearmsNode,
    from: BureauId,
    request: TraceRequest,
    records: &[RecordRef],
    answer: &SignedMessage,
    outcome: TraceOutcome,
) -> Incoming {
    Incoming {
        requester: from.to_string(),
        country: node.country_of(&from),
        received_at_ms: now_ms(),
        make: request.make,
        model: request.model,
        caliber: request.caliber,
        serial: request.serial,
        case_ref: request.case_ref,
        reason: request.reason,
        records: records.to_vec(),
        answers: vec![StoredSigned::of(answer)],
        state: if outcome == TraceOutcome::PendingReview {
            "pending_review".into()
        } else {
            "answered".into()
        },
        note: String::new(),
        requested_by: request.acting,
    }
}

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
) -> Result<SignedMessage, SignedError> {
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
    SignedMessage::sign(&response, &node.signer, &node.network)
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
        audit(
            node,
            Direction::Out,
            "trace_review",
            requester,
            id,
            json!({"decision": if approve { "approved" } else { "refused" }, "note": note}),
        )?;
        traces.incoming.insert(trace_id, encode(&item))?;
        traces.outbox.insert(trace_id, encode(&outbox))?;
        traces.pending.remove(pending_key(&requester, &trace_id))?;

        (requester, incoming_view(node, &trace_id, &item))
    };
    node.store.flush().await?;
    node.metrics
        .review("trace", if approve { "approved" } else { "refused" });
    let node = node.clone();
    tokio::spawn(async move {
        deliver(&node, trace_id).await;
        tracing::debug!(%requester, "reviewed trace answer delivery tried");
    });
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_the_requester_has_always_seen_them() {
        assert_eq!(
            RequestRefusal::TooLong(TraceRequestError::FieldTooLong("make")).to_string(),
            "trace request field `make` is too long"
        );
        assert_eq!(
            RequestRefusal::TooManyPending.to_string(),
            format!(
                "{MAX_PENDING_PER_MEMBER} of your requests already wait for review here; try again once they are answered"
            )
        );
        assert_eq!(
            RequestRefusal::IdTaken.to_string(),
            "this trace id is already used by another member"
        );
    }
}
