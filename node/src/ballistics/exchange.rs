//! The signed exchanges with a holder that confirmation, bullet confirmation and comparison
//! pictures share: the asking side signs its request, writes it to the audit log and makes
//! the record durable before anything leaves, asks with a deadline, checks the signed answer
//! and audits it; the answering side signs its answer and sends it only once its audit
//! record is on disk.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use striae_protocol::{
    BureauId, SignedKind, SignedMessage, SyncRequest, SyncResponse, ballistic::ExhibitRef,
};

use super::{Held, search::ConfirmError};
use crate::{
    audit::{Direction, Event, naming_requester},
    ballistics::BallisticsNode,
    core::limits::RequestKind,
};

/// A holder that has not answered by then leaves its candidates unconfirmed.
pub(super) const HOLDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(45);

/// The candidates' exhibits grouped by holder (one request per holder), holders in a fixed
/// order.
pub(super) fn by_holder<'a>(
    candidates: impl Iterator<Item = &'a Held>,
) -> Vec<(BureauId, Vec<ExhibitRef>)> {
    let mut groups: BTreeMap<[u8; 32], (BureauId, Vec<ExhibitRef>)> = BTreeMap::new();
    for held in candidates {
        groups
            .entry(held.origin.0)
            .or_insert_with(|| (held.origin, Vec::new()))
            .1
            .push(held.exhibit_ref);
    }
    groups.into_values().collect()
}

/// One request to a holder, as the audit log names it.
pub(super) struct Asking<'a> {
    /// The holder.
    pub holder: BureauId,
    /// The search (or picture request) id, hex.
    pub subject: String,
    /// The audit actions of the request and of its answer.
    pub actions: (&'static str, &'static str),
    /// The case reference at this node.
    pub case_ref: &'a str,
    /// What the request's audit record says besides the case reference.
    pub details: Value,
}

/// Sends `request` to the holder and returns its verified answer. `wrap` makes the sync
/// request, `unwrap` takes the signed answer out of the holder's response (or gives the
/// response back), `check` checks it is the answer to this request, `shown` is what the
/// audit log keeps of it.
pub(super) async fn ask_signed<Req: SignedKind, Resp: SignedKind>(
    node: &BallisticsNode,
    asking: Asking<'_>,
    request: &Req,
    wrap: fn(SignedMessage) -> SyncRequest,
    unwrap: fn(SyncResponse) -> Result<SignedMessage, SyncResponse>,
    check: impl FnOnce(Resp) -> Result<Resp, ConfirmError>,
    shown: impl FnOnce(&Resp) -> Value,
) -> Result<Resp, ConfirmError> {
    let holder = asking.holder;
    if !node.is_connected(&holder) {
        return Err(ConfirmError::Offline);
    }
    let message =
        SignedMessage::sign(request, &node.signer, &node.network).map_err(ConfirmError::Sign)?;
    let country = node.country_of(&holder);
    let mut details = naming_requester(asking.details, request.acting());
    details["case_ref"] = json!(asking.case_ref);
    node.audit
        .record(Event {
            direction: Direction::Out,
            action: asking.actions.0,
            peer: holder,
            peer_country: &country,
            subject: &asking.subject,
            details,
        })
        .map_err(ConfirmError::NotAudited)?;
    node.store.flush().await.map_err(ConfirmError::NotAudited)?;
    let answer = tokio::time::timeout(HOLDER_TIMEOUT, node.ask(&holder, wrap(message))).await;
    let outcome = match answer {
        Err(_) => Err(ConfirmError::Timeout),
        Ok(Err(e)) => Err(ConfirmError::Unreachable(e)),
        Ok(Ok(response)) => match unwrap(response) {
            Ok(signed) => signed
                .open_from::<Resp>(&node.network, &holder)
                .map_err(ConfirmError::Unverified)
                .and_then(check),
            Err(SyncResponse::Refused(why)) => Err(ConfirmError::Refused(why)),
            Err(_) => Err(ConfirmError::UnexpectedAnswer),
        },
    };
    let details = match &outcome {
        Ok(answer) => {
            let mut v = shown(answer);
            v["case_ref"] = json!(asking.case_ref);
            v["signature_valid"] = json!(true);
            v
        }
        Err(e) => {
            json!({"case_ref": asking.case_ref, "outcome": e.status(), "detail": e.to_string()})
        }
    };
    node.audit.record_or_log(Event {
        direction: Direction::In,
        action: asking.actions.1,
        peer: holder,
        peer_country: &country,
        subject: &asking.subject,
        details,
    });
    outcome
}

/// A request received from a member, as the audit log names it.
pub(super) struct Received<'a> {
    /// The member that asked.
    pub from: BureauId,
    /// The request's id, hex.
    pub subject: &'a str,
    /// The audit action of the request.
    pub action: &'static str,
    /// Exhibits it names (those beyond the first are charged to the member's budget of
    /// confirmed exhibits; the core charged the first).
    pub exhibits: usize,
    /// The asking bureau's reference for the user who asked (the request's `acting`).
    pub acting: &'a str,
    /// What the request's audit record says (why it is refused is added).
    pub details: Value,
}

/// Audits a received request and says whether it is served: `refused` is why the request
/// itself cannot be, and a member over its budget is refused too. Err is the refusal to send.
pub(super) fn admit(
    node: &BallisticsNode,
    received: Received<'_>,
    mut refused: Option<String>,
) -> Result<(), SyncResponse> {
    let kind = RequestKind::ConfirmExhibit;
    let extra = received.exhibits.saturating_sub(1) as f64;
    if refused.is_none() && !node.limits.allow(received.from, kind, extra) {
        node.metrics.refused(kind.label());
        refused = Some(format!("rate limited: {}", kind.label()));
    }
    let mut details = naming_requester(received.details, received.acting);
    details["refused"] = json!(refused);
    let recorded = node.audit.record(Event {
        direction: Direction::In,
        action: received.action,
        peer: received.from,
        peer_country: &node.country_of(&received.from),
        subject: received.subject,
        details,
    });
    if let Err(e) = recorded {
        tracing::error!("AUDIT LOG WRITE FAILED: {e}; request refused");
        return Err(SyncResponse::Refused(
            "the holder cannot audit requests now".into(),
        ));
    }
    match refused {
        Some(why) => Err(SyncResponse::Refused(why)),
        None => Ok(()),
    }
}

/// One answer to a member, as the audit log names it.
pub(super) struct Answering<'a> {
    /// The member that asked.
    pub to: BureauId,
    /// The request's id, hex.
    pub subject: &'a str,
    /// The audit action of the answer.
    pub action: &'static str,
    /// What the answer's audit record says (the signature is added).
    pub details: Value,
}

/// Signs `response`, audits it durably and only then wraps it for sending; a failure to
/// sign or to audit refuses instead.
pub(super) async fn answer_signed<Resp: SignedKind>(
    node: &BallisticsNode,
    answering: Answering<'_>,
    response: &Resp,
    wrap: fn(SignedMessage) -> SyncResponse,
) -> SyncResponse {
    let signed = match SignedMessage::sign(response, &node.signer, &node.network) {
        Ok(s) => s,
        Err(e) => return SyncResponse::Refused(format!("the answer could not be signed: {e}")),
    };
    let mut details = answering.details;
    details["signature"] = json!(signed.signature_hex());
    let country = node.country_of(&answering.to);
    // A disclosure leaves only once its audit record is on disk.
    let recorded = node.audit.record(Event {
        direction: Direction::Out,
        action: answering.action,
        peer: answering.to,
        peer_country: &country,
        subject: answering.subject,
        details,
    });
    if let Err(e) = recorded {
        tracing::error!("AUDIT LOG WRITE FAILED: {e}; answer not sent");
        return SyncResponse::Refused("the holder cannot audit disclosures now".into());
    }
    if let Err(e) = node.store.flush().await {
        tracing::error!("audit record not durable ({e}); answer not sent");
        return SyncResponse::Refused("the holder cannot audit disclosures now".into());
    }
    wrap(signed)
}
