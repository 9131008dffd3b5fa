//! The holder's side of confirmation: another member sends a signed probe surface and names
//! exhibits of this node; the node verifies the request, compares the probe with each named
//! exhibit by Congruent Matching Cells (the probe is cut into cells, registered over rotation
//! and translation against the exhibit), and answers with a signed result. Both the request
//! and the answer go into the audit log.

use rayon::prelude::*;
use serde_json::{Value, json};
use striae_ballistics_lib::{cmc::CmcReference, preprocess::Surface};
use striae_protocol::{
    BureauId, SignedMessage, SyncResponse,
    ballistic::{
        Comparison, ConfirmRequest, ConfirmResponse, ExhibitRef, MAX_CONFIRM_EXHIBITS,
        ProbeSurface, ProbeSurfaceError,
    },
    time::now_ms,
};

use super::{
    BallisticsError,
    exchange::{Answering, Received, admit, answer_signed},
    exhibits::{MAX_CASE_REF_CHARS, on_cpu, surface_too_large},
    surface_from_probe,
};
use crate::ballistics::BallisticsNode;
use crate::metrics::Metrics;

/// Compares `probe` with this node's exhibits `refs` for `asker` (one CMC reference built
/// from the probe, reused for every exhibit). Retracted or unknown exhibits, and exhibits not
/// shared with `asker`, answer `UnknownExhibit`.
pub async fn confirm_locally(
    node: &BallisticsNode,
    asker: BureauId,
    probe: Surface,
    refs: Vec<ExhibitRef>,
) -> Result<Vec<(ExhibitRef, Comparison)>, BallisticsError> {
    let worker = node.clone();
    on_cpu(node, move || compare_all(&worker, asker, &probe, &refs)).await
}

fn compare_all(
    node: &BallisticsNode,
    asker: BureauId,
    probe: &Surface,
    refs: &[ExhibitRef],
) -> Vec<(ExhibitRef, Comparison)> {
    let b = &node.ballistics;
    let reference = CmcReference::new(probe, &b.cmc);
    // Candidates are independent: compare them on all cores (rayon keeps the order).
    refs.par_iter()
        .map(|r| {
            let id = r.to_hex();
            let active = matches!(b.record(&id), Ok(Some(rec))
                if rec.retracted_at_ms.is_none() && rec.parsed_digest().is_some()
                    && rec.share.includes(&asker, &rec.holder));
            let comparison = match (active, b.surface(&id)) {
                (false, _) | (true, Ok(None)) => Comparison::UnknownExhibit,
                (true, Err(e)) => {
                    Comparison::NotComparable(format!("stored surface unreadable: {e}"))
                }
                (true, Ok(Some(target))) => {
                    let result = reference.compare(&target);
                    Comparison::Compared {
                        cmc_count: u32::try_from(result.cmc_count).unwrap_or(u32::MAX),
                        cells_compared: u32::try_from(result.cells_compared).unwrap_or(u32::MAX),
                        score: result.score,
                        confirmed: result.confirmed(),
                    }
                }
            };
            (*r, comparison)
        })
        .collect()
}

/// One comparison as the audit log and the API show it.
pub(super) fn comparison_json(exhibit: &ExhibitRef, c: &Comparison) -> Value {
    match c {
        Comparison::Compared {
            cmc_count,
            cells_compared,
            score,
            confirmed,
        } => json!({"exhibit_ref": exhibit.to_hex(), "outcome": "compared", "cmc_count": cmc_count,
                    "cells_compared": cells_compared,
                    "cmc_score": (f64::from(*score) * 10_000.0).round() / 10_000.0, "confirmed": confirmed}),
        Comparison::UnknownExhibit => {
            json!({"exhibit_ref": exhibit.to_hex(), "outcome": "unknown_exhibit"})
        }
        Comparison::NotComparable(why) => {
            json!({"exhibit_ref": exhibit.to_hex(), "outcome": "not_comparable", "reason": why})
        }
    }
}

/// Why a confirmation request cannot be served; the requester and the audit log get the text.
#[derive(Debug, thiserror::Error)]
pub(super) enum RequestProblem {
    /// An exhibit named twice (each would cost a comparison).
    #[error("an exhibit is named twice")]
    DuplicateExhibit,
    /// Too few or too many exhibits named.
    #[error("a confirmation request names 1 to {} exhibits", MAX_CONFIRM_EXHIBITS)]
    ExhibitCount,
    /// The case reference is longer than `MAX_CASE_REF_CHARS`.
    #[error("case reference too long")]
    CaseRefTooLong,
    /// The probe's shape or geometry is unusable.
    #[error(transparent)]
    Probe(#[from] ProbeSurfaceError),
    /// The probe is larger than this node compares; why.
    #[error("probe too large: {0}")]
    TooLarge(String),
    /// The probe was prepared on another grid than this node's.
    #[error("probe grid is {probe} µm; this node compares surfaces prepared at {grid} µm")]
    Grid {
        /// The probe's grid spacing.
        probe: f64,
        /// This node's.
        grid: f64,
    },
}

/// Checks that a request can be served.
fn check_request(node: &BallisticsNode, request: &ConfirmRequest) -> Result<(), RequestProblem> {
    if request.exhibits.is_empty() || request.exhibits.len() > MAX_CONFIRM_EXHIBITS {
        return Err(RequestProblem::ExhibitCount);
    }
    let distinct: std::collections::HashSet<_> = request.exhibits.iter().collect();
    if distinct.len() != request.exhibits.len() {
        return Err(RequestProblem::DuplicateExhibit);
    }
    check_probe(node, &request.probe, &request.case_ref)
}

/// Checks a received probe and case reference: shape, size, and this node's grid.
pub(super) fn check_probe(
    node: &BallisticsNode,
    probe: &ProbeSurface,
    case_ref: &str,
) -> Result<(), RequestProblem> {
    if case_ref.chars().count() > MAX_CASE_REF_CHARS {
        return Err(RequestProblem::CaseRefTooLong);
    }
    probe.check()?;
    if let Some(why) = surface_too_large(probe.nx as usize, probe.ny as usize, probe.pixel_um) {
        return Err(RequestProblem::TooLarge(why));
    }
    let grid = node.ballistics.prep_params().resolution_um;
    if (probe.pixel_um - grid).abs() > 1e-6 {
        return Err(RequestProblem::Grid {
            probe: probe.pixel_um,
            grid,
        });
    }
    Ok(())
}

/// Answers another member's confirmation request.
pub async fn on_confirm_request(
    node: &BallisticsNode,
    from: BureauId,
    message: SignedMessage,
) -> SyncResponse {
    let request = match message.open_from::<ConfirmRequest>(&node.network, &from) {
        Ok(r) => r,
        Err(e) => {
            return SyncResponse::Refused(format!("confirmation request does not verify: {e}"));
        }
    };
    let search_id = hex::encode(request.search_id);
    let exhibits: Vec<String> = request.exhibits.iter().map(|r| r.to_hex()).collect();
    let received = Received {
        from,
        subject: &search_id,
        action: "confirm_request",
        exhibits: request.exhibits.len(),
        acting: &request.acting,
        details: json!({"case_ref": request.case_ref, "exhibits": exhibits,
                        "probe_points": request.probe.z.len()}),
    };
    let refused = check_request(node, &request).err().map(|e| e.to_string());
    if let Err(refusal) = admit(node, received, refused) {
        Metrics::event(&node.metrics.confirmations, "cartridge_case", "refused");
        return refusal;
    }
    Metrics::event(&node.metrics.confirmations, "cartridge_case", "answered");
    let probe = surface_from_probe(&request.probe);
    let results = match confirm_locally(node, from, probe, request.exhibits.clone()).await {
        Ok(r) => r,
        Err(e) => return SyncResponse::Refused(format!("confirmation failed: {e}")),
    };
    let response = ConfirmResponse {
        search_id: request.search_id,
        responder: node.me,
        requester: from,
        answered_at_ms: now_ms(),
        results,
    };
    let shown: Vec<Value> = response
        .results
        .iter()
        .map(|(r, c)| comparison_json(r, c))
        .collect();
    let answering = Answering {
        to: from,
        subject: &search_id,
        action: "confirm_response",
        details: json!({"case_ref": request.case_ref, "results": shown}),
    };
    answer_signed(node, answering, &response, SyncResponse::Confirm).await
}
