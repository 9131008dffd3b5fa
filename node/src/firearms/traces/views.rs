//! The JSON views of traces the API shows: traces this node sent (`show`, `list`), with
//! each answer verified again from its stored signed bytes, and requests it received
//! (`incoming`).

use serde_json::{Value, json};
use striae_protocol::{
    codec,
    firearm::RecordRef,
    trace::{MAX_TRACE_RESPONSE_BYTES, TraceOutcome, TraceResponse},
};

use super::{
    MAX_ATTEMPTS, TraceError, parse_trace_id,
    requester::stored_unreachable,
    store::{IN_TREE, Incoming, OUT_TREE, OutTarget, Outgoing, ReceivedAnswer, decode, outcome_of},
};
use crate::{firearms::FirearmsNode, notices::rfc3339};

/// Most traces or incoming requests one list answer carries.
pub const MAX_LIST: usize = 1_000;

/// An answer as shown to the requester: verified again from the stored signed bytes.
fn answer_views(node: &FirearmsNode, target: &OutTarget, answers: &[ReceivedAnswer]) -> Vec<Value> {
    let Some(last) = answers.last() else {
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

/// Whether a member has given its last word: a final answer, a failure other than being
/// unreachable, or no attempts left.
fn is_final(node: &FirearmsNode, target: &OutTarget, answers: &[ReceivedAnswer]) -> bool {
    answers
        .last()
        .and_then(|a| a.message.message())
        .and_then(|m| m.open::<TraceResponse>(&node.network).ok())
        .is_some_and(|r| r.outcome != TraceOutcome::PendingReview)
        || target
            .last_error
            .as_deref()
            .is_some_and(|e| !stored_unreachable(e))
        || target.attempts >= MAX_ATTEMPTS
}

fn outgoing_view(
    node: &FirearmsNode,
    id: &[u8; 16],
    trace: &Outgoing,
) -> Result<Value, TraceError> {
    let answers = trace
        .targets
        .iter()
        .map(|t| node.firearms.traces.answers_of(id, t))
        .collect::<Result<Vec<_>, _>>()?;
    let targets = || trace.targets.iter().zip(&answers);
    let complete = targets().all(|(t, a)| is_final(node, t, a));
    Ok(json!({
        "id": hex::encode(id),
        "state": if complete { "complete" } else { "pending" },
        "created_at": rfc3339(trace.created_at_ms),
        "make": trace.make,
        "model": trace.model,
        "caliber": trace.caliber,
        "serial": trace.serial,
        "case_ref": trace.case_ref,
        "reason": trace.reason,
        "asked": targets().map(|(t, a)| json!({
            "country": t.country,
            "bureau_id": t.bureau,
            "why": t.why,
            "record_refs": t.record_refs.iter().map(RecordRef::to_hex).collect::<Vec<_>>(),
            "answered": !a.is_empty(),
            "attempts": t.attempts,
            "last_error": t.last_error,
        })).collect::<Vec<_>>(),
        "responses": targets().flat_map(|(t, a)| answer_views(node, t, a)).collect::<Vec<_>>(),
    }))
}

/// `GET /v1/traces/{id}`.
pub fn show(node: &FirearmsNode, id: &str) -> Result<Value, TraceError> {
    let id = parse_trace_id(id)?;
    let trace = node
        .firearms
        .traces
        .outgoing(&id)?
        .ok_or(TraceError::NotFound)?;
    outgoing_view(node, &id, &trace)
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
    newest
        .iter()
        .map(|(id, t)| outgoing_view(node, id, t))
        .collect()
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

/// A request received, with the outcome of its latest answer.
pub(super) fn incoming_view(node: &FirearmsNode, id: &[u8], item: &Incoming) -> Value {
    let last = item.answers.last().and_then(|a| outcome_of(node, a));
    json!({
        "id": hex::encode(id),
        "country": item.country,
        "bureau_id": item.requester,
        "requested_by": (!item.requested_by.is_empty()).then_some(&item.requested_by),
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

/// `GET /v1/traces/incoming`: requests received, newest first; only those waiting for
/// review when `pending_only`.
pub fn incoming(
    node: &FirearmsNode,
    limit: usize,
    pending_only: bool,
) -> Result<Vec<Value>, TraceError> {
    let items = node
        .firearms
        .traces
        .incoming
        .iter()
        .map(|item| {
            let (key, value) = item?;
            let incoming: Incoming = decode(IN_TREE, &value)?;
            Ok((key.to_vec(), incoming))
        })
        .filter(|item| {
            !pending_only
                || item
                    .as_ref()
                    .map_or(true, |(_, i)| i.state == "pending_review")
        });
    let newest = newest_first(items, limit, |(_, i)| i.received_at_ms)?;
    Ok(newest
        .iter()
        .map(|(id, i)| incoming_view(node, id, i))
        .collect())
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
