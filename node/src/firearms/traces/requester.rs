//! The requester side of traces: starting a trace, choosing the members to ask, sending the
//! signed requests, accepting their signed answers (at once or after a review), and asking
//! again the members that could not be reached.

use serde::Deserialize;
use serde_json::json;
use striae_firearms_lib::normalise_serial;
use striae_protocol::{
    BureauId, SignedError, SignedMessage, SyncRequest, SyncResponse,
    firearm::RecordRef,
    time::now_ms,
    trace::{
        MAX_TRACE_FIELD_CHARS, MAX_TRACE_REASON_CHARS, MAX_TRACE_RECORD_REFS, TraceOutcome,
        TraceRequest, TraceResponse,
    },
};

use super::{
    MAX_ATTEMPTS, TraceError, audit, check_text, field,
    store::{
        AnswerKind, OutTarget, Outgoing, ReceivedAnswer, StoredSigned, encode, parse_retry_key,
        retry_key,
    },
};
use crate::metrics::Metrics;
use crate::{
    audit::{Direction, naming_requester},
    core::AskError,
    firearms::FirearmsNode,
    store::StoreError,
};

/// What a caller asks to trace.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceInput {
    /// Make as written.
    #[schema(min_length = 1, max_length = 200)]
    pub make: String,
    /// Serial as written.
    #[schema(min_length = 1, max_length = 200)]
    pub serial: String,
    /// Model, if known.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub model: String,
    /// Caliber, if known.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub caliber: String,
    /// The case reference.
    #[schema(min_length = 1, max_length = 200)]
    pub case_ref: String,
    /// Why the firearm is traced.
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
    /// Countries to ask besides those found automatically.
    #[serde(default)]
    pub to: Vec<String>,
}

/// How the text of an [`DeliveryError::Unreachable`] starts, in the stored `last_error` too.
const UNREACHABLE: &str = "unreachable";

/// Why a request sent to a member got no usable answer. Its text is kept as the member's
/// `last_error` with the trace.
#[derive(Debug, thiserror::Error)]
pub(super) enum DeliveryError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trace was removed meanwhile.
    #[error("the trace is gone")]
    TraceGone,
    /// The request could not be signed.
    #[error("cannot sign: {0}")]
    Sign(#[source] SignedError),
    /// The member answered, but its answer could not be kept.
    #[error(transparent)]
    Answer(#[from] AnswerError),
    /// The member refused the request.
    #[error("the member refused the request: {0}")]
    Refused(String),
    /// The member answered with another kind of message.
    #[error("the member answered with something other than a trace answer")]
    UnexpectedAnswer,
    /// The member could not be reached: it is asked again once connected.
    #[error("unreachable: {0}")]
    Unreachable(#[source] AskError),
}

impl DeliveryError {
    /// Whether the member is to be asked again once it is connected.
    fn is_unreachable(&self) -> bool {
        matches!(self, DeliveryError::Unreachable(_))
    }
}

/// Whether a stored `last_error` says the member could not be reached. Stored texts come
/// from older versions too, so this goes by the text, not by the variant.
pub(super) fn stored_unreachable(last_error: &str) -> bool {
    last_error.starts_with(UNREACHABLE)
}

/// Why a member's answer to a trace was not kept.
#[derive(Debug, thiserror::Error)]
pub(super) enum AnswerError {
    /// The signature does not verify, or the answer is not signed by its sender.
    #[error("answer does not verify: {0}")]
    Unverified(#[source] SignedError),
    /// The answer names another requester.
    #[error("the answer is addressed to another member")]
    NotForUs,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node sent no such trace to the member.
    #[error("no such trace was sent to this member")]
    UnknownTrace,
    /// The answer names another trace than the request it answers.
    #[error("the answer names another trace than the request")]
    OtherTrace,
    /// The member already gave this kind of answer to this trace, differently.
    #[error("this member already answered this trace")]
    AlreadyAnswered,
    /// A "held for review" answer carries records or is larger than one needs to be.
    #[error(
        "a pending-review answer carries no records and at most {MAX_PENDING_ANSWER_BYTES} bytes"
    )]
    PendingTooLarge,
}

impl AnswerError {
    /// The metric label of a refused answer.
    fn label(&self) -> &'static str {
        match self {
            AnswerError::Unverified(_) => "trace_answer_unverified",
            AnswerError::NotForUs => "trace_answer_not_for_us",
            AnswerError::Store(_) => "trace_answer_store",
            AnswerError::UnknownTrace => "trace_answer_unknown_trace",
            AnswerError::OtherTrace => "trace_answer_other_trace",
            AnswerError::AlreadyAnswered => "trace_answer_duplicate",
            AnswerError::PendingTooLarge => "trace_answer_too_large",
        }
    }
}

/// Largest "held for review" answer kept (it carries a note at most).
const MAX_PENDING_ANSWER_BYTES: usize = 8 * 1024;

/// What became of an answer that was not refused.
enum Accepted {
    /// Kept.
    New,
    /// The very answer was kept before (a delivery repeated after a lost receipt).
    Again,
}

/// Starts a trace: finds whom to ask, stores the trace, sends the requests in the
/// background, and returns the trace id (hex) at once.
pub async fn start(node: &FirearmsNode, input: TraceInput) -> Result<String, TraceError> {
    check_input(&input)?;
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
        acting: node.acting_reference(),
    };
    node.firearms.traces.out.insert(id, encode(&trace))?;
    // Every target is due until its first outcome is stored: a crash after this answer
    // leaves the requests to `tick`, never forgotten (a holder that already answered
    // answers a repeated request with the same answer).
    for target in &trace.targets {
        if let Ok(bureau) = target.bureau.parse::<BureauId>() {
            node.firearms
                .traces
                .retry
                .insert(retry_key(&id, &bureau), [])?;
        }
    }
    node.store.flush().await?;
    node.tally.add("traces.sent", "total", 1);
    for target in &trace.targets {
        if let Ok(bureau) = target.bureau.parse::<BureauId>() {
            let node = node.clone();
            // The request's audit record names the user who started the trace.
            tokio::spawn(crate::audit::carry(async move {
                send_request(&node, id, bureau).await
            }));
        }
    }
    Ok(hex::encode(id))
}

/// Checks the fields of a trace to start.
fn check_input(input: &TraceInput) -> Result<(), TraceError> {
    check_text("make", &input.make, true, MAX_TRACE_FIELD_CHARS)?;
    check_text("serial", &input.serial, true, MAX_TRACE_FIELD_CHARS)?;
    check_text("model", &input.model, false, MAX_TRACE_FIELD_CHARS)?;
    check_text("caliber", &input.caliber, false, MAX_TRACE_FIELD_CHARS)?;
    check_text("case_ref", &input.case_ref, true, MAX_TRACE_FIELD_CHARS)?;
    check_text("reason", &input.reason, true, MAX_TRACE_REASON_CHARS)?;
    normalise_serial(&input.serial).map_err(|e| field("serial", e.to_string()))?;
    Ok(())
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
    let last_error = error.as_ref().map(ToString::to_string);
    let updated = traces.update_outgoing(&id, |trace| {
        if let Some(t) = trace
            .targets
            .iter_mut()
            .find(|t| t.bureau == bureau.to_string())
        {
            t.attempts += 1;
            t.last_error = last_error;
        }
    });
    if let Err(e) = updated {
        tracing::error!("cannot update trace: {e}");
    }
    let key = retry_key(&id, &bureau);
    let retry = match &error {
        Some(e) if e.is_unreachable() => traces.retry.insert(key, []).map(|_| ()),
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
) -> Result<(), DeliveryError> {
    let trace = node
        .firearms
        .traces
        .outgoing(&id)?
        .ok_or(DeliveryError::TraceGone)?;
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
        make: trace.make,
        model: trace.model,
        caliber: trace.caliber,
        serial: trace.serial,
        case_ref: trace.case_ref,
        reason: trace.reason,
        record_refs,
        acting: trace.acting,
    };
    let message =
        SignedMessage::sign(&request, &node.signer, &node.network).map_err(DeliveryError::Sign)?;
    audit(
        node,
        Direction::Out,
        "trace_request",
        bureau,
        &hex::encode(id),
        naming_requester(
            json!({
                "case_ref": request.case_ref,
                "reason": request.reason,
                "make": request.make,
                "serial": request.serial,
                "record_refs": request.record_refs.len(),
            }),
            &request.acting,
        ),
    )?;
    // What the request discloses (case, serial) leaves only once its record is on disk.
    node.store.flush().await?;
    match node.ask(&bureau, SyncRequest::Trace(message)).await {
        Ok(SyncResponse::Trace(answer)) => {
            accept_answer(node, bureau, &answer, Some(id))?;
            Ok(())
        }
        Ok(SyncResponse::Refused(why)) => Err(DeliveryError::Refused(why)),
        Ok(_) => Err(DeliveryError::UnexpectedAnswer),
        Err(e) => Err(DeliveryError::Unreachable(e)),
    }
}

/// Verifies a signed answer from `from` and keeps it with its trace: only for a trace this
/// node sent to `from` (the one `request` names, when it answers a request), one answer of
/// each kind per member (an identical repeat is taken as delivered again). A refusal is
/// counted in the metrics.
fn accept_answer(
    node: &FirearmsNode,
    from: BureauId,
    message: &SignedMessage,
    request: Option<[u8; 16]>,
) -> Result<Accepted, AnswerError> {
    let accepted = keep_answer(node, from, message, request);
    if let Err(e) = &accepted {
        node.metrics.rejected(e.label());
        tracing::warn!(country = %node.country_of(&from), "trace answer refused: {e}");
    }
    accepted
}

fn keep_answer(
    node: &FirearmsNode,
    from: BureauId,
    message: &SignedMessage,
    request: Option<[u8; 16]>,
) -> Result<Accepted, AnswerError> {
    let response: TraceResponse = message
        .open_from(&node.network, &from)
        .map_err(AnswerError::Unverified)?;
    if response.requester != node.me {
        return Err(AnswerError::NotForUs);
    }
    if request.is_some_and(|id| id != response.trace_id) {
        return Err(AnswerError::OtherTrace);
    }
    let kind = if response.outcome == TraceOutcome::PendingReview {
        if !response.records.is_empty() || message.bytes.len() > MAX_PENDING_ANSWER_BYTES {
            return Err(AnswerError::PendingTooLarge);
        }
        AnswerKind::Pending
    } else {
        AnswerKind::Final
    };
    let id = response.trace_id;
    let traces = &node.firearms.traces;
    {
        // One check-and-keep at a time, so two copies of an answer cannot both be new.
        let _guard = traces.guard();
        let asked = traces
            .outgoing(&id)?
            .is_some_and(|t| t.targets.iter().any(|t| t.bureau == from.to_string()));
        if !asked {
            return Err(AnswerError::UnknownTrace);
        }
        if let Some(kept) = traces.answer(&id, &from, AnswerKind::Final)? {
            return repeat_of(&kept, message);
        }
        if kind == AnswerKind::Pending
            && let Some(kept) = traces.answer(&id, &from, AnswerKind::Pending)?
        {
            return repeat_of(&kept, message);
        }
        let answer = ReceivedAnswer {
            received_at_ms: now_ms(),
            message: StoredSigned::of(message),
        };
        traces.put_answer(&id, &from, kind, &answer)?;
    }
    Metrics::event(
        &node.metrics.traces,
        "answer_received",
        response.outcome.as_str(),
    );
    node.tally
        .add("traces.answers", response.outcome.as_str(), 1);
    audit(
        node,
        Direction::In,
        "trace_response",
        from,
        &hex::encode(id),
        json!({
            "outcome": response.outcome.as_str(),
            "records": response.records.len(),
            "note": response.note,
        }),
    )?;
    Ok(Accepted::New)
}

/// An answer arriving where one is kept already: the same one again is accepted as a
/// repeated delivery, another is refused.
fn repeat_of(kept: &ReceivedAnswer, message: &SignedMessage) -> Result<Accepted, AnswerError> {
    if kept.message.message().as_ref() == Some(message) {
        Ok(Accepted::Again)
    } else {
        Err(AnswerError::AlreadyAnswered)
    }
}

/// Receives an answer that followed a review.
pub async fn on_trace_answer(
    node: &FirearmsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    match accept_answer(node, from, &message, None) {
        Ok(Accepted::Again) => SyncResponse::Received,
        Ok(Accepted::New) => match node.store.flush().await {
            Ok(()) => SyncResponse::Received,
            Err(e) => SyncResponse::Refused(format!("cannot store the answer: {e}")),
        },
        Err(e) => SyncResponse::Refused(e.to_string()),
    }
}

/// Asks again the members that could not be reached and are connected now, as long as
/// `tried` (deliveries this tick) stays under `budget`; forgets those given up on.
pub(super) async fn retry_unreachable(node: &FirearmsNode, mut tried: usize, budget: usize) {
    let traces = &node.firearms.traces;
    let retries: Vec<([u8; 16], BureauId)> = traces
        .retry
        .iter()
        .filter_map(Result::ok)
        .filter_map(|(k, _)| parse_retry_key(&k))
        .collect();
    for (id, bureau) in retries {
        if tried >= budget {
            return;
        }
        if gave_up(node, &id, &bureau) {
            let _ = traces.retry.remove(retry_key(&id, &bureau));
            continue;
        }
        if node.is_connected(&bureau) {
            tried += 1;
            send_request(node, id, bureau).await;
        }
    }
}

/// Whether trace `id` is gone or has asked `bureau` too often to try again.
fn gave_up(node: &FirearmsNode, id: &[u8; 16], bureau: &BureauId) -> bool {
    let traces = &node.firearms.traces;
    matches!(traces.outgoing(id), Ok(Some(t)) if t
        .targets
        .iter()
        .any(|x| x.bureau == bureau.to_string() && x.attempts >= MAX_ATTEMPTS))
        || matches!(traces.outgoing(id), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_member_is_stored_with_the_text_the_views_look_for() {
        let error = DeliveryError::Unreachable(AskError::Stopped);
        let text = error.to_string();
        assert!(text.starts_with("unreachable: "), "{text}");
        assert!(error.is_unreachable());
        assert!(stored_unreachable(&text));
    }

    #[test]
    fn other_failures_are_final() {
        for error in [
            DeliveryError::TraceGone,
            DeliveryError::Refused("no".into()),
            DeliveryError::UnexpectedAnswer,
            DeliveryError::Answer(AnswerError::UnknownTrace),
            DeliveryError::Answer(AnswerError::OtherTrace),
            DeliveryError::Answer(AnswerError::AlreadyAnswered),
        ] {
            assert!(!error.is_unreachable(), "{error}");
            assert!(!stored_unreachable(&error.to_string()), "{error}");
        }
    }
}
