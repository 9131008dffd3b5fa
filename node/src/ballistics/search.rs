//! Network-wide search: the probe's digest is screened against every digest held (filtered
//! by kind and compatible caliber class, the probe itself left out), then the best
//! candidates are sent for confirmation to their holders, one signed request per holder, all
//! holders at once. A holder that is offline or fails leaves its candidates unconfirmed with
//! the reason; the search answers all the same. Results: confirmed candidates first (by CMC
//! count), then the rest by screening score.

use serde_json::{Value, json};
use striae_ballistics_lib::{
    preprocess::Surface,
    signature::{Digest, digest},
};
use striae_protocol::{
    BureauId, SignedError, SyncRequest, SyncResponse,
    ballistic::{
        Comparison, ConfirmRequest, ConfirmResponse, EvidenceKind, ExhibitRef, ProbeSurface,
        ProbeSurfaceError,
    },
    time::now_ms,
};

use super::{
    BallisticsError, Held,
    exchange::{Asking, ask_signed, by_holder},
    exhibits::{on_cpu, parse_caliber, parse_case_ref, parse_kind, prepare_scan},
    holder::{comparison_json, confirm_locally},
    probe_from_surface,
};
use crate::metrics::Metrics;
use crate::{ballistics::BallisticsNode, core::AskError};

/// Screening candidates sent to their holders for confirmation unless `confirm=` says
/// otherwise (the BKA found the mate within the top 5-10 of IBIS lists; on the Fadul scans
/// every mate is within the top 10 by screening).
pub const CONFIRM_TOP: usize = 10;
/// Most candidates one search returns (and confirms).
pub(super) const MAX_LIMIT: usize = 50;
/// Candidates returned unless `limit=` says otherwise.
pub(super) const DEFAULT_LIMIT: usize = 10;

/// What to search with.
pub enum Probe {
    /// The raw bytes of an X3P file.
    Upload(Vec<u8>),
    /// One of this node's exhibits, by id.
    Stored(String),
}

/// Query parameters of a search.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    /// `cartridge_case` (uploaded probes).
    pub kind: Option<String>,
    /// Caliber (uploaded probes).
    pub caliber: Option<String>,
    /// Case reference, shown in the holders' audit logs.
    pub case_ref: Option<String>,
    /// Candidates returned, 1..=50.
    pub limit: Option<String>,
    /// Candidates confirmed, 0..=limit (default 10, capped at `limit`).
    pub confirm: Option<String>,
}

/// One candidate.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The holder and its exhibit.
    pub held: Held,
    /// Screening score (cosine of the digests, -1..1).
    pub screen_score: f32,
    /// `confirmed`, `not_confirmed`, `not_requested`, `holder_offline`, `holder_failed`,
    /// `holder_refused`, `unknown_exhibit`, `not_comparable`.
    pub confirmation: &'static str,
    /// Details of a failure.
    pub detail: Option<String>,
    /// Congruent matching cells found by the holder.
    pub cmc_count: Option<u32>,
    /// Cells the holder could compare.
    pub cells_compared: Option<u32>,
    /// CMC share.
    pub cmc_score: Option<f32>,
    /// Whether the holder's signature on the result verified (`None` for own exhibits and
    /// unconfirmed candidates).
    pub signature_valid: Option<bool>,
}

impl Candidate {
    fn confirmed(&self) -> bool {
        self.confirmation == "confirmed"
    }
}

/// A search's answer.
pub struct SearchResult {
    /// Random id, also in the holders' audit logs.
    pub search_id: String,
    /// The probe's kind and class.
    pub kind: EvidenceKind,
    /// The probe's caliber class.
    pub caliber_class: String,
    /// Digests screened (all held of the kind, before the class filter).
    pub held: usize,
    /// Candidates, best first.
    pub candidates: Vec<Candidate>,
}

impl SearchResult {
    /// The API's view.
    pub fn to_json(&self, node: &BallisticsNode) -> Value {
        let candidates: Vec<Value> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut v = json!({
                    "rank": i + 1,
                    "country": node.country_of(&c.held.origin),
                    "bureau_id": c.held.origin.to_string(),
                    "exhibit_ref": c.held.exhibit_ref.to_hex(),
                    "own": c.held.origin == node.me,
                    "kind": c.held.kind.as_str(),
                    "caliber_class": c.held.caliber_class,
                    "screen_score": round4(c.screen_score),
                    "confirmed": c.confirmed(),
                    "confirmation": c.confirmation,
                });
                if let Some(n) = c.cmc_count {
                    v["confirm_score"] = json!(n);
                    v["cmc_count"] = json!(n);
                }
                if let Some(n) = c.cells_compared {
                    v["cells_compared"] = json!(n);
                }
                if let Some(s) = c.cmc_score {
                    v["cmc_score"] = json!(round4(s));
                }
                if let Some(s) = c.signature_valid {
                    v["signature_valid"] = json!(s);
                }
                if let Some(d) = &c.detail {
                    v["detail"] = json!(d);
                }
                v
            })
            .collect();
        json!({
            "search_id": self.search_id,
            "kind": self.kind.as_str(),
            "caliber_class": self.caliber_class,
            "digests_held": self.held,
            "confirm_threshold": striae_ballistics_lib::cmc::CONFIRM_THRESHOLD,
            "candidates": candidates,
        })
    }
}

fn round4(v: f32) -> f64 {
    (f64::from(v) * 10_000.0).round() / 10_000.0
}

/// Parses a bounded count parameter.
pub(super) fn count(
    field: &'static str,
    text: Option<&str>,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, BallisticsError> {
    let Some(text) = text else { return Ok(default) };
    match text.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(BallisticsError::Field {
            field,
            message: format!("must be a whole number from {min} to {max}"),
        }),
    }
}

/// A probe ready to search with.
struct ReadyProbe {
    surface: Surface,
    digest: Digest,
    kind: EvidenceKind,
    class: String,
    case_ref: String,
    itself: Option<ExhibitRef>,
}

async fn ready_probe(
    node: &BallisticsNode,
    probe: Probe,
    request: &SearchRequest,
) -> Result<ReadyProbe, BallisticsError> {
    match probe {
        Probe::Upload(bytes) => {
            let kind = parse_kind(request.kind.as_deref())?;
            if kind == EvidenceKind::Bullet {
                return Err(BallisticsError::Field {
                    field: "content-type",
                    message: "a bullet is searched with its lands: multipart/form-data or application/zip".into(),
                });
            }
            let (_, class) = parse_caliber(request.caliber.as_deref())?;
            let case_ref = parse_case_ref(request.case_ref.as_deref(), false)?;
            // The very file of one of our exhibits is that exhibit: leave it out.
            let itself = node
                .ballistics
                .exhibit_with_file(&bytes)?
                .and_then(|r| r.exhibit_ref());
            let worker = node.clone();
            let prepared = on_cpu(node, move || {
                prepare_scan(&bytes, worker.ballistics.prep_params())
            })
            .await??;
            Ok(ReadyProbe {
                surface: prepared.surface,
                digest: prepared.digest,
                kind,
                class: class.class,
                case_ref,
                itself,
            })
        }
        Probe::Stored(id) => {
            let b = &node.ballistics;
            let not_found = || BallisticsError::NotFound(format!("no exhibit {id} at this node"));
            let record = b.record(&id)?.ok_or_else(not_found)?;
            let surface = b.surface(&id)?.ok_or_else(not_found)?;
            let (Some(_), Some(kind), Some(itself)) = (
                record.parsed_digest(),
                record.evidence_kind(),
                record.exhibit_ref(),
            ) else {
                return Err(BallisticsError::Damaged(id));
            };
            // The stored digest is the shared form (one centre); the probe is described
            // again from its surface at every probe centre, as an uploaded scan is.
            let described = surface.clone();
            let digest = on_cpu(node, move || digest(&described)).await?;
            let case_ref = match request.case_ref.as_deref() {
                Some(c) => parse_case_ref(Some(c), false)?,
                None => record.case_ref.clone(),
            };
            Ok(ReadyProbe {
                surface,
                digest,
                kind,
                class: record.caliber_class.clone(),
                case_ref,
                itself: Some(itself),
            })
        }
    }
}

/// Runs a search.
pub async fn search(
    node: &BallisticsNode,
    probe: Probe,
    request: SearchRequest,
) -> Result<SearchResult, BallisticsError> {
    let limit = count(
        "limit",
        request.limit.as_deref(),
        DEFAULT_LIMIT,
        1,
        MAX_LIMIT,
    )?;
    let confirm = count(
        "confirm",
        request.confirm.as_deref(),
        CONFIRM_TOP,
        0,
        MAX_LIMIT,
    )?
    .min(limit);
    Metrics::count(&node.metrics.searches, "cartridge_case", 1);
    node.tally.add("searches", "cartridge_case", 1);
    let probe = ready_probe(node, probe, &request).await?;
    let me = node.me;
    let worker = node.clone();
    let (digest, kind, class, itself) = (
        probe.digest.clone(),
        probe.kind,
        probe.class.clone(),
        probe.itself,
    );
    let (held, hits) = tokio::task::spawn_blocking(move || {
        let index = worker.ballistics.all.read();
        let hits = index.search(&digest, kind, &class, itself.map(|r| (me, r)), limit);
        (index.len(), hits)
    })
    .await
    .map_err(|source| BallisticsError::Task {
        what: "screening",
        source,
    })?;
    let mut candidates: Vec<Candidate> = hits
        .into_iter()
        .map(|(held, screen_score)| Candidate {
            held,
            screen_score,
            confirmation: "not_requested",
            detail: None,
            cmc_count: None,
            cells_compared: None,
            cmc_score: None,
            signature_valid: None,
        })
        .collect();
    let search_id: [u8; 16] = rand::random();
    let confirmed = confirm.min(candidates.len());
    confirm_candidates(node, &probe, search_id, &mut candidates[..confirmed]).await;
    for c in &candidates[..confirmed] {
        if matches!(c.confirmation, "confirmed" | "not_confirmed") {
            node.tally.add("confirmations", c.confirmation, 1);
        }
    }
    if confirmed > 0 {
        // The confirmation exchanges are in the audit log: on disk before the answer.
        node.store.flush().await?;
    }
    // Confirmed first by CMC count; the rest keep the screening order.
    candidates.sort_by(|a, b| {
        b.confirmed()
            .cmp(&a.confirmed())
            .then_with(|| {
                if a.confirmed() {
                    b.cmc_count.cmp(&a.cmc_count)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| b.screen_score.total_cmp(&a.screen_score))
    });
    Ok(SearchResult {
        search_id: hex::encode(search_id),
        kind: probe.kind,
        caliber_class: probe.class,
        held,
        candidates,
    })
}

/// Asks each holder of `candidates` to confirm them, all holders at once, and fills in the
/// outcomes.
async fn confirm_candidates(
    node: &BallisticsNode,
    probe: &ReadyProbe,
    search_id: [u8; 16],
    candidates: &mut [Candidate],
) {
    let groups = by_holder(candidates.iter().map(|c| &c.held));
    let wire = probe_from_surface(&probe.surface);
    let acting = node.acting_reference();
    let asks = groups.into_iter().map(|(holder, refs)| {
        let wire = wire.clone();
        let acting = acting.clone();
        async move {
            let outcome = if holder == node.me {
                confirm_locally(node, node.me, probe.surface.clone(), refs.clone())
                    .await
                    .map(|r| (r, None))
                    .map_err(ConfirmError::Local)
            } else {
                let asked = (search_id, acting);
                ask_holder(node, holder, asked, &probe.case_ref, wire, refs.clone())
                    .await
                    .map(|r| (r, Some(true)))
            };
            (holder, outcome)
        }
    });
    for (holder, outcome) in futures::future::join_all(asks).await {
        for c in candidates.iter_mut().filter(|c| c.held.origin == holder) {
            match &outcome {
                Ok((results, signed)) => {
                    let found = results.iter().find(|(r, _)| *r == c.held.exhibit_ref);
                    fill(c, found.map(|(_, comparison)| comparison), *signed);
                }
                Err(e) => {
                    c.confirmation = e.status();
                    c.detail = Some(e.to_string());
                }
            }
        }
    }
}

fn fill(c: &mut Candidate, comparison: Option<&Comparison>, signed: Option<bool>) {
    c.signature_valid = signed;
    match comparison {
        Some(Comparison::Compared {
            cmc_count,
            cells_compared,
            score,
            confirmed,
        }) => {
            c.cmc_count = Some(*cmc_count);
            c.cells_compared = Some(*cells_compared);
            c.cmc_score = Some(*score);
            c.confirmation = if *confirmed {
                "confirmed"
            } else {
                "not_confirmed"
            };
        }
        Some(Comparison::UnknownExhibit) => c.confirmation = "unknown_exhibit",
        Some(Comparison::NotComparable(why)) => {
            c.confirmation = "not_comparable";
            c.detail = Some(why.clone());
        }
        None => {
            c.confirmation = "holder_failed";
            c.detail = Some("the holder's answer left this exhibit out".into());
        }
    }
}

/// Why a holder's confirmation of some candidates was not had. Each failure gives those
/// candidates a `confirmation` status ([`ConfirmError::status`]) and its text as `detail`.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConfirmError {
    /// The holder is not connected.
    #[error("the holder is not connected; search again when it is")]
    Offline,
    /// The probe breaks the bounds of a confirmation request.
    #[error("the probe cannot be sent: {0}")]
    Probe(#[source] ProbeSurfaceError),
    /// The request could not be signed.
    #[error("the request could not be signed: {0}")]
    Sign(#[source] SignedError),
    /// The holder did not answer within `HOLDER_TIMEOUT`.
    #[error("the holder did not answer in time")]
    Timeout,
    /// The holder could not be reached.
    #[error("the holder could not be reached: {0}")]
    Unreachable(#[source] AskError),
    /// The holder refused the request; its words.
    #[error("{0}")]
    Refused(String),
    /// The holder answered with another kind of message.
    #[error("the holder answered something else")]
    UnexpectedAnswer,
    /// The answer's signature does not verify.
    #[error("the answer's signature does not verify: {0}")]
    Unverified(#[source] SignedError),
    /// The answer is for another requester or search.
    #[error("the answer is for another requester or search")]
    Misaddressed,
    /// This node's own comparison (it holds the candidates itself) failed.
    #[error(transparent)]
    Local(#[from] BallisticsError),
    /// The request could not be audited, so it was not sent.
    #[error("the request was not sent: the audit log cannot be written ({0})")]
    NotAudited(#[source] crate::store::StoreError),
}

impl ConfirmError {
    /// The candidates' `confirmation` status: `holder_offline`, `not_comparable`,
    /// `holder_refused` or `holder_failed`.
    pub(super) fn status(&self) -> &'static str {
        match self {
            ConfirmError::Offline => "holder_offline",
            ConfirmError::Probe(_) => "not_comparable",
            ConfirmError::Refused(_) => "holder_refused",
            ConfirmError::Sign(_)
            | ConfirmError::NotAudited(_)
            | ConfirmError::Timeout
            | ConfirmError::Unreachable(_)
            | ConfirmError::UnexpectedAnswer
            | ConfirmError::Unverified(_)
            | ConfirmError::Misaddressed
            | ConfirmError::Local(_) => "holder_failed",
        }
    }
}

/// Sends one signed confirmation request to `holder` on behalf of the user `acting` refers to
/// (`protocol::acting`) and checks its signed answer; both are written to the audit log. An
/// error stands for the candidates concerned.
pub(super) async fn ask_holder(
    node: &BallisticsNode,
    holder: BureauId,
    (search_id, acting): ([u8; 16], String),
    case_ref: &str,
    probe: ProbeSurface,
    refs: Vec<ExhibitRef>,
) -> Result<Vec<(ExhibitRef, Comparison)>, ConfirmError> {
    probe.check().map_err(ConfirmError::Probe)?;
    let exhibits: Vec<String> = refs.iter().map(|r| r.to_hex()).collect();
    let request = ConfirmRequest {
        search_id,
        requester: node.me,
        issued_at_ms: now_ms(),
        case_ref: case_ref.to_string(),
        probe,
        exhibits: refs,
        acting,
    };
    let asking = Asking {
        holder,
        subject: hex::encode(search_id),
        actions: ("confirm_request", "confirm_response"),
        case_ref,
        details: json!({"exhibits": exhibits}),
    };
    let me = node.me;
    let answer = ask_signed(
        node,
        asking,
        &request,
        SyncRequest::Confirm,
        |response| match response {
            SyncResponse::Confirm(signed) => Ok(signed),
            other => Err(other),
        },
        |r: ConfirmResponse| {
            if r.requester != me || r.search_id != search_id {
                return Err(ConfirmError::Misaddressed);
            }
            Ok(r)
        },
        |r| json!({"results": r.results.iter().map(|(e, c)| comparison_json(e, c)).collect::<Vec<_>>()}),
    )
    .await?;
    Ok(answer.results)
}
